/**
 * A model test of the pull queue (docs/delivery.md, "Pulling from the queue"): random
 * interleavings of enqueue, resend, pull, ack, nack, lease expiry, dead
 * lettering, replay, purge, changes of pull.maxAttempts and restarts of the
 * Durable Object (and a few concurrent pulls and acks), each checked against a
 * small in-memory model of where every event is. The calls go straight to
 * the Durable Object's RPC methods, as test/queue/push.test.ts does.
 *
 * Time: the queue uses Date.now(), which a test cannot move. Leases are long
 * (60 s and more) so that none runs out by itself during a run; expiry is
 * emulated inside the Durable Object instead:
 *  - soft: the rows' available_at goes to 0. The handle still says it is
 *    valid, so an ack under it is refused with "unknown";
 *  - hard: the rows get a handle whose own expiry has passed (and an
 *    available_at in the past), which the consumer then holds: exactly the
 *    state a lease that really ran out leaves behind, so "expired".
 * (A real lease has the handle's expiry as its rows' available_at, so
 * "soft" only checks that the row, not the handle, decides what is acked.)
 * The second property also takes a real 1-second lease and waits it out.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Pulled } from "../../src/queue/app-queue.js";
import { DEFAULT_ROUTE, newBucket, queueRows, queueStub } from "../support/wecom.js";

const HANDLE = /^([0-9a-z]{1,11})\.[0-9a-f]{24}$/;
const CONSUMERS = 3;
/** Leases never shorter than this, so that none runs out on its own during a run. */
const LONG_LEASES = [60, 120, 600] as const;
const NACK_DELAYS = [0, 0, 90] as const;

// ---- operations ----

type LeaseChoice =
  | { readonly kind: "current" }
  | { readonly kind: "stale"; readonly pick: number }
  | { readonly kind: "other"; readonly shift: number }
  | { readonly kind: "forged"; readonly wellFormed: boolean }
  | { readonly kind: "none" };

interface IdChoice {
  /** Pick from the ids of the chosen lease only (what a consumer normally acks), or from all the consumer ever got. */
  readonly fromLease: boolean;
  /** Indexes into that pool. */
  readonly picks: readonly number[];
  /** neverPulled: an id the consumer never got; bogus: no such event; dup: the first id twice. */
  readonly extra: "none" | "neverPulled" | "bogus" | "dup";
  readonly extraPick: number;
}

type Op =
  | { readonly t: "enqueue"; readonly count: number; readonly pad: number; readonly unicode: boolean; readonly ageMs: number }
  | { readonly t: "resend"; readonly pick: number }
  | { readonly t: "pull"; readonly c: number; readonly max: number; readonly leaseSeconds: number }
  | { readonly t: "pullShort"; readonly c: number; readonly max: number }
  | { readonly t: "pullPair"; readonly cA: number; readonly cB: number; readonly maxA: number; readonly maxB: number; readonly leaseSeconds: number }
  | { readonly t: "ack"; readonly c: number; readonly lease: LeaseChoice; readonly ids: IdChoice }
  | { readonly t: "ackRace"; readonly c: number; readonly lease: LeaseChoice; readonly ids: IdChoice }
  | { readonly t: "nack"; readonly c: number; readonly lease: LeaseChoice; readonly ids: IdChoice; readonly delaySeconds: number }
  | { readonly t: "expire"; readonly target: "all" | number; readonly hard: boolean }
  | { readonly t: "replay"; readonly all: boolean; readonly picks: readonly number[]; readonly stray: boolean }
  | { readonly t: "purge"; readonly all: boolean; readonly picks: readonly number[] }
  | { readonly t: "reconfigure"; readonly maxAttempts: number }
  | { readonly t: "evict" };

const consumer = fc.integer({ min: 0, max: CONSUMERS - 1 });
const picks = fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.nat(50), { minLength: 1, maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constant([]) },
);
const idChoice: fc.Arbitrary<IdChoice> = fc.record({
  fromLease: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  picks,
  extra: fc.constantFrom("none", "none", "neverPulled", "bogus", "dup"),
  extraPick: fc.nat(50),
});
const fencedLease: fc.Arbitrary<LeaseChoice> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: "current" } as const) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("stale" as const), pick: fc.nat(20) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("other" as const), shift: fc.integer({ min: 1, max: CONSUMERS - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("forged" as const), wellFormed: fc.boolean() }) },
);
const anyLease: fc.Arbitrary<LeaseChoice> = fc.oneof(
  { weight: 11, arbitrary: fencedLease },
  { weight: 1, arbitrary: fc.constant({ kind: "none" } as const) },
);

const ops = {
  enqueue: fc.record({
    t: fc.constant("enqueue" as const),
    count: fc.integer({ min: 1, max: 3 }),
    pad: fc.nat(40),
    unicode: fc.boolean(),
    ageMs: fc.nat(90_000),
  }),
  resend: fc.record({ t: fc.constant("resend" as const), pick: fc.nat(50) }),
  pull: fc.record({
    t: fc.constant("pull" as const),
    c: consumer,
    max: fc.integer({ min: 1, max: 5 }),
    leaseSeconds: fc.constantFrom(...LONG_LEASES),
  }),
  pullShort: fc.record({ t: fc.constant("pullShort" as const), c: consumer, max: fc.integer({ min: 1, max: 5 }) }),
  pullPair: fc.record({
    t: fc.constant("pullPair" as const),
    cA: consumer,
    cB: consumer,
    maxA: fc.integer({ min: 1, max: 5 }),
    maxB: fc.integer({ min: 1, max: 5 }),
    leaseSeconds: fc.constantFrom(...LONG_LEASES),
  }),
  ack: fc.record({ t: fc.constant("ack" as const), c: consumer, lease: anyLease, ids: idChoice }),
  ackRace: fc.record({ t: fc.constant("ackRace" as const), c: consumer, lease: anyLease, ids: idChoice }),
  nack: fc.record({
    t: fc.constant("nack" as const),
    c: consumer,
    lease: fencedLease,
    ids: idChoice,
    delaySeconds: fc.constantFrom(...NACK_DELAYS),
  }),
  expire: fc.record({
    t: fc.constant("expire" as const),
    target: fc.oneof(fc.constant("all" as const), fc.nat(10)),
    hard: fc.boolean(),
  }),
  replay: fc.record({ t: fc.constant("replay" as const), all: fc.boolean(), picks, stray: fc.boolean() }),
  purge: fc.record({ t: fc.constant("purge" as const), all: fc.boolean(), picks }),
  reconfigure: fc.record({ t: fc.constant("reconfigure" as const), maxAttempts: fc.integer({ min: 1, max: 4 }) }),
  evict: fc.constant({ t: "evict" as const }),
} satisfies Record<Op["t"], fc.Arbitrary<Op>>;

const anyOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: ops.enqueue },
  { weight: 1, arbitrary: ops.resend },
  { weight: 5, arbitrary: ops.pull },
  { weight: 1, arbitrary: ops.pullPair },
  { weight: 5, arbitrary: ops.ack },
  { weight: 1, arbitrary: ops.ackRace },
  { weight: 2, arbitrary: ops.nack },
  { weight: 3, arbitrary: ops.expire },
  { weight: 1, arbitrary: ops.replay },
  { weight: 1, arbitrary: ops.purge },
  { weight: 1, arbitrary: ops.reconfigure },
  { weight: 1, arbitrary: ops.evict },
);

// ---- the model ----

type Status = "live" | "dead" | "acked" | "purged";

interface ModelEvent {
  readonly id: string;
  readonly body: string;
  readonly size: number;
  receivedAt: number;
  /** Insertion order: the order of the rows' seq. */
  seq: number;
  status: Status;
  /** Leases handed out since it was (re)queued. */
  attempts: number;
  /** The lease that holds it now (unexpired), if any. */
  holder: string | null;
  /** Released with a delay that has not passed. */
  waiting: boolean;
  lastError: string | null;
}

interface LeaseRecord {
  /** Replaced when a hard expiry hands the consumer an expired handle. */
  handle: string;
  readonly consumer: number;
  readonly ids: readonly string[];
}

interface Row {
  seq: number;
  id: string;
  state: string;
  attempts: number;
  available_at: number;
  lease: string | null;
  last_error: string | null;
  size: number;
  body: string;
  received_at: number;
}

interface Inside {
  rows: Row[];
  seen: string[];
  counters: { live: number; dead: number; events: number; bytes: number; delivered: number };
  counted: { live: number; dead: number; events: number; bytes: number };
}

const encoder = new TextEncoder();
const sizeOf = (text: string) => encoder.encode(text).length;
const expiryOf = (handle: string): number | null => {
  const match = HANDLE.exec(handle);
  return match ? Number.parseInt(match[1]!, 36) : null;
};
const hex24 = () => [...crypto.getRandomValues(new Uint8Array(12))].map((b) => b.toString(16).padStart(2, "0")).join("");
const at = <T>(list: readonly T[], index: number): T | undefined => (list.length === 0 ? undefined : list[index % list.length]);

/** Why the queue must refuse an id under `handle`, decided from the handle alone (lease.ts). */
function reasonOf(handle: string | null): "expired" | "unknown" {
  if (handle === null) return "unknown";
  const expiry = expiryOf(handle);
  if (expiry === null) return "unknown";
  const now = Date.now();
  if (expiry <= now) return "expired";
  // Keep clear of the boundary, where the answer would depend on the Durable Object's own clock.
  expect(expiry - now).toBeGreaterThan(10_000);
  return "unknown";
}

class Run {
  readonly app = newBucket("model");
  private readonly events = new Map<string, ModelEvent>();
  private readonly leases: LeaseRecord[] = [];
  /** Ids each consumer was ever handed, in order, once each. */
  private readonly got: string[][] = Array.from({ length: CONSUMERS }, () => []);
  private readonly ackedEver = new Set<string>();
  private nextId = 0;
  private nextSeq = 0;
  private delivered = 0;
  /** Whether the queue was handed its settings yet (enqueue and pull do; ack, nack and the admin calls do not). */
  private adopted = false;
  /** The rows as last read, for the order in which pulls take due events. */
  private rows: Row[] = [];

  /** The app's pull.maxAttempts, handed over with each enqueue and pull: an operator may change it between steps. */
  constructor(private maxAttempts: number) {}

  private get settings(): string {
    return JSON.stringify({ mode: "pull", maxAttempts: this.maxAttempts });
  }

  private get stub() {
    return queueStub(this.app);
  }

  private live(): ModelEvent[] {
    return this.byStatus("live");
  }

  private byStatus(status: Status): ModelEvent[] {
    return [...this.events.values()].filter((e) => e.status === status).sort((a, b) => a.seq - b.seq);
  }

  private due(): ModelEvent[] {
    return this.live().filter((e) => e.holder === null && !e.waiting);
  }

  private leasesOf(c: number): LeaseRecord[] {
    return this.leases.filter((l) => l.consumer === c);
  }

  private forged(wellFormed: boolean): string {
    return wellFormed ? `${(Date.now() + 3_600_000).toString(36)}.${hex24()}` : "not-a-lease";
  }

  /** The lease a consumer acks or nacks under, and the record behind it (none for a forged one). */
  private chooseLease(c: number, choice: LeaseChoice): { handle: string | null; record: LeaseRecord | null } {
    const own = this.leasesOf(c);
    let record: LeaseRecord | undefined;
    switch (choice.kind) {
      case "none":
        return { handle: null, record: null };
      case "forged":
        return { handle: this.forged(choice.wellFormed), record: null };
      case "current":
        record = own.at(-1);
        break;
      case "stale":
        record = at(own, choice.pick);
        break;
      case "other":
        record = this.leasesOf((c + choice.shift) % CONSUMERS).at(-1);
        break;
    }
    return record ? { handle: record.handle, record } : { handle: this.forged(true), record: null };
  }

  private chooseIds(c: number, record: LeaseRecord | null, choice: IdChoice): string[] {
    const pool = choice.fromLease && record ? record.ids : [...new Set([...(record?.ids ?? []), ...this.got[c]!])];
    const ids = [...new Set(choice.picks.map((p) => at(pool, p)).filter((id) => id !== undefined))];
    switch (choice.extra) {
      case "neverPulled": {
        const others = [...this.events.keys()].filter((id) => !this.got[c]!.includes(id));
        const id = at(others, choice.extraPick);
        if (id !== undefined) ids.push(id);
        break;
      }
      case "bogus":
        ids.push(`nope-${choice.extraPick}`);
        break;
      case "dup":
        if (ids.length > 0) ids.push(ids[0]!);
        break;
      case "none":
        break;
    }
    return ids;
  }

  // ---- operations ----

  async apply(op: Op): Promise<void> {
    const handsOverSettings = ["enqueue", "pull", "pullShort", "pullPair"].includes(op.t) || (op.t === "resend" && this.events.size > 0);
    if (handsOverSettings) this.adopted = true;
    switch (op.t) {
      case "enqueue":
        return this.enqueue(op);
      case "resend":
        return this.resend(op.pick);
      case "pull":
        return void (await this.pull(op.c, op.max, op.leaseSeconds));
      case "pullShort":
        return this.pullShort(op.c, op.max);
      case "pullPair":
        return this.pullPair(op);
      case "ack":
        return this.ack(op);
      case "ackRace":
        return this.ackRace(op);
      case "nack":
        return this.nack(op);
      case "expire":
        return this.expire(op.target, op.hard);
      case "replay":
        return this.replay(op);
      case "purge":
        return this.purge(op);
      case "reconfigure":
        this.maxAttempts = op.maxAttempts;
        return;
      case "evict":
        // Eviction needs a running object: wake it first (the first step may be this one).
        await runInDurableObject(this.stub, () => undefined);
        return evictDurableObject(this.stub);
    }
  }

  private async enqueue(op: Extract<Op, { t: "enqueue" }>): Promise<void> {
    for (let i = 0; i < op.count; i++) {
      const id = `ev-${this.nextId++}`;
      const body = JSON.stringify({ id, text: (op.unicode ? "é中" : "x").repeat(op.pad + i) });
      const receivedAt = Date.now() - op.ageMs;
      expect(await this.stub.enqueue(this.app, this.settings, { id, body, receivedAt, ...DEFAULT_ROUTE })).toEqual({ status: "queued" });
      this.events.set(id, {
        id,
        body,
        size: sizeOf(body),
        receivedAt,
        seq: this.nextSeq++,
        status: "live",
        attempts: 0,
        holder: null,
        waiting: false,
        lastError: null,
      });
    }
  }

  /** WeCom's resend of an event it sent before: a duplicate unless the event was purged. */
  private async resend(pick: number): Promise<void> {
    const event = at([...this.events.values()], pick);
    if (!event) return;
    const receivedAt = Date.now();
    const result = await this.stub.enqueue(this.app, this.settings, { id: event.id, body: event.body, receivedAt, ...DEFAULT_ROUTE });
    if (event.status !== "purged") {
      expect(result).toEqual({ status: "duplicate" });
      return;
    }
    // A purged dead letter is forgotten: its resend is a new event.
    expect(result).toEqual({ status: "queued" });
    Object.assign(event, { receivedAt, seq: this.nextSeq++, status: "live", attempts: 0, holder: null, waiting: false, lastError: null });
  }

  /** Due events, in the order a pull takes them: oldest-due first, by (available_at, seq) as last read. */
  private dueInOrder(): ModelEvent[] {
    const place = new Map(this.rows.map((r) => [r.id, r]));
    return this.due().sort((a, b) => {
      const ra = place.get(a.id)!;
      const rb = place.get(b.id)!;
      return ra.available_at - rb.available_at || ra.seq - rb.seq;
    });
  }

  /**
   * What a pull of `max` takes from `due`: events leased maxAttempts times
   * become dead letters instead, and the batch is refilled from what is due
   * next (at most 10 rounds; a round that kills nothing is the last).
   */
  private predict(due: readonly ModelEvent[], max: number): { taken: ModelEvent[]; leased: ModelEvent[] } {
    const taken: ModelEvent[] = [];
    const leased: ModelEvent[] = [];
    let rest = [...due];
    for (let round = 0; round < 10 && leased.length < max; round++) {
      const batch = rest.slice(0, max - leased.length);
      rest = rest.slice(batch.length);
      taken.push(...batch);
      const kept = batch.filter((e) => e.attempts < this.maxAttempts);
      leased.push(...kept);
      if (batch.length === 0 || kept.length === batch.length) break;
    }
    return { taken, leased };
  }

  private expectAnswer(answer: Pulled, leased: readonly ModelEvent[], leaseSeconds: number, before: number, after: number): void {
    expect({ ...answer, lease: null }).toEqual({
      events: leased.map((e) => e.body),
      attempts: leased.map((e) => e.attempts + 1),
      ids: leased.map((e) => e.id),
      lease: null,
    });
    if (leased.length === 0) {
      expect(answer.lease).toBeNull();
    } else {
      expect(answer.lease).toMatch(HANDLE);
      const expiry = expiryOf(answer.lease!)!;
      expect(expiry).toBeGreaterThanOrEqual(before + leaseSeconds * 1000);
      expect(expiry).toBeLessThanOrEqual(after + leaseSeconds * 1000);
      expect(this.leases.map((l) => l.handle)).not.toContain(answer.lease);
    }
  }

  private record(c: number, taken: readonly ModelEvent[], answer: Pulled): void {
    for (const event of taken) {
      // Never handed to two holders at once.
      expect(event.holder).toBeNull();
      if (event.attempts >= this.maxAttempts) {
        Object.assign(event, { status: "dead", lastError: `leased ${event.attempts} times without an ack` });
      } else {
        event.attempts++;
        event.holder = answer.lease;
      }
    }
    if (answer.lease !== null) {
      this.leases.push({ handle: answer.lease, consumer: c, ids: answer.ids });
      for (const id of answer.ids) if (!this.got[c]!.includes(id)) this.got[c]!.push(id);
    }
  }

  private async pull(c: number, max: number, leaseSeconds: number): Promise<string | null> {
    const { taken, leased } = this.predict(this.dueInOrder(), max);
    const before = Date.now();
    const answer = await this.stub.pull(this.app, this.settings, "default", max, leaseSeconds);
    const after = Date.now();
    this.expectAnswer(answer, leased, leaseSeconds, before, after);
    this.record(c, taken, answer);
    return answer.lease;
  }

  /** Two consumers pull at once: the answers are those of the two pulls one after the other, in some order. */
  private async pullPair(op: Extract<Op, { t: "pullPair" }>): Promise<void> {
    const due = this.dueInOrder();
    const before = Date.now();
    const [a, b] = await Promise.all([
      this.stub.pull(this.app, this.settings, "default", op.maxA, op.leaseSeconds),
      this.stub.pull(this.app, this.settings, "default", op.maxB, op.leaseSeconds),
    ]);
    const after = Date.now();
    const firstA = this.predict(due, op.maxA);
    const thenB = this.predict(due.slice(firstA.taken.length), op.maxB);
    const firstB = this.predict(due, op.maxB);
    const thenA = this.predict(due.slice(firstB.taken.length), op.maxA);
    const same = (answer: Pulled, leased: readonly ModelEvent[]) => answer.ids.join() === leased.map((e) => e.id).join();
    const aFirst = same(a, firstA.leased) && same(b, thenB.leased);
    // Both orders take the same events in all (the first maxA + maxB due): the ids tell which came first.
    const [pa, pb] = aFirst ? [firstA, thenB] : [thenA, firstB];
    if (a.lease !== null && b.lease !== null) expect(a.lease).not.toBe(b.lease);
    expect(a.ids.filter((id) => b.ids.includes(id))).toEqual([]);
    this.expectAnswer(a, pa.leased, op.leaseSeconds, before, after);
    this.expectAnswer(b, pb.leased, op.leaseSeconds, before, after);
    const [first, second] = aFirst ? [[op.cA, pa, a], [op.cB, pb, b]] as const : [[op.cB, pb, b], [op.cA, pa, a]] as const;
    this.record(first[0], first[1].taken, first[2]);
    this.record(second[0], second[1].taken, second[2]);
  }

  /** A real 1-second lease, waited out: the handle's own expiry passes. */
  private async pullShort(c: number, max: number): Promise<void> {
    const lease = await this.pull(c, max, 1);
    if (lease === null) return;
    const expiry = expiryOf(lease)!;
    await scheduler.wait(Math.max(0, expiry - Date.now()) + 50);
    expect(Date.now()).toBeGreaterThan(expiry);
    for (const event of this.live()) if (event.holder === lease) event.holder = null;
  }

  /** What an ack of `ids` under `handle` acks: with a lease, what it holds now; without one (the unfenced ack of 0.1), anything live. */
  private ackable(ids: readonly string[], handle: string | null): Set<string> {
    const acked = new Set<string>();
    for (const id of ids) {
      const event = this.events.get(id);
      if (event?.status === "live" && (handle === null || event.holder === handle)) acked.add(id);
    }
    return acked;
  }

  private markAcked(acked: ReadonlySet<string>): void {
    for (const id of acked) {
      // An id acks once, ever.
      expect(this.ackedEver.has(id)).toBe(false);
      this.ackedEver.add(id);
      Object.assign(this.events.get(id)!, { status: "acked", holder: null, waiting: false });
      this.delivered++;
    }
  }

  private async ack(op: Extract<Op, { t: "ack" }>): Promise<void> {
    const { handle, record } = this.chooseLease(op.c, op.lease);
    const ids = this.chooseIds(op.c, record, op.ids);
    const reason = reasonOf(handle);
    const acked = this.ackable(ids, handle);
    // An id given twice counts once.
    const unique = [...new Set(ids)];
    expect(await this.stub.ack("default", ids, handle)).toEqual({
      acked: acked.size,
      notAcked: unique.filter((id) => !acked.has(id)).map((id) => ({ id, reason })),
    });
    this.markAcked(acked);
  }

  /** The same ack sent twice at once (a consumer's retry): one acks, the other finds nothing left to ack. */
  private async ackRace(op: Extract<Op, { t: "ackRace" }>): Promise<void> {
    const { handle, record } = this.chooseLease(op.c, op.lease);
    const ids = this.chooseIds(op.c, record, op.ids);
    const reason = reasonOf(handle);
    const acked = this.ackable(ids, handle);
    const answers = await Promise.all([this.stub.ack("default", ids, handle), this.stub.ack("default", ids, handle)]);
    const unique = [...new Set(ids)];
    const won = { acked: acked.size, notAcked: unique.filter((id) => !acked.has(id)).map((id) => ({ id, reason })) };
    const lost = { acked: 0, notAcked: unique.map((id) => ({ id, reason })) };
    expect([...answers].sort((x, y) => y.acked - x.acked)).toEqual([won, lost]);
    this.markAcked(acked);
  }

  private async nack(op: Extract<Op, { t: "nack" }>): Promise<void> {
    const { handle, record } = this.chooseLease(op.c, op.lease);
    const ids = this.chooseIds(op.c, record, op.ids);
    const lease = handle!;
    const reason = reasonOf(lease);
    let released = 0;
    const notReleased: { id: string; reason: string }[] = [];
    // An id given twice counts once.
    for (const id of new Set(ids)) {
      const event = this.events.get(id);
      if (expiryOf(lease) !== null && event?.status === "live" && event.holder === lease) {
        released++;
        event.holder = null;
        event.waiting = op.delaySeconds > 0;
      } else {
        notReleased.push({ id, reason });
      }
    }
    expect(await this.stub.nack("default", ids, lease, op.delaySeconds)).toEqual({ released, notReleased });
  }

  private async expire(target: "all" | number, hard: boolean): Promise<void> {
    const holding = [...new Set(this.live().flatMap((e) => (e.holder === null ? [] : [e.holder])))];
    const chosen = target === "all" ? holding : [at(holding, target)].filter((h) => h !== undefined);
    const now = Date.now();
    const swaps = chosen.map((handle) => ({ handle, past: now - 60_000, replacement: `${(now - 60_000).toString(36)}.${hex24()}` }));
    const written = await runInDurableObject(this.stub, (_, state) => {
      const sql = state.storage.sql;
      const counts: number[] = [];
      for (const { handle, past, replacement } of swaps) {
        // RETURNING, not rowsWritten: that counts index entries too.
        const cursor = hard
          ? sql.exec(
              "UPDATE deliveries SET available_at = ?, lease = ? WHERE state = 'queued' AND lease = ? AND available_at > ? RETURNING seq",
              past,
              replacement,
              handle,
              now,
            )
          : sql.exec("UPDATE deliveries SET available_at = 0 WHERE state = 'queued' AND lease = ? AND available_at > ? RETURNING seq", handle, now);
        counts.push(cursor.toArray().length);
      }
      let waiting = 0;
      if (target === "all") {
        // Delays of nacks run out too.
        waiting = sql
          .exec("UPDATE deliveries SET available_at = 0 WHERE state = 'queued' AND lease IS NULL AND available_at > ? RETURNING seq", now)
          .toArray().length;
      }
      return { counts, waiting };
    });
    const live = this.live();
    expect(written).toEqual({
      counts: swaps.map((s) => live.filter((e) => e.holder === s.handle).length),
      waiting: target === "all" ? live.filter((e) => e.waiting).length : 0,
    });
    for (const { handle, replacement } of swaps) {
      for (const event of live) if (event.holder === handle) event.holder = null;
      if (hard) for (const record of this.leases) if (record.handle === handle) record.handle = replacement;
    }
    if (target === "all") for (const event of live) event.waiting = false;
  }

  private async replay(op: Extract<Op, { t: "replay" }>): Promise<void> {
    const dead = this.byStatus("dead");
    let ids: string[] | null = null;
    if (!op.all) {
      ids = op.picks.map((p) => at(dead, p)?.id).filter((id) => id !== undefined);
      // An id that is not a dead letter is left alone.
      if (op.stray) ids.push(at([...this.events.keys()], op.picks[0] ?? 0) ?? "nope-stray");
    }
    const replayed = ids === null ? dead : dead.filter((e) => ids.includes(e.id));
    expect(await this.stub.replay(ids)).toBe(replayed.length);
    for (const event of replayed) Object.assign(event, { status: "live", attempts: 0, holder: null, waiting: false, lastError: null });
  }

  private async purge(op: Extract<Op, { t: "purge" }>): Promise<void> {
    const dead = this.byStatus("dead");
    const ids = op.all ? null : op.picks.map((p) => at(dead, p)?.id).filter((id) => id !== undefined);
    const purged = ids === null ? dead : dead.filter((e) => ids.includes(e.id));
    expect(await this.stub.purgeDead(ids)).toBe(purged.length);
    for (const event of purged) event.status = "purged";
  }

  // ---- the invariants, after every step ----

  async check(): Promise<void> {
    // All reads: they may run together.
    const before = Date.now();
    const [rows, inside, stats, deadLetters] = await Promise.all([
      queueRows(this.app),
      runInDurableObject(this.stub, (_, state): Inside => {
        const sql = state.storage.sql;
        return {
          rows: sql
            .exec(
              `SELECT d.seq AS seq, e.id AS id, d.state AS state, d.attempts AS attempts, d.available_at AS available_at, d.lease AS lease,
                 d.last_error AS last_error, COALESCE(d.size, e.size) AS size, COALESCE(d.body, e.body) AS body, COALESCE(d.received_at, e.received_at) AS received_at
               FROM deliveries d JOIN events e ON e.seq = d.seq ORDER BY d.seq`,
            )
            .toArray() as unknown as Row[],
          seen: sql
            .exec<{ id: string }>("SELECT id FROM seen ORDER BY id")
            .toArray()
            .map((r) => r.id),
          counters: sql
            .exec(
              `SELECT COALESCE(d.live, 0) AS live, COALESCE(d.dead, 0) AS dead, c.events AS events, c.bytes AS bytes, COALESCE(d.delivered, 0) AS delivered
               FROM counters c LEFT JOIN destinations d ON d.name = 'default'`,
            )
            .one() as unknown as Inside["counters"],
          counted: sql
            .exec(
              `SELECT COUNT(*) FILTER (WHERE d.state = 'queued') AS live, COUNT(*) FILTER (WHERE d.state = 'dead') AS dead,
                      COUNT(*) AS events, COALESCE(SUM(e.size), 0) AS bytes
               FROM deliveries d JOIN events e ON e.seq = d.seq`,
            )
            .one() as unknown as Inside["counted"],
        };
      }),
      this.stub.stats(this.app),
      this.stub.deadLetters(1_000),
    ]);
    const after = Date.now();
    this.rows = inside.rows;

    const live = this.live();
    const dead = this.byStatus("dead");
    const held = [...this.live(), ...dead].sort((a, b) => a.seq - b.seq);

    // No event is lost: each is live or dead (in its row), or acked (remembered in `seen`), or purged.
    expect(rows.map(({ id, state, attempts, last_error }) => ({ id, state, attempts, last_error }))).toEqual(
      held.map((e) => ({ id: e.id, state: e.status === "live" ? "queued" : "dead", attempts: e.attempts, last_error: e.lastError })),
    );
    expect(inside.rows.map((r) => ({ id: r.id, body: r.body, size: r.size, received_at: r.received_at }))).toEqual(
      held.map((e) => ({ id: e.id, body: e.body, size: e.size, received_at: e.receivedAt })),
    );
    expect(inside.seen).toEqual(this.byStatus("acked").map((e) => e.id).sort());
    expect(this.ackedEver.size).toBe(this.delivered);

    // Held rows are held under the lease the model says (or waiting out a nack), and due rows are due.
    const now = Date.now();
    for (const row of inside.rows.filter((r) => r.state === "queued")) {
      const event = this.events.get(row.id)!;
      if (event.holder !== null) {
        expect({ id: row.id, lease: row.lease, held: row.available_at > now + 10_000 }).toEqual({ id: row.id, lease: event.holder, held: true });
      } else if (event.waiting) {
        expect({ id: row.id, lease: row.lease, held: row.available_at > now + 10_000 }).toEqual({ id: row.id, lease: null, held: true });
      } else {
        expect({ id: row.id, due: row.available_at <= now }).toEqual({ id: row.id, due: true });
      }
    }

    // The counters kept in storage agree with the rows and with the model.
    const expected = {
      live: live.length,
      dead: dead.length,
      events: live.length + dead.length,
      bytes: [...live, ...dead].reduce((sum, e) => sum + e.size, 0),
    };
    expect(inside.counted).toEqual(expected);
    expect(inside.counters).toEqual({ ...expected, delivered: this.delivered });

    const heldCount = live.filter((e) => e.holder !== null || e.waiting).length;
    const oldest = live[0];
    expect(stats).toEqual({
      app: this.app,
      configured: true,
      mode: this.adopted ? "pull" : null,
      paused: false,
      depth: live.length,
      events: expected.events,
      bytes: expected.bytes,
      streamBytes: 0,
      queued: live.length - heldCount,
      leased: heldCount,
      retrying: 0,
      delivered: this.delivered,
      dead: dead.length,
      oldestAgeSeconds: oldest === undefined ? null : stats.oldestAgeSeconds,
      refreshes: 0,
      credentials: {},
      lastError: null,
      // The time of the last ack that acked something: none until the model has acked one.
      lastDeliveredAt: this.delivered === 0 ? null : stats.lastDeliveredAt,
      unrouted: {},
      kfCoalesced: 0,
      destinations: this.adopted
        ? [
            {
              name: "default",
              configured: true,
              mode: "pull",
              ordered: false,
              rate: null,
              paused: false,
              health: "up",
              downSince: null,
              depth: live.length,
              queued: live.length - heldCount,
              leased: heldCount,
              retrying: 0,
              delivered: this.delivered,
              dead: dead.length,
              oldestAgeSeconds: stats.oldestAgeSeconds,
              lastError: null,
              lastDeliveredAt: stats.lastDeliveredAt,
            },
          ]
        : [],
    });
    if (this.delivered > 0) expect(Date.parse(String(stats.lastDeliveredAt))).toBeLessThanOrEqual(Date.now());
    if (oldest !== undefined) {
      expect(stats.oldestAgeSeconds).toBeGreaterThanOrEqual(Math.max(0, Math.floor((before - oldest.receivedAt) / 1000)));
      expect(stats.oldestAgeSeconds).toBeLessThanOrEqual(Math.max(0, Math.floor((after - oldest.receivedAt) / 1000)));
    }

    // Listed in the order they died, which the model does not track: compared by id.
    const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    expect([...deadLetters].sort(byId)).toEqual(
      dead.map((e) => ({ id: e.id, destination: "default", receivedAt: e.receivedAt, attempts: e.attempts, lastError: e.lastError, body: e.body })).sort(byId),
    );
  }
}

const SMALL_EVENT: Op = { t: "enqueue", count: 1, pad: 1, unicode: false, ageMs: 0 };

async function runModel(maxAttempts: number, steps: readonly Op[]): Promise<void> {
  const run = new Run(maxAttempts);
  for (const op of steps) {
    await run.apply(op);
    await run.check();
  }
}

describe("the pull queue against a model", () => {
  it("loses nothing, acks each event at most once, leases it to one holder at a time, and keeps its counters right", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.array(anyOp, { minLength: 1, maxLength: 40, size: "max" }), runModel),
      { numRuns: 40 },
    );
  });

  it("says 'expired' for a lease that really ran out (1-second leases, waited out)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.array(anyOp, { maxLength: 12, size: "max" }),
        ops.pullShort,
        fc.array(anyOp, { maxLength: 12, size: "max" }),
        (maxAttempts, head, short, tail) => runModel(maxAttempts, [...head, SMALL_EVENT, SMALL_EVENT, short, ...tail]),
      ),
      { numRuns: 3 },
    );
  });
});

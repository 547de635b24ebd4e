/**
 * Independent delivery against a model (issue 13, "What must hold"): random
 * events routed to random sets of three destinations (unordered; keyed and
 * rate-limited; one ordered line and slowly rate-limited), each webhook going
 * down and up at random, pauses, replays and restarts of the queue's
 * in-memory state, all on a fake clock. The real storage (DeliveryStore over
 * the queue's SQLite) and the real push batch (pushBatch with its rate
 * window) run; only the webhooks and the clock are the model's.
 *
 * After every step: a delivery succeeds at most once; no event is delivered
 * ahead of an earlier undelivered one of its key; no destination starts more
 * than its rate in any second. At the end, with every webhook up and every
 * dead letter replayed, each event has reached each destination it matched
 * exactly once, and nothing is left in storage.
 */
import { runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { pushBatch } from "../../src/destinations/push.js";
import { RateWindow } from "../../src/destinations/rate.js";
import { DeliveryStore } from "../../src/destinations/store.js";
import type { AppQueue } from "../../src/queue/app-queue.js";
import type { QueueDb } from "../../src/queue/db.js";
import type { EventStore } from "../../src/queue/events.js";
import type { WebhookOutcome } from "../../src/webhook/send.js";
import { newBucket, queueStub } from "../support/wecom.js";

interface Dest {
  readonly name: string;
  /** null: unordered; "user": keyed by the event's user; "": one ordered line. */
  readonly key: "user" | "" | null;
  readonly perSecond: number | null;
  readonly maxInFlight: number;
}

const DESTS: readonly Dest[] = [
  { name: "a", key: null, perSecond: null, maxInFlight: 6 },
  { name: "b", key: "user", perSecond: 2, maxInFlight: 1 },
  { name: "c", key: "", perSecond: 0.5, maxInFlight: 6 },
];

/** The queue's settings: pull destinations, so that nothing pushes but the model's batches. */
const SETTINGS = JSON.stringify({
  destinations: Object.fromEntries(
    DESTS.map((d) => [d.name, { mode: "pull", maxAttempts: 3, ordered: d.key !== null, rate: null, maxAgeHours: 72, transform: null }]),
  ),
});

const WEBHOOK = {
  url: "https://model.invalid/hook",
  signingKeys: [],
  headers: {},
  timeoutMs: 5_000,
  maxAttempts: 3,
  minBackoffMs: 1_000,
  maxBackoffMs: 8_000,
};

type Op =
  | { t: "enqueue"; mask: number; user: number }
  | { t: "toggle"; dest: number }
  | { t: "advance"; ms: number }
  | { t: "batch"; dest: number }
  | { t: "pause"; dest: number; paused: boolean }
  | { t: "replay"; dest: number }
  | { t: "restart" };

const dest = fc.integer({ min: 0, max: DESTS.length - 1 });
const anyOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant("enqueue" as const), mask: fc.integer({ min: 1, max: 7 }), user: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("toggle" as const), dest }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 12_000 }) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant("batch" as const), dest }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("pause" as const), dest, paused: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("replay" as const), dest }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("restart" as const) }) },
);

interface Delivery {
  readonly key: string | null;
  status: "live" | "dead" | "delivered";
  /** Replayed from the dead: it may come after later events of its key (docs/routing.md, "Ordered destinations"). */
  replayed: boolean;
  successes: number;
}

interface ModelEvent {
  readonly id: string;
  readonly seq: number;
  readonly deliveries: Map<string, Delivery>;
}

interface Internals {
  db: QueueDb;
  events: EventStore;
  deliveries: DeliveryStore;
}

class Model {
  clock = 1_800_000_000_000;
  readonly events: ModelEvent[] = [];
  readonly up = new Map(DESTS.map((d) => [d.name, true]));
  readonly starts = new Map<string, number[]>(DESTS.map((d) => [d.name, []]));
  rates = new Map<string, RateWindow | null>();
  private next = 0;

  constructor(
    readonly app: string,
    readonly queue: AppQueue,
  ) {
    this.resetRates();
  }

  get store(): DeliveryStore {
    return (this.queue as unknown as Internals).deliveries;
  }

  resetRates(): void {
    this.rates = new Map(DESTS.map((d) => [d.name, d.perSecond === null ? null : new RateWindow(d.perSecond)]));
  }

  async apply(op: Op): Promise<void> {
    switch (op.t) {
      case "enqueue":
        return this.enqueue(op.mask, op.user);
      case "toggle":
        this.up.set(DESTS[op.dest]!.name, !this.up.get(DESTS[op.dest]!.name));
        return;
      case "advance":
        this.clock += op.ms;
        return;
      case "batch":
        return this.batch(DESTS[op.dest]!);
      case "pause":
        await this.queue.setPaused(op.paused, DESTS[op.dest]!.name);
        return;
      case "replay":
        return this.replay(DESTS[op.dest]!.name);
      case "restart":
        return this.restart();
    }
  }

  private async enqueue(mask: number, user: number): Promise<void> {
    const id = `evt_${this.next++}`;
    const chosen = DESTS.filter((_, i) => mask & (1 << i));
    const routes = chosen.map((d) => ({ name: d.name, key: d.key === null ? null : d.key === "" ? "" : `user${user}` }));
    const result = await this.queue.enqueue(this.app, SETTINGS, { id, body: JSON.stringify({ id, user }), receivedAt: this.clock, routes, kind: "" });
    expect(result).toEqual({ status: "queued" });
    const seq = this.events.length + 1;
    this.events.push({
      id,
      seq,
      deliveries: new Map(routes.map((r) => [r.name, { key: r.key, status: "live", replayed: false, successes: 0 }])),
    });
  }

  /** One push batch of `d`, as its pump would run it, the webhook answering as the model says. */
  async batch(d: Dest): Promise<void> {
    if (this.store.state(d.name).paused) return;
    const started = this.clock;
    const due = this.store.due(d.name, started, 40, 16 * 1024 * 1024);
    if (due.length === 0) return;
    let inFlight = 0;
    const report = await pushBatch(
      {
        app: this.app,
        destination: d.name,
        webhook: WEBHOOK,
        store: this.store,
        inFlight: new Set(),
        concurrency: Math.min(6, d.maxInFlight),
        rate: this.rates.get(d.name) ?? null,
        spend: true,
        isPaused: () => this.store.state(d.name).paused,
        current: () => true,
        pause: () => this.store.setPaused(d.name, true),
        body: (row) => ({ ok: true, body: row.body }),
        send: async (row) => {
          inFlight++;
          expect(inFlight).toBeLessThanOrEqual(d.maxInFlight);
          this.checkStart(d, row.id);
          await Promise.resolve();
          inFlight--;
          const ok = this.up.get(d.name)!;
          if (ok) this.succeeded(d, row.id);
          return (ok ? { ok: true, status: 204 } : { ok: false, status: 503, error: "webhook answered 503" }) as WebhookOutcome;
        },
        sleep: async (ms) => {
          this.clock += ms;
        },
      },
      due,
      started,
    );
    for (const dead of report.deadLetters) this.delivery(dead.id, d.name).status = "dead";
  }

  private delivery(id: string, name: string): Delivery {
    return this.events.find((e) => e.id === id)!.deliveries.get(name)!;
  }

  /** At the start of an attempt: within the rate, and never ahead of its key. */
  private checkStart(d: Dest, id: string): void {
    const starts = this.starts.get(d.name)!;
    starts.push(this.clock);
    if (d.perSecond !== null) {
      const window = d.perSecond >= 1 ? 1_000 : 1_000 / d.perSecond;
      const recent = starts.filter((at) => at > this.clock - window).length;
      expect(recent, `${d.name} started ${recent} within ${window} ms`).toBeLessThanOrEqual(Math.max(1, Math.floor(d.perSecond)));
    }
    const event = this.events.find((e) => e.id === id)!;
    const mine = event.deliveries.get(d.name)!;
    expect(mine.status, `${id} at ${d.name}`).toBe("live");
    if (mine.key === null || mine.replayed) return;
    const ahead = this.events.filter((e) => {
      const other = e.deliveries.get(d.name);
      return e.seq < event.seq && other !== undefined && other.key === mine.key && other.status === "live";
    });
    expect(ahead.map((e) => e.id), `${id} at ${d.name} is ahead of its key`).toEqual([]);
  }

  private succeeded(d: Dest, id: string): void {
    const delivery = this.delivery(id, d.name);
    delivery.successes++;
    delivery.status = "delivered";
    expect(delivery.successes, `${id} delivered twice to ${d.name}`).toBe(1);
  }

  private async replay(name: string): Promise<void> {
    const dead = this.events.filter((e) => e.deliveries.get(name)?.status === "dead");
    expect(await this.queue.replay(null, name)).toBe(dead.length);
    for (const e of dead) Object.assign(e.deliveries.get(name)!, { status: "live", replayed: true });
  }

  /** The object restarts: what it kept in memory is gone; storage is read anew. */
  private async restart(): Promise<void> {
    const internals = this.queue as unknown as Internals;
    internals.deliveries = new DeliveryStore(internals.db, internals.events);
    this.resetRates();
    // The window lives in memory: a restarted queue starts with an empty one (docs/routing.md, "Rate limits"),
    // so the rate is checked within each life of the object.
    for (const starts of this.starts.values()) starts.length = 0;
  }

  /** Storage agrees with the model: each destination's live and dead counts, from its rows and its counters. */
  async check(): Promise<void> {
    const sql = (this.queue as unknown as Internals).db.sql;
    for (const d of DESTS) {
      const want = { live: 0, dead: 0 };
      for (const e of this.events) {
        const delivery = e.deliveries.get(d.name);
        if (delivery?.status === "live") want.live++;
        if (delivery?.status === "dead") want.dead++;
      }
      const rows = sql
        .exec<{ live: number; dead: number }>(
          "SELECT COUNT(*) FILTER (WHERE state <> 'dead') AS live, COUNT(*) FILTER (WHERE state = 'dead') AS dead FROM deliveries WHERE dest = ?",
          d.name,
        )
        .one();
      expect({ ...rows }, `rows of ${d.name}`).toEqual(want);
      const state = this.store.state(d.name);
      expect({ live: state.live, dead: state.dead }, `counters of ${d.name}`).toEqual(want);
    }
    const held = this.events.filter((e) => [...e.deliveries.values()].some((x) => x.status !== "delivered")).length;
    expect(sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM events").one().n).toBe(held);
  }

  /** Every webhook up, nothing paused, every dead letter replayed, batches until nothing is left. */
  async settle(): Promise<void> {
    for (const d of DESTS) {
      this.up.set(d.name, true);
      await this.queue.setPaused(false, d.name);
      await this.replay(d.name);
    }
    for (let round = 0; round < 400 && this.events.some((e) => [...e.deliveries.values()].some((x) => x.status === "live")); round++) {
      this.clock += 10_000;
      for (const d of DESTS) await this.batch(d);
    }
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

async function runModel(ops: readonly Op[]): Promise<void> {
  const app = newBucket("model-fan");
  await runInDurableObject(queueStub(app), async (queue: AppQueue) => {
    const model = new Model(app, queue);
    vi.spyOn(Date, "now").mockImplementation(() => model.clock);
    vi.spyOn(console, "log").mockImplementation(() => {});
    vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      for (const op of ops) {
        await model.apply(op);
        await model.check();
      }
      await model.settle();
      await model.check();
      for (const e of model.events) {
        for (const [name, delivery] of e.deliveries) expect([e.id, name, delivery.successes]).toEqual([e.id, name, 1]);
      }
      const sql = (queue as unknown as Internals).db.sql;
      expect(sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM deliveries").one().n).toBe(0);
      expect(sql.exec<{ events: number; bytes: number }>("SELECT events, bytes FROM counters").one()).toEqual({ events: 0, bytes: 0 });
    } finally {
      vi.restoreAllMocks();
    }
  });
}

describe("independent delivery against a model", () => {
  it("delivers each event to each destination it matched exactly once, never ahead of its key, never faster than the rate", async () => {
    await fc.assert(fc.asyncProperty(fc.array(anyOp, { minLength: 1, maxLength: 60 }), runModel), { numRuns: 40 });
  }, 120_000);
});

/**
 * Deliveries: one row per (destination, event) until that destination has
 * the event, plus one row per destination with its counters, pause, health
 * and last error. Each destination's attempts, leases, backoff and dead
 * letters are its own; the event they share is stored once (../queue/events.ts),
 * in the delivery's own row when it goes to one destination alone.
 *
 * Ordered destinations keep one delivery per order key `queued` (the head);
 * the others of that key are `held` and become `queued`, in commit order,
 * when the head is delivered or dies. Every statement walks an index whose
 * order is its ORDER BY (docs/architecture.md, "Storage schema").
 *
 * A write names a delivery by (dest, seq), read earlier. A queue dropped
 * meanwhile (deleteAll) starts seq again at 1, so callers write only while
 * the store they read from is still the queue's (`current` in ./push.ts).
 */
import type { QueueDb } from "../queue/db.js";
import { readWithin, written } from "../queue/db.js";
import type { EventStore } from "../queue/events.js";

/** A delivery as read for a push or a pull, with its event. */
export type DeliveryRow = {
  readonly seq: number;
  readonly id: string;
  readonly body: string;
  readonly size: number;
  /** Attempts spent so far: pushes, or leases handed out. */
  readonly attempts: number;
  readonly receivedAt: number;
  /** The order key; null for an unordered destination. */
  readonly key: string | null;
  /** The event's unfinished deliveries when read; null when this delivery carries the event, its only one. */
  readonly pending: number | null;
};

export type DeadRow = DeliveryRow & { readonly lastError: string | null };

/** What a destination's row holds, mirrored in memory. */
export interface DestinationState {
  readonly name: string;
  /** Deliveries waiting, held, leased or backing off. */
  readonly live: number;
  readonly dead: number;
  readonly delivered: number;
  readonly paused: boolean;
  readonly lastError: string | null;
  readonly lastErrorAt: number | null;
  readonly lastDelivered: number | null;
  /** Since when the destination is down (docs/routing.md, "Health"); null: up. */
  readonly downSince: number | null;
  /** Consecutive failed attempts, each of a different event, since the last success. */
  readonly failures: number;
  readonly failingSince: number | null;
}

type Row = {
  name: string;
  live: number;
  dead: number;
  delivered: number;
  paused: number;
  last_error: string | null;
  last_error_at: number | null;
  last_delivered: number | null;
  down_since: number | null;
  failures: number;
  failing_since: number | null;
};

/**
 * Deliveries with their events, walking the due index (SQLite keeps no
 * statistics here: the index is named). A delivery that holds its event's
 * JSON (the event went to it alone) is read alone: the join's key is then
 * null, and SQLite looks nothing up in `events`. Otherwise the event's row
 * is read too.
 */
const SELECT_DELIVERY = `SELECT d.seq AS seq, COALESCE(d.id, e.id) AS id, COALESCE(d.body, e.body) AS body, COALESCE(d.size, e.size) AS size,
  d.attempts AS attempts, COALESCE(d.received_at, e.received_at) AS receivedAt, d.order_key AS key, e.pending AS pending`;
const WITH_EVENT = "LEFT JOIN events e ON e.seq = CASE WHEN d.body IS NULL THEN d.seq END";

/** The event a delivery carries (an event that goes to one destination), or null for one shared with others. */
export type CarriedEvent = { readonly id: string; readonly body: string; readonly size: number; readonly receivedAt: number } | null;

export class DeliveryStore {
  private readonly states = new Map<string, DestinationState>();
  /** Destinations whose row is written (the rest exist only as defaults in memory). */
  private readonly rows = new Set<string>();
  /**
   * Destinations that may hold deliveries with an order key (ordered now, or
   * once): only their acks read a delivery's key back.
   */
  private readonly keyed = new Set<string>();
  /** Push attempts out now, by destination: seqs claimed and not yet recorded (memory only; see `claim`). */
  private readonly out = new Map<string, Set<number>>();

  constructor(
    private readonly db: QueueDb,
    private readonly events: EventStore,
  ) {
    for (const row of db.sql.exec<Row>("SELECT * FROM destinations")) {
      this.states.set(row.name, fromRow(row));
      this.rows.add(row.name);
      const key = db.sql.exec(
        "SELECT 1 FROM deliveries INDEXED BY deliveries_by_key WHERE dest = ? AND order_key IS NOT NULL AND state <> 'dead' LIMIT 1",
        row.name,
      );
      if (key.toArray().length > 0) this.keyed.add(row.name);
    }
  }

  // ---- destinations ----

  /** Every destination that has a row (configured now or once), by name. */
  names(): string[] {
    return [...this.states.keys()];
  }

  state(name: string): DestinationState {
    return this.states.get(name) ?? fresh(name);
  }

  /** Changes a destination's row, creating it on first use; inside the caller's transaction when there is one. */
  private change(name: string, change: Partial<Omit<DestinationState, "name">>, counts: { live?: number; dead?: number; delivered?: number } = {}): void {
    const before = this.state(name);
    const { live = 0, dead = 0, delivered = 0 } = counts;
    const after: DestinationState = { ...before, ...change, live: before.live + live, dead: before.dead + dead, delivered: before.delivered + delivered };
    const existed = this.states.has(name);
    this.states.set(name, after);
    this.db.onRollback(() => (existed ? this.states.set(name, before) : this.states.delete(name)));
    if (Object.keys(change).length === 0 && this.rows.has(name)) {
      // Counts alone, on a row that exists: the cheap statement (every commit and batch makes one).
      this.db.sql.exec("UPDATE destinations SET live = live + ?, dead = dead + ?, delivered = delivered + ? WHERE name = ?", live, dead, delivered, name);
      return;
    }
    if (!this.rows.has(name)) {
      this.rows.add(name);
      this.db.onRollback(() => this.rows.delete(name));
    }
    this.db.sql.exec(
      `INSERT INTO destinations (name, live, dead, delivered, paused, last_error, last_error_at, last_delivered, down_since, failures, failing_since)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET live = live + ?, dead = dead + ?, delivered = delivered + ?, paused = excluded.paused,
         last_error = excluded.last_error, last_error_at = excluded.last_error_at, last_delivered = excluded.last_delivered,
         down_since = excluded.down_since, failures = excluded.failures, failing_since = excluded.failing_since`,
      name,
      after.live,
      after.dead,
      after.delivered,
      after.paused ? 1 : 0,
      after.lastError,
      after.lastErrorAt,
      after.lastDelivered,
      after.downSince,
      after.failures,
      after.failingSince,
      live,
      dead,
      delivered,
    );
  }

  setPaused(name: string, paused: boolean): void {
    if (this.state(name).paused !== paused) this.change(name, { paused });
  }

  /** A failed attempt: stats' last error, and the health count (./health.ts decides what it means). */
  recordFailure(name: string, error: string, at: number, health: Pick<DestinationState, "failures" | "failingSince" | "downSince">): void {
    this.change(name, { failures: health.failures, failingSince: health.failingSince, downSince: health.downSince, lastError: error, lastErrorAt: at });
  }

  /** A delivery died for its own reason (its transform, its age): stats' last error, the health untouched. */
  recordError(name: string, error: string, at: number): void {
    this.change(name, { lastError: error, lastErrorAt: at });
  }

  /** A push went through: the health count starts again (the time of the delivery is written with it, by `delivered`). */
  recordSuccess(name: string): void {
    const state = this.state(name);
    if (state.failures === 0 && state.failingSince === null && state.downSince === null) return;
    this.change(name, { failures: 0, failingSince: null, downSince: null });
  }

  /**
   * Forgets a destination and every delivery it holds, live or dead (docs/routing.md,
   * "Removing a destination"); an event no other destination holds leaves.
   * Answers how many deliveries went. Reads each of them: an admin's act, like dropping an app.
   */
  drop(name: string, now: number): number {
    return this.db.transaction(() => {
      let n = 0;
      for (const { seq } of this.db.sql.exec<{ seq: number }>("DELETE FROM deliveries WHERE dest = ? RETURNING seq", name).toArray()) {
        this.events.finish(seq, 1, now, false);
        n++;
      }
      this.db.sql.exec("DELETE FROM destinations WHERE name = ?", name);
      const before = this.states.get(name);
      const hadRow = this.rows.delete(name);
      this.states.delete(name);
      this.db.onRollback(() => {
        if (before) this.states.set(name, before);
        if (hadRow) this.rows.add(name);
      });
      return n;
    });
  }

  // ---- commit ----

  /**
   * Adds the deliveries of a new event, inside the transaction that stores
   * it: reads one index entry per ordered route, to see whether an earlier
   * event of its key is still undelivered. `event`: the event, when its one
   * route's row holds it (see ../queue/events.ts, `insert`).
   */
  add(seq: number, routes: readonly { readonly name: string; readonly key: string | null }[], now: number, event: CarriedEvent): void {
    for (const { name, key } of routes) {
      if (key !== null) this.keyed.add(name);
      this.db.sql.exec(
        "INSERT INTO deliveries (dest, seq, state, available_at, order_key, id, body, size, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        name,
        seq,
        this.behind(name, key) ? "held" : "queued",
        now,
        key,
        event?.id ?? null,
        event?.body ?? null,
        event?.size ?? null,
        event?.receivedAt ?? null,
      );
      this.change(name, {}, { live: 1 });
    }
  }

  /**
   * Whether event `seq` has, at each of `names`, a delivery nothing has
   * touched: never tried, not out now. A later 微信客服 callback may then
   * fold into it (docs/kf.md). One primary-key read each.
   */
  untouched(seq: number, names: readonly string[]): boolean {
    return names.every(
      (name) =>
        !this.isOut(name, seq) &&
        this.db.sql.exec("SELECT 1 FROM deliveries WHERE dest = ? AND seq = ? AND state <> 'dead' AND attempts = 0 AND last_error IS NULL AND lease IS NULL", name, seq).toArray()
          .length > 0,
    );
  }

  /** A 微信客服 callback folded into event `seq`, whose JSON delivery `name` holds: the new JSON and its size (docs/kf.md). */
  refold(name: string, seq: number, body: string, size: number): void {
    this.db.sql.exec("UPDATE deliveries SET body = ?, size = ? WHERE dest = ? AND seq = ?", body, size, name, seq);
  }

  // ---- reading what is due ----

  /**
   * Destination `name`'s deliveries due at `now`, in the order they became
   * due: up to `max`, fewer once their JSON would pass `maxBytes` (always at
   * least one). Reads one row each, the delivery's index entry, and the
   * event's row as well for an event that other destinations share.
   */
  due(name: string, now: number, max: number, maxBytes: number): DeliveryRow[] {
    return readWithin(
      this.db.sql.exec<DeliveryRow>(
        `${SELECT_DELIVERY} FROM deliveries d INDEXED BY deliveries_due ${WITH_EVENT}
         WHERE d.dest = ? AND d.state = 'queued' AND d.available_at <= ? ORDER BY d.available_at, d.seq LIMIT ?`,
        name,
        now,
        max,
      ),
      maxBytes,
    );
  }

  /** When destination `name`'s next delivery falls due (epoch ms), or null. */
  nextDue(name: string): number | null {
    const row = this.db.sql
      .exec<{ at: number }>("SELECT available_at AS at FROM deliveries WHERE dest = ? AND state = 'queued' ORDER BY available_at LIMIT 1", name)
      .toArray()[0];
    return row?.at ?? null;
  }

  /** receivedAt of destination `name`'s oldest undelivered event. */
  oldest(name: string): number | null {
    const row = this.db.sql
      .exec<{ at: number }>(
        `SELECT e.received_at AS at FROM deliveries d INDEXED BY deliveries_live JOIN events e ON e.seq = d.seq
         WHERE d.dest = ? AND d.state <> 'dead' ORDER BY d.seq LIMIT 1`,
        name,
      )
      .toArray()[0];
    return row?.at ?? null;
  }

  /** Deliveries of `name` waiting out a lease or a backoff: reads one index entry each. */
  waitingCount(name: string, now: number): number {
    return this.db.sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM deliveries WHERE dest = ? AND state = 'queued' AND available_at > ?", name, now)
      .one().n;
  }

  // ---- push ----

  /**
   * Claims delivery `seq` for a push batch, in memory only, in the turn the
   * batch reads it (Pusher.batch): until the batch ends (`unclaim`), no pull
   * leases it and no 微信客服 callback folds into it. Nothing is written:
   * its row stays due as it was, so that an object that stops mid-flight
   * finds it due at once when it wakes (docs/delivery.md, "Delivery
   * guarantees"), and the attempt is counted when its answer is recorded
   * (retry, kill) or the delivery leaves (delivered). False when it is out
   * already.
   */
  claim(name: string, seq: number): boolean {
    let out = this.out.get(name);
    if (out === undefined) this.out.set(name, (out = new Set()));
    if (out.has(seq)) return false;
    out.add(seq);
    return true;
  }

  /** The batch that claimed `seq` has ended: whatever came of its attempt is recorded. */
  unclaim(name: string, seq: number): void {
    this.out.get(name)?.delete(seq);
  }

  private isOut(name: string, seq: number): boolean {
    return this.out.get(name)?.has(seq) ?? false;
  }

  /** Removes delivered deliveries, in one transaction; each event leaves once its last delivery is done. */
  delivered(name: string, rows: readonly DeliveryRow[], now: number): number {
    if (rows.length === 0) return 0;
    return this.db.transaction(() => {
      let n = 0;
      for (const row of rows) {
        if (written(this.db.sql.exec("DELETE FROM deliveries WHERE dest = ? AND seq = ? AND state = 'queued'", name, row.seq)) === 0) continue;
        n++;
        this.events.finish(row.seq, 1, now, true, row);
        if (row.key !== null) this.releaseNext(name, row.key, now);
      }
      if (n > 0) this.change(name, { lastDelivered: now }, { live: -n, delivered: n });
      return n;
    });
  }

  /** A failed push: `attempts` spent so far, the next due at `at`. */
  retry(name: string, row: DeliveryRow, attempts: number, at: number, error: string): void {
    this.db.sql.exec(
      "UPDATE deliveries SET attempts = ?, available_at = ?, last_error = ?, lease = NULL WHERE dest = ? AND seq = ? AND state = 'queued'",
      attempts,
      at,
      error,
      name,
      row.seq,
    );
  }

  /**
   * Makes a live delivery a dead letter, with the `attempts` it spent; the
   * next event of its key, if held, goes on.
   */
  kill(name: string, row: Pick<DeliveryRow, "seq" | "key" | "attempts">, error: string, now: number, attempts = row.attempts): boolean {
    return this.db.transaction(() => {
      const killed = written(
        this.db.sql.exec(
          `UPDATE deliveries SET state = 'dead', attempts = ?, last_error = ?, lease = NULL, available_at = ?
           WHERE dest = ? AND seq = ? AND state = 'queued'`,
          attempts,
          error,
          now,
          name,
          row.seq,
        ),
      );
      if (killed === 0) return false;
      this.change(name, {}, { live: -1, dead: 1 });
      if (row.key !== null) this.releaseNext(name, row.key, now);
      return true;
    });
  }

  /** Whether an ordered destination holds an undelivered event of `key`, which a new one must wait behind: one index entry. */
  private behind(name: string, key: string | null): boolean {
    if (key === null) return false;
    return (
      this.db.sql.exec("SELECT 1 FROM deliveries INDEXED BY deliveries_by_key WHERE dest = ? AND order_key = ? AND state <> 'dead' LIMIT 1", name, key).toArray()
        .length > 0
    );
  }

  /** The held delivery of `key` with the lowest seq becomes due: reads the key's index entries up to it. */
  private releaseNext(name: string, key: string, now: number): void {
    const live = this.db.sql
      .exec<{ seq: number; state: string }>(
        "SELECT seq, state FROM deliveries INDEXED BY deliveries_by_key WHERE dest = ? AND order_key = ? AND state <> 'dead' ORDER BY seq LIMIT 1",
        name,
        key,
      )
      .toArray()[0];
    if (live?.state !== "held") return;
    this.db.sql.exec("UPDATE deliveries SET state = 'queued', available_at = ? WHERE dest = ? AND seq = ?", now, name, live.seq);
  }

  // ---- pull ----

  /**
   * Leases `row` under `lease` until `until`, if it is still due at `now`:
   * false when another pull or socket leased it since it was read (a
   * transform's await lets them take turns).
   */
  lease(name: string, row: DeliveryRow, lease: string, until: number, now: number): boolean {
    // Out on a push (the destination just turned from push to pull): not leased meanwhile.
    if (this.isOut(name, row.seq)) return false;
    return (
      written(
        this.db.sql.exec(
          "UPDATE deliveries SET attempts = attempts + 1, available_at = ?, lease = ? WHERE dest = ? AND seq = ? AND state = 'queued' AND available_at <= ?",
          until,
          lease,
          name,
          row.seq,
          now,
        ),
      ) > 0
    );
  }

  /** Whether destination `name` may hold deliveries with an order key (whose ack releases the next). */
  holdsKeys(name: string): boolean {
    return this.keyed.has(name);
  }

  /**
   * Acks each id that `lease` still holds at `now` (with a null lease, each
   * live one), in one transaction. Answers the ids acked. Reads three rows
   * an id when the event goes to this destination alone: the event through
   * its id, the delivery it deletes, the event it deletes; a destination that
   * may hold order keys reads the delivery's key too, to release the next.
   */
  ack(name: string, ids: readonly string[], lease: string | null, now: number): Set<string> {
    const keyed = this.keyed.has(name);
    return this.db.transaction(() => {
      const acked = new Set<string>();
      for (const id of ids) {
        const event = this.db.sql.exec<{ seq: number; size: number; pending: number }>("SELECT seq, size, pending FROM events WHERE id = ?", id).toArray()[0];
        if (event === undefined) continue;
        const where = `DELETE FROM deliveries WHERE dest = ? AND seq = ? AND state = 'queued'${lease === null ? "" : " AND lease = ? AND available_at > ?"}`;
        const bindings = lease === null ? [name, event.seq] : [name, event.seq, lease, now];
        let key: string | null = null;
        if (keyed) {
          // RETURNING costs a read of its own: only where a key may be there to release.
          const row = this.db.sql.exec<{ key: string | null }>(`${where} RETURNING order_key AS key`, ...bindings).toArray()[0];
          if (row === undefined) continue;
          key = row.key;
        } else if (written(this.db.sql.exec(where, ...bindings)) === 0) {
          continue;
        }
        acked.add(id);
        this.events.finish(event.seq, 1, now, true, { id, size: event.size, pending: event.pending });
        if (key !== null) this.releaseNext(name, key, now);
      }
      if (acked.size > 0) this.change(name, { lastDelivered: now }, { live: -acked.size, delivered: acked.size });
      return acked;
    });
  }

  /** Releases `id` from `lease` early: it is due again at `at`. */
  release(name: string, id: string, lease: string, now: number, at: number): boolean {
    return (
      written(
        this.db.sql.exec(
          `UPDATE deliveries SET available_at = ?, lease = NULL
           WHERE dest = ? AND seq = (SELECT seq FROM events WHERE id = ?) AND state = 'queued' AND lease = ? AND available_at > ?`,
          at,
          name,
          id,
          lease,
          now,
        ),
      ) > 0
    );
  }

  /**
   * Every delivery still leased under `lease` is due at `now`: a WebSocket
   * that closed (docs/feed.md). Reads the lease's index entries.
   */
  releaseLease(lease: string, now: number): number {
    return written(
      this.db.sql.exec(
        "UPDATE deliveries INDEXED BY deliveries_leased SET available_at = ?, lease = NULL WHERE lease = ? AND state = 'queued' AND available_at > ?",
        now,
        lease,
        now,
      ),
    );
  }

  // ---- dead letters ----

  /** Destination `name`'s dead letters, in the order they died, within `maxBytes` (always at least one). */
  deadLetters(name: string, limit: number, maxBytes: number): DeadRow[] {
    return readWithin(
      this.db.sql.exec<DeadRow>(
        `${SELECT_DELIVERY}, d.last_error AS lastError FROM deliveries d INDEXED BY deliveries_due ${WITH_EVENT}
         WHERE d.dest = ? AND d.state = 'dead' ORDER BY d.available_at, d.seq LIMIT ?`,
        name,
        limit,
      ),
      maxBytes,
    );
  }

  /** The event JSON of a dead letter of `name`, or null: two indexed reads. */
  deadLetterBody(name: string, id: string): string | null {
    return (
      this.db.sql
        .exec<{ body: string }>(
          "SELECT COALESCE(d.body, e.body) AS body FROM events e JOIN deliveries d ON d.seq = e.seq AND d.dest = ? WHERE e.id = ? AND d.state = 'dead'",
          name,
          id,
        )
        .toArray()[0]?.body ?? null
    );
  }

  /**
   * Puts `name`'s dead letters (all when `ids` is null) back with a fresh
   * attempt count; on an ordered destination, behind a live event of its key.
   */
  replay(name: string, ids: readonly string[] | null, now: number): number {
    return this.db.transaction(() => {
      const rows = this.deadRefs(name, ids);
      for (const { seq, key } of rows) {
        if (key !== null) this.keyed.add(name);
        this.db.sql.exec(
          "UPDATE deliveries SET state = ?, attempts = 0, available_at = ?, last_error = NULL, lease = NULL WHERE dest = ? AND seq = ?",
          this.behind(name, key) ? "held" : "queued",
          now,
          name,
          seq,
        );
      }
      if (rows.length > 0) this.change(name, {}, { live: rows.length, dead: -rows.length });
      return rows.length;
    });
  }

  /** Deletes `name`'s dead letters (all when `ids` is null); an event no destination still holds leaves. */
  purgeDead(name: string, ids: readonly string[] | null, now: number): number {
    return this.db.transaction(() => {
      const rows = this.deadRefs(name, ids);
      for (const { seq } of rows) {
        this.db.sql.exec("DELETE FROM deliveries WHERE dest = ? AND seq = ?", name, seq);
        this.events.finish(seq, 1, now, false);
      }
      if (rows.length > 0) this.change(name, {}, { dead: -rows.length });
      return rows.length;
    });
  }

  private deadRefs(name: string, ids: readonly string[] | null): { seq: number; key: string | null }[] {
    if (ids === null) {
      return this.db.sql
        .exec<{ seq: number; key: string | null }>(
          // The dead rows alone, in commit order: a replayed key's dead letters go back in the order they came.
          "SELECT seq, order_key AS key FROM deliveries INDEXED BY deliveries_due WHERE dest = ? AND state = 'dead' ORDER BY seq",
          name,
        )
        .toArray();
    }
    return [...new Set(ids)].flatMap((id) =>
      this.db.sql
        .exec<{ seq: number; key: string | null }>(
          "SELECT seq, order_key AS key FROM deliveries WHERE dest = ? AND seq = (SELECT seq FROM events WHERE id = ?) AND state = 'dead'",
          name,
          id,
        )
        .toArray(),
    );
  }
}

function fresh(name: string): DestinationState {
  return {
    name,
    live: 0,
    dead: 0,
    delivered: 0,
    paused: false,
    lastError: null,
    lastErrorAt: null,
    lastDelivered: null,
    downSince: null,
    failures: 0,
    failingSince: null,
  };
}

function fromRow(row: Row): DestinationState {
  return {
    name: row.name,
    live: row.live,
    dead: row.dead,
    delivered: row.delivered,
    paused: row.paused === 1,
    lastError: row.last_error,
    lastErrorAt: row.last_error_at,
    lastDelivered: row.last_delivered,
    downSince: row.down_since,
    failures: row.failures,
    failingSince: row.failing_since,
  };
}

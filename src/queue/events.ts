/**
 * Events, stored once however many destinations they go to, and the ids
 * remembered for dedup. The JSON of a small event that goes to one
 * destination is stored in that delivery's row instead (its `body` here is
 * ''), so that delivering it reads one row, not two (docs/architecture.md,
 * "Storage schema"). An event row lives while any of its deliveries is
 * unfinished (waiting, leased, backing off, or a dead letter); when the last
 * one finishes it leaves, and its id is remembered for the dedup window, so
 * that WeCom's resend is not queued again. docs/delivery.md, "Delivery guarantees".
 */
import { written, type QueueDb } from "./db.js";
import { encodeUtf8 } from "../lib/bytes.js";

/** The app's totals, kept in one row and mirrored in memory. */
export interface Totals {
  /** Event rows held: with a delivery waiting, leased, backing off or dead. */
  readonly events: number;
  /** Bytes of event JSON held, each event once. */
  readonly bytes: number;
  /** AI-bot stream refreshes answered. */
  readonly refreshes: number;
  /** Bytes of AI-bot stream content and msg_item held. */
  readonly streamBytes: number;
}

/** Unrouted kinds counted one by one; the rest are counted under `other`. */
export const UNROUTED_KINDS = 100;

/** Expired rows dropped per row added, so that a table stays bounded with no sweep of its own. */
export const PURGE_PER_ADD = 2;

export class EventStore {
  private totals: Totals;
  /** Ids remembered in the current transaction: as many expired ones go at its end. */
  private remembered = 0;
  /** What the counters row has yet to get, written once per transaction. */
  private unwritten: Totals = { events: 0, bytes: 0, refreshes: 0, streamBytes: 0 };

  constructor(
    private readonly db: QueueDb,
    /** How long a finished event's id is remembered. */
    private readonly dedupWindowMs: number,
  ) {
    const row = db.sql
      .exec<{ events: number; bytes: number; refreshes: number; stream_bytes: number }>(
        "SELECT events, bytes, refreshes, stream_bytes FROM counters",
      )
      .one();
    this.totals = { events: row.events, bytes: row.bytes, refreshes: row.refreshes, streamBytes: row.stream_bytes };
  }

  counts(): Totals {
    return this.totals;
  }

  /** Applies a change to the totals; inside the transaction that made it. */
  count(change: Partial<Totals>): void {
    const { events = 0, bytes = 0, refreshes = 0, streamBytes = 0 } = change;
    if (events === 0 && bytes === 0 && refreshes === 0 && streamBytes === 0) return;
    const u = this.unwritten;
    this.unwritten = { events: u.events + events, bytes: u.bytes + bytes, refreshes: u.refreshes + refreshes, streamBytes: u.streamBytes + streamBytes };
    this.db.atCommit("counters", () => this.write());
    const before = this.totals;
    this.totals = {
      events: before.events + events,
      bytes: before.bytes + bytes,
      refreshes: before.refreshes + refreshes,
      streamBytes: before.streamBytes + streamBytes,
    };
    this.db.onRollback(() => {
      this.totals = before;
      this.unwritten = { events: 0, bytes: 0, refreshes: 0, streamBytes: 0 };
    });
  }

  private write(): void {
    const { events, bytes, refreshes, streamBytes } = this.unwritten;
    this.unwritten = { events: 0, bytes: 0, refreshes: 0, streamBytes: 0 };
    this.db.sql.exec(
      "UPDATE counters SET events = events + ?, bytes = bytes + ?, refreshes = refreshes + ?, stream_bytes = stream_bytes + ?",
      events,
      bytes,
      refreshes,
      streamBytes,
    );
  }

  /** Whether `id` finished (or went unrouted) within the dedup window before `now`. */
  seen(id: string, now: number): boolean {
    const row = this.db.sql.exec<{ seen_at: number }>("SELECT seen_at FROM seen WHERE id = ?", id).toArray()[0];
    return row !== undefined && row.seen_at >= now - this.dedupWindowMs;
  }

  /** Whether an event with this id is held. */
  holds(id: string): boolean {
    return this.db.sql.exec("SELECT 1 FROM events WHERE id = ?", id).toArray().length > 0;
  }

  /**
   * Stores a new event with `pending` deliveries; answers its seq, or null
   * when an event with this id is held already. Inside the caller's
   * transaction, with its deliveries. `body` null: its one delivery holds
   * its JSON (../destinations/store.ts, `add`), and the row keeps ''.
   */
  insert(id: string, body: string | null, size: number, receivedAt: number, pending: number): number | null {
    const row = this.db.sql
      .exec<{ seq: number }>(
        `INSERT INTO events (id, body, size, received_at, pending) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (id) DO NOTHING RETURNING seq`,
        id,
        body ?? "",
        size,
        receivedAt,
        pending,
      )
      .toArray()[0];
    if (row === undefined) return null;
    this.count({ events: 1, bytes: size });
    return row.seq;
  }

  /**
   * `finished` of event `seq`'s deliveries are done for good (delivered or
   * purged); when none is left, the event leaves and, when `remember`, its
   * id is remembered for the dedup window. Inside the caller's transaction.
   * `known`: the event's id and size, and its `pending` count as the caller
   * read it (null when its one delivery carries it), which saves reads.
   */
  finish(seq: number, finished: number, now: number, remember = true, known?: { readonly id: string; readonly size: number; readonly pending?: number | null }): void {
    // Most events go to one destination: the delete is tried first, the decrement only when others wait,
    // or first when the caller read that others did (`pending`): either order is right, the first that matches costs one read.
    if (known?.pending != null && known.pending > finished) {
      if (written(this.db.sql.exec("UPDATE events SET pending = pending - ? WHERE seq = ? AND pending > ?", finished, seq, finished)) > 0) return;
    }
    // With the id and size known (a push read them), no RETURNING: it costs a second read.
    const row = known
      ? written(this.db.sql.exec("DELETE FROM events WHERE seq = ? AND pending <= ?", seq, finished)) > 0
        ? known
        : undefined
      : this.db.sql.exec<{ id: string; size: number }>("DELETE FROM events WHERE seq = ? AND pending <= ? RETURNING id, size", seq, finished).toArray()[0];
    if (row === undefined) {
      this.db.sql.exec("UPDATE events SET pending = pending - ? WHERE seq = ?", finished, seq);
      return;
    }
    this.count({ events: -1, bytes: -row.size });
    if (remember) this.remember(row.id, now);
  }

  /**
   * Folds a later callback into held event `seq`, which must have exactly
   * `pending` deliveries: its JSON becomes `body` under the held event's id,
   * and `id`, the later callback's own, is remembered as seen (WeCom's retry
   * of it is a duplicate). Answers the held event's id and the new JSON with
   * its size, which the caller writes into the one delivery that holds the
   * JSON when `inDelivery`; or null when `seq` is gone or has other
   * deliveries. docs/kf.md, "Coalescing".
   */
  fold(
    seq: number,
    pending: number,
    id: string,
    body: (heldId: string) => string,
    now: number,
  ): { id: string; body: string; size: number; inDelivery: boolean } | null {
    const row = this.db.sql
      .exec<{ id: string; size: number; pending: number; inDelivery: number }>("SELECT id, size, pending, body = '' AS inDelivery FROM events WHERE seq = ?", seq)
      .toArray()[0];
    // WeCom's retry of the held callback itself is a duplicate, not a later callback.
    if (row === undefined || row.pending !== pending || row.id === id) return null;
    const text = body(row.id);
    const size = encodeUtf8(text).length;
    const inDelivery = row.inDelivery === 1;
    this.db.sql.exec("UPDATE events SET body = ?, size = ? WHERE seq = ?", inDelivery ? "" : text, size, seq);
    this.count({ events: 0, bytes: size - row.size });
    this.remember(id, now);
    return { id: row.id, body: text, size, inDelivery };
  }

  /**
   * An event that matched no destination: its id is remembered like a
   * delivered one's, and its kind counted (docs/routing.md, "Unrouted events").
   */
  unrouted(id: string, kind: string, now: number): void {
    this.db.transaction(() => {
      this.remember(id, now);
      const counted = this.db.sql.exec("UPDATE unrouted SET n = n + 1 WHERE kind = ?", kind);
      counted.toArray();
      if (counted.rowsWritten > 0) return;
      const kinds = this.db.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM unrouted").one().n;
      this.db.sql.exec(
        "INSERT INTO unrouted (kind, n) VALUES (?, 1) ON CONFLICT (kind) DO UPDATE SET n = n + 1",
        kinds < UNROUTED_KINDS || kind === "other" ? kind : "other",
      );
    });
  }

  /** Unrouted events by kind (at most UNROUTED_KINDS kinds and `other`). */
  unroutedCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const row of this.db.sql.exec<{ kind: string; n: number }>("SELECT kind, n FROM unrouted ORDER BY n DESC, kind")) out[row.kind] = row.n;
    return out;
  }

  /**
   * A finished event's id is remembered for the dedup window; a couple of
   * expired ones are forgotten for each, in one statement per transaction.
   */
  private remember(id: string, now: number): void {
    this.db.sql.exec("INSERT INTO seen (id, seen_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at", id, now);
    this.remembered++;
    this.db.atCommit("seen", () => {
      this.db.sql.exec(
        "DELETE FROM seen WHERE id IN (SELECT id FROM seen WHERE seen_at < ? ORDER BY seen_at LIMIT ?)",
        now - this.dedupWindowMs,
        this.remembered * PURGE_PER_ADD,
      );
      this.remembered = 0;
    });
  }
}

/**
 * The queue's storage: the schema and every SQL statement, over one
 * Durable Object's SQLite. Nothing here knows about push or pull policy,
 * HTTP or WeCom; the Durable Object (app-queue.ts) decides, this stores.
 *
 * Cost rule (docs/architecture.md, "Storage schema"): no statement reads more rows than it
 * returns or touches, plus a constant. Depth and bytes are counters kept in
 * the same transaction as every change, never a COUNT(*) over the backlog;
 * every ordered read walks an index whose order is the ORDER BY.
 */

export interface Counters {
  /** Events waiting, leased or backing off. */
  readonly live: number;
  readonly liveBytes: number;
  /** Dead letters. */
  readonly dead: number;
  readonly deadBytes: number;
  /** Pushed with a 2xx, or pulled and acked, since the queue was created. */
  readonly delivered: number;
  /** AI-bot stream refreshes answered. */
  readonly refreshes: number;
}

/** A refused callback, as kept: no plaintext, no secret. */
export type Refusal = {
  readonly at: number;
  readonly method: string;
  readonly code: string;
  /** The answer's message and the log line's detail. */
  readonly reason: string;
  readonly hint: string;
};

/** A row as read: its seq, and its id to make sure the seq still names it. */
export type EventRef = { readonly seq: number; readonly id: string };

// Types, not interfaces: SqlStorage's row type needs an index signature.
export type StoredEvent = {
  readonly seq: number;
  readonly id: string;
  readonly body: string;
  readonly size: number;
  /** Deliveries started so far: pushes attempted, or leases handed out. */
  readonly attempts: number;
};

export type StoredStream = {
  readonly id: string;
  readonly content: string;
  readonly finish: 0 | 1;
  readonly msgItem: string | null;
  readonly expiresAt: number;
  /** 0 while the stream still shows the placeholder. */
  readonly answered: 0 | 1;
  readonly timedOut: 0 | 1;
};

export type DeadRow = StoredEvent & {
  readonly receivedAt: number;
  readonly lastError: string | null;
};

const SCHEMA_VERSION = 6;

/**
 * v1 is the schema of wecom-edge 0.1 (events, seen, meta). v2 adds the lease
 * column, the counters row and the (state, seq) index, and filling the
 * counters is the one full read this queue ever makes; 0.1's `mode` and
 * `webhook` meta become the `settings` that 0.2 hands over (settings.ts).
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS events (
     seq          INTEGER PRIMARY KEY AUTOINCREMENT,
     id           TEXT    NOT NULL UNIQUE,
     body         TEXT    NOT NULL,
     size         INTEGER NOT NULL,
     received_at  INTEGER NOT NULL,
     state        TEXT    NOT NULL CHECK (state IN ('queued', 'dead')),
     attempts     INTEGER NOT NULL DEFAULT 0,
     available_at INTEGER NOT NULL,
     last_error   TEXT
   );
   CREATE INDEX IF NOT EXISTS events_ready ON events (state, available_at, seq);
   CREATE TABLE IF NOT EXISTS seen (
     id      TEXT    PRIMARY KEY,
     seen_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX IF NOT EXISTS seen_by_time ON seen (seen_at);
   CREATE TABLE IF NOT EXISTS meta (
     key   TEXT PRIMARY KEY,
     value TEXT NOT NULL
   ) WITHOUT ROWID;`,
  `ALTER TABLE events ADD COLUMN lease TEXT;
   CREATE INDEX events_by_seq ON events (state, seq);
   CREATE TABLE counters (
     one        INTEGER PRIMARY KEY CHECK (one = 1),
     live       INTEGER NOT NULL,
     live_bytes INTEGER NOT NULL,
     dead       INTEGER NOT NULL,
     dead_bytes INTEGER NOT NULL,
     delivered  INTEGER NOT NULL
   );
   INSERT INTO counters
     SELECT 1,
            COALESCE(SUM(state = 'queued'), 0), COALESCE(SUM(CASE WHEN state = 'queued' THEN size END), 0),
            COALESCE(SUM(state = 'dead'), 0),   COALESCE(SUM(CASE WHEN state = 'dead' THEN size END), 0),
            COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'delivered'), 0)
     FROM events;
   INSERT INTO meta (key, value)
     SELECT 'settings', json_object('mode', 'push', 'webhook', json(value)) FROM meta
     WHERE key = 'webhook' AND EXISTS (SELECT 1 FROM meta WHERE key = 'mode' AND value = 'push');
   INSERT INTO meta (key, value)
     SELECT 'settings', json_object('mode', 'pull', 'maxAttempts', 20) FROM meta WHERE key = 'mode' AND value = 'pull';
   DELETE FROM meta WHERE key IN ('delivered', 'mode', 'webhook');`,
  `CREATE TABLE replies (
     id    TEXT    PRIMARY KEY,
     reply TEXT    NOT NULL,
     at    INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX replies_by_time ON replies (at);`,
  `CREATE TABLE streams (
     id         TEXT    PRIMARY KEY,
     content    TEXT    NOT NULL,
     finish     INTEGER NOT NULL,
     msg_item   TEXT,
     expires_at INTEGER NOT NULL,
     answered   INTEGER NOT NULL DEFAULT 0,
     timed_out  INTEGER NOT NULL DEFAULT 0
   ) WITHOUT ROWID;
   CREATE INDEX streams_by_expiry ON streams (expires_at);
   ALTER TABLE counters ADD COLUMN refreshes INTEGER NOT NULL DEFAULT 0;`,
  `CREATE TABLE credentials (
     id        TEXT    PRIMARY KEY,
     callbacks INTEGER NOT NULL,
     last_at   INTEGER NOT NULL
   ) WITHOUT ROWID;`,
  `CREATE TABLE refusals (
     seq    INTEGER PRIMARY KEY AUTOINCREMENT,
     at     INTEGER NOT NULL,
     method TEXT    NOT NULL,
     code   TEXT    NOT NULL,
     reason TEXT    NOT NULL,
     hint   TEXT    NOT NULL
   );`,
];

/** Expired `seen` rows dropped per delivery: more than one is added, so the table cannot grow without bound. */
const SEEN_PURGE_PER_DELETE = 2;

export class QueueStore {
  private readonly sql: SqlStorage;
  /** The counters row, mirrored in memory: read once, then kept in step with every write. */
  private counters: Counters;

  constructor(
    private readonly storage: DurableObjectStorage,
    /** How long a delivered id is remembered, so that WeCom's resend of it is not queued again. */
    private readonly dedupWindowMs: number,
  ) {
    this.sql = storage.sql;
    this.migrate();
    this.counters = this.readCounters();
  }

  /** Brings the schema up to date. */
  private migrate(): void {
    this.sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID");
    const hasEvents = this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").toArray().length > 0;
    const found = Number(this.getMeta("schema") ?? (hasEvents ? "1" : "0"));
    if (found >= SCHEMA_VERSION) return;
    this.storage.transactionSync(() => {
      for (let version = found; version < SCHEMA_VERSION; version++) this.sql.exec(MIGRATIONS[version]!);
      this.setMeta("schema", String(SCHEMA_VERSION));
    });
  }

  // ---- counters ----

  counts(): Counters {
    return this.counters;
  }

  private readCounters(): Counters {
    const row = this.sql
      .exec<{ live: number; live_bytes: number; dead: number; dead_bytes: number; delivered: number; refreshes: number }>(
        "SELECT live, live_bytes, dead, dead_bytes, delivered, refreshes FROM counters",
      )
      .one();
    return {
      live: row.live,
      liveBytes: row.live_bytes,
      dead: row.dead,
      deadBytes: row.dead_bytes,
      delivered: row.delivered,
      refreshes: row.refreshes,
    };
  }

  /**
   * Applies a change to the counters row; call inside the transaction that
   * made the change. The row gets the change, not the mirror's totals, so a
   * store left over from before a purge can never write back stale totals.
   */
  private count(change: Partial<Counters>): void {
    const { live = 0, liveBytes = 0, dead = 0, deadBytes = 0, delivered = 0, refreshes = 0 } = change;
    if (live === 0 && liveBytes === 0 && dead === 0 && deadBytes === 0 && delivered === 0 && refreshes === 0) return;
    this.sql.exec(
      `UPDATE counters SET live = live + ?, live_bytes = live_bytes + ?, dead = dead + ?,
         dead_bytes = dead_bytes + ?, delivered = delivered + ?, refreshes = refreshes + ?`,
      live,
      liveBytes,
      dead,
      deadBytes,
      delivered,
      refreshes,
    );
    const c = this.counters;
    this.counters = {
      live: c.live + live,
      liveBytes: c.liveBytes + liveBytes,
      dead: c.dead + dead,
      deadBytes: c.deadBytes + deadBytes,
      delivered: c.delivered + delivered,
      refreshes: c.refreshes + refreshes,
    };
  }

  /** Runs `body` in one transaction; the in-memory counters roll back with it. */
  private transaction<T>(body: () => T): T {
    const before = this.counters;
    try {
      return this.storage.transactionSync(body);
    } catch (error) {
      this.counters = before;
      throw error;
    }
  }

  // ---- the Worker's side ----

  /** Whether `id` was delivered (or acked) within the dedup window before `now`. */
  delivered(id: string, now: number): boolean {
    const row = this.sql.exec<{ seen_at: number }>("SELECT seen_at FROM seen WHERE id = ?", id).toArray()[0];
    return row !== undefined && row.seen_at >= now - this.dedupWindowMs;
  }

  /** Stores a new event, due at once. False when an event with this id is held already (live or dead). */
  insert(id: string, body: string, size: number, receivedAt: number, now: number): boolean {
    return this.transaction(() => {
      const inserted = this.sql
        .exec(
          `INSERT INTO events (id, body, size, received_at, state, attempts, available_at)
           VALUES (?, ?, ?, ?, 'queued', 0, ?) ON CONFLICT (id) DO NOTHING RETURNING seq`,
          id,
          body,
          size,
          receivedAt,
          now,
        )
        .toArray().length;
      if (inserted > 0) this.count({ live: 1, liveBytes: size });
      return inserted > 0;
    });
  }

  /** Whether an event with this id is held, live or dead. */
  holds(id: string): boolean {
    return this.sql.exec("SELECT 1 FROM events WHERE id = ?", id).toArray().length > 0;
  }

  // ---- reading what is due ----

  /**
   * Live events due at `now`, in the order they became due (arrival order for
   * events not yet tried): up to `max`, and fewer once their JSON would pass
   * `maxBytes` (always at least one). The index (state, available_at, seq) is
   * this ORDER BY, so only the rows returned are read.
   */
  due(now: number, max: number, maxBytes: number): StoredEvent[] {
    return readWithin(
      this.sql.exec<StoredEvent>(
        `SELECT seq, id, body, size, attempts FROM events
         WHERE state = 'queued' AND available_at <= ? ORDER BY available_at, seq LIMIT ?`,
        now,
        max,
      ),
      maxBytes,
    );
  }

  /** When the next live event falls due (epoch ms), or null when none is live. */
  nextDue(): number | null {
    const row = this.sql
      .exec<{ at: number }>("SELECT available_at AS at FROM events WHERE state = 'queued' ORDER BY available_at LIMIT 1")
      .toArray()[0];
    return row?.at ?? null;
  }

  /** receivedAt of the oldest live event. */
  oldestLive(): number | null {
    const row = this.sql
      .exec<{ at: number }>("SELECT received_at AS at FROM events WHERE state = 'queued' ORDER BY seq LIMIT 1")
      .toArray()[0];
    return row?.at ?? null;
  }

  /** Live events not due yet (leased, or waiting out a backoff): reads one index entry each. */
  heldCount(now: number): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM events WHERE state = 'queued' AND available_at > ?", now).one().n;
  }

  // ---- push ----

  // Every write that names a row read earlier names it by seq AND id: a queue
  // dropped meanwhile (deleteAll) starts its seq again at 1, and another
  // event may hold that seq by now.

  /**
   * Claims a push attempt just before it leaves: the event is due again at
   * `retryAt` if nothing is recorded before then (this object died mid-flight).
   * False when the event is no longer due (pulled, acked, dead, claimed).
   */
  claim(event: EventRef, dueBy: number, retryAt: number): boolean {
    // rowsWritten, not RETURNING: RETURNING costs a second row read.
    const cursor = this.sql.exec(
      `UPDATE events SET attempts = attempts + 1, available_at = ?, lease = NULL
       WHERE seq = ? AND id = ? AND state = 'queued' AND available_at <= ?`,
      retryAt,
      event.seq,
      event.id,
      dueBy,
    );
    cursor.toArray();
    return cursor.rowsWritten > 0;
  }

  /**
   * Removes pushed events and remembers their ids for the dedup window, in
   * one transaction with one write of the counters.
   */
  pushed(events: readonly Pick<StoredEvent, "seq" | "id" | "size">[], now: number): void {
    if (events.length === 0) return;
    this.transaction(() => {
      let removed = 0;
      let bytes = 0;
      for (const { seq, id, size } of events) {
        const cursor = this.sql.exec("DELETE FROM events WHERE seq = ? AND id = ?", seq, id);
        cursor.toArray();
        if (cursor.rowsWritten === 0) continue;
        this.remember(id, now);
        removed++;
        bytes += size;
      }
      this.forgetExpired(now, removed);
      this.count({ live: -removed, liveBytes: -bytes, delivered: removed });
    });
  }

  /** Records a failed attempt; the next one is due at `at`. */
  retry(event: EventRef, at: number, error: string): void {
    this.sql.exec(
      "UPDATE events SET available_at = ?, last_error = ?, lease = NULL WHERE seq = ? AND id = ? AND state = 'queued'",
      at,
      error,
      event.seq,
      event.id,
    );
  }

  /** Makes a live event a dead letter. */
  kill(event: EventRef, error: string, now: number): void {
    this.transaction(() => {
      const row = this.sql
        .exec<{ size: number }>(
          `UPDATE events SET state = 'dead', last_error = ?, lease = NULL, available_at = ?
           WHERE seq = ? AND id = ? AND state = 'queued' RETURNING size`,
          error,
          now,
          event.seq,
          event.id,
        )
        .toArray()[0];
      if (row) this.count({ live: -1, liveBytes: -row.size, dead: 1, deadBytes: row.size });
    });
  }

  // ---- pull ----

  /** Leases a due event under `lease` until `until`. */
  lease(event: EventRef, lease: string, until: number): void {
    this.sql.exec(
      "UPDATE events SET attempts = attempts + 1, available_at = ?, lease = ? WHERE seq = ? AND id = ?",
      until,
      lease,
      event.seq,
      event.id,
    );
  }

  /**
   * Acks each id that `lease` still holds at `now` (with a null lease, each
   * live one), in one transaction with one write of the counters. Answers
   * the ids acked.
   */
  ack(ids: readonly string[], lease: string | null, now: number): Set<string> {
    return this.transaction(() => {
      const acked = new Set<string>();
      let bytes = 0;
      for (const id of ids) {
        const row =
          lease === null
            ? this.sql.exec<{ size: number }>("DELETE FROM events WHERE id = ? AND state = 'queued' RETURNING size", id).toArray()[0]
            : this.sql
                .exec<{ size: number }>(
                  "DELETE FROM events WHERE id = ? AND state = 'queued' AND lease = ? AND available_at > ? RETURNING size",
                  id,
                  lease,
                  now,
                )
                .toArray()[0];
        if (!row) continue;
        this.remember(id, now);
        acked.add(id);
        bytes += row.size;
      }
      this.forgetExpired(now, acked.size);
      this.count({ live: -acked.size, liveBytes: -bytes, delivered: acked.size });
      return acked;
    });
  }

  /** Releases `id` from `lease` early: it is due again at `at`. */
  release(id: string, lease: string, now: number, at: number): boolean {
    return (
      this.sql
        .exec(
          "UPDATE events SET available_at = ?, lease = NULL WHERE id = ? AND state = 'queued' AND lease = ? AND available_at > ? RETURNING seq",
          at,
          id,
          lease,
          now,
        )
        .toArray().length > 0
    );
  }

  // ---- dead letters ----

  /** Dead letters, oldest first, within `maxBytes` (always at least one). */
  deadLetters(limit: number, maxBytes: number): DeadRow[] {
    return readWithin(
      this.sql.exec<DeadRow>(
        `SELECT seq, id, body, size, attempts, received_at AS receivedAt, last_error AS lastError
         FROM events WHERE state = 'dead' ORDER BY seq LIMIT ?`,
        limit,
      ),
      maxBytes,
    );
  }

  /** The stored event JSON of one dead letter, or null: one read through the unique index on `id`. */
  deadLetterBody(id: string): string | null {
    const row = this.sql.exec<{ body: string }>("SELECT body FROM events WHERE id = ? AND state = 'dead'", id).toArray()[0];
    return row === undefined ? null : row.body;
  }

  /** Puts dead letters (all when `ids` is null) back in the queue with a fresh attempt count. */
  replay(ids: readonly string[] | null, now: number): number {
    return this.transaction(() => {
      const reset =
        "UPDATE events SET state = 'queued', attempts = 0, available_at = ?, last_error = NULL, lease = NULL WHERE state = 'dead'";
      const cursors =
        ids === null
          ? [this.sql.exec<{ size: number }>(`${reset} RETURNING size`, now)]
          : ids.map((id) => this.sql.exec<{ size: number }>(`${reset} AND id = ? RETURNING size`, now, id));
      const { n, bytes } = tally(cursors);
      this.count({ live: n, liveBytes: bytes, dead: -n, deadBytes: -bytes });
      return n;
    });
  }

  /** Deletes every event and setting: the queue is gone. */
  purgeAll(): Promise<void> {
    return this.storage.deleteAll();
  }

  /** Deletes dead letters (all when `ids` is null). */
  purgeDead(ids: readonly string[] | null): number {
    return this.transaction(() => {
      const drop = "DELETE FROM events WHERE state = 'dead'";
      const cursors =
        ids === null
          ? [this.sql.exec<{ size: number }>(`${drop} RETURNING size`)]
          : ids.map((id) => this.sql.exec<{ size: number }>(`${drop} AND id = ? RETURNING size`, id));
      const { n, bytes } = tally(cursors);
      this.count({ dead: -n, deadBytes: -bytes });
      return n;
    });
  }

  // ---- replies from the reply endpoint, remembered for WeCom's resends ----

  /** The reply remembered for event `id` within the dedup window ("" for none), or undefined. */
  rememberedReply(id: string, now: number): string | undefined {
    const row = this.sql.exec<{ reply: string; at: number }>("SELECT reply, at FROM replies WHERE id = ?", id).toArray()[0];
    return row !== undefined && row.at >= now - this.dedupWindowMs ? row.reply : undefined;
  }

  /** Remembers the reply to event `id`, and drops a couple of replies past the dedup window. */
  rememberReply(id: string, reply: string, now: number): void {
    this.sql.exec("INSERT INTO replies (id, reply, at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING", id, reply, now);
    this.sql.exec(
      "DELETE FROM replies WHERE id IN (SELECT id FROM replies WHERE at < ? ORDER BY at LIMIT ?)",
      now - this.dedupWindowMs,
      SEEN_PURGE_PER_DELETE,
    );
  }

  // ---- AI-bot streams ----

  /**
   * Opens a stream showing `content` until `expiresAt`, unless it is open
   * already (a resend); drops a couple of streams gone for longer than
   * `keepMs`, so that the table stays bounded with no sweep of its own.
   */
  openStream(id: string, content: string, expiresAt: number, now: number, keepMs: number): void {
    this.sql.exec(
      "INSERT INTO streams (id, content, finish, expires_at) VALUES (?, ?, 0, ?) ON CONFLICT (id) DO NOTHING",
      id,
      content,
      expiresAt,
    );
    this.sql.exec(
      "DELETE FROM streams WHERE id IN (SELECT id FROM streams WHERE expires_at < ? ORDER BY expires_at LIMIT ?)",
      now - keepMs,
      SEEN_PURGE_PER_DELETE,
    );
  }

  stream(id: string): StoredStream | undefined {
    return this.sql
      .exec<StoredStream>(
        "SELECT id, content, finish, msg_item AS msgItem, expires_at AS expiresAt, answered, timed_out AS timedOut FROM streams WHERE id = ?",
        id,
      )
      .toArray()[0];
  }

  /** The intranet's content (or, with `timedOut`, the gateway's last word) replaces what the stream showed. */
  updateStream(id: string, content: string, finish: boolean, msgItem: string | null, timedOut = false): void {
    this.sql.exec(
      "UPDATE streams SET content = ?, finish = ?, msg_item = ?, answered = 1, timed_out = ? WHERE id = ?",
      content,
      finish ? 1 : 0,
      msgItem,
      timedOut ? 1 : 0,
      id,
    );
  }

  countRefresh(): void {
    this.count({ refreshes: 1 });
  }

  // ---- callbacks per credential (key rotation) ----

  /** One more callback came with credential `id` (a fingerprint, never the secret). */
  countCallback(id: string, now: number): void {
    this.sql.exec(
      `INSERT INTO credentials (id, callbacks, last_at) VALUES (?, 1, ?)
       ON CONFLICT (id) DO UPDATE SET callbacks = callbacks + 1, last_at = excluded.last_at`,
      id,
      now,
    );
  }

  /** Callbacks per credential fingerprint, with the time of the last. */
  callbacksByCredential(): Record<string, { callbacks: number; lastAt: number }> {
    const out: Record<string, { callbacks: number; lastAt: number }> = {};
    for (const row of this.sql.exec<{ id: string; callbacks: number; last_at: number }>("SELECT id, callbacks, last_at FROM credentials")) {
      out[row.id] = { callbacks: row.callbacks, lastAt: row.last_at };
    }
    return out;
  }

  // ---- recent refusals ----

  /** Keeps a refused callback, and only the last `keep` of them. */
  recordRefusal(refusal: Refusal, keep: number): void {
    const seq = this.sql
      .exec<{ seq: number }>(
        "INSERT INTO refusals (at, method, code, reason, hint) VALUES (?, ?, ?, ?, ?) RETURNING seq",
        refusal.at,
        refusal.method,
        refusal.code,
        refusal.reason,
        refusal.hint,
      )
      .one().seq;
    this.sql.exec("DELETE FROM refusals WHERE seq <= ?", seq - keep);
  }

  /**
   * Refusals at or after `since` among the last `kept`, per code, the most
   * common first, each with its hint: reads at most `kept` rows.
   */
  refusalCodesSince(since: number, kept: number): { code: string; hint: string; count: number }[] {
    return this.sql
      .exec<{ code: string; hint: string; count: number }>(
        `SELECT code, MAX(hint) AS hint, COUNT(*) AS count
         FROM (SELECT code, hint, at FROM refusals ORDER BY seq DESC LIMIT ?)
         WHERE at >= ? GROUP BY code ORDER BY count DESC, code`,
        kept,
        since,
      )
      .toArray();
  }

  /** The most recent refusals, newest first. */
  refusals(limit: number): Refusal[] {
    return this.sql
      .exec<Refusal>("SELECT at, method, code, reason, hint FROM refusals ORDER BY seq DESC LIMIT ?", limit)
      .toArray();
  }

  // ---- meta: settings and flags, written only when they change ----

  getMeta(key: string): string | null {
    return this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value ?? null;
  }

  setMeta(key: string, value: string | null): void {
    if (value === null) this.sql.exec("DELETE FROM meta WHERE key = ?", key);
    else this.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value);
  }

  /** A delivered event's id is remembered for the dedup window. */
  private remember(id: string, now: number): void {
    this.sql.exec("INSERT INTO seen (id, seen_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at", id, now);
  }

  /**
   * Drops a few ids past the dedup window for each one remembered, so that
   * the `seen` table stays bounded with no sweep of its own.
   */
  private forgetExpired(now: number, remembered: number): void {
    if (remembered === 0) return;
    this.sql.exec(
      "DELETE FROM seen WHERE id IN (SELECT id FROM seen WHERE seen_at < ? ORDER BY seen_at LIMIT ?)",
      now - this.dedupWindowMs,
      remembered * SEEN_PURGE_PER_DELETE,
    );
  }
}

/** Counts the rows of RETURNING cursors and adds up their sizes, without holding the rows (a purge may touch 100,000s). */
function tally(cursors: Iterable<Iterable<{ size: number }>>): { n: number; bytes: number } {
  let n = 0;
  let bytes = 0;
  for (const cursor of cursors) {
    for (const row of cursor) {
      n++;
      bytes += row.size;
    }
  }
  return { n, bytes };
}

/** Takes rows until their bodies would pass `maxBytes`; always at least one. */
function readWithin<T extends { size: number }>(cursor: Iterable<T>, maxBytes: number): T[] {
  const rows: T[] = [];
  let bytes = 0;
  for (const row of cursor) {
    if (rows.length > 0 && bytes + row.size > maxBytes) break;
    bytes += row.size;
    rows.push(row);
  }
  return rows;
}

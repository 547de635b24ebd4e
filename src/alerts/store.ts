/**
 * The alert outbox's storage: its two tables and every SQL statement
 * (docs/architecture.md, "Storage schema"). `rate` holds, per kind and app, when the last
 * alert went out and how many were held back since; `outbox` holds each
 * send still to make, one row per alert and channel.
 */

export type Channel = "wecomRobot" | "webhook";

export type OutboxRow = {
  readonly seq: number;
  /** The alert's id: `webhook-id` of the signed webhook, the same on every attempt. */
  readonly id: string;
  readonly channel: Channel;
  readonly kind: string;
  readonly app: string;
  readonly body: string;
  /** Attempts claimed so far. */
  readonly attempts: number;
};

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS rate (
    kind       TEXT    NOT NULL,
    app        TEXT    NOT NULL,
    sent_at    INTEGER NOT NULL,
    suppressed INTEGER NOT NULL,
    PRIMARY KEY (kind, app)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL,
    channel    TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    app        TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    attempts   INTEGER NOT NULL,
    due_at     INTEGER NOT NULL,
    last_error TEXT
  );
  CREATE INDEX IF NOT EXISTS outbox_due ON outbox (due_at, seq);`;

export class OutboxStore {
  private readonly sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    this.sql = storage.sql;
    this.sql.exec(SCHEMA);
  }

  /**
   * The rate limit of one kind and app: null when one was sent less than
   * `intervalMs` ago (this one, and the `heldBefore` its raiser held back
   * without asking, are counted as held back); otherwise how many were held
   * back since the last, and `now` becomes the last.
   */
  admit(kind: string, app: string, now: number, intervalMs: number, heldBefore = 0): number | null {
    const row = this.sql
      .exec<{ sent_at: number; suppressed: number }>("SELECT sent_at, suppressed FROM rate WHERE kind = ? AND app = ?", kind, app)
      .toArray()[0];
    if (row && now - row.sent_at < intervalMs) {
      this.sql.exec("UPDATE rate SET suppressed = suppressed + ? WHERE kind = ? AND app = ?", 1 + heldBefore, kind, app);
      return null;
    }
    this.sql.exec(
      `INSERT INTO rate (kind, app, sent_at, suppressed) VALUES (?, ?, ?, 0)
       ON CONFLICT (kind, app) DO UPDATE SET sent_at = excluded.sent_at, suppressed = 0`,
      kind,
      app,
      now,
    );
    return (row?.suppressed ?? 0) + heldBefore;
  }

  add(id: string, channel: Channel, kind: string, app: string, body: string, dueAt: number): void {
    this.sql.exec(
      "INSERT INTO outbox (id, channel, kind, app, body, attempts, due_at) VALUES (?, ?, ?, ?, ?, 0, ?)",
      id,
      channel,
      kind,
      app,
      body,
      dueAt,
    );
  }

  /** Sends pending (the outbox holds at most ALERT_LIMITS.maxPending, so this reads little). */
  pending(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n;
  }

  /** Up to `max` sends due at `now`, oldest first. */
  due(now: number, max: number): OutboxRow[] {
    return this.sql
      .exec<OutboxRow>(
        "SELECT seq, id, channel, kind, app, body, attempts FROM outbox WHERE due_at <= ? ORDER BY due_at, seq LIMIT ?",
        now,
        max,
      )
      .toArray();
  }

  /**
   * Claims an attempt before it is made: counted, and due again at `until`
   * should this object die mid-flight. False when another alarm claimed it.
   */
  claim(row: OutboxRow, now: number, until: number): boolean {
    return (
      this.sql.exec("UPDATE outbox SET attempts = attempts + 1, due_at = ? WHERE seq = ? AND attempts = ? AND due_at <= ?", until, row.seq, row.attempts, now)
        .rowsWritten > 0
    );
  }

  retry(seq: number, dueAt: number, error: string): void {
    this.sql.exec("UPDATE outbox SET due_at = ?, last_error = ? WHERE seq = ?", dueAt, error, seq);
  }

  remove(seq: number): void {
    this.sql.exec("DELETE FROM outbox WHERE seq = ?", seq);
  }

  /** Deletes every pending send; answers how many. */
  clear(): number {
    const n = this.pending();
    this.sql.exec("DELETE FROM outbox");
    return n;
  }

  /** When the next send falls due, or null. */
  nextDue(): number | null {
    return this.sql.exec<{ at: number }>("SELECT due_at AS at FROM outbox ORDER BY due_at, seq LIMIT 1").toArray()[0]?.at ?? null;
  }
}

/** Refused callbacks of an app, the last few kept for the admin API (docs/operating.md, "Recent refusals"). */
import type { QueueDb } from "./db.js";

/** A refused callback, as kept: no plaintext, no secret. */
export type Refusal = {
  readonly at: number;
  readonly method: string;
  readonly code: string;
  /** The answer's message and the log line's detail. */
  readonly reason: string;
  readonly hint: string;
};

export class RefusalStore {
  constructor(private readonly db: QueueDb) {}

  /** Keeps a refused callback, and only the last `keep` of them. */
  record(refusal: Refusal, keep: number): void {
    const seq = this.db.sql
      .exec<{ seq: number }>(
        "INSERT INTO refusals (at, method, code, reason, hint) VALUES (?, ?, ?, ?, ?) RETURNING seq",
        refusal.at,
        refusal.method,
        refusal.code,
        refusal.reason,
        refusal.hint,
      )
      .one().seq;
    this.db.sql.exec("DELETE FROM refusals WHERE seq <= ?", seq - keep);
  }

  /**
   * Refusals at or after `since` among the last `kept`, per code, the most
   * common first, each with its hint: reads at most `kept` rows.
   */
  codesSince(since: number, kept: number): { code: string; hint: string; count: number }[] {
    return this.db.sql
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
  recent(limit: number): Refusal[] {
    return this.db.sql.exec<Refusal>("SELECT at, method, code, reason, hint FROM refusals ORDER BY seq DESC LIMIT ?", limit).toArray();
  }
}

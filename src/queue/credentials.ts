/** Callbacks per credential fingerprint, for key rotation (docs/deploying.md, "Rotating keys"). */
import type { QueueDb } from "./db.js";

export class CredentialStore {
  constructor(private readonly db: QueueDb) {}

  /** One more callback came with credential `id` (a fingerprint, never the secret). */
  count(id: string, now: number): void {
    this.db.sql.exec(
      `INSERT INTO credentials (id, callbacks, last_at) VALUES (?, 1, ?)
       ON CONFLICT (id) DO UPDATE SET callbacks = callbacks + 1, last_at = excluded.last_at`,
      id,
      now,
    );
  }

  /** Callbacks per credential fingerprint, with the time of the last. */
  all(): Record<string, { callbacks: number; lastAt: number }> {
    const out: Record<string, { callbacks: number; lastAt: number }> = {};
    for (const row of this.db.sql.exec<{ id: string; callbacks: number; last_at: number }>("SELECT id, callbacks, last_at FROM credentials")) {
      out[row.id] = { callbacks: row.callbacks, lastAt: row.last_at };
    }
    return out;
  }
}

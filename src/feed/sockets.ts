/**
 * The feed's table: each open socket's lease (docs/feed.md, "Restarts").
 * Sockets outlive this object's memory (hibernation), but not a restart: a
 * row whose socket is gone when the object wakes names the lease whose
 * deliveries are due again at once.
 */
import type { QueueDb } from "../queue/db.js";

export class SocketStore {
  constructor(private readonly db: QueueDb) {}

  opened(lease: string, dest: string, now: number): void {
    this.db.sql.exec("INSERT INTO sockets (lease, dest, opened_at) VALUES (?, ?, ?)", lease, dest, now);
  }

  closed(lease: string): void {
    this.db.sql.exec("DELETE FROM sockets WHERE lease = ?", lease);
  }

  has(lease: string): boolean {
    return this.db.sql.exec("SELECT 1 FROM sockets WHERE lease = ?", lease).toArray().length > 0;
  }

  /** Every socket's lease as stored: at most 32 per destination. */
  all(): { lease: string; dest: string }[] {
    return this.db.sql.exec<{ lease: string; dest: string }>("SELECT lease, dest FROM sockets").toArray();
  }
}

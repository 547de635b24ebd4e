/**
 * One app queue's SQLite, as the stores that share it see it: the schema
 * brought up to date, one transaction helper, and the `meta` key-value
 * table. Each capability (events, deliveries, streams, replies, credentials,
 * refusals) owns its tables in a module of its own and reaches SQLite only
 * through this object, so that a test can count the rows its cursors read.
 *
 * Cost rule (docs/architecture.md, "Storage schema"): no statement reads more
 * rows than it returns or touches, plus a constant. Depth and bytes are
 * counters kept in the same transaction as every change, never a COUNT(*)
 * over the backlog; every ordered read walks an index whose order is the
 * ORDER BY.
 */
import { MIGRATIONS, SCHEMA_VERSION } from "./schema.js";

export class QueueDb {
  sql: SqlStorage;
  /** Undo steps for in-memory mirrors, run when the current transaction rolls back. */
  private undo: (() => void)[] | null = null;
  /** Writes deferred to the end of the current transaction (a counter changed many times, written once). */
  private beforeCommit: Map<string, () => void> | null = null;

  constructor(readonly storage: DurableObjectStorage) {
    this.sql = storage.sql;
    this.migrate();
  }

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

  /**
   * Runs `body` in one transaction (or inside the one already open). A store
   * that mirrors a row in memory registers how to undo its change with
   * `onRollback`, so that a failed transaction leaves the mirror as it was.
   */
  transaction<T>(body: () => T): T {
    if (this.undo !== null) return body();
    this.undo = [];
    this.beforeCommit = new Map();
    try {
      return this.storage.transactionSync(() => {
        const result = body();
        for (const write of this.beforeCommit!.values()) write();
        return result;
      });
    } catch (error) {
      for (const step of this.undo.reverse()) step();
      throw error;
    } finally {
      this.undo = null;
      this.beforeCommit = null;
    }
  }

  /**
   * Runs `write` once at the end of the current transaction, however often it
   * is asked for under `key` (at once when no transaction is open).
   */
  atCommit(key: string, write: () => void): void {
    if (this.beforeCommit === null) write();
    else this.beforeCommit.set(key, write);
  }

  onRollback(step: () => void): void {
    this.undo?.push(step);
  }

  getMeta(key: string): string | null {
    return this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value ?? null;
  }

  setMeta(key: string, value: string | null): void {
    if (value === null) this.sql.exec("DELETE FROM meta WHERE key = ?", key);
    else this.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value);
  }

  /** Deletes everything this object stores. */
  deleteAll(): Promise<void> {
    return this.storage.deleteAll();
  }
}

/** Takes rows until their bodies would pass `maxBytes`; always at least one. */
export function readWithin<T extends { size: number }>(cursor: Iterable<T>, maxBytes: number): T[] {
  const rows: T[] = [];
  let bytes = 0;
  for (const row of cursor) {
    if (rows.length > 0 && bytes + row.size > maxBytes) break;
    bytes += row.size;
    rows.push(row);
  }
  return rows;
}

/** Runs a write and answers how many rows it changed (rowsWritten, not RETURNING: RETURNING costs a second row read). */
export function written(cursor: SqlStorageCursor<Record<string, SqlStorageValue>>): number {
  cursor.toArray();
  return cursor.rowsWritten;
}

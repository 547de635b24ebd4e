/**
 * QueueRegistry: one Durable Object that knows which app queues exist, so
 * that queues of apps removed from WECOM_APPS can still be listed and
 * managed, and so that a configuration change reaches every queue without
 * traffic (the Cron Trigger's sweep). It holds one row per app, and nothing
 * is scanned per request: only the admin listing and the sweep read it.
 */
import { DurableObject } from "cloudflare:workers";
import { queueOf, type QueueEnv } from "./bindings.js";
import { shardOfQueue } from "./shards.js";

/** What the sweep stores for an app it told is gone (settings are JSON, never empty). */
const GONE = "";

export class QueueRegistry extends DurableObject<QueueEnv> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: QueueEnv) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // `holds`: the queue has stored an event. `settings`: what the sweep last told the queue,
    // GONE when that its app is no longer configured, null when nothing yet.
    this.sql.exec(`CREATE TABLE IF NOT EXISTS queues (
      app      TEXT    PRIMARY KEY,
      holds    INTEGER NOT NULL,
      settings TEXT
    ) WITHOUT ROWID`);
  }

  /** A queue stored its first event. */
  async add(app: string): Promise<void> {
    this.sql.exec("INSERT INTO queues (app, holds) VALUES (?, 1) ON CONFLICT (app) DO UPDATE SET holds = 1", app);
  }

  /** A queue took settings from elsewhere than the sweep: the next sweep tells it the live ones again. */
  async forgetTold(app: string): Promise<void> {
    this.sql.exec("UPDATE queues SET settings = NULL WHERE app = ?", app);
  }

  /** A queue was purged and forgotten. */
  async remove(app: string): Promise<void> {
    this.sql.exec("DELETE FROM queues WHERE app = ?", app);
  }

  /** Apps whose queue has stored events. */
  async list(): Promise<string[]> {
    return this.sql.exec<{ app: string }>("SELECT app FROM queues WHERE holds = 1 ORDER BY app").toArray().map((row) => row.app);
  }

  /**
   * Hands each queue its app's live settings when they differ from what it
   * was last told: `live` maps every configured app to its settings JSON; a
   * known queue missing from it is told that its app is gone. Answers how
   * many queues were told anything.
   */
  async sweep(live: Record<string, string>): Promise<number> {
    const told = new Map<string, string | null>();
    for (const row of this.sql.exec<{ app: string; settings: string | null }>("SELECT app, settings FROM queues")) {
      told.set(row.app, row.settings);
    }
    const changes: [string, string | null][] = [];
    for (const [app, settings] of Object.entries(live)) {
      if (told.get(app) !== settings) changes.push([app, settings]);
    }
    for (const [queue, settings] of told) {
      if (Object.hasOwn(live, queue)) continue;
      // A shard's queue (docs/sharding.md) takes its app's settings, also past the app's shards now, while it drains.
      const app = shardOfQueue(queue);
      const current = app !== null && app.shard > 0 && Object.hasOwn(live, app.app) ? live[app.app]! : null;
      if (current !== null ? settings !== current : settings !== GONE) changes.push([queue, current]);
    }
    for (const [app, settings] of changes) {
      const { holds } = await queueOf(this.env, app).sync(app, settings, true);
      this.sql.exec(
        `INSERT INTO queues (app, holds, settings) VALUES (?, ?, ?)
         ON CONFLICT (app) DO UPDATE SET holds = MAX(holds, excluded.holds), settings = excluded.settings`,
        app,
        holds ? 1 : 0,
        settings ?? GONE,
      );
    }
    return changes.length;
  }
}

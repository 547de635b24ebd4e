/**
 * A queue written by wecom-edge 0.1 (schema v1) is migrated as it wakes:
 * counters filled once, its settings carried over, registered, and pushing.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newBucket, queueRows, queueStub, received, receiverUrl, WEBHOOK_SECRET, drain } from "../support/wecom.js";

/** The schema and meta exactly as 0.1 wrote them. */
const V1 = `
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL, size INTEGER NOT NULL,
    received_at INTEGER NOT NULL, state TEXT NOT NULL CHECK (state IN ('queued', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0, available_at INTEGER NOT NULL, last_error TEXT
  );
  CREATE INDEX events_ready ON events (state, available_at, seq);
  CREATE TABLE seen (id TEXT PRIMARY KEY, seen_at INTEGER NOT NULL) WITHOUT ROWID;
  CREATE INDEX seen_by_time ON seen (seen_at);
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`;

describe("a queue of wecom-edge 0.1", () => {
  it("is migrated on wake: counters, settings and registration carried over, and it pushes", async () => {
    const app = newBucket("v1");
    const webhook = {
      url: `${receiverUrl()}/ok/${app}`,
      signingKey: WEBHOOK_SECRET.slice("whsec_".length),
      headers: {},
      timeoutMs: 10_000,
      maxAttempts: 20,
      minBackoffMs: 1_000,
      maxBackoffMs: 3_600_000,
    };
    await runInDurableObject(queueStub(app), (_, state) => {
      const sql = state.storage.sql;
      sql.exec("DROP TABLE events; DROP TABLE seen; DROP TABLE meta; DROP TABLE counters; DROP TABLE replies; DROP TABLE streams; DROP TABLE credentials; DROP TABLE refusals; DROP TABLE deliveries; DROP TABLE destinations; DROP TABLE unrouted; DROP TABLE sockets; DROP TABLE suite_tickets; DROP TABLE kf_accounts");
      sql.exec(V1);
      sql.exec(
        "INSERT INTO meta (key, value) VALUES ('app', ?), ('mode', 'push'), ('webhook', ?), ('delivered', '5')",
        app,
        JSON.stringify(webhook),
      );
      sql.exec("INSERT INTO events (id, body, size, received_at, state, attempts, available_at) VALUES ('evt_live', '{\"id\":\"evt_live\"}', 17, ?, 'queued', 0, 0)", Date.now());
      sql.exec("INSERT INTO events (id, body, size, received_at, state, attempts, available_at, last_error) VALUES ('evt_dead', '{}', 2, ?, 'dead', 3, 0, 'attempt 3: webhook answered 500')", Date.now());
    });
    await evictDurableObject(queueStub(app));
    await drain(app);
    expect((await received(app)).map((r) => [r.body, r.headers["webhook-id"]])).toEqual([['{"id":"evt_live"}', "evt_live"]]);
    expect(await queueStub(app).stats(app)).toMatchObject({ configured: true, mode: "push", depth: 0, dead: 1, bytes: 2, delivered: 6 });
    expect((await queueRows(app)).map((r) => [r.id, r.state, r.last_error])).toEqual([["evt_dead", "dead", "attempt 3: webhook answered 500"]]);
    const registry = (env as unknown as { REGISTRY: DurableObjectNamespace<import("../../src/queue/registry.js").QueueRegistry> }).REGISTRY;
    expect(await registry.getByName("registry").list()).toContain(app);
    const meta = await runInDurableObject(queueStub(app), (_, state) =>
      state.storage.sql.exec<{ key: string }>("SELECT key FROM meta ORDER BY key").toArray().map((r) => r.key),
    );
    // Since schema 7, last_delivered is the destination's (the destinations table).
    expect(meta).toEqual(["app", "registered", "schema", "settings"]);
  });
});

/**
 * Interleavings a reviewer found (each failed before its fix): a push batch
 * that outlives a drop, a lease that comes back from a push round trip, the
 * sweep after settings from elsewhere, and purging a very large dead-letter
 * backlog.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import { encodeSettings } from "../../src/queue/settings.js";
import { DEFAULT_ROUTE, newBucket, queueRows, queueStub, testEnv, webhookApp } from "../support/wecom.js";

const PULL = JSON.stringify({ mode: "pull", maxAttempts: 20 });

function pushSettings(app: string, path: string, webhook: Record<string, unknown> = {}): string {
  const environment = testEnv({ apps: { [app]: webhookApp(path, {}, { minBackoffMs: 600_000, maxBackoffMs: 600_000, timeoutMs: 5_000, ...webhook }) } });
  return encodeSettings(parseConfig({ WECOM_APPS: environment.WECOM_APPS as string }).apps.get(app)!);
}

const event = (id: string) => ({ id, body: JSON.stringify({ id }), receivedAt: Date.now(), ...DEFAULT_ROUTE });

describe("a push batch that outlives a drop", () => {
  it.each([
    ["delivers its event", "slow/1500", {}],
    ["fails its event for good", "slow/1500", { timeoutMs: 300, maxAttempts: 1 }],
  ])("leaves an event queued after the drop alone when it %s", async (_, path, webhook) => {
    const app = newBucket("drop");
    const stub = queueStub(app);
    expect(await stub.enqueue(app, pushSettings(app, `${path}/${app}`, webhook), event("evt_old"))).toEqual({ status: "queued" });
    const batch = runDurableObjectAlarm(stub).catch(() => false);
    await scheduler.wait(100);
    await stub.sync(app, null);
    expect(await stub.purgeAll(app)).toBe(1);
    // The app comes back, as a pull app: its new event takes seq 1 again.
    expect(await stub.enqueue(app, PULL, event("evt_new"))).toEqual({ status: "queued" });
    await batch;
    expect((await queueRows(app)).map((r) => [r.id, r.state, r.last_error])).toEqual([["evt_new", "queued", null]]);
    expect(await stub.stats(app)).toMatchObject({ depth: 1, dead: 0, delivered: 0, paused: false, lastError: null });
    expect((await stub.pull(app, PULL, "default", 10, 60)).ids).toEqual(["evt_new"]);
  });
});

describe("a lease that ran out", () => {
  it("acks nothing after the event went through a push attempt and back to pull", async () => {
    const app = newBucket("round");
    const stub = queueStub(app);
    await stub.enqueue(app, PULL, event("evt_1"));
    const { lease } = await stub.pull(app, PULL, "default", 1, 1);
    await scheduler.wait(1_100);
    await stub.sync(app, pushSettings(app, `status/503/${app}`));
    await runDurableObjectAlarm(stub);
    await stub.sync(app, PULL);
    expect(await stub.ack("default", ["evt_1"], lease)).toEqual({ acked: 0, notAcked: [{ id: "evt_1", reason: "expired" }] });
  });
});

describe("the sweep", () => {
  it("hands the live settings again to a queue that took other settings from elsewhere (an old Worker during a deploy)", async () => {
    const app = newBucket("stale");
    const push = pushSettings(app, `ok/${app}`);
    const stub = queueStub(app);
    await stub.enqueue(app, PULL, event("evt_1"));
    const registry = (env as unknown as { REGISTRY: DurableObjectNamespace<import("../../src/queue/registry.js").QueueRegistry> }).REGISTRY.getByName("registry");
    expect(await registry.sweep({ [app]: push })).toBeGreaterThanOrEqual(1);
    expect((await stub.stats(app)).mode).toBe("push");
    // A consumer still served by an old Worker (its config: pull).
    await stub.pull(app, PULL, "default", 1, 1);
    expect((await stub.stats(app)).mode).toBe("pull");
    expect(await registry.sweep({ [app]: push })).toBeGreaterThanOrEqual(1);
    expect((await stub.stats(app)).mode).toBe("push");
  });
});

describe("a dead-letter backlog of 150,000", () => {
  async function deadLetters(app: string): Promise<DurableObjectStub<import("../../src/queue/app-queue.js").AppQueue>> {
    const stub = queueStub(app);
    await stub.enqueue(app, PULL, event("seed"));
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec(
        `WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 150000)
         INSERT INTO events (id, body, size, received_at, pending) SELECT 'dead-' || i, '{}', 2, 0, 1 FROM k`,
      );
      state.storage.sql.exec(
        `INSERT INTO deliveries (dest, seq, state, attempts, available_at, last_error)
         SELECT 'default', seq, 'dead', 20, 0, 'x' FROM events WHERE id LIKE 'dead-%'`,
      );
      state.storage.sql.exec("UPDATE counters SET events = events + 150000, bytes = bytes + 300000");
      state.storage.sql.exec("UPDATE destinations SET dead = dead + 150000 WHERE name = 'default'");
    });
    await evictDurableObject(stub);
    return stub;
  }

  it("is purged all at once", async () => {
    const app = newBucket("purge-many");
    const stub = await deadLetters(app);
    expect(await stub.purgeDead(null)).toBe(150_000);
    expect(await stub.stats(app)).toMatchObject({ dead: 0, depth: 1 });
  }, 60_000);

  it("is replayed all at once", async () => {
    const app = newBucket("replay-many");
    const stub = await deadLetters(app);
    expect(await stub.replay(null)).toBe(150_000);
    expect(await stub.stats(app)).toMatchObject({ dead: 0, depth: 150_001 });
  }, 60_000);
});

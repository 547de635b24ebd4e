/**
 * The cost of one operation must not grow with the backlog: at 10,000 queued
 * events, the SQL cursors of an enqueue, a pull batch and a push batch read
 * no more rows than docs/architecture.md promises ("Storage schema").
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import type { AppQueue } from "../../src/queue/app-queue.js";
import { PUSH_LIMITS } from "../../src/destinations/push.js";
import { encodeSettings } from "../../src/queue/settings.js";
import { DEFAULT_ROUTE, fillQueue, newBucket, queueStub, received, rowsRead, webhookApp } from "../support/wecom.js";

const DEPTH = 10_000;

/**
 * Rows read per event, at most (plus 10 per operation), whatever the depth
 * and whatever other destinations hold (docs/architecture.md, "Storage
 * schema"): a delivery's index entry and its event, then the writes.
 */
const PER_EVENT = { pull: 3, ack: 5, push: 5, failingPush: 4 } as const;
const PULL = JSON.stringify({ mode: "pull", maxAttempts: 20 });

/**
 * One push batch of a paused destination, run as if it were not paused: its
 * pump and workerd's alarms stay idle, so the batch measured is the only one.
 */
async function alarmOnce(queue: AppQueue, app: string): Promise<void> {
  const internals = queue as unknown as { deliveries: { setPaused(name: string, paused: boolean): void }; pusher(app: string, name: string): { batch(): Promise<boolean> } };
  internals.deliveries.setPaused("default", false);
  try {
    // Unpaused in storage only: nothing starts the pump meanwhile, and the alarm the batch sets is far off.
    await internals.pusher(app, "default").batch();
  } finally {
    internals.deliveries.setPaused("default", true);
  }
}

function event(i: number) {
  const id = `evt_scale_${i}`;
  // As a callback through the Worker: with the fingerprint of the credential it came with.
  return { id, body: JSON.stringify({ id, text: `message ${i}` }), receivedAt: Date.now(), credential: "3fa2c1d0", ...DEFAULT_ROUTE };
}

describe("cost per operation at a backlog of 10,000", () => {
  it("an enqueue reads at most 10 rows, however deep the queue", async () => {
    const app = newBucket("scale-enq");
    await queueStub(app).enqueue(app, PULL, event(0));
    await fillQueue(app, DEPTH - 10);
    for (let i = 1; i <= 5; i++) {
      const { rows, perQuery, result } = await rowsRead(app, (queue) => queue.enqueue(app, PULL, event(i)));
      expect(result).toEqual({ status: "queued" });
      expect(rows, perQuery).toBeLessThanOrEqual(10);
    }
    // A resend of a held event is a duplicate at the same cost.
    const { rows, perQuery, result } = await rowsRead(app, (queue) => queue.enqueue(app, PULL, event(3)));
    expect(result).toEqual({ status: "duplicate" });
    expect(rows, perQuery).toBeLessThanOrEqual(10);
    expect((await queueStub(app).stats(app)).depth).toBe(DEPTH - 10 + 6);
  });

  it("a pull batch reads at most 3 rows per event plus 10, and an ack 5, with the whole backlog due or leased", async () => {
    const app = newBucket("scale-pull");
    await queueStub(app).enqueue(app, PULL, event(0));
    await fillQueue(app, DEPTH - 1);
    for (const max of [1, 10, 100]) {
      const { rows, perQuery, result } = await rowsRead(app, (queue) => queue.pull(app, PULL, "default", max, 600));
      expect(result.events.length).toBe(max);
      expect(rows, perQuery).toBeLessThanOrEqual(PER_EVENT.pull * max + 10);
    }
    // With most of the backlog leased, the next pull still reads only what it returns.
    for (let i = 0; i < 97; i++) await queueStub(app).pull(app, PULL, "default", 100, 600);
    const { rows, perQuery, result } = await rowsRead(app, (queue) => queue.pull(app, PULL, "default", 100, 600));
    expect(result.events.length).toBe(100);
    expect(rows, perQuery).toBeLessThanOrEqual(PER_EVENT.pull * 100 + 10);
    const { rows: ackRows, perQuery: ackPerQuery, result: ack } = await rowsRead(app, (queue) => queue.ack("default", result.ids, result.lease));
    expect(ack).toEqual({ acked: 100, notAcked: [] });
    expect(ackRows, ackPerQuery).toBeLessThanOrEqual(PER_EVENT.ack * 100 + 10);
  }, 60_000);

  it("a push batch reads at most 5 rows per event plus 10", async () => {
    const app = newBucket("scale-push");
    const settings = encodeSettings(parseConfig({ WECOM_APPS: JSON.stringify({ [app]: webhookApp(`ok/${app}`) }) }).apps.get(app)!);
    await queueStub(app).setPaused(true, undefined, app, settings);
    await queueStub(app).enqueue(app, settings, event(0));
    await fillQueue(app, DEPTH - 1);
    const { rows, perQuery } = await rowsRead(app, (queue) => alarmOnce(queue, app));
    expect((await received(app)).length).toBe(PUSH_LIMITS.batch);
    expect(rows, perQuery).toBeLessThanOrEqual(PER_EVENT.push * PUSH_LIMITS.batch + 10);
    expect((await queueStub(app).stats(app)).depth).toBe(DEPTH - PUSH_LIMITS.batch);
  }, 60_000);

  it("a push batch that fails throughout (the intranet is down) reads at most 4 rows per event plus 10", async () => {
    const app = newBucket("scale-down");
    const settings = encodeSettings(
      parseConfig({ WECOM_APPS: JSON.stringify({ [app]: webhookApp(`status/503/${app}`, {}, { minBackoffMs: 600_000, maxBackoffMs: 600_000 }) }) }).apps.get(app)!,
    );
    await queueStub(app).setPaused(true, undefined, app, settings);
    await queueStub(app).enqueue(app, settings, event(0));
    await fillQueue(app, DEPTH - 1);
    const { rows, perQuery } = await rowsRead(app, (queue) => alarmOnce(queue, app));
    expect((await received(app)).length).toBe(PUSH_LIMITS.batch);
    expect(rows, perQuery).toBeLessThanOrEqual(PER_EVENT.failingPush * PUSH_LIMITS.batch + 10);
    const stats = await queueStub(app).stats(app);
    expect([stats.depth, stats.retrying, stats.lastError?.message]).toEqual([DEPTH, PUSH_LIMITS.batch, "attempt 1: webhook answered 503"]);
  }, 60_000);
});

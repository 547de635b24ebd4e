/**
 * The cost of one operation must not grow with the backlog: at 10,000 queued
 * events, the SQL cursors of an enqueue, a pull batch and a push batch read
 * no more rows than docs/architecture.md promises ("Storage schema").
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import type { AppQueue } from "../../src/queue/app-queue.js";
import { PUSH_LIMITS } from "../../src/queue/push.js";
import { encodeSettings } from "../../src/queue/settings.js";
import { fillQueue, newBucket, queueStub, received, rowsRead, webhookApp } from "../support/wecom.js";

const DEPTH = 10_000;
const PULL = JSON.stringify({ mode: "pull", maxAttempts: 20 });

/**
 * One alarm of a paused queue, run as if it were not paused: workerd's own
 * alarms stay idle, so the batch measured is the only one.
 */
async function alarmOnce(queue: AppQueue): Promise<void> {
  const flags = queue as unknown as { paused: boolean };
  flags.paused = false;
  try {
    await queue.alarm();
  } finally {
    flags.paused = true;
  }
}

function event(i: number) {
  const id = `evt_scale_${i}`;
  // As a callback through the Worker: with the fingerprint of the credential it came with.
  return { id, body: JSON.stringify({ id, text: `message ${i}` }), receivedAt: Date.now(), credential: "3fa2c1d0" };
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

  it("a pull batch reads at most 3× the batch plus 10, with the whole backlog due or leased", async () => {
    const app = newBucket("scale-pull");
    await queueStub(app).enqueue(app, PULL, event(0));
    await fillQueue(app, DEPTH - 1);
    for (const max of [1, 10, 100]) {
      const { rows, perQuery, result } = await rowsRead(app, (queue) => queue.pull(app, PULL, max, 600));
      expect(result.events.length).toBe(max);
      expect(rows, perQuery).toBeLessThanOrEqual(3 * max + 10);
    }
    // With most of the backlog leased, the next pull still reads only what it returns.
    for (let i = 0; i < 97; i++) await queueStub(app).pull(app, PULL, 100, 600);
    const { rows, perQuery, result } = await rowsRead(app, (queue) => queue.pull(app, PULL, 100, 600));
    expect(result.events.length).toBe(100);
    expect(rows, perQuery).toBeLessThanOrEqual(310);
    const { rows: ackRows, perQuery: ackPerQuery, result: ack } = await rowsRead(app, (queue) => queue.ack(result.ids, result.lease));
    expect(ack).toEqual({ acked: 100, notAcked: [] });
    expect(ackRows, ackPerQuery).toBeLessThanOrEqual(3 * 100 + 10);
  }, 60_000);

  it("a push batch reads at most 3× the batch plus 10", async () => {
    const app = newBucket("scale-push");
    const settings = encodeSettings(parseConfig({ WECOM_APPS: JSON.stringify({ [app]: webhookApp(`ok/${app}`) }) }).apps.get(app)!);
    await queueStub(app).setPaused(true);
    await queueStub(app).enqueue(app, settings, event(0));
    await fillQueue(app, DEPTH - 1);
    const { rows, perQuery } = await rowsRead(app, (queue) => alarmOnce(queue));
    expect((await received(app)).length).toBe(PUSH_LIMITS.batch);
    expect(rows, perQuery).toBeLessThanOrEqual(3 * PUSH_LIMITS.batch + 10);
    expect((await queueStub(app).stats(app)).depth).toBe(DEPTH - PUSH_LIMITS.batch);
  }, 60_000);

  it("a push batch that fails throughout (the intranet is down) reads at most 3× the batch plus 10", async () => {
    const app = newBucket("scale-down");
    const settings = encodeSettings(
      parseConfig({ WECOM_APPS: JSON.stringify({ [app]: webhookApp(`status/503/${app}`, {}, { minBackoffMs: 600_000, maxBackoffMs: 600_000 }) }) }).apps.get(app)!,
    );
    await queueStub(app).setPaused(true);
    await queueStub(app).enqueue(app, settings, event(0));
    await fillQueue(app, DEPTH - 1);
    const { rows, perQuery } = await rowsRead(app, (queue) => alarmOnce(queue));
    expect((await received(app)).length).toBe(PUSH_LIMITS.batch);
    expect(rows, perQuery).toBeLessThanOrEqual(3 * PUSH_LIMITS.batch + 10);
    const stats = await queueStub(app).stats(app);
    expect([stats.depth, stats.retrying, stats.lastError?.message]).toEqual([DEPTH, PUSH_LIMITS.batch, "attempt 1: webhook answered 503"]);
  }, 60_000);
});

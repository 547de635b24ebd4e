/**
 * The cost of one operation must not grow with the backlog: at 10,000 queued
 * events, the SQL cursors of an enqueue, a pull batch and a push batch read
 * no more rows than docs/architecture.md promises ("Storage schema").
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import { QUEUE_LIMITS, type AppQueue } from "../../src/queue/app-queue.js";
import { PUSH_LIMITS } from "../../src/destinations/push.js";
import { encodeSettings } from "../../src/queue/settings.js";
import { DEFAULT_ROUTE, fillQueue, newBucket, queueStub, received, receiverUrl, rowsRead, TEST_APP, WEBHOOK_SECRET, webhookApp } from "../support/wecom.js";

const DEPTH = 10_000;

/**
 * Rows read per event, at most (plus 10 per operation), whatever the depth
 * and whatever other destinations hold (docs/architecture.md, "Storage
 * schema"): the delivery's index entry (its row carries the event of one
 * destination, up to QUEUE_LIMITS.carriedBytes of JSON), then the writes.
 * An event shared by several destinations, larger, or stored before v12,
 * is read from `events` too: one more.
 */
const PER_EVENT = { pull: 2, ack: 3, push: 3, failingPush: 2, sharedPush: 4 } as const;
const PULL = JSON.stringify({ mode: "pull", maxAttempts: 20 });

/**
 * One push batch of a paused destination (`default` unless named), run as if
 * it were not paused: its pump and workerd's alarms stay idle, so the batch
 * measured is the only one.
 */
async function alarmOnce(queue: AppQueue, app: string, name = "default"): Promise<void> {
  const internals = queue as unknown as { deliveries: { setPaused(name: string, paused: boolean): void }; pusher(app: string, name: string): { batch(): Promise<boolean> } };
  internals.deliveries.setPaused(name, false);
  try {
    // Unpaused in storage only: nothing starts the pump meanwhile, and the alarm the batch sets is far off.
    await internals.pusher(app, name).batch();
  } finally {
    internals.deliveries.setPaused(name, true);
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

  it("a pull batch reads at most 2 rows per event plus 10 and an ack 3, with the whole backlog due or leased", async () => {
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

  it("a push batch reads at most 3 rows per event plus 10", async () => {
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

  it("a push batch of events stored before v12 (their JSON in `events`) reads at most 4 rows per event plus 10", async () => {
    const app = newBucket("scale-push-v11");
    const settings = encodeSettings(parseConfig({ WECOM_APPS: JSON.stringify({ [app]: webhookApp(`ok/${app}`) }) }).apps.get(app)!);
    await queueStub(app).setPaused(true, undefined, app, settings);
    await fillQueue(app, DEPTH, "filler", "default", "inEvents");
    const { rows, perQuery } = await rowsRead(app, (queue) => alarmOnce(queue, app));
    const pushed = await received(app);
    expect(pushed.map((r) => r.body).sort()).toEqual(Array.from({ length: PUSH_LIMITS.batch }, (_, i) => JSON.stringify({ id: `filler-${i}` })).sort());
    expect(rows, perQuery).toBeLessThanOrEqual(PER_EVENT.sharedPush * PUSH_LIMITS.batch + 10);
    expect((await queueStub(app).stats(app)).depth).toBe(DEPTH - PUSH_LIMITS.batch);
  }, 60_000);

  it("an event of one destination is carried in its delivery's row up to carriedBytes of JSON; a larger one stays in `events`", async () => {
    const app = newBucket("scale-carried");
    const bodyOf = (id: string, bytes: number) => JSON.stringify({ id, pad: "x".repeat(bytes - JSON.stringify({ id, pad: "" }).length) });
    const small = bodyOf("evt_small", QUEUE_LIMITS.carriedBytes);
    const large = bodyOf("evt_large", QUEUE_LIMITS.carriedBytes + 1);
    expect([small.length, large.length]).toEqual([QUEUE_LIMITS.carriedBytes, QUEUE_LIMITS.carriedBytes + 1]);
    for (const [id, body] of [["evt_small", small], ["evt_large", large]] as const) {
      expect(await queueStub(app).enqueue(app, PULL, { id, body, receivedAt: Date.now(), credential: "3fa2c1d0", ...DEFAULT_ROUTE })).toEqual({ status: "queued" });
    }
    const stored = await runInDurableObject(queueStub(app), (_, state) =>
      state.storage.sql.exec("SELECT e.id AS id, e.body AS inEvents, d.body AS inDelivery FROM events e JOIN deliveries d ON d.seq = e.seq ORDER BY e.seq").toArray(),
    );
    expect(stored).toEqual([
      { id: "evt_small", inEvents: "", inDelivery: small },
      { id: "evt_large", inEvents: large, inDelivery: null },
    ]);
    expect((await queueStub(app).pull(app, PULL, "default", 10, 600)).events).toEqual([small, large]);
  });

  it("a push batch that fails throughout (the intranet is down) reads at most 2 rows per event plus 10", async () => {
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

describe("cost per operation with several destinations, each holding 10,000 of its own", () => {
  const TOKEN = (i: number) => `pull-token-${i}-0123456789abcdef`;
  /** Eight destinations: pull ones (nothing pushes by itself), two of them ordered, and `p`, a webhook. */
  function appConfig(app: string) {
    const destinations: Record<string, unknown> = { p: { webhook: { url: `${receiverUrl()}/ok/${app}`, secret: WEBHOOK_SECRET } } };
    for (let i = 0; i < 7; i++) {
      destinations[`d${i}`] = { pull: { token: TOKEN(i) }, ...(i === 1 ? { ordered: true } : i === 2 ? { ordered: { key: "FromUserName" } } : {}) };
    }
    return { ...TEST_APP, destinations };
  }
  const settingsOf = (app: string) => encodeSettings(parseConfig({ WECOM_APPS: JSON.stringify({ [app]: appConfig(app) }) }).apps.get(app)!);
  const routed = (i: number, names: readonly string[]) => {
    const id = `evt_fan_${i}`;
    return { id, body: JSON.stringify({ id, n: i }), receivedAt: Date.now(), routes: names.map((name) => ({ name, key: name === "d1" ? "" : name === "d2" ? `user${i % 3}` : null })), kind: "" };
  };

  it("an enqueue matched by k destinations reads at most 10 + 2k rows (k = 1, 3, 8)", async () => {
    const app = newBucket("fan-enq");
    const settings = settingsOf(app);
    await queueStub(app).setPaused(true, undefined, app, settings);
    for (const name of ["d0", "d1", "d2"]) await fillQueue(app, DEPTH, `held-${name}`, name);
    for (const names of [["d0"], ["d0", "d1", "d2"], ["p", "d0", "d1", "d2", "d3", "d4", "d5", "d6"]] as const) {
      const { rows, perQuery, result } = await rowsRead(app, (queue) => queue.enqueue(app, settings, routed(names.length, names)));
      expect(result).toEqual({ status: "queued" });
      expect(rows, `k=${names.length}: ${perQuery}`).toBeLessThanOrEqual(10 + 2 * names.length);
    }
    const stats = await queueStub(app).stats(app);
    expect(stats.destinations.map((d) => [d.name, d.depth])).toEqual([
      ["p", 1],
      ["d0", DEPTH + 3],
      ["d1", DEPTH + 2],
      ["d2", DEPTH + 2],
      ["d3", 1],
      ["d4", 1],
      ["d5", 1],
      ["d6", 1],
    ]);
    expect(stats.events).toBe(3 * DEPTH + 3);
  }, 60_000);

  it("a pull and an ack of one destination read no more than with it alone, while another holds 10,000", async () => {
    const app = newBucket("fan-pull");
    const settings = settingsOf(app);
    await queueStub(app).setPaused(true, undefined, app, settings);
    await fillQueue(app, DEPTH, "mine", "d0");
    await fillQueue(app, DEPTH, "theirs", "d3");
    const { rows, perQuery, result } = await rowsRead(app, (queue) => queue.pull(app, settings, "d0", 100, 600));
    expect(result.ids.length).toBe(100);
    expect(rows, perQuery).toBeLessThanOrEqual(PER_EVENT.pull * 100 + 10);
    const { rows: ackRows, perQuery: ackPerQuery, result: ack } = await rowsRead(app, (queue) => queue.ack("d0", result.ids, result.lease));
    expect(ack).toEqual({ acked: 100, notAcked: [] });
    expect(ackRows, ackPerQuery).toBeLessThanOrEqual(PER_EVENT.ack * 100 + 10);
    expect((await queueStub(app).stats(app)).destinations.filter((d) => d.depth > 0).map((d) => [d.name, d.depth])).toEqual([
      ["d0", DEPTH - 100],
      ["d3", DEPTH],
    ]);
  }, 60_000);

  it("an ack on an ordered destination reads at most 4 more rows per event: the delivery's key, and the release of the next of that key", async () => {
    const app = newBucket("fan-ordered");
    const settings = settingsOf(app);
    await queueStub(app).setPaused(true, undefined, app, settings);
    await fillQueue(app, DEPTH, "theirs", "d3");
    // d2 keeps order per FromUserName: ten keys of ten events each, one head a key due, nine held behind it.
    for (let i = 0; i < 100; i++) await queueStub(app).enqueue(app, settings, { ...routed(i, ["d2"]), routes: [{ name: "d2", key: `user${i % 10}` }] });
    const pulled = await queueStub(app).pull(app, settings, "d2", 100, 600);
    expect(pulled.ids).toEqual(Array.from({ length: 10 }, (_, i) => `evt_fan_${i}`));
    // Woken afresh: that d2 holds keyed deliveries is read back from storage.
    await evictDurableObject(queueStub(app));
    const { rows, perQuery, result } = await rowsRead(app, (queue) => queue.ack("d2", pulled.ids, pulled.lease));
    expect(result).toEqual({ acked: 10, notAcked: [] });
    expect(rows, perQuery).toBeLessThanOrEqual((PER_EVENT.ack + 4) * 10 + 10);
    // The next of each key is due now.
    expect((await queueStub(app).pull(app, settings, "d2", 100, 600)).ids).toEqual(Array.from({ length: 10 }, (_, i) => `evt_fan_${i + 10}`));
  }, 60_000);

  it("a push batch of one destination reads no more than with it alone, while another holds 10,000", async () => {
    const app = newBucket("fan-push");
    const settings = settingsOf(app);
    await queueStub(app).setPaused(true, undefined, app, settings);
    await fillQueue(app, DEPTH, "push", "p");
    await fillQueue(app, DEPTH, "theirs", "d3");
    const { rows, perQuery } = await rowsRead(app, (queue) => alarmOnce(queue, app, "p"));
    expect((await received(app)).length).toBe(PUSH_LIMITS.batch);
    expect(rows, perQuery).toBeLessThanOrEqual(PER_EVENT.push * PUSH_LIMITS.batch + 10);
  }, 60_000);

  it("a push batch of events another destination shares reads one row more per event: their JSON, stored once in `events`", async () => {
    const app = newBucket("fan-push-shared");
    const settings = settingsOf(app);
    await queueStub(app).setPaused(true, undefined, app, settings);
    await fillQueue(app, DEPTH, "theirs", "d3");
    for (let i = 0; i < PUSH_LIMITS.batch; i++) await queueStub(app).enqueue(app, settings, routed(i, ["p", "d3"]));
    await evictDurableObject(queueStub(app));
    const { rows, perQuery } = await rowsRead(app, (queue) => alarmOnce(queue, app, "p"));
    expect((await received(app)).map((r) => r.body).sort()).toEqual(Array.from({ length: PUSH_LIMITS.batch }, (_, i) => JSON.stringify({ id: `evt_fan_${i}`, n: i })).sort());
    expect(rows, perQuery).toBeLessThanOrEqual(PER_EVENT.sharedPush * PUSH_LIMITS.batch + 10);
    const stats = await queueStub(app).stats(app);
    expect([stats.events, stats.destinations.filter((d) => d.depth > 0).map((d) => [d.name, d.depth])]).toEqual([DEPTH + PUSH_LIMITS.batch, [["d3", DEPTH + PUSH_LIMITS.batch]]]);
  }, 60_000);
});

describe("replaying or purging all dead letters of a destination", () => {
  it("reads its dead letters, not its 10,000 live deliveries", async () => {
    const app = newBucket("scale-dead");
    await queueStub(app).enqueue(app, PULL, event(0));
    await fillQueue(app, DEPTH);
    const replay = await rowsRead(app, (queue) => queue.replay(null, "default"));
    expect(replay.result).toBe(0);
    expect(replay.rows, replay.perQuery).toBeLessThanOrEqual(10);
    const purge = await rowsRead(app, (queue) => queue.purgeDead(null, "default"));
    expect(purge.result).toBe(0);
    expect(purge.rows, purge.perQuery).toBeLessThanOrEqual(10);
  }, 60_000);
});

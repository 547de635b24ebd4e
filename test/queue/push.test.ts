import { abortAllDurableObjects, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { parseConfig } from "../../src/config.js";
import { QUEUE_LIMITS } from "../../src/queue/app-queue.js";
import { PUSH_LIMITS } from "../../src/destinations/push.js";
import { encodeSettings } from "../../src/queue/settings.js";
import pkg from "../../package.json";
import official from "../vectors/official.json";
import { DEFAULT_ROUTE,
  callbackRequest,
  callbackUrl,
  callWorker,
  drain,
  errorOf,
  fillQueue,
  makeDue,
  newBucket,
  queueRows,
  queueStub,
  received,
  receiverUrl,
  routedApp,
  settlePumps,
  TEST_APP,
  testEnv,
  textMessage,
  webhookApp,
  WEBHOOK_SECRET,
  type AppSettings,
} from "../support/wecom.js";

const PULL_SETTINGS = JSON.stringify({ mode: "pull", maxAttempts: 20 });

/** Settings that keep workerd's own alarms from retrying on their own during a test. */
const SLOW_RETRY = { minBackoffMs: 600_000, maxBackoffMs: 600_000 };

function setup(path: (app: string) => string, webhook: AppSettings = SLOW_RETRY) {
  const app = newBucket("push");
  const environment = testEnv({ apps: { [app]: webhookApp(path(app), {}, webhook) } });
  const settings = encodeSettings(parseConfig({ WECOM_APPS: environment.WECOM_APPS as string }).apps.get(app)!);
  return {
    app,
    environment,
    /** Sends n distinct callbacks through the Worker, as WeCom would. */
    async send(n: number, content = (i: number) => `message ${i}`) {
      for (let i = 0; i < n; i++) {
        const response = await callWorker(await callbackRequest(app, textMessage(content(i), String(1000 + i))), environment);
        expect(response.status).toBe(200);
      }
    },
    /** Queues n events straight into the Durable Object (for volume). */
    async enqueueDirect(n: number) {
      const stub = queueStub(app);
      for (let i = 0; i < n; i++) {
        const id = `evt_${app}_${i}`;
        const result = await stub.enqueue(app, settings, { id, body: JSON.stringify({ id, n: i }), receivedAt: Date.now(), ...DEFAULT_ROUTE });
        expect(result).toEqual({ status: "queued" });
      }
    },
  };
}

function toggle(app: string, state: "up" | "down") {
  return fetch(`${receiverUrl()}/toggle/${app}/${state}`, { method: "PUT" });
}

/** Ids the webhook accepted (2xx), with how often each was accepted. */
async function accepted(app: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const r of await received(app)) {
    if (r.status >= 200 && r.status < 300) counts.set(r.headers["webhook-id"]!, (counts.get(r.headers["webhook-id"]!) ?? 0) + 1);
  }
  return counts;
}

describe("push delivery from the queue", () => {
  it("pushes with the Worker's own configuration (WECOM_APPS of the deployment)", async () => {
    const { callback } = official;
    const url = callbackUrl("official", { msgSignature: callback.msg_signature, timestamp: callback.timestamp, nonce: callback.nonce });
    const response = await exports.default.fetch(url, { method: "POST", body: callback.body });
    expect(await response.text()).toBe("success");
    await drain("official");
    const requests = await received("official");
    expect(requests.map((r) => JSON.parse(r.body).event)).toEqual([callback.event]);
    // The version in the user agent is package.json's, the one place it is written.
    expect(requests.map((r) => r.headers["user-agent"])).toEqual([`wecom-edge/${pkg.version} (+Standard Webhooks)`]);
    expect(pkg.version).toBe("0.3.0");
  });

  it("keeps everything while the webhook is down and delivers it all, once each, when it is back", async () => {
    const { app, send } = setup((a) => `toggle/${a}`);
    await toggle(app, "down");
    await send(5);
    await drain(app);
    const rows = await queueRows(app);
    expect(rows.map((r) => [r.state, r.attempts, r.last_error])).toEqual(
      Array.from({ length: 5 }, () => ["queued", 1, "attempt 1: webhook answered 503"]),
    );
    await toggle(app, "up");
    await makeDue(app);
    await drain(app);
    expect(await queueRows(app)).toEqual([]);
    const counts = await accepted(app);
    expect(counts.size).toBe(5);
    expect([...counts.values()]).toEqual([1, 1, 1, 1, 1]);
    expect((await received(app)).length).toBe(10);
  });

  it("gets everything through a flaky webhook that fails twice per event", async () => {
    const { app, send } = setup((a) => `flaky/2/${a}`);
    await send(8);
    for (let round = 0; round < 3; round++) {
      await drain(app);
      await makeDue(app);
    }
    await drain(app);
    expect(await queueRows(app)).toEqual([]);
    const counts = await accepted(app);
    expect(counts.size).toBe(8);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect((await received(app)).length).toBe(24);
  });

  it("delivers 1,000 events queued while the webhook was down, each once", async () => {
    const { app, enqueueDirect } = setup((a) => `toggle/${a}`);
    await toggle(app, "down");
    await enqueueDirect(1000);
    await drain(app);
    expect((await queueStub(app).stats(app)).retrying).toBe(1000);
    await toggle(app, "up");
    await makeDue(app);
    await drain(app);
    const counts = await accepted(app);
    expect(counts.size).toBe(1000);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(await queueRows(app)).toEqual([]);
    expect((await queueStub(app).stats(app)).delivered).toBe(1000);
  }, 120_000);

  it("does not let a failing event hold up the others", async () => {
    const { app, send } = setup((a) => `poison/${a}`);
    await send(4, (i) => (i === 0 ? "POISON" : `fine ${i}`));
    await drain(app);
    const rows = await queueRows(app);
    expect(rows.map((r) => [r.state, r.attempts])).toEqual([["queued", 1]]);
    expect([...(await accepted(app)).keys()]).toHaveLength(3);
  });

  it("turns an event into a dead letter after maxAttempts, and keeps it", async () => {
    const { app, send } = setup((a) => `status/500/${a}`, { ...SLOW_RETRY, maxAttempts: 3 });
    await send(1);
    for (let round = 0; round < 3; round++) {
      await drain(app);
      await makeDue(app);
    }
    await drain(app);
    const rows = await queueRows(app);
    expect(rows.map((r) => [r.state, r.attempts, r.last_error])).toEqual([["dead", 3, "attempt 3: webhook answered 500"]]);
    expect((await received(app)).length).toBe(3);
    // A dead letter is never tried again by itself.
    await makeDue(app);
    await drain(app);
    expect((await received(app)).length).toBe(3);
  });

  it("honours Retry-After", async () => {
    const { app, send } = setup((a) => `status/429/${a}?retryAfter=120`, { minBackoffMs: 1000, maxBackoffMs: 5000 });
    await send(1);
    const before = Date.now();
    await drain(app);
    const after = Date.now();
    const [row] = await queueRows(app);
    expect(row!.attempts).toBe(1);
    expect(row!.available_at).toBeGreaterThanOrEqual(before + 120_000 - 5_000);
    expect(row!.available_at).toBeLessThanOrEqual(after + 120_000);
    expect(row!.available_at).toBeGreaterThan(after + 5_000);
  });

  it("stops pushing on 410 Gone: the event is a dead letter and pushing is paused", async () => {
    const { app, enqueueDirect } = setup((a) => `status/410/${a}`);
    await enqueueDirect(20);
    await drain(app);
    const stats = await queueStub(app).stats(app);
    expect(stats.paused).toBe(true);
    expect(stats.lastError?.message).toBe("attempt 1: webhook answered 410");
    // Only the attempts already in flight when the first 410 came back were made.
    const sent = (await received(app)).length;
    expect(sent).toBeGreaterThanOrEqual(1);
    expect(sent).toBeLessThanOrEqual(PUSH_LIMITS.concurrency);
    expect(stats.dead).toBe(sent);
    expect(stats.queued).toBe(20 - sent);
    const rows = await queueRows(app);
    expect(rows.filter((r) => r.state === "queued").every((r) => r.attempts === 0)).toBe(true);
    // Nothing more goes out while paused, even when due.
    await makeDue(app);
    await drain(app);
    expect((await received(app)).length).toBe(sent);
  });

  it("loses nothing when the Durable Object restarts with events queued", async () => {
    const { app, send } = setup((a) => `toggle/${a}`);
    await toggle(app, "down");
    await send(3);
    await drain(app);
    await evictDurableObject(queueStub(app));
    await toggle(app, "up");
    await makeDue(app);
    await drain(app);
    expect([...(await accepted(app)).values()]).toEqual([1, 1, 1]);
    expect(await queueRows(app)).toEqual([]);
  });

  it("loses nothing when the Durable Object is evicted while deliveries are in flight", async () => {
    const { app, send } = setup((a) => `slow/300/${a}`, { ...SLOW_RETRY, timeoutMs: 5_000 });
    await send(3);
    const stub = queueStub(app);
    const alarm = runDurableObjectAlarm(stub).catch(() => false);
    await scheduler.wait(100);
    // Graceful: eviction lets the attempts in flight finish, then drops the instance.
    await evictDurableObject(stub);
    await alarm;
    await makeDue(app);
    await drain(app);
    await scheduler.wait(700);
    expect(await queueRows(app)).toEqual([]);
    // At least once: the first attempt finished before the restart; the others were
    // in flight on the old instance and are due at once on the new one, so they may come twice.
    const counts = [...(await accepted(app)).values()];
    expect(counts.length).toBe(3);
    expect(counts[0]).toBe(1);
    expect(counts.every((n) => n === 1 || n === 2)).toBe(true);
  });

  it("loses nothing when the Durable Object crashes mid-delivery; a cut-off attempt is retried under the same id", async () => {
    const { app, send } = setup((a) => `slow/300/${a}`, { ...SLOW_RETRY, timeoutMs: 5_000 });
    await send(3);
    const stub = queueStub(app);
    const alarm = runDurableObjectAlarm(stub).catch(() => false);
    await scheduler.wait(100);
    await abortAllDurableObjects();
    await alarm;
    // The pump took the first event as it was committed; the cut-off attempt was claimed in memory
    // and its row left as it was: due at once when the object wakes, its attempt never recorded
    // (docs/delivery.md, "Delivery guarantees"). The others were not yet tried.
    const rows = await queueRows(app);
    expect(rows.map((r) => [r.state, r.attempts])).toEqual([["queued", 0], ["queued", 0], ["queued", 0]]);
    expect(rows.every((r) => r.available_at <= Date.now())).toBe(true);
    await makeDue(app);
    await drain(app);
    expect(await queueRows(app)).toEqual([]);
    const counts = await accepted(app);
    expect(counts.size).toBe(3);
    // At-least-once: the webhook may have answered a cut-off attempt too. Every repeat carries the
    // same webhook-id, so the intranet sees each event once.
    for (const [, n] of counts) expect(n).toBeLessThanOrEqual(2);
  });
});

describe("a batch and a destination that changes under it", () => {
  it("stops once its destination no longer pushes: turned to pull mid-batch, the rest is pulled, and nothing goes out twice", async () => {
    const { app, environment, settings } = routedApp(
      (bucket) => ({ hook: { webhook: { url: `${receiverUrl()}/slow/300/${bucket}`, secret: WEBHOOK_SECRET, ...SLOW_RETRY }, rate: { maxInFlight: 1 } } }),
      "switch",
    );
    const pullSettings = encodeSettings(
      parseConfig({ WECOM_APPS: JSON.stringify({ [app]: { ...TEST_APP, destinations: { hook: { pull: { token: "switch-pull-token-0123456789abcdef" } } } } }) }).apps.get(app)!,
    );
    const stub = queueStub(app);
    await stub.setPaused(true, "hook", app, settings);
    for (let i = 0; i < 3; i++) {
      expect((await callWorker(await callbackRequest(app, textMessage(`switch ${i}`, String(5100 + i))), environment)).status).toBe(200);
    }
    // One at a time: the first push is out (300 ms) when the destination turns to pull.
    await stub.setPaused(false, "hook");
    await scheduler.wait(100);
    await stub.sync(app, pullSettings);
    await settlePumps(app);
    const pushed = await received(app);
    expect(pushed.map((r) => (JSON.parse(r.body) as { event: { Content: string } }).event.Content)).toEqual(["switch 0"]);
    const pulled = await stub.pull(app, pullSettings, "hook", 10, 60);
    expect(pulled.events.map((e) => (JSON.parse(e) as { event: { Content: string } }).event.Content)).toEqual(["switch 1", "switch 2"]);
    // The first went through before the switch and left; the batch sent nothing after it.
    await scheduler.wait(400);
    expect((await received(app)).length).toBe(1);
  });
});

describe("queue bounds", () => {
  it("answers a pull of large events within the read budget, leasing only what it returns", async () => {
    const app = newBucket("bigpull");
    const stub = queueStub(app);
    const pad = "x".repeat(1_500_000);
    for (let i = 0; i < 12; i++) {
      const id = `evt_big_${i}`;
      const body = JSON.stringify({ id, pad });
      expect(await stub.enqueue(app, PULL_SETTINGS, { id, body, receivedAt: Date.now(), ...DEFAULT_ROUTE })).toEqual({ status: "queued" });
    }
    const size = JSON.stringify({ id: "evt_big_0", pad }).length;
    const fits = Math.floor(QUEUE_LIMITS.readBytes / size);
    expect(fits).toBe(11);
    const first = (await stub.pull(app, PULL_SETTINGS, "default", 100, 60)).events;
    expect(first.map((b) => JSON.parse(b).id)).toEqual(Array.from({ length: fits }, (_, i) => `evt_big_${i}`));
    expect((await queueRows(app)).map((r) => r.attempts)).toEqual([...Array(fits).fill(1), 0]);
    expect((await stub.pull(app, PULL_SETTINGS, "default", 100, 60)).events.map((b) => JSON.parse(b).id)).toEqual(["evt_big_11"]);
  });

  it("answers 503 (so WeCom retries) and logs why when the queue is full; nothing is dropped", async () => {
    const { app, environment } = setup((a) => `ok/${a}`);
    await fillQueue(app, QUEUE_LIMITS.maxDepth);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const response = await callWorker(await callbackRequest(app, textMessage("one too many")), environment);
    expect(await errorOf(response)).toEqual({ status: 503, code: "queue_full", message: "the app's queue is full; WeCom will retry" });
    expect(JSON.parse(String(warn.mock.calls[0]![0]))).toMatchObject({
      app,
      status: 503,
      outcome: "failed",
      code: "queue_full",
      detail: `queue holds ${QUEUE_LIMITS.maxDepth} events (limit ${QUEUE_LIMITS.maxDepth})`,
    });
    warn.mockRestore();
    expect((await queueRows(app)).length).toBe(QUEUE_LIMITS.maxDepth);
  });

  it("refuses an event too large to queue with 413", async () => {
    const { app, environment } = setup((a) => `ok/${a}`);
    // 700 KB of quotes: within the 1 MiB body, but its event JSON (raw and parsed, each escaped) is ~2.8 MB.
    const message = `<xml><Content><![CDATA[${'"'.repeat(700_000)}]]></Content></xml>`;
    const response = await callWorker(await callbackRequest(app, message), environment);
    expect(await errorOf(response)).toEqual({ status: 413, code: "payload_too_large", message: "the event is too large to queue" });
    expect(await queueRows(app)).toEqual([]);
  });
});

/**
 * The admin API over the queue's whole life (docs/operating.md, "Admin API" and "Apps
 * that are removed"): dead letters byte for byte, purge, queues of apps no
 * longer configured, and the sweep that hands a changed configuration to a
 * queue with no traffic.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index.js";
import { parseConfig } from "../../src/config.js";
import { encodeSettings } from "../../src/queue/settings.js";
import { sweepQueues } from "../../src/queue/sweep.js";
import {
  callbackRequest,
  callWorker,
  drain,
  newBucket,
  queueRows,
  queueStub,
  received,
  TEST_APP,
  testEnv,
  textMessage,
  webhookApp,
  type AppSettings,
  STORED_EVENTS,
} from "../support/wecom.js";

const ADMIN = "admin-token-for-tests-only-0123456789";
const SLOW_RETRY = { minBackoffMs: 600_000, maxBackoffMs: 600_000, maxAttempts: 1 };

function environmentOf(apps: Record<string, AppSettings>) {
  return { ...testEnv({ apps }), ADMIN_TOKEN: ADMIN };
}

async function admin(environment: Record<string, unknown>, method: string, path: string, body?: unknown) {
  const response = await callWorker(
    new Request(`https://wecom-edge.test/admin/apps${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
    environment,
  );
  return { status: response.status, allow: response.headers.get("allow"), text: await response.text() };
}

const json = (answer: { text: string }) => JSON.parse(answer.text);

/** An app whose webhook is down, so that what it receives becomes a dead letter at once. */
function deadApp(prefix: string) {
  const app = newBucket(prefix);
  const settings = webhookApp(`status/503/${app}`, {}, SLOW_RETRY);
  return { app, settings, environment: environmentOf({ [app]: settings }) };
}

describe("dead letters", () => {
  it("come back byte for byte: a JSON callback's 20-digit number keeps its digits", async () => {
    const app = newBucket("exact");
    const settings = webhookApp(`status/503/${app}`, { receiveId: "" }, SLOW_RETRY);
    const environment = environmentOf({ [app]: settings });
    const plaintext = `{"msgid":"CAIQ","msgtype":"text","text":{"content":"你好"},"n":12345678901234567890,"f":1.0}`;
    expect((await callWorker(await callbackRequest(app, plaintext, { format: "json", receiveId: "" }), environment)).status).toBe(200);
    await drain(app);
    const answer = await admin(environment, "GET", `/${app}/dead`);
    expect(answer.status).toBe(200);
    expect(answer.text).toContain(`,"format":"json","event":${plaintext},"raw":${JSON.stringify(plaintext)}}`);
    const stored = await runInDurableObject(queueStub(app), (_, state) => state.storage.sql.exec<{ body: string }>(STORED_EVENTS).one().body);
    expect(answer.text).toContain(`"lastError":"attempt 1: webhook answered 503","event":${stored}}`);
  });

  it("do not count toward the depth limit, and can be purged one by one or all at once", async () => {
    const { app, environment } = deadApp("purge");
    for (const [i, content] of ["a", "b", "c"].entries()) {
      expect((await callWorker(await callbackRequest(app, textMessage(content, String(500 + i))), environment)).status).toBe(200);
    }
    await drain(app);
    const before = json(await admin(environment, "GET", `/${app}`));
    expect([before.depth, before.dead, before.bytes > 0]).toEqual([0, 3, true]);
    const ids = json(await admin(environment, "GET", `/${app}/dead`)).events.map((e: { id: string }) => e.id);
    expect(json(await admin(environment, "POST", `/${app}/purge`, { ids: [ids[0], "evt_never"] }))).toEqual({ purged: 1 });
    expect(json(await admin(environment, "GET", `/${app}`))).toMatchObject({ dead: 2, depth: 0 });
    expect(json(await admin(environment, "POST", `/${app}/purge`, { all: true }))).toEqual({ purged: 2 });
    expect(json(await admin(environment, "GET", `/${app}`))).toMatchObject({ dead: 0, depth: 0, bytes: 0 });
    expect(await queueRows(app)).toEqual([]);
  });
});

describe("a callback resent after the dedup window", () => {
  it("answers success and queues nothing while its event is still held", async () => {
    const { app, environment } = deadApp("resend");
    const message = textMessage("resent", "777");
    expect((await callWorker(await callbackRequest(app, message), environment)).status).toBe(200);
    await drain(app);
    // As if the dedup window had passed: the id is no longer in `seen`.
    await runInDurableObject(queueStub(app), (_, state) => state.storage.sql.exec("DELETE FROM seen"));
    const response = await callWorker(await callbackRequest(app, message), environment);
    expect([response.status, await response.text()]).toEqual([200, "success"]);
    expect((await queueRows(app)).map((r) => r.state)).toEqual(["dead"]);
    expect((await received(app)).length).toBe(1);
  });
});

describe("queues of apps no longer configured", () => {
  it("are listed, managed and dropped; a configured app's queue cannot be dropped", async () => {
    const { app, environment } = deadApp("gone");
    const keep = newBucket("kept");
    for (const [i, content] of ["x", "y"].entries()) {
      expect((await callWorker(await callbackRequest(app, textMessage(content, String(600 + i))), environment)).status).toBe(200);
    }
    await drain(app);
    expect(await admin(environment, "POST", `/${app}/drop`)).toMatchObject({ status: 409 });

    // The app leaves WECOM_APPS.
    const after = environmentOf({ [keep]: webhookApp(`ok/${keep}`) });
    const list = json(await admin(after, "GET", ""));
    expect(list.apps.find((s: { app: string }) => s.app === keep)).toMatchObject({ configured: true, mode: "push", depth: 0 });
    expect(list.apps.find((s: { app: string }) => s.app === app)).toMatchObject({ configured: false, mode: "push", dead: 2, depth: 0 });
    expect(json(await admin(after, "GET", `/${app}`))).toMatchObject({ app, configured: false, dead: 2 });
    expect(json(await admin(after, "GET", `/${app}/dead`)).events.length).toBe(2);
    expect(json(await admin(after, "POST", `/${app}/pause`))).toEqual({ paused: true });
    expect(json(await admin(after, "POST", `/${app}/resume`))).toEqual({ paused: false });
    expect(json(await admin(after, "POST", `/${app}/replay`, { all: true }))).toEqual({ replayed: 2 });
    // It keeps pushing with the settings it last had.
    await drain(app);
    expect((await received(app)).length).toBe(4);
    expect(json(await admin(after, "POST", `/${app}/purge`, { all: true }))).toEqual({ purged: 2 });
    expect(json(await admin(after, "POST", `/${app}/drop`))).toEqual({ dropped: 0 });
    expect(await admin(after, "GET", `/${app}`)).toMatchObject({ status: 404 });
    expect(json(await admin(after, "GET", "")).apps.some((s: { app: string }) => s.app === app)).toBe(false);
  });

  it("are configured again when their app comes back with the same settings", async () => {
    const { app, environment } = deadApp("back");
    expect((await callWorker(await callbackRequest(app, textMessage("x")), environment)).status).toBe(200);
    await drain(app);
    const other = newBucket("other");
    expect(await sweepQueues(environmentOf({ [other]: webhookApp(`ok/${other}`) }) as never)).toBeGreaterThanOrEqual(1);
    expect(await queueStub(app).stats(app)).toMatchObject({ configured: false, dead: 1 });
    expect(await sweepQueues(environment as never)).toBeGreaterThanOrEqual(1);
    expect(await queueStub(app).stats(app)).toMatchObject({ configured: true, dead: 1 });
  });

  it("are not dropped while the configuration cannot be loaded", async () => {
    const { app, environment } = deadApp("noconfig");
    expect((await callWorker(await callbackRequest(app, textMessage("x")), environment)).status).toBe(200);
    const broken = { ...environment, WECOM_APPS: "{not json" };
    expect(await admin(broken, "POST", `/${app}/drop`)).toMatchObject({ status: 503 });
    expect(json(await admin(broken, "POST", `/${app}/drop`)).error).toEqual({
      code: "not_configured",
      message: "the configuration cannot be loaded; a queue is dropped only when the configuration says its app is gone",
    });
    expect((await queueRows(app)).length).toBe(1);
  });

  it("drops a queue that still holds live events, counting them", async () => {
    const app = newBucket("dropped");
    const environment = environmentOf({ [app]: { ...TEST_APP, pull: { token: "pull-token-0123456789-abcdefghij" } } });
    expect((await callWorker(await callbackRequest(app, textMessage("left behind")), environment)).status).toBe(200);
    const after = environmentOf({ [newBucket("other")]: webhookApp("ok/none") });
    expect(json(await admin(after, "POST", `/${app}/drop`))).toEqual({ dropped: 1 });
    expect(await queueRows(app)).toEqual([]);
  });
});

describe("a drop in the middle of a push batch", () => {
  it("leaves the counters equal to the rows, whatever the batch finishes with", async () => {
    const app = newBucket("midbatch");
    const entry = webhookApp(`slow/300/${app}`, {}, { timeoutMs: 5_000 });
    const environment = environmentOf({ [app]: entry });
    const settings = encodeSettings(parseConfig({ WECOM_APPS: JSON.stringify({ [app]: entry }) }).apps.get(app)!);
    await queueStub(app).setPaused(true, undefined, app, settings);
    for (const [i, content] of ["a", "b", "c"].entries()) {
      expect((await callWorker(await callbackRequest(app, textMessage(content, String(900 + i))), environment)).status).toBe(200);
    }
    // Resuming starts the pump: the three pushes leave together and take 300 ms.
    await queueStub(app).setPaused(false);
    await scheduler.wait(100);
    expect(json(await admin(environmentOf({ [newBucket("x")]: webhookApp("ok/none") }), "POST", `/${app}/drop`))).toEqual({ dropped: 3 });
    await scheduler.wait(1_000);
    const [stats, rows, counters] = await runInDurableObject(queueStub(app), async (queue, state) => [
      await queue.stats(app),
      state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM events").one().n,
      state.storage.sql.exec<{ events: number; bytes: number }>("SELECT events, bytes FROM counters").one(),
    ]);
    expect([stats.depth, stats.delivered, rows, counters]).toEqual([0, 0, 0, { events: 0, bytes: 0 }]);
  });
});

describe("the admin routes", () => {
  it("answer 405 naming exactly the methods each action takes", async () => {
    const { app, environment } = deadApp("allow");
    expect(await admin(environment, "POST", `/${app}`)).toMatchObject({ status: 405, allow: "GET" });
    expect(await admin(environment, "POST", "")).toMatchObject({ status: 405, allow: "GET" });
    expect(await admin(environment, "GET", `/${app}/replay`)).toMatchObject({ status: 405, allow: "POST" });
    expect(await admin(environment, "GET", `/${app}/drop`)).toMatchObject({ status: 405, allow: "POST" });
    expect(await admin(environment, "POST", `/${app}/dead`)).toMatchObject({ status: 405, allow: "GET" });
  });
});

describe("a switch from pull to push", () => {
  it("starts pushing on the next sweep, with no traffic, and stats show the live mode", async () => {
    const app = newBucket("switch");
    const pullEnv = environmentOf({ [app]: { ...TEST_APP, pull: { token: "pull-token-0123456789-abcdefghij" } } });
    for (const [i, content] of ["p", "q"].entries()) {
      expect((await callWorker(await callbackRequest(app, textMessage(content, String(700 + i))), pullEnv)).status).toBe(200);
    }
    const pushEnv = environmentOf({ [app]: webhookApp(`ok/${app}`) });
    // The deploy: nothing touches the queue but the Cron Trigger.
    await worker.scheduled({ cron: "* * * * *", scheduledTime: Date.now(), noRetry() {} } as ScheduledController, pushEnv as never);
    // Workerd fires the alarm the sweep set; nothing here runs it.
    for (let waited = 0; (await received(app)).length < 2 && waited < 5_000; waited += 50) await scheduler.wait(50);
    expect((await received(app)).map((r) => JSON.parse(r.body).event.Content)).toEqual(["p", "q"]);
    expect((await received(app)).map((r) => r.headers["wecom-edge-attempt"])).toEqual(["1", "1"]);
    expect(json(await admin(pushEnv, "GET", `/${app}`))).toMatchObject({ mode: "push", configured: true, depth: 0, delivered: 2 });
    // With nothing changed since, a sweep tells no queue anything.
    expect(await sweepQueues(pushEnv as never)).toBe(0);
  });
});

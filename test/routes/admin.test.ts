import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  callbackRequest,
  callWorker,
  drain,
  errorOf,
  makeDue,
  newBucket,
  queueRows,
  queueStub,
  received,
  receiverUrl,
  TEST_APP,
  testEnv,
  textMessage,
  webhookApp,
} from "../support/wecom.js";

const ADMIN = (env as unknown as { ADMIN_TOKEN: string }).ADMIN_TOKEN;

function setup(path: (app: string) => string = (a) => `toggle/${a}`) {
  const app = newBucket("adm");
  const environment = testEnv({
    apps: {
      [app]: webhookApp(path(app), {}, { maxAttempts: 1, minBackoffMs: 600_000, maxBackoffMs: 600_000 }),
      broken: { ...TEST_APP },
    },
  });
  const admin = async (method: string, path: string, body?: unknown, token: string | null = ADMIN) => {
    const response = await callWorker(
      new Request(`https://wecom-edge.test/admin/apps${path}`, {
        method,
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
      environment,
    );
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  const send = async (...contents: string[]) => {
    for (const [i, content] of contents.entries()) {
      expect((await callWorker(await callbackRequest(app, textMessage(content, String(9000 + i))), environment)).status).toBe(200);
    }
  };
  const toggle = (state: "up" | "down") => fetch(`${receiverUrl()}/toggle/${app}/${state}`, { method: "PUT" });
  return { app, environment, admin, send, toggle };
}

describe("admin API", () => {
  it("reports per-app stats", async () => {
    const { app, admin, send, toggle } = setup();
    await toggle("down");
    await send("a", "b");
    await drain(app);
    const { status, body } = await admin("GET", `/${app}`);
    expect(status).toBe(200);
    const bytes = await runInDurableObject(queueStub(app), (_, state) =>
      state.storage.sql.exec<{ n: number }>("SELECT SUM(length(CAST(body AS BLOB))) AS n FROM events").one().n,
    );
    expect(bytes).toBeGreaterThan(400);
    expect(body).toEqual({
      app,
      configured: true,
      mode: "push",
      paused: false,
      depth: 0,
      bytes,
      queued: 0,
      leased: 0,
      retrying: 0,
      delivered: 0,
      dead: 2,
      oldestAgeSeconds: null,
      refreshes: 0,
      // Both callbacks came with the app's one credential.
      credentials: [{ name: "current", id: expect.stringMatching(/^[0-9a-f]{8}$/), callbacks: 2, lastCallbackAt: expect.any(String) }],
      lastError: { at: expect.any(String), message: "attempt 1: webhook answered 503" },
    });
  });

  it("lists, and replays one or all dead letters", async () => {
    const { app, admin, send, toggle } = setup();
    await toggle("down");
    await send("first", "second", "third");
    await drain(app);
    const dead = await admin("GET", `/${app}/dead?limit=2`);
    expect(dead.status).toBe(200);
    expect(dead.body.events.map((e: any) => [e.attempts, e.lastError, e.event.event.Content])).toEqual([
      [1, "attempt 1: webhook answered 503", "first"],
      [1, "attempt 1: webhook answered 503", "second"],
    ]);
    await toggle("up");
    expect(await admin("POST", `/${app}/replay`, { ids: [dead.body.events[0].id, "evt_unknown"] })).toEqual({ status: 200, body: { replayed: 1 } });
    await drain(app);
    expect((await received(app)).filter((r) => r.status === 200).map((r) => JSON.parse(r.body).event.Content)).toEqual(["first"]);
    expect(await admin("POST", `/${app}/replay`, { all: true })).toEqual({ status: 200, body: { replayed: 2 } });
    await drain(app);
    expect((await received(app)).filter((r) => r.status === 200).map((r) => JSON.parse(r.body).event.Content)).toEqual(["first", "second", "third"]);
    expect((await admin("GET", `/${app}`)).body).toMatchObject({ dead: 0, delivered: 3, queued: 0 });
  });

  it("pauses and resumes pushing; events keep queueing while paused", async () => {
    const { app, admin, send } = setup((a) => `ok/${a}`);
    expect(await admin("POST", `/${app}/pause`)).toEqual({ status: 200, body: { paused: true } });
    await send("while paused");
    await makeDue(app);
    await drain(app);
    expect(await received(app)).toEqual([]);
    expect((await admin("GET", `/${app}`)).body).toMatchObject({ paused: true, queued: 1 });
    expect(await admin("POST", `/${app}/resume`)).toEqual({ status: 200, body: { paused: false } });
    await drain(app);
    expect((await received(app)).length).toBe(1);
    expect(await queueRows(app)).toEqual([]);
  });

  it("lists every app's stats and the invalid apps", async () => {
    const { app, admin } = setup();
    const { status, body } = await admin("GET", "");
    expect(status).toBe(200);
    // Queues of apps from earlier tests are listed too, marked as no longer configured.
    expect(body.apps.filter((s: any) => s.configured).map((s: any) => s.app)).toEqual([app]);
    expect(body.apps.filter((s: any) => !s.configured).every((s: any) => s.depth + s.dead > 0)).toBe(true);
    expect(body.invalidApps).toEqual({ broken: "WECOM_APPS.broken must have webhook or pull" });
  });

  it.each([
    ["no token", null],
    ["a wrong token", "admin-token-for-tests-only-0123456788"],
  ])("refuses %s with 401", async (_, token) => {
    const { app, admin } = setup();
    expect(await admin("POST", `/${app}/pause`, undefined, token)).toEqual({
      status: 401,
      body: { error: { code: "unauthorized", message: "a valid bearer token is required" } },
    });
    expect((await admin("GET", `/${app}`)).body.paused).toBe(false);
  });

  it("is off without ADMIN_TOKEN", async () => {
    const { app, environment } = setup();
    const response = await callWorker(
      new Request(`https://wecom-edge.test/admin/apps/${app}`, { headers: { authorization: `Bearer ${ADMIN}` } }),
      { ...environment, ADMIN_TOKEN: undefined },
    );
    expect(await errorOf(response)).toEqual({
      status: 503,
      code: "not_configured",
      message: "the admin API is off: set ADMIN_TOKEN with `wrangler secret put ADMIN_TOKEN`",
    });
  });

  it("refuses bad requests clearly", async () => {
    const { app, admin } = setup();
    expect(await admin("GET", `/${app}/dead?limit=0`)).toEqual({
      status: 400,
      body: { error: { code: "invalid_parameter", message: "limit must be a whole number from 1 to 1000" } },
    });
    expect((await admin("POST", `/${app}/replay`, { all: "yes" })).status).toBe(400);
    expect((await admin("GET", `/${app}/pause`)).status).toBe(405);
    expect((await admin("GET", "/nope")).status).toBe(404);
    expect((await admin("GET", `/${app}/whatever`)).status).toBe(404);
  });
});

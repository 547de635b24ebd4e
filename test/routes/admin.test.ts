import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN_LOGIN_LIMITS } from "../../src/routes/admin-auth.js";
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
  STORED_EVENTS,
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
      state.storage.sql.exec<{ n: number }>(`SELECT SUM(length(CAST(body AS BLOB))) AS n FROM (${STORED_EVENTS})`).one().n,
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
      lastDeliveredAt: null,
      events: 2,
      streamBytes: 0,
      unrouted: {},
      kfCoalesced: 0,
      destinations: [
        {
          name: "default",
          configured: true,
          mode: "push",
          ordered: false,
          rate: null,
          paused: false,
          health: "up",
          downSince: null,
          depth: 0,
          queued: 0,
          leased: 0,
          retrying: 0,
          delivered: 0,
          dead: 2,
          oldestAgeSeconds: null,
          lastError: { at: expect.any(String), message: "attempt 1: webhook answered 503" },
          lastDeliveredAt: null,
        },
      ],
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
    expect(body.invalidApps).toEqual({ broken: "WECOM_APPS.broken must have destinations, webhook or pull" });
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

  it("is off without ADMIN_TOKEN, with the advice for where it runs", async () => {
    const { app, environment } = setup();
    const ask = (origin: string) =>
      callWorker(new Request(`${origin}/admin/apps/${app}`, { headers: { authorization: `Bearer ${ADMIN}` } }), { ...environment, ADMIN_TOKEN: undefined });
    expect(await errorOf(await ask("https://wecom-edge.test"))).toEqual({
      status: 503,
      code: "not_configured",
      message: "the admin API is off: ADMIN_TOKEN is not set; set it with `npx wrangler secret put ADMIN_TOKEN` (16-512 visible characters)",
    });
    const local = "the admin API is off: ADMIN_TOKEN is not set; add a line ADMIN_TOKEN=<16-512 visible characters> to .dev.vars and restart wrangler dev";
    for (const origin of ["http://127.0.0.1:8787", "http://localhost:8787", "http://[::1]:8787"]) {
      expect(await errorOf(await ask(origin))).toEqual({ status: 503, code: "not_configured", message: local });
    }
  });

  it("stays off while ADMIN_TOKEN is shorter than 16 or not visible ASCII, whatever is presented", async () => {
    const { app, environment } = setup();
    for (const token of ["short-token", "x".repeat(15), "with space 0123456789", "令牌".repeat(10), "x".repeat(513)]) {
      const response = await callWorker(new Request(`https://wecom-edge.test/admin/apps/${app}`, { headers: { authorization: `Bearer ${token}` } }), {
        ...environment,
        ADMIN_TOKEN: token,
      });
      expect(await errorOf(response)).toEqual({
        status: 503,
        code: "invalid_config",
        message: "the admin API is off: ADMIN_TOKEN must be 16-512 visible ASCII characters (use a long random string)",
      });
    }
  });

  it(`refuses every attempt from a client after ${ADMIN_LOGIN_LIMITS.failures} failures within a minute, the right token too; others are not held`, async () => {
    const { app, environment } = setup();
    const ip = `198.51.100.${Math.floor(Math.random() * 250)}`;
    const ask = (token: string, client = ip) =>
      callWorker(new Request(`https://wecom-edge.test/admin/apps/${app}`, { headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": client } }), environment);
    for (let i = 0; i < ADMIN_LOGIN_LIMITS.failures; i++) expect((await ask(`wrong-token-guess-${i}-0123456789`)).status).toBe(401);
    const held = await ask(ADMIN);
    expect(held.headers.get("retry-after")).toBe("60");
    expect(await errorOf(held)).toEqual({ status: 429, code: "too_many_requests", message: "too many failed admin logins: wait a minute" });
    expect((await ask(ADMIN, "203.0.113.9")).status).toBe(200);
  });

  it("forgets a client's failures once it logs in", async () => {
    const { app, environment } = setup();
    const ip = `192.0.2.${Math.floor(Math.random() * 250)}`;
    const ask = (token: string) =>
      callWorker(new Request(`https://wecom-edge.test/admin/apps/${app}`, { headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": ip } }), environment);
    for (let i = 0; i < ADMIN_LOGIN_LIMITS.failures - 1; i++) expect((await ask("wrong-token-0123456789")).status).toBe(401);
    expect((await ask(ADMIN)).status).toBe(200);
    for (let i = 0; i < ADMIN_LOGIN_LIMITS.failures - 1; i++) expect((await ask("wrong-token-0123456789")).status).toBe(401);
    expect((await ask(ADMIN)).status).toBe(200);
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

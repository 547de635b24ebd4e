/**
 * The admin API per destination, through the Worker's own fetch with real
 * HTTP receivers (docs/routing.md, "Seeing destinations" and "Removing a
 * destination"; docs/operating.md, "Admin API"): each destination's stats,
 * dead letters, replay, purge, pause, resume and drop act on it alone.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  adminApi,
  callbackRequest,
  callWorker,
  destinationsApp,
  drain,
  expectedEventId,
  heldRows,
  hookTo,
  newBucket,
  queueStub,
  received,
  receiverUrl,
  testEnv,
  textMessage,
  type AppSettings,
} from "../support/wecom.js";
import type { ReceivedRequest } from "../support/receiver.js";

/** One attempt, then a dead letter; no retry of its own during a test. */
const ONE_SHOT = { maxAttempts: 1, minBackoffMs: 600_000, maxBackoffMs: 600_000 };
const OLD_TOKEN = "old-pull-token-0123456789-abcdefghi";
const KEEP_TOKEN = "keep-pull-token-0123456789-abcdefgh";
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function setup(destinations: (app: string) => Record<string, AppSettings>) {
  const app = newBucket("admd");
  const environment = testEnv({ apps: { [app]: destinationsApp(destinations(app)) } });
  return {
    app,
    environment,
    admin: adminApi(environment),
    /** Raw answer of a GET, for the byte-exact dead letter route. */
    async raw(path: string) {
      const response = await callWorker(
        new Request(`https://wecom-edge.test/admin/apps${path}`, { headers: { authorization: `Bearer ${(env as unknown as { ADMIN_TOKEN: string }).ADMIN_TOKEN}` } }),
        environment,
      );
      return { status: response.status, text: await response.text() };
    },
    /** Sends text messages as WeCom would; answers their event ids. */
    async send(...contents: string[]) {
      const ids: string[] = [];
      for (const [i, content] of contents.entries()) {
        const plaintext = textMessage(content, String(8600000000000000000n + BigInt(i)));
        const response = await callWorker(await callbackRequest(app, plaintext), environment);
        expect(await response.text()).toBe("success");
        ids.push(await expectedEventId(app, plaintext));
      }
      return ids;
    },
    toggle: (bucket: string, state: "up" | "down") => fetch(`${receiverUrl()}/toggle/${bucket}/${state}`, { method: "PUT" }),
  };
}

const accepted = (requests: ReceivedRequest[]) => requests.filter((r) => r.status === 200).map((r) => r.headers["webhook-id"]);
const notFound = (message: string) => ({ status: 404, body: { error: { code: "not_found", message } } });

/** Three push destinations: hr (a toggle, down at first) and oa (always 500) make dead letters at once; audit takes everything. */
const threeHooks = (app: string) => ({
  hr: { webhook: hookTo(`toggle/${app}-hr`, ONE_SHOT) },
  oa: { webhook: hookTo(`status/500/${app}-oa`, ONE_SHOT) },
  audit: { webhook: hookTo(`ok/${app}-audit`) },
});

describe("admin API per destination", () => {
  it("shows one destination's stats and dead letters, each naming its destination; the app's dead lists every destination's", async () => {
    const { app, admin, raw, send, toggle } = setup(threeHooks);
    await toggle(`${app}-hr`, "down");
    const [first, second] = await send("first", "second");
    await drain(app);
    const audit = await received(`${app}-audit`);
    expect(audit.map((r) => r.headers["webhook-id"]).sort()).toEqual([first, second].sort());
    const bodyOf = (id: string) => audit.find((r) => r.headers["webhook-id"] === id)!.body;

    expect(await admin("GET", `/${app}/destinations/hr`)).toEqual({
      status: 200,
      body: {
        app,
        name: "hr",
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
        lastError: { at: expect.stringMatching(ISO), message: "attempt 1: webhook answered 503" },
        lastDeliveredAt: null,
      },
    });
    const auditStats = await admin("GET", `/${app}/destinations/audit`);
    expect(auditStats.body).toMatchObject({ app, name: "audit", depth: 0, delivered: 2, dead: 0, lastError: null, lastDeliveredAt: expect.stringMatching(ISO) });

    const letter = (id: string, destination: string, status: number) => ({
      id,
      destination,
      receivedAt: expect.stringMatching(ISO),
      attempts: 1,
      lastError: `attempt 1: webhook answered ${status}`,
      event: JSON.parse(bodyOf(id)),
    });
    expect(await admin("GET", `/${app}/destinations/hr/dead`)).toEqual({ status: 200, body: { events: [letter(first!, "hr", 503), letter(second!, "hr", 503)] } });
    expect(await admin("GET", `/${app}/destinations/oa/dead`)).toEqual({ status: 200, body: { events: [letter(first!, "oa", 500), letter(second!, "oa", 500)] } });
    expect(await admin("GET", `/${app}/destinations/audit/dead`)).toEqual({ status: 200, body: { events: [] } });
    // The app's: destination by destination, in the configuration's order; an event dead at two is listed at each.
    expect(await admin("GET", `/${app}/dead`)).toEqual({
      status: 200,
      body: { events: [letter(first!, "hr", 503), letter(second!, "hr", 503), letter(first!, "oa", 500), letter(second!, "oa", 500)] },
    });
    expect((await admin("GET", `/${app}/dead?limit=3`)).body.events.map((e: { id: string; destination: string }) => [e.id, e.destination])).toEqual([
      [first, "hr"],
      [second, "hr"],
      [first, "oa"],
    ]);

    // One dead letter: the stored event JSON, byte for byte, only at a destination where it is dead.
    expect(await raw(`/${app}/destinations/oa/dead/${second}`)).toEqual({ status: 200, text: bodyOf(second!) });
    expect(await raw(`/${app}/dead/${second}`)).toEqual({ status: 200, text: bodyOf(second!) });
    expect(await admin("GET", `/${app}/destinations/audit/dead/${second}`)).toEqual(notFound(`no dead letter "${second}" in "${app}"`));

    // A destination the app neither configures nor holds: 404, whatever the route.
    expect(await admin("GET", `/${app}/destinations/nope`)).toEqual(notFound(`no destination "nope" in "${app}"`));
    expect(await admin("GET", `/${app}/destinations/nope/dead`)).toEqual(notFound(`no destination "nope" in "${app}"`));
    expect(await admin("POST", `/${app}/destinations/nope/replay`, { all: true })).toEqual(notFound(`no destination "nope" in "${app}"`));
    expect(await admin("POST", `/${app}/destinations/nope/pause`)).toEqual(notFound(`no destination "nope" in "${app}"`));
    expect(await admin("POST", `/${app}/destinations/nope/drop`)).toEqual(notFound(`no destination "nope" in "${app}"`));
    // A configured destination is not dropped.
    expect(await admin("POST", `/${app}/destinations/hr/drop`)).toEqual({
      status: 409,
      body: { error: { code: "conflict", message: 'destination "hr" is configured: remove it from the app\'s destinations first' } },
    });
    expect((await admin("GET", `/${app}/destinations/hr`)).body.dead).toBe(2);
  });

  it("replays and purges one destination's dead letters, leaving the other's; an event leaves with its last dead letter", async () => {
    const { app, admin, send, toggle } = setup(threeHooks);
    await toggle(`${app}-hr`, "down");
    const [first, second] = await send("first", "second");
    await drain(app);
    expect(await heldRows(app)).toEqual({ events: [first, second], deliveries: { hr: { dead: 2 }, oa: { dead: 2 } } });

    await toggle(`${app}-hr`, "up");
    expect(await admin("POST", `/${app}/destinations/hr/replay`, { all: true })).toEqual({ status: 200, body: { replayed: 2 } });
    await drain(app);
    expect(accepted(await received(`${app}-hr`)).sort()).toEqual([first, second].sort());
    // oa's dead letters were not replayed: its receiver saw each event once.
    expect((await received(`${app}-oa`)).map((r) => r.headers["webhook-id"])).toEqual([first, second]);
    expect(await heldRows(app)).toEqual({ events: [first, second], deliveries: { oa: { dead: 2 } } });

    // hr has none left to purge; oa's go one by one, and each event with its last dead letter.
    expect(await admin("POST", `/${app}/destinations/hr/purge`, { all: true })).toEqual({ status: 200, body: { purged: 0 } });
    expect(await admin("POST", `/${app}/destinations/audit/purge`, { ids: [first] })).toEqual({ status: 200, body: { purged: 0 } });
    expect(await admin("POST", `/${app}/destinations/oa/purge`, { ids: [first] })).toEqual({ status: 200, body: { purged: 1 } });
    expect(await heldRows(app)).toEqual({ events: [second], deliveries: { oa: { dead: 1 } } });
    expect(await admin("POST", `/${app}/destinations/oa/purge`, { all: true })).toEqual({ status: 200, body: { purged: 1 } });
    expect(await heldRows(app)).toEqual({ events: [], deliveries: {} });

    const stats = await admin("GET", `/${app}`);
    expect(stats.body.destinations.map((d: Record<string, unknown>) => [d.name, d.depth, d.delivered, d.dead])).toEqual([
      ["hr", 0, 2, 0],
      ["oa", 0, 0, 0],
      ["audit", 0, 2, 0],
    ]);
  });

  it("pauses one destination's pushes while the others go on, and resumes it", async () => {
    const { app, admin, send } = setup((a) => ({ hr: { webhook: hookTo(`ok/${a}-hr`) }, audit: { webhook: hookTo(`ok/${a}-audit`) } }));
    expect(await admin("POST", `/${app}/destinations/hr/pause`)).toEqual({ status: 200, body: { paused: true } });
    const [first, second] = await send("first", "second");
    await drain(app);
    expect(accepted(await received(`${app}-audit`)).sort()).toEqual([first, second].sort());
    expect(await received(`${app}-hr`)).toEqual([]);
    const paused = await admin("GET", `/${app}`);
    expect(paused.body.paused).toBe(false);
    expect(paused.body.destinations.map((d: Record<string, unknown>) => [d.name, d.paused, d.depth, d.queued, d.delivered])).toEqual([
      ["hr", true, 2, 2, 0],
      ["audit", false, 0, 0, 2],
    ]);
    expect(await heldRows(app)).toEqual({ events: [first, second], deliveries: { hr: { queued: 2 } } });
    // An alarm while paused pushes nothing to hr.
    await runInDurableObject(queueStub(app), (instance) => instance.alarm());
    expect(await received(`${app}-hr`)).toEqual([]);

    expect(await admin("POST", `/${app}/destinations/hr/resume`)).toEqual({ status: 200, body: { paused: false } });
    await drain(app);
    expect(accepted(await received(`${app}-hr`)).sort()).toEqual([first, second].sort());
    expect(await heldRows(app)).toEqual({ events: [], deliveries: {} });
    expect((await admin("GET", `/${app}/destinations/hr`)).body).toMatchObject({ paused: false, depth: 0, delivered: 2 });
  });

  it("keeps what a removed destination holds, shown as configured: false, until it is dropped; events leave when no destination holds them", async () => {
    const app = newBucket("admd");
    // old: a pull destination holding all three events live; gone: dead letters; keep: the third event only.
    const configured = (a: string, withRemoved: boolean): AppSettings =>
      destinationsApp({
        ...(withRemoved ? { old: { pull: { token: OLD_TOKEN } } } : {}),
        keep: { match: { Content: "third" }, pull: { token: KEEP_TOKEN } },
        ...(withRemoved ? { gone: { webhook: hookTo(`status/503/${a}-gone`, ONE_SHOT) } } : {}),
        audit: { webhook: hookTo(`ok/${a}-audit`) },
      });
    const before = testEnv({ apps: { [app]: configured(app, true) } });
    const after = testEnv({ apps: { [app]: configured(app, false) } });
    const ids: string[] = [];
    for (const [i, content] of ["first", "second", "third"].entries()) {
      const plaintext = textMessage(content, String(8700000000000000000n + BigInt(i)));
      const response = await callWorker(await callbackRequest(app, plaintext), before);
      expect(response.headers.get("wecom-edge-routed")).toBe(content === "third" ? "old,keep,gone,audit" : "old,gone,audit");
      ids.push(await expectedEventId(app, plaintext));
    }
    const [first, second, third] = ids as [string, string, string];
    await drain(app);
    expect(await heldRows(app)).toEqual({ events: ids, deliveries: { gone: { dead: 3 }, keep: { queued: 1 }, old: { queued: 3 } } });

    // Removed from the configuration: listed after the configured ones, not configured, with all it held.
    const admin = adminApi(after);
    const stats = await admin("GET", `/${app}`);
    expect(stats.body.destinations.map((d: Record<string, unknown>) => [d.name, d.configured, d.mode, d.depth, d.delivered, d.dead])).toEqual([
      ["keep", true, "pull", 1, 0, 0],
      ["audit", true, "push", 0, 3, 0],
      ["old", false, null, 3, 0, 0],
      ["gone", false, null, 0, 0, 3],
    ]);
    expect(await admin("GET", `/${app}/destinations/old`)).toEqual({
      status: 200,
      body: {
        app,
        name: "old",
        configured: false,
        mode: null,
        ordered: false,
        rate: null,
        paused: false,
        health: "up",
        downSince: null,
        depth: 3,
        queued: 3,
        leased: 0,
        retrying: 0,
        delivered: 0,
        dead: 0,
        oldestAgeSeconds: expect.any(Number),
        lastError: null,
        lastDeliveredAt: null,
      },
    });
    // Its dead letters are still listed, by it and by the app.
    expect((await admin("GET", `/${app}/destinations/gone/dead`)).body.events.map((e: Record<string, unknown>) => [e.id, e.destination, e.lastError])).toEqual(
      ids.map((id) => [id, "gone", "attempt 1: webhook answered 503"]),
    );
    expect((await admin("GET", `/${app}/dead`)).body.events.map((e: Record<string, unknown>) => e.destination)).toEqual(["gone", "gone", "gone"]);
    // Its pull API is closed with the destination.
    const pulled = await callWorker(
      new Request(`https://wecom-edge.test/queue/${app}/old/pull`, { method: "POST", headers: { authorization: `Bearer ${OLD_TOKEN}` }, body: "{}" }),
      after,
    );
    expect(pulled.status).toBe(401);
    expect(await heldRows(app)).toEqual({ events: ids, deliveries: { gone: { dead: 3 }, keep: { queued: 1 }, old: { queued: 3 } } });

    // Dropped: everything it held goes; an event another destination still holds stays.
    expect(await admin("POST", `/${app}/destinations/old/drop`)).toEqual({ status: 200, body: { dropped: "old", deliveries: 3 } });
    expect(await heldRows(app)).toEqual({ events: [first, second, third], deliveries: { gone: { dead: 3 }, keep: { queued: 1 } } });
    expect(await admin("POST", `/${app}/destinations/gone/drop`)).toEqual({ status: 200, body: { dropped: "gone", deliveries: 3 } });
    expect(await heldRows(app)).toEqual({ events: [third], deliveries: { keep: { queued: 1 } } });
    expect(await admin("GET", `/${app}/destinations/old`)).toEqual(notFound(`no destination "old" in "${app}"`));
    expect(await admin("POST", `/${app}/destinations/gone/drop`)).toEqual(notFound(`no destination "gone" in "${app}"`));
    const left = await admin("GET", `/${app}`);
    expect(left.body.destinations.map((d: Record<string, unknown>) => d.name)).toEqual(["keep", "audit"]);
    expect(left.body).toMatchObject({ depth: 1, events: 1, dead: 0 });
  });

  it("serves an app named `destinations` on its own routes: a path is scoped to a destination by its route, not by its text", async () => {
    // `destinations` is a valid app name ([a-z0-9_-]{1,64}); its app-level routes once read it as a destination and answered 503.
    const environment = testEnv({ apps: { destinations: destinationsApp({ a: { webhook: hookTo(`ok/${newBucket("dn")}`) } }) } });
    const admin = adminApi(environment);
    expect(await admin("GET", "/destinations/dead")).toEqual({ status: 200, body: { events: [] } });
    expect(await admin("POST", "/destinations/pause")).toEqual({ status: 200, body: { paused: true } });
    expect(await admin("POST", "/destinations/resume")).toEqual({ status: 200, body: { paused: false } });
    expect(await admin("POST", "/destinations/replay", { all: true })).toEqual({ status: 200, body: { replayed: 0 } });
    expect((await admin("GET", "/destinations/dead/evt_none")).status).toBe(404);
    expect((await admin("GET", "/destinations/destinations/a")).body).toMatchObject({ app: "destinations", name: "a", configured: true });
  });
});

import { evictDurableObject } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  callbackRequest,
  callWorker,
  errorOf,
  makeDue,
  newBucket,
  queueRows,
  queueStub,
  TEST_APP,
  testEnv,
  textMessage,
  webhookApp,
} from "../support/wecom.js";

const TOKEN = "pull-token-0123456789-abcdefghij";

function setup() {
  const app = newBucket("pull");
  const other = newBucket("other");
  const environment = testEnv({
    apps: {
      [app]: { ...TEST_APP, pull: { token: TOKEN } },
      [other]: { ...TEST_APP, pull: { token: "another-token-0123456789-abcdef" } },
      [`${app}-hook`]: webhookApp("ok/none"),
    },
  });
  const api = (path: string, body: unknown, token: string | null = TOKEN, target = app) =>
    callWorker(
      new Request(`https://wecom-edge.test/queue/${target}/${path}`, {
        method: "POST",
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
      environment,
    );
  return {
    app,
    other,
    environment,
    pull: async (body: unknown = {}) => {
      const response = await api("pull", body);
      expect(response.status).toBe(200);
      return ((await response.json()) as { events: { id: string; event: { Content: string } }[] }).events;
    },
    ack: async (ids: string[]) => {
      const response = await api("ack", { ids });
      expect(response.status).toBe(200);
      return ((await response.json()) as { acked: number }).acked;
    },
    api,
    async send(...contents: string[]) {
      for (const [i, content] of contents.entries()) {
        const response = await callWorker(await callbackRequest(app, textMessage(content, String(7000 + i))), environment);
        expect(await response.text()).toBe("success");
      }
    },
  };
}

describe("pull API", () => {
  it("leases events oldest first, hides them while leased, and forgets them once acked", async () => {
    const { app, pull, ack, send } = setup();
    await send("one", "two", "three");
    const first = await pull({ max: 2, leaseSeconds: 60 });
    expect(first.map((e) => e.event.Content)).toEqual(["one", "two"]);
    expect(Object.keys(first[0]!)).toEqual(["id", "app", "receiveId", "receivedAt", "format", "event", "raw"]);
    expect(first[0]).toMatchObject({ app, receiveId: TEST_APP.receiveId, format: "xml", raw: textMessage("one", "7000") });

    const second = await pull({});
    expect(second.map((e) => e.event.Content)).toEqual(["three"]);
    expect(await pull()).toEqual([]);

    expect(await ack(first.map((e) => e.id))).toBe(2);
    expect(await ack(first.map((e) => e.id))).toBe(0);
    expect(await ack(["evt_unknown"])).toBe(0);

    // The lease on "three" runs out unacked: it is pulled again. "one" and "two" never are.
    await makeDue(app);
    const again = await pull();
    expect(again.map((e) => e.event.Content)).toEqual(["three"]);
    expect(again[0]!.id).toBe(second[0]!.id);
    expect(await ack([again[0]!.id])).toBe(1);
    await makeDue(app);
    expect(await pull()).toEqual([]);
    expect(await queueRows(app)).toEqual([]);
  });

  it("leases for leaseSeconds (default 60)", async () => {
    const { app, pull, send } = setup();
    await send("a", "b");
    const before = Date.now();
    await pull({ max: 1 });
    await pull({ max: 1, leaseSeconds: 43_200 });
    const after = Date.now();
    const [a, b] = await queueRows(app);
    expect(a!.available_at).toBeGreaterThanOrEqual(before + 60_000);
    expect(a!.available_at).toBeLessThanOrEqual(after + 60_000);
    expect(b!.available_at).toBeGreaterThanOrEqual(before + 43_200_000);
    expect(b!.available_at).toBeLessThanOrEqual(after + 43_200_000);
  });

  it("returns at most max (default 10, up to 100)", async () => {
    const { pull, send } = setup();
    await send(...Array.from({ length: 12 }, (_, i) => `m${i}`));
    expect((await pull()).length).toBe(10);
    expect((await pull({ max: 100 })).length).toBe(2);
  });

  it("queues WeCom's retries once", async () => {
    const { app, pull, environment } = setup();
    for (let i = 0; i < 3; i++) {
      expect((await callWorker(await callbackRequest(app, textMessage("same", "42")), environment)).status).toBe(200);
    }
    expect((await pull()).length).toBe(1);
  });

  it("keeps leases and acks across a restart of the Durable Object", async () => {
    const { app, pull, ack, send } = setup();
    await send("x", "y");
    const leased = await pull({ max: 1 });
    await evictDurableObject(queueStub(app));
    expect((await pull()).map((e) => e.event.Content)).toEqual(["y"]);
    expect(await ack(leased.map((e) => e.id))).toBe(1);
    await evictDurableObject(queueStub(app));
    await makeDue(app);
    expect((await pull()).map((e) => e.event.Content)).toEqual(["y"]);
  });

  it("works through the Worker's own fetch with the deployment's configuration", async () => {
    const response = await exports.default.fetch("https://wecom-edge.test/queue/pulled/pull", {
      method: "POST",
      headers: { authorization: "Bearer pull-token-for-tests-only-0123456789" },
      body: JSON.stringify({ max: 1 }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(await response.json()).toEqual({ events: [], ids: [], lease: null, attempts: {} });
  });

  describe("refusals", () => {
    it.each([
      ["no Authorization header", null],
      ["a wrong token", "pull-token-0123456789-abcdefghiX"],
      ["a prefix of the token", TOKEN.slice(0, -1)],
      ["another app's token", "another-token-0123456789-abcdef"],
    ])("refuses %s with 401", async (_, token) => {
      const { api, send, app } = setup();
      await send("secret");
      const response = await api("pull", {}, token);
      expect(response.headers.get("www-authenticate")).toBe("Bearer");
      expect(await errorOf(response)).toEqual({ status: 401, code: "unauthorized", message: "a valid bearer token is required" });
      expect((await queueRows(app)).map((r) => r.attempts)).toEqual([0]);
    });

    it("refuses a Basic authorization with 401", async () => {
      const { app, environment } = setup();
      const response = await callWorker(
        new Request(`https://wecom-edge.test/queue/${app}/pull`, { method: "POST", headers: { authorization: `Basic ${btoa(`x:${TOKEN}`)}` } }),
        environment,
      );
      expect(response.status).toBe(401);
    });

    it("does not open another app's queue with this app's token", async () => {
      const { api, other } = setup();
      const response = await api("pull", {}, TOKEN, other);
      expect(response.status).toBe(401);
    });

    it("answers an unknown app, an app that pushes and a wrong token with the same 401", async () => {
      const { api, app } = setup();
      const unauthorized = { status: 401, code: "unauthorized", message: "a valid bearer token is required" };
      for (const response of [
        await api("pull", {}, TOKEN, "nope"),
        await api("pull", {}, TOKEN, `${app}-hook`),
        await api("ack", { ids: ["x"] }, TOKEN, `${app}-hook`),
        await api("pull", {}, "pull-token-0123456789-abcdefghiX"),
      ]) {
        expect(response.headers.get("www-authenticate")).toBe("Bearer");
        expect(await errorOf(response)).toEqual(unauthorized);
      }
    });

    it("answers 405 to GET", async () => {
      const { app, environment } = setup();
      const response = await callWorker(new Request(`https://wecom-edge.test/queue/${app}/pull`), environment);
      expect(response.headers.get("allow")).toBe("POST");
      expect(response.status).toBe(405);
    });

    it.each([
      ["max 0", "pull", { max: 0 }, "max must be a whole number from 1 to 100"],
      ["max 101", "pull", { max: 101 }, "max must be a whole number from 1 to 100"],
      ["max as a string", "pull", { max: "10" }, "max must be a whole number from 1 to 100"],
      ["max 1.5", "pull", { max: 1.5 }, "max must be a whole number from 1 to 100"],
      ["leaseSeconds 0", "pull", { leaseSeconds: 0 }, "leaseSeconds must be a whole number from 1 to 43200"],
      ["leaseSeconds 43201", "pull", { leaseSeconds: 43_201 }, "leaseSeconds must be a whole number from 1 to 43200"],
      ["a body that is not JSON", "pull", "max=10", "body must be a JSON object"],
      ["a JSON array", "pull", "[]", "body must be a JSON object"],
      ["ack without ids", "ack", {}, "ids must be an array of at most 1000 event ids"],
      ["ack with a number id", "ack", { ids: [1] }, "ids must be an array of at most 1000 event ids"],
      ["ack with too many ids", "ack", { ids: Array.from({ length: 1001 }, (_, i) => `e${i}`) }, "ids must be an array of at most 1000 event ids"],
    ])("refuses %s with 400, leasing nothing", async (_, path, body, message) => {
      const { api, send, app } = setup();
      await send("kept");
      expect(await errorOf(await api(path, body))).toEqual({ status: 400, code: "invalid_parameter", message });
      expect((await queueRows(app)).map((r) => [r.attempts, r.available_at <= Date.now()])).toEqual([[0, true]]);
    });
  });
});

/**
 * 微信客服 (docs/kf.md), through the Worker: each account's newest Token,
 * the cursor's compare-and-set, and callbacks of one OpenKfId coalesced
 * while their event is undelivered; every bad input refused with nothing
 * kept or queued.
 */
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { PUSH_LIMITS } from "../../src/destinations/push.js";
import {
  adminApi,
  callbackRequest,
  callWorker,
  drain,
  errorOf,
  fillQueue,
  newBucket,
  queueRows,
  queueStub,
  received,
  receiverUrl,
  rowsRead,
  TEST_APP,
  testEnv,
  waitUntil,
  webhookApp,
} from "../support/wecom.js";

const KF_TOKEN = "kf-token-for-the-tests-0123456789abcdef";
const PULL_TOKEN = "kf-pull-token-for-the-tests-0123456789";
const KF_A = "wkAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const KF_B = "wkBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

/** A kf_msg_or_event as WeCom sends it: no FromUserName, a Token valid 10 minutes. */
const kfXml = (openKfId: string, token: string, createTime = 1765000000) =>
  `<xml><ToUserName><![CDATA[${TEST_APP.receiveId}]]></ToUserName><CreateTime>${createTime}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[${token}]]></Token><OpenKfId><![CDATA[${openKfId}]]></OpenKfId></xml>`;

function setup(kf: unknown = { token: KF_TOKEN }) {
  // null: an app without kf.
  const app = newBucket("kf");
  const environment = testEnv({ apps: { [app]: { ...TEST_APP, ...(kf === null ? {} : { kf }), pull: { token: PULL_TOKEN } } } });
  return { app, environment };
}

async function send(app: string, environment: Record<string, unknown>, xml: string): Promise<Response> {
  return callWorker(await callbackRequest(app, xml), environment);
}

function api(app: string, path: string, init: RequestInit = {}, token = KF_TOKEN): Request {
  return new Request(`https://wecom-edge.test/kf/${app}/${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
}

const put = (app: string, openKfId: string, body: unknown, token?: string) =>
  api(app, `${openKfId}/cursor`, { method: "PUT", body: typeof body === "string" ? body : JSON.stringify(body) }, token);

async function pull(app: string, environment: Record<string, unknown>): Promise<{ events: Record<string, unknown>[]; ids: string[] }> {
  const response = await callWorker(
    new Request(`https://wecom-edge.test/queue/${app}/pull`, { method: "POST", headers: { authorization: `Bearer ${PULL_TOKEN}` }, body: '{"max": 10}' }),
    environment,
  );
  return (await response.json()) as { events: Record<string, unknown>[]; ids: string[] };
}

describe("coalescing", () => {
  it("folds an account's later callbacks into its undelivered event: the newest Token, a count, the first id", async () => {
    const { app, environment } = setup();
    const first = await send(app, environment, kfXml(KF_A, "ENC-token-1", 1765000001));
    const id = first.headers.get("wecom-edge-event-id")!;
    expect([first.status, await first.text(), first.headers.get("wecom-edge-coalesced")]).toEqual([200, "success", null]);
    for (const [n, token] of [[2, "ENC-token-2"], [3, "ENC-token-3"]] as const) {
      const later = await send(app, environment, kfXml(KF_A, token, 1765000000 + n));
      expect([later.status, await later.text(), later.headers.get("wecom-edge-event-id"), later.headers.get("wecom-edge-coalesced")]).toEqual([200, "success", id, String(n)]);
    }
    // Another account: an event of its own.
    const other = await send(app, environment, kfXml(KF_B, "ENC-token-b", 1765000004));
    expect(other.headers.get("wecom-edge-coalesced")).toBeNull();

    expect((await queueRows(app)).length).toBe(2);
    const { events } = await pull(app, environment);
    expect(events.map((e) => [e.id, (e.event as Record<string, string>).Token, e.coalesced])).toEqual([
      [id, "ENC-token-3", 3],
      [other.headers.get("wecom-edge-event-id"), "ENC-token-b", undefined],
    ]);
    expect(Object.keys(events[0]!)).toEqual(["id", "app", "receiveId", "receivedAt", "format", "event", "raw", "coalesced"]);
    expect(events[0]!.raw).toBe(kfXml(KF_A, "ENC-token-3", 1765000003));

    const stats = await (await callWorker(new Request(`https://wecom-edge.test/admin/apps/${app}`, { headers: { authorization: `Bearer ${(environment as { ADMIN_TOKEN: string }).ADMIN_TOKEN}` } }), environment)).json();
    expect(stats).toMatchObject({ events: 2, kfCoalesced: 2 });
  });

  it("a callback after its event was leased starts a new event; WeCom's retries stay duplicates", async () => {
    const { app, environment } = setup();
    const first = await send(app, environment, kfXml(KF_A, "t1", 1765000001));
    const second = await send(app, environment, kfXml(KF_A, "t2", 1765000002));
    expect(second.headers.get("wecom-edge-coalesced")).toBe("2");
    // WeCom's retries of both: duplicates, the count unchanged.
    for (const xml of [kfXml(KF_A, "t1", 1765000001), kfXml(KF_A, "t2", 1765000002)]) {
      const retry = await send(app, environment, xml);
      expect([retry.headers.get("wecom-edge-duplicate"), retry.headers.get("wecom-edge-coalesced")]).toEqual(["1", null]);
    }
    const leased = await pull(app, environment);
    expect(leased.events.map((e) => e.coalesced)).toEqual([2]);
    const third = await send(app, environment, kfXml(KF_A, "t3", 1765000003));
    expect(third.headers.get("wecom-edge-coalesced")).toBeNull();
    expect(third.headers.get("wecom-edge-event-id")).not.toBe(first.headers.get("wecom-edge-event-id"));
    const fourth = await send(app, environment, kfXml(KF_A, "t4", 1765000004));
    expect([fourth.headers.get("wecom-edge-event-id"), fourth.headers.get("wecom-edge-coalesced")]).toEqual([third.headers.get("wecom-edge-event-id"), "2"]);
    expect((await queueRows(app)).length).toBe(2);
  });

  it("after a restart, a callback does not fold into an event held before it (its push may have gone out); later ones fold into its own", async () => {
    const { app, environment } = setup();
    const first = await send(app, environment, kfXml(KF_A, "t1", 1765000001));
    await evictDurableObject(queueStub(app));
    const second = await send(app, environment, kfXml(KF_A, "t2", 1765000002));
    expect(second.headers.get("wecom-edge-coalesced")).toBeNull();
    expect(second.headers.get("wecom-edge-event-id")).not.toBe(first.headers.get("wecom-edge-event-id"));
    const third = await send(app, environment, kfXml(KF_A, "t3", 1765000003));
    expect([third.headers.get("wecom-edge-event-id"), third.headers.get("wecom-edge-coalesced")]).toEqual([second.headers.get("wecom-edge-event-id"), "2"]);
    const { events } = await pull(app, environment);
    expect(events.map((e) => [(e.event as Record<string, string>).Token, e.coalesced])).toEqual([
      ["t1", undefined],
      ["t3", 2],
    ]);
  });

  it("a callback does not fold into an event a push batch has read, even one still waiting for its turn to be sent", async () => {
    // Pushed to a receiver that answers only when released, one batch: more events than it sends at once.
    const app = newBucket("kf-batch");
    const environment = testEnv({ apps: { [app]: webhookApp(`hold/${app}`, { kf: { token: KF_TOKEN } }, { timeoutMs: 120_000 }) } });
    const admin = adminApi(environment);
    const accounts = Array.from({ length: PUSH_LIMITS.concurrency + 1 }, (_, i) => `wk${String(i).padStart(28, "0")}`);
    expect((await admin("POST", `/${app}/pause`)).body).toEqual({ paused: true });
    for (const [i, account] of accounts.entries()) expect((await send(app, environment, kfXml(account, `first-${i}`, 1765000100 + i))).status).toBe(200);
    expect((await admin("POST", `/${app}/resume`)).body).toEqual({ paused: false });
    // The first ones are out; the last one's event is read, waiting for a place.
    await waitUntil(app, async () => (await received(app)).length === PUSH_LIMITS.concurrency);
    const last = accounts.at(-1)!;
    const later = await send(app, environment, kfXml(last, "second", 1765000200));
    expect([later.status, later.headers.get("wecom-edge-coalesced")]).toEqual([200, null]);
    await fetch(`${receiverUrl()}/hold/${app}/release`, { method: "PUT" });
    await drain(app);
    // Each of the last account's callbacks reached the intranet, neither lost in a fold its push did not carry.
    const tokens = (await received(app)).map((r) => (JSON.parse(r.body) as { event: { OpenKfId: string; Token: string } }).event).filter((e) => e.OpenKfId === last).map((e) => e.Token);
    expect(tokens).toEqual([`first-${accounts.length - 1}`, "second"]);
  });

  it("folding reads as many rows with a backlog of 2,000 as with none", async () => {
    const fold = async (backlog: number) => {
      const { app, environment } = setup();
      // The backlog first: filling it restarts the object, and a fold goes only into an event held since the last start.
      await fillQueue(app, backlog);
      await send(app, environment, kfXml(KF_A, "t1", 1765000001));
      // Settled first: what is measured is the fold alone.
      await send(app, environment, kfXml(KF_B, "b1", 1765000001));
      const id = "evt_0123456789abcdef0123456789abcdef";
      const body = `{"id":"${id}","app":"${app}","receiveId":"","receivedAt":"2026-12-06T00:00:00.000Z","format":"xml","event":{},"raw":""}`;
      return rowsRead(app, (queue) =>
        queue.enqueue(app, JSON.stringify({ mode: "pull", maxAttempts: 20 }), { id, body, receivedAt: Date.now(), routes: [{ name: "default", key: null }], kind: "", kf: { openKfId: KF_A, token: "t2" } }),
      );
    };
    const none = await fold(0);
    const deep = await fold(2_000);
    expect(deep.result).toMatchObject({ status: "coalesced", count: 2 });
    expect(deep.perQuery).toBe(none.perQuery);
    expect(deep.rows).toBe(none.rows);
    // Settings and dedup (the enqueue's own), the account, the delivery, the event, the new JSON written into the delivery
    // that holds it, the seen-purge's index: none grows with the backlog.
    expect(deep.rows).toBe(12);
  });
});

describe("the Token and the cursor", () => {
  it("answers each account's newest Token, when it came, and its cursor; 404 for one never seen", async () => {
    const { app, environment } = setup();
    expect(await errorOf(await callWorker(api(app, KF_A), environment))).toEqual({ status: 404, code: "not_found", message: "no kf_msg_or_event callback or cursor for this open_kfid yet" });
    const before = Date.now();
    await send(app, environment, kfXml(KF_A, "ENC-token-1"));
    await send(app, environment, kfXml(KF_A, "ENC-token-2", 1765000009));
    const answer = await callWorker(api(app, KF_A), environment);
    expect(answer.headers.get("cache-control")).toBe("no-store");
    const body = (await answer.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(["token", "receivedAt", "cursor"]);
    expect(body).toMatchObject({ token: "ENC-token-2", cursor: null });
    expect(Date.parse(body.receivedAt as string)).toBeGreaterThanOrEqual(before - 1000);
  });

  it("sets the cursor by compare-and-set: null for none, the value read after; a stale one gets 409 and the cursor now", async () => {
    const { app, environment } = setup();
    expect(await (await callWorker(put(app, KF_A, { cursor: "c1", expected: null }), environment)).json()).toEqual({ cursor: "c1" });
    const stale = await callWorker(put(app, KF_A, { cursor: "c2", expected: null }), environment);
    expect([stale.status, await stale.json()]).toEqual([409, { error: { code: "conflict", message: "the cursor is no longer expected: read it again" }, cursor: "c1" }]);
    expect(await (await callWorker(put(app, KF_A, { cursor: "c2", expected: "c1" }), environment)).json()).toEqual({ cursor: "c2" });
    const again = await callWorker(put(app, KF_A, { cursor: "c3", expected: "c1" }), environment);
    expect([again.status, ((await again.json()) as { cursor: string }).cursor]).toEqual([409, "c2"]);
    expect(await (await callWorker(api(app, KF_A), environment)).json()).toEqual({ token: null, receivedAt: null, cursor: "c2" });
  });

  it("refuses bad input with a clear error and changes nothing", async () => {
    const { app, environment } = setup();
    const cases: [unknown, string][] = [
      [{ cursor: "c1" }, "expected must be the cursor as read (null when there was none)"],
      [{ cursor: "c1", expected: 7 }, "expected must be the cursor as read (null when there was none)"],
      [{ cursor: "", expected: null }, "cursor must be 1-1024 visible ASCII characters: sync_msg's next_cursor"],
      [{ cursor: "a b", expected: null }, "cursor must be 1-1024 visible ASCII characters: sync_msg's next_cursor"],
      [{ cursor: "x".repeat(1025), expected: null }, "cursor must be 1-1024 visible ASCII characters: sync_msg's next_cursor"],
      ["[1]", "body must be a JSON object"],
    ];
    for (const [body, message] of cases) {
      expect(await errorOf(await callWorker(put(app, KF_A, body), environment))).toEqual({ status: 400, code: "invalid_parameter", message });
    }
    expect(await errorOf(await callWorker(put(app, "wk%20bad", { cursor: "c", expected: null }), environment))).toEqual({
      status: 400,
      code: "invalid_parameter",
      message: "open_kfid must be 1-64 letters, digits, _ or -",
    });
    expect((await callWorker(api(app, KF_A), environment)).status).toBe(404);
  });

  it("the same 401 for a wrong token, an app without kf, and an unknown app", async () => {
    const { app, environment } = setup();
    const plain = setup(null);
    const unauthorized = { status: 401, code: "unauthorized", message: "a valid bearer token is required" };
    expect(await errorOf(await callWorker(api(app, KF_A, {}, "not-the-kf-token-0123456789abcdef"), environment))).toEqual(unauthorized);
    expect(await errorOf(await callWorker(put(app, KF_A, { cursor: "c", expected: null }, "not-the-kf-token-0123456789abcdef"), environment))).toEqual(unauthorized);
    expect(await errorOf(await callWorker(api(plain.app, KF_A), plain.environment))).toEqual(unauthorized);
    expect(await errorOf(await callWorker(api("nosuchapp", KF_A), environment))).toEqual(unauthorized);
  });
});

describe("kf callbacks", () => {
  it("a kf_msg_or_event without its Token or OpenKfId is refused, and nothing is kept or queued", async () => {
    const { app, environment } = setup();
    const noToken = kfXml(KF_A, "x").replace("<Token><![CDATA[x]]></Token>", "");
    const badId = kfXml("wk bad", "x");
    expect(await errorOf(await send(app, environment, noToken))).toEqual({ status: 400, code: "invalid_parameter", message: "a kf_msg_or_event callback must carry its Token (1-1024 characters)" });
    expect(await errorOf(await send(app, environment, badId))).toEqual({ status: 400, code: "invalid_parameter", message: "a kf_msg_or_event callback must carry its OpenKfId (1-64 letters, digits, _ or -)" });
    expect(await queueRows(app)).toEqual([]);
    expect((await callWorker(api(app, KF_A), environment)).status).toBe(404);
  });

  it("an app without kf queues each kf callback as an event of its own", async () => {
    const { app, environment } = setup(null);
    for (const n of [1, 2, 3]) expect((await send(app, environment, kfXml(KF_A, `t${n}`, 1765000000 + n))).headers.get("wecom-edge-coalesced")).toBeNull();
    expect((await queueRows(app)).length).toBe(3);
  });
});

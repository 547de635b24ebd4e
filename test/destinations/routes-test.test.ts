/**
 * POST /admin/apps/{app}/routes/test (src/routes/routes-test.ts), through the
 * Worker's own fetch: which destinations an event goes to, why not the
 * others, order keys, transforms, and every refusal.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callWorker, errorOf, receiverUrl, TEST_APP, testEnv, WEBHOOK_SECRET } from "../support/wecom.js";

const ADMIN = (env as unknown as { ADMIN_TOKEN: string }).ADMIN_TOKEN;

const webhook = () => ({ url: `${receiverUrl()}/ok/routes-test`, secret: WEBHOOK_SECRET });

/** The company of issue 13, with transforms. */
function hr() {
  return {
    ...TEST_APP,
    destinations: {
      directory: { match: { Event: "change_contact" }, ordered: true, webhook: webhook() },
      oa: { match: { Event: { in: ["sys_approval_change", "open_approval_change"] } }, webhook: webhook(), rate: { perSecond: 5, maxInFlight: 2 } },
      crm: {
        match: { Event: { in: ["change_external_contact", "change_external_chat"] } },
        ordered: { key: "ExternalUserID" },
        transform: '{"user": event.ExternalUserID, "id": id, "app": app}',
        webhook: webhook(),
      },
      bot: { match: { MsgType: { in: ["text", "image", "voice"] } }, pull: { token: "bot-pull-token-for-tests-0123456789" } },
      // A transform that makes no object: the event would be this destination's dead letter.
      names: { match: { Event: "change_contact" }, transform: "event.UserID", webhook: webhook() },
      audit: {
        transform: '{"id": id, "app": app, "receiveId": receiveId, "receivedAt": receivedAt, "format": format, "raw": raw, "keys": $keys($), "kind": event.Event}',
        webhook: webhook(),
      },
    },
  };
}

/** Matches with a typo or a wrong case beside WeCom's own names, and names the catalogue does not type. */
function typos() {
  return {
    ...TEST_APP,
    destinations: {
      contacts: { match: { Event: "change_contacts" }, webhook: webhook() },
      chat: { match: { msgType: "text", MsgType: { not: { in: ["text", "imgae", "Voice"] } } }, webhook: webhook() },
      bots: { match: { any: [{ msgtype: "evnt" }, { "event.eventtype": "enter_chats" }] }, webhook: webhook() },
      // A field and values WeCom sends that the catalogue does not type, and names of the company's own: no hint.
      quiet: { match: { Event: { in: ["meeting_change", "my_own_event"] }, InfoType: "corp_arch_auth", "ApprovalInfo.SpNo": { prefix: "2026" }, Content: { regex: "^hi" }, Department: "1" }, webhook: webhook() },
    },
  };
}

const environment = testEnv({ apps: { typos: typos(), hr: hr(), legacy: { ...TEST_APP, webhook: webhook() }, broken: { ...TEST_APP, destinations: { a: { match: { Event: { in: [] } }, webhook: webhook() } } } } });

async function post(path: string, body: BodyInit | null, headers: Record<string, string> = { authorization: `Bearer ${ADMIN}` }): Promise<Response> {
  return callWorker(new Request(`https://wecom-edge.test/admin/apps/${path}/routes/test`, { method: "POST", headers, body }), environment);
}

async function test(app: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await post(app, JSON.stringify(body));
  expect(response.status).toBe(200);
  expect(response.headers.get("cache-control")).toBe("no-store");
  return (await response.json()) as Record<string, unknown>;
}

const CONTACT = { ToUserName: "ww3e40cde07cc21a01", FromUserName: "sys", CreateTime: "1700000000", MsgType: "event", Event: "change_contact", ChangeType: "update_user", UserID: "zhangsan" };

describe("routes test", () => {
  it("says for each destination, in order, whether it matched, its key, why not, and its transform (event object)", async () => {
    const before = Date.now();
    const answer = await test("hr", CONTACT);
    const after = Date.now();
    const audit = (answer.destinations as Record<string, any>[])[5]!;
    expect(answer).toEqual({
      app: "hr",
      input: "event",
      destinations: [
        { name: "directory", matched: true, key: "", transform: null },
        { name: "oa", matched: false, failed: 'Event: "change_contact" is not in ["sys_approval_change", "open_approval_change"]' },
        { name: "crm", matched: false, failed: 'Event: "change_contact" is not in ["change_external_contact", "change_external_chat"]' },
        { name: "bot", matched: false, failed: 'MsgType: "event" is not in ["text", "image", "voice"]' },
        { name: "names", matched: true, key: null, transform: { ok: false, error: "transform returned a string, not an object" } },
        { name: "audit", matched: true, key: null, transform: audit.transform },
      ],
      matched: ["directory", "names", "audit"],
    });
    // The event JSON built around an event object: the keys a JSON callback's event has, in that order.
    expect(audit.transform).toEqual({
      ok: true,
      body: {
        id: "evt_test",
        app: "hr",
        receiveId: "ww3e40cde07cc21a01",
        receivedAt: audit.transform.body.receivedAt,
        format: "json",
        raw: JSON.stringify(CONTACT),
        keys: ["id", "app", "receiveId", "receivedAt", "format", "event", "raw"],
        kind: "change_contact",
      },
    });
    // receivedAt: when the test was asked, as an ISO time.
    const receivedAt = audit.transform.body.receivedAt as string;
    expect(new Date(Date.parse(receivedAt)).toISOString()).toBe(receivedAt);
    expect(Date.parse(receivedAt) >= before && Date.parse(receivedAt) <= after).toBe(true);
  });

  it("reads a full event (an object event and a string id) as the intranet receives it", async () => {
    const full = {
      id: "evt_0123456789abcdef0123456789abcdef",
      app: "hr",
      receiveId: "ww3e40cde07cc21a01",
      receivedAt: "2026-11-29T08:57:16.651Z",
      format: "xml",
      event: { ...CONTACT, Event: "change_external_contact", ExternalUserID: "wmABC" },
      raw: "<xml>…</xml>",
    };
    const answer = await test("hr", full);
    expect(answer).toEqual({
      app: "hr",
      input: "full",
      destinations: [
        { name: "directory", matched: false, failed: 'Event: "change_external_contact" is not "change_contact"' },
        { name: "oa", matched: false, failed: 'Event: "change_external_contact" is not in ["sys_approval_change", "open_approval_change"]' },
        { name: "crm", matched: true, key: "wmABC", transform: { ok: true, body: { user: "wmABC", id: "evt_0123456789abcdef0123456789abcdef", app: "hr" } } },
        { name: "bot", matched: false, failed: 'MsgType: "event" is not in ["text", "image", "voice"]' },
        { name: "names", matched: false, failed: 'Event: "change_external_contact" is not "change_contact"' },
        {
          name: "audit",
          matched: true,
          key: null,
          transform: {
            ok: true,
            body: { id: full.id, app: "hr", receiveId: "ww3e40cde07cc21a01", receivedAt: "2026-11-29T08:57:16.651Z", format: "xml", raw: "<xml>…</xml>", keys: ["id", "app", "receiveId", "receivedAt", "format", "event", "raw"], kind: "change_external_contact" },
          },
        },
      ],
      matched: ["crm", "audit"],
    });
  });

  it("takes a body with an event object but no string id as an event object (an AI bot's event has an event key)", async () => {
    const bot = { msgid: "m1", aibotid: "aib", chattype: "single", from: { userid: "zhangsan" }, msgtype: "event", event: { eventtype: "enter_chat" } };
    const answer = await test("hr", bot);
    expect(answer.input).toBe("event");
    expect(answer.matched).toEqual(["audit"]);
    expect((answer.destinations as unknown[])[0]).toEqual({ name: "directory", matched: false, failed: "Event: missing" });
    // A string id beside an event that is not an object: still the event object.
    expect((await test("hr", { id: "x", event: "change_contact", Event: "change_contact" })).input).toBe("event");
  });

  it("gives an ordered key's value as text, and \"\" when the key's path is missing", async () => {
    const keyed = async (event: Record<string, unknown>) => ((await test("hr", event)).destinations as Record<string, unknown>[])[2];
    expect(await keyed({ Event: "change_external_chat", ExternalUserID: 12345 })).toMatchObject({ name: "crm", matched: true, key: "12345" });
    expect(await keyed({ Event: "change_external_chat" })).toMatchObject({ name: "crm", matched: true, key: "" });
    expect(await keyed({ Event: "change_external_chat", ExternalUserID: { a: 1 } })).toMatchObject({ name: "crm", matched: true, key: "" });
  });

  it("answers an event that matches nothing with every reason and an empty matched list", async () => {
    const answer = await test("legacy", { MsgType: "text" });
    // A legacy app: one destination, "default", without a match.
    expect(answer).toEqual({ app: "legacy", input: "event", destinations: [{ name: "default", matched: true, key: null, transform: null }], matched: ["default"] });
    const none = await test("hr", { MsgType: "location" });
    expect(none.matched).toEqual(["audit"]);
  });
});

describe("routes test hints", () => {
  it("names a match's field or value, and the event's, that is close to one WeCom sends but not it; nothing else", async () => {
    const answer = await test("typos", { MsgType: "evnet", Event: "chnage_contact", ChangeType: "create_user" });
    expect(answer).toEqual({
      app: "typos",
      input: "event",
      destinations: [
        { name: "contacts", matched: false, failed: 'Event: "chnage_contact" is not "change_contacts"', hints: ['Event "change_contacts" is not one WeCom sends; did you mean "change_contact"?'] },
        {
          name: "chat",
          matched: false,
          failed: "msgType: missing",
          hints: [
            `msgType: no callback in WeCom's catalogue has a field "msgType"; did you mean "MsgType"?`,
            'MsgType "imgae" is not one WeCom sends; did you mean "image"?',
            'MsgType "Voice" is not one WeCom sends; did you mean "voice"?',
          ],
        },
        {
          name: "bots",
          matched: false,
          failed: 'any: none of the alternatives held: [0] msgtype: missing; [1] event.eventtype: missing',
          hints: ['msgtype "evnt" is not one WeCom sends; did you mean "event"?', 'event.eventtype "enter_chats" is not one WeCom sends; did you mean "enter_chat"?'],
        },
        { name: "quiet", matched: false, failed: 'Event: "chnage_contact" is not in ["meeting_change", "my_own_event"]' },
      ],
      matched: [],
      hints: [`the event's MsgType "evnet" is not one WeCom sends; did you mean "event"?`, `the event's Event "chnage_contact" is not one WeCom sends; did you mean "change_contact"?`],
    });
  });

  it("gives no hint for the catalogue's own names (the company of issue 13)", async () => {
    const answer = await test("hr", { MsgType: "event", Event: "change_external_tag", ChangeType: "shuffle" });
    expect(answer.hints).toBeUndefined();
    expect((answer.destinations as Record<string, unknown>[]).filter((d) => d.hints !== undefined)).toEqual([]);
  });
});

describe("routes test refusals", () => {
  it("401 without the admin token, or with another", async () => {
    const headers = { "cf-connecting-ip": "203.0.113.77" };
    expect(await errorOf(await post("hr", "{}", headers))).toMatchObject({ status: 401, code: "unauthorized" });
    expect(await errorOf(await post("hr", "{}", { ...headers, authorization: "Bearer not-the-admin-token-0123456789" }))).toMatchObject({ status: 401, code: "unauthorized" });
  });

  it("404 for an app that is not configured", async () => {
    expect(await errorOf(await post("nosuch", "{}"))).toEqual({ status: 404, code: "unknown_app", message: 'no app named "nosuch"' });
  });

  it("503 for an app whose entry is invalid, saying what is wrong (this is the admin API)", async () => {
    expect(await errorOf(await post("broken", "{}"))).toEqual({
      status: 503,
      code: "invalid_config",
      message: 'app "broken" is misconfigured: WECOM_APPS.broken.destinations.a.match.Event.in must be a non-empty array of strings',
    });
  });

  it("400 for a body that is not a JSON object", async () => {
    const message = "body must be a JSON object: an event as the intranet receives it, or its event object";
    for (const body of ["{", "", "[1]", '"change_contact"', "null", "12"]) {
      expect(await errorOf(await post("hr", body))).toEqual({ status: 400, code: "invalid_parameter", message });
    }
    expect(await errorOf(await post("hr", new Uint8Array([0x7b, 0xff, 0x7d])))).toEqual({ status: 400, code: "invalid_parameter", message: "body is not valid UTF-8" });
  });

  it("413 for a body over 1 MiB; 1 MiB exactly is read", async () => {
    const within = JSON.stringify({ MsgType: "text", Content: "" }).replace('""', `"${"a".repeat(1024 * 1024 - 31)}"`);
    expect(within.length).toBe(1024 * 1024);
    expect(await (await post("hr", within)).json()).toMatchObject({ matched: ["bot", "audit"] });
    expect(await errorOf(await post("hr", `${within} `))).toEqual({ status: 413, code: "payload_too_large", message: "body is larger than 1048576 bytes" });
  });

  it("405 for another method", async () => {
    const response = await callWorker(new Request("https://wecom-edge.test/admin/apps/hr/routes/test", { headers: { authorization: `Bearer ${ADMIN}` } }), environment);
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
  });
});

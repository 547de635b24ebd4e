/**
 * Routing through the Worker's own fetch, with real HTTP receivers: the
 * company example of docs/routing.md (issue 13). Each callback goes to the
 * destinations whose match holds, stored once, each destination delivered
 * on its own; an event that matches none is unrouted.
 */
import { runInDurableObject } from "cloudflare:test";
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
  TEST_APP,
  testEnv,
  textMessage,
  waitUntil,
  xmlCallback,
  type AppSettings,
  STORED_EVENTS,
} from "../support/wecom.js";
import type { ReceivedRequest } from "../support/receiver.js";

const BOT_TOKEN = "bot-pull-token-0123456789-abcdefgh";
/** Keeps a failed push from being retried by itself during a test. */
const SLOW_RETRY = { minBackoffMs: 600_000, maxBackoffMs: 600_000 };

// ---- the callbacks, as WeCom sends them, and the event objects the intranet must get ----

const CREATE_USER = xmlCallback(
  "<FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1732788000</CreateTime><MsgType><![CDATA[event]]></MsgType>" +
    "<Event><![CDATA[change_contact]]></Event><ChangeType><![CDATA[create_user]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID>" +
    "<Name><![CDATA[张三]]></Name><Department><![CDATA[1,2]]></Department><Mobile><![CDATA[13800000000]]></Mobile>",
);
const CREATE_USER_EVENT = {
  ToUserName: TEST_APP.receiveId,
  FromUserName: "sys",
  CreateTime: "1732788000",
  MsgType: "event",
  Event: "change_contact",
  ChangeType: "create_user",
  UserID: "zhangsan",
  Name: "张三",
  Department: "1,2",
  Mobile: "13800000000",
};

const UPDATE_USER = xmlCallback(
  "<FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1732788060</CreateTime><MsgType><![CDATA[event]]></MsgType>" +
    "<Event><![CDATA[change_contact]]></Event><ChangeType><![CDATA[update_user]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID>" +
    "<NewUserID><![CDATA[zhangsan001]]></NewUserID><Name><![CDATA[张三]]></Name>",
);
const UPDATE_USER_EVENT = {
  ToUserName: TEST_APP.receiveId,
  FromUserName: "sys",
  CreateTime: "1732788060",
  MsgType: "event",
  Event: "change_contact",
  ChangeType: "update_user",
  UserID: "zhangsan",
  NewUserID: "zhangsan001",
  Name: "张三",
};

function approval(spNo: string): string {
  return xmlCallback(
    "<FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1732788120</CreateTime><MsgType><![CDATA[event]]></MsgType>" +
      "<Event><![CDATA[sys_approval_change]]></Event><AgentID>3010040</AgentID>" +
      `<ApprovalInfo><SpNo>${spNo}</SpNo><SpName><![CDATA[请假]]></SpName><SpStatus>1</SpStatus>` +
      "<TemplateId><![CDATA[3TkZjxgodpHrmGpb8sDtxNYp1tDgbLuXGHmz1YFF]]></TemplateId><ApplyTime>1732788100</ApplyTime>" +
      "<Applyer><UserId><![CDATA[zhangsan]]></UserId><Party><![CDATA[1]]></Party></Applyer>" +
      "<SpRecord><SpStatus>1</SpStatus><ApproverAttr>1</ApproverAttr><Details><Approver><UserId><![CDATA[lisi]]></UserId></Approver>" +
      "<Speech></Speech><SpStatus>1</SpStatus><SpTime>0</SpTime></Details></SpRecord><StatuChangeEvent>1</StatuChangeEvent></ApprovalInfo>",
  );
}
const APPROVAL = approval("202411280001");
const APPROVAL_EVENT = {
  ToUserName: TEST_APP.receiveId,
  FromUserName: "sys",
  CreateTime: "1732788120",
  MsgType: "event",
  Event: "sys_approval_change",
  AgentID: "3010040",
  ApprovalInfo: {
    SpNo: "202411280001",
    SpName: "请假",
    SpStatus: "1",
    TemplateId: "3TkZjxgodpHrmGpb8sDtxNYp1tDgbLuXGHmz1YFF",
    ApplyTime: "1732788100",
    Applyer: { UserId: "zhangsan", Party: "1" },
    SpRecord: [{ SpStatus: "1", ApproverAttr: "1", Details: [{ Approver: { UserId: "lisi" }, Speech: "", SpStatus: "1", SpTime: "0" }] }],
    StatuChangeEvent: "1",
  },
};

const ADD_EXTERNAL = xmlCallback(
  "<FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1732788180</CreateTime><MsgType><![CDATA[event]]></MsgType>" +
    "<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>" +
    "<UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[wmEAlECwAAHrbWYDOK5u3Af13xlYDDNQ]]></ExternalUserID>" +
    "<State><![CDATA[teststate]]></State><WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode>",
);
const ADD_EXTERNAL_EVENT = {
  ToUserName: TEST_APP.receiveId,
  FromUserName: "sys",
  CreateTime: "1732788180",
  MsgType: "event",
  Event: "change_external_contact",
  ChangeType: "add_external_contact",
  UserID: "zhangsan",
  ExternalUserID: "wmEAlECwAAHrbWYDOK5u3Af13xlYDDNQ",
  State: "teststate",
  WelcomeCode: "WELCOMECODE",
};

const TEXT = textMessage("请问年假怎么申请？", "7300000000000000001");
const TEXT_EVENT = {
  ToUserName: TEST_APP.receiveId,
  FromUserName: "zhangsan",
  CreateTime: "1700000000",
  MsgType: "text",
  Content: "请问年假怎么申请？",
  MsgId: "7300000000000000001",
  AgentID: "1000002",
};

const CLICK = xmlCallback(
  "<FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>1732788240</CreateTime><MsgType><![CDATA[event]]></MsgType>" +
    "<Event><![CDATA[click]]></Event><EventKey><![CDATA[V1001_LEAVE_BALANCE]]></EventKey><AgentID>1000002</AgentID>",
);
const CLICK_EVENT = {
  ToUserName: TEST_APP.receiveId,
  FromUserName: "zhangsan",
  CreateTime: "1732788240",
  MsgType: "event",
  Event: "click",
  EventKey: "V1001_LEAVE_BALANCE",
  AgentID: "1000002",
};

const EXTERNAL_TAG = xmlCallback(
  "<FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1732788300</CreateTime><MsgType><![CDATA[event]]></MsgType>" +
    "<Event><![CDATA[change_external_tag]]></Event><Id><![CDATA[etm7wjCgAAhjR8Zm6Ti1UOKPkM9q5ZeQ]]></Id>" +
    "<TagType><![CDATA[tag]]></TagType><ChangeType><![CDATA[create]]></ChangeType>",
);

// ---- the company of docs/routing.md ----

interface Paths {
  directory?: string;
  oa?: string;
  crm?: string;
  audit?: string;
}

/** The five destinations, in its order; each push destination at its own receiver bucket (`{app}-{name}`) unless `paths` says otherwise. */
function company(app: string, paths: Paths = {}, oaWebhook: AppSettings = {}, withAudit = true, withBot = true): Record<string, AppSettings> {
  return {
    directory: { match: { Event: "change_contact" }, ordered: true, webhook: hookTo(paths.directory ?? `ok/${app}-directory`) },
    oa: {
      match: { Event: { in: ["sys_approval_change", "open_approval_change"] } },
      rate: { perSecond: 5, maxInFlight: 2 },
      webhook: hookTo(paths.oa ?? `ok/${app}-oa`, oaWebhook),
    },
    crm: { match: { Event: { in: ["change_external_contact", "change_external_chat"] } }, webhook: hookTo(paths.crm ?? `ok/${app}-crm`) },
    ...(withBot ? { bot: { match: { MsgType: { in: ["text", "image", "voice"] } }, pull: { token: BOT_TOKEN } } } : {}),
    ...(withAudit ? { audit: { webhook: hookTo(paths.audit ?? `ok/${app}-audit`) } } : {}),
  };
}

function setup(destinations: (app: string) => Record<string, AppSettings>) {
  const app = newBucket("route");
  const environment = testEnv({ apps: { [app]: destinationsApp(destinations(app)) } });
  return { app, environment, admin: adminApi(environment), ...senders(app, environment) };
}

function senders(app: string, environment: Record<string, unknown>) {
  /** Sends one callback as WeCom would; answers what the gateway said, headers included. */
  const send = async (plaintext: string) => {
    const response = await callWorker(await callbackRequest(app, plaintext), environment);
    return {
      status: response.status,
      text: await response.text(),
      routed: response.headers.get("wecom-edge-routed"),
      duplicate: response.headers.get("wecom-edge-duplicate"),
      id: response.headers.get("wecom-edge-event-id"),
    };
  };
  return { send };
}

const ids = (requests: ReceivedRequest[]) => requests.map((r) => r.headers["webhook-id"]);

/** The stored event JSON of each event the queue holds, by id. */
function storedBodies(app: string): Promise<Map<string, string>> {
  return runInDurableObject(queueStub(app), (_, state) => {
    const rows = state.storage.sql.exec<{ id: string; body: string }>(`${STORED_EVENTS} ORDER BY e.seq`).toArray();
    return new Map(rows.map((row) => [row.id, row.body]));
  });
}

/** A destination's stats with the defaults of one that is up, configured, unpaused and pushes. */
function destination(name: string, fields: Record<string, unknown>) {
  return {
    name,
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
    dead: 0,
    oldestAgeSeconds: null,
    lastError: null,
    lastDeliveredAt: null,
    ...fields,
  };
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe("routing the company example (docs/routing.md)", () => {
  it("sends each callback to exactly the destinations it matched, stores it once, and delivers the same bytes to each", async () => {
    const { app, environment, admin, send } = setup((a) => company(a));
    // Paused, every delivery stays put: what was committed can be read before anything is delivered.
    expect(await admin("POST", `/${app}/pause`)).toEqual({ status: 200, body: { paused: true } });

    const callbacks = [
      { plaintext: CREATE_USER, event: CREATE_USER_EVENT, routed: "directory,audit" },
      { plaintext: UPDATE_USER, event: UPDATE_USER_EVENT, routed: "directory,audit" },
      { plaintext: APPROVAL, event: APPROVAL_EVENT, routed: "oa,audit" },
      { plaintext: ADD_EXTERNAL, event: ADD_EXTERNAL_EVENT, routed: "crm,audit" },
      { plaintext: TEXT, event: TEXT_EVENT, routed: "bot,audit" },
      { plaintext: CLICK, event: CLICK_EVENT, routed: "audit" },
    ];
    const started = Date.now();
    const id: string[] = [];
    for (const callback of callbacks) {
      const answer = await send(callback.plaintext);
      id.push(await expectedEventId(app, callback.plaintext));
      expect(answer).toEqual({ status: 200, text: "success", routed: callback.routed, duplicate: null, id: id[id.length - 1] });
    }
    const [createUser, updateUser, approvalId, external, text, click] = id as [string, string, string, string, string, string];

    // Stored once each, with one delivery per destination it matched.
    expect(await heldRows(app)).toEqual({
      events: id,
      // Ordered: update_user is held behind create_user.
      deliveries: { audit: { queued: 6 }, bot: { queued: 1 }, crm: { queued: 1 }, directory: { held: 1, queued: 1 }, oa: { queued: 1 } },
    });
    expect(await runInDurableObject(queueStub(app), (_, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM events").one().n)).toBe(6);

    // A resend of a held event is a duplicate, routed as before, and queues nothing new.
    expect(await send(CREATE_USER)).toEqual({ status: 200, text: "success", routed: "directory,audit", duplicate: "1", id: createUser });
    const held = await heldRows(app);
    expect(held.events).toEqual(id);
    expect(held.deliveries.audit).toEqual({ queued: 6 });

    // The stored JSON is the documented event JSON, fields in order, byte for byte.
    const bodies = await storedBodies(app);
    for (const [i, callback] of callbacks.entries()) {
      const body = bodies.get(id[i]!)!;
      const receivedAt = (JSON.parse(body) as { receivedAt: string }).receivedAt;
      expect(receivedAt).toMatch(ISO);
      expect(Date.parse(receivedAt)).toBeGreaterThanOrEqual(started - 1000);
      expect(body).toBe(
        JSON.stringify({ id: id[i], app, receiveId: TEST_APP.receiveId, receivedAt, format: "xml", event: callback.event, raw: callback.plaintext }),
      );
    }

    expect(await admin("POST", `/${app}/resume`)).toEqual({ status: 200, body: { paused: false } });
    await drain(app);

    const directory = await received(`${app}-directory`);
    const oa = await received(`${app}-oa`);
    const crm = await received(`${app}-crm`);
    const audit = await received(`${app}-audit`);
    // Ordered: the directory gets create_user before update_user.
    expect(ids(directory)).toEqual([createUser, updateUser]);
    expect(ids(oa)).toEqual([approvalId]);
    expect(ids(crm)).toEqual([external]);
    expect(ids(audit).sort()).toEqual([...id].sort());
    for (const request of [...directory, ...oa, ...crm, ...audit]) {
      expect(request.status).toBe(200);
      expect(request.headers["wecom-edge-attempt"]).toBe("1");
      expect(request.body).toBe(bodies.get(request.headers["webhook-id"]!));
    }

    // Only the bot's delivery of the text is left: the event row stays for it alone.
    expect(await heldRows(app)).toEqual({ events: [text], deliveries: { bot: { queued: 1 } } });
    const pulled = await callWorker(
      new Request(`https://wecom-edge.test/queue/${app}/bot/pull`, { method: "POST", headers: { authorization: `Bearer ${BOT_TOKEN}` }, body: "{}" }),
      environment,
    );
    const pulledText = await pulled.text();
    const lease = (JSON.parse(pulledText) as { lease: string }).lease;
    // Spliced in as stored, the same bytes the pushes carried.
    expect(pulledText).toBe(`{"events":[${bodies.get(text)}],"ids":["${text}"],"lease":"${lease}","attempts":{"${text}":1}}`);

    const mid = await admin("GET", `/${app}`);
    expect(mid.body.destinations.find((d: { name: string }) => d.name === "bot")).toEqual(
      destination("bot", { mode: "pull", depth: 1, leased: 1, oldestAgeSeconds: expect.any(Number) }),
    );
    const acked = await callWorker(
      new Request(`https://wecom-edge.test/queue/${app}/bot/ack`, {
        method: "POST",
        headers: { authorization: `Bearer ${BOT_TOKEN}` },
        body: JSON.stringify({ ids: [text], lease }),
      }),
      environment,
    );
    expect(await acked.json()).toEqual({ acked: 1, notAcked: [] });
    expect(await heldRows(app)).toEqual({ events: [], deliveries: {} });

    const stats = await admin("GET", `/${app}`);
    expect(stats.status).toBe(200);
    const delivered = { lastDeliveredAt: expect.stringMatching(ISO) };
    expect(stats.body.destinations).toEqual([
      destination("directory", { ordered: true, delivered: 2, ...delivered }),
      destination("oa", { rate: { perSecond: 5, maxInFlight: 2 }, delivered: 1, ...delivered }),
      destination("crm", { delivered: 1, ...delivered }),
      destination("bot", { mode: "pull", delivered: 1, ...delivered }),
      destination("audit", { delivered: 6, ...delivered }),
    ]);
    expect(stats.body).toMatchObject({ mode: "mixed", paused: false, depth: 0, events: 0, delivered: 11, dead: 0, lastError: null, unrouted: {} });
    // The click went to audit alone; nobody else saw it.
    expect([...directory, ...oa, ...crm].some((r) => r.headers["webhook-id"] === click)).toBe(false);
  });

  it("answers an event that matches no destination with success, keeps nothing, counts it by kind, and takes its resend as a duplicate", async () => {
    // Without audit and bot, every destination has a match: a click, a text and an external tag fall through.
    const { app, admin, send } = setup((a) => company(a, {}, {}, false, false));
    const click = await expectedEventId(app, CLICK);
    const text = await expectedEventId(app, TEXT);
    const tag = await expectedEventId(app, EXTERNAL_TAG);
    const createUser = await expectedEventId(app, CREATE_USER);

    expect(await send(CLICK)).toEqual({ status: 200, text: "success", routed: "", duplicate: null, id: click });
    expect(await send(TEXT)).toEqual({ status: 200, text: "success", routed: "", duplicate: null, id: text });
    expect(await send(EXTERNAL_TAG)).toEqual({ status: 200, text: "success", routed: "", duplicate: null, id: tag });
    expect(await send(CREATE_USER)).toEqual({ status: 200, text: "success", routed: "directory", duplicate: null, id: createUser });
    // WeCom's resends of an unrouted event are duplicates: not counted again.
    expect(await send(CLICK)).toEqual({ status: 200, text: "success", routed: "", duplicate: "1", id: click });
    expect(await send(TEXT)).toEqual({ status: 200, text: "success", routed: "", duplicate: "1", id: text });

    await drain(app);
    expect(ids(await received(`${app}-directory`))).toEqual([createUser]);
    expect(await received(`${app}-oa`)).toEqual([]);
    expect(await received(`${app}-crm`)).toEqual([]);
    // Nothing of the unrouted ones was stored, and the routed one left once delivered.
    expect(await heldRows(app)).toEqual({ events: [], deliveries: {} });

    const stats = await admin("GET", `/${app}`);
    expect(stats.body.unrouted).toEqual({ "event/click": 1, text: 1, "event/change_external_tag/create": 1 });
    expect(stats.body).toMatchObject({ mode: "push", depth: 0, events: 0, delivered: 1 });
    expect(stats.body.destinations.map((d: { name: string; delivered: number }) => [d.name, d.delivered])).toEqual([
      ["directory", 1],
      ["oa", 0],
      ["crm", 0],
    ]);
  });
});

describe("independent delivery (docs/routing.md)", () => {
  it("keeps delivering to directory and audit while oa answers 500, and shows oa's failures in oa's stats alone", async () => {
    const { app, admin, send } = setup((a) => company(a, { oa: `status/500/${a}-oa` }, SLOW_RETRY));
    const sent = [APPROVAL, CREATE_USER, approval("202411280002"), UPDATE_USER, ADD_EXTERNAL];
    const id: string[] = [];
    for (const plaintext of sent) {
      expect((await send(plaintext)).text).toBe("success");
      id.push(await expectedEventId(app, plaintext));
    }
    const [approval1, createUser, approval2, updateUser, external] = id as [string, string, string, string, string];
    await drain(app);

    expect(ids(await received(`${app}-directory`))).toEqual([createUser, updateUser]);
    expect(ids(await received(`${app}-crm`))).toEqual([external]);
    expect(ids(await received(`${app}-audit`)).sort()).toEqual([...id].sort());
    const oa = await received(`${app}-oa`);
    expect(oa.map((r) => [r.headers["webhook-id"], r.status])).toEqual([
      [approval1, 500],
      [approval2, 500],
    ]);

    // oa's two events wait for oa alone; everything else has left.
    expect(await heldRows(app)).toEqual({ events: [approval1, approval2], deliveries: { oa: { queued: 2 } } });
    const stats = await admin("GET", `/${app}`);
    const delivered = { lastDeliveredAt: expect.stringMatching(ISO) };
    const failed = { at: expect.stringMatching(ISO), message: "attempt 1: webhook answered 500" };
    expect(stats.body.destinations).toEqual([
      destination("directory", { ordered: true, delivered: 2, ...delivered }),
      destination("oa", { rate: { perSecond: 5, maxInFlight: 2 }, depth: 2, retrying: 2, oldestAgeSeconds: expect.any(Number), lastError: failed }),
      destination("crm", { delivered: 1, ...delivered }),
      destination("bot", { mode: "pull" }),
      destination("audit", { delivered: 5, ...delivered }),
    ]);
    expect(stats.body).toMatchObject({ depth: 2, events: 2, delivered: 8, retrying: 2, lastError: failed });
  });

  it("delivers to the other destinations while oa's push hangs unanswered", async () => {
    // oa's receiver records each request at once and answers none until released; its timeout is far off.
    const { app, send } = setup((a) => company(a, { oa: `hold/${a}-oa` }, { timeoutMs: 120_000 }));
    const sent = [APPROVAL, CREATE_USER, approval("202411280002"), UPDATE_USER, ADD_EXTERNAL, TEXT];
    const id: string[] = [];
    for (const plaintext of sent) {
      expect((await send(plaintext)).text).toBe("success");
      id.push(await expectedEventId(app, plaintext));
    }
    const [approval1, createUser, approval2, updateUser, external] = id as [string, string, string, string, string];

    await waitUntil(app, async () => (await received(`${app}-audit`)).length === 6 && (await received(`${app}-directory`)).length === 2);
    expect(ids(await received(`${app}-directory`))).toEqual([createUser, updateUser]);
    expect(ids(await received(`${app}-crm`))).toEqual([external]);
    expect(ids(await received(`${app}-audit`)).sort()).toEqual([...id].sort());
    // Everything else arrived while oa's first push was still open, unanswered.
    expect(ids(await received(`${app}-oa`))).toEqual([approval1]);
    expect((await queueStub(app).stats(app)).destinations.find((d) => d.name === "oa")).toMatchObject({ depth: 2, leased: 1, delivered: 0 });

    await fetch(`${receiverUrl()}/hold/${app}-oa/release`, { method: "PUT" });
    await drain(app);
    expect(ids(await received(`${app}-oa`))).toEqual([approval1, approval2]);
    const stats = await queueStub(app).stats(app);
    expect(stats.destinations.map((d) => [d.name, d.depth, d.delivered, d.lastError])).toEqual([
      ["directory", 0, 2, null],
      ["oa", 0, 2, null],
      ["crm", 0, 1, null],
      ["bot", 1, 0, null],
      ["audit", 0, 6, null],
    ]);
  });
});

describe("changing a destination's match", () => {
  it("routes only the events committed afterwards by the new match; those committed before keep their deliveries", async () => {
    const app = newBucket("rematch");
    const before = testEnv({
      apps: {
        [app]: destinationsApp({
          hr: { match: { Event: "change_contact" }, webhook: hookTo(`ok/${app}-hr`) },
          audit: { webhook: hookTo(`ok/${app}-audit`) },
        }),
      },
    });
    const after = testEnv({
      apps: {
        [app]: destinationsApp({
          hr: { match: { Event: "sys_approval_change" }, webhook: hookTo(`ok/${app}-hr`) },
          audit: { webhook: hookTo(`ok/${app}-audit`) },
        }),
      },
    });
    // hr is paused, so the event committed under the old match is still waiting when the match changes.
    expect(await adminApi(before)("POST", `/${app}/destinations/hr/pause`)).toEqual({ status: 200, body: { paused: true } });
    const first = senders(app, before);
    const second = senders(app, after);
    const createUser = await expectedEventId(app, CREATE_USER);
    const updateUser = await expectedEventId(app, UPDATE_USER);
    const approvalId = await expectedEventId(app, APPROVAL);

    expect((await first.send(CREATE_USER)).routed).toBe("hr,audit");
    expect((await second.send(UPDATE_USER)).routed).toBe("audit");
    expect((await second.send(APPROVAL)).routed).toBe("hr,audit");

    expect(await adminApi(after)("POST", `/${app}/destinations/hr/resume`)).toEqual({ status: 200, body: { paused: false } });
    await drain(app);
    expect(ids(await received(`${app}-hr`))).toEqual([createUser, approvalId]);
    expect(ids(await received(`${app}-audit`)).sort()).toEqual([createUser, updateUser, approvalId].sort());
    expect(await heldRows(app)).toEqual({ events: [], deliveries: {} });
  });
});

/**
 * Third-party suites and 代开发 templates (docs/providers.md), through the
 * Worker: the instruction URL and the data URL each with its receiveIds,
 * right and wrong; the suite_ticket kept, refused, and served; what reaches
 * the intranet, and that nothing does for a refused callback.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import {
  callWorker,
  encrypt,
  envelope,
  errorOf,
  newBucket,
  queueRows,
  queueStub,
  received,
  receiverUrl,
  sign,
  TEST_APP,
  testEnv,
  WEBHOOK_SECRET,
} from "../support/wecom.js";

const SUITE_ID = "wwsuite7d1e9a2c0b4f";
const PROVIDER = "wwprovider3e40cde07";
const TICKET_TOKEN = "suite-ticket-token-for-tests-0123456789";
const CORP_A = "wpCorpA_x7Q2mZ9tK4rB8sLdE1fGh";
const CORP_B = "wpCorpB_n5V3cX7zP0yQ2wE4rT6uIo";

/** A suite whose every event goes to the receiver at ok/{bucket}; auth events also to ok/{bucket}-auth. */
function suiteApp(bucket: string, suite: Record<string, unknown> = {}) {
  return {
    token: TEST_APP.token,
    encodingAESKey: TEST_APP.encodingAESKey,
    suite: { suiteId: SUITE_ID, providerCorpId: PROVIDER, ticketToken: TICKET_TOKEN, ...suite },
    destinations: {
      auth: {
        match: { InfoType: { in: ["create_auth", "change_auth", "cancel_auth"] } },
        webhook: { url: `${receiverUrl()}/ok/${bucket}-auth`, secret: WEBHOOK_SECRET },
      },
      all: { webhook: { url: `${receiverUrl()}/ok/${bucket}`, secret: WEBHOOK_SECRET } },
    },
  };
}

function setup() {
  const app = newBucket("suite");
  const plain = newBucket("plain");
  const environment = testEnv({
    apps: { [app]: suiteApp(app), [plain]: { ...TEST_APP, webhook: { url: `${receiverUrl()}/ok/${plain}`, secret: WEBHOOK_SECRET } } },
  });
  return { app, plain, environment };
}

const url = (app: string, data: boolean, params: Record<string, string>): string =>
  `https://wecom-edge.test/callback/${app}${data ? "/data" : ""}?${new URLSearchParams(params)}`;

/** WeCom's URL verification of one of the suite's URLs, the echostr encrypted for `receiveId`. */
async function verify(app: string, data: boolean, receiveId: string, environment: Record<string, unknown>): Promise<Response> {
  const echostr = await encrypt("echo-4b1c9e", { receiveId });
  const q = await sign(TEST_APP.token, echostr);
  return callWorker(new Request(url(app, data, { msg_signature: q.msgSignature, timestamp: q.timestamp, nonce: q.nonce, echostr })), environment);
}

/** A POST to one of the suite's URLs, encrypted for `receiveId`. */
async function post(app: string, data: boolean, receiveId: string, plaintext: string, environment: Record<string, unknown>): Promise<Response> {
  const encrypted = await encrypt(plaintext, { receiveId });
  const q = await sign(TEST_APP.token, encrypted);
  return callWorker(
    new Request(url(app, data, { msg_signature: q.msgSignature, timestamp: q.timestamp, nonce: q.nonce }), { method: "POST", body: envelope(encrypted) }),
    environment,
  );
}

const ticketXml = (ticket: string, timeStamp: number | string, suiteId = SUITE_ID) =>
  `<xml><SuiteId><![CDATA[${suiteId}]]></SuiteId><InfoType><![CDATA[suite_ticket]]></InfoType><TimeStamp>${timeStamp}</TimeStamp><SuiteTicket><![CDATA[${ticket}]]></SuiteTicket></xml>`;

const authXml = (infoType: string, corp: string, timeStamp = 1765000000) =>
  `<xml><SuiteId><![CDATA[${SUITE_ID}]]></SuiteId><InfoType><![CDATA[${infoType}]]></InfoType><TimeStamp>${timeStamp}</TimeStamp><AuthCorpId><![CDATA[${corp}]]></AuthCorpId></xml>`;

const corpText = (to: string, content: string) =>
  `<xml><ToUserName><![CDATA[${to}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>1765000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[${content}]]></Content><MsgId>7321${content.length}00000000000001</MsgId><AgentID>1000002</AgentID></xml>`;

function ticketRequest(app: string, token = TICKET_TOKEN): Request {
  return new Request(`https://wecom-edge.test/suites/${app}/ticket`, { headers: { authorization: `Bearer ${token}` } });
}

async function until(what: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2_000 && !(await what()); i++) await scheduler.wait(10);
}

describe("a suite's two URLs", () => {
  it("verifies both URLs with the provider's corpid, and neither with the suite id", async () => {
    const { app, environment } = setup();
    for (const data of [false, true]) {
      const ok = await verify(app, data, PROVIDER, environment);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toBe("echo-4b1c9e");
      expect(await errorOf(await verify(app, data, SUITE_ID, environment))).toEqual({
        status: 400,
        code: -40005,
        message: "receiveId is not the provider's corpid (suite.providerCorpId): WeCom verifies both of a suite's URLs with it",
      });
    }
  });

  it("instruction URL: a callback for the suite id is committed and answered exactly success, routed like any event", async () => {
    const { app, environment } = setup();
    const response = await post(app, false, SUITE_ID, authXml("create_auth", CORP_A), environment);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("success");
    expect(response.headers.get("wecom-edge-routed")).toBe("auth,all");
    await until(async () => (await received(`${app}-auth`)).length === 1);
    const [delivered] = await received(`${app}-auth`);
    const event = JSON.parse(delivered!.body);
    expect(Object.keys(event)).toEqual(["id", "app", "receiveId", "corpId", "receivedAt", "format", "event", "raw"]);
    expect(event.receiveId).toBe(SUITE_ID);
    expect(event.corpId).toBe(CORP_A);
    expect(event.event).toEqual({ SuiteId: SUITE_ID, InfoType: "create_auth", TimeStamp: "1765000000", AuthCorpId: CORP_A });
  });

  it("instruction URL: a callback for a corp (a data callback at the wrong URL) is refused, and nothing is stored", async () => {
    const { app, environment } = setup();
    expect(await errorOf(await post(app, false, CORP_A, corpText(CORP_A, "hi"), environment))).toEqual({
      status: 400,
      code: -40005,
      message: `receiveId is not the suite id (suite.suiteId): a corp's data callback? Its URL is /callback/${app}/data (数据回调URL)`,
    });
    expect(await queueRows(app)).toEqual([]);
  });

  it("instruction URL: a SuiteId that is not the suite's is refused, its ticket not kept", async () => {
    const { app, environment } = setup();
    expect(await errorOf(await post(app, false, SUITE_ID, ticketXml("forged-ticket", 1765000000, "wwothersuite"), environment))).toEqual({
      status: 400,
      code: -40005,
      message: "SuiteId in the callback is not the suite's (suite.suiteId)",
    });
    expect(await queueRows(app)).toEqual([]);
    expect(await errorOf(await callWorker(ticketRequest(app), environment))).toMatchObject({ status: 404, code: "not_found" });
  });

  it("data URL: each corp's callback is accepted for that corp, and the event names it as corpId", async () => {
    const { app, environment } = setup();
    for (const [corp, content] of [[CORP_A, "from A"], [CORP_B, "from B, 你好"]] as const) {
      const response = await post(app, true, corp, corpText(corp, content), environment);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe("success");
      expect(response.headers.get("wecom-edge-routed")).toBe("all");
    }
    await until(async () => (await received(app)).length === 2);
    const events = (await received(app)).map((r) => JSON.parse(r.body));
    expect(events.map((e) => [e.receiveId, e.corpId, e.event.Content]).sort()).toEqual([
      [CORP_A, CORP_A, "from A"],
      [CORP_B, CORP_B, "from B, 你好"],
    ]);
  });

  it("data URL: a callback whose receiveId is not the corp it names, or is the suite id, is refused, and nothing is stored", async () => {
    const { app, environment } = setup();
    expect(await errorOf(await post(app, true, CORP_A, corpText(CORP_B, "posing as B"), environment))).toEqual({
      status: 400,
      code: -40005,
      message: "receiveId is not the corp the callback names (ToUserName or AuthCorpId)",
    });
    expect(await errorOf(await post(app, true, SUITE_ID, authXml("change_auth", CORP_A), environment))).toEqual({
      status: 400,
      code: -40005,
      message: `receiveId is the suite id: an instruction callback, whose URL is /callback/${app} (指令回调URL)`,
    });
    expect(await queueRows(app)).toEqual([]);
  });

  it("an app that is not a suite has no data URL: answered as an unknown app's", async () => {
    const { plain, environment } = setup();
    const forged = await post(plain, true, TEST_APP.receiveId, corpText(TEST_APP.receiveId, "hi"), environment);
    expect(await errorOf(forged)).toEqual({ status: 401, code: -40001, message: "msg_signature does not match" });
    expect(await errorOf(await post("nosuchsuite", true, CORP_A, corpText(CORP_A, "hi"), environment))).toEqual({
      status: 401,
      code: -40001,
      message: "msg_signature does not match",
    });
    expect(await queueRows(plain)).toEqual([]);
  });
});

describe("the latest suite_ticket", () => {
  it("is kept from the instruction URL and served with the ticket token; an older one never replaces it", async () => {
    const { app, environment } = setup();
    expect(await errorOf(await callWorker(ticketRequest(app), environment))).toEqual({
      status: 404,
      code: "not_found",
      message: "no suite_ticket has arrived yet: WeCom pushes one every 10 minutes to the instruction URL",
    });
    const first = await post(app, false, SUITE_ID, ticketXml("ticket-1000", 1765001000), environment);
    expect(await first.text()).toBe("success");
    const before = Date.now();
    const answer = await callWorker(ticketRequest(app), environment);
    expect(answer.status).toBe(200);
    expect(answer.headers.get("cache-control")).toBe("no-store");
    const body = (await answer.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(["suiteId", "ticket", "receivedAt", "ageSeconds", "stale"]);
    expect(body).toMatchObject({ suiteId: SUITE_ID, ticket: "ticket-1000", ageSeconds: 0, stale: false });
    expect(Date.parse(body.receivedAt as string)).toBeLessThanOrEqual(before);

    // An older TimeStamp, arriving later: kept as an event, not as the ticket.
    expect(await (await post(app, false, SUITE_ID, ticketXml("ticket-0900", 1765000900), environment)).text()).toBe("success");
    expect(await (await callWorker(ticketRequest(app), environment)).json()).toMatchObject({ ticket: "ticket-1000" });
    expect(await (await post(app, false, SUITE_ID, ticketXml("ticket-1600", 1765001600), environment)).text()).toBe("success");
    expect(await (await callWorker(ticketRequest(app), environment)).json()).toMatchObject({ ticket: "ticket-1600" });
    await until(async () => (await received(app)).length === 3);
    expect((await received(app)).map((r) => JSON.parse(r.body).event.SuiteTicket).sort()).toEqual(["ticket-0900", "ticket-1000", "ticket-1600"]);
  });

  it("a ticket older than 30 minutes still answers, stale", async () => {
    const { app, environment } = setup();
    await post(app, false, SUITE_ID, ticketXml("old-ticket", 1765001000), environment);
    await runInDurableObject(queueStub(app), (_, state) => {
      state.storage.sql.exec("UPDATE suite_tickets SET received_at = ?", Date.now() - 3_600_000);
    });
    const body = (await (await callWorker(ticketRequest(app), environment)).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ suiteId: SUITE_ID, ticket: "old-ticket", stale: true });
    expect(body.ageSeconds).toBeGreaterThanOrEqual(3600);
    expect(body.ageSeconds).toBeLessThan(3660);
  });

  it("a suite_ticket without a usable SuiteTicket or TimeStamp is refused, and nothing is stored", async () => {
    const { app, environment } = setup();
    const cases: [string, string][] = [
      [ticketXml("", 1765001000), "a suite_ticket callback must carry a SuiteTicket of 1-512 characters"],
      [ticketXml("x".repeat(513), 1765001000), "a suite_ticket callback must carry a SuiteTicket of 1-512 characters"],
      [`<xml><SuiteId><![CDATA[${SUITE_ID}]]></SuiteId><InfoType><![CDATA[suite_ticket]]></InfoType><TimeStamp>1765001000</TimeStamp></xml>`, "a suite_ticket callback must carry a SuiteTicket of 1-512 characters"],
      [ticketXml("t", "yesterday"), "a suite_ticket callback must carry its TimeStamp in unix seconds"],
    ];
    for (const [xml, message] of cases) {
      expect(await errorOf(await post(app, false, SUITE_ID, xml, environment))).toEqual({ status: 400, code: "invalid_parameter", message });
    }
    expect(await queueRows(app)).toEqual([]);
    expect((await callWorker(ticketRequest(app), environment)).status).toBe(404);
  });

  it("the same 401 for a wrong token, an app that is not a suite, and an unknown app", async () => {
    const { app, plain, environment } = setup();
    const unauthorized = { status: 401, code: "unauthorized", message: "a valid bearer token is required" };
    expect(await errorOf(await callWorker(ticketRequest(app, "not-the-ticket-token-0123456789"), environment))).toEqual(unauthorized);
    expect(await errorOf(await callWorker(new Request(`https://wecom-edge.test/suites/${app}/ticket`), environment))).toEqual(unauthorized);
    expect(await errorOf(await callWorker(ticketRequest(plain), environment))).toEqual(unauthorized);
    expect(await errorOf(await callWorker(ticketRequest("nosuchsuite"), environment))).toEqual(unauthorized);
  });
});

describe("suite configuration", () => {
  const problem = (suite: unknown, extra: Record<string, unknown> = {}): string | undefined => {
    const config = parseConfig({ WECOM_APPS: JSON.stringify({ s: { token: TEST_APP.token, encodingAESKey: TEST_APP.encodingAESKey, suite, webhook: { url: "https://x.example/h", secret: WEBHOOK_SECRET }, ...extra } }) });
    return config.invalidApps.get("s");
  };
  const good = { suiteId: SUITE_ID, providerCorpId: PROVIDER, ticketToken: TICKET_TOKEN };

  it("names what is wrong by its path", () => {
    expect(problem(good)).toBeUndefined();
    expect(problem({ ...good, suiteId: "" })).toBe(
      "WECOM_APPS.s.suite.suiteId must be the suite's SuiteID, or a 代开发 template's id (dk…), from the provider console (1-64 letters, digits, _ or -)",
    );
    expect(problem({ ...good, providerCorpId: "ww corp" })).toBe("WECOM_APPS.s.suite.providerCorpId must be the provider's own CorpID (服务商的CorpID) (1-64 letters, digits, _ or -)");
    expect(problem({ ...good, ticketToken: "short" })).toBe("WECOM_APPS.s.suite.ticketToken must be 16-512 visible ASCII characters (use a long random string)");
    expect(problem({ ...good, extra: 1 })).toMatch(/^WECOM_APPS\.s\.suite\.extra /);
    expect(problem(good, { receiveId: "ww1" })).toBe(
      "WECOM_APPS.s.receiveId must not be set for a suite: suite.suiteId and suite.providerCorpId say which receiveId each URL takes",
    );
    expect(problem(good, { bot: { token: "x" } })).toBe("WECOM_APPS.s.bot must not be set for a suite: an AI bot is an app of its own");
    expect(problem("yes")).toBe('WECOM_APPS.s.suite must be {"suiteId", "providerCorpId", "ticketToken"}');
  });
});

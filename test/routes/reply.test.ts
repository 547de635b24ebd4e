/**
 * Passive replies from rules (docs/replies.md, "Replies"). Every reply is opened by an
 * implementation independent of src/ (test/support/independent.ts, in Node).
 */
import { XMLParser } from "fast-xml-parser";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../../src/config.js";
import {
  callbackRequest,
  callWorker,
  drain,
  errorOf,
  newBucket,
  received,
  receiverUrl,
  TEST_APP,
  testEnv,
  textMessage,
  webhookApp,
  type AppSettings,
} from "../support/wecom.js";

interface Opened {
  envelope: { encrypt: string; signature: string; timestamp: string | number; nonce: string };
  signatureValid: boolean;
  plaintext: string;
  receiveId: string;
}

async function open(format: "xml" | "json", body: string): Promise<Opened> {
  const response = await fetch(`${receiverUrl()}/open-reply`, {
    method: "POST",
    body: JSON.stringify({ encodingAESKey: TEST_APP.encodingAESKey, token: TEST_APP.token, format, body }),
  });
  expect(response.status, await response.clone().text()).toBe(200);
  return response.json();
}

const parser = new XMLParser({ parseTagValue: false, trimValues: false });

// A test that fails with a spy on console must not hand it to the next one.
afterEach(() => vi.restoreAllMocks());

function appWithRules(rules: unknown[], extra: AppSettings = {}) {
  const app = newBucket("reply");
  return { app, environment: testEnv({ apps: { [app]: webhookApp(`ok/${app}`, { reply: { rules }, ...extra }) } }) };
}

const ECHO = { match: { MsgType: "text", Content: { regex: "^help" } }, reply: { MsgType: "text", Content: "How can I help?" } };

describe("XML rule replies", () => {
  it.each([
    ["text", { MsgType: "text", Content: "你好 ]]> <b>&amp;" }, { Content: "你好 ]]> <b>&amp;" }],
    ["image", { MsgType: "image", Image: { MediaId: "media-1" } }, { Image: { MediaId: "media-1" } }],
    ["voice", { MsgType: "voice", Voice: { MediaId: "media-2" } }, { Voice: { MediaId: "media-2" } }],
    ["video", { MsgType: "video", Video: { MediaId: "media-3", Title: "标题", Description: "d" } }, { Video: { MediaId: "media-3", Title: "标题", Description: "d" } }],
    [
      "news",
      { MsgType: "news", Articles: [{ Title: "A", Description: "a", PicUrl: "https://p/a.png", Url: "https://u/a" }, { Title: "B" }] },
      { ArticleCount: "2", Articles: { item: [{ Title: "A", Description: "a", PicUrl: "https://p/a.png", Url: "https://u/a" }, { Title: "B" }] } },
    ],
    ["update_button", { MsgType: "update_button", Button: { ReplaceName: "Done" } }, { Button: { ReplaceName: "Done" } }],
    [
      "update_template_card",
      { MsgType: "update_template_card", TemplateCard: { CardType: "button_interaction", ButtonList: [{ Text: "OK", Style: 1, Key: "k1" }, { Text: "No", Style: 2, Key: "k2" }], ReplaceText: "done" } },
      { TemplateCard: { CardType: "button_interaction", ButtonList: [{ Text: "OK", Style: "1", Key: "k1" }, { Text: "No", Style: "2", Key: "k2" }], ReplaceText: "done" } },
    ],
  ])("answers with %s, encrypted for the corp and signed with the callback's timestamp and nonce", async (_, reply, body) => {
    const { app, environment } = appWithRules([{ match: { MsgType: "text" }, reply }]);
    const before = Math.floor(Date.now() / 1000);
    const request = await callbackRequest(app, textMessage("hi"), { timestamp: "1700000123", nonce: "nonce-42" });
    const response = await callWorker(request, { ...environment, WECOM_MAX_SKEW_SECONDS: "0" });
    expect([response.status, response.headers.get("content-type")]).toEqual([200, "text/xml; charset=utf-8"]);
    const opened = await open("xml", await response.text());
    expect(opened).toMatchObject({ signatureValid: true, receiveId: TEST_APP.receiveId, envelope: { timestamp: "1700000123", nonce: "nonce-42" } });
    const { xml } = parser.parse(opened.plaintext) as { xml: Record<string, unknown> };
    expect(Number(xml.CreateTime)).toBeGreaterThanOrEqual(before);
    expect(Number(xml.CreateTime)).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(xml).toEqual({ ToUserName: "zhangsan", FromUserName: TEST_APP.receiveId, CreateTime: xml.CreateTime, MsgType: reply.MsgType, ...body });
    // The event was committed all the same, and is delivered once.
    await drain(app);
    expect((await received(app)).map((r) => JSON.parse(r.body).event.Content)).toEqual(["hi"]);
  });

  it("uses the first rule that matches, by exact value or regex on dotted paths; no match keeps \"success\"", async () => {
    const { app, environment } = appWithRules([
      { match: { MsgType: "event", Event: "click", EventKey: "MENU_A" }, reply: { MsgType: "text", Content: "menu A" } },
      ECHO,
      { match: { MsgType: "text" }, reply: { MsgType: "text", Content: "anything else" } },
    ]);
    const contentOf = async (plaintext: string) => {
      const response = await callWorker(await callbackRequest(app, plaintext), environment);
      const text = await response.text();
      if (text === "success") return text;
      return (parser.parse((await open("xml", text)).plaintext) as { xml: { Content: string } }).xml.Content;
    };
    const click = (key: string) =>
      `<xml><ToUserName><![CDATA[${TEST_APP.receiveId}]]></ToUserName><FromUserName><![CDATA[lisi]]></FromUserName><CreateTime>1700000001</CreateTime>` +
      `<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[click]]></Event><EventKey><![CDATA[${key}]]></EventKey><AgentID>1000002</AgentID></xml>`;
    expect(await contentOf(click("MENU_A"))).toBe("menu A");
    expect(await contentOf(click("MENU_B"))).toBe("success");
    expect(await contentOf(textMessage("help me", "1"))).toBe("How can I help?");
    expect(await contentOf(textMessage("hello", "2"))).toBe("anything else");
  });

  it("gives WeCom's resend the same reply and queues the event once", async () => {
    const { app, environment } = appWithRules([ECHO]);
    const plaintexts = [];
    for (let i = 0; i < 2; i++) {
      const response = await callWorker(await callbackRequest(app, textMessage("help!", "77")), environment);
      plaintexts.push((await open("xml", await response.text())).plaintext.replace(/<CreateTime>\d+<\/CreateTime>/, ""));
    }
    expect(plaintexts[0]).toBe(plaintexts[1]);
    await drain(app);
    expect((await received(app)).length).toBe(1);
  });
});

describe("AI-bot rule replies", () => {
  const bot = (rules: unknown[]) => appWithRules(rules, { receiveId: "" });
  const enterChat = JSON.stringify({ msgid: "m1", aibotid: "b1", chattype: "single", from: { userid: "u1" }, msgtype: "event", event: { eventtype: "enter_chat" } });
  const textFromUser = JSON.stringify({ msgid: "m2", aibotid: "b1", chattype: "single", from: { userid: "u1" }, msgtype: "text", text: { content: "ping" } });

  it("answers enter_chat with a welcome: JSON envelope, receiveId \"\", the callback's nonce, a numeric timestamp", async () => {
    const welcome = { msgtype: "text", text: { content: "欢迎！" } };
    const { app, environment } = bot([{ match: { msgtype: "event", "event.eventtype": "enter_chat" }, reply: welcome }]);
    const request = await callbackRequest(app, enterChat, { format: "json", receiveId: "", timestamp: "1700000555", nonce: "n-7" });
    const response = await callWorker(request, { ...environment, WECOM_MAX_SKEW_SECONDS: "0" });
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    const opened = await open("json", await response.text());
    expect(opened).toMatchObject({ signatureValid: true, receiveId: "", envelope: { timestamp: 1700000555, nonce: "n-7" } });
    expect(JSON.parse(opened.plaintext)).toEqual(welcome);
  });

  it("answers a message with a finished stream, and never sends a text reply to anything but enter_chat", async () => {
    const stream = { msgtype: "stream", stream: { id: "s-1", finish: true, content: "**pong**" } };
    const { app, environment } = bot([
      { match: { "text.content": "ping" }, reply: stream },
      { match: { msgtype: "text" }, reply: { msgtype: "text", text: { content: "not allowed here" } } },
    ]);
    const pong = await callWorker(await callbackRequest(app, textFromUser, { format: "json", receiveId: "" }), environment);
    expect(JSON.parse((await open("json", await pong.text())).plaintext)).toEqual(stream);
    const info = vi.spyOn(console, "log").mockImplementation(() => {});
    const other = textFromUser.replace('"ping"', '"other"').replace('"m2"', '"m3"');
    const response = await callWorker(await callbackRequest(app, other, { format: "json", receiveId: "" }), environment);
    // No reply to a bot: the empty answer.
    expect([response.status, await response.text()]).toEqual([200, ""]);
    expect(info.mock.calls.map((args) => JSON.parse(String(args[0]))).filter((l) => l.route === "callback")).toMatchObject([
      { reply: "rule 1: not sent, a bot's text reply answers enter_chat only" },
    ]);
    info.mockRestore();
  });

  it("never sends an XML reply to a bot's JSON callback", async () => {
    const { app, environment } = bot([{ match: { msgtype: "text" }, reply: { MsgType: "text", Content: "xml" } }]);
    const response = await callWorker(await callbackRequest(app, textFromUser, { format: "json", receiveId: "" }), environment);
    expect([response.status, await response.text()]).toEqual([200, ""]);
  });
});

describe("rules that cannot be used are refused when the configuration loads, by path", () => {
  it.each([
    [[{ match: { Content: { regex: "(" } }, reply: { MsgType: "text", Content: "x" } }], 'WECOM_APPS.a.reply.rules[0].match.Content.regex is not a valid regular expression: missing closing ) in "("'],
    [[{ match: {}, reply: { MsgType: "text", Content: "x".repeat(2049) } }], "WECOM_APPS.a.reply.rules[0].reply Content is longer than 2048 bytes"],
    [[{ match: {}, reply: { MsgType: "text", Content: "x", ToUserName: "u" } }], "WECOM_APPS.a.reply.rules[0].reply ToUserName is filled in by the gateway; leave it out"],
    [[{ match: {}, reply: { MsgType: "music" } }], "WECOM_APPS.a.reply.rules[0].reply MsgType must be one of text, image, voice, video, news, update_button, update_template_card"],
    [[{ match: {}, reply: { MsgType: "news", Articles: Array(9).fill({ Title: "t" }) } }], "WECOM_APPS.a.reply.rules[0].reply Articles must be an array of 1 to 8 articles"],
    [[{ match: {}, reply: { msgtype: "stream", stream: { id: "s", content: "x".repeat(20_481) } } }], "WECOM_APPS.a.reply.rules[0].reply stream.content is longer than 20480 bytes"],
    [[{ match: {}, reply: { msgtype: "stream", stream: { id: "s", msg_item: [] } } }], "WECOM_APPS.a.reply.rules[0].reply stream.msg_item goes only with finish: true"],
    [[{ match: { "a..b": "x" }, reply: { MsgType: "text", Content: "x" } }], "WECOM_APPS.a.reply.rules[0].match.a..b is not a dotted path into the event"],
    [[{ match: {}, reply: { MsgType: "text", Content: "x" }, extra: 1 }], "WECOM_APPS.a.reply.rules[0].extra is not a rule field (match, reply)"],
    [Array(101).fill({ match: {}, reply: { MsgType: "text", Content: "x" } }), "WECOM_APPS.a.reply.rules must be an array of at most 100 rules"],
  ])("%#: %s", (rules, problem) => {
    const config = parseConfig({ WECOM_APPS: JSON.stringify({ a: webhookAppForConfig({ reply: { rules } }) }) });
    expect(config.invalidApps.get("a")).toBe(problem);
  });

  it("answers a callback for such an app 503 invalid_config, and queues nothing", async () => {
    const app = newBucket("badrule");
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`, { reply: { rules: [{ match: { Content: { regex: "[" } }, reply: { MsgType: "text", Content: "x" } }] } }) } });
    const response = await callWorker(await callbackRequest(app, textMessage("x")), environment);
    expect(await errorOf(response)).toEqual({ status: 503, code: "invalid_config", message: `app "${app}" is misconfigured` });
    await drain(app);
    expect(await received(app)).toEqual([]);
  });
});

function webhookAppForConfig(extra: AppSettings): AppSettings {
  return { ...TEST_APP, webhook: { url: "https://intranet.example/hook", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }, ...extra };
}

describe("the reply endpoint", () => {
  const SECRET = "whsec_c2VjcmV0LWZvci10aGUtcmVwbHktZW5kcG9pbnQ=";
  function endpointApp(path: (app: string) => string, extra: AppSettings = {}) {
    const app = newBucket("ep");
    const reply = { url: `${receiverUrl()}/${path(app)}`, secret: SECRET, ...extra };
    return { app, endpoint: `${app}-ep`, environment: testEnv({ apps: { [app]: webhookApp(`ok/${app}`, { reply }) } }) };
  }
  const answering = (status: number, body: unknown) => (app: string) =>
    `answer/${status}/${app}-ep?body=${encodeURIComponent(typeof body === "string" ? body : JSON.stringify(body))}`;

  it("is asked with the event JSON, signed as pushes are, and its reply goes to WeCom; a resend gets it again without asking", async () => {
    const reply = { MsgType: "text", Content: "from the intranet" };
    const { app, endpoint, environment } = endpointApp(answering(200, reply));
    const texts = [];
    for (let i = 0; i < 2; i++) {
      const response = await callWorker(await callbackRequest(app, textMessage("question", "31")), environment);
      texts.push((parser.parse((await open("xml", await response.text())).plaintext) as { xml: { Content: string } }).xml.Content);
    }
    expect(texts).toEqual(["from the intranet", "from the intranet"]);
    const asked = await received(endpoint);
    expect(asked.length).toBe(1);
    const verified = new Webhook(SECRET.slice("whsec_".length)).verify(asked[0]!.body, asked[0]!.headers) as { event: { Content: string } };
    expect(verified.event.Content).toBe("question");
    await drain(app);
    expect((await received(app)).length).toBe(1);
    expect(JSON.parse(asked[0]!.body)).toEqual(JSON.parse((await received(app))[0]!.body));
  });

  it.each([
    ["204", answering(204, ""), "endpoint: no reply, it answered 204"],
    ["a 500", answering(500, ""), "endpoint: no reply, it answered 500"],
    ["a body that is not JSON", answering(200, "not json"), "endpoint: no reply, its answer is not a JSON object of at most 64 KiB"],
    ["an invalid reply", answering(200, { MsgType: "text", Content: "x".repeat(2049) }), "endpoint: no reply, Content is longer than 2048 bytes"],
    ["a reply of the wrong kind", answering(200, { msgtype: "template_card", template_card: { card_type: "text_notice" } }), "endpoint: not sent, a bot reply cannot answer an app's XML callback"],
  ])("answers \"success\" for %s, logs why, delivers the event once, and remembers that nothing was replied", async (_, path, why) => {
    const { app, endpoint, environment } = endpointApp(path);
    const info = vi.spyOn(console, "log").mockImplementation(() => {});
    for (let i = 0; i < 2; i++) {
      const response = await callWorker(await callbackRequest(app, textMessage("q", "41")), environment);
      expect(await response.text()).toBe("success");
    }
    const lines = info.mock.calls.map((args) => JSON.parse(String(args[0])) as { route: string; reply?: string }).filter((l) => l.route === "callback");
    info.mockRestore();
    expect(lines[0]!.reply).toBe(why);
    expect(lines[1]!.reply).toBe(why.includes("not sent") ? "endpoint (remembered): not sent, a bot reply cannot answer an app's XML callback" : "endpoint (remembered): no reply");
    expect((await received(endpoint)).length).toBe(1);
    await drain(app);
    expect((await received(app)).length).toBe(1);
  });

  it("gives up at timeoutMs: WeCom is answered in time and the event is still delivered once", async () => {
    const { app, endpoint, environment } = endpointApp((a) => `slow/1500/${a}-ep`, { timeoutMs: 200 });
    const info = vi.spyOn(console, "log").mockImplementation(() => {});
    const started = Date.now();
    const response = await callWorker(await callbackRequest(app, textMessage("slow")), environment);
    expect(await response.text()).toBe("success");
    expect(Date.now() - started).toBeLessThan(1_400);
    expect(info.mock.calls.map((args) => JSON.parse(String(args[0]))).filter((l) => l.route === "callback")).toMatchObject([
      { reply: "endpoint: no reply, no answer within 200 ms" },
    ]);
    info.mockRestore();
    await drain(app);
    expect((await received(app)).length).toBe(1);
    await scheduler.wait(1_400);
    expect((await received(endpoint)).length).toBe(1);
  });

  it("is not asked when a rule matches", async () => {
    const app = newBucket("ep-rule");
    const reply = { rules: [ECHO], url: `${receiverUrl()}/${answering(200, { MsgType: "text", Content: "endpoint" })(app)}`, secret: SECRET };
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`, { reply }) } });
    const response = await callWorker(await callbackRequest(app, textMessage("help")), environment);
    expect((parser.parse((await open("xml", await response.text())).plaintext) as { xml: { Content: string } }).xml.Content).toBe("How can I help?");
    expect(await received(`${app}-ep`)).toEqual([]);
  });

  it.each([
    [{ url: "https://intranet.example/reply", secret: SECRET, timeoutMs: 4_501 }, "WECOM_APPS.a.reply.timeoutMs must be a whole number from 100 to 4500"],
    [{ secret: SECRET }, "WECOM_APPS.a.reply.secret goes with url"],
    [{ url: "ftp://intranet.example", secret: SECRET }, "WECOM_APPS.a.reply.url must be an absolute http(s) URL"],
    [{ url: "https://intranet.example/reply" }, "WECOM_APPS.a.reply.secret must be a Standard Webhooks secret: whsec_ followed by base64"],
  ])("refuses a bad endpoint setting at load, by path: %#", (reply, problem) => {
    const config = parseConfig({ WECOM_APPS: JSON.stringify({ a: webhookAppForConfig({ reply }) }) });
    expect(config.invalidApps.get("a")).toBe(problem);
  });
});

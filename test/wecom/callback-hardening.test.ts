/**
 * The XML hardening through the Worker's own fetch handler: what a refused
 * callback answers, what its log line says, and that nothing of it reaches
 * the app's queue or its webhook.
 */
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import {
  callbackRequest,
  callWorker,
  drain,
  encrypt,
  errorOf,
  newBucket,
  queueRows,
  rawCallbackRequest,
  received,
  testEnv,
  textMessage,
  webhookApp,
} from "../support/wecom.js";
import { filled, manyElements } from "./bodies.js";

let warn: MockInstance;
let log: MockInstance;
beforeEach(() => {
  log = vi.spyOn(console, "log").mockImplementation(() => {});
  warn = vi.spyOn(console, "warn").mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

/** The request log lines written so far, parsed. */
const logLines = (): Record<string, unknown>[] =>
  [...log.mock.calls, ...warn.mock.calls]
    .map((args) => String(args[0]))
    .filter((line) => line.startsWith('{"msg":"wecom-edge"') && line.includes('"route":"callback"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

function appEnv(app: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return testEnv({ apps: { [app]: webhookApp(`ok/${app}`, extra) } });
}

/** Nothing reached the app's queue, and nothing reached its webhook. */
async function nothingForwarded(app: string): Promise<void> {
  expect(await queueRows(app)).toEqual([]);
  expect(await received(app)).toEqual([]);
}

const DOCTYPE_OF = (value: string) => `<!DOCTYPE xml [<!ENTITY e "${value}">]>`;

describe("a DOCTYPE the old scan missed is refused through the Worker", () => {
  /**
   * Each envelope declares `e` as a real, correctly signed Encrypt and uses
   * `&e;` as its Encrypt: expanded, it would be decrypted and queued.
   */
  const envelopes: [string, (doctype: string) => string][] = [
    ["a comment holding <![CDATA[", (d) => `<!--<![CDATA[-->${d}<!--]]>--><xml><Encrypt>&e;</Encrypt></xml>`],
    ["the same inside <xml>", (d) => `<xml><!--<![CDATA[-->${d}<!--]]>--><Encrypt>&e;</Encrypt></xml>`],
    ["a processing instruction holding <![CDATA[", (d) => `<?pi <![CDATA[?>${d}<?pi ]]>?><xml><Encrypt>&e;</Encrypt></xml>`],
    ["an attribute holding <![CDATA[", (d) => `<xml><a x="<![CDATA["/>${d}<b y="]]>"/><Encrypt>&e;</Encrypt></xml>`],
    ["a CDATA section holding <!--", (d) => `<xml><A><![CDATA[<!--]]></A>${d}<B><![CDATA[-->]]></B><Encrypt>&e;</Encrypt></xml>`],
    ["an attribute holding <!--", (d) => `<xml><a x="<!--"/>${d}<b y="-->"/><Encrypt>&e;</Encrypt></xml>`],
    ["a quoted ?> in a processing instruction", (d) => `<?pi "?>" <!-- ?>${d} --><xml><Encrypt>&e;</Encrypt></xml>`],
  ];

  it.each(envelopes)("in the envelope, after %s: 400 -40002 before the signature check, nothing queued", async (_, make) => {
    const app = newBucket("doctype-env");
    const encrypted = await encrypt(textMessage("smuggled"));
    const body = make(DOCTYPE_OF(encrypted));
    const response = await callWorker(await rawCallbackRequest(app, body, encrypted), appEnv(app));
    expect(await errorOf(response)).toEqual({ status: 400, code: -40002, message: "XML could not be parsed" });
    expect(logLines()).toEqual([
      expect.objectContaining({ status: 400, outcome: "refused", code: -40002, detail: `DOCTYPE is not allowed at line 1, column ${body.indexOf("<!DOCTYPE") + 1}` }),
    ]);
    await nothingForwarded(app);
  });

  it("in the envelope, with a wrong signature: 400 -40002 all the same, since it is refused before the check", async () => {
    const app = newBucket("doctype-unsigned");
    const body = `<!--<![CDATA[-->${DOCTYPE_OF("PWNED")}<!--]]>--><xml><Encrypt>&e;</Encrypt></xml>`;
    const response = await callWorker(await rawCallbackRequest(app, body, "something else"), appEnv(app));
    expect(await errorOf(response)).toEqual({ status: 400, code: -40002, message: "XML could not be parsed" });
    await nothingForwarded(app);
  });

  it("in a signed, encrypted plaintext: 400 -40002, nothing queued", async () => {
    const app = newBucket("doctype-plain");
    const plaintext = `<!--<![CDATA[-->${DOCTYPE_OF("PWNED")}<!--]]>--><xml><ToUserName>x</ToUserName><Content>&e;</Content></xml>`;
    const response = await callWorker(await callbackRequest(app, plaintext), appEnv(app));
    expect(await errorOf(response)).toEqual({ status: 400, code: -40002, message: "XML could not be parsed" });
    expect(logLines()).toEqual([expect.objectContaining({ code: -40002, detail: "DOCTYPE is not allowed at line 1, column 17" })]);
    await nothingForwarded(app);
  });

  it("still delivers a message whose text mentions a DOCTYPE, a comment or CDATA", async () => {
    const app = newBucket("doctype-text");
    const plaintext = "<xml><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[<!DOCTYPE html><!-- <![CDATA[ x]]]]><![CDATA[>]]></Content></xml>";
    expect((await callWorker(await callbackRequest(app, plaintext), appEnv(app))).status).toBe(200);
    await drain(app);
    const [delivery] = await received(app);
    expect(JSON.parse(delivery!.body).event).toEqual({ MsgType: "text", Content: "<!DOCTYPE html><!-- <![CDATA[ x]]>" });
  });
});

describe("the work done before the signature check is bounded", () => {
  it("refuses a 1 MiB envelope of ~130k elements, even correctly signed, with 400 -40002, nothing queued", async () => {
    const app = newBucket("elements");
    const encrypted = await encrypt(textMessage("many"));
    const body = manyElements(encrypted);
    expect(new TextEncoder().encode(body).length).toBeLessThanOrEqual(1024 * 1024);
    const response = await callWorker(await rawCallbackRequest(app, body, encrypted), appEnv(app));
    expect(await errorOf(response)).toEqual({ status: 400, code: -40002, message: "XML could not be parsed" });
    expect(logLines()).toEqual([expect.objectContaining({ status: 400, code: -40002, detail: "the envelope has more than 64 tags" })]);
    await nothingForwarded(app);
  });

  it("refuses a 1 MiB JSON envelope nested 500k deep, even correctly signed, with 400 -40002, nothing queued", async () => {
    const app = newBucket("nested");
    const encrypted = await encrypt('{"msgtype":"text"}', { receiveId: "" });
    const half = Math.floor((1024 * 1024 - encrypted.length - 20) / 2);
    const body = `{"encrypt":"${encrypted}","a":${"[".repeat(half)}${"]".repeat(half)}}`;
    const response = await callWorker(await rawCallbackRequest(app, body, encrypted), appEnv(app, { receiveId: "" }));
    expect(await errorOf(response)).toEqual({ status: 400, code: -40002, message: "JSON envelope could not be parsed" });
    expect(logLines()).toEqual([expect.objectContaining({ code: -40002, detail: 'the envelope has more than 64 of "{", "[" and ","' })]);
    await nothingForwarded(app);
  });

  it("answers a 1 MiB envelope with a wrong signature 401 -40001 (the XML is never parsed: see envelope.test.ts)", async () => {
    const app = newBucket("bigwrong");
    const body = filled("<xml><Encrypt>", "A", "</Encrypt></xml>");
    const response = await callWorker(await rawCallbackRequest(app, body, "not what the body holds"), appEnv(app));
    expect(await errorOf(response)).toEqual({ status: 401, code: -40001, message: "msg_signature does not match" });
    await nothingForwarded(app);
  });

  it("still takes WeCom's envelope, with ToUserName, Encrypt and AgentID, in XML and in JSON", async () => {
    const app = newBucket("realistic");
    const json = newBucket("realistic-json");
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`), [json]: webhookApp(`ok/${json}`, { receiveId: "" }) } });
    const request = await callbackRequest(app, textMessage("hello"));
    expect(await request.clone().text()).toMatch(/^<xml><ToUserName><!\[CDATA\[ww3e40cde07cc21a01\]\]><\/ToUserName><Encrypt><!\[CDATA\[[A-Za-z0-9+/=]+\]\]><\/Encrypt><AgentID><!\[CDATA\[1000002\]\]><\/AgentID><\/xml>$/);
    expect((await callWorker(request, environment)).status).toBe(200);
    expect((await callWorker(await callbackRequest(json, '{"msgtype":"text"}', { format: "json", receiveId: "" }), environment)).status).toBe(200);
    await drain(app);
    await drain(json);
    expect((await received(app)).map((r) => JSON.parse(r.body).event.Content)).toEqual(["hello"]);
    expect((await received(json)).map((r) => JSON.parse(r.body).event)).toEqual([{ msgtype: "text" }]);
  });

  it("refuses, after the signature check, an envelope in which the parser reads another Encrypt than was signed", async () => {
    const app = newBucket("ambiguous");
    const signed = await encrypt(textMessage("signed"));
    const other = await encrypt(textMessage("other"));
    const body = `<xml><!--<Encrypt>${signed}</Encrypt>--><Encrypt>${other}</Encrypt></xml>`;
    const response = await callWorker(await rawCallbackRequest(app, body, signed), appEnv(app));
    expect(await errorOf(response)).toEqual({ status: 400, code: -40002, message: "XML envelope has an ambiguous Encrypt element" });
    await nothingForwarded(app);
  });

  it("refuses a malformed envelope whose Encrypt is correctly signed, with -40002 before decrypting", async () => {
    const app = newBucket("malformed");
    const encrypted = await encrypt(textMessage("x"));
    const response = await callWorker(await rawCallbackRequest(app, `<xml><Encrypt>${encrypted}</Encrypt>`, encrypted), appEnv(app));
    expect(await errorOf(response)).toEqual({ status: 400, code: -40002, message: "XML could not be parsed" });
    await nothingForwarded(app);
  });
});

describe("elements arrive under their own names", () => {
  it("delivers hasOwnProperty, constructor, toString and valueOf as they are named", async () => {
    const app = newBucket("names");
    const plaintext =
      "<xml><MsgType>event</MsgType><hasOwnProperty>x</hasOwnProperty><constructor>y</constructor><toString>t</toString>" +
      "<valueOf>v</valueOf><A><prototype>p</prototype></A></xml>";
    expect((await callWorker(await callbackRequest(app, plaintext), appEnv(app))).status).toBe(200);
    await drain(app);
    const [delivery, ...more] = await received(app);
    expect(more).toEqual([]);
    expect(delivery!.body).toContain(
      `,"event":{"MsgType":"event","hasOwnProperty":"x","constructor":"y","toString":"t","valueOf":"v","A":{"prototype":"p"}},"raw":`,
    );
  });

  it("refuses an element named __proto__ with 400 -40002, nothing queued", async () => {
    const app = newBucket("proto");
    const response = await callWorker(await callbackRequest(app, "<xml><__proto__><polluted>1</polluted></__proto__></xml>"), appEnv(app));
    expect(await errorOf(response)).toEqual({ status: 400, code: -40002, message: "XML could not be parsed" });
    expect(logLines()).toEqual([expect.objectContaining({ code: -40002, detail: "an element is named __proto__" })]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await nothingForwarded(app);
  });
});

describe("a refusal's log detail never says 'undefined'", () => {
  it("refuses an empty decrypted plaintext with 400 -40002 and logs 'empty document'", async () => {
    const app = newBucket("empty");
    const response = await callWorker(await callbackRequest(app, ""), appEnv(app));
    expect(await errorOf(response)).toEqual({ status: 400, code: -40002, message: "XML could not be parsed" });
    expect(logLines()).toEqual([
      {
        msg: "wecom-edge",
        route: "callback",
        method: "POST",
        app,
        status: 400,
        outcome: "refused",
        code: -40002,
        detail: "empty document",
        durationMs: expect.any(Number),
      },
    ]);
    await nothingForwarded(app);
  });

  it.each([
    ["of whitespace", " \n\t", "empty document"],
    ["with a comment and no element", "<!-- nothing -->", "not well-formed at line 1"],
  ])("describes a plaintext %s by position", async (_, plaintext, detail) => {
    const app = newBucket("noelement");
    const response = await callWorker(await callbackRequest(app, plaintext), appEnv(app));
    expect(await errorOf(response)).toEqual({ status: 400, code: -40002, message: "XML could not be parsed" });
    expect(logLines()).toEqual([expect.objectContaining({ detail })]);
    expect(JSON.stringify(logLines())).not.toContain("undefined");
    await nothingForwarded(app);
  });
});

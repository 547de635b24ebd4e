import { env, exports } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it, vi } from "vitest";
import generated from "../vectors/generated.json";
import official from "../vectors/official.json";
import {
  callbackRequest,
  callbackUrl,
  callWorker,
  encrypt,
  envelope,
  errorOf,
  newBucket,
  drain,
  queueRows,
  rawCallbackRequest,
  received,
  receiverUrl,
  sign,
  TEST_APP,
  testEnv,
  textMessage,
  webhookApp,
  WEBHOOK_SECRET,
} from "../support/wecom.js";

const officialGet = () =>
  callbackUrl("official", {
    msgSignature: official.verifyUrl.msg_signature,
    timestamp: official.verifyUrl.timestamp,
    nonce: official.verifyUrl.nonce,
    echostr: official.verifyUrl.echostr,
  });

describe("GET /callback/{app}: URL verification", () => {
  it("answers the official sample echostr through the Worker's own fetch", async () => {
    const response = await exports.default.fetch(officialGet());
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    // Exactly the plaintext: no quotes, no newline, no BOM.
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(new TextEncoder().encode("1616140317555161061"));
  });

  it("restores a '+' that URL decoding turned into a space", async () => {
    const url = officialGet().replace(/%2B/g, "+");
    expect(url).toContain("tp+4RPc");
    const response = await exports.default.fetch(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("1616140317555161061");
  });

  it.each(generated.valid.filter((v) => v.padValue >= 17).slice(0, 6).map((v) => [v.name, v] as const))(
    "answers an echostr with pad 17..32 (%s)",
    async (_, v) => {
      const environment = testEnv({
        maxSkewSeconds: "0",
        apps: { app: { token: v.token, encodingAESKey: v.encodingAESKey, receiveId: v.receiveId, webhook: { url: "http://127.0.0.1:9/x", secret: WEBHOOK_SECRET } } },
      });
      const url = callbackUrl("app", { msgSignature: v.msgSignature, timestamp: v.timestamp, nonce: v.nonce, echostr: v.encrypt });
      const response = await callWorker(new Request(url), environment);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe(v.msg);
    },
  );

  it("answers an echostr with a fresh timestamp when the skew check is on", async () => {
    const echostr = await encrypt("5927782489442352469");
    const query = await sign(TEST_APP.token, echostr);
    const response = await callWorker(
      new Request(callbackUrl("hr", { ...query, echostr })),
      testEnv({ apps: { hr: webhookApp("ok/unused") } }),
    );
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("5927782489442352469");
  });

  it.each([
    ["msg_signature", 400, "missing_parameter", "msg_signature is required"],
    ["timestamp", 400, "missing_parameter", "timestamp is required"],
    ["nonce", 400, "missing_parameter", "nonce is required"],
    ["echostr", 400, "missing_parameter", "echostr is required"],
  ] as const)("refuses a request without %s", async (missing, status, code, message) => {
    const query: Record<string, string> = {
      msgSignature: official.verifyUrl.msg_signature,
      timestamp: official.verifyUrl.timestamp,
      nonce: official.verifyUrl.nonce,
      echostr: official.verifyUrl.echostr,
    };
    delete query[missing === "msg_signature" ? "msgSignature" : missing];
    const response = await exports.default.fetch(callbackUrl("official", query));
    expect(await errorOf(response)).toEqual({ status, code, message });
  });

  it.each([
    ["a msg_signature that is not hex", { msgSignature: "Z".repeat(40) }, "msg_signature must be 40 lowercase hex digits"],
    ["a short msg_signature", { msgSignature: "abc" }, "msg_signature must be 40 lowercase hex digits"],
    ["a timestamp that is not a number", { timestamp: "12ab" }, "timestamp must be unix seconds"],
    ["an overlong nonce", { nonce: "1".repeat(65) }, "nonce is longer than 64 characters"],
  ])("refuses %s with 400", async (_, override, message) => {
    const url = callbackUrl("official", {
      msgSignature: official.verifyUrl.msg_signature,
      timestamp: official.verifyUrl.timestamp,
      nonce: official.verifyUrl.nonce,
      echostr: official.verifyUrl.echostr,
      ...override,
    });
    expect(await errorOf(await exports.default.fetch(url))).toEqual({ status: 400, code: "invalid_parameter", message });
  });

  it("refuses a signature that does not match with 401 -40001", async () => {
    const url = callbackUrl("official", {
      msgSignature: "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd4",
      timestamp: official.verifyUrl.timestamp,
      nonce: official.verifyUrl.nonce,
      echostr: official.verifyUrl.echostr,
    });
    expect(await errorOf(await exports.default.fetch(url))).toEqual({
      status: 401,
      code: -40001,
      message: "msg_signature does not match",
    });
  });

  it("refuses the 2014 sample when the timestamp check is on (default 300 s)", async () => {
    const response = await callWorker(
      new Request(officialGet()),
      testEnv({ demo: true, apps: { official: { ...official.app, webhook: { url: "http://127.0.0.1:9/x", secret: WEBHOOK_SECRET } } } }),
    );
    expect(await errorOf(response)).toEqual({
      status: 401,
      code: "stale_timestamp",
      message: "timestamp is more than 300 s from the gateway's clock",
    });
  });
});

describe("routing and configuration", () => {
  it("answers an unknown app exactly as a forged callback, so that app names cannot be probed; the log names the app", async () => {
    const app = newBucket("known");
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`) } });
    const answer = async (response: Response) => ({ status: response.status, headers: [...response.headers], body: await response.text() });
    const forged = async (name: string) => callWorker(await callbackRequest(name, textMessage("hello"), { token: "wrongToken", nonce: "n1" }), environment);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const known = await answer(await forged(app));
    const unknown = await answer(await forged("nosuch"));
    // Each check before the signature answers alike too: a missing parameter, a bad query.
    const bareKnown = await answer(await callWorker(new Request(callbackUrl(app, {}), { method: "POST", body: "x" }), environment));
    const bareUnknown = await answer(await callWorker(new Request(callbackUrl("nosuch", {}), { method: "POST", body: "x" }), environment));
    const getUnknown = await answer(await callWorker(new Request(callbackUrl("nosuch", {}) + "&echostr=abc"), environment));
    const lines = warn.mock.calls.map((call) => JSON.parse(String(call[0])) as Record<string, unknown>);
    warn.mockRestore();
    expect(known).toEqual({
      status: 401,
      headers: [["content-type", "application/json; charset=utf-8"]],
      body: '{"error":{"code":-40001,"message":"msg_signature does not match"}}',
    });
    expect(unknown).toEqual(known);
    expect(bareUnknown).toEqual(bareKnown);
    expect(bareKnown.status).toBe(400);
    expect(getUnknown.status).toBe(400);
    expect(lines.map(({ app: name, code, detail }) => ({ app: name, code, detail }))).toEqual([
      { app, code: -40001, detail: undefined },
      { app: "nosuch", code: -40001, detail: 'no app named "nosuch"' },
      { app, code: "missing_parameter", detail: undefined },
      { app: "nosuch", code: "missing_parameter", detail: 'no app named "nosuch"' },
      { app: "nosuch", code: "missing_parameter", detail: 'no app named "nosuch"' },
    ]);
  });

  it("answers 405 with Allow for other methods", async () => {
    const response = await exports.default.fetch(officialGet(), { method: "PUT", body: "x" });
    expect(response.headers.get("allow")).toBe("GET, POST");
    expect(await errorOf(response)).toEqual({
      status: 405,
      code: "method_not_allowed",
      message: "use GET or POST",
    });
  });

  it("answers 404 for other paths", async () => {
    expect(await errorOf(await exports.default.fetch("https://wecom-edge.test/"))).toEqual({
      status: 404,
      code: "not_found",
      message: "no such route",
    });
  });

  it("answers 503 with a clear message when WECOM_APPS is not set", async () => {
    const response = await callWorker(new Request(officialGet()), testEnv({ apps: undefined }));
    expect(await errorOf(response)).toEqual({
      status: 503,
      code: "not_configured",
      message: "no apps: add them to wecom-edge.config.json (docs/configuration.md), or set the WECOM_APPS secret",
    });
    const health = await callWorker(new Request("https://wecom-edge.test/healthz"), testEnv({ apps: undefined }));
    expect(health.status).toBe(503);
  });

  it("tells the public only that an app is misconfigured; the log line names the field, never its value", async () => {
    const apps = { hr: { ...TEST_APP, encodingAESKey: "tooShort-SECRETVALUE", webhook: { url: "https://x.example", secret: WEBHOOK_SECRET } } };
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const response = await callWorker(new Request(callbackUrl("hr", {})), testEnv({ apps }));
    const error = await errorOf(response);
    expect(error).toEqual({ status: 503, code: "invalid_config", message: 'app "hr" is misconfigured' });
    const line = String(warn.mock.calls[0]![0]);
    warn.mockRestore();
    expect(JSON.parse(line)).toMatchObject({
      app: "hr",
      code: "invalid_config",
      detail: "WECOM_APPS.hr.encodingAESKey must be the 43-character EncodingAESKey from the WeCom admin console",
    });
    expect(line).not.toContain("SECRETVALUE");
  });

  it("refuses WeCom's published sample key outside the demo", async () => {
    const response = await callWorker(
      new Request(officialGet()),
      testEnv({ maxSkewSeconds: "0", apps: { official: { ...official.app, webhook: { url: "https://x.example", secret: WEBHOOK_SECRET } } } }),
    );
    expect(await errorOf(response)).toEqual({ status: 503, code: "invalid_config", message: 'app "official" is misconfigured' });
    const list = await callWorker(
      new Request("https://wecom-edge.test/admin/apps", { headers: { authorization: `Bearer ${(env as unknown as { ADMIN_TOKEN: string }).ADMIN_TOKEN}` } }),
      testEnv({ maxSkewSeconds: "0", apps: { official: { ...official.app, webhook: { url: "https://x.example", secret: WEBHOOK_SECRET } } } }),
    );
    expect(((await list.json()) as { invalidApps: unknown }).invalidApps).toEqual({
      official:
        "WECOM_APPS.official.encodingAESKey is the sample key WeCom publishes, which anyone can use to forge callbacks; generate a new one in the admin console",
    });
  });

  it("GET /healthz answers 200 with counts, not names", async () => {
    const response = await exports.default.fetch("https://wecom-edge.test/healthz");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true, apps: 2, invalidApps: 0 });
  });

  it("GET /healthz is not ok while any app is invalid, even when others serve", async () => {
    const app = newBucket("fine");
    const typo = { ...TEST_APP, recieveId: TEST_APP.receiveId, webhook: { url: "https://x.example", secret: WEBHOOK_SECRET } };
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`), typo } });
    const response = await callWorker(new Request("https://wecom-edge.test/healthz"), environment);
    expect([response.status, await response.json()]).toEqual([503, { ok: false, apps: 1, invalidApps: 1 }]);
    // The other app still serves.
    expect((await callWorker(await callbackRequest(app, textMessage("still here")), environment)).status).toBe(200);
    // And the only invalid app, alone: not ok either.
    const alone = await callWorker(new Request("https://wecom-edge.test/healthz"), testEnv({ apps: { typo } }));
    expect([alone.status, await alone.json()]).toEqual([503, { ok: false, apps: 0, invalidApps: 1 }]);
  });
});

describe("POST /callback/{app}", () => {
  it("commits the official sample callback, answers success, then pushes it signed", async () => {
    const app = newBucket("official");
    const environment = testEnv({
      demo: true,
      maxSkewSeconds: "0",
      apps: { [app]: { ...official.app, webhook: { url: `${receiverUrl()}/ok/${app}`, secret: WEBHOOK_SECRET } } },
    });
    const { callback } = official;
    const url = callbackUrl(app, { msgSignature: callback.msg_signature, timestamp: callback.timestamp, nonce: callback.nonce });
    const before = Date.now();
    const response = await callWorker(new Request(url, { method: "POST", body: callback.body }), environment);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("success");
    // Committed before the answer: the event is in the app's queue, or its push (which starts at once) already went through.
    const rows = await queueRows(app);
    if (rows.length > 0) expect(rows.map((r) => r.state)).toEqual(["queued"]);
    else expect((await received(app)).length).toBe(1);

    await drain(app);
    const [delivery, ...more] = await received(app);
    expect(more).toEqual([]);
    const body = JSON.parse(delivery!.body);
    expect(Object.keys(body)).toEqual(["id", "app", "receiveId", "receivedAt", "format", "event", "raw"]);
    expect(body.app).toBe(app);
    expect(body.receiveId).toBe("wx5823bf96d3bd56c7");
    expect(body.format).toBe("xml");
    expect(body.event).toEqual(callback.event);
    expect(body.raw).toBe(
      "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n" +
        "<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n" +
        "<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>",
    );
    expect(body.id).toMatch(/^evt_[0-9a-f]{32}$/);
    expect(Date.parse(body.receivedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(await queueRows(app)).toEqual([]);

    expect(delivery!.headers["content-type"]).toBe("application/json");
    expect(delivery!.headers["webhook-id"]).toBe(body.id);
    const verified = new Webhook(WEBHOOK_SECRET).verify(delivery!.body, {
      "webhook-id": delivery!.headers["webhook-id"]!,
      "webhook-timestamp": delivery!.headers["webhook-timestamp"]!,
      "webhook-signature": delivery!.headers["webhook-signature"]!,
    });
    expect(verified).toEqual(body);
  });

  it("passes a JSON envelope's decrypted object through as it is, to the digit", async () => {
    const app = newBucket("json");
    const plaintext = `{"msgid":"CAIQ","aibotid":"AIBOT","chattype":"single","from":{"userid":"007"},"msgtype":"text","text":{"content":"你好"},"n":12345678901234567890,"f":1.0}`;
    const response = await callWorker(
      await callbackRequest(app, plaintext, { format: "json", receiveId: "" }),
      testEnv({ apps: { [app]: webhookApp(`ok/${app}`, { receiveId: "" }) } }),
    );
    expect(response.status).toBe(200);
    await drain(app);
    const [delivery] = await received(app);
    expect(delivery!.body).toContain(`,"format":"json","event":${plaintext},"raw":${JSON.stringify(plaintext)}}`);
    const body = JSON.parse(delivery!.body);
    expect(body.receiveId).toBe("");
    expect(body.raw).toBe(plaintext);
  });

  it("delivers WeCom's retries of one callback once, under one id; another callback gets another id", async () => {
    const app = newBucket("retry");
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`) } });
    const statuses = [];
    for (const msgId of ["1", "1", "1", "2"]) {
      // A retry: same plaintext, new encryption, nonce and timestamp.
      statuses.push((await callWorker(await callbackRequest(app, textMessage("hi", msgId)), environment)).status);
    }
    expect(statuses).toEqual([200, 200, 200, 200]);
    await drain(app);
    const bodies = (await received(app)).map((r) => JSON.parse(r.body));
    expect(bodies.map((b) => b.event.MsgId)).toEqual(["1", "2"]);
    expect(bodies[0].id).not.toBe(bodies[1].id);
  });

  it("accepts any of an array of receiveIds, and any with '*' (reported with the event)", async () => {
    const suite = newBucket("suite");
    const any = newBucket("any");
    const environment = testEnv({
      apps: {
        [suite]: webhookApp(`ok/${suite}`, { receiveId: ["tj89ceb918cf993165", "ww3e40cde07cc21a01"] }),
        [any]: webhookApp(`ok/${any}`, { receiveId: "*" }),
      },
    });
    const a = await callWorker(await callbackRequest(suite, textMessage("a"), { receiveId: "tj89ceb918cf993165" }), environment);
    const b = await callWorker(await callbackRequest(any, textMessage("b"), { receiveId: "wwAUTHCORP" }), environment);
    expect([a.status, b.status]).toEqual([200, 200]);
    await drain(suite);
    await drain(any);
    expect((await received(suite)).map((r) => JSON.parse(r.body).receiveId)).toEqual(["tj89ceb918cf993165"]);
    expect((await received(any)).map((r) => JSON.parse(r.body).receiveId)).toEqual(["wwAUTHCORP"]);
  });

  it("sends the configured extra headers", async () => {
    const app = newBucket("headers");
    const environment = testEnv({
      apps: { [app]: webhookApp(`ok/${app}`, {}, { headers: { "CF-Access-Client-Id": "id.access", "CF-Access-Client-Secret": "s3cret" } }) },
    });
    expect((await callWorker(await callbackRequest(app, textMessage("h")), environment)).status).toBe(200);
    await drain(app);
    const [delivery] = await received(app);
    expect(delivery!.headers["cf-access-client-id"]).toBe("id.access");
    expect(delivery!.headers["cf-access-client-secret"]).toBe("s3cret");
  });

  it("answers WeCom at once even when the webhook is slow or failing", async () => {
    const app = newBucket("slowhook");
    const environment = testEnv({ apps: { [app]: webhookApp(`slow/3000/${app}`, {}, { timeoutMs: 10_000 }) } });
    const response = await callWorker(await callbackRequest(app, textMessage("x")), environment);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("success");
    expect((await queueRows(app)).length).toBe(1);
    await drain(app);
    expect((await received(app)).map((r) => r.status)).toEqual([200]);
  });
});

describe("POST /callback/{app}: bad input is refused and nothing is forwarded", () => {
  type Case = [name: string, make: (app: string) => Promise<Request>, status: number, code: number | string, message: string];
  const xmlWith = (encrypted: string) => envelope(encrypted);
  const invalid = (name: string) => generated.invalid.find((v) => v.name === name)!;
  const fromVector = (name: string) => async (app: string) => {
    const v = invalid(name);
    const query = { msgSignature: v.msgSignature, timestamp: v.timestamp, nonce: v.nonce };
    return new Request(callbackUrl(app, query), { method: "POST", body: xmlWith(v.encrypt) });
  };
  const vectorApp = (name: string) => {
    const v = invalid(name);
    return { token: v.token, encodingAESKey: v.encodingAESKey, receiveId: v.receiveId };
  };

  const cases: Case[] = [
    ["missing msg_signature", async (app) => new Request(callbackUrl(app, { timestamp: "1", nonce: "1" }), { method: "POST", body: "<xml/>" }), 400, "missing_parameter", "msg_signature is required"],
    ["a body that is neither XML nor JSON", async (app) => rawCallbackRequest(app, "Encrypt=abc", "abc"), 400, -40002, "body is neither an XML nor a JSON envelope"],
    ["an empty body", async (app) => rawCallbackRequest(app, "", "abc"), 400, -40002, "body is neither an XML nor a JSON envelope"],
    ["XML without Encrypt", async (app) => rawCallbackRequest(app, "<xml><ToUserName>x</ToUserName></xml>", "abc"), 400, -40002, "XML envelope has no Encrypt element"],
    ["malformed XML", async (app) => rawCallbackRequest(app, "<xml><Encrypt>abc</Encrypt>", "abc"), 400, -40002, "XML could not be parsed"],
    ["JSON without encrypt", async (app) => rawCallbackRequest(app, '{"Encrypt":"abc"}', "abc"), 400, -40002, "JSON envelope has no encrypt field"],
    ["a DOCTYPE with entity expansion", async (app) => rawCallbackRequest(app, '<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><xml><Encrypt>&b;</Encrypt></xml>', "abc"), 400, -40002, "XML could not be parsed"],
    ["deeply nested XML", async (app) => rawCallbackRequest(app, `<xml><Encrypt>abc</Encrypt>${"<a>".repeat(200)}${"</a>".repeat(200)}</xml>`, "abc"), 400, -40002, "XML could not be parsed"],
    ["Encrypt that is not base64", async (app) => { const e = "not*base64!"; return rawCallbackRequest(app, xmlWith(e), e); }, 400, -40010, "not valid base64"],
    ["a bad signature", async (app) => { const e = await encrypt(textMessage("x")); const q = await sign("wrongtoken", e); return new Request(callbackUrl(app, q), { method: "POST", body: xmlWith(e) }); }, 401, -40001, "msg_signature does not match"],
    ["a stale timestamp", async (app) => callbackRequest(app, textMessage("x"), { timestamp: String(Math.floor(Date.now() / 1000) - 301) }), 401, "stale_timestamp", "timestamp is more than 300 s from the gateway's clock"],
    ["a timestamp from the future", async (app) => callbackRequest(app, textMessage("x"), { timestamp: String(Math.floor(Date.now() / 1000) + 301) }), 401, "stale_timestamp", "timestamp is more than 300 s from the gateway's clock"],
    ["a foreign receiveId", async (app) => callbackRequest(app, textMessage("x"), { receiveId: "wwSOMEONEELSE" }), 400, -40005, "receiveId is not one this app accepts"],
    ["a decrypted body that is not XML", async (app) => callbackRequest(app, "hello"), 400, -40002, "XML could not be parsed"],
  ];

  it.each(cases)("%s", async (_, make, status, code, message) => {
    const app = newBucket("bad");
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`) } });
    const response = await callWorker(await make(app), environment);
    expect(await errorOf(response)).toEqual({ status, code, message });
    await nothingForwarded(app);
  });

  const vectorCases: [string, number, number | string, string][] = [
    ["ciphertext length not a multiple of 16 (33 bytes)", 400, -40007, "decryption failed"],
    ["pad byte 0", 400, -40007, "decryption failed"],
    ["pad value 33", 400, -40007, "decryption failed"],
    ["inconsistent pad 5", 400, -40007, "decryption failed"],
    ["pad 20 consistent only in last 16 bytes", 400, -40007, "decryption failed"],
    ["length overrun", 400, -40008, "message length overruns the decrypted buffer"],
    ["receiveId mismatch", 400, -40005, "receiveId is not one this app accepts"],
  ];

  it.each(vectorCases)("%s (independent vector)", async (name, status, code, message) => {
    const app = newBucket("vec");
    const environment = testEnv({ maxSkewSeconds: "0", apps: { [app]: { ...vectorApp(name), webhook: { url: `${receiverUrl()}/ok/${app}`, secret: WEBHOOK_SECRET } } } });
    const response = await callWorker(await fromVector(name)(app), environment);
    expect(await errorOf(response)).toEqual({ status, code, message });
    await nothingForwarded(app);
  });

  it("refuses a body over 1 MiB by its Content-Length, before reading any of it", async () => {
    const app = newBucket("big");
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`) } });
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(1024).fill(0x61));
      },
    });
    const request = new Request(callbackUrl(app, await sign(TEST_APP.token, "x")), {
      method: "POST",
      body: stream,
      headers: { "content-length": String(2 * 1024 * 1024) },
      duplex: "half",
    } as RequestInit);
    expect(request.headers.get("content-length")).toBe("2097152");
    const response = await callWorker(request, environment);
    expect(await errorOf(response)).toEqual({ status: 413, code: "payload_too_large", message: "body is larger than 1048576 bytes" });
    // A stream may pull once ahead on its own; the reader never asked for more.
    expect(pulled).toBeLessThanOrEqual(1);
    await nothingForwarded(app);
  });

  it("refuses a streamed body without Content-Length once it passes 1 MiB", async () => {
    const app = newBucket("stream");
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`) } });
    let pulled = 0;
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        if (pulled > 1000) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const request = new Request(callbackUrl(app, await sign(TEST_APP.token, "x")), { method: "POST", body: stream, duplex: "half" } as RequestInit);
    expect(request.headers.get("content-length")).toBeNull();
    const response = await callWorker(request, environment);
    expect(await errorOf(response)).toEqual({ status: 413, code: "payload_too_large", message: "body is larger than 1048576 bytes" });
    // Stopped reading soon after the limit, not at the end of the 64 MB stream.
    expect(pulled).toBeLessThan(40);
    await nothingForwarded(app);
  });
});

/** Nothing reached the app's queue, and nothing reached its webhook. */
async function nothingForwarded(app: string): Promise<void> {
  expect(await queueRows(app)).toEqual([]);
  expect(await received(app)).toEqual([]);
}

describe("POST /callback/{app}: the event id and duplicate headers", () => {
  /** The event id as docs/delivery.md, "What your intranet receives", defines it, computed here independently. */
  async function expectedId(app: string, receiveId: string, plaintext: string): Promise<string> {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${app}\n${receiveId}\n${plaintext}`));
    return `evt_${[...new Uint8Array(digest, 0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  }

  it("names the event on every accepted callback, and marks a resend as a duplicate under the same id", async () => {
    const app = newBucket("dupheaders");
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`) } });
    const plaintext = textMessage("dup", "7000000000000000001");
    const id = await expectedId(app, TEST_APP.receiveId, plaintext);

    const first = await callWorker(await callbackRequest(app, plaintext), environment);
    expect(first.status).toBe(200);
    expect(await first.text()).toBe("success");
    expect(first.headers.get("wecom-edge-event-id")).toBe(id);
    expect(first.headers.get("wecom-edge-duplicate")).toBe(null);

    // WeCom's resend: the same plaintext under a new encryption, nonce and timestamp.
    const resend = await callWorker(await callbackRequest(app, plaintext), environment);
    expect(resend.status).toBe(200);
    expect(await resend.text()).toBe("success");
    expect(resend.headers.get("wecom-edge-event-id")).toBe(id);
    expect(resend.headers.get("wecom-edge-duplicate")).toBe("1");

    // Still a duplicate once delivered (the dedup window), and another message is a new event.
    await drain(app);
    const again = await callWorker(await callbackRequest(app, plaintext), environment);
    expect([again.headers.get("wecom-edge-event-id"), again.headers.get("wecom-edge-duplicate")]).toEqual([id, "1"]);
    const other = await callWorker(await callbackRequest(app, textMessage("dup", "7000000000000000002")), environment);
    expect(other.headers.get("wecom-edge-event-id")).toBe(await expectedId(app, TEST_APP.receiveId, textMessage("dup", "7000000000000000002")));
    expect(other.headers.get("wecom-edge-duplicate")).toBe(null);
    await drain(app);
    expect((await received(app)).length).toBe(2);
  });

  it("names a JSON (AI bot) callback's event too, and never a refused callback", async () => {
    const app = newBucket("dupjson");
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`, { receiveId: "" }) } });
    const plaintext = `{"msgid":"dup-1","aibotid":"AIBOT","chattype":"single","from":{"userid":"zhangsan"},"msgtype":"event","event":{"eventtype":"feedback_event"}}`;
    const first = await callWorker(await callbackRequest(app, plaintext, { format: "json", receiveId: "" }), environment);
    expect(first.status).toBe(200);
    expect(await first.text()).toBe("");
    expect(first.headers.get("wecom-edge-event-id")).toBe(await expectedId(app, "", plaintext));
    expect(first.headers.get("wecom-edge-duplicate")).toBe(null);

    const refused = await callWorker(await callbackRequest(app, plaintext, { format: "json", receiveId: "", token: "wrongToken" }), environment);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("wecom-edge-event-id")).toBe(null);
    expect(refused.headers.get("wecom-edge-duplicate")).toBe(null);
  });
});

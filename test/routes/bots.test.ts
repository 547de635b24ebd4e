/**
 * AI-bot streams (docs/replies.md, "AI-bot streams"): a message opens a stream, the
 * intranet fills it through the stream API, WeCom's refreshes are answered
 * from its state. Every answer is opened by the independent implementation.
 */
import { evictDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  callbackRequest,
  callWorker,
  errorOf,
  newBucket,
  queueRows,
  queueStub,
  receiverUrl,
  TEST_APP,
  testEnv,
  type AppSettings,
} from "../support/wecom.js";
import { encodeBase64 } from "../../src/lib/bytes.js";
import { GIF, JPG, PNG, image } from "../wecom/images.js";

const BOT_TOKEN = "bot-token-0123456789-abcdefghij";
const PULL_TOKEN = "pull-token-0123456789-abcdefghij";

afterEach(() => vi.restoreAllMocks());

function botApp(bot: AppSettings = {}) {
  const app = newBucket("bot");
  const settings = { ...TEST_APP, receiveId: "", pull: { token: PULL_TOKEN }, bot: { token: BOT_TOKEN, placeholder: "思考中…", ...bot } };
  return { app, environment: testEnv({ apps: { [app]: settings, [`${app}-other`]: { ...settings, bot: { token: "another-bot-token-0123456789" } } } }) };
}

const message = (content: string, msgid = "m1") =>
  JSON.stringify({ msgid, aibotid: "b1", chattype: "single", from: { userid: "u1" }, response_url: "https://qyapi.example/r", msgtype: "text", text: { content } });
const refreshOf = (id: string) => JSON.stringify({ msgid: `r-${Math.random()}`, aibotid: "b1", msgtype: "stream", stream: { id } });

async function open(body: string): Promise<{ signatureValid: boolean; receiveId: string; plaintext: string }> {
  const response = await fetch(`${receiverUrl()}/open-reply`, {
    method: "POST",
    body: JSON.stringify({ encodingAESKey: TEST_APP.encodingAESKey, token: TEST_APP.token, format: "json", body }),
  });
  expect(response.status).toBe(200);
  return response.json();
}

/** Sends a bot callback and returns WeCom's view of the answer: the decrypted JSON, or "" for the empty answer. */
async function callback(app: string, environment: Record<string, unknown>, plaintext: string): Promise<unknown> {
  const response = await callWorker(await callbackRequest(app, plaintext, { format: "json", receiveId: "" }), environment);
  expect(response.status).toBe(200);
  const text = await response.text();
  if (text === "") return "";
  const opened = await open(text);
  expect([opened.signatureValid, opened.receiveId]).toEqual([true, ""]);
  return JSON.parse(opened.plaintext);
}

function streamApi(app: string, environment: Record<string, unknown>, streamId: string, body: unknown, token = BOT_TOKEN) {
  return callWorker(
    new Request(`https://wecom-edge.test/bots/${app}/streams/${streamId}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    }),
    environment,
  );
}

async function pulled(app: string, environment: Record<string, unknown>) {
  const response = await callWorker(
    new Request(`https://wecom-edge.test/queue/${app}/pull`, { method: "POST", headers: { authorization: `Bearer ${PULL_TOKEN}` }, body: "{}" }),
    environment,
  );
  return ((await response.json()) as { events: { id: string; streamId?: string; event: { msgtype: string } }[] }).events;
}

describe("an AI-bot stream", () => {
  it("lives from the message to the finished answer: start, snapshots, append, finish, then 409", async () => {
    const { app, environment } = botApp();
    const start = (await callback(app, environment, message("写一首诗"))) as { stream: { id: string } };
    const [event] = await pulled(app, environment);
    const streamId = `stream_${event!.id.slice(4)}`;
    expect(event!.streamId).toBe(streamId);
    expect(start).toEqual({ msgtype: "stream", stream: { id: streamId, finish: false, content: "思考中…" } });

    // WeCom refreshes: the placeholder until the intranet says more. Refreshes are not queued.
    expect(await callback(app, environment, refreshOf(streamId))).toEqual(start);
    expect(await streamApi(app, environment, streamId, { content: "床前" }).then((r) => r.json())).toEqual({ id: streamId, finish: false, bytes: 6 });
    expect(await callback(app, environment, refreshOf(streamId))).toEqual({ msgtype: "stream", stream: { id: streamId, finish: false, content: "床前" } });
    expect(await streamApi(app, environment, streamId, { content: "明月光", append: true }).then((r) => r.json())).toEqual({ id: streamId, finish: false, bytes: 15 });
    expect(await callback(app, environment, refreshOf(streamId))).toEqual({ msgtype: "stream", stream: { id: streamId, finish: false, content: "床前明月光" } });

    // Restart of the Durable Object mid-stream: nothing is lost.
    await evictDurableObject(queueStub(app));
    const images = [image(PNG), image(JPG)];
    expect((await streamApi(app, environment, streamId, { content: "床前明月光，疑是地上霜。", finish: true, msg_item: images })).status).toBe(200);
    expect(await callback(app, environment, refreshOf(streamId))).toEqual({
      msgtype: "stream",
      stream: { id: streamId, finish: true, content: "床前明月光，疑是地上霜。", msg_item: images },
    });
    expect(await errorOf(await streamApi(app, environment, streamId, { content: "more" }))).toEqual({ status: 409, code: "conflict", message: "the stream is finished" });
    expect((await queueRows(app)).length).toBe(1);
    expect((await queueStub(app).stats(app)).refreshes).toBe(4);
  });

  it("replaces the placeholder with a first update that appends", async () => {
    const { app, environment } = botApp();
    const { stream } = (await callback(app, environment, message("append first"))) as { stream: { id: string } };
    expect(await streamApi(app, environment, stream.id, { content: "Hello", append: true }).then((r) => r.json())).toEqual({ id: stream.id, finish: false, bytes: 5 });
    expect(await streamApi(app, environment, stream.id, { content: ", world", append: true }).then((r) => r.json())).toEqual({ id: stream.id, finish: false, bytes: 12 });
    expect(await callback(app, environment, refreshOf(stream.id))).toEqual({ msgtype: "stream", stream: { id: stream.id, finish: false, content: "Hello, world" } });
  });

  it("is the same stream for WeCom's resend of the message, which is queued once", async () => {
    const { app, environment } = botApp();
    const first = await callback(app, environment, message("again", "m9"));
    const second = await callback(app, environment, message("again", "m9"));
    expect(second).toEqual(first);
    expect((await queueRows(app)).length).toBe(1);
  });

  it("answers a refresh of an unknown stream as finished and empty", async () => {
    const { app, environment } = botApp();
    expect(await callback(app, environment, refreshOf("stream_nope"))).toEqual({ msgtype: "stream", stream: { id: "stream_nope", finish: true, content: "" } });
    expect(await queueRows(app)).toEqual([]);
  });

  it("times out: the refresh finishes it with timeoutText added, and later updates get 410", async () => {
    const { app, environment } = botApp({ streamTimeoutSeconds: 1, timeoutText: "（超时）" });
    const { stream } = (await callback(app, environment, message("slow"))) as { stream: { id: string } };
    expect((await streamApi(app, environment, stream.id, { content: "部分" })).status).toBe(200);
    await scheduler.wait(1_100);
    expect(await callback(app, environment, refreshOf(stream.id))).toEqual({ msgtype: "stream", stream: { id: stream.id, finish: true, content: "部分（超时）" } });
    expect(await errorOf(await streamApi(app, environment, stream.id, { content: "late" }))).toEqual({
      status: 410,
      code: "stream_expired",
      message: "the stream is past its timeout; answer through the event's response_url",
    });
  });

  it("refuses bad updates with a clear 4xx and changes nothing", async () => {
    const { app, environment } = botApp();
    const { stream } = (await callback(app, environment, message("x"))) as { stream: { id: string } };
    expect((await streamApi(app, environment, stream.id, { content: "kept" })).status).toBe(200);
    const unauthorized = { status: 401, code: "unauthorized", message: "a valid bearer token is required" };
    expect(await errorOf(await streamApi(app, environment, stream.id, { content: "x" }, "wrong-token-0123456789-abcdefghij"))).toEqual(unauthorized);
    expect(await errorOf(await streamApi("nope", environment, stream.id, { content: "x" }))).toEqual(unauthorized);
    // Another app's stream is not this app's: its own token opens nothing there.
    expect(await errorOf(await streamApi(`${app}-other`, environment, stream.id, { content: "x" }, "another-bot-token-0123456789"))).toEqual({
      status: 404,
      code: "not_found",
      message: "no such stream",
    });
    expect(await errorOf(await streamApi(app, environment, stream.id, { content: "字".repeat(6_827) }))).toEqual({
      status: 413,
      code: "payload_too_large",
      message: "a stream holds at most 20480 bytes of content",
    });
    expect(await errorOf(await streamApi(app, environment, stream.id, { content: "x", msg_item: [] }))).toEqual({
      status: 400,
      code: "invalid_parameter",
      message: "msg_item goes only with finish: true",
    });
    expect(await errorOf(await streamApi(app, environment, stream.id, { content: "x", finish: true, msg_item: Array(11).fill(image(PNG)) }))).toEqual({
      status: 400,
      code: "invalid_parameter",
      message: "msg_item holds 11 images; WeCom takes at most 10",
    });
    expect((await errorOf(await streamApi(app, environment, stream.id, { finish: true }))).message).toBe("content must be a string");
    expect(await callback(app, environment, refreshOf(stream.id))).toEqual({ msgtype: "stream", stream: { id: stream.id, finish: false, content: "kept" } });
  });
});

describe("a finished stream's msg_item", () => {
  /** One PNG item whose base64 is `length` characters (a multiple of 4), its md5 as given. */
  const bigPng = (length: number, md5 = "0".repeat(32)) => {
    const bytes = new Uint8Array((length / 4) * 3);
    bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    return { bytes, item: { msgtype: "image", image: { base64: encodeBase64(bytes), md5 } } };
  };
  /** The JSON of one item around its base64, as stored. */
  const OVERHEAD = JSON.stringify([{ msgtype: "image", image: { base64: "", md5: "0".repeat(32) } }]).length;

  it.each([
    ["a GIF", [image(PNG), image(GIF)], 400, "invalid_parameter", "msg_item[1].image is not a JPG or PNG (WeCom takes only those)"],
    ["text for an image", [image({ base64: "aGVsbG8=", md5: "5d41402abc4b2a76b9719d911017c592" })], 400, "invalid_parameter", "msg_item[0].image is not a JPG or PNG (WeCom takes only those)"],
    ["malformed base64", [image({ ...PNG, base64: `${PNG.base64}!` })], 400, "invalid_parameter", "msg_item[0].image.base64 must be padded base64 (A-Z, a-z, 0-9, +, /)"],
    ["a wrong md5", [image(PNG), image({ ...JPG, md5: PNG.md5 })], 400, "invalid_parameter", `msg_item[1].image.md5 is not the MD5 of its image (${JPG.md5})`],
    ["not an array", image(PNG), 400, "invalid_parameter", "msg_item must be an array of images"],
    [
      "JSON past what a stream holds",
      [bigPng(Math.floor((1_879_520 - OVERHEAD) / 4) * 4 + 4).item],
      413,
      "payload_too_large",
      "msg_item is 1879524 bytes of JSON; a stream holds at most 1879520 beside its content (1900000 in all)",
    ],
  ])("refuses %s with a clear 4xx, and the stream stays as it was", async (_, msgItem, status, code, said) => {
    const { app, environment } = botApp();
    const { stream } = (await callback(app, environment, message("draw"))) as { stream: { id: string } };
    expect((await streamApi(app, environment, stream.id, { content: "画好了" })).status).toBe(200);
    expect(await errorOf(await streamApi(app, environment, stream.id, { content: "画好了：", finish: true, msg_item: msgItem }))).toEqual({ status, code, message: said });
    expect(await callback(app, environment, refreshOf(stream.id))).toEqual({ msgtype: "stream", stream: { id: stream.id, finish: false, content: "画好了" } });
    // Still open: a good finish is taken.
    expect(await streamApi(app, environment, stream.id, { content: "画好了：", finish: true, msg_item: [image(JPG)] }).then((r) => r.json())).toEqual({
      id: stream.id,
      finish: true,
      bytes: 12,
    });
  });

  it("takes the largest msg_item a stream holds, and the refresh answers it whole", async () => {
    const { app, environment } = botApp();
    const { stream } = (await callback(app, environment, message("draw big"))) as { stream: { id: string } };
    const length = Math.floor((1_879_520 - OVERHEAD) / 4) * 4;
    const { bytes, item } = bigPng(length);
    const md5 = Array.from(new Uint8Array(await crypto.subtle.digest("MD5", bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
    const largest = { ...item, image: { ...item.image, md5 } };
    expect(JSON.stringify([largest]).length).toBe(1_879_520);
    const content = "图".repeat(6_826);
    const response = await streamApi(app, environment, stream.id, { content, finish: true, msg_item: [largest] });
    expect(await response.json()).toEqual({ id: stream.id, finish: true, bytes: 20_478 });
    expect(await callback(app, environment, refreshOf(stream.id))).toEqual({
      msgtype: "stream",
      stream: { id: stream.id, finish: true, content, msg_item: [largest] },
    });
  });

  it("refuses a body past 2,000,000 bytes", async () => {
    const { app, environment } = botApp();
    const { stream } = (await callback(app, environment, message("too much"))) as { stream: { id: string } };
    const body = { content: "x", finish: true, msg_item: [bigPng(2_000_000).item] };
    expect(await errorOf(await streamApi(app, environment, stream.id, body))).toEqual({
      status: 413,
      code: "payload_too_large",
      message: "body is larger than 2000000 bytes",
    });
  });
});

describe("other AI-bot callbacks", () => {
  const event = (eventtype: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ msgid: `e-${eventtype}`, aibotid: "b1", chattype: "single", from: { userid: "u1" }, msgtype: "event", event: { eventtype, ...extra } });

  it("answers enter_chat with the welcome, and queues it", async () => {
    const welcome = { msgtype: "text", text: { content: "你好，我是助手" } };
    const { app, environment } = botApp({ welcome });
    expect(await callback(app, environment, event("enter_chat"))).toEqual(welcome);
    expect((await pulled(app, environment)).map((e) => [e.event.msgtype, e.streamId])).toEqual([["event", undefined]]);
  });

  it("answers template_card_event with the card update a rule gives, and queues it", async () => {
    const update = { response_type: "update_template_card", userids: ["u1"], template_card: { card_type: "text_notice", main_title: { title: "已处理" }, task_id: "t1" } };
    const app = newBucket("card");
    const environment = testEnv({
      apps: {
        [app]: {
          ...TEST_APP,
          receiveId: "",
          pull: { token: PULL_TOKEN },
          bot: { token: BOT_TOKEN },
          reply: { rules: [{ match: { "event.eventtype": "template_card_event", "event.template_card_event.event_key": "done" }, reply: update }] },
        },
      },
    });
    const click = event("template_card_event", { template_card_event: { card_type: "text_notice", event_key: "done", task_id: "t1" } });
    expect(await callback(app, environment, click)).toEqual(update);
    expect((await pulled(app, environment)).map((e) => e.event.msgtype)).toEqual(["event"]);
  });

  it("answers feedback_event with the empty answer, and queues it", async () => {
    const { app, environment } = botApp({ welcome: { msgtype: "text", text: { content: "hi" } } });
    expect(await callback(app, environment, event("feedback_event", { feedback_event: { id: "fb1", type: 1 } }))).toBe("");
    expect((await pulled(app, environment)).length).toBe(1);
  });

  it("refuses a welcome that is not a bot text or template_card, by path", async () => {
    const app = newBucket("badbot");
    const environment = testEnv({ apps: { [app]: { ...TEST_APP, receiveId: "", pull: { token: PULL_TOKEN }, bot: { token: BOT_TOKEN, welcome: { MsgType: "text", Content: "x" } } } } });
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const response = await callWorker(await callbackRequest(app, message("x"), { format: "json", receiveId: "" }), environment);
    expect(await errorOf(response)).toEqual({ status: 503, code: "invalid_config", message: `app "${app}" is misconfigured` });
    expect(JSON.parse(String(warn.mock.calls[0]![0])).detail).toBe(`WECOM_APPS.${app}.bot.welcome must be a bot text or template_card reply`);
  });
});

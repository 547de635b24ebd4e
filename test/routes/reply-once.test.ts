/**
 * The reply endpoint is asked once per event id (docs/replies.md, "The reply
 * endpoint"): a copy of a callback that arrives while the first copy's
 * question is still out (WeCom's retry overlapping a slow first answer) waits
 * for that answer instead of asking again, and both copies carry the same
 * passive reply, each sealed with its own timestamp and nonce.
 */
import { runInDurableObject } from "cloudflare:test";
import { XMLParser } from "fast-xml-parser";
import { afterEach, describe, expect, it, vi } from "vitest";
import { callbackRequest, callWorker, drain, expectedEventId, newBucket, queueStub, received, receiverUrl, TEST_APP, testEnv, textMessage, webhookApp } from "../support/wecom.js";

const SECRET = "whsec_c2VjcmV0LWZvci10aGUtcmVwbHktZW5kcG9pbnQ=";
const parser = new XMLParser({ parseTagValue: false, trimValues: false });

/** Copies of event `id` waiting for the first copy's answer in the app's queue; -1: no question out. */
function waiting(app: string, id: string): Promise<number> {
  return runInDurableObject(
    queueStub(app),
    (instance) => (instance as unknown as { replies: { asking: Map<string, { waiting: unknown[] }> } }).replies.asking.get(id)?.waiting.length ?? -1,
  );
}

afterEach(() => vi.restoreAllMocks());

interface Opened {
  envelope: { timestamp: string; nonce: string };
  signatureValid: boolean;
  plaintext: string;
}

/** Opens a passive reply with the independent implementation (test/support/independent.ts). */
async function open(body: string): Promise<Opened> {
  const response = await fetch(`${receiverUrl()}/open-reply`, {
    method: "POST",
    body: JSON.stringify({ encodingAESKey: TEST_APP.encodingAESKey, token: TEST_APP.token, format: "xml", body }),
  });
  expect(response.status).toBe(200);
  return response.json();
}

/**
 * An app whose reply endpoint is the receiver's `hold/{bucket}`: each ask is
 * recorded there at once and answered only when the test releases it. The
 * hold's answer is not a reply object, so the Worker's fetch of it is
 * wrapped to answer `answer #n`, n counting the asks: a second ask would
 * show as a different reply.
 */
const PLAINTEXT = textMessage("what is my leave balance?", "880001");

function slowEndpointApp() {
  const app = newBucket("reply-once");
  const endpoint = `${app}-ep`;
  const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`, { reply: { url: `${receiverUrl()}/hold/${endpoint}`, secret: SECRET, timeoutMs: 4_500 } }) } });
  const real = globalThis.fetch;
  let asks = 0;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (!url.endsWith(`/hold/${endpoint}`)) return real(input, init);
    const n = ++asks;
    const answer = await real(input, init);
    await answer.arrayBuffer();
    return new Response(JSON.stringify({ MsgType: "text", Content: `answer #${n}` }), { status: answer.status, headers: { "content-type": "application/json" } });
  });
  return {
    app,
    endpoint,
    /** One copy of the callback, as WeCom sends each retry: the same plaintext, encrypted and signed anew. */
    id: expectedEventId(app, PLAINTEXT),
    copy(nonce: string, timestamp: string) {
      return callbackRequest(app, PLAINTEXT, { nonce, timestamp }).then((request) => callWorker(request, environment));
    },
    release: () => fetch(`${receiverUrl()}/hold/${endpoint}/release`, { method: "PUT" }).then((r) => r.arrayBuffer()),
  };
}

/** The reply's text and the envelope's timestamp and nonce. */
async function replyOf(response: Response): Promise<{ content: string; msgType: string; timestamp: string; nonce: string; valid: boolean }> {
  expect([response.status, response.headers.get("content-type")]).toEqual([200, "text/xml; charset=utf-8"]);
  const opened = await open(await response.text());
  const { xml } = parser.parse(opened.plaintext) as { xml: { Content: string; MsgType: string; ToUserName: string } };
  expect(xml.ToUserName).toBe("zhangsan");
  return { content: xml.Content, msgType: xml.MsgType, timestamp: String(opened.envelope.timestamp), nonce: opened.envelope.nonce, valid: opened.signatureValid };
}

describe("two copies of one callback, the endpoint still thinking", () => {
  it("ask the endpoint once, and both carry its one reply; a later resend gets it again without asking", async () => {
    const { app, endpoint, copy, release, id: eventId } = slowEndpointApp();
    const id = await eventId;
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const now = Math.floor(Date.now() / 1000);

    const first = copy("nonce-first", String(now));
    // The first copy's question is out (the receiver has it), and held.
    for (let i = 0; i < 300 && (await received(endpoint)).length === 0; i++) await scheduler.wait(10);
    expect((await received(endpoint)).length).toBe(1);
    expect(await waiting(app, id)).toBe(0);

    // WeCom's retry: the same plaintext, a new nonce (and so a new signature and ciphertext).
    const second = copy("nonce-retry", String(now + 1));
    // It waits in the queue for the first copy's answer.
    for (let i = 0; i < 300 && (await waiting(app, id)) === 0; i++) await scheduler.wait(10);
    expect(await waiting(app, id)).toBe(1);
    expect((await received(endpoint)).length).toBe(1);

    await release();
    const [a, b] = await Promise.all([first, second]);
    const [ra, rb] = [await replyOf(a), await replyOf(b)];
    expect(ra).toEqual({ content: "answer #1", msgType: "text", timestamp: String(now), nonce: "nonce-first", valid: true });
    expect(rb).toEqual({ content: "answer #1", msgType: "text", timestamp: String(now + 1), nonce: "nonce-retry", valid: true });
    expect((await received(endpoint)).map((asked) => asked.headers["webhook-id"])).toEqual([id]);

    // A resend after both: the remembered reply, no new question.
    const third = await replyOf(await copy("nonce-later", String(now + 2)));
    expect([third.content, third.nonce]).toEqual(["answer #1", "nonce-later"]);
    expect((await received(endpoint)).length).toBe(1);

    const replies = log.mock.calls
      .map((args) => JSON.parse(String(args[0])) as { route?: string; reply?: string })
      .filter((line) => line.route === "callback")
      .map((line) => line.reply);
    expect(replies.sort()).toEqual(["endpoint", "endpoint (asked by another copy)", "endpoint (remembered)"]);
    log.mockRestore();

    // The event itself was queued once and delivered once.
    await drain(app);
    expect((await received(app)).map((r) => r.headers["webhook-id"])).toEqual([id]);
  });

  it("a question that gets no usable answer is asked once too: both copies answer \"success\"", async () => {
    const app = newBucket("reply-once-none");
    const endpoint = `${app}-ep`;
    // slow/…: a 200 with "ok", which is no reply object.
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`, { reply: { url: `${receiverUrl()}/slow/600/${endpoint}`, secret: SECRET } }) } });
    vi.spyOn(console, "log").mockImplementation(() => {});
    const send = (nonce: string) => callbackRequest(app, textMessage("no answer", "880002"), { nonce }).then((request) => callWorker(request, environment));
    const id = await expectedEventId(app, textMessage("no answer", "880002"));
    const first = send("n-1");
    // The first copy's question is out; the second arrives while the endpoint takes its 600 ms, and waits.
    for (let i = 0; i < 300 && (await waiting(app, id)) === -1; i++) await scheduler.wait(10);
    expect(await waiting(app, id)).toBe(0);
    const second = send("n-2");
    for (let i = 0; i < 300 && (await waiting(app, id)) === 0; i++) await scheduler.wait(10);
    expect(await waiting(app, id)).toBe(1);
    const texts = await Promise.all([first, second].map(async (p) => (await p).text()));
    expect(texts).toEqual(["success", "success"]);
    // The slow receiver records a request once it has answered it.
    await scheduler.wait(700);
    expect((await received(endpoint)).length).toBe(1);
  });
});

describe("a reply question that was abandoned", () => {
  it("is asked again by the next copy once it is older than a copy waits (4.5 s), instead of every later copy waiting for nothing", async () => {
    const app = newBucket("abandoned");
    const stub = queueStub(app);
    await runInDurableObject(stub, async (queue) => {
      let now = 1_900_000_000_000;
      const clock = vi.spyOn(Date, "now").mockImplementation(() => now);
      try {
        // The first copy's Worker asks and is never heard from again (cancelled when WeCom hung up).
        expect(await queue.claimReply("evt_lost")).toEqual({ ask: true });
        now += 4_501;
        expect(await queue.claimReply("evt_lost")).toEqual({ ask: true });
        await queue.rememberReply("evt_lost", "");
        expect(await queue.claimReply("evt_lost")).toEqual({ ask: false, reply: "" });
      } finally {
        clock.mockRestore();
      }
    });
  });
});

/**
 * AI-bot streams in the queue's totals (docs/replies.md, "AI-bot streams";
 * issue 13's delivery defects): `streamBytes` counts each stream's content
 * and msg_item bytes exactly, and streams gone for more than 10 minutes
 * leave by the queue's alarm, without waiting for a new stream to arrive.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { STREAM_KEEP_MS } from "../../src/queue/streams.js";
import { callbackRequest, callWorker, newBucket, queueStub, receiverUrl, TEST_APP, testEnv, type AppSettings } from "../support/wecom.js";
import { image, JPG, PNG } from "../wecom/images.js";

const BOT_TOKEN = "bot-token-streams-0123456789-abcdef";
const PULL_TOKEN = "pull-token-streams-0123456789-abcdef";
const PLACEHOLDER = "思考中…";

afterEach(() => vi.restoreAllMocks());

const utf8 = (text: string) => new TextEncoder().encode(text).length;

function botApp(bot: AppSettings = {}) {
  const app = newBucket("streams");
  return { app, environment: testEnv({ apps: { [app]: { ...TEST_APP, receiveId: "", pull: { token: PULL_TOKEN }, bot: { token: BOT_TOKEN, placeholder: PLACEHOLDER, ...bot } } } }) };
}

const message = (content: string, msgid: string) =>
  JSON.stringify({ msgid, aibotid: "b1", chattype: "single", from: { userid: "u1" }, response_url: "https://qyapi.example/r", msgtype: "text", text: { content } });
const refreshOf = (id: string) => JSON.stringify({ msgid: `r-${Math.random()}`, aibotid: "b1", msgtype: "stream", stream: { id } });

async function open(body: string): Promise<{ plaintext: string }> {
  const response = await fetch(`${receiverUrl()}/open-reply`, {
    method: "POST",
    body: JSON.stringify({ encodingAESKey: TEST_APP.encodingAESKey, token: TEST_APP.token, format: "json", body }),
  });
  expect(response.status).toBe(200);
  return response.json();
}

/** Sends a bot callback; answers the decrypted reply. */
async function callback(app: string, environment: Record<string, unknown>, plaintext: string): Promise<{ msgtype: string; stream: { id: string; finish: boolean; content: string } }> {
  const response = await callWorker(await callbackRequest(app, plaintext, { format: "json", receiveId: "" }), environment);
  expect(response.status).toBe(200);
  return JSON.parse((await open(await response.text())).plaintext);
}

async function update(app: string, environment: Record<string, unknown>, streamId: string, body: unknown): Promise<unknown> {
  const response = await callWorker(
    new Request(`https://wecom-edge.test/bots/${app}/streams/${streamId}`, { method: "POST", headers: { authorization: `Bearer ${BOT_TOKEN}` }, body: JSON.stringify(body) }),
    environment,
  );
  return { status: response.status, body: await response.json() };
}

const streamBytes = async (app: string) => (await queueStub(app).stats(app)).streamBytes;

/** The streams table: id → size, and the counters row's stream_bytes (what a restart reads back). */
function stored(app: string): Promise<{ sizes: Record<string, number>; counter: number }> {
  return runInDurableObject(queueStub(app), (_, state) => {
    const sizes: Record<string, number> = {};
    for (const row of state.storage.sql.exec<{ id: string; size: number }>("SELECT id, size FROM streams ORDER BY id")) sizes[row.id] = row.size;
    return { sizes, counter: state.storage.sql.exec<{ n: number }>("SELECT stream_bytes AS n FROM counters").one().n };
  });
}

/** Moves stream `id`'s timeout back, as if it had expired `ago` ms before now. */
function expire(app: string, id: string, ago: number): Promise<void> {
  return runInDurableObject(queueStub(app), (_, state) => {
    state.storage.sql.exec("UPDATE streams SET expires_at = ? WHERE id = ?", Date.now() - ago, id);
  });
}

describe("streamBytes", () => {
  it("counts each stream's content and msg_item bytes, exactly, as it opens and as it is updated", async () => {
    const { app, environment } = botApp();
    expect(await streamBytes(app)).toBe(0);
    const { stream: s1 } = await callback(app, environment, message("写一首诗", "m1"));
    expect(utf8(PLACEHOLDER)).toBe(12);
    expect(await streamBytes(app)).toBe(12);

    // A snapshot replaces the placeholder; an append adds to it.
    expect(await update(app, environment, s1.id, { content: "床前" })).toEqual({ status: 200, body: { id: s1.id, finish: false, bytes: 6 } });
    expect(await streamBytes(app)).toBe(6);
    expect(await update(app, environment, s1.id, { content: "明月光", append: true })).toEqual({ status: 200, body: { id: s1.id, finish: false, bytes: 15 } });
    expect(await streamBytes(app)).toBe(15);

    // A second stream opens beside it.
    const { stream: s2 } = await callback(app, environment, message("再来一首", "m2"));
    expect(await streamBytes(app)).toBe(15 + 12);

    // Finished with two images: content bytes plus msg_item's JSON as stored.
    const items = [image(PNG), image(JPG)];
    const content = "床前明月光，疑是地上霜。";
    expect(await update(app, environment, s1.id, { content, finish: true, msg_item: items })).toEqual({ status: 200, body: { id: s1.id, finish: true, bytes: utf8(content) } });
    const s1Bytes = utf8(content) + JSON.stringify(items).length;
    expect(utf8(content)).toBe(36);
    expect(await streamBytes(app)).toBe(s1Bytes + 12);
    expect(await stored(app)).toEqual({ sizes: { [s1.id]: s1Bytes, [s2.id]: 12 }, counter: s1Bytes + 12 });

    // A refused update changes nothing; a resend of the message opens nothing new.
    expect((await update(app, environment, s1.id, { content: "more" }) as { status: number }).status).toBe(409);
    await callback(app, environment, message("再来一首", "m2"));
    expect(await streamBytes(app)).toBe(s1Bytes + 12);
  });
});

describe("expired streams", () => {
  it("leave by the queue's alarm alone (no new stream arriving), and streamBytes goes back down exactly", async () => {
    const { app, environment } = botApp();
    const { stream: finished } = await callback(app, environment, message("one", "m1"));
    const { stream: unanswered } = await callback(app, environment, message("two", "m2"));
    const { stream: live } = await callback(app, environment, message("three", "m3"));
    expect(await update(app, environment, finished.id, { content: "done", finish: true })).toMatchObject({ status: 200 });
    expect(await streamBytes(app)).toBe(4 + 12 + 12);

    // Two of them gone for more than 10 minutes; the third still within its time.
    await expire(app, finished.id, STREAM_KEEP_MS + 1_000);
    await expire(app, unanswered.id, STREAM_KEEP_MS + 1_000);
    expect(await runDurableObjectAlarm(queueStub(app))).toBe(true);
    expect(await stored(app)).toEqual({ sizes: { [live.id]: 12 }, counter: 12 });
    expect(await streamBytes(app)).toBe(12);
    // A refresh of a purged stream: finished and empty, as for any unknown stream.
    expect(await callback(app, environment, refreshOf(unanswered.id))).toEqual({ msgtype: "stream", stream: { id: unanswered.id, finish: true, content: "" } });
  });

  it("a bot's first stream, never answered, has the alarm set for its purge, and the alarm drops it alone", async () => {
    const { app, environment } = botApp();
    const before = Date.now();
    const { stream } = await callback(app, environment, message("nobody answers", "m1"));
    expect(await streamBytes(app)).toBe(12);
    // Its time (streamTimeoutSeconds, 330 s by default) and 10 minutes more.
    const { expiresAt, alarm } = await runInDurableObject(queueStub(app), async (_, state) => ({
      expiresAt: state.storage.sql.exec<{ at: number }>("SELECT expires_at AS at FROM streams").one().at,
      alarm: await state.storage.getAlarm(),
    }));
    expect(expiresAt).toBeGreaterThan(before);
    expect(alarm).toBe(expiresAt + STREAM_KEEP_MS);

    // Gone for 10 minutes and a second: the alarm, and nothing else, drops it.
    await expire(app, stream.id, STREAM_KEEP_MS + 1_000);
    expect(await runDurableObjectAlarm(queueStub(app))).toBe(true);
    expect(await stored(app)).toEqual({ sizes: {}, counter: 0 });
    expect(await streamBytes(app)).toBe(0);
  });

  it("a stream within its 10 minutes past the timeout stays", async () => {
    const { app, environment } = botApp();
    const { stream } = await callback(app, environment, message("kept", "m1"));
    await expire(app, stream.id, STREAM_KEEP_MS - 5_000);
    expect(await runDurableObjectAlarm(queueStub(app))).toBe(true);
    expect(await stored(app)).toEqual({ sizes: { [stream.id]: 12 }, counter: 12 });
  });
});

/**
 * AI-bot streams (docs/replies.md, "AI-bot streams"): WeCom's refreshes are answered
 * from the stream's state in the app's queue object, and the intranet fills
 * that state through the stream API:
 *
 *   POST /bots/{app}/streams/{streamId}  {"content", "finish"?, "append"?, "msg_item"?}  → {"id", "finish", "bytes"}
 *
 * An unknown app, an app without `bot` and a wrong token get the same 401.
 */
import { aesKeyOf, fingerprintOf, loadConfig, type AppConfig, type Credential } from "../config.js";
import type { QueueEnv } from "../queue/bindings.js";
import { queueOf } from "../queue/bindings.js";
import { queueName, shardOfStream } from "../queue/shards.js";
import { WecomError } from "../errors.js";
import type { RequestLog } from "../log.js";
import type { StreamUpdate } from "../queue/app-queue.js";
import { isPlainObject } from "../lib/checks.js";
import { streamReply } from "../wecom/bot.js";
import { MAX_STREAM_BYTES, MAX_STREAM_STATE_BYTES, checkMsgItem, jsonReply, msgItemDigestProblem } from "../wecom/reply.js";
import { refuseBearer, requireBearer } from "./auth.js";
import { jsonResponse, jsonTextResponse, readBodyLimited } from "./http.js";
import type { CallbackQuery } from "./callback.js";
import type { Route, RouteContext } from "./table.js";

/** A stream update's body: what a stream holds (content and msg_item), and room for the JSON around them. */
export const MAX_STREAM_UPDATE_BYTES = MAX_STREAM_STATE_BYTES + 100_000;

/** The answer to a refresh callback: the stream as it stands, sealed with the refresh's own timestamp and nonce. */
export async function answerRefresh(
  context: { app: AppConfig; env: Pick<QueueEnv, "QUEUE">; query: CallbackQuery; credential: Credential; log: RequestLog },
  streamId: string,
): Promise<Response> {
  const { app, env, query, credential, log } = context;
  const state = await queueOf(env, queueName(app.name, shardOfStream(streamId, app.shards))).refresh(streamId, app.bot!.timeoutText, await fingerprintOf(credential));
  log.reply = state.finish ? "stream refresh: finished" : "stream refresh";
  const body = await jsonReply(await aesKeyOf(credential), credential.token, streamReply(state), query.timestamp, query.nonce);
  return jsonTextResponse(body);
}

async function updateStream({ request, env, params, log }: RouteContext): Promise<Response> {
  const app = loadConfig(env).apps.get(params[0]!);
  if (!app?.bot) {
    log.detail = app ? "app has no bot" : "no such app";
    return refuseBearer(request);
  }
  await requireBearer(request, app.bot.token);
  const streamId = params[1]!;
  const update = await parseUpdate(await readBodyLimited(request, MAX_STREAM_UPDATE_BYTES));
  const result = await queueOf(env, queueName(app.name, shardOfStream(streamId, app.shards))).updateStream(streamId, update);
  switch (result.status) {
    case "ok":
      return jsonResponse({ id: streamId, finish: result.finish, bytes: result.bytes });
    case "unknown":
      throw new WecomError("not_found", "no such stream");
    case "finished":
      throw new WecomError("conflict", "the stream is finished");
    case "expired":
      throw new WecomError("stream_expired", "the stream is past its timeout; answer through the event's response_url");
    case "too_large":
      throw new WecomError("payload_too_large", `a stream holds at most ${MAX_STREAM_BYTES} bytes of content`);
  }
}

/** The update asked for, or a WecomError: a msg_item that WeCom would not take is refused here, before anything is stored. */
async function parseUpdate(text: string): Promise<StreamUpdate> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!isPlainObject(body)) throw new WecomError("invalid_parameter", "body must be a JSON object");
  const { content, append = false, finish = false, msg_item: msgItem } = body;
  if (typeof content !== "string") throw new WecomError("invalid_parameter", "content must be a string");
  if (typeof append !== "boolean" || typeof finish !== "boolean") throw new WecomError("invalid_parameter", "append and finish must be true or false");
  if (msgItem === undefined) return { content, append, finish, msgItem: null };
  if (!finish) throw new WecomError("invalid_parameter", "msg_item goes only with finish: true");
  const checked = checkMsgItem(msgItem, "msg_item");
  if ("problem" in checked) throw new WecomError(checked.tooLarge ? "payload_too_large" : "invalid_parameter", checked.problem);
  const mismatch = await msgItemDigestProblem(checked, "msg_item");
  if (mismatch !== null) throw new WecomError("invalid_parameter", mismatch);
  return { content, append, finish, msgItem: checked.json };
}

export const botRoutes: Route[] = [
  { name: "bot", path: /^\/bots\/([^/]+)\/streams\/([^/]{1,256})\/?$/, methods: { POST: updateStream }, appParam: 0 },
];

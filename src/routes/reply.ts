/**
 * The passive reply to a committed callback (docs/replies.md, "Replies"): the first
 * matching rule's reply, else the reply endpoint's answer, if it fits the
 * callback; encrypted and signed with the callback's own timestamp and nonce.
 * Rules are pure functions of the event, so WeCom's resend gets the same
 * reply; the endpoint's answer is remembered per event id for the same end.
 */
import { aesKeyOf, type AppConfig, type Credential, type EndpointConfig } from "../config.js";
import type { Decrypted } from "../crypto/index.js";
import { isPlainObject } from "../lib/checks.js";
import type { RequestLog } from "../log.js";
import { claimReply, rememberReply, type commitEvent } from "../queue/client.js";
import type { QueueEnv } from "../queue/bindings.js";
import { askEndpoint } from "../webhook/send.js";
import { serializeEvent, type WecomEvent } from "../wecom/event.js";
import { jsonReply, replyFormat, replyProblem, xmlReply, xmlReplyPlaintext, type ReplyObject } from "../wecom/reply.js";
import { matchRule } from "../wecom/rules.js";
import { jsonTextResponse } from "./http.js";
import { classifyBotCallback } from "../wecom/bot.js";
import type { CallbackQuery } from "./callback.js";

/** A reply endpoint's answer is read up to this size: WeCom's largest reply (a stream) is 20 KiB of content. */
const MAX_ENDPOINT_ANSWER_BYTES = 64 * 1024;

export interface ReplyContext {
  readonly app: AppConfig;
  readonly env: Pick<QueueEnv, "QUEUE">;
  readonly event: WecomEvent;
  readonly decrypted: Decrypted;
  /** The credential the callback came with: the reply is sealed with it. */
  readonly credential: Credential;
  readonly query: CallbackQuery;
  readonly committed: Awaited<ReturnType<typeof commitEvent>>;
  readonly log: RequestLog;
}

/**
 * The answer that carries the reply, or null for "no reply" (the reason, if
 * any, goes to the log line): a rule's, else the endpoint's, else an AI
 * bot's own (a stream start for a message, the welcome for enter_chat).
 */
export async function replyTo(context: ReplyContext): Promise<Response | null> {
  const { app, event, log } = context;
  const index = app.reply ? matchRule(app.reply.rules, event.event) : -1;
  let reply: ReplyObject | null = null;
  if (index !== -1) {
    reply = app.reply!.rules[index]!.reply;
    log.reply = `rule ${index}`;
  } else if (app.reply?.endpoint) {
    reply = await fromEndpoint(context, app.reply.endpoint);
  }
  reply ??= botReply(app, event, log);
  if (reply === null) return null;
  const misfit = misfitOf(reply, event);
  if (misfit !== null) {
    log.reply += `: not sent, ${misfit}`;
    return null;
  }
  return seal(context, reply);
}

/**
 * The endpoint's reply: remembered from the first copy of this callback,
 * given by a copy asking at the same time, or asked for now and remembered. Any answer but a 200 with a valid reply
 * object is "no reply", and the log line says why.
 */
async function fromEndpoint(context: ReplyContext, endpoint: EndpointConfig): Promise<ReplyObject | null> {
  const { app, env, event, committed, log } = context;
  if (committed.reply !== undefined) {
    log.reply = committed.reply === "" ? "endpoint (remembered): no reply" : "endpoint (remembered)";
    return committed.reply === "" ? null : (JSON.parse(committed.reply) as ReplyObject);
  }
  // A copy that overlaps the first (WeCom's retry of a slow answer) waits for the first copy's question instead of asking again.
  const claim = await claimReply(env, app, event.id, committed.shard);
  if (!claim.ask) {
    if (claim.reply === undefined) {
      log.reply = "endpoint (asked by another copy): no reply in time";
      return null;
    }
    log.reply = claim.reply === "" ? "endpoint (asked by another copy): no reply" : "endpoint (asked by another copy)";
    return claim.reply === "" ? null : (JSON.parse(claim.reply) as ReplyObject);
  }
  let answer: Awaited<ReturnType<typeof askEndpoint>>;
  try {
    answer = await askEndpoint(endpoint, event.id, serializeEvent(event), MAX_ENDPOINT_ANSWER_BYTES);
  } catch (error) {
    // Copies waiting for this question are let go at once, with no reply.
    await rememberReply(env, app, event.id, committed.shard, undefined).catch(() => {});
    throw error;
  }
  let reply: ReplyObject | null = null;
  if ("error" in answer) log.reply = `endpoint: no reply, ${answer.error}`;
  else if (answer.status !== 200) log.reply = `endpoint: no reply, it answered ${answer.status}`;
  else {
    const parsed = parseJson(answer.text);
    const problem = parsed === undefined ? "its answer is not a JSON object of at most 64 KiB" : replyProblem(parsed);
    if (problem === null) {
      reply = parsed as ReplyObject;
      log.reply = "endpoint";
    } else {
      log.reply = `endpoint: no reply, ${problem}`;
    }
  }
  await rememberReply(env, app, event.id, committed.shard, reply === null ? "" : JSON.stringify(reply));
  return reply;
}

function parseJson(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isPlainObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** An AI bot's own answer: a message opens its stream; enter_chat gets the welcome. */
function botReply(app: AppConfig, event: WecomEvent, log: RequestLog): ReplyObject | null {
  if (!app.bot || event.format !== "json") return null;
  if (event.streamId !== undefined) {
    log.reply = log.reply === undefined ? "stream start" : `${log.reply}; stream start`;
    return { msgtype: "stream", stream: { id: event.streamId, finish: false, content: app.bot.placeholder } };
  }
  if (app.bot.welcome && classifyBotCallback(event.event).kind === "enter_chat") {
    log.reply = log.reply === undefined ? "welcome" : `${log.reply}; welcome`;
    return app.bot.welcome;
  }
  return null;
}

/** Why a reply cannot answer this callback, or null. */
function misfitOf(reply: ReplyObject, event: WecomEvent): string | null {
  if (replyFormat(reply) !== event.format) {
    return event.format === "xml" ? "a bot reply cannot answer an app's XML callback" : "an XML reply cannot answer a bot's JSON callback";
  }
  const fields = event.event as Record<string, unknown>;
  if (event.format === "xml" && (typeof fields.FromUserName !== "string" || typeof fields.ToUserName !== "string")) {
    return "the callback names no FromUserName and ToUserName to answer";
  }
  // A bot's text reply is for its welcome only.
  if (reply.msgtype === "text") {
    const inner = fields.event;
    if (fields.msgtype !== "event" || !isPlainObject(inner) || inner.eventtype !== "enter_chat") {
      return "a bot's text reply answers enter_chat only";
    }
  }
  return null;
}

async function seal({ event, decrypted, credential, query }: ReplyContext, reply: ReplyObject): Promise<Response> {
  const aes = await aesKeyOf(credential);
  if (event.format === "json") {
    const body = await jsonReply(aes, credential.token, JSON.stringify(reply), query.timestamp, query.nonce);
    return jsonTextResponse(body);
  }
  const fields = event.event as Record<string, unknown>;
  const plaintext = xmlReplyPlaintext(reply, String(fields.FromUserName), String(fields.ToUserName), Math.floor(Date.now() / 1000));
  const body = await xmlReply(aes, credential.token, decrypted.receiveId, plaintext, query.timestamp, query.nonce);
  return new Response(body, { headers: { "content-type": "text/xml; charset=utf-8" } });
}

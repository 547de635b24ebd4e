/**
 * The passive reply to a committed callback (README, "Replies"): the first
 * matching rule's reply, if it fits the callback, encrypted and signed with
 * the callback's own timestamp and nonce. Rules are pure functions of the
 * event, so WeCom's resend of a callback gets the same reply.
 */
import { aesKeyOf, type AppConfig, type ReplyConfig } from "../config.js";
import type { Decrypted } from "../crypto/index.js";
import type { RequestLog } from "../log.js";
import { isPlainObject } from "../lib/checks.js";
import type { WecomEvent } from "../wecom/event.js";
import { jsonReply, replyFormat, xmlReply, xmlReplyPlaintext, type ReplyObject } from "../wecom/reply.js";
import { matchRule } from "../wecom/rules.js";
import type { CallbackQuery } from "./callback.js";

/** The answer that carries the reply, or null: no rule matched, or its reply does not fit this callback (logged). */
export async function replyTo(
  app: AppConfig,
  rules: ReplyConfig["rules"],
  event: WecomEvent,
  decrypted: Decrypted,
  query: CallbackQuery,
  log: RequestLog,
): Promise<Response | null> {
  const index = matchRule(rules, event.event);
  if (index === -1) return null;
  const reply = rules[index]!.reply;
  const misfit = misfitOf(reply, event);
  if (misfit !== null) {
    log.reply = `rule ${index}: not sent, ${misfit}`;
    return null;
  }
  log.reply = `rule ${index}`;
  const aes = await aesKeyOf(app);
  if (event.format === "json") {
    const body = await jsonReply(aes, app.token, JSON.stringify(reply), query.timestamp, query.nonce);
    return new Response(body, { headers: { "content-type": "application/json; charset=utf-8" } });
  }
  const fields = event.event as Record<string, unknown>;
  const plaintext = xmlReplyPlaintext(reply, String(fields.FromUserName), String(fields.ToUserName), Math.floor(Date.now() / 1000));
  const body = await xmlReply(aes, app.token, decrypted.receiveId, plaintext, query.timestamp, query.nonce);
  return new Response(body, { headers: { "content-type": "text/xml; charset=utf-8" } });
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

/**
 * /callback/{app}: the request path, top to bottom.
 *
 *   app config → query → timestamp → signature → decrypt → receiveId
 *     GET:  answer the echostr
 *     POST: envelope → … → parse → hand over (commit to the app's queue) → "success"
 *
 * Every refusal is a WecomError thrown before anything is handed over.
 */
import { aesKeyOf, type AppConfig, type GatewayConfig } from "../config.js";
import { decryptMessage, verifyMsgSignature, type Decrypted } from "../crypto/index.js";
import { WecomError, WXBizMsgCryptCode } from "../errors.js";
import type { Delivery } from "../queue/client.js";
import { parseEnvelope, restorePlus } from "../wecom/envelope.js";
import { buildEvent, type WecomEvent } from "../wecom/event.js";
import { readBodyLimited, textResponse } from "./http.js";

export interface CallbackResult {
  readonly response: Response;
  /** The event handed over, for the log line. */
  readonly event?: WecomEvent;
}

export interface CallbackQuery {
  readonly msgSignature: string;
  readonly timestamp: string;
  readonly nonce: string;
}

/** GET: WeCom proves the URL by asking for its echostr back, decrypted. */
export async function verifyUrl(app: AppConfig, config: GatewayConfig, url: URL, now: number): Promise<CallbackResult> {
  const query = readQuery(url, now, config.maxSkewSeconds);
  const echostr = requiredParam(url, "echostr", 4096);
  const decrypted = await open(app, query, restorePlus(echostr));
  return { response: textResponse(decrypted.message) };
}

/** POST: a message or event. Answers "success" once it is handed over. */
export async function receiveCallback(
  app: AppConfig,
  config: GatewayConfig,
  request: Request,
  url: URL,
  now: number,
  delivery: Delivery,
): Promise<CallbackResult> {
  const query = readQuery(url, now, config.maxSkewSeconds);
  const envelope = parseEnvelope(await readBodyLimited(request));
  const decrypted = await open(app, query, envelope.encrypt);
  const event = await buildEvent(app, decrypted, envelope.format, new Date(now));
  await delivery.handOver(event);
  return { response: textResponse("success"), event };
}

/** Signature first, then decryption, then the receiveId: nothing is decrypted unsigned. */
async function open(app: AppConfig, query: CallbackQuery, encrypt: string): Promise<Decrypted> {
  if (!(await verifyMsgSignature(query.msgSignature, app.token, query.timestamp, query.nonce, encrypt))) {
    throw new WecomError(WXBizMsgCryptCode.ValidateSignature, "msg_signature does not match");
  }
  const decrypted = await decryptMessage(await aesKeyOf(app), encrypt);
  if (!receiveIdAccepted(app, decrypted.receiveId)) {
    throw new WecomError(WXBizMsgCryptCode.ValidateReceiveId, "receiveId is not one this app accepts");
  }
  return decrypted;
}

export function receiveIdAccepted(app: AppConfig, receiveId: string): boolean {
  return app.receiveIds === "*" || app.receiveIds.includes(receiveId);
}

function readQuery(url: URL, now: number, maxSkewSeconds: number): CallbackQuery {
  const msgSignature = requiredParam(url, "msg_signature", 40);
  if (!/^[0-9a-f]{40}$/.test(msgSignature)) {
    throw new WecomError("invalid_parameter", "msg_signature must be 40 lowercase hex digits");
  }
  const timestamp = requiredParam(url, "timestamp", 10);
  if (!/^\d{1,10}$/.test(timestamp)) throw new WecomError("invalid_parameter", "timestamp must be unix seconds");
  const nonce = requiredParam(url, "nonce", 64);
  if (maxSkewSeconds > 0 && Math.abs(now / 1000 - Number(timestamp)) > maxSkewSeconds) {
    throw new WecomError("stale_timestamp", `timestamp is more than ${maxSkewSeconds} s from the gateway's clock`);
  }
  return { msgSignature, timestamp, nonce };
}

function requiredParam(url: URL, name: string, maxLength: number): string {
  const values = url.searchParams.getAll(name);
  if (values.length === 0 || values[0] === "") throw new WecomError("missing_parameter", `${name} is required`);
  if (values.length > 1) throw new WecomError("invalid_parameter", `${name} is given more than once`);
  const value = values[0]!;
  if (value.length > maxLength) throw new WecomError("invalid_parameter", `${name} is longer than ${maxLength} characters`);
  return value;
}

/**
 * The JSON the intranet receives for each callback (docs/delivery.md, "What your intranet receives").
 */
import type { AppConfig } from "../config.js";
import type { Decrypted } from "../crypto/index.js";
import { WecomError, WXBizMsgCryptCode } from "../errors.js";
import { encodeUtf8, toHex } from "../lib/bytes.js";
import { isPlainObject } from "../lib/checks.js";
import type { EnvelopeFormat } from "./envelope.js";
import { parseXml, type XmlObject } from "./xml.js";

export interface WecomEvent {
  readonly id: string;
  readonly app: string;
  readonly receiveId: string;
  /** The corp a suite's callback is for (docs/providers.md): a data callback's receiveId, an instruction's AuthCorpId. */
  readonly corpId?: string;
  readonly receivedAt: string;
  readonly format: EnvelopeFormat;
  readonly event: XmlObject | Record<string, unknown>;
  readonly raw: string;
  /** The AI-bot stream this message opens (docs/replies.md, "AI-bot streams"). */
  readonly streamId?: string;
}

export async function buildEvent(
  app: AppConfig,
  decrypted: Decrypted,
  format: EnvelopeFormat,
  receivedAt: Date,
): Promise<WecomEvent> {
  return {
    id: await eventId(app.name, decrypted),
    app: app.name,
    receiveId: decrypted.receiveId,
    receivedAt: receivedAt.toISOString(),
    format,
    event: format === "xml" ? parseXml(decrypted.message) : parseJsonObject(decrypted.message),
    raw: decrypted.message,
  };
}

/**
 * The event as the JSON text docs/delivery.md documents, fields in that order. A JSON
 * callback's object is spliced in as WeCom sent it, so that nothing is lost
 * to a re-encoding (a 20-digit number keeps its digits, `1.0` stays `1.0`).
 */
export function serializeEvent(event: WecomEvent): string {
  const { id, app, receiveId, corpId, receivedAt, format, raw, streamId } = event;
  const head = JSON.stringify({ id, app, receiveId, ...(corpId !== undefined ? { corpId } : {}), receivedAt, format, ...(streamId !== undefined ? { streamId } : {}) });
  const body = format === "json" ? raw.trim() : JSON.stringify(event.event);
  return `${head.slice(0, -1)},"event":${body},"raw":${JSON.stringify(raw)}}`;
}

/**
 * WeCom retries a callback with the same plaintext under a new encryption,
 * nonce and timestamp: the id is a digest of what stays the same, so every
 * retry carries the id of the first attempt. Distinct callbacks differ in
 * their plaintext (MsgId, CreateTime, event fields) and so in their id;
 * two callbacks identical to the byte are, for the intranet, one event.
 */
export async function eventId(app: string, decrypted: Decrypted): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    encodeUtf8(`${app}\n${decrypted.receiveId}\n${decrypted.message}`),
  );
  return `evt_${toHex(new Uint8Array(digest, 0, 16))}`;
}

function parseJsonObject(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new WecomError(WXBizMsgCryptCode.ParseXml, "decrypted JSON could not be parsed");
  }
  if (!isPlainObject(parsed)) throw new WecomError(WXBizMsgCryptCode.ParseXml, "decrypted JSON is not an object");
  return parsed;
}

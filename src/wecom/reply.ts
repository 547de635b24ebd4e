/**
 * Passive replies: what the gateway may put in its HTTP answer to a
 * callback, in WeCom's own formats (docs/replies.md, "Replies"). A reply object uses
 * WeCom's names: `MsgType` and its elements for apps' XML callbacks,
 * `msgtype` (or `response_type`) and its JSON for AI bots' JSON callbacks.
 *
 * `replyProblem` checks one against WeCom's formats and limits; `xmlReply`
 * and `jsonReply` encrypt and sign it into the envelope WeCom expects.
 */
import { computeMsgSignature, encryptMessage, type AesKey } from "../crypto/index.js";
import { encodeUtf8, toHex } from "../lib/bytes.js";
import { isPlainObject } from "../lib/checks.js";
import type { EnvelopeFormat } from "./envelope.js";

export type ReplyObject = Readonly<Record<string, unknown>>;

/** The format a reply object answers: XML replies have `MsgType`, bot replies `msgtype` or `response_type`. */
export function replyFormat(reply: ReplyObject): EnvelopeFormat {
  return typeof reply.MsgType === "string" ? "xml" : "json";
}

/** What is wrong with a reply object, or null when WeCom would take it. */
export function replyProblem(reply: unknown): string | null {
  if (!isPlainObject(reply)) return "must be an object";
  if (typeof reply.MsgType === "string") return xmlReplyProblem(reply);
  if (typeof reply.msgtype === "string" || reply.response_type !== undefined) return botReplyProblem(reply);
  return "must have MsgType (an app's XML reply) or msgtype (an AI bot's reply)";
}

// ---- apps: XML ----

const XML_BODIES: Readonly<Record<string, (reply: Record<string, unknown>) => string | null>> = {
  text: (r) => textWithin(r.Content, "Content", 2048),
  image: (r) => mediaProblem(r, "Image"),
  voice: (r) => mediaProblem(r, "Voice"),
  video: (r) =>
    mediaProblem(r, "Video") ??
    optionalTextWithin((r.Video as Record<string, unknown>).Title, "Video.Title", 128) ??
    optionalTextWithin((r.Video as Record<string, unknown>).Description, "Video.Description", 512),
  news: (r) => {
    const articles = r.Articles;
    if (!Array.isArray(articles) || articles.length < 1 || articles.length > MAX_ARTICLES) {
      return `Articles must be an array of 1 to ${MAX_ARTICLES} articles`;
    }
    for (const [i, article] of articles.entries()) {
      if (!isPlainObject(article)) return `Articles[${i}] must be an object`;
      for (const key of Object.keys(article)) {
        if (!ARTICLE_KEYS.has(key)) return `Articles[${i}].${key.slice(0, 64)} is not an article field (Title, Description, PicUrl, Url)`;
        if (typeof article[key] !== "string") return `Articles[${i}].${key} must be a string`;
      }
      if (typeof article.Title !== "string" || article.Title === "") return `Articles[${i}].Title is required`;
    }
    return null;
  },
  update_button: (r) =>
    isPlainObject(r.Button) ? textWithin(r.Button.ReplaceName, "Button.ReplaceName", 128) : "Button must be an object with ReplaceName",
  update_template_card: (r) =>
    isPlainObject(r.TemplateCard) && typeof r.TemplateCard.CardType === "string"
      ? null
      : "TemplateCard must be an object with its CardType",
};

/** WeCom documents no maximum; 8 is what the libraries send and what every client shows. */
const MAX_ARTICLES = 8;
const ARTICLE_KEYS = new Set(["Title", "Description", "PicUrl", "Url"]);
/** The gateway writes these itself: the sender, the corp, the time. */
const FILLED_IN = ["ToUserName", "FromUserName", "CreateTime"];
const ELEMENT_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const MAX_REPLY_DEPTH = 8;

function xmlReplyProblem(reply: Record<string, unknown>): string | null {
  const body = XML_BODIES[reply.MsgType as string];
  if (!body) return `MsgType must be one of ${Object.keys(XML_BODIES).join(", ")}`;
  for (const key of FILLED_IN) if (key in reply) return `${key} is filled in by the gateway; leave it out`;
  return shapeProblem(reply, "", 0) ?? body(reply);
}

/** Element names, and values that XML can carry: strings, numbers, booleans, objects, arrays of them. */
function shapeProblem(value: unknown, path: string, depth: number): string | null {
  if (depth > MAX_REPLY_DEPTH) return `${path} nests deeper than ${MAX_REPLY_DEPTH} levels`;
  if (typeof value === "string" || typeof value === "boolean") return null;
  if (typeof value === "number") return Number.isFinite(value) ? null : `${path} must be a finite number`;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      if (Array.isArray(item)) return `${path}[${i}] must not be an array`;
      const problem = shapeProblem(item, `${path}[${i}]`, depth + 1);
      if (problem) return problem;
    }
    return null;
  }
  if (!isPlainObject(value)) return `${path} must be a string, number, boolean, object or array`;
  for (const [key, child] of Object.entries(value)) {
    const at = path === "" ? key.slice(0, 64) : `${path}.${key.slice(0, 64)}`;
    if (!ELEMENT_NAME.test(key)) return `${at} is not an XML element name`;
    const problem = shapeProblem(child, at, depth + 1);
    if (problem) return problem;
  }
  return null;
}

function mediaProblem(reply: Record<string, unknown>, element: string): string | null {
  const media = reply[element];
  if (!isPlainObject(media) || typeof media.MediaId !== "string" || media.MediaId === "") {
    return `${element} must be an object with its MediaId`;
  }
  return null;
}

function textWithin(value: unknown, name: string, maxBytes: number): string | null {
  if (typeof value !== "string" || value === "") return `${name} must be a non-empty string`;
  return encodeUtf8(value).length > maxBytes ? `${name} is longer than ${maxBytes} bytes` : null;
}

function optionalTextWithin(value: unknown, name: string, maxBytes: number): string | null {
  return value === undefined ? null : textWithin(value, name, maxBytes);
}

/**
 * The plaintext of an XML reply: `ToUserName` is the sender of the callback,
 * `FromUserName` the corp it was sent to, `CreateTime` now; then the reply's
 * own elements in their order. Strings go in CDATA, numbers and booleans bare.
 */
export function xmlReplyPlaintext(reply: ReplyObject, toUser: string, fromCorp: string, createTime: number): string {
  const { MsgType, ...rest } = reply;
  let body = element("ToUserName", toUser) + element("FromUserName", fromCorp) + element("CreateTime", createTime);
  body += element("MsgType", MsgType);
  for (const [name, value] of Object.entries(rest)) {
    if (MsgType === "news" && name === "Articles" && Array.isArray(value)) {
      // WeCom's news: a count, then each article as an `item` under one `Articles`.
      body += element("ArticleCount", value.length) + `<Articles>${value.map((a) => element("item", a)).join("")}</Articles>`;
    } else {
      body += element(name, value);
    }
  }
  return `<xml>${body}</xml>`;
}

function element(name: string, value: unknown): string {
  if (Array.isArray(value)) return value.map((item) => element(name, item)).join("");
  if (isPlainObject(value)) {
    return `<${name}>${Object.entries(value).map(([child, v]) => element(child, v)).join("")}</${name}>`;
  }
  if (typeof value === "string") return `<${name}>${cdata(value)}</${name}>`;
  return `<${name}>${String(value)}</${name}>`;
}

/** CDATA cannot hold `]]>`: a value with one is split into two sections there. */
function cdata(text: string): string {
  return `<![CDATA[${text.replaceAll("]]>", "]]]]><![CDATA[>")}]]>`;
}

/** The encrypted, signed XML envelope of an app's reply; receiveId is the one the callback carried. */
export async function xmlReply(
  aes: AesKey,
  token: string,
  receiveId: string,
  plaintext: string,
  timestamp: string,
  nonce: string,
): Promise<string> {
  const encrypt = await encryptMessage(aes, plaintext, receiveId);
  const signature = await computeMsgSignature(token, timestamp, nonce, encrypt);
  return (
    `<xml><Encrypt>${cdata(encrypt)}</Encrypt><MsgSignature>${cdata(signature)}</MsgSignature>` +
    `<TimeStamp>${timestamp}</TimeStamp><Nonce>${cdata(nonce)}</Nonce></xml>`
  );
}

// ---- AI bots: JSON ----

const CARD_TYPES = new Set(["text_notice", "news_notice", "button_interaction", "vote_interaction", "multiple_interaction"]);

/*
 * A stream's limits, in one place (docs/replies.md, "Stream limits"). WeCom's:
 * content of at most 20480 UTF-8 bytes; msg_item only with finish, at most 10
 * images, JPG or PNG, each at most 10 MB before base64, with the MD5 of its
 * bytes. WeCom documents no size for one answer, and a refresh's answer
 * carries the whole stream, images included: the gateway holds a stream in
 * one row of the app's Durable Object (2 MB at most) and answers it whole, so
 * content and msg_item together are capped at what that row holds, which
 * leaves about 1.4 MB of images in all. That binds long before WeCom's 10 MB
 * per image could.
 */
/** A stream's content, at most (WeCom counts UTF-8 bytes). */
export const MAX_STREAM_BYTES = 20_480;
const STREAM_BYTES = MAX_STREAM_BYTES;
/** Images in one finished stream's msg_item (WeCom's limit). */
export const MAX_STREAM_IMAGES = 10;
/** A stream as held and answered: its content's bytes and its msg_item's JSON together (one Durable Object row, under 2 MB). */
export const MAX_STREAM_STATE_BYTES = 1_900_000;
/** msg_item's JSON, at most: what a stream holds beside the largest content. */
export const MAX_MSG_ITEM_BYTES = MAX_STREAM_STATE_BYTES - MAX_STREAM_BYTES;

/** msg_item as checked: the JSON that is stored and sent (each item as WeCom defines it, nothing else), and its images. */
export interface MsgItem {
  readonly json: string;
  readonly images: readonly { readonly bytes: Uint8Array<ArrayBuffer>; readonly md5: string }[];
}

/** Why msg_item cannot be sent; `tooLarge` when only its size is wrong. */
export interface MsgItemProblem {
  readonly problem: string;
  readonly tooLarge: boolean;
}

const MD5_HEX = /^[0-9a-f]{32}$/;
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];

function startsWith(bytes: Uint8Array, signature: readonly number[]): boolean {
  return bytes.length >= signature.length && signature.every((b, i) => bytes[i] === b);
}

/**
 * Checks a stream's msg_item (`path` names it in the problem): an array of at
 * most 10 `{"msgtype": "image", "image": {"base64", "md5"}}`, each base64
 * strict and padded, decoding to a JPG or PNG, `md5` 32 lowercase hex digits,
 * the whole JSON within MAX_MSG_ITEM_BYTES. The size is checked before
 * anything is decoded. Whether each md5 is its image's is
 * `msgItemDigestProblem`'s question (the digest is asynchronous).
 */
export function checkMsgItem(value: unknown, path: string): MsgItem | MsgItemProblem {
  const invalid = (problem: string): MsgItemProblem => ({ problem, tooLarge: false });
  if (!Array.isArray(value)) return invalid(`${path} must be an array of images`);
  if (value.length > MAX_STREAM_IMAGES) return invalid(`${path} holds ${value.length} images; WeCom takes at most ${MAX_STREAM_IMAGES}`);
  const items: { base64: string; md5: string }[] = [];
  for (const [i, item] of value.entries()) {
    const at = `${path}[${i}]`;
    if (!isPlainObject(item) || item.msgtype !== "image" || !isPlainObject(item.image)) {
      return invalid(`${at} must be {"msgtype": "image", "image": {"base64", "md5"}}`);
    }
    const { base64, md5 } = item.image;
    if (typeof base64 !== "string" || base64.length % 4 !== 0) return invalid(`${at}.image.base64 ${NOT_BASE64}`);
    if (typeof md5 !== "string" || !MD5_HEX.test(md5)) return invalid(`${at}.image.md5 must be 32 lowercase hex digits`);
    items.push({ base64, md5 });
  }
  // Counted, not serialized: what is stored is ASCII once the base64 decodes (JSON.stringify would scan 1.9 MB again: ~10 ms in Node).
  const size = items.reduce((total, item) => total + ITEM_JSON_BYTES + item.base64.length, 2 + Math.max(0, items.length - 1));
  if (size > MAX_MSG_ITEM_BYTES) {
    return {
      problem: `${path} is ${size} bytes of JSON; a stream holds at most ${MAX_MSG_ITEM_BYTES} beside its content (${MAX_STREAM_STATE_BYTES} in all)`,
      tooLarge: true,
    };
  }
  const images: MsgItem["images"][number][] = [];
  for (const [i, { base64, md5 }] of items.entries()) {
    const bytes = decodeStrictBase64(base64);
    if (bytes === null) return invalid(`${path}[${i}].image.base64 ${NOT_BASE64}`);
    if (!startsWith(bytes, PNG_SIGNATURE) && !startsWith(bytes, JPEG_SIGNATURE)) {
      return invalid(`${path}[${i}].image is not a JPG or PNG (WeCom takes only those)`);
    }
    images.push({ bytes, md5 });
  }
  const json = `[${items.map(({ base64, md5 }) => `{"msgtype":"image","image":{"base64":"${base64}","md5":"${md5}"}}`).join(",")}]`;
  return { json, images };
}

const NOT_BASE64 = "must be padded base64 (A-Z, a-z, 0-9, +, /)";
/** An item's JSON besides its base64: `{"msgtype":"image","image":{"base64":"","md5":"<32 hex>"}}`. */
const ITEM_JSON_BYTES = '{"msgtype":"image","image":{"base64":"","md5":""}}'.length + 32;

/**
 * Strict, padded base64, or null: workerd's native `Uint8Array.fromBase64`
 * (strict: padding required, no stray bits), in one pass with no regular
 * expression; it skips whitespace, which the decoded length then gives away.
 */
function decodeStrictBase64(text: string): Uint8Array<ArrayBuffer> | null {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = (Uint8Array as unknown as NativeBase64).fromBase64(text, { lastChunkHandling: "strict" });
  } catch {
    return null;
  }
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  return bytes.length === (text.length / 4) * 3 - padding ? bytes : null;
}

/** Not in TypeScript's es2024 library yet. */
interface NativeBase64 {
  fromBase64(text: string, options: { lastChunkHandling: "strict" }): Uint8Array<ArrayBuffer>;
}

/** The first image of a checked msg_item whose md5 is not the MD5 of its bytes, as a problem; null when all match. */
export async function msgItemDigestProblem(item: MsgItem, path: string): Promise<string | null> {
  for (const [i, image] of item.images.entries()) {
    // MD5 is not WebCrypto's, but workerd's digest() has it (WeCom asks for it; it protects nothing here).
    const digest = toHex(new Uint8Array(await crypto.subtle.digest("MD5", image.bytes)));
    if (digest !== image.md5) return `${path}[${i}].image.md5 is not the MD5 of its image (${digest})`;
  }
  return null;
}

function botReplyProblem(reply: Record<string, unknown>): string | null {
  if (reply.response_type !== undefined) {
    if (reply.response_type !== "update_template_card") return 'response_type must be "update_template_card"';
    if (reply.userids !== undefined && !(Array.isArray(reply.userids) && reply.userids.every((u) => typeof u === "string"))) {
      return "userids must be an array of UserIDs";
    }
    return cardProblem(reply.template_card);
  }
  switch (reply.msgtype) {
    case "text":
      return isPlainObject(reply.text) ? textWithin(reply.text.content, "text.content", STREAM_BYTES) : "text must be an object with content";
    case "template_card":
      return cardProblem(reply.template_card);
    case "stream":
      return streamProblem(reply.stream);
    case "stream_with_template_card":
      return streamProblem(reply.stream) ?? cardProblem(reply.template_card);
    default:
      return "msgtype must be one of text, template_card, stream, stream_with_template_card (or response_type update_template_card)";
  }
}

function cardProblem(card: unknown): string | null {
  if (!isPlainObject(card) || typeof card.card_type !== "string" || !CARD_TYPES.has(card.card_type)) {
    return `template_card must be an object with a card_type of ${[...CARD_TYPES].join(", ")}`;
  }
  return null;
}

function streamProblem(stream: unknown): string | null {
  if (!isPlainObject(stream)) return "stream must be an object";
  if (typeof stream.id !== "string" || stream.id === "" || encodeUtf8(stream.id).length > 256) {
    return "stream.id must be a string of 1 to 256 bytes";
  }
  if (stream.finish !== undefined && typeof stream.finish !== "boolean") return "stream.finish must be true or false";
  if (stream.content !== undefined) {
    if (typeof stream.content !== "string") return "stream.content must be a string";
    if (encodeUtf8(stream.content).length > STREAM_BYTES) return `stream.content is longer than ${STREAM_BYTES} bytes`;
  }
  if (stream.msg_item !== undefined) {
    if (stream.finish !== true) return "stream.msg_item goes only with finish: true";
    const checked = checkMsgItem(stream.msg_item, "stream.msg_item");
    if ("problem" in checked) return checked.problem;
  }
  return null;
}

/**
 * The encrypted, signed JSON envelope of a bot's reply: receiveId "", the
 * callback's own nonce, and the timestamp as a number (docs/replies.md, "Replies").
 */
export async function jsonReply(aes: AesKey, token: string, plaintext: string, timestamp: string, nonce: string): Promise<string> {
  const encrypt = await encryptMessage(aes, plaintext, "");
  const msgsignature = await computeMsgSignature(token, timestamp, nonce, encrypt);
  return JSON.stringify({ encrypt, msgsignature, timestamp: Number(timestamp), nonce });
}

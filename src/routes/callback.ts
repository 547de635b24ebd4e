/**
 * /callback/{app}: the request path, top to bottom.
 *
 *   app config → query → timestamp → signature → decrypt → receiveId
 *     GET:  answer the echostr
 *     POST: envelope → … → parse → (a bot's stream refresh: answer it, queue nothing)
 *           → commit to the app's queue → the reply, or "success"
 *
 * Every refusal is a WecomError thrown before anything is handed over. An
 * app name that is not configured is answered exactly as a forged callback
 * (docs/operating.md, "Unknown apps").
 */
import { aesKeyOf, appFor, loadConfig, UNKNOWN_APPS, type AppConfig, type Credential, type GatewayConfig } from "../config.js";
import { decryptMessage, verifyMsgSignature, type Decrypted } from "../crypto/index.js";
import { encodeBase64, toHex } from "../lib/bytes.js";
import { WecomError, WXBizMsgCryptCode } from "../errors.js";
import { commitEvent } from "../queue/client.js";
import { confirmEnvelope, parseEnvelope, restorePlus } from "../wecom/envelope.js";
import { classifyBotCallback, streamIdOf } from "../wecom/bot.js";
import { buildEvent } from "../wecom/event.js";
import { readBodyLimited, textResponse } from "./http.js";
import { answerRefresh } from "./bots.js";
import { keepingRefusals } from "./refusals.js";
import { replyTo } from "./reply.js";
import type { Route, RouteContext } from "./table.js";

export interface CallbackQuery {
  readonly msgSignature: string;
  readonly timestamp: string;
  readonly nonce: string;
}

/** GET: WeCom proves the URL by asking for its echostr back, decrypted. */
async function verifyUrl(context: RouteContext): Promise<Response> {
  const config = loadConfig(context.env);
  const app = callbackApp(config, context.params[0]!);
  return keepingRefusals(context, app, () => naming(app, context.params[0]!, () => answerEchostr(context, app, config)));
}

async function answerEchostr({ url, started }: RouteContext, app: AppConfig, config: GatewayConfig): Promise<Response> {
  const query = readQuery(url, started, config.maxSkewSeconds);
  const echostr = requiredParam(url, "echostr", 4096);
  const { decrypted } = await open(app, query, restorePlus(echostr));
  return textResponse(decrypted.message);
}

/** POST: a message or event. Answered once it is committed to the app's queue. */
async function receiveCallback(context: RouteContext): Promise<Response> {
  const config = loadConfig(context.env);
  const app = callbackApp(config, context.params[0]!);
  return keepingRefusals(context, app, () => naming(app, context.params[0]!, () => receiveEvent(context, app, config)));
}

let stranger: AppConfig | undefined;

/**
 * The app a callback names. A name that is not configured gets a stand-in
 * whose Token and key nobody knows: its callback goes through the same
 * checks and ends as a forged one does, 401 -40001, so that the answers do
 * not tell which app names exist. An app that is configured but invalid is
 * still 503 invalid_config: that is the operator's mistake to see.
 */
function callbackApp(config: GatewayConfig, name: string): AppConfig {
  if (config.apps.has(name) || config.invalidApps.has(name)) return appFor(config, name);
  if (!stranger) {
    // Drawn on first use: workerd refuses random values in the global scope.
    const token = toHex(crypto.getRandomValues(new Uint8Array(16)));
    const encodingAESKey = encodeBase64(crypto.getRandomValues(new Uint8Array(33))).slice(0, 43);
    stranger = { name: UNKNOWN_APPS, token, encodingAESKey, credentials: [{ name: "current", token, encodingAESKey }], receiveIds: "*", destinations: [] };
  }
  return stranger;
}

/** For the stand-in: the refusal's detail (log line, refusals kept under "*") names the app that was asked for. */
async function naming(app: AppConfig, name: string, handle: () => Promise<Response>): Promise<Response> {
  if (app.name !== UNKNOWN_APPS) return handle();
  try {
    return await handle();
  } catch (error) {
    if (!(error instanceof WecomError)) throw error;
    const unknown = `no app named "${name.slice(0, 64)}"`;
    throw new WecomError(error.code, error.message, error.detail === undefined ? unknown : `${unknown}; ${error.detail}`);
  }
}

async function receiveEvent({ request, env, url, started, log }: RouteContext, app: AppConfig, config: GatewayConfig): Promise<Response> {
  const query = readQuery(url, started, config.maxSkewSeconds);
  const body = await readBodyLimited(request);
  const envelope = parseEnvelope(body);
  const { decrypted, credential } = await open(app, query, envelope.encrypt, () => confirmEnvelope(body, envelope));
  const built = await buildEvent(app, decrypted, envelope.format, new Date(started));
  const bot = app.bot && built.format === "json" ? classifyBotCallback(built.event) : undefined;
  // A stream refresh is protocol traffic, not an event: answered from the stream's state, never queued.
  if (bot?.kind === "refresh") return answerRefresh({ app, env, query, credential, log }, bot.streamId);
  const event = bot?.kind === "message" ? { ...built, streamId: streamIdOf(built.id) } : built;
  const committed = await commitEvent(env, app, event, credential);
  log.eventId = event.id;
  if (config.debug) log.debugPlaintext = event.raw;
  // Committed first: a reply that cannot be made never costs the event.
  const reply = await replyTo({ app, env, event, decrypted, credential, query, committed, log });
  // No reply: "success" for an app's XML callback; for a bot's JSON callback, the empty answer its documents give.
  const response = reply ?? (envelope.format === "json" ? new Response(null, { status: 200 }) : textResponse("success"));
  // For people and tools (`wecom-edge simulate`), not for WeCom, which ignores headers: which event this was, and whether it was a resend.
  response.headers.set("wecom-edge-event-id", event.id);
  if (committed.duplicate) response.headers.set("wecom-edge-duplicate", "1");
  response.headers.set("wecom-edge-routed", committed.routed.join(","));
  return response;
}

export const callbackRoute: Route = {
  name: "callback",
  path: /^\/callback\/([^/]+)\/?$/,
  methods: { GET: verifyUrl, POST: receiveCallback },
  appParam: 0,
};

export interface Opened {
  readonly decrypted: Decrypted;
  /** The credential whose signature matched and whose key decrypted: replies are sealed with it. */
  readonly credential: Credential;
}

/**
 * Signature first, then decryption, then the receiveId: nothing is decrypted
 * unsigned. The current credential is tried first, then each previous one
 * (docs/deploying.md, "Rotating keys"); the first whose signature matches and whose key
 * decrypts wins. `signed` runs once a signature matched, before decryption
 * (the XML envelope's full parse).
 */
async function open(app: AppConfig, query: CallbackQuery, encrypt: string, signed?: () => void): Promise<Opened> {
  let refusal: WecomError | undefined;
  for (const credential of app.credentials) {
    if (!(await verifyMsgSignature(query.msgSignature, credential.token, query.timestamp, query.nonce, encrypt))) continue;
    if (refusal === undefined) signed?.();
    try {
      const decrypted = await decryptMessage(await aesKeyOf(credential), encrypt);
      if (!receiveIdAccepted(app, decrypted.receiveId)) {
        throw new WecomError(WXBizMsgCryptCode.ValidateReceiveId, "receiveId is not one this app accepts");
      }
      return { decrypted, credential };
    } catch (error) {
      if (!(error instanceof WecomError)) throw error;
      // The first refusal is the one reported: it is the current credential's when its signature matched.
      refusal ??= error;
    }
  }
  throw refusal ?? new WecomError(WXBizMsgCryptCode.ValidateSignature, "msg_signature does not match");
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

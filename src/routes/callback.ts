/**
 * /callback/{app}: the request path, top to bottom.
 *
 *   app config → query → timestamp → signature → decrypt → receiveId
 *     GET:  answer the echostr
 *     POST: envelope → … → parse → (a bot's stream refresh: answer it, queue nothing)
 *           → (a suite's: its SuiteId or corp, its ticket) → commit to the app's queue → the reply, or "success"
 *
 * A suite (docs/providers.md) has two URLs: /callback/{app} is its
 * instruction URL (answered exactly "success"), /callback/{app}/data its
 * data URL; each takes its own receiveIds (src/wecom/suite.ts).
 *
 * Every refusal is a WecomError thrown before anything is handed over. An
 * app name that is not configured is answered exactly as a forged callback
 * (docs/operating.md, "Unknown apps").
 */
import { aesKeyOf, appFor, loadConfig, UNKNOWN_APPS, type AppConfig, type Credential, type GatewayConfig } from "../config.js";
import { decryptMessage, verifyMsgSignature, type Decrypted } from "../crypto/index.js";
import { encodeBase64, toHex } from "../lib/bytes.js";
import { WecomError, WXBizMsgCryptCode } from "../errors.js";
import { commitEvent, type Committed } from "../queue/client.js";
import { shardOf } from "../queue/shards.js";
import { confirmEnvelope, parseEnvelope, restorePlus } from "../wecom/envelope.js";
import { classifyBotCallback, streamIdOf } from "../wecom/bot.js";
import { buildEvent, type WecomEvent } from "../wecom/event.js";
import { checkInstruction, dataCorp, instructionCorp, receiveIdProblem, type SuiteUrl } from "../wecom/suite.js";
import type { SuiteTicket } from "../queue/tickets.js";
import { kfCallbackOf } from "../wecom/kf.js";
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

/** Which URL a callback came to: an app's one, or one of a suite's two. */
type Target = "app" | SuiteUrl;

/** GET: WeCom proves the URL by asking for its echostr back, decrypted. */
function verifyUrl(data: boolean) {
  return (context: RouteContext): Promise<Response> => {
    const config = loadConfig(context.env);
    const { app, target } = callbackApp(config, context.params[0]!, data);
    return keepingRefusals(context, app, () => naming(app, context.params[0]!, data, () => answerEchostr(context, app, target, config)));
  };
}

async function answerEchostr({ url, started }: RouteContext, app: AppConfig, target: Target, config: GatewayConfig): Promise<Response> {
  const query = readQuery(url, started, config.maxSkewSeconds);
  const echostr = requiredParam(url, "echostr", 4096);
  const { decrypted } = await open(app, query, restorePlus(echostr), accepting(app, target, "GET"));
  return textResponse(decrypted.message);
}

/** POST: a message or event. Answered once it is committed to the app's queue. */
function receiveCallback(data: boolean) {
  return (context: RouteContext): Promise<Response> => {
    const config = loadConfig(context.env);
    const { app, target } = callbackApp(config, context.params[0]!, data);
    return keepingRefusals(context, app, () => naming(app, context.params[0]!, data, () => receiveEvent(context, app, target, config)));
  };
}

/** Why a receiveId is refused at this URL and method (null: accepted). */
type ReceiveIdCheck = (receiveId: string) => string | null;

function accepting(app: AppConfig, target: Target, method: "GET" | "POST"): ReceiveIdCheck {
  if (target === "app" || !app.suite) return (receiveId) => (receiveIdAccepted(app, receiveId) ? null : "receiveId is not one this app accepts");
  const suite = app.suite;
  return (receiveId) => receiveIdProblem(suite, app.name, target, method, receiveId);
}

let stranger: AppConfig | undefined;

/**
 * The app a callback names. A name that is not configured gets a stand-in
 * whose Token and key nobody knows: its callback goes through the same
 * checks and ends as a forged one does, 401 -40001, so that the answers do
 * not tell which app names exist. An app that is configured but invalid is
 * still 503 invalid_config: that is the operator's mistake to see.
 */
function callbackApp(config: GatewayConfig, name: string, data: boolean): { app: AppConfig; target: Target } {
  const known = config.apps.get(name);
  // Only a suite has a data URL: another app's is answered as an unknown app's URL.
  if (known?.suite) return { app: known, target: data ? "data" : "instruction" };
  // A misconfigured app answers 503 at either URL, for its operator to see.
  if (config.invalidApps.has(name) || (known && !data)) return { app: appFor(config, name), target: "app" };
  return { app: strangerApp(), target: "app" };
}

function strangerApp(): AppConfig {
  if (!stranger) {
    // Drawn on first use: workerd refuses random values in the global scope.
    const token = toHex(crypto.getRandomValues(new Uint8Array(16)));
    const encodingAESKey = encodeBase64(crypto.getRandomValues(new Uint8Array(33))).slice(0, 43);
    stranger = { name: UNKNOWN_APPS, token, encodingAESKey, credentials: [{ name: "current", token, encodingAESKey }], receiveIds: "*", destinations: [], shards: 1, shardKey: null };
  }
  return stranger;
}

/** For the stand-in: the refusal's detail (log line, refusals kept under "*") names the app that was asked for. */
async function naming(app: AppConfig, name: string, data: boolean, handle: () => Promise<Response>): Promise<Response> {
  if (app.name !== UNKNOWN_APPS) return handle();
  try {
    return await handle();
  } catch (error) {
    if (!(error instanceof WecomError)) throw error;
    const unknown = data ? `no suite named "${name.slice(0, 64)}" (only a suite has a data URL)` : `no app named "${name.slice(0, 64)}"`;
    throw new WecomError(error.code, error.message, error.detail === undefined ? unknown : `${unknown}; ${error.detail}`);
  }
}

async function receiveEvent({ request, env, url, started, log }: RouteContext, app: AppConfig, target: Target, config: GatewayConfig): Promise<Response> {
  const query = readQuery(url, started, config.maxSkewSeconds);
  const body = await readBodyLimited(request);
  const envelope = parseEnvelope(body);
  const { decrypted, credential } = await open(app, query, envelope.encrypt, accepting(app, target, "POST"), () => confirmEnvelope(body, envelope));
  const built = await buildEvent(app, decrypted, envelope.format, new Date(started));
  const bot = app.bot && built.format === "json" ? classifyBotCallback(built.event) : undefined;
  // A stream refresh is protocol traffic, not an event: answered from the stream's state, never queued.
  if (bot?.kind === "refresh") return answerRefresh({ app, env, query, credential, log }, bot.streamId);
  // The app's shard (docs/sharding.md): a bot's stream id names it.
  const shard = shardOf(app, built.event);
  const { event, ticket } = bot?.kind === "message" ? { event: { ...built, streamId: streamIdOf(built.id, shard) }, ticket: undefined } : suiteEvent(app, target, built);
  const committed = await commitEvent(env, app, event, credential, { ...(ticket ? { ticket } : {}), ...kfOf(app, event), shard });
  log.eventId = committed.coalesced?.id ?? event.id;
  if (config.debug) log.debugPlaintext = event.raw;
  // An instruction callback is answered exactly "success" (docs/providers.md), once committed.
  if (target === "instruction") return callbackAnswer(textResponse("success"), event, committed);
  // Committed first: a reply that cannot be made never costs the event.
  const reply = await replyTo({ app, env, event, decrypted, credential, query, committed, log });
  // No reply: "success" for an app's XML callback; for a bot's JSON callback, the empty answer its documents give.
  return callbackAnswer(reply ?? (envelope.format === "json" ? new Response(null, { status: 200 }) : textResponse("success")), event, committed);
}

/** For people and tools (`wecom-edge simulate`), not for WeCom, which ignores headers: which event this was, whether it was a resend, where it went. */
function callbackAnswer(response: Response, event: WecomEvent, committed: Committed): Response {
  response.headers.set("wecom-edge-event-id", committed.coalesced?.id ?? event.id);
  if (committed.duplicate) response.headers.set("wecom-edge-duplicate", "1");
  // Folded into a held 微信客服 event (docs/kf.md): how many callbacks it now stands for.
  if (committed.coalesced) response.headers.set("wecom-edge-coalesced", String(committed.coalesced.count));
  response.headers.set("wecom-edge-routed", committed.routed.join(","));
  return response;
}

/**
 * A suite's callback as the intranet gets it: a data callback's corp checked
 * against what it names and given as `corpId`; an instruction's SuiteId
 * checked, its AuthCorpId given as `corpId`, and a suite_ticket kept.
 */
function suiteEvent(app: AppConfig, target: Target, event: WecomEvent): { event: WecomEvent; ticket: SuiteTicket | undefined } {
  if (!app.suite || target === "app") return { event, ticket: undefined };
  if (target === "data") return { event: { ...event, corpId: dataCorp(event.receiveId, event.event) }, ticket: undefined };
  const ticket = checkInstruction(app.suite, event.event);
  const corpId = instructionCorp(event.event);
  return {
    event: corpId === undefined ? event : { ...event, corpId },
    ticket: ticket === undefined ? undefined : { suiteId: app.suite.suiteId, ...ticket },
  };
}

/** A 微信客服 callback of an app with `kf`: its Token is kept and it may fold (docs/kf.md); other apps queue it as any event. */
function kfOf(app: AppConfig, event: WecomEvent): { kf?: { openKfId: string; token: string } } {
  if (!app.kf) return {};
  const kf = kfCallbackOf(event.event);
  return kf ? { kf } : {};
}

export const callbackRoute: Route = {
  name: "callback",
  path: /^\/callback\/([^/]+)\/?$/,
  methods: { GET: verifyUrl(false), POST: receiveCallback(false) },
  appParam: 0,
};

/** A suite's data URL (docs/providers.md). */
export const suiteDataRoute: Route = {
  name: "callback",
  path: /^\/callback\/([^/]+)\/data\/?$/,
  methods: { GET: verifyUrl(true), POST: receiveCallback(true) },
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
async function open(app: AppConfig, query: CallbackQuery, encrypt: string, accepts: ReceiveIdCheck, signed?: () => void): Promise<Opened> {
  let refusal: WecomError | undefined;
  for (const credential of app.credentials) {
    if (!(await verifyMsgSignature(query.msgSignature, credential.token, query.timestamp, query.nonce, encrypt))) continue;
    if (refusal === undefined) signed?.();
    try {
      const decrypted = await decryptMessage(await aesKeyOf(credential), encrypt);
      const problem = accepts(decrypted.receiveId);
      if (problem !== null) throw new WecomError(WXBizMsgCryptCode.ValidateReceiveId, problem);
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

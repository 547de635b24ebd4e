/**
 * The gateway's configuration: the apps of wecom-edge.config.json (bundled
 * with the Worker, its secret values given as references to Worker secrets)
 * and of the WECOM_APPS secret, parsed and validated once per isolate into
 * typed objects. Errors name the app and the field
 * (`WECOM_APPS.hr.encodingAESKey …`), never a value. docs/configuration.md.
 */
import bundledFile from "wecom-edge-config";
import { DEFAULT_DESTINATION, DESTINATION_DEFAULTS, parseDestinations, type DestinationConfig } from "./config/destinations.js";
import { isReference, referencedNames, resolveReference, type SecretKind } from "./config/references.js";
import { importEncodingAesKey, type AesKey } from "./crypto/index.js";
import { WecomError } from "./errors.js";
import { decodeBase64, encodeUtf8, toHex } from "./lib/bytes.js";
import { isFetcher, isPlainObject as isObject, isWholeNumberIn } from "./lib/checks.js";
import { MAX_STREAM_BYTES, replyProblem, type ReplyObject } from "./wecom/reply.js";
import { compileRules, RuleError, type ReplyRule } from "./wecom/rules.js";

/** An outbound endpoint the gateway signs its POSTs to (Standard Webhooks). */
export interface EndpointConfig {
  /** Where the POST goes; for a service binding, `http://localhost` + its path, through the binding. */
  readonly url: string;
  /**
   * A webhook may name a Worker service binding (another Worker, or a
   * Workers VPC service into the intranet) instead of a URL (docs/routing.md,
   * "Reaching the intranet"): the binding's name in wrangler.toml.
   */
  readonly service?: string;
  /** The signing keys: the bytes behind each `whsec_…`; every request carries one signature per key. */
  readonly signingKeys: readonly Uint8Array<ArrayBuffer>[];
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

export interface WebhookConfig extends EndpointConfig {
  readonly maxAttempts: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
}

export interface PullConfig {
  readonly token: string;
  /** Leases of one event before it becomes a dead letter (a poison event is never acked). */
  readonly maxAttempts: number;
}

export interface ReplyConfig {
  /** The first rule that matches the event answers it. */
  readonly rules: readonly ReplyRule[];
  /** Asked when no rule matches: the synchronous reply endpoint. */
  readonly endpoint?: EndpointConfig;
}

/** An AI bot's streams (docs/replies.md, "AI-bot streams"). */
export interface BotConfig {
  /** Bearer token of the stream API. */
  readonly token: string;
  /** The first text a stream shows. */
  readonly placeholder: string;
  /** The reply to `enter_chat`: a bot `text` or `template_card`. */
  readonly welcome?: ReplyObject;
  readonly streamTimeoutSeconds: number;
  /** Appended to what a stream holds when it times out. */
  readonly timeoutText: string;
}

/** A Token and EncodingAESKey pair: the current one, or one an app is rotating away from. */
export interface Credential {
  /** `current`, or `previous[i]` as listed in the app's entry. */
  readonly name: string;
  readonly token: string;
  readonly encodingAESKey: string;
}

export interface AppConfig {
  readonly name: string;
  readonly token: string;
  readonly encodingAESKey: string;
  /** The current credential first, then each previous one (docs/deploying.md, "Rotating keys"). */
  readonly credentials: readonly Credential[];
  /** `"*"` accepts any receiveId; otherwise the exact strings accepted. */
  readonly receiveIds: "*" | readonly string[];
  /** The legacy top-level push settings; undefined when the app lists `destinations`. */
  readonly webhook?: WebhookConfig;
  /** The legacy top-level pull settings; undefined when the app lists `destinations`. */
  readonly pull?: PullConfig;
  /** Where events go, in the configuration's order: an app's top-level webhook or pull is the one destination "default" (config/destinations.ts). */
  readonly destinations: readonly DestinationConfig[];
  readonly reply?: ReplyConfig;
  readonly bot?: BotConfig;
  /** A third-party suite or 代开发 template (docs/providers.md): its two callback URLs decrypt with different receiveIds. */
  readonly suite?: SuiteConfig;
  /** 微信客服 (docs/kf.md): Tokens and cursors kept per OpenKfId, callbacks coalesced. */
  readonly kf?: { readonly token: string };
  /** Queue objects the app's events are spread over (docs/sharding.md); 1: the app's one queue. */
  readonly shards: number;
  /** The dotted path whose text places an event; null: the default (src/queue/shards.ts). */
  readonly shardKey: string | null;
}

/** docs/providers.md, "Configuration". */
export interface SuiteConfig {
  /** The suite's id (a 代开发 template's: its template id, dk…): the receiveId of the instruction URL's callbacks. */
  readonly suiteId: string;
  /** The provider's own corpid: the receiveId of both URLs' verification. */
  readonly providerCorpId: string;
  /** The bearer token of GET /suites/{app}/ticket. */
  readonly ticketToken: string;
}

export interface GatewayConfig {
  /** Valid apps, by name. */
  readonly apps: ReadonlyMap<string, AppConfig>;
  /** Apps whose entry is invalid: name → what is wrong with it. */
  readonly invalidApps: ReadonlyMap<string, string>;
  readonly maxSkewSeconds: number;
  readonly debug: boolean;
}

export interface ConfigEnv {
  /** Apps as one secret: entries with their values (references are for the file). */
  WECOM_APPS?: string;
  WECOM_MAX_SKEW_SECONDS?: string;
  WECOM_DEBUG?: string;
  /** "1" only in demo/wrangler.toml: lets the published sample key through. */
  WECOM_DEMO?: string;
}

/** The EncodingAESKey WeCom publishes with its sample code: public, so never a real app's. */
export const SAMPLE_ENCODING_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

export const APP_NAME = /^[a-z0-9_-]{1,64}$/;

export const WEBHOOK_DEFAULTS = {
  timeoutMs: 10_000,
  maxAttempts: 20,
  minBackoffMs: 1_000,
  maxBackoffMs: 3_600_000,
} as const;

export const BOT_DEFAULTS = {
  placeholder: "思考中…",
  timeoutText: "",
  streamTimeoutSeconds: 300,
} as const;

export const REPLY_DEFAULTS = {
  timeoutMs: 3_000,
} as const;

export const PULL_DEFAULTS = {
  maxAttempts: 20,
} as const;

const DEFAULT_MAX_SKEW_SECONDS = 300;

/** The file's name, as errors and docs give it. */
export const CONFIG_FILE = "wecom-edge.config.json";

let cache: { file: unknown; key: string; config: GatewayConfig | WecomError } | undefined;
/** The secrets a file references: the cache is keyed on their values too. */
const secretNames = new WeakMap<object, readonly string[]>();

/**
 * The gateway's configuration, parsed on first use in this isolate and
 * again only if the environment's strings (WECOM_APPS, the variables, the
 * secrets the file references) change. Throws a WecomError
 * (`not_configured` or `invalid_config`) when nothing can be served.
 * `file` is the bundled wecom-edge.config.json but in tests.
 */
export function loadConfig(env: ConfigEnv, file: unknown = bundledFile): GatewayConfig {
  const secrets = env as unknown as Readonly<Record<string, unknown>>;
  const parts = [env.WECOM_APPS, env.WECOM_MAX_SKEW_SECONDS, env.WECOM_DEBUG, env.WECOM_DEMO];
  for (const name of namesIn(file)) parts.push(typeof secrets[name] === "string" ? (secrets[name] as string) : undefined);
  const key = parts.map((part) => (part === undefined ? "\u0001" : part)).join("\u0000");
  let current = cache;
  if (current === undefined || current.file !== file || current.key !== key) {
    let config: GatewayConfig | WecomError;
    try {
      config = parseConfig(env, file);
    } catch (error) {
      if (!(error instanceof WecomError)) throw error;
      config = error;
    }
    current = cache = { file, key, config };
  }
  if (current.config instanceof WecomError) throw current.config;
  return current.config;
}

function namesIn(file: unknown): readonly string[] {
  if (typeof file !== "object" || file === null) return [];
  let names = secretNames.get(file);
  if (!names) {
    names = [...new Set(referencedNames(file))];
    secretNames.set(file, names);
  }
  return names;
}

/**
 * Where callbacks to app names that are not configured are counted: not an
 * app name (APP_NAME has no "*"), so no app's queue can be it.
 */
export const UNKNOWN_APPS = "*";

/** Finds the app, or says why it cannot serve. */
export function appFor(config: GatewayConfig, name: string): AppConfig {
  const app = config.apps.get(name);
  if (app) return app;
  const problem = config.invalidApps.get(name);
  // The broken field goes to the log line and the admin API, never to whoever asked.
  if (problem !== undefined) throw new WecomError("invalid_config", `app "${name}" is misconfigured`, problem);
  throw new WecomError("unknown_app", `no app named "${name.slice(0, 64)}"`);
}

/**
 * Parses the configuration: the apps of `file` (wecom-edge.config.json's
 * content, references resolved from `env`; none when omitted) and of
 * WECOM_APPS. An app named
 * in both is invalid; an invalid app never takes the others down.
 */
export function parseConfig(env: ConfigEnv, file: unknown = NO_FILE): GatewayConfig {
  const maxSkewSeconds = parseSkew(env.WECOM_MAX_SKEW_SECONDS);
  const debug = env.WECOM_DEBUG === "1" || env.WECOM_DEBUG === "true";
  const demo = env.WECOM_DEMO === "1";
  const secrets = env as unknown as Readonly<Record<string, unknown>>;
  const fromFile = fileApps(file);
  const fromSecret = secretApps(env.WECOM_APPS);
  if (fromFile.length === 0 && fromSecret.length === 0) {
    throw new WecomError(
      "not_configured",
      `no apps: add them to ${CONFIG_FILE} (docs/configuration.md), or set the WECOM_APPS secret`,
    );
  }
  const fileSource: EntrySource = { root: `${CONFIG_FILE}: apps`, demo, read: (path, value, kind) => resolved(path, value, secrets, kind) };
  const secretSource: EntrySource = { root: "WECOM_APPS", demo, read: plainValue };
  const apps = new Map<string, AppConfig>();
  const invalidApps = new Map<string, string>();
  const inFile = new Set(fromFile.map(([name]) => name));
  const entries = [...fromFile.map((entry) => [...entry, fileSource] as const), ...fromSecret.map((entry) => [...entry, secretSource] as const)];
  for (const [name, value, source] of entries) {
    if (source === secretSource && inFile.has(name)) {
      apps.delete(name);
      invalidApps.set(name, `app "${name}" is in both ${CONFIG_FILE} and WECOM_APPS: keep it in one of them`);
      continue;
    }
    try {
      const app = parseApp(name, value, source);
      const problem = bindingProblem(source.root, app, secrets);
      if (problem !== null) throw new ConfigFieldError(problem);
      apps.set(name, app);
    } catch (error) {
      if (!(error instanceof ConfigFieldError)) throw error;
      invalidApps.set(name, error.message);
    }
  }
  return { apps, invalidApps, maxSkewSeconds, debug };
}

const NO_FILE = { apps: {} };

/** The apps of wecom-edge.config.json: `{"apps": {…}}`. */
function fileApps(file: unknown): [string, unknown][] {
  if (!isObject(file) || !isObject(file.apps)) {
    throw new WecomError("invalid_config", `${CONFIG_FILE} must be a JSON object with "apps", an object of apps (docs/configuration.md)`);
  }
  for (const key of Object.keys(file)) {
    if (key !== "apps") throw new WecomError("invalid_config", `${CONFIG_FILE}: ${key.slice(0, 64)} is not a known field (known: apps)`);
  }
  return Object.entries(file.apps);
}

/** The apps of the WECOM_APPS secret, if it is set. */
function secretApps(raw: string | undefined): [string, unknown][] {
  if (raw === undefined || raw.trim() === "") return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new WecomError("invalid_config", "WECOM_APPS is not valid JSON");
  }
  if (!isObject(parsed)) throw new WecomError("invalid_config", "WECOM_APPS must be a JSON object of apps");
  return Object.entries(parsed);
}

/** Where an app's entry comes from: the root of its paths, and how a value that may be secret is read. */
interface EntrySource {
  readonly root: string;
  readonly demo: boolean;
  /** The value itself, or the secret its reference names. */
  readonly read: ValueReader;
}

/** Reads a field that may hold a secret; `kind` says which (a header value may also be written out). */
export type ValueReader = (path: string, value: unknown, kind: SecretKind) => unknown;

/** WECOM_APPS is a secret already: it holds values, not references. */
export const plainValue: ValueReader = (path, value) => {
  if (isReference(value)) fail(path, `is a {"secret": …} reference: those go in ${CONFIG_FILE}; WECOM_APPS holds the values themselves`);
  return value;
};

function resolved(path: string, value: unknown, secrets: Readonly<Record<string, unknown>>, kind: SecretKind): unknown {
  if (!isReference(value)) {
    // The file is committed to git: a secret in it would be a secret in every clone.
    if (kind !== "header" && value !== undefined) {
      fail(path, `must be a {"secret": "NAME"} reference to a Worker secret: ${CONFIG_FILE} is committed, so secret values are not written in it`);
    }
    return value;
  }
  const outcome = resolveReference(value, secrets, kind);
  if ("problem" in outcome) fail(path, outcome.problem);
  return outcome.value;
}

function parseSkew(value: string | undefined): number {
  if (value === undefined || value === "") return DEFAULT_MAX_SKEW_SECONDS;
  if (!/^\d{1,10}$/.test(value)) {
    throw new WecomError("invalid_config", "WECOM_MAX_SKEW_SECONDS must be a whole number of seconds (0 turns the check off)");
  }
  return Number(value);
}

/** A mistake in a configuration secret: its message names the path, never a value. */
export class ConfigFieldError extends Error {}

export function fail(path: string, problem: string): never {
  throw new ConfigFieldError(`${path} ${problem}`);
}

const APP_KEYS = new Set(["token", "encodingAESKey", "receiveId", "previous", "webhook", "pull", "destinations", "reply", "bot", "suite", "kf", "shards", "shardKey"]);
/** Queue objects one app may spread over (docs/sharding.md). */
export const MAX_SHARDS = 64;
const SHARD_KEY_LENGTH = 128;
const KF_KEYS = new Set(["token"]);
const SUITE_KEYS = new Set(["suiteId", "providerCorpId", "ticketToken"]);
/** A suite id, template id or corpid as WeCom shows them: letters, digits, _ and -. */
const WECOM_ID = /^[A-Za-z0-9_-]{1,64}$/;
const CREDENTIAL_KEYS = new Set(["token", "encodingAESKey"]);
/** Earlier credentials an app may still accept while WeCom's console changes over. */
export const MAX_PREVIOUS_CREDENTIALS = 3;
const BOT_KEYS = new Set(["token", "placeholder", "welcome", "streamTimeoutSeconds", "timeoutText"]);
const REPLY_KEYS = new Set(["rules", "url", "secret", "headers", "timeoutMs"]);
const WEBHOOK_KEYS = new Set(["url", "service", "path", "secret", "headers", "timeoutMs", "maxAttempts", "minBackoffMs", "maxBackoffMs"]);
/** A binding's name as wrangler.toml gives it: a JavaScript identifier. */
const BINDING_NAME = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/;
/** The origin of a request through a service binding: a VPC service sends it to the host and port it was made with, a Worker sees it as is. */
export const SERVICE_ORIGIN = "http://localhost";
const PULL_KEYS = new Set(["token", "maxAttempts"]);
/** Headers the gateway sets itself; a configured value would break the signature or the framing. */
const RESERVED_HEADERS = new Set([
  "webhook-id",
  "webhook-timestamp",
  "webhook-signature",
  "content-type",
  "content-length",
  "host",
  "transfer-encoding",
]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function parseApp(name: string, value: unknown, source: EntrySource): AppConfig {
  const path = `${source.root}.${name}`;
  if (!APP_NAME.test(name)) fail(`${source.root}["${name.slice(0, 64)}"]`, "is not a valid app name ([a-z0-9_-]{1,64})");
  if (!isObject(value)) fail(path, "must be an object");
  rejectUnknownKeys(path, value, APP_KEYS);

  const { token, encodingAESKey } = parseCredential(path, value, source, "current");
  const credentials: Credential[] = [{ name: "current", token, encodingAESKey }];
  if (value.previous !== undefined) {
    if (!Array.isArray(value.previous) || value.previous.length > MAX_PREVIOUS_CREDENTIALS) {
      fail(`${path}.previous`, `must be an array of at most ${MAX_PREVIOUS_CREDENTIALS} {"token", "encodingAESKey"}`);
    }
    for (const [i, previous] of value.previous.entries()) {
      const at = `${path}.previous[${i}]`;
      if (!isObject(previous)) fail(at, 'must be {"token", "encodingAESKey"}');
      rejectUnknownKeys(at, previous, CREDENTIAL_KEYS);
      credentials.push(parseCredential(at, previous, source, `previous[${i}]`));
    }
  }
  const suite = value.suite === undefined ? undefined : parseSuite(`${path}.suite`, value.suite, source.read);
  if (suite && value.receiveId !== undefined) fail(`${path}.receiveId`, "must not be set for a suite: suite.suiteId and suite.providerCorpId say which receiveId each URL takes");
  if (suite && value.bot !== undefined) fail(`${path}.bot`, "must not be set for a suite: an AI bot is an app of its own");
  // A suite's instruction URL takes its suite id, the data URL any corp (routes/callback.ts), the verification the provider's corpid.
  const receiveIds = suite ? [suite.suiteId] : parseReceiveId(`${path}.receiveId`, value.receiveId);

  const legacy = value.webhook !== undefined || value.pull !== undefined;
  if (legacy && value.destinations !== undefined) fail(path, "must have either destinations or webhook/pull, not both");
  if (!legacy && value.destinations === undefined) fail(path, "must have destinations, webhook or pull");
  if (value.webhook !== undefined && value.pull !== undefined) fail(path, "must have either webhook or pull, not both");
  const app: AppConfig = {
    name,
    token,
    encodingAESKey,
    credentials,
    receiveIds,
    ...(value.destinations !== undefined
      ? { destinations: parseDestinations(`${path}.destinations`, value.destinations, source.read) }
      : legacyDestination(path, value.webhook, value.pull, source.read)),
    ...(value.reply !== undefined ? { reply: parseReply(`${path}.reply`, value.reply, source.read) } : {}),
    ...(value.bot !== undefined ? { bot: parseBot(`${path}.bot`, value.bot, source.read) } : {}),
    ...(suite ? { suite } : {}),
    ...(value.kf !== undefined ? { kf: parseKf(`${path}.kf`, value.kf, source.read) } : {}),
    shards: integer(`${path}.shards`, value.shards, 1, 1, MAX_SHARDS),
    shardKey: parseShardKey(`${path}.shardKey`, value.shardKey),
  };
  return app;
}

function parseShardKey(path: string, value: unknown): string | null {
  if (value === undefined) return null;
  if (typeof value !== "string" || value.length < 1 || value.length > SHARD_KEY_LENGTH || value.split(".").some((segment) => segment === "")) {
    fail(path, `must be a dotted path into the event (as in match) of 1 to ${SHARD_KEY_LENGTH} characters`);
  }
  return value;
}

function parseKf(path: string, value: unknown, read: ValueReader): { token: string } {
  if (!isObject(value)) fail(path, 'must be {"token"}');
  rejectUnknownKeys(path, value, KF_KEYS);
  return { token: bearerToken(`${path}.token`, read(`${path}.token`, value.token, "bearer")) };
}

function parseSuite(path: string, value: unknown, read: ValueReader): SuiteConfig {
  if (!isObject(value)) fail(path, 'must be {"suiteId", "providerCorpId", "ticketToken"}');
  rejectUnknownKeys(path, value, SUITE_KEYS);
  const id = (key: "suiteId" | "providerCorpId", what: string): string => {
    const v = value[key];
    if (typeof v !== "string" || !WECOM_ID.test(v)) fail(`${path}.${key}`, `must be ${what} (1-64 letters, digits, _ or -)`);
    return v;
  };
  const suiteId = id("suiteId", "the suite's SuiteID, or a 代开发 template's id (dk…), from the provider console");
  const providerCorpId = id("providerCorpId", "the provider's own CorpID (服务商的CorpID)");
  const ticketToken = bearerToken(`${path}.ticketToken`, read(`${path}.ticketToken`, value.ticketToken, "bearer"));
  return { suiteId, providerCorpId, ticketToken };
}

/** An app's top-level webhook or pull: AppConfig.webhook or .pull, and the one destination "default" without match. */
function legacyDestination(path: string, webhook: unknown, pull: unknown, read: ValueReader): Pick<AppConfig, "webhook" | "pull" | "destinations"> {
  const base = { name: DEFAULT_DESTINATION, match: null, ordered: null, rate: null, maxAgeHours: DESTINATION_DEFAULTS.maxAgeHours, transform: null };
  if (webhook !== undefined) {
    const parsed = parseWebhook(`${path}.webhook`, webhook, read);
    return { webhook: parsed, destinations: [{ ...base, webhook: parsed }] };
  }
  const parsed = parsePull(`${path}.pull`, pull, read);
  return { pull: parsed, destinations: [{ ...base, pull: parsed }] };
}

function parseCredential(path: string, value: Record<string, unknown>, source: EntrySource, name: string): Credential {
  const token = source.read(`${path}.token`, value.token, "token");
  if (typeof token !== "string" || !/^[\x21-\x7e]{1,128}$/.test(token)) {
    fail(`${path}.token`, "must be the callback Token from the WeCom admin console (1-128 visible ASCII characters)");
  }
  const encodingAESKey = source.read(`${path}.encodingAESKey`, value.encodingAESKey, "aesKey");
  if (typeof encodingAESKey !== "string" || !/^[A-Za-z0-9+/]{43}$/.test(encodingAESKey)) {
    fail(`${path}.encodingAESKey`, "must be the 43-character EncodingAESKey from the WeCom admin console");
  }
  if (encodingAESKey === SAMPLE_ENCODING_AES_KEY && !source.demo) {
    fail(`${path}.encodingAESKey`, "is the sample key WeCom publishes, which anyone can use to forge callbacks; generate a new one in the admin console");
  }
  return { name, token, encodingAESKey };
}

function parseReceiveId(path: string, value: unknown): "*" | readonly string[] {
  if (value === "*") return "*";
  if (typeof value === "string") return [value];
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string")) {
    if (value.includes("*")) fail(path, 'must be "*" alone, not inside an array');
    return value as string[];
  }
  fail(path, 'must be a string, a non-empty array of strings, or "*"');
}

export function parseWebhook(path: string, value: unknown, read: ValueReader): WebhookConfig {
  if (!isObject(value)) fail(path, "must be an object");
  rejectUnknownKeys(path, value, WEBHOOK_KEYS);
  if (value.service === undefined && value.path !== undefined) fail(`${path}.path`, "goes with service, not url");
  const endpoint = value.service === undefined ? parseEndpoint(path, value, WEBHOOK_DEFAULTS.timeoutMs, 300_000, read) : serviceEndpoint(path, value, read);
  const maxAttempts = integer(`${path}.maxAttempts`, value.maxAttempts, WEBHOOK_DEFAULTS.maxAttempts, 1, 1_000);
  const minBackoffMs = integer(`${path}.minBackoffMs`, value.minBackoffMs, WEBHOOK_DEFAULTS.minBackoffMs, 0, 86_400_000);
  const maxBackoffMs = integer(`${path}.maxBackoffMs`, value.maxBackoffMs, WEBHOOK_DEFAULTS.maxBackoffMs, 0, 604_800_000);
  if (maxBackoffMs < minBackoffMs) fail(`${path}.maxBackoffMs`, "must not be less than minBackoffMs");
  return { ...endpoint, maxAttempts, minBackoffMs, maxBackoffMs };
}

/** A webhook through a service binding: `service` and `path` instead of `url`. Whether the binding exists is checked with the apps (bindingProblem). */
function serviceEndpoint(path: string, value: Record<string, unknown>, read: ValueReader): EndpointConfig {
  if (value.url !== undefined) fail(path, "must have either url or service, not both");
  if (typeof value.service !== "string" || !BINDING_NAME.test(value.service)) {
    fail(`${path}.service`, "must be the name of a service binding in wrangler.toml (letters, digits and _)");
  }
  const target = value.path ?? "/";
  if (typeof target !== "string" || !/^\/[\x21-\x7e]{0,1023}$/.test(target)) fail(`${path}.path`, "must be a path starting with / (visible ASCII, at most 1024 characters)");
  return { ...parseEndpoint(path, { ...value, url: `${SERVICE_ORIGIN}${target}` }, WEBHOOK_DEFAULTS.timeoutMs, 300_000, read), service: value.service };
}

/** The first webhook of `app` whose service binding the Worker lacks, as a configuration problem with its path; null when none. */
function bindingProblem(root: string, app: AppConfig, env: Readonly<Record<string, unknown>>): string | null {
  for (const destination of app.destinations) {
    const service = destination.webhook?.service;
    if (service === undefined) continue;
    if (isFetcher(env[service])) continue;
    const where = app.webhook ? `${root}.${app.name}.webhook.service` : `${root}.${app.name}.destinations.${destination.name}.webhook.service`;
    return `${where} names "${service}", which is not a service binding of this Worker: add it to wrangler.toml ([[services]] or [[vpc_services]])`;
  }
  return null;
}

/** A receiver rotating its secret lists the new one and the old: each request is signed with both. */
const MAX_SECRETS = 3;

function signingKeyOf(path: string, given: unknown, read: ValueReader): Uint8Array<ArrayBuffer> {
  const secret = read(path, given, "whsec");
  if (typeof secret !== "string" || !secret.startsWith("whsec_")) {
    fail(path, "must be a Standard Webhooks secret: whsec_ followed by base64");
  }
  let signingKey: Uint8Array<ArrayBuffer>;
  try {
    signingKey = decodeBase64(secret.slice("whsec_".length));
  } catch {
    fail(path, "must be a Standard Webhooks secret: whsec_ followed by base64");
  }
  if (signingKey.length < 16 || signingKey.length > 64) fail(path, "must carry 16 to 64 bytes of key (24 or 32 recommended)");
  return signingKey;
}

/**
 * The fields a signed outbound POST needs: url, secret (whsec_, or a list of
 * them), headers, timeoutMs. `read` gives secrets and header values (a
 * reference in wecom-edge.config.json).
 */
export function parseEndpoint(
  path: string,
  value: Record<string, unknown>,
  defaultTimeoutMs: number,
  maxTimeoutMs: number,
  read: ValueReader = plainValue,
): EndpointConfig {
  const url = value.url;
  let parsedUrl: URL | undefined;
  try {
    parsedUrl = typeof url === "string" ? new URL(url) : undefined;
  } catch {
    parsedUrl = undefined;
  }
  if (!parsedUrl || (parsedUrl.protocol !== "https:" && parsedUrl.protocol !== "http:")) {
    fail(`${path}.url`, "must be an absolute http(s) URL");
  }
  const secrets = Array.isArray(value.secret) ? value.secret : [value.secret];
  if (secrets.length < 1 || secrets.length > MAX_SECRETS) fail(`${path}.secret`, `must be one secret or a list of 1 to ${MAX_SECRETS}`);
  const signingKeys = secrets.map((secret, i) => signingKeyOf(Array.isArray(value.secret) ? `${path}.secret[${i}]` : `${path}.secret`, secret, read));
  const headers: Record<string, string> = {};
  if (value.headers !== undefined) {
    if (!isObject(value.headers)) fail(`${path}.headers`, "must be an object of header name to string value");
    for (const [header, given] of Object.entries(value.headers)) {
      if (!HEADER_NAME.test(header)) fail(`${path}.headers`, `has an invalid header name "${header.slice(0, 64)}"`);
      if (RESERVED_HEADERS.has(header.toLowerCase())) fail(`${path}.headers.${header}`, "is set by wecom-edge itself");
      const headerValue = read(`${path}.headers.${header}`, given, "header");
      if (typeof headerValue !== "string" || /[\r\n\0]/.test(headerValue)) {
        fail(`${path}.headers.${header}`, "must be a string without line breaks");
      }
      headers[header] = headerValue;
    }
  }
  const timeoutMs = integer(`${path}.timeoutMs`, value.timeoutMs, defaultTimeoutMs, 100, maxTimeoutMs);
  return { url: parsedUrl.href, signingKeys, headers, timeoutMs };
}

export function parsePull(path: string, value: unknown, read: ValueReader): PullConfig {
  if (!isObject(value)) fail(path, "must be an object");
  rejectUnknownKeys(path, value, PULL_KEYS);
  const token = bearerToken(`${path}.token`, read(`${path}.token`, value.token, "bearer"));
  const maxAttempts = integer(`${path}.maxAttempts`, value.maxAttempts, PULL_DEFAULTS.maxAttempts, 1, 1_000);
  return { token, maxAttempts };
}

/** A bearer token: the intranet's (pull, streams) and ADMIN_TOKEN alike. */
export const BEARER_TOKEN = /^[\x21-\x7e]{16,512}$/;

function bearerToken(path: string, value: unknown): string {
  if (typeof value !== "string" || !BEARER_TOKEN.test(value)) {
    fail(path, "must be 16-512 visible ASCII characters (use a long random string)");
  }
  return value;
}

function parseReply(path: string, value: unknown, read: ValueReader): ReplyConfig {
  if (!isObject(value)) fail(path, "must be an object");
  rejectUnknownKeys(path, value, REPLY_KEYS);
  let rules: ReplyRule[];
  try {
    rules = value.rules === undefined ? [] : compileRules(value.rules);
  } catch (error) {
    if (error instanceof RuleError) fail(`${path}.rules${error.path}`, error.message);
    throw error;
  }
  if (value.url === undefined) {
    for (const key of ["secret", "headers", "timeoutMs"]) if (value[key] !== undefined) fail(`${path}.${key}`, "goes with url");
    return { rules };
  }
  // WeCom waits 5 s for the answer; the endpoint gets at most 4.5 of them.
  return { rules, endpoint: parseEndpoint(path, value, REPLY_DEFAULTS.timeoutMs, 4_500, read) };
}

function parseBot(path: string, value: unknown, read: ValueReader): BotConfig {
  if (!isObject(value)) fail(path, "must be an object");
  rejectUnknownKeys(path, value, BOT_KEYS);
  const token = bearerToken(`${path}.token`, read(`${path}.token`, value.token, "bearer"));
  const placeholder = value.placeholder ?? BOT_DEFAULTS.placeholder;
  if (typeof placeholder !== "string" || encodeUtf8(placeholder).length > MAX_STREAM_BYTES) {
    fail(`${path}.placeholder`, `must be a string of at most ${MAX_STREAM_BYTES} bytes`);
  }
  const timeoutText = value.timeoutText ?? BOT_DEFAULTS.timeoutText;
  if (typeof timeoutText !== "string" || encodeUtf8(timeoutText).length > 1_024) fail(`${path}.timeoutText`, "must be a string of at most 1024 bytes");
  const streamTimeoutSeconds = integer(`${path}.streamTimeoutSeconds`, value.streamTimeoutSeconds, BOT_DEFAULTS.streamTimeoutSeconds, 1, 330);
  let welcome: ReplyObject | undefined;
  if (value.welcome !== undefined) {
    const problem = replyProblem(value.welcome);
    if (problem !== null) fail(`${path}.welcome`, problem);
    welcome = value.welcome as ReplyObject;
    if (welcome.msgtype !== "text" && welcome.msgtype !== "template_card") fail(`${path}.welcome`, "must be a bot text or template_card reply");
  }
  return { token, placeholder, streamTimeoutSeconds, timeoutText, ...(welcome ? { welcome } : {}) };
}

export function integer(path: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!isWholeNumberIn(value, min, max)) fail(path, `must be a whole number from ${min} to ${max}`);
  return value;
}

export function rejectUnknownKeys(path: string, value: Record<string, unknown>, known: ReadonlySet<string>): void {
  for (const key of Object.keys(value)) {
    if (!known.has(key)) fail(`${path}.${key.slice(0, 64)}`, `is not a known field (known: ${[...known].join(", ")})`);
  }
}

const fingerprints = new WeakMap<Credential, Promise<string>>();

/**
 * A short, stable name for a credential that reveals nothing of it: the first
 * 8 hex digits of SHA-256 over its Token and EncodingAESKey. Stats count
 * callbacks under it (docs/deploying.md, "Rotating keys").
 */
export function fingerprintOf(credential: Credential): Promise<string> {
  let fingerprint = fingerprints.get(credential);
  if (!fingerprint) {
    fingerprint = crypto.subtle
      .digest("SHA-256", encodeUtf8(`${credential.token}\n${credential.encodingAESKey}`))
      .then((digest) => toHex(new Uint8Array(digest, 0, 4)));
    fingerprints.set(credential, fingerprint);
  }
  return fingerprint;
}

const aesKeys = new WeakMap<Credential, Promise<AesKey>>();

/** A credential's AES key, imported once per isolate. */
export function aesKeyOf(credential: Credential): Promise<AesKey> {
  let key = aesKeys.get(credential);
  if (!key) {
    key = importEncodingAesKey(credential.encodingAESKey);
    // A failed import is not cached: the next request tries again and reports it again.
    key.catch(() => aesKeys.delete(credential));
    aesKeys.set(credential, key);
  }
  return key;
}

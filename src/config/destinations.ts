/**
 * An app's `destinations` (docs/configuration.md, "Destinations";
 * docs/routing.md): name → where the events its `match` takes go, pushed
 * (`webhook`, today's push settings) or kept for pulling (`pull`), with
 * ordering, a rate limit, a maximum age and a JSONata transform. Parsed once
 * with the rest of the configuration; errors name the path, never a value.
 */
import { fail, integer, parsePull, parseWebhook, rejectUnknownKeys, type PullConfig, type ValueReader, type WebhookConfig } from "../config.js";
import { transformProblem } from "../destinations/transform.js";
import { isPlainObject } from "../lib/checks.js";
import { compileMatch, MatchError, type Match } from "../match/index.js";
import { MAX_RULES_REGEX_SIZE } from "../wecom/rules.js";

export interface RateConfig {
  readonly perSecond: number | null;
  readonly maxInFlight: number | null;
}

export interface DestinationConfig {
  /** [a-z0-9_-]{1,32}; "default" for an app's legacy top-level webhook/pull. */
  readonly name: string;
  /** null: takes every event. */
  readonly match: Match | null;
  /** null: unordered. key null: the whole destination is one ordered line ("ordered": true); otherwise a dotted path into the event's `event` object ("ordered": {"key": "UserID"}). */
  readonly ordered: { readonly key: string | null } | null;
  /** webhook destinations only; null: no limit. */
  readonly rate: RateConfig | null;
  /** An undelivered event older than this becomes a dead letter. Default 72, 1..720. */
  readonly maxAgeHours: number;
  /** JSONata source, checked to compile at load; null: the event JSON as it is. */
  readonly transform: string | null;
  /** Exactly one of webhook / pull. */
  readonly webhook?: WebhookConfig;
  readonly pull?: PullConfig;
}

export const DESTINATION_NAME = /^[a-z0-9_-]{1,32}$/;
export const MAX_DESTINATIONS = 16;
export const DESTINATION_DEFAULTS = { maxAgeHours: 72 } as const;

/** The destination an app's top-level `webhook` or `pull` stands for. */
export const DEFAULT_DESTINATION = "default";

/**
 * RE2 instructions of all the destinations' matches of an app together: every
 * event is tried against each of them, so this bounds what one character of
 * an event costs routing. The reply rules' bound (docs/matching.md, "Limits").
 */
export const MAX_DESTINATIONS_REGEX_SIZE = MAX_RULES_REGEX_SIZE;

const DESTINATION_KEYS = new Set(["match", "ordered", "rate", "maxAgeHours", "transform", "webhook", "pull"]);
const ORDERED_KEYS = new Set(["key"]);
const RATE_KEYS = new Set(["perSecond", "maxInFlight"]);
const KEY_PATH_LENGTH = 128;
export const RATE_BOUNDS = { perSecond: { min: 0.1, max: 1000 }, maxInFlight: { min: 1, max: 100 } } as const;

/** `value` is the app's `destinations`; `path` names it (`WECOM_APPS.hr.destinations`). */
export function parseDestinations(path: string, value: unknown, read: ValueReader): DestinationConfig[] {
  if (!isPlainObject(value) || Object.keys(value).length === 0) fail(path, "must be a non-empty object of destination name to destination");
  const entries = Object.entries(value);
  if (entries.length > MAX_DESTINATIONS) fail(path, `has ${entries.length} destinations, more than the ${MAX_DESTINATIONS} allowed`);
  let regexSize = 0;
  const pullTokens = new Map<string, string>();
  return entries.map(([name, given]) => {
    if (!DESTINATION_NAME.test(name)) fail(`${path}["${name.slice(0, 64)}"]`, "is not a valid destination name ([a-z0-9_-]{1,32})");
    const at = `${path}.${name}`;
    const destination = parseDestination(at, name, given, read);
    if (destination.match) {
      regexSize += destination.match.regexSize;
      if (regexSize > MAX_DESTINATIONS_REGEX_SIZE) {
        fail(`${at}.match`, `brings the destinations' regexes to ${regexSize} RE2 instructions, over the ${MAX_DESTINATIONS_REGEX_SIZE} allowed`);
      }
    }
    if (destination.pull) {
      // A token opens its own destination's queue and no other (docs/routing.md).
      const other = pullTokens.get(destination.pull.token);
      if (other !== undefined) fail(`${at}.pull.token`, `must differ from the token of pull destination "${other}"`);
      pullTokens.set(destination.pull.token, name);
    }
    return destination;
  });
}

function parseDestination(path: string, name: string, value: unknown, read: ValueReader): DestinationConfig {
  if (!isPlainObject(value)) fail(path, "must be an object");
  rejectUnknownKeys(path, value, DESTINATION_KEYS);
  if (value.webhook !== undefined && value.pull !== undefined) fail(path, "must have either webhook or pull, not both");
  if (value.webhook === undefined && value.pull === undefined) fail(path, "must have webhook or pull");
  const match = value.match === undefined ? null : parseMatch(`${path}.match`, value.match);
  const ordered = parseOrdered(`${path}.ordered`, value.ordered);
  if (value.rate !== undefined && value.pull !== undefined) fail(`${path}.rate`, "applies to webhook destinations only");
  const rate = parseRate(`${path}.rate`, value.rate);
  const maxAgeHours = integer(`${path}.maxAgeHours`, value.maxAgeHours, DESTINATION_DEFAULTS.maxAgeHours, 1, 720);
  const transform = parseTransform(`${path}.transform`, value.transform);
  return {
    name,
    match,
    ordered,
    rate,
    maxAgeHours,
    transform,
    ...(value.webhook !== undefined
      ? { webhook: parseWebhook(`${path}.webhook`, value.webhook, read) }
      : { pull: parsePull(`${path}.pull`, value.pull, read) }),
  };
}

function parseMatch(path: string, value: unknown): Match {
  try {
    return compileMatch(value);
  } catch (error) {
    // MatchError.path is dotted from the match object, "" for the object itself.
    if (error instanceof MatchError) fail(error.path === "" ? path : `${path}.${error.path}`, error.message);
    throw error;
  }
}

function parseOrdered(path: string, value: unknown): DestinationConfig["ordered"] {
  if (value === undefined || value === false) return null;
  if (value === true) return { key: null };
  if (!isPlainObject(value)) fail(path, 'must be true, false or {"key": "<dotted path into the event>"}');
  rejectUnknownKeys(path, value, ORDERED_KEYS);
  const key = value.key;
  if (typeof key !== "string" || key.length < 1 || key.length > KEY_PATH_LENGTH || key.split(".").some((segment) => segment === "")) {
    fail(`${path}.key`, `must be a dotted path into the event (as in match) of 1 to ${KEY_PATH_LENGTH} characters`);
  }
  return { key };
}

function parseRate(path: string, value: unknown): RateConfig | null {
  if (value === undefined) return null;
  if (!isPlainObject(value)) fail(path, "must be an object with perSecond, maxInFlight or both");
  rejectUnknownKeys(path, value, RATE_KEYS);
  if (value.perSecond === undefined && value.maxInFlight === undefined) fail(path, "must have perSecond, maxInFlight or both");
  const { min, max } = RATE_BOUNDS.perSecond;
  const perSecond = value.perSecond;
  if (perSecond !== undefined && (typeof perSecond !== "number" || !Number.isFinite(perSecond) || perSecond < min || perSecond > max)) {
    fail(`${path}.perSecond`, `must be a number from ${min} to ${max} (requests per second; may be fractional)`);
  }
  const maxInFlight =
    value.maxInFlight === undefined ? null : integer(`${path}.maxInFlight`, value.maxInFlight, 0, RATE_BOUNDS.maxInFlight.min, RATE_BOUNDS.maxInFlight.max);
  return { perSecond: perSecond ?? null, maxInFlight };
}

function parseTransform(path: string, value: unknown): string | null {
  if (value === undefined) return null;
  if (typeof value !== "string") fail(path, "must be a string: a JSONata expression");
  const problem = transformProblem(value);
  if (problem !== null) fail(path, problem);
  return value;
}

/**
 * Matching events (docs/matching.md): a match maps dotted paths into an
 * event's `event` object to conditions, all of which must hold; `"any"` at
 * its top ORs whole matches. Compiled once, when the configuration loads;
 * every regex runs in time linear in the text (./regex.ts).
 */
import { isPlainObject } from "../lib/checks.js";
import { MATCH_LIMITS } from "./limits.js";
import { compileRegex, PatternError, type Regex } from "./regex.js";
import { brief, quote, quoteList, show } from "./words.js";

export interface Match {
  /** Whether every condition holds for `event` (the event's `event` object: XML leaves are strings; a JSON callback's numbers and booleans compare as their text). */
  test(event: unknown): boolean;
  /** null when it holds; otherwise the first condition that failed, in words (docs/matching.md, "Explain"). */
  explain(event: unknown): string | null;
  /** RE2 instructions of all its regexes together, at most MATCH_LIMITS.regexSize: what one character of text costs `test` at worst. A caller holding many matches bounds their sum. */
  readonly regexSize: number;
  /** Each path and the exact texts it is compared with (a string, `in`, under `not` too): what the route tester checks against WeCom's catalogue. */
  readonly compared: readonly Compared[];
}

/** A path of a match and the exact texts a condition compares it with. */
export interface Compared {
  readonly path: string;
  readonly values: readonly string[];
}

/** A match that cannot be compiled. `path` is relative to the match object, dotted: "", "Event", "Event.in", "Content.regex", "Event.not.prefix", "any[1].MsgType". */
export class MatchError extends Error {
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(problem);
  }
}

export function compileMatch(value: unknown): Match {
  const budget = { size: 0 };
  const { test, explain, compared } = compileObject(value, "", 0, budget);
  return { test, explain, regexSize: budget.size, compared };
}

/** A part of a match: a condition on one path, or an `any`. */
interface Part {
  test(event: unknown): boolean;
  explain(event: unknown): string | null;
  readonly compared: readonly Compared[];
}

/** A condition on the value at a path; MISSING when there is none. */
interface Condition {
  holds(value: unknown): boolean;
  /** Why it does not hold for `value`. */
  failure(value: unknown): string;
  /** Why it holds for `value`: what a `not` around it reports. */
  success(value: unknown): string;
  /** The exact texts it compares with (none for regex, prefix, exists). */
  readonly literals?: readonly string[];
}

const MISSING: unique symbol = Symbol("missing");
const KINDS = "regex, in, prefix, exists, not";
const ALTERNATIVES_SHOWN = 5;

function compileObject(value: unknown, at: string, depth: number, budget: { size: number }): Part {
  if (!isPlainObject(value)) throw new MatchError(at, "must be an object of event paths to conditions");
  const parts = Object.entries(value).map(([key, expected]) =>
    key === "any" ? compileAny(expected, join(at, key), depth, budget) : compileField(key, expected, join(at, key.slice(0, 64)), depth, budget),
  );
  return {
    compared: parts.flatMap((part) => part.compared),
    test: (event) => parts.every((part) => part.test(event)),
    explain: (event) => {
      for (const part of parts) {
        const why = part.explain(event);
        if (why !== null) return why;
      }
      return null;
    },
  };
}

function compileAny(value: unknown, at: string, depth: number, budget: { size: number }): Part {
  if (!Array.isArray(value) || value.length === 0) throw new MatchError(at, "must be a non-empty array of matches");
  if (depth >= MATCH_LIMITS.depth) throw new MatchError(at, `is nested too deeply: at most ${MATCH_LIMITS.depth} levels of any and not`);
  const alternatives = value.map((alternative, i) => compileObject(alternative, `${at}[${i}]`, depth + 1, budget));
  return {
    compared: alternatives.flatMap((alternative) => alternative.compared),
    test: (event) => alternatives.some((alternative) => alternative.test(event)),
    explain: (event) => {
      const failures: string[] = [];
      for (const alternative of alternatives) {
        const why = alternative.explain(event);
        if (why === null) return null;
        failures.push(why);
      }
      const shown = failures.slice(0, ALTERNATIVES_SHOWN).map((why, i) => `[${i}] ${brief(why, 100)}`);
      if (failures.length > ALTERNATIVES_SHOWN) shown.push("…");
      return `any: none of the alternatives held: ${shown.join("; ")}`;
    },
  };
}

function compileField(key: string, expected: unknown, at: string, depth: number, budget: { size: number }): Part {
  const segments = key.split(".");
  if (segments.some((segment) => segment === "")) throw new MatchError(at, "is not a dotted path into the event");
  const condition = compileCondition(expected, at, depth, budget);
  const name = brief(key, 64);
  return {
    compared: condition.literals ? [{ path: key, values: condition.literals }] : [],
    test: (event) => condition.holds(lookup(event, segments)),
    explain: (event) => {
      const value = lookup(event, segments);
      return condition.holds(value) ? null : `${name}: ${condition.failure(value)}`;
    },
  };
}

function compileCondition(expected: unknown, at: string, depth: number, budget: { size: number }): Condition {
  if (typeof expected === "string") return { ...onText((text) => text === expected, `is ${quote(expected)}`, `is not ${quote(expected)}`), literals: [expected] };
  if (!isPlainObject(expected)) throw new MatchError(at, `must be a string, or an object with one of ${KINDS}`);
  const keys = Object.keys(expected);
  for (const key of keys) {
    if (!KINDS.split(", ").includes(key)) throw new MatchError(`${at}.${key.slice(0, 64)}`, `is not a condition (${KINDS})`);
  }
  if (keys.length !== 1) throw new MatchError(at, `must have exactly one of ${KINDS}`);
  const kind = keys[0]!;
  const argument = expected[kind];
  const here = `${at}.${kind}`;
  switch (kind) {
    case "regex": {
      if (typeof argument !== "string") throw new MatchError(here, "must be a string");
      let regex: Regex;
      try {
        regex = compileRegex(argument);
      } catch (error) {
        if (error instanceof PatternError) throw new MatchError(here, error.message);
        throw error;
      }
      budget.size += regex.size;
      if (budget.size > MATCH_LIMITS.regexSize) {
        throw new MatchError(here, `is too large: it brings the match's regexes to ${budget.size} RE2 instructions, over the ${MATCH_LIMITS.regexSize} allowed`);
      }
      const written = `{"regex": ${quote(argument)}}`;
      return onText((text) => regex.test(text), `matches ${written}`, `does not match ${written}`);
    }
    case "in": {
      if (!Array.isArray(argument) || argument.length === 0 || !argument.every((item) => typeof item === "string")) {
        throw new MatchError(here, "must be a non-empty array of strings");
      }
      const values = new Set<string>(argument);
      const list = quoteList(argument);
      return { ...onText((text) => values.has(text), `is in ${list}`, `is not in ${list}`), literals: [...values] };
    }
    case "prefix": {
      if (typeof argument !== "string") throw new MatchError(here, "must be a string");
      return onText((text) => text.startsWith(argument), `starts with ${quote(argument)}`, `does not start with ${quote(argument)}`);
    }
    case "exists": {
      if (typeof argument !== "boolean") throw new MatchError(here, "must be true or false");
      const present = (value: unknown) => `${show(value)} exists`;
      return {
        holds: (value) => (value !== MISSING) === argument,
        failure: (value) => (argument ? "missing" : present(value)),
        success: (value) => (argument ? present(value) : "missing"),
      };
    }
    default: {
      if (depth >= MATCH_LIMITS.depth) throw new MatchError(here, `is nested too deeply: at most ${MATCH_LIMITS.depth} levels of any and not`);
      const inner = compileCondition(argument, here, depth + 1, budget);
      return { holds: (value) => !inner.holds(value), failure: inner.success, success: inner.failure, ...(inner.literals ? { literals: inner.literals } : {}) };
    }
  }
}

/** A condition on a value's text: a string, or a JSON callback's number or boolean as its text. */
function onText(holds: (text: string) => boolean, is: string, isNot: string): Condition {
  return {
    holds: (value) => {
      const text = asText(value);
      return text !== null && holds(text);
    },
    failure: (value) => (value === MISSING ? "missing" : asText(value) === null ? `${show(value)} is not text` : `${show(value)} ${isNot}`),
    success: (value) => `${show(value)} ${is}`,
  };
}

/**
 * The text a condition compares at a dotted path of `event` (the event's
 * `event` object): a string, or a JSON callback's number or boolean as its
 * text; null when the path is missing or holds an object, an array or null.
 * Routes read an ordered destination's key with it (src/destinations/route.ts).
 */
export function textAt(event: unknown, path: string): string | null {
  const value = lookup(event, path.split("."));
  return value === MISSING ? null : asText(value);
}

function asText(value: unknown): string | null {
  if (typeof value === "string") return value;
  return typeof value === "number" || typeof value === "boolean" ? String(value) : null;
}

/** The value at a dotted path, through plain objects' own properties only (never the prototype's, never into arrays). */
function lookup(event: unknown, segments: readonly string[]): unknown {
  let value = event;
  for (const segment of segments) {
    if (!isPlainObject(value) || !Object.hasOwn(value, segment)) return MISSING;
    value = value[segment];
  }
  return value;
}

function join(at: string, key: string): string {
  return at === "" ? key : `${at}.${key}`;
}

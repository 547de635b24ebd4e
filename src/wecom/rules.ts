/**
 * Reply rules (docs/replies.md, "Replies"): `{"match": {...}, "reply": {...}}`, the
 * first whose match holds wins. `match` maps dotted paths into the event
 * (`MsgType`, `EventKey`, `text.content`, `event.eventtype`) to an exact
 * string or `{"regex": "…"}`. Compiled once, when the configuration loads.
 */
import { isPlainObject } from "../lib/checks.js";
import { replyProblem, type ReplyObject } from "./reply.js";

export const MAX_RULES = 100;

interface Condition {
  readonly path: readonly string[];
  readonly test: (value: string) => boolean;
}

export interface ReplyRule {
  readonly conditions: readonly Condition[];
  readonly reply: ReplyObject;
}

/** A rule that cannot be compiled: `path` is relative to the rules array (`[2].match.Content`). */
export class RuleError extends Error {
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(problem);
  }
}

export function compileRules(value: unknown): ReplyRule[] {
  if (!Array.isArray(value) || value.length > MAX_RULES) throw new RuleError("", `must be an array of at most ${MAX_RULES} rules`);
  return value.map((rule, i) => compileRule(rule, `[${i}]`));
}

function compileRule(rule: unknown, at: string): ReplyRule {
  if (!isPlainObject(rule)) throw new RuleError(at, 'must be {"match": {...}, "reply": {...}}');
  for (const key of Object.keys(rule)) {
    if (key !== "match" && key !== "reply") throw new RuleError(`${at}.${key.slice(0, 64)}`, "is not a rule field (match, reply)");
  }
  if (!isPlainObject(rule.match)) throw new RuleError(`${at}.match`, "must be an object of event paths to values");
  const conditions = Object.entries(rule.match).map(([path, expected]) => compileCondition(path, expected, `${at}.match.${path.slice(0, 64)}`));
  const problem = replyProblem(rule.reply);
  if (problem !== null) throw new RuleError(`${at}.reply`, problem);
  return { conditions, reply: rule.reply as ReplyObject };
}

function compileCondition(path: string, expected: unknown, at: string): Condition {
  const segments = path.split(".");
  if (path === "" || segments.some((s) => s === "")) throw new RuleError(at, "is not a dotted path into the event");
  if (typeof expected === "string") return { path: segments, test: (value) => value === expected };
  if (isPlainObject(expected) && typeof expected.regex === "string" && Object.keys(expected).length === 1) {
    let regex: RegExp;
    try {
      regex = new RegExp(expected.regex, "u");
    } catch {
      throw new RuleError(`${at}.regex`, "is not a valid regular expression");
    }
    return { path: segments, test: (value) => regex.test(value) };
  }
  throw new RuleError(at, 'must be a string, or {"regex": "…"}');
}

/** The index of the first rule whose every condition holds for `event`, or -1. */
export function matchRule(rules: readonly ReplyRule[], event: unknown): number {
  return rules.findIndex((rule) => rule.conditions.every((condition) => holds(condition, event)));
}

function holds(condition: Condition, event: unknown): boolean {
  let value: unknown = event;
  for (const segment of condition.path) {
    if (!isPlainObject(value) || !Object.hasOwn(value, segment)) return false;
    value = value[segment];
  }
  // XML leaves are strings; a JSON callback's numbers and booleans compare as their text.
  if (typeof value === "number" || typeof value === "boolean") value = String(value);
  return typeof value === "string" && condition.test(value);
}

/**
 * Reply rules (docs/replies.md, "Rules"): `{"match": {...}, "reply": {...}}`, the
 * first whose match holds wins. `match` is the gateway's one matcher
 * (docs/matching.md). Compiled once, when the configuration loads.
 */
import { isPlainObject } from "../lib/checks.js";
import { compileMatch, MatchError, type Match } from "../match/index.js";
import { replyProblem, type ReplyObject } from "./reply.js";

export const MAX_RULES = 100;
/**
 * RE2 instructions of all the rules' regexes together: what one character of
 * a message can cost when every rule is tried (docs/matching.md, "Limits").
 */
export const MAX_RULES_REGEX_SIZE = 4096;

export interface ReplyRule {
  readonly match: Match;
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
  let regexSize = 0;
  return value.map((rule, i) => {
    const compiled = compileRule(rule, `[${i}]`);
    regexSize += compiled.match.regexSize;
    if (regexSize > MAX_RULES_REGEX_SIZE) {
      throw new RuleError(`[${i}].match`, `brings the rules' regexes to ${regexSize} RE2 instructions, over the ${MAX_RULES_REGEX_SIZE} allowed`);
    }
    return compiled;
  });
}

function compileRule(rule: unknown, at: string): ReplyRule {
  if (!isPlainObject(rule)) throw new RuleError(at, 'must be {"match": {...}, "reply": {...}}');
  for (const key of Object.keys(rule)) {
    if (key !== "match" && key !== "reply") throw new RuleError(`${at}.${key.slice(0, 64)}`, "is not a rule field (match, reply)");
  }
  let match: Match;
  try {
    match = compileMatch(rule.match);
  } catch (error) {
    if (error instanceof MatchError) throw new RuleError(error.path === "" ? `${at}.match` : `${at}.match.${error.path}`, error.message);
    throw error;
  }
  const problem = replyProblem(rule.reply);
  if (problem !== null) throw new RuleError(`${at}.reply`, problem);
  return { match, reply: rule.reply as ReplyObject };
}

/** The index of the first rule whose match holds for `event` (the event's `event` object), or -1. */
export function matchRule(rules: readonly ReplyRule[], event: unknown): number {
  return rules.findIndex((rule) => rule.match.test(event));
}

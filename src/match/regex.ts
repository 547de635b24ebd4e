/**
 * `{"regex": "…"}` on re2js, a JavaScript port of RE2: time linear in the
 * text, whatever the pattern (docs/matching.md, "Regular expressions").
 * Patterns are RE2 syntax; JavaScript's `\uXXXX`, `\u{…}`, `\p{Script=…}`
 * and `\s` are translated so that rules written for RegExp keep their meaning.
 */
import { RE2JSSyntaxException, RE2Set } from "re2js";
import { MATCH_LIMITS } from "./limits.js";

export interface Regex {
  /** RE2 instructions of the compiled program: what one character costs, at worst. */
  readonly size: number;
  /** Whether the pattern matches anywhere in the first MATCH_LIMITS.textLength characters of `text`, as RegExp.test. */
  test(text: string): boolean;
}

/** A pattern that cannot be used; the message says why, in words. */
export class PatternError extends Error {}

/**
 * The memory re2js's lazy DFA may use per pattern. When a pattern and a text
 * make a new DFA state at nearly every character, a full cache makes re2js
 * fall back to its NFA; with its default 8 MiB it builds states for the whole
 * text first, which measured 5–10 times slower (docs/matching.md, "Limits").
 */
const DFA_MEMORY = 32 * 1024;

// JavaScript's \s (ECMA-262 WhiteSpace and LineTerminator), as the inside of an RE2 class;
// RE2's own \s is only [\t\n\f\r ], without U+3000 (ideographic space) and the others.
const JS_SPACE = "\\t\\n\\x{B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}";

export function compileRegex(pattern: string): Regex {
  if (pattern.length > MATCH_LIMITS.patternLength) throw new PatternError(`is longer than ${MATCH_LIMITS.patternLength} characters`);
  const refused = unsupported(pattern);
  if (refused !== null) throw new PatternError(`uses a ${refused}, which the linear-time engine cannot run`);
  // A set of one pattern, for the DFA memory only a set lets one choose; unanchored, it answers as RegExp.test.
  const set = new RE2Set(RE2Set.UNANCHORED, 0, DFA_MEMORY);
  try {
    set.add(toRE2(pattern));
    set.compile();
  } catch (error) {
    throw new PatternError(`is not a valid regular expression: ${reason(error)}`);
  }
  const limit = MATCH_LIMITS.textLength;
  return { size: set.prog.numInst(), test: (text) => set.match(text.length > limit ? text.slice(0, limit) : text).length > 0 };
}

function reason(error: unknown): string {
  if (error instanceof RE2JSSyntaxException) {
    const input = error.input ?? "";
    return input === "" ? error.error : `${error.error} in ${JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input)}`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return message.length > 100 ? `${message.slice(0, 100)}…` : message;
}

/**
 * What RE2 cannot run, named plainly: lookaround and backreferences, outside
 * character classes (inside one, `(?=` and `\1` are not what they seem; RE2
 * reports those itself).
 */
function unsupported(pattern: string): string | null {
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === "\\") {
      const next = pattern[i + 1] ?? "";
      if (!inClass && (/[1-9]/.test(next) || (next === "k" && pattern[i + 2] === "<"))) return "backreference";
      i++;
    } else if (inClass) {
      if (ch === "[" && pattern[i + 1] === ":") {
        const end = pattern.indexOf(":]", i + 2);
        if (end !== -1) i = end + 1;
      } else if (ch === "]") {
        inClass = false;
      }
    } else if (ch === "[") {
      inClass = true;
      i = classStart(pattern, i);
    } else if (ch === "(" && pattern[i + 1] === "?") {
      const kind = pattern.slice(i + 2, i + 4);
      if (kind[0] === "=" || kind[0] === "!") return "lookahead";
      if (kind === "<=" || kind === "<!") return "lookbehind";
    }
  }
  return null;
}

/** Past a class's `[`, its `^` and a first `]`, which RE2 takes literally: the index of the last of them. */
function classStart(pattern: string, open: number): number {
  let i = open;
  if (pattern[i + 1] === "^") i++;
  if (pattern[i + 1] === "]") i++;
  return i;
}

/**
 * JavaScript's escapes in RE2's words: `\uXXXX` (a surrogate pair as one
 * code point) and `\u{…}` become `\x{…}`; `\p{Script=Han}` and `\p{sc=Han}`
 * become `\p{Han}`; `\s` and `\S` take JavaScript's meaning (`\S` keeps
 * RE2's inside a class, where a complement cannot be written). An escaped
 * backslash stays as it is, so `\\u` is a backslash then `u`.
 */
function toRE2(pattern: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "\\") {
      const next = pattern[i + 1] ?? "";
      if (next === "u") {
        const escape = unicodeEscape(pattern, i);
        if (escape !== null) {
          out += `\\x{${escape.codePoint.toString(16).toUpperCase()}}`;
          i = escape.end - 1;
          continue;
        }
      } else if (next === "s") {
        out += inClass ? JS_SPACE : `[${JS_SPACE}]`;
        i++;
        continue;
      } else if (next === "S" && !inClass) {
        out += `[^${JS_SPACE}]`;
        i++;
        continue;
      } else if (next === "p" || next === "P") {
        const script = /^\{(?:Script|sc)=([A-Za-z_]+)\}/.exec(pattern.slice(i + 2, i + 64));
        if (script !== null) {
          out += `\\${next}{${script[1]}}`;
          i += 1 + script[0].length;
          continue;
        }
      }
      out += ch + next;
      i++;
    } else if (inClass) {
      if (ch === "[" && pattern[i + 1] === ":") {
        const end = pattern.indexOf(":]", i + 2);
        if (end !== -1) {
          out += pattern.slice(i, end + 2);
          i = end + 1;
          continue;
        }
      }
      if (ch === "]") inClass = false;
      out += ch;
    } else if (ch === "[") {
      inClass = true;
      const start = classStart(pattern, i);
      out += pattern.slice(i, start + 1);
      i = start;
    } else {
      out += ch;
    }
  }
  return out;
}

/** `\uXXXX`, a pair `\uD83D\uDE00`, or `\u{1F600}` at `at`: its code point and where it ends; null if none is there. */
function unicodeEscape(pattern: string, at: number): { codePoint: number; end: number } | null {
  if (pattern[at + 2] === "{") {
    const close = pattern.indexOf("}", at + 3);
    const digits = close === -1 ? "" : pattern.slice(at + 3, close);
    if (!/^[0-9a-fA-F]{1,6}$/.test(digits)) return null;
    const codePoint = parseInt(digits, 16);
    return codePoint > 0x10ffff ? null : { codePoint, end: close + 1 };
  }
  const unit = fourHex(pattern, at + 2);
  if (unit === null) return null;
  if (unit >= 0xd800 && unit <= 0xdbff && pattern.startsWith("\\u", at + 6)) {
    const low = fourHex(pattern, at + 8);
    if (low !== null && low >= 0xdc00 && low <= 0xdfff) return { codePoint: 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00), end: at + 12 };
  }
  return { codePoint: unit, end: at + 6 };
}

function fourHex(pattern: string, at: number): number | null {
  const digits = pattern.slice(at, at + 4);
  return /^[0-9a-fA-F]{4}$/.test(digits) ? parseInt(digits, 16) : null;
}

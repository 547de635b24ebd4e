/**
 * A markup scanner, not a parser: it walks from one `<` to the next exactly as
 * fast-xml-parser 5.12 does, so that it sees the same markup the parser will.
 * It decides one thing: whether the text holds a declaration (`<!DOCTYPE`,
 * `<!ENTITY`, any `<!` other than a comment or CDATA), which the parser would
 * honour and expand wherever it stands, or an unterminated construct.
 *
 * Agreeing with the parser is the point. A DOCTYPE hidden from a scanner that
 * tokenises differently (a regex that strips CDATA first, or one that ignores
 * quotes) reaches the parser all the same: `<!--<![CDATA[--><!DOCTYPE …>` and
 * `<a x="<!--"/><!DOCTYPE …><b y="-->"/>` are both read by the parser as a
 * DOCTYPE between two comments or two tags. So, as the parser does:
 * - `<!--` runs to the first `-->` after it, `<![CDATA[` to the first `]]>`;
 * - `</` runs to the first `>`;
 * - `<?` and every other `<` run to the first `?>` or `>` outside a quoted
 *   string, where a quote is skipped to its match;
 * - any other `<!` is refused, as is a construct without its end.
 * Text between constructs is skipped with indexOf; only tag interiors are
 * walked a character at a time, so a scan is linear in the length.
 */

export type MarkupProblem = {
  readonly kind: "declaration" | "unterminated";
  /** Offset of the `<` that opens the construct. */
  readonly at: number;
};

const BANG = 0x21; // !
const DOUBLE_QUOTE = 0x22;
const SINGLE_QUOTE = 0x27;
const SLASH = 0x2f;
const GREATER = 0x3e;
const QUESTION = 0x3f;

/** The first declaration or unterminated construct, or `undefined` when the markup is clean. */
export function scanMarkup(text: string): MarkupProblem | undefined {
  for (let start = text.indexOf("<"); start !== -1; ) {
    const end = endOfConstruct(text, start);
    if (end === DECLARATION) return { kind: "declaration", at: start };
    if (end === -1) return { kind: "unterminated", at: start };
    start = text.indexOf("<", end + 1);
  }
  return undefined;
}

const DECLARATION = -2;

/** Offset of the `>` that ends the construct opened at `start`; -1 if none does; DECLARATION. */
function endOfConstruct(text: string, start: number): number {
  const next = text.charCodeAt(start + 1);
  if (next === SLASH) return text.indexOf(">", start + 2);
  if (next === QUESTION) return quotedEnd(text, start + 1, true);
  if (next === BANG) {
    if (text.startsWith("--", start + 2)) return after(text.indexOf("-->", start + 4), 2);
    if (text.startsWith("[CDATA[", start + 2)) return after(text.indexOf("]]>", start + 9), 2);
    return DECLARATION;
  }
  return quotedEnd(text, start + 1, false);
}

function after(found: number, offset: number): number {
  return found === -1 ? -1 : found + offset;
}

/**
 * The `>` of the first `>` (or `?>`) at or after `from` that is outside a
 * quoted string, starting the search where the parser does (for `<?`, at the
 * `?` itself, so `<?>` is closed).
 */
function quotedEnd(text: string, from: number, processingInstruction: boolean): number {
  const length = text.length;
  for (let i = from; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === DOUBLE_QUOTE || c === SINGLE_QUOTE) {
      i++;
      while (i < length && text.charCodeAt(i) !== c) i++;
      if (i === length) return -1;
    } else if (processingInstruction) {
      if (c === QUESTION && text.charCodeAt(i + 1) === GREATER) return i + 1;
    } else if (c === GREATER) {
      return i;
    }
  }
  return -1;
}

/**
 * How many times `char` occurs in `text`, counting no further than `limit + 1`:
 * cheap enough to run on any body before anything else looks at it.
 */
export function countUpTo(text: string, char: string, limit: number): number {
  let count = 0;
  for (let i = text.indexOf(char); i !== -1 && count <= limit; i = text.indexOf(char, i + 1)) count++;
  return count;
}

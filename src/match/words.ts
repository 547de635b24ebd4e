/**
 * Values and conditions in words, for `explain` (docs/matching.md,
 * "Explain"): JSON quoting, long values and lists cut with "…".
 */

const VALUE_LENGTH = 64;
const LIST_LENGTH = 100;

/** A string as JSON, cut to 64 characters. */
export function quote(text: string): string {
  return text.length > VALUE_LENGTH ? `${JSON.stringify(text.slice(0, VALUE_LENGTH)).slice(0, -1)}…"` : JSON.stringify(text);
}

/** A list of strings as JSON, cut after the item that passes 100 characters. */
export function quoteList(items: readonly string[]): string {
  let out = "";
  for (const [i, item] of items.entries()) {
    if (i > 0 && out.length > LIST_LENGTH) return `[${out}, …]`;
    out += (i > 0 ? ", " : "") + quote(item);
  }
  return `[${out}]`;
}

/** An event's value: a string quoted, a number or boolean as itself, an object or array as {…} or […]. */
export function show(value: unknown): string {
  if (typeof value === "string") return quote(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value === null) return "null";
  return Array.isArray(value) ? "[…]" : "{…}";
}

/** Text cut to `length` characters with "…". */
export function brief(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length)}…` : text;
}

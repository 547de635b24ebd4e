/**
 * XML for WeCom callbacks, with fast-xml-parser, bounded and without any
 * entity expansion beyond the five predefined ones.
 *
 * Shape of the result (docs/delivery.md, "What your intranet receives"):
 * - the root element (`<xml>`) is dropped; its children are the keys;
 * - every leaf is its text, as a string: no number guessing (`MsgId` keeps all
 *   its digits, `007` stays `007`); an empty element is `""`;
 * - an element whose name is in REPEATING_ELEMENTS is always an array, one
 *   item or many; any other element that repeats under one parent becomes an
 *   array too (WeCom documents none such);
 * - every element keeps its own name, `constructor` and `hasOwnProperty`
 *   included; only `__proto__` is refused;
 * - attributes, comments, processing instructions and whitespace between
 *   elements are dropped; CDATA is text.
 */
import { EntityDecoder } from "@nodable/entities";
import { XMLParser, XMLValidator, type X2jOptions } from "fast-xml-parser";
import { WecomError, WXBizMsgCryptCode } from "../errors.js";
import { isPlainObject as isObject } from "../lib/checks.js";
import { scanMarkup, type MarkupProblem } from "./markup.js";

/** Elements WeCom documents as list items. Each is an array wherever it occurs. */
export const REPEATING_ELEMENTS: readonly string[] = [
  "Item", // ExtAttr items (contact change), Items of approval nodes, news articles
  "item", // PicList items of pic_sysphoto / pic_photo_or_album / pic_weixin menu events
  "SpRecord", // approval records (sys_approval_change)
  "Details", // approver details inside SpRecord
  "Notifyer", // CC'd users of an approval
  "Comments", // approval comments
  "ApprovalNode", // open_approval_change nodes
  "NotifyNode", // open_approval_change CC nodes
  "SelectedItem", // template_card_event selections
  "OptionId", // template_card_event selected options
];

export const MAX_XML_DEPTH = 32;

const repeating = new Set(REPEATING_ELEMENTS);

/**
 * Inside the parser every element name wears this prefix, and `normalise`
 * takes it off. fast-xml-parser refuses elements named `constructor`,
 * `prototype` or `__proto__` and renames `hasOwnProperty`, `toString`,
 * `valueOf` and the `__define…__`/`__lookup…__` ones to `__name`, to keep its
 * own plain objects safe; behind the prefix no name is one of those, and no
 * element can pass for the parser's `#text`. `<` starts no valid name (the
 * validator refuses one that does), so the prefix is never ambiguous; the
 * parser applies the transform twice to a self-closing tag, hence the check.
 */
const ELEMENT = "<";

/**
 * The parser's own decoder for the five predefined entities and character
 * references (&#20225; &#x4E1A;), as XML requires, with the parser's default
 * limits. It is handed the entities of a DOCTYPE only once the parser has read
 * one, and then it throws: scanMarkup refuses every DOCTYPE before the parser
 * runs, and this is the second wall should the two ever disagree. One decoder
 * serves every parse, so `reset` (called as each parse starts) also puts the
 * XML version back: nothing of one document carries over to the next.
 */
class NoDoctypeEntities extends EntityDecoder {
  constructor() {
    super({ limit: { maxExpandedLength: 100_000, applyLimitsTo: "all" } });
  }
  override reset(): this {
    super.reset();
    this.setXmlVersion(1.0);
    return this;
  }
  override addInputEntities(): void {
    throw new Error(DOCTYPE_IN_PARSER);
  }
}

const DOCTYPE_IN_PARSER = "a DOCTYPE reached the parser";

/** Exported for the tests, which check the parser's own defences without the scan in front. */
export const PARSER_OPTIONS: X2jOptions = {
  ignoreAttributes: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  entityDecoder: new NoDoctypeEntities(),
  maxNestedTags: MAX_XML_DEPTH,
  transformTagName: (name) => (name.startsWith(ELEMENT) ? name : ELEMENT + name),
  isArray: (name) => repeating.has(name.slice(ELEMENT.length)),
};

const parser = new XMLParser(PARSER_OPTIONS);

const TEXT = "#text";

export type XmlValue = string | XmlObject | XmlValue[];
export interface XmlObject {
  [name: string]: XmlValue;
}

export function parseError(detail: string): WecomError {
  return new WecomError(WXBizMsgCryptCode.ParseXml, "XML could not be parsed", detail);
}

/**
 * Parses a WeCom XML document into the children of its root element.
 * Details name a position, never the text or the parser's message: both
 * quote the (decrypted) document.
 */
export function parseXml(text: string): XmlObject {
  if (text.trim() === "") throw parseError("empty document");
  checkMarkup(text);
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw parseError(`not well-formed${validatorPosition(valid.err)}`);
  let document: unknown;
  try {
    document = parser.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : "";
    if (message === DOCTYPE_IN_PARSER) throw parseError("DOCTYPE is not allowed");
    throw parseError(message === "Maximum nested tags exceeded" ? message : "refused by the parser");
  }
  if (!isObject(document)) throw parseError("no root element");
  const roots = Object.keys(document).filter((k) => k !== TEXT);
  if (roots.length !== 1) throw parseError("expected exactly one root element");
  const root = normalise(document[roots[0]!]);
  if (!isObject(root)) throw parseError("root element has no child elements");
  return root;
}

/**
 * Refuses a DOCTYPE or any other declaration, and an unterminated comment,
 * CDATA section, processing instruction or tag, where fast-xml-parser would
 * see one (see markup.ts).
 */
export function checkMarkup(text: string): void {
  const problem = scanMarkup(text);
  if (problem) throw markupError(text, problem);
}

export function markupError(text: string, problem: MarkupProblem): WecomError {
  return problem.kind === "declaration"
    ? parseError(`DOCTYPE is not allowed at ${at(text, problem.at)}`)
    : parseError(`not well-formed at ${at(text, problem.at)}`);
}

/** "line L, column C" of an offset, both counted from 1 as the validator does. */
function at(text: string, offset: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return `line ${line}, column ${offset - lineStart + 1}`;
}

/** The validator gives a line and usually a column; some errors (no start tag at all) come without one. */
function validatorPosition(err: { line?: unknown; col?: unknown }): string {
  const line = typeof err.line === "number" && Number.isFinite(err.line) ? err.line : undefined;
  const col = typeof err.col === "number" && Number.isFinite(err.col) ? err.col : undefined;
  if (line === undefined) return "";
  return col === undefined ? ` at line ${line}` : ` at line ${line}, column ${col}`;
}

/**
 * Takes the prefix off every element name and drops whitespace-only text
 * between child elements; keeps every leaf's text as it is.
 */
function normalise(value: unknown): XmlValue {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.map(normalise);
  if (!isObject(value)) return String(value ?? "");
  const out: XmlObject = {};
  for (const [key, child] of Object.entries(value)) {
    if (key === TEXT) {
      if (typeof child === "string" && child.trim() === "") continue;
      out[TEXT] = normalise(child);
      continue;
    }
    if (!key.startsWith(ELEMENT)) throw parseError("refused by the parser");
    const name = key.slice(ELEMENT.length);
    // The one name an assignment would not store as a key: it would set the object's
    // prototype. No WeCom callback has such an element, and in the event JSON it is
    // the key that naive deep merges on the intranet turn into prototype pollution.
    if (name === "__proto__") throw parseError("an element is named __proto__");
    out[name] = normalise(child);
  }
  return out;
}

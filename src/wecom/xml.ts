/**
 * XML for WeCom callbacks, with fast-xml-parser, bounded and without any
 * entity expansion beyond the five predefined ones.
 *
 * Shape of the result (the README documents it):
 * - the root element (`<xml>`) is dropped; its children are the keys;
 * - every leaf is its text, as a string: no number guessing (`MsgId` keeps all
 *   its digits, `007` stays `007`); an empty element is `""`;
 * - an element whose name is in REPEATING_ELEMENTS is always an array, one
 *   item or many; any other element that repeats under one parent becomes an
 *   array too (WeCom documents none such);
 * - attributes, comments, processing instructions and whitespace between
 *   elements are dropped; CDATA is text.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { WecomError, WXBizMsgCryptCode } from "../errors.js";
import { isPlainObject as isObject } from "../lib/checks.js";

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

const parser = new XMLParser({
  ignoreAttributes: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  // An empty map (the parser accepts one, though its types say boolean) keeps the named
  // entities to XML's five while still resolving character references (&#20225; &#x4E1A;),
  // as XML requires; `false` would leave those undecoded. test/xml.test.ts guards both.
  htmlEntities: {} as unknown as boolean,
  maxNestedTags: MAX_XML_DEPTH,
  isArray: (name) => repeating.has(name),
});

const TEXT = "#text";

export type XmlValue = string | XmlObject | XmlValue[];
export interface XmlObject {
  [name: string]: XmlValue;
}

function parseError(detail: string): WecomError {
  return new WecomError(WXBizMsgCryptCode.ParseXml, "XML could not be parsed", detail);
}

/** Parses a WeCom XML document into the children of its root element. */
export function parseXml(text: string): XmlObject {
  if (hasDoctype(text)) throw parseError("DOCTYPE is not allowed");
  const valid = XMLValidator.validate(text);
  // Details name a position, never the parser's message: it quotes the (decrypted) text.
  if (valid !== true) throw parseError(`not well-formed at line ${valid.err.line}, column ${valid.err.col}`);
  let document: unknown;
  try {
    document = parser.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : "";
    throw parseError(message === "Maximum nested tags exceeded" ? message : "refused by the parser");
  }
  if (!isObject(document)) throw parseError("no root element");
  const roots = Object.keys(document).filter((k) => k !== TEXT);
  if (roots.length !== 1) throw parseError("expected exactly one root element");
  const root = normalise(document[roots[0]!]);
  if (!isObject(root)) throw parseError("root element has no child elements");
  return root;
}

const CDATA = /<!\[CDATA\[[\s\S]*?\]\]>/g;
const DECLARATION = /<!(?:DOCTYPE|ENTITY|ELEMENT|ATTLIST)/i;

/**
 * fast-xml-parser honours a DOCTYPE (and its entities) wherever it stands,
 * so look everywhere except inside CDATA, where a message may well mention
 * "<!DOCTYPE" as text.
 */
function hasDoctype(text: string): boolean {
  if (!text.includes("<!")) return false;
  return DECLARATION.test(text.replace(CDATA, ""));
}

/** Drops whitespace-only text between child elements; keeps every leaf's text as it is. */
function normalise(value: unknown): XmlValue {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.map(normalise);
  if (!isObject(value)) return String(value ?? "");
  const out: XmlObject = {};
  for (const [key, child] of Object.entries(value)) {
    if (key === TEXT && typeof child === "string" && child.trim() === "") continue;
    out[key] = normalise(child);
  }
  return out;
}

/**
 * The envelope WeCom POSTs: XML (`<xml><Encrypt>…</Encrypt>…</xml>`) for
 * apps, contacts, approvals, suites; JSON (`{"encrypt": "…"}`) for smart
 * robots. Told apart by the body itself, never by Content-Type.
 *
 * Anyone can POST a body, and until msg_signature is checked it is just that:
 * so `parseEnvelope`, which runs before the check, only does work linear in
 * the body with indexOf-sized steps (a few counts and searches) and never
 * parses XML. Parsing a 1 MiB XML body costs far more than checking its
 * signature: 130k elements took 150 to 350 ms, and one long text outside CDATA,
 * a long attribute or many entities 50 to 100 ms per MiB, in fast-xml-parser
 * and its validator. The whole XML envelope goes through fast-xml-parser in
 * `confirmEnvelope`, once its Encrypt is known to be WeCom's, and the Encrypt
 * the parser reads must be the very one that was signed.
 */
import { WecomError, WXBizMsgCryptCode } from "../errors.js";
import { countUpTo } from "./markup.js";
import { markupError, parseError, parseXml } from "./xml.js";

export type EnvelopeFormat = "xml" | "json";

export interface Envelope {
  readonly format: EnvelopeFormat;
  /** The Encrypt that msg_signature must cover and that is decrypted. */
  readonly encrypt: string;
  /** The same as the body has it, before any space is turned back into `+`. */
  readonly located: string;
}

/**
 * At most this many `<` in an XML envelope. Every start tag, end tag, CDATA
 * section, comment and declaration starts with one, and an Encrypt value
 * (base64) has none. WeCom's envelopes hold 2 to 4 elements (ToUserName,
 * Encrypt, AgentID; suite callbacks the same or fewer), so at most 14 `<`
 * with each value in CDATA; 64 leaves room for 20 elements in CDATA and a
 * declaration, and bounds every later parse of the envelope to a few tags.
 */
export const MAX_ENVELOPE_TAGS = 64;

/**
 * At most this many `{`, `[` and `,` (together) in a JSON envelope. WeCom's is
 * `{"encrypt": "…"}`, one object with one field, and base64 has none of the
 * three. Nesting and every value past the first need one, so this bounds the
 * depth and the count of values JSON.parse can be made to build; what is left
 * is linear in the length (strings, numbers), about as cheap as hashing it.
 */
export const MAX_ENVELOPE_JSON_PUNCTUATION = 64;

/** Before the signature check: the envelope's format and its Encrypt, found cheaply. */
export function parseEnvelope(body: string): Envelope {
  const first = firstNonSpace(body);
  if (first === "<") return { format: "xml", ...located(locateXmlEncrypt(body)) };
  if (first === "{") return { format: "json", ...located(jsonEncrypt(body)) };
  throw new WecomError(WXBizMsgCryptCode.ParseXml, "body is neither an XML nor a JSON envelope");
}

/**
 * After the signature check: an XML envelope must be well-formed XML, and
 * fast-xml-parser must read in it the Encrypt that was signed. A JSON
 * envelope was parsed whole already.
 */
export function confirmEnvelope(body: string, envelope: Envelope): void {
  if (envelope.format !== "xml") return;
  const encrypt = parseXml(body).Encrypt;
  if (typeof encrypt !== "string" || encrypt === "") {
    throw new WecomError(WXBizMsgCryptCode.ParseXml, "XML envelope has no Encrypt element");
  }
  if (encrypt !== envelope.located) {
    throw new WecomError(WXBizMsgCryptCode.ParseXml, "XML envelope has an ambiguous Encrypt element", "the parsed Encrypt is not the one located for the signature check");
  }
}

/** Base64 has no space: a space is a `+` that form-style URL decoding turned into one. */
export function restorePlus(base64: string): string {
  return base64.replaceAll(" ", "+");
}

function located(value: string): { encrypt: string; located: string } {
  return { encrypt: restorePlus(value), located: value };
}

const OPEN = "<Encrypt>";
const CLOSE = "</Encrypt>";
const CDATA_OPEN = "<![CDATA[";
const CDATA_CLOSE = "]]>";

/**
 * The Encrypt as WeCom writes it, `<Encrypt><![CDATA[…]]></Encrypt>` or
 * `<Encrypt>…</Encrypt>`, found without parsing. Any other spelling that
 * fast-xml-parser would read differently fails the signature check or
 * `confirmEnvelope`, so this never lets through what the parser would not.
 */
function locateXmlEncrypt(body: string): string {
  if (countUpTo(body, "<", MAX_ENVELOPE_TAGS) > MAX_ENVELOPE_TAGS) {
    throw parseError(`the envelope has more than ${MAX_ENVELOPE_TAGS} tags`);
  }
  refuseDeclarations(body);
  const open = body.indexOf(OPEN);
  const close = open === -1 ? -1 : body.indexOf(CLOSE, open + OPEN.length);
  let value = close === -1 ? "" : body.slice(open + OPEN.length, close);
  if (value.length >= CDATA_OPEN.length + CDATA_CLOSE.length && value.startsWith(CDATA_OPEN) && value.endsWith(CDATA_CLOSE)) {
    value = value.slice(CDATA_OPEN.length, -CDATA_CLOSE.length);
  }
  if (value === "") throw new WecomError(WXBizMsgCryptCode.ParseXml, "XML envelope has no Encrypt element");
  return value;
}

/**
 * No XML is parsed before the signature check, so no DOCTYPE can be expanded
 * yet; one is refused all the same, so that it never is. More strictly than
 * parseXml, and so without tokenising: any `<!` but a comment or CDATA opener,
 * wherever it stands, even inside a comment, since an envelope has no text
 * that could mention one. At most MAX_ENVELOPE_TAGS steps.
 */
function refuseDeclarations(body: string): void {
  for (let at = body.indexOf("<!"); at !== -1; at = body.indexOf("<!", at + 2)) {
    if (!body.startsWith("--", at + 2) && !body.startsWith("[CDATA[", at + 2)) throw markupError(body, { kind: "declaration", at });
  }
}

function jsonEncrypt(body: string): string {
  const punctuation =
    countUpTo(body, "{", MAX_ENVELOPE_JSON_PUNCTUATION) +
    countUpTo(body, "[", MAX_ENVELOPE_JSON_PUNCTUATION) +
    countUpTo(body, ",", MAX_ENVELOPE_JSON_PUNCTUATION);
  if (punctuation > MAX_ENVELOPE_JSON_PUNCTUATION) {
    throw new WecomError(
      WXBizMsgCryptCode.ParseXml,
      "JSON envelope could not be parsed",
      `the envelope has more than ${MAX_ENVELOPE_JSON_PUNCTUATION} of "{", "[" and ","`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new WecomError(WXBizMsgCryptCode.ParseXml, "JSON envelope could not be parsed");
  }
  const encrypt = (parsed as { encrypt?: unknown } | null)?.encrypt;
  if (typeof encrypt !== "string" || encrypt === "") {
    throw new WecomError(WXBizMsgCryptCode.ParseXml, "JSON envelope has no encrypt field");
  }
  return encrypt;
}

function firstNonSpace(text: string): string | undefined {
  const match = /^[\s\uFEFF]*(.)/.exec(text.slice(0, 1024));
  return match?.[1];
}

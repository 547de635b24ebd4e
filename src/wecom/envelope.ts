/**
 * The envelope WeCom POSTs: XML (`<xml><Encrypt>…</Encrypt>…</xml>`) for
 * apps, contacts, approvals, suites; JSON (`{"encrypt": "…"}`) for smart
 * robots. Told apart by the body itself, never by Content-Type.
 */
import { WecomError, WXBizMsgCryptCode } from "../errors.js";
import { parseXml } from "./xml.js";

export type EnvelopeFormat = "xml" | "json";

export interface Envelope {
  readonly format: EnvelopeFormat;
  readonly encrypt: string;
}

export function parseEnvelope(body: string): Envelope {
  const first = firstNonSpace(body);
  if (first === "<") {
    const encrypt = parseXml(body).Encrypt;
    if (typeof encrypt !== "string" || encrypt === "") {
      throw new WecomError(WXBizMsgCryptCode.ParseXml, "XML envelope has no Encrypt element");
    }
    return { format: "xml", encrypt: restorePlus(encrypt) };
  }
  if (first === "{") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new WecomError(WXBizMsgCryptCode.ParseXml, "JSON envelope could not be parsed");
    }
    const encrypt = (parsed as { encrypt?: unknown }).encrypt;
    if (typeof encrypt !== "string" || encrypt === "") {
      throw new WecomError(WXBizMsgCryptCode.ParseXml, "JSON envelope has no encrypt field");
    }
    return { format: "json", encrypt: restorePlus(encrypt) };
  }
  throw new WecomError(WXBizMsgCryptCode.ParseXml, "body is neither an XML nor a JSON envelope");
}

/** Base64 has no space: a space is a `+` that form-style URL decoding turned into one. */
export function restorePlus(base64: string): string {
  return base64.replaceAll(" ", "+");
}

function firstNonSpace(text: string): string | undefined {
  const match = /^[\s\uFEFF]*(.)/.exec(text.slice(0, 1024));
  return match?.[1];
}

import { statusOf, WecomError } from "../errors.js";
import { isPlainObject, isWholeNumberIn } from "../lib/checks.js";
import { readWithin } from "../lib/streams.js";

export const MAX_BODY_BYTES = 1024 * 1024;

export function errorResponse(error: WecomError, headers?: HeadersInit): Response {
  return jsonResponse({ error: { code: error.code, message: error.message } }, statusOf(error.code), headers);
}

export function jsonResponse(body: unknown, status = 200, headers?: HeadersInit): Response {
  return jsonTextResponse(JSON.stringify(body), status, headers);
}

/** JSON that is text already (stored event JSON spliced in, a sealed reply): sent as it is, never re-encoded. */
export function jsonTextResponse(text: string, status = 200, headers?: HeadersInit): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json; charset=utf-8");
  return new Response(text, { status, headers: h });
}

export function textResponse(body: string, status = 200): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * Reads a request body as UTF-8 text, refusing it as soon as it passes
 * `limit` bytes: a declared Content-Length over the limit is refused before
 * reading anything, a body within its declared length is read in one go
 * (HTTP framing holds it to that length), and a chunked body is cut off once
 * it grows too large.
 */
export async function readBodyLimited(request: Request, limit = MAX_BODY_BYTES): Promise<string> {
  const declared = request.headers.get("content-length");
  const length = declared !== null && /^\d{1,16}$/.test(declared) ? Number(declared) : null;
  if (length !== null && length > limit) {
    await request.body?.cancel().catch(() => {});
    throw tooLarge(limit);
  }
  if (!request.body) return "";
  const bytes = length !== null ? await readDeclared(request) : await readChunked(request.body, limit);
  if (bytes.byteLength > limit) throw tooLarge(limit);
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new WecomError("invalid_parameter", "body is not valid UTF-8");
  }
}

function tooLarge(limit: number): WecomError {
  return new WecomError("payload_too_large", `body is larger than ${limit} bytes`);
}

/** The client went away (or the stream broke) before the body ended: bad input, not a fault of ours. */
function cutOff(): WecomError {
  return new WecomError("body_incomplete", "the request body could not be read to its end", "client disconnected mid-body");
}

async function readDeclared(request: Request): Promise<Uint8Array> {
  try {
    return new Uint8Array(await request.arrayBuffer());
  } catch {
    throw cutOff();
  }
}

async function readChunked(body: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  let bytes: Uint8Array | null;
  try {
    bytes = await readWithin(body, limit);
  } catch {
    throw cutOff();
  }
  if (bytes === null) throw tooLarge(limit);
  return bytes;
}

export const MAX_API_BODY_BYTES = 64 * 1024;

/** A small JSON object body (pull, ack, admin); an empty body is `{}`. */
export async function readJsonObject(request: Request): Promise<Record<string, unknown>> {
  const text = await readBodyLimited(request, MAX_API_BODY_BYTES);
  if (text.trim() === "") return {};
  return parseJsonObject(text, "body must be a JSON object");
}

/** `text` as a JSON object, or invalid_parameter with `problem`. */
export function parseJsonObject(text: string, problem: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new WecomError("invalid_parameter", problem);
  }
  if (!isPlainObject(value)) throw new WecomError("invalid_parameter", problem);
  return value;
}

/** An optional whole number in [min, max]. */
export function intField(body: Record<string, unknown>, name: string, fallback: number, min: number, max: number): number {
  const value = body[name];
  if (value === undefined) return fallback;
  if (!isWholeNumberIn(value, min, max)) {
    throw new WecomError("invalid_parameter", `${name} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** An array of event ids. */
export function idsField(body: Record<string, unknown>, name: string, maxItems: number): string[] {
  const value = body[name];
  if (!Array.isArray(value) || value.length > maxItems || !value.every((v) => typeof v === "string" && v.length > 0 && v.length <= 128)) {
    throw new WecomError("invalid_parameter", `${name} must be an array of at most ${maxItems} event ids`);
  }
  return value as string[];
}

/** A percent-decoded path segment; a malformed escape is left as it is (and will name no app). */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

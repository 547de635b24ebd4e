import { WecomError } from "../errors.js";
import { encodeUtf8, timingSafeEqual, toHex } from "../lib/bytes.js";

/**
 * Checks `Authorization: Bearer <token>` in constant time. Both sides are
 * hashed first, so neither the content nor the length of the expected
 * token shows in the timing.
 */
export async function requireBearer(request: Request, expected: string): Promise<void> {
  const match = /^Bearer ([\x21-\x7e]{1,1024})$/.exec(request.headers.get("authorization") ?? "");
  const given = match?.[1] ?? "";
  const [a, b] = await Promise.all([sha256Hex(given), sha256Hex(expected)]);
  if (!timingSafeEqual(a, b) || !match) {
    throw new WecomError("unauthorized", "a valid bearer token is required");
  }
}

async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", encodeUtf8(text))));
}

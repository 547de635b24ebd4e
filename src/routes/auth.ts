import { WecomError } from "../errors.js";
import { encodeUtf8, timingSafeEqual, toHex } from "../lib/bytes.js";

/**
 * Checks `Authorization: Bearer <token>` in constant time. Both sides are
 * hashed first, so neither the content nor the length of the expected
 * token shows in the timing. With no expected token (an unknown app, or one
 * without that API) the check runs all the same, against a token no caller
 * can know, and refuses: the answer and its timing do not tell app names
 * apart.
 */
export async function requireBearer(request: Request, expected: string): Promise<void> {
  await check(request, expected);
}

/** The answer for a request that no token can authorise, after the same work as a real check. */
export async function refuseBearer(request: Request): Promise<never> {
  await check(request, undefined);
  throw new WecomError("unauthorized", "a valid bearer token is required");
}

async function check(request: Request, expected: string | undefined): Promise<void> {
  const match = /^Bearer ([\x21-\x7e]{1,1024})$/.exec(request.headers.get("authorization") ?? "");
  const given = match?.[1] ?? "";
  const [a, b] = await Promise.all([sha256Hex(given), sha256Hex(expected ?? decoy())]);
  if (!timingSafeEqual(a, b) || !match || expected === undefined) {
    throw new WecomError("unauthorized", "a valid bearer token is required");
  }
}

let decoyToken: string | undefined;
/** Drawn on first use: workerd refuses random values in the global scope. */
function decoy(): string {
  decoyToken ??= toHex(crypto.getRandomValues(new Uint8Array(32)));
  return decoyToken;
}

async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", encodeUtf8(text))));
}

import { concatBytes, encodeUtf8, timingSafeEqual, toHex } from "../lib/bytes.js";

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

/**
 * msg_signature = lowercase hex SHA-1 of token, timestamp, nonce and encrypt,
 * sorted in byte order and concatenated. Sorting the UTF-8 bytes (not UTF-16
 * code units) is what the official libraries' byte-wise sort does.
 */
export async function computeMsgSignature(
  token: string,
  timestamp: string,
  nonce: string,
  encrypt: string,
): Promise<string> {
  const parts = [token, timestamp, nonce, encrypt].map(encodeUtf8).sort(compareBytes);
  const joined = concatBytes(...parts);
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-1", joined)));
}

export async function verifyMsgSignature(
  msgSignature: string,
  token: string,
  timestamp: string,
  nonce: string,
  encrypt: string,
): Promise<boolean> {
  const expected = await computeMsgSignature(token, timestamp, nonce, encrypt);
  return timingSafeEqual(expected, msgSignature);
}

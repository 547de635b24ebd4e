/**
 * Standard Webhooks signatures (standardwebhooks.com): HMAC-SHA256 over
 * `{id}.{timestamp}.{body}` with the bytes behind `whsec_`, sent as
 * `webhook-signature: v1,<base64>`: one per secret, space-separated, as the
 * standard allows, so that a receiver can rotate its secret too.
 */
import { encodeBase64, encodeUtf8 } from "../lib/bytes.js";

const keys = new WeakMap<Uint8Array, Promise<CryptoKey>>();

function hmacKey(secret: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    keys.set(secret, key);
  }
  return key;
}

export async function signWebhook(
  secrets: readonly Uint8Array<ArrayBuffer>[],
  id: string,
  timestamp: number,
  body: string,
): Promise<string> {
  const content = encodeUtf8(`${id}.${timestamp}.${body}`);
  const signatures = await Promise.all(
    secrets.map(async (secret) => `v1,${encodeBase64(new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), content)))}`),
  );
  return signatures.join(" ");
}

/**
 * WXBizMsgCrypt with WebCrypto only.
 *
 *   ciphertext = base64(AES-256-CBC(key, iv = key[0..16],
 *                  pad32(random16 ‖ len32be(msg) ‖ msg ‖ receiveId)))
 *
 * pad32 is PKCS#7 over a 32-byte block, so the pad value is 1..32. WebCrypto's
 * AES-CBC insists on 16-byte PKCS#7 (pad 1..16) when it decrypts, which would
 * refuse every message whose pad is 17..32 — about half of them. So the
 * decryptor appends one crafted block whose plaintext is a full 16-byte pad
 * block; WebCrypto strips exactly that block and hands back WeCom's padded
 * plaintext untouched, and the 32-byte padding is checked here, by hand.
 */
import { WecomError, WXBizMsgCryptCode } from "../errors.js";
import { concatBytes, decodeBase64, decodeUtf8, encodeBase64, encodeUtf8 } from "../lib/bytes.js";

const BLOCK = 16;
const PAD_BLOCK = 32;
const RANDOM_BYTES = 16;
const LENGTH_BYTES = 4;
const HEADER = RANDOM_BYTES + LENGTH_BYTES;

/** A full 16-byte PKCS#7 block: the padding WebCrypto expects to find and strip. */
const FULL_PAD_BLOCK = new Uint8Array(BLOCK).fill(BLOCK);

export interface AesKey {
  readonly key: CryptoKey;
  readonly iv: Uint8Array<ArrayBuffer>;
}

export interface Decrypted {
  /** The message, decoded as strict UTF-8. */
  readonly message: string;
  /** The corpid, suiteid or "" that WeCom put after the message. */
  readonly receiveId: string;
}

const ENCODING_AES_KEY = /^[A-Za-z0-9+/]{43}$/;

/**
 * Imports an EncodingAESKey (43 base64 characters, no trailing "=") as an
 * AES-256-CBC key. Call once per app per isolate and keep the result.
 */
export async function importEncodingAesKey(encodingAESKey: string): Promise<AesKey> {
  if (!ENCODING_AES_KEY.test(encodingAESKey)) {
    throw new WecomError(WXBizMsgCryptCode.IllegalAesKey, "EncodingAESKey must be 43 characters of base64");
  }
  // 43 characters carry 258 bits; the 2 spare bits of the last one are ignored, as the
  // official libraries do (the admin console draws keys from [A-Za-z0-9], not canonical base64).
  let raw: Uint8Array<ArrayBuffer>;
  try {
    raw = decodeBase64(encodingAESKey + "=");
  } catch {
    throw new WecomError(WXBizMsgCryptCode.IllegalAesKey, "EncodingAESKey must be 43 characters of base64");
  }
  if (raw.length !== 32) {
    throw new WecomError(WXBizMsgCryptCode.IllegalAesKey, "EncodingAESKey must decode to 32 bytes");
  }
  const key = await crypto.subtle.importKey("raw", raw, { name: "AES-CBC" }, false, ["encrypt", "decrypt"]);
  return { key, iv: raw.slice(0, BLOCK) };
}

/** Decrypts an `Encrypt` / `echostr` value and checks every byte of its framing. */
export async function decryptMessage(aes: AesKey, encrypt: string): Promise<Decrypted> {
  let ciphertext: Uint8Array<ArrayBuffer>;
  try {
    ciphertext = decodeBase64(encrypt);
  } catch {
    throw new WecomError(WXBizMsgCryptCode.DecodeBase64, "not valid base64");
  }
  if (ciphertext.length === 0 || ciphertext.length % BLOCK !== 0) {
    throw decryptFailed("ciphertext length is not a positive multiple of 16");
  }

  const lastBlock = ciphertext.subarray(ciphertext.length - BLOCK);
  const encrypted = await crypto.subtle.encrypt({ name: "AES-CBC", iv: lastBlock }, aes.key, FULL_PAD_BLOCK);
  // CBC: the first output block is E(k, FULL_PAD_BLOCK xor lastBlock); decrypting it after
  // `ciphertext` yields FULL_PAD_BLOCK, which WebCrypto removes as its own padding.
  const crafted = new Uint8Array(encrypted, 0, BLOCK);

  let padded: Uint8Array;
  try {
    padded = new Uint8Array(
      await crypto.subtle.decrypt({ name: "AES-CBC", iv: aes.iv }, aes.key, concatBytes(ciphertext, crafted)),
    );
  } catch {
    throw decryptFailed("AES-CBC decryption failed");
  }

  const content = padded.subarray(0, padded.length - checkPad32(padded));
  if (content.length < HEADER) {
    throw new WecomError(WXBizMsgCryptCode.IllegalBuffer, "decrypted buffer is too short");
  }
  const view = new DataView(content.buffer, content.byteOffset, content.byteLength);
  const messageLength = view.getUint32(RANDOM_BYTES, false);
  if (messageLength > content.length - HEADER) {
    throw new WecomError(WXBizMsgCryptCode.IllegalBuffer, "message length overruns the decrypted buffer");
  }
  const messageEnd = HEADER + messageLength;
  try {
    return {
      message: decodeUtf8(content.subarray(HEADER, messageEnd)),
      receiveId: decodeUtf8(content.subarray(messageEnd)),
    };
  } catch {
    // Refused rather than patched with U+FFFD: `raw` must be the bytes WeCom sent.
    throw new WecomError(WXBizMsgCryptCode.IllegalBuffer, "decrypted message is not valid UTF-8");
  }
}

/** Returns the pad length 1..32, or throws if any pad byte is wrong. */
function checkPad32(padded: Uint8Array): number {
  const pad = padded[padded.length - 1]!;
  if (pad < 1 || pad > PAD_BLOCK || pad > padded.length) throw decryptFailed("pad value out of range");
  let diff = 0;
  for (let i = padded.length - pad; i < padded.length; i++) diff |= padded[i]! ^ pad;
  if (diff !== 0) throw decryptFailed("inconsistent pad bytes");
  return pad;
}

function decryptFailed(detail: string): WecomError {
  return new WecomError(WXBizMsgCryptCode.DecryptAes, "decryption failed", detail);
}

/**
 * Encrypts a message for WeCom (passive replies, tests). `random` is the
 * 16-byte prefix; it is drawn from crypto.getRandomValues when omitted.
 */
export async function encryptMessage(
  aes: AesKey,
  message: string,
  receiveId: string,
  random: Uint8Array = crypto.getRandomValues(new Uint8Array(RANDOM_BYTES)),
): Promise<string> {
  if (random.length !== RANDOM_BYTES) {
    throw new WecomError(WXBizMsgCryptCode.EncryptAes, "random prefix must be 16 bytes");
  }
  const messageBytes = encodeUtf8(message);
  const length = new Uint8Array(LENGTH_BYTES);
  new DataView(length.buffer).setUint32(0, messageBytes.length, false);
  const body = concatBytes(random, length, messageBytes, encodeUtf8(receiveId));
  const pad = PAD_BLOCK - (body.length % PAD_BLOCK);
  const padded = concatBytes(body, new Uint8Array(pad).fill(pad));
  // padded is block-aligned, so WebCrypto appends one whole 16-byte pad block: drop it.
  const encrypted = await crypto.subtle.encrypt({ name: "AES-CBC", iv: aes.iv }, aes.key, padded);
  return encodeBase64(new Uint8Array(encrypted, 0, padded.length));
}

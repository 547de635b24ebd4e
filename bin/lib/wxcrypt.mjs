// WXBizMsgCrypt with node:crypto only (modelled on scripts/gen-vectors.mjs; shares no code with src/).
//
//   key       = base64decode(EncodingAESKey + '=')  (32 bytes), iv = key[0..16)
//   plaintext = random16 ‖ uint32be(len(msg)) ‖ msg ‖ receiveId
//   padded    = plaintext ‖ n × byte(n), n = 32 - len % 32  (1..32)
//   encrypt   = base64(AES-256-CBC(key, iv, padded))   (auto padding off)
//   signature = hex(SHA-1(concat(sort_bytewise([token, timestamp, nonce, encrypt]))))
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export const ENCODING_AES_KEY = /^[A-Za-z0-9+/]{43}$/;
/** Canonical, padded base64, as the gateway accepts it. */
export const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function aesKeyOf(encodingAESKey) {
  const key = Buffer.from(encodingAESKey + '=', 'base64');
  if (key.length !== 32) throw new Error('EncodingAESKey must decode to 32 bytes');
  return { key, iv: key.subarray(0, 16) };
}

export function signature(token, timestamp, nonce, encrypt) {
  const parts = [token, timestamp, nonce, encrypt].map((s) => Buffer.from(s, 'utf8'));
  parts.sort(Buffer.compare);
  return createHash('sha1').update(Buffer.concat(parts)).digest('hex');
}

export function aesDecryptRaw(encodingAESKey, ciphertext) {
  const { key, iv } = aesKeyOf(encodingAESKey);
  const d = createDecipheriv('aes-256-cbc', key, iv);
  d.setAutoPadding(false);
  return Buffer.concat([d.update(ciphertext), d.final()]);
}

export function aesEncryptRaw(encodingAESKey, padded) {
  const { key, iv } = aesKeyOf(encodingAESKey);
  const c = createCipheriv('aes-256-cbc', key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(padded), c.final()]);
}

/** Encrypts like WeCom does (used by tests and for round trips). */
export function encrypt(encodingAESKey, message, receiveId, random = randomBytes(16)) {
  const msg = Buffer.from(message, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(msg.length, 0);
  const plain = Buffer.concat([random, len, msg, Buffer.from(receiveId, 'utf8')]);
  const n = 32 - (plain.length % 32);
  return aesEncryptRaw(encodingAESKey, Buffer.concat([plain, Buffer.alloc(n, n)])).toString('base64');
}

/**
 * Decrypts a base64 Encrypt/echostr into { message, receiveId }, checking
 * what the gateway checks: base64, whole AES blocks, padding 1..32, the
 * length field and UTF-8. Throws an Error that says which check failed.
 */
export function decrypt(encodingAESKey, encrypted) {
  if (!BASE64.test(encrypted)) throw new Error('not base64');
  const ciphertext = Buffer.from(encrypted, 'base64');
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) throw new Error(`${ciphertext.length} bytes of ciphertext, not whole AES blocks`);
  const padded = aesDecryptRaw(encodingAESKey, ciphertext);
  const n = padded[padded.length - 1];
  if (n < 1 || n > 32 || n > padded.length || !padded.subarray(padded.length - n).every((b) => b === n)) {
    throw new Error('bad padding (a different EncodingAESKey?)');
  }
  const content = padded.subarray(0, padded.length - n);
  if (content.length < 20) throw new Error('shorter than its 20-byte header');
  const length = content.readUInt32BE(16);
  if (length > content.length - 20) throw new Error('its length field overruns it');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  try {
    return { message: utf8.decode(content.subarray(20, 20 + length)), receiveId: utf8.decode(content.subarray(20 + length)) };
  } catch {
    throw new Error('not UTF-8');
  }
}

// WeCom's side of the callback protocol: the URL-verification GET, a callback
// POST sealed as WeCom seals it (encrypted, enveloped, signed), and the
// opening of a passive reply (its signature checked, then decrypted).
import { randomInt } from 'node:crypto';
import { decrypt, encrypt, signature } from './wxcrypt.mjs';

/** A nonce as WeCom sends them: digits. */
export function newNonce() {
  return String(randomInt(1_000_000_000, 10_000_000_000));
}

export function nowSeconds() {
  return String(Math.floor(Date.now() / 1000));
}

/** The URL of a signed URL-verification GET for `echostrPlain`. */
export function verificationUrl(callbackUrl, { token, encodingAESKey, receiveId }, echostrPlain, timestamp = nowSeconds(), nonce = newNonce()) {
  const echostr = encrypt(encodingAESKey, echostrPlain, receiveId);
  const query = new URLSearchParams({ msg_signature: signature(token, timestamp, nonce, echostr), timestamp, nonce, echostr });
  return `${callbackUrl}?${query}`;
}

/**
 * A callback POST as WeCom sends it: `plaintext` encrypted for the receiveId,
 * in an XML envelope (`<ToUserName>`, `<Encrypt>`, `<AgentID>`; no AgentID
 * when `agentId` is null, as a suite's instruction callbacks have none) or,
 * for an AI bot, a JSON one (`{"encrypt"}`), signed in the query. Returns
 * { url, body, timestamp, nonce }.
 */
export function sealCallback(callbackUrl, { token, encodingAESKey, receiveId }, plaintext, { format, toUserName = receiveId, agentId = '' }, timestamp = nowSeconds(), nonce = newNonce()) {
  const encrypted = encrypt(encodingAESKey, plaintext, receiveId);
  const body =
    format === 'json'
      ? JSON.stringify({ encrypt: encrypted })
      : `<xml><ToUserName><![CDATA[${toUserName}]]></ToUserName><Encrypt><![CDATA[${encrypted}]]></Encrypt>${agentId === null ? '' : `<AgentID><![CDATA[${agentId}]]></AgentID>`}</xml>`;
  const query = new URLSearchParams({ msg_signature: signature(token, timestamp, nonce, encrypted), timestamp, nonce });
  return { url: `${callbackUrl}?${query}`, body, timestamp, nonce };
}

/**
 * Opens a passive reply the way WeCom does: the envelope is read
 * (XML `<Encrypt><MsgSignature><TimeStamp><Nonce>`, or JSON `{"encrypt",
 * "msgsignature", "timestamp", "nonce"}` for a bot), the signature checked
 * with the Token, then it is decrypted and its receiveId compared with the
 * callback's. Returns { ok: true, plaintext, notes } or { ok: false, problem, plaintext? }.
 * `expect` is { timestamp, nonce, receiveId } of the callback it answers.
 */
export function openReply(text, format, { token, encodingAESKey }, expect) {
  const envelope = format === 'json' ? jsonEnvelope(text) : xmlEnvelope(text);
  if (typeof envelope === 'string') return { ok: false, problem: envelope };
  const { encrypted, msgSignature, timestamp, nonce } = envelope;
  if (signature(token, timestamp, nonce, encrypted) !== msgSignature) {
    return { ok: false, problem: "the reply's signature does not verify with the Token" };
  }
  let opened;
  try {
    opened = decrypt(encodingAESKey, encrypted);
  } catch (error) {
    return { ok: false, problem: `the reply does not decrypt: ${error.message}` };
  }
  const notes = [];
  if (opened.receiveId !== expect.receiveId) {
    return { ok: false, problem: `the reply is encrypted for receiveId ${JSON.stringify(opened.receiveId)}, not ${JSON.stringify(expect.receiveId)}`, plaintext: opened.message };
  }
  if (nonce !== expect.nonce) {
    // WeCom requires an AI bot's reply to carry the callback's nonce; for apps the samples reuse it too.
    if (format === 'json') return { ok: false, problem: `the reply's nonce ${JSON.stringify(nonce)} is not the callback's ${JSON.stringify(expect.nonce)}`, plaintext: opened.message };
    notes.push(`the reply's nonce is not the callback's (WeCom's samples reuse it)`);
  }
  if (format === 'json') {
    try {
      const parsed = JSON.parse(opened.message);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      return { ok: true, plaintext: opened.message, reply: parsed, notes };
    } catch {
      return { ok: false, problem: 'the decrypted bot reply is not a JSON object', plaintext: opened.message };
    }
  }
  if (!/^<xml>[\s\S]*<\/xml>$/.test(opened.message.trim())) return { ok: false, problem: 'the decrypted reply is not an <xml> message', plaintext: opened.message };
  return { ok: true, plaintext: opened.message, notes };
}

function xmlEnvelope(text) {
  const field = (name) => xmlText(text, name);
  const encrypted = field('Encrypt');
  const msgSignature = field('MsgSignature');
  const timestamp = field('TimeStamp');
  const nonce = field('Nonce');
  if ([encrypted, msgSignature, timestamp, nonce].includes(undefined)) {
    return 'the answer is neither "success" nor an encrypted reply (<xml><Encrypt>, <MsgSignature>, <TimeStamp>, <Nonce>)';
  }
  return { encrypted, msgSignature, timestamp, nonce };
}

function jsonEnvelope(text) {
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 'the answer is neither empty nor a JSON reply envelope';
  }
  const { encrypt: encrypted, msgsignature: msgSignature, timestamp, nonce } = parsed ?? {};
  if (typeof encrypted !== 'string' || typeof msgSignature !== 'string' || typeof nonce !== 'string') {
    return 'the JSON reply envelope lacks "encrypt", "msgsignature" or "nonce"';
  }
  if (typeof timestamp !== 'number' && typeof timestamp !== 'string') return 'the JSON reply envelope lacks "timestamp"';
  return { encrypted, msgSignature, timestamp: String(timestamp), nonce };
}

/** One element's text in an XML message (CDATA or plain), or undefined. */
export function xmlText(xml, name) {
  const m = new RegExp(`<${name}>(?:<!\\[CDATA\\[([\\s\\S]*?)\\]\\]>|([^<]*))</${name}>`).exec(xml);
  return m ? (m[1] ?? m[2]) : undefined;
}

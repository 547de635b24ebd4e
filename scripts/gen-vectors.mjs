#!/usr/bin/env node
// gen-vectors.mjs — independent test-vector oracle for WeCom WXBizMsgCrypt.
//
// This script deliberately shares NO code with src/. It re-implements the
// WXBizMsgCrypt callback crypto from the published algorithm using only
// node:crypto (AES-256-CBC with cipher.setAutoPadding(false), so the 32-byte
// PKCS#7 padding is applied by hand here, never by OpenSSL) and node:crypto
// SHA-1 for msg_signature. The output is test/vectors/generated.json.
//
//   key        = base64decode(EncodingAESKey + '=')   (32 bytes), iv = key[0..16)
//   plaintext  = random16 ‖ uint32be(len(msg utf8)) ‖ msg utf8 ‖ receiveId utf8
//   padded     = plaintext ‖ n × byte(n), n = 32 - len(plaintext) % 32 (1..32)
//   encrypt    = base64(AES-256-CBC(key, iv, padded))
//   msg_sig    = hex(SHA-1(concat(sort_bytewise([token, timestamp, nonce, encrypt]))))
//
// Determinism: every "random" value (keys, tokens, random16, nonces, junk
// bytes) is derived from a fixed seed string with SHA-256 in counter mode,
// keyed by a per-use label, so re-running produces byte-identical output.
//
// Invalid vectors are built from hand-made raw (already "padded") plaintexts
// and encrypted with setAutoPadding(false); every invalid vector carries a
// CORRECT msg_signature over its encrypt, so only decryption/validation fails.
// The script also runs its own strict reference decryptor over every vector
// and asserts the expected outcome, and asserts that all pad values 1..32 occur.
//
// Usage: node scripts/gen-vectors.mjs   (Node >= 20, no dependencies)

import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const SEED = 'wecom-edge/test-vectors/v1';
const OUT = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'vectors', 'generated.json');

// Official WeCom error codes (WXBizMsgCrypt).
const ERR = {
  ValidateSignature: -40001,
  ValidateCorpid: -40005,
  DecryptAES: -40007,
  IllegalBuffer: -40008,
  DecodeBase64: -40010,
};

// ---------------------------------------------------------------- PRNG ----
/** n deterministic bytes for a label: SHA-256(SEED|label|counter) blocks. */
function drbg(label, n) {
  const out = [];
  let got = 0;
  for (let i = 0; got < n; i++) {
    const block = createHash('sha256').update(`${SEED}|${label}|${i}`).digest();
    out.push(block);
    got += block.length;
  }
  return Buffer.concat(out).subarray(0, n);
}
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function drbgString(label, n, alphabet) {
  // rejection sampling to avoid modulo bias (not that it matters for vectors)
  const limit = 256 - (256 % alphabet.length);
  let s = '';
  let ctr = 0;
  while (s.length < n) {
    for (const b of drbg(`${label}#${ctr++}`, 64)) {
      if (b < limit && s.length < n) s += alphabet[b % alphabet.length];
    }
  }
  return s;
}
const drbgDigits = (label, n) => {
  let s = drbgString(label, n, '0123456789');
  if (s[0] === '0') s = '1' + s.slice(1); // looks like a real number
  return s;
};

// --------------------------------------------------------------- crypto ----
function parseKey(encodingAESKey) {
  assert.equal(encodingAESKey.length, 43, 'EncodingAESKey must be 43 chars');
  const key = Buffer.from(encodingAESKey + '=', 'base64');
  assert.equal(key.length, 32);
  return { key, iv: key.subarray(0, 16) };
}
function makeEncodingAESKey(label) {
  const raw = drbg(`aeskey|${label}`, 32);
  const s = raw.toString('base64');
  assert.ok(s.endsWith('=') && !s.endsWith('=='));
  const k = s.slice(0, 43);
  assert.ok(parseKey(k).key.equals(raw));
  return k;
}
function aesRaw(encodingAESKey, padded) {
  assert.equal(padded.length % 16, 0, 'raw plaintext must be a multiple of 16 bytes');
  const { key, iv } = parseKey(encodingAESKey);
  const c = createCipheriv('aes-256-cbc', key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(padded), c.final()]);
}
function aesRawDecrypt(encodingAESKey, ct) {
  const { key, iv } = parseKey(encodingAESKey);
  const d = createDecipheriv('aes-256-cbc', key, iv);
  d.setAutoPadding(false);
  return Buffer.concat([d.update(ct), d.final()]);
}
function u32be(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}
function pkcs7pad32(buf) {
  const n = 32 - (buf.length % 32);
  return { padded: Buffer.concat([buf, Buffer.alloc(n, n)]), n };
}
function buildPlain(random, msg, receiveId, lenOverride) {
  const m = Buffer.from(msg, 'utf8');
  return Buffer.concat([random, u32be(lenOverride ?? m.length), m, Buffer.from(receiveId, 'utf8')]);
}
function signature(token, timestamp, nonce, encrypt) {
  const parts = [token, timestamp, nonce, encrypt].map((s) => Buffer.from(s, 'utf8'));
  parts.sort(Buffer.compare);
  return createHash('sha1').update(Buffer.concat(parts)).digest('hex');
}

/**
 * Strict reference decryptor (the policy the vectors encode):
 * base64 must be canonical-alphabet, padded, length % 4 == 0          else -40010
 * ciphertext must be non-empty and a multiple of 16 bytes              else -40007
 * last byte n in 1..32, n <= length, and all last n bytes equal n      else -40007
 * unpadded >= 20 bytes and 20 + len32be <= unpadded length             else -40008
 * trailing bytes (receiveId) must equal the expected receiveId         else -40005
 */
function strictDecrypt(encodingAESKey, encrypt, expectedReceiveId) {
  if (encrypt.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(encrypt)) return { code: ERR.DecodeBase64 };
  const ct = Buffer.from(encrypt, 'base64');
  if (ct.length === 0 || ct.length % 16 !== 0) return { code: ERR.DecryptAES };
  const pt = aesRawDecrypt(encodingAESKey, ct);
  const n = pt[pt.length - 1];
  if (n < 1 || n > 32 || n > pt.length) return { code: ERR.DecryptAES };
  for (let i = pt.length - n; i < pt.length; i++) if (pt[i] !== n) return { code: ERR.DecryptAES };
  const body = pt.subarray(0, pt.length - n);
  if (body.length < 20) return { code: ERR.IllegalBuffer };
  const len = body.readUInt32BE(16);
  if (20 + len > body.length) return { code: ERR.IllegalBuffer };
  const msg = body.subarray(20, 20 + len);
  const rid = body.subarray(20 + len);
  if (!rid.equals(Buffer.from(expectedReceiveId, 'utf8'))) return { code: ERR.ValidateCorpid };
  return { code: 0, msg: msg.toString('utf8'), receiveId: rid.toString('utf8'), random: body.subarray(0, 16), padValue: n };
}

// ----------------------------------------------------------- identities ----
const KEYS = ['A', 'B', 'C', 'D'].map((l) => makeEncodingAESKey(l));
const TOKENS = [
  drbgString('token|A', 6, ALNUM),
  drbgString('token|B', 16, ALNUM),
  drbgString('token|C', 32, ALNUM),
  drbgString('token|D', 10, ALNUM),
];
const CORPID = 'ww3e40cde07cc21a01';
const SUITEID = 'tj' + drbg('suiteid', 8).toString('hex');
const RECEIVERS = [CORPID, SUITEID, ''];

let tsCounter = 0;
function nextTimestamp() {
  return String(1700000000 + 3607 * tsCounter++);
}
function nonceFor(label, i) {
  // real WeCom nonces are usually digit strings; mix in alphanumeric ones too
  return i % 3 === 2 ? drbgString(`nonce|${label}`, 16, ALNUM.toLowerCase()) : drbgDigits(`nonce|${label}`, 10);
}

// -------------------------------------------------------- msg builders ----
/** A string whose UTF-8 encoding is exactly `bytes` bytes long, in a given style. */
function msgOfBytes(bytes, style, label) {
  let s = '';
  const left = () => bytes - Buffer.byteLength(s, 'utf8');
  const fill = (unit) => {
    while (left() >= Buffer.byteLength(unit, 'utf8')) s += unit;
  };
  switch (style) {
    case 'digits':
      return bytes === 0 ? '' : drbgDigits(`msg|${label}`, bytes);
    case 'ascii':
      return drbgString(`msg|${label}`, bytes, ALNUM + ' .,-_');
    case 'cjk': {
      const cjk = '企业微信消息加解密';
      for (let i = 0; left() >= 3; i++) s += cjk[i % cjk.length];
      break;
    }
    case 'emoji': {
      const em = ['😀', '🚀', '👍', '🀄', '🐼'];
      for (let i = 0; left() >= 4; i++) s += em[i % em.length];
      break;
    }
    case 'mixed': {
      const units = ['a', '企', 'é', '😀', ' ', '微', 'ß', '🚀'];
      for (let i = 0; left() > 0; i++) {
        const u = units.find((x, j) => j >= i % units.length && Buffer.byteLength(x) <= left()) ?? 'x';
        s += u;
      }
      break;
    }
    default:
      throw new Error(style);
  }
  fill('.');
  assert.equal(Buffer.byteLength(s, 'utf8'), bytes);
  return s;
}

// ---------------------------------------------------------------- valid ----
const valid = [];
function addValid(name, { key, token, receiveId, msg, random, timestamp, nonce }) {
  const i = valid.length;
  key ??= KEYS[i % KEYS.length];
  token ??= TOKENS[i % TOKENS.length];
  random ??= drbg(`random|${name}`, 16);
  timestamp ??= nextTimestamp();
  nonce ??= nonceFor(name, i);
  const { padded, n } = pkcs7pad32(buildPlain(random, msg, receiveId));
  const encrypt = aesRaw(key, padded).toString('base64');
  const v = {
    name,
    token,
    encodingAESKey: key,
    receiveId,
    random: random.toString('hex'),
    msg,
    msgBytes: Buffer.byteLength(msg, 'utf8'),
    padValue: n,
    timestamp,
    nonce,
    encrypt,
    msgSignature: signature(token, timestamp, nonce, encrypt),
  };
  const r = strictDecrypt(key, encrypt, receiveId);
  assert.equal(r.code, 0, name);
  assert.equal(r.msg, msg);
  assert.equal(r.receiveId, receiveId);
  assert.equal(r.padValue, n);
  valid.push(v);
  return v;
}

// 1. Official sample (URL verification echostr) from the WeCom documentation.
//    Its random16 is recovered by decryption; re-encryption must reproduce it.
{
  const official = {
    token: 'QDG6eK',
    encodingAESKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
    timestamp: '1409659589',
    nonce: '263014780',
    echostr: 'P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==',
    msgSignature: '5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3',
    msg: '1616140317555161061',
    receiveId: 'wx5823bf96d3bd56c7',
  };
  const r = strictDecrypt(official.encodingAESKey, official.echostr, official.receiveId);
  assert.equal(r.code, 0, 'official sample must decrypt');
  assert.equal(r.msg, official.msg);
  const v = addValid('official sample echostr (WeCom docs)', {
    key: official.encodingAESKey,
    token: official.token,
    receiveId: official.receiveId,
    msg: official.msg,
    random: Buffer.from(r.random),
    timestamp: official.timestamp,
    nonce: official.nonce,
  });
  assert.equal(v.encrypt, official.echostr, 'generator must reproduce the official echostr');
  assert.equal(v.msgSignature, official.msgSignature, 'generator must reproduce the official signature');
}

// 2. Pad sweep: one vector per pad value 1..32, cycling receiveIds and msg styles.
const STYLES = ['digits', 'ascii', 'cjk', 'emoji', 'mixed'];
for (let p = 1; p <= 32; p++) {
  const receiveId = RECEIVERS[p % RECEIVERS.length];
  const r = Buffer.byteLength(receiveId);
  // need (20 + m + r) % 32 == (32 - p) % 32
  let m = (((32 - p - 20 - r) % 32) + 64) % 32;
  m += 32 * (p % 3); // vary the total length a bit (1..3 extra blocks)
  const style = STYLES[p % STYLES.length];
  const rid = receiveId === '' ? 'empty' : receiveId.slice(0, 2);
  const v = addValid(`pad ${String(p).padStart(2, '0')} (${style} msg, ${m} bytes, receiveId ${rid})`, {
    receiveId,
    msg: msgOfBytes(m, style, `sweep${p}`),
  });
  assert.equal(v.padValue, p);
}

// 3. Named content vectors.
const XML_TEXT =
  `<xml><ToUserName><![CDATA[${CORPID}]]></ToUserName>` +
  `<FromUserName><![CDATA[zhangsan]]></FromUserName>` +
  `<CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType>` +
  `<Content><![CDATA[this is a test]]></Content><MsgId>4561255354251345929</MsgId>` +
  `<AgentID>218</AgentID></xml>`;
const XML_TEXT_CJK =
  `<xml><ToUserName><![CDATA[${CORPID}]]></ToUserName>` +
  `<FromUserName><![CDATA[lisi]]></FromUserName>` +
  `<CreateTime>1700000123</CreateTime><MsgType><![CDATA[text]]></MsgType>` +
  `<Content><![CDATA[你好，企业微信 👋 — 测试消息 🚀]]></Content><MsgId>7234567890123456789</MsgId>` +
  `<AgentID>1000002</AgentID></xml>`;
const XML_SUITE_TICKET =
  `<xml><SuiteId><![CDATA[${SUITEID}]]></SuiteId>` +
  `<InfoType><![CDATA[suite_ticket]]></InfoType><TimeStamp>1403610513</TimeStamp>` +
  `<SuiteTicket><![CDATA[${drbgString('suiteticket', 43, ALNUM + '-_')}]]></SuiteTicket></xml>`;
const XML_EVENT =
  `<xml><ToUserName><![CDATA[${CORPID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>` +
  `<CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType>` +
  `<Event><![CDATA[change_contact]]></Event><ChangeType><![CDATA[update_user]]></ChangeType>` +
  `<UserID><![CDATA[zhangsan]]></UserID><Name><![CDATA[张三]]></Name></xml>`;
const JSON_MSG = JSON.stringify({
  msgid: drbg('jsonmsgid', 16).toString('hex'),
  aibotid: 'AIBOTID',
  chattype: 'single',
  from: { userid: 'USERID' },
  msgtype: 'text',
  text: { content: 'hello' },
});

addValid('empty msg, corpid receiveId', { receiveId: CORPID, msg: '' });
addValid('empty msg, empty receiveId (20-byte plaintext)', { receiveId: '', msg: '' });
addValid('empty receiveId, ascii msg', { receiveId: '', msg: 'hello world' });
addValid('chinese 企业微信', { receiveId: CORPID, msg: '企业微信' });
addValid('emoji 4-byte utf-8', { receiveId: CORPID, msg: '😀🚀👍🐼' });
addValid('mixed ascii/latin1/cjk/emoji', { receiveId: SUITEID, msg: 'Hello 企业微信 👋 café — naïve ß 🀄 end' });
addValid('msg with NUL, CR/LF, tab and quotes', { receiveId: CORPID, msg: 'a\u0000b\r\nc\t"d"\'e\'<f>&' });
addValid('xml text message (corpid)', { receiveId: CORPID, msg: XML_TEXT });
addValid('xml text message with cjk + emoji content', { receiveId: CORPID, msg: XML_TEXT_CJK });
addValid('xml event change_contact', { receiveId: CORPID, msg: XML_EVENT });
addValid('xml suite_ticket (suiteid receiveId)', { receiveId: SUITEID, msg: XML_SUITE_TICKET });
addValid('json message (aibot style)', { receiveId: '', msg: JSON_MSG });
addValid('json message (corpid)', { receiveId: CORPID, msg: JSON_MSG });
{
  // ~3000 bytes: repeated xml-ish mixed text, trimmed to exactly 3000 bytes
  const unit = '<item>企业微信 WeCom 🚀 line of text, 0123456789</item>\n';
  let s = '';
  while (Buffer.byteLength(s + unit) <= 3000 - 8) s += unit;
  s += msgOfBytes(3000 - Buffer.byteLength(s), 'ascii', 'longtail');
  assert.equal(Buffer.byteLength(s), 3000);
  addValid('long message (3000 bytes)', { receiveId: CORPID, msg: s });
}
{
  // plaintext = 16 + 4 + 26 + 18 = 64 bytes: ends exactly on a 32-byte boundary -> pad 32
  const v = addValid('pad 32 exact block boundary (64-byte plaintext)', {
    receiveId: CORPID,
    msg: msgOfBytes(26, 'ascii', 'boundary64'),
  });
  assert.equal(v.padValue, 32);
  // and a 16-byte-aligned-but-not-32 plaintext (48 bytes): pad must be 16, not 0/32
  const w = addValid('16-byte aligned plaintext (48 bytes) -> pad 16', {
    receiveId: CORPID,
    msg: msgOfBytes(10, 'ascii', 'aligned48'),
  });
  assert.equal(w.padValue, 16);
}
for (let i = 0; i < 4; i++) {
  addValid(`echostr-like digits #${i + 1}`, {
    key: KEYS[i],
    token: TOKENS[(i + 1) % TOKENS.length],
    receiveId: i === 3 ? SUITEID : CORPID,
    msg: drbgDigits(`echostr${i}`, 19 - (i % 2)),
  });
}

const padsSeen = new Set(valid.map((v) => v.padValue));
for (let p = 1; p <= 32; p++) assert.ok(padsSeen.has(p), `pad value ${p} not covered`);

// -------------------------------------------------------------- invalid ----
const invalid = [];
const INV_KEY = KEYS[0];
const INV_TOKEN = TOKENS[0];
function addInvalid(name, expectedCode, encrypt, note, { key = INV_KEY, receiveId = CORPID } = {}) {
  const i = invalid.length;
  const timestamp = nextTimestamp();
  const nonce = nonceFor(`invalid|${name}`, i);
  const v = {
    name,
    token: INV_TOKEN,
    encodingAESKey: key,
    receiveId,
    timestamp,
    nonce,
    encrypt,
    msgSignature: signature(INV_TOKEN, timestamp, nonce, encrypt),
    expectedCode,
    note,
  };
  const r = strictDecrypt(key, encrypt, receiveId);
  assert.equal(r.code, expectedCode, `${name}: reference decryptor gave ${r.code}`);
  invalid.push(v);
}
/** random16 ‖ len ‖ msg(m ascii bytes) ‖ CORPID ‖ padBytes, with m chosen so the total is a multiple of 32. */
function rawWithPad(label, padBytes, { minMsg = 1 } = {}) {
  const r = Buffer.byteLength(CORPID);
  let m = (((-(20 + r + padBytes.length)) % 32) + 32) % 32;
  while (m < minMsg) m += 32;
  const body = buildPlain(drbg(`random|inv|${label}`, 16), msgOfBytes(m, 'ascii', `inv|${label}`), CORPID);
  const pt = Buffer.concat([body, Buffer.from(padBytes)]);
  assert.equal(pt.length % 32, 0);
  return pt;
}
const enc = (pt, key = INV_KEY) => aesRaw(key, pt).toString('base64');
const rep = (n, v) => new Array(n).fill(v);

// -- padding errors (-40007); otherwise well-formed, so a lenient unpadder would "succeed"
addInvalid('pad byte 0', ERR.DecryptAES, enc(rawWithPad('pad0', [0x07, 0x00])),
  'last plaintext byte is 0x00');
addInvalid('pad value 33', ERR.DecryptAES, enc(rawWithPad('pad33', rep(33, 33))),
  '33 bytes of 0x21: consistent, but > 32');
addInvalid('pad value 255', ERR.DecryptAES, enc(rawWithPad('pad255', rep(255, 255))),
  '255 bytes of 0xFF: consistent, but > 32');
addInvalid('inconsistent pad 5', ERR.DecryptAES, enc(rawWithPad('pad5bad', [5, 5, 6, 5, 5])),
  'last byte 5, third-from-last is 6');
addInvalid('pad 20 consistent only in last 16 bytes', ERR.DecryptAES,
  enc(rawWithPad('pad20', [20, 20, 20, 19, ...rep(16, 20)])),
  'last 16 bytes are 0x14 (the whole final AES block is consistent) but byte -17 is 0x13; a check that only looks at min(n,16) bytes or the final block accepts it');
addInvalid('pad 20 first pad byte wrong', ERR.DecryptAES,
  enc(rawWithPad('pad20b', [0x00, ...rep(19, 20)])),
  'byte -20 is 0x00, bytes -19..-1 are 0x14 (catches off-by-one at the far end)');
addInvalid('pad 17 byte -17 wrong', ERR.DecryptAES,
  enc(rawWithPad('pad17', [0x00, ...rep(16, 17)])),
  'pad 17: last 16 bytes 0x11, byte -17 is 0x00');
addInvalid('pad 32 first pad byte wrong', ERR.DecryptAES,
  enc(rawWithPad('pad32', [31, ...rep(31, 32)])),
  'pad 32: byte -32 is 0x1F, rest 0x20');
addInvalid('pad 32 exceeds one-block plaintext', ERR.DecryptAES,
  enc(Buffer.alloc(16, 32)),
  '16-byte ciphertext whose plaintext is 16 bytes of 0x20: pad value larger than the data');

// -- buffer/length errors (-40008); padding is valid
{
  const m = msgOfBytes(13, 'ascii', 'overrun');
  const body = buildPlain(drbg('random|inv|overrun', 16), m, CORPID, 13 + CORPID.length + 1);
  addInvalid('length overrun', ERR.IllegalBuffer, enc(pkcs7pad32(body).padded),
    'len32be = msgBytes + receiveIdBytes + 1: one byte past the unpadded plaintext');
}
{
  const m = msgOfBytes(13, 'ascii', 'overrunpad');
  const probe = buildPlain(drbg('random|inv|overrunpad', 16), m, CORPID);
  const n = pkcs7pad32(probe).n;
  const body = buildPlain(drbg('random|inv|overrunpad', 16), m, CORPID, 13 + CORPID.length + n);
  const { padded, n: n2 } = pkcs7pad32(body);
  assert.equal(n, n2);
  addInvalid('length overrun into padding', ERR.IllegalBuffer, enc(padded),
    `len32be reaches exactly the end of the padded buffer (pad ${n}); only fails if length is checked after unpadding`);
}
{
  const body = buildPlain(drbg('random|inv|huge', 16), 'hello', CORPID, 0xffffffff);
  addInvalid('length huge 0xFFFFFFFF', ERR.IllegalBuffer, enc(pkcs7pad32(body).padded),
    'len32be = 0xFFFFFFFF');
}
{
  const body = buildPlain(drbg('random|inv|sign', 16), 'hello', CORPID, 0x80000000);
  addInvalid('length sign bit 0x80000000', ERR.IllegalBuffer, enc(pkcs7pad32(body).padded),
    'len32be = 0x80000000 (negative if read as int32)');
}
addInvalid('unpadded shorter than 20 bytes (random16 only)', ERR.IllegalBuffer,
  enc(Buffer.concat([drbg('random|inv|short16', 16), Buffer.alloc(16, 16)])),
  'plaintext = random16 ‖ 16×0x10; 16 bytes after unpadding, no length field');
addInvalid('unpadded 19 bytes', ERR.IllegalBuffer,
  enc(Buffer.concat([drbg('random|inv|short19', 16), Buffer.from([0, 0, 0]), Buffer.alloc(13, 13)])),
  'plaintext = random16 ‖ 00 00 00 ‖ 13×0x0D; 19 bytes after unpadding (length field truncated)');
addInvalid('all padding (empty after unpad)', ERR.IllegalBuffer, enc(Buffer.alloc(32, 32)),
  'plaintext = 32×0x20; 0 bytes after unpadding');

// -- receiveId errors (-40005)
{
  const { padded } = pkcs7pad32(buildPlain(drbg('random|inv|rid', 16), XML_TEXT, 'wwOTHER'));
  addInvalid('receiveId mismatch', ERR.ValidateCorpid, enc(padded),
    'well-formed encryption with receiveId "wwOTHER"; expected receiveId is the corpid');
}
{
  const { padded } = pkcs7pad32(buildPlain(drbg('random|inv|rid2', 16), 'hello', CORPID + 'x'));
  addInvalid('receiveId has trailing extra byte', ERR.ValidateCorpid, enc(padded),
    'encrypted with receiveId = corpid + "x" (prefix match must not be accepted)');
}
{
  const { padded } = pkcs7pad32(buildPlain(drbg('random|inv|rid3', 16), 'hello', CORPID.toUpperCase()));
  addInvalid('receiveId differs in case', ERR.ValidateCorpid, enc(padded),
    'encrypted with the upper-cased corpid');
}
{
  const m = 'hello world';
  const body = buildPlain(drbg('random|inv|short', 16), m, CORPID, m.length - 3);
  addInvalid('length short (receiveId absorbs msg tail)', ERR.ValidateCorpid, enc(pkcs7pad32(body).padded),
    'len32be is 3 less than the real msg length, so the trailing receiveId becomes "rld" + corpid');
}

// -- ciphertext shape / base64 errors
addInvalid('ciphertext length not a multiple of 16 (33 bytes)', ERR.DecryptAES,
  drbg('inv|ct33', 33).toString('base64'), 'valid base64 of 33 bytes');
addInvalid('ciphertext length 16-aligned plus 1 (65 bytes)', ERR.DecryptAES,
  (() => {
    const ct = aesRaw(INV_KEY, pkcs7pad32(buildPlain(drbg('random|inv|ct65', 16), 'hello', CORPID)).padded);
    assert.equal(ct.length, 64);
    return Buffer.concat([ct, Buffer.from([0x41])]).toString('base64');
  })(),
  'a well-formed 64-byte ciphertext with one extra byte appended');
addInvalid('empty ciphertext', ERR.DecryptAES, '',
  'encrypt is the empty string: base64-decodes to 0 bytes, which is not a valid AES-CBC ciphertext (-40007 by this project\'s policy; -40010 would also be defensible)');
{
  const good = enc(pkcs7pad32(buildPlain(drbg('random|inv|b64', 16), 'hello', CORPID)).padded);
  addInvalid('not base64 (contains !)', ERR.DecodeBase64, good.slice(0, 10) + '!' + good.slice(11),
    'a valid ciphertext with one char replaced by "!"');
  addInvalid('not base64 (contains *)', ERR.DecodeBase64, good.slice(0, -4) + '*' + good.slice(-3),
    'a valid ciphertext with one char replaced by "*"');
}

// -- wrong key: encrypt under KEYS[1], decrypt under KEYS[0]. Search (deterministically)
//    for a random16 whose wrong-key decryption ends in a byte outside 1..32, so any
//    pad check (even range-only) fails. Asserted below.
{
  let found = null;
  for (let i = 0; i < 1000 && !found; i++) {
    const { padded } = pkcs7pad32(buildPlain(drbg(`random|inv|wrongkey|${i}`, 16), XML_TEXT, CORPID));
    const ct = aesRaw(KEYS[1], padded);
    const last = aesRawDecrypt(INV_KEY, ct).at(-1);
    if (last === 0 || last > 32) found = { ct, last, i };
  }
  assert.ok(found, 'no wrong-key candidate');
  addInvalid('wrong key', ERR.DecryptAES, found.ct.toString('base64'),
    `encrypted under a different EncodingAESKey; decrypting under this key yields last byte 0x${found.last
      .toString(16)
      .padStart(2, '0')} (outside 1..32, checked by the generator)`);
}

// --------------------------------------------------------------- output ----
const doc = {
  source:
    'Generated by scripts/gen-vectors.mjs: an independent oracle (no code shared with src/) using only node:crypto ' +
    '(AES-256-CBC with setAutoPadding(false) and hand-made 32-byte PKCS#7; SHA-1 over the byte-sorted ' +
    '[token,timestamp,nonce,encrypt]). All random values derive from SHA-256 counter mode over the seed ' +
    `"${SEED}", so output is reproducible. The first valid vector is the official WeCom documentation sample. ` +
    'Invalid vectors carry a correct msgSignature; expectedCode follows the official WXBizMsgCrypt codes ' +
    '(-40005 ValidateCorpid, -40007 DecryptAES, -40008 IllegalBuffer, -40010 DecodeBase64) under a strict policy: ' +
    'pad must be 1..32 with all pad bytes equal, unpadded >= 20 bytes, 20+len <= unpadded length, exact receiveId.',
  valid,
  invalid,
};
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, JSON.stringify(doc, null, 2) + '\n');
console.log(`wrote ${OUT}: ${valid.length} valid, ${invalid.length} invalid, pads ${[...padsSeen].sort((a, b) => a - b).join(',')}`);

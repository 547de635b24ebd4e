// diagnose and the gateway agree: each class of bad input the gateway
// refuses is built once, sent to the gateway running in workerd, and given to
// `wecom-edge diagnose` as the very same URL and body. The gateway's status
// and code, and the check and code diagnose names, are asserted together.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startGateway } from '../support/gateway.mjs';
import { aesDecryptRaw, aesEncryptRaw, encrypt, signature } from '../../bin/lib/wxcrypt.mjs';
import { appsFile, run } from './helpers.mjs';

const APP = {
  token: 'diagToken0123456789abcdefABCDEF',
  encodingAESKey: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR',
  receiveId: 'ww3e40cde07cc21a01',
  pull: { token: 'diag-pull-token-0123456789abcdef' },
};
const OTHER_KEY = 'ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj';
const MESSAGE =
  '<xml><ToUserName><![CDATA[ww3e40cde07cc21a01]]></ToUserName>\n<FromUserName><![CDATA[zhangsan]]></FromUserName>\n' +
  '<CreateTime>1764400000</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[你好]]></Content>\n' +
  '<MsgId>4561255354251345929</MsgId>\n<AgentID>1000002</AgentID>\n</xml>';

const now = () => String(Math.floor(Date.now() / 1000));
const nonce = () => String(Math.floor(Math.random() * 1e10));

/** random16 ‖ len32be ‖ msg ‖ receiveId, padded to 32 and encrypted; `length` fakes the length field. */
function encryptRaw(msgBytes, receiveId, { key = APP.encodingAESKey, length = msgBytes.length } = {}) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(length, 0);
  const plain = Buffer.concat([randomBytes(16), len, msgBytes, Buffer.from(receiveId, 'utf8')]);
  const n = 32 - (plain.length % 32);
  return aesEncryptRaw(key, Buffer.concat([plain, Buffer.alloc(n, n)])).toString('base64');
}

/** A message WeCom encrypted with another EncodingAESKey, chosen so that the app's key decrypts it to a last byte 0. */
function underOtherKey() {
  for (;;) {
    const encrypted = encrypt(OTHER_KEY, MESSAGE, APP.receiveId);
    if (aesDecryptRaw(APP.encodingAESKey, Buffer.from(encrypted, 'base64')).at(-1) === 0) return encrypted;
  }
}

describe('diagnose and the gateway agree on every bad input', { timeout: 180_000 }, () => {
  let gateway;
  let file;

  before(async () => {
    file = appsFile({ diag: APP });
    gateway = await startGateway({ apps: { diag: APP } });
  });
  after(async () => {
    await gateway?.stop();
  });

  const base = () => `${gateway.url}/callback/diag`;
  const query = (params) => `${base()}?${new URLSearchParams(params)}`;

  /** A POST capture: `encrypted` in an XML (or JSON) envelope, signed with `token` over `signed` (default: the Encrypt). */
  function post(encrypted, { token = APP.token, timestamp = now(), json = false, signed = encrypted } = {}) {
    const n = nonce();
    const body = json
      ? JSON.stringify({ encrypt: encrypted })
      : `<xml><ToUserName><![CDATA[${APP.receiveId}]]></ToUserName><Encrypt><![CDATA[${encrypted}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>`;
    return { method: 'POST', url: query({ msg_signature: signature(token, timestamp, n, signed), timestamp, nonce: n }), body };
  }

  /** Sends the capture to the gateway and gives it to diagnose; returns both answers. */
  async function both(capture) {
    const response = await fetch(capture.url, capture.method === 'POST' ? { method: 'POST', body: capture.body } : {});
    const text = await response.text();
    let refusal;
    try {
      refusal = JSON.parse(text).error;
    } catch {}
    const args = ['diagnose', '--url', capture.url, '--apps', file];
    if (capture.method === 'POST') args.push('--body', capture.body);
    const diagnosis = await run(args);
    const failing = diagnosis.stdout.split('\n').find((line) => line.startsWith('✘'));
    return { status: response.status, text, code: refusal?.code, message: refusal?.message, diagnosis, failing };
  }

  /** The gateway refuses with `status` and `code`, and diagnose fails `check` with the same code. */
  async function agree(capture, status, code, check, pattern) {
    const r = await both(capture);
    assert.deepEqual([r.status, r.code], [status, code], r.text);
    assert.equal(r.diagnosis.code, 1, r.diagnosis.stdout + r.diagnosis.stderr);
    assert.ok(r.failing?.startsWith(`✘ ${check} (${code}): `), `${r.failing}\n${r.diagnosis.stdout}`);
    if (pattern) assert.match(r.failing, pattern);
    return r;
  }

  test('a valid callback: the gateway answers success, diagnose passes every check', async () => {
    const r = await both(post(encrypt(APP.encodingAESKey, MESSAGE, APP.receiveId)));
    assert.deepEqual([r.status, r.text], [200, 'success']);
    assert.equal(r.diagnosis.code, 0, r.diagnosis.stdout);
    assert.match(r.diagnosis.stdout, /^POST \/callback\/diag {2}\(app "diag"\)$/m);
    assert.match(r.diagnosis.stdout, /<Content><!\[CDATA\[你好\]\]><\/Content>/);
  });

  test('a wrong Token (or a changed body): 401 -40001', async () => {
    await agree(post(encrypt(APP.encodingAESKey, MESSAGE, APP.receiveId), { token: 'NotTheToken' }), 401, -40001, 'signature', /the Token is wrong/);
  });

  test("'+' turned into a space in echostr: the gateway restores it and answers; diagnose passes with a hint", async () => {
    let echostr;
    do echostr = encrypt(APP.encodingAESKey, '5927782489442352469', APP.receiveId);
    while (!echostr.includes('+'));
    const timestamp = now();
    const n = nonce();
    // '+' left unencoded, as in a URL pasted by hand: URL decoding makes it a space.
    const url = `${base()}?msg_signature=${signature(APP.token, timestamp, n, echostr)}&timestamp=${timestamp}&nonce=${n}&echostr=${echostr.replaceAll('/', '%2F').replaceAll('=', '%3D')}`;
    assert.ok(url.includes('+'));
    const r = await both({ method: 'GET', url });
    assert.deepEqual([r.status, r.text], [200, '5927782489442352469']);
    assert.equal(r.diagnosis.code, 0, r.diagnosis.stdout);
    assert.match(r.diagnosis.stdout, /^ {2}hint: the signature matches only if the '\+' in echostr is restored: your URL decoding turned '\+' into spaces \(the gateway restores them, so this passes\)$/m);
    assert.equal(r.diagnosis.stdout.trimEnd().split('\n').at(-1), '5927782489442352469');
  });

  test("'+' turned into spaces in a POST's Encrypt: restored by both", async () => {
    let encrypted;
    do encrypted = encrypt(APP.encodingAESKey, MESSAGE, APP.receiveId);
    while (!encrypted.includes('+'));
    const r = await both(post(encrypted.replaceAll('+', ' '), { signed: encrypted }));
    assert.deepEqual([r.status, r.text], [200, 'success']);
    assert.equal(r.diagnosis.code, 0, r.diagnosis.stdout);
    assert.match(r.diagnosis.stdout, /hint: the signature matches only if the '\+' in Encrypt is restored/);
  });

  test('another corp id as receiveId: 400 -40005', async () => {
    await agree(post(encrypt(APP.encodingAESKey, MESSAGE, 'ww0000000000000000')), 400, -40005, 'receiveId', /carries receiveId "ww0000000000000000", but the app accepts "ww3e40cde07cc21a01"/);
  });

  test('a suite id (tj…) where the corp id is expected: 400 -40005, named a suite id', async () => {
    await agree(post(encrypt(APP.encodingAESKey, MESSAGE, 'tj1a2b3c4d5e6f7a8b')), 400, -40005, 'receiveId', /looks like a suite id \(third-party app\) while the app accepts ww… \(a corp id\)/);
  });

  test('an AI bot\'s "" receiveId on an app: 400 -40005', async () => {
    await agree(post(encrypt(APP.encodingAESKey, '{"msgtype":"text","text":{"content":"hi"}}', ''), { json: true }), 400, -40005, 'receiveId', /AI bot/);
  });

  test('a wrong EncodingAESKey: 400 -40007, the telltale pad byte 0', async () => {
    await agree(post(underOtherKey()), 400, -40007, 'decryption', /pad byte 0 at the end means a wrong EncodingAESKey/);
  });

  test('a ciphertext that is not whole AES blocks: 400 -40007', async () => {
    await agree(post(randomBytes(20).toString('base64')), 400, -40007, 'decryption', /not a positive multiple of 16/);
  });

  test('Encrypt that is not base64: 400 -40010', async () => {
    await agree(post('abc-def_ghi='), 400, -40010, 'base64', /URL-safe base64/);
    await agree(post('QUJDRA'), 400, -40010, 'base64', /not a multiple of 4/);
  });

  test('a length field that overruns the buffer: 400 -40008', async () => {
    await agree(post(encryptRaw(Buffer.from('hello'), APP.receiveId, { length: 1000 })), 400, -40008, 'length', /the length field says 1000 bytes but only 23 follow the header/);
  });

  test('a message that is not UTF-8: 400 -40008', async () => {
    await agree(post(encryptRaw(Buffer.from([0xc3, 0x28]), APP.receiveId)), 400, -40008, 'length', /not valid UTF-8/);
  });

  test('a malformed envelope: 400 -40002', async () => {
    const capture = post(encrypt(APP.encodingAESKey, MESSAGE, APP.receiveId));
    await agree({ ...capture, body: 'encrypt=abc' }, 400, -40002, 'envelope', /neither XML nor JSON/);
    await agree({ ...capture, body: '<xml><ToUserName><![CDATA[ww3e40cde07cc21a01]]></ToUserName></xml>' }, 400, -40002, 'envelope', /no <Encrypt>/);
    await agree({ ...capture, body: '' }, 400, -40002, 'envelope', /the body is empty/);
  });

  test('an envelope refused before the signature check: too many tags, a declaration, too much JSON punctuation: 400 -40002', async () => {
    const encrypted = encrypt(APP.encodingAESKey, MESSAGE, APP.receiveId);
    const capture = post(encrypted);
    const padding = '<a/>'.repeat(70);
    await agree({ ...capture, body: `<xml>${padding}<Encrypt><![CDATA[${encrypted}]]></Encrypt></xml>` }, 400, -40002, 'envelope', /more than 64 tags/);
    await agree({ ...capture, body: `<!DOCTYPE xml [<!ENTITY a "b">]><xml><Encrypt><![CDATA[${encrypted}]]></Encrypt></xml>` }, 400, -40002, 'envelope', /declaration/);
    const json = post(encrypted, { json: true });
    await agree({ ...json, body: JSON.stringify({ encrypt: encrypted, pad: Array(70).fill(0) }) }, 400, -40002, 'envelope', /more than the 64 allowed/);
  });

  test('a signed XML envelope that does not parse, or whose Encrypt is ambiguous: 400 -40002', async () => {
    const encrypted = encrypt(APP.encodingAESKey, MESSAGE, APP.receiveId);
    const capture = post(encrypted);
    const cdata = `<Encrypt><![CDATA[${encrypted}]]></Encrypt>`;
    await agree({ ...capture, body: `<xml>${cdata}<AgentID>1</xml>` }, 400, -40002, 'XML envelope', /not well-formed: <\/xml> closes <AgentID>/);
    await agree({ ...capture, body: `<xml>${cdata}<Encrypt><![CDATA[QUJD]]></Encrypt></xml>` }, 400, -40002, 'XML envelope', /2 <Encrypt> elements: ambiguous/);
    await agree({ ...capture, body: `<xml><ToUserName>${cdata}</ToUserName></xml>` }, 400, -40002, 'XML envelope', /not a child of the root element/);
  });

  test('a stale timestamp: 401 stale_timestamp', async () => {
    const old = String(Math.floor(Date.now() / 1000) - 7200);
    await agree(post(encrypt(APP.encodingAESKey, MESSAGE, APP.receiveId), { timestamp: old }), 401, 'stale_timestamp', 'timestamp', /the timestamp is 2 hours behind the clock/);
  });

  test('a missing or invalid query parameter: 400 missing_parameter / invalid_parameter', async () => {
    const { body } = post(encrypt(APP.encodingAESKey, MESSAGE, APP.receiveId));
    const t = now();
    await agree({ method: 'POST', url: query({ timestamp: t, nonce: '1' }), body }, 400, 'missing_parameter', 'query', /msg_signature is missing/);
    await agree({ method: 'POST', url: query({ msg_signature: 'A'.repeat(40), timestamp: t, nonce: '1' }), body }, 400, 'invalid_parameter', 'query', /40 lowercase hex/);
    await agree({ method: 'POST', url: query({ msg_signature: 'a'.repeat(40), timestamp: '2025-11-29', nonce: '1' }), body }, 400, 'invalid_parameter', 'query', /timestamp must be unix seconds/);
    await agree({ method: 'POST', url: `${query({ msg_signature: 'a'.repeat(40), timestamp: t, nonce: '1' })}&nonce=2`, body }, 400, 'invalid_parameter', 'query', /nonce is given 2 times/);
    await agree({ method: 'POST', url: query({ msg_signature: 'a'.repeat(40), timestamp: t, nonce: '1'.repeat(65) }), body }, 400, 'invalid_parameter', 'query', /nonce is 65 characters/);
    await agree({ method: 'GET', url: query({ msg_signature: 'a'.repeat(40), timestamp: t, nonce: '1' }) }, 400, 'missing_parameter', 'query', /echostr is missing/);
  });

  test('a decrypted message that is not XML or a JSON object: 400 -40002', async () => {
    await agree(post(encrypt(APP.encodingAESKey, 'hello world', APP.receiveId)), 400, -40002, 'plaintext', /neither XML nor a JSON object/);
    await agree(post(encrypt(APP.encodingAESKey, '<xml><Content>hi</xml>', APP.receiveId)), 400, -40002, 'plaintext', /not well-formed XML/);
    await agree(post(encrypt(APP.encodingAESKey, '[1,2]', APP.receiveId), { json: true }), 400, -40002, 'plaintext', /neither XML nor a JSON object/);
  });
});

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
// A third-party suite (docs/providers.md): two URLs, each with its receiveIds.
const SUITE_ID = 'wwsuite7d1e9a2c0b4f';
const PROVIDER = 'wwprovider3e40cde07';
const CORP_A = 'wpCorpA_x7Q2mZ9tK4rB8sLdE1fGh';
const CORP_B = 'wpCorpB_n5V3cX7zP0yQ2wE4rT6uIo';
const SUITE = {
  token: 'suiteToken0123456789abcdefABCDEF',
  encodingAESKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAjXyZzR6q2B2C',
  suite: { suiteId: SUITE_ID, providerCorpId: PROVIDER, ticketToken: 'suite-ticket-token-for-diagnose-0123' },
  pull: { token: 'suite-pull-token-for-diagnose-012345' },
};
const APPS = { diag: APP, crm: SUITE, badsuite: { ...SUITE, receiveId: CORP_A } };
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
    file = appsFile(APPS);
    gateway = await startGateway({ apps: APPS });
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

  /** Sends the capture to the gateway and gives it to diagnose (with `extra` arguments); returns both answers. */
  async function both(capture, extra = []) {
    const response = await fetch(capture.url, capture.method === 'POST' ? { method: 'POST', body: capture.body } : {});
    const text = await response.text();
    let refusal;
    try {
      refusal = JSON.parse(text).error;
    } catch {}
    const args = ['diagnose', '--url', capture.url, '--apps', file];
    if (capture.method === 'POST') args.push('--body', capture.body);
    const diagnosis = await run([...args, ...extra]);
    const failing = diagnosis.stdout.split('\n').find((line) => line.startsWith('✘'));
    return { status: response.status, text, code: refusal?.code, message: refusal?.message, diagnosis, failing };
  }

  /** The gateway refuses with `status` and `code`, and diagnose fails `check` with the same code. */
  async function agree(capture, status, code, check, pattern) {
    const r = await both(capture);
    return agreed(r, status, code, check, pattern);
  }

  function agreed(r, status, code, check, pattern) {
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

  // ---- a suite's two URLs ----

  const suiteQuery = (app, data, params) => `${gateway.url}/callback/${app}${data ? '/data' : ''}?${new URLSearchParams(params)}`;

  /** A GET verification of one of the suite's URLs, the echostr encrypted for `receiveId`. */
  function suiteGet(data, receiveId, { app = 'crm', echo = '6128733905384721' } = {}) {
    const echostr = encrypt(SUITE.encodingAESKey, echo, receiveId);
    const timestamp = now();
    const n = nonce();
    return { method: 'GET', url: suiteQuery(app, data, { msg_signature: signature(SUITE.token, timestamp, n, echostr), timestamp, nonce: n, echostr }) };
  }

  /** A POST to one of the suite's URLs: `message` encrypted for `receiveId`, the envelope addressed to it. */
  function suitePost(data, receiveId, message, { app = 'crm', agentId = data } = {}) {
    const encrypted = encrypt(SUITE.encodingAESKey, message, receiveId);
    const timestamp = now();
    const n = nonce();
    const body = `<xml><ToUserName><![CDATA[${receiveId}]]></ToUserName><Encrypt><![CDATA[${encrypted}]]></Encrypt>${agentId ? '<AgentID><![CDATA[1000002]]></AgentID>' : ''}</xml>`;
    return { method: 'POST', url: suiteQuery(app, data, { msg_signature: signature(SUITE.token, timestamp, n, encrypted), timestamp, nonce: n }), body };
  }

  const ticketXml = (ticket = 'Cfp0_givEagXcYJIztF6sfbdmIZCmpaR8ZBsvJEFWNAQW3ixwoXDq7y9eBSGA-EL', { suiteId = SUITE_ID, timeStamp = '1765000000' } = {}) =>
    `<xml><SuiteId><![CDATA[${suiteId}]]></SuiteId><InfoType><![CDATA[suite_ticket]]></InfoType><TimeStamp>${timeStamp}</TimeStamp><SuiteTicket><![CDATA[${ticket}]]></SuiteTicket></xml>`;
  const authXml = (infoType, corp) =>
    `<xml><SuiteId><![CDATA[${SUITE_ID}]]></SuiteId><InfoType><![CDATA[${infoType}]]></InfoType><TimeStamp>1765000000</TimeStamp><AuthCorpId><![CDATA[${corp}]]></AuthCorpId></xml>`;
  const corpText = (to, content = '你好') =>
    `<xml><ToUserName><![CDATA[${to}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>${now()}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[${content}]]></Content><MsgId>${Date.now()}${Math.floor(Math.random() * 1e6)}</MsgId><AgentID>1000002</AgentID></xml>`;

  /** The lines diagnose printed, from the first check to the blank line before the plaintext. */
  const checks = (stdout) => stdout.split('\n').slice(1, stdout.split('\n').indexOf(''));

  test("a suite's verification at either URL, for the provider's corpid: both answer the echostr, diagnose names the URL and the receiveId", async () => {
    for (const data of [false, true]) {
      const r = await both(suiteGet(data, PROVIDER));
      assert.deepEqual([r.status, r.text], [200, '6128733905384721']);
      assert.equal(r.diagnosis.code, 0, r.diagnosis.stdout);
      const lines = r.diagnosis.stdout.split('\n');
      assert.equal(lines[0], `GET /callback/crm${data ? '/data' : ''}  (app "crm")`);
      assert.equal(
        lines[2],
        data
          ? `✔ URL: the data URL (数据回调URL) of suite "${SUITE_ID}": callbacks from any corp, each encrypted for that corp; verified with the provider's corpid "${PROVIDER}"`
          : `✔ URL: the instruction URL (指令回调URL) of suite "${SUITE_ID}": callbacks encrypted for the suite id; verified with the provider's corpid "${PROVIDER}"`,
      );
      assert.ok(lines.includes(`✔ receiveId: "${PROVIDER}", the provider's corpid (suite.providerCorpId), which verifies both of a suite's URLs`), r.diagnosis.stdout);
      assert.equal(lines.at(-2), '6128733905384721');
    }
  });

  test("a suite's verification for the suite id, or for a corp: 400 -40005 at both, diagnose says the provider's corpid verifies both URLs", async () => {
    for (const data of [false, true]) {
      const r = await agree(suiteGet(data, SUITE_ID), 400, -40005, 'receiveId');
      assert.equal(r.message, "receiveId is not the provider's corpid (suite.providerCorpId): WeCom verifies both of a suite's URLs with it");
      assert.equal(
        r.failing,
        `✘ receiveId (-40005): receiveId "${SUITE_ID}" is the suite id (suite.suiteId), which the instruction URL /callback/crm (指令回调URL)'s callbacks carry, not a verification: ` +
          `WeCom verifies both of a suite's URLs with the provider's corpid "${PROVIDER}" (suite.providerCorpId)`,
      );
    }
    const r = await agree(suiteGet(true, CORP_A), 400, -40005, 'receiveId');
    assert.equal(
      r.failing,
      `✘ receiveId (-40005): receiveId "${CORP_A}" is not the provider's corpid "${PROVIDER}" (suite.providerCorpId): WeCom verifies both of a suite's URLs with it; is suite.providerCorpId your provider CorpID (服务商的CorpID)?`,
    );
  });

  test('an instruction callback for the suite id: success at the gateway; diagnose checks its SuiteId and says the ticket is kept', async () => {
    const r = await both(suitePost(false, SUITE_ID, ticketXml()));
    assert.deepEqual([r.status, r.text], [200, 'success']);
    assert.equal(r.diagnosis.code, 0, r.diagnosis.stdout);
    const lines = checks(r.diagnosis.stdout);
    assert.ok(lines.includes(`✔ receiveId: "${SUITE_ID}", the suite id (suite.suiteId): the instruction URL /callback/crm (指令回调URL)'s`), r.diagnosis.stdout);
    assert.equal(lines.at(-1), `✔ suite: a suite_ticket for suite "${SUITE_ID}": the gateway keeps it for GET /suites/crm/ticket, if it is the newest`);
    const auth = await both(suitePost(false, SUITE_ID, authXml('change_auth', CORP_A)));
    assert.deepEqual([auth.status, auth.text], [200, 'success']);
    assert.equal(checks(auth.diagnosis.stdout).at(-1), `✔ suite: InfoType "change_auth" for corp "${CORP_A}" (AuthCorpId: the event's corpId), SuiteId the suite's; answered exactly "success"`);
  });

  test("a corp's data callback at the instruction URL: 400 -40005, diagnose says it belongs to the data URL", async () => {
    const r = await agree(suitePost(false, CORP_A, corpText(CORP_A)), 400, -40005, 'receiveId');
    assert.equal(r.message, "receiveId is not the suite id (suite.suiteId): a corp's data callback? Its URL is /callback/crm/data (数据回调URL)");
    assert.equal(
      r.failing,
      `✘ receiveId (-40005): receiveId "${CORP_A}" is not the suite id "${SUITE_ID}" (suite.suiteId), which the instruction URL /callback/crm (指令回调URL) takes: ` +
        "a corp's data callback? Its URL is /callback/crm/data (数据回调URL); if the console's 指令回调URL and 数据回调URL are not swapped, check suite.suiteId",
    );
    const provider = await agree(suitePost(false, PROVIDER, ticketXml()), 400, -40005, 'receiveId');
    assert.equal(
      provider.failing,
      `✘ receiveId (-40005): receiveId "${PROVIDER}" is the provider's corpid (suite.providerCorpId), which only the URL verification carries: the instruction URL /callback/crm (指令回调URL) takes the suite id "${SUITE_ID}" (suite.suiteId)`,
    );
  });

  test("a corp's data callback at the data URL: success, and the corp it names is checked", async () => {
    const r = await both(suitePost(true, CORP_A, corpText(CORP_A)));
    assert.deepEqual([r.status, r.text], [200, 'success']);
    assert.equal(r.diagnosis.code, 0, r.diagnosis.stdout);
    const lines = checks(r.diagnosis.stdout);
    assert.ok(lines.includes(`✔ receiveId: "${CORP_A}", a corp's: the data URL /callback/crm/data (数据回调URL) takes any corp's, the one the callback names (checked below)`), r.diagnosis.stdout);
    assert.equal(lines.at(-1), `✔ suite: for corp "${CORP_A}", as its ToUserName says: the event's corpId`);
  });

  test('an instruction callback at the data URL: 400 -40005, diagnose says it belongs to the instruction URL', async () => {
    const r = await agree(suitePost(true, SUITE_ID, ticketXml()), 400, -40005, 'receiveId');
    assert.equal(r.message, 'receiveId is the suite id: an instruction callback, whose URL is /callback/crm (指令回调URL)');
    assert.equal(
      r.failing,
      `✘ receiveId (-40005): receiveId "${SUITE_ID}" is the suite id (suite.suiteId): an instruction callback, whose URL is /callback/crm (指令回调URL), ` +
        "not the data URL /callback/crm/data (数据回调URL), which takes the corp's corpid; are the console's 指令回调URL and 数据回调URL swapped?",
    );
    const empty = await agree(suitePost(true, '', corpText('')), 400, -40005, 'receiveId');
    assert.equal(empty.message, 'receiveId is empty: a data callback names the corp it is for');
    assert.equal(empty.failing, `✘ receiveId (-40005): receiveId is empty ("" is an AI bot's): a data callback names the corp it is for, and the data URL /callback/crm/data (数据回调URL) takes that corp's corpid`);
  });

  test('a data callback encrypted for one corp that names another: 400 -40005 at both, diagnose at its suite check', async () => {
    const r = await agree(suitePost(true, CORP_A, corpText(CORP_B)), 400, -40005, 'suite');
    assert.equal(r.message, 'receiveId is not the corp the callback names (ToUserName or AuthCorpId)');
    assert.equal(
      r.failing,
      `✘ suite (-40005): receiveId is not the corp the callback names (ToUserName or AuthCorpId): it is encrypted for "${CORP_A}", and names ToUserName "${CORP_B}", AuthCorpId none; ` +
        "WeCom encrypts a corp's data callback for the corp it names, so this one is not WeCom's",
    );
    // A nested ToUserName, or two, names no corp for the gateway either.
    const nested = `<xml><Msg><ToUserName><![CDATA[${CORP_A}]]></ToUserName></Msg><MsgType><![CDATA[text]]></MsgType></xml>`;
    await agree(suitePost(true, CORP_A, nested), 400, -40005, 'suite', /names ToUserName none, AuthCorpId none/);
    const twice = `<xml><ToUserName><![CDATA[${CORP_A}]]></ToUserName><ToUserName><![CDATA[${CORP_A}]]></ToUserName><MsgType><![CDATA[text]]></MsgType></xml>`;
    await agree(suitePost(true, CORP_A, twice), 400, -40005, 'suite', /names ToUserName null, AuthCorpId none/);
    // AuthCorpId names it: taken, as the gateway takes it.
    const byAuthCorp = await both(suitePost(true, CORP_B, `<xml><AuthCorpId>${CORP_B}</AuthCorpId><InfoType><![CDATA[change_contact]]></InfoType><TimeStamp>${now()}</TimeStamp></xml>`));
    assert.deepEqual([byAuthCorp.status, byAuthCorp.text], [200, 'success']);
    assert.equal(checks(byAuthCorp.diagnosis.stdout).at(-1), `✔ suite: for corp "${CORP_B}", as its AuthCorpId says: the event's corpId`);
  });

  test("an instruction callback of another suite, and a malformed suite_ticket: refused by both, at diagnose's suite check", async () => {
    const other = await agree(suitePost(false, SUITE_ID, ticketXml(undefined, { suiteId: 'wwothersuite' })), 400, -40005, 'suite');
    assert.equal(other.message, "SuiteId in the callback is not the suite's (suite.suiteId)");
    assert.equal(other.failing, `✘ suite (-40005): SuiteId in the callback is not the suite's (suite.suiteId): it names "wwothersuite", not "${SUITE_ID}": another suite's callback, under this one's Token and key`);
    const empty = await agree(suitePost(false, SUITE_ID, ticketXml('')), 400, 'invalid_parameter', 'suite');
    assert.equal(empty.message, 'a suite_ticket callback must carry a SuiteTicket of 1-512 characters');
    assert.equal(empty.failing, '✘ suite (invalid_parameter): a suite_ticket callback must carry a SuiteTicket of 1-512 characters (it has 0)');
    await agree(suitePost(false, SUITE_ID, ticketXml('t'.repeat(513))), 400, 'invalid_parameter', 'suite', /\(it has 513\)$/);
    const stamp = await agree(suitePost(false, SUITE_ID, ticketXml(undefined, { timeStamp: '2026-12-06' })), 400, 'invalid_parameter', 'suite');
    assert.equal(stamp.message, 'a suite_ticket callback must carry its TimeStamp in unix seconds');
    assert.equal(stamp.failing, '✘ suite (invalid_parameter): a suite_ticket callback must carry its TimeStamp in unix seconds (it has "2026-12-06")');
  });

  test("an app that is not a suite has no data URL: 401 -40001 at both, diagnose says why at the signature", async () => {
    const { url, body } = post(encrypt(APP.encodingAESKey, MESSAGE, APP.receiveId));
    const r = await agree({ method: 'POST', url: url.replace('/callback/diag?', '/callback/diag/data?'), body }, 401, -40001, 'signature');
    const lines = r.diagnosis.stdout.split('\n');
    assert.equal(lines[0], 'POST /callback/diag/data  (app "diag")');
    assert.equal(lines[2], `– URL: /callback/diag/data is a suite's data URL (数据回调URL), and app "diag" has no "suite": the gateway answers it as an unknown app's URL`);
    assert.equal(
      r.failing,
      '✘ signature (-40001): msg_signature does not match: app "diag" is not a suite, so the gateway answers /callback/diag/data as an unknown app\'s URL; send it to /callback/diag, or give the app its "suite" (providers.md)',
    );
  });

  test('a suite entry the gateway refuses (suite and receiveId): 503 invalid_config at both; --send says where the gateway names the field', async () => {
    const r = await both(suitePost(true, CORP_A, corpText(CORP_A), { app: 'badsuite' }), ['--send']);
    assert.deepEqual([r.status, r.code, r.message], [503, 'invalid_config', 'app "badsuite" is misconfigured']);
    assert.equal(r.diagnosis.code, 1);
    assert.equal(r.failing, '✘ settings (invalid_config): receiveId must not be set for a suite: suite.suiteId and suite.providerCorpId say which receiveId each URL takes');
    const hint = r.diagnosis.stdout.split('\n').filter((line) => line.startsWith('  '));
    assert.deepEqual(hint.slice(0, 2), [
      '  the gateway says app "badsuite" is misconfigured (503 invalid_config).',
      `    The field at fault is named in GET ${gateway.url}/admin/apps ("invalidApps"), on the admin page at ${gateway.url}/admin,`,
    ]);
  });

  test("--send with a suite's data callback: the gateway's answer beside the checks", async () => {
    const r = await both(suitePost(true, CORP_B, corpText(CORP_B)), ['--send']);
    assert.equal(r.status, 200);
    assert.equal(r.diagnosis.code, 0, r.diagnosis.stdout);
    assert.match(r.diagnosis.stdout, new RegExp(`^✔ gateway: POST ${gateway.url}/callback/crm/data answered 200 "success" \\(a duplicate of event evt_[0-9a-f]{32}\\)$`, 'm'));
  });

  test('a decrypted message that is not XML or a JSON object: 400 -40002', async () => {
    await agree(post(encrypt(APP.encodingAESKey, 'hello world', APP.receiveId)), 400, -40002, 'plaintext', /neither XML nor a JSON object/);
    await agree(post(encrypt(APP.encodingAESKey, '<xml><Content>hi</xml>', APP.receiveId)), 400, -40002, 'plaintext', /not well-formed XML/);
    await agree(post(encrypt(APP.encodingAESKey, '[1,2]', APP.receiveId), { json: true }), 400, -40002, 'plaintext', /neither XML nor a JSON object/);
  });
});

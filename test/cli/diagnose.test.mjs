import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// Test helpers for the CLI: run bin/wecom-edge.mjs, and build callbacks with node:crypto.

const BIN = fileURLToPath(new URL('../../bin/wecom-edge.mjs', import.meta.url));

/** `env`: added to the environment (WECOM_EDGE_TTY='1' takes stdout and stderr for terminals); WECOM_EDGE_TTY is unset otherwise. */
function run(args, { input, env } = {}) {
  const { WECOM_EDGE_TTY, ...inherited } = process.env;
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...inherited, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

function sign(token, timestamp, nonce, encrypt) {
  const parts = [token, timestamp, nonce, encrypt].map((s) => Buffer.from(s, 'utf8')).sort(Buffer.compare);
  return createHash('sha1').update(Buffer.concat(parts)).digest('hex');
}

function aesRaw(encodingAESKey, padded, mode = 'aes-256-cbc') {
  const key = Buffer.from(encodingAESKey + '=', 'base64');
  const c = createCipheriv(mode, key, mode === 'aes-256-cbc' ? key.subarray(0, 16) : null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(padded), c.final()]);
}

/** random16 ‖ len32be ‖ msg ‖ receiveId, padded to 32 (lengthOverride fakes the length field). */
function encrypt(encodingAESKey, message, receiveId, lengthOverride) {
  const msg = Buffer.from(message, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(lengthOverride ?? msg.length, 0);
  const plain = Buffer.concat([randomBytes(16), len, msg, Buffer.from(receiveId, 'utf8')]);
  const n = 32 - (plain.length % 32);
  return aesRaw(encodingAESKey, Buffer.concat([plain, Buffer.alloc(n, n)])).toString('base64');
}

const APP = {
  token: 'tOkEn123abcDEF456ghiJKL789mnoPQ0',
  key: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ',
  receiveId: 'ww3e40cde07cc21a01',
};
const NOW = 1764400000;

function query(params) {
  return 'https://edge.example.com/callback/hr?' + new URLSearchParams(params).toString();
}

/** A signed POST callback: { url, body }. */
function post({ message = '<xml><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content></xml>', receiveId = APP.receiveId, token = APP.token, encrypted, timestamp = String(NOW), json = false } = {}) {
  const enc = encrypted ?? encrypt(APP.key, message, receiveId);
  const nonce = 'n0nce42';
  const url = query({ msg_signature: sign(token, timestamp, nonce, enc), timestamp, nonce });
  const body = json ? JSON.stringify({ encrypt: enc }) : `<xml><ToUserName><![CDATA[${APP.receiveId}]]></ToUserName><Encrypt><![CDATA[${enc}]]></Encrypt><AgentID><![CDATA[1]]></AgentID></xml>`;
  return { url, body, encrypt: enc };
}

const SETTINGS = ['--token', APP.token, '--key', APP.key, '--receive-id', APP.receiveId, '--now', String(NOW)];

const official = JSON.parse(readFileSync(fileURLToPath(new URL('../vectors/official.json', import.meta.url)), 'utf8'));
const OFFICIAL_SETTINGS = ['--token', official.app.token, '--key', official.app.encodingAESKey, '--receive-id', official.app.receiveId, '--max-skew', '0'];

const diagnose = (args, options) => run(['diagnose', ...args], options);
const failed = (r, check, code, pattern) => {
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const line = r.stdout.split('\n').find((l) => l.startsWith('✘'));
  assert.ok(line, r.stdout);
  assert.ok(line.startsWith(`✘ ${check} (${code}): `), line);
  if (pattern) assert.match(line, pattern);
  return line;
};

test('a valid POST callback passes every check and prints the plaintext', async () => {
  const { url, body } = post();
  const r = await diagnose(['--url', url, '--body', body, ...SETTINGS]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const check of ['settings', 'query', 'timestamp', 'envelope', 'signature', 'base64', 'decryption', 'length', 'receiveId', 'plaintext']) {
    assert.match(r.stdout, new RegExp(`^✔ ${check}`, 'm'));
  }
  assert.doesNotMatch(r.stdout, /✘/);
  assert.match(r.stdout, /<Content><!\[CDATA\[你好\]\]><\/Content>/);
});

test('a valid JSON (AI bot) callback from --body-file passes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wecom-edge-cli-'));
  const { url, body } = post({ message: '{"msgtype":"text","text":{"content":"hi"}}', receiveId: '', json: true });
  writeFileSync(join(dir, 'body.json'), body);
  const r = await diagnose(['--url', url, '--body-file', join(dir, 'body.json'), '--token', APP.token, '--key', APP.key, '--receive-id', '', '--now', String(NOW)]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /✔ envelope: JSON/);
  assert.match(r.stdout, /\{"msgtype":"text","text":\{"content":"hi"\}\}/);
});

test("WeCom's official sample passes: GET verification and POST callback", async () => {
  const v = official.verifyUrl;
  const get = await diagnose(['--url', query({ msg_signature: v.msg_signature, timestamp: v.timestamp, nonce: v.nonce, echostr: v.echostr }), ...OFFICIAL_SETTINGS]);
  assert.equal(get.code, 0, get.stdout + get.stderr);
  assert.equal(get.stdout.trimEnd().split('\n').at(-1), v.plaintext);
  const c = official.callback;
  const p = await diagnose(['--url', query({ msg_signature: c.msg_signature, timestamp: c.timestamp, nonce: c.nonce }), '--body', c.body, ...OFFICIAL_SETTINGS]);
  assert.equal(p.code, 0, p.stdout + p.stderr);
  assert.match(p.stdout, /<Content><!\[CDATA\[hello\]\]><\/Content>/);
  assert.match(p.stdout, /✔ receiveId: "wx5823bf96d3bd56c7"/);
});

test('missing msg_signature → missing_parameter', async () => {
  const { body } = post();
  const r = await diagnose(['--url', query({ timestamp: String(NOW), nonce: 'x' }), '--body', body, ...SETTINGS]);
  failed(r, 'query', 'missing_parameter', /msg_signature is missing/);
});

test('malformed msg_signature and bad timestamp → invalid_parameter', async () => {
  const { body } = post();
  const sig = await diagnose(['--url', query({ msg_signature: 'A'.repeat(40), timestamp: String(NOW), nonce: 'x' }), '--body', body, ...SETTINGS]);
  failed(sig, 'query', 'invalid_parameter', /40 lowercase hex/);
  const ts = await diagnose(['--url', query({ msg_signature: 'a'.repeat(40), timestamp: '2025-11-29', nonce: 'x' }), '--body', body, ...SETTINGS]);
  failed(ts, 'query', 'invalid_parameter', /timestamp must be unix seconds/);
});

test('GET without echostr → missing_parameter', async () => {
  const r = await diagnose(['--url', query({ msg_signature: 'a'.repeat(40), timestamp: String(NOW), nonce: 'x' }), ...SETTINGS]);
  failed(r, 'query', 'missing_parameter', /echostr is missing/);
});

test('stale timestamp → stale_timestamp, in human units', async () => {
  const { url, body } = post({ timestamp: String(NOW - 7200) });
  const r = await diagnose(['--url', url, '--body', body, ...SETTINGS]);
  failed(r, 'timestamp', 'stale_timestamp', /the timestamp is 2 hours behind the clock/);
  const ahead = await diagnose(['--url', url, '--body', body, ...SETTINGS, '--now', String(NOW - 7200 - 600)]);
  failed(ahead, 'timestamp', 'stale_timestamp', /10 minutes ahead of the clock/);
  const wide = await diagnose(['--url', url, '--body', body, ...SETTINGS, '--max-skew', '7200']);
  assert.equal(wide.code, 0, wide.stdout);
});

test('a body neither XML nor JSON → -40002', async () => {
  const { url } = post();
  const r = await diagnose(['--url', url, '--body', 'encrypt=abc', ...SETTINGS]);
  failed(r, 'envelope', -40002, /neither XML nor JSON/);
  const noEncrypt = await diagnose(['--url', url, '--body', '<xml><ToUserName>x</ToUserName></xml>', ...SETTINGS]);
  failed(noEncrypt, 'envelope', -40002, /no <Encrypt>/);
});

test('wrong token → -40001, saying the Token is wrong', async () => {
  const { url, body } = post({ token: 'someOtherToken' });
  const r = await diagnose(['--url', url, '--body', body, ...SETTINGS]);
  failed(r, 'signature', -40001, /the Token is wrong/);
});

test("echostr whose '+' URL decoding turned into spaces: a hint, and it passes", async () => {
  let echostr;
  do echostr = encrypt(APP.key, '1616140317555161061', APP.receiveId);
  while (!echostr.includes('+'));
  const timestamp = String(NOW);
  const msg_signature = sign(APP.token, timestamp, 'nonce1', echostr);
  // '+' left unencoded in the URL: URL decoding turns it into a space.
  const url = `https://edge.example.com/callback/hr?msg_signature=${msg_signature}&timestamp=${timestamp}&nonce=nonce1&echostr=${echostr.replaceAll('/', '%2F').replaceAll('=', '%3D')}`;
  const r = await diagnose(['--url', url, ...SETTINGS]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /the signature matches only if the '\+' in echostr is restored: your URL decoding turned '\+' into spaces/);
  assert.equal(r.stdout.trimEnd().split('\n').at(-1), '1616140317555161061');
});

test('echostr URL-encoded twice → -40001 saying so', async () => {
  const echostr = encrypt(APP.key, 'hello', APP.receiveId);
  const msg_signature = sign(APP.token, String(NOW), 'n', echostr);
  const url = query({ msg_signature, timestamp: String(NOW), nonce: 'n', echostr: encodeURIComponent(echostr) });
  if (encodeURIComponent(echostr) === echostr) return; // nothing to encode (never happens with '=' padding)
  const r = await diagnose(['--url', url, ...SETTINGS]);
  failed(r, 'signature', -40001, /URL-encoded twice/);
});

test('bad base64 (correctly signed) → -40010', async () => {
  const { url, body } = post({ encrypted: 'abc-def_ghi=' });
  const r = await diagnose(['--url', url, '--body', body, ...SETTINGS]);
  failed(r, 'base64', -40010, /URL-safe base64/);
  const short = post({ encrypted: 'QUJDRA' });
  const r2 = await diagnose(['--url', short.url, '--body', short.body, ...SETTINGS]);
  failed(r2, 'base64', -40010, /not a multiple of 4/);
});

test('wrong EncodingAESKey whose decryption ends in byte 0 → -40007 with the pad hint', async () => {
  const wrongKey = 'ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj';
  // Two blocks: C1 random; C0 chosen so that, under wrongKey, the last plaintext byte is 0.
  const c1 = randomBytes(16);
  const keyBytes = Buffer.from(wrongKey + '=', 'base64');
  const d = createDecipheriv('aes-256-ecb', keyBytes, null);
  d.setAutoPadding(false);
  const x = Buffer.concat([d.update(c1), d.final()]);
  const c0 = randomBytes(16);
  c0[15] = x[15];
  const { url, body } = post({ encrypted: Buffer.concat([c0, c1]).toString('base64') });
  const r = await diagnose(['--url', url, '--body', body, '--token', APP.token, '--key', wrongKey, '--now', String(NOW)]);
  failed(r, 'decryption', -40007, /pad byte 0 at the end means a wrong EncodingAESKey/);
});

test('wrong EncodingAESKey on a real message → -40007 or -40008, naming the key', async () => {
  const { url, body } = post();
  const r = await diagnose(['--url', url, '--body', body, '--token', APP.token, '--key', 'Q'.repeat(43), '--now', String(NOW)]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^✘ (decryption \(-40007\)|length \(-40008\)): .*EncodingAESKey/m);
});

test('ciphertext not a multiple of 16 → -40007', async () => {
  const { url, body } = post({ encrypted: randomBytes(20).toString('base64') });
  const r = await diagnose(['--url', url, '--body', body, ...SETTINGS]);
  failed(r, 'decryption', -40007, /not a positive multiple of 16/);
});

test('length field overrunning the buffer → -40008', async () => {
  const { url, body } = post({ encrypted: encrypt(APP.key, 'hello', APP.receiveId, 1000) });
  const r = await diagnose(['--url', url, '--body', body, ...SETTINGS]);
  failed(r, 'length', -40008, /the length field says 1000 bytes but only 23 follow the header/);
});

test('message that is not UTF-8 → -40008', async () => {
  const plain = Buffer.concat([randomBytes(16), Buffer.from([0, 0, 0, 2, 0xc3, 0x28]), Buffer.from(APP.receiveId)]);
  const n = 32 - (plain.length % 32);
  const enc = aesRaw(APP.key, Buffer.concat([plain, Buffer.alloc(n, n)])).toString('base64');
  const { url, body } = post({ encrypted: enc });
  failed(await diagnose(['--url', url, '--body', body, ...SETTINGS]), 'length', -40008, /not valid UTF-8/);
});

test('a suite id receiveId where a corp id is expected → -40005 with the tj hint', async () => {
  const { url, body } = post({ receiveId: 'tj1a2b3c4d5e6f7a8b' });
  const r = await diagnose(['--url', url, '--body', body, ...SETTINGS]);
  failed(r, 'receiveId', -40005, /"tj1a2b3c4d5e6f7a8b" looks like a suite id \(third-party app\) while the app accepts ww… \(a corp id\)/);
});

test('an AI bot\'s "" receiveId where a corp id is expected → -40005 naming the bot', async () => {
  const { url, body } = post({ receiveId: '' });
  failed(await diagnose(['--url', url, '--body', body, ...SETTINGS]), 'receiveId', -40005, /AI bot/);
});

test('a decrypted message that does not parse → -40002', async () => {
  const { url, body } = post({ message: '<xml><Content>hi</xml>' });
  failed(await diagnose(['--url', url, '--body', body, ...SETTINGS]), 'plaintext', -40002, /not well-formed XML/);
});

test('--curl: method, quoted URL and --data-raw body are parsed', async () => {
  const { url, body } = post();
  const curl = `curl -sS -X POST "${url}" \\\n  -H 'Content-Type: text/xml' \\\n  --data-raw '${body}'`;
  const r = await diagnose(['--curl', curl, ...SETTINGS]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^POST \/callback\/hr/);
  assert.match(r.stdout, /你好/);
  // A GET verification (no data) from curl, official sample:
  const v = official.verifyUrl;
  const get = await diagnose(['--curl', `curl '${query({ msg_signature: v.msg_signature, timestamp: v.timestamp, nonce: v.nonce, echostr: v.echostr })}'`, ...OFFICIAL_SETTINGS]);
  assert.equal(get.code, 0, get.stdout + get.stderr);
  assert.equal(get.stdout.trimEnd().split('\n').at(-1), v.plaintext);
  // -d with a double-quoted body holding escaped quotes (JSON):
  const j = post({ message: '{"a":1}', receiveId: APP.receiveId, json: true });
  const dq = await diagnose(['--curl', `curl ${JSON.stringify(j.url)} -d "${j.body.replaceAll('"', '\\"')}"`, ...SETTINGS]);
  assert.equal(dq.code, 0, dq.stdout + dq.stderr);
  assert.match(dq.stdout, /✔ envelope: JSON/);
});

test('--curl errors are usage errors (exit 2)', async () => {
  const r = await diagnose(['--curl', "curl -X POST 'http://x/callback/a?", ...SETTINGS]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unterminated single quote/);
});

test('--apps file with --app, the app from the URL path, and previous credentials', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wecom-edge-cli-'));
  const file = join(dir, 'apps.json');
  writeFileSync(
    file,
    JSON.stringify({
      other: { token: 'x', encodingAESKey: 'Q'.repeat(43), receiveId: 'ww0', pull: { token: 'p'.repeat(32) } },
      hr: { token: 'NEWtoken', encodingAESKey: 'R'.repeat(43), previous: [{ token: APP.token, encodingAESKey: APP.key }], receiveId: [APP.receiveId, 'ww2'], pull: { token: 'p'.repeat(32) } },
    }),
  );
  const { url, body } = post();
  const named = await diagnose(['--url', url, '--body', body, '--apps', file, '--app', 'hr', '--now', String(NOW)]);
  assert.equal(named.code, 0, named.stdout + named.stderr);
  assert.match(named.stdout, /previous\[0\] credential/);
  const fromPath = await diagnose(['--url', url, '--body', body, '--apps', file, '--now', String(NOW)]);
  assert.equal(fromPath.code, 0, fromPath.stdout + fromPath.stderr);
  assert.match(fromPath.stdout, /\(app "hr"\)/);
  const wrong = await diagnose(['--url', url, '--body', body, '--apps', file, '--app', 'other', '--now', String(NOW)]);
  failed(wrong, 'signature', -40001, /Token is wrong/);
  const missing = await diagnose(['--url', url, '--body', body, '--apps', file, '--app', 'nope']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no app "nope"/);
});

test('usage errors: no callback, no settings, a bad --now', async () => {
  const none = await diagnose(['--token', 'a', '--key', APP.key]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--url/);
  const noSettings = await diagnose(['--url', 'http://x/callback/a?x=1']);
  assert.equal(noSettings.code, 2);
  assert.match(noSettings.stderr, /--token and --key/);
  const badNow = await diagnose(['--url', 'http://x/', ...SETTINGS, '--now', 'yesterday']);
  assert.equal(badNow.code, 2);
  assert.match(badNow.stderr, /--now/);
});

test('a malformed EncodingAESKey setting → -40004', async () => {
  const { url, body } = post();
  failed(await diagnose(['--url', url, '--body', body, '--token', APP.token, '--key', 'short', '--now', String(NOW)]), 'settings', -40004, /43 characters/);
});

// ------------------------------------------------------- terminal safety ----

/** A WeCom user's message that drives a terminal: a title (OSC 0), a clipboard write (OSC 52), a clear screen, DEL and bidi overrides. */
const HOSTILE = '\u001b]0;title\u0007 \u009d52;c;aGk=\u009c \u009b2J \u007f \u202eevil\u202c \u2066x\u2069';
const HOSTILE_SHOWN = '\\u001b]0;title\\u0007 \\u009d52;c;aGk=\\u009c \\u009b2J \\u007f \\u202eevil\\u202c \\u2066x\\u2069';
const TTY = { env: { WECOM_EDGE_TTY: '1' } };

test('hostile plaintext is shown escaped, on a terminal or into a pipe; its own line breaks stay; --raw keeps the bytes', async () => {
  const message = `<xml><MsgType><![CDATA[text]]></MsgType>\r\n<Content><![CDATA[${HOSTILE}]]></Content>\n</xml>`;
  const { url, body } = post({ message });
  const length = Buffer.byteLength(message);
  const checks =
    'POST /callback/hr\n✔ settings\n✔ query\n✔ timestamp\n✔ envelope: XML with <Encrypt>\n✔ signature\n' +
    '✔ XML envelope: well-formed, one <Encrypt> under the root\n✔ base64\n✔ decryption\n' +
    `✔ length: ${length} bytes of message\n✔ receiveId: "ww3e40cde07cc21a01"\n✔ plaintext: XML\n\nDecrypted plaintext:\n`;
  const shown = `${checks}<xml><MsgType><![CDATA[text]]></MsgType>\\r\n<Content><![CDATA[${HOSTILE_SHOWN}]]></Content>\n</xml>\n`;
  for (const options of [TTY, {}]) {
    const r = await diagnose(['--url', url, '--body', body, ...SETTINGS], options);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, shown, '']);
  }
  const raw = await diagnose(['--url', url, '--body', body, ...SETTINGS, '--raw'], TTY);
  assert.deepEqual([raw.code, raw.stdout, raw.stderr], [0, `${checks}${message}\n`, '']);
});

test('a JSON body that does not parse is said by line and column, never quoted (V8 would quote ESC and BEL)', async () => {
  const { url } = post({ json: true });
  const body = `{"encrypt":\n "${HOSTILE}`;
  const r = await diagnose(['--url', url, '--body', body, ...SETTINGS], TTY);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, 'POST /callback/hr\n✔ settings\n✔ query\n✔ timestamp\n✘ envelope (-40002): the JSON body does not parse: unexpected U+001B at line 2, column 3\n');
  // A decrypted JSON message that does not parse: the same, for the plaintext.
  const bad = post({ message: `{"content": "x"\n\u009b2J}`, receiveId: '', json: true });
  const p = await diagnose(['--url', bad.url, '--body', bad.body, '--token', APP.token, '--key', APP.key, '--now', String(NOW)], TTY);
  assert.equal(p.code, 1);
  assert.equal(p.stdout.split('\n').at(-2), "✘ plaintext (-40002): the decrypted message is not valid JSON: unexpected U+009B at line 2, column 1");
});

test('hostile characters in the capture (a bad base64 character, a body of neither kind) are shown escaped', async () => {
  const encrypted = `abc\u009b${'A'.repeat(40)}`;
  const { url, body } = post({ encrypted, json: true });
  const r = await diagnose(['--url', url, '--body', body, ...SETTINGS], TTY);
  assert.equal(r.code, 1);
  assert.equal(r.stdout.split('\n').at(-2), '✘ base64 (-40010): encrypt is not base64: it has "\\u009b" at position 3');
  // A value quoted inside a check's line stays escaped with --raw too: --raw is for the plaintext.
  const raw = await diagnose(['--url', url, '--body', body, ...SETTINGS, '--raw'], TTY);
  assert.equal(raw.stdout, r.stdout);
  const neither = await diagnose(['--url', url, '--body', `\u009d0;title\u009c${HOSTILE}`, ...SETTINGS], TTY);
  assert.equal(neither.code, 1);
  assert.equal(
    neither.stdout.split('\n').at(-2),
    '✘ envelope (-40002): the body is neither XML nor JSON (it starts with "\\u009d0;title\\u009c\\u001b]0;title\\u0007 "): ' +
      'WeCom posts <xml><Encrypt>…</Encrypt></xml> or {"encrypt": "…"}',
  );
  assert.doesNotMatch(neither.stdout + neither.stderr, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
});

test('--send and --timeout: usage errors need no gateway', async () => {
  const { body } = post();
  const relative = await diagnose(['--url', '/callback/hr?msg_signature=x&timestamp=1&nonce=n', '--body', body, ...SETTINGS, '--send']);
  assert.equal(relative.code, 2);
  assert.match(relative.stderr, /^wecom-edge diagnose: --send needs --url \(or the curl command\) to be the absolute http\(s\) URL the callback was sent to\n/);
  const lone = await diagnose(['--url', post().url, '--body', body, ...SETTINGS, '--timeout', '1000']);
  assert.equal(lone.code, 2);
  assert.match(lone.stderr, /^wecom-edge diagnose: --timeout goes with --send\n/);
});

// ------------------------------------------------------------ suites ----
// diagnose and the gateway on a suite's two URLs: test/cli/gateway-diagnose.test.mjs.

const SUITE_ID = 'wwsuite7d1e9a2c0b4f';
const PROVIDER = 'wwprovider3e40cde07';
const SUITE = { token: APP.token, encodingAESKey: APP.key, suite: { suiteId: SUITE_ID, providerCorpId: PROVIDER, ticketToken: 't'.repeat(32) }, pull: { token: 'p'.repeat(32) } };

/** A WECOM_APPS file of `apps`. */
function appsFileOf(apps) {
  const file = join(mkdtempSync(join(tmpdir(), 'wecom-edge-cli-')), 'apps.json');
  writeFileSync(file, JSON.stringify(apps));
  return file;
}

/** A signed POST to `path` on edge.example.com: `message` encrypted for `receiveId`. */
function postTo(path, message, receiveId) {
  const enc = encrypt(APP.key, message, receiveId);
  const timestamp = String(NOW);
  const url = `https://edge.example.com${path}?${new URLSearchParams({ msg_signature: sign(APP.token, timestamp, 'n0nce42', enc), timestamp, nonce: 'n0nce42' })}`;
  return { url, body: `<xml><ToUserName><![CDATA[${receiveId}]]></ToUserName><Encrypt><![CDATA[${enc}]]></Encrypt></xml>` };
}

const TICKET = `<xml><SuiteId><![CDATA[${SUITE_ID}]]></SuiteId><InfoType><![CDATA[suite_ticket]]></InfoType><TimeStamp>${NOW}</TimeStamp><SuiteTicket><![CDATA[ticket-0123]]></SuiteTicket></xml>`;

test("a suite's entry is checked as the gateway checks it: what it answers 503 invalid_config for fails the settings", async () => {
  const file = appsFileOf({
    notobject: { ...SUITE, suite: SUITE_ID },
    list: { ...SUITE, suite: [SUITE_ID] },
    badsuiteid: { ...SUITE, suite: { ...SUITE.suite, suiteId: 'ww suite' } },
    nosuiteid: { ...SUITE, suite: { providerCorpId: PROVIDER } },
    badprovider: { ...SUITE, suite: { ...SUITE.suite, providerCorpId: 'w'.repeat(65) } },
    withreceiveid: { ...SUITE, receiveId: APP.receiveId },
    withbot: { ...SUITE, bot: { token: 'b'.repeat(32) } },
  });
  const expected = {
    notobject: 'suite must be {"suiteId", "providerCorpId", "ticketToken"}',
    list: 'suite must be {"suiteId", "providerCorpId", "ticketToken"}',
    badsuiteid: "suite.suiteId must be the suite's SuiteID, or a 代开发 template's id (dk…), from the provider console (1-64 letters, digits, _ or -)",
    nosuiteid: "suite.suiteId must be the suite's SuiteID, or a 代开发 template's id (dk…), from the provider console (1-64 letters, digits, _ or -)",
    badprovider: "suite.providerCorpId must be the provider's own CorpID (服务商的CorpID) (1-64 letters, digits, _ or -)",
    withreceiveid: 'receiveId must not be set for a suite: suite.suiteId and suite.providerCorpId say which receiveId each URL takes',
    withbot: 'bot must not be set for a suite: an AI bot is an app of its own',
  };
  for (const [name, message] of Object.entries(expected)) {
    const { url, body } = postTo(`/callback/${name}`, TICKET, SUITE_ID);
    const r = await diagnose(['--url', url, '--body', body, '--apps', file, '--now', String(NOW)]);
    assert.equal(failed(r, 'settings', 'invalid_config'), `✘ settings (invalid_config): ${message}`, name);
  }
});

test("a suite's URL from the path: /callback/NAME/data picks the app and is its data URL; another path is checked as the instruction URL", async () => {
  const file = appsFileOf({ hr: { ...SUITE, suite: undefined, receiveId: APP.receiveId }, crm: SUITE });
  const message = '<xml><ToUserName><![CDATA[wpCorpA]]></ToUserName><MsgType><![CDATA[text]]></MsgType></xml>';
  const data = postTo('/callback/crm/data/', message, 'wpCorpA');
  const r = await diagnose(['--url', data.url, '--body', data.body, '--apps', file, '--now', String(NOW)]);
  assert.equal(r.code, 0, r.stdout);
  assert.equal(r.stdout.split('\n')[0], 'POST /callback/crm/data/  (app "crm")');
  assert.match(r.stdout, /^✔ URL: the data URL \(数据回调URL\) of suite "wwsuite7d1e9a2c0b4f"/m);
  assert.match(r.stdout, /^✔ suite: for corp "wpCorpA", as its ToUserName says: the event's corpId$/m);

  const elsewhere = postTo('/hooks/crm', TICKET, SUITE_ID);
  const other = await diagnose(['--url', elsewhere.url, '--body', elsewhere.body, '--apps', file, '--app', 'crm', '--now', String(NOW)]);
  assert.equal(other.code, 0, other.stdout);
  assert.match(other.stdout, /^– URL: \/hooks\/crm is neither of suite "wwsuite7d1e9a2c0b4f"'s URLs \(\/callback\/crm, \/callback\/crm\/data\): checked as its instruction URL$/m);
  assert.match(other.stdout, /^✔ receiveId: "wwsuite7d1e9a2c0b4f", the suite id \(suite\.suiteId\): the instruction URL \/callback\/crm \(指令回调URL\)'s$/m);

  // An instruction callback without a SuiteId, naming the corp it is about: taken as the gateway takes it.
  const auth = postTo('/callback/crm', `<xml><InfoType>change_auth</InfoType><TimeStamp>${NOW}</TimeStamp><AuthCorpId>wpCorpA</AuthCorpId></xml>`, SUITE_ID);
  const authCheck = await diagnose(['--url', auth.url, '--body', auth.body, '--apps', file, '--now', String(NOW)]);
  assert.equal(authCheck.code, 0, authCheck.stdout);
  assert.match(authCheck.stdout, /^✔ suite: InfoType "change_auth" for corp "wpCorpA" \(AuthCorpId: the event's corpId\); answered exactly "success"$/m);
});

test("a suite's plaintext from outside is shown escaped in its checks", async () => {
  const file = appsFileOf({ crm: SUITE });
  const message = `<xml><ToUserName><![CDATA[${HOSTILE}]]></ToUserName><MsgType><![CDATA[text]]></MsgType></xml>`;
  const { url, body } = postTo('/callback/crm/data', message, 'wpCorpA');
  for (const options of [TTY, {}, { raw: true }]) {
    const r = await diagnose(['--url', url, '--body', body, '--apps', file, '--now', String(NOW), ...(options.raw ? ['--raw'] : [])], options.raw ? TTY : options);
    const line = failed(r, 'suite', -40005);
    assert.ok(line.includes(`and names ToUserName "${HOSTILE_SHOWN}", AuthCorpId none; `), line);
    assert.doesNotMatch(r.stdout.split('\n\nDecrypted')[0], /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
  }
});

test('a 代开发 template id where a corp id is expected → -40005, saying to make the app a suite', async () => {
  const { url, body } = post({ receiveId: 'dk7d1e9a2c0b4f6a' });
  const line = failed(await diagnose(['--url', url, '--body', body, ...SETTINGS]), 'receiveId', -40005);
  assert.equal(
    line,
    '✘ receiveId (-40005): the message carries receiveId "dk7d1e9a2c0b4f6a", but the app accepts "ww3e40cde07cc21a01": "dk7d1e9a2c0b4f6a" looks like a 代开发 template id while the app accepts ww… (a corp id). ' +
      'A suite\'s instruction callbacks carry the suite id: make the app a suite ("suite": {"suiteId", "providerCorpId", "ticketToken"}, no receiveId; see providers.md), whose instruction URL takes it',
  );
});

// diagnose: walks a captured callback through every check the gateway makes, in the gateway's order.
import { readFileSync } from 'node:fs';
import { parseSecretJson } from './apps-file.mjs';
import { parseOptions, UsageError } from './cli.mjs';
import { parseCurl } from './curl.mjs';
import { configHint, exchange, NetworkError, refusalOf } from './http.mjs';
import { jsonProblem } from './json-text.mjs';
import { oneLine, terminalOutput } from './terminal.mjs';
import { aesDecryptRaw, BASE64, ENCODING_AES_KEY, signature } from './wxcrypt.mjs';

export const DIAGNOSE_HELP = `Usage: wecom-edge diagnose (--url URL [--body TEXT | --body-file PATH] | --curl 'curl …')
                          (--token T --key K [--receive-id ID] | --apps FILE [--app NAME])
                          [--now SECONDS] [--max-skew SECONDS] [--send [--timeout MS]] [--raw]

Checks a captured callback the way the gateway does, in the same order, and
says which check fails and why, with the code the gateway answers. When every
check passes it prints the decrypted plaintext.

The callback:
  --url URL          the full callback URL with its query (msg_signature,
                     timestamp, nonce, and echostr for a GET verification)
  --body TEXT        the POST body (XML <Encrypt> or JSON {"encrypt"}); without
                     a body the callback is a GET URL verification
  --body-file PATH   the POST body, read from a file ('-' for stdin)
  --curl 'CMD'       a curl command line instead: -X/--request, the URL and
                     -d/--data/--data-raw/--data-binary are read from it

The app's settings:
  --token T          the callback Token
  --key K            the EncodingAESKey (43 characters)
  --receive-id ID    the receiveId the app accepts ("*" for any); the check is
                     skipped without it
  --apps FILE        a WECOM_APPS JSON file instead (its "previous" credentials
                     are tried too, as the gateway does)
  --app NAME         which app of --apps (default: the one in /callback/NAME
                     or /callback/NAME/data, or the only one)

A suite (an app with "suite" in --apps: a third-party suite or a 代开发
template) has two URLs, told apart by the URL's path: /callback/NAME, the
instruction URL (指令回调URL), whose callbacks carry the suite id, and
/callback/NAME/data, the data URL (数据回调URL), whose callbacks carry the
corp's corpid; both are verified (GET) with the provider's corpid. diagnose
says which receiveId the URL takes and, for one that belongs to the other
URL, which URL that is (-40005, as the gateway answers). It then checks the
plaintext as the gateway does: a data callback must name the corp it is
encrypted for (ToUserName or AuthCorpId), an instruction callback's SuiteId
must be the suite's, and a suite_ticket must carry a ticket and TimeStamp.

The timestamp check:
  --now SECONDS      the clock to check the timestamp against (default: now)
  --max-skew SECONDS the largest difference allowed (default 300; 0 turns it off,
                     e.g. for old captures)

Asking the gateway too:
  --send             also send the callback to the gateway at --url (an
                     absolute http(s) URL) and show its answer. A GET
                     verification changes nothing; a POST is a real callback:
                     the gateway queues and delivers it like WeCom's own (or
                     answers it as a duplicate). When the gateway answers 503
                     invalid_config or not_configured, diagnose says where
                     the gateway names the problem (GET /admin/apps, the
                     admin page, wrangler's log) and to run
                     \`npx wecom-edge check-config\`
  --timeout MS       with --send: how long to wait for the answer (default 5000)

Output:
  --raw              write what came from outside as it is (see below)
  -h, --help         show this help

Offline unless --send: diagnose sends nothing anywhere by itself.

Terminal safety: control characters (C0 but diagnose's own line breaks and
tabs, and the line breaks and tabs of the decrypted plaintext, DEL, C1
U+0080-U+009F) and bidi overrides (U+202A-U+202E, U+2066-U+2069) in what came
from outside (the capture, the plaintext, the gateway's answer) are shown as
escapes such as \\u009b, to a terminal or not: this output is for reading.
A JSON body that does not parse is said by line and column, never quoted.
--raw writes the decrypted plaintext and the rest as they are; a value
quoted inside a check's line stays escaped even then.

Exit status: 0 when every check passes (and, with --send, the gateway answers
200), 1 when one fails, 2 on a usage error.
`;

const ORDINAL = ['', 'previous[0]', 'previous[1]', 'previous[2]'];

/** An app's callback URL, /callback/NAME, or a suite's data URL, /callback/NAME/data (src/routes/callback.ts). */
const CALLBACK_PATH = /^\/callback\/([^/]+?)(\/data)?\/?$/;

/** A suite id, template id or corpid as the gateway takes them (src/config.ts). */
const WECOM_ID = /^[A-Za-z0-9_-]{1,64}$/;

export async function diagnose(argv, out) {
  const o = parseOptions('diagnose', argv, {
    url: { type: 'string' },
    body: { type: 'string' },
    'body-file': { type: 'string' },
    curl: { type: 'string' },
    token: { type: 'string' },
    key: { type: 'string' },
    'receive-id': { type: 'string' },
    apps: { type: 'string' },
    app: { type: 'string' },
    now: { type: 'string' },
    'max-skew': { type: 'string' },
    send: { type: 'boolean' },
    timeout: { type: 'string' },
    raw: { type: 'boolean' },
  });
  if (o.help) {
    out.stdout(DIAGNOSE_HELP);
    return 0;
  }
  const request = readRequest(o);
  const settings = readSettings(o, request.url);
  const now = o.now === undefined ? Math.floor(Date.now() / 1000) : integerOption('--now', o.now);
  const maxSkew = o['max-skew'] === undefined ? 300 : integerOption('--max-skew', o['max-skew']);
  if (o.timeout !== undefined && !o.send) throw new UsageError('--timeout goes with --send', 'diagnose');
  if (o.send && !/^https?:$/.test(absoluteUrl(request.rawUrl)?.protocol ?? '')) {
    throw new UsageError('--send needs --url (or the curl command) to be the absolute http(s) URL the callback was sent to', 'diagnose');
  }
  const timeoutMs = o.timeout === undefined ? 5000 : integerOption('--timeout', o.timeout, 'milliseconds');
  if (timeoutMs < 100 || timeoutMs > 600_000) throw new UsageError(`--timeout must be from 100 to 600000 milliseconds, got ${timeoutMs}`, 'diagnose');
  const io = terminalOutput(out, { stdout: 'always', raw: o.raw === true });
  const checked = runChecks(request, settings, { now, maxSkew }, io);
  if (!o.send) return checked;
  const sent = await send(request, timeoutMs, io);
  return checked === 0 && sent === 0 ? 0 : 1;
}

function absoluteUrl(text) {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------- inputs ----

function readRequest(o) {
  const sources = ['url', 'curl'].filter((k) => o[k] !== undefined);
  if (sources.length === 0) throw new UsageError('give the callback with --url (and --body/--body-file for a POST) or --curl', 'diagnose');
  if (sources.length > 1) throw new UsageError('--url and --curl cannot be used together', 'diagnose');
  if (o.body !== undefined && o['body-file'] !== undefined) throw new UsageError('--body and --body-file cannot be used together', 'diagnose');
  let method;
  let rawUrl;
  let body;
  if (o.curl !== undefined) {
    if (o.body !== undefined || o['body-file'] !== undefined) throw new UsageError('--curl carries the body itself: drop --body/--body-file', 'diagnose');
    try {
      ({ method, url: rawUrl, body } = parseCurl(o.curl));
    } catch (error) {
      throw new UsageError(error.message, 'diagnose');
    }
  } else {
    rawUrl = o.url;
    if (o.body !== undefined) body = o.body;
    else if (o['body-file'] !== undefined) body = readText(o['body-file'], '--body-file');
    method = body === undefined ? 'GET' : 'POST';
  }
  if (method !== 'GET' && method !== 'POST') {
    throw new UsageError(`method ${method}: a callback is a GET (URL verification) or a POST (method_not_allowed otherwise)`, 'diagnose');
  }
  if (method === 'POST' && body === undefined) body = '';
  let url;
  try {
    url = new URL(rawUrl, 'http://localhost');
  } catch {
    throw new UsageError(`cannot parse the URL ${JSON.stringify(rawUrl)}`, 'diagnose');
  }
  return { method, url, body, rawUrl };
}

function readText(path, option) {
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${option} ${path}: ${error.code ?? error.message}`, 'diagnose');
  }
}

function readSettings(o, url) {
  if (o.apps !== undefined) {
    if (o.token !== undefined || o.key !== undefined || o['receive-id'] !== undefined) {
      throw new UsageError('--apps cannot be combined with --token/--key/--receive-id', 'diagnose');
    }
    const apps = parseSecretJson(readText(o.apps, '--apps'), o.apps, 'diagnose');
    if (apps === null || typeof apps !== 'object' || Array.isArray(apps)) throw new UsageError(`${o.apps} must hold a JSON object of apps`, 'diagnose');
    const names = Object.keys(apps);
    let name = o.app;
    if (name === undefined) {
      const fromPath = CALLBACK_PATH.exec(url.pathname)?.[1];
      if (fromPath !== undefined && Object.hasOwn(apps, fromPath)) name = fromPath;
      else if (names.length === 1) name = names[0];
      else throw new UsageError(`${o.apps} has ${names.length} apps (${names.join(', ')}): choose one with --app NAME`, 'diagnose');
    }
    if (!Object.hasOwn(apps, name)) throw new UsageError(`no app ${JSON.stringify(name)} in ${o.apps} (it has: ${names.join(', ') || 'none'})`, 'diagnose');
    const app = apps[name];
    if (app === null || typeof app !== 'object') throw new UsageError(`app ${JSON.stringify(name)} in ${o.apps} is not an object`, 'diagnose');
    const credentials = [{ token: app.token, encodingAESKey: app.encodingAESKey, label: '' }];
    if (Array.isArray(app.previous)) {
      app.previous.forEach((p, i) => credentials.push({ token: p?.token, encodingAESKey: p?.encodingAESKey, label: ORDINAL[i + 1] ?? `previous[${i}]` }));
    }
    return { name, credentials, receiveId: app.receiveId, ...(app.suite !== undefined ? { suite: app.suite, bot: app.bot } : {}) };
  }
  if (o.token === undefined || o.key === undefined) {
    throw new UsageError('give the app settings with --token and --key (and --receive-id), or --apps FILE --app NAME', 'diagnose');
  }
  return { credentials: [{ token: o.token, encodingAESKey: o.key, label: '' }], receiveId: o['receive-id'] };
}

function integerOption(name, value, unit = 'seconds') {
  if (!/^\d+$/.test(value)) throw new UsageError(`${name} must be a whole number of ${unit}, got ${JSON.stringify(value)}`, 'diagnose');
  return Number(value);
}

// ------------------------------------------------------------- checks ----

class Failure extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
const fail = (code, message) => {
  throw new Failure(code, message);
};

function runChecks(request, settings, clock, out) {
  const ctx = { request, settings, clock, notes: [] };
  const path = CALLBACK_PATH.exec(request.url.pathname);
  // Which URL it came to matters for an app of --apps that is a suite, or when it is a suite's data URL.
  const urlStep = settings.name !== undefined && (settings.suite !== undefined || path?.[2] !== undefined);
  const suite = settings.suite !== undefined;
  const steps = [
    ['settings', checkSettings],
    ...(urlStep ? [['URL', checkUrl]] : []),
    ['query', checkQuery],
    ['timestamp', checkTimestamp],
    ...(request.method === 'POST' ? [['envelope', checkEnvelope]] : []),
    ['signature', checkSignature],
    ...(request.method === 'POST' && ctx.request.body.trimStart().replace(/^\uFEFF/, '').startsWith('<') ? [['XML envelope', checkXmlEnvelope]] : []),
    ['base64', checkBase64],
    ['decryption', checkDecryption],
    ['length', checkLength],
    ['receiveId', suite ? checkSuiteReceiveId : checkReceiveId],
    ['plaintext', checkPlaintext],
    ...(suite && request.method === 'POST' ? [['suite', checkSuiteCallback]] : []),
  ];
  out.stdout(`${request.method} ${request.url.pathname}${settings.name !== undefined ? `  (app ${JSON.stringify(settings.name)})` : ''}\n`);
  for (const [name, step] of steps) {
    ctx.notes = [];
    let status = '✔';
    let detail;
    try {
      detail = step(ctx);
    } catch (error) {
      if (!(error instanceof Failure)) throw error;
      out.stdout(`✘ ${name} (${error.code}): ${oneLine(error.message)}\n`);
      return 1;
    }
    if (detail?.skipped) {
      status = '–';
      detail = detail.skipped;
    }
    out.stdout(`${status} ${name}${detail ? `: ${oneLine(detail)}` : ''}\n`);
    for (const note of ctx.notes) out.stdout(`  hint: ${oneLine(note)}\n`);
  }
  out.stdout(`\n${request.method === 'GET' ? 'Decrypted echostr (the body the gateway answers)' : 'Decrypted plaintext'}:\n${ctx.message}\n`);
  return 0;
}

function checkSettings(ctx) {
  for (const c of ctx.settings.credentials) {
    const which = c.label ? `${c.label}.` : '';
    if (typeof c.token !== 'string' || c.token === '') fail('invalid_config', `the ${which}token is missing`);
    if (typeof c.encodingAESKey !== 'string' || !ENCODING_AES_KEY.test(c.encodingAESKey)) {
      const got = typeof c.encodingAESKey === 'string' ? `${c.encodingAESKey.length} characters` : 'none';
      fail(-40004, `the ${which}EncodingAESKey must be exactly 43 characters of [A-Za-z0-9+/] (got ${got}); copy it again from WeCom's console`);
    }
  }
  const r = ctx.settings.receiveId;
  const ok = r === undefined || typeof r === 'string' || (Array.isArray(r) && r.every((x) => typeof x === 'string'));
  if (!ok) fail('invalid_config', 'receiveId must be a string, an array of strings, or "*"');
  if (ctx.settings.suite !== undefined) checkSuiteSettings(ctx.settings);
}

/** A suite's entry as the gateway checks it (src/config.ts): a misconfigured app is answered 503 invalid_config. */
function checkSuiteSettings({ suite, receiveId, bot }) {
  if (suite === null || typeof suite !== 'object' || Array.isArray(suite)) fail('invalid_config', 'suite must be {"suiteId", "providerCorpId", "ticketToken"}');
  if (typeof suite.suiteId !== 'string' || !WECOM_ID.test(suite.suiteId)) {
    fail('invalid_config', "suite.suiteId must be the suite's SuiteID, or a 代开发 template's id (dk…), from the provider console (1-64 letters, digits, _ or -)");
  }
  if (typeof suite.providerCorpId !== 'string' || !WECOM_ID.test(suite.providerCorpId)) {
    fail('invalid_config', "suite.providerCorpId must be the provider's own CorpID (服务商的CorpID) (1-64 letters, digits, _ or -)");
  }
  if (receiveId !== undefined) fail('invalid_config', 'receiveId must not be set for a suite: suite.suiteId and suite.providerCorpId say which receiveId each URL takes');
  if (bot !== undefined) fail('invalid_config', 'bot must not be set for a suite: an AI bot is an app of its own');
}

/**
 * Which of its URLs a suite's callback came to, by the path (src/routes/callback.ts):
 * /callback/NAME is the instruction URL, /callback/NAME/data the data URL.
 * Another app has no data URL: the gateway answers it as an unknown app's,
 * whose signature never matches.
 */
function checkUrl(ctx) {
  const { settings, request } = ctx;
  const path = CALLBACK_PATH.exec(request.url.pathname);
  const data = path?.[2] !== undefined;
  if (settings.suite === undefined) {
    ctx.unknownApp = true;
    return { skipped: `${request.url.pathname} is a suite's data URL (数据回调URL), and app ${JSON.stringify(settings.name)} has no "suite": the gateway answers it as an unknown app's URL` };
  }
  const { suiteId, providerCorpId } = settings.suite;
  ctx.suiteUrl = data ? 'data' : 'instruction';
  const verification = `verified with the provider's corpid ${JSON.stringify(providerCorpId)}`;
  if (path === null) {
    return { skipped: `${request.url.pathname} is neither of suite ${JSON.stringify(suiteId)}'s URLs (/callback/${settings.name}, /callback/${settings.name}/data): checked as its instruction URL` };
  }
  if (data) return `the data URL (数据回调URL) of suite ${JSON.stringify(suiteId)}: callbacks from any corp, each encrypted for that corp; ${verification}`;
  return `the instruction URL (指令回调URL) of suite ${JSON.stringify(suiteId)}: callbacks encrypted for the suite id; ${verification}`;
}

function param(url, name, maxLength) {
  const values = url.searchParams.getAll(name);
  if (values.length === 0 || values[0] === '') fail('missing_parameter', `${name} is missing from the URL's query`);
  if (values.length > 1) fail('invalid_parameter', `${name} is given ${values.length} times in the query`);
  if (values[0].length > maxLength) fail('invalid_parameter', `${name} is ${values[0].length} characters, longer than the ${maxLength} allowed`);
  return values[0];
}

function checkQuery(ctx) {
  const { url, method } = ctx.request;
  const msgSignature = param(url, 'msg_signature', 40);
  if (!/^[0-9a-f]{40}$/.test(msgSignature)) {
    fail('invalid_parameter', `msg_signature must be 40 lowercase hex digits (a SHA-1), got ${JSON.stringify(msgSignature)}`);
  }
  const timestamp = param(url, 'timestamp', 10);
  if (!/^\d{1,10}$/.test(timestamp)) fail('invalid_parameter', `timestamp must be unix seconds (digits only), got ${JSON.stringify(timestamp)}`);
  const nonce = param(url, 'nonce', 64);
  ctx.query = { msgSignature, timestamp, nonce };
  if (method === 'GET') {
    const echostr = url.searchParams.getAll('echostr');
    if (echostr.length === 0 || echostr[0] === '') {
      fail('missing_parameter', 'echostr is missing from the URL: a GET is a URL verification and needs one (for a POST callback, give the body with --body or --body-file)');
    }
    ctx.given = param(url, 'echostr', 4096);
    ctx.field = 'echostr';
  }
}

function humanDuration(seconds) {
  const plural = (n, unit) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (seconds < 120) return plural(seconds, 'second');
  if (seconds < 2 * 3600) return plural(Math.round(seconds / 60), 'minute');
  if (seconds < 2 * 86400) return plural(Math.round(seconds / 3600), 'hour');
  if (seconds < 2 * 365 * 86400) return plural(Math.round(seconds / 86400), 'day');
  return plural(Math.round(seconds / (365.25 * 86400)), 'year');
}

function checkTimestamp(ctx) {
  const { now, maxSkew } = ctx.clock;
  if (maxSkew === 0) return { skipped: 'not checked (--max-skew 0)' };
  const skew = Number(ctx.query.timestamp) - now;
  if (Math.abs(skew) > maxSkew) {
    fail(
      'stale_timestamp',
      `the timestamp is ${humanDuration(Math.abs(skew))} ${skew < 0 ? 'behind' : 'ahead of'} the clock, more than the ${maxSkew} s allowed ` +
        `(a replayed or old capture, or a wrong clock; the gateway's limit is WECOM_MAX_SKEW_SECONDS; use --max-skew 0 to skip this check)`,
    );
  }
  return undefined;
}

function checkEnvelope(ctx) {
  const body = ctx.request.body;
  const first = /^[\s\uFEFF]*(.)/s.exec(body.slice(0, 1024))?.[1];
  if (first === '<') {
    if ((body.match(/</g) ?? []).length > 64) fail(-40002, 'the XML envelope has more than 64 tags; WeCom\'s has a handful');
    const decl = /<!(?!--|\[CDATA\[)/.exec(body);
    if (decl) fail(-40002, 'the XML envelope has a declaration (<!DOCTYPE …): refused');
    const open = body.indexOf('<Encrypt>');
    const close = open === -1 ? -1 : body.indexOf('</Encrypt>', open + 9);
    let value = close === -1 ? '' : body.slice(open + 9, close);
    if (value.length >= 12 && value.startsWith('<![CDATA[') && value.endsWith(']]>')) value = value.slice(9, -3);
    if (value === '') fail(-40002, 'the XML body has no <Encrypt> element (or it is empty)');
    ctx.given = value;
    ctx.field = 'Encrypt';
    return 'XML with <Encrypt>';
  }
  if (first === '{') {
    const punctuation = (body.match(/[{[,]/g) ?? []).length;
    if (punctuation > 64) fail(-40002, `the JSON envelope has ${punctuation} of "{", "[" and "," together, more than the 64 allowed; WeCom's has one "{"`);
    // V8's message would quote the body: where it fails is said instead.
    const problem = jsonProblem(body);
    if (problem !== undefined) fail(-40002, `the JSON body does not parse: ${problem}`);
    const parsed = JSON.parse(body);
    const value = parsed?.encrypt;
    if (typeof value !== 'string' || value === '') fail(-40002, 'the JSON body has no "encrypt" string field');
    ctx.given = value;
    ctx.field = 'encrypt';
    return 'JSON with "encrypt"';
  }
  if (first === undefined) fail(-40002, 'the body is empty: a POST callback carries an XML <Encrypt> or a JSON {"encrypt"} envelope');
  fail(-40002, `the body is neither XML nor JSON (it starts with ${JSON.stringify(body.trimStart().slice(0, 20))}): WeCom posts <xml><Encrypt>…</Encrypt></xml> or {"encrypt": "…"}`);
}

/** Once signed, the gateway parses the whole XML envelope: it must be well-formed, with one Encrypt, the root's child. */
function checkXmlEnvelope(ctx) {
  const body = ctx.request.body;
  const problem = xmlProblem(body.replace(/^[\s\uFEFF]+/, ''));
  if (problem) fail(-40002, `the XML envelope is not well-formed: ${problem}`);
  const count = body.split('<Encrypt>').length - 1;
  if (count > 1) fail(-40002, `the XML envelope has ${count} <Encrypt> elements: ambiguous`);
  const before = body.slice(0, body.indexOf('<Encrypt>'));
  const depth = openElements(before);
  if (depth !== 1) fail(-40002, `<Encrypt> is not a child of the root element (it is ${depth} levels deep): the gateway reads no Encrypt there`);
  return 'well-formed, one <Encrypt> under the root';
}

/** How many elements are open at the end of `text` (the start of a document). */
function openElements(text) {
  let depth = 0;
  const token = /<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<\/[^>]*>|<[A-Za-z_][^>]*?(\/?)>/g;
  for (let m; (m = token.exec(text)); ) {
    if (m[0].startsWith('</')) depth--;
    else if (/^<[A-Za-z_]/.test(m[0]) && m[1] !== '/') depth++;
  }
  return depth;
}

function safeDecode(value) {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

function checkSignature(ctx) {
  const { msgSignature, timestamp, nonce } = ctx.query;
  const given = ctx.given;
  const restored = given.replaceAll(' ', '+'); // what the gateway checks and decrypts
  const field = ctx.field;
  const matching = (value) => ctx.settings.credentials.find((c) => signature(c.token, timestamp, nonce, value) === msgSignature);
  const credentialNote = (c) => {
    if (c.label) ctx.notes.push(`it matches the ${c.label} credential (a rotation in progress): the gateway accepts it, but WeCom's console still uses the old Token`);
  };
  const asGiven = ctx.unknownApp ? undefined : matching(given);
  if (asGiven) {
    ctx.credential = asGiven;
    ctx.encrypt = restored;
    credentialNote(asGiven);
    return undefined;
  }
  const afterRestore = ctx.unknownApp ? undefined : matching(restored);
  if (afterRestore) {
    ctx.credential = afterRestore;
    ctx.encrypt = restored;
    ctx.notes.push(`the signature matches only if the '+' in ${field} is restored: your URL decoding turned '+' into spaces (the gateway restores them, so this passes)`);
    credentialNote(afterRestore);
    return undefined;
  }
  // Mishaps the gateway does not undo: say what would have matched.
  const decoded = safeDecode(given);
  const candidates = [
    [decoded, `the signature matches only if ${field} is URL-decoded once more: it was URL-encoded twice (%2B, %2F, %3D left in it)`],
    [decoded?.replaceAll(' ', '+'), `the signature matches only if ${field} is URL-decoded once more and its '+' restored: it was URL-encoded twice`],
    [given.replaceAll('+', ' '), `the signature matches only if the '+' in ${field} is turned into spaces: it was signed over a mangled value`],
  ];
  for (const [value, message] of candidates) {
    if (value !== undefined && value !== given && matching(value)) fail(-40001, message);
  }
  if (ctx.unknownApp) {
    const name = ctx.settings.name;
    fail(-40001, `msg_signature does not match: app ${JSON.stringify(name)} is not a suite, so the gateway answers /callback/${name}/data as an unknown app's URL; send it to /callback/${name}, or give the app its "suite" (providers.md)`);
  }
  const tokens = ctx.settings.credentials.length > 1 ? `none of the ${ctx.settings.credentials.length} Tokens (current and previous) matches` : 'the Token is wrong';
  fail(-40001, `msg_signature does not match: ${tokens} (copy it again from WeCom's console), or the ${ctx.request.method === 'GET' ? 'URL' : 'body or URL'} was changed after WeCom signed it`);
}

function checkBase64(ctx) {
  const e = ctx.encrypt;
  if (BASE64.test(e)) {
    ctx.ciphertext = Buffer.from(e, 'base64');
    return undefined;
  }
  const bad = /[^A-Za-z0-9+/=]/.exec(e);
  if (bad) {
    const hint = bad[0] === '-' || bad[0] === '_' ? ' (URL-safe base64: WeCom uses + and /)' : bad[0] === '%' ? ' (it is still URL-encoded)' : '';
    fail(-40010, `${ctx.field} is not base64: it has ${JSON.stringify(bad[0])} at position ${bad.index}${hint}`);
  }
  if (e.length % 4 !== 0) fail(-40010, `${ctx.field} is not base64: its length ${e.length} is not a multiple of 4 (cut short, or '=' padding dropped)`);
  fail(-40010, `${ctx.field} is not base64: '=' padding is misplaced`);
}

function checkDecryption(ctx) {
  const ct = ctx.ciphertext;
  if (ct.length === 0 || ct.length % 16 !== 0) {
    fail(-40007, `the ciphertext is ${ct.length} bytes, not a positive multiple of 16 (AES blocks): ${ctx.field} was cut short or is not WeCom's`);
  }
  const padded = aesDecryptRaw(ctx.credential.encodingAESKey, ct);
  const n = padded[padded.length - 1];
  if (n === 0) fail(-40007, 'pad byte 0 at the end means a wrong EncodingAESKey (the Token is right: the signature matched)');
  if (n > 32 || n > padded.length) fail(-40007, `pad byte ${n} at the end (it must be 1 to 32): garbage padding, so the EncodingAESKey is wrong (the Token is right: the signature matched)`);
  for (let i = padded.length - n; i < padded.length; i++) {
    if (padded[i] !== n) fail(-40007, `the last ${n} pad bytes are not all ${n}: garbage padding, so the EncodingAESKey is wrong (the Token is right: the signature matched)`);
  }
  ctx.content = padded.subarray(0, padded.length - n);
  return undefined;
}

function checkLength(ctx) {
  const c = ctx.content;
  const keyHint = ' (with the Token right, this usually means a wrong EncodingAESKey whose garbage happened to pass the padding check)';
  if (c.length < 20) fail(-40008, `the decrypted buffer is ${c.length} bytes, shorter than its 20-byte header (16 random bytes and a 4-byte length)${keyHint}`);
  const length = c.readUInt32BE(16);
  if (length > c.length - 20) fail(-40008, `the length field says ${length} bytes but only ${c.length - 20} follow the header${keyHint}`);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  try {
    ctx.message = decoder.decode(c.subarray(20, 20 + length));
  } catch {
    fail(-40008, 'the decrypted message is not valid UTF-8');
  }
  try {
    ctx.receiveId = decoder.decode(c.subarray(20 + length));
  } catch {
    fail(-40008, 'the decrypted receiveId is not valid UTF-8');
  }
  return `${length} bytes of message`;
}

function kindOf(id) {
  if (id === '') return 'an AI bot (智能机器人) callback, whose receiveId is ""';
  if (id.startsWith('tj')) return 'a suite id (third-party app)';
  if (id.startsWith('dk')) return 'a 代开发 template id';
  if (id.startsWith('ww') || id.startsWith('wx')) return 'a corp id';
  return undefined;
}

function checkReceiveId(ctx) {
  const actual = ctx.receiveId;
  const accepted = ctx.settings.receiveId;
  const shown = JSON.stringify(actual);
  if (accepted === undefined) return { skipped: `${shown} (not checked: give --receive-id)` };
  if (accepted === '*') return `${shown} (the app accepts any)`;
  const list = Array.isArray(accepted) ? accepted : [accepted];
  if (list.includes(actual)) return shown;
  const acceptedText = list.map((x) => JSON.stringify(x)).join(' or ') || 'nothing (an empty list)';
  let message = `the message carries receiveId ${shown}, but the app accepts ${acceptedText}`;
  const actualKind = kindOf(actual);
  if (actualKind) {
    const acceptedKinds = [...new Set(list.map((x) => (x.startsWith('ww') || x.startsWith('wx') ? `${x.slice(0, 2)}… (a corp id)` : x === '' ? '"" (an AI bot)' : x.startsWith('tj') ? 'tj… (a suite id)' : undefined)).filter(Boolean))];
    message += `: ${shown} looks like ${actualKind}`;
    if (acceptedKinds.length > 0) message += ` while the app accepts ${acceptedKinds.join(' or ')}`;
  }
  if (actual.startsWith('tj') || actual.startsWith('dk')) {
    message += '. A suite\'s instruction callbacks carry the suite id: make the app a suite ("suite": {"suiteId", "providerCorpId", "ticketToken"}, no receiveId; see providers.md), whose instruction URL takes it';
  } else if (actual === '') message += '. Set receiveId to "" for an AI bot';
  else message += '. Set receiveId to the corpid shown in 我的企业 → 企业信息 → 企业ID (a suite\'s data callbacks, one corp each: make the app a suite, whose data URL takes any corp)';
  fail(-40005, message);
}

/**
 * A suite's receiveId (src/wecom/suite.ts): the provider's corpid for a
 * verification at either URL, the suite id at the instruction URL, any corp
 * at the data URL. One that belongs to the other URL is said to, as the
 * gateway's -40005 does.
 */
function checkSuiteReceiveId(ctx) {
  const { suiteId, providerCorpId } = ctx.settings.suite;
  const name = ctx.settings.name;
  const actual = ctx.receiveId;
  const shown = JSON.stringify(actual);
  const [S, P] = [JSON.stringify(suiteId), JSON.stringify(providerCorpId)];
  const instructionUrl = `the instruction URL /callback/${name} (指令回调URL)`;
  const dataUrl = `the data URL /callback/${name}/data (数据回调URL)`;
  const bot = actual === '' ? ' ("" is an AI bot\'s)' : '';
  if (ctx.request.method === 'GET') {
    if (actual === providerCorpId) return `${shown}, the provider's corpid (suite.providerCorpId), which verifies both of a suite's URLs`;
    if (actual === suiteId) {
      fail(-40005, `receiveId ${shown} is the suite id (suite.suiteId), which ${instructionUrl}'s callbacks carry, not a verification: WeCom verifies both of a suite's URLs with the provider's corpid ${P} (suite.providerCorpId)`);
    }
    fail(-40005, `receiveId ${shown}${bot} is not the provider's corpid ${P} (suite.providerCorpId): WeCom verifies both of a suite's URLs with it; is suite.providerCorpId your provider CorpID (服务商的CorpID)?`);
  }
  if (ctx.suiteUrl === 'instruction') {
    if (actual === suiteId) return `${shown}, the suite id (suite.suiteId): ${instructionUrl}'s`;
    if (actual === providerCorpId) {
      fail(-40005, `receiveId ${shown} is the provider's corpid (suite.providerCorpId), which only the URL verification carries: ${instructionUrl} takes the suite id ${S} (suite.suiteId)`);
    }
    fail(
      -40005,
      `receiveId ${shown}${bot} is not the suite id ${S} (suite.suiteId), which ${instructionUrl} takes: a corp's data callback? Its URL is /callback/${name}/data (数据回调URL); ` +
        "if the console's 指令回调URL and 数据回调URL are not swapped, check suite.suiteId",
    );
  }
  if (actual === suiteId) {
    fail(-40005, `receiveId ${shown} is the suite id (suite.suiteId): an instruction callback, whose URL is /callback/${name} (指令回调URL), not ${dataUrl}, which takes the corp's corpid; are the console's 指令回调URL and 数据回调URL swapped?`);
  }
  if (actual === '') fail(-40005, `receiveId is empty${bot}: a data callback names the corp it is for, and ${dataUrl} takes that corp's corpid`);
  return `${shown}, a corp's: ${dataUrl} takes any corp's, the one the callback names (checked below)`;
}

/**
 * What the gateway checks of a suite's callback once it is parsed
 * (src/wecom/suite.ts): a data callback names the corp it is encrypted for;
 * an instruction callback's SuiteId is the suite's, and a suite_ticket
 * carries a ticket and its TimeStamp.
 */
function checkSuiteCallback(ctx) {
  const fields = topLevelFields(ctx.message);
  const { suiteId } = ctx.settings.suite;
  const shown = (name) => (fields.has(name) ? JSON.stringify(fields.get(name)) : 'none');
  if (ctx.suiteUrl === 'data') {
    const corp = ctx.receiveId;
    const named = ['ToUserName', 'AuthCorpId'].find((name) => fields.get(name) === corp);
    if (named === undefined) {
      fail(
        -40005,
        `receiveId is not the corp the callback names (ToUserName or AuthCorpId): it is encrypted for ${JSON.stringify(corp)}, and names ToUserName ${shown('ToUserName')}, AuthCorpId ${shown('AuthCorpId')}; ` +
          "WeCom encrypts a corp's data callback for the corp it names, so this one is not WeCom's",
      );
    }
    return `for corp ${JSON.stringify(corp)}, as its ${named} says: the event's corpId`;
  }
  const infoType = fields.get('InfoType');
  if (fields.has('SuiteId') && fields.get('SuiteId') !== suiteId) {
    fail(-40005, `SuiteId in the callback is not the suite's (suite.suiteId): it names ${shown('SuiteId')}, not ${JSON.stringify(suiteId)}: another suite's callback, under this one's Token and key`);
  }
  if (infoType === 'suite_ticket') {
    const ticket = fields.get('SuiteTicket');
    if (typeof ticket !== 'string' || ticket === '' || ticket.length > MAX_SUITE_TICKET) {
      fail('invalid_parameter', `a suite_ticket callback must carry a SuiteTicket of 1-${MAX_SUITE_TICKET} characters (it has ${typeof ticket === 'string' ? `${ticket.length}` : 'none'})`);
    }
    if (typeof fields.get('TimeStamp') !== 'string' || !/^\d{1,10}$/.test(fields.get('TimeStamp'))) {
      fail('invalid_parameter', `a suite_ticket callback must carry its TimeStamp in unix seconds (it has ${shown('TimeStamp')})`);
    }
    return `a suite_ticket for suite ${JSON.stringify(suiteId)}: the gateway keeps it for GET /suites/${ctx.settings.name}/ticket, if it is the newest`;
  }
  const what = typeof infoType === 'string' ? `InfoType ${JSON.stringify(infoType)}` : 'no InfoType';
  const corp = fields.get('AuthCorpId');
  const about = typeof corp === 'string' && corp !== '' ? ` for corp ${JSON.stringify(corp)} (AuthCorpId: the event's corpId)` : '';
  return `${what}${about}${fields.has('SuiteId') ? `, SuiteId the suite's` : ''}; answered exactly "success"`;
}

/** The longest suite_ticket the gateway keeps (src/wecom/suite.ts). */
const MAX_SUITE_TICKET = 512;

/**
 * The plaintext's top-level fields as the gateway's parse gives them (the
 * root element's children, or a JSON object's keys): name → its text, for a
 * field that is given once and is text; name → null for one that is repeated
 * or has elements of its own (it then equals no string, as in the gateway).
 * The plaintext is well-formed already (checkPlaintext).
 */
function topLevelFields(message) {
  const fields = new Map();
  if (/^[\s\uFEFF]*\{/.test(message)) {
    for (const [name, value] of Object.entries(JSON.parse(message))) fields.set(name, typeof value === 'string' ? value : null);
    return fields;
  }
  const token = /<!\[CDATA\[([\s\S]*?)\]\]>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<\/([^>\s]*)\s*>|<([A-Za-z_][\w.:-]*)(?:\s+[^<>]*?)?(\/?)>|([^<]+)/g;
  let depth = 0;
  let field;
  for (let m; (m = token.exec(message)); ) {
    if (m[3] !== undefined) {
      depth++;
      if (depth === 2) field = { name: m[3], text: '', nested: false };
      else if (depth > 2) field.nested = true;
      if (m[4] === '/') m[0] = `</${m[3]}>`;
      else continue;
    }
    if (m[0].startsWith('</')) {
      if (depth === 2) fields.set(field.name, fields.has(field.name) || field.nested ? null : field.text.trim());
      depth--;
    } else if (depth === 2 && m[1] !== undefined) field.text += m[1];
    else if (depth === 2 && m[5] !== undefined) field.text += decodeEntities(m[5]);
  }
  return fields;
}

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(text) {
  return text.replace(/&(amp|lt|gt|quot|apos|#\d{1,7}|#x[0-9a-fA-F]{1,6});/g, (whole, name) => {
    if (!name.startsWith('#')) return ENTITIES[name];
    const code = name.startsWith('#x') ? parseInt(name.slice(2), 16) : Number(name.slice(1));
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

function checkPlaintext(ctx) {
  if (ctx.request.method === 'GET') return 'the echostr answer';
  const m = ctx.message;
  const first = /^[\s\uFEFF]*(.)/s.exec(m)?.[1];
  if (first === '{') {
    const problem = jsonProblem(m);
    if (problem !== undefined) fail(-40002, `the decrypted message is not valid JSON: ${problem}`);
    const parsed = JSON.parse(m);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) fail(-40002, 'the decrypted JSON is not an object');
    return 'JSON object';
  }
  if (first === '<') {
    const problem = xmlProblem(m);
    if (problem) fail(-40002, `the decrypted message is not well-formed XML: ${problem}`);
    return 'XML';
  }
  fail(-40002, 'the decrypted message is neither XML nor a JSON object');
}

/** A small well-formedness check: balanced tags, CDATA, comments, processing instructions; no DOCTYPE. */
function xmlProblem(text) {
  const stack = [];
  let i = 0;
  let roots = 0;
  const token = /<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<![^>]*>|<\/([A-Za-z_][\w.:-]*)\s*>|<([A-Za-z_][\w.:-]*)(?:\s+[^<>]*?)?(\/?)>|</g;
  for (let m; (m = token.exec(text)); ) {
    const between = text.slice(i, m.index);
    if (stack.length === 0 && between.trim() !== '') return 'text outside the root element';
    i = m.index + m[0].length;
    if (m[0] === '<') return `a stray '<' at ${m.index}`;
    if (m[0].startsWith('<!') && !m[0].startsWith('<!--') && !m[0].startsWith('<![CDATA[')) return 'a declaration (<!DOCTYPE …)';
    if (m[0].startsWith('<![CDATA[') && stack.length === 0) return 'CDATA outside the root element';
    if (m[1] !== undefined) {
      const open = stack.pop();
      if (open !== m[1]) return open === undefined ? `</${m[1]}> closes nothing` : `</${m[1]}> closes <${open}>`;
    } else if (m[2] !== undefined) {
      if (stack.length === 0) roots++;
      if (roots > 1) return 'more than one root element';
      if (m[3] !== '/') stack.push(m[2]);
    }
  }
  if (text.slice(i).trim() !== '') return 'text after the root element';
  if (stack.length > 0) return `<${stack.at(-1)}> is never closed`;
  if (roots === 0) return 'no root element';
  return undefined;
}

// --------------------------------------------------------------- send ----

/**
 * --send: the callback as captured, sent to the gateway, and its answer
 * shown beside the checks'. Returns 0 when the gateway answers 200, else 1.
 */
async function send(request, timeoutMs, out) {
  const url = new URL(request.rawUrl);
  const where = `${request.method} ${url.origin}${url.pathname}`;
  // The gateway's base: what comes before /callback/NAME (a gateway may sit under a path).
  const base = `${url.origin}${url.pathname.replace(/\/callback\/[^/]*(\/data)?\/?$/, '')}`;
  const json = request.body !== undefined && /^[\s\uFEFF]*\{/.test(request.body);
  let answer;
  try {
    answer = await exchange(url.href, {
      method: request.method,
      body: request.body,
      headers: { 'user-agent': 'wecom-edge diagnose', ...(request.body !== undefined ? { 'content-type': json ? 'application/json' : 'text/xml' } : {}) },
      timeoutMs,
    });
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
    out.stdout(`\n✘ gateway: ${where}: ${error.message}\n`);
    return 1;
  }
  const refusal = refusalOf(answer.text);
  out.stdout('\n');
  if (answer.status === 200) {
    const id = answer.headers.get('wecom-edge-event-id');
    const event = id === null ? '' : answer.headers.get('wecom-edge-duplicate') === '1' ? ` (a duplicate of event ${oneLine(id)})` : ` (event ${oneLine(id)})`;
    out.stdout(`✔ gateway: ${where} answered 200 ${oneLine(JSON.stringify(answer.text.slice(0, 120)))}${answer.text.length > 120 ? '…' : ''}${event}\n`);
    return 0;
  }
  if (refusal === undefined) {
    out.stdout(`✘ gateway: ${where} answered ${answer.status} ${oneLine(JSON.stringify(answer.text.slice(0, 120)))}\n`);
    return 1;
  }
  out.stdout(`✘ gateway (${oneLine(refusal.code)}): ${where} answered ${answer.status} ${oneLine(refusal.message)}\n`);
  const hint = configHint(base, answer.status, refusal);
  if (hint) for (const line of hint) out.stdout(`  ${line}\n`);
  return 1;
}

// `wecom-edge tail` against the gateway running in workerd (wrangler dev).
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, startGateway } from '../support/gateway.mjs';
import { resolveReferences } from '../../bin/lib/apps-file.mjs';
import { sealCallback } from '../../bin/lib/wecom-side.mjs';
import { APP_EVENT_KINDS, appsFile, kindOfEvent, run, startFakeQueue, until } from './helpers.mjs';

const CORP_ID = 'ww3e40cde07cc21a01';
const ADMIN_TOKEN = 'admin-token-for-the-cli-tests-0123456789';
const BIN = fileURLToPath(new URL('../../bin/wecom-edge.mjs', import.meta.url));
const HEADER = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) {2}(evt_[0-9a-f]{32}) {2}(\S+)( {2}\(delivery (\d+)\))?$/;

async function keygen(args) {
  const r = await run(['keygen', '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  // keygen's {config, secrets}, made whole: a WECOM_APPS entry.
  const { config, secrets } = JSON.parse(r.stdout);
  return resolveReferences(config, secrets);
}

/**
 * tail's text output: [{ receivedAt, id, kind, delivery, json }] (a header line, the JSON line, a blank line).
 * Strict, it asserts that all of `stdout` is such records; otherwise (while
 * polling a running tail) it reads only the complete records and gives
 * undefined for anything it cannot read yet.
 */
function parseText(stdout, { strict = true } = {}) {
  const lines = stdout.split('\n');
  const complete = lines.slice(0, -1); // the last is what follows the last line break: '' or a line still coming
  if (strict) assert.equal(lines.at(-1), '', 'the output ends with a line break');
  const events = [];
  for (let i = 0; i + 3 <= complete.length; i += 3) {
    const m = HEADER.exec(complete[i]);
    if (!strict && (m === null || complete[i + 2] !== '')) return undefined;
    assert.ok(m, `not a header line: ${JSON.stringify(complete[i])}`);
    assert.equal(complete[i + 2], '');
    events.push({ receivedAt: m[1], id: m[2], kind: m[3], delivery: m[5] === undefined ? 1 : Number(m[5]), json: complete[i + 1] });
  }
  if (strict) assert.equal(complete.length % 3, 0, `a record cut short: ${JSON.stringify(stdout.slice(-200))}`);
  return events;
}

const BOT_PULL_TOKEN = 'bot-pull-token-for-the-tail-tests-0123';
const AUDIT_PULL_TOKEN = 'audit-pull-token-for-the-tail-tests-0123';
/** A webhook secret keygen made, for a destination that is never pushed to. */
const apps0Secret = (entry) => Object.values(entry)[0].webhook.secret;

const LOOK_WARNING =
  'tail: warning: --no-ack still leases what it shows, and each look counts one delivery toward pull.maxAttempts (default 20); the events are released to the consumer at once\n';

describe('tail against the gateway in workerd', { timeout: 180_000 }, () => {
  let gateway;
  let apps;
  let file;
  const stats = async (app) => (await fetch(`${gateway.url}/admin/apps/${app}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
  const tail = (app, ...args) => run(['tail', gateway.url, '--app', app, '--apps', file, '--timeout', '30000', ...args]);

  before(async () => {
    const tickets = await keygen(['--app', 'tickets', '--receive-id', CORP_ID, '--pull']);
    const live = await keygen(['--app', 'live', '--receive-id', CORP_ID, '--pull']);
    const raw = await keygen(['--app', 'raw', '--receive-id', '', '--pull']);
    const hr = await keygen(['--app', 'hr', '--receive-id', CORP_ID, '--webhook', 'http://127.0.0.1:9/unused']);
    // An app with destinations (docs/routing.md): a bot that pulls text messages, transformed (no id in the item;
    // JSONata's double quotes: the test's wrangler --env-file takes no ');
    // an audit log that pulls everything, as stored; a webhook that takes nothing of what the tests send.
    const { pull: _, ...routedKeys } = (await keygen(['--app', 'routed', '--receive-id', CORP_ID, '--pull'])).routed;
    const routed = {
      ...routedKeys,
      destinations: {
        bot: { match: { MsgType: 'text' }, transform: '{"text": event.Content, "from": event.FromUserName}', pull: { token: BOT_PULL_TOKEN } },
        audit: { pull: { token: AUDIT_PULL_TOKEN } },
        crm: { match: { Event: 'change_external_contact' }, webhook: { url: 'http://127.0.0.1:9/unused', secret: apps0Secret(hr) } },
      },
    };
    apps = { ...tickets, ...live, ...raw, ...hr, routed };
    file = appsFile(apps);
    gateway = await startGateway({ apps, adminToken: ADMIN_TOKEN });
  });

  after(async () => {
    await gateway?.stop();
  });

  test('simulate fills a pull app; tail --once --no-ack shows every event and releases it at once; tail acks them; then nothing is left', async () => {
    const sim = await run(['simulate', gateway.url, '--app', 'tickets', '--apps', file, '--timeout', '30000']);
    assert.equal(sim.code, 0, sim.stdout + sim.stderr);
    const kinds = Object.values(APP_EVENT_KINDS).sort();

    // Look without taking: NDJSON, nothing acked; leases of 5 minutes, yet released at once.
    const look = await tail('tickets', '--once', '--no-ack', '--json', '--lease', '300', '--max', '5');
    assert.equal(look.code, 0, look.stderr);
    assert.equal(look.stderr, LOOK_WARNING);
    const lines = look.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 17);
    const looked = lines.map((line) => JSON.parse(line));
    assert.deepEqual(looked.map((e) => kindOfEvent(e.event)).sort(), kinds);
    assert.equal(new Set(looked.map((e) => e.id)).size, 17);
    const held = await stats('tickets');
    assert.deepEqual([held.depth, held.delivered, held.leased], [17, 0, 0]);

    // Another consumer gets them all at once, not after the 5 minutes, as their second delivery; it hands them back.
    const pullToken = { authorization: `Bearer ${apps.tickets.pull.token}`, 'content-type': 'application/json' };
    const pulled = await (await fetch(`${gateway.url}/queue/tickets/pull`, { method: 'POST', headers: pullToken, body: '{"max":100,"leaseSeconds":300}' })).json();
    assert.deepEqual(pulled.events.map((e) => e.id).sort(), looked.map((e) => e.id).sort());
    assert.deepEqual(Object.values(pulled.attempts), Array(17).fill(2));
    const ids = pulled.events.map((e) => e.id);
    const nack = await fetch(`${gateway.url}/queue/tickets/nack`, { method: 'POST', headers: pullToken, body: JSON.stringify({ ids, lease: pulled.lease, delaySeconds: 0 }) });
    assert.deepEqual(await nack.json(), { released: 17, notReleased: [] });

    // Take: printed (the third delivery of each) and acked.
    const take = await tail('tickets', '--once');
    assert.equal(take.code, 0, take.stderr);
    assert.equal(take.stderr, 'tail: drained, 17 events printed and acked\n');
    const taken = parseText(take.stdout);
    assert.equal(taken.length, 17);
    assert.deepEqual(taken.map((e) => e.kind).sort(), kinds);
    assert.deepEqual(taken.map((e) => e.delivery), Array(17).fill(3));
    // The same bytes as the NDJSON run printed, and the header says what the JSON says.
    const byId = new Map(lines.map((line) => [JSON.parse(line).id, line]));
    for (const e of taken) {
      assert.equal(e.json, byId.get(e.id));
      const event = JSON.parse(e.json);
      assert.deepEqual([event.id, event.receivedAt, kindOfEvent(event.event)], [e.id, e.receivedAt, e.kind]);
    }
    const done = await stats('tickets');
    assert.deepEqual([done.depth, done.delivered], [0, 17]);

    const again = await tail('tickets', '--once');
    assert.deepEqual([again.code, again.stdout, again.stderr], [0, '', 'tail: drained, 0 events printed and acked\n']);
  });

  test('tail prints the stored event JSON byte for byte: a 20-digit number keeps its digits', async () => {
    const plaintext = '{"msgid":"raw-1","n":12345678901234567890123,"f":1.0,"s":"\\u4f60","msgtype":"event","event":{"eventtype":"feedback_event"}}';
    const sealed = sealCallback(`${gateway.url}/callback/raw`, { ...apps.raw, receiveId: '' }, plaintext, { format: 'json' });
    const response = await fetch(sealed.url, { method: 'POST', body: sealed.body });
    assert.equal(response.status, 200);
    const r = await tail('raw', '--once', '--json');
    assert.equal(r.code, 0, r.stderr);
    const [line, ...rest] = r.stdout.trimEnd().split('\n');
    assert.deepEqual(rest, []);
    assert.ok(line.includes(`,"format":"json","event":${plaintext},"raw":${JSON.stringify(plaintext)}}`), line);
    const text = await tail('raw', '--once');
    assert.equal(text.stdout, '');
  });

  test("a WeCom user's message that drives a terminal: escaped on a terminal, byte for byte into a pipe", async () => {
    // In WeCom's JSON, ESC and BEL can only come escaped; C1 (OSC, ST, CSI), DEL and bidi overrides come as they are.
    const content = '\\u001b]0;title\\u0007 \u009d0;title\u009c \u009d52;c;aGk=\u009c \u009b2J \u007f \u202eevil\u202c \u2066x\u2069';
    const plaintext = `{"msgid":"hostile-1","msgtype":"text","text":{"content":"${content}"},"from":{"userid":"u"}}`;
    const sealed = sealCallback(`${gateway.url}/callback/raw`, { ...apps.raw, receiveId: '' }, plaintext, { format: 'json' });
    assert.equal((await fetch(sealed.url, { method: 'POST', body: sealed.body })).status, 200);

    const piped = await tail('raw', '--once', '--no-ack', '--json');
    assert.equal(piped.code, 0, piped.stderr);
    const line = piped.stdout.slice(0, -1);
    assert.equal(piped.stdout, `${line}\n`);
    assert.ok(line.includes(`"event":${plaintext},`), line); // the bytes as stored: C1 and all

    const shown = await run(['tail', gateway.url, '--app', 'raw', '--apps', file, '--timeout', '30000', '--once'], { env: { WECOM_EDGE_TTY: '1' } });
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(shown.stderr, 'tail: drained, 1 event printed and acked\n');
    const [header, json, blank, end] = shown.stdout.split('\n');
    assert.deepEqual([blank, end], ['', '']);
    assert.match(header, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z {2}evt_[0-9a-f]{32} {2}text {2}\(delivery 2\)$/);
    const visible = [['\u009b', '\\u009b'], ['\u009c', '\\u009c'], ['\u009d', '\\u009d'], ['\u007f', '\\u007f'], ['\u202c', '\\u202c'], ['\u202e', '\\u202e'], ['\u2066', '\\u2066'], ['\u2069', '\\u2069']];
    assert.equal(json, visible.reduce((text, [raw, escaped]) => text.replaceAll(raw, escaped), line));
    assert.doesNotMatch(shown.stdout, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    assert.deepEqual(JSON.parse(json), JSON.parse(line));
  });

  test('tail follows the queue until Ctrl-C, acking as it goes', async () => {
    const child = spawn(process.execPath, [BIN, 'tail', gateway.url, '--app', 'live', '--apps', file, '--interval', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    try {
      const sim = await run(['simulate', gateway.url, '--app', 'live', '--apps', file, '--only', 'text,click', '--timeout', '30000']);
      assert.equal(sim.code, 0, sim.stdout + sim.stderr);
      await until(() => (parseText(stdout, { strict: false })?.length === 2 ? true : undefined), 'tail to print both events');
      await until(async () => ((await stats('live')).delivered === 2 ? true : undefined), 'the acks');
    } finally {
      child.kill('SIGINT');
    }
    assert.deepEqual(await exited, { code: 0, signal: null });
    assert.deepEqual(parseText(stdout).map((e) => e.kind).sort(), ['event/click', 'text']);
    assert.equal(stderr, 'tail: stopped after 2 events\n');
    assert.equal((await stats('live')).depth, 0);
  });

  test('--destination: a named pull destination through /queue/{app}/{destination}/…, a transformed item acked by the answer\'s ids', async () => {
    const sim = await run(['simulate', gateway.url, '--app', 'routed', '--apps', file, '--only', 'text,click', '--timeout', '30000']);
    assert.equal(sim.code, 0, sim.stdout + sim.stderr);
    const destination = async (name) => (await stats('routed')).destinations.find((d) => d.name === name);
    assert.deepEqual([(await destination('bot')).depth, (await destination('audit')).depth], [1, 2]);

    // Look: the bot's item is the transform's result, without an id; its header names the event by the answer's ids.
    const look = await tail('routed', '--destination', 'bot', '--once', '--no-ack');
    assert.equal(look.code, 0, look.stderr);
    assert.equal(look.stderr, `${LOOK_WARNING}tail: drained, 1 event printed and released\n`);
    const [header, item, blank, end] = look.stdout.split('\n');
    assert.deepEqual([blank, end], ['', '']);
    const m = /^\? {2}(evt_[0-9a-f]{32}) {2}transformed$/.exec(header);
    assert.ok(m, header);
    const transformed = JSON.parse(item);
    assert.deepEqual(Object.keys(transformed), ['text', 'from']);
    assert.equal(typeof transformed.text, 'string');
    assert.equal((await destination('bot')).depth, 1, 'released, not acked');

    // Take, as NDJSON: acked by the ids of the pull answer; audit and the default path are untouched.
    const take = await tail('routed', '--destination', 'bot', '--once', '--json');
    assert.equal(take.code, 0, take.stderr);
    assert.equal(take.stderr, '');
    assert.equal(take.stdout, `${item}\n`);
    const bot = await destination('bot');
    assert.deepEqual([bot.depth, bot.delivered], [0, 1]);
    assert.deepEqual([(await destination('audit')).depth, (await destination('audit')).delivered], [2, 0]);

    // audit's token from wecom-edge.config.json and a secrets file: destinations.audit.pull.token, a reference.
    const config = appsFile({ apps: { routed: { ...apps.routed, destinations: { ...apps.routed.destinations, audit: { pull: { token: { secret: 'ROUTED_AUDIT_PULL_TOKEN' } } } } } } });
    const secrets = appsFile({ ROUTED_AUDIT_PULL_TOKEN: AUDIT_PULL_TOKEN });
    const audit = await run(['tail', gateway.url, '--app', 'routed', '--destination', 'audit', '--config', config, '--secrets', secrets, '--once', '--timeout', '30000']);
    assert.equal(audit.code, 0, audit.stderr);
    assert.equal(audit.stderr, 'tail: drained, 2 events printed and acked\n');
    const events = parseText(audit.stdout);
    assert.deepEqual(events.map((e) => e.kind).sort(), ['event/click', 'text']);
    assert.equal(events.find((e) => e.kind === 'text').id, m[1], 'the same event as the bot got');
    for (const e of events) assert.equal(JSON.parse(e.json).id, e.id);
    assert.deepEqual([(await destination('audit')).depth, (await destination('audit')).delivered], [0, 2]);

    // A reference to a secret the file lacks is named with its path.
    const missing = await run(['tail', gateway.url, '--app', 'routed', '--destination', 'audit', '--config', config, '--secrets', appsFile({}), '--once']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /apps\.routed\.destinations\.audit\.pull\.token names secret ROUTED_AUDIT_PULL_TOKEN, which is not set in /);
  });

  test('--destination: one destination\'s token opens no other; a webhook destination, an unknown one and a bad name are said plainly', async () => {
    const wrong = await run(['tail', gateway.url, '--app', 'routed', '--destination', 'audit', '--token', BOT_PULL_TOKEN, '--once']);
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stderr, `wecom-edge tail: the pull token is wrong, or the app has no pull destination "audit" (401 from ${gateway.url}/queue/routed/audit/pull)\n`);
    // Without --destination: the default path, which an app with named destinations does not have.
    const noDefault = await run(['tail', gateway.url, '--app', 'routed', '--token', BOT_PULL_TOKEN, '--once']);
    assert.equal(noDefault.code, 1);
    assert.match(noDefault.stderr, /the pull token is wrong, or the app is not a pull app \(401 from .*\/queue\/routed\/pull\)/);
    const fromFile = await tail('routed', '--once');
    assert.equal(fromFile.code, 2);
    assert.match(fromFile.stderr, /^wecom-edge tail: app "routed" in .*apps\.json has no pull\.token: its events go to its destinations \(bot, audit, crm\); give --destination NAME\n/);
    const pushes = await tail('routed', '--destination', 'crm', '--once');
    assert.equal(pushes.code, 2);
    assert.match(pushes.stderr, /^wecom-edge tail: app "routed" in .*apps\.json has no destinations\.crm\.pull\.token: tail reads pull destinations \(destination "crm" pushes to a webhook\)\n/);
    const unknown = await tail('routed', '--destination', 'oa', '--once');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^wecom-edge tail: app "routed" in .*apps\.json has no destination "oa" \(it has: bot, audit, crm\)\n/);
    const legacy = await tail('tickets', '--destination', 'oa', '--once');
    assert.equal(legacy.code, 2);
    assert.match(legacy.stderr, /has no destination "oa" \(it has no destinations\)/);
    const badName = await run(['tail', gateway.url, '--app', 'routed', '--destination', 'Bot!', '--token', BOT_PULL_TOKEN]);
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /^wecom-edge tail: --destination must be a destination's name: 1-32 of a-z, 0-9, _ and -, got "Bot!"\n/);
    // --destination default is the default path, with the app's top-level pull.token.
    const explicit = await tail('tickets', '--destination', 'default', '--once');
    assert.deepEqual([explicit.code, explicit.stderr], [0, 'tail: drained, 0 events printed and acked\n']);
  });

  test('a wrong pull token, or an app that pushes: 401, said plainly, exit 1', async () => {
    const wrong = await run(['tail', gateway.url, '--app', 'tickets', '--token', 'not-the-pull-token-0123', '--once']);
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stderr, `wecom-edge tail: the pull token is wrong, or the app is not a pull app (401 from ${gateway.url}/queue/tickets/pull)\n`);
    const pushApp = await run(['tail', gateway.url, '--app', 'hr', '--token', apps.tickets.pull.token, '--once']);
    assert.equal(pushApp.code, 1);
    assert.match(pushApp.stderr, /the pull token is wrong, or the app is not a pull app/);
    const fromFile = await tail('hr', '--once');
    assert.equal(fromFile.code, 2);
    assert.match(fromFile.stderr, /app "hr" in .*apps\.json has no pull\.token: tail reads pull apps/);
  });
});

describe('tail: help and errors', () => {
  test('--help prints the usage and exits 0', async () => {
    const r = await run(['tail', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: wecom-edge tail <base-url> --app NAME \[--config FILE\] \[--secrets FILE\]\n {22}\[--apps FILE \| --token PULL_TOKEN\] \[--destination NAME\]\n/);
    assert.match(r.stdout, /--no-ack/);
    assert.match(r.stdout, /--destination NAME {2}one of the app's pull destinations/);
    assert.match(r.stdout, /destinations\.NAME\.pull\.token/);
  });

  test('no --app, no token, a bad base URL, bad numbers: exit 2 with a clear message', async () => {
    const noApp = await run(['tail', 'http://127.0.0.1:8787', '--token', 'x']);
    assert.equal(noApp.code, 2);
    assert.match(noApp.stderr, /^wecom-edge tail: --app NAME is required/);
    // No token on the command line: the app comes from the configuration file, which has none here.
    const config = appsFile({ apps: {} }); // a wecom-edge.config.json with no apps
    const noToken = await run(['tail', 'http://127.0.0.1:8787', '--app', 'hr', '--config', config]);
    assert.equal(noToken.code, 2);
    assert.equal(noToken.stderr, `wecom-edge tail: no app "hr" in ${config} (it has: none); add one with: npx wecom-edge keygen --app hr --dev\nRun 'wecom-edge tail --help' for usage.\n`);
    const emptyToken = await run(['tail', 'http://127.0.0.1:8787', '--app', 'hr', '--token', '']);
    assert.equal(emptyToken.code, 2);
    assert.match(emptyToken.stderr, /^wecom-edge tail: --token is empty: give the destination's pull token, or leave --token out to read it from wecom-edge.config.json\n/);
    const badUrl = await run(['tail', 'not a url', '--app', 'hr', '--token', 'x']);
    assert.equal(badUrl.code, 2);
    assert.match(badUrl.stderr, /invalid base URL "not a url"/);
    const badMax = await run(['tail', 'http://127.0.0.1:8787', '--app', 'hr', '--token', 'x', '--max', '101']);
    assert.equal(badMax.code, 2);
    assert.match(badMax.stderr, /--max must be a whole number from 1 to 100, got "101"/);
    const extra = await run(['tail', 'http://127.0.0.1:8787', 'http://other', '--app', 'hr', '--token', 'x']);
    assert.equal(extra.code, 2);
    assert.match(extra.stderr, /unexpected argument "http:\/\/other"/);
  });

  test('--no-ack without --once is refused: following would lease the same events again and again', async () => {
    const r = await run(['tail', 'http://127.0.0.1:8787', '--app', 'hr', '--token', 'x', '--no-ack']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      'wecom-edge tail: --no-ack needs --once: every pull leases the events it shows and counts one delivery toward pull.maxAttempts (default 20), ' +
        'so following without acking would lease the same events again every --lease seconds until they became dead letters. ' +
        "Use --once --no-ack to look once (the events are then released to the consumer at once)\nRun 'wecom-edge tail --help' for usage.\n",
    );
  });

  test('an unreachable gateway with --once: retried with backoff, reported, then exit 1', async () => {
    const port = await freePort();
    const r = await run(['tail', `http://127.0.0.1:${port}`, '--app', 'hr', '--token', 'x', '--once']);
    assert.equal(r.code, 1);
    const reason = `cannot reach http://127.0.0.1:${port}: the connection was refused (nothing listens there) (ECONNREFUSED)`;
    assert.equal(r.stderr, `tail: ${reason}; retrying in 1 s\ntail: ${reason}; retrying in 2 s\nwecom-edge tail: ${reason}; gave up after 3 attempts\n`);
    assert.equal(r.stdout, '');
  });
});

/** An event as the gateway stores it, for the fake pull API. */
const fakeEvent = (id, kind = 'text') => `{"id":"${id}","app":"fake","receiveId":"ww3e40cde07cc21a01","receivedAt":"2026-11-29T08:57:16.651Z","format":"xml","event":{"MsgType":"${kind}"},"raw":"<xml/>"}`;
/** A pull answer: the events spliced in as they are, as the gateway does. */
const batch = (lease, ...ids) => ({
  status: 200,
  body: `{"events":[${ids.map((id) => fakeEvent(id)).join(',')}],"lease":"${lease}","attempts":{${ids.map((id) => `"${id}":1`).join(',')}}}`,
});
const record = (id) => `2026-11-29T08:57:16.651Z  ${id}  text\n${fakeEvent(id)}\n\n`;

describe('tail against a stand-in pull API: releases, acks that fail, odd answers', () => {
  let queue;
  afterEach(async () => {
    await queue?.close();
    queue = undefined;
  });
  const tail = (...args) => run(['tail', queue.url, '--app', 'fake', '--token', 'pull-token-0123', ...args]);
  const verbs = () => queue.requests.map((r) => r.verb);

  test('--once --no-ack keeps every lease until nothing more is leased, then releases each at once', async () => {
    queue = await startFakeQueue({ pull: [batch('lease-1', 'evt_a', 'evt_b'), batch('lease-2', 'evt_c')] });
    const r = await tail('--once', '--no-ack', '--max', '2');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, record('evt_a') + record('evt_b') + record('evt_c'));
    assert.equal(r.stderr, `${LOOK_WARNING}tail: drained, 3 events printed and released\n`);
    assert.deepEqual(verbs(), ['pull', 'pull', 'pull', 'nack', 'nack']);
    assert.deepEqual(queue.requests.slice(3).map((q) => q.body), [
      { ids: ['evt_a', 'evt_b'], lease: 'lease-1', delaySeconds: 0 },
      { ids: ['evt_c'], lease: 'lease-2', delaySeconds: 0 },
    ]);
    assert.ok(queue.requests.every((q) => q.authorization === 'Bearer pull-token-0123'));
  });

  test('--once --no-ack stopped by Ctrl-C: what it looked at is released', async () => {
    queue = await startFakeQueue({ pull: [batch('lease-1', 'evt_a'), 'hang'] });
    const child = spawn(process.execPath, [BIN, 'tail', queue.url, '--app', 'fake', '--token', 'pull-token-0123', '--once', '--no-ack'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    await queue.received(2); // the second pull is waiting for its answer
    child.kill('SIGINT');
    assert.deepEqual(await exited, { code: 0, signal: null });
    assert.equal(stdout, record('evt_a'));
    assert.equal(stderr, `${LOOK_WARNING}tail: stopped after 1 event, 1 released\n`);
    assert.deepEqual(verbs(), ['pull', 'pull', 'nack']);
    assert.deepEqual(queue.requests[2].body, { ids: ['evt_a'], lease: 'lease-1', delaySeconds: 0 });
  });

  test('an ack answered 400 is reported at once, not retried', async () => {
    queue = await startFakeQueue({
      pull: [batch('lease-1', 'evt_a')],
      ack: [{ status: 400, body: { error: { code: 'invalid_parameter', message: 'lease must be a lease from a pull' } } }],
    });
    const r = await tail('--once');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, record('evt_a'));
    assert.equal(
      r.stderr,
      'tail: could not ack 1 event (the gateway answered 400 invalid_parameter: lease must be a lease from a pull); they come back when the lease runs out\n' +
        'tail: drained, 1 event printed, 0 acked\n',
    );
    assert.deepEqual(verbs(), ['pull', 'ack', 'pull']);
  });

  test('an ack answered 401 stops tail at once, exit 1', async () => {
    queue = await startFakeQueue({ pull: [batch('lease-1', 'evt_a')], ack: [{ status: 401, body: { error: { code: 'unauthorized', message: 'unauthorized' } } }] });
    const r = await tail('--once');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, record('evt_a'));
    assert.equal(r.stderr, `wecom-edge tail: the pull token is wrong, or the app is not a pull app (401 from ${queue.url}/queue/fake/ack)\n`);
    assert.deepEqual(verbs(), ['pull', 'ack']);
  });

  test('an ack answered 503 is retried, and the retry acks', async () => {
    queue = await startFakeQueue({ pull: [batch('lease-1', 'evt_a')], ack: [{ status: 503, body: 'busy' }] });
    const r = await tail('--once');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, 'tail: ack failed (the gateway answered 503); retrying in 1 s\ntail: drained, 1 event printed and acked\n');
    assert.deepEqual(verbs(), ['pull', 'ack', 'ack', 'pull']);
    assert.deepEqual(queue.requests[2].body, { ids: ['evt_a'], lease: 'lease-1' });
  });

  test('an ack that comes back expired: said, with what it means', async () => {
    queue = await startFakeQueue({ pull: [batch('lease-1', 'evt_a', 'evt_b')], ack: [{ status: 200, body: { acked: 1, notAcked: [{ id: 'evt_b', reason: 'expired' }] } }] });
    const r = await tail('--once');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stderr,
      'tail: evt_b was not acked (expired: the lease ran out, so it will be delivered again; try a longer --lease)\ntail: drained, 2 events printed, 1 acked\n',
    );
  });

  test('a pull answer with "ids": each item is acked by its id there, also one without an id of its own', async () => {
    const answer = { status: 200, body: `{"events":[{"text":"hi"},${fakeEvent('evt_b')}],"ids":["evt_a","evt_b"],"lease":"lease-1","attempts":{"evt_a":2,"evt_b":1}}` };
    queue = await startFakeQueue({ pull: [answer] });
    const r = await tail('--once');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `?  evt_a  transformed  (delivery 2)\n{"text":"hi"}\n\n${record('evt_b')}`);
    assert.equal(r.stderr, 'tail: drained, 2 events printed and acked\n');
    assert.deepEqual(queue.requests[1].body, { ids: ['evt_a', 'evt_b'], lease: 'lease-1' });
  });

  test('a pull answer whose "ids" does not match its events is refused, exit 1', async () => {
    queue = await startFakeQueue({ pull: [{ status: 200, body: `{"events":[${fakeEvent('evt_a')}],"ids":[],"lease":"lease-1","attempts":{}}` }] });
    const r = await tail('--once');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^wecom-edge tail: the pull answer is not the gateway's \{"events", "ids", "lease", "attempts"\}: /);
    assert.deepEqual(verbs(), ['pull']);
  });

  test('events that are not the gateway\'s event objects are printed as they came, with a warning, and not acked', async () => {
    const odd = { status: 200, body: `{"events":[42,{"no":"id"},${fakeEvent('evt_c')}],"lease":"lease-1","attempts":{"evt_c":3}}` };
    queue = await startFakeQueue({ pull: [odd] });
    const r = await tail('--once');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `?  ?  xml\n42\n\n?  ?  xml\n{"no":"id"}\n\n2026-11-29T08:57:16.651Z  evt_c  text  (delivery 3)\n${fakeEvent('evt_c')}\n\n`);
    const warning = 'tail: an event without an "id" (not the gateway\'s event JSON) was printed as it came, and is not acked\n';
    assert.equal(r.stderr, `${warning}${warning}tail: drained, 3 events printed, 1 acked\n`);
    assert.deepEqual(queue.requests[1].body, { ids: ['evt_c'], lease: 'lease-1' });
  });
});

// ------------------------------------------------------- terminal safety ----

/**
 * An event whose text drives a terminal: in the JSON, ESC and BEL are JSON
 * escapes already, but C1 (\u009d OSC, \u009c ST, \u009b CSI), DEL and the
 * bidi overrides stand raw; its id and MsgType hold a CSI and a line break.
 */
const HOSTILE_ID = 'evt_h\u009b2J';
const hostileEvent =
  `{"id":"${HOSTILE_ID}","app":"fake","receiveId":"ww3e40cde07cc21a01","receivedAt":"2026-11-29T08:57:16.651Z","format":"xml",` +
  `"event":{"MsgType":"te\\nxt","Content":"\\u001b]0;title\\u0007 \u009d52;c;aGk=\u009c \u009b2J \u007f \u202eevil\u202c \u2066x\u2069"},"raw":"<xml/>"}`;
/** The same, as a terminal shows it: the same JSON, every escape inside a string. */
const hostileShown =
  '{"id":"evt_h\\u009b2J","app":"fake","receiveId":"ww3e40cde07cc21a01","receivedAt":"2026-11-29T08:57:16.651Z","format":"xml",' +
  '"event":{"MsgType":"te\\nxt","Content":"\\u001b]0;title\\u0007 \\u009d52;c;aGk=\\u009c \\u009b2J \\u007f \\u202eevil\\u202c \\u2066x\\u2069"},"raw":"<xml/>"}';

describe('tail: what comes from the gateway never drives the terminal', () => {
  let queue;
  afterEach(async () => {
    await queue?.close();
    queue = undefined;
  });
  const script = () => ({
    pull: [
      { status: 200, body: `{"events":[${hostileEvent}],"lease":"lease-1","attempts":{"${HOSTILE_ID}":1}}` },
      { status: 400, body: { error: { code: 'invalid_parameter', message: '\u009b2J\nwecom-edge tail: forged' } } },
    ],
    ack: [{ status: 200, body: { acked: 0, notAcked: [{ id: HOSTILE_ID, reason: '\u001b[2J\u202e' }] } }],
  });
  const tail = (args, env) => run(['tail', queue.url, '--app', 'fake', '--token', 'pull-token-0123', '--once', ...args], { env });
  const stderrShown =
    'tail: evt_h\\u009b2J was not acked (\\u001b[2J\\u202e)\n' +
    'wecom-edge tail: the gateway answered 400 invalid_parameter: \\u009b2J\\nwecom-edge tail: forged\n';

  test('on a terminal (WECOM_EDGE_TTY=1): the header, the JSON, the reasons and messages are escaped, exactly', async () => {
    queue = await startFakeQueue(script());
    const r = await tail([], { WECOM_EDGE_TTY: '1' });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, `2026-11-29T08:57:16.651Z  evt_h\\u009b2J  te\\nxt\n${hostileShown}\n\n`);
    assert.deepEqual(JSON.parse(hostileShown), JSON.parse(hostileEvent));
    assert.equal(r.stderr, stderrShown);
    assert.deepEqual(queue.requests[1].body, { ids: [HOSTILE_ID], lease: 'lease-1' });
  });

  test('--json on a terminal: the same JSON, escaped; into a pipe: the bytes as the gateway sent them, stderr still escaped', async () => {
    queue = await startFakeQueue(script());
    const tty = await tail(['--json'], { WECOM_EDGE_TTY: '1' });
    assert.equal(tty.stdout, `${hostileShown}\n`);
    assert.equal(tty.stderr, stderrShown);
    await queue.close();
    queue = await startFakeQueue(script());
    const piped = await tail(['--json'], { WECOM_EDGE_TTY: '0' });
    assert.equal(piped.stdout, `${hostileEvent}\n`);
    assert.equal(piped.stderr, stderrShown);
    await queue.close();
    queue = await startFakeQueue(script());
    const text = await tail([], { WECOM_EDGE_TTY: '0' });
    assert.equal(text.stdout, `2026-11-29T08:57:16.651Z  evt_h\\u009b2J  te\\nxt\n${hostileEvent}\n\n`);
  });

  test('--raw on a terminal: the events as they came; a one-line field (an id, a reason, a message) is kept to its line anyway', async () => {
    queue = await startFakeQueue(script());
    const r = await tail(['--raw', '--json'], { WECOM_EDGE_TTY: '1' });
    assert.equal(r.stdout, `${hostileEvent}\n`);
    assert.equal(r.stderr, stderrShown);
    await queue.close();
    queue = await startFakeQueue(script());
    const text = await tail(['--raw'], { WECOM_EDGE_TTY: '1' });
    assert.equal(text.stdout, `2026-11-29T08:57:16.651Z  evt_h\\u009b2J  te\\nxt\n${hostileEvent}\n\n`);
  });
});

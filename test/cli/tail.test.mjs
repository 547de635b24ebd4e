// `wecom-edge tail` against the gateway running in workerd (wrangler dev).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, startGateway } from '../support/gateway.mjs';
import { sealCallback } from '../../bin/lib/wecom-side.mjs';
import { APP_EVENT_KINDS, appsFile, kindOfEvent, run, until } from './helpers.mjs';

const CORP_ID = 'ww3e40cde07cc21a01';
const ADMIN_TOKEN = 'admin-token-for-the-cli-tests-0123456789';
const BIN = fileURLToPath(new URL('../../bin/wecom-edge.mjs', import.meta.url));
const HEADER = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) {2}(evt_[0-9a-f]{32}) {2}(\S+)( {2}\(delivery (\d+)\))?$/;

async function keygen(args) {
  const r = await run(['keygen', '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** tail's text output: [{ header: {receivedAt, id, kind, delivery}, json }] (a header line, the JSON line, a blank line). */
function parseText(stdout) {
  const lines = stdout.split('\n');
  const events = [];
  for (let i = 0; i < lines.length; i += 3) {
    if (lines[i] === '' && i === lines.length - 1) break;
    const m = HEADER.exec(lines[i]);
    assert.ok(m, `not a header line: ${JSON.stringify(lines[i])}`);
    assert.equal(lines[i + 2], '');
    events.push({ receivedAt: m[1], id: m[2], kind: m[3], delivery: m[5] === undefined ? 1 : Number(m[5]), json: lines[i + 1] });
  }
  return events;
}

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
    apps = { ...tickets, ...live, ...raw, ...hr };
    file = appsFile(apps);
    gateway = await startGateway({ apps, adminToken: ADMIN_TOKEN });
  });

  after(async () => {
    await gateway?.stop();
  });

  test('simulate fills a pull app; tail --no-ack shows every event and leaves them; tail acks them; then nothing is left', async () => {
    const sim = await run(['simulate', gateway.url, '--app', 'tickets', '--apps', file, '--timeout', '30000']);
    assert.equal(sim.code, 0, sim.stdout + sim.stderr);
    const kinds = Object.values(APP_EVENT_KINDS).sort();

    // Look without taking: NDJSON, nothing acked, leases of 3 s simply run out.
    const look = await tail('tickets', '--once', '--no-ack', '--json', '--lease', '3', '--max', '5');
    assert.equal(look.code, 0, look.stderr);
    assert.equal(look.stderr, '');
    const lines = look.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 17);
    const looked = lines.map((line) => JSON.parse(line));
    assert.deepEqual(looked.map((e) => kindOfEvent(e.event)).sort(), kinds);
    assert.equal(new Set(looked.map((e) => e.id)).size, 17);
    const held = await stats('tickets');
    assert.deepEqual([held.depth, held.delivered], [17, 0]);
    await until(async () => ((await stats('tickets')).leased === 0 ? true : undefined), 'the leases to run out');

    // Take: printed (the second delivery of each) and acked.
    const take = await tail('tickets', '--once');
    assert.equal(take.code, 0, take.stderr);
    assert.equal(take.stderr, 'tail: drained, 17 events printed and acked\n');
    const taken = parseText(take.stdout);
    assert.equal(taken.length, 17);
    assert.deepEqual(taken.map((e) => e.kind).sort(), kinds);
    assert.deepEqual(taken.map((e) => e.delivery), Array(17).fill(2));
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
      await until(() => (parseText(stdout).length === 2 ? true : undefined), 'tail to print both events');
      await until(async () => ((await stats('live')).delivered === 2 ? true : undefined), 'the acks');
    } finally {
      child.kill('SIGINT');
    }
    assert.deepEqual(await exited, { code: 0, signal: null });
    assert.deepEqual(parseText(stdout).map((e) => e.kind).sort(), ['event/click', 'text']);
    assert.equal(stderr, 'tail: stopped after 2 events\n');
    assert.equal((await stats('live')).depth, 0);
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
    assert.match(r.stdout, /^Usage: wecom-edge tail <base-url> --app NAME \(--token PULL_TOKEN \| --apps FILE\)/);
    assert.match(r.stdout, /--no-ack/);
  });

  test('no --app, no token, a bad base URL, bad numbers: exit 2 with a clear message', async () => {
    const noApp = await run(['tail', 'http://127.0.0.1:8787', '--token', 'x']);
    assert.equal(noApp.code, 2);
    assert.match(noApp.stderr, /^wecom-edge tail: --app NAME is required/);
    const noToken = await run(['tail', 'http://127.0.0.1:8787', '--app', 'hr']);
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /give the app's pull token with --token, or --apps FILE/);
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

  test('an unreachable gateway with --once: retried with backoff, reported, then exit 1', async () => {
    const port = await freePort();
    const r = await run(['tail', `http://127.0.0.1:${port}`, '--app', 'hr', '--token', 'x', '--once']);
    assert.equal(r.code, 1);
    const reason = `cannot reach http://127.0.0.1:${port}: the connection was refused (nothing listens there) (ECONNREFUSED)`;
    assert.equal(r.stderr, `tail: ${reason}; retrying in 1 s\ntail: ${reason}; retrying in 2 s\nwecom-edge tail: ${reason}; gave up after 3 attempts\n`);
    assert.equal(r.stdout, '');
  });
});

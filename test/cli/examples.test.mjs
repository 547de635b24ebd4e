// examples/webhook-receiver.mjs and examples/pull-consumer.mjs, run as the
// docs say to run them: the receiver against pushes signed by the
// standardwebhooks package (an implementation independent of the gateway's),
// the pull consumer against the gateway in workerd, with an app made by
// `keygen --dev` and its secrets read by `node --env-file=.dev.vars`.
import { after, afterEach, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { parseDotenv } from '../../bin/lib/dotenv.mjs';
import { freePort, startGateway } from '../support/gateway.mjs';
import { until } from './helpers.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'wecom-edge.mjs');
const ADMIN_TOKEN = 'admin-token-for-the-examples-0123456789';

/** A running example: its output so far, and a promise of its exit code. */
function start(script, { env, cwd, args = [] }) {
  const child = spawn(process.execPath, [...args, script], { cwd, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const run = { child, stdout: '', stderr: '' };
  child.stdout.on('data', (c) => (run.stdout += c));
  child.stderr.on('data', (c) => (run.stderr += c));
  run.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  run.waitFor = (text, ms) => until(() => (run.stdout.includes(text) ? true : undefined), JSON.stringify(text), ms);
  return run;
}

function cli(args, cwd) {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('examples/webhook-receiver.mjs', () => {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  let receiver;
  let url;

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}/any/path`;
    receiver = start(join(ROOT, 'examples', 'webhook-receiver.mjs'), { env: { WEBHOOK_SECRET: secret, PORT: String(port) } });
    await receiver.waitFor(`listening on http://127.0.0.1:${port}, verifying with WEBHOOK_SECRET\n`, 10_000);
  });
  after(async () => {
    receiver.child.kill('SIGTERM');
    assert.equal(await receiver.exited, 0);
  });

  const event = (id) => JSON.stringify({ id, app: 'hr', receivedAt: '2026-11-28T10:00:00.000Z', format: 'xml', event: { MsgType: 'text', Content: 'hello' }, raw: '<xml/>' });
  /** POSTs `body` with Standard Webhooks headers, signed by the standardwebhooks package with `key` at `date`. */
  async function push(id, body, { key = secret, date = new Date(), signature } = {}) {
    const headers = {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(date.getTime() / 1000)),
      'webhook-signature': signature ?? new Webhook(key).sign(id, date, body),
      'wecom-edge-attempt': '1',
    };
    const response = await fetch(url, { method: 'POST', headers, body });
    return { status: response.status, text: await response.text() };
  }
  const lines = () => receiver.stdout.split('\n');

  test('a signed push: 204, printed once as verified; the same id again: 204 and skipped', async () => {
    const id = 'evt_00000000000000000000000000000001';
    assert.deepEqual(await push(id, event(id)), { status: 204, text: '' });
    await receiver.waitFor(`event ${id} app=hr text (signature verified)\n{"MsgType":"text","Content":"hello"}\n`);
    assert.deepEqual(await push(id, event(id)), { status: 204, text: '' });
    await receiver.waitFor(`duplicate ${id} (attempt 1), skipped\n`);
    assert.equal(lines().filter((l) => l.startsWith(`event ${id} `)).length, 1);
  });

  test('several signatures (a secret in rotation): one that matches is enough', async () => {
    const id = 'evt_00000000000000000000000000000002';
    const body = event(id);
    const date = new Date();
    const good = new Webhook(secret).sign(id, date, body);
    const other = new Webhook(`whsec_${randomBytes(32).toString('base64')}`).sign(id, date, body);
    assert.equal((await push(id, body, { date, signature: `${other} ${good}` })).status, 204);
    await receiver.waitFor(`event ${id} app=hr text (signature verified)\n`);
  });

  test('refused with 401 and never printed as an event: a wrong key, a changed body, a stale or future timestamp, no headers', async () => {
    const cases = [
      ['evt_0000000000000000000000000000000a', { key: `whsec_${randomBytes(32).toString('base64')}` }, 'no signature matches the secret'],
      ['evt_0000000000000000000000000000000c', { date: new Date(Date.now() - 360_000) }, 'webhook-timestamp is more than 5 minutes from this clock'],
      ['evt_0000000000000000000000000000000d', { date: new Date(Date.now() + 360_000) }, 'webhook-timestamp is more than 5 minutes from this clock'],
    ];
    for (const [id, options, why] of cases) {
      assert.deepEqual(await push(id, event(id), options), { status: 401, text: 'invalid signature\n' }, why);
      await receiver.waitFor(`refused ${id}: ${why}\n`);
    }
    // Signed for one body, sent with another.
    const id = 'evt_0000000000000000000000000000000b';
    const date = new Date();
    const signature = new Webhook(secret).sign(id, date, event(id));
    assert.equal((await push(id, event(id).replace('hello', 'HELLO'), { date, signature })).status, 401);
    await receiver.waitFor(`refused ${id}: no signature matches the secret\n`);
    const bare = await fetch(url, { method: 'POST', body: '{}' });
    assert.equal(bare.status, 401);
    await receiver.waitFor('refused (no webhook-id): missing webhook-id, webhook-timestamp or webhook-signature\n');
    for (const refused of [...cases.map(([id]) => id), id]) assert.ok(!receiver.stdout.includes(`event ${refused} `), refused);
    // A refused id is not remembered: signed properly, it is an event.
    assert.equal((await push(cases[0][0], event(cases[0][0]))).status, 204);
    await receiver.waitFor(`event ${cases[0][0]} app=hr text (signature verified)\n`);
  });

  test('without a secret it says what to set and exits 2', async () => {
    const bare = start(join(ROOT, 'examples', 'webhook-receiver.mjs'), { env: {} });
    assert.equal(await bare.exited, 2);
    assert.match(bare.stderr, /^Set WEBHOOK_SECRET \(the app's whsec_… secret\), or APP with <APP>_WEBHOOK_SECRET/);
    const missing = start(join(ROOT, 'examples', 'webhook-receiver.mjs'), { env: { APP: 'my-app' } });
    assert.equal(await missing.exited, 2);
    assert.equal(missing.stderr, 'MY_APP_WEBHOOK_SECRET is not set (APP=my-app): is it in the file given to --env-file?\n');
  });
});

describe('examples/pull-consumer.mjs against the gateway in workerd', { timeout: 240_000 }, () => {
  let dir;
  let gateway;
  // Short long-polls: `wrangler dev` does not tell the gateway that a consumer stopped mid-wait (Cloudflare does),
  // so a poll left waiting at a SIGTERM could lease the next test's events; each test waits its end out.
  const env = () => ({ APP: 'tickets', WECOM_EDGE_URL: gateway.url, WAIT_SECONDS: '1' });
  afterEach(() => sleep(1500));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wecom-edge-examples-'));
    const made = await cli(['keygen', '--app', 'tickets', '--dev'], dir);
    assert.equal(made.code, 0, made.stderr);
    assert.ok(made.stdout.includes('  APP=tickets node --env-file=.dev.vars examples/pull-consumer.mjs   # or: npx wecom-edge tail http://127.0.0.1:8787 --app tickets\n'));
    const secrets = parseDotenv(readFileSync(join(dir, '.dev.vars'), 'utf8'));
    gateway = await startGateway({ configFile: join(dir, 'wecom-edge.config.json'), secrets, adminToken: ADMIN_TOKEN });
  });
  after(async () => {
    await gateway?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Sends `items` through simulate and gives their event ids, by item. */
  async function send(items) {
    const r = await cli(['simulate', gateway.url, '--app', 'tickets', '--only', items.join(','), '--timeout', '30000'], dir);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    return Object.fromEntries(items.map((item) => [item, new RegExp(`^✔ ${item} +POST 200 +\\d+ ms {2}success {2}(evt_[0-9a-f]{32}) {2}→ default$`, 'm').exec(r.stdout)[1]]));
  }
  const stats = async () => (await fetch(`${gateway.url}/admin/apps/tickets`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();

  test('as documented: each event handled once and acked; SIGTERM while idle stops it with exit 0', async () => {
    const ids = await send(['text', 'subscribe', 'click']); // in the queue's order: simulate sends in catalogue order
    const consumer = start(join(ROOT, 'examples', 'pull-consumer.mjs'), { cwd: dir, env: env(), args: ['--env-file=.dev.vars'] });
    await consumer.waitFor('acked 3\n');
    consumer.child.kill('SIGTERM');
    assert.equal(await consumer.exited, 0);
    assert.equal(consumer.stderr, '');
    assert.equal(
      consumer.stdout,
      [
        `consuming ${gateway.url}/queue/tickets/pull`,
        'pulled 3 events',
        `handled ${ids.text} text`,
        `handled ${ids.subscribe} event/subscribe`,
        `handled ${ids.click} event/click`,
        'acked 3',
        'SIGTERM: stopping after the batch in hand (again to exit now)',
        'stopped',
        '',
      ].join('\n'),
    );
    const s = await stats();
    assert.equal(s.depth, 0, JSON.stringify(s));
  });

  test('SIGTERM mid-batch: the batch is finished and settled before it exits; a failed event is nacked and comes back', async () => {
    const ids = await send(['text', 'subscribe', 'click']); // in the queue's order: simulate sends in catalogue order
    // The example with a slow handle() that fails a text on its first attempt: the code between its markers replaced.
    const source = readFileSync(join(ROOT, 'examples', 'pull-consumer.mjs'), 'utf8');
    const slow = `async function handle(event, attempt) {
  log(\`start \${event.id}\`);
  await new Promise((resolve) => setTimeout(resolve, 400));
  if (event.event.MsgType === "text" && attempt === 1) throw new Error("not now");
  log(\`handled \${event.id} \${event.event.MsgType}\${attempt > 1 ? \` (attempt \${attempt})\` : ""}\`);
}`;
    const replaced = source.replace(/\/\/ handle: begin[^\n]*\n[\s\S]*?\n\/\/ handle: end/, slow);
    assert.notEqual(replaced, source);
    const copy = join(dir, 'slow-consumer.mjs');
    writeFileSync(copy, replaced);

    const consumer = start(copy, { cwd: dir, env: { ...env(), RETRY_DELAY_SECONDS: '1' }, args: ['--env-file=.dev.vars'] });
    await consumer.waitFor(`start ${ids.text}\n`);
    consumer.child.kill('SIGTERM');
    assert.equal(await consumer.exited, 0);
    assert.equal(
      consumer.stdout,
      [
        `consuming ${gateway.url}/queue/tickets/pull`,
        'pulled 3 events',
        `start ${ids.text}`,
        'SIGTERM: stopping after the batch in hand (again to exit now)',
        `failed ${ids.text}: not now; due again in 1 s`,
        `start ${ids.subscribe}`,
        `handled ${ids.subscribe} event`,
        `start ${ids.click}`,
        `handled ${ids.click} event`,
        'acked 2',
        'released 1',
        'stopped',
        '',
      ].join('\n'),
    );
    assert.equal((await stats()).depth, 1);

    // The nacked text comes back to the next consumer, on its second attempt.
    const again = start(copy, { cwd: dir, env: env(), args: ['--env-file=.dev.vars'] });
    await again.waitFor('acked 1\n', 20_000);
    again.child.kill('SIGINT');
    assert.equal(await again.exited, 0);
    assert.ok(again.stdout.includes(`pulled 1 event\nstart ${ids.text}\nhandled ${ids.text} text (attempt 2)\nacked 1\n`), again.stdout);
    assert.equal((await stats()).depth, 0);
  });

  test('a wrong pull token: 401 said once, exit 1', async () => {
    const consumer = start(join(ROOT, 'examples', 'pull-consumer.mjs'), { cwd: dir, env: { ...env(), PULL_TOKEN: 'not-the-token-0123456789' } });
    assert.equal(await consumer.exited, 1);
    assert.equal(consumer.stderr, `pull: 401: the pull token is wrong, or tickets is not a pull app on ${gateway.url}\n`);
  });
});

// "Your own app, locally" end to end (docs/local.md), as a newcomer runs it
// from a folder of their own: keygen --dev writes wecom-edge.config.json and
// .dev.vars; the gateway serves that file with those secrets (wrangler dev);
// examples/webhook-receiver.mjs runs as documented (node --env-file=.dev.vars,
// APP=…); simulate, with no settings on its command line, reads both files.
// The receiver prints every event once, with its signature verified, and
// skips the resend's push.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDotenv } from '../../bin/lib/dotenv.mjs';
import { freePort, startGateway } from '../support/gateway.mjs';
import { APP_EVENT_KINDS, APP_ITEMS, tableOf, tableRow, until } from './helpers.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'wecom-edge.mjs');
const RECEIVER = join(ROOT, 'examples', 'webhook-receiver.mjs');

/** `wecom-edge ...args` run in `cwd`: { code, stdout, stderr }. */
function cli(args, cwd) {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('your own app, locally: keygen --dev, the gateway, the example receiver, simulate', { timeout: 240_000 }, () => {
  let dir;
  let gateway;
  let receiver;
  let receiverOutput = '';
  let port;
  let keygenRun;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wecom-edge-local-'));
    port = await freePort();
    keygenRun = await cli(['keygen', '--app', 'my-app', '--webhook', `http://127.0.0.1:${port}/wecom`, '--dev'], dir);
    assert.equal(keygenRun.code, 0, keygenRun.stderr);

    // The receiver exactly as keygen says to start it, with PORT for the port chosen here.
    receiver = spawn(process.execPath, ['--env-file=.dev.vars', RECEIVER], {
      cwd: dir,
      env: { PATH: process.env.PATH, APP: 'my-app', PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    receiver.stdout.on('data', (chunk) => (receiverOutput += chunk));
    receiver.stderr.on('data', (chunk) => (receiverOutput += chunk));
    await until(() => (receiverOutput.includes('listening on') ? true : undefined), 'the receiver to listen', 10_000);

    const secrets = parseDotenv(readFileSync(join(dir, '.dev.vars'), 'utf8'));
    gateway = await startGateway({ configFile: join(dir, 'wecom-edge.config.json'), secrets });
  });

  after(async () => {
    await gateway?.stop();
    receiver?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('keygen --dev wrote the config entry with references and an owner-only .dev.vars, and said what to run', () => {
    const config = JSON.parse(readFileSync(join(dir, 'wecom-edge.config.json'), 'utf8'));
    assert.deepEqual(config, {
      apps: {
        'my-app': {
          token: { secret: 'MY_APP_TOKEN' },
          encodingAESKey: { secret: 'MY_APP_ENCODING_AES_KEY' },
          receiveId: 'wwlocaldev00000000',
          webhook: { url: `http://127.0.0.1:${port}/wecom`, secret: { secret: 'MY_APP_WEBHOOK_SECRET' } },
        },
      },
    });
    const vars = parseDotenv(readFileSync(join(dir, '.dev.vars'), 'utf8'));
    assert.deepEqual(Object.keys(vars), ['MY_APP_TOKEN', 'MY_APP_ENCODING_AES_KEY', 'MY_APP_WEBHOOK_SECRET']);
    assert.equal(statSync(join(dir, '.dev.vars')).mode & 0o777, 0o600);
    assert.equal(keygenRun.stderr, '');
    assert.match(keygenRun.stdout, /^ {2}npx wrangler dev {8}# restart it if it is running/m);
    assert.ok(keygenRun.stdout.includes(`  APP=my-app PORT=${port} node --env-file=.dev.vars examples/webhook-receiver.mjs   # verifies each push with MY_APP_WEBHOOK_SECRET\n`));
    assert.ok(keygenRun.stdout.includes('  npx wecom-edge simulate http://127.0.0.1:8787 --app my-app\n'));
    // The secret values are in the file, not on the screen.
    for (const value of Object.values(vars)) assert.ok(!keygenRun.stdout.includes(value));
  });

  test('simulate with no settings on its command line passes every item, and the receiver prints each event once, verified', async () => {
    assert.match(receiverOutput, /verifying with MY_APP_WEBHOOK_SECRET/);
    const r = await cli(['simulate', gateway.url, '--app', 'my-app', '--timeout', '30000'], dir);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout.split('\n')[0], `Simulating WeCom against ${gateway.url}/callback/my-app (XML callbacks, AgentID 1000002, receiveId "wwlocaldev00000000")`);
    assert.deepEqual(tableOf(r.stdout), APP_ITEMS.map((name) => tableRow(name, 'PASS', 1, 1)));
    const ids = [...r.stdout.matchAll(/^✔ (\S+) +POST 200 +\d+ ms {2}success {2}(evt_[0-9a-f]{32}) {2}→ default$/gm)].map((m) => m[2]);
    assert.equal(ids.length, Object.keys(APP_EVENT_KINDS).length);
    const textId = /^✔ text +POST 200 +\d+ ms {2}success {2}(evt_[0-9a-f]{32}) {2}→ default$/m.exec(r.stdout)[1];
    assert.match(r.stdout, new RegExp(`^✔ resend \\(text\\) +POST 200 +\\d+ ms  duplicate of ${textId}: success  → default$`, 'm'));

    const printed = () => [...receiverOutput.matchAll(/^event (evt_[0-9a-f]{32}) app=my-app \S+ \(signature verified\)$/gm)].map((m) => m[1]);
    await until(() => (printed().length >= ids.length ? true : undefined), `${ids.length} events at the receiver`);
    assert.deepEqual(printed().sort(), [...ids].sort());
    assert.doesNotMatch(receiverOutput, /^refused/m);
  });

  test('simulate from another folder with --config and --secrets; the gateway pushes again what the receiver answered, which it skips as a duplicate', async () => {
    const before = receiverOutput;
    const r = await cli(['simulate', gateway.url, '--app', 'my-app', '--config', join(dir, 'wecom-edge.config.json'), '--secrets', join(dir, '.dev.vars'), '--only', 'text,resend', '--timeout', '30000'], ROOT);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(tableOf(r.stdout), ['text', 'resend'].map((name) => tableRow(name, 'PASS', 1, 1)));
    const textId = /^✔ text +POST 200 +\d+ ms {2}success {2}(evt_[0-9a-f]{32}) {2}→ default$/m.exec(r.stdout)[1];
    await until(() => (receiverOutput.includes(`event ${textId} `) ? true : undefined), 'the text at the receiver');

    // A push of the same event again, as the gateway makes it when an answer is lost: signed anew, skipped by id.
    const secret = parseDotenv(readFileSync(join(dir, '.dev.vars'), 'utf8')).MY_APP_WEBHOOK_SECRET;
    const body = JSON.stringify({ id: textId, app: 'my-app', event: {} });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64')).update(`${textId}.${timestamp}.${body}`).digest('base64');
    const response = await fetch(`http://127.0.0.1:${port}/wecom`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'webhook-id': textId, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}`, 'wecom-edge-attempt': '2' },
      body,
    });
    assert.equal(response.status, 204);
    await until(() => (receiverOutput.includes(`duplicate ${textId} (attempt 2), skipped\n`) ? true : undefined), 'the duplicate line');
    const added = receiverOutput.slice(before.length);
    assert.equal([...added.matchAll(new RegExp(`^event ${textId} `, 'gm'))].length, 1);
  });
});

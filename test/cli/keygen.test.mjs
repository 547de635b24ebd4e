import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/wecom-edge.mjs', import.meta.url));

function run(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

test('keygen prints a Token, a 43-char EncodingAESKey, a whsec_ secret and a matching WECOM_APPS entry', async () => {
  const r = await run(['keygen', '--app', 'hr', '--receive-id', 'ww3e40cde07cc21a01', '--webhook', 'https://hr.example.com/wecom']);
  assert.equal(r.code, 0, r.stderr);
  const token = /^Token:\s+(\S+)$/m.exec(r.stdout)?.[1];
  const key = /^EncodingAESKey:\s+(\S+)$/m.exec(r.stdout)?.[1];
  const secret = /^Webhook secret:\s+(\S+)/m.exec(r.stdout)?.[1];
  assert.match(token, /^[A-Za-z0-9]{32}$/);
  assert.match(key, /^[A-Za-z0-9]{43}$/);
  assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.equal(Buffer.from(secret.slice(6), 'base64').length, 32);
  const jsonLine = r.stdout.split('\n').find((l) => l.startsWith('{'));
  const apps = JSON.parse(jsonLine);
  assert.deepEqual(apps, { hr: { token, encodingAESKey: key, receiveId: 'ww3e40cde07cc21a01', webhook: { url: 'https://hr.example.com/wecom', secret } } });
  assert.match(r.stdout, /wrangler secret put WECOM_APPS/);
  assert.match(r.stdout, /Paste the Token and EncodingAESKey into WeCom's admin console/);
});

test('keygen --json --pull prints only the JSON object, with a 64-hex pull token', async () => {
  const r = await run(['keygen', '--json', '--pull', '--app', 'bot_1', '--receive-id', '']);
  assert.equal(r.code, 0, r.stderr);
  const apps = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(apps), ['bot_1']);
  const app = apps.bot_1;
  assert.deepEqual(Object.keys(app).sort(), ['encodingAESKey', 'pull', 'receiveId', 'token']);
  assert.match(app.token, /^[A-Za-z0-9]{32}$/);
  assert.match(app.encodingAESKey, /^[A-Za-z0-9]{43}$/);
  assert.equal(Buffer.from(app.encodingAESKey + '=', 'base64').length, 32);
  assert.match(app.pull.token, /^[0-9a-f]{64}$/);
  assert.equal(app.receiveId, '');
});

test('keygen draws fresh values every time', async () => {
  const [a, b] = await Promise.all([run(['keygen', '--json', '--receive-id', 'ww1']), run(['keygen', '--json', '--receive-id', 'ww1'])]);
  assert.notEqual(JSON.parse(a.stdout).app.encodingAESKey, JSON.parse(b.stdout).app.encodingAESKey);
});

test('keygen refuses a bad app name with exit 2 and a message on stderr', async () => {
  const r = await run(['keygen', '--app', 'HR App']);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /invalid app name "HR App"/);
});

test('keygen refuses a non-http webhook, --webhook with --pull, and unknown options', async () => {
  const ftp = await run(['keygen', '--webhook', 'ftp://x.example/']);
  assert.equal(ftp.code, 2);
  assert.match(ftp.stderr, /http or https/);
  const both = await run(['keygen', '--webhook', 'https://x.example/', '--pull']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /cannot be used together/);
  const unknown = await run(['keygen', '--bogus']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /bogus/);
});

test('--help on every command, and an unknown command', async () => {
  for (const args of [['--help'], ['keygen', '--help'], ['diagnose', '--help']]) {
    const r = await run(args);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: wecom-edge/);
  }
  const r = await run(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command "frobnicate"/);
});

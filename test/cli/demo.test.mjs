// `npm run demo` (scripts/demo.mjs) leaves nothing behind: its wecom-edge-demo-*
// state folder in the temporary directory is removed when it ends by itself
// (--once), on Ctrl-C (SIGINT to its whole process group, as a terminal sends
// it) and on SIGTERM. Each run gets a temporary directory of its own (TMPDIR),
// so that the check sees this run's folder only, and the folder is seen to
// exist while the demo runs. The demo listens on its fixed ports 8787 and
// 8788: a test waits for them to be free, and fails if they stay taken.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE_BIN = join(ROOT, 'node_modules', '.bin');
const READY = 'The demo gateway is at http://127.0.0.1:8787/callback/demo';
const PORTS = [8787, 8788];

const scratch = [];
after(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

const demoFolders = (dir) => readdirSync(dir).filter((name) => name.startsWith('wecom-edge-demo-'));

function portFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Waits until the demo's ports are free (another demo, or the last test's, may still hold them). */
async function portsFree(timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const taken = [];
    for (const port of PORTS) if (!(await portFree(port))) taken.push(port);
    if (taken.length === 0) return;
    if (Date.now() > deadline) assert.fail(`127.0.0.1 port ${taken.join(' and ')} stayed taken: stop the demo that runs (npm run demo) and run this test again`);
    await sleep(500);
  }
}

/**
 * Starts the demo with a TMPDIR of its own, in a process group of its own.
 * Answers the child, its output so far, and a record of the demo folders seen
 * while it ran (polled every 100 ms).
 */
function startDemo(args) {
  const tmp = mkdtempSync(join(tmpdir(), 'demo-test-tmp-'));
  scratch.push(tmp);
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'demo.mjs'), ...args], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PATH: `${NODE_BIN}:${process.env.PATH}`, TMPDIR: tmp, WRANGLER_SEND_METRICS: 'false', CI: '1' },
  });
  const demo = { child, tmp, stdout: '', stderr: '', seen: new Set() };
  child.stdout.setEncoding('utf8').on('data', (text) => (demo.stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text) => (demo.stderr += text));
  const poll = setInterval(() => demoFolders(tmp).forEach((name) => demo.seen.add(name)), 100);
  demo.exited = new Promise((resolve) => child.on('exit', (code, signal) => (clearInterval(poll), resolve({ code, signal }))));
  return demo;
}

async function until(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function exitWithin(demo, timeoutMs) {
  const timer = sleep(timeoutMs).then(() => 'timeout');
  const result = await Promise.race([demo.exited, timer]);
  if (result === 'timeout') {
    process.kill(-demo.child.pid, 'SIGKILL');
    assert.fail(`the demo did not exit within ${timeoutMs / 1000} s\n${demo.stdout}\n${demo.stderr}`);
  }
  return result;
}

/** After the demo: nothing left in its temporary directory, nothing listening on its ports. */
async function leftNothing(demo) {
  assert.equal(demo.seen.size, 1, `one demo folder while it ran: ${[...demo.seen]}`);
  assert.deepEqual(demoFolders(demo.tmp), [], 'the demo folder is gone');
  for (const port of PORTS) assert.equal(await portFree(port), true, `port ${port} is free again`);
}

describe('the demo cleans up after itself', { timeout: 240_000 }, () => {
  test('--once: plays everything, exits 0, and leaves no wecom-edge-demo-* folder', async () => {
    await portsFree();
    const demo = startDemo(['--once']);
    const { code, signal } = await exitWithin(demo, 120_000);
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `${demo.stdout}\n${demo.stderr}`);
    assert.ok(demo.stdout.includes('[demo] the bot conversation went as it should'), demo.stdout);
    assert.ok(demo.stdout.includes(READY), demo.stdout);
    await leftNothing(demo);
  });

  test('Ctrl-C (SIGINT to the process group, as a terminal sends it) after the ready line: exits 0 and leaves no folder', async () => {
    await portsFree();
    const demo = startDemo([]);
    await until('the ready line', () => demo.stdout.includes(READY) || demo.child.exitCode !== null, 120_000);
    assert.ok(demo.stdout.includes(READY), `${demo.stdout}\n${demo.stderr}`);
    assert.equal(demoFolders(demo.tmp).length, 1, 'the folder is there while the demo runs');
    process.kill(-demo.child.pid, 'SIGINT');
    const { code, signal } = await exitWithin(demo, 30_000);
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, demo.stderr);
    await leftNothing(demo);
  });

  test('SIGTERM to the demo alone: it stops wrangler, exits 0 and leaves no folder', async () => {
    await portsFree();
    const demo = startDemo([]);
    await until('the ready line', () => demo.stdout.includes(READY) || demo.child.exitCode !== null, 120_000);
    assert.ok(demo.stdout.includes(READY), `${demo.stdout}\n${demo.stderr}`);
    demo.child.kill('SIGTERM');
    const { code, signal } = await exitWithin(demo, 30_000);
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, demo.stderr);
    await leftNothing(demo);
  });
});

// examples/python/: the consumer long-polls the gateway in workerd and acks;
// the receiver checks pushes signed by the standardwebhooks package. Python's
// standard library only; the tests run where python3 is installed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { resolveReferences } from '../../bin/lib/apps-file.mjs';
import { sealCallback } from '../../bin/lib/wecom-side.mjs';
import { freePort, startGateway } from '../support/gateway.mjs';
import { run, until } from './helpers.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CORP_ID = 'ww3e40cde07cc21a01';
const ADMIN_TOKEN = 'admin-token-for-the-python-tests-01234';

function python3() {
  try {
    return execFileSync('python3', ['--version'], { encoding: 'utf8' }).startsWith('Python 3') ? 'python3' : undefined;
  } catch {
    return undefined;
  }
}
const PYTHON = python3();
const skip = PYTHON === undefined ? 'python3 is not installed here' : false;

function start(script, env) {
  const child = spawn(PYTHON, [join(ROOT, 'examples', 'python', script)], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = { child, stdout: '', stderr: '' };
  child.stdout.on('data', (c) => (proc.stdout += c));
  child.stderr.on('data', (c) => (proc.stderr += c));
  proc.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  return proc;
}

describe('examples/python/consumer.py against the gateway in workerd', { skip, timeout: 180_000 }, () => {
  let gateway;
  let app;
  before(async () => {
    const r = await run(['keygen', '--json', '--app', 'py', '--receive-id', CORP_ID, '--pull']);
    assert.equal(r.code, 0, r.stderr);
    const { config, secrets } = JSON.parse(r.stdout);
    app = resolveReferences(config, secrets).py;
    gateway = await startGateway({ apps: { py: app }, adminToken: ADMIN_TOKEN });
  });
  after(async () => gateway?.stop());

  test('long-polls: each event handled once as it is committed, acked; SIGTERM while waiting stops it at once', async () => {
    const consumer = start('consumer.py', { APP: 'py', PULL_TOKEN: app.pull.token, WECOM_EDGE_URL: gateway.url });
    const ids = [];
    try {
      await until(() => (consumer.stdout.includes('by long-poll\n') ? true : undefined), 'the consumer to start');
      for (const [i, content] of ['first', 'second'].entries()) {
        const plaintext = `<xml><ToUserName><![CDATA[${CORP_ID}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>1732788240</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[${content}]]></Content><MsgId>${8_900_000_000_000_000_001 + i}</MsgId><AgentID>1000002</AgentID></xml>`;
        const sealed = sealCallback(`${gateway.url}/callback/py`, app, plaintext, { format: 'xml' });
        const response = await fetch(sealed.url, { method: 'POST', body: sealed.body });
        assert.equal(await response.text(), 'success');
        ids.push(response.headers.get('wecom-edge-event-id'));
        // The waiting pull answers with it: handled before the next is sent.
        await until(() => (consumer.stdout.split('\n').filter((line) => line.startsWith('handled ')).length === i + 1 ? true : undefined), `event ${i + 1} handled`);
      }
      await until(async () => {
        const stats = await (await fetch(`${gateway.url}/admin/apps/py`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
        return stats.depth === 0 && stats.delivered === 2 ? true : undefined;
      }, 'both acked');
    } finally {
      consumer.child.kill('SIGTERM');
    }
    assert.equal(await consumer.exited, 0);
    assert.equal(consumer.stderr, '');
    const lines = consumer.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `consuming ${gateway.url}/queue/py by long-poll`);
    assert.deepEqual(lines.filter((line) => line.startsWith('handled ')), ids.map((id) => `handled ${id} text`));
    assert.deepEqual(lines.filter((line) => line.startsWith('acked ')), ['acked 1', 'acked 1']);
    assert.equal(lines.at(-1), 'stopped');
  });
});

describe('examples/python/receiver.py', { skip, timeout: 60_000 }, () => {
  const secret = `whsec_${Buffer.alloc(32, 5).toString('base64')}`;
  let receiver;
  let url;
  before(async () => {
    const port = await freePort();
    receiver = start('receiver.py', { WEBHOOK_SECRET: secret, PORT: String(port) });
    url = `http://127.0.0.1:${port}/wecom`;
    await until(() => (receiver.stdout.includes('listening on') ? true : undefined), 'the receiver to listen');
  });
  after(async () => {
    receiver?.child.kill('SIGINT');
    await receiver?.exited;
  });

  const post = (body, headers) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const signed = (id, body, at = new Date()) => ({ 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(secret).sign(id, at, body) });

  test('accepts a push signed by the standardwebhooks package with 204, and refuses a changed body, another secret and an old timestamp with 401', async () => {
    const body = JSON.stringify({ id: 'evt_py1', app: 'hr', event: { MsgType: 'event', Event: 'click' } });
    assert.equal((await post(body, signed('evt_py1', body))).status, 204);
    assert.equal((await post(body.replace('click', 'view'), signed('evt_py2', body))).status, 401);
    const other = `whsec_${Buffer.alloc(32, 6).toString('base64')}`;
    const forged = { ...signed('evt_py3', body), 'webhook-signature': new Webhook(other).sign('evt_py3', new Date(), body) };
    assert.equal((await post(body, forged)).status, 401);
    const old = new Date(Date.now() - 10 * 60_000);
    assert.equal((await post(body, signed('evt_py4', body, old))).status, 401);
    await until(() => (receiver.stdout.split('\n').filter((line) => line.startsWith('refused')).length === 3 ? true : undefined), 'three refusals');
    assert.deepEqual(receiver.stdout.trimEnd().split('\n').slice(1), [
      'event evt_py1 app=hr event/click (signature verified)',
      'refused evt_py2: no signature matches',
      'refused evt_py3: no signature matches',
      'refused evt_py4: timestamp too far from this clock',
    ]);
  });
});

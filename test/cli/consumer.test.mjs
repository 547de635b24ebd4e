// wecom-edge/consumer (client/consumer.mjs; docs/consumer.md) against the
// gateway in workerd: over the WebSocket feed, and over long-poll when a proxy
// in between refuses WebSockets; imported by its package name, as a user would.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import { consume, verifyPush } from 'wecom-edge/consumer';
import { Webhook } from 'standardwebhooks';
import { resolveReferences } from '../../bin/lib/apps-file.mjs';
import { sealCallback } from '../../bin/lib/wecom-side.mjs';
import { startGateway } from '../support/gateway.mjs';
import { run, until } from './helpers.mjs';

const CORP_ID = 'ww3e40cde07cc21a01';
const ADMIN_TOKEN = 'admin-token-for-the-consumer-tests-0123';
const BOT_TOKEN = 'bot-pull-token-for-the-consumer-0123456';

async function keygen(args) {
  const r = await run(['keygen', '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  const { config, secrets } = JSON.parse(r.stdout);
  return resolveReferences(config, secrets);
}

/**
 * A proxy in front of the gateway that passes HTTP requests on and refuses
 * every WebSocket upgrade with 403, as many corporate proxies do.
 */
async function noWebSocketProxy(target) {
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    const out = httpRequest({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    // A client that goes away takes its upstream request with it, as a proxy's would.
    res.on('close', () => out.destroy());
    req.pipe(out);
  });
  let upgrades = 0;
  server.on('upgrade', (_req, socket) => {
    upgrades++;
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, upgrades: () => upgrades, close: () => new Promise((resolve) => server.close(resolve)) };
}

describe('wecom-edge/consumer against the gateway in workerd', { timeout: 180_000 }, () => {
  let gateway;
  let apps;
  let n = 0;
  const stats = async () => (await fetch(`${gateway.url}/admin/apps/shop`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
  const depth = async () => (await stats()).destinations.find((d) => d.name === 'bot').depth;

  /** Sends `count` text messages to the app `shop` (or `app`) as WeCom would, each from its own user when `users`; answers their contents. */
  async function send(count, prefix, app = 'shop', users = false) {
    const contents = [];
    for (let i = 0; i < count; i++) {
      const content = `${prefix} ${++n}`;
      const user = users ? `user-${n}` : 'zhangsan';
      const plaintext = `<xml><ToUserName><![CDATA[${CORP_ID}]]></ToUserName><FromUserName><![CDATA[${user}]]></FromUserName><CreateTime>1732788240</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[${content}]]></Content><MsgId>${8_800_000_000_000_000_000 + n}</MsgId><AgentID>1000002</AgentID></xml>`;
      const sealed = sealCallback(`${gateway.url}/callback/${app}`, apps[app], plaintext, { format: 'xml' });
      const response = await fetch(sealed.url, { method: 'POST', body: sealed.body });
      assert.equal(await response.text(), 'success');
      contents.push(content);
    }
    return contents;
  }

  before(async () => {
    const { pull: _, ...keys } = (await keygen(['--app', 'shop', '--receive-id', CORP_ID, '--pull'])).shop;
    apps = { shop: { ...keys, destinations: { bot: { pull: { token: BOT_TOKEN } } } }, mall: { ...keys, shards: 4, destinations: { bot: { pull: { token: BOT_TOKEN } } } } };
    gateway = await startGateway({ apps, adminToken: ADMIN_TOKEN });
  });
  after(async () => {
    await gateway?.stop();
  });

  test('over the socket: each event handled once and acked; a handler that throws has its event nacked and handed back', async () => {
    const lines = [];
    const handled = [];
    let failedOnce = false;
    const stop = consume({
      url: gateway.url,
      app: 'shop',
      destination: 'bot',
      token: BOT_TOKEN,
      concurrency: 2,
      log: (line) => lines.push(line),
      async handle(event, { id, attempt }) {
        if (event.event.Content.endsWith(' 2') && !failedOnce) {
          failedOnce = true;
          throw new Error('the CRM is busy');
        }
        assert.equal(event.id, id);
        handled.push([event.event.Content, attempt]);
      },
    });
    try {
      // Connected before anything is sent: the events come down the socket as they are committed.
      await until(async () => ((await stats()).destinations.length > 0 ? true : undefined), 'the queue');
      await new Promise((resolve) => setTimeout(resolve, 500));
      const sent = await send(4, 'socket');
      await until(() => (handled.length === 4 ? true : undefined), 'four events handled', 30_000);
      assert.deepEqual(handled.map(([content]) => content).sort(), [...sent].sort());
      // The one that threw came back, once, as attempt 2 (nacked with a 5 s delay).
      assert.deepEqual(handled.find(([content]) => content === 'socket 2'), ['socket 2', 2]);
      await until(async () => ((await depth()) === 0 ? true : undefined), 'the queue drained');
    } finally {
      await stop();
    }
    assert.ok(lines.some((line) => /^handler failed on evt_[0-9a-f]{32} \(attempt 1\): the CRM is busy; again in 5 s$/.test(line)), lines.join('\n'));
    assert.ok(!lines.some((line) => line.includes('long-polling')), lines.join('\n'));
  });

  test('a sharded app (docs/sharding.md): a socket on each shard, every event handled once, none left', async () => {
    const lines = [];
    const handled = [];
    const stop = consume({ url: gateway.url, app: 'mall', destination: 'bot', token: BOT_TOKEN, concurrency: 4, log: (line) => lines.push(line), handle: (event) => handled.push(event.event.Content) });
    const mallDepth = async () => (await (await fetch(`${gateway.url}/admin/apps/mall`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()).depth;
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const sent = await send(24, 'sharded', 'mall', true);
      await until(() => (handled.length >= 24 ? true : undefined), 'every event handled', 30_000);
      assert.deepEqual([...handled].sort(), [...sent].sort());
      await until(async () => ((await mallDepth()) === 0 ? true : undefined), 'the shards drained');
      const stats = await (await fetch(`${gateway.url}/admin/apps/mall`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
      assert.deepEqual(stats.shards, ['mall', 'mall.1', 'mall.2', 'mall.3']);
      assert.equal(stats.delivered, 24);
      // Every shard took some of the 24 users' events, over its own socket.
      for (const shard of stats.shards) {
        const one = await (await fetch(`${gateway.url}/admin/apps/${shard === 'mall' ? 'mall.0' : shard}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
        assert.ok(one.delivered > 0, `${shard} delivered none`);
      }
    } finally {
      await stop();
    }
    assert.deepEqual(lines, []);
  });

  test('stop() lets the handlers in flight finish, acks them, and closes', async () => {
    const started = [];
    let release;
    const gate = new Promise((resolve) => (release = resolve));
    const stop = consume({
      url: gateway.url,
      app: 'shop',
      destination: 'bot',
      token: BOT_TOKEN,
      concurrency: 2,
      log: () => {},
      async handle(event) {
        started.push(event.event.Content);
        await gate;
      },
    });
    await send(2, 'drain');
    await until(() => (started.length === 2 ? true : undefined), 'two handlers running');
    const stopped = stop();
    let done = false;
    stopped.then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(done, false, 'stop() waits for the handlers');
    release();
    await stopped;
    assert.equal(await depth(), 0);
  });

  test('falls back to long-poll when the WebSocket cannot be opened, and says so once', async () => {
    const proxy = await noWebSocketProxy(gateway.url);
    const lines = [];
    const handled = [];
    const stop = consume({
      url: proxy.url,
      app: 'shop',
      destination: 'bot',
      token: BOT_TOKEN,
      // stop() abandons a waiting long-poll. Cloudflare tells the gateway the client went away, and the
      // poll then leases nothing, but `wrangler dev` does not: what it leases comes back after this.
      leaseSeconds: 2,
      log: (line) => lines.push(line),
      async handle(event, { attempt }) {
        handled.push([event.event.Content, attempt]);
      },
    });
    try {
      await until(() => (proxy.upgrades() > 0 ? true : undefined), 'the refused upgrade');
      const sent = await send(3, 'poll');
      await until(() => (handled.length === 3 ? true : undefined), 'three events handled', 30_000);
      assert.deepEqual(handled, sent.map((content) => [content, 1]));
      await until(async () => ((await depth()) === 0 ? true : undefined), 'the queue drained');
    } finally {
      await stop();
      await proxy.close();
    }
    assert.deepEqual(lines, ['the WebSocket feed could not be opened; long-polling instead']);
  });

  test('warns about a handler that outlives the lease', async () => {
    const lines = [];
    let handled = 0;
    const stop = consume({
      url: gateway.url,
      app: 'shop',
      destination: 'bot',
      token: BOT_TOKEN,
      leaseSeconds: 1,
      log: (line) => lines.push(line),
      async handle() {
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        handled++;
      },
    });
    try {
      await send(1, 'slow');
      await until(() => (lines.some((line) => line.includes('still running')) ? true : undefined), `the warning; log: ${JSON.stringify(lines)}, handled ${handled}`);
    } finally {
      await stop();
    }
    assert.match(lines.find((line) => line.includes('still running')), /^handler for evt_[0-9a-f]{32} is still running after leaseSeconds \(1 s\): its lease ran out, and the event may be delivered again$/);
    assert.ok(handled >= 1);
    // What the slow handler could not ack in time comes again; drain it for the next test.
    const drainer = consume({ url: gateway.url, app: 'shop', destination: 'bot', token: BOT_TOKEN, log: () => {}, handle() {} });
    await until(async () => ((await depth()) === 0 ? true : undefined), 'the queue drained');
    await drainer();
  });
});

describe('verifyPush', () => {
  const secret = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
  const other = `whsec_${Buffer.alloc(32, 8).toString('base64')}`;
  const body = JSON.stringify({ id: 'evt_0123', event: { MsgType: 'text' } });
  const headers = new Webhook(secret).sign('evt_0123', new Date(), body);
  const signed = { 'webhook-id': 'evt_0123', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': headers };

  test('answers the event for a good signature, from plain headers or a Headers, with one secret or a list', () => {
    assert.deepEqual(verifyPush(signed, body, secret), JSON.parse(body));
    assert.deepEqual(verifyPush(new Headers(signed), body, [other, secret]), JSON.parse(body));
  });

  test('throws for a changed body, a wrong secret or a missing header', () => {
    assert.throws(() => verifyPush(signed, body.replace('text', 'image'), secret));
    assert.throws(() => verifyPush(signed, body, other));
    const { 'webhook-signature': _, ...unsigned } = signed;
    assert.throws(() => verifyPush(unsigned, body, secret));
  });
});

// `wecom-edge simulate` against the gateway running in workerd (wrangler dev).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { freePort, startGateway } from '../support/gateway.mjs';
import { resolveReferences } from '../../bin/lib/apps-file.mjs';
import { APP_EVENT_KINDS, APP_ITEMS, appsFile, kindOfEvent, run, startReceiver, tableOf, tableRow, until } from './helpers.mjs';

const CORP_ID = 'ww3e40cde07cc21a01';
const ADMIN_TOKEN = 'admin-token-for-the-cli-tests-0123456789';
const BOT_ITEMS = ['verify', 'text', 'stream', 'enter_chat', 'resend'];
const SUITE_ITEMS = ['verify', 'verify_data', 'suite_ticket', 'create_auth', 'change_auth', 'cancel_auth', 'text', 'enter_agent', 'resend'];
const TIMEOUT = ['--timeout', '30000'];

// A third-party suite (docs/providers.md), and a 代开发 template from wecom-edge.config.json with its secrets as references.
const SUITE_ID = 'wwsuite7d1e9a2c0b4f';
const PROVIDER = 'wwprovider3e40cde07';
const SUITE = {
  token: 'suiteToken0123456789abcdefABCDEF',
  encodingAESKey: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR',
  suite: { suiteId: SUITE_ID, providerCorpId: PROVIDER, ticketToken: 'suite-ticket-token-for-the-cli-tests-0123' },
  pull: { token: 'suite-pull-token-for-the-cli-tests-0123' },
};
const TEMPLATE_ID = 'dk7d1e9a2c0b4f6a';
const TEMPLATE_SECRETS = {
  TPL_TOKEN: 'templateToken0123456789abcdefAB',
  TPL_ENCODING_AES_KEY: 'ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj',
  TPL_TICKET_TOKEN: 'template-ticket-token-0123456789abc',
  TPL_PULL_TOKEN: 'template-pull-token-0123456789abcdef',
};
const TEMPLATE = {
  token: { secret: 'TPL_TOKEN' },
  encodingAESKey: { secret: 'TPL_ENCODING_AES_KEY' },
  suite: { suiteId: TEMPLATE_ID, providerCorpId: PROVIDER, ticketToken: { secret: 'TPL_TICKET_TOKEN' } },
  pull: { token: { secret: 'TPL_PULL_TOKEN' } },
};

/** Every event in a pull app's queue (leased for a while, never acked): oldest first. */
async function pullAll(url, app, token) {
  const response = await fetch(`${url}/queue/${app}/pull`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{"max":100,"leaseSeconds":600}' });
  assert.equal(response.status, 200);
  return (await response.json()).events;
}

/** GET /suites/{app}/ticket: { status, body }. */
async function ticketOf(url, app, token) {
  const response = await fetch(`${url}/suites/${app}/ticket`, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, body: await response.json() };
}

/** keygen's --json output for one app. */
async function keygen(args) {
  const r = await run(['keygen', '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  // keygen's {config, secrets}, made whole: a WECOM_APPS entry.
  const { config, secrets } = JSON.parse(r.stdout);
  return resolveReferences(config, secrets);
}

describe('simulate against the gateway in workerd', { timeout: 180_000 }, () => {
  let gateway;
  let receiver;
  let apps;
  let file;
  let configFile;
  let secretsFile;
  const simulate = (app, ...args) => run(['simulate', gateway.url, '--app', app, ...args, ...TIMEOUT]);

  before(async () => {
    receiver = await startReceiver();
    const hr = await keygen(['--app', 'hr', '--receive-id', CORP_ID, '--webhook', `${receiver.url}/hook`]);
    receiver.secret = hr.hr.webhook.secret;
    const rep = await keygen(['--app', 'rep', '--receive-id', CORP_ID, '--pull']);
    rep.rep.reply = {
      rules: [
        { match: { MsgType: 'text' }, reply: { MsgType: 'text', Content: '收到: 谢谢' } },
        { match: { MsgType: 'event', Event: 'click' }, reply: { MsgType: 'update_button', Button: { ReplaceName: '已处理' } } },
      ],
    };
    const bot = await keygen(['--app', 'bot', '--receive-id', '', '--pull']);
    bot.bot.bot = { token: 'bot-stream-token-0123456789', welcome: { msgtype: 'text', text: { content: '你好，我是机器人' } } };
    const quiet = await keygen(['--app', 'quiet_bot', '--receive-id', '', '--pull']);
    quiet.quiet_bot.bot = { token: 'bot-stream-token-9876543210', placeholder: '稍等' };
    const load = await keygen(['--app', 'load', '--receive-id', CORP_ID, '--pull']);
    const any = await keygen(['--app', 'any', '--receive-id', '*', '--pull']);
    apps = { ...hr, ...rep, ...bot, ...quiet, ...load, ...any, crm: SUITE, crm_repeat: SUITE };
    file = appsFile(apps);
    configFile = appsFile({ apps: { tpl: TEMPLATE } });
    secretsFile = join(dirname(configFile), 'secrets.json');
    writeFileSync(secretsFile, JSON.stringify(TEMPLATE_SECRETS));
    gateway = await startGateway({ apps, adminToken: ADMIN_TOKEN, configFile, secrets: TEMPLATE_SECRETS });
  });

  after(async () => {
    await gateway?.stop();
    await receiver?.close();
  });

  test("keygen's entry on the gateway: every catalogue item passes, the resend is a duplicate, the webhook gets each event once", async () => {
    const r = await simulate('hr', '--apps', file);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout.split('\n')[0], `Simulating WeCom against ${gateway.url}/callback/hr (XML callbacks, AgentID 1000002, receiveId "${CORP_ID}")`);
    assert.deepEqual(tableOf(r.stdout), APP_ITEMS.map((name) => tableRow(name, 'PASS', 1, 1)));
    assert.match(r.stdout, /^19 of 19 passed\.$/m);
    assert.doesNotMatch(r.stdout, /Latency/);

    // The resend was answered as a duplicate of the text's event.
    const textId = /^✔ text +POST 200 +\d+ ms {2}success {2}(evt_[0-9a-f]{32}) {2}→ default$/m.exec(r.stdout)?.[1];
    assert.ok(textId, r.stdout);
    assert.match(r.stdout, new RegExp(`^✔ resend \\(text\\) +POST 200 +\\d+ ms  duplicate of ${textId}: success  → default$`, 'm'));
    assert.match(r.stdout, /^✔ verify +GET {2}200 +\d+ ms {2}echostr answered: \d+$/m);

    // Pushed: each of the 17 events once, signed, with its own MsgType/Event.
    const stats = await until(async () => {
      const s = await (await fetch(`${gateway.url}/admin/apps/hr`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
      return s.delivered === 17 && s.depth === 0 ? s : undefined;
    }, 'the 17 pushes');
    assert.equal(stats.dead, 0);
    assert.equal(receiver.received.length, 17);
    assert.ok(receiver.received.every((d) => d.signed && d.path === '/hook'));
    assert.equal(new Set(receiver.received.map((d) => d.id)).size, 17);
    assert.deepEqual(receiver.received.map((d) => kindOfEvent(d.event.event)).sort(), Object.values(APP_EVENT_KINDS).sort());
    assert.ok(receiver.received.some((d) => d.id === textId));
    for (const { event } of receiver.received) {
      assert.equal(event.app, 'hr');
      assert.equal(event.receiveId, CORP_ID);
      const e = event.event;
      if (e.InfoType === 'suite_ticket') assert.equal(e.SuiteId, CORP_ID);
      else if (e.Event === 'kf_msg_or_event') assert.equal(e.ToUserName, CORP_ID);
      else assert.match(e.FromUserName, /^wecom-edge-simulate-[0-9a-f]{8}$/);
    }
  });

  test('an app with reply rules: the passive replies are verified, decrypted and printed', async () => {
    const r = await simulate('rep', '--apps', file, '--only', 'text,click,subscribe,resend');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(tableOf(r.stdout), ['text', 'subscribe', 'click', 'resend'].map((name) => tableRow(name, 'PASS', 1, 1)));
    assert.match(r.stdout, /^✔ text +POST 200 +\d+ ms {2}verified reply: text "收到: 谢谢" {2}evt_[0-9a-f]{32} {2}→ default$/m);
    assert.match(r.stdout, /^✔ click +POST 200 +\d+ ms {2}verified reply: update_button {2}evt_[0-9a-f]{32} {2}→ default$/m);
    assert.match(r.stdout, /^✔ subscribe +POST 200 +\d+ ms {2}success {2}evt_[0-9a-f]{32} {2}→ default$/m);
    // The decrypted replies, addressed to the simulated sender from the corp.
    assert.match(r.stdout, /^ {4}<xml><ToUserName><!\[CDATA\[wecom-edge-simulate-[0-9a-f]{8}\]\]><\/ToUserName><FromUserName><!\[CDATA\[ww3e40cde07cc21a01\]\]><\/FromUserName><CreateTime>\d+<\/CreateTime><MsgType><!\[CDATA\[text\]\]><\/MsgType><Content><!\[CDATA\[收到: 谢谢\]\]><\/Content><\/xml>$/m);
    assert.match(r.stdout, /<Button><ReplaceName><!\[CDATA\[已处理\]\]><\/ReplaceName><\/Button>/);
    // WeCom's resend of the text gets the same reply, as a duplicate.
    assert.match(r.stdout, /^✔ resend \(text\) +POST 200 +\d+ ms {2}duplicate of evt_[0-9a-f]{32}: verified reply: text "收到: 谢谢"  → default$/m);
  });

  test('--json gives every result, the reply plaintext and the latency', async () => {
    const r = await simulate('rep', '--apps', file, '--only', 'verify,text,resend', '--json');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.url, `${gateway.url}/callback/rep`);
    assert.equal(report.bot, false);
    assert.deepEqual(report.results.map((x) => [x.name, x.method, x.status, x.ok]), [
      ['verify', 'GET', 200, true],
      ['text', 'POST', 200, true],
      ['resend', 'POST', 200, true],
    ]);
    assert.equal(report.results[1].duplicate, false);
    assert.equal(report.results[2].duplicate, true);
    assert.equal(report.results[2].eventId, report.results[1].eventId);
    assert.match(report.results[1].reply, /<Content><!\[CDATA\[收到: 谢谢\]\]><\/Content>/);
    assert.deepEqual(report.table, ['verify', 'text', 'resend'].map((name) => ({ name, count: 1, passed: 1, failed: 0 })));
    assert.deepEqual([report.passed, report.failed, report.latency.count, report.latency.ok, report.latency.failed], [3, 0, 3, 3, 0]);
  });

  test('an AI bot: the text opens a stream, the refresh shows its placeholder, enter_chat gets the welcome', async () => {
    const r = await simulate('bot', '--apps', file);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout.split('\n')[0], `Simulating WeCom against ${gateway.url}/callback/bot (AI bot, JSON callbacks, receiveId "")`);
    assert.deepEqual(tableOf(r.stdout), BOT_ITEMS.map((name) => tableRow(name, 'PASS', 1, 1)));
    const text = /^✔ text +POST 200 +\d+ ms {2}verified reply: stream (stream_([0-9a-f]{32})) \(finish false\): "思考中…" {2}evt_([0-9a-f]{32}) {2}→ default$/m.exec(r.stdout);
    assert.ok(text, r.stdout);
    const [, streamId, streamHex, eventHex] = text;
    assert.equal(streamHex, eventHex); // the stream is named after its event
    assert.match(r.stdout, new RegExp(`^✔ stream +POST 200 +\\d+ ms  verified reply: stream ${streamId} \\(finish false\\): "思考中…"$`, 'm'));
    assert.match(r.stdout, new RegExp(`^    \\{"msgtype":"stream","stream":\\{"id":"${streamId}","finish":false,"content":"思考中…"\\}\\}$`, 'm'));
    assert.match(r.stdout, /^✔ enter_chat +POST 200 +\d+ ms {2}verified reply: text "你好，我是机器人" {2}evt_[0-9a-f]{32} {2}→ default$/m);
    assert.match(r.stdout, new RegExp(`^✔ resend \\(text\\) +POST 200 +\\d+ ms  duplicate of evt_${eventHex}: verified reply: stream ${streamId} \\(finish false\\)`, 'm'));
  });

  test('an AI bot without a welcome: enter_chat gets the empty answer; the placeholder is the configured one', async () => {
    const r = await simulate('quiet_bot', '--apps', file, '--only', 'text,stream,enter_chat');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^✔ enter_chat +POST 200 +\d+ ms {2}empty answer \(no reply\) {2}evt_[0-9a-f]{32} {2}→ default$/m);
    assert.match(r.stdout, /^✔ stream +POST 200 +\d+ ms {2}verified reply: stream stream_[0-9a-f]{32} \(finish false\): "稍等"$/m);
  });

  test('wrong credentials: every item fails with the code the gateway answers, exit 1', async () => {
    const { encodingAESKey } = apps.hr;
    const wrongToken = await simulate('hr', '--token', 'NotTheToken', '--key', encodingAESKey, '--receive-id', CORP_ID);
    assert.equal(wrongToken.code, 1, wrongToken.stdout + wrongToken.stderr);
    assert.deepEqual(tableOf(wrongToken.stdout), APP_ITEMS.map((name) => tableRow(name, 'FAIL', 0, 1, '401 -40001 msg_signature does not match')));
    assert.match(wrongToken.stdout, /^0 of 19 passed, 19 failed\.$/m);
    assert.match(wrongToken.stdout, /^✘ text +POST 401 +\d+ ms {2}-40001 msg_signature does not match$/m);

    const wrongReceiveId = await simulate('hr', '--token', apps.hr.token, '--key', encodingAESKey, '--receive-id', 'tj1a2b3c4d5e6f7a8b', '--only', 'verify,text,suite_ticket');
    assert.equal(wrongReceiveId.code, 1);
    assert.deepEqual(
      tableOf(wrongReceiveId.stdout),
      ['verify', 'text', 'suite_ticket'].map((name) => tableRow(name, 'FAIL', 0, 1, '400 -40005 receiveId is not one this app accepts')),
    );
  });

  test('--only runs just those items, in catalogue order', async () => {
    const r = await simulate('hr', '--apps', file, '--only', 'click,verify');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(tableOf(r.stdout), [tableRow('verify', 'PASS', 1, 1), tableRow('click', 'PASS', 1, 1)]);
    assert.match(r.stdout, /^2 of 2 passed\.$/m);
  });

  test('--repeat 5 --concurrency 3: fresh events each time, and a latency summary', async () => {
    const r = await simulate('load', '--apps', file, '--only', 'text,subscribe,click', '--repeat', '5', '--concurrency', '3');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(tableOf(r.stdout), ['text', 'subscribe', 'click'].map((name) => tableRow(name, 'PASS', 5, 5)));
    assert.match(r.stdout, /^15 of 15 passed\.$/m);
    assert.match(r.stdout, /^Latency: 15 requests, 15 ok, 0 failed; p50 \d+ ms, p95 \d+ ms, p99 \d+ ms, max \d+ ms; [\d.]+ requests\/s \(concurrency 3, [\d.]+ s\)$/m);
    assert.equal((r.stdout.match(/^✔ (text|subscribe|click) #[1-5] /gm) ?? []).length, 15);
    // 15 distinct events, none taken for a resend.
    assert.doesNotMatch(r.stdout, /duplicate/);
    const ids = r.stdout.match(/evt_[0-9a-f]{32}/g);
    assert.equal(new Set(ids).size, 15);
  });

  test('--repeat with --concurrency and --json: results in the order of the plan, each resend a duplicate of its own repetition', async () => {
    const r = await simulate('load', '--apps', file, '--only', 'text,image,resend', '--repeat', '4', '--concurrency', '4', '--json');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(
      report.results.map((x) => [x.name, x.repetition, x.ok]),
      [1, 2, 3, 4].flatMap((rep) => [['text', rep, true], ['image', rep, true], ['resend', rep, true]]),
    );
    for (let rep = 0; rep < 4; rep++) {
      const [text, image, resend] = report.results.slice(rep * 3, rep * 3 + 3);
      assert.deepEqual([text.duplicate, image.duplicate, resend.duplicate], [false, false, true]);
      assert.equal(resend.eventId, text.eventId);
    }
    assert.equal(new Set(report.results.map((x) => x.eventId)).size, 8);
    assert.deepEqual(report.table, ['text', 'image', 'resend'].map((name) => ({ name, count: 4, passed: 4, failed: 0 })));
  });

  test('two runs at once: events with no id of their own (subscribe, click) are still new events, not resends', async () => {
    const runs = await Promise.all([1, 2].map(() => simulate('load', '--apps', file, '--only', 'subscribe,click', '--repeat', '3', '--json')));
    const results = runs.flatMap((r) => {
      assert.equal(r.code, 0, r.stdout + r.stderr);
      return JSON.parse(r.stdout).results;
    });
    assert.equal(results.length, 12);
    assert.deepEqual(results.filter((x) => x.duplicate), []);
    assert.equal(new Set(results.map((x) => x.eventId)).size, 12);
  });

  test('receiveId "*": callbacks are encrypted for a placeholder corp id, and the gateway takes them', async () => {
    const r = await simulate('any', '--apps', file, '--only', 'verify,text');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stderr, 'note: receiveId "*" accepts any: callbacks are encrypted for the placeholder corp id ww0000000000000000\n');
    assert.match(r.stdout, /receiveId "ww0000000000000000"\)$/m);
  });

  test('a suite: both URLs verified for the provider, four instruction callbacks answered success, two corps at the data URL, the ticket kept', async () => {
    const r = await simulate('crm', '--apps', file);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], `Simulating WeCom against the suite "${SUITE_ID}" at ${gateway.url}/callback/crm (XML callbacks, AgentID 1000002)`);
    assert.equal(lines[1], `  instruction URL  /callback/crm       receiveId "${SUITE_ID}" (the suite id)`);
    const corps = /^ {2}data URL {9}\/callback\/crm\/data {2}receiveId the corp's: "(wpsimA[A-Za-z0-9]{26})", "(wpsimB[A-Za-z0-9]{26})"$/.exec(lines[2]);
    assert.ok(corps, lines[2]);
    const [, corpA, corpB] = corps;
    assert.equal(lines[3], `  verification     both URLs           receiveId "${PROVIDER}" (the provider's corpid)`);
    assert.equal(lines[4], '');
    assert.deepEqual(tableOf(r.stdout), SUITE_ITEMS.map((name) => tableRow(name, 'PASS', 1, 1)));
    assert.match(r.stdout, /^9 of 9 passed\.$/m);

    assert.match(r.stdout, /^✔ verify +GET {2}200 +\d+ ms {2}echostr answered: \d+$/m);
    assert.match(r.stdout, /^✔ verify_data +GET {2}200 +\d+ ms {2}echostr answered: \d+$/m);
    const line = (name, corp) => new RegExp(`^✔ ${name} +POST 200 +\\d+ ms  success  (evt_[0-9a-f]{32})${corp ? `  corp ${corp}` : ''}  → default$`, 'm');
    const ids = {};
    for (const [name, corp] of [['suite_ticket'], ['create_auth'], ['change_auth', corpA], ['cancel_auth', corpB], ['text', corpA], ['enter_agent', corpB]]) {
      ids[name] = line(name, corp).exec(r.stdout)?.[1];
      assert.ok(ids[name], `${name}:\n${r.stdout}`);
    }
    assert.match(r.stdout, new RegExp(`^✔ resend \\(suite_ticket\\) +POST 200 +\\d+ ms  duplicate of ${ids.suite_ticket}: success  → default$`, 'm'));

    // The gateway has each event once (the resend was one of them), as the intranet gets it.
    const events = await pullAll(gateway.url, 'crm', SUITE.pull.token);
    assert.deepEqual(events.map((e) => e.id), Object.values(ids));
    const byId = Object.fromEntries(events.map((e) => [e.id, e]));
    const head = (e) => [e.app, e.receiveId, e.corpId, e.format];
    assert.deepEqual(head(byId[ids.suite_ticket]), ['crm', SUITE_ID, undefined, 'xml']);
    assert.deepEqual(head(byId[ids.create_auth]), ['crm', SUITE_ID, undefined, 'xml']);
    assert.deepEqual(head(byId[ids.change_auth]), ['crm', SUITE_ID, corpA, 'xml']);
    assert.deepEqual(head(byId[ids.cancel_auth]), ['crm', SUITE_ID, corpB, 'xml']);
    assert.deepEqual(head(byId[ids.text]), ['crm', corpA, corpA, 'xml']);
    assert.deepEqual(head(byId[ids.enter_agent]), ['crm', corpB, corpB, 'xml']);
    const ticket = byId[ids.suite_ticket].event;
    assert.deepEqual(Object.keys(ticket), ['SuiteId', 'InfoType', 'TimeStamp', 'SuiteTicket']);
    assert.deepEqual([ticket.SuiteId, ticket.InfoType], [SUITE_ID, 'suite_ticket']);
    assert.match(ticket.SuiteTicket, /^[A-Za-z0-9]{64}$/);
    const create = byId[ids.create_auth].event;
    assert.deepEqual(Object.keys(create), ['SuiteId', 'AuthCode', 'InfoType', 'TimeStamp', 'State']);
    assert.deepEqual([create.SuiteId, create.InfoType, create.TimeStamp], [SUITE_ID, 'create_auth', ticket.TimeStamp]);
    assert.match(create.State, /^wecom-edge-simulate-[0-9a-f]{8}$/);
    const change = byId[ids.change_auth].event;
    assert.deepEqual(Object.keys(change), ['SuiteId', 'InfoType', 'TimeStamp', 'AuthCorpId', 'State']);
    assert.deepEqual([change.SuiteId, change.InfoType, change.AuthCorpId], [SUITE_ID, 'change_auth', corpA]);
    assert.deepEqual(byId[ids.cancel_auth].event, { SuiteId: SUITE_ID, InfoType: 'cancel_auth', TimeStamp: ticket.TimeStamp, AuthCorpId: corpB });
    const text = byId[ids.text].event;
    assert.deepEqual([text.ToUserName, text.MsgType, text.AgentID], [corpA, 'text', '1000002']);
    assert.match(text.FromUserName, /^wecom-edge-simulate-[0-9a-f]{8}$/);
    assert.match(text.Content, /^wecom-edge simulate: 你好 [0-9a-f]{8}$/);
    const enter = byId[ids.enter_agent].event;
    assert.deepEqual([enter.ToUserName, enter.MsgType, enter.Event, enter.FromUserName], [corpB, 'event', 'enter_agent', text.FromUserName]);

    // The ticket endpoint answers the simulated ticket.
    const kept = await ticketOf(gateway.url, 'crm', SUITE.suite.ticketToken);
    assert.equal(kept.status, 200);
    assert.deepEqual(Object.keys(kept.body), ['suiteId', 'ticket', 'receivedAt', 'ageSeconds', 'stale']);
    assert.deepEqual([kept.body.suiteId, kept.body.ticket, kept.body.stale], [SUITE_ID, ticket.SuiteTicket, false]);
    assert.match(kept.body.receivedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Number.isInteger(kept.body.ageSeconds) && kept.body.ageSeconds >= 0, String(kept.body.ageSeconds));
  });

  test('a suite with --repeat 2 --json: the suite and its corps in the head, corpId in each corp\'s result, each resend its own repetition\'s', async () => {
    const r = await simulate('crm_repeat', '--apps', file, '--repeat', '2', '--json');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(report), ['url', 'app', 'bot', 'receiveId', 'suite', 'results', 'table', 'passed', 'failed', 'latency']);
    assert.deepEqual([report.url, report.app, report.bot, report.receiveId], [`${gateway.url}/callback/crm_repeat`, 'crm_repeat', false, SUITE_ID]);
    const { corps } = report.suite;
    assert.deepEqual(report.suite, { suiteId: SUITE_ID, providerCorpId: PROVIDER, dataUrl: `${gateway.url}/callback/crm_repeat/data`, corps });
    assert.equal(corps.length, 2);
    assert.match(corps[0], /^wpsimA[A-Za-z0-9]{26}$/);
    assert.match(corps[1], /^wpsimB[A-Za-z0-9]{26}$/);
    const corpOf = { change_auth: corps[0], cancel_auth: corps[1], text: corps[0], enter_agent: corps[1] };
    assert.deepEqual(
      report.results.map((x) => [x.name, x.repetition, x.method, x.status, x.ok, x.corpId]),
      [1, 2].flatMap((rep) => SUITE_ITEMS.map((name) => [name, rep, name.startsWith('verify') ? 'GET' : 'POST', 200, true, corpOf[name]])),
    );
    for (const rep of [0, 1]) {
      const mine = report.results.slice(rep * 9, rep * 9 + 9);
      assert.equal(mine[8].eventId, mine[2].eventId);
      assert.deepEqual(mine.map((x) => x.duplicate), [undefined, undefined, false, false, false, false, false, false, true]);
    }
    assert.equal(new Set(report.results.map((x) => x.eventId).filter(Boolean)).size, 12);
    assert.deepEqual(report.table, SUITE_ITEMS.map((name) => ({ name, count: 2, passed: 2, failed: 0 })));
    // The first repetition's ticket is the newest (its TimeStamp a second later): the one kept.
    const events = await pullAll(gateway.url, 'crm_repeat', SUITE.pull.token);
    const tickets = events.filter((e) => e.event.InfoType === 'suite_ticket');
    assert.deepEqual(tickets.map((e) => e.id), [report.results[2].eventId, report.results[11].eventId]);
    assert.equal(Number(tickets[0].event.TimeStamp), Number(tickets[1].event.TimeStamp) + 1);
    const kept = await ticketOf(gateway.url, 'crm_repeat', SUITE.suite.ticketToken);
    assert.equal(kept.body.ticket, tickets[0].event.SuiteTicket);
  });

  test('a 代开发 template from wecom-edge.config.json, its token and key (and ticketToken) secret references: simulated and kept', async () => {
    const r = await simulate('tpl', '--config', configFile, '--secrets', secretsFile, '--only', 'verify,verify_data,suite_ticket,text');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout.split('\n')[0], `Simulating WeCom against the suite "${TEMPLATE_ID}" at ${gateway.url}/callback/tpl (XML callbacks, AgentID 1000002)`);
    assert.deepEqual(tableOf(r.stdout), ['verify', 'verify_data', 'suite_ticket', 'text'].map((name) => tableRow(name, 'PASS', 1, 1)));
    const [ticket, text] = await pullAll(gateway.url, 'tpl', TEMPLATE_SECRETS.TPL_PULL_TOKEN);
    assert.deepEqual([ticket.receiveId, ticket.event.SuiteId, text.event.MsgType], [TEMPLATE_ID, TEMPLATE_ID, 'text']);
    const kept = await ticketOf(gateway.url, 'tpl', TEMPLATE_SECRETS.TPL_TICKET_TOKEN);
    assert.deepEqual([kept.status, kept.body.suiteId, kept.body.ticket], [200, TEMPLATE_ID, ticket.event.SuiteTicket]);
  });

  test("a suite's ids that are not the gateway's: each URL's refusal says which receiveId it wanted; data callbacks still pass", async () => {
    const wrong = appsFile({ crm: { ...SUITE, suite: { ...SUITE.suite, suiteId: 'wwnotthesuite0000', providerCorpId: 'wwnottheprovider00' } } });
    const r = await simulate('crm', '--apps', wrong);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const provider = "400 -40005 receiveId is not the provider's corpid (suite.providerCorpId): WeCom verifies both of a suite's URLs with it";
    const suiteId = "400 -40005 receiveId is not the suite id (suite.suiteId): a corp's data callback? Its URL is /callback/crm/data (数据回调URL)";
    assert.deepEqual(tableOf(r.stdout), [
      tableRow('verify', 'FAIL', 0, 1, provider),
      tableRow('verify_data', 'FAIL', 0, 1, provider),
      ...['suite_ticket', 'create_auth', 'change_auth', 'cancel_auth'].map((name) => tableRow(name, 'FAIL', 0, 1, suiteId)),
      tableRow('text', 'PASS', 1, 1),
      tableRow('enter_agent', 'PASS', 1, 1),
      tableRow('resend', 'FAIL', 0, 1, suiteId),
    ]);
    assert.match(r.stdout, /^2 of 9 passed, 7 failed\.$/m);
    assert.match(r.stdout, /^✘ change_auth +POST 400 +\d+ ms {2}-40005 receiveId is not the suite id \(suite\.suiteId\): a corp's data callback\? Its URL is \/callback\/crm\/data \(数据回调URL\) {2}corp wpsimA[A-Za-z0-9]{26}$/m);
  });

  test('an app that is a suite in the file but not on the gateway: the data URL is an unknown app\'s, and simulate says why', async () => {
    const { receiveId, ...load } = apps.load;
    assert.equal(receiveId, CORP_ID);
    const mismatched = appsFile({ load: { ...load, suite: SUITE.suite } });
    const r = await simulate('load', '--apps', mismatched, '--only', 'verify,verify_data,suite_ticket,text');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const unknown = "401 -40001 msg_signature does not match (is the app a suite in the gateway's configuration? Only a suite has a data URL)";
    const notAccepted = '400 -40005 receiveId is not one this app accepts';
    assert.deepEqual(tableOf(r.stdout), [
      tableRow('verify', 'FAIL', 0, 1, notAccepted),
      tableRow('verify_data', 'FAIL', 0, 1, unknown),
      tableRow('suite_ticket', 'FAIL', 0, 1, notAccepted),
      tableRow('text', 'FAIL', 0, 1, unknown),
    ]);
  });

  test("a suite's usage errors: its --only names, a resend alone, and an entry the gateway would refuse", async () => {
    const unknown = await simulate('crm', '--apps', file, '--only', 'verify,click');
    assert.deepEqual([unknown.code, unknown.stdout], [2, '']);
    assert.equal(
      unknown.stderr,
      'wecom-edge simulate: unknown --only name "click"; the suite catalogue has: verify, verify_data, suite_ticket, create_auth, change_auth, cancel_auth, text, enter_agent, resend\n' +
        "Run 'wecom-edge simulate --help' for usage.\n",
    );
    const resendAlone = await simulate('crm', '--apps', file, '--only', 'verify_data,resend');
    assert.equal(resendAlone.code, 2);
    assert.match(resendAlone.stderr, /^wecom-edge simulate: resend sends the first callback of the run again: choose one with it/);
    const bad = appsFile({
      notobject: { ...SUITE, suite: 'wwsuite7d1e9a2c0b4f' },
      list: { ...SUITE, suite: [SUITE_ID] },
      nosuiteid: { ...SUITE, suite: { providerCorpId: PROVIDER, ticketToken: 'x'.repeat(32) } },
      badsuiteid: { ...SUITE, suite: { ...SUITE.suite, suiteId: 'ww suite' } },
      noprovider: { ...SUITE, suite: { suiteId: SUITE_ID, ticketToken: 'x'.repeat(32) } },
      emptyprovider: { ...SUITE, suite: { ...SUITE.suite, providerCorpId: '' } },
      withreceiveid: { ...SUITE, receiveId: CORP_ID },
      withbot: { ...SUITE, bot: { token: 'bot-stream-token-0123456789' } },
    });
    const expected = {
      notobject: 'has a "suite" that is not an object: {"suiteId", "providerCorpId", "ticketToken"}',
      list: 'has a "suite" that is not an object: {"suiteId", "providerCorpId", "ticketToken"}',
      nosuiteid: "has no valid suite.suiteId: the suite's SuiteID or a 代开发 template's id, 1-64 letters, digits, _ or -",
      badsuiteid: "has no valid suite.suiteId: the suite's SuiteID or a 代开发 template's id, 1-64 letters, digits, _ or -",
      noprovider: "has no valid suite.providerCorpId: the provider's own CorpID, 1-64 letters, digits, _ or -",
      emptyprovider: "has no valid suite.providerCorpId: the provider's own CorpID, 1-64 letters, digits, _ or -",
      withreceiveid: 'has both "suite" and "receiveId", which the gateway refuses: a suite\'s two URLs take the receiveIds suite.suiteId and suite.providerCorpId give',
      withbot: 'has both "suite" and "bot", which the gateway refuses: a suite\'s two URLs take the receiveIds suite.suiteId and suite.providerCorpId give',
    };
    for (const [name, message] of Object.entries(expected)) {
      const r = await run(['simulate', 'http://127.0.0.1:9', '--app', name, '--apps', bad]);
      assert.deepEqual([r.code, r.stdout, r.stderr], [2, '', `wecom-edge simulate: app "${name}" in ${bad} ${message}\nRun 'wecom-edge simulate --help' for usage.\n`], name);
    }
  });

  test('usage errors need no gateway: unknown --only names, resend or stream alone, bad numbers', async () => {
    const unknown = await simulate('hr', '--apps', file, '--only', 'text,bogus');
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stdout, '');
    assert.match(unknown.stderr, /^wecom-edge simulate: unknown --only name "bogus"; the app catalogue has: verify, text, image, voice, location, subscribe, enter_agent, click, view, scancode_waitmsg, create_user, update_user, delete_party, sys_approval_change, add_external_contact, template_card_event, kf_msg_or_event, suite_ticket, resend\n/);
    const botUnknown = await simulate('bot', '--apps', file, '--only', 'image');
    assert.equal(botUnknown.code, 2);
    assert.match(botUnknown.stderr, /the AI-bot catalogue has: verify, text, stream, enter_chat, resend/);
    const resendAlone = await simulate('hr', '--apps', file, '--only', 'resend');
    assert.equal(resendAlone.code, 2);
    assert.match(resendAlone.stderr, /resend sends the first callback of the run again/);
    const streamAlone = await simulate('bot', '--apps', file, '--only', 'stream');
    assert.equal(streamAlone.code, 2);
    assert.match(streamAlone.stderr, /use --only text,stream/);
    const badRepeat = await simulate('hr', '--apps', file, '--repeat', '0');
    assert.equal(badRepeat.code, 2);
    assert.match(badRepeat.stderr, /--repeat must be a whole number from 1 to 100000, got "0"/);
    const tooMany = await simulate('hr', '--apps', file, '--repeat', '100001');
    assert.equal(tooMany.code, 2);
    assert.equal(tooMany.stdout, '');
    assert.equal(tooMany.stderr, "wecom-edge simulate: --repeat must be a whole number from 1 to 100000, got \"100001\"\nRun 'wecom-edge simulate --help' for usage.\n");
    const noApp = await simulate('nope', '--apps', file);
    assert.equal(noApp.code, 2);
    assert.match(noApp.stderr, /no app "nope" in .*apps\.json \(it has: hr, rep, bot, quiet_bot, load, any, crm, crm_repeat\)/);
  });
});

describe('simulate: help and errors', () => {
  test('--help prints the usage and exits 0', async () => {
    const r = await run(['simulate', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: wecom-edge simulate <base-url> --app NAME/);
    assert.match(r.stdout, /--concurrency N/);
    const top = await run(['--help']);
    assert.match(top.stdout, /^ {2}simulate {3}play WeCom against a gateway/m);
    assert.match(top.stdout, /^ {2}tail {7}pull an app's events/m);
  });

  test('no --app, no settings, a bad base URL: exit 2 with a clear message', async () => {
    const settings = ['--token', 't', '--key', 'a'.repeat(43), '--receive-id', CORP_ID];
    const noApp = await run(['simulate', 'http://127.0.0.1:8787', ...settings]);
    assert.equal(noApp.code, 2);
    assert.match(noApp.stderr, /^wecom-edge simulate: --app NAME is required/);
    // No settings on the command line: the app comes from the configuration file, which has none here.
    const config = appsFile({ apps: {} }); // a wecom-edge.config.json with no apps
    const noSettings = await run(['simulate', 'http://127.0.0.1:8787', '--app', 'hr', '--config', config]);
    assert.equal(noSettings.code, 2);
    assert.equal(noSettings.stderr, `wecom-edge simulate: no app "hr" in ${config} (it has: none); add one with: npx wecom-edge keygen --app hr --dev\nRun 'wecom-edge simulate --help' for usage.\n`);
    const halfSettings = await run(['simulate', 'http://127.0.0.1:8787', '--app', 'hr', '--token', 't']);
    assert.equal(halfSettings.code, 2);
    assert.match(halfSettings.stderr, /^wecom-edge simulate: give the app's settings with --token and --key \(and --receive-id, or --bot\), or none of these four/);
    const noUrl = await run(['simulate', '--app', 'hr', ...settings]);
    assert.equal(noUrl.code, 2);
    assert.match(noUrl.stderr, /give the gateway's base URL/);
    const ftp = await run(['simulate', 'ftp://example.com', '--app', 'hr', ...settings]);
    assert.equal(ftp.code, 2);
    assert.match(ftp.stderr, /invalid base URL "ftp:\/\/example.com": it must be http or https/);
    const garbage = await run(['simulate', 'wecom.example.com', '--app', 'hr', ...settings]);
    assert.equal(garbage.code, 2);
    assert.match(garbage.stderr, /invalid base URL "wecom.example.com": give an absolute http\(s\) URL/);
    const callbackUrl = await run(['simulate', 'https://wecom.example.com/callback/hr', '--app', 'hr', ...settings]);
    assert.equal(callbackUrl.code, 2);
    assert.match(callbackUrl.stderr, /give the gateway's base URL \(https:\/\/wecom.example.com\), not \/callback\/hr/);
    const shortKey = await run(['simulate', 'http://127.0.0.1:8787', '--app', 'hr', '--token', 't', '--key', 'short', '--receive-id', CORP_ID]);
    assert.equal(shortKey.code, 2);
    assert.match(shortKey.stderr, /--key must be the 43-character EncodingAESKey/);
  });

  test('a suite whose instruction URL answers anything but exactly "success" fails, the answer shown escaped', async () => {
    const server = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\u001b[31m'));
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const suiteFile = appsFile({ crm: SUITE });
      const r = await run(['simulate', `http://127.0.0.1:${server.address().port}`, '--app', 'crm', '--apps', suiteFile, '--only', 'suite_ticket,text']);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.deepEqual(tableOf(r.stdout), [
        tableRow('suite_ticket', 'FAIL', 0, 1, '200 the instruction URL must answer exactly "success" (WeCom retries otherwise), got "ok\\u001b[31m"'),
        tableRow('text', 'FAIL', 0, 1, '200 passive reply FAILS: the answer is neither "success" nor an encrypted reply (<xml><Encrypt>, <MsgSignature>, <TimeStamp>, <Nonce>)'),
      ]);
      assert.doesNotMatch(r.stdout, /\u001b/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('an unreachable gateway: exit 1, said once, on stderr; with --json, one object with the error on stdout', async () => {
    const port = await freePort();
    const args = ['simulate', `http://127.0.0.1:${port}/`, '--app', 'hr', '--token', 't', '--key', 'a'.repeat(43), '--receive-id', CORP_ID];
    const reason = `cannot reach http://127.0.0.1:${port}: the connection was refused (nothing listens there) (ECONNREFUSED)`;
    const r = await run(args);
    assert.deepEqual([r.code, r.stdout, r.stderr], [1, '', `wecom-edge simulate: ${reason}\n`]);

    const json = await run([...args, '--json']);
    assert.equal(json.code, 1);
    assert.equal(json.stderr, `wecom-edge simulate: ${reason}\n`);
    assert.equal(json.stdout, `${JSON.stringify({ url: `http://127.0.0.1:${port}/callback/hr`, app: 'hr', bot: false, receiveId: CORP_ID, error: reason }, null, 2)}\n`);
  });
});

// `wecom-edge routes test` against the gateway running in workerd (wrangler dev),
// and simulate's display of the destinations a callback went to.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startGateway } from '../support/gateway.mjs';
import { routedOf, routedText } from '../../bin/lib/simulate.mjs';
import { formatRoutes } from '../../bin/lib/routes.mjs';
import { appsFile, run } from './helpers.mjs';

const CORP_ID = 'ww3e40cde07cc21a01';
const ADMIN_TOKEN = 'admin-token-for-the-cli-tests-0123456789';
const TOKEN_ENV = { ADMIN_TOKEN };
const HOOK = { url: 'http://127.0.0.1:9/unused', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' };

const HR = {
  token: 'kR7tQ2pZ9wXy',
  encodingAESKey: 'RbSCtD0MnaZDhN0XnWfLE4RemCSlsi9YgSzN8xg0VRc',
  receiveId: CORP_ID,
  destinations: {
    directory: { match: { Event: 'change_contact' }, ordered: true, webhook: HOOK },
    oa: { match: { Event: { in: ['sys_approval_change', 'open_approval_change'] } }, webhook: HOOK },
    crm: { match: { Event: { in: ['change_external_contact', 'change_external_chat'] } }, ordered: { key: 'ExternalUserID' }, transform: '{"user": event.ExternalUserID, "id": id}', webhook: HOOK },
    names: { match: { Event: 'change_contact' }, transform: 'event.UserID', webhook: HOOK },
    audit: { webhook: HOOK },
  },
};

const CONTACT = { ToUserName: CORP_ID, FromUserName: 'sys', CreateTime: '1700000000', MsgType: 'event', Event: 'change_contact', ChangeType: 'update_user', UserID: 'zhangsan' };

const CONTACT_TEXT = [
  '✓ directory (key "")',
  '✗ oa  Event: "change_contact" is not in ["sys_approval_change", "open_approval_change"]',
  '✗ crm  Event: "change_contact" is not in ["change_external_contact", "change_external_chat"]',
  '✓ names',
  '    transform failed: transform returned a string, not an object',
  '✓ audit',
  '',
  '3 of 5 destinations matched: directory, names, audit; read as the event object',
  '',
].join('\n');

describe('routes test against the gateway in workerd', { timeout: 180_000 }, () => {
  let gateway;
  let dir;
  let apps;
  const file = (name, content) => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };
  const routes = (args, options = {}) => run(['routes', 'test', gateway.url, '--app', 'hr', ...args], { env: TOKEN_ENV, ...options });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wecom-edge-routes-'));
    const broken = { ...HR, destinations: { a: { match: { Event: { in: [] } }, webhook: HOOK } } };
    // Another app, so that its callbacks are events of their own: only approvals go anywhere.
    const picky = { ...HR, token: 'pT4mQ8vX2zLw', destinations: { oa: { match: { Event: 'sys_approval_change' }, webhook: HOOK } } };
    apps = { hr: HR, broken, picky };
    gateway = await startGateway({ apps, adminToken: ADMIN_TOKEN });
  });

  after(async () => {
    await gateway?.stop();
  });

  test('an event object: one line per destination, in order, with keys, reasons and transforms', async () => {
    const r = await routes([file('contact.json', CONTACT)]);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, CONTACT_TEXT);
  });

  test('a full event from stdin, with a keyed destination and a transform', async () => {
    const full = { id: 'evt_0123456789abcdef0123456789abcdef', app: 'hr', receiveId: CORP_ID, receivedAt: '2026-11-29T08:57:16.651Z', format: 'xml', event: { ...CONTACT, Event: 'change_external_contact', ExternalUserID: 'wmABC' }, raw: '<xml/>' };
    const r = await routes(['-'], { input: JSON.stringify(full) });
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      [
        '✗ directory  Event: "change_external_contact" is not "change_contact"',
        '✗ oa  Event: "change_external_contact" is not in ["sys_approval_change", "open_approval_change"]',
        '✓ crm (key "wmABC")',
        '    transform → {"user":"wmABC","id":"evt_0123456789abcdef0123456789abcdef"}',
        '✗ names  Event: "change_external_contact" is not "change_contact"',
        '✓ audit',
        '',
        '2 of 5 destinations matched: crm, audit; read as the full event',
        '',
      ].join('\n'),
    );
  });

  test('--json gives the gateway\'s answer', async () => {
    const r = await routes(['--json', file('contact.json', CONTACT)]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      app: 'hr',
      input: 'event',
      destinations: [
        { name: 'directory', matched: true, key: '', transform: null },
        { name: 'oa', matched: false, failed: 'Event: "change_contact" is not in ["sys_approval_change", "open_approval_change"]' },
        { name: 'crm', matched: false, failed: 'Event: "change_contact" is not in ["change_external_contact", "change_external_chat"]' },
        { name: 'names', matched: true, key: null, transform: { ok: false, error: 'transform returned a string, not an object' } },
        { name: 'audit', matched: true, key: null, transform: null },
      ],
      matched: ['directory', 'names', 'audit'],
    });
  });

  test('the admin token from --secrets (a dotenv file), ahead of the environment', async () => {
    const secrets = file('secrets.env', `ADMIN_TOKEN='${ADMIN_TOKEN}'\n`);
    const r = await routes(['--secrets', secrets, file('contact.json', CONTACT)], { env: { ADMIN_TOKEN: 'wrong-token-wrong-token-0123456789' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, CONTACT_TEXT);
  });

  test('a key or reason from outside cannot reach the terminal as control characters', async () => {
    const r = await routes([file('hostile.json', { Event: 'change_external_chat\u001b]0;owned\u0007', ExternalUserID: 'a\u009b2J\nb' })], { env: { ...TOKEN_ENV, WECOM_EDGE_TTY: '1' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split('\n')[0], '✗ directory  Event: "change_external_chat\\u001b]0;owned\\u0007" is not "change_contact"');
    assert.doesNotMatch(r.stdout, /[\u001b\u0007\u009b]/);
    const keyed = await routes([file('keyed.json', { Event: 'change_external_chat', ExternalUserID: 'a\u009b2J\u202eb' })], { env: { ...TOKEN_ENV, WECOM_EDGE_TTY: '0' } });
    assert.equal(keyed.stdout.split('\n')[2], '✓ crm (key "a\\u009b2J\\u202eb")');
    assert.equal(keyed.stdout.split('\n')[3], '    transform → {"user":"a\\u009b2J\\u202eb","id":"evt_test"}');
  });

  test('nothing matched is still exit 0', async () => {
    const r = await routes([file('location.json', { MsgType: 'location' })]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split('\n').at(-2), '1 of 5 destinations matched: audit; read as the event object');
  });

  test('refusals: a wrong token, an unknown app, a misconfigured app are exit 1 with the gateway\'s words', async () => {
    const contact = file('contact.json', CONTACT);
    const wrong = await routes([contact], { env: { ADMIN_TOKEN: 'wrong-token-wrong-token-0123456789' } });
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stdout, '');
    assert.equal(wrong.stderr, "wecom-edge routes: the gateway answered 401 unauthorized: a valid bearer token is required\n  the admin token is not the gateway's ADMIN_TOKEN\n");
    const unknown = await run(['routes', 'test', gateway.url, '--app', 'nosuch', contact], { env: TOKEN_ENV });
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, 'wecom-edge routes: the gateway answered 404 unknown_app: no app named "nosuch"\n  the gateway has no app "nosuch" configured\n');
    const unknownJson = await run(['routes', 'test', gateway.url, '--app', 'nosuch', '--json', contact], { env: TOKEN_ENV });
    assert.equal(unknownJson.code, 1);
    assert.deepEqual(JSON.parse(unknownJson.stdout), {
      url: `${gateway.url}/admin/apps/nosuch/routes/test`,
      app: 'nosuch',
      status: 404,
      code: 'unknown_app',
      error: 'the gateway answered 404 unknown_app: no app named "nosuch"',
      hint: 'the gateway has no app "nosuch" configured',
    });
    const broken = await run(['routes', 'test', gateway.url, '--app', 'broken', contact], { env: TOKEN_ENV });
    assert.equal(broken.code, 1);
    assert.equal(
      broken.stderr,
      'wecom-edge routes: the gateway answered 503 invalid_config: app "broken" is misconfigured: WECOM_APPS.broken.destinations.a.match.Event.in must be a non-empty array of strings\n' +
        '  fix the app\'s entry; `npx wecom-edge check-config` checks the configuration locally\n',
    );
  });

  test('simulate shows the destinations each callback went to, and (unrouted)', async () => {
    const file = appsFile(apps);
    const r = await run(['simulate', gateway.url, '--app', 'hr', '--apps', file, '--only', 'text,update_user,sys_approval_change', '--timeout', '30000']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.split('\n').filter((line) => line.startsWith('✔ '));
    assert.equal(lines.length, 3);
    assert.match(lines[0], /^✔ text .* evt_[0-9a-f]{32} {2}→ audit$/);
    assert.match(lines[1], /^✔ update_user .* evt_[0-9a-f]{32} {2}→ directory, names, audit$/);
    assert.match(lines[2], /^✔ sys_approval_change .* evt_[0-9a-f]{32} {2}→ oa, audit$/);
    const picky = await run(['simulate', gateway.url, '--app', 'picky', '--apps', file, '--only', 'text,sys_approval_change', '--timeout', '30000', '--json']);
    assert.equal(picky.code, 0, picky.stdout + picky.stderr);
    const results = JSON.parse(picky.stdout).results;
    assert.deepEqual(results.map((result) => [result.name, result.routed]), [['text', []], ['sys_approval_change', ['oa']]]);
    const text = await run(['simulate', gateway.url, '--app', 'picky', '--apps', file, '--only', 'location', '--timeout', '30000']);
    assert.match(text.stdout.split('\n').find((line) => line.startsWith('✔ location')), / {2}→ \(unrouted\)$/);
  });

  test('usage errors are exit 2 and send nothing', async () => {
    const cases = [
      [['routes', 'test', gateway.url, '--app', 'hr'], "give the event's FILE (or - for stdin) after the base URL"],
      [['routes', 'test', gateway.url, file('contact.json', CONTACT)], '--app NAME is required: the app as it is named in wecom-edge.config.json (or WECOM_APPS) and in /callback/NAME'],
      [['routes', 'test', gateway.url, '--app', 'hr', file('broken.json', '{"Event": "change_contact",\n x}')], `${join(dir, 'broken.json')} is not JSON: unexpected 'x' at line 2, column 2`],
      [['routes', 'test', gateway.url, '--app', 'hr', join(dir, 'missing.json')], `cannot read ${join(dir, 'missing.json')}: ENOENT`],
      // Past the admin API's 1 MiB: refused before anything is sent (the gateway's own 413 is tested in test/destinations/routes-test.test.ts).
      [['routes', 'test', gateway.url, '--app', 'hr', file('big.json', { MsgType: 'text', Content: 'a'.repeat(1024 * 1024) })], `${join(dir, 'big.json')} is 1048607 bytes: the gateway takes an event of at most 1048576 (1 MiB)`],
      [['routes', 'list'], 'unknown subcommand "list": the one there is, is routes test'],
      [['routes'], 'give a subcommand: routes test'],
    ];
    for (const [args, message] of cases) {
      const r = await run(args, { env: TOKEN_ENV });
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stderr, `wecom-edge routes: ${message}\nRun 'wecom-edge routes --help' for usage.\n`);
    }
    const secrets = file('empty.env', 'OTHER=1\n');
    const none = await run(['routes', 'test', gateway.url, '--app', 'hr', '--secrets', secrets, file('contact.json', CONTACT)]);
    assert.equal(none.code, 2);
    assert.equal(none.stderr, `wecom-edge routes: no admin token: ADMIN_TOKEN is not set in ${secrets}\nRun 'wecom-edge routes --help' for usage.\n`);
  });
});

test('an unreachable gateway is exit 1, said once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wecom-edge-routes-'));
  const path = join(dir, 'e.json');
  writeFileSync(path, '{}');
  const port = await freePort();
  const r = await run(['routes', 'test', `http://127.0.0.1:${port}`, '--app', 'hr', path], { env: TOKEN_ENV });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `wecom-edge routes: cannot reach http://127.0.0.1:${port}: the connection was refused (nothing listens there) (ECONNREFUSED)\n`);
  const json = await run(['routes', 'test', `http://127.0.0.1:${port}`, '--app', 'hr', '--json', path], { env: TOKEN_ENV });
  assert.equal(json.code, 1);
  assert.deepEqual(JSON.parse(json.stdout), {
    url: `http://127.0.0.1:${port}/admin/apps/hr/routes/test`,
    app: 'hr',
    error: `cannot reach http://127.0.0.1:${port}: the connection was refused (nothing listens there) (ECONNREFUSED)`,
  });
});

test('routes --help and help routes', async () => {
  const a = await run(['routes', '--help']);
  const b = await run(['help', 'routes']);
  const c = await run(['routes', 'test', '--help']);
  assert.equal(a.code, 0);
  assert.match(a.stdout, /^Usage: wecom-edge routes test <base-url> --app NAME/);
  assert.equal(b.stdout, a.stdout);
  assert.equal(c.stdout, a.stdout);
});

test('formatRoutes: a transform\'s body on one line, escaped', () => {
  const text = formatRoutes({
    app: 'hr',
    input: 'full',
    destinations: [
      { name: 'a', matched: true, key: 'k\n', transform: { ok: true, body: { x: 'line\nbreak' } } },
      { name: 'b', matched: false, failed: 'why\r\nforged' },
    ],
    matched: ['a'],
  });
  assert.equal(text, '✓ a (key "k\\n")\n    transform → {"x":"line\\nbreak"}\n✗ b  why\\r\\nforged\n\n1 of 2 destinations matched: a; read as the full event\n');
  const hinted = formatRoutes({
    input: 'event',
    destinations: [{ name: 'a', matched: false, failed: 'Event: missing', hints: ['Event "change_contacts" is not one WeCom sends; did you mean "change_contact"?\u001b[2J'] }],
    matched: [],
    hints: ['the event\'s MsgType "evnet" is not one WeCom sends; did you mean "event"?'],
  });
  assert.equal(
    hinted,
    '✗ a  Event: missing\n    hint: Event "change_contacts" is not one WeCom sends; did you mean "change_contact"?\\u001b[2J\n\nnone of 1 destinations matched: the gateway would answer success and not store the event (unrouted); read as the event object\nhint: the event\'s MsgType "evnet" is not one WeCom sends; did you mean "event"?\n',
  );
  assert.equal(formatRoutes({ destinations: [], matched: [] }), '\nnone of 0 destinations matched: the gateway would answer success and not store the event (unrouted)\n');
});

test("simulate's routed display: the header's names, (unrouted) for an empty one, nothing without it", () => {
  assert.deepEqual(routedOf('directory,audit'), ['directory', 'audit']);
  assert.deepEqual(routedOf('directory, audit'), ['directory', 'audit']);
  assert.deepEqual(routedOf(''), []);
  assert.equal(routedOf(null), undefined);
  assert.equal(routedText(['directory', 'audit']), '→ directory, audit');
  assert.equal(routedText([]), '→ (unrouted)');
  assert.equal(routedText(undefined), '');
  assert.equal(routedText(['a\u001b[2J']), '→ a\\u001b[2J');
});

// The CLI against a gateway in workerd whose configuration is at fault, and
// whose answers carry text that would drive a terminal:
// - simulate and diagnose --send, answered 503 invalid_config, say where the
//   gateway names the field (GET /admin/apps, the admin page, wrangler's log)
//   and to run check-config;
// - simulate shows a passive reply that holds ESC, BEL, C1, DEL and bidi
//   overrides as visible escapes, and --raw keeps its bytes.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startGateway } from '../support/gateway.mjs';
import { sealCallback } from '../../bin/lib/wecom-side.mjs';
import { appsFile, run } from './helpers.mjs';

const CORP_ID = 'ww3e40cde07cc21a01';
const ADMIN_TOKEN = 'admin-token-for-the-cli-tests-0123456789';
const TIMEOUT = ['--timeout', '30000'];
const TTY = { env: { WECOM_EDGE_TTY: '1' } };
/** A title (OSC 0), a clipboard write (OSC 52) and a clear screen, with DEL and bidi overrides. */
const HOSTILE = '\u001b]0;title\u0007 \u009d52;c;aGk=\u009c \u009b2J \u007f \u202eevil\u202c \u2066x\u2069';
/** HOSTILE as a terminal is shown it, by hand. */
const SHOWN = '\\u001b]0;title\\u0007 \\u009d52;c;aGk=\\u009c \\u009b2J \\u007f \\u202eevil\\u202c \\u2066x\\u2069';
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

const APPS = {
  // The typo that misled a new user: "recieveId". The gateway refuses the app as a whole.
  typo: {
    token: 'typoToken0123456789abcdefABCDEF',
    encodingAESKey: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR',
    recieveId: CORP_ID,
    pull: { token: 'typo-pull-token-0123456789abcdef' },
  },
  echo: {
    token: 'echoToken0123456789abcdefABCDEF',
    encodingAESKey: 'ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj',
    receiveId: CORP_ID,
    pull: { token: 'echo-pull-token-0123456789abcdef' },
    reply: { rules: [{ match: { MsgType: 'text' }, reply: { MsgType: 'text', Content: HOSTILE } }] },
  },
};

describe('the CLI and a gateway that blames its configuration, or answers hostile text', { timeout: 180_000 }, () => {
  let gateway;
  let file;

  before(async () => {
    file = appsFile(APPS);
    gateway = await startGateway({ apps: APPS, adminToken: ADMIN_TOKEN });
  });
  after(async () => {
    await gateway?.stop();
  });

  const hint = () => [
    'the gateway says app "typo" is misconfigured (503 invalid_config).',
    `  The field at fault is named in GET ${gateway.url}/admin/apps ("invalidApps"), on the admin page at ${gateway.url}/admin,`,
    "  and in wrangler's log (the output of wrangler dev, or npx wrangler tail).",
    '  Run `npx wecom-edge check-config` locally: it checks wecom-edge.config.json and the secrets it names.',
  ];

  test('the gateway does name the field where the hint says', async () => {
    const listed = await (await fetch(`${gateway.url}/admin/apps`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
    assert.deepEqual(Object.keys(listed.invalidApps), ['typo']);
    assert.match(listed.invalidApps.typo, /recieveId/);
  });

  test('simulate, answered 503 invalid_config: says so once, with where to look, and stops (exit 1)', async () => {
    const args = ['simulate', gateway.url, '--app', 'typo', '--token', APPS.typo.token, '--key', APPS.typo.encodingAESKey, '--receive-id', CORP_ID, ...TIMEOUT];
    const r = await run(args);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `wecom-edge simulate: ${hint().join('\n')}\n`);

    const json = await run([...args, '--json']);
    assert.equal(json.code, 1);
    assert.equal(json.stderr, `wecom-edge simulate: ${hint().join('\n')}\n`);
    assert.deepEqual(JSON.parse(json.stdout), {
      url: `${gateway.url}/callback/typo`,
      app: 'typo',
      bot: false,
      receiveId: CORP_ID,
      error: '503 invalid_config: app "typo" is misconfigured',
      status: 503,
      code: 'invalid_config',
      hint: hint().join('\n'),
    });
  });

  test('diagnose --send, answered 503 invalid_config: the checks pass, the gateway refuses, and the hint says where to look', async () => {
    const sealed = sealCallback(`${gateway.url}/callback/typo`, { ...APPS.typo, receiveId: CORP_ID }, '<xml><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>', { format: 'xml' });
    const r = await run(['diagnose', '--url', sealed.url, '--body', sealed.body, '--token', APPS.typo.token, '--key', APPS.typo.encodingAESKey, '--send', ...TIMEOUT]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.split('\n');
    assert.equal(lines.at(-1), '');
    assert.deepEqual(lines.slice(-7, -1), [
      '',
      `✘ gateway (invalid_config): POST ${gateway.url}/callback/typo answered 503 app "typo" is misconfigured`,
      ...hint().map((line) => `  ${line}`),
    ]);
    assert.match(r.stdout, /^✔ plaintext: XML$/m);
  });

  test('diagnose --send, answered 200: said with the event it made; a resend is a duplicate of it', async () => {
    const message =
      `<xml><ToUserName><![CDATA[${CORP_ID}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>${Math.floor(Date.now() / 1000)}</CreateTime>` +
      '<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><AgentID>1000002</AgentID></xml>';
    const sealed = sealCallback(`${gateway.url}/callback/echo`, APPS.echo, message, { format: 'xml' });
    const args = ['diagnose', '--url', sealed.url, '--body', sealed.body, '--token', APPS.echo.token, '--key', APPS.echo.encodingAESKey, '--receive-id', CORP_ID, '--send'];
    const r = await run(args);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const id = new RegExp(`^✔ gateway: POST ${gateway.url}/callback/echo answered 200 "success" \\(event (evt_[0-9a-f]{32})\\)$`, 'm').exec(r.stdout)?.[1];
    assert.ok(id, r.stdout);
    const again = await run(args);
    assert.equal(again.code, 0);
    assert.equal(again.stdout.split('\n').at(-2), `✔ gateway: POST ${gateway.url}/callback/echo answered 200 "success" (a duplicate of event ${id})`);
  });

  test("simulate shows a passive reply's hostile text as escapes, on a terminal or not; --raw keeps its bytes", async () => {
    const args = ['simulate', gateway.url, '--app', 'echo', '--apps', file, '--only', 'text', ...TIMEOUT];
    for (const options of [TTY, {}]) {
      const r = await run(args, options);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      // The summary quotes the Content as JSON (ESC and BEL escaped by JSON itself), then the decrypted reply as it is.
      assert.match(r.stdout, new RegExp(`^✔ text +POST 200 +\\d+ ms {2}verified reply: text ${escapeRegExp(`"${SHOWN}"`)} {2}evt_[0-9a-f]{32} {2}→ default$`, 'm'));
      assert.match(r.stdout, new RegExp(`^ {4}<xml><ToUserName>.*<Content><!\\[CDATA\\[${escapeRegExp(SHOWN)}\\]\\]></Content></xml>$`, 'm'));
      assert.doesNotMatch(r.stdout + r.stderr, UNSAFE);
    }
    const raw = await run([...args, '--raw'], TTY);
    assert.equal(raw.code, 0);
    assert.ok(raw.stdout.includes(`<Content><![CDATA[${HOSTILE}]]></Content></xml>\n`), raw.stdout);
  });
});

describe('simulate: a refusal whose code and message would drive a terminal', () => {
  let server;
  afterEach(() => new Promise((resolve) => (server ? server.close(resolve) : resolve())));

  test('they are kept to their line and escaped; the table says the same', async () => {
    server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: '\u009b31m', message: `${HOSTILE}\n✔ forged  POST 200` } }));
      });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${server.address().port}`;
    const r = await run(['simulate', url, '--app', 'hr', '--token', 't', '--key', 'a'.repeat(43), '--receive-id', CORP_ID, '--only', 'verify'], TTY);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, '');
    const summary = `\\u009b31m ${SHOWN}\\n✔ forged  POST 200`;
    assert.match(r.stdout, new RegExp(`^✘ verify +GET {2}400 +\\d+ ms {2}${escapeRegExp(summary)}\\n`, 'm'));
    assert.ok(r.stdout.includes(`\n  verify                   FAIL    0/1  400 ${summary}\n`), r.stdout);
    assert.doesNotMatch(r.stdout, /^✔ forged/m);
  });
});

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

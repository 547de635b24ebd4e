// check-config: wecom-edge.config.json, its secret references and Cloudflare's
// 5 KB limit, checked with the Worker's own code (docs/cli.md, "check-config: check the configuration before a deploy").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/wecom-edge.mjs', import.meta.url));
const KEY = 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAjXyZzR6q2B2C';
const WHSEC = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const ref = (secret) => ({ secret });

/** A project folder: wecom-edge.config.json, wrangler.toml, and the files given. */
function project({ apps, vars = { WECOM_MAX_SKEW_SECONDS: '300' }, files = {}, extraToml = '' }) {
  const dir = mkdtempSync(join(tmpdir(), 'wecom-edge-check-'));
  writeFileSync(join(dir, 'wecom-edge.config.json'), JSON.stringify({ apps }, null, 2));
  const toml = Object.entries(vars).map(([name, value]) => `${name} = ${JSON.stringify(value)}\n`).join('');
  writeFileSync(join(dir, 'wrangler.toml'), `name = "check"\nmain = "src/index.ts"\ncompatibility_date = "2026-11-01"\n\n[vars]\n${toml}${extraToml}`);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

function run(dir, args = [], env = {}) {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'check-config', ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

const hr = {
  token: ref('HR_TOKEN'),
  encodingAESKey: ref('HR_ENCODING_AES_KEY'),
  receiveId: 'ww3e40cde07cc21a01',
  webhook: { url: 'https://hr.intranet.example/wecom', secret: ref('HR_WEBHOOK_SECRET') },
};
const HR_SECRETS = { HR_TOKEN: 'hrTokenValue0123', HR_ENCODING_AES_KEY: KEY, HR_WEBHOOK_SECRET: WHSEC };

test('passes a file whose references are all in secrets/secrets.json, printing names and never a value', async () => {
  const dir = project({ apps: { hr }, files: { 'secrets/secrets.json': JSON.stringify(HR_SECRETS) } });
  const r = await run(dir);
  assert.equal(r.stderr, '');
  assert.equal(
    r.stdout,
    [
      'secrets   secrets/secrets.json: 3',
      'vars      wrangler.toml: 1',
      'config    wecom-edge.config.json: 1 app',
      'ok        hr',
      'The configuration is good to deploy.',
      '',
    ].join('\n'),
  );
  assert.equal(r.code, 0);
});

test('reads .dev.vars when there is no secrets/secrets.json, and names a missing secret by the path that references it', async () => {
  const devVars = `HR_TOKEN='hrTokenValue0123'\nHR_ENCODING_AES_KEY='${KEY}'\n`;
  const dir = project({ apps: { hr }, files: { '.dev.vars': devVars } });
  const r = await run(dir);
  assert.equal(r.code, 1);
  assert.equal(
    r.stdout,
    [
      'secrets   .dev.vars: 2',
      'vars      wrangler.toml: 1',
      'config    wecom-edge.config.json: 1 app',
      'invalid   hr',
      '',
      '1 problem:',
      '  - wecom-edge.config.json: apps.hr.webhook.secret names secret HR_WEBHOOK_SECRET, which is not set (npx wrangler secret put HR_WEBHOOK_SECRET; locally, a line in .dev.vars)',
      '',
    ].join('\n'),
  );
  assert.doesNotMatch(r.stdout, /hrTokenValue0123|jWmYm7qr/);
});

test('refuses an oversized WECOM_APPS and an oversized variable, as Cloudflare would at upload, saying how to split', async () => {
  const big = { ...HR_SECRETS, WECOM_APPS: JSON.stringify({ tickets: { token: 'x'.repeat(40), encodingAESKey: KEY, receiveId: 'ww1', pull: { token: 'p'.repeat(5200) } } }) };
  const verifyFiles = JSON.stringify({ 'WW_verify_a.txt': 'v'.repeat(5200) });
  const dir = project({ apps: { hr }, vars: { WECOM_MAX_SKEW_SECONDS: '300', WECOM_VERIFY_FILES: verifyFiles }, files: { 'secrets/secrets.json': JSON.stringify(big) } });
  assert.deepEqual([Buffer.byteLength(verifyFiles), Buffer.byteLength(big.WECOM_APPS)], [5222, 5365]);
  const r = await run(dir);
  assert.equal(r.code, 1);
  const problems = r.stdout.slice(r.stdout.indexOf('problems:')).split('\n').filter((line) => line.startsWith('  - '));
  assert.deepEqual(problems, [
    '  - variable WECOM_VERIFY_FILES in wrangler.toml is 5222 bytes: Cloudflare refuses a variable or secret over 5120 bytes (5 KB) at upload; split it into several, or move what is not secret into wecom-edge.config.json',
    '  - secret WECOM_APPS in secrets/secrets.json is 5365 bytes: Cloudflare refuses a variable or secret over 5120 bytes (5 KB) at upload; move its apps into wecom-edge.config.json, each secret value a {"secret": "NAME"} reference to a secret of its own (docs/configuration.md)',
    '  - WECOM_APPS.tickets.pull.token must be 16-512 visible ASCII characters (use a long random string)',
  ]);
  assert.doesNotMatch(r.stdout, /ppppp|vvvvv/);
});

test('loads 50 apps with reply rules from the file, every secret under 5 KB', async () => {
  const apps = {};
  const secrets = {};
  for (let i = 0; i < 50; i++) {
    const name = `app${i}`;
    const upper = name.toUpperCase();
    Object.assign(secrets, { [`${upper}_TOKEN`]: `token${i}`.padEnd(32, 'x'), [`${upper}_ENCODING_AES_KEY`]: KEY, [`${upper}_WEBHOOK_SECRET`]: WHSEC });
    const rules = Array.from({ length: 40 }, (_, r) => ({ match: { MsgType: 'text', Content: { regex: `^查询 ${r}$` } }, reply: { msgtype: 'text', text: { content: `第 ${r} 条自动回复` } } }));
    apps[name] = {
      token: ref(`${upper}_TOKEN`),
      encodingAESKey: ref(`${upper}_ENCODING_AES_KEY`),
      receiveId: 'ww3e40cde07cc21a01',
      webhook: { url: `https://intranet.example/${name}`, secret: ref(`${upper}_WEBHOOK_SECRET`) },
      reply: { rules },
    };
  }
  const dir = project({ apps, files: { 'secrets/secrets.json': JSON.stringify(secrets) } });
  const r = await run(dir);
  assert.equal(r.code, 0, r.stdout);
  assert.match(r.stdout, /^config {4}wecom-edge\.config\.json: 50 apps$/m);
  assert.equal(r.stdout.split('\n').filter((line) => /^ok {8}app\d+$/.test(line)).length, 50);
  // As one WECOM_APPS secret, the same apps would be over thirty times Cloudflare's limit.
  assert.ok(Buffer.byteLength(JSON.stringify(apps)) > 30 * 5120);
});

test('--remote counts a secret as set only when the deployed Worker has it', async () => {
  const dir = project({ apps: { hr, oa: { ...hr, webhook: undefined, pull: { token: ref('OA_PULL_TOKEN') } } }, files: { 'secrets/secrets.json': JSON.stringify(HR_SECRETS) } });
  const fake = join(dir, 'fake-wrangler');
  // The deployed Worker has every hr secret but HR_WEBHOOK_SECRET, and OA_PULL_TOKEN, whose value is not here.
  const list = JSON.stringify(['HR_TOKEN', 'HR_ENCODING_AES_KEY', 'OA_PULL_TOKEN'].map((name) => ({ name, type: 'secret_text' })));
  writeFileSync(fake, `#!/bin/sh\n[ "$1 $2 $3 $4" = "secret list --format json" ] || exit 3\necho '${list}'\n`);
  chmodSync(fake, 0o755);
  const r = await run(dir, ['--remote'], { WECOM_EDGE_WRANGLER: fake });
  assert.equal(r.code, 1);
  assert.equal(
    r.stdout,
    [
      'secrets   secrets/secrets.json: 3',
      'vars      wrangler.toml: 1',
      'remote    the deployed Worker has 3 secrets; not among them: HR_WEBHOOK_SECRET',
      'config    wecom-edge.config.json: 2 apps',
      'ok        oa',
      'invalid   hr',
      '',
      '1 problem:',
      '  - wecom-edge.config.json: apps.hr.webhook.secret names secret HR_WEBHOOK_SECRET, which is not set (npx wrangler secret put HR_WEBHOOK_SECRET; locally, a line in .dev.vars)',
      '',
    ].join('\n'),
  );
  // A wrangler that cannot list (not logged in): a clear usage error, exit 2.
  writeFileSync(fake, '#!/bin/sh\necho "Not logged in" >&2\nexit 1\n');
  const failed = await run(dir, ['--remote'], { WECOM_EDGE_WRANGLER: fake });
  assert.equal(failed.code, 2);
  assert.match(failed.stderr, /--remote: `wrangler secret list` did not answer with the Worker's secrets .*run `npx wrangler login`, or check against a file with --secrets/);
});

test('says where a broken file is broken, and refuses a secret written into the file', async () => {
  const dir = project({ apps: { hr: { ...hr, token: 'writtenOutToken1' } }, files: { 'secrets/secrets.json': JSON.stringify(HR_SECRETS) } });
  const r = await run(dir);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^ {2}- wecom-edge\.config\.json: apps\.hr\.token must be a \{"secret": "NAME"\} reference to a Worker secret: wecom-edge\.config\.json is committed, so secret values are not written in it$/m);
  assert.doesNotMatch(r.stdout, /writtenOutToken1/);
  writeFileSync(join(dir, 'wecom-edge.config.json'), '{ "apps": { "hr": { ');
  const broken = await run(dir);
  assert.equal(broken.code, 2);
  assert.match(broken.stderr, /wecom-edge\.config\.json is not valid JSON at line 1, column 21 \(the text is not shown: it may hold secrets\)/);
});

test('knows the service bindings of wrangler.toml: a webhook through one that is there passes, one that is not is named', async () => {
  const through = (service) => ({ ...hr, webhook: { service, path: '/wecom', secret: ref('HR_WEBHOOK_SECRET') } });
  const bindings = '\n[[services]]\nbinding = "OTHER_WORKER"\nservice = "other"\n\n[[vpc_services]]\nbinding = "INTRANET"\nservice_id = "0199b8f5-e2b7-7a11-9c4e-8e1a2bd8c3f7"\n';
  const files = { 'secrets/secrets.json': JSON.stringify(HR_SECRETS) };
  const dir = project({ apps: { vpc: through('INTRANET'), worker: through('OTHER_WORKER'), lost: through('NOWHERE') }, files, extraToml: bindings });
  const r = await run(dir);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^ok {8}vpc$/m);
  assert.match(r.stdout, /^ok {8}worker$/m);
  assert.match(r.stdout, /^invalid {3}lost$/m);
  assert.ok(
    r.stdout.includes(
      '  - wecom-edge.config.json: apps.lost.webhook.service names "NOWHERE", which is not a service binding of this Worker: add it to wrangler.toml ([[services]] or [[vpc_services]])\n',
    ),
    r.stdout,
  );
});

test('checks ADMIN_TOKEN when the secrets hold it', async () => {
  const dir = project({ apps: { hr }, files: { 'secrets/secrets.json': JSON.stringify({ ...HR_SECRETS, ADMIN_TOKEN: 'short' }) } });
  const r = await run(dir);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^ {2}- ADMIN_TOKEN must be 16-512 visible ASCII characters \(use a long random string\): the admin API stays off until it is$/m);
});

test("a suite's ticketToken is a secret reference like any token: resolved, named when missing, checked as a bearer token, never printed", async () => {
  const suite = (ticketToken, extra = {}) => ({
    token: ref('CRM_TOKEN'),
    encodingAESKey: ref('CRM_ENCODING_AES_KEY'),
    suite: { suiteId: 'wwsuite7d1e9a2c0b4f', providerCorpId: 'wwprovider3e40cde07', ticketToken },
    pull: { token: ref('CRM_PULL_TOKEN') },
    ...extra,
  });
  const secrets = { CRM_TOKEN: 'crmTokenValue0123', CRM_ENCODING_AES_KEY: KEY, CRM_PULL_TOKEN: 'crm-pull-token-0123456789', CRM_TICKET_TOKEN: 'crm-ticket-token-0123456789', SHORT_TICKET_TOKEN: 'short' };
  const dir = project({
    apps: {
      crm: suite(ref('CRM_TICKET_TOKEN')),
      unset: suite(ref('UNSET_TICKET_TOKEN')),
      short: suite(ref('SHORT_TICKET_TOKEN')),
      written: suite('crm-ticket-token-written-out-0123'),
      badname: suite(ref('lowercase')),
      withid: suite(ref('CRM_TICKET_TOKEN'), { receiveId: 'ww3e40cde07cc21a01' }),
    },
    files: { 'secrets/secrets.json': JSON.stringify(secrets) },
  });
  const r = await run(dir);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, '');
  assert.equal(
    r.stdout,
    [
      'secrets   secrets/secrets.json: 5',
      'vars      wrangler.toml: 1',
      'config    wecom-edge.config.json: 6 apps',
      'ok        crm',
      'invalid   badname',
      'invalid   short',
      'invalid   unset',
      'invalid   withid',
      'invalid   written',
      '',
      '5 problems:',
      '  - wecom-edge.config.json: apps.badname.suite.ticketToken must name a secret: {"secret": "NAME"} with NAME of 1-64 capital letters, digits and _, starting with a letter',
      '  - wecom-edge.config.json: apps.short.suite.ticketToken must be 16-512 visible ASCII characters (use a long random string)',
      '  - wecom-edge.config.json: apps.unset.suite.ticketToken names secret UNSET_TICKET_TOKEN, which is not set (npx wrangler secret put UNSET_TICKET_TOKEN; locally, a line in .dev.vars)',
      '  - wecom-edge.config.json: apps.withid.receiveId must not be set for a suite: suite.suiteId and suite.providerCorpId say which receiveId each URL takes',
      '  - wecom-edge.config.json: apps.written.suite.ticketToken must be a {"secret": "NAME"} reference to a Worker secret: wecom-edge.config.json is committed, so secret values are not written in it',
      '',
    ].join('\n'),
  );
  assert.doesNotMatch(r.stdout, /crm-ticket-token|crmTokenValue|short'/);
});

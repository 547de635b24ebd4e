import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDotenv } from '../../bin/lib/dotenv.mjs';

const BIN = fileURLToPath(new URL('../../bin/wecom-edge.mjs', import.meta.url));

/** `wecom-edge ...args` in `cwd`; with `umask`, under that umask (through sh). */
function run(args, { cwd, umask } = {}) {
  const [file, argv] = umask === undefined ? [process.execPath, [BIN, ...args]] : ['/bin/sh', ['-c', `umask ${umask} && exec "$0" "$@"`, process.execPath, BIN, ...args]];
  return new Promise((resolve) => {
    execFile(file, argv, { cwd, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}
const folder = () => mkdtempSync(join(tmpdir(), 'wecom-edge-keygen-'));
const mode = (path) => statSync(path).mode & 0o777;
const read = (path) => readFileSync(path, 'utf8');
const ref = (secret) => ({ secret });
const TOKEN = /^[A-Za-z0-9]{32}$/;
const KEY = /^[A-Za-z0-9]{43}$/;
const WHSEC = /^whsec_[A-Za-z0-9+/]{43}=$/;
const HEX64 = /^[0-9a-f]{64}$/;

test('keygen prints the Token, the EncodingAESKey, the config entry with references and the secrets by name', async () => {
  const r = await run(['keygen', '--app', 'hr', '--receive-id', 'ww3e40cde07cc21a01', '--webhook', 'https://hr.example.com/wecom']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const token = /^Token:\s+(\S+)$/m.exec(r.stdout)?.[1];
  const key = /^EncodingAESKey:\s+(\S+)$/m.exec(r.stdout)?.[1];
  const secret = /^Webhook secret:\s+(\S+)/m.exec(r.stdout)?.[1];
  assert.match(token, TOKEN);
  assert.match(key, KEY);
  assert.match(secret, WHSEC);
  assert.equal(Buffer.from(secret.slice(6), 'base64').length, 32);
  const [, entryText, secretsText] = r.stdout.split(/^The (?:entry for|secrets).*:$/m);
  assert.deepEqual(JSON.parse(entryText), {
    hr: { token: ref('HR_TOKEN'), encodingAESKey: ref('HR_ENCODING_AES_KEY'), receiveId: 'ww3e40cde07cc21a01', webhook: { url: 'https://hr.example.com/wecom', secret: ref('HR_WEBHOOK_SECRET') } },
  });
  assert.deepEqual(JSON.parse(secretsText.split('\n\n')[0]), { HR_TOKEN: token, HR_ENCODING_AES_KEY: key, HR_WEBHOOK_SECRET: secret });
  assert.match(r.stdout, /^The entry for wecom-edge\.config\.json, under "apps" \(it holds no secret values, only their names\):$/m);
  assert.match(r.stdout, /^--write merges both into wecom-edge\.config\.json and secrets\/secrets\.json for you, --dev into wecom-edge\.config\.json and \.dev\.vars \(each with fresh values\)\.$/m);
  assert.match(r.stdout, /^Paste the Token and EncodingAESKey into WeCom's admin console \(the app's 接收消息 → 设置API接收\), with the URL https:\/\/<your worker>\/callback\/hr\.$/m);
});

test('keygen --json --pull: exactly {config, secrets}, a 64-hex pull token', async () => {
  const r = await run(['keygen', '--json', '--pull', '--app', 'bot_1', '--receive-id', '']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const { config, secrets, ...rest } = JSON.parse(r.stdout);
  assert.deepEqual(rest, {});
  assert.deepEqual(config, { bot_1: { token: ref('BOT_1_TOKEN'), encodingAESKey: ref('BOT_1_ENCODING_AES_KEY'), receiveId: '', pull: { token: ref('BOT_1_PULL_TOKEN') } } });
  assert.deepEqual(Object.keys(secrets), ['BOT_1_TOKEN', 'BOT_1_ENCODING_AES_KEY', 'BOT_1_PULL_TOKEN']);
  assert.match(secrets.BOT_1_TOKEN, TOKEN);
  assert.match(secrets.BOT_1_ENCODING_AES_KEY, KEY);
  assert.equal(Buffer.from(secrets.BOT_1_ENCODING_AES_KEY + '=', 'base64').length, 32);
  assert.match(secrets.BOT_1_PULL_TOKEN, HEX64);
  assert.equal(r.stdout, JSON.stringify({ config, secrets }) + '\n');
});

test('keygen --bot: an AI bot (receiveId "", pull and bot tokens); without --receive-id otherwise: the placeholder and a warning', async () => {
  const bot = await run(['keygen', '--json', '--bot', '--app', 'helper']);
  assert.equal(bot.code, 0, bot.stderr);
  assert.equal(bot.stderr, '');
  const { config, secrets } = JSON.parse(bot.stdout);
  assert.deepEqual(config, { helper: { token: ref('HELPER_TOKEN'), encodingAESKey: ref('HELPER_ENCODING_AES_KEY'), receiveId: '', pull: { token: ref('HELPER_PULL_TOKEN') }, bot: { token: ref('HELPER_BOT_TOKEN') } } });
  assert.match(secrets.HELPER_BOT_TOKEN, HEX64);
  assert.notEqual(secrets.HELPER_BOT_TOKEN, secrets.HELPER_PULL_TOKEN);

  const plain = await run(['keygen', '--json']);
  assert.equal(JSON.parse(plain.stdout).config.app.receiveId, 'YOUR_CORP_ID');
  assert.equal(plain.stderr, 'warning: no --receive-id: replace "YOUR_CORP_ID" with your corpid (我的企业 → 企业信息 → 企业ID), a suite id, "" for an AI bot, or "*"\n');
});

test('keygen --suite and --kf: a suite (no receiveId, its ticket token) with 微信客服 (its kf token), and the console line for its two URLs', async () => {
  const r = await run(['keygen', '--json', '--app', 'crm', '--suite', 'wwsuite7d1e9a2c0b4f', '--provider-corp-id', 'wwprovider3e40cde07', '--kf']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const { config, secrets } = JSON.parse(r.stdout);
  assert.deepEqual(config, {
    crm: {
      token: ref('CRM_TOKEN'),
      encodingAESKey: ref('CRM_ENCODING_AES_KEY'),
      suite: { suiteId: 'wwsuite7d1e9a2c0b4f', providerCorpId: 'wwprovider3e40cde07', ticketToken: ref('CRM_TICKET_TOKEN') },
      pull: { token: ref('CRM_PULL_TOKEN') },
      kf: { token: ref('CRM_KF_TOKEN') },
    },
  });
  assert.deepEqual(Object.keys(secrets), ['CRM_TOKEN', 'CRM_ENCODING_AES_KEY', 'CRM_TICKET_TOKEN', 'CRM_PULL_TOKEN', 'CRM_KF_TOKEN']);
  assert.match(secrets.CRM_TICKET_TOKEN, HEX64);
  assert.match(secrets.CRM_KF_TOKEN, HEX64);
  const printed = await run(['keygen', '--app', 'crm', '--suite', 'wwsuite7d1e9a2c0b4f', '--provider-corp-id', 'wwprovider3e40cde07']);
  assert.match(printed.stdout, /^Ticket token: {4}[0-9a-f]{64} {3}\(the Bearer token of GET \/suites\/crm\/ticket\)$/m);
  assert.match(printed.stdout, /指令回调URL https:\/\/<your worker>\/callback\/crm and 数据回调URL https:\/\/<your worker>\/callback\/crm\/data/);
});

test('secret names: uppercased, - as _, APP_ before a leading digit and before the app "admin"; at most 47 characters of app name', async () => {
  const names = async (app) => Object.keys(JSON.parse((await run(['keygen', '--json', '--bot', '--webhook', 'https://x.example/', '--app', app, '--receive-id', ''])).stdout).secrets);
  assert.deepEqual(await names('my-app'), ['MY_APP_TOKEN', 'MY_APP_ENCODING_AES_KEY', 'MY_APP_WEBHOOK_SECRET', 'MY_APP_BOT_TOKEN']);
  assert.deepEqual(await names('1st'), ['APP_1ST_TOKEN', 'APP_1ST_ENCODING_AES_KEY', 'APP_1ST_WEBHOOK_SECRET', 'APP_1ST_BOT_TOKEN']);
  assert.deepEqual(await names('admin'), ['APP_ADMIN_TOKEN', 'APP_ADMIN_ENCODING_AES_KEY', 'APP_ADMIN_WEBHOOK_SECRET', 'APP_ADMIN_BOT_TOKEN']);
  assert.deepEqual(await names('a'.repeat(47)), [`${'A'.repeat(47)}_TOKEN`, `${'A'.repeat(47)}_ENCODING_AES_KEY`, `${'A'.repeat(47)}_WEBHOOK_SECRET`, `${'A'.repeat(47)}_BOT_TOKEN`]);
  const long = await run(['keygen', '--app', 'a'.repeat(48)]);
  assert.equal(long.code, 2);
  assert.match(long.stderr, /^wecom-edge keygen: app name "a{48}" is too long for its secret names \(A{48}_ENCODING_AES_KEY has 65 characters; a secret's name has at most 64\): use at most 47 characters\n/);
});

test('keygen draws fresh values every time', async () => {
  const [a, b] = await Promise.all([run(['keygen', '--json', '--receive-id', 'ww1']), run(['keygen', '--json', '--receive-id', 'ww1'])]);
  assert.notEqual(JSON.parse(a.stdout).secrets.APP_ENCODING_AES_KEY, JSON.parse(b.stdout).secrets.APP_ENCODING_AES_KEY);
});

test('--write merges into an existing config (other apps and keys kept, 2-space JSON) and creates secrets/ 0700 with secrets.json 0600, whatever the umask', async () => {
  const dir = folder();
  const other = { token: ref('OTHER_TOKEN'), encodingAESKey: ref('OTHER_ENCODING_AES_KEY'), receiveId: '*', pull: { token: ref('OTHER_PULL_TOKEN') } };
  writeFileSync(join(dir, 'wecom-edge.config.json'), JSON.stringify({ apps: { other } }));
  const r = await run(['keygen', '--app', 'hr', '--receive-id', 'ww3e40cde07cc21a01', '--webhook', 'https://hr.example.com/wecom', '--write'], { cwd: dir, umask: '000' });
  assert.equal(r.code, 0, r.stderr);
  const config = read(join(dir, 'wecom-edge.config.json'));
  const hr = { token: ref('HR_TOKEN'), encodingAESKey: ref('HR_ENCODING_AES_KEY'), receiveId: 'ww3e40cde07cc21a01', webhook: { url: 'https://hr.example.com/wecom', secret: ref('HR_WEBHOOK_SECRET') } };
  assert.equal(config, JSON.stringify({ apps: { other, hr } }, null, 2) + '\n');
  const secretsFile = join(dir, 'secrets', 'secrets.json');
  assert.equal(mode(join(dir, 'secrets')), 0o700);
  assert.equal(mode(secretsFile), 0o600);
  const secrets = JSON.parse(read(secretsFile));
  assert.deepEqual(Object.keys(secrets), ['HR_TOKEN', 'HR_ENCODING_AES_KEY', 'HR_WEBHOOK_SECRET']);
  assert.equal(read(secretsFile), JSON.stringify(secrets, null, 2) + '\n');
  // The Token and key for WeCom's console are printed, and the way on.
  assert.ok(r.stdout.startsWith('Wrote (3 new secrets):\n  wecom-edge.config.json  apps.hr, its secret values as {"secret": "NAME"} references\n  secrets/secrets.json    HR_TOKEN, HR_ENCODING_AES_KEY, HR_WEBHOOK_SECRET (mode 0600)\n\n'), r.stdout);
  assert.ok(r.stdout.includes(`Token:           ${secrets.HR_TOKEN}\nEncodingAESKey:  ${secrets.HR_ENCODING_AES_KEY}\n(also in secrets/secrets.json, as HR_TOKEN and HR_ENCODING_AES_KEY)\n`));
  assert.ok(r.stdout.includes('Next:\n  npx wecom-edge check-config\n  npx wrangler secret bulk secrets/secrets.json\n  npm run deploy\n'));
  assert.ok(!r.stdout.includes(secrets.HR_WEBHOOK_SECRET));

  // A second app: both files keep the first.
  const second = await run(['keygen', '--app', 'tickets', '--receive-id', 'ww3e40cde07cc21a01', '--write'], { cwd: dir });
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(Object.keys(JSON.parse(read(join(dir, 'wecom-edge.config.json'))).apps), ['other', 'hr', 'tickets']);
  const both = JSON.parse(read(secretsFile));
  assert.deepEqual(Object.keys(both), ['HR_TOKEN', 'HR_ENCODING_AES_KEY', 'HR_WEBHOOK_SECRET', 'TICKETS_TOKEN', 'TICKETS_ENCODING_AES_KEY', 'TICKETS_PULL_TOKEN']);
  assert.equal(both.HR_TOKEN, secrets.HR_TOKEN);
  assert.equal(mode(secretsFile), 0o600);
});

test('--write refuses an app already there, and a secret name already there, changing nothing and showing no value; --force replaces', async () => {
  const dir = folder();
  assert.equal((await run(['keygen', '--app', 'hr', '--receive-id', 'ww1', '--write'], { cwd: dir })).code, 0);
  const configPath = join(dir, 'wecom-edge.config.json');
  const secretsPath = join(dir, 'secrets', 'secrets.json');
  const [config, secrets] = [read(configPath), read(secretsPath)];

  const again = await run(['keygen', '--app', 'hr', '--receive-id', 'ww1', '--write'], { cwd: dir });
  assert.equal(again.code, 2);
  assert.equal(again.stdout, '');
  assert.equal(
    again.stderr,
    'wecom-edge keygen: app "hr" is already in wecom-edge.config.json: keygen adds new apps and changed nothing. To rotate its keys see docs/deploying.md, "Rotating keys"; to replace it and its secrets, --force\n' +
      "Run 'wecom-edge keygen --help' for usage.\n",
  );
  assert.equal(read(configPath), config);
  assert.equal(read(secretsPath), secrets);

  // The app gone from the config, its secrets still in the file.
  writeFileSync(configPath, '{"apps": {}}\n');
  const clash = await run(['keygen', '--app', 'hr', '--receive-id', 'ww1', '--write'], { cwd: dir });
  assert.equal(clash.code, 2);
  assert.equal(
    clash.stderr,
    'wecom-edge keygen: secrets/secrets.json already holds HR_TOKEN, HR_ENCODING_AES_KEY, HR_PULL_TOKEN (another value: a rotation is not keygen\'s; see docs/deploying.md, "Rotating keys"), and keygen changed nothing; --force replaces them\n' +
      "Run 'wecom-edge keygen --help' for usage.\n",
  );
  for (const value of Object.values(JSON.parse(secrets))) assert.ok(!clash.stderr.includes(value));
  assert.equal(read(configPath), '{"apps": {}}\n');
  assert.equal(read(secretsPath), secrets);

  const forced = await run(['keygen', '--app', 'hr', '--receive-id', 'ww1', '--write', '--force'], { cwd: dir });
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /^Wrote \(3 new secrets, replacing HR_TOKEN, HR_ENCODING_AES_KEY, HR_PULL_TOKEN\):$/m);
  const replaced = JSON.parse(read(secretsPath));
  assert.notEqual(replaced.HR_TOKEN, JSON.parse(secrets).HR_TOKEN);
  assert.deepEqual(Object.keys(JSON.parse(read(configPath)).apps), ['hr']);
});

test('--write refuses, even with --force, a secret name another app of the config already uses', async () => {
  const dir = folder();
  assert.equal((await run(['keygen', '--app', 'hr_pull', '--receive-id', 'ww1', '--write'], { cwd: dir })).code, 0);
  const r = await run(['keygen', '--app', 'hr', '--receive-id', 'ww1', '--pull', '--write', '--force'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^wecom-edge keygen: app "hr_pull" in wecom-edge\.config\.json already uses the secret HR_PULL_TOKEN: choose another app name \(changed nothing\)\n/);
  assert.deepEqual(Object.keys(JSON.parse(read(join(dir, 'wecom-edge.config.json'))).apps), ['hr_pull']);
});

test('--dev merges into .dev.vars: other lines kept byte for byte, the values read back as wrangler reads them, 0600; the local corp id', async () => {
  const dir = folder();
  const before = "# mine\nADMIN_TOKEN='local-admin-token-0123456789'\nexport OTHER=\"x#y\"\nWECOM_APPS='{\"old\":{\"token\":\"t\"}}'";
  writeFileSync(join(dir, '.dev.vars'), before, { mode: 0o644 });
  const r = await run(['keygen', '--app', 'myapp', '--webhook', 'http://127.0.0.1:8788/', '--dev'], { cwd: dir, umask: '000' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const text = read(join(dir, '.dev.vars'));
  assert.ok(text.startsWith(`${before}\n\n# app myapp (npx wecom-edge keygen --dev)\nMYAPP_TOKEN='`), text);
  const values = parseDotenv(text);
  assert.deepEqual(Object.keys(values), ['ADMIN_TOKEN', 'OTHER', 'WECOM_APPS', 'MYAPP_TOKEN', 'MYAPP_ENCODING_AES_KEY', 'MYAPP_WEBHOOK_SECRET']);
  assert.equal(values.OTHER, 'x#y');
  assert.match(values.MYAPP_TOKEN, TOKEN);
  assert.match(values.MYAPP_ENCODING_AES_KEY, KEY);
  assert.match(values.MYAPP_WEBHOOK_SECRET, WHSEC);
  assert.equal(mode(join(dir, '.dev.vars')), 0o600);
  assert.equal(JSON.parse(read(join(dir, 'wecom-edge.config.json'))).apps.myapp.receiveId, 'wwlocaldev00000000');
  assert.equal(
    r.stdout,
    [
      'Wrote (3 new secrets):',
      '  wecom-edge.config.json  apps.myapp, its secret values as {"secret": "NAME"} references',
      '  .dev.vars               MYAPP_TOKEN, MYAPP_ENCODING_AES_KEY, MYAPP_WEBHOOK_SECRET (mode 0600)',
      '',
      'receiveId is "wwlocaldev00000000", a local stand-in for your corpid: simulate encrypts its callbacks for it.',
      'Before WeCom sends real ones, put your corpid (我的企业 → 企业信息 → 企业ID) in wecom-edge.config.json.',
      '',
      'Next, each in a terminal of its own, in this folder:',
      '  npx wrangler dev        # restart it if it is running: it reads .dev.vars and the configuration when it starts',
      '  APP=myapp node --env-file=.dev.vars examples/webhook-receiver.mjs   # verifies each push with MYAPP_WEBHOOK_SECRET',
      '  npx wecom-edge simulate http://127.0.0.1:8787 --app myapp',
      '',
    ].join('\n'),
  );

  // --force: the lines of those names get the new values where they stand; every other line stays.
  writeFileSync(join(dir, 'wecom-edge.config.json'), '{"apps": {}}\n');
  const forced = await run(['keygen', '--app', 'myapp', '--webhook', 'http://127.0.0.1:8788/', '--dev', '--force'], { cwd: dir });
  assert.equal(forced.code, 0, forced.stderr);
  const after = read(join(dir, '.dev.vars'));
  const newValues = parseDotenv(after);
  assert.notEqual(newValues.MYAPP_TOKEN, values.MYAPP_TOKEN);
  assert.equal(after.split('\n').length, text.split('\n').length);
  assert.equal(after.replace(/^(MYAPP_[A-Z_]+)='[^']*'$/gm, '$1'), text.replace(/^(MYAPP_[A-Z_]+)='[^']*'$/gm, '$1'));
});

test('--dev refuses an app that .dev.vars already has in WECOM_APPS; a pull app gets the pull consumer in its next steps', async () => {
  const dir = folder();
  writeFileSync(join(dir, '.dev.vars'), `WECOM_APPS='{"tickets":{"token":"t"}}'\n`);
  const r = await run(['keygen', '--app', 'tickets', '--dev'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^wecom-edge keygen: app "tickets" is also in WECOM_APPS in \.dev\.vars: the gateway serves an app from one place only; remove it there, or choose another name \(changed nothing\)\n/);
  assert.equal(existsSync(join(dir, 'wecom-edge.config.json')), false);

  const pull = await run(['keygen', '--app', 'queue', '--dev', '--config', 'cfg/local.json', '--secrets', 'local.env'], { cwd: (mkdirSync(join(dir, 'cfg')), dir) });
  assert.equal(pull.code, 0, pull.stderr);
  assert.ok(pull.stdout.includes('  APP=queue node --env-file=local.env examples/pull-consumer.mjs   # or: npx wecom-edge tail http://127.0.0.1:8787 --app queue --config cfg/local.json --secrets local.env\n'), pull.stdout);
  assert.ok(pull.stdout.includes('  npx wecom-edge simulate http://127.0.0.1:8787 --app queue --config cfg/local.json --secrets local.env\n'));
  assert.ok(pull.stdout.includes("(it serves the file wrangler.toml's [alias] names, wecom-edge.config.json: point it at cfg/local.json)"));
  assert.deepEqual(Object.keys(parseDotenv(read(join(dir, 'local.env')))), ['QUEUE_TOKEN', 'QUEUE_ENCODING_AES_KEY', 'QUEUE_PULL_TOKEN']);
  assert.deepEqual(Object.keys(JSON.parse(read(join(dir, 'cfg', 'local.json'))).apps), ['queue']);
});

test('a broken secrets file is reported by position, never quoted', async () => {
  const dir = folder();
  mkdirSync(join(dir, 'secrets'));
  writeFileSync(join(dir, 'secrets', 'secrets.json'), '{"HR_TOKEN": "S3CRET-value-0123456789" "X": 1}');
  const r = await run(['keygen', '--app', 'hr', '--receive-id', 'ww1', '--write'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "wecom-edge keygen: secrets/secrets.json is not valid JSON at line 1, column 40 (the text is not shown: it may hold secrets)\nRun 'wecom-edge keygen --help' for usage.\n");
  assert.ok(!r.stderr.includes('S3CRET'));
  assert.equal(existsSync(join(dir, 'wecom-edge.config.json')), false);
});

test('keygen refuses a bad app name, and option combinations that mean nothing', async () => {
  const bad = await run(['keygen', '--app', 'HR App']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /invalid app name "HR App"/);
  const cases = [
    [['--webhook', 'ftp://x.example/'], /http or https/],
    [['--webhook', 'https://x.example/', '--pull'], /--webhook and --pull cannot be used together/],
    [['--write', '--dev'], /--write and --dev cannot be used together/],
    [['--json', '--dev'], /--json prints the values; --dev writes them: choose one/],
    [['--config', 'x.json'], /--config goes with --write or --dev/],
    [['--force'], /--force goes with --write or --dev/],
    [['--bogus'], /bogus/],
    [['--suite', 'wwsuite1'], /--suite needs --provider-corp-id/],
    [['--suite', 'ww suite', '--provider-corp-id', 'wwp'], /invalid --suite "ww suite"/],
    [['--suite', 'wws', '--provider-corp-id', 'ww p'], /invalid --provider-corp-id "ww p"/],
    [['--suite', 'wws', '--provider-corp-id', 'wwp', '--receive-id', 'ww1'], /--suite and --receive-id cannot be used together/],
    [['--suite', 'wws', '--provider-corp-id', 'wwp', '--bot'], /--suite and --bot cannot be used together/],
    [['--provider-corp-id', 'wwp'], /--provider-corp-id goes with --suite/],
  ];
  for (const [args, message] of cases) {
    const r = await run(['keygen', ...args]);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, message);
  }
});

test('--help on every command, and an unknown command', async () => {
  for (const args of [['--help'], ['keygen', '--help'], ['diagnose', '--help']]) {
    const r = await run(args);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: wecom-edge/);
  }
  const help = await run(['keygen', '--help']);
  for (const flag of ['--app', '--receive-id', '--webhook', '--pull', '--bot', '--suite', '--provider-corp-id', '--kf', '--json', '--write', '--dev', '--config', '--secrets', '--force']) assert.ok(help.stdout.includes(`  ${flag}`), flag);
  const r = await run(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command "frobnicate"/);
});

// A WECOM_APPS file that is not JSON: every command that reads --apps says
// where the fault is, never what is there (the text around it may be a token).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { appSettings, isLoopback, jsonErrorPosition, resolveReferences, secretNamesOf } from '../../bin/lib/apps-file.mjs';
import { run, startFakeQueue } from './helpers.mjs';

const BIN = fileURLToPath(new URL('../../bin/wecom-edge.mjs', import.meta.url));

const SECRET = 'S3CRET-tok-7f3a9c2e51d04b68';
const KEY = 'K3YK3YK3YK3YK3YK3YK3YK3YK3YK3YK3YK3YK3YK3YK';

function file(text) {
  const path = join(mkdtempSync(join(tmpdir(), 'wecom-edge-apps-')), 'apps.json');
  writeFileSync(path, text);
  return path;
}

const commands = (path) => ({
  simulate: ['simulate', 'http://127.0.0.1:9', '--app', 'hr', '--apps', path],
  tail: ['tail', 'http://127.0.0.1:9', '--app', 'hr', '--apps', path, '--once'],
  diagnose: ['diagnose', '--url', 'https://edge.example.com/callback/hr?msg_signature=0&timestamp=1&nonce=1&echostr=x', '--apps', path],
});
const NOT_SHOWN = '(the text is not shown: it may hold secrets)';

test('a syntax error right after a token: the line and column, and not a character of the file', async () => {
  // Node's own message would be "Expected ',' or '}' after property value in JSON at position 55 (line 3 column 44)".
  const text = `{\n  "hr": {\n    "token": "${SECRET}" "encodingAESKey": "${KEY}"\n  }\n}\n`;
  const path = file(text);
  assert.equal(text.split('\n')[2].indexOf(`"encodingAESKey"`) + 1, 44);
  for (const [command, args] of Object.entries(commands(path))) {
    const r = await run(args);
    assert.equal(r.code, 2, command);
    assert.equal(r.stdout, '', command);
    assert.equal(r.stderr, `wecom-edge ${command}: ${path} is not valid JSON at line 3, column 44 ${NOT_SHOWN}\nRun 'wecom-edge ${command} --help' for usage.\n`);
  }
});

test('a token left unquoted (Node quotes it, and gives no position): no position, and no secret', async () => {
  const path = file(`{"hr":{"token":${SECRET},"encodingAESKey":"${KEY}"}}`);
  for (const [command, args] of Object.entries(commands(path))) {
    const r = await run(args);
    assert.equal(r.code, 2, command);
    assert.equal(r.stdout, '', command);
    assert.equal(r.stderr, `wecom-edge ${command}: ${path} is not valid JSON ${NOT_SHOWN}\nRun 'wecom-edge ${command} --help' for usage.\n`);
    assert.ok(!r.stderr.includes('S3CRET') && !r.stderr.includes('K3Y'), command);
  }
});

test('a file cut short: the position is its end', async () => {
  const path = file(`{"hr":{"token":"${SECRET}",\n"encodingAESKey":"${KEY}`);
  const r = await run(commands(path).simulate);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `wecom-edge simulate: ${path} is not valid JSON at line 2, column 62 ${NOT_SHOWN}\nRun 'wecom-edge simulate --help' for usage.\n`);
});

test('jsonErrorPosition: from "at position N", from the end of the input, or none', () => {
  const at = (text) => {
    try {
      JSON.parse(text);
    } catch (error) {
      return jsonErrorPosition(error, text);
    }
  };
  assert.deepEqual(at('{"a":1}}'), { line: 1, column: 8 });
  assert.deepEqual(at('{\r\n"a": 1,\n}'), { line: 3, column: 1 });
  assert.deepEqual(at('[1,\n2'), { line: 2, column: 2 });
  assert.equal(at('{"a":b}'), undefined);
  assert.equal(jsonErrorPosition(new SyntaxError('Unexpected token x in JSON at position 99'), 'short'), undefined);
});

// ------------------------------------------ wecom-edge.config.json ----
// simulate and tail given --app and no settings: the app from the config
// file, its references resolved from .dev.vars (a gateway on loopback) or
// secrets/secrets.json (elsewhere), or from --config/--secrets.

/** `wecom-edge ...args` in `cwd`. */
function runIn(cwd, args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}
const PULL = 'pull-token-from-the-secrets-0123456789';
function project({ devVars, secretsJson } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'wecom-edge-project-'));
  const apps = {
    hr: { token: { secret: 'HR_TOKEN' }, encodingAESKey: { secret: 'HR_ENCODING_AES_KEY' }, receiveId: 'ww1', pull: { token: { secret: 'HR_PULL_TOKEN' } } },
    push: { token: 'plain-token', encodingAESKey: KEY, receiveId: 'ww1', webhook: { url: 'https://x.example/', secret: { secret: 'PUSH_WEBHOOK_SECRET' } } },
  };
  writeFileSync(join(dir, 'wecom-edge.config.json'), JSON.stringify({ apps }));
  if (devVars !== undefined) writeFileSync(join(dir, '.dev.vars'), devVars);
  if (secretsJson !== undefined) {
    mkdirSync(join(dir, 'secrets'));
    writeFileSync(join(dir, 'secrets', 'secrets.json'), secretsJson);
  }
  return dir;
}
const USAGE = (command) => `\nRun 'wecom-edge ${command} --help' for usage.\n`;

test('tail reads the pull token from .dev.vars for a gateway on loopback, and sends it', async () => {
  const dir = project({ devVars: `HR_PULL_TOKEN='${PULL}'\n` });
  const queue = await startFakeQueue();
  try {
    const r = await runIn(dir, ['tail', queue.url, '--app', 'hr', '--once', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(queue.requests[0].authorization, `Bearer ${PULL}`);
  } finally {
    await queue.close();
  }
});

test('--config and --secrets from another folder; a .json secrets file is a JSON object', async () => {
  const dir = project({ secretsJson: JSON.stringify({ HR_PULL_TOKEN: PULL }) });
  const queue = await startFakeQueue();
  try {
    const r = await run(['tail', queue.url, '--app', 'hr', '--once', '--json', '--config', join(dir, 'wecom-edge.config.json'), '--secrets', join(dir, 'secrets', 'secrets.json')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(queue.requests[0].authorization, `Bearer ${PULL}`);
  } finally {
    await queue.close();
  }
});

test('a reference to a secret the file lacks: the path, the secret and the file are named, and no value', async () => {
  const dir = project({ devVars: `HR_TOKEN='${SECRET}'\n`, secretsJson: '{}' });
  const local = await runIn(dir, ['simulate', 'http://127.0.0.1:9', '--app', 'hr']);
  assert.equal(local.code, 2);
  assert.equal(local.stdout, '');
  assert.equal(local.stderr, `wecom-edge simulate: wecom-edge.config.json apps.hr.encodingAESKey names secret HR_ENCODING_AES_KEY, which is not set in .dev.vars; add it (npx wecom-edge keygen --dev writes both), or give --secrets FILE${USAGE('simulate')}`);
  // Not on loopback: secrets/secrets.json.
  const remote = await runIn(dir, ['tail', 'https://edge.example.com', '--app', 'hr', '--once']);
  assert.equal(remote.code, 2);
  assert.equal(remote.stderr, `wecom-edge tail: wecom-edge.config.json apps.hr.pull.token names secret HR_PULL_TOKEN, which is not set in secrets/secrets.json; give --secrets FILE with it${USAGE('tail')}`);
  // Only what the command needs is resolved: tail needs no Token.
  const noPull = await runIn(dir, ['tail', 'http://[::1]:9', '--app', 'push', '--once']);
  assert.equal(noPull.stderr, `wecom-edge tail: app "push" in wecom-edge.config.json has no pull.token: tail reads pull apps (a webhook app's events are pushed)${USAGE('tail')}`);
});

test('no config file, no such app, no secrets file, --apps with --config: each a usage error saying what to do', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'wecom-edge-empty-'));
  const none = await runIn(empty, ['simulate', 'http://localhost:9', '--app', 'hr']);
  assert.equal(none.stderr, `wecom-edge simulate: cannot read wecom-edge.config.json (run this in the project's folder, or give --config FILE): ENOENT${USAGE('simulate')}`);
  const dir = project();
  const nosuch = await runIn(dir, ['simulate', 'http://127.0.0.1:9', '--app', 'payroll']);
  assert.equal(nosuch.stderr, `wecom-edge simulate: no app "payroll" in wecom-edge.config.json (it has: hr, push); add one with: npx wecom-edge keygen --app payroll --dev${USAGE('simulate')}`);
  const nofile = await runIn(dir, ['simulate', 'http://127.0.0.1:9', '--app', 'hr']);
  assert.equal(nofile.stderr, `wecom-edge simulate: cannot read .dev.vars (the default for a gateway on this machine; give --secrets FILE for another): ENOENT${USAGE('simulate')}`);
  const given = await runIn(dir, ['simulate', 'http://127.0.0.1:9', '--app', 'hr', '--secrets', 'nope.env']);
  assert.equal(given.stderr, `wecom-edge simulate: cannot read --secrets nope.env: ENOENT${USAGE('simulate')}`);
  const both = await runIn(dir, ['tail', 'http://127.0.0.1:9', '--app', 'hr', '--apps', 'x.json', '--config', 'wecom-edge.config.json']);
  assert.equal(both.stderr, `wecom-edge tail: --apps cannot be combined with --config/--secrets: give the app from a WECOM_APPS file, or from the configuration file and its secrets${USAGE('tail')}`);
  const mixed = await runIn(dir, ['simulate', 'http://127.0.0.1:9', '--app', 'hr', '--config', 'wecom-edge.config.json', '--token', 't']);
  assert.equal(mixed.stderr, `wecom-edge simulate: --apps/--config/--secrets cannot be combined with --token/--key/--receive-id/--bot: the file has them${USAGE('simulate')}`);
});

test('isLoopback, secretNamesOf and resolveReferences', () => {
  for (const base of ['http://127.0.0.1:8787', 'http://127.9.8.7', 'http://localhost:8787', 'http://[::1]:8787']) assert.equal(isLoopback(base), true, base);
  for (const base of ['https://edge.example.com', 'http://10.0.0.1:8787', 'http://localhost.example.com', 'http://[::2]']) assert.equal(isLoopback(base), false, base);
  assert.deepEqual(secretNamesOf('hr-ops'), { token: 'HR_OPS_TOKEN', encodingAESKey: 'HR_OPS_ENCODING_AES_KEY', webhookSecret: 'HR_OPS_WEBHOOK_SECRET', pullToken: 'HR_OPS_PULL_TOKEN', botToken: 'HR_OPS_BOT_TOKEN', ticketToken: 'HR_OPS_TICKET_TOKEN', kfToken: 'HR_OPS_KF_TOKEN' });
  assert.equal(secretNamesOf('9').token, 'APP_9_TOKEN');
  assert.equal(secretNamesOf('admin').token, 'APP_ADMIN_TOKEN');
  assert.equal(secretNamesOf('administrator').token, 'ADMINISTRATOR_TOKEN');
  const entry = { token: { secret: 'A' }, list: [{ secret: 'B' }, 'plain'], nested: { secret: 'C', other: 1 } };
  assert.deepEqual(resolveReferences(entry, { A: 'a', B: 'b' }), { token: 'a', list: ['b', 'plain'], nested: { secret: 'C', other: 1 } });
  assert.throws(() => resolveReferences({ token: { secret: 'Z' } }, {}), /^Error: no secret Z$/);
});

test("a suite's {\"secret\"} ticketToken: resolved where a command asks for it, left alone where it does not", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wecom-edge-suite-'));
  const config = join(dir, 'wecom-edge.config.json');
  const secrets = join(dir, 'secrets.json');
  const suite = { suiteId: 'wwsuite7d1e9a2c0b4f', providerCorpId: 'wwprovider3e40cde07', ticketToken: { secret: 'CRM_TICKET_TOKEN' } };
  writeFileSync(config, JSON.stringify({ apps: { crm: { token: { secret: 'CRM_TOKEN' }, encodingAESKey: { secret: 'CRM_ENCODING_AES_KEY' }, suite, pull: { token: { secret: 'CRM_PULL_TOKEN' } } } } }));
  writeFileSync(secrets, JSON.stringify({ CRM_TOKEN: SECRET, CRM_ENCODING_AES_KEY: KEY, CRM_TICKET_TOKEN: 'crm-ticket-token-0123456789' }));
  const o = { config, secrets };
  const { entry } = appSettings(o, 'crm', 'simulate', 'http://127.0.0.1:9', ['token', 'encodingAESKey', 'suite.ticketToken']);
  assert.deepEqual([entry.token, entry.encodingAESKey, entry.suite], [SECRET, KEY, { ...suite, ticketToken: 'crm-ticket-token-0123456789' }]);
  const unresolved = appSettings(o, 'crm', 'simulate', 'http://127.0.0.1:9', ['token', 'encodingAESKey']).entry;
  assert.deepEqual(unresolved.suite.ticketToken, { secret: 'CRM_TICKET_TOKEN' });
  // simulate needs no ticket token: with its secret not set, it still plays the suite (here, against nothing).
  writeFileSync(secrets, JSON.stringify({ CRM_TOKEN: SECRET, CRM_ENCODING_AES_KEY: KEY }));
  const r = await run(['simulate', 'http://127.0.0.1:9', '--app', 'crm', '--config', config, '--secrets', secrets]);
  assert.deepEqual([r.code, r.stdout], [1, '']);
  assert.match(r.stderr, /^wecom-edge simulate: cannot reach http:\/\/127\.0\.0\.1:9: /);
  assert.throws(() => appSettings(o, 'crm', 'simulate', 'http://127.0.0.1:9', ['suite.ticketToken']), {
    message: `${config} apps.crm.suite.ticketToken names secret CRM_TICKET_TOKEN, which is not set in ${secrets}; give --secrets FILE with it`,
  });
});

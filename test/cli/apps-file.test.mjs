// A WECOM_APPS file that is not JSON: every command that reads --apps says
// where the fault is, never what is there (the text around it may be a token).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonErrorPosition } from '../../bin/lib/apps-file.mjs';
import { run } from './helpers.mjs';

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

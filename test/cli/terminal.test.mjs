// bin/lib/terminal.mjs (what reaches a terminal), json-text.mjs's
// jsonSyntaxError (JSON errors said by line and column), --version, and
// every flag of tail, simulate and diagnose in its --help.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { escapeControls, oneLine, streamsAreTerminals, terminalOutput } from '../../bin/lib/terminal.mjs';
import { jsonProblem, jsonSyntaxError } from '../../bin/lib/json-text.mjs';
import { configHint } from '../../bin/lib/http.mjs';
import { run } from './helpers.mjs';

/** Every character a terminal must not get from outside, as the brief lists them. */
const HOSTILE = '\u001b]0;t\u0007 \u009d52;c;aGk=\u009c \u009b2J \u007f \u202e \u2066';
const ESCAPED = '\\u001b]0;t\\u0007 \\u009d52;c;aGk=\\u009c \\u009b2J \\u007f \\u202e \\u2066';
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('terminal.mjs', () => {
  test('escapeControls: C0 (but line breaks and tabs), DEL, C1 and bidi overrides become visible escapes', () => {
    assert.equal(escapeControls(HOSTILE), ESCAPED);
    assert.equal(escapeControls('a\nb\tc\rd\u0000e'), 'a\nb\tc\\rd\\u0000e');
    assert.equal(escapeControls('\u202a\u202b\u202c\u202d\u2067\u2068\u2069\u0080\u009f'), '\\u202a\\u202b\\u202c\\u202d\\u2067\\u2068\\u2069\\u0080\\u009f');
    // What is not a control stays: CJK, emoji, U+00A0 and up, the LRM mark, backslashes.
    assert.equal(escapeControls('你好 😀 \u00a0é \u200e \\u009b'), '你好 😀 \u00a0é \u200e \\u009b');
  });

  test('oneLine: line breaks, carriage returns and tabs too', () => {
    assert.equal(oneLine(`x\ny\r\tz${HOSTILE}`), `x\\ny\\r\\tz${ESCAPED}`);
    assert.equal(oneLine(42), '42');
  });

  test('escaped JSON is the same JSON: the escapes only ever stand inside its strings', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ unit: fc.constantFrom(...'\u001b\u0007\u009b\u009d\u009c\u007f\u202e\u2066\n\tab') }), (value, s) => {
        const text = JSON.stringify({ value, s });
        const escaped = escapeControls(text);
        assert.doesNotMatch(escaped, UNSAFE);
        assert.deepEqual(JSON.parse(escaped), JSON.parse(text));
      }),
      { numRuns: 2000 },
    );
  });

  test('terminalOutput: stdout escaped always or on a terminal only; stderr always; --raw never', () => {
    const written = [];
    const out = (isTTY) => ({ stdout: (t) => written.push(['out', t]), stderr: (t) => written.push(['err', t]), isTTY });
    const write = (io) => {
      written.length = 0;
      io.stdout(HOSTILE);
      io.stderr(HOSTILE);
      return written.map(([stream, text]) => `${stream}:${text}`);
    };
    const pipes = { stdout: false, stderr: false };
    const ttys = { stdout: true, stderr: true };
    assert.deepEqual(write(terminalOutput(out(pipes), { stdout: 'terminal' })), [`out:${HOSTILE}`, `err:${ESCAPED}`]);
    assert.deepEqual(write(terminalOutput(out(ttys), { stdout: 'terminal' })), [`out:${ESCAPED}`, `err:${ESCAPED}`]);
    assert.deepEqual(write(terminalOutput(out(pipes), { stdout: 'always' })), [`out:${ESCAPED}`, `err:${ESCAPED}`]);
    assert.deepEqual(write(terminalOutput(out(ttys), { stdout: 'always', raw: true })), [`out:${HOSTILE}`, `err:${HOSTILE}`]);
  });

  test('streamsAreTerminals: the streams, unless WECOM_EDGE_TTY says', () => {
    const streams = { stdout: { isTTY: true }, stderr: {} };
    assert.deepEqual(streamsAreTerminals({}, streams), { stdout: true, stderr: false });
    assert.deepEqual(streamsAreTerminals({ WECOM_EDGE_TTY: '1' }, streams), { stdout: true, stderr: true });
    assert.deepEqual(streamsAreTerminals({ WECOM_EDGE_TTY: '0' }, streams), { stdout: false, stderr: false });
  });
});

describe('jsonSyntaxError: where a text stops being JSON, without quoting it', () => {
  test('agrees with JSON.parse on what is JSON', () => {
    const alphabet = fc.constantFrom(...'{}[],:"\\u01-.e+truenlfas \n\u0001x/b');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 16 }).map((a) => a.join('')), (text) => {
        let parses = true;
        try {
          JSON.parse(text);
        } catch {
          parses = false;
        }
        assert.equal(jsonSyntaxError(text) === undefined, parses, JSON.stringify(text));
      }),
      { numRuns: 50_000 },
    );
    fc.assert(fc.property(fc.json(), (text) => jsonSyntaxError(text) === undefined), { numRuns: 2000 });
  });

  test('says line, column and what stands there; a control character by its code point', () => {
    assert.equal(jsonProblem('{"a":\n 1,\n}'), "unexpected '}' at line 3, column 1");
    assert.equal(jsonProblem('{"encrypt": "\u009b2J'), 'unexpected end of the text at line 1, column 17');
    assert.equal(jsonProblem('{"encrypt": \u001b]0;t\u0007}'), 'unexpected U+001B at line 1, column 13');
    assert.equal(jsonProblem('["a\u0007"]'), 'unexpected U+0007 at line 1, column 4');
    assert.equal(jsonProblem('-'), 'unexpected end of the text at line 1, column 2');
    assert.equal(jsonProblem('{"a": 1}'), undefined);
  });
});

describe('configHint: where to look when the gateway blames its configuration', () => {
  const base = 'https://wecom.example.com';
  test('an app that is misconfigured', () => {
    assert.deepEqual(configHint(base, 503, { code: 'invalid_config', message: 'app "hr" is misconfigured' }), [
      'the gateway says app "hr" is misconfigured (503 invalid_config).',
      '  The field at fault is named in GET https://wecom.example.com/admin/apps ("invalidApps"), on the admin page at https://wecom.example.com/admin,',
      "  and in wrangler's log (the output of wrangler dev, or npx wrangler tail).",
      '  Run `npx wecom-edge check-config` locally: it checks wecom-edge.config.json and the secrets it names.',
    ]);
  });
  test('a configuration that cannot be loaded; its message kept to one line', () => {
    assert.deepEqual(configHint(base, 503, { code: 'not_configured', message: 'no apps\n\u009b2J' }).slice(0, 2), [
      'the gateway cannot load its configuration (503 not_configured: no apps\\n\\u009b2J).',
      '  Why is said in GET https://wecom.example.com/admin/apps ("configError"), on the admin page at https://wecom.example.com/admin,',
    ]);
  });
  test('any other answer: no hint', () => {
    assert.equal(configHint(base, 503, { code: 'queue_full', message: 'the queue is full' }), undefined);
    assert.equal(configHint(base, 400, { code: 'invalid_config', message: 'x' }), undefined);
    assert.equal(configHint(base, 503, undefined), undefined);
  });
});

describe('wecom-edge --version and each --help', () => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));

  test('--version and -V print package.json\'s version', async () => {
    assert.equal(version, '0.3.0');
    for (const flag of ['--version', '-V']) {
      assert.deepEqual(await run([flag]), { code: 0, stdout: `wecom-edge ${version}\n`, stderr: '' });
    }
    const help = await run(['--help']);
    assert.match(help.stdout, /^ {2}-V, --version {2}print the version/m);
  });

  /** The long options a command's parseArgs takes, read from its source. */
  function flagsOf(file) {
    const source = readFileSync(new URL(`../../bin/lib/${file}`, import.meta.url), 'utf8');
    return [...source.matchAll(/^ {4,6}'?([a-z][a-z-]*)'?: \{ type: '(?:string|boolean)'/gm)].map((m) => `--${m[1]}`);
  }

  for (const [command, file, expected] of [
    ['tail', 'tail.mjs', ['--app', '--token', '--once', '--no-ack', '--json', '--raw', '--max', '--lease', '--interval', '--timeout']],
    ['simulate', 'simulate.mjs', ['--app', '--token', '--key', '--receive-id', '--bot', '--agent-id', '--only', '--repeat', '--concurrency', '--timeout', '--json', '--quiet', '--raw']],
    ['diagnose', 'diagnose.mjs', ['--url', '--body', '--body-file', '--curl', '--token', '--key', '--receive-id', '--apps', '--app', '--now', '--max-skew', '--send', '--timeout', '--raw']],
  ]) {
    test(`${command} --help lists every flag ${command} takes`, async () => {
      const flags = flagsOf(file);
      for (const flag of expected) assert.ok(flags.includes(flag), `${flag} is read from ${file}`);
      const { code, stdout } = await run([command, '--help']);
      assert.equal(code, 0);
      const missing = [...flags, '--help'].filter((flag) => !new RegExp(`(^|[\\s\\[(|,])${flag}(?![a-z-])`, 'm').test(stdout));
      assert.deepEqual(missing, []);
      assert.match(stdout, /\\u009b/); // the terminal-safety paragraph
    });
  }
});

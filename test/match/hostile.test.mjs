// The hostile rule, timed (docs/matching.md, "Limits"). workerd's clock
// stands still while a request computes, so the CPU is measured here, in Node,
// on src/match bundled as the Worker bundles it; test/match/match.test.ts and
// test/wecom/rules.test.ts check the same answers inside workerd.
//
// For scale: V8's backtracking RegExp, which ran this rule before, took 37.6 ms
// on "a" × 22 + "!" on the machine these numbers were taken on, about 4 times
// more for every 2 characters more (2.5 s at 25 characters in the issue).
// Nothing here runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HOSTILE = '^(\\s*[\\w\\u4e00-\\u9fa5]+\\s*)+[?？]$';

async function loadMatch() {
  const result = await build({
    entryPoints: [join(ROOT, 'src/match/index.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    logLevel: 'silent',
  });
  const file = join(mkdtempSync(join(tmpdir(), 'wecom-edge-match-')), 'match.mjs');
  writeFileSync(file, result.outputFiles[0].text);
  return import(pathToFileURL(file).href);
}

const { compileMatch, MATCH_LIMITS } = await loadMatch();

/** The answer, and the CPU (user + system, ms) of each of `runs` calls, the first (cold) one included. */
function timed(match, event, runs = 16) {
  const times = [];
  let answer;
  for (let i = 0; i < runs; i++) {
    const start = process.cpuUsage();
    answer = match.test(event);
    const spent = process.cpuUsage(start);
    times.push((spent.user + spent.system) / 1000);
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { answer, runs, first: times[0], median: sorted[Math.floor(runs / 2)], total: times.reduce((a, b) => a + b, 0) };
}

/** A text of `length` characters from `alphabet`, the same every run. */
function scrambled(length, alphabet) {
  let text = '';
  let x = 7919;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    text += alphabet[(x >> 8) % alphabet.length];
  }
  return text;
}

const format = (t) => `first ${t.first.toFixed(2)} ms, median ${t.median.toFixed(2)} ms, ${t.total.toFixed(1)} ms for ${t.runs} calls`;

test('the hostile rule answers hostile messages far inside a 10 ms CPU budget', async (t) => {
  const match = compileMatch({ MsgType: 'text', Content: { regex: HOSTILE } });
  const cases = [
    ['"a" × 2000, then "!" (a full WeCom text message)', `${'a'.repeat(2000)}!`, false],
    ['"a" × 2000, then "？"', `${'a'.repeat(2000)}？`, true],
    ['"你好 " × 680, then "!"', `${'你好 '.repeat(680)}!`, false],
    ['"a" × 100,000, then "？!" (the regex reads the first 4096)', `${'a'.repeat(100_000)}？!`, false],
    ['4095 scrambled "a", " ", "你", then "!"', `${scrambled(4095, 'a 你')}!`, false],
  ];
  for (const [name, content, expected] of cases) {
    const result = timed(match, { MsgType: 'text', Content: content });
    t.diagnostic(`${name}: ${format(result)}`);
    assert.equal(result.answer, expected, name);
    // Measured 0.2–1.3 ms a call on a shared 2-core machine; the first call builds re2js's DFA states.
    assert.ok(result.median < 5, `${name}: median ${result.median} ms`);
    assert.ok(result.total < 160, `${name}: ${result.total} ms for 16 calls`);
  }
});

test('the worst match the limits allow stays in the tens of milliseconds: linear in text × regex size', async (t) => {
  assert.equal(MATCH_LIMITS.textLength, 4096);
  assert.equal(MATCH_LIMITS.regexSize, 256);
  // Patterns whose DFA needs a new state at nearly every character ("an a, 250 characters
  // before a c"), at the size limit, on the longest text a regex reads: re2js runs its NFA,
  // whose cost is the text's length times the program's size.
  const cases = [
    ['[ab]*a[ab]{250}c', `${scrambled(4095, 'ab')}c`],
    ['\\pL*a\\pL{250}c', `${scrambled(4095, 'ab你好')}c`],
    ['[ab]*a[ab]{80}c|[ab]*b[ab]{80}d|[ab]*a[ab]{80}e', `${scrambled(4093, 'ab')}cde`],
  ];
  for (const [regex, content] of cases) {
    const match = compileMatch({ Content: { regex } });
    assert.ok(match.regexSize > 240 && match.regexSize <= 256, `${regex}: ${match.regexSize} instructions`);
    const longer = timed(match, { Content: `${content}${'ab'.repeat(50_000)}` }, 3);
    const result = timed(match, { Content: content }, 5);
    t.diagnostic(`${regex} (${match.regexSize} instructions) on ${content.length} characters: ${format(result)}`);
    // The same text and the same answer past the bound: only the first 4096 characters are read.
    assert.equal(longer.answer, result.answer);
    // Measured 8–20 ms a call on a shared 2-core machine.
    assert.ok(result.median < 100, `${regex}: median ${result.median} ms`);
  }
});

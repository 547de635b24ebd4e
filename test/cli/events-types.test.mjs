// wecom-edge/events (client/events.d.ts, docs/events.md): the types are what
// the catalogue (src/wecom/catalogue.json) makes; each callback that
// `simulate` sends from it (bin/lib/catalogue.mjs), shaped into the event JSON
// by the gateway's own XML code (src/wecom/xml.ts, bundled with esbuild), is
// compiled against its type with tsc, object literals and all (a field the
// type lacks is an error); the guards narrow, and refuse a ChangeType the
// event has not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { APP_CATALOGUE, BOT_CATALOGUE, CATALOGUE, newAibotId, newCorpId, SUITE_CATALOGUE } from '../../bin/lib/catalogue.mjs';
import { listElements, renderEventTypes, TYPES_PATH } from '../../scripts/gen-events.mjs';
import { isBot, isEvent, isMessage, isSuiteInfo } from 'wecom-edge/events';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The type a callback's event must have, from what it says it is: the helper
 * type its discriminators pick (EventOf<"change_contact", "create_user">…),
 * and the catalogue's own type for the item.
 */
function typeOfEvent(catalogue, event, declared) {
  let picked;
  if (catalogue === 'bot') picked = event.msgtype === 'event' ? `BotEvent<${JSON.stringify(event.event.eventtype)}>` : `BotMessageOf<${JSON.stringify(event.msgtype)}>`;
  else if (event.InfoType !== undefined) picked = `SuiteInfoOf<${JSON.stringify(event.InfoType)}>`;
  else if (event.MsgType !== 'event') picked = `MessageOf<${JSON.stringify(event.MsgType)}>`;
  else picked = `EventOf<${[event.Event, event.ChangeType].filter((v) => v !== undefined).map((v) => JSON.stringify(v)).join(', ')}>`;
  return `${picked} & ${declared}`;
}

/** The gateway's XML shaping, for Node. */
async function gatewayXml() {
  const { build } = await import('esbuild');
  const result = await build({
    stdin: { contents: 'export { parseXml, REPEATING_ELEMENTS } from "./src/wecom/xml.ts";', resolveDir: ROOT, loader: 'ts' },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'node',
    logLevel: 'silent',
  });
  return import(`data:text/javascript;base64,${Buffer.from(result.outputFiles[0].text).toString('base64')}`);
}

/**
 * Every callback the catalogues hold, as the event JSON the intranet gets:
 * [catalogue, name, event JSON, the item's type]. A suite's carry the
 * receiveId their item names and, as the gateway gives it (src/routes/callback.ts),
 * `corpId`: a data callback's receiveId, an instruction's AuthCorpId.
 */
async function fixtures() {
  const { parseXml } = await gatewayXml();
  const suite = { suiteId: 'wwsuite7d1e9a2c0b4f', providerCorpId: 'wwprovider3e40cde07', corpA: newCorpId('A'), corpB: newCorpId('B') };
  const ctx = { corpId: 'ww3e40cde07cc21a01', agentId: '1000002', aibotId: newAibotId(), user: 'zhangsan', createTime: 1_765_000_000, streamId: 'stream-1', ...suite };
  const out = [];
  for (const [catalogue, items, format] of [['app', APP_CATALOGUE, 'xml'], ['bot', BOT_CATALOGUE, 'json'], ['suite', SUITE_CATALOGUE, 'xml']]) {
    for (const item of items) {
      if (item.kind !== 'callback' && item.kind !== 'refresh') continue;
      const { plaintext } = item.build(ctx);
      const event = format === 'xml' ? parseXml(plaintext) : JSON.parse(plaintext);
      const receiveId = item.receiveIdOf ? item.receiveIdOf(ctx) : ctx.corpId;
      const corpId = item.url === 'data' ? receiveId : item.url === 'instruction' ? event.AuthCorpId : undefined;
      const json = { id: 'evt_0123', app: 'hr', receiveId, ...(corpId !== undefined ? { corpId } : {}), receivedAt: '2026-12-06T00:00:00.000Z', format, event, raw: plaintext };
      out.push([catalogue, item.name, json, item.type]);
    }
  }
  return out;
}

/** Runs tsc on `files` (name → source) against client/events.d.ts: { code, output }. */
async function compile(files) {
  const dir = mkdtempSync(join(tmpdir(), 'wecom-edge-events-'));
  for (const [name, source] of Object.entries(files)) writeFileSync(join(dir, name), source);
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: 'es2022', moduleResolution: 'bundler', skipLibCheck: false, types: [], baseUrl: dir, paths: { 'wecom-edge/events': [join(ROOT, 'client', 'events.d.ts')] } },
      files: Object.keys(files).map((name) => join(dir, name)),
    }),
  );
  try {
    const { stdout } = await promisify(execFile)(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' });
    return { code: 0, output: stdout };
  } catch (error) {
    return { code: error.code, output: `${error.stdout}${error.stderr}` };
  }
}

const IMPORTS = 'import type { BotEvent, BotMessageOf, EventOf, MessageOf, SuiteInfoOf, WecomEvent } from "wecom-edge/events";\n';

test('client/events.d.ts is what src/wecom/catalogue.json makes (npm run events)', () => {
  assert.equal(readFileSync(TYPES_PATH, 'utf8'), renderEventTypes(CATALOGUE));
});

test("the catalogue's list elements are the gateway's: a type never promises an array the gateway does not make", async () => {
  const { REPEATING_ELEMENTS } = await gatewayXml();
  const lists = new Set();
  for (const kind of [...CATALOGUE.kinds.messages, ...CATALOGUE.kinds.events, ...CATALOGUE.kinds.suites]) listElements(kind.fields ?? {}, lists);
  listElements(CATALOGUE.heads.UserFields, lists);
  assert.deepEqual([...lists].filter((name) => !REPEATING_ELEMENTS.includes(name)), []);
  assert.deepEqual(REPEATING_ELEMENTS.filter((name) => !lists.has(name)), []);
});

test('every simulate callback compiles against the type its discriminators pick and the type the catalogue gives it', async () => {
  const all = await fixtures();
  assert.deepEqual(all.filter(([, , , type]) => type === undefined).map(([c, name]) => `${c}.${name}`), [], 'a simulate callback without a type');
  assert.deepEqual(
    all.filter(([catalogue]) => catalogue === 'suite').map(([, name, json]) => [name, json.receiveId === json.corpId, json.corpId !== undefined]),
    [['suite_ticket', false, false], ['create_auth', false, false], ['change_auth', false, true], ['cancel_auth', false, true], ['text', true, true], ['enter_agent', true, true]],
  );
  assert.equal(all.length, 26);
  const declared = [...new Set(all.map(([, , , type]) => type))].filter((type) => !IMPORTS.includes(` ${type},`));
  const source =
    IMPORTS.replace(' WecomEvent }', ` WecomEvent, ${declared.join(', ')} }`) +
    all.map(([catalogue, name, json, type]) => `export const ${catalogue}_${name}: WecomEvent<${typeOfEvent(catalogue, json.event, type)}> = ${JSON.stringify(json, null, 2)};\n`).join('\n');
  const { code, output } = await compile({ 'fixtures.ts': source });
  assert.equal(output, '');
  assert.equal(code, 0);
});

test('a field the type does not have, or a leaf that is not a string, fails to compile', async () => {
  const [, , text] = (await fixtures()).find(([catalogue, name]) => catalogue === 'app' && name === 'text');
  const extra = { ...text, event: { ...text.event, Colour: 'red' } };
  const number = { ...text, event: { ...text.event, MsgId: 1234 } };
  const { code, output } = await compile({
    'wrong.ts': `${IMPORTS}export const a: WecomEvent<MessageOf<"text">> = ${JSON.stringify(extra)};\nexport const b: WecomEvent<MessageOf<"text">> = ${JSON.stringify(number)};\n`,
  });
  assert.notEqual(code, 0);
  assert.match(output, /Object literal may only specify known properties, and '"Colour"' does not exist in type 'TextMessage/);
  assert.match(output, /Type 'number' is not assignable to type 'string'/);
});

test('the guards narrow the event, and a ChangeType the event has not is a type error', async () => {
  const { code, output } = await compile({
    'guards.ts': `import { isBot, isEvent, isMessage, isSuiteInfo } from "wecom-edge/events";
import type { WecomEvent } from "wecom-edge/events";
declare const e: WecomEvent;
if (isEvent(e, "change_contact", "create_user")) { const user: string = e.event.UserID; const name: string | undefined = e.event.Name; void user; void name; }
if (isEvent(e, "change_contact")) { const change: "create_user" | "update_user" | "delete_user" | "create_party" | "update_party" | "delete_party" | "update_tag" = e.event.ChangeType; void change; }
if (isEvent(e, "change_external_contact", "del_follow_user")) { const id: string = e.event.ExternalUserID; void id; }
if (isEvent(e, "sys_approval_change")) { const records = e.event.ApprovalInfo.SpRecord.map((r) => r.Details.length); void records; }
if (isMessage(e, "text")) { const content: string = e.event.Content; void content; }
if (isSuiteInfo(e, "suite_ticket")) { const ticket: string = e.event.SuiteTicket; void ticket; }
if (isSuiteInfo(e, "change_contact")) { const corp: string = e.event.AuthCorpId; const change: "create_user" | "update_user" | "delete_user" | "create_party" | "update_party" | "delete_party" | "update_tag" = e.event.ChangeType; void corp; void change; }
if (isSuiteInfo(e, "change_external_chat")) { const corp: string = e.event.AuthCorpId; void corp; }
if (isBot(e, "text")) { const content: string = e.event.text.content; void content; }
// @ts-expect-error: change_contact has no ChangeType "create"
isEvent(e, "change_contact", "create");
// @ts-expect-error: click has no ChangeType at all
isEvent(e, "click", "create_user");
// @ts-expect-error: no such MsgType
isMessage(e, "sticker");
`,
  });
  assert.equal(output, '');
  assert.equal(code, 0);
});

test('at run time the guards answer by the fields WeCom discriminates by', async () => {
  const byName = Object.fromEntries((await fixtures()).map(([catalogue, name, json]) => [`${catalogue}.${name}`, json]));
  assert.equal(isMessage(byName['app.text'], 'text'), true);
  assert.equal(isMessage(byName['app.text'], 'image'), false);
  assert.equal(isEvent(byName['app.create_user'], 'change_contact', 'create_user'), true);
  assert.equal(isEvent(byName['app.create_user'], 'change_contact'), true);
  assert.equal(isEvent(byName['app.update_user'], 'change_contact', 'create_user'), false);
  assert.equal(isEvent(byName['app.click'], 'click'), true);
  assert.equal(isEvent(byName['app.text'], 'click'), false);
  assert.equal(isSuiteInfo(byName['app.suite_ticket'], 'suite_ticket'), true);
  assert.equal(isSuiteInfo(byName['suite.create_auth'], 'create_auth'), true);
  assert.equal(isSuiteInfo(byName['suite.cancel_auth'], 'change_auth'), false);
  assert.equal(isMessage(byName['suite.text'], 'text'), true);
  assert.equal(isEvent(byName['suite.enter_agent'], 'enter_agent'), true);
  assert.equal(isBot(byName['bot.text'], 'text'), true);
  assert.equal(isBot(byName['app.text'], 'text'), false);
  assert.equal(isEvent(null, 'click'), false);
});

#!/usr/bin/env node
// Writes client/events.d.ts, the types of wecom-edge/events (docs/events.md),
// from WeCom's catalogue (src/wecom/catalogue.json): `npm run events` after
// editing the catalogue. test/cli/events-types.test.mjs fails while the file
// differs from what this writes.
//
//   node scripts/gen-events.mjs [--check]
//     --check   write nothing; exit 1 if client/events.d.ts is not up to date
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = new URL('..', import.meta.url);
export const CATALOGUE_PATH = fileURLToPath(new URL('src/wecom/catalogue.json', ROOT));
export const TYPES_PATH = fileURLToPath(new URL('client/events.d.ts', ROOT));

const literal = (value) => JSON.stringify(value);
/** One value or several, as a union of string literals. */
const union = (values) => [values].flat().map(literal).join(' | ');

/** Whether type text has a | or & outside its braces and brackets (so needs parentheses before []). */
function topLevelUnion(text) {
  let depth = 0;
  for (const c of text) {
    if ('{[(<'.includes(c)) depth++;
    else if ('}])>'.includes(c)) depth--;
    else if (depth === 0 && (c === '|' || c === '&')) return true;
  }
  return false;
}

/** The names of the list elements (fields written [type]) in `fields`, nested ones included. */
export function listElements(fields, into = new Set()) {
  for (const [key, value] of Object.entries(fields)) {
    if (Array.isArray(value)) {
      into.add(key.replace(/\?$/, ''));
      if (typeof value[0] === 'object') listElements(value[0], into);
    } else if (typeof value === 'object') listElements(value['|'] ? Object.assign({}, ...value['|'].filter((v) => typeof v === 'object')) : value, into);
  }
  return into;
}

/** A field's TypeScript type: text as written, an object of fields, [type] (an always-array list element), or {"|": [type, …]}, a union. */
function typeOf(spec) {
  if (typeof spec === 'string') return spec;
  if (Array.isArray(spec)) {
    const text = typeOf(spec[0]);
    return topLevelUnion(text) ? `(${text})[]` : `${text}[]`;
  }
  if (spec['|']) return spec['|'].map(typeOf).join(' | ');
  return `{ ${Object.entries(spec).map(([key, value]) => `${key}: ${typeOf(value)}`).join('; ')} }`;
}

/** The body of an interface: on one line when short, one field a line otherwise. */
function body(fields, indent = '') {
  const entries = Object.entries(fields).map(([key, value]) => `${key}: ${typeOf(value)}`);
  const line = `{ ${entries.join('; ')} }`;
  if (line.length <= 110 && !Object.values(fields).some((v) => typeof v === 'object' && !Array.isArray(v) && JSON.stringify(v).length > 80)) return line;
  return `{\n${Object.entries(fields).map(([key, value]) => `${indent}  ${key}: ${block(value, `${indent}  `)};`).join('\n')}\n${indent}}`;
}

/** A nested object written over several lines when it is long. */
function block(spec, indent) {
  if (typeof spec === 'object' && !Array.isArray(spec) && typeOf(spec).length > 100) return body(spec, indent);
  return typeOf(spec);
}

/** A // comment wrapped at 80 columns. */
function wrap(text) {
  const lines = [];
  let line = '//';
  for (const word of text.slice(3).split(' ')) {
    if (line.length + 1 + word.length > 80) {
      lines.push(line);
      line = '//';
    }
    line += ` ${word}`;
  }
  return [...lines, line];
}

const doc = (kind) => (kind.doc ? `/** ${kind.doc} */\n` : '');

/** One kind: an interface with fields of its own, or a type alias of its head. */
function declare(kind, head) {
  const bases = [kind.omit ? `Omit<${head}, ${union(kind.omit)}>` : head, ...(kind.with ? [kind.with] : [])];
  if (!kind.fields) return `${doc(kind)}export type ${kind.type} = ${bases.join(' & ')};`;
  return `${doc(kind)}export interface ${kind.type} extends ${bases.join(', ')} ${body(kind.fields)}`;
}

const unionType = (name, members) => {
  const line = `export type ${name} = ${members.join(' | ')};`;
  return line.length <= 120 ? line : `export type ${name} =\n${members.map((m) => `  | ${m}`).join('\n')};`;
};

/** Groups of kinds (ContactEvent…) stand in the larger union as one member, where their first kind stood. */
function members(kinds) {
  const out = [];
  for (const kind of kinds) {
    const name = kind.group ?? kind.type;
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

function interfaceOf(name, fields) {
  return `interface ${name} ${body(fields)}`;
}

export function renderEventTypes(catalogue) {
  const { heads, kinds } = catalogue;
  const lists = new Set();
  for (const kind of [...kinds.messages, ...kinds.events, ...kinds.suites]) listElements(kind.fields ?? {}, lists);
  listElements(heads.UserFields, lists);
  const listNote = wrap(`// (MsgId keeps its digits, 007 stays 007) and the list elements (${[...lists].join(', ')}) are always arrays; a JSON callback (an AI bot's) keeps WeCom's own JSON.`);
  const { AppHead, EventHead, UserFields, SuiteHead, BotHead } = heads;
  const out = [];
  const emit = (...lines) => out.push(...lines);

  emit(
    '// wecom-edge/events: TypeScript types of the event JSON the gateway hands to the',
    '// intranet (docs/events.md), a union over WeCom\'s catalogue, with type guards.',
    '// Written by scripts/gen-events.mjs from src/wecom/catalogue.json (`npm run events`):',
    '// edit the catalogue, not this file.',
    '// The gateway\'s shaping rules hold: in an XML callback every leaf is a string',
    ...listNote,
    '',
    '/** Every leaf of an XML callback. */',
    'type S = string;',
    '',
    '/** What every message and event sent to an app carries. */',
    interfaceOf('AppHead', AppHead),
    '',
    '// ---- messages, by MsgType ----',
    '',
  );
  for (const kind of kinds.messages) emit(declare({ ...kind, fields: { MsgType: literal(kind.MsgType), ...kind.fields } }, 'AppHead'));
  emit('', unionType('Message', members(kinds.messages)), 'export type MessageType = Message["MsgType"];', '');

  emit('// ---- app events, by Event ----', '');
  const eventFields = Object.entries({ MsgType: '"event"', Event: 'E', ...EventHead }).map(([k, v]) => `${k}: ${typeOf(v)}`);
  emit(`interface EventHead<E extends string> extends AppHead { ${eventFields.join('; ')} }`, '');
  emit(`interface ContactHead<C extends string> extends EventHead<"change_contact"> { ChangeType: C }`);
  emit(`interface UserFields ${body(UserFields)}`, '');
  for (const kind of kinds.events) {
    const contact = kind.Event === 'change_contact';
    const head = contact ? `ContactHead<${union(kind.ChangeType)}>` : `EventHead<${union(kind.Event)}>`;
    // A ChangeType of its own (customer contact): the first field.
    const own = !contact && kind.ChangeType ? { ...kind, fields: { ChangeType: union(kind.ChangeType), ...kind.fields } } : kind;
    emit(declare(own, head));
  }
  const groups = new Map();
  for (const kind of kinds.events) if (kind.group) groups.set(kind.group, [...(groups.get(kind.group) ?? []), kind.type]);
  for (const [group, types] of groups) emit(unionType(group, types));
  emit('', unionType('AppEvent', members(kinds.events)), 'export type EventName = AppEvent["Event"];', '');

  emit('// ---- third-party suites: instruction callbacks, by InfoType ----', '');
  const suiteFields = Object.entries({ ...SuiteHead }).map(([k, v]) => `${k}: ${typeOf(v)}`);
  suiteFields.splice(1, 0, 'InfoType: I');
  emit(`interface SuiteHead<I extends string> { ${suiteFields.join('; ')} }`);
  for (const kind of kinds.suites) emit(declare(kind, `SuiteHead<${union(kind.InfoType)}>`));
  emit(unionType('SuiteInfo', members(kinds.suites)), 'export type InfoType = SuiteInfo["InfoType"];', '');

  emit('// ---- AI bots (JSON callbacks, as WeCom sends them) ----', '');
  emit('interface BotHead<T extends string> {');
  for (const [key, value] of Object.entries(BotHead)) emit(`  ${key}: ${typeOf(value)};`);
  emit('  msgtype: T;', '}');
  for (const kind of kinds.bots) {
    if (kind.eventtype) {
      emit(`export interface ${kind.type}<E extends string = BotEventType> extends BotHead<${literal(kind.msgtype)}> { event: { eventtype: E } & Record<string, unknown> }`);
      emit(`export type BotEventType = ${union(kind.eventtype)};`);
    } else emit(declare(kind, `BotHead<${literal(kind.msgtype)}>`));
  }
  emit(unionType('BotMessage', members(kinds.bots)), 'export type BotMsgType = BotMessage["msgtype"];', '');

  emit(readFileSync(new URL('gen-events.tail.d.ts', import.meta.url), 'utf8').trimEnd());
  return `${out.join('\n')}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = renderEventTypes(JSON.parse(readFileSync(CATALOGUE_PATH, 'utf8')));
  if (process.argv.includes('--check')) {
    if (readFileSync(TYPES_PATH, 'utf8') !== text) {
      process.stderr.write('client/events.d.ts is not what src/wecom/catalogue.json makes: run npm run events\n');
      process.exit(1);
    }
  } else writeFileSync(TYPES_PATH, text);
}

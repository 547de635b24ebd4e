// What `simulate` sends: realistic callbacks in the formats WeCom documents
// (developer.work.weixin.qq.com: 90238/90240 messages and events, 90967 and
// 90970 contact changes, 91815 approvals, 92130 customer contacts, 90240
// template cards, 94670 微信客服, 90628 suite_ticket, 90642 create_auth,
// change_auth and cancel_auth, 100719 and 101027 AI bots), as the
// "simulate" lists of src/wecom/catalogue.json give them: the
// file the event types and the route tester's hints come from too. Every
// call makes fresh values (MsgId, ids, tickets, CreateTime), so that a rerun
// is a new event and not a resend.
//
// Each item: { name, kind, summary, type?, url?, receiveIdOf?(ctx), build?(ctx) → { plaintext, agentId? } }
//   kind "verify"   the URL-verification GET
//   kind "callback" a POST
//   kind "resend"   the exact bytes of the first callback of the run again (the dedup)
//   kind "refresh"  an AI bot's stream refresh, for the stream the bot's text opened
//   agentId         the envelope's AgentID: null for none, undefined for simulate's --agent-id
//   url             a suite's: "instruction" (/callback/{app}) or "data" (/callback/{app}/data)
//   receiveIdOf     a suite's: the receiveId the item is encrypted for (and its envelope addressed to)
// ctx: { corpId, agentId, aibotId, user, createTime (unix seconds, a number), streamId?,
//        and for a suite: suiteId, providerCorpId, corpA, corpB }
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** WeCom's catalogue: its kinds (the types of wecom-edge/events), the names it knows, and what simulate sends. */
export const CATALOGUE = JSON.parse(readFileSync(new URL('../../src/wecom/catalogue.json', import.meta.url), 'utf8'));

/** Who the simulated callbacks come from: your intranet can tell simulated events by it. */
export const SIMULATE_USER = 'wecom-edge-simulate';

const digits = (n) => String(randomInt(10 ** (n - 1), 10 ** n - 1));
/** A 19-digit MsgId (WeCom's are 64-bit; as a string, never a JS number). */
const msgId = () => `${randomInt(1, 9)}${digits(9)}${digits(9)}`;
const alnum = (n) => randomBytes(n).toString('base64').replace(/[^A-Za-z0-9]/g, '').padEnd(n, 'x').slice(0, n);

/** An AI bot's id, as WeCom shows it in its callbacks: one per run. */
export const newAibotId = () => `aib${alnum(29)}`;

/**
 * A made-up corp for a suite's data callbacks, one per run: "wpsimA…" and
 * "wpsimB…", in the shape of the corpids WeCom gives a provider (wp…), and
 * telling simulated callbacks apart.
 */
export const newCorpId = (letter) => `wpsim${letter}${alnum(26)}`;

/** The fresh values a sample's {name} and {name:N} stand for. */
const FILLERS = {
  corpId: (ctx) => ctx.corpId,
  agentId: (ctx) => ctx.agentId,
  aibotId: (ctx) => ctx.aibotId,
  user: (ctx) => ctx.user,
  createTime: (ctx) => String(ctx.createTime),
  streamId: (ctx) => ctx.streamId,
  suiteId: (ctx) => ctx.suiteId,
  providerCorpId: (ctx) => ctx.providerCorpId,
  corpA: (ctx) => ctx.corpA,
  corpB: (ctx) => ctx.corpB,
  msgId: () => msgId(),
  tag: () => randomBytes(4).toString('hex'),
  date: (ctx) => new Date(ctx.createTime * 1000).toISOString().slice(0, 10).replaceAll('-', ''),
  digits: (_, n) => digits(n),
  alnum: (_, n) => alnum(n),
  base64: (_, n) => randomBytes(n).toString('base64'),
};

function fill(template, ctx) {
  return template.replace(/\{(\w+)(?::(\d+))?\}/g, (whole, name, n) => {
    const filler = FILLERS[name];
    if (filler === undefined) throw new Error(`src/wecom/catalogue.json: a sample names ${whole}, which simulate does not fill`);
    const value = filler(ctx, Number(n));
    if (value === undefined) throw new Error(`src/wecom/catalogue.json: a sample names ${whole}, which this catalogue's callbacks have no value for`);
    return value;
  });
}

/** A string element written bare (numbers, ids WeCom writes without CDATA). */
class Bare {
  constructor(value) {
    this.value = value;
  }
}

/** A sample with its placeholders filled: strings, Bare values (from numbers and "#…" strings), objects and arrays. */
function filled(sample, ctx) {
  if (Array.isArray(sample)) return sample.map((v) => filled(v, ctx));
  if (typeof sample === 'number') return new Bare(String(sample));
  if (typeof sample === 'string') return sample.startsWith('#') ? new Bare(fill(sample.slice(1), ctx)) : fill(sample, ctx);
  return Object.fromEntries(Object.entries(sample).map(([k, v]) => [k, filled(v, ctx)]));
}

function element(name, value) {
  if (Array.isArray(value)) return value.map((v) => element(name, v)).join('');
  if (value instanceof Bare) return `<${name}>${value.value}</${name}>`;
  if (value !== null && typeof value === 'object') return `<${name}>${Object.entries(value).map(([k, v]) => element(k, v)).join('')}</${name}>`;
  return `<${name}><![CDATA[${value}]]></${name}>`;
}

/** WeCom's plaintext: the root <xml>, one top-level element per line as in WeCom's own samples. */
function xml(fields) {
  return `<xml>${Object.entries(fields).map(([k, v]) => element(k, v)).join('\n')}\n</xml>`;
}

/** The same sample as JSON (an AI bot's): a bare value is a number. */
function json(value) {
  if (Array.isArray(value)) return value.map(json);
  if (value instanceof Bare) return Number(value.value);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, json(v)]));
  return value;
}

/** A catalogue's simulate list as items; `format` "xml" or "json"; `suite`: its items say which URL and receiveId. */
function items(list, format, { suite = false } = {}) {
  return list.map(({ name, kind = 'callback', summary, type, sample, agentId, url, receiveId }) => {
    if (suite && kind !== 'resend' && (!['instruction', 'data'].includes(url) || typeof receiveId !== 'string')) {
      throw new Error(`src/wecom/catalogue.json: simulate.suite's ${name} must say its "url" (instruction or data) and its "receiveId"`);
    }
    return item({ name, kind, summary, type, sample, agentId, url, receiveId }, format);
  });
}

function item({ name, kind, summary, type, sample, agentId, url, receiveId }, format) {
  return {
    name,
    kind,
    summary,
    ...(type !== undefined ? { type } : {}),
    ...(url !== undefined ? { url, receiveIdOf: (ctx) => fill(receiveId, ctx) } : {}),
    ...(sample !== undefined
      ? {
          build: (ctx) => {
            const values = filled(sample, ctx);
            return { plaintext: format === 'xml' ? xml(values) : JSON.stringify(json(values)), ...(agentId !== undefined ? { agentId } : {}) };
          },
        }
      : {}),
  };
}

export const APP_CATALOGUE = items(CATALOGUE.simulate.app, 'xml');
export const BOT_CATALOGUE = items(CATALOGUE.simulate.bot, 'json');
/** A third-party suite's or 代开发 template's (an app with "suite"): its two URLs, each item with its receiveId. */
export const SUITE_CATALOGUE = items(CATALOGUE.simulate.suite, 'xml', { suite: true });

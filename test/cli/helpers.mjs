// Helpers for the CLI tests that run against the gateway in workerd
// (test/support/gateway.mjs): run the CLI as a child process, write a
// WECOM_APPS file, and a webhook receiver on 127.0.0.1.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';

const BIN = fileURLToPath(new URL('../../bin/wecom-edge.mjs', import.meta.url));

/**
 * Runs `wecom-edge ...args`: { code, stdout, stderr }. `env` adds to the
 * environment, e.g. { WECOM_EDGE_TTY: '1' } to have stdout and stderr taken
 * for terminals (bin/lib/terminal.mjs). WECOM_EDGE_TTY is unset otherwise, so
 * a test run from a terminal sees pipes, as it does in CI.
 */
export function run(args, { input, env } = {}) {
  const { WECOM_EDGE_TTY, ...inherited } = process.env;
  return new Promise((resolve) => {
    const options = { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...inherited, ...env } };
    const child = execFile(process.execPath, [BIN, ...args], options, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

/** Writes `apps` to a fresh WECOM_APPS JSON file and returns its path. */
export function appsFile(apps) {
  const file = join(mkdtempSync(join(tmpdir(), 'wecom-edge-cli-')), 'apps.json');
  writeFileSync(file, JSON.stringify(apps));
  return file;
}

/**
 * A webhook receiver on 127.0.0.1 that checks each push's Standard Webhooks
 * signature with its `secret` (set it once keygen made it), through the
 * standardwebhooks package, and keeps what it got: { url, received, secret, close }.
 */
export async function startReceiver() {
  const received = [];
  const receiver = { url: '', received, secret: '', close: undefined };
  const server = createServer((request, response) => {
    const chunks = [];
    request.on('data', (c) => chunks.push(c));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let signed = true;
      try {
        new Webhook(receiver.secret).verify(body, request.headers);
      } catch {
        signed = false;
      }
      received.push({ path: request.url, id: request.headers['webhook-id'], signed, body, event: JSON.parse(body) });
      response.writeHead(signed ? 200 : 401).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  receiver.url = `http://127.0.0.1:${port}`;
  receiver.close = () => new Promise((resolve) => server.close(resolve));
  return receiver;
}

/** Polls `check` until it returns a value other than undefined (or throws after `ms`). */
export async function until(check, what, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The rows of simulate's pass/fail table as it prints them. */
export function tableRow(name, verdict, passed, count, reason) {
  return `  ${name.padEnd(24)} ${verdict}    ${passed}/${count}${reason ? `  ${reason}` : ''}`;
}

/** The lines of simulate's table, between its header and the "N of M passed." line. */
export function tableOf(stdout) {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => /^ {2}callback +result {2}passed$/.test(l));
  if (start === -1) return undefined;
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end);
}

export const APP_ITEMS = [
  'verify', 'text', 'image', 'voice', 'location', 'subscribe', 'enter_agent', 'click', 'view', 'scancode_waitmsg',
  'create_user', 'update_user', 'delete_party', 'sys_approval_change', 'add_external_contact', 'template_card_event',
  'kf_msg_or_event', 'suite_ticket', 'resend',
];

/** What each app catalogue callback is, as an event's MsgType/Event/ChangeType (or InfoType). */
export const APP_EVENT_KINDS = {
  text: 'text',
  image: 'image',
  voice: 'voice',
  location: 'location',
  subscribe: 'event/subscribe',
  enter_agent: 'event/enter_agent',
  click: 'event/click',
  view: 'event/view',
  scancode_waitmsg: 'event/scancode_waitmsg',
  create_user: 'event/change_contact/create_user',
  update_user: 'event/change_contact/update_user',
  delete_party: 'event/change_contact/delete_party',
  sys_approval_change: 'event/sys_approval_change',
  add_external_contact: 'event/change_external_contact/add_external_contact',
  template_card_event: 'event/template_card_event',
  kf_msg_or_event: 'event/kf_msg_or_event',
  suite_ticket: 'suite_ticket',
};

/** The same, computed from an event JSON's `event`. */
export function kindOfEvent(e) {
  if (e.InfoType !== undefined) return e.InfoType;
  return [e.MsgType, e.Event, e.ChangeType].filter((x) => x !== undefined).join('/');
}

/**
 * A stand-in for the gateway's pull API on 127.0.0.1, for the edge cases the
 * real one does not produce on demand. `script` maps "pull", "ack" and "nack"
 * to the answers to give, in order: { status, body } (body a string, or a
 * value to JSON-encode), or "hang" (no answer until close). Once a list is
 * used up, pull answers that nothing is leased, and ack/nack settle every id.
 * Every request is kept in `requests` as { verb, authorization, body }.
 */
export async function startFakeQueue(script = {}) {
  const requests = [];
  const waiters = [];
  const lists = { pull: [...(script.pull ?? [])], ack: [...(script.ack ?? [])], nack: [...(script.nack ?? [])] };
  const server = createServer((request, response) => {
    const chunks = [];
    request.on('data', (c) => chunks.push(c));
    request.on('end', () => {
      const verb = /^\/queue\/[^/]+\/(pull|ack|nack)$/.exec(request.url)?.[1];
      const text = Buffer.concat(chunks).toString('utf8');
      requests.push({ verb, authorization: request.headers.authorization, body: text === '' ? undefined : JSON.parse(text) });
      for (const w of waiters.splice(0)) w();
      if (verb === undefined) return response.writeHead(404).end();
      let answer = lists[verb].shift();
      if (answer === 'hang') return;
      if (answer === undefined) {
        const ids = JSON.parse(text || '{}').ids ?? [];
        if (verb === 'pull') answer = { status: 200, body: { events: [], lease: null, attempts: {} } };
        else if (verb === 'ack') answer = { status: 200, body: { acked: ids.length, notAcked: [] } };
        else answer = { status: 200, body: { released: ids.length, notReleased: [] } };
      }
      const body = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? '');
      response.writeHead(answer.status, { 'content-type': 'application/json' }).end(body);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    /** Resolves once `count` requests have come in. */
    received(count) {
      return new Promise((resolve) => {
        const check = () => (requests.length >= count ? resolve() : waiters.push(check));
        check();
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

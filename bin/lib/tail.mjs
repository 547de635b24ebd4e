// tail: a pull consumer for the terminal. Pulls an app's events as they
// arrive, prints each (its JSON exactly as the gateway stored it), and acks
// them under the pull's lease unless --no-ack.
import { setTimeout as sleep } from 'node:timers/promises';
import { appFromFile } from './apps-file.mjs';
import { appOption, integerOption, parseBaseUrl, parseCommand, UsageError } from './cli.mjs';
import { exchange, NetworkError, refusalOf } from './http.mjs';
import { arrayElementTexts } from './json-text.mjs';

export const TAIL_HELP = `Usage: wecom-edge tail <base-url> --app NAME (--token PULL_TOKEN | --apps FILE)
                      [--once] [--no-ack] [--json] [--max N] [--lease SECONDS] [--interval SECONDS]

Pulls the events of a pull app (one with "pull" in WECOM_APPS) as they arrive
and prints each: a header line (when it was received, its id, its MsgType and
Event), then its JSON exactly as the gateway keeps it. Each batch is acked
under its lease once printed, so the events leave the queue: tail is then the
app's consumer. With --no-ack nothing is acked and the leases simply run out,
so the events come back to the next pull (a way to look without taking).

  <base-url>          the gateway, e.g. https://wecom.example.com
  --app NAME          the app, as named in WECOM_APPS
  --token T           the app's pull.token
  --apps FILE         a WECOM_APPS JSON file instead: the app's pull.token

  --once              drain what is there now and exit (for scripts and tests)
  --no-ack            print only; never ack (leases expire, events come back)
  --json              one event JSON per line (NDJSON), nothing else on stdout
  --max N             events per pull, 1..100 (default 10)
  --lease SECONDS     how long a pull leases its events, 1..43200 (default 60)
  --interval SECONDS  how long to wait after an empty pull (default 2)
  --timeout MS        how long to wait for each answer (default 30000)
  -h, --help          show this help

Network failures and 5xx answers are retried with backoff (1 s doubling to
30 s) and reported on stderr; with --once, tail gives up after 3 attempts.
Ctrl-C stops it cleanly (a batch being printed is still acked).

Exit status: 0 when stopped or drained, 1 on a wrong token or an unreachable
gateway (--once), 2 on a usage error.
`;

const UNAUTHORIZED = 'the pull token is wrong, or the app is not a pull app';

export async function tail(argv, out) {
  const { values: o, positionals } = parseCommand(
    'tail',
    argv,
    {
      app: { type: 'string' },
      token: { type: 'string' },
      apps: { type: 'string' },
      once: { type: 'boolean' },
      'no-ack': { type: 'boolean' },
      json: { type: 'boolean' },
      max: { type: 'string' },
      lease: { type: 'string' },
      interval: { type: 'string' },
      timeout: { type: 'string' },
    },
    1,
  );
  if (o.help) {
    out.stdout(TAIL_HELP);
    return 0;
  }
  const base = parseBaseUrl(positionals[0], 'tail');
  const name = appOption('tail', o.app);
  const token = pullToken(o, name);
  const settings = {
    queueUrl: `${base}/queue/${name}`,
    token,
    once: o.once === true,
    ack: o['no-ack'] !== true,
    json: o.json === true,
    max: integerOption('tail', '--max', o.max, { min: 1, max: 100, fallback: 10 }),
    leaseSeconds: integerOption('tail', '--lease', o.lease, { min: 1, max: 43_200, fallback: 60 }),
    intervalMs: integerOption('tail', '--interval', o.interval, { min: 0, max: 3600, fallback: 2 }) * 1000,
    timeoutMs: integerOption('tail', '--timeout', o.timeout, { min: 100, max: 600_000, fallback: 30_000 }),
  };
  const stop = new AbortController();
  const onInterrupt = () => {
    if (stop.signal.aborted) process.exit(130); // a second Ctrl-C: now
    stop.abort();
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  try {
    return await consume(settings, out, stop.signal);
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
  }
}

function pullToken(o, name) {
  if (o.apps !== undefined) {
    if (o.token !== undefined) throw new UsageError('--apps and --token cannot be used together', 'tail');
    const token = appFromFile(o.apps, name, 'tail').pull?.token;
    if (typeof token !== 'string' || token === '') {
      throw new UsageError(`app ${JSON.stringify(name)} in ${o.apps} has no pull.token: tail reads pull apps (a webhook app's events are pushed)`, 'tail');
    }
    return token;
  }
  if (o.token === undefined || o.token === '') throw new UsageError("give the app's pull token with --token, or --apps FILE", 'tail');
  return o.token;
}

const GIVE_UP_ONCE = 3;
const backoffMs = (failures) => Math.min(30_000, 1000 * 2 ** (failures - 1));

async function consume(s, out, signal) {
  const headers = { authorization: `Bearer ${s.token}`, 'content-type': 'application/json', 'user-agent': 'wecom-edge tail' };
  let failures = 0;
  let printed = 0;
  const stopped = () => {
    const events = `${printed} event${printed === 1 ? '' : 's'}`;
    if (!s.json) out.stderr(signal.aborted ? `tail: stopped after ${events}\n` : `tail: drained, ${events}${s.ack ? ' printed and acked' : ' printed, none acked'}\n`);
    return 0;
  };
  while (!signal.aborted) {
    let problem;
    let answer;
    try {
      answer = await exchange(`${s.queueUrl}/pull`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ max: s.max, leaseSeconds: s.leaseSeconds }),
        timeoutMs: s.timeoutMs,
        signal,
      });
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      if (signal.aborted) break;
      problem = error.message;
    }
    if (answer !== undefined) {
      if (answer.status === 401) {
        out.stderr(`wecom-edge tail: ${UNAUTHORIZED} (401 from ${s.queueUrl}/pull)\n`);
        return 1;
      }
      if (answer.status >= 500) problem = `the gateway answered ${answer.status}${describe(answer.text)}`;
      else if (answer.status !== 200) {
        out.stderr(`wecom-edge tail: the gateway answered ${answer.status}${describe(answer.text)}\n`);
        return 1;
      }
    }
    if (problem !== undefined) {
      failures++;
      if (s.once && failures >= GIVE_UP_ONCE) {
        out.stderr(`wecom-edge tail: ${problem}; gave up after ${failures} attempts\n`);
        return 1;
      }
      const wait = backoffMs(failures);
      out.stderr(`tail: ${problem}; retrying in ${wait / 1000} s\n`);
      if (!(await pause(wait, signal))) break;
      continue;
    }
    if (failures > 0) out.stderr('tail: the gateway answers again\n');
    failures = 0;

    const batch = readBatch(answer.text);
    if (batch === undefined) {
      out.stderr(`wecom-edge tail: the pull answer is not the gateway's {"events", "lease", "attempts"}: ${JSON.stringify(answer.text.slice(0, 120))}\n`);
      return 1;
    }
    if (batch.events.length === 0) {
      if (s.once) break;
      if (!(await pause(s.intervalMs, signal))) break;
      continue;
    }
    for (const text of batch.events) {
      print(out, text, batch.attempts, s.json);
      printed++;
    }
    // Acked even after Ctrl-C: what was printed is done.
    if (s.ack) await ack(s, headers, batch, out);
  }
  return stopped();
}

function describe(text) {
  const refusal = refusalOf(text);
  return refusal ? ` ${refusal.code}: ${refusal.message}` : '';
}

/** Sleeps, unless stopped; false when stopped. */
async function pause(ms, signal) {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

function readBatch(text) {
  try {
    const events = arrayElementTexts(text, 'events');
    const parsed = JSON.parse(text);
    if (events === undefined) return undefined;
    return { events, lease: parsed.lease, attempts: parsed.attempts ?? {} };
  } catch {
    return undefined;
  }
}

function print(out, text, attempts, json) {
  let event;
  try {
    event = JSON.parse(text);
  } catch {
    event = {};
  }
  if (json) {
    // One line per event: a line break in stored JSON can only sit between tokens, where a space means the same.
    out.stdout(`${text.replace(/[\r\n]+/g, ' ')}\n`);
    return;
  }
  const delivery = attempts[event.id] > 1 ? `  (delivery ${attempts[event.id]})` : '';
  out.stdout(`${event.receivedAt ?? '?'}  ${event.id ?? '?'}  ${kindOf(event)}${delivery}\n${text}\n\n`);
}

/** What an event is, in WeCom's words: MsgType/Event[/ChangeType], InfoType, or a bot's msgtype[/eventtype]. */
export function kindOf(event) {
  const e = event.event ?? {};
  if (event.format === 'json') return [e.msgtype, e.event?.eventtype].filter((x) => typeof x === 'string').join('/') || 'json';
  const parts = e.InfoType !== undefined && e.MsgType === undefined ? [e.InfoType] : [e.MsgType, e.Event, e.ChangeType];
  return parts.filter((x) => typeof x === 'string' && x !== '').join('/') || 'xml';
}

async function ack(s, headers, batch, out) {
  const ids = batch.events.map((text) => JSON.parse(text).id);
  for (let attempt = 1; ; attempt++) {
    try {
      const answer = await exchange(`${s.queueUrl}/ack`, { method: 'POST', headers, body: JSON.stringify({ ids, lease: batch.lease }), timeoutMs: s.timeoutMs });
      if (answer.status !== 200) throw new NetworkError(`the gateway answered ${answer.status}${describe(answer.text)}`, 'answer');
      const result = JSON.parse(answer.text);
      for (const { id, reason } of result.notAcked ?? []) {
        out.stderr(`tail: ${id} was not acked (${reason}${reason === 'expired' ? ': the lease ran out, so it will be delivered again; try a longer --lease' : ''})\n`);
      }
      return;
    } catch (error) {
      if (!(error instanceof NetworkError) || attempt === 3) {
        out.stderr(`tail: could not ack ${ids.length} event${ids.length === 1 ? '' : 's'} (${error.message}); they come back when the lease runs out\n`);
        return;
      }
      out.stderr(`tail: ack failed (${error.message}); retrying\n`);
      await sleep(backoffMs(attempt));
    }
  }
}

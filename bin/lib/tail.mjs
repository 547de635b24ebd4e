// tail: a pull consumer for the terminal. Takes the events of an app's pull
// destination (`default`, or --destination NAME) as they arrive (over the
// WebSocket feed when following, else by long-poll pulls), prints each
// (its JSON exactly as the gateway stored it, or what the destination's
// transform made of it), and acks them under the pull's lease, by the ids of
// the pull answer; with --once --no-ack it looks, then releases every lease
// at once.
import { setTimeout as sleep } from 'node:timers/promises';
import { appSettings } from './apps-file.mjs';
import { appOption, integerOption, parseBaseUrl, parseCommand, UsageError } from './cli.mjs';
import { exchange, NetworkError, refusalOf } from './http.mjs';
import { arrayElementTexts } from './json-text.mjs';
import { oneLine, terminalOutput } from './terminal.mjs';

export const TAIL_HELP = `Usage: wecom-edge tail <base-url> --app NAME [--config FILE] [--secrets FILE]
                      [--apps FILE | --token PULL_TOKEN] [--destination NAME]
                      [--once [--no-ack]] [--json] [--raw] [--max N] [--lease SECONDS]
                      [--interval SECONDS] [--timeout MS]

Takes the events of a pull app (one with "pull" in WECOM_APPS) as they arrive
and prints each: a header line (when it was received, its id, its MsgType and
Event), then its JSON exactly as the gateway keeps it. Each is acked once
printed, so the events leave the queue: tail is then the app's consumer, and
competes with any other (use a test app, or run it while the real consumer
does not). Following, it holds the WebSocket feed open (docs/feed.md) and gets
each event the moment it is committed; where no socket can be opened (a proxy
that refuses WebSockets, a Node without WebSocket), it says so once and
long-polls instead. --once pulls.

With --destination NAME it pulls that pull destination of the app
(/queue/{app}/{NAME}/pull, with destinations.NAME.pull.token) instead of the
default one (/queue/{app}/pull: the app's top-level pull). A destination
with a transform hands out what the transform made: tail prints it as it
came, under a header with the event's id from the pull answer's "ids", and
acks by those ids.

With --once --no-ack it only looks: it pulls until nothing more is leased,
prints, then releases every lease at once (nack, delaySeconds 0), so the
consumer gets the events right away. Each look still counts one delivery
toward the app's pull.maxAttempts (default 20), after which an event becomes
a dead letter. --no-ack without --once is refused.

  <base-url>          the gateway, e.g. https://wecom.example.com
  --app NAME          the app, as named in wecom-edge.config.json (or WECOM_APPS)
  --destination NAME  one of the app's pull destinations (default: default, the
                      app's top-level pull; names are [a-z0-9_-], 1-32)
  --config FILE       the configuration file its pull.token comes from (default
                      wecom-edge.config.json), a {"secret": "NAME"} reference
                      resolved from --secrets: the app's pull.token, or with
                      --destination NAME, destinations.NAME.pull.token
  --secrets FILE      the secret values: a JSON object of name → value (a name
                      ending in .json) or a dotenv file (default .dev.vars when
                      <base-url> is 127.0.0.1, localhost or [::1], else
                      secrets/secrets.json)
  --apps FILE         a WECOM_APPS JSON file: the app's pull.token (or
                      destinations.NAME.pull.token; keep it chmod 600: a
                      token on the command line shows in ps)
  --token T           that pull.token on the command line instead

  --once              drain what is there now and exit (for scripts and tests)
  --no-ack            with --once: look without taking (see above)
  --json              one event JSON per line (NDJSON), nothing else on stdout
  --raw               write what came from the gateway as it is, also to a
                      terminal (see "Terminal safety")
  --max N             events per pull, 1..100 (default 10)
  --lease SECONDS     how long a pull leases its events, 1..43200 (default 60)
  --interval SECONDS  how long to wait after an empty pull that did not wait at
                      the gateway (one before long-poll; default 2)
  --timeout MS        how long to wait for each answer (default 30000)
  -h, --help          show this help

Network failures and 5xx answers are retried with backoff (1 s doubling to
30 s) and reported on stderr; with --once, tail gives up after 3 attempts.
An ack or release is retried likewise, up to 3 attempts; any other answer to
it is reported at once. Ctrl-C stops it cleanly (a batch being printed is
still acked; with --no-ack, what was looked at is released).

Terminal safety: when stdout is a terminal, control characters (C0 but the
line breaks and tabs of tail's own layout, DEL, C1 U+0080-U+009F) and bidi
overrides (U+202A-U+202E, U+2066-U+2069) in the events are shown as escapes
such as \\u009b, which keep the JSON the same JSON; into a pipe or a file,
stdout is each event's bytes exactly as the gateway stored it. stderr (the
gateway's messages, ids, reasons) is escaped always. --raw writes the events
as they are, also to a terminal; a field inside one line (the header's id,
time and kind, an id, a reason, a message) stays escaped even then.
Set WECOM_EDGE_TTY=1 to escape stdout into a pipe too (e.g. through tee).

Exit status: 0 when stopped or drained, 1 on a wrong token or an unreachable
gateway (--once), 2 on a usage error.
`;

const DEFAULT_DESTINATION = 'default';
/** A destination's name, as the configuration takes it (src/config/destinations.ts). */
const DESTINATION_NAME = /^[a-z0-9_-]{1,32}$/;

/** What a 401 means: the gateway does not tell a wrong token from a name that pulls nothing. */
const unauthorized = (destination) =>
  destination === DEFAULT_DESTINATION
    ? 'the pull token is wrong, or the app is not a pull app'
    : `the pull token is wrong, or the app has no pull destination ${JSON.stringify(destination)}`;

export async function tail(argv, out) {
  const { values: o, positionals } = parseCommand(
    'tail',
    argv,
    {
      app: { type: 'string' },
      destination: { type: 'string' },
      token: { type: 'string' },
      apps: { type: 'string' },
      config: { type: 'string' },
      secrets: { type: 'string' },
      once: { type: 'boolean' },
      'no-ack': { type: 'boolean' },
      json: { type: 'boolean' },
      raw: { type: 'boolean' },
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
  const destination = destinationOption(o.destination);
  const token = pullToken(o, name, base, destination);
  if (o['no-ack'] && !o.once) {
    throw new UsageError(
      '--no-ack needs --once: every pull leases the events it shows and counts one delivery toward pull.maxAttempts (default 20), ' +
        'so following without acking would lease the same events again every --lease seconds until they became dead letters. ' +
        'Use --once --no-ack to look once (the events are then released to the consumer at once)',
      'tail',
    );
  }
  const settings = {
    // The default destination keeps its path of before destinations: /queue/{app}/pull.
    queueUrl: destination === DEFAULT_DESTINATION ? `${base}/queue/${name}` : `${base}/queue/${name}/${destination}`,
    unauthorized: unauthorized(destination),
    token,
    once: o.once === true,
    ack: o['no-ack'] !== true,
    json: o.json === true,
    max: integerOption('tail', '--max', o.max, { min: 1, max: 100, fallback: 10 }),
    leaseSeconds: integerOption('tail', '--lease', o.lease, { min: 1, max: 43_200, fallback: 60 }),
    intervalMs: integerOption('tail', '--interval', o.interval, { min: 0, max: 3600, fallback: 2 }) * 1000,
    timeoutMs: integerOption('tail', '--timeout', o.timeout, { min: 100, max: 600_000, fallback: 30_000 }),
  };
  const io = terminalOutput(out, { stdout: 'terminal', raw: o.raw === true });
  const stop = new AbortController();
  const onInterrupt = () => {
    if (stop.signal.aborted) process.exit(130); // a second Ctrl-C: now
    stop.abort();
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  try {
    return await consume(settings, io, stop.signal);
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
  }
}

function destinationOption(value) {
  if (value === undefined) return DEFAULT_DESTINATION;
  if (!DESTINATION_NAME.test(value)) {
    throw new UsageError(`--destination must be a destination's name: 1-32 of a-z, 0-9, _ and -, got ${JSON.stringify(value.slice(0, 64))}`, 'tail');
  }
  return value;
}

const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The pull token of the app's destination: --token, or from the app's entry
 * (--apps, or --config with --secrets). The default destination's is the
 * app's top-level pull.token, or destinations.default.pull.token for an app
 * that names it among its destinations; another's, destinations.NAME.pull.token.
 */
function pullToken(o, name, base, destination) {
  if (o.apps !== undefined || o.config !== undefined || o.secrets !== undefined || o.token === undefined) {
    if (o.token !== undefined) throw new UsageError('--apps/--config/--secrets and --token cannot be used together', 'tail');
    const path = `destinations.${destination}.pull.token`;
    const named = destination !== DEFAULT_DESTINATION;
    const { entry, where } = appSettings(o, name, 'tail', base, named ? [path] : ['pull.token', path]);
    const destinations = isObject(entry.destinations) ? entry.destinations : undefined;
    if (!named && (destinations === undefined || entry.pull !== undefined)) {
      const token = entry.pull?.token;
      if (typeof token !== 'string' || token === '') {
        throw new UsageError(`${where} has no pull.token: tail reads pull apps (a webhook app's events are pushed)`, 'tail');
      }
      return token;
    }
    if (!named && !Object.hasOwn(destinations, destination)) {
      throw new UsageError(`${where} has no pull.token: its events go to its destinations (${Object.keys(destinations).join(', ') || 'none'}); give --destination NAME`, 'tail');
    }
    if (destinations === undefined || !Object.hasOwn(destinations, destination)) {
      const has = destinations === undefined ? 'it has no destinations' : `it has: ${Object.keys(destinations).join(', ') || 'none'}`;
      throw new UsageError(`${where} has no destination ${JSON.stringify(destination)} (${has})`, 'tail');
    }
    const token = destinations[destination]?.pull?.token;
    if (typeof token !== 'string' || token === '') {
      const pushes = isObject(destinations[destination]) && destinations[destination].webhook !== undefined;
      throw new UsageError(`${where} has no ${path}: tail reads pull destinations${pushes ? ` (destination ${JSON.stringify(destination)} pushes to a webhook)` : ''}`, 'tail');
    }
    return token;
  }
  if (o.token === '') throw new UsageError("--token is empty: give the destination's pull token, or leave --token out to read it from wecom-edge.config.json", 'tail');
  return o.token;
}

const GIVE_UP_ONCE = 3;
/** How long a following pull waits at the gateway for an event (its maximum is 25). */
const LONG_POLL_SECONDS = 20;
/** followSocket's answer when no socket could be opened. */
const FALLBACK = Symbol('fallback');
/** The socket said the app has several shards (docs/sharding.md): one socket reads only one, a long-poll reads them all. */
const SHARDED = Symbol('sharded');
const SETTLE_ATTEMPTS = 3;
const backoffMs = (failures) => Math.min(30_000, 1000 * 2 ** (failures - 1));
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

async function consume(s, out, signal) {
  const headers = { authorization: `Bearer ${s.token}`, 'content-type': 'application/json', 'user-agent': 'wecom-edge tail' };
  const tally = { printed: 0, settled: 0 };
  if (s.ack && !s.once) {
    const code = await followSocket(s, out, signal, tally);
    if (code === SHARDED) out.stderr('tail: the app is sharded; long-polling, which reads every shard\n');
    else if (code !== FALLBACK) return code ?? stopped(s, out, signal, tally, 'acked');
    else out.stderr('tail: the WebSocket feed could not be opened; long-polling instead\n');
  }
  if (s.ack) {
    const code = await pullLoop(s, headers, out, signal, tally, (batch) => settle(s, headers, 'ack', batch, out));
    return code ?? stopped(s, out, signal, tally, 'acked');
  }
  // --no-ack: every lease is kept until nothing more is leased, so no event is seen twice, then all are released.
  out.stderr(`tail: warning: --no-ack still leases what it shows, and each look counts one delivery toward pull.maxAttempts (default 20); the events are released to the consumer at once\n`);
  const held = [];
  let code;
  let failure;
  try {
    code = await pullLoop(s, headers, out, signal, tally, (batch) => {
      held.push(batch);
      return 0;
    });
  } catch (error) {
    failure = error;
  }
  // Also after Ctrl-C, or a failed pull: the consumer should not wait for the leases to run out.
  for (const batch of held) {
    const released = await settle(s, headers, 'nack', batch, out);
    if (released === undefined) return 1;
    tally.settled += released;
  }
  if (failure !== undefined) throw failure;
  return code ?? stopped(s, out, signal, tally, 'released');
}

function stopped(s, out, signal, { printed, settled }, verb) {
  if (s.json) return 0;
  const events = plural(printed, 'event');
  if (signal.aborted) out.stderr(`tail: stopped after ${events}${s.ack ? '' : `, ${settled} released`}\n`);
  else out.stderr(`tail: drained, ${events} printed${settled === printed ? ` and ${verb}` : `, ${settled} ${verb}`}\n`);
  return 0;
}

/**
 * Pulls until stopped (or, with --once, until a pull leases nothing), printing
 * each batch and handing it to `onBatch`, which returns how many it settled,
 * or undefined when tail must stop (a 401). Returns an exit code when tail
 * must stop now, or undefined.
 */
async function pullLoop(s, headers, out, signal, tally, onBatch) {
  let failures = 0;
  let firstLease;
  while (!signal.aborted) {
    if (!s.ack && firstLease !== undefined && performance.now() - firstLease > s.leaseSeconds * 500) {
      out.stderr(`tail: stopped looking after ${plural(tally.printed, 'event')}: half of the first pull's --lease ${s.leaseSeconds} is gone, and an event whose lease runs out would be shown again; use a longer --lease\n`);
      return undefined;
    }
    let problem;
    let answer;
    let asked;
    try {
      asked = performance.now();
      answer = await exchange(`${s.queueUrl}/pull`, {
        method: 'POST',
        headers,
        // Following, a pull with nothing to lease waits at the gateway for the next event (long-poll).
        body: JSON.stringify(s.once ? { max: s.max, leaseSeconds: s.leaseSeconds } : { max: s.max, leaseSeconds: s.leaseSeconds, waitSeconds: LONG_POLL_SECONDS }),
        timeoutMs: s.once ? s.timeoutMs : Math.max(s.timeoutMs, (LONG_POLL_SECONDS + 10) * 1000),
        signal,
      });
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      if (signal.aborted) break;
      problem = error.message;
    }
    if (answer !== undefined) {
      if (answer.status === 401) {
        out.stderr(`wecom-edge tail: ${s.unauthorized} (401 from ${s.queueUrl}/pull)\n`);
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
      out.stderr(`wecom-edge tail: the pull answer is not the gateway's {"events", "ids", "lease", "attempts"}: ${JSON.stringify(answer.text.slice(0, 120))}\n`);
      return 1;
    }
    if (batch.events.length === 0) {
      if (s.once) break;
      // An empty answer that waited at the gateway is the long-poll's end: ask again at once.
      if (performance.now() - asked < 1000 && !(await pause(s.intervalMs, signal))) break;
      continue;
    }
    firstLease ??= performance.now();
    const ids = [];
    for (const [i, text] of batch.events.entries()) {
      // The answer's ids, when it has them (a transformed item need not carry its event's id); else the event's own.
      const event = print(out, text, batch.attempts, s.json, batch.ids?.[i]);
      tally.printed++;
      const id = batch.ids?.[i] ?? event?.id;
      if (typeof id === 'string' && id !== '') ids.push(id);
      else out.stderr(`tail: an event without an "id" (not the gateway's event JSON) was printed as it came, and is not ${s.ack ? 'acked' : 'released'}\n`);
    }
    if (ids.length === 0) continue;
    // Settled even after Ctrl-C: what was printed is done.
    const settled = await onBatch({ ids, lease: batch.lease });
    if (settled === undefined) return 1;
    tally.settled += settled;
  }
  return undefined;
}

/**
 * Follows over the WebSocket feed (docs/feed.md): credit --max, each event
 * printed and acked on arrival, the ack giving a credit back for it. A socket
 * that closes is opened again with backoff. Answers FALLBACK when none could
 * be opened at all (then the pulls say why, a 401 included), or undefined when stopped.
 */
async function followSocket(s, out, signal, tally) {
  if (typeof WebSocket !== 'function') return FALLBACK;
  let failures = 0;
  let everOpened = false;
  while (!signal.aborted) {
    const { opened, code, sharded } = await new Promise((resolve) => {
      const ws = new WebSocket(`${s.queueUrl.replace(/^http/, 'ws')}/ws?leaseSeconds=${s.leaseSeconds}`, {
        headers: { authorization: `Bearer ${s.token}`, 'user-agent': 'wecom-edge tail' },
      });
      let open = false;
      let ended = false;
      let sharded = false;
      const end = (code) => {
        if (ended) return;
        ended = true;
        signal.removeEventListener('abort', onAbort);
        resolve({ opened: open, code, sharded });
      };
      const onAbort = () => ws.close(1000, 'stopped');
      signal.addEventListener('abort', onAbort, { once: true });
      ws.addEventListener('open', () => {
        open = true;
        ws.send(JSON.stringify({ type: 'credit', n: s.max }));
      });
      ws.addEventListener('message', (message) => {
        const data = String(message.data);
        let frame;
        try {
          frame = JSON.parse(data);
        } catch {
          return;
        }
        if (frame?.type === 'shards' && Array.isArray(frame.shards) && frame.shards.length > 1) {
          sharded = true;
          ws.close(1000, 'sharded');
        } else if (frame?.type === 'event' && typeof frame.id === 'string') {
          // The event's text exactly as the gateway spliced it in: `…"event":<text>}`.
          const at = data.indexOf(',"event":');
          print(out, at === -1 ? JSON.stringify(frame.event) : data.slice(at + ',"event":'.length, -1), { [frame.id]: frame.attempts }, s.json, frame.id);
          tally.printed++;
          ws.send(JSON.stringify({ type: 'ack', ids: [frame.id], credit: 1 }));
        } else if (frame?.type === 'acked') {
          tally.settled += reportSettled(frame, 'ack', out) ?? 0;
        }
      });
      // Node's WebSocket fires no close after a refused handshake: the error ends it then.
      ws.addEventListener('error', () => !open && end(1006));
      ws.addEventListener('close', (event) => end(event.code));
    });
    if (signal.aborted) return undefined;
    if (sharded) return SHARDED;
    if (!opened && !everOpened) return FALLBACK;
    everOpened ||= opened;
    failures = opened ? 1 : failures + 1;
    const wait = backoffMs(failures);
    out.stderr(`tail: the feed closed (${code}); reconnecting in ${wait / 1000} s\n`);
    if (!(await pause(wait, signal))) return undefined;
  }
  return undefined;
}

function describe(text) {
  const refusal = refusalOf(text);
  return refusal ? ` ${oneLine(refusal.code)}: ${oneLine(refusal.message)}` : '';
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
    if (events.length > 0 && typeof parsed.lease !== 'string') return undefined;
    const attempts = parsed.attempts !== null && typeof parsed.attempts === 'object' ? parsed.attempts : {};
    // `ids`, parallel to `events` (gateways before destinations leave it out; then each event's own id is used).
    if (parsed.ids !== undefined && !(Array.isArray(parsed.ids) && parsed.ids.length === events.length && parsed.ids.every((id) => typeof id === 'string'))) return undefined;
    return { events, ids: parsed.ids, lease: parsed.lease, attempts };
  } catch {
    return undefined;
  }
}

/**
 * Prints one event; returns its parse when it is a JSON object, else
 * undefined. `id`: the event's id from the pull answer's `ids`, if any. An
 * item that is not that event's JSON (a transform's result) is headed by
 * that id, "?" for when it was received, and "transformed".
 */
function print(out, text, attempts, json, id) {
  let event;
  try {
    const parsed = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) event = parsed;
  } catch {}
  // One line per event: a line break in stored JSON can only sit between tokens, where a space means the same.
  // (The gateway stores compact JSON, so its events keep every byte.)
  const line = text.replace(/[\r\n]+/g, ' ');
  if (json) {
    out.stdout(`${line}\n`);
    return event;
  }
  const e = event ?? {};
  const own = id === undefined || (e.id === id && isObject(e.event));
  const key = id ?? e.id;
  const delivery = typeof key === 'string' && attempts[key] > 1 ? `  (delivery ${oneLine(attempts[key])})` : '';
  const header = own ? [e.receivedAt ?? '?', e.id ?? '?', kindOf(e)] : ['?', id, 'transformed'];
  // The header's fields are the event's own, so each is kept to its line.
  out.stdout(`${header.map(oneLine).join('  ')}${delivery}\n${line}\n\n`);
  return event;
}

/** What an event is, in WeCom's words: MsgType/Event[/ChangeType], InfoType, or a bot's msgtype[/eventtype]. */
export function kindOf(event) {
  const e = event.event ?? {};
  if (event.format === 'json') return [e.msgtype, e.event?.eventtype].filter((x) => typeof x === 'string').join('/') || 'json';
  const parts = e.InfoType !== undefined && e.MsgType === undefined ? [e.InfoType] : [e.MsgType, e.Event, e.ChangeType];
  return parts.filter((x) => typeof x === 'string' && x !== '').join('/') || 'xml';
}

/**
 * Acks (`verb` "ack") or releases at once ("nack") one batch under its lease.
 * Network failures and 5xx answers are retried, up to 3 attempts; any other
 * answer is final. Returns how many the gateway acked or released (0 when it
 * failed, reported on stderr), or undefined on a 401 (reported).
 */
async function settle(s, headers, verb, { ids, lease }, out) {
  const url = `${s.queueUrl}/${verb}`;
  const body = JSON.stringify(verb === 'ack' ? { ids, lease } : { ids, lease, delaySeconds: 0 });
  const failed = (problem) => {
    out.stderr(`tail: could not ${verb === 'ack' ? 'ack' : 'release'} ${plural(ids.length, 'event')} (${problem}); they come back when the lease runs out\n`);
    return 0;
  };
  for (let attempt = 1; ; attempt++) {
    let problem;
    try {
      const answer = await exchange(url, { method: 'POST', headers, body, timeoutMs: s.timeoutMs });
      if (answer.status === 401) {
        out.stderr(`wecom-edge tail: ${s.unauthorized} (401 from ${url})\n`);
        return undefined;
      }
      problem = `the gateway answered ${answer.status}${describe(answer.text)}`;
      if (answer.status === 200) return settled(answer.text, verb, out) ?? failed(`its answer is not the gateway's: ${JSON.stringify(answer.text.slice(0, 120))}`);
      if (answer.status < 500) return failed(problem);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      problem = error.message;
    }
    if (attempt === SETTLE_ATTEMPTS) return failed(`${problem}; gave up after ${attempt} attempts`);
    const wait = backoffMs(attempt);
    out.stderr(`tail: ${verb} failed (${problem}); retrying in ${wait / 1000} s\n`);
    await sleep(wait);
  }
}

/** The count of a 200 answer to ack or nack, each id it left reported on stderr; undefined when the answer is not the gateway's. */
function settled(text, verb, out) {
  let result;
  try {
    result = JSON.parse(text);
  } catch {
    return undefined;
  }
  return reportSettled(result, verb, out);
}

/** The count of an ack or nack answer (of the pull API, or a socket's acked frame), each id it left reported on stderr; undefined when it is not the gateway's. */
function reportSettled(result, verb, out) {
  const count = verb === 'ack' ? result?.acked : result?.released;
  const left = verb === 'ack' ? result?.notAcked : result?.notReleased;
  if (typeof count !== 'number' || !Array.isArray(left)) return undefined;
  for (const entry of left) {
    const id = oneLine(entry?.id);
    const { reason } = entry ?? {};
    if (verb === 'ack') {
      out.stderr(`tail: ${id} was not acked (${oneLine(reason)}${reason === 'expired' ? ': the lease ran out, so it will be delivered again; try a longer --lease' : ''})\n`);
    } else {
      out.stderr(`tail: ${id} was not released (${oneLine(reason)}${reason === 'expired' ? ': the lease had run out already, so it is due again anyway' : ''})\n`);
    }
  }
  return count;
}

// simulate: plays WeCom against a deployment: the URL verification, then a
// catalogue of realistic callbacks, each sealed as WeCom seals it; every
// answer is checked (passive replies verified and decrypted), and a pass/fail
// table ends it. --repeat and --concurrency make it a small load tool.
import { randomBytes, randomInt } from 'node:crypto';
import { appSettings } from './apps-file.mjs';
import { APP_CATALOGUE, BOT_CATALOGUE, newAibotId, newCorpId, SIMULATE_USER, SUITE_CATALOGUE } from './catalogue.mjs';
import { appOption, integerOption, parseBaseUrl, parseCommand, UsageError } from './cli.mjs';
import { configHint, exchange, NetworkError, refusalOf } from './http.mjs';
import { oneLine, terminalOutput } from './terminal.mjs';
import { ENCODING_AES_KEY } from './wxcrypt.mjs';
import { openReply, sealCallback, verificationUrl, xmlText } from './wecom-side.mjs';

/** A suite id, template id or corpid as the gateway takes them (src/config.ts). */
const WECOM_ID = /^[A-Za-z0-9_-]{1,64}$/;

const names = (catalogue) => catalogue.map((item) => item.name).join(', ');

export const SIMULATE_HELP = `Usage: wecom-edge simulate <base-url> --app NAME [--config FILE] [--secrets FILE]
                          [--apps FILE | --token T --key K (--receive-id ID | --bot)]
                          [--agent-id ID] [--only NAME,…] [--repeat N] [--concurrency N]
                          [--timeout MS] [--json] [--quiet] [--raw]

Plays WeCom against a gateway (local or deployed): the URL verification GET,
then a catalogue of realistic callbacks, each encrypted and signed as WeCom
does, and a resend of the first one, which the gateway must recognise. Prints
each answer (passive replies are verified and decrypted) and ends with a
pass/fail table. The events are real to the gateway: they reach the app's
webhook or queue like WeCom's own, from a FromUserName "${SIMULATE_USER}-…".

  <base-url>          the gateway, e.g. https://wecom.example.com or
                      http://127.0.0.1:8787 (callbacks go to /callback/NAME)
  --app NAME          the app, as named in wecom-edge.config.json (or WECOM_APPS)

The app's settings, by default from wecom-edge.config.json, its
{"secret": "NAME"} references resolved from .dev.vars when <base-url> is on
this machine (127.0.0.1, localhost, [::1]), else from secrets/secrets.json:
  --config FILE       the configuration file (default wecom-edge.config.json)
  --secrets FILE      the secret values: a JSON object of name → value (a
                      name ending in .json) or a dotenv file such as .dev.vars
  --apps FILE         a WECOM_APPS JSON file: the app's token, encodingAESKey
                      and receiveId (the first of a list; a placeholder corp id
                      for "*"); an app with "bot" is an AI bot, one with
                      "suite" a third-party suite (see below). Keep it
                      chmod 600: secrets on the command line show in ps
  --token T           the callback Token
  --key K             the EncodingAESKey (43 characters)
  --receive-id ID     the receiveId to encrypt for (your corpid, a suite id…)
  --bot               the app is an AI bot (JSON callbacks, receiveId "")
  --agent-id ID       the AgentID the app's callbacks carry (default 1000002)

What to send:
  --only NAME,…       only these catalogue items, in catalogue order. Apps:
                      ${names(APP_CATALOGUE)}
                      AI bots: ${names(BOT_CATALOGUE)}
                      Suites: ${names(SUITE_CATALOGUE)}
  --repeat N          run the selection N times, each with fresh values
                      (default 1, at most 100000)
  --concurrency N     up to N requests at once (default 1)
  --timeout MS        how long to wait for each answer (default 5000, WeCom's limit)

Output:
  --json              one JSON object with every result and the latency summary
                      (with an "error" instead when the gateway cannot be reached)
  --quiet             no line per callback: only the table (and the summary)
  --raw               write what came from the gateway as it is (see below)
  -h, --help          show this help

A suite (an app with "suite": a third-party suite or a 代开发 template) has
two URLs, and simulate plays both: the verification of each, for the
provider's corpid (suite.providerCorpId); on the instruction URL
/callback/NAME, for the suite id (suite.suiteId), a suite_ticket,
create_auth, change_auth and cancel_auth, each to be answered exactly
"success"; on the data URL /callback/NAME/data, a callback from each of two
made-up corps (wpsimA…, wpsimB…, fresh on each run), each encrypted for
its corp; then the first callback again (the suite_ticket). A line shows
the corp a callback is for ("corp wpsimA…", --json "corpId"), as the
gateway's event JSON has it. The suite's ticketToken is not needed.

A callback passes when the gateway answers 200 with "success" (XML), an empty
body (JSON), or a passive reply whose signature verifies with the Token and
that decrypts for the receiveId; the verification passes when the answer is
exactly the echostr's plaintext; the resend passes when the gateway answers it
as a duplicate of the same event (header wecom-edge-duplicate: 1).

When the gateway says which of the app's destinations a callback went to
(header wecom-edge-routed), the callback's line ends with "→ NAME, NAME" or
"→ (unrouted)", and --json gives "routed": [NAME, …]; a gateway older than
destinations does not say, and nothing is shown.

When the gateway answers 503 invalid_config or not_configured, its
configuration is at fault: simulate stops and says where the gateway names
the problem (GET /admin/apps, the admin page, wrangler's log) and to run
\`npx wecom-edge check-config\`.

Terminal safety: control characters (C0 but simulate's own line breaks and
tabs, DEL, C1 U+0080-U+009F) and bidi overrides (U+202A-U+202E,
U+2066-U+2069) in what came from the gateway (messages, ids, decrypted
replies) are shown as escapes such as \\u009b, on stdout and stderr, to a
terminal or not: this output is for reading (--json stays the same JSON).
--raw writes the decrypted replies and --json as they are; a message, id
or reason inside a result's line or the table stays escaped even then.

Exit status: 0 when everything passed, 1 when anything failed, the gateway
cannot be reached or its configuration is at fault, 2 on a usage error.
`;

/** --repeat beyond this is a usage error: every result is kept for the table and --json. */
const MAX_REPEAT = 100_000;

/** receiveId "*" accepts any: simulate then needs one to encrypt for. */
export const PLACEHOLDER_CORP_ID = 'ww0000000000000000';

export async function simulate(argv, out) {
  const { values: o, positionals } = parseCommand(
    'simulate',
    argv,
    {
      app: { type: 'string' },
      apps: { type: 'string' },
      config: { type: 'string' },
      secrets: { type: 'string' },
      token: { type: 'string' },
      key: { type: 'string' },
      'receive-id': { type: 'string' },
      bot: { type: 'boolean' },
      'agent-id': { type: 'string' },
      only: { type: 'string' },
      repeat: { type: 'string' },
      concurrency: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
      raw: { type: 'boolean' },
    },
    1,
  );
  if (o.help) {
    out.stdout(SIMULATE_HELP);
    return 0;
  }
  const base = parseBaseUrl(positionals[0], 'simulate');
  const name = appOption('simulate', o.app);
  const app = readSettings(o, name, base);
  const catalogue = app.suite ? SUITE_CATALOGUE : app.bot ? BOT_CATALOGUE : APP_CATALOGUE;
  const selected = selectItems(catalogue, o.only, app.suite ? 'suite' : app.bot ? 'AI-bot' : 'app');
  const agentId = o['agent-id'] ?? '1000002';
  if (!/^\d{1,10}$/.test(agentId)) throw new UsageError(`--agent-id must be the app's AgentID (digits), got ${JSON.stringify(agentId)}`, 'simulate');
  const plan = {
    base,
    callbackUrl: `${base}/callback/${name}`,
    // A suite's data URL, and the two corps its data callbacks come from.
    ...(app.suite ? { dataUrl: `${base}/callback/${name}/data`, corps: [newCorpId('A'), newCorpId('B')] } : {}),
    name,
    app,
    agentId,
    selected,
    repeat: integerOption('simulate', '--repeat', o.repeat, { min: 1, max: MAX_REPEAT, fallback: 1 }),
    concurrency: integerOption('simulate', '--concurrency', o.concurrency, { min: 1, max: 1000, fallback: 1 }),
    timeoutMs: integerOption('simulate', '--timeout', o.timeout, { min: 100, max: 600_000, fallback: 5000 }),
  };
  const io = terminalOutput(out, { stdout: 'always', raw: o.raw === true });
  const view = o.json ? jsonView(io, plan) : textView(io, plan, { quiet: o.quiet === true });
  for (const note of app.notes) io.stderr(`note: ${note}\n`);
  return run(plan, view, io);
}

// ------------------------------------------------------------- inputs ----

function readSettings(o, name, base) {
  const notes = [];
  let token;
  let encodingAESKey;
  let accepted;
  let bot;
  let suite;
  const onCommandLine = o.token !== undefined || o.key !== undefined || o['receive-id'] !== undefined || o.bot;
  if (o.apps !== undefined || o.config !== undefined || o.secrets !== undefined || !onCommandLine) {
    if (onCommandLine) {
      throw new UsageError('--apps/--config/--secrets cannot be combined with --token/--key/--receive-id/--bot: the file has them', 'simulate');
    }
    const { entry, where } = appSettings(o, name, 'simulate', base, ['token', 'encodingAESKey']);
    ({ token, encodingAESKey, receiveId: accepted } = entry);
    bot = entry.bot !== undefined && entry.bot !== null;
    if (typeof token !== 'string' || token === '') throw new UsageError(`${where} has no token`, 'simulate');
    if (typeof encodingAESKey !== 'string' || !ENCODING_AES_KEY.test(encodingAESKey)) {
      throw new UsageError(`${where} has no valid encodingAESKey (43 characters of A-Z a-z 0-9 + /)`, 'simulate');
    }
    if (entry.suite !== undefined) {
      suite = suiteOf(entry, where);
      return { token, encodingAESKey, receiveId: suite.suiteId, bot: false, suite, notes };
    }
    if (!(typeof accepted === 'string' || (Array.isArray(accepted) && accepted.length > 0 && accepted.every((x) => typeof x === 'string')))) {
      throw new UsageError(`${where} has no valid receiveId (a string, a list of strings, or "*")`, 'simulate');
    }
  } else {
    if (o.token === undefined || o.key === undefined) {
      throw new UsageError("give the app's settings with --token and --key (and --receive-id, or --bot), or none of these four to read them from wecom-edge.config.json", 'simulate');
    }
    ({ token, key: encodingAESKey } = o);
    if (token === '') throw new UsageError('--token is empty', 'simulate');
    if (!ENCODING_AES_KEY.test(encodingAESKey)) {
      throw new UsageError(`--key must be the 43-character EncodingAESKey (A-Z a-z 0-9 + /), got ${encodingAESKey.length} characters`, 'simulate');
    }
    bot = o.bot === true;
    if (!bot && o['receive-id'] === undefined) throw new UsageError('give --receive-id (your corpid, ww…), or --bot for an AI bot', 'simulate');
    accepted = o['receive-id'] ?? '';
  }
  let receiveId;
  if (bot) {
    // An AI bot's callbacks carry the empty receiveId, whatever the app accepts (docs/configuration.md, "Which receiveId").
    receiveId = '';
    const list = Array.isArray(accepted) ? accepted : [accepted];
    if (!list.includes('') && !list.includes('*')) notes.push(`an AI bot's callbacks carry receiveId "", which this app does not accept: expect -40005`);
  } else if (Array.isArray(accepted)) {
    receiveId = accepted[0] === '*' ? PLACEHOLDER_CORP_ID : accepted[0];
    if (accepted.length > 1) notes.push(`receiveId lists ${accepted.length}; callbacks are encrypted for the first, ${JSON.stringify(receiveId)}`);
  } else receiveId = accepted === '*' ? PLACEHOLDER_CORP_ID : accepted;
  if (receiveId === PLACEHOLDER_CORP_ID) notes.push(`receiveId "*" accepts any: callbacks are encrypted for the placeholder corp id ${PLACEHOLDER_CORP_ID}`);
  return { token, encodingAESKey, receiveId, bot, notes };
}

/** The entry's suite: { suiteId, providerCorpId }, as the gateway would take it (src/config.ts), or a UsageError. */
function suiteOf(entry, where) {
  const { suite } = entry;
  if (suite === null || typeof suite !== 'object' || Array.isArray(suite)) {
    throw new UsageError(`${where} has a "suite" that is not an object: {"suiteId", "providerCorpId", "ticketToken"}`, 'simulate');
  }
  for (const [key, what] of [['suiteId', "the suite's SuiteID or a 代开发 template's id"], ['providerCorpId', "the provider's own CorpID"]]) {
    if (typeof suite[key] !== 'string' || !WECOM_ID.test(suite[key])) {
      throw new UsageError(`${where} has no valid suite.${key}: ${what}, 1-64 letters, digits, _ or -`, 'simulate');
    }
  }
  for (const key of ['receiveId', 'bot']) {
    if (entry[key] !== undefined) {
      throw new UsageError(`${where} has both "suite" and "${key}", which the gateway refuses: a suite's two URLs take the receiveIds suite.suiteId and suite.providerCorpId give`, 'simulate');
    }
  }
  return { suiteId: suite.suiteId, providerCorpId: suite.providerCorpId };
}

function selectItems(catalogue, only, which) {
  if (only === undefined) return catalogue;
  const wanted = only.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (wanted.length === 0) throw new UsageError('--only needs at least one name', 'simulate');
  const unknown = wanted.filter((w) => !catalogue.some((item) => item.name === w));
  if (unknown.length > 0) {
    throw new UsageError(`unknown --only ${unknown.length === 1 ? 'name' : 'names'} ${unknown.map((u) => JSON.stringify(u)).join(', ')}; the ${which} catalogue has: ${names(catalogue)}`, 'simulate');
  }
  const selected = catalogue.filter((item) => wanted.includes(item.name));
  if (selected.some((i) => i.kind === 'resend') && !selected.some((i) => i.kind === 'callback')) {
    throw new UsageError('resend sends the first callback of the run again: choose one with it, e.g. --only text,resend', 'simulate');
  }
  if (selected.some((i) => i.kind === 'refresh') && !selected.some((i) => i.name === 'text')) {
    throw new UsageError('stream refreshes the stream that text opens: use --only text,stream', 'simulate');
  }
  return selected;
}

// ---------------------------------------------------------------- run ----

async function run(plan, view, out) {
  const runStart = Math.floor(Date.now() / 1000);
  const aibotId = newAibotId();
  const hasResend = plan.selected.some((item) => item.kind === 'resend');
  // Made a repetition at a time, as the pool reaches them: a long --repeat holds its results, not its requests.
  function* makeTasks() {
    let index = 0;
    for (let rep = 0; rep < plan.repeat; rep++) {
      // A sender of its own for each repetition: an event with no id of its own (subscribe, click…) is then new, even
      // beside another run's in the same second, as it would be from another user.
      const user = `${SIMULATE_USER}-${randomBytes(4).toString('hex')}`;
      const ctx = plan.app.suite
        ? { ...plan.app.suite, corpA: plan.corps[0], corpB: plan.corps[1], agentId: plan.agentId, user, createTime: runStart - rep }
        : { corpId: plan.app.receiveId, agentId: plan.agentId, aibotId, user, createTime: runStart - rep };
      const repTasks = plan.selected.map((item) => ({ item, rep, ctx, index: index++, done: deferred() }));
      const firstCallback = repTasks.find((t) => t.item.kind === 'callback');
      const text = repTasks.find((t) => t.item.name === 'text');
      if (hasResend) firstCallback.keepSealed = true;
      for (const t of repTasks) {
        if (t.item.kind === 'resend') t.base = firstCallback;
        if (t.item.kind === 'refresh') t.base = text;
      }
      yield* repTasks;
    }
  }
  const tasks = makeTasks();
  const results = new Array(plan.repeat * plan.selected.length);
  const settle = (task, result) => {
    task.done.resolve(result);
    results[task.index] = result;
    view.result(result);
    slim(result, task, view);
  };
  const started = performance.now();
  // The first request alone: an unreachable gateway is said once, on stderr, not once per callback.
  const firstTask = tasks.next().value;
  const first = await runTask(plan, firstTask);
  if (first.unreachable) {
    view.unreachable(first.error);
    out.stderr(`wecom-edge simulate: ${first.error}\n`);
    return 1;
  }
  // The gateway's configuration is at fault: every callback would get the same 503, so it is said once, with where to look.
  const hint = first.refusal && configHint(plan.base, first.status, first.refusal);
  if (hint) {
    view.misconfigured(first, hint);
    out.stderr(`wecom-edge simulate: ${hint.join('\n')}\n`);
    return 1;
  }
  view.start();
  settle(firstTask, first);
  await pool(tasks, plan.concurrency, async (task) => settle(task, await runTask(plan, task)));
  const seconds = (performance.now() - started) / 1000;
  const code = view.end(results, seconds);
  // The configuration broke during the run: where to look, once.
  const broken = results.find((r) => r.refusal && configHint(plan.base, r.status, r.refusal));
  if (broken) out.stderr(`wecom-edge simulate: ${configHint(plan.base, broken.status, broken.refusal).join('\n')}\n`);
  return code;
}

/** Once judged and shown, a result keeps only what the table, the summary and --json need. */
function slim(result, task, view) {
  result.details = undefined;
  result.plaintext = undefined;
  result.reply = undefined;
  if (!task.keepSealed) {
    // the resend of its repetition takes them, then drops them
    result.sealed = undefined;
    result.target = undefined;
  }
  if (!view.keepsReplies) result.replyPlaintext = undefined;
}

function deferred() {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  return { promise, resolve };
}

/** Runs every task of the iterator `tasks`, up to `concurrency` at once. */
async function pool(tasks, concurrency, runOne) {
  const worker = async () => {
    for (let next = tasks.next(); !next.done; next = tasks.next()) await runOne(next.value);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function runTask(plan, task) {
  const { item } = task;
  const result = { name: item.name, rep: task.rep, method: item.kind === 'verify' ? 'GET' : 'POST', status: null, ms: null, ok: false, summary: '', details: [] };
  try {
    if (item.kind === 'verify') await verifyUrl(plan, task, result);
    else await callback(plan, task, result);
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
    result.ok = false;
    result.summary = error.message;
    result.error = error.message;
    result.unreachable = error.kind === 'unreachable';
  }
  return result;
}

/**
 * Where an item goes and what it is encrypted for: the app's one URL and
 * receiveId, or, for a suite, the URL and receiveId its catalogue item names.
 * Returns { url, receiveId, via }, `via` "instruction" or "data" for a suite.
 */
function targetOf(plan, task) {
  const { item, ctx } = task;
  if (item.url === undefined) return { url: plan.callbackUrl, receiveId: plan.app.receiveId, via: undefined };
  return { url: item.url === 'data' ? plan.dataUrl : plan.callbackUrl, receiveId: item.receiveIdOf(ctx), via: item.url };
}

async function verifyUrl(plan, task, result) {
  const echostr = String(randomInt(1, 2 ** 47)) + String(randomInt(0, 9999)).padStart(4, '0');
  const target = targetOf(plan, task);
  const response = await exchange(verificationUrl(target.url, { ...plan.app, receiveId: target.receiveId }, echostr), { timeoutMs: plan.timeoutMs });
  take(result, response);
  if (response.status !== 200) return refused(result, response, target);
  if (response.text === echostr) {
    result.ok = true;
    result.summary = `echostr answered: ${echostr}`;
  } else {
    result.summary = `the answer ${JSON.stringify(response.text.slice(0, 80))} is not the echostr's plaintext ${echostr}`;
  }
}

async function callback(plan, task, result) {
  const { item } = task;
  const format = plan.app.bot ? 'json' : 'xml';
  let sealed;
  let base;
  let target;
  if (item.kind === 'resend') {
    base = await task.base.done.promise;
    sealed = base.sealed;
    base.sealed = undefined;
    result.label = `resend (${base.name})`;
    target = base.target;
    if (base.corpId !== undefined) result.corpId = base.corpId;
  } else {
    const ctx = { ...task.ctx };
    if (item.kind === 'refresh') {
      base = await task.base.done.promise;
      // Without a stream from the text, a refresh of a stream nobody opened: the gateway still answers it.
      ctx.streamId = base.streamId ?? `stream_${'0'.repeat(32)}`;
      result.streamId = ctx.streamId;
    }
    const built = item.build(ctx);
    target = targetOf(plan, task);
    const agentId = built.agentId !== undefined ? built.agentId : plan.agentId;
    sealed = sealCallback(target.url, { ...plan.app, receiveId: target.receiveId }, built.plaintext, { format, agentId });
    result.plaintext = built.plaintext;
    // The corp a suite's callback is for, as the gateway's event JSON gives it: a data callback's receiveId, an instruction's AuthCorpId.
    const corpId = target.via === 'data' ? target.receiveId : target.via === 'instruction' ? xmlText(built.plaintext, 'AuthCorpId') : undefined;
    if (corpId !== undefined) result.corpId = corpId;
  }
  result.sealed = sealed;
  result.target = target;
  const response = await exchange(sealed.url, {
    method: 'POST',
    body: sealed.body,
    headers: { 'content-type': format === 'json' ? 'application/json' : 'text/xml', 'user-agent': 'wecom-edge simulate' },
    timeoutMs: plan.timeoutMs,
  });
  take(result, response);
  result.eventId = response.headers.get('wecom-edge-event-id') ?? undefined;
  result.duplicate = response.headers.get('wecom-edge-duplicate') === '1';
  const routed = routedOf(response.headers.get('wecom-edge-routed'));
  if (routed !== undefined) result.routed = routed;
  if (response.status !== 200) return refused(result, response, target);
  if (target.via === 'instruction' && response.text !== 'success') {
    result.ok = false;
    result.summary = `the instruction URL must answer exactly "success" (WeCom retries otherwise), got ${JSON.stringify(response.text.slice(0, 80))}`;
    return;
  }
  const answer = judgeAnswer(plan, target, sealed, response.text, format, result);
  if (!answer) return;
  if (item.kind === 'refresh') {
    if (base.streamId === undefined) {
      result.ok = false;
      result.summary = `text opened no stream to refresh (${base.ok ? 'it was answered without one' : 'it failed'}); the refresh got: ${result.summary}`;
      return;
    }
    if (result.reply?.msgtype !== 'stream' || result.reply.stream?.id !== result.streamId) {
      result.ok = false;
      result.summary = `a refresh must be answered with the stream ${result.streamId}; got: ${result.summary}`;
      return;
    }
  }
  if (item.kind === 'resend') {
    if (!result.duplicate) {
      result.ok = false;
      result.summary = `not reported as a duplicate (no wecom-edge-duplicate header): ${result.summary}`;
      return;
    }
    if (base.eventId !== undefined && result.eventId !== base.eventId) {
      result.ok = false;
      result.summary = `a duplicate of ${result.eventId}, not of ${base.eventId}`;
      return;
    }
    result.summary = `duplicate of ${result.eventId ?? 'the first'}: ${result.summary}`;
  } else if (result.duplicate) {
    result.summary += ' (a duplicate: the gateway had this event already)';
  }
}

/**
 * The destinations the gateway says a callback went to (its header
 * wecom-edge-routed: "directory,audit", empty when none matched), or
 * undefined when there is no header: a gateway older than destinations.
 */
export function routedOf(header) {
  if (header === null || header === undefined) return undefined;
  return header.split(',').map((name) => name.trim()).filter((name) => name !== '');
}

/** What a result's line shows of them: "→ directory, audit", "→ (unrouted)", or nothing without the header. */
export function routedText(routed) {
  if (routed === undefined) return '';
  return `→ ${routed.length === 0 ? '(unrouted)' : routed.map(oneLine).join(', ')}`;
}

function take(result, response) {
  result.status = response.status;
  result.ms = response.ms;
}

function refused(result, response, target) {
  const refusal = refusalOf(response.text);
  result.ok = false;
  if (refusal) {
    result.code = refusal.code;
    result.refusal = refusal;
    result.summary = `${oneLine(refusal.code)} ${oneLine(refusal.message)}`;
    // The gateway answers a data URL it has no suite for as an unknown app's.
    if (target?.via === 'data' && response.status === 401 && refusal.code === -40001) {
      result.summary += ' (is the app a suite in the gateway\'s configuration? Only a suite has a data URL)';
    }
  } else {
    result.summary = `unexpected answer ${JSON.stringify(response.text.slice(0, 120))}`;
  }
}

/** The answer to a POST that got a 200: the plain answers, or a passive reply opened as WeCom would. Returns true when it is acceptable. */
function judgeAnswer(plan, target, sealed, text, format, result) {
  if (format === 'xml' && text === 'success') return pass(result, 'success');
  if (text === '') return pass(result, 'empty answer (no reply)');
  const opened = openReply(text, format, plan.app, { timestamp: sealed.timestamp, nonce: sealed.nonce, receiveId: target.receiveId });
  if (opened.plaintext !== undefined) result.details.push(...opened.plaintext.split('\n'));
  if (!opened.ok) {
    result.ok = false;
    result.summary = `passive reply FAILS: ${opened.problem}`;
    return false;
  }
  result.replyPlaintext = opened.plaintext;
  if (format === 'json') {
    result.reply = opened.reply;
    const r = opened.reply;
    let what = `reply ${JSON.stringify(r.msgtype ?? r.response_type ?? '?')}`;
    if (r.msgtype === 'stream') {
      what = `stream ${oneLine(r.stream?.id)} (finish ${oneLine(r.stream?.finish)}): ${JSON.stringify(r.stream?.content ?? '')}`;
      if (result.name === 'text') result.streamId = r.stream?.id;
    } else if (r.msgtype === 'text') what = `text ${JSON.stringify(r.text?.content ?? '')}`;
    pass(result, `verified reply: ${what}`);
  } else {
    const to = xmlText(opened.plaintext, 'ToUserName');
    const sender = xmlText(result.plaintext ?? '', 'FromUserName');
    if (sender !== undefined && to !== sender) {
      result.ok = false;
      result.summary = `passive reply FAILS: it is addressed to ${JSON.stringify(to)}, not to the sender ${JSON.stringify(sender)}`;
      return false;
    }
    const msgType = xmlText(opened.plaintext, 'MsgType');
    const content = xmlText(opened.plaintext, 'Content');
    pass(result, `verified reply: ${oneLine(msgType)}${content !== undefined ? ` ${JSON.stringify(content)}` : ''}`);
  }
  for (const note of opened.notes) result.summary += ` (${note})`;
  return true;
}

function pass(result, summary) {
  result.ok = true;
  result.summary = summary;
  return true;
}

// ------------------------------------------------------------- output ----

const LABEL_WIDTH = 24;

function labelOf(result, repeat) {
  const label = result.label ?? result.name;
  return repeat > 1 ? `${label} #${result.rep + 1}` : label;
}

function textView(out, plan, { quiet }) {
  return {
    keepsReplies: false,
    unreachable() {},
    misconfigured() {},
    start() {
      if (plan.app.suite) {
        const { suiteId, providerCorpId } = plan.app.suite;
        const path = new URL(plan.callbackUrl).pathname;
        const width = path.length + 7;
        out.stdout(
          `Simulating WeCom against the suite ${JSON.stringify(suiteId)} at ${plan.callbackUrl} (XML callbacks, AgentID ${plan.agentId})\n` +
            `  instruction URL  ${path.padEnd(width)}receiveId ${JSON.stringify(suiteId)} (the suite id)\n` +
            `  data URL         ${`${path}/data`.padEnd(width)}receiveId the corp's: ${plan.corps.map((corp) => JSON.stringify(corp)).join(', ')}\n` +
            `  verification     ${'both URLs'.padEnd(width)}receiveId ${JSON.stringify(providerCorpId)} (the provider's corpid)\n${quiet ? '' : '\n'}`,
        );
        return;
      }
      const kind = plan.app.bot ? 'AI bot, JSON callbacks' : `XML callbacks, AgentID ${plan.agentId}`;
      out.stdout(`Simulating WeCom against ${plan.callbackUrl} (${kind}, receiveId ${JSON.stringify(plan.app.receiveId)})\n${quiet ? '' : '\n'}`);
    },
    result(r) {
      if (quiet) return;
      const status = r.status === null ? '---' : String(r.status);
      const ms = r.ms === null ? '    -' : String(Math.round(r.ms)).padStart(5);
      const event = r.eventId !== undefined && !r.summary.includes(r.eventId) ? `  ${oneLine(r.eventId)}` : '';
      const corp = r.corpId !== undefined ? `  corp ${oneLine(r.corpId)}` : '';
      const routed = r.routed !== undefined ? `  ${routedText(r.routed)}` : '';
      out.stdout(`${r.ok ? '✔' : '✘'} ${labelOf(r, plan.repeat).padEnd(LABEL_WIDTH)} ${r.method.padEnd(4)} ${status} ${ms} ms  ${oneLine(r.summary)}${event}${corp}${routed}\n`);
      for (const line of r.details) out.stdout(`    ${line}\n`);
    },
    end(results, seconds) {
      const rows = tally(plan, results);
      out.stdout(`\n  ${'callback'.padEnd(LABEL_WIDTH)} result  passed\n`);
      for (const row of rows) {
        out.stdout(`  ${row.name.padEnd(LABEL_WIDTH)} ${row.failed === 0 ? 'PASS' : 'FAIL'}    ${row.passed}/${row.count}${row.reason ? `  ${oneLine(row.reason)}` : ''}\n`);
      }
      const passed = results.filter((r) => r.ok).length;
      out.stdout(`\n${passed} of ${results.length} passed${passed === results.length ? '' : `, ${results.length - passed} failed`}.\n`);
      if (plan.repeat > 1 || plan.concurrency > 1) {
        const l = latency(results, seconds);
        out.stdout(
          `Latency: ${l.count} requests, ${l.ok} ok, ${l.failed} failed; p50 ${l.p50} ms, p95 ${l.p95} ms, p99 ${l.p99} ms, max ${l.max} ms; ` +
            `${l.requestsPerSecond} requests/s (concurrency ${plan.concurrency}, ${l.seconds} s)\n`,
        );
      }
      return passed === results.length ? 0 : 1;
    },
  };
}

function jsonView(out, plan) {
  const head = { url: plan.callbackUrl, app: plan.name, bot: plan.app.bot, receiveId: plan.app.receiveId };
  // A suite: its data URL, the provider's corpid and the run's two corps (receiveId is the suite id, the instruction URL's).
  if (plan.app.suite) head.suite = { ...plan.app.suite, dataUrl: plan.dataUrl, corps: plan.corps };
  return {
    keepsReplies: true,
    unreachable(error) {
      out.stdout(`${JSON.stringify({ ...head, error }, null, 2)}\n`);
    },
    misconfigured(result, hint) {
      const { code, message } = result.refusal;
      out.stdout(`${JSON.stringify({ ...head, error: `${result.status} ${code}: ${message}`, status: result.status, code, hint: hint.join('\n') }, null, 2)}\n`);
    },
    start() {},
    result() {},
    end(results, seconds) {
      const passed = results.filter((r) => r.ok).length;
      const report = {
        ...head,
        results: results.map((r) => ({
          name: r.name,
          repetition: r.rep + 1,
          method: r.method,
          status: r.status,
          ms: r.ms === null ? null : Math.round(r.ms * 10) / 10,
          ok: r.ok,
          summary: r.summary,
          ...(r.code !== undefined ? { code: r.code } : {}),
          ...(r.eventId !== undefined ? { eventId: r.eventId, duplicate: r.duplicate } : {}),
          ...(r.corpId !== undefined ? { corpId: r.corpId } : {}),
          ...(r.routed !== undefined ? { routed: r.routed } : {}),
          ...(r.streamId !== undefined ? { streamId: r.streamId } : {}),
          ...(r.replyPlaintext !== undefined ? { reply: r.replyPlaintext } : {}),
        })),
        table: tally(plan, results).map(({ name, count, passed: p, failed, reason }) => ({ name, count, passed: p, failed, ...(reason ? { reason } : {}) })),
        passed,
        failed: results.length - passed,
        latency: latency(results, seconds),
      };
      out.stdout(`${JSON.stringify(report, null, 2)}\n`);
      return passed === results.length ? 0 : 1;
    },
  };
}

/** One row per catalogue item: how many passed, and the first failure's reason. */
function tally(plan, results) {
  return plan.selected.map((item) => {
    const mine = results.filter((r) => r.name === item.name);
    const failures = mine.filter((r) => !r.ok);
    const first = failures[0];
    const reason = first ? `${first.status ?? '---'} ${first.summary}` : undefined;
    return { name: item.name, count: mine.length, passed: mine.length - failures.length, failed: failures.length, reason };
  });
}

/** Nearest-rank percentiles of the requests that got an answer. */
export function latency(results, seconds) {
  const times = results.filter((r) => r.ms !== null).map((r) => r.ms).sort((a, b) => a - b);
  const rank = (p) => (times.length === 0 ? null : Math.round(times[Math.min(times.length - 1, Math.ceil((p / 100) * times.length) - 1)]));
  const ok = results.filter((r) => r.ok).length;
  return {
    count: results.length,
    ok,
    failed: results.length - ok,
    p50: rank(50),
    p95: rank(95),
    p99: rank(99),
    max: times.length === 0 ? null : Math.round(times.at(-1)),
    requestsPerSecond: seconds > 0 ? Math.round((results.length / seconds) * 10) / 10 : null,
    seconds: Math.round(seconds * 100) / 100,
  };
}

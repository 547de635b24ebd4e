// routes: an app's destinations, seen from a shell. `routes test` sends an
// event to the gateway's POST /admin/apps/{app}/routes/test and shows, for
// each destination in order, whether the event would go there, under which
// order key, why not (the first condition that failed), and what its
// transform would make of it. Nothing is stored or delivered.
import { existsSync, readFileSync } from 'node:fs';
import { defaultSecretsFile, DEV_VARS, readSecretsFile } from './apps-file.mjs';
import { appOption, integerOption, parseBaseUrl, parseCommand, UsageError } from './cli.mjs';
import { configHint, exchange, NetworkError, refusalOf } from './http.mjs';
import { jsonProblem } from './json-text.mjs';
import { oneLine, terminalOutput } from './terminal.mjs';

export const ROUTES_HELP = `Usage: wecom-edge routes test <base-url> --app NAME [--secrets FILE]
                               [--json] [--raw] [--timeout MS] FILE

Asks a gateway (local or deployed) which of an app's destinations an event
would go to: for each destination, in the configuration's order, whether its
match holds and under which order key, or else the first condition that
failed, and what its transform would make of the event. Nothing is stored
or delivered.

  <base-url>          the gateway, e.g. https://wecom.example.com
  --app NAME          the app, as named in wecom-edge.config.json (or WECOM_APPS)
  FILE                the event, as JSON; - reads it from stdin. Either the
                      full event as your intranet receives it (an object with
                      an "id" string and an "event" object), or only its
                      "event" object (any other object), at most 1 MiB

The admin token (the gateway's ADMIN_TOKEN) comes from --secrets FILE when
given, else from the environment variable ADMIN_TOKEN, else from the
default secrets file: .dev.vars when <base-url> is on this machine
(127.0.0.1, localhost, [::1]), else secrets/secrets.json.
  --secrets FILE      a file holding ADMIN_TOKEN: a JSON object of name → value
                      (a name ending in .json) or a dotenv file such as .dev.vars

Output:
  --json              the gateway's answer, as JSON: {"app", "input",
                      "destinations": [...], "matched": [...]}
  --raw               write what came from the gateway as it is (see below)
  --timeout MS        how long to wait for the answer (default 30000)
  -h, --help          show this help

Each destination is one line: "✓ NAME" when the event would go there (with
(key "…") for an ordered one), "✗ NAME  WHY" when not; a transform's result
follows on an indented line. A last line names the destinations matched.

Terminal safety: control characters (C0, DEL, C1 U+0080-U+009F) and bidi
overrides (U+202A-U+202E, U+2066-U+2069) in what came from the gateway (keys,
reasons, transform results, messages) are shown as escapes such as \\u009b,
to a terminal or not (--json stays the same JSON). --raw writes --json as it
is; keys, reasons and transform results in lines stay escaped even then.

Exit status: 0 when the gateway answered (even when nothing matched), 1 when
it refused (a wrong admin token, an unknown app, a body that is not JSON…) or
cannot be reached, 2 on a usage error.
`;

export async function routes(argv, out) {
  const [subcommand, ...rest] = argv;
  if (subcommand === '--help' || subcommand === '-h' || subcommand === 'help') {
    out.stdout(ROUTES_HELP);
    return 0;
  }
  if (subcommand !== 'test') {
    throw new UsageError(subcommand === undefined ? 'give a subcommand: routes test' : `unknown subcommand ${JSON.stringify(subcommand)}: the one there is, is routes test`, 'routes');
  }
  const { values: o, positionals } = parseCommand(
    'routes',
    rest,
    {
      app: { type: 'string' },
      secrets: { type: 'string' },
      json: { type: 'boolean' },
      raw: { type: 'boolean' },
      timeout: { type: 'string' },
    },
    2,
  );
  if (o.help) {
    out.stdout(ROUTES_HELP);
    return 0;
  }
  const base = parseBaseUrl(positionals[0], 'routes');
  const name = appOption('routes', o.app);
  if (positionals[1] === undefined) throw new UsageError('give the event\'s FILE (or - for stdin) after the base URL', 'routes');
  const event = readEvent(positionals[1]);
  const timeoutMs = integerOption('routes', '--timeout', o.timeout, { min: 100, max: 600_000, fallback: 30_000 });
  const token = adminToken(o, base);
  const io = terminalOutput(out, { stdout: 'always', raw: o.raw === true });
  const url = `${base}/admin/apps/${name}/routes/test`;

  let response;
  try {
    response = await exchange(url, {
      method: 'POST',
      body: event,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'user-agent': 'wecom-edge routes' },
      timeoutMs,
    });
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
    return failed(io, o.json, { url, app: name, error: error.message });
  }
  if (response.status !== 200) {
    const refusal = refusalOf(response.text);
    const said = refusal ? `${response.status} ${refusal.code}: ${refusal.message}` : `${response.status}: ${response.text.slice(0, 200)}`;
    const hint = refusalHint(base, name, response.status, refusal);
    return failed(io, o.json, { url, app: name, status: response.status, ...(refusal ? { code: refusal.code } : {}), error: `the gateway answered ${said}`, ...(hint ? { hint } : {}) });
  }
  let answer;
  try {
    answer = JSON.parse(response.text);
  } catch {
    return failed(io, o.json, { url, app: name, status: 200, error: 'the gateway answered 200 with a body that is not JSON: is this a wecom-edge gateway with routes?' });
  }
  if (!Array.isArray(answer?.destinations)) {
    return failed(io, o.json, { url, app: name, status: 200, error: 'the gateway answered 200 without "destinations": is this a wecom-edge gateway with routes?' });
  }
  if (o.json) io.stdout(`${response.text}\n`);
  else io.stdout(formatRoutes(answer));
  return 0;
}

/** What POST /admin/apps/{app}/routes/test reads at most. */
const MAX_EVENT_BYTES = 1024 * 1024;

/** The event's bytes, as they will be sent. Text that is not JSON is said by where, never quoted (an event may hold a user's words). */
function readEvent(path) {
  const what = path === '-' ? 'the event on stdin' : path;
  let bytes;
  try {
    bytes = readFileSync(path === '-' ? 0 : path);
  } catch (error) {
    throw new UsageError(`cannot read ${what}: ${error.code ?? error.message}`, 'routes');
  }
  // The admin API's bound (docs/cli.md): refused here, before anything is sent. Sent, the gateway's 413 could
  // race the upload it cuts short, and read as a lost connection.
  if (bytes.length > MAX_EVENT_BYTES) throw new UsageError(`${what} is ${bytes.length} bytes: the gateway takes an event of at most ${MAX_EVENT_BYTES} (1 MiB)`, 'routes');
  const problem = jsonProblem(bytes.toString('utf8'));
  if (problem !== undefined) throw new UsageError(`${what} is not JSON: ${problem}`, 'routes');
  return bytes;
}

/** ADMIN_TOKEN from --secrets, the environment, or the default secrets file, in that order. */
function adminToken(o, base, env = process.env) {
  if (o.secrets === undefined && typeof env.ADMIN_TOKEN === 'string' && env.ADMIN_TOKEN !== '') return env.ADMIN_TOKEN;
  const path = o.secrets ?? defaultSecretsFile(base);
  let secrets;
  try {
    secrets = readSecretsFile(path, 'routes', true);
  } catch (error) {
    if (o.secrets !== undefined || !(error instanceof UsageError) || existsSync(path)) throw error;
    secrets = {};
  }
  const token = Object.hasOwn(secrets, 'ADMIN_TOKEN') ? secrets.ADMIN_TOKEN : undefined;
  if (typeof token !== 'string' || token === '') {
    if (o.secrets !== undefined) throw new UsageError(`no admin token: ADMIN_TOKEN is not set in ${path}`, 'routes');
    const dev = path === DEV_VARS ? ', or add a line ADMIN_TOKEN=… to .dev.vars (the one wrangler dev reads)' : '';
    throw new UsageError(`no admin token: ADMIN_TOKEN is set neither in the environment nor in ${path} (the default secrets file for this gateway); set it in the environment${dev === '' ? ' or' : ','} give --secrets FILE holding it${dev}`, 'routes');
  }
  return token;
}

/** What to do about a refusal, beyond the gateway's own words. */
function refusalHint(base, app, status, refusal) {
  // The admin API names what is wrong with the app's entry in its message.
  if (status === 503 && refusal?.code === 'invalid_config' && refusal.message.startsWith(`app "${app}" is misconfigured: `)) {
    return 'fix the app\'s entry; `npx wecom-edge check-config` checks the configuration locally';
  }
  const config = configHint(base, status, refusal);
  if (config) return config.join('\n');
  if (status === 401) return "the admin token is not the gateway's ADMIN_TOKEN";
  if (status === 404 && refusal?.code === 'unknown_app') return `the gateway has no app "${app}" configured`;
  if (status === 404) return 'the gateway has no routes test: it is older than routes (issue 13)';
  return undefined;
}

function failed(io, json, report) {
  if (json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  io.stderr(`wecom-edge routes: ${oneLine(report.error)}\n`);
  if (report.hint) for (const line of report.hint.split('\n')) io.stderr(`  ${oneLine(line)}\n`);
  return 1;
}

/**
 * The gateway's answer for people: one line per destination, a transform's
 * result and the gateway's hints indented under it, then what matched and
 * the hints about the event. Every value from the gateway
 * is made one line (oneLine): a key or a reason can never forge a line.
 */
export function formatRoutes(answer) {
  const lines = [];
  for (const d of answer.destinations) {
    const name = oneLine(d?.name);
    if (d?.matched === true) {
      lines.push(`✓ ${name}${typeof d.key === 'string' ? ` (key ${oneLine(JSON.stringify(d.key))})` : ''}`);
      const t = d.transform;
      if (t?.ok === true) lines.push(`    transform → ${oneLine(JSON.stringify(t.body))}`);
      else if (t?.ok === false) lines.push(`    transform failed: ${oneLine(t.error)}`);
    } else {
      lines.push(`✗ ${name}  ${oneLine(d?.failed ?? '')}`);
    }
    for (const hint of hintsOf(d)) lines.push(`    hint: ${hint}`);
  }
  const matched = Array.isArray(answer.matched) ? answer.matched.map(oneLine) : [];
  const read = answer.input === 'full' ? 'read as the full event' : answer.input === 'event' ? 'read as the event object' : undefined;
  const total = answer.destinations.length;
  const summary =
    matched.length === 0
      ? `none of ${total} destinations matched: the gateway would answer success and not store the event (unrouted)`
      : `${matched.length} of ${total} destinations matched: ${matched.join(', ')}`;
  lines.push('', read === undefined ? summary : `${summary}; ${read}`);
  for (const hint of hintsOf(answer)) lines.push(`hint: ${hint}`);
  return `${lines.join('\n')}\n`;
}

/** The gateway's hints of a destination or of the answer (a name close to one in WeCom's catalogue), one line each. */
const hintsOf = (x) => (Array.isArray(x?.hints) ? x.hints.map(oneLine) : []);

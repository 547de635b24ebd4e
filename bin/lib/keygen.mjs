// keygen: fresh credentials for one app: its entry for wecom-edge.config.json
// (secret values as {"secret": "NAME"} references) and the secret values,
// printed, or merged into the configuration file and a secrets file
// (docs/cli.md, "keygen: new credentials for an app"; docs/local.md).
import { randomBytes, randomInt } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CONFIG_FILE, DEV_VARS, isLoopback, parseSecretJson, readConfigFile, SECRETS_JSON, secretNamesOf } from './apps-file.mjs';
import { APP_NAME, parseOptions, UsageError } from './cli.mjs';
import { DOTENV_LINE, dotenvLine, parseDotenv } from './dotenv.mjs';

/** receiveId of an app made with --dev and no --receive-id: simulate encrypts its callbacks for it. */
export const LOCAL_CORP_ID = 'wwlocaldev00000000';
const RECEIVE_ID_PLACEHOLDER = 'YOUR_CORP_ID';

export const KEYGEN_HELP = `Usage: wecom-edge keygen [--app NAME] [--receive-id ID] [--webhook URL | --pull] [--bot]
                        [--suite SUITE_ID --provider-corp-id ID] [--kf]
                        [--json | --write | --dev] [--config FILE] [--secrets FILE] [--force]

Generates a new callback Token, EncodingAESKey and the intranet-side secrets
of one app: its entry for wecom-edge.config.json, where every secret value is
a {"secret": "NAME"} reference, and the secret values by name. Without
--write or --dev it only prints them.

The app:
  --app NAME         the app's name in wecom-edge.config.json and in
                     /callback/NAME (lowercase letters, digits, '_' and '-',
                     1-64; default "app")
  --receive-id ID    the receiveId the app accepts: your corpid (ww…), a suite
                     id, "" for an AI bot, or "*". Default: a placeholder to
                     replace, "${RECEIVE_ID_PLACEHOLDER}"; with --dev the local corp id
                     "${LOCAL_CORP_ID}", which simulate encrypts for; with --bot ""
  --webhook URL      deliver events by POSTing them to URL (http or https),
                     signed with a new whsec_ secret
  --pull             deliver events through the pull API, with a new pull token
                     (the default when --webhook is not given)
  --bot              an AI bot: adds bot.token, the Bearer token of its stream
                     API (with --pull, the default, a pull token too)
  --suite SUITE_ID   a third-party suite, or with a template id (dk…) a 代开发
                     template (docs/providers.md): its two URLs take their own
                     receiveIds, so no --receive-id; adds suite.ticketToken,
                     the Bearer token of GET /suites/NAME/ticket
  --provider-corp-id ID  the provider's own CorpID, with --suite
  --kf               微信客服 (docs/kf.md): adds kf.token, the Bearer token of
                     /kf/NAME/…

What to do with them:
  --json             print {"config": {NAME: entry}, "secrets": {NAME: value}}
                     and nothing else, for scripts
  --write            merge the entry into the configuration file and the
                     secrets into secrets/secrets.json, the flat JSON object
                     \`npx wrangler secret bulk secrets/secrets.json\` uploads
  --dev              as --write, but the secrets go into .dev.vars, the
                     dotenv file \`wrangler dev\` reads (NAME='value' lines);
                     prints the commands that run the app locally
  --config FILE      the configuration file (default ${CONFIG_FILE})
  --secrets FILE     the secrets file (default ${SECRETS_JSON}, with --dev
                     ${DEV_VARS}); a name ending in .json is a JSON object,
                     any other a dotenv file
  --force            replace an app already in the configuration file, and
                     secrets of the same names: the old values are lost, so
                     WeCom's console and your receiver need the new ones
  -h, --help         show this help

--write and --dev keep the files' other apps, secrets and lines, write the
configuration file as 2-space JSON, and leave the secrets file (and a
secrets/ folder they create) readable by you only (0600, 0700). Without
--force they refuse, changing nothing, when the app is already in the
configuration file or a secret of the same name is already in the secrets
file (to rotate an app's keys see docs/deploying.md, "Rotating keys").

Secret names: <APP>_TOKEN, <APP>_ENCODING_AES_KEY, <APP>_WEBHOOK_SECRET,
<APP>_PULL_TOKEN, <APP>_BOT_TOKEN, where <APP> is the app's name uppercased
with '-' as '_' (HR, MY_APP); "APP_" goes before a name that starts with a
digit (APP_1ST_TOKEN) and before the app "admin" (ADMIN_TOKEN is the admin
API's). The names fit 64 characters when the app's name has at most 47.

All values come from node:crypto's CSPRNG. Examples:
  npx wecom-edge keygen --app myapp --webhook http://127.0.0.1:8788/ --dev
  npx wecom-edge keygen --app hr --receive-id ww3e40cde07cc21a01 --webhook https://hr.example.com/wecom --write
`;

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** n characters of [A-Za-z0-9], each uniform (crypto.randomInt rejects biased draws). */
export function randomAlnum(n) {
  let s = '';
  for (let i = 0; i < n; i++) s += ALNUM[randomInt(ALNUM.length)];
  return s;
}

export function keygen(argv, out) {
  const o = parseOptions('keygen', argv, {
    app: { type: 'string' },
    'receive-id': { type: 'string' },
    webhook: { type: 'string' },
    pull: { type: 'boolean' },
    bot: { type: 'boolean' },
    suite: { type: 'string' },
    'provider-corp-id': { type: 'string' },
    kf: { type: 'boolean' },
    json: { type: 'boolean' },
    write: { type: 'boolean' },
    dev: { type: 'boolean' },
    config: { type: 'string' },
    secrets: { type: 'string' },
    force: { type: 'boolean' },
  });
  if (o.help) {
    out.stdout(KEYGEN_HELP);
    return 0;
  }
  const app = o.app ?? 'app';
  if (!APP_NAME.test(app)) {
    throw new UsageError(`invalid app name ${JSON.stringify(app)}: use 1-64 lowercase letters, digits, '_' or '-'`, 'keygen');
  }
  if (o.webhook !== undefined && o.pull) throw new UsageError('--webhook and --pull cannot be used together', 'keygen');
  if (o.suite !== undefined) {
    const id = /^[A-Za-z0-9_-]{1,64}$/;
    if (!id.test(o.suite)) throw new UsageError(`invalid --suite ${JSON.stringify(o.suite)}: the SuiteID (or 代开发 template id) from the provider console, 1-64 letters, digits, '_' or '-'`, 'keygen');
    if (o['provider-corp-id'] === undefined) throw new UsageError('--suite needs --provider-corp-id: the provider\'s own CorpID, which verifies both of its URLs', 'keygen');
    if (!id.test(o['provider-corp-id'])) throw new UsageError(`invalid --provider-corp-id ${JSON.stringify(o['provider-corp-id'])}: 1-64 letters, digits, '_' or '-'`, 'keygen');
    if (o['receive-id'] !== undefined) throw new UsageError('--suite and --receive-id cannot be used together: a suite\'s URLs take their own receiveIds', 'keygen');
    if (o.bot) throw new UsageError('--suite and --bot cannot be used together: an AI bot is an app of its own', 'keygen');
  } else if (o['provider-corp-id'] !== undefined) {
    throw new UsageError('--provider-corp-id goes with --suite', 'keygen');
  }
  if (o.write && o.dev) throw new UsageError('--write and --dev cannot be used together: --write is for production (secrets/secrets.json), --dev for wrangler dev (.dev.vars)', 'keygen');
  if (o.json && (o.write || o.dev)) throw new UsageError(`--json prints the values; --${o.dev ? 'dev' : 'write'} writes them: choose one`, 'keygen');
  const writing = o.write || o.dev;
  for (const flag of ['config', 'secrets', 'force']) {
    if (o[flag] !== undefined && !writing) throw new UsageError(`--${flag} goes with --write or --dev`, 'keygen');
  }
  let webhookUrl;
  if (o.webhook !== undefined) {
    try {
      webhookUrl = new URL(o.webhook);
    } catch {
      throw new UsageError(`invalid --webhook URL ${JSON.stringify(o.webhook)}: give an absolute http(s) URL`, 'keygen');
    }
    if (webhookUrl.protocol !== 'http:' && webhookUrl.protocol !== 'https:') {
      throw new UsageError(`invalid --webhook URL ${JSON.stringify(o.webhook)}: it must be http or https`, 'keygen');
    }
  }
  const names = secretNamesOf(app);
  const longest = Object.values(names).reduce((a, b) => (b.length > a.length ? b : a));
  if (longest.length > 64) {
    throw new UsageError(`app name ${JSON.stringify(app)} is too long for its secret names (${longest} has ${longest.length} characters; a secret's name has at most 64): use at most 47 characters`, 'keygen');
  }
  const suite = o.suite !== undefined;
  const receiveId = suite ? undefined : (o['receive-id'] ?? (o.bot ? '' : o.dev ? LOCAL_CORP_ID : RECEIVE_ID_PLACEHOLDER));

  const ref = (name) => ({ secret: name });
  const secrets = { [names.token]: randomAlnum(32), [names.encodingAESKey]: randomAlnum(43) };
  const entry = { token: ref(names.token), encodingAESKey: ref(names.encodingAESKey), ...(suite ? {} : { receiveId }) };
  if (suite) {
    secrets[names.ticketToken] = randomBytes(32).toString('hex');
    entry.suite = { suiteId: o.suite, providerCorpId: o['provider-corp-id'], ticketToken: ref(names.ticketToken) };
  }
  if (o.webhook !== undefined) {
    secrets[names.webhookSecret] = `whsec_${randomBytes(32).toString('base64')}`;
    entry.webhook = { url: o.webhook, secret: ref(names.webhookSecret) };
  } else {
    secrets[names.pullToken] = randomBytes(32).toString('hex');
    entry.pull = { token: ref(names.pullToken) };
  }
  if (o.bot) {
    secrets[names.botToken] = randomBytes(32).toString('hex');
    entry.bot = { token: ref(names.botToken) };
  }
  if (o.kf) {
    secrets[names.kfToken] = randomBytes(32).toString('hex');
    entry.kf = { token: ref(names.kfToken) };
  }

  if (receiveId === RECEIVE_ID_PLACEHOLDER) {
    out.stderr(`warning: no --receive-id: replace "${RECEIVE_ID_PLACEHOLDER}" with your corpid (我的企业 → 企业信息 → 企业ID), a suite id, "" for an AI bot, or "*"\n`);
  }
  const config = { [app]: entry };
  if (o.json) {
    out.stdout(JSON.stringify({ config, secrets }) + '\n');
    return 0;
  }
  const plan = { app, entry, secrets, names, o, webhookUrl, receiveId };
  if (writing) return writeFiles(plan, out);
  out.stdout(
    [
      ...credentialLines(plan),
      '',
      `The entry for ${CONFIG_FILE}, under "apps" (it holds no secret values, only their names):`,
      JSON.stringify(config, null, 2),
      '',
      `The secrets, the shape \`npx wrangler secret bulk\` takes (keep them in ${SECRETS_JSON}, mode 0600, or in ${DEV_VARS} for wrangler dev):`,
      JSON.stringify(secrets, null, 2),
      '',
      `--write merges both into ${CONFIG_FILE} and ${SECRETS_JSON} for you, --dev into ${CONFIG_FILE} and ${DEV_VARS} (each with fresh values).`,
      `Then: npx wecom-edge check-config, npx wrangler secret bulk ${SECRETS_JSON}, npm run deploy.`,
      '',
      consoleLine(app, suite),
      '',
    ].join('\n'),
  );
  return 0;
}

function credentialLines({ app, entry, secrets, names, o }) {
  const lines = [`Token:           ${secrets[names.token]}`, `EncodingAESKey:  ${secrets[names.encodingAESKey]}`];
  if (entry.webhook) lines.push(`Webhook secret:  ${secrets[names.webhookSecret]}   (give it to the receiver at ${o.webhook} to verify webhook-signature)`);
  if (entry.pull) lines.push(`Pull token:      ${secrets[names.pullToken]}   (the Bearer token of POST /queue/${app}/pull, /ack, /nack)`);
  if (entry.bot) lines.push(`Bot token:       ${secrets[names.botToken]}   (the Bearer token of /bots/${app}/streams/…)`);
  if (entry.suite) lines.push(`Ticket token:    ${secrets[names.ticketToken]}   (the Bearer token of GET /suites/${app}/ticket)`);
  if (entry.kf) lines.push(`kf token:        ${secrets[names.kfToken]}   (the Bearer token of /kf/${app}/…)`);
  return lines;
}

function consoleLine(app, suite = false) {
  if (suite) {
    return `Paste the Token and EncodingAESKey into the provider console's callback settings of the suite, with 指令回调URL https://<your worker>/callback/${app} and 数据回调URL https://<your worker>/callback/${app}/data (docs/providers.md).`;
  }
  return `Paste the Token and EncodingAESKey into WeCom's admin console (the app's 接收消息 → 设置API接收), with the URL https://<your worker>/callback/${app}.`;
}

// --------------------------------------------------- --write and --dev ----

function writeFiles(plan, out) {
  const { app, entry, secrets, names, o } = plan;
  const configPath = o.config ?? CONFIG_FILE;
  const secretsPath = o.secrets ?? (o.dev ? DEV_VARS : SECRETS_JSON);
  const force = o.force === true;

  // Everything is read and checked before anything is written.
  const file = existsSync(configPath) ? readConfigFile(configPath, 'keygen') : { apps: {} };
  if (Object.hasOwn(file.apps, app) && !force) {
    throw new UsageError(
      `app ${JSON.stringify(app)} is already in ${configPath}: keygen adds new apps and changed nothing. To rotate its keys see docs/deploying.md, "Rotating keys"; to replace it and its secrets, --force`,
      'keygen',
    );
  }
  for (const [other, otherEntry] of Object.entries(file.apps)) {
    if (other === app) continue;
    const taken = referencedNames(otherEntry).filter((name) => Object.hasOwn(secrets, name));
    if (taken.length > 0) {
      throw new UsageError(`app ${JSON.stringify(other)} in ${configPath} already uses the secret ${taken[0]}: choose another app name (changed nothing)`, 'keygen');
    }
  }
  const json = secretsPath.endsWith('.json');
  const existing = existsSync(secretsPath) ? readFileSync(secretsPath, 'utf8') : '';
  const present = existing === '' ? {} : json ? secretObject(existing, secretsPath) : parseDotenv(existing);
  const clash = Object.keys(secrets).filter((name) => Object.hasOwn(present, name));
  if (clash.length > 0 && !force) {
    throw new UsageError(
      `${secretsPath} already holds ${clash.join(', ')} (another value: a rotation is not keygen's; see docs/deploying.md, "Rotating keys"), and keygen changed nothing; --force replaces ${clash.length === 1 ? 'it' : 'them'}`,
      'keygen',
    );
  }
  if (!json && typeof present.WECOM_APPS === 'string') {
    let apps;
    try {
      apps = JSON.parse(present.WECOM_APPS);
    } catch {}
    if (apps !== null && typeof apps === 'object' && Object.hasOwn(apps, app)) {
      throw new UsageError(`app ${JSON.stringify(app)} is also in WECOM_APPS in ${secretsPath}: the gateway serves an app from one place only; remove it there, or choose another name (changed nothing)`, 'keygen');
    }
  }

  // The secrets first: a secret nothing names yet is harmless, a reference to a missing one is not.
  const text = json ? JSON.stringify({ ...present, ...secrets }, null, 2) + '\n' : mergeDotenv(existing, secrets, app);
  writePrivate(secretsPath, text);
  file.apps[app] = entry;
  try {
    writeFileSync(configPath, JSON.stringify(file, null, 2) + '\n');
  } catch (error) {
    throw new UsageError(`cannot write ${configPath}: ${error.code ?? error.message} (${secretsPath} has the new secrets already)`, 'keygen');
  }

  const width = Math.max(configPath.length, secretsPath.length);
  const lines = [
    `Wrote (${Object.keys(secrets).length} new secrets${clash.length > 0 ? `, replacing ${clash.join(', ')}` : ''}):`,
    `  ${configPath.padEnd(width)}  apps.${app}, its secret values as {"secret": "NAME"} references`,
    `  ${secretsPath.padEnd(width)}  ${Object.keys(secrets).join(', ')} (mode 0600)`,
    '',
  ];
  if (o.dev) lines.push(...devNextSteps(plan, secretsPath, configPath));
  else {
    lines.push(
      ...credentialLines(plan).slice(0, 2),
      `(also in ${secretsPath}, as ${names.token} and ${names.encodingAESKey})`,
      '',
      'Next:',
      `  npx wecom-edge check-config${o.config || o.secrets ? `${o.config ? ` --config ${o.config}` : ''} --secrets ${secretsPath}` : ''}`,
      `  npx wrangler secret bulk ${secretsPath}`,
      '  npm run deploy',
      '',
      consoleLine(app, entry.suite !== undefined),
      '',
    );
  }
  out.stdout(lines.join('\n'));
  return 0;
}

function devNextSteps({ app, entry, names, o, webhookUrl, receiveId }, secretsPath, configPath) {
  const lines = [];
  if (receiveId === LOCAL_CORP_ID) {
    lines.push(
      `receiveId is "${LOCAL_CORP_ID}", a local stand-in for your corpid: simulate encrypts its callbacks for it.`,
      `Before WeCom sends real ones, put your corpid (我的企业 → 企业信息 → 企业ID) in ${configPath}.`,
      '',
    );
  }
  const files = `${o.config ? ` --config ${o.config}` : ''}${o.secrets ? ` --secrets ${o.secrets}` : ''}`;
  const envFile = `--env-file=${secretsPath}`;
  lines.push('Next, each in a terminal of its own, in this folder:', '  npx wrangler dev        # restart it if it is running: it reads .dev.vars and the configuration when it starts');
  if (o.config && o.config !== CONFIG_FILE) lines.push(`                          # (it serves the file wrangler.toml's [alias] names, ${CONFIG_FILE}: point it at ${o.config})`);
  if (o.secrets && o.secrets !== DEV_VARS) lines.push(`                          # (it reads .dev.vars; for ${o.secrets}: npx wrangler dev --env-file ${o.secrets})`);
  if (entry.webhook) {
    if (isLoopback(webhookUrl.origin)) {
      const port = webhookUrl.port === '' ? (webhookUrl.protocol === 'https:' ? '443' : '80') : webhookUrl.port;
      lines.push(`  APP=${app}${port === '8788' ? '' : ` PORT=${port}`} node ${envFile} examples/webhook-receiver.mjs   # verifies each push with ${names.webhookSecret}`);
    } else {
      lines.push(`  # your receiver at ${o.webhook}: it verifies each push with ${names.webhookSecret} (examples/webhook-receiver.mjs shows how)`);
    }
  } else {
    lines.push(`  APP=${app} node ${envFile} examples/pull-consumer.mjs   # or: npx wecom-edge tail http://127.0.0.1:8787 --app ${app}${files}`);
  }
  lines.push(`  npx wecom-edge simulate http://127.0.0.1:8787 --app ${app}${files}`, '');
  return lines;
}

/** The secrets file's JSON object, refused (without its text) when it is anything else. */
function secretObject(text, path) {
  const values = parseSecretJson(text, path, 'keygen');
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    throw new UsageError(`${path} must hold a JSON object of secret name → value (the shape \`wrangler secret bulk\` takes)`, 'keygen');
  }
  return values;
}

/**
 * `text` (dotenv) with each of `secrets` set: a line of the same name keeps
 * its place and gets the new value; the others are appended. Every other
 * line, comment and blank stays as it was.
 */
function mergeDotenv(text, secrets, app) {
  const pending = new Map(Object.entries(secrets));
  // dotenv takes a name's last line: every line of a name gets the new value.
  // The dotenv parser's rule of lines, with positions: `d` gives each group's span.
  const LINE = new RegExp(DOTENV_LINE.source, 'dgm');
  const normal = text.replace(/\r\n?/g, '\n');
  let merged = '';
  let at = 0;
  for (const match of normal.matchAll(LINE)) {
    const name = match[1];
    if (!Object.hasOwn(secrets, name)) continue;
    const [start] = match.indices[1];
    const end = match.indices[2]?.[1] ?? match.index + match[0].trimEnd().length;
    merged += normal.slice(at, start) + dotenvLine(name, secrets[name]).trimEnd();
    at = end;
    pending.delete(name);
  }
  merged += normal.slice(at);
  if (pending.size > 0) {
    if (merged !== '' && !merged.endsWith('\n')) merged += '\n';
    if (merged !== '') merged += '\n';
    merged += `# app ${app} (npx wecom-edge keygen --dev)\n`;
    for (const [name, value] of pending) merged += dotenvLine(name, value);
  }
  return merged;
}

/** Every {"secret": NAME} name in an entry. */
function referencedNames(value, into = []) {
  if (Array.isArray(value)) for (const item of value) referencedNames(item, into);
  else if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === 'secret' && typeof value.secret === 'string') into.push(value.secret);
    else for (const item of Object.values(value)) referencedNames(item, into);
  }
  return into;
}

/**
 * Writes a file that holds secrets: owner-only (0600, set with chmod, so
 * whatever the umask), through a new file renamed over the old, so that no
 * reader ever sees half of it. A folder it creates is 0700.
 */
function writePrivate(path, text) {
  const dir = dirname(path);
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(temporary, text, { mode: 0o600, flag: 'wx' });
    chmodSync(temporary, 0o600);
    renameSync(temporary, path);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {}
    throw new UsageError(`cannot write ${path}: ${error.code ?? error.message}`, 'keygen');
  }
}

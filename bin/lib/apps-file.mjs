// A WECOM_APPS JSON file, as `wrangler secret put WECOM_APPS` takes it, and one app out of it.
import { readFileSync } from 'node:fs';
import { UsageError } from './cli.mjs';
import { parseDotenv } from './dotenv.mjs';

/** Reads `path` and returns the app `name` of it (an object), or throws a UsageError saying what is wrong. */
export function appFromFile(path, name, command) {
  let text;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --apps ${path}: ${error.code ?? error.message}`, command);
  }
  const apps = parseSecretJson(text, path, command);
  if (apps === null || typeof apps !== 'object' || Array.isArray(apps)) throw new UsageError(`${path} must hold a JSON object of apps`, command);
  if (!Object.hasOwn(apps, name)) {
    throw new UsageError(`no app ${JSON.stringify(name)} in ${path} (it has: ${Object.keys(apps).join(', ') || 'none'})`, command);
  }
  const app = apps[name];
  if (app === null || typeof app !== 'object' || Array.isArray(app)) throw new UsageError(`app ${JSON.stringify(name)} in ${path} is not an object`, command);
  return app;
}

/**
 * JSON.parse of a file that holds secrets. Node's SyntaxError quotes the text
 * around the fault, which may be a token, so the UsageError says only where
 * the fault is (line and column, when Node gives its position), never what.
 */
export function parseSecretJson(text, path, command) {
  try {
    return JSON.parse(text);
  } catch (error) {
    const where = jsonErrorPosition(error, text);
    const at = where === undefined ? '' : ` at line ${where.line}, column ${where.column}`;
    throw new UsageError(`${path} is not valid JSON${at} (the text is not shown: it may hold secrets)`, command);
  }
}

/** { line, column } (both from 1) of a JSON.parse SyntaxError in `text`, or undefined when Node does not say. */
export function jsonErrorPosition(error, text) {
  const message = String(error?.message ?? '');
  let position;
  const at = /\bat position (\d+)/.exec(message);
  if (at) position = Number(at[1]);
  else if (/^Unexpected end of JSON input/.test(message)) position = text.length;
  if (position === undefined || position > text.length) return undefined;
  const before = text.slice(0, position);
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: (before.match(/\n/g) ?? []).length + 1, column: position - lineStart + 1 };
}

// ------------------------------------------ wecom-edge.config.json ----
// An app's settings for the CLI from the configuration file, its
// {"secret": "NAME"} references resolved from a secrets file: .dev.vars
// (dotenv, as wrangler dev reads it) or secrets/secrets.json (the shape
// `wrangler secret bulk` takes). docs/configuration.md, "Secret references";
// docs/cli.md.

export const CONFIG_FILE = 'wecom-edge.config.json';
export const DEV_VARS = '.dev.vars';
export const SECRETS_JSON = 'secrets/secrets.json';

/** A Worker secret's name, as a reference gives it (src/config/references.ts). */
export const SECRET_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;

/** True for a base URL on this machine: its secrets are then .dev.vars's, as `wrangler dev` reads them. */
export function isLoopback(base) {
  const host = new URL(base).hostname;
  return host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** The secrets file a command reads when it is given none: .dev.vars for a local gateway, secrets/secrets.json otherwise. */
export function defaultSecretsFile(base) {
  return isLoopback(base) ? DEV_VARS : SECRETS_JSON;
}

/** `{"secret": …}` and nothing else, as the Worker reads a reference. */
export function isReference(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 1 && Object.hasOwn(value, 'secret');
}

/**
 * name → value out of a secrets file: a flat JSON object when the name ends
 * in .json, else dotenv as wrangler dev parses it. A missing file is a
 * UsageError naming it; a broken one is reported without its text.
 */
export function readSecretsFile(path, command, given = true) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const why = given ? '' : path === DEV_VARS ? ' (the default for a gateway on this machine; give --secrets FILE for another)' : ' (the default for a gateway elsewhere; give --secrets FILE for another)';
    throw new UsageError(`cannot read ${given ? '--secrets ' : ''}${path}${why}: ${error.code ?? error.message}`, command);
  }
  if (!path.endsWith('.json')) return parseDotenv(text);
  const values = parseSecretJson(text, path, command);
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    throw new UsageError(`${path} must hold a JSON object of secret name → value (the shape \`wrangler secret bulk\` takes)`, command);
  }
  for (const [name, value] of Object.entries(values)) {
    if (typeof value !== 'string') throw new UsageError(`${path}: the value of ${name} must be a string`, command);
  }
  return values;
}

/** The configuration file's object, with `apps` an object. A file that is not there is a UsageError saying what to give instead. */
export function readConfigFile(path, command, given = true) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const why = given ? '' : " (run this in the project's folder, or give --config FILE)";
    throw new UsageError(`cannot read ${given ? '--config ' : ''}${path}${why}: ${error.code ?? error.message}`, command);
  }
  const file = parseSecretJson(text, path, command);
  if (file === null || typeof file !== 'object' || Array.isArray(file) || file.apps === null || typeof file.apps !== 'object' || Array.isArray(file.apps)) {
    throw new UsageError(`${path} must be a JSON object with "apps", an object of apps (docs/configuration.md)`, command);
  }
  return file;
}

/**
 * The app `name` for a command that was given `--app NAME` and no settings
 * on its command line: from `--apps FILE` (a WECOM_APPS-shaped file), or
 * else from `--config FILE` (default wecom-edge.config.json) with the
 * references at the paths `need` (e.g. ["token", "encodingAESKey"] or
 * ["pull.token"]) resolved from `--secrets FILE` (default: defaultSecretsFile).
 * Returns { entry, where }: `where` names the app and its file for messages.
 */
export function appSettings(o, name, command, base, need) {
  if (o.apps !== undefined) {
    if (o.config !== undefined || o.secrets !== undefined) {
      throw new UsageError('--apps cannot be combined with --config/--secrets: give the app from a WECOM_APPS file, or from the configuration file and its secrets', command);
    }
    return { entry: appFromFile(o.apps, name, command), where: `app ${JSON.stringify(name)} in ${o.apps}` };
  }
  const configPath = o.config ?? CONFIG_FILE;
  const file = readConfigFile(configPath, command, o.config !== undefined);
  if (!Object.hasOwn(file.apps, name)) {
    throw new UsageError(`no app ${JSON.stringify(name)} in ${configPath} (it has: ${Object.keys(file.apps).join(', ') || 'none'}); add one with: npx wecom-edge keygen --app ${name} --dev`, command);
  }
  const app = file.apps[name];
  if (app === null || typeof app !== 'object' || Array.isArray(app)) throw new UsageError(`app ${JSON.stringify(name)} in ${configPath} is not an object`, command);
  const secretsPath = o.secrets ?? defaultSecretsFile(base);
  let secrets;
  const entry = structuredClone(app);
  for (const path of need) {
    const keys = path.split('.');
    const parent = keys.slice(0, -1).reduce((at, key) => (at !== null && typeof at === 'object' ? at[key] : undefined), entry);
    const last = keys.at(-1);
    if (parent === null || typeof parent !== 'object' || !isReference(parent[last])) continue;
    const secret = parent[last].secret;
    const at = `${configPath} apps.${name}.${path}`;
    if (typeof secret !== 'string' || !SECRET_NAME.test(secret)) {
      throw new UsageError(`${at} must name a secret: {"secret": "NAME"} with NAME of 1-64 capital letters, digits and _, starting with a letter`, command);
    }
    secrets ??= readSecretsFile(secretsPath, command, o.secrets !== undefined);
    const value = Object.hasOwn(secrets, secret) ? secrets[secret] : undefined;
    if (typeof value !== 'string' || value === '') {
      const hint = secretsPath === DEV_VARS ? `; add it (npx wecom-edge keygen --dev writes both), or give --secrets FILE` : '; give --secrets FILE with it';
      throw new UsageError(`${at} names secret ${secret}, which is not set in ${secretsPath}${hint}`, command);
    }
    parent[last] = value;
  }
  return { entry, where: `app ${JSON.stringify(name)} in ${configPath}` };
}

/**
 * The names of an app's secrets, as keygen gives them: <APP>_TOKEN and so on,
 * <APP> the app's name uppercased with '-' turned into '_'. A name that
 * starts with a digit, or one whose names would take a name the gateway
 * uses itself (the app "admin": ADMIN_TOKEN), gets the prefix APP_.
 */
export function secretNamesOf(app) {
  let stem = app.toUpperCase().replaceAll('-', '_');
  const names = (s) => ({
    token: `${s}_TOKEN`,
    encodingAESKey: `${s}_ENCODING_AES_KEY`,
    webhookSecret: `${s}_WEBHOOK_SECRET`,
    pullToken: `${s}_PULL_TOKEN`,
    botToken: `${s}_BOT_TOKEN`,
    ticketToken: `${s}_TICKET_TOKEN`,
    kfToken: `${s}_KF_TOKEN`,
  });
  if (!/^[A-Z]/.test(stem) || Object.values(names(stem)).some((n) => RESERVED_NAMES.has(n))) stem = `APP_${stem}`;
  return names(stem);
}

/** Secret names wecom-edge uses itself (src/config/references.ts): a reference may not name one. */
const RESERVED_NAMES = new Set(['WECOM_APPS', 'WECOM_ALERTS', 'WECOM_DEMO', 'WECOM_DEBUG', 'WECOM_MAX_SKEW_SECONDS', 'WECOM_VERIFY_FILES', 'ADMIN_TOKEN', 'QUEUE', 'REGISTRY', 'ALERTS', 'ASSETS']);

/**
 * `value` with every {"secret": NAME} in it replaced by secrets[NAME]: a
 * configuration entry made whole, in the shape WECOM_APPS takes (as
 * `keygen --json`'s {config, secrets} gives them). A name that `secrets`
 * lacks is an Error naming it.
 */
export function resolveReferences(value, secrets) {
  if (isReference(value)) {
    if (!Object.hasOwn(secrets, value.secret)) throw new Error(`no secret ${value.secret}`);
    return secrets[value.secret];
  }
  if (Array.isArray(value)) return value.map((item) => resolveReferences(item, secrets));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveReferences(v, secrets)]));
  return value;
}

// check-config: checks wecom-edge.config.json and the secrets it references
// with the Worker's own code (src/config.ts, bundled here with esbuild), and
// the sizes Cloudflare allows a variable or a secret (docs/cli.md,
// "check-config"). Run before every deploy (`npm run deploy` does).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEV_VARS, parseSecretJson, readSecretsFile, SECRETS_JSON } from './apps-file.mjs';
import { parseOptions, UsageError } from './cli.mjs';

export const CHECK_CONFIG_HELP = `Usage: wecom-edge check-config [--config FILE] [--secrets FILE] [--remote] [--wrangler FILE]

Checks the gateway's configuration before it is deployed, with the Worker's
own code: wecom-edge.config.json's apps, every {"secret": "NAME"} it
references, WECOM_APPS if a secrets file holds it, and the size of every
variable and secret (Cloudflare refuses one over 5 KB, 5120 bytes, at
upload; wrangler dev does not). Names a missing secret by the path that
references it. Prints names and paths, never a value. Exit 0: all good;
1: something to fix; 2: a usage error.

Options:
  --config FILE     the configuration file (default: wecom-edge.config.json)
  --secrets FILE    the secret values to check against: a JSON object of
                    name → value (the shape \`wrangler secret bulk\` takes) or
                    a dotenv file (.dev.vars). Default: secrets/secrets.json if
                    it exists, else .dev.vars if it exists
  --remote          check against the secrets the deployed Worker has
                    (\`wrangler secret list\`; needs \`wrangler login\`): a
                    secret counts as set only if it is there; its value is
                    checked where --secrets holds it too
  --wrangler FILE   the Wrangler configuration whose [vars] are checked too
                    (default: wrangler.toml)
  -h, --help        show this help
`;

/** Cloudflare's limit on one variable or secret: "Environment variable size: 5 KB". */
export const MAX_VALUE_BYTES = 5 * 1024;

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export async function checkConfig(argv, out) {
  const o = parseOptions('check-config', argv, {
    config: { type: 'string' },
    secrets: { type: 'string' },
    remote: { type: 'boolean' },
    wrangler: { type: 'string' },
  });
  if (o.help) {
    out.stdout(CHECK_CONFIG_HELP);
    return 0;
  }
  const configPath = o.config ?? 'wecom-edge.config.json';
  const file = readConfigFile(configPath);
  const worker = await loadWorkerConfigCode(configPath);
  const lines = [];
  const problems = [];

  const secretsPath = o.secrets ?? [SECRETS_JSON, DEV_VARS].find((path) => existsSync(path));
  const values = secretsPath === undefined ? {} : readSecretsFile(secretsPath, 'check-config', o.secrets !== undefined);
  lines.push(`secrets   ${secretsPath === undefined ? 'no secrets/secrets.json or .dev.vars here: references are checked against nothing' : `${secretsPath}: ${Object.keys(values).length}`}`);

  const env = {};
  const wranglerPath = o.wrangler ?? 'wrangler.toml';
  const { vars, services } = await readWrangler(wranglerPath);
  lines.push(`vars      ${wranglerPath}: ${Object.keys(vars).length}`);
  // A webhook may go through a service binding: the Worker checks it is there, so these stand in for them.
  for (const name of services) env[name] = { fetch() {} };
  for (const [name, value] of Object.entries(vars)) {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    env[name] = text;
    oversize(problems, `variable ${name} in ${wranglerPath}`, name, text);
  }
  for (const [name, value] of Object.entries(values)) oversize(problems, `secret ${name} in ${secretsPath}`, name, value);
  if (o.remote) {
    // What the deployed Worker will have: its secrets, checked with the local value where there is one.
    const names = await remoteSecretNames(wranglerPath);
    const missing = Object.keys(values).filter((name) => !names.includes(name));
    lines.push(`remote    the deployed Worker has ${plural(names.length, 'secret')}${missing.length > 0 ? `; not among them: ${missing.join(', ')}` : ''}`);
    for (const name of names) env[name] = Object.hasOwn(values, name) ? values[name] : worker.UNCHECKED_SECRET;
  } else {
    Object.assign(env, values);
  }
  if (typeof env.ADMIN_TOKEN === 'string' && env.ADMIN_TOKEN !== worker.UNCHECKED_SECRET && !worker.BEARER_TOKEN.test(env.ADMIN_TOKEN)) {
    problems.push('ADMIN_TOKEN must be 16-512 visible ASCII characters (use a long random string): the admin API stays off until it is');
  }

  let config;
  try {
    config = worker.parseConfig(env, file);
  } catch (error) {
    if (error?.name !== 'WecomError') throw error;
    problems.push(error.message);
  }
  if (config) {
    const fileApps = new Set(Object.keys(file.apps));
    lines.push(`config    ${configPath}: ${plural(fileApps.size, 'app')}${env.WECOM_APPS ? `; WECOM_APPS: ${plural(config.apps.size + config.invalidApps.size - fileApps.size, 'app')}` : ''}`);
    for (const name of [...config.apps.keys()].sort()) lines.push(`ok        ${name}`);
    for (const [name, problem] of [...config.invalidApps].sort(([a], [b]) => (a < b ? -1 : 1))) {
      lines.push(`invalid   ${name}`);
      problems.push(problem);
    }
  }
  out.stdout(lines.join('\n') + '\n');
  if (problems.length === 0) {
    out.stdout('The configuration is good to deploy.\n');
    return 0;
  }
  out.stdout(`\n${plural(problems.length, 'problem')}:\n${problems.map((problem) => `  - ${problem}\n`).join('')}`);
  return 1;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function oversize(problems, what, name, value) {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes <= MAX_VALUE_BYTES) return;
  const advice =
    name === 'WECOM_APPS'
      ? 'move its apps into wecom-edge.config.json, each secret value a {"secret": "NAME"} reference to a secret of its own (docs/configuration.md)'
      : 'split it into several, or move what is not secret into wecom-edge.config.json';
  problems.push(`${what} is ${bytes} bytes: Cloudflare refuses a variable or secret over ${MAX_VALUE_BYTES} bytes (5 KB) at upload; ${advice}`);
}

function readConfigFile(path) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${error.code ?? error.message}`, 'check-config');
  }
  // Its shape is the Worker's to check (parseConfig), with the Worker's messages.
  return parseSecretJson(text, path, 'check-config');
}

/**
 * [vars], and the names of the service bindings ([[services]], [[vpc_services]]),
 * as wrangler itself reads them (wrangler's own reader, so TOML is parsed as at deploy).
 */
async function readWrangler(path) {
  if (!existsSync(path)) throw new UsageError(`no ${path} here: run this in the project's folder, or give --wrangler FILE`, 'check-config');
  const { unstable_readConfig } = await import('wrangler');
  const config = unstable_readConfig({ config: resolve(path) }, { hideWarnings: true });
  const services = [...(config.services ?? []), ...(config.vpc_services ?? [])].map((binding) => binding.binding);
  return { vars: config.vars ?? {}, services };
}

async function remoteSecretNames(wranglerPath) {
  const wrangler = process.env.WECOM_EDGE_WRANGLER ?? join(ROOT, 'node_modules', '.bin', 'wrangler');
  try {
    const { stdout } = await promisify(execFile)(wrangler, ['secret', 'list', '--format', 'json', '--config', wranglerPath], { maxBuffer: 1 << 20 });
    const list = JSON.parse(stdout);
    if (!Array.isArray(list)) throw new Error('not a list');
    return list.map((secret) => String(secret.name));
  } catch (error) {
    throw new UsageError(
      `--remote: \`wrangler secret list\` did not answer with the Worker's secrets (${String(error.message ?? error).split('\n')[0].slice(0, 200)}); run \`npx wrangler login\`, or check against a file with --secrets`,
      'check-config',
    );
  }
}

/**
 * The Worker's own configuration code, bundled for Node: the same checks,
 * the same messages. `wecom-edge-config` (the bundled file's module) points
 * at the file being checked, which parseConfig is also given.
 */
async function loadWorkerConfigCode(configPath) {
  const { build } = await import('esbuild');
  const result = await build({
    stdin: {
      contents: [
        'export { parseConfig, BEARER_TOKEN } from "./src/config.ts";',
        'export { UNCHECKED_SECRET } from "./src/config/references.ts";',
      ].join('\n'),
      resolveDir: ROOT,
      loader: 'ts',
    },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'node',
    alias: { 'wecom-edge-config': resolve(configPath) },
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].text;
  return import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
}

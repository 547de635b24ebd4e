// Shared CLI plumbing: usage errors (exit 2), option parsing, and the checks of common option values.
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  constructor(message, command) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

/** parseArgs, strict, with its errors turned into UsageErrors for `command`. */
export function parseOptions(command, argv, options) {
  return parseCommand(command, argv, options, 0).values;
}

/** As parseOptions, allowing up to `maxPositionals` positional arguments: returns { values, positionals }. */
export function parseCommand(command, argv, options, maxPositionals) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' }, ...options }, strict: true, allowPositionals: maxPositionals > 0 });
  } catch (error) {
    throw new UsageError(String(error.message).replace(/^TypeError \[[A-Z_]+\]: /, ''), command);
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[maxPositionals])}`, command);
  }
  return parsed;
}

/**
 * The gateway's base URL: http or https, no query or fragment, the trailing
 * slash dropped. The callback URL itself is refused with a hint, since the
 * commands add /callback/NAME (or /queue/NAME) themselves.
 */
export function parseBaseUrl(value, command) {
  if (value === undefined) throw new UsageError('give the gateway\'s base URL, e.g. https://wecom.example.com', command);
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`invalid base URL ${JSON.stringify(value)}: give an absolute http(s) URL such as https://wecom.example.com`, command);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`invalid base URL ${JSON.stringify(value)}: it must be http or https`, command);
  }
  if (url.search !== '' || url.hash !== '' || value.includes('?') || value.includes('#')) {
    throw new UsageError(`invalid base URL ${JSON.stringify(value)}: give it without a query or fragment`, command);
  }
  if (/\/(callback|queue|bots|admin)(\/|$)/.test(url.pathname)) {
    throw new UsageError(`give the gateway's base URL (${url.origin}), not ${url.pathname}: the command adds the path itself`, command);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** A whole-number option value within [min, max]; undefined gives `fallback`. */
export function integerOption(command, name, value, { min, max, fallback }) {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`, command);
  }
  return Number(value);
}

export const APP_NAME = /^[a-z0-9_-]{1,64}$/;

/** --app NAME: required, and of the shape an app's name takes (wecom-edge.config.json and WECOM_APPS alike). */
export function appOption(command, value) {
  if (value === undefined) throw new UsageError('--app NAME is required: the app as it is named in wecom-edge.config.json (or WECOM_APPS) and in /callback/NAME', command);
  if (!APP_NAME.test(value)) throw new UsageError(`invalid app name ${JSON.stringify(value)}: 1-64 lowercase letters, digits, '_' or '-'`, command);
  return value;
}

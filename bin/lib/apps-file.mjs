// A WECOM_APPS JSON file, as `wrangler secret put WECOM_APPS` takes it, and one app out of it.
import { readFileSync } from 'node:fs';
import { UsageError } from './cli.mjs';

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

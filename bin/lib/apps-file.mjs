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
  let apps;
  try {
    apps = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${path} is not JSON: ${error.message}`, command);
  }
  if (apps === null || typeof apps !== 'object' || Array.isArray(apps)) throw new UsageError(`${path} must hold a JSON object of apps`, command);
  if (!Object.hasOwn(apps, name)) {
    throw new UsageError(`no app ${JSON.stringify(name)} in ${path} (it has: ${Object.keys(apps).join(', ') || 'none'})`, command);
  }
  const app = apps[name];
  if (app === null || typeof app !== 'object' || Array.isArray(app)) throw new UsageError(`app ${JSON.stringify(name)} in ${path} is not an object`, command);
  return app;
}

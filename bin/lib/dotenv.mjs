// .dev.vars, the dotenv file `wrangler dev` reads its secrets from: parsed by
// the rules of the dotenv package that wrangler uses (KEY=value, 'literal',
// "with \n escapes", `literal`, # comments, an optional `export `), so that
// the CLI sees the values the gateway sees.

/** One assignment: group 1 the name, group 2 the value as written. Flags `gm` to read; keygen adds `d` to edit in place. */
export const DOTENV_LINE = /(?:^|^)\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?(?:$|$)/gm;

/** name → value, as wrangler dev would read `text`. */
export function parseDotenv(text) {
  const values = {};
  const lines = text.replace(/\r\n?/g, '\n');
  for (const match of lines.matchAll(DOTENV_LINE)) {
    let value = (match[2] ?? '').trim();
    const quote = value[0];
    value = value.replace(/^(['"`])([\s\S]*)\1$/gm, '$2');
    if (quote === '"') value = value.replace(/\\n/g, '\n').replace(/\\r/g, '\r');
    values[match[1]] = value;
  }
  return values;
}

/**
 * One line of .dev.vars that parseDotenv reads back as `value`: single
 * quotes, which keep JSON's double quotes and a `#` as they are.
 */
export function dotenvLine(name, value) {
  if (/['\r\n]/.test(value)) throw new Error(`${name}: a .dev.vars value written here may not hold ' or a line break`);
  return `${name}='${value}'\n`;
}

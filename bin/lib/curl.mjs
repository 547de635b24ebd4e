// Just enough of a curl command line: the method, the URL and the request body.
import { readFileSync } from 'node:fs';

/** A simple shell-like tokenizer: whitespace, '…', "…" (with \" \\ \$ \` escapes), backslash escapes, \-newline. */
export function tokenize(line) {
  const tokens = [];
  let current = '';
  let inToken = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) throw new Error('unterminated single quote in the curl command');
      current += line.slice(i + 1, end);
      i = end;
      inToken = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length && '"\\$`\n'.includes(line[j + 1])) {
          j++;
          if (line[j] !== '\n') current += line[j];
        } else current += line[j];
      }
      if (j >= line.length) throw new Error('unterminated double quote in the curl command');
      i = j;
      inToken = true;
    } else if (c === '\\') {
      if (i + 1 < line.length) {
        i++;
        if (line[i] !== '\n' && line[i] !== '\r') {
          current += line[i];
          inToken = true;
        }
      }
    } else if (/\s/.test(c)) {
      if (inToken) tokens.push(current);
      current = '';
      inToken = false;
    } else {
      current += c;
      inToken = true;
    }
  }
  if (inToken) tokens.push(current);
  return tokens;
}

const DATA = new Set(['-d', '--data', '--data-raw', '--data-binary', '--data-ascii', '--data-urlencode']);
const METHOD = new Set(['-X', '--request']);
/** Options that take a value, which must be skipped rather than taken for the URL. */
const WITH_VALUE = new Set([
  '-H', '--header', '-A', '--user-agent', '-u', '--user', '-o', '--output', '-b', '--cookie', '-c', '--cookie-jar',
  '-e', '--referer', '-m', '--max-time', '--connect-timeout', '-w', '--write-out', '-x', '--proxy', '--resolve',
  '--cacert', '--cert', '--key', '-F', '--form', '-T', '--upload-file', '--retry', '-r', '--range', '--limit-rate',
  '--max-redirs', '--interface', '--connect-to', '-K', '--config', '--user-agent', '-E',
]);

/** Returns { method, url, body } (body undefined when there is no data). */
export function parseCurl(line) {
  const tokens = tokenize(line);
  if (tokens[0] === 'curl') tokens.shift();
  let method;
  let url;
  const data = [];
  const takeData = (option, value) => {
    if (value.startsWith('@') && option !== '--data-raw' && option !== '--data-urlencode') {
      const path = value.slice(1);
      let text = readFileSync(path === '-' ? 0 : path, 'utf8');
      if (option !== '--data-binary') text = text.replace(/[\r\n]/g, '');
      data.push(text);
    } else data.push(value);
  };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const eq = t.startsWith('--') ? t.indexOf('=') : -1;
    const name = eq === -1 ? t : t.slice(0, eq);
    const inline = eq === -1 ? undefined : t.slice(eq + 1);
    const next = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= tokens.length) throw new Error(`${name} needs a value in the curl command`);
      return tokens[++i];
    };
    if (METHOD.has(name)) method = next();
    else if (/^-X./.test(t)) method = t.slice(2);
    else if (DATA.has(name)) takeData(name, next());
    else if (/^-d./.test(t)) takeData('-d', t.slice(2));
    else if (name === '--url') url = next();
    else if (WITH_VALUE.has(name)) next();
    else if (name === '-G' || name === '--get') method = 'GET';
    else if (t.startsWith('-') && t !== '-') continue; // a flag without a value (-s, -v, -k, --compressed …)
    else if (url === undefined) url = t;
    else throw new Error(`unexpected argument in the curl command: ${t}`);
  }
  if (url === undefined) throw new Error('no URL in the curl command');
  const body = data.length > 0 ? data.join('&') : undefined;
  method = (method ?? (body !== undefined ? 'POST' : 'GET')).toUpperCase();
  return { method, url, body };
}

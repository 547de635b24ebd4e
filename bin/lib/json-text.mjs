// JSON read without re-encoding it: the gateway's pull answer splices each
// stored event in as it is (docs/delivery.md, "What your intranet receives"), and tail
// prints those bytes, never JSON.stringify of a parse (which would round a
// 20-digit number and rewrite escapes).

const WS = new Set([' ', '\t', '\n', '\r']);

function skip(text, i) {
  while (i < text.length && WS.has(text[i])) i++;
  return i;
}

/** The index just past the string starting at text[i] ('"'). */
function stringEnd(text, i) {
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') return j + 1;
  }
  throw new SyntaxError('unterminated string');
}

/** The index just past the value starting at text[i]. */
function valueEnd(text, i) {
  const c = text[i];
  if (c === '"') return stringEnd(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const d = text[j];
      if (d === '"') j = stringEnd(text, j) - 1;
      else if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new SyntaxError('unterminated object or array');
  }
  let j = i;
  while (j < text.length && !WS.has(text[j]) && text[j] !== ',' && text[j] !== ']' && text[j] !== '}') j++;
  if (j === i) throw new SyntaxError(`unexpected ${JSON.stringify(c)} at ${i}`);
  return j;
}

/**
 * The elements of the array under `key` in the top-level object `text`, each
 * exactly as written there; undefined when there is no such key. `text` must
 * be valid JSON (it is parsed first, so nothing here has to be lenient).
 */
export function arrayElementTexts(text, key) {
  const parsed = JSON.parse(text);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new SyntaxError('not a JSON object');
  let i = skip(text, 0) + 1; // past '{'
  for (;;) {
    i = skip(text, i);
    if (text[i] === '}') return undefined;
    const keyEnd = stringEnd(text, i);
    const name = JSON.parse(text.slice(i, keyEnd));
    i = skip(text, skip(text, keyEnd) + 1); // past ':'
    if (name === key && text[i] === '[') {
      const elements = [];
      i = skip(text, i + 1);
      while (text[i] !== ']') {
        const end = valueEnd(text, i);
        elements.push(text.slice(i, end));
        i = skip(text, end);
        if (text[i] === ',') i = skip(text, i + 1);
      }
      return elements;
    }
    i = skip(text, valueEnd(text, i));
    if (text[i] === ',') i++;
  }
}

const LITERALS = ['true', 'false', 'null'];
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPE = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/y;

/**
 * Where `text` stops being JSON, as JSON.parse reads it: undefined when it
 * is JSON, else { line, column, found } (line and column from 1; `found`
 * says what stands there: 'end of the text', a quoted ASCII character,
 * or U+XXXX). For messages that must not quote the text: V8's own
 * SyntaxError message quotes it (control characters and all), and no
 * longer always gives a position.
 */
export function jsonSyntaxError(text) {
  const n = text.length;
  const stack = [];
  let i = 0;
  let state = 'value'; // 'value' | 'key' | 'colon' | 'after'
  let emptyOk = false; // just past '{' or '[': the closer may follow at once
  const fail = (at) => ({ ...lineColumn(text, at), found: describeAt(text, at) });
  /** The index past the string at text[at] ('"'), or -1 - the index where it goes wrong. */
  const string = (at) => {
    for (let j = at + 1; j < n; ) {
      const c = text.charCodeAt(j);
      if (c === 0x22) return j + 1;
      if (c < 0x20) return -1 - j;
      if (c === 0x5c) {
        ESCAPE.lastIndex = j;
        if (!ESCAPE.test(text)) return -1 - j;
        j = ESCAPE.lastIndex;
      } else j++;
    }
    return -1 - n;
  };
  for (;;) {
    while (i < n && WS.has(text[i])) i++;
    const c = text[i];
    if (state === 'after') {
      if (stack.length === 0) return i < n ? fail(i) : undefined;
      const top = stack.at(-1);
      if (c === ',') {
        i++;
        state = top === '{' ? 'key' : 'value';
      } else if ((c === '}' && top === '{') || (c === ']' && top === '[')) {
        stack.pop();
        i++;
      } else return fail(i);
      continue;
    }
    if (state === 'colon') {
      if (c !== ':') return fail(i);
      i++;
      state = 'value';
      continue;
    }
    const closer = state === 'key' ? '}' : ']';
    if (emptyOk && c === closer) {
      stack.pop();
      i++;
      emptyOk = false;
      state = 'after';
      continue;
    }
    emptyOk = false;
    if (state === 'key') {
      if (c !== '"') return fail(i);
      const end = string(i);
      if (end < 0) return fail(-1 - end);
      i = end;
      state = 'colon';
      continue;
    }
    // A value.
    if (c === '{' || c === '[') {
      stack.push(c);
      i++;
      emptyOk = true;
      state = c === '{' ? 'key' : 'value';
      continue;
    }
    if (c === '"') {
      const end = string(i);
      if (end < 0) return fail(-1 - end);
      i = end;
    } else {
      const literal = LITERALS.find((word) => text.startsWith(word, i));
      NUMBER.lastIndex = i;
      if (literal !== undefined) i += literal.length;
      else if (NUMBER.test(text)) i = NUMBER.lastIndex;
      else return fail(c === '-' ? i + 1 : i);
    }
    state = 'after';
  }
}

function lineColumn(text, at) {
  const before = text.slice(0, at);
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: (before.match(/\n/g) ?? []).length + 1, column: at - lineStart + 1 };
}

function describeAt(text, at) {
  if (at >= text.length) return 'end of the text';
  const code = text.codePointAt(at);
  if (code > 0x20 && code < 0x7f) return `'${text[at]}'`;
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** "unexpected X at line L, column C", for a text that is not JSON (see jsonSyntaxError), or undefined when it is. */
export function jsonProblem(text) {
  const where = jsonSyntaxError(text);
  return where && `unexpected ${where.found} at line ${where.line}, column ${where.column}`;
}

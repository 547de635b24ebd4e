// JSON read without re-encoding it: the gateway's pull answer splices each
// stored event in as it is (README, "the only copy of the truth"), and tail
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

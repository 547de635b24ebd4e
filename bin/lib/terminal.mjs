// What the CLI writes, made safe for a terminal (docs/cli.md, "Terminal safety").
//
// Text from outside (event bodies, decrypted plaintext, the gateway's error
// messages, ids and reasons, a captured body) may hold bytes that a terminal
// obeys: ESC and BEL start escape sequences (a title change, an OSC 52
// clipboard write, a clear screen), and so do the C1 controls U+0080-U+009F
// on their own (U+009B is CSI, U+009D is OSC), which JSON does not escape.
// Bidi overrides and isolates reorder what is shown. Each of them is written
// as a visible escape instead: \u009b, \u001b, \u202e; \n, \r and \t as \n,
// \r, \t. Backslashes are left alone, so JSON text stays the same JSON: the
// escapes only ever stand inside its strings.
//
// Two levels:
// - a stream that escapes (see `terminalOutput`) escapes everything it is
//   given but line breaks and tabs, which are the CLI's own layout (and the
//   line breaks of a block shown whole, such as diagnose's plaintext);
// - `oneLine` is for outside text shown inside one line (an id, a reason, a
//   message): its line breaks, carriage returns and tabs are made visible
//   too, always, so that it can never forge a line of the CLI's own.

/** What a terminal must never receive from outside: C0 (but \t and \n, when they are layout), DEL, C1, bidi overrides and isolates. */
const UNSAFE_KEEPING_LAYOUT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_IN_LINE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const NAMED = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

const visible = (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** `text` with every control character, DEL and bidi override escaped, but line breaks and tabs (layout). */
export function escapeControls(text) {
  return String(text).replace(UNSAFE_KEEPING_LAYOUT, visible);
}

/** `text` for inside one line: also its line breaks, carriage returns and tabs escaped. Used whatever the mode. */
export function oneLine(text) {
  return String(text).replace(UNSAFE_IN_LINE, visible);
}

/**
 * Whether each of the process's streams is a terminal. WECOM_EDGE_TTY=1
 * treats both as terminals, 0 as neither (tests, and `tail | tee` users who
 * want tail's output escaped anyway).
 */
export function streamsAreTerminals(env = process.env, streams = process) {
  const forced = env.WECOM_EDGE_TTY;
  if (forced === '1') return { stdout: true, stderr: true };
  if (forced === '0') return { stdout: false, stderr: false };
  return { stdout: streams.stdout?.isTTY === true, stderr: streams.stderr?.isTTY === true };
}

/**
 * The writer a command uses: { stdout(text), stderr(text), escaping: { stdout, stderr } }.
 *
 * `out` is { stdout(text), stderr(text), isTTY?: { stdout, stderr } }.
 * `stdout`: "always" escapes stdout whatever it is (simulate and diagnose,
 * whose output is a report for people), "terminal" only when it is a
 * terminal (tail, whose output into a pipe or file is the events' bytes).
 * stderr is always escaped: it is for people. `raw` (--raw) turns all
 * escaping off.
 */
export function terminalOutput(out, { stdout = 'always', raw = false } = {}) {
  const escapeStdout = !raw && (stdout === 'always' || out.isTTY?.stdout === true);
  const escapeStderr = !raw;
  return {
    stdout: (text) => out.stdout(escapeStdout ? escapeControls(text) : text),
    stderr: (text) => out.stderr(escapeStderr ? escapeControls(text) : text),
    escaping: { stdout: escapeStdout, stderr: escapeStderr },
  };
}

/**
 * What workerd (and vite) print while the vitest suite passes, because a
 * test did something on purpose: a fetch to a port where nothing listens, a
 * Durable Object crashed mid-push, a bearer token in Chinese. These lines
 * bypass `console` (workerd writes them to its own stderr, and the pool
 * copies them to ours), so test/support/quiet.ts cannot see them; this
 * filter, installed by vitest.config.ts on the test process's stdout and
 * stderr, leaves out exactly these lines and nothing else. Each entry says
 * which test causes it. At the end one line says how many were left out;
 * WECOM_EDGE_NOISE=1 shows them all (docs/development.md, "Tests and scripts").
 *
 * A line that differs in any way (another error, another source location
 * after a workerd upgrade, more text) is not known, and prints.
 */

export interface KnownNoise {
  /** The whole line, exactly; a RegExp only where a line holds a time or an id, anchored at both ends. */
  readonly line: string | RegExp;
  /** workerd follows the line with `stack: <addresses>`, which goes with it. */
  readonly stack?: true;
  /** Which test causes it, and why it is harmless. */
  readonly why: string;
}

/** The header warning workerd prints for a non-ASCII header value (raw bytes as \xNN, lower case). */
function nonAsciiHeaderWarning(name: string, value: string): string {
  const raw = [...new TextEncoder().encode(value)].map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("");
  return (
    `A header value for "${name}" contains non-ASCII characters: "${value}" (raw bytes: "${raw}"). ` +
    "As a quirk to support Unicode, we are encoding values as UTF-8 in the header, but in a browser this would likely result in a TypeError exception. " +
    "Consider encoding this string in ASCII for compatibility with browser implementations of the Fetch specification."
  );
}

export const KNOWN_NOISE: readonly KnownNoise[] = [
  {
    line: "exception = rust/worker/ffi.rs:110: disconnected: Connection refused (os error 111)",
    stack: true,
    why: 'test/alerts/outbox.test.ts, "never names the robot\'s URL or key when the robot cannot be reached at all": a POST to 127.0.0.1:1, where nothing listens',
  },
  {
    line: "uncaught exception; source = Uncaught (in promise); stack = Error: Network connection lost.",
    why: "the same POST: workerd reports the request body it could not send, although the fetch's own rejection is caught (src/webhook/post.ts)",
  },
  {
    line: "uncaught exception; exception = workerd/jsg/value.h:1535: disconnected: jsg.Error: Network connection lost.",
    stack: true,
    why: "the same POST, the same report in workerd's words",
  },
  {
    line: "exception = workerd/api/unsafe.c++:218: failed: jsg.Error: Application called abortAllDurableObjects().",
    stack: true,
    why: 'test/queue/push.test.ts, "loses nothing when the Durable Object crashes mid-delivery": the test crashes the objects on purpose',
  },
  {
    line: /^NOSENTRY SQLite alarm handler canceled with requestScheduledAlarm\.; scheduledTime = \d+(?:\.\d+)?(?:ns|us|ms|s); localAlarmState\.orDefault\(kj::UNIX_EPOCH\) = \d+(?:\.\d+)?(?:ns|us|ms|s); actorId = [0-9a-f]{64}$/,
    why: "tests that run a queue's alarm by hand (runDurableObjectAlarm) while the queue sets its next one: workerd notes that it replaced the alarm",
  },
  {
    line: nonAsciiHeaderWarning("authorization", `Bearer ${"令牌".repeat(10)}`),
    why: 'test/routes/admin.test.ts sends a Chinese bearer token to check that the admin API refuses it',
  },
  {
    line: /^Sourcemap for "[^"\n]*\/node_modules\/standardwebhooks\/dist\/index\.js" points to missing source files$/,
    why: "vite, loading the standardwebhooks package the tests verify pushes with: its published source map names files it does not ship",
  },
];

/** workerd's `stack:` line: code addresses only, as `stack: /path/workerd@3a4d9d0 …`. */
const STACK_LINE = /^stack:(?: \S+@[0-9a-f]+)+$/;

/** The entry a whole line (without its line break) is, if any. */
export function knownNoise(line: string): KnownNoise | undefined {
  return KNOWN_NOISE.find((entry) => (typeof entry.line === "string" ? entry.line === line : entry.line.test(line)));
}

/**
 * A filter over a stream of text: feed it each chunk written, it answers what
 * to write on. Known lines, and the stack line right after one that has it,
 * are left out; everything else goes through unchanged and at once. Only
 * whole lines are judged: text after the last line break of a chunk goes
 * on as it is, and so does the rest of its line in the next chunk (workerd's
 * lines come whole, one write each).
 */
export class NoiseFilter {
  /** Lines left out so far. */
  dropped = 0;
  /** The last chunk ended inside a line. */
  private midLine = false;
  private stackMayFollow = false;

  write(chunk: string): string {
    const lines = chunk.split("\n");
    const rest = lines.pop()!;
    let out = "";
    for (const [i, line] of lines.entries()) {
      if (i === 0 && this.midLine) {
        // The end of a line that began in an earlier chunk: not judged.
        this.stackMayFollow = false;
        out += `${line}\n`;
      } else if (this.keep(line)) {
        out += `${line}\n`;
      }
    }
    if (chunk !== "") this.midLine = rest !== "";
    if (rest !== "") this.stackMayFollow = false;
    return out + rest;
  }

  private keep(line: string): boolean {
    if (this.stackMayFollow && STACK_LINE.test(line)) {
      this.stackMayFollow = false;
      this.dropped++;
      return false;
    }
    const entry = knownNoise(line);
    this.stackMayFollow = entry?.stack === true;
    if (entry === undefined) return true;
    this.dropped++;
    return false;
  }
}

interface Writable {
  write(chunk: unknown, ...rest: unknown[]): boolean;
}

/**
 * Puts a NoiseFilter in front of `stream.write` (text chunks only; other
 * writes go through untouched). Answers the filter, for its count.
 */
export function filterStream(stream: Writable): NoiseFilter {
  const filter = new NoiseFilter();
  const write = stream.write.bind(stream);
  stream.write = (chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk !== "string") return write(chunk, ...rest);
    const kept = filter.write(chunk);
    if (kept !== "") return write(kept, ...rest);
    // Nothing to write: still honour the callback, as write would.
    const callback = rest.find((arg): arg is () => void => typeof arg === "function");
    if (callback) queueMicrotask(callback);
    return true;
  };
  return filter;
}

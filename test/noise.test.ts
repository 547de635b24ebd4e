/**
 * The filter of test/support/noise.ts leaves out the lines listed there, as
 * workerd prints them, and nothing else: a real failure still shows.
 */
import { describe, expect, it } from "vitest";
import { filterStream, KNOWN_NOISE, knownNoise, NoiseFilter } from "./support/noise.js";

const STACK_3 =
  "stack: /work/main/node_modules/@cloudflare/workerd-linux-64/bin/workerd@28a3c60 /work/main/node_modules/@cloudflare/workerd-linux-64/bin/workerd@3ac7580 /work/main/node_modules/@cloudflare/workerd-linux-64/bin/workerd@3692230";
const STACK_2 = "stack: /work/main/node_modules/@cloudflare/workerd-linux-64/bin/workerd@284dcb4 /work/main/node_modules/@cloudflare/workerd-linux-64/bin/workerd@2858c0d";

/** Verbatim from a passing run of the suite (npx vitest run, WECOM_EDGE_NOISE=1). */
const SEEN = [
  "exception = rust/worker/ffi.rs:110: disconnected: Connection refused (os error 111)",
  STACK_3,
  "uncaught exception; source = Uncaught (in promise); stack = Error: Network connection lost.",
  "uncaught exception; exception = workerd/jsg/value.h:1535: disconnected: jsg.Error: Network connection lost.",
  STACK_3,
  "exception = workerd/api/unsafe.c++:218: failed: jsg.Error: Application called abortAllDurableObjects().",
  STACK_2,
  "NOSENTRY SQLite alarm handler canceled with requestScheduledAlarm.; scheduledTime = 1796540305.824s; localAlarmState.orDefault(kj::UNIX_EPOCH) = 0ns; actorId = 51d2d6831878efe9c5659b93f88596af82dcbfa006ba5105f2d71247e02af374",
  "NOSENTRY SQLite alarm handler canceled with requestScheduledAlarm.; scheduledTime = 1796540338.84s; localAlarmState.orDefault(kj::UNIX_EPOCH) = 1796540344.846s; actorId = 0307a38c4a1210ff5150efc7837ceacd8c5e9c7a55c57327fec91f95ecaa2fa3",
  'A header value for "authorization" contains non-ASCII characters: "Bearer 令牌令牌令牌令牌令牌令牌令牌令牌令牌令牌" (raw bytes: "\\x42\\x65\\x61\\x72\\x65\\x72\\x20\\xe4\\xbb\\xa4\\xe7\\x89\\x8c\\xe4\\xbb\\xa4\\xe7\\x89\\x8c\\xe4\\xbb\\xa4\\xe7\\x89\\x8c\\xe4\\xbb\\xa4\\xe7\\x89\\x8c\\xe4\\xbb\\xa4\\xe7\\x89\\x8c\\xe4\\xbb\\xa4\\xe7\\x89\\x8c\\xe4\\xbb\\xa4\\xe7\\x89\\x8c\\xe4\\xbb\\xa4\\xe7\\x89\\x8c\\xe4\\xbb\\xa4\\xe7\\x89\\x8c\\xe4\\xbb\\xa4\\xe7\\x89\\x8c"). As a quirk to support Unicode, we are encoding values as UTF-8 in the header, but in a browser this would likely result in a TypeError exception. Consider encoding this string in ASCII for compatibility with browser implementations of the Fetch specification.',
  'Sourcemap for "/work/main/node_modules/standardwebhooks/dist/index.js" points to missing source files',
];

/** Lines close to the known ones that are not them: each must print. */
const NEAR_MISSES = [
  // Another refused connection, another source location, more text, less text.
  "exception = rust/worker/ffi.rs:110: disconnected: Connection refused (os error 113)",
  "exception = rust/worker/ffi.rs:111: disconnected: Connection refused (os error 111)",
  "exception = rust/worker/ffi.rs:110: disconnected: Connection refused (os error 111) while pushing",
  " exception = rust/worker/ffi.rs:110: disconnected: Connection refused (os error 111)",
  "disconnected: Connection refused (os error 111)",
  // An uncaught error of the Worker's own.
  "uncaught exception; source = Uncaught (in promise); stack = Error: Network connection lost. at pushBatch (src/queue/push.ts:80)",
  "uncaught exception; source = Uncaught (in promise); stack = TypeError: Cannot read properties of undefined (reading 'id')",
  "uncaught exception; source = Uncaught; stack = Error: Network connection lost.",
  "exception = workerd/api/unsafe.c++:218: failed: jsg.Error: Application called abortAllDurableObjects(). And then something else",
  "exception = workerd/io/io-context.c++:1200: failed: jsg.Error: The Durable Object's code has been updated",
  // The alarm note with something that is not a time or an id in it.
  "NOSENTRY SQLite alarm handler canceled with requestScheduledAlarm.; scheduledTime = soon; localAlarmState.orDefault(kj::UNIX_EPOCH) = 0ns; actorId = 51d2d6831878efe9c5659b93f88596af82dcbfa006ba5105f2d71247e02af374",
  "NOSENTRY SQLite alarm handler failed; actorId = 51d2d6831878efe9c5659b93f88596af82dcbfa006ba5105f2d71247e02af374",
  // Another header, another value.
  'A header value for "authorization" contains non-ASCII characters: "Bearer 令牌" (raw bytes: "\\x42\\x65\\x61\\x72\\x65\\x72\\x20\\xe4\\xbb\\xa4\\xe7\\x89\\x8c"). As a quirk to support Unicode, we are encoding values as UTF-8 in the header, but in a browser this would likely result in a TypeError exception. Consider encoding this string in ASCII for compatibility with browser implementations of the Fetch specification.',
  'Sourcemap for "/work/main/node_modules/fast-xml-parser/lib/fxp.cjs" points to missing source files',
  // What vitest prints for a failure.
  " FAIL  test/queue/push.test.ts > push delivery from the queue > honours Retry-After",
  "AssertionError: expected 503 to be 200 // Object.is equality",
  "Error: Network connection lost.",
  "",
];

describe("the noise filter (test/support/noise.ts)", () => {
  it("knows each listed line as workerd prints it", () => {
    for (const line of SEEN.filter((l) => !l.startsWith("stack:"))) expect(knownNoise(line), line).toBeDefined();
    // Every entry was seen: none is there for nothing.
    expect(KNOWN_NOISE.map((entry) => SEEN.some((line) => knownNoise(line) === entry))).toEqual(KNOWN_NOISE.map(() => true));
  });

  it("knows nothing else", () => {
    for (const line of NEAR_MISSES) expect(knownNoise(line), line).toBeUndefined();
    // A stack line on its own is not known either: only one right after a known line goes.
    expect(knownNoise(STACK_3)).toBeUndefined();
  });

  it("drops exactly the known lines and their stack lines from a stream, and passes the rest unchanged", () => {
    const filter = new NoiseFilter();
    const input = [
      " RUN  v4.1.12 /work/main\n",
      // workerd's lines come one write each, a stack line with its exception or right after it.
      `${SEEN[0]}\n${SEEN[1]}\n`,
      `${SEEN[2]}\n`,
      `${SEEN[3]}\n`,
      `${SEEN[4]}\n`,
      "AssertionError: expected 503 to be 200 // Object.is equality\n",
      // A stack line after a line that is not known stays.
      `exception = rust/worker/ffi.rs:110: disconnected: Connection reset by peer\n${STACK_3}\n`,
      `${SEEN[5]}\n${SEEN[6]}\n${SEEN[7]}\n${SEEN[8]}\n${SEEN[9]}\n${SEEN[10]}\n`,
      // A known line after a line whose start came in an earlier write is part of that line: kept.
      "progress: ",
      `${SEEN[2]}\n`,
      // A known line split over writes is not judged (workerd never splits one): kept.
      "uncaught exception; source = Uncaught (in promise); ",
      "stack = Error: Network connection lost.\n",
      " Test Files  33 passed (33)\n",
    ];
    const output = input.map((chunk) => filter.write(chunk)).join("");
    expect(output).toBe(
      [
        " RUN  v4.1.12 /work/main",
        "AssertionError: expected 503 to be 200 // Object.is equality",
        "exception = rust/worker/ffi.rs:110: disconnected: Connection reset by peer",
        STACK_3,
        `progress: ${SEEN[2]}`,
        "uncaught exception; source = Uncaught (in promise); stack = Error: Network connection lost.",
        " Test Files  33 passed (33)",
        "",
      ].join("\n"),
    );
    expect(filter.dropped).toBe(SEEN.length);
  });

  it("passes every near miss through a stream unchanged", () => {
    const filter = new NoiseFilter();
    const text = NEAR_MISSES.map((line) => `${line}\n`).join("");
    expect(filter.write(text)).toBe(text);
    expect(filter.dropped).toBe(0);
  });

  it("wraps a stream's write: strings are filtered, anything else goes through, callbacks are called", async () => {
    const written: unknown[] = [];
    const stream = { write: (chunk: unknown, ..._rest: unknown[]) => (written.push(chunk), true) };
    const filter = filterStream(stream);
    const bytes = new TextEncoder().encode(`${SEEN[2]}\n`);
    let called = false;
    expect(stream.write(`${SEEN[2]}\n`, () => (called = true))).toBe(true);
    expect(stream.write("kept\n")).toBe(true);
    expect(stream.write(bytes)).toBe(true);
    await Promise.resolve();
    expect(called).toBe(true);
    expect(written).toEqual(["kept\n", bytes]);
    expect(filter.dropped).toBe(1);
  });
});

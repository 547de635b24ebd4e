#!/usr/bin/env node
// bench/ab.mjs — an A/B comparison of one phase, POST push (commit + push +
// delete), between two or more builds of the gateway, measured as
// `npm run bench` measures it (bench/run.mjs): wrangler's bundle served by
// workerd, distinct callbacks from this process, CPU from /proc/<pid>/stat,
// above the floor Worker's. Every variant runs in its own workerd, side by
// side; rounds take turns (the order rotates each round), so a slow spell of
// the machine touches every variant, and each figure is a median of rounds.
//
//   node bench/ab.mjs [--rounds N] [--posts N] [--callgrind] [--keep] NAME=DIR[,VAR=VALUE…][,+MODE…] …
//     NAME=DIR      a variant: the project root at DIR (its wrangler.toml and
//                   src/), with extra Worker variables after commas;
//                   none given: "here" = this checkout
//     +tail         a tail Worker gets each request's trace (console lines
//                   included), as Workers Logs and `wrangler tail` do
//     +inspector    workerd runs with --inspector-addr, no client attached
//     +devtools     the same with a client attached that enabled Runtime,
//                   as `wrangler dev` does: every console line goes to it
//     +perf         V8 writes /tmp/perf-<pid>.map (--perf-basic-prof) and
//                   `perf record -g` samples this workerd through the measured
//                   rounds, into <tmp>/NAME.perf.data (use --keep; read it
//                   with `perf report -i …`)
//     +strace       `strace -c -f` counts this workerd's system calls through
//                   the measured rounds, into <tmp>/NAME.strace (use --keep);
//                   it slows every call down, so its CPU figures mean little
//     --rounds N    rounds per variant (default 7)
//     --posts N     callbacks per variant and round (default 1000)
//     --warm N      unmeasured callbacks per server first (default 1000)
//     --callgrind   count instructions instead of CPU time: every workerd runs
//                   under `valgrind --tool=callgrind`, counters zeroed before
//                   a round and dumped after it (callgrind_control). Blind to
//                   neighbours on the machine, so small differences show; but
//                   50–100× slower (try --rounds 3 --posts 200), and valgrind
//                   runs one thread at a time, so push batches grow larger
//                   than at full speed. The dumps are kept with --keep, for
//                   callgrind_annotate.
//     --keep        keep the temporary directory (bundles, logs, storage)
//
// e.g. two copies of the tree, one with a change:
//   git archive HEAD | tar -x -C /tmp/a && ln -s "$PWD/node_modules" /tmp/a/
//   node bench/ab.mjs before=/tmp/a after=.
//
// Besides CPU it reports callbacks/s (callbacks ÷ the wall time from the
// first request to the last push received by the sink, 20 in flight) and the
// bytes workerd wrote to its stdout and stderr per callback (the log lines).
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { bundle, readWranglerConfig } from "./build.mjs";
import { percentile, runLoad } from "./load.mjs";
import { CLK_TCK, cpuMs, freePort, settle, start, stop, stopAll, waitForHttp } from "./processes.mjs";
import { appConfig, newApp, newWebhookSecret, postRequest } from "./wecom.mjs";
import { supportedDate, workerdConfig } from "./workerd-config.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const CONCURRENCY = 20;

function parseArgs(argv) {
  const options = { rounds: 7, posts: 1000, warm: 1000, keep: false, callgrind: false, variants: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--keep") options.keep = true;
    else if (a === "--callgrind") options.callgrind = true;
    else if (a === "--rounds" || a === "--posts" || a === "--warm") {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a} needs a positive whole number`);
      options[a.slice(2)] = n;
    } else if (/^[\w-]+=/.test(a)) {
      const [name, rest] = [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)];
      const [dir, ...items] = rest.split(",");
      const modes = new Set(items.filter((v) => v.startsWith("+")).map((v) => v.slice(1)));
      for (const mode of modes) if (!["tail", "inspector", "devtools", "perf", "strace"].includes(mode)) throw new Error(`${a}: unknown mode +${mode}`);
      const text = Object.fromEntries(
        items.filter((v) => !v.startsWith("+")).map((v) => {
          if (!v.includes("=")) throw new Error(`${a}: ${v} is not VAR=VALUE`);
          return [v.slice(0, v.indexOf("=")), v.slice(v.indexOf("=") + 1)];
        }),
      );
      if (!existsSync(join(resolve(dir), "wrangler.toml"))) throw new Error(`${a}: no wrangler.toml in ${resolve(dir)}`);
      options.variants.push({ name, dir: resolve(dir), text, modes });
    } else throw new Error(`unknown argument ${a}; see the header of bench/ab.mjs`);
  }
  if (options.variants.length === 0) options.variants.push({ name: "here", dir: root, text: {}, modes: new Set() });
  if (new Set(options.variants.map((v) => v.name)).size !== options.variants.length) throw new Error("variant names must differ");
  return options;
}

const options = parseArgs(process.argv.slice(2));
const localNode = join(root, "node_modules", ".bin", "node");
const nodeBin = existsSync(localNode) ? localNode : process.execPath;
const childEnv = { ...process.env, PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH ?? ""}` };
const { default: workerdBin, compatibilityDate: workerdNewestDate } = require("workerd");
const tmp = mkdtempSync(join(tmpdir(), "wecom-edge-ab-"));
const log = (...a) => console.log(...a);

const TAIL_WORKER = "export default { tail(events) { globalThis.traces = (globalThis.traces ?? 0) + events.length; } };\n";

async function startWorkerd(name, modules, { wrangler, text, compatibilityDate }, modes = new Set()) {
  let tailModule;
  if (modes.has("tail")) {
    tailModule = `${name}-tail.js`;
    writeFileSync(join(tmp, tailModule), TAIL_WORKER);
  }
  const inspectorPort = modes.has("inspector") || modes.has("devtools") ? await freePort() : undefined;
  const storage = mkdtempSync(join(tmp, `${name}-storage-`));
  const port = await freePort();
  const configPath = join(tmp, `${name}.capnp`);
  writeFileSync(
    configPath,
    workerdConfig({
      modules,
      compatibilityDate,
      compatibilityFlags: wrangler.compatibilityFlags,
      text,
      durableObjects: wrangler.durableObjects,
      storageDir: relative(tmp, storage),
      port,
      tailModule,
      v8Flags: modes.has("perf") ? ["--perf-basic-prof"] : [],
    }),
  );
  const logPath = join(tmp, `${name}.log`);
  const inspector = inspectorPort === undefined ? [] : ["--inspector-addr", `127.0.0.1:${inspectorPort}`];
  const serve = [workerdBin, "serve", ...inspector, configPath];
  const proc = options.callgrind
    ? start(name, "valgrind", ["--tool=callgrind", "--smc-check=all-non-file", `--callgrind-out-file=${join(tmp, `${name}.callgrind`)}`, ...serve], { cwd: tmp, env: childEnv, logFile: logPath })
    : start(name, serve[0], serve.slice(1), { cwd: tmp, env: childEnv, logFile: logPath });
  const url = `http://127.0.0.1:${port}`;
  if (!(await waitForHttp(`${url}/healthz`, proc, options.callgrind ? 300_000 : 30_000))) throw new Error(`${name} (workerd) did not start; log: ${logPath}\n${readFileSync(logPath, "utf8").slice(0, 2000)}`);
  const server = { proc, url, logPath, consoleCalls: 0 };
  if (modes.has("devtools")) await attachDevtools(server, inspectorPort);
  return server;
}

/** A DevTools client on the Worker's inspector, Runtime enabled (as `wrangler dev` attaches); counts the console calls it is sent. */
async function attachDevtools(server, port) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const target = targets.find((t) => /main/.test(t.id ?? t.title ?? "")) ?? targets[0];
  if (!target) throw new Error(`${server.proc.name}: the inspector lists no target`);
  const socket = new WebSocket(target.webSocketDebuggerUrl ?? `ws://127.0.0.1:${port}/${target.id}`);
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", () => reject(new Error(`${server.proc.name}: the inspector's WebSocket failed`)), { once: true });
  });
  socket.addEventListener("message", (message) => {
    if (String(message.data).includes('"Runtime.consoleAPICalled"')) server.consoleCalls++;
  });
  socket.send(JSON.stringify({ id: 1, method: "Runtime.enable" }));
  server.devtools = socket;
}

async function untilSinkHas(sinkUrl, path, total, maxMs = 180_000) {
  const t0 = Date.now();
  while (Date.now() - t0 < maxMs) {
    const counts = await (await fetch(`${sinkUrl}/__counts`)).json();
    if ((counts[path] ?? 0) >= total) return;
    await sleep(10);
  }
  throw new Error(`the sink did not get ${total} pushes on ${path} within ${maxMs / 1000} s`);
}

/** callgrind_control on a server: `-z` zeroes its counters, `-d` dumps them (to <name>.callgrind.<n>). */
function callgrindControl(server, flag) {
  execFileSync("callgrind_control", [flag, String(server.proc.pid)], { stdio: "ignore" });
}

/** Instructions executed since the last zeroing: the newest dump's "totals" (or "summary") line. */
function lastDumpInstructions(server) {
  const prefix = `${server.proc.name}.callgrind.`;
  const dumps = readdirSync(tmp).filter((f) => f.startsWith(prefix)).sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length)));
  const text = readFileSync(join(tmp, dumps.at(-1)), "utf8");
  const total = /^(?:totals|summary): (\d+)/m.exec(text);
  if (!total) throw new Error(`${dumps.at(-1)} has no totals line`);
  return Number(total[1]);
}

/** One round against one server: CPU per request (ms; with --callgrind, instructions) and requests per wall second, idle before and after. */
async function measure(server, requests, drain) {
  if (!(await settle(server.proc.pid))) log(`  warning: ${server.proc.name} was not idle before its round`);
  if (options.callgrind) callgrindControl(server, "-z");
  const before = cpuMs(server.proc.pid);
  const logBytes = statSync(server.logPath).size;
  const wall0 = process.hrtime.bigint();
  const load = await runLoad(server.url, requests, { concurrency: CONCURRENCY });
  if (drain) await drain();
  const wallMs = Number(process.hrtime.bigint() - wall0) / 1e6;
  if (!(await settle(server.proc.pid))) log(`  warning: ${server.proc.name} was not idle after its round`);
  if (load.failures.length) throw new Error(`${server.proc.name}: ${load.failures.length} failed, e.g. ${load.failures[0].why}: ${load.failures[0].body}`);
  const n = requests.length;
  if (options.callgrind) callgrindControl(server, "-d");
  return {
    cpu: options.callgrind ? lastDumpInstructions(server) / n : (cpuMs(server.proc.pid) - before) / n,
    rate: n / (wallMs / 1000),
    p50: percentile(load.latencies, 50),
    logBytes: (statSync(server.logPath).size - logBytes) / n,
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const summary = (xs, digits) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;

async function main() {
  const { rounds, posts, variants } = options;
  log(`bench/ab.mjs: POST push, ${variants.length} variants × ${rounds} rounds × ${posts} callbacks; temporary files in ${tmp}`);
  const sink = start("sink", nodeBin, [join(root, "bench", "sink.mjs")], { cwd: root, env: childEnv, logFile: join(tmp, "sink.log"), readyLine: true });
  const sinkUrl = `http://127.0.0.1:${(await sink.ready).port}`;

  const servers = [];
  for (const variant of variants) {
    const outdir = join(tmp, `bundle-${variant.name}`);
    log(`building ${variant.name} (${variant.dir})`);
    const modules = (await bundle({ root: variant.dir, outdir, env: childEnv, attempts: 1, log })).map((m) => ({ ...m, path: relative(tmp, m.path) }));
    const wrangler = await readWranglerConfig(variant.dir);
    const compatibilityDate = supportedDate(wrangler.compatibilityDate, workerdNewestDate);
    const app = newApp("bench_push", { webhook: { url: `${sinkUrl}/hook/${variant.name}`, secret: newWebhookSecret() } });
    const text = {
      ...wrangler.vars,
      WECOM_MAX_SKEW_SECONDS: "0",
      WECOM_APPS: JSON.stringify({ [app.name]: appConfig(app) }),
      ADMIN_TOKEN: "a".repeat(40),
      ...variant.text,
    };
    const server = await startWorkerd(variant.name, modules, { wrangler, text, compatibilityDate }, variant.modes);
    let expected = 0;
    const batch = (n) => {
      expected += n;
      const total = expected;
      return { requests: Array.from({ length: n }, () => postRequest(app)), drain: () => untilSinkHas(sinkUrl, `/hook/${variant.name}`, total) };
    };
    servers.push({ variant, server, batch, results: [], settings: { wrangler, compatibilityDate } });
  }
  mkdirSync(join(tmp, "floor"));
  const floorSource = readFileSync(join(root, "bench", "floor-worker.mjs"), "utf8");
  const { wrangler, compatibilityDate } = servers[0].settings;
  const missing = wrangler.durableObjects.map((d) => d.className).filter((c) => !new RegExp(`export class ${c}\\b`).test(floorSource));
  writeFileSync(join(tmp, "floor", "index.js"), floorSource + missing.map((c) => `export class ${c} extends DurableObject {}\n`).join(""));
  const floor = await startWorkerd("floor", [{ name: "index.js", path: "floor/index.js", type: "esModule" }], { wrangler, text: {}, compatibilityDate });
  const floorApp = newApp("bench_push", {});
  const floorRequests = (n) => Array.from({ length: n }, () => ({ ...postRequest(floorApp), expect: { status: 200, body: "success" } }));

  log("warming up (unmeasured)");
  for (const s of servers) {
    const warm = s.batch(options.warm);
    const load = await runLoad(s.server.url, warm.requests, { concurrency: CONCURRENCY });
    if (load.failures.length) throw new Error(`warm-up of ${s.variant.name}: ${load.failures[0].why}: ${load.failures[0].body}`);
    await warm.drain();
  }
  await runLoad(floor.url, floorRequests(options.warm), { concurrency: CONCURRENCY });

  // With --callgrind the figure is thousands of instructions (kIr) per callback, not CPU ms.
  const unit = options.callgrind ? { name: "kIr", scale: 1 / 1000, digits: 0 } : { name: "ms", scale: 1, digits: 3 };
  const fmt = (x) => (x * unit.scale).toFixed(unit.digits);
  const tracers = servers.flatMap((s) => {
    const pid = String(s.server.proc.pid);
    const out = (ext) => join(tmp, `${s.variant.name}.${ext}`);
    const logFile = out("tracer.log");
    return [
      ...(s.variant.modes.has("perf") ? [start(`${s.variant.name}-perf`, "perf", ["record", "-F", "999", "-g", "-p", pid, "-o", out("perf.data")], { cwd: tmp, logFile })] : []),
      ...(s.variant.modes.has("strace") ? [start(`${s.variant.name}-strace`, "strace", ["-c", "-f", "-p", pid, "-o", out("strace")], { cwd: tmp, logFile })] : []),
    ];
  });
  if (tracers.length) await sleep(1000); // both attach to the running process: give them a moment
  const floorResults = [];
  for (let round = 0; round < rounds; round++) {
    const order = servers.map((_, i) => servers[(i + round) % servers.length]);
    const line = [];
    for (const s of order) {
      const b = s.batch(posts);
      const r = await measure(s.server, b.requests, b.drain);
      s.results.push(r);
      line.push(`${s.variant.name} ${fmt(r.cpu)} ${unit.name} ${r.rate.toFixed(0)}/s`);
    }
    const f = await measure(floor, floorRequests(posts));
    floorResults.push(f);
    log(`round ${round + 1}/${rounds}: ${line.join(" · ")} · floor ${fmt(f.cpu)} ${unit.name}`);
  }

  for (const t of tracers) {
    t.child.kill("SIGINT"); // perf and strace write their files on SIGINT
    await t.exit;
  }
  const floorCpu = median(floorResults.map((r) => r.cpu));
  const spread = (xs) => `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
  const what = options.callgrind ? "instructions (kIr)" : "CPU ms";
  log("");
  log(
    `${what} per callback: median of ${rounds} rounds (lowest–highest)` +
      (options.callgrind ? "" : `; tick ${(1000 / CLK_TCK).toFixed(0)} ms ÷ ${posts} = ±${(1000 / CLK_TCK / posts).toFixed(3)} per round`),
  );
  log(`floor POST: ${spread(floorResults.map((r) => r.cpu))}`);
  log(`${"variant".padEnd(14)} ${`${what}/callback`.padEnd(26)} ${"above floor".padEnd(12)} ${"callbacks/s".padEnd(16)} ${"p50 ms".padEnd(16)} log bytes/callback`);
  for (const s of servers) {
    const cpu = s.results.map((r) => r.cpu);
    log(
      `${s.variant.name.padEnd(14)} ${spread(cpu).padEnd(26)} ${fmt(median(cpu) - floorCpu).padEnd(12)} ` +
        `${summary(s.results.map((r) => r.rate), 0).padEnd(16)} ${summary(s.results.map((r) => r.p50), 1).padEnd(16)} ${median(s.results.map((r) => r.logBytes)).toFixed(0)}` +
        (s.server.devtools ? `  (DevTools got ${s.server.consoleCalls} console calls)` : ""),
    );
  }
  // Neighbours on the machine slow whole rounds down: the difference within each round is steadier.
  const [first, ...others] = servers;
  for (const s of others) {
    const diffs = s.results.map((r, i) => r.cpu - first.results[i].cpu);
    log(`${s.variant.name} − ${first.variant.name}, per round: median ${fmt(median(diffs))} ${unit.name} (${fmt(Math.min(...diffs))}–${fmt(Math.max(...diffs))})`);
  }
  for (const s of servers) s.server.devtools?.close();
}

try {
  await main();
} catch (error) {
  console.error(`\nbench/ab.mjs failed: ${error instanceof Error ? error.stack : error}\nlogs are in ${tmp} (kept)`);
  process.exitCode = 1;
} finally {
  await stopAll();
  if (!options.keep && process.exitCode !== 1) rmSync(tmp, { recursive: true, force: true });
}

#!/usr/bin/env node
// bench/run.mjs — `npm run bench`: CPU per callback of wecom-edge as deployed
// (wrangler's bundle in workerd, SQLite Durable Object queue, real webhook),
// above a trivial Worker's floor, next to the same job in plain Node.
//
//   node bench/run.mjs [--write] [--quick] [--keep]
//     --write   rewrite BENCHMARKS.md and docs/benchmarks.svg (npm run bench passes it)
//     --quick   a tenth of the requests: a smoke run, too coarse to quote
//     --keep    keep the temporary directory (bundle, capnp config, logs, storage)
//
// Processes: the harness (this file: builds requests, drives the load, reads
// /proc), the webhook sink, and four servers: workerd with the gateway,
// workerd with the floor Worker, the Node baseline, the Node floor. They run
// side by side but only one is loaded at a time, and only the loaded server's
// CPU is measured. Everything started is stopped at the end, on error too.
import { createRequire } from "node:module";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { bundle, readWranglerConfig } from "./build.mjs";
import { percentile, runLoad } from "./load.mjs";
import { CLK_TCK, cpuMs, freePort, machineCpuMs, settle, start, startedCpuMs, stop, stopAll, waitForHttp } from "./processes.mjs";
import { capacityMarkdown, chartSvg, machineInfo, markdown, percentOfCpu, printTables } from "./report.mjs";
import { Streams, snapshot } from "./bots.mjs";
import { LATENCY_APPS, latencyMarkdown, latencyPhase } from "./latency.mjs";
import { appConfig, bombBody, bombRequest, getRequest, newApp, newWebhookSecret, postRequest, randomAlnum, suiteAuthRequest, textMessage } from "./wecom.mjs";
import { supportedDate, workerdConfig } from "./workerd-config.mjs";

const args = new Set(process.argv.slice(2));
const unknown = [...args].filter((a) => !["--write", "--quick", "--keep"].includes(a));
if (unknown.length) throw new Error(`unknown option ${unknown.join(" ")}; see the header of bench/run.mjs`);
const WRITE = args.has("--write");
const QUICK = args.has("--quick");
const KEEP = args.has("--keep");

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const CONCURRENCY = 20;
const ROUNDS = 5; // each figure is the median of its rounds
const scale = (n) => (QUICK ? Math.max(ROUNDS * 6, Math.round(n / 10 / ROUNDS) * ROUNDS) : n);
const COUNTS = {
  warmup: scale(1000), // per server and kind: enough for V8 to settle on its optimised code
  get: scale(5000), // per server, over all rounds
  post: scale(5000),
  create: 20, // events that create the pull queue before "backlog 0" is measured
  pull0: scale(1500), // the pull queue goes 0 → 1.5k
  fillTo: scale(8000), // then → 8k
  pull8k: scale(1500), // then → 9.5k
  fan: scale(1500), // per fan-out width (1, 3 and 8 push destinations), over all rounds
  suiteAuth: scale(1500), // a suite's change_auth, to its auth destination, over all rounds
  bomb: QUICK ? ROUNDS * 4 : 200,
  // AI-bot streams: fewer than the others, to keep the whole run near a minute and a half.
  botMessage: scale(2000), // each opens a stream (the events go to a pull queue: 20 + 2k, far from its limit)
  refresh: scale(2000), // round the open streams, each about once
  update: scale(2000), // round every 4th of them: 4 growing snapshots each, ~150 to ~550 bytes
  latency: QUICK ? 200 : 1000, // per consumer of the delivery-latency phase (bench/latency.mjs)
  idleSeconds: QUICK ? 5 : 60, // ten idle sockets, watched this long
};

// Children run on the same Node 22 as npm scripts (node_modules/.bin/node), whatever runs this file.
const localNode = join(root, "node_modules", ".bin", "node");
const nodeBin = existsSync(localNode) ? localNode : process.execPath;
const childEnv = { ...process.env, PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH ?? ""}` };
const workerdPackage = require("workerd/package.json").version;
const { default: workerdBin, compatibilityDate: workerdNewestDate } = require("workerd");

const log = (...a) => console.log(...a);
const started = Date.now();
const tmp = mkdtempSync(join(tmpdir(), "wecom-edge-bench-"));
const logFile = (name) => join(tmp, `${name}.log`);

// ---------------------------------------------------------------- servers ----

/** workerd serving `modules` (paths relative to the config file in tmp) on a free port; retried if the port is taken meanwhile. */
async function startWorkerd(name, modules, { wrangler, text, compatibilityDate }) {
  for (let attempt = 1; attempt <= 5; attempt++) {
    const storage = mkdtempSync(join(tmp, `${name}-storage-`)); // fresh: a new server starts with empty queues
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
      }),
    );
    const logPath = join(storage, "..", `${basename(storage)}.log`); // one log per start
    const proc = start(name, workerdBin, ["serve", configPath], { cwd: tmp, env: childEnv, logFile: logPath });
    const url = `http://127.0.0.1:${port}`;
    if (await waitForHttp(`${url}/healthz`, proc)) return { proc, url };
    await stop(proc);
    const output = readFileSync(logPath, "utf8");
    if (!/address already in use/i.test(output)) {
      // The first error is the cause; warnings about unexported classes follow from it.
      const lines = output.split("\n").filter((l) => l.trim() && !/warning: A DurableObjectNamespace/.test(l));
      throw Object.assign(new Error(`${name} (workerd) did not start (log: ${logPath}):\n${lines.slice(0, 8).join("\n")}`), { startup: true });
    }
    log(`  port ${port} was taken meanwhile (attempt ${attempt}); trying another`);
  }
  throw new Error(`${name} (workerd) found no free port`);
}

/**
 * Bundles and starts the gateway. Someone may be half-way through a change
 * in src/, so a bundle that does not build (bundle() retries that) or does
 * not start is tried again a minute later, a few times.
 */
async function buildAndStartGateway(text) {
  for (let attempt = 1; ; attempt++) {
    const outdir = join(tmp, `bundle-${attempt}`);
    log("building: wrangler deploy --dry-run --outdir …");
    const bundled = await bundle({ root, outdir, env: childEnv, log });
    const modules = bundled.map((m) => ({ ...m, path: relative(tmp, m.path) }));
    const wrangler = await readWranglerConfig(root);
    const compatibilityDate = supportedDate(wrangler.compatibilityDate, workerdNewestDate);
    log(`  ${modules.map((m) => m.name).join(", ")}; compatibility date ${compatibilityDate}; flags [${wrangler.compatibilityFlags.join(", ")}]; ` +
      `Durable Objects ${wrangler.durableObjects.map((d) => `${d.binding}=${d.className}${d.sql ? " (SQLite)" : ""}`).join(", ")}`);
    const settings = { wrangler, text: { ...wrangler.vars, ...text }, compatibilityDate };
    try {
      return { ...(await startWorkerd("gateway", modules, settings)), settings };
    } catch (error) {
      if (!error.startup || attempt >= 3) throw error;
      log(`  ${error.message}\n  retrying in 60 s (attempt ${attempt}/3)`);
      await sleep(60_000);
    }
  }
}

/** The floor Worker, in workerd with the gateway's settings; it exports a do-nothing class for every Durable Object namespace. */
async function startFloorWorker(settings) {
  mkdirSync(join(tmp, "floor"));
  const source = readFileSync(join(root, "bench", "floor-worker.mjs"), "utf8");
  const missing = settings.wrangler.durableObjects.map((d) => d.className).filter((c) => !new RegExp(`export class ${c}\\b`).test(source));
  writeFileSync(join(tmp, "floor", "index.js"), source + missing.map((c) => `export class ${c} extends DurableObject {}\n`).join(""));
  return startWorkerd("floor", [{ name: "index.js", path: "floor/index.js", type: "esModule" }], settings);
}

async function startNode(name, mode, app) {
  const proc = start(name, nodeBin, [join(root, "bench", "node-baseline.mjs"), mode], {
    cwd: root,
    env: { ...childEnv, BENCH_APP: JSON.stringify(app) },
    logFile: logFile(name),
    readyLine: true,
  });
  const { port } = await proc.ready;
  return { proc, url: `http://127.0.0.1:${port}` };
}

// ----------------------------------------------------------------- phases ----

async function sinkCounts(sinkUrl) {
  const response = await fetch(`${sinkUrl}/__counts`);
  return response.json();
}

/** Waits until the sink has received `total` pushes on `path`; bounded. Returns how long it took after the call. */
async function untilSinkHas(sinkUrl, path, total, maxMs = 180_000) {
  const t0 = Date.now();
  while (Date.now() - t0 < maxMs) {
    const count = (await sinkCounts(sinkUrl))[path] ?? 0;
    if (count >= total) return Date.now() - t0;
    await sleep(25);
  }
  throw new Error(`the sink got ${(await sinkCounts(sinkUrl))[path] ?? 0} of ${total} pushes on ${path} within ${maxMs / 1000} s`);
}

/**
 * One measured round: wait until the server is idle, read its CPU, send the
 * requests, wait for `drain` (pushes still in flight), wait until it is idle
 * again, read its CPU. The idle waits add no CPU: idle means no tick moved.
 */
async function measure(label, server, requests, { drain } = {}) {
  if (!(await settle(server.proc.pid))) log(`  warning: ${server.proc.name} was not idle before "${label}"`);
  const machine0 = machineCpuMs();
  const ours0 = startedCpuMs() + harnessCpuMs();
  const before = cpuMs(server.proc.pid);
  const wall0 = Date.now();
  const load = await runLoad(server.url, requests, { concurrency: CONCURRENCY });
  const drainMs = drain ? await drain() : 0;
  if (!(await settle(server.proc.pid))) log(`  warning: ${server.proc.name} was not idle after "${label}"`);
  const used = cpuMs(server.proc.pid) - before;
  // What the rest of the machine did meanwhile: a busy neighbour makes every figure less certain.
  const machine1 = machineCpuMs();
  background.otherMs += machine1.busy - machine0.busy - (startedCpuMs() + harnessCpuMs() - ours0);
  background.stealMs += machine1.steal - machine0.steal;
  background.wallMs += Date.now() - wall0;
  const n = requests.length;
  log(
    `  ${label.padEnd(48)} ${String(n).padStart(5)} req ${(used / n).toFixed(3).padStart(8)} ms CPU/req` +
      `  p50 ${percentile(load.latencies, 50).toFixed(1)} ms  p99 ${percentile(load.latencies, 99).toFixed(1)} ms` +
      (load.failures.length ? `  ${load.failures.length} FAILED, e.g. ${load.failures[0].why}: ${load.failures[0].status} ${load.failures[0].body}` : ""),
  );
  return { n, perRequest: used / n, latencies: load.latencies, wallMs: load.wallMs + drainMs, failures: load.failures.length };
}

/**
 * A phase measured in rounds: its figure is the median round (one round
 * disturbed by something else on the machine does not move it), its
 * latencies are those of all rounds together.
 */
function combine(rounds) {
  const per = rounds.map((x) => x.perRequest).sort((a, b) => a - b);
  const latencies = rounds.flatMap((x) => x.latencies);
  const smallest = Math.min(...rounds.map((x) => x.n));
  return {
    n: rounds.reduce((sum, x) => sum + x.n, 0),
    rounds: rounds.length,
    perRequest: per[Math.floor((per.length - 1) / 2)],
    min: per[0],
    max: per[per.length - 1],
    resolution: 1000 / CLK_TCK / smallest,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    wallMs: rounds.reduce((sum, x) => sum + x.wallMs, 0),
    failures: rounds.reduce((sum, x) => sum + x.failures, 0),
  };
}

async function warm(server, requests, drain) {
  const load = await runLoad(server.url, requests, { concurrency: CONCURRENCY });
  if (load.failures.length) {
    const f = load.failures[0];
    throw new Error(`warm-up against ${server.proc.name} failed ${load.failures.length}×, e.g. ${f.why}: ${f.status} ${f.body}`);
  }
  if (drain) await drain();
}

const many = (n, make) => Array.from({ length: n }, make);
const harnessCpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
/** CPU the rest of the machine used during the measured rounds (other processes, kernel, interrupts). */
const background = { otherMs: 0, stealMs: 0, wallMs: 0 };
/** The same request, for a floor server: it answers "success" to all. */
const forFloor = (request) => ({ ...request, expect: { status: 200, body: "success" } });

async function adminStats(server, adminToken, app) {
  const response = await fetch(`${server.url}/admin/apps/${app}`, { headers: { authorization: `Bearer ${adminToken}` } });
  if (!response.ok) throw new Error(`GET /admin/apps/${app} answered ${response.status}: ${await response.text()}`);
  return response.json();
}

// ------------------------------------------------------------------- main ----

async function main() {
  log(`wecom-edge benchmark${QUICK ? " (--quick: a smoke run, too few requests to quote)" : ""}; temporary files in ${tmp}`);
  const sink = start("sink", nodeBin, [join(root, "bench", "sink.mjs")], { cwd: root, env: childEnv, logFile: logFile("sink"), readyLine: true });
  const sinkUrl = `http://127.0.0.1:${(await sink.ready).port}`;

  // Fresh credentials every run; never WeCom's published sample key.
  const push = newApp("bench_push", { webhook: { url: `${sinkUrl}/hook/bench_push`, secret: newWebhookSecret() } });
  const pull = newApp("bench_pull", { pull: { token: randomAlnum(40) } });
  const pullWarm = newApp("bench_pull_warm", { pull: { token: randomAlnum(40) } });
  // AI bots: receiveId "" (docs/configuration.md, "Which receiveId"), events pulled, streams held by the gateway.
  const botApp = (name) => newApp(name, { receiveId: "", pull: { token: randomAlnum(40) }, bot: { token: randomAlnum(40), placeholder: "思考中…" } });
  const bot = botApp("bench_bot");
  const botWarm = botApp("bench_bot_warm");
  const nodeApp = newApp("bench_node", { webhook: { url: `${sinkUrl}/hook/bench_node`, secret: newWebhookSecret() } });
  // Fan-out (docs/routing.md): every event matches all k push destinations of its app, each its own sink path.
  const fanApp = (k) =>
    newApp(`bench_fan${k}`, {
      destinations: Object.fromEntries(
        Array.from({ length: k }, (_, i) => [`d${i}`, { webhook: { url: `${sinkUrl}/hook/bench_fan${k}/d${i}`, secret: newWebhookSecret() } }]),
      ),
    });
  const fans = { 1: fanApp(1), 3: fanApp(3), 8: fanApp(8) };
  // A suite (docs/providers.md) whose auth events go to a push destination of their own.
  const suite = newApp("bench_suite", {
    suite: { suiteId: `ww${randomAlnum(16)}`, providerCorpId: `ww${randomAlnum(16)}`, ticketToken: randomAlnum(40) },
    destinations: { auth: { match: { InfoType: { in: ["create_auth", "change_auth", "cancel_auth"] } }, webhook: { url: `${sinkUrl}/hook/bench_suite`, secret: newWebhookSecret() } } },
  });
  // Delivery latency (bench/latency.mjs): pull apps, each with one consumer of its own.
  const latencyApps = Object.fromEntries(LATENCY_APPS.map((name) => [name, newApp(name, { pull: { token: randomAlnum(40) } })]));
  const adminToken = randomAlnum(40);
  const text = {
    WECOM_MAX_SKEW_SECONDS: "0",
    WECOM_APPS: JSON.stringify(Object.fromEntries([push, pull, pullWarm, bot, botWarm, ...Object.values(fans), suite, ...Object.values(latencyApps)].map((a) => [a.name, appConfig(a)]))),
    ADMIN_TOKEN: adminToken,
  };
  const bomb = Buffer.from(bombBody());
  const r = { gw: {}, floor: {}, node: {}, nodeFloor: {} };

  // ---- the servers: all four up at once, idle but for the one being measured
  log("starting wecom-edge in workerd, the floor Worker in workerd, the Node baseline and the Node floor");
  const gw = await buildAndStartGateway(text);
  const { wrangler, compatibilityDate } = gw.settings;
  const floor = await startFloorWorker(gw.settings);
  const nodeConfig = { name: nodeApp.name, ...appConfig(nodeApp) };
  const node = await startNode("node-baseline", "work", nodeConfig);
  const nodeFloor = await startNode("node-floor", "floor", nodeConfig);

  const pushPath = "/hook/bench_push";
  let pushesExpected = 0;
  /** Posts to the push app; `drain` waits until the sink has all of them. */
  const pushRequests = (n) => {
    pushesExpected += n;
    const total = pushesExpected;
    return { requests: many(n, () => postRequest(push)), drain: () => untilSinkHas(sinkUrl, pushPath, total) };
  };

  log("warming up (unmeasured)");
  const warmPush = pushRequests(COUNTS.warmup);
  await warm(gw, many(COUNTS.warmup, () => getRequest(push)));
  await warm(gw, warmPush.requests, warmPush.drain);
  await warm(floor, many(COUNTS.warmup, () => forFloor(getRequest(push))));
  await warm(floor, many(COUNTS.warmup, () => forFloor(postRequest(push))));
  await warm(node, many(COUNTS.warmup, () => getRequest(nodeApp)));
  await warm(node, many(COUNTS.warmup, () => postRequest(nodeApp)));
  await warm(nodeFloor, many(COUNTS.warmup, () => forFloor(getRequest(nodeApp))));
  await warm(nodeFloor, many(COUNTS.warmup, () => forFloor(postRequest(nodeApp))));

  // GET and POST, each server in turn, round after round: a slow spell of the
  // machine then touches every server, not just whichever ran at that moment.
  const rounds = { gwGet: [], floorGet: [], nodeGet: [], nodeFloorGet: [], gwPush: [], floorPost: [], nodePost: [], nodeFloorPost: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    log(`round ${round}/${ROUNDS}`);
    const perRound = COUNTS.get / ROUNDS;
    rounds.gwGet.push(await measure("workerd GET URL verification", gw, many(perRound, () => getRequest(push))));
    rounds.floorGet.push(await measure("workerd floor GET", floor, many(perRound, () => forFloor(getRequest(push)))));
    rounds.nodeGet.push(await measure("Node GET URL verification", node, many(perRound, () => getRequest(nodeApp))));
    rounds.nodeFloorGet.push(await measure("Node floor GET", nodeFloor, many(perRound, () => forFloor(getRequest(nodeApp)))));
    const posts = COUNTS.post / ROUNDS;
    const pushRound = pushRequests(posts);
    rounds.gwPush.push(await measure("workerd POST push (commit + push + delete)", gw, pushRound.requests, { drain: pushRound.drain }));
    rounds.floorPost.push(await measure("workerd floor POST", floor, many(posts, () => forFloor(postRequest(push)))));
    rounds.nodePost.push(await measure("Node POST verify, decrypt, parse, sign, forward", node, many(posts, () => postRequest(nodeApp))));
    rounds.nodeFloorPost.push(await measure("Node floor POST", nodeFloor, many(posts, () => forFloor(postRequest(nodeApp)))));
  }
  await stop(node.proc);
  await stop(nodeFloor.proc);
  r.gw.get = combine(rounds.gwGet);
  r.floor.get = combine(rounds.floorGet);
  r.node.get = combine(rounds.nodeGet);
  r.nodeFloor.get = combine(rounds.nodeFloorGet);
  r.gw.push = combine(rounds.gwPush);
  r.floor.post = combine(rounds.floorPost);
  r.node.post = combine(rounds.nodePost);
  r.nodeFloor.post = combine(rounds.nodeFloorPost);

  // Fan-out: a callback matched by 1, 3 and 8 push destinations, each width in turn, round after round,
  // each round drained until every destination's sink path has every event.
  log("fan-out");
  const fanSent = { 1: 0, 3: 0, 8: 0 };
  const fanRequests = (k, n) => {
    fanSent[k] += n;
    const total = fanSent[k];
    const drain = async () => {
      let waited = 0;
      for (let i = 0; i < k; i++) waited += await untilSinkHas(sinkUrl, `/hook/bench_fan${k}/d${i}`, total);
      return waited;
    };
    return { requests: many(n, () => postRequest(fans[k])), drain };
  };
  for (const k of [1, 3, 8]) {
    const w = fanRequests(k, COUNTS.warmup);
    await warm(gw, w.requests, w.drain);
  }
  const fanRounds = { 1: [], 3: [], 8: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    for (const k of [1, 3, 8]) {
      const f = fanRequests(k, COUNTS.fan / ROUNDS);
      fanRounds[k].push(await measure(`workerd POST fan-out to ${k} (${round}/${ROUNDS})`, gw, f.requests, { drain: f.drain }));
    }
  }
  r.gw.fan1 = combine(fanRounds[1]);
  r.gw.fan3 = combine(fanRounds[3]);
  r.gw.fan8 = combine(fanRounds[8]);

  // A suite's auth events: WeCom wants "success" within 1000 ms (docs/providers.md); the p99 at 20 in flight is the figure.
  log("suite auth events");
  let suiteSent = 0;
  const suiteRequests = (n) => {
    suiteSent += n;
    const total = suiteSent;
    return { requests: many(n, () => suiteAuthRequest(suite)), drain: () => untilSinkHas(sinkUrl, "/hook/bench_suite", total) };
  };
  const warmSuite = suiteRequests(COUNTS.warmup);
  await warm(gw, warmSuite.requests, warmSuite.drain);
  const suiteRounds = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const s = suiteRequests(COUNTS.suiteAuth / ROUNDS);
    suiteRounds.push(await measure(`workerd POST suite auth event (${round}/${ROUNDS})`, gw, s.requests, { drain: s.drain }));
  }
  r.gw.suiteAuth = combine(suiteRounds);

  // The pull queue under test starts (nearly) empty: the warm-up goes to another pull app, and
  // only a handful of events create the queue's Durable Object, whose one-off start is not
  // what "backlog 0" is about. Then it grows, round by round, to 1.5k, 8k and 9.5k.
  log("pull queue");
  await warm(gw, many(COUNTS.warmup, () => postRequest(pullWarm)));
  await warm(gw, many(COUNTS.create, () => postRequest(pull)));
  const pullRound = COUNTS.pull0 / ROUNDS;
  const pull0 = [];
  for (let round = 1; round <= ROUNDS; round++) pull0.push(await measure(`workerd POST pull, backlog 0 → 1.5k (${round}/${ROUNDS})`, gw, many(pullRound, () => postRequest(pull))));
  r.gw.pull0 = combine(pull0);
  r.gw.fill = combine([await measure("workerd POST pull, fill 1.5k → 8k", gw, many(COUNTS.fillTo - COUNTS.pull0 - COUNTS.create, () => postRequest(pull)))]);
  const pull8k = [];
  for (let round = 1; round <= ROUNDS; round++) pull8k.push(await measure(`workerd POST pull, backlog 8k → 9.5k (${round}/${ROUNDS})`, gw, many(COUNTS.pull8k / ROUNDS, () => postRequest(pull))));
  r.gw.pull8k = combine(pull8k);

  // AI-bot streams. The warm-up goes to another bot app, and a few messages create the measured
  // app's Durable Object (as for the pull queue). Each measured message opens a stream; then
  // update and refresh rounds take turns, so that every refresh can be checked against the
  // content the updates before it gave its stream.
  log("AI-bot streams");
  const warmStreams = new Streams(botWarm);
  // Update k gives its stream the snapshot of step k ÷ (streams updated) + 1: each stream's answer grows round by round.
  const growing = (s) => (id, k, count) => s.updateRequest(id, snapshot(Math.floor(k / count) + 1));
  const UPDATED = { every: 4, over: COUNTS.update / 4 };
  await warm(gw, many(COUNTS.warmup, () => warmStreams.messageRequest()));
  await warm(gw, warmStreams.spread(0, COUNTS.warmup, growing(warmStreams), UPDATED));
  await warm(gw, warmStreams.spread(0, COUNTS.warmup, (id) => warmStreams.refreshRequest(id)));
  const streams = new Streams(bot);
  await warm(gw, many(COUNTS.create, () => streams.messageRequest()));
  const botMessages = [];
  for (let round = 1; round <= ROUNDS; round++) {
    botMessages.push(await measure(`workerd POST bot message, stream start (${round}/${ROUNDS})`, gw, many(COUNTS.botMessage / ROUNDS, () => streams.messageRequest())));
  }
  r.gw.botMessage = combine(botMessages);
  const updates = [];
  const refreshes = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const u = COUNTS.update / ROUNDS;
    updates.push(await measure(`workerd POST stream update (${round}/${ROUNDS})`, gw, streams.spread((round - 1) * u, u, growing(streams), UPDATED)));
    const f = COUNTS.refresh / ROUNDS;
    refreshes.push(await measure(`workerd POST bot refresh (${round}/${ROUNDS})`, gw, streams.spread((round - 1) * f, f, (id) => streams.refreshRequest(id))));
  }
  r.gw.update = combine(updates);
  r.gw.refresh = combine(refreshes);

  log("1 MiB bodies with a bad signature");
  await warm(gw, many(3, () => bombRequest(push, bomb)));
  await warm(floor, many(3, () => forFloor(bombRequest(push, bomb))));
  const bombs = { gw: [], floor: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    bombs.gw.push(await measure("workerd POST 1 MiB bad signature (refused)", gw, many(COUNTS.bomb / ROUNDS, () => bombRequest(push, bomb))));
    bombs.floor.push(await measure("workerd floor POST 1 MiB", floor, many(COUNTS.bomb / ROUNDS, () => forFloor(bombRequest(push, bomb)))));
  }
  r.gw.bomb = combine(bombs.gw);
  r.floor.bomb = combine(bombs.floor);
  await stop(floor.proc);

  log("delivery latency into a closed intranet: WebSocket feed, long-poll, pull with a sleep");
  r.latency = await latencyPhase(gw, latencyApps, { n: COUNTS.latency, idleSeconds: COUNTS.idleSeconds, log });

  // After the measurements (the admin API costs workerd CPU too): did everything land?
  const pushStats = await adminStats(gw, adminToken, push.name);
  const pullStats = await adminStats(gw, adminToken, pull.name);
  const botStats = await adminStats(gw, adminToken, bot.name);
  const botEvents = COUNTS.create + COUNTS.botMessage;
  const pushed = (await sinkCounts(sinkUrl))[pushPath] ?? 0;
  const expectedPull = COUNTS.fillTo + COUNTS.pull8k;
  const fanCounts = await sinkCounts(sinkUrl);
  const fanMissing = [1, 3, 8].flatMap((k) => Array.from({ length: k }, (_, i) => fanCounts[`/hook/bench_fan${k}/d${i}`] ?? 0).filter((n) => n !== fanSent[k]));
  const checks = [
    [`fan-out: every destination's sink path got every event (${fanSent[1]}, ${fanSent[3]} and ${fanSent[8]} per path)`, fanMissing.length === 0],
    [`push queue empty (queued ${pushStats.queued}, leased ${pushStats.leased})`, pushStats.queued === 0 && pushStats.leased === 0],
    [`push delivered ${pushStats.delivered} of ${pushesExpected}`, pushStats.delivered === pushesExpected],
    [`sink received ${pushed} pushes for ${pushesExpected} events`, pushed === pushesExpected],
    [`pull queue holds ${pullStats.queued} of ${expectedPull} callbacks (none deduplicated)`, pullStats.queued === expectedPull],
    [`bot opened ${streams.ids.length} distinct streams for ${botEvents} messages`, streams.ids.length === botEvents],
    [`bot queue holds ${botStats.queued} of ${botEvents} messages (refreshes not queued)`, botStats.queued === botEvents],
    [`bot counted ${botStats.refreshes} of ${COUNTS.refresh} refreshes`, botStats.refreshes === COUNTS.refresh],
  ];
  for (const [what, ok] of checks) log(`  check: ${what} — ${ok ? "ok" : "NOT OK"}`);
  r.checks = checks;
  await stop(gw.proc);
  await stop(sink);

  const totalSeconds = (Date.now() - started) / 1000;
  log("");
  log(printTables(r));
  log("");
  const failedChecks = checks.filter(([, ok]) => !ok).length;
  const failures = [r.gw, r.floor, r.node, r.nodeFloor].flatMap((group) => Object.values(group)).reduce((sum, p) => sum + p.failures, 0);
  r.background = background;
  log(
    `While measuring, the rest of the machine used ${percentOfCpu(background.otherMs, background.wallMs)} of one CPU` +
      ` (stolen by the hypervisor: ${percentOfCpu(background.stealMs, background.wallMs)}).`,
  );
  log(`${failures} failed requests, ${failedChecks} failed checks; ${totalSeconds.toFixed(0)} s in all.`);

  if (WRITE && !QUICK) {
    const machine = machineInfo({ workerdBin, workerdPackage, wranglerVersion: require("wrangler/package.json").version, root });
    const config = {
      concurrency: CONCURRENCY,
      rounds: ROUNDS,
      clkTck: CLK_TCK,
      compatibilityDate,
      compatibilityFlags: wrangler.compatibilityFlags,
      durableObjects: wrangler.durableObjects,
      totalSeconds,
      messageBytes: messageSizeRange(push),
      botBodyBytes: sizeRange([...many(50, () => streams.messageRequest()), ...streams.spread(0, 50, (id) => streams.refreshRequest(id))]),
      snapshotBytes: `${Buffer.byteLength(snapshot(1))}–${Buffer.byteLength(snapshot(4))}`,
      updatedStreams: `${COUNTS.update / 4} of the streams (every 4th)`,
      botEvents,
    };
    mkdirSync(join(root, "docs"), { recursive: true });
    writeFileSync(join(root, "docs", "benchmarks.svg"), chartSvg(r));
    writeFileSync(join(root, "BENCHMARKS.md"), `${markdown(r, machine, config)}\n${capacityMarkdown(r)}\n${latencyMarkdown(r.latency, { n: COUNTS.latency })}`);
    log("wrote BENCHMARKS.md and docs/benchmarks.svg");
  } else if (WRITE) log("--quick: BENCHMARKS.md and docs/benchmarks.svg left as they were");
  if (failures || failedChecks) process.exitCode = 1;
}

/** Body sizes of requests built but never sent (their checks never run). */
function sizeRange(requests) {
  const sizes = requests.map((q) => q.body.length);
  return `${Math.min(...sizes)}–${Math.max(...sizes)}`;
}

function messageSizeRange(app) {
  const sizes = many(200, () => Buffer.byteLength(textMessage(app.receiveId, app.agentId)));
  return `${Math.min(...sizes)}–${Math.max(...sizes)}`;
}

let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, async () => {
    interrupted = true;
    log(`\n${signal}: stopping everything`);
    await stopAll();
    if (!KEEP) rmSync(tmp, { recursive: true, force: true });
    process.exit(130);
  });
}

try {
  await main();
} catch (error) {
  if (!interrupted) {
    console.error(`\nbenchmark failed: ${error instanceof Error ? error.stack : error}`);
    console.error(`logs are in ${tmp} (kept)`);
  }
  process.exitCode = 1;
} finally {
  await stopAll();
  if (!KEEP && process.exitCode !== 1) rmSync(tmp, { recursive: true, force: true });
}

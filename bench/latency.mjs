// bench/latency.mjs — the delivery-latency phase of `npm run bench`
// (docs/feed.md): how long from WeCom's `success` to the event in an
// intranet consumer's hands, for three consumers side by side, each on its
// own pull app: the WebSocket feed, long-poll, and a pull that sleeps 1 s
// when it comes back empty. Then the gateway's CPU per event delivered over
// a socket against a pull-and-ack of the same events, and the CPU of ten
// idle sockets over 60 s.
//
// The consumers run in this process, beside the load: a receipt is stamped
// when the consumer's code sees the event, and WeCom's `success` when the
// load's response arrives, on the same clock.
import { setTimeout as sleep } from "node:timers/promises";
import { percentile } from "./load.mjs";
import { cpuMs, settle } from "./processes.mjs";
import { postRequest } from "./wecom.mjs";

const CONCURRENCY = 20;
const SLEEP_MS = 1_000;
/** Rounds of a socket drain and a pull drain side by side (socket first, then pull first, …): the median of their ratios is the figure. */
const CPU_ROUNDS = 5;
/** Acks, with the credit they give back, go once none came for ACK_QUIET_MS, or at most ACK_MAX_MS after the first, as wecom-edge/consumer sends them. */
const ACK_QUIET_MS = 5;
const ACK_MAX_MS = 25;

/** The pull apps this phase needs, made by the caller's newApp: name → settings. */
export const LATENCY_APPS = ["bench_ws", "bench_lp", "bench_sleep", "bench_cpu_ws", "bench_cpu_pull", "bench_idle"];

/** Sends `requests` at CONCURRENCY in flight; records when each one's `success` arrived, by event id. */
async function load(baseUrl, requests, answered) {
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const request = requests[next++];
      const response = await fetch(`${baseUrl}${request.path}`, { method: request.method, body: request.body });
      // WeCom has its answer when the response comes; its body ("success") follows in the same packet.
      const at = performance.now();
      const text = await response.text();
      const id = response.headers.get("wecom-edge-event-id");
      if (response.status !== 200 || text !== "success" || id === null) throw new Error(`callback answered ${response.status}: ${text.slice(0, 200)}`);
      answered.set(id, at);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

async function call(baseUrl, app, verb, body) {
  const response = await fetch(`${baseUrl}/queue/${app.name}/${verb}`, {
    method: "POST",
    headers: { authorization: `Bearer ${app.pull.token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${verb} answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
  return response.json();
}

/**
 * A socket consumer: every event stamped and acked as it comes; `credit` given at once. `frames()`
 * counts the ack frames sent (each one, with the credit it carries, is a turn of the queue with
 * a commit of its own), `extensions()` what the handshake agreed (Node's WebSocket offers
 * permessage-deflate, and workerd accepts it unless told not to).
 */
function socketConsumer(baseUrl, app, received, credit = 1000) {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, "ws")}/queue/${app.name}/ws`, { headers: { authorization: `Bearer ${app.pull.token}` } });
  let frames = 0;
  const opened = new Promise((resolve, reject) => {
    ws.addEventListener("open", () => {
      if (credit > 0) ws.send(JSON.stringify({ type: "credit", n: credit }));
      resolve();
    });
    ws.addEventListener("error", () => reject(new Error(`the socket of ${app.name} did not open`)));
  });
  // Acks, and the credit they give back, go in one frame each once a burst has settled, as wecom-edge/consumer sends them.
  let pending = [];
  let timer = null;
  let first = 0;
  const flush = () => {
    timer = null;
    if (pending.length === 0 || ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify({ type: "ack", ids: pending, credit: pending.length }));
    frames++;
    pending = [];
  };
  ws.addEventListener("message", (message) => {
    const frame = JSON.parse(String(message.data));
    if (frame.type !== "event") return;
    received.set(frame.id, performance.now());
    if (pending.length === 0) first = Date.now();
    pending.push(frame.id);
    clearTimeout(timer);
    timer = setTimeout(flush, Math.max(0, Math.min(ACK_QUIET_MS, first + ACK_MAX_MS - Date.now())));
  });
  return {
    opened,
    give: (n) => ws.send(JSON.stringify({ type: "credit", n })),
    frames: () => frames,
    extensions: () => ws.extensions,
    close: () => ws.close(1000, "done"),
  };
}

/** A pull consumer: long-polls (`waitSeconds` 5, so that it stops soon), or sleeps SLEEP_MS after an empty pull; acks beside the next pull. */
function pullConsumer(baseUrl, app, received, { longPoll }) {
  let stopped = false;
  const acks = [];
  const done = (async () => {
    while (!stopped) {
      const batch = await call(baseUrl, app, "pull", longPoll ? { max: 100, waitSeconds: 5 } : { max: 100 });
      const now = performance.now();
      for (const id of batch.ids) received.set(id, now);
      // Acked beside the next pull, not before it.
      if (batch.ids.length > 0) acks.push(call(baseUrl, app, "ack", { ids: batch.ids, lease: batch.lease }));
      else if (!longPoll && !stopped) await sleep(SLEEP_MS);
    }
    await Promise.all(acks);
  })();
  return { opened: Promise.resolve(), stop: () => ((stopped = true), done) };
}

const latencies = (answered, received) => [...answered].map(([id, at]) => received.get(id) - at);

async function until(what, done, maxMs = 120_000) {
  const t0 = Date.now();
  while (!done()) {
    if (Date.now() - t0 > maxMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Runs the phase against the gateway `gw` ({url, proc}); `apps` maps
 * LATENCY_APPS to pull apps. `n`: callbacks per consumer (≥ 1000 for figures
 * worth quoting). Returns the figures for the report.
 */
export async function latencyPhase(gw, apps, { n, idleSeconds, log }) {
  const result = {};

  // 1. Latency: the three consumers in turn, each on its own app, loaded with n distinct callbacks at 20 in flight.
  const kinds = [
    ["websocket", apps.bench_ws, (received) => socketConsumer(gw.url, apps.bench_ws, received)],
    ["long-poll", apps.bench_lp, (received) => pullConsumer(gw.url, apps.bench_lp, received, { longPoll: true })],
    ["pull, 1 s sleep", apps.bench_sleep, (received) => pullConsumer(gw.url, apps.bench_sleep, received, { longPoll: false })],
  ];
  for (const [kind, app, consumerOf] of kinds) {
    const received = new Map();
    const answered = new Map();
    const consumer = consumerOf(received);
    await consumer.opened;
    await load(gw.url, Array.from({ length: n }, () => postRequest(app)), answered);
    await until(`${kind}: every event received`, () => received.size >= n);
    const extensions = consumer.extensions?.();
    await (consumer.close ?? consumer.stop)();
    const values = latencies(answered, received);
    result[kind] = { n: values.length, p50: percentile(values, 50), p99: percentile(values, 99), max: Math.max(...values), extensions };
    log(
      `  ${kind.padEnd(16)} ${String(values.length).padStart(5)} events  p50 ${result[kind].p50.toFixed(1)} ms  p99 ${result[kind].p99.toFixed(1)} ms  max ${result[kind].max.toFixed(1)} ms` +
        (extensions === undefined ? "" : `  (extensions: ${extensions || "none"})`),
    );
  }

  // 2. Gateway CPU per event delivered: cpuN events queued, then drained over a socket, or by pull-and-ack (100 a pull).
  // Only the drain is measured: the socket is open (with no credit) before, and closed after. Ten times the
  // latency's n, so that /proc's 10 ms tick is worth 0.002 ms per event, not 0.01. CPU_ROUNDS rounds, each a socket
  // drain and a pull drain side by side, taking turns to go first: the machine's speed swings by half from one
  // minute to the next, so each round's ratio compares two drains run under the same spell, and the median ratio
  // is the figure.
  const cpuN = 5 * n;
  const cpuOf = async (label, fill, drain) => {
    for (let i = 0; i < cpuN; i += 1000) {
      await load(gw.url, Array.from({ length: Math.min(1000, cpuN - i) }, () => postRequest(fill)), new Map());
    }
    await settle(gw.proc.pid);
    const before = cpuMs(gw.proc.pid);
    const frames = await drain();
    await settle(gw.proc.pid);
    const perEvent = (cpuMs(gw.proc.pid) - before) / cpuN;
    log(`  ${label.padEnd(40)} ${perEvent.toFixed(3)} ms CPU per event (${frames} acks)`);
    return { perEvent, frames };
  };
  const socketDrain = async () => {
    const got = new Map();
    const drainer = socketConsumer(gw.url, apps.bench_cpu_ws, got, 0);
    await drainer.opened;
    const drained = await cpuOf(`drained over a socket (acks ${ACK_QUIET_MS} ms after a burst)`, apps.bench_cpu_ws, async () => {
      drainer.give(100);
      await until("the socket drain", () => got.size >= cpuN);
      return drainer.frames();
    });
    drainer.close();
    return drained;
  };
  const pullDrain = () =>
    cpuOf("drained by pull-and-ack (100 a pull)", apps.bench_cpu_pull, async () => {
      let frames = 0;
      for (let got = 0; got < cpuN; frames++) {
        const batch = await call(gw.url, apps.bench_cpu_pull, "pull", { max: 100 });
        if (batch.ids.length === 0) throw new Error("pull-and-ack: the queue ran dry early");
        await call(gw.url, apps.bench_cpu_pull, "ack", { ids: batch.ids, lease: batch.lease });
        got += batch.ids.length;
      }
      return frames;
    });
  const socketRuns = [];
  const pullRuns = [];
  for (let round = 0; round < CPU_ROUNDS; round++) {
    if (round % 2 === 0) socketRuns.push(await socketDrain());
    pullRuns.push(await pullDrain());
    if (round % 2 === 1) socketRuns.push(await socketDrain());
  }
  result.cpuN = cpuN;
  result.cpuRounds = CPU_ROUNDS;
  result.cpuSocketRuns = socketRuns;
  result.cpuPullRuns = pullRuns;
  result.cpuRatios = socketRuns.map((r, i) => r.perEvent / pullRuns[i].perEvent);
  result.cpuRatio = percentile(result.cpuRatios, 50);
  result.cpuSocket = percentile(socketRuns.map((r) => r.perEvent), 50);
  result.cpuPull = percentile(pullRuns.map((r) => r.perEvent), 50);

  // 3. Ten idle sockets: the object hibernates; the CPU over idleSeconds is the figure, beside the same
  // time without them (workerd also runs the other queues' alarms).
  await settle(gw.proc.pid);
  const bare0 = cpuMs(gw.proc.pid);
  await sleep(idleSeconds * 1000);
  const bareMs = cpuMs(gw.proc.pid) - bare0;
  const idle = [];
  for (let i = 0; i < 10; i++) {
    const consumer = socketConsumer(gw.url, apps.bench_idle, new Map(), 10);
    await consumer.opened;
    idle.push(consumer);
  }
  await settle(gw.proc.pid);
  const before = cpuMs(gw.proc.pid);
  await sleep(idleSeconds * 1000);
  result.idle = { sockets: idle.length, seconds: idleSeconds, cpuMs: cpuMs(gw.proc.pid) - before, bareMs };
  for (const consumer of idle) consumer.close();
  log(`  10 idle sockets over ${idleSeconds} s: ${result.idle.cpuMs.toFixed(0)} ms of workerd CPU (${bareMs.toFixed(0)} ms over as long with none)`);
  return result;
}

/** Each drain's figure, in the order run: "0.101, 0.095 and 0.098 ms in 100, 99 and 100 ack frames". */
function runs(list, what) {
  const and = (items) => `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
  return `${and(list.map((r) => r.perEvent.toFixed(3)))} ms in ${and(list.map((r) => r.frames))} ${what}`;
}

/** The report's section: a table, and what each figure means. */
export function latencyMarkdown(result, { n }) {
  const row = (kind) => `| ${kind} | ${result[kind].n} | ${result[kind].p50.toFixed(1)} | ${result[kind].p99.toFixed(1)} | ${result[kind].max.toFixed(1)} |`;
  return `## Delivery latency into a closed intranet

From WeCom's \`success\` (the response to the callback) to the event in the consumer's
hands ([docs/feed.md](docs/feed.md)), ${n} distinct callbacks per consumer at ${CONCURRENCY} in
flight, the three consumers in turn, each on a pull app of its own, in the same process
as the load (one clock). A negative figure is an event that reached the consumer before
the load had read WeCom's answer: the commit comes first. The pull consumers ack beside
their next pull, 100 events a pull at most; the long-poll waits 5 s at a time.

| consumer | events | p50 ms | p99 ms | max ms |
| --- | ---: | ---: | ---: | ---: |
${row("websocket")}
${row("long-poll")}
${row("pull, 1 s sleep")}

| goal | wanted | measured | |
| --- | --- | --- | --- |
| WebSocket p99, WeCom's \`success\` to the consumer | ≤ 25 ms | ${result.websocket.p99.toFixed(1)} ms | ${result.websocket.p99 <= 25 ? "PASS" : "**MISS**"} |
| gateway CPU per event over a socket ÷ pull-and-ack, median of ${result.cpuRounds} rounds | ≤ 1× | ${result.cpuRatio.toFixed(2)}× (${Math.min(...result.cpuRatios).toFixed(2)}×–${Math.max(...result.cpuRatios).toFixed(2)}×) | ${result.cpuRatio <= 1 ? "PASS" : "**MISS**"} |
| ten idle sockets over ${result.idle.seconds} s, beyond as long with none | no CPU | ${Math.max(0, result.idle.cpuMs - result.idle.bareMs).toFixed(0)} ms | ${result.idle.cpuMs <= result.idle.bareMs ? "PASS" : "**MISS**"} |

Gateway CPU per event delivered, ${result.cpuN} events queued and then drained (/proc's tick is worth
±${(10 / result.cpuN).toFixed(3)} ms per event), in ${result.cpuRounds} rounds of a socket drain and a pull drain side by side,
taking turns to go first; each round's ratio compares two drains made under the same spell of the machine,
whose speed swings by half from one minute to the next, and the goal's figure is their median
(ratios ${result.cpuRatios.map((r) => r.toFixed(2)).join(", ")}). Medians per drain: over a socket (each ack frame carries the credit it gives back, sent once none came for ${ACK_QUIET_MS} ms, at most
${ACK_MAX_MS} ms after the first, as wecom-edge/consumer sends them) **${result.cpuSocket.toFixed(3)} ms**
(${runs(result.cpuSocketRuns, "ack frames")}); by pull-and-ack (100 a pull) **${result.cpuPull.toFixed(3)} ms**
(${runs(result.cpuPullRuns, "pulls and as many acks")}). An ack frame is one turn of the queue and one commit, in
which the gateway deletes what was acked and leases the next events; a pull and its ack are two of each.
The socket's frames were ${result.websocket.extensions ? `compressed (${result.websocket.extensions}: Node's WebSocket offers it, and workerd accepts it)` : "not compressed"}. Ten idle sockets over ${result.idle.seconds} s cost
workerd **${result.idle.cpuMs.toFixed(0)} ms** of CPU in all, against ${result.idle.bareMs.toFixed(0)} ms over as long
with no socket open (workerd also runs the other queues' alarms); pings are answered by the
runtime without waking the queue.
`;
}

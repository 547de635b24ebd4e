// bench/report.mjs — turns measured phases into the printed table, the target
// verdicts, BENCHMARKS.md and its SVG chart (drawn by hand: no chart library).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";

export function percentOfCpu(ms, wallMs) {
  return wallMs > 0 ? `${Math.max(0, (100 * ms) / wallMs).toFixed(0)} %` : "n/a";
}

/** The lowest and highest round, or "1 round". */
const spread = (phase) => (!phase ? "n/a" : phase.rounds > 1 ? `${ms(phase.min)}–${ms(phase.max)}` : "1 round");
const ms = (v, digits = 3) => (Number.isFinite(v) ? v.toFixed(digits) : "n/a");
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 && a >= 0 ? a / b : NaN);

/** The rows of the results table, in order, from the measured phases. */
export function resultRows(r) {
  const row = (label, phase, floor, note = "") => ({
    label,
    n: phase?.n,
    cpu: phase?.perRequest,
    range: spread(phase),
    floor: floor?.perRequest,
    above: phase && floor ? phase.perRequest - floor.perRequest : NaN,
    resolution: phase ? phase.resolution + (floor?.resolution ?? 0) : NaN,
    p50: phase?.p50,
    p99: phase?.p99,
    wall: phase?.wallMs,
    failures: phase?.failures ?? 0,
    note,
  });
  return [
    row("workerd GET URL verification", r.gw.get, r.floor.get),
    row("workerd POST push (commit + push + delete)", r.gw.push, r.floor.post, "until the sink had every event"),
    row("workerd POST fan-out to 1 push destination", r.gw.fan1, r.floor.post, "until every destination had every event"),
    row("workerd POST fan-out to 3 push destinations", r.gw.fan3, r.floor.post, "until every destination had every event"),
    row("workerd POST fan-out to 8 push destinations", r.gw.fan8, r.floor.post, "until every destination had every event"),
    row("workerd POST suite auth event (instruction URL, pushed)", r.gw.suiteAuth, r.floor.post, "WeCom wants success within 1000 ms"),
    row("workerd POST pull, backlog 0 → 1.5k", r.gw.pull0, r.floor.post),
    row("workerd POST pull, fill 1.5k → 8k", r.gw.fill, r.floor.post, "the fill, measured too"),
    row("workerd POST pull, backlog 8k → 9.5k", r.gw.pull8k, r.floor.post),
    row("workerd POST bot message (commit + stream start)", r.gw.botMessage, r.floor.post, "to a pull app"),
    row("workerd POST bot refresh", r.gw.refresh, r.floor.post, "answered from the stream's state"),
    row("workerd POST stream update", r.gw.update, r.floor.post, "the intranet's snapshot"),
    row("workerd POST 1 MiB, 130k elements, bad signature", r.gw.bomb, r.floor.bomb, "refused"),
    row("Node GET URL verification (@wecom/crypto)", r.node.get, r.nodeFloor.get),
    row("Node POST (verify, decrypt, parse, sign, forward)", r.node.post, r.nodeFloor.post, "answers after the webhook's 2xx"),
  ];
}

/**
 * Derived, not measured: one app's streams live in its one queue object, a
 * Durable Object with one thread, so the refreshes (or updates) per second
 * one app can take are about 1000 ms ÷ the CPU ms of one. The CPU is the
 * whole workerd process's per request (floor included), since here the
 * Worker, the object and the HTTP server all run on that process's time.
 */
export function streamRates(r) {
  const rate = (phase) => (phase && phase.perRequest > 0 ? 1000 / phase.perRequest : NaN);
  return {
    refreshCpu: r.gw.refresh?.perRequest,
    refreshPerSecond: rate(r.gw.refresh),
    updateCpu: r.gw.update?.perRequest,
    updatePerSecond: rate(r.gw.update),
  };
}

/** "about 2,300": two significant digits, thousands separated. */
const about = (v) => (Number.isFinite(v) ? `about ${Number(v.toPrecision(2)).toLocaleString("en-US")}` : "n/a");

export function streamRatesLine(r) {
  const x = streamRates(r);
  return (
    `Derived, not measured: ${about(x.refreshPerSecond)} refreshes/s per app on this machine (1000 ms ÷ ${ms(x.refreshCpu)} ms CPU per refresh, one thread);\n` +
    `${about(x.updatePerSecond)} stream updates/s (1000 ms ÷ ${ms(x.updateCpu)} ms CPU per update).`
  );
}

export function floorRows(r) {
  const row = (label, phase) => ({
    label,
    n: phase?.n,
    cpu: phase?.perRequest,
    range: spread(phase),
    resolution: phase?.resolution,
    p50: phase?.p50,
    p99: phase?.p99,
  });
  return [
    row("workerd floor, GET", r.floor.get),
    row("workerd floor, POST ~0.6 KB", r.floor.post),
    row("workerd floor, POST 1 MiB", r.floor.bomb),
    row("Node floor, GET", r.nodeFloor.get),
    row("Node floor, POST ~0.6 KB", r.nodeFloor.post),
  ];
}

export function targets(r) {
  const rows = resultRows(r);
  const row = (label) => rows.find((x) => x.label.startsWith(label));
  const gwGet = row("workerd GET");
  const gwPush = row("workerd POST push");
  const pull0 = row("workerd POST pull, backlog 0");
  const pull8k = row("workerd POST pull, backlog 8k");
  const bomb = row("workerd POST 1 MiB");
  const nodeGet = row("Node GET");
  const nodePost = row("Node POST");
  const p99 = r.gw.push?.p99;
  const verdict = (value, limit, strict = false) => (!Number.isFinite(value) ? "n/a" : (strict ? value < limit : value <= limit) ? "PASS" : "MISS");
  const times = (v) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : v === Infinity ? "∞" : "n/a");
  // A ratio with the range the tick error (±) of both figures allows: a small denominator widens it.
  const ratioOf = (a, b) => {
    const value = ratio(a.above, b.above);
    const lo = ratio(a.above - a.resolution, b.above + b.resolution);
    const hi = b.above - b.resolution > 1e-9 ? ratio(a.above + a.resolution, b.above - b.resolution) : Infinity;
    return { value, text: `${times(value)} (${times(lo)}–${times(hi)})` };
  };
  const growth = ratioOf(pull8k, pull0);
  const fan1 = row("workerd POST fan-out to 1 ");
  const fan8 = row("workerd POST fan-out to 8 ");
  // What each destination past the first adds, against what a whole callback with one costs.
  const extra = fan1 && fan8 ? { above: (fan8.above - fan1.above) / 7, resolution: (fan8.resolution + fan1.resolution) / 7 } : null;
  const perExtra = extra && fan1 ? ratioOf(extra, fan1) : { value: NaN, text: "n/a" };
  const post = ratioOf(gwPush, nodePost);
  const get = ratioOf(gwGet, nodeGet);
  return [
    { what: "backlog growth: POST pull at 8k ÷ at 0", target: "≤ 1.2×", value: growth.text, verdict: verdict(growth.value, 1.2) },
    { what: "POST: workerd (commit + push + delete) ÷ Node", target: "≤ 2×", value: post.text, verdict: verdict(post.value, 2) },
    {
      what: "fan-out: each destination past the first ÷ a callback with one",
      target: "≤ 1×",
      value: extra ? `${ms(extra.above)} ms, ${perExtra.text}` : "n/a",
      verdict: verdict(perExtra.value, 1),
    },
    { what: "GET: workerd ÷ Node", target: "≤ 2×", value: get.text, verdict: verdict(get.value, 2) },
    { what: "ack latency p99, POST push, 20 concurrent", target: "≤ 20 ms", value: `${ms(p99, 1)} ms`, verdict: verdict(p99, 20) },
    {
      what: "a suite's auth event answered, p99 at 20 concurrent (WeCom's limit: 1000 ms)",
      target: "≤ 250 ms",
      value: `${ms(r.gw.suiteAuth?.p99, 1)} ms`,
      verdict: verdict(r.gw.suiteAuth?.p99, 250),
    },
    { what: "pre-auth refusal of a 1 MiB, 130k-element body", target: "< 2 ms", value: `${ms(bomb.above, 2)} ± ${ms(bomb.resolution, 2)} ms`, verdict: verdict(bomb.above, 2, true) },
  ];
}

function pad(cells, widths, aligns) {
  return cells.map((c, i) => (aligns[i] === "r" ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i]))).join("  ");
}

function textTable(header, body, aligns) {
  const widths = header.map((h, i) => Math.max([...h].length, ...body.map((row) => [...String(row[i])].length)));
  return [pad(header, widths, aligns), widths.map((w) => "-".repeat(w)).join("  "), ...body.map((row) => pad(row, widths, aligns))].join("\n");
}

function mdTable(header, body, aligns) {
  const sep = aligns.map((a) => (a === "r" ? "---:" : "---"));
  return [header, sep, ...body].map((row) => `| ${row.join(" | ")} |`).join("\n");
}

const RESULT_HEADER = ["phase", "requests", "CPU ms/req", "rounds", "floor", "above floor", "±", "p50 ms", "p99 ms", "wall s", "errors"];
const RESULT_ALIGN = ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r"];
const resultCells = (x) => [x.label, x.n ?? "n/a", ms(x.cpu), x.range, ms(x.floor), ms(x.above), ms(x.resolution), ms(x.p50, 1), ms(x.p99, 1), ms(x.wall / 1000, 1), x.failures];
const FLOOR_HEADER = ["floor", "requests", "CPU ms/req", "rounds", "±", "p50 ms", "p99 ms"];
const FLOOR_ALIGN = ["l", "r", "r", "r", "r", "r", "r"];
const floorCells = (x) => [x.label, x.n ?? "n/a", ms(x.cpu), x.range, ms(x.resolution), ms(x.p50, 1), ms(x.p99, 1)];
const TARGET_HEADER = ["target", "wanted", "measured", ""];

export function printTables(r) {
  const lines = [
    textTable(RESULT_HEADER, resultRows(r).map(resultCells), RESULT_ALIGN),
    "",
    textTable(FLOOR_HEADER, floorRows(r).map(floorCells), FLOOR_ALIGN),
    "",
    textTable(TARGET_HEADER, targets(r).map((t) => [t.what, t.target, t.value, t.verdict]), ["l", "r", "r", "l"]),
    "",
    streamRatesLine(r),
  ];
  return lines.join("\n");
}

export function machineInfo({ workerdBin, workerdPackage, wranglerVersion, root }) {
  const model = readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? cpus()[0]?.model ?? "unknown";
  let workerd = "unknown";
  try {
    workerd = execFileSync(workerdBin, ["--version"], { encoding: "utf8" }).trim();
  } catch {}
  let nproc = String(cpus().length);
  try {
    nproc = execFileSync("nproc", { encoding: "utf8" }).trim();
  } catch {}
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    // --no-optional-locks: read only, never refresh the index under someone else's feet.
    const dirty = execFileSync("git", ["--no-optional-locks", "status", "--porcelain", "--", "src", "wrangler.toml"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    if (dirty) commit += " with uncommitted changes in src/";
  } catch {}
  return {
    nproc,
    model,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    workerd: `${workerd} (npm workerd ${workerdPackage})`,
    wrangler: wranglerVersion,
    commit,
    date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
  };
}

const escapeXml = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * Horizontal bars of CPU per request above the floor, in two panels with
 * their own linear scales: the routine callbacks (fractions of a ms) and the
 * 1 MiB refusal (which can be 100× larger). Dashed marks are the targets.
 */
export function chartSvg(r) {
  const rows = resultRows(r);
  const above = (prefix) => rows.find((x) => x.label.startsWith(prefix)).above;
  const nodeGet = above("Node GET");
  const nodePost = above("Node POST");
  const pull0 = above("workerd POST pull, backlog 0");
  const panels = [
    {
      title: "Per request: CPU ms above the floor",
      bars: [
        { label: "GET verify — workerd", value: above("workerd GET"), kind: "workerd", target: 2 * nodeGet, targetLabel: "2× Node" },
        { label: "GET verify — Node", value: nodeGet, kind: "node" },
        { label: "POST push — workerd", value: above("workerd POST push"), kind: "workerd", target: 2 * nodePost, targetLabel: "2× Node" },
        { label: "POST — Node", value: nodePost, kind: "node" },
        { label: "POST pull, backlog 0 — workerd", value: pull0, kind: "workerd" },
        { label: "POST pull, backlog 8k — workerd", value: above("workerd POST pull, backlog 8k"), kind: "workerd", target: 1.2 * pull0, targetLabel: "1.2× backlog 0" },
        { label: "POST bot message — workerd", value: above("workerd POST bot message"), kind: "workerd" },
        { label: "POST bot refresh — workerd", value: above("workerd POST bot refresh"), kind: "workerd" },
        { label: "POST stream update — workerd", value: above("workerd POST stream update"), kind: "workerd" },
      ],
    },
    {
      title: "Refusing a 1 MiB, 130k-element body with a bad signature",
      bars: [{ label: "POST 1 MiB refused — workerd", value: above("workerd POST 1 MiB"), kind: "workerd", target: 2, targetLabel: "2 ms" }],
    },
  ];
  const width = 820;
  const labelW = 250;
  const barW = 440;
  const rowH = 30;
  const colors = { workerd: "#f38020", node: "#3c873a" };
  let y = 20;
  const parts = [];
  for (const panel of panels) {
    parts.push(`<text x="10" y="${y + 14}" font-size="14" font-weight="bold">${escapeXml(panel.title)}</text>`);
    y += 28;
    const values = panel.bars.flatMap((b) => [b.value, b.target]).filter((v) => Number.isFinite(v) && v > 0);
    const max = niceMax(Math.max(...values, 0.001));
    const x0 = labelW;
    const scale = (v) => (Math.max(0, Math.min(v, max)) / max) * barW;
    // Grid: five steps of the axis.
    for (let i = 0; i <= 5; i++) {
      const gx = x0 + (barW * i) / 5;
      parts.push(`<line x1="${gx}" y1="${y - 4}" x2="${gx}" y2="${y + panel.bars.length * rowH}" stroke="#ddd"/>`);
      parts.push(`<text x="${gx}" y="${y + panel.bars.length * rowH + 14}" font-size="11" text-anchor="middle" fill="#555">${trimNumber((max * i) / 5)}</text>`);
    }
    for (const bar of panel.bars) {
      const by = y + 4;
      parts.push(`<text x="${x0 - 8}" y="${by + 15}" font-size="12" text-anchor="end">${escapeXml(bar.label)}</text>`);
      const w = Number.isFinite(bar.value) ? scale(bar.value) : 0;
      parts.push(`<rect x="${x0}" y="${by}" width="${w.toFixed(1)}" height="${rowH - 10}" fill="${colors[bar.kind]}"/>`);
      const hasTarget = Number.isFinite(bar.target) && bar.target > 0;
      const tx = hasTarget ? x0 + scale(bar.target) : 0;
      // The value goes right of the bar, and right of the target mark if that is further.
      parts.push(`<text x="${Math.max(x0 + w, tx) + 6}" y="${by + 15}" font-size="12">${Number.isFinite(bar.value) ? `${bar.value.toFixed(3)} ms` : "n/a"}</text>`);
      if (hasTarget) {
        parts.push(`<line x1="${tx}" y1="${by - 3}" x2="${tx}" y2="${by + rowH - 7}" stroke="#222" stroke-width="2" stroke-dasharray="3,2"/>`);
        parts.push(`<text x="${tx + 3}" y="${by - 1}" font-size="9" fill="#222">target ${escapeXml(bar.targetLabel)}</text>`);
      }
      y += rowH;
    }
    y += 40;
  }
  parts.push(`<rect x="10" y="${y - 14}" width="12" height="12" fill="${colors.workerd}"/><text x="28" y="${y - 4}" font-size="12">wecom-edge in workerd</text>`);
  parts.push(`<rect x="190" y="${y - 14}" width="12" height="12" fill="${colors.node}"/><text x="208" y="${y - 4}" font-size="12">Node baseline (@wecom/crypto)</text>`);
  parts.push(`<text x="420" y="${y - 4}" font-size="12" fill="#222">- - - target</text>`);
  y += 10;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
${parts.join("\n")}
</svg>
`;
}

function niceMax(v) {
  const step = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * step >= v * 1.05) return m * step;
  return 10 * step;
}

function trimNumber(v) {
  return String(Number(v.toPrecision(3)));
}

export function markdown(r, machine, config) {
  const rows = resultRows(r);
  const t = targets(r);
  const above = (prefix) => rows.find((x) => x.label.startsWith(prefix)).above;
  const pushMinusPull = above("workerd POST push") - above("workerd POST pull, backlog 0");
  return `# Benchmarks

<!-- Generated by \`npm run bench\` (bench/run.mjs). Edits here are overwritten on the next run. -->

What one callback costs wecom-edge in CPU, measured on the real thing: the
bundle \`wrangler deploy\` would upload, served by \`workerd\`, with its SQLite
Durable Object queue, pushing to a real HTTP webhook. It is compared with the
same job done by a plain Node server using WeCom's official \`@wecom/crypto\`.
It also measures an AI bot's stream traffic: the message that opens a stream,
WeCom's refreshes of it, and the intranet's updates to it.

![CPU per request above the floor](docs/benchmarks.svg)

## Results

${machine.date}, commit ${machine.commit}. CPU per request in ms, from the
server process's \`/proc/<pid>/stat\`: the median of ${config.rounds} rounds ("rounds" gives
the lowest and highest). "Above floor" subtracts what a trivial server costs
for the same requests (below). "±" bounds the error from the ${1000 / config.clkTck} ms tick
of \`/proc\` in one round: a tick ÷ the round's requests, for the figure and
for its floor. Latencies are as the client saw them, all rounds together, at
${config.concurrency} requests in flight.

${mdTable(RESULT_HEADER, rows.map(resultCells), RESULT_ALIGN)}

Floors (a Worker, or a Node \`http\` server, that reads the body and answers \`success\`):

${mdTable(FLOOR_HEADER, floorRows(r).map(floorCells), FLOOR_ALIGN)}

Pushing and deleting an event, estimated as POST push minus POST pull at
backlog 0: ${ms(pushMinusPull)} ms per event.

Checks after the run: ${r.checks.map(([what, ok]) => `${what} (${ok ? "ok" : "**NOT OK**"})`).join("; ")}.

## Targets

Ratios are of the figures above their floors; in brackets, the range that
the tick error (±) of both allows.

${mdTable(["target", "wanted", "measured", ""], t.map((x) => [x.what, x.target, x.value, `**${x.verdict}**`]), ["l", "r", "r", "l"])}

## Rerun

\`\`\`sh
npm ci
npm run bench                # ${Math.round(config.totalSeconds)} s on this machine; rewrites BENCHMARKS.md and docs/benchmarks.svg
npm run bench -- --quick     # a tenth of the requests: a smoke run that prints the table and writes nothing
\`\`\`

Machine of this run:

| | |
| --- | --- |
| CPUs (\`nproc\`) | ${machine.nproc} |
| CPU model | ${escapeXml(machine.model)} |
| memory | ${machine.memory} |
| Node | ${machine.node} |
| workerd | ${machine.workerd} |
| wrangler | ${machine.wrangler} |
| clock ticks | ${config.clkTck} per second |
| compatibility date | ${config.compatibilityDate}${config.compatibilityFlags.length ? `, flags ${config.compatibilityFlags.join(", ")}` : ", no flags"} |

## Method

- **Build.** \`wrangler deploy --dry-run --outdir\` with \`wrangler.toml\`: the
  upload bundle, as is. Its modules are served by the \`workerd\` binary of the
  \`workerd\` npm package, from a generated capnp config: the compatibility
  date and flags of \`wrangler.toml\` (or the newest date workerd knows, if
  older), its vars, plus \`WECOM_APPS\`, \`ADMIN_TOKEN\` and
  \`WECOM_MAX_SKEW_SECONDS = "0"\`; its Durable Object namespaces
  (${config.durableObjects.map((d) => `\`${d.binding}\` → \`${d.className}\``).join(", ")}), SQLite-backed where its migrations
  say so (\`enableSql\`), on a fresh local-disk directory; HTTP on
  127.0.0.1; outbound fetch allowed to 127.0.0.1 only.
- **CPU.** \`utime + stime\` of the server process (all its threads) from
  \`/proc/<pid>/stat\`, read when the process has been idle for 300 ms before
  a round and again after it. Nothing is timed inside the server: workerd's
  clock stands still while JavaScript computes. For the push phase the second
  reading waits until the webhook sink has received every event and workerd
  is idle again, so the figure is commit + push + delete. All four servers
  run throughout, and GET and POST are measured round by round on each in
  turn, so that a slow spell of the (shared) machine touches all of them;
  each figure is the median of its rounds.
- **Floor.** The same requests against a Worker that reads the body and
  answers \`success\` (same binary, same kind of config), and against a plain
  Node \`http\` server doing the same. Figures are reported above their floor.
- **Load.** ${config.concurrency} requests in flight over keep-alive connections from the
  harness process (which is not measured). Every callback is distinct and
  built before the phase: a new message (MsgId, CreateTime, Content), nonce,
  timestamp and random prefix, encrypted and signed with \`node:crypto\` by
  \`bench/wecom.mjs\`, which shares no code with \`src/\`. Messages are WeCom
  text messages of ${config.messageBytes} bytes of XML. Apps get fresh random
  Tokens and EncodingAESKeys. Each phase is preceded by an unmeasured warm-up
  of the same kind.
- **Phases.** GET URL verification (distinct echostr each); POST to a push
  app whose webhook is a Node sink on 127.0.0.1 answering 204 (a separate
  process, counting arrivals, so that the harness never asks workerd how far
  it got while it is measured); POST to a pull app while its queue grows from
  0 to 1.5k events (20 unmeasured events first create its Durable Object,
  whose one-off start is not the point), then from 1.5k to 8k, then from 8k
  to 9.5k (the queue holds at most 10k); a ~1 MiB XML envelope (\`<Encrypt>\` of junk and
  130,000 \`<a/>\`) with a wrong signature, which must be refused.
- **AI-bot streams.** A pull app with \`bot\` (receiveId \`""\`), whose JSON
  callbacks are ${config.botBodyBytes} bytes; its warm-up goes to another such app.
  ${config.botEvents} user messages (20 unmeasured first, as above), each answered
  with a new stream; then rounds of stream updates
  (\`POST /bots/{app}/streams/{id}\` with the bot's bearer token: snapshots
  of ${config.snapshotBytes} bytes, growing round by round, over ${config.updatedStreams}) take
  turns with rounds of refresh callbacks (each a new msgid, going round all
  the streams). Their floor is that of a ~0.6 KB POST.
- **Node baseline** (\`bench/node-baseline.mjs\`, its own process, same Node):
  GET verifies \`msg_signature\` and decrypts the echostr with
  \`@wecom/crypto\`; POST reads the body, parses the envelope with
  \`fast-xml-parser\`, verifies, decrypts, parses the message XML, builds the
  same event JSON, signs it (Standard Webhooks, HMAC-SHA256), POSTs it to the
  same sink with \`fetch\`, awaits the 2xx and answers \`success\`. It stores
  nothing, so it promises less than the gateway: an event is lost if the
  webhook is down.
- **Checks.** Every answer is checked (\`success\`, the exact echostr, a 4xx
  for the refusal; a bot's reply is opened with \`node:crypto\`: its
  signature, the callback's timestamp and nonce, receiveId \`""\`, and a
  stream start with the placeholder and a new id, or for a refresh the
  stream's id with exactly the content the last update gave it; an update's
  \`{"id", "finish", "bytes"}\`); afterwards the admin API must show the push
  queue empty with every event delivered, the pull queue holding every
  callback sent, and the bot's queue every message but no refresh, which it
  counts instead.
  Errors are counted in the table.

## Reading the numbers

- **Noise.** One shared machine with ${machine.nproc} CPUs for the server, the load
  generator and the sink. While this run measured, the rest of the machine
  (other processes, the kernel, interrupts) used ${percentOfCpu(r.background.otherMs, r.background.wallMs)} of one CPU, and
  the hypervisor stole ${percentOfCpu(r.background.stealMs, r.background.wallMs)}. The "rounds" column shows how far single rounds
  stray, and whole runs differ about as much. Ratios of small differences
  move most: Node's GET costs only a few hundredths of a ms above its floor,
  so "GET: workerd ÷ Node" divides by a very small number and is the least
  stable figure here.
  Compare runs, not single digits.
- **Latency is closed-loop.** ${config.concurrency} requests are always in flight, so the
  server never idles and each request waits behind the others. In workerd the
  Worker and its Durable Object share one JavaScript thread, so the ack
  latency is about ${config.concurrency} × the CPU per callback (plus waits for storage):
  a p99 of 20 ms needs well under ${(20 / config.concurrency).toFixed(0)} ms of CPU per callback. On
  Cloudflare the Worker runs apart from the Durable Object, so only the
  queue's share is serialised per app.
- **Refreshes per app.** An app's streams live in its queue object (one
  Durable Object per app, one thread), so the refreshes and updates per
  second one app can take are about 1000 ms ÷ the CPU ms of one, less what
  its events take. ${streamRatesLine(r).replace("\n", "\n  ")}
  The CPU is workerd's whole per request, floor included; on Cloudflare the
  Worker's part (signature, decryption, encryption) runs outside the
  object, so this errs low.
- **The tick.** \`/proc\` counts in ${1000 / config.clkTck} ms ticks (the sum utime + stime is
  exact, but reported in ticks); the request counts keep that error small
  (the ± column).
- **Logs.** workerd writes each request's log line to a file here; on
  Cloudflare it goes to Workers Logs. That line is part of every figure, and
  not a small part: in one run on 2026-11-29, with the lines of successful
  requests left out by hand, GET cost 0.07 ms above its floor instead of
  0.10, a pull POST 0.53 instead of 0.63 and a push POST 0.84 instead of
  1.08 (1.4× and 1.7× Node's work). The gateway keeps its line: it is how an
  operator finds an event by id.
`;
}

/** Cloudflare's soft limit on requests to one Durable Object (its Durable Objects FAQ, "How much work can a single Durable Object do?"). */
const OBJECT_REQUESTS_PER_SECOND = 1000;
/** The event rates the capacity table is worked out for. */
const CAPACITY_TARGETS = [1_000, 10_000, 100_000];
/** Shards one app may have (src/config.ts, MAX_SHARDS). */
const MAX_SHARDS = 64;

/**
 * Events per second one shard (one queue object) takes, derived from the CPU
 * measured per callback, and the shards an app needs for 1k, 10k and 100k
 * events per second (docs/sharding.md, "Capacity").
 */
export function capacity(r) {
  const rows = [
    ["pushed (commit + push + delete)", r.gw.push],
    ["queued for pull (the commit; pulls and acks not counted)", r.gw.pull0],
  ].filter(([, phase]) => phase && phase.perRequest > 0);
  return rows.map(([what, phase]) => {
    const byCpu = 1000 / phase.perRequest;
    const perShard = Math.min(byCpu, OBJECT_REQUESTS_PER_SECOND);
    // Half of what one shard takes, to leave room for bursts, retries and WeCom's resends.
    const shards = CAPACITY_TARGETS.map((target) => Math.ceil(target / (perShard / 2)));
    return { what, cpu: phase.perRequest, byCpu, perShard, shards };
  });
}

export function capacityMarkdown(r) {
  const rows = capacity(r);
  if (rows.length === 0) return "";
  const shardsText = (n) => (n > MAX_SHARDS ? `${n} (over ${MAX_SHARDS}, the most one app may have)` : String(n));
  return `## Capacity per shard

One queue object (a shard, [docs/sharding.md](docs/sharding.md)) runs on one thread: the events it can
take per second are at most 1000 ms ÷ the CPU of one, and Cloudflare's soft limit is about
${OBJECT_REQUESTS_PER_SECOND} requests per second to one object. The CPU is workerd's whole per callback, above no
floor (the Worker's share included, which on Cloudflare runs outside the object), so this errs low.
The shards are for half of one shard's rate, leaving room for bursts and retries.

${mdTable(
  ["events", "CPU ms per event", "by CPU, events/s", "one shard, events/s", ...CAPACITY_TARGETS.map((t) => `shards for ${t / 1000}k/s`)],
  rows.map((x) => [x.what, ms(x.cpu), Math.round(x.byCpu).toLocaleString("en-US"), Math.round(x.perShard).toLocaleString("en-US"), ...x.shards.map(shardsText)]),
  ["l", "r", "r", "r", "r", "r", "r"],
)}
`;
}

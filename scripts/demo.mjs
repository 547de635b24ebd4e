#!/usr/bin/env node
// `npm run demo`: the gateway on http://127.0.0.1:8787 with the DEMO apps of
// demo/wrangler.toml (WeCom's published sample credentials — never deploy them),
// plus a stand-in intranet webhook on http://127.0.0.1:8788 that checks each
// push's Standard Webhooks signature and prints the event. Once both are up it
// replays WeCom's official sample URL verification and callback to the push app
// `demo` and the pull app `demo_pull`, pulls and acks the latter, then waits for
// your own requests (the README shows them) until Ctrl-C.
import { spawn } from "node:child_process";
import { createHmac, timingSafeEqual } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";

const GATEWAY = "http://127.0.0.1:8787";
const WEBHOOK_PORT = 8788;
const WEBHOOK_SECRET = "whsec_ZGVtby1vbmx5LWRvLW5vdC1kZXBsb3ktdGhpcy1rZXk="; // demo/wrangler.toml
const once = process.argv.includes("--once"); // replay the samples, then exit (used by tests of the demo)

function verifyStandardWebhook(headers, body) {
  const key = Buffer.from(WEBHOOK_SECRET.slice("whsec_".length), "base64");
  const signed = `${headers["webhook-id"]}.${headers["webhook-timestamp"]}.${body}`;
  const expected = Buffer.from(`v1,${createHmac("sha256", key).update(signed).digest("base64")}`);
  // The header may carry several space-separated signatures (key rotation).
  return String(headers["webhook-signature"] ?? "")
    .split(" ")
    .some((s) => s.length === expected.length && timingSafeEqual(Buffer.from(s), expected));
}

const receiver = createServer((req, res) => {
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk) => (body += chunk));
  req.on("end", () => {
    const ok = verifyStandardWebhook(req.headers, body);
    console.log(`\n[intranet webhook] ${req.method} ${req.url} — signature ${ok ? "valid" : "INVALID"}`);
    try {
      console.log(JSON.stringify(JSON.parse(body), null, 2));
    } catch {
      console.log(body);
    }
    res.writeHead(ok ? 204 : 401).end();
  });
});
await new Promise((resolve) => receiver.listen(WEBHOOK_PORT, "127.0.0.1", resolve));
console.log(`[intranet webhook] listening on http://127.0.0.1:${WEBHOOK_PORT}/wecom-events`);

// A fresh state folder each run: the demo replays the same sample, which a kept queue would dedup.
const state = mkdtempSync(join(tmpdir(), "wecom-edge-demo-"));
const wrangler = spawn("wrangler", ["dev", "-c", "demo/wrangler.toml", "--ip", "127.0.0.1", "--port", "8787", "--persist-to", state, "--show-interactive-dev-session=false"], {
  stdio: ["ignore", "inherit", "inherit"],
  env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
});
const stop = (code) => {
  wrangler.kill("SIGINT");
  receiver.close();
  process.exitCode = code;
};
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));
wrangler.on("exit", (code) => {
  receiver.close();
  if (!once) process.exit(code ?? 0);
});

async function waitForGateway() {
  for (let i = 0; i < 120; i++) {
    try {
      const r = await fetch(`${GATEWAY}/healthz`);
      if (r.ok) return;
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error("the gateway did not start within 60 s");
}

// WeCom's own sample values (test/vectors/official.json).
const verify = new URLSearchParams({
  msg_signature: "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
  timestamp: "1409659589",
  nonce: "263014780",
  echostr: "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
});
const callback = new URLSearchParams({ msg_signature: "477715d11cdb4164915debcba66cb864d751f3e6", timestamp: "1409659813", nonce: "1372623149" });
const callbackBody =
  "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>";

const PULL = { authorization: "Bearer demo-pull-token-do-not-deploy", "content-type": "application/json" };
let pushed;
const delivered = new Promise((resolve) => (pushed = resolve));
receiver.on("request", () => pushed());

try {
  await waitForGateway();
  const get = await fetch(`${GATEWAY}/callback/demo?${verify}`);
  console.log(`\n[WeCom] GET /callback/demo (URL verification) → ${get.status} ${JSON.stringify(await get.text())}`);
  const post = await fetch(`${GATEWAY}/callback/demo?${callback}`, { method: "POST", body: callbackBody });
  console.log(`[WeCom] POST /callback/demo (sample message) → ${post.status} ${JSON.stringify(await post.text())}`);
  await Promise.race([delivered, new Promise((resolve) => setTimeout(resolve, 10_000))]);

  const postPull = await fetch(`${GATEWAY}/callback/demo_pull?${callback}`, { method: "POST", body: callbackBody });
  console.log(`\n[WeCom] POST /callback/demo_pull (sample message) → ${postPull.status} ${JSON.stringify(await postPull.text())}`);
  const pull = await fetch(`${GATEWAY}/queue/demo_pull/pull`, { method: "POST", headers: PULL, body: JSON.stringify({ max: 10, leaseSeconds: 60 }) });
  const { events, lease } = await pull.json();
  console.log(`[intranet consumer] POST /queue/demo_pull/pull → ${pull.status}, ${events.length} event(s):`, events.map((e) => e.event));
  const ack = await fetch(`${GATEWAY}/queue/demo_pull/ack`, { method: "POST", headers: PULL, body: JSON.stringify({ ids: events.map((e) => e.id), lease }) });
  const acked = await ack.text();
  console.log(`[intranet consumer] POST /queue/demo_pull/ack → ${ack.status} ${acked}`);

  const ok =
    get.status === 200 && post.status === 200 && postPull.status === 200 && events.length === 1 && ack.status === 200 && JSON.parse(acked).acked === 1;
  console.log(`\nThe demo gateway is at ${GATEWAY}/callback/demo — see the README for curl commands. Ctrl-C stops it.`);
  if (once) stop(ok ? 0 : 1);
} catch (error) {
  console.error(String(error));
  stop(1);
}

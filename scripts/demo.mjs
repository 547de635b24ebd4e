#!/usr/bin/env node
// `npm run demo`: the gateway on http://127.0.0.1:8787 with the DEMO apps of
// demo/wrangler.toml (WeCom's published sample credentials — never deploy them),
// plus a stand-in intranet webhook on http://127.0.0.1:8788 that checks each
// push's Standard Webhooks signature and prints the event. Once both are up it
// replays WeCom's official sample URL verification and callback to the push app
// `demo` and the pull app `demo_pull`, pulls and acks the latter, then plays
// an AI-bot conversation with `demo_bot` (below), then waits for your own
// requests (the README shows them) until Ctrl-C. Its state lives in a fresh
// wecom-edge-demo-* folder in the temporary directory, removed when it stops:
// at the end of --once, on Ctrl-C (SIGINT), SIGTERM, or when wrangler exits.
//
//   --once          play everything once, then exit: 0 if every answer was right (CI)
//   --external-bot  leave demo_bot's events to a consumer you run yourself,
//                   such as examples/bot-consumer.mjs (see examples/README.md)
import { spawn } from "node:child_process";
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, randomInt, timingSafeEqual } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const GATEWAY = "http://127.0.0.1:8787";
const WEBHOOK_PORT = 8788;
const WEBHOOK_SECRET = "whsec_ZGVtby1vbmx5LWRvLW5vdC1kZXBsb3ktdGhpcy1rZXk="; // demo/wrangler.toml
const once = process.argv.includes("--once"); // replay the samples, then exit (used by tests of the demo)
const externalBot = process.argv.includes("--external-bot");

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
/** Removes the state folder; safe to call more than once. Called only once workerd has stopped writing to it. */
const removeState = () => rmSync(state, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
// Whatever way the process ends from here on (process.exit included), the folder goes with it.
process.on("exit", removeState);
// Run from demo/: wrangler dev compares the types of the configuration it runs against the
// worker-configuration.d.ts of its working folder, and the demo's configuration is not the Worker's.
const wrangler = spawn("wrangler", ["dev", "-c", "wrangler.toml", "--ip", "127.0.0.1", "--port", "8787", "--persist-to", state, "--show-interactive-dev-session=false"], {
  cwd: fileURLToPath(new URL("../demo/", import.meta.url)),
  stdio: ["ignore", "inherit", "inherit"],
  // No fetch of the Request.cf sample from Cloudflare: the demo needs none, and a closed network made it a frightening warning.
  env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
});
let wranglerExited = false;
// Aborted by stop(): the bot's loops end at their next turn instead of running to their deadline.
const halt = new AbortController();
let stopping = false;
/** Stops wrangler (and with it workerd); the process ends once wrangler has exited (below). */
const stop = (code) => {
  process.exitCode ??= code;
  halt.abort();
  receiver.close();
  if (wranglerExited) return;
  if (stopping) {
    // A second Ctrl-C: no more waiting.
    wrangler.kill("SIGKILL");
    return;
  }
  stopping = true;
  wrangler.kill("SIGINT");
  // wrangler stops within a second or two; if it hangs, it is made to stop.
  setTimeout(() => wranglerExited || wrangler.kill("SIGKILL"), 10_000).unref();
};
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));
wrangler.on("error", (error) => {
  console.error(`[demo] cannot start wrangler: ${error.message} (run the demo with npm run demo)`);
  wranglerExited = true;
  receiver.close();
  process.exit(1);
});
wrangler.on("exit", (code) => {
  wranglerExited = true;
  receiver.close();
  removeState();
  // Ended by a signal or by --once: the exit code set by stop(). Otherwise wrangler's own.
  process.exit(process.exitCode ?? code ?? 1);
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

// ---- The AI bot `demo_bot` (docs/replies.md, "AI-bot streams") ----
//
// Two parties are played here. WeCom's side sends enter_chat and a message,
// then refreshes the stream the message opened until it is finished. The
// intranet's side (a stand-in LLM) pulls the message and fills that stream
// through the stream API. WeCom's side uses node:crypto only, no code from
// src/, so a gateway bug cannot cancel itself out on both ends.

const BOT = {
  app: "demo_bot",
  // All as in demo/wrangler.toml: WeCom's published sample Token and EncodingAESKey, demo-only bearer tokens.
  token: "QDG6eK",
  aesKey: Buffer.from("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C=", "base64"),
  pull: { authorization: "Bearer demo-bot-pull-token-do-not-deploy", "content-type": "application/json" },
  stream: { authorization: "Bearer demo-bot-stream-token-do-not-deploy", "content-type": "application/json" },
  placeholder: "思考中…",
  welcome: "你好！我是 wecom-edge 的演示机器人，发条消息试试。",
};
const QUESTION = "写一首关于月亮的诗";
// The stand-in LLM's answer, in the chunks it "generates".
const ANSWER = ["床前明月光，", "疑是地上霜。", "举头望明月，", "低头思故乡。"];
const REFRESH_MS = 200;
// Bounds of the bot's loops. An external consumer gets longer: someone has to start it.
const BOT_DEADLINE_MS = externalBot ? 120_000 : 30_000;
const MAX_REFRESHES = Math.ceil(BOT_DEADLINE_MS / REFRESH_MS);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** WXBizMsgCrypt encryption: AES-256-CBC, IV = key[0..16), PKCS#7 to 32 bytes by hand; an AI bot's receiveId is "". */
function wecomEncrypt(plaintext) {
  const message = Buffer.from(plaintext, "utf8");
  const length = Buffer.alloc(4);
  length.writeUInt32BE(message.length);
  const body = Buffer.concat([randomBytes(16), length, message]); // ‖ receiveId "", which adds nothing
  const pad = 32 - (body.length % 32);
  const cipher = createCipheriv("aes-256-cbc", BOT.aesKey, BOT.aesKey.subarray(0, 16)).setAutoPadding(false);
  return Buffer.concat([cipher.update(Buffer.concat([body, Buffer.alloc(pad, pad)])), cipher.final()]).toString("base64");
}

function wecomDecrypt(encrypt) {
  const decipher = createDecipheriv("aes-256-cbc", BOT.aesKey, BOT.aesKey.subarray(0, 16)).setAutoPadding(false);
  const padded = Buffer.concat([decipher.update(Buffer.from(encrypt, "base64")), decipher.final()]);
  const pad = padded.at(-1) ?? 0;
  if (pad < 1 || pad > 32 || !padded.subarray(-pad).every((b) => b === pad)) throw new Error("the answer's padding is not PKCS#7 to 32 bytes");
  const body = padded.subarray(0, -pad);
  // random16 ‖ uint32be(length) ‖ message ‖ receiveId
  const length = body.length >= 20 ? body.readUInt32BE(16) : Infinity;
  if (20 + length > body.length) throw new Error("the answer's message length does not fit its plaintext");
  const receiveId = body.subarray(20 + length).toString("utf8");
  if (receiveId !== "") throw new Error(`the answer's receiveId is ${JSON.stringify(receiveId)}, not an AI bot's ""`);
  return body.subarray(20, 20 + length).toString("utf8");
}

/** msg_signature: SHA-1 of the four strings sorted and joined (all ASCII, so JavaScript's sort is WeCom's byte order). */
function wecomSignature(timestamp, nonce, encrypt) {
  return createHash("sha1").update([BOT.token, timestamp, nonce, encrypt].sort().join("")).digest("hex");
}

/**
 * One callback as WeCom sends it to an AI bot: the JSON envelope, signed, to
 * /callback/demo_bot. Returns the decrypted answer, or null for the empty one.
 * The answer must be signed with this callback's own timestamp and nonce, as WeCom checks.
 */
async function botCallback(fields) {
  const plaintext = JSON.stringify({ msgid: randomBytes(16).toString("hex"), aibotid: "demo-aibot", chattype: "single", from: { userid: "demo-user" }, ...fields });
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = String(randomInt(1e9));
  const encrypt = wecomEncrypt(plaintext);
  const query = new URLSearchParams({ msg_signature: wecomSignature(timestamp, nonce, encrypt), timestamp, nonce });
  const response = await fetch(`${GATEWAY}/callback/${BOT.app}?${query}`, { method: "POST", body: JSON.stringify({ encrypt }), signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`POST /callback/${BOT.app} → ${response.status} ${text}`);
  if (text === "") return null;
  const answer = JSON.parse(text);
  if (String(answer.timestamp) !== timestamp || answer.nonce !== nonce || answer.msgsignature !== wecomSignature(timestamp, nonce, answer.encrypt)) {
    throw new Error(`the answer to POST /callback/${BOT.app} is not signed for this callback: ${text}`);
  }
  return JSON.parse(wecomDecrypt(answer.encrypt));
}

/** WeCom's side: enter_chat (the welcome), a message (the stream start), then refreshes until finish. */
async function playWecom() {
  const welcome = await botCallback({ msgtype: "event", create_time: Math.floor(Date.now() / 1000), event: { eventtype: "enter_chat" } });
  console.log(`\n[WeCom → ${BOT.app}] enter_chat → welcome ${JSON.stringify(welcome)}`);

  const start = await botCallback({ response_url: "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=DEMO", msgtype: "text", text: { content: QUESTION } });
  console.log(`[WeCom → ${BOT.app}] text ${JSON.stringify(QUESTION)} → stream start ${JSON.stringify(start)}`);
  const streamId = start?.stream?.id;
  if (typeof streamId !== "string") throw new Error("the message was not answered with a stream");
  if (externalBot) console.log(`[WeCom → ${BOT.app}] waiting up to ${BOT_DEADLINE_MS / 1000} s for your consumer (examples/README.md) to answer`);

  // WeCom refreshes until an answer says finish; each answer is the whole text so far.
  const deadline = Date.now() + BOT_DEADLINE_MS;
  let last;
  for (let n = 1; n <= MAX_REFRESHES && Date.now() < deadline && !halt.signal.aborted; n++) {
    await sleep(REFRESH_MS);
    const answer = await botCallback({ msgtype: "stream", stream: { id: streamId } });
    const line = `finish: ${answer?.stream?.finish}, content: ${JSON.stringify(answer?.stream?.content)}`;
    // While an external consumer is awaited, only changes are worth a line.
    if (!externalBot || line !== last) console.log(`[WeCom → ${BOT.app}] refresh ${n} → ${line}`);
    last = line;
    if (answer?.stream?.finish !== false) return { welcome, start, final: answer };
  }
  return { welcome, start, final: null };
}

/** POST a JSON body; the answer's JSON (any status but 200 throws). */
async function postJson(path, headers, body) {
  const response = await fetch(`${GATEWAY}${path}`, { method: "POST", headers, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`POST ${path} → ${response.status} ${text}`);
  return JSON.parse(text);
}

/**
 * The intranet's side: a stand-in LLM consumer. It pulls demo_bot's events,
 * streams its answer to each message that opened a stream (snapshots: the
 * whole text so far each time; examples/bot-consumer.mjs shows appends), and
 * acks what it pulled under the lease. It stops after one answer.
 */
async function playLlm() {
  const done = { pulled: 0, acked: 0, streamIds: [] };
  const deadline = Date.now() + BOT_DEADLINE_MS;
  for (let round = 0; round < 500 && Date.now() < deadline && !halt.signal.aborted && done.streamIds.length === 0; round++) {
    const { events, lease } = await postJson(`/queue/${BOT.app}/pull`, BOT.pull, { max: 10, leaseSeconds: 60 });
    if (events.length === 0) {
      await sleep(REFRESH_MS);
      continue;
    }
    done.pulled += events.length;
    for (const event of events) {
      const what = event.event.msgtype === "event" ? `event ${event.event.event?.eventtype}` : `${event.event.msgtype} ${JSON.stringify(event.event.text?.content ?? "")}`;
      console.log(`[intranet LLM] pulled ${event.id}: ${what}${event.streamId ? `, stream ${event.streamId}` : ""}`);
      if (event.streamId === undefined) continue; // enter_chat and other events: nothing to answer, only ack
      for (let i = 1; i <= ANSWER.length; i++) {
        await sleep(250); // "generating"
        const update = { content: ANSWER.slice(0, i).join(""), ...(i === ANSWER.length ? { finish: true } : {}) };
        const result = await postJson(`/bots/${BOT.app}/streams/${event.streamId}`, BOT.stream, update);
        console.log(`[intranet LLM] POST /bots/${BOT.app}/streams/… ${JSON.stringify(update)} → ${JSON.stringify(result)}`);
      }
      done.streamIds.push(event.streamId);
    }
    const { acked } = await postJson(`/queue/${BOT.app}/ack`, BOT.pull, { ids: events.map((e) => e.id), lease });
    console.log(`[intranet LLM] acked ${acked} of ${events.length}`);
    done.acked += acked;
  }
  return done;
}

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

  // Both sides at once, as in life: the consumer is already polling when WeCom's callbacks arrive.
  const [wecom, llm] = await Promise.all([playWecom(), externalBot ? null : playLlm()]);
  const full = ANSWER.join("");
  const botChecks = {
    "welcome is the configured text": wecom.welcome?.msgtype === "text" && wecom.welcome.text?.content === BOT.welcome,
    "stream start shows the placeholder": wecom.start.msgtype === "stream" && wecom.start.stream.finish === false && wecom.start.stream.content === BOT.placeholder,
    "last refresh is finished": wecom.final?.stream?.finish === true,
    // With an external consumer the text is its own; ours must arrive whole.
    "last refresh holds the whole answer": externalBot ? typeof wecom.final?.stream?.content === "string" : wecom.final?.stream?.content === full,
    ...(llm && {
      "the consumer streamed that very stream": llm.streamIds.length === 1 && llm.streamIds[0] === wecom.start.stream.id,
      "the consumer acked all it pulled": llm.pulled > 0 && llm.acked === llm.pulled,
    }),
  };
  const failed = Object.keys(botChecks).filter((check) => !botChecks[check]);
  console.log(`[demo] ${failed.length === 0 ? "the bot conversation went as it should" : `FAILED: ${failed.join("; ")}`}`);

  console.log(`\nThe demo gateway is at ${GATEWAY}/callback/demo — see the README for curl commands. Ctrl-C stops it.`);
  console.log(`The admin page is at ${GATEWAY}/admin — admin token: demo-admin-token-do-not-deploy`);
  if (once) stop(ok && failed.length === 0 ? 0 : 1);
} catch (error) {
  console.error(String(error));
  stop(1);
}

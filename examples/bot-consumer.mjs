#!/usr/bin/env node
// An intranet consumer for a wecom-edge AI bot (docs/replies.md, "AI-bot streams").
// Copy it and plug your model into answer() below. Node 20+, no dependencies.
//
// It only makes outbound requests to the gateway, so nothing on the intranet
// has to be reachable: it pulls the bot app's events, answers each message
// by streaming chunks into the stream the message opened (WeCom's refreshes
// show them), then acks the events under their lease, or nacks them on failure.
//
//   WECOM_EDGE_URL  the gateway                   (default http://127.0.0.1:8787, the demo)
//   APP             the bot app's name            (default demo_bot)
//   DESTINATION     the app's pull destination that takes the bot's messages,
//                   e.g. bot: /queue/<APP>/<DESTINATION>/pull (default: unset,
//                   the default destination, /queue/<APP>/pull)
//   PULL_TOKEN      that destination's pull.token (required)
//   BOT_TOKEN       the app's bot.token           (required)
//
// Ctrl-C once: finish the events in hand, then exit. Twice: exit now (what was
// leased comes back when its lease runs out).

const GATEWAY = (process.env.WECOM_EDGE_URL ?? "http://127.0.0.1:8787").replace(/\/+$/, "");
const APP = process.env.APP ?? "demo_bot";
const { PULL_TOKEN, BOT_TOKEN } = process.env;
if (!PULL_TOKEN || !BOT_TOKEN) {
  console.error("Set PULL_TOKEN (the app's pull.token) and BOT_TOKEN (its bot.token); see examples/README.md.");
  process.exit(2);
}
/** The destination pulled: "default" (an app's top-level pull) keeps the path of before destinations. */
const DESTINATION = process.env.DESTINATION || "default";
if (!/^[a-z0-9_-]{1,32}$/.test(DESTINATION)) {
  console.error("DESTINATION must be a destination's name: 1-32 of a-z, 0-9, _ and -");
  process.exit(2);
}
const QUEUE = `/queue/${APP}${DESTINATION === "default" ? "" : `/${DESTINATION}`}`;

// The lease must outlast an answer: a stream may stay open up to bot.streamTimeoutSeconds (300 s by default).
const LEASE_SECONDS = 330;
// Pull again this soon when the queue was empty: a user waits for the first chunk.
const IDLE_MS = 1_000;
// Send at most one update per this many ms: WeCom shows only what its next
// refresh finds, so posting every token of a fast model would be requests for nothing.
const FLUSH_MS = 300;

// ▶▶ Plug your model in here. A fake LLM: yields the answer in chunks, as a
// streaming model API does. Replace the body with your model's streaming call
// (yield each text delta); keep it an async generator of strings.
async function* answer(text) {
  const chunks = [`你问：「${text}」。`, "这是示例消费者的假模型，", "它一段一段地回答，", "真正的模型请接在 answer() 里。"];
  for (const chunk of chunks) {
    await sleep(200); // "thinking"
    yield chunk;
  }
}

/** The user's text: text messages, voice (WeCom transcribes it), and the text parts of mixed messages. */
function textOf(message) {
  if (message.msgtype === "text") return message.text?.content ?? "";
  if (message.msgtype === "voice") return message.voice?.content ?? "";
  if (message.msgtype === "mixed") {
    return (message.mixed?.msg_item ?? []).filter((item) => item.msgtype === "text").map((item) => item.text.content).join("\n");
  }
  return `[${message.msgtype}]`; // image, file: a real bot would fetch and read them
}

/** Streams the model's answer into the stream and finishes it. */
async function streamAnswer(event) {
  const path = `/bots/${APP}/streams/${encodeURIComponent(event.streamId)}`;
  let pending = "";
  let sent = false;
  let lastFlush = 0;
  // The stream holds the placeholder until the first update, and an append
  // would add to it: so the first update is a snapshot that replaces it (and
  // a second delivery after a crash mid-answer starts the text over), and
  // the rest append (the gateway keeps the text; we send only the new part).
  const update = (content, finish) => call(path, BOT_TOKEN, { content, append: sent, finish });
  for await (const chunk of answer(textOf(event.event))) {
    pending += chunk;
    if (Date.now() - lastFlush >= FLUSH_MS) {
      await update(pending, false);
      sent = true;
      pending = "";
      lastFlush = Date.now();
    }
  }
  // What is left goes with finish: the next refresh shows the answer complete.
  await update(pending, true);
}

/** Handles one event; resolves when it is done, so it can be acked. */
async function handle(event) {
  // Only messages carry a streamId. enter_chat, feedback and card events come too: log them and ack.
  if (event.streamId === undefined) {
    console.log(`${event.id}: ${event.event.msgtype === "event" ? event.event.event?.eventtype : event.event.msgtype}, nothing to answer`);
    return;
  }
  console.log(`${event.id}: ${event.event.msgtype} ${JSON.stringify(textOf(event.event))} → stream ${event.streamId}`);
  try {
    await streamAnswer(event);
    console.log(`${event.id}: answered`);
  } catch (error) {
    // A second delivery (our ack was lost) finds its stream finished (409) or
    // timed out (410): retrying cannot help, so the event is done. A timed-out
    // answer could still go through the event's response_url.
    if (error.status === 409 || error.status === 410) console.log(`${event.id}: stream ${error.status === 409 ? "already finished" : "timed out"}`);
    else throw error;
  }
}

/** POST JSON with a bearer token; the answer's JSON, or an Error with the HTTP status. */
async function call(path, token, body) {
  const response = await fetch(`${GATEWAY}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000), // a hung connection must not stall the loop
  });
  const text = await response.text();
  if (!response.ok) throw Object.assign(new Error(`POST ${path} → ${response.status} ${text}`), { status: response.status });
  return JSON.parse(text);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let stopping = false;
process.on("SIGINT", () => {
  if (stopping) process.exit(130);
  stopping = true;
  console.log("stopping after the events in hand (Ctrl-C again to exit now)");
});

console.log(`consuming ${GATEWAY}${QUEUE}/pull`);
while (!stopping) {
  let batch;
  try {
    batch = await call(`${QUEUE}/pull`, PULL_TOKEN, { max: 10, leaseSeconds: LEASE_SECONDS });
  } catch (error) {
    console.error(`pull failed: ${error.message}; trying again in 5 s`);
    await sleep(5_000);
    continue;
  }
  if (batch.events.length === 0) {
    await sleep(IDLE_MS);
    continue;
  }
  // The events of a batch are answered side by side: one slow answer does not hold up the others.
  const results = await Promise.allSettled(batch.events.map(handle));
  const done = [];
  const failed = [];
  // The event ids, parallel to the events (a gateway before destinations sends no `ids`: each event's own id).
  const ids = batch.ids ?? batch.events.map((e) => e.id);
  results.forEach((result, i) => {
    const id = ids[i];
    if (result.status === "fulfilled") done.push(id);
    else {
      failed.push(id);
      console.error(`${id}: failed: ${result.reason.message}`);
    }
  });
  try {
    // Acked under the pull's lease: if the lease ran out, another consumer may hold the event now, and it is not ours to ack.
    if (done.length > 0) console.log("ack", await call(`${QUEUE}/ack`, PULL_TOKEN, { ids: done, lease: batch.lease }));
    // Released at once would fail again at once; in 10 s a passing fault may have passed.
    if (failed.length > 0) console.log("nack", await call(`${QUEUE}/nack`, PULL_TOKEN, { ids: failed, lease: batch.lease, delaySeconds: 10 }));
  } catch (error) {
    // Not acked: the events come again when the lease runs out.
    console.error(`ack/nack failed: ${error.message}`);
  }
}

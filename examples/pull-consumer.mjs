#!/usr/bin/env node
// A pull consumer for a wecom-edge app with "pull" (docs/delivery.md,
// "Pulling from the queue"), or for one of an app's pull destinations
// (docs/routing.md, "Pull destinations"), to copy and start from. Node 20+, no
// dependencies. It only makes outbound requests to the gateway, so nothing on
// the intranet has to be reachable.
//
// The loop: pull a batch (the events are leased, not removed; a pull with
// nothing to lease waits at the gateway for the next event), handle each
// event, ack the ones handled under the batch's lease, nack the ones that
// failed so that they come back after RETRY_DELAY_SECONDS. An event whose id
// was handled already (our ack was lost, or the lease ran out first) is not
// handled again, only acked. Events are named by the pull answer's `ids`
// (parallel to its `events`): a destination's transform may leave `id` out.
// Network errors and 5xx answers are retried with backoff (1 s doubling to 30 s).
//
//   WECOM_EDGE_URL       the gateway (default http://127.0.0.1:8787)
//   APP                  the app's name (required)
//   DESTINATION          one of the app's pull destinations, e.g. bot: pulls
//                        /queue/<APP>/<DESTINATION>/pull (default: unset, the
//                        app's default destination, /queue/<APP>/pull)
//   PULL_TOKEN           the destination's pull token; when unset,
//                        <APP>_PULL_TOKEN (MYAPP_PULL_TOKEN for "myapp", '-' as
//                        '_'), as `wecom-edge keygen --dev` writes it to .dev.vars:
//                          APP=myapp node --env-file=.dev.vars examples/pull-consumer.mjs
//                        or with DESTINATION, <APP>_<DESTINATION>_PULL_TOKEN
//                        (HR_BOT_PULL_TOKEN for hr's bot)
//   RETRY_DELAY_SECONDS  how long a failed event waits before it is due again (default 30)
//
// SIGINT (Ctrl-C) or SIGTERM: finish the batch in hand, ack it, and exit 0;
// a batch that arrives after the signal is released at once (nack, delay 0)
// for another consumer. A second signal exits at once: what is leased then
// comes back when its lease runs out.

const GATEWAY = (process.env.WECOM_EDGE_URL ?? "http://127.0.0.1:8787").replace(/\/+$/, "");
const APP = process.env.APP;
if (!APP) fail("Set APP (the app's name) and PULL_TOKEN (its pull token); see examples/README.md.");
/** The destination pulled: "default" (an app's top-level pull) keeps the path of before destinations. */
const DESTINATION = process.env.DESTINATION || "default";
if (!/^[a-z0-9_-]{1,32}$/.test(DESTINATION)) fail("DESTINATION must be a destination's name: 1-32 of a-z, 0-9, _ and -");
const QUEUE = `${GATEWAY}/queue/${encodeURIComponent(APP)}${DESTINATION === "default" ? "" : `/${DESTINATION}`}`;
const TOKEN_SOURCE = process.env.PULL_TOKEN !== undefined ? "PULL_TOKEN" : tokenName(APP, DESTINATION);
const PULL_TOKEN = process.env[TOKEN_SOURCE];
if (!PULL_TOKEN) fail(`${TOKEN_SOURCE} is not set: give the ${DESTINATION === "default" ? "app" : "destination"}'s pull token in PULL_TOKEN, or run with --env-file=.dev.vars (see examples/README.md)`);
const RETRY_DELAY_SECONDS = Number(process.env.RETRY_DELAY_SECONDS ?? 30);
if (!Number.isInteger(RETRY_DELAY_SECONDS) || RETRY_DELAY_SECONDS < 0 || RETRY_DELAY_SECONDS > 43_200) fail("RETRY_DELAY_SECONDS must be a whole number from 0 to 43200");

/** Events per pull (1..100). */
const MAX = 10;
/** How long a batch is ours: longer than handling a batch takes, or its events come again (docs/delivery.md). */
const LEASE_SECONDS = 120;
/** How long a pull with nothing to lease waits at the gateway for the next event (long-poll, docs/feed.md; 0 to 25). */
const WAIT_SECONDS = Number(process.env.WAIT_SECONDS ?? 20);
if (!Number.isInteger(WAIT_SECONDS) || WAIT_SECONDS < 0 || WAIT_SECONDS > 25) fail("WAIT_SECONDS must be a whole number from 0 to 25");
/** Pull again this soon after an empty answer that did not wait (a gateway before long-poll). */
const IDLE_MS = 2_000;
/** How many handled ids are remembered. */
const SEEN_MAX = 10_000;

/**
 * ▶▶ Your code goes here: do what the event is for. Resolve when it is done
 * (it is then acked), throw when it cannot be done now (it is nacked and
 * comes back after RETRY_DELAY_SECONDS; after pull.maxAttempts leases, 20 by
 * default, it becomes a dead letter). `attempt` is 1 the first time the
 * event is leased. The event is the JSON of docs/delivery.md: id, app,
 * receiveId, receivedAt, format, event (WeCom's fields), raw; or, for a
 * destination with a transform, what the transform made of it. `id` is the
 * event's id, from the pull answer's `ids`.
 */
// handle: begin (test/cli/examples.test.mjs swaps in a slow handler between these two markers)
async function handle(event, attempt, id) {
  const e = event.event ?? {};
  const what = [e.MsgType, e.Event, e.ChangeType ?? e.InfoType].filter(Boolean).join("/");
  log(`handled ${id}${what ? ` ${what}` : ""}${attempt > 1 ? ` (attempt ${attempt})` : ""}`);
}
// handle: end

/**
 * Ids already handled, oldest first, at most SEEN_MAX: enough for an
 * example. The gateway delivers an event at least once, so a real consumer
 * keeps them where it keeps what it does with the events (its database),
 * written in the same transaction, so that a restart forgets nothing.
 */
const seen = new Set();
function remember(id) {
  seen.add(id);
  if (seen.size > SEEN_MAX) seen.delete(seen.values().next().value);
}

// ----------------------------------------------------------- the loop ----

let stopping = false;
let wake = () => {};
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    if (stopping) process.exit(130);
    stopping = true;
    log(`${signal}: stopping after the batch in hand (again to exit now)`);
    wake();
  });
}

log(`consuming ${QUEUE}/pull`);
let failures = 0;
while (!stopping) {
  let batch;
  const asked = Date.now();
  try {
    // A signal while the pull waits ends the wait: the gateway then leases nothing to it.
    const waiting = new AbortController();
    wake = () => waiting.abort();
    batch = await call("pull", { max: MAX, leaseSeconds: LEASE_SECONDS, waitSeconds: WAIT_SECONDS }, waiting.signal);
    failures = 0;
  } catch (error) {
    if (stopping) break;
    if (!error.retry) fail(error.message, 1);
    failures++;
    const ms = Math.min(30_000, 1000 * 2 ** (failures - 1));
    log(`pull failed: ${error.message}; again in ${ms / 1000} s`);
    await pause(ms);
    continue;
  }
  if (batch.events.length === 0) {
    // The long-poll's time ran out: ask again at once (an older gateway answers at once: wait a little).
    if (Date.now() - asked < 1000) await pause(IDLE_MS);
    continue;
  }
  // The event ids, parallel to the events (a gateway before destinations sends no `ids`: each event's own id).
  const ids = batch.ids ?? batch.events.map((e) => e.id);
  if (stopping) {
    // Pulled while stopping: give the batch straight back.
    await settle("nack", { ids, lease: batch.lease, delaySeconds: 0 });
    break;
  }
  log(`pulled ${batch.events.length} event${batch.events.length === 1 ? "" : "s"}`);
  const done = [];
  const failed = [];
  for (const [i, event] of batch.events.entries()) {
    const id = ids[i];
    if (seen.has(id)) {
      log(`duplicate ${id}, already handled: ack only`);
      done.push(id);
      continue;
    }
    try {
      await handle(event, batch.attempts[id] ?? 1, id);
      remember(id);
      done.push(id);
    } catch (error) {
      log(`failed ${id}: ${error?.message ?? error}; due again in ${RETRY_DELAY_SECONDS} s`);
      failed.push(id);
    }
  }
  // Under the batch's lease: if it ran out, another consumer may hold the events now, and they are not ours to ack.
  if (done.length > 0) await settle("ack", { ids: done, lease: batch.lease });
  if (failed.length > 0) await settle("nack", { ids: failed, lease: batch.lease, delaySeconds: RETRY_DELAY_SECONDS });
}
log("stopped");

// ------------------------------------------------------------ helpers ----

/** Ack or nack, retried up to 3 times on a network error or a 5xx; what is not settled comes back when the lease runs out. */
async function settle(verb, body) {
  for (let attempt = 1; ; attempt++) {
    try {
      const answer = await call(verb, body);
      const count = verb === "ack" ? answer.acked : answer.released;
      const missed = verb === "ack" ? answer.notAcked : answer.notReleased;
      log(`${verb === "ack" ? "acked" : "released"} ${count}${missed.length > 0 ? `; not: ${missed.map((m) => `${m.id} (${m.reason})`).join(", ")}` : ""}`);
      return;
    } catch (error) {
      if (!error.retry || attempt === 3) {
        log(`${verb} failed: ${error.message}; the events come again when the lease runs out`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
    }
  }
}

/** POST /queue/{app}[/{destination}]/{verb}: the answer's JSON, or an Error with `retry` set for a network error or a 5xx. */
async function call(verb, body, signal) {
  let response;
  try {
    // A hung connection must not stall the loop: 30 s beyond what a long-poll may wait.
    const timeout = AbortSignal.timeout(30_000 + (body.waitSeconds ?? 0) * 1000);
    response = await fetch(`${QUEUE}/${verb}`, {
      method: "POST",
      headers: { authorization: `Bearer ${PULL_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  } catch (error) {
    throw Object.assign(new Error(`cannot reach ${GATEWAY}: ${error.cause?.code ?? error.message}`), { retry: true });
  }
  const text = await response.text();
  if (response.status === 401) {
    const what = DESTINATION === "default" ? `${APP} is not a pull app` : `${APP} has no pull destination ${DESTINATION}`;
    throw new Error(`${verb}: 401: the pull token is wrong, or ${what} on ${GATEWAY}`);
  }
  if (!response.ok) throw Object.assign(new Error(`${verb}: ${response.status} ${text.slice(0, 200)}`), { retry: response.status >= 500 });
  return JSON.parse(text);
}

/** Sleeps `ms`, or less when a signal comes. */
function pause(ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

/**
 * <APP>_PULL_TOKEN, the name `wecom-edge keygen` gives the token (docs/cli.md,
 * "keygen: new credentials for an app"); for a named destination,
 * <APP>_<DESTINATION>_PULL_TOKEN, as docs/routing.md names them (HR_BOT_PULL_TOKEN).
 */
function tokenName(app, destination) {
  let stem = app.toUpperCase().replaceAll("-", "_");
  if (!/^[A-Z]/.test(stem) || stem === "ADMIN") stem = `APP_${stem}`;
  if (destination !== "default") stem += `_${destination.toUpperCase().replaceAll("-", "_")}`;
  return `${stem}_PULL_TOKEN`;
}

/** A line on stdout; on a terminal, control characters and bidi overrides from outside are shown as \u escapes. */
function log(line) {
  const text = process.stdout.isTTY ? line.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`) : line;
  console.log(text);
}

/** Exit 2 for a setting to fix, 1 for an answer that retrying cannot change (a wrong token). */
function fail(message, code = 2) {
  console.error(message);
  process.exit(code);
}

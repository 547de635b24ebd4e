#!/usr/bin/env node
// A webhook receiver for wecom-edge's pushes (docs/delivery.md, "Verifying a
// push"), to copy and start from. Node 20+, no dependencies.
//
// It checks each push's Standard Webhooks signature (webhook-id,
// webhook-timestamp, webhook-signature: HMAC-SHA256 over
// `${id}.${timestamp}.${body}` keyed with the bytes after `whsec_`), refuses
// a timestamp more than 5 minutes from this clock, drops a push whose event
// id it has already handled, and answers 204 at once; then it prints the
// event. A refused push is answered 401 and printed as refused.
//
//   WEBHOOK_SECRET  the app's webhook secret, whsec_…; or leave it out and set
//   APP             the app's name: the secret is then <APP>_WEBHOOK_SECRET
//                   (MYAPP_WEBHOOK_SECRET for "myapp", '-' as '_'), as
//                   `wecom-edge keygen --dev` writes it to .dev.vars, which
//                   `node --env-file=.dev.vars` loads:
//                     APP=myapp node --env-file=.dev.vars examples/webhook-receiver.mjs
//   PORT            where it listens (default 8788)
//   HOST            on which address (default 127.0.0.1, this machine only)
//
// Every path is accepted, so any webhook.url on this host and port reaches it.

import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

/** How far a push's webhook-timestamp may be from this clock (Standard Webhooks' usual tolerance). */
const TOLERANCE_SECONDS = 5 * 60;
/** How many event ids are remembered for dedup. */
const SEEN_MAX = 10_000;
/** A push bigger than this is refused (the gateway's events are far smaller). */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** <APP>_WEBHOOK_SECRET, the name `wecom-edge keygen` gives the secret (docs/cli.md, "keygen: new credentials for an app"). */
function secretName(app) {
  let stem = app.toUpperCase().replaceAll("-", "_");
  if (!/^[A-Z]/.test(stem) || stem === "ADMIN") stem = `APP_${stem}`;
  return `${stem}_WEBHOOK_SECRET`;
}

const source = process.env.WEBHOOK_SECRET !== undefined ? "WEBHOOK_SECRET" : process.env.APP ? secretName(process.env.APP) : undefined;
const secret = source === undefined ? undefined : process.env[source];
if (!secret) {
  console.error(
    source === undefined
      ? "Set WEBHOOK_SECRET (the app's whsec_… secret), or APP with <APP>_WEBHOOK_SECRET in the environment, e.g.\n  APP=myapp node --env-file=.dev.vars examples/webhook-receiver.mjs"
      : `${source} is not set${source === "WEBHOOK_SECRET" ? "" : ` (APP=${process.env.APP}): is it in the file given to --env-file?`}`,
  );
  process.exit(2);
}
if (!secret.startsWith("whsec_")) {
  console.error(`${source} must be the webhook secret as wecom-edge keygen made it, whsec_ followed by base64`);
  process.exit(2);
}
const key = Buffer.from(secret.slice("whsec_".length), "base64");
const port = Number(process.env.PORT ?? 8788);
const host = process.env.HOST ?? "127.0.0.1";

/**
 * Event ids already handled, oldest first, at most SEEN_MAX: enough for an
 * example. A real receiver keeps them where it keeps what it does with the
 * events (its database), in the same transaction, so that a restart forgets
 * nothing: the gateway may deliver an event more than once (docs/delivery.md).
 */
const seen = new Set();
function remember(id) {
  seen.add(id);
  if (seen.size > SEEN_MAX) seen.delete(seen.values().next().value);
}

/** Why a push is refused, or undefined when its signature and timestamp hold. */
function refusal(headers, body) {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  const signatures = headers["webhook-signature"];
  if (typeof id !== "string" || typeof timestamp !== "string" || typeof signatures !== "string") {
    return "missing webhook-id, webhook-timestamp or webhook-signature";
  }
  if (!/^\d{1,15}$/.test(timestamp)) return "webhook-timestamp is not unix seconds";
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) return "webhook-timestamp is more than 5 minutes from this clock";
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest();
  // One "v1,<base64>" per secret the gateway signs with, space-separated: one match is enough.
  for (const signature of signatures.split(" ")) {
    const [version, value] = signature.split(",", 2);
    if (version !== "v1" || value === undefined) continue;
    const given = Buffer.from(value, "base64");
    if (given.length === expected.length && timingSafeEqual(given, expected)) return undefined;
  }
  return "no signature matches the secret";
}

/** Text from outside, safe for a terminal: control characters and bidi overrides as \u escapes. */
function safe(text) {
  if (!process.stdout.isTTY) return text;
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * ▶▶ Your code goes here: do what the event is for. It runs after the
 * answer, so a slow handler never makes the gateway wait and retry. A real
 * receiver that must not lose an event stores it first (a table, a queue)
 * and answers 2xx only then.
 */
function handle(event) {
  const what = [event.event?.MsgType, event.event?.Event, event.event?.ChangeType ?? event.event?.InfoType].filter(Boolean).join("/");
  console.log(safe(`event ${event.id} app=${event.app} ${what} (signature verified)`));
  console.log(safe(JSON.stringify(event.event)));
}

const server = createServer((request, response) => {
  const chunks = [];
  let size = 0;
  request.on("data", (chunk) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  });
  request.on("end", () => {
    if (request.method !== "POST") return response.writeHead(405, { allow: "POST" }).end();
    if (size > MAX_BODY_BYTES) return response.writeHead(413).end();
    const body = Buffer.concat(chunks);
    const id = request.headers["webhook-id"];
    const why = refusal(request.headers, body);
    if (why !== undefined) {
      console.log(safe(`refused ${typeof id === "string" ? id : "(no webhook-id)"}: ${why}`));
      return response.writeHead(401, { "content-type": "text/plain" }).end("invalid signature\n");
    }
    if (seen.has(id)) {
      // The event was handled already: say yes again, so the gateway stops sending it.
      console.log(safe(`duplicate ${id} (attempt ${request.headers["wecom-edge-attempt"] ?? "?"}), skipped`));
      return response.writeHead(204).end();
    }
    let event;
    try {
      event = JSON.parse(body.toString("utf8"));
    } catch {
      console.log(safe(`refused ${id}: the body is not JSON`));
      return response.writeHead(400).end();
    }
    remember(id);
    response.writeHead(204).end();
    try {
      handle(event);
    } catch (error) {
      console.error(safe(`handling ${id} failed: ${error?.stack ?? error}`));
    }
  });
});

server.listen(port, host, () => {
  console.log(`listening on http://${host.includes(":") ? `[${host}]` : host}:${server.address().port}, verifying with ${source}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}

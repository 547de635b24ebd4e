#!/usr/bin/env node
// bench/node-baseline.mjs — what the same job costs in a plain Node server
// built the usual way, with WeCom's official @wecom/crypto and fast-xml-parser,
// and no storage: the benchmark's yardstick for the Worker's CPU.
//
//   node bench/node-baseline.mjs work    GET  /callback/{app}: verify msg_signature, decrypt echostr, answer it
//                                        POST /callback/{app}: read the body, parse the envelope, verify,
//                                             decrypt, parse the message, build the event JSON, sign it
//                                             (Standard Webhooks), POST it to the webhook, await a 2xx,
//                                             answer "success"
//   node bench/node-baseline.mjs floor   answers "success" to everything, after reading the body: the
//                                        cost of being a Node HTTP server at all
//
// The app comes from the environment variable BENCH_APP (JSON: name, token,
// encodingAESKey, receiveId, webhook {url, secret}). Prints {"port": n} on its
// first stdout line once it listens on 127.0.0.1.
import { decrypt, getSignature } from "@wecom/crypto";
import { XMLParser } from "fast-xml-parser";
import { createHash, createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

const mode = process.argv[2];
if (mode !== "work" && mode !== "floor") throw new Error("usage: node-baseline.mjs work|floor");

const app = JSON.parse(process.env.BENCH_APP ?? "{}");
const webhookKey = app.webhook ? Buffer.from(app.webhook.secret.slice("whsec_".length), "base64") : undefined;
// Leaves as strings (a MsgId keeps its 19 digits), like the Worker's parser.
const xml = new XMLParser({ parseTagValue: false, ignoreAttributes: true, processEntities: true });

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > 1024 * 1024) {
        reject(Object.assign(new Error("body over 1 MiB"), { status: 413 }));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function refuse(status, message) {
  return Object.assign(new Error(message), { status });
}

function checkSignature(query, encrypt) {
  const expected = Buffer.from(getSignature(app.token, query.get("timestamp") ?? "", query.get("nonce") ?? "", encrypt));
  const given = Buffer.from(query.get("msg_signature") ?? "");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw refuse(401, "bad msg_signature");
}

function open(encrypt) {
  let opened;
  try {
    opened = decrypt(app.encodingAESKey, encrypt);
  } catch {
    throw refuse(400, "decryption failed");
  }
  if (opened.id !== app.receiveId) throw refuse(400, "wrong receiveId");
  return opened.message;
}

async function verifyUrl(query) {
  const echostr = query.get("echostr") ?? "";
  checkSignature(query, echostr);
  return open(echostr);
}

async function receive(query, req) {
  const body = await readBody(req);
  const encrypt = xml.parse(body)?.xml?.Encrypt;
  if (typeof encrypt !== "string") throw refuse(400, "no Encrypt");
  checkSignature(query, encrypt);
  const message = open(encrypt);
  const event = xml.parse(message)?.xml;
  if (typeof event !== "object" || event === null) throw refuse(400, "bad message XML");
  const id = `evt_${createHash("sha256").update(`${app.name}\n${app.receiveId}\n${message}`).digest("hex").slice(0, 32)}`;
  const json = JSON.stringify({ id, app: app.name, receiveId: app.receiveId, receivedAt: new Date().toISOString(), format: "xml", event, raw: message });
  const webhookId = `msg_${randomUUID()}`;
  const timestamp = Math.floor(Date.now() / 1000);
  const signature = createHmac("sha256", webhookKey).update(`${webhookId}.${timestamp}.${json}`).digest("base64");
  const answer = await fetch(app.webhook.url, {
    method: "POST",
    headers: { "content-type": "application/json", "webhook-id": webhookId, "webhook-timestamp": String(timestamp), "webhook-signature": `v1,${signature}` },
    body: json,
  });
  await answer.arrayBuffer();
  if (answer.status < 200 || answer.status > 299) throw refuse(503, `webhook answered ${answer.status}`);
  return "success";
}

const server = createServer(async (req, res) => {
  if (mode === "floor") {
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-type": "text/plain; charset=utf-8" }).end("success"));
    return;
  }
  try {
    const url = new URL(req.url ?? "/", "http://gateway");
    if (url.pathname !== `/callback/${app.name}`) throw refuse(404, "not found");
    const text = req.method === "GET" ? await verifyUrl(url.searchParams) : await receive(url.searchParams, req);
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" }).end(text);
  } catch (error) {
    req.resume();
    res.writeHead(error.status ?? 500, { "content-type": "application/json" }).end(JSON.stringify({ error: String(error.message) }));
  }
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: server.address().port })));
process.on("SIGTERM", () => process.exit(0));

// bench/wecom.mjs — plays WeCom for the benchmark: fresh credentials, and
// distinct, correctly encrypted and signed callbacks.
//
// Like scripts/gen-vectors.mjs this shares no code with src/: it uses
// node:crypto directly (AES-256-CBC with setAutoPadding(false) and the
// 32-byte PKCS#7 padding done here by hand, SHA-1 for msg_signature), so the
// benchmark cannot pass because the Worker agrees with itself.
//
//   key       = base64decode(EncodingAESKey + "=")   (32 bytes), iv = key[0..16)
//   plaintext = random16 ‖ uint32be(len(msg)) ‖ msg ‖ receiveId
//   encrypt   = base64(AES-256-CBC(key, iv, plaintext ‖ n × byte(n))), n = 32 - len % 32
//   msg_sig   = hex(SHA-1(sorted([token, timestamp, nonce, encrypt]).join("")))
//
// AI bots (智能机器人) use the same scheme with receiveId "", in JSON: the
// callback is {"encrypt"}, the gateway's reply {"encrypt", "msgsignature",
// "timestamp", "nonce"}, which is opened here the same independent way.
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomInt } from "node:crypto";

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
// The 43rd base64 character carries 2 bits that fall outside the 32 key bytes;
// choosing it among the characters whose low 2 bits are 0 keeps the key canonical.
const LAST_KEY_CHAR = "AEIMQUYcgkosw048";

export function randomAlnum(length) {
  let s = "";
  for (let i = 0; i < length; i++) s += ALNUM[randomInt(ALNUM.length)];
  return s;
}

/** A fresh 43-character EncodingAESKey ([A-Za-z0-9] only; never WeCom's published sample). */
export function newEncodingAESKey() {
  const key = randomAlnum(42) + LAST_KEY_CHAR[randomInt(LAST_KEY_CHAR.length)];
  if (Buffer.from(key + "=", "base64").length !== 32) throw new Error("EncodingAESKey does not decode to 32 bytes");
  return key;
}

/** A Standard Webhooks secret: whsec_ + base64 of 32 random bytes. */
export function newWebhookSecret() {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

/** Precomputed AES key material for one app. */
export function cipherFor(encodingAESKey) {
  const key = Buffer.from(encodingAESKey + "=", "base64");
  return { key, iv: key.subarray(0, 16) };
}

export function encryptMessage({ key, iv }, message, receiveId) {
  const msg = Buffer.from(message, "utf8");
  const length = Buffer.alloc(4);
  length.writeUInt32BE(msg.length, 0);
  const plain = Buffer.concat([randomBytes(16), length, msg, Buffer.from(receiveId, "utf8")]);
  const n = 32 - (plain.length % 32); // 1..32, WeCom's block size for padding
  const cipher = createCipheriv("aes-256-cbc", key, iv);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(Buffer.concat([plain, Buffer.alloc(n, n)])), cipher.final()]).toString("base64");
}

/** The inverse of encryptMessage: {message, receiveId}. Throws on anything WeCom's format does not allow. */
export function decryptMessage({ key, iv }, encrypt) {
  const sealed = Buffer.from(encrypt, "base64");
  if (sealed.length === 0 || sealed.length % 32 !== 0) throw new Error(`ciphertext of ${sealed.length} bytes is not whole 32-byte blocks`);
  const decipher = createDecipheriv("aes-256-cbc", key, iv);
  decipher.setAutoPadding(false);
  const padded = Buffer.concat([decipher.update(sealed), decipher.final()]);
  const n = padded[padded.length - 1];
  if (n < 1 || n > 32 || !padded.subarray(padded.length - n).every((b) => b === n)) throw new Error("bad PKCS#7 padding");
  const plain = padded.subarray(0, padded.length - n);
  const length = plain.readUInt32BE(16);
  if (20 + length > plain.length) throw new Error("message length runs past the plaintext");
  return { message: plain.subarray(20, 20 + length).toString("utf8"), receiveId: plain.subarray(20 + length).toString("utf8") };
}

export function msgSignature(token, timestamp, nonce, encrypt) {
  const parts = [token, timestamp, nonce, encrypt].map((s) => Buffer.from(s, "utf8"));
  parts.sort(Buffer.compare);
  return createHash("sha1").update(Buffer.concat(parts)).digest("hex");
}

const USERS = ["zhangsan", "lisi", "wangwu", "zhaoliu", "sunqi", "zhouba"];
const PHRASES = [
  "请帮忙审批一下本周的出差申请，谢谢",
  "The build on main is green again, deploying at 15:00",
  "会议室 3F-201 下午两点有人用吗？",
  "Ticket INC-2291: VPN drops every 20 minutes on the Shanghai office Wi-Fi",
  "报销单已提交，发票原件明天寄出",
  "Reminder: quarterly access review closes on Friday",
];

let sequence = 0;

/**
 * A WeCom text message, ~300-400 bytes of XML, different on every call: a new
 * MsgId, CreateTime and Content, so the queue (which dedups by a digest of the
 * plaintext) keeps every one.
 */
export function textMessage(receiveId, agentId) {
  const n = sequence++;
  const now = Math.floor(Date.now() / 1000);
  const content = `${PHRASES[n % PHRASES.length]} #${n}-${randomAlnum(8)}`;
  const msgId = `${7_300_000_000_000_000_000n + BigInt(n) * 7919n + BigInt(randomInt(1_000_000))}`;
  return (
    `<xml><ToUserName><![CDATA[${receiveId}]]></ToUserName>` +
    `<FromUserName><![CDATA[${USERS[n % USERS.length]}]]></FromUserName>` +
    `<CreateTime>${now + (n % 1000)}</CreateTime>` +
    `<MsgType><![CDATA[text]]></MsgType>` +
    `<Content><![CDATA[${content}]]></Content>` +
    `<MsgId>${msgId}</MsgId>` +
    `<AgentID>${agentId}</AgentID></xml>`
  );
}

const nonce = () => String(randomInt(1, 2 ** 47));
const timestamp = () => String(Math.floor(Date.now() / 1000));

/** A signed POST /callback/{app}: a new message, nonce, timestamp and random prefix. */
export function postRequest(app) {
  const encrypt = encryptMessage(app.cipher, textMessage(app.receiveId, app.agentId), app.receiveId);
  const ts = timestamp();
  const n = nonce();
  const query = new URLSearchParams({ msg_signature: msgSignature(app.token, ts, n, encrypt), timestamp: ts, nonce: n });
  // The envelope as WeCom sends it: ToUserName, Encrypt, AgentID.
  const body =
    `<xml><ToUserName><![CDATA[${app.receiveId}]]></ToUserName><Encrypt><![CDATA[${encrypt}]]></Encrypt>` +
    `<AgentID><![CDATA[${app.agentId}]]></AgentID></xml>`;
  return { method: "POST", path: `/callback/${app.name}?${query}`, body: Buffer.from(body), expect: { status: 200, body: "success" } };
}

/**
 * A suite's change_auth to its instruction URL (docs/providers.md): encrypted
 * for the suite id, no AgentID, answered exactly "success". A new corp and
 * TimeStamp on every call, so every one is a new event.
 */
export function suiteAuthRequest(app) {
  const n = sequence++;
  const plaintext =
    `<xml><SuiteId><![CDATA[${app.suite.suiteId}]]></SuiteId><InfoType><![CDATA[change_auth]]></InfoType>` +
    `<TimeStamp>${Math.floor(Date.now() / 1000) + n}</TimeStamp><AuthCorpId><![CDATA[wp${randomAlnum(28)}]]></AuthCorpId></xml>`;
  const encrypt = encryptMessage(app.cipher, plaintext, app.suite.suiteId);
  const ts = timestamp();
  const n2 = nonce();
  const query = new URLSearchParams({ msg_signature: msgSignature(app.token, ts, n2, encrypt), timestamp: ts, nonce: n2 });
  const body = `<xml><ToUserName><![CDATA[${app.suite.suiteId}]]></ToUserName><Encrypt><![CDATA[${encrypt}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>`;
  return { method: "POST", path: `/callback/${app.name}?${query}`, body: Buffer.from(body), expect: { status: 200, body: "success" } };
}

/** A signed URL-verification GET with a distinct echostr; the answer must be its plaintext. */
export function getRequest(app) {
  const echo = String(randomInt(1, 2 ** 47)) + String(randomInt(1, 2 ** 30));
  const echostr = encryptMessage(app.cipher, echo, app.receiveId);
  const ts = timestamp();
  const n = nonce();
  const query = new URLSearchParams({ msg_signature: msgSignature(app.token, ts, n, echostr), timestamp: ts, nonce: n, echostr });
  return { method: "GET", path: `/callback/${app.name}?${query}`, expect: { status: 200, body: echo } };
}

export const MIB = 1024 * 1024;

/**
 * A 1 MiB (just under the limit) envelope that is cheap to send and costly to
 * parse: ~130k empty elements after a junk Encrypt, with a wrong signature.
 * A gateway that bounds its work before checking the signature refuses it
 * cheaply; one that parses the whole XML first does not.
 */
export function bombBody(elements = 130_000) {
  const tail = "<a/>".repeat(elements) + "</xml>";
  const head = "<xml><Encrypt>";
  const close = "</Encrypt>";
  const fill = MIB - 64 - head.length - close.length - tail.length;
  return head + "A".repeat(Math.floor(fill / 4) * 4) + close + tail;
}

/** `body` is bombBody() as a Buffer, shared by all: only the query differs. */
export function bombRequest(app, body) {
  const ts = timestamp();
  const query = new URLSearchParams({ msg_signature: randomBytes(20).toString("hex"), timestamp: ts, nonce: nonce() });
  // Any refusal (4xx) is right; what matters is what it cost.
  return { method: "POST", path: `/callback/${app.name}?${query}`, body, expect: { status: "4xx" } };
}

/**
 * A user's message to an AI bot, as WeCom's JSON callback carries it: a new
 * msgid and text every call, so each one is a distinct event with its own stream.
 */
export function botMessage() {
  const n = sequence++;
  return JSON.stringify({
    msgid: `${randomAlnum(24)}${n}`,
    aibotid: "aib_bench",
    chattype: "single",
    from: { userid: USERS[n % USERS.length] },
    response_url: `https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=${randomAlnum(32)}`,
    msgtype: "text",
    text: { content: `${PHRASES[n % PHRASES.length]} #${n}` },
  });
}

/** WeCom asking an AI bot what stream `streamId` shows now: a new msgid every call. */
export function botRefresh(streamId) {
  const n = sequence++;
  return JSON.stringify({
    msgid: `${randomAlnum(24)}${n}`,
    aibotid: "aib_bench",
    chattype: "single",
    from: { userid: USERS[n % USERS.length] },
    msgtype: "stream",
    stream: { id: streamId },
  });
}

/**
 * A signed POST /callback/{app} of an AI bot, with `plaintext` (JSON) inside:
 * a new nonce, timestamp and random prefix. The answer must be a reply
 * envelope that opens (see openBotReply) to an object `check` accepts
 * (it returns null, or what is wrong).
 */
export function botPostRequest(app, plaintext, check) {
  const encrypt = encryptMessage(app.cipher, plaintext, app.receiveId);
  const ts = timestamp();
  const n = nonce();
  const query = new URLSearchParams({ msg_signature: msgSignature(app.token, ts, n, encrypt), timestamp: ts, nonce: n });
  return {
    method: "POST",
    path: `/callback/${app.name}?${query}`,
    headers: { "content-type": "application/json" },
    body: Buffer.from(JSON.stringify({ encrypt })),
    expect: { status: 200, check: (body) => check(openBotReply(app, body, ts, n)) },
  };
}

/**
 * An AI bot's reply as WeCom checks it: {"encrypt", "msgsignature",
 * "timestamp" (a number), "nonce"} with the callback's own timestamp and
 * nonce, signed with the app's Token, receiveId "". Returns the reply object.
 */
export function openBotReply(app, body, ts, n) {
  const envelope = JSON.parse(body);
  if (envelope.timestamp !== Number(ts) || envelope.nonce !== n) throw new Error("the reply does not carry the callback's timestamp and nonce");
  if (typeof envelope.encrypt !== "string" || envelope.msgsignature !== msgSignature(app.token, ts, n, envelope.encrypt)) {
    throw new Error("the reply's msgsignature does not match");
  }
  const { message, receiveId } = decryptMessage(app.cipher, envelope.encrypt);
  if (receiveId !== "") throw new Error(`the reply is sealed for receiveId ${JSON.stringify(receiveId)}, not ""`);
  return JSON.parse(message);
}

/** An app as the harness knows it: credentials plus a precomputed cipher. An AI bot has receiveId "" and `bot`. */
export function newApp(name, extra) {
  const encodingAESKey = newEncodingAESKey();
  return {
    name,
    token: randomAlnum(24),
    encodingAESKey,
    receiveId: `ww${randomBytes(8).toString("hex")}`,
    agentId: String(1_000_000 + randomInt(1000)),
    cipher: cipherFor(encodingAESKey),
    ...extra,
  };
}

/** The app's entry in WECOM_APPS (docs/configuration.md, "An app's entry"). */
export function appConfig(app) {
  const entry = { token: app.token, encodingAESKey: app.encodingAESKey, ...(app.suite ? { suite: app.suite } : { receiveId: app.receiveId }) };
  if (app.webhook) entry.webhook = app.webhook;
  if (app.destinations) entry.destinations = app.destinations;
  if (app.pull) entry.pull = app.pull;
  if (app.bot) entry.bot = app.bot;
  return entry;
}

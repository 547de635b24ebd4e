/**
 * CPU cost of the request path, run in Node (`npm run bench`), because
 * workerd's clock does not advance during pure computation. Node's WebCrypto
 * and V8 stand in for workerd's BoringSSL and V8: the figures are indicative,
 * the budget they are compared with (10 ms of CPU per request on the Workers
 * Free plan) is not close.
 */
import { bench, describe } from "vitest";
import { parseEnvelope } from "../src/wecom/envelope.js";
import { buildEvent, serializeEvent } from "../src/wecom/event.js";
import {
  computeMsgSignature,
  decryptMessage,
  encryptMessage,
  importEncodingAesKey,
  verifyMsgSignature,
} from "../src/crypto/index.js";
import worker from "../src/index.js";
import { parseXml } from "../src/wecom/xml.js";

// The handler logs one line per request; a benchmark measures it, not the terminal.
console.log = () => {};

const token = "kR7tQ2pZ9wXy";
const encodingAESKey = "RbSCtD0MnaZDhN0XnWfLE4RemCSlsi9YgSzN8xg0VRc";
const receiveId = "ww3e40cde07cc21a01";
const aes = await importEncodingAesKey(encodingAESKey);

const text =
  `<xml><ToUserName><![CDATA[${receiveId}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>` +
  `<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好，企业微信]]></Content>` +
  `<MsgId>4561255354251345929</MsgId><AgentID>1000002</AgentID></xml>`;
const approval =
  `<xml><ToUserName><![CDATA[${receiveId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1700000000</CreateTime>` +
  `<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[sys_approval_change]]></Event><AgentID>3010040</AgentID><ApprovalInfo>` +
  `<SpNo>202611280001</SpNo><SpName><![CDATA[请假]]></SpName><SpStatus>1</SpStatus><TemplateId><![CDATA[3TkZjxugodbqpEMk9fM]]></TemplateId>` +
  `<ApplyTime>1700000000</ApplyTime><Applyer><UserId><![CDATA[zhangsan]]></UserId><Party><![CDATA[1]]></Party></Applyer>` +
  `<SpRecord><SpStatus>1</SpStatus><ApproverAttr>1</ApproverAttr><Details><Approver><UserId><![CDATA[lisi]]></UserId></Approver>` +
  `<Speech><![CDATA[]]></Speech><SpStatus>1</SpStatus><SpTime>0</SpTime></Details></SpRecord>` +
  `<Notifyer><UserId><![CDATA[wangwu]]></UserId></Notifyer><StatuChangeEvent>1</StatuChangeEvent></ApprovalInfo></xml>`;
const big = `<xml><Content><![CDATA[${"企业微信".repeat(25_000)}]]></Content></xml>`; // ~300 KB

const encText = await encryptMessage(aes, text, receiveId);
const encApproval = await encryptMessage(aes, approval, receiveId);
const encBig = await encryptMessage(aes, big, receiveId);
const timestamp = String(Math.floor(Date.now() / 1000));
const nonce = "1372623149";
const sigText = await computeMsgSignature(token, timestamp, nonce, encText);
const bodyText = `<xml><ToUserName><![CDATA[${receiveId}]]></ToUserName><Encrypt><![CDATA[${encText}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>`;

const echostr = await encryptMessage(aes, "5927782489442352469", receiveId);
const echoSig = await computeMsgSignature(token, timestamp, nonce, echostr);
// URL verification never reaches the queue, so it needs no QUEUE binding.
const env = {
  QUEUE: undefined as never,
  WECOM_MAX_SKEW_SECONDS: "300",
  WECOM_DEBUG: "0",
  WECOM_APPS: JSON.stringify({
    hr: { token, encodingAESKey, receiveId, webhook: { url: "http://127.0.0.1:9/x", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" } },
  }),
};
const verifyUrl = `https://gw.test/callback/hr?${new URLSearchParams({ msg_signature: echoSig, timestamp, nonce, echostr })}`;

const app = { name: "hr", token, encodingAESKey, receiveIds: [receiveId] } as const;

describe("request path pieces", () => {
  bench("verify msg_signature (SHA-1)", async () => {
    await verifyMsgSignature(sigText, token, timestamp, nonce, encText);
  });
  bench("decrypt a text message (pad 1..32 by hand)", async () => {
    await decryptMessage(aes, encText);
  });
  bench("parse the XML envelope", () => {
    parseEnvelope(bodyText);
  });
  bench("parse an approval event's XML", () => {
    parseXml(approval);
  });
});

describe("a whole callback, up to the hand-over", () => {
  bench("POST text message: envelope, verify, decrypt, parse, event JSON", async () => {
    const envelope = parseEnvelope(bodyText);
    await verifyMsgSignature(sigText, token, timestamp, nonce, envelope.encrypt);
    const decrypted = await decryptMessage(aes, envelope.encrypt);
    serializeEvent(await buildEvent(app, decrypted, "xml", new Date()));
  });
  bench("POST approval event: verify, decrypt, parse, event JSON", async () => {
    await verifyMsgSignature(sigText, token, timestamp, nonce, encApproval);
    const decrypted = await decryptMessage(aes, encApproval);
    serializeEvent(await buildEvent(app, decrypted, "xml", new Date()));
  });
  bench("GET URL verification through the fetch handler", async () => {
    await worker.fetch(new Request(verifyUrl), env);
  });
  bench("decrypt and parse a 300 KB message", async () => {
    const decrypted = await decryptMessage(aes, encBig);
    parseXml(decrypted.message);
  }, { iterations: 50 });
});

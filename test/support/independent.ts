/**
 * An implementation of WXBizMsgCrypt independent of src/, in Node with
 * node:crypto (as scripts/gen-vectors.mjs): it opens the passive replies the
 * gateway sends, so that a test never checks src/crypto with itself. The
 * receiver (receiver.ts) serves it to the tests in workerd.
 */
import { createDecipheriv, createHash } from "node:crypto";

export interface OpenedReply {
  /** The envelope's fields as WeCom reads them. */
  envelope: { encrypt: string; signature: string; timestamp: string | number; nonce: string };
  signatureValid: boolean;
  /** 1..32, as WXBizMsgCrypt pads. */
  padValue: number;
  plaintext: string;
  receiveId: string;
}

export function openReply(encodingAESKey: string, token: string, format: "xml" | "json", body: string): OpenedReply {
  const envelope = format === "json" ? fromJson(body) : fromXml(body);
  const parts = [token, String(envelope.timestamp), envelope.nonce, envelope.encrypt].map((s) => Buffer.from(s, "utf8"));
  parts.sort(Buffer.compare);
  const expected = createHash("sha1").update(Buffer.concat(parts)).digest("hex");
  const key = Buffer.from(`${encodingAESKey}=`, "base64");
  const decipher = createDecipheriv("aes-256-cbc", key, key.subarray(0, 16));
  decipher.setAutoPadding(false);
  const padded = Buffer.concat([decipher.update(Buffer.from(envelope.encrypt, "base64")), decipher.final()]);
  const padValue = padded[padded.length - 1]!;
  if (padValue < 1 || padValue > 32 || !padded.subarray(padded.length - padValue).every((b: number) => b === padValue)) {
    throw new Error("bad WXBizMsgCrypt padding");
  }
  const content = padded.subarray(0, padded.length - padValue);
  const length = content.readUInt32BE(16);
  return {
    envelope,
    signatureValid: expected === envelope.signature,
    padValue,
    plaintext: content.subarray(20, 20 + length).toString("utf8"),
    receiveId: content.subarray(20 + length).toString("utf8"),
  };
}

function fromJson(body: string): OpenedReply["envelope"] {
  const parsed = JSON.parse(body) as { encrypt: string; msgsignature: string; timestamp: number; nonce: string };
  if (Object.keys(parsed).join() !== "encrypt,msgsignature,timestamp,nonce") throw new Error(`unexpected JSON reply fields: ${Object.keys(parsed)}`);
  return { encrypt: parsed.encrypt, signature: parsed.msgsignature, timestamp: parsed.timestamp, nonce: parsed.nonce };
}

/** WeCom's reply envelope, exactly: four elements, CDATA but for TimeStamp. */
function fromXml(body: string): OpenedReply["envelope"] {
  const match =
    /^<xml><Encrypt><!\[CDATA\[([A-Za-z0-9+/=]+)\]\]><\/Encrypt><MsgSignature><!\[CDATA\[([0-9a-f]{40})\]\]><\/MsgSignature><TimeStamp>(\d+)<\/TimeStamp><Nonce><!\[CDATA\[(.*)\]\]><\/Nonce><\/xml>$/s.exec(
      body,
    );
  if (!match) throw new Error("not WeCom's XML reply envelope");
  return { encrypt: match[1]!, signature: match[2]!, timestamp: match[3]!, nonce: match[4]! };
}

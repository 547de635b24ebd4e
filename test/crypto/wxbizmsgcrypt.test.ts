import { describe, expect, it } from "vitest";
import {
  computeMsgSignature,
  decryptMessage,
  encryptMessage,
  importEncodingAesKey,
  verifyMsgSignature,
} from "../../src/crypto/index.js";
import { WecomError } from "../../src/errors.js";
import generated from "../vectors/generated.json";
import official from "../vectors/official.json";

function hex(text: string): Uint8Array {
  return new Uint8Array(text.match(/../g)!.map((b) => parseInt(b, 16)));
}

async function codeOf(promise: Promise<unknown>): Promise<number | string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof WecomError) return error.code;
    throw error;
  }
  throw new Error("expected a WecomError");
}

describe("official WeCom sample vectors", () => {
  it("verifies the URL-verification signature and decrypts the echostr", async () => {
    const { app, verifyUrl } = official;
    expect(await computeMsgSignature(app.token, verifyUrl.timestamp, verifyUrl.nonce, verifyUrl.echostr)).toBe(
      verifyUrl.msg_signature,
    );
    const aes = await importEncodingAesKey(app.encodingAESKey);
    expect(await decryptMessage(aes, verifyUrl.echostr)).toEqual({
      message: verifyUrl.plaintext,
      receiveId: app.receiveId,
    });
  });

  it("verifies and decrypts the sample callback", async () => {
    const { app, callback } = official;
    const encrypt = /<Encrypt><!\[CDATA\[(.*?)\]\]><\/Encrypt>/.exec(callback.body)![1]!;
    expect(await verifyMsgSignature(callback.msg_signature, app.token, callback.timestamp, callback.nonce, encrypt)).toBe(
      true,
    );
    const aes = await importEncodingAesKey(app.encodingAESKey);
    const { message, receiveId } = await decryptMessage(aes, encrypt);
    expect(receiveId).toBe(app.receiveId);
    expect(message).toBe(
      "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n" +
        "<FromUserName><![CDATA[mycreate]]></FromUserName>\n" +
        "<CreateTime>1409659813</CreateTime>\n" +
        "<MsgType><![CDATA[text]]></MsgType>\n" +
        "<Content><![CDATA[hello]]></Content>\n" +
        "<MsgId>4561255354251345929</MsgId>\n" +
        "<AgentID>218</AgentID>\n" +
        "</xml>",
    );
  });
});

describe("independent vectors (scripts/gen-vectors.mjs, node:crypto)", () => {
  it("cover every pad value 1..32", () => {
    const pads = new Set(generated.valid.map((v) => v.padValue));
    expect([...pads].sort((a, b) => a - b)).toEqual(Array.from({ length: 32 }, (_, i) => i + 1));
  });

  it.each(generated.valid.map((v) => [v.name, v] as const))("%s: signature, decrypt and re-encrypt", async (_, v) => {
    expect(await computeMsgSignature(v.token, v.timestamp, v.nonce, v.encrypt)).toBe(v.msgSignature);
    expect(await verifyMsgSignature(v.msgSignature, v.token, v.timestamp, v.nonce, v.encrypt)).toBe(true);
    const aes = await importEncodingAesKey(v.encodingAESKey);
    const decrypted = await decryptMessage(aes, v.encrypt);
    expect(decrypted).toEqual({ message: v.msg, receiveId: v.receiveId });
    expect(new TextEncoder().encode(decrypted.message).length).toBe(v.msgBytes);
    expect(await encryptMessage(aes, v.msg, v.receiveId, hex(v.random))).toBe(v.encrypt);
  });

  it.each(generated.invalid.map((v) => [v.name, v] as const))("%s: refused", async (_, v) => {
    // Every invalid vector is correctly signed: only decryption or the receiveId check may refuse it.
    expect(await verifyMsgSignature(v.msgSignature, v.token, v.timestamp, v.nonce, v.encrypt)).toBe(true);
    const aes = await importEncodingAesKey(v.encodingAESKey);
    const code = await codeOf(
      decryptMessage(aes, v.encrypt).then((d) => {
        if (d.receiveId !== v.receiveId) throw new WecomError(-40005, "receiveId mismatch");
        return d;
      }),
    );
    expect(code).toBe(v.expectedCode);
  });
});

describe("decryptMessage errors", () => {
  it("collapses every padding failure into one message", async () => {
    const v = generated.invalid.find((x) => x.name === "pad byte 0")!;
    const aes = await importEncodingAesKey(v.encodingAESKey);
    await expect(decryptMessage(aes, v.encrypt)).rejects.toMatchObject({ code: -40007, message: "decryption failed" });
  });

  it("refuses a length field that overruns with -40008, never reading past the buffer", async () => {
    const v = generated.invalid.find((x) => x.name === "length huge 0xFFFFFFFF")!;
    const aes = await importEncodingAesKey(v.encodingAESKey);
    await expect(decryptMessage(aes, v.encrypt)).rejects.toMatchObject({
      code: -40008,
      message: "message length overruns the decrypted buffer",
    });
  });

  it("refuses base64 with a space (callers restore '+' first) with -40010", async () => {
    const aes = await importEncodingAesKey(official.app.encodingAESKey);
    await expect(decryptMessage(aes, official.verifyUrl.echostr.replace("+", " "))).rejects.toMatchObject({
      code: -40010,
      message: "not valid base64",
    });
  });
});

describe("importEncodingAesKey", () => {
  it.each([
    ["42 characters", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2"],
    ["44 characters", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C="],
    ["a character outside base64", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2!"],
    ["empty", ""],
  ])("refuses %s with -40004", async (_, key) => {
    await expect(importEncodingAesKey(key)).rejects.toMatchObject({
      code: -40004,
      message: "EncodingAESKey must be 43 characters of base64",
    });
  });
});

describe("computeMsgSignature", () => {
  it("sorts by bytes, not by UTF-16 code units", async () => {
    // U+FF61 sorts after U+1F600 (a surrogate pair, 0xD83D…) in UTF-16, before it in UTF-8.
    const a = "\uFF61";
    const b = "\u{1F600}";
    const bytes = new TextEncoder().encode(["1", "2", a, b].join(""));
    const expected = [...new Uint8Array(await crypto.subtle.digest("SHA-1", bytes))]
      .map((x) => x.toString(16).padStart(2, "0"))
      .join("");
    expect(await computeMsgSignature(b, "1", "2", a)).toBe(expected);
  });
});

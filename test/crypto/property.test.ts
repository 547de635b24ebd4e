import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decryptMessage,
  encryptMessage,
  importEncodingAesKey,
  type AesKey,
} from "../../src/crypto/index.js";
import { WecomError } from "../../src/errors.js";
import { decodeBase64, encodeBase64 } from "../../src/lib/bytes.js";
import { callbackUrl, callWorker, errorOf, sign, TEST_APP, testEnv, webhookApp } from "../support/wecom.js";

const aesKey = (): Promise<AesKey> => importEncodingAesKey(TEST_APP.encodingAESKey);
const anyText = (maxLength: number) => fc.string({ unit: "binary", maxLength });
const keyChars = fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");

describe("WXBizMsgCrypt properties", () => {
  it("decrypt(encrypt(m)) = m for any message, receiveId, random prefix and key", async () => {
    await fc.assert(
      fc.asyncProperty(
        anyText(600),
        anyText(40),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.string({ unit: keyChars, minLength: 43, maxLength: 43 }),
        async (message, receiveId, random, encodingAESKey) => {
          const aes = await importEncodingAesKey(encodingAESKey);
          const encrypted = await encryptMessage(aes, message, receiveId, random);
          const bytes = decodeBase64(encrypted);
          expect(bytes.length % 32).toBe(0);
          expect(await decryptMessage(aes, encrypted)).toEqual({ message, receiveId });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a ciphertext with any byte changed either fails with a WecomError or decrypts — never anything else", async () => {
    const aes = await aesKey();
    await fc.assert(
      fc.asyncProperty(anyText(200), fc.nat(), fc.integer({ min: 1, max: 255 }), async (message, at, xor) => {
        const bytes = decodeBase64(await encryptMessage(aes, message, TEST_APP.receiveId));
        bytes[at % bytes.length]! ^= xor;
        try {
          await decryptMessage(aes, encodeBase64(bytes));
        } catch (error) {
          expect(error).toBeInstanceOf(WecomError);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("the gateway never yields a plaintext for a tampered callback", () => {
  const environment = () => testEnv({ apps: { hr: webhookApp("ok/never") } });

  it("changing any byte of a valid ciphertext is refused with -40001", async () => {
    const aes = await aesKey();
    await fc.assert(
      fc.asyncProperty(anyText(100), fc.nat(), fc.integer({ min: 1, max: 255 }), async (message, at, xor) => {
        const echostr = await encryptMessage(aes, message, TEST_APP.receiveId);
        const query = await sign(TEST_APP.token, echostr);
        const bytes = decodeBase64(echostr);
        bytes[at % bytes.length]! ^= xor;
        const response = await callWorker(new Request(callbackUrl("hr", { ...query, echostr: encodeBase64(bytes) })), environment());
        expect(await errorOf(response)).toEqual({ status: 401, code: -40001, message: "msg_signature does not match" });
      }),
      { numRuns: 150 },
    );
  });

  it("changing any character of a valid signature is refused with -40001", async () => {
    const aes = await aesKey();
    await fc.assert(
      fc.asyncProperty(anyText(100), fc.nat(39), fc.constantFrom(..."0123456789abcdef"), async (message, at, digit) => {
        const echostr = await encryptMessage(aes, message, TEST_APP.receiveId);
        const query = await sign(TEST_APP.token, echostr);
        fc.pre(query.msgSignature[at] !== digit);
        const msgSignature = query.msgSignature.slice(0, at) + digit + query.msgSignature.slice(at + 1);
        const response = await callWorker(new Request(callbackUrl("hr", { ...query, msgSignature, echostr })), environment());
        expect(await errorOf(response)).toEqual({ status: 401, code: -40001, message: "msg_signature does not match" });
      }),
      { numRuns: 150 },
    );
  });
});

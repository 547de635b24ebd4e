import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeBase64 } from "../src/lib/bytes.js";
import {
  callbackRequest,
  callbackUrl,
  callWorker,
  encrypt,
  envelope,
  newBucket,
  queueRows,
  received,
  sign,
  TEST_APP,
  testEnv,
  textMessage,
  webhookApp,
} from "./support/wecom.js";

describe("nothing answers 500 to bad input", () => {
  it("any method, path, query and body gets a deliberate answer, and nothing is forwarded", async () => {
    const bucket = newBucket("fuzz");
    const environment = testEnv({ apps: { hr: webhookApp(`ok/${bucket}`) } });
    const validEncrypt = await encrypt(textMessage("x"));
    const validQuery = await sign(TEST_APP.token, validEncrypt);
    const body = fc.oneof(
      fc.string({ unit: "binary", maxLength: 300 }),
      fc.constant(envelope(validEncrypt)),
      fc.string({ maxLength: 60 }).map((s) => `<xml><Encrypt>${s}</Encrypt></xml>`),
      fc.string({ maxLength: 60 }).map((s) => JSON.stringify({ encrypt: s })),
      fc.jsonValue().map((v) => JSON.stringify(v)),
    );
    const param = fc.oneof(fc.constant(undefined), fc.string({ unit: "binary", maxLength: 50 }));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"),
        fc.constantFrom("/callback/hr", "/callback/hr/", "/callback/%ZZ", "/callback/", "/healthz", "/callback/hr/x", "/"),
        param,
        param,
        fc.oneof(param, fc.constant(validQuery.timestamp)),
        fc.oneof(param, fc.constant(validEncrypt)),
        body,
        async (method, path, msgSignature, nonce, timestamp, echostr, text) => {
          const params = new URLSearchParams();
          if (msgSignature !== undefined) params.set("msg_signature", msgSignature);
          if (nonce !== undefined) params.set("nonce", nonce);
          if (timestamp !== undefined) params.set("timestamp", timestamp);
          if (echostr !== undefined) params.set("echostr", echostr);
          const hasBody = method !== "GET" && method !== "HEAD";
          const request = new Request(`https://wecom-edge.test${path}?${params}`, { method, ...(hasBody ? { body: text } : {}) });
          const response = await callWorker(request, environment);
          expect(response.status).not.toBe(500);
          if (response.status >= 400 && path !== "/healthz") {
            const json = (await response.json()) as { error: { code: unknown; message: unknown } };
            expect(typeof json.error.message).toBe("string");
          }
          expect([200, 400, 401, 404, 405, 413]).toContain(response.status);
        },
      ),
      { numRuns: 400 },
    );
    expect(await received(bucket)).toEqual([]);
  });

  it("a correctly signed but arbitrary Encrypt is refused with a WXBizMsgCrypt code, never forwarded", async () => {
    const app = newBucket("signedfuzz");
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`) } });
    const encrypted = fc.oneof(
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.uint8Array({ maxLength: 300 }).map(encodeBase64),
      fc.uint8Array({ minLength: 1, maxLength: 20 }).map((blocks) => encodeBase64(new Uint8Array(blocks.length * 16).map((_, i) => blocks[i % blocks.length]!))),
    );
    await fc.assert(
      fc.asyncProperty(encrypted, fc.constantFrom("xml", "json"), async (encrypt, format) => {
        fc.pre(encrypt.trim() !== "");
        const query = await sign(TEST_APP.token, encrypt.replaceAll(" ", "+"));
        const body = format === "xml" ? `<xml><Encrypt><![CDATA[${encrypt.replaceAll("]]>", "")}]]></Encrypt></xml>` : JSON.stringify({ encrypt });
        const response = await callWorker(new Request(callbackUrl(app, query), { method: "POST", body }), environment);
        expect(response.status).toBeGreaterThanOrEqual(400);
        expect(response.status).toBeLessThan(500);
      }),
      { numRuns: 300 },
    );
    expect(await queueRows(app)).toEqual([]);
    expect(await received(app)).toEqual([]);
  });

  it("a signed, encrypted plaintext of any shape is queued or refused with 4xx, never 5xx", async () => {
    const app = newBucket("plainfuzz");
    const environment = testEnv({ apps: { [app]: { ...TEST_APP, pull: { token: "t".repeat(32) } } } });
    const plaintext = fc.oneof(
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
      fc.constant(`${"[".repeat(20_000)}${"]".repeat(20_000)}`),
      fc.constant(`{"a":${"[".repeat(20_000)}${"]".repeat(20_000)}}`),
      fc.string({ maxLength: 50 }).map((s) => `<xml><A>${s}</A></xml>`),
    );
    await fc.assert(
      fc.asyncProperty(plaintext, fc.constantFrom("xml", "json") as fc.Arbitrary<"xml" | "json">, async (text, format) => {
        const response = await callWorker(await callbackRequest(app, text, { format }), environment);
        expect(response.status === 200 || (response.status >= 400 && response.status < 500)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

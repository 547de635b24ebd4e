import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { callWorker, encrypt, envelope, newBucket, received, sign, TEST_APP, testEnv, textMessage, webhookApp } from "./support/wecom.js";

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
});

/**
 * Rotating an app's Token and EncodingAESKey with no failed callback (docs/deploying.md,
 * "Rotating keys"): the new credential is current, the old one is listed in
 * `previous` until WeCom's traffic under it has gone quiet.
 */
import { XMLParser } from "fast-xml-parser";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import {
  callbackRequest,
  callbackUrl,
  callWorker,
  drain,
  encrypt,
  errorOf,
  newBucket,
  received,
  receiverUrl,
  sign,
  TEST_APP,
  testEnv,
  textMessage,
  webhookApp,
  WEBHOOK_SECRET,
} from "../support/wecom.js";

interface Pair {
  token: string;
  encodingAESKey: string;
}

const OLD: Pair = { token: TEST_APP.token, encodingAESKey: TEST_APP.encodingAESKey };
const NEW: Pair = { token: "n3wT0kenAfterRotation", encodingAESKey: "Zk3eQ9mLx2VbN7cR1tYwP5sJ8hG4dF6aK0uI3oE9rT2" };

const parser = new XMLParser({ parseTagValue: false });

async function openReply(credential: Pair, body: string): Promise<{ signatureValid: boolean; plaintext: string }> {
  const response = await fetch(`${receiverUrl()}/open-reply`, { method: "POST", body: JSON.stringify({ ...credential, format: "xml", body }) });
  expect(response.status).toBe(200);
  return response.json();
}

describe("key rotation", () => {
  it("refuses not one callback while WeCom moves from the old credential to the new one and the config changes under it", async () => {
    const app = newBucket("rotate");
    const rule = { rules: [{ match: { Content: { regex: "^ask" } }, reply: { MsgType: "text", Content: "answered" } }] };
    const phases = [
      testEnv({ apps: { [app]: webhookApp(`ok/${app}`, { ...OLD, reply: rule }) } }),
      // Deployed before the console is changed: the new credential is current, the old one still accepted.
      testEnv({ apps: { [app]: webhookApp(`ok/${app}`, { ...NEW, previous: [OLD], reply: rule }) } }),
      // Once the old credential has gone quiet.
      testEnv({ apps: { [app]: webhookApp(`ok/${app}`, { ...NEW, reply: rule }) } }),
    ];
    // [phase, credential WeCom signs with]: WeCom switches over while phase 2 is live, and retries straddle the switch.
    const plan: [number, Pair][] = [
      [0, OLD], [0, OLD],
      [1, OLD], [1, NEW], [1, OLD], [1, NEW], [1, NEW], [1, OLD], [1, NEW],
      [2, NEW], [2, NEW],
    ];
    for (const [i, [phase, credential]] of plan.entries()) {
      const request = await callbackRequest(app, textMessage(`m${i}`, String(5000 + i)), credential);
      const response = await callWorker(request, phases[phase]!);
      expect([i, response.status, await response.text()]).toEqual([i, 200, "success"]);
    }
    // A reply is sealed with the credential its callback came with.
    for (const credential of [OLD, NEW]) {
      const response = await callWorker(await callbackRequest(app, textMessage("ask me", String(credential.token.length)), credential), phases[1]!);
      const opened = await openReply(credential, await response.text());
      expect(opened.signatureValid).toBe(true);
      expect((parser.parse(opened.plaintext) as { xml: { Content: string } }).xml.Content).toBe("answered");
    }
    await drain(app);
    expect((await received(app)).length).toBe(plan.length + 2);
    // Stats count callbacks per credential: the old one's count stops growing once WeCom has switched.
    const admin = await callWorker(
      new Request(`https://wecom-edge.test/admin/apps/${app}`, { headers: { authorization: `Bearer ${phases[1]!.ADMIN_TOKEN}` } }),
      phases[1]!,
    );
    const { credentials } = (await admin.json()) as { credentials: { name: string; callbacks: number }[] };
    expect(credentials.map(({ name, callbacks }) => [name, callbacks])).toEqual([
      ["current", 7],
      ["previous[0]", 6],
    ]);
  });

  it("accepts a key-only rotation: same Token, the old EncodingAESKey in previous", async () => {
    const app = newBucket("keyonly");
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`, { token: OLD.token, encodingAESKey: NEW.encodingAESKey, previous: [OLD] }) } });
    for (const credential of [OLD, { token: OLD.token, encodingAESKey: NEW.encodingAESKey }]) {
      const response = await callWorker(await callbackRequest(app, textMessage("k", credential.encodingAESKey.slice(0, 3)), credential), environment);
      expect(await response.text()).toBe("success");
    }
  });

  it("answers the URL verification under either credential", async () => {
    const app = newBucket("verify");
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`, { ...NEW, previous: [OLD] }) } });
    for (const credential of [OLD, NEW]) {
      const echostr = await encrypt("echo-42", credential);
      const response = await callWorker(new Request(callbackUrl(app, { ...(await sign(credential.token, echostr)), echostr })), environment);
      expect(await response.text()).toBe("echo-42");
    }
  });

  it("still refuses what neither credential signed, and nothing is queued", async () => {
    const app = newBucket("neither");
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`, { ...NEW, previous: [OLD] }) } });
    const stranger = { token: "someoneElse", encodingAESKey: NEW.encodingAESKey };
    const response = await callWorker(await callbackRequest(app, textMessage("x"), stranger), environment);
    expect(await errorOf(response)).toEqual({ status: 401, code: -40001, message: "msg_signature does not match" });
    await drain(app);
    expect(await received(app)).toEqual([]);
  });

  it("signs each push and each reply-endpoint request once per secret, so the intranet can rotate too", async () => {
    const app = newBucket("secrets");
    const next = "whsec_bmV4dC1zZWNyZXQtYWZ0ZXItcm90YXRpb24tMTIzNA==";
    const reply = { url: `${receiverUrl()}/answer/204/${app}-ep`, secret: [next, WEBHOOK_SECRET] };
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`, { reply }, { secret: [next, WEBHOOK_SECRET] }) } });
    expect((await callWorker(await callbackRequest(app, textMessage("both")), environment)).status).toBe(200);
    await drain(app);
    for (const [delivery] of [await received(app), await received(`${app}-ep`)]) {
      expect(delivery!.headers["webhook-signature"]!.split(" ").map((s) => s.slice(0, 3))).toEqual(["v1,", "v1,"]);
      for (const secret of [next, WEBHOOK_SECRET]) {
        expect((new Webhook(secret.slice("whsec_".length)).verify(delivery!.body, delivery!.headers) as { event: { Content: string } }).event.Content).toBe("both");
      }
    }
  });

  it("refuses more than 3 secrets, by path", () => {
    const config = parseConfig({
      WECOM_APPS: JSON.stringify({ a: { ...TEST_APP, webhook: { url: "https://i.example", secret: [WEBHOOK_SECRET, WEBHOOK_SECRET, WEBHOOK_SECRET, WEBHOOK_SECRET] } } }),
    });
    expect(config.invalidApps.get("a")).toBe("WECOM_APPS.a.webhook.secret must be one secret or a list of 1 to 3");
    const bad = parseConfig({ WECOM_APPS: JSON.stringify({ a: { ...TEST_APP, webhook: { url: "https://i.example", secret: [WEBHOOK_SECRET, "nope"] } } }) });
    expect(bad.invalidApps.get("a")).toBe("WECOM_APPS.a.webhook.secret[1] must be a Standard Webhooks secret: whsec_ followed by base64");
  });

  it.each([
    [[OLD, OLD, OLD, OLD], 'WECOM_APPS.a.previous must be an array of at most 3 {"token", "encodingAESKey"}'],
    [[{ token: "t" }], "WECOM_APPS.a.previous[0].encodingAESKey must be the 43-character EncodingAESKey from the WeCom admin console"],
    [[{ ...OLD, extra: 1 }], "WECOM_APPS.a.previous[0].extra is not a known field (known: token, encodingAESKey)"],
    [[{ token: "t", encodingAESKey: "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C" }], "WECOM_APPS.a.previous[0].encodingAESKey is the sample key WeCom publishes, which anyone can use to forge callbacks; generate a new one in the admin console"],
  ])("refuses a bad previous list by path: %#", (previous, problem) => {
    const config = parseConfig({ WECOM_APPS: JSON.stringify({ a: { ...TEST_APP, previous, pull: { token: "pull-token-0123456789-abcdefghij" } } }) });
    expect(config.invalidApps.get("a")).toBe(problem);
  });
});

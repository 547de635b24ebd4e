import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { callbackRequest, callWorker, newBucket, TEST_APP, testEnv, textMessage, webhookApp, WEBHOOK_SECRET } from "./support/wecom.js";

describe("one structured log line per callback", () => {
  let log: MockInstance;
  let warn: MockInstance;
  beforeEach(() => {
    log = vi.spyOn(console, "log").mockImplementation(() => {});
    warn = vi.spyOn(console, "warn").mockImplementation(() => {});
  });
  afterEach(() => vi.restoreAllMocks());

  // The request lines: a push, which now starts as soon as an event is committed, may log its own line meanwhile.
  const lines = () => [...log.mock.calls, ...warn.mock.calls].map((args) => JSON.parse(String(args[0]))).filter((line) => line.route !== "queue");
  const printed = () => [...log.mock.calls, ...warn.mock.calls].map((args) => String(args[0])).join("\n");

  it("says app, route, outcome and duration, and nothing secret", async () => {
    const bucket = newBucket("log");
    const request = await callbackRequest("hr", textMessage("salary 12345 secret-content"));
    const signature = new URL(request.url).searchParams.get("msg_signature")!;
    await callWorker(request, testEnv({ apps: { hr: webhookApp(`ok/${bucket}`) } }));
    const [line, ...more] = lines();
    expect(more).toEqual([]);
    expect(line).toEqual({
      msg: "wecom-edge",
      route: "callback",
      method: "POST",
      app: "hr",
      status: 200,
      outcome: "ok",
      eventId: expect.stringMatching(/^evt_[0-9a-f]{32}$/),
      durationMs: expect.any(Number),
    });
    const text = printed();
    for (const secret of [TEST_APP.token, TEST_APP.encodingAESKey, WEBHOOK_SECRET.slice(6), "secret-content", signature]) {
      expect(text).not.toContain(secret);
    }
  });

  it("gives the error code and detail of a refusal", async () => {
    await callWorker(await callbackRequest("hr", textMessage("x"), { receiveId: "wwOTHER" }), testEnv({ apps: { hr: webhookApp("ok/none") } }));
    expect(lines()).toEqual([
      {
        msg: "wecom-edge",
        route: "callback",
        method: "POST",
        app: "hr",
        status: 400,
        outcome: "refused",
        code: -40005,
        durationMs: expect.any(Number),
      },
    ]);
  });

  it("never quotes the decrypted plaintext in a refusal's detail", async () => {
    const app = newBucket("logbad");
    await callWorker(await callbackRequest(app, "<xml><Secret-Tag attr='x'>confidential salary</Oops></xml>"), testEnv({ apps: { [app]: webhookApp("ok/none") } }));
    expect(lines()).toEqual([
      {
        msg: "wecom-edge",
        route: "callback",
        method: "POST",
        app,
        status: 400,
        outcome: "refused",
        code: -40002,
        detail: "not well-formed at line 1, column 46",
        durationMs: expect.any(Number),
      },
    ]);
    expect(printed()).not.toContain("confidential");
    expect(printed()).not.toContain("Secret-Tag");
  });

  it("adds the decrypted plaintext only when WECOM_DEBUG is on", async () => {
    const bucket = newBucket("debug");
    const message = textMessage("debug me");
    await callWorker(await callbackRequest("hr", message), testEnv({ debug: true, apps: { hr: webhookApp(`ok/${bucket}`) } }));
    expect(lines().find((line) => line.route === "callback").debugPlaintext).toBe(message);
  });
});

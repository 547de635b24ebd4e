/**
 * A request body that breaks off before its end (the client hung up, the
 * connection was reset) is bad input: refused with a 4xx of its own, never a
 * 503 internal_error, and nothing of it is queued.
 */
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { WecomError } from "../../src/errors.js";
import { readBodyLimited } from "../../src/routes/http.js";
import { callbackUrl, callWorker, encrypt, envelope, errorOf, newBucket, queueRows, received, sign, TEST_APP, testEnv, textMessage, webhookApp } from "../support/wecom.js";

/** A body stream that hands out `head`, then fails as a reset connection would. */
function breakingStream(head: string): { stream: ReadableStream<Uint8Array>; pulls: () => number } {
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulls++;
      if (pulls === 1) controller.enqueue(new TextEncoder().encode(head));
      else controller.error(new Error("reset"));
    },
  });
  return { stream, pulls: () => pulls };
}

function streamedPost(url: string, stream: ReadableStream<Uint8Array>): Request {
  return new Request(url, { method: "POST", body: stream, duplex: "half" } as RequestInit);
}

let warn: MockInstance;
beforeEach(() => {
  vi.spyOn(console, "log").mockImplementation(() => {});
  warn = vi.spyOn(console, "warn").mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

describe("a body cut off mid-way", () => {
  it("makes readBodyLimited throw a WecomError that says so", async () => {
    const { stream, pulls } = breakingStream("<xml><Encrypt>abc");
    const error = await readBodyLimited(streamedPost("https://wecom-edge.test/x", stream)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WecomError);
    expect(error).toMatchObject({
      code: "body_incomplete",
      message: "the request body could not be read to its end",
      detail: "client disconnected mid-body",
    });
    expect(pulls()).toBe(2);
  });

  it("is answered 400 through the Worker, logged as refused, and nothing is queued", async () => {
    const app = newBucket("cutoff");
    const encrypted = await encrypt(textMessage("half"));
    const body = envelope(encrypted);
    // Correctly signed: only the missing end of the body stands between it and the queue.
    const { stream } = breakingStream(body.slice(0, body.length >> 1));
    const response = await callWorker(streamedPost(callbackUrl(app, await sign(TEST_APP.token, encrypted)), stream), testEnv({ apps: { [app]: webhookApp(`ok/${app}`) } }));
    expect(await errorOf(response)).toEqual({ status: 400, code: "body_incomplete", message: "the request body could not be read to its end" });
    const lines = warn.mock.calls.map((args) => JSON.parse(String(args[0])) as Record<string, unknown>);
    expect(lines).toEqual([
      {
        msg: "wecom-edge",
        route: "callback",
        method: "POST",
        app,
        status: 400,
        outcome: "refused",
        code: "body_incomplete",
        detail: "client disconnected mid-body",
        durationMs: expect.any(Number),
      },
    ]);
    expect(await queueRows(app)).toEqual([]);
    expect(await received(app)).toEqual([]);
  });
});

/** The push policy as a pure function: an attempt's outcome → delivered, retry or dead. No Durable Object needed. */
import { describe, expect, it } from "vitest";
import { decide } from "../../src/destinations/push.js";

const webhook = { maxAttempts: 3, minBackoffMs: 1_000, maxBackoffMs: 60_000 };
const low = () => 0;

describe("decide", () => {
  it("delivers on any 2xx", () => {
    expect(decide({ ok: true, status: 204 }, 1, webhook, low)).toEqual({ kind: "delivered" });
  });

  it("retries a failure with backoff while attempts remain", () => {
    expect(decide({ ok: false, status: 503, error: "webhook answered 503" }, 1, webhook, low)).toEqual({ kind: "retry", delayMs: 1_000 });
    expect(decide({ ok: false, status: 0, error: "no answer within 100 ms" }, 2, webhook, () => 1)).toEqual({ kind: "retry", delayMs: 2_000 });
  });

  it("waits at least as long as Retry-After asks (429 included)", () => {
    expect(decide({ ok: false, status: 429, retryAfterSeconds: 30, error: "webhook answered 429" }, 1, webhook, low)).toEqual({
      kind: "retry",
      delayMs: 30_000,
    });
  });

  it("makes the event a dead letter after maxAttempts", () => {
    expect(decide({ ok: false, status: 500, error: "webhook answered 500" }, 3, webhook, low)).toEqual({ kind: "dead", pause: false });
  });

  it("makes the event a dead letter and pauses pushing on 410 Gone, at any attempt", () => {
    expect(decide({ ok: false, status: 410, error: "webhook answered 410" }, 1, webhook, low)).toEqual({ kind: "dead", pause: true });
  });
});

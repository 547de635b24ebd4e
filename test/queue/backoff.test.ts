import { describe, expect, it } from "vitest";
import { backoffMs, MAX_RETRY_AFTER_MS } from "../../src/queue/backoff.js";

const settings = { minBackoffMs: 1000, maxBackoffMs: 60_000 };

describe("backoffMs", () => {
  it("doubles from minBackoffMs, with jitter in the upper half of each step", () => {
    expect([1, 2, 3, 4].map((n) => backoffMs(settings, n, undefined, () => 0))).toEqual([1000, 1000, 2000, 4000]);
    expect([1, 2, 3, 4].map((n) => backoffMs(settings, n, undefined, () => 1))).toEqual([1000, 2000, 4000, 8000]);
  });

  it("never exceeds maxBackoffMs, however many attempts", () => {
    expect(backoffMs(settings, 7, undefined, () => 1)).toBe(60_000);
    expect(backoffMs(settings, 1000, undefined, () => 1)).toBe(60_000);
    expect(backoffMs(settings, 1000, undefined, () => 0)).toBe(30_000);
  });

  it("honours Retry-After when it asks for longer, up to a day", () => {
    expect(backoffMs(settings, 1, 120, () => 0)).toBe(120_000);
    expect(backoffMs(settings, 5, 1, () => 1)).toBe(16_000);
    expect(backoffMs(settings, 1, 10 * 86_400, () => 0)).toBe(MAX_RETRY_AFTER_MS);
  });

  it("is zero when both bounds are zero", () => {
    expect(backoffMs({ minBackoffMs: 0, maxBackoffMs: 0 }, 3)).toBe(0);
  });
});

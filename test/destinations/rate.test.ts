/**
 * Rate limits (docs/routing.md, "Rate limits"): `perSecond` as a sliding
 * window of the last ⌊perSecond⌋ starts (one start per 1/perSecond seconds
 * below 1), `maxInFlight` as the pump's concurrency; events over the rate
 * wait, never dropped. The window on exact numbers, pushBatch on a fake
 * clock, and a pump in workerd against the real receiver.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../../src/config.js";
import { pushBatch, type PushContext } from "../../src/destinations/push.js";
import { RateWindow } from "../../src/destinations/rate.js";
import type { DeliveryRow, DeliveryStore } from "../../src/destinations/store.js";
import type { WebhookOutcome } from "../../src/webhook/send.js";
import { callbackRequest, callWorker, deliveryRows, drain, queueStub, received, receiverUrl, routedApp, textMessage, WEBHOOK_SECRET, webhookApp } from "../support/wecom.js";

afterEach(() => vi.restoreAllMocks());

/** Starts allowed in a row at `now`, taking each one (as the pump does). */
function startsAt(window: RateWindow, now: number): number {
  let n = 0;
  while (window.wait(now) === 0) {
    window.take(now);
    n++;
  }
  return n;
}

describe("RateWindow", () => {
  it("perSecond 2: two start at once after an idle spell; the third waits until the first is exactly 1000 ms old", () => {
    const window = new RateWindow(2);
    expect(window.wait(5_000)).toBe(0);
    window.take(5_000);
    expect(window.wait(5_000)).toBe(0);
    window.take(5_000);
    expect([window.wait(5_000), window.wait(5_400), window.wait(5_999), window.wait(6_000)]).toEqual([1_000, 600, 1, 0]);
    window.take(6_000);
    // The second start at 5000 is now the oldest of the last two.
    expect([window.wait(6_000), window.wait(6_000 - 1)]).toEqual([0, 1]);
    window.take(6_000);
    expect(window.wait(6_000)).toBe(1_000);
  });

  it("the window slides: starts spread over a second allow another only as the oldest turns 1000 ms old", () => {
    const window = new RateWindow(2);
    window.take(0);
    window.take(300);
    expect([window.wait(300), window.wait(999), window.wait(1_000)]).toEqual([700, 1, 0]);
    window.take(1_000);
    expect([window.wait(1_000), window.wait(1_299), window.wait(1_300)]).toEqual([300, 1, 0]);
  });

  it("perSecond 0.1: one start per 10,000 ms", () => {
    const window = new RateWindow(0.1);
    expect(startsAt(window, 0)).toBe(1);
    expect([window.wait(0), window.wait(9_999), window.wait(10_000)]).toEqual([10_000, 1, 0]);
    expect(startsAt(window, 10_000)).toBe(1);
    expect(window.wait(10_000)).toBe(10_000);
  });

  it("perSecond 2.5: two per window (⌊2.5⌋), the window one second", () => {
    const window = new RateWindow(2.5);
    expect(startsAt(window, 0)).toBe(2);
    expect([window.wait(0), window.wait(999), window.wait(1_000)]).toEqual([1_000, 1, 0]);
    expect(startsAt(window, 1_000)).toBe(2);
    expect(startsAt(window, 1_999)).toBe(0);
    expect(startsAt(window, 2_000)).toBe(2);
  });

  it("perSecond 1000: a thousand at once, then one per elapsed millisecond of the oldest", () => {
    const window = new RateWindow(1000);
    expect(startsAt(window, 0)).toBe(1000);
    expect(window.wait(0)).toBe(1_000);
    expect(startsAt(window, 1_000)).toBe(1000);
  });
});

describe("pushBatch with rate {perSecond: 5, maxInFlight: 2} on a fake clock", () => {
  const webhook = parseConfig({ WECOM_APPS: JSON.stringify({ a: webhookApp("ok/a", {}, { maxAttempts: 5, minBackoffMs: 1000, maxBackoffMs: 1000 }) }) }).apps.get("a")!.webhook!;
  const rows = (n: number): DeliveryRow[] => Array.from({ length: n }, (_, i) => ({ seq: i + 1, id: `evt_${i + 1}`, body: "{}", size: 2, attempts: 0, receivedAt: 0, key: null, pending: null }));

  /**
   * Runs one batch of `n` deliveries, each answered `answerMs` after it
   * starts (fake time), with the concurrency the pump gives a destination of
   * maxInFlight 2 (src/destinations/pusher.ts). Records each start and the
   * most in flight at once.
   */
  async function run(n: number, answerMs: number, outcome: (i: number) => WebhookOutcome = () => ({ ok: true, status: 200 }) as WebhookOutcome) {
    let clock = 1_000_000;
    vi.spyOn(Date, "now").mockImplementation(() => clock);
    vi.spyOn(console, "log").mockImplementation(() => {});
    // A real timer for each answer and each sleep, the fake clock moved to its end: time passes in order.
    const after = async (ms: number) => {
      const end = clock + ms;
      await new Promise((resolve) => setTimeout(resolve, 1));
      clock = Math.max(clock, end);
    };
    const starts: number[] = [];
    const sleeps: number[] = [];
    let inFlight = 0;
    let most = 0;
    const delivered: string[] = [];
    const store = {
      retry: () => {},
      kill: () => true,
      delivered: (_: string, done: readonly DeliveryRow[]) => {
        delivered.push(...done.map((row) => row.id));
        return done.length;
      },
    } as unknown as DeliveryStore;
    const context: PushContext = {
      app: "a",
      destination: "oa",
      webhook: { ...webhook, timeoutMs: 10_000 },
      store,
      inFlight: new Set(),
      concurrency: 2,
      rate: new RateWindow(5),
      spend: true,
      isPaused: () => false,
      current: () => true,
      pause: () => {},
      body: (row) => ({ ok: true, body: row.body }),
      send: async (row) => {
        starts.push(clock);
        most = Math.max(most, ++inFlight);
        await after(answerMs);
        inFlight--;
        return outcome(Number(row.id.slice(4)) - 1);
      },
      sleep: async (ms) => {
        sleeps.push(ms);
        await after(ms);
      },
    };
    const report = await pushBatch(context, rows(n), clock);
    return { report, starts: starts.map((t) => t - 1_000_000), sleeps, most, delivered };
  }

  /** The most starts within any window of `ms`. */
  function busiest(starts: readonly number[], ms: number): number {
    return Math.max(...starts.map((t) => starts.filter((u) => u >= t && u < t + ms).length));
  }

  it("never more than 2 in flight, never more than 5 starts in any 1000 ms, and every event delivered", async () => {
    const { report, starts, most, delivered } = await run(23, 50);
    expect(most).toBe(2);
    expect(busiest(starts, 1_000)).toBe(5);
    // No start comes before the one five starts earlier is a second old.
    for (let i = 5; i < starts.length; i++) expect(starts[i]! - starts[i - 5]!, `start ${i}`).toBeGreaterThanOrEqual(1_000);
    expect(starts.length).toBe(23);
    expect(delivered).toEqual(rows(23).map((row) => row.id));
    expect(report).toMatchObject({ delivered: 23, retried: 0, failures: [], deadLetters: [] });
    // Two at a time, 50 ms each: five starts in the first 100 ms, then each group of five a second after the last.
    expect(starts.slice(0, 10)).toEqual([0, 0, 50, 50, 100, 1_000, 1_000, 1_050, 1_050, 1_100]);
    expect(starts[22]).toBe(4_050);
  });

  it("answers slower than the rate: maxInFlight is what binds (2 at a time), the window never does", async () => {
    const { starts, most, sleeps, delivered } = await run(8, 1_500);
    expect(most).toBe(2);
    expect(sleeps).toEqual([]);
    expect(starts).toEqual([0, 0, 1_500, 1_500, 3_000, 3_000, 4_500, 4_500]);
    expect(delivered.length).toBe(8);
  });

  it("failed attempts count toward the rate too, and none is dropped", async () => {
    const down: WebhookOutcome = { ok: false, status: 503, error: "webhook answered 503" } as WebhookOutcome;
    const { report, starts, most } = await run(12, 10, (i) => (i % 3 === 0 ? down : ({ ok: true, status: 200 } as WebhookOutcome)));
    expect(most).toBeLessThanOrEqual(2);
    expect(busiest(starts, 1_000)).toBe(5);
    expect(starts.length).toBe(12);
    expect([report.delivered, report.retried, report.failures.map((f) => f.seq)]).toEqual([8, 4, [1, 4, 7, 10]]);
  });
});

describe("a pump with rate {perSecond: 2} in workerd, against the real receiver", () => {
  it("starts no 3 of 5 pushes within a second, and delivers all 5, once each", async () => {
    const { app, environment } = routedApp(
      (bucket) => ({ oa: { rate: { perSecond: 2, maxInFlight: 2 }, webhook: { url: `${receiverUrl()}/ok/${bucket}`, secret: WEBHOOK_SECRET } } }),
      "rate",
    );
    // Each push's start as the pump counts it (the test and the queue share one isolate): the moment the
    // window takes it. Its fetch follows after the body and the signing, a few ms later by a clock that
    // moves only on I/O, so fetch times could stray by those ms either way; the window's own cannot.
    const starts: number[] = [];
    const take = RateWindow.prototype.take;
    vi.spyOn(RateWindow.prototype, "take").mockImplementation(function (this: RateWindow, now: number) {
      starts.push(now);
      return take.call(this, now);
    });
    const real = globalThis.fetch;
    let fetched = 0;
    vi.spyOn(globalThis, "fetch").mockImplementation((input, init) => {
      if (String(input instanceof Request ? input.url : input).includes(`/ok/${app}`)) fetched++;
      return real(input, init);
    });
    for (let i = 0; i < 5; i++) {
      expect((await callWorker(await callbackRequest(app, textMessage(`approval ${i}`, String(9100 + i))), environment)).status).toBe(200);
    }
    await drain(app);
    const ids = (await received(app)).map((r) => r.headers["webhook-id"]);
    expect([ids.length, new Set(ids).size]).toEqual([5, 5]);
    expect(await deliveryRows(app)).toEqual([]);
    expect([starts.length, fetched]).toEqual([5, 5]);
    for (let i = 2; i < starts.length; i++) expect(starts[i]! - starts[i - 2]!, `push ${i} after push ${i - 2}`).toBeGreaterThanOrEqual(1_000);
    const stats = (await queueStub(app).stats(app)).destinations[0]!;
    expect([stats.name, stats.rate, stats.delivered]).toEqual(["oa", { perSecond: 2, maxInFlight: 2 }, 5]);
  });
});

/** The alert outbox (README, "Alerts"): rate limits per kind and app, retries with backoff, and giving up. */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { deadLetterAlert, pushPausedAlert } from "../../src/alerts/alerts.js";
import { ALERT_LIMITS, alertBackoffMs } from "../../src/alerts/outbox.js";
import { received, receiverUrl, newBucket } from "../support/wecom.js";
import {
  ALERT_SECRET,
  alertsConfig,
  drainOutbox,
  makeSendsDue,
  outbox,
  outboxRows,
  resetOutbox,
  rewindRateLimits,
  robotMessages,
  ROBOT_KEY,
  useAlerts,
  webhookAlerts,
} from "./helpers.js";

beforeEach(resetOutbox);
afterEach(() => useAlerts(undefined));

const dead = (app: string) => deadLetterAlert(app, "push", ["evt_1"], "attempt 20: webhook answered 503");

describe("the alert outbox", () => {
  it("sends one alert per kind and app within minIntervalMinutes, and counts the ones held back", async () => {
    const bucket = newBucket("rate");
    useAlerts(alertsConfig(bucket, { minIntervalMinutes: 30 }));
    const [hr, tickets] = [newBucket("hr"), newBucket("tickets")];
    expect(await outbox().raise(dead(hr))).toBe("queued");
    expect(await outbox().raise(dead(hr))).toBe("suppressed");
    expect(await outbox().raise(dead(hr))).toBe("suppressed");
    expect(await outbox().raise(dead(tickets))).toBe("queued");
    expect(await outbox().raise(pushPausedAlert(hr, ["evt_2"]))).toBe("queued");
    await drainOutbox();
    expect((await webhookAlerts(bucket)).map(({ kind, app, suppressed }) => ({ kind, app, suppressed }))).toEqual([
      { kind: "dead_letter", app: hr, suppressed: 0 },
      { kind: "dead_letter", app: tickets, suppressed: 0 },
      { kind: "push_paused", app: hr, suppressed: 0 },
    ]);

    await rewindRateLimits(29 * 60_000);
    expect(await outbox().raise(dead(hr))).toBe("suppressed");
    await rewindRateLimits(60_000);
    expect(await outbox().raise(dead(hr))).toBe("queued");
    await drainOutbox();
    const last = (await webhookAlerts(bucket))[3]!;
    expect([last.kind, last.app, last.suppressed]).toEqual(["dead_letter", hr, 3]);
    expect((await robotMessages(bucket))[3]).toContain(" · 3 more since the last alert of this kind");
  });

  it("retries a robot that answers errcode 45009 (over its rate limit) until it answers errcode 0", async () => {
    const bucket = newBucket("limited");
    useAlerts({ wecomRobot: { url: `${receiverUrl()}/robot-limited/2/${bucket}?key=${ROBOT_KEY}` } });
    const warn = vi.spyOn(console, "warn");
    expect(await outbox().raise(dead(newBucket("hr")))).toBe("queued");
    await drainOutbox();
    expect((await outboxRows()).map(({ attempts, last_error }) => ({ attempts, last_error }))).toEqual([
      { attempts: 1, last_error: "robot answered errcode 45009" },
    ]);
    for (let i = 0; i < 2; i++) {
      await makeSendsDue();
      await drainOutbox();
    }
    expect(await outboxRows()).toEqual([]);
    expect((await received(bucket)).length).toBe(3);
    const lines = warn.mock.calls.map((call) => String(call[0])).filter((line) => line.includes('"route":"alerts"'));
    warn.mockRestore();
    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>).map(({ outcome, attempts, retryInMs, detail }) => ({ outcome, attempts, retryInMs, detail }))).toEqual([
      { outcome: "retry", attempts: 1, retryInMs: alertBackoffMs(1), detail: "robot answered errcode 45009" },
      { outcome: "retry", attempts: 2, retryInMs: alertBackoffMs(2), detail: "robot answered errcode 45009" },
    ]);
    expect(lines.join("\n")).not.toContain(ROBOT_KEY);
  });

  it("retries a webhook that answers 503, under the same webhook-id, until it answers 200", async () => {
    const bucket = newBucket("flaky");
    useAlerts({ webhook: { url: `${receiverUrl()}/flaky/1/${bucket}`, secret: ALERT_SECRET } });
    expect(await outbox().raise(dead(newBucket("hr")))).toBe("queued");
    await drainOutbox();
    await makeSendsDue();
    await drainOutbox();
    const requests = await received(bucket);
    expect(requests.map((request) => [request.status, request.headers["wecom-edge-attempt"]])).toEqual([
      [503, "1"],
      [200, "2"],
    ]);
    expect(requests[0]!.headers["webhook-id"]).toMatch(/^alert_[0-9a-f]{32}$/);
    expect(requests[1]!.headers["webhook-id"]).toBe(requests[0]!.headers["webhook-id"]);
    expect(await outboxRows()).toEqual([]);
  });

  it(`gives up after ${ALERT_LIMITS.maxAttempts} attempts, with a log line`, async () => {
    const bucket = newBucket("down");
    useAlerts({ webhook: { url: `${receiverUrl()}/status/503/${bucket}`, secret: ALERT_SECRET } });
    const warn = vi.spyOn(console, "warn");
    await outbox().raise(dead(newBucket("hr")));
    for (let i = 0; i < ALERT_LIMITS.maxAttempts; i++) {
      await drainOutbox();
      await makeSendsDue();
    }
    await drainOutbox();
    expect((await received(bucket)).length).toBe(ALERT_LIMITS.maxAttempts);
    expect(await outboxRows()).toEqual([]);
    const gaveUp = warn.mock.calls.map((call) => String(call[0])).filter((line) => line.includes('"outcome":"gave_up"'));
    warn.mockRestore();
    expect(gaveUp.map((line) => JSON.parse(line) as unknown)).toEqual([
      {
        msg: "wecom-edge",
        route: "alerts",
        kind: "dead_letter",
        app: expect.stringMatching(/^hr-/) as unknown,
        channel: "webhook",
        outcome: "gave_up",
        attempts: ALERT_LIMITS.maxAttempts,
        detail: "webhook answered 503",
      },
    ]);
  });

  it("backs off exponentially, capped", () => {
    expect([1, 2, 3, 4, 7, 8, 20].map(alertBackoffMs)).toEqual([10_000, 20_000, 40_000, 80_000, 640_000, 900_000, 900_000]);
  });

  it("drops what is pending once WECOM_ALERTS is unset, and takes nothing more", async () => {
    const bucket = newBucket("unset");
    useAlerts({ webhook: { url: `${receiverUrl()}/status/503/${bucket}`, secret: ALERT_SECRET } });
    await outbox().raise(dead(newBucket("hr")));
    useAlerts(undefined);
    // Workerd may have made the first attempt before; none is made after.
    await drainOutbox();
    const before = (await received(bucket)).length;
    expect(before).toBeLessThanOrEqual(1);
    await makeSendsDue();
    await drainOutbox();
    expect(await outboxRows()).toEqual([]);
    expect(await outbox().raise(dead(newBucket("hr")))).toBe("off");
    expect((await received(bucket)).length).toBe(before);
  });
});

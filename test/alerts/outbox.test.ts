/** The alert outbox (docs/operating.md, "Alerts"): rate limits per kind and app, retries with backoff, and giving up. */
import { runInDurableObject } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { deadLetterAlert, pushPausedAlert, type Alert } from "../../src/alerts/alerts.js";
import { robotBody, webhookBody } from "../../src/alerts/format.js";
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

/**
 * Stores sends as the outbox's raise would, `attempts` already claimed, and
 * sets its alarm: unlike a raise, no alarm can take them before the test
 * has set them up as it needs.
 */
function storeSends(alert: Alert, sends: { channel: "wecomRobot" | "webhook"; attempts?: number; dueAt?: number }[]): Promise<void> {
  return runInDurableObject(outbox(), async (_, state) => {
    const occurrence = { at: Date.now(), suppressed: 0 };
    state.storage.transactionSync(() => {
      for (const { channel, attempts = 0, dueAt = 0 } of sends) {
        const body = channel === "wecomRobot" ? robotBody(alert, occurrence) : webhookBody(alert, occurrence);
        state.storage.sql.exec(
          "INSERT INTO outbox (id, channel, kind, app, body, attempts, due_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
          "alert_00000000000000000000000000000001",
          channel,
          alert.kind,
          alert.app,
          body,
          attempts,
          dueAt,
        );
      }
    });
    await state.storage.setAlarm(Date.now());
  });
}

/** The outbox's log lines (route "alerts") among what `warn` caught, parsed; `warn` is restored. */
function alertLines(warn: { mock: { calls: unknown[][] }; mockRestore(): void }): Record<string, unknown>[] {
  const lines = warn.mock.calls.map((call) => String(call[0])).filter((line) => line.includes('"route":"alerts"'));
  warn.mockRestore();
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

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

  it("counts what its raiser held back (suppressedBefore) in the next alert's suppressed, sent or held back itself", async () => {
    const bucket = newBucket("before");
    useAlerts(alertsConfig(bucket, { minIntervalMinutes: 30 }));
    const hr = newBucket("hr");
    expect(await outbox().raise(dead(hr))).toBe("queued");
    expect(await outbox().raise(dead(hr), 3)).toBe("suppressed");
    expect(await runInDurableObject(outbox(), (_, state) => state.storage.sql.exec("SELECT suppressed FROM rate WHERE app = ?", hr).one().suppressed)).toBe(4);
    await rewindRateLimits(30 * 60_000);
    expect(await outbox().raise(dead(hr), 2)).toBe("queued");
    await drainOutbox();
    expect((await webhookAlerts(bucket)).map((alert) => alert.suppressed)).toEqual([0, 6]);
  });

  it(`is full at ${ALERT_LIMITS.maxPending} pending sends: a new alert is dropped, logged, and nothing of it is stored`, async () => {
    const bucket = newBucket("full");
    useAlerts(alertsConfig(bucket));
    const hr = newBucket("hr");
    // Pending, and due only in an hour: no alarm takes them meanwhile.
    const later = Date.now() + 60 * 60_000;
    await storeSends(
      pushPausedAlert(newBucket("other"), ["evt_0"]),
      Array.from({ length: ALERT_LIMITS.maxPending }, () => ({ channel: "webhook" as const, dueAt: later })),
    );
    const warn = vi.spyOn(console, "warn");
    expect(await outbox().raise(dead(hr))).toBe("full");
    expect(alertLines(warn)).toEqual([
      { msg: "wecom-edge", route: "alerts", outcome: "dropped", kind: "dead_letter", app: hr, count: 1, detail: `the outbox holds ${ALERT_LIMITS.maxPending} sends` },
    ]);
    const stored = await runInDurableObject(outbox(), (_, state) => ({
      sends: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n,
      ofHr: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox WHERE app = ?", hr).one().n,
      rates: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM rate").one().n,
    }));
    expect(stored).toEqual({ sends: ALERT_LIMITS.maxPending, ofHr: 0, rates: 0 });
    await resetOutbox();
  });

  it("drops the pending sends of a channel that was removed from WECOM_ALERTS, and sends the others", async () => {
    const bucket = newBucket("removed");
    const hr = newBucket("hr");
    // Stored while WECOM_ALERTS had both channels; now it has only the webhook.
    useAlerts({ webhook: { url: `${receiverUrl()}/ok/${bucket}-hook`, secret: ALERT_SECRET } });
    await storeSends(dead(hr), [{ channel: "wecomRobot" }, { channel: "webhook" }]);
    const warn = vi.spyOn(console, "warn");
    await drainOutbox();
    expect(alertLines(warn)).toEqual([
      { msg: "wecom-edge", route: "alerts", kind: "dead_letter", app: hr, channel: "wecomRobot", outcome: "dropped", count: 1, detail: "its channel is no longer in WECOM_ALERTS" },
    ]);
    expect(await received(bucket)).toEqual([]);
    expect((await webhookAlerts(bucket)).map(({ kind, app }) => ({ kind, app }))).toEqual([{ kind: "dead_letter", app: hr }]);
    expect(await outboxRows()).toEqual([]);
  });

  it("never names the robot's URL or key when the robot cannot be reached at all", async () => {
    // Nothing listens on port 1: the fetch itself fails, before any answer.
    const url = `http://127.0.0.1:1/cgi-bin/webhook/send?key=${ROBOT_KEY}`;
    useAlerts({ wecomRobot: { url } });
    const warn = vi.spyOn(console, "warn");
    const log = vi.spyOn(console, "log");
    const hr = newBucket("hr");
    expect(await outbox().raise(dead(hr))).toBe("queued");
    await drainOutbox();
    const logged = [...log.mock.calls, ...warn.mock.calls].map((call) => call.map(String).join(" ")).join("\n");
    log.mockRestore();
    const lines = alertLines(warn);
    expect(lines.map(({ channel, outcome, attempts }) => ({ channel, outcome, attempts }))).toEqual([{ channel: "wecomRobot", outcome: "retry", attempts: 1 }]);
    expect(String(lines[0]!.detail)).toMatch(/^request failed: /);
    const [row] = await outboxRows();
    expect(row!.last_error).toBe(lines[0]!.detail);
    for (const secret of [ROBOT_KEY, "key=", "127.0.0.1:1", "/cgi-bin/webhook/send"]) {
      expect(logged).not.toContain(secret);
      expect(row!.last_error).not.toContain(secret);
    }
  });

  it(`gives up, without an attempt beyond ${ALERT_LIMITS.maxAttempts}, a send whose last attempt was claimed and never finished`, async () => {
    const bucket = newBucket("crashed");
    useAlerts({ webhook: { url: `${receiverUrl()}/ok/${bucket}`, secret: ALERT_SECRET } });
    const hr = newBucket("hr");
    // As the outbox leaves it when it dies during attempt maxAttempts: claimed, and due again.
    await storeSends(dead(hr), [{ channel: "webhook", attempts: ALERT_LIMITS.maxAttempts }]);
    const warn = vi.spyOn(console, "warn");
    await drainOutbox();
    expect(await received(bucket)).toEqual([]);
    expect(await outboxRows()).toEqual([]);
    expect(alertLines(warn)).toEqual([
      {
        msg: "wecom-edge",
        route: "alerts",
        kind: "dead_letter",
        app: hr,
        channel: "webhook",
        outcome: "gave_up",
        attempts: ALERT_LIMITS.maxAttempts,
        detail: "the last attempt did not finish",
      },
    ]);
  });
});

/** WECOM_ALERTS (docs/operating.md, "Alerts"): parsed once, every mistake named by its path, never by its value. */
import { describe, expect, it } from "vitest";
import { AlertsConfigError, loadAlerts, MAX_REFUSAL_BURST_COUNT, parseAlerts } from "../../src/alerts/config.js";
import { QUEUE_LIMITS } from "../../src/queue/app-queue.js";

const ROBOT = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa";
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const documented = {
  wecomRobot: { url: ROBOT },
  webhook: { url: "https://ops.example.com/alerts", secret: SECRET, headers: { "CF-Access-Client-Id": "ops" } },
  alerts: { deadLetter: true, pushPaused: true, invalidConfig: true, oldestEvent: { minutes: 30 }, refusalBurst: { count: 10, minutes: 5 } },
  minIntervalMinutes: 30,
};

function problemOf(config: unknown): string {
  try {
    parseAlerts(typeof config === "string" ? config : JSON.stringify(config));
  } catch (error) {
    expect(error).toBeInstanceOf(AlertsConfigError);
    return (error as Error).message;
  }
  throw new Error("parsed");
}

describe("WECOM_ALERTS", () => {
  it("parses the documented example", () => {
    const config = parseAlerts(JSON.stringify(documented));
    expect({ ...config, webhook: { ...config.webhook, signingKeys: config.webhook!.signingKeys.map((key) => key.length) } }).toEqual({
      wecomRobot: { url: ROBOT, timeoutMs: 10_000 },
      webhook: { url: "https://ops.example.com/alerts", signingKeys: [24], headers: { "CF-Access-Client-Id": "ops" }, timeoutMs: 10_000 },
      deadLetter: true,
      pushPaused: true,
      invalidConfig: true,
      destinationHealth: true,
      suiteTicket: true,
      oldestEvent: { minutes: 30 },
      refusalBurst: { count: 10, minutes: 5 },
      minIntervalMinutes: 30,
    });
  });

  it("turns every alert on with its defaults when `alerts` is omitted, and one off with false", () => {
    expect(parseAlerts(JSON.stringify({ wecomRobot: { url: ROBOT } }))).toEqual({
      wecomRobot: { url: ROBOT, timeoutMs: 10_000 },
      deadLetter: true,
      pushPaused: true,
      invalidConfig: true,
      destinationHealth: true,
      suiteTicket: true,
      oldestEvent: { minutes: 30 },
      refusalBurst: { count: 10, minutes: 5 },
      minIntervalMinutes: 30,
    });
    const some = parseAlerts(
      JSON.stringify({ wecomRobot: { url: ROBOT }, alerts: { deadLetter: false, suiteTicket: false, oldestEvent: false, refusalBurst: { count: 3 } } }),
    );
    expect([some.deadLetter, some.pushPaused, some.suiteTicket, some.oldestEvent, some.refusalBurst]).toEqual([false, true, false, null, { count: 3, minutes: 5 }]);
  });

  it("takes a list of webhook secrets, as webhook.secret does", () => {
    const config = parseAlerts(JSON.stringify({ webhook: { url: "https://ops.example.com/a", secret: [SECRET, SECRET] } }));
    expect(config.webhook!.signingKeys.length).toBe(2);
  });

  it.each([
    ["not JSON", "{", "WECOM_ALERTS is not valid JSON"],
    ["an array", [], "WECOM_ALERTS must be a JSON object"],
    ["no channel", { alerts: {} }, "WECOM_ALERTS must have wecomRobot, webhook or both"],
    ["an unknown key", { wecomRobot: { url: ROBOT }, robot: {} }, "WECOM_ALERTS.robot is not a known field (known: wecomRobot, webhook, alerts, minIntervalMinutes)"],
    [
      "a robot URL that is not http(s)",
      { wecomRobot: { url: "ftp://qyapi.weixin.qq.com/send?key=SECRETKEY" } },
      "WECOM_ALERTS.wecomRobot.url must be the group robot's webhook URL (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…)",
    ],
    ["an unknown robot key", { wecomRobot: { url: ROBOT, key: "x" } }, "WECOM_ALERTS.wecomRobot.key is not a known field (known: url, timeoutMs)"],
    ["a robot timeout out of range", { wecomRobot: { url: ROBOT, timeoutMs: 50 } }, "WECOM_ALERTS.wecomRobot.timeoutMs must be a whole number from 100 to 60000"],
    ["a webhook without a URL", { webhook: { secret: SECRET } }, "WECOM_ALERTS.webhook.url must be an absolute http(s) URL"],
    [
      "a webhook secret without whsec_",
      { webhook: { url: "https://ops.example.com/a", secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" } },
      "WECOM_ALERTS.webhook.secret must be a Standard Webhooks secret: whsec_ followed by base64",
    ],
    [
      "a webhook secret too short",
      { webhook: { url: "https://ops.example.com/a", secret: "whsec_c2hvcnQ=" } },
      "WECOM_ALERTS.webhook.secret must carry 16 to 64 bytes of key (24 or 32 recommended)",
    ],
    [
      "a bad secret in a list",
      { webhook: { url: "https://ops.example.com/a", secret: [SECRET, "whsec_"] } },
      "WECOM_ALERTS.webhook.secret[1] must carry 16 to 64 bytes of key (24 or 32 recommended)",
    ],
    [
      "a reserved webhook header",
      { webhook: { url: "https://ops.example.com/a", secret: SECRET, headers: { "webhook-id": "x" } } },
      "WECOM_ALERTS.webhook.headers.webhook-id is set by wecom-edge itself",
    ],
    [
      "a push setting on the alert webhook",
      { webhook: { url: "https://ops.example.com/a", secret: SECRET, maxAttempts: 3 } },
      "WECOM_ALERTS.webhook.maxAttempts is not a known field (known: url, secret, headers, timeoutMs)",
    ],
    ["alerts not an object", { wecomRobot: { url: ROBOT }, alerts: true }, "WECOM_ALERTS.alerts must be an object"],
    [
      "an unknown alert",
      { wecomRobot: { url: ROBOT }, alerts: { paused: true } },
      "WECOM_ALERTS.alerts.paused is not a known field (known: deadLetter, pushPaused, invalidConfig, destinationHealth, suiteTicket, oldestEvent, refusalBurst)",
    ],
    ["a switch that is not a boolean", { wecomRobot: { url: ROBOT }, alerts: { deadLetter: "yes" } }, "WECOM_ALERTS.alerts.deadLetter must be true or false"],
    [
      "oldestEvent not an object",
      { wecomRobot: { url: ROBOT }, alerts: { oldestEvent: 30 } },
      "WECOM_ALERTS.alerts.oldestEvent must be true, false or an object of thresholds",
    ],
    [
      "oldestEvent.minutes of 0",
      { wecomRobot: { url: ROBOT }, alerts: { oldestEvent: { minutes: 0 } } },
      "WECOM_ALERTS.alerts.oldestEvent.minutes must be a whole number from 1 to 10080",
    ],
    [
      "refusalBurst.count over the refusals kept",
      { wecomRobot: { url: ROBOT }, alerts: { refusalBurst: { count: 100 } } },
      "WECOM_ALERTS.alerts.refusalBurst.count must be a whole number from 1 to 99",
    ],
    [
      "refusalBurst.minutes over an hour",
      { wecomRobot: { url: ROBOT }, alerts: { refusalBurst: { minutes: 61 } } },
      "WECOM_ALERTS.alerts.refusalBurst.minutes must be a whole number from 1 to 60",
    ],
    [
      "an unknown refusalBurst key",
      { wecomRobot: { url: ROBOT }, alerts: { refusalBurst: { count: 5, window: 3 } } },
      "WECOM_ALERTS.alerts.refusalBurst.window is not a known field (known: count, minutes)",
    ],
    ["minIntervalMinutes of 0", { wecomRobot: { url: ROBOT }, minIntervalMinutes: 0 }, "WECOM_ALERTS.minIntervalMinutes must be a whole number from 1 to 1440"],
  ])("refuses %s, naming the path and never the value", (_name, config, message) => {
    const problem = problemOf(config);
    expect(problem).toBe(message);
    expect(problem).not.toContain("SECRETKEY");
    expect(problem).not.toContain("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  });

  it("is off when unset or blank, and parsed once per string", () => {
    expect(loadAlerts({})).toBeNull();
    expect(loadAlerts({ WECOM_ALERTS: "  " })).toBeNull();
    const raw = JSON.stringify(documented);
    expect(loadAlerts({ WECOM_ALERTS: raw })).toBe(loadAlerts({ WECOM_ALERTS: raw }));
    expect(() => loadAlerts({ WECOM_ALERTS: "[]" })).toThrow("WECOM_ALERTS must be a JSON object");
  });

  it("keeps refusalBurst.count under the refusals a queue keeps, so that more than count can be counted", () => {
    // src/alerts may not import the queue's limits; this test links the two.
    expect(MAX_REFUSAL_BURST_COUNT).toBe(99);
    expect(MAX_REFUSAL_BURST_COUNT).toBeLessThan(QUEUE_LIMITS.refusalsKept);
    expect(problemOf({ ...documented, alerts: { refusalBurst: { count: QUEUE_LIMITS.refusalsKept } } })).toBe(
      "WECOM_ALERTS.alerts.refusalBurst.count must be a whole number from 1 to 99",
    );
  });
});

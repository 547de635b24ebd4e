import { describe, expect, it } from "vitest";
import { parseConfig, WEBHOOK_DEFAULTS, type ConfigEnv } from "../src/config.js";
import { WecomError } from "../src/errors.js";
import { TEST_APP, WEBHOOK_SECRET } from "./support/wecom.js";

const webhook = { url: "https://intranet.example.com/wecom-events", secret: WEBHOOK_SECRET };
const apps = (value: unknown, extra: ConfigEnv = {}): ConfigEnv => ({ WECOM_APPS: JSON.stringify(value), ...extra });

/** The message of the one invalid app, or of the whole-config error. */
function problem(env: ConfigEnv): string {
  try {
    const config = parseConfig(env);
    const [first] = config.invalidApps.values();
    if (first === undefined) throw new Error("expected a problem");
    return first;
  } catch (error) {
    if (error instanceof WecomError) return `${error.code}: ${error.message}`;
    throw error;
  }
}

describe("parseConfig", () => {
  it("parses a webhook app with the documented defaults", () => {
    const config = parseConfig(apps({ hr: { ...TEST_APP, webhook } }));
    const hr = config.apps.get("hr")!;
    expect(hr.receiveIds).toEqual([TEST_APP.receiveId]);
    expect(hr.webhook).toMatchObject({ url: webhook.url, headers: {}, ...WEBHOOK_DEFAULTS });
    expect(hr.webhook!.signingKeys.map((k) => k.length)).toEqual([24]);
    expect(WEBHOOK_DEFAULTS).toEqual({ timeoutMs: 10000, maxAttempts: 20, minBackoffMs: 1000, maxBackoffMs: 3600000 });
    expect(config.maxSkewSeconds).toBe(300);
    expect(config.debug).toBe(false);
  });

  it("accepts receiveId as a string, an array, '*' and the empty string", () => {
    const config = parseConfig(
      apps({
        a: { ...TEST_APP, receiveId: ["ww1", "tj2"], webhook },
        b: { ...TEST_APP, receiveId: "*", webhook },
        c: { ...TEST_APP, receiveId: "", pull: { token: "t".repeat(16) } },
      }),
    );
    expect(config.apps.get("a")!.receiveIds).toEqual(["ww1", "tj2"]);
    expect(config.apps.get("b")!.receiveIds).toBe("*");
    expect(config.apps.get("c")!.receiveIds).toEqual([""]);
    expect(config.apps.get("c")!.pull).toEqual({ token: "t".repeat(16), maxAttempts: 20 });
  });

  it("reads WECOM_MAX_SKEW_SECONDS and WECOM_DEBUG", () => {
    const config = parseConfig(apps({ hr: { ...TEST_APP, webhook } }, { WECOM_MAX_SKEW_SECONDS: "0", WECOM_DEBUG: "1" }));
    expect(config.maxSkewSeconds).toBe(0);
    expect(config.debug).toBe(true);
  });

  it("keeps valid apps serving when another is invalid", () => {
    const config = parseConfig(apps({ good: { ...TEST_APP, webhook }, bad: { ...TEST_APP } }));
    expect([...config.apps.keys()]).toEqual(["good"]);
    expect(Object.fromEntries(config.invalidApps)).toEqual({ bad: "WECOM_APPS.bad must have destinations, webhook or pull" });
  });

  it.each<[string, ConfigEnv, string]>([
    ["no WECOM_APPS", {}, "not_configured: no apps: add them to wecom-edge.config.json (docs/configuration.md), or set the WECOM_APPS secret"],
    ["WECOM_APPS not JSON", { WECOM_APPS: "{hr: 1" }, "invalid_config: WECOM_APPS is not valid JSON"],
    ["WECOM_APPS an array", { WECOM_APPS: "[]" }, "invalid_config: WECOM_APPS must be a JSON object of apps"],
    ["no apps", { WECOM_APPS: "{}" }, "not_configured: no apps: add them to wecom-edge.config.json (docs/configuration.md), or set the WECOM_APPS secret"],
    ["a bad skew", apps({ hr: { ...TEST_APP, webhook } }, { WECOM_MAX_SKEW_SECONDS: "-1" }), "invalid_config: WECOM_MAX_SKEW_SECONDS must be a whole number of seconds (0 turns the check off)"],
    ["a bad app name", apps({ "HR!": { ...TEST_APP, webhook } }), 'WECOM_APPS["HR!"] is not a valid app name ([a-z0-9_-]{1,64})'],
    ["an app that is not an object", apps({ hr: "x" }), "WECOM_APPS.hr must be an object"],
    ["an unknown field", apps({ hr: { ...TEST_APP, webhook, recieveId: "x" } }), "WECOM_APPS.hr.recieveId is not a known field (known: token, encodingAESKey, receiveId, previous, webhook, pull, destinations, reply, bot, suite, kf, shards, shardKey)"],
    ["a missing token", apps({ hr: { ...TEST_APP, token: undefined, webhook } }), "WECOM_APPS.hr.token must be the callback Token from the WeCom admin console (1-128 visible ASCII characters)"],
    ["a short EncodingAESKey", apps({ hr: { ...TEST_APP, encodingAESKey: "abc", webhook } }), "WECOM_APPS.hr.encodingAESKey must be the 43-character EncodingAESKey from the WeCom admin console"],
    ["a missing receiveId", apps({ hr: { ...TEST_APP, receiveId: undefined, webhook } }), 'WECOM_APPS.hr.receiveId must be a string, a non-empty array of strings, or "*"'],
    ["an empty receiveId array", apps({ hr: { ...TEST_APP, receiveId: [], webhook } }), 'WECOM_APPS.hr.receiveId must be a string, a non-empty array of strings, or "*"'],
    ["'*' inside an array", apps({ hr: { ...TEST_APP, receiveId: ["*", "x"], webhook } }), 'WECOM_APPS.hr.receiveId must be "*" alone, not inside an array'],
    ["both webhook and pull", apps({ hr: { ...TEST_APP, webhook, pull: { token: "t".repeat(16) } } }), "WECOM_APPS.hr must have either webhook or pull, not both"],
    ["a relative webhook url", apps({ hr: { ...TEST_APP, webhook: { ...webhook, url: "/events" } } }), "WECOM_APPS.hr.webhook.url must be an absolute http(s) URL"],
    ["an ftp webhook url", apps({ hr: { ...TEST_APP, webhook: { ...webhook, url: "ftp://x/y" } } }), "WECOM_APPS.hr.webhook.url must be an absolute http(s) URL"],
    ["a secret without whsec_", apps({ hr: { ...TEST_APP, webhook: { ...webhook, secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" } } }), "WECOM_APPS.hr.webhook.secret must be a Standard Webhooks secret: whsec_ followed by base64"],
    ["a secret that is not base64", apps({ hr: { ...TEST_APP, webhook: { ...webhook, secret: "whsec_not base64!" } } }), "WECOM_APPS.hr.webhook.secret must be a Standard Webhooks secret: whsec_ followed by base64"],
    ["a short secret", apps({ hr: { ...TEST_APP, webhook: { ...webhook, secret: "whsec_c2hvcnQ=" } } }), "WECOM_APPS.hr.webhook.secret must carry 16 to 64 bytes of key (24 or 32 recommended)"],
    ["a reserved header", apps({ hr: { ...TEST_APP, webhook: { ...webhook, headers: { "Webhook-Signature": "x" } } } }), "WECOM_APPS.hr.webhook.headers.Webhook-Signature is set by wecom-edge itself"],
    ["a header with a line break", apps({ hr: { ...TEST_APP, webhook: { ...webhook, headers: { "X-A": "a\r\nb" } } } }), "WECOM_APPS.hr.webhook.headers.X-A must be a string without line breaks"],
    ["a zero timeout", apps({ hr: { ...TEST_APP, webhook: { ...webhook, timeoutMs: 0 } } }), "WECOM_APPS.hr.webhook.timeoutMs must be a whole number from 100 to 300000"],
    ["fractional attempts", apps({ hr: { ...TEST_APP, webhook: { ...webhook, maxAttempts: 2.5 } } }), "WECOM_APPS.hr.webhook.maxAttempts must be a whole number from 1 to 1000"],
    ["max backoff under min", apps({ hr: { ...TEST_APP, webhook: { ...webhook, minBackoffMs: 5000, maxBackoffMs: 1000 } } }), "WECOM_APPS.hr.webhook.maxBackoffMs must not be less than minBackoffMs"],
    ["a short pull token", apps({ hr: { ...TEST_APP, pull: { token: "short" } } }), "WECOM_APPS.hr.pull.token must be 16-512 visible ASCII characters (use a long random string)"],
  ])("reports %s by path, without the value", (_, env, message) => {
    const text = problem(env);
    expect(text).toBe(message);
    expect(text).not.toContain(TEST_APP.token);
    expect(text).not.toContain(TEST_APP.encodingAESKey);
    expect(text).not.toContain("MfKQ9r8G");
  });
});

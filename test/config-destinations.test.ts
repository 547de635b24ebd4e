/**
 * An app's `destinations` (docs/configuration.md, "Destinations"; issue 13):
 * the four-destination example parsed to exact values, the legacy
 * top-level webhook/pull as the destination "default", secret references in
 * a destination, and every mistake with its exact path and message.
 */
import { describe, expect, it } from "vitest";
import {
  DESTINATION_DEFAULTS,
  DESTINATION_NAME,
  MAX_DESTINATIONS,
  MAX_DESTINATIONS_REGEX_SIZE,
  type DestinationConfig,
} from "../src/config/destinations.js";
import { parseConfig, WEBHOOK_DEFAULTS, type AppConfig, type ConfigEnv } from "../src/config.js";
import { WecomError } from "../src/errors.js";
import { TEST_APP, WEBHOOK_SECRET } from "./support/wecom.js";

const SIGNING_KEY = Uint8Array.from(atob(WEBHOOK_SECRET.slice("whsec_".length)), (c) => c.charCodeAt(0));
const BOT_TOKEN = "bot-pull-token-0123456789";
const hook = (url: string) => ({ url, secret: WEBHOOK_SECRET });
/** The example, section 1. */
const EXAMPLE = {
  directory: { match: { Event: "change_contact" }, ordered: true, webhook: hook("https://hr.intranet.example/wecom") },
  oa: {
    match: { Event: { in: ["sys_approval_change", "open_approval_change"] } },
    webhook: hook("https://oa.intranet.example/hook"),
    rate: { perSecond: 5, maxInFlight: 2 },
  },
  bot: { match: { MsgType: { in: ["text", "image", "voice"] } }, pull: { token: BOT_TOKEN } },
  audit: { webhook: hook("https://audit.intranet.example/in") },
};

const apps = (value: unknown): ConfigEnv => ({ WECOM_APPS: JSON.stringify(value) });
const hr = (destinations: unknown, extra: Record<string, unknown> = {}) => apps({ hr: { ...TEST_APP, destinations, ...extra } });

function app(env: ConfigEnv, file?: unknown): AppConfig {
  const config = file === undefined ? parseConfig(env) : parseConfig(env, file);
  expect(Object.fromEntries(config.invalidApps)).toEqual({});
  return config.apps.get("hr")!;
}

/** The message of the one invalid app. */
function problem(env: ConfigEnv): string {
  try {
    const [first] = parseConfig(env).invalidApps.values();
    if (first === undefined) throw new Error("expected a problem");
    return first;
  } catch (error) {
    if (error instanceof WecomError) return `${error.code}: ${error.message}`;
    throw error;
  }
}

/** A destination without its compiled match, which is tested by what it matches. */
const withoutMatch = ({ match, ...rest }: DestinationConfig) => ({ ...rest, hasMatch: match !== null });
const webhookConfig = (url: string) => ({ url, signingKeys: [SIGNING_KEY], headers: {}, ...WEBHOOK_DEFAULTS });

describe("destinations", () => {
  it("parses the issue's four-destination example to exact values, in the configuration's order", () => {
    const parsed = app(hr(EXAMPLE));
    expect(parsed.webhook).toBeUndefined();
    expect(parsed.pull).toBeUndefined();
    expect(parsed.destinations.map(withoutMatch)).toEqual([
      { name: "directory", hasMatch: true, ordered: { key: null }, rate: null, maxAgeHours: 72, transform: null, webhook: webhookConfig("https://hr.intranet.example/wecom") },
      { name: "oa", hasMatch: true, ordered: null, rate: { perSecond: 5, maxInFlight: 2 }, maxAgeHours: 72, transform: null, webhook: webhookConfig("https://oa.intranet.example/hook") },
      { name: "bot", hasMatch: true, ordered: null, rate: null, maxAgeHours: 72, transform: null, pull: { token: BOT_TOKEN, maxAttempts: 20 } },
      { name: "audit", hasMatch: false, ordered: null, rate: null, maxAgeHours: 72, transform: null, webhook: webhookConfig("https://audit.intranet.example/in") },
    ]);
    const [directory, oa, bot] = parsed.destinations.map((destination) => destination.match!);
    const contact = { MsgType: "event", Event: "change_contact", ChangeType: "update_user", UserID: "zhangsan" };
    const approval = { MsgType: "event", Event: "sys_approval_change" };
    const text = { MsgType: "text", Content: "你好" };
    expect([contact, approval, text].map((event) => [directory!.test(event), oa!.test(event), bot!.test(event)])).toEqual([
      [true, false, false],
      [false, true, false],
      [false, false, true],
    ]);
    expect(oa!.test({ MsgType: "event", Event: "open_approval_change" })).toBe(true);
    expect(bot!.test({ MsgType: "location" })).toBe(false);
  });

  it("parses every field: keyed order, a rate of one kind, maxAgeHours, a transform, full push and pull settings", () => {
    const parsed = app(
      hr({
        directory: {
          ordered: { key: "UserID" },
          rate: { perSecond: 0.5 },
          maxAgeHours: 720,
          transform: '{"user": event.UserID}',
          webhook: { ...hook("https://hr.intranet.example/wecom"), headers: { "X-Env": "prod" }, timeoutMs: 5000, maxAttempts: 3, minBackoffMs: 10, maxBackoffMs: 100 },
        },
        slow: { rate: { maxInFlight: 100 }, ordered: false, maxAgeHours: 1, webhook: hook("https://slow.intranet.example/") },
        queue: { ordered: { key: "a.b" }, pull: { token: "t".repeat(16), maxAttempts: 5 } },
      }),
    );
    expect(parsed.destinations.map(withoutMatch)).toEqual([
      {
        name: "directory",
        hasMatch: false,
        ordered: { key: "UserID" },
        rate: { perSecond: 0.5, maxInFlight: null },
        maxAgeHours: 720,
        transform: '{"user": event.UserID}',
        webhook: { url: "https://hr.intranet.example/wecom", signingKeys: [SIGNING_KEY], headers: { "X-Env": "prod" }, timeoutMs: 5000, maxAttempts: 3, minBackoffMs: 10, maxBackoffMs: 100 },
      },
      { name: "slow", hasMatch: false, ordered: null, rate: { perSecond: null, maxInFlight: 100 }, maxAgeHours: 1, transform: null, webhook: webhookConfig("https://slow.intranet.example/") },
      { name: "queue", hasMatch: false, ordered: { key: "a.b" }, rate: null, maxAgeHours: 72, transform: null, pull: { token: "t".repeat(16), maxAttempts: 5 } },
    ]);
  });

  it("turns a legacy top-level webhook or pull into the one destination default, keeping AppConfig.webhook and .pull", () => {
    const pushing = app(apps({ hr: { ...TEST_APP, webhook: hook("https://hr.intranet.example/wecom") } }));
    expect(pushing.webhook).toEqual(webhookConfig("https://hr.intranet.example/wecom"));
    expect(pushing.destinations).toEqual([
      { name: "default", match: null, ordered: null, rate: null, maxAgeHours: 72, transform: null, webhook: webhookConfig("https://hr.intranet.example/wecom") },
    ]);
    const pulling = app(apps({ hr: { ...TEST_APP, pull: { token: "t".repeat(16) } } }));
    expect(pulling.pull).toEqual({ token: "t".repeat(16), maxAttempts: 20 });
    expect(pulling.destinations).toEqual([{ name: "default", match: null, ordered: null, rate: null, maxAgeHours: 72, transform: null, pull: { token: "t".repeat(16), maxAttempts: 20 } }]);
    expect(Object.keys(pulling.destinations[0]!)).toEqual(["name", "match", "ordered", "rate", "maxAgeHours", "transform", "pull"]);
  });

  it("resolves secret references in wecom-edge.config.json's destinations", () => {
    const ref = (secret: string) => ({ secret });
    const secrets = { HR_TOKEN: TEST_APP.token, HR_KEY: TEST_APP.encodingAESKey, OA_SECRET: WEBHOOK_SECRET, BOT_PULL: BOT_TOKEN, OA_AUTH: "Bearer oa" };
    const file = {
      apps: {
        hr: {
          token: ref("HR_TOKEN"),
          encodingAESKey: ref("HR_KEY"),
          receiveId: TEST_APP.receiveId,
          destinations: {
            oa: { webhook: { url: "https://oa.intranet.example/hook", secret: [ref("OA_SECRET")], headers: { Authorization: ref("OA_AUTH") } } },
            bot: { pull: { token: ref("BOT_PULL") } },
          },
        },
      },
    };
    const parsed = app(secrets as ConfigEnv, file);
    expect(parsed.destinations[0]!.webhook).toEqual({ ...webhookConfig("https://oa.intranet.example/hook"), headers: { Authorization: "Bearer oa" } });
    expect(parsed.destinations[1]!.pull).toEqual({ token: BOT_TOKEN, maxAttempts: 20 });
    const written = parseConfig(secrets as ConfigEnv, { apps: { hr: { ...file.apps.hr, destinations: { bot: { pull: { token: BOT_TOKEN } } } } } });
    expect(Object.fromEntries(written.invalidApps)).toEqual({
      hr: 'wecom-edge.config.json: apps.hr.destinations.bot.pull.token must be a {"secret": "NAME"} reference to a Worker secret: wecom-edge.config.json is committed, so secret values are not written in it',
    });
  });

  it("accepts 16 destinations and names of 32 characters", () => {
    const many = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`d${i}`, { webhook: hook("https://x.example/") }]));
    expect(app(hr(many)).destinations.map((destination) => destination.name)).toEqual(Object.keys(many));
    expect(app(hr({ ["a-_0".repeat(8)]: { webhook: hook("https://x.example/") } })).destinations[0]!.name).toBe("a-_0".repeat(8));
    expect([MAX_DESTINATIONS, DESTINATION_DEFAULTS, DESTINATION_NAME.source, MAX_DESTINATIONS_REGEX_SIZE]).toEqual([16, { maxAgeHours: 72 }, "^[a-z0-9_-]{1,32}$", 4096]);
  });

  it("keeps a valid app serving beside one whose destinations are wrong", () => {
    const config = parseConfig(apps({ good: { ...TEST_APP, destinations: EXAMPLE }, hr: { ...TEST_APP, destinations: { oa: { webhook: hook("https://x.example/"), rate: {} } } } }));
    expect([...config.apps.keys()]).toEqual(["good"]);
    expect(Object.fromEntries(config.invalidApps)).toEqual({ hr: "WECOM_APPS.hr.destinations.oa.rate must have perSecond, maxInFlight or both" });
  });

  const web = { webhook: hook("https://x.example/") };
  const pull = (token: string) => ({ pull: { token } });
  it.each<[string, ConfigEnv, string]>([
    ["the issue's example mistake", hr({ oa: { ...web, match: { Event: { in: [] } } } }), "WECOM_APPS.hr.destinations.oa.match.Event.in must be a non-empty array of strings"],
    ["both destinations and webhook", hr(EXAMPLE, { webhook: hook("https://x.example/") }), "WECOM_APPS.hr must have either destinations or webhook/pull, not both"],
    ["both destinations and pull", hr(EXAMPLE, { pull: { token: "t".repeat(16) } }), "WECOM_APPS.hr must have either destinations or webhook/pull, not both"],
    ["neither destinations, webhook nor pull", apps({ hr: { ...TEST_APP } }), "WECOM_APPS.hr must have destinations, webhook or pull"],
    ["empty destinations", hr({}), "WECOM_APPS.hr.destinations must be a non-empty object of destination name to destination"],
    ["destinations an array", hr([web]), "WECOM_APPS.hr.destinations must be a non-empty object of destination name to destination"],
    ["17 destinations", hr(Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`d${i}`, web]))), "WECOM_APPS.hr.destinations has 17 destinations, more than the 16 allowed"],
    ["a name with a space", hr({ "Bad Name": web }), 'WECOM_APPS.hr.destinations["Bad Name"] is not a valid destination name ([a-z0-9_-]{1,32})'],
    ["a name of 33 characters", hr({ ["a".repeat(33)]: web }), `WECOM_APPS.hr.destinations["${"a".repeat(33)}"] is not a valid destination name ([a-z0-9_-]{1,32})`],
    ["a destination that is not an object", hr({ oa: "https://x.example/" }), "WECOM_APPS.hr.destinations.oa must be an object"],
    ["an unknown field", hr({ oa: { ...web, filter: {} } }), "WECOM_APPS.hr.destinations.oa.filter is not a known field (known: match, ordered, rate, maxAgeHours, transform, webhook, pull)"],
    ["both webhook and pull", hr({ oa: { ...web, ...pull("t".repeat(16)) } }), "WECOM_APPS.hr.destinations.oa must have either webhook or pull, not both"],
    ["neither webhook nor pull", hr({ oa: { match: { MsgType: "text" } } }), "WECOM_APPS.hr.destinations.oa must have webhook or pull"],
    ["a webhook mistake", hr({ oa: { webhook: { url: "/hook", secret: WEBHOOK_SECRET } } }), "WECOM_APPS.hr.destinations.oa.webhook.url must be an absolute http(s) URL"],
    ["a pull mistake", hr({ bot: pull("short") }), "WECOM_APPS.hr.destinations.bot.pull.token must be 16-512 visible ASCII characters (use a long random string)"],
    ["a secret reference in WECOM_APPS", hr({ bot: { pull: { token: { secret: "BOT" } } } }), 'WECOM_APPS.hr.destinations.bot.pull.token is a {"secret": …} reference: those go in wecom-edge.config.json; WECOM_APPS holds the values themselves'],
    ["a match that is not an object", hr({ oa: { ...web, match: "change_contact" } }), "WECOM_APPS.hr.destinations.oa.match must be an object of event paths to conditions"],
    ["a wrong condition in any", hr({ oa: { ...web, match: { any: [{ MsgType: "text" }, { MsgType: 1 }] } } }), "WECOM_APPS.hr.destinations.oa.match.any[1].MsgType must be a string, or an object with one of regex, in, prefix, exists, not"],
    ["an unknown condition", hr({ oa: { ...web, match: { Event: { equals: "x" } } } }), "WECOM_APPS.hr.destinations.oa.match.Event.equals is not a condition (regex, in, prefix, exists, not)"],
    ["a regex backreference", hr({ oa: { ...web, match: { Content: { regex: "(a)\\1" } } } }), "WECOM_APPS.hr.destinations.oa.match.Content.regex uses a backreference, which the linear-time engine cannot run"],
    ["a regex lookahead", hr({ oa: { ...web, match: { Content: { not: { regex: "a(?=b)" } } } } }), "WECOM_APPS.hr.destinations.oa.match.Content.not.regex uses a lookahead, which the linear-time engine cannot run"],
    ["ordered a string", hr({ oa: { ...web, ordered: "UserID" } }), 'WECOM_APPS.hr.destinations.oa.ordered must be true, false or {"key": "<dotted path into the event>"}'],
    ["ordered null", hr({ oa: { ...web, ordered: null } }), 'WECOM_APPS.hr.destinations.oa.ordered must be true, false or {"key": "<dotted path into the event>"}'],
    ["ordered without a key", hr({ oa: { ...web, ordered: {} } }), "WECOM_APPS.hr.destinations.oa.ordered.key must be a dotted path into the event (as in match) of 1 to 128 characters"],
    ["an empty key", hr({ oa: { ...web, ordered: { key: "" } } }), "WECOM_APPS.hr.destinations.oa.ordered.key must be a dotted path into the event (as in match) of 1 to 128 characters"],
    ["a key with an empty segment", hr({ oa: { ...web, ordered: { key: "a..b" } } }), "WECOM_APPS.hr.destinations.oa.ordered.key must be a dotted path into the event (as in match) of 1 to 128 characters"],
    ["a key of 129 characters", hr({ oa: { ...web, ordered: { key: "k".repeat(129) } } }), "WECOM_APPS.hr.destinations.oa.ordered.key must be a dotted path into the event (as in match) of 1 to 128 characters"],
    ["a key that is a number", hr({ oa: { ...web, ordered: { key: 1 } } }), "WECOM_APPS.hr.destinations.oa.ordered.key must be a dotted path into the event (as in match) of 1 to 128 characters"],
    ["an unknown field in ordered", hr({ oa: { ...web, ordered: { key: "UserID", by: "x" } } }), "WECOM_APPS.hr.destinations.oa.ordered.by is not a known field (known: key)"],
    ["a rate on a pull destination", hr({ bot: { ...pull("t".repeat(16)), rate: { perSecond: 1 } } }), "WECOM_APPS.hr.destinations.bot.rate applies to webhook destinations only"],
    ["an empty rate", hr({ oa: { ...web, rate: {} } }), "WECOM_APPS.hr.destinations.oa.rate must have perSecond, maxInFlight or both"],
    ["a rate that is a number", hr({ oa: { ...web, rate: 5 } }), "WECOM_APPS.hr.destinations.oa.rate must be an object with perSecond, maxInFlight or both"],
    ["an unknown field in rate", hr({ oa: { ...web, rate: { perMinute: 5 } } }), "WECOM_APPS.hr.destinations.oa.rate.perMinute is not a known field (known: perSecond, maxInFlight)"],
    ["perSecond below 0.1", hr({ oa: { ...web, rate: { perSecond: 0.09 } } }), "WECOM_APPS.hr.destinations.oa.rate.perSecond must be a number from 0.1 to 1000 (requests per second; may be fractional)"],
    ["perSecond above 1000", hr({ oa: { ...web, rate: { perSecond: 1000.5 } } }), "WECOM_APPS.hr.destinations.oa.rate.perSecond must be a number from 0.1 to 1000 (requests per second; may be fractional)"],
    ["perSecond a string", hr({ oa: { ...web, rate: { perSecond: "5" } } }), "WECOM_APPS.hr.destinations.oa.rate.perSecond must be a number from 0.1 to 1000 (requests per second; may be fractional)"],
    ["maxInFlight 0", hr({ oa: { ...web, rate: { maxInFlight: 0 } } }), "WECOM_APPS.hr.destinations.oa.rate.maxInFlight must be a whole number from 1 to 100"],
    ["maxInFlight 101", hr({ oa: { ...web, rate: { perSecond: 1, maxInFlight: 101 } } }), "WECOM_APPS.hr.destinations.oa.rate.maxInFlight must be a whole number from 1 to 100"],
    ["maxInFlight fractional", hr({ oa: { ...web, rate: { maxInFlight: 1.5 } } }), "WECOM_APPS.hr.destinations.oa.rate.maxInFlight must be a whole number from 1 to 100"],
    ["maxAgeHours 0", hr({ oa: { ...web, maxAgeHours: 0 } }), "WECOM_APPS.hr.destinations.oa.maxAgeHours must be a whole number from 1 to 720"],
    ["maxAgeHours 721", hr({ oa: { ...web, maxAgeHours: 721 } }), "WECOM_APPS.hr.destinations.oa.maxAgeHours must be a whole number from 1 to 720"],
    ["maxAgeHours fractional", hr({ oa: { ...web, maxAgeHours: 1.5 } }), "WECOM_APPS.hr.destinations.oa.maxAgeHours must be a whole number from 1 to 720"],
    [
      "a pull token used twice",
      hr({ bot: pull("same-token-0123456789"), audit: web, archive: pull("same-token-0123456789") }),
      'WECOM_APPS.hr.destinations.archive.pull.token must differ from the token of pull destination "bot"',
    ],
    ["a transform that does not compile", hr({ oa: { ...web, transform: '{"user": event.UserID' } }), "WECOM_APPS.hr.destinations.oa.transform is not a valid JSONata expression: S0203 at position 21"],
    ["a transform that is not a string", hr({ oa: { ...web, transform: { user: "event.UserID" } } }), "WECOM_APPS.hr.destinations.oa.transform must be a string: a JSONata expression"],
    ["an empty transform", hr({ oa: { ...web, transform: "" } }), "WECOM_APPS.hr.destinations.oa.transform must be a JSONata expression of 1 to 4096 characters"],
    ["a transform of 4097 characters", hr({ oa: { ...web, transform: `"${"x".repeat(4095)}"` } }), "WECOM_APPS.hr.destinations.oa.transform must be a JSONata expression of 1 to 4096 characters"],
    [
      "a transform with a regex",
      hr({ oa: { ...web, transform: '{"n": $replace(event.Content, /a+/, "b")}' } }),
      "WECOM_APPS.hr.destinations.oa.transform uses a regular expression at position 34, which transforms do not run (JSONata would run it on a backtracking engine)",
    ],
  ])("refuses %s", (_name, env, message) => {
    expect(problem(env)).toBe(message);
  });

  it("never quotes a duplicated pull token", () => {
    const message = problem(hr({ a: pull("a-secret-pull-token-42"), b: pull("a-secret-pull-token-42") }));
    expect(message).toBe('WECOM_APPS.hr.destinations.b.pull.token must differ from the token of pull destination "a"');
  });
});

/**
 * wecom-edge.config.json: apps with secret references (docs/configuration.md),
 * beside and together with WECOM_APPS.
 */
import { describe, expect, it } from "vitest";
import { loadConfig, parseConfig, type ConfigEnv } from "../src/config.js";
import { WecomError } from "../src/errors.js";
import { TEST_APP, WEBHOOK_SECRET } from "./support/wecom.js";

const ref = (secret: string) => ({ secret });
const HR_SECRETS = { HR_TOKEN: TEST_APP.token, HR_ENCODING_AES_KEY: TEST_APP.encodingAESKey, HR_WEBHOOK_SECRET: WEBHOOK_SECRET };
const hrEntry = (webhook: Record<string, unknown> = {}) => ({
  token: ref("HR_TOKEN"),
  encodingAESKey: ref("HR_ENCODING_AES_KEY"),
  receiveId: TEST_APP.receiveId,
  webhook: { url: "https://hr.intranet.example/wecom", secret: ref("HR_WEBHOOK_SECRET"), ...webhook },
});
const env = (extra: Record<string, string> = {}): ConfigEnv => ({ ...HR_SECRETS, ...extra }) as ConfigEnv;

function invalid(config: ReturnType<typeof parseConfig>): Record<string, string> {
  return Object.fromEntries(config.invalidApps);
}

describe("wecom-edge.config.json", () => {
  it("serves an app whose secrets are references, resolved from the Worker's secrets", () => {
    const config = parseConfig(env(), { apps: { hr: hrEntry() } });
    const hr = config.apps.get("hr")!;
    expect(invalid(config)).toEqual({});
    expect(hr.token).toBe(TEST_APP.token);
    expect(hr.encodingAESKey).toBe(TEST_APP.encodingAESKey);
    expect(hr.credentials).toEqual([{ name: "current", token: TEST_APP.token, encodingAESKey: TEST_APP.encodingAESKey }]);
    expect(hr.webhook!.url).toBe("https://hr.intranet.example/wecom");
    expect([...hr.webhook!.signingKeys[0]!]).toEqual([...Uint8Array.from(atob(WEBHOOK_SECRET.slice(6)), (c) => c.charCodeAt(0))]);
  });

  it("resolves references in previous credentials, secret lists, header values, pull and bot tokens", () => {
    const secrets = {
      ...HR_SECRETS,
      OLD_TOKEN: "oldToken123",
      OLD_KEY: "a".repeat(43),
      ACCESS_SECRET: "cf-access-secret-value",
      BOT_PULL: "p".repeat(32),
      BOT_STREAM: "s".repeat(32),
    };
    const file = {
      apps: {
        hr: {
          ...hrEntry({ secret: [ref("HR_WEBHOOK_SECRET")], headers: { "CF-Access-Client-Id": "id.access", "CF-Access-Client-Secret": ref("ACCESS_SECRET") } }),
          previous: [{ token: ref("OLD_TOKEN"), encodingAESKey: ref("OLD_KEY") }],
        },
        bot: { token: ref("HR_TOKEN"), encodingAESKey: ref("HR_ENCODING_AES_KEY"), receiveId: "", pull: { token: ref("BOT_PULL") }, bot: { token: ref("BOT_STREAM") } },
      },
    };
    const config = parseConfig(secrets as ConfigEnv, file);
    expect(invalid(config)).toEqual({});
    const hr = config.apps.get("hr")!;
    expect(hr.credentials[1]).toEqual({ name: "previous[0]", token: "oldToken123", encodingAESKey: "a".repeat(43) });
    expect(hr.webhook!.headers).toEqual({ "CF-Access-Client-Id": "id.access", "CF-Access-Client-Secret": "cf-access-secret-value" });
    expect(config.apps.get("bot")!.pull!.token).toBe("p".repeat(32));
    expect(config.apps.get("bot")!.bot!.token).toBe("s".repeat(32));
  });

  it.each<[string, Record<string, unknown>, ConfigEnv, string]>([
    [
      "a reference to a secret that is not set",
      hrEntry(),
      { HR_TOKEN: TEST_APP.token, HR_WEBHOOK_SECRET: WEBHOOK_SECRET } as ConfigEnv,
      "wecom-edge.config.json: apps.hr.encodingAESKey names secret HR_ENCODING_AES_KEY, which is not set (npx wrangler secret put HR_ENCODING_AES_KEY; locally, a line in .dev.vars)",
    ],
    [
      "a reference to an empty secret",
      hrEntry(),
      env({ HR_WEBHOOK_SECRET: "" }),
      "wecom-edge.config.json: apps.hr.webhook.secret names secret HR_WEBHOOK_SECRET, which is not set (npx wrangler secret put HR_WEBHOOK_SECRET; locally, a line in .dev.vars)",
    ],
    [
      "a Token written in the file",
      { ...hrEntry(), token: TEST_APP.token },
      env(),
      'wecom-edge.config.json: apps.hr.token must be a {"secret": "NAME"} reference to a Worker secret: wecom-edge.config.json is committed, so secret values are not written in it',
    ],
    [
      "a webhook secret written in the file",
      hrEntry({ secret: WEBHOOK_SECRET }),
      env(),
      'wecom-edge.config.json: apps.hr.webhook.secret must be a {"secret": "NAME"} reference to a Worker secret: wecom-edge.config.json is committed, so secret values are not written in it',
    ],
    [
      "a reference with a bad name",
      { ...hrEntry(), token: ref("hr-token") },
      env(),
      'wecom-edge.config.json: apps.hr.token must name a secret: {"secret": "NAME"} with NAME of 1-64 capital letters, digits and _, starting with a letter',
    ],
    [
      "a reference to a name the gateway uses",
      { ...hrEntry(), token: ref("ADMIN_TOKEN") },
      env({ ADMIN_TOKEN: "admin-token-0123456789abcdef" }),
      "wecom-edge.config.json: apps.hr.token names ADMIN_TOKEN, which wecom-edge uses itself: give the value a secret of its own",
    ],
    [
      "a resolved value that is wrong",
      hrEntry(),
      env({ HR_ENCODING_AES_KEY: "short" }),
      "wecom-edge.config.json: apps.hr.encodingAESKey must be the 43-character EncodingAESKey from the WeCom admin console",
    ],
    [
      "a typo in a field",
      { ...hrEntry(), recieveId: "ww1" },
      env(),
      "wecom-edge.config.json: apps.hr.recieveId is not a known field (known: token, encodingAESKey, receiveId, previous, webhook, pull, destinations, reply, bot, suite, kf, shards, shardKey)",
    ],
  ])("reports %s by path and secret name, never a value", (_, entry, environment, message) => {
    const config = parseConfig(environment, { apps: { hr: entry } });
    expect(invalid(config)).toEqual({ hr: message });
    expect(message).not.toContain(TEST_APP.token);
    expect(message).not.toContain(TEST_APP.encodingAESKey);
    expect(message).not.toContain(WEBHOOK_SECRET.slice(6));
  });

  it("serves the apps of the file and of WECOM_APPS together; a name in both is invalid, naming it", () => {
    const wecomApps = JSON.stringify({
      tickets: { ...TEST_APP, pull: { token: "t".repeat(16) } },
      hr: { ...TEST_APP, pull: { token: "t".repeat(16) } },
    });
    const config = parseConfig(env({ WECOM_APPS: wecomApps }), { apps: { hr: hrEntry(), oa: hrEntry() } });
    expect([...config.apps.keys()].sort()).toEqual(["oa", "tickets"]);
    expect(invalid(config)).toEqual({ hr: 'app "hr" is in both wecom-edge.config.json and WECOM_APPS: keep it in one of them' });
  });

  it("refuses a reference inside WECOM_APPS, which holds values", () => {
    const config = parseConfig({ WECOM_APPS: JSON.stringify({ hr: hrEntry() }) });
    expect(invalid(config)).toEqual({
      hr: 'WECOM_APPS.hr.token is a {"secret": …} reference: those go in wecom-edge.config.json; WECOM_APPS holds the values themselves',
    });
  });

  it.each<[string, unknown, string]>([
    ["not an object", [], 'invalid_config: wecom-edge.config.json must be a JSON object with "apps", an object of apps (docs/configuration.md)'],
    ["apps missing", {}, 'invalid_config: wecom-edge.config.json must be a JSON object with "apps", an object of apps (docs/configuration.md)'],
    ["an unknown top-level field", { apps: {}, aps: {} }, "invalid_config: wecom-edge.config.json: aps is not a known field (known: apps)"],
    ["no apps anywhere", { apps: {} }, "not_configured: no apps: add them to wecom-edge.config.json (docs/configuration.md), or set the WECOM_APPS secret"],
  ])("refuses a file that is %s as a whole", (_, file, message) => {
    let thrown: unknown;
    try {
      parseConfig(env(), file);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(WecomError);
    expect(`${(thrown as WecomError).code}: ${(thrown as WecomError).message}`).toBe(message);
  });

  it("loads again when a referenced secret changes, and only then", () => {
    const file = { apps: { hr: hrEntry() } };
    const first = loadConfig(env(), file);
    expect(loadConfig(env(), file)).toBe(first);
    const rotated = loadConfig(env({ HR_TOKEN: "rotatedToken42" }), file);
    expect(rotated).not.toBe(first);
    expect(rotated.apps.get("hr")!.token).toBe("rotatedToken42");
    // A secret the file does not reference changes nothing.
    expect(loadConfig(env({ HR_TOKEN: "rotatedToken42", UNRELATED: "x" }), file)).toBe(rotated);
  });

  it("fits 50 apps with reply rules in the file, every secret far under Cloudflare's 5 KB", () => {
    const apps: Record<string, unknown> = {};
    const secrets: Record<string, string> = {};
    for (let i = 0; i < 50; i++) {
      const name = `app${i}`;
      const upper = name.toUpperCase();
      secrets[`${upper}_TOKEN`] = `Tok${i}`.padEnd(32, "x");
      secrets[`${upper}_ENCODING_AES_KEY`] = TEST_APP.encodingAESKey;
      secrets[`${upper}_WEBHOOK_SECRET`] = WEBHOOK_SECRET;
      const rules = Array.from({ length: 40 }, (_, r) => ({
        match: { MsgType: "text", Content: { regex: `^(查询|query) ${r}[0-9]*$` } },
        reply: { msgtype: "text", text: { content: `第 ${r} 条自动回复：请稍候，我们会尽快处理您的请求。` } },
      }));
      apps[name] = {
        token: ref(`${upper}_TOKEN`),
        encodingAESKey: ref(`${upper}_ENCODING_AES_KEY`),
        receiveId: "ww3e40cde07cc21a01",
        webhook: { url: `https://intranet.example/${name}`, secret: ref(`${upper}_WEBHOOK_SECRET`), headers: { "CF-Access-Client-Id": `${name}.access` } },
        reply: { rules },
      };
    }
    const config = parseConfig(secrets as ConfigEnv, { apps });
    expect(invalid(config)).toEqual({});
    expect(config.apps.size).toBe(50);
    expect(config.apps.get("app49")!.reply!.rules).toHaveLength(40);
    const largest = Math.max(...Object.values(secrets).map((value) => new TextEncoder().encode(value).length));
    expect(largest).toBe(43);
    // The same apps as one WECOM_APPS secret would be refused by Cloudflare many times over.
    expect(new TextEncoder().encode(JSON.stringify(apps)).length).toBeGreaterThan(60 * 5 * 1024);
  });
});

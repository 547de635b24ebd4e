/**
 * Reply rules on the matcher (docs/replies.md, "Rules"; docs/matching.md):
 * errors by path from the rules array, the first rule that holds, the bound
 * on all the rules' regexes, and the issue's hostile rule through a real
 * callback. Time is measured in test/match/hostile.test.mjs.
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import { compileRules, matchRule, MAX_RULES_REGEX_SIZE, RuleError } from "../../src/wecom/rules.js";
import { callbackRequest, callWorker, newBucket, receiverUrl, TEST_APP, testEnv, textMessage, webhookApp } from "../support/wecom.js";

const TEXT = { MsgType: "text", Content: "x" };

function ruleError(rules: unknown): string {
  try {
    compileRules(rules);
  } catch (caught) {
    if (caught instanceof RuleError) return `${caught.path} ${caught.message}`;
    throw caught;
  }
  throw new Error("expected a RuleError");
}

describe("compileRules", () => {
  it("reports a match's mistakes at [i].match.<path>", () => {
    expect(ruleError([{ match: { MsgType: "text" }, reply: TEXT }, { match: { Event: { in: [] } }, reply: TEXT }])).toBe(
      "[1].match.Event.in must be a non-empty array of strings",
    );
    expect(ruleError([{ match: { any: [{ MsgType: "text" }, { MsgType: 1 }] }, reply: TEXT }])).toBe(
      "[0].match.any[1].MsgType must be a string, or an object with one of regex, in, prefix, exists, not",
    );
    expect(ruleError([{ match: { Content: { regex: "(?<=a)b" } }, reply: TEXT }])).toBe("[0].match.Content.regex uses a lookbehind, which the linear-time engine cannot run");
    expect(ruleError([{ match: "text", reply: TEXT }])).toBe("[0].match must be an object of event paths to conditions");
    expect(ruleError([{ reply: TEXT }])).toBe("[0].match must be an object of event paths to conditions");
  });

  it("bounds all the rules' regexes together", () => {
    expect(MAX_RULES_REGEX_SIZE).toBe(4096);
    const full = Array.from({ length: 16 }, () => ({ match: { Content: { regex: "x{254}" } }, reply: TEXT }));
    expect(compileRules(full)).toHaveLength(16);
    expect(ruleError([...full, { match: { Content: { regex: "y" } }, reply: TEXT }])).toBe("[16].match brings the rules' regexes to 4099 RE2 instructions, over the 4096 allowed");
  });

  it("gives the configuration's full path", () => {
    const app = { ...TEST_APP, webhook: { url: "https://intranet.example/hook", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" } };
    const config = parseConfig({ WECOM_APPS: JSON.stringify({ hr: { ...app, reply: { rules: [{ match: { Event: { in: [] } }, reply: TEXT }] } } }) });
    expect(config.invalidApps.get("hr")).toBe("WECOM_APPS.hr.reply.rules[0].match.Event.in must be a non-empty array of strings");
  });
});

describe("matchRule", () => {
  const rules = compileRules([
    { match: { MsgType: "event", Event: { in: ["click", "view"] }, EventKey: { prefix: "MENU_" } }, reply: TEXT },
    { match: { MsgType: "text", Content: { regex: "^help" } }, reply: TEXT },
    { match: { any: [{ MsgType: "image" }, { MsgType: "voice" }] }, reply: TEXT },
    { match: {}, reply: TEXT },
  ]);

  it("answers the index of the first rule that holds; an empty match holds for every event", () => {
    expect(matchRule(rules, { MsgType: "event", Event: "click", EventKey: "MENU_A" })).toBe(0);
    expect(matchRule(rules, { MsgType: "text", Content: "help me" })).toBe(1);
    expect(matchRule(rules, { MsgType: "voice" })).toBe(2);
    expect(matchRule(rules, { MsgType: "event", Event: "click", EventKey: "OTHER" })).toBe(3);
    expect(matchRule(rules.slice(0, 3), { MsgType: "text", Content: "hello" })).toBe(-1);
    expect(matchRule([], { MsgType: "text" })).toBe(-1);
  });
});

describe("the issue's hostile rule through a real callback", () => {
  const HOSTILE = "^(\\s*[\\w\\u4e00-\\u9fa5]+\\s*)+[?？]$";

  async function contentOf(app: string, environment: Record<string, unknown>, content: string, msgId: string): Promise<string> {
    const response = await callWorker(await callbackRequest(app, textMessage(content, msgId)), environment);
    const body = await response.text();
    expect(response.status).toBe(200);
    if (body === "success") return body;
    // Opened by an implementation independent of src/ (test/support/independent.ts).
    const opened = await fetch(`${receiverUrl()}/open-reply`, {
      method: "POST",
      body: JSON.stringify({ encodingAESKey: TEST_APP.encodingAESKey, token: TEST_APP.token, format: "xml", body }),
    });
    const { plaintext } = (await opened.json()) as { plaintext: string };
    return /<Content><!\[CDATA\[(.*)\]\]><\/Content>/.exec(plaintext)?.[1] ?? plaintext;
  }

  it("answers at once: no reply for 2000 × a then !, the rule's reply for a question", async () => {
    const app = newBucket("hostile");
    const rules = [{ match: { MsgType: "text", Content: { regex: HOSTILE } }, reply: { MsgType: "text", Content: "问题已收到" } }];
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`, { reply: { rules } }) } });
    expect(await contentOf(app, environment, `${"a".repeat(2000)}!`, "1")).toBe("success");
    expect(await contentOf(app, environment, `${"a".repeat(2000)}？`, "2")).toBe("问题已收到");
    expect(await contentOf(app, environment, `${"你好 ".repeat(600)}!`, "3")).toBe("success");
    expect(await contentOf(app, environment, "你好吗", "4")).toBe("success");
    expect(await contentOf(app, environment, "你好吗？", "5")).toBe("问题已收到");
  });
});

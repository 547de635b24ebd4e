/** What an alert looks like on each channel (docs/operating.md, "Alerts"): pure functions. */
import { describe, expect, it } from "vitest";
import { deadLetterAlert, invalidConfigAlert, safeMessage } from "../../src/alerts/alerts.js";
import { robotBody, ROBOT_MAX_BYTES, truncateUtf8, webhookBody } from "../../src/alerts/format.js";

const AT = Date.parse("2026-11-28T10:00:00.000Z");
const alert = deadLetterAlert("hr", "push", ["evt_1", "evt_2"], "attempt 20: webhook answered 503");

describe("alert bodies", () => {
  it("a robot gets one markdown message", () => {
    expect(JSON.parse(robotBody(alert, { at: AT, suppressed: 3 }))).toEqual({
      msgtype: "markdown",
      markdown: {
        content: [
          "**wecom-edge: dead letters** · app `hr`",
          '> 2 events of app "hr" became dead letters',
          '> mode: <font color="comment">push</font>',
          '> count: <font color="comment">2</font>',
          '> ids: <font color="comment">evt_1, evt_2</font>',
          '> lastError: <font color="comment">attempt 20: webhook answered 503</font>',
          '**What to do:** The webhook kept failing (see lastError in GET /admin/apps/hr): fix it, then replay them: POST /admin/apps/hr/replay {"all":true} (or list them first: GET /admin/apps/hr/dead)',
          '<font color="comment">2026-11-28T10:00:00.000Z · 3 more since the last alert of this kind</font>',
        ].join("\n"),
      },
    });
  });

  it("the webhook gets the alert as JSON", () => {
    expect(JSON.parse(webhookBody(alert, { at: AT, suppressed: 0 }))).toEqual({
      type: "wecom-edge.alert",
      kind: "dead_letter",
      app: "hr",
      at: "2026-11-28T10:00:00.000Z",
      summary: '2 events of app "hr" became dead letters',
      hint: 'The webhook kept failing (see lastError in GET /admin/apps/hr): fix it, then replay them: POST /admin/apps/hr/replay {"all":true} (or list them first: GET /admin/apps/hr/dead)',
      details: { mode: "push", count: 2, ids: ["evt_1", "evt_2"], lastError: "attempt 20: webhook answered 503" },
      suppressed: 0,
    });
  });

  it(`cuts a robot message to ${ROBOT_MAX_BYTES} bytes, never inside a character`, () => {
    const long = invalidConfigAlert("hr", "企".repeat(300));
    const big = { ...long, hint: "业".repeat(2_000) };
    const content = (JSON.parse(robotBody(big, { at: AT, suppressed: 0 })) as { markdown: { content: string } }).markdown.content;
    const bytes = new TextEncoder().encode(content);
    expect(bytes.length).toBeLessThanOrEqual(ROBOT_MAX_BYTES);
    expect(bytes.length).toBeGreaterThan(ROBOT_MAX_BYTES - 4);
    expect(content.endsWith("业…")).toBe(true);
    expect(content).not.toContain("\uFFFD");
    expect(truncateUtf8("abc", 3)).toBe("abc");
    expect(truncateUtf8("abcdef", 5)).toBe("ab…");
  });

  it("never passes on a URL from an error message, and names at most 10 ids", () => {
    expect(safeMessage("request failed: TypeError: fetch to https://hooks.example.com/x?token=SECRET failed")).toBe(
      "request failed: TypeError: fetch to <url> failed",
    );
    const many = deadLetterAlert("hr", "pull", Array.from({ length: 12 }, (_, i) => `evt_${i}`), "leased 20 times without an ack");
    expect([many.details.count, (many.details.ids as string[]).length, many.summary]).toEqual([12, 10, '12 events of app "hr" became dead letters']);
  });
});

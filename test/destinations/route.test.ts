/**
 * route() and orderKeyOf() (src/destinations/route.ts): which destinations
 * an event goes to, in configuration order, and each one's order key.
 */
import { describe, expect, it } from "vitest";
import type { DestinationConfig } from "../../src/config/destinations.js";
import { MAX_ORDER_KEY_LENGTH, orderKeyOf, route } from "../../src/destinations/route.js";
import { compileMatch, textAt } from "../../src/match/index.js";

function destination(name: string, match: unknown, ordered: DestinationConfig["ordered"] = null): DestinationConfig {
  return { name, match: match === null ? null : compileMatch(match), ordered, rate: null, maxAgeHours: 72, transform: null };
}

/** The company of issue 13. */
const HR: readonly DestinationConfig[] = [
  destination("directory", { Event: "change_contact" }, { key: null }),
  destination("oa", { Event: { in: ["sys_approval_change", "open_approval_change"] } }),
  destination("crm", { Event: { in: ["change_external_contact", "change_external_chat"] } }, { key: "ExternalUserID" }),
  destination("bot", { MsgType: { in: ["text", "image", "voice"] } }),
  destination("audit", null),
];

describe("route", () => {
  it("returns the destinations whose match holds, in configuration order, with their keys", () => {
    expect(route(HR, { MsgType: "event", Event: "change_contact", ChangeType: "update_user", UserID: "zhangsan" })).toEqual([
      { name: "directory", key: "" },
      { name: "audit", key: null },
    ]);
    expect(route(HR, { MsgType: "event", Event: "sys_approval_change" })).toEqual([
      { name: "oa", key: null },
      { name: "audit", key: null },
    ]);
    expect(route(HR, { MsgType: "event", Event: "change_external_contact", ExternalUserID: "wmABC" })).toEqual([
      { name: "crm", key: "wmABC" },
      { name: "audit", key: null },
    ]);
    expect(route(HR, { MsgType: "text", Content: "hi" })).toEqual([
      { name: "bot", key: null },
      { name: "audit", key: null },
    ]);
  });

  it("returns nothing when no match holds, and keeps the configuration's order, not the match's", () => {
    expect(route(HR.slice(0, 4), { MsgType: "location" })).toEqual([]);
    const reversed = [destination("z", null), destination("a", { MsgType: "text" })];
    expect(route(reversed, { MsgType: "text" }).map((r) => r.name)).toEqual(["z", "a"]);
    expect(route([], { MsgType: "text" })).toEqual([]);
  });

  it("takes any event into a destination without a match, even one that is not an object", () => {
    const all = [destination("all", null)];
    expect(route(all, {})).toEqual([{ name: "all", key: null }]);
    expect(route(all, null)).toEqual([{ name: "all", key: null }]);
    expect(route([destination("text", { MsgType: "text" })], null)).toEqual([]);
  });
});

describe("orderKeyOf", () => {
  const byUser = destination("directory", null, { key: "UserID" });
  const byDeep = destination("deep", null, { key: "from.userid" });

  it("null when unordered, \"\" for ordered: true whatever the event", () => {
    expect(orderKeyOf(destination("u", null), { UserID: "a" })).toBeNull();
    expect(orderKeyOf(destination("o", null, { key: null }), { UserID: "a" })).toBe("");
    expect(orderKeyOf(destination("o", null, { key: null }), null)).toBe("");
  });

  it("the key's text as a match compares it: strings, and numbers and booleans as their text", () => {
    expect(orderKeyOf(byUser, { UserID: "zhangsan" })).toBe("zhangsan");
    expect(orderKeyOf(byUser, { UserID: 1000002 })).toBe("1000002");
    expect(orderKeyOf(byUser, { UserID: 1.5 })).toBe("1.5");
    expect(orderKeyOf(byUser, { UserID: true })).toBe("true");
    expect(orderKeyOf(byUser, { UserID: "" })).toBe("");
    expect(orderKeyOf(byDeep, { from: { userid: "lisi" } })).toBe("lisi");
  });

  it("\"\" when the path is missing or holds no scalar", () => {
    expect(orderKeyOf(byUser, {})).toBe("");
    expect(orderKeyOf(byUser, { UserID: null })).toBe("");
    expect(orderKeyOf(byUser, { UserID: { id: "a" } })).toBe("");
    expect(orderKeyOf(byUser, { UserID: ["a"] })).toBe("");
    expect(orderKeyOf(byDeep, { from: "lisi" })).toBe("");
    expect(orderKeyOf(byDeep, { from: ["lisi"] })).toBe("");
    expect(orderKeyOf(byUser, null)).toBe("");
    expect(orderKeyOf(byUser, "UserID")).toBe("");
    // Only the event's own fields: never the prototype's.
    expect(orderKeyOf(destination("p", null, { key: "constructor.name" }), {})).toBe("");
    expect(orderKeyOf(destination("p", null, { key: "toString" }), {})).toBe("");
  });

  it("cuts a key to 256 UTF-16 units, never inside a surrogate pair", () => {
    expect(MAX_ORDER_KEY_LENGTH).toBe(256);
    expect(orderKeyOf(byUser, { UserID: "a".repeat(256) })).toBe("a".repeat(256));
    expect(orderKeyOf(byUser, { UserID: "a".repeat(10_000) })).toBe("a".repeat(256));
    // 255 units then 😀 (two units): cutting at 256 would leave half of it.
    expect(orderKeyOf(byUser, { UserID: `${"a".repeat(255)}😀b` })).toBe("a".repeat(255));
    expect(orderKeyOf(byUser, { UserID: `${"a".repeat(254)}😀b` })).toBe(`${"a".repeat(254)}😀`);
    expect(orderKeyOf(byUser, { UserID: "张".repeat(300) })).toBe("张".repeat(256));
  });
});

describe("textAt", () => {
  it("reads a dotted path as a match's string conditions do", () => {
    expect(textAt({ a: { b: "x" } }, "a.b")).toBe("x");
    expect(textAt({ a: { b: 12 } }, "a.b")).toBe("12");
    expect(textAt({ a: { b: false } }, "a.b")).toBe("false");
    expect(textAt({ a: { b: null } }, "a.b")).toBeNull();
    expect(textAt({ a: { b: {} } }, "a.b")).toBeNull();
    expect(textAt({ a: [{ b: "x" }] }, "a.0.b")).toBeNull();
    expect(textAt({ "a.b": "x" }, "a.b")).toBeNull();
    expect(textAt({}, "a")).toBeNull();
  });
});

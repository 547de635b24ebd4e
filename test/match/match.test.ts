/**
 * The matcher (docs/matching.md): every condition, `any`, explain's words,
 * every error's path, the JavaScript escapes, the refusals and the bounds.
 * Runs inside workerd, where the Worker runs it.
 */
import { describe, expect, it } from "vitest";
import { compileMatch, MATCH_LIMITS, MatchError } from "../../src/match/index.js";

/** The match's error as "path: problem". */
function error(match: unknown): string {
  try {
    compileMatch(match);
  } catch (caught) {
    if (caught instanceof MatchError) return `${caught.path}: ${caught.message}`;
    throw caught;
  }
  throw new Error("expected a MatchError");
}

const HOSTILE = "^(\\s*[\\w\\u4e00-\\u9fa5]+\\s*)+[?？]$";

describe("conditions", () => {
  it("a string matches exactly", () => {
    const match = compileMatch({ MsgType: "text" });
    expect([match.test({ MsgType: "text" }), match.test({ MsgType: "text " }), match.test({ MsgType: "Text" })]).toEqual([true, false, false]);
    expect(match.explain({ MsgType: "text" })).toBeNull();
    expect(match.explain({ MsgType: "image" })).toBe('MsgType: "image" is not "text"');
    expect(match.explain({})).toBe("MsgType: missing");
    expect(match.explain({ MsgType: { a: 1 } })).toBe("MsgType: {…} is not text");
    expect(match.explain({ MsgType: ["text"] })).toBe("MsgType: […] is not text");
    expect(match.explain({ MsgType: null })).toBe("MsgType: null is not text");
  });

  it("in: one of a list", () => {
    const match = compileMatch({ Event: { in: ["sys_approval_change", "open_approval_change"] } });
    expect([match.test({ Event: "sys_approval_change" }), match.test({ Event: "open_approval_change" }), match.test({ Event: "change_contact" })]).toEqual([true, true, false]);
    expect(match.explain({ Event: "change_contact" })).toBe('Event: "change_contact" is not in ["sys_approval_change", "open_approval_change"]');
    expect(match.explain({ Event: "open_approval_change" })).toBeNull();
  });

  it("prefix: the value starts with it", () => {
    const match = compileMatch({ EventKey: { prefix: "MENU_" } });
    expect([match.test({ EventKey: "MENU_A" }), match.test({ EventKey: "MENU_" }), match.test({ EventKey: "menu_A" }), match.test({ EventKey: "A_MENU_" })]).toEqual([true, true, false, false]);
    expect(match.explain({ EventKey: "HELP" })).toBe('EventKey: "HELP" does not start with "MENU_"');
  });

  it("regex: searches anywhere, as RegExp.test does; ^ and $ anchor as written", () => {
    const anywhere = compileMatch({ Content: { regex: "help" } });
    expect([anywhere.test({ Content: "I need help now" }), anywhere.test({ Content: "HELP" })]).toEqual([true, false]);
    const anchored = compileMatch({ Content: { regex: "^help$" } });
    expect([anchored.test({ Content: "help" }), anchored.test({ Content: "help me" }), anchored.test({ Content: "a help" })]).toEqual([true, false, false]);
    expect(anchored.explain({ Content: "hello" })).toBe('Content: "hello" does not match {"regex": "^help$"}');
    expect(compileMatch({ Content: { regex: "(?i)^HELP" } }).test({ Content: "help me" })).toBe(true);
    expect(compileMatch({ Content: { regex: "" } }).test({ Content: "" })).toBe(true);
    expect(compileMatch({ Content: { regex: "^\\p{Han}+$" } }).test({ Content: "你好" })).toBe(true);
  });

  it("exists: present with any value, or missing", () => {
    const present = compileMatch({ UserID: { exists: true } });
    const absent = compileMatch({ UserID: { exists: false } });
    for (const value of ["zhangsan", "", 0, false, null, {}, []]) {
      expect([present.test({ UserID: value }), absent.test({ UserID: value })]).toEqual([true, false]);
    }
    expect([present.test({}), absent.test({})]).toEqual([false, true]);
    expect(present.explain({})).toBe("UserID: missing");
    expect(absent.explain({ UserID: "zhangsan" })).toBe('UserID: "zhangsan" exists');
    expect(absent.explain({ UserID: { id: 1 } })).toBe("UserID: {…} exists");
  });

  it("not: the opposite of its condition, and says why that condition held", () => {
    const notText = compileMatch({ MsgType: { not: "text" } });
    expect([notText.test({ MsgType: "image" }), notText.test({ MsgType: "text" }), notText.test({})]).toEqual([true, false, true]);
    expect(notText.explain({ MsgType: "text" })).toBe('MsgType: "text" is "text"');
    expect(compileMatch({ Event: { not: { in: ["a", "b"] } } }).explain({ Event: "b" })).toBe('Event: "b" is in ["a", "b"]');
    expect(compileMatch({ Event: { not: { prefix: "change" } } }).explain({ Event: "change_contact" })).toBe('Event: "change_contact" starts with "change"');
    expect(compileMatch({ Content: { not: { regex: "^a" } } }).explain({ Content: "abc" })).toBe('Content: "abc" matches {"regex": "^a"}');
    expect(compileMatch({ UserID: { not: { exists: true } } }).explain({ UserID: "u" })).toBe('UserID: "u" exists');
    expect(compileMatch({ UserID: { not: { exists: false } } }).explain({})).toBe("UserID: missing");
    const twice = compileMatch({ MsgType: { not: { not: "text" } } });
    expect([twice.test({ MsgType: "text" }), twice.test({ MsgType: "image" })]).toEqual([true, false]);
    expect(twice.explain({ MsgType: "image" })).toBe('MsgType: "image" is not "text"');
    expect(twice.explain({})).toBe("MsgType: missing");
  });

  it("every condition must hold; explain names the first that failed, in the match's order", () => {
    const match = compileMatch({ MsgType: "event", Event: "click", EventKey: { prefix: "MENU_" } });
    expect(match.test({ MsgType: "event", Event: "click", EventKey: "MENU_A" })).toBe(true);
    expect(match.explain({ MsgType: "event", Event: "view", EventKey: "X" })).toBe('Event: "view" is not "click"');
    expect(match.explain({ MsgType: "text" })).toBe('MsgType: "text" is not "event"');
  });

  it("an empty match holds for everything", () => {
    const match = compileMatch({});
    for (const event of [{}, { MsgType: "text" }, null, "x", []]) expect([match.test(event), match.explain(event)]).toEqual([true, null]);
    expect(match.regexSize).toBe(0);
  });
});

describe("any", () => {
  const match = compileMatch({ any: [{ MsgType: "text" }, { MsgType: "event", Event: { in: ["enter_agent", "click"] } }] });

  it("holds when one of its matches holds", () => {
    expect(match.test({ MsgType: "text" })).toBe(true);
    expect(match.test({ MsgType: "event", Event: "click" })).toBe(true);
    expect(match.test({ MsgType: "event", Event: "view" })).toBe(false);
    expect(match.explain({ MsgType: "event", Event: "click" })).toBeNull();
  });

  it("says that none held, with each alternative's first failure", () => {
    expect(match.explain({ MsgType: "event", Event: "view" })).toBe(
      'any: none of the alternatives held: [0] MsgType: "event" is not "text"; [1] Event: "view" is not in ["enter_agent", "click"]',
    );
    expect(match.explain({})).toBe("any: none of the alternatives held: [0] MsgType: missing; [1] MsgType: missing");
  });

  it("shows five alternatives at most, each cut to 100 characters", () => {
    const many = compileMatch({ any: Array.from({ length: 7 }, (_, i) => ({ [`k${i}`]: "v" })) });
    expect(many.explain({})).toBe("any: none of the alternatives held: [0] k0: missing; [1] k1: missing; [2] k2: missing; [3] k3: missing; [4] k4: missing; …");
    const long = compileMatch({ any: [{ Content: "x".repeat(200) }] });
    expect(long.explain({ Content: "y".repeat(200) })).toBe(`any: none of the alternatives held: [0] Content: "${"y".repeat(64)}…" is not "${"x".repeat(15)}…`);
  });

  it("beside other keys is ANDed with them, in the match's order", () => {
    const both = compileMatch({ AgentID: "1000002", any: [{ MsgType: "text" }, { MsgType: "image" }] });
    expect(both.test({ AgentID: "1000002", MsgType: "image" })).toBe(true);
    expect(both.test({ AgentID: "1000003", MsgType: "image" })).toBe(false);
    expect(both.explain({ AgentID: "1000003", MsgType: "image" })).toBe('AgentID: "1000003" is not "1000002"');
    expect(both.explain({ AgentID: "1000002", MsgType: "voice" })).toBe(
      'any: none of the alternatives held: [0] MsgType: "voice" is not "text"; [1] MsgType: "voice" is not "image"',
    );
  });

  it("nests, and is reserved only at the top of a match: a deeper field named any is an ordinary path", () => {
    const nested = compileMatch({ any: [{ any: [{ a: "1" }, { b: "2" }] }, { c: "3" }] });
    expect([nested.test({ b: "2" }), nested.test({ c: "3" }), nested.test({ a: "2" })]).toEqual([true, true, false]);
    expect(nested.explain({})).toBe("any: none of the alternatives held: [0] any: none of the alternatives held: [0] a: missing; [1] b: missing; [1] c: missing");
    expect(compileMatch({ "x.any": "y" }).test({ x: { any: "y" } })).toBe(true);
    expect(error({ any: "y" })).toBe("any: must be a non-empty array of matches");
  });
});

describe("values and paths", () => {
  it("compares a JSON callback's numbers and booleans as their text", () => {
    expect(compileMatch({ AgentID: "1000002" }).test({ AgentID: 1000002 })).toBe(true);
    expect(compileMatch({ AgentID: "1000002" }).explain({ AgentID: 1000003 })).toBe('AgentID: 1000003 is not "1000002"');
    expect(compileMatch({ finish: "true" }).test({ finish: true })).toBe(true);
    expect(compileMatch({ finish: "false" }).test({ finish: false })).toBe(true);
    expect(compileMatch({ n: { in: ["1", "2"] } }).test({ n: 2 })).toBe(true);
    expect(compileMatch({ n: { prefix: "10" } }).test({ n: 1000002 })).toBe(true);
    expect(compileMatch({ n: { regex: "^10+2$" } }).test({ n: 1000002 })).toBe(true);
    expect(compileMatch({ n: "0.5" }).test({ n: 0.5 })).toBe(true);
  });

  it("follows dotted paths through objects only: a missing step, a string, an array or null on the way is missing", () => {
    const match = compileMatch({ "event.template_card_event.event_key": "done" });
    expect(match.test({ event: { template_card_event: { event_key: "done" } } })).toBe(true);
    for (const event of [{}, { event: "x" }, { event: ["done"] }, { event: null }, { event: { template_card_event: 5 } }, null, "event", 42]) {
      expect([match.test(event), match.explain(event)]).toEqual([false, "event.template_card_event.event_key: missing"]);
    }
    expect(compileMatch({ "items.0": "a" }).test({ items: ["a"] })).toBe(false);
  });

  it("never finds a value through the prototype: __proto__, constructor, toString are the event's own or missing", () => {
    for (const key of ["__proto__", "constructor", "toString", "hasOwnProperty", "constructor.name", "__proto__.constructor"]) {
      expect(compileMatch({ [key]: { exists: true } }).test({}), key).toBe(false);
      expect(compileMatch({ [key]: { exists: false } }).test({}), key).toBe(true);
      expect(compileMatch({ [key]: { regex: "" } }).test({ a: 1 }), key).toBe(false);
    }
    expect(compileMatch({ "constructor.name": "Object" }).test({})).toBe(false);
    // A callback parsed from JSON may carry such keys as its own: they match like any other.
    const event = JSON.parse('{"__proto__": {"x": "1"}, "constructor": "c"}') as unknown;
    expect(compileMatch(JSON.parse('{"__proto__.x": "1", "constructor": "c"}')).test(event)).toBe(true);
    expect(compileMatch({ v: { in: ["a"] } }).test({ v: "constructor" })).toBe(false);
    expect(compileMatch({ v: { in: ["a"] } }).test({ v: "__proto__" })).toBe(false);
  });

  it("cuts long values and lists in explain's words", () => {
    const long = "汉".repeat(70);
    expect(compileMatch({ Content: "x" }).explain({ Content: long })).toBe(`Content: "${"汉".repeat(64)}…" is not "x"`);
    const list = Array.from({ length: 12 }, (_, i) => `value_${i}`);
    expect(compileMatch({ v: { in: list } }).explain({ v: "z" })).toBe(
      'v: "z" is not in ["value_0", "value_1", "value_2", "value_3", "value_4", "value_5", "value_6", "value_7", "value_8", "value_9", …]',
    );
    expect(compileMatch({ v: { in: ["x".repeat(150), "y".repeat(150), "b"] } }).explain({ v: "z" })).toBe(`v: "z" is not in ["${"x".repeat(64)}…", "${"y".repeat(64)}…", …]`);
    expect(compileMatch({ v: "\n\"" }).explain({ v: "\u0001" })).toBe('v: "\\u0001" is not "\\n\\""');
  });
});

describe("compared: the exact texts each path is compared with (the route tester's hints)", () => {
  it("lists strings and in, under not and any too; not regex, prefix or exists", () => {
    const match = compileMatch({
      MsgType: "event",
      Event: { not: { in: ["click", "view"] } },
      Content: { regex: "^a" },
      EventKey: { prefix: "k" },
      AgentID: { exists: true },
      any: [{ ChangeType: "create_user" }, { "event.eventtype": { not: "enter_chat" } }],
    });
    expect(match.compared).toEqual([
      { path: "MsgType", values: ["event"] },
      { path: "Event", values: ["click", "view"] },
      { path: "ChangeType", values: ["create_user"] },
      { path: "event.eventtype", values: ["enter_chat"] },
    ]);
  });
});

describe("regex syntax: RE2, with JavaScript's escapes translated", () => {
  it("runs the issue's rule as written: \\u4e00-\\u9fa5 inside a class", () => {
    const match = compileMatch({ Content: { regex: HOSTILE } });
    expect(match.test({ Content: "你好吗？" })).toBe(true);
    expect(match.test({ Content: "你好吗" })).toBe(false);
    expect(match.test({ Content: " hello 世界 ?" })).toBe(true);
    expect(match.regexSize).toBe(14);
  });

  it("translates \\uXXXX, a surrogate pair and \\u{…}, outside and inside classes", () => {
    const cases: [string, string, boolean][] = [
      ["^\\u0041$", "A", true],
      ["^\\u00e9$", "é", true],
      ["^[\\u0041-\\u0043]+$", "ABC", true],
      ["^[\\u0041-\\u0043]+$", "ABD", false],
      ["^\\u{1F600}$", "😀", true],
      ["^[\\u{1F600}-\\u{1F64F}]$", "🙏", true],
      ["^[\\u{1F600}-\\u{1F64F}]$", "🚀", false],
      ["^\\uD83D\\uDE00$", "😀", true],
      ["^\\u{41}\\u{0042}$", "AB", true],
      ["^[^\\u4e00-\\u9fa5]$", "a", true],
      ["^[^\\u4e00-\\u9fa5]$", "中", false],
    ];
    for (const [regex, text, expected] of cases) expect(compileMatch({ v: { regex } }).test({ v: text }), `${regex} on ${text}`).toBe(expected);
  });

  it("translates \\p{Script=…} and \\p{sc=…} to RE2's \\p{…}, \\P too, inside classes too", () => {
    const cases: [string, string, boolean][] = [
      ["^\\p{Script=Han}+$", "你好", true],
      ["^\\p{sc=Han}+$", "你好a", false],
      ["^\\P{sc=Han}+$", "ab", true],
      ["^[\\p{Script=Han}a]+$", "你a", true],
      ["^\\\\p{sc=Han}$", "\\p{sc=Han}", true],
    ];
    for (const [regex, text, expected] of cases) expect(compileMatch({ v: { regex } }).test({ v: text }), `${regex} on ${text}`).toBe(expected);
    expect(error({ v: { regex: "\\p{Script_Extensions=Han}" } })).toBe('v.regex: is not a valid regular expression: invalid character class range in "\\\\p{Script_Extensions=Han}"');
  });

  it("leaves an escaped backslash alone: \\\\u0041 is a backslash, then u0041", () => {
    const match = compileMatch({ v: { regex: "^\\\\u0041$" } });
    expect([match.test({ v: "\\u0041" }), match.test({ v: "A" })]).toEqual([true, false]);
    expect(compileMatch({ v: { regex: "^[\\\\u]+$" } }).test({ v: "\\uu" })).toBe(true);
    expect(compileMatch({ v: { regex: "^\\\\\\u0041$" } }).test({ v: "\\A" })).toBe(true);
  });

  it("gives \\s and \\S JavaScript's meaning: the ideographic space U+3000 and no-break space are spaces", () => {
    expect(compileMatch({ v: { regex: "^a\\sb$" } }).test({ v: "a\u3000b" })).toBe(true);
    expect(compileMatch({ v: { regex: "^a\\sb$" } }).test({ v: "a\u00a0b" })).toBe(true);
    expect(compileMatch({ v: { regex: "^a\\sb$" } }).test({ v: "a\u000bb" })).toBe(true);
    expect(compileMatch({ v: { regex: "^a[\\s,]b$" } }).test({ v: "a\u3000b" })).toBe(true);
    expect(compileMatch({ v: { regex: "^a[^\\s]b$" } }).test({ v: "a\u3000b" })).toBe(false);
    expect(compileMatch({ v: { regex: "^\\S+$" } }).test({ v: "你好\u3000吗" })).toBe(false);
    expect(compileMatch({ v: { regex: "^\\S+$" } }).test({ v: "你好吗" })).toBe(true);
    expect(compileMatch({ v: { regex: "^[\\s\\S]+$" } }).test({ v: "a\n\u3000b" })).toBe(true);
    expect(compileMatch({ v: { regex: "^\\\\s$" } }).test({ v: "\\s" })).toBe(true);
  });

  it("keeps RE2's own syntax: named groups, classes, [[:alpha:]], inline flags; lookaround text inside a class is literal", () => {
    expect(compileMatch({ v: { regex: "^(?<word>\\w+)$" } }).test({ v: "abc" })).toBe(true);
    expect(compileMatch({ v: { regex: "^(?P<word>\\w+)$" } }).test({ v: "abc" })).toBe(true);
    expect(compileMatch({ v: { regex: "^[[:alpha:]]+$" } }).test({ v: "abc" })).toBe(true);
    expect(compileMatch({ v: { regex: "^[(?=]+$" } }).test({ v: "(?=" })).toBe(true);
    expect(compileMatch({ v: { regex: "^[]a]+$" } }).test({ v: "]a" })).toBe(true);
    expect(compileMatch({ v: { regex: "^\\\\1$" } }).test({ v: "\\1" })).toBe(true);
    expect(compileMatch({ v: { regex: "(?s)^a.b$" } }).test({ v: "a\nb" })).toBe(true);
    expect(compileMatch({ v: { regex: "^a.b$" } }).test({ v: "a\nb" })).toBe(false);
  });

  it("refuses what the linear-time engine cannot run, by name", () => {
    expect(error({ Content: { regex: "^(?=a)" } })).toBe("Content.regex: uses a lookahead, which the linear-time engine cannot run");
    expect(error({ Content: { regex: "a(?!b)" } })).toBe("Content.regex: uses a lookahead, which the linear-time engine cannot run");
    expect(error({ Content: { regex: "(?<=a)b" } })).toBe("Content.regex: uses a lookbehind, which the linear-time engine cannot run");
    expect(error({ Content: { regex: "(?<!a)b" } })).toBe("Content.regex: uses a lookbehind, which the linear-time engine cannot run");
    expect(error({ Content: { regex: "(a)\\1" } })).toBe("Content.regex: uses a backreference, which the linear-time engine cannot run");
    expect(error({ Content: { regex: "(?<n>a)\\k<n>" } })).toBe("Content.regex: uses a backreference, which the linear-time engine cannot run");
  });

  it("reports any other invalid pattern with re2js's reason", () => {
    expect(error({ Content: { regex: "(" } })).toBe('Content.regex: is not a valid regular expression: missing closing ) in "("');
    expect(error({ Content: { regex: "[" } })).toBe('Content.regex: is not a valid regular expression: missing closing ] in "["');
    expect(error({ Content: { regex: "a**" } })).toBe('Content.regex: is not a valid regular expression: invalid nested repetition operator in "**"');
    expect(error({ Content: { regex: "\\u12" } })).toBe('Content.regex: is not a valid regular expression: invalid escape sequence in "\\\\u"');
    expect(error({ Content: { regex: "\\u{110000}" } })).toBe('Content.regex: is not a valid regular expression: invalid escape sequence in "\\\\u"');
    expect(error({ Content: { regex: "[^]" } })).toBe('Content.regex: is not a valid regular expression: missing closing ] in "[^]"');
    expect(error({ Content: { regex: "a{1001}" } })).toBe('Content.regex: is not a valid regular expression: invalid repeat count in "{1001}"');
    expect(error({ Content: { regex: `(${"x".repeat(60)}` } })).toBe(`Content.regex: is not a valid regular expression: missing closing ) in "(${"x".repeat(39)}…"`);
  });
});

describe("errors name their path, relative to the match", () => {
  it.each([
    [null, ": must be an object of event paths to conditions"],
    [["MsgType"], ": must be an object of event paths to conditions"],
    ["text", ": must be an object of event paths to conditions"],
    [{ "a..b": "x" }, "a..b: is not a dotted path into the event"],
    [{ ".a": "x" }, ".a: is not a dotted path into the event"],
    [{ "": "x" }, ": is not a dotted path into the event"],
    [{ Event: 5 }, "Event: must be a string, or an object with one of regex, in, prefix, exists, not"],
    [{ Event: null }, "Event: must be a string, or an object with one of regex, in, prefix, exists, not"],
    [{ Event: ["a"] }, "Event: must be a string, or an object with one of regex, in, prefix, exists, not"],
    [{ Event: {} }, "Event: must have exactly one of regex, in, prefix, exists, not"],
    [{ Event: { in: ["a"], prefix: "b" } }, "Event: must have exactly one of regex, in, prefix, exists, not"],
    [{ Event: { equals: "a" } }, "Event.equals: is not a condition (regex, in, prefix, exists, not)"],
    [{ Event: { in: ["a"], extra: 1 } }, "Event.extra: is not a condition (regex, in, prefix, exists, not)"],
    [{ Event: { in: [] } }, "Event.in: must be a non-empty array of strings"],
    [{ Event: { in: "a" } }, "Event.in: must be a non-empty array of strings"],
    [{ Event: { in: ["a", 1] } }, "Event.in: must be a non-empty array of strings"],
    [{ Content: { regex: 1 } }, "Content.regex: must be a string"],
    [{ Content: { prefix: null } }, "Content.prefix: must be a string"],
    [{ UserID: { exists: "yes" } }, "UserID.exists: must be true or false"],
    [{ Event: { not: { prefix: 1 } } }, "Event.not.prefix: must be a string"],
    [{ Event: { not: 5 } }, "Event.not: must be a string, or an object with one of regex, in, prefix, exists, not"],
    [{ Event: { not: { not: { in: [] } } } }, "Event.not.not.in: must be a non-empty array of strings"],
    [{ any: [] }, "any: must be a non-empty array of matches"],
    [{ any: { MsgType: "text" } }, "any: must be a non-empty array of matches"],
    [{ any: [{ MsgType: "text" }, "text"] }, "any[1]: must be an object of event paths to conditions"],
    [{ any: [{ MsgType: "text" }, { MsgType: 1 }] }, "any[1].MsgType: must be a string, or an object with one of regex, in, prefix, exists, not"],
    [{ any: [{ any: [{ Content: { regex: "(?=x)" } }] }] }, "any[0].any[0].Content.regex: uses a lookahead, which the linear-time engine cannot run"],
    [{ ["k".repeat(80)]: 1 }, `${"k".repeat(64)}: must be a string, or an object with one of regex, in, prefix, exists, not`],
  ])("%j", (match, expected) => {
    expect(error(match)).toBe(expected);
  });
});

describe("limits", () => {
  it("are documented values", () => {
    expect(MATCH_LIMITS).toEqual({ textLength: 4096, patternLength: 1000, regexSize: 256, depth: 8 });
  });

  it("a regex reads the first 4096 characters of a value; exact, in and prefix compare all of it", () => {
    const b = compileMatch({ v: { regex: "b" } });
    expect(b.test({ v: `${"a".repeat(4095)}b` })).toBe(true);
    expect(b.test({ v: `${"a".repeat(4096)}b` })).toBe(false);
    // $ anchors at the end of what the regex reads: the "!" past it is not seen.
    expect(compileMatch({ v: { regex: "^a+$" } }).test({ v: `${"a".repeat(4096)}!` })).toBe(true);
    expect(compileMatch({ v: { regex: "^a+$" } }).test({ v: `${"a".repeat(4095)}!` })).toBe(false);
    const long = "a".repeat(5000);
    expect(compileMatch({ v: long }).test({ v: long })).toBe(true);
    expect(compileMatch({ v: long.slice(0, 4096) }).test({ v: long })).toBe(false);
    expect(compileMatch({ v: { prefix: long } }).test({ v: `${long}!` })).toBe(true);
  });

  it("a pattern has at most 1000 characters", () => {
    expect(compileMatch({ v: { regex: "[ab]".repeat(250) } }).test({ v: "ab".repeat(125) })).toBe(true);
    expect(error({ v: { regex: "a".repeat(1001) } })).toBe("v.regex: is longer than 1000 characters");
  });

  it("the regexes of one match compile to 256 RE2 instructions at most, all conditions and alternatives together", () => {
    expect(compileMatch({ v: { regex: "x{254}" } }).regexSize).toBe(256);
    expect(error({ v: { regex: "x{255}" } })).toBe("v.regex: is too large: it brings the match's regexes to 257 RE2 instructions, over the 256 allowed");
    expect(compileMatch({ a: { regex: "x{148}" }, b: { not: { regex: "y{104}" } } }).regexSize).toBe(256);
    expect(error({ a: { regex: "x{148}" }, any: [{ b: { regex: "y" } }, { c: { not: { regex: "y{104}" } } }] })).toBe(
      "any[1].c.not.regex: is too large: it brings the match's regexes to 259 RE2 instructions, over the 256 allowed",
    );
  });

  it("any and not nest 8 levels deep at most", () => {
    let condition: unknown = "x";
    for (let i = 0; i < 8; i++) condition = { not: condition };
    expect(compileMatch({ v: condition }).test({ v: "x" })).toBe(true);
    expect(error({ v: { not: condition } })).toBe(`v${".not".repeat(9)}: is nested too deeply: at most 8 levels of any and not`);
    let match: unknown = { v: "x" };
    for (let i = 0; i < 8; i++) match = { any: [match] };
    expect(compileMatch(match).test({ v: "x" })).toBe(true);
    expect(error({ any: [match] })).toBe(`${"any[0].".repeat(8)}any: is nested too deeply: at most 8 levels of any and not`);
  });
});

describe("the issue's hostile rule on hostile messages (time is measured in test/match/hostile.test.mjs)", () => {
  const match = compileMatch({ MsgType: "text", Content: { regex: HOSTILE } });
  it.each([
    ["2000 × a, then !", `${"a".repeat(2000)}!`, false],
    ["2000 × a, then ？", `${"a".repeat(2000)}？`, true],
    ["4095 × a, then ？", `${"a".repeat(4095)}？`, true],
    ["4096 × a, then ？: the ？ is past what the regex reads", `${"a".repeat(4096)}？`, false],
    ["100,000 × (a and a space), then !", `${"a ".repeat(50_000)}!`, false],
    ["1000 × 你好 , then ？!", `${"你好 ".repeat(1000)}？!`, false],
    ["1365 × 你好 , then ？!: the ! is past what the regex reads", `${"你好 ".repeat(1365)}？!`, true],
    ["30 × 你, then !", `${"你".repeat(30)}!`, false],
  ])("%s", (_, content, expected) => {
    expect(match.test({ MsgType: "text", Content: content })).toBe(expected);
  });
});

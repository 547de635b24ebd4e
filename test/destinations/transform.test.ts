/**
 * A destination's transform (docs/configuration.md, "Destinations"), run in
 * workerd: the body it makes, what it refuses, the bounds that stop it
 * (steps, sizes) and its errors, which never quote the event.
 */
import { describe, expect, it } from "vitest";
import { applyTransform, TRANSFORM_LIMITS, transformProblem } from "../../src/destinations/transform.js";

const EVENT = JSON.stringify({
  id: "evt_1",
  app: "hr",
  receivedAt: 1700000000000,
  event: { ToUserName: "ww1", FromUserName: "sys", MsgType: "event", Event: "change_contact", ChangeType: "update_user", UserID: "zhangsan", Name: "张三" },
});

describe("applyTransform", () => {
  it("reshapes the event into the exact body", async () => {
    const source = '{"user": event.UserID, "change": event.ChangeType, "name": event.Name, "at": receivedAt, "source": "wecom/" & app}';
    expect(await applyTransform(source, EVENT)).toEqual({
      ok: true,
      body: '{"user":"zhangsan","change":"update_user","name":"张三","at":1700000000000,"source":"wecom/hr"}',
    });
  });

  it("leaves out fields whose path is missing", async () => {
    expect(await applyTransform('{"user": event.UserID, "missing": event.Nope}', EVENT)).toEqual({ ok: true, body: '{"user":"zhangsan"}' });
  });

  it.each<[string, string]>([
    ["null", "transform returned null, not an object"],
    ["[1, 2]", "transform returned an array, not an object"],
    ["event.UserID", "transform returned a string, not an object"],
    ["receivedAt + 1", "transform returned a number, not an object"],
    ["true", "transform returned a boolean, not an object"],
    ["event.Nope", "transform returned nothing, not an object"],
    ["function($x) { $x }", "transform returned a function, not an object"],
    ['{"f": function($x) { $x }}', "transform returned an object holding a function, which is not JSON"],
  ])("refuses %s as a result", async (source, error) => {
    expect(await applyTransform(source, EVENT)).toEqual({ ok: false, error });
  });

  it("stops an infinite recursion after the steps allowed", async () => {
    expect(TRANSFORM_LIMITS).toEqual({ steps: 10_000, resultBytes: 1_000_000, sourceChars: 4096, items: 10_000 });
    expect(await applyTransform("($f := function($x){$f($x)}; $f(1))", EVENT)).toEqual({ ok: false, error: "transform took more than 10000 steps" });
    expect(await applyTransform('{"n": $count($map([1..5000], function($x) { $x * 2 }))}', EVENT)).toEqual({
      ok: false,
      error: "transform took more than 10000 steps",
    });
  });

  it("runs to just under the steps allowed", async () => {
    expect(await applyTransform('{"n": $count($map([1..1000], function($x) { $x * 2 }))}', EVENT)).toEqual({ ok: true, body: '{"n":1000}' });
  });

  it("refuses a huge range before allocating it, and large arrays and strings", async () => {
    const items = { ok: false, error: "transform made a sequence of more than 10000 items" };
    expect(await applyTransform('{"n": [1..10000000]}', EVENT)).toEqual(items);
    expect(await applyTransform('{"n": $count([1..100000000])}', EVENT)).toEqual(items);
    expect(await applyTransform('{"n": [1..6000, 1..6000]}', EVENT)).toEqual(items);
    expect(await applyTransform('{"n": [1..10000]}', EVENT)).toEqual({ ok: true, body: JSON.stringify({ n: Array.from({ length: 10_000 }, (_, i) => i + 1) }) });
    const doubling = '($d := function($s, $n) { $n = 0 ? $s : $d($s & $s, $n - 1) }; {"s": $d("x", 21)})';
    expect(await applyTransform(doubling, EVENT)).toEqual({ ok: false, error: "transform made a string longer than 1000000 characters" });
  });

  it("refuses a result larger than 1000000 bytes", async () => {
    // 19 strings of 2^16 "汉" each: 65,536 characters, 196,608 bytes; the serialized object is far over 1,000,000 bytes.
    const source = '($d := function($s, $n) { $n = 0 ? $s : $d($s & $s, $n - 1) }; $s := $d("汉", 16); $merge([1..19].({"k" & $string($): $s})))';
    expect(await applyTransform(source, EVENT)).toEqual({ ok: false, error: "transform result is larger than 1000000 bytes" });
    const under = '($d := function($s, $n) { $n = 0 ? $s : $d($s & $s, $n - 1) }; {"s": $d("x", 19)})';
    const result = await applyTransform(under, EVENT);
    expect(result).toEqual({ ok: true, body: `{"s":"${"x".repeat(524_288)}"}` });
  });

  it("reports a failure by JSONata's code and position, never quoting the event", async () => {
    const secret = JSON.stringify({ id: "evt_2", event: { Content: "the secret message" } });
    expect(await applyTransform('{"n": event.Content + 1}', secret)).toEqual({ ok: false, error: "transform failed: T2001 at position 21" });
    expect(await applyTransform('{"n": $number(event.Content)}', secret)).toEqual({ ok: false, error: "transform failed: D3030 at position 14" });
    expect(await applyTransform('{"n": $error(event.Content)}', secret)).toEqual({ ok: false, error: "transform failed: D3137 at position 13" });
  });

  it("stops a regular expression that reaches evaluation through $eval", async () => {
    expect(await applyTransform('{"m": $eval("$match(\\"aaa\\", /a+/)")}', EVENT)).toEqual({
      ok: false,
      error: "transform uses a regular expression, which transforms do not run",
    });
  });

  it("answers the same again from its compiled cache, with fresh step counts", async () => {
    const source = '{"n": $count($map([1..1000], function($x) { $x }))}';
    const first = await applyTransform(source, EVENT);
    expect(await applyTransform(source, EVENT)).toEqual(first);
    expect(first).toEqual({ ok: true, body: '{"n":1000}' });
    // Evaluations at once count their steps apart.
    const all = await Promise.all(Array.from({ length: 5 }, () => applyTransform(source, EVENT)));
    expect(all).toEqual(Array.from({ length: 5 }, () => first));
  });
});

describe("transformProblem", () => {
  it("accepts an expression that compiles", () => {
    expect(transformProblem('{"user": event.UserID}')).toBeNull();
    expect(transformProblem(`{"a": "${"x".repeat(4087)}"}`)).toBeNull();
  });

  it.each<[string, string, string]>([
    ["an unclosed object", '{"user": event.UserID', "is not a valid JSONata expression: S0203 at position 21"],
    ["an unclosed parenthesis", "event.(", "is not a valid JSONata expression: S0203 at position 7"],
    ["an empty expression", "", "must be a JSONata expression of 1 to 4096 characters"],
    ["4097 characters", "x".repeat(4097), "must be a JSONata expression of 1 to 4096 characters"],
    ["a regex literal", '{"m": $match(event.Content, /(a+)+$/)}', "uses a regular expression at position 36, which transforms do not run (JSONata would run it on a backtracking engine)"],
  ])("refuses %s", (_name, source, problem) => {
    expect(transformProblem(source)).toBe(problem);
  });
});

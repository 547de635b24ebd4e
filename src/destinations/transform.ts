/**
 * A destination's `transform` (docs/configuration.md, "Destinations"): a
 * JSONata expression evaluated on the event JSON; its result, a JSON object,
 * is the body that destination receives. Pure: no bindings, no clock.
 *
 * One evaluation is bounded by what it does, not by time, since workerd's
 * clock stands still while code runs (JSONata's own `timeout` never fires
 * there): JSONata's steps are counted through its entry hook, no sequence or
 * array grows past TRANSFORM_LIMITS.items, no string past resultBytes
 * characters, and the result is refused past resultBytes. Regular
 * expressions are refused: JSONata runs them on V8's backtracking engine,
 * where one pattern and one message from any WeCom user can take seconds
 * (docs/matching.md). Errors give JSONata's code and position, never its
 * message, which can quote the event.
 */
import jsonata from "jsonata";

export const TRANSFORM_LIMITS = {
  /** JSONata evaluation steps (one per expression node evaluated, function bodies included). */
  steps: 10_000,
  /** UTF-8 bytes of the serialized result; also the longest string an evaluation may make, in characters. */
  resultBytes: 1_000_000,
  /** Characters of the expression as written. */
  sourceChars: 4096,
  /** Items of one sequence or array (JSONata's `sequence` option; a range is refused before it is allocated). */
  items: 10_000,
} as const;

/**
 * Why `source` cannot be a transform, or null when it compiles. The answer
 * names JSONata's error code and position only.
 */
export function transformProblem(source: string): string | null {
  if (source.length < 1 || source.length > TRANSFORM_LIMITS.sourceChars) {
    return `must be a JSONata expression of 1 to ${TRANSFORM_LIMITS.sourceChars} characters`;
  }
  let expression: jsonata.Expression;
  try {
    expression = jsonata(source, OPTIONS);
  } catch (error) {
    return `is not a valid JSONata expression: ${codeOf(error)}`;
  }
  const regex = findRegex(expression.ast());
  if (regex !== null) {
    return `uses a regular expression${regex === undefined ? "" : ` at position ${regex}`}, which transforms do not run (JSONata would run it on a backtracking engine)`;
  }
  return null;
}

export type TransformOutcome = { ok: true; body: string } | { ok: false; error: string };

/**
 * The body `source` makes of `eventJson` (an event's stored JSON), or why it
 * makes none. Never throws for anything the expression or the event does.
 */
export async function applyTransform(source: string, eventJson: string): Promise<TransformOutcome> {
  let input: unknown;
  try {
    input = JSON.parse(eventJson);
  } catch {
    return { ok: false, error: "transform failed: the event is not JSON" };
  }
  let result: unknown;
  try {
    result = await compiled(source).evaluate(input);
  } catch (error) {
    const stop = stopIn(error);
    return { ok: false, error: stop !== null ? stop.message : `transform failed: ${codeOf(error)}` };
  }
  const kind = kindOf(result);
  if (kind !== "object") return { ok: false, error: `transform returned ${kind}, not an object` };
  let body: string;
  try {
    body = JSON.stringify(result, (_key, value: unknown) => {
      if (typeof value === "function" || isJsonataFunction(value)) throw new Stop("transform returned an object holding a function, which is not JSON");
      return value;
    });
  } catch (error) {
    if (error instanceof Stop) return { ok: false, error: error.message };
    return { ok: false, error: `transform returned an object that is not JSON (${error instanceof Error ? error.name : "error"})` };
  }
  if (body.length > TRANSFORM_LIMITS.resultBytes || utf8.encode(body).length > TRANSFORM_LIMITS.resultBytes) {
    return { ok: false, error: `transform result is larger than ${TRANSFORM_LIMITS.resultBytes} bytes` };
  }
  return { ok: true, body };
}

const utf8 = new TextEncoder();

/** Why an evaluation was stopped by a bound; its message is the whole error. */
class Stop extends Error {}

const TOO_MANY_STEPS = `transform took more than ${TRANSFORM_LIMITS.steps} steps`;
const TOO_MANY_ITEMS = `transform made a sequence of more than ${TRANSFORM_LIMITS.items} items`;
const TOO_LONG = `transform made a string longer than ${TRANSFORM_LIMITS.resultBytes} characters`;
const REGEX = "transform uses a regular expression, which transforms do not run";

/** Evaluations in progress, by JSONata's per-evaluation environment: steps taken, or the bound that stopped it. */
const evaluations = new WeakMap<object, number | Stop>();

interface Frame {
  readonly base: object;
}

function onEntry(_node: unknown, _input: unknown, environment: Frame): void {
  const taken = evaluations.get(environment.base) ?? 0;
  // Stopped stays stopped: the other branches of a parallel array constructor end at their next step.
  if (taken instanceof Stop) throw taken;
  if (taken >= TRANSFORM_LIMITS.steps) {
    const stop = new Stop(TOO_MANY_STEPS);
    evaluations.set(environment.base, stop);
    throw stop;
  }
  evaluations.set(environment.base, taken + 1);
}

function onExit(_node: unknown, _input: unknown, environment: Frame, result: unknown): void {
  let stop: Stop | undefined;
  if (typeof result === "string" && result.length > TRANSFORM_LIMITS.resultBytes) stop = new Stop(TOO_LONG);
  else if (Array.isArray(result) && result.length > TRANSFORM_LIMITS.items) stop = new Stop(TOO_MANY_ITEMS);
  if (stop) {
    evaluations.set(environment.base, stop);
    throw stop;
  }
}

/** Stands in for RegExp: a regex that reaches evaluation (through `$eval`) stops it. */
class NoRegex {
  constructor() {
    throw new Stop(REGEX);
  }
}

const OPTIONS: jsonata.JsonataOptions = {
  sequence: TRANSFORM_LIMITS.items,
  RegexEngine: NoRegex as unknown as RegExpConstructor,
};

/** Compiled expressions by source: a configuration holds at most a few dozen. */
const cache = new Map<string, jsonata.Expression>();
const CACHE_SIZE = 64;

function compiled(source: string): jsonata.Expression {
  let expression = cache.get(source);
  if (!expression) {
    expression = jsonata(source, OPTIONS);
    // Looked up by JSONata on every evaluate() through the environment chain (jsonata.js, evaluate()).
    expression.assign(Symbol.for("jsonata.__evaluate_entry") as unknown as string, onEntry);
    expression.assign(Symbol.for("jsonata.__evaluate_exit") as unknown as string, onExit);
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
    cache.set(source, expression);
  }
  return expression;
}

/** The bound that stopped an evaluation, also from inside `$eval` (which wraps errors as D3121). */
function stopIn(error: unknown): Stop | null {
  for (let depth = 0; depth < 16 && typeof error === "object" && error !== null; depth++) {
    if (error instanceof Stop) return error;
    const code = (error as { code?: unknown }).code;
    // JSONata's own bounds: a range or sequence past `sequence` items.
    if (code === "D2014" || code === "D2015") return new Stop(TOO_MANY_ITEMS);
    error = (error as { error?: unknown }).error;
  }
  return null;
}

/** JSONata's code and position: its messages can quote the expression's input. */
function codeOf(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    const { code, position } = error as { code?: unknown; position?: unknown };
    if (typeof code === "string" && /^[A-Z]\d{4}$/.test(code)) {
      return typeof position === "number" ? `${code} at position ${position}` : code;
    }
    if (error instanceof Error) return error.name;
  }
  return "error";
}

function kindOf(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "function" || isJsonataFunction(value)) return "a function";
  if (typeof value === "object") return "object";
  return `a ${typeof value}`;
}

function isJsonataFunction(value: unknown): boolean {
  return typeof value === "object" && value !== null && ("_jsonata_lambda" in value || "_jsonata_function" in value);
}

/** The position of the first regex literal in a compiled expression (undefined when JSONata gives none), or null. */
function findRegex(ast: unknown): number | undefined | null {
  const seen = new Set<object>();
  const stack: unknown[] = [ast];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== "object" || node === null || seen.has(node)) continue;
    seen.add(node);
    if (node instanceof RegExp) return undefined;
    const { type, position } = node as { type?: unknown; position?: unknown };
    if (type === "regex") return typeof position === "number" ? position : undefined;
    stack.push(...Object.values(node));
  }
  return null;
}

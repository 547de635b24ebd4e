/**
 * What WeCom's catalogue (./catalogue.json, docs/events.md) knows, for the
 * route tester's hints (docs/routing.md, "Testing routes"): the values of the
 * fields WeCom discriminates callbacks by, and the fields callbacks carry. A
 * hint is given only where a known name is close to what was written (a typo
 * or a wrong case): an event outside the catalogue still arrives, so a name
 * the catalogue lacks is not wrong by itself.
 */
import { heads, kinds, known } from "./catalogue.json";
import type { Compared } from "../match/index.js";

type Kind = { readonly fields?: object } & Record<string, unknown>;

const values = (list: readonly Kind[], field: string): string[] => list.flatMap((kind) => [kind[field] ?? []].flat() as string[]);

interface Known {
  /** The values WeCom sends in each discriminating field, by the match path that reads it. */
  readonly discriminators: ReadonlyMap<string, ReadonlySet<string>>;
  /** Every field a callback of the catalogue carries at its top. */
  readonly fields: ReadonlySet<string>;
}

let made: Known | undefined;

/** Built on the first route test, not when the Worker starts: only that admin route asks. */
function catalogue(): Known {
  if (made) return made;
  const discriminators = new Map([
    ["MsgType", new Set([...values(kinds.messages, "MsgType"), "event"])],
    ["Event", new Set([...values(kinds.events, "Event"), ...known.Event])],
    ["ChangeType", new Set(values(kinds.events, "ChangeType"))],
    ["InfoType", new Set([...values(kinds.suites, "InfoType"), ...known.InfoType])],
    ["msgtype", new Set(values(kinds.bots, "msgtype"))],
    ["event.eventtype", new Set(values(kinds.bots, "eventtype"))],
  ]);
  const fields = new Set(
    [
      ...Object.values(heads).flatMap((fields) => Object.keys(fields)),
      ...Object.values(kinds).flatMap((list: readonly Kind[]) => list.flatMap((kind) => [...Object.keys(kind.fields ?? {}), ...[...discriminators.keys()].filter((key) => key in kind)])),
      "MsgType",
      "Event",
      "InfoType",
      "event",
    ].map((key) => key.replace(/\?$/, "")),
  );
  made = { discriminators, fields };
  return made;
}

/** Hints about what a match compares: a field name or a value close to one WeCom sends, but not it. */
export function matchHints(compared: readonly Compared[]): string[] {
  const hints: string[] = [];
  for (const { path, values } of compared) {
    const field = fieldHint(path);
    if (field !== null) hints.push(field);
    for (const value of values) {
      const hint = valueHint(path, value);
      if (hint !== null) hints.push(hint);
    }
  }
  return [...new Set(hints)];
}

/** Hints about an event to test: its discriminating values close to one WeCom sends, but not it. */
export function eventHints(event: unknown): string[] {
  if (typeof event !== "object" || event === null) return [];
  const hints: string[] = [];
  for (const path of catalogue().discriminators.keys()) {
    const value = path.split(".").reduce<unknown>((at, key) => (typeof at === "object" && at !== null ? (at as Record<string, unknown>)[key] : undefined), event);
    if (typeof value !== "string") continue;
    const hint = valueHint(path, value);
    if (hint !== null) hints.push(`the event's ${hint}`);
  }
  return hints;
}

function fieldHint(path: string): string | null {
  const first = path.split(".")[0]!;
  const { fields } = catalogue();
  if (fields.has(first)) return null;
  const near = nearest(first, fields);
  return near === null ? null : `${path}: no callback in WeCom's catalogue has a field ${JSON.stringify(first)}; did you mean ${JSON.stringify(near)}?`;
}

function valueHint(path: string, value: string): string | null {
  const sent = catalogue().discriminators.get(path);
  if (sent === undefined || sent.has(value)) return null;
  const near = nearest(value, sent);
  return near === null ? null : `${path} ${JSON.stringify(value.slice(0, 64))} is not one WeCom sends; did you mean ${JSON.stringify(near)}?`;
}

/** The known name closest to `written`: the same but for case, or at most two edits away (one for short names); null if none. */
function nearest(written: string, names: ReadonlySet<string>): string | null {
  if (written.length > 64) return null;
  const lower = written.toLowerCase();
  let best: string | null = null;
  let bestDistance = written.length <= 5 ? 2 : 3;
  for (const name of names) {
    if (name.toLowerCase() === lower) return name;
    const distance = editDistance(lower, name.toLowerCase(), bestDistance);
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

/** Edit distance counting a swap of two neighbours as one edit (the commonest typo), or `limit` as soon as it cannot be less (both strings at most 64 characters here). */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let smallest = i;
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      current.push(d);
      smallest = Math.min(smallest, d);
    }
    if (smallest >= limit) return limit;
    before = previous;
    previous = current;
  }
  return Math.min(previous[b.length]!, limit);
}

/**
 * The alerts and what each says (docs/operating.md, "Alerts"): a one-line summary,
 * a hint (what to do), and details. Only names, counts, ids, codes, hints
 * and messages the gateway wrote itself go in; never a secret, a URL or a
 * decrypted body.
 */
import type { AlertKind } from "./config.js";

export interface Alert {
  readonly kind: AlertKind;
  /** The app, or `*` for the whole configuration. */
  readonly app: string;
  /** The app's destination it is about (docs/routing.md), when it is about one. */
  readonly destination?: string;
  readonly summary: string;
  readonly hint: string;
  readonly details: Readonly<Record<string, string | number | boolean | null | readonly string[]>>;
}

/** What an alert is rate-limited by, beside its kind: the app, or the app's destination. */
export function alertSubject(alert: Pick<Alert, "app" | "destination">): string {
  return alert.destination === undefined ? alert.app : `${alert.app}/${alert.destination}`;
}

/** `app "hr"` (no destination: the app's only one, `default`, is the app), or `destination "oa" of app "hr"`. */
function named(app: string, destination: string | undefined): string {
  return destination === undefined ? `app "${app}"` : `destination "${destination}" of app "${app}"`;
}

function adminPath(app: string, destination: string | undefined): string {
  return destination === undefined ? `/admin/apps/${app}` : `/admin/apps/${app}/destinations/${destination}`;
}

/** Event ids named in one alert; the count says how many there were. */
export const MAX_IDS_NAMED = 10;

/**
 * A message the gateway wrote, made safe to send: a URL (a fetch error may
 * quote the webhook's, which can carry a token) becomes `<url>`, and it is
 * cut to 300 characters.
 */
export function safeMessage(message: string): string {
  return message.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]*/gi, "<url>").slice(0, 300);
}

function replayHint(app: string, destination?: string): string {
  const at = adminPath(app, destination);
  return `then replay them: POST ${at}/replay {"all":true} (or list them first: GET ${at}/dead)`;
}

/** Events became dead letters: `maxAttempts` pushes failed, or a pull consumer never acked them. */
export function deadLetterAlert(app: string, mode: "push" | "pull", ids: readonly string[], lastError: string | null, destination?: string): Alert {
  const n = ids.length;
  const replay = replayHint(app, destination);
  const hint =
    lastError !== null && lastError.startsWith("undelivered for more than maxAgeHours")
      ? `They waited longer than the destination's maxAgeHours: bring it back, ${replay}`
      : lastError !== null && lastError.startsWith("transform ")
        ? `The destination's transform failed on ${n === 1 ? "it" : "them"} (see lastError): fix the transform, ${replay}`
        : mode === "push"
          ? `The webhook kept failing (see lastError in GET ${adminPath(app, destination)}): fix it, ${replay}`
          : `A consumer leased ${n === 1 ? "it" : "them"} pull.maxAttempts times without an ack: fix the consumer, ${replay}`;
  return {
    kind: "dead_letter",
    app,
    ...(destination !== undefined ? { destination } : {}),
    summary: `${n} event${n === 1 ? "" : "s"} of ${named(app, destination)} became ${n === 1 ? "a dead letter" : "dead letters"}`,
    hint,
    details: {
      ...(destination !== undefined ? { destination } : {}),
      mode,
      count: n,
      ids: ids.slice(0, MAX_IDS_NAMED),
      lastError: lastError === null ? null : safeMessage(lastError),
    },
  };
}

/** A destination failed HEALTH.downAfter times in a row, on different events: it is down, and probed (docs/routing.md, "Health"). */
export function destinationDownAlert(app: string, destination: string, failures: number, lastError: string, label: string | undefined = destination): Alert {
  return {
    kind: "destination_down",
    app,
    destination,
    summary: `${named(app, label)} is down: ${failures} consecutive deliveries failed`,
    hint: `Its events wait without spending attempts, and one is tried now and then; they flow again once it answers. See lastError in GET ${adminPath(app, destination)}`,
    details: { destination, failures, lastError: safeMessage(lastError) },
  };
}

/** A probe of a destination that was down was delivered: it is up, and its backlog drains. */
export function destinationUpAlert(app: string, destination: string, downMs: number, backlog: number, label: string | undefined = destination): Alert {
  return {
    kind: "destination_up",
    app,
    destination,
    summary: `${named(app, label)} is up again after ${Math.round(downMs / 60_000)} minutes; ${backlog} events to deliver`,
    hint: "Nothing to do: the backlog drains at the destination's rate limit",
    details: { destination, downSeconds: Math.round(downMs / 1000), backlog },
  };
}

/** The webhook answered 410 Gone: the event is a dead letter, and pushing is paused for the app. */
export function pushPausedAlert(app: string, ids: readonly string[], destination?: string): Alert {
  return {
    kind: "push_paused",
    app,
    ...(destination !== undefined ? { destination } : {}),
    summary: `pushing for ${named(app, destination)} is paused: its webhook answered 410 Gone`,
    hint: `Events keep queueing meanwhile. Fix the webhook, resume: POST ${adminPath(app, destination)}/resume, ${replayHint(app, destination)}`,
    details: { ...(destination !== undefined ? { destination } : {}), count: ids.length, ids: ids.slice(0, MAX_IDS_NAMED) },
  };
}

/** More than `threshold` refused callbacks within `minutes`; `code` is the most common, with its hint. */
export function refusalBurstAlert(
  app: string,
  refusals: number,
  minutes: number,
  threshold: number,
  code: string,
  codeCount: number,
  codeHint: string,
): Alert {
  return {
    kind: "refusal_burst",
    app,
    summary: `${refusals} refused callbacks for app "${app}" in the last ${minutes} minute${minutes === 1 ? "" : "s"} (threshold ${threshold}); most often ${code}`,
    hint: `${codeHint}. A burst can also be someone probing the URL. See GET /admin/apps/${app}/refusals`,
    details: { refusals, minutes, threshold, code: /^-\d+$/.test(code) ? Number(code) : code, codeCount },
  };
}

/** A queue's oldest undelivered event is older than the threshold. */
export function oldestEventAlert(
  app: string,
  mode: "push" | "pull",
  ageSeconds: number,
  thresholdMinutes: number,
  depth: number,
  paused: boolean,
  destination?: string,
): Alert {
  const minutes = Math.floor(ageSeconds / 60);
  const at = adminPath(app, destination);
  return {
    kind: "oldest_event",
    app,
    ...(destination !== undefined ? { destination } : {}),
    summary: `the oldest undelivered event of ${named(app, destination)} is ${minutes} minutes old (threshold ${thresholdMinutes}); ${depth} waiting`,
    hint:
      mode === "pull"
        ? `No consumer has taken it: check that the consumers are pulling and acking (GET ${at} shows the queue)`
        : paused
          ? `Pushing is paused: fix the webhook, then POST ${at}/resume`
          : `The webhook is failing or slow: see lastError in GET ${at}`,
    details: { ...(destination !== undefined ? { destination } : {}), mode, ageSeconds, thresholdMinutes, depth, paused },
  };
}

/**
 * A suite has had no suite_ticket for `ageSeconds` (docs/providers.md, "The
 * latest ticket"); `never`: none has arrived since the gateway began to
 * watch for one.
 */
export function suiteTicketStaleAlert(app: string, suiteId: string, ageSeconds: number, never: boolean): Alert {
  const minutes = Math.floor(ageSeconds / 60);
  return {
    kind: "suite_ticket_stale",
    app,
    summary: never
      ? `no suite_ticket has arrived for suite "${app}" in the ${minutes} minutes the gateway has watched for one`
      : `the newest suite_ticket of suite "${app}" is ${minutes} minutes old: WeCom's tickets are valid for 30`,
    hint: `WeCom pushes one every 10 minutes to the instruction URL (/callback/${app}): check 指令回调URL in the provider console and GET /admin/apps/${app}/refusals; a ticket can be pushed again by hand there`,
    details: { suiteId, ageSeconds, never },
  };
}

/** The configuration cannot be loaded (app `*`), or one app's entry is invalid. `problem` names a path, never a value. */
export function invalidConfigAlert(app: string, problem: string): Alert {
  const detail = safeMessage(problem);
  return {
    kind: "invalid_config",
    app,
    summary: app === "*" ? `the configuration cannot be used: ${detail}` : `app "${app}" is misconfigured: ${detail}`,
    hint:
      app === "*"
        ? "Every callback answers 503 until it is fixed: correct wecom-edge.config.json or WECOM_APPS, run `npm run check-config`, then deploy"
        : `Its callbacks answer 503 invalid_config until it is fixed: correct its entry (wecom-edge.config.json or WECOM_APPS) or set the secret it names, run \`npm run check-config\`, then deploy; GET /admin/apps lists what is wrong`,
    details: { problem: detail },
  };
}

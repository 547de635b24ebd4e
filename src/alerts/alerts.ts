/**
 * The five alerts and what each says (docs/operating.md, "Alerts"): a one-line summary,
 * a hint (what to do), and details. Only names, counts, ids, codes, hints
 * and messages the gateway wrote itself go in; never a secret, a URL or a
 * decrypted body.
 */
import type { AlertKind } from "./config.js";

export interface Alert {
  readonly kind: AlertKind;
  /** The app, or `*` for the whole configuration. */
  readonly app: string;
  readonly summary: string;
  readonly hint: string;
  readonly details: Readonly<Record<string, string | number | boolean | null | readonly string[]>>;
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

function replayHint(app: string): string {
  return `then replay them: POST /admin/apps/${app}/replay {"all":true} (or list them first: GET /admin/apps/${app}/dead)`;
}

/** Events became dead letters: `maxAttempts` pushes failed, or a pull consumer never acked them. */
export function deadLetterAlert(app: string, mode: "push" | "pull", ids: readonly string[], lastError: string | null): Alert {
  const n = ids.length;
  return {
    kind: "dead_letter",
    app,
    summary: `${n} event${n === 1 ? "" : "s"} of app "${app}" became ${n === 1 ? "a dead letter" : "dead letters"}`,
    hint:
      mode === "push"
        ? `The webhook kept failing (see lastError in GET /admin/apps/${app}): fix it, ${replayHint(app)}`
        : `A consumer leased ${n === 1 ? "it" : "them"} pull.maxAttempts times without an ack: fix the consumer, ${replayHint(app)}`,
    details: { mode, count: n, ids: ids.slice(0, MAX_IDS_NAMED), lastError: lastError === null ? null : safeMessage(lastError) },
  };
}

/** The webhook answered 410 Gone: the event is a dead letter, and pushing is paused for the app. */
export function pushPausedAlert(app: string, ids: readonly string[]): Alert {
  return {
    kind: "push_paused",
    app,
    summary: `pushing for app "${app}" is paused: its webhook answered 410 Gone`,
    hint: `Events keep queueing meanwhile. Fix the webhook, resume: POST /admin/apps/${app}/resume, ${replayHint(app)}`,
    details: { count: ids.length, ids: ids.slice(0, MAX_IDS_NAMED) },
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
export function oldestEventAlert(app: string, mode: "push" | "pull", ageSeconds: number, thresholdMinutes: number, depth: number, paused: boolean): Alert {
  const minutes = Math.floor(ageSeconds / 60);
  return {
    kind: "oldest_event",
    app,
    summary: `the oldest undelivered event of app "${app}" is ${minutes} minutes old (threshold ${thresholdMinutes}); ${depth} waiting`,
    hint:
      mode === "pull"
        ? `No consumer has taken it: check that the consumers are pulling and acking (GET /admin/apps/${app} shows the queue)`
        : paused
          ? `Pushing is paused: fix the webhook, then POST /admin/apps/${app}/resume`
          : `The webhook is failing or slow: see lastError in GET /admin/apps/${app}`,
    details: { mode, ageSeconds, thresholdMinutes, depth, paused },
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

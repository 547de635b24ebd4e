/**
 * WECOM_ALERTS, parsed and validated once per isolate (docs/operating.md, "Alerts"):
 * where alerts go (a WeCom group robot, a signed webhook, or both), which
 * alerts are on and their thresholds, and how often one kind may be sent
 * for one app. Errors name the path, never a value: the robot's URL carries
 * its key, and the webhook has a signing secret.
 */
import { ConfigFieldError, fail, integer, parseEndpoint, rejectUnknownKeys, type EndpointConfig } from "../config.js";
import { isPlainObject } from "../lib/checks.js";
import { logAlert } from "../log.js";

export const ALERT_KINDS = ["dead_letter", "oldest_event", "push_paused", "refusal_burst", "invalid_config", "destination_down", "destination_up", "suite_ticket_stale"] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** A WeCom group robot (群机器人): its webhook URL, key included. */
export interface RobotConfig {
  readonly url: string;
  readonly timeoutMs: number;
}

export interface AlertsConfig {
  readonly wecomRobot?: RobotConfig;
  readonly webhook?: EndpointConfig;
  readonly deadLetter: boolean;
  readonly pushPaused: boolean;
  readonly invalidConfig: boolean;
  /** destination_down and destination_up (docs/routing.md, "Health"). */
  readonly destinationHealth: boolean;
  /** suite_ticket_stale: a suite has had no suite_ticket for 30 minutes (docs/providers.md). */
  readonly suiteTicket: boolean;
  /** Alert when a queue's oldest undelivered event is older than this; null: off. */
  readonly oldestEvent: { readonly minutes: number } | null;
  /** Alert when an app has more than `count` refused callbacks within `minutes`; null: off. */
  readonly refusalBurst: { readonly count: number; readonly minutes: number } | null;
  /** One alert per kind and app at most this often; the ones in between are counted. */
  readonly minIntervalMinutes: number;
}

export interface AlertsEnv {
  WECOM_ALERTS?: string;
}

export const ALERTS_DEFAULTS = {
  timeoutMs: 10_000,
  oldestEventMinutes: 30,
  refusalBurstCount: 10,
  refusalBurstMinutes: 5,
  minIntervalMinutes: 30,
} as const;

/** The refusals a queue keeps (QUEUE_LIMITS.refusalsKept): "more than count" must be countable within them. */
export const MAX_REFUSAL_BURST_COUNT = 99;

const TOP_KEYS = new Set(["wecomRobot", "webhook", "alerts", "minIntervalMinutes"]);
const ROBOT_KEYS = new Set(["url", "timeoutMs"]);
const WEBHOOK_KEYS = new Set(["url", "secret", "headers", "timeoutMs"]);
const ALERT_KEYS = new Set(["deadLetter", "pushPaused", "invalidConfig", "destinationHealth", "suiteTicket", "oldestEvent", "refusalBurst"]);
const OLDEST_KEYS = new Set(["minutes"]);
const BURST_KEYS = new Set(["count", "minutes"]);

/** Thrown for a WECOM_ALERTS that cannot be used; the message names the path. */
export class AlertsConfigError extends Error {}

let cache: { raw: string; config: AlertsConfig | AlertsConfigError } | undefined;

/**
 * The alerts configuration: null when WECOM_ALERTS is unset (alerts off);
 * throws AlertsConfigError when it is set but wrong. Parsed once per
 * isolate, again only when the string changes.
 */
export function loadAlerts(env: AlertsEnv): AlertsConfig | null {
  const raw = env.WECOM_ALERTS;
  if (raw === undefined || raw.trim() === "") return null;
  if (cache?.raw !== raw) {
    let config: AlertsConfig | AlertsConfigError;
    try {
      config = parseAlerts(raw);
    } catch (error) {
      if (!(error instanceof AlertsConfigError)) throw error;
      config = error;
    }
    cache = { raw, config };
  }
  if (cache.config instanceof AlertsConfigError) throw cache.config;
  return cache.config;
}

/** What is wrong with WECOM_ALERTS (a path, never a value); undefined when it is unset or can be used. */
export function alertsProblem(env: AlertsEnv): string | undefined {
  try {
    loadAlerts(env);
    return undefined;
  } catch (error) {
    return error instanceof AlertsConfigError ? error.message : "WECOM_ALERTS cannot be read";
  }
}

let reported: string | undefined;

/**
 * The alerts configuration for those who raise and send alerts: null when
 * alerts are off or WECOM_ALERTS is invalid. An invalid one is logged once
 * per isolate (and per mistake), and never breaks the caller; the admin API
 * and /healthz report it through alertsProblem.
 */
export function currentAlerts(env: AlertsEnv): AlertsConfig | null {
  const problem = alertsProblem(env);
  if (problem === undefined) return loadAlerts(env);
  if (reported !== problem) {
    reported = problem;
    logAlert({ outcome: "invalid_config", detail: problem });
  }
  return null;
}

/** Whether an alert of `kind` is on. */
export function isOn(config: AlertsConfig, kind: AlertKind): boolean {
  switch (kind) {
    case "dead_letter":
      return config.deadLetter;
    case "push_paused":
      return config.pushPaused;
    case "invalid_config":
      return config.invalidConfig;
    case "destination_down":
    case "destination_up":
      return config.destinationHealth;
    case "suite_ticket_stale":
      return config.suiteTicket;
    case "oldest_event":
      return config.oldestEvent !== null;
    case "refusal_burst":
      return config.refusalBurst !== null;
  }
}

export function parseAlerts(raw: string): AlertsConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new AlertsConfigError("WECOM_ALERTS is not valid JSON");
  }
  try {
    return parseObject(parsed);
  } catch (error) {
    if (error instanceof ConfigFieldError) throw new AlertsConfigError(error.message);
    throw error;
  }
}

function parseObject(value: unknown): AlertsConfig {
  const path = "WECOM_ALERTS";
  if (!isPlainObject(value)) fail(path, "must be a JSON object");
  rejectUnknownKeys(path, value, TOP_KEYS);
  if (value.wecomRobot === undefined && value.webhook === undefined) fail(path, "must have wecomRobot, webhook or both");
  const wecomRobot = value.wecomRobot === undefined ? undefined : parseRobot(`${path}.wecomRobot`, value.wecomRobot);
  let webhook: EndpointConfig | undefined;
  if (value.webhook !== undefined) {
    if (!isPlainObject(value.webhook)) fail(`${path}.webhook`, "must be an object");
    rejectUnknownKeys(`${path}.webhook`, value.webhook, WEBHOOK_KEYS);
    webhook = parseEndpoint(`${path}.webhook`, value.webhook, ALERTS_DEFAULTS.timeoutMs, 60_000);
  }
  const minIntervalMinutes = integer(`${path}.minIntervalMinutes`, value.minIntervalMinutes, ALERTS_DEFAULTS.minIntervalMinutes, 1, 1_440);
  return {
    ...(wecomRobot ? { wecomRobot } : {}),
    ...(webhook ? { webhook } : {}),
    ...parseSwitches(`${path}.alerts`, value.alerts),
    minIntervalMinutes,
  };
}

function parseRobot(path: string, value: unknown): RobotConfig {
  if (!isPlainObject(value)) fail(path, "must be an object");
  rejectUnknownKeys(path, value, ROBOT_KEYS);
  let url: URL | undefined;
  try {
    url = typeof value.url === "string" ? new URL(value.url) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) {
    fail(`${path}.url`, "must be the group robot's webhook URL (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…)");
  }
  const timeoutMs = integer(`${path}.timeoutMs`, value.timeoutMs, ALERTS_DEFAULTS.timeoutMs, 100, 60_000);
  return { url: url.href, timeoutMs };
}

type Switches = Omit<AlertsConfig, "wecomRobot" | "webhook" | "minIntervalMinutes">;

/** Each alert is on unless set to false; `true` or an object of thresholds turns it on. */
function parseSwitches(path: string, value: unknown): Switches {
  const alerts = value ?? {};
  if (!isPlainObject(alerts)) fail(path, "must be an object");
  rejectUnknownKeys(path, alerts, ALERT_KEYS);
  const flag = (key: string): boolean => {
    const on = alerts[key] ?? true;
    if (typeof on !== "boolean") fail(`${path}.${key}`, "must be true or false");
    return on;
  };
  const oldest = thresholds(`${path}.oldestEvent`, alerts.oldestEvent, OLDEST_KEYS);
  const burst = thresholds(`${path}.refusalBurst`, alerts.refusalBurst, BURST_KEYS);
  return {
    deadLetter: flag("deadLetter"),
    pushPaused: flag("pushPaused"),
    invalidConfig: flag("invalidConfig"),
    destinationHealth: flag("destinationHealth"),
    suiteTicket: flag("suiteTicket"),
    oldestEvent:
      oldest === null
        ? null
        : { minutes: integer(`${path}.oldestEvent.minutes`, oldest.minutes, ALERTS_DEFAULTS.oldestEventMinutes, 1, 10_080) },
    refusalBurst:
      burst === null
        ? null
        : {
            count: integer(`${path}.refusalBurst.count`, burst.count, ALERTS_DEFAULTS.refusalBurstCount, 1, MAX_REFUSAL_BURST_COUNT),
            minutes: integer(`${path}.refusalBurst.minutes`, burst.minutes, ALERTS_DEFAULTS.refusalBurstMinutes, 1, 60),
          },
  };
}

/** An alert with thresholds: omitted or true (the defaults), false (off), or an object of thresholds. */
function thresholds(path: string, value: unknown, known: ReadonlySet<string>): Record<string, unknown> | null {
  if (value === undefined || value === true) return {};
  if (value === false) return null;
  if (!isPlainObject(value)) fail(path, "must be true, false or an object of thresholds");
  rejectUnknownKeys(path, value, known);
  return value;
}

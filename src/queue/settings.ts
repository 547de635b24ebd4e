/**
 * What a queue needs to know of its app's configuration, as one JSON string:
 * each destination's delivery settings (not its match: events are routed by
 * the Worker before they are committed). The Worker encodes it once per
 * isolate and hands it over with every call; the queue compares strings, and
 * parses and stores it only when it changes. A queue remembers the last
 * settings it was given, so that it keeps delivering after its app has left
 * WECOM_APPS (docs/operating.md, "Apps that are removed").
 */
import type { AppConfig, WebhookConfig } from "../config.js";
import { DEFAULT_DESTINATION, DESTINATION_DEFAULTS, type RateConfig } from "../config/destinations.js";
import { decodeBase64, encodeBase64 } from "../lib/bytes.js";

export interface DestinationSettings {
  readonly mode: "push" | "pull";
  /** Push only. */
  readonly webhook?: WebhookConfig;
  /** Attempts (pushes or leases) before a delivery becomes a dead letter. */
  readonly maxAttempts: number;
  readonly ordered: boolean;
  readonly rate: RateConfig | null;
  readonly maxAgeHours: number;
  readonly transform: string | null;
}

export interface QueueSettings {
  readonly destinations: ReadonlyMap<string, DestinationSettings>;
}

type StoredWebhook = Omit<WebhookConfig, "signingKeys"> & { signingKeys?: string[]; signingKey?: string };
type StoredDestination = Omit<DestinationSettings, "webhook"> & { webhook?: StoredWebhook };

const encoded = new WeakMap<AppConfig, string>();

export function encodeSettings(app: AppConfig): string {
  let json = encoded.get(app);
  if (json === undefined) {
    const destinations: Record<string, StoredDestination> = {};
    for (const destination of app.destinations) {
      const { webhook, pull } = destination;
      destinations[destination.name] = {
        mode: webhook ? "push" : "pull",
        ...(webhook ? { webhook: { ...webhook, signingKeys: webhook.signingKeys.map(encodeBase64) } } : {}),
        maxAttempts: webhook ? webhook.maxAttempts : pull!.maxAttempts,
        ordered: destination.ordered !== null,
        rate: destination.rate,
        maxAgeHours: destination.maxAgeHours,
        transform: destination.transform,
      };
    }
    json = JSON.stringify({ destinations });
    encoded.set(app, json);
  }
  return json;
}

/** Settings as stored by this version, or by 0.1 to 0.3 (one implicit destination, `default`). */
export function decodeSettings(json: string): QueueSettings {
  const parsed = JSON.parse(json) as
    | { destinations: Record<string, StoredDestination> }
    | { mode: "push"; webhook: StoredWebhook }
    | { mode: "pull"; maxAttempts: number };
  const stored: Record<string, StoredDestination> =
    "destinations" in parsed
      ? parsed.destinations
      : {
          [DEFAULT_DESTINATION]: {
            mode: parsed.mode,
            ...(parsed.mode === "push" ? { webhook: parsed.webhook } : {}),
            maxAttempts: parsed.mode === "push" ? parsed.webhook.maxAttempts : parsed.maxAttempts,
            ordered: false,
            rate: null,
            maxAgeHours: DESTINATION_DEFAULTS.maxAgeHours,
            transform: null,
          },
        };
  const destinations = new Map<string, DestinationSettings>();
  for (const [name, { webhook, ...rest }] of Object.entries(stored)) {
    if (!webhook) {
      destinations.set(name, rest);
      continue;
    }
    // 0.1 remembered one `signingKey`; later versions a list.
    const { signingKey, signingKeys, ...fields } = webhook;
    destinations.set(name, { ...rest, webhook: { ...fields, signingKeys: (signingKeys ?? [signingKey!]).map(decodeBase64) } });
  }
  return { destinations };
}

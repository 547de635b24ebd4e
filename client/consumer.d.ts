// Types of wecom-edge/consumer (client/consumer.mjs; docs/consumer.md).

export interface ConsumeOptions<E = unknown> {
  /** The gateway, such as https://wecom.example.com. */
  url: string;
  /** The app's name in wecom-edge.config.json. */
  app: string;
  /** A pull destination of the app; default: `default`, the app's top-level `pull`. */
  destination?: string;
  /** That destination's pull token. */
  token: string;
  /** Handlers running at once, which is the credit given to the socket (1–1000; default 4). */
  concurrency?: number;
  /** How long an event stays leased to this consumer without an ack (1–43200; default 60). */
  leaseSeconds?: number;
  /** Does what the event is for: resolves (then it is acked) or throws (then it is nacked, to come back after a backoff). */
  handle(event: E, meta: { readonly id: string; readonly attempt: number }): unknown | Promise<unknown>;
  /** Where the consumer's few lines go; default: stderr. */
  log?: (line: string) => void;
}

/** Starts consuming; answers `stop()`, which drains the handlers in flight, acks them, and closes. */
export function consume<E = unknown>(options: ConsumeOptions<E>): () => Promise<void>;

/** Checks a push's Standard Webhooks signature; answers the parsed event, or throws. */
export function verifyPush(headers: Headers | Record<string, string>, body: string, secret: string | readonly string[]): unknown;

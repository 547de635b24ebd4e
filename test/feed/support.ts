/**
 * A feed client for tests: a real WebSocket from the Worker's own fetch,
 * whose frames are kept in order and can be awaited.
 */
import { expect } from "vitest";
import { callWorker, destinationsApp, newBucket, sendCallbacks, testEnv, type AppSettings } from "../support/wecom.js";

export const FEED_TOKEN = "feed-pull-token-0123456789-abcdefgh";
export const OTHER_TOKEN = "other-pull-token-0123456789-abcdef";

export type Frame = Record<string, any>;

export class FeedClient {
  readonly frames: Frame[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: (() => void)[] = [];

  constructor(readonly ws: WebSocket) {
    ws.accept();
    ws.addEventListener("message", (event) => {
      this.frames.push(JSON.parse(event.data as string) as Frame);
      this.poke();
    });
    ws.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.poke();
    });
  }

  private poke(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  credit(n: number): void {
    this.send({ type: "credit", n });
  }

  /** The event frames received so far. */
  events(): Frame[] {
    return this.frames.filter((f) => f.type === "event");
  }

  /** Waits until `done` holds, or fails after `ms`. */
  async until(done: () => boolean, what: string, ms = 5_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(this.frames).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for the `n`-th frame of `type` (1-based) and answers it. */
  async nth(type: string, n = 1): Promise<Frame> {
    await this.until(() => this.frames.filter((f) => f.type === type).length >= n, `${type} frame #${n}`);
    return this.frames.filter((f) => f.type === type)[n - 1]!;
  }

  /** Waits for the close. */
  async close(): Promise<{ code: number; reason: string }> {
    await this.until(() => this.closed !== null, "the close");
    return this.closed!;
  }

  /** Lets pending work run, then checks that no frame of `type` came beyond `count`. */
  async settle(ms = 150): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
  }
}

/** An app with a `feed` pull destination (plus `extra` destinations), and ways to reach it as WeCom and as a consumer. */
export function feedSetup(feed: AppSettings = {}, extra: Record<string, AppSettings> = {}) {
  const app = newBucket("feed");
  const environment = testEnv({ apps: { [app]: destinationsApp({ feed: { pull: { token: FEED_TOKEN }, ...feed }, ...extra }) } });
  return {
    app,
    environment,
    /** GET /queue/{app}/feed/ws (or `path`) with `token` and the upgrade header. */
    open(options: { token?: string; path?: string; query?: string; upgrade?: boolean } = {}) {
      const headers: Record<string, string> = { authorization: `Bearer ${options.token ?? FEED_TOKEN}` };
      if (options.upgrade !== false) headers.upgrade = "websocket";
      return callWorker(new Request(`https://wecom-edge.test/queue/${options.path ?? `${app}/feed`}/ws${options.query ?? ""}`, { headers }), environment);
    },
    /** Opens a socket and wraps it. */
    async connect(query = ""): Promise<FeedClient> {
      const response = await this.open({ query });
      expect(response.status).toBe(101);
      return new FeedClient(response.webSocket!);
    },
    /** Sends callbacks as WeCom would; answers their event ids. */
    send: (...plaintexts: string[]): Promise<string[]> => sendCallbacks(app, environment, plaintexts),
    /** POST /queue/{app}/feed/{verb}. */
    async api(verb: string, body: unknown, token = FEED_TOKEN): Promise<Response> {
      return callWorker(
        new Request(`https://wecom-edge.test/queue/${app}/feed/${verb}`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body) }),
        environment,
      );
    },
  };
}

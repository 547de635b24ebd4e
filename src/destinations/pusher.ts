/**
 * One push destination's pump: each run pushes one batch of what is due,
 * and tells its queue when it next needs waking (`nextWake`). Each
 * destination has its own, so one that fails or hangs never delays another
 * (docs/routing.md, "Independent delivery"). It also keeps the destination's
 * rate window and its health (./health.ts) between batches.
 */
import type { Alert } from "../alerts/alerts.js";
import { deadLetterAlert, destinationDownAlert, destinationUpAlert, pushPausedAlert } from "../alerts/alerts.js";
import { logQueue } from "../log.js";
import type { DestinationSettings } from "../queue/settings.js";
import { sendWebhook } from "../webhook/send.js";
import { afterFailure, probeDelayMs } from "./health.js";
import { pushBatch, PUSH_LIMITS, type BatchReport } from "./push.js";
import { RateWindow } from "./rate.js";
import type { DeliveryRow, DeliveryStore } from "./store.js";
import { deliveryBody } from "./body.js";

/** What a pump needs of its queue. */
export interface PumpHost {
  readonly app: string;
  readonly store: DeliveryStore;
  /** The destination's live settings, or undefined once it is no longer configured. */
  settings(name: string): DestinationSettings | undefined;
  /** False once the queue was dropped (a new store): the pump's last words are not said. */
  current(store: DeliveryStore): boolean;
  /** Makes sure the alarm comes at or before `at`. */
  wake(at: number): Promise<void>;
  raise(alert: Alert): void;
  /** How alerts name destination `name` (undefined: as the app). */
  label(name: string): string | undefined;
  /** False once the destination was dropped: a batch that outlived it records nothing. */
  known(name: string): boolean;
  readBytes: number;
  /** The Worker's binding called `name`, for a webhook through a service binding; undefined when there is none. */
  binding(name: string): Fetcher | undefined;
}

export class Pusher {
  readonly inFlight = new Set<string>();
  private running: Promise<void> | null = null;
  private rate: RateWindow | null = null;
  private rateOf: number | null = null;
  private probes = 0;
  private probeAt = 0;
  private lastFailedSeq: number | null = null;

  constructor(
    readonly name: string,
    private readonly host: PumpHost,
  ) {}

  /**
   * Starts one batch unless one is under way; resolves when it ends. One: an
   * invocation then makes at most PUSH_LIMITS.batch subrequests per
   * destination (the Free plan allows 50; docs/operating.md, "Limits"), and
   * the queue's alarm, set for what is due next, carries on.
   */
  kick(): Promise<void> {
    this.running ??= this.batch().then(() => {}).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  get busy(): boolean {
    return this.running !== null;
  }

  /** When this destination next needs the alarm, or null. */
  nextWake(): number | null {
    const settings = this.host.settings(this.name);
    const state = this.host.store.state(this.name);
    if (settings?.mode !== "push" || state.paused) return null;
    const next = this.host.store.nextDue(this.name);
    if (next === null) return null;
    // Down: probes keep their own schedule, not the events' backoff (docs/routing.md, "Health").
    return state.downSince !== null ? this.probeAt : next;
  }

  /** Pushes one batch of what is due now; false when there was nothing to push. */
  async batch(): Promise<boolean> {
    const { store } = this.host;
    const settings = this.host.settings(this.name);
    const state = store.state(this.name);
    if (settings?.mode !== "push" || !settings.webhook || state.paused || !this.host.current(store)) return false;
    const started = Date.now();
    const down = state.downSince !== null;
    if (down && started < this.probeAt) return false;
    // A probe takes the delivery due first, even one still waiting out its backoff or a Retry-After.
    const dueBy = down ? Number.MAX_SAFE_INTEGER : started;
    // Claimed in the turn they are read: no pull leases them and no 微信客服 callback folds into them while this
    // batch holds their bodies (DeliveryStore.claim). Every claim ends with the batch, however it ends: one left
    // behind would keep its delivery from ever going again.
    const due = store.due(this.name, dueBy, down ? 1 : PUSH_LIMITS.batch, this.host.readBytes).filter((row) => store.claim(this.name, row.seq));
    if (due.length === 0) return false;
    try {
      return await this.push(settings, due, started, down);
    } finally {
      for (const row of due) store.unclaim(this.name, row.seq);
    }
  }

  /** Pushes the claimed `due`, and records the outcome. */
  private async push(settings: DestinationSettings, due: DeliveryRow[], started: number, down: boolean): Promise<boolean> {
    const { store } = this.host;
    const webhook = settings.webhook!;
    // If this object dies mid-batch, the alarm, set first, comes back for what is left.
    await this.host.wake(started + webhook.timeoutMs + 1_000);
    const report = await pushBatch(
      {
        app: this.host.app,
        destination: this.name,
        webhook,
        store,
        inFlight: this.inFlight,
        concurrency: Math.min(PUSH_LIMITS.concurrency, settings.rate?.maxInFlight ?? PUSH_LIMITS.concurrency),
        rate: this.rateWindow(settings),
        spend: !down,
        // Also once it no longer pushes (dropped, or turned to pull): its rows are no longer this batch's to send.
        isPaused: () => store.state(this.name).paused || !this.host.current(store) || this.host.settings(this.name)?.mode !== "push",
        current: () => this.host.current(store),
        pause: () => this.host.current(store) && store.setPaused(this.name, true),
        body: (row: DeliveryRow) => deliveryBody(settings, row, Date.now()),
        send: (row: DeliveryRow, body: string, attempt: number) =>
          sendWebhook(webhook, row.id, body, attempt, new Date(), webhook.service === undefined ? undefined : this.host.binding(webhook.service)),
        sleep: (ms: number) => new Promise((resolve) => setTimeout(resolve, ms)),
      },
      due,
      started,
    );
    if (!this.host.current(store) || !this.host.known(this.name)) return false;
    this.record(report);
    return true;
  }

  private rateWindow(settings: DestinationSettings): RateWindow | null {
    const perSecond = settings.rate?.perSecond ?? null;
    if (perSecond !== this.rateOf) {
      this.rate = perSecond === null ? null : new RateWindow(perSecond);
      this.rateOf = perSecond;
    }
    return this.rate;
  }

  /** A batch's outcome: stats, health and alerts. */
  private record(report: BatchReport): void {
    const { store, app } = this.host;
    const before = store.state(this.name);
    if (report.delivered > 0) {
      logQueue({ app, destination: this.name, outcome: "pushed", delivered: report.delivered, retried: report.retried, dead: report.deadLetters.length });
    }
    if (report.lastDeliveredAt !== null) {
      this.probes = 0;
      this.lastFailedSeq = null;
      store.recordSuccess(this.name);
      if (before.downSince !== null) {
        logQueue({ app, destination: this.name, outcome: "up", detail: "a probe was delivered" });
        this.host.raise(destinationUpAlert(app, this.name, report.lastDeliveredAt - before.downSince, before.live, this.host.label(this.name)));
      }
    } else if (report.failures.length > 0) {
      let health: Parameters<typeof afterFailure>[0] = before;
      for (const failure of report.failures) {
        health = afterFailure(health, failure.at, failure.seq === this.lastFailedSeq);
        this.lastFailedSeq = failure.seq;
      }
      const last = report.failures[report.failures.length - 1]!;
      if (before.downSince !== null) {
        this.probes++;
        this.probeAt = last.at + probeDelayMs(this.probes);
      } else if (health.downSince !== null) {
        this.probes = 0;
        this.probeAt = last.at + probeDelayMs(0);
        logQueue({ app, destination: this.name, outcome: "down", detail: `${health.failures} consecutive failures: ${last.error}` });
        this.host.raise(destinationDownAlert(app, this.name, health.failures, last.error, this.host.label(this.name)));
      }
      store.recordFailure(this.name, last.error, last.at, health);
    }
    // A delivery that died without an attempt (transform, maxAgeHours) still shows in lastError.
    const unattempted = report.failures.length === 0 ? report.deadLetters.at(-1) : undefined;
    if (unattempted) store.recordError(this.name, unattempted.error, Date.now());
    const paused = report.deadLetters.filter((dead) => dead.paused).map((dead) => dead.id);
    const died = report.deadLetters.filter((dead) => !dead.paused);
    const named = this.host.label(this.name);
    if (paused.length > 0) this.host.raise(pushPausedAlert(app, paused, named));
    if (died.length > 0) this.host.raise(deadLetterAlert(app, "push", died.map((dead) => dead.id), died[died.length - 1]!.error, named));
  }
}

/**
 * A webhook through a Worker service binding (docs/routing.md, "Reaching the
 * intranet"): a second local Worker, bound as INTRANET (vitest.config.ts),
 * stands for a Workers VPC service and passes what it gets on to the test
 * receiver. Signing, retries and dead letters are a URL's.
 */
import { env } from "cloudflare:test";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import {
  callbackRequest,
  callWorker,
  destinationsApp,
  drain,
  expectedEventId,
  newBucket,
  queueStub,
  received,
  TEST_APP,
  testEnv,
  textMessage,
  WEBHOOK_SECRET,
} from "../support/wecom.js";

const service = (path: string, extra: Record<string, unknown> = {}) => ({ webhook: { service: "INTRANET", path, secret: WEBHOOK_SECRET, ...extra } });

describe("a webhook through a service binding", () => {
  it("gets signed pushes through the bound Worker, at the path given", async () => {
    const app = newBucket("svc");
    const environment = testEnv({ apps: { [app]: destinationsApp({ intranet: service(`/ok/${app}?from=wecom`) }) } });
    const plaintext = textMessage("through the tunnel", "8700000000000000001");
    expect(await (await callWorker(await callbackRequest(app, plaintext), environment)).text()).toBe("success");
    await drain(app);
    const [push, ...more] = await received(app);
    expect(more).toEqual([]);
    expect(push!.path).toBe(`/ok/${app}?from=wecom`);
    // It came through the binding, addressed to the service origin.
    expect(push!.headers["x-through"]).toBe("INTRANET http://localhost");
    const id = await expectedEventId(app, plaintext);
    expect(push!.headers["webhook-id"]).toBe(id);
    expect(push!.headers["wecom-edge-attempt"]).toBe("1");
    const event = new Webhook(WEBHOOK_SECRET).verify(push!.body, push!.headers) as { id: string; event: { Content: string } };
    expect([event.id, event.event.Content]).toEqual([id, "through the tunnel"]);
  });

  it("retries and dead-letters as a URL does: a 503 behind the binding is a failed attempt", async () => {
    const app = newBucket("svc-down");
    const environment = testEnv({
      apps: { [app]: destinationsApp({ intranet: service(`/status/503/${app}`, { maxAttempts: 2, minBackoffMs: 0, maxBackoffMs: 0 }) }) },
    });
    expect(await (await callWorker(await callbackRequest(app, textMessage("down", "8700000000000000002")), environment)).text()).toBe("success");
    await drain(app);
    expect((await received(app)).map((r) => r.headers["wecom-edge-attempt"])).toEqual(["1", "2"]);
    const dead = await queueStub(app).deadLetters(10, "intranet");
    expect(dead.map((d) => [d.attempts, d.lastError])).toEqual([[2, "attempt 2: webhook answered 503"]]);
  });
});

describe("configuration of a service webhook", () => {
  const problem = (webhook: Record<string, unknown>, bindings: Record<string, unknown> = env as unknown as Record<string, unknown>) => {
    const config = parseConfig({ ...bindings, WECOM_APPS: JSON.stringify({ hr: destinationsApp({ oa: { webhook: { secret: WEBHOOK_SECRET, ...webhook } } }) }) } as never);
    return config.invalidApps.get("hr") ?? null;
  };

  it("takes service and path instead of url, and checks the binding exists", () => {
    expect(problem({ service: "INTRANET", path: "/wecom" })).toBeNull();
    expect(problem({ service: "INTRANET" })).toBeNull();
    expect(problem({ service: "NOWHERE", path: "/wecom" })).toBe(
      'WECOM_APPS.hr.destinations.oa.webhook.service names "NOWHERE", which is not a service binding of this Worker: add it to wrangler.toml ([[services]] or [[vpc_services]])',
    );
    // A variable of that name is not a binding.
    expect(problem({ service: "WECOM_DEBUG" })).toBe(
      'WECOM_APPS.hr.destinations.oa.webhook.service names "WECOM_DEBUG", which is not a service binding of this Worker: add it to wrangler.toml ([[services]] or [[vpc_services]])',
    );
  });

  it("names the app's top-level webhook in the path", () => {
    const config = parseConfig({ ...(env as object), WECOM_APPS: JSON.stringify({ hr: { ...TEST_APP, webhook: { service: "MISSING", secret: WEBHOOK_SECRET } } }) } as never);
    expect(config.invalidApps.get("hr")).toBe(
      'WECOM_APPS.hr.webhook.service names "MISSING", which is not a service binding of this Worker: add it to wrangler.toml ([[services]] or [[vpc_services]])',
    );
  });

  it("refuses url with service, path without service, a bad name and a bad path, each with its path", () => {
    expect(problem({ service: "INTRANET", url: "https://hr.example/hook" })).toBe("WECOM_APPS.hr.destinations.oa.webhook must have either url or service, not both");
    expect(problem({ url: "https://hr.example/hook", path: "/x" })).toBe("WECOM_APPS.hr.destinations.oa.webhook.path goes with service, not url");
    expect(problem({ service: "my-binding" })).toBe("WECOM_APPS.hr.destinations.oa.webhook.service must be the name of a service binding in wrangler.toml (letters, digits and _)");
    expect(problem({ service: "INTRANET", path: "wecom" })).toBe(
      "WECOM_APPS.hr.destinations.oa.webhook.path must be a path starting with / (visible ASCII, at most 1024 characters)",
    );
    expect(problem({ service: "INTRANET", path: "/a b" })).toBe(
      "WECOM_APPS.hr.destinations.oa.webhook.path must be a path starting with / (visible ASCII, at most 1024 characters)",
    );
  });
});

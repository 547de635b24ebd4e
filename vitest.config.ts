import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { filterStream } from "./test/support/noise.js";
import { startReceiver } from "./test/support/receiver.js";

// What workerd prints because a test did something on purpose (a refused connection, a crashed Durable
// Object, …) is left out, exactly those lines and nothing else (test/support/noise.ts, which names the
// test behind each); one line at the end says how many. WECOM_EDGE_NOISE=1 shows them.
if (process.env.WECOM_EDGE_NOISE !== "1") {
  const filters = [filterStream(process.stdout), filterStream(process.stderr)];
  process.once("exit", () => {
    const dropped = filters.reduce((sum, filter) => sum + filter.dropped, 0);
    if (dropped > 0) process.stderr.write(`(left out ${dropped} known lines that tests cause on purpose: test/support/noise.ts; WECOM_EDGE_NOISE=1 shows them)\n`);
  });
}

// A real webhook receiver on 127.0.0.1 (see test/support/receiver.ts).
const receiverUrl = await startReceiver();

export default defineConfig({
  // The Worker's bundled wecom-edge.config.json (wrangler.toml's [alias]): the tests' own, never the
  // repository's, which holds the user's apps. Tests of the file pass theirs to parseConfig.
  resolve: { alias: { "wecom-edge-config": fileURLToPath(new URL("./test/fixtures/wecom-edge.config.json", import.meta.url)) } },
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        // The Worker's (and its Durable Objects') own configuration. Tests through
        // exports.default.fetch use it; most tests pass an env of their own instead.
        bindings: {
          WECOM_DEMO: "1",
          WECOM_MAX_SKEW_SECONDS: "0",
          ADMIN_TOKEN: "admin-token-for-tests-only-0123456789",
          WECOM_APPS: JSON.stringify({
            official: {
              token: "QDG6eK",
              encodingAESKey: "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
              receiveId: "wx5823bf96d3bd56c7",
              webhook: { url: `${receiverUrl}/ok/official`, secret: "whsec_dGVzdC1vbmx5LXRlc3Qtb25seS10ZXN0LW9ubHk=" },
            },
            pulled: {
              token: "kR7tQ2pZ9wXy",
              encodingAESKey: "RbSCtD0MnaZDhN0XnWfLE4RemCSlsi9YgSzN8xg0VRc",
              receiveId: "ww3e40cde07cc21a01",
              pull: { token: "pull-token-for-tests-only-0123456789" },
            },
          }),
        },
        // A second Worker bound as the service INTRANET (docs/routing.md, "Reaching the intranet"): it stands
        // for the intranet behind a Workers VPC service, passing each push on to the receiver, whose
        // paths it keeps, and marking it as having come through the binding.
        serviceBindings: { INTRANET: "intranet" },
        workers: [
          {
            name: "intranet",
            modules: true,
            compatibilityDate: "2026-11-01",
            bindings: { RECEIVER: receiverUrl },
            script: `export default {
              async fetch(request, env) {
                const url = new URL(request.url);
                const headers = new Headers(request.headers);
                headers.set("x-through", "INTRANET " + url.origin);
                return fetch(env.RECEIVER + url.pathname + url.search, { method: request.method, headers, body: await request.text() });
              },
            };`,
          },
        ],
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    provide: { receiverUrl },
    setupFiles: ["test/support/quiet.ts"],
    testTimeout: 30_000,
  },
});

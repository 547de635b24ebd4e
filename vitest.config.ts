import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        // The Worker's own configuration for tests through exports.default.fetch.
        // Most tests pass an env of their own to the handler instead.
        bindings: {
          WECOM_DEMO: "1",
          WECOM_MAX_SKEW_SECONDS: "0",
          WECOM_APPS: JSON.stringify({
            official: {
              token: "QDG6eK",
              encodingAESKey: "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
              receiveId: "wx5823bf96d3bd56c7",
              webhook: { url: "http://127.0.0.1:9/unused", secret: "whsec_dGVzdC1vbmx5LXRlc3Qtb25seS10ZXN0LW9ubHk=" },
            },
          }),
        },
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/receiver.ts"],
    testTimeout: 20_000,
    // Each request logs one JSON line; show them only for failing tests.
    silent: "passed-only",
  },
});

// Benchmarks run in Node: workerd's clock stands still during computation.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    alias: { "cloudflare:workers": fileURLToPath(new URL("./bench/stubs/cloudflare-workers.ts", import.meta.url)) },
  },
  test: {
    include: [],
    benchmark: { include: ["bench/**/*.bench.ts"] },
  },
});

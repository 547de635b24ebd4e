// Benchmarks run in Node: workerd's clock stands still during computation.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [],
    benchmark: { include: ["bench/**/*.bench.ts"] },
  },
});

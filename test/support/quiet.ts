/**
 * The gateway writes one JSON log line per request; the suite makes
 * thousands of requests. Those lines are dropped here (test/log.test.ts
 * checks them with spies of its own); anything else still prints. What
 * workerd itself prints, outside console, is filtered in the test process
 * instead: test/support/noise.ts.
 */
for (const level of ["log", "warn"] as const) {
  const original = console[level].bind(console);
  console[level] = (...args: unknown[]) => {
    if (typeof args[0] === "string" && args[0].startsWith('{"msg":"wecom-edge"')) return;
    original(...args);
  };
}

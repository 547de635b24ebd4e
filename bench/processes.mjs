// bench/processes.mjs — the processes the benchmark starts, and their CPU.
//
// CPU is read from /proc/<pid>/stat (utime + stime, all threads, in clock
// ticks), never from inside the measured process: workerd's clock stands
// still while JavaScript computes, and a process timing itself would also
// miss its own I/O threads.
import { execFileSync, spawn } from "node:child_process";
import { openSync, readFileSync, closeSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time the process has used so far, in milliseconds (resolution 1000/CLK_TCK). */
export function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Field 2 (comm) is in parentheses and may hold spaces: count fields after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]); // field 14
  const stime = Number(fields[12]); // field 15
  return ((utime + stime) * 1000) / CLK_TCK;
}

/** The whole machine's CPU time so far, in ms: busy (user, nice, system, irq, softirq) and stolen by the hypervisor. */
export function machineCpuMs() {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return { busy: ((user + nice + system + irq + softirq) * 1000) / CLK_TCK, steal: ((steal || 0) * 1000) / CLK_TCK };
}

/**
 * Waits until the process is idle: no CPU tick for `quietMs`, so that work
 * left over from one phase (a push in flight, a row deleted after a 2xx) is
 * not billed to the next. Bounded; returns false if it never went quiet.
 */
export async function settle(pid, { quietMs = 300, stepMs = 100, maxMs = 15_000 } = {}) {
  let last = cpuMs(pid);
  let quietFor = 0;
  for (let waited = 0; waited < maxMs; waited += stepMs) {
    await sleep(stepMs);
    const now = cpuMs(pid);
    quietFor = now === last ? quietFor + stepMs : 0;
    last = now;
    if (quietFor >= quietMs) return true;
  }
  return false;
}

/** A port that was free a moment ago (the caller retries if it is taken meanwhile). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const running = new Set();

/**
 * Starts a process and keeps track of it so that stopAll() ends it, whatever
 * happens. Its stdout and stderr go to `logFile` (a file, not a pipe: reading
 * a chatty process's output would cost the harness CPU), unless `readyLine`
 * is asked for, in which case the first stdout line is parsed as JSON.
 */
export function start(name, command, args, { env, cwd, logFile, readyLine = false } = {}) {
  const out = logFile ? openSync(logFile, "a") : "ignore";
  const child = spawn(command, args, { cwd, env, stdio: ["ignore", readyLine ? "pipe" : out, out] });
  if (typeof out === "number") closeSync(out);
  const proc = { name, child, pid: child.pid, exited: false };
  running.add(proc);
  proc.exit = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      proc.exited = true;
      running.delete(proc);
      resolve({ code, signal });
    }),
  );
  child.once("error", () => {});
  if (readyLine) {
    proc.ready = new Promise((resolve, reject) => {
      const lines = createInterface({ input: child.stdout });
      lines.once("line", (line) => {
        try {
          resolve(JSON.parse(line));
        } catch (error) {
          reject(new Error(`${name} printed ${JSON.stringify(line)} instead of its ready line`));
        }
        child.stdout.resume(); // keep draining so that the child never blocks on a full pipe
      });
      proc.exit.then(({ code, signal }) => reject(new Error(`${name} exited (${code ?? signal}) before it was ready`)));
    });
    proc.ready.catch(() => {});
  }
  return proc;
}

/** Ends one process: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stop(proc, graceMs = 3000) {
  if (proc.exited) return;
  proc.child.kill("SIGTERM");
  const ended = await Promise.race([proc.exit.then(() => true), sleep(graceMs).then(() => false)]);
  if (!ended) {
    proc.child.kill("SIGKILL");
    await Promise.race([proc.exit, sleep(graceMs)]);
  }
}

/** CPU used so far by every process started here that is still running, in ms. */
export function startedCpuMs() {
  let sum = 0;
  for (const proc of running) {
    try {
      sum += cpuMs(proc.pid);
    } catch {} // it has just exited
  }
  return sum;
}

export async function stopAll() {
  await Promise.all([...running].map((proc) => stop(proc)));
}

// Last resort if the harness dies without reaching its cleanup: kill by pid,
// synchronously (only what this process started).
process.once("exit", () => {
  for (const proc of running) {
    try {
      process.kill(proc.pid, "SIGKILL");
    } catch {}
  }
});

/** Polls `url` until it answers at all (any status), or the process dies, or time runs out. */
export async function waitForHttp(url, proc, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exited) return false;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      return true;
    } catch {}
    await sleep(100);
  }
  return false;
}

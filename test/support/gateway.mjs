// The gateway running for real, for the Node-side tests (the CLI in
// test/cli/, the admin page in test/browser/): `wrangler dev` with the
// project's own wrangler.toml, which serves src/ in workerd with SQLite
// Durable Objects, on 127.0.0.1 and a free port. Each gateway gets its own
// secrets file (WECOM_APPS, ADMIN_TOKEN…), its own wecom-edge.config.json and
// its own fresh storage, so tests started in parallel by `node --test` share
// nothing.
//
//   const gateway = await startGateway({ apps: { hr: {...} }, adminToken: "…" });
//   await fetch(`${gateway.url}/healthz`);
//   await gateway.stop();
//
// wrangler needs Node >= 22.12: `npm test` puts the pinned Node 22 from
// node_modules/.bin first on PATH, and so does this file when it spawns it.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "node_modules", ".bin");

/** A port that was free a moment ago. */
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

/** One line of a dotenv file: the value single-quoted, so JSON keeps its quotes and `#`. */
function dotenvLine(name, value) {
  if (value.includes("'") || value.includes("\n")) throw new Error(`${name}: a value for wrangler's --env-file may not hold ' or a newline`);
  return `${name}='${value}'\n`;
}

/**
 * The project's wrangler.toml, for a copy in another folder: its paths made
 * absolute, and its [alias] serving `configFile` as wecom-edge.config.json.
 * (`wrangler dev --alias` would be simpler, but wrangler 4.156 applies
 * --alias to deploy only: dev bundles with the file's [alias].)
 */
function wranglerConfigServing(configFile) {
  let text = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
  const replacements = [
    [/^main = "src\/index\.ts"$/m, `main = ${JSON.stringify(join(ROOT, "src", "index.ts"))}`],
    [/^"wecom-edge-config" = "\.\/wecom-edge\.config\.json"$/m, `"wecom-edge-config" = ${JSON.stringify(configFile)}`],
    [/^directory = "\.\/public"$/m, `directory = ${JSON.stringify(join(ROOT, "public"))}`],
  ];
  for (const [pattern, line] of replacements) {
    if (!pattern.test(text)) throw new Error(`test/support/gateway.mjs: wrangler.toml has no line ${pattern}: update wranglerConfigServing`);
    text = text.replace(pattern, line);
  }
  return text;
}

/**
 * Starts `wrangler dev` on the project's wrangler.toml.
 *
 * @param {object} o
 * @param {Record<string, unknown>} [o.apps]   WECOM_APPS (an object, JSON-encoded here); omitted: not set at all
 * @param {string} [o.adminToken]              ADMIN_TOKEN
 * @param {Record<string, string>} [o.secrets] any other secret or var, as text (e.g. WECOM_ALERTS, WECOM_MAX_SKEW_SECONDS)
 * @param {string} [o.configFile]              the wecom-edge.config.json to serve (the [alias] of a wrangler.toml copy);
 *                                             omitted: one with no apps, so a developer's own file never reaches a test
 * @param {number} [o.timeoutMs]               how long it may take to answer /healthz
 * @returns {Promise<{url: string, stop: () => Promise<void>, output: () => string}>}
 */
export async function startGateway({ apps, adminToken, secrets = {}, configFile, timeoutMs = 60_000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "wecom-edge-gateway-"));
  const values = { ...secrets };
  if (apps !== undefined) values.WECOM_APPS = JSON.stringify(apps);
  if (adminToken !== undefined) values.ADMIN_TOKEN = adminToken;
  const envFile = join(dir, "secrets.env");
  writeFileSync(envFile, Object.entries(values).map(([name, value]) => dotenvLine(name, String(value))).join(""));
  let config = configFile === undefined ? undefined : resolve(configFile);
  if (config === undefined) {
    config = join(dir, "wecom-edge.config.json");
    writeFileSync(config, '{"apps": {}}\n');
  }
  const wranglerToml = join(dir, "wrangler.toml");
  writeFileSync(wranglerToml, wranglerConfigServing(config));

  const [port, inspectorPort] = [await freePort(), await freePort()];
  const args = ["dev", "-c", wranglerToml, "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort)];
  args.push("--persist-to", join(dir, "state"), "--env-file", envFile, "--show-interactive-dev-session=false", "--log-level", "warn");
  const child = spawn(join(BIN, "wrangler"), args, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PATH: `${BIN}:${process.env.PATH}`, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", CI: "1" },
    detached: true, // its own process group, so that stop() also ends workerd
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  let running = true;
  exited.then(() => (running = false));

  const stop = async () => {
    if (running) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
      const ended = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
      if (!ended) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {}
        await Promise.race([exited, sleep(2000)]);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Whatever happens to the test process, the gateway goes with it.
  process.once("exit", () => {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
  });

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && running) {
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      return { url, stop, output: () => output };
    } catch {}
    await sleep(200);
  }
  await stop();
  throw new Error(`wrangler dev did not answer on ${url} within ${timeoutMs} ms:\n${output.slice(-3000)}`);
}

// The admin page (docs/operating.md, "Admin page") in real headless Chromium: Debian's
// chromium driven by playwright-core, against the gateway under `wrangler dev`
// (test/support/gateway.mjs), with real webhook receivers on 127.0.0.1 that
// fail until they are told to succeed (and one that succeeds from the start).
//
//   npm run test:browser                      needs /usr/bin/chromium (apt-get install chromium) or CHROMIUM_PATH
//   WECOM_EDGE_SCREENSHOT=docs/admin-page.png  also saves a 1280×800 screenshot (npm run screenshot)
//   WECOM_EDGE_PHONE_SCREENSHOT=/tmp/x.png     where the 390 px one goes (default: the system's temporary folder)
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { chromium } from "playwright-core";
import { encrypt, signature } from "../../bin/lib/wxcrypt.mjs";
import { ROOT, startGateway } from "../support/gateway.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const SCREENSHOT = process.env.WECOM_EDGE_SCREENSHOT;
const PHONE_SCREENSHOT = process.env.WECOM_EDGE_PHONE_SCREENSHOT || join(tmpdir(), "wecom-edge-admin-390px.png");
/** The hint of a refused signature (src/wecom/hints.ts), its `code span` shown as <code>. */
const SIGNATURE_HINT = "the Token differs from the one in WeCom's console (or the body or URL was changed on the way); npx wecom-edge diagnose says which";
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

const ADMIN_TOKEN = `admin-${randomBytes(24).toString("hex")}`;
const RECEIVE_ID = "ww3e40cde07cc21a01";
const MSG_ID = "12345678901234567890"; // 20 digits: more than a double holds
/** Text from the outside world, markup included: the page must show it as text, never parse it. */
const CONTENT = "请审批：<b>差旅报销</b> ¥1,280.00";

const credentials = () => ({
  token: randomBytes(9).toString("base64url"),
  encodingAESKey: randomBytes(32).toString("base64").slice(0, 43),
  receiveId: RECEIVE_ID,
});
const HR = {
  ...credentials(),
  webhook: { url: "", secret: `whsec_${randomBytes(32).toString("base64")}`, maxAttempts: 1, minBackoffMs: 0, maxBackoffMs: 0 },
};
const TICKETS = { ...credentials(), pull: { token: `pull-${randomBytes(16).toString("hex")}` } };
/** A push that is tried once: a failure is a dead letter at once. */
const once = () => ({ url: "", secret: `whsec_${randomBytes(32).toString("base64")}`, maxAttempts: 1, minBackoffMs: 0, maxBackoffMs: 0 });
/** An app with two destinations (docs/routing.md): both take text messages; audit answers, oa fails until told otherwise. */
const ROUTED = {
  ...credentials(),
  destinations: {
    audit: { match: { MsgType: "text" }, ordered: true, webhook: once() },
    oa: { match: { MsgType: "text" }, rate: { perSecond: 5, maxInFlight: 2 }, webhook: once() },
  },
};

/** A menu click: no destination of ROUTED takes it, so it is unrouted, counted as event/click. */
function clickEvent(key) {
  return (
    `<xml><ToUserName><![CDATA[${RECEIVE_ID}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>` +
    `<CreateTime>${Math.floor(Date.now() / 1000)}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[click]]></Event>` +
    `<EventKey><![CDATA[${key}]]></EventKey><AgentID>1000002</AgentID></xml>`
  );
}

function textMessage(content, msgId) {
  return (
    `<xml><ToUserName><![CDATA[${RECEIVE_ID}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>` +
    `<CreateTime>${Math.floor(Date.now() / 1000)}</CreateTime><MsgType><![CDATA[text]]></MsgType>` +
    `<Content><![CDATA[${content}]]></Content><MsgId>${msgId}</MsgId><AgentID>1000002</AgentID></xml>`
  );
}

/** A callback as WeCom sends it: encrypted, signed, with a fresh timestamp and nonce. */
async function sendCallback(gateway, name, app, plaintext, { badSignature = false } = {}) {
  const encrypted = encrypt(app.encodingAESKey, plaintext, RECEIVE_ID);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(6).toString("hex");
  const msgSignature = badSignature ? "0".repeat(40) : signature(app.token, timestamp, nonce, encrypted);
  const query = new URLSearchParams({ msg_signature: msgSignature, timestamp, nonce });
  const response = await fetch(`${gateway.url}/callback/${name}?${query}`, {
    method: "POST",
    body: `<xml><ToUserName><![CDATA[${RECEIVE_ID}]]></ToUserName><Encrypt><![CDATA[${encrypted}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>`,
  });
  return { status: response.status, text: await response.text() };
}

/** The intranet webhook: answers 503 until `healthy` is set; keeps every body it got. */
async function startReceiver() {
  const receiver = { healthy: false, bodies: [] };
  const server = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      receiver.bodies.push(Buffer.concat(chunks));
      response.writeHead(receiver.healthy ? 200 : 503, { "content-type": "text/plain" }).end(receiver.healthy ? "ok" : "down for the test");
    });
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  receiver.url = `http://127.0.0.1:${server.address().port}/wecom-events`;
  receiver.close = () => new Promise((done) => server.close(done));
  return receiver;
}

async function until(what, check, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A fresh browser context (its own profile: empty storage) with every console message and page error kept. */
async function openPage(browser, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const problems = [];
  const requested = [];
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("request", (request) => requested.push(request.url()));
  page.on("dialog", (dialog) => {
    problems.push(`unexpected ${dialog.type()} dialog: ${dialog.message()}`);
    dialog.dismiss();
  });
  return { context, page, problems, requested };
}

describe("the admin page", { timeout: 180_000 }, () => {
  let receiver;
  let auditReceiver;
  let oaReceiver;
  let gateway;
  let browser;
  const admin = (path, init = {}) => fetch(`${gateway.url}/admin/apps${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...init.headers } });
  const statsOf = async (name) => (await admin(`/${name}`)).json();

  before(async () => {
    receiver = await startReceiver();
    HR.webhook.url = receiver.url;
    auditReceiver = await startReceiver();
    auditReceiver.healthy = true;
    oaReceiver = await startReceiver();
    ROUTED.destinations.audit.webhook.url = auditReceiver.url;
    ROUTED.destinations.oa.webhook.url = oaReceiver.url;
    gateway = await startGateway({ apps: { hr: HR, tickets: TICKETS, routed: ROUTED }, adminToken: ADMIN_TOKEN });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await gateway?.stop();
    await receiver?.close();
    await auditReceiver?.close();
    await oaReceiver?.close();
  });

  test("is served from static assets with strict headers; the API beside it keeps working", async () => {
    for (const [path, type] of [
      ["/admin", "text/html"],
      ["/admin/app.js", "text/javascript"],
      ["/admin/app.css", "text/css"],
      ["/admin/icon.svg", "image/svg+xml"],
    ]) {
      const response = await fetch(`${gateway.url}${path}`, { redirect: "manual" });
      assert.equal(response.status, 200, path);
      assert.ok(response.headers.get("content-type").startsWith(type), `${path}: ${response.headers.get("content-type")}`);
      assert.equal(response.headers.get("content-security-policy"), CSP, path);
      assert.equal(response.headers.get("x-frame-options"), "DENY", path);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff", path);
      assert.equal(response.headers.get("referrer-policy"), "no-referrer", path);
      assert.equal(response.headers.get("cache-control"), path === "/admin" ? "no-store" : "no-cache", path);
      const body = await response.text();
      if (type === "text/html") {
        assert.doesNotMatch(body, /<script(?![^>]*\bsrc=)[^>]*>/, "no inline script");
        assert.doesNotMatch(body, /\sstyle=|<style/, "no inline style");
      }
    }
    // One redirect to the canonical /admin, never a loop.
    for (const path of ["/admin/", "/admin.html"]) {
      const response = await fetch(`${gateway.url}${path}`, { redirect: "manual" });
      assert.equal(response.status, 307, path);
      assert.equal(response.headers.get("location"), "/admin", path);
    }
    // What names no file goes on to the Worker: the admin API (behind its token), callbacks, 404s.
    assert.equal((await fetch(`${gateway.url}/admin/apps`)).status, 401);
    assert.equal((await fetch(`${gateway.url}/admin/apps`, { headers: { authorization: "Bearer wrong-token-wrong-token" } })).status, 401);
    assert.equal((await admin("")).status, 200);
    assert.equal((await fetch(`${gateway.url}/_headers`)).status, 404);
    assert.equal((await fetch(`${gateway.url}/admin/nothing.js`)).status, 404);
    assert.equal((await fetch(`${gateway.url}/healthz`)).status, 200);
  });

  test("logs in, shows a dead letter byte for byte, replays it, pauses and resumes; refuses a wrong token", async () => {
    // A callback whose push fails once: with maxAttempts 1 it is a dead letter at once.
    assert.deepEqual(await sendCallback(gateway, "hr", HR, textMessage(CONTENT, MSG_ID)), { status: 200, text: "success" });
    await until("the dead letter", async () => (await statsOf("hr")).dead === 1);
    // A forged callback: refused, and kept among the app's recent refusals.
    assert.equal((await sendCallback(gateway, "hr", HR, textMessage("forged", "1"), { badSignature: true })).status, 401);
    await until("the refusal", async () => (await (await admin("/hr/refusals")).json()).refusals.length === 1);
    // Two events waiting for a pull consumer, so that the overview has an oldest event to show.
    for (const msgId of ["900001", "900002"]) assert.equal((await sendCallback(gateway, "tickets", TICKETS, textMessage("工单", msgId))).status, 200);

    const { context, page, problems, requested } = await openPage(browser);
    try {
      const document = await page.goto(`${gateway.url}/admin`);
      assert.equal(document.headers()["content-security-policy"], CSP);
      await page.locator("#login").waitFor();

      // (1) A wrong token is refused, and nothing is kept.
      await page.fill("#token", "not-the-admin-token-0123456789");
      await page.click("#sign-in");
      await page.locator("#login-error").waitFor();
      assert.equal(await page.textContent("#login-error"), "Wrong admin token: the gateway refused it.");
      assert.equal(await page.evaluate(() => sessionStorage.length), 0);
      assert.equal(await page.isVisible("#overview"), false);

      // (2) The right token: in sessionStorage only, never in a URL, and the field is gone.
      await page.fill("#token", ADMIN_TOKEN);
      await page.press("#token", "Enter");
      const hr = page.locator('[data-app="hr"]');
      await hr.waitFor();
      assert.equal(await page.evaluate(() => sessionStorage.getItem("wecom-edge.adminToken")), ADMIN_TOKEN);
      assert.equal(await page.evaluate(() => localStorage.length), 0);
      assert.equal(await page.isVisible("#login"), false);
      assert.equal(await page.inputValue("#token"), "");

      // (3) The app's stats: one dead letter, and why.
      assert.equal(await hr.locator('[data-stat="dead"] .value').textContent(), "1");
      assert.equal(await hr.locator('[data-stat="delivered"] .value').textContent(), "0");
      const lastError = hr.locator('[data-field="last-error"]');
      assert.equal(await lastError.getAttribute("data-state"), "failing");
      assert.match(await lastError.textContent(), /^attempt 1: webhook answered 503 — \d+ s ago$/);
      assert.equal(await lastError.locator(".error").count(), 1, "shown as an error");
      assert.equal(await hr.locator('[data-field="last-delivered"]').textContent(), "never");
      assert.match(await hr.locator('[data-field="credentials"]').textContent(), /current: 1 \(last \d+ s ago\)/);
      const tickets = page.locator('[data-app="tickets"]');
      assert.equal(await tickets.locator('[data-stat="queued"] .value').textContent(), "2");
      assert.match(await tickets.locator('[data-stat="oldest"] .value').textContent(), /^\d+ s$/);

      // (4) The dead letter's event JSON, exactly the bytes the admin API keeps.
      await hr.locator('[data-fold="dead"] > summary').click();
      const row = hr.locator("tr[data-dead]");
      const id = await row.getAttribute("data-dead");
      await row.locator('[data-action="show"]').click();
      const shown = await hr.locator(`tr[data-event="${id}"] pre`).textContent();
      const stored = Buffer.from(await (await admin(`/hr/dead/${encodeURIComponent(id)}`)).arrayBuffer());
      assert.deepEqual(Buffer.from(shown, "utf8"), stored);
      assert.ok(shown.includes(`"MsgId":"${MSG_ID}"`), shown);
      assert.ok(shown.includes(JSON.stringify(CONTENT).slice(1, -1)), "the content, as text");
      assert.equal(await page.locator("#apps b").count(), 0, "event JSON is never markup");

      // (7) The forged callback under recent refusals.
      await hr.locator('[data-fold="refusals"] > summary').click();
      const refusal = hr.locator("tr[data-refusal]");
      assert.equal(await refusal.count(), 1);
      assert.match(await refusal.textContent(), /POST.*-40001/);
      // The likely cause: the command in it is a <code> element, no backtick is left.
      const hint = refusal.locator('[data-field="hint"]');
      assert.equal(await hint.textContent(), SIGNATURE_HINT);
      assert.deepEqual(await hint.locator("code").allTextContents(), ["npx wecom-edge diagnose"]);
      assert.ok(!(await page.locator("#apps").textContent()).includes("`"), "no literal backtick on the page");

      // (5) The webhook is back: replay, and the page shows the event delivered.
      receiver.healthy = true;
      const before = receiver.bodies.length;
      await row.locator('[data-action="replay"]').click();
      await page.locator("#notice", { hasText: "Replayed 1 dead letter of hr" }).waitFor();
      await until("the page to show the event delivered", async () => {
        const [delivered, dead] = await Promise.all([hr.locator('[data-stat="delivered"] .value').textContent(), hr.locator('[data-stat="dead"] .value').textContent()]);
        if (delivered === "1" && dead === "0") return true;
        await page.click("#refresh");
        return false;
      });
      assert.ok(receiver.bodies.length > before);
      assert.deepEqual(receiver.bodies.at(-1), stored, "the receiver got the same bytes");
      // The webhook has recovered: the last error stays, as past, no longer in red.
      await until("the last error shown as past", async () => {
        if ((await lastError.getAttribute("data-state")) === "recovered") return true;
        await page.click("#refresh");
        return false;
      });
      assert.match(await lastError.textContent(), /^recovered attempt 1: webhook answered 503 — \d+ s ago, delivered since$/);
      assert.equal(await lastError.locator(".error").count(), 0, "no longer shown as an error");
      assert.match(await hr.locator('[data-field="last-delivered"]').textContent(), /^\d+ s ago$/);
      const stats = await statsOf("hr");
      assert.ok(Date.parse(stats.lastDeliveredAt) > Date.parse(stats.lastError.at), JSON.stringify(stats));

      // (6) Pause and resume pushing.
      await hr.locator('[data-action="pause"]').click();
      await hr.locator('[data-field="paused"]').waitFor();
      assert.equal((await statsOf("hr")).paused, true);
      await hr.locator('[data-action="resume"]').click();
      await hr.locator('[data-field="paused"]').waitFor({ state: "detached" });
      assert.equal((await statsOf("hr")).paused, false);
      assert.equal(await tickets.locator('[data-action="pause"]').count(), 0, "a pull app has nothing to pause");

      // Signing out forgets the token.
      await page.click("#sign-out");
      await page.locator("#login").waitFor();
      assert.equal(await page.evaluate(() => sessionStorage.length), 0);
      assert.equal(await page.locator('[data-app="hr"]').count(), 0);

      // The token never went into a URL.
      assert.ok(requested.length > 5);
      assert.deepEqual(requested.filter((url) => url.includes(ADMIN_TOKEN)), []);
      assert.ok(!page.url().includes(ADMIN_TOKEN));

      // (8) No CSP violation, no page error, no console error along the way but
      // Chromium's own note of the one 401 the wrong token got...
      assert.deepEqual(problems.filter((p) => !/^console error: Failed to load resource: .* status of 401/.test(p)), []);
      assert.ok(problems.length <= 1, problems.join("\n"));
      // ...and the policy is really enforced. Trusted Types first: no script text can be set
      // from a string, no policy can be made to turn one into script text, and an inline
      // script put together from a text node is refused all the same.
      const injected = await page.evaluate(async () => {
        const seen = [];
        const three = new Promise((done) =>
          document.addEventListener("securitypolicyviolation", (e) => seen.push(e.effectiveDirective) === 3 && done()),
        );
        const outcomes = {};
        try {
          document.createElement("script").textContent = "window.inlineRan = true";
          outcomes.textContent = "assigned";
        } catch (error) {
          outcomes.textContent = error.name;
        }
        try {
          trustedTypes.createPolicy("any", { createScript: (s) => s });
          outcomes.policy = "created";
        } catch (error) {
          outcomes.policy = error.name;
        }
        const script = document.createElement("script");
        script.append(document.createTextNode("window.inlineRan = true"));
        document.head.append(script);
        await Promise.race([three, new Promise((done) => setTimeout(done, 2000))]);
        return { ...outcomes, ran: window.inlineRan === true, seen };
      });
      assert.deepEqual(injected, {
        textContent: "TypeError",
        policy: "TypeError",
        ran: false,
        seen: ["require-trusted-types-for", "trusted-types", "require-trusted-types-for"],
      });
    } finally {
      await context.close();
    }
  });

  test("shows an app's destinations: their rows, pause and resume of one, its dead letter byte for byte, replay; the unrouted counts", async () => {
    // A text message: audit takes it, oa fails it once, so it is oa's dead letter. A click: no destination takes it.
    assert.deepEqual(await sendCallback(gateway, "routed", ROUTED, textMessage(CONTENT, "900100")), { status: 200, text: "success" });
    await until("audit's delivery and oa's dead letter", async () => {
      const { destinations } = await statsOf("routed");
      return destinations.find((d) => d.name === "audit").delivered === 1 && destinations.find((d) => d.name === "oa").dead === 1;
    });
    assert.deepEqual(await sendCallback(gateway, "routed", ROUTED, clickEvent("menu-1")), { status: 200, text: "success" });
    assert.deepEqual((await statsOf("routed")).unrouted, { "event/click": 1 });

    const { context, page, problems, requested } = await openPage(browser);
    try {
      await page.goto(`${gateway.url}/admin`);
      await page.fill("#token", ADMIN_TOKEN);
      await page.click("#sign-in");
      const routed = page.locator('[data-app="routed"]');
      await routed.waitFor();

      // The app's figures: its event held once (oa's dead letter), bot stream bytes, the unrouted counts.
      assert.equal(await routed.locator('.app-head [data-field="mode"]').textContent(), "push");
      assert.equal(await routed.locator('[data-stat="events"] .value').textContent(), "1");
      assert.equal(await routed.locator('[data-stat="stream-bytes"] .value').textContent(), "0 B");
      assert.equal(await routed.locator('[data-stat="delivered"] .value').textContent(), "1");
      assert.equal(await routed.locator('[data-stat="dead"] .value').textContent(), "1");
      assert.equal(await routed.locator('[data-field="unrouted"]').textContent(), "event/click: 1");
      assert.equal(await routed.locator('[data-unrouted="event/click"] .mono').textContent(), "event/click");
      assert.equal(await page.locator('[data-app="hr"] [data-field="unrouted"]').textContent(), "none");
      assert.equal(await page.locator('[data-app="hr"] tr[data-destination]').count(), 0, "an app of one default destination has no table of it");

      // One row per destination, in the configuration's order.
      assert.deepEqual(await routed.locator("tr[data-destination]").evaluateAll((rows) => rows.map((r) => r.dataset.destination)), ["audit", "oa"]);
      const row = (name) => routed.locator(`tr[data-destination="${name}"]`);
      const field = (name, f) => row(name).locator(`[data-field="${f}"]`).textContent();
      const cells = async (name) =>
        Object.fromEntries(
          await Promise.all(["name", "mode", "ordered", "rate", "health", "paused", "depth", "queued", "leased", "retrying", "delivered", "dead", "oldest", "last-delivered"].map(async (f) => [f, await field(name, f)])),
        );
      const audit = await cells("audit");
      assert.match(audit["last-delivered"], /^\d+ s ago$/);
      assert.deepEqual(
        { ...audit, "last-delivered": "…" },
        { name: "audit", mode: "push", ordered: "yes", rate: "—", health: "up", paused: "no", depth: "0", queued: "0", leased: "0", retrying: "0", delivered: "1", dead: "0", oldest: "—", "last-delivered": "…" },
      );
      assert.equal(await row("audit").locator('[data-field="last-error"]').getAttribute("data-state"), "none");
      assert.deepEqual(await cells("oa"), {
        name: "oa", mode: "push", ordered: "no", rate: "5/s · 2 at once", health: "up", paused: "no", depth: "0", queued: "0", leased: "0", retrying: "0", delivered: "0", dead: "1", oldest: "—", "last-delivered": "never",
      });
      assert.equal(await row("oa").locator('[data-field="health"]').getAttribute("data-state"), "up");
      const oaError = row("oa").locator('[data-field="last-error"]');
      assert.equal(await oaError.getAttribute("data-state"), "failing");
      assert.match(await oaError.textContent(), /^attempt 1: webhook answered 503 — \d+ s ago$/);
      assert.equal(await oaError.locator(".error").count(), 1);

      // Pause oa alone, then resume it: audit and the app are not paused.
      await row("oa").locator('[data-action="pause"]').click();
      await page.locator("#notice", { hasText: "Pushing to routed → oa is paused; its events keep queueing." }).waitFor();
      await row("oa").locator('[data-action="resume"]').waitFor();
      assert.equal(await field("oa", "paused"), "paused");
      assert.equal(await field("audit", "paused"), "no");
      assert.deepEqual((await statsOf("routed")).destinations.map((d) => [d.name, d.paused]), [["audit", false], ["oa", true]]);
      assert.equal(await routed.locator('.app-head [data-field="paused"]').count(), 0, "the app is paused only when every destination is");
      await row("oa").locator('[data-action="resume"]').click();
      await page.locator("#notice", { hasText: "Pushing to routed → oa resumed." }).waitFor();
      await row("oa").locator('[data-action="pause"]').waitFor();
      assert.equal(await field("oa", "paused"), "no");
      assert.deepEqual((await statsOf("routed")).destinations.map((d) => [d.name, d.paused]), [["audit", false], ["oa", false]]);

      // oa's dead letters, from …/destinations/oa/dead, and the event JSON byte for byte from …/destinations/oa/dead/{id}.
      assert.equal(await row("audit").locator('[data-action="dead"]').count(), 0, "audit has none");
      await row("oa").locator('[data-action="dead"]').click();
      const fold = routed.locator('[data-fold="destination-dead"][data-destination="oa"]');
      const letter = fold.locator("tr[data-dead]");
      await letter.waitFor();
      assert.equal(await fold.evaluate((e) => e.open), true);
      assert.equal(await letter.count(), 1);
      const id = await letter.getAttribute("data-dead");
      await letter.locator('[data-action="show"]').click();
      const shown = await fold.locator(`tr[data-event="${id}"] pre`).textContent();
      const stored = Buffer.from(await (await admin(`/routed/destinations/oa/dead/${encodeURIComponent(id)}`)).arrayBuffer());
      assert.deepEqual(Buffer.from(shown, "utf8"), stored);
      assert.ok(shown.includes('"MsgId":"900100"'), shown);
      assert.ok(requested.some((url) => url.endsWith(`/admin/apps/routed/destinations/oa/dead/${id}`)), "read from the destination's path");
      assert.equal(await page.locator("#apps b").count(), 0, "event JSON is never markup");
      // The app's own list names each dead letter's destination.
      await routed.locator('[data-fold="dead"] > summary').click();
      assert.equal(await routed.locator('[data-fold="dead"] tr[data-dead] [data-label="destination"]').textContent(), "oa");

      if (SCREENSHOT) {
        await routed.evaluate((e) => window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 14));
        await page.mouse.move(0, 0);
        await page.screenshot({ path: resolve(ROOT, SCREENSHOT), fullPage: false });
      }

      // oa is back: replay all of its dead letters, after a confirmation.
      oaReceiver.healthy = true;
      await fold.locator('[data-action="replay-all"]').click();
      assert.equal(await page.textContent("#confirm-text"), "Put all 1 dead letter of routed → oa back in the queue?");
      await page.click("#confirm-ok");
      await page.locator("#notice", { hasText: "Replayed 1 dead letter of routed → oa: due now." }).waitFor();
      await until("oa's delivery on the page", async () => {
        if ((await field("oa", "delivered")) === "1" && (await field("oa", "dead")) === "0") return true;
        await page.click("#refresh");
        return false;
      });
      assert.deepEqual(oaReceiver.bodies.at(-1), stored, "oa got the same bytes");
      assert.equal(await auditReceiver.bodies.length, 1, "audit got the event once, and not again");
      assert.equal(await fold.count(), 0, "no dead letters of oa left to show");
      await until("oa's last error shown as past", async () => {
        if ((await oaError.getAttribute("data-state")) === "recovered") return true;
        await page.click("#refresh");
        return false;
      });

      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test("fits a phone: at 390 px nothing runs off the side, and the likely cause is readable", async () => {
    // A dead letter and a refusal of hr's, so that both tables have rows.
    receiver.healthy = false;
    const dead = (await statsOf("hr")).dead;
    assert.deepEqual(await sendCallback(gateway, "hr", HR, textMessage("手机上看", "900390")), { status: 200, text: "success" });
    await until("the dead letter", async () => (await statsOf("hr")).dead === dead + 1);
    assert.equal((await sendCallback(gateway, "hr", HR, textMessage("forged", "2"), { badSignature: true })).status, 401);

    const { context, page, problems } = await openPage(browser, { width: 390, height: 844 });
    /** Elements whose right edge is past the viewport's, or whose own content is wider than they are. */
    const overflowing = () =>
      page.evaluate(() =>
        [...document.querySelectorAll("body *")]
          .filter((e) => e.getClientRects().length > 0)
          .filter((e) => e.getBoundingClientRect().right > 390.5 || (getComputedStyle(e).overflowX !== "visible" && e.scrollWidth > e.clientWidth + 1))
          .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ""}.${e.className}: right ${Math.round(e.getBoundingClientRect().right)}, scrollWidth ${e.scrollWidth} > ${e.clientWidth}`),
      );
    try {
      await page.goto(`${gateway.url}/admin`);
      await page.locator("#login").waitFor();
      assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 390, "the sign-in form fits");
      assert.deepEqual(await overflowing(), []);
      await page.fill("#token", ADMIN_TOKEN);
      await page.click("#sign-in");
      const hr = page.locator('[data-app="hr"]');
      await hr.waitFor();
      await hr.locator('[data-fold="dead"] > summary').click();
      await hr.locator('[data-fold="refusals"] > summary').click();
      const hint = hr.locator('tr[data-refusal] [data-field="hint"]').first();
      await hint.waitFor();

      assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 390, "no horizontal overflow of the page");
      assert.deepEqual(await overflowing(), []);
      // The likely cause is on screen, whole, in the width of the phone, and labelled.
      await hint.scrollIntoViewIfNeeded();
      assert.ok(await hint.isVisible());
      assert.equal(await hint.textContent(), SIGNATURE_HINT);
      const box = await hint.boundingBox();
      assert.ok(box.x >= 0 && box.x + box.width <= 390, JSON.stringify(box));
      assert.equal(await hint.evaluate((e) => getComputedStyle(e, "::before").content), '"likely cause: "');
      // The table's header row is hidden: each row is a card of labelled lines.
      assert.equal(await hr.locator('[data-fold="refusals"] thead').isVisible(), false);
      assert.ok(await hr.locator('tr[data-dead] [data-action="replay"]').first().isVisible());
      // The destinations table too: each destination a card of labelled lines, its actions on screen.
      const routed = page.locator('[data-app="routed"]');
      assert.equal(await routed.locator("table.destinations thead").isVisible(), false);
      const oa = routed.locator('tr[data-destination="oa"]');
      assert.equal(await oa.locator('[data-field="rate"]').evaluate((e) => getComputedStyle(e, "::before").content), '"rate: "');
      await oa.locator('[data-action="pause"]').scrollIntoViewIfNeeded();
      const pause = await oa.locator('[data-action="pause"]').boundingBox();
      assert.ok(pause.x >= 0 && pause.x + pause.width <= 390, JSON.stringify(pause));

      await page.mouse.move(0, 0);
      await page.screenshot({ path: PHONE_SCREENSHOT, fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      receiver.healthy = true;
    }
  });

  test("says so when the admin API is off", async () => {
    const off = await startGateway({ apps: { hr: HR } });
    const { context, page, problems } = await openPage(browser);
    try {
      await page.goto(`${off.url}/admin`);
      await page.fill("#token", ADMIN_TOKEN);
      await page.click("#sign-in");
      await page.locator("#login-error").waitFor();
      // The gateway's own advice, for a gateway on this machine: .dev.vars, not wrangler secret put.
      assert.equal(
        await page.textContent("#login-error"),
        "The admin API is off: ADMIN_TOKEN is not set; add a line ADMIN_TOKEN=<16-512 visible characters> to .dev.vars and restart wrangler dev",
      );
      assert.equal(await page.evaluate(() => sessionStorage.length), 0);
      assert.deepEqual(problems.filter((p) => !/status of 503/.test(p)), []);
    } finally {
      await context.close();
      await off.stop();
    }
  });

  test("says that a malformed token was not sent, and shows a broken WECOM_ALERTS", async () => {
    const broken = await startGateway({
      apps: { hr: HR },
      adminToken: ADMIN_TOKEN,
      secrets: { WECOM_ALERTS: JSON.stringify({ webhook: { url: "https://ops.example.com/alerts", secret: "not-a-SECRET" } }) },
    });
    const { context, page, problems, requested } = await openPage(browser);
    try {
      await page.goto(`${broken.url}/admin`);
      await page.locator("#login").waitFor();
      // A space inside: no bearer token can hold it, so it never leaves the page.
      await page.fill("#token", "two words");
      await page.click("#sign-in");
      await page.locator("#login-error").waitFor();
      assert.equal(
        await page.textContent("#login-error"),
        "That cannot be an admin token: it may hold only visible ASCII characters, without spaces. It was not sent.",
      );
      assert.deepEqual(requested.filter((url) => url.includes("/admin/apps")), []);

      await page.fill("#token", ADMIN_TOKEN);
      await page.click("#sign-in");
      const banner = page.locator('[data-problem="alerts"]');
      await banner.waitFor();
      assert.equal(
        await banner.textContent(),
        "WECOM_ALERTS cannot be used, no alert is sent: WECOM_ALERTS.webhook.secret must be a Standard Webhooks secret: whsec_ followed by base64",
      );
      assert.equal(await banner.getAttribute("class"), "banner error");
      assert.ok(!(await page.content()).includes("not-a-SECRET"));
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      await broken.stop();
    }
  });
});

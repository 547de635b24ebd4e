// The wecom-edge admin page (docs/operating.md, "Admin page"): plain browser JavaScript,
// no framework, no build step. Everything it shows comes from the admin API
// of this origin, with the token the operator entered, kept in sessionStorage
// only (never in a URL, never in localStorage or a cookie).
//
// Every value is put into the page with textContent and DOM APIs, never
// innerHTML: event JSON and refusal reasons come from the outside world.

const TOKEN_KEY = "wecom-edge.adminToken";
const AUTO_REFRESH_MS = 10_000;
const DEAD_LIMIT = 100;

const $ = (id) => document.getElementById(id);

/** The token of this tab's session, or null when signed out. */
let token = null;
/** The refresh under way, if any: refreshes never overlap. */
let refreshing = null;
/** Set when a refresh is asked for while one runs. */
let stale = false;
/** Whether the notice shows why the last refresh failed (cleared by the next one that works). */
let refreshFailed = false;
let timer = null;

/**
 * What the operator opened, kept across refreshes: `refusals:hr`, `dead:hr`,
 * `destination-dead:hr\noa`, `event:hr\n\nevt_…` (a dead letter of the app's
 * list), `event:hr\noa\nevt_…` (one of destination oa's).
 */
const open = new Set();
/** Event JSON of dead letters already fetched, by `app\ndestination\nid` (destination "" for the app's list): a dead letter's event never changes. */
const eventText = new Map();

// ---- small helpers ----

/** An element with properties (class, text, title, hidden, dataset, on…) and children (nodes or text). */
function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") element.className = value;
    else if (key === "text") element.textContent = value;
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else element[key] = value;
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** A duration in seconds, in words a person reads at a glance: `45 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`. */
export function humanAge(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  if (s < 86400) return `${Math.floor(s / 3600)} h${Math.floor(s / 60) % 60 ? ` ${Math.floor(s / 60) % 60} min` : ""}`;
  return `${Math.floor(s / 86400)} d${Math.floor(s / 3600) % 24 ? ` ${Math.floor(s / 3600) % 24} h` : ""}`;
}

function ago(iso) {
  const at = Date.parse(iso);
  return Number.isNaN(at) ? String(iso) : `${humanAge((Date.now() - at) / 1000)} ago`;
}

/** A time as the page shows it: relative, with the exact ISO time on hover. */
function when(iso) {
  return h("time", { dateTime: iso, title: iso, text: ago(iso) });
}

function humanBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * Text whose `code spans` (between backticks, as the gateway's hints and
 * advice write commands) become <code> elements: an array of text and nodes
 * for h(). Text with an odd number of backticks is kept as it is.
 */
export function withCode(text) {
  const parts = String(text).split("`");
  if (parts.length % 2 === 0) return [String(text)];
  return parts.map((part, i) => (i % 2 === 1 ? h("code", { text: part }) : part)).filter((part) => part !== "");
}

/** The first letter in upper case: the gateway's messages start in lower case, to follow a colon. */
const sentence = (text) => String(text).charAt(0).toUpperCase() + String(text).slice(1);

// ---- the admin API ----

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** A call to the admin API with a token; answers the Response, or throws an ApiError for any non-2xx. */
async function call(method, path, { body, bearer = token } = {}) {
  const headers = { authorization: `Bearer ${bearer}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
    redirect: "error",
  });
  if (response.ok) return response;
  let code = "";
  let message = `${response.status} ${response.statusText}`;
  try {
    const error = (await response.json()).error;
    if (error) ({ code, message } = { code: String(error.code), message: String(error.message) });
  } catch {}
  throw new ApiError(response.status, code, message);
}

const json = async (method, path, options) => (await call(method, path, options)).json();
const appPath = (app, rest = "") => `/admin/apps/${encodeURIComponent(app)}${rest}`;
/** A path of the app's, or under /destinations/{d}/ when `destination` is given: the same actions, for that destination alone. */
const scopePath = (app, destination, rest = "") =>
  destination === undefined ? appPath(app, rest) : appPath(app, `/destinations/${encodeURIComponent(destination)}${rest}`);
/** How notices name what was acted on: `hr`, or `hr → oa` for a destination. */
const scopeName = (app, destination) => (destination === undefined ? app : `${app} → ${destination}`);
/** The key of a dead letter's event JSON in `eventText` (and, after `event:`, in `open`). */
const eventKey = (app, destination, id) => `${app}\n${destination ?? ""}\n${id}`;
const destinationDeadKey = (app, destination) => `destination-dead:${app}\n${destination}`;

/** Visible ASCII only: anything else cannot be a bearer token, and fetch would refuse it as a header. */
const plausibleToken = (value) => /^[\x21-\x7e]{1,1024}$/.test(value);

// ---- signing in and out ----

/** `message`: text, or an array of text and nodes (see withCode). */
function showLogin(message) {
  $("session").hidden = true;
  $("overview").hidden = true;
  $("login").hidden = false;
  const error = $("login-error");
  error.replaceChildren(...(message ? [message].flat() : []));
  error.hidden = !message;
  $("token").focus();
}

async function signIn(event) {
  event.preventDefault();
  const input = $("token");
  const candidate = input.value.trim();
  input.value = "";
  if (candidate === "") return showLogin("Enter the admin token.");
  if (!plausibleToken(candidate)) return showLogin("That cannot be an admin token: it may hold only visible ASCII characters, without spaces. It was not sent.");
  $("sign-in").disabled = true;
  try {
    await call("GET", "/admin/apps", { bearer: candidate });
    token = candidate;
    sessionStorage.setItem(TOKEN_KEY, candidate);
    await enter();
  } catch (error) {
    showLogin(refusalText(error));
  } finally {
    $("sign-in").disabled = false;
  }
}

/** What the login form says when the admin API refuses a token. */
function refusalText(error) {
  if (error instanceof ApiError && error.status === 401) return "Wrong admin token: the gateway refused it.";
  // The gateway's own advice: it names .dev.vars when it runs locally, `wrangler secret put` otherwise.
  if (error instanceof ApiError && error.status === 503 && error.code === "not_configured") return withCode(sentence(error.message));
  if (error instanceof ApiError) return `The gateway answered ${error.status}: ${error.message}`;
  return `The gateway cannot be reached: ${error.message}`;
}

function signOut(message) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(timer);
  timer = null;
  open.clear();
  eventText.clear();
  $("apps").replaceChildren();
  $("problems").replaceChildren();
  notice(null);
  showLogin(message);
}

async function enter() {
  $("login").hidden = true;
  $("login-error").hidden = true;
  $("session").hidden = false;
  $("overview").hidden = false;
  await refresh();
  clearInterval(timer);
  timer = setInterval(() => {
    if (token !== null && !document.hidden && !$("confirm").open) refresh();
  }, AUTO_REFRESH_MS);
}

// ---- notices and confirmations ----

function notice(text, kind = "ok") {
  const element = $("notice");
  element.hidden = !text;
  element.textContent = text ?? "";
  element.className = `banner ${kind}`;
}

/** Handles a failed call: a token no longer accepted signs out, anything else is shown. */
function failed(error) {
  if (error instanceof ApiError && error.status === 401) {
    signOut("The admin token is no longer accepted. Sign in again.");
    return;
  }
  notice(error instanceof ApiError ? `${error.message} (${error.status}${error.code ? ` ${error.code}` : ""})` : `The gateway cannot be reached: ${error.message}`, "error");
}

/** A modal question; resolves true only for the confirm button. */
function confirmAction(text, label) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = label;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

// ---- the overview ----

/** Reloads everything shown. A call while one runs makes it run once more when it ends, so an action's result is never missed. */
async function refresh() {
  if (token === null) return;
  if (refreshing) {
    stale = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      stale = false;
      await refreshOnce();
    } while (stale && token !== null);
  })();
  try {
    await refreshing;
  } finally {
    refreshing = null;
  }
}

async function refreshOnce() {
  try {
    const list = await json("GET", "/admin/apps");
    const apps = await Promise.all(
      list.apps.map(async (stats) => {
        // A destination's dead letters are fetched while their fold is open.
        const destinations = stats.destinations ?? [];
        const [refusals, dead, ...destinationDead] = await Promise.all([
          json("GET", appPath(stats.app, "/refusals")),
          stats.dead > 0 ? json("GET", appPath(stats.app, `/dead?limit=${DEAD_LIMIT}`)) : { events: [] },
          ...destinations.map((d) =>
            d.dead > 0 && open.has(destinationDeadKey(stats.app, d.name))
              ? json("GET", scopePath(stats.app, d.name, `/dead?limit=${DEAD_LIMIT}`))
              : { events: d.dead > 0 ? undefined : [] },
          ),
        ]);
        const byDestination = new Map(destinations.map((d, i) => [d.name, destinationDead[i].events]));
        return { stats, refusals: refusals.refusals, dead: dead.events, destinationDead: byDestination };
      }),
    );
    // The event JSON of dead letters opened before: fetched once, as text, byte for byte.
    await Promise.all(
      apps.flatMap(({ stats, dead, destinationDead }) => [
        ...dead.filter((d) => open.has(`event:${eventKey(stats.app, undefined, d.id)}`)).map((d) => loadEvent(stats.app, undefined, d.id)),
        ...[...destinationDead].flatMap(([name, letters]) =>
          (letters ?? []).filter((d) => open.has(`event:${eventKey(stats.app, name, d.id)}`)).map((d) => loadEvent(stats.app, name, d.id)),
        ),
      ]),
    );
    if (token === null) return;
    render(list, apps);
    $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
    if (refreshFailed) notice(null);
    refreshFailed = false;
  } catch (error) {
    failed(error);
    refreshFailed = token !== null;
  }
}

/**
 * One dead letter's event JSON as stored: `response.text()`, never JSON.parse
 * (a 20-digit number keeps its digits). From the app's dead letters, or with
 * `destination`, from that destination's (…/destinations/{d}/dead/{id}).
 */
async function loadEvent(app, destination, id) {
  const key = eventKey(app, destination, id);
  if (!eventText.has(key)) eventText.set(key, await (await call("GET", scopePath(app, destination, `/dead/${encodeURIComponent(id)}`))).text());
  return eventText.get(key);
}

function render(list, apps) {
  const problems = [];
  if (list.configError) {
    problems.push(h("div", { class: "banner error" }, h("strong", { text: "The configuration cannot be loaded: " }), ...withCode(list.configError)));
  }
  if (list.alertsError) {
    problems.push(h("div", { class: "banner error", dataset: { problem: "alerts" } }, h("strong", { text: "WECOM_ALERTS cannot be used, no alert is sent: " }), list.alertsError));
  }
  const invalid = Object.entries(list.invalidApps ?? {});
  if (invalid.length > 0) {
    problems.push(
      h(
        "div",
        { class: "banner warn" },
        h("strong", { text: `${plural(invalid.length, "app")} cannot serve:` }),
        h("ul", {}, invalid.map(([name, why]) => h("li", {}, h("code", { text: name }), ": ", withCode(why)))),
      ),
    );
  }
  $("problems").replaceChildren(...problems);
  $("apps").replaceChildren(...(apps.length > 0 ? apps.map(appCard) : [h("p", { class: "card empty", text: "No apps and no queues yet." })]));
}

function stat(name, label, value, alert = false) {
  return h("div", { class: `stat${alert ? " alert" : ""}`, dataset: { stat: name } }, h("dt", { text: label }), h("dd", { class: "value", text: value }));
}

function appCard({ stats, refusals, dead, destinationDead }) {
  const app = stats.app;
  const push = stats.mode === "push" || stats.mode === "mixed";
  const destinations = stats.destinations ?? [];
  const down = destinations.filter((d) => d.health === "down").length;
  const head = h(
    "div",
    { class: "app-head" },
    h("h2", { text: app }),
    h("span", { class: "badge", dataset: { field: "mode" }, text: stats.mode ?? "no mode" }),
    stats.paused && h("span", { class: "badge paused", dataset: { field: "paused" }, text: "paused" }),
    !stats.configured && h("span", { class: "badge removed", text: "no longer configured" }),
    down > 0 && h("span", { class: "badge down", dataset: { field: "down" }, text: `${plural(down, "destination")} down` }),
    h("span", { class: "spacer" }),
    (push || stats.paused) &&
      h("button", {
        type: "button",
        dataset: { action: stats.paused ? "resume" : "pause" },
        text: stats.paused ? "Resume pushing" : "Pause pushing",
        onclick: (e) => act(e.currentTarget, () => json("POST", appPath(app, stats.paused ? "/resume" : "/pause")), (r) => (r.paused ? `Pushing is paused for ${app}; events keep queueing.` : `Pushing resumed for ${app}.`)),
      }),
  );

  const tiles = h(
    "dl",
    { class: "stats" },
    stat("depth", "depth", stats.depth),
    stat("queued", "queued", stats.queued),
    stat("leased", push ? "in flight" : "leased", stats.leased),
    push && stat("retrying", "retrying", stats.retrying),
    stat("delivered", "delivered", stats.delivered),
    stat("dead", "dead", stats.dead, stats.dead > 0),
    stat("oldest", "oldest event", stats.oldestAgeSeconds === null ? "—" : humanAge(stats.oldestAgeSeconds)),
    stats.events !== undefined && stat("events", "events held", stats.events),
    stat("bytes", "held", humanBytes(stats.bytes)),
    stats.streamBytes !== undefined && stat("stream-bytes", "bot streams", humanBytes(stats.streamBytes)),
    stats.refreshes > 0 && stat("refreshes", "bot refreshes", stats.refreshes),
  );

  const facts = h(
    "dl",
    { class: "facts" },
    h("dt", { text: "last error" }),
    h("dd", ...lastError(stats)),
    h("dt", { text: "last delivered" }),
    h("dd", { dataset: { field: "last-delivered" } }, stats.lastDeliveredAt ? when(stats.lastDeliveredAt) : "never"),
    h("dt", { text: "callbacks" }),
    h(
      "dd",
      { dataset: { field: "credentials" } },
      stats.credentials.length === 0
        ? "none yet"
        : stats.credentials.map((c, i) => [
            i > 0 ? " · " : "",
            h("span", { class: "mono", text: c.name ?? `retired ${c.id}` }),
            `: ${c.callbacks}`,
            c.lastCallbackAt ? [" (last ", when(c.lastCallbackAt), ")"] : "",
          ]),
    ),
    stats.unrouted !== undefined && [h("dt", { text: "unrouted" }), unroutedFact(stats.unrouted)],
    // A sharded app (docs/sharding.md): the figures above add its queues up; each is in the admin API as {app}.{i}.
    Array.isArray(stats.shards) && stats.shards.length > 1 && [
      h("dt", { text: "shards" }),
      h("dd", { dataset: { field: "shards" }, title: "the queues this app's events are spread over; GET /admin/apps/{app}.{i} shows one" }, `${stats.shards.length}: `, h("span", { class: "mono", text: stats.shards.join(", ") })),
    ],
    stats.kfCoalesced > 0 && [
      h("dt", { text: "微信客服 coalesced" }),
      h("dd", { dataset: { field: "kf-coalesced" }, title: "kf_msg_or_event callbacks folded into a waiting event of their account (docs/kf.md)" }, String(stats.kfCoalesced)),
    ],
  );

  // An app of one destination, `default` (a top-level webhook or pull), is the figures above: no table of one row.
  const onlyDefault = destinations.length === 1 && destinations[0].name === "default" && destinations[0].configured;
  return h(
    "section",
    { class: "card app", dataset: { app } },
    head,
    tiles,
    facts,
    destinations.length > 0 && !onlyDefault && destinationsPart(app, destinations, destinationDead),
    deadFold({ app, dead, total: stats.dead, byDestination: destinations.length > 1 || !onlyDefault }),
    refusalFold(app, refusals),
  );
}

/** Events that matched no destination, by kind, the most first: `event/click: 3 · text: 1`. */
function unroutedFact(unrouted) {
  const kinds = Object.entries(unrouted).sort(([a, m], [b, n]) => n - m || (a < b ? -1 : 1));
  if (kinds.length === 0) return h("dd", { dataset: { field: "unrouted" } }, "none");
  return h(
    "dd",
    { dataset: { field: "unrouted" }, title: "events that matched no destination: answered success, counted, not kept" },
    kinds.map(([kind, n], i) => [i > 0 ? " · " : "", h("span", { dataset: { unrouted: kind } }, h("span", { class: "mono", text: kind }), `: ${n}`)]),
  );
}

/**
 * The last failed attempt, as [props, ...children] for a dd or td. An event
 * delivered after it means the webhook has recovered: the error is shown as
 * past, not in red ("… 12 min ago, delivered since").
 */
function lastError(stats, props = {}) {
  const error = stats.lastError;
  const at = (state) => ({ ...props, dataset: { ...props.dataset, field: "last-error", state } });
  if (!error) return [at("none"), "none"];
  const recovered = stats.lastDeliveredAt !== null && stats.lastDeliveredAt !== undefined && Date.parse(stats.lastDeliveredAt) > Date.parse(error.at);
  if (!recovered) return [at("failing"), h("span", { class: "error", text: error.message }), " — ", when(error.at)];
  return [at("recovered"), h("span", { class: "badge ok", text: "recovered" }), " ", h("span", { class: "muted", text: error.message }), " — ", when(error.at), ", delivered since"];
}

/** `5/s · 2 at once`, or — without a rate. */
function rateText(rate) {
  if (!rate) return "—";
  const parts = [rate.perSecond != null && `${rate.perSecond}/s`, rate.maxInFlight != null && `${rate.maxInFlight} at once`].filter(Boolean);
  return parts.length > 0 ? parts.join(" · ") : "—";
}

/** The app's destinations: a table of their figures and actions, then each one's dead letters. */
function destinationsPart(app, destinations, destinationDead) {
  const cell = (label, field, ...content) => h("td", { dataset: { label, field } }, ...content);
  const rows = destinations.map((d) => {
    const push = d.mode === "push";
    const actions = h(
      "td",
      { class: "actions" },
      (push || d.paused) &&
        h("button", {
          type: "button",
          class: "small",
          dataset: { action: d.paused ? "resume" : "pause" },
          text: d.paused ? "Resume" : "Pause",
          onclick: (e) =>
            act(
              e.currentTarget,
              () => json("POST", scopePath(app, d.name, d.paused ? "/resume" : "/pause")),
              (r) => (r.paused ? `Pushing to ${scopeName(app, d.name)} is paused; its events keep queueing.` : `Pushing to ${scopeName(app, d.name)} resumed.`),
            ),
        }),
      d.dead > 0 &&
        h("button", {
          type: "button",
          class: "small",
          dataset: { action: "dead" },
          text: "Dead letters",
          onclick: () => {
            const key = destinationDeadKey(app, d.name);
            open.add(key);
            refresh().then(() => document.querySelector(`[data-destination-dead="${CSS.escape(`${app}\n${d.name}`)}"]`)?.scrollIntoView({ block: "nearest" }));
          },
        }),
    );
    return h(
      "tr",
      { dataset: { destination: d.name } },
      h("td", { class: "mono", dataset: { label: "destination", field: "name" } }, d.name, !d.configured && [" ", h("span", { class: "badge removed", text: "no longer configured" })]),
      cell("mode", "mode", d.mode ?? "—"),
      cell("ordered", "ordered", d.ordered ? "yes" : "no"),
      cell("rate", "rate", rateText(d.rate)),
      h(
        "td",
        { class: "nowrap", dataset: { label: "health", field: "health", state: d.health } },
        d.health === "down"
          ? [h("span", { class: "badge down", text: "down" }), d.downSince ? [" since ", when(d.downSince)] : ""]
          : h("span", { class: "badge ok", text: d.health ?? "up" }),
      ),
      cell("paused", "paused", d.paused ? h("span", { class: "badge paused", text: "paused" }) : "no"),
      h("td", { class: "num", dataset: { label: "depth", field: "depth" }, text: d.depth }),
      h("td", { class: "num", dataset: { label: "queued", field: "queued" }, text: d.queued }),
      h("td", { class: "num", dataset: { label: push ? "in flight" : "leased", field: "leased" }, text: d.leased }),
      h("td", { class: "num", dataset: { label: "retrying", field: "retrying" }, text: push ? d.retrying : "—" }),
      h("td", { class: "num", dataset: { label: "delivered", field: "delivered" }, text: d.delivered }),
      h("td", { class: `num${d.dead > 0 ? " error" : ""}`, dataset: { label: "dead", field: "dead" }, text: d.dead }),
      h("td", { class: "nowrap", dataset: { label: "oldest event", field: "oldest" }, text: d.oldestAgeSeconds === null ? "—" : humanAge(d.oldestAgeSeconds) }),
      h("td", ...lastError(d, { class: "last-error", dataset: { label: "last error" } })),
      h("td", { class: "nowrap", dataset: { label: "last delivered", field: "last-delivered" } }, d.lastDeliveredAt ? when(d.lastDeliveredAt) : "never"),
      actions,
    );
  });
  const headers = [
    ["destination"],
    ["mode"],
    ["ordered"],
    ["rate"],
    ["health"],
    ["paused"],
    ["depth"],
    ["queued"],
    ["leased", "pull: leased and not yet acked; push: requests in flight"],
    ["retrying"],
    ["delivered"],
    ["dead"],
    ["oldest", "the age of the oldest undelivered event"],
    ["last error"],
    ["last delivered"],
    [""],
  ];
  const table = h(
    "table",
    { class: "stack destinations" },
    h("thead", {}, h("tr", {}, headers.map(([text, title]) => h("th", { text, title })))),
    h("tbody", {}, rows),
  );
  return h(
    "div",
    { class: "destinations-part" },
    h("h3", { text: `Destinations (${destinations.length})` }),
    h("div", { class: "wide" }, table),
    destinations
      .filter((d) => d.dead > 0)
      .map((d) =>
        deadFold({
          app,
          destination: d.name,
          dead: destinationDead.get(d.name),
          total: d.dead,
        }),
      ),
  );
}

/** A fold whose open state survives refreshes; `onOpen` runs when the operator opens it. */
function fold(key, summary, content = [], { name = key.split(":")[0], dataset = {}, onOpen } = {}) {
  const details = h("details", { dataset: { fold: name, ...dataset } }, h("summary", {}, ...summary), ...content);
  details.open = open.has(key);
  details.addEventListener("toggle", () => {
    if (!details.open) return open.delete(key);
    const opened = !open.has(key);
    open.add(key);
    if (opened) onOpen?.();
  });
  return details;
}

/**
 * Dead letters: the app's (every destination's, each naming its own when
 * `byDestination`), or with `destination` that destination's, with the
 * actions of its path. `dead` is undefined while they are not fetched yet
 * (a destination's are fetched while its fold is open).
 */
function deadFold({ app, destination, dead, total, byDestination = false }) {
  const key = destination === undefined ? `dead:${app}` : destinationDeadKey(app, destination);
  const title = destination === undefined ? "Dead letters" : `Dead letters of ${destination}`;
  const where = scopeName(app, destination);
  const options = destination === undefined ? {} : { name: "destination-dead", dataset: { destination, destinationDead: `${app}\n${destination}` }, onOpen: () => refresh() };
  if (total === 0) return fold(key, [title, h("span", { class: "muted", text: "none" })], [], options);
  if (dead === undefined) return fold(key, [title, h("span", { class: "muted", text: String(total) })], [h("p", { class: "muted", text: "Loading…" })], options);
  const columns = byDestination ? 6 : 5;
  const rows = dead.flatMap((letter) => {
    const textKey = eventKey(app, destination, letter.id);
    const shown = open.has(`event:${textKey}`) && eventText.has(textKey);
    const row = h(
      "tr",
      { dataset: { dead: letter.id } },
      h("td", { class: "mono", dataset: { label: "id" }, text: letter.id }),
      byDestination && h("td", { class: "mono", dataset: { label: "destination" }, text: letter.destination ?? "" }),
      h("td", { class: "nowrap", dataset: { label: "received" } }, when(letter.receivedAt)),
      h("td", { dataset: { label: "attempts" }, text: letter.attempts }),
      h("td", { class: "error", dataset: { label: "last error" }, text: letter.lastError ?? "" }),
      h(
        "td",
        { class: "actions" },
        h("button", { type: "button", class: "small", dataset: { action: "show" }, text: shown ? "Hide event" : "Show event", onclick: (e) => toggleEvent(e.currentTarget, app, destination, letter.id) }),
        " ",
        h("button", {
          type: "button",
          class: "small",
          dataset: { action: "replay" },
          text: "Replay",
          onclick: (e) => act(e.currentTarget, () => json("POST", scopePath(app, destination, "/replay"), { body: { ids: [letter.id] } }), (r) => `Replayed ${plural(r.replayed, "dead letter")} of ${where}: due now.`),
        }),
        " ",
        h("button", {
          type: "button",
          class: "small danger",
          dataset: { action: "purge" },
          text: "Purge",
          onclick: async (e) => {
            const button = e.currentTarget;
            if (await confirmAction(`Delete dead letter ${letter.id} of ${where} for good?`, "Purge")) {
              act(button, () => json("POST", scopePath(app, destination, "/purge"), { body: { ids: [letter.id] } }), (r) => `Purged ${plural(r.purged, "dead letter")} of ${where}.`);
            }
          },
        }),
      ),
    );
    if (!shown) return [row];
    const text = eventText.get(textKey);
    const detail = h(
      "tr",
      { class: "event-row", dataset: { event: letter.id } },
      h("td", { class: "event", colSpan: columns }, h("pre", { class: "event-json", text }), h("div", { class: "muted", text: `event JSON as stored, ${humanBytes(new TextEncoder().encode(text).length)}` })),
    );
    return [row, detail];
  });
  const bulk = h(
    "div",
    { class: "row fold-actions" },
    h("button", {
      type: "button",
      dataset: { action: "replay-all" },
      text: "Replay all",
      onclick: async (e) => {
        const button = e.currentTarget;
        if (await confirmAction(`Put all ${plural(total, "dead letter")} of ${where} back in the queue?`, "Replay all")) {
          act(button, () => json("POST", scopePath(app, destination, "/replay"), { body: { all: true } }), (r) => `Replayed ${plural(r.replayed, "dead letter")} of ${where}: due now.`);
        }
      },
    }),
    h("button", {
      type: "button",
      class: "danger",
      dataset: { action: "purge-all" },
      text: "Purge all…",
      onclick: async (e) => {
        const button = e.currentTarget;
        if (await confirmAction(`Delete all ${plural(total, "dead letter")} of ${where} for good? This cannot be undone.`, "Purge all")) {
          act(button, () => json("POST", scopePath(app, destination, "/purge"), { body: { all: true } }), (r) => `Purged ${plural(r.purged, "dead letter")} of ${where}.`);
        }
      },
    }),
    dead.length < total && h("span", { class: "muted", text: `showing the oldest ${dead.length}` }),
  );
  const table = h(
    "table",
    { class: "stack" },
    h("thead", {}, h("tr", {}, ["id", byDestination && "destination", "received", "attempts", "last error", ""].filter((t) => t !== false).map((t) => h("th", { text: t })))),
    h("tbody", {}, rows),
  );
  return fold(key, [title, h("span", { class: "muted", text: String(total) })], [bulk, h("div", { class: "scroll" }, table)], options);
}

function refusalFold(app, refusals) {
  const key = `refusals:${app}`;
  if (refusals.length === 0) return fold(key, ["Recent refusals", h("span", { class: "muted", text: "none" })]);
  const table = h(
    "table",
    { class: "stack" },
    h("thead", {}, h("tr", {}, ["when", "method", "code", "reason", "likely cause"].map((t) => h("th", { text: t })))),
    h(
      "tbody",
      {},
      refusals.map((r) =>
        h(
          "tr",
          { dataset: { refusal: "" } },
          h("td", { class: "nowrap", dataset: { label: "when" } }, when(r.at)),
          h("td", { dataset: { label: "method" }, text: r.method }),
          h("td", { class: "mono", dataset: { label: "code" }, text: String(r.code) }),
          h("td", { dataset: { label: "reason" }, text: r.reason }),
          h("td", { class: "muted hint", dataset: { label: "likely cause", field: "hint" } }, withCode(r.hint ?? "")),
        ),
      ),
    ),
  );
  return fold(key, ["Recent refusals", h("span", { class: "muted", text: String(refusals.length) })], [h("div", { class: "scroll" }, table)]);
}

async function toggleEvent(button, app, destination, id) {
  const key = `event:${eventKey(app, destination, id)}`;
  if (open.has(key)) {
    open.delete(key);
    return refresh();
  }
  button.disabled = true;
  try {
    await loadEvent(app, destination, id);
    open.add(key);
    await refresh();
  } catch (error) {
    failed(error);
  } finally {
    button.disabled = false;
  }
}

/** Runs an action, says what it did, and refreshes now and once more shortly (a replayed event is pushed within moments). */
async function act(button, run, describe) {
  button.disabled = true;
  try {
    notice(describe(await run()));
    await refresh();
    setTimeout(refresh, 1500);
  } catch (error) {
    failed(error);
  } finally {
    button.disabled = false;
  }
}

// ---- start ----

function start() {
  $("login-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut());
  $("refresh").addEventListener("click", () => refresh());
  $("confirm-ok").addEventListener("click", () => $("confirm").close("ok"));
  $("confirm-cancel").addEventListener("click", () => $("confirm").close("cancel"));
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && token !== null) refresh();
  });
  const kept = sessionStorage.getItem(TOKEN_KEY);
  if (kept === null) return showLogin();
  token = kept;
  // A kept token is checked again: the gateway's ADMIN_TOKEN may have changed.
  call("GET", "/admin/apps").then(enter, (error) => (error instanceof ApiError && error.status === 401 ? signOut("The admin token is no longer accepted. Sign in again.") : enter()));
}

start();

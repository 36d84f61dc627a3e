// OfficeSync node dashboard: plain JS, no build step. Pairs like a workstation, then reads the
// LAN API (/api/v1) through api.js (loaded first) and follows the event WebSocket live.
"use strict";

// The page's words, both languages, from the node's one catalogue (agent/dashboard/texts.py),
// loaded before anything is shown.
let TEXTS = { vi: {}, en: {} };

async function loadTexts() {
  const response = await fetch("static/texts.json", { headers: { Accept: "application/json" } });
  TEXTS = await response.json();
}

const STATES = ["synced", "pending", "syncing", "error", "conflict", "blocked"];
const COLLECTIONS = ["vouchers", "customers", "vendors", "items", "accounts", "sales_orders"];
const LANG_KEY = "officesync.dashboard.lang";
const PAGE_SIZE = 100;
const REFRESH_DELAY_MS = 150;

const ui = {
  // The browser's own choice (the toggle), else the node's [node] language once /info says it.
  lang: localStorage.getItem(LANG_KEY) === "en" ? "en" : "vi",
  info: null,
  datasets: [],
  dataset: null,
  collection: "vouchers",
  stateFilter: "",
  search: "",
  next: null,
  summary: null,
  connMessage: null,
  ws: null,
  wsRetry: 500,
  refreshTimer: null,
  reachable: true, // false from the moment the node or this browser's link is gone
  syncRun: null, // what the last "Sync now" saw: {pushed, pulled}
};
const MAX_RETRY_MS = 5000;
const SYNC_WATCH_MS = 8000;
const SYNC_POLL_MS = 300;

const $ = (id) => document.getElementById(id);
const t = (key) => TEXTS[ui.lang][key];

// --- API (api.js: api(), ApiError, Api) --------------------------------------------------

const dsPath = (suffix) => "/datasets/" + encodeURIComponent(ui.dataset) + suffix;

// --- rendering helpers -------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value;
    else if (name.startsWith("data-")) node.setAttribute(name, value);
    else node[name] = value;
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

function badge(state) {
  return el("span", { class: "badge", "data-state": state }, t("state")[state] || state);
}

function formatTime(iso) {
  if (!iso) return t("never");
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return iso;
  return when.toLocaleString(ui.lang === "vi" ? "vi-VN" : "en-GB");
}

function formatAmount(value) {
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  return n.toLocaleString(ui.lang === "vi" ? "vi-VN" : "en-US") + " ₫";
}

function describe(record) {
  const data = record.data || {};
  if (record.collection === "vouchers") {
    const total = (data.lines || []).reduce((sum, line) => sum + Number(line.amount || 0), 0);
    const parts = [t("voucher_type")[data.type] || data.type, data.date];
    if (data.description) parts.push(data.description);
    parts.push(formatAmount(total));
    if (data.posted) parts.push(t("posted"));
    return parts.filter(Boolean).join(" · ");
  }
  if (record.collection === "sales_orders") return [data.date, (data.lines || []).length + " ×"].join(" · ");
  const parts = [data.name];
  if (data.tax_code) parts.push("MST " + data.tax_code);
  if (data.unit) parts.push(data.unit);
  if (data.price !== undefined && data.price !== null) parts.push(formatAmount(data.price));
  return parts.filter(Boolean).join(" · ");
}

function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}

function clearError() {
  $("error").hidden = true;
}

async function guarded(action) {
  try {
    clearError();
    await action();
  } catch (err) {
    if (err instanceof ApiError && err.code === "NETWORK") {
      setReachable(false); // the banner says it; the page catches up once back
      return;
    }
    showError(err instanceof ApiError ? err.message : String(err));
  }
}

// The node (or this browser's network) is gone: say so at once, grey what is shown as
// possibly stale, and let the event socket's reconnection bring it all back.
function setReachable(on) {
  if (ui.reachable === on) return;
  ui.reachable = on;
  $("conn-lost").hidden = on;
  $("main-view").classList.toggle("stale", !on);
  $("stale-note").hidden = on;
  if (!on) connectEvents();
}

// --- static texts ------------------------------------------------------------------------

function applyTexts() {
  document.documentElement.lang = ui.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.getAttribute("data-i18n"));
  }
  $("lang-toggle").textContent = t("lang_toggle");
  const filter = $("state-filter");
  filter.replaceChildren(el("option", { value: "" }, t("all_states")),
    ...STATES.map((s) => el("option", { value: s }, t("state")[s])));
  filter.value = ui.stateFilter;
  if (!$("pair-name").value || $("pair-name").value === TEXTS[ui.lang === "vi" ? "en" : "vi"].pair_default_name) {
    $("pair-name").value = t("pair_default_name");
  }
  renderTabs();
  renderDatasets();
  renderLive();
}

function renderTabs() {
  $("collections").replaceChildren(...COLLECTIONS.map((name) => {
    const tab = el("button", { type: "button", class: "tab", "data-collection": name },
      t("collections")[name]);
    tab.setAttribute("aria-pressed", String(name === ui.collection));
    tab.addEventListener("click", () => { ui.collection = name; renderTabs(); guarded(loadRecords); });
    return tab;
  }));
}

function renderDatasets() {
  const select = $("dataset");
  select.replaceChildren(...ui.datasets.map((d) => el("option",
    { value: d.id, disabled: !d.connected },
    d.connected ? d.id : d.id + " (" + t("not_connected") + ")")));
  if (ui.dataset) select.value = ui.dataset;
}

function renderLive() {
  const live = $("live");
  const on = ui.ws && ui.ws.readyState === WebSocket.OPEN;
  live.dataset.state = on ? "on" : "off";
  live.textContent = Api.paired() ? t(on ? "live_on" : "live_off") : "";
}

// --- views -------------------------------------------------------------------------------

function showPair(message) {
  $("main-view").hidden = true;
  $("forget").hidden = true;
  $("pair-view").hidden = false;
  if (message) showError(message);
  $("pair-code").focus();
}

function unpair(message) {
  Api.forget();
  if (ui.ws) ui.ws.close();
  ui.ws = null;
  renderLive();
  showPair(message);
}

async function pair(event) {
  event.preventDefault();
  await guarded(async () => {
    await Api.pair($("pair-code").value.trim(), $("pair-name").value.trim());
    $("pair-code").value = "";
    await start();
  });
}

async function start() {
  $("pair-view").hidden = true;
  $("main-view").hidden = false;
  $("forget").hidden = false;
  const answer = await api("GET", "/datasets");
  ui.datasets = answer.datasets;
  const connected = ui.datasets.filter((d) => d.connected);
  if (!ui.dataset || !connected.some((d) => d.id === ui.dataset)) {
    ui.dataset = connected.length ? connected[0].id : null;
  }
  renderDatasets();
  connectEvents();
  await refreshAll();
}

async function refreshAll() {
  if (!Api.paired() || !ui.dataset) return;
  await Promise.all([loadSummary(), loadIssues(), loadRecords()]);
}

async function loadSummary() {
  ui.summary = await api("GET", dsPath("/sync"));
  renderSummary();
}

function renderSummary() {
  const s = ui.summary;
  if (!s) return;
  $("conn-dot").dataset.state = s.connectivity;
  $("conn-title").textContent = t("conn")[s.connectivity] || s.connectivity;
  const fromEvent = ui.connMessage && ui.connMessage.connectivity === s.connectivity
    ? ui.connMessage.message[ui.lang] : null;
  $("conn-message").textContent = fromEvent || t("conn_message")[s.connectivity] || "";
  $("online-toggle").textContent = t(s.online ? "online_on" : "online_off");
  $("online-switch").checked = Boolean(s.online);
  $("online-switch").setAttribute("aria-checked", String(Boolean(s.online)));
  const check = s.selfcheck || {};
  $("selfcheck").textContent = check.message
    ? t("selfcheck") + ": " + (check.message[ui.lang] || check.message.en) : "";
  $("selfcheck").dataset.state = check.state || "never";
  // A first download: its progress, as the node words it in both languages.
  // Then, for a minute or so, the search indexes taking in what it brought.
  const shown = s.download || s.search_backlog;
  $("download").textContent = shown
    ? (shown.message[ui.lang] || shown.message.en) : "";
  $("last-push").textContent = t("last_push") + ": " + formatTime(s.last_push_at);
  $("last-pull").textContent = t("last_pull") + ": " + formatTime(s.last_pull_at);
  renderDatasetState(s);
  $("counts").replaceChildren(...STATES.map((state) => {
    const tile = el("button", { type: "button", class: "count", "data-state": state },
      el("span", { class: "count-n" }, s.counts[state] || 0),
      el("span", { class: "count-label" }, t("state")[state]));
    tile.setAttribute("aria-pressed", String(ui.stateFilter === state));
    tile.addEventListener("click", () => setFilter(ui.stateFilter === state ? "" : state));
    return tile;
  }));
}

async function loadIssues() {
  const answer = await api("GET", dsPath("/sync/issues"));
  const items = answer.items;
  $("issues-count").textContent = items.length;
  $("issues-count").dataset.zero = String(items.length === 0);
  $("issues-empty").hidden = items.length > 0;
  $("issues-table").hidden = items.length === 0;
  ui.issues = items;
  $("issues-body").replaceChildren(...items.map((r) => {
    return el("tr", { "data-id": r.id, "data-state": r.sync.state },
      el("td", {}, t("collections")[r.collection] || r.collection),
      el("td", { class: "key" }, recordLink(r, shownKey(r))),
      el("td", {}, badge(r.sync.state)),
      el("td", { class: "reason" }, r.sync.message || "", blockerLink(r)),
      el("td", { class: "code" }, r.sync.code || ""),
      el("td", { class: "resolve" }, ...issueButtons(r)));
  }));
  refreshSettle(items); // issues.js: the open settle panel follows the list
}

// A link that opens a record's view (record.js), e.g. #/record/cty-abc/customers/<id>.
function recordHash(ds, collection, id) {
  return "#/record/" + [ds, collection, id].map(encodeURIComponent).join("/");
}

function recordLink(r, text) {
  return el("a", { href: recordHash(ui.dataset, r.collection, r.id), class: "record-link" }, text);
}

// A blocked record names what it waits for: a link to that record.
function blockerLink(r) {
  const by = r.sync.blocked_by;
  if (r.sync.state !== "blocked" || !by || !by.collection) return null;
  return el("span", { class: "blocker" }, " ", t("waits_for") + ": ",
    el("a", { href: recordHash(ui.dataset, by.collection, by.id), class: "blocker-link" },
      by.name || by.key || by.id));
}


function recordsQuery(after) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (ui.stateFilter) params.set("sync_state", ui.stateFilter);
  if (ui.search) params.set("q", ui.search);
  if (after) params.set("after", after);
  return dsPath("/records/" + encodeURIComponent(ui.collection) + "?" + params);
}

// A voucher's key is "type/number"; the type is already in its details.
const shownKey = (r) => (r.collection === "vouchers" && r.data && r.data.number) || r.key;

function recordRow(r) {
  const row = el("tr", { "data-id": r.id, "data-state": r.sync.state, class: "clickable" },
    el("td", { class: "key" }, recordLink(r, shownKey(r))),
    el("td", {}, describe(r)),
    el("td", {}, badge(r.sync.state)),
    el("td", { class: "muted" }, formatTime(r.updated_at)));
  row.addEventListener("click", (event) => {
    if (event.target.closest("a")) return; // the link itself navigates
    location.hash = recordHash(ui.dataset, r.collection, r.id);
  });
  return row;
}

async function loadRecords() {
  if (!ui.dataset) return;
  const page = await api("GET", recordsQuery(null));
  ui.next = page.next;
  $("records-body").replaceChildren(...page.items.map(recordRow));
  $("records-empty").hidden = page.items.length > 0;
  $("more").hidden = !ui.next;
}

async function loadMore() {
  const page = await api("GET", recordsQuery(ui.next));
  ui.next = page.next;
  $("records-body").append(...page.items.map(recordRow));
  $("more").hidden = !ui.next;
}

function setFilter(state) {
  ui.stateFilter = state;
  $("state-filter").value = state;
  renderSummary();
  guarded(loadRecords);
}

// The dataset's own sync state beside connectivity: refused by the hub, or failing.
function renderDatasetState(s) {
  const box = $("dataset-sync");
  const bad = s.state === "refused" || s.state === "failing";
  box.hidden = !bad;
  box.dataset.state = bad ? s.state : "ok";
  if (!bad) return;
  $("dataset-sync-title").textContent = t("dataset_state")[s.state]
    + (s.code ? " (" + s.code + ")" : "");
  $("dataset-sync-message").textContent = s.message ? s.message[ui.lang] : "";
}

// "Sync now" always says what happened: synced N (sent and received), nothing to sync,
// still syncing, or why nothing could sync (offline by choice, no cloud, cloud unreachable).
function syncSay(text, state) {
  const box = $("sync-result");
  box.textContent = text;
  box.dataset.state = state;
  box.hidden = false;
}

async function syncNow() {
  const button = $("sync-now");
  if (button.disabled) return;
  button.disabled = true;
  try {
    await guarded(async () => {
      ui.syncRun = { pushed: 0, pulled: 0 };
      syncSay(t("sync_running"), "running");
      try {
        await api("POST", dsPath("/sync"));
      } catch (err) {
        if (err instanceof ApiError && err.status === 409) {
          syncSay(fmtText(t("sync_cannot"), { why: err.message }), "refused");
          return;
        }
        throw err;
      }
      await watchSync(Date.now());
    });
  } finally {
    button.disabled = false;
    ui.syncRun = null;
  }
}

async function watchSync(started) {
  for (;;) {
    const s = await api("GET", dsPath("/sync"));
    ui.summary = s;
    renderSummary();
    const left = (s.counts.pending || 0) + (s.counts.syncing || 0);
    const failed = (s.counts.error || 0) + (s.counts.conflict || 0) + (s.counts.blocked || 0);
    const tail = failed ? fmtText(t("sync_issues_left"), { count: failed }) : "";
    if (s.connectivity !== "online") {
      const why = (s.message && s.message[ui.lang]) || t("conn_message")[s.connectivity] || "";
      syncSay(fmtText(t("sync_cannot"), { why: t("conn")[s.connectivity] + ". " + why }), "refused");
      return;
    }
    if (s.state && s.state !== "ok") {
      syncSay(fmtText(t("sync_cannot"), { why: s.message ? s.message[ui.lang] : s.state }), "refused");
      return;
    }
    const run = ui.syncRun || { pushed: 0, pulled: 0 };
    const waited = Date.now() - started;
    if (left === 0 && (waited > 1000 || run.pushed || run.pulled)) {
      if (run.pushed || run.pulled) {
        syncSay(fmtText(t("sync_done"), { pushed: run.pushed, pulled: run.pulled }) + tail, "done");
      } else {
        syncSay(t("sync_nothing") + tail, "done");
      }
      return;
    }
    if (waited > SYNC_WATCH_MS) {
      syncSay(fmtText(t("sync_still"), { count: left }) + tail, "running");
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, SYNC_POLL_MS));
  }
}

const fmtText = (text, params) => String(text).replace(/\{(\w+)\}/g,
  (whole, name) => (name in params ? String(params[name]) : whole));

async function setOnline(on) {
  $("sync-result").hidden = true; // what the last "Sync now" said no longer holds
  await guarded(async () => {
    try {
      const state = await api("PUT", "/online", { online: on });
      if (ui.summary) {
        ui.summary = { ...ui.summary, online: state.online, connectivity: state.connectivity };
        ui.connMessage = { connectivity: state.connectivity, message: state.message };
        renderSummary();
      }
    } finally {
      if (ui.summary) $("online-switch").checked = Boolean(ui.summary.online);
    }
    scheduleRefresh();
  });
}

// --- live events -------------------------------------------------------------------------

function scheduleRefresh() {
  if (ui.refreshTimer) return;
  ui.refreshTimer = setTimeout(() => {
    ui.refreshTimer = null;
    guarded(refreshAll);
  }, REFRESH_DELAY_MS);
}

function onEvent(event) {
  if (event.type === "connectivity") {
    ui.connMessage = event;
    scheduleRefresh();
  } else if (event.type === "dataset") {
    guarded(start);
  } else if (event.type === "record" || event.type === "sync") {
    if (event.type === "sync" && ui.syncRun && event.dataset === ui.dataset) {
      if (event.state === "pushed") ui.syncRun.pushed += event.applied || 0;
      if (event.state === "pulled") ui.syncRun.pulled += event.changes || 0;
    }
    if (!event.dataset || event.dataset === ui.dataset) scheduleRefresh();
    if (event.type === "record") recordChanged(event); // record.js: the open record follows
  }
}

function connectEvents() {
  if (!Api.paired() || (ui.ws && ui.ws.readyState <= WebSocket.OPEN)) return;
  const ws = new WebSocket(Api.eventsUrl());
  ui.ws = ws;
  ws.addEventListener("open", () => {
    ui.wsRetry = 500;
    setReachable(true);
    renderLive();
    scheduleRefresh(); // catch up on what happened while disconnected
  });
  ws.addEventListener("message", (msg) => {
    try { onEvent(JSON.parse(msg.data)); } catch (err) { /* not an event: ignore */ }
  });
  ws.addEventListener("close", (ev) => {
    if (ui.ws !== ws) return;
    ui.ws = null;
    renderLive();
    if (ev.code === 1008) { unpair(t("unpaired")); return; }
    if (!Api.paired()) return;
    setReachable(false);
    setTimeout(connectEvents, ui.wsRetry);
    ui.wsRetry = Math.min(ui.wsRetry * 2, MAX_RETRY_MS);
  });
}

// --- start -------------------------------------------------------------------------------

function toggleLanguage() {
  ui.lang = ui.lang === "vi" ? "en" : "vi";
  localStorage.setItem(LANG_KEY, ui.lang);
  // What "Sync now" or a refused action said was worded by the node in the old language:
  // it goes, rather than stay on a page that now speaks the other one.
  $("sync-result").hidden = true;
  clearError();
  applyTexts();
  if (Api.paired()) guarded(refreshAll);
  if (Api.paired()) languageChanged(); // issues.js and record.js: their open panels again
}

async function loadInfo() {
  try {
    ui.info = await api("GET", "/info");
    if (!localStorage.getItem(LANG_KEY) && (ui.info.language === "en" || ui.info.language === "vi")
        && ui.info.language !== ui.lang) {
      ui.lang = ui.info.language;  // a node set to English opens in English
      applyTexts();
      if (Api.paired()) languageChanged();
    }
    $("node-name").textContent = ui.info.name;
    document.title = "OfficeSync — " + ui.info.name;
  } catch (err) {
    showError(err.message);
  }
}

async function init() {
  try {
    await loadTexts();
  } catch (err) {  // the node went away between the page and its texts: say it both ways
    document.body.textContent = "Không kết nối được với máy chủ OfficeSync. / "
      + "Cannot reach the OfficeSync server.";
    return;
  }
  Api.configure({
    lang: () => ui.lang,
    onUnauthorized: () => unpair(t("unpaired")),
    networkMessage: () => t("network_error"),
  });
  $("lang-toggle").addEventListener("click", toggleLanguage);
  $("forget").addEventListener("click", () => unpair(null));
  $("error-close").addEventListener("click", clearError);
  $("pair-form").addEventListener("submit", pair);
  $("sync-now").addEventListener("click", syncNow);
  $("online-switch").addEventListener("change", (e) => setOnline(e.target.checked));
  window.addEventListener("offline", () => { if (Api.paired()) setReachable(false); });
  window.addEventListener("online", () => connectEvents());
  $("more").addEventListener("click", () => guarded(loadMore));
  $("state-filter").addEventListener("change", (e) => setFilter(e.target.value));
  $("dataset").addEventListener("change", (e) => { ui.dataset = e.target.value; guarded(refreshAll); });
  let searchTimer = null;
  $("search").addEventListener("input", (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { ui.search = e.target.value.trim(); guarded(loadRecords); }, 250);
  });
  applyTexts();
  await loadInfo();
  guarded(async () => {
    if (await Api.restore()) await start();
    else showPair(null);
  });
}

document.addEventListener("DOMContentLoaded", init);

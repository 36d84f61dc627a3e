// OfficeSync dashboard: the screens switch (nav #views), and the Workstations, Datasets and
// Tools views. Loaded after api.js and app.js; uses their helpers ($, el, t, ui, dsPath,
// formatTime, guarded, unpair) and holds no wording of its own (texts.json).
//
// A view is a `.view[data-view=NAME]` block of #main-view with a `.view-tab[data-view=NAME]`
// button in #views; `data-admin` marks what only a browser on the node's own machine may use
// (the node refuses the others with ADMIN_ONLY anyway). confirmDialog(title, text, okLabel)
// is the one confirmation of destructive actions, for every screen.
"use strict";

const JOB_POLL_MS = 400;
const WS_POLL_MS = 5000;
const FINISHED = new Set(["done", "failed", "interrupted"]);
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const admin = {
  view: "overview",
  wsTimer: null,
  pairingTimer: null,
  pairingDeadline: 0,
  workstations: [],
  datasets: [],
  diagUrl: null,
};

const fmt = (text, params) => String(text).replace(/\{(\w+)\}/g,
  (whole, name) => (name in params ? String(params[name]) : whole));
const langText = (pair) => (pair && typeof pair === "object" ? pair[ui.lang] || pair.en : pair || "");

// --- confirmation ------------------------------------------------------------------------

function confirmDialog(title, text, okLabel) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  $("confirm-cancel").textContent = t("cancel");
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    $("confirm-cancel").focus(); // the safe choice is the default one
  });
}

// --- the screens -------------------------------------------------------------------------

function views() {
  return [...document.querySelectorAll("#main-view > .view")];
}

function renderViews() {
  const isAdmin = Api.admin();
  for (const node of document.querySelectorAll("#main-view [data-admin]")) node.hidden = !isAdmin;
  const tab = document.querySelector('.view-tab[data-view="' + admin.view + '"]');
  if (!tab || tab.hidden) admin.view = "overview";
  for (const button of document.querySelectorAll(".view-tab")) {
    const on = button.dataset.view === admin.view;
    button.setAttribute("aria-current", on ? "page" : "false");
  }
  for (const view of views()) view.hidden = view.dataset.view !== admin.view;
}

function showView(name) {
  admin.view = name;
  history.replaceState(null, "", name === "overview" ? location.pathname : "#" + name);
  renderViews();
  viewShown();
}

function viewShown() {
  clearInterval(admin.wsTimer);
  admin.wsTimer = null;
  if (!Api.paired()) return;
  if (admin.view === "workstations") {
    guarded(loadWorkstations);
    admin.wsTimer = setInterval(() => guarded(loadWorkstations), WS_POLL_MS);
  } else if (admin.view === "datasets") {
    guarded(loadDatasets);
  } else if (admin.view === "tools") {
    renderToolForms();
  }
}

// --- workstations ------------------------------------------------------------------------

async function newPairingCode() {
  const answer = await api("POST", "/pairing-code");
  $("pairing-box").hidden = false;
  $("pairing-code").textContent = answer.code;
  $("pairing-qr").src = answer.qr_svg;
  $("pairing-qr").hidden = false;
  $("pairing-qr").alt = t("pairing_qr_alt");
  $("pairing-link").textContent = answer.link;
  $("pairing-link").href = answer.link;
  // the node's own count, so a browser clock that is off does not matter
  admin.pairingDeadline = Date.now() + answer.expires_in_s * 1000;
  clearInterval(admin.pairingTimer);
  admin.pairingTimer = setInterval(tickPairing, 1000);
  tickPairing();
}

function tickPairing() {
  const left = Math.max(0, Math.round((admin.pairingDeadline - Date.now()) / 1000));
  const box = $("pairing-box");
  if (left === 0) {
    clearInterval(admin.pairingTimer);
    box.dataset.expired = "true";
    $("pairing-qr").hidden = true;
    $("pairing-expiry").textContent = t("pairing_expired");
    return;
  }
  delete box.dataset.expired;
  const time = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
  $("pairing-expiry").textContent = fmt(t("pairing_expires_in"), { time });
}

async function loadWorkstations() {
  if (admin.view !== "workstations") return;
  const answer = await api("GET", "/workstations");
  admin.workstations = answer.workstations;
  renderWorkstations();
}

function renderWorkstations() {
  const list = admin.workstations;
  $("ws-count").textContent = list.length;
  const rows = list.map((w) => {
    const name = el("td", { class: "ws-name" }, w.name);
    if (w.current) name.append(" ", el("span", { class: "muted" }, "(" + t("ws_this_browser") + ")"));
    const revoke = el("button", { type: "button", class: "ghost danger-text ws-revoke" }, t("ws_revoke"));
    revoke.addEventListener("click", () => guarded(() => revokeWorkstation(w)));
    return el("tr", { "data-id": w.id, "data-kind": w.kind },
      name,
      el("td", {}, t("ws_kinds")[w.kind] || w.kind),
      el("td", { class: "key" }, w.address || "—"),
      el("td", { class: "muted" }, formatTime(w.created_at)),
      el("td", { class: "muted ws-seen" }, formatTime(w.last_seen)),
      el("td", { class: "actions" }, revoke));
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colSpan: 6, class: "muted" }, t("ws_none"))));
  $("ws-body").replaceChildren(...rows);
}

async function revokeWorkstation(w) {
  let text = fmt(t("ws_revoke_text"), { name: w.name });
  if (w.current) text += " " + t("ws_revoke_self");
  const ok = await confirmDialog(fmt(t("ws_revoke_title"), { name: w.name }), text, t("ws_revoke"));
  if (!ok) return;
  await api("DELETE", "/workstations/" + encodeURIComponent(w.id));
  if (w.current) {
    Api.session = null;
    unpair(null);
    return;
  }
  await loadWorkstations();
}

// --- datasets ----------------------------------------------------------------------------

async function loadDatasets() {
  const answer = await api("GET", "/datasets");
  admin.datasets = answer.datasets;
  renderDatasetsView();
}

function renderDatasetsView() {
  $("ds-body").replaceChildren(...admin.datasets.map((d) => {
    const action = el("button", { type: "button",
      class: d.connected ? "ghost danger-text ds-disconnect" : "primary ds-connect" },
    t(d.connected ? "ds_disconnect" : "ds_connect"));
    action.addEventListener("click", () => guarded(() => changeDataset(d.id, !d.connected)));
    return el("tr", { "data-id": d.id, "data-connected": String(d.connected) },
      el("td", { class: "key" }, d.id),
      el("td", {}, t(d.connected ? "ds_connected" : "ds_disconnected")),
      el("td", { class: "ds-pending" }, d.pending),
      el("td", { class: "actions" }, action));
  }));
}

async function changeDataset(id, connect) {
  if (!connect) {
    await loadDatasets(); // the count as it is now, not as it was when the list was drawn
    const current = admin.datasets.find((d) => d.id === id);
    const pending = current ? current.pending : 0;
    const text = fmt(t(pending ? "ds_disconnect_pending" : "ds_disconnect_none"),
      { dataset: id, pending });
    const ok = await confirmDialog(fmt(t("ds_disconnect_title"), { dataset: id }), text,
      t("ds_disconnect"));
    if (!ok) return;
  }
  const done = await api("POST", "/datasets/" + encodeURIComponent(id)
    + (connect ? "/connect" : "/disconnect"));
  $("ds-result").textContent = langText(done.message);
  $("ds-result").hidden = false;
  await loadDatasets();
}

// --- tools -------------------------------------------------------------------------------

function renderToolForms() {
  const select = $("refresh-collection");
  const chosen = select.value || "customers";
  select.replaceChildren(...COLLECTIONS.map((c) => el("option", { value: c }, t("collections")[c])));
  select.value = chosen;
  const box = $("download-collections");
  const ticked = new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
  box.replaceChildren(box.querySelector("legend"), ...COLLECTIONS.map((c) => el("label",
    { class: "check" }, el("input", { type: "checkbox", value: c, checked: ticked.has(c) }),
    t("collections")[c])));
}

function toolOut(id) {
  const out = $(id);
  out.hidden = false;
  out.dataset.state = "";
  return out;
}

function showToolError(out, err) {
  out.dataset.state = "failed";
  out.replaceChildren(el("p", { class: "tool-error" },
    err instanceof Error ? err.message : String(err)));
}

async function runTool(outId, action) {
  const out = toolOut(outId);
  try {
    await action(out);
  } catch (err) {
    showToolError(out, err);
  }
}

async function refreshRecord(out) {
  const collection = $("refresh-collection").value;
  const value = $("refresh-record").value.trim();
  let id = value;
  if (!UUID_RE.test(value)) {
    const params = new URLSearchParams({ key: value, limit: "1" });
    const page = await api("GET", dsPath("/records/" + encodeURIComponent(collection) + "?" + params));
    if (!page.items.length) {
      throw new Error(fmt(t("tool_not_found"), { key: value, collection: t("collections")[collection] }));
    }
    id = page.items[0].id;
  }
  out.replaceChildren(el("progress", {}));
  const answer = await api("POST", dsPath("/records/" + encodeURIComponent(collection) + "/"
    + encodeURIComponent(id) + "/refresh"));
  out.dataset.state = "done";
  out.replaceChildren(el("p", { class: "tool-summary", "data-outcome": answer.outcome },
    value + ": " + langText(answer.message)));
}

async function startJob(out, path, body) {
  out.replaceChildren(el("progress", {}));
  let job = await api("POST", dsPath(path), body);
  renderJob(out, job);
  while (!FINISHED.has(job.state)) {
    await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
    job = await api("GET", "/jobs/" + encodeURIComponent(job.id));
    renderJob(out, job);
  }
}

function renderJob(out, job) {
  out.dataset.state = job.state;
  out.dataset.job = job.id;
  const { done, total } = job.progress;
  const bar = el("progress", { max: Math.max(total, 1), value: done });
  if (!total && !FINISHED.has(job.state)) bar.removeAttribute("value"); // not counted yet
  const head = el("div", { class: "job-head" },
    el("span", { class: "job-state" }, t("job_state")[job.state] || job.state),
    bar, el("span", { class: "muted" }, total ? fmt(t("job_progress"), { done, total }) : ""));
  const parts = [head];
  const report = job.report;
  if (report) {
    const summary = report.summary || report.message;
    if (summary) parts.push(el("p", { class: "tool-summary" }, langText(summary)));
    if (report.checked !== undefined) {
      parts.push(el("p", { class: "muted report-counts" },
        t("report_checked") + ": " + report.checked + " · " + t("report_fixed") + ": "
        + (report.fixed || 0) + " · " + t("report_needs_person") + ": " + (report.needs_person || 0)));
    }
    const items = report.items || [];
    if (items.length) {
      parts.push(el("div", { class: "table-wrap" }, el("table", { class: "grid report" },
        el("thead", {}, el("tr", {}, el("th", {}, t("col_collection")), el("th", {}, t("col_key")),
          el("th", {}, t("col_outcome")))),
        el("tbody", {}, ...items.map((i) => el("tr", { "data-outcome": i.outcome },
          el("td", {}, t("collections")[i.collection] || i.collection),
          el("td", { class: "key" }, i.key || i.id),
          el("td", {}, langText(i.message))))))));
      if (report.items_total > items.length) {
        parts.push(el("p", { class: "muted" }, fmt(t("report_more"),
          { count: report.items_total - items.length })));
      }
    }
  }
  out.replaceChildren(...parts);
}

function chosenCollections() {
  const ticked = [...$("download-collections").querySelectorAll("input:checked")].map((i) => i.value);
  return ticked.length ? ticked : undefined;
}

async function downloadDiagnostics(out) {
  out.replaceChildren(el("p", {}, t("tool_diag_preparing")), el("progress", {}));
  const file = await apiDownload("/diagnostics", (received, total) => {
    const bar = out.querySelector("progress");
    if (bar && total) { bar.max = total; bar.value = received; }
  });
  if (admin.diagUrl) URL.revokeObjectURL(admin.diagUrl);
  admin.diagUrl = URL.createObjectURL(file.blob);
  const size = file.size >= 1024 * 1024 ? (file.size / 1024 / 1024).toFixed(1) + " MB"
    : Math.max(1, Math.round(file.size / 1024)) + " KB";
  const link = el("a", { href: admin.diagUrl, download: file.name, class: "diag-link" },
    fmt(t("tool_diag_ready"), { name: file.name, size }));
  out.dataset.state = "done";
  out.replaceChildren(el("p", { class: "tool-summary" }, link));
  link.click();
}

// --- start -------------------------------------------------------------------------------

function fillPairingCodeFromLink() {
  const params = new URLSearchParams(location.search);
  const code = params.get("pair");
  if (!code) return;
  $("pair-code").value = code;
  history.replaceState(null, "", location.pathname + location.hash);
}

function initAdmin() {
  fillPairingCodeFromLink();
  const fromHash = location.hash.slice(1);
  if (fromHash) admin.view = fromHash;
  for (const button of document.querySelectorAll(".view-tab")) {
    button.addEventListener("click", () => showView(button.dataset.view));
  }
  $("pairing-new").addEventListener("click", () => guarded(newPairingCode));
  $("refresh-form").addEventListener("submit", (e) => {
    e.preventDefault();
    runTool("refresh-out", refreshRecord);
  });
  $("download-form").addEventListener("submit", (e) => {
    e.preventDefault();
    runTool("download-out", (out) => startJob(out, "/download", { collections: chosenCollections() }));
  });
  $("maint-form").addEventListener("submit", (e) => {
    e.preventDefault();
    runTool("maint-out", (out) => startJob(out, "/maintenance",
      { date_from: $("maint-from").value, date_to: $("maint-to").value }));
  });
  $("diag-button").addEventListener("click", () => runTool("diag-out", downloadDiagnostics));
  // app.js shows #main-view once paired (and hides it when unpaired): the screens follow.
  new MutationObserver(() => {
    if ($("main-view").hidden) {
      clearInterval(admin.wsTimer);
      return;
    }
    renderViews();
    viewShown();
  }).observe($("main-view"), { attributes: true, attributeFilter: ["hidden"] });
  // the language switch (app.js sets <html lang>): redraw what this file drew
  new MutationObserver(() => {
    if ($("main-view").hidden) return;
    if (admin.view === "workstations") { renderWorkstations(); if (admin.pairingTimer) tickPairing(); }
    if (admin.view === "datasets") renderDatasetsView();
    if (admin.view === "tools") renderToolForms();
  }).observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });
}

document.addEventListener("DOMContentLoaded", initAdmin);

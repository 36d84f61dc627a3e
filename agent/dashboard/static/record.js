// OfficeSync dashboard: one record's view and its history, opened from any row or by the
// URL #/record/<dataset>/<collection>/<id>. Loaded after app.js and issues.js (uses $, el, t,
// ui, api, badge, formatTime, shownKey, fieldLabel, shown, guarded); shows the `record` view
// through admin.js's screens when present. No wording of its own: texts.json.
//
// The history (GET …/history) is the hub's: every version with when, which office and which
// workstation made it and what changed. Offline, the node says why and shows its own copy;
// its changes not yet sent are listed either way.
"use strict";

const RECORD_HASH = /^#\/record\/([^/]+)\/([^/]+)\/([^/]+)$/;
const recordView = { open: null, record: null, history: null };

function parseRecordHash() {
  const match = RECORD_HASH.exec(location.hash);
  if (!match) return null;
  const [ds, collection, id] = match.slice(1).map(decodeURIComponent);
  return { ds, collection, id };
}

function showRecordScreen(on) {
  const tab = document.querySelector('.view-tab[data-view="record"]');
  if (tab && on) tab.hidden = false;
  if (typeof admin === "object" && typeof renderViews === "function") {
    admin.view = on ? "record" : (admin.view === "record" ? "overview" : admin.view);
    renderViews();
    return;
  }
  for (const view of document.querySelectorAll("#main-view > .view")) {
    view.hidden = (view.dataset.view === "record") !== on;
  }
}

async function routeRecord() {
  const wanted = parseRecordHash();
  if (!wanted) {
    if (recordView.open) {
      recordView.open = null;
      showRecordScreen(false);
    }
    return;
  }
  if (!Api.paired()) return; // start() routes again once paired
  if (wanted.ds !== ui.dataset && ui.datasets.some((d) => d.id === wanted.ds && d.connected)) {
    ui.dataset = wanted.ds;
    renderDatasets();
  }
  recordView.open = wanted;
  showRecordScreen(true);
  await guarded(loadRecordView);
}

function recordBase(open) {
  return "/datasets/" + encodeURIComponent(open.ds) + "/records/" + encodeURIComponent(open.collection)
    + "/" + encodeURIComponent(open.id);
}

async function loadRecordView() {
  const open = recordView.open;
  if (!open) return;
  const [record, history] = await Promise.all([
    api("GET", recordBase(open)),
    api("GET", recordBase(open) + "/history"),
  ]);
  if (recordView.open !== open) return; // another record was opened meanwhile
  recordView.record = record;
  recordView.history = history;
  renderRecordView();
}

function labelOf(collection, name, history) {
  const fromNode = history && history.labels && history.labels[name];
  return (fromNode && (fromNode[ui.lang] || fromNode.en)) || fieldLabel(collection, name);
}

function renderRecordView() {
  const r = recordView.record;
  const h = recordView.history;
  if (!r) return;
  $("record-heading").textContent = (t("collections")[r.collection] || r.collection) + " " + shownKey(r);
  const badges = [badge(r.sync.state)];
  if (r.collection === "vouchers") {
    const posted = Boolean(r.data.posted);
    badges.push(el("span", { class: "badge posted", "data-posted": String(posted) },
      t(posted ? "record_posted" : "record_unposted")));
  }
  if (r.deleted) badges.push(el("span", { class: "badge", "data-state": "error" }, t("record_deleted")));
  badges.push(el("span", { class: "muted" }, t("record_version") + ": " + (r.version === null ? "—" : r.version)));
  if (r.sync.message) badges.push(el("span", { class: "reason" }, r.sync.message));
  $("record-badges").replaceChildren(...badges);
  $("record-fields").querySelector("tbody").replaceChildren(...Object.entries(r.data).map(([name, value]) =>
    el("tr", { "data-field": name }, el("th", { scope: "row" }, labelOf(r.collection, name, h)),
      el("td", {}, shown(value)))));
  renderHistory(r, h);
}

function renderHistory(r, h) {
  const source = $("history-source");
  source.hidden = !h.message;
  source.textContent = h.message ? (h.message[ui.lang] || h.message.en) : "";
  const versions = h.source === "cloud" ? h.versions : [];
  $("history-empty").hidden = versions.length > 0 || h.source !== "cloud";
  $("history-table").hidden = versions.length === 0;
  // Newest first, as an audit reads it.
  $("history-body").replaceChildren(...[...versions].reverse().map((v) => {
    let changed;
    if (v.deleted) changed = t("history_deleted");
    else if (v.version === 1) changed = t("history_created");
    else changed = v.changed.map((name) => labelOf(r.collection, name, h)).join(", ") || "—";
    return el("tr", { "data-version": String(v.version) },
      el("td", { class: "key" }, v.version),
      el("td", {}, formatTime(v.at)),
      el("td", { class: "office" }, v.node || "—"),
      el("td", { class: "workstation" }, v.workstation || t("unknown_ws")),
      el("td", { class: "changed" }, changed));
  }));
  $("pending-box").hidden = h.pending.length === 0;
  $("pending-list").replaceChildren(...h.pending.map((p) => el("li", {},
    (t("op_action")[p.action] || p.action) + " · " + formatTime(p.at) + " · "
    + (p.workstation || t("unknown_ws")))));
}

// A live event about the open record: read it again (its history may have grown).
function recordChanged(event) {
  const open = recordView.open;
  if (!open || !event.record || event.record.id !== open.id) return;
  guarded(loadRecordView);
}

function initRecordView() {
  window.addEventListener("hashchange", () => routeRecord());
  $("record-back").addEventListener("click", () => {
    if (history.length > 1) history.back();
    else location.hash = "";
  });
  // Leaving through the screens' tabs: the address stops naming the record.
  for (const tab of document.querySelectorAll('.view-tab:not([data-view="record"])')) {
    tab.addEventListener("click", () => { recordView.open = null; });
  }
  // Paired (main view shown): open the record the address names.
  new MutationObserver(() => { if (!$("main-view").hidden) routeRecord(); })
    .observe($("main-view"), { attributes: true, attributeFilter: ["hidden"] });
}

document.addEventListener("DOMContentLoaded", initRecordView);

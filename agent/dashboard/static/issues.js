// OfficeSync dashboard: settling sync issues. Loaded after app.js (uses $, el, t, ui, api,
// dsPath, guarded, loadIssues, shownKey, fmtText) and before admin.js (confirmDialog, used
// when present). No wording of its own: texts.json.
//
// A row of "Records needing attention" offers what its state allows; "Review" opens the
// settle panel (#settle) under the list:
//   conflict  -> base / mine / the cloud's side by side, differing fields highlighted, a
//                mine/cloud choice per clashing field that builds `merge` {choices}; and
//                keep_local, take_cloud, restore / discard (a deletion) as the kind allows
//   duplicate -> the cloud's existing record beside mine: link_existing, rename (new code,
//                or renumber for a voucher), discard
// Destructive actions (take_cloud over my changes, discard, its cascade) ask first and say
// what else they take with them (HAS_DEPENDENTS lists the dependents).
"use strict";

const settle = { id: null, collection: null };

const recordPath = (collection, id, suffix) => dsPath("/records/" + encodeURIComponent(collection)
  + "/" + encodeURIComponent(id) + (suffix || ""));

function fieldLabel(collection, name) {
  const labels = (t("fields") || {})[collection] || {};
  return labels[name] || name;
}

function recordName(r) {
  return (t("collections")[r.collection] || r.collection) + " " + shownKey(r);
}

function isDuplicate(r) {
  return r.sync.state === "error" && r.sync.code === "DUPLICATE_KEY";
}

// The buttons of one issue row.
function issueButtons(r) {
  const buttons = [];
  if (r.sync.state === "conflict" || isDuplicate(r)) {
    const open = el("button", { type: "button", class: "settle-open primary" }, t("review"));
    open.addEventListener("click", () => guarded(() => openSettle(r)));
    buttons.push(open);
  }
  if (r.sync.state === "conflict") {
    buttons.push(actionButton(r, "keep_local"), actionButton(r, "take_cloud"));
  } else if (r.sync.state === "error" && r.version === null) {
    buttons.push(actionButton(r, "discard"));
  }
  return buttons;
}

function actionButton(r, action, label, body) {
  const danger = action === "discard" || action === "take_cloud";
  const look = danger ? " danger-ghost" : (action === "merge" || action === "link_existing" ? " primary" : "");
  const button = el("button", { type: "button", class: "resolve-" + action + look },
    label || t(action));
  button.addEventListener("click", () => guarded(() => resolveRecord(r, action, body ? body() : {})));
  return button;
}

async function ask(text, okLabel) {
  if (typeof confirmDialog === "function") return confirmDialog(t("confirm_title"), text, okLabel);
  return window.confirm(text);
}

// Send a resolution; a destructive one is confirmed first, and a discard refused because
// other records depend on it asks again, listing them, before taking them along.
async function resolveRecord(r, action, extra) {
  const name = recordName(r);
  if (action === "take_cloud" && !(await ask(fmtText(t("confirm_take_cloud"), { name }), t("take_cloud")))) return;
  if (action === "discard" && !(await ask(fmtText(t("confirm_discard"), { name }), t("discard")))) return;
  const body = { action, ...extra };
  try {
    await api("POST", recordPath(r.collection, r.id, "/resolve"), body);
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== "HAS_DEPENDENTS" || body.cascade) throw err;
    const dependents = (err.details.dependents || []).map((d) =>
      (d.name && (d.name[ui.lang] || d.name.en)) || d.key || d.id);
    const text = fmtText(t("confirm_cascade"), { name, count: dependents.length })
      + "\n• " + dependents.join("\n• ");
    if (!(await ask(text, t("discard")))) return;
    await api("POST", recordPath(r.collection, r.id, "/resolve"), { ...body, cascade: true });
  }
  closeSettle();
  $("sync-result").hidden = false;
  $("sync-result").dataset.state = "done";
  $("sync-result").textContent = fmtText(t("settled"), { name });
  await loadIssues();
}

// The language changed: the open panel (and the open record) again, in the new one.
function languageChanged() {
  const open = settle.id && (ui.issues || []).find((r) => r.id === settle.id);
  if (open) guarded(() => openSettle(open));
  if (recordView.record) renderRecordView();
}

function closeSettle() {
  settle.id = null;
  $("settle").hidden = true;
  $("settle").replaceChildren();
}

// The panel follows the list: it closes when its record is no longer an issue.
function refreshSettle(items) {
  if (settle.id && !items.some((r) => r.id === settle.id)) closeSettle();
}

function shown(value) {
  if (value === undefined || value === null || value === "") return "—";
  if (typeof value === "boolean") return value ? "✓" : "✗";
  if (typeof value === "number") return value.toLocaleString(ui.lang === "vi" ? "vi-VN" : "en-US");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

const same = (a, b) => JSON.stringify(a === undefined ? null : a) === JSON.stringify(b === undefined ? null : b);

// One row per field of any copy: label, each copy's value; highlighted where mine and the
// cloud's differ; a mine/cloud choice for each clashing field.
function compareTable(collection, columns, clashing) {
  const names = [];
  for (const col of columns) {
    for (const name of Object.keys(col.data || {})) if (!names.includes(name)) names.push(name);
  }
  const head = el("tr", {}, el("th", {}, t("col_field")),
    ...columns.map((col) => el("th", { class: "copy-" + col.key }, col.title)),
    clashing.length ? el("th", {}, t("col_choice")) : null);
  const rows = names.map((name) => {
    const values = columns.map((col) => (col.data ? col.data[name] : undefined));
    const mine = columns.find((c) => c.key === "local");
    const theirs = columns.find((c) => c.key === "cloud");
    const differs = mine && theirs && !same(mine.data && mine.data[name], theirs.data && theirs.data[name]);
    const clash = clashing.includes(name);
    const row = el("tr", { "data-field": name, class: (differs ? "differs" : "") + (clash ? " clash" : "") },
      el("th", { scope: "row" }, fieldLabel(collection, name)),
      ...values.map((v, i) => el("td", { class: "copy-" + columns[i].key }, shown(v))));
    if (clashing.length) {
      row.append(el("td", { class: "choice" }, clash ? choiceRadios(name) : ""));
    }
    return row;
  });
  return el("div", { class: "table-wrap" },
    el("table", { class: "grid compare" }, el("thead", {}, head), el("tbody", {}, ...rows)));
}

function choiceRadios(name) {
  const group = el("span", { class: "choice-group", role: "radiogroup" });
  for (const side of ["local", "cloud"]) {
    const input = el("input", { type: "radio", name: "choice-" + name, value: side, checked: side === "local" });
    input.setAttribute("aria-label", fieldLabel(settle.collection, name) + ": " + t("choice_" + side));
    group.append(el("label", { class: "choice-" + side }, input, " ", t("choice_" + side)));
  }
  return group;
}

function chosen(fields) {
  const choices = {};
  for (const name of fields) {
    const picked = document.querySelector('#settle input[name="choice-' + CSS.escape(name) + '"]:checked');
    choices[name] = picked ? picked.value : "local";
  }
  return choices;
}

async function openSettle(r) {
  settle.id = r.id;
  settle.collection = r.collection;
  const panel = $("settle");
  const name = recordName(r);
  const parts = [];
  if (r.sync.state === "conflict") {
    const view = await api("GET", recordPath(r.collection, r.id, "/conflict"));
    parts.push(el("h2", {}, fmtText(t("settle_conflict"), { name })),
      el("p", { class: "reason" }, view.message),
      el("p", { class: "muted" }, t("settle_help_fields")));
    const columns = [
      { key: "base", title: t("col_base"), data: view.base },
      { key: "local", title: t("col_local") + (view.deleted_on === "local" ? " " + t("deleted_copy") : ""), data: view.local },
      { key: "cloud", title: t("col_cloud") + (view.cloud === null ? " " + t("deleted_copy") : ""), data: view.cloud },
    ];
    const clashing = view.kind === "fields" ? view.fields : [];
    parts.push(compareTable(r.collection, columns, clashing));
    const actions = el("div", { class: "settle-actions" });
    if (clashing.length) {
      actions.append(actionButton(r, "merge", t("merge"), () => ({ choices: chosen(clashing) })));
    }
    if (view.deleted_on === "cloud") {
      actions.append(actionButton(r, "restore", t("restore")), actionButton(r, "discard", t("discard_deleted")));
    } else {
      actions.append(actionButton(r, "keep_local"), actionButton(r, "take_cloud"));
    }
    parts.push(actions);
  } else {
    const existing = (r.sync.details || {}).existing || {};
    parts.push(el("h2", {}, fmtText(t("settle_duplicate"), { name })),
      el("p", { class: "reason" }, r.sync.message || ""),
      el("p", { class: "muted" }, t("settle_help_duplicate")),
      compareTable(r.collection, [
        { key: "local", title: t("col_local"), data: r.data },
        { key: "cloud", title: t("col_cloud"), data: existing.data || null },
      ], []));
    const keyInput = el("input", { id: "rename-key", type: "text", maxLength: 200, spellcheck: false });
    const rename = el("form", { class: "rename-form" },
      el("label", {}, el("span", {}, t("new_key")), keyInput));
    let renumber = null;
    if (r.collection === "vouchers") {
      renumber = el("input", { id: "rename-renumber", type: "checkbox" });
      rename.append(el("label", { class: "check" }, renumber, " ", t("renumber")));
    }
    const send = el("button", { type: "submit", class: "resolve-rename" }, t("rename"));
    rename.append(send);
    rename.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = renumber && renumber.checked ? { renumber: true } : { new_key: keyInput.value.trim() };
      guarded(() => resolveRecord(r, "rename", body));
    });
    const actions = el("div", { class: "settle-actions" });
    if (existing.id) actions.append(actionButton(r, "link_existing", t("link_existing")));
    actions.append(actionButton(r, "discard"));
    parts.push(actions, rename);
  }
  const close = el("button", { type: "button", class: "ghost settle-close" }, t("close"));
  close.addEventListener("click", closeSettle);
  panel.replaceChildren(close, ...parts);
  panel.hidden = false;
  panel.scrollIntoView({ block: "nearest" });
  const first = panel.querySelector("input, button.resolve-merge, button");
  if (first) first.focus();
}

// OfficeSync dashboard: the page's one way to the node's LAN API (/api/v1). Every screen calls
// `api(method, path, body)`; this file alone knows how the browser is authenticated.
//
//   api(method, path, body?)  -> the JSON answer, or throws ApiError(message, code, status, details)
//   Api.configure({lang, onUnauthorized, networkMessage})  hooks given by app.js
//   Api.paired()              -> whether this browser has a session
//   Api.pair(code, name)      -> pairs this browser (POST /pair)
//   Api.restore()             -> async: finds out whether the browser is still paired
//   Api.forget()              -> async: ends this browser's session
//   Api.admin()               -> whether the admin screens are open to it (the node's machine)
//   Api.eventsUrl()           -> the URL of the event WebSocket
//   apiDownload(path, onProgress) -> a file (Blob) from a GET, with progress (bytes, total)
"use strict";

class ApiError extends Error {
  constructor(message, code, status, details) {
    super(message);
    this.code = code;
    this.status = status;
    this.details = details || {};
  }
}

const Api = {
  hooks: {
    lang: () => "vi",
    onUnauthorized: () => {},
    networkMessage: () => "",
  },
  session: null, // {workstation_id, csrf_token, ...} while paired; kept in memory only

  configure(hooks) {
    Object.assign(this.hooks, hooks);
  },

  paired() {
    return this.session !== null;
  },

  // The session token lives only in the node's HttpOnly cookie; the page keeps the CSRF token
  // of its answer in memory (POST /session pairs, GET /session after a reload).
  async pair(code, name) {
    this.session = await api("POST", "/session", { code, name });
    return this.session;
  },

  async restore() {
    localStorage.removeItem("officesync.dashboard.token"); // the old bearer token, if any
    try {
      this.session = await api("GET", "/session");
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
      this.session = null;
    }
    return this.paired();
  },

  async forget() {
    const had = this.session;
    this.session = null;
    if (had) {
      try { await api("DELETE", "/session", undefined, had); } catch (err) { /* gone already */ }
    }
  },

  admin() {
    return Boolean(this.session && this.session.admin);
  },

  eventsUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + location.host + "/api/v1/events"; // the cookie goes with it
  },
};

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

async function api(method, path, body, session) {
  const headers = { "Accept-Language": Api.hooks.lang(), Accept: "application/json" };
  const current = session || Api.session;
  if (!SAFE_METHODS.has(method) && current && current.csrf_token) {
    headers["X-CSRF-Token"] = current.csrf_token;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch("/api/v1" + path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(Api.hooks.networkMessage(), "NETWORK", 0);
  }
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (payload && payload.error) || {};
    if (response.status === 401 && Api.session && path !== "/session") {
      Api.session = null;
      Api.hooks.onUnauthorized();
    }
    throw new ApiError(error.message || response.statusText, error.code || "HTTP",
      response.status, error.details);
  }
  return payload;
}

// A file from the API (GET), read in chunks so a screen can show the progress.
async function apiDownload(path, onProgress) {
  let response;
  try {
    response = await fetch("/api/v1" + path, {
      headers: { "Accept-Language": Api.hooks.lang() }, credentials: "same-origin",
    });
  } catch (err) {
    throw new ApiError(Api.hooks.networkMessage(), "NETWORK", 0);
  }
  if (!response.ok) {
    const payload = await response.json().catch(() => null);
    const error = (payload && payload.error) || {};
    throw new ApiError(error.message || response.statusText, error.code || "HTTP",
      response.status, error.details);
  }
  const total = Number(response.headers.get("Content-Length")) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    if (onProgress) onProgress(received, total);
  }
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  return { blob: new Blob(chunks, { type: response.headers.get("Content-Type") || "" }),
    name: match ? match[1] : "download", size: received };
}

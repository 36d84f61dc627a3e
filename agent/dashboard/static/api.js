// OfficeSync dashboard: the page's one way to the node's LAN API (/api/v1). Every screen calls
// `api(method, path, body)`; this file alone knows how the browser is authenticated.
//
//   api(method, path, body?)  -> the JSON answer, or throws ApiError(message, code, status, details)
//   Api.configure({lang, onUnauthorized, networkMessage})  hooks given by app.js
//   Api.paired()              -> whether this browser has a session
//   Api.pair(code, name)      -> pairs this browser (POST /pair)
//   Api.restore()             -> async: finds out whether the browser is still paired
//   Api.forget()              -> async: ends this browser's session
//   Api.eventsUrl()           -> the URL of the event WebSocket
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

  // Interim (until the cookie session lands): the bearer token as before.
  async pair(code, name) {
    const answer = await api("POST", "/pair", { code, name });
    localStorage.setItem("officesync.dashboard.token", answer.token);
    this.session = answer;
    return answer;
  },

  async restore() {
    const token = localStorage.getItem("officesync.dashboard.token");
    this.session = token ? { token } : null;
    return this.paired();
  },

  async forget() {
    localStorage.removeItem("officesync.dashboard.token");
    this.session = null;
  },

  eventsUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const token = this.session ? "?token=" + encodeURIComponent(this.session.token) : "";
    return scheme + "//" + location.host + "/api/v1/events" + token;
  },
};

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

async function api(method, path, body) {
  const headers = { "Accept-Language": Api.hooks.lang(), Accept: "application/json" };
  if (!SAFE_METHODS.has(method) && Api.session && Api.session.csrf_token) {
    headers["X-CSRF-Token"] = Api.session.csrf_token;
  }
  if (Api.session && Api.session.token) headers.Authorization = "Bearer " + Api.session.token;
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
      Api.forget();
      Api.hooks.onUnauthorized();
    }
    throw new ApiError(error.message || response.statusText, error.code || "HTTP",
      response.status, error.details);
  }
  return payload;
}

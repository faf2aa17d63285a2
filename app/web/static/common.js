/* What both pages share: calling the API with a credential, reading every page of a list,
 * and a checkpoint's name in the page's language. Needs i18n.js first. */
"use strict";
(function () {
  const API = "/api/v1";

  /* An answer that was not 2xx: its status and the problem+json detail. */
  class HttpError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  /* fetch() of an API path, with the bearer credential when there is one. The answer is
   * returned as it is, whatever its status; only a network failure throws. Never cached: the
   * figures and the trip are always the server's current ones. */
  function api(path, token, options) {
    const o = options || {};
    const headers = Object.assign({}, o.headers);
    if (token) headers.Authorization = "Bearer " + token;
    return fetch(API + path, Object.assign({}, o, { headers, cache: "no-store" }));
  }

  async function problem(response) {
    let detail = response.statusText || "HTTP " + response.status;
    try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
    return new HttpError(response.status, detail);
  }

  /* The answer if it is 2xx, else an HttpError. */
  async function get(path, token) {
    const r = await api(path, token);
    if (!r.ok) throw await problem(r);
    return r;
  }

  /* Every item of a list (`{items, next_cursor}`), following the cursor, 500 a page. */
  async function allPages(path, token, params) {
    const items = [];
    let cursor = null;
    do {
      const q = new URLSearchParams(Object.assign({ limit: "500" }, params));
      if (cursor) q.set("cursor", cursor);
      const page = await (await get(`${path}?${q}`, token)).json();
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return items;
  }

  /* A checkpoint's name in the page's language, its English name where it has none. */
  function checkpointName(c) {
    if (!c) return "?";
    const local = I18N.lang === "ar" ? c.name_ar : I18N.lang === "ckb" ? c.name_ckb : null;
    return local || c.name;
  }

  window.Common = { API, HttpError, api, get, problem, allPages, checkpointName };
})();

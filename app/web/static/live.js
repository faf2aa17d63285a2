/* The public live board: every checkpoint's waits now, in the last six hours, and what is usual
 * in the hours ahead, from the public feed (no login). It asks the feed about once a minute
 * and lets the browser's HTTP cache and the feed's ETag make a repeat cheap; when the feed
 * fails it keeps the last figures, with their age, and keeps trying. The last answer is also
 * kept in localStorage, so a phone that opens the page without a network sees something.
 * Needs words.js, i18n.js, live-strings.js, iraq-outline.js and charts.js first. */
"use strict";
(function () {
  const FEED = "/api/v1/public/checkpoints?forecast_hours=12";
  const POLL_MS = 60 * 1000;
  const STORE = "clearance.live.feed";
  const t = I18N.t;
  const $ = (id) => document.getElementById(id);

  let feed = null; // the last good answer
  let failing = false; // the last try failed (network, or a status that is not 2xx)
  let tried = false;
  let lastPoll = 0;

  // ---- the feed ------------------------------------------------------------------------------

  async function poll() {
    lastPoll = Date.now();
    try {
      // The default cache mode: a copy younger than max-age is reused, an older one is
      // revalidated by ETag (a 304). Asking with no-cache would bypass every proxy's copy too.
      const response = await fetch(FEED, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error("HTTP " + response.status);
      feed = await response.json();
      failing = false;
      keep(feed);
    } catch (e) {
      failing = true;
    }
    tried = true;
    render();
  }

  function keep(answer) {
    try { localStorage.setItem(STORE, JSON.stringify(answer)); } catch (e) { /* full or private */ }
  }

  function kept() {
    try { return JSON.parse(localStorage.getItem(STORE) || "null"); } catch (e) { return null; }
  }

  // ---- words for numbers and times ------------------------------------------------------------

  const n = (value) => I18N.number(value, 0);
  const digits = () => ({ nine: n(9), ten: n(10), six: n(6), three: n(3) });
  const zone = () => (feed && feed.timezone) || "Asia/Baghdad";
  const clock = (iso) => I18N.time(new Date(iso), zone());

  /* A wait in whole minutes, in hours and minutes from an hour up. */
  function duration(minutes) {
    const whole = Math.round(minutes);
    if (whole < 60) return t("live.minutes", { m: n(whole) });
    const h = Math.floor(whole / 60);
    const m = whole % 60;
    return m ? t("live.hoursMinutes", { h: n(h), m: n(m) }) : t("live.hours", { h: n(h) });
  }

  /* How long ago `iso` was: "just now", "3 min ago", "2 h ago", "3 days ago". */
  function ago(iso) {
    const minutes = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 60000));
    if (minutes < 1) return t("live.justNow");
    if (minutes < 90) return t("live.minAgo", { n: n(minutes) });
    if (minutes < 48 * 60) return t("live.hoursAgo", { n: n(Math.round(minutes / 60)) });
    return t("live.daysAgo", { n: n(Math.floor(minutes / 1440)) });
  }

  function waits(window_) {
    return t("live.waits", Object.assign(digits(), {
      p50: duration(window_.p50_wait_minutes), p90: duration(window_.p90_wait_minutes),
    }));
  }

  function localName(item) {
    const local = I18N.lang === "ar" ? item.name_ar : I18N.lang === "ckb" ? item.name_ckb : null;
    return local || item.name;
  }

  // ---- the page ------------------------------------------------------------------------------

  function node(tag, cls, text) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function render() {
    renderStatus();
    document.body.dataset.state = $("status").dataset.state;
    if (!feed) return;
    renderMap();
    renderList();
    document.body.dataset.loaded = "true";
  }

  function renderStatus() {
    const status = $("status");
    let state = "loading";
    let text = t("live.loading");
    if (feed) {
      const vars = { time: clock(feed.generated_at), ago: ago(feed.generated_at) };
      state = !tried ? "kept" : failing ? "stale" : "ok";
      text = t(!tried ? "live.kept" : failing ? "live.stale" : "live.updated", vars);
      status.dataset.generatedAt = feed.generated_at;
    } else if (failing) {
      state = "error";
      text = t("live.failed");
    }
    status.dataset.state = state;
    // Only a changed text: the line is a live region, and a screen reader says it each time.
    if (status.textContent !== text) status.textContent = text;
  }

  function renderMap() {
    const container = $("map");
    const items = feed.items;
    const most = Math.max(1, ...items.map((i) => i.trucks_now || 0));
    const places = items.map((item) => {
      const recent = item.last_6_hours || {};
      const known = !recent.insufficient_data && recent.p90_wait_minutes != null;
      return {
        id: item.code, lat: item.latitude, lon: item.longitude,
        cls: known ? Charts.delayClass(recent.p90_wait_minutes) : "cn",
        r: 4 + 8 * Math.sqrt((item.trucks_now || 0) / most),
        title: t("live.tip", {
          name: `${item.code} ${localName(item)}`,
          waits: known ? waits(recent) : t("live.insufficient"),
        }),
      };
    });
    const towns = Object.entries(WORDS.capitals).map(([slug, [lat, lon]]) => ({
      lat, lon, label: I18N.word("province", slug),
    }));
    const side = Math.round(Math.min(520, Math.max(260, container.clientWidth || 520)));
    Charts.map(container, places, towns, {
      label: t("live.map"), width: side, height: side, outline: window.IRAQ_OUTLINE,
    });
    const [a, b, c] = Charts.DELAY_STEPS;
    Charts.legend($("map-legend"), [
      ["c0", t("live.legend.under", { m: n(a) })], ["c1", t("live.legend.range", { a: n(a), b: n(b) })],
      ["c2", t("live.legend.range", { a: n(b), b: n(c) })], ["c3", t("live.legend.over", { m: n(c) })],
      ["cn", t("live.legend.none")],
    ]);
    $("map-legend").append(node("span", "", t("live.legend.size")),
      node("span", "", t("live.legend.basis", digits())));
  }

  function renderList() {
    const list = $("checkpoints");
    list.replaceChildren();
    if (!feed.items.length) list.append(node("p", "muted", t("live.empty")));
    // Checkpoints with figures first (in the feed's order), then the quiet ones.
    const known = (item) => ["last_hour", "last_6_hours"].some(
      (key) => item[key] && !item[key].insufficient_data);
    const ordered = [...feed.items.filter(known), ...feed.items.filter((i) => !known(i))];
    for (const item of ordered) list.append(card(item));
  }

  function card(item) {
    const article = node("article", "checkpoint");
    article.id = "cp-" + item.code;
    article.dataset.code = item.code;
    const head = node("header", "cp-head");
    const name = node("h3", "cp-name", localName(item));
    const code = node("span", "cp-code", item.code);
    code.dir = "ltr";
    head.append(name, code, node("span", "cp-province muted", I18N.word("province", item.province)));
    article.append(head, trucksNow(item));
    const windows = node("div", "windows");
    windows.append(windowRow(item.last_hour, "last_hour", t("live.lastHour")),
      windowRow(item.last_6_hours, "last_6_hours", t("live.last6Hours", digits())));
    article.append(windows);
    const forecast = item.forecast || [];
    if (forecast.length) article.append(forecastNow(forecast[0]), forecastNext(forecast.slice(1)));
    return article;
  }

  function trucksNow(item) {
    const p = node("p", "now");
    p.dataset.field = "trucks_now";
    const count = item.trucks_now;
    const words = count == null ? t("live.trucksNowUnknown")
      : count > 0 ? t("live.trucksNow", { n: n(count) }) : t("live.trucksNowFew", digits());
    p.append(node("strong", "", words));
    const method = node("span", "method " + (item.method === "gps" ? "gps" : "reported"),
      t(item.method === "gps" ? "live.gps" : "live.reported"));
    const when = item.updated_at ? " · " + t("live.counted", { time: clock(item.updated_at) }) : "";
    p.append(" ", method, node("span", "muted", when));
    return p;
  }

  /* One window: its label, its span (so its freshness shows), then its waits or the plain
   * words that there is not enough data — never a zero. */
  function windowRow(window_, key, label) {
    const row = node("div", "window");
    row.dataset.window = key;
    const what = node("span", "window-label", label);
    const span = node("span", "window-span muted");
    if (window_) span.textContent = `${clock(window_.window_start)}–${clock(window_.window_end)}`;
    row.append(what, span);
    if (!window_ || window_.insufficient_data) {
      row.dataset.insufficient = "true";
      row.append(node("span", "window-value insufficient", t("live.insufficient")));
      return row;
    }
    const value = node("span", "window-value", waits(window_));
    if (window_.completed_stops != null) {
      value.title = t("live.trucks", { n: n(window_.completed_stops) });
    }
    row.append(value);
    return row;
  }

  function hourOf(hourOfWeek) {
    return { day: t("day." + Math.floor(hourOfWeek / 24) % 7) };
  }

  function forecastNow(hour) {
    const end = new Date(new Date(hour.starts_at).getTime() + 3600 * 1000).toISOString();
    const vars = Object.assign(digits(), hourOf(hour.hour_of_week), {
      from: clock(hour.starts_at), to: clock(end),
    });
    const p = node("p", "forecast-now");
    p.dataset.field = "forecast_now";
    if (hour.insufficient_data || hour.p50_wait_minutes == null) {
      p.dataset.insufficient = "true";
      p.textContent = t("live.forecastNowNone", vars);
    } else {
      p.textContent = t("live.forecastNow", Object.assign(vars, {
        p50: duration(hour.p50_wait_minutes), p90: duration(hour.p90_wait_minutes),
      }));
    }
    return p;
  }

  /* The hours after this one, compactly: the hour and the usual wait (half the trucks under it);
   * p90 in the tooltip. */
  function forecastNext(hours) {
    const box = node("div", "forecast-next");
    if (hours.every((hour) => hour.insufficient_data || hour.p50_wait_minutes == null)) {
      // One line rather than a row of "no data".
      box.dataset.insufficient = "true";
      box.append(node("span", "muted", t("live.nextNone")));
      return box;
    }
    box.append(node("span", "muted", t("live.next")));
    const list = node("ol", "hours");
    for (const hour of hours) {
      const li = node("li");
      li.dataset.startsAt = hour.starts_at;
      const when = node("span", "hour", clock(hour.starts_at));
      const none = hour.insufficient_data || hour.p50_wait_minutes == null;
      const value = node("span", none ? "wait insufficient" : "wait",
        none ? t("live.noData") : duration(hour.p50_wait_minutes));
      if (none) li.dataset.insufficient = "true";
      else li.title = `p90: ${duration(hour.p90_wait_minutes)}`;
      li.append(when, value);
      list.append(li);
    }
    box.append(list);
    return box;
  }

  // ---- start ---------------------------------------------------------------------------------

  function start() {
    I18N.start();
    I18N.onChange(render);
    feed = kept();
    render();
    poll();
    setInterval(poll, POLL_MS);
    // The ages move on between polls ("3 min ago" → "4 min ago").
    setInterval(renderStatus, 20 * 1000);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && Date.now() - lastPoll > POLL_MS) poll();
    });
    window.addEventListener("online", poll);
    $("map").addEventListener("click", (event) => {
      const code = event.target.closest && event.target.closest("[data-checkpoint-id]");
      const target = code && $("cp-" + code.dataset.checkpointId);
      if (target) target.scrollIntoView({ behavior: "smooth", block: "start" });
    });
    let resizing = 0;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => { if (feed) renderMap(); }, 200);
    });
  }

  document.addEventListener("DOMContentLoaded", start);
})();

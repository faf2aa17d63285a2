/* The advocates' dashboard: every figure on screen is a figure of the API's reports, asked
 * with the filters on screen; the download buttons ask the same reports as CSV or XLSX.
 * The sign-in token lives in sessionStorage (gone when the tab closes). The choice "all stops
 * / GPS-confirmed stops only" is the reports' `evidence` parameter, kept in the address
 * (?evidence=confirmed, so a link shows the same figures) and in localStorage. */
"use strict";
(function () {
  const TOKEN = "clearance.dashboard.token";
  const EVIDENCE = "clearance.dashboard.evidence";
  const EVIDENCE_CHOICES = ["all", "confirmed"];
  const $ = (id) => document.getElementById(id);
  const t = (k, v) => I18N.t(k, v);
  let token = sessionStorage.getItem(TOKEN);
  let checkpoints = [];
  let reports = {};
  let loadSeq = 0;
  let evidence = "all";
  let role = null;
  let casesSeq = 0;
  let cases = null;
  // The case statuses in their workflow's order (their names: case.status.* in the strings).
  const CASE_STATUSES = ["draft", "submitted", "acknowledged", "in_progress", "resolved", "rejected", "withdrawn"];
  // Advocates and admins work on cases; an exporter gets 403 from /cases and sees no panel.
  const CASE_CATEGORIES = ["unreceipted_fee", "excessive_inspection", "missing_document_hold",
    "arbitrary_turn_back", "permit_demanded", "queue_or_closure", "other"];
  const caseWorker = () => role === "advocate" || role === "admin";

  const api = (path) => Common.get(path, token);
  const expired = (e) => e instanceof Common.HttpError && e.status === 401;

  // ---- formatting: what the API says, rounded for reading only
  const num = (v, d) => (v == null ? "—" : I18N.number(v, d));
  const pct = (v) => (v == null ? "—" : I18N.percent(v, 1));
  const signed = (v, d) => (v == null ? "—" : (v > 0 ? "+" : "") + I18N.number(v, d));
  // A row's evidence figures (null when suppressed or when it has no stops / no fees).
  const ev = (r, key) => (r.evidence ? r.evidence[key] : null);
  const provinceName = (slug) => I18N.word("province", slug);
  const reason = (r) => I18N.word("hold", r);
  const procedureName = (p) => I18N.word("procedure", p);
  const checkpointName = (c) => Common.checkpointName(c);
  const agency = (c) => `${I18N.word("kind", c.kind)} · ${I18N.word("authority", c.authority)}` +
    ` (${I18N.word("jurisdiction", c.jurisdiction)})`;

  // ---- the date filters are whole UTC days: from its midnight, up to the midnight after `to`
  function utcMidnight(day, plusDays) {
    const [y, m, d] = day.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d + plusDays)).toISOString().replace(".000Z", "Z");
  }

  // ---- filters <-> query
  function filterQuery(report) {
    const q = new URLSearchParams();
    const from = $("f-from").value;
    const to = $("f-to").value;
    if (from) q.set("from", utcMidnight(from, 0));
    if (to) q.set("to", utcMidnight(to, 1));
    for (const [id, name] of [["f-province", "province"], ["f-checkpoint", "checkpoint_id"],
      ["f-hs", "hs_chapter"], ["f-destination", "destination_province"]]) {
      const v = $(id).value.trim();
      if (v) q.set(name, v);
    }
    if (evidence === "confirmed") q.set("evidence", "confirmed");
    if (report === "checkpoints") q.set("sort", $("f-sort").value);
    if (report === "trends") q.set("interval", $("f-interval").value);
    return q;
  }

  function fillSelects() {
    const keep = (id) => $(id).value;
    const option = (value, label) => { const o = document.createElement("option"); o.value = value; o.textContent = label; return o; };
    for (const id of ["f-province", "f-destination"]) {
      const was = keep(id);
      $(id).replaceChildren(option("", t("dash.all")),
        ...WORDS.lists.province.map((p) => option(p, provinceName(p)))
          .sort((a, b) => a.textContent.localeCompare(b.textContent)));
      $(id).value = was;
    }
    const was = keep("f-checkpoint");
    const sorted = [...checkpoints].sort((a, b) => a.code.localeCompare(b.code));
    $("f-checkpoint").replaceChildren(option("", t("dash.all")),
      ...sorted.map((c) => option(c.id, `${c.code} — ${checkpointName(c)}`)));
    $("f-checkpoint").value = was;
    const status = keep("case-status");
    $("case-status").replaceChildren(option("", t("dash.all")),
      ...CASE_STATUSES.map((s) => option(s, t("case.status." + s))));
    $("case-status").value = status;
    const category = keep("case-category");
    $("case-category").replaceChildren(...CASE_CATEGORIES.map((c) => option(c, t("case.category." + c))));
    if (category) $("case-category").value = category;
  }

  // ---- all stops, or GPS-confirmed stops only: from the address, else the last choice
  function initialEvidence() {
    const asked = new URLSearchParams(location.search).get("evidence");
    if (EVIDENCE_CHOICES.includes(asked)) return asked;
    try {
      const kept = localStorage.getItem(EVIDENCE);
      if (EVIDENCE_CHOICES.includes(kept)) return kept;
    } catch (e) { /* private mode */ }
    return "all";
  }

  function setEvidence(value) {
    evidence = EVIDENCE_CHOICES.includes(value) ? value : "all";
    document.body.dataset.evidence = evidence;
    document.querySelectorAll("#evidence-switch input[name=evidence]").forEach((input) => {
      input.checked = input.value === evidence;
    });
    try { localStorage.setItem(EVIDENCE, evidence); } catch (e) { /* private mode */ }
    const url = new URL(location.href);
    if (evidence === "confirmed") url.searchParams.set("evidence", "confirmed");
    else url.searchParams.delete("evidence");
    history.replaceState(history.state, "", url);
  }

  // ---- loading
  const REPORTS = ["checkpoints", "trends", "procedures", "commodities", "corridors", "agencies"];

  async function loadAll() {
    const seq = ++loadSeq;
    $("status").textContent = t("dash.loading");
    $("error").hidden = true;
    document.body.dataset.loaded = "false";
    try {
      if (!checkpoints.length) {
        checkpoints = await Common.allPages("/checkpoints", token);
        fillSelects();
      }
      const [answers] = await Promise.all([Promise.all(REPORTS.map((name) =>
        api(`/reports/${name}?${filterQuery(name)}`).then((r) => r.json()))),
      // The cases take none of the filters: asked once after signing in, then by their own filter.
      cases ? null : loadCases()]);
      if (seq !== loadSeq) return; // a newer request is on its way
      reports = Object.fromEntries(REPORTS.map((name, i) => [name, answers[i]]));
      renderAll();
      document.body.dataset.loaded = "true";
    } catch (e) {
      if (expired(e)) { signOut("dash.expired"); return; }
      $("error").textContent = String(e.message || e);
      $("error").hidden = false;
      $("status").textContent = "";
    }
  }

  // ---- cases (advocates and admins): the list with its status filter, and the summary
  async function loadCases() {
    $("cases").hidden = !caseWorker();
    if (!caseWorker()) return;
    const seq = ++casesSeq;
    $("cases").dataset.loaded = "false";
    const q = new URLSearchParams({ limit: "100" });
    const status = $("case-status").value;
    if (status) q.set("status", status);
    const [list, summary] = await Promise.all([
      api(`/cases?${q}`).then((r) => r.json()), api("/reports/cases").then((r) => r.json())]);
    if (seq !== casesSeq) return; // a newer choice is on its way
    cases = { list: list.items, summary: summary.items };
    renderCases();
    $("cases").dataset.loaded = "true";
  }

  // A case opened from what is on screen: the reports' filters as the reports take them, and
  // the checkpoint chosen among them (if one is).
  async function openCase(e) {
    e.preventDefault();
    const filters = Object.fromEntries(filterQuery("checkpoints"));
    delete filters.sort;
    const checkpoint = $("f-checkpoint").value;
    const body = {
      title: $("case-title").value, category: $("case-category").value,
      checkpoint_ids: checkpoint ? [checkpoint] : [], filters,
    };
    try {
      const r = await Common.api("/cases", token, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      if (!r.ok) throw await Common.problem(r);
      const made = await r.json();
      $("case-title").value = "";
      $("case-form-status").textContent = t("dash.cases.opened", { reference: made.reference });
      await loadCases();
    } catch (err) {
      if (expired(err)) { signOut("dash.expired"); return; }
      $("case-form-status").textContent = String(err.message || err);
    }
  }

  function renderCases() {
    if (!cases) return;
    const codes = new Map(checkpoints.map((c) => [c.id, c.code]));
    const when = (v) => (v ? I18N.dateTime(new Date(v)) : t("dash.cases.notSubmitted"));
    // Titles are the advocates' own words: set as text (table() uses textContent), never markup.
    table($("case-table"), [
      { label: t("col.reference"), field: "reference" },
      { label: t("col.title"), field: "title" },
      { label: t("col.category"), field: "category", render: (r) => t("case.category." + r.category) },
      { label: t("col.status"), field: "status", render: (r) => t("case.status." + r.status) },
      { label: t("col.caseCheckpoints"), field: "checkpoint_ids",
        render: (r) => r.checkpoint_ids.map((id) => codes.get(id) || "?").join(", ") || "—" },
      { label: t("col.incidents"), field: "incident_count", num: true, render: (r) => num(r.incident_count, 0) },
      { label: t("col.exporters"), field: "exporter_count", num: true, render: (r) => num(r.exporter_count, 0) },
      { label: t("col.submitted"), field: "submitted_at", render: (r) => when(r.submitted_at) },
    ], cases.list, { rowId: (r) => r.id, empty: t("dash.cases.none") });
    table($("case-report-table"), [
      { label: t("col.authority"), field: "authority", render: (r) => I18N.word("authority", r.authority) },
      { label: t("col.jurisdiction"), field: "jurisdiction", render: (r) => I18N.word("jurisdiction", r.jurisdiction) },
      { label: t("col.category"), field: "category", render: (r) => t("case.category." + r.category) },
      { label: t("col.opened"), field: "opened", num: true, render: (r) => num(r.opened, 0) },
      { label: t("col.resolved"), field: "resolved", num: true, render: (r) => num(r.resolved, 0) },
      { label: t("col.resolutionRate"), field: "resolution_rate", num: true, render: (r) => pct(r.resolution_rate) },
      { label: t("col.medianDays"), field: "median_days_to_resolve", num: true, render: (r) => num(r.median_days_to_resolve, 1) },
      { label: t("col.oldestOpen"), field: "oldest_open_days", num: true, render: (r) => num(r.oldest_open_days, 1) },
    ], cases.summary, { empty: t("dash.cases.none") });
  }

  // ---- tables: a suppressed row shows its group, then "suppressed" across the figures
  function table(el, columns, rows, opts) {
    const o = opts || {};
    el.replaceChildren();
    const head = el.createTHead().insertRow();
    for (const c of columns) {
      const th = document.createElement("th");
      th.textContent = c.label;
      th.scope = "col";
      if (c.title) th.title = c.title;
      head.append(th);
    }
    const body = el.createTBody();
    // A suppressed row keeps its key columns; a figure column among them shows a dash, and
    // "suppressed" spans the figure columns after the last of them.
    const lastKey = columns.reduce((last, c, i) => (c.key ? i : last), -1);
    if (!rows.length) {
      const td = body.insertRow().insertCell();
      td.colSpan = columns.length;
      td.className = "muted";
      td.textContent = o.empty || t("dash.noData");
      return;
    }
    rows.forEach((row, i) => {
      const tr = body.insertRow();
      if (o.rowId) tr.dataset.id = o.rowId(row);
      if (row.suppressed) tr.className = "suppressed";
      else if (o.rowClass) tr.className = o.rowClass(row);
      columns.forEach((c, at) => {
        if (row.suppressed && !c.key) {
          if (at > lastKey) return;
          const td = tr.insertCell();
          if (c.field) td.dataset.field = c.field;
          td.className = c.num ? "num suppressed" : "suppressed";
          td.textContent = "—";
          td.title = t("dash.suppressed");
          return;
        }
        const td = tr.insertCell();
        if (c.field) td.dataset.field = c.field;
        if (c.num) td.className = "num";
        const value = c.value ? c.value(row) : c.field ? row[c.field] : undefined;
        if (c.field && typeof value === "number") td.dataset.value = String(value);
        if (c.title) td.title = c.title;
        if (c.cell) c.cell(td, row); // may say more on hover than the column's title
        else td.textContent = c.render ? c.render(row, i) : value == null ? "—" : String(value);
      });
      if (row.suppressed) {
        const td = tr.insertCell();
        td.colSpan = columns.length - 1 - lastKey;
        td.className = "suppressed";
        td.dataset.field = "suppressed";
        td.textContent = t("dash.suppressedRow");
      }
    });
  }

  const fees = (list) => (list || [])
    .map((f) => `${I18N.number(f.total, 0)} ${f.currency} (${pct(f.unreceipted_share)})`).join("; ") || "—";

  // The evidence columns: the share of the row's stops (or fees) that a position or a photo
  // corroborates; each header and cell explains itself on hover (title), and the ranking's note
  // says it in words.
  const EVIDENCE_COLUMNS = {
    gps_confirmed_share: ["col.gpsConfirmed", "dash.evidence.tipConfirmed"],
    gps_contradicted_share: ["col.gpsContradicted", "dash.evidence.tipContradicted"],
    fee_receipt_photo_share: ["col.receiptPhotos", "dash.evidence.tipPhotos"],
  };
  const evidenceColumn = (key) => ({
    label: t(EVIDENCE_COLUMNS[key][0]), title: t(EVIDENCE_COLUMNS[key][1]), field: key, num: true,
    value: (r) => ev(r, key), render: (r) => pct(ev(r, key)),
  });

  function renderAll() {
    const meta = reports.checkpoints;
    const when = I18N.dateTime(new Date(meta.generated_at));
    let status = !meta.min_exporters ? t("dash.generatedNoK", { time: when })
      : meta.min_stops ? t("dash.generatedKS", { time: when, k: meta.min_exporters, s: meta.min_stops })
        : t("dash.generated", { time: when, k: meta.min_exporters });
    if (meta.as_of) status += " " + t("dash.asOf", { time: I18N.dateTime(new Date(meta.as_of)) });
    if (evidence === "confirmed") status += " " + t("dash.evidence.only");
    $("status").textContent = status;
    // Advocates' answers leave out the stops of cells too small to show (the API says how many).
    const excluded = Number(meta.excluded_stops) || 0;
    $("excluded-note").hidden = excluded <= 0;
    $("excluded-note").textContent = excluded === 1 ? t("dash.excludedOne")
      : excluded > 0 ? t("dash.excluded", { n: I18N.number(excluded, 0) }) : "";
    renderRanking();
    renderMap();
    renderDwell();
    renderTrends();
    renderProcedures();
    renderCommodities();
    renderCorridors();
    renderAgencies();
    renderCases();
  }

  // A checkpoint against its service standard (PUT /checkpoints/{id}/target): a badge when it
  // misses it, with the figures in words for screen readers and on hover; no verdict, a dash.
  function targetCell(td, r) {
    if (r.meets_target == null) { td.textContent = "—"; return; }
    const detail = t("dash.target.detail", {
      share: pct(r.within_target_share), m: num(r.target_minutes, 0), target: I18N.percent(r.target_share, 0),
    });
    const badge = document.createElement("span");
    badge.className = r.meets_target ? "target-on" : "badge off-target";
    badge.textContent = t(r.meets_target ? "dash.target.on" : "dash.target.off");
    const words = document.createElement("span");
    words.className = "sr-only";
    words.textContent = ": " + detail;
    td.title = detail;
    td.dataset.meetsTarget = String(r.meets_target);
    td.append(badge, words);
  }

  function renderRanking() {
    const standard = reports.checkpoints.service_standard_minutes;
    table($("ranking-table"), [
      { key: true, label: t("col.rank"), render: (r, i) => String(i + 1) },
      { key: true, label: t("col.checkpoint"), field: "checkpoint_code",
        render: (r) => r.checkpoint_code },
      { label: t("col.target"), title: t("dash.target.tip"), field: "meets_target", cell: targetCell },
      // Right beside the checkpoint's code: in view on a phone too, before the table scrolls.
      evidenceColumn("gps_confirmed_share"),
      { key: true, label: t("col.name"), field: "checkpoint_name", render: (r) => {
        const c = checkpoints.find((x) => x.id === r.checkpoint_id);
        return c ? checkpointName(c) : r.checkpoint_name;
      } },
      { key: true, label: t("col.province"), field: "province", render: (r) => provinceName(r.province) },
      { label: t("col.stops"), field: "stops", num: true, render: (r) => num(r.stops, 0) },
      { label: t("col.completed"), field: "completed_stops", num: true, render: (r) => num(r.completed_stops, 0) },
      { label: t("col.p50"), field: "p50_dwell_minutes", num: true, render: (r) => num(r.p50_dwell_minutes, 1) },
      { label: t("col.p90"), field: "p90_dwell_minutes", num: true, render: (r) => num(r.p90_dwell_minutes, 1) },
      { label: t("col.mean"), field: "mean_dwell_minutes", num: true, render: (r) => num(r.mean_dwell_minutes, 1) },
      { label: t("col.withinStandard", { m: standard }), field: "within_standard_share", num: true, render: (r) => pct(r.within_standard_share) },
      { label: t("col.holdRate"), field: "hold_rate", num: true, render: (r) => pct(r.hold_rate) },
      { label: t("col.turnBack"), field: "turn_back_rate", num: true, render: (r) => pct(r.turn_back_rate) },
      { label: t("col.delayHours"), field: "total_delay_hours", num: true, render: (r) => num(r.total_delay_hours, 1) },
      { label: t("col.topReason"), field: "top_hold_reasons", render: (r) => {
        const top = (r.top_hold_reasons || [])[0];
        return top ? `${reason(top.reason)} (${I18N.number(top.count, 0)})` : "—";
      } },
      { label: t("col.fees"), field: "fees", render: (r) => fees(r.fees) },
      evidenceColumn("fee_receipt_photo_share"),
      evidenceColumn("gps_contradicted_share"),
    ], reports.checkpoints.items, {
      rowId: (r) => r.checkpoint_id, rowClass: (r) => (r.meets_target === false ? "off-target" : ""),
    });
  }

  function delayClass(row) {
    if (!row) return "cn";
    if (row.suppressed) return "cs";
    return Charts.delayClass(row.p90_dwell_minutes);
  }

  // ---- charts are drawn at their box's width in pixels, so that their text keeps its size on a
  // phone instead of shrinking with the whole picture (widest: the desktop layout's width).
  function fit(el, widest) {
    return Math.round(Math.min(widest, Math.max(300, el.clientWidth || widest)));
  }
  const barOptions = (el, widest, labelWidth) => {
    const width = fit(el, widest);
    return { width, labelWidth: Math.min(labelWidth, Math.round(width * 0.4)) };
  };

  function renderMap() {
    const byId = new Map(reports.checkpoints.items.map((r) => [r.checkpoint_id, r]));
    const maxStops = Math.max(1, ...reports.checkpoints.items.map((r) => r.stops || 0));
    const places = checkpoints.map((c) => {
      const row = byId.get(c.id);
      const stops = row && !row.suppressed ? row.stops : 0;
      const detail = !row ? t("dash.legend.none")
        : row.suppressed ? t("dash.suppressed")
          : t("dash.mapTip", {
            p50: num(row.p50_dwell_minutes, 1), p90: num(row.p90_dwell_minutes, 1), stops: num(row.stops, 0),
          }) + "\n" + t("dash.mapTipGps", { share: pct(ev(row, "gps_confirmed_share")) });
      return {
        id: c.id, lat: c.latitude, lon: c.longitude, cls: delayClass(row),
        r: 4 + 8 * Math.sqrt(stops / maxStops),
        title: `${c.code} ${checkpointName(c)}\n${agency(c)}\n${detail}`,
      };
    });
    const towns = Object.entries(WORDS.capitals).map(([slug, [lat, lon]]) => ({ lat, lon, label: provinceName(slug) }));
    const side = fit($("map"), 520);
    Charts.map($("map"), places, towns, {
      label: t("dash.map"), width: side, height: side, outline: window.IRAQ_OUTLINE,
    });
    const legend = $("map-legend");
    const n = (v) => I18N.number(v, 0);
    const [a, b, c] = Charts.DELAY_STEPS;
    Charts.legend(legend, [["c0", t("dash.legend.under", { m: n(a) })],
      ["c1", t("dash.legend.range", { a: n(a), b: n(b) })],
      ["c2", t("dash.legend.range", { a: n(b), b: n(c) })], ["c3", t("dash.legend.over", { m: n(c) })],
      ["cs", t("dash.legend.suppressed")], ["cn", t("dash.legend.none")]]);
    const size = document.createElement("span");
    size.textContent = t("dash.legend.size");
    legend.append(size);
  }

  function renderDwell() {
    const rows = reports.checkpoints.items.map((r) => ({
      label: r.checkpoint_code, suppressed: r.suppressed,
      title: r.checkpoint_name,
      values: { p50: r.p50_dwell_minutes, p90: r.p90_dwell_minutes },
    }));
    Charts.bars($("dwell-chart"), rows, [
      { key: "p90", cls: "bar-p90", name: t("series.p90") },
      { key: "p50", cls: "bar-p50", name: t("series.p50") },
    ], Object.assign(barOptions($("dwell-chart"), 640, 170), {
      label: t("dash.dwell"), suppressedText: t("dash.suppressed"), fmt: (v) => I18N.number(v, 0),
    }));
  }

  // Where a policy change falls among the trend's periods: a fractional index (the chart's
  // points are evenly spaced), past its period's start by the part of the period gone by.
  const DAY = 86400000;
  function periodEnd(start) {
    const d = new Date(start);
    return $("f-interval").value === "month" ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) : start + 7 * DAY;
  }
  function markerAt(starts, at) {
    for (let i = 0; i < starts.length; i++) {
      const end = i + 1 < starts.length ? starts[i + 1] : periodEnd(starts[i]);
      if (at < end) return i + Math.max(0, (at - starts[i]) / (end - starts[i]));
    }
    return starts.length - 1;
  }

  function renderPolicies(starts) {
    const changes = reports.trends.policy_changes || [];
    const list = $("policy-list");
    list.replaceChildren();
    list.hidden = !changes.length;
    if (changes.length) list.setAttribute("aria-label", t("dash.policy.list"));
    return changes.map((p, i) => {
      const mark = I18N.number(i + 1, 0);
      const title = t("dash.policy.item", { date: I18N.dateTime(new Date(p.effective_at)), title: p.title });
      const li = document.createElement("li");
      li.dataset.id = p.id;
      const flag = document.createElement("span");
      flag.className = "policy-flag";
      flag.textContent = mark;
      // The title as text, never markup, isolated from the page's direction (an English title
      // on an Arabic page keeps its own order and does not reorder the date before it).
      const words = document.createElement("bdi");
      words.textContent = p.title;
      li.append(flag, t("dash.policy.item", { date: I18N.dateTime(new Date(p.effective_at)), title: "" }), words);
      list.append(li);
      return { at: markerAt(starts, Date.parse(p.effective_at)), title, mark, id: p.id };
    });
  }

  function renderTrends() {
    const items = reports.trends.items;
    const starts = items.map((r) => Date.parse(r.period_start + "T00:00:00Z"));
    const markers = renderPolicies(starts);
    Charts.lines($("trend-chart"), items.map((r) => ({
      label: r.period_start, suppressed: r.suppressed,
      values: { p50: r.p50_dwell_minutes, p90: r.p90_dwell_minutes },
    })), [
      { key: "p90", lineCls: "line-p90", dotCls: "dot-p90", name: t("series.p90") },
      { key: "p50", lineCls: "line-p50", dotCls: "dot-p50", name: t("series.p50") },
    ], { label: t("dash.trends"), width: fit($("trend-chart"), 900), fmt: (v) => I18N.number(v, 0), markers });
    table($("trend-table"), [
      { key: true, label: t("col.period"), field: "period_start" },
      { label: t("col.stops"), field: "stops", num: true, render: (r) => num(r.stops, 0) },
      { label: t("col.p50"), field: "p50_dwell_minutes", num: true, render: (r) => num(r.p50_dwell_minutes, 1) },
      { label: t("col.p90"), field: "p90_dwell_minutes", num: true, render: (r) => num(r.p90_dwell_minutes, 1) },
      { label: t("col.changeP90"), field: "change_p90_dwell_minutes", num: true, render: (r) => signed(r.change_p90_dwell_minutes, 1) },
      { label: t("col.holdRate"), field: "hold_rate", num: true, render: (r) => pct(r.hold_rate) },
      { label: t("col.delayHours"), field: "total_delay_hours", num: true, render: (r) => num(r.total_delay_hours, 1) },
      evidenceColumn("gps_confirmed_share"),
    ], [...items].reverse());
  }

  function renderProcedures() {
    const items = reports.procedures.items;
    Charts.bars($("procedure-chart"), items.map((r) => ({
      label: procedureName(r.procedure), suppressed: r.suppressed,
      values: { share: r.share_of_stop_time == null ? null : r.share_of_stop_time * 100 },
    })), [{ key: "share", cls: "bar-share", name: t("series.share") }],
    Object.assign(barOptions($("procedure-chart"), 520, 150), {
      label: t("dash.procedures"), fmt: (v) => I18N.number(v, 0), suppressedText: t("dash.suppressed"),
    }));
    table($("procedure-table"), [
      { key: true, label: t("col.procedure"), field: "procedure", render: (r) => procedureName(r.procedure) },
      { label: t("col.stopsRequiring"), field: "stops_requiring", num: true, render: (r) => num(r.stops_requiring, 0) },
      { label: t("col.shareOfStops"), field: "share_of_stops", num: true, render: (r) => pct(r.share_of_stops) },
      { label: t("col.p50"), field: "p50_minutes", num: true, render: (r) => num(r.p50_minutes, 1) },
      { label: t("col.p90"), field: "p90_minutes", num: true, render: (r) => num(r.p90_minutes, 1) },
      { label: t("col.totalHours"), field: "total_hours", num: true, render: (r) => num(r.total_hours, 1) },
      { label: t("col.shareOfTime"), field: "share_of_stop_time", num: true, render: (r) => pct(r.share_of_stop_time) },
    ], items);
  }

  function renderCommodities() {
    const items = reports.commodities.items;
    const options = barOptions($("commodity-chart"), 520, 170);
    const chars = Math.floor((options.labelWidth - 8) / 6.5);
    Charts.bars($("commodity-chart"), items.map((r) => ({
      label: `${r.hs_chapter} ${r.chapter_name}`.slice(0, chars), suppressed: r.suppressed, title: r.chapter_name,
      values: { p50: r.p50_dwell_minutes, p90: r.p90_dwell_minutes },
    })), [
      { key: "p90", cls: "bar-p90", name: t("series.p90") },
      { key: "p50", cls: "bar-p50", name: t("series.p50") },
    ], Object.assign(options, {
      label: t("dash.commodities"), fmt: (v) => I18N.number(v, 0), suppressedText: t("dash.suppressed"),
    }));
    table($("commodity-table"), [
      { key: true, label: t("col.chapter"), field: "hs_chapter" },
      { key: true, label: t("col.goods"), field: "chapter_name" },
      { label: t("col.stops"), field: "stops", num: true, render: (r) => num(r.stops, 0) },
      { label: t("col.p50"), field: "p50_dwell_minutes", num: true, render: (r) => num(r.p50_dwell_minutes, 1) },
      { label: t("col.p90"), field: "p90_dwell_minutes", num: true, render: (r) => num(r.p90_dwell_minutes, 1) },
      { label: t("col.holdRate"), field: "hold_rate", num: true, render: (r) => pct(r.hold_rate) },
      { label: t("col.delayHours"), field: "total_delay_hours", num: true, render: (r) => num(r.total_delay_hours, 1) },
      evidenceColumn("gps_confirmed_share"),
    ], items);
  }

  function renderCorridors() {
    table($("corridor-table"), [
      { key: true, label: t("col.corridor"), render: (r) => `${provinceName(r.origin_province)} → ${provinceName(r.destination_province)}` },
      { label: t("col.trips"), field: "trips", num: true, render: (r) => num(r.trips, 0) },
      { label: t("col.delivered"), field: "delivered_trips", num: true, render: (r) => num(r.delivered_trips, 0) },
      { label: t("col.transit"), field: "median_transit_hours", num: true, render: (r) => num(r.median_transit_hours, 1) },
      { label: t("col.stopsPerTrip"), field: "stops_per_trip", num: true, render: (r) => num(r.stops_per_trip, 1) },
      { label: t("col.delayPerTrip"), field: "delay_hours_per_trip", num: true, render: (r) => num(r.delay_hours_per_trip, 1) },
      { label: t("col.stopsPer100"), field: "stops_per_100km", num: true, render: (r) => num(r.stops_per_100km, 2) },
      { label: t("col.delayPer100"), field: "delay_minutes_per_100km", num: true, render: (r) => num(r.delay_minutes_per_100km, 1) },
      { label: t("col.worst"), field: "worst_checkpoint_code", render: (r) => (r.worst_checkpoint_code
        ? `${r.worst_checkpoint_code} (${pct(r.worst_checkpoint_delay_share)})` : "—") },
      evidenceColumn("gps_confirmed_share"),
    ], reports.corridors.items);
  }

  function renderAgencies() {
    table($("agency-table"), [
      { key: true, label: t("col.authority"), field: "authority", render: (r) => I18N.word("authority", r.authority) },
      { key: true, label: t("col.jurisdiction"), field: "jurisdiction", render: (r) => I18N.word("jurisdiction", r.jurisdiction) },
      { label: t("col.checkpoints"), field: "checkpoints", num: true, render: (r) => num(r.checkpoints, 0) },
      { label: t("col.stops"), field: "stops", num: true, render: (r) => num(r.stops, 0) },
      { label: t("col.p50"), field: "p50_dwell_minutes", num: true, render: (r) => num(r.p50_dwell_minutes, 1) },
      { label: t("col.p90"), field: "p90_dwell_minutes", num: true, render: (r) => num(r.p90_dwell_minutes, 1) },
      { label: t("col.holdRate"), field: "hold_rate", num: true, render: (r) => pct(r.hold_rate) },
      { label: t("col.delayHours"), field: "total_delay_hours", num: true, render: (r) => num(r.total_delay_hours, 1) },
      evidenceColumn("gps_confirmed_share"),
      { label: t("col.fees"), field: "fees", render: (r) => fees(r.fees) },
      evidenceColumn("fee_receipt_photo_share"),
    ], reports.agencies.items);
  }

  // ---- downloads: the API's own export, with the filters on screen
  function wireDownloads() {
    document.querySelectorAll(".downloads").forEach((span) => {
      span.replaceChildren();
      for (const format of ["csv", "xlsx"]) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "btn small";
        b.dataset.format = format;
        b.textContent = format.toUpperCase();
        b.title = t("dash.download", { format: format.toUpperCase() });
        b.addEventListener("click", () => download(span.dataset.report, format));
        span.append(b);
      }
    });
  }

  async function download(report, format) {
    const q = filterQuery(report);
    q.set("format", format);
    try {
      const r = await api(`/reports/${report}?${q}`);
      const blob = await r.blob();
      const match = /filename="?([^";]+)"?/.exec(r.headers.get("Content-Disposition") || "");
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = match ? match[1] : `${report}.${format}`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (e) {
      if (expired(e)) { signOut("dash.expired"); return; }
      $("error").textContent = String(e.message || e);
      $("error").hidden = false;
    }
  }

  // ---- signing in and out
  async function signIn(ev) {
    ev.preventDefault();
    $("login-error").hidden = true;
    const body = new URLSearchParams({ username: $("login-email").value, password: $("login-password").value });
    try {
      const r = await Common.api("/auth/token", null, { method: "POST", body });
      if (!r.ok) throw new Error(t("dash.loginFailed"));
      token = (await r.json()).access_token;
      sessionStorage.setItem(TOKEN, token);
      $("login-password").value = "";
      await showApp();
    } catch (e) {
      $("login-error").textContent = String(e.message || e);
      $("login-error").hidden = false;
    }
  }

  function signOut(messageKey) {
    token = null;
    sessionStorage.removeItem(TOKEN);
    checkpoints = [];
    role = null;
    cases = null;
    $("cases").hidden = true;
    $("app").hidden = true;
    $("who").hidden = true;
    $("login").hidden = false;
    if (messageKey) {
      $("login-error").textContent = t(messageKey);
      $("login-error").hidden = false;
    }
  }

  async function showApp() {
    try {
      const me = await (await api("/users/me")).json();
      $("who-email").textContent = me.email;
      role = me.role;
    } catch (e) {
      if (expired(e)) { signOut("dash.expired"); return; }
    }
    $("login").hidden = true;
    $("who").hidden = false;
    $("app").hidden = false;
    await loadAll();
  }

  function start() {
    I18N.start();
    wireDownloads();
    fillSelects();
    I18N.onChange(() => {
      wireDownloads();
      fillSelects();
      if (reports.checkpoints) renderAll();
    });
    $("login-form").addEventListener("submit", signIn);
    $("logout").addEventListener("click", () => signOut(null));
    $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadAll(); });
    $("f-reset").addEventListener("click", () => { $("filters").reset(); loadAll(); });
    $("case-form").addEventListener("submit", openCase);
    $("case-status").addEventListener("change", () => loadCases().catch((e) => {
      if (expired(e)) { signOut("dash.expired"); return; }
      $("error").textContent = String(e.message || e);
      $("error").hidden = false;
    }));
    setEvidence(initialEvidence());
    $("evidence-switch").addEventListener("change", (e) => {
      if (e.target.name !== "evidence") return;
      setEvidence(e.target.value);
      if (token) loadAll(); // every panel, redrawn from the reports asked anew
    });
    let resized = null;
    let drawnAt = window.innerWidth;
    window.addEventListener("resize", () => { // a phone turned: charts drawn again at the new width
      clearTimeout(resized);
      resized = setTimeout(() => {
        if (Math.abs(window.innerWidth - drawnAt) < 40 || !reports.checkpoints) return;
        drawnAt = window.innerWidth;
        renderAll();
      }, 250);
    });
    if (token) showApp();
    else signOut(null);
  }
  start();
})();

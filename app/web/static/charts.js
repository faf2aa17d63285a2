/* Small hand-made SVG charts: horizontal bars, lines over time, and a map of points.
 * Everything is built with DOM calls (no innerHTML, no inline style), so it runs under a
 * strict Content-Security-Policy. Colours come from CSS classes. */
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";

  function el(tag, attrs, parent, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    if (parent) parent.append(node);
    return node;
  }

  function svgIn(container, width, height, label) {
    container.replaceChildren();
    const svg = el("svg", {
      viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label || "",
      preserveAspectRatio: "xMinYMin meet",
    });
    container.append(svg);
    return svg;
  }

  function niceMax(value) {
    if (!(value > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(value));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= value) return m * p;
    return 10 * p;
  }

  /* rows: [{label, values: {key: number|null}, suppressed, title}];
   * series: [{key, cls, name}] drawn one over the other (largest first). */
  function bars(container, rows, series, opts) {
    const o = Object.assign({ labelWidth: 170, width: 640, rowHeight: 18, fmt: (v) => v.toFixed(0) }, opts);
    const top = 22;
    const height = top + rows.length * o.rowHeight + 24;
    const svg = svgIn(container, o.width, height, o.label);
    const plot = o.width - o.labelWidth - 60;
    let max = 0;
    for (const r of rows) for (const s of series) if (r.values[s.key] != null) max = Math.max(max, r.values[s.key]);
    max = niceMax(max);
    const x = (v) => o.labelWidth + (v / max) * plot;
    const axis = el("g", { class: "axis" }, svg);
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      el("line", { x1: x(v), x2: x(v), y1: top - 4, y2: height - 20, class: "grid-line" }, axis);
      el("text", { x: x(v), y: height - 6, "text-anchor": "middle", class: "muted-text" }, axis, o.fmt(v));
    }
    let legendX = o.labelWidth;
    for (const s of series) {
      el("rect", { x: legendX, y: 4, width: 10, height: 10, class: s.cls }, svg);
      el("text", { x: legendX + 14, y: 13 }, svg, s.name);
      legendX += 16 + s.name.length * 6.5 + 12;
    }
    rows.forEach((r, i) => {
      const y = top + i * o.rowHeight;
      const g = el("g", { class: "row" }, svg);
      el("title", {}, g, r.title || r.label);
      el("text", { x: o.labelWidth - 6, y: y + o.rowHeight * 0.7, "text-anchor": "end" }, g, r.label);
      if (r.suppressed) {
        el("text", { x: o.labelWidth + 4, y: y + o.rowHeight * 0.7, class: "suppressed-mark" }, g, o.suppressedText || "suppressed");
        return;
      }
      const ordered = [...series].sort((a, b) => (r.values[b.key] || 0) - (r.values[a.key] || 0));
      let labelled = 0;
      for (const s of ordered) {
        const v = r.values[s.key];
        if (v == null) continue;
        el("rect", { x: o.labelWidth, y: y + 2, width: Math.max(0.5, x(v) - o.labelWidth), height: o.rowHeight - 5, class: s.cls }, g);
        if (!labelled++) el("text", { x: x(v) + 4, y: y + o.rowHeight * 0.7, class: "muted-text" }, g, o.fmt(v));
      }
    });
    return svg;
  }

  /* points: [{label, values: {key: number|null}, suppressed}], evenly spaced in time order.
   * opts.markers: [{at, title, mark}] vertical lines at `at`, a fractional point index (1.5:
   * half-way between the second and third points), each with a small numbered flag; the title
   * (text, never markup) is the flag's tooltip and its accessible name, and a keyboard reaches it. */
  function lines(container, points, series, opts) {
    const o = Object.assign({ width: 900, height: 260, fmt: (v) => v.toFixed(0) }, opts);
    const m = { l: 48, r: 16, t: 24, b: 36 };
    const svg = svgIn(container, o.width, o.height, o.label);
    let max = 0;
    for (const p of points) for (const s of series) if (p.values[s.key] != null) max = Math.max(max, p.values[s.key]);
    max = niceMax(max);
    const w = o.width - m.l - m.r;
    const h = o.height - m.t - m.b;
    const x = (i) => m.l + (points.length > 1 ? (i * w) / (points.length - 1) : w / 2);
    const y = (v) => m.t + h - (v / max) * h;
    const axis = el("g", { class: "axis" }, svg);
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      el("line", { x1: m.l, x2: o.width - m.r, y1: y(v), y2: y(v), class: "grid-line" }, axis);
      el("text", { x: m.l - 6, y: y(v) + 4, "text-anchor": "end", class: "muted-text" }, axis, o.fmt(v));
    }
    // As many period labels as fit (about 80 px each), at most 12.
    const every = Math.max(1, Math.ceil(points.length / Math.min(12, Math.max(2, Math.floor(w / 80)))));
    points.forEach((p, i) => {
      if (i % every === 0) {
        // A label near either edge is anchored inside the picture rather than cut in half.
        const anchor = x(i) + 35 > o.width ? "end" : x(i) - 35 < 0 ? "start" : "middle";
        el("text", { x: x(i), y: o.height - 18, "text-anchor": anchor, class: "muted-text" }, axis, p.label);
      }
      if (p.suppressed) el("text", { x: x(i), y: o.height - 4, "text-anchor": "middle", class: "suppressed-mark" }, axis, "×");
    });
    for (const mk of o.markers || []) {
      const mx = x(Math.max(0, Math.min(points.length - 1, mk.at)));
      const g = el("g", { class: "marker", tabindex: 0, role: "img", "aria-label": mk.title }, svg);
      if (mk.id) g.setAttribute("data-id", mk.id);
      el("title", {}, g, mk.title);
      el("line", { x1: mx, x2: mx, y1: m.t, y2: m.t + h, class: "marker-line" }, g);
      el("rect", { x: mx - 7, y: m.t, width: 14, height: 14, rx: 3, class: "marker-flag" }, g);
      el("text", { x: mx, y: m.t + 11, "text-anchor": "middle", class: "marker-mark" }, g, mk.mark);
    }
    let legendX = m.l;
    for (const s of series) {
      el("line", { x1: legendX, x2: legendX + 16, y1: 10, y2: 10, class: s.lineCls }, svg);
      el("text", { x: legendX + 20, y: 14 }, svg, s.name);
      legendX += 30 + s.name.length * 6.5 + 12;
    }
    for (const s of series) {
      // A gap where a period is suppressed or empty: never a line through missing data.
      let d = "";
      let pen = false;
      points.forEach((p, i) => {
        const v = p.suppressed ? null : p.values[s.key];
        if (v == null) { pen = false; return; }
        d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
      });
      el("path", { d, class: s.lineCls }, svg);
      points.forEach((p, i) => {
        const v = p.suppressed ? null : p.values[s.key];
        if (v == null) return;
        const dot = el("circle", { cx: x(i), cy: y(v), r: 3, class: s.dotCls }, svg);
        el("title", {}, dot, `${p.label} · ${s.name}: ${o.fmt(v)}`);
      });
    }
    return svg;
  }

  /* places: [{lat, lon, r, cls, title}]; towns: [{lat, lon, label}] for orientation;
   * opts.outline: a country's border, [[lon, lat], …], drawn behind them (iraq-outline.js). */
  function map(container, places, towns, opts) {
    const o = Object.assign({ width: 520, height: 520 }, opts);
    const all = [...places, ...towns].filter((p) => p.lat != null && p.lon != null);
    // Iraq's extent, widened to anything outside it.
    let [s, n, w, e] = [29.0, 37.4, 38.8, 48.6];
    for (const p of all) { s = Math.min(s, p.lat); n = Math.max(n, p.lat); w = Math.min(w, p.lon); e = Math.max(e, p.lon); }
    const k = Math.cos((((s + n) / 2) * Math.PI) / 180); // equirectangular, true at mid-latitude
    const pad = 16;
    const scale = Math.min((o.width - 2 * pad) / ((e - w) * k), (o.height - 2 * pad) / (n - s));
    const width = Math.round((e - w) * k * scale + 2 * pad);
    const height = Math.round((n - s) * scale + 2 * pad);
    const svg = svgIn(container, width, height, o.label);
    const px = (lon) => pad + (lon - w) * k * scale;
    const py = (lat) => pad + (n - lat) * scale;
    el("rect", { x: 1, y: 1, width: width - 2, height: height - 2, class: "frame", rx: 6 }, svg);
    if (o.outline && o.outline.length) {
      const d = o.outline.map(([lon, lat], i) => `${i ? "L" : "M"}${px(lon).toFixed(1)},${py(lat).toFixed(1)}`);
      el("path", { d: d.join("") + "Z", class: "outline" }, svg);
    }
    for (const t of towns) {
      el("rect", { x: px(t.lon) - 2, y: py(t.lat) - 2, width: 4, height: 4, class: "capital" }, svg);
      el("text", { x: px(t.lon) + 5, y: py(t.lat) + 12, class: "capital-label" }, svg, t.label);
    }
    const sorted = [...places].sort((a, b) => b.r - a.r); // small circles on top
    for (const p of sorted) {
      if (p.lat == null || p.lon == null) continue;
      const c = el("circle", { cx: px(p.lon).toFixed(1), cy: py(p.lat).toFixed(1), r: p.r, class: "cp " + p.cls }, svg);
      if (p.id) c.setAttribute("data-checkpoint-id", p.id);
      el("title", {}, c, p.title);
    }
    return svg;
  }

  /* The map's colour for a p90 wait in minutes (null: nothing to say), the same on every page. */
  const DELAY_STEPS = [60, 180, 360];
  function delayClass(p90) {
    if (p90 == null) return "cn";
    const step = DELAY_STEPS.findIndex((limit) => p90 < limit);
    return "c" + (step < 0 ? DELAY_STEPS.length : step);
  }

  /* A legend under a chart: [[cls, label], …] as swatches with their words (HTML, not SVG). */
  function legend(container, entries) {
    container.replaceChildren();
    for (const [cls, label] of entries) {
      const item = document.createElement("span");
      const swatch = document.createElement("span");
      swatch.className = "swatch " + cls;
      item.append(swatch, label);
      container.append(item);
    }
  }

  window.Charts = { bars, lines, map, delayClass, legend, DELAY_STEPS };
})();

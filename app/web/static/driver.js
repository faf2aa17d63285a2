/* The driver's page: one shipment, big buttons, works offline.
 *
 * Every tap becomes an event with its own event_id (a UUID made here) and occurred_at (the
 * moment of the tap), put in a queue kept in localStorage, then sent with POST /api/v1/sync
 * whenever the phone is online. A retry sends the same event_id again, so the server stores
 * each event exactly once; an event leaves the queue only when the server answered
 * "created" or "duplicate". A "rejected" one stays on screen with the reason. A whole batch
 * refused with a 4xx is not sent again and again: too large (413), it goes in halves; else
 * every event stays queued, the driver is told, and it goes again when they tap "Try again"
 * (or open the page again).
 *
 * Each tap carries the phone's position when the driver allows it: the latest fix the page
 * holds (asked for at every button, when the page shows, and every minute while it is on
 * screen), with its accuracy, if it is at most FIX_MAX_AGE_MS old. A tap never waits for a
 * fix; the position travels with its event in the queue, offline too.
 *
 * After "fee paid" and "held" the driver may photograph the receipt or the hold notice:
 * driver-photos.js keeps each photo in IndexedDB with its event's id and sends it once that
 * event has reached the server; each photo shows its own state under its event.
 */
"use strict";
(function () {
  const RETRY_MS = 15000;
  const FIX_MAX_AGE_MS = 90000; // a fix older than this is not this tap's position
  const FIX_EVERY_MS = 60000;
  const SYNC_BATCH = 1000;
  const $ = (id) => document.getElementById(id);

  // ---- the link's token: from the #fragment (never sent to a server), else the last one.
  const LAST = "clearance.driver.last";
  let token = null;
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    token = fragment.get("token");
    try { localStorage.setItem(LAST, token); } catch (e) { /* private mode */ }
    // Keep the token out of the address bar (shoulder-surfing, screenshots).
    history.replaceState(null, "", location.pathname + location.search);
  } else {
    try { token = localStorage.getItem(LAST); } catch (e) { token = null; }
  }

  // ---- persistent state per link
  const storeKey = token ? "clearance.driver." + token.slice(-16) : null;
  // stuck: {status, detail} while a whole batch refused with a 4xx waits for the driver.
  // offer: the event_id of the fee or hold whose photo the page offers to take.
  let state = { shipment: null, checkpoints: [], queue: [], stuck: null, offer: null };
  function load() {
    if (!storeKey) return;
    try {
      const raw = localStorage.getItem(storeKey);
      if (raw) state = Object.assign(state, JSON.parse(raw));
    } catch (e) { /* corrupt or unavailable: start empty */ }
  }
  function save() {
    if (!storeKey) return;
    try { localStorage.setItem(storeKey, JSON.stringify(state)); } catch (e) { /* full */ }
  }

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // ---- talking to the API
  const api = (path, options) => Common.api(path, token, options);

  let linkInvalid = false;
  async function refresh() {
    if (!navigator.onLine || linkInvalid) return;
    try {
      const r = await api("/driver/shipment");
      if (r.status === 401 || r.status === 403 || r.status === 404) { invalidLink(); return; }
      if (!r.ok) return;
      state.shipment = await r.json();
      save(); // kept at once: a render while the checkpoints load shows this shipment
      if (!state.checkpoints.length) await loadCheckpoints();
      save();
      render();
    } catch (e) { /* offline: keep what we have */ }
  }

  async function loadCheckpoints() {
    let all;
    try {
      all = await Common.allPages("/checkpoints", token, { active: "true" });
    } catch (e) {
      return; // offline or refused: keep what we have
    }
    state.checkpoints = all.map((c) => ({
      id: c.id, code: c.code, name: c.name, name_ar: c.name_ar, name_ckb: c.name_ckb,
      province: c.province, lat: c.latitude, lon: c.longitude,
    }));
    // A driver who tapped "arrived" before the list came sees it now, not an empty panel.
    if (panelKind === "arrived") fillCheckpoints();
  }

  function invalidLink() {
    linkInvalid = true;
    showMessage("drv.badLink");
  }

  // After a failed try: again soon, then less and less often (2 s, 4 s, … at most a minute).
  let backoff = 0;
  let retryTimer = null;
  function retrySoon() {
    backoff = Math.min(backoff ? backoff * 2 : 2000, 60000);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(sync, backoff);
  }

  // A 4xx for the whole batch (the request, not one event) would come again for the same
  // request: no retry loop then. 408 and 429 are "later", so they are retried like a 5xx.
  const refusedForGood = (status) => status >= 400 && status < 500 && status !== 408 && status !== 429;
  let batchSize = SYNC_BATCH;

  let syncing = false;
  async function sync() {
    if (syncing || linkInvalid || state.stuck || !navigator.onLine) return;
    const batch = state.queue.filter((q) => q.state === "pending").slice(0, batchSize);
    if (!batch.length) return;
    syncing = true;
    renderNet();
    let more = false;
    try {
      const r = await api("/sync", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ events: batch.map((q) => q.event) }),
      });
      if (r.status === 401 || r.status === 403) { invalidLink(); return; }
      if (r.status === 413 && batch.length > 1) { // too large: the same events, in halves
        batchSize = Math.ceil(batch.length / 2);
        setTimeout(sync, 0); // once this try has let go (a return skips the lines after it)
        return;
      }
      if (refusedForGood(r.status)) { // keep all, say so, wait for the driver
        const problem = await Common.problem(r);
        state.stuck = { status: r.status, detail: problem.message };
        save();
        return;
      }
      if (!r.ok) { retrySoon(); return; } // keep all; the next try sends the same event_ids
      const answer = await r.json();
      const byId = new Map(answer.results.map((x) => [x.event_id, x]));
      const sent = [];
      state.queue = state.queue.filter((q) => {
        const result = byId.get(q.event.event_id);
        if (!result || q.state !== "pending") return true;
        if (result.status === "created" || result.status === "duplicate") {
          sent.push(q.event);
          return false;
        }
        q.state = "rejected";
        q.reason = result.reason || "";
        return true;
      });
      if (state.shipment) {
        const known = new Set(state.shipment.timeline.map((e) => e.event_id));
        for (const e of sent) if (!known.has(e.event_id)) state.shipment.timeline.push(e);
      }
      save();
      backoff = 0;
      more = state.queue.some((q) => q.state === "pending");
    } catch (e) {
      /* network gone mid-request: the events stay queued and go again with the same ids */
      if (navigator.onLine) retrySoon();
    } finally {
      syncing = false;
      render();
    }
    if (more) sync();
    else { refresh(); DriverPhotos.sync(true); }
  }

  function record(type, fields) {
    const event = Object.assign(
      { event_id: uuid(), type, occurred_at: new Date().toISOString() }, fields || {},
    );
    const fix = recentFix();
    if (fix) {
      event.location = {
        lat: round(fix.lat, 6), lon: round(fix.lon, 6), accuracy_m: round(fix.accuracy, 1),
      };
    }
    state.queue.push({ event, state: "pending" });
    state.offer = PHOTO_KIND[type] ? event.event_id : null;
    save();
    closePanel();
    render();
    sync();
  }

  const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;

  // ---- photos of the paper: the kind of attachment each event's photo is
  const PHOTO_KIND = { fee_paid: "receipt", held: "notice" };

  /* Where an event is: "pending" (on the phone), "rejected", or "synced" (on the server). */
  function eventStatus(eventId) {
    const queued = state.queue.find((q) => q.event.event_id === eventId);
    if (!queued) return "synced";
    return queued.state === "rejected" ? "rejected" : "pending";
  }

  function findEvent(eventId) {
    const queued = state.queue.find((q) => q.event.event_id === eventId);
    if (queued) return queued.event;
    return ((state.shipment && state.shipment.timeline) || []).find((e) => e.event_id === eventId);
  }

  let preparing = false;
  let photoError = null;
  async function takePhoto(input) {
    const file = input.files && input.files[0];
    const eventId = input.dataset.eventId;
    const kind = input.dataset.kind;
    input.value = ""; // the same file may be chosen again
    if (!file || !eventId || !state.shipment) return;
    state.offer = eventId; // its state shows at the top of the page
    preparing = true;
    photoError = null;
    save();
    render();
    try {
      await DriverPhotos.add(file, { shipmentId: state.shipment.id, eventId, kind });
    } catch (e) {
      photoError = "drv.photo.full";
    } finally {
      preparing = false;
      render();
    }
  }

  function photoInput(input, eventId, kind) {
    input.type = "file";
    input.accept = "image/*";
    input.setAttribute("capture", "environment");
    input.className = "photo-input";
    input.dataset.eventId = eventId;
    input.dataset.kind = kind;
  }

  /* A label that opens the camera: the input inside it is the real control. */
  function photoButton(eventId, kind) {
    const label = document.createElement("label");
    label.className = "photo-add";
    const input = document.createElement("input");
    photoInput(input, eventId, kind);
    input.addEventListener("change", () => takePhoto(input));
    const text = document.createElement("span");
    text.textContent = I18N.t("drv.photo.add");
    label.append(input, text);
    return label;
  }

  const thumbs = new Map(); // photo id -> object URL of its thumbnail
  function photoStrip(eventId) {
    const list = document.createElement("ul");
    list.className = "photos";
    for (const photo of DriverPhotos.forEvent(eventId)) {
      const li = document.createElement("li");
      li.className = "photo";
      li.dataset.state = photo.state;
      li.dataset.photoId = photo.id;
      if (photo.thumb) {
        if (!thumbs.has(photo.id)) thumbs.set(photo.id, URL.createObjectURL(photo.thumb));
        const img = document.createElement("img");
        img.src = thumbs.get(photo.id);
        img.alt = "";
        li.append(img);
      } else {
        const none = document.createElement("span"); // bytes the phone could not show
        none.className = "no-thumb";
        li.append(none);
      }
      const badge = document.createElement("span");
      badge.className = "state " + photo.state;
      badge.textContent = I18N.t("drv.photo.state." + photo.state);
      li.append(badge);
      if (photo.state === "refused") {
        const reason = document.createElement("span");
        reason.className = "reason";
        // The server's own words (its problem's title and detail), or why it was never sent.
        reason.textContent = photo.reason_key ? I18N.t(photo.reason_key)
          : [photo.status ? `HTTP ${photo.status}` : "", photo.reason, photo.detail]
            .filter(Boolean).join(" — ");
        reason.dir = "auto";
        const dismiss = document.createElement("button");
        dismiss.type = "button";
        dismiss.className = "dismiss";
        dismiss.textContent = I18N.t("drv.dismiss");
        dismiss.addEventListener("click", () => DriverPhotos.remove(photo.id));
        li.append(reason, dismiss);
      }
      list.append(li);
    }
    return list;
  }

  function renderOffer() {
    const offer = $("photo-offer");
    const event = state.offer ? findEvent(state.offer) : null;
    const kind = event ? PHOTO_KIND[event.type] : null;
    if (!kind || eventStatus(event.event_id) === "rejected" || linkInvalid) {
      offer.hidden = true;
      return;
    }
    offer.hidden = false;
    $("photo-offer-what").textContent = describe(event);
    const input = $("photo-input");
    photoInput(input, event.event_id, kind);
    input.disabled = preparing;
    const taken = DriverPhotos.forEvent(event.event_id).length;
    $("photo-why").hidden = taken > 0; // said once, before the first photo
    $("photo-take-text").textContent = I18N.t(
      preparing ? "drv.photo.preparing" : taken ? "drv.photo.another" : "drv.photo." + kind,
    );
    $("photo-take").classList.toggle("busy", preparing);
    $("photo-error").hidden = !photoError;
    $("photo-error").textContent = photoError ? I18N.t(photoError) : "";
    $("photo-offer-photos").replaceChildren(...photoStrip(event.event_id).children);
  }

  // ---- what the driver's situation is: the server's timeline plus what is still queued
  function situation() {
    const events = [];
    if (state.shipment) events.push(...state.shipment.timeline);
    for (const q of state.queue) if (q.state === "pending") events.push(q.event);
    events.sort((a, b) => Date.parse(a.occurred_at) - Date.parse(b.occurred_at));
    const s = { stop: null, held: null, procs: [], departed: false, delivered: false, turnedBack: false };
    for (const e of events) {
      switch (e.type) {
        case "departed": s.departed = true; break;
        case "arrived":
          s.stop = { checkpoint_id: e.checkpoint_id, since: e.occurred_at };
          s.held = null; s.procs = []; s.departed = true; s.turnedBack = false; break;
        case "procedure_started":
          if (!s.procs.includes(e.procedure)) s.procs.push(e.procedure); break;
        case "procedure_completed": s.procs = s.procs.filter((p) => p !== e.procedure); break;
        case "held": s.held = { reason: e.hold_reason, since: e.occurred_at }; break;
        case "released": s.stop = null; s.held = null; s.procs = []; break;
        case "turned_back": s.stop = null; s.held = null; s.procs = []; s.turnedBack = true; break;
        case "delivered": s.stop = null; s.held = null; s.procs = []; s.delivered = true; break;
        default: break;
      }
    }
    return s;
  }

  const checkpointName = (c) => Common.checkpointName(c);
  const checkpointById = (id) => state.checkpoints.find((c) => c.id === id);

  function duration(ms) {
    const total = Math.max(0, Math.floor(ms / 60000));
    const h = Math.floor(total / 60);
    const m = total % 60;
    const num = (x) => I18N.number(x, 0);
    return h ? I18N.t("drv.hours", { h: num(h), m: num(m) }) : I18N.t("drv.minutes", { m: num(m) });
  }

  // ---- rendering
  function showMessage(key) {
    const m = $("message");
    m.dataset.i18n = key;
    m.textContent = I18N.t(key);
    m.hidden = false;
    $("actions").hidden = true;
    $("panel").hidden = true;
  }

  function renderNet() {
    const online = navigator.onLine;
    $("net").classList.toggle("offline", !online);
    $("net-state").textContent = I18N.t(online ? "drv.online" : "drv.offline");
    const pending = state.queue.filter((q) => q.state === "pending").length;
    const queueState = $("queue-state");
    queueState.dataset.pending = String(pending);
    const stuck = state.stuck && pending ? state.stuck : null;
    queueState.textContent = syncing
      ? I18N.t("drv.sending")
      : stuck ? I18N.t("drv.stuckCount", { n: I18N.number(pending, 0) })
        : pending ? I18N.t("drv.pending", { n: I18N.number(pending, 0) }) : I18N.t("drv.allSent");
    renderGps();
    const photosWaiting = DriverPhotos.waiting();
    const photoState = $("photo-state");
    photoState.dataset.waiting = String(photosWaiting);
    photoState.hidden = !photosWaiting;
    photoState.textContent = I18N.t("drv.photosWaiting", { n: I18N.number(photosWaiting, 0) });
    $("stuck").hidden = !stuck;
    if (stuck) {
      $("stuck").dataset.status = String(stuck.status);
      $("stuck-text").textContent = I18N.t("drv.stuck");
      // The server's own words, for the company: in its language, on a line of their own.
      $("stuck-detail").textContent = `HTTP ${stuck.status}${stuck.detail ? " — " + stuck.detail : ""}`;
    }
  }

  function render() {
    if (!token) { showMessage("drv.noLink"); return; }
    if (!state.shipment) {
      if (!linkInvalid) {
        $("message").dataset.i18n = "drv.loading";
        $("message").textContent = I18N.t("drv.loading");
        $("message").hidden = false;
      }
      return;
    }
    if (!linkInvalid) $("message").hidden = true;
    $("trip").hidden = false;
    const sh = state.shipment;
    $("tracking-code").textContent = sh.tracking_code;
    const arrow = document.documentElement.dir === "rtl" ? " ← " : " → ";
    $("trip-route").textContent = I18N.word("province", sh.origin_province) + arrow +
      I18N.word("province", sh.destination_province);
    renderNet();

    const s = situation();
    const where = $("current-where");
    $("current-since").textContent = "";
    $("current-waited").hidden = true;
    $("current-held").hidden = true;
    $("current-procs").hidden = true;
    if (s.stop) {
      where.textContent = checkpointName(checkpointById(s.stop.checkpoint_id));
      const since = new Date(s.stop.since);
      $("current-since").textContent = I18N.t("drv.atSince", { time: I18N.time(since) });
      $("current-waited").hidden = false;
      $("waited-value").textContent = duration(Date.now() - since.getTime());
      if (s.held) {
        $("current-held").hidden = false;
        $("current-held").textContent = I18N.t("drv.heldFor", {
          reason: I18N.word("hold", s.held.reason), time: I18N.time(new Date(s.held.since)),
        });
      }
      if (s.procs.length) {
        $("current-procs").hidden = false;
        $("current-procs").textContent = I18N.t("drv.openProcs", {
          list: s.procs.map((p) => I18N.word("procedure", p)).join(I18N.lang === "en" ? ", " : "، "),
        });
      }
    } else if (s.delivered) {
      where.textContent = I18N.t("drv.delivered");
    } else if (s.turnedBack) {
      where.textContent = I18N.t("drv.turnedBack");
    } else {
      where.textContent = I18N.t(s.departed ? "drv.onTheRoad" : "drv.notStarted");
    }

    // Which buttons make sense now.
    const atStop = Boolean(s.stop);
    const show = {
      arrived: !atStop && !s.delivered,
      departed: !atStop && !s.departed && !s.delivered,
      delivered: !atStop && s.departed && !s.delivered,
      procedure_started: atStop,
      procedure_completed: atStop && s.procs.length > 0,
      fee_paid: atStop,
      held: atStop && !s.held,
      released: atStop,
      turned_back: atStop,
    };
    if (!linkInvalid) $("actions").hidden = false;
    document.querySelectorAll("[data-action]").forEach((b) => { b.hidden = !show[b.dataset.action]; });
    renderOffer();
    renderLog();
  }

  function describe(e) {
    let text = I18N.word("event", e.type);
    if (e.type === "arrived") text += " — " + checkpointName(checkpointById(e.checkpoint_id));
    if (e.procedure) text += " — " + I18N.word("procedure", e.procedure);
    if (e.hold_reason) text += " — " + I18N.word("hold", e.hold_reason);
    if (e.fee) {
      const receipt = I18N.t(e.fee.receipt ? "drv.yes" : "drv.no");
      text += ` — ${e.fee.amount} ${e.fee.currency} (${I18N.t("drv.receipt")} ${receipt})`;
    }
    return text;
  }

  function renderLog() {
    const items = [];
    for (const q of state.queue) items.push({ event: q.event, state: q.state, reason: q.reason });
    const queued = new Set(items.map((i) => i.event.event_id));
    for (const e of (state.shipment ? state.shipment.timeline : [])) {
      if (!queued.has(e.event_id)) items.push({ event: e, state: "sent" });
    }
    items.sort((a, b) => Date.parse(b.event.occurred_at) - Date.parse(a.event.occurred_at));
    const list = $("log-list");
    list.replaceChildren();
    for (const item of items.slice(0, 30)) {
      const li = document.createElement("li");
      li.dataset.eventId = item.event.event_id;
      li.dataset.state = item.state;
      const what = document.createElement("span");
      what.textContent = `${I18N.time(new Date(item.event.occurred_at))} · ${describe(item.event)}`;
      const badge = document.createElement("span");
      badge.className = "state " + item.state;
      badge.textContent = I18N.t("drv.state." + item.state);
      li.append(what, badge);
      const kind = PHOTO_KIND[item.event.type];
      if (kind) {
        const photos = photoStrip(item.event.event_id);
        if (photos.children.length) li.append(photos);
        if (item.state !== "rejected") li.append(photoButton(item.event.event_id, kind));
      }
      if (item.state === "rejected") {
        const reason = document.createElement("span");
        reason.className = "reason";
        reason.textContent = item.reason || "";
        const dismiss = document.createElement("button");
        dismiss.type = "button";
        dismiss.className = "dismiss";
        dismiss.textContent = I18N.t("drv.dismiss");
        dismiss.addEventListener("click", () => {
          state.queue = state.queue.filter((q) => q.event.event_id !== item.event.event_id);
          // Its photos go with it (never sent: refused with the tap).
          for (const photo of DriverPhotos.forEvent(item.event.event_id)) DriverPhotos.remove(photo.id);
          save();
          render();
        });
        li.append(reason, dismiss);
      }
      list.append(li);
    }
  }

  // ---- the phone's position: asked for ahead of the taps, never waited for
  let position = null; // {lat, lon, accuracy, at}: the latest fix
  let gpsRefused = false;
  let locating = false;
  function locate() {
    if (!navigator.geolocation || locating) return;
    locating = true;
    navigator.geolocation.getCurrentPosition(
      (p) => {
        locating = false;
        gpsRefused = false;
        position = {
          lat: p.coords.latitude, lon: p.coords.longitude,
          accuracy: Math.max(0, p.coords.accuracy || 0), at: p.timestamp || Date.now(),
        };
        renderGps();
        if (panelKind === "arrived") fillCheckpoints();
      },
      (error) => { // no position: taps go without one (and checkpoints in route order)
        locating = false;
        if (error && error.code === 1) { gpsRefused = true; renderGps(); } // PERMISSION_DENIED
      },
      { enableHighAccuracy: true, timeout: 10000, maximumAge: 30000 },
    );
  }

  function recentFix() {
    return position && Date.now() - position.at <= FIX_MAX_AGE_MS ? position : null;
  }

  function renderGps() {
    const gps = $("gps-state");
    if (!gps) return;
    const fix = recentFix();
    gps.hidden = !fix && !gpsRefused;
    gps.dataset.state = fix ? "fix" : gpsRefused ? "off" : "none";
    gps.textContent = fix
      ? I18N.t("drv.gps.fix", { m: I18N.number(Math.round(fix.accuracy), 0) })
      : I18N.t("drv.gps.off");
  }

  // ---- the panel: choose a checkpoint, a procedure, a reason, or enter a fee

  function km(a, b) {
    const rad = Math.PI / 180;
    const dLat = (b.lat - a.lat) * rad;
    const dLon = (b.lon - a.lon) * rad;
    const h = Math.sin(dLat / 2) ** 2 +
      Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
    return 2 * 6371 * Math.asin(Math.sqrt(h));
  }

  let panelKind = null;
  function openPanel(kind, titleKey) {
    panelKind = kind;
    $("panel-title").textContent = I18N.t(titleKey);
    $("panel-title").dataset.i18n = titleKey;
    $("choices").replaceChildren();
    $("fee-form").hidden = kind !== "fee_paid";
    $("choices").hidden = kind === "fee_paid";
    $("checkpoint-search").hidden = kind !== "arrived";
    $("actions").hidden = true;
    $("panel").hidden = false;
    $("panel").scrollIntoView({ block: "start" });
  }

  function closePanel() {
    panelKind = null;
    $("panel").hidden = true;
    $("actions").hidden = linkInvalid;
  }

  function choice(label, detail, onPick, value) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "choice";
    if (value) b.dataset.value = value;
    const main = document.createElement("span");
    main.textContent = label;
    b.append(main);
    if (detail) {
      const small = document.createElement("small");
      small.textContent = detail;
      b.append(small);
    }
    b.addEventListener("click", onPick);
    $("choices").append(b);
  }

  function fillCheckpoints() {
    const route = (state.shipment && state.shipment.route) || [];
    const needle = $("checkpoint-search").value.trim().toLowerCase();
    let list = state.checkpoints.filter((c) => !needle ||
      [c.code, c.name, c.name_ar, c.name_ckb].some((x) => x && x.toLowerCase().includes(needle)));
    const withDistance = list.map((c) => ({
      c, d: position && c.lat != null && c.lon != null ? km(position, c) : null,
      r: route.indexOf(c.id),
    }));
    withDistance.sort((a, b) => {
      if (a.d != null && b.d != null) return a.d - b.d;
      if (a.d != null || b.d != null) return a.d != null ? -1 : 1;
      if (a.r !== b.r) return (a.r < 0 ? 1e9 : a.r) - (b.r < 0 ? 1e9 : b.r);
      return checkpointName(a.c).localeCompare(checkpointName(b.c));
    });
    $("choices").replaceChildren();
    for (const { c, d, r } of withDistance) {
      const detail = d != null
        ? I18N.t("drv.km", { km: I18N.number(d, d < 10 ? 1 : 0) })
        : r >= 0 ? I18N.t("drv.onRoute") : I18N.word("province", c.province);
      choice(checkpointName(c), detail, () => record("arrived", { checkpoint_id: c.id }), c.id);
    }
  }

  const PROCEDURES = WORDS.lists.procedure;
  const HOLD_REASONS = WORDS.lists.hold;

  function act(action) {
    locate(); // for the tap this leads to (a choice in the panel), if not for this one
    const s = situation();
    switch (action) {
      case "arrived":
        $("checkpoint-search").value = "";
        openPanel("arrived", "drv.pickCheckpoint");
        fillCheckpoints();
        break;
      case "procedure_started":
        openPanel(action, "drv.pickProcedure");
        for (const p of PROCEDURES) {
          choice(I18N.word("procedure", p), null, () => record(action, { procedure: p }), p);
        }
        break;
      case "procedure_completed": {
        openPanel(action, "drv.pickProcedure");
        const open = s.procs.length ? s.procs : PROCEDURES;
        for (const p of open) {
          choice(I18N.word("procedure", p), null, () => record(action, { procedure: p }), p);
        }
        break;
      }
      case "held":
        openPanel(action, "drv.pickReason");
        for (const r of HOLD_REASONS) {
          choice(I18N.word("hold", r), null, () => record(action, { hold_reason: r }), r);
        }
        break;
      case "fee_paid":
        $("fee-form").reset();
        $("fee-error").hidden = true;
        openPanel(action, "drv.feeTitle");
        $("fee-amount").focus();
        break;
      default:
        record(action);
    }
  }

  function submitFee(ev) {
    ev.preventDefault();
    const amount = Number($("fee-amount").value);
    const receipt = new FormData($("fee-form")).get("receipt");
    const error = $("fee-error");
    if (!(amount > 0)) { error.textContent = I18N.t("drv.amountInvalid"); error.hidden = false; return; }
    if (!receipt) { error.textContent = I18N.t("drv.receiptMissing"); error.hidden = false; return; }
    record("fee_paid", {
      fee: { amount: round(amount, 2), currency: $("fee-currency").value, receipt: receipt === "yes" },
    });
  }

  // ---- start
  function retryNow() {
    state.stuck = null;
    batchSize = SYNC_BATCH;
    save();
    render();
    sync();
  }

  function start() {
    $("fee-currency").replaceChildren(...WORDS.currencies.map((code) => new Option(code, code)));
    I18N.start();
    I18N.onChange(() => { render(); if (panelKind === "arrived") fillCheckpoints(); });
    document.querySelectorAll("[data-action]").forEach((b) => {
      b.addEventListener("click", () => act(b.dataset.action));
    });
    $("panel-cancel").addEventListener("click", closePanel);
    $("fee-form").addEventListener("submit", submitFee);
    $("checkpoint-search").addEventListener("input", fillCheckpoints);
    $("stuck-retry").addEventListener("click", retryNow);
    $("photo-input").addEventListener("change", () => takePhoto($("photo-input")));
    $("photo-done").addEventListener("click", () => {
      state.offer = null;
      photoError = null;
      save();
      render();
    });
    window.addEventListener("online", () => {
      renderNet(); sync(); refresh(); DriverPhotos.sync(true);
    });
    window.addEventListener("offline", renderNet);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) { sync(); DriverPhotos.sync(); locate(); }
    });
    setInterval(() => { if (!document.hidden) locate(); }, FIX_EVERY_MS);
    setInterval(() => { sync(); DriverPhotos.sync(); }, RETRY_MS);
    setInterval(() => { if (!document.hidden && panelKind === null) render(); }, 20000);
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("/driver/sw.js", { scope: "/driver" }).catch(() => {});
    }
    if (!token) { render(); return; }
    load();
    state.stuck = null; // opening the page again is a new try
    locate();
    render();
    sync();
    refresh();
    DriverPhotos.start({
      link: storeKey,
      api,
      eventStatus,
      onChange: render,
      onLinkInvalid: invalidLink,
      linkInvalid: () => linkInvalid,
    });
  }
  start();
})();

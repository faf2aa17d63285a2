/* Photos of a receipt or a hold notice, taken on the driver's phone and attached to an event.
 *
 * A photo is shrunk here once, when it is taken (at most 1600 px on its long side, JPEG at
 * quality 0.8: a few hundred KB instead of several MB), and its bytes are kept in IndexedDB
 * with the id of its event (localStorage cannot hold photos). It is uploaded only after its
 * event has reached the server, one photo at a time, and always the same bytes: the server
 * keeps one attachment per event and content, so a retry after a lost answer is a 200, and
 * every photo arrives exactly once. 200 and 201 are "sent" (its bytes are then dropped from
 * the phone, a small thumbnail is kept); a 4xx other than 401, 408 and 429 is "refused", with
 * the problem's title, and never sent again; a network failure, 408, 429 or a 5xx is "later",
 * with a growing pause. A photo the browser cannot decode is sent as it is, so that the
 * server says why it refuses it.
 */
"use strict";
window.DriverPhotos = (function () {
  const DB_NAME = "clearance-driver";
  const STORE = "photos";
  const MAX_SIDE = 1600;
  const QUALITY = 0.8;
  const THUMB_SIDE = 160;
  const PERSIST_ASKED = "clearance.driver.persistAsked";

  let ctx = null; // {link, api, eventStatus(id), onChange(), onLinkInvalid(), linkInvalid()}
  let photos = []; // this link's photos, oldest first
  let dbPromise = null;

  function openDb() {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const request = indexedDB.open(DB_NAME, 1);
        request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "id" });
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    }
    return dbPromise;
  }

  async function store(mode, fn) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  const save = (photo) => store("readwrite", (s) => s.put(photo));

  async function start(context) {
    ctx = context;
    try {
      const all = await store("readonly", (s) => s.getAll());
      photos = all.filter((p) => p.link === ctx.link)
        .sort((a, b) => Date.parse(a.taken_at) - Date.parse(b.taken_at));
    } catch (e) {
      photos = []; // no IndexedDB (a private window of an old browser): no photos
    }
    ctx.onChange();
    sync(true);
  }

  // ---- shrinking on the phone
  async function decode(file) {
    if (window.createImageBitmap) {
      try {
        return await createImageBitmap(file, { imageOrientation: "from-image" });
      } catch (e) { /* try an <img>, which knows more formats on some phones */ }
    }
    const url = URL.createObjectURL(file);
    try {
      const img = new Image();
      img.src = url;
      await img.decode();
      return img;
    } catch (e) {
      return null;
    } finally {
      setTimeout(() => URL.revokeObjectURL(url), 0);
    }
  }

  function jpeg(source, width, height, longSide, quality) {
    const scale = Math.min(1, longSide / Math.max(width, height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    const g = canvas.getContext("2d");
    g.imageSmoothingQuality = "high";
    g.drawImage(source, 0, 0, canvas.width, canvas.height);
    return new Promise((resolve) => {
      canvas.toBlob((blob) => resolve({ blob, width: canvas.width, height: canvas.height }),
        "image/jpeg", quality);
    });
  }

  async function shrink(file) {
    const source = await decode(file);
    if (!source) return { blob: file, type: file.type || "application/octet-stream", thumb: null };
    const width = source.naturalWidth || source.width;
    const height = source.naturalHeight || source.height;
    const full = await jpeg(source, width, height, MAX_SIDE, QUALITY);
    const thumb = await jpeg(source, width, height, THUMB_SIDE, 0.7);
    if (source.close) source.close();
    if (!full.blob) return { blob: file, type: file.type || "application/octet-stream", thumb: null };
    return { blob: full.blob, type: "image/jpeg", width: full.width, height: full.height, thumb: thumb.blob };
  }

  /* Ask once that this site's storage is not evicted when the phone runs short of space:
   * unsent photos live there. */
  function persistOnce() {
    if (!navigator.storage || !navigator.storage.persist) return;
    try {
      if (localStorage.getItem(PERSIST_ASKED)) return;
      localStorage.setItem(PERSIST_ASKED, new Date().toISOString());
    } catch (e) { /* private mode: ask anyway */ }
    navigator.storage.persisted()
      .then((already) => already || navigator.storage.persist())
      .then((granted) => { document.body.dataset.storagePersisted = String(granted); })
      .catch(() => {});
  }

  /* A photo for an event: shrunk, kept on the phone, then sent when its event has been. */
  async function add(file, { shipmentId, eventId, kind }) {
    const shrunk = await shrink(file);
    const photo = {
      id: crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random(),
      link: ctx.link,
      shipment_id: shipmentId,
      event_id: eventId,
      kind,
      type: shrunk.type,
      blob: shrunk.blob,
      thumb: shrunk.thumb,
      width: shrunk.width || null,
      height: shrunk.height || null,
      bytes: shrunk.blob.size,
      taken_at: new Date().toISOString(),
      state: "waiting",
    };
    await save(photo); // throws when the phone is full: the caller says so
    photos.push(photo);
    persistOnce();
    ctx.onChange();
    sync(true);
    return photo;
  }

  async function remove(id) {
    await store("readwrite", (s) => s.delete(id));
    photos = photos.filter((p) => p.id !== id);
    ctx.onChange();
  }

  // ---- sending
  let running = false;
  let again = false;
  let pause = 0;
  let notBefore = 0;
  let timer = null;

  function later() {
    pause = Math.min(pause ? pause * 2 : 2000, 60000);
    notBefore = Date.now() + pause;
    clearTimeout(timer);
    timer = setTimeout(() => sync(true), pause);
  }

  async function settle(photo, changes) {
    Object.assign(photo, changes);
    try { await save(photo); } catch (e) { /* kept in memory; a resend is answered 200 */ }
  }

  async function problemOf(response) {
    try {
      const body = await response.json();
      return { title: body.title || "", detail: body.detail || "" };
    } catch (e) {
      return { title: response.statusText || "", detail: "" };
    }
  }

  // "sent" | "refused" | "later" | "stop"
  async function send(photo) {
    const path = `/shipments/${photo.shipment_id}/events/${photo.event_id}/attachments?kind=${photo.kind}`;
    let r;
    try {
      r = await ctx.api(path, { method: "POST", headers: { "Content-Type": photo.type }, body: photo.blob });
    } catch (e) {
      return "later";
    }
    if (r.status === 200 || r.status === 201) {
      let id = null;
      try { id = (await r.json()).id; } catch (e) { /* sent all the same */ }
      await settle(photo, { state: "sent", attachment_id: id, sent_at: new Date().toISOString(), blob: null });
      return "sent";
    }
    if (r.status === 401) { ctx.onLinkInvalid(); return "stop"; }
    if (r.status === 408 || r.status === 429 || r.status >= 500 || r.status < 400) return "later";
    const problem = await problemOf(r);
    await settle(photo, {
      state: "refused", status: r.status, reason: problem.title, detail: problem.detail, blob: null,
    });
    return "refused";
  }

  async function sync(force) {
    if (!ctx) return;
    if (running) { again = true; return; }
    if (!navigator.onLine || ctx.linkInvalid()) return;
    if (!force && Date.now() < notBefore) return;
    running = true;
    try {
      for (const photo of photos.filter((p) => p.state === "waiting")) {
        const event = ctx.eventStatus(photo.event_id);
        if (event === "pending") continue; // its event first
        if (event === "rejected") {
          await settle(photo, { state: "refused", reason_key: "drv.photo.eventRejected", blob: null });
          continue;
        }
        const outcome = await send(photo);
        ctx.onChange();
        if (outcome === "later") { later(); break; }
        if (outcome === "stop") break;
        pause = 0;
        notBefore = 0;
      }
    } finally {
      running = false;
      ctx.onChange();
    }
    if (again) { again = false; sync(); }
  }

  const forEvent = (eventId) => photos.filter((p) => p.event_id === eventId);
  const waiting = () => photos.filter((p) => p.state === "waiting").length;
  const any = () => photos.length > 0;

  return { start, add, remove, sync, forEvent, waiting, any };
})();

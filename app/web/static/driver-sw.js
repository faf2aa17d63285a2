/* The driver's page works offline: its shell — words.js, the names made from the Python
 * definitions, included — is cached here, network first (so an update shows at once when
 * online), the cache when the network fails. API calls are never cached: the page keeps its
 * own queue and copy of the trip (and its photos, in IndexedDB). Scope: /driver.
 * The app serves this file with the assets below named by their content
 * (/static/web/driver.<fingerprint>.js, app/web/assets.py): a deploy that changes an asset
 * changes this worker, so the browser installs it anew, and the new worker drops the copies
 * of names no longer in its list. */
"use strict";
const CACHE = "clearance-driver-v3";
const SHELL = [
  "/driver",
  "/driver/manifest.webmanifest",
  "/static/web/common.css",
  "/static/web/driver.css",
  "/static/web/words.js",
  "/static/web/i18n.js",
  "/static/web/common.js",
  "/static/web/driver-strings.js",
  "/static/web/driver-photos.js",
  "/static/web/driver.js",
  "/static/web/icon.svg",
  "/static/web/icon-192.png",
  "/static/web/icon-512.png",
];
const NETWORK_TIMEOUT_MS = 5000;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()),
  );
});

function dropOutdated(cache) {
  return cache.keys().then((requests) => Promise.all(
    requests.filter((r) => !SHELL.includes(new URL(r.url).pathname)).map((r) => cache.delete(r)),
  ));
}

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => caches.open(CACHE))
      .then(dropOutdated)
      .then(() => self.clients.claim()),
  );
});

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), ms);
    promise.then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
  });
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const key = url.origin + url.pathname; // ?lang= and the like share one cached copy
  if (!SHELL.includes(url.pathname)) return; // the API and anything else: straight to the network
  event.respondWith(
    withTimeout(fetch(request), NETWORK_TIMEOUT_MS)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(key, copy));
        }
        return response;
      })
      .catch(() => caches.match(key).then((hit) => hit || Response.error())),
  );
});

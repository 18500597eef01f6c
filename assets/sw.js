// The service worker: after one visit the site works without a network (a
// classroom's Wi-Fi going down). scripts/post_build.sh puts two constants
// before this text in dist/sw.js:
//   BUILD — a checksum of every file of the build (trunk hashes the asset
//           names, so a new deploy changes it, and with it this file);
//   FILES — the build's files, relative to this script (index.html,
//           404.html, the wasm, the JS, the CSS, the manifest, the icons).
//
// install:  caches every file of FILES in the build's own cache, then takes
//           over at once (skipWaiting);
// activate: deletes this site's caches of older builds (only ours: the
//           cache names carry this worker's scope, so another app on the
//           same origin keeps its caches), then controls open pages;
// fetch:    a page load (any route: /attention?…, /compare, …) goes to the
//           network first, so a new deploy shows at once; offline — or with
//           no answer within NETWORK_WAIT_MS — it gets the cached app shell
//           (index.html), whose router shows the route. Everything else is
//           answered from the cache first (hashed names never change), and
//           fetched and cached when missing.

/* global BUILD, FILES */
const PREFIX = `flt-explorer ${self.registration.scope} `;
const CACHE = `${PREFIX}${BUILD}`;
const SHELL = new URL("index.html", self.location).href;
const NETWORK_WAIT_MS = 4000;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      // `no-cache`: revalidate with the server, so that the HTTP cache cannot
      // hand an older build's index.html to the new cache.
      await cache.addAll(
        FILES.map((file) => new Request(new URL(file, self.location), { cache: "no-cache" })),
      );
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || !request.url.startsWith(self.registration.scope)) return;
  event.respondWith(request.mode === "navigate" ? page(request) : asset(request));
});

/** The network's answer within NETWORK_WAIT_MS, else the cached app shell. */
async function page(request) {
  const network = fetch(request);
  const late = new Promise((_, reject) =>
    setTimeout(() => reject(new Error("no answer in time")), NETWORK_WAIT_MS),
  );
  try {
    return await Promise.race([network, late]);
  } catch (error) {
    const shell = await caches.match(SHELL, { cacheName: CACHE });
    if (shell) return shell;
    return network; // never cached (first visit offline): the browser's own error page
  }
}

/** From the build's cache, else from the network (and then cached). */
async function asset(request) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(request);
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok && response.type === "basic") await cache.put(request, response.clone());
  return response;
}

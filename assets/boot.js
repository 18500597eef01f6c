// The page's loader, a file instead of trunk's inline script so that the
// Content-Security-Policy can forbid inline scripts (index.html). Trunk writes
// the hashed names of the wasm-bindgen JS and the wasm into
// <meta name="flt-app" data-js=… data-wasm=…> (Trunk.toml, pattern_script);
// this module imports the one and instantiates the other, then registers the
// service worker (sw.js) that keeps the site working offline.
//
// It also backs the crash banner of index.html: the wasm's panic hook
// (src/ui/boot.rs) fills it with the panic message; when the module cannot
// start at all, or traps without a panic (the module is dead either way),
// this file shows it with the error instead.

const crash = (message) => {
  document.getElementById("boot-loading")?.remove();
  const banner = document.getElementById("crash-banner");
  if (!banner || !banner.hidden) return; // keep the first message (the panic's)
  const text = document.getElementById("crash-message");
  if (text) text.textContent = message;
  const reload = document.getElementById("crash-reload");
  if (reload) {
    const here = new URL(location.href);
    if (here.hash === "#debug-panic") here.hash = "";
    reload.href = here.href;
  }
  banner.hidden = false;
};

// Reload is a plain link: no code of the (dead) app may see its click.
document
  .getElementById("crash-reload")
  ?.addEventListener("click", (event) => event.stopPropagation());

const trapped = (error) => error instanceof WebAssembly.RuntimeError;
addEventListener("error", (event) => {
  if (trapped(event.error)) crash(String(event.error));
});
addEventListener("unhandledrejection", (event) => {
  if (trapped(event.reason)) crash(String(event.reason));
});

const app = document.querySelector('meta[name="flt-app"]');
try {
  if (!app) throw new Error("index.html lacks <meta name=\"flt-app\"> (see Trunk.toml)");
  const { default: init } = await import(app.dataset.js);
  await init({ module_or_path: app.dataset.wasm });
} catch (error) {
  crash(`The app could not start: ${error}`);
}

// Offline: cache the site once, then serve it without a network (sw.js).
// Relative to <base href>, so it follows trunk's --public-url.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker
    .register(new URL("sw.js", document.baseURI))
    .catch((error) => console.warn(`flt-explorer works online only: ${error}`));
}

//! The page's boot and crash states, written into static elements of
//! `index.html` with plain DOM calls — they must work when leptos does not:
//!
//! * [`install_panic_hook`]: a panic anywhere in the module shows the
//!   banner "Something broke — reload" with the panic's text (and still
//!   logs it to the console), instead of a page that silently stops
//!   answering. The web build aborts on panic (`panic = "abort"`), so the
//!   hook is the last code that runs; `assets/boot.js` shows the same
//!   banner when the module fails to load or traps without a panic;
//! * [`mounted`]: removes the static loading indicator once the app is
//!   mounted;
//! * the test-only crash: opening any page with the fragment
//!   `#debug-panic` (`/attention#debug-panic`) panics on purpose just after
//!   the app has rendered, so that the browser tests can see the banner on
//!   the release site. It is explicit (no control or link of the page
//!   writes that fragment, and fragments never reach the settings
//!   parsers), harmless (only that tab stops; the banner's Reload link
//!   drops the fragment) and documented in the README.

use wasm_bindgen::JsCast;

/// The fragment that makes the page panic on purpose (see the module doc).
pub const DEBUG_PANIC_FRAGMENT: &str = "#debug-panic";

/// The id of the static loading indicator in `index.html`.
const LOADING: &str = "boot-loading";
/// The ids of the crash banner, its message and its reload link.
const BANNER: &str = "crash-banner";
const MESSAGE: &str = "crash-message";
const RELOAD: &str = "crash-reload";

fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

/// Replaces the panic hook: the console message of
/// `console_error_panic_hook`, then the crash banner with the panic's text.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        show_crash(&info.to_string());
    }));
}

/// Shows the crash banner with `message` (the first message stays when it
/// is already shown) and removes the loading indicator. Never panics: it
/// runs inside the panic hook.
pub fn show_crash(message: &str) {
    let Some(document) = document() else {
        return;
    };
    if let Some(loading) = document.get_element_by_id(LOADING) {
        loading.remove();
    }
    let Some(banner) = document.get_element_by_id(BANNER) else {
        return;
    };
    if !banner.has_attribute("hidden") {
        return;
    }
    if let Some(text) = document.get_element_by_id(MESSAGE) {
        text.set_text_content(Some(message));
    }
    if let Some(link) = document
        .get_element_by_id(RELOAD)
        .and_then(|e| e.dyn_into::<web_sys::HtmlAnchorElement>().ok())
        && let Some(here) = reload_address()
    {
        link.set_href(&here);
    }
    let _ = banner.remove_attribute("hidden");
}

/// The page's address without the test-only fragment: what Reload opens.
fn reload_address() -> Option<String> {
    let href = web_sys::window()?.location().href().ok()?;
    Some(
        href.strip_suffix(DEBUG_PANIC_FRAGMENT)
            .map_or(href.clone(), str::to_string),
    )
}

/// Called once the app is mounted: removes the loading indicator, and
/// panics on purpose (after the app's first paint) when the page was
/// opened with [`DEBUG_PANIC_FRAGMENT`].
pub fn mounted() {
    if let Some(loading) = document().and_then(|d| d.get_element_by_id(LOADING)) {
        loading.remove();
    }
    let fragment = web_sys::window().and_then(|w| w.location().hash().ok());
    if fragment.as_deref() == Some(DEBUG_PANIC_FRAGMENT) {
        leptos::task::spawn_local(async {
            super::browser::sleep_ms(100).await;
            panic!(
                "debug-panic: a deliberate panic, because the page was opened with {DEBUG_PANIC_FRAGMENT} (the crash banner's test)"
            );
        });
    }
}

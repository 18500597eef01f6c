//! The page's theme: light or dark, from the reader's choice (the toggle,
//! remembered in `localStorage` under [`STORAGE_KEY`]) or else the
//! system's `prefers-color-scheme`. It is written on `<html data-theme>`,
//! which the style sheet reads, and held in one signal that every chart
//! reads, so the charts redraw in the dark palette when it changes.

use std::cell::OnceCell;

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use crate::chart::style::Theme;

/// Where the reader's choice is remembered.
pub const STORAGE_KEY: &str = "flt-theme";

thread_local! {
    static THEME: OnceCell<RwSignal<Theme>> = const { OnceCell::new() };
    static VIEWPORT: OnceCell<RwSignal<i32>> = const { OnceCell::new() };
}

fn stored() -> Option<Theme> {
    let storage = web_sys::window()?.local_storage().ok()??;
    match storage.get_item(STORAGE_KEY).ok()??.as_str() {
        "dark" => Some(Theme::Dark),
        "light" => Some(Theme::Light),
        _ => None,
    }
}

fn system_dark() -> Option<web_sys::MediaQueryList> {
    web_sys::window()?
        .match_media("(prefers-color-scheme: dark)")
        .ok()?
}

fn system() -> Theme {
    if system_dark().is_some_and(|q| q.matches()) {
        Theme::Dark
    } else {
        Theme::Light
    }
}

fn mark(theme: Theme, chosen: bool) {
    let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    else {
        return;
    };
    let name = match theme {
        Theme::Dark => "dark",
        Theme::Light => "light",
    };
    let _ = root.set_attribute("data-theme", name);
    if chosen {
        let _ = root.set_attribute("data-theme-chosen", "true");
    }
}

/// A signal that lives as long as the page: created under a root owner of
/// its own, never disposed. These signals are created lazily, by whichever
/// component reads them first — often a chart inside a lab — and must not
/// die with it (a lesson's lab is unmounted when the step changes; the next
/// lab's charts read the same signal).
fn page_signal<T: Send + Sync + 'static>(value: T) -> RwSignal<T> {
    let current = Owner::current();
    // `new_root` makes the new owner the current one: the caller's is put back.
    let owner = Owner::new_root(None);
    let signal = owner.with(|| RwSignal::new(value));
    if let Some(current) = current {
        current.set();
    }
    std::mem::forget(owner);
    signal
}

/// The theme in force, as a signal (created on first use, with a listener
/// on the system's preference that applies while the reader chose none).
pub fn theme() -> RwSignal<Theme> {
    THEME.with(|cell| {
        *cell.get_or_init(|| {
            let chosen = stored();
            let signal = page_signal(chosen.unwrap_or_else(system));
            mark(signal.get_untracked(), chosen.is_some());
            if let Some(query) = system_dark() {
                let follow = Closure::<dyn Fn()>::new(move || {
                    if stored().is_none() {
                        let now = system();
                        mark(now, false);
                        signal.set(now);
                    }
                });
                let _ = query
                    .add_event_listener_with_callback("change", follow.as_ref().unchecked_ref());
                follow.forget();
            }
            signal
        })
    })
}

/// The window's inner width in CSS pixels, as a signal that follows
/// resizes (the charts scale their text by it).
pub fn viewport_width() -> RwSignal<i32> {
    VIEWPORT.with(|cell| {
        *cell.get_or_init(|| {
            let width = || {
                web_sys::window()
                    .and_then(|w| w.inner_width().ok())
                    .and_then(|w| w.as_f64())
                    .unwrap_or(1024.0) as i32
            };
            let signal = page_signal(width());
            if let Some(window) = web_sys::window() {
                let follow = Closure::<dyn Fn()>::new(move || signal.set(width()));
                let _ = window
                    .add_event_listener_with_callback("resize", follow.as_ref().unchecked_ref());
                follow.forget();
            }
            signal
        })
    })
}

/// The light / dark switch: a button whose `aria-pressed` says whether the
/// dark theme is on; the choice is remembered.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    let theme = theme();
    let dark = move || theme.get() == Theme::Dark;
    let toggle = move |_| {
        let next = if theme.get_untracked() == Theme::Dark {
            Theme::Light
        } else {
            Theme::Dark
        };
        if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
            let _ = storage.set_item(
                STORAGE_KEY,
                if next == Theme::Dark { "dark" } else { "light" },
            );
        }
        mark(next, true);
        theme.set(next);
    };
    view! {
        <button
            type="button"
            class="theme-toggle"
            data-testid="theme-toggle"
            aria-pressed=move || dark().to_string()
            data-theme=move || if dark() { "dark" } else { "light" }
            on:click=toggle
        >
            "Dark theme"
        </button>
    }
}

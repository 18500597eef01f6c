//! The leptos web app (compiled for wasm32 only).
//!
//! * [`app`] — the shell: a router with one route per lab of
//!   [`crate::pipeline::labs::LABS`] (`/attention`, and `/` for the first),
//!   the navigation between them, header and footer;
//! * [`pages`] — one page per lab; a page owns its URL query parameters,
//!   parses them into [`crate::settings::Settings`] and runs the newest
//!   settings through the one job runner, [`crate::pipeline::jobs::Jobs`]
//!   ([`jobs`] ties it to signals and the browser's event loop);
//! * [`components`] — views fed plain data (a map, a pattern, a JSON value),
//!   so every lab reuses the heatmap, the canvas chart and the raw-data panel;
//! * [`backend`] — the page's backend: WebGPU, found once and shared by every
//!   run, or the CPU twin with the reason;
//! * [`boot`] — the crash banner (a panic hook) and the loading indicator,
//!   static elements of `index.html` that work when the app does not.
//!
//! Views only read reports; none of them computes a kernel.

mod app;
mod backend;
pub mod boot;
mod browser;
pub mod components;
mod jobs;
pub mod pages;

pub use app::App;

//! The leptos web app (compiled for wasm32 only).
//!
//! The URL query is the single source of truth: controls rewrite it, a memo
//! parses it into [`crate::settings::Settings`], and a [`runner::Runner`]
//! runs the newest settings on WebGPU (or the CPU twin), superseding older
//! requests. Views only read the resulting measurement.

mod app;
mod browser;
pub mod components;
pub mod pages;
mod runner;

pub use app::App;

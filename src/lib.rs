//! flt-explorer: the techniques of "A Practical Survey on Faster and Lighter
//! Transformers" (Fournier, Caron & Aloise, ACM Computing Surveys 2023), run for
//! real on the GPU (wgpu compute shaders in WGSL) with an ndarray CPU twin each.
//!
//! The flow is one-directional:
//! URL query / CLI flags → [`settings::Settings`] → [`run::RunRequest`] →
//! [`run::Backend`] (GPU or CPU) → [`measure::Measurement`] + [`measure::AttentionMap`] → views.
//!
//! The core modules compile on every target and never depend on the web UI;
//! the leptos UI lives in `ui` and is compiled for `wasm32` only.

pub mod attention;
pub mod chart;
pub mod format;
pub mod gpu;
pub mod inputs;
pub mod measure;
pub mod run;
pub mod settings;
pub mod sweep;

#[cfg(target_arch = "wasm32")]
pub mod ui;

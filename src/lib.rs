//! flt-explorer: the techniques of "A Practical Survey on Faster and Lighter
//! Transformers" (Fournier, Caron & Aloise, ACM Computing Surveys 2023), run for
//! real on the GPU (wgpu compute shaders in WGSL) with an ndarray CPU twin each.
//!
//! Layers point one way (each imports only those below it; `tests/layers.rs`
//! enforces it; `docs/ARCHITECTURE.md` explains it):
//!
//! * L0 data — [`data`] (shapes, maps and poolers, codes shared with WGSL,
//!   tile lists, counts, timings, artifacts) and [`inputs`];
//! * L1 kernels — [`gpu`]: context, typed bindings, one program layer, one
//!   host file and `.wgsl` per kernel family;
//! * L2 methods — [`attention`]: every method declared once (twin, cost,
//!   knobs, explanation, conformance); [`compress`]: quantization formats
//!   and schemes, the int8 product, QAT, model sizes;
//! * L3 pipeline — [`pipeline`]: the lab seam, backend resolution, the
//!   attention lab, the error law, the job runner;
//! * L4 front-ends — [`settings`], [`chart`], [`format`], the `flt` CLI and
//!   the leptos UI (`ui`, wasm32 only).

pub mod attention;
pub mod chart;
pub mod compress;
pub mod data;
pub mod format;
pub mod gpu;
pub mod inputs;
pub mod pipeline;
pub mod settings;

#[cfg(target_arch = "wasm32")]
pub mod ui;

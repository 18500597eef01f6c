//! Browser tests: the trunk-built site (`dist/`, from `trunk build --release`)
//! is served on 127.0.0.1 and driven in real headless Chromium through
//! WebDriver (chromedriver), with WebGPU on (SwiftShader) and once without it
//! (the CPU fallback). They use the page's real controls, wait explicitly for
//! each run, check the measurement JSON, a painted heatmap and the browser's
//! console, and save screenshots under `target/screenshots/`.
//!
//! Ignored by a plain `cargo test` (they need the built site, Chromium and
//! chromedriver); `scripts/test` builds the site and runs them with
//! `--include-ignored`.

#![cfg(not(target_arch = "wasm32"))]

mod harness;

mod attention;
mod compare;
mod explained;
mod int8;
mod lessons;
mod longtask;
mod map;
mod model_size;
mod qat;
mod quantization;
mod runs;
mod safety;
mod scaling;
mod views;

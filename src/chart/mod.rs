//! Charts drawn with plotters, generic over its `DrawingBackend`: a canvas in
//! the page, SVG natively (tests, exports). Each chart is a function that
//! returns a `Result` and uses `?`.

pub mod context;
pub mod error_law;
pub mod export;
pub mod heatmap;
pub mod model_size;
pub mod pattern;
pub mod qat;
pub mod quantization;
#[cfg(not(target_arch = "wasm32"))]
pub mod raster;
pub mod scaling;
pub mod style;

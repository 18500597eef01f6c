//! Layer 2, compression methods (survey §"General Approaches":
//! "Quantization", "Weight Sharing", "Combining Techniques", and
//! "Comprehensive Comparison"): each with its CPU twin, costs and knobs,
//! beside the attention methods.
//!
//! * [`formats`] — fp16, bf16 and the OCP fp8 formats, round half to even;
//! * [`quantize`] — post-training quantization of a weight matrix at every
//!   bit width and granularity (the twin of `gpu/quantize.wgsl`);
//! * [`weights`] — seeded weight matrices (Gaussian, heavy-tailed with
//!   outlier channels) and the user's `.npy`;
//! * [`int8`] — the int8 × int8 → i32 matrix product (twin of
//!   `gpu/int8_matmul.wgsl`);
//! * [`qat`] — a 2-layer MLP trained in f32, quantized after training, and
//!   trained again with fake quantization (QAT) on a seeded task;
//! * [`size`] — parameter counts of real architectures and their sizes at
//!   every precision; the Combining Techniques calculator.

pub mod formats;
pub mod int8;
pub mod qat;
pub mod quantize;
pub mod size;
pub mod weights;

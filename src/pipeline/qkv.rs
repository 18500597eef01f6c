//! Quantized attention — where the survey's two halves meet: Q, K and V
//! quantized to b-bit integers (symmetric, min-max, round half to even;
//! b = 1 binary) with one scale per token (row) or per channel (column),
//! on the GPU by `gpu/quantize.wgsl` or by its CPU twin, before any
//! attention method runs on them. The attention lab then measures the
//! method on the quantized inputs against exact attention on the f32
//! inputs (`rel_err`: approximation and quantization error compounded) and
//! against the same method on the f32 inputs (`rel_err_vs_f32`: what
//! quantization alone costs the method).

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::{Backend, Host, RunError, checkpoint};
use crate::compress::quantize::{Clip, Format, Granularity, Mode, Scheme, error_stats, quantize};
use crate::gpu::{GpuError, GpuRunOptions, quantize as gpu};
use crate::inputs::Inputs;

/// How Q, K and V are quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QkvQuant {
    /// Bits per element, 1 ..= 8.
    pub bits: u32,
    /// One scale per channel (column) instead of per token (row).
    pub per_channel: bool,
}

impl QkvQuant {
    /// The scheme applied to each matrix, rows being the scale's unit (the
    /// matrix is transposed first for per-channel scales).
    pub fn scheme(&self) -> Scheme {
        Scheme {
            format: Format::Int,
            bits: self.bits,
            mode: Mode::Symmetric,
            granularity: Granularity::PerChannel,
            group_size: 1,
            clip: Clip::MinMax,
        }
    }

    /// `per-token` or `per-channel`.
    pub fn scales_key(&self) -> &'static str {
        if self.per_channel {
            "per-channel"
        } else {
            "per-token"
        }
    }
}

/// Q, K and V after quantization, with each one's SQNR in dB (`None`:
/// lossless).
pub struct QuantizedQkv {
    /// The dequantized inputs.
    pub inputs: Inputs,
    /// SQNR of Q, K and V.
    pub sqnr_db: [Option<f64>; 3],
    /// Which backend quantized them.
    pub by: &'static str,
}

/// Quantizes one matrix with one scale per row.
async fn quantize_rows(
    x: &Array2<f32>,
    scheme: &Scheme,
    backend: &Backend,
) -> Result<Array2<f32>, RunError> {
    let (rows, cols) = x.dim();
    match backend {
        Backend::Gpu(ctx) => {
            let data = x.as_standard_layout();
            let data = data.as_slice().expect("standard layout");
            let options = GpuRunOptions {
                repeats: 1,
                ..Default::default()
            };
            let out = gpu::run(ctx, &scheme.plan(rows, cols), data, &options).await?;
            Ok(Array2::from_shape_vec((rows, cols), out.xhat)
                .map_err(|e| GpuError::Readback(e.to_string()))?)
        }
        Backend::Cpu { .. } => Ok(quantize(x.view(), scheme, None)?.xhat),
    }
}

/// Quantizes `inputs` as `q` says on `backend`.
pub async fn quantize_inputs(
    inputs: &Inputs,
    q: &QkvQuant,
    backend: &Backend,
    host: &dyn Host,
) -> Result<QuantizedQkv, RunError> {
    let scheme = q.scheme();
    scheme.check()?;
    host.progress(&format!("quantizing Q, K, V to {} bits", q.bits), 0.01);
    let mut out = Vec::with_capacity(3);
    let mut sqnr = [None; 3];
    for (i, x) in [&inputs.q, &inputs.k, &inputs.v].into_iter().enumerate() {
        let xhat = if q.per_channel {
            let t = x.t().as_standard_layout().into_owned();
            quantize_rows(&t, &scheme, backend)
                .await?
                .t()
                .as_standard_layout()
                .into_owned()
        } else {
            quantize_rows(x, &scheme, backend).await?
        };
        sqnr[i] = error_stats(x.view(), xhat.view()).sqnr_db;
        out.push(xhat);
        checkpoint(host).await?;
    }
    let v = out.pop().expect("v");
    let k = out.pop().expect("k");
    let qm = out.pop().expect("q");
    Ok(QuantizedQkv {
        inputs: Inputs::from_arrays(qm, k, v, inputs.source)?,
        sqnr_db: sqnr,
        by: backend.key(),
    })
}

//! Host side of `flash_f16.wgsl`: exact softmax attention
//! O = softmax(QKᵀ/√d)·V (Vaswani et al. 2017, survey Eq. 3) in the loop of
//! FlashAttention-2 (Dao 2023, Algorithm 1) with both products on tensor
//! cores — wgpu's cooperative matrices, 16 × 16 × 16 with f16 operands and
//! f32 accumulators — the attention of B·H heads in one dispatch, after
//! three passes converting Q, K and V to f16. Native only, and only
//! where the device has them ([`GpuContext::coop_f16`]: the H200 does over
//! Vulkan; lavapipe and browsers do not).
//!
//! Precision: Q (scaled by log₂(e)/√d), K, V and the probabilities P are
//! rounded to f16 (11 significant bits); the scores, the softmax statistics
//! and O accumulate in f32. The reference is the definition in f64
//! (`attention::full::ExactReference`); [`tolerance`] and [`REL_ERR_MAX`]
//! are the f16 bounds the tests and `flt bench --kernel flash-f16` check.
//! Inputs beyond f16's range (|x| > 65504 after scaling) are refused before
//! anything is uploaded.
//!
//! Speed (H200, d = 64, n = 4096; `flt bench --kernel flash-f16`, GPU
//! timestamps, median of 10; experiment call 18, beside PyTorch): the
//! attention pass takes 2.86 ms at 16 heads (2.91 with the three f16
//! conversions) against 0.26 ms for PyTorch's fp16 FlashAttention backend
//! (0.09×; causal 1.55, 1.60 with the conversions, against 0.20), 0.43 ms
//! at 1 head. It was 4.46 ms (4.56) until the lane's private arrays — its
//! 32 outputs and 32 scores — became arrays of vec4s: `flt bench
//! --driver-stats` showed the driver keeping them in local memory (256
//! bytes a lane, 102 registers), where a vec4 moves in one access instead
//! of four; it still keeps them there, but the pass runs 1.56× faster. With no private arrays at all (eight named
//! vec4s, the scores read twice from the scratch: no local memory, 136
//! registers) it ran 3.06 ms (call 17), not kept. Before that change the
//! time did not scale with the work below about eight subgroups per
//! multiprocessor (1, 2 and 4 heads 0.90, 0.93 and 1.12 ms, 8, 16 and 32
//! heads 2.25, 4.46 and 8.93), and these were tried and not kept: K and V
//! staged in workgroup memory for four subgroups by 16-byte loads with a
//! register prefetch (7.67 ms at 16 heads), V transposed so that a lane's
//! pair of keys is one word (5.06), the scratch rows padded (4.99 and
//! 5.76), no runtime bounds checks (4.46), O accumulated in workgroup
//! memory (0.65 ms at 1 head, but 5.59 at 16). Tried on 2026-11-30: a lazy
//! maximum (rescale only when a row's maximum passes the one its P uses by
//! more than 2⁸, as FlashAttention-4 does) with O kept in four cooperative
//! accumulators and rescaled through the scratch only then — 2.46 ms, but
//! 221 registers and wrong outputs on the H200 (relative error 1.4, zero at
//! n = 1; not explained), so not kept. Rows with builds and commands:
//! bench/experiments/h200-2026-11-29-not-kept.jsonl and
//! h200-2026-11-30-not-kept.jsonl; the kept kernel's:
//! bench/results/h200-flash-f16.jsonl.
//!
//! Shape: d = dᵥ ∈ {16, 32, 48, 64}; n, n_keys any (causal: n_keys = n).
//! The program is four passes: Q (scaled by log₂(e)/√d), K and V converted
//! to f16 with their rows padded to a multiple of 64 (`to_f16`), then the
//! attention (`flash_f16`) — all of them timed, the conversions included.

use std::borrow::Cow;

use bytemuck::{Pod, Zeroable};

use super::bindings::{Binding, Kernel, Module};
use super::buffers::{self, scoped};
use super::flash_attention::FlashShape;
use super::program::{Program, Timed};
use super::{GpuContext, GpuError, GpuRunOptions, Pass};

const TEXT: &str = wgsl!("flash_f16.wgsl");

const MODULE: Module = Module {
    name: "flash_f16",
    source: || wgpu::ShaderModuleDescriptor {
        label: Some("flash_f16"),
        source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(TEXT)),
    },
    text: TEXT,
};

/// The attention kernel.
pub const FLASH_F16: Kernel = Kernel {
    module: MODULE,
    entry: "flash_f16",
    bindings: &[
        Binding::uniform("params", 0),
        Binding::read("q16", 1).elements_of(2),
        Binding::read("k16", 2).elements_of(2),
        Binding::read("v16", 3).elements_of(2),
        Binding::write("o", 4).elements_of(4),
    ],
};

/// The conversion of one tensor to padded f16 rows.
pub const TO_F16: Kernel = Kernel {
    module: MODULE,
    entry: "to_f16",
    bindings: &[
        Binding::uniform("conv", 7),
        Binding::read("src", 5).elements_of(16),
        Binding::write("dst", 6).elements_of(8),
    ],
};

/// Every kernel of this family.
pub const KERNELS: &[Kernel] = &[FLASH_F16, TO_F16];

/// Query rows per workgroup (one subgroup) and keys per tile (the f16
/// copies' rows are padded to a multiple of it; the shader's `BC`).
pub const BLOCK_ROWS: usize = 16;
const BLOCK_KEYS: usize = 64;

/// The widths the kernel takes.
pub const WIDTHS: [usize; 4] = [16, 32, 48, 64];

/// f16's largest finite value.
const F16_MAX: f32 = 65504.0;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    n: u32,
    n_keys: u32,
    causal: u32,
    blocks: u32,
    n_pad: u32,
    nk_pad: u32,
    pad: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Conv {
    rows: u32,
    rows_pad: u32,
    heads: u32,
    scale: f32,
}

/// Workgroup memory: the f32 scratch (S, then a tile's P·V) and the f16 P
/// scratch, 16 × 64 each.
pub fn workgroup_bytes(_d: usize) -> u64 {
    (4 * 1024 + 2 * 1024) as u64
}

/// Whether the kernel runs width `d` on this device, and why not (the
/// width first: it does not depend on the device).
pub fn check(ctx: &GpuContext, d: usize, dv: usize) -> Result<(), GpuError> {
    let refuse = |message: String| GpuError::Device {
        stage: "choosing the f16 tensor-core kernel".into(),
        message,
    };
    if d != dv || !WIDTHS.contains(&d) {
        return Err(refuse(format!(
            "it takes d = dv ∈ {{16, 32, 48, 64}}, not d = {d}, dv = {dv}"
        )));
    }
    let what = format!("the f16 tensor-core kernel at d = {d}");
    if !ctx.coop_f16 {
        return Err(refuse(format!(
            "{what} needs f16 cooperative matrices (16×16×16, f32 accumulators, subgroups of 32), which {} does not offer through wgpu",
            ctx.adapter_name
        )));
    }
    let bytes = workgroup_bytes(d);
    let limit = ctx.limits.max_compute_workgroup_storage_size as u64;
    if bytes > limit {
        return Err(GpuError::TooLarge {
            what,
            needs: bytes,
            unit: "bytes of workgroup memory",
            limit_name: "max_compute_workgroup_storage_size",
            limit,
        });
    }
    Ok(())
}

/// The f16 bound per element: |o − exact| ≤ atol + rtol·|exact| with atol
/// = 1e-2·rms(exact) and rtol = 1e-2, for outputs whose root mean square is
/// `rms`. Operands rounded to 11 bits (2⁻¹¹ ≈ 4.9e-4 relative each) with
/// f32 sums put an output's error near 5e-4 of its scale; on the H200 the
/// worst element measured 0.03–0.2 of this bound (tests/flash_f16.rs).
pub fn tolerance(rms: f64) -> (f64, f64) {
    (1e-2 * rms, 1e-2)
}

/// The largest relative error ‖o − exact‖/‖exact‖ accepted: about six times
/// the 4.4e-4 measured on the H200 (n up to 16 384), far below any wrong
/// mask or offset (the mean of V scores 0.35–0.80 on the bench's rows).
pub const REL_ERR_MAX: f64 = 3e-3;

/// Refuses inputs f16 cannot hold: Q after scaling by log₂(e)/√d, K and V.
fn check_range(shape: FlashShape, (q, k, v): (&[f32], &[f32], &[f32])) -> Result<(), GpuError> {
    let scale = std::f32::consts::LOG2_E / (shape.d as f32).sqrt();
    for (what, data, s) in [("Q·log₂(e)/√d", q, scale), ("K", k, 1.0), ("V", v, 1.0)] {
        if let Some(x) = data.iter().find(|x| x.is_nan() || x.abs() * s > F16_MAX) {
            return Err(GpuError::Device {
                stage: "checking the f16 kernel's inputs".into(),
                message: format!(
                    "{what} holds {}, outside f16's range (|x| ≤ 65504): run the f32 kernel instead",
                    x * s
                ),
            });
        }
    }
    Ok(())
}

/// One run: the output and its timing.
pub struct FlashF16Run {
    /// The output, `[B·H·n, d]` row-major.
    pub output: Vec<f32>,
    /// The timed runs (the three conversions and the attention).
    pub timed: Timed,
    /// Device memory of the buffers.
    pub memory_bytes: u64,
}

/// `rows` rounded up to whole key tiles.
fn padded(rows: usize) -> usize {
    rows.div_ceil(BLOCK_KEYS).max(1) * BLOCK_KEYS
}

/// The pass converting `src` (`heads × rows × d` f32) into `dst` (`heads ×
/// padded(rows) × d` f16), times `scale`.
async fn conversion(
    ctx: &GpuContext,
    (src, dst): (&wgpu::Buffer, &wgpu::Buffer),
    (heads, rows, d): (usize, usize, usize),
    scale: f32,
) -> Result<Pass, GpuError> {
    let rows_pad = padded(rows);
    let conv = Conv {
        rows: rows as u32,
        rows_pad: rows_pad as u32,
        heads: heads as u32,
        scale,
    };
    let uniform = buffers::uniform(ctx, "flash_f16.conv", &conv);
    let pipeline = TO_F16.pipeline(ctx, &[("D", d as f64)]).await?;
    let label = TO_F16.id();
    let group = scoped(ctx, &format!("binding {label}"), || {
        TO_F16.bind(
            ctx,
            &label,
            &[("conv", &uniform), ("src", src), ("dst", dst)],
        )
    })
    .await?;
    // One vec4 per invocation, 64 per workgroup, rows of 65 535 workgroups.
    let groups = (heads * rows_pad * d / 4).div_ceil(64);
    let (x, y) = (groups.min(65_535), groups.div_ceil(65_535));
    Pass::new(ctx, &TO_F16, pipeline, group, (x as u32, y as u32))
}

/// Exact attention over B·H heads on the tensor cores: stacked `[B·H, n, d]`
/// Q, K, V checked (widths, f16 range, device, sizes), uploaded, converted
/// to f16 and the kernel run (warm-up, `options.repeats` timed runs of the
/// four passes), the output read back.
pub async fn run_heads(
    ctx: &GpuContext,
    shape: FlashShape,
    (q, k, v): (&[f32], &[f32], &[f32]),
    options: &GpuRunOptions,
) -> Result<FlashF16Run, GpuError> {
    let FlashShape {
        heads,
        n,
        n_keys,
        d,
        dv,
        causal,
        window,
    } = shape;
    check(ctx, d, dv)?;
    let refuse = |message: String| GpuError::Device {
        stage: "recording the f16 kernel".into(),
        message,
    };
    if window.is_some() {
        return Err(refuse("the f16 kernel has no sliding window".into()));
    }
    if causal && n_keys != n {
        return Err(refuse(format!(
            "causal attention needs as many keys as queries, not {n_keys} for {n}"
        )));
    }
    if n == 0 || n_keys == 0 || heads == 0 {
        return Err(refuse(format!(
            "nothing to attend: n = {n}, n_keys = {n_keys}, B·H = {heads}"
        )));
    }
    for (what, data, rows) in [("Q", q, n), ("K", k, n_keys), ("V", v, n_keys)] {
        if data.len() != heads * rows * d {
            return Err(refuse(format!(
                "{what} holds {} values, not B·H·rows·d = {}",
                data.len(),
                heads * rows * d
            )));
        }
    }
    check_range(shape, (q, k, v))?;
    let (n_pad, nk_pad) = (padded(n), padded(n_keys));
    // The dispatches, before anything is allocated: the attention's (query
    // blocks, heads) and the conversions' rows of 65 535 workgroups.
    let conversions = (heads * n_pad.max(nk_pad) * d / 4)
        .div_ceil(64)
        .div_ceil(65_535);
    for (what, groups) in [
        ("query blocks of 16 rows", n.div_ceil(BLOCK_ROWS)),
        ("heads (B·H)", heads),
        ("rows of the f16 conversion", conversions),
    ] {
        let groups = u32::try_from(groups).unwrap_or(u32::MAX);
        buffers::check_dispatch(ctx, &format!("the f16 kernel's {what}"), groups)?;
    }
    for (what, bytes) in [
        ("Q, K, V (f32)", 4 * heads * n.max(n_keys) * d),
        ("O", 4 * heads * n * d),
        ("Q (f16, padded)", 2 * heads * n_pad * d),
        ("K, V (f16, padded)", 2 * heads * nk_pad * d),
    ] {
        buffers::check_storage(ctx, what, bytes as u64)?;
    }
    let scale_log2 = std::f32::consts::LOG2_E / (d as f32).sqrt();
    // The f16 copies: half a f32 per value (d is a multiple of 16).
    let (q32, k32, v32, q16, k16, v16, o) =
        scoped(ctx, "uploading the f16 kernel's inputs", || {
            Ok((
                buffers::upload(ctx, "flash_f16.q", q)?,
                buffers::upload(ctx, "flash_f16.k", k)?,
                buffers::upload(ctx, "flash_f16.v", v)?,
                buffers::storage(ctx, "flash_f16.q16", heads * n_pad * d / 2)?,
                buffers::storage(ctx, "flash_f16.k16", heads * nk_pad * d / 2)?,
                buffers::storage(ctx, "flash_f16.v16", heads * nk_pad * d / 2)?,
                buffers::storage(ctx, "flash_f16.o", heads * n * d)?,
            ))
        })
        .await?;
    let memory_bytes =
        (4 * heads * (n + 2 * n_keys + n) * d + 2 * heads * (n_pad + 2 * nk_pad) * d) as u64;
    let mut program = Program::new("flash attention, f16 tensor cores");
    program.memory_bytes = memory_bytes;
    for (name, (src, dst), rows, scale) in [
        ("flash_f16.q", (&q32, &q16), n, scale_log2),
        ("flash_f16.k", (&k32, &k16), n_keys, 1.0),
        ("flash_f16.v", (&v32, &v16), n_keys, 1.0),
    ] {
        let pass = conversion(ctx, (src, dst), (heads, rows, d), scale).await?;
        program.time(pass.named(name));
    }
    let blocks = n.div_ceil(BLOCK_ROWS) as u32;
    let params = Params {
        n: n as u32,
        n_keys: n_keys as u32,
        causal: causal as u32,
        blocks,
        n_pad: n_pad as u32,
        nk_pad: nk_pad as u32,
        pad: [0; 2],
    };
    let uniform = buffers::uniform(ctx, "flash_f16.params", &params);
    let named = [
        ("params", &uniform),
        ("q16", &q16),
        ("k16", &k16),
        ("v16", &v16),
        ("o", &o),
    ];
    // Cooperative loads and stores are bounds-checked at their first
    // element only (naga 30): every 16 × 16 piece must lie inside its
    // buffer. Q's pieces start at rows i0 < 16·blocks ≤ n_pad of their head,
    // K's and V's at keys below the last tile's end ≤ n_keys rounded up to
    // BLOCK_KEYS = nk_pad — which the copies are padded to (the shader's BC
    // equals BLOCK_KEYS; a unit test holds them together).
    let pipeline = FLASH_F16.pipeline(ctx, &[("D", d as f64)]).await?;
    let label = FLASH_F16.id();
    let group = scoped(ctx, &format!("binding {label}"), || {
        FLASH_F16.bind(ctx, &label, &named)
    })
    .await?;
    let attention = Pass::new(ctx, &FLASH_F16, pipeline, group, (blocks, heads as u32))?;
    program.time(attention.named("flash_f16.attention"));
    let (_, timed) = options.run(ctx, program).await?;
    Ok(FlashF16Run {
        output: buffers::read_f32(ctx, &o, heads * n * d).await?,
        timed,
        memory_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shader_tiles_keys_as_the_host_pads_them() {
        assert!(
            TEXT.contains(&format!("const BC: u32 = {BLOCK_KEYS}u;")),
            "flash_f16.wgsl's BC must equal BLOCK_KEYS: the copies' padding keeps its loads in bounds"
        );
    }

    #[test]
    fn workgroup_memory_and_padding() {
        assert_eq!(workgroup_bytes(64), 6 << 10);
        assert_eq!(
            (padded(1), padded(64), padded(65), padded(0)),
            (64, 64, 128, 64)
        );
    }

    /// The shader parses, validates and compiles to SPIR-V for every width
    /// (naga alone: no device here offers cooperative matrices).
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn the_shader_compiles_to_spirv_at_every_width() {
        use wgpu::naga;
        let module = naga::front::wgsl::parse_str(TEXT)
            .unwrap_or_else(|e| panic!("{}", e.emit_to_string(TEXT)));
        let mut validator = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        );
        let info = validator.validate(&module).expect("validates");
        for d in WIDTHS {
            let constants = [("D".to_string(), d as f64)].into_iter().collect();
            for entry in ["flash_f16", "to_f16"] {
                let (module, info) = naga::back::pipeline_constants::process_overrides(
                    &module,
                    &info,
                    Some((naga::ShaderStage::Compute, entry)),
                    &constants,
                )
                .unwrap_or_else(|e| panic!("{entry}, d = {d}: {e:?}"));
                let words = naga::back::spv::write_vec(
                    &module,
                    &info,
                    &naga::back::spv::Options::default(),
                    None,
                )
                .unwrap_or_else(|e| panic!("{entry}, d = {d}: {e:?}"));
                assert!(words.len() > 100, "{entry}, d = {d}");
            }
        }
    }

    #[test]
    fn inputs_past_f16_range_are_refused() {
        let shape = FlashShape::square(1, 2, 16, 16, false);
        let ok = vec![1.0f32; 32];
        assert!(check_range(shape, (&ok, &ok, &ok)).is_ok());
        let mut big = ok.clone();
        big[5] = 7e4;
        let err = check_range(shape, (&ok, &big, &ok))
            .unwrap_err()
            .to_string();
        assert!(err.contains("K holds 70000"), "{err}");
        let mut q = ok.clone();
        q[3] = 3.0e5;
        let err = check_range(shape, (&q, &ok, &ok)).unwrap_err().to_string();
        assert!(
            err.contains("Q·log₂(e)/√d holds 108"),
            "the scaled value: {err}"
        );
        big[5] = f32::NAN;
        assert!(check_range(shape, (&ok, &ok, &big)).is_err());
        // Q is checked after scaling: 2.5·65504 passes at d = 16 (scale 0.36).
        let mut q = ok.clone();
        q[0] = 2.5 * 65504.0;
        assert!(check_range(shape, (&q, &ok, &ok)).is_ok());
    }
}

//! Host side of `linear_attention.wgsl`: kernel-based linear attention
//! (Linear Transformer, Performer FAVOR+, cosFormer) in O(n), causal through
//! a parallel scan over chunks of keys; and the implied attention map
//! φ(qᵢ)·φ(kⱼ)/denᵢ pooled tile by tile on the GPU.
//!
//! Shape: [`Prepared::new`] (limits, parameters, buffers) → [`record`] (the
//! timed features, chunk sums, scan and output; the pooled implied matrix as
//! views) → [`run`] reads the output, the map and φ(Q) back.

use bytemuck::{Pod, Zeroable};
use ndarray::Array2;

use super::bindings::{Binding, Kernel, Module};
use super::buffers::{self, Qkv, check_dispatch, scoped};
use super::linalg::{Builder, Mat, read_map};
use super::program::{Pass, Program};
use super::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::data::artifacts::Artifact;
use crate::data::codes::{FeatureKind, KernelKind};
use crate::data::maps::{AttentionMap, FactorMap};

const MODULE: Module = Module {
    name: "linear_attention",
    source: || wgpu::include_wgsl!("linear_attention.wgsl"),
    text: include_str!("linear_attention.wgsl"),
};
const PARAMS: Binding = Binding::uniform("params", 0);
const Q: Binding = Binding::read("q", 1);
const K: Binding = Binding::read("k", 2);
const V: Binding = Binding::read("v", 3);
const OMEGA: Binding = Binding::read("omega", 4);
const PHI_Q: Binding = Binding::write("phi_q", 5);
const PHI_K: Binding = Binding::write("phi_k", 6);
const SUMS: Binding = Binding::write("sums", 7);
const OUT: Binding = Binding::write("out", 8);

const fn kernel(entry: &'static str, bindings: &'static [Binding]) -> Kernel {
    Kernel {
        module: MODULE,
        entry,
        bindings,
    }
}

/// φ of every query and key (FAVOR+: the raw exponents).
pub const FEATURES: Kernel = kernel("features", &[PARAMS, Q, K, OMEGA, PHI_Q, PHI_K]);
/// FAVOR+: each row's largest exponent.
pub const FAVOR_ROW_MAX: Kernel = kernel("favor_row_max", &[PARAMS, PHI_Q, PHI_K, SUMS]);
/// FAVOR+: the largest key exponent.
pub const FAVOR_KEY_MAX: Kernel = kernel("favor_key_max", &[PARAMS, SUMS]);
/// FAVOR+: the shifted exponentials.
pub const FAVOR_EXP: Kernel = kernel("favor_exp", &[PARAMS, PHI_Q, PHI_K, SUMS]);
/// Per chunk of keys: Σ φ(kⱼ)vⱼᵀ and Σ φ(kⱼ).
pub const CHUNK_SUMS: Kernel = kernel("chunk_sums", &[PARAMS, V, PHI_K, SUMS]);
/// One Hillis–Steele step of the prefix scan over chunks.
pub const SCAN_STEP: Kernel = kernel("scan_step", &[PARAMS, SUMS]);
/// The output rows.
pub const APPLY: Kernel = kernel("apply", &[PARAMS, V, PHI_Q, PHI_K, SUMS, OUT]);

/// Every kernel of this family.
pub const KERNELS: &[Kernel] = &[
    FEATURES,
    FAVOR_ROW_MAX,
    FAVOR_KEY_MAX,
    FAVOR_EXP,
    CHUNK_SUMS,
    SCAN_STEP,
    APPLY,
];

/// Keys per chunk of the causal scan.
pub const CHUNK: usize = 64;
/// Guard on the denominators: Oᵢ = num / (den + ε).
pub const EPS: f32 = 1e-6;
/// Most features `apply` stages in workgroup memory.
pub const MAX_FEATURES: usize = 1024;

/// The feature map φ: its kind and, for FAVOR+, the random features ω
/// (m × d, row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMap {
    /// Which map.
    pub kind: FeatureKind,
    /// ω (FAVOR+ only; empty otherwise).
    pub omega: Vec<f32>,
}

impl FeatureMap {
    /// The number of features m for head width d.
    pub fn features(&self, d: usize) -> usize {
        self.kind.features(d, self.omega.len() / d.max(1))
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, Default)]
struct LinearParams {
    n: u32,
    d: u32,
    dv: u32,
    m: u32,
    chunk: u32,
    chunks: u32,
    causal: u32,
    kind: u32,
    scan_offset: u32,
    scan_src: u32,
    final_half: u32,
    pad: u32,
    eps: f32,
    x_scale: f32,
    inv_sqrt_m: f32,
    pad2: f32,
}

/// The problem's parameters, grid and buffers, limits checked first.
pub struct Prepared {
    base: LinearParams,
    n: usize,
    m: usize,
    dv: usize,
    chunks: usize,
    passes: u32,
    entry_grid: (u32, u32),
    omega: wgpu::Buffer,
    phi_q: wgpu::Buffer,
    phi_k: wgpu::Buffer,
    sums: wgpu::Buffer,
    out: wgpu::Buffer,
    memory_bytes: u64,
}

impl Prepared {
    /// Checks the limits and allocates the features, sums and output.
    pub async fn new(
        ctx: &GpuContext,
        qkv: &Qkv,
        causal: bool,
        features: &FeatureMap,
    ) -> Result<Prepared, GpuError> {
        let (n, d, dv) = qkv.shape;
        let m = features.features(d);
        if m == 0 || m > MAX_FEATURES {
            return Err(GpuError::TooLarge {
                what: "the linear-attention kernel".into(),
                needs: m as u64,
                unit: "features",
                limit_name: "the kernel's most features",
                limit: MAX_FEATURES as u64,
            });
        }
        let chunks = n.div_ceil(CHUNK);
        let width = m * dv + m;
        let passes = if chunks > 1 {
            usize::BITS - (chunks - 1).leading_zeros()
        } else {
            0
        };
        let entries = (2 * n * m).div_ceil(64) as u32;
        let max_groups = ctx.limits.max_compute_workgroups_per_dimension;
        let entry_grid = (entries.min(max_groups), entries.div_ceil(max_groups));
        check_dispatch(ctx, "linear attention features", entry_grid.1)?;
        check_dispatch(
            ctx,
            "linear attention chunk sums",
            width.div_ceil(64) as u32,
        )?;
        let base = LinearParams {
            n: n as u32,
            d: d as u32,
            dv: dv as u32,
            m: m as u32,
            chunk: CHUNK as u32,
            chunks: chunks as u32,
            causal: causal as u32,
            kind: features.kind as u32,
            final_half: passes % 2,
            eps: EPS,
            x_scale: (d as f32).powf(-0.25),
            inv_sqrt_m: 1.0 / (m as f32).sqrt(),
            ..Default::default()
        };
        let omega: &[f32] = if features.omega.is_empty() {
            &[0.0]
        } else {
            &features.omega
        };
        let sums_len = 2 * chunks * width + 3 * n + 1;
        scoped(ctx, "allocating linear attention", || {
            Ok(Prepared {
                base,
                n,
                m,
                dv,
                chunks,
                passes,
                entry_grid,
                omega: buffers::upload(ctx, "linear.omega", omega)?,
                phi_q: buffers::storage(ctx, "linear.phi_q", n * m)?,
                phi_k: buffers::storage(ctx, "linear.phi_k", n * m)?,
                sums: buffers::storage(ctx, "linear.sums", sums_len)?,
                out: buffers::storage(ctx, "linear.out", n * dv)?,
                memory_bytes: ((omega.len() + 2 * n * m + sums_len + n * dv) * 4) as u64,
            })
        })
        .await
    }

    fn width(&self) -> usize {
        self.m * self.dv + self.m
    }

    /// φ(Q) and φ(K) as matrices (for the pooled implied map).
    fn phi(&self) -> (Mat, Mat) {
        let mat = |buf: &wgpu::Buffer| Mat {
            buf: buf.clone(),
            rows: self.n as u32,
            cols: self.m as u32,
        };
        (mat(&self.phi_q), mat(&self.phi_k))
    }
}

/// Records the timed passes: the features (and FAVOR+'s stabilisation),
/// the chunk sums, the scan steps and the output.
pub async fn record(
    ctx: &GpuContext,
    p: &Prepared,
    qkv: &Qkv,
    favor: bool,
) -> Result<Program, GpuError> {
    let mut program = Program::new("linear attention");
    program.memory_bytes = p.memory_bytes;
    let main = buffers::uniform(ctx, "linear.params", &p.base);
    program.time(pass(ctx, &FEATURES, &main, p, qkv, p.entry_grid).await?);
    if favor {
        let rows = ((2 * p.n).div_ceil(64) as u32, 1);
        program.time(pass(ctx, &FAVOR_ROW_MAX, &main, p, qkv, rows).await?);
        program.time(pass(ctx, &FAVOR_KEY_MAX, &main, p, qkv, (1, 1)).await?);
        program.time(pass(ctx, &FAVOR_EXP, &main, p, qkv, p.entry_grid).await?);
    }
    let grid = (p.width().div_ceil(64) as u32, p.chunks as u32);
    program.time(pass(ctx, &CHUNK_SUMS, &main, p, qkv, grid).await?);
    for step in 0..p.passes {
        let params = LinearParams {
            scan_offset: 1 << step,
            scan_src: step % 2,
            ..p.base
        };
        let uniform = buffers::uniform(ctx, "linear.scan", &params);
        program.time(pass(ctx, &SCAN_STEP, &uniform, p, qkv, grid).await?);
    }
    let n = p.n as u32;
    program.time(
        pass(
            ctx,
            &APPLY,
            &main,
            p,
            qkv,
            (n.min(65535), n.div_ceil(65535)),
        )
        .await?,
    );
    Ok(program)
}

/// One pass of `kernel` with this uniform over the problem's buffers.
async fn pass(
    ctx: &GpuContext,
    kernel: &Kernel,
    uniform: &wgpu::Buffer,
    p: &Prepared,
    qkv: &Qkv,
    groups: (u32, u32),
) -> Result<Pass, GpuError> {
    let named = [
        ("params", uniform),
        ("q", &qkv.q),
        ("k", &qkv.k),
        ("v", &qkv.v),
        ("omega", &p.omega),
        ("phi_q", &p.phi_q),
        ("phi_k", &p.phi_k),
        ("sums", &p.sums),
        ("out", &p.out),
    ];
    Pass::build(ctx, kernel, &[], &named, groups).await
}

/// Runs linear attention with `features` on the GPU: the timed program,
/// then the implied attention map Aᵢⱼ = φ(qᵢ)·φ(kⱼ)/(denᵢ + ε) pooled as
/// a view, and φ(Q) read back for the factor view.
pub async fn run(
    ctx: &GpuContext,
    (q, k, v): (&Array2<f32>, &Array2<f32>, &Array2<f32>),
    causal: bool,
    features: &FeatureMap,
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    let qkv = Qkv::upload(ctx, q, k, v).await?;
    let p = Prepared::new(ctx, &qkv, causal, features).await?;
    let mut program = record(ctx, &p, &qkv, features.kind == FeatureKind::Favor).await?;
    let (n, m, dv) = (p.n, p.m, p.dv);
    let (factor, cells) = AttentionMap::geometry(n);
    let mut views = Builder::new(ctx, "linear attention: implied matrix");
    views.views();
    let inv_den = views.zeros("linear.inv_den", n, 1)?;
    let (phi_q, phi_k) = p.phi();
    let offset = ((2 * p.chunks * p.width() + 2 * n + 1) * 4) as u64;
    program.view_copy(&p.sums, offset, &inv_den.buf, (n * 4) as u64);
    let pooled = views
        .pool_factored(
            "linear.pool_implied",
            &phi_q,
            &phi_k,
            &inv_den,
            causal,
            factor as u32,
            cells as u32,
        )
        .await?;
    program.extend(views.program);
    let memory = qkv.bytes() + program.memory_bytes;
    let (_, timed) = options.run(ctx, program).await?;
    let output = Array2::from_shape_vec((n, dv), buffers::read_f32(ctx, &p.out, n * dv).await?)
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    let variant = format!(
        "φ(Q)·(φ(K)ᵀV), m = {m} features{}",
        if causal {
            format!(
                ", causal by a scan over {} chunks of {CHUNK} keys ({} passes)",
                p.chunks, p.passes
            )
        } else {
            String::new()
        }
    );
    let mut out = GpuOutput::new(KernelKind::Linear, variant, output, timed, memory);
    out.artifacts
        .put(Artifact::Weights(read_map(ctx, &pooled, n).await?));
    out.artifacts.put(Artifact::Factor(FactorMap::pool(
        &phi_q.read(ctx).await?,
        "φ(Q): query features",
        "feature",
    )));
    Ok(out)
}

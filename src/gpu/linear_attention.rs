//! Host side of `linear_attention.wgsl`: kernel-based linear attention
//! (Linear Transformer, Performer FAVOR+, cosFormer; survey §"Kernel-based
//! Linear Attention", Eqs. 30–32) in O(n) over B·H heads at once, and the
//! implied attention map φ(qᵢ)·φ(kⱼ)/denᵢ of head 0 pooled on the GPU.
//!
//! Every pass is ONE dispatch over (batch × head): Q, K are uploaded as
//! `[B·H, n, d4]`, V as `[B·H, n, dv4]` (rows zero-padded to a multiple of 4
//! so that every load is a vec4), and the head is part of the grid's y.
//!
//! * FAVOR+ only: `features` (the exponents ωᵀx − ‖x‖²/2 of Q and K, a tiled
//!   GEMM, with the maxima as partials) and `key_max` (each head's largest
//!   key exponent);
//! * `chunk_sums`: S_c = φ(K_c)ᵀV_c and z_c = Σφ(K_c) per chunk of keys, a
//!   batched GEMM over 64 × 64 tiles; not causal, the "chunks" are splits of
//!   n sized so that about [`TARGET_WORKGROUPS`] workgroups run;
//! * `fold` (more than one chunk): causal, the exclusive prefix over chunks,
//!   in place; otherwise the total;
//! * `apply` (8 × 8 outputs per thread of 64) or `apply_causal` (4 × 4 of
//!   256, which also holds the scores): φ(Q)·P / (φ(Q)·z + ε) per 64 rows,
//!   plus (causal) the masked scores of the rows' own chunk times V.
//!
//! The GEMM-like passes (`features`, `chunk_sums`, `apply`) give each of
//! 64 threads 8 × 8 outputs of a 64 × 64 tile, the layout measured at 44
//! TFLOP/s for a plain SGEMM on the H200 (DESIGN.md); every kernel stays
//! within WebGPU's default 16 KiB of workgroup memory.
//!
//! Shape: [`Geometry`] (sizes, tiles, chunking; a pure function of the
//! problem and the adapter's storage limit) → [`Geometry::check`] (every
//! buffer and grid against the adapter's limits, before anything is
//! allocated) → buffers, passes, [`Program`] → readback.

use bytemuck::{Pod, Zeroable};
use ndarray::Array2;

use super::bindings::{Binding, Kernel, Module};
use super::buffers::{self, check_dispatch, check_storage, scoped};
use super::linalg::{Builder, Mat, read_map};
use super::program::{Pass, Program};
use super::work;
use super::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::data::artifacts::Artifact;
use crate::data::codes::{FeatureKind, KernelKind};
use crate::data::maps::{AttentionMap, FactorMap};
use crate::inputs::Inputs;

const MODULE: Module = Module {
    name: "linear_attention",
    source: || include_wgsl!("linear_attention.wgsl"),
    text: wgsl!("linear_attention.wgsl"),
};
const PARAMS: Binding = Binding::uniform("params", 0);
const Q: Binding = Binding::read("q", 1).elements_of(16);
const K: Binding = Binding::read("k", 2).elements_of(16);
const V: Binding = Binding::read("v", 3).elements_of(16);
const OMEGA: Binding = Binding::read("omega", 4).elements_of(16);
const EXPO_Q: Binding = Binding::write("expo_q", 5).elements_of(16);
const EXPO_K: Binding = Binding::write("expo_k", 6).elements_of(16);
const STATE: Binding = Binding::write("state", 7).elements_of(16);
const STATS: Binding = Binding::write("stats", 8);
const OUT: Binding = Binding::write("out", 9).elements_of(16);
const VIEW_Q: Binding = Binding::write("view_q", 10);
const VIEW_K: Binding = Binding::write("view_k", 11);

const fn kernel(entry: &'static str, bindings: &'static [Binding]) -> Kernel {
    Kernel {
        module: MODULE,
        entry,
        bindings,
    }
}

/// FAVOR+: the exponents of Q and K, with their maxima as partials.
pub const FEATURES: Kernel = kernel("features", &[PARAMS, Q, K, OMEGA, EXPO_Q, EXPO_K, STATS]);
/// FAVOR+: each head's largest key exponent.
pub const KEY_MAX: Kernel = kernel("key_max", &[PARAMS, STATS]);
/// Per chunk of keys: Σ φ(kⱼ)vⱼᵀ and Σ φ(kⱼ).
pub const CHUNK_SUMS: Kernel = kernel(
    "chunk_sums",
    &[PARAMS, Q, K, V, EXPO_Q, EXPO_K, STATE, STATS],
);
/// The exclusive prefix (causal) or the total over the chunks.
pub const FOLD: Kernel = kernel("fold", &[PARAMS, STATE]);
/// The output rows, not causal (8 × 8 outputs per thread).
pub const APPLY: Kernel = kernel("apply", &[PARAMS, Q, K, EXPO_Q, EXPO_K, STATE, STATS, OUT]);
/// The output rows, causal: the prefix and the own chunk's masked scores.
pub const APPLY_CAUSAL: Kernel = kernel(
    "apply_causal",
    &[PARAMS, Q, K, V, EXPO_Q, EXPO_K, STATE, STATS, OUT],
);
/// Views: head 0's φ(Q) and φ(K) in the twin's layout.
pub const PHI_VIEW: Kernel = kernel(
    "phi_view",
    &[PARAMS, Q, K, EXPO_Q, EXPO_K, STATS, VIEW_Q, VIEW_K],
);

/// Every kernel of this family.
pub const KERNELS: &[Kernel] = &[
    FEATURES,
    KEY_MAX,
    CHUNK_SUMS,
    FOLD,
    APPLY,
    APPLY_CAUSAL,
    PHI_VIEW,
];

/// Rows, features and value columns of a workgroup's tile.
pub const TILE: usize = 64;
/// Keys per chunk of the causal scan (doubled while the chunk sums would
/// not fit the adapter's largest storage buffer).
pub const CHUNK: usize = 64;
/// Workgroups the non-causal chunk sums aim for: n is split into that many
/// parts over all heads and tiles (an H200 has 132 SMs).
pub const TARGET_WORKGROUPS: usize = 1024;
/// Guard on the denominators: Oᵢ = num / (den + ε).
pub const EPS: f32 = 1e-6;
/// Most features the kernels take.
pub const MAX_FEATURES: usize = 1024;
/// Threads per workgroup of every kernel.
pub const WORKGROUP: usize = 256;
/// State values per `fold` workgroup (8 vec4 lanes).
pub const FOLD_LANES: usize = 32;

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

/// 4⌈x/4⌉.
fn pad4(x: usize) -> usize {
    x.div_ceil(4) * 4
}

/// Sizes, tiles and chunking of one run over `heads` heads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    /// The feature map.
    pub kind: FeatureKind,
    /// B·H.
    pub heads: usize,
    /// Rows per head.
    pub n: usize,
    /// Query/key width.
    pub d: usize,
    /// Value width.
    pub dv: usize,
    /// Features.
    pub m: usize,
    /// Whether causal.
    pub causal: bool,
    /// Stored row length of Q and K: 4⌈d/4⌉.
    pub d4: usize,
    /// Stored row length of V and O: 4⌈dᵥ/4⌉.
    pub dv4: usize,
    /// Stored features: 4⌈m/4⌉ (cosFormer: 2·d4, its sin half from d4).
    pub mp: usize,
    /// ⌈n/64⌉.
    pub rtiles: usize,
    /// ⌈mp/64⌉.
    pub ftiles: usize,
    /// ⌈dv4/64⌉.
    pub vtiles: usize,
    /// Keys per chunk (a multiple of 64).
    pub chunk: usize,
    /// ⌈n/chunk⌉.
    pub chunks: usize,
    /// State values per chunk: mp·dv4 (S) + mp (z).
    pub lanes: usize,
}

/// Offsets (in f32) into the statistics buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsLayout {
    /// FAVOR+: each query row's largest exponent per feature tile.
    pub qmax_at: usize,
    /// FAVOR+: each key tile's largest exponent.
    pub kpart_at: usize,
    /// FAVOR+: each head's largest key exponent.
    pub kmax_at: usize,
    /// 1/(den + ε) of every row of every head.
    pub den_at: usize,
    /// Its length.
    pub len: usize,
}

/// The dispatch grids of the passes: (x, y) with y = heads · fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grids {
    /// `features` (FAVOR+).
    pub features: (u32, u32),
    /// `key_max` (FAVOR+).
    pub key_max: (u32, u32),
    /// `chunk_sums`.
    pub chunk_sums: (u32, u32),
    /// `fold`.
    pub fold: (u32, u32),
    /// `apply`.
    pub apply: (u32, u32),
    /// `phi_view`.
    pub phi_view: (u32, u32),
}

impl Geometry {
    /// The geometry of `heads` heads of n × d (V n × dᵥ) with m features;
    /// the chunks of the sums are the smallest whose state fits
    /// `max_storage_bytes`.
    pub fn new(
        kind: FeatureKind,
        heads: usize,
        (n, d, dv): (usize, usize, usize),
        m: usize,
        causal: bool,
        max_storage_bytes: u64,
    ) -> Geometry {
        let (d4, dv4) = (pad4(d), pad4(dv));
        let mp = match kind {
            FeatureKind::Cos => 2 * d4,
            _ => pad4(m),
        };
        let rtiles = n.div_ceil(TILE).max(1);
        let ftiles = mp.div_ceil(TILE);
        let vtiles = dv4.div_ceil(TILE);
        let lanes = mp * dv4 + mp;
        let mut chunk = if causal {
            CHUNK
        } else {
            let per_split = (heads * ftiles * vtiles).max(1);
            let splits = TARGET_WORKGROUPS.div_ceil(per_split).clamp(1, rtiles);
            TILE * rtiles.div_ceil(splits)
        };
        let state_bytes = |chunk: usize| (heads * n.div_ceil(chunk) * lanes * 4) as u64;
        while state_bytes(chunk) > max_storage_bytes && chunk < rtiles * TILE {
            chunk *= 2;
        }
        Geometry {
            kind,
            heads,
            n,
            d,
            dv,
            m,
            causal,
            d4,
            dv4,
            mp,
            rtiles,
            ftiles,
            vtiles,
            chunk,
            chunks: n.div_ceil(chunk).max(1),
            lanes,
        }
    }

    /// Whether FAVOR+'s exponent passes run.
    pub fn favor(&self) -> bool {
        self.kind == FeatureKind::Favor
    }

    /// Whether `fold` runs (more than one chunk).
    pub fn folds(&self) -> bool {
        self.chunks > 1
    }

    /// The statistics buffer's layout.
    pub fn stats(&self) -> StatsLayout {
        let (h, n) = (self.heads, self.n);
        let (qmax, kpart) = if self.favor() {
            (h * n * self.ftiles, h * self.rtiles * self.ftiles)
        } else {
            (0, 0)
        };
        let kmax_at = qmax + kpart;
        let den_at = kmax_at + h;
        StatsLayout {
            qmax_at: 0,
            kpart_at: qmax,
            kmax_at,
            den_at,
            len: den_at + h * n,
        }
    }

    /// Every buffer the run creates, with its length in f32 (dummies of 4
    /// where a pass does not need one).
    pub fn buffers(&self) -> Vec<(&'static str, usize)> {
        let (h, n) = (self.heads, self.n);
        let favor = self.favor();
        vec![
            ("Q", h * n * self.d4),
            ("K", h * n * self.d4),
            ("V", h * n * self.dv4),
            ("ω", if favor { self.mp * self.d4 } else { 4 }),
            ("query exponents", if favor { h * n * self.mp } else { 4 }),
            ("key exponents", if favor { h * n * self.mp } else { 4 }),
            ("chunk sums", h * self.chunks * self.lanes),
            ("statistics", self.stats().len),
            ("output", h * n * self.dv4),
            ("φ(Q) view", n * self.m),
            ("φ(K) view", n * self.m),
        ]
    }

    /// Bytes of all its buffers.
    pub fn memory_bytes(&self) -> u64 {
        self.buffers().iter().map(|(_, len)| 4 * *len as u64).sum()
    }

    /// Checks every buffer against the adapter's storage limits and the
    /// kernels' 32-bit indices, and every grid against the workgroup
    /// limit — before anything is allocated — and returns the grids.
    pub fn check(&self, ctx: &GpuContext) -> Result<Grids, GpuError> {
        let of_heads = match self.heads {
            1 => "1 head".to_string(),
            h => format!("{h} heads"),
        };
        for (name, len) in self.buffers() {
            let what = format!("linear attention's {name} ({of_heads})");
            check_storage(ctx, &what, 4 * len as u64)?;
            if len as u64 > u32::MAX as u64 {
                return Err(GpuError::TooLarge {
                    what,
                    needs: len as u64,
                    unit: "f32 values",
                    limit_name: "the kernels' 32-bit indices",
                    limit: u32::MAX as u64,
                });
            }
        }
        let limit = ctx.limits.max_compute_workgroups_per_dimension as u64;
        let heads = self.heads;
        let grid = |what: &str, tiles: usize, heads: usize| -> Result<(u32, u32), GpuError> {
            let tiles = tiles.max(1) as u64;
            let x = tiles.min(limit).max(1);
            let y = heads as u64 * tiles.div_ceil(x);
            if y > limit {
                return Err(GpuError::TooLarge {
                    what: format!("linear attention's {what} ({of_heads})"),
                    needs: y,
                    unit: "workgroups along one dimension",
                    limit_name: "max_compute_workgroups_per_dimension",
                    limit,
                });
            }
            check_dispatch(ctx, what, x as u32)?;
            Ok((x as u32, y as u32))
        };
        let (rt, ft, vt) = (self.rtiles, self.ftiles, self.vtiles);
        Ok(Grids {
            features: grid("features", 2 * rt * ft, heads)?,
            key_max: grid("key maxima", 1, heads)?,
            chunk_sums: grid("chunk sums", self.chunks * ft * vt, heads)?,
            fold: grid("fold over chunks", self.lanes.div_ceil(FOLD_LANES), heads)?,
            apply: grid("output rows", rt * vt, heads)?,
            phi_view: grid("φ views", (2 * self.n * self.m).div_ceil(WORKGROUP), 1)?,
        })
    }

    fn params(&self) -> LinearParams {
        let s = self.stats();
        LinearParams {
            n: self.n as u32,
            d: self.d as u32,
            dv: self.dv as u32,
            m: self.m as u32,
            d4: self.d4 as u32,
            dv4: self.dv4 as u32,
            mp: self.mp as u32,
            heads: self.heads as u32,
            chunk: self.chunk as u32,
            chunks: self.chunks as u32,
            causal: self.causal as u32,
            kind: self.kind as u32,
            lanes: self.lanes as u32,
            ftiles: self.ftiles as u32,
            vtiles: self.vtiles as u32,
            rtiles: self.rtiles as u32,
            qmax_at: s.qmax_at as u32,
            kpart_at: s.kpart_at as u32,
            kmax_at: s.kmax_at as u32,
            den_at: s.den_at as u32,
            eps: EPS,
            x_scale: (self.d as f32).powf(-0.25),
            inv_sqrt_m: 1.0 / (self.m as f32).sqrt(),
            pad: 0.0,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, Default)]
struct LinearParams {
    n: u32,
    d: u32,
    dv: u32,
    m: u32,
    d4: u32,
    dv4: u32,
    mp: u32,
    heads: u32,
    chunk: u32,
    chunks: u32,
    causal: u32,
    kind: u32,
    lanes: u32,
    ftiles: u32,
    vtiles: u32,
    rtiles: u32,
    qmax_at: u32,
    kpart_at: u32,
    kmax_at: u32,
    den_at: u32,
    eps: f32,
    x_scale: f32,
    inv_sqrt_m: f32,
    pad: f32,
}

/// The heads' `pick` matrices stacked `[B·H, rows, width]`, each row
/// zero-padded to `width`.
fn stacked(items: &[&Inputs], pick: fn(&Inputs) -> &Array2<f32>, width: usize) -> Vec<f32> {
    let rows: usize = items.iter().map(|x| pick(x).nrows()).sum();
    let mut out = Vec::with_capacity(rows * width);
    for x in items {
        for row in pick(x).rows() {
            out.extend(row.iter().copied());
            out.resize(out.len() + width - row.len(), 0.0);
        }
    }
    out
}

/// The run's buffers.
struct Buffers {
    q: wgpu::Buffer,
    k: wgpu::Buffer,
    v: wgpu::Buffer,
    omega: wgpu::Buffer,
    expo_q: wgpu::Buffer,
    expo_k: wgpu::Buffer,
    state: wgpu::Buffer,
    stats: wgpu::Buffer,
    out: wgpu::Buffer,
    view_q: wgpu::Buffer,
    view_k: wgpu::Buffer,
}

impl Buffers {
    /// Uploads the heads and ω, and creates the rest (after
    /// [`Geometry::check`]).
    fn new(
        ctx: &GpuContext,
        g: &Geometry,
        items: &[&Inputs],
        features: &FeatureMap,
    ) -> Result<Buffers, GpuError> {
        let sizes = g.buffers();
        let len = |name: &str| {
            sizes
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(4, |(_, len)| (*len).max(4))
        };
        let omega = if g.favor() {
            let mut padded = vec![0f32; g.mp * g.d4];
            for (f, row) in features.omega.chunks(g.d).enumerate().take(g.m) {
                padded[f * g.d4..f * g.d4 + g.d].copy_from_slice(row);
            }
            padded
        } else {
            vec![0.0; 4]
        };
        Ok(Buffers {
            q: buffers::upload(ctx, "linear.q", &stacked(items, |x| &x.q, g.d4))?,
            k: buffers::upload(ctx, "linear.k", &stacked(items, |x| &x.k, g.d4))?,
            v: buffers::upload(ctx, "linear.v", &stacked(items, |x| &x.v, g.dv4))?,
            omega: buffers::upload(ctx, "linear.omega", &omega)?,
            expo_q: buffers::storage(ctx, "linear.expo_q", len("query exponents"))?,
            expo_k: buffers::storage(ctx, "linear.expo_k", len("key exponents"))?,
            state: buffers::storage(ctx, "linear.state", len("chunk sums"))?,
            stats: buffers::storage(ctx, "linear.stats", len("statistics"))?,
            out: buffers::storage(ctx, "linear.out", len("output"))?,
            view_q: buffers::storage(ctx, "linear.view_q", len("φ(Q) view"))?,
            view_k: buffers::storage(ctx, "linear.view_k", len("φ(K) view"))?,
        })
    }

    fn named<'a>(&'a self, params: &'a wgpu::Buffer) -> [(&'static str, &'a wgpu::Buffer); 12] {
        [
            ("params", params),
            ("q", &self.q),
            ("k", &self.k),
            ("v", &self.v),
            ("omega", &self.omega),
            ("expo_q", &self.expo_q),
            ("expo_k", &self.expo_k),
            ("state", &self.state),
            ("stats", &self.stats),
            ("out", &self.out),
            ("view_q", &self.view_q),
            ("view_k", &self.view_k),
        ]
    }
}

/// Records the timed passes: FAVOR+'s exponents and key maxima, the chunk
/// sums, the fold over chunks and the output rows — each one dispatch over
/// every head.
async fn record(
    ctx: &GpuContext,
    g: &Geometry,
    grids: &Grids,
    b: &Buffers,
    params: &wgpu::Buffer,
) -> Result<Program, GpuError> {
    let mut program = Program::new("linear attention");
    program.memory_bytes = g.memory_bytes();
    let named = b.named(params);
    let pass = |kernel: Kernel, grid: (u32, u32)| {
        let named = &named;
        async move { Pass::build(ctx, &kernel, &[], named, grid).await }
    };
    if g.favor() {
        program.time(pass(FEATURES, grids.features).await?);
        program.time(pass(KEY_MAX, grids.key_max).await?);
    }
    program.time(pass(CHUNK_SUMS, grids.chunk_sums).await?);
    if g.folds() {
        program.time(pass(FOLD, grids.fold).await?);
    }
    let apply = if g.causal { APPLY_CAUSAL } else { APPLY };
    program.time(pass(apply, grids.apply).await?);
    program.view(pass(PHI_VIEW, grids.phi_view).await?);
    Ok(program)
}

/// Runs linear attention with `features` over the heads `items` (all n × d,
/// V n × dᵥ) on the GPU: the timed program, then head 0's implied attention
/// map Aᵢⱼ = φ(qᵢ)·φ(kⱼ)/(denᵢ + ε) pooled as a view and its φ(Q) read back
/// for the factor view. The output is `[B·H·n, dᵥ]`, head after head.
pub async fn run(
    ctx: &GpuContext,
    items: &[&Inputs],
    causal: bool,
    features: &FeatureMap,
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    let Some(first) = items.first() else {
        return Err(GpuError::Device {
            stage: "linear attention".into(),
            message: "no heads to run".into(),
        });
    };
    let (n, d, dv) = (first.n(), first.d(), first.dv());
    if let Some(x) = items.iter().find(|x| (x.n(), x.d(), x.dv()) != (n, d, dv)) {
        return Err(GpuError::Device {
            stage: "linear attention".into(),
            message: format!(
                "heads of different shapes: n = {n}, d = {d}, dv = {dv} and n = {}, d = {}, dv = {}",
                x.n(),
                x.d(),
                x.dv()
            ),
        });
    }
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
    let g = Geometry::new(
        features.kind,
        items.len(),
        (n, d, dv),
        m,
        causal,
        ctx.max_storage_bytes(),
    );
    let grids = g.check(ctx)?;
    let b = scoped(ctx, "allocating linear attention", || {
        Buffers::new(ctx, &g, items, features)
    })
    .await?;
    let params = buffers::uniform(ctx, "linear.params", &g.params());
    let mut program = record(ctx, &g, &grids, &b, &params).await?;

    // Views of head 0: its implied matrix pooled from φ(Q), φ(K) and
    // 1/(den + ε).
    let (factor, cells) = AttentionMap::geometry(n);
    let mut views = Builder::new(ctx, "linear attention: implied matrix");
    views.views();
    let inv_den = views.zeros("linear.inv_den", n, 1)?;
    program.view_copy(
        &b.stats,
        (g.stats().den_at * 4) as u64,
        &inv_den.buf,
        (n * 4) as u64,
    );
    let (phi_q, phi_k) = (Mat::of(&b.view_q, n, m), Mat::of(&b.view_k, n, m));
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
    let memory = program.memory_bytes;
    let (_, timed) = options.run(ctx, program).await?;

    let heads = g.heads;
    let raw = buffers::read_f32(ctx, &b.out, heads * n * g.dv4).await?;
    let values: Vec<f32> = if g.dv4 == dv {
        raw
    } else {
        raw.chunks(g.dv4)
            .flat_map(|row| row[..dv].iter().copied())
            .collect()
    };
    let output = Array2::from_shape_vec((heads * n, dv), values)
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    let variant = format!(
        "φ(Q)·(φ(K)ᵀV), m = {m} features, {heads} head{} per dispatch; sums over {} chunk{} of {} keys{}",
        if heads == 1 { "" } else { "s" },
        g.chunks,
        if g.chunks == 1 { "" } else { "s" },
        g.chunk,
        if causal {
            ", causal by an exclusive scan over the chunks and masked scores within a chunk"
        } else {
            ""
        }
    );
    let mut out = GpuOutput::new(KernelKind::Linear, variant, output, timed, memory);
    let (flops, bytes) =
        work::linear_attention(&g).counted(work::LINEAR_FLOPS_RULE, work::LINEAR_BYTES_RULE);
    out.executed = Some((flops, bytes));
    out.artifacts
        .put(Artifact::Weights(read_map(ctx, &pooled, n).await?));
    out.artifacts.put(Artifact::Factor(FactorMap::pool(
        &phi_q.read(ctx).await?,
        "φ(Q): query features",
        "feature",
    )));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_split_n_for_parallelism_and_grow_to_fit_the_storage_limit() {
        // Not causal, one head, m = 64: as many splits as 64-row tiles.
        let g = Geometry::new(FeatureKind::Elu, 1, (16384, 64, 64), 64, false, u64::MAX);
        assert_eq!((g.chunk, g.chunks, g.lanes), (64, 256, 64 * 64 + 64));
        // 16 heads of FAVOR+ m = 256: 4 feature tiles, 16 splits of 1024.
        let g = Geometry::new(
            FeatureKind::Favor,
            16,
            (16384, 64, 64),
            256,
            false,
            u64::MAX,
        );
        assert_eq!((g.ftiles, g.chunk, g.chunks), (4, 1024, 16));
        // Causal: chunks of 64, doubled while the state does not fit.
        let g = Geometry::new(FeatureKind::Elu, 2, (1000, 8, 8), 8, true, u64::MAX);
        assert_eq!((g.chunk, g.chunks), (64, 16));
        let state = |g: &Geometry| (g.heads * g.chunks * g.lanes * 4) as u64;
        let limit = state(&g) / 3;
        let g = Geometry::new(FeatureKind::Elu, 2, (1000, 8, 8), 8, true, limit);
        assert_eq!((g.chunk, g.chunks), (256, 4));
        assert!(state(&g) <= limit);
        // cosFormer's features: both halves padded to d4.
        let g = Geometry::new(FeatureKind::Cos, 1, (7, 5, 3), 10, true, u64::MAX);
        assert_eq!((g.d4, g.mp, g.dv4, g.rtiles), (8, 16, 4, 1));
    }

    #[test]
    fn stacked_rows_are_padded_head_after_head() {
        let a = Inputs::seeded(2, 3, 1);
        let b = Inputs::seeded(2, 3, 2);
        let s = stacked(&[&a, &b], |x| &x.q, 4);
        assert_eq!(s.len(), 16);
        assert_eq!(&s[..3], a.q.row(0).as_slice().unwrap());
        assert_eq!(s[3], 0.0);
        assert_eq!(&s[8..11], b.q.row(0).as_slice().unwrap());
    }
}

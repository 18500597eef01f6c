//! Host side of `flash_attention.wgsl`: exact softmax attention
//! O = softmax(QKᵀ/√d)·V (Vaswani et al. 2017, survey Eq. 3) in the style of
//! FlashAttention-2 (Dao 2023, Algorithm 1), for B·H heads in one dispatch.
//!
//! A workgroup owns a block of BR query rows of one head (the head is the
//! dispatch's y index) and walks the key tiles of BC keys — causal: only up
//! to the diagonal, masking only the tiles that cross it; banded (a window
//! |i − j| ≤ W, Longformer without global tokens, survey §"Sparse
//! Attention"): only the tiles touching the band, masking those crossing its
//! edges; over n_keys ≠ n keys (Linformer's k projected keys). K and V tiles are
//! staged in workgroup memory with vec4 loads, the scores are register-blocked
//! (RM × RN per thread), the online softmax rescales once per tile and
//! divides once at the end, and P·V accumulates in registers. The row maxima
//! and sums are reduced across a row's threads by subgroup shuffles where the
//! adapter has `subgroups` (and a row's threads fit its smallest subgroup),
//! else through workgroup memory.
//!
//! Two workgroup-memory layouts: padded rows (an odd stride keeps the
//! vec4 reads of different rows in different banks) with a P tile of its
//! own, or compact — unpadded rows whose vec4 slots are permuted by the row
//! index instead, and P written over the K tile once every thread has read
//! it (one more barrier per tile). The compact one is what lets 64 × 64
//! tiles fit 48 KiB at d = 64; on the H200 (16 heads, n = 4096, d = 64,
//! 2026-11-29) the tuner chose it: 64 × 64 tiles of 16 × 16 threads ran
//! 2.92–2.98 ms against 3.01–3.02 for the best padded 64 × 32 tiles
//! (causal 1.62–1.65 against 1.67–1.68). Tried later that day and not
//! kept: subgroups of 4 × 8 threads (a row's 16 threads in two subgroups,
//! meeting through workgroup memory — in theory a third fewer bank
//! wavefronts in both products) ran 3.45 ms against 3.38 for the same
//! 64 × 32 tiles of 8 × 16 threads, and their exchange array no longer
//! lets 64 × 64 tiles fit 48 KiB.
//!
//! What the driver made of the candidates (`flt bench --driver-stats`,
//! experiment calls 13–15): none uses local memory; the tuner's choice
//! (64 × 64, 256 threads, prefetch) takes 134 registers, so one workgroup
//! fits a multiprocessor (8 warps), and without the prefetch 102 (two fit,
//! 16 warps) but runs 3.31 ms against 2.92 with it. Prefetching only the
//! K tile (118 registers) or only the V tile (124) lets two fit with half
//! the prefetch: 3.16 and 3.19 ms (causal 1.76 and 1.78, against 1.62–1.63
//! for the full prefetch in calls 13 and 14). More warps per multiprocessor
//! do not make this kernel faster: the slowest candidate (32 × 32 tiles of
//! 8 × 8 threads, 8.67 ms) takes 125 registers, the 8 × 4 micro-tiles
//! 192–255. Nor do bigger micro-tiles: SGEMM's 8 × 8 scores (and 8 rows ×
//! 2 vec4 outputs) per thread, 64 × 64 tiles of 8 × 8 threads in the
//! compact layout without prefetch — a third of the workgroup-memory reads
//! per multiply-add — took all 255 registers and ran 5.73 ms (causal 3.28)
//! against the tuner's 2.93 (1.62) (2026-11-30, not kept).
//!
//! The tile sizes are override constants ([`FlashConfig`]); [`candidates`]
//! lists those that fit an adapter's limits, [`tune`] times them on a
//! representative shape, and [`choose`] takes the autotuner's cached winner
//! ([`super::autotune`]) or the fixed default.
//!
//! Layout (the heads contract of every batched kernel): Q, K are
//! `[B·H, n, d]` and V, O `[B·H, n, dᵥ]`, contiguous and head-major; the
//! kernel reads rows padded to a multiple of 4 columns (the host pads when d
//! or dᵥ is not one). Row statistics (m, l) per row, as `pool_stats` in
//! `full_attention.wgsl` reads them, come with the output.
//!
//! Shape: [`FlashBuffers`] (upload) → [`record`] (a [`Program`] of one timed
//! pass) → [`FlashBuffers::output`]; [`run_heads`] does all of it.

use std::borrow::Cow;

use bytemuck::{Pod, Zeroable};
use serde::{Deserialize, Serialize};

use super::autotune::{self, Source, Tuned};
use super::bindings::{Binding, Kernel, Module};
use super::buffers::{self, Qkv, check_storage, scoped};
use super::program::{Program, Timed};
use super::work;
use super::{GpuContext, GpuError, GpuRunOptions, Pass};
use crate::data::count::Counted;

const SHARED_TEXT: &str = concat!(
    wgsl!("flash_attention.wgsl"),
    wgsl!("flash_attention.shared.wgsl")
);
/// In the browser the subgroup builtins need WGSL's `enable subgroups;`,
/// which naga (natively) does not accept: it takes them with the device's
/// `subgroups` feature alone.
#[cfg(target_arch = "wasm32")]
const SUBGROUP_TEXT: &str = concat!(
    "enable subgroups;\n",
    wgsl!("flash_attention.wgsl"),
    wgsl!("flash_attention.subgroups.wgsl")
);
#[cfg(not(target_arch = "wasm32"))]
const SUBGROUP_TEXT: &str = concat!(
    wgsl!("flash_attention.wgsl"),
    wgsl!("flash_attention.subgroups.wgsl")
);

const MODULE_SHARED: Module = Module {
    name: "flash_attention",
    source: || wgpu::ShaderModuleDescriptor {
        label: Some("flash_attention"),
        source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(SHARED_TEXT)),
    },
    text: SHARED_TEXT,
};
const MODULE_SUBGROUPS: Module = Module {
    name: "flash_attention_subgroups",
    source: || wgpu::ShaderModuleDescriptor {
        label: Some("flash_attention_subgroups"),
        source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(SUBGROUP_TEXT)),
    },
    text: SUBGROUP_TEXT,
};

const BINDINGS: &[Binding] = &[
    Binding::uniform("params", 0),
    Binding::read("q", 1).elements_of(16),
    Binding::read("k", 2).elements_of(16),
    Binding::read("v", 3).elements_of(16),
    Binding::write("o", 4).elements_of(16),
    Binding::write("stats", 5).elements_of(8),
];

/// The kernel with row reductions through workgroup memory (any adapter).
pub const FLASH: Kernel = Kernel {
    module: MODULE_SHARED,
    entry: "flash",
    bindings: BINDINGS,
};
/// The kernel with row reductions by subgroup shuffles (adapters with
/// `subgroups`).
pub const FLASH_SUBGROUPS: Kernel = Kernel {
    module: MODULE_SUBGROUPS,
    entry: "flash",
    bindings: BINDINGS,
};

/// Every kernel of this family.
pub const KERNELS: &[Kernel] = &[FLASH, FLASH_SUBGROUPS];

/// The widest d and dᵥ the kernel takes (wider: the tiled kernels).
pub const MAX_WIDTH: usize = 128;

/// The uniform block (`Params` in the shader).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    n: u32,
    n_keys: u32,
    causal: u32,
    blocks: u32,
    scale_log2: f32,
    window: u32,
    pad: [u32; 2],
}

/// The sizes of the shader's private arrays, which bound the micro-tile.
const MAX_ROWS_PER_THREAD: u32 = 8;
const MAX_KEYS_PER_THREAD: u32 = 8;
const MAX_SCORES_PER_THREAD: u32 = 64;
const MAX_OUTPUT_VEC4S_PER_THREAD: u32 = 32;
const MAX_PREFETCH_VEC4S: u32 = 8;

/// One configuration of the kernel: a TR × TC grid of threads, RM query
/// rows and RN keys per thread (BR = TR·RM rows per workgroup, BC = TC·RN
/// keys per tile), and how a row's TC threads reduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FlashConfig {
    /// TR: thread rows.
    pub thread_rows: u32,
    /// TC: threads sharing a row (a multiple of 4).
    pub thread_cols: u32,
    /// RM: query rows per thread.
    pub rows_per_thread: u32,
    /// RN: keys per thread per tile.
    pub keys_per_thread: u32,
    /// Row reductions by subgroup shuffles (else workgroup memory).
    pub subgroups: bool,
    /// The next K and V tiles loaded into registers while this one is
    /// used (else loaded after it, between barriers).
    pub prefetch: bool,
    /// The compact workgroup-memory layout: rows unpadded with their vec4
    /// slots permuted (bank-conflict free without padding) and P written
    /// over the K tile once it is read (one more barrier per tile), so that
    /// 64 × 64 tiles fit 48 KiB at d = 64; else padded rows and a P tile of
    /// its own.
    #[serde(default)]
    pub compact: bool,
}

/// The tile shapes tried per width bucket, (TR, TC, RM, RN), the default
/// first. Each is register-blocked; they differ in rows per workgroup (64 or
/// 32: fewer rows, more workgroups), keys per tile and threads (64–256).
const TILES_32: &[(u32, u32, u32, u32)] = &[
    (16, 8, 4, 4),
    (8, 8, 8, 4),
    (16, 8, 4, 8),
    (8, 8, 8, 8),
    (8, 16, 4, 4),
];
const TILES_64: &[(u32, u32, u32, u32)] = &[
    (16, 8, 4, 4),
    // 64 × 64 tiles: with the compact layout in 48 KiB.
    (8, 16, 8, 4),
    (16, 8, 4, 8),
    (16, 16, 4, 4),
    (8, 8, 8, 4),
    (8, 16, 8, 2),
    (16, 8, 2, 4),
    (8, 16, 4, 2),
    (8, 8, 4, 4),
];
const TILES_128: &[(u32, u32, u32, u32)] = &[
    (16, 8, 2, 2),
    (8, 8, 4, 2),
    (16, 4, 2, 4),
    (8, 16, 4, 1),
    // 16 × 16 tiles: for adapters with 32 KiB of workgroup memory.
    (8, 8, 2, 2),
    (16, 8, 1, 2),
];

impl FlashConfig {
    /// A configuration from (TR, TC, RM, RN), with prefetching.
    pub const fn new(tiles: (u32, u32, u32, u32), subgroups: bool) -> FlashConfig {
        FlashConfig {
            thread_rows: tiles.0,
            thread_cols: tiles.1,
            rows_per_thread: tiles.2,
            keys_per_thread: tiles.3,
            subgroups,
            prefetch: true,
            compact: false,
        }
    }

    /// The same without (or with) prefetching.
    pub const fn prefetching(self, prefetch: bool) -> FlashConfig {
        FlashConfig { prefetch, ..self }
    }

    /// The same with the compact layout or the padded one.
    pub const fn compacted(self, compact: bool) -> FlashConfig {
        FlashConfig { compact, ..self }
    }

    /// Vec4s of the next K and V tiles each thread holds when prefetching:
    /// ⌈BC·D4/threads⌉ and ⌈BC·DV4/threads⌉.
    pub fn prefetch_vec4s(&self, d: usize, dv: usize) -> (u32, u32) {
        let (bc, wg) = (self.block_keys(), self.threads());
        (
            (bc * d.div_ceil(4) as u32).div_ceil(wg),
            (bc * dv.div_ceil(4) as u32).div_ceil(wg),
        )
    }

    /// BR: query rows per workgroup.
    pub fn block_rows(&self) -> u32 {
        self.thread_rows * self.rows_per_thread
    }

    /// BC: keys per tile.
    pub fn block_keys(&self) -> u32 {
        self.thread_cols * self.keys_per_thread
    }

    /// Threads per workgroup.
    pub fn threads(&self) -> u32 {
        self.thread_rows * self.thread_cols
    }

    /// RD4: vec4 output columns per thread at value width `dv`.
    pub fn out_vec4s(&self, dv: usize) -> u32 {
        (dv.div_ceil(4) as u32).div_ceil(self.thread_cols).max(1)
    }

    /// The workgroup arrays at widths d, dᵥ, in vec4s: the lengths of the
    /// Q block, of the array holding the K and P tiles, of the V tile, and
    /// where P starts in the second. Padded: BR·(D4+1); BC·(D4+1) of K then
    /// BR·(BC/4+1) of P; BC·DV4. Compact: BR·D4; max(BC·D4, BR·BC/4), P
    /// over K from 0; BC·DV4.
    fn arrays(&self, d: usize, dv: usize) -> ([u32; 3], u32) {
        let (br, bc) = (self.block_rows(), self.block_keys());
        let (d4, dv4) = (d.div_ceil(4) as u32, dv.div_ceil(4) as u32);
        if self.compact {
            ([br * d4, (bc * d4).max(br * bc / 4), bc * dv4], 0)
        } else {
            let k = bc * (d4 + 1);
            ([br * (d4 + 1), k + br * (bc / 4 + 1), bc * dv4], k)
        }
    }

    /// Workgroup memory at widths d, dᵥ: the three arrays of
    /// [`Self::arrays`] and without subgroups the reduction array BR·TC
    /// floats.
    pub fn workgroup_bytes(&self, d: usize, dv: usize) -> u64 {
        let br = self.block_rows() as u64;
        let vec4s: u64 = self.arrays(d, dv).0.iter().map(|&x| x as u64).sum();
        let red = if self.subgroups {
            0
        } else {
            br * self.thread_cols as u64
        };
        16 * vec4s + 4 * red
    }

    /// Checks the configuration against the shader's register arrays and
    /// the adapter's limits (invocations, workgroup size and memory,
    /// subgroups) for widths d, dᵥ.
    pub fn check(&self, ctx: &GpuContext, d: usize, dv: usize) -> Result<(), GpuError> {
        let what = format!("the flash kernel ({}) at d = {d}, dv = {dv}", self.name());
        let too_large = |needs: u64, unit: &'static str, limit_name: &'static str, limit: u64| {
            Err(GpuError::TooLarge {
                what: what.clone(),
                needs,
                unit,
                limit_name,
                limit,
            })
        };
        if d.max(dv) > MAX_WIDTH {
            return too_large(
                d.max(dv) as u64,
                "columns",
                "the flash kernel's widest d, dv",
                MAX_WIDTH as u64,
            );
        }
        let (rm, rn, tc) = (self.rows_per_thread, self.keys_per_thread, self.thread_cols);
        let shape_ok = self.thread_rows >= 1
            && tc >= 4
            && tc.is_multiple_of(4)
            && (1..=MAX_ROWS_PER_THREAD).contains(&rm)
            && (1..=MAX_KEYS_PER_THREAD).contains(&rn)
            && rm * rn <= MAX_SCORES_PER_THREAD;
        if !shape_ok {
            return too_large(
                (rm * rn) as u64,
                "scores per thread",
                "the shader's register arrays (RM, RN ≤ 8, RM·RN ≤ 64, TC a multiple of 4)",
                MAX_SCORES_PER_THREAD as u64,
            );
        }
        let (pk, pv) = self.prefetch_vec4s(d, dv);
        if self.prefetch && pk.max(pv) > MAX_PREFETCH_VEC4S {
            return too_large(
                pk.max(pv) as u64,
                "prefetched vec4s per thread",
                "the shader's prefetch arrays",
                MAX_PREFETCH_VEC4S as u64,
            );
        }
        let outputs = rm * self.out_vec4s(dv);
        if outputs > MAX_OUTPUT_VEC4S_PER_THREAD {
            return too_large(
                outputs as u64,
                "vec4 outputs per thread",
                "the shader's accumulator array",
                MAX_OUTPUT_VEC4S_PER_THREAD as u64,
            );
        }
        let limits = &ctx.limits;
        let threads = self.threads();
        if threads > limits.max_compute_invocations_per_workgroup {
            return too_large(
                threads as u64,
                "invocations",
                "max_compute_invocations_per_workgroup",
                limits.max_compute_invocations_per_workgroup as u64,
            );
        }
        if threads > limits.max_compute_workgroup_size_x {
            return too_large(
                threads as u64,
                "invocations along x",
                "max_compute_workgroup_size_x",
                limits.max_compute_workgroup_size_x as u64,
            );
        }
        let bytes = self.workgroup_bytes(d, dv);
        if bytes > limits.max_compute_workgroup_storage_size as u64 {
            return too_large(
                bytes,
                "bytes of workgroup memory",
                "max_compute_workgroup_storage_size",
                limits.max_compute_workgroup_storage_size as u64,
            );
        }
        if self.subgroups {
            match ctx.subgroups {
                Some((min, _)) if tc <= min && min.is_multiple_of(tc) => {}
                Some((min, _)) => {
                    return too_large(
                        tc as u64,
                        "threads per row",
                        "the adapter's smallest subgroup",
                        min as u64,
                    );
                }
                None => {
                    return too_large(
                        1,
                        "subgroup feature",
                        "the device's features (no `subgroups`)",
                        0,
                    );
                }
            }
        }
        Ok(())
    }

    /// The override constants of the shader at widths d, dᵥ.
    fn constants(&self, d: usize, dv: usize) -> Vec<(&'static str, f64)> {
        let (br, bc) = (self.block_rows(), self.block_keys());
        let (d4, dv4) = (d.div_ceil(4) as u32, dv.div_ceil(4) as u32);
        let ([qs, kp, vs], p_base) = self.arrays(d, dv);
        let mut c = vec![
            ("TR", self.thread_rows),
            ("TC", self.thread_cols),
            ("RM", self.rows_per_thread),
            ("RN", self.keys_per_thread),
            ("D4", d4),
            ("DV4", dv4),
            ("RD4", self.out_vec4s(dv)),
            ("WG", self.threads()),
            ("QS_LEN", qs),
            ("KP_LEN", kp),
            ("VS_LEN", vs),
            ("P_BASE", p_base),
            ("COMPACT", self.compact as u32),
            ("SWZ", swizzle_mask(d4)),
            ("PSWZ", swizzle_mask(bc / 4)),
        ];
        let (pk, pv) = self.prefetch_vec4s(d, dv);
        c.extend([
            ("PREFETCH", self.prefetch as u32),
            ("PF_K", pk),
            ("PF_V", pv),
        ]);
        if !self.subgroups {
            c.push(("RED_LEN", br * self.thread_cols));
        }
        c.into_iter().map(|(k, v)| (k, v as f64)).collect()
    }

    /// The kernel entry this configuration runs.
    fn kernel(&self) -> &'static Kernel {
        if self.subgroups {
            &FLASH_SUBGROUPS
        } else {
            &FLASH
        }
    }

    /// A short name, e.g. `64×32 tiles, 16×8 threads, 4×4 per thread,
    /// subgroup reductions, prefetch` (`, compact layout` when it is).
    pub fn name(&self) -> String {
        format!(
            "{}×{} tiles, {}×{} threads, {}×{} per thread, {}, {}{}",
            self.block_rows(),
            self.block_keys(),
            self.thread_rows,
            self.thread_cols,
            self.rows_per_thread,
            self.keys_per_thread,
            if self.subgroups {
                "subgroup reductions"
            } else {
                "workgroup-memory reductions"
            },
            if self.prefetch {
                "prefetch"
            } else {
                "no prefetch"
            },
            if self.compact { ", compact layout" } else { "" }
        )
    }
}

/// The mask of the compact layout's slot permutation for rows of `len`
/// vec4s: the largest 2ᵏ − 1 ≤ 7 with 2ᵏ dividing `len` (a slot XOR the
/// mask stays in its row; 8 distinct slots are 8 distinct bank groups).
fn swizzle_mask(len: u32) -> u32 {
    (1u32 << len.trailing_zeros().min(3)) - 1
}

/// The candidate configurations for widths d, dᵥ on this adapter, in order
/// of preference (the first is the default): each tile shape of the width's
/// bucket with subgroup reductions where they apply, then without, each
/// with prefetching and without.
pub fn candidates(ctx: &GpuContext, d: usize, dv: usize) -> Vec<FlashConfig> {
    let mut out = Vec::new();
    for &t in tiles(d, dv) {
        for subgroups in [true, false] {
            for prefetch in [true, false] {
                for compact in [false, true] {
                    let c = FlashConfig::new(t, subgroups)
                        .prefetching(prefetch)
                        .compacted(compact);
                    if c.check(ctx, d, dv).is_ok() {
                        out.push(c);
                    }
                }
            }
        }
    }
    out
}

/// The tile shapes of the width bucket of d, dᵥ (beyond 128 the widest
/// bucket's, which every check then refuses).
fn tiles(d: usize, dv: usize) -> &'static [(u32, u32, u32, u32)] {
    match autotune::bucket(d, dv) {
        Some(32) => TILES_32,
        Some(64) => TILES_64,
        _ => TILES_128,
    }
}

/// Whether the flash kernel runs widths d, dᵥ on this adapter.
pub fn covers(ctx: &GpuContext, d: usize, dv: usize) -> bool {
    !candidates(ctx, d, dv).is_empty()
}

/// B·H heads of n queries over n_keys keys, widths d and dᵥ, causal or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashShape {
    /// B·H independent heads.
    pub heads: usize,
    /// Queries per head.
    pub n: usize,
    /// Keys and values per head: n for self-attention, or fewer for
    /// attention over projected keys (Linformer's EK, FV: k rows).
    /// Causal needs n_keys = n.
    pub n_keys: usize,
    /// Query/key width.
    pub d: usize,
    /// Value width.
    pub dv: usize,
    /// Keys j > i masked.
    pub causal: bool,
    /// Keys with |i − j| > W masked (a sliding window: Longformer without
    /// global tokens); the kernel visits only the key tiles that touch the
    /// band. Needs n_keys = n.
    pub window: Option<usize>,
}

impl FlashShape {
    /// Self-attention: `heads` heads of n queries over their own n keys
    /// (n_keys = n), no window.
    pub fn square(heads: usize, n: usize, d: usize, dv: usize, causal: bool) -> FlashShape {
        FlashShape {
            heads,
            n,
            n_keys: n,
            d,
            dv,
            causal,
            window: None,
        }
    }

    /// Self-attention over the stacked heads of `heads` (B·H of them, their
    /// n, d and dᵥ).
    pub fn of_heads(heads: &crate::inputs::Heads, causal: bool) -> FlashShape {
        FlashShape::square(heads.count(), heads.n(), heads.d(), heads.dv(), causal)
    }

    /// The same with keys beyond |i − j| ≤ `window` masked.
    pub fn banded(self, window: usize) -> FlashShape {
        FlashShape {
            window: Some(window),
            ..self
        }
    }

    /// The window the kernel is sent: `None` when the band holds every key.
    fn band(&self) -> Option<usize> {
        self.window.filter(|&w| w < self.n_keys.max(self.n))
    }

    /// Whether rows must be padded to a multiple of 4 columns.
    fn padded(&self) -> bool {
        !self.d.is_multiple_of(4) || !self.dv.is_multiple_of(4)
    }

    /// Floats of one padded tensor of width `w` (Q or O).
    fn len(&self, w: usize) -> usize {
        self.heads * self.n * w.div_ceil(4) * 4
    }

    /// Floats of one padded key-side tensor of width `w` (K or V).
    fn key_len(&self, w: usize) -> usize {
        self.heads * self.n_keys * w.div_ceil(4) * 4
    }
}

/// `rows × w` row-major floats with each row padded by zeros to 4·⌈w/4⌉.
fn pad_rows(data: &[f32], w: usize) -> Cow<'_, [f32]> {
    let w4 = w.div_ceil(4) * 4;
    if w4 == w {
        return Cow::Borrowed(data);
    }
    let mut out = Vec::with_capacity(data.len() / w.max(1) * w4);
    for row in data.chunks(w.max(1)) {
        out.extend_from_slice(row);
        out.resize(out.len() + (w4 - w), 0.0);
    }
    Cow::Owned(out)
}

/// Q, K, V and the outputs on the GPU, in the kernel's padded layout.
pub struct FlashBuffers {
    /// The shape they hold.
    pub shape: FlashShape,
    q: wgpu::Buffer,
    k: wgpu::Buffer,
    v: wgpu::Buffer,
    /// The output [B·H, n, 4⌈dᵥ/4⌉].
    pub o: wgpu::Buffer,
    /// (m, l) per row, [B·H, n, 2].
    pub stats: wgpu::Buffer,
    /// Bytes of the buffers allocated here (inputs reused from elsewhere
    /// excluded).
    pub bytes: u64,
}

impl FlashBuffers {
    /// Checks every size against the limits, uploads stacked `[B·H, n, d]`
    /// Q, K and `[B·H, n, dᵥ]` V (rows padded where needed) and allocates
    /// the outputs.
    pub async fn upload(
        ctx: &GpuContext,
        shape: FlashShape,
        (q, k, v): (&[f32], &[f32], &[f32]),
    ) -> Result<FlashBuffers, GpuError> {
        let FlashShape {
            heads,
            n,
            n_keys,
            d,
            dv,
            ..
        } = shape;
        for (what, data, rows, w) in [("Q", q, n, d), ("K", k, n_keys, d), ("V", v, n_keys, dv)] {
            if data.len() != heads * rows * w {
                return Err(GpuError::Device {
                    stage: "uploading the flash kernel's inputs".into(),
                    message: format!(
                        "{what} holds {} values, not B·H·{}·{} = {}",
                        data.len(),
                        if what == "Q" { "n" } else { "n_keys" },
                        if what == "V" { "dᵥ" } else { "d" },
                        heads * rows * w
                    ),
                });
            }
        }
        Self::check(ctx, shape)?;
        let (qp, kp, vp) = (pad_rows(q, d), pad_rows(k, d), pad_rows(v, dv));
        scoped(ctx, "uploading the flash kernel's inputs", || {
            Ok(FlashBuffers {
                q: buffers::upload(ctx, "flash.q", &qp)?,
                k: buffers::upload(ctx, "flash.k", &kp)?,
                v: buffers::upload(ctx, "flash.v", &vp)?,
                o: buffers::storage(ctx, "flash.o", shape.len(dv))?,
                stats: buffers::storage(ctx, "flash.stats", 2 * heads * n)?,
                bytes: 4
                    * (shape.len(d)
                        + shape.key_len(d)
                        + shape.key_len(dv)
                        + shape.len(dv)
                        + 2 * heads * n) as u64,
                shape,
            })
        })
        .await
    }

    /// One head already uploaded as `qkv` (exact attention's buffers): used
    /// as they are when d and dᵥ are multiples of 4, else uploaded again
    /// from `host`, padded. The outputs are allocated here.
    pub async fn for_qkv(
        ctx: &GpuContext,
        qkv: &Qkv,
        host: (&[f32], &[f32], &[f32]),
        causal: bool,
    ) -> Result<FlashBuffers, GpuError> {
        let (n, d, dv) = qkv.shape;
        let shape = FlashShape::square(1, n, d, dv, causal);
        if shape.padded() {
            return Self::upload(ctx, shape, host).await;
        }
        Self::check(ctx, shape)?;
        scoped(ctx, "allocating the flash kernel's outputs", || {
            Ok(FlashBuffers {
                q: qkv.q.clone(),
                k: qkv.k.clone(),
                v: qkv.v.clone(),
                o: buffers::storage(ctx, "flash.o", n * dv)?,
                stats: buffers::storage(ctx, "flash.stats", 2 * n)?,
                bytes: 4 * (n * dv + 2 * n) as u64,
                shape,
            })
        })
        .await
    }

    /// Every buffer against the storage limits, before allocating.
    fn check(ctx: &GpuContext, shape: FlashShape) -> Result<(), GpuError> {
        for (what, len) in [
            ("Q (B·H × n × d)", shape.len(shape.d)),
            ("K (B·H × n_keys × d)", shape.key_len(shape.d)),
            ("V (B·H × n_keys × dv)", shape.key_len(shape.dv)),
            ("O (B·H × n × dv)", shape.len(shape.dv)),
            ("the row statistics", 2 * shape.heads * shape.n),
        ] {
            check_storage(ctx, what, (len * 4) as u64)?;
        }
        Ok(())
    }

    /// The Q, K and V buffers (rows padded to whole vec4s).
    pub fn inputs(&self) -> (&wgpu::Buffer, &wgpu::Buffer, &wgpu::Buffer) {
        (&self.q, &self.k, &self.v)
    }

    /// The output, `[B·H·n, dᵥ]` row-major (padding removed).
    pub async fn output(&self, ctx: &GpuContext) -> Result<Vec<f32>, GpuError> {
        let FlashShape { heads, n, dv, .. } = self.shape;
        let all = buffers::read_f32(ctx, &self.o, self.shape.len(dv)).await?;
        let dv4 = dv.div_ceil(4) * 4;
        if dv4 == dv {
            return Ok(all);
        }
        let mut out = Vec::with_capacity(heads * n * dv);
        for row in all.chunks(dv4) {
            out.extend_from_slice(&row[..dv]);
        }
        Ok(out)
    }
}

/// Records the kernel with `config` over `bufs` (every limit checked): a
/// program of one timed pass over (⌈n/BR⌉, B·H) workgroups.
pub async fn record(
    ctx: &GpuContext,
    bufs: &FlashBuffers,
    config: FlashConfig,
) -> Result<Program, GpuError> {
    let pass = pass_over(
        ctx,
        bufs.shape,
        config,
        (&bufs.q, &bufs.k, &bufs.v),
        (&bufs.o, &bufs.stats),
    )
    .await?;
    let mut program = Program::new("flash attention");
    program.memory_bytes = bufs.bytes;
    program.time(pass);
    Ok(program)
}

/// The kernel's pass with `config` over buffers the caller holds: Q
/// `[B·H, n, 4⌈d/4⌉]`, K `[B·H, n_keys, 4⌈d/4⌉]`, V `[B·H, n_keys,
/// 4⌈dᵥ/4⌉]` (f32 rows, padded with zeros to whole vec4s), written O
/// `[B·H, n, 4⌈dᵥ/4⌉]` and stats `[B·H, n, 2]`. Every buffer is checked to
/// hold what the shape reaches (the module runs without runtime checks),
/// and the configuration against the adapter's limits.
pub async fn pass_over(
    ctx: &GpuContext,
    shape: FlashShape,
    config: FlashConfig,
    (q, k, v): (&wgpu::Buffer, &wgpu::Buffer, &wgpu::Buffer),
    (o, stats): (&wgpu::Buffer, &wgpu::Buffer),
) -> Result<Pass, GpuError> {
    let FlashShape {
        heads,
        n,
        n_keys,
        d,
        dv,
        causal,
        ..
    } = shape;
    config.check(ctx, d, dv)?;
    if (causal || shape.window.is_some()) && n_keys != n {
        return Err(GpuError::Device {
            stage: "recording the flash kernel".into(),
            message: format!(
                "causal or windowed attention needs as many keys as queries, not {n_keys} for {n}"
            ),
        });
    }
    for (what, buf, floats) in [
        ("Q", q, shape.len(d)),
        ("K", k, shape.key_len(d)),
        ("V", v, shape.key_len(dv)),
        ("O", o, shape.len(dv)),
        ("the row statistics", stats, 2 * heads * n),
    ] {
        if buf.size() < 4 * floats as u64 {
            return Err(GpuError::Device {
                stage: "recording the flash kernel".into(),
                message: format!(
                    "{what} holds {} bytes, the shape reaches {}",
                    buf.size(),
                    4 * floats
                ),
            });
        }
    }
    let blocks = n.div_ceil(config.block_rows() as usize) as u32;
    let params = Params {
        n: n as u32,
        n_keys: n_keys as u32,
        causal: causal as u32,
        blocks,
        scale_log2: std::f32::consts::LOG2_E / (d as f32).sqrt(),
        window: shape.band().map_or(u32::MAX, |w| w as u32),
        pad: [0; 2],
    };
    let uniform = buffers::uniform(ctx, "flash.params", &params);
    let named = [
        ("params", &uniform),
        ("q", q),
        ("k", k),
        ("v", v),
        ("o", o),
        ("stats", stats),
    ];
    let constants = config.constants(d, dv);
    let kernel = config.kernel();
    // SAFETY: every index of flash_attention.wgsl is in bounds by
    // construction for what is bound here: workgroup arrays are indexed
    // below the override lengths computed from the same constants
    // (`constants`), the private arrays below the sizes `config.check`
    // bounds RM, RN and RM·RD4 by, storage rows only for rows < n (keys
    // < n_keys) of heads < B·H with the row widths of the shape, and every
    // buffer was checked above to hold those rows; every loop runs
    // to a uniform or override bound; and the workgroup arrays are read
    // only where written (Q, K, V rows and P entries before the barrier
    // that follows them; the rows' padding vec4 is never read).
    let pipeline = unsafe { kernel.pipeline_unchecked(ctx, &constants).await? };
    let label = kernel.id();
    let group = scoped(ctx, &format!("binding {label}"), || {
        kernel.bind(ctx, &label, &named)
    })
    .await?;
    Pass::new(ctx, kernel, pipeline, group, (blocks, heads as u32))
}

/// The executed FLOPs and bytes of `config` on `shape` ([`work::flash`]).
pub fn executed(shape: FlashShape, config: FlashConfig) -> (Counted, Counted) {
    let (flops, bytes) = work::flash(&work_of(shape, config));
    (
        Counted::new(flops, work::FLASH_FLOPS_RULE),
        Counted::new(bytes, work::FLASH_BYTES_RULE),
    )
}

/// What [`work::flash`] counts for `shape` run with `config`.
fn work_of(shape: FlashShape, config: FlashConfig) -> work::FlashWork {
    work::FlashWork {
        heads: shape.heads as u64,
        n: shape.n as u64,
        n_keys: shape.n_keys as u64,
        d: shape.d as u64,
        dv: shape.dv as u64,
        causal: shape.causal,
        window: shape.band().map(|w| w as u64),
        block_rows: config.block_rows() as u64,
        block_keys: config.block_keys() as u64,
        thread_cols: config.thread_cols as u64,
        out_vec4s: config.out_vec4s(shape.dv) as u64,
        subgroups: config.subgroups,
    }
}

/// Score pairs the kernel evaluates (visited BR × BC tiles, padding and
/// masked pairs included), over all heads.
pub fn evaluated_pairs(shape: FlashShape, config: FlashConfig) -> u64 {
    let w = work_of(shape, config);
    let (br, bc) = (w.block_rows, w.block_keys);
    let tiles: u64 = (0..w.n.div_ceil(br))
        .map(|b| work::flash_key_tiles(&w, b * br).count() as u64)
        .sum();
    w.heads * tiles * br * bc
}

/// How a run's configuration was chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Chosen {
    /// Given by the caller (`GpuRunOptions::flash`).
    Forced,
    /// The fixed default, and why no tuned choice was used.
    Default(String),
    /// Tuned now (its timings).
    Tuned(Tuned),
    /// A tuned choice from the cache.
    Cached(Tuned, Source),
}

impl Chosen {
    /// A few words for the kernel variant.
    pub fn short(&self) -> &'static str {
        match self {
            Chosen::Forced => "forced",
            Chosen::Default(_) => "default",
            Chosen::Tuned(_) => "autotuned now",
            Chosen::Cached(_, Source::Memory) => "autotuned earlier in this run",
            Chosen::Cached(_, Source::File) => "autotuned, from the cache file",
        }
    }

    /// The note for the report.
    pub fn note(&self, key: &str) -> String {
        match self {
            Chosen::Forced => "flash configuration given by the caller".to_string(),
            Chosen::Default(why) => format!("flash configuration: the default ({why})"),
            Chosen::Tuned(t) => format!("flash autotune [{key}] {}", t.summary()),
            Chosen::Cached(t, _) => format!(
                "flash configuration from the autotune cache [{key}], tuned {}",
                t.summary()
            ),
        }
    }
}

/// The shape the autotuner times, (B·H, n): 16 heads of n = 4096 (about 70
/// GFLOP at d = 64, enough workgroups to fill a large GPU); on a CPU
/// adapter (tuned only when forced: the tests) one head of 128.
pub fn tune_shape(ctx: &GpuContext) -> (usize, usize) {
    if ctx.device_type == "Cpu" {
        (1, 128)
    } else {
        (16, 4096)
    }
}
/// Warm-up before each candidate's timed repeats (the first gets more,
/// to bring the clocks up).
const TUNE_WARMUP_MS: u32 = 100;
const TUNE_FIRST_WARMUP_MS: u32 = 500;
/// Timed repeats per candidate (their median counts).
const TUNE_REPEATS: u32 = 5;

/// Restores the context's warm-up when the tuner ends, however it ends.
struct WarmupGuard<'a> {
    ctx: &'a GpuContext,
    saved: u32,
}

impl Drop for WarmupGuard<'_> {
    fn drop(&mut self) {
        self.ctx.warmup_ms.set(self.saved);
    }
}

/// Seeded values in [−1, 1) for the tuner's inputs (a fixed LCG: the
/// tuner's inputs need no statistical quality, only to be the same every run).
fn tune_values(len: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The (head, row) pairs the tuner checks: first, middle and last rows of
/// the first and last heads.
fn checked_rows(shape: FlashShape) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for h in [0, shape.heads - 1] {
        for i in [0, shape.n / 2, shape.n - 1] {
            if !out.contains(&(h, i)) {
                out.push((h, i));
            }
        }
    }
    out
}

/// Row i of head h of exact attention in f64 (the definition, for the
/// tuner's check of each candidate).
fn reference_row(
    shape: FlashShape,
    (q, k, v): (&[f32], &[f32], &[f32]),
    h: usize,
    i: usize,
) -> Vec<f64> {
    let FlashShape {
        n, d, dv, causal, ..
    } = shape;
    let visible = if causal { i + 1 } else { n };
    let qi = &q[(h * n + i) * d..(h * n + i + 1) * d];
    let scale = 1.0 / (d as f64).sqrt();
    let logits: Vec<f64> = (0..visible)
        .map(|j| {
            let kj = &k[(h * n + j) * d..(h * n + j + 1) * d];
            qi.iter()
                .zip(kj)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum::<f64>()
                * scale
        })
        .collect();
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = logits.iter().map(|s| (s - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut out = vec![0.0; dv];
    for (j, w) in weights.iter().enumerate() {
        let vj = &v[(h * n + j) * dv..(h * n + j + 1) * dv];
        for (o, &x) in out.iter_mut().zip(vj) {
            *o += w * x as f64 / total;
        }
    }
    out
}

/// Times every candidate for widths (`bucket`, `bucket`) on `heads` heads
/// of `n` (GPU timestamps where the adapter has them), checks each on a few
/// rows against exact attention in f64 (|Δ| ≤ 1e-4·(1 + |x|): a candidate
/// that is wrong here is dropped, its time `None`), and returns the fastest.
pub async fn tune(
    ctx: &GpuContext,
    bucket: usize,
    causal: bool,
    (heads, n): (usize, usize),
) -> Result<Tuned, GpuError> {
    let shape = FlashShape::square(heads, n, bucket, bucket, causal);
    let list = candidates(ctx, bucket, bucket);
    let len = heads * n * bucket;
    let (q, k, v) = (
        tune_values(len, 1),
        tune_values(len, 2),
        tune_values(len, 3),
    );
    let bufs = FlashBuffers::upload(ctx, shape, (&q, &k, &v)).await?;
    let _guard = WarmupGuard {
        ctx,
        saved: ctx.warmup_ms.get(),
    };
    // Checked rows: the first, middle and last of the first and last heads,
    // against an f64 reference on the CPU (every candidate alike, so one
    // that is wrong on this adapter is dropped whatever its speed).
    let checked = checked_rows(shape);
    let exact: Vec<Vec<f64>> = checked
        .iter()
        .map(|&(h, i)| reference_row(shape, (&q, &k, &v), h, i))
        .collect();
    let mut timings = Vec::new();
    let mut best: Option<(FlashConfig, f64)> = None;
    for (i, &config) in list.iter().enumerate() {
        ctx.warmup_ms.set(if i == 0 {
            TUNE_FIRST_WARMUP_MS
        } else {
            TUNE_WARMUP_MS
        });
        let timed = match record(ctx, &bufs, config).await {
            Ok(program) => program.run(ctx, TUNE_REPEATS).await,
            Err(e) => Err(e),
        };
        let ms = match timed {
            Ok(t) => {
                let out = bufs.output(ctx).await?;
                let agrees = checked.iter().zip(&exact).all(|(&(h, i), want)| {
                    let row = &out[(h * n + i) * bucket..(h * n + i + 1) * bucket];
                    row.iter()
                        .zip(want)
                        .all(|(&a, &b)| (a as f64 - b).abs() <= 1e-4 * (1.0 + b.abs()))
                });
                agrees.then(|| crate::data::timing::median(&t.samples))
            }
            Err(GpuError::Device { .. } | GpuError::TooLarge { .. }) => None,
            Err(e) => return Err(e),
        };
        if let Some(ms) = ms
            && best.is_none_or(|(_, b)| ms < b)
        {
            best = Some((config, ms));
        }
        timings.push((config.name(), ms));
    }
    let Some((config, _)) = best else {
        return Err(GpuError::Device {
            stage: "autotuning the flash kernel".into(),
            message: format!("no candidate ran: {timings:?}"),
        });
    };
    Ok(Tuned {
        config,
        shape: format!(
            "B·H = {heads}, n = {n}, d = dᵥ = {bucket}{}",
            if causal { ", causal" } else { "" }
        ),
        timings,
    })
}

/// The configuration for `shape` on this adapter: the caller's, the
/// autotuner's (cached, or tuned now) when `options.autotune` applies, else
/// the default (the first candidate).
pub async fn choose(
    ctx: &GpuContext,
    shape: FlashShape,
    options: &GpuRunOptions,
) -> Result<(FlashConfig, Chosen), GpuError> {
    let (d, dv) = (shape.d, shape.dv);
    if let Some(config) = options.flash {
        config.check(ctx, d, dv)?;
        return Ok((config, Chosen::Forced));
    }
    let list = candidates(ctx, d, dv);
    let Some(&default) = list.first() else {
        // No candidate fits: the default tile shape's own check says why.
        let first = FlashConfig::new(tiles(d, dv)[0], false);
        return Err(first
            .check(ctx, d, dv)
            .err()
            .unwrap_or_else(|| GpuError::Device {
                stage: "choosing the flash kernel's configuration".into(),
                message: format!("no candidate fits d = {d}, dv = {dv}"),
            }));
    };
    if let Err(why) = options.autotune.applies(ctx) {
        return Ok((default, Chosen::Default(why.to_string())));
    }
    let Some(bucket) = autotune::bucket(d, dv) else {
        return Ok((default, Chosen::Default("no width bucket".into())));
    };
    let key = autotune::key(ctx, bucket, shape.causal);
    // A cached choice counts only if it is a candidate here and now (a
    // cache from another build or limits is tuned again).
    if let Some((tuned, source)) = autotune::lookup(&key) {
        if list.contains(&tuned.config) {
            return Ok((tuned.config, Chosen::Cached(tuned, source)));
        }
        autotune::forget(&key);
    }
    let tuned = tune(ctx, bucket as usize, shape.causal, tune_shape(ctx)).await?;
    let chosen = if list.contains(&tuned.config) {
        tuned.config
    } else {
        default
    };
    // An unwritable cache only costs a later run the tuning again.
    let _ = autotune::remember(&key, &tuned);
    Ok((chosen, Chosen::Tuned(tuned)))
}

/// The variant named in reports.
pub fn variant(config: FlashConfig, chosen: &Chosen) -> String {
    format!(
        "flash (FlashAttention-2 tiling): {} ({})",
        config.name(),
        chosen.short()
    )
}

/// What [`run_heads`] returns.
#[derive(Debug, Clone)]
pub struct FlashRun {
    /// The output, `[B·H·n, dᵥ]` row-major.
    pub output: Vec<f32>,
    /// The timed runs.
    pub timed: Timed,
    /// The configuration that ran and how it was chosen.
    pub config: FlashConfig,
    /// How it was chosen.
    pub chosen: Chosen,
    /// The variant for the report.
    pub variant: String,
    /// Remarks (the autotuner's timings).
    pub notes: Vec<String>,
    /// Device memory of the buffers.
    pub memory_bytes: u64,
    /// Executed FLOPs and bytes.
    pub executed: (Counted, Counted),
}

/// Exact attention over B·H heads: stacked `[B·H, n, d]` Q, K and
/// `[B·H, n, dᵥ]` V uploaded, the configuration chosen, the kernel run
/// (warm-up, `options.repeats` timed runs), the output read back.
pub async fn run_heads(
    ctx: &GpuContext,
    shape: FlashShape,
    qkv: (&[f32], &[f32], &[f32]),
    options: &GpuRunOptions,
) -> Result<FlashRun, GpuError> {
    let (config, chosen) = choose(ctx, shape, options).await?;
    let bufs = FlashBuffers::upload(ctx, shape, qkv).await?;
    let program = record(ctx, &bufs, config).await?;
    let memory_bytes = program.memory_bytes;
    let (_, timed) = options.run(ctx, program).await?;
    let key = autotune::bucket(shape.d, shape.dv)
        .map(|b| autotune::key(ctx, b, shape.causal))
        .unwrap_or_default();
    Ok(FlashRun {
        output: bufs.output(ctx).await?,
        timed,
        config,
        variant: variant(config, &chosen),
        notes: vec![chosen.note(&key)],
        chosen,
        memory_bytes,
        executed: executed(shape, config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_padded_to_four_columns() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(
            pad_rows(&x, 3).as_ref(),
            &[1.0, 2.0, 3.0, 0.0, 4.0, 5.0, 6.0, 0.0]
        );
        assert!(matches!(pad_rows(&x, 2), Cow::Owned(_)));
        assert!(matches!(pad_rows(&x[..4], 4), Cow::Borrowed(_)));
    }

    #[test]
    fn every_listed_tile_shape_fits_the_registers_and_48_kib() {
        for (tiles, width) in [(TILES_32, 32), (TILES_64, 64), (TILES_128, 128)] {
            for &t in tiles {
                for subgroups in [false, true] {
                    let c = FlashConfig::new(t, subgroups);
                    assert!(c.threads() <= 256, "{}", c.name());
                    assert!(c.thread_cols.is_multiple_of(4), "{}", c.name());
                    assert!(c.rows_per_thread * c.keys_per_thread <= MAX_SCORES_PER_THREAD);
                    assert!(
                        c.rows_per_thread * c.out_vec4s(width) <= MAX_OUTPUT_VEC4S_PER_THREAD,
                        "{}",
                        c.name()
                    );
                    let (pk, pv) = c.prefetch_vec4s(width, width);
                    assert!(pk.max(pv) <= MAX_PREFETCH_VEC4S, "{}", c.name());
                }
                // With subgroup reductions, in one layout or the other.
                let c = FlashConfig::new(t, true);
                let bytes = c.workgroup_bytes(width, width);
                let compact = c.compacted(true).workgroup_bytes(width, width);
                assert!(
                    bytes.min(compact) <= 48 << 10,
                    "{} at {width}: {bytes} bytes, {compact} compact",
                    c.name(),
                );
            }
        }
    }

    #[test]
    fn the_compact_layout_fits_64_by_64_tiles_in_48_kib() {
        // Q 64·16, K (and P over it) 64·16, V 64·16 vec4s: exactly 48 KiB,
        // where the padded layout needs 64·17 + 64·17 + 64·17 + 64·16.
        let c = FlashConfig::new((16, 16, 4, 4), true);
        assert_eq!(c.compacted(true).workgroup_bytes(64, 64), 48 << 10);
        assert_eq!(c.workgroup_bytes(64, 64), 16 * (3 * 64 * 17 + 64 * 16));
        // Each row's slot permutation stays inside the row: the mask + 1
        // divides the row's vec4s.
        for (len, mask) in [(16, 7), (8, 7), (32, 7), (10, 1), (12, 3), (9, 0), (1, 0)] {
            assert_eq!(swizzle_mask(len), mask, "rows of {len} vec4s");
        }
    }

    #[test]
    fn workgroup_memory_formula() {
        // 64×32 tiles at d = 64: Q 64·17, K 32·17, V 32·16, P 64·9 vec4s.
        let c = FlashConfig::new((16, 8, 4, 4), true);
        assert_eq!(c.workgroup_bytes(64, 64), 16 * (1088 + 544 + 512 + 576));
        let shared = FlashConfig::new((16, 8, 4, 4), false);
        assert_eq!(
            shared.workgroup_bytes(64, 64),
            c.workgroup_bytes(64, 64) + 4 * 512
        );
        assert_eq!(c.out_vec4s(64), 2);
        assert_eq!(c.out_vec4s(1), 1);
    }

    #[test]
    fn tune_values_are_seeded_and_in_range() {
        let a = tune_values(1000, 1);
        assert_eq!(a, tune_values(1000, 1));
        assert_ne!(a, tune_values(1000, 2));
        assert!(a.iter().all(|x| (-1.0..1.0).contains(x)));
        let mean = a.iter().sum::<f32>() / 1000.0;
        assert!(mean.abs() < 0.1, "{mean}");
    }
}

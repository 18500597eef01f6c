//! Host side of `memory_attention.wgsl`: the Compressive Transformer's
//! compressed memory (Rae et al. 2020, §3.1, f_c: R^{S×d} → R^{⌊S/c⌋×d})
//! computed on the GPU, then attended to by the tiled kernel.
//!
//! Where the slots live: the key and value buffers hold the n position rows,
//! padding to a whole 32-key tile (`slot_base`), then one row per
//! compressed slot. f_c fills the slot rows from the evicted position rows
//! of the same buffer (`compress_pool`, `compress_conv`, or, for
//! most-attended, `usage` → `select_keep` → `select_slots` →
//! `compress_gather` after a local attention pass that leaves each row's
//! statistics); the tiled kernel (`PATTERN_MEMORY`) then visits only the key
//! tiles of each query's segment, memory and visible slots. One program, all
//! of it timed: a forward pass computes its compressed memory.
//!
//! Heads: B·H heads run in the same passes, each pass one dispatch over
//! the heads (z); each head compresses its own memory (its own slot rows
//! after its own positions; most-attended ranks its own usage), and the
//! tiled kernel reads head h's key rows at h × key rows.
//!
//! Shape: [`run`] checks the limits, uploads, prepares the tiled problems
//! (whose tables know the slot rows), records f_c's passes before them, runs
//! and reads back.

use bytemuck::{Pod, Zeroable};

use super::bindings::{Binding, Kernel, Module};
use super::buffers::{self, Qkv, check_storage, scoped};
use super::program::{Pass, Program};
use super::tiled_attention::{
    Layout, Stacked, Stacking, TileMask, Tiled, TiledShape, TiledVariant, grid,
};
use super::work::{self, Work};
use super::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::data::codes::{CompressKind, KernelKind};
use crate::data::count::Counted;

const MODULE: Module = Module {
    name: "memory_attention",
    source: || include_wgsl!("memory_attention.wgsl"),
    text: wgsl!("memory_attention.wgsl"),
};

const PARAMS: Binding = Binding::uniform("params", 0);
const Q: Binding = Binding::read("q", 1);
const K: Binding = Binding::read("k", 2);
const STATS: Binding = Binding::read("stats", 3);
const USAGE_OF: Binding = Binding::write("usage_of", 4);
const KEEP: Binding = Binding::write("keep", 5);
const SLOT_OF: Binding = Binding::write("slot_of", 6);
const SLOT_SRC: Binding = Binding::write("slot_src", 7);
const ROWS: Binding = Binding::write("rows", 8);
const WEIGHTS: Binding = Binding::read("weights", 9);

/// Mean or max pooling of each group of c rows into its slot row.
pub const COMPRESS_POOL: Kernel = Kernel {
    module: MODULE,
    entry: "compress_pool",
    bindings: &[PARAMS, ROWS],
};
/// The 1-D convolution, kernel and stride c.
pub const COMPRESS_CONV: Kernel = Kernel {
    module: MODULE,
    entry: "compress_conv",
    bindings: &[PARAMS, ROWS, WEIGHTS],
};
/// Most-attended: the kept positions' rows copied into the slot rows.
pub const COMPRESS_GATHER: Kernel = Kernel {
    module: MODULE,
    entry: "compress_gather",
    bindings: &[PARAMS, SLOT_SRC, ROWS],
};
/// Most-attended: each evicted position's usage.
pub const USAGE: Kernel = Kernel {
    module: MODULE,
    entry: "usage",
    bindings: &[PARAMS, Q, K, STATS, USAGE_OF],
};
/// Most-attended: which positions of each batch are kept.
pub const SELECT_KEEP: Kernel = Kernel {
    module: MODULE,
    entry: "select_keep",
    bindings: &[PARAMS, USAGE_OF, KEEP],
};
/// Most-attended: the slot of each kept position, and its source.
pub const SELECT_SLOTS: Kernel = Kernel {
    module: MODULE,
    entry: "select_slots",
    bindings: &[PARAMS, KEEP, SLOT_OF, SLOT_SRC],
};

/// Every kernel of this family.
pub const KERNELS: &[Kernel] = &[
    COMPRESS_POOL,
    COMPRESS_CONV,
    COMPRESS_GATHER,
    USAGE,
    SELECT_KEEP,
    SELECT_SLOTS,
];

/// Threads per workgroup of the one-thread-per-element entry points.
const WG: u32 = 64;

/// Keys per workgroup of `usage` (and query rows per chunk).
pub const USAGE_KEYS: usize = 32;

/// The layout of segments, memory and slots as the kernels read it
/// (`attention::memory::MemoryLayout` gives it; the formulas are the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryGeometry {
    /// Positions.
    pub n: u32,
    /// Segment S.
    pub segment: u32,
    /// Memory M.
    pub memory: u32,
    /// Compression rate c.
    pub rate: u32,
    /// Compressed-memory slots M_c.
    pub compressed: u32,
    /// Slot rows made over the sequence.
    pub slots: u32,
    /// Row of slot 0.
    pub slot_base: u32,
    /// b_{T−1}: positions evicted before the last segment.
    pub evicted: u32,
}

impl MemoryGeometry {
    /// b_s = c·⌊max(0, sS − M)/c⌋.
    pub fn boundary(&self, s: u64) -> u64 {
        let evicted = (s * self.segment as u64).saturating_sub(self.memory as u64);
        evicted / self.rate as u64 * self.rate as u64
    }

    /// The first segment whose memory no longer holds j.
    pub fn evicted_at(&self, j: u64) -> u64 {
        let (c, s) = (self.rate as u64, self.segment as u64);
        (c * (j / c + 1) + self.memory as u64)
            .div_ceil(s)
            .max(j / s + 1)
    }

    /// Queries that see j uncompressed.
    pub fn watchers(&self, j: u64) -> u64 {
        (self.evicted_at(j) * self.segment as u64).min(self.n as u64) - j
    }

    /// j's eviction batch: its first position and its length.
    pub fn batch(&self, j: u64) -> (u64, u64) {
        let t = self.evicted_at(j);
        let lo = self.boundary(t - 1);
        (lo, self.boundary(t) - lo)
    }

    /// Key rows: positions, padding, slots.
    pub fn key_rows(&self) -> usize {
        if self.slots > 0 {
            (self.slot_base + self.slots) as usize
        } else {
            self.n as usize
        }
    }
}

/// What one Compressive Transformer run computes on the GPU.
pub struct MemoryPlan<'a> {
    /// The layout.
    pub geometry: MemoryGeometry,
    /// f_c.
    pub kind: CompressKind,
    /// The final attention's mask: segment, memory and slots.
    pub mask: &'a dyn TileMask,
    /// Most-attended's local attention: segment and memory only.
    pub local: &'a dyn TileMask,
    /// The convolution's weights for keys (c × d × d) and values (c × dᵥ × dᵥ).
    pub conv: (&'a [f32], &'a [f32]),
}

/// The uniform block of `memory_attention.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    n: u32,
    d: u32,
    width: u32,
    segment: u32,
    memory: u32,
    rate: u32,
    slots: u32,
    slot_base: u32,
    evicted: u32,
    kind: u32,
    grid_x: u32,
    scale: f32,
    key_rows: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

/// A 2-D grid of 64-thread workgroups covering `threads` within the
/// adapter's limits: (groups in x, groups in y, threads per grid row).
fn thread_grid(ctx: &GpuContext, what: &str, threads: usize) -> Result<(u32, u32, u32), GpuError> {
    let (x, y) = grid(ctx, what, threads.div_ceil(WG as usize) as u64)?;
    Ok((x, y, x * WG))
}

/// What f_c's passes execute before the attention: pooling or convolution
/// of both buffers, or most-attended's usage, ranking, slots and gather
/// (the local attention pass is the caller's to count).
pub fn work_before_attend(kind: CompressKind, g: &MemoryGeometry, d: u64, dv: u64) -> Work {
    let mut w = Work::default();
    let (slots, c) = (g.slots as u64, g.rate as u64);
    if kind == CompressKind::MostAttended {
        w.extend(work::memory_selection(g, d));
    }
    for (which, width) in [("K", d), ("V", dv)] {
        w.add(
            format!("compress {which} ({}, {slots} slots)", kind_name(kind)),
            work::memory_compress(kind, slots, c, width),
        );
    }
    w
}

/// A buffer's contents, one zero when empty (pooling has no weights, and
/// wgpu binds no empty buffer).
fn at_least_one(x: &[f32]) -> &[f32] {
    if x.is_empty() { &[0.0] } else { x }
}

fn kind_name(kind: CompressKind) -> &'static str {
    kind.key()
}

/// Each head's n rows of width `width` followed by zero rows up to `rows`
/// (room for its slots), head after head.
fn with_slot_rows(x: &[f32], heads: usize, n: usize, width: usize, rows: usize) -> Vec<f32> {
    let mut all = vec![0f32; heads * rows * width];
    for h in 0..heads {
        all[h * rows * width..(h * rows + n) * width]
            .copy_from_slice(&x[h * n * width..(h + 1) * n * width]);
    }
    all
}

/// Runs the Compressive Transformer on the GPU: Q, K and V uploaded with
/// room for the slot rows, f_c's passes and the tiled attention recorded
/// into one timed program, run, read back. With several heads (`stacked`
/// holds B·H heads of n rows each), every pass is one dispatch over them
/// and the output is `[B·H·n, dᵥ]`.
pub async fn run(
    ctx: &GpuContext,
    stacked: Stacked<'_>,
    plan: &MemoryPlan<'_>,
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    let g = plan.geometry;
    let (n, d, dv) = stacked.shape;
    let heads = stacked.heads.max(1);
    let rows = g.key_rows();
    for (what, elements) in [
        ("the keys with their compressed slots", heads * rows * d),
        ("the values with their compressed slots", heads * rows * dv),
        ("the key convolution weights", plan.conv.0.len()),
        ("the value convolution weights", plan.conv.1.len()),
        ("most-attended's usage", heads * g.evicted as usize),
    ] {
        check_storage(ctx, what, elements as u64 * 4)?;
        if elements > u32::MAX as usize {
            return Err(GpuError::TooLarge {
                what: what.into(),
                needs: elements as u64,
                unit: "elements",
                limit_name: "u32 indexing in the kernels",
                limit: u32::MAX as u64,
            });
        }
    }
    let k_rows = with_slot_rows(&stacked.k, heads, n, d, rows);
    let v_rows = with_slot_rows(&stacked.v, heads, n, dv, rows);
    let qkv = scoped(ctx, "uploading Q and the key and value rows", || {
        Ok(Qkv {
            q: buffers::upload(ctx, "memory.q", &stacked.q)?,
            k: buffers::upload(ctx, "memory.k", &k_rows)?,
            v: buffers::upload(ctx, "memory.v", &v_rows)?,
            shape: (n, d, dv),
        })
    })
    .await?;
    let stacking = Stacking {
        heads,
        q_stride: n * d,
        k_stride: rows * d,
        v_stride: rows * dv,
        // Most-attended's slots differ per head (its own usage).
        aux_per_head: plan.kind == CompressKind::MostAttended,
    };
    let shape = TiledShape {
        n,
        d,
        dv,
        causal: false,
        scale: 1.0 / (d as f32).sqrt(),
    };
    let mut program = Program::new("compressive memory");
    program.memory_bytes = (4 * heads * (n * d + rows * (d + dv))) as u64;
    let mut local_tiled = None;
    if plan.kind == CompressKind::MostAttended {
        let local = Stacking {
            aux_per_head: false,
            ..stacking
        };
        let mut local =
            Tiled::prepare_stacked(ctx, Layout::Masked(plan.local), shape, local, &qkv).await?;
        program.extend(std::mem::replace(&mut local.program, Program::new("")).without_views());
        local_tiled = Some(local);
    }
    let mut tiled =
        Tiled::prepare_stacked(ctx, Layout::Masked(plan.mask), shape, stacking, &qkv).await?;
    let uniform = |width: usize| Params {
        n: g.n,
        d: d as u32,
        width: width as u32,
        segment: g.segment,
        memory: g.memory,
        rate: g.rate,
        slots: g.slots,
        slot_base: g.slot_base,
        evicted: g.evicted,
        kind: plan.kind as u32,
        grid_x: 0,
        scale: shape.scale,
        key_rows: rows as u32,
        pad0: 0,
        pad1: 0,
        pad2: 0,
    };
    let with_grid = |p: Params, threads: usize| -> Result<_, GpuError> {
        let (x, y, per_row) = thread_grid(ctx, "the compressed memory's passes", threads)?;
        Ok((
            Params {
                grid_x: per_row,
                ..p
            },
            (x, y),
        ))
    };
    let (keep, slot_src, usage_buf, weights) =
        scoped(ctx, "allocating the compressed memory", || {
            Ok((
                buffers::storage(ctx, "memory.keep", heads * g.evicted as usize)?,
                buffers::storage(ctx, "memory.slot_src", heads * g.slots as usize)?,
                buffers::storage(ctx, "memory.usage", heads * g.evicted as usize)?,
                (
                    buffers::upload(ctx, "memory.conv_k", at_least_one(plan.conv.0))?,
                    buffers::upload(ctx, "memory.conv_v", at_least_one(plan.conv.1))?,
                ),
            ))
        })
        .await?;
    program.memory_bytes += (4 * heads * (2 * g.evicted + g.slots) as usize
        + 4 * (plan.conv.0.len() + plan.conv.1.len())) as u64;
    let layers = heads as u32;
    if let Some(local) = &local_tiled {
        let (p, groups) = with_grid(uniform(d), g.evicted as usize)?;
        let params = buffers::uniform(ctx, "memory.params", &p);
        let tiles = (g.evicted as usize).div_ceil(USAGE_KEYS);
        let usage_groups = grid(ctx, "usage", tiles as u64)?;
        let named = [
            ("params", &params),
            ("q", &qkv.q),
            ("k", &qkv.k),
            ("stats", local.stats()),
            ("usage_of", &usage_buf),
            ("keep", &keep),
            ("slot_of", tiled.aux()),
            ("slot_src", &slot_src),
        ];
        let usage = Pass::build(ctx, &USAGE, &[], &named, usage_groups).await?;
        program.time(usage.layers(ctx, layers)?);
        let keep = Pass::build(ctx, &SELECT_KEEP, &[], &named, groups).await?;
        program.time(keep.layers(ctx, layers)?);
        let (p, groups) = with_grid(uniform(d), n)?;
        let params = buffers::uniform(ctx, "memory.params", &p);
        let mut named = named;
        named[0] = ("params", &params);
        let slots = Pass::build(ctx, &SELECT_SLOTS, &[], &named, groups).await?;
        program.time(slots.layers(ctx, layers)?);
    }
    for (buffer, width, w) in [(&qkv.k, d, &weights.0), (&qkv.v, dv, &weights.1)] {
        let (p, groups) = with_grid(uniform(width), g.slots as usize * width)?;
        let params = buffers::uniform(ctx, "memory.params", &p);
        let named = [
            ("params", &params),
            ("rows", buffer),
            ("weights", w),
            ("slot_src", &slot_src),
        ];
        let kernel = match plan.kind {
            CompressKind::Mean | CompressKind::Max => &COMPRESS_POOL,
            CompressKind::Conv => &COMPRESS_CONV,
            CompressKind::MostAttended => &COMPRESS_GATHER,
        };
        let pass = Pass::build(ctx, kernel, &[], &named, groups).await?;
        program.time(pass.layers(ctx, layers)?);
    }
    let variant = tiled.variant;
    let mut tile_pairs = tiled.tile_pairs;
    let wide = tiled.executed.clone();
    program.extend(std::mem::replace(&mut tiled.program, Program::new("")));
    let memory = program.memory_bytes;
    let (_, timed) = options.run(ctx, program).await?;
    let mut out = GpuOutput::new(
        KernelKind::Tiled,
        format!(
            "compressed memory ({}, {} slot rows after the positions), then {}",
            kind_name(plan.kind),
            g.slots,
            variant.name()
        ),
        tiled.output(ctx).await?,
        timed,
        memory,
    );
    out.artifacts = tiled.artifacts(ctx).await?;
    if let Some(local) = &local_tiled {
        tile_pairs += local.tile_pairs;
    }
    out.tile_pairs = Some(tile_pairs);
    if variant == TiledVariant::Wide {
        // The method's cost describes the register-tiled kernel: count what
        // ran (the tiled kernels' own counts already cover every head).
        let heads_u = heads as u64;
        let mut w = work_before_attend(plan.kind, &g, d as u64, dv as u64);
        w.flops *= heads_u;
        w.bytes *= heads_u;
        if let Some((f, b)) = local_tiled.as_ref().and_then(|t| t.executed.clone()) {
            w.add("local attend_wide", (f.value, b.value));
        }
        if let Some((f, b)) = wide {
            w.add("attend_wide", (f.value, b.value));
        }
        let (flops, bytes) = w.counted(work::ATTEND_WIDE_FLOPS_RULE, work::ATTEND_WIDE_BYTES_RULE);
        let heads_note = |c: Counted| match heads {
            1 => c,
            _ => Counted::new(c.value, format!("{heads} heads: {}", c.formula)),
        };
        out.executed = Some((heads_note(flops), heads_note(bytes)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_cover_every_workgroup_within_the_limits() {
        use super::super::tiled_attention::split_grid;
        for limit in [4u64, 65535] {
            for groups in [1u64, 3, 4, 5, 16, 17, 65_536, 16384 * 256 + 1] {
                match split_grid(groups, limit) {
                    Some((x, y)) => {
                        assert!(x as u64 <= limit && y as u64 <= limit, "{groups}/{limit}");
                        assert!(x as u64 * y as u64 >= groups);
                        assert!((x as u64 * (y as u64 - 1)) < groups, "no idle row");
                    }
                    None => assert!(groups > limit * limit, "{groups}/{limit}"),
                }
            }
        }
        assert_eq!(split_grid(0, 10), Some((1, 1)));
    }

    #[test]
    fn geometry_matches_its_definition() {
        let g = MemoryGeometry {
            n: 40,
            segment: 8,
            memory: 5,
            rate: 2,
            compressed: 3,
            slots: 13,
            slot_base: 64,
            evicted: 26,
        };
        assert_eq!(
            (0..5).map(|s| g.boundary(s)).collect::<Vec<_>>(),
            [0, 2, 10, 18, 26]
        );
        assert_eq!(g.batch(11), (10, 8));
        assert_eq!(g.watchers(11), 24 - 11);
        assert_eq!(g.key_rows(), 77);
    }
}

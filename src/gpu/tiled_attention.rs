//! Host side of `tiled_attention.wgsl` (and `lsh.wgsl`): the register-tiled,
//! block-sparse fused attention kernel that every softmax method shares.
//!
//! A method describes what it computes as a [`Layout`]: a [`TileMask`] — any
//! pattern that can list the key tiles each query tile visits and encode its
//! element mask for the kernel (exact attention is [`Dense`]) — or
//! Reformer's LSH buckets ([`LshSpec`]), whose sorted orders the GPU computes
//! itself with `lsh_hash` and `lsh_sort`. From it the host builds the tile
//! list ([`TileList`]: skipped tiles cost nothing) and the auxiliary tables;
//! the kernel runs the online softmax over the visited tiles only;
//! `pool_weights` and `pool_pattern` pool the attention weights and the
//! pattern for the views without storing n² values.
//!
//! Heads: B·H heads ([`Stacking`]) run in the same passes, each pass one
//! dispatch whose z index is the head; the heads share the tile list (and
//! the mask's table when the pattern does not depend on the inputs), while
//! Reformer hashes and sorts each head's own queries and keys. x and y of
//! every dispatch form a 2-D grid ([`grid`]) so that n far past 16K stays
//! within `max_compute_workgroups_per_dimension`.
//!
//! Reformer's sort is a multi-workgroup stable radix sort by (bucket,
//! position): per block of 256 positions a histogram, per bucket a scan over
//! the blocks, then a scatter (`lsh.wgsl`).
//!
//! Shape: [`Tiled::prepare`] / [`Tiled::prepare_stacked`] (tables, buffers,
//! pipelines, bind groups) → its [`Program`] (timed: hash, count, scan,
//! scatter, attend and merge per round, combine; views: the two pools) →
//! [`Tiled::output`], [`Tiled::artifacts`].

use std::borrow::Cow;

use bytemuck::{Pod, Zeroable};
use ndarray::Array2;

use super::bindings::{Binding, Kernel, Module};
use super::buffers::{self, Qkv, check_storage, scoped};
use super::program::{Pass, Program};
use super::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::data::artifacts::{Artifact, Artifacts};
use crate::data::codes::{KernelKind, PatternKind};
use crate::data::maps::{AttentionMap, LshView, PatternMap};
use crate::data::tiles::TileList;
use crate::inputs::Heads;

const MODULE: Module = Module {
    name: "tiled_attention",
    source: || include_wgsl!("tiled_attention.wgsl"),
    text: wgsl!("tiled_attention.wgsl"),
};
const LSH_MODULE: Module = Module {
    name: "lsh",
    source: || include_wgsl!("lsh.wgsl"),
    text: wgsl!("lsh.wgsl"),
};

const PARAMS: Binding = Binding::uniform("params", 0);
const Q: Binding = Binding::read("q", 1);
const K: Binding = Binding::read("k", 2);
const V: Binding = Binding::read("v", 3);
const O: Binding = Binding::write("o", 4);
const STATS: Binding = Binding::write("stats", 5);
const TILES: Binding = Binding::read("tiles", 6);
const AUX: Binding = Binding::read("aux", 7);
const MAP: Binding = Binding::write("map", 8);

/// The online softmax over one round's visited tiles.
pub const ATTEND: Kernel = Kernel {
    module: MODULE,
    entry: "attend",
    bindings: &[PARAMS, Q, K, V, O, STATS, TILES, AUX],
};
/// The wide fallback: one workgroup per (work item, query row), for widths
/// the register-tiled kernel cannot hold (up to 256) on any adapter.
pub const ATTEND_WIDE: Kernel = Kernel {
    module: MODULE,
    entry: "attend_wide",
    bindings: &[PARAMS, Q, K, V, O, STATS, TILES, AUX],
};
/// Combines the partial results of split query tiles.
pub const MERGE: Kernel = Kernel {
    module: MODULE,
    entry: "merge_splits",
    bindings: &[PARAMS, O, STATS, TILES, AUX],
};
/// Reformer: the union of rounds by their normalisers.
pub const COMBINE: Kernel = Kernel {
    module: MODULE,
    entry: "combine_rounds",
    bindings: &[PARAMS, O, STATS],
};
/// Pools the attention weights from the row statistics.
pub const POOL_WEIGHTS: Kernel = Kernel {
    module: MODULE,
    entry: "pool_weights",
    bindings: &[PARAMS, Q, K, STATS, AUX, MAP],
};
/// Pools the pattern's categories.
pub const POOL_PATTERN: Kernel = Kernel {
    module: MODULE,
    entry: "pool_pattern",
    bindings: &[PARAMS, AUX, MAP],
};
/// Reformer: the bucket of every query and key, every round.
pub const LSH_HASH: Kernel = Kernel {
    module: LSH_MODULE,
    entry: "lsh_hash",
    bindings: &[
        Binding::uniform("params", 0),
        Binding::read("q", 1),
        Binding::read("k", 2),
        Binding::read("planes", 3),
        Binding::write("buckets", 4),
    ],
};
/// Reformer's radix sort, 1: each block's histogram of buckets.
pub const LSH_COUNT: Kernel = Kernel {
    module: LSH_MODULE,
    entry: "lsh_count",
    bindings: &[
        Binding::uniform("params", 0),
        Binding::write("buckets", 4),
        Binding::write("counts", 6),
    ],
};
/// Reformer's radix sort, 2: per bucket, the scan of its counts over blocks.
pub const LSH_SCAN: Kernel = Kernel {
    module: LSH_MODULE,
    entry: "lsh_scan",
    bindings: &[
        Binding::uniform("params", 0),
        Binding::write("counts", 6),
        Binding::write("totals", 7),
    ],
};
/// Reformer's radix sort, 3: every position to its sorted place.
pub const LSH_SCATTER: Kernel = Kernel {
    module: LSH_MODULE,
    entry: "lsh_scatter",
    bindings: &[
        Binding::uniform("params", 0),
        Binding::write("buckets", 4),
        Binding::write("aux", 5),
        Binding::write("counts", 6),
        Binding::write("totals", 7),
    ],
};

/// Every kernel of this family (for the tests that check them against the
/// shaders).
pub const KERNELS: &[Kernel] = &[
    ATTEND,
    ATTEND_WIDE,
    MERGE,
    COMBINE,
    POOL_WEIGHTS,
    POOL_PATTERN,
    LSH_HASH,
    LSH_COUNT,
    LSH_SCAN,
    LSH_SCATTER,
];

/// Positions per block of Reformer's radix sort (`BLOCK` in `lsh.wgsl`).
pub const SORT_BLOCK: usize = 256;

/// Most buckets the radix sort takes in its one 8-bit digit.
pub const MAX_BUCKETS: u32 = 256;

/// A 2-D grid of `groups` workgroups within the adapter's
/// `max_compute_workgroups_per_dimension` (the shaders flatten it as
/// y·width + x and skip the surplus), or [`GpuError::TooLarge`].
pub fn grid(ctx: &GpuContext, what: &str, groups: u64) -> Result<(u32, u32), GpuError> {
    let limit = ctx.limits.max_compute_workgroups_per_dimension.max(1) as u64;
    split_grid(groups, limit).ok_or_else(|| GpuError::TooLarge {
        what: what.into(),
        needs: groups,
        unit: "workgroups",
        limit_name: "max_compute_workgroups_per_dimension squared (a 2-D grid)",
        limit: limit * limit,
    })
}

/// (x, y) with x, y ≤ `limit` and x·y ≥ `groups` (at least one), x as
/// large as it may be; `None` when even limit² is too few.
pub fn split_grid(groups: u64, limit: u64) -> Option<(u32, u32)> {
    let limit = limit.clamp(1, u32::MAX as u64);
    let groups = groups.max(1);
    let x = groups.min(limit);
    let y = groups.div_ceil(x);
    (y <= limit).then_some((x as u32, y as u32))
}

/// How B·H heads lie in the stacked Q, K, V buffers: element strides per
/// head (0: one matrix shared by every head) and whether each head has its
/// own copy of the mask's table (Reformer always does: its sorted orders).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stacking {
    /// B·H.
    pub heads: usize,
    /// Elements of Q per head.
    pub q_stride: usize,
    /// Elements of K per head.
    pub k_stride: usize,
    /// Elements of V per head.
    pub v_stride: usize,
    /// Each head its own aux table (filled on the GPU: most-attended slots).
    pub aux_per_head: bool,
}

impl Stacking {
    /// One head.
    pub fn single() -> Stacking {
        Stacking {
            heads: 1,
            q_stride: 0,
            k_stride: 0,
            v_stride: 0,
            aux_per_head: false,
        }
    }

    /// `heads` heads of n queries and `keys` key rows, each its own.
    pub fn contiguous(
        heads: usize,
        (n, keys): (usize, usize),
        (d, dv): (usize, usize),
    ) -> Stacking {
        Stacking {
            heads,
            q_stride: n * d,
            k_stride: keys * d,
            v_stride: keys * dv,
            aux_per_head: false,
        }
    }
}

/// Q, K, V of B·H heads on the host, stacked `[B·H, rows, width]`
/// row-major (K and V may hold more rows than n: compressed slots).
pub struct Stacked<'a> {
    /// Queries, heads × n × d.
    pub q: Cow<'a, [f32]>,
    /// Keys, heads × key rows × d.
    pub k: Cow<'a, [f32]>,
    /// Values, heads × key rows × dᵥ.
    pub v: Cow<'a, [f32]>,
    /// B·H.
    pub heads: usize,
    /// n, d, dᵥ of one head.
    pub shape: (usize, usize, usize),
}

impl<'a> Stacked<'a> {
    /// One head's Q, K, V (borrowed when contiguous).
    pub fn single(q: &'a Array2<f32>, k: &'a Array2<f32>, v: &'a Array2<f32>) -> Stacked<'a> {
        Stacked {
            q: buffers::row_major(q),
            k: buffers::row_major(k),
            v: buffers::row_major(v),
            heads: 1,
            shape: (q.nrows(), q.ncols(), v.ncols()),
        }
    }

    /// Every head's Q, K, V; `keys` gives a head's keys (K itself, or
    /// Reformer's normalised queries).
    pub fn of_heads(
        heads: &Heads,
        keys: impl Fn(&crate::inputs::Inputs) -> Cow<'_, Array2<f32>>,
    ) -> Stacked<'static> {
        let mut k = Vec::with_capacity(heads.count() * heads.n() * heads.d());
        for x in &heads.items {
            k.extend(keys(x).iter().copied());
        }
        Stacked {
            q: Cow::Owned(heads.stacked_q()),
            k: Cow::Owned(k),
            v: Cow::Owned(heads.stacked_v()),
            heads: heads.count(),
            shape: (heads.n(), heads.d(), heads.dv()),
        }
    }

    /// Key rows per head.
    pub fn key_rows(&self) -> usize {
        let (_, d, _) = self.shape;
        self.k.len() / (self.heads * d).max(1)
    }

    /// How they lie in the buffers.
    pub fn stacking(&self) -> Stacking {
        let (n, d, dv) = self.shape;
        Stacking::contiguous(self.heads, (n, self.key_rows()), (d, dv))
    }

    /// Bytes the three occupy.
    pub fn bytes(&self) -> u64 {
        ((self.q.len() + self.k.len() + self.v.len()) * 4) as u64
    }

    /// Uploads them (each checked against the limits before allocating).
    pub async fn upload(&self, ctx: &GpuContext) -> Result<Qkv, GpuError> {
        for (what, len) in [
            ("the stacked queries", self.q.len()),
            ("the stacked keys", self.k.len()),
            ("the stacked values", self.v.len()),
        ] {
            check_storage(ctx, what, len as u64 * 4)?;
            check_indexable(what, len as u64)?;
        }
        scoped(ctx, "uploading Q, K, V", || {
            Ok(Qkv {
                q: buffers::upload(ctx, "inputs.q", &self.q)?,
                k: buffers::upload(ctx, "inputs.k", &self.k)?,
                v: buffers::upload(ctx, "inputs.v", &self.v)?,
                shape: self.shape,
            })
        })
        .await
    }
}

/// The kernels index their buffers with u32: at most 2³² − 1 elements.
fn check_indexable(what: &str, elements: u64) -> Result<(), GpuError> {
    if elements > u32::MAX as u64 {
        return Err(GpuError::TooLarge {
            what: what.into(),
            needs: elements,
            unit: "elements",
            limit_name: "u32 indexing in the kernels",
            limit: u32::MAX as u64,
        });
    }
    Ok(())
}

/// Query rows per workgroup and keys per tile (`TQ`, `TK` in the shader).
pub const TILE: usize = 32;

/// The register-tiled kernel's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TiledTiles;

impl TiledTiles {
    /// Widest d or dᵥ (four vec4 output columns per thread).
    pub const MAX_WIDTH: u32 = 128;

    /// Workgroup memory: 32 Q rows and one 32-key K-or-V tile as padded vec4
    /// rows, the padded probability tile (32 × 33) and the partial maxima
    /// and sums (2 × 32 × 8).
    pub fn workgroup_bytes(d: u32, dv: u32) -> u32 {
        let (d4, dv4) = (d.div_ceil(4), dv.div_ceil(4));
        let t = TILE as u32;
        16 * (t * (d4 + 1) + t * (d4.max(dv4) + 1)) + 4 * (t * (t + 1) + 2 * t * 8)
    }

    /// Whether the tiled kernel can run these widths within this much
    /// workgroup memory.
    pub fn fits(d: u32, dv: u32, max_workgroup_bytes: u32) -> bool {
        d <= Self::MAX_WIDTH
            && dv <= Self::MAX_WIDTH
            && Self::workgroup_bytes(d, dv) <= max_workgroup_bytes
    }

    /// Widest d or dᵥ of the wide fallback (one output row in workgroup
    /// memory).
    pub const WIDE_MAX_WIDTH: u32 = 256;

    /// The kernel for these widths on this adapter: the register-tiled one
    /// where its tiles fit, else the wide fallback (any adapter, up to 256).
    pub fn choose(ctx: &GpuContext, d: u32, dv: u32) -> Result<TiledVariant, GpuError> {
        if Self::fits(d, dv, ctx.limits.max_compute_workgroup_storage_size) {
            Ok(TiledVariant::Register)
        } else if d <= Self::WIDE_MAX_WIDTH && dv <= Self::WIDE_MAX_WIDTH {
            Ok(TiledVariant::Wide)
        } else {
            Err(Self::unfit(ctx, d, dv))
        }
    }

    /// The error when it cannot run here.
    pub fn unfit(ctx: &GpuContext, d: u32, dv: u32) -> GpuError {
        if d > Self::WIDE_MAX_WIDTH || dv > Self::WIDE_MAX_WIDTH {
            GpuError::TooLarge {
                what: format!("the tiled attention kernel at d = {d}, dv = {dv}"),
                needs: d.max(dv) as u64,
                unit: "columns",
                limit_name: "the kernel's widest d, dv",
                limit: Self::WIDE_MAX_WIDTH as u64,
            }
        } else {
            GpuError::TooLarge {
                what: format!("the tiled attention kernel at d = {d}, dv = {dv}"),
                needs: Self::workgroup_bytes(d, dv) as u64,
                unit: "bytes of workgroup memory",
                limit_name: "max_compute_workgroup_storage_size",
                limit: ctx.limits.max_compute_workgroup_storage_size as u64,
            }
        }
    }
}

/// Which attention kernel a tiled problem runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TiledVariant {
    /// `attend`: 32 × 32 register tiles staged in workgroup memory.
    Register,
    /// `attend_wide`: one workgroup per query row, little workgroup memory.
    Wide,
}

impl TiledVariant {
    /// How the report names it.
    pub fn name(self) -> String {
        match self {
            TiledVariant::Register => {
                format!("block-sparse register-tiled, {TILE} query rows × {TILE} keys per tile")
            }
            TiledVariant::Wide => format!(
                "block-sparse wide fallback (one workgroup per query row, {TILE}-key tiles): \
                 the register-tiled kernel's tiles do not fit this adapter at this width"
            ),
        }
    }
}

/// The knobs of a mask, named as the kernel's uniform names them (0 where a
/// pattern has no such knob).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MaskKnobs {
    /// Longformer: half-width W.
    pub window: u32,
    /// Longformer: global tokens G.
    pub global: u32,
    /// Sparse Transformer: L.
    pub stride: u32,
    /// Sparse Transformer, fixed: c.
    pub summary: u32,
    /// BigBird: block size B.
    pub block: u32,
    /// BigBird: global blocks g.
    pub global_blocks: u32,
    /// BigBird: half the window in blocks.
    pub window_half: u32,
    /// BigBird: random blocks per query block R.
    pub random: u32,
    /// Transformer-XL / Compressive: segment length S.
    pub segment: u32,
    /// Transformer-XL / Compressive: memory M (positions).
    pub memory: u32,
    /// Compressive: compression rate c (1 for Transformer-XL).
    pub rate: u32,
    /// Compressive: compressed-memory slots M_c (0 for Transformer-XL).
    pub compressed: u32,
    /// Compressive: key row of compressed slot 0 (slots follow the
    /// positions, from a 32-aligned row).
    pub slot_base: u32,
    /// Compressive: how many positions share a slot's weight in the views
    /// (c for pooling and convolution, 1 for most-attended).
    pub share: u32,
}

/// What the tiled kernel needs of a sparse pattern: the key tiles each query
/// tile visits, and the encoding of its element mask (the kind, its knobs,
/// and an auxiliary table such as BigBird's random blocks).
pub trait TileMask {
    /// Which mask the kernel applies.
    fn kind(&self) -> PatternKind;
    /// Its knobs.
    fn knobs(&self) -> MaskKnobs;
    /// The key tiles each 32-row query tile visits, with whole-tile flags.
    fn tiles(&self, n: usize, causal: bool) -> TileList;
    /// The auxiliary table the mask reads (at least one entry).
    fn aux(&self) -> Vec<u32> {
        vec![0]
    }
    /// Key rows the mask indexes for n queries: n, or more when the method
    /// appends rows of its own after the positions (compressed memory).
    fn keys(&self, n: usize) -> usize {
        n
    }
}

/// Exact attention: every key tile, up to the diagonal when causal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dense;

impl TileMask for Dense {
    fn kind(&self) -> PatternKind {
        PatternKind::Dense
    }

    fn knobs(&self) -> MaskKnobs {
        MaskKnobs::default()
    }

    fn tiles(&self, n: usize, causal: bool) -> TileList {
        TileList::build(
            n,
            TILE,
            |rows| {
                #[allow(clippy::single_range_in_vec_init)]
                let keys = vec![0..if causal { rows.end } else { n }];
                keys
            },
            |rows, keys| !causal || keys.end - 1 <= rows.start,
        )
    }
}

/// Reformer's hashing set-up (see `attention/reformer.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct LshSpec {
    /// Buckets b (even).
    pub buckets: u32,
    /// Hash rounds.
    pub rounds: u32,
    /// Chunk size in the sorted order.
    pub chunk: u32,
    /// Shared-QK: the self penalty applies (keys are already normalised queries).
    pub shared_qk: bool,
    /// Random rotations, rounds × d × (b/2), row-major.
    pub planes: Vec<f32>,
}

/// What the kernel computes.
#[derive(Clone, Copy)]
pub enum Layout<'a> {
    /// A structured mask (exact attention: [`Dense`]).
    Masked(&'a dyn TileMask),
    /// Reformer: chunks of LSH-sorted positions.
    Lsh(&'a LshSpec),
}

impl Layout<'_> {
    /// The key tiles each query tile visits (for Reformer in sorted order:
    /// its chunks and the previous one).
    pub fn tiles(&self, n: usize, causal: bool) -> TileList {
        match self {
            Layout::Masked(mask) => mask.tiles(n, causal),
            Layout::Lsh(spec) => {
                let c = spec.chunk.max(1) as usize;
                TileList::build(
                    n,
                    TILE,
                    |rows| {
                        let first = (rows.start / c).saturating_sub(1) * c;
                        let end = ((rows.end.max(1) - 1) / c + 1) * c;
                        #[allow(clippy::single_range_in_vec_init)]
                        let ranges = vec![first..end.min(n)];
                        ranges
                    },
                    |_, _| false,
                )
            }
        }
    }

    /// Key rows the kernel reads for n queries (see [`TileMask::keys`]).
    pub fn keys(&self, n: usize) -> usize {
        match self {
            Layout::Masked(mask) => mask.keys(n),
            Layout::Lsh(_) => n,
        }
    }

    /// Hash rounds (1 for a structured mask).
    pub fn rounds(&self) -> u32 {
        match self {
            Layout::Lsh(spec) => spec.rounds.max(1),
            Layout::Masked(_) => 1,
        }
    }

    /// Auxiliary table: the mask's own, or Reformer's five rounds × n
    /// tables (filled on the GPU).
    fn aux(&self, n: usize) -> Vec<u32> {
        match self {
            Layout::Masked(mask) => mask.aux(),
            Layout::Lsh(spec) => vec![0; 5 * spec.rounds.max(1) as usize * n],
        }
    }
}

/// How the visited tiles are shared among workgroups. A query tile whose
/// list is longer than `per_item` tiles (a global row, the last rows of a
/// causal map) is split over several workgroups that each write a partial
/// (O, m, l) into a slot; `merge_splits` then combines the slots by their
/// normalisers — so one long row no longer holds up the whole dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkPlan {
    /// (query tile, first entry, end entry, slot or u32::MAX) per workgroup.
    pub items: Vec<[u32; 4]>,
    /// (query tile, first slot, slot count) per split query tile.
    pub merges: Vec<[u32; 3]>,
    /// Partial slots in all.
    pub slots: u32,
}

impl WorkPlan {
    /// Most tiles one workgroup visits: at least 8, and enough that about
    /// 1024 workgroups cover the whole list.
    pub fn per_item(list: &TileList) -> usize {
        list.visited().div_ceil(1024).max(8)
    }

    /// Splits `list` into work items of at most [`Self::per_item`] tiles.
    pub fn new(list: &TileList) -> WorkPlan {
        let per = Self::per_item(list);
        let mut plan = WorkPlan {
            items: Vec::new(),
            merges: Vec::new(),
            slots: 0,
        };
        for qt in 0..list.offsets.len() - 1 {
            let (first, end) = (list.offsets[qt], list.offsets[qt + 1]);
            let count = (end - first) as usize;
            if count <= per {
                plan.items.push([qt as u32, first, end, u32::MAX]);
                continue;
            }
            let pieces = count.div_ceil(per) as u32;
            for p in 0..pieces {
                let a = first + p * per as u32;
                plan.items
                    .push([qt as u32, a, (a + per as u32).min(end), plan.slots + p]);
            }
            plan.merges.push([qt as u32, plan.slots, pieces]);
            plan.slots += pieces;
        }
        plan
    }
}

/// The uniform block of `tiled_attention.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    n: u32,
    n_keys: u32,
    d: u32,
    dv: u32,
    scale: f32,
    causal: u32,
    factor: u32,
    cells: u32,
    pattern: u32,
    window: u32,
    global: u32,
    stride: u32,
    summary: u32,
    block: u32,
    global_blocks: u32,
    window_half: u32,
    random: u32,
    chunk: u32,
    shared_qk: u32,
    rounds: u32,
    round: u32,
    items_base: u32,
    merges_base: u32,
    slabs: u32,
    segment: u32,
    memory: u32,
    rate: u32,
    compressed: u32,
    slot_base: u32,
    share: u32,
    heads: u32,
    item_count: u32,
    merge_count: u32,
    slot_count: u32,
    q_stride: u32,
    k_stride: u32,
    v_stride: u32,
    aux_stride: u32,
}

/// The uniform block of `lsh.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct LshParams {
    n: u32,
    d: u32,
    n_buckets: u32,
    rounds: u32,
    blocks: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

/// The host-side tables of one problem: the tile list and work plan as one
/// u32 table (key-tile entries with bit 31 set for whole tiles, then the
/// work items, then the merges), shared by every head, and the mask's
/// auxiliary table (one per head when `aux_stride` > 0).
struct Tables {
    tiles: TileList,
    plan: WorkPlan,
    table: Vec<u32>,
    aux: Vec<u32>,
    aux_stride: u32,
    items_base: u32,
    merges_base: u32,
}

impl Tables {
    fn new(layout: &Layout<'_>, n: usize, causal: bool, stacking: Stacking) -> Tables {
        let tiles = layout.tiles(n, causal);
        let plan = WorkPlan::new(&tiles);
        let mut table: Vec<u32> = tiles
            .tiles
            .iter()
            .zip(&tiles.full)
            .map(|(&kt, &full)| kt | ((full as u32) << 31))
            .collect();
        let items_base = table.len() as u32;
        table.extend(plan.items.iter().flatten());
        let merges_base = table.len() as u32;
        table.extend(plan.merges.iter().flatten());
        let one = layout.aux(n);
        let per_head =
            stacking.heads > 1 && (stacking.aux_per_head || matches!(layout, Layout::Lsh(_)));
        let (aux, aux_stride) = if per_head {
            (one.repeat(stacking.heads), one.len() as u32)
        } else {
            (one, 0)
        };
        Tables {
            aux,
            aux_stride,
            tiles,
            plan,
            table,
            items_base,
            merges_base,
        }
    }
}

/// Buffers the kernel writes and reads back.
struct Outputs {
    o: wgpu::Buffer,
    stats: wgpu::Buffer,
    table: wgpu::Buffer,
    aux: wgpu::Buffer,
    weights_map: wgpu::Buffer,
    pattern_map: wgpu::Buffer,
}

/// A tiled attention problem prepared on the GPU: its program and the
/// buffers to read back.
pub struct Tiled {
    /// The passes: timed (hash, sort, attend, merge, combine) and views.
    pub program: Program,
    /// Which attention kernel it records.
    pub variant: TiledVariant,
    /// Its own executed count when it is the wide fallback (the methods'
    /// costs describe the register-tiled kernel).
    pub executed: Option<(crate::data::count::Counted, crate::data::count::Counted)>,
    outputs: Outputs,
    n: usize,
    dv: usize,
    heads: usize,
    rounds: u32,
    lsh: Option<(u32, u32)>,
    cells: usize,
    factor: usize,
    /// Pairs the kernel evaluates per run and head: visited tiles × 32 × 32
    /// × rounds.
    pub tile_pairs: u64,
}

/// The shape of a tiled problem: n, d, dᵥ, causal, and the logit scale
/// (1/√d for attention).
#[derive(Debug, Clone, Copy)]
pub struct TiledShape {
    /// Queries and keys.
    pub n: usize,
    /// Query/key width.
    pub d: usize,
    /// Value width.
    pub dv: usize,
    /// Mask keys j > i.
    pub causal: bool,
    /// Logits are `scale·qᵢ·kⱼ`.
    pub scale: f32,
}

impl Tiled {
    /// Checks every limit, builds the tables, allocates, and records the
    /// program for `layout` over one head's inputs already on the GPU.
    pub async fn prepare(
        ctx: &GpuContext,
        layout: Layout<'_>,
        shape: TiledShape,
        qkv: &Qkv,
    ) -> Result<Tiled, GpuError> {
        Tiled::prepare_stacked(ctx, layout, shape, Stacking::single(), qkv).await
    }

    /// The same over B·H heads stacked as `stacking` says: every pass one
    /// dispatch over the heads (z), the tile list shared.
    pub async fn prepare_stacked(
        ctx: &GpuContext,
        layout: Layout<'_>,
        shape: TiledShape,
        stacking: Stacking,
        qkv: &Qkv,
    ) -> Result<Tiled, GpuError> {
        let TiledShape { n, d, dv, .. } = shape;
        let heads = stacking.heads.max(1);
        let variant = TiledTiles::choose(ctx, d as u32, dv as u32)?;
        let tables = Tables::new(&layout, n, shape.causal, stacking);
        let slabs = match layout {
            Layout::Lsh(_) => layout.rounds() as usize + 1,
            Layout::Masked(_) => 1,
        };
        let rows = heads * (slabs * n + tables.plan.slots as usize * TILE);
        for (what, elements) in [
            ("the output slabs", rows * dv),
            ("the row statistics", rows * 2),
            ("the tile list", tables.table.len()),
            ("the mask tables", tables.aux.len()),
        ] {
            check_storage(ctx, what, elements as u64 * 4)?;
            check_indexable(what, elements as u64)?;
        }
        if let Layout::Lsh(spec) = layout {
            check_lsh(ctx, spec, n, heads)?;
        }
        let (factor, cells) = AttentionMap::geometry(n);
        let outputs = scoped(ctx, "allocating tiled attention", || {
            Ok(Outputs {
                o: buffers::storage(ctx, "tiled.o", rows * dv)?,
                stats: buffers::storage(ctx, "tiled.stats", rows * 2)?,
                table: buffers::upload_u32(ctx, "tiled.tiles", &tables.table)?,
                aux: buffers::upload_u32(ctx, "tiled.aux", &tables.aux)?,
                weights_map: buffers::storage(ctx, "tiled.weights_map", cells * cells)?,
                pattern_map: buffers::storage(ctx, "tiled.pattern_map", cells * cells * 2)?,
            })
        })
        .await?;
        let mut program = Program::new("tiled attention");
        program.memory_bytes =
            ((rows * (dv + 2) + tables.table.len() + tables.aux.len()) * 4) as u64;
        if let Layout::Lsh(spec) = layout {
            let lsh = LshShape { n, d, heads };
            program.memory_bytes +=
                record_lsh(ctx, &mut program, spec, lsh, qkv, &outputs.aux).await?;
        }
        let params =
            |round: u32| uniform_params(&layout, &tables, shape, (round, slabs as u32), stacking);
        let attend = Attend {
            variant,
            params: &params,
            heads: heads as u32,
        };
        record_attention(ctx, &mut program, &layout, &tables, attend, qkv, &outputs).await?;
        Ok(Tiled {
            variant,
            executed: (variant == TiledVariant::Wide).then(|| {
                let (n, d, dv) = (n as u64, d as u64, dv as u64);
                let mut work = super::work::Work::default();
                let rounds = layout.rounds() as u64;
                let keys = layout.keys(n as usize) as u64;
                let (f, b) =
                    super::work::attend_wide_keys(&tables.tiles, &tables.plan, n, keys, d, dv);
                work.add("attend_wide", (f * rounds, b * rounds));
                let (flops, bytes) = work.counted(
                    super::work::ATTEND_WIDE_FLOPS_RULE,
                    super::work::ATTEND_WIDE_BYTES_RULE,
                );
                (
                    super::work::for_heads(flops, heads),
                    super::work::for_heads(bytes, heads),
                )
            }),
            program,
            n,
            dv,
            heads,
            rounds: layout.rounds(),
            lsh: match layout {
                Layout::Lsh(spec) => Some((spec.buckets, spec.chunk)),
                Layout::Masked(_) => None,
            },
            cells,
            factor,
            tile_pairs: (tables.tiles.visited() * TILE * TILE) as u64 * layout.rounds() as u64,
            outputs,
        })
    }

    /// The output (the union of rounds for Reformer), B·H·n × dᵥ: head
    /// after head.
    pub async fn output(&self, ctx: &GpuContext) -> Result<Array2<f32>, GpuError> {
        let slab = if self.lsh.is_some() {
            self.rounds as usize
        } else {
            0
        };
        let per_slab = self.heads * self.n * self.dv;
        let all = buffers::read_f32(ctx, &self.outputs.o, (slab + 1) * per_slab).await?;
        Array2::from_shape_vec(
            (self.heads * self.n, self.dv),
            all[slab * per_slab..].to_vec(),
        )
        .map_err(|e| GpuError::Readback(e.to_string()))
    }

    /// The pooled weights and pattern, and Reformer's round-0 buckets, as
    /// the GPU computed them (after the program ran).
    pub async fn artifacts(&self, ctx: &GpuContext) -> Result<Artifacts, GpuError> {
        let (n, cells, factor) = (self.n, self.cells, self.factor);
        let values = buffers::read_f32(ctx, &self.outputs.weights_map, cells * cells).await?;
        let pattern = buffers::read_f32(ctx, &self.outputs.pattern_map, cells * cells * 2).await?;
        let mut out = Artifacts::new()
            .with(Artifact::Weights(AttentionMap {
                n,
                factor,
                cells,
                values,
            }))
            .with(Artifact::Pattern(PatternMap {
                n,
                factor,
                cells,
                codes: pattern.chunks(2).map(|c| c[0] as u32).collect(),
                fraction: pattern.chunks(2).map(|c| c[1]).collect(),
            }));
        if let Some((buckets, chunk)) = self.lsh {
            let per = self.rounds as usize * n;
            let aux = buffers::read_u32(ctx, &self.outputs.aux, 5 * per).await?;
            out.put(Artifact::Buckets(LshView {
                buckets,
                bucket: aux[4 * per..4 * per + n].to_vec(),
                sorted: aux[..n].to_vec(),
                chunk,
            }));
        }
        Ok(out)
    }

    /// The row statistics (m, l) per query row, as `attend` (and
    /// `merge_splits`) leave them, head after head (`[slab, head, n, 2]`):
    /// a later pass may read them (the Compressive Transformer's usage).
    pub fn stats(&self) -> &wgpu::Buffer {
        &self.outputs.stats
    }

    /// The mask's auxiliary table on the GPU (one per head when the
    /// stacking asked for it): a pass recorded before this program's may
    /// fill it (the Compressive Transformer's most-attended slots).
    pub fn aux(&self) -> &wgpu::Buffer {
        &self.outputs.aux
    }

    /// The weights map alone (for callers that pool their own pattern).
    pub async fn weights(&self, ctx: &GpuContext) -> Result<AttentionMap, GpuError> {
        let (cells, factor) = (self.cells, self.factor);
        let values = buffers::read_f32(ctx, &self.outputs.weights_map, cells * cells).await?;
        Ok(AttentionMap {
            n: self.n,
            factor,
            cells,
            values,
        })
    }
}

fn uniform_params(
    layout: &Layout<'_>,
    tables: &Tables,
    shape: TiledShape,
    (round, slabs): (u32, u32),
    stacking: Stacking,
) -> Params {
    let stride = |x: usize| if stacking.heads > 1 { x as u32 } else { 0 };
    let (factor, cells) = AttentionMap::geometry(shape.n);
    let (kind, knobs, chunk, shared_qk) = match layout {
        Layout::Masked(mask) => (mask.kind(), mask.knobs(), 0, 0),
        Layout::Lsh(spec) => (
            PatternKind::Lsh,
            MaskKnobs::default(),
            spec.chunk.max(1),
            spec.shared_qk as u32,
        ),
    };
    Params {
        n: shape.n as u32,
        n_keys: layout.keys(shape.n) as u32,
        d: shape.d as u32,
        dv: shape.dv as u32,
        scale: shape.scale,
        causal: shape.causal as u32,
        factor: factor as u32,
        cells: cells as u32,
        pattern: kind as u32,
        window: knobs.window,
        global: knobs.global,
        stride: knobs.stride,
        summary: knobs.summary,
        block: knobs.block,
        global_blocks: knobs.global_blocks,
        window_half: knobs.window_half,
        random: knobs.random,
        chunk,
        shared_qk,
        rounds: layout.rounds(),
        round,
        items_base: tables.items_base,
        merges_base: tables.merges_base,
        slabs,
        segment: knobs.segment,
        memory: knobs.memory,
        rate: knobs.rate,
        compressed: knobs.compressed,
        slot_base: knobs.slot_base,
        share: knobs.share,
        heads: stacking.heads.max(1) as u32,
        item_count: tables.plan.items.len() as u32,
        merge_count: tables.plan.merges.len() as u32,
        slot_count: tables.plan.slots,
        q_stride: stride(stacking.q_stride),
        k_stride: stride(stacking.k_stride),
        v_stride: stride(stacking.v_stride),
        aux_stride: tables.aux_stride,
    }
}

/// Records the attention passes: per round `attend` (and `merge_splits`
/// when query tiles are split), Reformer's `combine_rounds`, and the two
/// pooling views.
/// Which attention kernel to record, each round's uniform block, and the
/// heads every pass dispatches over (z).
struct Attend<'a> {
    variant: TiledVariant,
    params: &'a dyn Fn(u32) -> Params,
    heads: u32,
}

async fn record_attention(
    ctx: &GpuContext,
    program: &mut Program,
    layout: &Layout<'_>,
    tables: &Tables,
    attend: Attend<'_>,
    qkv: &Qkv,
    out: &Outputs,
) -> Result<(), GpuError> {
    let params = attend.params;
    let constants = [
        ("D4", qkv.shape.1.div_ceil(4) as f64),
        ("DV4", qkv.shape.2.div_ceil(4) as f64),
    ];
    let rounds = layout.rounds();
    let lsh = matches!(layout, Layout::Lsh(_));
    let uniforms: Vec<wgpu::Buffer> = (0..=rounds)
        .map(|r| buffers::uniform(ctx, "tiled.params", &params(if lsh { r } else { 0 })))
        .collect();
    let named = |u: usize| {
        [
            ("params", &uniforms[u]),
            ("q", &qkv.q),
            ("k", &qkv.k),
            ("v", &qkv.v),
            ("o", &out.o),
            ("stats", &out.stats),
            ("tiles", &out.table),
            ("aux", &out.aux),
            ("map", &out.weights_map),
        ]
    };
    let (items, merges) = (
        tables.plan.items.len() as u64,
        tables.plan.merges.len() as u64,
    );
    let heads = attend.heads;
    for r in 0..rounds as usize {
        let bufs = named(r);
        let pass = match attend.variant {
            TiledVariant::Register => {
                let groups = grid(ctx, "attend", items)?;
                Pass::build(ctx, &ATTEND, &constants, &bufs, groups).await?
            }
            TiledVariant::Wide => {
                let groups = grid(ctx, "attend_wide", items * TILE as u64)?;
                Pass::build(ctx, &ATTEND_WIDE, &[], &bufs, groups).await?
            }
        };
        program.time(pass.layers(ctx, heads)?);
        if merges > 0 {
            let groups = grid(ctx, "merge_splits", merges)?;
            let pass = Pass::build(ctx, &MERGE, &constants, &bufs, groups).await?;
            program.time(pass.layers(ctx, heads)?);
        }
    }
    let last = named(rounds as usize);
    if lsh {
        let cells = (qkv.shape.0 * qkv.shape.2).div_ceil(256) as u64;
        let groups = grid(ctx, "combine_rounds", cells)?;
        let pass = Pass::build(ctx, &COMBINE, &constants, &last, groups).await?;
        program.time(pass.layers(ctx, heads)?);
    }
    let cells = (AttentionMap::geometry(qkv.shape.0).1 as u32).div_ceil(16);
    program.view(Pass::build(ctx, &POOL_WEIGHTS, &constants, &last, (cells, cells)).await?);
    let mut pattern = last;
    pattern[8] = ("map", &out.pattern_map);
    program.view(Pass::build(ctx, &POOL_PATTERN, &constants, &pattern, (cells, cells)).await?);
    Ok(())
}

/// One head's n and d, and the heads: what Reformer's hashing and sorting
/// run over.
#[derive(Debug, Clone, Copy)]
struct LshShape {
    n: usize,
    d: usize,
    heads: usize,
}

/// Entries of Reformer's tables, all heads: (buckets, sort counts, sort
/// totals, sort blocks per sequence).
fn lsh_sizes(spec: &LshSpec, n: usize, heads: usize) -> (usize, usize, usize, usize) {
    let sequences = heads * 2 * spec.rounds.max(1) as usize;
    let blocks = n.div_ceil(SORT_BLOCK).max(1);
    let b = spec.buckets as usize;
    (sequences * n, sequences * b * blocks, sequences * b, blocks)
}

/// Reformer's limits, checked before anything is allocated.
fn check_lsh(ctx: &GpuContext, spec: &LshSpec, n: usize, heads: usize) -> Result<(), GpuError> {
    if spec.buckets > MAX_BUCKETS || spec.buckets < 2 {
        return Err(GpuError::TooLarge {
            what: format!("the LSH radix sort at b = {} buckets", spec.buckets),
            needs: spec.buckets as u64,
            unit: "buckets",
            limit_name: "the sort's one 8-bit digit (2 to 256 buckets)",
            limit: MAX_BUCKETS as u64,
        });
    }
    let (buckets, counts, totals, _) = lsh_sizes(spec, n, heads);
    for (what, elements) in [
        ("the LSH buckets", buckets),
        ("the LSH sort counts", counts),
        ("the LSH sort totals", totals),
        ("the LSH rotations", spec.planes.len()),
    ] {
        check_storage(ctx, what, elements as u64 * 4)?;
        check_indexable(what, elements as u64)?;
    }
    Ok(())
}

/// Records Reformer's hashing and its radix sort, which fill the `aux`
/// tables of every head; returns the bytes it allocated.
async fn record_lsh(
    ctx: &GpuContext,
    program: &mut Program,
    spec: &LshSpec,
    shape: LshShape,
    qkv: &Qkv,
    aux: &wgpu::Buffer,
) -> Result<u64, GpuError> {
    let LshShape { n, d, heads } = shape;
    let rounds = spec.rounds.max(1);
    let (bucket_len, counts_len, totals_len, blocks) = lsh_sizes(spec, n, heads);
    let params = LshParams {
        n: n as u32,
        d: d as u32,
        n_buckets: spec.buckets,
        rounds,
        blocks: blocks as u32,
        pad0: 0,
        pad1: 0,
        pad2: 0,
    };
    let (uniform, planes, buckets, counts, totals) = scoped(ctx, "allocating LSH tables", || {
        Ok((
            buffers::uniform(ctx, "lsh.params", &params),
            buffers::upload(ctx, "lsh.planes", &spec.planes)?,
            buffers::storage(ctx, "lsh.buckets", bucket_len)?,
            buffers::storage(ctx, "lsh.counts", counts_len)?,
            buffers::storage(ctx, "lsh.totals", totals_len)?,
        ))
    })
    .await?;
    let named = [
        ("params", &uniform),
        ("q", &qkv.q),
        ("k", &qkv.k),
        ("planes", &planes),
        ("buckets", &buckets),
        ("aux", aux),
        ("counts", &counts),
        ("totals", &totals),
    ];
    let hash = grid(ctx, "lsh_hash", (2 * rounds as u64 * n as u64).div_ceil(64))?;
    let pass = Pass::build(ctx, &LSH_HASH, &[], &named, hash).await?;
    program.time(pass.layers(ctx, heads as u32)?);
    record_sort(ctx, program, &named, &params, heads as u32).await?;
    Ok(((spec.planes.len() + bucket_len + counts_len + totals_len) * 4) as u64)
}

/// Records the radix sort's three passes, each one dispatch over the heads
/// (z) and their 2·rounds sequences (y).
async fn record_sort(
    ctx: &GpuContext,
    program: &mut Program,
    named: &[(&str, &wgpu::Buffer)],
    params: &LshParams,
    heads: u32,
) -> Result<(), GpuError> {
    let sequences = 2 * params.rounds;
    let passes = [
        (&LSH_COUNT, (params.blocks, sequences)),
        (&LSH_SCAN, (params.n_buckets, sequences)),
        (&LSH_SCATTER, (params.blocks, sequences)),
    ];
    for (kernel, groups) in passes {
        let pass = Pass::build(ctx, kernel, &[], named, groups).await?;
        program.time(pass.layers(ctx, heads)?);
    }
    Ok(())
}

/// Reformer's radix sort alone, over given buckets — the sort's own
/// reference test against the twin's stable sort. `keys` holds, per head,
/// the buckets of its 2·`rounds` sequences of n positions (queries of every
/// round, then keys), each below `buckets`. Returns the tables the attention
/// kernel reads, per head 5 × rounds × n: sorted → position of the queries
/// and of the keys, position → sorted of both, the queries' buckets.
pub async fn radix_sort(
    ctx: &GpuContext,
    keys: &[u32],
    (heads, rounds, n): (usize, u32, usize),
    buckets: u32,
) -> Result<Vec<u32>, GpuError> {
    let spec = LshSpec {
        buckets,
        rounds,
        chunk: 1,
        shared_qk: false,
        planes: Vec::new(),
    };
    check_lsh(ctx, &spec, n, heads)?;
    let (bucket_len, counts_len, totals_len, blocks) = lsh_sizes(&spec, n, heads);
    if keys.len() != bucket_len {
        return Err(GpuError::Readback(format!(
            "{} bucket keys given for {heads} heads × 2·{rounds} sequences of {n}",
            keys.len()
        )));
    }
    if let Some(bad) = keys.iter().find(|&&k| k >= buckets) {
        return Err(GpuError::Readback(format!(
            "bucket {bad} given to a sort of {buckets} buckets"
        )));
    }
    let aux_len = heads * 5 * rounds as usize * n;
    check_storage(ctx, "the sorted orders", aux_len as u64 * 4)?;
    let params = LshParams {
        n: n as u32,
        d: 1,
        n_buckets: buckets,
        rounds,
        blocks: blocks as u32,
        pad0: 0,
        pad1: 0,
        pad2: 0,
    };
    let (uniform, bucket_buf, counts, totals, aux) = scoped(ctx, "allocating the sort", || {
        Ok((
            buffers::uniform(ctx, "lsh.params", &params),
            buffers::upload_u32(ctx, "lsh.buckets", keys)?,
            buffers::storage(ctx, "lsh.counts", counts_len)?,
            buffers::storage(ctx, "lsh.totals", totals_len)?,
            buffers::storage(ctx, "lsh.aux", aux_len)?,
        ))
    })
    .await?;
    let named = [
        ("params", &uniform),
        ("buckets", &bucket_buf),
        ("aux", &aux),
        ("counts", &counts),
        ("totals", &totals),
    ];
    let mut program = Program::new("LSH radix sort");
    record_sort(ctx, &mut program, &named, &params, heads as u32).await?;
    program.run(ctx, 1).await?;
    buffers::read_u32(ctx, &aux, aux_len).await
}

/// Runs a tiled attention method end to end on the GPU: Q, K, V uploaded,
/// the program prepared and run (warm-up, `options.repeats` timed runs,
/// the pooled views), then read back.
pub async fn run(
    ctx: &GpuContext,
    (q, k, v): (&Array2<f32>, &Array2<f32>, &Array2<f32>),
    causal: bool,
    layout: Layout<'_>,
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    run_stacked(ctx, Stacked::single(q, k, v), causal, layout, options).await
}

/// [`run`] over B·H stacked heads: one dispatch per pass over all heads,
/// the output `[B·H·n, dᵥ]` head after head, the views head 0's.
pub async fn run_stacked(
    ctx: &GpuContext,
    stacked: Stacked<'_>,
    causal: bool,
    layout: Layout<'_>,
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    let qkv = stacked.upload(ctx).await?;
    let (n, d, dv) = qkv.shape;
    let shape = TiledShape {
        n,
        d,
        dv,
        causal,
        scale: 1.0 / (d as f32).sqrt(),
    };
    let mut tiled = Tiled::prepare_stacked(ctx, layout, shape, stacked.stacking(), &qkv).await?;
    let memory = stacked.bytes() + tiled.program.memory_bytes;
    let tile_pairs = tiled.tile_pairs;
    let program = std::mem::replace(&mut tiled.program, Program::new(""));
    let (_, timed) = options.run(ctx, program).await?;
    let mut out = GpuOutput::new(
        KernelKind::Tiled,
        tiled.variant.name(),
        tiled.output(ctx).await?,
        timed,
        memory,
    );
    out.artifacts = tiled.artifacts(ctx).await?;
    out.tile_pairs = Some(tile_pairs);
    out.executed = tiled.executed.clone();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tiled_kernel_runs_where_its_tiles_fit() {
        assert_eq!(
            TiledTiles::workgroup_bytes(64, 64),
            16 * (32 * 17 * 2) + 4 * (32 * 33 + 512)
        );
        assert!(TiledTiles::fits(64, 64, 32768));
        assert!(!TiledTiles::fits(64, 64, 16384), "d = 64 needs 23 KiB");
        assert!(TiledTiles::fits(128, 128, 49152));
        assert!(
            !TiledTiles::fits(129, 64, 1 << 20),
            "d > 128 needs more registers"
        );
    }

    #[test]
    fn reformer_tiles_cover_each_chunk_and_the_previous() {
        let spec = LshSpec {
            buckets: 4,
            rounds: 1,
            chunk: 8,
            shared_qk: false,
            planes: vec![],
        };
        let t = Layout::Lsh(&spec).tiles(100, false);
        // Query tile 1 (rows 32..64) sees sorted keys 24..64: tiles 0 and 1.
        assert_eq!(
            &t.tiles[t.offsets[1] as usize..t.offsets[2] as usize],
            &[0, 1]
        );
        let wide = LshSpec {
            buckets: 4,
            rounds: 1,
            chunk: 100,
            shared_qk: false,
            planes: vec![],
        };
        let t = Layout::Lsh(&wide).tiles(100, false);
        assert_eq!(t.visited(), 4 * 4, "one chunk: every tile");
    }
}

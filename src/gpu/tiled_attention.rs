//! Host side of `tiled_attention.wgsl` (and `lsh.wgsl`): the register-tiled,
//! block-sparse fused attention kernel that every softmax method shares.
//!
//! A method describes what it computes as a [`Layout`]: a structured
//! [`Pattern`] (exact attention is [`Pattern::Dense`]) or Reformer's LSH
//! buckets. From it the host builds the list of key tiles each query tile
//! visits ([`TileList`]: skipped tiles cost nothing) and the auxiliary tables
//! of the element mask (BigBird's random blocks; Reformer's sorted orders,
//! which the GPU computes itself with `lsh_hash` and `lsh_sort`). The kernel
//! then runs the online softmax over the visited tiles only; `pool_weights`
//! and `pool_pattern` pool the attention weights and the pattern for the
//! views without storing n² values.

use bytemuck::{Pod, Zeroable};
use ndarray::Array2;
use web_time::Instant;

use super::buffers::{self, Timestamps, check_dispatch, check_storage, dispatch, scoped};
use super::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::attention::pattern::{Pattern, TileList};
use crate::inputs::Inputs;
use crate::measure::{AttentionMap, LshView, PatternMap, Timing};

const MODULE: &str = "tiled_attention";
const LSH_MODULE: &str = "lsh";
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

    /// The error when it cannot run here.
    pub fn unfit(ctx: &GpuContext, d: u32, dv: u32) -> GpuError {
        if d > Self::MAX_WIDTH || dv > Self::MAX_WIDTH {
            GpuError::TooLarge {
                what: format!("the tiled attention kernel at d = {d}, dv = {dv}"),
                needs: d.max(dv) as u64,
                unit: "columns",
                limit_name: "the kernel's widest d, dv",
                limit: Self::MAX_WIDTH as u64,
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
#[derive(Debug, Clone, PartialEq)]
pub enum Layout {
    /// A structured pattern (exact attention: `Pattern::Dense`).
    Structured(Pattern),
    /// Reformer: chunks of LSH-sorted positions.
    Lsh(LshSpec),
}

impl Layout {
    /// The key tiles each query tile visits (for Reformer in sorted order:
    /// its chunks and the previous one).
    pub fn tiles(&self, n: usize, causal: bool) -> TileList {
        match self {
            Layout::Structured(p) => TileList::build(
                n,
                TILE,
                |rows| p.key_ranges(rows, n, causal),
                |rows, keys| p.tile_full(rows, keys, causal),
            ),
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

    fn code(&self) -> u32 {
        match self {
            Layout::Structured(Pattern::Dense) => 0,
            Layout::Structured(Pattern::Longformer { .. }) => 1,
            Layout::Structured(Pattern::Strided { .. }) => 2,
            Layout::Structured(Pattern::Fixed { .. }) => 3,
            Layout::Structured(Pattern::BigBird(_)) => 4,
            Layout::Lsh(_) => 5,
        }
    }

    fn knobs(&self) -> [u32; 4] {
        match self {
            Layout::Structured(Pattern::Dense) => [0; 4],
            Layout::Structured(Pattern::Longformer { window, global }) => {
                [sat(*window), sat(*global), 0, 0]
            }
            Layout::Structured(Pattern::Strided { stride }) => [sat(*stride), 0, 0, 0],
            Layout::Structured(Pattern::Fixed { stride, summary }) => {
                [sat(*stride), sat(*summary), 0, 0]
            }
            Layout::Structured(Pattern::BigBird(b)) => [
                sat(b.block),
                sat(b.global_blocks),
                sat(b.window_blocks / 2),
                sat(b.random_per_block),
            ],
            Layout::Lsh(spec) => [spec.chunk.max(1), spec.shared_qk as u32, 0, 0],
        }
    }

    fn rounds(&self) -> u32 {
        match self {
            Layout::Lsh(spec) => spec.rounds.max(1),
            Layout::Structured(_) => 1,
        }
    }

    /// Auxiliary table: BigBird's random blocks (blocks × R, u32::MAX
    /// padding); Reformer's five rounds × n tables (filled on the GPU).
    fn aux(&self, n: usize) -> Vec<u32> {
        match self {
            Layout::Structured(Pattern::BigBird(b)) => {
                let r = b.random_per_block;
                let mut table = vec![u32::MAX; (b.random.len() * r).max(1)];
                for (qb, blocks) in b.random.iter().enumerate() {
                    for (slot, &kb) in blocks.iter().enumerate() {
                        table[qb * r + slot] = kb as u32;
                    }
                }
                table
            }
            Layout::Lsh(spec) => vec![0; 5 * spec.rounds.max(1) as usize * n],
            Layout::Structured(_) => vec![0],
        }
    }
}

fn sat(x: usize) -> u32 {
    x.min(u32::MAX as usize) as u32
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
    knob_a: u32,
    knob_b: u32,
    knob_c: u32,
    knob_e: u32,
    rounds: u32,
    round: u32,
    items_base: u32,
    merges_base: u32,
    slabs: u32,
    _pad0: u32,
    _pad1: u32,
}

/// The uniform block of `lsh.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct LshParams {
    n: u32,
    d: u32,
    buckets: u32,
    rounds: u32,
}

struct LshStage {
    hash: wgpu::ComputePipeline,
    sort: wgpu::ComputePipeline,
    group: wgpu::BindGroup,
    hash_groups: u32,
    sorts: u32,
    buckets: u32,
}

/// A tiled attention problem with its buffers, bind groups and pipelines
/// ready; recording it again re-runs it.
pub struct Prepared {
    n: usize,
    dv: usize,
    rounds: u32,
    lsh: Option<LshStage>,
    attend: wgpu::ComputePipeline,
    merge: wgpu::ComputePipeline,
    combine: wgpu::ComputePipeline,
    pool_weights: wgpu::ComputePipeline,
    pool_pattern: wgpu::ComputePipeline,
    /// One bind group per round (Reformer), then the final one (pools, combine).
    round_groups: Vec<wgpu::BindGroup>,
    final_group: wgpu::BindGroup,
    pattern_group: wgpu::BindGroup,
    work_items: u32,
    merges: u32,
    cells: usize,
    factor: usize,
    o: wgpu::Buffer,
    aux: wgpu::Buffer,
    weights_map: wgpu::Buffer,
    pattern_map: wgpu::Buffer,
    /// Pairs the kernel evaluates per run: visited tiles × 32 × 32 × rounds.
    pub tile_pairs: u64,
    /// Device memory of the kernel's own buffers (outputs, statistics,
    /// tile list, tables), excluding the inputs.
    pub memory_bytes: u64,
}

impl Prepared {
    /// Builds everything for `layout` over inputs already on the GPU; the
    /// logits are `scale·qᵢ·kⱼ` (1/√d for attention).
    #[allow(clippy::too_many_arguments)]
    pub async fn new(
        ctx: &GpuContext,
        layout: &Layout,
        causal: bool,
        (n, d, dv): (usize, usize, usize),
        scale: f32,
        q: &wgpu::Buffer,
        k: &wgpu::Buffer,
        v: &wgpu::Buffer,
    ) -> Result<Prepared, GpuError> {
        if !TiledTiles::fits(
            d as u32,
            dv as u32,
            ctx.limits.max_compute_workgroup_storage_size,
        ) {
            return Err(TiledTiles::unfit(ctx, d as u32, dv as u32));
        }
        if ctx.limits.max_storage_buffers_per_shader_stage < 8 {
            return Err(GpuError::TooLarge {
                what: "the tiled attention kernel".into(),
                needs: 8,
                unit: "storage buffers",
                limit_name: "max_storage_buffers_per_shader_stage",
                limit: ctx.limits.max_storage_buffers_per_shader_stage as u64,
            });
        }
        let rounds = layout.rounds();
        let slabs = if matches!(layout, Layout::Lsh(_)) {
            rounds as usize + 1
        } else {
            1
        };
        let (factor, cells) = AttentionMap::geometry(n);
        let tiles = layout.tiles(n, causal);
        let plan = WorkPlan::new(&tiles);
        // The table: key-tile entries (bit 31: whole tile computed), then the
        // work items, then the merges.
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
        let aux_table = layout.aux(n);
        let work_items = plan.items.len() as u32;
        check_dispatch(ctx, "tiled attention", work_items)?;
        let combine_groups = (n * dv).div_ceil(256) as u32;
        check_dispatch(ctx, "combining hash rounds", combine_groups)?;
        let partial_rows = plan.slots as usize * TILE;
        for (what, bytes) in [
            ("the output slabs", (slabs * n + partial_rows) * dv * 4),
            ("the tile list", table.len() * 4),
            ("the mask tables", aux_table.len() * 4),
        ] {
            check_storage(ctx, what, bytes as u64)?;
        }

        let (group_layout, pipeline_layout) = ctx.layout(
            "tiled_attention.bindings",
            &[false, false, false, true, true, false, false, true],
        );
        let source = || wgpu::include_wgsl!("tiled_attention.wgsl");
        let constants = [("D4", d.div_ceil(4) as f64), ("DV4", dv.div_ceil(4) as f64)];
        let attend = ctx
            .pipeline(MODULE, source, &pipeline_layout, "attend", &constants)
            .await?;
        let merge = ctx
            .pipeline(MODULE, source, &pipeline_layout, "merge_splits", &constants)
            .await?;
        let combine = ctx
            .pipeline(
                MODULE,
                source,
                &pipeline_layout,
                "combine_rounds",
                &constants,
            )
            .await?;
        let pool_weights = ctx
            .pipeline(MODULE, source, &pipeline_layout, "pool_weights", &constants)
            .await?;
        let pool_pattern = ctx
            .pipeline(MODULE, source, &pipeline_layout, "pool_pattern", &constants)
            .await?;

        let [knob_a, knob_b, knob_c, knob_e] = layout.knobs();
        let params = |round: u32| Params {
            n: n as u32,
            n_keys: n as u32,
            d: d as u32,
            dv: dv as u32,
            scale,
            causal: causal as u32,
            factor: factor as u32,
            cells: cells as u32,
            pattern: layout.code(),
            knob_a,
            knob_b,
            knob_c,
            knob_e,
            rounds,
            round,
            items_base,
            merges_base,
            slabs: slabs as u32,
            _pad0: 0,
            _pad1: 0,
        };

        let (o, stats, tile_buf, aux, weights_map, pattern_map, uniforms) =
            scoped(ctx, "allocating tiled attention", || {
                let uniforms: Vec<wgpu::Buffer> = (0..=rounds)
                    .map(|r| {
                        buffers::uniform(
                            ctx,
                            "tiled.params",
                            &params(if slabs == 1 { 0 } else { r }),
                        )
                    })
                    .collect();
                Ok((
                    buffers::storage(ctx, "tiled.o", (slabs * n + partial_rows) * dv)?,
                    buffers::storage(ctx, "tiled.stats", (slabs * n + partial_rows) * 2)?,
                    buffers::upload_u32(ctx, "tiled.tiles", &table)?,
                    buffers::upload_u32(ctx, "tiled.aux", &aux_table)?,
                    buffers::storage(ctx, "tiled.weights_map", cells * cells)?,
                    buffers::storage(ctx, "tiled.pattern_map", cells * cells * 2)?,
                    uniforms,
                ))
            })
            .await?;
        let group = |label: &str, uniform: &wgpu::Buffer, map: &wgpu::Buffer| {
            buffers::bind_group(
                ctx,
                label,
                &group_layout,
                &[uniform, q, k, v, &o, &stats, &tile_buf, &aux, map],
            )
        };
        let round_groups: Vec<wgpu::BindGroup> = uniforms[..rounds as usize]
            .iter()
            .map(|u| group("tiled.round", u, &weights_map))
            .collect();
        let final_group = group("tiled.final", &uniforms[rounds as usize], &weights_map);
        let pattern_group = group("tiled.pattern", &uniforms[rounds as usize], &pattern_map);

        let lsh = match layout {
            Layout::Lsh(spec) => {
                let (lsh_layout, lsh_pipeline_layout) =
                    ctx.layout("lsh.bindings", &[false, false, false, true, true]);
                let lsh_source = || wgpu::include_wgsl!("lsh.wgsl");
                let hash = ctx
                    .pipeline(
                        LSH_MODULE,
                        lsh_source,
                        &lsh_pipeline_layout,
                        "lsh_hash",
                        &[],
                    )
                    .await?;
                let sort = ctx
                    .pipeline(
                        LSH_MODULE,
                        lsh_source,
                        &lsh_pipeline_layout,
                        "lsh_sort",
                        &[],
                    )
                    .await?;
                let lsh_params = LshParams {
                    n: n as u32,
                    d: d as u32,
                    buckets: spec.buckets,
                    rounds,
                };
                let hash_groups = (2 * rounds as usize * n).div_ceil(64) as u32;
                check_dispatch(ctx, "LSH hashing", hash_groups)?;
                let (uniform, planes, bucket_buf) = scoped(ctx, "allocating LSH tables", || {
                    Ok((
                        buffers::uniform(ctx, "lsh.params", &lsh_params),
                        buffers::upload(ctx, "lsh.planes", &spec.planes)?,
                        buffers::storage(ctx, "lsh.buckets", 2 * rounds as usize * n)?,
                    ))
                })
                .await?;
                let group = buffers::bind_group(
                    ctx,
                    "lsh",
                    &lsh_layout,
                    &[&uniform, q, k, &planes, &bucket_buf, &aux],
                );
                Some(LshStage {
                    hash,
                    sort,
                    group,
                    hash_groups,
                    sorts: 2 * rounds,
                    buckets: spec.buckets,
                })
            }
            Layout::Structured(_) => None,
        };

        let memory_bytes =
            (((slabs * n + partial_rows) * (dv + 2) + table.len() + aux_table.len()) * 4) as u64;
        Ok(Prepared {
            n,
            dv,
            rounds,
            lsh,
            attend,
            merge,
            combine,
            pool_weights,
            pool_pattern,
            round_groups,
            final_group,
            pattern_group,
            work_items,
            merges: plan.merges.len() as u32,
            cells,
            factor,
            o,
            aux,
            weights_map,
            pattern_map,
            tile_pairs: (tiles.visited() * TILE * TILE) as u64 * rounds as u64,
            memory_bytes,
        })
    }

    /// Records one run (hashing and sorting for Reformer, the attention per
    /// round, the union of rounds); with `timestamps`, pair `slot` brackets
    /// the whole of it.
    pub fn record(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        timestamps: Option<(&Timestamps, u32)>,
    ) {
        self.record_span(encoder, timestamps, true, true);
    }

    /// [`Self::record`] as part of a longer timed sequence: the first pass
    /// writes the beginning timestamp only if `first`, the last the end only
    /// if `last`.
    pub fn record_span(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        timestamps: Option<(&Timestamps, u32)>,
        first: bool,
        last: bool,
    ) {
        let mut passes: Vec<(&str, &wgpu::ComputePipeline, &wgpu::BindGroup, (u32, u32))> =
            Vec::new();
        if let Some(lsh) = &self.lsh {
            passes.push(("lsh.hash", &lsh.hash, &lsh.group, (lsh.hash_groups, 1)));
            passes.push(("lsh.sort", &lsh.sort, &lsh.group, (lsh.sorts, 1)));
        }
        for group in &self.round_groups {
            passes.push(("tiled.attend", &self.attend, group, (self.work_items, 1)));
            if self.merges > 0 {
                passes.push(("tiled.merge_splits", &self.merge, group, (self.merges, 1)));
            }
        }
        if self.lsh.is_some() {
            let groups = ((self.n * self.dv).div_ceil(256) as u32, 1);
            passes.push((
                "tiled.combine_rounds",
                &self.combine,
                &self.final_group,
                groups,
            ));
        }
        let end = passes.len() - 1;
        for (idx, (label, pipeline, group, groups)) in passes.into_iter().enumerate() {
            let writes = timestamps
                .and_then(|(t, slot)| t.span(slot, first && idx == 0, last && idx == end));
            dispatch(encoder, label, pipeline, group, groups, writes);
        }
    }

    /// Records the pooled views: attention weights and pattern.
    pub fn record_pools(&self, encoder: &mut wgpu::CommandEncoder) {
        let groups = (self.cells as u32).div_ceil(16);
        dispatch(
            encoder,
            "tiled.pool_weights",
            &self.pool_weights,
            &self.final_group,
            (groups, groups),
            None,
        );
        dispatch(
            encoder,
            "tiled.pool_pattern",
            &self.pool_pattern,
            &self.pattern_group,
            (groups, groups),
            None,
        );
    }

    /// The output (the union of rounds for Reformer), n × dᵥ.
    pub async fn output(&self, ctx: &GpuContext) -> Result<Array2<f32>, GpuError> {
        let slab = if self.lsh.is_some() {
            self.rounds as usize
        } else {
            0
        };
        let all = buffers::read_f32(ctx, &self.o, (slab + 1) * self.n * self.dv).await?;
        Array2::from_shape_vec((self.n, self.dv), all[slab * self.n * self.dv..].to_vec())
            .map_err(|e| GpuError::Readback(e.to_string()))
    }

    /// The pooled weights and pattern (after [`Self::record_pools`] ran).
    pub async fn maps(&self, ctx: &GpuContext) -> Result<(AttentionMap, PatternMap), GpuError> {
        let values = buffers::read_f32(ctx, &self.weights_map, self.cells * self.cells).await?;
        let pattern =
            buffers::read_f32(ctx, &self.pattern_map, self.cells * self.cells * 2).await?;
        let weights = AttentionMap {
            n: self.n,
            factor: self.factor,
            cells: self.cells,
            values,
        };
        let pattern = PatternMap {
            n: self.n,
            factor: self.factor,
            cells: self.cells,
            codes: pattern.chunks(2).map(|c| c[0] as u32).collect(),
            fraction: pattern.chunks(2).map(|c| c[1]).collect(),
        };
        Ok((weights, pattern))
    }

    /// Reformer: round 0's buckets and sorted order as the GPU computed them.
    pub async fn lsh_view(
        &self,
        ctx: &GpuContext,
        chunk: u32,
    ) -> Result<Option<LshView>, GpuError> {
        let Some(lsh) = &self.lsh else {
            return Ok(None);
        };
        let per = self.rounds as usize * self.n;
        let aux = buffers::read_u32(ctx, &self.aux, 5 * per).await?;
        Ok(Some(LshView {
            buckets: lsh.buckets,
            bucket: aux[4 * per..4 * per + self.n].to_vec(),
            sorted: aux[..self.n].to_vec(),
            chunk,
        }))
    }
}

/// Runs a tiled attention method end to end on the GPU: upload, one warm-up,
/// `options.repeats` timed runs, pooled views, readback.
pub async fn run(
    ctx: &GpuContext,
    inputs: &Inputs,
    causal: bool,
    layout: &Layout,
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    run_scaled(
        ctx,
        inputs,
        causal,
        layout,
        1.0 / (inputs.d() as f32).sqrt(),
        options,
    )
    .await
}

/// [`run`] with logits `scale·qᵢ·kⱼ` (the Synthesizers' synthetic queries
/// and keys use 1).
pub async fn run_scaled(
    ctx: &GpuContext,
    inputs: &Inputs,
    causal: bool,
    layout: &Layout,
    scale: f32,
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    let (n, d, dv) = (inputs.n(), inputs.d(), inputs.dv());
    if !TiledTiles::fits(
        d as u32,
        dv as u32,
        ctx.limits.max_compute_workgroup_storage_size,
    ) {
        return Err(TiledTiles::unfit(ctx, d as u32, dv as u32));
    }
    let (q, k, v) = scoped(ctx, "uploading attention inputs", || {
        Ok((
            buffers::upload(ctx, "attention.q", &row_major(&inputs.q))?,
            buffers::upload(ctx, "attention.k", &row_major(&inputs.k))?,
            buffers::upload(ctx, "attention.v", &row_major(&inputs.v))?,
        ))
    })
    .await?;
    let prepared = Prepared::new(ctx, layout, causal, (n, d, dv), scale, &q, &k, &v).await?;
    let repeats = options.repeats.max(1);
    let (samples, timing) = timed(ctx, repeats, |enc, ts| prepared.record(enc, ts)).await?;

    scoped(ctx, "pooling the views", || {
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("tiled.pools"),
            });
        prepared.record_pools(&mut enc);
        ctx.queue.submit([enc.finish()]);
        Ok(())
    })
    .await?;
    let output = prepared.output(ctx).await?;
    let (map, pattern_map) = prepared.maps(ctx).await?;
    let lsh = match layout {
        Layout::Lsh(spec) => prepared.lsh_view(ctx, spec.chunk).await?,
        Layout::Structured(_) => None,
    };
    let uncaptured = ctx.take_uncaptured_errors();
    if !uncaptured.is_empty() {
        return Err(GpuError::Device {
            stage: "tiled attention".into(),
            message: uncaptured.join("; "),
        });
    }
    Ok(GpuOutput {
        output,
        other_outputs: Vec::new(),
        map,
        kernel: "tiled".into(),
        kernel_variant: format!(
            "block-sparse register-tiled, {TILE} query rows × {TILE} keys per tile"
        ),
        time_ms_samples: samples,
        timing,
        memory_bytes: ((2 * n * d + n * dv) * 4) as u64 + prepared.memory_bytes,
        stages: Vec::new(),
        notes: Vec::new(),
        pattern_map: Some(pattern_map),
        lsh,
        tile_pairs: Some(prepared.tile_pairs),
        factor_map: None,
        executed: None,
    })
}

/// Times `record` over `repeats` runs after one warm-up: GPU timestamps
/// around each run when available, otherwise the wall clock per submission.
pub async fn timed(
    ctx: &GpuContext,
    repeats: u32,
    record: impl Fn(&mut wgpu::CommandEncoder, Option<(&Timestamps, u32)>),
) -> Result<(Vec<f64>, Timing), GpuError> {
    let timestamps = Timestamps::new(ctx, "attention.timestamps", repeats);
    let encoder = |slot: Option<u32>| {
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("attention.run"),
            });
        record(
            &mut enc,
            slot.and_then(|s| timestamps.as_ref().map(|t| (t, s))),
        );
        enc
    };
    match &timestamps {
        Some(t) => {
            scoped(ctx, "running attention", || {
                let mut encoders = vec![encoder(None).finish()];
                encoders.extend((0..repeats).map(|i| encoder(Some(i)).finish()));
                let mut resolve = ctx.device.create_command_encoder(&Default::default());
                t.resolve(&mut resolve);
                encoders.push(resolve.finish());
                ctx.queue.submit(encoders);
                Ok(())
            })
            .await?;
            Ok((t.read_ms(ctx).await?, Timing::GpuTimestamp))
        }
        None => {
            scoped(ctx, "running attention (warm-up)", || {
                ctx.queue.submit([encoder(None).finish()]);
                Ok(())
            })
            .await?;
            buffers::wait_idle(ctx).await?;
            let mut samples = Vec::new();
            for _ in 0..repeats {
                let started = Instant::now();
                ctx.queue.submit([encoder(None).finish()]);
                buffers::wait_idle(ctx).await?;
                samples.push(started.elapsed().as_secs_f64() * 1e3);
            }
            Ok((samples, Timing::WallClock))
        }
    }
}

/// The elements of `a` in row-major order, borrowed when already contiguous.
pub fn row_major(a: &Array2<f32>) -> std::borrow::Cow<'_, [f32]> {
    match a.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().copied().collect()),
    }
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
        let t = Layout::Lsh(spec).tiles(100, false);
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
        let t = Layout::Lsh(wide).tiles(100, false);
        assert_eq!(t.visited(), 4 * 4, "one chunk: every tile");
    }
}

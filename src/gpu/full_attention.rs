//! Host side of `full_attention.wgsl`: exact softmax attention (Vaswani et al.
//! 2017, survey Eq. 3) on the GPU, by two paths that must agree with the CPU
//! twin in `attention/full.rs`:
//!
//! * **materialising** — `scores` → `softmax_rows` → `pv`, which stores the
//!   n×n matrix (4n² bytes) and pools it for the heatmap. It runs only when
//!   that matrix fits the adapter's `max_storage_buffer_binding_size` and
//!   [`super::MATERIALIZE_CAP_BYTES`], as a stage timed like the main kernel;
//! * **fused** — FlashAttention-style online softmax (Dao et al. 2022): for
//!   each key tile, m' = max(m, maxⱼ sᵢⱼ), l' = e^{m−m'}·l + Σⱼ e^{sᵢⱼ−m'},
//!   acc' = e^{m−m'}·acc + Σⱼ e^{sᵢⱼ−m'}·vⱼ, and O = acc / l at the end. Its
//!   memory is O(n); it is the kernel that is timed: the flash kernel of
//!   `flash_attention.rs` (FlashAttention-2 tiling, its configuration from
//!   the autotuner) where it covers the widths (d, dᵥ ≤ 128), else the
//!   register-tiled kernel of `tiled_attention.rs` over the [`Dense`] mask,
//!   or `fused_simple` where its tiles do not fit. The row statistics (m, l)
//!   of the flash and simple kernels feed `pool_stats` when the matrix is not
//!   materialised.

use bytemuck::{Pod, Zeroable};
use ndarray::Array2;

use super::bindings::{Binding, Kernel, Module};
use super::buffers::{self, Qkv, check_dispatch, check_storage, row_major, scoped};
use super::flash_attention::{self, FlashBuffers, FlashShape};
use super::program::{Pass, Program, Timed};
use super::tiled_attention::{Dense, Layout, TILE, Tiled, TiledShape, TiledTiles};
use super::work::{self, Work};
use super::{
    FusedChoice, GpuContext, GpuError, GpuOutput, GpuRunOptions, MATERIALIZE_CAP_BYTES, MapSource,
};
use crate::data::artifacts::Artifact;
use crate::data::codes::KernelKind;
use crate::data::maps::AttentionMap;
use crate::data::timing::{Stage, median};

const MODULE: Module = Module {
    name: "full_attention",
    source: || include_wgsl!("full_attention.wgsl"),
    text: wgsl!("full_attention.wgsl"),
};
const PARAMS: Binding = Binding::uniform("params", 0);
const Q: Binding = Binding::read("q", 1);
const K: Binding = Binding::read("k", 2);
const V: Binding = Binding::read("v", 3);
const S: Binding = Binding::write("s", 4);
const O: Binding = Binding::write("o", 5);
const STATS: Binding = Binding::write("stats", 6);
const MAP: Binding = Binding::write("map", 7);

/// S = scale·QKᵀ (materialising path).
pub const SCORES: Kernel = Kernel {
    module: MODULE,
    entry: "scores",
    bindings: &[PARAMS, Q, K, S],
};
/// Row softmax of S in place.
pub const SOFTMAX_ROWS: Kernel = Kernel {
    module: MODULE,
    entry: "softmax_rows",
    bindings: &[PARAMS, S],
};
/// O = P·V.
pub const PV: Kernel = Kernel {
    module: MODULE,
    entry: "pv",
    bindings: &[PARAMS, V, S, O],
};
/// Pools the stored matrix for the heatmap.
pub const POOL_MATRIX: Kernel = Kernel {
    module: MODULE,
    entry: "pool_matrix",
    bindings: &[PARAMS, S, MAP],
};
/// The simple fused kernel (one key per thread).
pub const FUSED_SIMPLE: Kernel = Kernel {
    module: MODULE,
    entry: "fused_simple",
    bindings: &[PARAMS, Q, K, V, O, STATS],
};
/// Pools the matrix from the simple kernel's row statistics.
pub const POOL_STATS: Kernel = Kernel {
    module: MODULE,
    entry: "pool_stats",
    bindings: &[PARAMS, Q, K, STATS, MAP],
};

/// Every kernel of this family.
pub const KERNELS: &[Kernel] = &[
    SCORES,
    SOFTMAX_ROWS,
    PV,
    POOL_MATRIX,
    FUSED_SIMPLE,
    POOL_STATS,
];

/// The uniform block every entry point reads (`Params` in the shader).
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
}

/// Threads per fused workgroup = keys per tile (`BC` in the shader).
const KEYS_PER_TILE: u32 = 64;
/// Register slots per thread in the fused kernel (`MAX_ACC`).
const MAX_ACC: u32 = 64;

/// Tile sizes of the simple fused kernel (`fused_simple`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FusedTiles {
    /// Query rows per workgroup (`BR`).
    pub rows: u32,
    /// Output columns per thread (`DV_PER_THREAD` = ⌈dᵥ/64⌉).
    pub dv_per_thread: u32,
}

impl FusedTiles {
    /// Workgroup memory the simple kernel needs with these tiles: the staged
    /// queries (rows·d), the probability tile (rows·64) and three per-row
    /// statistics arrays of 64.
    pub fn workgroup_bytes(&self, d: u32) -> u32 {
        4 * (self.rows * d + self.rows * KEYS_PER_TILE + 3 * MAX_ACC)
    }

    /// The largest power-of-two row count ≤ `max_rows` whose registers and
    /// workgroup memory fit.
    pub fn choose(
        d: u32,
        dv: u32,
        max_workgroup_bytes: u32,
        max_rows: u32,
    ) -> Result<FusedTiles, GpuError> {
        let dv_per_thread = dv.div_ceil(KEYS_PER_TILE).max(1);
        let cap = (MAX_ACC / dv_per_thread).min(max_rows.clamp(1, MAX_ACC));
        let mut tiles = FusedTiles {
            rows: 1u32 << (31 - cap.leading_zeros()),
            dv_per_thread,
        };
        while tiles.rows > 1 && tiles.workgroup_bytes(d) > max_workgroup_bytes {
            tiles.rows /= 2;
        }
        let need = tiles.workgroup_bytes(d);
        if need > max_workgroup_bytes {
            return Err(GpuError::TooLarge {
                what: format!("the fused attention kernel at d = {d}"),
                needs: need as u64,
                unit: "bytes of workgroup memory",
                limit_name: "max_compute_workgroup_storage_size",
                limit: max_workgroup_bytes as u64,
            });
        }
        Ok(tiles)
    }
}

/// The fused kernel chosen for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FusedKernel {
    /// `flash` in flash_attention.wgsl (its configuration chosen when it runs).
    Flash,
    /// `attend` in tiled_attention.wgsl with a dense tile list.
    Tiled,
    /// `fused_simple`: one key per thread.
    Simple(FusedTiles),
}

impl FusedKernel {
    /// The kernel for these widths on this device.
    pub fn choose(
        ctx_limit: u32,
        d: u32,
        dv: u32,
        options: &GpuRunOptions,
    ) -> Result<FusedKernel, GpuError> {
        if options.fused != FusedChoice::Simple && TiledTiles::fits(d, dv, ctx_limit) {
            return Ok(FusedKernel::Tiled);
        }
        let rows = options
            .max_rows_per_workgroup
            .unwrap_or(DEFAULT_SIMPLE_ROWS);
        FusedTiles::choose(d, dv, ctx_limit, rows).map(FusedKernel::Simple)
    }

    /// The kernel for these widths on this adapter: the flash kernel where
    /// it covers them (and `options` leave the choice to the adapter), else
    /// as [`Self::choose`].
    pub fn choose_on(
        ctx: &GpuContext,
        d: u32,
        dv: u32,
        options: &GpuRunOptions,
    ) -> Result<FusedKernel, GpuError> {
        if options.fused == FusedChoice::Auto
            && flash_attention::covers(ctx, d as usize, dv as usize)
        {
            return Ok(FusedKernel::Flash);
        }
        Self::choose(
            ctx.limits.max_compute_workgroup_storage_size,
            d,
            dv,
            options,
        )
    }

    /// The variant reported in measurements.
    pub fn name(&self) -> String {
        match self {
            FusedKernel::Flash => "flash (FlashAttention-2 tiling)".to_string(),
            FusedKernel::Tiled => {
                format!("register-tiled, {TILE} query rows × {TILE} keys per tile")
            }
            FusedKernel::Simple(t) => format!("simple, {} query rows per workgroup", t.rows),
        }
    }
}

/// Row cap of the simple kernel, measured best on an H100.
const DEFAULT_SIMPLE_ROWS: u32 = 16;

fn to_array(rows: usize, cols: usize, data: Vec<f32>) -> Result<Array2<f32>, GpuError> {
    Array2::from_shape_vec((rows, cols), data).map_err(|e| GpuError::Readback(e.to_string()))
}

/// Global-memory traffic of the materialising path (scores, row softmax, P·V):
/// Q and K read and S written by the scores kernel, S read and P written by
/// the softmax, P and V read and O written by P·V: `4·(2nd + 4n² + 2ndᵥ)`.
pub fn materialized_bytes(n: usize, d: usize, dv: usize) -> u64 {
    let (n, d, dv) = (n as u64, d as u64, dv as u64);
    4 * (2 * n * d + 4 * n * n + 2 * n * dv)
}

/// Whether the n×n matrix is materialised (and, if not, why not).
fn materialize(ctx: &GpuContext, n: usize, options: &GpuRunOptions) -> (bool, Option<String>) {
    let matrix_bytes = (n * n * 4) as u64;
    match options.map_source {
        MapSource::FusedStats => (false, None),
        MapSource::Auto => {
            let fits = check_storage(ctx, "the n×n attention matrix", matrix_bytes)
                .and_then(|_| check_dispatch(ctx, "row softmax", n as u32));
            match fits {
                Ok(()) if matrix_bytes <= MATERIALIZE_CAP_BYTES => (true, None),
                Ok(()) => (
                    false,
                    Some(format!(
                        "the n×n matrix would take {} MiB (over the {} MiB this tool materialises): \
                         the heatmap is pooled from the fused kernel's row statistics instead",
                        matrix_bytes >> 20,
                        MATERIALIZE_CAP_BYTES >> 20
                    )),
                ),
                Err(e) => (
                    false,
                    Some(format!(
                        "{e}: only the fused O(n)-memory kernel runs; the heatmap is pooled from its row statistics"
                    )),
                ),
            }
        }
    }
}

/// Runs exact attention: every limit checked first, Q/K/V uploaded once,
/// the materialising stage when the matrix fits, then the timed fused kernel.
pub async fn run(
    ctx: &GpuContext,
    (q, k, v): (&Array2<f32>, &Array2<f32>, &Array2<f32>),
    causal: bool,
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    let (n, d, dv) = (q.nrows(), q.ncols(), v.ncols());
    let kernel = FusedKernel::choose_on(ctx, d as u32, dv as u32, options)?;
    if let FusedKernel::Simple(t) = kernel {
        check_dispatch(ctx, "fused attention", (n as u32).div_ceil(t.rows))?;
    }
    for (what, len) in [("Q", n * d), ("K", n * d), ("V", n * dv), ("O", n * dv)] {
        check_storage(ctx, what, (len * 4) as u64)?;
    }
    let (materialise, note) = materialize(ctx, n, options);
    let qkv = Qkv::upload(ctx, q, k, v).await?;
    let common = Common::new(ctx, qkv.shape, causal).await?;
    let materialised = if materialise {
        Some(materialized(ctx, &qkv, &common, options).await?)
    } else {
        None
    };
    let mut out = match kernel {
        FusedKernel::Flash => flash(ctx, &qkv, (q, k, v), &common, materialise, options).await?,
        FusedKernel::Tiled => tiled(ctx, &qkv, causal, options).await?,
        FusedKernel::Simple(tiles) => {
            simple(ctx, &qkv, &common, tiles, materialise, options).await?
        }
    };
    if kernel != FusedKernel::Flash {
        out.kernel_variant = kernel.name();
    }
    out.notes.extend(note);
    if let Some((stage, o_mat, map)) = materialised {
        out.stages.push(stage);
        out.other_outputs.push(("materialized".to_string(), o_mat));
        out.artifacts.put(Artifact::Weights(map));
    }
    Ok(out)
}

/// The buffers both untiled paths bind: the parameters, the output, the row
/// statistics and the pooled map.
struct Common {
    params: wgpu::Buffer,
    o: wgpu::Buffer,
    stats: wgpu::Buffer,
    map: wgpu::Buffer,
    cells: usize,
    factor: usize,
    causal: bool,
}

impl Common {
    async fn new(
        ctx: &GpuContext,
        (n, d, dv): (usize, usize, usize),
        causal: bool,
    ) -> Result<Common, GpuError> {
        let (factor, cells) = AttentionMap::geometry(n);
        let params = Params {
            n: n as u32,
            n_keys: n as u32,
            d: d as u32,
            dv: dv as u32,
            scale: 1.0 / (d as f32).sqrt(),
            causal: causal as u32,
            factor: factor as u32,
            cells: cells as u32,
        };
        scoped(ctx, "allocating exact attention", || {
            Ok(Common {
                params: buffers::uniform(ctx, "attention.params", &params),
                o: buffers::storage(ctx, "attention.o", n * dv)?,
                stats: buffers::storage(ctx, "attention.row_stats", 2 * n)?,
                map: buffers::storage(ctx, "attention.map", cells * cells)?,
                cells,
                factor,
                causal,
            })
        })
        .await
    }

    fn named<'a>(
        &'a self,
        qkv: &'a Qkv,
        s: &'a wgpu::Buffer,
        o: &'a wgpu::Buffer,
    ) -> [(&'static str, &'a wgpu::Buffer); 8] {
        [
            ("params", &self.params),
            ("q", &qkv.q),
            ("k", &qkv.k),
            ("v", &qkv.v),
            ("s", s),
            ("o", o),
            ("stats", &self.stats),
            ("map", &self.map),
        ]
    }

    fn map(&self, n: usize, values: Vec<f32>) -> AttentionMap {
        AttentionMap {
            n,
            factor: self.factor,
            cells: self.cells,
            values,
        }
    }
}

/// The materialising path as its own program, timed like the fused kernel
/// (warm-up, repeats, median): its stage, its output and its pooled matrix.
async fn materialized(
    ctx: &GpuContext,
    qkv: &Qkv,
    common: &Common,
    options: &GpuRunOptions,
) -> Result<(Stage, Array2<f32>, AttentionMap), GpuError> {
    let (n, _, dv) = qkv.shape;
    let (s, o_mat) = scoped(ctx, "allocating the n×n matrix", || {
        Ok((
            buffers::storage(ctx, "attention.scores", n * n)?,
            buffers::storage(ctx, "attention.o_materialized", n * dv)?,
        ))
    })
    .await?;
    let named = common.named(qkv, &s, &o_mat);
    let tiles = (n as u32).div_ceil(16);
    let mut program = Program::new("materialized attention");
    program.time(Pass::build(ctx, &SCORES, &[], &named, (tiles, tiles)).await?);
    program.time(Pass::build(ctx, &SOFTMAX_ROWS, &[], &named, (n as u32, 1)).await?);
    program.time(Pass::build(ctx, &PV, &[], &named, ((dv as u32).div_ceil(16), tiles)).await?);
    let cells = (common.cells as u32).div_ceil(16);
    program.view(Pass::build(ctx, &POOL_MATRIX, &[], &named, (cells, cells)).await?);
    let timed = program.run(ctx, options.repeats).await?;
    let o = to_array(n, dv, buffers::read_f32(ctx, &o_mat, n * dv).await?)?;
    let map = common.map(
        n,
        buffers::read_f32(ctx, &common.map, common.cells * common.cells).await?,
    );
    let stage = Stage {
        name: format!(
            "materialized: scores + row softmax + P·V (median of {} after a warm-up)",
            timed.samples.len()
        ),
        time_ms: median(&timed.samples),
        time_ms_samples: timed.samples,
        timing: timed.timing,
        bytes: materialized_bytes(n, qkv.shape.1, dv),
        memory_bytes: qkv.bytes() + ((n * n + n * dv) * 4) as u64,
    };
    Ok((stage, o, map))
}

/// The register-tiled fused kernel over the dense mask (its pooled weights
/// and pattern come with it).
async fn tiled(
    ctx: &GpuContext,
    qkv: &Qkv,
    causal: bool,
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    let (n, d, dv) = qkv.shape;
    let shape = TiledShape {
        n,
        d,
        dv,
        causal,
        scale: 1.0 / (d as f32).sqrt(),
    };
    let mut prepared = Tiled::prepare(ctx, Layout::Masked(&Dense), shape, qkv).await?;
    let memory = qkv.bytes() + prepared.program.memory_bytes;
    let tile_pairs = prepared.tile_pairs;
    let program = std::mem::replace(&mut prepared.program, Program::new(""));
    let (_, timed) = options.run(ctx, program).await?;
    let mut out = GpuOutput::new(
        KernelKind::Fused,
        String::new(),
        prepared.output(ctx).await?,
        timed,
        memory,
    );
    out.artifacts = prepared.artifacts(ctx).await?;
    out.tile_pairs = Some(tile_pairs);
    Ok(out)
}

/// The flash kernel on one head, over the buffers of `qkv` (its
/// configuration chosen by the autotuner's policy in `options`); when the
/// matrix was not materialised, its row statistics pool the heatmap.
async fn flash(
    ctx: &GpuContext,
    qkv: &Qkv,
    (q, k, v): (&Array2<f32>, &Array2<f32>, &Array2<f32>),
    common: &Common,
    materialised: bool,
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    let (qh, kh, vh) = (row_major(q), row_major(k), row_major(v));
    let bufs = FlashBuffers::for_qkv(ctx, qkv, (&qh, &kh, &vh), common.causal).await?;
    let views = (!materialised).then_some((common, &qkv.q, &qkv.k));
    run_flash(ctx, bufs, views, qkv.bytes(), options).await
}

/// Exact attention over B·H heads in one dispatch of the flash kernel:
/// stacked `[B·H, n, d]` Q, K and `[B·H, n, dᵥ]` V in, the output
/// `[B·H·n, dᵥ]` out, head 0's weights pooled for the views from its row
/// statistics. Widths the flash kernel does not cover (d or dᵥ > 128, or no
/// configuration fitting the adapter) are refused with the reason.
pub async fn run_heads(
    ctx: &GpuContext,
    shape: FlashShape,
    (q, k, v): (&[f32], &[f32], &[f32]),
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    let FlashShape { n, d, dv, .. } = shape;
    let bufs = FlashBuffers::upload(ctx, shape, (q, k, v)).await?;
    let common = Common::new(ctx, (n, d, dv), shape.causal).await?;
    // pool_stats reads head 0's Q and K unpadded.
    let (q0, k0) = scoped(ctx, "uploading head 0 for the views", || {
        Ok((
            buffers::upload(ctx, "heads.q0", &q[..n * d])?,
            buffers::upload(ctx, "heads.k0", &k[..n * d])?,
        ))
    })
    .await?;
    run_flash(ctx, bufs, Some((&common, &q0, &k0)), 0, options).await
}

/// Chooses the configuration, records and runs the flash kernel over `bufs`
/// (with, if `views` are given, `pool_stats` of head 0 from the row
/// statistics as a view pass), and reads the output back. `inputs_bytes`:
/// device memory of inputs the buffers reuse.
async fn run_flash(
    ctx: &GpuContext,
    bufs: FlashBuffers,
    views: Option<(&Common, &wgpu::Buffer, &wgpu::Buffer)>,
    inputs_bytes: u64,
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    let shape = bufs.shape;
    let (config, chosen) = flash_attention::choose(ctx, shape, options).await?;
    let mut program = flash_attention::record(ctx, &bufs, config).await?;
    let key = super::autotune::bucket(shape.d, shape.dv)
        .map(|b| super::autotune::key(ctx, b, shape.causal))
        .unwrap_or_default();
    let mut notes = vec![chosen.note(&key)];
    if let Some((common, q, k)) = views {
        let named = [
            ("params", &common.params),
            ("q", q),
            ("k", k),
            ("stats", &bufs.stats),
            ("map", &common.map),
        ];
        let cells = (common.cells as u32).div_ceil(16);
        program.view(Pass::build(ctx, &POOL_STATS, &[], &named, (cells, cells)).await?);
        notes.push(format!(
            "the heatmap is pooled from the flash kernel's row statistics{} (untimed work for the view)",
            if shape.heads > 1 { " of head 0" } else { "" }
        ));
    }
    let (_, timed) = options.run(ctx, program).await?;
    let output = to_array(shape.heads * shape.n, shape.dv, bufs.output(ctx).await?)?;
    let mut out = GpuOutput::new(
        KernelKind::Fused,
        flash_attention::variant(config, &chosen),
        output,
        timed,
        inputs_bytes + bufs.bytes,
    );
    out.notes = notes;
    if let Some((common, _, _)) = views {
        let values = buffers::read_f32(ctx, &common.map, common.cells * common.cells).await?;
        out.artifacts
            .put(Artifact::Weights(common.map(shape.n, values)));
    }
    out.tile_pairs = Some(flash_attention::evaluated_pairs(shape, config));
    out.executed = Some(flash_attention::executed(shape, config));
    Ok(out)
}

/// The simple fused kernel; when the matrix was not materialised, its row
/// statistics pool the heatmap (a view pass). It reports its own executed
/// work, which the method's cost (the tiled kernel's) does not describe.
async fn simple(
    ctx: &GpuContext,
    qkv: &Qkv,
    common: &Common,
    tiles: FusedTiles,
    materialised: bool,
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    let (n, d, dv) = qkv.shape;
    let constants = [
        ("BR", tiles.rows as f64),
        ("D", d as f64),
        ("DV_PER_THREAD", tiles.dv_per_thread as f64),
    ];
    let named = common.named(qkv, &common.o, &common.o);
    let mut program = Program::new("fused attention");
    program.time(
        Pass::build(
            ctx,
            &FUSED_SIMPLE,
            &constants,
            &named,
            ((n as u32).div_ceil(tiles.rows), 1),
        )
        .await?,
    );
    let mut notes = Vec::new();
    if !materialised {
        let cells = (common.cells as u32).div_ceil(16);
        program.view(Pass::build(ctx, &POOL_STATS, &[], &named, (cells, cells)).await?);
        notes.push("the heatmap is pooled from the fused kernel's row statistics (untimed work for the view)".to_string());
    }
    let (_, timed): (Program, Timed) = options.run(ctx, program).await?;
    let output = to_array(n, dv, buffers::read_f32(ctx, &common.o, n * dv).await?)?;
    let memory = qkv.bytes() + ((n * dv + 2 * n) * 4) as u64;
    let mut out = GpuOutput::new(KernelKind::Fused, String::new(), output, timed, memory);
    out.notes = notes;
    if !materialised {
        let values = buffers::read_f32(ctx, &common.map, common.cells * common.cells).await?;
        out.artifacts.put(Artifact::Weights(common.map(n, values)));
    }
    let mut work = Work::default();
    work.add(
        format!("fused_simple, {} query rows per workgroup", tiles.rows),
        work::fused_simple(
            n as u64,
            d as u64,
            dv as u64,
            tiles.rows as u64,
            common.causal,
        ),
    );
    out.executed = Some(work.counted(
        "per workgroup and 64-key tile 2·rows·keys·(d + dᵥ) + rows·(389 + 64⌈dᵥ/64⌉); per row 64 + dᵥ",
        "4(nd + ndᵥ + 2n) + K and V re-read by every workgroup",
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tiled_kernel_is_chosen_where_it_fits() {
        let options = GpuRunOptions::default();
        assert_eq!(
            FusedKernel::choose(49152, 64, 64, &options).unwrap(),
            FusedKernel::Tiled
        );
        assert!(matches!(
            FusedKernel::choose(49152, 256, 256, &options).unwrap(),
            FusedKernel::Simple(_)
        ));
        let simple = GpuRunOptions {
            fused: FusedChoice::Simple,
            ..options
        };
        assert!(matches!(
            FusedKernel::choose(49152, 64, 64, &simple).unwrap(),
            FusedKernel::Simple(_)
        ));
    }

    #[test]
    fn tiles_fit_registers_and_workgroup_memory() {
        let t = FusedTiles::choose(64, 64, 16384, 16).unwrap();
        assert_eq!(
            t,
            FusedTiles {
                rows: 16,
                dv_per_thread: 1
            }
        );
        assert!(t.workgroup_bytes(64) <= 16384);
        let wide = FusedTiles::choose(256, 256, 16384, 64).unwrap();
        assert_eq!(wide.dv_per_thread, 4);
        assert!(wide.rows * wide.dv_per_thread <= MAX_ACC);
        assert!(wide.workgroup_bytes(256) <= 16384);
        assert_eq!(FusedTiles::choose(40, 1, 1 << 20, 64).unwrap().rows, 64);
        assert_eq!(FusedTiles::choose(40, 1, 1 << 20, 20).unwrap().rows, 16);
        assert!(FusedTiles::choose(256, 256, 1024, 16).is_err());
    }
}

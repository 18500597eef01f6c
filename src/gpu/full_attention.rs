//! Host side of `full_attention.wgsl`: exact softmax attention (Vaswani et al.
//! 2017, survey Eq. 3) on the GPU, by two paths that must agree with the CPU
//! twin in `attention/full.rs`:
//!
//! * **materialising** — `scores` → `softmax_rows` → `pv`, which stores the
//!   n×n matrix (4n² bytes) and pools it for the heatmap. It runs only when
//!   that matrix fits the adapter's `max_storage_buffer_binding_size` and
//!   [`super::MATERIALIZE_CAP_BYTES`];
//! * **fused** — FlashAttention-style online softmax (Dao et al. 2022): for
//!   each key tile, m' = max(m, maxⱼ sᵢⱼ), l' = e^{m−m'}·l + Σⱼ e^{sᵢⱼ−m'},
//!   acc' = e^{m−m'}·acc + Σⱼ e^{sᵢⱼ−m'}·vⱼ, and O = acc / l at the end. Its
//!   memory is O(n); it is the kernel that is timed, and at any n whose n×n
//!   matrix does not fit, its row statistics (m, l) feed `pool_stats`, which
//!   recomputes the pooled map tile by tile without storing n² values.

use bytemuck::{Pod, Zeroable};
use ndarray::Array2;
use web_time::Instant;

use super::buffers::{self, Timestamps, check_dispatch, check_storage, scoped};
use super::{
    FusedChoice, GpuContext, GpuError, GpuOutput, GpuRunOptions, MATERIALIZE_CAP_BYTES, MapSource,
};
use crate::attention::Shape;
use crate::attention::full::materialized_bytes;
use crate::measure::{AttentionMap, Stage, Timing};

const MODULE: &str = "full_attention";
/// Threads per fused workgroup = keys per tile (`BC` in the shader).
const KEYS_PER_TILE: u32 = 64;
/// Register slots per thread in the fused kernel (`MAX_ACC`).
const MAX_ACC: u32 = 64;

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
                bytes: need as u64,
                limit_name: "max_compute_workgroup_storage_size",
                limit: max_workgroup_bytes as u64,
            });
        }
        Ok(tiles)
    }
}

/// The register-tiled fused kernel (`fused`): 32 query rows per workgroup of
/// 128 threads, key tiles of 32, for d and dᵥ up to 128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TiledTiles;

impl TiledTiles {
    /// Query rows per workgroup (`TQ`).
    pub const ROWS: u32 = 32;
    /// Keys per tile (`TK`).
    pub const KEYS: u32 = 32;
    /// Widest d or dᵥ (four vec4 output columns per thread).
    pub const MAX_WIDTH: u32 = 128;

    /// Workgroup memory: Q rows and one K-or-V tile as padded vec4 rows,
    /// the padded probability tile (32 × 33) and the partial maxima and sums
    /// (2 × 32 × 8).
    pub fn workgroup_bytes(d: u32, dv: u32) -> u32 {
        let (d4, dv4) = (d.div_ceil(4), dv.div_ceil(4));
        16 * (Self::ROWS * (d4 + 1) + Self::KEYS * (d4.max(dv4) + 1))
            + 4 * (Self::ROWS * (Self::KEYS + 1) + 2 * Self::ROWS * 8)
    }

    /// Whether the tiled kernel can run these widths within this much
    /// workgroup memory.
    pub fn fits(d: u32, dv: u32, max_workgroup_bytes: u32) -> bool {
        d <= Self::MAX_WIDTH
            && dv <= Self::MAX_WIDTH
            && Self::workgroup_bytes(d, dv) <= max_workgroup_bytes
    }
}

/// The fused kernel chosen for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FusedKernel {
    /// `fused`: register-tiled.
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
        if options.fused == FusedChoice::Auto && TiledTiles::fits(d, dv, ctx_limit) {
            return Ok(FusedKernel::Tiled);
        }
        let rows = options
            .max_rows_per_workgroup
            .unwrap_or(DEFAULT_SIMPLE_ROWS);
        FusedTiles::choose(d, dv, ctx_limit, rows).map(FusedKernel::Simple)
    }

    /// Query rows per workgroup.
    pub fn rows(&self) -> u32 {
        match self {
            FusedKernel::Tiled => TiledTiles::ROWS,
            FusedKernel::Simple(t) => t.rows,
        }
    }

    /// The variant reported in measurements.
    pub fn name(&self) -> String {
        match self {
            FusedKernel::Tiled => format!(
                "register-tiled, {} query rows × {} keys per tile",
                TiledTiles::ROWS,
                TiledTiles::KEYS
            ),
            FusedKernel::Simple(t) => format!("simple, {} query rows per workgroup", t.rows),
        }
    }
}

/// Row cap of the simple kernel, measured best on an H100.
const DEFAULT_SIMPLE_ROWS: u32 = 16;

struct Pipelines {
    scores: wgpu::ComputePipeline,
    softmax_rows: wgpu::ComputePipeline,
    pv: wgpu::ComputePipeline,
    pool_matrix: wgpu::ComputePipeline,
    fused: wgpu::ComputePipeline,
    pool_stats: wgpu::ComputePipeline,
}

async fn pipelines(
    ctx: &GpuContext,
    layout: &wgpu::PipelineLayout,
    kernel: FusedKernel,
    d: u32,
    dv: u32,
) -> Result<Pipelines, GpuError> {
    let source = || wgpu::include_wgsl!("full_attention.wgsl");
    let plain = |entry: &'static str| ctx.pipeline(MODULE, source, layout, entry, &[]);
    let fused = match kernel {
        FusedKernel::Tiled => {
            let constants = [("D4", d.div_ceil(4) as f64), ("DV4", dv.div_ceil(4) as f64)];
            ctx.pipeline(MODULE, source, layout, "fused", &constants)
                .await?
        }
        FusedKernel::Simple(t) => {
            let constants = [
                ("BR", t.rows as f64),
                ("D", d as f64),
                ("DV_PER_THREAD", t.dv_per_thread as f64),
            ];
            ctx.pipeline(MODULE, source, layout, "fused_simple", &constants)
                .await?
        }
    };
    Ok(Pipelines {
        scores: plain("scores").await?,
        softmax_rows: plain("softmax_rows").await?,
        pv: plain("pv").await?,
        pool_matrix: plain("pool_matrix").await?,
        fused,
        pool_stats: plain("pool_stats").await?,
    })
}

fn dispatch(
    encoder: &mut wgpu::CommandEncoder,
    label: &str,
    pipeline: &wgpu::ComputePipeline,
    group: &wgpu::BindGroup,
    groups: (u32, u32),
    timestamps: Option<wgpu::ComputePassTimestampWrites<'_>>,
) {
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some(label),
        timestamp_writes: timestamps,
    });
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, group, &[]);
    pass.dispatch_workgroups(groups.0, groups.1, 1);
}

/// The elements of `a` in row-major order, borrowed when already contiguous.
fn row_major(a: &Array2<f32>) -> std::borrow::Cow<'_, [f32]> {
    match a.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().copied().collect()),
    }
}

fn to_array(rows: usize, cols: usize, data: Vec<f32>) -> Result<Array2<f32>, GpuError> {
    Array2::from_shape_vec((rows, cols), data).map_err(|e| GpuError::Readback(e.to_string()))
}

/// Runs exact attention on the GPU: the materialising path (when the n×n
/// matrix fits) for the heatmap and a cross-check, and the fused kernel,
/// timed over `options.repeats` runs after a warm-up.
pub async fn run(
    ctx: &GpuContext,
    inputs: &crate::inputs::Inputs,
    causal: bool,
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    let (n, d, dv) = (inputs.n(), inputs.d(), inputs.dv());
    let shape = Shape { n, d, dv, causal };
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

    // Every limit is checked before anything is allocated.
    let kernel = FusedKernel::choose(
        ctx.limits.max_compute_workgroup_storage_size,
        d as u32,
        dv as u32,
        options,
    )?;
    let fused_groups = (n as u32).div_ceil(kernel.rows());
    check_dispatch(ctx, "fused attention", fused_groups)?;
    for (what, len) in [("Q", n * d), ("K", n * d), ("V", n * dv), ("O", n * dv)] {
        check_storage(ctx, what, (len * 4) as u64)?;
    }
    let matrix_bytes = (n * n * 4) as u64;
    let mut notes = Vec::new();
    let materialize = match options.map_source {
        MapSource::FusedStats => false,
        MapSource::Auto => {
            let fits = check_storage(ctx, "the n×n attention matrix", matrix_bytes)
                .and_then(|_| check_dispatch(ctx, "row softmax", n as u32));
            match fits {
                Ok(()) if matrix_bytes <= MATERIALIZE_CAP_BYTES => true,
                Ok(()) => {
                    notes.push(format!(
                        "the n×n matrix would take {} MiB (over the {} MiB this tool materialises): \
                         the heatmap is pooled from the fused kernel's row statistics instead",
                        matrix_bytes >> 20,
                        MATERIALIZE_CAP_BYTES >> 20
                    ));
                    false
                }
                Err(e) => {
                    notes.push(format!(
                        "{e}: only the fused O(n)-memory kernel runs; the heatmap is pooled from its row statistics"
                    ));
                    false
                }
            }
        }
    };

    let (group_layout, pipeline_layout) = ctx.layout(
        "full_attention.bindings",
        &[false, false, false, true, true, true, true],
    );
    let pipes = pipelines(ctx, &pipeline_layout, kernel, d as u32, dv as u32).await?;

    let (q_buf, k_buf, v_buf, params_buf, o_buf, stats_buf, map_buf, unused_buf) =
        scoped(ctx, "uploading attention inputs", || {
            Ok((
                buffers::upload(ctx, "attention.q", &row_major(&inputs.q))?,
                buffers::upload(ctx, "attention.k", &row_major(&inputs.k))?,
                buffers::upload(ctx, "attention.v", &row_major(&inputs.v))?,
                buffers::uniform(ctx, "attention.params", &params),
                buffers::storage(ctx, "attention.o", n * dv)?,
                buffers::storage(ctx, "attention.row_stats", 2 * n)?,
                buffers::storage(ctx, "attention.map", cells * cells)?,
                buffers::storage(ctx, "attention.unused", 1)?,
            ))
        })
        .await?;
    let input_bytes = ((2 * n * d + n * dv) * 4) as u64;
    let fused_memory = input_bytes + ((n * dv + 2 * n) * 4) as u64;

    let mut stages = Vec::new();
    let mut other_outputs = Vec::new();
    let mut map_values = None;

    if materialize {
        let (s_buf, o_mat_buf) = scoped(ctx, "allocating the n×n matrix", || {
            Ok((
                buffers::storage(ctx, "attention.scores", n * n)?,
                buffers::storage(ctx, "attention.o_materialized", n * dv)?,
            ))
        })
        .await?;
        let group = buffers::bind_group(
            ctx,
            "attention.materialized",
            &group_layout,
            &[
                &params_buf,
                &q_buf,
                &k_buf,
                &v_buf,
                &s_buf,
                &o_mat_buf,
                &stats_buf,
                &map_buf,
            ],
        );
        let timestamps = Timestamps::new(ctx, "attention.materialized.timestamps", 3);
        let tile_groups = (n as u32).div_ceil(16);
        let started = Instant::now();
        scoped(ctx, "materialized attention", || {
            let mut enc = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("attention.materialized"),
                });
            let ts = |i| timestamps.as_ref().map(|t| t.writes(i));
            dispatch(
                &mut enc,
                "attention.scores",
                &pipes.scores,
                &group,
                (tile_groups, tile_groups),
                ts(0),
            );
            dispatch(
                &mut enc,
                "attention.softmax_rows",
                &pipes.softmax_rows,
                &group,
                (n as u32, 1),
                ts(1),
            );
            dispatch(
                &mut enc,
                "attention.pv",
                &pipes.pv,
                &group,
                ((dv as u32).div_ceil(16), tile_groups),
                ts(2),
            );
            let map_groups = (cells as u32).div_ceil(16);
            dispatch(
                &mut enc,
                "attention.pool_matrix",
                &pipes.pool_matrix,
                &group,
                (map_groups, map_groups),
                None,
            );
            if let Some(t) = &timestamps {
                t.resolve(&mut enc);
            }
            ctx.queue.submit([enc.finish()]);
            Ok(())
        })
        .await?;
        let o_mat = buffers::read_f32(ctx, &o_mat_buf, n * dv).await?;
        let wall_ms = started.elapsed().as_secs_f64() * 1e3;
        map_values = Some(buffers::read_f32(ctx, &map_buf, cells * cells).await?);
        let time_ms = match &timestamps {
            Some(t) => t.read_ms(ctx).await?.iter().sum(),
            None => wall_ms,
        };
        stages.push(Stage {
            name: "materialized: scores + row softmax + P·V (one run)".into(),
            time_ms,
            bytes: materialized_bytes(shape),
            memory_bytes: input_bytes + matrix_bytes + (n * dv * 4) as u64,
        });
        other_outputs.push(("materialized".to_string(), to_array(n, dv, o_mat)?));
    }

    // The fused kernel: one warm-up, then the timed repeats.
    let group = buffers::bind_group(
        ctx,
        "attention.fused",
        &group_layout,
        &[
            &params_buf,
            &q_buf,
            &k_buf,
            &v_buf,
            &unused_buf,
            &o_buf,
            &stats_buf,
            &map_buf,
        ],
    );
    let repeats = options.repeats.max(1);
    let timestamps = Timestamps::new(ctx, "attention.fused.timestamps", repeats);
    let record = |timed: Option<u32>| {
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("attention.fused"),
            });
        let ts = timed.and_then(|i| timestamps.as_ref().map(|t| t.writes(i)));
        dispatch(
            &mut enc,
            "attention.fused",
            &pipes.fused,
            &group,
            (fused_groups, 1),
            ts,
        );
        enc
    };
    let samples = match &timestamps {
        Some(t) => {
            scoped(ctx, "fused attention", || {
                let mut encoders = vec![record(None).finish()];
                encoders.extend((0..repeats).map(|i| record(Some(i)).finish()));
                let mut resolve = ctx.device.create_command_encoder(&Default::default());
                t.resolve(&mut resolve);
                encoders.push(resolve.finish());
                ctx.queue.submit(encoders);
                Ok(())
            })
            .await?;
            t.read_ms(ctx).await?
        }
        None => {
            scoped(ctx, "fused attention (warm-up)", || {
                ctx.queue.submit([record(None).finish()]);
                Ok(())
            })
            .await?;
            buffers::wait_idle(ctx).await?;
            let mut samples = Vec::new();
            for _ in 0..repeats {
                let started = Instant::now();
                ctx.queue.submit([record(None).finish()]);
                buffers::wait_idle(ctx).await?;
                samples.push(started.elapsed().as_secs_f64() * 1e3);
            }
            samples
        }
    };

    let map_values = match map_values {
        Some(values) => values,
        None => {
            let started = Instant::now();
            scoped(ctx, "pooling the attention map", || {
                let mut enc = ctx
                    .device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("attention.pool_stats"),
                    });
                let map_groups = (cells as u32).div_ceil(16);
                dispatch(
                    &mut enc,
                    "attention.pool_stats",
                    &pipes.pool_stats,
                    &group,
                    (map_groups, map_groups),
                    None,
                );
                ctx.queue.submit([enc.finish()]);
                Ok(())
            })
            .await?;
            let values = buffers::read_f32(ctx, &map_buf, cells * cells).await?;
            stages.push(Stage {
                name: "heatmap pooled from the fused kernel's row statistics".into(),
                time_ms: started.elapsed().as_secs_f64() * 1e3,
                bytes: 0,
                memory_bytes: ((cells * cells + 2 * n) * 4) as u64,
            });
            values
        }
    };
    let output = to_array(n, dv, buffers::read_f32(ctx, &o_buf, n * dv).await?)?;
    let uncaptured = ctx.take_uncaptured_errors();
    if !uncaptured.is_empty() {
        return Err(GpuError::Device {
            stage: "attention".into(),
            message: uncaptured.join("; "),
        });
    }
    Ok(GpuOutput {
        output,
        other_outputs,
        map: AttentionMap {
            n,
            factor,
            cells,
            values: map_values,
        },
        kernel: "fused".into(),
        kernel_variant: kernel.name(),
        time_ms_samples: samples,
        timing: if timestamps.is_some() {
            Timing::GpuTimestamp
        } else {
            Timing::WallClock
        },
        memory_bytes: fused_memory,
        stages,
        notes,
    })
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

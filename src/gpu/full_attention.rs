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

use super::buffers::{self, check_dispatch, check_storage, dispatch, scoped};
use super::tiled_attention::{Layout, Prepared, TILE, TiledTiles, row_major, timed};
use super::{
    FusedChoice, GpuContext, GpuError, GpuOutput, GpuRunOptions, MATERIALIZE_CAP_BYTES, MapSource,
};
use crate::attention::Shape;
use crate::attention::full::materialized_bytes;
use crate::attention::pattern::Pattern;
use crate::measure::{AttentionMap, Stage};

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
        if options.fused == FusedChoice::Auto && TiledTiles::fits(d, dv, ctx_limit) {
            return Ok(FusedKernel::Tiled);
        }
        let rows = options
            .max_rows_per_workgroup
            .unwrap_or(DEFAULT_SIMPLE_ROWS);
        FusedTiles::choose(d, dv, ctx_limit, rows).map(FusedKernel::Simple)
    }

    /// The variant reported in measurements.
    pub fn name(&self) -> String {
        match self {
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
    if let FusedKernel::Simple(t) = kernel {
        check_dispatch(ctx, "fused attention", (n as u32).div_ceil(t.rows))?;
    }
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
    let source = || wgpu::include_wgsl!("full_attention.wgsl");
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

    let mut stages = Vec::new();
    let mut other_outputs = Vec::new();
    let mut map_values = None;

    if materialize {
        let plain =
            |entry: &'static str| ctx.pipeline(MODULE, source, &pipeline_layout, entry, &[]);
        let (scores, softmax_rows, pv, pool_matrix) = (
            plain("scores").await?,
            plain("softmax_rows").await?,
            plain("pv").await?,
            plain("pool_matrix").await?,
        );
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
        // Timed like the fused kernel: a warm-up, then the repeats, each the
        // three passes scores → softmax → P·V spanned by one timestamp pair.
        let tile_groups = (n as u32).div_ceil(16);
        let (samples, timing) = timed(ctx, options.repeats.max(1), |enc, ts| {
            let span = |first, last| ts.and_then(|(t, slot)| t.span(slot, first, last));
            dispatch(
                enc,
                "attention.scores",
                &scores,
                &group,
                (tile_groups, tile_groups),
                span(true, false),
            );
            dispatch(
                enc,
                "attention.softmax_rows",
                &softmax_rows,
                &group,
                (n as u32, 1),
                None,
            );
            dispatch(
                enc,
                "attention.pv",
                &pv,
                &group,
                ((dv as u32).div_ceil(16), tile_groups),
                span(false, true),
            );
        })
        .await?;
        scoped(ctx, "pooling the attention matrix", || {
            let mut enc = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("attention.pool_matrix"),
                });
            let map_groups = (cells as u32).div_ceil(16);
            dispatch(
                &mut enc,
                "attention.pool_matrix",
                &pool_matrix,
                &group,
                (map_groups, map_groups),
                None,
            );
            ctx.queue.submit([enc.finish()]);
            Ok(())
        })
        .await?;
        let o_mat = buffers::read_f32(ctx, &o_mat_buf, n * dv).await?;
        map_values = Some(buffers::read_f32(ctx, &map_buf, cells * cells).await?);
        stages.push(Stage {
            name: format!(
                "materialized: scores + row softmax + P·V (median of {} after a warm-up)",
                samples.len()
            ),
            time_ms: crate::measure::median(&samples),
            time_ms_samples: samples,
            timing,
            bytes: materialized_bytes(shape),
            memory_bytes: input_bytes + matrix_bytes + (n * dv * 4) as u64,
        });
        other_outputs.push(("materialized".to_string(), to_array(n, dv, o_mat)?));
    }

    // The fused kernel: one warm-up, then the timed repeats.
    let repeats = options.repeats.max(1);
    let (output, samples, timing, memory_bytes, pattern_map, tile_pairs) = match kernel {
        FusedKernel::Tiled => {
            let layout = Layout::Structured(Pattern::Dense);
            let prepared = Prepared::new(
                ctx,
                &layout,
                causal,
                (n, d, dv),
                params.scale,
                &q_buf,
                &k_buf,
                &v_buf,
            )
            .await?;
            let (samples, timing) = timed(ctx, repeats, |enc, ts| prepared.record(enc, ts)).await?;
            scoped(ctx, "pooling the views", || {
                let mut enc = ctx
                    .device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("attention.pools"),
                    });
                prepared.record_pools(&mut enc);
                ctx.queue.submit([enc.finish()]);
                Ok(())
            })
            .await?;
            let (weights, pattern) = prepared.maps(ctx).await?;
            if map_values.is_none() {
                map_values = Some(weights.values);
            }
            let output = prepared.output(ctx).await?;
            (
                output,
                samples,
                timing,
                input_bytes + prepared.memory_bytes,
                Some(pattern),
                Some(prepared.tile_pairs),
            )
        }
        FusedKernel::Simple(tiles) => {
            let constants = [
                ("BR", tiles.rows as f64),
                ("D", d as f64),
                ("DV_PER_THREAD", tiles.dv_per_thread as f64),
            ];
            let fused = ctx
                .pipeline(MODULE, source, &pipeline_layout, "fused_simple", &constants)
                .await?;
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
            let groups = ((n as u32).div_ceil(tiles.rows), 1);
            let (samples, timing) = timed(ctx, repeats, |enc, ts| {
                let writes = ts.and_then(|(t, slot)| t.span(slot, true, true));
                dispatch(
                    enc,
                    "attention.fused_simple",
                    &fused,
                    &group,
                    groups,
                    writes,
                );
            })
            .await?;
            if map_values.is_none() {
                let pool_stats = ctx
                    .pipeline(MODULE, source, &pipeline_layout, "pool_stats", &[])
                    .await?;
                scoped(ctx, "pooling the attention map", || {
                    let mut enc =
                        ctx.device
                            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                                label: Some("attention.pool_stats"),
                            });
                    let map_groups = (cells as u32).div_ceil(16);
                    dispatch(
                        &mut enc,
                        "attention.pool_stats",
                        &pool_stats,
                        &group,
                        (map_groups, map_groups),
                        None,
                    );
                    ctx.queue.submit([enc.finish()]);
                    Ok(())
                })
                .await?;
                map_values = Some(buffers::read_f32(ctx, &map_buf, cells * cells).await?);
                notes.push(
                    "the heatmap is pooled from the fused kernel's row statistics (untimed work for the view)"
                        .into(),
                );
            }
            let output = to_array(n, dv, buffers::read_f32(ctx, &o_buf, n * dv).await?)?;
            (
                output,
                samples,
                timing,
                input_bytes + ((n * dv + 2 * n) * 4) as u64,
                None,
                None,
            )
        }
    };
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
            values: map_values.unwrap_or_default(),
        },
        kernel: "fused".into(),
        kernel_variant: kernel.name(),
        time_ms_samples: samples,
        timing,
        memory_bytes,
        stages,
        notes,
        pattern_map,
        lsh: None,
        tile_pairs,
        factor_map: None,
        executed: match kernel {
            FusedKernel::Tiled => None,
            FusedKernel::Simple(t) => {
                let mut work = super::work::Work::default();
                work.add(
                    format!("fused_simple, {} query rows per workgroup", t.rows),
                    super::work::fused_simple(n as u64, d as u64, dv as u64, t.rows as u64, causal),
                );
                Some(work.counted(
                    "per workgroup and 64-key tile 2·rows·keys·(d + dᵥ) + rows·(389 + 64⌈dᵥ/64⌉); per row 64 + dᵥ",
                    "4(nd + ndᵥ + 2n) + K and V re-read by every workgroup",
                ))
            }
        },
    })
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

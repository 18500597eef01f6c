//! Host side of `linear_attention.wgsl`: kernel-based linear attention
//! (Linear Transformer, Performer FAVOR+, cosFormer) in O(n), causal through
//! a parallel scan over chunks of keys; and the implied attention map
//! φ(qᵢ)·φ(kⱼ)/denᵢ pooled tile by tile on the GPU.

use bytemuck::{Pod, Zeroable};

use super::buffers::{self, check_dispatch, scoped};
use super::linalg::{Builder, Mat};
use super::tiled_attention::{row_major, timed};
use super::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::inputs::Inputs;
use crate::measure::AttentionMap;

const MODULE: &str = "linear_attention";
/// Keys per chunk of the causal scan.
pub const CHUNK: usize = 64;
/// Guard on the denominators: Oᵢ = num / (den + ε).
pub const EPS: f32 = 1e-6;
/// Most features `apply` stages in workgroup memory.
pub const MAX_FEATURES: usize = 1024;

/// The feature map φ.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureMap {
    /// elu(x) + 1 (m = d).
    Elu,
    /// FAVOR+ with these random features ω (m × d, row-major).
    Favor {
        /// ω.
        omega: Vec<f32>,
    },
    /// cosFormer's [relu(x)·cos, relu(x)·sin] (m = 2d).
    Cos,
}

impl FeatureMap {
    fn kind(&self) -> u32 {
        match self {
            FeatureMap::Elu => 0,
            FeatureMap::Favor { .. } => 1,
            FeatureMap::Cos => 2,
        }
    }

    /// The number of features m for head width d.
    pub fn features(&self, d: usize) -> usize {
        match self {
            FeatureMap::Elu => d,
            FeatureMap::Favor { omega } => omega.len() / d.max(1),
            FeatureMap::Cos => 2 * d,
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

/// Runs linear attention with `features` on the GPU: the features, the
/// chunk sums, the scan and the output, timed over `options.repeats` runs;
/// then the implied attention map, pooled.
pub async fn run(
    ctx: &GpuContext,
    inputs: &Inputs,
    causal: bool,
    features: &FeatureMap,
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    let (n, d, dv) = (inputs.n(), inputs.d(), inputs.dv());
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
        kind: features.kind(),
        final_half: passes % 2,
        eps: EPS,
        x_scale: (d as f32).powf(-0.25),
        inv_sqrt_m: 1.0 / (m as f32).sqrt(),
        ..Default::default()
    };
    let omega: &[f32] = match features {
        FeatureMap::Favor { omega } => omega,
        _ => &[0.0],
    };
    let sums_len = 2 * chunks * width + 3 * n + 1;
    let (q, k, v, omega_buf, phi_q, phi_k, sums, out) =
        scoped(ctx, "allocating linear attention", || {
            Ok((
                buffers::upload(ctx, "linear.q", &row_major(&inputs.q))?,
                buffers::upload(ctx, "linear.k", &row_major(&inputs.k))?,
                buffers::upload(ctx, "linear.v", &row_major(&inputs.v))?,
                buffers::upload(ctx, "linear.omega", omega)?,
                buffers::storage(ctx, "linear.phi_q", n * m)?,
                buffers::storage(ctx, "linear.phi_k", n * m)?,
                buffers::storage(ctx, "linear.sums", sums_len)?,
                buffers::storage(ctx, "linear.out", n * dv)?,
            ))
        })
        .await?;

    let (layout, pipeline_layout) = ctx.layout(
        "linear_attention.bindings",
        &[false, false, false, false, true, true, true, true],
    );
    let source = || wgpu::include_wgsl!("linear_attention.wgsl");
    let pipeline = |entry: &'static str| ctx.pipeline(MODULE, source, &pipeline_layout, entry, &[]);
    let group = |params: &LinearParams| {
        let uniform = buffers::uniform(ctx, "linear.params", params);
        buffers::bind_group(
            ctx,
            "linear",
            &layout,
            &[
                &uniform, &q, &k, &v, &omega_buf, &phi_q, &phi_k, &sums, &out,
            ],
        )
    };
    let main_group = group(&base);
    let mut steps: Vec<(
        &'static str,
        wgpu::ComputePipeline,
        wgpu::BindGroup,
        (u32, u32),
    )> = Vec::new();
    steps.push((
        "linear.features",
        pipeline("features").await?,
        main_group.clone(),
        entry_grid,
    ));
    if matches!(features, FeatureMap::Favor { .. }) {
        steps.push((
            "linear.favor_row_max",
            pipeline("favor_row_max").await?,
            main_group.clone(),
            ((2 * n).div_ceil(64) as u32, 1),
        ));
        steps.push((
            "linear.favor_key_max",
            pipeline("favor_key_max").await?,
            main_group.clone(),
            (1, 1),
        ));
        steps.push((
            "linear.favor_exp",
            pipeline("favor_exp").await?,
            main_group.clone(),
            entry_grid,
        ));
    }
    let grid = (width.div_ceil(64) as u32, chunks as u32);
    steps.push((
        "linear.chunk_sums",
        pipeline("chunk_sums").await?,
        main_group.clone(),
        grid,
    ));
    let scan = pipeline("scan_step").await?;
    for p in 0..passes {
        let params = LinearParams {
            scan_offset: 1 << p,
            scan_src: p % 2,
            ..base
        };
        steps.push(("linear.scan_step", scan.clone(), group(&params), grid));
    }
    steps.push((
        "linear.apply",
        pipeline("apply").await?,
        main_group.clone(),
        ((n as u32).min(65535), (n as u32).div_ceil(65535)),
    ));

    let repeats = options.repeats.max(1);
    let (samples, timing) = timed(ctx, repeats, |enc, ts| {
        let last = steps.len() - 1;
        for (idx, (label, pipeline, group, groups)) in steps.iter().enumerate() {
            let writes = ts.and_then(|(t, slot)| t.span(slot, idx == 0, idx == last));
            buffers::dispatch(enc, label, pipeline, group, *groups, writes);
        }
    })
    .await?;

    // The implied matrix Aᵢⱼ = φ(qᵢ)·φ(kⱼ)/(denᵢ + ε), pooled.
    let (factor, cells) = AttentionMap::geometry(n);
    let mut views = Builder::new(ctx)?;
    let inv_den = views.zeros("linear.inv_den", n, 1)?;
    let phi_q_mat = Mat {
        buf: phi_q.clone(),
        rows: n as u32,
        cols: m as u32,
    };
    let phi_k_mat = Mat {
        buf: phi_k.clone(),
        rows: n as u32,
        cols: m as u32,
    };
    let pooled = views
        .pool_factored(
            "linear.pool_implied",
            &phi_q_mat,
            &phi_k_mat,
            &inv_den,
            causal,
            factor as u32,
            cells as u32,
        )
        .await?;
    scoped(ctx, "pooling the implied matrix", || {
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("linear.views"),
            });
        enc.copy_buffer_to_buffer(
            &sums,
            ((2 * chunks * width + 2 * n + 1) * 4) as u64,
            &inv_den.buf,
            0,
            (n * 4) as u64,
        );
        views.program.record(&mut enc, None, true, true);
        ctx.queue.submit([enc.finish()]);
        Ok(())
    })
    .await?;
    let map = AttentionMap {
        n,
        factor,
        cells,
        values: buffers::read_f32(ctx, &pooled.buf, cells * cells).await?,
    };
    let output =
        ndarray::Array2::from_shape_vec((n, dv), buffers::read_f32(ctx, &out, n * dv).await?)
            .map_err(|e| GpuError::Readback(e.to_string()))?;
    let features_matrix = phi_q_mat.read(ctx).await?;
    let uncaptured = ctx.take_uncaptured_errors();
    if !uncaptured.is_empty() {
        return Err(GpuError::Device {
            stage: "linear attention".into(),
            message: uncaptured.join("; "),
        });
    }
    let memory_bytes =
        ((2 * n * d + n * dv + omega.len() + 2 * n * m + sums_len + n * dv) * 4) as u64;
    Ok(GpuOutput {
        output,
        other_outputs: Vec::new(),
        map,
        kernel: "linear".into(),
        kernel_variant: format!(
            "φ(Q)·(φ(K)ᵀV), m = {m} features{}",
            if causal {
                format!(", causal by a scan over {chunks} chunks of {CHUNK} keys ({passes} passes)")
            } else {
                String::new()
            }
        ),
        time_ms_samples: samples,
        timing,
        memory_bytes,
        stages: Vec::new(),
        notes: Vec::new(),
        pattern_map: None,
        lsh: None,
        tile_pairs: None,
        factor_map: Some(crate::measure::FactorMap::pool(
            &features_matrix,
            "φ(Q): query features",
            "feature",
        )),
        executed: None,
    })
}

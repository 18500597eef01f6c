//! Host side of `linalg.wgsl`: dense matrices on the GPU and a [`Builder`]
//! that records operations (matmul with transposes, row softmax, the
//! Moore–Penrose iteration's steps, segment means, bias + ReLU) into a
//! [`Program`] — buffers, parameters and bind groups made once, so that a
//! timed run replays only the dispatches.

use bytemuck::{Pod, Zeroable};

use super::buffers::{self, Timestamps, check_dispatch, check_storage, scoped};
use super::{GpuContext, GpuError};
use crate::measure::AttentionMap;

const MODULE: &str = "linalg";

/// A row-major f32 matrix on the GPU.
#[derive(Debug, Clone)]
pub struct Mat {
    /// Its storage buffer.
    pub buf: wgpu::Buffer,
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub cols: u32,
}

impl Mat {
    /// Entries.
    pub fn len(&self) -> usize {
        (self.rows * self.cols) as usize
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads it back as an ndarray.
    pub async fn read(&self, ctx: &GpuContext) -> Result<ndarray::Array2<f32>, GpuError> {
        let data = buffers::read_f32(ctx, &self.buf, self.len()).await?;
        ndarray::Array2::from_shape_vec((self.rows as usize, self.cols as usize), data)
            .map_err(|e| GpuError::Readback(e.to_string()))
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, Default)]
struct OpParams {
    m: u32,
    n: u32,
    k: u32,
    a_cols: u32,
    b_cols: u32,
    ta: u32,
    tb: u32,
    causal: u32,
    alpha: f32,
    beta: f32,
    factor: u32,
    cells: u32,
}

/// One recorded dispatch.
pub struct Step {
    label: &'static str,
    pipeline: wgpu::ComputePipeline,
    group: wgpu::BindGroup,
    groups: (u32, u32),
}

/// A replayable sequence of dispatches.
#[derive(Default)]
pub struct Program {
    steps: Vec<Step>,
}

impl Program {
    /// Records every step; with `timestamps`, pair `slot` gets its beginning
    /// from the first pass when `first` and its end from the last when `last`
    /// (so that programs can be chained under one timing).
    pub fn record(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        timestamps: Option<(&Timestamps, u32)>,
        first: bool,
        last: bool,
    ) {
        let count = self.steps.len();
        for (idx, step) in self.steps.iter().enumerate() {
            let writes = timestamps
                .and_then(|(t, slot)| t.span(slot, first && idx == 0, last && idx + 1 == count));
            buffers::dispatch(
                encoder,
                step.label,
                &step.pipeline,
                &step.group,
                step.groups,
                writes,
            );
        }
    }

    /// Whether it records nothing.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Appends another program's steps.
    pub fn extend(&mut self, other: Program) {
        self.steps.extend(other.steps);
    }
}

/// Records operations into a [`Program`], allocating their outputs.
pub struct Builder<'a> {
    ctx: &'a GpuContext,
    layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    dummy: wgpu::Buffer,
    /// The recorded program.
    pub program: Program,
    /// Bytes allocated for outputs so far.
    pub allocated: u64,
}

impl<'a> Builder<'a> {
    /// A builder on this device.
    pub fn new(ctx: &'a GpuContext) -> Result<Builder<'a>, GpuError> {
        let (layout, pipeline_layout) = ctx.layout("linalg.bindings", &[false, false, true, false]);
        let dummy = buffers::storage(ctx, "linalg.dummy", 1)?;
        Ok(Builder {
            ctx,
            layout,
            pipeline_layout,
            dummy,
            program: Program::default(),
            allocated: 0,
        })
    }

    /// A zeroed rows × cols matrix (checked against the limits).
    pub fn zeros(&mut self, label: &str, rows: usize, cols: usize) -> Result<Mat, GpuError> {
        let buf = buffers::storage(self.ctx, label, rows * cols)?;
        self.allocated += (rows * cols * 4) as u64;
        Ok(Mat {
            buf,
            rows: rows as u32,
            cols: cols as u32,
        })
    }

    /// A matrix holding `data` (row-major, rows × cols).
    pub fn upload(
        &mut self,
        label: &str,
        data: &[f32],
        rows: usize,
        cols: usize,
    ) -> Result<Mat, GpuError> {
        debug_assert_eq!(data.len(), rows * cols);
        let buf = buffers::upload(self.ctx, label, data)?;
        self.allocated += (rows * cols * 4) as u64;
        Ok(Mat {
            buf,
            rows: rows as u32,
            cols: cols as u32,
        })
    }

    async fn step(
        &mut self,
        label: &'static str,
        entry: &'static str,
        params: OpParams,
        inputs: [Option<&wgpu::Buffer>; 3],
        output: &wgpu::Buffer,
        groups: (u32, u32),
    ) -> Result<(), GpuError> {
        check_dispatch(self.ctx, label, groups.0)?;
        check_dispatch(self.ctx, label, groups.1)?;
        let source = || wgpu::include_wgsl!("linalg.wgsl");
        let pipeline = self
            .ctx
            .pipeline(MODULE, source, &self.pipeline_layout, entry, &[])
            .await?;
        let uniform = buffers::uniform(self.ctx, label, &params);
        let [a, b, e] = inputs;
        let group = buffers::bind_group(
            self.ctx,
            label,
            &self.layout,
            &[
                &uniform,
                a.unwrap_or(&self.dummy),
                b.unwrap_or(&self.dummy),
                output,
                e.unwrap_or(&self.dummy),
            ],
        );
        self.program.steps.push(Step {
            label,
            pipeline,
            group,
            groups,
        });
        Ok(())
    }

    /// `alpha·op(a)·op(b)` into a new matrix.
    pub async fn matmul(
        &mut self,
        label: &'static str,
        a: &Mat,
        ta: bool,
        b: &Mat,
        tb: bool,
        alpha: f32,
    ) -> Result<Mat, GpuError> {
        let rows = if ta { a.cols } else { a.rows };
        let cols = if tb { b.rows } else { b.cols };
        let out = self.zeros(label, rows as usize, cols as usize)?;
        self.matmul_into(label, a, ta, b, tb, alpha, &out).await?;
        Ok(out)
    }

    /// `alpha·op(a)·op(b)` into `out` (which must be neither a nor b).
    #[allow(clippy::too_many_arguments)]
    pub async fn matmul_into(
        &mut self,
        label: &'static str,
        a: &Mat,
        ta: bool,
        b: &Mat,
        tb: bool,
        alpha: f32,
        out: &Mat,
    ) -> Result<(), GpuError> {
        let (m, k) = if ta {
            (a.cols, a.rows)
        } else {
            (a.rows, a.cols)
        };
        let (k2, n) = if tb {
            (b.cols, b.rows)
        } else {
            (b.rows, b.cols)
        };
        if k != k2 || (out.rows, out.cols) != (m, n) {
            return Err(GpuError::Device {
                stage: label.into(),
                message: format!(
                    "shapes differ: {m} × {k} times {k2} × {n} into {} × {}",
                    out.rows, out.cols
                ),
            });
        }
        let params = OpParams {
            m,
            n,
            k,
            a_cols: a.cols,
            b_cols: b.cols,
            ta: ta as u32,
            tb: tb as u32,
            alpha,
            ..Default::default()
        };
        self.step(
            label,
            "matmul",
            params,
            [Some(&a.buf), Some(&b.buf), None],
            &out.buf,
            (n.div_ceil(16), m.div_ceil(16)),
        )
        .await
    }

    /// Row softmax of `x·alpha` in place (causal: entries j > i get 0).
    pub async fn softmax_rows(
        &mut self,
        label: &'static str,
        x: &Mat,
        alpha: f32,
        causal: bool,
    ) -> Result<(), GpuError> {
        let params = OpParams {
            m: x.rows,
            n: x.cols,
            alpha,
            causal: causal as u32,
            ..Default::default()
        };
        let groups = (x.rows.min(65535), x.rows.div_ceil(65535));
        self.step(
            label,
            "softmax_rows",
            params,
            [None, None, None],
            &x.buf,
            groups,
        )
        .await
    }

    /// `alpha·I + beta·x` for a square x, into `out` (not x).
    pub async fn identity_plus_into(
        &mut self,
        label: &'static str,
        x: &Mat,
        alpha: f32,
        beta: f32,
        out: &Mat,
    ) -> Result<(), GpuError> {
        let params = OpParams {
            m: x.rows,
            alpha,
            beta,
            ..Default::default()
        };
        self.step(
            label,
            "identity_plus",
            params,
            [Some(&x.buf), None, None],
            &out.buf,
            ((x.rows * x.rows).div_ceil(64), 1),
        )
        .await
    }

    /// `xᵀ / (‖x‖₁‖x‖∞)`: the pseudo-inverse iteration's start.
    pub async fn pinv_start(&mut self, label: &'static str, x: &Mat) -> Result<Mat, GpuError> {
        let out = self.zeros(label, x.rows as usize, x.cols as usize)?;
        let params = OpParams {
            m: x.rows,
            ..Default::default()
        };
        self.step(
            label,
            "pinv_start",
            params,
            [Some(&x.buf), None, None],
            &out.buf,
            (1, 1),
        )
        .await?;
        Ok(out)
    }

    /// The Moore–Penrose pseudo-inverse of a square `a` by the iteration of
    /// Razavi et al. 2014 used by Nyströmformer (Xiong et al. 2021, Eq. 16):
    /// Z₀ = aᵀ/(‖a‖₁‖a‖∞), Z ← ¼·Z·(13I − aZ·(15I − aZ·(7I − aZ))).
    /// Five L × L buffers serve every iteration: Z (two, in turn), AZ and
    /// two temporaries.
    pub async fn pinv(&mut self, a: &Mat, iterations: u32) -> Result<Mat, GpuError> {
        let side = a.rows as usize;
        let mut z = self.pinv_start("nystrom.pinv_start", a).await?;
        if iterations == 0 {
            return Ok(z);
        }
        let mut next = self.zeros("nystrom.pinv_z", side, side)?;
        let az = self.zeros("nystrom.pinv_az", side, side)?;
        let t = self.zeros("nystrom.pinv_t", side, side)?;
        let u = self.zeros("nystrom.pinv_u", side, side)?;
        for _ in 0..iterations {
            self.matmul_into("nystrom.pinv_az", a, false, &z, false, 1.0, &az)
                .await?;
            self.identity_plus_into("nystrom.pinv_7i", &az, 7.0, -1.0, &t)
                .await?;
            self.matmul_into("nystrom.pinv_az7", &az, false, &t, false, 1.0, &u)
                .await?;
            self.identity_plus_into("nystrom.pinv_15i", &u, 15.0, -1.0, &t)
                .await?;
            self.matmul_into("nystrom.pinv_az15", &az, false, &t, false, 1.0, &u)
                .await?;
            self.identity_plus_into("nystrom.pinv_13i", &u, 13.0, -1.0, &t)
                .await?;
            self.matmul_into("nystrom.pinv_step", &z, false, &t, false, 0.25, &next)
                .await?;
            std::mem::swap(&mut z, &mut next);
        }
        Ok(z)
    }

    /// Means of `segments` consecutive row segments of x (balanced partition).
    pub async fn segment_means(
        &mut self,
        label: &'static str,
        x: &Mat,
        segments: u32,
    ) -> Result<Mat, GpuError> {
        let out = self.zeros(label, segments as usize, x.cols as usize)?;
        let params = OpParams {
            m: segments,
            n: x.cols,
            k: x.rows,
            ..Default::default()
        };
        self.step(
            label,
            "segment_means",
            params,
            [Some(&x.buf), None, None],
            &out.buf,
            ((segments * x.cols).div_ceil(64), 1),
        )
        .await?;
        Ok(out)
    }

    /// In place: x ← x + bias (a row vector), then ReLU if `relu`.
    pub async fn bias_relu(
        &mut self,
        label: &'static str,
        x: &Mat,
        bias: &Mat,
        relu: bool,
    ) -> Result<(), GpuError> {
        let params = OpParams {
            m: x.rows,
            n: x.cols,
            beta: relu as u32 as f32,
            ..Default::default()
        };
        self.step(
            label,
            "bias_relu",
            params,
            [Some(&bias.buf), None, None],
            &x.buf,
            ((x.rows * x.cols).div_ceil(64), 1),
        )
        .await
    }

    /// The implied map Aᵢⱼ = sᵢ·(uᵢ · wⱼ) pooled to `cells × cells` blocks of
    /// `factor` positions, u: rows × r, w: cols × r, s: rows (or ones), from
    /// block sums (O(n·r + cells²·r)); the block sums live after the map in
    /// the same buffer.
    #[allow(clippy::too_many_arguments)]
    pub async fn pool_factored(
        &mut self,
        label: &'static str,
        u: &Mat,
        w: &Mat,
        scales: &Mat,
        causal: bool,
        factor: u32,
        cells: u32,
    ) -> Result<Mat, GpuError> {
        let out = self.zeros(label, (cells * cells + 2 * cells * u.cols) as usize, 1)?;
        let params = OpParams {
            m: u.rows,
            n: w.rows,
            k: u.cols,
            causal: causal as u32,
            factor,
            cells,
            ..Default::default()
        };
        let inputs = [Some(&u.buf), Some(&w.buf), Some(&scales.buf)];
        let sums = (2 * cells * u.cols).div_ceil(64);
        self.step(label, "block_sums", params, inputs, &out.buf, (sums, 1))
            .await?;
        let groups = cells.div_ceil(16);
        self.step(
            label,
            "pool_factored",
            params,
            inputs,
            &out.buf,
            (groups, groups),
        )
        .await?;
        Ok(Mat {
            buf: out.buf,
            rows: cells,
            cols: cells,
        })
    }
}

impl Builder<'_> {
    /// The implied n×n matrix u·wᵀ (no row scales, no mask) pooled for the
    /// heatmap: records the pooling after the steps the builder holds, runs
    /// them all once and reads the map back.
    pub async fn implied_map(
        &mut self,
        label: &'static str,
        u: &Mat,
        w: &Mat,
    ) -> Result<AttentionMap, GpuError> {
        let n = u.rows as usize;
        let (factor, cells) = AttentionMap::geometry(n);
        let ones = self.upload(label, &vec![1.0; n], n, 1)?;
        let pooled = self
            .pool_factored(label, u, w, &ones, false, factor as u32, cells as u32)
            .await?;
        run_once(self.ctx, "pooling the implied matrix", &self.program).await?;
        Ok(AttentionMap {
            n,
            factor,
            cells,
            values: pooled.read(self.ctx).await?.iter().copied().collect(),
        })
    }
}

/// Runs `program` once, inside error scopes, and waits for nothing (the
/// caller reads what it needs).
pub async fn run_once(ctx: &GpuContext, stage: &str, program: &Program) -> Result<(), GpuError> {
    scoped(ctx, stage, || {
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("linalg.once"),
            });
        program.record(&mut enc, None, true, true);
        ctx.queue.submit([enc.finish()]);
        Ok(())
    })
    .await
}

/// Checks that a matrix of rows × cols fits a storage binding.
pub fn check(ctx: &GpuContext, what: &str, rows: usize, cols: usize) -> Result<(), GpuError> {
    check_storage(ctx, what, (rows * cols * 4) as u64)
}

//! Host side of `linalg.wgsl`: dense matrices on the GPU and a [`Builder`]
//! that records operations (matrix products with transposes through the
//! tiled [`super::sgemm`] kernel, row softmax, the Moore–Penrose
//! iteration's steps, segment means, bias + ReLU, the pooled implied matrix
//! of a factored method) into a [`Program`] — buffers, parameters and bind
//! groups made once, so that a timed run replays only the dispatches. Steps
//! recorded after [`Builder::views`] pool views: they run once, after the
//! timed repeats.

use bytemuck::{Pod, Zeroable};

use super::bindings::{Binding, Kernel, Module};
use super::buffers;
use super::program::{Pass, Program};
use super::sgemm::{self, Gemm, Variant};
use super::{GpuContext, GpuError};
use crate::data::maps::AttentionMap;

const MODULE: Module = Module {
    name: "linalg",
    source: || wgpu::include_wgsl!("linalg.wgsl"),
    text: include_str!("linalg.wgsl"),
};
const P: Binding = Binding::uniform("p", 0);
const A: Binding = Binding::read("a", 1);
const B: Binding = Binding::read("b", 2);
const C: Binding = Binding::write("c", 3);
const E: Binding = Binding::read("e", 4);

const fn op(entry: &'static str, bindings: &'static [Binding]) -> Kernel {
    Kernel {
        module: MODULE,
        entry,
        bindings,
    }
}

/// Row softmax of c in place.
pub const SOFTMAX_ROWS: Kernel = op("softmax_rows", &[P, C]);
/// c = α·I + β·a.
pub const IDENTITY_PLUS: Kernel = op("identity_plus", &[P, A, C]);
/// c = aᵀ/(‖a‖₁‖a‖∞).
pub const PINV_START: Kernel = op("pinv_start", &[P, A, C]);
/// c = segment means of a's rows.
pub const SEGMENT_MEANS: Kernel = op("segment_means", &[P, A, C]);
/// c ← c + a (a row vector), then ReLU.
pub const BIAS_RELU: Kernel = op("bias_relu", &[P, A, C]);
/// Block sums of the factors of an implied matrix.
pub const BLOCK_SUMS: Kernel = op("block_sums", &[P, A, B, C, E]);
/// The pooled implied matrix from its block sums.
pub const POOL_FACTORED: Kernel = op("pool_factored", &[P, A, B, C, E]);

/// Every kernel of this family.
pub const KERNELS: &[Kernel] = &[
    SOFTMAX_ROWS,
    IDENTITY_PLUS,
    PINV_START,
    SEGMENT_MEANS,
    BIAS_RELU,
    BLOCK_SUMS,
    POOL_FACTORED,
];

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
    /// A view of an existing buffer as a rows × cols matrix.
    pub fn of(buf: &wgpu::Buffer, rows: usize, cols: usize) -> Mat {
        Mat {
            buf: buf.clone(),
            rows: rows as u32,
            cols: cols as u32,
        }
    }

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
    causal: u32,
    alpha: f32,
    beta: f32,
    factor: u32,
    cells: u32,
}

/// Records operations into a [`Program`], allocating their outputs.
pub struct Builder<'a> {
    ctx: &'a GpuContext,
    /// The recorded program.
    pub program: Program,
    /// Bytes allocated for outputs so far.
    pub allocated: u64,
    views: bool,
}

impl<'a> Builder<'a> {
    /// A builder on this device; `label` names its program in errors.
    pub fn new(ctx: &'a GpuContext, label: &str) -> Builder<'a> {
        Builder {
            ctx,
            program: Program::new(label),
            allocated: 0,
            views: false,
        }
    }

    /// From now on, steps pool views: run once after the timed repeats.
    pub fn views(&mut self) {
        self.views = true;
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

    /// Records `kernel` with its parameters, the named inputs and the output
    /// `c`, timed or as a view.
    async fn step(
        &mut self,
        label: &str,
        kernel: &Kernel,
        params: OpParams,
        inputs: &[(&str, &wgpu::Buffer)],
        output: &wgpu::Buffer,
        groups: (u32, u32),
    ) -> Result<(), GpuError> {
        let uniform = buffers::uniform(self.ctx, kernel.entry, &params);
        let mut named = vec![("p", &uniform), ("c", output)];
        named.extend_from_slice(inputs);
        let pass = Pass::build(self.ctx, kernel, &[], &named, groups)
            .await?
            .named(label);
        if self.views {
            self.program.view(pass);
        } else {
            self.program.time(pass);
        }
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
        let Some(packed) = Gemm::packed(m, n, k, 1, ta, tb) else {
            return Err(GpuError::TooLarge {
                what: format!("{label}: {m} × {k} times {k} × {n}"),
                needs: m as u64 * k as u64 + k as u64 * n as u64 + m as u64 * n as u64,
                unit: "elements",
                limit_name: "u32 indices",
                limit: u32::MAX as u64,
            });
        };
        let gemm = Gemm { alpha, ..packed };
        let variant = Variant::for_shape(m as u64, n as u64, 1);
        let pass = sgemm::pass(self.ctx, &gemm, variant, &a.buf, &b.buf, &out.buf)
            .await?
            .named(label);
        if self.views {
            self.program.view(pass);
        } else {
            self.program.time(pass);
        }
        Ok(())
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
        self.step(label, &SOFTMAX_ROWS, params, &[], &x.buf, groups)
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
            &IDENTITY_PLUS,
            params,
            &[("a", &x.buf)],
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
            &PINV_START,
            params,
            &[("a", &x.buf)],
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
            &SEGMENT_MEANS,
            params,
            &[("a", &x.buf)],
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
            &BIAS_RELU,
            params,
            &[("a", &bias.buf)],
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
        let inputs = [("a", &u.buf), ("b", &w.buf), ("e", &scales.buf)];
        let sums = (2 * cells * u.cols).div_ceil(64);
        self.step(label, &BLOCK_SUMS, params, &inputs, &out.buf, (sums, 1))
            .await?;
        let groups = cells.div_ceil(16);
        self.step(
            label,
            &POOL_FACTORED,
            params,
            &inputs,
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
    /// Records, as views, the implied n×n matrix u·wᵀ (no row scales, no
    /// mask) pooled for the heatmap; read it with [`read_map`] after the
    /// program ran.
    pub async fn implied_map(
        &mut self,
        label: &'static str,
        u: &Mat,
        w: &Mat,
    ) -> Result<Mat, GpuError> {
        self.views();
        let n = u.rows as usize;
        let (factor, cells) = AttentionMap::geometry(n);
        let ones = self.upload(label, &vec![1.0; n], n, 1)?;
        self.pool_factored(label, u, w, &ones, false, factor as u32, cells as u32)
            .await
    }
}

/// The pooled map of n positions held in `pooled` (after its program ran).
pub async fn read_map(ctx: &GpuContext, pooled: &Mat, n: usize) -> Result<AttentionMap, GpuError> {
    let (factor, cells) = AttentionMap::geometry(n);
    Ok(AttentionMap {
        n,
        factor,
        cells,
        values: buffers::read_f32(ctx, &pooled.buf, cells * cells).await?,
    })
}

//! Host side of `linalg.wgsl`: dense matrices on the GPU and a [`Builder`]
//! that records operations (matrix products with transposes through the
//! tiled [`super::sgemm`] kernel — split over K, with a `sum_splits` pass,
//! when the output has few tiles and K is long —, row softmax (a workgroup
//! per row, or a thread per short row), the Moore–Penrose iteration (in one
//! pass, `pinv.wgsl`, where workgroup memory allows; else its steps),
//! segment means, bias + ReLU, the pooled implied matrix of a factored
//! method) into a [`Program`] — buffers, parameters and bind
//! groups made once, so that a timed run replays only the dispatches. Steps
//! recorded after [`Builder::views`] pool views: they run once, after the
//! timed repeats.
//!
//! Heads: a [`Mat`] may stack `batch` items (B·H heads, item after item),
//! and every operation runs over all of them in one dispatch — products as
//! one batched sgemm (an operand of one item is shared by all, stride 0),
//! row softmaxes over the items' rows folded together, the other kernels
//! with the item in the dispatch's z. The Moore–Penrose iteration stops
//! per item ([`Builder::pinv`]).

use bytemuck::{Pod, Zeroable};

use super::bindings::{Binding, Kernel, Module};
use super::buffers;
use super::program::{Pass, Program};
use super::sgemm::{self, Gemm, Split, Variant};
use super::{GpuContext, GpuError};
use crate::data::maps::AttentionMap;

const MODULE: Module = Module {
    name: "linalg",
    source: || include_wgsl!("linalg.wgsl"),
    text: wgsl!("linalg.wgsl"),
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
/// Row softmax of c in place, a thread per row (rows of at most
/// [`SHORT_ROW_MAX`] entries).
pub const SOFTMAX_ROWS_SHORT: Kernel = op("softmax_rows_short", &[P, C]);
/// c = the sum of a's partial products (split-K's second pass).
pub const SUM_SPLITS: Kernel = op("sum_splits", &[P, A, C]);

/// The longest rows [`Builder::softmax_rows`] gives a thread each (longer
/// ones get a workgroup each).
pub const SHORT_ROW_MAX: u32 = 256;
/// c = α·I + β·a.
pub const IDENTITY_PLUS: Kernel = op("identity_plus", &[P, A, C]);
/// c = aᵀ/(‖a‖₁‖a‖∞).
pub const PINV_START: Kernel = op("pinv_start", &[P, A, C]);
/// c ← a for the items still iterating (per-item stop of the pseudo-inverse).
pub const PINV_COMMIT: Kernel = op("pinv_commit", &[P, A, C, E]);
/// c = segment means of a's rows.
pub const SEGMENT_MEANS: Kernel = op("segment_means", &[P, A, C]);
/// c ← c + a (a row vector), then ReLU.
pub const BIAS_RELU: Kernel = op("bias_relu", &[P, A, C]);
/// Block sums of the factors of an implied matrix.
pub const BLOCK_SUMS: Kernel = op("block_sums", &[P, A, B, C, E]);
/// The pooled implied matrix from its block sums.
pub const POOL_FACTORED: Kernel = op("pool_factored", &[P, A, B, C, E]);

/// The whole pseudo-inverse iteration, one workgroup per item (`pinv.wgsl`).
pub const PINV_FUSED: Kernel = Kernel {
    module: Module {
        name: "pinv",
        source: || include_wgsl!("pinv.wgsl"),
        text: wgsl!("pinv.wgsl"),
    },
    entry: "pinv_fused",
    bindings: &[
        Binding::read("a", 1).elements_of(16),
        Binding::write("c", 3).elements_of(16),
        E,
    ],
};

/// The largest L [`PINV_FUSED`] takes (its 4 × 4 blocks of an L × L
/// product over 256 threads).
pub const PINV_FUSED_MAX: u32 = 64;

/// Every kernel of this family.
pub const KERNELS: &[Kernel] = &[
    PINV_FUSED,
    SOFTMAX_ROWS,
    SOFTMAX_ROWS_SHORT,
    SUM_SPLITS,
    IDENTITY_PLUS,
    PINV_START,
    PINV_COMMIT,
    SEGMENT_MEANS,
    BIAS_RELU,
    BLOCK_SUMS,
    POOL_FACTORED,
];

/// A row-major f32 matrix on the GPU, or `batch` of them stacked item after
/// item (each packed rows × cols).
#[derive(Debug, Clone)]
pub struct Mat {
    /// Its storage buffer.
    pub buf: wgpu::Buffer,
    /// Rows of one item.
    pub rows: u32,
    /// Columns.
    pub cols: u32,
    /// Items (1: one matrix).
    pub batch: u32,
}

impl Mat {
    /// A view of an existing buffer as a rows × cols matrix.
    pub fn of(buf: &wgpu::Buffer, rows: usize, cols: usize) -> Mat {
        Mat::stacked(buf, 1, rows, cols)
    }

    /// A view of an existing buffer as `batch` stacked rows × cols matrices.
    pub fn stacked(buf: &wgpu::Buffer, batch: usize, rows: usize, cols: usize) -> Mat {
        Mat {
            buf: buf.clone(),
            rows: rows as u32,
            cols: cols as u32,
            batch: batch as u32,
        }
    }

    /// Item 0 alone (it starts the buffer): head 0, whose views are shown.
    pub fn first(&self) -> Mat {
        Mat {
            batch: 1,
            ..self.clone()
        }
    }

    /// Entries of all items.
    pub fn len(&self) -> usize {
        self.batch as usize * self.rows as usize * self.cols as usize
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads it back as an ndarray, the items' rows one after another
    /// (batch·rows × cols).
    pub async fn read(&self, ctx: &GpuContext) -> Result<ndarray::Array2<f32>, GpuError> {
        let data = buffers::read_f32(ctx, &self.buf, self.len()).await?;
        let rows = self.batch as usize * self.rows as usize;
        ndarray::Array2::from_shape_vec((rows, self.cols as usize), data)
            .map_err(|e| GpuError::Readback(e.to_string()))
    }
}

/// Checks, before anything is allocated, that every buffer a program will
/// create fits the device's storage limits: `(what, f32 elements)` each.
pub fn check_sizes(ctx: &GpuContext, buffers: &[(String, u64)]) -> Result<(), GpuError> {
    for (what, elements) in buffers {
        buffers::check_storage(ctx, what, elements.saturating_mul(4))?;
    }
    Ok(())
}

/// Most segments of [`Builder::segment_means`]: its bounds ⌊s·k/m⌋ are
/// computed in u32 without overflow while m² < 2³².
pub const MAX_SEGMENTS: u32 = 65535;

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
        self.zeros_stacked(label, 1, rows, cols)
    }

    /// `batch` zeroed rows × cols matrices, stacked (checked against the
    /// limits).
    pub fn zeros_stacked(
        &mut self,
        label: &str,
        batch: usize,
        rows: usize,
        cols: usize,
    ) -> Result<Mat, GpuError> {
        let len = batch * rows * cols;
        let buf = buffers::storage(self.ctx, label, len)?;
        self.allocated += (len * 4) as u64;
        Ok(Mat::stacked(&buf, batch, rows, cols))
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
        Ok(Mat::of(&buf, rows, cols))
    }

    /// Records `kernel` with its parameters, the named inputs and the output
    /// `c` over `groups` × `layers` workgroups (the item in z), timed or as
    /// a view.
    #[allow(clippy::too_many_arguments)]
    async fn step(
        &mut self,
        label: &str,
        kernel: &Kernel,
        params: OpParams,
        inputs: &[(&str, &wgpu::Buffer)],
        output: &wgpu::Buffer,
        groups: (u32, u32),
        layers: u32,
    ) -> Result<(), GpuError> {
        self.step_with(label, kernel, &[], params, inputs, output, groups, layers)
            .await
    }

    /// [`Self::step`] with the shader's override constants.
    #[allow(clippy::too_many_arguments)]
    async fn step_with(
        &mut self,
        label: &str,
        kernel: &Kernel,
        constants: &[(&str, f64)],
        params: OpParams,
        inputs: &[(&str, &wgpu::Buffer)],
        output: &wgpu::Buffer,
        groups: (u32, u32),
        layers: u32,
    ) -> Result<(), GpuError> {
        let uniform = buffers::uniform(self.ctx, kernel.entry, &params);
        let mut named = vec![("p", &uniform), ("c", output)];
        named.extend_from_slice(inputs);
        let pass = Pass::build(self.ctx, kernel, constants, &named, groups)
            .await?
            .layers(self.ctx, layers)?
            .named(label);
        self.record(pass);
        Ok(())
    }

    /// `alpha·op(a)·op(b)` into a new matrix, item by item over the larger
    /// batch of the two (an operand of one item serves every item).
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
        let batch = a.batch.max(b.batch) as usize;
        let out = self.zeros_stacked(label, batch, rows as usize, cols as usize)?;
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
        let batch = a.batch.max(b.batch);
        let batch_fits = |x: u32| x == 1 || x == batch;
        if k != k2
            || (out.rows, out.cols, out.batch) != (m, n, batch)
            || !batch_fits(a.batch)
            || !batch_fits(b.batch)
        {
            return Err(GpuError::Device {
                stage: label.into(),
                message: format!(
                    "shapes differ: {} × {m} × {k} times {} × {k2} × {n} into {} × {} × {}",
                    a.batch, b.batch, out.batch, out.rows, out.cols
                ),
            });
        }
        let Some(packed) = Gemm::packed(m, n, k, batch, ta, tb) else {
            return Err(GpuError::TooLarge {
                what: format!("{label}: {m} × {k} times {k} × {n}"),
                needs: m as u64 * k as u64 + k as u64 * n as u64 + m as u64 * n as u64,
                unit: "elements",
                limit_name: "u32 indices",
                limit: u32::MAX as u64,
            });
        };
        // One item of an operand serves the whole batch (stride 0).
        let shared = |x: &Mat, stride: u32| {
            if x.batch == 1 && batch > 1 { 0 } else { stride }
        };
        let gemm = Gemm {
            alpha,
            stride_a: shared(a, packed.stride_a),
            stride_b: shared(b, packed.stride_b),
            ..packed
        };
        let variant = Variant::for_shape(m as u64, n as u64, batch as u64);
        let split = Split::for_shape(m as u64, n as u64, k as u64, batch as u64, variant);
        if split.parts == 1 {
            let pass = sgemm::pass(self.ctx, &gemm, variant, &a.buf, &b.buf, &out.buf)
                .await?
                .named(label);
            self.record(pass);
            return Ok(());
        }
        // Split-K: the parts' products into layers of partial sums, then
        // one pass adding them up (α already applied). `sum_splits` reads
        // packed layers: `gemm` is packed (ldc = N, stride_c = M·N) here.
        debug_assert!(gemm.ldc == n && gemm.stride_c == m * n);
        let items = batch as usize * split.parts as usize;
        let partials =
            self.zeros_stacked(&format!("{label}.partials"), items, m as usize, n as usize)?;
        let pass = sgemm::pass_split(
            self.ctx,
            &gemm,
            split,
            variant,
            &a.buf,
            &b.buf,
            &partials.buf,
        )
        .await?
        .named(label);
        self.record(pass);
        let entries = m * n;
        let Some(total) = entries.checked_mul(batch) else {
            return Err(GpuError::TooLarge {
                what: format!("{label}: {batch} × {m} × {n} partial sums"),
                needs: entries as u64 * batch as u64,
                unit: "elements",
                limit_name: "u32 indices",
                limit: u32::MAX as u64,
            });
        };
        let params = OpParams {
            m: entries,
            n: batch,
            k: split.parts,
            ..Default::default()
        };
        let groups = total.div_ceil(256);
        self.step(
            label,
            &SUM_SPLITS,
            params,
            &[("a", &partials.buf)],
            &out.buf,
            (groups.min(65535), groups.div_ceil(65535)),
            1,
        )
        .await
    }

    /// Appends a built pass, timed or (after [`Self::views`]) as a view.
    fn record(&mut self, pass: Pass) {
        if self.views {
            self.program.view(pass);
        } else {
            self.program.time(pass);
        }
    }

    /// Row softmax of `x·alpha` in place (causal: entries j > i get 0),
    /// the rows of every item in one dispatch (one workgroup per row, or a
    /// thread per row for rows of at most [`SHORT_ROW_MAX`] entries; the
    /// rows folded into x and y). Causal applies to one item only.
    pub async fn softmax_rows(
        &mut self,
        label: &'static str,
        x: &Mat,
        alpha: f32,
        causal: bool,
    ) -> Result<(), GpuError> {
        if causal && x.batch > 1 {
            return Err(GpuError::Device {
                stage: label.into(),
                message: "a causal row softmax runs on one item".into(),
            });
        }
        let rows = x.batch * x.rows;
        let params = OpParams {
            m: rows,
            n: x.cols,
            alpha,
            causal: causal as u32,
            ..Default::default()
        };
        let (kernel, groups) = if x.cols <= SHORT_ROW_MAX {
            (&SOFTMAX_ROWS_SHORT, rows.div_ceil(64))
        } else {
            (&SOFTMAX_ROWS, rows)
        };
        self.step(
            label,
            kernel,
            params,
            &[],
            &x.buf,
            (groups.min(65535), groups.div_ceil(65535)),
            1,
        )
        .await
    }

    /// `alpha·I + beta·x` for a square x (every item), into `out` (not x).
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
            x.batch,
        )
        .await
    }

    /// `xᵀ / (‖x‖₁‖x‖∞)`: the pseudo-inverse iteration's start, one
    /// workgroup per item.
    pub async fn pinv_start(&mut self, label: &'static str, x: &Mat) -> Result<Mat, GpuError> {
        let out = self.zeros_stacked(label, x.batch as usize, x.rows as usize, x.cols as usize)?;
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
            x.batch,
        )
        .await?;
        Ok(out)
    }

    /// The Moore–Penrose pseudo-inverse of every item of a square `a` by the
    /// iteration of Razavi et al. 2014 used by Nyströmformer (Xiong et al.
    /// 2021, Eq. 16): Z₀ = aᵀ/(‖a‖₁‖a‖∞), Z ← ¼·Z·(13I − aZ·(15I − aZ·(7I −
    /// aZ))), item h iterated `iterations[h]` times (one count for all
    /// items if it is the only one).
    ///
    /// Where [`pinv_fuses`] (L a multiple of 4 up to 64, three L × L slots
    /// in workgroup memory) the whole iteration is one [`PINV_FUSED`]
    /// dispatch, each item running its own count. Otherwise:
    /// when every item runs as many iterations, five L × L buffers per item
    /// serve them all: Z (two, in turn), AZ and two temporaries. When the
    /// counts differ (each head stopped where its own residual stopped
    /// falling), the passes run the largest count, each step's Z lands in a
    /// candidate buffer, and `pinv_commit` copies it over Z only for the
    /// items still iterating: one more L² copy per step, every head in the
    /// same dispatches.
    pub async fn pinv(&mut self, a: &Mat, iterations: &[u32]) -> Result<Mat, GpuError> {
        let (side, batch) = (a.rows as usize, a.batch as usize);
        if a.rows != a.cols || !(iterations.len() == 1 || iterations.len() == batch) {
            return Err(GpuError::Device {
                stage: "nystrom.pinv".into(),
                message: format!(
                    "pinv of {batch} items of {} × {} with {} iteration counts",
                    a.rows,
                    a.cols,
                    iterations.len()
                ),
            });
        }
        let most = iterations.iter().copied().max().unwrap_or(0);
        let uniform = iterations.iter().all(|&t| t == most);
        let mut z = self.pinv_start("nystrom.pinv_start", a).await?;
        if most == 0 {
            return Ok(z);
        }
        if pinv_fuses(&self.ctx.limits, a.rows) {
            // Every iteration of every item in one dispatch, each item its
            // own count.
            let counts: Vec<f32> = (0..batch)
                .map(|h| iterations[if iterations.len() == 1 { 0 } else { h }] as f32)
                .collect();
            let counts = self.upload("nystrom.pinv_counts", &counts, batch, 1)?;
            let params = OpParams {
                m: a.rows,
                ..Default::default()
            };
            let constants = [
                ("SIDE", a.rows as f64),
                ("SLOTS_LEN", (3 * a.rows * a.rows / 4) as f64),
            ];
            self.step_with(
                "nystrom.pinv_fused",
                &PINV_FUSED,
                &constants,
                params,
                &[("a", &a.buf), ("e", &counts.buf)],
                &z.buf,
                (1, 1),
                a.batch,
            )
            .await?;
            return Ok(z);
        }
        let mut next = self.zeros_stacked("nystrom.pinv_z", batch, side, side)?;
        let az = self.zeros_stacked("nystrom.pinv_az", batch, side, side)?;
        let t = self.zeros_stacked("nystrom.pinv_t", batch, side, side)?;
        let u = self.zeros_stacked("nystrom.pinv_u", batch, side, side)?;
        let counts = if uniform {
            None
        } else {
            let counts: Vec<f32> = iterations.iter().map(|&t| t as f32).collect();
            Some(self.upload("nystrom.pinv_counts", &counts, batch, 1)?)
        };
        for step in 1..=most {
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
            match &counts {
                None => std::mem::swap(&mut z, &mut next),
                Some(counts) => {
                    let params = OpParams {
                        m: a.rows,
                        k: step,
                        ..Default::default()
                    };
                    let inputs = [("a", &next.buf), ("e", &counts.buf)];
                    let groups = ((a.rows * a.rows).div_ceil(64), 1);
                    self.step(
                        "nystrom.pinv_commit",
                        &PINV_COMMIT,
                        params,
                        &inputs,
                        &z.buf,
                        groups,
                        a.batch,
                    )
                    .await?;
                }
            }
        }
        Ok(z)
    }

    /// Means of `segments` consecutive row segments of x (balanced
    /// partition), every item.
    pub async fn segment_means(
        &mut self,
        label: &'static str,
        x: &Mat,
        segments: u32,
    ) -> Result<Mat, GpuError> {
        if segments == 0 || segments > MAX_SEGMENTS {
            return Err(GpuError::TooLarge {
                what: format!("{label}: {segments} segments"),
                needs: segments as u64,
                unit: "segments",
                limit_name: "segment_means (u32 segment bounds)",
                limit: MAX_SEGMENTS as u64,
            });
        }
        let out =
            self.zeros_stacked(label, x.batch as usize, segments as usize, x.cols as usize)?;
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
            x.batch,
        )
        .await?;
        Ok(out)
    }

    /// In place: x ← x + bias (a row vector), then ReLU if `relu` (every
    /// item's rows).
    pub async fn bias_relu(
        &mut self,
        label: &'static str,
        x: &Mat,
        bias: &Mat,
        relu: bool,
    ) -> Result<(), GpuError> {
        let rows = x.batch * x.rows;
        let params = OpParams {
            m: rows,
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
            ((rows * x.cols).div_ceil(64), 1),
            1,
        )
        .await
    }

    /// The implied map Aᵢⱼ = sᵢ·(uᵢ · wⱼ) pooled to `cells × cells` blocks of
    /// `factor` positions, u: rows × r, w: cols × r, s: rows (or ones), from
    /// block sums (O(n·r + cells²·r)); the block sums live after the map in
    /// the same buffer. Item 0 of stacked factors (head 0's view).
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
        self.step(label, &BLOCK_SUMS, params, &inputs, &out.buf, (sums, 1), 1)
            .await?;
        let groups = cells.div_ceil(16);
        self.step(
            label,
            &POOL_FACTORED,
            params,
            &inputs,
            &out.buf,
            (groups, groups),
            1,
        )
        .await?;
        Ok(Mat {
            buf: out.buf,
            rows: cells,
            cols: cells,
            batch: 1,
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

/// Whether [`Builder::pinv`] runs as one [`PINV_FUSED`] dispatch for L × L
/// items: L a multiple of 4 up to [`PINV_FUSED_MAX`], and three L × L f32
/// slots within the adapter's workgroup memory (48 KiB at L = 64; WebGPU's
/// default 16 KiB allows L ≤ 36). Otherwise it runs as separate products.
pub fn pinv_fuses(limits: &wgpu::Limits, l: u32) -> bool {
    l.is_multiple_of(4)
        && l <= PINV_FUSED_MAX
        && 3 * 4 * (l as u64) * (l as u64) <= limits.max_compute_workgroup_storage_size as u64
        && limits.max_compute_invocations_per_workgroup >= 256
        && limits.max_compute_workgroup_size_x >= 256
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

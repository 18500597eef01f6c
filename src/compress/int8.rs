//! The int8 matrix product of integer-only inference and its CPU twin
//! (survey §"Quantization": "INT8 — 4× smaller, 2–4× faster"; Jacob et al.
//! 2018, "Quantization and Training of Neural Networks for Efficient
//! Integer-Arithmetic-Only Inference", Eq. 4 and §2.3–2.4; the per-row ×
//! per-channel scales of Dettmers et al. 2022, "LLM.int8()", §3.1
//! "vector-wise quantization").
//!
//! With A (M × K activations) and W (N × K weights, one row per output
//! channel, as `torch.nn.Linear` stores them) quantized symmetrically,
//!
//! ```text
//! Q(x) = clamp(round(x / s), −127, 127),  s = max|x| / 127  (round half to even)
//! s_A,i per row of A (per token),  s_W,j per row of W (per output channel),
//! Y = A·Wᵀ ≈ s_A,i · s_W,j · Σₖ Q(A)ᵢₖ · Q(W)ⱼₖ
//! ```
//!
//! the inner sum is an exact int8 × int8 → i32 product: what this module's
//! twin computes ([`matmul_i32`]) and what the GPU kernels
//! (`gpu/int8_matmul.wgsl`) must equal bit for bit. The GPU takes 4 int8 per
//! u32 ([`pack4`], WGSL's `pack4xI8` layout: value j in bits 8j..8j+7).
//! The i32 sums cannot overflow for K ≤ [`K_MAX`] (checked before running).
//!
//! [`run_gpu`] and [`run_cpu`] measure one shape for the CLI (`flt matmul`)
//! and the page alike: the int8 kernels and the f32 kernel of the same
//! tiling, timed the same way, each checked (the int8 result against the
//! twin exactly; every product against the f64 product of the f32 inputs),
//! with executed ops and bytes and their formulas.

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::data::stats::{self, Errors};
use crate::data::timing::{Timing, median};
pub use crate::gpu::int8_matmul::K_MAX;
use crate::gpu::int8_matmul::{self, F32_PER_VEC4, I8_PER_VEC4, PackedDot, ProductKernel, Shape};
use crate::gpu::program::Timed;
use crate::gpu::{GpuContext, GpuError};
use crate::inputs::{GaussianStream, derive_seed};

/// The largest magnitude of symmetric int8 quantization (−127..=127; −128 is
/// left unused so that the grid is symmetric, as in Jacob et al. and
/// PyTorch's `qint8` symmetric schemes).
pub const QMAX: i8 = 127;

/// Why a product could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum Int8Error {
    /// A bad shape (zero, or beyond a limit of the chosen backend).
    #[error("{0}")]
    Shape(String),
    /// K so large that i32 sums of int8 products could overflow.
    #[error(
        "K = {k} is too large: the i32 sums of K int8 products could overflow (K·128² must \
         stay below 2³¹, so K ≤ {K_MAX}); split K into chunks of at most {K_MAX} and add \
         their sums in i64"
    )]
    Overflow {
        /// The K asked for.
        k: usize,
    },
    /// The packed kernel was asked for where it cannot be compiled.
    #[error("the packed kernel cannot run here: {0}")]
    PackedUnavailable(String),
    /// From the GPU.
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

/// Checks a shape: every side at least 1, K within [`K_MAX`].
pub fn check_shape(m: usize, k: usize, n: usize) -> Result<Shape, Int8Error> {
    if m == 0 || k == 0 || n == 0 {
        return Err(Int8Error::Shape(format!(
            "M, K and N must be at least 1 (got {m} × {k} × {n})"
        )));
    }
    if k > K_MAX {
        return Err(Int8Error::Overflow { k });
    }
    Ok(Shape { m, k, n })
}

// ---- symmetric quantization ------------------------------------------------

/// A matrix quantized symmetrically per row: `values[i, k] · scales[i]`
/// approximates the original.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedRows {
    /// The int8 values, in [−127, 127].
    pub values: Array2<i8>,
    /// One scale per row: max|row| / 127 (0 for an all-zero row).
    pub scales: Vec<f32>,
}

/// Quantizes each row of `x` symmetrically to int8: s = max|row|/127,
/// q = clamp(round_half_even(x/s), −127, 127). An all-zero row gets s = 0
/// and q = 0 (exact, no NaN).
///
/// # Panics
/// If `x` holds a non-finite value (callers check their inputs).
pub fn quantize_rows(x: ArrayView2<'_, f32>) -> QuantizedRows {
    let mut values = Array2::<i8>::zeros(x.dim());
    let mut scales = Vec::with_capacity(x.nrows());
    for (row, mut out) in x.rows().into_iter().zip(values.rows_mut()) {
        let amax = row.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
        assert!(amax.is_finite(), "non-finite value in a quantized row");
        if amax == 0.0 {
            scales.push(0.0);
            continue;
        }
        let scale = amax / QMAX as f32;
        for (q, &v) in out.iter_mut().zip(row.iter()) {
            *q = (v / scale)
                .round_ties_even()
                .clamp(-(QMAX as f32), QMAX as f32) as i8;
        }
        scales.push(scale);
    }
    QuantizedRows { values, scales }
}

impl QuantizedRows {
    /// The dequantized matrix, `values[i, k] · scales[i]`.
    pub fn dequantize(&self) -> Array2<f32> {
        let mut out = self.values.mapv(|q| q as f32);
        for (mut row, &s) in out.rows_mut().into_iter().zip(&self.scales) {
            row.mapv_inplace(|q| q * s);
        }
        out
    }
}

// ---- packing ---------------------------------------------------------------

/// Four int8 in one u32, value j in bits 8j..8j+7 (two's complement): the
/// layout of WGSL's `pack4xI8` and what `dot4I8Packed` reads.
pub fn pack4(v: [i8; 4]) -> u32 {
    u32::from_le_bytes(v.map(|x| x as u8))
}

/// The four int8 of a packed word (inverse of [`pack4`]).
pub fn unpack4(word: u32) -> [i8; 4] {
    word.to_le_bytes().map(|b| b as i8)
}

/// WGSL's `dot4I8Packed(x, y)` by its definition: the i32 dot product of
/// the four signed bytes of x and of y.
pub fn dot4_i8_packed(x: u32, y: u32) -> i32 {
    unpack4(x)
        .iter()
        .zip(unpack4(y))
        .map(|(&a, b)| a as i32 * b as i32)
        .sum()
}

/// Stored words per row of an int8 matrix with `k` columns: whole vec4
/// words of 16 values, ⌈k/16⌉·4.
pub fn packed_row_words(k: usize) -> usize {
    k.div_ceil(I8_PER_VEC4) * 4
}

/// The rows of `x` packed 4 int8 per u32, each row padded with zeros to
/// [`packed_row_words`] (the GPU kernels' layout).
pub fn pack_rows(x: ArrayView2<'_, i8>) -> Vec<u32> {
    let x = contiguous(x);
    let stride = packed_row_words(x.ncols());
    let mut out = vec![0u32; x.nrows() * stride];
    for (row, words) in x
        .rows()
        .into_iter()
        .zip(out.chunks_exact_mut(stride.max(1)))
    {
        let values = row.as_slice().unwrap_or_default();
        for (word, chunk) in words.iter_mut().zip(values.chunks(4)) {
            let mut bytes = [0i8; 4];
            bytes[..chunk.len()].copy_from_slice(chunk);
            *word = pack4(bytes);
        }
    }
    out
}

/// The `rows × k` int8 matrix packed by [`pack_rows`].
///
/// # Panics
/// If `words` is not `rows · packed_row_words(k)` long.
pub fn unpack_rows(words: &[u32], rows: usize, k: usize) -> Array2<i8> {
    let stride = packed_row_words(k);
    assert_eq!(words.len(), rows * stride, "packed length");
    Array2::from_shape_fn((rows, k), |(i, j)| {
        unpack4(words[i * stride + j / 4])[j % 4]
    })
}

/// The rows of `x` padded with zeros to whole vec4 words (the f32 kernel's
/// layout).
pub fn pad_rows_f32(x: ArrayView2<'_, f32>) -> Vec<f32> {
    let stride = x.ncols().div_ceil(F32_PER_VEC4) * F32_PER_VEC4;
    let mut out = vec![0.0f32; x.nrows() * stride];
    for (row, dst) in x
        .rows()
        .into_iter()
        .zip(out.chunks_exact_mut(stride.max(1)))
    {
        for (d, &v) in dst.iter_mut().zip(row.iter()) {
            *d = v;
        }
    }
    out
}

// ---- the twins ---------------------------------------------------------------

/// Σ aₖ·wₖ of two int8 rows in i32, in 16 independent lanes (the compiler
/// vectorises it; integer sums are exact in any order). Each product is
/// formed in i16, where it fits (−128·−128 = 16384 ≤ 32767), so that x86's
/// multiply-add of i16 pairs into i32 applies.
fn dot_i8(a: &[i8], w: &[i8]) -> i32 {
    let mut lanes = [0i32; 16];
    let mut xs = a.chunks_exact(16);
    let mut ys = w.chunks_exact(16);
    for (x, y) in (&mut xs).zip(&mut ys) {
        let (x, y): (&[i8; 16], &[i8; 16]) = (
            x.try_into().unwrap_or(&[0; 16]),
            y.try_into().unwrap_or(&[0; 16]),
        );
        for l in 0..16 {
            lanes[l] += (x[l] as i16 * y[l] as i16) as i32;
        }
    }
    let tail: i32 = xs
        .remainder()
        .iter()
        .zip(ys.remainder())
        .map(|(&x, &y)| x as i32 * y as i32)
        .sum();
    lanes.iter().sum::<i32>() + tail
}

/// Σ aₖ·wₖ of two f32 rows in f32, in the same 16 lanes as [`dot_i8`].
fn dot_f32(a: &[f32], w: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let mut xs = a.chunks_exact(16);
    let mut ys = w.chunks_exact(16);
    for (x, y) in (&mut xs).zip(&mut ys) {
        let (x, y): (&[f32; 16], &[f32; 16]) = (
            x.try_into().unwrap_or(&[0.0; 16]),
            y.try_into().unwrap_or(&[0.0; 16]),
        );
        for l in 0..16 {
            lanes[l] += x[l] * y[l];
        }
    }
    let tail: f32 = xs
        .remainder()
        .iter()
        .zip(ys.remainder())
        .map(|(&x, &y)| x * y)
        .sum();
    lanes.iter().sum::<f32>() + tail
}

fn contiguous<T: Clone>(x: ArrayView2<'_, T>) -> Array2<T> {
    x.as_standard_layout().into_owned()
}

fn check_inner(a: (usize, usize), w: (usize, usize)) -> Result<(), Int8Error> {
    if a.1 != w.1 {
        return Err(Int8Error::Shape(format!(
            "A is {} × {} but W is {} × {}: their K differ",
            a.0, a.1, w.0, w.1
        )));
    }
    if a.1 > K_MAX {
        return Err(Int8Error::Overflow { k: a.1 });
    }
    Ok(())
}

/// The twin: C = A·Wᵀ exactly, int8 × int8 → i32, for the given rows of A
/// (C has one row per entry of `rows`).
pub fn matmul_i32_rows(
    a: ArrayView2<'_, i8>,
    w: ArrayView2<'_, i8>,
    rows: &[usize],
) -> Result<Array2<i32>, Int8Error> {
    check_inner(a.dim(), w.dim())?;
    let (a, w) = (contiguous(a), contiguous(w));
    let mut c = Array2::zeros((rows.len(), w.nrows()));
    for (out, &i) in c.rows_mut().into_iter().zip(rows) {
        let ai = a.row(i);
        let ai = ai.as_slice().unwrap_or_default();
        for (o, wj) in out.into_iter().zip(w.rows()) {
            *o = dot_i8(ai, wj.as_slice().unwrap_or_default());
        }
    }
    Ok(c)
}

/// The twin: C = A·Wᵀ exactly, int8 × int8 → i32 (M × N).
pub fn matmul_i32(a: ArrayView2<'_, i8>, w: ArrayView2<'_, i8>) -> Result<Array2<i32>, Int8Error> {
    let rows: Vec<usize> = (0..a.nrows()).collect();
    matmul_i32_rows(a, w, &rows)
}

/// C = A·Wᵀ for the given rows from the *packed* words, word by word through
/// [`dot4_i8_packed`]: what the packed kernel computes, on the CPU. Equal to
/// [`matmul_i32_rows`] when packing is right.
pub fn matmul_i32_packed_rows(a: &[u32], w: &[u32], shape: Shape, rows: &[usize]) -> Array2<i32> {
    let stride = packed_row_words(shape.k);
    Array2::from_shape_fn((rows.len(), shape.n), |(r, j)| {
        let ai = &a[rows[r] * stride..(rows[r] + 1) * stride];
        let wj = &w[j * stride..(j + 1) * stride];
        ai.iter().zip(wj).map(|(&x, &y)| dot4_i8_packed(x, y)).sum()
    })
}

/// The f32 twin of the same loops: C = A·Wᵀ in f32 (M × N).
pub fn matmul_f32(
    a: ArrayView2<'_, f32>,
    w: ArrayView2<'_, f32>,
) -> Result<Array2<f32>, Int8Error> {
    if a.ncols() != w.ncols() {
        return Err(Int8Error::Shape(format!(
            "A is {} × {} but W is {} × {}: their K differ",
            a.nrows(),
            a.ncols(),
            w.nrows(),
            w.ncols()
        )));
    }
    let (a, w) = (contiguous(a), contiguous(w));
    let mut c = Array2::zeros((a.nrows(), w.nrows()));
    for (out, ai) in c.rows_mut().into_iter().zip(a.rows()) {
        let ai = ai.as_slice().unwrap_or_default();
        for (o, wj) in out.into_iter().zip(w.rows()) {
            *o = dot_f32(ai, wj.as_slice().unwrap_or_default());
        }
    }
    Ok(c)
}

/// The exact reference: C = A·Wᵀ in f64 for the given rows of A.
pub fn reference_rows(
    a: ArrayView2<'_, f32>,
    w: ArrayView2<'_, f32>,
    rows: &[usize],
) -> Array2<f64> {
    Array2::from_shape_fn((rows.len(), w.nrows()), |(r, j)| {
        a.row(rows[r])
            .iter()
            .zip(w.row(j))
            .map(|(&x, &y)| x as f64 * y as f64)
            .sum()
    })
}

/// The dequantized product: s_A,i · s_W,j · C_ij in f32, for C's rows
/// `rows` of A.
pub fn dequantize_product(
    c: ArrayView2<'_, i32>,
    a_scales: &[f32],
    w_scales: &[f32],
    rows: &[usize],
) -> Array2<f32> {
    Array2::from_shape_fn(c.dim(), |(r, j)| {
        c[(r, j)] as f32 * (a_scales[rows[r]] * w_scales[j])
    })
}

/// The bound of the dequantized product's error in exact arithmetic, entry
/// (r, j): rounding moves each value by at most half a step (|x − ŝq| ≤ s/2
/// inside the clipping range, and symmetric scales clip nothing), so
/// |ŷ − y| ≤ Σₖ (|aₖ|·s_W/2 + |wₖ|·s_A/2 + s_A·s_W/4).
pub fn dequantization_bound(
    a: ArrayView2<'_, f32>,
    w: ArrayView2<'_, f32>,
    a_scales: &[f32],
    w_scales: &[f32],
    rows: &[usize],
) -> Array2<f64> {
    Array2::from_shape_fn((rows.len(), w.nrows()), |(r, j)| {
        let (sa, sw) = (a_scales[rows[r]] as f64, w_scales[j] as f64);
        a.row(rows[r])
            .iter()
            .zip(w.row(j))
            .map(|(&x, &y)| {
                (x as f64).abs() * sw / 2.0 + (y as f64).abs() * sa / 2.0 + sa * sw / 4.0
            })
            .sum()
    })
}

// ---- executed and compulsory counts --------------------------------------------

/// A count and its formula.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Count {
    /// The count.
    pub value: u64,
    /// How it was counted.
    pub formula: String,
}

/// Ops (a multiply-add counts 2) and bytes of one product, executed and
/// compulsory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Ops the timed code really executes.
    pub ops: Count,
    /// Bytes the timed code really loads and stores in global memory.
    pub bytes: Count,
    /// 2·M·N·K.
    pub ops_compulsory: Count,
    /// The operands read once and C written once.
    pub bytes_compulsory: Count,
}

/// The counts of a GPU kernel at `shape` ([`int8_matmul::executed`]).
pub fn gpu_counts(kernel: ProductKernel, shape: Shape) -> Counts {
    let (ops, bytes) = int8_matmul::executed(kernel, shape);
    let (kx, unit, width) = match kernel {
        ProductKernel::F32 => ("8⌈⌈K/4⌉/2⌉", "16⌈K/4⌉", 4),
        _ => ("32⌈⌈K/16⌉/2⌉", "16⌈K/16⌉", 1),
    };
    Counts {
        ops: Count {
            value: ops,
            formula: format!(
                "2·P(M)·P(N)·Kₑ, P(x) = 128⌈x/128⌉ (whole 128×128 tiles), Kₑ = {kx} (whole K-steps of 8 words)"
            ),
        },
        bytes: Count {
            value: bytes,
            formula: format!(
                "⌈N/128⌉·M·{unit} (A, once per column tile) + ⌈M/128⌉·N·{unit} (W, once per row tile) + 4MN (C); rows padded to 16-byte words, no cache model"
            ),
        },
        ops_compulsory: compulsory_ops(shape),
        bytes_compulsory: compulsory_bytes(shape, width),
    }
}

/// The counts of a CPU twin at `shape` (the loops of [`matmul_i32`] and
/// [`matmul_f32`]: every product once).
pub fn cpu_counts(int8: bool, shape: Shape) -> Counts {
    let width = if int8 { 1 } else { 4 };
    let (m, k, n) = (shape.m as u64, shape.k as u64, shape.n as u64);
    Counts {
        ops: Count {
            value: 2 * m * n * k,
            formula: "2MNK (each product once)".into(),
        },
        bytes: Count {
            value: width * (m * k + m * n * k) + 4 * m * n,
            formula: format!(
                "{width}MK (A) + {width}MNK (W's rows for every row of A, no cache model) + 4MN (C)"
            ),
        },
        ops_compulsory: compulsory_ops(shape),
        bytes_compulsory: compulsory_bytes(shape, width),
    }
}

fn compulsory_ops(shape: Shape) -> Count {
    Count {
        value: 2 * shape.m as u64 * shape.n as u64 * shape.k as u64,
        formula: "2MNK".into(),
    }
}

fn compulsory_bytes(shape: Shape, width: u64) -> Count {
    let (m, k, n) = (shape.m as u64, shape.k as u64, shape.n as u64);
    Count {
        value: width * (m * k + n * k) + 4 * m * n,
        formula: format!(
            "{width}(MK + NK) + 4MN (A and W once at {width} byte(s) per value, C once in 32 bits)"
        ),
    }
}

// ---- the measurement -------------------------------------------------------

/// Which int8 kernels a GPU run times (the f32 kernel always runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KernelChoice {
    /// The packed kernel where the adapter has it, else the unpacked one.
    Auto,
    /// The packed kernel (fails where it cannot be compiled).
    Packed,
    /// The unpacking fallback.
    Unpacked,
    /// Both int8 kernels that can run here.
    #[default]
    All,
}

impl KernelChoice {
    /// Every choice with its key, for flags, URL values and controls.
    pub const ALL: &'static [(KernelChoice, &'static str, &'static str)] = &[
        (KernelChoice::All, "all", "packed and unpacked, beside f32"),
        (
            KernelChoice::Auto,
            "auto",
            "the best int8 kernel here, beside f32",
        ),
        (KernelChoice::Packed, "packed", "dot4I8Packed, beside f32"),
        (
            KernelChoice::Unpacked,
            "unpacked",
            "the unpacking fallback, beside f32",
        ),
    ];

    /// Its key.
    pub fn key(self) -> &'static str {
        KernelChoice::ALL
            .iter()
            .find(|(c, _, _)| *c == self)
            .map(|(_, k, _)| *k)
            .unwrap_or("all")
    }

    /// The choice of `key`.
    pub fn parse(key: &str) -> Option<KernelChoice> {
        KernelChoice::ALL
            .iter()
            .find(|(_, k, _)| *k == key)
            .map(|(c, _, _)| *c)
    }

    /// The int8 kernels to time where the packed kernel is (or is not)
    /// available; `Err` when the packed kernel is asked for by name and
    /// cannot run.
    pub fn kernels(self, packed: &PackedDot) -> Result<Vec<ProductKernel>, Int8Error> {
        Ok(match (self, packed.available) {
            (KernelChoice::Packed, false) => {
                return Err(Int8Error::PackedUnavailable(packed.detail.clone()));
            }
            (KernelChoice::Packed, true) | (KernelChoice::Auto, true) => {
                vec![ProductKernel::Int8Packed]
            }
            (KernelChoice::All, true) => {
                vec![ProductKernel::Int8Packed, ProductKernel::Int8Unpacked]
            }
            (KernelChoice::Unpacked, _)
            | (KernelChoice::Auto, false)
            | (KernelChoice::All, false) => {
                vec![ProductKernel::Int8Unpacked]
            }
        })
    }
}

/// One measurement: a shape, its seeded inputs, the kernels to time.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Problem {
    /// M × K times (N × K)ᵀ.
    pub shape: Shape,
    /// Seed of the inputs.
    pub seed: u64,
    /// Which int8 kernels.
    pub kernels: KernelChoice,
    /// Timed repeats after one warm-up.
    pub repeats: u32,
    /// Most multiply-adds the CPU may spend on each check (the twin's rows,
    /// the f64 reference's): rows of C are checked evenly spaced, first and
    /// last included, as many as fit — all of them when M·N·K fits.
    pub check_macs: u64,
}

/// The seeded inputs and their quantization.
#[derive(Debug, Clone)]
pub struct Int8Inputs {
    /// Activations, M × K, standard normal.
    pub a: Array2<f32>,
    /// Weights, N × K, normal with standard deviation 1/√K (so that
    /// products have unit variance).
    pub w: Array2<f32>,
    /// A per row (per token).
    pub qa: QuantizedRows,
    /// W per row (per output channel).
    pub qw: QuantizedRows,
}

/// What the inputs are, for reports.
pub const INPUTS_DESCRIPTION: &str = "A: M×K activations ~ N(0, 1); W: N×K weights ~ N(0, 1/K) \
     (one row per output channel); seeded ChaCha8 streams";
/// How they are quantized, for reports.
pub const QUANTIZATION_DESCRIPTION: &str = "symmetric int8 in [−127, 127], s = max|x|/127, round \
     half to even; A per row (per token), W per row (per output channel); Y ≈ s_A,i·s_W,j·(Q(A)·Q(W)ᵀ)ᵢⱼ";

impl Int8Inputs {
    /// The inputs of `seed` at `shape`, quantized.
    pub fn generate(shape: Shape, seed: u64) -> Int8Inputs {
        let a = GaussianStream::new(derive_seed(seed, "int8.activations", 0))
            .matrix(shape.m, shape.k, 1.0);
        let w = GaussianStream::new(derive_seed(seed, "int8.weights", 0)).matrix(
            shape.n,
            shape.k,
            1.0 / (shape.k as f64).sqrt(),
        );
        let qa = quantize_rows(a.view());
        let qw = quantize_rows(w.view());
        Int8Inputs { a, w, qa, qw }
    }
}

/// The rows of C checked: evenly spaced, first and last included, as many
/// as `macs` multiply-adds allow (at least 2, at most all M).
pub fn checked_rows(shape: Shape, macs: u64) -> Vec<usize> {
    let per_row = (shape.n as u64 * shape.k as u64).max(1);
    let count = ((macs / per_row) as usize)
        .clamp(2, shape.m.max(2))
        .min(shape.m);
    if count >= shape.m {
        return (0..shape.m).collect();
    }
    let mut rows: Vec<usize> = (0..count)
        .map(|t| t * (shape.m - 1) / (count - 1))
        .collect();
    rows.dedup();
    rows
}

/// The packed dot product's availability as a report states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackedDotInfo {
    /// Whether the packed kernel can be compiled here.
    pub available: bool,
    /// What it compiles to (e.g. "packed (hardware dot4I8Packed)").
    pub path: String,
    /// Why, in a sentence.
    pub detail: String,
}

/// One timed kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelRun {
    /// `int8-packed`, `int8-unpacked`, `f32` (GPU); `int8-twin`, `f32-twin` (CPU).
    pub kernel: String,
    /// Which path ran, e.g. "packed (hardware dot4I8Packed)", "unpacked fallback".
    pub path: String,
    /// Why that path, in a sentence.
    pub path_detail: String,
    /// How `time_ms` was measured.
    pub timing: Timing,
    /// What the time is.
    pub timing_detail: String,
    /// Median of the timed repeats, in milliseconds (warm: after one untimed run).
    pub time_ms: f64,
    /// Every repeat, in milliseconds.
    pub time_ms_samples: Vec<f64>,
    /// Executed ops (multiply-add = 2).
    pub ops: u64,
    /// Their formula.
    pub ops_formula: String,
    /// 2MNK.
    pub ops_compulsory: u64,
    /// Executed global-memory bytes.
    pub bytes: u64,
    /// Their formula.
    pub bytes_formula: String,
    /// The operands once and C once.
    pub bytes_compulsory: u64,
    /// Its formula.
    pub bytes_compulsory_formula: String,
    /// Compulsory ops (2MNK) per second, in 10⁹ (`null` if the time is 0).
    pub gops: Option<f64>,
    /// Executed bytes per second, in 10⁹.
    pub gbytes_per_s: Option<f64>,
    /// Device (or host) memory its buffers occupy.
    pub memory_bytes: u64,
    /// int8: whether its i32 result equals the twin's on every checked row
    /// (`null` for f32).
    pub exact: Option<bool>,
    /// int8: entries that differ from the twin's (`null` for f32).
    pub mismatches: Option<u64>,
    /// max |ŷ − y| over the checked rows, y the f64 product of the f32 inputs
    /// and ŷ this kernel's output (dequantized for int8).
    pub max_abs_err: f64,
    /// ‖ŷ − y‖_F / ‖y‖_F over the checked rows (a zero output scores 1).
    pub rel_err: f64,
    /// f32 time / this kernel's time (`null` if either is 0).
    pub speedup_vs_f32: Option<f64>,
}

/// A measurement of one shape: the kernels that ran, side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Int8Report {
    /// Schema of this JSON.
    pub schema: String,
    /// Rows of A and C.
    pub m: usize,
    /// The inner dimension.
    pub k: usize,
    /// Rows of W, columns of C.
    pub n: usize,
    /// Seed of the inputs.
    pub seed: u64,
    /// `gpu` or `cpu`.
    pub backend: String,
    /// The adapter, or "CPU twin".
    pub adapter: String,
    /// Vulkan, Metal, Dx12, WebGPU, or "CPU".
    pub api: String,
    /// Why the CPU twin ran, when it was not asked for.
    pub backend_reason: Option<String>,
    /// The kernels asked for (`all`, `auto`, `packed`, `unpacked`).
    pub kernel_choice: String,
    /// What `dot4I8Packed` is here.
    pub packed_dot: PackedDotInfo,
    /// The inputs.
    pub inputs: String,
    /// Their quantization.
    pub quantization: String,
    /// Rows of C checked against the twin and the f64 reference.
    pub checked_rows: usize,
    /// Which rows, in words.
    pub checked_scope: String,
    /// The timed kernels, int8 first, f32 last.
    pub kernels: Vec<KernelRun>,
    /// The fastest int8 kernel's speedup over f32 (`null` if unknown).
    pub int8_speedup_vs_f32: Option<f64>,
    /// Which kernel that is.
    pub int8_fastest: Option<String>,
    /// The survey's figure this measures.
    pub survey_claim: String,
    /// Remarks.
    pub notes: Vec<String>,
}

/// The schema key of [`Int8Report`].
pub const SCHEMA: &str = "flt.int8-matmul.v1";

impl Int8Report {
    /// One flat JSON object per kernel (the shape and backend beside the
    /// kernel's figures): `flt matmul --json` prints one per line.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.kernels
            .iter()
            .map(|k| {
                let mut line = serde_json::json!({
                    "schema": self.schema,
                    "m": self.m,
                    "k": self.k,
                    "n": self.n,
                    "seed": self.seed,
                    "backend": self.backend,
                    "adapter": self.adapter,
                    "api": self.api,
                    "checked_rows": self.checked_rows,
                    "checked_scope": self.checked_scope,
                });
                if let (Some(map), Ok(serde_json::Value::Object(kernel))) =
                    (line.as_object_mut(), serde_json::to_value(k))
                {
                    map.extend(kernel);
                }
                line
            })
            .collect()
    }

    /// The kernel `key`, if it ran.
    pub fn kernel(&self, key: &str) -> Option<&KernelRun> {
        self.kernels.iter().find(|k| k.kernel == key)
    }
}

/// ops / time in 10⁹ per second; `None` for a zero time.
fn per_second(count: u64, time_ms: f64) -> Option<f64> {
    (time_ms > 0.0).then(|| count as f64 / (time_ms * 1e6))
}

struct Checked {
    exact: Option<bool>,
    mismatches: Option<u64>,
    errors: Errors,
}

#[allow(clippy::too_many_arguments)]
fn kernel_run(
    kernel: &str,
    path: &str,
    path_detail: &str,
    timed: &Timed,
    timing_detail: String,
    counts: &Counts,
    memory_bytes: u64,
    checked: Checked,
) -> KernelRun {
    let time_ms = median(&timed.samples);
    let time_ms = if time_ms.is_finite() { time_ms } else { 0.0 };
    KernelRun {
        kernel: kernel.into(),
        path: path.into(),
        path_detail: path_detail.into(),
        timing: timed.timing,
        timing_detail,
        time_ms,
        time_ms_samples: timed.samples.clone(),
        ops: counts.ops.value,
        ops_formula: counts.ops.formula.clone(),
        ops_compulsory: counts.ops_compulsory.value,
        bytes: counts.bytes.value,
        bytes_formula: counts.bytes.formula.clone(),
        bytes_compulsory: counts.bytes_compulsory.value,
        bytes_compulsory_formula: counts.bytes_compulsory.formula.clone(),
        gops: per_second(counts.ops_compulsory.value, time_ms),
        gbytes_per_s: per_second(counts.bytes.value, time_ms),
        memory_bytes,
        exact: checked.exact,
        mismatches: checked.mismatches,
        max_abs_err: finite_or(checked.errors.max_abs_err, f64::MAX),
        rel_err: finite_or(checked.errors.rel_err, f64::MAX),
        speedup_vs_f32: None,
    }
}

fn finite_or(x: f64, fallback: f64) -> f64 {
    if x.is_finite() { x } else { fallback }
}

/// Fills every kernel's speedup over the f32 kernel and the report's best.
fn speedups(report: &mut Int8Report, f32_key: &str) {
    let f32_time = report.kernel(f32_key).map(|k| k.time_ms).unwrap_or(0.0);
    for k in &mut report.kernels {
        k.speedup_vs_f32 = (f32_time > 0.0 && k.time_ms > 0.0).then(|| f32_time / k.time_ms);
    }
    let best = report
        .kernels
        .iter()
        .filter(|k| k.kernel != f32_key)
        .filter_map(|k| k.speedup_vs_f32.map(|s| (s, k.kernel.clone())))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    report.int8_speedup_vs_f32 = best.as_ref().map(|b| b.0);
    report.int8_fastest = best.map(|b| b.1);
}

/// Entries where two integer results differ (a shape mismatch counts every
/// entry of the larger): what a report's `exact` and `mismatches` say.
pub fn mismatches(c: ArrayView2<'_, i32>, twin: ArrayView2<'_, i32>) -> u64 {
    if c.dim() != twin.dim() {
        return c.len().max(twin.len()) as u64;
    }
    c.iter().zip(twin.iter()).filter(|(a, b)| a != b).count() as u64
}

/// Compares an int8 result's checked rows with the twin's and its
/// dequantized product with the reference.
fn check_int8(
    c_rows: ArrayView2<'_, i32>,
    twin: ArrayView2<'_, i32>,
    x: &Int8Inputs,
    rows: &[usize],
    reference: ArrayView2<'_, f64>,
) -> Checked {
    let mismatches = mismatches(c_rows, twin);
    let dequantized = dequantize_product(c_rows, &x.qa.scales, &x.qw.scales, rows);
    Checked {
        exact: Some(mismatches == 0),
        mismatches: Some(mismatches),
        errors: stats::errors(dequantized.view(), reference),
    }
}

fn rows_of<T: Copy>(c: &[T], n: usize, rows: &[usize]) -> Array2<T> {
    Array2::from_shape_fn((rows.len(), n), |(r, j)| c[rows[r] * n + j])
}

fn scope(rows: &[usize], m: usize) -> String {
    if rows.len() == m {
        format!("all {m} rows")
    } else {
        format!(
            "{} of {m} rows, evenly spaced, first and last included",
            rows.len()
        )
    }
}

/// "1 run", "5 runs".
fn runs(repeats: u32) -> String {
    match repeats.max(1) {
        1 => "1 run".into(),
        r => format!("{r} runs"),
    }
}

fn survey_claim() -> String {
    "survey, Compression by Bit Width: INT8 is 4× smaller and 2–4× faster than FP32".into()
}

/// Measures `problem` on the GPU: the int8 kernels chosen (the packed one
/// only where [`int8_matmul::packed_dot`] allows) and the f32 kernel of the
/// same tiling, each a warm-up and `repeats` timed runs (GPU timestamps
/// where the adapter has them); the int8 results checked exactly against
/// the twin and every product against the f64 reference on the checked rows.
pub async fn run_gpu(ctx: &GpuContext, problem: &Int8Problem) -> Result<Int8Report, Int8Error> {
    run_gpu_with(ctx, problem, int8_matmul::packed_dot(ctx), &|_, _| {}).await
}

/// [`run_gpu`] with the packed dot product's availability given (tests
/// pretend an adapter lacks it) and `progress(stage, fraction done)` called
/// before each step (the page shows it).
pub async fn run_gpu_with(
    ctx: &GpuContext,
    problem: &Int8Problem,
    packed: PackedDot,
    progress: &dyn Fn(&str, f64),
) -> Result<Int8Report, Int8Error> {
    let shape = check_shape(problem.shape.m, problem.shape.k, problem.shape.n)?;
    let kernels = problem.kernels.kernels(&packed)?;
    // Every limit of every kernel before any input is made or allocated.
    for &k in kernels.iter().chain([&ProductKernel::F32]) {
        int8_matmul::check(ctx, k, shape)?;
    }
    progress("making and quantizing the inputs", 0.05);
    let x = Int8Inputs::generate(shape, problem.seed);
    let rows = checked_rows(shape, problem.check_macs);
    progress("the CPU twin's checked rows", 0.15);
    let twin = matmul_i32_rows(x.qa.values.view(), x.qw.values.view(), &rows)?;
    let reference = reference_rows(x.a.view(), x.w.view(), &rows);
    let (a_words, w_words) = (pack_rows(x.qa.values.view()), pack_rows(x.qw.values.view()));
    let timing_detail = |t: Timing| match t {
        Timing::GpuTimestamp => format!(
            "median of {} after a warm-up, GPU timestamps around the kernel's compute pass",
            runs(problem.repeats)
        ),
        Timing::WallClock => format!(
            "median of {} after a warm-up, wall clock from submission to completion (no timestamp queries)",
            runs(problem.repeats)
        ),
    };
    let mut runs = Vec::new();
    let steps = kernels.len() as f64 + 1.0;
    for (done, &kernel) in kernels.iter().enumerate() {
        progress(
            &format!("timing {} on the GPU", kernel.key()),
            0.3 + 0.7 * done as f64 / steps,
        );
        let run =
            int8_matmul::matmul_i8(ctx, kernel, shape, &a_words, &w_words, problem.repeats).await?;
        let c_rows = rows_of(&run.c, shape.n, &rows);
        let (path, detail) = match kernel {
            ProductKernel::Int8Packed => (packed.path.label().to_string(), packed.detail.clone()),
            _ => (
                "unpacked fallback".to_string(),
                "each word unpacked by shifts (sign extension) into four i32, then i32 multiply-adds: core WGSL, runs everywhere".to_string(),
            ),
        };
        runs.push(kernel_run(
            kernel.key(),
            &path,
            &detail,
            &run.timed,
            timing_detail(run.timed.timing),
            &gpu_counts(kernel, shape),
            run.memory_bytes,
            check_int8(c_rows.view(), twin.view(), &x, &rows, reference.view()),
        ));
    }
    progress(
        "timing f32 on the GPU",
        0.3 + 0.7 * kernels.len() as f64 / steps,
    );
    let run = int8_matmul::matmul_f32(
        ctx,
        shape,
        &pad_rows_f32(x.a.view()),
        &pad_rows_f32(x.w.view()),
        problem.repeats,
    )
    .await?;
    let c_rows = rows_of(&run.c, shape.n, &rows);
    runs.push(kernel_run(
        ProductKernel::F32.key(),
        "f32 (same tiling)",
        "the int8 kernels' tiling with one f32 multiply-add per word instead of four int8 ones",
        &run.timed,
        timing_detail(run.timed.timing),
        &gpu_counts(ProductKernel::F32, shape),
        run.memory_bytes,
        Checked {
            exact: None,
            mismatches: None,
            errors: stats::errors(c_rows.view(), reference.view()),
        },
    ));
    let mut notes = vec![
        "Timed: the product kernels alone. Quantizing A and packing it (done once, on the CPU, \
         here) and the dequantization s_A,i·s_W,j·C are not timed."
            .to_string(),
    ];
    if !packed.available {
        notes.push(format!("The packed kernel did not run: {}.", packed.detail));
    }
    let mut report = Int8Report {
        schema: SCHEMA.into(),
        m: shape.m,
        k: shape.k,
        n: shape.n,
        seed: problem.seed,
        backend: "gpu".into(),
        adapter: ctx.adapter_name.clone(),
        api: ctx.api.clone(),
        backend_reason: None,
        kernel_choice: problem.kernels.key().into(),
        packed_dot: PackedDotInfo {
            available: packed.available,
            path: packed.path.label().into(),
            detail: packed.detail.clone(),
        },
        inputs: INPUTS_DESCRIPTION.into(),
        quantization: QUANTIZATION_DESCRIPTION.into(),
        checked_rows: rows.len(),
        checked_scope: scope(&rows, shape.m),
        kernels: runs,
        int8_speedup_vs_f32: None,
        int8_fastest: None,
        survey_claim: survey_claim(),
        notes,
    };
    speedups(&mut report, ProductKernel::F32.key());
    Ok(report)
}

/// Runs `f` once untimed, then `repeats` times on the wall clock; returns
/// the last result and the times.
fn time_cpu<T>(repeats: u32, mut f: impl FnMut() -> T) -> (T, Timed) {
    let mut out = f();
    let mut samples = Vec::with_capacity(repeats.max(1) as usize);
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        out = f();
        samples.push(started.elapsed().as_secs_f64() * 1e3);
    }
    (
        out,
        Timed {
            samples,
            timing: Timing::WallClock,
            passes: Vec::new(),
        },
    )
}

/// Measures `problem` with the CPU twins: the int8 twin (i8 × i8 → i32) and
/// the f32 twin of the same loops, each a warm-up and `repeats` wall-clock
/// runs. "exact" says that the product computed word by word from the
/// packed words (what the GPU receives, through [`dot4_i8_packed`]) equals
/// the twin on the checked rows. `reason` says why the GPU did not run.
pub fn run_cpu(problem: &Int8Problem, reason: Option<String>) -> Result<Int8Report, Int8Error> {
    let shape = check_shape(problem.shape.m, problem.shape.k, problem.shape.n)?;
    let x = Int8Inputs::generate(shape, problem.seed);
    let rows = checked_rows(shape, problem.check_macs);
    let reference = reference_rows(x.a.view(), x.w.view(), &rows);
    let detail = |what: &str| {
        format!(
            "median of {} after a warm-up, wall clock of the CPU twin ({what}, one thread): \
             a timing of this CPU, not of a GPU",
            runs(problem.repeats)
        )
    };
    let (c, timed) = time_cpu(problem.repeats, || {
        matmul_i32(x.qa.values.view(), x.qw.values.view())
    });
    let c = c?;
    let (a_words, w_words) = (pack_rows(x.qa.values.view()), pack_rows(x.qw.values.view()));
    let emulated = matmul_i32_packed_rows(&a_words, &w_words, shape, &rows);
    let c_rows = c.select(Axis(0), &rows);
    let int8 = kernel_run(
        "int8-twin",
        "CPU twin (i8 × i8 → i32)",
        "the exact integer product on the CPU; checked against the product computed word by word from the packed words the GPU would receive",
        &timed,
        detail("16-lane i32 loop"),
        &cpu_counts(true, shape),
        (x.qa.values.len() + x.qw.values.len() + 4 * c.len()) as u64,
        check_int8(c_rows.view(), emulated.view(), &x, &rows, reference.view()),
    );
    let (cf, timed) = time_cpu(problem.repeats, || matmul_f32(x.a.view(), x.w.view()));
    let cf = cf?;
    let f32_run = kernel_run(
        "f32-twin",
        "CPU twin (f32)",
        "the f32 product with the int8 twin's loops",
        &timed,
        detail("16-lane f32 loop"),
        &cpu_counts(false, shape),
        (4 * (x.a.len() + x.w.len() + cf.len())) as u64,
        Checked {
            exact: None,
            mismatches: None,
            errors: stats::errors(cf.select(Axis(0), &rows).view(), reference.view()),
        },
    );
    let mut notes = vec![
        "The CPU twins ran: their times are of this CPU (one thread), not of a GPU kernel; \
         the int8/f32 ratio compares the two twins' loops."
            .to_string(),
    ];
    if let Some(why) = &reason {
        notes.push(format!("No GPU: {why}."));
    }
    let mut report = Int8Report {
        schema: SCHEMA.into(),
        m: shape.m,
        k: shape.k,
        n: shape.n,
        seed: problem.seed,
        backend: "cpu".into(),
        adapter: "CPU twin".into(),
        api: "CPU".into(),
        backend_reason: reason,
        kernel_choice: problem.kernels.key().into(),
        packed_dot: PackedDotInfo {
            available: false,
            path: "CPU twin".into(),
            detail:
                "no GPU kernel ran; dot4I8Packed is emulated by its definition to check the packing"
                    .into(),
        },
        inputs: INPUTS_DESCRIPTION.into(),
        quantization: QUANTIZATION_DESCRIPTION.into(),
        checked_rows: rows.len(),
        checked_scope: scope(&rows, shape.m),
        kernels: vec![int8, f32_run],
        int8_speedup_vs_f32: None,
        int8_fastest: None,
        survey_claim: survey_claim(),
        notes,
    };
    speedups(&mut report, "f32-twin");
    Ok(report)
}

//! Post-training quantization of a weight matrix (survey, "Quantization"):
//!
//! ```text
//! Q(x) = clamp(round(x / s) + z, q_min, q_max)      x̂ = s · (Q(x) − z)
//! ```
//!
//! at b = 8 … 2 bits, binary (b = 1), and in the floating-point formats of
//! [`super::formats`]. This is the CPU twin of `gpu/quantize.wgsl`; both
//! work in the same steps so that they agree:
//!
//! 1. statistics per group (min, max, Σ|x|), in chunks of [`CHUNK`]
//!    elements whose partial statistics merge;
//! 2. with `clip = mse`, the squared error of every candidate clipping range
//!    α · range, α ∈ {1.00, 0.99, …, 0.01} ([`CANDIDATES`]), summed per
//!    chunk; the group keeps the α of least error (the first on ties, i.e.
//!    the widest range) — a grid search, as calibration tools do for "MSE"
//!    observers (e.g. NVIDIA's TensorRT / pytorch-quantization `mse`
//!    calibrator; Banner et al., "Post training 4-bit quantization of
//!    convolutional networks for rapid-deployment", NeurIPS 2019, derive the
//!    optimum analytically for Gaussian and Laplace weights);
//! 3. every element quantized and dequantized with its group's parameters.
//!
//! Schemes:
//!
//! * symmetric: s = α·max|x| / (2^{b−1} − 1), z = 0, Q ∈ [−(2^{b−1}−1),
//!   2^{b−1}−1] (the restricted range, as PyTorch's `qint8` symmetric
//!   observers and most weight quantizers use, so the grid is symmetric);
//! * asymmetric: the range [min(x_min, 0), max(x_max, 0)] — widened to hold
//!   0, so that zero is exact and the zero point fits b bits (Jacob et al.,
//!   "Quantization and Training of Neural Networks for Efficient
//!   Integer-Arithmetic-Only Inference", CVPR 2018, §2.1) — scaled by α,
//!   s = (hi − lo) / (2^b − 1), z = round(−lo / s), Q ∈ [0, 2^b − 1];
//! * binary (b = 1): x̂ = sign(x) · mean|x| over the group, sign(0) = +1 —
//!   the scale that minimises the squared error for a fixed sign pattern
//!   (Rastegari et al., "XNOR-Net", ECCV 2016, eq. 4), so clipping does not
//!   apply;
//! * fp8 E4M3 / E5M2: s = α·max|x| / fp8_max, x̂ = s · fp8(x / s)
//!   (saturating); fp16 / bf16: x̂ = cast(x), no scale.
//!
//! Rounding is half to even (`round_ties_even`, WGSL's `round`), as NumPy
//! and PyTorch round. A constant group (all elements equal, all-zero
//! included) is stored exactly: its scale is |c| and every code ±1 (or 0),
//! so x̂ = c — never a NaN from 0 / 0. A scale that underflows f32's normal
//! range is raised to the smallest normal f32.
//!
//! Granularity: per tensor (one group), per channel (one group per output
//! row) or group-wise (groups of G consecutive elements along each row; a
//! row's last group may be shorter). Every group is a contiguous run of the
//! row-major matrix.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::formats::FloatFormat;
use crate::data::codes::QuantKind;
use crate::data::count::Counted;
use crate::gpu::quantize::Plan;

/// Elements per chunk of the statistics and error passes (one GPU
/// workgroup each).
pub const CHUNK: usize = 4096;
/// Clipping candidates of `clip = mse`: α_k = 1 − k / 100.
pub const CANDIDATES: usize = 100;

/// The α of candidate `k`.
/// (computed as `quantize.wgsl` does: (100 − k) · 0.01 in f32, and 1 for
/// k = 0, so that both sides try the same ranges).
pub fn candidate_alpha(k: usize) -> f32 {
    if k == 0 {
        1.0
    } else {
        (CANDIDATES - k) as f32 * 0.01
    }
}

/// Integer grid or a floating-point format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// b-bit integers (b = 1: binary).
    Int,
    /// A floating-point format.
    Float(FloatFormat),
}

impl Format {
    /// Every format, in the order the controls list them.
    pub const ALL: [Format; 5] = [
        Format::Int,
        Format::Float(FloatFormat::Fp16),
        Format::Float(FloatFormat::Bf16),
        Format::Float(FloatFormat::Fp8E4M3),
        Format::Float(FloatFormat::Fp8E5M2),
    ];

    /// URL / CLI name (`int`, `fp16`, `bf16`, `fp8-e4m3`, `fp8-e5m2`).
    pub fn key(self) -> &'static str {
        match self {
            Format::Int => "int",
            Format::Float(f) => f.key(),
        }
    }

    /// The format named `key`.
    pub fn from_key(key: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.key() == key)
    }
}

/// Symmetric or asymmetric integer grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// z = 0, grid symmetric around 0.
    Symmetric,
    /// A zero point; the grid spans [min, max] (widened to hold 0).
    Asymmetric,
}

impl Mode {
    /// Both, in control order.
    pub const ALL: [Mode; 2] = [Mode::Symmetric, Mode::Asymmetric];

    /// URL / CLI name.
    pub fn key(self) -> &'static str {
        match self {
            Mode::Symmetric => "symmetric",
            Mode::Asymmetric => "asymmetric",
        }
    }
}

/// Which elements share a scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Granularity {
    /// One scale for the matrix.
    PerTensor,
    /// One scale per output row.
    PerChannel,
    /// One scale per G consecutive elements of a row.
    Group,
}

impl Granularity {
    /// All three, in control order.
    pub const ALL: [Granularity; 3] = [
        Granularity::PerTensor,
        Granularity::PerChannel,
        Granularity::Group,
    ];

    /// URL / CLI name.
    pub fn key(self) -> &'static str {
        match self {
            Granularity::PerTensor => "per-tensor",
            Granularity::PerChannel => "per-channel",
            Granularity::Group => "group",
        }
    }
}

/// How the clipping range is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Clip {
    /// The group's whole range.
    #[serde(rename = "minmax")]
    MinMax,
    /// The candidate range of least squared error.
    Mse,
}

impl Clip {
    /// Both, in control order.
    pub const ALL: [Clip; 2] = [Clip::MinMax, Clip::Mse];

    /// URL / CLI name.
    pub fn key(self) -> &'static str {
        match self {
            Clip::MinMax => "minmax",
            Clip::Mse => "mse",
        }
    }
}

/// What makes a scheme impossible.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SchemeError {
    /// Bits out of 1..=8 for the integer format.
    #[error("bits={0} is not supported: integer quantization takes 1 to 8 bits")]
    Bits(u32),
    /// Group size 0.
    #[error("group-size must be at least 1")]
    GroupSize,
    /// A cast would overflow to infinity.
    #[error(
        "element [{row}, {col}] = {value:e} overflows {format} (largest finite {max:e}); use bf16, or an fp8 format with its scale"
    )]
    Overflow {
        /// The format.
        format: &'static str,
        /// Row of the first such element.
        row: usize,
        /// Its column.
        col: usize,
        /// Its value.
        value: f32,
        /// The format's largest finite value.
        max: f32,
    },
    /// The matrix is empty.
    #[error("the matrix is empty ({0} × {1})")]
    Empty(usize, usize),
    /// The matrix exceeds the lab's limits.
    #[error(
        "a {rows} × {cols} matrix is too large: the lab takes at most 8192 rows, 8192 columns and 2^25 elements (128 MiB of f32)"
    )]
    TooLarge {
        /// Its rows.
        rows: usize,
        /// Its columns.
        cols: usize,
    },
}

/// A quantization scheme.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scheme {
    /// Integers or a float format.
    pub format: Format,
    /// Bits per integer (1 … 8); ignored for float formats.
    pub bits: u32,
    /// Symmetric or asymmetric (integers of 2 bits or more).
    pub mode: Mode,
    /// Which elements share a scale (not fp16 / bf16).
    pub granularity: Granularity,
    /// G of group-wise quantization.
    pub group_size: usize,
    /// How the clipping range is chosen (not binary, fp16, bf16).
    pub clip: Clip,
}

impl Default for Scheme {
    fn default() -> Self {
        Scheme {
            format: Format::Int,
            bits: 4,
            mode: Mode::Symmetric,
            granularity: Granularity::PerChannel,
            group_size: 128,
            clip: Clip::MinMax,
        }
    }
}

/// The parameters of one group.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct GroupParams {
    /// Scale s (binary: mean|x|; constant group: |c|).
    pub scale: f32,
    /// Zero point z (asymmetric), else 0.
    pub zero: f32,
    /// Lower end of the clipping range.
    pub lo: f32,
    /// Upper end of the clipping range.
    pub hi: f32,
    /// The clipping factor chosen.
    pub alpha: f32,
    /// `Some(c)` when every element of the group equals c (stored exactly).
    pub constant: Option<f32>,
}

/// Statistics of a group or chunk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Smallest element.
    pub min: f32,
    /// Largest element.
    pub max: f32,
    /// Σ|x| in f64.
    pub sum_abs: f64,
    /// Elements counted.
    pub count: usize,
}

impl Stats {
    /// Nothing counted yet.
    pub const EMPTY: Stats = Stats {
        min: f32::INFINITY,
        max: f32::NEG_INFINITY,
        sum_abs: 0.0,
        count: 0,
    };

    /// The statistics of `xs`.
    pub fn of(xs: &[f32]) -> Stats {
        xs.iter().fold(Stats::EMPTY, |s, &x| Stats {
            min: s.min.min(x),
            max: s.max.max(x),
            sum_abs: s.sum_abs + x.abs() as f64,
            count: s.count + 1,
        })
    }

    /// Both together.
    pub fn merge(self, o: Stats) -> Stats {
        Stats {
            min: self.min.min(o.min),
            max: self.max.max(o.max),
            sum_abs: self.sum_abs + o.sum_abs,
            count: self.count + o.count,
        }
    }

    /// max |x|.
    pub fn amax(&self) -> f32 {
        self.max.abs().max(self.min.abs())
    }
}

/// The groups of a rows × cols matrix: contiguous runs of the row-major
/// data, `per_row` per row (1 per tensor: the whole matrix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Groups {
    /// Rows of the matrix.
    pub rows: usize,
    /// Columns of the matrix.
    pub cols: usize,
    /// Elements per full group along a row (per tensor: rows · cols).
    pub len: usize,
    /// Groups per row (per tensor: 1 for the whole matrix).
    pub per_row: usize,
    /// Groups in all.
    pub count: usize,
}

impl Groups {
    /// The groups of `scheme` on a rows × cols matrix.
    pub fn new(rows: usize, cols: usize, granularity: Granularity, group_size: usize) -> Groups {
        match granularity {
            Granularity::PerTensor => Groups {
                rows,
                cols,
                len: rows * cols,
                per_row: 1,
                count: 1,
            },
            Granularity::PerChannel => Groups {
                rows,
                cols,
                len: cols,
                per_row: 1,
                count: rows,
            },
            Granularity::Group => {
                let len = group_size.clamp(1, cols.max(1));
                let per_row = cols.div_ceil(len);
                Groups {
                    rows,
                    cols,
                    len,
                    per_row,
                    count: rows * per_row,
                }
            }
        }
    }

    /// Group `g`'s first element (row-major index) and length.
    pub fn range(&self, g: usize) -> (usize, usize) {
        if self.count == 1 {
            return (0, self.rows * self.cols);
        }
        let (row, j) = (g / self.per_row, g % self.per_row);
        let start = j * self.len;
        (row * self.cols + start, self.len.min(self.cols - start))
    }

    /// The group of row-major element `index`.
    pub fn of(&self, index: usize) -> usize {
        if self.count == 1 {
            return 0;
        }
        let (row, col) = (index / self.cols, index % self.cols);
        row * self.per_row + col / self.len
    }

    /// Every chunk of at most [`CHUNK`] elements: (group, start, len), in
    /// group order — the GPU's workgroups of the statistics and error
    /// passes.
    pub fn chunks(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        (0..self.count).flat_map(move |g| {
            let (start, len) = self.range(g);
            (0..len.div_ceil(CHUNK).max(1)).map(move |c| {
                let s = c * CHUNK;
                (g, start + s, (len - s.min(len)).min(CHUNK))
            })
        })
    }

    /// Chunks per group of the longest group (the GPU's dispatch width).
    pub fn chunks_per_group(&self) -> usize {
        let longest = if self.count == 1 {
            self.rows * self.cols
        } else {
            self.len
        };
        longest.div_ceil(CHUNK).max(1)
    }
}

/// Bytes of the stored matrix and what they count.
#[derive(Debug, Clone, PartialEq)]
pub struct Storage {
    /// The f32 matrix.
    pub before: Counted,
    /// Codes, scales and zero points.
    pub after: Counted,
    /// 8 · after / elements.
    pub bits_per_weight: f64,
}

impl Scheme {
    /// Checks the scheme itself (not the data).
    pub fn check(&self) -> Result<(), SchemeError> {
        if self.format == Format::Int && !(1..=8).contains(&self.bits) {
            return Err(SchemeError::Bits(self.bits));
        }
        if self.granularity == Granularity::Group && self.group_size == 0 {
            return Err(SchemeError::GroupSize);
        }
        Ok(())
    }

    /// Binary: 1-bit integers.
    pub fn binary(&self) -> bool {
        self.format == Format::Int && self.bits == 1
    }

    /// Whether groups and scales apply (all but fp16 and bf16).
    pub fn scaled(&self) -> bool {
        match self.format {
            Format::Int => true,
            Format::Float(f) => f.scaled(),
        }
    }

    /// Whether a clipping search applies (integers of 2+ bits and fp8).
    pub fn clips(&self) -> bool {
        self.scaled() && !self.binary()
    }

    /// The mode that applies: asymmetric only for integers of 2+ bits.
    pub fn effective_mode(&self) -> Mode {
        if self.format == Format::Int && !self.binary() {
            self.mode
        } else {
            Mode::Symmetric
        }
    }

    /// The clip that applies.
    pub fn effective_clip(&self) -> Clip {
        if self.clips() {
            self.clip
        } else {
            Clip::MinMax
        }
    }

    /// Bits per stored element (integers: b; formats: their width).
    pub fn element_bits(&self) -> u32 {
        match self.format {
            Format::Int => self.bits,
            Format::Float(f) => f.layout().bits(),
        }
    }

    /// The groups on a rows × cols matrix (fp16 / bf16: one, unused).
    pub fn groups(&self, rows: usize, cols: usize) -> Groups {
        let granularity = if self.scaled() {
            self.granularity
        } else {
            Granularity::PerTensor
        };
        Groups::new(rows, cols, granularity, self.group_size)
    }

    /// Integer grid [q_min, q_max].
    pub fn levels(&self) -> (f32, f32) {
        let b = self.bits as i32;
        match self.effective_mode() {
            Mode::Symmetric => {
                let q = ((1i64 << (b - 1)) - 1) as f32;
                (-q, q)
            }
            Mode::Asymmetric => (0.0, ((1i64 << b) - 1) as f32),
        }
    }

    /// A short name: `int4 symmetric per-channel minmax`, `fp16`, ….
    pub fn label(&self) -> String {
        let base = match self.format {
            Format::Int if self.binary() => "binary".to_string(),
            Format::Int => format!("int{} {}", self.bits, self.effective_mode().key()),
            Format::Float(f) => f.key().to_string(),
        };
        if !self.scaled() {
            return base;
        }
        let granularity = match self.granularity {
            Granularity::Group => format!("group of {}", self.group_size),
            g => g.key().to_string(),
        };
        if self.clips() {
            format!("{base} {granularity} {}", self.effective_clip().key())
        } else {
            format!("{base} {granularity}")
        }
    }

    /// The group's parameters for statistics `st` and clipping factor α.
    pub fn params(&self, st: &Stats, alpha: f32) -> GroupParams {
        let mut p = GroupParams {
            alpha,
            ..GroupParams::default()
        };
        if self.scaled() && st.count > 0 && st.min == st.max {
            let c = st.min;
            p.constant = Some(c);
            p.scale = c.abs();
            (p.lo, p.hi) = (c, c);
            return p;
        }
        match self.format {
            Format::Float(f) if !f.scaled() => {
                p.scale = 1.0;
            }
            Format::Float(f) => {
                p.hi = alpha * st.amax();
                p.lo = -p.hi;
                p.scale = normal_scale(p.hi / f.layout().max_finite);
            }
            Format::Int if self.binary() => {
                p.scale = (st.sum_abs / st.count.max(1) as f64) as f32;
                (p.lo, p.hi) = (-p.scale, p.scale);
            }
            Format::Int => {
                let (qmin, qmax) = self.levels();
                match self.effective_mode() {
                    Mode::Symmetric => {
                        p.hi = alpha * st.amax();
                        p.lo = -p.hi;
                        p.scale = normal_scale(p.hi / qmax);
                    }
                    Mode::Asymmetric => {
                        p.lo = alpha * st.min.min(0.0);
                        p.hi = alpha * st.max.max(0.0);
                        p.scale = normal_scale((p.hi - p.lo) / qmax);
                        p.zero = (-p.lo / p.scale).round_ties_even().clamp(qmin, qmax);
                    }
                }
            }
        }
        p
    }

    /// x̂ of one element with its group's parameters.
    pub fn apply(&self, x: f32, p: &GroupParams) -> f32 {
        if let Some(c) = p.constant {
            return c;
        }
        match self.format {
            Format::Float(f) if !f.scaled() => f.round(x),
            Format::Float(f) => p.scale * f.round(x / p.scale),
            Format::Int if self.binary() => {
                if x >= 0.0 {
                    p.scale
                } else {
                    -p.scale
                }
            }
            Format::Int => {
                let (qmin, qmax) = self.levels();
                let q = ((x / p.scale).round_ties_even() + p.zero).clamp(qmin, qmax);
                p.scale * (q - p.zero)
            }
        }
    }

    /// Adds each candidate α's squared error over `xs` (a chunk of a group
    /// with statistics `st`) to `errors`.
    pub fn candidate_errors(&self, xs: &[f32], st: &Stats, errors: &mut [f64]) {
        for (k, e) in errors.iter_mut().enumerate().take(CANDIDATES) {
            let p = self.params(st, candidate_alpha(k));
            *e += xs
                .iter()
                .map(|&x| {
                    let d = (x - self.apply(x, &p)) as f64;
                    d * d
                })
                .sum::<f64>();
        }
    }

    /// Storage of a rows × cols matrix under the scheme.
    pub fn storage(&self, rows: usize, cols: usize) -> Storage {
        let n = (rows * cols) as u64;
        let groups = self.groups(rows, cols).count as u64;
        let before = Counted::new(4 * n, format!("4 B · {n} elements (f32)"));
        let after = match self.format {
            Format::Float(f) if !f.scaled() => {
                Counted::new(2 * n, format!("2 B · {n} elements ({})", f.key()))
            }
            _ => {
                let b = self.element_bits() as u64;
                let zero = u64::from(self.effective_mode() == Mode::Asymmetric);
                let codes = (n * b).div_ceil(8);
                let per_group = 4 + zero;
                let what = if zero == 1 {
                    "4 B f32 scale + 1 B zero point"
                } else {
                    "4 B f32 scale"
                };
                Counted::new(
                    codes + groups * per_group,
                    format!("⌈{n} elements · {b} bit / 8⌉ + {groups} groups · ({what})"),
                )
            }
        };
        let bits_per_weight = if n == 0 {
            0.0
        } else {
            8.0 * after.value as f64 / n as f64
        };
        Storage {
            before,
            after,
            bits_per_weight,
        }
    }
}

impl Scheme {
    /// What each element becomes, as the GPU kernel names it.
    pub fn kind(&self) -> QuantKind {
        match self.format {
            Format::Int if self.binary() => QuantKind::Binary,
            Format::Int => QuantKind::Int,
            Format::Float(f) if f.scaled() => QuantKind::ScaledFloat,
            Format::Float(_) => QuantKind::Cast,
        }
    }

    /// The GPU kernel's plan for a rows × cols matrix.
    pub fn plan(&self, rows: usize, cols: usize) -> Plan {
        let groups = self.groups(rows, cols);
        let (qmin, qmax) = if self.format == Format::Int && !self.binary() {
            self.levels()
        } else {
            (0.0, 0.0)
        };
        let layout = match self.format {
            Format::Float(f) => Some(f.layout()),
            Format::Int => None,
        };
        Plan {
            rows,
            cols,
            group_len: groups.len,
            per_row: groups.per_row,
            groups: groups.count,
            kind: self.kind(),
            asymmetric: self.effective_mode() == Mode::Asymmetric,
            qmin,
            qmax,
            mantissa_bits: layout.map_or(0, |l| l.mantissa_bits),
            min_exponent: layout.map_or(0, |l| l.min_exponent()),
            max_finite: layout.map_or(0.0, |l| l.max_finite),
            saturating: layout.is_some_and(|l| l.saturating),
            mse: self.effective_clip() == Clip::Mse,
        }
    }
}

impl GroupParams {
    /// The parameters as the GPU kernel stores them (scale, zero, lo, hi,
    /// alpha, constant?, constant value, 0).
    pub fn from_gpu(v: &[f32; 8]) -> GroupParams {
        GroupParams {
            scale: v[0],
            zero: v[1],
            lo: v[2],
            hi: v[3],
            alpha: v[4],
            constant: (v[5] != 0.0).then_some(v[6]),
        }
    }
}

/// `s` raised to the smallest normal f32 if it underflowed (it is positive
/// for any non-constant group).
fn normal_scale(s: f32) -> f32 {
    if s < f32::MIN_POSITIVE {
        f32::MIN_POSITIVE
    } else {
        s
    }
}

/// The quantized matrix and its groups' parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantized {
    /// x̂, dequantized.
    pub xhat: Array2<f32>,
    /// Each group's parameters.
    pub params: Vec<GroupParams>,
    /// With `clip = mse`: each group's candidate errors.
    pub errors: Option<Vec<Vec<f64>>>,
}

/// Checks `x` against the scheme: finite, non-empty, no cast overflow.
pub fn check_data(x: ArrayView2<'_, f32>, scheme: &Scheme) -> Result<(), SchemeError> {
    scheme.check()?;
    if x.is_empty() {
        return Err(SchemeError::Empty(x.nrows(), x.ncols()));
    }
    if let Format::Float(f) = scheme.format
        && !f.scaled()
        && let Some(((row, col), &value)) = x.indexed_iter().find(|(_, v)| f.overflows(**v))
    {
        return Err(SchemeError::Overflow {
            format: f.key(),
            row,
            col,
            value,
            max: f.layout().max_finite,
        });
    }
    Ok(())
}

/// Statistics of every group, merged from chunks in order.
pub fn group_stats(data: &[f32], groups: &Groups) -> Vec<Stats> {
    let mut stats = vec![Stats::EMPTY; groups.count];
    for (g, start, len) in groups.chunks() {
        stats[g] = stats[g].merge(Stats::of(&data[start..start + len]));
    }
    stats
}

/// The index of the least error (the first on ties: the widest range).
pub fn best_candidate(errors: &[f64]) -> usize {
    errors
        .iter()
        .enumerate()
        .fold(
            (0, f64::INFINITY),
            |(bk, be), (k, &e)| {
                if e < be { (k, e) } else { (bk, be) }
            },
        )
        .0
}

/// Quantizes and dequantizes `x` (row-major rows × cols) under `scheme`;
/// with `alphas`, each group uses the given clipping factor instead of
/// searching (to replay the GPU's choice).
pub fn quantize(
    x: ArrayView2<'_, f32>,
    scheme: &Scheme,
    alphas: Option<&[f32]>,
) -> Result<Quantized, SchemeError> {
    check_data(x, scheme)?;
    let (rows, cols) = x.dim();
    let data: Vec<f32> = x.iter().copied().collect();
    let groups = scheme.groups(rows, cols);
    let stats = group_stats(&data, &groups);
    let mut errors = None;
    let chosen: Vec<f32> = match (alphas, scheme.effective_clip()) {
        (Some(a), _) => a.to_vec(),
        (None, Clip::MinMax) => vec![1.0; groups.count],
        (None, Clip::Mse) => {
            let mut all = vec![vec![0f64; CANDIDATES]; groups.count];
            for (g, start, len) in groups.chunks() {
                scheme.candidate_errors(&data[start..start + len], &stats[g], &mut all[g]);
            }
            let a = all
                .iter()
                .map(|e| candidate_alpha(best_candidate(e)))
                .collect();
            errors = Some(all);
            a
        }
    };
    let params: Vec<GroupParams> = stats
        .iter()
        .zip(&chosen)
        .map(|(st, &a)| scheme.params(st, a))
        .collect();
    let xhat = Array2::from_shape_fn((rows, cols), |(i, j)| {
        scheme.apply(x[[i, j]], &params[groups.of(i * cols + j)])
    });
    Ok(Quantized {
        xhat,
        params,
        errors,
    })
}

/// Error of x̂ against x.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorStats {
    /// mean (x − x̂)².
    pub mse: f64,
    /// 10 log₁₀(Σx² / Σ(x − x̂)²); `None` when x̂ = x (lossless).
    pub sqnr_db: Option<f64>,
    /// max |x − x̂|.
    pub max_abs_err: f64,
    /// The baseline of storing nothing (x̂ = 0): mean x².
    pub mse_zero: f64,
}

/// The error of `xhat` against `x`, in f64.
pub fn error_stats(x: ArrayView2<'_, f32>, xhat: ArrayView2<'_, f32>) -> ErrorStats {
    let (mut signal, mut noise, mut max) = (0f64, 0f64, 0f64);
    for (&a, &b) in x.iter().zip(xhat.iter()) {
        let d = (a as f64 - b as f64).abs();
        signal += a as f64 * a as f64;
        noise += d * d;
        max = max.max(d);
    }
    let n = x.len().max(1) as f64;
    ErrorStats {
        mse: noise / n,
        sqnr_db: (noise > 0.0).then(|| 10.0 * (signal / noise).log10()),
        max_abs_err: max,
        mse_zero: signal / n,
    }
}

/// The uniform quantizer's law for the scheme as it ran: each element's
/// rounding error uniform on [−s/2, s/2] of its group's step s (variance
/// s²/12), so SQNR = 10 log₁₀(mean x² / mean(s²/12)) — 6.02 dB more per
/// bit, as s halves. It holds while the steps are small against the
/// weights; at 2 or 3 bits clipping and the zero bin break it, and the
/// measured SQNR falls off the line. `None` for a zero signal, for binary,
/// and for the float formats (whose steps vary with the magnitude).
pub fn sqnr_law_db(
    scheme: &Scheme,
    groups: &Groups,
    params: &[GroupParams],
    mean_square: f64,
) -> Option<f64> {
    if scheme.format != Format::Int || scheme.binary() || mean_square <= 0.0 {
        return None;
    }
    let n = (groups.rows * groups.cols) as f64;
    let noise: f64 = params
        .iter()
        .enumerate()
        .filter(|(_, p)| p.constant.is_none())
        .map(|(g, p)| groups.range(g).1 as f64 * (p.scale as f64).powi(2) / 12.0)
        .sum::<f64>()
        / n;
    (noise > 0.0).then(|| 10.0 * (mean_square / noise).log10())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn int(bits: u32, mode: Mode, granularity: Granularity) -> Scheme {
        Scheme {
            bits,
            mode,
            granularity,
            group_size: 3,
            ..Scheme::default()
        }
    }

    #[test]
    fn chunking_and_candidates_match_the_gpu_kernel() {
        assert_eq!(CHUNK, crate::gpu::quantize::CHUNK);
        assert_eq!(CANDIDATES, crate::gpu::quantize::CANDIDATES);
        assert_eq!(candidate_alpha(0), 1.0);
        assert_eq!(candidate_alpha(99), 0.01);
        let g = Groups::new(3, 2 * CHUNK + 1, Granularity::PerChannel, 0);
        let s = Scheme::default().plan(3, 2 * CHUNK + 1);
        assert_eq!(
            (s.groups, s.chunks_per_group()),
            (g.count, g.chunks_per_group())
        );
    }

    #[test]
    fn groups_cover_the_matrix_once_in_row_major_runs() {
        for (g, rows, cols, size) in [
            (Granularity::PerTensor, 3, 5, 1),
            (Granularity::PerChannel, 3, 5, 1),
            (Granularity::Group, 3, 5, 2),
            (Granularity::Group, 2, 7, 7),
            (Granularity::Group, 2, 7, 100),
        ] {
            let groups = Groups::new(rows, cols, g, size);
            let mut seen = vec![0; rows * cols];
            for k in 0..groups.count {
                let (start, len) = groups.range(k);
                for (i, s) in seen.iter_mut().enumerate().skip(start).take(len) {
                    *s += 1;
                    assert_eq!(groups.of(i), k, "{g:?} element {i}");
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "{g:?} {rows}x{cols}/{size}");
            let chunked: usize = groups.chunks().map(|(_, _, len)| len).sum();
            assert_eq!(chunked, rows * cols);
        }
        let big = Groups::new(3, CHUNK + 5, Granularity::PerChannel, 1);
        assert_eq!(big.chunks_per_group(), 2);
        assert_eq!(big.chunks().count(), 6);
    }

    #[test]
    fn symmetric_int8_matches_the_formula_with_ties_to_even() {
        // max|x| = 127 → s = 1: x / s = 2.5 rounds to 2, 3.5 to 4, −2.5 to −2.
        let x = array![[127.0f32, 2.5, 3.5, -2.5, 0.4, -127.0]];
        let q = quantize(
            x.view(),
            &int(8, Mode::Symmetric, Granularity::PerTensor),
            None,
        )
        .unwrap();
        assert_eq!(q.params[0].scale, 1.0);
        assert_eq!(q.xhat, array![[127.0f32, 2.0, 4.0, -2.0, 0.0, -127.0]]);
    }

    #[test]
    fn asymmetric_grid_holds_zero_exactly_and_has_2_to_the_b_levels() {
        let x = array![[0.5f32, 1.0, 3.0, 0.0, 2.2]];
        let s = int(2, Mode::Asymmetric, Granularity::PerTensor);
        let q = quantize(x.view(), &s, None).unwrap();
        // Range [0, 3] (min widened to 0): s = 1, z = 0, levels 0..3.
        assert_eq!(q.params[0].scale, 1.0);
        assert_eq!(q.params[0].zero, 0.0);
        assert_eq!(q.xhat, array![[0.0f32, 1.0, 3.0, 0.0, 2.0]]);
        let x = array![[-1.0f32, 2.0, 0.0, 0.7]];
        let q = quantize(x.view(), &s, None).unwrap();
        // Range [−1, 2]: s = 1, z = 1: x̂ ∈ {−1, 0, 1, 2}.
        assert_eq!((q.params[0].scale, q.params[0].zero), (1.0, 1.0));
        assert_eq!(q.xhat, array![[-1.0f32, 2.0, 0.0, 1.0]]);
    }

    #[test]
    fn error_is_at_most_half_a_step_inside_the_clipping_range() {
        let mut g = crate::inputs::GaussianStream::new(3);
        let x = g.matrix(7, 29, 1.0);
        for bits in 2..=8 {
            for mode in Mode::ALL {
                for granularity in Granularity::ALL {
                    for clip in Clip::ALL {
                        let s = Scheme {
                            clip,
                            ..int(bits, mode, granularity)
                        };
                        let q = quantize(x.view(), &s, None).unwrap();
                        let groups = s.groups(7, 29);
                        for (idx, (&a, &b)) in x.iter().zip(q.xhat.iter()).enumerate() {
                            let p = &q.params[groups.of(idx)];
                            if a >= p.lo && a <= p.hi {
                                let bound = p.scale / 2.0 * (1.0 + 1e-5);
                                assert!(
                                    (a - b).abs() <= bound,
                                    "{} x={a} x̂={b} s={}",
                                    s.label(),
                                    p.scale
                                );
                            } else {
                                assert_eq!(clip, Clip::Mse, "min-max clips nothing");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn grid_values_round_trip_exactly() {
        // Values on the int4 symmetric grid of scale 0.25 come back as they are.
        let x = array![[1.75f32, -0.5, 0.25, 0.0, -1.75, 1.0]];
        let q = quantize(
            x.view(),
            &int(4, Mode::Symmetric, Granularity::PerTensor),
            None,
        )
        .unwrap();
        assert_eq!(q.params[0].scale, 0.25);
        assert_eq!(q.xhat, x);
        let fp16 = Scheme {
            format: Format::Float(FloatFormat::Fp16),
            ..Scheme::default()
        };
        let y = array![[1.0f32, 0.5, 65504.0, -3.0e-5, 6.0e-8]];
        let y = y.mapv(|v| FloatFormat::Fp16.round(v));
        assert_eq!(quantize(y.view(), &fp16, None).unwrap().xhat, y);
    }

    #[test]
    fn constant_and_zero_groups_are_exact() {
        let x = array![[0.1f32, 0.1, 0.1], [0.0, 0.0, 0.0], [-3.3, -3.3, -3.3]];
        // fp16 / bf16 are casts, not grids: 0.1 is not an fp16 value.
        for format in Format::ALL
            .into_iter()
            .filter(|f| *f == Format::Int || matches!(f, Format::Float(g) if g.scaled()))
        {
            for bits in 1..=8 {
                for mode in Mode::ALL {
                    for clip in Clip::ALL {
                        let s = Scheme {
                            format,
                            clip,
                            ..int(bits, mode, Granularity::PerChannel)
                        };
                        let q = quantize(x.view(), &s, None).unwrap();
                        assert_eq!(q.xhat, x, "{}", s.label());
                        let e = error_stats(x.view(), q.xhat.view());
                        assert_eq!(e.sqnr_db, None);
                        assert_eq!(e.mse, 0.0);
                    }
                }
            }
        }
    }

    #[test]
    fn binary_is_sign_times_mean_magnitude_with_sign_of_zero_positive() {
        let x = array![[1.0f32, -3.0, 0.0, 2.0]];
        let s = int(1, Mode::Asymmetric, Granularity::PerTensor);
        let q = quantize(x.view(), &s, None).unwrap();
        assert_eq!(q.xhat, array![[1.5f32, -1.5, 1.5, 1.5]]);
        assert_eq!(s.effective_mode(), Mode::Symmetric);
    }

    #[test]
    fn fp8_scales_by_the_group_maximum_and_saturates_clipped_values() {
        let f = Format::Float(FloatFormat::Fp8E4M3);
        let x = array![[448.0f32, 1.0, -200.0, 0.3]];
        let s = Scheme {
            format: f,
            granularity: Granularity::PerTensor,
            ..Scheme::default()
        };
        let q = quantize(x.view(), &s, None).unwrap();
        assert_eq!(q.params[0].scale, 1.0);
        assert_eq!(q.xhat[[0, 0]], 448.0);
        assert_eq!(
            q.xhat[[0, 2]],
            -192.0,
            "E4M3 near 200: 192 and 208, 200 ties to 192"
        );
        let half = Scheme::default().params(&Stats::of(&[448.0, -1.0]), 0.5);
        assert_eq!(half.hi, 224.0);
        let clipped = s.params(&Stats::of(&[448.0, -1.0]), 0.5);
        assert_eq!(s.apply(448.0, &clipped), clipped.scale * 448.0, "saturates");
    }

    #[test]
    fn fp16_refuses_a_value_that_would_overflow() {
        let x = array![[1.0f32, 7.0e4]];
        let s = Scheme {
            format: Format::Float(FloatFormat::Fp16),
            ..Scheme::default()
        };
        let err = quantize(x.view(), &s, None).unwrap_err();
        assert!(err.to_string().contains("overflows fp16"), "{err}");
        let bf = Scheme {
            format: Format::Float(FloatFormat::Bf16),
            ..s
        };
        assert!(quantize(x.view(), &bf, None).is_ok());
    }

    #[test]
    fn mse_clipping_never_loses_to_min_max_and_wins_at_low_bits() {
        use super::super::weights::Generator;
        for generator in Generator::ALL {
            let x = generator.generate(16, 256, 5);
            for bits in [2, 3, 4, 8] {
                let minmax = int(bits, Mode::Symmetric, Granularity::PerChannel);
                let mse = Scheme {
                    clip: Clip::Mse,
                    ..minmax
                };
                let run = |s: &Scheme| {
                    error_stats(x.view(), quantize(x.view(), s, None).unwrap().xhat.view()).mse
                };
                let (a, b) = (run(&minmax), run(&mse));
                assert!(b <= a, "{generator:?} {bits} bits: {b} > {a}");
                if generator == Generator::Gaussian && bits == 2 {
                    // Min-max puts ±max|x| ≈ ±3σ at the outer levels: most
                    // weights round to 0. The best range is near ±1.2σ.
                    assert!(b < 0.5 * a, "{bits} bits: mse {b} vs {a}");
                }
            }
        }
    }

    #[test]
    fn storage_counts_codes_scales_and_zero_points() {
        let s = Scheme {
            bits: 4,
            mode: Mode::Asymmetric,
            granularity: Granularity::Group,
            group_size: 128,
            ..Scheme::default()
        };
        let st = s.storage(64, 256);
        assert_eq!(st.before.value, 4 * 64 * 256);
        // 64·256·4/8 = 8192 code bytes, 128 groups · 5 B.
        assert_eq!(st.after.value, 8192 + 128 * 5);
        assert!((st.bits_per_weight - (8.0 * 8832.0 / 16384.0)).abs() < 1e-12);
        let fp16 = Scheme {
            format: Format::Float(FloatFormat::Fp16),
            ..s
        };
        assert_eq!(fp16.storage(3, 5).bits_per_weight, 16.0);
        let bin = Scheme { bits: 1, ..s };
        assert_eq!(bin.storage(1, 16).after.value, 2 + 4);
    }

    #[test]
    fn the_law_gains_six_decibels_per_bit_and_matches_fine_grids() {
        let x = super::super::weights::gaussian(8, 512, 2);
        let ms = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64;
        let law = |bits: u32| {
            let s = int(bits, Mode::Symmetric, Granularity::PerChannel);
            let q = quantize(x.view(), &s, None).unwrap();
            let law = sqnr_law_db(&s, &s.groups(8, 512), &q.params, ms).unwrap();
            (law, error_stats(x.view(), q.xhat.view()).sqnr_db.unwrap())
        };
        let (l7, m7) = law(7);
        let (l8, m8) = law(8);
        // (2^7 − 1) / (2^6 − 1) steps: 20 log10(127/63) = 6.09 dB.
        assert!((l8 - l7 - 6.09).abs() < 0.01, "{}", l8 - l7);
        // Fine grids: the measured SQNR sits on the law.
        assert!(
            (m8 - l8).abs() < 0.3 && (m7 - l7).abs() < 0.3,
            "{m8} vs {l8}, {m7} vs {l7}"
        );
    }
}

//! What a run measured, in one serde schema shared by `flt --json`, the page's
//! raw-data panel and its JSON download; plus the error metrics and the pooled
//! attention map that the heatmap draws.
//!
//! Error metrics (all against exact attention computed in f64, see
//! [`crate::attention::full::reference_rows`]):
//! * `rel_err = ‖O − O_exact‖_F / ‖O_exact‖_F`
//! * `max_abs_err = max_ij |O_ij − O_exact,ij|`
//! * `gpu_cpu_max_abs_err = max_ij |O_gpu,ij − O_twin,ij|`, the GPU kernel
//!   against its f32 CPU twin.
//!
//! Rows are independent in exact attention, so for large n the errors are
//! computed exactly on an evenly spaced sample of rows ([`sample_rows`]);
//! `checked_rows` records how many.

use ndarray::{ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// Version of the JSON schema below; bumped when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// Rows compared when n is larger than this (all rows otherwise).
pub const MAX_CHECKED_ROWS: usize = 256;

/// How `time_ms` was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Timing {
    /// GPU timestamp queries around the kernel's compute pass.
    GpuTimestamp,
    /// Wall clock from submission to completion (no `timestamp-query`), or
    /// the CPU's wall clock.
    WallClock,
}

/// Time of one stage of a run (e.g. the materialising path), timed like the
/// main kernel: a warm-up, then repeats, and their median.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// What ran, e.g. `"materialized: scores + softmax + P·V"`.
    pub name: String,
    /// Median time in milliseconds.
    pub time_ms: f64,
    /// Every repeat's time, in milliseconds.
    #[serde(default)]
    pub time_ms_samples: Vec<f64>,
    /// How they were measured.
    #[serde(default = "wall_clock")]
    pub timing: Timing,
    /// Bytes the stage moves through global memory (counted).
    pub bytes: u64,
    /// Device memory its buffers occupy (allocated).
    pub memory_bytes: u64,
}

fn wall_clock() -> Timing {
    Timing::WallClock
}

/// One run's figures. Field names are a contract (`flt --json`, the page's
/// `data-testid="measurement"` panel, downloads): add fields, never rename.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Method key, e.g. `"full"`.
    pub method: String,
    /// Method name, e.g. `"Full softmax"`.
    pub method_label: String,
    /// Sequence length.
    pub n: usize,
    /// Query/key width.
    pub d: usize,
    /// Value width.
    pub dv: usize,
    /// Seed of the inputs (and of any random choice a method makes).
    pub seed: u64,
    /// Whether keys j > i were masked.
    pub causal: bool,
    /// Method-specific knobs (a choice knob by its index; its name is in
    /// `param_choices`).
    pub params: std::collections::BTreeMap<String, u64>,
    /// The names of the choice knobs' values (`{"projection": "mean-pool"}`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub param_choices: std::collections::BTreeMap<String, String>,
    /// `"gaussian"` (seeded) or `"npy"`.
    pub inputs: crate::inputs::InputSource,
    /// The factor Q and K were multiplied by (generated inputs).
    pub qk_scale: f64,
    /// Fingerprint of the exact bits of Q, K and V ([`crate::inputs::Inputs::digest`]):
    /// equal on the page and in the CLI for the same seed and shape.
    pub inputs_digest: String,
    /// `"gpu"` or `"cpu"`.
    pub backend: String,
    /// The adapter's name (`"NVIDIA H100 80GB HBM3"`) or the CPU twin's.
    pub adapter: String,
    /// Graphics API under wgpu (`"Vulkan"`, `"WebGPU"`, ...) or `"ndarray"`.
    pub api: String,
    /// Which kernel was timed: `"fused"` on the GPU, `"cpu-twin"` on the CPU.
    pub kernel: String,
    /// The kernel's variant and tile sizes (e.g. "register-tiled, 32 query
    /// rows × 32 keys per tile").
    pub kernel_variant: String,
    /// Floating-point operations the timed kernel executes (GPU runs: the
    /// kernels, visited tiles and feature maps at their real cost; CPU runs:
    /// the twin's whole pass), counted.
    pub flops: u64,
    /// The formula behind `flops`.
    pub flops_formula: String,
    /// Bytes the timed kernel moves (GPU: global-memory loads and stores,
    /// re-reads included; CPU: what the twin's loops read and write).
    pub bytes: u64,
    /// The formula behind `bytes`.
    pub bytes_formula: String,
    /// Floating-point operations the method itself needs: the pairs in its
    /// pattern, its factors' products (the same on every backend).
    #[serde(default)]
    pub flops_algorithmic: u64,
    /// The formula behind `flops_algorithmic`.
    #[serde(default)]
    pub flops_algorithmic_formula: String,
    /// Compulsory bytes: inputs, parameters and output moved once (the lower
    /// bound of any implementation).
    #[serde(default)]
    pub bytes_compulsory: u64,
    /// The formula behind `bytes_compulsory`.
    #[serde(default)]
    pub bytes_compulsory_formula: String,
    /// Memory allocated for the timed kernel's buffers (GPU: the buffers
    /// created; CPU: the twin's own arrays and the output).
    pub memory_bytes: u64,
    /// What `memory_bytes` counts.
    #[serde(default)]
    pub memory_formula: String,
    /// Median time of the timed kernel, in milliseconds.
    pub time_ms: f64,
    /// How `time_ms` was measured.
    pub timing: Timing,
    /// Every repeat's time, in milliseconds.
    pub time_ms_samples: Vec<f64>,
    /// `flops / time`, in GFLOP/s.
    pub gflops: f64,
    /// ‖O − O_exact‖_F / ‖O_exact‖_F over the checked rows.
    pub rel_err: f64,
    /// max |O − O_exact| over the checked rows.
    pub max_abs_err: f64,
    /// The exact model `rel_err` is measured against.
    #[serde(default)]
    pub reference: String,
    /// rel_err of outputting the mean of V (uniform attention over the keys
    /// each query sees): what a method must beat to say anything.
    #[serde(default)]
    pub baseline_mean_v_rel_err: f64,
    /// rel_err of outputting zeros (1 unless the exact output is zero).
    #[serde(default)]
    pub baseline_zero_rel_err: f64,
    /// Nyström: ‖ÃZÃ − Ã‖_F / ‖Ã‖_F of the pseudo-inverse Z used (CPU twin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinv_residual: Option<f64>,
    /// max |O_gpu − O_cpu twin| over the checked rows (GPU runs only).
    pub gpu_cpu_max_abs_err: Option<f64>,
    /// max |O_kernel − O_cpu twin| for every GPU kernel that computed O
    /// (e.g. `"fused"` and `"materialized"`), over the checked rows.
    pub cross_checks: std::collections::BTreeMap<String, f64>,
    /// Query–key pairs the method's pattern computes (n² for exact attention).
    pub pattern_pairs: u64,
    /// `pattern_pairs / n²`.
    pub density: f64,
    /// Pairs the GPU kernel evaluated, counting the masked pairs inside the
    /// key tiles it visits (tile-granular work; GPU runs of tiled kernels).
    pub tile_pairs: Option<u64>,
    /// Mean over the checked rows of the exact attention mass that falls on
    /// the pairs the pattern computes (1 for exact attention): what the
    /// pattern keeps, and 1 − it what it misses.
    pub mass_in_pattern: f64,
    /// How many rows the error figures compare (all rows up to
    /// [`MAX_CHECKED_ROWS`], an even sample beyond).
    pub checked_rows: usize,
    /// Other stages that ran (e.g. the materialising path feeding the heatmap).
    pub stages: Vec<Stage>,
    /// Remarks a reader needs (fallbacks taken, limits hit).
    pub notes: Vec<String>,
}

/// The attention matrix pooled to at most `MAP_MAX × MAP_MAX` cells: cell
/// (a, b) is the mean of the weights P_ij with i in row block a and j in key
/// block b (blocks of `factor` positions; the last block may be shorter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttentionMap {
    /// Sequence length the map covers.
    pub n: usize,
    /// Positions per cell side.
    pub factor: usize,
    /// Cells per side: ⌈n / factor⌉.
    pub cells: usize,
    /// Row-major cell means, `cells × cells`.
    pub values: Vec<f32>,
}

/// The pattern pooled like [`AttentionMap`]: per cell, the code of the most
/// frequent [`crate::attention::pattern::Category`] among the pairs the
/// method computes (Reformer: 8 + the query's bucket mod 8; 0 when none) and
/// the fraction of the cell's pairs that are computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatternMap {
    /// Sequence length the map covers.
    pub n: usize,
    /// Positions per cell side.
    pub factor: usize,
    /// Cells per side.
    pub cells: usize,
    /// Row-major category codes, `cells × cells`.
    pub codes: Vec<u32>,
    /// Row-major fractions computed, `cells × cells`.
    pub fraction: Vec<f32>,
}

/// Accumulates row patterns into a [`PatternMap`] on the CPU (the GPU does
/// the same in `tiled_attention.wgsl`, `pool_pattern`), counting the pairs.
pub struct PatternPooler {
    n: usize,
    factor: usize,
    cells: usize,
    counts: Vec<[u32; 16]>,
    /// Pairs computed so far.
    pub pairs: u64,
}

impl PatternPooler {
    /// A pooler for an n×n pattern.
    pub fn new(n: usize) -> Self {
        let (factor, cells) = AttentionMap::geometry(n);
        PatternPooler {
            n,
            factor,
            cells,
            counts: vec![[0; 16]; cells * cells],
            pairs: 0,
        }
    }

    /// Adds row i's keys.
    pub fn add_row(&mut self, i: usize, row: &crate::attention::RowPattern) {
        use crate::attention::RowPattern;
        let a = i / self.factor;
        self.pairs += row.len() as u64;
        match row {
            RowPattern::Dense { upto } => {
                for b in 0..self.cells {
                    let (lo, hi) = (b * self.factor, ((b + 1) * self.factor).min(*upto));
                    if hi > lo {
                        self.counts[a * self.cells + b][1] += (hi - lo) as u32;
                    }
                }
            }
            RowPattern::Sparse(keys) => {
                for &(j, code) in keys {
                    self.counts[a * self.cells + j / self.factor][(code as usize).min(15)] += 1;
                }
            }
        }
    }

    /// Per cell: the most frequent code (the lowest among ties, 0 when none)
    /// and the fraction of pairs computed.
    pub fn finish(self) -> PatternMap {
        let span = |block: usize| (self.n - block * self.factor).min(self.factor) as f32;
        let mut codes = Vec::with_capacity(self.counts.len());
        let mut fraction = Vec::with_capacity(self.counts.len());
        for (idx, c) in self.counts.iter().enumerate() {
            let computed: u32 = c.iter().sum();
            let mut best = 0;
            for code in 1..16 {
                if c[code] > c[best] {
                    best = code;
                }
            }
            codes.push(if computed > 0 { best as u32 } else { 0 });
            fraction.push(computed as f32 / (span(idx / self.cells) * span(idx % self.cells)));
        }
        PatternMap {
            n: self.n,
            factor: self.factor,
            cells: self.cells,
            codes,
            fraction,
        }
    }
}

/// A factor of a low-rank or kernel method as the view shows it — e.g.
/// Linformer's n × k map softmax(Q(EK)ᵀ/√d), Nyström's n × L kernel F̃, or
/// the query features φ(Q) — pooled to at most 512 × 512 cells by block means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorMap {
    /// What it is.
    pub title: String,
    /// What the columns index.
    pub x_label: String,
    /// Rows of the full matrix.
    pub rows: usize,
    /// Columns of the full matrix.
    pub cols: usize,
    /// Rows per cell.
    pub row_factor: usize,
    /// Columns per cell.
    pub col_factor: usize,
    /// Cells down.
    pub row_cells: usize,
    /// Cells across.
    pub col_cells: usize,
    /// Row-major cell means.
    pub values: Vec<f32>,
}

impl FactorMap {
    /// Pools a matrix by block means.
    pub fn pool(matrix: &ndarray::Array2<f32>, title: &str, x_label: &str) -> FactorMap {
        let (rows, cols) = matrix.dim();
        let (row_factor, row_cells) = AttentionMap::geometry(rows);
        let (col_factor, col_cells) = AttentionMap::geometry(cols);
        let mut sums = vec![0f64; row_cells * col_cells];
        for ((i, j), &x) in matrix.indexed_iter() {
            sums[(i / row_factor) * col_cells + j / col_factor] += x as f64;
        }
        let span =
            |block: usize, factor: usize, total: usize| (total - block * factor).min(factor) as f64;
        let values = sums
            .iter()
            .enumerate()
            .map(|(idx, &s)| {
                let (a, b) = (idx / col_cells, idx % col_cells);
                (s / (span(a, row_factor, rows) * span(b, col_factor, cols))) as f32
            })
            .collect();
        FactorMap {
            title: title.into(),
            x_label: x_label.into(),
            rows,
            cols,
            row_factor,
            col_factor,
            row_cells,
            col_cells,
            values,
        }
    }
}

/// Reformer's hashing as the view shows it (round 0): the bucket of every
/// position, and the positions in sorted order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LshView {
    /// Number of buckets.
    pub buckets: u32,
    /// Bucket of each query position.
    pub bucket: Vec<u32>,
    /// Query positions sorted by (bucket, position).
    pub sorted: Vec<u32>,
    /// Chunk size in the sorted order.
    pub chunk: u32,
}

/// Largest pooled map side.
pub const MAP_MAX: usize = 512;

impl AttentionMap {
    /// Pooling factor and cell count for a sequence of length n.
    pub fn geometry(n: usize) -> (usize, usize) {
        let factor = n.div_ceil(MAP_MAX).max(1);
        (factor, n.div_ceil(factor))
    }

    /// Largest value (0 for an empty map).
    pub fn max(&self) -> f32 {
        self.values.iter().fold(0.0f32, |m, &v| m.max(v))
    }

    /// Value of cell (a, b).
    pub fn at(&self, a: usize, b: usize) -> f32 {
        self.values[a * self.cells + b]
    }
}

/// The implied map Aᵢⱼ = sᵢ·(uᵢ · wⱼ) of a factored method (u, w: n × r),
/// masked to j ≤ i when causal, pooled like [`AttentionMap`] without forming
/// it: off the diagonal a cell is (Σ_{i∈A} sᵢuᵢ)·(Σ_{j∈B} wⱼ)/(|A||B|), so the
/// cost is O(n·r + cells²·r) plus O(n·factor·r) for causal diagonal cells.
/// (`linalg.wgsl`'s `pool_factored` does the same on the GPU.)
pub fn pool_factored(
    u: ArrayView2<'_, f32>,
    w: ArrayView2<'_, f32>,
    scales: &[f32],
    causal: bool,
) -> AttentionMap {
    let n = u.nrows();
    let r = u.ncols();
    let (factor, cells) = AttentionMap::geometry(n);
    let mut us = ndarray::Array2::<f64>::zeros((cells, r));
    let mut ws = ndarray::Array2::<f64>::zeros((cells, r));
    for i in 0..n {
        let s = scales[i] as f64;
        for t in 0..r {
            us[[i / factor, t]] += s * u[[i, t]] as f64;
            ws[[i / factor, t]] += w[[i, t]] as f64;
        }
    }
    let span = |block: usize| (n - block * factor).min(factor);
    let mut values = vec![0f32; cells * cells];
    for a in 0..cells {
        for b in 0..cells {
            let area = (span(a) * span(b)) as f64;
            let total = if !causal || b < a {
                us.row(a).dot(&ws.row(b))
            } else if b > a {
                0.0
            } else {
                let mut total = 0.0;
                let first = a * factor;
                for (i, &s) in scales.iter().enumerate().skip(first).take(span(a)) {
                    for j in b * factor..=i {
                        total += s as f64
                            * u.row(i)
                                .iter()
                                .zip(w.row(j).iter())
                                .map(|(x, y)| *x as f64 * *y as f64)
                                .sum::<f64>();
                    }
                }
                total
            };
            values[a * cells + b] = (total / area) as f32;
        }
    }
    AttentionMap {
        n,
        factor,
        cells,
        values,
    }
}

/// Accumulates rows of attention weights into an [`AttentionMap`] on the CPU
/// (the GPU does the same in `gpu/pool.wgsl`).
pub struct MapPooler {
    n: usize,
    factor: usize,
    cells: usize,
    sums: Vec<f64>,
}

impl MapPooler {
    /// A pooler for n×n weights.
    pub fn new(n: usize) -> Self {
        let (factor, cells) = AttentionMap::geometry(n);
        MapPooler {
            n,
            factor,
            cells,
            sums: vec![0.0; cells * cells],
        }
    }

    /// Adds row i's weights (length n).
    pub fn add_row(&mut self, i: usize, weights: &[f32]) {
        let a = i / self.factor;
        let row = &mut self.sums[a * self.cells..(a + 1) * self.cells];
        for (b, chunk) in weights.chunks(self.factor).enumerate() {
            row[b] += chunk.iter().map(|&w| w as f64).sum::<f64>();
        }
    }

    /// The means, dividing each cell by the number of entries it covers.
    pub fn finish(self) -> AttentionMap {
        let span = |block: usize| (self.n - block * self.factor).min(self.factor) as f64;
        let values = self
            .sums
            .iter()
            .enumerate()
            .map(|(idx, &s)| (s / (span(idx / self.cells) * span(idx % self.cells))) as f32)
            .collect();
        AttentionMap {
            n: self.n,
            factor: self.factor,
            cells: self.cells,
            values,
        }
    }
}

/// The rows the error figures compare: all of them up to
/// [`MAX_CHECKED_ROWS`], otherwise that many evenly spaced rows including the
/// first and the last.
pub fn sample_rows(n: usize) -> Vec<usize> {
    if n <= MAX_CHECKED_ROWS {
        return (0..n).collect();
    }
    let m = MAX_CHECKED_ROWS;
    (0..m).map(|t| t * (n - 1) / (m - 1)).collect()
}

/// Error figures of `out` (f32) against `exact` (f64), same shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Errors {
    /// ‖out − exact‖_F / ‖exact‖_F (the absolute norm if ‖exact‖ = 0).
    pub rel_err: f64,
    /// max |out − exact|.
    pub max_abs_err: f64,
}

/// Compares an f32 output with the f64 reference.
///
/// # Panics
/// If the shapes differ.
pub fn errors(out: ArrayView2<'_, f32>, exact: ArrayView2<'_, f64>) -> Errors {
    assert_eq!(out.dim(), exact.dim(), "shapes differ");
    let mut diff2 = 0.0f64;
    let mut ref2 = 0.0f64;
    let mut max_abs = 0.0f64;
    for (&o, &e) in out.iter().zip(exact.iter()) {
        let d = o as f64 - e;
        diff2 += d * d;
        ref2 += e * e;
        max_abs = max_abs.max(d.abs());
    }
    // NaN must not vanish into max(): propagate it so callers can refuse it.
    if diff2.is_nan() {
        max_abs = f64::NAN;
    }
    let rel_err = if ref2 > 0.0 {
        (diff2 / ref2).sqrt()
    } else {
        diff2.sqrt()
    };
    Errors {
        rel_err,
        max_abs_err: max_abs,
    }
}

/// max |a − b| between two f32 arrays of one shape (NaN if either has NaN).
pub fn max_abs_diff(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> f64 {
    assert_eq!(a.dim(), b.dim(), "shapes differ");
    let mut m = 0.0f64;
    for (&x, &y) in a.iter().zip(b.iter()) {
        let d = (x as f64 - y as f64).abs();
        if d.is_nan() {
            return f64::NAN;
        }
        m = m.max(d);
    }
    m
}

/// Selects rows of a matrix (a copy), in the order given.
pub fn select_rows(a: ArrayView2<'_, f32>, rows: &[usize]) -> ndarray::Array2<f32> {
    a.select(Axis(0), rows)
}

/// The median of a non-empty list (mean of the middle two for even lengths).
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.is_empty() {
        f64::NAN
    } else if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn sample_rows_cover_the_ends_evenly() {
        assert_eq!(sample_rows(3), vec![0, 1, 2]);
        let s = sample_rows(16384);
        assert_eq!(s.len(), MAX_CHECKED_ROWS);
        assert_eq!((s[0], *s.last().unwrap()), (0, 16383));
        assert!(s.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn errors_are_relative_frobenius_and_max_abs() {
        let out = array![[1.0f32, 2.0], [3.0, 4.0]];
        let exact = array![[1.0f64, 2.0], [3.0, 5.0]];
        let e = errors(out.view(), exact.view());
        assert!((e.rel_err - 1.0 / (1.0f64 + 4.0 + 9.0 + 25.0).sqrt()).abs() < 1e-12);
        assert_eq!(e.max_abs_err, 1.0);
        let nan = array![[f32::NAN, 2.0], [3.0, 4.0]];
        assert!(errors(nan.view(), exact.view()).max_abs_err.is_nan());
        assert!(max_abs_diff(nan.view(), out.view()).is_nan());
    }

    #[test]
    fn pooling_takes_block_means_with_a_short_last_block() {
        // n = 1030 → factor 3, 344 cells, last block of 1 position.
        let n = 1030;
        let (factor, cells) = AttentionMap::geometry(n);
        assert_eq!((factor, cells), (3, 344));
        let mut p = MapPooler::new(n);
        for i in 0..n {
            let w: Vec<f32> = (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect();
            p.add_row(i, &w);
        }
        let map = p.finish();
        assert!((map.at(0, 0) - 3.0 / 9.0).abs() < 1e-6);
        assert_eq!(map.at(0, 1), 0.0);
        assert!((map.at(343, 343) - 1.0).abs() < 1e-6, "1×1 last cell");
        assert_eq!(AttentionMap::geometry(512), (1, 512));
        assert_eq!(AttentionMap::geometry(16384), (32, 512));
    }

    #[test]
    fn factored_pooling_equals_pooling_the_rows() {
        let n = 1100; // factor 3, a short last block
        let u =
            ndarray::Array2::from_shape_fn((n, 3), |(i, t)| ((i * 7 + t * 3) % 11) as f32 / 11.0);
        let w = ndarray::Array2::from_shape_fn((n, 3), |(j, t)| ((j * 5 + t) % 13) as f32 / 13.0);
        let scales: Vec<f32> = (0..n).map(|i| 1.0 / (1.0 + i as f32)).collect();
        for causal in [false, true] {
            let fast = pool_factored(u.view(), w.view(), &scales, causal);
            let mut pooler = MapPooler::new(n);
            for (i, &s) in scales.iter().enumerate() {
                let row: Vec<f32> = (0..n)
                    .map(|j| {
                        if causal && j > i {
                            0.0
                        } else {
                            s * u.row(i).dot(&w.row(j))
                        }
                    })
                    .collect();
                pooler.add_row(i, &row);
            }
            let slow = pooler.finish();
            for (a, b) in fast.values.iter().zip(&slow.values) {
                assert!(
                    (a - b).abs() <= 1e-6 + 1e-5 * b.abs(),
                    "causal={causal}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn median_of_even_and_odd_lists() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}

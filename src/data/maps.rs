//! What the views draw, pooled to at most [`MAP_MAX`] × [`MAP_MAX`] cells:
//! attention weights ([`AttentionMap`]), which pairs a method computes and
//! why ([`PatternMap`]), a low-rank or kernel method's factor
//! ([`FactorMap`]) and Reformer's buckets ([`LshView`]); with the CPU poolers
//! the twins use (the GPU pools the same way in its kernels).

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::data::codes::CODE_SLOTS;

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
/// frequent [`crate::data::codes::Category`] among the pairs the
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
    counts: Vec<[u32; CODE_SLOTS]>,
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
            counts: vec![[0; CODE_SLOTS]; cells * cells],
            pairs: 0,
        }
    }

    /// Adds row i's keys.
    pub fn add_row(&mut self, i: usize, row: &crate::data::shape::RowPattern) {
        use crate::data::shape::RowPattern;
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
                    self.counts[a * self.cells + j / self.factor]
                        [(code as usize).min(CODE_SLOTS - 1)] += 1;
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
            for code in 1..CODE_SLOTS {
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
    /// What the rows index.
    #[serde(default = "query_label")]
    pub y_label: String,
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
            y_label: query_label(),
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

fn query_label() -> String {
    "query position i".into()
}

impl FactorMap {
    /// The same map with its rows labelled `label`.
    pub fn with_y_label(mut self, label: &str) -> FactorMap {
        self.y_label = label.into();
        self
    }
}

/// A histogram of values with the quantization grid drawn over it: the
/// levels x̂ can take and the clipping range of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// What it shows.
    pub title: String,
    /// Left edge of the first bin.
    pub lo: f32,
    /// Right edge of the last bin.
    pub hi: f32,
    /// Values per bin, equal widths.
    pub counts: Vec<u64>,
    /// The levels of the grid shown (empty when too dense to draw).
    pub levels: Vec<f32>,
    /// How many levels the grid has in all (fp16: 63 488 finite).
    pub level_count: u64,
    /// The clipping range [lo, hi] of the group whose grid is shown.
    pub clip: Option<(f32, f32)>,
    /// Which group's grid is shown, in words.
    pub grid_of: String,
}

impl Histogram {
    /// `bins` equal bins over [min, max] of `values` (a degenerate range is
    /// widened by 1 on each side).
    pub fn of(title: &str, values: &[f32], bins: usize) -> Histogram {
        let (mut lo, mut hi) = values
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if !(lo.is_finite() && hi.is_finite()) {
            (lo, hi) = (-1.0, 1.0);
        } else if lo == hi {
            (lo, hi) = (lo - 1.0, hi + 1.0);
        }
        let bins = bins.max(1);
        let mut counts = vec![0u64; bins];
        let width = (hi as f64 - lo as f64) / bins as f64;
        for &v in values {
            let b = (((v as f64 - lo as f64) / width) as usize).min(bins - 1);
            counts[b] += 1;
        }
        Histogram {
            title: title.into(),
            lo,
            hi,
            counts,
            levels: Vec::new(),
            level_count: 0,
            clip: None,
            grid_of: String::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

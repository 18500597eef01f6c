//! Exact softmax attention — the baseline every other method approximates.
//!
//! Vaswani et al. 2017, "Attention Is All You Need"; survey Eq. (3):
//!
//! ```text
//! O = softmax(Q Kᵀ / √d) · V            (row-wise softmax)
//! softmax(s)_j = exp(s_j − max_k s_k) / Σ_k exp(s_k − max_k s_k)
//! ```
//!
//! The row maximum is subtracted before `exp`, so huge logits stay finite.
//! With `causal`, query i only sees keys j ≤ i (keys j > i get weight 0).
//!
//! The accuracy figure of every method is
//! `rel_err = ‖O − O_exact‖_F / ‖O_exact‖_F`, with `O_exact` computed here in
//! f64 ([`reference_rows`]); the CPU twin of this method ([`FullTwin`]) works in
//! f32 like the GPU kernels (`gpu/full_attention.wgsl`).

use std::ops::Range;

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, s};

use super::{
    AttentionMethod, Config, Cost, LocalFuture, MethodError, MethodInfo, RowKernel, RowPattern,
    Shape, WeightSink,
};
use crate::gpu::{self, GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::inputs::Inputs;

/// Registry entry for exact attention (`--method full`).
pub struct FullAttention;

static INFO: MethodInfo = MethodInfo {
    key: "full",
    label: "Full softmax",
    family: "Exact",
    paper: "Vaswani et al. 2017, Attention Is All You Need",
    equation: "O = softmax(QKᵀ/√d)·V",
    params: &[],
    causal_unsupported: None,
    budget: None,
};

impl AttentionMethod for FullAttention {
    fn info(&self) -> &'static MethodInfo {
        &INFO
    }

    fn cost(&self, shape: Shape, _config: &Config<'_>) -> Cost {
        fused_cost(shape)
    }

    fn cpu_twin<'a>(
        &self,
        inputs: &'a Inputs,
        config: &Config<'_>,
    ) -> Result<Box<dyn RowKernel + 'a>, MethodError> {
        Ok(Box::new(FullTwin::new(
            inputs.q.view(),
            inputs.k.view(),
            inputs.v.view(),
            config.causal,
        )))
    }

    fn run_gpu<'a>(
        &'a self,
        ctx: &'a GpuContext,
        inputs: &'a Inputs,
        config: &'a Config<'a>,
        options: &'a GpuRunOptions,
    ) -> LocalFuture<'a, Result<GpuOutput, GpuError>> {
        Box::pin(gpu::full_attention::run(
            ctx,
            inputs,
            config.causal,
            options,
        ))
    }
}

/// FLOPs and bytes of the fused (FlashAttention-style) kernel, which is the
/// one timed.
///
/// * FLOPs: each unmasked pair costs a d-long dot product (2d), the scale,
///   max-subtraction, `exp` and sum (4), and its share of P·V (2dᵥ); each
///   row ends with dᵥ divisions: `pairs·(2d + 2dᵥ + 4) + n·dᵥ`.
/// * Bytes: the compulsory global-memory traffic — Q, K, V read once, O
///   written once, plus the row statistics (max, sum) written for the
///   pooled map: `4·(2nd + 2ndᵥ + 2n)`.
pub fn fused_cost(shape: Shape) -> Cost {
    let (n, d, dv) = (shape.n as u64, shape.d as u64, shape.dv as u64);
    let pairs = shape.pairs();
    Cost {
        flops: pairs * (2 * d + 2 * dv + 4) + n * dv,
        flops_formula: format!(
            "pairs·(2d + 2dᵥ + 4) + n·dᵥ, pairs = {}",
            if shape.causal { "n(n+1)/2" } else { "n²" }
        ),
        bytes: 4 * (2 * n * d + 2 * n * dv + 2 * n),
        bytes_formula: "4·(2nd + 2ndᵥ + 2n)".into(),
    }
}

/// Global-memory traffic of the materialising path (scores, row softmax, P·V):
/// Q and K read and S written by the scores kernel, S read and P written by
/// the softmax, P and V read and O written by P·V: `4·(2nd + 4n² + 2ndᵥ)`.
pub fn materialized_bytes(shape: Shape) -> u64 {
    let (n, d, dv) = (shape.n as u64, shape.d as u64, shape.dv as u64);
    4 * (2 * n * d + 4 * n * n + 2 * n * dv)
}

/// The f32 CPU twin of exact attention: the same arithmetic as the GPU
/// kernels, one query row at a time.
pub struct FullTwin<'a> {
    q: ArrayView2<'a, f32>,
    k: ArrayView2<'a, f32>,
    v: ArrayView2<'a, f32>,
    causal: bool,
    scale: f32,
}

impl<'a> FullTwin<'a> {
    /// # Panics
    /// If Q and K differ in width or K and V in length.
    pub fn new(
        q: ArrayView2<'a, f32>,
        k: ArrayView2<'a, f32>,
        v: ArrayView2<'a, f32>,
        causal: bool,
    ) -> Self {
        assert_eq!(q.ncols(), k.ncols(), "Q and K must have the same width");
        assert_eq!(k.nrows(), v.nrows(), "K and V must have the same length");
        let scale = 1.0 / (q.ncols() as f32).sqrt();
        FullTwin::with_scale(q, k, v, causal, scale)
    }

    /// Softmax of `scale·QKᵀ` instead of QKᵀ/√d (the Synthesizers' synthetic
    /// queries and keys use 1).
    pub fn with_scale(
        q: ArrayView2<'a, f32>,
        k: ArrayView2<'a, f32>,
        v: ArrayView2<'a, f32>,
        causal: bool,
        scale: f32,
    ) -> Self {
        assert_eq!(q.ncols(), k.ncols(), "Q and K must have the same width");
        assert_eq!(k.nrows(), v.nrows(), "K and V must have the same length");
        FullTwin {
            q,
            k,
            v,
            causal,
            scale,
        }
    }
}

impl RowKernel for FullTwin<'_> {
    fn compute_rows(
        &self,
        rows: Range<usize>,
        mut out: ArrayViewMut2<'_, f32>,
        mut weights: Option<WeightSink<'_>>,
    ) {
        let n_keys = self.k.nrows();
        let mut row_weights = vec![0f32; n_keys];
        for (slot, i) in rows.enumerate() {
            let visible = if self.causal {
                (i + 1).min(n_keys)
            } else {
                n_keys
            };
            let keys = self.k.slice(s![..visible, ..]);
            let mut p: Array1<f32> = keys.dot(&self.q.row(i)) * self.scale;
            let max = p.fold(f32::NEG_INFINITY, |m, &x| m.max(x));
            p.mapv_inplace(|x| (x - max).exp());
            let sum = p.sum();
            let o = self.v.slice(s![..visible, ..]).t().dot(&p) / sum;
            out.row_mut(slot).assign(&o);
            if let Some(callback) = weights.as_deref_mut() {
                for (w, &x) in row_weights.iter_mut().zip(p.iter()) {
                    *w = x / sum;
                }
                row_weights[visible..].fill(0.0);
                callback(i, &row_weights);
            }
        }
    }

    fn row_pattern(&self, i: usize) -> RowPattern {
        let n_keys = self.k.nrows();
        RowPattern::Dense {
            upto: if self.causal {
                (i + 1).min(n_keys)
            } else {
                n_keys
            },
        }
    }
}

/// Exact attention in f64: the reference every method's `rel_err` is
/// measured against. Row i depends only on qᵢ, K and V, so any sample of
/// rows is exact for those rows.
pub struct ExactReference<'a> {
    q: ArrayView2<'a, f32>,
    k: Array2<f64>,
    v: Array2<f64>,
    causal: bool,
    scale: f64,
}

impl<'a> ExactReference<'a> {
    /// # Panics
    /// If Q and K differ in width or K and V in length.
    pub fn new(
        q: ArrayView2<'a, f32>,
        k: ArrayView2<'_, f32>,
        v: ArrayView2<'_, f32>,
        causal: bool,
    ) -> Self {
        assert_eq!(q.ncols(), k.ncols(), "Q and K must have the same width");
        assert_eq!(k.nrows(), v.nrows(), "K and V must have the same length");
        ExactReference {
            q,
            k: k.mapv(f64::from),
            v: v.mapv(f64::from),
            causal,
            scale: 1.0 / (q.ncols() as f64).sqrt(),
        }
    }

    /// Output rows `rows` (any order, repeats allowed), `rows.len() × dᵥ`.
    ///
    /// # Panics
    /// If a row index is out of range.
    pub fn rows(&self, rows: &[usize]) -> Array2<f64> {
        self.rows_and_mass(rows, |_| RowPattern::Dense { upto: 0 })
            .0
    }

    /// Output rows as [`Self::rows`], and for each the exact attention mass
    /// that falls on the keys of `pattern(i)` (what a sparse method keeps).
    pub fn rows_and_mass(
        &self,
        rows: &[usize],
        pattern: impl Fn(usize) -> RowPattern,
    ) -> (Array2<f64>, Vec<f64>) {
        let n_keys = self.k.nrows();
        let mut out = Array2::zeros((rows.len(), self.v.ncols()));
        let mut mass = Vec::with_capacity(rows.len());
        let mut weights = vec![0f64; n_keys];
        for (slot, &i) in rows.iter().enumerate() {
            let visible = if self.causal {
                (i + 1).min(n_keys)
            } else {
                n_keys
            };
            let qi = self.q.row(i).mapv(f64::from);
            let mut p = self.k.slice(s![..visible, ..]).dot(&qi) * self.scale;
            let max = p.fold(f64::NEG_INFINITY, |m, &x| m.max(x));
            p.mapv_inplace(|x| (x - max).exp());
            let sum = p.sum();
            out.row_mut(slot)
                .assign(&(self.v.slice(s![..visible, ..]).t().dot(&p) / sum));
            for (w, &x) in weights.iter_mut().zip(p.iter()) {
                *w = x / sum;
            }
            weights[visible..].fill(0.0);
            mass.push(pattern(i).sum(&weights));
        }
        (out, mass)
    }
}

/// Exact attention in f64 for the query rows `rows` (see [`ExactReference`]).
pub fn reference_rows<'a>(
    q: ArrayView2<'a, f32>,
    k: ArrayView2<'_, f32>,
    v: ArrayView2<'_, f32>,
    causal: bool,
    rows: &[usize],
) -> Array2<f64> {
    ExactReference::new(q, k, v, causal).rows(rows)
}

/// Runs the CPU twin over all rows at once (convenience for tests and the CLI).
pub fn twin_all_rows(
    q: ArrayView2<'_, f32>,
    k: ArrayView2<'_, f32>,
    v: ArrayView2<'_, f32>,
    causal: bool,
) -> Array2<f32> {
    let mut out = Array2::zeros((q.nrows(), v.ncols()));
    FullTwin::new(q, k, v, causal).compute_rows(0..q.nrows(), out.view_mut(), None);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::Inputs;

    /// The definition, written as plainly as possible: three nested loops.
    fn naive(q: &Array2<f32>, k: &Array2<f32>, v: &Array2<f32>, causal: bool) -> Array2<f64> {
        let (n, d, dv) = (q.nrows(), q.ncols(), v.ncols());
        let mut o = Array2::zeros((n, dv));
        for i in 0..n {
            let mut scores = vec![f64::NEG_INFINITY; n];
            for (j, s) in scores.iter_mut().enumerate() {
                if causal && j > i {
                    continue;
                }
                let mut dot = 0.0;
                for e in 0..d {
                    dot += q[[i, e]] as f64 * k[[j, e]] as f64;
                }
                *s = dot / (d as f64).sqrt();
            }
            let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let sum: f64 = exps.iter().sum();
            for c in 0..dv {
                o[[i, c]] = (0..n).map(|j| exps[j] * v[[j, c]] as f64).sum::<f64>() / sum;
            }
        }
        o
    }

    fn row_sums(weights: &Array2<f32>) -> Array1<f32> {
        weights.sum_axis(ndarray::Axis(1))
    }

    fn max_abs_diff(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
        (a - b).fold(0.0, |m, x| m.max(x.abs()))
    }

    #[test]
    fn twin_and_reference_match_the_triple_loop() {
        for &(n, d, causal) in &[(1, 1, false), (7, 3, true), (33, 8, false), (33, 8, true)] {
            let x = Inputs::seeded(n, d, 7);
            let expect = naive(&x.q, &x.k, &x.v, causal);
            let all: Vec<usize> = (0..n).collect();
            let reference = reference_rows(x.q.view(), x.k.view(), x.v.view(), causal, &all);
            assert!(
                max_abs_diff(&reference, &expect) < 1e-12,
                "reference n={n} d={d}"
            );
            let twin = twin_all_rows(x.q.view(), x.k.view(), x.v.view(), causal).mapv(f64::from);
            assert!(max_abs_diff(&twin, &expect) < 1e-5, "twin n={n} d={d}");
        }
    }

    #[test]
    fn reference_rows_pick_rows_in_any_order() {
        let x = Inputs::seeded(20, 4, 3);
        let all: Vec<usize> = (0..20).collect();
        let full = reference_rows(x.q.view(), x.k.view(), x.v.view(), true, &all);
        let some = reference_rows(x.q.view(), x.k.view(), x.v.view(), true, &[19, 0, 5]);
        assert_eq!(some.row(0), full.row(19));
        assert_eq!(some.row(1), full.row(0));
        assert_eq!(some.row(2), full.row(5));
    }

    #[test]
    fn weights_are_distributions_and_respect_the_mask() {
        let x = Inputs::seeded(9, 4, 1);
        let twin = FullTwin::new(x.q.view(), x.k.view(), x.v.view(), true);
        let mut weights = Array2::<f32>::zeros((9, 9));
        let mut out = Array2::zeros((9, 4));
        twin.compute_rows(
            0..9,
            out.view_mut(),
            Some(&mut |i, w: &[f32]| weights.row_mut(i).assign(&ndarray::aview1(w))),
        );
        for (i, s) in row_sums(&weights).iter().enumerate() {
            assert!((s - 1.0).abs() < 1e-5, "row {i} sums to {s}");
            assert!(weights.row(i).iter().skip(i + 1).all(|&w| w == 0.0));
        }
        // Causal row 0 sees only key 0: its output is v₀.
        assert!((&out.row(0) - &x.v.row(0)).iter().all(|d| d.abs() < 1e-6));
    }

    #[test]
    fn huge_logits_stay_finite() {
        let mut x = Inputs::seeded(16, 8, 2);
        x.q *= 1.0e4; // scores of order 1e8
        let o = twin_all_rows(x.q.view(), x.k.view(), x.v.view(), false);
        assert!(o.iter().all(|v| v.is_finite()));
        let all: Vec<usize> = (0..16).collect();
        let r = reference_rows(x.q.view(), x.k.view(), x.v.view(), false, &all);
        assert!(r.iter().all(|v| v.is_finite()));
        // Each row becomes (nearly) one-hot: the output equals one value row.
        for i in 0..16 {
            let hit =
                (0..16).any(|j| (0..8).all(|c| (r[[i, c]] - x.v[[j, c]] as f64).abs() < 1e-6));
            assert!(hit, "row {i} is not a one-hot mix");
        }
    }

    #[test]
    fn cost_formulas() {
        let c = fused_cost(Shape {
            n: 4,
            d: 2,
            dv: 3,
            causal: false,
        });
        assert_eq!(c.flops, 16 * (4 + 6 + 4) + 12);
        assert_eq!(c.bytes, 4 * (16 + 24 + 8));
        let causal = fused_cost(Shape {
            n: 4,
            d: 2,
            dv: 3,
            causal: true,
        });
        assert_eq!(causal.flops, 10 * 14 + 12);
        assert_eq!(
            materialized_bytes(Shape {
                n: 4,
                d: 2,
                dv: 3,
                causal: false
            }),
            4 * (16 + 64 + 24)
        );
    }
}

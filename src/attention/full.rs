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

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2, Axis, LinalgScalar, s};

use super::sparse::tiled_executed;
use super::{
    AttentionMethod, Complexity, Config, Conformance, Cost, LocalFuture, MethodError, MethodInfo,
    RowKernel, TwinCost, WeightSink, qkvo_bytes, softmax_pairs_flops,
};
use crate::data::count::Counted;
use crate::data::shape::{RowPattern, Shape};
use crate::gpu::flash_attention::FlashShape;
use crate::gpu::tiled_attention::{Dense, Layout};
use crate::gpu::{self, GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::inputs::{Heads, Inputs};

/// Registry entry for exact attention (`--method full`).
pub struct FullAttention;

static INFO: MethodInfo = MethodInfo {
    key: "full",
    label: "Full softmax",
    family: "Exact",
    paper: "Vaswani et al. 2017, Attention Is All You Need",
    complexity: Complexity {
        time: "O(n²d)",
        space: "O(n²)",
        source: "survey, Summary Table",
    },
    best_for: "Baseline",
    mathml: r#"<math display="block"><mi>O</mi><mo>=</mo><mi>softmax</mi><mrow><mo>(</mo><mfrac><mrow><mi>Q</mi><msup><mi>K</mi><mi>⊤</mi></msup></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow><mi>V</mi></math>"#,
    equation: "O = softmax(QKᵀ/√d)·V",
    params: &[],
    causal_unsupported: None,
    budget: None,
    explanation: "Every query is scored against every key, so time grows as n²·d and a materialised \
             attention matrix needs 4n² bytes — the bottleneck the survey sets out to remove. \
             On the GPU it runs twice: a materialising path (scores, row softmax, P·V) whose matrix \
             feeds the heatmap when it fits, and a fused online-softmax kernel with \
             FlashAttention-2's tiling that never stores the n×n matrix (O(n) memory) and runs \
             every head in one dispatch; the fused kernel is the one timed, and its row \
             statistics let the GPU pool the heatmap at any n.",
    conformance: Conformance::TILED,
};

impl AttentionMethod for FullAttention {
    fn info(&self) -> &'static MethodInfo {
        &INFO
    }

    fn cost(&self, shape: Shape, _config: &Config<'_>, pairs: u64) -> Cost {
        fused_cost(shape, pairs)
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
            (&inputs.q, &inputs.k, &inputs.v),
            config.causal,
            options,
        ))
    }

    /// B·H heads in one dispatch of the flash kernel (head = the dispatch's
    /// y index); widths it does not cover are refused with the reason.
    fn run_gpu_heads<'a>(
        &'a self,
        ctx: &'a GpuContext,
        heads: &'a Heads,
        config: &'a Config<'a>,
        options: &'a GpuRunOptions,
    ) -> Option<LocalFuture<'a, Result<GpuOutput, GpuError>>> {
        Some(Box::pin(async move {
            let shape = FlashShape::of_heads(heads, config.causal);
            let (q, k, v) = (heads.stacked_q(), heads.stacked_k(), heads.stacked_v());
            gpu::full_attention::run_heads(ctx, shape, (&q, &k, &v), options).await
        }))
    }
}

/// Cost of exact attention: the pairs n² (or n(n+1)/2) are what it needs;
/// the timed kernel is the register-tiled fused kernel over the dense tile
/// list, which evaluates whole 32 × 32 tiles and re-reads K and V once per
/// query tile ([`tiled_cost`]). When the adapter cannot hold its tiles and
/// the simple kernel runs instead, the GPU run reports that kernel's own
/// executed figures ([`crate::gpu::full_attention`]).
pub fn fused_cost(shape: Shape, pairs: u64) -> Cost {
    Cost::new(
        tiled_executed(Layout::Masked(&Dense), shape),
        (
            softmax_pairs_flops(
                shape,
                pairs,
                if shape.causal { "(n(n+1)/2)" } else { "(n²)" },
            ),
            qkvo_bytes(shape, 0, ""),
        ),
    )
}

/// Global-memory traffic of the materialising path (scores, row softmax, P·V):
/// Q and K read and S written by the scores kernel, S read and P written by
/// the softmax, P and V read and O written by P·V: `4·(2nd + 4n² + 2ndᵥ)`.
pub fn materialized_bytes(shape: Shape) -> u64 {
    let (n, d, dv) = (shape.n as u64, shape.d as u64, shape.dv as u64);
    4 * (2 * n * d + 4 * n * n + 2 * n * dv)
}

/// What the f32 softmax twin executes over `rows` rows whose visible keys
/// total `pairs`, at query width `d` and value width `dv`: per key a dot
/// product (2d), scale, max, subtraction, `exp` and sum (5) and its share of
/// P·V (2dᵥ); per row dᵥ divisions. Its loops read each visible key and value
/// row and touch the score vector five times.
pub fn softmax_twin_cost(n: usize, d: usize, dv: usize, pairs: u64, what: &str) -> TwinCost {
    let (nn, d, dv) = (n as u64, d as u64, dv as u64);
    TwinCost {
        flops: Counted::new(
            pairs * (2 * d + 2 * dv + 5) + nn * dv,
            format!("pairs·(2d + 2dᵥ + 5) + n·dᵥ, pairs = {pairs}{what}"),
        ),
        bytes: Counted::new(
            4 * (pairs * (d + dv + 5) + nn * (d + dv)),
            "4·(pairs·(d + dᵥ + 5) + n·(d + dᵥ))",
        ),
        memory: Counted::new(
            4 * (2 * nn + dv),
            "4·(2n + dᵥ): one row's scores and weights, its output",
        ),
    }
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
            let o = weighted_rows(self.v.slice(s![..visible, ..]), p.view()) / sum;
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

    fn cost(&self, pairs: u64) -> TwinCost {
        softmax_twin_cost(self.q.nrows(), self.q.ncols(), self.v.ncols(), pairs, "")
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

/// Which exact model a method's error is measured against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReferenceModel {
    /// softmax(QKᵀ/√d)·V with the user's K (causal when the run is).
    Standard,
    /// Reformer's shared-QK model: keys are the normalised queries
    /// kⱼ = qⱼ/‖qⱼ‖, and a token attends to itself only when it has no other
    /// key (its logit is lowered by `penalty`).
    SharedQk {
        /// The self-attention penalty on the logit.
        penalty: f32,
    },
}

impl ReferenceModel {
    /// One line for the page and the JSON.
    pub fn describe(&self) -> &'static str {
        match self {
            ReferenceModel::Standard => "exact softmax attention softmax(QKᵀ/√d)·V, in f64",
            ReferenceModel::SharedQk { .. } => {
                "exact shared-QK attention (keys qⱼ/‖qⱼ‖, no attending to oneself unless alone), in f64"
            }
        }
    }
}

/// The rows of `x` divided by their Euclidean norms (zero rows stay zero):
/// the keys of the shared-QK model.
pub fn normalised_rows(x: ArrayView2<'_, f32>) -> Array2<f32> {
    let mut k = x.to_owned();
    for mut row in k.rows_mut() {
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 {
            row /= norm;
        }
    }
    k
}

/// Σⱼ wⱼ·rowsⱼ, i.e. rowsᵀ·w — softmax attention's P·V for one query —
/// reading `rows` once, in order, into eight partial sums (by j mod 8, as
/// ndarray's own dot products keep them). ndarray's `rows.t().dot(&w)`
/// walks each column with the row stride instead: for a 65 536 × 64 V it
/// took 15 ms (f32) and 31 ms (f64) against 1.3 and 4.3 on one core of the
/// 2-core test machine (2026-11-30), and its f32 result was further from
/// the f64 sum (relative error 1.3e-4 against 1.7e-5).
///
/// # Panics
/// If `w` and `rows` differ in length.
pub fn weighted_rows<A: LinalgScalar>(rows: ArrayView2<'_, A>, w: ArrayView1<'_, A>) -> Array1<A> {
    assert_eq!(rows.nrows(), w.len(), "one weight per row");
    let mut parts = Array2::<A>::zeros((8, rows.ncols()));
    for (j, (row, &x)) in rows.rows().into_iter().zip(w.iter()).enumerate() {
        parts.row_mut(j % 8).scaled_add(x, &row);
    }
    parts.sum_axis(Axis(0))
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
    /// Shared-QK: the penalty on a token's logit for attending to itself.
    self_penalty: Option<f64>,
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
            self_penalty: None,
        }
    }

    /// The reference of `model` on these inputs.
    pub fn for_model(inputs: &'a Inputs, causal: bool, model: ReferenceModel) -> Self {
        match model {
            ReferenceModel::Standard => {
                ExactReference::new(inputs.q.view(), inputs.k.view(), inputs.v.view(), causal)
            }
            ReferenceModel::SharedQk { penalty } => {
                let keys = normalised_rows(inputs.q.view());
                ExactReference {
                    self_penalty: Some(penalty as f64),
                    ..ExactReference::new(inputs.q.view(), keys.view(), inputs.v.view(), causal)
                }
            }
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
            let visible = self.visible(i);
            let qi = self.q.row(i).mapv(f64::from);
            let mut p = self.k.slice(s![..visible, ..]).dot(&qi) * self.scale;
            if let Some(penalty) = self.self_penalty
                && i < visible
            {
                p[i] -= penalty;
            }
            let max = p.fold(f64::NEG_INFINITY, |m, &x| m.max(x));
            p.mapv_inplace(|x| (x - max).exp());
            let sum = p.sum();
            out.row_mut(slot)
                .assign(&(weighted_rows(self.v.slice(s![..visible, ..]), p.view()) / sum));
            for (w, &x) in weights.iter_mut().zip(p.iter()) {
                *w = x / sum;
            }
            weights[visible..].fill(0.0);
            mass.push(pattern(i).sum(&weights));
        }
        (out, mass)
    }

    /// The keys query i sees: all, or j ≤ i when causal.
    fn visible(&self, i: usize) -> usize {
        let n_keys = self.k.nrows();
        if self.causal {
            (i + 1).min(n_keys)
        } else {
            n_keys
        }
    }

    /// The mean-of-V baseline on `rows`: uniform attention over the keys each
    /// query sees (the mean of V, or of its prefix v₀…vᵢ when causal). On
    /// unit-scale Gaussian inputs exact attention is nearly uniform, so a
    /// method is only informative where it beats this.
    pub fn uniform_rows(&self, rows: &[usize]) -> Array2<f64> {
        let mut out = Array2::zeros((rows.len(), self.v.ncols()));
        if !self.causal {
            let mean = self.v.mean_axis(ndarray::Axis(0));
            if let Some(mean) = mean {
                for mut row in out.rows_mut() {
                    row.assign(&mean);
                }
            }
            return out;
        }
        // Prefix means at the (sorted) rows asked for, in one sweep.
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&slot| rows[slot]);
        let mut sum = ndarray::Array1::<f64>::zeros(self.v.ncols());
        let mut next = 0;
        for slot in order {
            let i = rows[slot];
            while next <= i {
                sum += &self.v.row(next);
                next += 1;
            }
            out.row_mut(slot).assign(&(&sum / (i + 1) as f64));
        }
        out
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

    #[test]
    fn weighted_rows_is_the_transposed_product() {
        // Every length around the eight partial sums (0, fewer than 8, not a
        // multiple of 8), f64 and f32, against the sum written out in f64.
        for n in [0usize, 1, 7, 8, 9, 100, 1031] {
            let rows = Array2::from_shape_fn((n, 5), |(j, c)| ((j * 13 + c * 7) % 17) as f64 - 8.0);
            let w = Array1::from_shape_fn(n, |j| ((j * 5) % 11) as f64 / 11.0 - 0.3);
            let expect: Vec<f64> = (0..5)
                .map(|c| (0..n).map(|j| rows[[j, c]] * w[j]).sum())
                .collect();
            let got = weighted_rows(rows.view(), w.view());
            assert_eq!(got.len(), 5);
            for c in 0..5 {
                assert!(
                    (got[c] - expect[c]).abs() <= 1e-9 * (1.0 + expect[c].abs()),
                    "n = {n}"
                );
            }
            let got32 = weighted_rows(rows.mapv(|x| x as f32).view(), w.mapv(|x| x as f32).view());
            for c in 0..5 {
                let bound = 1e-5 * (1.0 + (0..n).map(|j| (rows[[j, c]] * w[j]).abs()).sum::<f64>());
                assert!((got32[c] as f64 - expect[c]).abs() <= bound, "f32, n = {n}");
            }
        }
    }

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
        let shape = Shape {
            n: 4,
            d: 2,
            dv: 3,
            causal: false,
        };
        let c = fused_cost(shape, shape.pairs());
        assert_eq!(c.flops_algorithmic, 16 * (4 + 6 + 4) + 12);
        assert_eq!(c.bytes_compulsory, 4 * (16 + 24));
        // The tiled kernel evaluates one whole 32 × 32 tile for n = 4.
        assert_eq!(c.flops, 1024 * (8 + 15) + 2048 * 4 + 4608);
        assert!(c.bytes > c.bytes_compulsory);
        let causal = Shape {
            causal: true,
            ..shape
        };
        let c = fused_cost(causal, causal.pairs());
        assert_eq!(c.flops_algorithmic, 10 * 14 + 12);
        assert_eq!(materialized_bytes(shape), 4 * (16 + 64 + 24));
    }

    #[test]
    fn shared_qk_reference_uses_normalised_queries_and_skips_self() {
        let x = Inputs::seeded(12, 4, 5);
        let model = ReferenceModel::SharedQk { penalty: 1.0e5 };
        for causal in [false, true] {
            let reference = ExactReference::for_model(&x, causal, model);
            let all: Vec<usize> = (0..12).collect();
            let got = reference.rows(&all);
            // The definition: keys qⱼ/‖qⱼ‖, self excluded unless alone.
            let k = normalised_rows(x.q.view());
            for i in 0..12 {
                let visible = if causal { i + 1 } else { 12 };
                let others: Vec<usize> = (0..visible).filter(|&j| j != i).collect();
                let keys = if others.is_empty() { vec![i] } else { others };
                let logits: Vec<f64> = keys
                    .iter()
                    .map(|&j| {
                        (0..4)
                            .map(|e| x.q[[i, e]] as f64 * k[[j, e]] as f64)
                            .sum::<f64>()
                            / 2.0
                    })
                    .collect();
                let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let w: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
                let z: f64 = w.iter().sum();
                for c in 0..4 {
                    let expect: f64 = keys
                        .iter()
                        .zip(&w)
                        .map(|(&j, wj)| wj * x.v[[j, c]] as f64)
                        .sum::<f64>()
                        / z;
                    assert!(
                        (got[[i, c]] - expect).abs() < 1e-9,
                        "causal={causal} row {i}: {} vs {expect}",
                        got[[i, c]]
                    );
                }
            }
        }
    }

    #[test]
    fn uniform_baseline_is_the_mean_of_the_visible_values() {
        let x = Inputs::seeded(9, 3, 2);
        for causal in [false, true] {
            let r = ExactReference::new(x.q.view(), x.k.view(), x.v.view(), causal);
            let rows = [8, 0, 4];
            let u = r.uniform_rows(&rows);
            for (slot, &i) in rows.iter().enumerate() {
                let visible = if causal { i + 1 } else { 9 };
                for c in 0..3 {
                    let mean =
                        (0..visible).map(|j| x.v[[j, c]] as f64).sum::<f64>() / visible as f64;
                    assert!((u[[slot, c]] - mean).abs() < 1e-12);
                }
            }
        }
    }
}

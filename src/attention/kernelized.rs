//! Kernel-based linear attention (survey §"Kernel-based Linear Attention",
//! Eqs. 30–32): softmax(QKᵀ) ≈ φ(Q)φ(K)ᵀ, rearranged as φ(Q)·(φ(K)ᵀV) so
//! that time and memory are linear in n:
//!
//! Oᵢ = φ(qᵢ)ᵀ Σ_{j∈J(i)} φ(kⱼ)vⱼᵀ / (φ(qᵢ)ᵀ Σ_{j∈J(i)} φ(kⱼ) + ε),  ε = 10⁻⁶,
//!
//! J(i) = all keys, or j ≤ i when causal (prefix sums; a parallel scan on the
//! GPU). The ε guards the denominator against a row whose features vanish.
//!
//! * Linear Transformer (Katharopoulos et al. 2020): φ(x) = elu(x) + 1,
//!   applied to q and k directly (no 1/√d).
//! * Performer FAVOR+ (Choromanski et al. 2021): positive orthogonal random
//!   features φ(x) = exp(ωᵀx − ‖x‖²/2)/√m on x = q/d^¼ and k/d^¼, so that
//!   E[φ(q)·φ(k)] = exp(qᵀk/√d). ω: blocks of d orthonormal Gaussian rows
//!   (Gram–Schmidt), each row rescaled by an independent χ_d norm, redrawn
//!   from the seed. For numerical range, query features are divided by their
//!   row's largest exp and key features by the largest over all keys; both
//!   cancel in the ratio.
//! * cosFormer (Qin et al. 2022): φ(xᵢ) = [relu(xᵢ)cos(πi/2M), relu(xᵢ)sin(πi/2M)]
//!   with M = n, so φ(qᵢ)·φ(kⱼ) = relu(qᵢ)·relu(kⱼ)·cos(π(i − j)/2M), the
//!   re-weighting that favours nearby tokens, still in linear time.

use std::cell::RefCell;
use std::ops::Range;

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, s};

use super::{
    AttentionMethod, Config, Cost, LocalFuture, MethodError, MethodInfo, ParamSpec, RowKernel,
    RowPattern, Shape, WeightSink,
};
use crate::gpu::linear_attention::{self, EPS, FeatureMap};
use crate::gpu::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::inputs::{GaussianStream, Inputs, derive_seed};
use crate::measure::FactorMap;

const FEATURES: ParamSpec = ParamSpec::int(
    "features",
    "Random features m",
    "number of random features ω (FAVOR+)",
    1,
    1024,
    64,
);

/// Which kernel method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Linear Transformer.
    Elu,
    /// Performer FAVOR+.
    Favor,
    /// cosFormer.
    Cos,
}

/// A kernel method's registry entry.
pub struct Kernelized {
    info: &'static MethodInfo,
    kernel: Kernel,
}

static LINEAR_INFO: MethodInfo = MethodInfo {
    key: "linear",
    label: "Linear Transformer",
    family: "Kernel",
    paper: "Katharopoulos, Vyas, Pappas & Fleuret 2020, Transformers are RNNs",
    equation: "Oᵢ = φ(qᵢ)ᵀ Σⱼ φ(kⱼ)vⱼᵀ / φ(qᵢ)ᵀ Σⱼ φ(kⱼ),  φ(x) = elu(x) + 1",
    params: &[],
    causal_unsupported: None,
    budget: None,
};

static PERFORMER_INFO: MethodInfo = MethodInfo {
    key: "performer",
    label: "Performer (FAVOR+)",
    family: "Kernel",
    paper: "Choromanski et al. 2021, Rethinking Attention with Performers",
    equation: "φ(x) = exp(ωᵀx − ‖x‖²/2)/√m on x = q/d^¼, orthogonal ω",
    params: &[FEATURES],
    causal_unsupported: None,
    budget: Some(super::Budget {
        key: "features",
        slope: Some(-0.5),
        law: "rel_err ∝ 1/√m at moderate ‖q‖, ‖k‖",
    }),
};

static COSFORMER_INFO: MethodInfo = MethodInfo {
    key: "cosformer",
    label: "cosFormer",
    family: "Kernel",
    paper: "Qin et al. 2022, cosFormer: Rethinking Softmax in Attention",
    equation: "φ(qᵢ)·φ(kⱼ) = relu(qᵢ)·relu(kⱼ)·cos(π(i − j)/2n)",
    params: &[],
    causal_unsupported: None,
    budget: None,
};

/// Registry entry (`--method linear`).
pub static LINEAR: Kernelized = Kernelized {
    info: &LINEAR_INFO,
    kernel: Kernel::Elu,
};
/// Registry entry (`--method performer`).
pub static PERFORMER: Kernelized = Kernelized {
    info: &PERFORMER_INFO,
    kernel: Kernel::Favor,
};
/// Registry entry (`--method cosformer`).
pub static COSFORMER: Kernelized = Kernelized {
    info: &COSFORMER_INFO,
    kernel: Kernel::Cos,
};

/// Performer's random features: m rows of dimension d, in blocks of d
/// orthonormal rows (Gram–Schmidt on Gaussian rows, in f64), each row scaled
/// by the norm of an independent d-dimensional standard normal vector.
pub fn orthogonal_features(m: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut omega = Array2::zeros((m, d));
    let blocks = m.div_ceil(d.max(1));
    for b in 0..blocks {
        let mut g = GaussianStream::new(derive_seed(seed, "performer", b as u64));
        let mut rows: Vec<Array1<f64>> = Vec::with_capacity(d);
        while rows.len() < d {
            let mut x = Array1::from_shape_simple_fn(d, || g.sample());
            for r in &rows {
                let proj = x.dot(r);
                x.scaled_add(-proj, r);
            }
            let norm = x.dot(&x).sqrt();
            if norm > 1e-9 {
                rows.push(x / norm);
            }
        }
        for (offset, row) in rows.iter().enumerate() {
            let f = b * d + offset;
            if f >= m {
                break;
            }
            let chi = (0..d).map(|_| g.sample().powi(2)).sum::<f64>().sqrt();
            omega.row_mut(f).assign(&(row * chi));
        }
    }
    omega
}

/// FAVOR+ exponents ωᵀx − ‖x‖²/2 for each row of `x` (already scaled by
/// d^−¼), in f32 as on the GPU.
fn favor_exponents(x: ArrayView2<'_, f32>, omega: &Array2<f32>) -> Array2<f32> {
    let half_norm = x
        .rows()
        .into_iter()
        .map(|r| 0.5 * r.dot(&r))
        .collect::<Array1<f32>>();
    let mut t = x.dot(&omega.t());
    for (mut row, &h) in t.rows_mut().into_iter().zip(half_norm.iter()) {
        row -= h;
    }
    t
}

/// The unstabilised FAVOR+ features exp(ωᵀx − ‖x‖²/2)/√m of one vector x
/// (already divided by d^¼), in f64: the estimator whose mean is
/// exp(x_qᵀx_k) (used by the unbiasedness test).
pub fn favor_feature(x: &Array1<f64>, omega: &Array2<f64>) -> Array1<f64> {
    let m = omega.nrows() as f64;
    let half_norm = 0.5 * x.dot(x);
    omega.dot(x).mapv(|p| (p - half_norm).exp() / m.sqrt())
}

/// φ(Q) and φ(K) as the GPU computes them (f32).
pub fn feature_maps(
    inputs: &Inputs,
    kernel: Kernel,
    m: usize,
    seed: u64,
) -> (Array2<f32>, Array2<f32>) {
    let (n, d) = (inputs.n(), inputs.d());
    match kernel {
        Kernel::Elu => {
            let elu1 = |x: f32| if x > 0.0 { x + 1.0 } else { x.exp() };
            (inputs.q.mapv(elu1), inputs.k.mapv(elu1))
        }
        Kernel::Cos => {
            let cos = |x: ArrayView2<'_, f32>| {
                Array2::from_shape_fn((n, 2 * d), |(i, f)| {
                    let angle = std::f32::consts::PI * i as f32 / (2.0 * n as f32);
                    let relu = x[[i, f % d]].max(0.0);
                    if f < d {
                        relu * angle.cos()
                    } else {
                        relu * angle.sin()
                    }
                })
            };
            (cos(inputs.q.view()), cos(inputs.k.view()))
        }
        Kernel::Favor => {
            let omega = orthogonal_features(m, d, seed).mapv(|x| x as f32);
            let scale = (d as f32).powf(-0.25);
            let tq = favor_exponents((&inputs.q * scale).view(), &omega);
            let tk = favor_exponents((&inputs.k * scale).view(), &omega);
            let inv = 1.0 / (m as f32).sqrt();
            let mut phi_q = tq.clone();
            for mut row in phi_q.rows_mut() {
                let max = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                row.mapv_inplace(|t| (t - max).exp() * inv);
            }
            let key_max = tk.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            (phi_q, tk.mapv(|t| (t - key_max).exp() * inv))
        }
    }
}

/// The CPU twin: the same features, then the linear-time sums (running
/// prefix sums when rows come in order, the explicit quadratic form
/// Σ_{j∈J(i)} (φ(qᵢ)·φ(kⱼ))vⱼ / (Σ φ(qᵢ)·φ(kⱼ) + ε) otherwise).
pub struct KernelTwin<'a> {
    phi_q: Array2<f32>,
    phi_k: Array2<f32>,
    v: ArrayView2<'a, f32>,
    causal: bool,
    /// Non-causal: φ(K)ᵀV and Σ φ(kⱼ).
    totals: Option<(Array2<f32>, Array1<f32>)>,
    /// Causal: the next row and the sums over j < it.
    running: RefCell<(usize, Array2<f32>, Array1<f32>)>,
}

impl<'a> KernelTwin<'a> {
    /// Features and sums for `inputs`.
    pub fn new(
        inputs: &'a Inputs,
        kernel: Kernel,
        m: usize,
        seed: u64,
        causal: bool,
    ) -> KernelTwin<'a> {
        let (phi_q, phi_k) = feature_maps(inputs, kernel, m, seed);
        let features = phi_q.ncols();
        let dv = inputs.dv();
        let totals =
            (!causal).then(|| (phi_k.t().dot(&inputs.v), phi_k.sum_axis(ndarray::Axis(0))));
        KernelTwin {
            phi_q,
            phi_k,
            v: inputs.v.view(),
            causal,
            totals,
            running: RefCell::new((0, Array2::zeros((features, dv)), Array1::zeros(features))),
        }
    }

    /// Row i by the explicit quadratic form, and its weights over all keys.
    pub fn explicit_row(&self, i: usize) -> (Array1<f32>, Vec<f32>) {
        let n = self.phi_k.nrows();
        let visible = if self.causal { i + 1 } else { n };
        let w: Array1<f32> = self.phi_k.slice(s![..visible, ..]).dot(&self.phi_q.row(i));
        let den = w.sum() + EPS;
        let out = self.v.slice(s![..visible, ..]).t().dot(&w) / den;
        let mut weights = vec![0f32; n];
        for (j, &x) in w.iter().enumerate() {
            weights[j] = x / den;
        }
        (out, weights)
    }
}

impl RowKernel for KernelTwin<'_> {
    fn compute_rows(
        &self,
        rows: Range<usize>,
        mut out: ArrayViewMut2<'_, f32>,
        mut weights: Option<WeightSink<'_>>,
    ) {
        for (slot, i) in rows.enumerate() {
            let phi = self.phi_q.row(i);
            if let Some((kv, z)) = &self.totals {
                out.row_mut(slot)
                    .assign(&(phi.dot(kv) / (phi.dot(z) + EPS)));
            } else {
                let mut running = self.running.borrow_mut();
                if running.0 == i {
                    let (_, sums, z) = &mut *running;
                    let k = self.phi_k.row(i);
                    for (f, &kf) in k.iter().enumerate() {
                        sums.row_mut(f).scaled_add(kf, &self.v.row(i));
                    }
                    *z += &k;
                    out.row_mut(slot)
                        .assign(&(phi.dot(&*sums) / (phi.dot(&*z) + EPS)));
                    running.0 = i + 1;
                } else {
                    drop(running);
                    out.row_mut(slot).assign(&self.explicit_row(i).0);
                }
            }
            if let Some(callback) = weights.as_deref_mut() {
                callback(i, &self.explicit_row(i).1);
            }
        }
    }

    fn row_pattern(&self, i: usize) -> RowPattern {
        RowPattern::Dense {
            upto: if self.causal {
                i + 1
            } else {
                self.phi_k.nrows()
            },
        }
    }

    /// Aᵢⱼ = φ(qᵢ)·φ(kⱼ)/(denᵢ + ε), with denᵢ from running sums: O(n·m).
    fn pooled_map(&self) -> Option<crate::measure::AttentionMap> {
        let n = self.phi_q.nrows();
        let mut z = Array1::<f32>::zeros(self.phi_k.ncols());
        if !self.causal {
            z = self.phi_k.sum_axis(ndarray::Axis(0));
        }
        let scales: Vec<f32> = (0..n)
            .map(|i| {
                if self.causal {
                    z += &self.phi_k.row(i);
                }
                1.0 / (self.phi_q.row(i).dot(&z) + EPS)
            })
            .collect();
        Some(crate::measure::pool_factored(
            self.phi_q.view(),
            self.phi_k.view(),
            &scales,
            self.causal,
        ))
    }

    fn factor_map(&self) -> Option<FactorMap> {
        Some(FactorMap::pool(
            &self.phi_q,
            "φ(Q): query features",
            "feature",
        ))
    }
}

impl Kernelized {
    fn features(&self, config: &Config<'_>, d: usize) -> usize {
        match self.kernel {
            Kernel::Elu => d,
            Kernel::Cos => 2 * d,
            Kernel::Favor => config.param(&FEATURES) as usize,
        }
    }
}

impl AttentionMethod for Kernelized {
    fn info(&self) -> &'static MethodInfo {
        self.info
    }

    /// Features: n·m·(2d + 3) (Performer) or n·m; chunk sums 2·n·m·dᵥ; the
    /// scan ⌈log₂ chunks⌉·chunks·m·(dᵥ + 1) (causal); the output 2·n·m·(dᵥ + 1)
    /// plus, causal, the own-chunk terms n·C·(2m + 2dᵥ).
    fn cost(&self, shape: Shape, config: &Config<'_>) -> Cost {
        let (n, d, dv) = (shape.n as u64, shape.d as u64, shape.dv as u64);
        let m = self.features(config, shape.d) as u64;
        let chunk = linear_attention::CHUNK as u64;
        let chunks = n.div_ceil(chunk);
        let passes = if chunks > 1 {
            64 - (chunks - 1).leading_zeros() as u64
        } else {
            0
        };
        let feature_flops = match self.kernel {
            Kernel::Favor => 2 * n * m * (2 * d + 3),
            _ => 2 * n * m,
        };
        let own = if shape.causal {
            n * chunk.min(n) * (2 * m + 2 * dv) / 2
        } else {
            0
        };
        let flops = feature_flops
            + 2 * n * m * dv
            + passes * chunks * m * (dv + 1)
            + 2 * n * m * (dv + 1)
            + own;
        let bytes = 4
            * (2 * n * d + n * dv + 4 * n * m + 2 * (passes + 1) * chunks * m * (dv + 1) + n * dv);
        Cost {
            flops,
            flops_formula: format!(
                "features + 2nm·dᵥ (φ(K)ᵀV) + 2nm·(dᵥ + 1) (φ(Q)·…){}, m = {m}",
                if shape.causal {
                    " + scan over ⌈n/64⌉ chunks + own-chunk terms"
                } else {
                    ""
                }
            ),
            bytes,
            bytes_formula: "4·(2nd + ndᵥ + 4nm + scan passes·chunks·m(dᵥ + 1) + ndᵥ)".into(),
        }
    }

    fn cpu_twin<'a>(
        &self,
        inputs: &'a Inputs,
        config: &Config<'_>,
    ) -> Result<Box<dyn RowKernel + 'a>, MethodError> {
        let m = self.features(config, inputs.d());
        Ok(Box::new(KernelTwin::new(
            inputs,
            self.kernel,
            m,
            config.seed,
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
        Box::pin(async move {
            let features = match self.kernel {
                Kernel::Elu => FeatureMap::Elu,
                Kernel::Cos => FeatureMap::Cos,
                Kernel::Favor => {
                    let m = self.features(config, inputs.d());
                    let omega = orthogonal_features(m, inputs.d(), config.seed);
                    FeatureMap::Favor {
                        omega: omega.iter().map(|&x| x as f32).collect(),
                    }
                }
            };
            linear_attention::run(ctx, inputs, config.causal, &features, options).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::ParamValues;
    use crate::attention::testing::twin_rel_err;

    fn run_twin(x: &Inputs, kernel: Kernel, m: usize, seed: u64, causal: bool) -> Array2<f32> {
        let twin = KernelTwin::new(x, kernel, m, seed, causal);
        let mut out = Array2::zeros((x.n(), x.dv()));
        twin.compute_rows(0..x.n(), out.view_mut(), None);
        out
    }

    #[test]
    fn linear_time_sums_equal_the_quadratic_form() {
        let x = Inputs::seeded(77, 6, 4);
        for kernel in [Kernel::Elu, Kernel::Cos, Kernel::Favor] {
            for causal in [false, true] {
                let twin = KernelTwin::new(&x, kernel, 24, 3, causal);
                let fast = run_twin(&x, kernel, 24, 3, causal);
                for i in 0..77 {
                    let (slow, weights) = twin.explicit_row(i);
                    for (a, b) in fast.row(i).iter().zip(slow.iter()) {
                        assert!(
                            (a - b).abs() <= 1e-5 + 1e-5 * b.abs(),
                            "{kernel:?} causal={causal} row {i}: {a} vs {b}"
                        );
                    }
                    if causal {
                        assert!(weights[i + 1..].iter().all(|&w| w == 0.0));
                    }
                }
            }
        }
    }

    #[test]
    fn cosformer_weights_are_relu_products_reweighted_by_cosine() {
        let x = Inputs::seeded(40, 5, 2);
        let (pq, pk) = feature_maps(&x, Kernel::Cos, 10, 0);
        for (i, j) in [(0, 0), (3, 17), (39, 1)] {
            let relu = |v: f32| v.max(0.0);
            let direct: f32 = (0..5)
                .map(|e| relu(x.q[[i, e]]) * relu(x.k[[j, e]]))
                .sum::<f32>()
                * (std::f32::consts::PI * (i as f32 - j as f32) / 80.0).cos();
            let via = pq.row(i).dot(&pk.row(j));
            assert!((direct - via).abs() < 1e-5, "({i}, {j}): {direct} vs {via}");
        }
    }

    #[test]
    fn orthogonal_features_are_orthogonal_within_blocks_with_chi_norms() {
        let w = orthogonal_features(20, 8, 5);
        for b in 0..2 {
            for i in b * 8..(b * 8 + 8).min(20) {
                for j in b * 8..(b * 8 + 8).min(20) {
                    if i != j {
                        let cos = w.row(i).dot(&w.row(j));
                        assert!(cos.abs() < 1e-9, "rows {i}, {j}");
                    }
                }
            }
        }
        let norms: Vec<f64> = w.rows().into_iter().map(|r| r.dot(&r).sqrt()).collect();
        let mean = norms.iter().sum::<f64>() / 20.0;
        assert!(
            (mean - 8f64.sqrt()).abs() < 1.0,
            "χ₈ norms average near √8, got {mean}"
        );
        assert_ne!(orthogonal_features(20, 8, 6), w);
    }

    #[test]
    fn favor_is_an_unbiased_estimate_of_the_softmax_kernel() {
        // x = q/d^¼ at moderate norms: E[φ(x_q)·φ(x_k)] = exp(x_qᵀx_k).
        let d = 8;
        let mut g = GaussianStream::new(11);
        let q: Array1<f64> = Array1::from_shape_simple_fn(d, || 0.25 * g.sample());
        let k: Array1<f64> = Array1::from_shape_simple_fn(d, || 0.25 * g.sample());
        let exact = q.dot(&k).exp();
        let trials = 4000;
        let mean: f64 = (0..trials)
            .map(|seed| {
                let omega = orthogonal_features(8, d, seed);
                favor_feature(&q, &omega).dot(&favor_feature(&k, &omega))
            })
            .sum::<f64>()
            / trials as f64;
        assert!(
            (mean - exact).abs() < 0.02 * exact,
            "mean {mean} vs exp(qᵀk) {exact}"
        );
    }

    #[test]
    fn performer_error_falls_like_one_over_root_m() {
        let mean_error = |m: u64| {
            let mut total = 0.0;
            for seed in 0..6u64 {
                let x = Inputs::generate(
                    crate::inputs::InputSource::Gaussian,
                    96,
                    16,
                    70 + seed,
                    0.25,
                );
                let params: ParamValues = [("features".to_string(), m)].into_iter().collect();
                let config = Config {
                    causal: false,
                    seed,
                    params: &params,
                };
                let twin = PERFORMER.cpu_twin(&x, &config).unwrap();
                total += twin_rel_err(&*twin, &x);
            }
            total / 6.0
        };
        let (small, large) = (mean_error(16), mean_error(256));
        let slope = (large / small).ln() / (256f64 / 16.0).ln();
        assert!(
            (-0.7..=-0.35).contains(&slope),
            "log-log slope {slope} (errors {small}, {large})"
        );
    }
}

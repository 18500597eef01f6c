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
    AttentionMethod, Complexity, Config, Conformance, Cost, LocalFuture, MethodError, MethodInfo,
    ParamSpec, RowKernel, TwinCost, WeightSink, qkvo_bytes,
};

use crate::data::count::Counted;

use crate::data::artifacts::{Artifact, Artifacts};
use crate::data::codes::FeatureKind;
use crate::data::maps::FactorMap;
use crate::data::shape::{RowPattern, Shape};
use crate::gpu::linear_attention::{self, EPS, FeatureMap};
use crate::gpu::work;
use crate::gpu::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::inputs::{GaussianStream, Heads, Inputs, derive_seed};

const FEATURES: ParamSpec = ParamSpec::int(
    "features",
    "Random features m",
    "number of random features ω (FAVOR+)",
    1,
    1024,
    64,
);

/// A kernel method's registry entry.
pub struct Kernelized {
    info: &'static MethodInfo,
    kernel: FeatureKind,
}

static LINEAR_INFO: MethodInfo = MethodInfo {
    key: "linear",
    label: "Linear Transformer",
    family: "Kernel",
    paper: "Katharopoulos, Vyas, Pappas & Fleuret 2020, Transformers are RNNs",
    complexity: Complexity {
        time: "O(n)",
        space: "O(n)",
        source: "survey, kernel methods table",
    },
    best_for: "—",
    mathml: r#"<math display="block"><msub><mi>o</mi><mi>i</mi></msub><mo>=</mo><mfrac><mrow><msup><mrow><mi>φ</mi><mrow><mo>(</mo><msub><mi>q</mi><mi>i</mi></msub><mo>)</mo></mrow></mrow><mi>⊤</mi></msup><munder><mo>∑</mo><mi>j</mi></munder><mrow><mi>φ</mi><mrow><mo>(</mo><msub><mi>k</mi><mi>j</mi></msub><mo>)</mo></mrow></mrow><msup><msub><mi>v</mi><mi>j</mi></msub><mi>⊤</mi></msup></mrow><mrow><msup><mrow><mi>φ</mi><mrow><mo>(</mo><msub><mi>q</mi><mi>i</mi></msub><mo>)</mo></mrow></mrow><mi>⊤</mi></msup><munder><mo>∑</mo><mi>j</mi></munder><mrow><mi>φ</mi><mrow><mo>(</mo><msub><mi>k</mi><mi>j</mi></msub><mo>)</mo></mrow></mrow></mrow></mfrac></math><math display="block"><mrow><mi>φ</mi><mrow><mo>(</mo><mi>x</mi><mo>)</mo></mrow></mrow><mo>=</mo><mi>elu</mi><mrow><mo>(</mo><mi>x</mi><mo>)</mo></mrow><mo>+</mo><mn>1</mn></math>"#,
    equation: "Oᵢ = φ(qᵢ)ᵀ Σⱼ φ(kⱼ)vⱼᵀ / φ(qᵢ)ᵀ Σⱼ φ(kⱼ),  φ(x) = elu(x) + 1",
    params: &[],
    causal_unsupported: None,
    budget: None,
    explanation: "The softmax kernel exp(q·k) is replaced by φ(q)·φ(k) with φ(x) = elu(x) + 1, so the product can \
             be re-associated as φ(Q)(φ(K)ᵀV): linear in n. Causal attention becomes a running sum — an RNN — \
             which the GPU computes with a parallel scan over chunks of keys.",
    conformance: Conformance::FACTORED,
};

static PERFORMER_INFO: MethodInfo = MethodInfo {
    key: "performer",
    label: "Performer (FAVOR+)",
    family: "Kernel",
    paper: "Choromanski et al. 2021, Rethinking Attention with Performers",
    complexity: Complexity {
        time: "O(npd)",
        space: "O(npd)",
        source: "survey, Summary Table",
    },
    best_for: "General linear attention",
    mathml: r#"<math display="block"><msub><mi>o</mi><mi>i</mi></msub><mo>=</mo><mfrac><mrow><msup><mrow><mi>φ</mi><mrow><mo>(</mo><msub><mi>q</mi><mi>i</mi></msub><mo>)</mo></mrow></mrow><mi>⊤</mi></msup><munder><mo>∑</mo><mi>j</mi></munder><mrow><mi>φ</mi><mrow><mo>(</mo><msub><mi>k</mi><mi>j</mi></msub><mo>)</mo></mrow></mrow><msup><msub><mi>v</mi><mi>j</mi></msub><mi>⊤</mi></msup></mrow><mrow><msup><mrow><mi>φ</mi><mrow><mo>(</mo><msub><mi>q</mi><mi>i</mi></msub><mo>)</mo></mrow></mrow><mi>⊤</mi></msup><munder><mo>∑</mo><mi>j</mi></munder><mrow><mi>φ</mi><mrow><mo>(</mo><msub><mi>k</mi><mi>j</mi></msub><mo>)</mo></mrow></mrow></mrow></mfrac></math><math display="block"><mrow><mi>φ</mi><mrow><mo>(</mo><mi>x</mi><mo>)</mo></mrow></mrow><mo>=</mo><mfrac><mn>1</mn><msqrt><mi>m</mi></msqrt></mfrac><mi>exp</mi><mrow><mo>(</mo><msup><mi>ω</mi><mi>⊤</mi></msup><mi>x</mi><mo>−</mo><mfrac><msup><mrow><mo>‖</mo><mi>x</mi><mo>‖</mo></mrow><mn>2</mn></msup><mn>2</mn></mfrac><mo>)</mo></mrow><mo>,</mo><mtext>  orthogonal </mtext><msub><mi>ω</mi><mrow><mn>1</mn><mo>…</mo><mi>m</mi></mrow></msub><mo>∼</mo><mi>𝒩</mi><mrow><mo>(</mo><mn>0</mn><mo>,</mo><mi>I</mi><mo>)</mo></mrow></math>"#,
    equation: "φ(x) = exp(ωᵀx − ‖x‖²/2)/√m on x = q/d^¼, orthogonal ω",
    params: &[FEATURES],
    causal_unsupported: None,
    budget: Some(super::Budget {
        key: "features",
        slope: Some(-0.5),
        law: "rel_err ∝ 1/√m at moderate ‖q‖, ‖k‖",
    }),
    explanation: "FAVOR+ estimates the softmax kernel without bias with positive orthogonal random features; its \
             variance grows like exp(‖q‖² + ‖k‖²), so the error falls like 1/√m only at moderate norms — \
             sweep the features at Q, K scale 0.25, then at 1, and compare the slopes.",
    conformance: Conformance::FACTORED.with_cases(&[&[("features", 33)]]),
};

static COSFORMER_INFO: MethodInfo = MethodInfo {
    key: "cosformer",
    label: "cosFormer",
    family: "Kernel",
    paper: "Qin et al. 2022, cosFormer: Rethinking Softmax in Attention",
    complexity: Complexity {
        time: "O(n)",
        space: "O(n)",
        source: "survey, kernel methods table",
    },
    best_for: "—",
    mathml: r#"<math display="block"><msub><mi>o</mi><mi>i</mi></msub><mo>=</mo><mfrac><mrow><msup><mrow><mi>φ</mi><mrow><mo>(</mo><msub><mi>q</mi><mi>i</mi></msub><mo>)</mo></mrow></mrow><mi>⊤</mi></msup><munder><mo>∑</mo><mi>j</mi></munder><mrow><mi>φ</mi><mrow><mo>(</mo><msub><mi>k</mi><mi>j</mi></msub><mo>)</mo></mrow></mrow><msup><msub><mi>v</mi><mi>j</mi></msub><mi>⊤</mi></msup></mrow><mrow><msup><mrow><mi>φ</mi><mrow><mo>(</mo><msub><mi>q</mi><mi>i</mi></msub><mo>)</mo></mrow></mrow><mi>⊤</mi></msup><munder><mo>∑</mo><mi>j</mi></munder><mrow><mi>φ</mi><mrow><mo>(</mo><msub><mi>k</mi><mi>j</mi></msub><mo>)</mo></mrow></mrow></mrow></mfrac></math><math display="block"><mrow><mi>φ</mi><mrow><mo>(</mo><msub><mi>q</mi><mi>i</mi></msub><mo>)</mo></mrow></mrow><mo>·</mo><mrow><mi>φ</mi><mrow><mo>(</mo><msub><mi>k</mi><mi>j</mi></msub><mo>)</mo></mrow></mrow><mo>=</mo><mi>ReLU</mi><mrow><mo>(</mo><msub><mi>q</mi><mi>i</mi></msub><mo>)</mo></mrow><mo>·</mo><mi>ReLU</mi><mrow><mo>(</mo><msub><mi>k</mi><mi>j</mi></msub><mo>)</mo></mrow><mo>·</mo><mi>cos</mi><mrow><mo>(</mo><mfrac><mrow><mi>π</mi><mrow><mo>(</mo><mi>i</mi><mo>−</mo><mi>j</mi><mo>)</mo></mrow></mrow><mrow><mn>2</mn><mi>n</mi></mrow></mfrac><mo>)</mo></mrow></math>"#,
    equation: "φ(qᵢ)·φ(kⱼ) = relu(qᵢ)·relu(kⱼ)·cos(π(i − j)/2n)",
    params: &[],
    causal_unsupported: None,
    budget: None,
    explanation: "ReLU features keep the weights non-negative, and a cos(π(i − j)/2n) re-weighting favours nearby \
             tokens; since cos(a − b) = cos a cos b + sin a sin b it still factorises, so the cost stays linear.",
    conformance: Conformance::FACTORED,
};

/// Registry entry (`--method linear`).
pub static LINEAR: Kernelized = Kernelized {
    info: &LINEAR_INFO,
    kernel: FeatureKind::Elu,
};
/// Registry entry (`--method performer`).
pub static PERFORMER: Kernelized = Kernelized {
    info: &PERFORMER_INFO,
    kernel: FeatureKind::Favor,
};
/// Registry entry (`--method cosformer`).
pub static COSFORMER: Kernelized = Kernelized {
    info: &COSFORMER_INFO,
    kernel: FeatureKind::Cos,
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

/// The feature maps φ(Q), φ(K) as the GPU computes them (f32), with the
/// shifts that keep them in range: Performer's query features are
/// exp(tᵢ − `q_shift[i]`)/√m and its key features exp(tⱼ − `k_shift`)/√m,
/// where t are the FAVOR+ exponents, so the unbiased estimate of
/// exp(qᵢᵀkⱼ/√d) is φ(qᵢ)·φ(kⱼ)·exp(`q_shift[i]` + `k_shift`). The shifts
/// cancel in the attention ratio. For the other kernels they are zero.
pub struct FeatureMaps {
    /// φ(Q), n × features.
    pub phi_q: Array2<f32>,
    /// φ(K), n × features.
    pub phi_k: Array2<f32>,
    /// Per query row, the exponent subtracted (its row's largest).
    pub q_shift: Vec<f32>,
    /// The exponent subtracted from every key feature (the largest).
    pub k_shift: f32,
}

/// φ(Q) and φ(K) as the GPU computes them (f32).
pub fn feature_maps(
    inputs: &Inputs,
    kernel: FeatureKind,
    m: usize,
    seed: u64,
) -> (Array2<f32>, Array2<f32>) {
    let maps = features(inputs, kernel, m, seed);
    (maps.phi_q, maps.phi_k)
}

/// The feature maps and their shifts (see [`FeatureMaps`]).
pub fn features(inputs: &Inputs, kernel: FeatureKind, m: usize, seed: u64) -> FeatureMaps {
    let (n, d) = (inputs.n(), inputs.d());
    let unshifted = |phi_q, phi_k| FeatureMaps {
        phi_q,
        phi_k,
        q_shift: vec![0.0; n],
        k_shift: 0.0,
    };
    match kernel {
        FeatureKind::Elu => {
            let elu1 = |x: f32| if x > 0.0 { x + 1.0 } else { x.exp() };
            unshifted(inputs.q.mapv(elu1), inputs.k.mapv(elu1))
        }
        FeatureKind::Cos => {
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
            unshifted(cos(inputs.q.view()), cos(inputs.k.view()))
        }
        FeatureKind::Favor => {
            let omega = orthogonal_features(m, d, seed).mapv(|x| x as f32);
            let scale = (d as f32).powf(-0.25);
            let tq = favor_exponents((&inputs.q * scale).view(), &omega);
            let tk = favor_exponents((&inputs.k * scale).view(), &omega);
            let inv = 1.0 / (m as f32).sqrt();
            let mut phi_q = tq;
            let mut q_shift = Vec::with_capacity(n);
            for mut row in phi_q.rows_mut() {
                let max = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                row.mapv_inplace(|t| (t - max).exp() * inv);
                q_shift.push(max);
            }
            let k_shift = tk.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            FeatureMaps {
                phi_q,
                phi_k: tk.mapv(|t| (t - k_shift).exp() * inv),
                q_shift,
                k_shift,
            }
        }
    }
}

/// FLOPs of the twin's feature maps for both Q and K (n rows of width d, m
/// features), and the formula: elu + 1 one operation per entry; cosFormer's
/// ReLU, angle and product three per entry of its 2d features; FAVOR+ the
/// d^−¼ scale (nd), ωᵀx (2nmd), the half norm (2nd), its subtraction (nm), the
/// row or global max (nm) and the shifted `exp` with 1/√m (3nm), per side,
/// plus drawing ω by Gram–Schmidt in f64 (about 4md + 2md² per side of each
/// block: 2md² in all).
fn feature_flops(kernel: FeatureKind, n: u64, d: u64, m: u64) -> Counted {
    match kernel {
        FeatureKind::Elu => Counted::new(2 * n * d, "2nd (elu + 1)"),
        FeatureKind::Cos => {
            Counted::new(2 * n * 2 * d * 3, "2·n·2d·3 (ReLU, cos/sin re-weighting)")
        }
        FeatureKind::Favor => Counted::new(
            2 * (n * d + 2 * n * m * d + 2 * n * d + 5 * n * m) + 2 * m * d * d,
            "2·(nd + 2nmd + 2nd + 5nm) + 2md² (ω)",
        ),
    }
}

/// The CPU twin: the same features, then the linear-time sums: φ(K)ᵀV and
/// Σ φ(kⱼ) once (non-causal), or running prefix sums advanced to each row
/// asked for (causal; restarted when an earlier row is asked for), so every
/// pass — in order, sampled or repeated — is linear in n.
pub struct KernelTwin<'a> {
    phi_q: Array2<f32>,
    phi_k: Array2<f32>,
    v: ArrayView2<'a, f32>,
    causal: bool,
    kernel: FeatureKind,
    /// The inputs' width d.
    d: usize,
    /// Non-causal: φ(K)ᵀV and Σ φ(kⱼ).
    totals: Option<(Array2<f32>, Array1<f32>)>,
    /// Causal: the next row to fold in and the sums over j < it.
    running: RefCell<(usize, Array2<f32>, Array1<f32>)>,
    /// FLOPs executed by `compute_rows` so far (outputs only, not the
    /// weights handed to a view), counted where they happen.
    executed: std::cell::Cell<u64>,
}

impl<'a> KernelTwin<'a> {
    /// Features and sums for `inputs`.
    pub fn new(
        inputs: &'a Inputs,
        kernel: FeatureKind,
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
            kernel,
            d: inputs.d(),
            totals,
            running: RefCell::new((0, Array2::zeros((features, dv)), Array1::zeros(features))),
            executed: std::cell::Cell::new(0),
        }
    }

    /// FLOPs `compute_rows` has executed so far.
    pub fn executed_flops(&self) -> u64 {
        self.executed.get()
    }

    /// Row i by the explicit quadratic form, and its weights over all keys
    /// (for the views and the tests; never the output path).
    pub fn explicit_row(&self, i: usize) -> (Array1<f32>, Vec<f32>) {
        let n = self.phi_k.nrows();
        let visible = if self.causal { i + 1 } else { n };
        let w: Array1<f32> = self.phi_k.slice(s![..visible, ..]).dot(&self.phi_q.row(i));
        let den = w.sum() + EPS;
        let out = super::full::weighted_rows(self.v.slice(s![..visible, ..]), w.view()) / den;
        let mut weights = vec![0f32; n];
        for (j, &x) in w.iter().enumerate() {
            weights[j] = x / den;
        }
        (out, weights)
    }

    /// The causal prefix sums Σ_{j≤i} φ(kⱼ)vⱼᵀ and Σ_{j≤i} φ(kⱼ), advanced
    /// from wherever the last call left them (restarted if i is earlier).
    fn advance_to(&self, i: usize) -> std::cell::RefMut<'_, (usize, Array2<f32>, Array1<f32>)> {
        let mut running = self.running.borrow_mut();
        if running.0 > i + 1 {
            running.0 = 0;
            running.1.fill(0.0);
            running.2.fill(0.0);
        }
        let (m, dv) = running.1.dim();
        while running.0 <= i {
            let j = running.0;
            let (_, sums, z) = &mut *running;
            let k = self.phi_k.row(j);
            for (f, &kf) in k.iter().enumerate() {
                sums.row_mut(f).scaled_add(kf, &self.v.row(j));
            }
            *z += &k;
            running.0 = j + 1;
            self.executed
                .set(self.executed.get() + (2 * m * dv + m) as u64);
        }
        running
    }
}

impl RowKernel for KernelTwin<'_> {
    fn compute_rows(
        &self,
        rows: Range<usize>,
        mut out: ArrayViewMut2<'_, f32>,
        mut weights: Option<WeightSink<'_>>,
    ) {
        let (m, dv) = (self.phi_q.ncols(), self.v.ncols());
        for (slot, i) in rows.enumerate() {
            let phi = self.phi_q.row(i);
            match &self.totals {
                Some((kv, z)) => out
                    .row_mut(slot)
                    .assign(&(phi.dot(kv) / (phi.dot(z) + EPS))),
                None => {
                    let running = self.advance_to(i);
                    let (_, sums, z) = &*running;
                    out.row_mut(slot)
                        .assign(&(phi.dot(sums) / (phi.dot(z) + EPS)));
                }
            }
            // φ(qᵢ)ᵀS (2m·dᵥ), φ(qᵢ)ᵀz (2m), + ε (1), dᵥ divisions.
            self.executed
                .set(self.executed.get() + (2 * m * dv + 2 * m + 1 + dv) as u64);
            if let Some(callback) = weights.as_deref_mut() {
                callback(i, &self.explicit_row(i).1);
            }
        }
    }

    /// Features, then φ(K)ᵀV and Σφ(k) (2nm·dᵥ + nm: folded once, up front
    /// or as prefix sums), then per row φ(qᵢ)ᵀS and φ(qᵢ)ᵀz with ε and the
    /// division (2m·dᵥ + 2m + 1 + dᵥ).
    fn cost(&self, _pairs: u64) -> TwinCost {
        let (n, m) = (self.phi_q.nrows() as u64, self.phi_q.ncols() as u64);
        let dv = self.v.ncols() as u64;
        let d = match self.kernel {
            FeatureKind::Cos => m / 2,
            FeatureKind::Elu => m,
            FeatureKind::Favor => self.d as u64,
        };
        let features = feature_flops(self.kernel, n, d, m);
        let sums = 2 * n * m * dv + n * m;
        let rows = n * (2 * m * dv + 2 * m + 1 + dv);
        TwinCost {
            flops: Counted::new(
                features.value + sums + rows,
                format!(
                    "{} + 2nm·dᵥ + nm (φ(K)ᵀV, Σφ(k){}) + n·(2m·dᵥ + 2m + 1 + dᵥ), m = {m}",
                    features.formula,
                    if self.causal { " as prefix sums" } else { "" }
                ),
            ),
            bytes: Counted::new(
                4 * (2 * n * d + 2 * n * m + n * (m * dv + dv) + n * (m * dv + m + dv)),
                "4·(2nd + 2nm (features) + n·(m·dᵥ + dᵥ) (sums) + n·(m·dᵥ + m + dᵥ) (rows))",
            ),
            memory: Counted::new(
                4 * (2 * n * m + m * dv + m)
                    + if self.kernel == FeatureKind::Favor {
                        4 * 2 * n * m + 12 * m * d
                    } else {
                        0
                    },
                "4·(2nm + m·dᵥ + m): φ(Q), φ(K), the sums (FAVOR+ also its exponents 4·2nm and ω 12md)",
            ),
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
    fn pooled_map(&self) -> Option<crate::data::maps::AttentionMap> {
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
        Some(crate::data::maps::pool_factored(
            self.phi_q.view(),
            self.phi_k.view(),
            &scales,
            self.causal,
        ))
    }

    fn views(&self) -> Artifacts {
        Artifacts::new().with(Artifact::Factor(FactorMap::pool(
            &self.phi_q,
            "φ(Q): query features",
            "feature",
        )))
    }
}

impl Kernelized {
    fn features(&self, config: &Config<'_>, d: usize) -> usize {
        match self.kernel {
            FeatureKind::Elu => d,
            FeatureKind::Cos => 2 * d,
            FeatureKind::Favor => config.param(&FEATURES) as usize,
        }
    }
}

impl AttentionMethod for Kernelized {
    fn info(&self) -> &'static MethodInfo {
        self.info
    }

    /// Executed: the GPU's dispatches as they run for one head
    /// ([`work::linear_attention`]: FAVOR+'s exponents as a tiled GEMM,
    /// the chunk sums as batched 64 × 64 GEMM tiles with φ computed as they
    /// load, the fold over chunks, and the output tiles — causal with their
    /// own chunk's masked scores); a run over B·H heads reports its own
    /// total. Algorithmic: the features at their minimal cost, φ(K)ᵀV and
    /// Σφ(k) (2nm·dᵥ + nm) and each row's φ(qᵢ)ᵀS, φ(qᵢ)ᵀz and division
    /// (2m·dᵥ + 2m + 1 + dᵥ) — the same count causal or not (prefix sums
    /// instead of totals).
    fn cost(&self, shape: Shape, config: &Config<'_>, _pairs: u64) -> Cost {
        let (n, d, dv) = (shape.n as u64, shape.d as u64, shape.dv as u64);
        let m = self.features(config, shape.d) as u64;
        let needed_features = match self.kernel {
            FeatureKind::Elu => Counted::new(2 * n * d, "2nd (elu + 1)"),
            FeatureKind::Cos => Counted::new(2 * n * 2 * d * 2, "2·n·2d·2 (ReLU, re-weighting)"),
            FeatureKind::Favor => Counted::new(
                2 * n * m * (2 * d + 3) + 2 * 2 * n * d,
                "2nm(2d + 3) + 4nd (ωᵀx − ‖x‖²/2, exp, 1/√m)",
            ),
        };
        let rows = n * (2 * m * dv + 2 * m + 1 + dv);
        let omega = if self.kernel == FeatureKind::Favor {
            4 * m * d
        } else {
            0
        };
        let geometry = linear_attention::Geometry::new(
            self.kernel,
            1,
            (shape.n, shape.d, shape.dv),
            m as usize,
            shape.causal,
            u64::MAX,
        );
        let (mut flops, bytes) = work::linear_attention(&geometry)
            .counted(work::LINEAR_FLOPS_RULE, work::LINEAR_BYTES_RULE);
        flops.formula = format!("{}, m = {m}", flops.formula);
        Cost::new(
            (flops, bytes),
            (
                Counted::new(
                    needed_features.value + 2 * n * m * dv + n * m + rows,
                    format!(
                        "{} + 2nm·dᵥ + nm + n·(2m·dᵥ + 2m + 1 + dᵥ), m = {m}",
                        needed_features.formula
                    ),
                ),
                qkvo_bytes(shape, omega, if omega > 0 { "4md (ω)" } else { "" }),
            ),
        )
    }

    fn randomized(&self, _config: &Config<'_>) -> bool {
        self.kernel == FeatureKind::Favor
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
            let features = self.feature_map(config, inputs.d());
            linear_attention::run(ctx, &[inputs], config.causal, &features, options).await
        })
    }

    /// Every head in one dispatch per pass; Performer's ω is one draw from
    /// the seed shared by every head, as each head's twin draws it.
    fn run_gpu_heads<'a>(
        &'a self,
        ctx: &'a GpuContext,
        heads: &'a Heads,
        config: &'a Config<'a>,
        options: &'a GpuRunOptions,
    ) -> Option<LocalFuture<'a, Result<GpuOutput, GpuError>>> {
        Some(Box::pin(async move {
            let features = self.feature_map(config, heads.d());
            let items: Vec<&Inputs> = heads.items.iter().map(|x| &**x).collect();
            linear_attention::run(ctx, &items, config.causal, &features, options).await
        }))
    }
}

impl Kernelized {
    /// φ for the GPU: its kind and, for FAVOR+, ω drawn from the seed.
    fn feature_map(&self, config: &Config<'_>, d: usize) -> FeatureMap {
        let omega = match self.kernel {
            FeatureKind::Favor => {
                let m = self.features(config, d);
                orthogonal_features(m, d, config.seed)
                    .iter()
                    .map(|&x| x as f32)
                    .collect()
            }
            _ => Vec::new(),
        };
        FeatureMap {
            kind: self.kernel,
            omega,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::ParamValues;
    use crate::attention::testing::twin_rel_err;

    fn run_twin(x: &Inputs, kernel: FeatureKind, m: usize, seed: u64, causal: bool) -> Array2<f32> {
        let twin = KernelTwin::new(x, kernel, m, seed, causal);
        let mut out = Array2::zeros((x.n(), x.dv()));
        twin.compute_rows(0..x.n(), out.view_mut(), None);
        out
    }

    #[test]
    fn linear_time_sums_equal_the_quadratic_form() {
        let x = Inputs::seeded(77, 6, 4);
        for kernel in [FeatureKind::Elu, FeatureKind::Cos, FeatureKind::Favor] {
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
        let (pq, pk) = feature_maps(&x, FeatureKind::Cos, 10, 0);
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
    fn orthogonal_features_are_orthogonal_within_blocks() {
        let w = orthogonal_features(20, 8, 5);
        for b in 0..2 {
            for i in b * 8..(b * 8 + 8).min(20) {
                for j in b * 8..(b * 8 + 8).min(20) {
                    if i != j {
                        let cos = w.row(i).dot(&w.row(j))
                            / (w.row(i).dot(&w.row(i)) * w.row(j).dot(&w.row(j))).sqrt();
                        assert!(cos.abs() < 1e-9, "rows {i}, {j}");
                    }
                }
            }
        }
        assert_ne!(orthogonal_features(20, 8, 6), w);
    }

    /// Mean and variance of χ_d: μ = √2·Γ((d+1)/2)/Γ(d/2), σ² = d − μ².
    fn chi_moments(d: usize) -> (f64, f64) {
        let half = d as f64 / 2.0;
        let mu = 2f64.sqrt() * (libm::lgamma(half + 0.5) - libm::lgamma(half)).exp();
        (mu, d as f64 - mu * mu)
    }

    /// (mean, variance, standard error of the mean, standard error of the
    /// variance) of a sample.
    fn moments(x: &[f64]) -> (f64, f64, f64, f64) {
        let k = x.len() as f64;
        let mean = x.iter().sum::<f64>() / k;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1.0);
        let m4 = x.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / k;
        (
            mean,
            var,
            (var / k).sqrt(),
            ((m4 - var * var).max(0.0) / k).sqrt(),
        )
    }

    /// Whether the row norms of ω are χ_d-distributed: their mean and their
    /// variance within four standard errors of χ_d's. A fixed norm √d (the
    /// biased variant) has variance 0 and fails.
    fn norms_are_chi(norms: &[f64], d: usize) -> Result<(), String> {
        let (mu, var) = chi_moments(d);
        let (mean, sample_var, se_mean, se_var) = moments(norms);
        if (mean - mu).abs() > 4.0 * se_mean.max(1e-12) {
            return Err(format!(
                "mean norm {mean} vs χ_{d} mean {mu} (se {se_mean})"
            ));
        }
        if (sample_var - var).abs() > 4.0 * se_var.max(1e-12) {
            return Err(format!(
                "norm variance {sample_var} vs χ_{d} variance {var} (se {se_var})"
            ));
        }
        Ok(())
    }

    #[test]
    fn feature_norms_are_chi_distributed() {
        let d = 8;
        let norms: Vec<f64> = (0..250u64)
            .flat_map(|seed| {
                let w = orthogonal_features(16, d, seed);
                w.rows()
                    .into_iter()
                    .map(|r| r.dot(&r).sqrt())
                    .collect::<Vec<_>>()
            })
            .collect();
        norms_are_chi(&norms, d).unwrap();
        // Power: the biased variant with every norm fixed at √d fails ...
        let fixed = vec![(d as f64).sqrt(); norms.len()];
        assert!(norms_are_chi(&fixed, d).is_err());
        // ... and so do norms 10% too large.
        let scaled: Vec<f64> = norms.iter().map(|x| 1.1 * x).collect();
        assert!(norms_are_chi(&scaled, d).is_err());
    }

    /// Over `trials` seeds of ω, the production FAVOR+ features' unbiased
    /// estimate φ(q)·φ(k)·exp(shifts) of exp(qᵀk/√d) for one (q, k) pair;
    /// with `drop_half_norm`, the estimate of a kernel without the −‖x‖²/2
    /// term, which is exp(‖x_q‖²/2 + ‖x_k‖²/2) times larger.
    fn favor_estimates(
        q: &[f32],
        k: &[f32],
        m: usize,
        trials: u64,
        drop_half_norm: bool,
    ) -> Vec<f64> {
        let d = q.len();
        let row = |x: &[f32]| Array2::from_shape_vec((1, d), x.to_vec()).unwrap();
        let x = Inputs::from_arrays(
            row(q),
            row(k),
            Array2::zeros((1, 1)),
            crate::inputs::InputSource::Npy,
        )
        .unwrap();
        let half = |x: &[f32]| {
            x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / (2.0 * (d as f64).sqrt())
        };
        let dropped = if drop_half_norm {
            (half(q) + half(k)).exp()
        } else {
            1.0
        };
        (0..trials)
            .map(|seed| {
                let f = features(&x, FeatureKind::Favor, m, seed);
                let dot: f64 = f
                    .phi_q
                    .row(0)
                    .iter()
                    .zip(f.phi_k.row(0).iter())
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum();
                dot * ((f.q_shift[0] + f.k_shift) as f64).exp() * dropped
            })
            .collect()
    }

    #[test]
    fn favor_features_estimate_the_softmax_kernel_without_bias() {
        // ‖q‖²/(2√d) + ‖k‖²/(2√d) ≈ 0.3: dropping the −‖x‖²/2 term inflates
        // the estimate by e^0.3 ≈ 1.35, far outside the band.
        let d = 8;
        let q: Vec<f32> = vec![0.5, -0.3, 0.4, 0.2, -0.6, 0.1, 0.3, -0.2];
        let k: Vec<f32> = vec![0.4, 0.2, 0.5, -0.1, -0.3, 0.3, 0.2, 0.1];
        let exact = (q
            .iter()
            .zip(&k)
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum::<f64>()
            / (d as f64).sqrt())
        .exp();
        let trials = 3000;
        let (mean, _, se, _) = moments(&favor_estimates(&q, &k, 16, trials, false));
        assert!(
            (mean - exact).abs() < 4.0 * se,
            "mean {mean} vs exp(qᵀk/√d) {exact}, standard error {se}"
        );
        // The band is tight enough to matter: a 5% bias falls outside it.
        assert!(4.0 * se < 0.05 * exact, "standard error {se} too large");
        let (biased, _, se_b, _) = moments(&favor_estimates(&q, &k, 16, trials, true));
        assert!(
            (biased - exact).abs() > 4.0 * se_b,
            "dropping −‖x‖²/2 went unnoticed: {biased} vs {exact}"
        );
    }

    #[test]
    fn causal_twin_work_is_linear_in_n_and_the_same_every_pass() {
        let flops = |n: usize| -> u64 {
            let x = Inputs::seeded(n, 8, 4);
            let twin = KernelTwin::new(&x, FeatureKind::Elu, 8, 0, true);
            let mut out = Array2::zeros((n, 8));
            for start in (0..n).step_by(37) {
                let end = (start + 37).min(n);
                twin.compute_rows(start..end, out.slice_mut(s![start..end, ..]), None);
            }
            // A second pass over the same twin (as the old runner's repeats
            // did) must not fall back to the quadratic form.
            let first = twin.executed_flops();
            twin.compute_rows(0..n, out.view_mut(), None);
            assert_eq!(twin.executed_flops() - first, first, "n = {n}");
            first
        };
        let (small, large) = (flops(256), flops(1024));
        let ratio = large as f64 / small as f64;
        assert!((ratio - 4.0).abs() < 0.01, "work grows by {ratio} for 4× n");
        // And it is what the twin's cost reports for its sums and rows.
        let (m, dv, n) = (8u64, 8u64, 256u64);
        assert_eq!(
            small,
            2 * n * m * dv + n * m + n * (2 * m * dv + 2 * m + 1 + dv)
        );
    }

    #[test]
    fn sampled_rows_equal_the_in_order_pass() {
        let x = Inputs::seeded(90, 6, 8);
        for kernel in [FeatureKind::Elu, FeatureKind::Favor, FeatureKind::Cos] {
            let twin = KernelTwin::new(&x, kernel, 12, 2, true);
            let all = run_twin(&x, kernel, 12, 2, true);
            for &i in &[89, 3, 40, 40, 0, 77] {
                let mut row = Array2::zeros((1, 6));
                twin.compute_rows(i..i + 1, row.view_mut(), None);
                for (a, b) in row.row(0).iter().zip(all.row(i).iter()) {
                    assert!((a - b).abs() <= 1e-6 + 1e-5 * b.abs(), "{kernel:?} row {i}");
                }
            }
        }
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

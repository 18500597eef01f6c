//! Nyströmformer (Xiong et al. 2021, "Nyströmformer: A Nyström-Based
//! Algorithm for Approximating Self-Attention"; survey §"Low-Rank
//! Factorization"): with L landmarks Q̃, K̃ — the means of L consecutive
//! segments of Q and K —
//!
//! O = softmax(QK̃ᵀ/√d) · Ã⁺ · (softmax(Q̃Kᵀ/√d)·V),  Ã = softmax(Q̃K̃ᵀ/√d),
//!
//! with the pseudo-inverse Ã⁺ from the iteration the paper uses (Razavi et
//! al. 2014): Z₀ = Ãᵀ/(‖Ã‖₁‖Ã‖∞), Z ← ¼·Z·(13I − ÃZ(15I − ÃZ(7I − ÃZ))),
//! `--pinv-iters` times (default 6). With L = n landmarks every segment is one
//! token, the three kernels are all the exact attention matrix P, and
//! P·P⁺·P·V = P·V: exact attention. Landmarks mix past and future, so the
//! method is not causal. Segments: segment s covers rows ⌊s·n/L⌋ … ⌊(s+1)·n/L⌋ − 1.
//!
//! Heads (B·H of them): every pass is one dispatch over all heads (batched
//! products, the head in the dispatch's z or folded into the softmax's
//! rows). The iteration stops per head: each head runs as many iterations
//! as its own twin (the rule decided on the CPU from that head's Ã), the
//! passes run the largest count and a head keeps the Z of its own last step.
//! The reported `pinv_residual` and `pinv_iterations` are head 0's; a note
//! gives the heads' range of counts and their largest residual.
//!
//! The GPU passes are shaped for few landmarks and long sequences: the
//! whole iteration is one dispatch (`pinv.wgsl`, each head in one
//! workgroup, where workgroup memory holds three L × L slots — the
//! separate products were 7 dispatches an iteration, most of the time at
//! L = 64); B̃V (K = n, an L × dᵥ output) is split over K (split-K:
//! `sgemm::Split`); the n × L softmax gives each short row a thread; the
//! n × L and L × n products use 64-wide tiles. On an H200 at 16 heads,
//! d = 64, L = 64 (`bench/results/h200-nystrom-fused.jsonl`, one device
//! call beside PyTorch): 0.52 / 0.77 / 1.70 / 5.21 ms at n = 1K / 4K / 16K
//! / 64K, against 2.33 ms at 16K before (its PyTorch counterpart:
//! 1.79–2.18 ms at 16K in two runs of that call).

use std::ops::Range;

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use super::{
    AttentionMethod, Budget, Complexity, Config, Conformance, Cost, LocalFuture, MethodError,
    MethodFigures, MethodInfo, ParamSpec, RowKernel, TwinCost, WeightSink, qkvo_bytes,
};

use crate::data::count::Counted;

use crate::data::artifacts::{Artifact, Artifacts};
use crate::data::codes::KernelKind;
use crate::data::maps::{AttentionMap, FactorMap};
use crate::data::shape::{RowPattern, Shape};
use crate::gpu::linalg::{Builder, Mat, check_sizes, pinv_fuses, read_map};
use crate::gpu::tiled_attention::Stacked;
use crate::gpu::work::{self, LINALG_BYTES_RULE, LINALG_FLOPS_RULE, Work};
use crate::gpu::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::inputs::{Heads, InputSource, Inputs};

const LANDMARKS: ParamSpec = ParamSpec::int(
    "landmarks",
    "Landmarks L",
    "segment means of Q and K (at most n)",
    1,
    256,
    32,
);
const PINV_ITERS: ParamSpec = ParamSpec::int(
    "pinv-iters",
    "Pseudo-inverse iterations",
    "iterations of the Moore–Penrose approximation",
    1,
    40,
    6,
);

static INFO: MethodInfo = MethodInfo {
    key: "nystrom",
    label: "Nyströmformer",
    family: "Low-rank",
    paper: "Xiong et al. 2021, Nyströmformer: A Nyström-Based Algorithm for Approximating Self-Attention",
    complexity: Complexity {
        time: "O(nL)",
        space: "O(nL)",
        source: "Xiong et al. 2021",
    },
    best_for: "—",
    mathml: r#"<math display="block"><mi>O</mi><mo>=</mo><mi>softmax</mi><mrow><mo>(</mo><mfrac><mrow><mi>Q</mi><msup><mrow><mover><mi>K</mi><mo>~</mo></mover></mrow><mi>⊤</mi></msup></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow><msup><mover><mi>A</mi><mo>~</mo></mover><mo>+</mo></msup><mi>softmax</mi><mrow><mo>(</mo><mfrac><mrow><mover><mi>Q</mi><mo>~</mo></mover><msup><mi>K</mi><mi>⊤</mi></msup></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow><mi>V</mi></math><math display="block"><mover><mi>A</mi><mo>~</mo></mover><mo>=</mo><mi>softmax</mi><mrow><mo>(</mo><mfrac><mrow><mover><mi>Q</mi><mo>~</mo></mover><msup><mrow><mover><mi>K</mi><mo>~</mo></mover></mrow><mi>⊤</mi></msup></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow><mo>,</mo><mtext>  </mtext><mover><mi>Q</mi><mo>~</mo></mover><mo>,</mo><mrow><mover><mi>K</mi><mo>~</mo></mover></mrow><mtext>: means of segments of </mtext><mi>Q</mi><mo>,</mo><mi>K</mi></math>"#,
    equation: "O = softmax(QK̃ᵀ/√d)·Ã⁺·softmax(Q̃Kᵀ/√d)·V",
    params: &[LANDMARKS, PINV_ITERS],
    causal_unsupported: Some("its landmarks average segments that include future positions"),
    budget: Some(Budget {
        key: "landmarks",
        slope: None,
        law: "falls with L on low-rank inputs; need not on Gaussian ones",
    }),
    explanation: "L landmarks (segment means of Q and K) stand in for all keys: three small softmax kernels and \
             the pseudo-inverse of the L × L one reconstruct the n × n matrix (the Nyström method). The \
             pseudo-inverse comes from a few iterations, not exactly: the residual ‖ÃZÃ − Ã‖/‖Ã‖ in the \
             figures says how far it is, and rel_err depends on pinv-iters and on how well conditioned Ã \
             is — the truncated iteration regularises an ill-conditioned Ã. The error falls with L when \
             the inputs have low-rank structure (try inputs=low-rank); on Gaussian inputs it need not — \
             the error law shows which, its spread taken over seeds of the inputs (the method itself \
             has no randomness).",
    conformance: Conformance::FACTORED
        .with_cases(&[&[("landmarks", 5), ("pinv-iters", 6)]])
        .on(InputSource::LowRank),
};

/// Registry entry (`--method nystrom`).
pub struct Nystrom;

fn knobs(config: &Config<'_>, n: usize) -> (usize, u32) {
    (
        (config.param(&LANDMARKS) as usize).clamp(1, n.max(1)),
        config.param(&PINV_ITERS) as u32,
    )
}

/// Means of `segments` consecutive row segments (balanced partition).
pub fn segment_means(x: ArrayView2<'_, f32>, segments: usize) -> Array2<f32> {
    let (n, d) = x.dim();
    let mut out = Array2::zeros((segments, d));
    for s in 0..segments {
        let (first, end) = (s * n / segments, (s + 1) * n / segments);
        let mut row = out.row_mut(s);
        for r in first..end {
            row += &x.row(r);
        }
        row /= (end - first).max(1) as f32;
    }
    out
}

/// Row softmax of `scale·x`.
fn softmax_rows(mut x: Array2<f32>, scale: f32) -> Array2<f32> {
    for mut row in x.rows_mut() {
        row *= scale;
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row /= sum;
    }
    x
}

/// The pseudo-inverse the method uses, and how the iteration got there.
#[derive(Debug, Clone, PartialEq)]
pub struct Pinv {
    /// Z ≈ Ã⁺.
    pub z: Array2<f32>,
    /// Iterations run (at most those asked for).
    pub iterations: u32,
    /// ‖ÃZÃ − Ã‖_F / ‖Ã‖_F of this Z.
    pub residual: f64,
}

/// Z₀ = Ãᵀ/(‖Ã‖₁‖Ã‖∞), the iteration's start.
fn pinv_start(a: &Array2<f32>) -> Array2<f32> {
    let m = a.nrows();
    let col_max = (0..m)
        .map(|j| a.column(j).iter().map(|x| x.abs()).sum::<f32>())
        .fold(0f32, f32::max);
    let row_max = (0..m)
        .map(|i| a.row(i).iter().map(|x| x.abs()).sum::<f32>())
        .fold(0f32, f32::max);
    a.t().to_owned() / (col_max * row_max).max(1e-30)
}

/// One step Z ← ¼·Z(13I − ÃZ(15I − ÃZ(7I − ÃZ))) in f32, as on the GPU.
fn pinv_step(a: &Array2<f32>, z: &Array2<f32>) -> Array2<f32> {
    let eye = Array2::<f32>::eye(a.nrows());
    let az = a.dot(z);
    let t1 = &eye * 7.0 - &az;
    let t3 = &eye * 15.0 - az.dot(&t1);
    let t5 = &eye * 13.0 - az.dot(&t3);
    z.dot(&t5) * 0.25
}

/// The iterative Moore–Penrose pseudo-inverse (f32, as on the GPU): at most
/// `iterations` steps, stopping as soon as the residual ‖ÃZÃ − Ã‖/‖Ã‖ stops
/// falling. On a rank-deficient Ã the iteration converges until f32 rounding
/// in Ã's near-null space dominates, and then amplifies that rounding until
/// it overflows; the best Z — the last one whose residual still fell — is
/// what the method uses, on the twin and on the GPU alike.
pub fn pinv(a: &Array2<f32>, iterations: u32) -> Pinv {
    let mut best = Pinv {
        z: pinv_start(a),
        iterations: 0,
        residual: f64::INFINITY,
    };
    best.residual = pinv_residual(a, &best.z);
    for k in 1..=iterations {
        let z = pinv_step(a, &best.z);
        let residual = pinv_residual(a, &z);
        // NaN compares as not falling too.
        let falling = residual.partial_cmp(&best.residual) == Some(std::cmp::Ordering::Less);
        if !falling || !z.iter().all(|x| x.is_finite()) {
            break;
        }
        best = Pinv {
            z,
            iterations: k,
            residual,
        };
    }
    best
}

/// The note when the iteration stopped before the iterations asked for.
fn stopped_early(used: u32, asked: u32) -> Option<String> {
    (used < asked).then(|| {
        format!(
            "the pseudo-inverse iteration stopped after {used} of {asked} iterations: its residual \
             ‖ÃZÃ − Ã‖/‖Ã‖ stopped falling (f32 rounding in Ã's near-null space would grow from there)"
        )
    })
}

/// Ã = softmax(Q̃K̃ᵀ/√d) of `landmarks` segment means: the matrix whose
/// pseudo-inverse the method needs.
pub fn landmark_kernel(inputs: &Inputs, landmarks: usize) -> Array2<f32> {
    let scale = 1.0 / (inputs.d() as f32).sqrt();
    let q_l = segment_means(inputs.q.view(), landmarks);
    let k_l = segment_means(inputs.k.view(), landmarks);
    softmax_rows(q_l.dot(&k_l.t()), scale)
}

/// ‖ÃZÃ − Ã‖_F / ‖Ã‖_F in f64: how far Z is from a pseudo-inverse of Ã
/// (0 for Z = Ã⁺; the truncated iteration leaves a residual that
/// regularises, and Ã's conditioning decides how fast it falls).
pub fn pinv_residual(a: &Array2<f32>, z: &Array2<f32>) -> f64 {
    let a64 = a.mapv(f64::from);
    let z64 = z.mapv(f64::from);
    let aza = a64.dot(&z64).dot(&a64);
    let diff = (&aza - &a64).mapv(|x| x * x).sum().sqrt();
    let norm = a64.mapv(|x| x * x).sum().sqrt();
    if norm > 0.0 { diff / norm } else { diff }
}

/// The f32 CPU twin.
pub struct NystromTwin {
    kernel_f: Array2<f32>,
    w: Array2<f32>,
    z_b: Array2<f32>,
    d: usize,
    asked: u32,
    pinv: Pinv,
}

impl NystromTwin {
    /// Landmarks, the three kernels, the pseudo-inverse and W = Ã⁺(B̃V).
    pub fn new(inputs: &Inputs, landmarks: usize, iterations: u32) -> NystromTwin {
        let scale = 1.0 / (inputs.d() as f32).sqrt();
        let q_l = segment_means(inputs.q.view(), landmarks);
        let k_l = segment_means(inputs.k.view(), landmarks);
        let kernel_f = softmax_rows(inputs.q.dot(&k_l.t()), scale);
        let kernel_a = softmax_rows(q_l.dot(&k_l.t()), scale);
        let kernel_b = softmax_rows(q_l.dot(&inputs.k.t()), scale);
        let pinv = pinv(&kernel_a, iterations);
        let w = pinv.z.dot(&kernel_b.dot(&inputs.v));
        NystromTwin {
            kernel_f,
            w,
            z_b: pinv.z.dot(&kernel_b),
            d: inputs.d(),
            asked: iterations,
            pinv,
        }
    }
}

impl RowKernel for NystromTwin {
    fn compute_rows(
        &self,
        rows: Range<usize>,
        mut out: ArrayViewMut2<'_, f32>,
        mut weights: Option<WeightSink<'_>>,
    ) {
        for (slot, i) in rows.enumerate() {
            let f = self.kernel_f.row(i);
            out.row_mut(slot).assign(&self.w.t().dot(&f));
            if let Some(callback) = weights.as_deref_mut() {
                callback(i, self.z_b.t().dot(&f).as_slice().unwrap_or(&[]));
            }
        }
    }

    fn row_pattern(&self, _i: usize) -> RowPattern {
        RowPattern::Dense {
            upto: self.z_b.ncols(),
        }
    }

    /// F̃·(Ã⁺B̃) pooled from its factors: O(n·L).
    fn pooled_map(&self) -> Option<AttentionMap> {
        let n = self.kernel_f.nrows();
        let zb_t = self.z_b.t().to_owned();
        Some(crate::data::maps::pool_factored(
            self.kernel_f.view(),
            zb_t.view(),
            &vec![1.0; n],
            false,
        ))
    }

    /// Landmarks 2(nd + Ld); kernels 2(2nL + L²)d and their softmaxes
    /// 6(2nL + L²); the pseudo-inverse 3L² + iterations·(8L³ + 7L²); B̃V and W
    /// 2Lndᵥ + 2L²dᵥ; Ã⁺B̃ for the views 2L²n; per row F̃ᵢW 2Ldᵥ.
    fn cost(&self, _pairs: u64) -> TwinCost {
        let (n, l) = (self.kernel_f.nrows() as u64, self.kernel_f.ncols() as u64);
        let (d, dv, t) = (
            self.d as u64,
            self.w.ncols() as u64,
            self.pinv.iterations as u64,
        );
        TwinCost {
            flops: Counted::new(
                2 * (n * d + l * d)
                    + 2 * (2 * n * l + l * l) * d
                    + 6 * (2 * n * l + l * l)
                    + 3 * l * l
                    + t * (8 * l * l * l + 7 * l * l)
                    + 2 * l * n * dv
                    + 2 * l * l * dv
                    + 2 * l * l * n
                    + 2 * n * l * dv,
                format!(
                    "2(nd + Ld) + 2(2nL + L²)(d + 3) + 3L² + iters·(8L³ + 7L²) + 2Lndᵥ + 2L²dᵥ + 2L²n + 2nLdᵥ, L = {l}"
                ),
            ),
            bytes: Counted::new(
                4 * (2 * n * d
                    + 2 * (2 * n * l + l * l) * (d + 5)
                    + t * 4 * 3 * l * l * l
                    + 2 * l * n * dv
                    + 2 * l * l * n
                    + n * (l + l * dv + dv)),
                "4·(2nd + 2(2nL + L²)(d + 5) + iters·12L³ + 2Lndᵥ + 2L²n + n(L + Ldᵥ + dᵥ))",
            ),
            memory: Counted::new(
                4 * (2 * l * d + 2 * n * l + 7 * l * l + l * dv + l * n),
                "4·(2Ld + 2nL + 7L² + Ldᵥ + Ln): landmarks, F̃, B̃, Ã and the iteration's L × L terms, W, Ã⁺B̃",
            ),
        }
    }

    fn figures(&self) -> MethodFigures {
        MethodFigures {
            pinv_residual: Some(self.pinv.residual),
            pinv_iterations: Some(self.pinv.iterations),
        }
    }

    fn notes(&self) -> Vec<String> {
        stopped_early(self.pinv.iterations, self.asked)
            .into_iter()
            .collect()
    }

    fn views(&self) -> Artifacts {
        Artifacts::new().with(Artifact::Factor(FactorMap::pool(
            &self.kernel_f,
            "softmax(QK̃ᵀ/√d): n × L",
            "landmark",
        )))
    }
}

impl AttentionMethod for Nystrom {
    fn info(&self) -> &'static MethodInfo {
        &INFO
    }

    /// Executed: the linalg programs as they run ([`work`]: padded tiled
    /// products (sgemm) with their re-reads and split-K sums, the softmax
    /// kernels, the iteration in one pass or as four matmuls and three
    /// `identity_plus` — counted here as WebGPU's default limits run it,
    /// in one pass for L ≤ 36; a GPU run reports what its adapter ran). Algorithmic: landmarks 2nd;
    /// kernels 2nLd + 2L²d + 2Lnd and their softmaxes 4(2nL + L²); the
    /// pseudo-inverse iterations·(8L³ + 3L²); B̃V 2Lndᵥ; Ã⁺(B̃V) 2L²dᵥ; F̃W
    /// 2nLdᵥ. Compulsory bytes: Q, K, V, O.
    fn cost(&self, shape: Shape, config: &Config<'_>, _pairs: u64) -> Cost {
        let (n, d, dv) = (shape.n as u64, shape.d as u64, shape.dv as u64);
        let (l, iters) = knobs(config, shape.n);
        let (l, iters) = (l as u64, iters as u64);
        let flops = 2 * n * d
            + 2 * n * l * d
            + 2 * l * l * d
            + 2 * l * n * d
            + 4 * (2 * n * l + l * l)
            + iters * (8 * l * l * l + 3 * l * l)
            + 2 * l * n * dv
            + 2 * l * l * dv
            + 2 * n * l * dv;
        let formula = format!(
            "2nd + 2(2nL + L²)d + 4(2nL + L²) + iters·(8L³ + 3L²) + 2(2nL + L²)dᵥ, L = {l}"
        );
        // The pseudo-inverse as one pass where WebGPU's default limits
        // allow it (a run on an adapter with more workgroup memory reports
        // what it ran: `run_stacked`).
        let fused = pinv_fuses(&wgpu::Limits::default(), l as u32);
        let work = executed_work((n, d, dv), l, &[iters as u32], fused);
        Cost::new(
            executed_counts(&work),
            (Counted::new(flops, formula), qkvo_bytes(shape, 0, "")),
        )
    }

    fn cpu_twin<'a>(
        &self,
        inputs: &'a Inputs,
        config: &Config<'_>,
    ) -> Result<Box<dyn RowKernel + 'a>, MethodError> {
        let (l, iters) = knobs(config, inputs.n());
        Ok(Box::new(NystromTwin::new(inputs, l, iters)))
    }

    fn run_gpu<'a>(
        &'a self,
        ctx: &'a GpuContext,
        inputs: &'a Inputs,
        config: &'a Config<'a>,
        options: &'a GpuRunOptions,
    ) -> LocalFuture<'a, Result<GpuOutput, GpuError>> {
        Box::pin(async move {
            let stacked = Stacked::single(&inputs.q, &inputs.k, &inputs.v);
            run_stacked(ctx, stacked, &[inputs], config, options).await
        })
    }

    /// Every head through the same passes: landmarks, the three kernels,
    /// their softmaxes, the pseudo-inverse iterations and the products are
    /// each one dispatch over the B·H heads (batched sgemm; the head in z or
    /// folded into the softmax's rows). The iteration stops per head, where
    /// that head's twin stops.
    fn run_gpu_heads<'a>(
        &'a self,
        ctx: &'a GpuContext,
        heads: &'a Heads,
        config: &'a Config<'a>,
        options: &'a GpuRunOptions,
    ) -> Option<LocalFuture<'a, Result<GpuOutput, GpuError>>> {
        Some(Box::pin(async move {
            let stacked = Stacked::of_heads(heads, |x| std::borrow::Cow::Borrowed(&x.k));
            let items: Vec<&Inputs> = heads.items.iter().map(|x| &**x).collect();
            run_stacked(ctx, stacked, &items, config, options).await
        }))
    }
}

/// The passes of a run over `iterations.len()` heads (B·H, one dispatch
/// each, [`work::matmul_batched`] for the batched products). The
/// pseudo-inverse, `fused`: one `pinv_fused` pass, each head its own count
/// ([`work::pinv_fused`]); else every head runs the largest count of
/// iterations as separate products and, when the counts differ, each step
/// ends with `pinv_commit` (committing for the heads still iterating). One
/// head is the run [`Nystrom::cost`] counts.
fn executed_work((n, d, dv): (u64, u64, u64), l: u64, iterations: &[u32], fused: bool) -> Work {
    let h = iterations.len().max(1) as u64;
    let most = iterations.iter().copied().max().unwrap_or(0) as u64;
    let times = |(f, b): (u64, u64)| (h * f, h * b);
    let mut work = Work::default();
    work.add("landmarks", times(work::segment_means(n, d, l)))
        .add("", times(work::segment_means(n, d, l)))
        .add("QK̃ᵀ", work::matmul_batched(n, l, d, h))
        .add("softmax", times(work::softmax_rows(n, l)))
        .add("Q̃K̃ᵀ", work::matmul_batched(l, l, d, h))
        .add("softmax", times(work::softmax_rows(l, l)))
        .add("Q̃Kᵀ", work::matmul_batched(l, n, d, h))
        .add("softmax", times(work::softmax_rows(l, n)))
        .add("pinv start", times(work::pinv_start(l)));
    if fused && most > 0 {
        work.add(
            format!("{most} iterations (one pass)"),
            work::pinv_fused(l, iterations),
        );
    } else if most > 0 {
        let (f, b) = work::pinv_iteration_batched(l, h);
        work.add(format!("{most} iterations"), (most * f, most * b));
    }
    if !fused && iterations.iter().any(|&t| t as u64 != most) {
        // Σ_h t_h commits; the other (most·H − Σ t_h) checks only.
        let commits: u64 = iterations.iter().map(|&t| t as u64).sum();
        let (cf, cb) = work::pinv_commit(l, true);
        let (sf, sb) = work::pinv_commit(l, false);
        let skips = most * h - commits;
        work.add(
            "per-head stop (commits)",
            (commits * cf + skips * sf, commits * cb + skips * sb),
        );
    }
    work.add("B̃V", work::matmul_batched(l, dv, n, h))
        .add("Ã⁺(B̃V)", work::matmul_batched(l, dv, l, h))
        .add("F̃W", work::matmul_batched(n, dv, l, h));
    work.parts.retain(|p| !p.is_empty());
    work
}

/// The executed counts of `work` with the linalg rules.
fn executed_counts(work: &Work) -> (Counted, Counted) {
    work.counted(
        &format!(
            "{LINALG_FLOPS_RULE}; iteration 4 matmuls + 6L², or in one pass 8L³ + 7L² per head and iteration"
        ),
        &format!(
            "{LINALG_BYTES_RULE}; iteration 4 matmuls + 24L², or in one pass 4L² per head and iteration + 8L² + 4 per head"
        ),
    )
}

/// The stop rule of every head, decided on the CPU exactly as its twin
/// decides it ([`pinv`] on that head's Ã, L × L): the iterations each head
/// runs and the residual ‖ÃZÃ − Ã‖/‖Ã‖ (f64) of the Z it keeps.
fn pinv_per_head(items: &[&Inputs], landmarks: usize, asked: u32) -> Vec<(u32, f64)> {
    items
        .iter()
        .map(|x| {
            let p = pinv(&landmark_kernel(x, landmarks), asked);
            (p.iterations, p.residual)
        })
        .collect()
}

/// The note on several heads' pseudo-inverses: the range of iterations and
/// the largest residual (the figures report head 0's).
fn heads_note(per_head: &[(u32, f64)], asked: u32) -> Option<String> {
    if per_head.len() < 2 {
        return None;
    }
    let fewest = per_head.iter().map(|p| p.0).min().unwrap_or(asked);
    let most = per_head.iter().map(|p| p.0).max().unwrap_or(asked);
    let (worst_head, worst) = per_head
        .iter()
        .enumerate()
        .map(|(h, p)| (h, p.1))
        .fold((0, f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
    let iterations = if fewest == most {
        format!("every head ran {most} of {asked} iterations")
    } else {
        format!(
            "heads stopped after {fewest} to {most} of {asked} iterations, each where its own residual stopped falling"
        )
    };
    Some(format!(
        "pseudo-inverse over {} heads: {iterations}; the largest residual ‖ÃZÃ − Ã‖/‖Ã‖ is {worst:.3e} (head {worst_head}); pinv_residual and pinv_iterations are head 0's",
        per_head.len()
    ))
}

/// The GPU run over one head or B·H stacked heads (`items`: each head's
/// inputs, for its stop rule).
async fn run_stacked(
    ctx: &GpuContext,
    stacked: Stacked<'_>,
    items: &[&Inputs],
    config: &Config<'_>,
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    let (n, d, dv) = stacked.shape;
    let heads = stacked.heads;
    let (l, asked) = knobs(config, n);
    // Every buffer checked against the limits before anything is allocated.
    let of = |what: &str, rows: usize, cols: usize| {
        (
            format!("Nyström {what} for {heads} heads ({heads} × {rows} × {cols} f32)"),
            (heads * rows * cols) as u64,
        )
    };
    check_sizes(
        ctx,
        &[
            of("Q, K", n, d),
            of("V, O", n, dv),
            of("kernel softmax(QK̃ᵀ/√d)", n, l),
            of("kernel softmax(Q̃Kᵀ/√d)", l, n),
            of("B̃V, W", l, dv),
            of("pseudo-inverse terms", l, l),
        ],
    )?;
    // The stop rule decides on the CPU (Ã is L × L per head): every head
    // runs the same number of iterations as its twin.
    let per_head = pinv_per_head(items, l, asked);
    let iterations: Vec<u32> = per_head.iter().map(|p| p.0).collect();
    let scale = 1.0 / (d as f32).sqrt();
    let qkv = stacked.upload(ctx).await?;
    let (q, k, v) = (
        Mat::stacked(&qkv.q, heads, n, d),
        Mat::stacked(&qkv.k, heads, n, d),
        Mat::stacked(&qkv.v, heads, n, dv),
    );
    let mut b = Builder::new(ctx, "Nyström attention");
    let q_l = b.segment_means("nystrom.q_landmarks", &q, l as u32).await?;
    let k_l = b.segment_means("nystrom.k_landmarks", &k, l as u32).await?;
    let kernel_f = b.matmul("nystrom.f", &q, false, &k_l, true, 1.0).await?;
    b.softmax_rows("nystrom.f_softmax", &kernel_f, scale, false)
        .await?;
    let kernel_a = b.matmul("nystrom.a", &q_l, false, &k_l, true, 1.0).await?;
    b.softmax_rows("nystrom.a_softmax", &kernel_a, scale, false)
        .await?;
    let kernel_b = b.matmul("nystrom.b", &q_l, false, &k, true, 1.0).await?;
    b.softmax_rows("nystrom.b_softmax", &kernel_b, scale, false)
        .await?;
    let z = b.pinv(&kernel_a, &iterations).await?;
    let bv = b
        .matmul("nystrom.bv", &kernel_b, false, &v, false, 1.0)
        .await?;
    let w = b.matmul("nystrom.w", &z, false, &bv, false, 1.0).await?;
    let out = b
        .matmul("nystrom.out", &kernel_f, false, &w, false, 1.0)
        .await?;
    let memory = stacked.bytes() + b.allocated;
    // Views (head 0's): the implied matrix F̃·(Ã⁺B̃), pooled from w-rows
    // (Ã⁺B̃)ᵀ = B̃ᵀ(Ã⁺)ᵀ.
    b.views();
    let (kernel_f0, kernel_b0, z0) = (kernel_f.first(), kernel_b.first(), z.first());
    let zb_t = b
        .matmul("nystrom.zb_t", &kernel_b0, true, &z0, true, 1.0)
        .await?;
    let pooled = b.implied_map("nystrom.pool", &kernel_f0, &zb_t).await?;
    let (_, timed) = options.run(ctx, b.program).await?;
    let iters = iterations[0];
    let pinv = if pinv_fuses(&ctx.limits, l as u32) {
        " in one pass"
    } else {
        ""
    };
    let variant = match heads {
        1 => format!(
            "segment-mean landmarks (L = {l}), three softmax kernels, {iters} of {asked} pseudo-inverse iterations{pinv}"
        ),
        _ => format!(
            "segment-mean landmarks (L = {l}), three softmax kernels, pseudo-inverse iterations stopped per head (at most {asked}){pinv}, each pass one dispatch over {heads} heads"
        ),
    };
    let mut gpu = GpuOutput::new(
        KernelKind::LowRank,
        variant,
        out.read(ctx).await?,
        timed,
        memory,
    );
    gpu.artifacts
        .put(Artifact::Weights(read_map(ctx, &pooled, n).await?));
    gpu.artifacts.put(Artifact::Factor(FactorMap::pool(
        &kernel_f0.read(ctx).await?,
        "softmax(QK̃ᵀ/√d): n × L",
        "landmark",
    )));
    if (config.param(&LANDMARKS) as usize) > n {
        gpu.notes.push(format!("landmarks capped at n = {n}"));
    }
    gpu.notes.extend(stopped_early(iters, asked));
    gpu.notes.extend(heads_note(&per_head, asked));
    // The passes as they ran: the pseudo-inverse fused or not (the
    // adapter's workgroup memory decides), and over several heads the
    // batched tilings, the largest count of iterations, the per-head commits.
    let (f, b) = executed_counts(&executed_work(
        (n as u64, d as u64, dv as u64),
        l as u64,
        &iterations,
        pinv_fuses(&ctx.limits, l as u32),
    ));
    gpu.executed = Some(if heads > 1 {
        (work::batched(f, heads), work::batched(b, heads))
    } else {
        (f, b)
    });
    Ok(gpu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::testing::twin_rel_err;
    use crate::inputs::InputSource;

    fn error(x: &Inputs, l: usize, iters: u32) -> f64 {
        twin_rel_err(&NystromTwin::new(x, l, iters), x)
    }

    #[test]
    fn n_landmarks_and_enough_iterations_give_exact_attention() {
        let x = Inputs::generate(InputSource::Gaussian, 24, 8, 3, 0.5);
        let e = error(&x, 24, 30);
        assert!(e < 1e-3, "rel_err {e}");
    }

    #[test]
    fn pinv_inverts_a_well_conditioned_matrix() {
        let a = ndarray::array![[0.6f32, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]];
        let z = pinv(&a, 12).z;
        let eye = a.dot(&z);
        for ((i, j), &v) in eye.indexed_iter() {
            assert!(
                (v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-4,
                "({i}, {j}) = {v}"
            );
        }
    }

    #[test]
    fn error_falls_with_landmarks_on_low_rank_inputs() {
        let mean = |l: usize| -> f64 {
            (0..4)
                .map(|s| {
                    error(
                        &Inputs::generate(InputSource::LowRank, 128, 16, 50 + s, 1.0),
                        l,
                        6,
                    )
                })
                .sum::<f64>()
                / 4.0
        };
        let errs: Vec<f64> = [4, 16, 64].iter().map(|&l| mean(l)).collect();
        assert!(errs[0] > errs[1] && errs[1] > errs[2], "errors {errs:?}");
    }

    #[test]
    fn error_need_not_fall_with_landmarks_on_gaussian_inputs() {
        // Unstructured inputs with sharp attention: segment means of unrelated
        // tokens are poor landmarks, and more of them can make things worse
        // until L approaches n.
        let x = Inputs::generate(InputSource::Gaussian, 128, 32, 2, 2.0);
        let (few, more, all) = (error(&x, 4, 6), error(&x, 32, 6), error(&x, 128, 6));
        assert!(
            more > few,
            "expected a rise: L = 4 gives {few}, L = 32 gives {more}"
        );
        assert!(all < few / 5.0, "L = n gives {all}");
    }

    #[test]
    fn the_iteration_stops_before_it_diverges_on_a_rank_deficient_kernel() {
        // The issue's case: Ã is rank-deficient (99 landmarks of rank-4
        // inputs at a tiny scale), and 40 plain iterations overflow.
        let x = Inputs::generate(InputSource::LowRank, 100, 16, 1, 0.05);
        let a = landmark_kernel(&x, 99);
        let mut z = pinv_start(&a);
        let mut plain = Vec::new();
        for _ in 0..40 {
            z = pinv_step(&a, &z);
            plain.push(pinv_residual(&a, &z));
        }
        let worst = plain.iter().copied().fold(0.0f64, |m, r| {
            if r.is_finite() {
                m.max(r)
            } else {
                f64::INFINITY
            }
        });
        assert!(
            worst > 1.0 || !z.iter().all(|v| v.is_finite()),
            "40 plain iterations stayed sane: {plain:?}"
        );
        let p = pinv(&a, 40);
        assert!(
            p.iterations < 40 && p.z.iter().all(|v| v.is_finite()),
            "{} iterations",
            p.iterations
        );
        assert!(p.residual < 1e-2, "residual {}", p.residual);
        let twin = NystromTwin::new(&x, 99, 40);
        assert!(error(&x, 99, 40).is_finite());
        assert!(twin.notes()[0].contains(&format!("stopped after {} of 40", p.iterations)));
        // A well-conditioned Ã uses every iteration asked for.
        let x = Inputs::generate(InputSource::Gaussian, 64, 8, 2, 0.5);
        assert_eq!(pinv(&landmark_kernel(&x, 8), 6).iterations, 6);
    }

    #[test]
    fn segment_means_partition_every_row() {
        let x = Array2::from_shape_fn((10, 2), |(i, j)| (i * 2 + j) as f32);
        let m = segment_means(x.view(), 3);
        assert_eq!(m.row(0).to_vec(), vec![2.0, 3.0]); // rows 0..3
        assert_eq!(m.row(2).to_vec(), vec![15.0, 16.0]); // rows 6..10
    }
}

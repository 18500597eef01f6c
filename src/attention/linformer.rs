//! Linformer (Wang et al. 2020, "Linformer: Self-Attention with Linear
//! Complexity"; survey §"Low-Rank Factorization", Eq. 22): project the n keys
//! and values to k rows with E, F ∈ ℝ^{k×n},
//!
//! O = softmax(Q(EK)ᵀ/√d)·(FV),  O(nk) time and memory.
//!
//! The paper learns E and F. Untrained, two choices (`--projection`):
//!
//! * `mean-pool` (the default): row t of E and F averages the contiguous
//!   segment t of the sequence (positions ⌊t·n/k⌋ … ⌊(t+1)·n/k⌋ − 1), so EK
//!   and FV are segment means of K and V. On smooth inputs (`local`,
//!   `low-rank`) neighbouring keys are alike and this approximates attention
//!   better as k grows; with k = n it is exact. k is capped at n.
//! * `gaussian`: E, F drawn i.i.d. N(0, 1/n) from the seed — the random
//!   projection of the paper's Johnson–Lindenstrauss argument, scaled so
//!   that FV stays on V's scale (each entry of FV is a sum of n terms of
//!   variance 1/n). Untrained, it mixes unrelated positions: its error does
//!   not fall below the zero-output baseline as k grows.
//!
//! `--share-ef` makes F = E, the paper's shared projection. Projecting along
//! the sequence mixes past and future positions, so Linformer cannot be
//! causal. Its implied attention matrix is softmax(Q(EK)ᵀ/√d)·F: an n×k map
//! back-projected to n×n, which need not be a distribution (entries can be
//! negative with Gaussian projections).
//!
//! On the GPU, mean-pool EK and FV are segment means (O(nd), not a dense
//! product with E); Gaussian ones are dense products. Heads (B·H of them):
//! E and F depend on n, k and the seed, not on the head, so every head
//! shares them (batch stride 0), and every pass is one dispatch over all
//! heads. softmax(Q(EK)ᵀ/√d)·(FV) is exact attention of the n queries over
//! k projected keys and values, so where the flash kernel covers d and dᵥ
//! (multiples of 4, ≤ 128) it runs as one flash pass with n_keys = k
//! (`gpu/flash_attention.rs`, FlashAttention-2 tiling: no n × k scores in
//! memory), and the run reports that pass's executed counts; otherwise as
//! three passes (Q(EK)ᵀ by sgemm, the row softmax, P·FV by sgemm), the
//! count [`Linformer::cost`] gives. The view's n × k map is then computed
//! for head 0 alone, untimed.

use std::ops::Range;

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2};

use super::{
    AttentionMethod, Budget, Complexity, Config, Conformance, Cost, LocalFuture, MethodError,
    MethodInfo, ParamSpec, RowKernel, TwinCost, WeightSink, qkvo_bytes,
};

use crate::data::count::Counted;

use crate::data::artifacts::{Artifact, Artifacts};
use crate::data::codes::KernelKind;
use crate::data::maps::{AttentionMap, FactorMap};
use crate::data::shape::{RowPattern, Shape};
use crate::gpu::buffers::row_major;
use crate::gpu::flash_attention::{self, FlashShape};
use crate::gpu::linalg::{Builder, Mat, check_sizes, read_map};
use crate::gpu::tiled_attention::Stacked;
use crate::gpu::work::{self, LINALG_BYTES_RULE, LINALG_FLOPS_RULE, Work};
use crate::gpu::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::inputs::{GaussianStream, Heads, Inputs, derive_seed};

const PROJ_DIM: ParamSpec = ParamSpec::int(
    "proj-dim",
    "Projection k",
    "keys and values are projected to k rows",
    1,
    4096,
    32,
);
const SHARE_EF: ParamSpec = ParamSpec::flag(
    "share-ef",
    "Share E = F",
    "one projection for keys and values",
);
const PROJECTION: ParamSpec = ParamSpec::choice(
    "projection",
    "Projection E, F",
    "mean-pool: segment means; gaussian: i.i.d. N(0, 1/n)",
    &["mean-pool", "gaussian"],
);

static INFO: MethodInfo = MethodInfo {
    key: "linformer",
    label: "Linformer",
    family: "Low-rank",
    paper: "Wang, Li, Khabsa, Fang & Ma 2020, Linformer: Self-Attention with Linear Complexity",
    complexity: Complexity {
        time: "O(nk)",
        space: "O(nk)",
        source: "survey, Summary Table",
    },
    best_for: "Fixed-length tasks",
    mathml: r#"<math display="block"><mi>O</mi><mo>=</mo><mi>softmax</mi><mrow><mo>(</mo><mfrac><mrow><mi>Q</mi><msup><mrow><mo>(</mo><mi>E</mi><mi>K</mi><mo>)</mo></mrow><mi>⊤</mi></msup></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow><mrow><mo>(</mo><mi>F</mi><mi>V</mi><mo>)</mo></mrow><mo>,</mo><mrow><mi>E</mi><mo>,</mo><mi>F</mi></mrow><mo>∈</mo><msup><mi>ℝ</mi><mrow><mi>k</mi><mo>×</mo><mi>n</mi></mrow></msup></math>"#,
    equation: "O = softmax(Q(EK)ᵀ/√d)·(FV),  E, F ∈ ℝ^{k×n}",
    params: &[PROJ_DIM, SHARE_EF, PROJECTION],
    causal_unsupported: Some(
        "E and F mix all n positions into each projected row, so a query would see future keys",
    ),
    budget: Some(Budget {
        key: "proj-dim",
        slope: None,
        law: "mean-pool: falls with k on smooth inputs (local, low-rank), exact at k = n; \
              gaussian (untrained): does not fall below the zero-output baseline",
    }),
    explanation: "Keys and values are projected along the sequence to k rows by matrices E and F, so the \
             attention map is n × k instead of n × n: O(nk) time and memory. The paper learns E and F; \
             untrained, mean-pool projections (segment means of K and V) approximate attention on smooth \
             inputs — try inputs=local or low-rank and sweep k, exact at k = n — while Gaussian \
             projections (N(0, 1/n), so FV stays on V's scale) mix unrelated positions and never beat \
             outputting zeros, however large k grows. The factor view shows the n × k map, the weights \
             view its back-projection (not a distribution). Projecting along the sequence mixes past \
             and future, so Linformer cannot be causal.",
    conformance: Conformance::FACTORED.with_cases(&[
        &[("proj-dim", 13)],
        &[("proj-dim", 8), ("share-ef", 1)],
        &[("proj-dim", 13), ("projection", 1)],
    ]),
};

/// Registry entry (`--method linformer`).
pub struct Linformer;

/// How E and F are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// Segment means of contiguous positions.
    MeanPool,
    /// I.i.d. N(0, 1/n) entries from the seed.
    Gaussian,
}

/// E and F (k × n) as `projection` makes them; F = E when shared. For
/// mean-pool, k is capped at n (callers pass [`effective_k`]).
pub fn projections(
    n: usize,
    k: usize,
    seed: u64,
    share: bool,
    projection: Projection,
) -> (Array2<f32>, Array2<f32>) {
    let draw = |index: u64| match projection {
        Projection::Gaussian => {
            let mut g = GaussianStream::new(derive_seed(seed, "linformer", index));
            let sd = 1.0 / (n.max(1) as f64).sqrt();
            Array2::from_shape_simple_fn((k, n), || (g.sample() * sd) as f32)
        }
        Projection::MeanPool => {
            let mut e = Array2::zeros((k, n));
            for t in 0..k {
                let (first, end) = (t * n / k, (t + 1) * n / k);
                let width = (end - first).max(1) as f32;
                for j in first..end {
                    e[[t, j]] = 1.0 / width;
                }
            }
            e
        }
    };
    let e = draw(0);
    let f = if share { e.clone() } else { draw(1) };
    (e, f)
}

/// The projected length actually used: k, capped at n for mean-pool (k = n
/// is already exact).
pub fn effective_k(k: usize, n: usize, projection: Projection) -> usize {
    match projection {
        Projection::MeanPool => k.min(n.max(1)),
        Projection::Gaussian => k,
    }
}

struct Knobs {
    k: usize,
    asked: usize,
    share: bool,
    projection: Projection,
}

fn knobs(config: &Config<'_>, n: usize) -> Knobs {
    let projection = match PROJECTION.choice_name(config.param(&PROJECTION)) {
        Some("gaussian") => Projection::Gaussian,
        _ => Projection::MeanPool,
    };
    let asked = config.param(&PROJ_DIM) as usize;
    Knobs {
        k: effective_k(asked, n, projection),
        asked,
        share: config.param(&SHARE_EF) != 0,
        projection,
    }
}

impl Knobs {
    fn note(&self) -> Option<String> {
        (self.k < self.asked).then(|| {
            format!(
                "proj-dim {} capped at n = {} for mean-pool (k = n is exact)",
                self.asked, self.k
            )
        })
    }
}

/// The f32 CPU twin.
pub struct LinformerTwin<'a> {
    q: ArrayView2<'a, f32>,
    ek: Array2<f32>,
    fv: Array2<f32>,
    f: Array2<f32>,
    scale: f32,
    dv: usize,
    share: bool,
    note: Option<String>,
}

impl<'a> LinformerTwin<'a> {
    /// Projects K and V.
    pub fn new(inputs: &'a Inputs, config: &Config<'_>) -> LinformerTwin<'a> {
        let knobs = knobs(config, inputs.n());
        let (e, f) = projections(
            inputs.n(),
            knobs.k,
            config.seed,
            knobs.share,
            knobs.projection,
        );
        LinformerTwin {
            q: inputs.q.view(),
            ek: e.dot(&inputs.k),
            fv: f.dot(&inputs.v),
            f,
            scale: 1.0 / (inputs.d() as f32).sqrt(),
            dv: inputs.dv(),
            share: knobs.share,
            note: knobs.note(),
        }
    }

    /// Every row's weights over the k projected keys: n × k.
    fn projected_matrix(&self) -> Array2<f32> {
        let mut p = Array2::zeros((self.q.nrows(), self.ek.nrows()));
        for (i, mut row) in p.rows_mut().into_iter().enumerate() {
            row.assign(&self.projected_weights(i));
        }
        p
    }

    /// Row i of softmax(Q(EK)ᵀ/√d) (length k).
    fn projected_weights(&self, i: usize) -> Array1<f32> {
        let mut p = self.ek.dot(&self.q.row(i)) * self.scale;
        let max = p.fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        p.mapv_inplace(|x| (x - max).exp());
        let sum = p.sum();
        p / sum
    }
}

impl RowKernel for LinformerTwin<'_> {
    fn compute_rows(
        &self,
        rows: Range<usize>,
        mut out: ArrayViewMut2<'_, f32>,
        mut weights: Option<WeightSink<'_>>,
    ) {
        for (slot, i) in rows.enumerate() {
            let p = self.projected_weights(i);
            out.row_mut(slot).assign(&self.fv.t().dot(&p));
            if let Some(callback) = weights.as_deref_mut() {
                callback(i, self.f.t().dot(&p).as_slice().unwrap_or(&[]));
            }
        }
    }

    fn row_pattern(&self, _i: usize) -> RowPattern {
        RowPattern::Dense {
            upto: self.f.ncols(),
        }
    }

    /// softmax(Q(EK)ᵀ/√d)·F pooled from its factors: O(n·k).
    fn pooled_map(&self) -> Option<AttentionMap> {
        let n = self.q.nrows();
        let p = self.projected_matrix();
        let ft = self.f.t().to_owned();
        Some(crate::data::maps::pool_factored(
            p.view(),
            ft.view(),
            &vec![1.0; n],
            false,
        ))
    }

    /// EK and FV (dense products with E and F: 2kn(d + dᵥ)), then per row the
    /// k scores (2kd), their softmax (5k) and P·FV (2kdᵥ + dᵥ).
    fn cost(&self, _pairs: u64) -> TwinCost {
        let (n, d) = (self.q.nrows() as u64, self.q.ncols() as u64);
        let (k, dv) = (self.ek.nrows() as u64, self.dv as u64);
        let projections = if self.share { 1 } else { 2 };
        TwinCost {
            flops: Counted::new(
                2 * k * n * (d + dv) + n * (2 * k * d + 5 * k + 2 * k * dv + dv),
                format!("2kn(d + dᵥ) + n·(2kd + 5k + 2kdᵥ + dᵥ), k = {k}"),
            ),
            bytes: Counted::new(
                4 * (k * n * (d + dv + 2) + n * (d + k * d + 5 * k + k * dv + dv)),
                "4·(kn(d + dᵥ + 2) + n·(d + kd + 5k + kdᵥ + dᵥ))",
            ),
            memory: Counted::new(
                4 * (projections * k * n + k * (d + dv) + k),
                format!(
                    "4·({}kn + k(d + dᵥ) + k): E{}, EK, FV, one row's scores",
                    projections,
                    if self.share { " = F" } else { ", F" }
                ),
            ),
        }
    }

    fn notes(&self) -> Vec<String> {
        self.note.iter().cloned().collect()
    }

    fn views(&self) -> Artifacts {
        let p = self.projected_matrix();
        Artifacts::new().with(Artifact::Factor(FactorMap::pool(
            &p,
            "softmax(Q(EK)ᵀ/√d): n × k",
            "projected key t",
        )))
    }
}

impl AttentionMethod for Linformer {
    fn info(&self) -> &'static MethodInfo {
        &INFO
    }

    /// Executed: the linalg programs as they run (EK and FV as
    /// [`work::segment_means`] for mean-pool projections, as dense
    /// [`work::matmul`]s for Gaussian ones; [`work::matmul`] for Q(EK)ᵀ and
    /// P·FV, [`work::softmax_rows`]). Algorithmic: EK and FV (2kn(d + dᵥ)),
    /// scores 2nkd, softmax 4nk, P·FV 2nkdᵥ — except that mean-pool
    /// projections need only the segment sums and a division per entry
    /// ((n + k)(d + dᵥ)), which is what the kernel does.
    fn cost(&self, shape: Shape, config: &Config<'_>, _pairs: u64) -> Cost {
        let (n, d, dv) = (shape.n as u64, shape.d as u64, shape.dv as u64);
        let knobs = knobs(config, shape.n);
        let k = knobs.k as u64;
        let attend = 2 * n * k * d + 4 * n * k + 2 * n * k * dv;
        let (project, project_formula) = match knobs.projection {
            Projection::Gaussian => (2 * k * n * (d + dv), "2kn(d + dᵥ)"),
            Projection::MeanPool => ((n + k) * (d + dv), "(n + k)(d + dᵥ) (segment means)"),
        };
        let parameters = match (knobs.projection, knobs.share) {
            (Projection::MeanPool, _) => (0, ""),
            (Projection::Gaussian, true) => (4 * k * n, "4kn (E = F)"),
            (Projection::Gaussian, false) => (8 * k * n, "8kn (E, F)"),
        };
        let work = executed_work((n, d, dv), k, knobs.projection, 1);
        Cost::new(
            work.counted(LINALG_FLOPS_RULE, LINALG_BYTES_RULE),
            (
                Counted::new(
                    project + attend,
                    format!("{project_formula} + 2nkd + 4nk + 2nkdᵥ, k = {k}"),
                ),
                qkvo_bytes(shape, parameters.0, parameters.1),
            ),
        )
    }

    fn randomized(&self, config: &Config<'_>) -> bool {
        knobs(config, 1).projection == Projection::Gaussian
    }

    fn cpu_twin<'a>(
        &self,
        inputs: &'a Inputs,
        config: &Config<'_>,
    ) -> Result<Box<dyn RowKernel + 'a>, MethodError> {
        Ok(Box::new(LinformerTwin::new(inputs, config)))
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
            run_stacked(ctx, stacked, config, options).await
        })
    }

    /// Every head through the same passes: E and F (they depend on n, k
    /// and the seed, not on the head) are shared by all heads (stride 0 in
    /// the batched sgemm), the projections, scores and P·FV are each one
    /// batched product over the B·H heads and the softmax one dispatch over
    /// their B·H·n rows.
    fn run_gpu_heads<'a>(
        &'a self,
        ctx: &'a GpuContext,
        heads: &'a Heads,
        config: &'a Config<'a>,
        options: &'a GpuRunOptions,
    ) -> Option<LocalFuture<'a, Result<GpuOutput, GpuError>>> {
        Some(Box::pin(async move {
            let stacked = Stacked::of_heads(heads, |x| std::borrow::Cow::Borrowed(&x.k));
            run_stacked(ctx, stacked, config, options).await
        }))
    }
}

/// The passes of a run over `heads` heads (one dispatch each; the products
/// batched, [`work::matmul_batched`]). One head is the run
/// [`Linformer::cost`] counts.
fn executed_work((n, d, dv): (u64, u64, u64), k: u64, projection: Projection, heads: u64) -> Work {
    let mut work = projection_work((n, d, dv), k, projection, heads);
    let times = |(f, b): (u64, u64)| (heads * f, heads * b);
    work.add("Q(EK)ᵀ", work::matmul_batched(n, k, d, heads))
        .add("softmax", times(work::softmax_rows(n, k)))
        .add("P·FV", work::matmul_batched(n, dv, k, heads));
    work
}

/// EK and FV over `heads` heads.
fn projection_work(
    (n, d, dv): (u64, u64, u64),
    k: u64,
    projection: Projection,
    heads: u64,
) -> Work {
    let times = |(f, b): (u64, u64)| (heads * f, heads * b);
    let mut work = Work::default();
    match projection {
        Projection::MeanPool => work
            .add("EK", times(work::segment_means(n, d, k)))
            .add("FV", times(work::segment_means(n, dv, k))),
        Projection::Gaussian => work
            .add("EK", work::matmul_batched(k, d, n, heads))
            .add("FV", work::matmul_batched(k, dv, n, heads)),
    };
    work
}

/// The GPU run over one head or B·H stacked heads.
async fn run_stacked(
    ctx: &GpuContext,
    stacked: Stacked<'_>,
    config: &Config<'_>,
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    let (n, d, dv) = stacked.shape;
    let heads = stacked.heads;
    let knobs = knobs(config, n);
    let (k, share) = (knobs.k, knobs.share);
    // Every buffer checked against the limits before anything is allocated.
    let of = |what: &str, rows: usize, cols: usize| {
        (
            format!("Linformer {what} for {heads} heads ({heads} × {rows} × {cols} f32)"),
            (heads * rows * cols) as u64,
        )
    };
    let sizes = [
        of("Q, K", n, d),
        of("V, O", n, dv),
        of("scores softmax(Q(EK)ᵀ/√d)", n, k),
        of("EK", k, d),
        of("FV", k, dv),
        (
            format!("Linformer E, F and the view's Fᵀ ({k} × {n} f32)"),
            (k * n) as u64,
        ),
    ];
    check_sizes(ctx, &sizes)?;
    let (e, f) = projections(n, k, config.seed, share, knobs.projection);
    let qkv = stacked.upload(ctx).await?;
    let (q, keys, v) = (
        Mat::stacked(&qkv.q, heads, n, d),
        Mat::stacked(&qkv.k, heads, n, d),
        Mat::stacked(&qkv.v, heads, n, dv),
    );
    let mut b = Builder::new(ctx, "Linformer attention");
    let (ek, fv) = match knobs.projection {
        // Mean-pool E and F average contiguous segments: EK and FV are the
        // segment means of K and V, O(nd) instead of a dense 2knd product.
        Projection::MeanPool => (
            b.segment_means("linformer.ek", &keys, k as u32).await?,
            b.segment_means("linformer.fv", &v, k as u32).await?,
        ),
        Projection::Gaussian => {
            let e_mat = b.upload("linformer.e", &row_major(&e), k, n)?;
            let f_mat = if share {
                e_mat.clone()
            } else {
                b.upload("linformer.f", &row_major(&f), k, n)?
            };
            (
                b.matmul("linformer.ek", &e_mat, false, &keys, false, 1.0)
                    .await?,
                b.matmul("linformer.fv", &f_mat, false, &v, false, 1.0)
                    .await?,
            )
        }
    };
    // softmax(Q(EK)ᵀ/√d)·FV is exact attention of the n queries over k
    // projected keys and values: the flash kernel's single pass (no n × k
    // scores in memory) where it covers the widths unpadded, else three
    // passes (scores, row softmax, P·FV).
    let scale = 1.0 / (d as f32).sqrt();
    let attend = FlashShape {
        heads,
        n,
        n_keys: k,
        d,
        dv,
        causal: false,
        window: None,
    };
    let flash =
        if d.is_multiple_of(4) && dv.is_multiple_of(4) && flash_attention::covers(ctx, d, dv) {
            let (config, chosen) = flash_attention::choose(ctx, attend, options).await?;
            let out = b.zeros_stacked("linformer.out", heads, n, dv)?;
            let stats = b.zeros("linformer.stats", heads * n, 2)?;
            let pass = flash_attention::pass_over(
                ctx,
                attend,
                config,
                (&qkv.q, &ek.buf, &fv.buf),
                (&out.buf, &stats.buf),
            )
            .await?;
            b.program.time(pass);
            Some((out, config, chosen))
        } else {
            None
        };
    let (out, scores) = match &flash {
        Some((out, ..)) => (out.clone(), None),
        None => {
            let scores = b
                .matmul("linformer.scores", &q, false, &ek, true, 1.0)
                .await?;
            b.softmax_rows("linformer.softmax", &scores, scale, false)
                .await?;
            let out = b
                .matmul("linformer.out", &scores, false, &fv, false, 1.0)
                .await?;
            (out, Some(scores))
        }
    };
    let memory = stacked.bytes() + b.allocated;
    // Views (head 0's): the implied n×n matrix softmax(·)·F pooled, and the
    // n×k map (computed here, untimed, when the flash kernel kept none).
    b.views();
    let scores0 = match scores {
        Some(scores) => scores.first(),
        None => {
            let scores = b
                .matmul(
                    "linformer.scores",
                    &q.first(),
                    false,
                    &ek.first(),
                    true,
                    1.0,
                )
                .await?;
            b.softmax_rows("linformer.softmax", &scores, scale, false)
                .await?;
            scores
        }
    };
    let ft = b.upload("linformer.ft", &row_major(&f.t().to_owned()), n, k)?;
    let pooled = b.implied_map("linformer.pool", &scores0, &ft).await?;
    let (_, timed) = options.run(ctx, b.program).await?;
    let variant = format!(
        "{}, {}{}",
        match knobs.projection {
            Projection::MeanPool =>
                format!("mean-pool projections EK, FV as segment means (k = {k})"),
            Projection::Gaussian =>
                format!("Gaussian projections EK, FV (k = {k}, dense products)"),
        },
        match &flash {
            Some((_, config, chosen)) => format!(
                "then attention over the k projected keys in one flash pass ({})",
                flash_attention::variant(*config, chosen)
            ),
            None => "n × k softmax, then P·FV".to_string(),
        },
        match heads {
            1 => String::new(),
            _ => format!(", each pass one dispatch over {heads} heads (E, F shared)"),
        }
    );
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
        &scores0.read(ctx).await?,
        "softmax(Q(EK)ᵀ/√d): n × k",
        "projected key t",
    )));
    gpu.notes.extend(knobs.note());
    // The passes as they ran: the projections and the flash pass, or (with
    // several heads) the batched tilings; one head without flash keeps
    // [`Linformer::cost`]'s count.
    let shape = (n as u64, d as u64, dv as u64);
    let executed = match &flash {
        Some((_, config, _)) => {
            let mut work = projection_work(shape, k as u64, knobs.projection, heads as u64);
            let (ff, fb) = flash_attention::executed(attend, *config);
            work.add("flash attention over k keys", (ff.value, fb.value));
            let (f, b) = work.counted(LINALG_FLOPS_RULE, LINALG_BYTES_RULE);
            let with_flash = |c: Counted, rule: &str| {
                Counted::new(c.value, format!("{}; the flash pass: {rule}", c.formula))
            };
            Some((with_flash(f, &ff.formula), with_flash(b, &fb.formula)))
        }
        None if heads > 1 => Some(
            executed_work(shape, k as u64, knobs.projection, heads as u64)
                .counted(LINALG_FLOPS_RULE, LINALG_BYTES_RULE),
        ),
        None => None,
    };
    gpu.executed = executed.map(|(f, b)| (work::batched(f, heads), work::batched(b, heads)));
    Ok(gpu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::ParamValues;
    use crate::attention::testing::twin_rel_err;
    use crate::inputs::InputSource;

    fn mean_error(k: u64, kind: InputSource, projection: &str) -> f64 {
        let mut total = 0.0;
        for seed in 0..4u64 {
            let x = Inputs::generate(kind, 128, 16, 20 + seed, 1.0);
            let params: ParamValues = [
                ("proj-dim".to_string(), k),
                (
                    "projection".to_string(),
                    PROJECTION.choice_index(projection).unwrap(),
                ),
            ]
            .into_iter()
            .collect();
            let config = Config {
                causal: false,
                seed,
                params: &params,
            };
            let twin = Linformer.cpu_twin(&x, &config).unwrap();
            total += twin_rel_err(&*twin, &x);
        }
        total / 4.0
    }

    #[test]
    fn mean_pool_error_falls_with_k_on_smooth_inputs_and_is_exact_at_n() {
        for kind in [InputSource::Local, InputSource::LowRank] {
            let errs: Vec<f64> = [4, 16, 64]
                .iter()
                .map(|&k| mean_error(k, kind, "mean-pool"))
                .collect();
            assert!(
                errs[0] > errs[1] && errs[1] > errs[2],
                "{kind:?}: errors {errs:?}"
            );
            let exact = mean_error(128, kind, "mean-pool");
            assert!(exact < 1e-5, "{kind:?}: k = n gives {exact}");
        }
    }

    #[test]
    fn untrained_gaussian_projection_never_beats_the_zero_output() {
        // Its output is a mix of random combinations of all values: on every
        // input kind and at every k it stays above rel_err 1, the error of
        // outputting zeros, however large k grows.
        for kind in [
            InputSource::Gaussian,
            InputSource::LowRank,
            InputSource::Local,
        ] {
            for k in [4, 16, 64, 256] {
                let e = mean_error(k, kind, "gaussian");
                assert!(
                    e > 1.0,
                    "{kind:?} k = {k}: rel_err {e} below the zero baseline"
                );
            }
        }
    }

    #[test]
    fn gaussian_projection_keeps_fv_on_the_scale_of_v() {
        let x = Inputs::seeded(512, 8, 3);
        for k in [4, 64] {
            let (_, f) = projections(512, k, 1, false, Projection::Gaussian);
            let fv = f.dot(&x.v);
            let var = fv.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / fv.len() as f64;
            assert!((var - 1.0).abs() < 0.35, "k = {k}: Var(FV) = {var}");
        }
    }

    #[test]
    fn shared_projection_uses_one_matrix_and_mean_pool_averages_segments() {
        let (e, f) = projections(30, 5, 1, true, Projection::Gaussian);
        assert_eq!(e, f);
        let (e, f) = projections(30, 5, 1, false, Projection::Gaussian);
        assert_ne!(e, f);
        let var = e.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / 150.0;
        assert!(
            (var - 1.0 / 30.0).abs() < 0.015,
            "N(0, 1/n) entries, variance {var}"
        );
        let (e, _) = projections(10, 3, 1, false, Projection::MeanPool);
        // Segments 0..3, 3..6, 6..10.
        assert_eq!(
            e.row(0).to_vec()[..4],
            [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 0.0]
        );
        assert_eq!(e.row(2).to_vec()[6..], [0.25; 4]);
        assert!(
            e.sum_axis(ndarray::Axis(1))
                .iter()
                .all(|s| (s - 1.0).abs() < 1e-6)
        );
        assert_eq!(effective_k(300, 100, Projection::MeanPool), 100);
        assert_eq!(effective_k(300, 100, Projection::Gaussian), 300);
    }
}

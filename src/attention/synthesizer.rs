//! Synthesizer (Tay et al. 2021, "Synthesizer: Rethinking Self-Attention for
//! Transformer Models"; survey §"Low-Rank Factorization"): attention weights
//! synthesised without query–key dot products.
//!
//! * Dense: Bᵢ = F(Xᵢ) = ReLU(XᵢW₁ + b₁)W₂ + b₂ ∈ ℝⁿ from the query-side
//!   input X = Q alone, O = softmax(B)·V;
//! * Random: B = R₁R₂ᵀ, a factorised random matrix (R₁, R₂ ∈ ℝ^{n×k}),
//!   O = softmax(B)·V, independent of the input.
//!
//! All weights here are seeded and untrained (W₁ ~ N(0, 1/d), W₂ ~ N(0, 1/h),
//! b ~ N(0, 0.01), R ~ N(0, 1/√k)): the error against exact attention shows
//! what training would have to recover. Both are dot products in disguise —
//! Bᵢⱼ = [ReLU(XᵢW₁ + b₁), 1]·[W₂ᵀⱼ, b₂ⱼ] and (R₁)ᵢ·(R₂)ⱼ — so the GPU runs
//! them through the fused tiled kernel with unit scale, causal or not, never
//! storing the n×n matrix.

use std::ops::Range;

use ndarray::{Array1, Array2, ArrayViewMut2, concatenate, s};

use super::full::{FullTwin, softmax_twin_cost};
use super::sparse::{ATTEND_BYTES_RULE, ATTEND_FLOPS_RULE, tiled_work};
use super::{
    AttentionMethod, Complexity, Config, Conformance, Cost, LocalFuture, MethodError, MethodInfo,
    ParamSpec, RowKernel, TwinCost, WeightSink, softmax_pairs_flops,
};
use crate::data::artifacts::{Artifact, Artifacts};
use crate::data::codes::KernelKind;
use crate::data::count::Counted;
use crate::data::maps::FactorMap;
use crate::data::shape::{RowPattern, Shape};
use crate::gpu::buffers::{Qkv, row_major};
use crate::gpu::linalg::{Builder, Mat};
use crate::gpu::program::Program;
use crate::gpu::tiled_attention::{Dense, Layout, Stacked, Stacking, Tiled, TiledShape};
use crate::gpu::work::{self, Work};
use crate::gpu::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::inputs::{GaussianStream, Heads, Inputs, derive_seed};

const HIDDEN: ParamSpec = ParamSpec::int(
    "hidden",
    "Hidden width h",
    "width of F's hidden layer",
    1,
    127,
    64,
);
const RANK: ParamSpec = ParamSpec::int("rank", "Rank k", "R₁, R₂ ∈ ℝ^{n×k}", 1, 128, 16);

static DENSE_INFO: MethodInfo = MethodInfo {
    key: "synthesizer-dense",
    label: "Synthesizer (dense)",
    family: "Low-rank",
    paper: "Tay et al. 2021, Synthesizer: Rethinking Self-Attention for Transformer Models",
    complexity: Complexity {
        time: "O(n²)",
        space: "O(n²)",
        source: "Tay et al. 2021",
    },
    best_for: "—",
    mathml: r#"<math display="block"><mi>O</mi><mo>=</mo><mi>softmax</mi><mrow><mo>(</mo><msub><mi>W</mi><mn>2</mn></msub><mi>ReLU</mi><mrow><mo>(</mo><msub><mi>W</mi><mn>1</mn></msub><mi>X</mi><mo>+</mo><msub><mi>b</mi><mn>1</mn></msub><mo>)</mo></mrow><mo>+</mo><msub><mi>b</mi><mn>2</mn></msub><mo>)</mo></mrow><mi>V</mi></math>"#,
    equation: "O = softmax(ReLU(XW₁ + b₁)W₂ + b₂)·V",
    params: &[HIDDEN],
    causal_unsupported: None,
    budget: None,
    explanation: "The attention logits of token i come from token i alone through a two-layer network, with no \
             query–key dot product. These weights are untrained: the error against exact attention shows \
             how much a trained Synthesizer would have to recover — the survey's point is that trained ones \
             often do nearly as well as dot-product attention.",
    conformance: Conformance::TILED.with_cases(&[&[("hidden", 24)]]),
};

static RANDOM_INFO: MethodInfo = MethodInfo {
    key: "synthesizer-random",
    label: "Synthesizer (random)",
    family: "Low-rank",
    paper: "Tay et al. 2021, Synthesizer: Rethinking Self-Attention for Transformer Models",
    complexity: Complexity {
        time: "O(n²)",
        space: "O(n²)",
        source: "Tay et al. 2021",
    },
    best_for: "—",
    mathml: r#"<math display="block"><mi>O</mi><mo>=</mo><mi>softmax</mi><mrow><mo>(</mo><msub><mi>R</mi><mn>1</mn></msub><msup><msub><mi>R</mi><mn>2</mn></msub><mi>⊤</mi></msup><mo>)</mo></mrow><mi>V</mi></math>"#,
    equation: "O = softmax(R₁R₂ᵀ)·V",
    params: &[RANK],
    causal_unsupported: None,
    budget: None,
    explanation: "The logits are a fixed random low-rank matrix R₁R₂ᵀ, independent of the input: attention \
             becomes a learned mixing pattern. Untrained here, so its error is what training would recover.",
    conformance: Conformance::TILED.with_cases(&[&[("rank", 9)]]),
};

/// Which Synthesizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synth {
    /// F(X) = ReLU(XW₁ + b₁)W₂ + b₂.
    Dense,
    /// R₁R₂ᵀ.
    Random,
}

/// A Synthesizer's registry entry.
pub struct Synthesizer {
    info: &'static MethodInfo,
    kind: Synth,
}

/// Registry entry (`--method synthesizer-dense`).
pub static DENSE: Synthesizer = Synthesizer {
    info: &DENSE_INFO,
    kind: Synth::Dense,
};
/// Registry entry (`--method synthesizer-random`).
pub static RANDOM: Synthesizer = Synthesizer {
    info: &RANDOM_INFO,
    kind: Synth::Random,
};

fn gaussian(seed: u64, index: u64, rows: usize, cols: usize, sd: f64) -> Array2<f32> {
    let mut g = GaussianStream::new(derive_seed(seed, "synthesizer", index));
    Array2::from_shape_simple_fn((rows, cols), || (g.sample() * sd) as f32)
}

/// The dense Synthesizer's weights: W₁' = [W₁ | 0] (d × (h+1)), b₁' =
/// [b₁ | 1] (so ReLU adds a column of ones), and the synthetic keys
/// K' = [W₂ᵀ | b₂] (n × (h+1)).
pub fn dense_weights(
    n: usize,
    d: usize,
    h: usize,
    seed: u64,
) -> (Array2<f32>, Array1<f32>, Array2<f32>) {
    let w1 = gaussian(seed, 0, d, h, 1.0 / (d as f64).sqrt());
    let b1 = gaussian(seed, 1, 1, h, 0.1).row(0).to_owned();
    let w2 = gaussian(seed, 2, h, n, 1.0 / (h as f64).sqrt());
    let b2 = gaussian(seed, 3, n, 1, 0.1);
    let w1p = concatenate![ndarray::Axis(1), w1, Array2::zeros((d, 1))];
    let b1p = concatenate![ndarray::Axis(0), b1, Array1::ones(1)];
    let keys = concatenate![ndarray::Axis(1), w2.t(), b2];
    (w1p, b1p, keys)
}

/// The random Synthesizer's factors R₁, R₂ (n × k), entries N(0, 1/√k) so
/// that the logits R₁R₂ᵀ have unit variance.
pub fn random_factors(n: usize, k: usize, seed: u64) -> (Array2<f32>, Array2<f32>) {
    let sd = (k as f64).powf(-0.25);
    (gaussian(seed, 4, n, k, sd), gaussian(seed, 5, n, k, sd))
}

/// Synthetic queries and keys (unit scale): Q' = ReLU(QW₁' + b₁'), K' as
/// above; or R₁, R₂.
pub fn synthetic(
    inputs: &Inputs,
    kind: Synth,
    knob: usize,
    seed: u64,
) -> (Array2<f32>, Array2<f32>) {
    match kind {
        Synth::Dense => {
            let (w1p, b1p, keys) = dense_weights(inputs.n(), inputs.d(), knob, seed);
            let mut q = inputs.q.dot(&w1p);
            for mut row in q.rows_mut() {
                row += &b1p;
                row.mapv_inplace(|x| x.max(0.0));
            }
            (q, keys)
        }
        Synth::Random => random_factors(inputs.n(), knob, seed),
    }
}

/// The CPU twin: softmax over the synthetic logits, one row at a time.
pub struct SynthTwin<'a> {
    q: Array2<f32>,
    k: Array2<f32>,
    inputs: &'a Inputs,
    causal: bool,
    kind: Synth,
}

impl RowKernel for SynthTwin<'_> {
    fn compute_rows(
        &self,
        rows: Range<usize>,
        out: ArrayViewMut2<'_, f32>,
        weights: Option<WeightSink<'_>>,
    ) {
        FullTwin::with_scale(
            self.q.view(),
            self.k.view(),
            self.inputs.v.view(),
            self.causal,
            1.0,
        )
        .compute_rows(rows, out, weights);
    }

    fn row_pattern(&self, i: usize) -> RowPattern {
        RowPattern::Dense {
            upto: if self.causal { i + 1 } else { self.k.nrows() },
        }
    }

    /// The synthetic queries (dense: X·W₁' and the bias + ReLU, 2nd(h+1) +
    /// 2n(h+1)), then the softmax twin at width d'.
    fn cost(&self, pairs: u64) -> TwinCost {
        let (n, width) = self.q.dim();
        let dv = self.inputs.dv();
        let mut cost = softmax_twin_cost(n, width, dv, pairs, "");
        let (nn, w, d) = (n as u64, width as u64, self.inputs.d() as u64);
        if self.kind == Synth::Dense {
            cost.flops.value += 2 * nn * d * w + 2 * nn * w;
            cost.flops.formula = format!("{} + 2nd(h+1) + 2n(h+1)", cost.flops.formula);
            cost.bytes.value += 4 * (nn * d + d * w + 2 * nn * w);
            cost.bytes.formula = format!("{} + 4·(nd + d(h+1) + 2n(h+1))", cost.bytes.formula);
        }
        cost.memory.value += 4 * 2 * nn * w;
        cost.memory.formula = format!(
            "{} + 4·2nd': the synthetic queries and keys",
            cost.memory.formula
        );
        cost
    }

    fn views(&self) -> Artifacts {
        Artifacts::new().with(Artifact::Factor(match self.kind {
            Synth::Dense => FactorMap::pool(
                &self.q.slice(s![.., ..self.q.ncols() - 1]).to_owned(),
                "ReLU(XW₁ + b₁): n × h",
                "hidden unit",
            ),
            Synth::Random => FactorMap::pool(&self.q, "R₁: n × k", "factor"),
        }))
    }
}

impl Synthesizer {
    fn knob(&self, config: &Config<'_>) -> usize {
        match self.kind {
            Synth::Dense => config.param(&HIDDEN) as usize,
            Synth::Random => config.param(&RANK) as usize,
        }
    }
}

impl AttentionMethod for Synthesizer {
    fn info(&self) -> &'static MethodInfo {
        self.info
    }

    /// Executed: the fused kernel over synthetic width d' = h + 1 (dense) or
    /// k (random), plus for the dense one the hidden layer 2ndh. Needed: the
    /// softmax over the pairs at width d' and the hidden layer; bytes: the
    /// inputs it reads (X = Q for dense, nothing of Q and K for random), its
    /// weights, V and O once.
    fn cost(&self, shape: Shape, config: &Config<'_>, pairs: u64) -> Cost {
        let knob = self.knob(config);
        let width = if self.kind == Synth::Dense {
            knob + 1
        } else {
            knob
        };
        let synthetic = Shape { d: width, ..shape };
        let hidden = if self.kind == Synth::Dense {
            2 * (shape.n * shape.d * knob) as u64
        } else {
            0
        };
        let mut work = Work::default();
        if self.kind == Synth::Dense {
            let (n, d, w) = (shape.n as u64, shape.d as u64, width as u64);
            work.add("hidden layer X·W₁'", work::matmul(n, w, d));
            work.add("bias + ReLU", work::bias_relu(n, w));
        }
        work.extend(tiled_work(Layout::Masked(&Dense), synthetic));
        let (mut flops, mut bytes) = work.counted(
            &format!(
                "{ATTEND_FLOPS_RULE}; matmul (sgemm, T × T tiles) 2·P_T(n)P_T(h+1)P₁₆(d) + n·P_T(h+1)"
            ),
            ATTEND_BYTES_RULE,
        );
        flops.formula = format!("{}, with d' = {width}", flops.formula);
        bytes.formula = format!("{}, with d' = {width}", bytes.formula);
        let mut needed = softmax_pairs_flops(synthetic, pairs, "");
        needed.value += hidden;
        needed.formula = format!(
            "{}{} with d' = {width}",
            needed.formula,
            if hidden > 0 { " + 2ndh" } else { "" }
        );
        let (n, d, dv, w) = (
            shape.n as u64,
            shape.d as u64,
            shape.dv as u64,
            width as u64,
        );
        let compulsory = match self.kind {
            Synth::Dense => Counted::new(
                4 * (n * d + d * w + n * w + 2 * n * dv),
                "4·(nd + d(h+1) + n(h+1) + 2ndᵥ): X, W₁, [W₂ᵀ | b₂], V read and O written once",
            ),
            Synth::Random => Counted::new(
                4 * (2 * n * w + 2 * n * dv),
                "4·(2nk + 2ndᵥ): R₁, R₂, V read and O written once",
            ),
        };
        Cost::new((flops, bytes), (needed, compulsory))
    }

    fn randomized(&self, _config: &Config<'_>) -> bool {
        true
    }

    fn cpu_twin<'a>(
        &self,
        inputs: &'a Inputs,
        config: &Config<'_>,
    ) -> Result<Box<dyn RowKernel + 'a>, MethodError> {
        let (q, k) = synthetic(inputs, self.kind, self.knob(config), config.seed);
        Ok(Box::new(SynthTwin {
            q,
            k,
            inputs,
            causal: config.causal,
            kind: self.kind,
        }))
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
            self.run_stacked(ctx, stacked, config, options).await
        })
    }

    /// Every head through the same passes: the synthetic keys (and, for the
    /// random Synthesizer, the queries) are shared by the heads — the tiled
    /// kernel reads them with a head stride of 0 — and the dense one's
    /// hidden layer is one product over the B·H·n stacked query rows.
    fn run_gpu_heads<'a>(
        &'a self,
        ctx: &'a GpuContext,
        heads: &'a Heads,
        config: &'a Config<'a>,
        options: &'a GpuRunOptions,
    ) -> Option<LocalFuture<'a, Result<GpuOutput, GpuError>>> {
        Some(Box::pin(async move {
            let stacked = Stacked::of_heads(heads, |x| std::borrow::Cow::Borrowed(&x.k));
            self.run_stacked(ctx, stacked, config, options).await
        }))
    }
}

impl Synthesizer {
    /// The GPU run over one head or B·H stacked heads.
    async fn run_stacked(
        &self,
        ctx: &GpuContext,
        stacked: Stacked<'_>,
        config: &Config<'_>,
        options: &GpuRunOptions,
    ) -> Result<GpuOutput, GpuError> {
        let (n, d, dv) = stacked.shape;
        let heads = stacked.heads;
        let knob = self.knob(config);
        let qkv = stacked.upload(ctx).await?;
        let mut b = Builder::new(ctx, "Synthesizer attention");
        let (q_syn, k_syn, width) = self
            .synthetic_on_gpu(&mut b, (heads, n, d), &qkv, knob, config.seed)
            .await?;
        // The fused tiled kernel over the synthetic queries and keys.
        let synthetic = Qkv {
            q: q_syn.buf.clone(),
            k: k_syn.buf.clone(),
            v: qkv.v.clone(),
            shape: (n, width, dv),
        };
        let shape = TiledShape {
            n,
            d: width,
            dv,
            causal: config.causal,
            scale: 1.0,
        };
        let stacking = Stacking {
            heads,
            q_stride: if self.kind == Synth::Dense {
                n * width
            } else {
                0
            },
            k_stride: 0,
            v_stride: n * dv,
            aux_per_head: false,
        };
        let layout = Layout::Masked(&Dense);
        let mut tiled = Tiled::prepare_stacked(ctx, layout, shape, stacking, &synthetic).await?;
        let memory = stacked.bytes() + b.allocated + tiled.program.memory_bytes;
        let mut program = b.program;
        program.extend(std::mem::replace(&mut tiled.program, Program::new("")));
        let (_, timed) = options.run(ctx, program).await?;
        let variant = format!(
            "synthetic queries and keys of width {width}, fused softmax at unit scale: {}",
            tiled.variant.name()
        );
        let mut gpu = GpuOutput::new(
            KernelKind::Tiled,
            variant,
            tiled.output(ctx).await?,
            timed,
            memory,
        );
        gpu.artifacts
            .put(Artifact::Weights(tiled.weights(ctx).await?));
        // The views are head 0's: its first n synthetic query rows.
        let synthetic_q = q_syn.read(ctx).await?.slice(s![..n, ..]).to_owned();
        gpu.artifacts.put(Artifact::Factor(match self.kind {
            Synth::Dense => FactorMap::pool(
                &synthetic_q.slice(s![.., ..knob]).to_owned(),
                "ReLU(XW₁ + b₁): n × h",
                "hidden unit",
            ),
            Synth::Random => FactorMap::pool(&synthetic_q, "R₁: n × k", "factor"),
        }));
        gpu.tile_pairs = Some(tiled.tile_pairs);
        if let Some((flops, bytes)) = tiled.executed.clone() {
            // The wide fallback ran: its own count (every head), plus
            // the hidden layer over the B·H·n stacked rows.
            let (n, d, w) = ((heads * n) as u64, d as u64, width as u64);
            let (mut f, mut b) = (flops, bytes);
            if self.kind == Synth::Dense {
                for (mf, mb) in [work::matmul(n, w, d), work::bias_relu(n, w)] {
                    f.value += mf;
                    b.value += mb;
                }
                f.formula = format!("hidden layer X·W₁' + bias + ReLU + {}", f.formula);
                b.formula = format!("hidden layer X·W₁' + bias + ReLU + {}", b.formula);
            }
            gpu.executed = Some((f, b));
        }
        Ok(gpu)
    }

    /// Records (dense) or uploads (random) the synthetic queries and keys:
    /// Q' = ReLU(XW₁' + b₁') over the B·H·n stacked query rows,
    /// K' = [W₂ᵀ | b₂] (one for every head), or R₁, R₂ (one for every
    /// head); and their width.
    async fn synthetic_on_gpu(
        &self,
        b: &mut Builder<'_>,
        (heads, n, d): (usize, usize, usize),
        qkv: &Qkv,
        knob: usize,
        seed: u64,
    ) -> Result<(Mat, Mat, usize), GpuError> {
        match self.kind {
            Synth::Dense => {
                let (w1p, b1p, keys) = dense_weights(n, d, knob, seed);
                let x = Mat::of(&qkv.q, heads * n, d);
                let w1 = b.upload("synthesizer.w1", &row_major(&w1p), d, knob + 1)?;
                let bias =
                    b.upload("synthesizer.b1", b1p.as_slice().unwrap_or(&[]), 1, knob + 1)?;
                let hidden = b
                    .matmul("synthesizer.hidden", &x, false, &w1, false, 1.0)
                    .await?;
                b.bias_relu("synthesizer.relu", &hidden, &bias, true)
                    .await?;
                let k = b.upload("synthesizer.keys", &row_major(&keys), n, knob + 1)?;
                Ok((hidden, k, knob + 1))
            }
            Synth::Random => {
                let (r1, r2) = random_factors(n, knob, seed);
                let q = b.upload("synthesizer.r1", &row_major(&r1), n, knob)?;
                let k = b.upload("synthesizer.r2", &row_major(&r2), n, knob)?;
                Ok((q, k, knob))
            }
        }
    }
}

//! The registry of attention methods (survey §"Efficient Attention Mechanisms").
//!
//! A method is one file in this folder: its [`MethodInfo`] (name, paper, knobs),
//! its CPU twin (a [`RowKernel`] in f32), its cost formulas, and how it runs on
//! the GPU. Adding a method means adding that file, its WGSL kernel and one arm
//! in [`MethodId::method`]; the settings parser, the CLI flags, the page's
//! controls and the measurement schema all read the registry.

pub mod bigbird;
pub mod compressive;
pub mod effective_context;
pub mod full;
pub mod kernelized;
pub mod linformer;
pub mod longformer;
pub mod memory;
pub mod nystrom;
pub mod pattern;
pub mod reformer;
pub mod sparse;
pub mod sparse_transformer;
pub mod synthesizer;
pub mod transformer_xl;

use std::ops::Range;

use ndarray::ArrayViewMut2;
use serde::{Deserialize, Serialize};

use crate::data::count::Counted;
use crate::data::shape::{RowPattern, Shape};

use crate::gpu::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::inputs::{Heads, InputSource, Inputs};

/// A boxed, not-necessarily-`Send` future (wgpu's web futures are `!Send`).
pub use crate::data::LocalFuture;

/// Declares the registry: one line per method — its id and its entry
/// (a static implementing [`AttentionMethod`]) — from which the enum, the
/// list the page and the CLI iterate, and the lookup are generated.
macro_rules! registry {
    ($($(#[$doc:meta])* $id:ident => $entry:expr,)*) => {
        /// Identifies a method: the value of `--method` and `?method=`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum MethodId {
            $($(#[$doc])* $id,)*
        }

        impl MethodId {
            /// Every method, in the order the page lists them.
            pub const ALL: &'static [MethodId] = &[$(MethodId::$id,)*];

            /// The implementation behind this id.
            pub fn method(self) -> &'static dyn AttentionMethod {
                match self {
                    $(MethodId::$id => &$entry,)*
                }
            }
        }
    };
}

registry! {
    /// Exact softmax attention (Vaswani et al. 2017), survey Eq. (3).
    Full => full::FullAttention,
    /// Longformer (Beltagy et al. 2020): sliding window + global tokens.
    Longformer => longformer::LONGFORMER,
    /// Sparse Transformer, strided pattern (Child et al. 2019).
    SparseStrided => sparse_transformer::STRIDED,
    /// Sparse Transformer, fixed pattern (Child et al. 2019).
    SparseFixed => sparse_transformer::FIXED,
    /// BigBird (Zaheer et al. 2020): global, window and random blocks.
    Bigbird => bigbird::BIGBIRD,
    /// Reformer (Kitaev et al. 2020): LSH buckets, sorted chunks.
    Reformer => reformer::Reformer,
    /// Linformer (Wang et al. 2020): keys and values projected to k rows.
    Linformer => linformer::Linformer,
    /// Dense Synthesizer (Tay et al. 2021).
    SynthesizerDense => synthesizer::DENSE,
    /// Random Synthesizer (Tay et al. 2021).
    SynthesizerRandom => synthesizer::RANDOM,
    /// Nyströmformer (Xiong et al. 2021).
    Nystrom => nystrom::Nystrom,
    /// Linear Transformer (Katharopoulos et al. 2020).
    Linear => kernelized::LINEAR,
    /// Performer FAVOR+ (Choromanski et al. 2021).
    Performer => kernelized::PERFORMER,
    /// cosFormer (Qin et al. 2022).
    Cosformer => kernelized::COSFORMER,
    /// Transformer-XL (Dai et al. 2019): segments with a FIFO memory.
    TransformerXl => transformer_xl::TRANSFORMER_XL,
    /// Compressive Transformer (Rae et al. 2020): memory plus compressed memory.
    Compressive => compressive::COMPRESSIVE,
}

impl MethodId {
    /// Static description: name, paper, knobs.
    pub fn info(self) -> &'static MethodInfo {
        self.method().info()
    }

    /// The key used in URLs, CLI flags and JSON (`"full"`).
    pub fn key(self) -> &'static str {
        self.info().key
    }

    /// Looks a method up by its key.
    pub fn from_key(key: &str) -> Option<MethodId> {
        Self::ALL.iter().copied().find(|m| m.key() == key)
    }

    /// All keys, for error messages ("full, longformer, ...").
    pub fn keys() -> Vec<&'static str> {
        Self::ALL.iter().map(|m| m.key()).collect()
    }
}

/// What a user reads about a method, and the knobs it takes.
#[derive(Debug)]
pub struct MethodInfo {
    /// URL / CLI key, e.g. `"full"`.
    pub key: &'static str,
    /// Human name, e.g. `"Full softmax"`.
    pub label: &'static str,
    /// Survey family, e.g. `"Exact"`, `"Sparse"`, `"Low-rank"`, `"Kernel"`.
    pub family: &'static str,
    /// The paper that defines it.
    pub paper: &'static str,
    /// The defining equation in plain text, shown on the page.
    pub equation: &'static str,
    /// Method-specific knobs (besides n, d, seed, causal).
    pub params: &'static [ParamSpec],
    /// `None` if the method supports `--causal`; otherwise why it cannot.
    pub causal_unsupported: Option<&'static str>,
    /// The knob the error-law view sweeps, if the method has a budget.
    pub budget: Option<Budget>,
    /// What the method does and what to try, shown on the page.
    pub explanation: &'static str,
    /// How the generated conformance suite tests it.
    pub conformance: Conformance,
    /// Time and space complexity, as the survey's Summary Table gives them
    /// (or, for a method it leaves out, its other tables or the paper).
    pub complexity: Complexity,
    /// What the survey's Summary Table says it is best for ("—": nothing).
    pub best_for: &'static str,
    /// The defining equations as MathML (`<math>` markup, rendered natively
    /// by the browser), as the survey writes them.
    pub mathml: &'static str,
}

/// A method's time and space complexity and where they are stated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Complexity {
    /// Time, e.g. `"O(n log n)"`.
    pub time: &'static str,
    /// Space.
    pub space: &'static str,
    /// Where it is stated (`"survey, Summary Table"`, a paper).
    pub source: &'static str,
}

/// How the conformance suite (`tests/conformance.rs`) tests a method: the
/// tolerance its GPU kernels are held to against the CPU twin, and knob
/// settings to test besides the defaults.
#[derive(Debug, Clone, Copy)]
pub struct Conformance {
    /// Absolute tolerance per element.
    pub atol: f32,
    /// Relative tolerance per element.
    pub rtol: f32,
    /// Extra knob settings, each run on every shape (unlisted knobs at
    /// their defaults).
    pub cases: &'static [&'static [(&'static str, u64)]],
    /// The seeded inputs the suite runs on (Nyström's iteration needs a
    /// well-conditioned Ã: low-rank inputs).
    pub inputs: InputSource,
}

impl Conformance {
    /// Softmax methods through the tiled kernel: 2·10⁻⁶ + 10⁻⁵·|x|.
    pub const TILED: Conformance = Conformance {
        atol: 2e-6,
        rtol: 1e-5,
        cases: &[],
        inputs: InputSource::Gaussian,
    };
    /// Factored methods (matrix products summed in other orders):
    /// 2·10⁻⁵ + 10⁻⁴·|x|.
    pub const FACTORED: Conformance = Conformance {
        atol: 2e-5,
        rtol: 1e-4,
        cases: &[],
        inputs: InputSource::Gaussian,
    };

    /// The same tolerance with these extra cases.
    pub const fn with_cases(self, cases: &'static [&'static [(&'static str, u64)]]) -> Conformance {
        Conformance { cases, ..self }
    }

    /// The same on these inputs.
    pub const fn on(self, inputs: InputSource) -> Conformance {
        Conformance { inputs, ..self }
    }
}

/// A method's approximation budget (features m, projection k, landmarks L)
/// and the error law theory gives for it.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// The knob swept.
    pub key: &'static str,
    /// The theoretical slope of log rel_err against log budget, if any.
    pub slope: Option<f64>,
    /// The law in words.
    pub law: &'static str,
}

/// One knob of a method (`--window 64`, `?window=64`): an integer, or a flag.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    /// URL / CLI key.
    pub key: &'static str,
    /// Label on the page.
    pub label: &'static str,
    /// One line of help, shown in `flt --help` and as a tooltip.
    pub help: &'static str,
    /// Smallest valid value.
    pub min: u64,
    /// Largest valid value.
    pub max: u64,
    /// Value used when the setting is absent.
    pub default: u64,
    /// An on/off knob (`--shared-qk`, `?shared-qk=true`): values 0 and 1.
    pub flag: bool,
    /// A choice among named values (`--projection mean-pool`): the value is
    /// the index into this list. Empty for numbers and flags.
    pub choices: &'static [&'static str],
}

impl ParamSpec {
    /// An integer knob.
    pub const fn int(
        key: &'static str,
        label: &'static str,
        help: &'static str,
        min: u64,
        max: u64,
        default: u64,
    ) -> ParamSpec {
        ParamSpec {
            key,
            label,
            help,
            min,
            max,
            default,
            flag: false,
            choices: &[],
        }
    }

    /// An on/off knob, off by default.
    pub const fn flag(key: &'static str, label: &'static str, help: &'static str) -> ParamSpec {
        ParamSpec {
            key,
            label,
            help,
            min: 0,
            max: 1,
            default: 0,
            flag: true,
            choices: &[],
        }
    }

    /// A choice among named values, the first by default.
    pub const fn choice(
        key: &'static str,
        label: &'static str,
        help: &'static str,
        choices: &'static [&'static str],
    ) -> ParamSpec {
        ParamSpec {
            key,
            label,
            help,
            min: 0,
            max: choices.len() as u64 - 1,
            default: 0,
            flag: false,
            choices,
        }
    }

    /// Whether this is a choice knob.
    pub fn is_choice(&self) -> bool {
        !self.choices.is_empty()
    }

    /// The name of a choice knob's value (`None` for numbers and flags, or
    /// an index out of range).
    pub fn choice_name(&self, value: u64) -> Option<&'static str> {
        self.choices.get(value as usize).copied()
    }

    /// The value a choice knob's name stands for.
    pub fn choice_index(&self, name: &str) -> Option<u64> {
        self.choices
            .iter()
            .position(|c| *c == name)
            .map(|i| i as u64)
    }
}

/// Counted cost of one forward pass, in two kinds (see DESIGN.md,
/// "Measurement conventions"):
///
/// * **algorithmic / compulsory** — what the method needs: FLOPs of the pairs
///   in its pattern or of its factors' products, and the bytes of its inputs,
///   parameters and output moved once (the lower bound);
/// * **executed** — what the timed GPU kernels really do: every pair of the
///   key tiles they visit (masked ones included), feature maps at their real
///   cost, every global-memory load and store (re-reads included).
///
/// FLOP convention everywhere: a multiply-add counts 2, and `exp`, a
/// division, a comparison or an addition count 1 each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// FLOPs the timed kernels execute.
    pub flops: u64,
    /// The formula behind `flops`.
    pub flops_formula: String,
    /// Bytes the timed kernels read from and write to global memory.
    pub bytes: u64,
    /// The formula behind `bytes`.
    pub bytes_formula: String,
    /// FLOPs the method itself needs (pairs in the pattern, its factors).
    pub flops_algorithmic: u64,
    /// The formula behind `flops_algorithmic`.
    pub flops_algorithmic_formula: String,
    /// Bytes of inputs, parameters and output, each moved once.
    pub bytes_compulsory: u64,
    /// The formula behind `bytes_compulsory`.
    pub bytes_compulsory_formula: String,
}

impl Cost {
    /// The executed (FLOPs, bytes).
    pub fn executed(&self) -> (Counted, Counted) {
        (
            Counted::new(self.flops, self.flops_formula.clone()),
            Counted::new(self.bytes, self.bytes_formula.clone()),
        )
    }

    /// The (algorithmic FLOPs, compulsory bytes).
    pub fn needed(&self) -> (Counted, Counted) {
        (
            Counted::new(
                self.flops_algorithmic,
                self.flops_algorithmic_formula.clone(),
            ),
            Counted::new(self.bytes_compulsory, self.bytes_compulsory_formula.clone()),
        )
    }

    /// A cost from its four counts.
    pub fn new(executed: (Counted, Counted), needed: (Counted, Counted)) -> Cost {
        let ((flops, bytes), (flops_a, bytes_c)) = (executed, needed);
        Cost {
            flops: flops.value,
            flops_formula: flops.formula,
            bytes: bytes.value,
            bytes_formula: bytes.formula,
            flops_algorithmic: flops_a.value,
            flops_algorithmic_formula: flops_a.formula,
            bytes_compulsory: bytes_c.value,
            bytes_compulsory_formula: bytes_c.formula,
        }
    }
}

/// What a CPU twin executes and allocates for one whole pass (its set-up and
/// every row), counted from its own data, by the same FLOP convention as
/// [`Cost`]; bytes count the elements its loops read and write (re-reads
/// included, no cache modelled).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TwinCost {
    /// FLOPs of one pass.
    pub flops: Counted,
    /// Bytes its loops move in one pass.
    pub bytes: Counted,
    /// Bytes the twin allocates (its own arrays; the inputs are not counted).
    pub memory: Counted,
}

/// Compulsory bytes of an attention problem: Q and K (n × d), V (n × dᵥ)
/// read once and O (n × dᵥ) written once, in f32, plus `extra` bytes of the
/// method's own parameters (`extra_formula` names them).
pub fn qkvo_bytes(shape: Shape, extra: u64, extra_formula: &str) -> Counted {
    let (n, d, dv) = (shape.n as u64, shape.d as u64, shape.dv as u64);
    Counted::new(
        4 * (2 * n * d + 2 * n * dv) + extra,
        if extra_formula.is_empty() {
            "4·(2nd + 2ndᵥ): Q, K, V read and O written once".to_string()
        } else {
            format!("4·(2nd + 2ndᵥ) + {extra_formula}: Q, K, V, parameters read and O written once")
        },
    )
}

/// Algorithmic FLOPs of a softmax over `pairs` query–key pairs: each pair a
/// d-long dot product (2d), scale, max-subtraction, `exp` and sum (4) and its
/// share of P·V (2dᵥ); each row ends with dᵥ divisions.
pub fn softmax_pairs_flops(shape: Shape, pairs: u64, what: &str) -> Counted {
    let (n, d, dv) = (shape.n as u64, shape.d as u64, shape.dv as u64);
    Counted::new(
        pairs * (2 * d + 2 * dv + 4) + n * dv,
        format!("pairs·(2d + 2dᵥ + 4) + n·dᵥ, pairs = {pairs} {what}"),
    )
}

/// The method-specific knob values of a run, in [`MethodInfo::params`] order.
pub type ParamValues = std::collections::BTreeMap<String, u64>;

/// Errors a method reports about its configuration.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MethodError {
    /// The method cannot run with the given settings.
    #[error("{0}")]
    Unsupported(String),
}

/// Receives one row's attention weights: `(row index, weights over all keys)`.
pub type WeightSink<'a> = &'a mut dyn FnMut(usize, &[f32]);

/// The CPU twin of a method, computed a block of query rows at a time so that
/// a browser can yield between blocks and a comparison can pick sample rows.
pub trait RowKernel {
    /// Writes the output rows `rows` into `out` (shape `rows.len() × dv`). If
    /// `weights` is given, it is called once per row with that row's attention
    /// weights over all `n` keys (the implied attention matrix), for pooling.
    fn compute_rows(
        &self,
        rows: Range<usize>,
        out: ArrayViewMut2<'_, f32>,
        weights: Option<WeightSink<'_>>,
    );

    /// The keys query row i computes (the method's pattern).
    fn row_pattern(&self, i: usize) -> RowPattern;

    /// View data the twin gives cheaply (Reformer's buckets, a low-rank or
    /// kernel method's factor); the pipeline uses it where the GPU did not
    /// compute its own.
    fn views(&self) -> crate::data::artifacts::Artifacts {
        crate::data::artifacts::Artifacts::new()
    }

    /// The pooled implied attention map when the twin can compute it from
    /// its factors (O(n·r)) rather than row by row (O(n²·r)).
    fn pooled_map(&self) -> Option<crate::data::maps::AttentionMap> {
        None
    }

    /// What one whole pass of this twin (its set-up and every row) executes
    /// and allocates: the figures a CPU run reports. `pairs` is the number of
    /// pairs its pattern computes, as counted from [`Self::row_pattern`].
    fn cost(&self, pairs: u64) -> TwinCost;

    /// Remarks a reader needs about this run (a knob capped, ...).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// Method-specific figures of this twin (Nyström's pseudo-inverse
    /// residual, ...).
    fn figures(&self) -> MethodFigures {
        MethodFigures::default()
    }
}

/// Figures only some methods have; absent ones are left out of the JSON.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct MethodFigures {
    /// Nyström: ‖ÃZÃ − Ã‖_F / ‖Ã‖_F of the pseudo-inverse Z actually used.
    pub pinv_residual: Option<f64>,
    /// Nyström: the iterations that Z took (the stop rule may end early).
    pub pinv_iterations: Option<u32>,
}

/// What a method needs besides the inputs: causality, the seed of its random
/// choices, and its knobs.
#[derive(Debug, Clone, Copy)]
pub struct Config<'a> {
    /// Mask keys j > i.
    pub causal: bool,
    /// Seed of random projections, blocks and hash planes.
    pub seed: u64,
    /// The method's knobs.
    pub params: &'a ParamValues,
}

impl Config<'_> {
    /// A knob's value (its default if absent).
    pub fn param(&self, spec: &ParamSpec) -> u64 {
        self.params.get(spec.key).copied().unwrap_or(spec.default)
    }
}

/// A knob value a method corrected, and why (cross-knob rules such as
/// "summary ≤ stride").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamFix {
    /// The knob.
    pub key: &'static str,
    /// What was wrong.
    pub problem: String,
    /// The value used instead.
    pub value: u64,
}

/// Everything the rest of the program needs from a method.
pub trait AttentionMethod: Sync {
    /// Name, paper, knobs.
    fn info(&self) -> &'static MethodInfo;

    /// Corrects knob combinations that are individually in range but invalid
    /// together (each fix is applied to `params` and reported).
    fn fix_params(&self, _params: &mut ParamValues) -> Vec<ParamFix> {
        Vec::new()
    }

    /// `Some(why)` when the method is causal by construction (segment-level
    /// recurrence): the settings turn `causal` on with a message if it was
    /// asked off, the page locks the checkbox, and a non-causal problem is
    /// refused before any work.
    fn always_causal(&self) -> Option<&'static str> {
        None
    }

    /// Counted FLOPs and bytes for this shape: executed by the timed GPU
    /// kernels, and needed by the method. `pairs` is the number of
    /// query–key pairs the method's pattern computes (counted from its twin;
    /// n² or n(n+1)/2 for dense methods).
    fn cost(&self, shape: Shape, config: &Config<'_>, pairs: u64) -> Cost;

    /// The exact model this method approximates, against which its errors are
    /// measured (exact softmax attention, or e.g. shared-QK attention).
    fn reference_model(&self, _config: &Config<'_>) -> full::ReferenceModel {
        full::ReferenceModel::Standard
    }

    /// Whether the method makes random draws from the seed under this
    /// configuration (Performer's ω, Linformer's Gaussian E and F, BigBird's
    /// random blocks, Reformer's rotations): the error law's spread then comes
    /// from those draws; otherwise from the inputs' seed.
    fn randomized(&self, _config: &Config<'_>) -> bool {
        false
    }

    /// The CPU twin (f32, ndarray) over these inputs.
    fn cpu_twin<'a>(
        &self,
        inputs: &'a Inputs,
        config: &Config<'_>,
    ) -> Result<Box<dyn RowKernel + 'a>, MethodError>;

    /// Runs the method's GPU kernels: output, pooled attention map and timings.
    fn run_gpu<'a>(
        &'a self,
        ctx: &'a GpuContext,
        inputs: &'a Inputs,
        config: &'a Config<'a>,
        options: &'a GpuRunOptions,
    ) -> LocalFuture<'a, Result<GpuOutput, GpuError>>;

    /// Runs the method's GPU kernels over B·H heads at once — every pass
    /// one dispatch over (batch × head), never a loop of launches. The
    /// output is `[B·H·n, dᵥ]`, head after head; views (pooled map,
    /// pattern, factors) are head 0's. `None`: the method's kernels are not
    /// batched yet; the pipeline then runs the heads on the CPU twin (or
    /// refuses when the GPU was asked for by name).
    fn run_gpu_heads<'a>(
        &'a self,
        _ctx: &'a GpuContext,
        _heads: &'a Heads,
        _config: &'a Config<'a>,
        _options: &'a GpuRunOptions,
    ) -> Option<LocalFuture<'a, Result<GpuOutput, GpuError>>> {
        None
    }
}

/// Helpers for the methods' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use ndarray::{Array2, ArrayView2};

    use super::RowKernel;
    use crate::inputs::Inputs;

    /// The twin's output for every row.
    pub fn all_rows(twin: &dyn RowKernel, x: &Inputs) -> Array2<f32> {
        let mut out = Array2::zeros((x.n(), x.dv()));
        twin.compute_rows(0..x.n(), out.view_mut(), None);
        out
    }

    /// rel_err of `out` against exact (f64, non-causal) attention on `x`.
    pub fn rel_err_vs_exact(x: &Inputs, out: ArrayView2<'_, f32>) -> f64 {
        let all: Vec<usize> = (0..x.n()).collect();
        let exact = super::full::reference_rows(x.q.view(), x.k.view(), x.v.view(), false, &all);
        crate::data::stats::errors(out, exact.view()).rel_err
    }

    /// rel_err of the twin, all rows, against exact attention.
    pub fn twin_rel_err(twin: &dyn RowKernel, x: &Inputs) -> f64 {
        rel_err_vs_exact(x, all_rows(twin, x).view())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tag names of `markup` in order, each with whether it opens; or
    /// why it is not well-formed XML-like markup (no attributes but
    /// `display`, no entities but `&lt;` `&gt;` `&amp;`).
    fn tags(markup: &str) -> Result<Vec<(String, bool)>, String> {
        let mut out = Vec::new();
        let mut rest = markup;
        while let Some(start) = rest.find(['<', '&']) {
            let tail = &rest[start..];
            if let Some(after) = tail.strip_prefix('&') {
                let ok = ["lt;", "gt;", "amp;"].iter().any(|e| after.starts_with(e));
                if !ok {
                    return Err(format!("a bare & at «{}»", &tail[..tail.len().min(12)]));
                }
                rest = after;
                continue;
            }
            let end = tail.find('>').ok_or("an unclosed <")?;
            let inner = &tail[1..end];
            let (open, name) = match inner.strip_prefix('/') {
                Some(name) => (false, name),
                None => (true, inner.split(' ').next().unwrap_or_default()),
            };
            if inner.contains(' ') && inner != r#"math display="block""# {
                return Err(format!("unexpected attributes in <{inner}>"));
            }
            out.push((name.to_string(), open));
            rest = &tail[end + 1..];
        }
        Ok(out)
    }

    /// Whether the tags nest, each closed by its own name.
    fn balanced(markup: &str) -> Result<(), String> {
        let mut stack = Vec::new();
        for (name, open) in tags(markup)? {
            if open {
                stack.push(name);
            } else if stack.pop().as_deref() != Some(name.as_str()) {
                return Err(format!("</{name}> closes nothing open"));
            }
        }
        match stack.is_empty() {
            true => Ok(()),
            false => Err(format!("unclosed: {stack:?}")),
        }
    }

    #[test]
    fn every_method_documents_its_equations_complexity_and_use() {
        const MATHML: &[&str] = &[
            "math",
            "mi",
            "mo",
            "mn",
            "mrow",
            "msub",
            "msup",
            "msubsup",
            "mfrac",
            "msqrt",
            "munder",
            "mover",
            "munderover",
            "mtext",
        ];
        for m in MethodId::ALL {
            let info = m.info();
            let k = info.key;
            assert!(
                info.mathml.starts_with(r#"<math display="block">"#),
                "{k}: {}",
                info.mathml
            );
            balanced(info.mathml).unwrap_or_else(|e| panic!("{k}: {e}"));
            for (name, _) in tags(info.mathml).unwrap() {
                assert!(
                    MATHML.contains(&name.as_str()),
                    "{k}: <{name}> is not MathML Core here"
                );
            }
            let c = info.complexity;
            assert!(
                c.time.starts_with("O(") && c.space.starts_with("O("),
                "{k}: {c:?}"
            );
            assert!(!c.source.is_empty() && !info.best_for.is_empty(), "{k}");
        }
        // Power: broken markup is caught.
        assert!(balanced("<math><mi>x</mo></math>").is_err());
        assert!(balanced("<math><mi>x</mi>").is_err());
        assert!(tags("<mi>a & b</mi>").is_err());
    }

    #[test]
    fn keys_round_trip_and_are_unique() {
        let keys = MethodId::keys();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(MethodId::from_key(k).map(|m| m.key()), Some(*k));
            assert!(!keys[i + 1..].contains(k), "duplicate method key {k}");
        }
        assert_eq!(MethodId::from_key("nope"), None);
    }

    #[test]
    fn pairs_count_the_causal_triangle() {
        let s = Shape {
            n: 5,
            d: 2,
            dv: 2,
            causal: true,
        };
        assert_eq!(s.pairs(), 15);
        assert_eq!(Shape { causal: false, ..s }.pairs(), 25);
    }
}

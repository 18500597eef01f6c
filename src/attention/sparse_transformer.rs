//! Sparse Transformer (Child, Gray, Radford & Sutskever 2019, "Generating
//! Long Sequences with Sparse Transformers"; survey §"Sparse Attention"),
//! its two factorised patterns in the paper's causal form:
//!
//! * strided: j ≤ i and (i − j < L or (i − j) mod L = 0);
//! * fixed: j ≤ i and (⌊j/L⌋ = ⌊i/L⌋ or j mod L ≥ L − c).
//!
//! Without `--causal`, j ≤ i is dropped and i − j is read as |i − j|.

use super::pattern::Pattern;
use super::sparse::{Structured, no_fix};
use super::{Complexity, Config, Conformance, MethodInfo, ParamFix, ParamSpec, ParamValues};

const STRIDE: ParamSpec = ParamSpec::int(
    "stride",
    "Stride L",
    "local band of L keys and every L-th key beyond (fixed: blocks of L)",
    1,
    16384,
    16,
);
const SUMMARY: ParamSpec = ParamSpec::int(
    "summary",
    "Summary c",
    "the last c positions of every block of L are seen by all later queries",
    0,
    16384,
    2,
);

static STRIDED_INFO: MethodInfo = MethodInfo {
    key: "sparse-strided",
    label: "Sparse Transformer (strided)",
    family: "Sparse",
    paper: "Child, Gray, Radford & Sutskever 2019, Generating Long Sequences with Sparse Transformers",
    complexity: Complexity {
        time: "O(n√n)",
        space: "O(n√n)",
        source: "Child et al. 2019 (stride √n)",
    },
    best_for: "—",
    mathml: r#"<math display="block"><msub><mi>o</mi><mi>i</mi></msub><mo>=</mo><munder><mo>∑</mo><mrow><mi>j</mi><mo>∈</mo><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow></mrow></munder><mfrac><mrow><mi>exp</mi><mrow><mo>(</mo><mfrac><mrow><msub><mi>q</mi><mi>i</mi></msub><mo>·</mo><msub><mi>k</mi><mi>j</mi></msub></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow></mrow><mrow><munder><mo>∑</mo><mrow><mi>l</mi><mo>∈</mo><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow></mrow></munder><mi>exp</mi><mrow><mo>(</mo><mfrac><mrow><msub><mi>q</mi><mi>i</mi></msub><mo>·</mo><msub><mi>k</mi><mi>l</mi></msub></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow></mrow></mfrac><msub><mi>v</mi><mi>j</mi></msub></math><math display="block"><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow><mo>=</mo><mrow><mo>{</mo><mi>j</mi><mo>≤</mo><mi>i</mi><mo>:</mo><mi>i</mi><mo>−</mo><mi>j</mi><mo>&lt;</mo><mi>L</mi><mo>∨</mo><mrow><mo>(</mo><mi>i</mi><mo>−</mo><mi>j</mi><mo>)</mo></mrow><mo>mod</mo><mi>L</mi><mo>=</mo><mn>0</mn><mo>}</mo></mrow></math>"#,
    equation: "S(i) = {j ≤ i : i − j < L or (i − j) mod L = 0}",
    params: &[STRIDE],
    causal_unsupported: None,
    budget: None,
    explanation: "Two factorised heads in one pattern: a local band of L keys and every L-th key before \
             it, so any position reaches any earlier one in two steps with O(n·(L + n/L)) pairs. \
             The strided offsets cross many key tiles with one pair each: the kernel's tile work \
             (shown next to the pattern's pairs) is the honest price of that layout on a GPU.",
    conformance: Conformance::TILED.with_cases(&[&[("stride", 6)]]),
};

static FIXED_INFO: MethodInfo = MethodInfo {
    key: "sparse-fixed",
    label: "Sparse Transformer (fixed)",
    family: "Sparse",
    paper: "Child, Gray, Radford & Sutskever 2019, Generating Long Sequences with Sparse Transformers",
    complexity: Complexity {
        time: "O(n√n)",
        space: "O(n√n)",
        source: "Child et al. 2019 (stride √n)",
    },
    best_for: "—",
    mathml: r#"<math display="block"><msub><mi>o</mi><mi>i</mi></msub><mo>=</mo><munder><mo>∑</mo><mrow><mi>j</mi><mo>∈</mo><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow></mrow></munder><mfrac><mrow><mi>exp</mi><mrow><mo>(</mo><mfrac><mrow><msub><mi>q</mi><mi>i</mi></msub><mo>·</mo><msub><mi>k</mi><mi>j</mi></msub></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow></mrow><mrow><munder><mo>∑</mo><mrow><mi>l</mi><mo>∈</mo><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow></mrow></munder><mi>exp</mi><mrow><mo>(</mo><mfrac><mrow><msub><mi>q</mi><mi>i</mi></msub><mo>·</mo><msub><mi>k</mi><mi>l</mi></msub></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow></mrow></mfrac><msub><mi>v</mi><mi>j</mi></msub></math><math display="block"><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow><mo>=</mo><mrow><mo>{</mo><mi>j</mi><mo>≤</mo><mi>i</mi><mo>:</mo><mrow><mo>⌊</mo><mi>j</mi><mo>/</mo><mi>L</mi><mo>⌋</mo></mrow><mo>=</mo><mrow><mo>⌊</mo><mi>i</mi><mo>/</mo><mi>L</mi><mo>⌋</mo></mrow><mo>∨</mo><mi>j</mi><mo>mod</mo><mi>L</mi><mo>≥</mo><mi>L</mi><mo>−</mo><mi>c</mi><mo>}</mo></mrow></math>"#,
    equation: "S(i) = {j ≤ i : ⌊j/L⌋ = ⌊i/L⌋ or j mod L ≥ L − c}",
    params: &[STRIDE, SUMMARY],
    causal_unsupported: None,
    budget: None,
    explanation: "Keys of the query's own block of L, plus the last c positions of every block, which act \
             as summaries that later queries read. With c = L it becomes full causal attention.",
    conformance: Conformance::TILED.with_cases(&[&[("stride", 8), ("summary", 2)]]),
};

fn strided(config: &Config<'_>, _n: usize) -> Pattern {
    Pattern::Strided {
        stride: config.param(&STRIDE) as usize,
    }
}

fn fixed(config: &Config<'_>, _n: usize) -> Pattern {
    Pattern::Fixed {
        stride: config.param(&STRIDE) as usize,
        summary: config.param(&SUMMARY) as usize,
    }
}

/// c ≤ L: a block has only L positions to summarise.
fn summary_within_stride(params: &mut ParamValues) -> Vec<ParamFix> {
    let stride = params.get(STRIDE.key).copied().unwrap_or(STRIDE.default);
    let summary = params.get(SUMMARY.key).copied().unwrap_or(SUMMARY.default);
    if summary > stride {
        params.insert(SUMMARY.key.into(), stride);
        vec![ParamFix {
            key: SUMMARY.key,
            problem: format!("summary={summary} exceeds stride={stride}"),
            value: stride,
        }]
    } else {
        Vec::new()
    }
}

/// Registry entry (`--method sparse-strided`).
pub static STRIDED: Structured = Structured {
    info: &STRIDED_INFO,
    build: strided,
    fix: no_fix,
};
/// Registry entry (`--method sparse-fixed`).
pub static FIXED: Structured = Structured {
    info: &FIXED_INFO,
    build: fixed,
    fix: summary_within_stride,
};

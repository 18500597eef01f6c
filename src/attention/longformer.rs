//! Longformer (Beltagy, Peters & Cohan 2020, "Longformer: The
//! Long-Document Transformer"; survey §"Sparse Attention"): a sliding window
//! of half-width W plus G global tokens, O(n·(2W + 1) + 2nG) pairs:
//!
//! S(i) = { j : |i − j| ≤ W } ∪ { j : j < G } ∪ (i < G ? all keys : ∅),
//! and with `--causal` only j ≤ i.

use super::pattern::Pattern;
use super::sparse::{Structured, no_fix};
use super::{Complexity, Config, Conformance, MethodInfo, ParamSpec};

const WINDOW: ParamSpec = ParamSpec::int(
    "window",
    "Window W",
    "query i sees keys with |i − j| ≤ W",
    0,
    16384,
    32,
);
const GLOBAL: ParamSpec = ParamSpec::int(
    "global",
    "Global tokens G",
    "positions 0 … G − 1 see every key and are seen by every query",
    0,
    16384,
    1,
);

static INFO: MethodInfo = MethodInfo {
    key: "longformer",
    label: "Longformer",
    family: "Sparse",
    paper: "Beltagy, Peters & Cohan 2020, Longformer: The Long-Document Transformer",
    complexity: Complexity {
        time: "O(n)",
        space: "O(n)",
        source: "survey, Summary Table",
    },
    best_for: "Long documents",
    mathml: r#"<math display="block"><msub><mi>o</mi><mi>i</mi></msub><mo>=</mo><munder><mo>∑</mo><mrow><mi>j</mi><mo>∈</mo><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow></mrow></munder><mfrac><mrow><mi>exp</mi><mrow><mo>(</mo><mfrac><mrow><msub><mi>q</mi><mi>i</mi></msub><mo>·</mo><msub><mi>k</mi><mi>j</mi></msub></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow></mrow><mrow><munder><mo>∑</mo><mrow><mi>l</mi><mo>∈</mo><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow></mrow></munder><mi>exp</mi><mrow><mo>(</mo><mfrac><mrow><msub><mi>q</mi><mi>i</mi></msub><mo>·</mo><msub><mi>k</mi><mi>l</mi></msub></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow></mrow></mfrac><msub><mi>v</mi><mi>j</mi></msub></math><math display="block"><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow><mo>=</mo><mrow><mo>{</mo><mi>j</mi><mo>:</mo><mo>|</mo><mi>i</mi><mo>−</mo><mi>j</mi><mo>|</mo><mo>≤</mo><mi>W</mi><mo>}</mo></mrow><mo>∪</mo><mrow><mo>{</mo><mi>j</mi><mo>&lt;</mo><mi>G</mi><mo>}</mo></mrow><mo>∪</mo><mrow><mo>{</mo><mi>j</mi><mo>:</mo><mi>i</mi><mo>&lt;</mo><mi>G</mi><mo>}</mo></mrow></math>"#,
    equation: "S(i) = {j : |i − j| ≤ W} ∪ {j < G} ∪ (i < G ? all : ∅)",
    params: &[WINDOW, GLOBAL],
    causal_unsupported: None,
    budget: None,
    explanation: "Each token attends to a sliding window of W neighbours on each side, and a few global \
             tokens (like [CLS]) attend to, and are attended by, every position: O(n·W) pairs. The GPU \
             kernel visits only the key tiles that touch the band or the global rows and columns \
             (without global tokens, the flash kernel's banded pass); \
             the pattern view colours window and global pairs, and the readout says how much of \
             exact attention's weight falls outside them.",
    // global = 0 is a pure band: the flash kernel's banded pass.
    conformance: Conformance::TILED.with_cases(&[
        &[("window", 5), ("global", 2)],
        &[("window", 3), ("global", 0)],
    ]),
};

fn build(config: &Config<'_>, _n: usize) -> Pattern {
    Pattern::Longformer {
        window: config.param(&WINDOW) as usize,
        global: config.param(&GLOBAL) as usize,
    }
}

/// Registry entry (`--method longformer`).
pub static LONGFORMER: Structured = Structured {
    info: &INFO,
    build,
    fix: no_fix,
};

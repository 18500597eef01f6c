//! Transformer-XL at inference (Dai, Yang, Yang, Carbonell, Le &
//! Salakhutdinov 2019, "Transformer-XL: Attentive Language Models Beyond a
//! Fixed-Length Context", §3.2; survey §"Memory-based Architectures"):
//! segment-level recurrence with a FIFO memory of M cached positions.
//!
//! h̃ⁿ⁻¹_τ+1 = [SG(mⁿ⁻¹_τ) ∘ hⁿ⁻¹_τ+1], qⁿ = hⁿ⁻¹ W_q, kⁿ = h̃ⁿ⁻¹ W_k,
//! vⁿ = h̃ⁿ⁻¹ W_v: at one layer, query i of segment s sees its own segment
//! up to itself and the M positions before the segment,
//! S(i) = { j : max(0, sS − M) ≤ j ≤ i }. O(n·(S + M)) pairs. The layout,
//! twin, kernel glue and costs are shared with the Compressive Transformer
//! in `memory.rs`.

use super::memory::{COMPLEXITY, MEMORY, MemoryLayout, MemorySpec, Recurrent, SEGMENT};
use super::sparse::no_fix;
use super::{Budget, Config, Conformance, MethodInfo};

static INFO: MethodInfo = MethodInfo {
    key: "transformer-xl",
    label: "Transformer-XL",
    family: "Memory",
    paper: "Dai, Yang, Yang, Carbonell, Le & Salakhutdinov 2019, Transformer-XL: Attentive \
            Language Models Beyond a Fixed-Length Context",
    equation: "o_i = Σ_{j ∈ S(i)} softmax_j(q_i·k_j/√d)·v_j, S(i) = {j : max(0, sS − M) ≤ j ≤ i}, \
               s = ⌊i/S⌋ (own segment causally + the M cached positions before it, no gradient)",
    params: &[SEGMENT, MEMORY],
    causal_unsupported: None,
    budget: Some(Budget {
        key: "memory",
        slope: None,
        law: "rel_err against causal attention falls as the memory grows, to 0 once every query \
              sees its whole past (S + M ≥ n)",
    }),
    explanation: "Transformer-XL reads a long sequence in segments of S tokens. Each query attends \
             causally within its own segment and to a FIFO memory: the M positions just before the \
             segment, cached from the previous segments' pass (in training, with no gradient through \
             them). One layer thus sees at most S + M positions back, for O(n·(S + M)) work; stacked \
             layers relay information further, since the memory of layer l holds layer l − 1's states \
             of earlier segments — with L layers a token reaches about L·M positions back (the chart \
             composes the per-layer pattern to show it). The model is causal by construction: the \
             causal setting stays on, and rel_err is measured against exact causal attention (with \
             the mean of V over each query's past as the baseline). The GPU kernel visits only the \
             key tiles of each query tile's segment and memory; the pattern view colours the own \
             segment and the memory. With M ≥ n it is exact causal attention.",
    conformance: Conformance::TILED.with_cases(&[
        &[("segment", 5), ("memory", 7)],
        &[("segment", 40), ("memory", 0)],
        &[("segment", 3), ("memory", 300)],
    ]),
    complexity: COMPLEXITY,
    best_for: "Autoregressive generation",
    mathml: r#"<math display="block"><msub><mi>o</mi><mi>i</mi></msub><mo>=</mo><munder><mo>∑</mo><mrow><mi>j</mi><mo>∈</mo><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow></mrow></munder><mfrac><mrow><mi>exp</mi><mrow><mo>(</mo><mfrac><mrow><msub><mi>q</mi><mi>i</mi></msub><mo>·</mo><msub><mi>k</mi><mi>j</mi></msub></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow></mrow><mrow><munder><mo>∑</mo><mrow><mi>l</mi><mo>∈</mo><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow></mrow></munder><mi>exp</mi><mrow><mo>(</mo><mfrac><mrow><msub><mi>q</mi><mi>i</mi></msub><mo>·</mo><msub><mi>k</mi><mi>l</mi></msub></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow></mrow></mfrac><msub><mi>v</mi><mi>j</mi></msub></math><math display="block"><msubsup><mover><mi>h</mi><mo>~</mo></mover><mrow><mi>τ</mi><mo>+</mo><mn>1</mn></mrow><mrow><mi>n</mi><mo>−</mo><mn>1</mn></mrow></msubsup><mo>=</mo><mrow><mo>[</mo><mi>SG</mi><mrow><mo>(</mo><msubsup><mi>m</mi><mi>τ</mi><mrow><mi>n</mi><mo>−</mo><mn>1</mn></mrow></msubsup><mo>)</mo></mrow><mo>∘</mo><msubsup><mi>h</mi><mrow><mi>τ</mi><mo>+</mo><mn>1</mn></mrow><mrow><mi>n</mi><mo>−</mo><mn>1</mn></mrow></msubsup><mo>]</mo></mrow></math><math display="block"><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow><mo>=</mo><mrow><mo>{</mo><mi>j</mi><mo>:</mo><mi>max</mi><mrow><mo>(</mo><mn>0</mn><mo>,</mo><mi>s</mi><mi>S</mi><mo>−</mo><mi>M</mi><mo>)</mo></mrow><mo>≤</mo><mi>j</mi><mo>≤</mo><mi>i</mi><mo>}</mo></mrow><mo>,</mo><mtext> </mtext><mi>s</mi><mo>=</mo><mrow><mo>⌊</mo><mi>i</mi><mo>/</mo><mi>S</mi><mo>⌋</mo></mrow></math>"#,
};

fn spec(config: &Config<'_>, n: usize) -> MemorySpec {
    MemorySpec {
        layout: MemoryLayout::transformer_xl(
            n,
            config.param(&SEGMENT) as usize,
            config.param(&MEMORY) as usize,
        ),
        compress: None,
    }
}

/// Registry entry (`--method transformer-xl`).
pub static TRANSFORMER_XL: Recurrent = Recurrent {
    info: &INFO,
    spec,
    fix: no_fix,
};

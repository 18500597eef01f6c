//! The Compressive Transformer at inference (Rae, Potapenko, Jayakumar,
//! Hillier & Lillicrap 2020, "Compressive Transformers for Long-Range
//! Sequence Modelling", §3.1 and Algorithm 1; survey §"Memory-based
//! Architectures"): Transformer-XL's FIFO memory of M positions, plus a
//! compressed memory of M_c slots into which the positions evicted from the
//! memory are compressed by a factor c.
//!
//! cm = f_c(old memories), f_c: R^{n_s×d} → R^{⌊n_s/c⌋×d}, with f_c mean or
//! max pooling (kernel and stride c), a 1-D convolution (kernel and stride
//! c; seeded weights standing in for trained ones) or most-attended (the
//! evicted positions with the highest usage kept); query i attends to
//! [cm ∘ m ∘ h_{≤i}]. With c = 1 (and mean, max or most-attended) it is
//! Transformer-XL with memory M + M_c. The layout, twin, kernel glue and
//! costs are in `memory.rs`; f_c's GPU passes in `gpu/memory_attention.rs`.

use super::memory::{MEMORY, MemoryLayout, MemorySpec, Recurrent, SEGMENT};
use super::sparse::no_fix;
use super::{Budget, Complexity, Config, Conformance, MethodInfo, ParamSpec};
use crate::data::codes::CompressKind;

const COMPRESSED: ParamSpec = ParamSpec::int(
    "compressed-memory",
    "Compressed memory M_c",
    "slots of compressed memory (FIFO) that every query also sees",
    0,
    16384,
    32,
);
const RATE: ParamSpec = ParamSpec::int(
    "compress-rate",
    "Compression rate c",
    "c evicted positions become one compressed slot",
    1,
    64,
    4,
);
const FUNCTION: ParamSpec = ParamSpec::choice(
    "compress",
    "Compression f_c",
    "mean or max pooling, a 1-D convolution (seeded weights), or most-attended (keeps the \
     evicted positions with the highest usage)",
    &["mean", "max", "conv", "most-attended"],
);

static INFO: MethodInfo = MethodInfo {
    key: "compressive",
    label: "Compressive Transformer",
    family: "Memory",
    paper: "Rae, Potapenko, Jayakumar, Hillier & Lillicrap 2020, Compressive Transformers for \
            Long-Range Sequence Modelling",
    equation: "o_i = softmax(q_i·[cm; m; h_{≤i}]ᵀ/√d)·[cm; m; h_{≤i}] (keys and values), \
               cm = f_c(evicted memories), f_c ∈ {mean, max, conv, most-attended}, \
               kernel and stride c, M_c newest slots",
    params: &[SEGMENT, MEMORY, COMPRESSED, RATE, FUNCTION],
    causal_unsupported: None,
    budget: Some(Budget {
        key: "compressed-memory",
        slope: None,
        law: "rel_err against causal attention falls as the compressed memory reaches further \
              back; lossy slots keep it above Transformer-XL with the same span uncompressed",
    }),
    explanation: "The Compressive Transformer keeps Transformer-XL's FIFO memory of M positions, \
             but what leaves the memory is not discarded: each group of c evicted positions becomes \
             one slot of a second FIFO, the compressed memory of M_c slots, so one layer reaches \
             back S + M + c·M_c positions for the cost of S + M + M_c keys. f_c is mean or max \
             pooling, a 1-D convolution with kernel and stride c (the paper trains it with an \
             attention-reconstruction loss; here its weights are seeded: mean pooling plus a 50% \
             random perturbation, standing in for trained ones), or most-attended, which keeps the \
             evicted positions that received the highest mean attention while uncompressed (its \
             usage, measured under the softmax over segment and memory). The pattern view shows \
             what each function keeps: pooling and convolution summarise every evicted position \
             (orange band), most-attended keeps one in c (sparse orange columns). On the GPU the \
             slots are key and value rows after the positions: a small pass computes them (or \
             ranks usage and gathers the kept rows), then the tiled kernel attends over own \
             segment, memory and visible slots only. Causal by construction; rel_err is measured \
             against exact causal attention. With c = 1 (mean, max or most-attended) it is \
             Transformer-XL with memory M + M_c.",
    conformance: Conformance::TILED.with_cases(&[
        &[
            ("segment", 7),
            ("memory", 5),
            ("compressed-memory", 6),
            ("compress-rate", 3),
            ("compress", 0),
        ],
        &[
            ("segment", 7),
            ("memory", 5),
            ("compressed-memory", 6),
            ("compress-rate", 3),
            ("compress", 1),
        ],
        &[
            ("segment", 16),
            ("memory", 9),
            ("compressed-memory", 40),
            ("compress-rate", 2),
            ("compress", 2),
        ],
        &[
            ("segment", 11),
            ("memory", 13),
            ("compressed-memory", 4),
            ("compress-rate", 3),
            ("compress", 3),
        ],
        &[("segment", 32), ("memory", 20), ("compress-rate", 1)],
    ]),
    complexity: Complexity {
        time: "O(n·(S + M + M_c))",
        space: "O(S·(S + M + M_c))",
        source: "Rae et al. 2020, §3.1: attention over segment, memory and compressed memory",
    },
    best_for: "Autoregressive generation",
    mathml: r#"<math display="block"><msub><mi>o</mi><mi>i</mi></msub><mo>=</mo><mi>softmax</mi><mrow><mo>(</mo><mfrac><mrow><msub><mi>q</mi><mi>i</mi></msub><msup><mrow><mo>[</mo><msub><mi>K</mi><mi>cm</mi></msub><mo>;</mo><msub><mi>K</mi><mi>m</mi></msub><mo>;</mo><msub><mi>K</mi><mrow><mo>≤</mo><mi>i</mi></mrow></msub><mo>]</mo></mrow><mi>⊤</mi></msup></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow><mrow><mo>[</mo><msub><mi>V</mi><mi>cm</mi></msub><mo>;</mo><msub><mi>V</mi><mi>m</mi></msub><mo>;</mo><msub><mi>V</mi><mrow><mo>≤</mo><mi>i</mi></mrow></msub><mo>]</mo></mrow></math><math display="block"><msub><mi>f</mi><mi>c</mi></msub><mo>:</mo><msup><mi>ℝ</mi><mrow><msub><mi>n</mi><mi>s</mi></msub><mo>×</mo><mi>d</mi></mrow></msup><mo>→</mo><msup><mi>ℝ</mi><mrow><mrow><mo>⌊</mo><mfrac><msub><mi>n</mi><mi>s</mi></msub><mi>c</mi></mfrac><mo>⌋</mo></mrow><mo>×</mo><mi>d</mi></mrow></msup><mo>,</mo><mtext> </mtext><msub><mi>cm</mi><mi>g</mi></msub><mo>=</mo><mfrac><mn>1</mn><mi>c</mi></mfrac><munderover><mo>∑</mo><mrow><mi>t</mi><mo>=</mo><mn>0</mn></mrow><mrow><mi>c</mi><mo>−</mo><mn>1</mn></mrow></munderover><msub><mi>m</mi><mrow><mi>g</mi><mi>c</mi><mo>+</mo><mi>t</mi></mrow></msub><mtext> (mean; max, conv, most-attended alike)</mtext></math>"#,
};

fn spec(config: &Config<'_>, n: usize) -> MemorySpec {
    MemorySpec {
        layout: MemoryLayout {
            n,
            segment: (config.param(&SEGMENT) as usize).max(1),
            memory: config.param(&MEMORY) as usize,
            rate: (config.param(&RATE) as usize).max(1),
            compressed: config.param(&COMPRESSED) as usize,
        },
        compress: Some(CompressKind::from_index(config.param(&FUNCTION))),
    }
}

/// Registry entry (`--method compressive`).
pub static COMPRESSIVE: Recurrent = Recurrent {
    info: &INFO,
    spec,
    fix: no_fix,
};

//! BigBird (Zaheer et al. 2020, "Big Bird: Transformers for Longer
//! Sequences"; survey §"Sparse Attention"), the ITC layout: the sequence is
//! cut into blocks of B; the first g blocks are global (they see every key and
//! every query sees them); each other query block sees a window of w blocks
//! around itself and R random key blocks, drawn from the seed once per query
//! block among the blocks it does not otherwise see. With `--causal`, only
//! j ≤ i (random blocks are drawn from the past).

use super::pattern::{BigBirdLayout, Pattern};
use super::sparse::Structured;
use super::{Complexity, Config, Conformance, MethodInfo, ParamFix, ParamSpec, ParamValues};

const BLOCK: ParamSpec = ParamSpec::int("block", "Block B", "positions per block", 1, 4096, 32);
const GLOBAL_BLOCKS: ParamSpec = ParamSpec::int(
    "global-blocks",
    "Global blocks g",
    "the first g blocks see and are seen by everything",
    0,
    1024,
    1,
);
const WINDOW_BLOCKS: ParamSpec = ParamSpec::int(
    "window-blocks",
    "Window w (blocks, odd)",
    "each query block sees the w blocks centred on it",
    1,
    1023,
    3,
);
const RANDOM: ParamSpec = ParamSpec::int(
    "random",
    "Random blocks R",
    "random key blocks per query block (seeded)",
    0,
    64,
    2,
);

static INFO: MethodInfo = MethodInfo {
    key: "bigbird",
    label: "BigBird",
    family: "Sparse",
    paper: "Zaheer et al. 2020, Big Bird: Transformers for Longer Sequences",
    complexity: Complexity {
        time: "O(n)",
        space: "O(n)",
        source: "survey, Summary Table",
    },
    best_for: "Long sequences + theory",
    mathml: r#"<math display="block"><msub><mi>o</mi><mi>i</mi></msub><mo>=</mo><munder><mo>∑</mo><mrow><mi>j</mi><mo>∈</mo><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow></mrow></munder><mfrac><mrow><mi>exp</mi><mrow><mo>(</mo><mfrac><mrow><msub><mi>q</mi><mi>i</mi></msub><mo>·</mo><msub><mi>k</mi><mi>j</mi></msub></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow></mrow><mrow><munder><mo>∑</mo><mrow><mi>l</mi><mo>∈</mo><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow></mrow></munder><mi>exp</mi><mrow><mo>(</mo><mfrac><mrow><msub><mi>q</mi><mi>i</mi></msub><mo>·</mo><msub><mi>k</mi><mi>l</mi></msub></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow></mrow></mfrac><msub><mi>v</mi><mi>j</mi></msub></math><math display="block"><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow><mo>=</mo><mtext>global blocks</mtext><mo>∪</mo><mtext>window of </mtext><mi>w</mi><mtext> blocks</mtext><mo>∪</mo><mi>r</mi><mtext> random blocks</mtext></math>"#,
    equation: "S(i) = global blocks ∪ window of w blocks ∪ R random blocks (blocks of B)",
    params: &[BLOCK, GLOBAL_BLOCKS, WINDOW_BLOCKS, RANDOM],
    causal_unsupported: None,
    budget: None,
    explanation: "Blocks of B positions: a few global blocks, a window of neighbouring blocks, and R random \
             blocks per query block drawn from the seed. The survey notes that the random part often \
             matters less than the window and global parts — compare the mass readout with R = 0.",
    conformance: Conformance::TILED.with_cases(&[&[
        ("block", 8),
        ("global-blocks", 1),
        ("window-blocks", 3),
        ("random", 2),
    ]]),
};

fn build(config: &Config<'_>, n: usize) -> Pattern {
    Pattern::BigBird(BigBirdLayout::new(
        n,
        config.param(&BLOCK) as usize,
        config.param(&GLOBAL_BLOCKS) as usize,
        config.param(&WINDOW_BLOCKS) as usize,
        config.param(&RANDOM) as usize,
        config.causal,
        config.seed,
    ))
}

/// A window is centred: its width is odd.
fn odd_window(params: &mut ParamValues) -> Vec<ParamFix> {
    let w = params
        .get(WINDOW_BLOCKS.key)
        .copied()
        .unwrap_or(WINDOW_BLOCKS.default);
    if w % 2 == 0 {
        params.insert(WINDOW_BLOCKS.key.into(), w + 1);
        vec![ParamFix {
            key: WINDOW_BLOCKS.key,
            problem: format!("window-blocks={w} is even"),
            value: w + 1,
        }]
    } else {
        Vec::new()
    }
}

/// Registry entry (`--method bigbird`).
pub static BIGBIRD: Structured = Structured {
    info: &INFO,
    build,
    fix: odd_window,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::AttentionMethod;
    use crate::attention::testing::twin_rel_err;
    use crate::inputs::Inputs;

    /// Mean rel_err of BigBird over seeds, for R random blocks.
    fn mean_error(random: u64) -> f64 {
        let mut total = 0.0;
        for seed in 0..6u64 {
            let x = Inputs::seeded(192, 16, 40 + seed);
            let params: ParamValues = [
                ("block", 16),
                ("global-blocks", 1),
                ("window-blocks", 3),
                ("random", random),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let config = Config {
                causal: false,
                seed,
                params: &params,
            };
            let twin = BIGBIRD.cpu_twin(&x, &config).unwrap();
            total += twin_rel_err(&*twin, &x);
        }
        total / 6.0
    }

    #[test]
    fn more_random_blocks_lower_the_error_on_average() {
        let (none, some, more) = (mean_error(0), mean_error(2), mean_error(6));
        assert!(
            some < none && more < some,
            "R = 0, 2, 6 give {none}, {some}, {more}"
        );
    }
}

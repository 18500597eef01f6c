//! The models of the Model Size Comparison: each with its exact
//! configuration (the released checkpoint's `config.json` on the Hugging
//! Face hub, whose field names are given) and the parameter counts its
//! paper, repository or model card publishes, each with its source and the
//! check a test makes of the count [`Architecture::count`] computes.
//!
//! Published counts are rounded, and a few are wrong; every difference is
//! stated beside its count:
//!
//! * BERT's 110M and 340M are the computed 109.48M and 335.14M at two
//!   significant figures.
//! * GPT-2's paper (Table 2) gives 117M, 345M, 762M and 1542M; OpenAI's
//!   repository says "our original parameter counts were wrong due to an
//!   error" and names the checkpoints 124M, 355M, 774M and 1558M — what the
//!   formula gives. All four paper figures are what the same formula gives
//!   with a 40,478-token vocabulary (GPT-1's) instead of GPT-2's 50,257: a
//!   consistent explanation of the slip (OpenAI did not say what the error
//!   was).
//! * TinyBERT-4 (14.5M), MobileBERT (25.3M) and ALBERT-xlarge/xxlarge (60M,
//!   235M) are 1–6% above what their released configurations hold; the
//!   papers give no breakdown, and the notes say what was ruled out.
//! * Pythia's model card gives exact counts, which the formula matches.
//!
//! `implementation` is the count of the model as Hugging Face transformers
//! builds it (the sum of `numel()` over the base model class's
//! parameters), where we found it published: the formula must equal it.

use super::{Architecture, EmbeddingStyle, LmHead};

/// How a published count is checked against the computed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// |computed − published| ≤ this many parameters.
    Within(u64),
    /// The source truncates to whole `unit`s: published ≤ computed <
    /// published + unit.
    Truncated {
        /// The unit the source counts in (1 000 000 for "11M").
        unit: u64,
    },
    /// The source counted with another vocabulary: the formula with
    /// `vocab` gives the published count within `within`.
    WithVocabulary {
        /// The vocabulary size the source's count implies.
        vocab: u64,
        /// Tolerance in parameters.
        within: u64,
    },
}

/// A parameter count as a paper, repository or model card gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The count as published (110M → 110 000 000).
    pub params: u64,
    /// Where (paper and table, or repository file, or model card).
    pub source: &'static str,
    /// What a test checks.
    pub check: Check,
    /// Why the tolerance, and what any difference is.
    pub note: &'static str,
}

/// A model of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// URL / CLI name (a contract: `bert-base`, `gpt2`, …).
    pub key: &'static str,
    /// Display name.
    pub label: &'static str,
    /// The paper that introduced it.
    pub paper: &'static str,
    /// The checkpoint whose `config.json` gives the configuration.
    pub config_source: &'static str,
    /// The configuration.
    pub arch: Architecture,
    /// Published counts, the primary one first.
    pub published: &'static [Published],
    /// The count Hugging Face transformers holds for the base model, where
    /// found published.
    pub implementation: Option<u64>,
}

impl Preset {
    /// The primary published count.
    pub fn primary(&self) -> &'static Published {
        &self.published[0]
    }
}

/// The preset named `key`.
pub fn preset(key: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.key == key)
}

/// Every preset's key, in the comparison's order.
pub fn keys() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.key).collect()
}

const M: u64 = 1_000_000;

const BERT_PAPER: &str = "Devlin et al. 2019, BERT (NAACL), §3";
const ALBERT_PAPER: &str = "Lan et al. 2020, ALBERT (ICLR), Table 1";
const ALBERT_ROUNDING: &str = "the table gives whole millions";
const GPT2_PAPER: &str =
    "Radford et al. 2019, Language Models are Unsupervised Multitask Learners, Table 2";
const GPT2_REPOSITORY: &str =
    "openai/gpt-2 README.md and DEVELOPERS.md (checkpoint names 124M, 355M, 774M, 1558M)";
const GPT2_ROUNDING: &str = "the checkpoint is named to the million";
const GPT2_SLIP: &str = "the paper's count, which OpenAI's README says was wrong; the same formula with GPT-1's \
     40,478-token vocabulary instead of 50,257 gives it to the million — a consistent explanation";
const GPT1_VOCAB: u64 = 40_478;
const ROBERTA_SOURCE: &str = "fairseq examples/roberta/README.md, Pre-trained models table";
const PYTHIA_SOURCE: &str =
    "EleutherAI/pythia model card, Naming convention and parameter count table";
const PYTHIA_EXACT: &str = "the card gives the exact count";

/// ALBERT's configuration (`albert-*-v2`): V = 30 000, E = 128, shared layers.
const fn albert(hidden: u64, layers: u64, heads: u64) -> Architecture {
    Architecture {
        embedding: 128,
        embedding_style: EmbeddingStyle::Factorised,
        shared_layers: true,
        ..Architecture::encoder(30_000, hidden, layers, heads, 4 * hidden)
    }
}

/// Pythia's (GPT-NeoX): rotary positions (no table), untied output layer.
const fn pythia(hidden: u64, layers: u64, heads: u64) -> Architecture {
    Architecture {
        lm_head: LmHead::Untied,
        ..Architecture::decoder(50_304, 0, hidden, layers, heads)
    }
}

/// GPT-2's: 50 257 tokens, 1024 positions, F = 4H, tied output layer.
const fn gpt2(hidden: u64, layers: u64, heads: u64) -> Architecture {
    Architecture::decoder(50_257, 1024, hidden, layers, heads)
}

/// RoBERTa's: 50 265 tokens, 514 positions (2 reserved for padding), one
/// token type.
const fn roberta(hidden: u64, layers: u64, heads: u64) -> Architecture {
    Architecture {
        positions: 514,
        type_vocab: 1,
        ..Architecture::encoder(50_265, hidden, layers, heads, 4 * hidden)
    }
}

/// MobileBERT (`google/mobilebert-uncased`): hidden_size 512,
/// embedding_size 128 with trigram_input, true_hidden_size =
/// intra_bottleneck_size 128, intermediate_size 512,
/// num_feedforward_networks 4, 24 layers, 4 heads,
/// key_query_shared_bottleneck true, use_bottleneck_attention false,
/// normalization_type no_norm (scale and bias, as a layer norm),
/// classifier_activation false (the pooler has no dense layer).
const MOBILEBERT: Architecture = Architecture {
    embedding: 128,
    embedding_style: EmbeddingStyle::Trigram,
    pooler: false,
    bottleneck: 128,
    shared_query_key_bottleneck: true,
    ffn_stack: 4,
    ..Architecture::encoder(30_522, 512, 24, 4, 512)
};

/// The models, in the comparison's order.
pub static PRESETS: &[Preset] = &[
    Preset {
        key: "bert-base",
        label: "BERT-base",
        paper: BERT_PAPER,
        config_source: "google-bert/bert-base-uncased: vocab_size 30522, max_position_embeddings 512, \
             type_vocab_size 2, hidden_size 768, num_hidden_layers 12, num_attention_heads 12, \
             intermediate_size 3072",
        arch: Architecture::encoder(30_522, 768, 12, 12, 3072),
        published: &[Published {
            params: 110 * M,
            source: "Devlin et al. 2019, §3: BERT_BASE … Total Parameters=110M",
            check: Check::Within(5 * M),
            note: "two significant figures: 109.48M rounds to 110M",
        }],
        implementation: Some(109_482_240),
    },
    Preset {
        key: "bert-large",
        label: "BERT-large",
        paper: BERT_PAPER,
        config_source: "google-bert/bert-large-uncased: hidden_size 1024, num_hidden_layers 24, \
             num_attention_heads 16, intermediate_size 4096 (vocabulary, positions, types as base)",
        arch: Architecture::encoder(30_522, 1024, 24, 16, 4096),
        published: &[Published {
            params: 340 * M,
            source: "Devlin et al. 2019, §3: BERT_LARGE … Total Parameters=340M",
            check: Check::Within(5 * M),
            note: "two significant figures: 335.14M rounds to 340M (just)",
        }],
        implementation: Some(335_141_888),
    },
    Preset {
        key: "distilbert",
        label: "DistilBERT",
        paper: "Sanh et al. 2019, DistilBERT (NeurIPS EMC² workshop), Table 3",
        config_source: "distilbert/distilbert-base-uncased: vocab_size 30522, max_position_embeddings 512, \
             dim 768, n_layers 6, n_heads 12, hidden_dim 3072; no token types, no pooler",
        arch: Architecture {
            type_vocab: 0,
            pooler: false,
            ..Architecture::encoder(30_522, 768, 6, 12, 3072)
        },
        published: &[Published {
            params: 66 * M,
            source: "Sanh et al. 2019, Table 3: DistilBERT 66M parameters",
            check: Check::Within(M / 2),
            note: "whole millions: 66.36M",
        }],
        implementation: Some(66_362_880),
    },
    Preset {
        key: "tinybert-4",
        label: "TinyBERT-4",
        paper: "Jiao et al. 2020, TinyBERT (Findings of EMNLP), Table 1",
        config_source: "huawei-noah/TinyBERT_General_4L_312D: hidden_size 312, num_hidden_layers 4, \
             num_attention_heads 12, intermediate_size 1200 (BERT's vocabulary, positions, types)",
        arch: Architecture::encoder(30_522, 312, 4, 12, 1200),
        published: &[Published {
            params: 14_500_000,
            source: "Jiao et al. 2020, Table 1: TinyBERT4 14.5M parameters",
            check: Check::Within(200_000),
            note: "the paper is 1.0% above the released configuration's 14.35M (also what Hugging Face \
                   counts); the 312→768 fit_dense projection of the authors' TinyBertForPreTraining, \
                   used only while distilling, would make it 14.59M; no breakdown is published",
        }],
        implementation: Some(14_350_248),
    },
    Preset {
        key: "mobilebert",
        label: "MobileBERT",
        paper: "Sun et al. 2020, MobileBERT (ACL), Table 1",
        config_source: "google/mobilebert-uncased: vocab_size 30522, embedding_size 128 (trigram_input), \
             hidden_size 512, true_hidden_size 128, intra_bottleneck_size 128, intermediate_size 512, \
             num_feedforward_networks 4, num_hidden_layers 24, num_attention_heads 4, \
             key_query_shared_bottleneck, no pooler dense layer (classifier_activation false)",
        arch: MOBILEBERT,
        published: &[Published {
            params: 25_300_000,
            source: "Sun et al. 2020, Table 1 (and google-research/mobilebert README): 25.3M parameters",
            check: Check::Within(750_000),
            note: "the paper is 2.9% above the released configuration's 24.58M, which the formula \
                   matches exactly once MobileBERT's bottlenecks are counted (an input bottleneck, a \
                   second one shared by queries and keys, four stacked feed-forward networks, the \
                   output bottleneck); neither a pooler dense layer (0.26M) nor the pre-training heads \
                   (12.0M: the MLM output adds a 384×V projection) accounts for the gap",
        }],
        implementation: Some(24_581_888),
    },
    Preset {
        key: "albert-base",
        label: "ALBERT-base",
        paper: ALBERT_PAPER,
        config_source: "albert/albert-base-v2: vocab_size 30000, embedding_size 128, hidden_size 768, \
             num_hidden_layers 12, num_attention_heads 12, intermediate_size 3072, one shared layer group",
        arch: albert(768, 12, 12),
        published: &[
            Published {
                params: 12 * M,
                source: "Lan et al. 2020, Table 1: ALBERT base 12M",
                check: Check::Within(M / 2),
                note: ALBERT_ROUNDING,
            },
            Published {
                params: 11 * M,
                source: "albert/albert-base-v2 model card: 11M parameters",
                check: Check::Truncated { unit: M },
                note: "the card truncates 11.68M to 11M",
            },
        ],
        implementation: Some(11_683_584),
    },
    Preset {
        key: "albert-large",
        label: "ALBERT-large",
        paper: ALBERT_PAPER,
        config_source: "albert/albert-large-v2: hidden_size 1024, num_hidden_layers 24, \
             num_attention_heads 16, intermediate_size 4096 (E = 128, V = 30000)",
        arch: albert(1024, 24, 16),
        published: &[
            Published {
                params: 18 * M,
                source: "Lan et al. 2020, Table 1: ALBERT large 18M",
                check: Check::Within(M / 2),
                note: ALBERT_ROUNDING,
            },
            Published {
                params: 17 * M,
                source: "albert/albert-large-v2 model card: 17M parameters",
                check: Check::Truncated { unit: M },
                note: "the card truncates 17.68M to 17M",
            },
        ],
        implementation: None,
    },
    Preset {
        key: "albert-xlarge",
        label: "ALBERT-xlarge",
        paper: ALBERT_PAPER,
        config_source: "albert/albert-xlarge-v2: hidden_size 2048, num_hidden_layers 24, \
             num_attention_heads 16, intermediate_size 8192 (E = 128, V = 30000)",
        arch: albert(2048, 24, 16),
        published: &[Published {
            params: 60 * M,
            source: "Lan et al. 2020, Table 1: ALBERT xlarge 60M",
            check: Check::Within(1_500_000),
            note: "the table is 2.2% above the released configuration's 58.72M; no breakdown is published",
        }],
        implementation: None,
    },
    Preset {
        key: "albert-xxlarge",
        label: "ALBERT-xxlarge",
        paper: ALBERT_PAPER,
        config_source: "albert/albert-xxlarge-v2: hidden_size 4096, num_hidden_layers 12, \
             num_attention_heads 64, intermediate_size 16384 (E = 128, V = 30000)",
        arch: albert(4096, 12, 64),
        published: &[
            Published {
                params: 235 * M,
                source: "Lan et al. 2020, Table 1: ALBERT xxlarge 235M",
                check: Check::Within(13 * M),
                note: "the table is 5.6% above the released configuration's 222.60M (which the model card \
                       confirms); the pre-training heads add 0.56M; no breakdown is published",
            },
            Published {
                params: 223 * M,
                source: "albert/albert-xxlarge-v2 model card: 223M parameters",
                check: Check::Within(M / 2),
                note: "whole millions",
            },
        ],
        implementation: None,
    },
    Preset {
        key: "gpt2",
        label: "GPT-2",
        paper: GPT2_PAPER,
        config_source: "openai-community/gpt2: vocab_size 50257, n_positions 1024, n_embd 768, n_layer 12, \
             n_head 12, n_inner 4·768; tied output layer",
        arch: gpt2(768, 12, 12),
        published: &[
            Published {
                params: 124 * M,
                source: GPT2_REPOSITORY,
                check: Check::Within(M / 2),
                note: GPT2_ROUNDING,
            },
            Published {
                params: 117 * M,
                source: GPT2_PAPER,
                check: Check::WithVocabulary {
                    vocab: GPT1_VOCAB,
                    within: M / 2,
                },
                note: GPT2_SLIP,
            },
        ],
        implementation: Some(124_439_808),
    },
    Preset {
        key: "gpt2-medium",
        label: "GPT-2 medium",
        paper: GPT2_PAPER,
        config_source: "openai-community/gpt2-medium: n_embd 1024, n_layer 24, n_head 16 (as gpt2 otherwise)",
        arch: gpt2(1024, 24, 16),
        published: &[
            Published {
                params: 355 * M,
                source: GPT2_REPOSITORY,
                check: Check::Within(M / 2),
                note: GPT2_ROUNDING,
            },
            Published {
                params: 345 * M,
                source: GPT2_PAPER,
                check: Check::WithVocabulary {
                    vocab: GPT1_VOCAB,
                    within: M / 2,
                },
                note: GPT2_SLIP,
            },
        ],
        implementation: Some(354_823_168),
    },
    Preset {
        key: "gpt2-large",
        label: "GPT-2 large",
        paper: GPT2_PAPER,
        config_source: "openai-community/gpt2-large: n_embd 1280, n_layer 36, n_head 20",
        arch: gpt2(1280, 36, 20),
        published: &[
            Published {
                params: 774 * M,
                source: GPT2_REPOSITORY,
                check: Check::Within(M / 2),
                note: GPT2_ROUNDING,
            },
            Published {
                params: 762 * M,
                source: GPT2_PAPER,
                check: Check::WithVocabulary {
                    vocab: GPT1_VOCAB,
                    within: M / 2,
                },
                note: GPT2_SLIP,
            },
        ],
        implementation: Some(774_030_080),
    },
    Preset {
        key: "gpt2-xl",
        label: "GPT-2 XL",
        paper: GPT2_PAPER,
        config_source: "openai-community/gpt2-xl: n_embd 1600, n_layer 48, n_head 25",
        arch: gpt2(1600, 48, 25),
        published: &[
            Published {
                params: 1558 * M,
                source: GPT2_REPOSITORY,
                check: Check::Within(M / 2),
                note: GPT2_ROUNDING,
            },
            Published {
                params: 1542 * M,
                source: GPT2_PAPER,
                check: Check::WithVocabulary {
                    vocab: GPT1_VOCAB,
                    within: M / 2,
                },
                note: GPT2_SLIP,
            },
        ],
        implementation: Some(1_557_611_200),
    },
    Preset {
        key: "roberta-base",
        label: "RoBERTa-base",
        paper: "Liu et al. 2019, RoBERTa (arXiv:1907.11692)",
        config_source: "FacebookAI/roberta-base: vocab_size 50265, max_position_embeddings 514, \
             type_vocab_size 1, hidden_size 768, num_hidden_layers 12, num_attention_heads 12, \
             intermediate_size 3072",
        arch: roberta(768, 12, 12),
        published: &[Published {
            params: 125 * M,
            source: ROBERTA_SOURCE,
            check: Check::Within(M / 2),
            note: "whole millions: 124.65M",
        }],
        implementation: Some(124_645_632),
    },
    Preset {
        key: "roberta-large",
        label: "RoBERTa-large",
        paper: "Liu et al. 2019, RoBERTa (arXiv:1907.11692)",
        config_source: "FacebookAI/roberta-large: hidden_size 1024, num_hidden_layers 24, \
             num_attention_heads 16, intermediate_size 4096 (as roberta-base otherwise)",
        arch: roberta(1024, 24, 16),
        published: &[Published {
            params: 355 * M,
            source: ROBERTA_SOURCE,
            check: Check::Within(M / 2),
            note: "whole millions: 355.36M",
        }],
        implementation: Some(355_359_744),
    },
    Preset {
        key: "pythia-70m",
        label: "Pythia-70M",
        paper: "Biderman et al. 2023, Pythia (ICML), Table 1",
        config_source: "EleutherAI/pythia-70m: vocab_size 50304, hidden_size 512, num_hidden_layers 6, \
             num_attention_heads 8, intermediate_size 2048, rotary positions, tie_word_embeddings false",
        arch: pythia(512, 6, 8),
        published: &[Published {
            params: 70_426_624,
            source: PYTHIA_SOURCE,
            check: Check::Within(0),
            note: PYTHIA_EXACT,
        }],
        implementation: Some(70_426_624),
    },
    Preset {
        key: "pythia-160m",
        label: "Pythia-160M",
        paper: "Biderman et al. 2023, Pythia (ICML), Table 1",
        config_source: "EleutherAI/pythia-160m: hidden_size 768, num_hidden_layers 12, \
             num_attention_heads 12, intermediate_size 3072 (as pythia-70m otherwise)",
        arch: pythia(768, 12, 12),
        published: &[Published {
            params: 162_322_944,
            source: PYTHIA_SOURCE,
            check: Check::Within(0),
            note: PYTHIA_EXACT,
        }],
        implementation: Some(162_322_944),
    },
    Preset {
        key: "pythia-410m",
        label: "Pythia-410M",
        paper: "Biderman et al. 2023, Pythia (ICML), Table 1",
        config_source: "EleutherAI/pythia-410m: hidden_size 1024, num_hidden_layers 24, \
             num_attention_heads 16, intermediate_size 4096 (as pythia-70m otherwise)",
        arch: pythia(1024, 24, 16),
        published: &[Published {
            params: 405_334_016,
            source: PYTHIA_SOURCE,
            check: Check::Within(0),
            note: PYTHIA_EXACT,
        }],
        implementation: Some(405_334_016),
    },
];

/// Non-embedding counts the Pythia model card publishes (Kaplan et al.'s
/// N): `(preset, count)`.
pub const PYTHIA_NON_EMBEDDING: [(&str, u64); 3] = [
    ("pythia-70m", 18_915_328),
    ("pythia-160m", 85_056_000),
    ("pythia-410m", 302_311_424),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_the_contract_names_exist() {
        let keys = keys();
        for (i, k) in keys.iter().enumerate() {
            assert!(!keys[i + 1..].contains(k), "{k} twice");
        }
        for name in [
            "bert-base",
            "bert-large",
            "distilbert",
            "tinybert-4",
            "mobilebert",
            "albert-base",
            "albert-large",
            "albert-xxlarge",
            "gpt2",
            "gpt2-medium",
        ] {
            assert!(preset(name).is_some(), "{name}");
        }
    }

    #[test]
    fn every_preset_is_a_valid_architecture() {
        for p in PRESETS {
            assert_eq!(p.arch.check(), Ok(()), "{}", p.key);
            assert!(!p.published.is_empty(), "{}", p.key);
        }
    }
}

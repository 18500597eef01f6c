//! The survey's Practical Recommendations (Fournier, Caron & Aloise 2023,
//! §"Conclusion", Practical Recommendations table), each in the survey's
//! words, with the evidence this app can bring: the attention methods it
//! names, judged against exact attention in a comparison measured on this
//! machine; a lab that runs what it recommends (quantization, model size);
//! or, honestly, what is not runnable here yet.
//!
//! Methods are named by their registry keys and looked up at run time, so a
//! recommendation whose methods are not (yet) registered says so instead of
//! linking nowhere; labs are named by family and their routes come from
//! [`crate::pipeline::labs::LABS`].

use super::{CompareRow, REFERENCE_METHOD, RowStatus, reference_row};
use crate::attention::MethodId;
use crate::pipeline::labs::LABS;

/// Where the table comes from.
pub const SOURCE: &str = "Fournier, Caron & Aloise (2023), A Practical Survey on Faster and Lighter Transformers, Conclusion: Practical Recommendations";

/// One row of the survey's table and the evidence for it here.
#[derive(Debug, Clone, Copy)]
pub struct Recommendation {
    /// The scenario, in the survey's words.
    pub scenario: &'static str,
    /// The recommended approach, in the survey's words.
    pub approach: &'static str,
    /// What this app can show about it.
    pub evidence: &'static [Evidence],
}

/// What can support or question a recommendation here.
#[derive(Debug, Clone, Copy)]
pub enum Evidence {
    /// Attention methods of the registry, judged in a comparison against
    /// exact attention: supported where a method is faster than exact
    /// attention on the same backend *and* its rel_err beats the mean-of-V
    /// baseline, under `condition`.
    Attention {
        /// Registry keys.
        methods: &'static [&'static str],
        /// The sequence length must exceed this for the claim to apply.
        above_n: usize,
        /// The n the links run at when the table's n does not qualify.
        test_n: usize,
        /// The claim is about causal attention.
        causal: bool,
        /// When the claim applies, in words.
        condition: &'static str,
    },
    /// A lab of the app that runs part of the recommendation.
    Lab {
        /// The lab's family in [`LABS`].
        family: &'static str,
        /// The query the link opens it with (its own URL keys).
        query: &'static str,
        /// The link's text.
        link: &'static str,
        /// What it shows and what it does not.
        shows: &'static str,
    },
    /// Part of the recommendation that nothing here runs yet.
    NotRunnable {
        /// What.
        what: &'static str,
        /// Why, or what would be needed.
        why: &'static str,
    },
}

/// The survey's Practical Recommendations table, row by row.
pub const RECOMMENDATIONS: &[Recommendation] = &[
    Recommendation {
        scenario: "Long sequences (>512)",
        approach: "Longformer, BigBird, Performer",
        evidence: &[Evidence::Attention {
            methods: &["longformer", "bigbird", "performer"],
            above_n: 512,
            test_n: 1024,
            causal: false,
            condition: "n > 512, as the survey's scenario says",
        }],
    },
    Recommendation {
        scenario: "Resource-constrained deployment",
        approach: "DistilBERT + INT8",
        evidence: &[
            Evidence::Lab {
                family: "model-size",
                query: "model=distilbert&precision=int8",
                link: "DistilBERT at INT8",
                shows: "its parameters counted part by part and its size at every precision, beside BERT's",
            },
            Evidence::Lab {
                family: "quantization",
                query: "bits=8",
                link: "INT8 quantization on this GPU",
                shows: "8-bit weights' error, and the int8 matrix product timed against f32",
            },
        ],
    },
    Recommendation {
        scenario: "Memory-limited training",
        approach: "Gradient checkpointing + Mixed precision",
        evidence: &[
            Evidence::NotRunnable {
                what: "Gradient checkpointing",
                why: "the app runs inference kernels; there is no training-memory lab yet",
            },
            Evidence::Lab {
                family: "quantization",
                query: "format=bf16",
                link: "bf16 and fp16 rounding",
                shows: "the rounding error of half-precision weights (what mixed precision stores), not a training run",
            },
        ],
    },
    Recommendation {
        scenario: "Autoregressive generation",
        approach: "Transformer-XL, Compressive",
        evidence: &[Evidence::Attention {
            methods: &["transformer-xl", "compressive"],
            above_n: 512,
            test_n: 1024,
            causal: true,
            condition: "causal attention over a long sequence (n > 512), where a bounded memory matters",
        }],
    },
    Recommendation {
        scenario: "Classification tasks",
        approach: "Funnel-Transformer",
        evidence: &[Evidence::NotRunnable {
            what: "Funnel-Transformer (Dai et al. 2020)",
            why: "not implemented here yet: it pools the sequence between layers, a model rather than an attention method",
        }],
    },
    Recommendation {
        scenario: "Maximum compression",
        approach: "Distillation → Pruning → Quantization",
        evidence: &[
            Evidence::Lab {
                family: "model-size",
                query: "teacher=bert-large&student=distilbert&bits=8",
                link: "the Combining Techniques calculator",
                shows: "the size after each step, BERT-large → DistilBERT → pruned → 8 bits, beside the survey's 40–85×",
            },
            Evidence::Lab {
                family: "quantization",
                query: "bits=4",
                link: "the quantization step's error",
                shows: "what the last step costs in accuracy, at any bit width",
            },
        ],
    },
];

/// A row of the survey's Summary Table that is not an attention method, as
/// the survey gives it, and the lab that runs it.
#[derive(Debug, Clone, Copy)]
pub struct SummaryRow {
    /// The technique, as the survey names it.
    pub method: &'static str,
    /// Its time, as the survey gives it.
    pub time: &'static str,
    /// Its space.
    pub space: &'static str,
    /// What it is best for.
    pub best_for: &'static str,
    /// The lab that runs it (a family of [`LABS`]).
    pub family: &'static str,
    /// The query the link opens the lab with.
    pub query: &'static str,
    /// What the lab shows of it.
    pub shows: &'static str,
}

/// The rest of the survey's Summary Table (§"Comprehensive Comparison"):
/// the compression techniques beside the attention methods.
pub const BEYOND_ATTENTION: &[SummaryRow] = &[
    SummaryRow {
        method: "DistilBERT",
        time: "Same",
        space: "Same",
        best_for: "Deployment",
        family: "model-size",
        query: "model=distilbert",
        shows: "its parameters counted part by part, beside BERT-base's",
    },
    SummaryRow {
        method: "INT8 Quant",
        time: "~3× faster",
        space: "4× smaller",
        best_for: "Inference",
        family: "quantization",
        query: "bits=8",
        shows: "8-bit weights' error and size, and the int8 matrix product timed against f32",
    },
    SummaryRow {
        method: "ALBERT",
        time: "Same",
        space: "18× smaller",
        best_for: "Memory-constrained",
        family: "model-size",
        query: "model=albert-base",
        shows: "its shared layers and factorised embeddings counted, and the 18× recomputed",
    },
];

/// The route of a lab by family (`None`: no such lab).
pub fn lab_route(family: &str) -> Option<&'static str> {
    LABS.iter().find(|l| l.family == family).map(|l| l.route)
}

/// What the measurements say about one method of a recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Faster than exact attention and better than the mean of V.
    Supports,
    /// Measured under the claim's condition, and not both.
    Questions,
    /// Not measured under the claim's condition (the table's n or
    /// causality, a skipped or failed row, a method not registered).
    NotMeasured,
}

impl Verdict {
    /// `"supports"`, `"questions"`, `"not-measured"`.
    pub fn key(self) -> &'static str {
        match self {
            Verdict::Supports => "supports",
            Verdict::Questions => "questions",
            Verdict::NotMeasured => "not-measured",
        }
    }
}

/// One method of a recommendation, judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The registry key the survey's name stands for.
    pub method: &'static str,
    /// The method's name, or the key if it is not registered.
    pub label: String,
    /// Whether the method is in the registry (only then can it be linked).
    pub registered: bool,
    /// What the measurements say.
    pub verdict: Verdict,
    /// Why, with the figures.
    pub text: String,
}

/// Why a table at `n` (causal or not) cannot test an
/// [`Evidence::Attention`] claim, or `None` when it can.
pub fn outside(evidence: &Evidence, n: usize, causal: bool) -> Option<String> {
    let Evidence::Attention {
        above_n,
        causal: wants_causal,
        condition,
        ..
    } = *evidence
    else {
        return None;
    };
    let table = match (n <= above_n, wants_causal != causal) {
        (false, false) => return None,
        (true, false) => format!("this table is at n = {n}"),
        (false, true) => format!(
            "this table is {}",
            if causal { "causal" } else { "not causal" }
        ),
        (true, true) => format!(
            "this table is at n = {n}, {}",
            if causal { "causal" } else { "not causal" }
        ),
    };
    Some(format!("{table}; the claim is for {condition}"))
}

/// Judges the methods of an [`Evidence::Attention`] against a comparison's
/// rows, measured at `n` (causal or not). Other evidence gives nothing.
pub fn judge(evidence: &Evidence, rows: &[CompareRow], n: usize, causal: bool) -> Vec<Finding> {
    let Evidence::Attention { methods, .. } = *evidence else {
        return Vec::new();
    };
    let full = reference_row(rows);
    methods
        .iter()
        .map(|&key| {
            let Some(id) = MethodId::from_key(key) else {
                return Finding {
                    method: key,
                    label: key.to_string(),
                    registered: false,
                    verdict: Verdict::NotMeasured,
                    text: "not runnable here yet: not in this app's registry".into(),
                };
            };
            let label = id.info().label.to_string();
            let found = |verdict, text: String| Finding {
                method: key,
                label: label.clone(),
                registered: true,
                verdict,
                text,
            };
            if let Some(why) = outside(evidence, n, causal) {
                return found(Verdict::NotMeasured, why);
            }
            let Some(row) = rows.iter().find(|r| r.method == key) else {
                return found(Verdict::NotMeasured, "not run yet".into());
            };
            if row.status == RowStatus::Pending {
                return found(Verdict::NotMeasured, "not run yet".into());
            }
            if row.status != RowStatus::Measured {
                return found(
                    Verdict::NotMeasured,
                    format!(
                        "not measured: {}",
                        row.error.as_deref().unwrap_or(row.status.key())
                    ),
                );
            }
            let (Some(err), Some(mean_v)) = (row.rel_err, row.baseline_mean_v_rel_err) else {
                return found(Verdict::NotMeasured, "no error figure".into());
            };
            let error = if err < mean_v {
                format!("rel_err {err:.3} beats the mean of V ({mean_v:.3})")
            } else {
                format!("rel_err {err:.3} is no better than the mean of V ({mean_v:.3})")
            };
            let Some(ratio) = row.time_vs_full else {
                let why = match full {
                    None => format!("{REFERENCE_METHOD} attention was not measured"),
                    Some(f) => format!(
                        "it ran on {}, {REFERENCE_METHOD} attention on {}",
                        row.backend.as_deref().unwrap_or("?"),
                        f.backend.as_deref().unwrap_or("?")
                    ),
                };
                return found(
                    Verdict::NotMeasured,
                    format!("time not comparable ({why}); {error}"),
                );
            };
            let speed = if ratio < 1.0 {
                format!("{:.2}× faster than exact attention", 1.0 / ratio)
            } else {
                format!("{ratio:.2}× exact attention's time (slower)")
            };
            let verdict = if ratio < 1.0 && err < mean_v {
                Verdict::Supports
            } else {
                Verdict::Questions
            };
            found(verdict, format!("{speed}; {error}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lab_named_exists_and_attention_evidence_names_the_claim() {
        for r in RECOMMENDATIONS {
            assert!(!r.evidence.is_empty(), "{}", r.scenario);
            for e in r.evidence {
                match e {
                    Evidence::Lab { family, .. } => {
                        assert!(lab_route(family).is_some(), "no lab {family}")
                    }
                    Evidence::Attention {
                        methods,
                        above_n,
                        test_n,
                        ..
                    } => {
                        assert!(!methods.is_empty());
                        assert!(test_n > above_n);
                    }
                    Evidence::NotRunnable { .. } => {}
                }
            }
        }
    }

    #[test]
    fn an_unregistered_method_is_not_runnable_rather_than_linked() {
        let e = Evidence::Attention {
            methods: &["full", "no-such-method"],
            above_n: 0,
            test_n: 16,
            causal: false,
            condition: "any n",
        };
        let f = judge(&e, &[], 8, false);
        assert!(f[0].registered);
        assert_eq!(f[0].verdict, Verdict::NotMeasured);
        assert!(!f[1].registered);
        assert!(f[1].text.contains("not runnable here yet"));
    }
}

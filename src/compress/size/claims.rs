//! The survey's size claims, recomputed: each figure the survey gives for
//! a model's size or a technique's compression (§"Knowledge Distillation",
//! §"Quantization", §"Weight Sharing", §"Combining Techniques", the Summary
//! Table of §"Comprehensive Comparison") beside what the configurations
//! give, and how it was computed.

use serde::{Deserialize, Serialize};

use super::combine::{Combination, SURVEY_PRUNING, SURVEY_RANGE, combine};
use super::{Architecture, Precision, preset};

/// One claim of the survey and its recomputation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// The survey's section.
    pub section: String,
    /// What it says ("TinyBERT: 7.5× smaller").
    pub claim: String,
    /// Its figure (a range as low, high; a single figure twice).
    pub survey: (f64, f64),
    /// The computed figure, in the same unit.
    pub computed: (f64, f64),
    /// `"×"` (times smaller) or `"% smaller"`.
    pub unit: String,
    /// How it was computed.
    pub how: String,
}

fn params(key: &str) -> f64 {
    preset(key).map_or(0.0, |p| p.arch.count().params as f64)
}

fn arch(key: &str) -> Architecture {
    preset(key).map(|p| p.arch).unwrap_or_default()
}

fn times(
    section: &str,
    claim: &str,
    survey: (f64, f64),
    computed: (f64, f64),
    how: String,
) -> Claim {
    Claim {
        section: section.into(),
        claim: claim.into(),
        survey,
        computed,
        unit: "×".into(),
        how,
    }
}

fn ratio_of(big: &str, small: &str) -> (f64, String) {
    let (b, s) = (params(big), params(small));
    (
        b / s,
        format!("{big} {:.2}M / {small} {:.2}M", b / 1e6, s / 1e6),
    )
}

/// The distillation table's "DistilBERT 40% smaller, TinyBERT 7.5×,
/// MobileBERT 4×", against BERT-base.
fn distillation() -> Vec<Claim> {
    const SECTION: &str = "Knowledge Distillation (Popular Distilled Models)";
    let base = params("bert-base");
    let distil = params("distilbert");
    let smaller = 100.0 * (1.0 - distil / base);
    let mut out = vec![Claim {
        section: SECTION.into(),
        claim: "DistilBERT: 40% smaller than BERT".into(),
        survey: (40.0, 40.0),
        computed: (smaller, smaller),
        unit: "% smaller".into(),
        how: format!(
            "1 − distilbert {:.2}M / bert-base {:.2}M",
            distil / 1e6,
            base / 1e6
        ),
    }];
    for (key, label, survey) in [
        ("tinybert-4", "TinyBERT: 7.5× smaller", 7.5),
        ("mobilebert", "MobileBERT: 4× smaller", 4.0),
    ] {
        let (r, how) = ratio_of("bert-base", key);
        out.push(times(SECTION, label, (survey, survey), (r, r), how));
    }
    out
}

/// ALBERT's embedding factorisation and cross-layer sharing.
fn weight_sharing() -> Vec<Claim> {
    const SECTION: &str = "Weight Sharing (ALBERT's Innovations)";
    let plain = 30_000.0 * 768.0;
    let factorised = 30_000.0 * 128.0 + 128.0 * 768.0 + 768.0;
    let sharing = |key: &str| {
        let c = arch(key).count();
        c.params_unshared as f64 / c.params as f64
    };
    let (base, large) = (sharing("albert-base"), sharing("albert-large"));
    vec![
        times(
            SECTION,
            "Embedding factorisation: 30K × 768 = 23M → 30K × 128 + 128 × 768 = 4M, 6× smaller",
            (6.0, 6.0),
            (plain / factorised, plain / factorised),
            format!(
                "30000·768 = {:.2}M over 30000·128 + 128·768 + 768 (bias) = {:.2}M",
                plain / 1e6,
                factorised / 1e6
            ),
        ),
        times(
            SECTION,
            "Cross-layer sharing: 12–18× parameter reduction",
            (12.0, 18.0),
            (base, large),
            "whole model, every layer stored ÷ one layer stored: albert-base … albert-large (the layer \
             stack alone: 12× and 24×)"
                .into(),
        ),
    ]
}

/// The quantization table's size reductions (the Summary Table's "INT8
/// Quant: 4× smaller" among them).
fn quantization() -> Vec<Claim> {
    let bert = arch("bert-base").count();
    [
        Precision::Fp16,
        Precision::Int8,
        Precision::Int4,
        Precision::Binary,
    ]
    .into_iter()
    .map(|p| {
        let s = bert.size_at(p);
        let nominal = s.nominal_compression;
        times(
            "Quantization (Compression by Bit Width)",
            &format!("{p}: {nominal}× smaller"),
            (nominal, nominal),
            (s.compression, s.compression),
            format!(
                "bert-base: {:.1} MB at FP32 → {:.1} MB (scales, fp16 biases and norms counted)",
                bert.size_at(Precision::Fp32).bytes as f64 / 1e6,
                s.bytes as f64 / 1e6,
            ),
        )
    })
    .collect()
}

/// The Summary Table's "ALBERT: 18× smaller" (ALBERT-large against
/// BERT-large, as the ALBERT paper compares them).
fn summary() -> Claim {
    let (r, how) = ratio_of("bert-large", "albert-large");
    times(
        "Comprehensive Comparison (Summary Table)",
        "ALBERT: 18× smaller",
        (18.0, 18.0),
        (r, r),
        how,
    )
}

/// "340M → 66M → 33M → 8M effective … 40–85× compression".
fn combining() -> Claim {
    let run = |precision| {
        let named = |k: &str| (arch(k), k.to_string());
        combine(&Combination {
            teacher: named("bert-large"),
            student: Some(named("distilbert")),
            prune_heads: SURVEY_PRUNING.0,
            prune_ffn: SURVEY_PRUNING.1,
            precision,
        })
        .total_factor
    };
    times(
        "Combining Techniques (Recommended Pipeline)",
        "Distillation → pruning → quantization: 40–85× compression",
        SURVEY_RANGE,
        (run(Precision::Int8), run(Precision::Int4)),
        "bert-large → distilbert → 9 of 12 heads and 80% of the FFN width pruned → INT8 … INT4"
            .into(),
    )
}

/// Every claim, in the survey's order.
pub fn survey_claims() -> Vec<Claim> {
    let mut out = distillation();
    out.extend(quantization());
    out.extend(weight_sharing());
    out.push(combining());
    out.push(summary());
    out
}

//! The model-size lab (survey §"Weight Sharing", §"Combining Techniques",
//! §"Comprehensive Comparison"): a model configuration in, its parameter
//! count part by part (one formula, [`crate::compress::size`]), its size at
//! fp32 / fp16 / int8 / int4 / binary, its published counts beside the
//! computed one, the Combining Techniques calculator and — for the page —
//! every preset's sizes and the survey's size claims recomputed.
//!
//! This lab is arithmetic: it runs on the CPU whatever backend it is
//! given, and says so in the report (there is no GPU kernel to run, so the
//! envelope's FLOP and byte counts are zero, with that reason as their
//! formula, and nothing is timed).

use serde::{Deserialize, Serialize};

use super::report::{Envelope, Report};
use super::{Backend, Host, Lab, RunError};
use crate::attention::MethodError;
use crate::compress::size::presets::Check;
use crate::compress::size::{
    Architecture, Claim, Combination, Combined, PRESETS, ParamCount, Part, Precision,
    QUANTIZED_LAYOUT, SizeAt, combine, preset, survey_claims,
};
use crate::data::LocalFuture;
use crate::data::codes::KernelKind;

/// The family key of the lab's reports.
pub const FAMILY: &str = "model-size";

/// What the envelope says about the backend.
pub const CPU_ONLY: &str = "this lab is arithmetic on the configuration: it runs on the CPU, \
     there is no GPU kernel for it";

/// One model-size problem: a plain value.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSizeProblem {
    /// The preset the configuration starts from (`"bert-base"`).
    pub base_model: String,
    /// The configuration (the preset's, or edited).
    pub arch: Architecture,
    /// The precision of the headline size.
    pub precision: Precision,
    /// The Combining Techniques calculator, when asked.
    pub combination: Option<Combination>,
    /// Add every preset's row and the survey's claims (the page's chart
    /// and tables).
    pub comparison: bool,
}

impl ModelSizeProblem {
    /// The preset `key` as it is, at fp32, nothing else.
    pub fn preset(key: &str) -> Option<ModelSizeProblem> {
        preset(key).map(|p| ModelSizeProblem {
            base_model: p.key.into(),
            arch: p.arch,
            precision: Precision::Fp32,
            combination: None,
            comparison: false,
        })
    }

    /// `"bert-base"` when the configuration is the preset's, else `"custom"`.
    pub fn model(&self) -> &str {
        match preset(&self.base_model) {
            Some(p) if p.arch == self.arch => p.key,
            _ => "custom",
        }
    }

    /// `"BERT-base"`, or `"custom (from BERT-base)"`.
    pub fn label(&self) -> String {
        match preset(&self.base_model) {
            Some(p) if p.arch == self.arch => p.label.into(),
            Some(p) => format!("custom (from {})", p.label),
            None => "custom".into(),
        }
    }
}

/// A published count beside the computed one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedFigure {
    /// As published.
    pub params: u64,
    /// Where.
    pub source: String,
    /// computed − published.
    pub difference: i64,
    /// difference / published.
    pub relative_difference: f64,
    /// The vocabulary the source's count implies, when it counted with
    /// another one (GPT-2's paper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implied_vocab: Option<u64>,
    /// The difference explained.
    pub note: String,
}

/// One preset in the comparison: the chart's bars and the table's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    /// Preset key.
    pub model: String,
    /// Display name.
    pub label: String,
    /// Computed parameters.
    pub params: u64,
    /// The primary published count.
    pub published_params: u64,
    /// Its source.
    pub published_source: String,
    /// (computed − published) / published.
    pub relative_difference: f64,
    /// Bytes at fp32, fp16, int8, int4, binary (the order of
    /// [`Precision::ALL`]).
    pub bytes: Vec<u64>,
    /// Shared layers (ALBERT).
    pub shared_layers: bool,
    /// Hugging Face's count of the base model, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation_params: Option<u64>,
}

/// The lab's own figures, beside the envelope. The first keys are those of
/// `flt size --json`; keys are added, never renamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSizeFigures {
    /// The preset key, or `"custom"` for an edited configuration.
    pub model: String,
    /// The preset it starts from.
    pub base_model: String,
    /// Display name.
    pub model_label: String,
    /// The configuration.
    pub config: Architecture,
    /// Every parameter stored.
    pub params: u64,
    /// Bytes at fp32 (4 per parameter).
    pub bytes_fp32: u64,
    /// Bytes at fp16 (2 per parameter).
    pub bytes_fp16: u64,
    /// Bytes at int8: weights + one fp16 scale per row + fp16 vectors.
    pub bytes_int8: u64,
    /// Bytes at int4, counted as int8's.
    pub bytes_int4: u64,
    /// Bytes at 1 bit per weight, counted as int8's (α per row).
    pub bytes_binary: u64,
    /// What the quantized sizes count.
    pub quantized_layout: String,
    /// Whether the quantized sizes include the scales (always true).
    pub scales_counted: bool,
    /// The headline precision.
    pub precision: Precision,
    /// Bytes at it.
    pub size_bytes: u64,
    /// Every precision's size and what it counts.
    pub sizes: Vec<SizeAt>,
    /// All but the embedding tables and an untied output table.
    pub params_non_embedding: u64,
    /// What the model would hold without cross-layer sharing.
    pub params_unshared: u64,
    /// The embeddings (tables, norm, projection).
    pub params_embeddings: u64,
    /// One layer.
    pub params_per_layer: u64,
    /// Layers stored (1 when shared).
    pub layers_stored: u64,
    /// The stored layers.
    pub params_layers: u64,
    /// Final norm, pooler and output layer.
    pub params_top: u64,
    /// Embedding parts with their formulas.
    pub embedding_parts: Vec<Part>,
    /// One layer's parts.
    pub layer_parts: Vec<Part>,
    /// Final norm, pooler, output layer.
    pub top_parts: Vec<Part>,
    /// Published counts (presets, unedited).
    pub published: Vec<PublishedFigure>,
    /// Hugging Face's count of the base model, where known (presets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation_params: Option<u64>,
    /// Where the configuration comes from (presets).
    #[serde(default)]
    pub config_source: String,
    /// The Combining Techniques calculator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combination: Option<Combined>,
    /// Every preset (the page).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comparison: Vec<ComparisonRow>,
    /// The survey's size claims recomputed (the page).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<Claim>,
}

/// A model-size report: `flt size --json`, the page's raw data.
pub type ModelSizeReport = Report<ModelSizeFigures>;

/// The model-size lab.
pub struct ModelSizeLab;

impl Lab for ModelSizeLab {
    type Problem = ModelSizeProblem;
    type Figures = ModelSizeFigures;
    const FAMILY: &'static str = FAMILY;

    fn run<'a>(
        &'a self,
        problem: &'a ModelSizeProblem,
        backend: &'a Backend,
        _host: &'a dyn Host,
    ) -> LocalFuture<'a, Result<ModelSizeReport, RunError>> {
        Box::pin(async move { run(problem, backend) })
    }
}

/// Computes the report (no await inside: it is arithmetic).
pub fn run(problem: &ModelSizeProblem, backend: &Backend) -> Result<ModelSizeReport, RunError> {
    problem
        .arch
        .check()
        .map_err(|e| RunError::Method(MethodError::Unsupported(e.to_string())))?;
    let count = problem.arch.count();
    let figures = figures(problem, &count);
    Ok(Report {
        envelope: envelope(problem, backend),
        figures,
        artifacts: Default::default(),
    })
}

/// The envelope: the CPU, no kernel, nothing timed.
fn envelope(problem: &ModelSizeProblem, backend: &Backend) -> Envelope {
    let mut e = Envelope::new(FAMILY, problem.model(), &problem.label(), "cpu");
    e.adapter = "CPU (arithmetic)".into();
    e.api = "none".into();
    e.kernel = KernelKind::CpuTwin;
    e.kernel_variant = "parameter arithmetic (no kernel)".into();
    let none = "none: no kernel runs; the figures are arithmetic on the configuration";
    e.flops_formula = none.into();
    e.bytes_formula = none.into();
    e.flops_algorithmic_formula = none.into();
    e.bytes_compulsory_formula = none.into();
    e.memory_formula = none.into();
    e.notes.push(format!("Backend: CPU — {CPU_ONLY}."));
    e.notes
        .push("Nothing is timed: time_ms is 0 and there are no samples.".into());
    if let Backend::Gpu(ctx) = backend {
        e.notes.push(format!(
            "A GPU was offered ({}) and not used: nothing here is a kernel.",
            ctx.adapter_name
        ));
    }
    e.notes
        .push(format!("Quantized sizes: {QUANTIZED_LAYOUT}."));
    e
}

fn figures(problem: &ModelSizeProblem, count: &ParamCount) -> ModelSizeFigures {
    let sizes = count.sizes();
    let bytes = |p: Precision| count.size_at(p).bytes;
    let unedited = preset(problem.model());
    ModelSizeFigures {
        model: problem.model().into(),
        base_model: problem.base_model.clone(),
        model_label: problem.label(),
        config: problem.arch,
        params: count.params,
        bytes_fp32: bytes(Precision::Fp32),
        bytes_fp16: bytes(Precision::Fp16),
        bytes_int8: bytes(Precision::Int8),
        bytes_int4: bytes(Precision::Int4),
        bytes_binary: bytes(Precision::Binary),
        quantized_layout: QUANTIZED_LAYOUT.into(),
        scales_counted: true,
        precision: problem.precision,
        size_bytes: bytes(problem.precision),
        sizes,
        params_non_embedding: count.params_non_embedding,
        params_unshared: count.params_unshared,
        params_embeddings: count.embeddings,
        params_per_layer: count.per_layer,
        layers_stored: count.layers_stored,
        params_layers: count.layers,
        params_top: count.top,
        embedding_parts: count.embedding_parts.clone(),
        layer_parts: count.layer_parts.clone(),
        top_parts: count.top_parts.clone(),
        published: unedited
            .map(|p| published(p, count.params))
            .unwrap_or_default(),
        implementation_params: unedited.and_then(|p| p.implementation),
        config_source: unedited
            .map(|p| p.config_source.to_string())
            .unwrap_or_default(),
        combination: problem.combination.as_ref().map(combine),
        comparison: if problem.comparison {
            comparison()
        } else {
            Vec::new()
        },
        claims: if problem.comparison {
            survey_claims()
        } else {
            Vec::new()
        },
    }
}

/// A preset's published counts against `computed`.
fn published(p: &crate::compress::size::Preset, computed: u64) -> Vec<PublishedFigure> {
    p.published
        .iter()
        .map(|x| {
            let difference = computed as i64 - x.params as i64;
            PublishedFigure {
                params: x.params,
                source: x.source.into(),
                difference,
                relative_difference: difference as f64 / x.params as f64,
                implied_vocab: match x.check {
                    Check::WithVocabulary { vocab, .. } => Some(vocab),
                    Check::Within(_) | Check::Truncated { .. } => None,
                },
                note: x.note.into(),
            }
        })
        .collect()
}

/// Every preset's row.
pub fn comparison() -> Vec<ComparisonRow> {
    PRESETS
        .iter()
        .map(|p| {
            let count = p.arch.count();
            let primary = p.primary();
            ComparisonRow {
                model: p.key.into(),
                label: p.label.into(),
                params: count.params,
                published_params: primary.params,
                published_source: primary.source.into(),
                relative_difference: (count.params as f64 - primary.params as f64)
                    / primary.params as f64,
                bytes: count.sizes().iter().map(|s| s.bytes).collect(),
                shared_layers: p.arch.shared_layers,
                implementation_params: p.implementation,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Quiet;

    #[test]
    fn a_preset_report_has_the_cli_keys_and_says_cpu() {
        let problem = ModelSizeProblem::preset("gpt2").unwrap();
        let report = run(&problem, &Backend::Cpu { reason: None }).unwrap();
        let json = serde_json::to_value(&report).unwrap();
        for key in [
            "params",
            "bytes_fp32",
            "bytes_fp16",
            "bytes_int8",
            "bytes_int4",
            "bytes_binary",
        ] {
            assert!(json[key].is_u64(), "{key}: {json}");
        }
        assert_eq!(json["params"], 124_439_808);
        assert_eq!(json["family"], "model-size");
        assert_eq!(json["method"], "gpt2");
        assert_eq!(json["backend"], "cpu");
        assert!(json.get("comparison").is_none() && json.get("combination").is_none());
        assert_eq!(report.figures.published.len(), 2);
        assert_eq!(report.figures.published[1].implied_vocab, Some(40_478));
    }

    #[test]
    fn an_edited_preset_is_custom_and_bad_ones_fail_cleanly() {
        let mut problem = ModelSizeProblem::preset("bert-base").unwrap();
        problem.arch.layers = 6;
        assert_eq!(problem.model(), "custom");
        assert_eq!(problem.label(), "custom (from BERT-base)");
        let report =
            pollster::block_on(ModelSizeLab.run(&problem, &Backend::Cpu { reason: None }, &Quiet))
                .unwrap();
        assert!(report.figures.published.is_empty());
        problem.arch.heads = 7;
        let err = run(&problem, &Backend::Cpu { reason: None }).unwrap_err();
        assert_eq!(
            err.to_string(),
            "7 heads do not divide the attention width 768"
        );
    }
}

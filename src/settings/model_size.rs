//! The model-size lab's settings: a model preset, the configuration fields
//! that override its values, the headline precision and the Combining
//! Techniques calculator — one table of [`Spec`]s for the URL query and the
//! `flt size` flags (`?model=albert-base&layers=24&precision=int8` ⇔
//! `flt size --model albert-base --layers 24 --precision int8`).
//!
//! Parsing never fails: an unknown model falls back to `bert-base` with a
//! message listing the known ones; a number out of range becomes the
//! nearest valid one; heads that do not divide the attention width become
//! its nearest divisor — each with a [`SettingsIssue`].

use std::collections::BTreeMap;

use super::{
    Kind, Listing, SettingsIssue, Spec, parse_bool, parse_int, parse_query, parse_spec, push_issue,
    query_from_pairs, raw_pairs,
};
use crate::compress::size::combine::SURVEY_PRUNING;
use crate::compress::size::presets::keys as model_keys;
use crate::compress::size::{Architecture, Combination, LmHead, Precision, preset};
use crate::pipeline::model_size::ModelSizeProblem;

/// The preset when none is given.
pub const DEFAULT_MODEL: &str = "bert-base";
/// The calculator's teacher by default (the survey's example).
pub const DEFAULT_TEACHER: &str = "bert-large";
/// The calculator's student by default (the survey's example).
pub const DEFAULT_STUDENT: &str = "distilbert";
/// `student=none`: no distillation step.
pub const NO_STUDENT: &str = "none";

fn student_keys() -> Vec<&'static str> {
    let mut keys = model_keys();
    keys.push(NO_STUDENT);
    keys
}

fn precision_keys() -> Vec<&'static str> {
    Precision::ALL.iter().map(|p| p.key()).collect()
}

fn bits_keys() -> Vec<&'static str> {
    vec!["32", "16", "8", "4", "1"]
}

fn lm_head_keys() -> Vec<&'static str> {
    LmHead::ALL.iter().map(|h| h.key()).collect()
}

const fn int(
    key: &'static str,
    label: &'static str,
    help: &'static str,
    min: u64,
    max: u64,
) -> Spec {
    Spec {
        key,
        label,
        help,
        kind: Kind::Int {
            min,
            max,
            default: min,
        },
    }
}

/// The model preset.
pub const MODEL: Spec = Spec {
    key: "model",
    label: "Model",
    help: "model",
    kind: Kind::Choice {
        names: model_keys,
        default: DEFAULT_MODEL,
        listed: Listing::Known,
    },
};

/// The configuration fields, in URL order; each overrides the model's value.
pub const CONFIG: &[Spec] = &[
    int("layers", "Layers L", "Transformer layers", 1, 256),
    int(
        "hidden",
        "Hidden width H",
        "hidden (model) width",
        1,
        65_536,
    ),
    int(
        "heads",
        "Heads A",
        "attention heads; they must divide the attention width",
        1,
        1024,
    ),
    int(
        "ffn",
        "FFN width F",
        "feed-forward (intermediate) width",
        1,
        1_048_576,
    ),
    int("vocab", "Vocabulary V", "vocabulary size", 1, 2_000_000),
    int(
        "embedding",
        "Embedding width E",
        "factorised embedding width E (0: none, the tables are H wide)",
        0,
        65_536,
    ),
    int(
        "positions",
        "Positions P",
        "rows of the learned position table (0: none, e.g. rotary)",
        0,
        1_048_576,
    ),
    int(
        "type-vocab",
        "Token types T",
        "rows of the token-type table (0: none)",
        0,
        1024,
    ),
    int(
        "bottleneck",
        "Bottleneck b (MobileBERT)",
        "bottleneck width the attention and FFNs run at (0: none)",
        0,
        65_536,
    ),
    int(
        "ffn-stack",
        "FFNs per layer (MobileBERT)",
        "feed-forward networks stacked in each layer",
        1,
        16,
    ),
    Spec {
        key: "lm-head",
        label: "Output layer",
        help: "output layer over the vocabulary",
        kind: Kind::Choice {
            names: lm_head_keys,
            default: "none",
            listed: Listing::Or,
        },
    },
    Spec {
        key: "shared-layers",
        label: "Share one layer's parameters across layers (ALBERT)",
        help: "cross-layer parameter sharing: one layer stored for all",
        kind: Kind::Flag,
    },
    Spec {
        key: "pooler",
        label: "Pooler (BERT)",
        help: "BERT's pooler, H·H + H",
        kind: Kind::Flag,
    },
];

/// The headline precision.
pub const PRECISION: Spec = Spec {
    key: "precision",
    label: "Precision",
    help: "precision of the headline size",
    kind: Kind::Choice {
        names: precision_keys,
        default: "fp32",
        listed: Listing::Or,
    },
};

/// The Combining Techniques calculator's knobs.
pub const CALCULATOR: &[Spec] = &[
    Spec {
        key: "teacher",
        label: "Teacher",
        help: "teacher model",
        kind: Kind::Choice {
            names: model_keys,
            default: DEFAULT_TEACHER,
            listed: Listing::Known,
        },
    },
    Spec {
        key: "student",
        label: "Student (distillation)",
        help: "student model",
        kind: Kind::Choice {
            names: student_keys,
            default: DEFAULT_STUDENT,
            listed: Listing::Known,
        },
    },
    Spec {
        key: "prune-heads",
        label: "Heads pruned (fraction)",
        help: "fraction of each layer's attention heads removed",
        kind: Kind::Real {
            min: 0.0,
            max: 0.95,
            default: SURVEY_PRUNING.0,
        },
    },
    Spec {
        key: "prune-ffn",
        label: "FFN width pruned (fraction)",
        help: "fraction of each feed-forward width removed",
        kind: Kind::Real {
            min: 0.0,
            max: 0.95,
            default: SURVEY_PRUNING.1,
        },
    },
    Spec {
        key: "bits",
        label: "Bits per weight",
        help: "bits per weight after quantization",
        kind: Kind::Choice {
            names: bits_keys,
            default: "8",
            listed: Listing::Or,
        },
    },
];

/// Every spec: model, configuration, precision, calculator.
pub fn specs() -> impl Iterator<Item = &'static Spec> {
    std::iter::once(&MODEL)
        .chain(CONFIG)
        .chain(std::iter::once(&PRECISION))
        .chain(CALCULATOR)
}

/// The spec of `key`.
pub fn spec(key: &str) -> Option<&'static Spec> {
    specs().find(|s| s.key == key)
}

/// A configuration field's value as URL text.
pub fn field(arch: &Architecture, key: &str) -> Option<String> {
    let number = |x: u64| Some(x.to_string());
    match key {
        "layers" => number(arch.layers),
        "hidden" => number(arch.hidden),
        "heads" => number(arch.heads),
        "ffn" => number(arch.ffn),
        "vocab" => number(arch.vocab),
        "embedding" => number(arch.embedding),
        "shared-layers" => Some(arch.shared_layers.to_string()),
        "positions" => number(arch.positions),
        "type-vocab" => number(arch.type_vocab),
        "pooler" => Some(arch.pooler.to_string()),
        "lm-head" => Some(arch.lm_head.key().into()),
        "bottleneck" => number(arch.bottleneck),
        "ffn-stack" => number(arch.ffn_stack),
        _ => None,
    }
}

fn set_number(arch: &mut Architecture, key: &str, x: u64) {
    let slot = match key {
        "layers" => &mut arch.layers,
        "hidden" => &mut arch.hidden,
        "heads" => &mut arch.heads,
        "ffn" => &mut arch.ffn,
        "vocab" => &mut arch.vocab,
        "embedding" => &mut arch.embedding,
        "positions" => &mut arch.positions,
        "type-vocab" => &mut arch.type_vocab,
        "bottleneck" => &mut arch.bottleneck,
        "ffn-stack" => &mut arch.ffn_stack,
        _ => return,
    };
    *slot = x;
}

/// Validated settings of the model-size page (and `flt size`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSizeSettings {
    /// The preset the configuration starts from.
    pub model: &'static str,
    /// The configuration: the preset's, with the given fields overridden.
    pub arch: Architecture,
    /// The headline precision.
    pub precision: Precision,
    /// The calculator's teacher.
    pub teacher: &'static str,
    /// Its student (`None`: no distillation).
    pub student: Option<&'static str>,
    /// Fraction of heads pruned.
    pub prune_heads: f64,
    /// Fraction of the FFN width pruned.
    pub prune_ffn: f64,
    /// The calculator's final precision.
    pub bits: Precision,
}

impl Default for ModelSizeSettings {
    fn default() -> Self {
        ModelSizeSettings::for_model(DEFAULT_MODEL)
    }
}

impl ModelSizeSettings {
    /// A preset unedited, at fp32, with the survey's example in the
    /// calculator. An unknown key gives `bert-base`.
    pub fn for_model(key: &str) -> ModelSizeSettings {
        let p = preset(key)
            .or_else(|| preset(DEFAULT_MODEL))
            .expect("the default model is a preset");
        ModelSizeSettings {
            model: p.key,
            arch: p.arch,
            precision: Precision::Fp32,
            teacher: DEFAULT_TEACHER,
            student: Some(DEFAULT_STUDENT),
            prune_heads: SURVEY_PRUNING.0,
            prune_ffn: SURVEY_PRUNING.1,
            bits: Precision::Int8,
        }
    }

    /// The preset's unedited configuration.
    pub fn preset_arch(&self) -> Architecture {
        preset(self.model).map(|p| p.arch).unwrap_or(self.arch)
    }

    /// Parses `key=value` pairs (a URL query or the CLI's flags); later
    /// duplicates win. Never fails: problems come back as issues.
    pub fn from_pairs<K, V, I>(pairs: I) -> (ModelSizeSettings, Vec<SettingsIssue>)
    where
        K: AsRef<str>,
        V: AsRef<str>,
        I: IntoIterator<Item = (K, V)>,
    {
        let raw = raw_pairs(pairs);
        let mut issues = Vec::new();
        let model = parse_spec(&MODEL, raw.get("model"), &mut issues).name();
        let mut s = ModelSizeSettings::for_model(model);
        for spec in CONFIG {
            if let Some(v) = raw.get(spec.key) {
                s.parse_field(spec, v, &mut issues);
            }
        }
        s.fix_heads(&mut issues);
        s.parse_rest(&raw, &mut issues);
        for key in raw.keys().filter(|k| spec(k).is_none()) {
            push_issue(
                &mut issues,
                key,
                format!("unknown setting '{key}'; ignored"),
            );
        }
        (s, issues)
    }

    /// Parses a URL query string (with or without the leading `?`).
    pub fn from_query(query: &str) -> (ModelSizeSettings, Vec<SettingsIssue>) {
        ModelSizeSettings::from_pairs(parse_query(query))
    }

    /// One configuration field; a bad value keeps the model's.
    fn parse_field(&mut self, spec: &Spec, v: &str, issues: &mut Vec<SettingsIssue>) {
        let key = spec.key;
        let current = field(&self.arch, key).unwrap_or_default();
        let model = self.model;
        match spec.kind {
            Kind::Int { min, max, .. } => match parse_int(key, v, min, max) {
                Ok(x) => set_number(&mut self.arch, key, x),
                Err((Some(x), why)) => {
                    push_issue(issues, key, why);
                    set_number(&mut self.arch, key, x);
                }
                Err((None, _)) => push_issue(
                    issues,
                    key,
                    format!("{key}={v} is not a number; using {model}'s {current}"),
                ),
            },
            Kind::Flag => match parse_bool(v) {
                Some(b) if key == "pooler" => self.arch.pooler = b,
                Some(b) => self.arch.shared_layers = b,
                None => push_issue(
                    issues,
                    key,
                    format!("{key}={v} is not true or false; using {model}'s {current}"),
                ),
            },
            Kind::Choice { .. } => match LmHead::from_key(&v.to_ascii_lowercase()) {
                Some(head) => self.arch.lm_head = head,
                None => push_issue(
                    issues,
                    key,
                    format!("{key}={v} is not none, tied or untied; using {model}'s {current}"),
                ),
            },
            Kind::Real { .. } => {} // no real-valued configuration field
        }
    }

    /// Heads that do not divide the attention width become its nearest
    /// divisor.
    fn fix_heads(&mut self, issues: &mut Vec<SettingsIssue>) {
        let width = self.arch.attention_width();
        let heads = self.arch.heads;
        if width.is_multiple_of(heads) {
            return;
        }
        // Only divisors the heads' own range allows (a wide layer's nearest
        // divisor may exceed it).
        let most = match spec("heads").map(|s| s.kind) {
            Some(Kind::Int { max, .. }) => max,
            _ => heads,
        };
        let nearest = (1..=width.min(most))
            .filter(|d| width.is_multiple_of(*d))
            .min_by_key(|d| (d.abs_diff(heads), *d))
            .unwrap_or(1);
        push_issue(
            issues,
            "heads",
            format!("heads={heads} does not divide the attention width {width}; using {nearest}"),
        );
        self.arch.heads = nearest;
    }

    /// Precision and the calculator.
    fn parse_rest(&mut self, raw: &BTreeMap<String, String>, issues: &mut Vec<SettingsIssue>) {
        let mut value = |spec: &Spec| parse_spec(spec, raw.get(spec.key), issues);
        self.precision = Precision::from_key(value(&PRECISION).name()).unwrap_or(Precision::Fp32);
        let [teacher, student, heads, ffn, bits] = [0, 1, 2, 3, 4].map(|i| value(&CALCULATOR[i]));
        self.teacher = teacher.name();
        self.student = Some(student.name()).filter(|s| *s != NO_STUDENT);
        self.prune_heads = heads.real();
        self.prune_ffn = ffn.real();
        self.bits = bits
            .name()
            .parse()
            .ok()
            .and_then(Precision::from_bits)
            .unwrap_or(Precision::Int8);
    }

    /// The settings as `key=value` pairs in a stable order: the model, the
    /// fields that differ from it, the precision and the calculator's knobs
    /// that differ from their defaults.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut out = vec![("model".to_string(), self.model.to_string())];
        let base = self.preset_arch();
        for spec in CONFIG {
            let (ours, theirs) = (field(&self.arch, spec.key), field(&base, spec.key));
            if let (Some(v), true) = (ours.clone(), ours != theirs) {
                out.push((spec.key.into(), v));
            }
        }
        let defaults = ModelSizeSettings::default();
        let mut push = |key: &str, ours: String, default: String| {
            if ours != default {
                out.push((key.into(), ours));
            }
        };
        push("precision", self.precision.key().into(), "fp32".into());
        push("teacher", self.teacher.into(), defaults.teacher.into());
        let student = |s: Option<&str>| s.unwrap_or(NO_STUDENT).to_string();
        push("student", student(self.student), student(defaults.student));
        push(
            "prune-heads",
            self.prune_heads.to_string(),
            defaults.prune_heads.to_string(),
        );
        push(
            "prune-ffn",
            self.prune_ffn.to_string(),
            defaults.prune_ffn.to_string(),
        );
        push(
            "bits",
            self.bits.bits().to_string(),
            defaults.bits.bits().to_string(),
        );
        out
    }

    /// The settings as a URL query, without the leading `?`.
    pub fn to_query(&self) -> String {
        query_from_pairs(&self.to_pairs())
    }

    /// The query after a control sets `key` to the raw text `value` (passed
    /// on unparsed, so a bad entry gets the URL's message). Choosing
    /// another model drops the edited fields.
    pub fn query_with(&self, key: &str, value: &str) -> String {
        let mut base = self.clone();
        if key == "model" {
            base.arch = preset(value).map_or(base.arch, |p| p.arch);
        }
        let mut pairs = base.to_pairs();
        if key == "model" {
            pairs.retain(|(k, _)| spec(k).is_some_and(|s| !CONFIG.iter().any(|c| c.key == s.key)));
        }
        let order = |k: &str| specs().position(|s| s.key == k).unwrap_or(usize::MAX);
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some(pair) => pair.1 = value.to_string(),
            None => {
                let at = pairs
                    .iter()
                    .position(|(k, _)| order(k) > order(key))
                    .unwrap_or(pairs.len());
                pairs.insert(at, (key.to_string(), value.to_string()));
            }
        }
        query_from_pairs(&pairs)
    }

    /// The calculator's pipeline.
    pub fn combination(&self) -> Combination {
        let named = |key: &str| {
            let p = preset(key).or_else(|| preset(DEFAULT_MODEL));
            p.map(|p| (p.arch, p.label.to_string()))
                .unwrap_or_else(|| (Architecture::default(), key.to_string()))
        };
        Combination {
            teacher: named(self.teacher),
            student: self.student.map(named),
            prune_heads: self.prune_heads,
            prune_ffn: self.prune_ffn,
            precision: self.bits,
        }
    }

    /// The lab's problem: the configuration, its precision, the calculator
    /// and the comparison of every preset (the page's).
    pub fn problem(&self) -> ModelSizeProblem {
        ModelSizeProblem {
            base_model: self.model.into(),
            arch: self.arch,
            precision: self.precision,
            combination: Some(self.combination()),
            comparison: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(q: &str) -> (ModelSizeSettings, Vec<String>) {
        let (s, issues) = ModelSizeSettings::from_query(q);
        (s, issues.into_iter().map(|i| i.to_string()).collect())
    }

    #[test]
    fn a_preset_and_overrides_round_trip() {
        let (s, i) = parse("model=albert-base&layers=24&precision=int8");
        assert!(i.is_empty(), "{i:?}");
        assert_eq!(s.model, "albert-base");
        assert_eq!(
            (s.arch.layers, s.arch.shared_layers, s.arch.embedding),
            (24, true, 128)
        );
        assert_eq!(s.precision, Precision::Int8);
        assert_eq!(s.to_query(), "model=albert-base&layers=24&precision=int8");
        assert_eq!(ModelSizeSettings::from_query(&s.to_query()).0, s);
        // A field equal to the preset's is not repeated.
        assert_eq!(parse("model=gpt2&layers=12").0.to_query(), "model=gpt2");
    }

    #[test]
    fn bad_values_say_why_and_keep_going() {
        let (s, i) = parse("model=gpt5");
        assert_eq!(s.model, "bert-base");
        assert!(
            i[0].starts_with(
                "model=gpt5 is not a known model (known: bert-base, bert-large, distilbert,"
            ) && i[0].ends_with("; using bert-base"),
            "{i:?}"
        );
        let (s, i) = parse("model=gpt2&layers=0&hidden=abc&vocab=1e9&shared-layers=maybe");
        assert_eq!(
            (s.arch.layers, s.arch.hidden, s.arch.vocab),
            (1, 768, 2_000_000)
        );
        assert_eq!(
            i,
            vec![
                "layers=0 is below the minimum 1; using 1",
                "hidden=abc is not a number; using gpt2's 768",
                "vocab=1e9 is above the maximum 2000000; using 2000000",
                "shared-layers=maybe is not true or false; using gpt2's false",
            ]
        );
        let (s, i) = parse("heads=7&lm-head=sideways&colour=red");
        assert_eq!(s.arch.heads, 6);
        assert_eq!(
            i,
            vec![
                "lm-head=sideways is not none, tied or untied; using bert-base's none",
                "heads=7 does not divide the attention width 768; using 6",
                "unknown setting 'colour'; ignored",
            ]
        );
        let (s, i) = parse("prune-heads=2&bits=3&student=nobody");
        assert_eq!(
            (s.prune_heads, s.bits, s.student),
            (0.95, Precision::Int8, Some("distilbert"))
        );
        assert_eq!(i.len(), 3, "{i:?}");
    }

    #[test]
    fn controls_pass_raw_text_and_a_new_model_drops_edits() {
        let (s, _) = parse("model=bert-base&layers=6&precision=int4&bits=4");
        assert_eq!(
            s.query_with("hidden", "0"),
            "model=bert-base&layers=6&hidden=0&precision=int4&bits=4"
        );
        assert_eq!(
            s.query_with("model", "gpt2"),
            "model=gpt2&precision=int4&bits=4"
        );
        let (none, _) = parse("student=none");
        assert_eq!(none.student, None);
        assert_eq!(none.to_query(), "model=bert-base&student=none");
        assert!(none.combination().student.is_none());
    }

    proptest! {
        /// Whatever the query, the settings give a countable architecture.
        #[test]
        fn any_query_gives_a_valid_architecture(q in "[a-z=&0-9.-]{0,60}") {
            let (s, _) = ModelSizeSettings::from_query(&q);
            prop_assert_eq!(s.arch.check(), Ok(()));
        }

        /// Valid edits of any preset survive the URL, without issues.
        #[test]
        fn valid_settings_round_trip(
            m in 0..model_keys().len(),
            layers in 1u64..=48,
            ffn in 1u64..=8192,
            shared: bool,
            embedding in 0u64..=512,
            p in 0..5usize,
            prune in 0.0f64..=0.95,
        ) {
            let mut s = ModelSizeSettings::for_model(model_keys()[m]);
            s.arch.layers = layers;
            s.arch.ffn = ffn;
            s.arch.shared_layers = shared;
            s.arch.embedding = embedding;
            s.precision = Precision::ALL[p];
            s.prune_ffn = prune;
            let (back, issues) = ModelSizeSettings::from_query(&s.to_query());
            prop_assert!(issues.is_empty(), "{:?}", issues);
            prop_assert_eq!(back, s);
        }
    }
}

//! The QAT section's settings: one table ([`SPECS`]) for the page's URL
//! parameters, prefixed so they never clash with the other sections of the
//! quantization page (`?qat-seed=3&qat-hidden=32`), and the flags of
//! `flt qat` (`--seed 3 --hidden 32`). The backend follows the page's own
//! `backend` parameter (`--backend` in the CLI).

use std::collections::BTreeMap;

use super::{Kind, SettingsIssue, Spec, common, parse_query, parse_spec, query_from_pairs};
use crate::compress::qat::{EPOCHS, HIDDEN, QAT_EPOCHS};
use crate::pipeline::BackendChoice;
use crate::pipeline::qat::QatProblem;

/// The prefix of the section's URL parameters.
pub const PREFIX: &str = "qat-";

/// Default seed.
pub const DEFAULT_SEED: u64 = 1;

/// The section's knobs (keys without [`PREFIX`]), in URL order.
pub const SPECS: &[Spec] = &[
    Spec {
        key: "seed",
        label: "Seed",
        help: "seed of the task (cluster centres, examples) and of the initial weights",
        kind: Kind::Int {
            min: 0,
            max: u32::MAX as u64,
            default: DEFAULT_SEED,
        },
    },
    Spec {
        key: "hidden",
        label: "Hidden units",
        help: "width H of the hidden ReLU layer",
        kind: Kind::Int {
            min: HIDDEN.0 as u64,
            max: HIDDEN.1 as u64,
            default: HIDDEN.2 as u64,
        },
    },
    Spec {
        key: "epochs",
        label: "f32 epochs",
        help: "epochs of f32 training before quantization",
        kind: Kind::Int {
            min: EPOCHS.0 as u64,
            max: EPOCHS.1 as u64,
            default: EPOCHS.2 as u64,
        },
    },
    Spec {
        key: "tune-epochs",
        label: "QAT epochs",
        help: "epochs of fine-tuning with fake quantization, per bit width",
        kind: Kind::Int {
            min: QAT_EPOCHS.0 as u64,
            max: QAT_EPOCHS.1 as u64,
            default: QAT_EPOCHS.2 as u64,
        },
    },
];

/// The spec of a knob by its key (without the prefix).
pub fn spec(key: &str) -> &'static Spec {
    SPECS
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("no QAT setting {key}"))
}

/// Validated settings of the section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QatSettings {
    /// Seed of the task and the initial weights.
    pub seed: u64,
    /// Hidden units.
    pub hidden: usize,
    /// f32 epochs.
    pub epochs: usize,
    /// QAT epochs per bit width.
    pub qat_epochs: usize,
    /// The backend asked for.
    pub backend: BackendChoice,
}

impl Default for QatSettings {
    fn default() -> QatSettings {
        QatSettings {
            seed: DEFAULT_SEED,
            hidden: HIDDEN.2,
            epochs: EPOCHS.2,
            qat_epochs: QAT_EPOCHS.2,
            backend: BackendChoice::Auto,
        }
    }
}

impl QatSettings {
    /// Parses `key=value` pairs whose keys are `prefix` + a key of
    /// [`SPECS`], and `backend`; other keys belong to other sections and
    /// are ignored. Never fails: problems come back as issues (naming the
    /// key as given) and the nearest valid values are used.
    pub fn from_pairs<K, V, I>(pairs: I, prefix: &str) -> (QatSettings, Vec<SettingsIssue>)
    where
        K: AsRef<str>,
        V: AsRef<str>,
        I: IntoIterator<Item = (K, V)>,
    {
        let mut raw: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in pairs {
            let k = k.as_ref().trim();
            if k == "backend" {
                raw.insert(k.to_string(), v.as_ref().trim().to_string());
            } else if let Some(key) = k.strip_prefix(prefix) {
                raw.insert(key.to_string(), v.as_ref().trim().to_string());
            }
        }
        let mut issues = Vec::new();
        let mut value = |spec: &Spec| {
            let mut found = Vec::new();
            let v = parse_spec(spec, raw.get(spec.key), &mut found);
            for mut issue in found {
                if spec.key != "backend" {
                    issue.key = format!("{prefix}{}", issue.key);
                    issue.problem = format!("{prefix}{}", issue.problem);
                }
                issues.push(issue);
            }
            v
        };
        let s = QatSettings {
            seed: value(spec("seed")).int(),
            hidden: value(spec("hidden")).int() as usize,
            epochs: value(spec("epochs")).int() as usize,
            qat_epochs: value(spec("tune-epochs")).int() as usize,
            backend: {
                let name = value(common("backend")).name();
                BackendChoice::ALL
                    .iter()
                    .map(|(b, _)| *b)
                    .find(|b| b.key() == name)
                    .unwrap_or_default()
            },
        };
        for key in raw.keys() {
            if key != "backend" && !SPECS.iter().any(|s| s.key == key) {
                issues.push(SettingsIssue {
                    key: format!("{prefix}{key}"),
                    problem: format!("unknown setting '{prefix}{key}'"),
                    fallback: "ignored".into(),
                });
            }
        }
        (s, issues)
    }

    /// Parses the page's URL query (keys prefixed with [`PREFIX`]).
    pub fn from_query(query: &str) -> (QatSettings, Vec<SettingsIssue>) {
        QatSettings::from_pairs(parse_query(query), PREFIX)
    }

    /// The knobs as prefixed `key=value` pairs, in [`SPECS`] order.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        SPECS
            .iter()
            .map(|spec| {
                let v = match spec.key {
                    "seed" => self.seed.to_string(),
                    "hidden" => self.hidden.to_string(),
                    "epochs" => self.epochs.to_string(),
                    _ => self.qat_epochs.to_string(),
                };
                (format!("{PREFIX}{}", spec.key), v)
            })
            .collect()
    }

    /// `query` with the section's knob `key` (without the prefix) set to
    /// the raw text `value`, every other parameter kept as it was: a bad
    /// entry then gets the same message as a bad URL.
    pub fn query_with(query: &str, key: &str, value: &str) -> String {
        let full = format!("{PREFIX}{key}");
        let mut pairs: Vec<(String, String)> = parse_query(query)
            .into_iter()
            .filter(|(k, _)| *k != full)
            .collect();
        pairs.push((full, value.to_string()));
        query_from_pairs(&pairs)
    }

    /// The experiment these settings describe.
    pub fn problem(&self) -> QatProblem {
        QatProblem {
            hidden: self.hidden,
            epochs: self.epochs,
            qat_epochs: self.qat_epochs,
            ..QatProblem::new(self.seed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_keys_parse_and_others_are_left_alone() {
        let (s, issues) =
            QatSettings::from_query("?qat-seed=7&qat-hidden=32&n=5&method=full&backend=cpu");
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(s.seed, 7);
        assert_eq!(s.hidden, 32);
        assert_eq!(s.backend, BackendChoice::Cpu);
        assert_eq!(s.epochs, EPOCHS.2);
        let q = QatSettings::query_with("n=5&qat-seed=7", "seed", "9");
        assert_eq!(q, "n=5&qat-seed=9");
    }

    #[test]
    fn bad_values_get_the_nearest_valid_one_and_a_message() {
        let (s, issues) = QatSettings::from_query("qat-hidden=1000&qat-epochs=abc&qat-nope=1");
        assert_eq!(s.hidden, HIDDEN.1);
        assert_eq!(s.epochs, EPOCHS.2);
        let text: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            text,
            vec![
                format!(
                    "qat-hidden=1000 is above the maximum {}; using {}",
                    HIDDEN.1, HIDDEN.1
                ),
                "qat-epochs=abc is not a number; using the default".to_string(),
                "unknown setting 'qat-nope'; ignored".to_string(),
            ]
        );
        // The CLI's flags: no prefix.
        let (_, issues) = QatSettings::from_pairs([("hidden", "2")], "");
        assert_eq!(
            issues[0].to_string(),
            format!(
                "hidden=2 is below the minimum {}; using {}",
                HIDDEN.0, HIDDEN.0
            )
        );
    }
}

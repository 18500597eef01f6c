//! The quantization lab's settings, one table of [`Spec`]s for the URL
//! (`/compression/quantization?bits=4&format=int&mode=symmetric&granularity=group&group-size=64&clip=mse&inputs=heavy-tailed&seed=1`)
//! and `flt quantize`'s flags of the same names; and the page's
//! [`Section`]s of one URL query.

use super::{
    BackendChoice, Kind, Listing, SettingsIssue, Spec, parse_query, parse_spec, push_issue,
    query_from_pairs, raw_pairs,
};
use crate::compress::quantize::{Clip, Format, Granularity, Mode, Scheme};
use crate::compress::weights::Generator;
use crate::gpu::GpuRunOptions;
use crate::pipeline::quantization::{MAX_ELEMENTS, MAX_SIDE, QuantizationProblem};

fn format_keys() -> Vec<&'static str> {
    Format::ALL.iter().map(|f| f.key()).collect()
}
fn mode_keys() -> Vec<&'static str> {
    Mode::ALL.iter().map(|m| m.key()).collect()
}
fn granularity_keys() -> Vec<&'static str> {
    Granularity::ALL.iter().map(|g| g.key()).collect()
}
fn clip_keys() -> Vec<&'static str> {
    Clip::ALL.iter().map(|c| c.key()).collect()
}
fn generator_keys() -> Vec<&'static str> {
    Generator::ALL.iter().map(|g| g.key()).collect()
}
fn backend_keys() -> Vec<&'static str> {
    BackendChoice::ALL.iter().map(|(b, _)| b.key()).collect()
}

/// Default rows and columns of the seeded matrix.
pub const DEFAULT_SIDE: u64 = 256;

/// The knobs, in URL order.
pub const QUANT: &[Spec] = &[
    Spec {
        key: "format",
        label: "Format",
        help: "int (b-bit integers), fp16, bf16, fp8-e4m3 or fp8-e5m2",
        kind: Kind::Choice {
            names: format_keys,
            default: "int",
            listed: Listing::Or,
        },
    },
    Spec {
        key: "bits",
        label: "Bits b",
        help: "bits per integer (format=int): 8, 4, 3, 2, or 1 (binary: sign(x)·mean|x|)",
        kind: Kind::Int {
            min: 1,
            max: 8,
            default: 4,
        },
    },
    Spec {
        key: "mode",
        label: "Mode",
        help: "symmetric (z = 0) or asymmetric (a zero point; the range holds 0)",
        kind: Kind::Choice {
            names: mode_keys,
            default: "symmetric",
            listed: Listing::Or,
        },
    },
    Spec {
        key: "granularity",
        label: "Granularity",
        help: "one scale per tensor, per output channel (row), or per group of G along a row",
        kind: Kind::Choice {
            names: granularity_keys,
            default: "per-channel",
            listed: Listing::Or,
        },
    },
    Spec {
        key: "group-size",
        label: "Group size G",
        help: "elements of a row sharing a scale (granularity=group)",
        kind: Kind::Int {
            min: 1,
            max: MAX_SIDE as u64,
            default: 128,
        },
    },
    Spec {
        key: "clip",
        label: "Clipping",
        help: "minmax (the whole range) or mse (the range α·range, α ∈ {1.00, 0.99, …, 0.01}, of least squared error)",
        kind: Kind::Choice {
            names: clip_keys,
            default: "minmax",
            listed: Listing::Or,
        },
    },
    Spec {
        key: "inputs",
        label: "Weights",
        help: "seeded weights: gaussian, or heavy-tailed with outlier columns",
        kind: Kind::Choice {
            names: generator_keys,
            default: "gaussian",
            listed: Listing::Or,
        },
    },
    Spec {
        key: "seed",
        label: "Seed",
        help: "seed of the generated weights",
        kind: Kind::Int {
            min: 0,
            max: u64::MAX,
            default: 1,
        },
    },
    Spec {
        key: "rows",
        label: "Rows (output channels)",
        help: "rows of the generated matrix",
        kind: Kind::Int {
            min: 1,
            max: MAX_SIDE as u64,
            default: DEFAULT_SIDE,
        },
    },
    Spec {
        key: "cols",
        label: "Columns (input channels)",
        help: "columns of the generated matrix",
        kind: Kind::Int {
            min: 1,
            max: MAX_SIDE as u64,
            default: DEFAULT_SIDE,
        },
    },
    Spec {
        key: "backend",
        label: "Backend",
        help: "the GPU (wgpu), the CPU twin (ndarray), or auto: the GPU when an adapter exists",
        kind: Kind::Choice {
            names: backend_keys,
            default: "auto",
            listed: Listing::Or,
        },
    },
];

/// The spec of a knob.
pub fn quant_spec(key: &str) -> &'static Spec {
    QUANT
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("no quantization setting {key}"))
}

/// Validated settings of the quantization lab.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantSettings {
    /// The scheme.
    pub scheme: Scheme,
    /// The seeded weights' generator.
    pub inputs: Generator,
    /// Their seed.
    pub seed: u64,
    /// Rows of the generated matrix.
    pub rows: usize,
    /// Columns of the generated matrix.
    pub cols: usize,
    /// Backend asked for.
    pub backend: BackendChoice,
}

impl Default for QuantSettings {
    fn default() -> Self {
        QuantSettings::from_pairs(Vec::<(String, String)>::new()).0
    }
}

impl QuantSettings {
    /// Parses `key=value` pairs (URL query or flags); never fails.
    pub fn from_pairs<K, V, I>(pairs: I) -> (QuantSettings, Vec<SettingsIssue>)
    where
        K: AsRef<str>,
        V: AsRef<str>,
        I: IntoIterator<Item = (K, V)>,
    {
        let raw = raw_pairs(pairs);
        let mut issues = Vec::new();
        let mut value = |key: &str| parse_spec(quant_spec(key), raw.get(key), &mut issues);
        let format = Format::from_key(value("format").name()).unwrap_or(Format::Int);
        let bits = value("bits").int() as u32;
        let mode = value("mode").name();
        let mode = Mode::ALL
            .into_iter()
            .find(|m| m.key() == mode)
            .unwrap_or(Mode::Symmetric);
        let granularity = value("granularity").name();
        let granularity = Granularity::ALL
            .into_iter()
            .find(|g| g.key() == granularity)
            .unwrap_or(Granularity::PerChannel);
        let group_size = value("group-size").int() as usize;
        let clip = value("clip").name();
        let clip = Clip::ALL
            .into_iter()
            .find(|c| c.key() == clip)
            .unwrap_or(Clip::MinMax);
        let inputs = Generator::from_key(value("inputs").name()).unwrap_or(Generator::Gaussian);
        let seed = value("seed").int();
        let rows = value("rows").int() as usize;
        let mut cols = value("cols").int() as usize;
        let backend = value("backend").name();
        let backend = BackendChoice::ALL
            .iter()
            .map(|(b, _)| *b)
            .find(|b| b.key() == backend)
            .unwrap_or_default();
        if rows * cols > MAX_ELEMENTS {
            let fit = MAX_ELEMENTS / rows;
            push_issue(
                &mut issues,
                "cols",
                format!(
                    "rows × cols = {} exceeds 2^25 elements; using cols={fit}",
                    rows * cols
                ),
            );
            cols = fit;
        }
        for key in raw.keys() {
            if !QUANT.iter().any(|s| s.key == key) {
                push_issue(
                    &mut issues,
                    key,
                    format!("unknown setting '{key}'; ignored"),
                );
            }
        }
        let settings = QuantSettings {
            scheme: Scheme {
                format,
                bits,
                mode,
                granularity,
                group_size,
                clip,
            },
            inputs,
            seed,
            rows,
            cols,
            backend,
        };
        (settings, issues)
    }

    /// Parses a URL query.
    pub fn from_query(query: &str) -> (QuantSettings, Vec<SettingsIssue>) {
        QuantSettings::from_pairs(parse_query(query))
    }

    /// The settings as pairs in [`QUANT`] order (`bits` and `group-size`
    /// kept when they do not apply, so switching back restores them;
    /// `backend` only when not auto).
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let s = &self.scheme;
        QUANT
            .iter()
            .filter_map(|spec| {
                let v = match spec.key {
                    "format" => Some(s.format.key().to_string()),
                    "bits" => Some(s.bits.to_string()),
                    "mode" => Some(s.mode.key().to_string()),
                    "granularity" => Some(s.granularity.key().to_string()),
                    "group-size" => Some(s.group_size.to_string()),
                    "clip" => Some(s.clip.key().to_string()),
                    "inputs" => Some(self.inputs.key().to_string()),
                    "seed" => Some(self.seed.to_string()),
                    "rows" => Some(self.rows.to_string()),
                    "cols" => Some(self.cols.to_string()),
                    "backend" => (self.backend != BackendChoice::Auto)
                        .then(|| self.backend.key().to_string()),
                    _ => None,
                };
                v.map(|v| (spec.key.to_string(), v))
            })
            .collect()
    }

    /// The settings as a URL query, without `?`.
    pub fn to_query(&self) -> String {
        query_from_pairs(&self.to_pairs())
    }

    /// The query after a control sets `key` to the raw text `value`
    /// (unparsed, so a bad entry gets the URL's message).
    pub fn query_with(&self, key: &str, value: &str) -> String {
        let mut pairs = self.to_pairs();
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some(pair) => pair.1 = value.to_string(),
            None => pairs.push((key.to_string(), value.to_string())),
        }
        query_from_pairs(&pairs)
    }

    /// The problem on the seeded matrix.
    pub fn problem(&self, options: GpuRunOptions) -> QuantizationProblem {
        QuantizationProblem {
            options,
            ..QuantizationProblem::seeded(self.inputs, self.rows, self.cols, self.seed)
                .with_scheme(self.scheme)
        }
    }
}

/// Prefixes of the other sections' keys.
pub const SECTION_PREFIXES: [&str; 3] = ["qa-", "int8-", "qat-"];

/// Which keys a section owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// The weight quantizer: every key without a section prefix.
    Weights,
    /// The keys starting with this prefix (`"qa-"`), given without it.
    Prefixed(&'static str),
}

impl Section {
    /// The section's name for `key` in the URL, if it owns it.
    fn own(self, key: &str) -> Option<String> {
        // Trimmed, as every parser trims keys: ` qat-seed` is QAT's.
        let key = key.trim();
        match self {
            Section::Weights => {
                (!SECTION_PREFIXES.iter().any(|p| key.starts_with(p))).then(|| key.to_string())
            }
            Section::Prefixed(p) => key.strip_prefix(p).map(str::to_string),
        }
    }

    /// The URL key of the section's `key`.
    fn url_key(self, key: &str) -> String {
        match self {
            Section::Weights => key.to_string(),
            Section::Prefixed(p) => format!("{p}{key}"),
        }
    }

    /// The section's pairs of `search` (prefix removed).
    pub fn pairs(self, search: &str) -> Vec<(String, String)> {
        parse_query(search)
            .into_iter()
            .filter_map(|(k, v)| self.own(&k).map(|k| (k, v)))
            .collect()
    }

    /// `search` with the section's pairs replaced by `pairs` (the others
    /// kept, in their order, before the section's).
    pub fn replace(self, search: &str, pairs: &[(String, String)]) -> String {
        let mut out: Vec<(String, String)> = parse_query(search)
            .into_iter()
            .filter(|(k, _)| self.own(k).is_none())
            .collect();
        out.extend(pairs.iter().map(|(k, v)| (self.url_key(k), v.clone())));
        query_from_pairs(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    #[test]
    fn sections_own_their_keys_and_keep_the_others() {
        let q = "bits=4&qa-method=linformer&qa-n=256&qat-seed=2&format=int";
        assert_eq!(
            Section::Weights.pairs(q),
            vec![
                ("bits".to_string(), "4".to_string()),
                ("format".into(), "int".into())
            ]
        );
        assert_eq!(
            Section::Prefixed("qa-").pairs(q),
            vec![
                ("method".to_string(), "linformer".to_string()),
                ("n".into(), "256".into())
            ]
        );
        let next = Section::Weights.replace(q, &[("bits".into(), "2".into())]);
        assert_eq!(next, "qa-method=linformer&qa-n=256&qat-seed=2&bits=2");
        let next = Section::Prefixed("qa-").replace(q, &[("n".into(), "64".into())]);
        assert_eq!(next, "bits=4&qat-seed=2&format=int&qa-n=64");
    }

    #[test]
    fn the_issue_s_parameters_round_trip() {
        let q = "format=int&bits=3&mode=asymmetric&granularity=group&group-size=64&clip=mse&inputs=heavy-tailed&seed=7&rows=32&cols=96";
        let (s, issues) = QuantSettings::from_query(q);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(s.scheme.bits, 3);
        assert_eq!(s.scheme.mode, Mode::Asymmetric);
        assert_eq!(s.scheme.granularity, Granularity::Group);
        assert_eq!(s.scheme.group_size, 64);
        assert_eq!(s.scheme.clip, Clip::Mse);
        assert_eq!(
            (s.inputs, s.seed, s.rows, s.cols),
            (Generator::HeavyTailed, 7, 32, 96)
        );
        assert_eq!(s.to_query(), q);
    }

    #[test]
    fn bad_values_say_why_and_fall_back() {
        let (s, issues) =
            QuantSettings::from_query("bits=9&format=int5&granularity=row&clip=best&foo=1");
        assert_eq!(s.scheme.bits, 8);
        assert_eq!(s.scheme.format, Format::Int);
        let text: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            text,
            vec![
                "format=int5 is not int, fp16, bf16, fp8-e4m3 or fp8-e5m2; using int",
                "bits=9 is above the maximum 8; using 8",
                "granularity=row is not per-tensor, per-channel or group; using per-channel",
                "clip=best is not minmax or mse; using minmax",
                "unknown setting 'foo'; ignored",
            ]
        );
        let (s, issues) = QuantSettings::from_query("rows=8192&cols=8192");
        assert_eq!(s.rows * s.cols, MAX_ELEMENTS);
        assert_eq!(issues.len(), 1);
    }

    proptest! {
        #[test]
        fn any_query_parses_to_valid_settings_that_round_trip(
            pairs in proptest::collection::vec(
                (prop::sample::select(vec!["bits", "format", "mode", "granularity", "group-size", "clip", "inputs", "seed", "rows", "cols", "backend"]),
                 "[-a-z0-9.]{0,8}"),
                0..6,
            )
        ) {
            let (s, _) = QuantSettings::from_pairs(pairs);
            prop_assert!(s.scheme.check().is_ok());
            prop_assert!(s.rows * s.cols <= MAX_ELEMENTS);
            let (again, issues) = QuantSettings::from_query(&s.to_query());
            prop_assert!(issues.is_empty(), "{:?}", issues);
            prop_assert_eq!(again, s);
        }
    }
}

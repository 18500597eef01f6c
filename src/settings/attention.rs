//! The attention explorer's settings: the common knobs of [`COMMON`] and the
//! method's own from its [`ParamSpec`]s
//! (`?method=full&n=1024&d=64&seed=1&causal=true` ⇔
//! `flt run --method full --n 1024 --d 64 --seed 1 --causal`).

use std::collections::BTreeMap;
use std::rc::Rc;

use super::{
    Kind, Listing, SettingsIssue, Spec, or_list, parse_bool, parse_int, parse_query, parse_spec,
    push_issue, query_from_pairs,
};
use crate::attention::{MethodId, ParamSpec, ParamValues};
use crate::data::shape::Shape;
use crate::gpu::GpuRunOptions;
use crate::inputs::{Heads, InputSource, Inputs, MAX_D, MAX_HEADS, MAX_N, MAX_STACKED_ELEMENTS};
pub use crate::pipeline::BackendChoice;
use crate::pipeline::attention::AttentionProblem;
use crate::pipeline::qkv::QkvQuant;

fn method_keys() -> Vec<&'static str> {
    MethodId::keys()
}

fn input_keys() -> Vec<&'static str> {
    InputSource::GENERATORS.iter().map(|g| g.key()).collect()
}

fn qkv_scale_keys() -> Vec<&'static str> {
    vec!["per-token", "per-channel"]
}

fn backend_keys() -> Vec<&'static str> {
    BackendChoice::ALL.iter().map(|(b, _)| b.key()).collect()
}

/// Default sequence length.
pub const DEFAULT_N: usize = 256;
/// Default head dimension.
pub const DEFAULT_D: usize = 64;
/// Default seed.
pub const DEFAULT_SEED: u64 = 1;
/// Smallest and largest `qk-scale`.
pub const QK_SCALE_RANGE: (f64, f64) = (0.001, 100.0);

/// The knobs every method shares, in URL order.
pub const COMMON: &[Spec] = &[
    Spec {
        key: "method",
        label: "Method",
        help: "attention method",
        kind: Kind::Choice {
            names: method_keys,
            default: "full",
            listed: Listing::Known,
        },
    },
    Spec {
        key: "n",
        label: "Sequence length n",
        help: "sequence length",
        kind: Kind::Int {
            min: 1,
            max: MAX_N as u64,
            default: DEFAULT_N as u64,
        },
    },
    Spec {
        key: "d",
        label: "Head dimension d",
        help: "query/key width (V has the same width)",
        kind: Kind::Int {
            min: 1,
            max: MAX_D as u64,
            default: DEFAULT_D as u64,
        },
    },
    Spec {
        key: "heads",
        label: "Heads H",
        help: "attention heads per sequence, each with its own seeded Q, K, V, run in one dispatch",
        kind: Kind::Int {
            min: 1,
            max: MAX_HEADS as u64,
            default: 1,
        },
    },
    Spec {
        key: "batch",
        label: "Batch B",
        help: "sequences in the batch (B·H heads in all)",
        kind: Kind::Int {
            min: 1,
            max: MAX_HEADS as u64,
            default: 1,
        },
    },
    Spec {
        key: "seed",
        label: "Seed",
        help: "seed of the inputs and of the method's random choices",
        kind: Kind::Int {
            min: 0,
            max: u64::MAX,
            default: DEFAULT_SEED,
        },
    },
    Spec {
        key: "causal",
        label: "Causal (query i sees keys j ≤ i)",
        help: "mask keys j > i",
        kind: Kind::Flag,
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
    Spec {
        key: "inputs",
        label: "Inputs",
        help: "structure of the seeded inputs",
        kind: Kind::Choice {
            names: input_keys,
            default: "gaussian",
            listed: Listing::Or,
        },
    },
    Spec {
        key: "qk-scale",
        label: "Q, K scale",
        help: "Q and K are multiplied by this; the logits scale by its square",
        kind: Kind::Real {
            min: QK_SCALE_RANGE.0,
            max: QK_SCALE_RANGE.1,
            default: 1.0,
        },
    },
    Spec {
        key: "qkv-bits",
        label: "Q, K, V bits",
        help: "quantize Q, K and V to b-bit integers (symmetric, min-max; 1 = binary) before the method runs; 0 keeps f32",
        kind: Kind::Int {
            min: 0,
            max: 8,
            default: 0,
        },
    },
    Spec {
        key: "qkv-scales",
        label: "Q, K, V scales",
        help: "one scale per token (row) or per channel (column) of Q, K and V",
        kind: Kind::Choice {
            names: qkv_scale_keys,
            default: "per-token",
            listed: Listing::Or,
        },
    },
];

/// The spec of a common knob.
pub fn common(key: &str) -> &'static Spec {
    COMMON
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("no common setting {key}"))
}

/// Validated settings of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Attention method.
    pub method: MethodId,
    /// Sequence length, 1 ..= [`MAX_N`].
    pub n: usize,
    /// Head dimension, 1 ..= [`MAX_D`].
    pub d: usize,
    /// Heads per sequence (H), 1 ..= [`MAX_HEADS`].
    pub heads: usize,
    /// Sequences in the batch (B), 1 ..= [`MAX_HEADS`]; B·H·n·max(d, dᵥ)
    /// ≤ [`MAX_STACKED_ELEMENTS`].
    pub batch: usize,
    /// Seed of the inputs and of any random choice of the method.
    pub seed: u64,
    /// Mask keys j > i.
    pub causal: bool,
    /// Backend asked for.
    pub backend: BackendChoice,
    /// Structure of the seeded inputs.
    pub inputs: InputSource,
    /// Factor on Q and K (the logits scale by its square).
    pub qk_scale: f64,
    /// Bits of Q, K and V (0: f32, not quantized).
    pub qkv_bits: u32,
    /// One scale per channel (column) of Q, K, V instead of per token.
    pub qkv_per_channel: bool,
    /// The method's own knobs (every key of its [`ParamSpec`]s is present).
    pub params: ParamValues,
}

impl Default for Settings {
    fn default() -> Self {
        Settings::for_method(MethodId::Full)
    }
}

impl Settings {
    /// Defaults for a method: n, d, seed and its knobs at their defaults.
    pub fn for_method(method: MethodId) -> Settings {
        Settings {
            method,
            n: DEFAULT_N,
            d: DEFAULT_D,
            heads: 1,
            batch: 1,
            seed: DEFAULT_SEED,
            causal: false,
            backend: BackendChoice::Auto,
            inputs: InputSource::Gaussian,
            qk_scale: 1.0,
            qkv_bits: 0,
            qkv_per_channel: false,
            params: method
                .info()
                .params
                .iter()
                .map(|p| (p.key.to_string(), p.default))
                .collect(),
        }
    }

    /// Parses `key=value` pairs (a URL query, or the CLI's flags). Later
    /// duplicates win. Never fails: problems come back as issues and the
    /// nearest valid values are used.
    pub fn from_pairs<K, V, I>(pairs: I) -> (Settings, Vec<SettingsIssue>)
    where
        K: AsRef<str>,
        V: AsRef<str>,
        I: IntoIterator<Item = (K, V)>,
    {
        let mut raw: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in pairs {
            raw.insert(k.as_ref().trim().to_string(), v.as_ref().trim().to_string());
        }
        let mut issues = Vec::new();
        let mut value = |key: &'static str| parse_spec(common(key), raw.get(key), &mut issues);
        let method = MethodId::from_key(value("method").name()).unwrap_or(MethodId::Full);
        let mut s = Settings::for_method(method);
        s.n = value("n").int() as usize;
        s.d = value("d").int() as usize;
        s.heads = value("heads").int() as usize;
        s.batch = value("batch").int() as usize;
        s.seed = value("seed").int();
        s.causal = value("causal").flag();
        s.backend = BackendChoice::ALL
            .iter()
            .map(|(b, _)| *b)
            .find(|b| b.key() == value("backend").name())
            .unwrap_or_default();
        s.inputs = InputSource::generator(value("inputs").name()).unwrap_or(InputSource::Gaussian);
        s.qk_scale = value("qk-scale").real();
        s.qkv_bits = value("qkv-bits").int() as u32;
        s.qkv_per_channel = value("qkv-scales").name() == "per-channel";
        for spec in method.info().params {
            let v = parse_param(spec, raw.get(spec.key), &mut issues);
            s.params.insert(spec.key.to_string(), v);
        }
        for fix in method.method().fix_params(&mut s.params) {
            push_issue(
                &mut issues,
                fix.key,
                format!("{}; using {}", fix.problem, fix.value),
            );
        }
        if s.causal
            && let Some(why) = method.info().causal_unsupported
        {
            let label = method.info().label;
            push_issue(
                &mut issues,
                "causal",
                format!("{label} cannot be causal: {why}; using causal=false"),
            );
            s.causal = false;
        }
        if let Some(why) = method.method().always_causal() {
            if !s.causal && raw.contains_key("causal") {
                let label = method.info().label;
                push_issue(
                    &mut issues,
                    "causal",
                    format!("{label} is always causal: {why}; using causal=true"),
                );
            }
            s.causal = true;
        }
        s.fit_heads(&mut issues);
        let known_elsewhere = |k: &str| {
            MethodId::ALL
                .iter()
                .any(|m| m.info().params.iter().any(|p| p.key == k))
        };
        for key in raw.keys() {
            let ours = COMMON.iter().any(|c| c.key == key)
                || method.info().params.iter().any(|p| p.key == key);
            if !ours && !known_elsewhere(key) {
                push_issue(
                    &mut issues,
                    key,
                    format!("unknown setting '{key}'; ignored"),
                );
            }
        }
        (s, issues)
    }

    /// Parses a URL query string (`a=1&b=2`, with or without a leading `?`).
    pub fn from_query(query: &str) -> (Settings, Vec<SettingsIssue>) {
        Settings::from_pairs(parse_query(query))
    }

    /// The settings as `key=value` pairs, in a stable order: the common keys
    /// of [`COMMON`], then the method's knobs. `backend`, `inputs`,
    /// `qk-scale`, `qkv-bits` and `qkv-scales` are omitted at their
    /// defaults.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for spec in COMMON {
            let value =
                match spec.key {
                    "method" => Some(self.method.key().to_string()),
                    "n" => Some(self.n.to_string()),
                    "d" => Some(self.d.to_string()),
                    "heads" => (self.heads != 1).then(|| self.heads.to_string()),
                    "batch" => (self.batch != 1).then(|| self.batch.to_string()),
                    "seed" => Some(self.seed.to_string()),
                    "causal" => Some(self.causal.to_string()),
                    "backend" => (self.backend != BackendChoice::Auto)
                        .then(|| self.backend.key().to_string()),
                    "inputs" => (self.inputs != InputSource::Gaussian)
                        .then(|| self.inputs.key().to_string()),
                    "qk-scale" => (self.qk_scale != 1.0).then(|| self.qk_scale.to_string()),
                    "qkv-bits" => (self.qkv_bits != 0).then(|| self.qkv_bits.to_string()),
                    "qkv-scales" => self.qkv_per_channel.then(|| "per-channel".to_string()),
                    _ => None,
                };
            if let Some(v) = value {
                out.push((spec.key.to_string(), v));
            }
        }
        for p in self.method.info().params {
            let v = self.params.get(p.key).copied().unwrap_or(p.default);
            let text = if p.flag {
                (v != 0).to_string()
            } else if let Some(name) = p.choice_name(v) {
                name.to_string()
            } else {
                v.to_string()
            };
            out.push((p.key.to_string(), text));
        }
        out
    }

    /// B·H.
    pub fn head_count(&self) -> usize {
        self.heads * self.batch
    }

    /// Keeps B·H·n·d within [`MAX_STACKED_ELEMENTS`]: a smaller batch, then
    /// fewer heads, with a message saying which and why.
    fn fit_heads(&mut self, issues: &mut Vec<SettingsIssue>) {
        let per_head = self.n * self.d;
        let fits = |b: usize, h: usize| b * h * per_head <= MAX_STACKED_ELEMENTS;
        if fits(self.batch, self.heads) {
            return;
        }
        let asked = (self.batch, self.heads);
        while !fits(self.batch, self.heads) && self.batch > 1 {
            self.batch -= 1;
        }
        while !fits(self.batch, self.heads) && self.heads > 1 {
            self.heads -= 1;
        }
        push_issue(
            issues,
            if self.heads != asked.1 {
                "heads"
            } else {
                "batch"
            },
            format!(
                "batch {} × heads {} × n {} × d {} is {} elements per matrix, above the {} a run may hold; using batch={} heads={}",
                asked.0,
                asked.1,
                self.n,
                self.d,
                asked.0 * asked.1 * per_head,
                MAX_STACKED_ELEMENTS,
                self.batch,
                self.heads
            ),
        );
    }

    /// The problem these settings describe, on seeded inputs, with these
    /// run options; `gpu_required` when the GPU was asked for by name.
    pub fn problem(&self, options: GpuRunOptions) -> AttentionProblem {
        let heads = (self.head_count() > 1).then(|| {
            Rc::new(Heads::generate(
                self.inputs,
                (self.n, self.d),
                self.seed,
                self.qk_scale,
                (self.batch, self.heads),
            ))
        });
        let inputs = match &heads {
            Some(h) => h.items[0].clone(),
            None => Rc::new(Inputs::generate(
                self.inputs,
                self.n,
                self.d,
                self.seed,
                self.qk_scale,
            )),
        };
        AttentionProblem {
            method: self.method,
            params: self.params.clone(),
            causal: self.causal || self.method.method().always_causal().is_some(),
            seed: self.seed,
            qk_scale: self.qk_scale,
            inputs,
            heads,
            options,
            gpu_required: self.backend == BackendChoice::Gpu,
            qkv: (self.qkv_bits > 0).then_some(QkvQuant {
                bits: self.qkv_bits,
                per_channel: self.qkv_per_channel,
            }),
        }
    }

    /// The settings as a URL query, without the leading `?`.
    pub fn to_query(&self) -> String {
        query_from_pairs(&self.to_pairs())
    }

    /// The query after a control sets `key` to the raw text `value`: the
    /// value is passed on unparsed, so that a bad entry gets the same message
    /// as a bad URL. Changing the method resets the knobs to the new method's
    /// defaults (and drops `causal` if it cannot be causal).
    pub fn query_with(&self, key: &str, value: &str) -> String {
        let mut base = self.clone();
        if key == "method"
            && let Some(m) = MethodId::from_key(value)
        {
            base = Settings {
                method: m,
                params: Settings::for_method(m).params,
                ..self.clone()
            };
            if m.info().causal_unsupported.is_some() {
                base.causal = false;
            }
            if m.method().always_causal().is_some() {
                base.causal = true;
            }
        }
        let mut pairs = base.to_pairs();
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some(pair) => pair.1 = value.to_string(),
            None => pairs.push((key.to_string(), value.to_string())),
        }
        query_from_pairs(&pairs)
    }

    /// The problem shape these settings describe (seeded inputs: dᵥ = d).
    pub fn shape(&self) -> Shape {
        Shape {
            n: self.n,
            d: self.d,
            dv: self.d,
            causal: self.causal,
        }
    }
}

/// Parses a method knob's raw value (its default when absent).
fn parse_param(spec: &ParamSpec, raw: Option<&String>, issues: &mut Vec<SettingsIssue>) -> u64 {
    let key = spec.key;
    let Some(v) = raw else {
        return spec.default;
    };
    if spec.flag {
        return match parse_bool(v) {
            Some(b) => b as u64,
            None => {
                push_issue(
                    issues,
                    key,
                    format!("{key}={v} is not true or false; using false"),
                );
                0
            }
        };
    }
    if spec.is_choice() {
        return spec
            .choice_index(&v.to_ascii_lowercase())
            .unwrap_or_else(|| {
                let default = spec.choices[spec.default as usize];
                let why = format!("{key}={v} is not {}", or_list(spec.choices));
                push_issue(issues, key, format!("{why}; using {default}"));
                spec.default
            });
    }
    parse_int(key, v, spec.min, spec.max).unwrap_or_else(|(x, why)| {
        push_issue(issues, key, why);
        x.unwrap_or(spec.default)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(q: &str) -> (Settings, Vec<String>) {
        let (s, issues) = Settings::from_query(q);
        (s, issues.into_iter().map(|i| i.to_string()).collect())
    }

    #[test]
    fn heads_and_batch_parse_stay_out_of_default_links_and_fit_memory() {
        let (s, issues) = parse("method=full&n=1024&d=64&heads=16&batch=2");
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!((s.heads, s.batch, s.head_count()), (16, 2, 32));
        assert!(
            s.to_query().contains("heads=16&batch=2"),
            "{}",
            s.to_query()
        );
        let p = s.problem(GpuRunOptions::default());
        assert_eq!(p.head_count(), 32);
        assert_eq!(p.heads.as_ref().unwrap().checked(), vec![0, 15, 31]);
        // One head: no keys in the link, no Heads in the problem.
        let (one, _) = parse("method=full&n=64&d=8");
        assert!(!one.to_query().contains("heads") && !one.to_query().contains("batch"));
        assert!(one.problem(GpuRunOptions::default()).heads.is_none());
        // Out of range, and too large together: the nearest that fits, said.
        let (s, issues) = parse("heads=0&batch=65");
        assert_eq!((s.heads, s.batch), (1, 64));
        assert_eq!(issues.len(), 2, "{issues:?}");
        let (s, issues) = parse("n=16384&d=256&heads=64&batch=64");
        assert!(s.batch * s.heads * s.n * s.d <= MAX_STACKED_ELEMENTS);
        assert_eq!((s.batch, s.heads), (1, 32));
        assert!(
            issues.iter().any(|i| i.contains("using batch=1 heads=32")),
            "{issues:?}"
        );
    }

    #[test]
    fn a_full_query_round_trips() {
        let (s, issues) = parse("?method=full&n=1024&d=64&seed=1&causal=true");
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(
            (s.method, s.n, s.d, s.seed, s.causal),
            (MethodId::Full, 1024, 64, 1, true)
        );
        assert_eq!(s.to_query(), "method=full&n=1024&d=64&seed=1&causal=true");
        assert_eq!(Settings::from_query(&s.to_query()).0, s);
    }

    #[test]
    fn bad_values_say_why_and_use_the_nearest_valid_value() {
        let (s, i) = parse("n=0");
        assert_eq!(s.n, 1);
        assert_eq!(i, vec!["n=0 is below the minimum 1; using 1"]);
        let (s, i) = parse("n=abc");
        assert_eq!(s.n, DEFAULT_N);
        assert_eq!(i, vec!["n=abc is not a number; using the default"]);
        let (s, i) = parse("d=100000");
        assert_eq!(s.d, MAX_D);
        assert_eq!(i, vec!["d=100000 is above the maximum 256; using 256"]);
        let (s, i) = parse("method=nope");
        assert_eq!(s.method, MethodId::Full);
        assert_eq!(
            i[0],
            format!(
                "method=nope is not a known method (known: {}); using full",
                MethodId::keys().join(", ")
            )
        );
        assert!(i[0].contains("full, longformer"), "{}", i[0]);
        let (s, i) = parse("n=100.4&causal=maybe&backend=tpu&colour=red");
        assert_eq!(
            (s.n, s.causal, s.backend),
            (100, false, BackendChoice::Auto)
        );
        assert_eq!(i.len(), 4, "{i:?}");
        let (s, i) = parse("n=1e3&d=-4&seed=18446744073709551615");
        assert_eq!((s.n, s.d, s.seed), (1000, 1, u64::MAX));
        assert_eq!(i.len(), 1);
        assert_eq!(parse("n=NaN").0.n, DEFAULT_N);
        assert_eq!(parse("n=inf").0.n, DEFAULT_N);
    }

    #[test]
    fn controls_pass_raw_values_through_the_parser() {
        let s = Settings::default();
        let q = s.query_with("n", "0");
        assert_eq!(q, "method=full&n=0&d=64&seed=1&causal=false");
        let (t, issues) = Settings::from_query(&q);
        assert_eq!((t.n, issues.len()), (1, 1));
        assert_eq!(
            s.query_with("backend", "cpu"),
            "method=full&n=256&d=64&seed=1&causal=false&backend=cpu"
        );
        assert_eq!(s.query_with("method", "full"), s.to_query());
    }

    #[test]
    fn method_knobs_parse_validate_and_round_trip() {
        let (s, i) = parse("method=sparse-fixed&stride=8&summary=12&n=64");
        assert_eq!((s.params["stride"], s.params["summary"]), (8, 8));
        assert_eq!(i, vec!["summary=12 exceeds stride=8; using 8"]);
        let (s, i) = parse("method=reformer&buckets=7&shared-qk=true&rounds=0");
        assert_eq!(
            (
                s.params["buckets"],
                s.params["shared-qk"],
                s.params["rounds"]
            ),
            (8, 1, 1)
        );
        assert_eq!(i.len(), 2, "{i:?}");
        assert!(s.to_query().contains("shared-qk=true"));
        let (back, issues) = Settings::from_query(&s.to_query());
        assert!(issues.is_empty());
        assert_eq!(back, s);
        let (s, i) = parse("method=reformer&shared-qk=perhaps");
        assert_eq!(s.params["shared-qk"], 0);
        assert_eq!(
            i,
            vec!["shared-qk=perhaps is not true or false; using false"]
        );
        // A knob of another method is ignored without complaint (links keep
        // working when the method changes); an unknown one is reported.
        let (s, i) = parse("method=longformer&window=5&stride=3&wobble=1");
        assert_eq!(s.params["window"], 5);
        assert_eq!(i, vec!["unknown setting 'wobble'; ignored"]);
        let (s, _) = parse("method=bigbird&window-blocks=4");
        assert_eq!(s.params["window-blocks"], 5);
        assert_eq!(
            s.query_with("method", "longformer"),
            "method=longformer&n=256&d=64&seed=1&causal=false&window=32&global=1"
        );
    }

    #[test]
    fn inputs_and_qk_scale() {
        let (s, i) = parse("inputs=low-rank&qk-scale=0.25");
        assert!(i.is_empty(), "{i:?}");
        assert_eq!((s.inputs, s.qk_scale), (InputSource::LowRank, 0.25));
        assert!(s.to_query().ends_with("&inputs=low-rank&qk-scale=0.25"));
        assert_eq!(Settings::from_query(&s.to_query()).0, s);
        let (s, i) = parse("inputs=npy&qk-scale=1e9");
        assert_eq!((s.inputs, s.qk_scale), (InputSource::Gaussian, 100.0));
        assert_eq!(i.len(), 2, "{i:?}");
        let (s, i) = parse("qk-scale=zero");
        assert_eq!(
            (s.qk_scale, i),
            (
                1.0,
                vec!["qk-scale=zero is not a number; using 1".to_string()]
            )
        );
        assert_eq!(parse("qk-scale=0").0.qk_scale, 0.001);
    }

    #[test]
    fn query_decoding_handles_escapes_and_junk() {
        assert_eq!(
            parse_query("a=%41%2x&b&=c&%"),
            vec![
                ("a".to_string(), "A%2x".to_string()),
                ("b".to_string(), String::new()),
                (String::new(), "c".to_string()),
                ("%".to_string(), String::new()),
            ]
        );
        assert_eq!(parse_query("x=%E2%88%9A+x")[0].1, "√ x");
        assert_eq!(parse_query("x=é%")[0].1, "é%");
    }

    proptest! {
        /// Whatever the query, parsing yields valid settings and does not panic.
        #[test]
        fn any_query_gives_valid_settings(q in ".{0,80}") {
            let (s, _) = Settings::from_query(&q);
            prop_assert!((1..=MAX_N).contains(&s.n));
            prop_assert!((1..=MAX_D).contains(&s.d));
        }

        /// Valid settings survive a round trip through the URL unchanged and
        /// without issues.
        #[test]
        fn valid_settings_round_trip(n in 1..=MAX_N, d in 1..=MAX_D, seed: u64, causal: bool,
                                     backend in 0..3usize) {
            let mut s = Settings { n, d, seed, causal, ..Settings::default() };
            s.backend = [BackendChoice::Auto, BackendChoice::Gpu, BackendChoice::Cpu][backend];
            let (back, issues) = Settings::from_query(&s.to_query());
            prop_assert!(issues.is_empty());
            prop_assert_eq!(back, s);
        }

        /// Registry keys (common and every method's knobs) with random values
        /// — numbers in and out of range, fractions, junk, booleans, choice
        /// names — always give valid settings; a value the parser took
        /// without an issue is kept exactly; a bad one gets an issue naming
        /// its key.
        #[test]
        fn registry_keys_with_random_values_give_valid_settings(
            m in 0..MethodId::ALL.len(),
            values in prop::collection::vec(
                (0..64usize, 0..6u8, -20_000i64..40_000, "[a-z0-9.e-]{0,6}", 0.0f64..1.0),
                0..10,
            ),
        ) {
            let method = MethodId::ALL[m];
            let specs = method.info().params;
            let keys: Vec<&str> = COMMON
                .iter()
                .map(|c| c.key)
                .filter(|k| *k != "method")
                .chain(specs.iter().map(|p| p.key))
                .collect();
            let mut pairs = vec![("method".to_string(), method.key().to_string())];
            for (k, kind, number, junk, fraction) in values {
                let key = keys[k % keys.len()];
                let spec = specs.iter().find(|p| p.key == key);
                let value = match kind {
                    0 => number.to_string(),
                    1 => junk,
                    2 => ["true", "false", "1", "0"][k % 4].to_string(),
                    3 => format!("{:.2}", number as f64 * fraction),
                    4 => match spec {
                        Some(p) if p.is_choice() => p.choices[k % p.choices.len()].to_string(),
                        Some(p) => (p.min + (fraction * (p.max - p.min) as f64) as u64).to_string(),
                        None => ["gaussian", "low-rank", "clustered", "local", "gpu", "cpu"][k % 6]
                            .to_string(),
                    },
                    _ => format!("{fraction}"),
                };
                pairs.push((key.to_string(), value));
            }
            let (s, issues) = Settings::from_pairs(pairs.clone());
            prop_assert_eq!(s.method, method);
            prop_assert!((1..=MAX_N).contains(&s.n));
            prop_assert!((1..=MAX_D).contains(&s.d));
            prop_assert!((QK_SCALE_RANGE.0..=QK_SCALE_RANGE.1).contains(&s.qk_scale));
            for p in specs {
                let v = s.params[p.key];
                prop_assert!((p.min..=p.max).contains(&v), "{} = {}", p.key, v);
            }
            // The last value given for each key wins; if no issue names the
            // key, it was taken as given.
            let mut last: BTreeMap<String, String> = BTreeMap::new();
            for (k, v) in pairs {
                last.insert(k, v);
            }
            for (key, value) in &last {
                if issues.iter().any(|i| &i.key == key) || key == "method" {
                    continue;
                }
                let taken = s
                    .to_pairs()
                    .into_iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v);
                match key.as_str() {
                    "n" | "d" | "seed" => prop_assert_eq!(
                        value.parse::<f64>().ok(),
                        taken.and_then(|t| t.parse::<f64>().ok()),
                        "{}", key
                    ),
                    _ => {
                        if let Some(p) = specs.iter().find(|p| p.key == key) {
                            if !p.flag && !p.is_choice() {
                                prop_assert_eq!(
                                    value.parse::<f64>().ok(),
                                    Some(s.params[p.key] as f64),
                                    "{}", key
                                );
                            } else if p.is_choice() {
                                prop_assert_eq!(p.choice_index(value), Some(s.params[p.key]));
                            }
                        }
                    }
                }
            }
        }

        /// Random valid settings of any method (knobs anywhere in range,
        /// after the method's own cross-knob rules) survive the URL.
        #[test]
        fn any_methods_valid_settings_round_trip(
            m in 0..MethodId::ALL.len(),
            n in 1..=MAX_N,
            d in 1..=MAX_D,
            fractions in prop::collection::vec(0.0f64..=1.0, 8),
            causal: bool,
            input in 0..4usize,
        ) {
            let method = MethodId::ALL[m];
            let mut s = Settings::for_method(method);
            s.n = n;
            s.d = d;
            s.causal = (causal && method.info().causal_unsupported.is_none())
                || method.method().always_causal().is_some();
            s.inputs = InputSource::GENERATORS[input];
            for (p, f) in method.info().params.iter().zip(fractions) {
                s.params.insert(p.key.to_string(), p.min + (f * (p.max - p.min) as f64).round() as u64);
            }
            let _ = method.method().fix_params(&mut s.params);
            let (back, issues) = Settings::from_query(&s.to_query());
            prop_assert!(issues.is_empty(), "{:?}", issues);
            prop_assert_eq!(back, s);
        }

        /// Any integer-looking value lands in range, at the nearest bound when
        /// outside it.
        #[test]
        fn numbers_clamp_to_the_nearest_bound(x in -1.0e9f64..1.0e9) {
            let (s, _) = Settings::from_query(&format!("n={x}"));
            let expect = x.round().clamp(1.0, MAX_N as f64) as usize;
            prop_assert!(s.n == expect || (x < 1.0 && s.n == 1) || (x > MAX_N as f64 && s.n == MAX_N));
        }
    }
}

//! The scaling page's settings (`/scaling?methods=full,linear&d=64&n-min=128&n-max=4096`):
//! the methods to sweep (comma-separated registry keys, the name of `flt
//! bench --methods`), the head dimension, seed, causal mask and backend
//! under the CLI's names, and the sweep's range of n (`n-min`, `n-max`:
//! powers of two). Parsing never fails: a bad value gets a message and the
//! nearest valid one.

use std::collections::BTreeMap;

use super::{
    COMMON, Kind, SettingsIssue, Spec, parse_query, parse_spec, push_issue, query_from_pairs,
};
use crate::attention::MethodId;
use crate::inputs::{InputSource, PAGE_MAX_N};
use crate::pipeline::BackendChoice;
use crate::pipeline::scaling::{MIN_N, ScalingProblem};

/// The methods swept when the URL names none: the reference, a windowed, a
/// low-rank and a kernel method.
pub const DEFAULT_METHODS: [MethodId; 4] = [
    MethodId::Full,
    MethodId::Longformer,
    MethodId::Linformer,
    MethodId::Linear,
];

/// Default smallest n.
pub const DEFAULT_N_MIN: usize = 128;
/// Default largest n.
pub const DEFAULT_N_MAX: usize = 4096;

/// Timed repeats per point (fewer where the budget needs it).
pub const REPEATS: u32 = 5;

/// A common knob's spec, found at compile time.
const fn shared(key: &str) -> Spec {
    let mut i = 0;
    while i < COMMON.len() {
        if same(COMMON[i].key, key) {
            return COMMON[i];
        }
        i += 1;
    }
    panic!("no common setting of that key")
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The page's knobs besides the methods, in URL order (the methods are
/// checkboxes of the registry).
pub const SPECS: &[Spec] = &[
    shared("d"),
    Spec {
        key: "n-min",
        label: "Smallest n",
        help: "the sweep's first sequence length (a power of two)",
        kind: Kind::Int {
            min: MIN_N as u64,
            max: PAGE_MAX_N as u64,
            default: DEFAULT_N_MIN as u64,
        },
    },
    Spec {
        key: "n-max",
        label: "Largest n",
        help: "the sweep's last sequence length (a power of two); a method stops earlier where its kernel does not fit the adapter or its next point would exceed the time budget",
        kind: Kind::Int {
            min: MIN_N as u64,
            max: PAGE_MAX_N as u64,
            default: DEFAULT_N_MAX as u64,
        },
    },
    shared("seed"),
    shared("causal"),
    shared("backend"),
];

/// The spec of a knob by key.
pub fn spec(key: &str) -> &'static Spec {
    SPECS
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("no scaling setting {key}"))
}

/// Validated settings of a sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalingSettings {
    /// The methods chosen, in registry order.
    pub methods: Vec<MethodId>,
    /// Query/key width.
    pub d: usize,
    /// Seed of the inputs and the methods' random choices.
    pub seed: u64,
    /// Smallest n (a power of two).
    pub n_min: usize,
    /// Largest n (a power of two, ≥ `n_min`).
    pub n_max: usize,
    /// Mask keys j > i.
    pub causal: bool,
    /// The backend asked for.
    pub backend: BackendChoice,
}

impl Default for ScalingSettings {
    fn default() -> ScalingSettings {
        ScalingSettings {
            methods: DEFAULT_METHODS.to_vec(),
            d: super::DEFAULT_D,
            seed: super::DEFAULT_SEED,
            n_min: DEFAULT_N_MIN,
            n_max: DEFAULT_N_MAX,
            causal: false,
            backend: BackendChoice::Auto,
        }
    }
}

/// The methods in a comma-separated list, in registry order, with a
/// message for each unknown key.
pub fn parse_methods(raw: &str, issues: &mut Vec<SettingsIssue>) -> Vec<MethodId> {
    let mut chosen = Vec::new();
    for key in raw.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        match MethodId::from_key(&key.to_ascii_lowercase()) {
            Some(m) => chosen.push(m),
            None => push_issue(
                issues,
                "methods",
                format!(
                    "methods: '{key}' is not a known method (known: {}); ignored",
                    MethodId::keys().join(", ")
                ),
            ),
        }
    }
    MethodId::ALL
        .iter()
        .copied()
        .filter(|m| chosen.contains(m))
        .collect()
}

/// The methods as the URL writes them (`full,linear`).
pub fn methods_text(methods: &[MethodId]) -> String {
    methods
        .iter()
        .map(|m| m.key())
        .collect::<Vec<_>>()
        .join(",")
}

/// The power of two nearest `n` upwards (`up`) or downwards, within
/// [`MIN_N`]..=[`PAGE_MAX_N`].
fn power_of_two(n: usize, up: bool) -> usize {
    let p = if up {
        n.next_power_of_two()
    } else {
        1usize << (usize::BITS - 1 - n.max(1).leading_zeros())
    };
    p.clamp(MIN_N, PAGE_MAX_N)
}

impl ScalingSettings {
    /// Parses `key=value` pairs (a URL query). Never fails.
    pub fn from_pairs<K, V, I>(pairs: I) -> (ScalingSettings, Vec<SettingsIssue>)
    where
        K: AsRef<str>,
        V: AsRef<str>,
        I: IntoIterator<Item = (K, V)>,
    {
        let raw: BTreeMap<String, String> = super::raw_pairs(pairs);
        let mut issues = Vec::new();
        let mut s = ScalingSettings::default();
        if let Some(list) = raw.get("methods") {
            let methods = parse_methods(list, &mut issues);
            if methods.is_empty() {
                push_issue(
                    &mut issues,
                    "methods",
                    format!(
                        "methods={list} names no method; using {}",
                        methods_text(&DEFAULT_METHODS)
                    ),
                );
            } else {
                s.methods = methods;
            }
        }
        let mut value = |key: &str| parse_spec(spec(key), raw.get(key), &mut issues);
        s.d = value("d").int() as usize;
        s.seed = value("seed").int();
        let n_min = value("n-min").int() as usize;
        let n_max = value("n-max").int() as usize;
        s.causal = value("causal").flag();
        s.backend = BackendChoice::ALL
            .iter()
            .map(|(b, _)| *b)
            .find(|b| b.key() == value("backend").name())
            .unwrap_or_default();
        s.n_min = power_of_two(n_min, true);
        if s.n_min != n_min {
            push_issue(
                &mut issues,
                "n-min",
                format!("n-min={n_min} is not a power of two; using {}", s.n_min),
            );
        }
        s.n_max = power_of_two(n_max, false);
        if s.n_max != n_max {
            push_issue(
                &mut issues,
                "n-max",
                format!("n-max={n_max} is not a power of two; using {}", s.n_max),
            );
        }
        if s.n_max < s.n_min {
            push_issue(
                &mut issues,
                "n-max",
                format!(
                    "n-max={} is below n-min={}; using {}",
                    s.n_max, s.n_min, s.n_min
                ),
            );
            s.n_max = s.n_min;
        }
        for key in raw.keys() {
            if key != "methods" && !SPECS.iter().any(|s| s.key == key) {
                push_issue(
                    &mut issues,
                    key,
                    format!("unknown setting '{key}'; ignored"),
                );
            }
        }
        (s, issues)
    }

    /// Parses a URL query.
    pub fn from_query(query: &str) -> (ScalingSettings, Vec<SettingsIssue>) {
        ScalingSettings::from_pairs(parse_query(query))
    }

    /// The settings as pairs in URL order (`backend` omitted at `auto`).
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut out = vec![("methods".to_string(), methods_text(&self.methods))];
        for spec in SPECS {
            let v = match spec.key {
                "d" => Some(self.d.to_string()),
                "seed" => Some(self.seed.to_string()),
                "n-min" => Some(self.n_min.to_string()),
                "n-max" => Some(self.n_max.to_string()),
                "causal" => Some(self.causal.to_string()),
                _ => (self.backend != BackendChoice::Auto).then(|| self.backend.key().to_string()),
            };
            if let Some(v) = v {
                out.push((spec.key.to_string(), v));
            }
        }
        out
    }

    /// The URL query, without the leading `?`.
    pub fn to_query(&self) -> String {
        query_from_pairs(&self.to_pairs())
    }

    /// The query after a control sets `key` to the raw text `value` (passed
    /// on unparsed, so a bad entry gets the URL's message).
    pub fn query_with(&self, key: &str, value: &str) -> String {
        let mut pairs = self.to_pairs();
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some(pair) => pair.1 = value.to_string(),
            None => pairs.push((key.to_string(), value.to_string())),
        }
        query_from_pairs(&pairs)
    }

    /// The settings with `method` chosen or not (the list keeps registry
    /// order; the last method cannot be unchosen).
    pub fn toggled(&self, method: MethodId, on: bool) -> ScalingSettings {
        let mut methods: Vec<MethodId> = self
            .methods
            .iter()
            .copied()
            .filter(|m| *m != method)
            .collect();
        if on {
            methods.push(method);
        }
        let methods: Vec<MethodId> = MethodId::ALL
            .iter()
            .copied()
            .filter(|m| methods.contains(m))
            .collect();
        ScalingSettings {
            methods: if methods.is_empty() {
                self.methods.clone()
            } else {
                methods
            },
            ..self.clone()
        }
    }

    /// The sweep these settings describe, with `point_budget_ms` per point.
    pub fn problem(&self, point_budget_ms: f64) -> ScalingProblem {
        ScalingProblem {
            methods: self.methods.clone(),
            d: self.d,
            seed: self.seed,
            causal: self.causal,
            inputs: InputSource::Gaussian,
            n_min: self.n_min,
            n_max: self.n_max,
            repeats: REPEATS,
            point_budget_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn texts(issues: &[SettingsIssue]) -> Vec<String> {
        issues.iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn a_query_round_trips() {
        let (s, issues) = ScalingSettings::from_query(
            "?methods=linear,full,reformer&d=32&seed=3&n-min=64&n-max=1024&causal=true&backend=cpu",
        );
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(
            s.methods,
            vec![MethodId::Full, MethodId::Reformer, MethodId::Linear]
        );
        assert_eq!((s.d, s.seed, s.n_min, s.n_max), (32, 3, 64, 1024));
        assert!(s.causal && s.backend == BackendChoice::Cpu);
        assert_eq!(
            s.to_query(),
            "methods=full%2Creformer%2Clinear&d=32&n-min=64&n-max=1024&seed=3&causal=true&backend=cpu"
        );
        assert_eq!(ScalingSettings::from_query(&s.to_query()).0, s);
        let p = s.problem(100.0);
        assert_eq!(p.ns(), vec![64, 128, 256, 512, 1024]);
        assert_eq!(p.swept()[0], MethodId::Full);
    }

    #[test]
    fn bad_values_say_why_and_use_the_nearest_valid_one() {
        let (s, i) = ScalingSettings::from_query("methods=linear,bogus&n-min=100&n-max=3000&x=1");
        assert_eq!(s.methods, vec![MethodId::Linear]);
        assert_eq!((s.n_min, s.n_max), (128, 2048));
        let t = texts(&i);
        assert!(
            t[0].starts_with("methods: 'bogus' is not a known method (known: full, "),
            "{t:?}"
        );
        assert!(t.contains(&"n-min=100 is not a power of two; using 128".to_string()));
        assert!(t.contains(&"n-max=3000 is not a power of two; using 2048".to_string()));
        assert!(t.contains(&"unknown setting 'x'; ignored".to_string()));
        let (s, i) = ScalingSettings::from_query("n-min=4096&n-max=256");
        assert_eq!((s.n_min, s.n_max), (4096, 4096));
        assert_eq!(texts(&i), vec!["n-max=256 is below n-min=4096; using 4096"]);
        let (s, i) = ScalingSettings::from_query("methods=,,&n-max=1e9&d=0");
        assert_eq!(s.methods, DEFAULT_METHODS.to_vec());
        assert_eq!((s.n_max, s.d), (PAGE_MAX_N, 1));
        assert_eq!(i.len(), 3, "{i:?}");
    }

    #[test]
    fn toggling_keeps_registry_order_and_one_method() {
        let s = ScalingSettings::default();
        let t = s.toggled(MethodId::Reformer, true);
        assert_eq!(
            methods_text(&t.methods),
            "full,longformer,reformer,linformer,linear"
        );
        let one = ScalingSettings {
            methods: vec![MethodId::Linear],
            ..s
        };
        assert_eq!(
            one.toggled(MethodId::Linear, false).methods,
            vec![MethodId::Linear]
        );
        assert_eq!(
            one.query_with("n-max", "oops"),
            "methods=linear&d=64&n-min=128&n-max=oops&seed=1&causal=false"
        );
    }

    proptest! {
        /// Whatever the query, the settings are valid: powers of two in
        /// order, at least one method.
        #[test]
        fn any_query_gives_a_valid_sweep(q in ".{0,80}", lo in 0u64..40000, hi in 0u64..40000) {
            for query in [q, format!("n-min={lo}&n-max={hi}")] {
                let (s, _) = ScalingSettings::from_query(&query);
                prop_assert!(s.n_min.is_power_of_two() && s.n_max.is_power_of_two());
                prop_assert!(MIN_N <= s.n_min && s.n_min <= s.n_max && s.n_max <= PAGE_MAX_N);
                prop_assert!(!s.methods.is_empty());
                prop_assert_eq!(ScalingSettings::from_query(&s.to_query()), (s, vec![]));
            }
        }
    }
}

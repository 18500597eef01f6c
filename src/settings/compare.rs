//! The comparison's settings (`/compare?n=256&d=64&seed=1&inputs=gaussian&causal=false&backend=auto`
//! ⇔ `flt compare --n 256 --d 64 --seed 1 --inputs gaussian --backend auto`):
//! the explorer's own specs of these keys ([`super::COMMON`]), taken by
//! key so that nothing about a knob is typed twice; and the explorer link
//! that reproduces one row.

use std::rc::Rc;

use super::{
    BackendChoice, COMMON, SettingsIssue, Spec, parse_query, parse_spec, push_issue,
    query_from_pairs, raw_pairs,
};
use crate::attention::MethodId;
use crate::gpu::GpuRunOptions;
use crate::inputs::{InputSource, Inputs, PAGE_MAX_N};
use crate::pipeline::compare::{CompareProblem, QK_SCALE};

/// The common spec of `key` (at compile time; a missing key fails the
/// build).
const fn common_spec(key: &str) -> Spec {
    let mut i = 0;
    while i < COMMON.len() {
        if same(COMMON[i].key, key) {
            return COMMON[i];
        }
        i += 1;
    }
    panic!("no common setting of this key")
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

/// The comparison's knobs, in URL order: the explorer's specs of the same
/// keys.
pub const COMPARE: &[Spec] = &[
    common_spec("n"),
    common_spec("d"),
    common_spec("seed"),
    common_spec("inputs"),
    common_spec("causal"),
    common_spec("backend"),
];

/// Validated settings of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompareSettings {
    /// Sequence length.
    pub n: usize,
    /// Head dimension (values have the same width).
    pub d: usize,
    /// Seed of the inputs and of every method's random choices.
    pub seed: u64,
    /// The seeded inputs' generator.
    pub inputs: InputSource,
    /// Mask keys j > i (methods that cannot be causal are skipped).
    pub causal: bool,
    /// Backend asked for.
    pub backend: BackendChoice,
}

impl Default for CompareSettings {
    fn default() -> Self {
        CompareSettings::from_pairs(Vec::<(String, String)>::new()).0
    }
}

impl CompareSettings {
    /// Parses `key=value` pairs (URL query or flags); never fails: issues
    /// say what was wrong and which value is used.
    pub fn from_pairs<K, V, I>(pairs: I) -> (CompareSettings, Vec<SettingsIssue>)
    where
        K: AsRef<str>,
        V: AsRef<str>,
        I: IntoIterator<Item = (K, V)>,
    {
        let raw = raw_pairs(pairs);
        let mut issues = Vec::new();
        let mut value = |key: &str| {
            let spec = COMPARE
                .iter()
                .find(|s| s.key == key)
                .expect("a comparison setting");
            parse_spec(spec, raw.get(key), &mut issues)
        };
        let n = value("n").int() as usize;
        let d = value("d").int() as usize;
        let seed = value("seed").int();
        let inputs =
            InputSource::generator(value("inputs").name()).unwrap_or(InputSource::Gaussian);
        let causal = value("causal").flag();
        let backend = value("backend").name();
        let backend = BackendChoice::ALL
            .iter()
            .map(|(b, _)| *b)
            .find(|b| b.key() == backend)
            .unwrap_or_default();
        for key in raw.keys() {
            if !COMPARE.iter().any(|s| s.key == key) {
                push_issue(
                    &mut issues,
                    key,
                    format!("unknown setting '{key}'; ignored"),
                );
            }
        }
        (
            CompareSettings {
                n,
                d,
                seed,
                inputs,
                causal,
                backend,
            },
            issues,
        )
    }

    /// Parses a URL query (with or without the leading `?`).
    pub fn from_query(query: &str) -> (CompareSettings, Vec<SettingsIssue>) {
        CompareSettings::from_pairs(parse_query(query))
    }

    /// [`CompareSettings::from_query`] for the page, which runs n ≤
    /// [`PAGE_MAX_N`] (`flt compare` runs longer sequences): a longer n
    /// is clamped, with a message.
    pub fn from_page_query(query: &str) -> (CompareSettings, Vec<SettingsIssue>) {
        let (mut s, mut issues) = CompareSettings::from_query(query);
        if s.n > PAGE_MAX_N {
            push_issue(
                &mut issues,
                "n",
                format!(
                    "the page runs n ≤ {PAGE_MAX_N} (flt compare --n {} runs it natively); using n={PAGE_MAX_N}",
                    s.n
                ),
            );
            s.n = PAGE_MAX_N;
        }
        (s, issues)
    }

    /// The settings as `key=value` pairs in URL order; `inputs` and
    /// `backend` are omitted at their defaults.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("n".to_string(), self.n.to_string()),
            ("d".to_string(), self.d.to_string()),
            ("seed".to_string(), self.seed.to_string()),
        ];
        if self.inputs != InputSource::Gaussian {
            out.push(("inputs".into(), self.inputs.key().into()));
        }
        out.push(("causal".into(), self.causal.to_string()));
        if self.backend != BackendChoice::Auto {
            out.push(("backend".into(), self.backend.key().into()));
        }
        out
    }

    /// The URL query, without the leading `?`.
    pub fn to_query(&self) -> String {
        query_from_pairs(&self.to_pairs())
    }

    /// The query after a control sets `key` to the raw text `value`
    /// (unparsed, so a bad entry gets the same message as a bad URL).
    pub fn query_with(&self, key: &str, value: &str) -> String {
        let mut pairs = self.to_pairs();
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some(pair) => pair.1 = value.to_string(),
            None => pairs.push((key.to_string(), value.to_string())),
        }
        query_from_pairs(&pairs)
    }

    /// The comparison these settings describe, with these run options; the
    /// CPU twin's repeats capped by the page's budget when `cpu_budget`.
    pub fn problem(&self, options: GpuRunOptions, cpu_budget: bool) -> CompareProblem {
        let inputs = Inputs::generate(self.inputs, self.n, self.d, self.seed, QK_SCALE);
        CompareProblem {
            causal: self.causal,
            options,
            gpu_required: self.backend == BackendChoice::Gpu,
            cpu_repeat_budget: cpu_budget,
            ..CompareProblem::new(Rc::new(inputs), self.seed)
        }
    }

    /// The explorer's settings that reproduce `method`'s row: the same n,
    /// d, seed, inputs and backend, its knobs at their defaults, causal if
    /// the table is and the method can be.
    pub fn explorer(&self, method: MethodId) -> super::Settings {
        super::Settings {
            n: self.n,
            d: self.d,
            seed: self.seed,
            inputs: self.inputs,
            causal: self.causal && method.info().causal_unsupported.is_none(),
            backend: self.backend,
            qk_scale: QK_SCALE,
            ..super::Settings::for_method(method)
        }
    }

    /// The explorer's query for `method`'s row (see [`Self::explorer`]).
    pub fn explorer_query(&self, method: MethodId) -> String {
        self.explorer(method).to_query()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specs_are_the_explorers() {
        for spec in COMPARE {
            let common = super::super::common(spec.key);
            assert_eq!((spec.label, spec.help), (common.label, common.help));
        }
    }

    #[test]
    fn queries_round_trip_and_bad_values_say_why() {
        let (s, issues) =
            CompareSettings::from_query("n=1024&d=32&seed=7&inputs=local&causal=true&backend=cpu");
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(CompareSettings::from_query(&s.to_query()), (s, vec![]));
        let (s, issues) = CompareSettings::from_query("n=0&method=full&backend=tpu");
        assert_eq!(s.n, 1);
        let text: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            text,
            vec![
                "n=0 is below the minimum 1; using 1",
                "backend=tpu is not auto, gpu or cpu; using auto",
                "unknown setting 'method'; ignored",
            ]
        );
    }

    #[test]
    fn an_explorer_link_carries_the_same_settings() {
        let (s, _) = CompareSettings::from_query("n=512&d=32&seed=9&inputs=low-rank&causal=true");
        let (e, issues) = super::super::Settings::from_query(&s.explorer_query(MethodId::Full));
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(
            (e.method, e.n, e.d, e.seed, e.inputs, e.causal),
            (MethodId::Full, 512, 32, 9, InputSource::LowRank, true)
        );
        for m in MethodId::ALL {
            let (e, issues) = super::super::Settings::from_query(&s.explorer_query(*m));
            assert!(issues.is_empty(), "{}: {issues:?}", m.key());
            assert_eq!(e.causal, m.info().causal_unsupported.is_none());
        }
    }
}

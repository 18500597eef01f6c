//! A seeded fuzzer of the settings parser, route by route: the attention
//! explorer (`/attention`: the common knobs and every method's), the
//! comparison (`/compare`), scaling (`/scaling`), the quantization page
//! (`/compression/quantization`: the weights section and the `qat-`
//! section, and the sections' isolation in one query) and the model sizes
//! (`/compression/model-size`).
//!
//! Each case is a URL query built from the route's own table of knobs —
//! valid keys with hostile values (bounds ± 1, 2⁶⁴, exponents, fractions,
//! NaN and infinities, other scripts' digits, whitespace, control
//! characters, long strings, names in other cases), unknown and other
//! routes' keys, duplicates — or, one case in five, a raw string of
//! `&`, `=`, `%` escapes and fragments of keys. Every case must:
//!
//! 1. parse without a panic;
//! 2. give settings whose every value is in range (each normalised pair is
//!    valid for its knob, plus the route's cross-knob rules);
//! 3. report every value it did not take as given with an issue naming the
//!    key, with a message that names it and says what is used instead —
//!    and every unknown key; conversely a value without an issue is taken
//!    exactly (numbers compared exactly, not through f64 for integer
//!    literals);
//! 4. normalise: the settings' query parses back to the same settings
//!    without an issue, and writes itself again unchanged.
//!
//! `FLT_FUZZ_CASES` cases per route (default 20 000: 100 000 per run over
//! the five routes), seeded by `FLT_FUZZ_SEED` (default 1); a long run:
//! `FLT_FUZZ_CASES=2000000 cargo test --release --test fuzz_settings`.

use std::collections::BTreeMap;

use flt_explorer::attention::MethodId;
use flt_explorer::compress::size::presets::keys as model_keys;
use flt_explorer::inputs::{MAX_D, MAX_N};
use flt_explorer::pipeline::quantization::MAX_ELEMENTS;
use flt_explorer::settings::compare::{COMPARE, CompareSettings};
use flt_explorer::settings::model_size::{self, CONFIG, ModelSizeSettings};
use flt_explorer::settings::qat::{self, QatSettings};
use flt_explorer::settings::quantization::{QUANT, QuantSettings, Section};
use flt_explorer::settings::scaling::{self, ScalingSettings};
use flt_explorer::settings::{
    COMMON, Kind, Settings, SettingsIssue, Spec, parse_query, query_from_pairs,
};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

// ---------------------------------------------------------------- knobs

/// What a knob accepts, as the fuzzer's oracle reads it.
#[derive(Clone, Debug)]
enum Accepts {
    Int {
        min: u64,
        max: u64,
    },
    Real {
        min: f64,
        max: f64,
    },
    Flag,
    Choice(Vec<&'static str>),
    /// `/scaling`'s comma-separated method keys.
    Methods,
}

#[derive(Clone, Debug)]
struct Knob {
    /// The key in the URL (with its section's prefix).
    key: String,
    accepts: Accepts,
    /// The value when the query does not give one.
    default: String,
}

fn knob(spec: &Spec, prefix: &str) -> Knob {
    let (accepts, default) = match spec.kind {
        Kind::Int { min, max, default } => (Accepts::Int { min, max }, default.to_string()),
        Kind::Real { min, max, default } => (Accepts::Real { min, max }, default.to_string()),
        Kind::Flag => (Accepts::Flag, "false".into()),
        Kind::Choice { names, default, .. } => (Accepts::Choice(names()), default.to_string()),
    };
    Knob {
        key: format!("{prefix}{}", spec.key),
        accepts,
        default,
    }
}

fn method_knobs(method: MethodId) -> Vec<Knob> {
    method
        .info()
        .params
        .iter()
        .map(|p| {
            let accepts = if p.flag {
                Accepts::Flag
            } else if p.is_choice() {
                Accepts::Choice(p.choices.to_vec())
            } else {
                Accepts::Int {
                    min: p.min,
                    max: p.max,
                }
            };
            let default = if p.flag {
                (p.default != 0).to_string()
            } else if p.is_choice() {
                p.choices[p.default as usize].to_string()
            } else {
                p.default.to_string()
            };
            Knob {
                key: p.key.to_string(),
                accepts,
                default,
            }
        })
        .collect()
}

// ---------------------------------------------------------------- oracle

/// An exact decimal: `digits` (no leading zeros, "0" for zero) × 10^`exp`, `negative`.
#[derive(Debug, PartialEq)]
struct Decimal {
    negative: bool,
    digits: String,
    exp: i64,
}

/// A plain integer literal (`+12`, `007`): its exact value, beyond u64 too.
fn integer_literal(v: &str) -> Option<Decimal> {
    let (negative, digits) = match v.as_bytes().first()? {
        b'+' => (false, &v[1..]),
        b'-' => (true, &v[1..]),
        _ => (false, v),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = digits.trim_start_matches('0');
    Some(Decimal {
        negative: negative && !trimmed.is_empty(),
        digits: if trimmed.is_empty() { "0" } else { trimmed }.to_string(),
        exp: 0,
    })
}

/// The whole number `v` means, exactly: a plain integer literal is read
/// exactly; other forms (`1e3`, `64.0`) as the f64 they parse to, which must
/// be finite and whole. `None`: not a whole number.
fn whole_number(v: &str) -> Option<i128> {
    if let Some(d) = integer_literal(v) {
        let magnitude: i128 = if d.digits.len() > 30 {
            i128::MAX // beyond any range: stands for "huge"
        } else {
            d.digits.parse().ok()?
        };
        return Some(if d.negative { -magnitude } else { magnitude });
    }
    let x: f64 = v.parse().ok()?;
    if !x.is_finite() || x.fract() != 0.0 {
        return None;
    }
    // A whole f64 is an exact integer; beyond i128 it is "huge" anyway.
    Some(if x.abs() >= 1e38 {
        if x < 0.0 { i128::MIN } else { i128::MAX }
    } else {
        x as i128
    })
}

fn boolean(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// The registry's methods named by a comma-separated list, in registry
/// order, or `None` if one is unknown or none is named.
fn method_list(v: &str) -> Option<Vec<MethodId>> {
    let mut named = Vec::new();
    for key in v.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        named.push(MethodId::from_key(&key.to_ascii_lowercase())?);
    }
    let ordered: Vec<MethodId> = MethodId::ALL
        .iter()
        .copied()
        .filter(|m| named.contains(m))
        .collect();
    (!ordered.is_empty()).then_some(ordered)
}

/// Whether the raw value `given` means the normalised value `taken`.
fn same_meaning(accepts: &Accepts, given: &str, taken: &str) -> bool {
    match accepts {
        Accepts::Int { .. } => {
            whole_number(given).is_some() && whole_number(given) == whole_number(taken)
        }
        Accepts::Real { .. } => match (given.parse::<f64>(), taken.parse::<f64>()) {
            (Ok(a), Ok(b)) => a.is_finite() && a == b,
            _ => false,
        },
        Accepts::Flag => boolean(given).is_some() && boolean(given) == boolean(taken),
        Accepts::Choice(names) => {
            names.contains(&given.to_ascii_lowercase().as_str())
                && given.eq_ignore_ascii_case(taken)
        }
        Accepts::Methods => {
            method_list(given).is_some() && method_list(given) == method_list(taken)
        }
    }
}

/// Whether a normalised value is valid for its knob (in range, a known name).
fn in_range(accepts: &Accepts, v: &str) -> bool {
    match accepts {
        Accepts::Int { min, max } => v
            .parse::<u64>()
            .is_ok_and(|x| (*min..=*max).contains(&x) && x.to_string() == v),
        Accepts::Real { min, max } => v
            .parse::<f64>()
            .is_ok_and(|x| x.is_finite() && (*min..=*max).contains(&x)),
        Accepts::Flag => v == "true" || v == "false",
        Accepts::Choice(names) => names.contains(&v),
        Accepts::Methods => method_list(v).is_some_and(|m| scaling::methods_text(&m) == v),
    }
}

/// The last value of each key, trimmed as the parser trims them.
fn last_values(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// What one parse gave, for the shared checks.
struct Parsed {
    issues: Vec<SettingsIssue>,
    /// The normalised value of a knob (its default when the query omits it).
    normalised: BTreeMap<String, String>,
}

impl Parsed {
    fn new(issues: Vec<SettingsIssue>, pairs: Vec<(String, String)>, knobs: &[Knob]) -> Parsed {
        let mut normalised: BTreeMap<String, String> = knobs
            .iter()
            .map(|k| (k.key.clone(), k.default.clone()))
            .collect();
        normalised.extend(pairs);
        Parsed { issues, normalised }
    }

    fn issue_on(&self, key: &str) -> bool {
        self.issues.iter().any(|i| i.key == key)
    }
}

/// Checks 2 and 3 for one parse: `given` the route's pairs, `knobs` the
/// knobs that apply, `ignored` the keys the route leaves to others without
/// a word.
fn check_parse(
    given: &[(String, String)],
    knobs: &[Knob],
    parsed: &Parsed,
    ignored: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    for issue in &parsed.issues {
        if issue.problem.is_empty() || issue.fallback.is_empty() {
            return Err(format!(
                "an issue without a message or a fallback: {issue:?}"
            ));
        }
        if !issue.problem.contains(issue.key.as_str()) {
            return Err(format!("an issue that does not name its key: {issue:?}"));
        }
    }
    for k in knobs {
        let v = &parsed.normalised[&k.key];
        if !in_range(&k.accepts, v) {
            return Err(format!("{}={v} is out of range ({:?})", k.key, k.accepts));
        }
    }
    for (key, value) in last_values(given) {
        match knobs.iter().find(|k| k.key == key) {
            Some(k) => {
                let taken = &parsed.normalised[&key];
                let same = same_meaning(&k.accepts, &value, taken);
                if !same && !parsed.issue_on(&key) {
                    return Err(format!("{key}={value:?} became {taken:?} without an issue"));
                }
            }
            None if !ignored(&key) && !parsed.issue_on(&key) => {
                return Err(format!("the unknown key {key:?} has no issue"));
            }
            None => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- generator

struct Gen(ChaCha8Rng);

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Random ASCII case.
    fn recase(&mut self, s: &str) -> String {
        match self.below(4) {
            0 => s.to_ascii_uppercase(),
            1 => s
                .chars()
                .map(|c| {
                    if self.chance(0.5) {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect(),
            _ => s.to_string(),
        }
    }
}

const JUNK: &[&str] = &[
    "",
    " ",
    " \t ",
    "abc",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "+Infinity",
    "infinity",
    "1e309",
    "-1e309",
    "1e-400",
    "-0",
    "+0",
    "0x10",
    "0b1",
    "1_000",
    "12abc",
    "١٢",
    "１２",
    "٣",
    "√2",
    "🚀",
    "\u{202e}12",
    "\u{0}",
    "\u{7f}",
    "\u{feff}8",
    "%",
    "%%",
    "%00",
    "&",
    "=",
    "#",
    "?",
    "+",
    ";",
    "'",
    "\"",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "null",
    "undefined",
    "1.",
    ".5",
    "5.",
    "-.5",
    "1e",
    "e5",
    "1e+",
    "--1",
    "1-",
    "1,5",
    "1 5",
    "0.0000001",
    "18446744073709551615",
    "18446744073709551616",
    "1.8446744073709552e19",
    "340282366920938463463374607431768211456",
    "-9223372036854775808",
    "9007199254740993",
    "4.9e-324",
    "2.2250738585072014e-308",
    "1.7976931348623157e308",
];

/// A hostile or valid value for a knob.
fn value(g: &mut Gen, accepts: &Accepts) -> String {
    if g.chance(0.12) {
        return junk(g);
    }
    match accepts {
        Accepts::Int { min, max } => {
            let (min, max) = (*min as i128, *max as i128);
            let x: i128 = match g.below(8) {
                0 => min,
                1 => max,
                2 => min - 1,
                3 => max + 1,
                4 => -(g.u64() as i128 % 100_000),
                5 => g.u64() as i128,
                _ => min + (g.unit() * (max - min) as f64) as i128,
            };
            match g.below(12) {
                0 => format!("{x}.0"),
                1 => format!("{x}.5"),
                2 => format!("{}.{}", x, g.below(10)),
                3 => format!("{:e}", x as f64),
                4 => format!("{}e{}", x as f64 / 1000.0, 3),
                5 => format!("+{x}"),
                6 => format!("000{x}"),
                7 => format!(" {x} "),
                8 => (x as f64).to_string(),
                _ => x.to_string(),
            }
        }
        Accepts::Real { min, max } => {
            let x = match g.below(7) {
                0 => *min,
                1 => *max,
                2 => min - g.unit(),
                3 => max + g.unit() * 1e6,
                4 => -0.0,
                _ => min + g.unit() * (max - min),
            };
            match g.below(6) {
                0 => format!("{x:e}"),
                1 => format!("{x:.3}"),
                2 => format!("{x:.0}"),
                3 => format!(" {x}"),
                _ => x.to_string(),
            }
        }
        Accepts::Flag => {
            let word = *g.pick(&[
                "true", "false", "1", "0", "yes", "no", "on", "off", "", "2", "y", "t",
            ]);
            g.recase(word)
        }
        Accepts::Choice(names) => {
            let name = *g.pick(names);
            match g.below(8) {
                0 => name[..g.below(name.len() + 1)].to_string(),
                1 => format!("{name}x"),
                2 => format!(" {name} "),
                3 => name.replace('-', "_"),
                _ => g.recase(name),
            }
        }
        Accepts::Methods => {
            let keys = MethodId::keys();
            let parts: Vec<String> = (0..g.below(5))
                .map(|_| match g.below(6) {
                    0 => "nope".to_string(),
                    1 => String::new(),
                    2 => " ".to_string(),
                    _ => {
                        let key = *g.pick(&keys);
                        g.recase(key)
                    }
                })
                .collect();
            parts.join(if g.chance(0.2) { ", " } else { "," })
        }
    }
}

fn junk(g: &mut Gen) -> String {
    match g.below(6) {
        0 => "9".repeat(1 + g.below(3000)),
        1 => format!("0.{}", "0".repeat(g.below(400))) + "1",
        2 => {
            let alphabet = [
                "a", "Z", "0", "7", ".", "-", "+", "e", " ", "%", "&", "=", "é", "ß", "中", "🙂",
                "\u{300}", "\u{0}", "\n",
            ];
            (0..g.below(40)).map(|_| *g.pick(&alphabet)).collect()
        }
        _ => g.pick(JUNK).to_string(),
    }
}

/// A key: mostly one of `keys`, else unknown, another route's, or a known
/// one dressed in whitespace or another case.
fn key(g: &mut Gen, keys: &[String]) -> String {
    let known = g.pick(keys).clone();
    match g.below(40) {
        0 => junk(g),
        1 => g
            .pick(&[
                "colour",
                "n-",
                "qa-n",
                "qat-seed",
                "int8-bits",
                "method",
                "methods",
            ])
            .to_string(),
        2 => format!(" {known}"),
        3 => format!("{known} "),
        4 => known.to_ascii_uppercase(),
        _ => known,
    }
}

/// A case's query: built from the knobs (four in five) or raw.
fn query(g: &mut Gen, keys: &[String], knobs: &[Knob], prefix: &[(String, String)]) -> String {
    if g.chance(0.2) {
        let parts = [
            "&",
            "=",
            "%",
            "%2",
            "%3D",
            "%26",
            "%E2%88%9A",
            "%FF",
            "+",
            "n",
            "d",
            "seed",
            "bits",
            "method",
            "qat-",
            "qa-",
            "1",
            "0",
            "-",
            ".",
            "e9",
            "true",
            "full",
            "é",
            "#",
            "?",
        ];
        let mut q: String = (0..g.below(30)).map(|_| *g.pick(&parts)).collect();
        if g.chance(0.5) {
            q.insert(0, '?');
        }
        return q;
    }
    let mut pairs = prefix.to_vec();
    for _ in 0..g.below(9) {
        let k = key(g, keys);
        let accepts = knobs
            .iter()
            .find(|kn| kn.key == k.trim())
            .map(|kn| kn.accepts.clone())
            .unwrap_or(Accepts::Int { min: 0, max: 10 });
        let v = value(g, &accepts);
        pairs.push((k, v));
    }
    query_from_pairs(&pairs)
}

// ---------------------------------------------------------------- runner

fn cases() -> u64 {
    std::env::var("FLT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

fn seed() -> u64 {
    std::env::var("FLT_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Runs `cases()` cases of `route`: `make` builds a query, `check` judges it.
fn fuzz(
    route: &str,
    mut make: impl FnMut(&mut Gen) -> String,
    check: impl Fn(&str) -> Result<(), String>,
) {
    let seed = seed();
    let tag = route
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31) ^ b as u64);
    let mut g = Gen(ChaCha8Rng::seed_from_u64(seed ^ tag));
    let n = cases();
    for case in 0..n {
        let q = make(&mut g);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&q)));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(why)) => panic!("{route}, case {case} of seed {seed}: {why}\n  query: {q:?}"),
            Err(_) => {
                panic!("{route}, case {case} of seed {seed}: the parser panicked\n  query: {q:?}")
            }
        }
    }
}

/// Check 4: the normalised query parses to the same settings without an
/// issue, and writes itself again unchanged.
fn round_trip<S: PartialEq + std::fmt::Debug>(
    s: &S,
    to_query: impl Fn(&S) -> String,
    parse: impl Fn(&str) -> (S, Vec<SettingsIssue>),
) -> Result<(), String> {
    let q = to_query(s);
    let (back, issues) = parse(&q);
    if !issues.is_empty() {
        return Err(format!("the normalised query {q:?} has issues: {issues:?}"));
    }
    if back != *s {
        return Err(format!(
            "the normalised query {q:?} parses to other settings:\n  {s:?}\n  {back:?}"
        ));
    }
    if to_query(&back) != q {
        return Err(format!(
            "the normalised query {q:?} is not a fixed point: {:?}",
            to_query(&back)
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- routes

fn attention_knobs(method: MethodId) -> Vec<Knob> {
    COMMON
        .iter()
        .map(|s| knob(s, ""))
        .chain(method_knobs(method))
        .collect()
}

fn check_attention(q: &str) -> Result<(), String> {
    let given = parse_query(q);
    let (s, issues) = Settings::from_query(q);
    let knobs = attention_knobs(s.method);
    let parsed = Parsed::new(issues, s.to_pairs(), &knobs);
    let elsewhere = |k: &str| {
        MethodId::ALL
            .iter()
            .any(|m| m.info().params.iter().any(|p| p.key == k))
    };
    check_parse(&given, &knobs, &parsed, &elsewhere)?;
    if !(1..=MAX_N).contains(&s.n) || !(1..=MAX_D).contains(&s.d) {
        return Err(format!("n = {}, d = {} out of range", s.n, s.d));
    }
    if s.causal && s.method.info().causal_unsupported.is_some() {
        return Err(format!("{} cannot be causal", s.method.key()));
    }
    if !s.causal && s.method.method().always_causal().is_some() {
        return Err(format!("{} is always causal", s.method.key()));
    }
    let mut fixed = s.params.clone();
    if !s.method.method().fix_params(&mut fixed).is_empty() {
        return Err(format!(
            "the knobs break the method's rules: {:?}",
            s.params
        ));
    }
    round_trip(&s, Settings::to_query, Settings::from_query)
}

#[test]
fn attention_settings_survive_hostile_queries() {
    let all_keys: Vec<String> = COMMON
        .iter()
        .map(|s| s.key.to_string())
        .chain(
            MethodId::ALL
                .iter()
                .flat_map(|m| m.info().params.iter().map(|p| p.key.to_string())),
        )
        .collect();
    fuzz(
        "attention",
        |g| {
            let method = *g.pick(MethodId::ALL);
            let mut knobs = attention_knobs(method);
            // Another method's knobs too: they are ignored without a word.
            knobs.extend(method_knobs(*g.pick(MethodId::ALL)));
            let keys: Vec<String> = if g.chance(0.8) {
                knobs.iter().map(|k| k.key.clone()).collect()
            } else {
                all_keys.clone()
            };
            let prefix = match g.below(10) {
                0 => vec![],
                1 => vec![("method".to_string(), value(g, &knobs[0].accepts))],
                _ => vec![("method".to_string(), g.recase(method.key()))],
            };
            query(g, &keys, &knobs, &prefix)
        },
        check_attention,
    );
}

fn check_compare(q: &str) -> Result<(), String> {
    let given = parse_query(q);
    let (s, issues) = CompareSettings::from_query(q);
    let knobs: Vec<Knob> = COMPARE.iter().map(|s| knob(s, "")).collect();
    let parsed = Parsed::new(issues, s.to_pairs(), &knobs);
    check_parse(&given, &knobs, &parsed, &|_| false)?;
    round_trip(&s, CompareSettings::to_query, CompareSettings::from_query)
}

#[test]
fn compare_settings_survive_hostile_queries() {
    let knobs: Vec<Knob> = COMPARE.iter().map(|s| knob(s, "")).collect();
    let keys: Vec<String> = knobs.iter().map(|k| k.key.clone()).collect();
    fuzz("compare", |g| query(g, &keys, &knobs, &[]), check_compare);
}

fn scaling_knobs() -> Vec<Knob> {
    let mut knobs = vec![Knob {
        key: "methods".into(),
        accepts: Accepts::Methods,
        default: scaling::methods_text(&scaling::DEFAULT_METHODS),
    }];
    knobs.extend(scaling::SPECS.iter().map(|s| knob(s, "")));
    knobs
}

fn check_scaling(q: &str) -> Result<(), String> {
    let given = parse_query(q);
    let (s, issues) = ScalingSettings::from_query(q);
    let knobs = scaling_knobs();
    let parsed = Parsed::new(issues, s.to_pairs(), &knobs);
    check_parse(&given, &knobs, &parsed, &|_| false)?;
    if !s.n_min.is_power_of_two() || !s.n_max.is_power_of_two() || s.n_min > s.n_max {
        return Err(format!("n-min = {}, n-max = {}", s.n_min, s.n_max));
    }
    round_trip(&s, ScalingSettings::to_query, ScalingSettings::from_query)
}

#[test]
fn scaling_settings_survive_hostile_queries() {
    let knobs = scaling_knobs();
    let keys: Vec<String> = knobs.iter().map(|k| k.key.clone()).collect();
    fuzz("scaling", |g| query(g, &keys, &knobs, &[]), check_scaling);
}

fn quantization_knobs() -> Vec<Knob> {
    QUANT
        .iter()
        .map(|s| knob(s, ""))
        .chain(qat::SPECS.iter().map(|s| knob(s, qat::PREFIX)))
        .collect()
}

/// The quantization page's weights and QAT sections read one query; each
/// must pass the checks on its own keys, and rewriting one section (as its
/// controls do) must leave the others' settings as they were.
fn check_quantization(q: &str) -> Result<(), String> {
    let weights_knobs: Vec<Knob> = QUANT.iter().map(|s| knob(s, "")).collect();
    let given = Section::Weights.pairs(q);
    let (w, issues) = QuantSettings::from_pairs(given.clone());
    let parsed = Parsed::new(issues, w.to_pairs(), &weights_knobs);
    check_parse(&given, &weights_knobs, &parsed, &|_| false)
        .map_err(|e| format!("weights: {e}"))?;
    if w.scheme.check().is_err() || w.rows * w.cols > MAX_ELEMENTS {
        return Err(format!("weights: an invalid scheme or size: {w:?}"));
    }
    round_trip(&w, QuantSettings::to_query, QuantSettings::from_query)
        .map_err(|e| format!("weights: {e}"))?;

    let mut qat_knobs: Vec<Knob> = qat::SPECS.iter().map(|s| knob(s, qat::PREFIX)).collect();
    qat_knobs.push(knob(flt_explorer::settings::common("backend"), ""));
    let all = parse_query(q);
    let given: Vec<(String, String)> = all
        .iter()
        .filter(|(k, _)| k.trim() == "backend" || k.trim().starts_with(qat::PREFIX))
        .cloned()
        .collect();
    let (t, issues) = QatSettings::from_query(q);
    let mut pairs = t.to_pairs();
    pairs.push(("backend".into(), t.backend.key().into()));
    let parsed = Parsed::new(issues, pairs, &qat_knobs);
    check_parse(&given, &qat_knobs, &parsed, &|_| false).map_err(|e| format!("qat: {e}"))?;
    let qat_query = |t: &QatSettings| {
        let mut pairs = t.to_pairs();
        pairs.push(("backend".into(), t.backend.key().into()));
        query_from_pairs(&pairs)
    };
    round_trip(&t, qat_query, QatSettings::from_query).map_err(|e| format!("qat: {e}"))?;

    // A weights control rewrites the weights' keys only.
    let next = Section::Weights.replace(q, &w.to_pairs());
    let (t2, _) = QatSettings::from_query(&next);
    let (w2, issues) = QuantSettings::from_pairs(Section::Weights.pairs(&next));
    if t2 != t || w2 != w || !issues.is_empty() {
        return Err(format!(
            "rewriting the weights section ({next:?}) changed the page: {t:?} → {t2:?}, {w:?} → {w2:?}, {issues:?}"
        ));
    }
    // A QAT control (`QatSettings::query_with`) leaves the weights alone.
    let next = QatSettings::query_with(q, "seed", &t.seed.to_string());
    let (w3, _) = QuantSettings::from_pairs(Section::Weights.pairs(&next));
    if w3 != w {
        return Err(format!(
            "a QAT control ({next:?}) changed the weights: {w:?} → {w3:?}"
        ));
    }
    Ok(())
}

#[test]
fn quantization_page_settings_survive_hostile_queries() {
    let knobs = quantization_knobs();
    let keys: Vec<String> = knobs.iter().map(|k| k.key.clone()).collect();
    fuzz(
        "quantization",
        |g| query(g, &keys, &knobs, &[]),
        check_quantization,
    );
}

fn model_size_knobs() -> Vec<Knob> {
    model_size::specs().map(|s| knob(s, "")).collect()
}

fn check_model_size(q: &str) -> Result<(), String> {
    let given = parse_query(q);
    let (s, issues) = ModelSizeSettings::from_query(q);
    let knobs = model_size_knobs();
    let mut pairs = s.to_pairs();
    // The configuration's fields omitted from the query are the model's.
    for spec in CONFIG {
        if !pairs.iter().any(|(k, _)| k == spec.key) {
            let v = model_size::field(&s.arch, spec.key).unwrap_or_default();
            pairs.push((spec.key.to_string(), v));
        }
    }
    let parsed = Parsed::new(issues, pairs, &knobs);
    check_parse(&given, &knobs, &parsed, &|_| false)?;
    let width = s.arch.attention_width();
    if width == 0 || !width.is_multiple_of(s.arch.heads) {
        return Err(format!(
            "heads = {} do not divide the attention width {width}",
            s.arch.heads
        ));
    }
    round_trip(
        &s,
        ModelSizeSettings::to_query,
        ModelSizeSettings::from_query,
    )
}

#[test]
fn model_size_settings_survive_hostile_queries() {
    let knobs = model_size_knobs();
    let keys: Vec<String> = knobs.iter().map(|k| k.key.clone()).collect();
    let models = model_keys();
    fuzz(
        "model-size",
        |g| {
            let prefix = if g.chance(0.7) {
                vec![("model".to_string(), g.pick(&models).to_string())]
            } else {
                vec![]
            };
            query(g, &keys, &knobs, &prefix)
        },
        check_model_size,
    );
}

// ---------------------------------------------------------------- the oracle's own tests

/// The oracle tells values apart exactly where the parser must: a plain
/// literal one past u64::MAX is not u64::MAX, `1e3` is 1000.
#[test]
fn the_oracle_reads_numbers_exactly() {
    let int = Accepts::Int {
        min: 0,
        max: u64::MAX,
    };
    assert!(same_meaning(&int, "1e3", "1000"));
    assert!(same_meaning(&int, "+007", "7"));
    assert!(same_meaning(&int, "64.0", "64"));
    assert!(!same_meaning(
        &int,
        "18446744073709551616",
        "18446744073709551615"
    ));
    assert!(!same_meaning(&int, "64.5", "64"));
    assert!(!same_meaning(&int, "NaN", "1"));
    assert!(!same_meaning(&int, "١٢", "12"));
    assert!(same_meaning(&Accepts::Flag, "", "false"));
    assert!(!same_meaning(&Accepts::Flag, "2", "false"));
    assert!(in_range(&Accepts::Int { min: 1, max: 8 }, "8"));
    assert!(!in_range(&Accepts::Int { min: 1, max: 8 }, "08"));
    assert!(same_meaning(
        &Accepts::Methods,
        "LINEAR, full",
        "full,linear"
    ));
    assert!(!same_meaning(&Accepts::Methods, "full,nope", "full"));
}

/// The checks have power: a parser that clamps silently, forgets an
/// unknown key or writes a value out of range is caught.
#[test]
fn the_checks_catch_a_silent_clamp_an_unreported_key_and_a_value_out_of_range() {
    let knobs = vec![Knob {
        key: "n".into(),
        accepts: Accepts::Int { min: 1, max: 8 },
        default: "4".into(),
    }];
    let given = vec![("n".to_string(), "9".to_string())];
    let quiet = Parsed::new(vec![], vec![("n".into(), "8".into())], &knobs);
    assert!(check_parse(&given, &knobs, &quiet, &|_| false).is_err());
    let told = Parsed::new(
        vec![SettingsIssue {
            key: "n".into(),
            problem: "n=9 is above the maximum 8".into(),
            fallback: "using 8".into(),
        }],
        vec![("n".into(), "8".into())],
        &knobs,
    );
    assert!(check_parse(&given, &knobs, &told, &|_| false).is_ok());
    let unknown = vec![("colour".to_string(), "red".to_string())];
    let parsed = Parsed::new(vec![], vec![], &knobs);
    assert!(check_parse(&unknown, &knobs, &parsed, &|_| false).is_err());
    let wild = Parsed::new(vec![], vec![("n".into(), "0".into())], &knobs);
    assert!(check_parse(&[], &knobs, &wild, &|_| false).is_err());
}

/// What the fuzzer found, kept as plain cases: a whole number just past
/// u64::MAX taken silently as u64::MAX; the model-size heads fixed to a
/// divisor above the heads' own maximum; a key with a leading space read by
/// two sections of the quantization page, so that rewriting one dropped
/// the other's value.
#[test]
fn the_fuzzers_findings_stay_fixed() {
    for q in [
        "seed=18446744073709551616",
        "seed=%2B18446744073709551616",
        "seed=18446744073709551615.0",
        "method=full&seed=1.8446744073709552e19",
    ] {
        check_attention(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let (s, issues) = Settings::from_query(q);
        assert_eq!(s.seed, u64::MAX, "{q}");
        assert_eq!(issues.len(), 1, "{q}: {issues:?}");
        assert!(
            issues[0].problem.contains("above the maximum"),
            "{issues:?}"
        );
    }
    let q = "model=albert-large&hidden=57584.5&heads=1024";
    check_model_size(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    let (s, _) = ModelSizeSettings::from_query(q);
    assert!(
        s.arch.heads <= 1024 && 57585 % s.arch.heads == 0,
        "{}",
        s.arch.heads
    );
    let q = "backend=cpu&+qat-epochs=3&rows=2";
    check_quantization(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    assert_eq!(QatSettings::from_query(q).0.epochs, 3);
}

//! Settings: what the user typed — a URL query or the CLI's flags under the
//! same names — validated against one table of [`Spec`]s per lab (key,
//! label, help, range or choices, default). The table drives the parser
//! here, the CLI's flags and the page's controls; nothing about a knob is
//! typed twice.
//!
//! Parsing never fails: every bad value yields a [`SettingsIssue`] that says
//! what was wrong and which valid value is used instead (the nearest one for
//! numbers out of range, the default otherwise). The page shows the issues and
//! runs the corrected settings; the CLI refuses to run and prints them.
//!
//! * [`attention`] — the attention explorer's settings ([`Settings`]);
//! * [`compare`] — the comparison's (`/compare`, `flt compare`);
//! * [`qat`] — the QAT section's (`qat-`-prefixed on the page);
//! * [`scaling`] — the scaling page's (methods, n-min, n-max, …).

pub mod attention;
pub mod compare;
pub mod model_size;
pub mod qat;
pub mod quantization;
pub mod scaling;

use std::collections::BTreeMap;
use std::fmt;

pub use attention::*;

/// Raw `key=value` pairs as a map (later duplicates win; whitespace trimmed).
pub fn raw_pairs<K, V, I>(pairs: I) -> BTreeMap<String, String>
where
    K: AsRef<str>,
    V: AsRef<str>,
    I: IntoIterator<Item = (K, V)>,
{
    pairs
        .into_iter()
        .map(|(k, v)| (k.as_ref().trim().to_string(), v.as_ref().trim().to_string()))
        .collect()
}

/// What values a common knob takes.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A whole number in `min..=max`.
    Int {
        /// Smallest.
        min: u64,
        /// Largest.
        max: u64,
        /// When absent.
        default: u64,
    },
    /// A real number in `min..=max`.
    Real {
        /// Smallest.
        min: f64,
        /// Largest.
        max: f64,
        /// When absent.
        default: f64,
    },
    /// On or off.
    Flag,
    /// One of named values; `listed` words the message for a bad one.
    Choice {
        /// The names, in the order controls list them.
        names: fn() -> Vec<&'static str>,
        /// When absent.
        default: &'static str,
        /// How a bad value's message lists the names.
        listed: Listing,
    },
}

/// How an invalid choice's message lists the valid ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// "x=v is not a, b or c".
    Or,
    /// "x=v is not a known method (known: a, b, c)".
    Known,
}

/// One knob every method shares.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// URL / CLI key.
    pub key: &'static str,
    /// Label on the page.
    pub label: &'static str,
    /// One line of help (CLI `--help`, page tooltip).
    pub help: &'static str,
    /// Its values.
    pub kind: Kind,
}

impl Spec {
    /// The valid values and the default, as the CLI's help shows them.
    pub fn range_text(&self) -> String {
        match self.kind {
            Kind::Int { min, max, default } => format!("{min}..={max}, default {default}"),
            Kind::Real { min, max, default } => format!("{min}..={max}, default {default}"),
            Kind::Flag => "off by default".into(),
            Kind::Choice { names, default, .. } => {
                format!("{}, default {default}", names().join("|"))
            }
        }
    }
}

/// One problem found while parsing settings, and what was done about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsIssue {
    /// The setting's name (`"n"`).
    pub key: String,
    /// What was wrong (`"n=0 is below the minimum 1"`).
    pub problem: String,
    /// The value used instead (`"1"`), or what happens (`"ignored"`).
    pub fallback: String,
}

impl fmt::Display for SettingsIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; {}", self.problem, self.fallback)
    }
}

/// The issues as the page lists them: one line each, except that unknown
/// settings and knobs of other methods are grouped into one line per kind,
/// and at most [`MAX_ISSUE_LINES`] lines (the last says how many more) — a
/// hostile 5000-character query gives a few readable lines, not a hundred.
pub fn issue_lines(issues: &[SettingsIssue]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut unknown = Vec::new();
    let mut foreign: Vec<(&str, &str)> = Vec::new();
    for i in issues {
        if i.problem.starts_with("unknown setting '") {
            unknown.push(format!("'{}'", i.key));
        } else if let Some((_, rest)) = i.problem.split_once(" does not apply to ") {
            let target = rest.split(" (").next().unwrap_or(rest);
            foreign.push((i.key.as_str(), target));
        } else {
            lines.push(i.to_string());
        }
    }
    let list = |items: &[String]| -> String {
        let shown: Vec<&str> = items.iter().take(6).map(String::as_str).collect();
        match items.len() {
            0..=6 => shown.join(", "),
            n => format!("{}, … ({n} in all)", shown.join(", ")),
        }
    };
    if let Some((_, target)) = foreign.first() {
        let keys: Vec<String> = foreign.iter().map(|(k, _)| (*k).to_string()).collect();
        let verb = if keys.len() == 1 { "does" } else { "do" };
        lines.push(format!(
            "{} {verb} not apply to {target}; ignored",
            list(&keys)
        ));
    }
    match unknown.len() {
        0 => {}
        1 => lines.push(format!("unknown setting {}; ignored", unknown[0])),
        _ => lines.push(format!("unknown settings {}; ignored", list(&unknown))),
    }
    if lines.len() > MAX_ISSUE_LINES {
        let more = lines.len() - (MAX_ISSUE_LINES - 1);
        lines.truncate(MAX_ISSUE_LINES - 1);
        lines.push(format!("… and {more} more"));
    }
    lines
}

/// Most lines [`issue_lines`] gives.
pub const MAX_ISSUE_LINES: usize = 8;

/// Joins pairs into a URL query (`application/x-www-form-urlencoded`, no
/// leading `?`).
pub fn query_from_pairs(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Splits a URL query into decoded `(key, value)` pairs (with or without a
/// leading `?`; malformed escapes are kept as they are).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A parsed value of a [`Spec`].
#[derive(Debug, Clone, Copy)]
pub enum Value {
    /// A whole number.
    Int(u64),
    /// A real number.
    Real(f64),
    /// On or off.
    Flag(bool),
    /// A choice's name.
    Name(&'static str),
}

impl Value {
    /// The whole number (0 for another kind).
    pub fn int(self) -> u64 {
        match self {
            Value::Int(x) => x,
            _ => 0,
        }
    }

    /// The real number (0 for another kind).
    pub fn real(self) -> f64 {
        match self {
            Value::Real(x) => x,
            _ => 0.0,
        }
    }

    /// The flag (false for another kind).
    pub fn flag(self) -> bool {
        matches!(self, Value::Flag(true))
    }

    /// The choice's name ("" for another kind).
    pub fn name(self) -> &'static str {
        match self {
            Value::Name(x) => x,
            _ => "",
        }
    }
}

/// Records an issue from a "problem; what is used instead" message.
pub fn push_issue(issues: &mut Vec<SettingsIssue>, key: &str, message: String) {
    let (problem, fallback) = match message.split_once("; ") {
        Some((p, f)) => (p.to_string(), f.to_string()),
        None => (message, String::new()),
    };
    issues.push(SettingsIssue {
        key: key.to_string(),
        problem,
        fallback,
    });
}

/// "a, b or c".
pub fn or_list(names: &[&str]) -> String {
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// Parses a common knob's raw value (its default when absent), recording
/// what was wrong.
pub fn parse_spec(spec: &Spec, raw: Option<&String>, issues: &mut Vec<SettingsIssue>) -> Value {
    let key = spec.key;
    match spec.kind {
        Kind::Int { min, max, default } => Value::Int(match raw {
            None => default,
            Some(v) => parse_int(key, v, min, max).unwrap_or_else(|(x, why)| {
                push_issue(issues, key, why);
                x.unwrap_or(default)
            }),
        }),
        Kind::Real { min, max, default } => Value::Real(match raw {
            None => default,
            Some(v) => match v.parse::<f64>().ok().filter(|x| x.is_finite()) {
                Some(x) if x < min => {
                    push_issue(
                        issues,
                        key,
                        format!("{key}={v} is below the minimum {min}; using {min}"),
                    );
                    min
                }
                Some(x) if x > max => {
                    push_issue(
                        issues,
                        key,
                        format!("{key}={v} is above the maximum {max}; using {max}"),
                    );
                    max
                }
                Some(x) => x,
                None => {
                    push_issue(
                        issues,
                        key,
                        format!("{key}={v} is not a number; using {default}"),
                    );
                    default
                }
            },
        }),
        Kind::Flag => Value::Flag(match raw {
            None => false,
            Some(v) => parse_bool(v).unwrap_or_else(|| {
                push_issue(
                    issues,
                    key,
                    format!("{key}={v} is not true or false; using false"),
                );
                false
            }),
        }),
        Kind::Choice {
            names,
            default,
            listed,
        } => {
            let names = names();
            Value::Name(match raw {
                None => default,
                Some(v) => match names.iter().find(|n| **n == v.to_ascii_lowercase()) {
                    Some(name) => name,
                    None => {
                        let why = match listed {
                            Listing::Or => format!("{key}={v} is not {}", or_list(&names)),
                            Listing::Known => format!(
                                "{key}={v} is not a known {} (known: {})",
                                spec.help.trim_start_matches("attention "),
                                names.join(", ")
                            ),
                        };
                        push_issue(issues, key, format!("{why}; using {default}"));
                        default
                    }
                },
            })
        }
    }
}

/// Parses an integer setting, accepting `1e3`-style and fractional numbers by
/// rounding. On failure returns the value to use instead (nearest valid, or
/// `None` for the default) and the message.
pub fn parse_int(key: &str, v: &str, min: u64, max: u64) -> Result<u64, (Option<u64>, String)> {
    let below = || {
        (
            Some(min),
            format!("{key}={v} is below the minimum {min}; using {min}"),
        )
    };
    let above = || {
        (
            Some(max),
            format!("{key}={v} is above the maximum {max}; using {max}"),
        )
    };
    if let Ok(x) = v.parse::<u64>() {
        return if x < min {
            Err(below())
        } else if x > max {
            Err(above())
        } else {
            Ok(x)
        };
    }
    let Some(x) = v.parse::<f64>().ok().filter(|x| x.is_finite()) else {
        return Err((
            None,
            format!("{key}={v} is not a number; using the default"),
        ));
    };
    if x < min as f64 {
        return Err(below());
    }
    // `max as f64` rounds u64::MAX up to 2^64: compare the whole value exactly.
    if x > max as f64 || x.round() as u128 > max as u128 {
        return Err(above());
    }
    let rounded = (x.round() as u64).clamp(min, max);
    if rounded as f64 == x {
        Ok(rounded) // "1e3", "64.0"
    } else {
        Err((
            Some(rounded),
            format!("{key}={v} is not a whole number; using {rounded}"),
        ))
    }
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod issue_line_tests {
    use super::*;
    use crate::settings::attention::Settings;

    #[test]
    fn a_hostile_query_gives_a_few_grouped_lines() {
        // 120 unknown keys, two knobs of other methods, one bad value.
        let mut q = String::from("method=full&n=abc&window=3&stride=2");
        for i in 0..120 {
            q.push_str(&format!("&junk{i}=1"));
        }
        let (_, issues) = Settings::from_query(&q);
        assert_eq!(issues.len(), 123);
        let lines = issue_lines(&issues);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(lines[0].starts_with("n=abc"), "{lines:#?}");
        assert_eq!(lines[1], "stride, window do not apply to full; ignored");
        assert!(
            lines[2].starts_with("unknown settings 'junk0', ")
                && lines[2].ends_with("… (120 in all); ignored"),
            "{lines:#?}"
        );
        // Many distinct problems: capped, the last line counts the rest.
        let many: Vec<SettingsIssue> = (0..20)
            .map(|i| SettingsIssue {
                key: format!("k{i}"),
                problem: format!("k{i} is wrong"),
                fallback: "using 1".into(),
            })
            .collect();
        let lines = issue_lines(&many);
        assert_eq!(lines.len(), MAX_ISSUE_LINES);
        assert_eq!(lines.last().unwrap(), "… and 13 more");
        // One of each kind reads as a sentence.
        let (_, issues) = Settings::from_query("method=full&window=3&zzz=1");
        assert_eq!(
            issue_lines(&issues),
            vec![
                "window does not apply to full; ignored",
                "unknown setting 'zzz'; ignored"
            ]
        );
    }
}

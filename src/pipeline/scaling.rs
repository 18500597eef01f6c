//! Is it actually faster? The survey's complexity claims ("Comprehensive
//! Comparison", "Conclusion": O(n) and O(n log n) methods against exact
//! attention's O(n²)) measured on this backend: for the chosen methods, n
//! swept over powers of two, each point a warm median of the method's timed
//! kernel (GPU timestamps, or the CPU twin's wall clock) and the memory its
//! run allocates; per method the exponent fitted to time against n beside the
//! one its complexity states, and the n from which it is faster than exact
//! attention (`full`) on the same backend.
//!
//! Decisions, each a pure function tested here:
//!
//! * **points** — n = 2^k from `n_min` to `n_max` (at most
//!   [`crate::inputs::MAX_N`]); every method at one n runs on the same seeded
//!   inputs, one after the other. A method's series stops at the first n its
//!   run refuses (a GPU kernel that does not fit the adapter,
//!   [`GpuError::TooLarge`], checked before anything is allocated; a method
//!   that cannot be causal), or before an n whose predicted time exceeds the
//!   point budget ([`next_point_plan`]) — each with its reason.
//! * **fit** ([`fit_exponent`]) — least squares on log time against log n
//!   over the points above the launch-overhead floor: the points after the
//!   last one within [`FLOOR_FACTOR`] × the series' smallest value, through
//!   the largest n (a GPU kernel's time sits on a flat floor of launch and
//!   synchronisation costs at small n; including it would bend the slope
//!   towards 0). The smallest point itself is never fitted, so a pure power
//!   law loses its first point and keeps the rest (1.5 < 2, the ratio of the
//!   next point of a linear series). At least [`MIN_FIT_POINTS`] points,
//!   else no exponent and the reason. An additive floor still bends the
//!   points just above it, so near the floor the fitted exponent is a lower
//!   bound of the asymptotic one; sweeping to larger n tightens it.
//! * **theory** ([`theory_exponent`]) — the exponent of n in the method's
//!   complexity with its knobs held fixed: O(n²d) → 2, O(nk), O(npd), O(nL),
//!   O(n) → 1, O(n√n) → 1.5 (which assumes a knob growing as √n, e.g. the
//!   Sparse Transformer's stride; at a fixed stride its pattern grows as
//!   n²/stride), O(n log n) → 1 with a log factor (its local slope is
//!   1 + 1/ln n). A form it cannot read gives none ("—").
//! * **crossover** ([`crossover`]) — the smallest measured n from which the
//!   method is strictly faster than `full` at every larger n where both were
//!   measured; `None` when it is not faster at the largest such n ("not up to
//!   n = …").
//! * **memory** — the run's `memory_bytes`: on the GPU the device buffers
//!   created for the timed kernels (Q, K, V, the output and the method's own
//!   buffers: projections, features, tile lists, statistics; the untimed
//!   view passes and the materialised stage of `full` are not run here); on
//!   the CPU the twin's own arrays and the output (inputs excluded).

use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::attention::{AttentionProblem, Measurement};
use super::report::SCHEMA_VERSION;
use super::sweep::log_log_slope;
use super::{Backend, Host, RunError, checkpoint};
use crate::attention::MethodId;
use crate::data::LocalFuture;
use crate::data::timing::Timing;
use crate::gpu::{GpuError, GpuRunOptions, MapSource};
use crate::inputs::{InputSource, Inputs, MAX_N};

/// The family key of a scaling report.
pub const FAMILY: &str = "scaling";

/// The method every other is compared with: exact attention, whose GPU run
/// times the fused (FlashAttention-style) kernel.
pub const REFERENCE: MethodId = MethodId::Full;

/// A point is above the launch-overhead floor once its value exceeds this
/// many times the series' smallest.
pub const FLOOR_FACTOR: f64 = 1.5;

/// Fewest points an exponent is fitted to.
pub const MIN_FIT_POINTS: usize = 3;

/// Smallest n a sweep starts from.
pub const MIN_N: usize = 16;

/// The page's budget per point on the CPU twin (every repeat of one
/// method at one n), in ms of predicted busy time.
pub const CPU_POINT_BUDGET_MS: f64 = 1500.0;

/// The page's budget per point on the GPU (a software adapter such as
/// SwiftShader takes seconds for exact attention at a few thousand
/// positions).
pub const GPU_POINT_BUDGET_MS: f64 = 4000.0;

/// What a scaling sweep runs: a plain value.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingProblem {
    /// The methods chosen (the reference is swept too, chosen or not).
    pub methods: Vec<MethodId>,
    /// Query/key width (V has the same).
    pub d: usize,
    /// Seed of the inputs and of the methods' random choices.
    pub seed: u64,
    /// Mask keys j > i.
    pub causal: bool,
    /// Structure of the seeded inputs.
    pub inputs: InputSource,
    /// Smallest n (a power of two).
    pub n_min: usize,
    /// Largest n (a power of two, ≤ [`MAX_N`]).
    pub n_max: usize,
    /// Timed repeats per point (fewer when the budget needs it, at least 1).
    pub repeats: u32,
    /// Most predicted busy time per point, in ms: a series stops before an
    /// n whose single repeat would take longer (`f64::INFINITY`: no budget).
    pub point_budget_ms: f64,
}

impl ScalingProblem {
    /// The reference first, then the chosen methods in registry order.
    pub fn swept(&self) -> Vec<MethodId> {
        let mut out = vec![REFERENCE];
        out.extend(
            MethodId::ALL
                .iter()
                .copied()
                .filter(|m| *m != REFERENCE && self.methods.contains(m)),
        );
        out
    }

    /// The sequence lengths visited: powers of two from `n_min` to `n_max`.
    pub fn ns(&self) -> Vec<usize> {
        powers_of_two(self.n_min, self.n_max)
    }
}

/// The page's budget per point on `backend`.
pub fn default_point_budget_ms(backend: &Backend) -> f64 {
    match backend {
        Backend::Gpu(_) => GPU_POINT_BUDGET_MS,
        Backend::Cpu { .. } => CPU_POINT_BUDGET_MS,
    }
}

/// Powers of two in `lo..=hi` (clamped to [`MIN_N`]..=[`MAX_N`]).
pub fn powers_of_two(lo: usize, hi: usize) -> Vec<usize> {
    let (lo, hi) = (lo.max(MIN_N), hi.min(MAX_N));
    (0..usize::BITS)
        .map(|p| 1usize << p)
        .filter(|&n| n >= lo && n <= hi)
        .collect()
}

/// One method at one n.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingPoint {
    /// Method key.
    pub method: String,
    /// Sequence length.
    pub n: usize,
    /// Query/key width.
    pub d: usize,
    /// Median of the timed repeats, in ms (the method's timed kernel: GPU
    /// timestamps or wall clock; the CPU twin's busy wall clock).
    pub time_ms: f64,
    /// Every timed repeat, in ms.
    pub time_ms_samples: Vec<f64>,
    /// How the time was measured.
    pub timing: Timing,
    /// Memory the run allocated (see the module's header).
    pub memory_bytes: u64,
    /// What `memory_bytes` counts, as the run said.
    #[serde(default)]
    pub memory_formula: String,
    /// FLOPs the timed kernel executed (counted).
    pub flops: u64,
    /// FLOPs the method needs (counted).
    pub flops_algorithmic: u64,
    /// `"gpu"` or `"cpu"`.
    pub backend: String,
    /// The kernel family timed (`"fused"`, `"tiled"`, `"cpu-twin"`, …).
    pub kernel: String,
    /// rel_err against the exact model on the checked rows.
    pub rel_err: f64,
}

impl ScalingPoint {
    /// The point a run's report gives.
    pub fn from_measurement(m: &Measurement) -> ScalingPoint {
        let (e, f) = (&m.envelope, &m.figures);
        ScalingPoint {
            method: e.method.clone(),
            n: f.n,
            d: f.d,
            time_ms: e.time_ms,
            time_ms_samples: e.time_ms_samples.clone(),
            timing: e.timing,
            memory_bytes: e.memory_bytes,
            memory_formula: e.memory_formula.clone(),
            flops: e.flops,
            flops_algorithmic: e.flops_algorithmic,
            backend: e.backend.clone(),
            kernel: e.kernel.key().to_string(),
            rel_err: f.rel_err,
        }
    }
}

/// Why a series ends before `n_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopKind {
    /// The run refused the size: it does not fit the adapter's limits.
    TooLarge,
    /// The next point would exceed the time budget per point.
    Budget,
    /// The method cannot run these settings (e.g. causal).
    Unsupported,
    /// The run failed.
    Failed,
}

/// Where and why a series stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stop {
    /// The first n not measured.
    pub n: usize,
    /// What happened.
    pub kind: StopKind,
    /// The reason in words.
    pub reason: String,
}

/// The exponent of n a complexity states, with its knobs held fixed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Theory {
    /// The power of n (`O(n²d)` → 2).
    pub exponent: f64,
    /// A `log n` factor multiplies it (`O(n log n)`).
    pub log_factor: bool,
    /// A `√n` appears: the bound assumes a knob that grows as √n.
    pub sqrt_knob: bool,
}

/// The power of n in a big-O expression (`"O(n log n)"`, `"O(n²d)"`,
/// `"O(n(S + M))"`), every other letter a knob held fixed; `None` for a
/// form it cannot read.
pub fn theory_exponent(complexity: &str) -> Option<Theory> {
    let s = complexity.trim();
    let inner = s.strip_prefix("O(")?.strip_suffix(')')?;
    let tokens = tokenize(inner)?;
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
    };
    let degree = parser.expr()?;
    (parser.at == tokens.len()).then_some(Theory {
        exponent: degree.power,
        log_factor: degree.log,
        sqrt_knob: degree.sqrt,
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    N,
    Knob,
    Number,
    Log,
    Sqrt,
    Power(f64),
    Plus,
    Times,
    Divide,
    Open,
    Close,
}

fn tokenize(s: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let token = match c {
            ' ' | '\u{2009}' => None,
            'l' if chars[i..].starts_with(&['l', 'o', 'g']) => {
                i += 2;
                Some(Token::Log)
            }
            // A subscripted name (M_c, n_s) is one knob, whatever its letter.
            c if c.is_ascii_alphabetic()
                && chars.get(i + 1) == Some(&'_')
                && chars.get(i + 2).is_some_and(|c| c.is_ascii_alphanumeric()) =>
            {
                i += 1;
                while i + 1 < chars.len() && chars[i + 1].is_ascii_alphanumeric() {
                    i += 1;
                }
                Some(Token::Knob)
            }
            'n' => Some(Token::N),
            c if c.is_ascii_alphabetic() => Some(Token::Knob),
            c if c.is_ascii_digit() => {
                while i + 1 < chars.len() && chars[i + 1].is_ascii_digit() {
                    i += 1;
                }
                Some(Token::Number)
            }
            '√' => Some(Token::Sqrt),
            '²' => Some(Token::Power(2.0)),
            '³' => Some(Token::Power(3.0)),
            '+' => Some(Token::Plus),
            '·' | '×' | '*' => Some(Token::Times),
            '/' => Some(Token::Divide),
            '(' => Some(Token::Open),
            ')' => Some(Token::Close),
            _ => return None,
        };
        out.extend(token);
        i += 1;
    }
    Some(out)
}

/// The degree of an expression in n.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Degree {
    power: f64,
    log: bool,
    sqrt: bool,
}

impl Degree {
    const ONE: Degree = Degree {
        power: 0.0,
        log: false,
        sqrt: false,
    };
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.at).copied()
    }

    /// term ('+' term)*: the largest degree wins.
    fn expr(&mut self) -> Option<Degree> {
        let mut best = self.term()?;
        while self.peek() == Some(Token::Plus) {
            self.at += 1;
            let t = self.term()?;
            if t.power > best.power || (t.power == best.power && t.log && !best.log) {
                best = t;
            }
        }
        Some(best)
    }

    /// factor ((·|/)? factor)*: degrees add (subtract after '/').
    fn term(&mut self) -> Option<Degree> {
        let mut d = self.factor()?;
        loop {
            match self.peek() {
                Some(Token::Times) => {
                    self.at += 1;
                    let f = self.factor()?;
                    d = combine(d, f, 1.0);
                }
                Some(Token::Divide) => {
                    self.at += 1;
                    let f = self.factor()?;
                    if f.log {
                        return None;
                    }
                    d = combine(d, f, -1.0);
                }
                Some(Token::N | Token::Knob | Token::Number | Token::Log | Token::Sqrt)
                | Some(Token::Open) => {
                    let f = self.factor()?;
                    d = combine(d, f, 1.0);
                }
                _ => return Some(d),
            }
        }
    }

    /// n, a knob, a number, √f, log f or (expr), with a superscript.
    fn factor(&mut self) -> Option<Degree> {
        let token = self.peek()?;
        self.at += 1;
        let base = match token {
            Token::N => Degree {
                power: 1.0,
                ..Degree::ONE
            },
            Token::Knob | Token::Number => Degree::ONE,
            Token::Sqrt => {
                let f = self.factor()?;
                Degree {
                    power: f.power / 2.0,
                    log: f.log,
                    sqrt: f.power > 0.0,
                }
            }
            Token::Log => {
                let f = self.factor()?;
                Degree {
                    log: f.power > 0.0 || f.log,
                    ..Degree::ONE
                }
            }
            Token::Open => {
                let e = self.expr()?;
                if self.peek() != Some(Token::Close) {
                    return None;
                }
                self.at += 1;
                e
            }
            _ => return None,
        };
        if let Some(Token::Power(p)) = self.peek() {
            self.at += 1;
            return Some(Degree {
                power: base.power * p,
                ..base
            });
        }
        Some(base)
    }
}

fn combine(a: Degree, b: Degree, sign: f64) -> Degree {
    Degree {
        power: a.power + sign * b.power,
        log: a.log || b.log,
        sqrt: a.sqrt || b.sqrt,
    }
}

/// An exponent fitted to a series on log-log axes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    /// The least-squares slope of log value against log n (`None`: too few
    /// points above the floor).
    pub exponent: Option<f64>,
    /// The smallest n of the fitted points.
    pub from_n: Option<usize>,
    /// The largest n of the fitted points.
    pub to_n: Option<usize>,
    /// How many points were fitted.
    pub points: usize,
    /// R² of the fit on log-log axes.
    pub r2: Option<f64>,
    /// Why there is no exponent, or what the fit left out.
    pub note: String,
}

/// The exponent of `points` (n, value): least squares on log value
/// against log n over the points after the last whose value is within
/// [`FLOOR_FACTOR`] × the smallest value, through the largest n; at least
/// [`MIN_FIT_POINTS`] of them. Points that are not finite and positive are
/// left out.
pub fn fit_exponent(points: &[(usize, f64)]) -> Fit {
    let mut pts: Vec<(usize, f64)> = points
        .iter()
        .copied()
        .filter(|(n, v)| *n > 0 && v.is_finite() && *v > 0.0)
        .collect();
    pts.sort_by_key(|p| p.0);
    pts.dedup_by_key(|p| p.0);
    let none = |note: String| Fit {
        exponent: None,
        from_n: None,
        to_n: None,
        points: 0,
        r2: None,
        note,
    };
    if pts.len() < MIN_FIT_POINTS {
        return none(format!(
            "{} point{} measured; {MIN_FIT_POINTS} needed",
            pts.len(),
            if pts.len() == 1 { "" } else { "s" }
        ));
    }
    let floor = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    // After the last point still on the floor: a noisy early point above it
    // does not start the fit too soon.
    let start = pts
        .iter()
        .rposition(|p| p.1 <= FLOOR_FACTOR * floor)
        .map_or(0, |last| last + 1);
    let tail = &pts[start..];
    if tail.len() < MIN_FIT_POINTS {
        return none(format!(
            "{} point{} above the floor ({FLOOR_FACTOR}× the smallest value); {MIN_FIT_POINTS} needed: raise n-max",
            tail.len(),
            if tail.len() == 1 { "" } else { "s" }
        ));
    }
    let xy: Vec<(f64, f64)> = tail.iter().map(|&(n, v)| (n as f64, v)).collect();
    let Some(slope) = log_log_slope(&xy) else {
        return none("the fitted points do not span a range of n".into());
    };
    let logs: Vec<(f64, f64)> = xy.iter().map(|(x, y)| (x.ln(), y.ln())).collect();
    let k = logs.len() as f64;
    let (mx, my) = (
        logs.iter().map(|p| p.0).sum::<f64>() / k,
        logs.iter().map(|p| p.1).sum::<f64>() / k,
    );
    let ss_tot: f64 = logs.iter().map(|p| (p.1 - my).powi(2)).sum();
    let ss_res: f64 = logs
        .iter()
        .map(|p| (p.1 - (my + slope * (p.0 - mx))).powi(2))
        .sum();
    let r2 = (ss_tot > 0.0).then(|| 1.0 - ss_res / ss_tot);
    Fit {
        exponent: Some(slope),
        from_n: tail.first().map(|p| p.0),
        to_n: tail.last().map(|p| p.0),
        points: tail.len(),
        r2,
        note: if start > 0 {
            format!(
                "{start} point{} on the floor left out (within {FLOOR_FACTOR}× the smallest value)",
                if start == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        },
    }
}

/// Where a method becomes faster than the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crossover {
    /// The smallest measured n from which the method is faster at every
    /// larger n where both were measured; `None`: not faster at the largest.
    pub n: Option<usize>,
    /// The largest n where both were measured (`None`: none in common).
    pub compared_up_to: Option<usize>,
}

/// The crossover of `method` against `reference`, both as (n, time):
/// only the n where both have a finite time count; faster means strictly
/// less time (a tie is not faster). Walking down from the largest common
/// n, the crossover is the last n of the run of wins.
pub fn crossover(reference: &[(usize, f64)], method: &[(usize, f64)]) -> Crossover {
    let finite = |pts: &[(usize, f64)]| -> Vec<(usize, f64)> {
        let mut v: Vec<(usize, f64)> = pts
            .iter()
            .copied()
            .filter(|(_, t)| t.is_finite() && *t >= 0.0)
            .collect();
        v.sort_by_key(|p| p.0);
        v
    };
    let (r, m) = (finite(reference), finite(method));
    let common: Vec<(usize, f64, f64)> = m
        .iter()
        .filter_map(|&(n, tm)| {
            r.iter()
                .find(|(rn, _)| *rn == n)
                .map(|&(_, tr)| (n, tm, tr))
        })
        .collect();
    let compared_up_to = common.last().map(|c| c.0);
    let mut at = None;
    for &(n, tm, tr) in common.iter().rev() {
        if tm < tr {
            at = Some(n);
        } else {
            break;
        }
    }
    Crossover {
        n: at,
        compared_up_to,
    }
}

/// One method's series and what is read from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Method key.
    pub method: String,
    /// Method name.
    pub label: String,
    /// Whether this is the reference (`full`).
    pub reference: bool,
    /// Whether the user chose it (the reference is swept regardless).
    pub chosen: bool,
    /// Time complexity as the survey states it.
    pub complexity_time: String,
    /// Space complexity as the survey states it.
    pub complexity_space: String,
    /// Where the complexity is stated.
    pub complexity_source: String,
    /// The exponent of n in `complexity_time` at fixed knobs.
    pub theory_time: Option<Theory>,
    /// The exponent of n in `complexity_space` at fixed knobs.
    pub theory_space: Option<Theory>,
    /// Measured points, n increasing.
    pub points: Vec<ScalingPoint>,
    /// Why the series ends before `n_max`, if it does.
    pub stop: Option<Stop>,
    /// The exponent fitted to time against n.
    pub time_fit: Fit,
    /// The exponent fitted to memory against n.
    pub memory_fit: Fit,
    /// Where it becomes faster than the reference (the reference: none).
    pub crossover: Crossover,
}

impl Series {
    /// An empty series of `method`.
    pub fn new(method: MethodId, chosen: bool) -> Series {
        let info = method.info();
        Series {
            method: info.key.into(),
            label: info.label.into(),
            reference: method == REFERENCE,
            chosen,
            complexity_time: info.complexity.time.into(),
            complexity_space: info.complexity.space.into(),
            complexity_source: info.complexity.source.into(),
            theory_time: theory_exponent(info.complexity.time),
            theory_space: theory_exponent(info.complexity.space),
            points: Vec::new(),
            stop: None,
            time_fit: fit_exponent(&[]),
            memory_fit: fit_exponent(&[]),
            crossover: Crossover {
                n: None,
                compared_up_to: None,
            },
        }
    }

    /// (n, time) of the points.
    pub fn times(&self) -> Vec<(usize, f64)> {
        self.points.iter().map(|p| (p.n, p.time_ms)).collect()
    }

    /// (n, memory) of the points.
    pub fn memory(&self) -> Vec<(usize, f64)> {
        self.points
            .iter()
            .map(|p| (p.n, p.memory_bytes as f64))
            .collect()
    }
}

/// A scaling sweep's result (also while it runs: the points so far).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalingReport {
    /// The JSON schema's version.
    pub schema_version: u32,
    /// `"scaling"`.
    pub family: String,
    /// `"gpu"` or `"cpu"`.
    pub backend: String,
    /// The adapter, or the CPU twin.
    pub adapter: String,
    /// The API under wgpu, or `"ndarray"`.
    pub api: String,
    /// Query/key width.
    pub d: usize,
    /// Seed of the inputs.
    pub seed: u64,
    /// Whether keys j > i were masked.
    pub causal: bool,
    /// The inputs' generator.
    pub inputs: InputSource,
    /// The sequence lengths asked for.
    pub ns: Vec<usize>,
    /// The method every crossover is against.
    pub reference: String,
    /// What the time of a point is.
    pub time_counts: String,
    /// What the memory of a point is.
    pub memory_counts: String,
    /// One series per swept method, the reference first.
    pub series: Vec<Series>,
    /// Method → crossover n or null, for the chosen methods (the reference,
    /// if chosen, is null: it is what the others are compared with).
    pub crossovers: serde_json::Map<String, serde_json::Value>,
    /// Whether the sweep ran to its end (every series measured or stopped).
    pub complete: bool,
    /// Remarks (budget, limits).
    pub notes: Vec<String>,
}

impl ScalingReport {
    /// A report of `series` (fits and crossovers computed here) on a
    /// backend described by `backend`, `adapter` and `api`.
    pub fn summarise(
        problem: &ScalingProblem,
        (backend, adapter, api): (&str, &str, &str),
        mut series: Vec<Series>,
        complete: bool,
    ) -> ScalingReport {
        let reference_times = series
            .iter()
            .find(|s| s.reference)
            .map(Series::times)
            .unwrap_or_default();
        for s in &mut series {
            s.points.sort_by_key(|p| p.n);
            s.time_fit = fit_exponent(&s.times());
            s.memory_fit = fit_exponent(&s.memory());
            s.crossover = if s.reference {
                Crossover {
                    n: None,
                    compared_up_to: s.points.last().map(|p| p.n),
                }
            } else {
                crossover(&reference_times, &s.times())
            };
        }
        let crossovers = series
            .iter()
            .filter(|s| s.chosen)
            .map(|s| {
                (
                    s.method.clone(),
                    s.crossover
                        .n
                        .map_or(serde_json::Value::Null, serde_json::Value::from),
                )
            })
            .collect();
        let gpu = backend == "gpu";
        let timing = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.timing))
            .next();
        ScalingReport {
            schema_version: SCHEMA_VERSION,
            family: FAMILY.into(),
            backend: backend.into(),
            adapter: adapter.into(),
            api: api.into(),
            d: problem.d,
            seed: problem.seed,
            causal: problem.causal,
            inputs: problem.inputs,
            ns: problem.ns(),
            reference: REFERENCE.key().into(),
            time_counts: time_counts(gpu, timing),
            memory_counts: memory_counts(gpu),
            series,
            crossovers,
            complete,
            notes: Vec::new(),
        }
    }

    /// A report of runs made one by one (`flt bench`), all at one d, on the
    /// backend `backend` (`"gpu"` or `"cpu"`): a series per method present,
    /// in registry order, every one chosen; a run that ran elsewhere (a GPU
    /// kernel too large for the adapter, replaced by the CPU twin) is left
    /// out of the series, with a note.
    pub fn from_measurements(runs: &[&Measurement], backend: &str) -> ScalingReport {
        let mut notes = Vec::new();
        let mut series: Vec<Series> = MethodId::ALL
            .iter()
            .filter(|m| runs.iter().any(|r| r.envelope.method == m.key()))
            .map(|&m| Series::new(m, true))
            .collect();
        for r in runs {
            let (e, f) = (&r.envelope, &r.figures);
            if e.backend != backend {
                notes.push(format!(
                    "{} at n = {} ran on the {} backend, not {backend}: left out of the series",
                    e.method, f.n, e.backend
                ));
                continue;
            }
            if let Some(s) = series.iter_mut().find(|s| s.method == e.method) {
                s.points.push(ScalingPoint::from_measurement(r));
            }
        }
        let first = runs.iter().find(|r| r.envelope.backend == backend);
        let (adapter, api) = first.map_or((String::new(), String::new()), |r| {
            (r.envelope.adapter.clone(), r.envelope.api.clone())
        });
        let mut ns: Vec<usize> = runs.iter().map(|r| r.figures.n).collect();
        ns.sort_unstable();
        ns.dedup();
        let figures = runs.first().map(|r| &r.figures);
        let problem = ScalingProblem {
            methods: series
                .iter()
                .filter_map(|s| MethodId::from_key(&s.method))
                .collect(),
            d: figures.map_or(0, |f| f.d),
            seed: figures.map_or(0, |f| f.seed),
            causal: figures.is_some_and(|f| f.causal),
            inputs: figures.map_or(InputSource::Gaussian, |f| f.inputs),
            n_min: ns.first().copied().unwrap_or(MIN_N),
            n_max: ns.last().copied().unwrap_or(MIN_N),
            repeats: runs
                .first()
                .map_or(1, |r| r.envelope.time_ms_samples.len() as u32),
            point_budget_ms: f64::INFINITY,
        };
        let mut report =
            ScalingReport::summarise(&problem, (backend, &adapter, &api), series, true);
        report.ns = ns;
        report.notes = notes;
        report
    }

    /// The crossover readout: `{"method": n or null, …}` as JSON text.
    pub fn crossovers_json(&self) -> String {
        serde_json::Value::Object(self.crossovers.clone()).to_string()
    }

    /// Every point as CSV, one line per (method, n), with a header.
    pub fn csv(&self) -> String {
        let mut out = String::from(
            "method,n,d,causal,backend,kernel,timing,time_ms,time_ms_samples,memory_bytes,flops,flops_algorithmic,rel_err\n",
        );
        for s in &self.series {
            for p in &s.points {
                let samples: Vec<String> =
                    p.time_ms_samples.iter().map(|t| format!("{t}")).collect();
                out.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                    p.method,
                    p.n,
                    p.d,
                    self.causal,
                    p.backend,
                    p.kernel,
                    timing_key(p.timing),
                    p.time_ms,
                    samples.join(" "),
                    p.memory_bytes,
                    p.flops,
                    p.flops_algorithmic,
                    p.rel_err
                ));
            }
        }
        out
    }

    /// The series of a method by key.
    pub fn series_of(&self, method: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.method == method)
    }
}

/// `"gpu-timestamp"` or `"wall-clock"`.
pub fn timing_key(t: Timing) -> &'static str {
    match t {
        Timing::GpuTimestamp => "gpu-timestamp",
        Timing::WallClock => "wall-clock",
    }
}

/// What a point's time is, in words.
pub fn time_counts(gpu: bool, timing: Option<Timing>) -> String {
    if gpu {
        let how = match timing {
            Some(Timing::WallClock) => "wall clock from submission to completion",
            _ => "GPU timestamps",
        };
        format!(
            "GPU kernel: median of the timed repeats after a warm-up ({how}); the method's timed passes only — uploads, readback and the CPU checks are not in it"
        )
    } else {
        "CPU twin: median of the repeats' busy wall clock (the twin built and every row computed per repeat)".into()
    }
}

/// What a point's memory is, in words.
pub fn memory_counts(gpu: bool) -> String {
    if gpu {
        "device buffers created for the timed kernels: Q, K, V, the output and the method's own buffers (projections, features, tile lists, row statistics)".into()
    } else {
        "the CPU twin's own arrays and the output (the inputs are not counted)".into()
    }
}

/// How the next point of a series would run: its repeats, or why it is not
/// run.
#[derive(Debug, Clone, PartialEq)]
pub enum PointPlan {
    /// Run with this many timed repeats.
    Run(u32),
    /// Skip: the predicted time of one repeat exceeds the budget.
    OverBudget {
        /// Predicted ms of one repeat.
        predicted_ms: f64,
    },
}

/// The plan for the point at `n` given the series so far: its time is
/// predicted from the last point by the local slope of the last two
/// (clamped to 1..=3; 2 with a single point); the repeats are as many as
/// the budget holds, 1 ..= `repeats`, counting one untimed warm-up on the
/// GPU.
pub fn next_point_plan(
    so_far: &[(usize, f64)],
    n: usize,
    repeats: u32,
    budget_ms: f64,
    gpu: bool,
) -> PointPlan {
    let repeats = repeats.max(1);
    let Some(&(last_n, last_t)) = so_far.last() else {
        return PointPlan::Run(repeats);
    };
    let slope = match so_far {
        [.., (n0, t0), (n1, t1)] if *t0 > 0.0 && *t1 > 0.0 && n1 > n0 => {
            ((t1 / t0).ln() / (*n1 as f64 / *n0 as f64).ln()).clamp(1.0, 3.0)
        }
        _ => 2.0,
    };
    let predicted_ms = last_t.max(0.0) * (n as f64 / last_n as f64).powf(slope);
    if !predicted_ms.is_finite() || predicted_ms > budget_ms {
        return PointPlan::OverBudget { predicted_ms };
    }
    let runs = (budget_ms / predicted_ms.max(1e-6)).floor() - if gpu { 1.0 } else { 0.0 };
    PointPlan::Run((runs.max(1.0) as u32).min(repeats))
}

/// Milliseconds as a reason states them (`"1.2 s"`, `"35 ms"`).
fn ms_text(x: f64) -> String {
    if x >= 1000.0 {
        format!("{:.2} s", x / 1000.0)
    } else if x >= 10.0 {
        format!("{x:.0} ms")
    } else {
        format!("{x:.2} ms")
    }
}

/// Measures one problem on a backend (the attention lab's run, or a fake in
/// the tests).
pub type Measure<'m> = &'m dyn for<'a> Fn(
    &'a AttentionProblem,
    &'a Backend,
    &'a dyn Host,
) -> LocalFuture<'a, Result<ScalingPoint, RunError>>;

/// The attention lab's run as a [`Measure`].
pub fn measure_with_lab<'a>(
    problem: &'a AttentionProblem,
    backend: &'a Backend,
    host: &'a dyn Host,
) -> LocalFuture<'a, Result<ScalingPoint, RunError>> {
    Box::pin(async move {
        let m = super::attention::run(problem, backend, host).await?;
        Ok(ScalingPoint::from_measurement(&m))
    })
}

/// A host that reports an inner run's progress as a share of the sweep's.
struct Within<'a> {
    host: &'a dyn Host,
    stage: String,
    from: f64,
    span: f64,
}

impl Host for Within<'_> {
    fn progress(&self, stage: &str, fraction: f64) {
        self.host.progress(
            &format!("{} — {stage}", self.stage),
            self.from + self.span * fraction.clamp(0.0, 1.0),
        );
    }

    fn yield_now(&self) -> LocalFuture<'_, ()> {
        self.host.yield_now()
    }

    fn cancelled(&self) -> bool {
        self.host.cancelled()
    }
}

/// The problem of `method` at one n on shared inputs.
fn point_problem(
    problem: &ScalingProblem,
    method: MethodId,
    inputs: &Rc<Inputs>,
    repeats: u32,
) -> AttentionProblem {
    AttentionProblem {
        method,
        params: method
            .info()
            .params
            .iter()
            .map(|p| (p.key.to_string(), p.default))
            .collect(),
        causal: problem.causal,
        seed: problem.seed,
        qk_scale: 1.0,
        inputs: inputs.clone(),
        heads: None,
        options: GpuRunOptions {
            repeats,
            // The n×n matrix of exact attention feeds its heatmap; a sweep
            // draws none, so it is never materialised here.
            map_source: MapSource::FusedStats,
            ..GpuRunOptions::default()
        },
        // A kernel too large for the adapter ends the series instead of
        // running the CPU twin in its place.
        gpu_required: true,
        qkv: None,
    }
}

/// Sweeps the problem on `backend` through the attention lab; `on_update`
/// sees the report after every point and every stop (the page draws
/// progressively). Yields to the host between points and stops when it is
/// cancelled.
pub async fn sweep(
    problem: &ScalingProblem,
    backend: &Backend,
    host: &dyn Host,
    on_update: impl FnMut(&ScalingReport),
) -> Result<ScalingReport, RunError> {
    sweep_with(problem, backend, host, &measure_with_lab, on_update).await
}

/// [`sweep`] with another way to measure a point.
pub async fn sweep_with(
    problem: &ScalingProblem,
    backend: &Backend,
    host: &dyn Host,
    measure: Measure<'_>,
    mut on_update: impl FnMut(&ScalingReport),
) -> Result<ScalingReport, RunError> {
    let methods = problem.swept();
    let ns = problem.ns();
    let gpu = matches!(backend, Backend::Gpu(_));
    let (adapter, api) = match backend {
        Backend::Gpu(ctx) => (ctx.adapter_name.clone(), ctx.api.clone()),
        Backend::Cpu { .. } => ("CPU twin, f32".to_string(), "ndarray".to_string()),
    };
    let describe = (backend.key(), adapter.as_str(), api.as_str());
    let mut series: Vec<Series> = methods
        .iter()
        .map(|&m| Series::new(m, m != REFERENCE || problem.methods.contains(&m)))
        .collect();
    for (s, &m) in series.iter_mut().zip(&methods) {
        if problem.causal
            && let Some(why) = m.info().causal_unsupported
        {
            s.stop = Some(Stop {
                n: ns.first().copied().unwrap_or(problem.n_min),
                kind: StopKind::Unsupported,
                reason: format!("{} cannot be causal: {why}", m.info().label),
            });
        }
    }
    let total = (methods.len() * ns.len()).max(1) as f64;
    let mut notes = Vec::new();
    if ns.is_empty() {
        notes.push(format!(
            "no power of two between n = {} and n = {}",
            problem.n_min, problem.n_max
        ));
    }
    for (k, &n) in ns.iter().enumerate() {
        if series.iter().all(|s| s.stop.is_some()) {
            break;
        }
        host.progress(
            &format!("generating inputs, n = {n}"),
            k as f64 / ns.len() as f64,
        );
        checkpoint(host).await?;
        let inputs = Rc::new(Inputs::generate(
            problem.inputs,
            n,
            problem.d,
            problem.seed,
            1.0,
        ));
        for (i, &method) in methods.iter().enumerate() {
            if series[i].stop.is_some() {
                continue;
            }
            let label = method.info().label;
            let done = (k * methods.len() + i) as f64 / total;
            let repeats = match next_point_plan(
                &series[i].times(),
                n,
                problem.repeats,
                problem.point_budget_ms,
                gpu,
            ) {
                PointPlan::Run(r) => r,
                PointPlan::OverBudget { predicted_ms } => {
                    series[i].stop = Some(Stop {
                        n,
                        kind: StopKind::Budget,
                        reason: format!(
                            "stopped before n = {n}: one repeat would take about {} (predicted from the last points), over the budget of {} per point",
                            ms_text(predicted_ms),
                            ms_text(problem.point_budget_ms)
                        ),
                    });
                    on_update(&ScalingReport::summarise(
                        problem,
                        describe,
                        series.clone(),
                        false,
                    ));
                    continue;
                }
            };
            let stage = format!("{label}, n = {n}");
            let within = Within {
                host,
                stage: stage.clone(),
                from: done,
                span: 1.0 / total,
            };
            host.progress(&stage, done);
            let point_problem = point_problem(problem, method, &inputs, repeats);
            match measure(&point_problem, backend, &within).await {
                Ok(point) => series[i].points.push(point),
                Err(RunError::Cancelled) => return Err(RunError::Cancelled),
                Err(e) => {
                    let kind = match &e {
                        RunError::Gpu(GpuError::TooLarge { .. }) => StopKind::TooLarge,
                        RunError::Method(_) => StopKind::Unsupported,
                        _ => StopKind::Failed,
                    };
                    let reason = match kind {
                        StopKind::TooLarge => format!("n = {n} does not fit this adapter: {e}"),
                        _ => format!("n = {n}: {e}"),
                    };
                    series[i].stop = Some(Stop { n, kind, reason });
                }
            }
            on_update(&ScalingReport::summarise(
                problem,
                describe,
                series.clone(),
                false,
            ));
            checkpoint(host).await?;
        }
    }
    if problem.n_max >= MAX_N && ns.last() == Some(&MAX_N) {
        notes.push(format!(
            "n = {MAX_N} is the largest sequence this app runs (its inputs' limit)"
        ));
    }
    let mut report = ScalingReport::summarise(problem, describe, series, true);
    report.notes = notes;
    host.progress("done", 1.0);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Quiet;

    #[test]
    fn theory_reads_the_survey_forms() {
        let e = |s: &str| theory_exponent(s).map(|t| (t.exponent, t.log_factor, t.sqrt_knob));
        assert_eq!(e("O(n²d)"), Some((2.0, false, false)));
        assert_eq!(e("O(n²)"), Some((2.0, false, false)));
        assert_eq!(e("O(n)"), Some((1.0, false, false)));
        assert_eq!(e("O(nk)"), Some((1.0, false, false)));
        assert_eq!(e("O(npd)"), Some((1.0, false, false)));
        assert_eq!(e("O(nL)"), Some((1.0, false, false)));
        assert_eq!(e("O(n log n)"), Some((1.0, true, false)));
        assert_eq!(e("O(n√n)"), Some((1.5, false, true)));
        assert_eq!(e("O(n(S + M))"), Some((1.0, false, false)));
        assert_eq!(e("O(n·(S+M+Mc))"), Some((1.0, false, false)));
        assert_eq!(e("O(n·(S + M + M_c))"), Some((1.0, false, false)));
        assert_eq!(e("O(n_s²)"), Some((0.0, false, false)));
        assert_eq!(e("O(n_)"), None);
        assert_eq!(e("O(n² + nd)"), Some((2.0, false, false)));
        assert_eq!(e("O(n²/k)"), Some((2.0, false, false)));
        assert_eq!(e("O(1)"), Some((0.0, false, false)));
        assert_eq!(e("O(n³)"), Some((3.0, false, false)));
        assert_eq!(e("linear"), None);
        assert_eq!(e("O(n^?)"), None);
        assert_eq!(e("O(n(S"), None);
        // Every registered method's complexity reads.
        for m in MethodId::ALL {
            let c = m.info().complexity;
            assert!(theory_exponent(c.time).is_some(), "{}: {}", m.key(), c.time);
            assert!(
                theory_exponent(c.space).is_some(),
                "{}: {}",
                m.key(),
                c.space
            );
        }
    }

    #[test]
    fn powers_of_two_within_the_limits() {
        assert_eq!(powers_of_two(100, 1000), vec![128, 256, 512]);
        assert_eq!(powers_of_two(1, 32), vec![16, 32]);
        assert_eq!(powers_of_two(8192, 1 << 20), vec![8192, 16384]);
        assert!(powers_of_two(600, 1000).is_empty());
    }

    #[test]
    fn the_fit_leaves_the_floor_out() {
        // 1 ms of launch overhead, then n² on top.
        let pts: Vec<(usize, f64)> = (6..=13)
            .map(|p| {
                let n = 1usize << p;
                (n, 1.0 + 1e-6 * (n as f64).powi(2))
            })
            .collect();
        let fit = fit_exponent(&pts);
        let e = fit.exponent.unwrap();
        assert!(fit.from_n.unwrap() > 64 && fit.note.contains("left out"));
        // Every point kept bends it far below; the floor's residue near 2×
        // still bends the tail's slope a little (a lower bound then).
        let all = log_log_slope(&pts.iter().map(|&(n, t)| (n as f64, t)).collect::<Vec<_>>());
        assert!(all.unwrap() < 1.2);
        assert!((1.6..=2.0).contains(&e), "{e} {fit:?}");
        // A flat series has no exponent, and says why.
        let flat: Vec<(usize, f64)> = (6..=12).map(|p| (1usize << p, 0.05)).collect();
        let fit = fit_exponent(&flat);
        assert_eq!(fit.exponent, None);
        assert!(fit.note.contains("above the floor"), "{}", fit.note);
        // A pure power law keeps every point but the smallest.
        let linear: Vec<(usize, f64)> = (6..=9)
            .map(|p| (1usize << p, (1usize << p) as f64))
            .collect();
        let fit = fit_exponent(&linear);
        assert_eq!((fit.points, fit.from_n), (3, Some(128)));
        assert!((fit.exponent.unwrap() - 1.0).abs() < 1e-12);
        // A noisy point on the floor does not start the fit early.
        let noisy = [
            (64, 1.0),
            (128, 1.6),
            (256, 1.1),
            (512, 2.0),
            (1024, 4.0),
            (2048, 8.0),
        ];
        let fit = fit_exponent(&noisy);
        assert_eq!(fit.from_n, Some(512));
        assert!((fit.exponent.unwrap() - 1.0).abs() < 1e-12);
        // Too few points; NaN and zero dropped.
        assert_eq!(fit_exponent(&[(64, 1.0), (128, 4.0)]).exponent, None);
        let fit = fit_exponent(&[
            (64, 1.0),
            (128, f64::NAN),
            (256, 16.0),
            (512, 64.0),
            (1024, 256.0),
            (2048, 0.0),
        ]);
        assert!((fit.exponent.unwrap() - 2.0).abs() < 1e-12, "{fit:?}");
        assert_eq!((fit.points, fit.to_n), (3, Some(1024)));
        assert!((fit.r2.unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn point_plans_follow_the_budget() {
        assert_eq!(next_point_plan(&[], 64, 5, 100.0, true), PointPlan::Run(5));
        // 10 ms at 512 with slope 2 → 40 ms at 1024: 2 runs fit 100 ms on
        // the GPU (one is the warm-up), so 1 timed repeat... and 2 on the CPU.
        let so_far = [(256, 2.5), (512, 10.0)];
        assert_eq!(
            next_point_plan(&so_far, 1024, 5, 100.0, true),
            PointPlan::Run(1)
        );
        assert_eq!(
            next_point_plan(&so_far, 1024, 5, 100.0, false),
            PointPlan::Run(2)
        );
        match next_point_plan(&so_far, 2048, 5, 100.0, false) {
            PointPlan::OverBudget { predicted_ms } => assert!((predicted_ms - 160.0).abs() < 1e-9),
            other => panic!("{other:?}"),
        }
        // A flat start predicts with slope 1 at least.
        assert_eq!(
            next_point_plan(&[(64, 1.0), (128, 1.0)], 256, 3, 1.9, false),
            PointPlan::OverBudget { predicted_ms: 2.0 }
        );
        assert_eq!(
            next_point_plan(&[(64, 1.0)], 128, 3, f64::INFINITY, true),
            PointPlan::Run(3)
        );
    }

    /// A fake measurement: time a·n^p + floor, memory 4·n·k.
    fn fake(
        method: MethodId,
        n: usize,
        too_large_from: Option<usize>,
    ) -> Result<ScalingPoint, RunError> {
        if too_large_from.is_some_and(|limit| n >= limit) {
            return Err(RunError::Gpu(GpuError::TooLarge {
                what: format!("{} at n = {n}", method.key()),
                needs: (n * n * 4) as u64,
                unit: "bytes",
                limit_name: "max_storage_buffer_binding_size",
                limit: 1 << 20,
            }));
        }
        let (a, p) = if method == REFERENCE {
            (1e-5, 2.0)
        } else {
            (1e-3, 1.0)
        };
        Ok(ScalingPoint {
            method: method.key().into(),
            n,
            d: 8,
            time_ms: 0.05 + a * (n as f64).powf(p),
            time_ms_samples: vec![0.05 + a * (n as f64).powf(p)],
            timing: Timing::GpuTimestamp,
            memory_bytes: (4 * n * 64) as u64,
            memory_formula: String::new(),
            flops: 0,
            flops_algorithmic: 0,
            backend: "cpu".into(),
            kernel: "cpu-twin".into(),
            rel_err: 0.0,
        })
    }

    fn measure<'a>(
        p: &'a AttentionProblem,
        _: &'a Backend,
        _: &'a dyn Host,
    ) -> LocalFuture<'a, Result<ScalingPoint, RunError>> {
        let (m, n) = (p.method, p.inputs.n());
        Box::pin(async move { fake(m, n, None) })
    }

    /// The reference refuses n ≥ 1024 as too large for the adapter.
    fn measure_limited<'a>(
        p: &'a AttentionProblem,
        _: &'a Backend,
        _: &'a dyn Host,
    ) -> LocalFuture<'a, Result<ScalingPoint, RunError>> {
        let (m, n) = (p.method, p.inputs.n());
        let limit = (m == REFERENCE).then_some(1024);
        Box::pin(async move { fake(m, n, limit) })
    }

    fn problem(methods: &[MethodId], n_max: usize) -> ScalingProblem {
        ScalingProblem {
            methods: methods.to_vec(),
            d: 8,
            seed: 1,
            causal: false,
            inputs: InputSource::Gaussian,
            n_min: 64,
            n_max,
            repeats: 3,
            point_budget_ms: f64::INFINITY,
        }
    }

    #[test]
    fn a_sweep_measures_fits_and_finds_the_crossover_progressively() {
        let p = problem(&[MethodId::Linear], 8192);
        let mut updates = 0;
        let report = pollster::block_on(sweep_with(
            &p,
            &Backend::Cpu { reason: None },
            &Quiet,
            &measure,
            |r| {
                updates += 1;
                assert!(!r.complete);
            },
        ))
        .unwrap();
        assert_eq!(updates, 2 * 8);
        assert!(report.complete);
        let full = report.series_of("full").unwrap();
        let linear = report.series_of("linear").unwrap();
        assert!(full.reference && !full.chosen && linear.chosen);
        assert!((full.time_fit.exponent.unwrap() - 2.0).abs() < 0.1);
        assert!((linear.time_fit.exponent.unwrap() - 1.0).abs() < 0.1);
        assert!((linear.memory_fit.exponent.unwrap() - 1.0).abs() < 1e-9);
        // 1e-5 n² + 0.05 < 1e-3 n + 0.05 ⇔ n < 100: linear wins from 128.
        assert_eq!(linear.crossover.n, Some(128));
        assert_eq!(linear.crossover.compared_up_to, Some(8192));
        // Only the chosen methods are in the readout.
        assert_eq!(report.crossovers_json(), r#"{"linear":128}"#);
        let csv = report.csv();
        assert_eq!(csv.lines().count(), 1 + 16);
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .starts_with("full,64,8,false,cpu,cpu-twin,gpu-timestamp,")
        );
    }

    #[test]
    fn a_series_stops_at_the_first_size_the_adapter_refuses() {
        let p = problem(&[MethodId::Full, MethodId::Linear], 4096);
        let report = pollster::block_on(sweep_with(
            &p,
            &Backend::Cpu { reason: None },
            &Quiet,
            &measure_limited,
            |_| {},
        ))
        .unwrap();
        let full = report.series_of("full").unwrap();
        assert_eq!(full.points.len(), 4);
        let stop = full.stop.as_ref().unwrap();
        assert_eq!((stop.n, stop.kind), (1024, StopKind::TooLarge));
        assert!(
            stop.reason.contains("max_storage_buffer_binding_size"),
            "{}",
            stop.reason
        );
        let linear = report.series_of("linear").unwrap();
        assert_eq!(linear.points.len(), 7);
        // Compared where both ran: up to 512.
        assert_eq!(
            linear.crossover,
            Crossover {
                n: Some(128),
                compared_up_to: Some(512)
            }
        );
        assert_eq!(report.crossovers_json(), r#"{"full":null,"linear":128}"#);
    }

    #[test]
    fn the_budget_ends_a_series_with_its_reason_and_causal_refusals_are_recorded() {
        let mut p = problem(&[MethodId::Linear, MethodId::Linformer], 16384);
        p.point_budget_ms = 50.0;
        p.causal = true;
        let report = pollster::block_on(sweep_with(
            &p,
            &Backend::Cpu { reason: None },
            &Quiet,
            &measure,
            |_| {},
        ))
        .unwrap();
        let full = report.series_of("full").unwrap();
        // 1e-5·n² + 0.05 ≤ 50 up to n = 2048 (42 ms); 4096 predicted 168 ms.
        assert_eq!(full.points.last().unwrap().n, 2048);
        let stop = full.stop.as_ref().unwrap();
        assert_eq!((stop.n, stop.kind), (4096, StopKind::Budget));
        assert!(stop.reason.contains("budget"), "{}", stop.reason);
        let linformer = report.series_of("linformer").unwrap();
        assert!(linformer.points.is_empty());
        assert_eq!(linformer.stop.as_ref().unwrap().kind, StopKind::Unsupported);
        assert!(report.crossovers_json().contains(r#""linformer":null"#));
    }

    #[test]
    fn a_cancelled_sweep_stops() {
        struct Cancelled;
        impl Host for Cancelled {
            fn cancelled(&self) -> bool {
                true
            }
        }
        let p = problem(&[MethodId::Linear], 1024);
        let out = pollster::block_on(sweep_with(
            &p,
            &Backend::Cpu { reason: None },
            &Cancelled,
            &measure,
            |_| panic!("no point after a cancel"),
        ));
        assert!(matches!(out, Err(RunError::Cancelled)));
    }

    #[test]
    fn the_lab_runs_a_small_cpu_sweep() {
        let p = ScalingProblem {
            n_min: 32,
            n_max: 64,
            repeats: 1,
            ..problem(&[MethodId::Longformer], 64)
        };
        let report =
            pollster::block_on(sweep(&p, &Backend::Cpu { reason: None }, &Quiet, |_| {})).unwrap();
        for s in &report.series {
            assert_eq!(s.points.len(), 2, "{}", s.method);
            for pt in &s.points {
                assert!(pt.time_ms > 0.0 && pt.memory_bytes > 0 && pt.kernel == "cpu-twin");
            }
        }
        assert_eq!(report.backend, "cpu");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["family"], "scaling");
        assert!(
            json["crossovers"]
                .as_object()
                .unwrap()
                .contains_key("longformer")
        );
    }
}

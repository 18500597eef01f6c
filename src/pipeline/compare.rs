//! The Comprehensive Comparison, measured (survey §"Comprehensive
//! Comparison", its Summary Table): every registered attention method run
//! side by side on the same inputs, n, d, seed and backend, one row each —
//! the survey's time and space complexity and "best for" (from each
//! method's [`MethodInfo`](crate::attention::MethodInfo), never retyped)
//! beside what this machine measures: FLOPs and bytes in both kinds
//! (algorithmic / compulsory and executed), the warm median time of the
//! GPU kernel or of the CPU twin, and rel_err against the exact model with
//! its two baselines (the mean of V, zeros).
//!
//! The table is a function over the registry: each method is one run of
//! the attention lab ([`super::attention::run`]), which is also the unit of
//! progress and of cancellation. A method that refuses the table's
//! configuration before any work (it cannot be causal, or is causal by
//! construction in a non-causal table) is *skipped*, with its reason,
//! rather than run under another configuration: a non-causal time or error
//! beside causal ones would compare different problems. A method whose run
//! fails (a kernel over the adapter's limits with the GPU asked for by
//! name, a non-finite result) *fails* its row, with the error as its text.
//! Only a cancellation stops the table.
//!
//! [`recommendations`] holds the survey's Practical Recommendations table
//! and judges each against the rows measured here.

pub mod recommendations;

use std::collections::BTreeMap;
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::attention::{AttentionProblem, Measurement, run as run_attention};
use super::{Backend, Host, RunError, checkpoint, repeats};
use crate::attention::{MethodId, ParamValues};
use crate::data::LocalFuture;
use crate::data::timing::Timing;
use crate::gpu::GpuRunOptions;
use crate::inputs::Inputs;

/// The factor on Q and K of the comparison's seeded inputs (the explorer's
/// default: its links reproduce a row without a `qk-scale`).
pub const QK_SCALE: f64 = 1.0;

/// The key of the method every other is timed against.
pub const REFERENCE_METHOD: &str = "full";

/// One comparison: a plain value, no UI types inside.
#[derive(Debug, Clone)]
pub struct CompareProblem {
    /// The methods, in table order (the whole registry by default).
    pub methods: Vec<MethodId>,
    /// Q, K, V shared by every method (seeded, Q and K scaled by
    /// [`QK_SCALE`]).
    pub inputs: Rc<Inputs>,
    /// Seed of the inputs and of each method's random choices.
    pub seed: u64,
    /// Mask keys j > i (methods that cannot be causal are skipped).
    pub causal: bool,
    /// Repeats and GPU tuning, for every method.
    pub options: GpuRunOptions,
    /// The GPU was asked for by name: a kernel that does not fit the
    /// adapter fails its row instead of running on the CPU twin.
    pub gpu_required: bool,
    /// Cap the CPU twin's repeats by [`super::CPU_REPEAT_BUDGET_FLOPS`]
    /// (the page), as the explorer does.
    pub cpu_repeat_budget: bool,
}

impl CompareProblem {
    /// Every registered method on these inputs; not causal, default options.
    pub fn new(inputs: Rc<Inputs>, seed: u64) -> CompareProblem {
        CompareProblem {
            methods: MethodId::ALL.to_vec(),
            inputs,
            seed,
            causal: false,
            options: GpuRunOptions::default(),
            gpu_required: false,
            cpu_repeat_budget: false,
        }
    }

    /// The attention lab's problem for one method: its knobs at their
    /// defaults (corrected by the method's own cross-knob rules), the shared
    /// inputs, and the repeats the CPU budget allows.
    pub fn attention_problem(&self, method: MethodId, backend: &Backend) -> AttentionProblem {
        let (params, _) = default_params(method);
        let mut problem = AttentionProblem {
            method,
            params,
            causal: self.causal,
            seed: self.seed,
            qk_scale: QK_SCALE,
            inputs: self.inputs.clone(),
            heads: None,
            options: self.options.clone(),
            gpu_required: self.gpu_required,
            qkv: None,
        };
        if self.cpu_repeat_budget {
            let shape = problem.shape();
            let pass = method
                .method()
                .cost(shape, &problem.config(), shape.pairs())
                .flops_algorithmic;
            problem.options.repeats = repeats(backend, problem.options.repeats, pass, true);
        }
        problem
    }
}

/// A method's knobs at their defaults, corrected by its own cross-knob
/// rules, and what each correction was.
fn default_params(method: MethodId) -> (ParamValues, Vec<String>) {
    let mut params: ParamValues = method
        .info()
        .params
        .iter()
        .map(|p| (p.key.to_string(), p.default))
        .collect();
    let fixes = method
        .method()
        .fix_params(&mut params)
        .into_iter()
        .map(|fix| format!("{}: {}; using {}", fix.key, fix.problem, fix.value))
        .collect();
    (params, fixes)
}

/// What became of a method's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowStatus {
    /// Not run yet: a placeholder ([`CompareRow::info`]) while the table
    /// fills; never in a finished comparison.
    Pending,
    /// It ran: every figure is present and finite.
    Measured,
    /// It was not run: it refuses the table's configuration (a causal
    /// table and a method that cannot be causal, or the reverse); `error`
    /// says why.
    Skipped,
    /// It ran and failed; `error` says how.
    Failed,
}

impl RowStatus {
    /// `"pending"`, `"measured"`, `"skipped"` or `"failed"`, as in the JSON.
    pub fn key(self) -> &'static str {
        match self {
            RowStatus::Pending => "pending",
            RowStatus::Measured => "measured",
            RowStatus::Skipped => "skipped",
            RowStatus::Failed => "failed",
        }
    }
}

/// One row of the comparison: `flt compare --json` prints one per line, the
/// page's raw data is an array of them. Keys are added, never renamed; the
/// measured ones are `null` when the method was skipped or failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareRow {
    /// Method key (`"full"`).
    pub method: String,
    /// Method name.
    pub label: String,
    /// Survey family (`"Sparse"`, `"Low-rank"`, …).
    pub family: String,
    /// The paper that defines it.
    pub paper: String,
    /// Time complexity as the survey's Summary Table gives it (or, for a
    /// method it leaves out, `complexity_source`).
    pub complexity_time: String,
    /// Space complexity, likewise.
    pub complexity_space: String,
    /// Where the complexity is stated.
    pub complexity_source: String,
    /// What the survey's Summary Table says the method is best for (`"—"`).
    pub best_for: String,
    /// Whether the method can be causal.
    pub causal_supported: bool,
    /// Why it cannot, if it cannot.
    pub causal_unsupported: Option<String>,
    /// Sequence length.
    pub n: usize,
    /// Query/key width (= value width).
    pub d: usize,
    /// Seed of the inputs and of the method's random choices.
    pub seed: u64,
    /// Whether the table is causal.
    pub causal: bool,
    /// The inputs' generator.
    pub inputs: String,
    /// Fingerprint of Q, K and V: equal in every row of one table.
    pub inputs_digest: String,
    /// The method's knobs used (its defaults, after its cross-knob rules).
    pub params: BTreeMap<String, u64>,
    /// Measured, skipped or failed.
    pub status: RowStatus,
    /// Why it was skipped or how it failed.
    pub error: Option<String>,
    /// `"gpu"` or `"cpu"`: where this row ran (a kernel over the adapter's
    /// limits runs on the CPU twin when the GPU was not asked for by name).
    pub backend: Option<String>,
    /// The adapter, or `"CPU twin, f32"`.
    pub adapter: Option<String>,
    /// The kernel family timed (`"fused"`, `"tiled"`, …, `"cpu-twin"`).
    pub kernel: Option<String>,
    /// How `time_ms` was measured.
    pub timing: Option<Timing>,
    /// What `time_ms` is, in words: GPU kernel or CPU twin, median of how
    /// many, which clock.
    pub time_source: Option<String>,
    /// FLOPs executed (GPU: the timed kernels; CPU: the twin's pass).
    pub flops: Option<u64>,
    /// The formula behind `flops`.
    pub flops_formula: Option<String>,
    /// Bytes moved (GPU: global-memory loads and stores; CPU: the twin's
    /// loops).
    pub bytes: Option<u64>,
    /// The formula behind `bytes`.
    pub bytes_formula: Option<String>,
    /// FLOPs the method needs (its pattern's pairs, its factors).
    pub flops_algorithmic: Option<u64>,
    /// The formula behind `flops_algorithmic`.
    pub flops_algorithmic_formula: Option<String>,
    /// Bytes of inputs, parameters and output, each moved once.
    pub bytes_compulsory: Option<u64>,
    /// The formula behind `bytes_compulsory`.
    pub bytes_compulsory_formula: Option<String>,
    /// Memory allocated for the timed run.
    pub memory_bytes: Option<u64>,
    /// Median time of the timed run, ms (see `time_source`).
    pub time_ms: Option<f64>,
    /// Every repeat's time, ms.
    pub time_ms_samples: Vec<f64>,
    /// Executed FLOPs / time, GFLOP/s.
    pub gflops: Option<f64>,
    /// `time_ms` over exact attention's in the same table, when both ran on
    /// the same backend and clock (< 1: faster).
    pub time_vs_full: Option<f64>,
    /// ‖O − O_ref‖_F / ‖O_ref‖_F over the checked rows.
    pub rel_err: Option<f64>,
    /// max |O − O_ref| over the checked rows.
    pub max_abs_err: Option<f64>,
    /// The exact model `rel_err` is measured against (f64).
    pub reference: Option<String>,
    /// How many rows the error figures compare.
    pub checked_rows: Option<usize>,
    /// rel_err of outputting the mean of V (uniform attention).
    pub baseline_mean_v_rel_err: Option<f64>,
    /// rel_err of outputting zeros.
    pub baseline_zero_rel_err: Option<f64>,
    /// Whether `rel_err` is below the mean-of-V baseline: the method says
    /// more than "every key matters equally".
    pub beats_mean_v: Option<bool>,
    /// max |O_gpu − O_twin| over the checked rows (GPU rows).
    pub gpu_cpu_max_abs_err: Option<f64>,
    /// Remarks (a fallback to the CPU twin, a knob corrected, …).
    pub notes: Vec<String>,
}

impl CompareRow {
    /// The row before its run: what the registry says, the settings, no
    /// figures yet (status `pending`).
    pub fn describe(method: MethodId, problem: &CompareProblem) -> CompareRow {
        let inputs = &*problem.inputs;
        CompareRow {
            n: inputs.n(),
            d: inputs.d(),
            seed: problem.seed,
            causal: problem.causal,
            inputs: inputs.source.key().into(),
            inputs_digest: inputs.digest(),
            ..CompareRow::info(method)
        }
    }

    /// What the registry says of `method` (name, family, the survey's
    /// complexity and "best for", causality), status `pending`, no settings
    /// and no figures: the page's placeholder before a run.
    pub fn info(method: MethodId) -> CompareRow {
        let info = method.info();
        CompareRow {
            method: info.key.into(),
            label: info.label.into(),
            family: info.family.into(),
            paper: info.paper.into(),
            complexity_time: info.complexity.time.into(),
            complexity_space: info.complexity.space.into(),
            complexity_source: info.complexity.source.into(),
            best_for: info.best_for.into(),
            causal_supported: info.causal_unsupported.is_none(),
            causal_unsupported: info.causal_unsupported.map(str::to_string),
            n: 0,
            d: 0,
            seed: 0,
            causal: false,
            inputs: String::new(),
            inputs_digest: String::new(),
            params: BTreeMap::new(),
            status: RowStatus::Pending,
            error: None,
            backend: None,
            adapter: None,
            kernel: None,
            timing: None,
            time_source: None,
            flops: None,
            flops_formula: None,
            bytes: None,
            bytes_formula: None,
            flops_algorithmic: None,
            flops_algorithmic_formula: None,
            bytes_compulsory: None,
            bytes_compulsory_formula: None,
            memory_bytes: None,
            time_ms: None,
            time_ms_samples: Vec::new(),
            gflops: None,
            time_vs_full: None,
            rel_err: None,
            max_abs_err: None,
            reference: None,
            checked_rows: None,
            baseline_mean_v_rel_err: None,
            baseline_zero_rel_err: None,
            beats_mean_v: None,
            gpu_cpu_max_abs_err: None,
            notes: Vec::new(),
        }
    }

    /// The row of a method that was not run, and why.
    pub fn skipped(self, why: String) -> CompareRow {
        CompareRow {
            status: RowStatus::Skipped,
            error: Some(why),
            ..self
        }
    }

    /// The row of a method whose run failed, and how.
    pub fn failed(self, why: String) -> CompareRow {
        CompareRow {
            status: RowStatus::Failed,
            error: Some(why),
            ..self
        }
    }

    /// The row of a measured run.
    pub fn measured(self, m: &Measurement) -> CompareRow {
        let (e, f) = (&m.envelope, &m.figures);
        CompareRow {
            params: f.params.clone(),
            status: RowStatus::Measured,
            error: None,
            backend: Some(e.backend.clone()),
            adapter: Some(e.adapter.clone()),
            kernel: Some(e.kernel.key().into()),
            timing: Some(e.timing),
            time_source: Some(time_source(m)),
            flops: Some(e.flops),
            flops_formula: Some(e.flops_formula.clone()),
            bytes: Some(e.bytes),
            bytes_formula: Some(e.bytes_formula.clone()),
            flops_algorithmic: Some(e.flops_algorithmic),
            flops_algorithmic_formula: Some(e.flops_algorithmic_formula.clone()),
            bytes_compulsory: Some(e.bytes_compulsory),
            bytes_compulsory_formula: Some(e.bytes_compulsory_formula.clone()),
            memory_bytes: Some(e.memory_bytes),
            time_ms: Some(e.time_ms),
            time_ms_samples: e.time_ms_samples.clone(),
            gflops: Some(e.gflops),
            rel_err: Some(f.rel_err),
            max_abs_err: Some(f.max_abs_err),
            reference: Some(f.reference.clone()),
            checked_rows: Some(f.checked_rows),
            baseline_mean_v_rel_err: Some(f.baseline_mean_v_rel_err),
            baseline_zero_rel_err: Some(f.baseline_zero_rel_err),
            beats_mean_v: Some(f.rel_err < f.baseline_mean_v_rel_err),
            gpu_cpu_max_abs_err: e.gpu_cpu_max_abs_err,
            notes: e.notes.clone(),
            ..self
        }
    }

    /// Whether this row's time can stand beside `other`'s as a ratio: both
    /// measured, on the same backend, by the same clock.
    pub fn timed_like(&self, other: &CompareRow) -> bool {
        self.status == RowStatus::Measured
            && other.status == RowStatus::Measured
            && self.backend == other.backend
            && self.timing == other.timing
            && self.time_ms.is_some_and(|t| t > 0.0)
            && other.time_ms.is_some_and(|t| t > 0.0)
    }

    /// Sets `time_vs_full` from the reference row, when comparable.
    fn ratio_to(&mut self, full: Option<&CompareRow>) {
        self.time_vs_full = match (full, self.time_ms) {
            (Some(full), Some(t)) if self.timed_like(full) => {
                full.time_ms.map(|f| t / f).filter(|r| r.is_finite())
            }
            _ => None,
        };
    }
}

/// What `time_ms` is: "GPU kernels, warm median of 5 after an untimed
/// warm-up, GPU timestamps" or "CPU twin, median of 3 whole passes (…),
/// wall clock" (the kernel family is the row's `kernel`).
pub fn time_source(m: &Measurement) -> String {
    let e = &m.envelope;
    let count = e.time_ms_samples.len();
    let clock = match e.timing {
        Timing::GpuTimestamp => "GPU timestamps",
        Timing::WallClock => "wall clock",
    };
    if e.backend == "gpu" {
        format!("GPU kernels, warm median of {count} after an untimed warm-up, {clock}")
    } else {
        let passes = if count == 1 { "pass" } else { "passes" };
        format!(
            "CPU twin, median of {count} whole {passes} (the twin built and every row computed), {clock}"
        )
    }
}

/// The [`Host`] of one method's run inside the table: its progress is that
/// method's share of the whole (a method is the unit of progress), its
/// stage names the method.
struct MethodHost<'a> {
    outer: &'a dyn Host,
    index: usize,
    count: usize,
    label: &'static str,
}

impl Host for MethodHost<'_> {
    fn progress(&self, stage: &str, fraction: f64) {
        let whole = (self.index as f64 + fraction.clamp(0.0, 1.0)) / self.count.max(1) as f64;
        self.outer.progress(
            &format!(
                "{} ({} of {}): {stage}",
                self.label,
                self.index + 1,
                self.count
            ),
            whole,
        );
    }

    fn yield_now(&self) -> LocalFuture<'_, ()> {
        self.outer.yield_now()
    }

    fn cancelled(&self) -> bool {
        self.outer.cancelled()
    }
}

/// Runs the comparison: one attention-lab run per method, in order, on the
/// shared inputs; `on_row(index, row)` sees each row as it completes (the
/// page fills its table progressively). Returns every row, each with its
/// time against exact attention's where comparable; fails only when
/// cancelled.
pub async fn compare(
    problem: &CompareProblem,
    backend: &Backend,
    host: &dyn Host,
    mut on_row: impl FnMut(usize, &CompareRow),
) -> Result<Vec<CompareRow>, RunError> {
    let count = problem.methods.len();
    let mut rows: Vec<CompareRow> = Vec::with_capacity(count);
    for (index, &method) in problem.methods.iter().enumerate() {
        let scoped = MethodHost {
            outer: host,
            index,
            count,
            label: method.info().label,
        };
        scoped.progress("starting", 0.0);
        checkpoint(host).await?;
        let mut row = run_row(method, problem, backend, &scoped).await?;
        if row.method == REFERENCE_METHOD {
            let itself = row.clone();
            row.ratio_to(Some(&itself));
        } else {
            row.ratio_to(reference_row(&rows));
        }
        on_row(index, &row);
        rows.push(row);
    }
    // The reference may come after some rows (a registry in another order).
    if let Some(full) = reference_row(&rows).cloned() {
        for row in rows.iter_mut() {
            row.ratio_to(Some(&full));
        }
    }
    host.progress("done", 1.0);
    Ok(rows)
}

/// The measured row of exact attention, if any.
pub fn reference_row(rows: &[CompareRow]) -> Option<&CompareRow> {
    rows.iter()
        .find(|r| r.method == REFERENCE_METHOD && r.status == RowStatus::Measured)
}

/// One method's row: skipped if the lab refuses its configuration before
/// any work (it cannot be causal in a causal table, …: the lab's message);
/// otherwise its run, a failure becoming the row's error (a cancellation
/// stops the table).
async fn run_row(
    method: MethodId,
    problem: &CompareProblem,
    backend: &Backend,
    host: &dyn Host,
) -> Result<CompareRow, RunError> {
    let row = CompareRow::describe(method, problem);
    let attention = problem.attention_problem(method, backend);
    let (_, fixes) = default_params(method);
    match run_attention(&attention, backend, host).await {
        Ok(m) => {
            let mut row = row.measured(&m);
            row.notes.extend(fixes);
            Ok(row)
        }
        Err(RunError::Cancelled) => Err(RunError::Cancelled),
        Err(RunError::Method(e)) => Ok(row.skipped(format!("not run: {e}"))),
        Err(e) => Ok(row.failed(e.to_string())),
    }
}

/// A column the table sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// The method's name.
    Name,
    /// The survey's time complexity (its growth in n), then space.
    Complexity,
    /// FLOPs executed.
    Flops,
    /// FLOPs the method needs.
    FlopsNeeded,
    /// Bytes moved.
    Bytes,
    /// Compulsory bytes.
    BytesNeeded,
    /// Measured time.
    Time,
    /// rel_err against the exact model.
    RelErr,
}

impl SortKey {
    /// Every key, in the table's column order.
    pub const ALL: [SortKey; 8] = [
        SortKey::Name,
        SortKey::Complexity,
        SortKey::Flops,
        SortKey::FlopsNeeded,
        SortKey::Bytes,
        SortKey::BytesNeeded,
        SortKey::Time,
        SortKey::RelErr,
    ];

    /// Its name in test ids and the CLI (`"time"`, `"rel-err"`).
    pub fn key(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Complexity => "complexity",
            SortKey::Flops => "flops",
            SortKey::FlopsNeeded => "flops-needed",
            SortKey::Bytes => "bytes",
            SortKey::BytesNeeded => "bytes-needed",
            SortKey::Time => "time",
            SortKey::RelErr => "rel-err",
        }
    }

    /// A key by name.
    pub fn from_key(key: &str) -> Option<SortKey> {
        Self::ALL.into_iter().find(|k| k.key() == key)
    }

    /// The row's value for a numeric key (`None`: not measured).
    fn value(self, row: &CompareRow) -> Option<f64> {
        match self {
            SortKey::Name => None,
            SortKey::Complexity => {
                Some(growth_in_n(&row.complexity_time) * 16.0 + growth_in_n(&row.complexity_space))
            }
            SortKey::Flops => row.flops.map(|x| x as f64),
            SortKey::FlopsNeeded => row.flops_algorithmic.map(|x| x as f64),
            SortKey::Bytes => row.bytes.map(|x| x as f64),
            SortKey::BytesNeeded => row.bytes_compulsory.map(|x| x as f64),
            SortKey::Time => row.time_ms,
            SortKey::RelErr => row.rel_err,
        }
        .filter(|x| x.is_finite())
    }
}

/// Sorts the rows by `key`, ascending or descending; rows without the
/// figure (skipped, failed, not yet run) go last either way. Ties keep the
/// registry's order.
pub fn sort_rows(rows: &mut [CompareRow], key: SortKey, descending: bool) {
    let by_name =
        |a: &CompareRow, b: &CompareRow| a.label.to_lowercase().cmp(&b.label.to_lowercase());
    rows.sort_by(|a, b| {
        if key == SortKey::Name {
            let o = by_name(a, b);
            return if descending { o.reverse() } else { o };
        }
        match (key.value(a), key.value(b)) {
            (Some(x), Some(y)) => {
                let o = x.total_cmp(&y);
                if descending { o.reverse() } else { o }
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
    });
}

/// The exponent of n in a complexity as the survey writes it — `O(n²d)` →
/// 2, `O(n√n)` → 1.5, `O(n log n)` → 1.05 (a log factor counts 0.05, so it
/// sorts between n and n√n), `O(nk)` and `O(npd)` → 1 (k, p, d are
/// constants in n) — for sorting by growth.
pub fn growth_in_n(complexity: &str) -> f64 {
    let inner = complexity
        .trim()
        .strip_prefix("O(")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(complexity);
    let chars: Vec<char> = inner.chars().collect();
    let mut exponent = 0.0;
    let mut i = 0;
    while i < chars.len() {
        if chars[i..].starts_with(&['l', 'o', 'g']) {
            exponent += 0.05;
            i += 3;
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            if i < chars.len() && chars[i] == 'n' {
                i += 1;
            }
            continue;
        }
        match chars[i] {
            '√' if chars.get(i + 1) == Some(&'n') => {
                exponent += 0.5;
                i += 2;
            }
            'n' => {
                let (power, width) = match chars.get(i + 1) {
                    Some('²') => (2.0, 2),
                    Some('³') => (3.0, 2),
                    _ => (1.0, 1),
                };
                exponent += power;
                i += width;
            }
            _ => i += 1,
        }
    }
    exponent
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::InputSource;
    use crate::pipeline::Quiet;

    #[test]
    fn growth_orders_the_survey_complexities() {
        let order = [
            "O(n)",
            "O(nk)",
            "O(npd)",
            "O(n log n)",
            "O(n√n)",
            "O(n²)",
            "O(n²d)",
        ];
        let g: Vec<f64> = order.iter().map(|c| growth_in_n(c)).collect();
        assert_eq!(g, vec![1.0, 1.0, 1.0, 1.05, 1.5, 2.0, 2.0]);
        assert_eq!(growth_in_n("O(nL)"), 1.0);
        assert_eq!(growth_in_n("Same"), 0.0);
    }

    fn problem(n: usize) -> CompareProblem {
        let inputs = Rc::new(Inputs::generate(InputSource::Gaussian, n, 8, 1, QK_SCALE));
        CompareProblem {
            options: GpuRunOptions {
                repeats: 1,
                ..Default::default()
            },
            ..CompareProblem::new(inputs, 1)
        }
    }

    #[test]
    fn a_causal_table_skips_the_methods_that_cannot_be_causal() {
        let mut p = problem(32);
        p.causal = true;
        let rows = pollster::block_on(compare(
            &p,
            &Backend::Cpu { reason: None },
            &Quiet,
            |_, _| {},
        ))
        .unwrap();
        assert_eq!(rows.len(), MethodId::ALL.len());
        for (row, m) in rows.iter().zip(MethodId::ALL) {
            match m.info().causal_unsupported {
                Some(why) => {
                    assert_eq!(row.status, RowStatus::Skipped, "{}", row.method);
                    assert!(row.error.as_deref().unwrap().contains(why));
                    assert!(row.time_ms.is_none() && row.rel_err.is_none());
                }
                None => assert_eq!(row.status, RowStatus::Measured, "{:?}", row.error),
            }
        }
    }

    #[test]
    fn a_time_stands_against_exact_attentions_only_on_the_same_backend_and_clock() {
        let p = problem(16);
        let timed = |method, backend: &str, timing, t| CompareRow {
            status: RowStatus::Measured,
            backend: Some(backend.into()),
            timing: Some(timing),
            time_ms: Some(t),
            ..CompareRow::describe(method, &p)
        };
        let full = timed(MethodId::ALL[0], "gpu", Timing::GpuTimestamp, 4.0);
        let mut row = timed(MethodId::ALL[1], "gpu", Timing::GpuTimestamp, 1.0);
        row.ratio_to(Some(&full));
        assert_eq!(row.time_vs_full, Some(0.25));
        for (backend, timing) in [
            ("cpu", Timing::GpuTimestamp),
            ("gpu", Timing::WallClock),
            ("cpu", Timing::WallClock),
        ] {
            let mut other = timed(MethodId::ALL[1], backend, timing, 1.0);
            other.ratio_to(Some(&full));
            assert_eq!(other.time_vs_full, None, "{backend} {timing:?}");
        }
        let mut pending = CompareRow::describe(MethodId::ALL[1], &p);
        pending.ratio_to(Some(&full));
        assert_eq!(pending.time_vs_full, None);
    }

    #[test]
    fn sorting_puts_unmeasured_rows_last_both_ways() {
        let p = problem(16);
        let mut rows: Vec<CompareRow> = [MethodId::ALL[0], MethodId::ALL[1], MethodId::ALL[2]]
            .iter()
            .map(|&m| CompareRow::describe(m, &p))
            .collect();
        rows[0].time_ms = Some(3.0);
        rows[0].status = RowStatus::Measured;
        rows[2].time_ms = Some(1.0);
        rows[2].status = RowStatus::Measured;
        let keys = |rows: &[CompareRow]| rows.iter().map(|r| r.method.clone()).collect::<Vec<_>>();
        let (a, b, c) = (
            rows[0].method.clone(),
            rows[1].method.clone(),
            rows[2].method.clone(),
        );
        sort_rows(&mut rows, SortKey::Time, false);
        assert_eq!(keys(&rows), vec![c.clone(), a.clone(), b.clone()]);
        sort_rows(&mut rows, SortKey::Time, true);
        assert_eq!(keys(&rows), vec![a, c, b]);
        assert_eq!(SortKey::from_key("rel-err"), Some(SortKey::RelErr));
    }
}

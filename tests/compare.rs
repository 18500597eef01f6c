//! The Comprehensive Comparison (`pipeline::compare`, `flt compare`): a row
//! for every registered method with the contract's keys, finite where
//! measured; the CPU table equal to the attention lab run with the same
//! settings; one method's failure (a kernel over an injected adapter limit)
//! its row's error, not the table's; progress per method and cancellation;
//! the recommendations judged and linked; the CLI's JSON lines and its
//! usage errors.

mod common;

use common::flt;

use std::cell::Cell;
use std::process::Output;
use std::rc::Rc;

use common::gpu;
use flt_explorer::attention::MethodId;
use flt_explorer::gpu::{GpuContext, GpuRunOptions};
use flt_explorer::pipeline::attention::run as run_attention;
use flt_explorer::pipeline::compare::recommendations::{
    BEYOND_ATTENTION, Evidence, RECOMMENDATIONS, Verdict, judge, lab_route,
};
use flt_explorer::pipeline::compare::{
    CompareProblem, CompareRow, RowStatus, SortKey, compare, sort_rows,
};
use flt_explorer::pipeline::{Backend, Host, Quiet, RunError};
use flt_explorer::settings::compare::CompareSettings;
use serde_json::Value;

/// The keys the issue names for every JSON line.
const CONTRACT: [&str; 8] = [
    "method",
    "complexity_time",
    "complexity_space",
    "causal_supported",
    "flops",
    "bytes",
    "time_ms",
    "rel_err",
];

fn cpu() -> Backend {
    Backend::Cpu { reason: None }
}

fn settings(query: &str) -> CompareSettings {
    let (s, issues) = CompareSettings::from_query(query);
    assert!(issues.is_empty(), "{issues:?}");
    s
}

fn one_repeat() -> GpuRunOptions {
    GpuRunOptions {
        repeats: 1,
        ..Default::default()
    }
}

fn run(problem: &CompareProblem, backend: &Backend) -> Vec<CompareRow> {
    pollster::block_on(compare(problem, backend, &Quiet, |_, _| {})).expect("comparison")
}

/// The attention lab's refusal of `method` in a table that is causal or
/// not (a configuration it cannot run, before any work), or `None`: what
/// makes a row *skipped*. Found on a tiny problem by the same conversion
/// the table uses, so that any registered method is expected right.
fn refusal(method: MethodId, causal: bool) -> Option<String> {
    let mut problem = settings("n=8&d=4").problem(one_repeat(), false);
    problem.causal = causal;
    let attention = problem.attention_problem(method, &cpu());
    match pollster::block_on(run_attention(&attention, &cpu(), &Quiet)) {
        Err(RunError::Method(e)) => Some(e.to_string()),
        _ => None,
    }
}

/// A row is measured, or skipped exactly when the lab refuses its method
/// in this table, with the lab's reason; returns whether it was measured.
fn measured_or_refused(row: &CompareRow, method: MethodId) -> bool {
    match refusal(method, row.causal) {
        Some(why) => {
            assert_eq!(row.status, RowStatus::Skipped, "{}", row.method);
            let error = row.error.as_deref().unwrap_or_default();
            assert!(error.contains(&why), "{}: {error} vs {why}", row.method);
            assert!(row.time_ms.is_none() && row.flops.is_none() && row.rel_err.is_none());
            false
        }
        None => {
            assert_measured(row);
            true
        }
    }
}

/// Every figure of a measured row is present and finite.
fn assert_measured(row: &CompareRow) {
    assert_eq!(
        row.status,
        RowStatus::Measured,
        "{}: {:?}",
        row.method,
        row.error
    );
    for (what, x) in [
        ("time_ms", row.time_ms),
        ("rel_err", row.rel_err),
        ("max_abs_err", row.max_abs_err),
        ("baseline_mean_v_rel_err", row.baseline_mean_v_rel_err),
        ("baseline_zero_rel_err", row.baseline_zero_rel_err),
        ("gflops", row.gflops),
    ] {
        let x = x.unwrap_or_else(|| panic!("{}: no {what}", row.method));
        assert!(x.is_finite() && x >= 0.0, "{}: {what} = {x}", row.method);
    }
    for (what, x) in [
        ("flops", row.flops),
        ("bytes", row.bytes),
        ("flops_algorithmic", row.flops_algorithmic),
        ("bytes_compulsory", row.bytes_compulsory),
    ] {
        assert!(x.is_some_and(|x| x > 0), "{}: {what}", row.method);
    }
    assert!(row.time_ms.unwrap() > 0.0, "{}", row.method);
    assert!(row.beats_mean_v.is_some() && row.reference.is_some() && row.time_source.is_some());
}

#[test]
fn the_rows_cover_the_registry_with_the_surveys_figures_and_finite_measurements() {
    let s = settings("n=96&d=16&seed=2");
    let problem = s.problem(one_repeat(), false);
    let mut seen = Vec::new();
    let rows = pollster::block_on(compare(&problem, &cpu(), &Quiet, |i, row| {
        seen.push((i, row.method.clone()))
    }))
    .unwrap();
    assert_eq!(rows.len(), MethodId::ALL.len());
    // Progressive: one call per method, in registry order.
    let expect: Vec<(usize, String)> = MethodId::ALL
        .iter()
        .enumerate()
        .map(|(i, m)| (i, m.key().to_string()))
        .collect();
    assert_eq!(seen, expect);
    let digest = &rows[0].inputs_digest;
    for (row, m) in rows.iter().zip(MethodId::ALL) {
        let info = m.info();
        assert_eq!(row.method, info.key);
        assert_eq!(
            (row.complexity_time.as_str(), row.complexity_space.as_str()),
            (info.complexity.time, info.complexity.space)
        );
        assert_eq!(row.complexity_source, info.complexity.source);
        assert_eq!(row.best_for, info.best_for);
        assert_eq!(row.causal_supported, info.causal_unsupported.is_none());
        assert_eq!((row.n, row.d, row.seed, row.causal), (96, 16, 2, false));
        assert_eq!(
            &row.inputs_digest, digest,
            "one set of inputs for every row"
        );
        let json = serde_json::to_value(row).unwrap();
        for key in CONTRACT {
            assert!(json.get(key).is_some(), "{}: no {key}", row.method);
        }
        if !measured_or_refused(row, *m) {
            continue;
        }
        assert_eq!(row.backend.as_deref(), Some("cpu"));
        assert!(row.time_source.as_deref().unwrap().starts_with("CPU twin"));
    }
    // Each time against exact attention's, which is 1 for itself.
    let full = rows.iter().find(|r| r.method == "full").unwrap();
    assert_eq!(full.time_vs_full, Some(1.0));
    for row in rows.iter().filter(|r| r.status == RowStatus::Measured) {
        let ratio = row.time_vs_full.expect("same backend, same clock");
        let expect = row.time_ms.unwrap() / full.time_ms.unwrap();
        assert!((ratio - expect).abs() <= 1e-12 * expect, "{}", row.method);
    }
}

#[test]
fn the_cpu_table_is_the_attention_lab_run_with_the_same_settings() {
    let s = settings("n=80&d=12&seed=7&inputs=low-rank");
    let rows = run(&s.problem(one_repeat(), false), &cpu());
    for (row, &m) in rows.iter().zip(MethodId::ALL) {
        if !measured_or_refused(row, m) {
            continue;
        }
        // The explorer's settings for this row (its link), through the lab.
        let problem = s.explorer(m).problem(one_repeat());
        let lab = pollster::block_on(run_attention(&problem, &cpu(), &Quiet)).unwrap();
        let (e, f) = (&lab.envelope, &lab.figures);
        let what = row.method.as_str();
        assert_eq!(row.inputs_digest, f.inputs_digest, "{what}");
        assert_eq!(row.params, f.params, "{what}");
        assert_eq!(row.flops, Some(e.flops), "{what}");
        assert_eq!(row.bytes, Some(e.bytes), "{what}");
        assert_eq!(row.flops_algorithmic, Some(e.flops_algorithmic), "{what}");
        assert_eq!(row.bytes_compulsory, Some(e.bytes_compulsory), "{what}");
        assert_eq!(row.memory_bytes, Some(e.memory_bytes), "{what}");
        // The twin is deterministic: the same errors to the bit.
        assert_eq!(row.rel_err, Some(f.rel_err), "{what}");
        assert_eq!(row.max_abs_err, Some(f.max_abs_err), "{what}");
        assert_eq!(
            row.baseline_mean_v_rel_err,
            Some(f.baseline_mean_v_rel_err),
            "{what}"
        );
        assert_eq!(row.baseline_zero_rel_err, Some(f.baseline_zero_rel_err));
        assert_eq!(row.reference.as_deref(), Some(f.reference.as_str()));
        assert_eq!(
            row.beats_mean_v,
            Some(f.rel_err < f.baseline_mean_v_rel_err)
        );
    }
}

#[test]
fn a_causal_table_skips_what_cannot_be_causal_and_runs_the_rest_causally() {
    let s = settings("n=64&d=8&causal=true");
    let rows = run(&s.problem(one_repeat(), false), &cpu());
    let mut skipped = 0;
    for (row, m) in rows.iter().zip(MethodId::ALL) {
        assert!(row.causal);
        if let Some(why) = m.info().causal_unsupported {
            let error = row.error.as_deref().unwrap_or_default();
            assert!(
                error.contains("cannot be causal") && error.contains(why),
                "{error}"
            );
        }
        match measured_or_refused(row, *m) {
            false => {
                skipped += 1;
                let json = serde_json::to_value(row).unwrap();
                for key in CONTRACT {
                    assert!(json.get(key).is_some(), "{}: no {key}", row.method);
                }
                assert!(json["time_ms"].is_null() && json["rel_err"].is_null());
            }
            true => {
                // Measured against causal exact attention.
                let causal = s.explorer(*m).problem(one_repeat());
                assert!(causal.causal);
                let lab = pollster::block_on(run_attention(&causal, &cpu(), &Quiet)).unwrap();
                assert_eq!(row.rel_err, Some(lab.figures.rel_err), "{}", row.method);
            }
        }
    }
    assert!(
        skipped > 0,
        "the registry has methods that cannot be causal"
    );
}

/// A host that records progress and cancels after `after` checkpoints.
struct Cancelling {
    after: usize,
    asked: Cell<usize>,
    fractions: std::cell::RefCell<Vec<(String, f64)>>,
    /// Progress reported after the cancel: work that should not have run.
    after_cancel: Cell<usize>,
}

impl Host for Cancelling {
    fn progress(&self, stage: &str, fraction: f64) {
        if self.asked.get() > self.after {
            self.after_cancel.set(self.after_cancel.get() + 1);
        }
        self.fractions
            .borrow_mut()
            .push((stage.to_string(), fraction));
    }
    fn cancelled(&self) -> bool {
        self.asked.set(self.asked.get() + 1);
        self.asked.get() > self.after
    }
}

#[test]
fn progress_is_per_method_and_a_cancel_stops_the_table() {
    let problem = settings("n=64&d=8").problem(one_repeat(), false);
    let count = MethodId::ALL.len() as f64;
    // Never cancelled: progress rises from 0 to 1, a method's share each.
    let host = Cancelling {
        after: usize::MAX,
        asked: Cell::new(0),
        fractions: Default::default(),
        after_cancel: Cell::new(0),
    };
    let rows = pollster::block_on(compare(&problem, &cpu(), &host, |_, _| {})).unwrap();
    assert_eq!(rows.len(), MethodId::ALL.len());
    let progress = host.fractions.borrow();
    assert!(
        progress.windows(2).all(|w| w[0].1 <= w[1].1 + 1e-12),
        "{progress:?}"
    );
    assert_eq!(progress.last().map(|p| p.1), Some(1.0));
    for (i, m) in MethodId::ALL.iter().enumerate() {
        let label = m.info().label;
        let own: Vec<f64> = progress
            .iter()
            .filter(|(s, _)| s.starts_with(&format!("{label} (")))
            .map(|p| p.1)
            .collect();
        assert!(!own.is_empty(), "no progress for {label}");
        assert!(
            own.iter()
                .all(|f| *f >= i as f64 / count - 1e-12 && *f <= (i + 1) as f64 / count + 1e-12),
            "{label}: {own:?}"
        );
    }
    let checkpoints = host.asked.get();
    // The table's host sees every method's own checkpoints (CPU chunks),
    // not only the boundaries between methods: a cancel reaches a method
    // while it runs.
    assert!(
        checkpoints > 2 * MethodId::ALL.len(),
        "{checkpoints} checkpoints for {} methods",
        MethodId::ALL.len()
    );
    // Cancelled midway: an error, not a partial table, and no more rows.
    let host = Cancelling {
        after: checkpoints / 2,
        asked: Cell::new(0),
        fractions: Default::default(),
        after_cancel: Cell::new(0),
    };
    let mut delivered = 0;
    let out = pollster::block_on(compare(&problem, &cpu(), &host, |_, _| delivered += 1));
    assert!(matches!(out, Err(RunError::Cancelled)), "{out:?}");
    assert!(
        delivered > 0 && delivered < MethodId::ALL.len(),
        "{delivered}"
    );
    // It stops at the first checkpoint after the cancel, inside the
    // method running then (a CPU chunk), not at the next method.
    assert_eq!(host.asked.get(), checkpoints / 2 + 1);
    assert_eq!(host.after_cancel.get(), 0, "work went on after the cancel");
}

/// An adapter whose storage bindings hold at most `bytes`.
fn small_adapter(bytes: u64) -> Option<GpuContext> {
    gpu()?;
    let adapter = pollster::block_on(GpuContext::adapter()).unwrap();
    let limits = wgpu::Limits {
        max_storage_buffer_binding_size: bytes,
        ..adapter.limits()
    };
    Some(pollster::block_on(GpuContext::with_limits(&adapter, limits)).unwrap())
}

#[test]
fn a_method_over_the_adapters_limits_fails_its_row_not_the_table() {
    if gpu().is_none() {
        return;
    }
    // The GPU asked for by name: a kernel that does not fit fails its row.
    // At n = 128, d = 64 the inputs take 32 KiB each and the methods'
    // buffers 64 KiB to 132 KiB: the first binding limit, from 48 KiB up,
    // under which some methods fit and some do not.
    let s = settings("n=128&d=64&seed=4&backend=gpu");
    let problem = s.problem(one_repeat(), false);
    let mut split = None;
    for kib in [48u64, 80, 112, 128, 160, 192, 256] {
        let backend = Backend::Gpu(Rc::new(small_adapter(kib << 10).unwrap()));
        let rows = run(&problem, &backend);
        assert_eq!(rows.len(), MethodId::ALL.len(), "every row, whatever fails");
        let failed = rows
            .iter()
            .filter(|r| r.status == RowStatus::Failed)
            .count();
        if failed > 0 && failed < rows.len() {
            split = Some((kib, backend, rows));
            break;
        }
    }
    let (kib, backend, rows) = split.expect("a limit that stops some kernels and not others");
    eprintln!("split at {kib} KiB");
    let failed: Vec<&CompareRow> = rows
        .iter()
        .filter(|r| r.status == RowStatus::Failed)
        .collect();
    for row in &rows {
        match row.status {
            RowStatus::Failed => {
                let error = row.error.as_deref().unwrap();
                assert!(
                    error.contains("max_storage_buffer_binding_size"),
                    "{}: {error}",
                    row.method
                );
                assert!(row.time_ms.is_none() && row.rel_err.is_none() && row.flops.is_none());
            }
            _ => {
                if measured_or_refused(row, MethodId::from_key(&row.method).unwrap()) {
                    assert_eq!(row.backend.as_deref(), Some("gpu"), "{}", row.method);
                    assert!(row.gpu_cpu_max_abs_err.unwrap() < 1e-3, "{}", row.method);
                }
            }
        }
    }
    // Not asked for by name: those methods run on the CPU twin instead,
    // say so, and are not timed against a GPU row.
    let problem = settings("n=128&d=64&seed=4").problem(one_repeat(), false);
    let rows = run(&problem, &backend);
    let full = rows.iter().find(|r| r.method == "full").unwrap().clone();
    for row in &rows {
        if !measured_or_refused(row, MethodId::from_key(&row.method).unwrap()) {
            continue;
        }
        if failed.iter().any(|f| f.method == row.method) {
            assert_eq!(row.backend.as_deref(), Some("cpu"), "{}", row.method);
            assert!(
                row.notes
                    .iter()
                    .any(|n| n.contains("running on the CPU twin instead")),
                "{}: {:?}",
                row.method,
                row.notes
            );
            if full.backend.as_deref() == Some("gpu") {
                assert_eq!(row.time_vs_full, None, "{}", row.method);
            }
        } else {
            assert_eq!(row.backend.as_deref(), Some("gpu"), "{}", row.method);
        }
    }
}

#[test]
fn on_the_gpu_every_row_agrees_with_its_twin() {
    let Some(ctx) = gpu() else { return };
    let s = settings("n=96&d=16&seed=3");
    let rows = run(&s.problem(one_repeat(), false), &Backend::Gpu(Rc::new(ctx)));
    for row in &rows {
        if !measured_or_refused(row, MethodId::from_key(&row.method).unwrap()) {
            continue;
        }
        assert_eq!(row.backend.as_deref(), Some("gpu"), "{}", row.method);
        assert!(
            row.time_source
                .as_deref()
                .unwrap()
                .starts_with("GPU kernels")
        );
        assert!(row.gpu_cpu_max_abs_err.unwrap() < 1e-3, "{}", row.method);
    }
}

#[test]
fn sorting_orders_every_column_and_keeps_unmeasured_rows_last() {
    let mut problem = settings("n=48&d=8").problem(one_repeat(), false);
    problem.causal = true;
    let rows = run(&problem, &cpu());
    for key in SortKey::ALL {
        for descending in [false, true] {
            let mut sorted = rows.clone();
            sort_rows(&mut sorted, key, descending);
            let measured = sorted
                .iter()
                .take_while(|r| r.status == RowStatus::Measured)
                .count();
            if key != SortKey::Name && key != SortKey::Complexity {
                assert!(
                    sorted[measured..]
                        .iter()
                        .all(|r| r.status != RowStatus::Measured),
                    "{key:?}: unmeasured rows last"
                );
            }
            let value = |r: &CompareRow| match key {
                SortKey::Time => r.time_ms,
                SortKey::RelErr => r.rel_err,
                SortKey::Flops => r.flops.map(|x| x as f64),
                SortKey::FlopsNeeded => r.flops_algorithmic.map(|x| x as f64),
                SortKey::Bytes => r.bytes.map(|x| x as f64),
                SortKey::BytesNeeded => r.bytes_compulsory.map(|x| x as f64),
                SortKey::Complexity => Some(flt_explorer::pipeline::compare::growth_in_n(
                    &r.complexity_time,
                )),
                SortKey::Name => None,
            };
            let values: Vec<f64> = sorted.iter().filter_map(value).collect();
            let ordered = values.windows(2).all(|w| {
                if descending {
                    w[0] >= w[1]
                } else {
                    w[0] <= w[1]
                }
            });
            assert!(ordered, "{key:?} descending={descending}: {values:?}");
            if key == SortKey::Name {
                let names: Vec<String> = sorted.iter().map(|r| r.label.to_lowercase()).collect();
                let mut expect = names.clone();
                expect.sort();
                if descending {
                    expect.reverse();
                }
                assert_eq!(names, expect);
            }
        }
    }
}

/// A measured row with these figures (for judging recommendations).
fn figures(key: &str, time_ms: f64, rel_err: f64, n: usize) -> CompareRow {
    let method = MethodId::from_key(key).unwrap();
    let mut row = CompareRow::info(method);
    row.n = n;
    row.status = RowStatus::Measured;
    row.backend = Some("gpu".into());
    row.timing = Some(flt_explorer::data::timing::Timing::GpuTimestamp);
    row.time_ms = Some(time_ms);
    row.rel_err = Some(rel_err);
    row.baseline_mean_v_rel_err = Some(0.5);
    row
}

#[test]
fn a_recommendation_is_supported_only_by_a_faster_method_that_beats_the_mean_of_v() {
    let long = RECOMMENDATIONS
        .iter()
        .find(|r| r.scenario == "Long sequences (>512)")
        .expect("the survey's first recommendation");
    assert_eq!(long.approach, "Longformer, BigBird, Performer");
    let evidence = &long.evidence[0];
    let full = figures("full", 10.0, 1e-7, 1024);
    let mut rows = vec![
        full.clone(),
        figures("longformer", 4.0, 0.2, 1024), // faster, better than mean of V
        figures("bigbird", 12.0, 0.2, 1024),   // slower
        figures("performer", 3.0, 0.9, 1024),  // faster, but no better than mean of V
    ];
    for row in rows.iter_mut().skip(1) {
        row.time_vs_full = Some(row.time_ms.unwrap() / 10.0);
    }
    let found = judge(evidence, &rows, 1024, false);
    let verdicts: Vec<(&str, Verdict)> = found.iter().map(|f| (f.method, f.verdict)).collect();
    assert_eq!(
        verdicts,
        vec![
            ("longformer", Verdict::Supports),
            ("bigbird", Verdict::Questions),
            ("performer", Verdict::Questions),
        ]
    );
    assert!(found[0].text.contains("2.50× faster"), "{}", found[0].text);
    assert!(found[1].text.contains("slower"), "{}", found[1].text);
    assert!(
        found[2].text.contains("no better than the mean of V"),
        "{}",
        found[2].text
    );
    // At n = 512 the scenario does not apply: nothing is claimed.
    let at_512 = judge(evidence, &rows, 512, false);
    assert!(at_512.iter().all(|f| f.verdict == Verdict::NotMeasured));
    assert!(
        at_512[0].text
            == "this table is at n = 512; the claim is for n > 512, as the survey's scenario says",
        "{}",
        at_512[0].text
    );
    // A row on another backend is not timed against exact attention.
    rows[1].backend = Some("cpu".into());
    rows[1].time_vs_full = None;
    let mixed = judge(evidence, &rows, 1024, false);
    assert_eq!(mixed[0].verdict, Verdict::NotMeasured);
    assert!(
        mixed[0].text.contains("not comparable"),
        "{}",
        mixed[0].text
    );
}

#[test]
fn every_recommendation_links_to_a_lab_or_method_that_exists_or_says_it_cannot() {
    use flt_explorer::settings::model_size::ModelSizeSettings;
    use flt_explorer::settings::quantization::{QuantSettings, Section};
    assert_eq!(RECOMMENDATIONS.len(), 6, "the survey's table has six rows");
    // The rest of the Summary Table, beyond attention: each row's lab link
    // arrives without an issue.
    for row in BEYOND_ATTENTION {
        assert!(
            lab_route(row.family).is_some(),
            "{}: no lab {}",
            row.method,
            row.family
        );
        let issues = match row.family {
            "quantization" => QuantSettings::from_pairs(Section::Weights.pairs(row.query)).1,
            "model-size" => ModelSizeSettings::from_query(row.query).1,
            other => panic!("a lab without a check here: {other}"),
        };
        assert!(issues.is_empty(), "{}: {issues:?}", row.method);
    }
    for r in RECOMMENDATIONS {
        for e in r.evidence {
            match e {
                Evidence::Lab { family, query, .. } => {
                    assert!(
                        lab_route(family).is_some(),
                        "{}: no lab {family}",
                        r.scenario
                    );
                    // The link's query is valid for its lab: no issue on arrival.
                    let issues: Vec<String> = match *family {
                        "quantization" => {
                            QuantSettings::from_pairs(Section::Weights.pairs(query)).1
                        }
                        "model-size" => ModelSizeSettings::from_query(query).1,
                        other => panic!("a lab without a check here: {other}"),
                    }
                    .iter()
                    .map(|i| i.to_string())
                    .collect();
                    assert!(issues.is_empty(), "{}: {query}: {issues:?}", r.scenario);
                }
                Evidence::Attention { methods, .. } => {
                    for f in judge(e, &[], 4096, true) {
                        // A registered method is linked; another says so.
                        assert_eq!(f.registered, MethodId::from_key(f.method).is_some());
                        if !f.registered {
                            assert!(f.text.contains("not runnable here yet"));
                        }
                    }
                    assert!(!methods.is_empty());
                }
                Evidence::NotRunnable { what, why } => {
                    assert!(!what.is_empty() && !why.is_empty());
                }
            }
        }
    }
}

// The CLI.

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_lines(o: &Output) -> Vec<Value> {
    assert!(o.status.success(), "flt failed: {}", stderr(o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn flt_compare_prints_one_json_object_per_method_per_line() {
    let out = flt(&[
        "compare",
        "--n",
        "64",
        "--d",
        "16",
        "--seed",
        "3",
        "--backend",
        "cpu",
        "--repeats",
        "1",
        "--json",
    ]);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), MethodId::ALL.len());
    let native = run(
        &settings("n=64&d=16&seed=3").problem(one_repeat(), false),
        &cpu(),
    );
    for ((line, m), row) in lines.iter().zip(MethodId::ALL).zip(&native) {
        assert_eq!(line["method"], m.key());
        for key in CONTRACT {
            assert!(line.get(key).is_some(), "{}: no {key}", m.key());
        }
        assert_eq!(line["status"], row.status.key(), "{}", m.key());
        assert_eq!(
            line["causal_supported"],
            m.info().causal_unsupported.is_none()
        );
        if !measured_or_refused(row, *m) {
            assert!(line["time_ms"].is_null() && line["error"].is_string());
            continue;
        }
        for key in ["time_ms", "rel_err", "baseline_mean_v_rel_err"] {
            assert!(
                line[key].as_f64().is_some_and(f64::is_finite),
                "{}: {key}",
                m.key()
            );
        }
        assert_eq!(line["flops"], row.flops.unwrap(), "{}", m.key());
        assert_eq!(line["bytes"], row.bytes.unwrap(), "{}", m.key());
        // JSON's decimal text round-trips to within an ulp.
        let err = line["rel_err"].as_f64().unwrap();
        let expect = row.rel_err.unwrap();
        assert!(
            (err - expect).abs() <= 1e-15 * expect,
            "{}: {err} vs {expect}",
            m.key()
        );
        assert_eq!(line["complexity_time"], m.info().complexity.time);
    }
    // Sorted by time, causal: the skipped rows last, with their reason.
    let out = flt(&[
        "compare",
        "--n",
        "48",
        "--d",
        "8",
        "--causal",
        "--backend",
        "cpu",
        "--repeats",
        "1",
        "--sort",
        "time",
        "--json",
    ]);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), MethodId::ALL.len());
    let times: Vec<f64> = lines.iter().filter_map(|l| l["time_ms"].as_f64()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let skipped = lines.iter().skip_while(|l| l["status"] == "measured");
    for l in skipped {
        assert_eq!(l["status"], "skipped", "{l}");
        assert!(
            l["time_ms"].is_null() && l["error"].as_str().unwrap().contains("cannot be causal")
        );
    }
    // The readable table: a line per method and the legend.
    let out = flt(&[
        "compare",
        "--n",
        "32",
        "--d",
        "8",
        "--backend",
        "cpu",
        "--repeats",
        "1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for m in MethodId::ALL {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{} ", m.key()))),
            "no line for {}: {text}",
            m.key()
        );
    }
    assert!(
        text.contains("time: CPU twin, median of 1 whole pass"),
        "{text}"
    );
}

#[test]
fn flt_compare_refuses_bad_flags_with_status_2() {
    for (args, says) in [
        (vec!["--n", "0"], "--n: n=0 is below the minimum 1"),
        (vec!["--n", "abc"], "--n: n=abc is not a number"),
        (
            vec!["--d", "100000"],
            "--d: d=100000 is above the maximum 256",
        ),
        (
            vec!["--inputs", "npy"],
            "--inputs: inputs=npy is not gaussian",
        ),
        (
            vec!["--backend", "tpu"],
            "--backend: backend=tpu is not auto, gpu or cpu",
        ),
        (vec!["--method", "full"], "unexpected argument '--method'"),
        (vec!["--repeats", "0"], "--repeats"),
        (vec!["--sort", "speed"], "invalid value 'speed'"),
    ] {
        let mut all = vec!["compare"];
        all.extend(&args);
        let out = flt(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?} printed a table");
    }
}

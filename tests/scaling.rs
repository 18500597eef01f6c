//! Scaling (`/scaling`, `flt bench --svg`): the exponents fitted from a CPU
//! sweep of the twins through the real pipeline (exact attention ≥ 1.6;
//! linear and windowed attention ≤ 1.3), with the bounds' power shown on a
//! quadratic fake and on swapped series; the crossover finder on synthetic
//! timings; the chart as SVG; the CLI's `--svg`, its summary and its errors;
//! and a small sweep on the GPU when there is one.

mod common;

use common::flt;

use std::path::PathBuf;
use std::process::Output;
use std::rc::Rc;
use std::sync::OnceLock;

use flt_explorer::attention::MethodId;
use flt_explorer::chart::scaling::{Quantity, draw_scaling, figure_svg};
use flt_explorer::data::LocalFuture;
use flt_explorer::data::timing::{Timing, median};
use flt_explorer::inputs::InputSource;
use flt_explorer::pipeline::attention::AttentionProblem;
use flt_explorer::pipeline::scaling::{
    Crossover, ScalingPoint, ScalingProblem, ScalingReport, crossover, sweep, sweep_with,
};
use flt_explorer::pipeline::{Backend, Host, Quiet, RunError};
use plotters::prelude::{IntoDrawingArea, SVGBackend};
use serde_json::Value;

/// Held by every test that keeps the CPUs busy (the timed sweep, the
/// CLI's benchmarks, the quadratic fake, the GPU sweep): the test harness
/// runs tests on parallel threads, and a timed sweep sharing 2 cores with
/// them measures the contention, not the method.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// The bounds the issue states: exact attention's time grows at least as
/// n^1.6, linear and windowed (Longformer) attention's at most as n^1.3.
const FULL_AT_LEAST: f64 = 1.6;
const LINEAR_AT_MOST: f64 = 1.3;

/// What a report breaks of the bounds (empty: none), and a fit missing.
fn violations(report: &ScalingReport) -> Vec<String> {
    let mut out = Vec::new();
    for (method, check) in [
        ("full", (|e: f64| e >= FULL_AT_LEAST) as fn(f64) -> bool),
        ("linear", |e| e <= LINEAR_AT_MOST),
        ("longformer", |e| e <= LINEAR_AT_MOST),
    ] {
        let Some(s) = report.series_of(method) else {
            out.push(format!("{method}: no series"));
            continue;
        };
        match s.time_fit.exponent {
            None => out.push(format!("{method}: no exponent ({})", s.time_fit.note)),
            Some(e) if !check(e) => out.push(format!(
                "{method}: exponent {e:.3} over n {:?}–{:?}",
                s.time_fit.from_n, s.time_fit.to_n
            )),
            Some(_) => {}
        }
    }
    out
}

/// The CPU sweep every exponent test reads: exact attention, Longformer
/// (window 32, one global token) and linear attention on the twins at
/// d = 16, n = 32 … 4096, five repeats each (fewer where the 1.5 s budget
/// per point needs it; exact attention stops at 512 or 1024). About 15 s
/// in a debug build on 2 cores.
///
/// Spread measured over 8 runs on a 2-core machine shared with two other
/// builds (repeats 3 and 5): full 1.75 – 2.11, linear 1.00 – 1.15,
/// Longformer 1.02 – 1.18 (its window covers whole rows up to n ≈ 64, a
/// quadratic start the fit partly sees). The bounds keep ≥ 0.12 from the
/// worst of them; the quadratic fake measured 1.84 – 2.14 (3.05 once,
/// under contention), the swapped series fail by 0.5 or more.
fn cpu_sweep() -> &'static ScalingReport {
    static REPORT: OnceLock<ScalingReport> = OnceLock::new();
    REPORT.get_or_init(|| {
        let _cpus = heavy();
        let problem = ScalingProblem {
            methods: vec![MethodId::Full, MethodId::Longformer, MethodId::Linear],
            d: 16,
            seed: 1,
            causal: false,
            inputs: InputSource::Gaussian,
            n_min: 32,
            n_max: 4096,
            repeats: 5,
            point_budget_ms: 1500.0,
        };
        pollster::block_on(sweep(
            &problem,
            &Backend::Cpu { reason: None },
            &Quiet,
            |_| {},
        ))
        .expect("CPU sweep")
    })
}

#[test]
fn exponents_fitted_from_a_cpu_sweep() {
    let report = cpu_sweep();
    for s in &report.series {
        eprintln!(
            "{:<11} time exponent {:?} over n {:?}–{:?} ({} points, R² {:?}); memory {:?}; stop {:?}",
            s.method,
            s.time_fit.exponent,
            s.time_fit.from_n,
            s.time_fit.to_n,
            s.time_fit.points,
            s.time_fit.r2,
            s.memory_fit.exponent,
            s.stop.as_ref().map(|x| &x.reason)
        );
        for p in &s.points {
            eprintln!(
                "    n = {:>5}: {:>10.3} ms {:?}",
                p.n, p.time_ms, p.time_ms_samples
            );
        }
    }
    let broken = violations(report);
    assert!(broken.is_empty(), "{broken:?}");
    // Every series was fitted on at least 3 points off the floor, and the
    // twins' memory is linear in n for all three (the full twin keeps one
    // row of scores, not the n×n matrix).
    for s in &report.series {
        assert!(s.time_fit.points >= 3, "{}: {:?}", s.method, s.time_fit);
        let m = s.memory_fit.exponent.expect("memory exponent");
        assert!((0.9..=1.1).contains(&m), "{} memory exponent {m}", s.method);
        assert_eq!(s.points[0].kernel, "cpu-twin");
    }
    // The linear methods reach n ≥ 2048 (4096 unless the machine is very
    // busy); exact attention stops on the budget, and says so.
    let full = report.series_of("full").unwrap();
    let stop = full.stop.as_ref().expect("full stops on the budget");
    assert!(stop.reason.contains("budget"), "{}", stop.reason);
    for m in ["linear", "longformer"] {
        let s = report.series_of(m).unwrap();
        assert!(s.points.last().is_some_and(|p| p.n >= 2048), "{m}");
        // On the CPU both beat the quadratic twin from small n on.
        assert!(
            s.crossover.n.is_some_and(|n| n <= 256),
            "{m}: {:?}",
            s.crossover
        );
    }
}

#[test]
fn the_bounds_reject_swapped_series() {
    // Power: the same measurements with the labels swapped must fail the
    // bounds — exact attention's series as "linear", linear's as "full".
    let mut swapped = cpu_sweep().clone();
    let full = swapped.series_of("full").unwrap().points.clone();
    let linear = swapped.series_of("linear").unwrap().points.clone();
    let problem = ScalingProblem {
        methods: vec![MethodId::Full, MethodId::Longformer, MethodId::Linear],
        d: 16,
        seed: 1,
        causal: false,
        inputs: InputSource::Gaussian,
        n_min: 32,
        n_max: 4096,
        repeats: 3,
        point_budget_ms: 1500.0,
    };
    for s in &mut swapped.series {
        match s.method.as_str() {
            "full" => s.points = linear.clone(),
            "linear" => s.points = full.clone(),
            _ => {}
        }
    }
    let report = ScalingReport::summarise(
        &problem,
        ("cpu", "CPU twin, f32", "ndarray"),
        swapped.series,
        true,
    );
    let broken = violations(&report);
    assert!(
        broken.iter().any(|b| b.starts_with("full:"))
            && broken.iter().any(|b| b.starts_with("linear:")),
        "{broken:?}"
    );
}

/// A fake "linear" method that is really quadratic: it times a naive
/// double loop over n × n dot products of width 16 (the real work of exact
/// attention's scores), three repeats, median.
fn quadratic_fake<'a>(
    p: &'a AttentionProblem,
    _: &'a Backend,
    _: &'a dyn Host,
) -> LocalFuture<'a, Result<ScalingPoint, RunError>> {
    Box::pin(async move {
        let (n, q) = (p.inputs.n(), &p.inputs.q);
        let mut samples = Vec::new();
        let mut sink = 0f32;
        for _ in 0..3 {
            let t0 = std::time::Instant::now();
            for i in 0..n {
                for j in 0..n {
                    sink += q.row(i).dot(&q.row(j));
                }
            }
            samples.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        assert!(sink.is_finite());
        Ok(ScalingPoint {
            method: p.method.key().into(),
            n,
            d: p.inputs.d(),
            time_ms: median(&samples),
            time_ms_samples: samples,
            timing: Timing::WallClock,
            memory_bytes: (4 * n * 16) as u64,
            memory_formula: String::new(),
            flops: 0,
            flops_algorithmic: 0,
            backend: "cpu".into(),
            kernel: "cpu-twin".into(),
            rel_err: 0.0,
        })
    })
}

#[test]
fn a_quadratic_fake_fails_the_linear_bound() {
    let _cpus = heavy();
    // Power: a method that is secretly O(n²) — every label and every step
    // of the pipeline the same, only the work quadratic — is caught.
    let problem = ScalingProblem {
        methods: vec![MethodId::Linear],
        d: 16,
        seed: 1,
        causal: false,
        inputs: InputSource::Gaussian,
        n_min: 64,
        n_max: 1024,
        repeats: 3,
        point_budget_ms: 1500.0,
    };
    let report = pollster::block_on(sweep_with(
        &problem,
        &Backend::Cpu { reason: None },
        &Quiet,
        &quadratic_fake,
        |_| {},
    ))
    .unwrap();
    let e = report
        .series_of("linear")
        .and_then(|s| s.time_fit.exponent)
        .expect("an exponent");
    eprintln!("the quadratic fake's exponent: {e:.3}");
    assert!(
        e > LINEAR_AT_MOST,
        "a quadratic method passed as linear: {e}"
    );
    assert!(violations(&report).iter().any(|v| v.starts_with("linear:")));
}

/// (n, time) pairs.
fn series(points: &[(usize, f64)]) -> Vec<(usize, f64)> {
    points.to_vec()
}

#[test]
fn the_crossover_finder_on_synthetic_timings() {
    let ns: Vec<usize> = (5..=10).map(|p| 1usize << p).collect(); // 32 … 1024
    let reference: Vec<(usize, f64)> = ns.iter().map(|&n| (n, (n * n) as f64)).collect();
    let law = |f: &dyn Fn(f64) -> f64| -> Vec<(usize, f64)> {
        ns.iter().map(|&n| (n, f(n as f64))).collect()
    };
    let at = |n: Option<usize>, up: Option<usize>| Crossover {
        n,
        compared_up_to: up,
    };
    // Crossing: 100·n < n² from n > 100, so from 128 on.
    assert_eq!(
        crossover(&reference, &law(&|n| 100.0 * n)),
        at(Some(128), Some(1024))
    );
    // Faster everywhere: the smallest n.
    assert_eq!(
        crossover(&reference, &law(&|n| n)),
        at(Some(32), Some(1024))
    );
    // Never crossing.
    assert_eq!(
        crossover(&reference, &law(&|n| 2.0 * n * n)),
        at(None, Some(1024))
    );
    // Crossing, then crossing back: faster at 64, slower at 128, faster
    // from 256 on — the crossover is 256, not 64.
    let wobbly = series(&[
        (32, 2000.0),
        (64, 4000.0),
        (128, 20000.0),
        (256, 60000.0),
        (512, 200000.0),
        (1024, 900000.0),
    ]);
    assert_eq!(crossover(&reference, &wobbly), at(Some(256), Some(1024)));
    // Faster at small n only: it loses at the largest, so none.
    let loses_late = law(&|n| if n < 500.0 { 1.0 } else { 1e9 });
    assert_eq!(crossover(&reference, &loses_late), at(None, Some(1024)));
    // Ties are not faster: equal at 512, faster at 1024 → 1024; equal
    // everywhere → none.
    let mut tie = law(&|n| n * n);
    tie[5].1 = 1.0;
    assert_eq!(crossover(&reference, &tie), at(Some(1024), Some(1024)));
    assert_eq!(crossover(&reference, &reference), at(None, Some(1024)));
    // Missing points: only the n both measured count. The method lacks
    // 256 (and has an n the reference lacks), the reference stopped at 512
    // (too large for the adapter): compared up to 512.
    let reference_stopped: Vec<(usize, f64)> =
        reference.iter().copied().filter(|p| p.0 <= 512).collect();
    let gappy = series(&[
        (32, 1e6),
        (64, 1e6),
        (128, 1.0),
        (512, 1.0),
        (1024, 1.0),
        (2048, 1.0),
    ]);
    assert_eq!(
        crossover(&reference_stopped, &gappy),
        at(Some(128), Some(512))
    );
    // A non-finite time is a missing point; the order of the input does not
    // matter.
    let mut shuffled = law(&|n| 100.0 * n);
    shuffled[3].1 = f64::NAN; // n = 256
    shuffled.reverse();
    assert_eq!(crossover(&reference, &shuffled), at(Some(128), Some(1024)));
    // Nothing in common, or nothing at all.
    assert_eq!(crossover(&reference, &[(3, 1.0)]), at(None, None));
    assert_eq!(crossover(&[], &[]), at(None, None));
}

/// A deterministic point: exact attention n²·10⁻⁵ ms, the others n·10⁻³ ms,
/// over a 0.05 ms floor.
fn synthetic<'a>(
    p: &'a AttentionProblem,
    _: &'a Backend,
    _: &'a dyn Host,
) -> LocalFuture<'a, Result<ScalingPoint, RunError>> {
    let (m, n) = (p.method, p.inputs.n());
    Box::pin(async move {
        let t = if m == MethodId::Full {
            0.05 + 1e-5 * (n * n) as f64
        } else {
            0.05 + 1e-3 * n as f64
        };
        Ok(ScalingPoint {
            method: m.key().into(),
            n,
            d: 8,
            time_ms: t,
            time_ms_samples: vec![t],
            timing: Timing::GpuTimestamp,
            memory_bytes: (64 * n) as u64,
            memory_formula: String::new(),
            flops: 0,
            flops_algorithmic: 0,
            backend: "gpu".into(),
            kernel: "tiled".into(),
            rel_err: 0.0,
        })
    })
}

fn synthetic_report() -> ScalingReport {
    let problem = ScalingProblem {
        methods: vec![MethodId::Full, MethodId::Linear, MethodId::SparseStrided],
        d: 8,
        seed: 1,
        causal: false,
        inputs: InputSource::Gaussian,
        n_min: 64,
        n_max: 2048,
        repeats: 1,
        point_budget_ms: f64::INFINITY,
    };
    pollster::block_on(sweep_with(
        &problem,
        &Backend::Cpu { reason: None },
        &Quiet,
        &synthetic,
        |_| {},
    ))
    .unwrap()
}

#[test]
fn the_chart_as_svg() {
    let report = synthetic_report();
    let svg = figure_svg(&report).expect("svg");
    // One well-formed document (the two panels are not closed twice).
    assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
    assert_eq!(svg.matches("<svg").count(), 1);
    assert_eq!(svg.matches("</svg>").count(), 1);
    assert!(svg.trim_end().ends_with("</svg>"));
    for text in [
        "Time (warm median) vs n",
        "Memory (allocated) vs n",
        "sequence length n",
        // The floor of 0.05 ms bends the fits of the tails a little.
        "full: fitted 1.91, theory 2 (reference)",
        "linear: fitted 0.89, theory 1, faster from n = 128",
        "sparse-strided: fitted 0.89, theory 1.5*, faster from n = 128",
        "linear: fitted 1.00, theory 1",
        "full: fitted 1.00, theory 2",
        "1024",
        " ms",
        "KiB",
    ] {
        assert!(svg.contains(text), "{text} missing from the SVG");
    }
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
    // Every point on both panels (3 methods × 6 n; the reference's drawn
    // twice to stay on top), and the crossover rings.
    assert!(svg.matches("<circle").count() >= 2 * (3 * 6 + 6) + 2);
    // The page's single charts and an empty report draw too.
    let mut one = String::new();
    {
        let root = SVGBackend::with_string(&mut one, (640, 420)).into_drawing_area();
        draw_scaling(&root, &report, Quantity::Memory).unwrap();
    }
    assert!(one.contains("Memory (allocated) vs n") && !one.contains("Time (warm"));
    let empty = ScalingReport::summarise(
        &ScalingProblem {
            methods: vec![],
            ..synthetic_problem()
        },
        ("gpu", "Test adapter", "Vulkan"),
        vec![],
        false,
    );
    let svg = figure_svg(&empty).expect("empty svg");
    assert!(svg.contains("GPU: Test adapter") && svg.matches("</svg>").count() == 1);
}

fn synthetic_problem() -> ScalingProblem {
    ScalingProblem {
        methods: vec![MethodId::Linear],
        d: 8,
        seed: 1,
        causal: false,
        inputs: InputSource::Gaussian,
        n_min: 64,
        n_max: 2048,
        repeats: 1,
        point_budget_ms: f64::INFINITY,
    }
}

#[test]
fn the_report_exports_csv_and_json() {
    let report = synthetic_report();
    let csv = report.csv();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "method,n,d,causal,backend,kernel,timing,time_ms,time_ms_samples,memory_bytes,flops,flops_algorithmic,rel_err"
        )
    );
    assert_eq!(lines.count(), 3 * 6);
    let json: Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["family"], "scaling");
    assert_eq!(json["reference"], "full");
    assert_eq!(
        json["crossovers"],
        serde_json::json!({"full": null, "sparse-strided": 128, "linear": 128})
    );
    let series = json["series"].as_array().unwrap();
    assert_eq!(series[0]["method"], "full");
    assert_eq!(series[1]["theory_time"]["exponent"], 1.5);
    assert!(series[1]["theory_time"]["sqrt_knob"].as_bool().unwrap());
    assert_eq!(series[2]["points"].as_array().unwrap().len(), 6);
}

// ---- the CLI ----

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("scaling-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const BENCH: [&str; 11] = [
    "bench",
    "--methods",
    "full,linear,longformer",
    "--n",
    "32,64,128,256",
    "--d",
    "8",
    "--backend",
    "cpu",
    "--repeats",
    "2",
];

#[test]
fn bench_writes_the_scaling_chart_and_prints_exponents_and_crossovers() {
    let _cpus = heavy();
    let dir = scratch("svg");
    let path = dir.join("scaling.svg");
    let mut args = BENCH.to_vec();
    let p = path.display().to_string();
    args.extend(["--svg", &p]);
    let o = flt(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        out.lines().filter(|l| l.contains(" ms ")).count(),
        12,
        "{out}"
    );
    assert!(out.contains("scaling at d = 8 on cpu"), "{out}");
    for line in ["full ", "linear ", "longformer "] {
        let row = out
            .lines()
            .find(|l| l.starts_with(line) && l.contains("O(n"))
            .unwrap_or_else(|| panic!("no summary row for {line}:\n{out}"));
        assert!(
            row.contains("the reference")
                || row.contains("from n = ")
                || row.contains("not up to n = 256"),
            "{row}"
        );
    }
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg") && svg.matches("</svg>").count() == 1);
    assert!(
        svg.contains("Time (warm median) vs n — CPU twins, d = 8"),
        "caption"
    );
    assert!(svg.contains("linear: fitted") && svg.contains("full: fitted"));

    // Several widths: one summary each (runs go method by method, so the
    // widths interleave).
    let o = flt(&[
        "bench",
        "--methods",
        "full,linear",
        "--n",
        "32,64,128",
        "--d",
        "8,16",
        "--backend",
        "cpu",
        "--repeats",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.matches("scaling at d = 8 on cpu").count(), 1, "{out}");
    assert_eq!(out.matches("scaling at d = 16 on cpu").count(), 1, "{out}");

    // With --json: one Measurement per line, nothing else, keys as before.
    let mut args = BENCH.to_vec();
    args.extend(["--json", "--svg", &p]);
    let o = flt(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(lines.len(), 12);
    for m in &lines {
        for key in [
            "method",
            "n",
            "d",
            "time_ms",
            "time_ms_samples",
            "memory_bytes",
            "flops",
            "rel_err",
        ] {
            assert!(m.get(key).is_some(), "{key} missing: {m}");
        }
    }
}

#[test]
fn bench_takes_every_registered_method() {
    let _cpus = heavy();
    let keys = MethodId::keys().join(",");
    let o = flt(&[
        "bench",
        "--methods",
        &keys,
        "--n",
        "32",
        "--d",
        "8",
        "--backend",
        "cpu",
        "--repeats",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let methods: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["method"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(methods, MethodId::keys());
}

#[test]
fn bench_svg_errors() {
    let _cpus = heavy();
    let refused = |args: &[&str], status: i32, needle: &str| {
        let o = flt(args);
        assert_eq!(o.status.code(), Some(status), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(needle), "{args:?}: expected '{needle}' in: {e}");
        assert!(!e.contains("panicked"), "{e}");
        assert!(
            o.stdout.is_empty() || status == 1,
            "{args:?} printed before refusing"
        );
    };
    let dir = scratch("errors");
    let missing = dir.join("no-such-folder").join("scaling.svg");
    let base = [
        "bench",
        "--methods",
        "full,linear",
        "--n",
        "32,64",
        "--d",
        "8",
        "--backend",
        "cpu",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let run = |args: Vec<String>, status: i32, needle: &str| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&refs, status, needle);
    };
    // Bad paths are refused before any work: exit 2.
    run(
        with(&["--svg", &missing.display().to_string()]),
        2,
        "there is no folder",
    );
    run(
        with(&["--svg", &dir.display().to_string()]),
        2,
        "is a folder",
    );
    // One chart, one d.
    let mut args = with(&["--svg", &dir.join("x.svg").display().to_string()]);
    let d = args.iter().position(|a| a == "8").unwrap();
    args[d] = "8,16".into();
    run(args, 2, "give one --d");
    // Bad flags: exit 2 with clap's or the parser's message.
    run(with(&["--svg"]), 2, "--svg");
    refused(
        &[
            "bench",
            "--methods",
            "full,bogus",
            "--n",
            "32",
            "--svg",
            "x.svg",
        ],
        2,
        "bogus is not a known method",
    );
    // A file that cannot be written after the runs: exit 1.
    if std::path::Path::new("/proc").is_dir() {
        run(
            with(&["--svg", "/proc/flt-scaling.svg"]),
            1,
            "cannot write /proc/flt-scaling.svg",
        );
    }
}

// ---- the GPU ----

#[test]
fn a_small_sweep_on_the_gpu() {
    let _cpus = heavy();
    let Some(ctx) = common::gpu() else { return };
    let backend = Backend::Gpu(Rc::new(ctx));
    let problem = ScalingProblem {
        methods: vec![MethodId::Longformer, MethodId::Linear],
        d: 16,
        seed: 1,
        causal: true,
        inputs: InputSource::Gaussian,
        n_min: 64,
        n_max: 256,
        repeats: 2,
        point_budget_ms: f64::INFINITY,
    };
    let mut updates = 0;
    let report = pollster::block_on(sweep(&problem, &backend, &Quiet, |_| updates += 1)).unwrap();
    assert_eq!(updates, 9);
    assert_eq!(report.backend, "gpu");
    for s in &report.series {
        assert_eq!(s.points.len(), 3, "{}", s.method);
        for p in &s.points {
            assert_ne!(p.kernel, "cpu-twin", "{}", s.method);
            assert!(p.time_ms > 0.0 && p.time_ms.is_finite());
            assert_eq!(p.time_ms_samples.len(), 2);
            assert!(
                p.memory_bytes >= (4 * 4 * p.n * 16) as u64,
                "Q, K, V and O at least"
            );
            assert!(p.rel_err < 1.5);
        }
        eprintln!(
            "{}: {:?} ms, memory {:?}",
            s.method,
            s.points.iter().map(|p| p.time_ms).collect::<Vec<_>>(),
            s.points.iter().map(|p| p.memory_bytes).collect::<Vec<_>>()
        );
    }
    assert!(report.time_counts.starts_with("GPU kernel"));
}

//! The `flt` binary end to end: JSON output, user `.npy` inputs and outputs,
//! benchmarks, the SVG heatmap, and every bad-input path (exit status 2 and a
//! clear message, never a panic).

mod common;

use common::flt;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flt_explorer::attention::full::twin_all_rows;
use flt_explorer::inputs::{Inputs, load_npy, write_npy};
use ndarray::{Array1, Array2, Array3};
use ndarray_npy::WriteNpyExt;
use serde_json::Value;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "flt failed: {}", stderr(o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

/// rel_err of the method's CPU twin against the exact model it
/// approximates, computed here through the library from the same settings
/// (every row): what the CLI must report for a CPU run up to rounding.
fn library_rel_err(query: &str) -> f64 {
    use flt_explorer::attention::Config;
    use flt_explorer::attention::full::ExactReference;
    let (s, issues) = flt_explorer::settings::Settings::from_query(query);
    assert!(issues.is_empty(), "{issues:?}");
    let x = Inputs::generate(s.inputs, s.n, s.d, s.seed, s.qk_scale);
    let method = s.method.method();
    let config = Config {
        causal: s.causal,
        seed: s.seed,
        params: &s.params,
    };
    let twin = method.cpu_twin(&x, &config).unwrap();
    let mut out = Array2::zeros((s.n, x.dv()));
    twin.compute_rows(0..s.n, out.view_mut(), None);
    let rows: Vec<usize> = (0..s.n).collect();
    let exact =
        ExactReference::for_model(&x, s.causal, method.reference_model(&config)).rows(&rows);
    flt_explorer::data::stats::errors(out.view(), exact.view()).rel_err
}

/// A fresh scratch folder under target/.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn save<A: ndarray_npy::WritableElement, D: ndarray::Dimension>(
    dir: &Path,
    name: &str,
    a: &ndarray::Array<A, D>,
) -> String {
    let path = dir.join(name);
    a.write_npy(std::fs::File::create(&path).unwrap()).unwrap();
    path.display().to_string()
}

#[path = "common/npy_raw.rs"]
mod npy_raw;
use npy_raw::raw_npy;

/// Runs flt and expects exit status 2 with `needle` in its message.
fn refused(args: &[&str], needle: &str) {
    let o = flt(args);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{args:?} should exit 2; stderr: {err}"
    );
    assert!(err.contains(needle), "{args:?}: «{needle}» not in «{err}»");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
}

#[test]
fn run_prints_one_measurement_as_json() {
    let m = json(&flt(&[
        "run",
        "--method",
        "full",
        "--n",
        "96",
        "--d",
        "8",
        "--seed",
        "4",
        "--causal",
        "--backend",
        "cpu",
        "--repeats",
        "2",
        "--json",
    ]));
    for key in [
        "method",
        "n",
        "d",
        "backend",
        "adapter",
        "flops",
        "bytes",
        "time_ms",
        "rel_err",
        "max_abs_err",
    ] {
        assert!(m.get(key).is_some(), "missing {key} in {m}");
    }
    assert_eq!(
        (m["method"].as_str(), m["n"].as_u64(), m["d"].as_u64()),
        (Some("full"), Some(96), Some(8))
    );
    assert_eq!(m["backend"], "cpu");
    assert_eq!(m["causal"], true);
    assert_eq!(m["time_ms_samples"].as_array().map(Vec::len), Some(2));
    assert!(m["rel_err"].as_f64().unwrap() < 1e-6);
    // The same seed gives the same inputs as the library (and the page).
    assert_eq!(
        m["inputs_digest"].as_str().unwrap(),
        Inputs::seeded(96, 8, 4).digest()
    );
    // 96·97/2 pairs, d = dv = 8: what exact attention needs, and what the
    // CPU twin executes (it also takes the row max: 5 per pair, not 4).
    assert_eq!(
        m["flops_algorithmic"].as_u64(),
        Some(4656 * (16 + 16 + 4) + 96 * 8)
    );
    assert_eq!(m["flops"].as_u64(), Some(4656 * (16 + 16 + 5) + 96 * 8));
    assert_eq!(
        m["bytes_compulsory"].as_u64(),
        Some(4 * (2 * 96 * 8 + 2 * 96 * 8))
    );
    assert!((m["baseline_zero_rel_err"].as_f64().unwrap() - 1.0).abs() < 1e-12);
    assert!(m["baseline_mean_v_rel_err"].as_f64().unwrap() > 0.0);
    assert!(
        m["reference"]
            .as_str()
            .unwrap()
            .starts_with("exact softmax")
    );
}

#[test]
fn run_prints_a_readable_table() {
    let o = flt(&["run", "--n", "32", "--d", "4", "--backend", "cpu"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "Full softmax",
        "rel_err",
        "GFLOP/s",
        "pairs·(2d + 2dᵥ + 4)",
        "CPU twin: pairs·(2d + 2dᵥ + 5)",
        "baselines",
    ] {
        assert!(text.contains(needle), "«{needle}» not in:\n{text}");
    }
}

#[test]
fn run_on_the_gpu_when_there_is_one() {
    if common::gpu().is_none() {
        return;
    }
    let m = json(&flt(&[
        "run",
        "--n",
        "77",
        "--d",
        "12",
        "--backend",
        "gpu",
        "--json",
    ]));
    assert_eq!(m["backend"], "gpu");
    assert_eq!(m["kernel"], "fused");
    assert!(m["rel_err"].as_f64().unwrap() < 1e-4, "{m}");
    assert!(m["gpu_cpu_max_abs_err"].as_f64().unwrap() < 1e-5, "{m}");
}

#[test]
fn npy_inputs_in_and_output_out() {
    let dir = scratch("npy");
    let x = Inputs::seeded(40, 6, 8);
    let v = Array2::from_shape_fn((40, 3), |(i, j)| (i as f64 * 0.1 - j as f64).sin()); // float64, own width
    let out = dir.join("o.npy");
    let m = json(&flt(&[
        "run",
        "--q",
        &save(&dir, "q.npy", &x.q),
        "--k",
        &save(&dir, "k.npy", &x.k),
        "--v",
        &save(&dir, "v.npy", &v),
        "--out",
        &out.display().to_string(),
        "--backend",
        "cpu",
        "--causal",
        "--json",
    ]));
    assert_eq!(
        (m["n"].as_u64(), m["d"].as_u64(), m["dv"].as_u64()),
        (Some(40), Some(6), Some(3))
    );
    assert_eq!(m["inputs"], "npy");
    let o = load_npy(&out).unwrap();
    let expect = twin_all_rows(x.q.view(), x.k.view(), v.mapv(|a| a as f32).view(), true);
    common::assert_close("o.npy", &o, &expect, 1e-6, 1e-6);
    // A consistent --n is accepted; write_npy round-trips.
    write_npy(&dir.join("again.npy"), &o).unwrap();
    assert_eq!(load_npy(&dir.join("again.npy")).unwrap(), o);
    // The same Q stored big-endian ('>f4', as a big-endian machine's numpy
    // writes it): the same output, bit for bit.
    let big_endian = dir.join("q_be.npy");
    let be: Vec<u8> = x.q.iter().flat_map(|v| v.to_be_bytes()).collect();
    std::fs::write(&big_endian, raw_npy(">f4", "(40, 6)", &be)).unwrap();
    let out_be = dir.join("o_be.npy");
    json(&flt(&[
        "run",
        "--q",
        &big_endian.display().to_string(),
        "--k",
        &dir.join("k.npy").display().to_string(),
        "--v",
        &dir.join("v.npy").display().to_string(),
        "--out",
        &out_be.display().to_string(),
        "--backend",
        "cpu",
        "--causal",
        "--json",
    ]));
    assert_eq!(load_npy(&out_be).unwrap(), o);
}

#[test]
fn bad_files_exit_2_with_a_message() {
    let dir = scratch("bad");
    let x = Inputs::seeded(10, 4, 1);
    let q = save(&dir, "q.npy", &x.q);
    let k = save(&dir, "k.npy", &x.k);
    let v = save(&dir, "v.npy", &x.v);
    let run = |q: &str, k: &str, v: &str, needle: &str| {
        refused(
            &["run", "--q", q, "--k", k, "--v", v, "--backend", "cpu"],
            needle,
        )
    };

    let rank1 = save(&dir, "rank1.npy", &Array1::<f32>::zeros(10));
    run(&rank1, &k, &v, "expected a 2-D array");
    let rank3 = save(&dir, "rank3.npy", &Array3::<f32>::zeros((2, 5, 4)));
    run(&q, &rank3, &v, "expected a 2-D array");
    let other_width = save(&dir, "k3.npy", &Array2::<f32>::zeros((10, 3)));
    run(
        &q,
        &other_width,
        &v,
        "k has shape [10, 3] but q has [10, 4]",
    );
    let short_v = save(&dir, "v9.npy", &Array2::<f32>::zeros((9, 4)));
    run(&q, &k, &short_v, "v has shape [9, 4]");
    let mut nan = x.q.clone();
    nan[[3, 2]] = f32::NAN;
    let nan = save(&dir, "nan.npy", &nan);
    run(&nan, &k, &v, "element [3, 2] is NaN");
    let ints = save(&dir, "ints.npy", &Array2::<i32>::zeros((10, 4)));
    run(&ints, &k, &v, "dtype");

    let bytes = std::fs::read(&q).unwrap();
    let truncated = dir.join("truncated.npy");
    std::fs::write(&truncated, &bytes[..bytes.len() - 7]).unwrap();
    run(&truncated.display().to_string(), &k, &v, "truncated");
    // A header that claims 10⁶ rows over the same 160 bytes of data.
    let lying = dir.join("lying.npy");
    std::fs::write(
        &lying,
        raw_npy("<f4", "(1000000, 4)", &bytes[bytes.len() - 160..]),
    )
    .unwrap();
    run(&lying.display().to_string(), &k, &v, "truncated");
    let half_ints = dir.join("i2.npy");
    std::fs::write(
        &half_ints,
        raw_npy("<i2", "(10, 4)", &bytes[bytes.len() - 80..]),
    )
    .unwrap();
    run(
        &half_ints.display().to_string(),
        &k,
        &v,
        "dtype '<i2' is not supported",
    );
    std::fs::write(dir.join("junk.npy"), b"hello, not numpy").unwrap();
    run(
        &dir.join("junk.npy").display().to_string(),
        &k,
        &v,
        "not a valid .npy file",
    );
    run(
        &dir.join("missing.npy").display().to_string(),
        &k,
        &v,
        "cannot read",
    );

    refused(
        &["run", "--q", &q, "--backend", "cpu"],
        "--q, --k and --v must be given together",
    );
    refused(
        &["run", "--q", &q, "--k", &k, "--v", &v, "--n", "12"],
        "--n 12 disagrees with the input files (n = 10)",
    );
}

#[test]
fn bad_flags_exit_2_with_a_message() {
    refused(&["run", "--n", "0"], "n=0 is below the minimum 1");
    refused(
        &["run", "--d", "100000"],
        "d=100000 is above the maximum 256",
    );
    refused(&["run", "--n", "abc"], "n=abc is not a number");
    refused(
        &["run", "--method", "nope"],
        "method=nope is not a known method (known: full, longformer",
    );
    refused(
        &["run", "--backend", "tpu"],
        "backend=tpu is not auto, gpu or cpu",
    );
    refused(&["run", "--repeats", "0"], "--repeats");
    refused(&["bench", "--n", "16,oops"], "n=oops is not a number");
    refused(&["frobnicate"], "frobnicate");
}

#[test]
fn bench_prints_one_measurement_per_line() {
    let o = flt(&[
        "bench",
        "--methods",
        "full",
        "--n",
        "16,48",
        "--d",
        "8",
        "--backend",
        "cpu",
        "--repeats",
        "2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines
            .iter()
            .map(|m| m["n"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![16, 48]
    );
    for m in &lines {
        assert!(m["method"] == "full" && m["backend"] == "cpu");
        assert_eq!(m["time_ms_samples"].as_array().map(Vec::len), Some(2));
        // Exact attention is exact, and the counts are the CPU twin's for
        // n² pairs at d = 8.
        let n = m["n"].as_u64().unwrap();
        assert!(m["rel_err"].as_f64().unwrap() < 1e-6, "{m}");
        assert_eq!(m["flops"].as_u64(), Some(n * n * (16 + 16 + 5) + n * 8));
        assert_eq!(m["flops_algorithmic"].as_u64(), Some(n * n * 36 + n * 8));
    }
}

#[test]
fn progress_prints_each_stage_on_stderr_and_leaves_stdout_alone() {
    let args: Vec<&str> =
        "bench --methods full,linear --n 16,32 --d 8 --heads 2 --backend cpu --repeats 1 --json"
            .split(' ')
            .collect();
    let quiet = flt(&args);
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert!(!stderr(&quiet).contains("the inputs"), "{}", stderr(&quiet));
    let loud = flt(&[&args[..], &["--progress"]].concat());
    assert!(loud.status.success(), "{}", stderr(&loud));
    // The same report on stdout (one JSON line per run)…
    let runs = |o: &Output| -> Vec<(String, u64)> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|m| {
                (
                    m["method"].as_str().unwrap().to_owned(),
                    m["n"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(runs(&loud), runs(&quiet));
    assert_eq!(runs(&loud).len(), 4);
    // …and on stderr every run's stages in order, each with the seconds
    // since the start, never decreasing.
    let err = stderr(&loud);
    let mut last = 0.0f64;
    for run in [
        "full n = 16",
        "full n = 32",
        "linear n = 16",
        "linear n = 32",
    ] {
        let name = format!("{run} d = 8, 1 × 2 heads");
        for stage in [
            "the inputs",
            "counting the pattern",
            "exact f64 reference on the checked rows",
            "done",
        ] {
            let line = err
                .lines()
                .find(|l| l.ends_with(&format!("] {name}: {stage}")))
                .unwrap_or_else(|| panic!("no `{name}: {stage}` in\n{err}"));
            let secs: f64 = line
                .strip_prefix("flt: [")
                .and_then(|l| l.split(" s]").next())
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or_else(|| panic!("no seconds in {line}"));
            assert!(secs >= last, "{line} after {last} s");
            last = secs;
        }
    }
    // flt run takes it too.
    let run = flt(&[
        "run",
        "--method",
        "full",
        "--n",
        "16",
        "--d",
        "8",
        "--backend",
        "cpu",
        "--json",
        "--progress",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("full n = 16 d = 8: done"),
        "{}",
        stderr(&run)
    );
    json(&run);
}

#[test]
fn svg_heatmap_is_written() {
    let dir = scratch("svg");
    let path = dir.join("map.svg");
    let o = flt(&[
        "run",
        "--n",
        "24",
        "--d",
        "4",
        "--causal",
        "--backend",
        "cpu",
        "--svg",
        &path.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(
        svg.starts_with("<svg")
            && svg.contains("key position j")
            && svg.contains("Full softmax — n = 24")
    );
    assert!(svg.matches("<rect").count() >= 24 * 24, "cells missing");
}

#[test]
fn methods_lists_the_registry() {
    let o = flt(&["methods"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for key in [
        "full",
        "longformer",
        "sparse-strided",
        "sparse-fixed",
        "bigbird",
        "reformer",
        "--shared-qk",
    ] {
        assert!(text.contains(key), "{key} missing from:\n{text}");
    }
}

#[test]
fn sparse_methods_take_their_knobs_from_flags() {
    let m = json(&flt(&[
        "run",
        "--method",
        "longformer",
        "--window",
        "8",
        "--global",
        "1",
        "--n",
        "64",
        "--d",
        "8",
        "--backend",
        "cpu",
        "--json",
    ]));
    assert_eq!(m["params"]["window"], 8);
    assert_eq!(m["params"]["global"], 1);
    let pairs = m["pattern_pairs"].as_u64().unwrap();
    assert!(pairs < 64 * 64 && pairs > 64 * 8, "{pairs}");
    let mass = m["mass_in_pattern"].as_f64().unwrap();
    assert!(mass > 0.0 && mass < 1.0, "{mass}");
    let r = json(&flt(&[
        "run",
        "--method",
        "reformer",
        "--shared-qk",
        "--buckets",
        "4",
        "--rounds",
        "2",
        "--chunk",
        "8",
        "--n",
        "64",
        "--d",
        "8",
        "--causal",
        "--backend",
        "cpu",
        "--json",
    ]));
    assert_eq!(r["params"]["shared-qk"], 1);
    assert_eq!(r["params"]["buckets"], 4);
    refused(
        &["run", "--method", "full", "--window", "5"],
        "window does not apply to full",
    );
    refused(
        &[
            "run",
            "--method",
            "sparse-fixed",
            "--stride",
            "4",
            "--summary",
            "9",
        ],
        "summary=9 exceeds stride=4",
    );
    refused(
        &["run", "--method", "reformer", "--buckets", "5"],
        "buckets=5 is odd",
    );
    let o = flt(&[
        "bench",
        "--methods",
        "longformer,bigbird",
        "--n",
        "64",
        "--d",
        "8",
        "--window",
        "4",
        "--backend",
        "cpu",
        "--repeats",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 2);
}

/// A head wider than the register-tiled kernel holds (d = 200) still runs
/// on the GPU — the wide fallback, named in the report with its own count —
/// instead of falling back to the CPU. (What happens when a kernel does not
/// fit at all is tested with a fake method in `tests/pipeline.rs`.)
#[test]
fn a_wide_head_runs_on_the_gpu_through_the_wide_fallback() {
    if common::gpu().is_none() {
        return;
    }
    let base = ["run", "--method", "longformer", "--n", "64", "--d", "200"];
    for backend in ["auto", "gpu"] {
        let m = json(&flt(
            &[&base[..], &["--backend", backend, "--json"]].concat()
        ));
        assert_eq!(m["backend"], "gpu", "{m}");
        assert!(
            m["kernel_variant"]
                .as_str()
                .unwrap()
                .contains("wide fallback"),
            "{m}"
        );
        assert!(
            m["flops_formula"]
                .as_str()
                .unwrap()
                .starts_with("attend_wide"),
            "{m}"
        );
        assert!(m["gpu_cpu_max_abs_err"].as_f64().unwrap() < 1e-5, "{m}");
    }
}

#[test]
fn every_method_runs_on_the_gpu_when_there_is_one() {
    if common::gpu().is_none() {
        return;
    }
    for method in flt_explorer::attention::MethodId::ALL {
        let key = method.key();
        let causal = method.info().causal_unsupported.is_none();
        let mut args = vec![
            "run",
            "--method",
            key,
            "--n",
            "100",
            "--d",
            "16",
            "--backend",
            "gpu",
            "--json",
        ];
        if causal {
            args.push("--causal");
        }
        let m = json(&flt(&args));
        assert_eq!(m["backend"], "gpu", "{key}: {m}");
        assert!(
            m["gpu_cpu_max_abs_err"].as_f64().unwrap() < 1e-4,
            "{key}: {m}"
        );
        if m["kernel"] == "tiled" {
            assert!(
                m["tile_pairs"].as_u64().unwrap() >= m["pattern_pairs"].as_u64().unwrap(),
                "{key}"
            );
        }
    }
}

#[test]
fn low_rank_and_kernel_methods_from_the_command_line() {
    for (method, knobs) in [
        ("linformer", vec!["--proj-dim", "8", "--share-ef"]),
        ("nystrom", vec!["--landmarks", "8", "--pinv-iters", "6"]),
        ("linear", vec![]),
        ("performer", vec!["--features", "16"]),
        ("cosformer", vec![]),
        ("synthesizer-dense", vec!["--hidden", "12"]),
        ("synthesizer-random", vec!["--rank", "6"]),
    ] {
        let mut args = vec![
            "run",
            "--method",
            method,
            "--n",
            "48",
            "--d",
            "8",
            "--backend",
            "cpu",
            "--inputs",
            "low-rank",
            "--qk-scale",
            "0.5",
            "--json",
        ];
        args.extend(knobs.iter().copied());
        let m = json(&flt(&args));
        assert_eq!(m["method"], method);
        assert_eq!(m["inputs"], "low-rank");
        assert_eq!(m["qk_scale"], 0.5);
        // The flags reached the method: the CLI's error is the library's for
        // the same settings (an ignored knob would give another figure).
        let mut query = format!("method={method}&n=48&d=8&inputs=low-rank&qk-scale=0.5");
        for pair in knobs.chunks(2) {
            let key = pair[0].trim_start_matches("--");
            let value = pair.get(1).copied().unwrap_or("true");
            let value = if value.starts_with("--") {
                "true"
            } else {
                value
            };
            query.push_str(&format!("&{key}={value}"));
        }
        let (cli, lib) = (m["rel_err"].as_f64().unwrap(), library_rel_err(&query));
        assert!(
            (cli - lib).abs() <= 1e-9 * lib.max(1e-12),
            "{method}: CLI {cli} vs library {lib}"
        );
    }
    refused(
        &["run", "--method", "linformer", "--causal"],
        "Linformer cannot be causal",
    );
    refused(
        &["run", "--method", "nystrom", "--causal"],
        "cannot be causal",
    );
    refused(
        &["run", "--inputs", "spiral"],
        "inputs=spiral is not gaussian, low-rank, clustered or local",
    );
    refused(
        &["run", "--qk-scale", "abc"],
        "qk-scale=abc is not a number",
    );
    let dir = scratch("npy-inputs");
    let x = Inputs::seeded(10, 4, 1);
    let (q, k, v) = (
        save(&dir, "q.npy", &x.q),
        save(&dir, "k.npy", &x.k),
        save(&dir, "v.npy", &x.v),
    );
    refused(
        &["run", "--q", &q, "--k", &k, "--v", &v, "--inputs", "local"],
        "cannot be used with --q",
    );
}

#[test]
fn sweep_prints_the_error_law() {
    let o = flt(&[
        "sweep",
        "--method",
        "performer",
        "--n",
        "64",
        "--d",
        "16",
        "--qk-scale",
        "0.25",
        "--budgets",
        "8,32,128",
        "--seeds",
        "3",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["knob"], "features");
    assert_eq!(s["points"].as_array().map(Vec::len), Some(3));
    assert_eq!(s["theory_slope"], -0.5);
    let slope = s["fitted_slope"].as_f64().unwrap();
    assert!((-0.8..=-0.25).contains(&slope), "{slope}");
    refused(&["sweep", "--method", "full"], "has no budget to sweep");
    refused(
        &["sweep", "--method", "nystrom", "--budgets", "4,999"],
        "landmarks = 999 is outside 1..=256",
    );
}

#[test]
#[cfg(target_os = "linux")]
fn a_closed_pipe_or_a_full_disk_ends_with_a_message_not_a_panic() {
    // A pipe whose reading end is closed before flt writes: EPIPE.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let o = Command::new(env!("CARGO_BIN_EXE_flt"))
        .arg("methods")
        .stdout(writer)
        .output()
        .expect("run flt");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(141), "{err}");
    assert!(err.starts_with("flt: standard output was closed"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // /dev/full: ENOSPC on every write.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let o = Command::new(env!("CARGO_BIN_EXE_flt"))
        .args(["run", "--n", "8", "--d", "4", "--backend", "cpu", "--json"])
        .stdout(full)
        .output()
        .expect("run flt");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("No space left on device") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn heads_and_batch_run_every_head_and_say_which_were_checked() {
    let dir = scratch("heads");
    let out = dir.join("o.npy");
    let m = json(&flt(&[
        "run",
        "--method",
        "linear",
        "--n",
        "24",
        "--d",
        "4",
        "--heads",
        "3",
        "--batch",
        "2",
        "--backend",
        "cpu",
        "--repeats",
        "1",
        "--out",
        &out.display().to_string(),
        "--json",
    ]));
    assert_eq!(
        (m["heads"].as_u64(), m["batch"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(m["checked_heads"], serde_json::json!([0, 2, 5]));
    assert!(
        m["flops_algorithmic_formula"]
            .as_str()
            .unwrap()
            .starts_with("6 heads × (")
    );
    // The output is every head, head after head.
    assert_eq!(load_npy(&out).unwrap().dim(), (6 * 24, 4));
    // One head keeps the old schema's values.
    let one = json(&flt(&[
        "run",
        "--method",
        "linear",
        "--n",
        "24",
        "--d",
        "4",
        "--backend",
        "cpu",
        "--json",
    ]));
    assert_eq!(
        (one["heads"].as_u64(), one["batch"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(one.get("checked_heads").is_none());
    assert_eq!(
        one["inputs_digest"], m["inputs_digest"],
        "head 0 is the one-head problem"
    );
    // Files are one head.
    let x = Inputs::seeded(8, 2, 1);
    refused(
        &[
            "run",
            "--q",
            &save(&dir, "q.npy", &x.q),
            "--k",
            &save(&dir, "k.npy", &x.k),
            "--v",
            &save(&dir, "v.npy", &x.v),
            "--heads",
            "2",
        ],
        "one head",
    );
    refused(&["run", "--heads", "nope"], "heads");
}

#[test]
fn sequences_past_the_pages_limit_run_natively() {
    // n = 16 385 > the page's 16 384: a linear method runs it in O(n).
    let m = json(&flt(&[
        "run",
        "--method",
        "linear",
        "--n",
        "16385",
        "--d",
        "2",
        "--backend",
        "cpu",
        "--repeats",
        "1",
        "--json",
    ]));
    assert_eq!(m["n"].as_u64(), Some(16385));
    assert!(m["rel_err"].as_f64().unwrap().is_finite());
    // Past flt's own limit: a message and status 2, nothing allocated.
    refused(&["run", "--n", "2000000"], "n");
}

#[test]
fn pass_times_say_where_a_gpu_run_goes() {
    let Some(ctx) = common::gpu() else { return };
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "run",
            "--method",
            "nystrom",
            "--n",
            "64",
            "--d",
            "8",
            "--landmarks",
            "8",
            "--heads",
            "2",
            "--backend",
            "gpu",
            "--repeats",
            "3",
        ];
        a.extend_from_slice(extra);
        a
    };
    let m = json(&flt(&args(&["--pass-times", "--json"])));
    let passes = m["passes"].as_array().cloned().unwrap_or_default();
    if !ctx.timestamps {
        let notes = m["notes"].to_string();
        assert!(notes.contains("no per-pass times"), "{notes}");
        return;
    }
    // Every timed pass of the program: landmarks, kernels, softmaxes, the
    // pseudo-inverse, the products — each named by its step and kernel,
    // with one time per repeat and their median.
    assert!(passes.len() >= 10, "{passes:?}");
    for p in &passes {
        let name = p["pass"].as_str().unwrap();
        assert!(name.starts_with("nystrom.") && name.contains('('), "{name}");
        let samples = p["time_ms_samples"].as_array().unwrap();
        assert_eq!(samples.len(), 3, "{p}");
        let t = p["time_ms"].as_f64().unwrap();
        assert!(t.is_finite() && t >= 0.0, "{p}");
    }
    assert!(
        passes
            .iter()
            .any(|p| p["pass"].as_str().unwrap().starts_with("nystrom.pinv")),
        "{passes:?}"
    );
    // Not asked for: absent; as text: one line per pass.
    let plain = json(&flt(&args(&["--json"])));
    assert!(plain.get("passes").is_none());
    let text = flt(&args(&["--pass-times"]));
    assert!(text.status.success(), "{}", stderr(&text));
    let lines = String::from_utf8_lossy(&text.stdout)
        .lines()
        .filter(|l| l.starts_with("pass "))
        .count();
    assert_eq!(lines, passes.len());
    // `flt bench` too: under its row, one indented line per pass.
    let mut bench = args(&["--pass-times"]);
    bench[0] = "bench";
    bench[1] = "--methods";
    let text = flt(&bench);
    assert!(text.status.success(), "{}", stderr(&text));
    let out = String::from_utf8_lossy(&text.stdout);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("  pass ")).collect();
    assert_eq!(lines.len(), passes.len(), "{out}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("nystrom.") && l.contains(" ms (GPU, median of 3)")),
        "{out}"
    );
}

#[test]
fn driver_stats_cover_every_pipeline_a_run_built() {
    let Some(_ctx) = common::gpu() else { return };
    // Exact attention (the flash kernel), Linformer (segment means, the
    // flash pass over projected keys) and the SGEMM bench: each pipeline
    // the run built is rebuilt from its WGSL on a second Vulkan device.
    let attention = flt(&[
        "bench",
        "--methods",
        "full,linformer",
        "--n",
        "64",
        "--d",
        "8",
        "--proj-dim",
        "16",
        "--backend",
        "gpu",
        "--repeats",
        "1",
        "--json",
        "--driver-stats",
    ]);
    let sgemm = flt(&[
        "bench",
        "--kernel",
        "sgemm",
        "--n",
        "40",
        "--backend",
        "gpu",
        "--repeats",
        "1",
        "--driver-stats",
    ]);
    for out in [&attention, &sgemm] {
        assert!(out.status.success(), "{}", stderr(out));
        let err = stderr(out);
        let head = err
            .lines()
            .find(|l| l.starts_with("driver statistics"))
            .unwrap_or_else(|| panic!("no driver statistics: {err}"));
        // Nothing failed to build again, whatever the driver reports.
        assert!(!err.contains("not rebuilt"), "{err}");
        if let Some(rest) = head.strip_prefix("driver statistics: none (the driver does not offer")
        {
            // lavapipe (Mesa 22): rebuilt, without statistics — all of them.
            let words: Vec<&str> = rest.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "rebuilt").expect(head);
            let (built, of): (usize, usize) = (
                words[at + 1].parse().unwrap(),
                words[at + 4].parse().unwrap(),
            );
            assert!(built >= 1 && built == of, "{head}");
            let listed = err.lines().filter(|l| l.ends_with(": rebuilt")).count();
            assert_eq!(listed, of, "{err}");
        } else {
            // A driver with statistics: one line per pipeline, each with
            // at least one `name = value`.
            let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("  ")).collect();
            assert!(!lines.is_empty(), "{err}");
            assert!(lines.iter().all(|l| l.contains(" = ")), "{err}");
        }
    }
    // stdout stays the run's own: JSON lines for the attention bench.
    for line in String::from_utf8_lossy(&attention.stdout).lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    // Each run's own kernels are among those listed: the flash pass
    // (exact attention and Linformer's), Linformer's segment means, the
    // SGEMM.
    let listed = stderr(&attention);
    for key in ["flash_attention", "linalg.segment_means"] {
        assert!(listed.contains(key), "{key} missing: {listed}");
    }
    assert!(stderr(&sgemm).contains("sgemm."), "{}", stderr(&sgemm));
    // The CPU backend builds no pipelines, and says so.
    let cpu = flt(&[
        "bench",
        "--methods",
        "full",
        "--n",
        "32",
        "--d",
        "8",
        "--backend",
        "cpu",
        "--driver-stats",
    ]);
    assert!(cpu.status.success(), "{}", stderr(&cpu));
    assert!(stderr(&cpu).contains("driver statistics: none (the CPU backend"));
}

//! The tensor-core kernel (`gpu/flash_f16.rs`: f16 operands, f32
//! accumulators, cooperative matrices) against exact attention in f64
//! (`attention::full::reference_rows`) at the f16 tolerance of
//! `flash_f16::tolerance` (|o − exact| ≤ 1e-2·rms + 1e-2·|exact| per
//! element, rms that of the head's exact output) and a relative error below
//! `flash_f16::REL_ERR_MAX` (3e-3).
//!
//! It runs only where the device offers f16 cooperative matrices — the
//! lent H200, where it was run (the built test binary, with
//! `FLT_REQUIRE_COOP=1` so that a missing feature fails instead of
//! skipping); lavapipe has none, and there the test checks that the kernel
//! says so instead of running.
//!
//! What it would catch on the H200: a wrong mask (causal diagonal, keys past
//! n_keys in the last partial tile; a causal mask off by one was injected
//! and failed there), a lane's column mapping that misses or repeats a
//! column, a head offset, P·V added without the online rescale, a width
//! whose pieces are addressed with the wrong stride (d = 16, 32, 48, 64) —
//! each moves outputs by far more than f16 rounding does. Everywhere: widths
//! it does not take and devices without the feature are refused with the
//! reason (the index math itself is exercised only where it runs; naga
//! compiles the shader for every width in a unit test).

mod common;

use common::flt;

use common::gpu;
use flt_explorer::attention::full::reference_rows;
use flt_explorer::gpu::flash_attention::FlashShape;
use flt_explorer::gpu::{GpuRunOptions, flash_f16};
use flt_explorer::inputs::Inputs;

fn required() -> bool {
    std::env::var("FLT_REQUIRE_COOP").is_ok_and(|v| v == "1")
}

fn options() -> GpuRunOptions {
    GpuRunOptions {
        repeats: 1,
        ..Default::default()
    }
}

/// Runs `count` seeded heads and compares every element with the f64
/// reference; returns the largest error / bound and the relative error.
fn check(
    ctx: &flt_explorer::gpu::GpuContext,
    count: usize,
    n: usize,
    d: usize,
    causal: bool,
) -> (f64, f64) {
    let xs: Vec<Inputs> = (0..count)
        .map(|h| Inputs::seeded(n, d, 31 + 7 * h as u64 + n as u64))
        .collect();
    let stack = |pick: fn(&Inputs) -> &ndarray::Array2<f32>| -> Vec<f32> {
        xs.iter().flat_map(|x| pick(x).iter().copied()).collect()
    };
    let (q, k, v) = (stack(|x| &x.q), stack(|x| &x.k), stack(|x| &x.v));
    let shape = FlashShape::square(count, n, d, d, causal);
    let what = format!("heads={count} n={n} d={d} causal={causal}");
    let run = pollster::block_on(flash_f16::run_heads(ctx, shape, (&q, &k, &v), &options()))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let rows: Vec<usize> = (0..n).collect();
    let (mut worst, mut err2, mut ref2) = (0f64, 0f64, 0f64);
    for (h, x) in xs.iter().enumerate() {
        let exact = reference_rows(x.q.view(), x.k.view(), x.v.view(), causal, &rows);
        let rms = (exact.iter().map(|e| e * e).sum::<f64>() / exact.len() as f64).sqrt();
        let (atol, rtol) = flash_f16::tolerance(rms);
        for i in 0..n {
            for c in 0..d {
                let got = run.output[(h * n + i) * d + c] as f64;
                let want = exact[[i, c]];
                let bound = atol + rtol * want.abs();
                assert!(
                    got.is_finite() && (got - want).abs() <= bound,
                    "{what}: head {h} row {i} col {c}: {got} vs {want} (f16 tolerance {bound})"
                );
                worst = worst.max((got - want).abs() / bound);
                err2 += (got - want).powi(2);
                ref2 += want * want;
            }
        }
    }
    (worst, (err2 / ref2).sqrt())
}

#[test]
fn tensor_core_attention_matches_the_f64_reference_at_f16_tolerance() {
    let Some(ctx) = gpu() else { return };
    if !ctx.coop_f16 {
        assert!(
            !required(),
            "FLT_REQUIRE_COOP=1 but {} offers no f16 cooperative matrices",
            ctx.adapter_name
        );
        // Where it cannot run, it says why instead of running.
        let x = Inputs::seeded(8, 16, 1);
        let (q, k, v) = (
            x.q.iter().copied().collect::<Vec<f32>>(),
            x.k.iter().copied().collect::<Vec<f32>>(),
            x.v.iter().copied().collect::<Vec<f32>>(),
        );
        let shape = FlashShape::square(1, 8, 16, 16, false);
        let err = pollster::block_on(flash_f16::run_heads(&ctx, shape, (&q, &k, &v), &options()))
            .err()
            .expect("no tensor cores: an error, not a run")
            .to_string();
        assert!(err.contains("cooperative matrices"), "{err}");
        eprintln!("skipping the tensor-core comparison: {err}");
        return;
    }
    let mut worst = (0f64, 0f64);
    // Partial last tiles (70, 203), a single row, several heads, every width.
    for (count, n) in [(1, 1), (1, 70), (3, 203), (2, 320)] {
        for d in flash_f16::WIDTHS {
            for causal in [false, true] {
                let (w, rel) = check(&ctx, count, n, d, causal);
                worst = (worst.0.max(w), worst.1.max(rel));
            }
        }
    }
    eprintln!(
        "f16 tensor cores on {}: worst error {:.3} of the tolerance, relative error ≤ {:.2e}",
        ctx.adapter_name, worst.0, worst.1
    );
    // The kernel rounds to f16 (2⁻¹¹): its relative error sits near 5e-4,
    // far below any real bug's.
    assert!(
        worst.1 <= flash_f16::REL_ERR_MAX,
        "relative error {:.2e}",
        worst.1
    );
}

#[test]
fn widths_the_kernel_does_not_take_are_refused_before_running() {
    let Some(ctx) = gpu() else { return };
    // The width is checked first, on every device.
    for (d, dv) in [(128, 128), (24, 24), (64, 32), (0, 0)] {
        let err = flash_f16::check(&ctx, d, dv).unwrap_err().to_string();
        assert!(
            err.contains("it takes d = dv ∈ {16, 32, 48, 64}"),
            "d = {d}, dv = {dv}: {err}"
        );
    }
    assert_eq!(flash_f16::check(&ctx, 64, 64).is_ok(), ctx.coop_f16);
}

#[test]
fn bench_kernel_flash_f16_measures_or_says_why_not() {
    let Some(ctx) = gpu() else { return };
    let args = [
        "bench",
        "--kernel",
        "flash-f16",
        "--n",
        "200",
        "--d",
        "32",
        "--heads",
        "2",
        "--causal",
        "--repeats",
        "2",
        "--backend",
        "gpu",
        "--json",
    ];
    let o = flt(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    if !ctx.coop_f16 {
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("cooperative matrices"), "{err}");
    } else {
        assert!(o.status.success(), "{err}");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
        assert_eq!(v["schema"], "flt.flash_f16.v1");
        assert_eq!(v["kernel"], "flash-f16");
        assert_eq!((v["n"].as_u64(), v["d"].as_u64()), (Some(200), Some(32)));
        assert_eq!(
            (v["heads"].as_u64(), v["causal"].as_bool()),
            (Some(2), Some(true))
        );
        assert_eq!(v["within_tolerance"], true);
        let rel = v["rel_err"].as_f64().unwrap();
        let baseline = v["baseline_mean_v_rel_err"].as_f64().unwrap();
        assert!(
            rel <= flash_f16::REL_ERR_MAX && baseline > 10.0 * rel,
            "{rel} vs mean of V {baseline}"
        );
        assert_eq!(v["baseline_zero_rel_err"], 1.0);
        // The three conversions and the attention, each timed.
        assert_eq!(v["passes"].as_array().map(Vec::len), Some(4));
        assert!(v["attention_ms"].as_f64().is_some_and(|x| x > 0.0));
    }
    // Flags of the attention bench are refused, before any work.
    let o = flt(&["bench", "--kernel", "flash-f16", "--window", "4"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("--window does not apply to --kernel flash-f16")
    );
}

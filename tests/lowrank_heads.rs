//! The low-rank methods (Linformer, Nyströmformer) over B·H heads in one
//! dispatch per pass, against each head's own CPU twin: odd n, k and L past
//! n, shared and Gaussian projections; Nyström's pseudo-inverse stopping per
//! head (heads whose residual stops falling at different iterations); head
//! 0 of a batched run against the one-head run; the limits checked before
//! allocating; and `flt bench` with heads on the GPU.
//!
//! Tolerance: the factored methods' 2·10⁻⁵ + 10⁻⁴·|x| (`Conformance::
//! FACTORED`), every element of every head.

mod common;

use std::process::Command;
use std::rc::Rc;

use common::{assert_close, gpu, params};
use flt_explorer::attention::nystrom::{landmark_kernel, pinv};
use flt_explorer::attention::{Config, MethodId, ParamValues};
use flt_explorer::gpu::linalg::pinv_fuses;
use flt_explorer::gpu::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use flt_explorer::inputs::{Heads, InputSource, Inputs};
use ndarray::{Array2, s};

const ATOL: f32 = 2e-5;
const RTOL: f32 = 1e-4;

fn options() -> GpuRunOptions {
    GpuRunOptions {
        repeats: 1,
        ..Default::default()
    }
}

fn run_heads(
    ctx: &GpuContext,
    method: MethodId,
    heads: &Heads,
    config: &Config<'_>,
) -> Result<GpuOutput, GpuError> {
    let options = options();
    let run = method
        .method()
        .run_gpu_heads(ctx, heads, config, &options)
        .expect("the low-rank methods run their heads batched");
    pollster::block_on(run)
}

/// Every head's block of the stacked output against its own twin.
fn check_heads(
    what: &str,
    method: MethodId,
    heads: &Heads,
    config: &Config<'_>,
    out: &Array2<f32>,
) {
    let (n, dv) = (heads.n(), heads.dv());
    assert_eq!(out.dim(), (heads.count() * n, dv), "{what}");
    for (h, x) in heads.items.iter().enumerate() {
        let twin = method.method().cpu_twin(x, config).unwrap();
        let mut expect = Array2::zeros((n, dv));
        twin.compute_rows(0..n, expect.view_mut(), None);
        let got = out.slice(s![h * n..(h + 1) * n, ..]).to_owned();
        assert_close(&format!("{what}, head {h}"), &got, &expect, ATOL, RTOL);
    }
}

/// Linformer's projections (mean-pool, Gaussian, shared; k below n and k
/// past n, capped for mean-pool and not for Gaussian) and Nyström's
/// landmarks (below n and past n, capped; 32, whose pseudo-inverse runs in
/// one pass on every adapter), on the methods' conformance inputs.
fn cases() -> Vec<(MethodId, ParamValues, InputSource)> {
    let local = InputSource::Local;
    vec![
        (MethodId::Linformer, params(&[("proj-dim", 13)]), local),
        (MethodId::Linformer, params(&[("proj-dim", 200)]), local),
        (
            MethodId::Linformer,
            params(&[("proj-dim", 13), ("projection", 1)]),
            InputSource::Gaussian,
        ),
        (
            MethodId::Linformer,
            params(&[("proj-dim", 150), ("projection", 1), ("share-ef", 1)]),
            InputSource::Gaussian,
        ),
        (
            MethodId::Nystrom,
            params(&[("landmarks", 5), ("pinv-iters", 6)]),
            InputSource::LowRank,
        ),
        (
            MethodId::Nystrom,
            params(&[("landmarks", 200), ("pinv-iters", 6)]),
            InputSource::Gaussian,
        ),
        (
            MethodId::Nystrom,
            params(&[("landmarks", 32), ("pinv-iters", 6)]),
            InputSource::LowRank,
        ),
    ]
}

#[test]
fn every_head_of_a_batched_run_matches_its_twin() {
    let Some(ctx) = gpu() else { return };
    for (method, p, inputs) in cases() {
        let config = Config {
            causal: false,
            seed: 4,
            params: &p,
        };
        for n in [37, 130] {
            let x = Heads::generate(inputs, (n, 16), 20 + n as u64, 0.5, (2, 3));
            let what = format!("{} {p:?} B=2 H=3 n={n}", method.key());
            let out =
                run_heads(&ctx, method, &x, &config).unwrap_or_else(|e| panic!("{what}: {e}"));
            check_heads(&what, method, &x, &config, &out.output);
            assert!(
                out.kernel_variant.contains("6 heads"),
                "{what}: {}",
                out.kernel_variant
            );
            // Executed work is counted for the six heads' batched passes.
            let (flops, _) = out.executed.as_ref().expect("batched counts");
            assert!(flops.formula.starts_with("6 heads"), "{}", flops.formula);
        }
    }
}

/// Heads whose pseudo-inverse iterations stop at different counts (15, 19,
/// 19 and 17 of 40: each where f32 rounding stops its residual falling),
/// one of them a rank-deficient Ã (99 landmarks of rank-4 inputs at a tiny
/// scale, as in the twin's own test), whose plain iterations overflow.
fn mixed_heads() -> Heads {
    let items = [
        (InputSource::LowRank, 3, 0.05),
        (InputSource::LowRank, 1, 0.3),
        (InputSource::Gaussian, 2, 0.5),
        (InputSource::LowRank, 1, 0.05),
    ]
    .into_iter()
    .map(|(kind, seed, scale)| Rc::new(Inputs::generate(kind, 100, 16, seed, scale)))
    .collect();
    Heads {
        batch: 2,
        heads: 2,
        items,
    }
}

#[test]
fn the_pseudo_inverse_stops_per_head() {
    let Some(ctx) = gpu() else { return };
    let heads = mixed_heads();
    let (landmarks, asked) = (99, 40);
    let counts: Vec<u32> = heads
        .items
        .iter()
        .map(|x| pinv(&landmark_kernel(x, landmarks), asked).iterations)
        .collect();
    assert!(
        counts.iter().all(|&c| c < asked) && counts.iter().any(|&c| c != counts[0]),
        "the heads must stop at different counts: {counts:?}"
    );
    let p = params(&[
        ("landmarks", landmarks as u64),
        ("pinv-iters", asked as u64),
    ]);
    let config = Config {
        causal: false,
        seed: 1,
        params: &p,
    };
    let out = run_heads(&ctx, MethodId::Nystrom, &heads, &config).unwrap();
    // Each head equals its own one-head run (which runs exactly that head's
    // count, as its twin decides) bit for bit: a head committing a step past
    // its stop, or stopping short, would not. Against the twin, the Z of a
    // 99 × 99 Ã at f32's floor carries rounding of up to ~10⁻⁴ here — in
    // the one-head run as well — so the twin check is at 10⁻³.
    let n = 100;
    for (h, x) in heads.items.iter().enumerate() {
        let got = out.output.slice(s![h * n..(h + 1) * n, ..]).to_owned();
        let single = pollster::block_on(MethodId::Nystrom.method().run_gpu(
            &ctx,
            x,
            &config,
            &options(),
        ))
        .unwrap();
        assert_eq!(
            got, single.output,
            "head {h} ({} iterations) differs from its one-head run",
            counts[h]
        );
        let twin = MethodId::Nystrom.method().cpu_twin(x, &config).unwrap();
        let mut expect = Array2::zeros((n, 16));
        twin.compute_rows(0..n, expect.view_mut(), None);
        assert_close(
            &format!("per-head stop, head {h}"),
            &got,
            &expect,
            1e-3,
            1e-3,
        );
    }
    let (fewest, most) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(
        out.notes.iter().any(|n| n.contains(&format!(
            "heads stopped after {fewest} to {most} of {asked} iterations"
        ))),
        "{:?}",
        out.notes
    );
}

#[test]
fn head_zero_of_a_batched_run_is_the_one_head_run() {
    let Some(ctx) = gpu() else { return };
    for (method, p, inputs) in cases() {
        let config = Config {
            causal: false,
            seed: 2,
            params: &p,
        };
        let heads = Heads::generate(inputs, (61, 8), 7, 0.5, (1, 4));
        let batched = run_heads(&ctx, method, &heads, &config).unwrap();
        let single = pollster::block_on(method.method().run_gpu(
            &ctx,
            heads.first(),
            &config,
            &options(),
        ))
        .unwrap();
        let what = format!("{} {p:?}", method.key());
        assert_close(
            &format!("{what}: head 0"),
            &batched.output.slice(s![..61, ..]).to_owned(),
            &single.output,
            1e-6,
            1e-6,
        );
        let (a, b) = (
            batched.artifacts.weights().unwrap(),
            single.artifacts.weights().unwrap(),
        );
        assert_eq!(a.values, b.values, "{what}: pooled map of head 0");
        // The heads' outputs differ: each head read its own inputs.
        let last = batched.output.slice(s![3 * 61.., ..]).to_owned();
        assert!(
            (&last - &single.output).iter().any(|x| x.abs() > 1e-3),
            "{what}: head 3 equals head 0"
        );
        // Executed work covers every head; the one-head run keeps the
        // method's own count, except Linformer's, whose attention over the
        // k projected keys is the flash kernel's pass, and Nyström's, whose
        // pseudo-inverse runs in one pass or as products as the adapter's
        // workgroup memory allows: they report what ran.
        let (flops, _) = batched.executed.as_ref().unwrap();
        let shape = flt_explorer::data::shape::Shape {
            n: 61,
            d: 8,
            dv: 8,
            causal: false,
        };
        let one = method.method().cost(shape, &config, 61 * 61);
        if method.key() == "linformer" {
            let (f, _) = single
                .executed
                .as_ref()
                .expect("linformer's flash pass counts");
            assert!(f.formula.contains("flash"), "{what}: {}", f.formula);
        } else if method.key() == "nystrom" {
            let (f, _) = single
                .executed
                .as_ref()
                .expect("nystrom's pseudo-inverse counts");
            // L = 5 and L = 61 (200 capped) run as products, L = 32 in one
            // pass: the count says which ran.
            let l = p.get("landmarks").copied().expect("landmarks").min(61) as u32;
            assert_eq!(
                f.formula.contains("iterations (one pass)"),
                pinv_fuses(&ctx.limits, l),
                "{what}: {}",
                f.formula
            );
        } else {
            assert!(single.executed.is_none(), "{what}");
        }
        let one_head = single
            .executed
            .as_ref()
            .map_or(one.executed().0.value, |(f, _)| f.value);
        assert!(
            flops.value >= 4 * one_head,
            "{what}: {} vs {}",
            flops.value,
            one_head
        );
    }
}

/// A context whose adapter limits are lowered as `lower` says.
fn limited(lower: impl FnOnce(&mut wgpu::Limits)) -> GpuContext {
    let adapter = pollster::block_on(GpuContext::adapter()).unwrap();
    let mut limits = adapter.limits();
    lower(&mut limits);
    pollster::block_on(GpuContext::with_limits(&adapter, limits)).unwrap()
}

#[test]
fn limits_are_checked_before_allocating() {
    if gpu().is_none() {
        return;
    }
    // 2 MiB per storage buffer: 16 heads of 2048 × 8 (Q is 1 MiB) fit, but
    // their 16 × 2048 × 32 scores (4 MiB) or kernels do not; the error names
    // the buffer, the heads and the limit.
    let small = limited(|l| l.max_storage_buffer_binding_size = 2 << 20);
    let one = Rc::new(Inputs::seeded(2048, 8, 1));
    let heads = Heads {
        batch: 2,
        heads: 8,
        items: (0..16).map(|_| one.clone()).collect(),
    };
    for (method, p, buffer) in [
        (MethodId::Linformer, params(&[("proj-dim", 32)]), "scores"),
        (MethodId::Nystrom, params(&[("landmarks", 32)]), "kernel"),
    ] {
        let config = Config {
            causal: false,
            seed: 1,
            params: &p,
        };
        match run_heads(&small, method, &heads, &config) {
            Err(GpuError::TooLarge {
                what,
                needs,
                limit_name,
                ..
            }) => {
                assert!(what.contains(buffer) && what.contains("16 heads"), "{what}");
                assert_eq!(needs, 16 * 2048 * 32 * 4);
                assert_eq!(limit_name, "max_storage_buffer_binding_size");
            }
            other => panic!(
                "{}: expected TooLarge, got {:?}",
                method.key(),
                other.map(|o| o.kernel_variant)
            ),
        }
    }
}

#[test]
fn flt_bench_runs_the_low_rank_methods_with_heads_on_the_gpu() {
    if gpu().is_none() {
        return;
    }
    let o = Command::new(env!("CARGO_BIN_EXE_flt"))
        .args([
            "bench",
            "--methods",
            "linformer,nystrom",
            "--heads",
            "4",
            "--backend",
            "gpu",
            "--n",
            "256",
            "--d",
            "16",
            "--repeats",
            "1",
            "--json",
        ])
        .output()
        .expect("run flt");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for m in &lines {
        let what = m["method"].as_str().unwrap();
        assert_eq!(m["backend"], "gpu", "{what}");
        assert_eq!(m["heads"].as_u64(), Some(4), "{what}");
        assert_eq!(m["checked_heads"], serde_json::json!([0, 1, 3]), "{what}");
        assert!(
            m["gpu_cpu_max_abs_err"].as_f64().unwrap() < 1e-3,
            "{what}: {}",
            m["gpu_cpu_max_abs_err"]
        );
    }
}

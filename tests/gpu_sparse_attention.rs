//! Identities of the sparse and hashed methods on the GPU (every method's
//! GPU-vs-twin agreement, pattern and buckets are in the generated
//! `conformance.rs`): long rows split over workgroups and merged, windows
//! and chunks covering everything equal exact attention, and the pooled
//! weights equal the twin's at full resolution. Runs on whatever adapter
//! exists (lavapipe in CI; with `CI=true` a missing adapter fails).
//!
//! Tolerance: |gpu − twin| ≤ 2e-6 + 1e-5·|twin| per element.

mod common;

use common::{Pair, assert_close, gpu, params, run_pair};
use flt_explorer::attention::{Config, MethodId, ParamValues, RowKernel};
use flt_explorer::data::maps::PatternPooler;
use flt_explorer::gpu::GpuRunOptions;
use flt_explorer::inputs::Inputs;
use ndarray::Array2;

/// Runs `method` on the GPU and its twin on the CPU; compares outputs,
/// pooled patterns, buckets and the pairs the tiles cover.
fn check(
    ctx: &flt_explorer::gpu::GpuContext,
    method: MethodId,
    x: &Inputs,
    p: &ParamValues,
    causal: bool,
) {
    let Pair {
        what,
        gpu: out,
        twin,
        expect,
    } = run_pair(ctx, method, x, p, causal, 4, None);
    assert_close(&what, &out.output, &expect, 2e-6, 1e-5);

    let mut pooler = PatternPooler::new(x.n());
    for i in 0..x.n() {
        pooler.add_row(i, &twin.row_pattern(i));
    }
    let cpu = pooler.finish();
    let gpu = out
        .artifacts
        .pattern()
        .expect("the tiled kernel pools the pattern");
    assert_eq!(gpu.codes, cpu.codes, "{what}: pattern categories");
    for (a, b) in gpu.fraction.iter().zip(&cpu.fraction) {
        assert!((a - b).abs() < 1e-6, "{what}: pattern fractions {a} vs {b}");
    }
    if let Some(lsh) = out.artifacts.buckets() {
        assert_eq!(
            Some(lsh),
            twin.views().buckets(),
            "{what}: buckets and sorted order"
        );
    }
    assert!(out.tile_pairs.unwrap() >= cpu_pairs(&*twin, x.n()));
}

fn cpu_pairs(twin: &dyn RowKernel, n: usize) -> u64 {
    (0..n).map(|i| twin.row_pattern(i).len() as u64).sum()
}

#[test]
fn long_rows_split_over_workgroups_and_merge() {
    let Some(ctx) = gpu() else { return };
    // n = 600: the global rows' query tile visits 19 key tiles, more than
    // one workgroup takes (8), so it is split and merged.
    let x = Inputs::seeded(600, 16, 12);
    let list = flt_explorer::gpu::tiled_attention::Layout::Masked(
        &flt_explorer::attention::pattern::Pattern::Longformer {
            window: 4,
            global: 3,
        },
    )
    .tiles(600, false);
    let plan = flt_explorer::gpu::tiled_attention::WorkPlan::new(&list);
    assert!(!plan.merges.is_empty(), "the global tile must be split");
    for causal in [false, true] {
        check(
            &ctx,
            MethodId::Longformer,
            &x,
            &params(&[("window", 4), ("global", 3)]),
            causal,
        );
        check(
            &ctx,
            MethodId::Reformer,
            &x,
            &params(&[("buckets", 4), ("rounds", 2), ("chunk", 300)]),
            causal,
        );
    }
}

#[test]
fn wide_windows_on_the_gpu_are_exact_attention() {
    let Some(ctx) = gpu() else { return };
    let x = Inputs::seeded(100, 16, 2);
    let options = GpuRunOptions {
        repeats: 1,
        ..Default::default()
    };
    let exact =
        flt_explorer::attention::full::twin_all_rows(x.q.view(), x.k.view(), x.v.view(), false);
    let p = params(&[("window", 100), ("global", 0)]);
    let config = Config {
        causal: false,
        seed: 1,
        params: &p,
    };
    let out = pollster::block_on(
        MethodId::Longformer
            .method()
            .run_gpu(&ctx, &x, &config, &options),
    )
    .unwrap();
    assert_close("window ≥ n", &out.output, &exact, 2e-6, 1e-5);
    let p = params(&[("buckets", 2), ("rounds", 1), ("chunk", 100)]);
    let config = Config {
        causal: false,
        seed: 1,
        params: &p,
    };
    let out = pollster::block_on(
        MethodId::Reformer
            .method()
            .run_gpu(&ctx, &x, &config, &options),
    )
    .unwrap();
    assert_close("one chunk", &out.output, &exact, 2e-6, 1e-5);
}

#[test]
fn pooled_weights_are_the_twins_weights() {
    let Some(ctx) = gpu() else { return };
    let n = 150;
    let x = Inputs::seeded(n, 12, 31);
    let cases = [
        (
            MethodId::Longformer,
            params(&[("window", 6), ("global", 2)]),
        ),
        (
            MethodId::SparseFixed,
            params(&[("stride", 8), ("summary", 2)]),
        ),
        (
            MethodId::Bigbird,
            params(&[
                ("block", 10),
                ("global-blocks", 1),
                ("window-blocks", 3),
                ("random", 2),
            ]),
        ),
        (
            MethodId::Reformer,
            params(&[("buckets", 8), ("rounds", 3), ("chunk", 16)]),
        ),
        (
            MethodId::Reformer,
            params(&[
                ("buckets", 8),
                ("rounds", 4),
                ("chunk", 16),
                ("shared-qk", 1),
            ]),
        ),
    ];
    for causal in [false, true] {
        for (method, p) in &cases {
            let what = format!("{} causal={causal} {p:?}", method.key());
            let config = Config {
                causal,
                seed: 6,
                params: p,
            };
            let options = GpuRunOptions {
                repeats: 1,
                ..Default::default()
            };
            let out =
                pollster::block_on(method.method().run_gpu(&ctx, &x, &config, &options)).unwrap();
            let gpu_map = out.artifacts.weights().expect("pooled weights");
            assert_eq!(gpu_map.factor, 1);
            let twin = method.method().cpu_twin(&x, &config).unwrap();
            let mut weights = Array2::<f32>::zeros((n, n));
            let mut o = Array2::zeros((n, 12));
            twin.compute_rows(
                0..n,
                o.view_mut(),
                Some(&mut |i, w: &[f32]| weights.row_mut(i).assign(&ndarray::aview1(w))),
            );
            let map = Array2::from_shape_vec((n, n), gpu_map.values.clone()).unwrap();
            assert_close(&format!("weights, {what}"), &map, &weights, 1e-6, 1e-5);
        }
    }
}

//! The kernel methods (linear, Performer, cosFormer) over B·H heads in one
//! dispatch per pass, against each head's own CPU twin; their limits checked
//! before allocating; their dispatch grids folded under a small workgroup
//! limit; and the pipeline's cross-checks of the first, middle and last
//! heads on the GPU.
//!
//! Tolerance: the factored methods' 2·10⁻⁵ + 10⁻⁴·|x| (`Conformance::
//! FACTORED`), every element of every head.

mod common;

use std::rc::Rc;

use common::{assert_close, gpu, params};
use flt_explorer::attention::{Config, MethodId, ParamValues};
use flt_explorer::data::codes::FeatureKind;
use flt_explorer::gpu::linear_attention::{self, FeatureMap, Geometry};
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

/// The three kernel methods with their knobs (Performer at an m that is
/// not a multiple of 4 and at one past a 64-feature tile).
fn methods() -> Vec<(MethodId, ParamValues)> {
    vec![
        (MethodId::Linear, params(&[])),
        (MethodId::Performer, params(&[("features", 33)])),
        (MethodId::Performer, params(&[("features", 65)])),
        (MethodId::Cosformer, params(&[])),
    ]
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
        .expect("the kernel methods run their heads batched");
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

#[test]
fn every_head_of_a_batched_run_matches_its_twin() {
    let Some(ctx) = gpu() else { return };
    for (method, p) in methods() {
        for causal in [false, true] {
            let config = Config {
                causal,
                seed: 4,
                params: &p,
            };
            for (batch, heads) in [(1, 1), (1, 3), (2, 2)] {
                for n in [1, 7, 130, 203] {
                    for d in [1, 16, 40] {
                        let x = Heads::generate(
                            InputSource::Gaussian,
                            (n, d),
                            20 + n as u64,
                            0.5,
                            (batch, heads),
                        );
                        let what = format!(
                            "{} {p:?} causal={causal} B={batch} H={heads} n={n} d={d}",
                            method.key()
                        );
                        let out = run_heads(&ctx, method, &x, &config)
                            .unwrap_or_else(|e| panic!("{what}: {e}"));
                        check_heads(&what, method, &x, &config, &out.output);
                    }
                }
            }
        }
    }
}

#[test]
fn heads_are_independent_and_views_are_head_zeros() {
    let Some(ctx) = gpu() else { return };
    // Head 0 of a batched run is the one-head run, bit for bit on its
    // output (same dispatches, same order), and its views are the same.
    let p = params(&[("features", 16)]);
    for method in [MethodId::Linear, MethodId::Performer, MethodId::Cosformer] {
        let config = Config {
            causal: true,
            seed: 2,
            params: &p,
        };
        let heads = Heads::generate(InputSource::Gaussian, (150, 8), 7, 0.5, (1, 4));
        let batched = run_heads(&ctx, method, &heads, &config).unwrap();
        let single = pollster::block_on(method.method().run_gpu(
            &ctx,
            heads.first(),
            &config,
            &options(),
        ))
        .unwrap();
        assert_close(
            &format!("{} head 0", method.key()),
            &batched.output.slice(s![..150, ..]).to_owned(),
            &single.output,
            1e-6,
            1e-6,
        );
        let (a, b) = (
            batched.artifacts.weights().unwrap(),
            single.artifacts.weights().unwrap(),
        );
        assert_eq!(a.values, b.values, "{}: pooled map of head 0", method.key());
        // The heads' outputs differ: each head read its own inputs.
        let last = batched.output.slice(s![450.., ..]).to_owned();
        assert!(
            (&last - &single.output).iter().any(|x| x.abs() > 1e-3),
            "{}: head 3 equals head 0",
            method.key()
        );
        // Executed work is counted for all heads.
        let (flops, _) = batched.executed.as_ref().unwrap();
        let (one, _) = single.executed.as_ref().unwrap();
        assert!(
            flops.value > 3 * one.value,
            "{} vs {}",
            flops.value,
            one.value
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
    // 2 MiB per storage buffer: 16 heads of 2048 × 32 (Q is 4 MiB) do not
    // fit; the error names the buffer and the limit, before any upload.
    let small = limited(|l| l.max_storage_buffer_binding_size = 2 << 20);
    let one = Rc::new(Inputs::seeded(2048, 32, 1));
    let heads = Heads {
        batch: 1,
        heads: 16,
        items: (0..16).map(|_| one.clone()).collect(),
    };
    let p = params(&[]);
    let config = Config {
        causal: false,
        seed: 1,
        params: &p,
    };
    match run_heads(&small, MethodId::Linear, &heads, &config) {
        Err(GpuError::TooLarge {
            what,
            needs,
            limit_name,
            ..
        }) => {
            assert!(what.contains("Q") && what.contains("16 heads"), "{what}");
            assert_eq!(needs, 16 * 2048 * 32 * 4);
            assert_eq!(limit_name, "max_storage_buffer_binding_size");
        }
        other => panic!(
            "expected TooLarge, got {:?}",
            other.map(|o| o.kernel_variant)
        ),
    }
    // The geometry's own check says the same without a device run.
    let g = Geometry::new(FeatureKind::Elu, 16, (2048, 32, 32), 32, false, 2 << 20);
    assert!(matches!(g.check(&small), Err(GpuError::TooLarge { .. })));

    // A causal state that does not fit at chunks of 64 keys: the chunks
    // grow until it does, and the result still matches the twin. 4 heads of
    // n = 256, d = dᵥ = m = 128: the chunk sums take 4 · 4 · 16512 · 4 B =
    // 1032 KiB at 64 keys, 516 KiB at 128; Q and V take 512 KiB, head 0's
    // pooled map 512 KiB: under a 600000-byte limit the chunks are 128 keys.
    let limit = 600_000;
    let tight = limited(|l| l.max_storage_buffer_binding_size = limit);
    let x = Heads::generate(InputSource::Gaussian, (256, 128), 5, 0.5, (2, 2));
    let g = Geometry::new(FeatureKind::Elu, 4, (256, 128, 128), 128, true, limit);
    assert_eq!(g.chunk, 128);
    let config = Config {
        causal: true,
        seed: 1,
        params: &p,
    };
    let out = run_heads(&tight, MethodId::Linear, &x, &config).unwrap();
    assert!(
        out.kernel_variant.contains("of 128 keys"),
        "{}",
        out.kernel_variant
    );
    check_heads(
        "linear, chunks grown",
        MethodId::Linear,
        &x,
        &config,
        &out.output,
    );

    // Too many features for the kernel: refused with the kernel's limit.
    let features = FeatureMap {
        kind: FeatureKind::Favor,
        omega: vec![0.0; 1025 * 4],
    };
    let one = Inputs::seeded(8, 4, 1);
    match pollster::block_on(linear_attention::run(
        &small,
        &[&one],
        false,
        &features,
        &options(),
    )) {
        Err(GpuError::TooLarge { needs, .. }) => assert_eq!(needs, 1025),
        other => panic!(
            "expected TooLarge, got {:?}",
            other.map(|o| o.kernel_variant)
        ),
    }
}

#[test]
fn grids_fold_into_two_dimensions_under_a_small_workgroup_limit() {
    if gpu().is_none() {
        return;
    }
    // 300 workgroups per dimension (the views' pooling at n = 65, m = 128
    // needs 260): the fold over chunks has ⌈lanes/32⌉ = 516 tiles per head
    // at m = dᵥ = 128, so its grid folds part of x into y, per head.
    let small = limited(|l| l.max_compute_workgroups_per_dimension = 300);
    let heads = Heads::generate(InputSource::Gaussian, (65, 128), 3, 0.5, (1, 2));
    for (method, p, kind) in [
        (MethodId::Linear, params(&[]), FeatureKind::Elu),
        (
            MethodId::Performer,
            params(&[("features", 128)]),
            FeatureKind::Favor,
        ),
    ] {
        for causal in [false, true] {
            let config = Config {
                causal,
                seed: 9,
                params: &p,
            };
            let g = Geometry::new(kind, 2, (65, 128, 128), 128, causal, u64::MAX);
            let grids = g.check(&small).unwrap();
            assert!(g.folds(), "{g:?}");
            assert_eq!(grids.fold, (300, 4), "{grids:?}");
            let what = format!("{} causal={causal} under 300 workgroups", method.key());
            let out = run_heads(&small, method, &heads, &config)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            check_heads(&what, method, &heads, &config, &out.output);
        }
    }
    // A grid that cannot fold: more heads than the limit allows rows for.
    let many = Geometry::new(FeatureKind::Elu, 301, (64, 4, 4), 4, false, u64::MAX);
    match many.check(&small) {
        Err(GpuError::TooLarge { limit_name, .. }) => {
            assert_eq!(limit_name, "max_compute_workgroups_per_dimension")
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

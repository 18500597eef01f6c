//! Exact attention's GPU kernels (materialising, and fused: flash,
//! register-tiled, simple) against the CPU twin, through wgpu on whatever
//! adapter exists — Mesa's lavapipe in CI (`WGPU_BACKEND=vulkan`). Under
//! `CI=true` a missing adapter fails.
//!
//! Tolerance: |gpu − twin| ≤ 2e-6 + 1e-5·|twin| per element (f32 sums over
//! up to a few hundred keys in different orders).

mod common;

use common::{assert_close, gpu};
use flt_explorer::attention::full::twin_all_rows;
use flt_explorer::data::maps::AttentionMap;
use flt_explorer::gpu::flash_attention;
use flt_explorer::gpu::tiled_attention::TiledTiles;
use flt_explorer::gpu::{FusedChoice, GpuContext, GpuError, GpuRunOptions, MapSource};
use flt_explorer::inputs::{InputSource, Inputs};
use ndarray::Array2;

const ATOL: f32 = 2e-6;
const RTOL: f32 = 1e-5;

/// Exact attention on the GPU for these inputs.
async fn run(
    ctx: &GpuContext,
    x: &Inputs,
    causal: bool,
    options: &GpuRunOptions,
) -> Result<flt_explorer::gpu::GpuOutput, GpuError> {
    flt_explorer::gpu::full_attention::run(ctx, (&x.q, &x.k, &x.v), causal, options).await
}

/// The pooled weights of a run.
fn weights(out: &flt_explorer::gpu::GpuOutput) -> &AttentionMap {
    out.artifacts
        .weights()
        .expect("exact attention pools its weights")
}

fn options() -> GpuRunOptions {
    GpuRunOptions {
        repeats: 2,
        ..Default::default()
    }
}

/// Runs every fused GPU kernel (flash, register-tiled, simple) and the
/// materialising path, and compares each with the CPU twin.
fn check(ctx: &GpuContext, x: &Inputs, causal: bool) {
    let what = format!("n={} d={} dv={} causal={causal}", x.n(), x.d(), x.dv());
    let twin = twin_all_rows(x.q.view(), x.k.view(), x.v.view(), causal);
    let with = |fused| GpuRunOptions { fused, ..options() };
    for options in [
        options(),
        with(FusedChoice::Tiled),
        with(FusedChoice::Simple),
    ] {
        let out = pollster::block_on(run(ctx, x, causal, &options))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let variant = &out.kernel_variant;
        let tiled_fits = TiledTiles::fits(
            x.d() as u32,
            x.dv() as u32,
            ctx.limits.max_compute_workgroup_storage_size,
        );
        let flash_covers = flash_attention::covers(ctx, x.d(), x.dv());
        let expect = match options.fused {
            FusedChoice::Auto if flash_covers => "flash",
            FusedChoice::Simple => "simple",
            _ if tiled_fits => "register-tiled",
            _ => "simple",
        };
        assert!(
            variant.starts_with(expect),
            "{what}: {variant}, expected {expect}"
        );
        assert_close(
            &format!("fused ({variant}), {what}"),
            &out.output,
            &twin,
            ATOL,
            RTOL,
        );
        let (name, materialized) = &out.other_outputs[0];
        assert_eq!(name, "materialized");
        assert_close(
            &format!("materialized, {what}"),
            materialized,
            &twin,
            ATOL,
            RTOL,
        );
        assert_eq!(out.timed.samples.len(), options.repeats as usize);
        assert!(out.timed.samples[0] > 0.0);
        // The materialising path is timed like the fused kernel: the same
        // repeats after a warm-up, and their median — never one cold run.
        let stage = &out.stages[0];
        assert!(stage.name.starts_with("materialized"), "{}", stage.name);
        assert_eq!(stage.time_ms_samples.len(), options.repeats as usize);
        assert_eq!(
            stage.time_ms,
            flt_explorer::data::timing::median(&stage.time_ms_samples)
        );
        // The simple kernel reports its own executed work.
        if options.fused == FusedChoice::Simple {
            let (flops, bytes) = out
                .executed
                .as_ref()
                .expect("the simple kernel's own count");
            assert!(flops.formula.contains("fused_simple") && bytes.value > 0);
        }
    }
}

#[test]
fn both_kernels_match_the_cpu_twin_on_odd_shapes() {
    let Some(ctx) = gpu() else { return };
    for n in [1, 7, 203] {
        for d in [1, 40] {
            for causal in [false, true] {
                check(&ctx, &Inputs::seeded(n, d, 11 + n as u64), causal);
            }
        }
    }
}

#[test]
fn wide_heads_and_values_of_their_own_width() {
    let Some(ctx) = gpu() else { return };
    // d = dv = 256 (the simple kernel: four output columns per thread) and
    // d = dv = 128 (the tiled kernel at its widest: four vec4 columns).
    check(&ctx, &Inputs::seeded(70, 256, 5), true);
    check(&ctx, &Inputs::seeded(70, 128, 6), false);
    // V narrower and wider than Q/K.
    let x = Inputs::seeded(65, 9, 2);
    for dv in [1, 6, 100, 130] {
        let v = Array2::from_shape_fn((65, dv), |(i, j)| ((i * 7 + j * 3) % 11) as f32 / 5.0 - 1.0);
        let y = Inputs::from_arrays(x.q.clone(), x.k.clone(), v, InputSource::Npy).unwrap();
        check(&ctx, &y, false);
        check(&ctx, &y, true);
    }
}

#[test]
fn the_map_pooled_from_row_statistics_equals_the_pooled_matrix() {
    let Some(ctx) = gpu() else { return };
    for (n, causal) in [(203, false), (1030, true)] {
        let x = Inputs::seeded(n, 16, 3);
        let from_matrix = pollster::block_on(run(&ctx, &x, causal, &options())).unwrap();
        let fused_only = GpuRunOptions {
            map_source: MapSource::FusedStats,
            ..options()
        };
        let from_stats = pollster::block_on(run(&ctx, &x, causal, &fused_only)).unwrap();
        assert!(
            from_stats.other_outputs.is_empty(),
            "the materialising path must not run"
        );
        let (a, b) = (weights(&from_matrix), weights(&from_stats));
        assert_eq!((a.factor, a.cells), AttentionMap::geometry(n));
        assert_eq!((a.factor, a.cells), (b.factor, b.cells));
        for (i, (u, v)) in a.values.iter().zip(&b.values).enumerate() {
            assert!(
                (u - v).abs() <= 1e-6 + 1e-4 * v.abs(),
                "n={n} cell {i}: {u} vs {v}"
            );
        }
        // Rows of P sum to 1, so Σ_b cell(a, b)·width(b) = 1 for every block-row a.
        for row in 0..a.cells {
            let total: f32 = (0..a.cells)
                .map(|b| a.at(row, b) * (n - b * a.factor).min(a.factor) as f32)
                .sum();
            assert!(
                (total - 1.0).abs() < 1e-4,
                "n={n}: block-row {row} sums to {total}"
            );
        }
    }
}

#[test]
fn the_unpooled_map_is_the_attention_matrix() {
    let Some(ctx) = gpu() else { return };
    let x = Inputs::seeded(37, 8, 4);
    let out = pollster::block_on(run(&ctx, &x, true, &options())).unwrap();
    assert_eq!((weights(&out).factor, weights(&out).cells), (1, 37));
    let map = Array2::from_shape_vec((37, 37), weights(&out).values.clone()).unwrap();
    let twin =
        flt_explorer::attention::full::FullTwin::new(x.q.view(), x.k.view(), x.v.view(), true);
    let mut weights = Array2::<f32>::zeros((37, 37));
    let mut o = Array2::zeros((37, 8));
    use flt_explorer::attention::RowKernel;
    twin.compute_rows(
        0..37,
        o.view_mut(),
        Some(&mut |i, w: &[f32]| weights.row_mut(i).assign(&ndarray::aview1(w))),
    );
    assert_close("map vs twin weights", &map, &weights, 1e-6, 1e-5);
}

#[test]
fn huge_logits_stay_finite() {
    let Some(ctx) = gpu() else { return };
    let mut x = Inputs::seeded(150, 32, 9);
    x.q *= 300.0; // logits of order 1e3: exp would overflow without the max subtraction
    let v_max = x.v.iter().fold(0f32, |m, v| m.max(v.abs()));
    let rows: Vec<usize> = (0..150).collect();
    for causal in [false, true] {
        let out = pollster::block_on(run(&ctx, &x, causal, &options())).unwrap();
        assert!(weights(&out).values.iter().all(|v| v.is_finite()));
        // Outputs are convex combinations of value rows.
        assert!(
            out.output
                .iter()
                .all(|o| o.is_finite() && o.abs() <= v_max * (1.0 + 1e-5))
        );
        // Logits this large lose ~|s|·2⁻²⁴ ≈ 1e-4 to f32 rounding, which exp
        // turns into ~1e-4 relative weight error: compare at that level.
        let exact = flt_explorer::attention::full::reference_rows(
            x.q.view(),
            x.k.view(),
            x.v.view(),
            causal,
            &rows,
        );
        let e = flt_explorer::data::stats::errors(out.output.view(), exact.view());
        assert!(e.rel_err < 1e-3, "causal={causal}: rel_err {}", e.rel_err);
    }
}

#[test]
fn limits_are_checked_before_allocating() {
    let Some(_) = gpu() else { return };
    let adapter = pollster::block_on(GpuContext::adapter()).unwrap();
    let mut limits = adapter.limits();
    limits.max_storage_buffer_binding_size = 3 << 20;
    let small = pollster::block_on(GpuContext::with_limits(&adapter, limits.clone())).unwrap();

    // 1024² scores (4 MiB) do not fit 3 MiB: the fused path runs alone and says so.
    let x = Inputs::seeded(1024, 8, 1);
    let out = pollster::block_on(run(&small, &x, false, &options())).unwrap();
    assert!(out.other_outputs.is_empty());
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("max_storage_buffer_binding_size")),
        "{:?}",
        out.notes
    );
    assert_close(
        "fused under small limits",
        &out.output,
        &twin_all_rows(x.q.view(), x.k.view(), x.v.view(), false),
        ATOL,
        RTOL,
    );

    // Q itself (4096 × 256 × 4 = 4 MiB) does not fit: a clear error, no allocation.
    let big = Inputs::seeded(4096, 256, 1);
    match pollster::block_on(run(&small, &big, false, &options())) {
        Err(GpuError::TooLarge {
            limit_name,
            needs,
            unit,
            ..
        }) => {
            assert_eq!(limit_name, "max_storage_buffer_binding_size");
            assert_eq!((needs, unit), (4096 * 256 * 4, "bytes"));
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }

    // Too little workgroup memory for the fused kernel at d = 256.
    limits.max_storage_buffer_binding_size = adapter.limits().max_storage_buffer_binding_size;
    limits.max_compute_workgroup_storage_size = 1024;
    let tiny = pollster::block_on(GpuContext::with_limits(&adapter, limits)).unwrap();
    let err =
        pollster::block_on(run(&tiny, &Inputs::seeded(8, 256, 1), false, &options())).unwrap_err();
    assert!(
        err.to_string()
            .contains("max_compute_workgroup_storage_size"),
        "{err}"
    );
}

//! The low-rank and kernel methods on the GPU against their CPU twins,
//! through wgpu on whatever adapter exists (lavapipe in CI; with `CI=true` a
//! missing adapter fails): outputs, the implied attention maps pooled on the
//! GPU, and the factor views.
//!
//! Tolerance: |gpu − twin| ≤ 2e-5 + 1e-4·|twin| per element for the
//! factored methods (several f32 matrix products in different orders, and
//! for Nyström an iteration that magnifies rounding), 2e-6 + 1e-5·|twin| for
//! the Synthesizers (one fused softmax).

mod common;

use common::{Pair, assert_close, gpu, params, run_pair};
use flt_explorer::attention::{Config, MethodId, ParamValues};
use flt_explorer::gpu::{GpuContext, GpuRunOptions};
use flt_explorer::inputs::{InputSource, Inputs};
use flt_explorer::measure::MapPooler;
use ndarray::Array2;

fn check(
    ctx: &GpuContext,
    method: MethodId,
    x: &Inputs,
    p: &ParamValues,
    causal: bool,
    tol: (f32, f32),
) {
    let mut pooler = MapPooler::new(x.n());
    let Pair {
        what,
        gpu: out,
        twin,
        expect,
    } = run_pair(
        ctx,
        method,
        x,
        p,
        causal,
        7,
        Some(&mut |i, w: &[f32]| pooler.add_row(i, w)),
    );
    assert_close(
        &format!("output, {what}"),
        &out.output,
        &expect,
        tol.0,
        tol.1,
    );
    let cpu_map = pooler.finish();
    let (gpu_map, cpu_values) = (
        Array2::from_shape_vec((out.map.cells, out.map.cells), out.map.values.clone()).unwrap(),
        Array2::from_shape_vec((cpu_map.cells, cpu_map.cells), cpu_map.values.clone()).unwrap(),
    );
    assert_close(
        &format!("implied map, {what}"),
        &gpu_map,
        &cpu_values,
        tol.0,
        tol.1,
    );
    let (g, c) = (
        out.factor_map.expect("GPU factor view"),
        twin.factor_map().expect("twin factor view"),
    );
    assert_eq!(
        (g.rows, g.cols, &g.title),
        (c.rows, c.cols, &c.title),
        "{what}"
    );
    for (a, b) in g.values.iter().zip(&c.values) {
        assert!(
            (a - b).abs() <= tol.0 + tol.1 * b.abs(),
            "factor view, {what}: {a} vs {b}"
        );
    }
}

const FACTORED: (f32, f32) = (2e-5, 1e-4);

#[test]
fn kernel_methods_match_their_twins() {
    let Some(ctx) = gpu() else { return };
    for (n, d) in [(7, 1), (203, 40), (130, 16)] {
        let x = Inputs::generate(InputSource::Gaussian, n, d, 3 + n as u64, 0.5);
        for causal in [false, true] {
            check(&ctx, MethodId::Linear, &x, &params(&[]), causal, FACTORED);
            check(
                &ctx,
                MethodId::Cosformer,
                &x,
                &params(&[]),
                causal,
                FACTORED,
            );
            check(
                &ctx,
                MethodId::Performer,
                &x,
                &params(&[("features", 33)]),
                causal,
                FACTORED,
            );
        }
    }
}

#[test]
fn low_rank_methods_match_their_twins() {
    let Some(ctx) = gpu() else { return };
    for (n, d) in [(7, 1), (203, 40), (130, 16)] {
        let x = Inputs::generate(InputSource::LowRank, n, d, 5 + n as u64, 1.0);
        check(
            &ctx,
            MethodId::Linformer,
            &x,
            &params(&[("proj-dim", 13)]),
            false,
            FACTORED,
        );
        check(
            &ctx,
            MethodId::Linformer,
            &x,
            &params(&[("proj-dim", 8), ("share-ef", 1)]),
            false,
            FACTORED,
        );
        check(
            &ctx,
            MethodId::Nystrom,
            &x,
            &params(&[("landmarks", 5.min(n as u64)), ("pinv-iters", 6)]),
            false,
            FACTORED,
        );
        for causal in [false, true] {
            check(
                &ctx,
                MethodId::SynthesizerDense,
                &x,
                &params(&[("hidden", 24)]),
                causal,
                (2e-6, 1e-5),
            );
            check(
                &ctx,
                MethodId::SynthesizerRandom,
                &x,
                &params(&[("rank", 9)]),
                causal,
                (2e-6, 1e-5),
            );
        }
    }
}

#[test]
fn nystrom_with_n_landmarks_is_exact_on_the_gpu() {
    let Some(ctx) = gpu() else { return };
    let x = Inputs::generate(InputSource::Gaussian, 48, 8, 9, 0.5);
    let p = params(&[("landmarks", 48), ("pinv-iters", 30)]);
    let config = Config {
        causal: false,
        seed: 1,
        params: &p,
    };
    let out = pollster::block_on(MethodId::Nystrom.method().run_gpu(
        &ctx,
        &x,
        &config,
        &GpuRunOptions {
            repeats: 1,
            ..Default::default()
        },
    ))
    .unwrap();
    let exact =
        flt_explorer::attention::full::twin_all_rows(x.q.view(), x.k.view(), x.v.view(), false);
    assert_close("Nyström, L = n", &out.output, &exact, 1e-3, 1e-3);
}

#[test]
fn pooled_implied_maps_at_large_n_use_block_sums() {
    let Some(ctx) = gpu() else { return };
    // n = 700: cells of 2×2 pairs with a short last block; causal diagonal cells.
    let x = Inputs::generate(InputSource::Gaussian, 700, 8, 4, 0.5);
    for (method, p, causal) in [
        (MethodId::Linear, params(&[]), true),
        (MethodId::Performer, params(&[("features", 16)]), false),
        (MethodId::Nystrom, params(&[("landmarks", 10)]), false),
    ] {
        let config = Config {
            causal,
            seed: 2,
            params: &p,
        };
        let out = pollster::block_on(method.method().run_gpu(
            &ctx,
            &x,
            &config,
            &GpuRunOptions {
                repeats: 1,
                ..Default::default()
            },
        ))
        .unwrap();
        let twin = method.method().cpu_twin(&x, &config).unwrap();
        let cpu = twin
            .pooled_map()
            .expect("factored twins pool from their factors");
        assert_eq!((out.map.factor, out.map.cells), (2, 350));
        let (g, c) = (
            Array2::from_shape_vec((350, 350), out.map.values.clone()).unwrap(),
            Array2::from_shape_vec((350, 350), cpu.values.clone()).unwrap(),
        );
        assert_close(&format!("{} pooled map", method.key()), &g, &c, 2e-6, 1e-4);
    }
}

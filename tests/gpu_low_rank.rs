//! Identities of the low-rank and kernel methods on the GPU (every method's
//! GPU-vs-twin agreement is in the generated `conformance.rs`): Nyström
//! with n landmarks is exact attention; the implied maps at large n are
//! pooled from block sums of the factors; a validation error in a
//! linear-algebra program is reported by the run that caused it.

mod common;

use common::{assert_close, gpu, params};
use flt_explorer::attention::{Config, MethodId};
use flt_explorer::gpu::GpuRunOptions;
use flt_explorer::inputs::{InputSource, Inputs};
use ndarray::Array2;

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
        let map = out
            .artifacts
            .weights()
            .expect("the GPU pools the implied map");
        assert_eq!((map.factor, map.cells), (2, 350));
        let (g, c) = (
            Array2::from_shape_vec((350, 350), map.values.clone()).unwrap(),
            Array2::from_shape_vec((350, 350), cpu.values.clone()).unwrap(),
        );
        assert_close(&format!("{} pooled map", method.key()), &g, &c, 2e-6, 1e-4);
    }
}

#[test]
fn a_validation_error_is_reported_by_the_run_that_caused_it() {
    let Some(ctx) = gpu() else { return };
    let x = Inputs::generate(InputSource::LowRank, 40, 8, 3, 1.0);
    for (method, p) in [
        (MethodId::Linformer, params(&[("proj-dim", 8)])),
        (MethodId::Nystrom, params(&[("landmarks", 8)])),
        (MethodId::SynthesizerDense, params(&[("hidden", 8)])),
        (MethodId::SynthesizerRandom, params(&[("rank", 8)])),
    ] {
        let config = Config {
            causal: false,
            seed: 1,
            params: &p,
        };
        let faulty = GpuRunOptions {
            repeats: 1,
            inject_fault: true,
            ..Default::default()
        };
        let err = pollster::block_on(method.method().run_gpu(&ctx, &x, &config, &faulty))
            .expect_err("an oversized dispatch must fail the run");
        // Reported by this run, naming its program and the dispatch.
        let message = err.to_string();
        let program = match method {
            MethodId::Linformer => "Linformer attention",
            MethodId::Nystrom => "Nyström attention",
            _ => "Synthesizer attention",
        };
        assert!(
            message.starts_with(&format!("GPU error in {program}"))
                && message.to_lowercase().contains("dispatch"),
            "{}: {message}",
            method.key()
        );
        // The next run is clean: nothing is left for it to be blamed for.
        let clean = GpuRunOptions {
            repeats: 1,
            ..Default::default()
        };
        pollster::block_on(method.method().run_gpu(&ctx, &x, &config, &clean))
            .unwrap_or_else(|e| panic!("{} after a fault: {e}", method.key()));
    }
}

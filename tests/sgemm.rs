//! The tiled SGEMM (`gpu/sgemm.rs`, `sgemm.wgsl`) against its ndarray twin:
//! odd shapes (1, 7, 33, 130, 203 in each of M, N, K), every transposition,
//! a batch of 3 (and one operand shared across it), padded row lengths,
//! each variant forced; the variant chosen by the adapter's limits; the
//! executed counts against a count of the shader's loops; and
//! `flt bench --kernel sgemm`'s output and errors.
//!
//! Tolerance: both the kernel and the twin compute each entry in f32, in
//! different orders, so each is within (γ_K + u)·|α|Σₖ|aₖ||bₖ| of the exact
//! value (Higham §3.1; [`sgemm::tolerance`]) and they differ by at most
//! twice that. Power: dropping the last term of K, or swapping a transpose,
//! leaves entries off by far more (checked below).

mod common;

use common::flt;

use common::{gpu, sgemm_beyond_bound as beyond_bound};
use flt_explorer::gpu::sgemm::{self, Config, Gemm, Variant};
use flt_explorer::gpu::{GpuContext, GpuError, work};
use serde_json::Value;

const SIDES: [u32; 5] = [1, 7, 33, 130, 203];

/// Seeded values in [−1, 1) (a small LCG: the test needs no statistics).
fn values(len: u64, seed: u64) -> Vec<f32> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Runs `gemm` on the GPU with `variant` and checks it against the twin.
fn check(ctx: &GpuContext, gemm: &Gemm, variant: Variant, seed: u64) {
    let a = values(gemm.a_len(), seed);
    let b = values(gemm.b_len(), seed + 1);
    let product = pollster::block_on(sgemm::multiply(ctx, gemm, &a, &b, Some(variant), 1))
        .unwrap_or_else(|e| panic!("{gemm:?} {variant:?}: {e}"));
    assert_eq!(product.variant, variant);
    assert_eq!(
        product.kernel.entry,
        if gemm.vec4_loads() {
            "sgemm_vec4"
        } else {
            "sgemm_scalar"
        }
    );
    let expect = sgemm::twin(gemm, &a, &b);
    let (count, worst) = beyond_bound(gemm, &a, &b, &product.c, &expect);
    assert_eq!(
        count, 0,
        "{variant:?} {gemm:?}: {count} entries beyond the bound (worst {worst:.1}×)"
    );
}

/// Shapes in which each of M, N and K takes every value of SIDES.
fn odd_shapes() -> Vec<(u32, u32, u32)> {
    (0..SIDES.len())
        .map(|i| (SIDES[i], SIDES[(i + 1) % 5], SIDES[(i + 2) % 5]))
        .collect()
}

const TRANSPOSES: [(bool, bool); 4] = [(false, false), (true, false), (false, true), (true, true)];

#[test]
fn odd_shapes_match_the_twin_in_every_variant_and_transposition() {
    let Some(ctx) = gpu() else { return };
    for variant in Variant::ALL {
        for (ta, tb) in TRANSPOSES {
            for (i, &(m, n, k)) in odd_shapes().iter().enumerate() {
                let gemm = Gemm::packed(m, n, k, 3, ta, tb).unwrap();
                check(&ctx, &gemm, variant, i as u64);
            }
        }
    }
}

#[test]
fn vec4_loads_match_the_twin_with_padded_rows_and_a_shared_operand() {
    let Some(ctx) = gpu() else { return };
    for variant in Variant::ALL {
        for (ta, tb) in TRANSPOSES {
            // Packed with every side a multiple of 4 except where the vec4
            // runs along a padded row: M = 130, N = 33 with row lengths 132
            // and 36, so vec4s reach past M and N into the padding.
            let (m, n, k) = (130, 33, 36);
            let mut gemm = Gemm::packed(m, n, k, 3, ta, tb).unwrap();
            gemm.lda = if ta { 132 } else { 40 };
            gemm.ldb = if tb { 44 } else { 36 };
            gemm.ldc = 37;
            let (a_rows, _) = gemm.a_stored();
            let (b_rows, _) = gemm.b_stored();
            gemm.stride_a = a_rows * gemm.lda + 8;
            // B shared by the batch.
            gemm.stride_b = 0;
            gemm.stride_c = m * gemm.ldc + 3;
            gemm.alpha = -0.75;
            assert!(gemm.vec4_loads(), "{gemm:?}");
            assert!(gemm.b_len() == (b_rows * gemm.ldb) as u64);
            check(&ctx, &gemm, variant, 7);
        }
    }
    // K not a multiple of 4 along a row of A: scalar loads, still exact.
    let gemm = Gemm::packed(8, 8, 7, 1, false, false).unwrap();
    assert!(!gemm.vec4_loads());
    check(&ctx, &gemm, Variant::Large, 3);
}

#[test]
fn every_configuration_matches_the_twin() {
    // Each configuration one build can compile (K-step, buffers, warp
    // layout, checks), in every variant the adapter's limits allow, on odd
    // shapes through both loads and every transposition: a wrong index in
    // a step's rows, a buffer read before it is stored or a missed barrier
    // shows up as entries far beyond the bound.
    let Some(ctx) = gpu() else { return };
    let default = Variant::Large.describe_with(Config::DEFAULT);
    assert!(
        default.contains("K-step 16") && default.contains("16 KiB"),
        "{default}"
    );
    for &(key, config) in sgemm::CANDIDATES {
        for variant in Variant::ALL {
            if variant.check_with(&ctx.limits, config).is_err() {
                continue;
            }
            for (i, (ta, tb)) in TRANSPOSES.into_iter().enumerate() {
                for (m, n, k) in [(130, 33, 203), (132, 36, 44)] {
                    let gemm = Gemm::packed(m, n, k, 2, ta, tb).unwrap();
                    let a = values(gemm.a_len(), i as u64);
                    let b = values(gemm.b_len(), 9);
                    let product = pollster::block_on(sgemm::multiply_with(
                        &ctx,
                        &gemm,
                        &a,
                        &b,
                        Some(variant),
                        config,
                        1,
                    ))
                    .unwrap_or_else(|e| panic!("{key} {variant:?} {gemm:?}: {e}"));
                    assert_eq!(product.config, config);
                    let expect = sgemm::twin(&gemm, &a, &b);
                    let (count, worst) = beyond_bound(&gemm, &a, &b, &product.c, &expect);
                    assert_eq!(
                        count, 0,
                        "{key} {variant:?} {gemm:?}: {count} entries beyond the bound (worst {worst:.1}×)"
                    );
                }
            }
        }
    }
}

#[test]
fn each_module_sets_its_variants_constants_and_nothing_else() {
    // The template as shipped (build.rs strips its comments).
    let template = sgemm::SGEMM_VEC4.module.text;
    for &(key, config) in sgemm::CANDIDATES {
        for variant in Variant::ALL {
            let text = sgemm::generate(variant, config);
            let expect = [
                format!("const TILE: u32 = {}u;", variant.tile()),
                format!("const BLOCKS: u32 = {}u;", variant.per_thread() / 4),
                format!("const BK: u32 = {}u;", config.k_step),
                format!("const STAGES: u32 = {}u;", config.stages),
                format!("const LANES_2D: bool = {};", config.lanes_2d),
                format!("const FUSED: bool = {};", config.fused),
            ];
            for e in &expect {
                assert_eq!(
                    text.lines().filter(|l| l.starts_with(e.as_str())).count(),
                    1,
                    "{key} {variant:?}: {e}"
                );
            }
            let changed = template
                .lines()
                .zip(text.lines())
                .filter(|(t, g)| t != g)
                .count();
            assert!(
                changed <= expect.len(),
                "{key} {variant:?}: {changed} lines"
            );
            assert_eq!(template.lines().count(), text.lines().count());
        }
    }
}

#[test]
fn the_bound_catches_a_dropped_term_and_a_wrong_transpose() {
    // Power of the tolerance, on the CPU: the twin against itself with the
    // last term of K dropped, and with B read untransposed.
    let gemm = Gemm::packed(33, 7, 130, 3, false, true).unwrap();
    let a = values(gemm.a_len(), 1);
    let b = values(gemm.b_len(), 2);
    let expect = sgemm::twin(&gemm, &a, &b);
    assert_eq!(beyond_bound(&gemm, &a, &b, &expect, &expect).0, 0);
    let mut short = a.clone();
    for row in 0..(33 * 3) {
        short[row * 130 + 129] = 0.0;
    }
    let dropped = sgemm::twin(&gemm, &short, &b);
    assert!(beyond_bound(&gemm, &a, &b, &dropped, &expect).0 > 100);
    let square = Gemm::packed(33, 33, 33, 1, false, true).unwrap();
    let (a, b) = (values(33 * 33, 3), values(33 * 33, 4));
    let wrong = sgemm::twin(
        &Gemm {
            trans_b: false,
            ..square
        },
        &a,
        &b,
    );
    let expect = sgemm::twin(&square, &a, &b);
    assert!(beyond_bound(&square, &a, &b, &wrong, &expect).0 > 500);
}

#[test]
fn the_variant_is_chosen_by_the_shape_within_the_limits() {
    // By the shape: 128 × 128 tiles from 256 of them (over the batch).
    assert_eq!(Variant::for_shape(2048, 2048, 1), Variant::Large);
    assert_eq!(Variant::for_shape(1920, 2048, 1), Variant::Small);
    assert_eq!(Variant::for_shape(1024, 1024, 4), Variant::Large);
    assert_eq!(Variant::for_shape(16384, 64, 1), Variant::Small);
    if gpu().is_none() {
        return;
    }
    let adapter = pollster::block_on(GpuContext::adapter()).unwrap();
    let with = |bytes: u32, threads: u32| wgpu::Limits {
        max_compute_workgroup_storage_size: bytes,
        max_compute_invocations_per_workgroup: threads,
        ..adapter.limits()
    };
    // By the limits: every variant fits WebGPU's defaults (16 KiB, 256
    // threads); less memory or fewer threads fall back.
    for (limits, expect) in [
        (with(16384, 256), Variant::Large),
        (with(8192, 256), Variant::Medium),
        (with(16384, 128), Variant::Medium),
        (with(4096, 256), Variant::Small),
    ] {
        assert_eq!(Variant::largest(&limits).unwrap(), expect, "{limits:?}");
        assert_eq!(Variant::choose(&limits, 4096, 4096, 1).unwrap(), expect);
        assert_eq!(
            Variant::choose(&limits, 33, 130, 1).unwrap(),
            Variant::Small
        );
        let ctx = pollster::block_on(GpuContext::with_limits(&adapter, limits)).unwrap();
        // The automatic choice runs and is exact; a larger one is refused
        // before anything is allocated, naming the limit.
        let gemm = Gemm::packed(33, 130, 7, 1, false, false).unwrap();
        let (a, b) = (values(gemm.a_len(), 5), values(gemm.b_len(), 6));
        let product = pollster::block_on(sgemm::multiply(&ctx, &gemm, &a, &b, None, 1)).unwrap();
        assert_eq!(product.variant, Variant::Small);
        let (count, _) = beyond_bound(&gemm, &a, &b, &product.c, &sgemm::twin(&gemm, &a, &b));
        assert_eq!(count, 0);
        if expect != Variant::Large {
            let err = pollster::block_on(sgemm::multiply(
                &ctx,
                &gemm,
                &a,
                &b,
                Some(Variant::Large),
                1,
            ))
            .expect_err("the large variant needs 16 KiB and 256 threads");
            assert!(
                matches!(err, GpuError::TooLarge { .. })
                    && err.to_string().contains("max_compute_"),
                "{err}"
            );
        }
    }
    assert!(matches!(
        Variant::largest(&with(2048, 256)),
        Err(GpuError::TooLarge { .. })
    ));
}

#[test]
fn inconsistent_products_are_refused_with_a_message() {
    let Some(ctx) = gpu() else { return };
    let gemm = Gemm::packed(8, 8, 8, 2, false, false).unwrap();
    let short = values(gemm.a_len() - 1, 1);
    let b = values(gemm.b_len(), 2);
    let err = pollster::block_on(sgemm::multiply(&ctx, &gemm, &short, &b, None, 1)).unwrap_err();
    assert!(err.to_string().contains("A has 127 values"), "{err}");
    let bad = Gemm { lda: 4, ..gemm };
    let err = pollster::block_on(sgemm::multiply(&ctx, &bad, &short, &b, None, 1)).unwrap_err();
    assert!(err.to_string().contains("lda = 4"), "{err}");
    let overlapping = Gemm {
        stride_c: 10,
        ..gemm
    };
    assert!(overlapping.validate().unwrap_err().contains("overlap"));
    assert!(Gemm::packed(1 << 17, 1 << 16, 1, 1, false, false).is_none());
}

/// FLOPs and bytes of `sgemm.wgsl` counted by walking its loops: every
/// workgroup's threads, every K-step, every guarded load and store.
fn walked(m: u64, n: u64, k: u64, variant: Variant) -> (u64, u64) {
    let (t, r) = (variant.tile() as u64, variant.per_thread() as u64);
    let side = t / r;
    let bk = variant.k_step() as u64;
    let steps = k.div_ceil(bk);
    let (mut flops, mut bytes) = (0u64, 0u64);
    for wy in 0..m.div_ceil(t) {
        for wx in 0..n.div_ceil(t) {
            // Loads: each step reads the A rows and B columns of the tile
            // that lie inside the matrices, for the K inside.
            for s in 0..steps {
                let ks = (k - s * bk).min(bk);
                let rows = (m - wy * t).min(t);
                let cols = (n - wx * t).min(t);
                bytes += 4 * ks * (rows + cols);
            }
            for ty in 0..side {
                for tx in 0..side {
                    flops += steps * bk * r * r * 2;
                    // Stores: rows inside M scale 4 columns per vector.
                    for h in 0..r / 4 {
                        for i in 0..4 {
                            let row = wy * t + h * (t / (r / 4)) + 4 * ty + i;
                            if row < m {
                                flops += 4 * (r / 4);
                                for g in 0..r / 4 {
                                    for j in 0..4 {
                                        let col = wx * t + g * (t / (r / 4)) + 4 * tx + j;
                                        bytes += 4 * (col < n) as u64;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    (flops, bytes)
}

#[test]
fn executed_counts_match_the_shaders_loops() {
    for variant in Variant::ALL {
        for &(m, n, k) in &odd_shapes() {
            let (m, n, k) = (m as u64, n as u64, k as u64);
            assert_eq!(
                work::sgemm(m, n, k, 1, variant),
                walked(m, n, k, variant),
                "{variant:?} {m}×{n}×{k}"
            );
            let (f, b) = work::sgemm(m, n, k, 3, variant);
            let (f1, b1) = walked(m, n, k, variant);
            assert_eq!((f, b), (3 * f1, 3 * b1));
        }
    }
}

fn refused(args: &[&str], needle: &str) {
    let o = flt(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: «{needle}» not in «{err}»");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

#[test]
fn bench_kernel_sgemm_prints_its_measurement() {
    let mut backends = vec!["cpu"];
    if gpu().is_some() {
        backends.push("gpu");
    }
    for backend in backends {
        let o = flt(&[
            "bench",
            "--kernel",
            "sgemm",
            "--n",
            "130",
            "--m",
            "33",
            "--k",
            "203",
            "--transpose",
            "b",
            "--repeats",
            "3",
            "--backend",
            backend,
            "--json",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
        assert_eq!(v["kernel"], "sgemm");
        assert_eq!(v["schema"], "flt.sgemm.v1");
        assert_eq!(
            (v["m"].as_u64(), v["n"].as_u64(), v["k"].as_u64()),
            (Some(33), Some(130), Some(203))
        );
        assert_eq!(v["transpose"], "b");
        assert_eq!(v["backend"], backend);
        assert_eq!(v["ms"], v["time_ms"]);
        assert_eq!(v["time_ms_samples"].as_array().map(Vec::len), Some(3));
        let ms = v["ms"].as_f64().unwrap();
        let tflops = v["tflops"].as_f64().unwrap();
        assert!(ms > 0.0);
        assert!((tflops - 2.0 * 33.0 * 130.0 * 203.0 / (ms * 1e9)).abs() <= 1e-9 * tflops.max(1.0));
        assert!(v["adapter"].as_str().is_some_and(|a| !a.is_empty()));
        assert_eq!(v["checked_entries"], 64);
        assert_eq!(v["within_bound"], true);
        let err = v["max_abs_err"].as_f64().unwrap();
        assert!(err > 0.0 && err < 1e-4, "max_abs_err {err}");
        if backend == "gpu" {
            // 33 × 130 packed, Bᵀ along K = 203: scalar loads.
            assert_eq!(v["entry"], "sgemm_scalar");
            assert!(v["flops_executed"].as_u64().unwrap() >= 2 * 33 * 130 * 203);
        }
    }
    // The readable summary.
    let o = flt(&[
        "bench",
        "--kernel",
        "sgemm",
        "--n",
        "16",
        "--backend",
        "cpu",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && text.contains("TFLOP/s") && text.contains("K·ε bound"),
        "{text}"
    );
}

#[test]
fn bench_kernel_flags_are_checked() {
    refused(
        &["bench", "--kernel", "sgemm", "--methods", "full"],
        "--methods does not apply to --kernel sgemm",
    );
    refused(
        &["bench", "--kernel", "sgemm", "--d", "8"],
        "--d does not apply",
    );
    refused(
        &["bench", "--kernel", "sgemm", "--causal"],
        "--causal does not apply",
    );
    refused(
        &["bench", "--kernel", "sgemm", "--proj-dim", "8"],
        "--proj-dim does not apply",
    );
    refused(&["bench", "--m", "8"], "--m applies to --kernel sgemm only");
    refused(
        &["bench", "--methods", "full", "--variant", "small"],
        "--variant applies to --kernel sgemm only",
    );
    refused(
        &["bench", "--kernel", "sgemm", "--n", "8,16"],
        "give one --n",
    );
    refused(
        &["bench", "--kernel", "sgemm", "--n", "0"],
        "--n: 0 is not a size",
    );
    refused(
        &["bench", "--kernel", "sgemm", "--n", "x"],
        "--n: x is not a size",
    );
    refused(&["bench", "--kernel", "sgemm", "--k", "0"], "--k");
    refused(&["bench", "--kernel", "gemm"], "invalid value 'gemm'");
    refused(
        &["bench", "--kernel", "sgemm", "--variant", "huge"],
        "invalid value 'huge'",
    );
    refused(&["bench", "--kernel", "sgemm", "--seed", "x"], "--seed");
    refused(
        &[
            "bench",
            "--kernel",
            "sgemm",
            "--n",
            "65536",
            "--m",
            "65536",
            "--backend",
            "cpu",
        ],
        "at most 1073741824 fit one buffer",
    );
    refused(
        &[
            "bench",
            "--kernel",
            "sgemm",
            "--n",
            "8",
            "--variant",
            "small",
            "--backend",
            "cpu",
        ],
        "--variant chooses a GPU tiling",
    );
    if gpu().is_some() {
        // Larger than this adapter's storage bindings: refused before any
        // work (lavapipe: 128 MiB; an H200: 4 GiB, where 2³⁰ values pass).
        let o = flt(&[
            "bench",
            "--kernel",
            "sgemm",
            "--n",
            "32768",
            "--m",
            "32768",
            "--k",
            "1",
            "--backend",
            "gpu",
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        if !o.status.success() {
            assert_eq!(o.status.code(), Some(2), "{err}");
            assert!(err.contains("max_storage_buffer_binding_size"), "{err}");
        }
    }
}

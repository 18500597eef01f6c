//! The flash kernel (`gpu/flash_attention.rs`) against exact attention in
//! f64 (`attention::full::reference_rows`), through wgpu on whatever adapter
//! exists — Mesa's lavapipe in CI. Under `CI=true` a missing adapter fails.
//!
//! Tolerance: |gpu − exact| ≤ 2e-6 + 1e-5·|exact| per element, as for the
//! other exact kernels (f32 sums over a few hundred keys in another order).
//!
//! What each test would catch:
//! * odd shapes, causal or not, one and three heads: a wrong mask on the
//!   diagonal or last tile, a head offset (head h reading head 0's keys), a
//!   padding column leaking into the scores (d = 1, 40), rows past n;
//! * every candidate forced once: a configuration whose tiles, threads or
//!   reductions are wrong (each is a distinct specialisation of the shader);
//! * the subgroup and workgroup-memory reductions: both run and agree;
//! * the compact layout (permuted slots, P over K): the same output as the
//!   padded one, bit for bit — a slot permutation that leaves its row, or P
//!   written before every thread has read K, changes it;
//! * huge logits: an exponent taken before the maximum is subtracted;
//! * the autotuner: a cache that does not round-trip or trusts a corrupt or
//!   stale file; a tuner that does not time every candidate or does not pick
//!   the fastest.

mod common;

use common::gpu;
use flt_explorer::attention::full::reference_rows;
use flt_explorer::gpu::autotune::{self, CacheFile, Tuned};
use flt_explorer::gpu::flash_attention::{self, FlashConfig, FlashShape};
use flt_explorer::gpu::{Autotune, GpuContext, GpuError, GpuRunOptions};
use flt_explorer::inputs::Inputs;

const ATOL: f64 = 2e-6;
const RTOL: f64 = 1e-5;

/// `heads` seeded heads of n × d (V of width d), stacked.
fn heads(count: usize, n: usize, d: usize, seed: u64) -> Vec<Inputs> {
    (0..count)
        .map(|h| Inputs::seeded(n, d, seed + 101 * h as u64))
        .collect()
}

fn stack(xs: &[Inputs], pick: fn(&Inputs) -> &ndarray::Array2<f32>) -> Vec<f32> {
    xs.iter().flat_map(|x| pick(x).iter().copied()).collect()
}

fn options(flash: Option<FlashConfig>) -> GpuRunOptions {
    GpuRunOptions {
        repeats: 1,
        flash,
        ..Default::default()
    }
}

/// Runs the flash kernel on `xs` and compares every head with the f64
/// reference; returns the output.
fn check(
    ctx: &GpuContext,
    xs: &[Inputs],
    causal: bool,
    flash: Option<FlashConfig>,
    tolerance: (f64, f64),
) -> Vec<f32> {
    let (n, d, dv) = (xs[0].n(), xs[0].d(), xs[0].dv());
    let shape = FlashShape::square(xs.len(), n, d, dv, causal);
    let (q, k, v) = (
        stack(xs, |x| &x.q),
        stack(xs, |x| &x.k),
        stack(xs, |x| &x.v),
    );
    let what = format!(
        "heads={} n={n} d={d} causal={causal} {}",
        xs.len(),
        flash.map(|c| c.name()).unwrap_or("default".into())
    );
    let run = pollster::block_on(flash_attention::run_heads(
        ctx,
        shape,
        (&q, &k, &v),
        &options(flash),
    ))
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(run.output.len(), xs.len() * n * dv, "{what}");
    let rows: Vec<usize> = (0..n).collect();
    for (h, x) in xs.iter().enumerate() {
        let exact = reference_rows(x.q.view(), x.k.view(), x.v.view(), causal, &rows);
        for i in 0..n {
            for c in 0..dv {
                let got = run.output[(h * n + i) * dv + c] as f64;
                let want = exact[[i, c]];
                let bound = tolerance.0 + tolerance.1 * want.abs();
                assert!(
                    got.is_finite() && (got - want).abs() <= bound,
                    "{what}: head {h} row {i} col {c}: {got} vs {want} (tolerance {bound})"
                );
            }
        }
    }
    run.output
}

#[test]
fn odd_shapes_match_the_f64_reference() {
    let Some(ctx) = gpu() else { return };
    for n in [1, 7, 130, 203] {
        for d in [1, 16, 40, 64, 128] {
            for causal in [false, true] {
                for count in [1, 3] {
                    check(
                        &ctx,
                        &heads(count, n, d, 7 + n as u64),
                        causal,
                        None,
                        (ATOL, RTOL),
                    );
                }
            }
        }
    }
}

/// Every candidate of the width bucket of `d`, forced once: causal (the
/// diagonal tiles masked, those below not, the last one partial), and
/// non-causal once per tile shape (the mask code is shared).
fn every_candidate_is_correct(d: usize) {
    let Some(ctx) = gpu() else { return };
    let list = flash_attention::candidates(&ctx, d, d);
    assert!(!list.is_empty(), "d = {d}: no candidate fits {ctx:?}");
    let xs = heads(2, 130, d, 3);
    let tiles = |c: &FlashConfig| {
        (
            c.thread_rows,
            c.thread_cols,
            c.rows_per_thread,
            c.keys_per_thread,
        )
    };
    for (i, config) in list.iter().enumerate() {
        check(&ctx, &xs, true, Some(*config), (ATOL, RTOL));
        if i == 0 || tiles(&list[i - 1]) != tiles(config) {
            check(&ctx, &xs, false, Some(*config), (ATOL, RTOL));
        }
    }
}

#[test]
fn every_candidate_is_correct_up_to_d_32() {
    every_candidate_is_correct(16);
}

#[test]
fn every_candidate_is_correct_up_to_d_64() {
    every_candidate_is_correct(40);
}

#[test]
fn every_candidate_is_correct_up_to_d_128() {
    every_candidate_is_correct(128);
}

#[test]
fn subgroup_and_workgroup_memory_reductions_agree() {
    let Some(ctx) = gpu() else { return };
    let list = flash_attention::candidates(&ctx, 64, 64);
    let shared: Vec<&FlashConfig> = list.iter().filter(|c| !c.subgroups).collect();
    assert!(!shared.is_empty(), "the fallback runs on every adapter");
    let with: Vec<&FlashConfig> = list.iter().filter(|c| c.subgroups).collect();
    match ctx.subgroups {
        Some((min, _)) => {
            assert!(
                !with.is_empty(),
                "subgroups of {min}: some candidate uses them"
            );
            assert!(with.iter().all(|c| c.thread_cols <= min));
        }
        None => {
            assert!(with.is_empty());
            let forced = FlashConfig {
                subgroups: true,
                ..*shared[0]
            };
            let err = forced.check(&ctx, 64, 64).unwrap_err();
            assert!(err.to_string().contains("subgroups"), "{err}");
        }
    }
    // Every tile shape with both reductions where both exist: the outputs agree.
    let xs = heads(1, 203, 64, 5);
    for &c in &with {
        let other = FlashConfig {
            subgroups: false,
            ..*c
        };
        if !list.contains(&other) {
            continue;
        }
        for causal in [false, true] {
            let a = check(&ctx, &xs, causal, Some(*c), (ATOL, RTOL));
            let b = check(&ctx, &xs, causal, Some(other), (ATOL, RTOL));
            let worst = a
                .iter()
                .zip(&b)
                .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(worst <= 1e-6, "{}: subgroup vs shared {worst}", c.name());
        }
    }
}

#[test]
fn compact_and_padded_layouts_agree_bit_for_bit() {
    let Some(ctx) = gpu() else { return };
    // Widths whose rows permute with masks 7 (d = 64: 16 vec4s), 1 (d = 40:
    // 10 vec4s) and 0 (d = 36: 9 vec4s); causal and not, a partial last tile.
    for d in [64, 40, 36] {
        let list = flash_attention::candidates(&ctx, d, d);
        let compact: Vec<&FlashConfig> = list.iter().filter(|c| c.compact).collect();
        assert!(
            !compact.is_empty(),
            "d = {d}: no compact candidate on {ctx:?}"
        );
        let xs = heads(2, 130, d, 13);
        let mut pairs = 0;
        let mut shapes = Vec::new();
        for &c in &compact {
            let padded = c.compacted(false);
            let shape = (
                c.thread_rows,
                c.thread_cols,
                c.rows_per_thread,
                c.keys_per_thread,
            );
            // One pair per tile shape (the masks depend on the shape and d).
            if !list.contains(&padded) || shapes.contains(&shape) {
                continue;
            }
            shapes.push(shape);
            pairs += 1;
            for causal in [false, true] {
                let a = check(&ctx, &xs, causal, Some(*c), (ATOL, RTOL));
                let b = check(&ctx, &xs, causal, Some(padded), (ATOL, RTOL));
                let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
                assert_eq!(differ, 0, "{} at d = {d}: outputs differ", c.name());
            }
        }
        assert!(pairs > 0, "d = {d}: no tile shape fits both layouts");
    }
}

#[test]
fn huge_logits_stay_finite() {
    let Some(ctx) = gpu() else { return };
    let mut xs = heads(2, 150, 32, 9);
    for x in &mut xs {
        x.q *= 300.0; // logits of order 1e3: 2^s overflows without the max
    }
    for causal in [false, true] {
        // Logits this large lose ~|s|·2⁻²⁴ ≈ 1e-4 to f32 rounding, which the
        // exponential turns into ~1e-4 relative weight error.
        check(&ctx, &xs, causal, None, (1e-3, 1e-3));
    }
}

#[test]
fn limits_are_checked_before_allocating() {
    let Some(_) = gpu() else { return };
    let adapter = pollster::block_on(GpuContext::adapter()).unwrap();
    // No configuration fits 4 KiB of workgroup memory: the flash kernel
    // does not cover d = 64 there, and asking for it says why.
    let limits = wgpu::Limits {
        max_compute_workgroup_storage_size: 4096,
        ..adapter.limits()
    };
    let tiny = pollster::block_on(GpuContext::with_limits(&adapter, limits)).unwrap();
    assert!(!flash_attention::covers(&tiny, 64, 64));
    let xs = heads(1, 8, 64, 1);
    let shape = FlashShape::square(1, 8, 64, 64, false);
    let (q, k, v) = (
        stack(&xs, |x| &x.q),
        stack(&xs, |x| &x.k),
        stack(&xs, |x| &x.v),
    );
    let err = pollster::block_on(flash_attention::run_heads(
        &tiny,
        shape,
        (&q, &k, &v),
        &options(None),
    ))
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("max_compute_workgroup_storage_size"),
        "{err}"
    );
    // Storage: 64 heads × 4096 × 64 × 4 bytes = 64 MiB over a 16 MiB binding.
    let limits = wgpu::Limits {
        max_storage_buffer_binding_size: 16 << 20,
        ..adapter.limits()
    };
    let small = pollster::block_on(GpuContext::with_limits(&adapter, limits)).unwrap();
    let big = FlashShape::square(64, 4096, 64, 64, false);
    let zeros = vec![0f32; 64 * 4096 * 64];
    match pollster::block_on(flash_attention::run_heads(
        &small,
        big,
        (&zeros, &zeros, &zeros),
        &options(None),
    )) {
        Err(GpuError::TooLarge { limit_name, .. }) => {
            assert_eq!(limit_name, "max_storage_buffer_binding_size")
        }
        other => panic!("expected TooLarge, got {:?}", other.map(|r| r.variant)),
    }
    // Wider than 128 columns: not covered (the tiled kernels run instead).
    assert!(!flash_attention::covers(&small, 256, 256));
}

#[test]
fn the_autotune_cache_round_trips_and_distrusts_bad_files() {
    let dir = std::env::temp_dir().join(format!("flt-autotune-test-{}", std::process::id()));
    let path = dir.join("flt").join("autotune.json");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(autotune::load(&path), CacheFile::default(), "missing file");
    let tuned = Tuned {
        config: FlashConfig::new((8, 8, 8, 4), true),
        shape: "B·H = 16, n = 4096, d = dᵥ = 64".into(),
        timings: vec![("a".into(), Some(1.5)), ("b".into(), None)],
    };
    let other = Tuned {
        config: FlashConfig::new((16, 8, 2, 2), false),
        ..tuned.clone()
    };
    autotune::store(&path, "gpu | driver | Vulkan | d ≤ 64 | causal", &tuned).unwrap();
    autotune::store(&path, "gpu | driver | Vulkan | d ≤ 128 | causal", &other).unwrap();
    let back = autotune::load(&path);
    assert_eq!(back.version, autotune::CACHE_VERSION);
    assert_eq!(back.entries.len(), 2);
    assert_eq!(
        back.entries["gpu | driver | Vulkan | d ≤ 64 | causal"],
        tuned
    );
    assert_eq!(
        back.entries["gpu | driver | Vulkan | d ≤ 128 | causal"],
        other
    );
    // Replacing a key keeps the others.
    autotune::store(&path, "gpu | driver | Vulkan | d ≤ 64 | causal", &other).unwrap();
    assert_eq!(autotune::load(&path).entries.len(), 2);
    // A corrupt file or another version is not trusted.
    std::fs::write(&path, "{ not json").unwrap();
    assert_eq!(autotune::load(&path), CacheFile::default());
    let mut stale = back.clone();
    stale.version = autotune::CACHE_VERSION + 1;
    std::fs::write(&path, serde_json::to_string(&stale).unwrap()).unwrap();
    assert!(autotune::load(&path).entries.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_tuner_times_every_candidate_and_keeps_the_fastest() {
    let Some(ctx) = gpu() else { return };
    // Off by default: the fixed default runs and says so.
    let xs = heads(1, 33, 16, 2);
    let shape = FlashShape::square(1, 33, 16, 16, true);
    let (q, k, v) = (
        stack(&xs, |x| &x.q),
        stack(&xs, |x| &x.k),
        stack(&xs, |x| &x.v),
    );
    let run = pollster::block_on(flash_attention::run_heads(
        &ctx,
        shape,
        (&q, &k, &v),
        &options(None),
    ))
    .unwrap();
    assert_eq!(run.config, flash_attention::candidates(&ctx, 16, 16)[0]);
    assert!(run.variant.contains("default"), "{}", run.variant);
    // Tuning a tiny shape: every candidate timed, the fastest kept.
    let tuned = pollster::block_on(flash_attention::tune(&ctx, 32, true, (1, 64))).unwrap();
    let list = flash_attention::candidates(&ctx, 32, 32);
    assert_eq!(tuned.timings.len(), list.len());
    let best = tuned
        .timings
        .iter()
        .filter_map(|(name, ms)| ms.map(|ms| (name, ms)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    assert_eq!(best.0, &tuned.config.name());
    assert!(tuned.timings.iter().all(|(_, ms)| ms.is_some()));
    assert!(list.contains(&tuned.config));
    // The context's warm-up is restored after tuning.
    assert_eq!(ctx.warmup_ms.get(), 0);
    // Auto does not tune on a CPU adapter; Force would.
    if ctx.device_type == "Cpu" {
        assert!(Autotune::Auto.applies(&ctx).is_err());
    }
    assert!(Autotune::Force.applies(&ctx).is_ok());
    assert!(Autotune::Off.applies(&ctx).is_err());
}

#[test]
fn full_runs_every_head_in_one_flash_dispatch_through_the_pipeline() {
    use flt_explorer::attention::MethodId;
    use flt_explorer::inputs::InputSource;
    use flt_explorer::pipeline::attention::{AttentionProblem, run};
    use flt_explorer::pipeline::{Backend, Quiet};
    let Some(ctx) = gpu() else { return };
    let backend = Backend::Gpu(std::rc::Rc::new(ctx));
    for causal in [false, true] {
        let mut problem =
            AttentionProblem::seeded(MethodId::Full, InputSource::Gaussian, (70, 24), 4, 1.0)
                .causal(causal)
                .with_heads(2, 3);
        problem.options.repeats = 1;
        problem.gpu_required = true;
        let out = pollster::block_on(run(&problem, &backend, &Quiet)).unwrap();
        let e = &out.envelope;
        assert_eq!(e.backend, "gpu");
        assert!(
            e.kernel_variant.starts_with("flash"),
            "{}",
            e.kernel_variant
        );
        assert_eq!(out.figures.checked_heads, vec![0, 2, 5]);
        // Every head against exact attention in f64 (the pipeline checks
        // only the first, middle and last).
        let output = out.artifacts.output().expect("the output");
        assert_eq!(output.dim(), (6 * 70, 24));
        let heads = problem.heads.as_ref().unwrap();
        let rows: Vec<usize> = (0..70).collect();
        for (h, x) in heads.items.iter().enumerate() {
            let exact = reference_rows(x.q.view(), x.k.view(), x.v.view(), causal, &rows);
            for ((i, c), want) in exact.indexed_iter() {
                let got = output[[h * 70 + i, c]] as f64;
                assert!(
                    (got - want).abs() <= ATOL + RTOL * want.abs(),
                    "causal={causal} head {h} row {i} col {c}: {got} vs {want}"
                );
            }
        }
        assert!(out.figures.rel_err < 1e-5, "{}", out.figures.rel_err);
        // Head 0's weights are pooled on the GPU for the views.
        assert!(out.artifacts.weights().is_some());
    }
}

#[test]
fn a_tuned_choice_is_kept_in_memory_and_in_the_cache_file() {
    use flt_explorer::gpu::autotune::Source;
    use flt_explorer::gpu::flash_attention::Chosen;
    let Some(ctx) = gpu() else { return };
    let dir = std::env::temp_dir().join(format!("flt-autotune-choose-{}", std::process::id()));
    let path = dir.join("autotune.json");
    let _ = std::fs::remove_dir_all(&dir);
    autotune::use_cache_file(Some(path.clone()));
    let shape = FlashShape::square(1, 40, 24, 24, false);
    let forced = GpuRunOptions {
        autotune: Autotune::Force,
        ..options(None)
    };
    let choose = || pollster::block_on(flash_attention::choose(&ctx, shape, &forced)).unwrap();
    let (first, how) = choose();
    assert!(matches!(how, Chosen::Tuned(_)), "{how:?}");
    let (again, how) = choose();
    assert_eq!(again, first);
    assert!(matches!(how, Chosen::Cached(_, Source::Memory)), "{how:?}");
    // A new process (memory forgotten) reads the file.
    let key = autotune::key(&ctx, 32, false);
    assert_eq!(autotune::load(&path).entries[&key].config, first);
    autotune::forget(&key);
    let (from_file, how) = choose();
    assert_eq!(from_file, first);
    assert!(matches!(how, Chosen::Cached(_, Source::File)), "{how:?}");
    // Causal is its own key.
    let (_, how) = pollster::block_on(flash_attention::choose(
        &ctx,
        FlashShape {
            causal: true,
            ..shape
        },
        &forced,
    ))
    .unwrap();
    assert!(matches!(how, Chosen::Tuned(_)), "{how:?}");
    assert_eq!(autotune::load(&path).entries.len(), 2);
    autotune::use_cache_file(None);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Row i of attention over the band |i − j| ≤ W (and j ≤ i when causal) of
/// one head, in f64.
fn banded_reference(x: &Inputs, causal: bool, window: usize, i: usize) -> Vec<f64> {
    let (n, d) = (x.n(), x.d());
    let keys: Vec<usize> = (i.saturating_sub(window)..n.min(i + window + 1))
        .filter(|&j| !causal || j <= i)
        .collect();
    let scale = 1.0 / (d as f64).sqrt();
    let logits: Vec<f64> = keys
        .iter()
        .map(|&j| {
            (0..d)
                .map(|c| x.q[[i, c]] as f64 * x.k[[j, c]] as f64)
                .sum::<f64>()
                * scale
        })
        .collect();
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = logits.iter().map(|s| (s - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut out = vec![0.0; x.dv()];
    for (&j, w) in keys.iter().zip(&weights) {
        for (c, o) in out.iter_mut().enumerate() {
            *o += w * x.v[[j, c]] as f64 / total;
        }
    }
    out
}

/// The banded pass (Longformer's window without global tokens) against the
/// band's f64 reference. It would catch: a first visited tile too late (keys
/// i − W cut off: checked by starting one tile late once, which fails), a
/// mask on the band's edges missing or off by one, a window as wide as the
/// sequence not running as plain attention; rows that see no key of their
/// first visited tiles (W = 0, 1, 5 with 64-row blocks over 32-key tiles)
/// must come out exact once a tile holding their keys rescales them away.
#[test]
fn a_band_matches_its_f64_reference_for_every_candidate() {
    let Some(ctx) = gpu() else { return };
    let run = |xs: &[Inputs], causal: bool, window: usize, flash: Option<FlashConfig>| {
        let (n, d, dv) = (xs[0].n(), xs[0].d(), xs[0].dv());
        let shape = FlashShape::square(xs.len(), n, d, dv, causal).banded(window);
        let (q, k, v) = (
            stack(xs, |x| &x.q),
            stack(xs, |x| &x.k),
            stack(xs, |x| &x.v),
        );
        let what = format!(
            "n={n} d={d} causal={causal} W={window} {}",
            flash.map(|c| c.name()).unwrap_or("default".into())
        );
        let out = pollster::block_on(flash_attention::run_heads(
            &ctx,
            shape,
            (&q, &k, &v),
            &options(flash),
        ))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
        .output;
        for (h, x) in xs.iter().enumerate() {
            for i in 0..n {
                let want = banded_reference(x, causal, window, i);
                for (c, &w) in want.iter().enumerate() {
                    let got = out[(h * n + i) * dv + c] as f64;
                    let bound = ATOL + RTOL * w.abs();
                    assert!(
                        got.is_finite() && (got - w).abs() <= bound,
                        "{what}: head {h} row {i} col {c}: {got} vs {w}"
                    );
                }
            }
        }
    };
    for n in [7, 130, 203] {
        for window in [0, 1, 5, 40, 300] {
            for causal in [false, true] {
                run(&heads(2, n, 16, 11 + n as u64), causal, window, None);
            }
        }
    }
    let xs = heads(2, 203, 64, 5);
    for config in flash_attention::candidates(&ctx, 64, 64) {
        for causal in [false, true] {
            run(&xs, causal, 5, Some(config));
        }
    }
}

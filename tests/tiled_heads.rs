//! Heads and batch on the tiled kernels (`tiled_attention.wgsl`, `lsh.wgsl`,
//! `memory_attention.wgsl`): B·H heads in one dispatch per pass.
//!
//! * every sparse, hashed and memory method and both Synthesizers: the
//!   GPU's block of each head against that head's own CPU twin, for
//!   B·H = 3 (1 × 3) and 4 (2 × 2), causal where supported, on odd shapes
//!   (n = 7, 130, 203 with d = 1, 40, 16); the views are head 0's (equal
//!   to a one-head run on head 0's inputs). Tolerance: the method's
//!   conformance tolerance (|gpu − twin| ≤ atol + rtol·|twin|).
//!   Power: a kernel that reads another head's keys (a head-offset bug) is
//!   caught — shown by `a_head_offset_bug_fails_the_per_head_check`, which
//!   runs the kernel with head 0's keys for every head;
//! * Reformer's multi-workgroup radix sort against the twin's stable sort
//!   (`attention::reformer::sort`), exactly, on adversarial keys: all in one
//!   bucket, all distinct, n not a multiple of the 256-position block, more
//!   than 256 blocks (the scan's carry), several heads and rounds;
//! * n past the dispatch limit: with a fake `max_compute_workgroups_per_dimension`
//!   of 32 every pass folds into a 2-D grid and still matches the twins;
//!   past the limits a clear `GpuError::TooLarge`, before allocating;
//! * executed counts of the wide fallback scale by B·H.
//!
//! Runs on whatever adapter exists (lavapipe in CI; `CI=true` requires one).

mod common;

use common::{gpu, params};
use flt_explorer::attention::reformer::sort;
use flt_explorer::attention::{Config, MethodId, ParamValues};
use flt_explorer::gpu::tiled_attention::{
    self, Layout, Stacked, Stacking, Tiled, TiledShape, radix_sort,
};
use flt_explorer::gpu::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use flt_explorer::inputs::{Heads, InputSource};
use ndarray::{Array2, s};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

const SHAPES: [(usize, usize); 3] = [(7, 1), (130, 40), (203, 16)];
const STACKS: [(usize, usize); 2] = [(1, 3), (2, 2)];

fn options() -> GpuRunOptions {
    GpuRunOptions {
        repeats: 1,
        ..Default::default()
    }
}

/// The method's defaults with `extra` on top, corrected as the settings do.
fn knobs(method: MethodId, extra: &[(&str, u64)]) -> ParamValues {
    let mut p: ParamValues = method
        .info()
        .params
        .iter()
        .map(|s| (s.key.to_string(), s.default))
        .collect();
    p.extend(params(extra));
    let _ = method.method().fix_params(&mut p);
    p
}

fn causal_cases(method: MethodId) -> &'static [bool] {
    if method.info().causal_unsupported.is_some() {
        &[false]
    } else if method.method().always_causal().is_some() {
        &[true]
    } else {
        &[false, true]
    }
}

/// Head h's block of a stacked `[B·H·n, dᵥ]` output.
fn block(out: &Array2<f32>, h: usize, n: usize) -> Array2<f32> {
    out.slice(s![h * n..(h + 1) * n, ..]).to_owned()
}

/// What differs between each head's block and its own twin beyond the
/// tolerance (empty: every head agrees).
fn head_problems(
    method: MethodId,
    heads: &Heads,
    config: &Config<'_>,
    output: &Array2<f32>,
) -> Vec<String> {
    let conf = method.info().conformance;
    let n = heads.n();
    let mut problems = Vec::new();
    if output.dim() != (heads.count() * n, heads.dv()) {
        return vec![format!(
            "output {:?} for {} heads",
            output.dim(),
            heads.count()
        )];
    }
    for (h, x) in heads.items.iter().enumerate() {
        let twin = method.method().cpu_twin(x, config).unwrap();
        let mut expect = Array2::zeros((n, x.dv()));
        twin.compute_rows(0..n, expect.view_mut(), None);
        let got = block(output, h, n);
        for ((idx, &a), &b) in got.indexed_iter().zip(expect.iter()) {
            if (a - b).abs() > conf.atol + conf.rtol * b.abs() || !a.is_finite() {
                problems.push(format!("head {h} element {idx:?}: {a}, twin {b}"));
                break;
            }
        }
    }
    problems
}

/// Every shape, stacking and causal case of one method: each head against
/// its own twin, the views against a one-head run on head 0.
fn check_method(ctx: &GpuContext, method: MethodId, extra: &[(&str, u64)]) {
    let p = knobs(method, extra);
    let source = method.info().conformance.inputs;
    for (n, d) in SHAPES {
        for (b, h) in STACKS {
            for &causal in causal_cases(method) {
                let what = format!(
                    "{} n={n} d={d} B×H={b}×{h} causal={causal} {p:?}",
                    method.key()
                );
                let heads = Heads::generate(source, (n, d), 11, 1.0, (b, h));
                let config = Config {
                    causal,
                    seed: 3,
                    params: &p,
                };
                let opts = options();
                let run = method
                    .method()
                    .run_gpu_heads(ctx, &heads, &config, &opts)
                    .unwrap_or_else(|| panic!("{what}: no batched kernels"));
                let out = pollster::block_on(run).unwrap_or_else(|e| panic!("{what}: {e}"));
                let problems = head_problems(method, &heads, &config, &out.output);
                assert!(problems.is_empty(), "{what}: {}", problems.join("; "));
                // The heads really differ: a kernel giving every head head 0's
                // result could not pass the comparison above.
                let last = heads.count() - 1;
                assert_ne!(
                    block(&out.output, 0, n),
                    block(&out.output, last, n),
                    "{what}: heads 0 and {last} agree"
                );
                views_are_head_zeros(ctx, method, &heads, &config, &out, &what);
            }
        }
    }
}

fn views_are_head_zeros(
    ctx: &GpuContext,
    method: MethodId,
    heads: &Heads,
    config: &Config<'_>,
    out: &GpuOutput,
    what: &str,
) {
    let one = pollster::block_on(
        method
            .method()
            .run_gpu(ctx, heads.first(), config, &options()),
    )
    .unwrap_or_else(|e| panic!("{what}, head 0 alone: {e}"));
    let n = heads.n();
    common::assert_close(
        &format!("{what}: head 0 against a one-head run"),
        &block(&out.output, 0, n),
        &one.output,
        1e-6,
        1e-6,
    );
    let (a, b) = (out.artifacts.weights(), one.artifacts.weights());
    assert_eq!(a.is_some(), b.is_some(), "{what}: weights view");
    if let (Some(a), Some(b)) = (a, b) {
        assert_eq!(a.cells, b.cells, "{what}");
        for (x, y) in a.values.iter().zip(&b.values) {
            assert!(
                (x - y).abs() <= 1e-6 + 1e-5 * y.abs(),
                "{what}: weights {x} vs {y}"
            );
        }
    }
    assert_eq!(
        out.artifacts.pattern(),
        one.artifacts.pattern(),
        "{what}: pattern view"
    );
    assert_eq!(
        out.artifacts.buckets(),
        one.artifacts.buckets(),
        "{what}: buckets view"
    );
    assert_eq!(
        out.artifacts.factor(),
        one.artifacts.factor(),
        "{what}: factor view"
    );
    assert_eq!(
        out.tile_pairs, one.tile_pairs,
        "{what}: tile pairs per head"
    );
}

#[test]
fn longformer_heads_match_their_twins() {
    let Some(ctx) = gpu() else { return };
    check_method(&ctx, MethodId::Longformer, &[("window", 5), ("global", 2)]);
}

#[test]
fn sparse_transformer_heads_match_their_twins() {
    let Some(ctx) = gpu() else { return };
    check_method(&ctx, MethodId::SparseStrided, &[("stride", 7)]);
    check_method(
        &ctx,
        MethodId::SparseFixed,
        &[("stride", 9), ("summary", 3)],
    );
}

#[test]
fn bigbird_heads_share_the_seeded_blocks_and_match_their_twins() {
    let Some(ctx) = gpu() else { return };
    check_method(&ctx, MethodId::Bigbird, &[("block", 8), ("random", 2)]);
}

#[test]
fn reformer_heads_hash_and_sort_their_own_keys() {
    let Some(ctx) = gpu() else { return };
    check_method(
        &ctx,
        MethodId::Reformer,
        &[("buckets", 8), ("rounds", 3), ("chunk", 16)],
    );
    check_method(
        &ctx,
        MethodId::Reformer,
        &[
            ("buckets", 4),
            ("rounds", 2),
            ("chunk", 8),
            ("shared-qk", 1),
        ],
    );
}

#[test]
fn memory_heads_match_their_twins() {
    let Some(ctx) = gpu() else { return };
    check_method(
        &ctx,
        MethodId::TransformerXl,
        &[("segment", 24), ("memory", 20)],
    );
    // Mean pooling, the convolution and most-attended (3): each head
    // compresses its own memory.
    for f in [0, 2, 3] {
        check_method(
            &ctx,
            MethodId::Compressive,
            &[
                ("segment", 24),
                ("memory", 20),
                ("compressed-memory", 6),
                ("compress-rate", 3),
                ("compress", f),
            ],
        );
    }
}

#[test]
fn synthesizer_heads_share_their_synthetic_keys() {
    let Some(ctx) = gpu() else { return };
    check_method(&ctx, MethodId::SynthesizerDense, &[("hidden", 12)]);
    check_method(&ctx, MethodId::SynthesizerRandom, &[("rank", 5)]);
}

#[test]
fn a_head_offset_bug_fails_the_per_head_check() {
    // Power of the per-head comparison: the same kernel told that the keys
    // have a head stride of 0 (every head reads head 0's K — the bug of a
    // missing head offset) must fail it, while the right strides pass.
    let Some(ctx) = gpu() else { return };
    let method = MethodId::Longformer;
    let p = knobs(method, &[("window", 5), ("global", 2)]);
    let config = Config {
        causal: false,
        seed: 3,
        params: &p,
    };
    let heads = Heads::generate(InputSource::Gaussian, (130, 16), 11, 1.0, (1, 3));
    let pattern = flt_explorer::attention::pattern::Pattern::Longformer {
        window: 5,
        global: 2,
    };
    let run = |stacking: fn(Stacking) -> Stacking| {
        let stacked = Stacked::of_heads(&heads, |x| std::borrow::Cow::Borrowed(&x.k));
        let right = stacked.stacking();
        pollster::block_on(async {
            let qkv = stacked.upload(&ctx).await.unwrap();
            let shape = TiledShape {
                n: 130,
                d: 16,
                dv: 16,
                causal: false,
                scale: 0.25,
            };
            let layout = Layout::Masked(&pattern);
            let mut tiled = Tiled::prepare_stacked(&ctx, layout, shape, stacking(right), &qkv)
                .await
                .unwrap();
            let program =
                std::mem::replace(&mut tiled.program, flt_explorer::gpu::Program::new(""));
            options().run(&ctx, program).await.unwrap();
            tiled.output(&ctx).await.unwrap()
        })
    };
    let good = run(|s| s);
    assert!(head_problems(method, &heads, &config, &good).is_empty());
    let shared_keys = run(|s| Stacking { k_stride: 0, ..s });
    let problems = head_problems(method, &heads, &config, &shared_keys);
    assert_eq!(problems.len(), 2, "heads 1 and 2 must fail: {problems:?}");
    assert!(problems[0].starts_with("head 1"), "{problems:?}");
}

/// The tables the twin's stable sort gives, laid out as the GPU's aux.
fn expected_tables(keys: &[u32], (heads, rounds, n): (usize, usize, usize)) -> Vec<u32> {
    let per = rounds * n;
    let mut aux = vec![0u32; heads * 5 * per];
    for h in 0..heads {
        for which in 0..2 {
            for r in 0..rounds {
                let first = (h * 2 + which) * per + r * n;
                let seq = &keys[first..first + n];
                let (order, rank) = sort(seq);
                let base = h * 5 * per + r * n;
                aux[base + which * per..base + which * per + n].copy_from_slice(&order);
                aux[base + (2 + which) * per..base + (2 + which) * per + n].copy_from_slice(&rank);
                if which == 0 {
                    aux[base + 4 * per..base + 4 * per + n].copy_from_slice(seq);
                }
            }
        }
    }
    aux
}

#[test]
fn the_radix_sort_is_the_twins_stable_sort_on_adversarial_keys() {
    let Some(ctx) = gpu() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    /// Names the case; (heads, rounds, n); buckets; the key of (sequence, position).
    type Case = (
        &'static str,
        (usize, u32, usize),
        u32,
        Box<dyn Fn(usize, usize) -> u32>,
    );
    let cases: Vec<Case> = vec![
        ("all in bucket 0", (1, 1, 1000), 8, Box::new(|_, _| 0)),
        ("all in the last bucket", (2, 2, 513), 8, Box::new(|_, _| 7)),
        (
            "all distinct, reversed",
            (1, 1, 256),
            256,
            Box::new(|_, p| 255 - p as u32),
        ),
        (
            "all distinct, scattered",
            (1, 2, 200),
            256,
            Box::new(|s, p| ((p * 97 + s * 31) % 256) as u32),
        ),
        ("one position", (3, 1, 1), 4, Box::new(|s, _| s as u32 % 4)),
        (
            "n = 257: a lone position in the second block",
            (1, 1, 257),
            2,
            Box::new(|_, p| (p % 2) as u32),
        ),
    ];
    let run = |what: &str, shape: (usize, u32, usize), buckets: u32, keys: Vec<u32>| {
        let (heads, rounds, n) = shape;
        let got = pollster::block_on(radix_sort(&ctx, &keys, shape, buckets))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let expect = expected_tables(&keys, (heads, rounds as usize, n));
        assert_eq!(got.len(), expect.len(), "{what}");
        if let Some(i) = got.iter().zip(&expect).position(|(a, b)| a != b) {
            panic!("{what}: entry {i} is {}, the twin's {}", got[i], expect[i]);
        }
    };
    for (what, shape, buckets, key) in cases {
        let (heads, rounds, n) = shape;
        let sequences = heads * 2 * rounds as usize;
        let keys: Vec<u32> = (0..sequences * n).map(|i| key(i / n, i % n)).collect();
        run(what, shape, buckets, keys);
    }
    // Random keys, every sequence its own, n not a multiple of 256.
    for (shape, buckets) in [((3, 2, 1000), 8), ((2, 3, 203), 128)] {
        let (heads, rounds, n) = shape;
        let keys: Vec<u32> = (0..heads * 2 * rounds as usize * n)
            .map(|_| (rng.next_u64() % buckets as u64) as u32)
            .collect();
        run("random keys", shape, buckets, keys);
    }
    // More than 256 blocks: the scan over blocks carries between its chunks.
    let n = 256 * 260 + 3;
    let keys: Vec<u32> = (0..2 * n).map(|_| (rng.next_u64() % 4) as u32).collect();
    run("260 blocks", (1, 1, n), 4, keys);
}

#[test]
fn radix_sort_refuses_what_it_cannot_sort() {
    let Some(ctx) = gpu() else { return };
    let err = pollster::block_on(radix_sort(&ctx, &[0; 2], (1, 1, 1), 300)).unwrap_err();
    assert!(
        matches!(err, GpuError::TooLarge { needs: 300, .. }),
        "{err}"
    );
    assert!(pollster::block_on(radix_sort(&ctx, &[0; 3], (1, 1, 1), 4)).is_err());
    let err = pollster::block_on(radix_sort(&ctx, &[0, 4], (1, 1, 1), 4)).unwrap_err();
    assert!(err.to_string().contains("bucket 4"), "{err}");
}

/// A context whose limits `change` lowers.
fn limited(change: impl Fn(&mut wgpu::Limits)) -> Option<GpuContext> {
    gpu()?;
    let adapter = pollster::block_on(GpuContext::adapter()).ok()?;
    let mut limits = adapter.limits();
    change(&mut limits);
    Some(pollster::block_on(GpuContext::with_limits(&adapter, limits)).unwrap())
}

fn run_heads(
    ctx: &GpuContext,
    method: MethodId,
    heads: &Heads,
    p: &ParamValues,
) -> Result<GpuOutput, GpuError> {
    let config = Config {
        causal: false,
        seed: 3,
        params: p,
    };
    let opts = options();
    pollster::block_on(
        method
            .method()
            .run_gpu_heads(ctx, heads, &config, &opts)
            .unwrap(),
    )
}

#[test]
fn heads_fold_into_two_dimensional_grids_within_a_small_dispatch_limit() {
    // 32 workgroups per dimension: at n = 1200 the 38 query tiles, Reformer's
    // 75 hashing groups and its combine pass all exceed it along x and fold
    // into y; the heads (z) fit.
    let Some(ctx) = limited(|l| l.max_compute_workgroups_per_dimension = 32) else {
        return;
    };
    let heads = Heads::generate(InputSource::Gaussian, (1200, 8), 2, 1.0, (1, 3));
    for (method, extra) in [
        (MethodId::Longformer, &[("window", 40), ("global", 1)][..]),
        (
            MethodId::Reformer,
            &[("buckets", 4), ("rounds", 2), ("chunk", 32)][..],
        ),
        (
            MethodId::Compressive,
            &[("segment", 100), ("memory", 60), ("compress", 3)][..],
        ),
    ] {
        let p = knobs(method, extra);
        let out = run_heads(&ctx, method, &heads, &p).unwrap_or_else(|e| panic!("{e}"));
        let config = Config {
            causal: method.method().always_causal().is_some(),
            seed: 3,
            params: &p,
        };
        let problems = head_problems(method, &heads, &config, &out.output);
        assert!(
            problems.is_empty(),
            "{}: {}",
            method.key(),
            problems.join("; ")
        );
    }
    // 33 heads do not fit along z: a clear error naming the limit.
    let many = Heads::generate(InputSource::Gaussian, (7, 4), 2, 1.0, (3, 11));
    let p = knobs(MethodId::Longformer, &[]);
    match run_heads(&ctx, MethodId::Longformer, &many, &p) {
        Err(GpuError::TooLarge {
            needs: 33,
            limit: 32,
            limit_name,
            ..
        }) => assert_eq!(limit_name, "max_compute_workgroups_per_dimension"),
        other => panic!("expected TooLarge for 33 heads, got {other:?}"),
    }
}

#[test]
fn past_the_limits_a_clear_error_before_allocating() {
    // 4 workgroups per dimension hold a 2-D grid of 16: the 42 work items
    // (38 query tiles, the global rows' split) do not.
    let Some(ctx) = limited(|l| l.max_compute_workgroups_per_dimension = 4) else {
        return;
    };
    let heads = Heads::generate(InputSource::Gaussian, (1200, 8), 2, 1.0, (1, 2));
    let p = knobs(MethodId::Longformer, &[("window", 8)]);
    let err = run_heads(&ctx, MethodId::Longformer, &heads, &p).unwrap_err();
    match &err {
        GpuError::TooLarge {
            what, needs, limit, ..
        } => assert_eq!((what.as_str(), *needs, *limit), ("attend", 42, 16)),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(err.to_string().contains("squared"), "{err}");

    // Stacked Q of 4 heads × 1200 × 64 (1.2 MB) over a 1 MiB binding: refused
    // by name; one head (300 KB) runs.
    let Some(small) = limited(|l| l.max_storage_buffer_binding_size = 1 << 20) else {
        return;
    };
    let heads = Heads::generate(InputSource::Gaussian, (1200, 64), 2, 1.0, (2, 2));
    let err = run_heads(&small, MethodId::Longformer, &heads, &p).unwrap_err();
    match err {
        GpuError::TooLarge {
            what,
            needs,
            limit_name,
            ..
        } => {
            assert_eq!(what, "the stacked queries");
            assert_eq!(needs, 4 * 1200 * 64 * 4);
            assert_eq!(limit_name, "max_storage_buffer_binding_size");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn executed_counts_of_the_wide_fallback_scale_by_the_heads() {
    // Too little workgroup memory for the register tiles: the wide fallback
    // runs and reports its own executed count, which covers every head.
    let Some(ctx) = limited(|l| l.max_compute_workgroup_storage_size = 4096) else {
        return;
    };
    for (method, extra) in [
        (MethodId::Longformer, &[("window", 5)][..]),
        (
            MethodId::Compressive,
            &[("segment", 24), ("memory", 20), ("compressed-memory", 6)][..],
        ),
    ] {
        let p = knobs(method, extra);
        let heads = Heads::generate(InputSource::Gaussian, (130, 40), 2, 1.0, (1, 3));
        let many = run_heads(&ctx, method, &heads, &p).unwrap();
        let config = Config {
            causal: method.method().always_causal().is_some(),
            seed: 3,
            params: &p,
        };
        let one = pollster::block_on(method.method().run_gpu(
            &ctx,
            heads.first(),
            &config,
            &options(),
        ))
        .unwrap();
        let (f3, b3) = many
            .executed
            .clone()
            .expect("the wide fallback counts itself");
        let (f1, b1) = one.executed.clone().unwrap();
        assert!(
            many.kernel_variant.contains("wide"),
            "{}",
            many.kernel_variant
        );
        assert_eq!(
            (f3.value, b3.value),
            (3 * f1.value, 3 * b1.value),
            "{}",
            method.key()
        );
        assert!(f3.formula.contains("3 heads"), "{}", f3.formula);
        let problems = head_problems(method, &heads, &config, &many.output);
        assert!(problems.is_empty(), "{}", problems.join("; "));
    }
}

#[test]
fn one_head_through_the_stacked_path_is_the_one_head_run() {
    // Heads::single through run_stacked equals run, bit for bit.
    let Some(ctx) = gpu() else { return };
    let x = flt_explorer::inputs::Inputs::seeded(203, 16, 4);
    let pattern = flt_explorer::attention::pattern::Pattern::Strided { stride: 7 };
    let layout = Layout::Masked(&pattern);
    let a = pollster::block_on(tiled_attention::run(
        &ctx,
        (&x.q, &x.k, &x.v),
        true,
        layout,
        &options(),
    ))
    .unwrap();
    let heads = Heads::single(std::rc::Rc::new(x.clone()));
    let stacked = Stacked::of_heads(&heads, |x| std::borrow::Cow::Borrowed(&x.k));
    let b = pollster::block_on(tiled_attention::run_stacked(
        &ctx,
        stacked,
        true,
        layout,
        &options(),
    ))
    .unwrap();
    assert_eq!(a.output, b.output);
}

#[test]
fn the_pipeline_runs_the_heads_on_the_gpu_and_cross_checks_them() {
    // Through the seam: `flt run --heads 3 --batch 2` on the GPU, one
    // dispatch per pass; heads 2 and 5 cross-checked against their twins,
    // the executed counts 6 × one head's.
    use flt_explorer::pipeline::attention::run;
    use flt_explorer::pipeline::{Backend, Quiet};
    use flt_explorer::settings::Settings;
    let Some(ctx) = gpu() else { return };
    let backend = Backend::Gpu(std::rc::Rc::new(ctx));
    for query in [
        "method=longformer&n=130&d=16&window=5",
        "method=reformer&n=130&d=16&buckets=4&chunk=16",
        "method=compressive&n=130&d=16&segment=24&memory=20&compressed-memory=6&compress=most-attended",
        "method=synthesizer-dense&n=130&d=16&hidden=12",
    ] {
        let measure = |q: &str| {
            let (s, issues) = Settings::from_query(q);
            assert!(issues.is_empty(), "{q}: {issues:?}");
            let mut problem = s.problem(options());
            problem.gpu_required = true;
            pollster::block_on(run(&problem, &backend, &Quiet))
                .unwrap_or_else(|e| panic!("{q}: {e}"))
        };
        let many = measure(&format!("{query}&heads=3&batch=2"));
        let one = measure(query);
        let env = &many.envelope;
        assert_eq!(env.backend, "gpu", "{query}: {:?}", env.notes);
        assert_eq!(many.figures.checked_heads, [0, 2, 5], "{query}");
        for h in ["head 2", "head 5"] {
            let diff = env.cross_checks.get(h).copied();
            assert!(diff.is_some_and(|x| x < 1e-4), "{query}: {h} {diff:?}");
        }
        assert_eq!(env.flops, 6 * one.envelope.flops, "{query}");
        assert_eq!(env.bytes, 6 * one.envelope.bytes, "{query}");
        assert!(
            (many.figures.rel_err - one.figures.rel_err).abs() < 0.5,
            "{query}"
        );
    }
}

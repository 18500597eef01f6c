//! The conformance suite, generated over the method registry: a method is
//! tested by being registered. For every method, causal where it supports
//! it, on odd shapes (n = 1, 7, 130, 203; d = 1, 16, 40), with its default
//! knobs and the extra cases its `MethodInfo::conformance` lists:
//!
//! * the GPU output against the CPU twin at the method's stated tolerance;
//! * the pooled weights (or implied matrix) against the twin's, pooled on
//!   the CPU; for tiled methods the pooled pattern against the twin's,
//!   exactly; Reformer's buckets and sorted order against the twin's; the
//!   factor view against the twin's;
//! * costs positive, and growing with n;
//! * the settings round-trip through the URL unchanged.
//!
//! Family-specific identities and laws stay in the hand-written files.
//! Runs on whatever adapter exists (lavapipe in CI; with `CI=true` a
//! missing adapter fails).

mod common;

use common::{assert_close, gpu, params};
use flt_explorer::attention::{Config, MethodId, ParamValues};
use flt_explorer::data::maps::{AttentionMap, MapPooler, PatternPooler};
use flt_explorer::data::shape::Shape;
use flt_explorer::gpu::{GpuContext, GpuRunOptions};
use flt_explorer::inputs::Inputs;
use flt_explorer::settings::Settings;
use ndarray::Array2;

const NS: [usize; 4] = [1, 7, 130, 203];
const DS: [usize; 3] = [1, 16, 40];

/// Every (knobs, causal) case of a method.
fn cases(method: MethodId) -> Vec<(ParamValues, bool)> {
    let info = method.info();
    let mut knob_sets = vec![ParamValues::new()];
    knob_sets.extend(info.conformance.cases.iter().map(|c| params(c)));
    let causal: &[bool] = if info.causal_unsupported.is_some() {
        &[false]
    } else if method.method().always_causal().is_some() {
        &[true]
    } else {
        &[false, true]
    };
    let mut out = Vec::new();
    for knobs in knob_sets {
        let mut p: ParamValues = info
            .params
            .iter()
            .map(|s| (s.key.to_string(), s.default))
            .collect();
        p.extend(knobs);
        let _ = method.method().fix_params(&mut p);
        for &c in causal {
            out.push((p.clone(), c));
        }
    }
    out
}

fn as_matrix(map: &AttentionMap) -> Array2<f32> {
    Array2::from_shape_vec((map.cells, map.cells), map.values.clone()).unwrap()
}

/// One method on one shape and case, GPU against twin.
fn check(ctx: &GpuContext, method: MethodId, x: &Inputs, p: &ParamValues, causal: bool) {
    let conf = method.info().conformance;
    let (atol, rtol) = (conf.atol, conf.rtol);
    let what = format!(
        "{} n={} d={} causal={causal} {p:?}",
        method.key(),
        x.n(),
        x.d()
    );
    let config = Config {
        causal,
        seed: 3,
        params: p,
    };
    let options = GpuRunOptions {
        repeats: 1,
        ..Default::default()
    };
    let out = pollster::block_on(method.method().run_gpu(ctx, x, &config, &options))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let twin = method.method().cpu_twin(x, &config).unwrap();
    let (n, dv) = (x.n(), x.dv());
    let mut pooler = MapPooler::new(n);
    let mut expect = Array2::zeros((n, dv));
    twin.compute_rows(
        0..n,
        expect.view_mut(),
        Some(&mut |i, w: &[f32]| pooler.add_row(i, w)),
    );
    assert_close(&format!("output, {what}"), &out.output, &expect, atol, rtol);

    let weights = out.artifacts.weights().expect("the GPU pools the weights");
    let cpu_map = pooler.finish();
    assert_eq!(
        (weights.factor, weights.cells),
        (cpu_map.factor, cpu_map.cells),
        "{what}"
    );
    assert_close(
        &format!("pooled weights, {what}"),
        &as_matrix(weights),
        &as_matrix(&cpu_map),
        atol,
        rtol,
    );

    if let Some(pattern) = out.artifacts.pattern() {
        let mut pooler = PatternPooler::new(n);
        for i in 0..n {
            pooler.add_row(i, &twin.row_pattern(i));
        }
        let cpu = pooler.finish();
        assert_eq!(pattern.codes, cpu.codes, "pattern categories, {what}");
        for (a, b) in pattern.fraction.iter().zip(&cpu.fraction) {
            assert!(
                (a - b).abs() < 1e-6,
                "pattern fractions, {what}: {a} vs {b}"
            );
        }
    }
    let views = twin.views();
    if let Some(buckets) = out.artifacts.buckets() {
        assert_eq!(
            Some(buckets),
            views.buckets(),
            "buckets and sorted order, {what}"
        );
    }
    if let Some(g) = out.artifacts.factor() {
        let c = views.factor().expect("the twin's factor view");
        assert_eq!(
            (g.rows, g.cols, &g.title),
            (c.rows, c.cols, &c.title),
            "{what}"
        );
        for (a, b) in g.values.iter().zip(&c.values) {
            assert!(
                (a - b).abs() <= atol + rtol * b.abs(),
                "factor view, {what}: {a} vs {b}"
            );
        }
    }
}

/// Costs are positive and grow with n.
fn check_costs(method: MethodId, p: &ParamValues, causal: bool) {
    let config = Config {
        causal,
        seed: 1,
        params: p,
    };
    let cost = |n: usize| {
        let shape = Shape {
            n,
            d: 16,
            dv: 16,
            causal,
        };
        method.method().cost(shape, &config, shape.pairs())
    };
    let (small, large) = (cost(256), cost(1024));
    for (name, a, b) in [
        ("flops", small.flops, large.flops),
        ("bytes", small.bytes, large.bytes),
        (
            "flops_algorithmic",
            small.flops_algorithmic,
            large.flops_algorithmic,
        ),
        (
            "bytes_compulsory",
            small.bytes_compulsory,
            large.bytes_compulsory,
        ),
    ] {
        assert!(
            a > 0 && b > a,
            "{} {p:?} causal={causal}: {name} {a} → {b}",
            method.key()
        );
    }
}

/// The settings of this case survive a round trip through the URL.
fn check_settings(method: MethodId, p: &ParamValues, causal: bool) {
    let mut s = Settings::for_method(method);
    s.params = p.clone();
    s.causal = causal;
    let (back, issues) = Settings::from_query(&s.to_query());
    assert!(issues.is_empty(), "{}: {issues:?}", method.key());
    assert_eq!(back, s, "{}", method.key());
}

#[test]
fn every_registered_method_conforms() {
    let Some(ctx) = gpu() else { return };
    for &method in MethodId::ALL {
        let conf = method.info().conformance;
        for (p, causal) in cases(method) {
            check_costs(method, &p, causal);
            check_settings(method, &p, causal);
            for n in NS {
                for d in DS {
                    let x = Inputs::generate(conf.inputs, n, d, 11 + n as u64, 0.5);
                    check(&ctx, method, &x, &p, causal);
                }
            }
        }
    }
}

/// Every method, default knobs, at the widest d the settings allow (256),
/// where the register-tiled kernel cannot hold its tiles on any adapter.
#[test]
fn every_method_runs_at_the_widest_d() {
    let Some(ctx) = gpu() else { return };
    for &method in MethodId::ALL {
        let conf = method.info().conformance;
        for (p, causal) in cases(method).into_iter().take(2) {
            for n in [7, 130] {
                let x = Inputs::generate(conf.inputs, n, 256, 5 + n as u64, 0.5);
                check(&ctx, method, &x, &p, causal);
            }
        }
    }
}

/// Every method on an adapter with the WebGPU default of 16 KiB of
/// workgroup memory, where d = 64 already needs the wide fallback.
#[test]
fn every_method_runs_on_an_adapter_with_the_default_limits() {
    if gpu().is_none() {
        return;
    }
    let adapter = pollster::block_on(GpuContext::adapter()).unwrap();
    let limits = wgpu::Limits {
        max_compute_workgroup_storage_size: 16384,
        ..adapter.limits()
    };
    let small = pollster::block_on(GpuContext::with_limits(&adapter, limits)).unwrap();
    for &method in MethodId::ALL {
        let conf = method.info().conformance;
        for (p, causal) in cases(method).into_iter().take(2) {
            let x = Inputs::generate(conf.inputs, 130, 64, 9, 0.5);
            check(&small, method, &x, &p, causal);
        }
    }
}

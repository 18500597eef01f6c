//! Every valid setting runs: seeded random runs over the registry — every
//! method, n ∈ {1, 2, 3, 5, 17, 64, 100, 257}, d ∈ {1, 2, 3, 16, 64}, knobs
//! at their bounds, at n and n ± 1 and at random, causal or not, every input
//! generator, qk-scale ∈ {0.05, 0.25, 1, 4, 10}, on the CPU twin and the GPU
//! — in which every run either succeeds with finite figures or is refused
//! before any work starts (a settings issue: the CLI's exit status 2).
//!
//! `scripts/test` runs 300 cases; more with `FLT_RANDOM_CASES`:
//! `FLT_RANDOM_CASES=5000 cargo test --release --test randomized`.
//! New methods join by being registered.

mod common;

use std::rc::Rc;

use flt_explorer::attention::{MethodId, ParamSpec};
use flt_explorer::gpu::GpuRunOptions;
use flt_explorer::inputs::InputSource;
use flt_explorer::pipeline::attention::{Measurement, run};
use flt_explorer::pipeline::{Backend, Quiet, RunError};
use flt_explorer::settings::Settings;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

const NS: [usize; 8] = [1, 2, 3, 5, 17, 64, 100, 257];
const DS: [usize; 5] = [1, 2, 3, 16, 64];
const SCALES: [&str; 5] = ["0.05", "0.25", "1", "4", "10"];

fn pick<T: Copy>(rng: &mut ChaCha8Rng, from: &[T]) -> T {
    from[(rng.next_u64() % from.len() as u64) as usize]
}

/// A knob's value: a bound, the default, n or n ± 1, or random in range.
fn knob(rng: &mut ChaCha8Rng, spec: &ParamSpec, n: usize) -> String {
    if spec.flag {
        return pick(rng, &["true", "false"]).to_string();
    }
    if spec.is_choice() {
        return spec.choices[(rng.next_u64() % spec.choices.len() as u64) as usize].to_string();
    }
    let n = n as u64;
    let random = spec.min + rng.next_u64() % (spec.max - spec.min + 1);
    pick(
        rng,
        &[
            spec.min,
            spec.max,
            spec.default,
            n.saturating_sub(1),
            n,
            n + 1,
            random,
        ],
    )
    .to_string()
}

/// One random case as `key=value` pairs.
fn case(rng: &mut ChaCha8Rng) -> Vec<(String, String)> {
    let method = pick(rng, MethodId::ALL);
    let n = pick(rng, &NS);
    let mut pairs = vec![
        ("method".to_string(), method.key().to_string()),
        ("n".to_string(), n.to_string()),
        ("d".to_string(), pick(rng, &DS).to_string()),
        ("seed".to_string(), (rng.next_u64() % 1000).to_string()),
        (
            "causal".to_string(),
            pick(rng, &["true", "false"]).to_string(),
        ),
        (
            "inputs".to_string(),
            pick(rng, &InputSource::GENERATORS).key().to_string(),
        ),
        ("qk-scale".to_string(), pick(rng, &SCALES).to_string()),
    ];
    for spec in method.info().params {
        if !rng.next_u64().is_multiple_of(4) {
            pairs.push((spec.key.to_string(), knob(rng, spec, n)));
        }
    }
    pairs
}

/// Why a finished run's figures are not all finite, if they are not.
fn not_finite(m: &Measurement) -> Option<String> {
    let (e, f) = (&m.envelope, &m.figures);
    let figures = [
        ("time_ms", e.time_ms),
        ("gflops", e.gflops),
        ("rel_err", f.rel_err),
        ("max_abs_err", f.max_abs_err),
        ("baseline_mean_v_rel_err", f.baseline_mean_v_rel_err),
        ("baseline_zero_rel_err", f.baseline_zero_rel_err),
        ("mass_in_pattern", f.mass_in_pattern),
        ("gpu_cpu_max_abs_err", e.gpu_cpu_max_abs_err.unwrap_or(0.0)),
        ("pinv_residual", f.pinv_residual.unwrap_or(0.0)),
    ];
    if let Some((name, value)) = figures.iter().find(|(_, v)| !v.is_finite()) {
        return Some(format!("{name} = {value}"));
    }
    let output = m.artifacts.output()?;
    (!output.iter().all(|x| x.is_finite())).then(|| "the output".to_string())
}

#[test]
fn every_valid_setting_runs_or_is_refused_before_any_work() {
    let cases: usize = std::env::var("FLT_RANDOM_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut backends = vec![Backend::Cpu { reason: None }];
    if let Some(ctx) = common::gpu() {
        backends.push(Backend::Gpu(Rc::new(ctx)));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let (mut ran, mut refused, mut failures) = (0, 0, Vec::new());
    for _ in 0..cases {
        let pairs = case(&mut rng);
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let query = query.join("&");
        let (settings, issues) = Settings::from_pairs(pairs);
        if !issues.is_empty() {
            refused += 1;
            continue;
        }
        let options = GpuRunOptions {
            repeats: 1,
            ..Default::default()
        };
        let problem = settings.problem(options);
        for backend in &backends {
            match pollster::block_on(run(&problem, backend, &Quiet)) {
                Ok(m) => {
                    ran += 1;
                    if let Some(why) = not_finite(&m) {
                        failures.push(format!("{} {query}: {why} is not finite", backend.key()));
                    }
                }
                Err(RunError::Method(e)) => failures.push(format!(
                    "{} {query}: refused after parsing: {e}",
                    backend.key()
                )),
                Err(e) => failures.push(format!("{} {query}: {e}", backend.key())),
            }
        }
    }
    eprintln!(
        "{cases} cases: {ran} runs finished, {refused} settings refused, {} failures",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        ran > cases / 3,
        "only {ran} runs: the generator refuses too much"
    );
}

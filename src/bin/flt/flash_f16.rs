//! `flt bench --kernel flash-f16`: exact attention on tensor cores
//! (`flt_explorer::gpu::flash_f16`: f16 operands, f32 accumulators,
//! cooperative matrices of 16 × 16 × 16) timed like every bench row
//! (warm-up, `--repeats` runs, the median; GPU timestamps where the adapter
//! has them) on seeded heads, and checked against the f64 definition on
//! sampled rows at the f16 tolerance, beside two baselines (a zero output
//! and the mean of the visible values).
//!
//! ```text
//! flt bench --kernel flash-f16 --n 4096 --d 64 [--heads H] [--batch B] [--causal]
//!           [--seed S] [--repeats R] [--warmup-ms MS] [--json]
//! ```
//!
//! Native GPU only, and only where the device offers f16 cooperative
//! matrices (exit 2 with the reason elsewhere, or for a width it does not
//! take); an output outside the tolerance, or a relative error above
//! `flash_f16::REL_ERR_MAX`, exits 1.

use clap::ArgMatches;
use flt_explorer::attention::full::ExactReference;
use flt_explorer::data::stats::{errors, sample_rows};
use flt_explorer::data::timing::{PassTime, Timing, median};
use flt_explorer::gpu::flash_attention::FlashShape;
use flt_explorer::gpu::{GpuRunOptions, flash_f16};
use flt_explorer::inputs::{Heads, InputSource};
use flt_explorer::pipeline::Backend;
use ndarray::{Array2, Axis, concatenate};
use serde::Serialize;

use super::Failure;
use super::args::{pairs, settings};
use super::sgemm::given;

/// Flags `--kernel flash-f16` takes.
const TAKES: [&str; 12] = [
    "kernel",
    "n",
    "d",
    "heads",
    "batch",
    "causal",
    "seed",
    "backend",
    "repeats",
    "warmup-ms",
    "json",
    "driver-stats",
];

/// Whether `flt bench` times the f16 kernel.
pub fn chosen(m: &ArgMatches) -> bool {
    m.get_one::<String>("kernel").map(String::as_str) == Some("flash-f16")
}

/// One timed run.
#[derive(Debug, Serialize)]
struct FlashF16Bench {
    /// `flt.flash_f16.v1`: what the line is, for scripts reading mixed results.
    schema: &'static str,
    kernel: &'static str,
    n: usize,
    d: usize,
    heads: usize,
    batch: usize,
    causal: bool,
    /// The median time of the whole program — the three f16 conversions
    /// and the attention — in milliseconds (also as `time_ms`).
    ms: f64,
    time_ms: f64,
    time_ms_samples: Vec<f64>,
    timing: Timing,
    /// Compulsory FLOPs (4·d per visible query–key pair, per head) / time.
    tflops: f64,
    /// Each pass timed on its own (median of the repeats): `to_f16` of Q,
    /// K and V, then `flash_f16`.
    passes: Vec<PassTime>,
    /// The attention pass alone (what an fp16 library's kernel, given f16
    /// inputs, compares with).
    attention_ms: Option<f64>,
    flops: u64,
    memory_bytes: u64,
    backend: &'static str,
    adapter: String,
    api: String,
    precision: &'static str,
    seed: u64,
    inputs: &'static str,
    /// Rows compared (`data::stats::sample_rows` of the first and the last
    /// head).
    checked_rows: usize,
    /// Largest |O − O_f64| over the checked rows.
    max_abs_err: f64,
    /// ‖O − O_f64‖ / ‖O_f64‖ over the checked rows (at most `rel_err_max`).
    rel_err: f64,
    rel_err_max: f64,
    /// The same for a zero output (1 by definition) and for the mean of
    /// each row's visible values (uniform attention), as `flt run` names them.
    baseline_zero_rel_err: f64,
    baseline_mean_v_rel_err: f64,
    /// Per element |O − O_f64| ≤ atol + rtol·|O_f64|: (atol, rtol), atol
    /// from the root mean square of the checked exact rows.
    tolerance: (f64, f64),
    /// Largest error / bound over the checked entries (≤ 1 passes).
    max_err_over_bound: f64,
    within_tolerance: bool,
}

/// `flt bench --kernel flash-f16`.
pub fn bench(m: &ArgMatches) -> Result<(), Failure> {
    let ids: Vec<&str> = m.ids().map(|id| id.as_str()).collect();
    if let Some(flag) = ids.iter().find(|id| given(m, id) && !TAKES.contains(id)) {
        return Err(Failure::usage(format!(
            "--{flag} does not apply to --kernel flash-f16"
        )));
    }
    let s = settings(pairs(m, &["n", "d", "heads", "batch", "seed", "backend"]))?;
    let repeats = m.get_one::<u32>("repeats").copied().unwrap_or(10);
    let (n, d, count) = (s.n, s.d, s.heads * s.batch);
    let backend = super::commands::backend(s.backend)?;
    super::commands::apply_warmup(m, &backend);
    let Backend::Gpu(ctx) = &backend else {
        return Err(Failure::usage(
            "--kernel flash-f16 runs on a GPU with f16 cooperative matrices; the CPU backend has none",
        ));
    };
    // Not offered here, or a width it does not take: a usage error (exit 2).
    flash_f16::check(ctx, d, d).map_err(|e| Failure::usage(e.to_string()))?;
    let heads = Heads::generate(
        InputSource::Gaussian,
        (n, d),
        s.seed,
        s.qk_scale,
        (s.batch, s.heads),
    );
    let shape = FlashShape::of_heads(&heads, s.causal);
    let (q, k, v) = (heads.stacked_q(), heads.stacked_k(), heads.stacked_v());
    let options = GpuRunOptions {
        repeats,
        pass_times: ctx.timestamps,
        ..Default::default()
    };
    let run = pollster::block_on(flash_f16::run_heads(ctx, shape, (&q, &k, &v), &options))
        .map_err(Failure::gpu)?;
    let pairs_per_head = if s.causal {
        (n * (n + 1) / 2) as u64
    } else {
        (n * n) as u64
    };
    let flops = 4 * d as u64 * pairs_per_head * count as u64;
    let ms = median(&run.timed.samples);
    // The sampled rows of the first and the last head, against the f64
    // definition and the uniform-attention baseline.
    let picked = sample_rows(n);
    let mut got = Vec::new();
    let mut exact = Vec::new();
    let mut uniform = Vec::new();
    for h in if count > 1 {
        vec![0, count - 1]
    } else {
        vec![0]
    } {
        let x = heads.get(h);
        let reference = ExactReference::new(x.q.view(), x.k.view(), x.v.view(), s.causal);
        exact.push(reference.rows(&picked));
        uniform.push(reference.uniform_rows(&picked).mapv(|v| v as f32));
        got.push(Array2::from_shape_fn((picked.len(), d), |(r, c)| {
            run.output[(h * n + picked[r]) * d + c]
        }));
    }
    let stack_f32 = |xs: &[Array2<f32>]| {
        let views: Vec<_> = xs.iter().map(|x| x.view()).collect();
        concatenate(Axis(0), &views).expect("same widths")
    };
    let views: Vec<_> = exact.iter().map(|x| x.view()).collect();
    let exact = concatenate(Axis(0), &views).expect("same widths");
    let (got, uniform) = (stack_f32(&got), stack_f32(&uniform));
    let rms = (exact.iter().map(|x| x * x).sum::<f64>() / exact.len().max(1) as f64).sqrt();
    let tolerance = flash_f16::tolerance(rms);
    let err = errors(got.view(), exact.view());
    let zero = Array2::<f32>::zeros(got.dim());
    let mut worst = 0f64;
    let mut within = err.max_abs_err.is_finite();
    for (&o, &e) in got.iter().zip(exact.iter()) {
        let bound = tolerance.0 + tolerance.1 * e.abs();
        let off = (o as f64 - e).abs();
        worst = worst.max(off / bound);
        within &= off <= bound;
    }
    let report = FlashF16Bench {
        schema: "flt.flash_f16.v1",
        kernel: "flash-f16",
        n,
        d,
        heads: s.heads,
        batch: s.batch,
        causal: s.causal,
        ms,
        time_ms: ms,
        time_ms_samples: run.timed.samples.clone(),
        timing: run.timed.timing,
        tflops: flops as f64 / (ms * 1e9),
        passes: run.timed.passes.clone(),
        attention_ms: run
            .timed
            .passes
            .iter()
            .find(|p| p.pass.starts_with("flash_f16.attention"))
            .map(|p| p.time_ms),
        flops,
        memory_bytes: run.memory_bytes,
        backend: backend.key(),
        adapter: ctx.adapter_name.clone(),
        api: ctx.api.clone(),
        precision: "f16 operands (Q·log₂e/√d, K, V, P), f32 accumulators",
        seed: s.seed,
        inputs: "Gaussian, seeded per head",
        checked_rows: got.nrows(),
        max_abs_err: err.max_abs_err,
        rel_err: err.rel_err,
        rel_err_max: flash_f16::REL_ERR_MAX,
        baseline_zero_rel_err: errors(zero.view(), exact.view()).rel_err,
        baseline_mean_v_rel_err: errors(uniform.view(), exact.view()).rel_err,
        tolerance,
        max_err_over_bound: worst,
        within_tolerance: within && err.rel_err <= flash_f16::REL_ERR_MAX,
    };
    print(&report, m.get_flag("json"));
    super::commands::driver_stats(m, &backend);
    if !report.within_tolerance {
        return Err(Failure::runtime(format!(
            "flash-f16: relative error {:.3e} (at most {:.0e}); an output off by {:.3e}, {:.2}× the f16 tolerance at worst",
            report.rel_err, report.rel_err_max, report.max_abs_err, report.max_err_over_bound
        )));
    }
    Ok(())
}

fn print(r: &FlashF16Bench, json: bool) {
    if json {
        super::print::json_line(r);
        return;
    }
    let timing = super::print::timing_words(r.timing);
    println!(
        "flash-f16     exact attention on tensor cores: n = {}, d = {}, {} head(s) × {} batch, {}seed {}",
        r.n,
        r.d,
        r.heads,
        r.batch,
        if r.causal { "causal, " } else { "" },
        r.seed
    );
    println!("backend       {} — {} ({})", r.backend, r.adapter, r.api);
    println!("precision     {}", r.precision);
    println!(
        "time          {:.4} ms ({timing}, median of {} after a warm-up)",
        r.ms,
        r.time_ms_samples.len()
    );
    println!(
        "throughput    {:.2} TFLOP/s (4·d per visible pair, compulsory)",
        r.tflops
    );
    super::print::pass_lines(&r.passes, "pass          ");
    println!(
        "checked       {} rows against the f64 definition: relative error {:.2e} (zero output {:.0}, mean of V {:.3}); max |error| {:.3e}, {:.2}× the f16 tolerance at worst",
        r.checked_rows,
        r.rel_err,
        r.baseline_zero_rel_err,
        r.baseline_mean_v_rel_err,
        r.max_abs_err,
        r.max_err_over_bound
    );
}

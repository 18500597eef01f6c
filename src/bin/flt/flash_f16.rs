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
//! take); an output outside the tolerance exits 1.

use clap::ArgMatches;
use clap::parser::ValueSource;
use flt_explorer::attention::full::reference_rows;
use flt_explorer::data::timing::{PassTime, Timing, median};
use flt_explorer::gpu::flash_attention::FlashShape;
use flt_explorer::gpu::{GpuError, GpuRunOptions, flash_f16};
use flt_explorer::inputs::{Heads, Inputs};
use flt_explorer::pipeline::Backend;
use ndarray::s;
use serde::Serialize;

use super::Failure;
use super::args::{pairs, settings};

/// Flags `--kernel flash-f16` takes.
const TAKES: [&str; 11] = [
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
];

/// Rows checked per checked head (first, middle, last and evenly spread).
const CHECKED_ROWS: usize = 16;

fn given(m: &ArgMatches, id: &str) -> bool {
    m.value_source(id) == Some(ValueSource::CommandLine)
}

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
    checked_rows: usize,
    /// Largest |O − O_f64| over the checked rows.
    max_abs_err: f64,
    /// ‖O − O_f64‖ / ‖O_f64‖ over the checked rows.
    rel_err: f64,
    /// The same for a zero output (1 by definition) and for the mean of
    /// each row's visible values (uniform attention).
    rel_err_zero_output: f64,
    rel_err_mean_of_v: f64,
    /// atol + rtol·|exact|: (atol, rtol).
    tolerance: (f64, f64),
    /// Largest error / bound over the checked entries (≤ 1 passes).
    max_err_over_bound: f64,
    within_tolerance: bool,
}

/// The checked rows: first, last and evenly spread.
fn rows(n: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (0..CHECKED_ROWS)
        .map(|i| i * (n - 1) / (CHECKED_ROWS - 1).max(1))
        .collect();
    out.dedup();
    out
}

fn failure(e: GpuError) -> Failure {
    match e {
        GpuError::TooLarge { .. } => Failure::usage(e.to_string()),
        other => Failure::runtime(other.to_string()),
    }
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
        flt_explorer::inputs::InputSource::Gaussian,
        (n, d),
        s.seed,
        s.qk_scale,
        (s.batch, s.heads),
    );
    let shape = FlashShape::square(count, n, d, d, s.causal);
    let (q, k, v) = (heads.stacked_q(), heads.stacked_k(), heads.stacked_v());
    let options = GpuRunOptions {
        repeats,
        pass_times: ctx.timestamps,
        ..Default::default()
    };
    let run = pollster::block_on(flash_f16::run_heads(ctx, shape, (&q, &k, &v), &options))
        .map_err(failure)?;
    let pairs_per_head = if s.causal {
        (n * (n + 1) / 2) as u64
    } else {
        (n * n) as u64
    };
    let flops = 4 * d as u64 * pairs_per_head * count as u64;
    let ms = median(&run.timed.samples);
    let tolerance = flash_f16::tolerance();
    let mut report = FlashF16Bench {
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
        checked_rows: 0,
        max_abs_err: 0.0,
        rel_err: 0.0,
        rel_err_zero_output: 1.0,
        rel_err_mean_of_v: 0.0,
        tolerance,
        max_err_over_bound: 0.0,
        within_tolerance: true,
    };
    let (mut err2, mut ref2, mut mean2) = (0.0, 0.0, 0.0);
    let checked: Vec<usize> = if count > 1 {
        vec![0, count - 1]
    } else {
        vec![0]
    };
    let picked = rows(n);
    for &h in &checked {
        let x: &Inputs = heads.get(h);
        let exact = reference_rows(x.q.view(), x.k.view(), x.v.view(), s.causal, &picked);
        for (r, &i) in picked.iter().enumerate() {
            let visible = if s.causal { i + 1 } else { n };
            let mean =
                x.v.slice(s![..visible, ..])
                    .mapv(f64::from)
                    .mean_axis(ndarray::Axis(0));
            for c in 0..d {
                let want = exact[[r, c]];
                let got = run.output[(h * n + i) * d + c] as f64;
                let err = (got - want).abs();
                let bound = tolerance.0 + tolerance.1 * want.abs();
                report.max_abs_err = report.max_abs_err.max(err);
                report.max_err_over_bound = report.max_err_over_bound.max(err / bound);
                report.within_tolerance &= got.is_finite() && err <= bound;
                err2 += err * err;
                ref2 += want * want;
                if let Some(mean) = &mean {
                    mean2 += (mean[c] - want).powi(2);
                }
            }
            report.checked_rows += 1;
        }
    }
    report.rel_err = (err2 / ref2.max(f64::MIN_POSITIVE)).sqrt();
    report.rel_err_mean_of_v = (mean2 / ref2.max(f64::MIN_POSITIVE)).sqrt();
    print(&report, m.get_flag("json"));
    if !report.within_tolerance {
        return Err(Failure::runtime(format!(
            "flash-f16: an output is off by {:.3e}, {:.2}× the f16 tolerance",
            report.max_abs_err, report.max_err_over_bound
        )));
    }
    Ok(())
}

fn print(r: &FlashF16Bench, json: bool) {
    if json {
        match serde_json::to_string(r) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("flt: cannot serialise the report: {e}"),
        }
        return;
    }
    let timing = match r.timing {
        Timing::GpuTimestamp => "GPU timestamps",
        Timing::WallClock => "wall clock",
    };
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
    for p in &r.passes {
        println!("pass          {:.4} ms  {}", p.time_ms, p.pass);
    }
    println!(
        "checked       {} rows against the f64 definition: relative error {:.2e} (zero output 1, mean of V {:.3}); max |error| {:.3e}, {:.2}× the f16 tolerance at worst",
        r.checked_rows, r.rel_err, r.rel_err_mean_of_v, r.max_abs_err, r.max_err_over_bound
    );
}

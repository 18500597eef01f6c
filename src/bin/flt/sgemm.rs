//! `flt bench --kernel sgemm`: the tiled SGEMM of the low-rank methods
//! (`flt_explorer::gpu::sgemm`) timed alone on seeded inputs, like every
//! bench row (warm-up, `--repeats` runs, the median; GPU timestamps where
//! the adapter has them), and checked against the f64 product on sampled
//! entries within the K·ε bound.
//!
//! ```text
//! flt bench --kernel sgemm --n 4096 [--m M] [--k K] [--transpose none|a|b|ab]
//!           [--variant auto|large|medium|small] [--repeats R] [--warmup-ms MS] [--json]
//! ```
//!
//! C = op(A)·op(B), op(A) M × K, op(B) K × N; M and K default to N. Prints
//! a summary, or with `--json` one object (`kernel`, `m`, `n`, `k`, `ms`
//! and `time_ms`, `tflops`, `backend`, `adapter`, `max_abs_err`, …). Flags
//! of the attention bench are refused with `--kernel sgemm`, and these with
//! `--kernel attention` (exit 2); a variant or shape the adapter cannot
//! take exits 2 before any work, a GPU failure or an entry outside the
//! bound exits 1. With `--backend cpu` (or `auto` without an adapter) the
//! CPU twin (ndarray's product) is timed by the wall clock instead.

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches};
use flt_explorer::data::timing::{Timing, median};
use flt_explorer::gpu::sgemm::{self, Gemm, Variant};
use flt_explorer::gpu::work;
use flt_explorer::inputs::{GaussianStream, derive_seed};
use flt_explorer::pipeline::Backend;
use flt_explorer::settings::Settings;
use serde::Serialize;
use web_time::Instant;

use super::Failure;
use super::args::{list, pairs, settings};

/// The `--kernel` values: the attention methods (the default), the SGEMM,
/// or exact attention on tensor cores (`flash_f16.rs`).
const KERNELS: [&str; 3] = ["attention", "sgemm", "flash-f16"];
/// Flags only `--kernel sgemm` takes.
const SGEMM_ONLY: [&str; 4] = ["m", "k", "variant", "transpose"];
/// Flags `--kernel sgemm` takes besides those.
const SGEMM_ALSO: [&str; 8] = [
    "kernel",
    "n",
    "seed",
    "backend",
    "repeats",
    "warmup-ms",
    "json",
    "driver-stats",
];
/// Largest M, N or K accepted (the adapter's limits usually bind first).
const SIDE_MAX: u32 = 1 << 20;
/// Entries checked against the f64 product.
const CHECKED: usize = 64;

/// The flags `--kernel` adds to `flt bench`.
pub fn args() -> [Arg; 5] {
    let side = |key: &'static str, help: &'static str| {
        Arg::new(key)
            .long(key)
            .value_name(if key == "m" { "M" } else { "K" })
            .value_parser(clap::value_parser!(u32).range(1..=SIDE_MAX as i64))
            .help_heading("--kernel sgemm")
            .help(help)
    };
    [
        Arg::new("kernel")
            .long("kernel")
            .value_name("KERNEL")
            .value_parser(KERNELS)
            .default_value("attention")
            .help("What to time: the attention methods (--methods); the tiled SGEMM C = op(A)·op(B) of the low-rank methods (--n N [--m M] [--k K]); or flash-f16, exact attention with f16 operands on tensor cores where the GPU offers cooperative matrices (--n N --d D [--heads H] [--causal], checked against the f64 definition)"),
        side("m", "Rows of op(A) and C [default: --n]"),
        side("k", "The inner dimension [default: --n]"),
        Arg::new("variant")
            .long("variant")
            .value_name("NAME")
            .value_parser(["auto", "large", "medium", "small"])
            .default_value("auto")
            .help_heading("--kernel sgemm")
            .help("Tiling: 128×128 tiles (large), 64×64 (medium), 32×32 (small); auto: large when the output has 256 such tiles, else small, within the adapter's limits"),
        Arg::new("transpose")
            .long("transpose")
            .value_name("WHICH")
            .value_parser(["none", "a", "b", "ab"])
            .default_value("none")
            .help_heading("--kernel sgemm")
            .help("Operands stored transposed: A as K × M, B as N × K"),
    ]
}

/// Whether `id` was given on the command line (not a default).
pub fn given(m: &ArgMatches, id: &str) -> bool {
    m.value_source(id) == Some(ValueSource::CommandLine)
}

/// Whether `flt bench` times the SGEMM; refuses the SGEMM's flags with the
/// attention kernel.
pub fn chosen(m: &ArgMatches) -> Result<bool, Failure> {
    let sgemm = m.get_one::<String>("kernel").map(String::as_str) == Some("sgemm");
    if !sgemm && let Some(flag) = SGEMM_ONLY.iter().find(|id| given(m, id)) {
        return Err(Failure::usage(format!(
            "--{flag} applies to --kernel sgemm only"
        )));
    }
    Ok(sgemm)
}

/// One timed product.
#[derive(Debug, Serialize)]
struct SgemmBench {
    /// `flt.sgemm.v1`: what the line is, for scripts reading mixed results.
    schema: &'static str,
    kernel: &'static str,
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    transpose: String,
    /// `sgemm_vec4` or `sgemm_scalar` (GPU), `ndarray` (CPU).
    entry: String,
    variant: String,
    variant_detail: String,
    /// The median time, in milliseconds (also as `time_ms`).
    ms: f64,
    time_ms: f64,
    time_ms_samples: Vec<f64>,
    timing: Timing,
    /// 2MNK / time, in 10¹² per second.
    tflops: f64,
    flops: u64,
    flops_executed: Option<u64>,
    bytes_executed: Option<u64>,
    memory_bytes: u64,
    backend: &'static str,
    backend_reason: Option<String>,
    adapter: String,
    api: String,
    seed: u64,
    inputs: &'static str,
    checked_entries: usize,
    /// Largest |C − C_f64| over the checked entries.
    max_abs_err: f64,
    /// The K·ε bound at the entry where error / bound is largest.
    tolerance: f64,
    /// Largest error / bound over the checked entries (≤ 1 passes).
    max_err_over_bound: f64,
    within_bound: bool,
}

/// Reads the flags, refusing those of the attention bench.
fn problem(m: &ArgMatches) -> Result<(Gemm, Option<Variant>, Settings, u32), Failure> {
    let ids: Vec<&str> = m.ids().map(|id| id.as_str()).collect();
    if let Some(flag) = ids
        .iter()
        .find(|id| given(m, id) && !SGEMM_ONLY.contains(id) && !SGEMM_ALSO.contains(id))
    {
        return Err(Failure::usage(format!(
            "--{flag} does not apply to --kernel sgemm"
        )));
    }
    let ns = list(m, "n", "4096");
    let [n] = ns.as_slice() else {
        return Err(Failure::usage(format!(
            "--kernel sgemm times one shape: give one --n (got {})",
            ns.join(",")
        )));
    };
    let n: u32 = n
        .parse()
        .ok()
        .filter(|x| (1..=SIDE_MAX).contains(x))
        .ok_or_else(|| Failure::usage(format!("--n: {n} is not a size in 1..={SIDE_MAX}")))?;
    let rows = m.get_one::<u32>("m").copied().unwrap_or(n);
    let inner = m.get_one::<u32>("k").copied().unwrap_or(n);
    let transpose = m.get_one::<String>("transpose").map(String::as_str);
    let (ta, tb) = match transpose {
        Some("a") => (true, false),
        Some("b") => (false, true),
        Some("ab") => (true, true),
        _ => (false, false),
    };
    let variant = m
        .get_one::<String>("variant")
        .and_then(|v| Variant::parse(v));
    let s = settings(pairs(m, &["seed", "backend"]))?;
    let repeats = m.get_one::<u32>("repeats").copied().unwrap_or(10);
    // A buffer binding holds at most 4 GiB: 2³⁰ f32, which also keeps
    // every index of the shader's u32 arithmetic from overflowing.
    let most = 1u64 << 30;
    for (name, x, y) in [("A", rows, inner), ("B", inner, n), ("C", rows, n)] {
        let len = x as u64 * y as u64;
        if len > most {
            return Err(Failure::usage(format!(
                "{name} would hold {len} values; at most {most} fit one buffer"
            )));
        }
    }
    let gemm = Gemm::packed(rows, n, inner, 1, ta, tb)
        .ok_or_else(|| Failure::usage("the product does not fit u32 indices"))?;
    Ok((gemm, variant, s, repeats))
}

/// Uniform values in [−1, 1) from the seeded stream of `tag`.
fn operand(seed: u64, tag: &str, len: u64) -> Vec<f32> {
    let mut stream = GaussianStream::new(derive_seed(seed, tag, 0));
    (0..len)
        .map(|_| (2.0 * stream.uniform() - 1.0) as f32)
        .collect()
}

/// The checked entries: the corners and evenly spread pseudo-random ones.
fn sample(gemm: &Gemm, seed: u64) -> Vec<(u32, u32)> {
    let mut stream = GaussianStream::new(derive_seed(seed, "sgemm.check", 0));
    let mut out = vec![(0, 0), (gemm.m - 1, gemm.n - 1)];
    while out.len() < CHECKED {
        let pick = |x: f64, side: u32| ((x * side as f64) as u32).min(side - 1);
        out.push((
            pick(stream.uniform(), gemm.m),
            pick(stream.uniform(), gemm.n),
        ));
    }
    out
}

/// `flt bench --kernel sgemm`.
pub fn bench(m: &ArgMatches) -> Result<(), Failure> {
    let (gemm, variant, s, repeats) = problem(m)?;
    let seed = s.seed;
    let backend = super::commands::backend(s.backend)?;
    super::commands::apply_warmup(m, &backend);
    let a = operand(seed, "sgemm.a", gemm.a_len());
    let b = operand(seed, "sgemm.b", gemm.b_len());
    let transpose = match (gemm.trans_a, gemm.trans_b) {
        (false, false) => "none",
        (true, false) => "a",
        (false, true) => "b",
        (true, true) => "ab",
    };
    let mut report = SgemmBench {
        schema: "flt.sgemm.v1",
        kernel: "sgemm",
        m: gemm.m,
        n: gemm.n,
        k: gemm.k,
        batch: gemm.batch,
        transpose: transpose.into(),
        entry: String::new(),
        variant: String::new(),
        variant_detail: String::new(),
        ms: 0.0,
        time_ms: 0.0,
        time_ms_samples: Vec::new(),
        timing: Timing::WallClock,
        tflops: 0.0,
        flops: gemm.flops(),
        flops_executed: None,
        bytes_executed: None,
        memory_bytes: 0,
        backend: backend.key(),
        backend_reason: None,
        adapter: String::new(),
        api: String::new(),
        seed,
        inputs: "uniform in [−1, 1), seeded",
        checked_entries: 0,
        max_abs_err: 0.0,
        tolerance: 0.0,
        max_err_over_bound: 0.0,
        within_bound: true,
    };
    let c = match &backend {
        Backend::Gpu(ctx) => {
            let product = pollster::block_on(sgemm::multiply(ctx, &gemm, &a, &b, variant, repeats))
                .map_err(Failure::gpu)?;
            let v = product.variant;
            let (flops, bytes) = work::sgemm(
                gemm.m as u64,
                gemm.n as u64,
                gemm.k as u64,
                gemm.batch as u64,
                v,
            );
            report.entry = product.kernel.entry.into();
            report.variant = v.key().into();
            report.variant_detail = v.describe();
            report.time_ms_samples = product.timed.samples;
            report.timing = product.timed.timing;
            report.flops_executed = Some(flops);
            report.bytes_executed = Some(bytes);
            report.memory_bytes = product.memory_bytes;
            report.adapter = ctx.adapter_name.clone();
            report.api = ctx.api.clone();
            product.c
        }
        Backend::Cpu { reason } => {
            if variant.is_some() {
                return Err(Failure::usage(
                    "--variant chooses a GPU tiling; the CPU backend multiplies with ndarray",
                ));
            }
            let mut c = sgemm::twin(&gemm, &a, &b);
            for _ in 0..repeats {
                let started = Instant::now();
                c = sgemm::twin(&gemm, &a, &b);
                report
                    .time_ms_samples
                    .push(started.elapsed().as_secs_f64() * 1e3);
            }
            report.entry = "ndarray".into();
            report.variant = "cpu".into();
            report.variant_detail =
                "ndarray's f32 product (matrixmultiply), one untimed run first".into();
            report.backend_reason = reason.clone();
            report.adapter = "CPU".into();
            report.api = "ndarray".into();
            report.memory_bytes = 4 * (a.len() + b.len() + c.len()) as u64;
            c
        }
    };
    report.ms = median(&report.time_ms_samples);
    report.time_ms = report.ms;
    report.tflops = gemm.flops() as f64 / (report.ms * 1e9);
    for (i, j) in sample(&gemm, seed) {
        let (exact, magnitude) = sgemm::exact_entry(&gemm, &a, &b, 0, i, j);
        let got = c[(i * gemm.ldc + j) as usize] as f64;
        let err = (got - exact).abs();
        let bound = sgemm::tolerance(gemm.k, magnitude).max(f64::MIN_POSITIVE);
        report.max_abs_err = report.max_abs_err.max(err);
        if err / bound >= report.max_err_over_bound {
            report.max_err_over_bound = err / bound;
            report.tolerance = bound;
        }
        report.within_bound &= err <= bound && got.is_finite();
        report.checked_entries += 1;
    }
    print(&report, m.get_flag("json"));
    super::commands::driver_stats(m, &backend);
    if !report.within_bound {
        return Err(Failure::runtime(format!(
            "sgemm: an entry is off by {:.3e}, {:.1}× the K·ε bound",
            report.max_abs_err, report.max_err_over_bound
        )));
    }
    Ok(())
}

fn print(r: &SgemmBench, json: bool) {
    if json {
        super::print::json_line(r);
        return;
    }
    let timing = super::print::timing_words(r.timing);
    println!(
        "sgemm         C = op(A)·op(B): M = {}, N = {}, K = {}, transpose {}, seed {}",
        r.m, r.n, r.k, r.transpose, r.seed
    );
    println!("backend       {} — {} ({})", r.backend, r.adapter, r.api);
    if let Some(why) = &r.backend_reason {
        println!("              {why}");
    }
    println!(
        "kernel        {} ({}: {})",
        r.entry, r.variant, r.variant_detail
    );
    println!(
        "time          {:.4} ms ({timing}, median of {} after a warm-up)",
        r.ms,
        r.time_ms_samples.len()
    );
    println!("throughput    {:.2} TFLOP/s (2MNK / time)", r.tflops);
    if let (Some(f), Some(b)) = (r.flops_executed, r.bytes_executed) {
        println!("executed      {f} FLOPs (padded tiles), {b} bytes moved");
    }
    println!(
        "checked       {} entries against the f64 product: max |error| {:.3e}, {:.2}× the K·ε bound at worst",
        r.checked_entries, r.max_abs_err, r.max_err_over_bound
    );
}

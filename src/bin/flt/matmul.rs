//! `flt matmul`: the int8 matrix product C = A·Wᵀ (int8 × int8 → i32,
//! through `dot4I8Packed` or the unpacking fallback) beside the f32 product
//! of the same shape and tiling, timed the same way on one device
//! (`flt_explorer::compress::int8`).
//!
//! ```text
//! flt matmul --m 4096 --k 4096 --n 4096 --backend gpu --repeats 20 --json
//! ```
//!
//! Prints a table, or with `--json` one JSON object per kernel timed (int8
//! packed, int8 unpacked, f32), each with the shape. Bad flags exit 2; so
//! does a shape the device or i32 accumulation cannot take (before any
//! work); a GPU failure exits 1.

use std::rc::Rc;

use clap::{Arg, ArgMatches, Command};
use flt_explorer::compress::int8::{
    self, Int8Error, Int8Problem, Int8Report, KernelChoice, check_shape,
};
use flt_explorer::gpu::{GpuContext, GpuError};
use flt_explorer::pipeline::{Backend, BackendChoice, GpuPolicy, resolve_backend};

use super::Failure;

/// Multiply-adds the CPU may spend on each check of a run (the twin's rows
/// and the f64 reference's): all rows up to 1024³, fewer beyond.
const CHECK_MACS: u64 = 1 << 30;

fn size(key: &'static str, name: &'static str, help: &'static str) -> Arg {
    Arg::new(key)
        .long(key)
        .value_name(name)
        .value_parser(clap::value_parser!(u64).range(1..=1 << 20))
        .default_value("1024")
        .help(help)
}

/// The subcommand.
pub fn command() -> Command {
    Command::new("matmul")
        .about("The int8 matrix product (dot4I8Packed or the unpacking fallback) against the f32 product of the same shape")
        .long_about(
            "C = A·Wᵀ with A (M × K, activations) and W (N × K, weights) quantized to int8 \
             (symmetric, per row and per output channel), multiplied in i32 by the int8 kernels \
             — WGSL's dot4I8Packed where the adapter has it, and the portable unpacking fallback — \
             and the f32 product of the same inputs by a kernel of the same tiling. Each kernel \
             runs once untimed, then --repeats times (GPU timestamps where the adapter has them); \
             the int8 results are checked exactly against the CPU twin and every product against \
             the f64 product of the f32 inputs (all rows up to 2³⁰ multiply-adds, evenly spaced \
             rows beyond).",
        )
        .arg(size("m", "M", "Rows of A and C (tokens) [1, 2²⁰]"))
        .arg(size("k", "K", "The inner dimension (K ≤ 131071: i32 sums cannot overflow)"))
        .arg(size("n", "N", "Rows of W, columns of C (output channels) [1, 2²⁰]"))
        .arg(
            Arg::new("backend")
                .long("backend")
                .value_parser(["auto", "gpu", "cpu"])
                .default_value("auto")
                .help("gpu fails without an adapter; auto falls back to the CPU twins"),
        )
        .arg(
            Arg::new("kernel")
                .long("kernel")
                .value_parser(["all", "auto", "packed", "unpacked"])
                .default_value("all")
                .help("int8 kernels to time beside f32: all (packed where available, and unpacked), auto (the best here), packed, unpacked"),
        )
        .arg(
            Arg::new("repeats")
                .long("repeats")
                .value_parser(clap::value_parser!(u32).range(1..=1000))
                .default_value("10")
                .help("Timed runs of each kernel after one warm-up (the median is reported)"),
        )
        .arg(super::commands::warmup_flag())
        .arg(
            Arg::new("seed")
                .long("seed")
                .value_parser(clap::value_parser!(u64))
                .default_value("1")
                .help("Seed of the inputs"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(clap::ArgAction::SetTrue)
                .help("One JSON object per kernel, one per line"),
        )
}

fn get<T: Clone + Send + Sync + 'static>(m: &ArgMatches, key: &str) -> Result<T, Failure> {
    m.get_one::<T>(key)
        .cloned()
        .ok_or_else(|| Failure::usage(format!("--{key} is missing")))
}

/// The problem the flags describe.
fn problem(m: &ArgMatches) -> Result<(Int8Problem, BackendChoice), Failure> {
    let side = |key: &str| -> Result<usize, Failure> {
        usize::try_from(get::<u64>(m, key)?)
            .map_err(|_| Failure::usage(format!("--{key} is too large")))
    };
    let shape = check_shape(side("m")?, side("k")?, side("n")?)
        .map_err(|e| Failure::usage(format!("--k: {e}")))?;
    let kernel: String = get(m, "kernel")?;
    let kernels = KernelChoice::parse(&kernel)
        .ok_or_else(|| Failure::usage(format!("--kernel {kernel}: not a kernel choice")))?;
    let backend = match get::<String>(m, "backend")?.as_str() {
        "gpu" => BackendChoice::Gpu,
        "cpu" => BackendChoice::Cpu,
        _ => BackendChoice::Auto,
    };
    Ok((
        Int8Problem {
            shape,
            seed: get(m, "seed")?,
            kernels,
            repeats: get(m, "repeats")?,
            check_macs: CHECK_MACS,
        },
        backend,
    ))
}

fn failure(e: Int8Error) -> Failure {
    match e {
        Int8Error::Shape(_)
        | Int8Error::Overflow { .. }
        | Int8Error::Gpu(GpuError::TooLarge { .. }) => Failure::usage(e.to_string()),
        other => Failure::runtime(other.to_string()),
    }
}

/// Runs it.
pub fn run(m: &ArgMatches) -> Result<(), Failure> {
    let (problem, choice) = problem(m)?;
    let connect = || -> flt_explorer::data::LocalFuture<'static, _> {
        Box::pin(async { GpuContext::new().await.map(Rc::new) })
    };
    let backend = pollster::block_on(resolve_backend(choice, GpuPolicy::Fail, connect))
        .map_err(|e| Failure::runtime(format!("--backend {}: {e}", choice.key())))?;
    super::commands::apply_warmup(m, &backend);
    let report = match &backend {
        Backend::Gpu(ctx) => pollster::block_on(int8::run_gpu(ctx, &problem)),
        Backend::Cpu { reason } => int8::run_cpu(&problem, reason.clone()),
    }
    .map_err(failure)?;
    if m.get_flag("json") {
        for line in report.lines() {
            println!("{line}");
        }
    } else {
        table(&report);
    }
    Ok(())
}

fn optional(x: Option<f64>, digits: usize) -> String {
    x.map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "—".into())
}

/// The readable table.
fn table(r: &Int8Report) {
    println!(
        "C = A·Wᵀ   A {}×{} (activations), W {}×{} (weights), seed {}",
        r.m, r.k, r.n, r.k, r.seed
    );
    println!("backend    {} — {} ({})", r.backend, r.adapter, r.api);
    if let Some(why) = &r.backend_reason {
        println!("           {why}");
    }
    println!("packed     {}: {}", r.packed_dot.path, r.packed_dot.detail);
    println!("inputs     {}", r.inputs);
    println!("quantized  {}", r.quantization);
    println!("checked    {}", r.checked_scope);
    println!();
    println!(
        "{:<14} {:<42} {:>11} {:>10} {:>9} {:>6} {:>10} {:>8}",
        "kernel", "path", "time (ms)", "GOPS", "GB/s", "exact", "rel_err", "vs f32"
    );
    for k in &r.kernels {
        println!(
            "{:<14} {:<42} {:>11.4} {:>10} {:>9} {:>6} {:>10.2e} {:>8}",
            k.kernel,
            k.path,
            k.time_ms,
            optional(k.gops, 1),
            optional(k.gbytes_per_s, 1),
            k.exact.map(|e| if e { "yes" } else { "NO" }).unwrap_or("—"),
            k.rel_err,
            k.speedup_vs_f32
                .map(|s| format!("{s:.2}×"))
                .unwrap_or_else(|| "—".into()),
        );
    }
    println!();
    if let Some(k) = r.kernels.first() {
        println!("time       {}", k.timing_detail);
    }
    println!("GOPS       2MNK / time (compulsory multiply-adds × 2); GB/s: executed bytes / time");
    println!(
        "rel_err    ‖ŷ − y‖/‖y‖ against the f64 product of the f32 inputs (int8: dequantized); 0 output scores 1"
    );
    if let (Some(s), Some(k)) = (r.int8_speedup_vs_f32, &r.int8_fastest) {
        println!(
            "ratio      {k} is {s:.2}× the speed of f32 at this shape ({})",
            r.survey_claim
        );
    }
    for note in &r.notes {
        println!("note       {note}");
    }
}

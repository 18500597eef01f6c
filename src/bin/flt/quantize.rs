//! `flt quantize`: post-training quantization of the user's weight matrix
//! (`--in w.npy`) or a seeded one, on the GPU or the CPU twin; writes the
//! dequantized matrix (`--out wq.npy`) and prints the figures of the
//! quantization lab (`--json`: one JSON object, the page's schema).
//! Flags are generated from the lab's settings table
//! ([`flt_explorer::settings::quantization::QUANT`]).

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};
use flt_explorer::data::timing::Timing;
use flt_explorer::gpu::GpuRunOptions;
use flt_explorer::inputs::{load_npy_within, write_npy};
use flt_explorer::pipeline::quantization::{
    MAX_ELEMENTS, QuantizationProblem, QuantizationReport, run as quantize,
};
use flt_explorer::pipeline::{Quiet, RunError};
use flt_explorer::settings::Kind;
use flt_explorer::settings::quantization::{QUANT, QuantSettings};

use super::Failure;
use super::commands::backend;

/// The subcommand.
pub fn command() -> Command {
    let mut cmd = Command::new("quantize")
        .about("Post-training quantization of a weight matrix: writes x̂ and prints its error and size")
        .arg(
            Arg::new("in")
                .long("in")
                .value_name("W.npy")
                .value_parser(clap::value_parser!(PathBuf))
                .help("The weight matrix, a 2-D float16/32/64 .npy (rows = output channels); without it, a seeded matrix (--inputs, --seed, --rows, --cols)"),
        )
        .arg(
            Arg::new("out")
                .long("out")
                .value_name("WQ.npy")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Where to write the dequantized matrix x̂ (float32)"),
        );
    for spec in QUANT {
        let help = format!("{} ({})", spec.help, spec.range_text());
        cmd = cmd.arg(match spec.kind {
            Kind::Flag => Arg::new(spec.key)
                .long(spec.key)
                .action(ArgAction::SetTrue)
                .help(spec.help),
            _ => Arg::new(spec.key)
                .long(spec.key)
                .value_name(spec.key)
                .help(help),
        });
    }
    cmd.arg(
        Arg::new("repeats")
            .long("repeats")
            .value_name("R")
            .value_parser(clap::value_parser!(u32).range(1..=1000))
            .help("Timed repetitions after a warm-up; the median is reported"),
    )
    .arg(super::commands::warmup_flag())
    .arg(
        Arg::new("json")
            .long("json")
            .action(ArgAction::SetTrue)
            .help("Print the report as JSON"),
    )
}

/// The settings from the flags; every issue is a usage error.
fn settings(m: &ArgMatches) -> Result<(QuantSettings, Vec<String>), Failure> {
    let given: Vec<(String, String)> = QUANT
        .iter()
        .filter_map(|s| {
            m.get_one::<String>(s.key)
                .map(|v| (s.key.to_string(), v.clone()))
        })
        .collect();
    let keys = given.iter().map(|(k, _)| k.clone()).collect();
    let (s, issues) = QuantSettings::from_pairs(given);
    if issues.is_empty() {
        Ok((s, keys))
    } else {
        let lines: Vec<String> = issues
            .iter()
            .map(|i| format!("--{}: {}", i.key, i.problem))
            .collect();
        Err(Failure::usage(lines.join("\nflt: ")))
    }
}

/// The problem: the user's file, or the seeded matrix.
fn problem(
    m: &ArgMatches,
    s: &QuantSettings,
    given: &[String],
) -> Result<QuantizationProblem, Failure> {
    let options = GpuRunOptions {
        repeats: m.get_one::<u32>("repeats").copied().unwrap_or(5),
        ..Default::default()
    };
    let Some(path) = m.get_one::<PathBuf>("in") else {
        return Ok(s.problem(options));
    };
    for key in ["inputs", "seed", "rows", "cols"] {
        if given.iter().any(|g| g == key) {
            return Err(Failure::usage(format!(
                "--{key} describes a seeded matrix; it does not apply with --in"
            )));
        }
    }
    let limit = format!("the lab's limit of {MAX_ELEMENTS} float64 elements");
    let w = load_npy_within(path, (MAX_ELEMENTS * 8 + 65536) as u64, &limit)
        .map_err(|e| Failure::usage(e.to_string()))?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let p = QuantizationProblem::from_matrix(&name, w)
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    Ok(QuantizationProblem {
        options,
        ..p.with_scheme(s.scheme)
    })
}

/// Runs it.
pub fn run(m: &ArgMatches) -> Result<(), Failure> {
    let (s, given) = settings(m)?;
    let problem = problem(m, &s, &given)?;
    let backend = backend(s.backend)?;
    super::commands::apply_warmup(m, &backend);
    let report = pollster::block_on(quantize(&problem, &backend, &Quiet)).map_err(|e| match e {
        RunError::Scheme(_) | RunError::Input(_) => Failure::usage(e.to_string()),
        _ => Failure::runtime(e.to_string()),
    })?;
    if let Some(out) = m.get_one::<PathBuf>("out") {
        let xhat = report
            .artifacts
            .output()
            .ok_or_else(|| Failure::runtime("the run kept no dequantized matrix"))?;
        write_npy(out, xhat).map_err(|e| Failure::runtime(e.to_string()))?;
    }
    print(&report, m.get_flag("json"))
}

/// Prints the report: JSON, or a few readable lines.
fn print(r: &QuantizationReport, json: bool) -> Result<(), Failure> {
    if json {
        let text = serde_json::to_string(r).map_err(|e| Failure::runtime(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    let (e, f) = (&r.envelope, &r.figures);
    println!(
        "{} on a {} × {} matrix ({})",
        e.method_label, f.rows, f.cols, f.inputs
    );
    println!(
        "  backend      {} — {} ({})",
        e.backend, e.adapter, e.kernel_variant
    );
    let sqnr = f
        .sqnr_db
        .map_or("∞ (lossless)".to_string(), |d| format!("{d:.2} dB"));
    let law = f.sqnr_law_db.map_or(String::new(), |d| {
        format!("  (uniform-noise law {d:.2} dB)")
    });
    println!("  SQNR         {sqnr}{law}");
    println!(
        "  MSE          {:.4e}  (storing nothing: {:.4e})",
        f.mse, f.baseline_zero_mse
    );
    println!("  max |x − x̂|  {:.4e}", f.max_abs_err);
    println!(
        "  size         {} B → {} B ({:.2}× smaller, {:.3} bits per weight)",
        f.bytes_before, f.bytes_after, f.compression, f.bits_per_weight
    );
    println!("               {}", f.bytes_after_formula);
    if f.clip == "mse" {
        println!(
            "  clipping     mean α = {:.3}, {:.3}% of the weights clipped",
            f.alpha_mean,
            100.0 * f.clipped_fraction
        );
    }
    let how = match e.timing {
        Timing::GpuTimestamp => "GPU timestamps",
        Timing::WallClock => "wall clock",
    };
    println!(
        "  time         {:.4} ms ({how}, median of {})",
        e.time_ms,
        e.time_ms_samples.len()
    );
    if let (Some(t), Some(c)) = (f.throughput_gbps, f.copy_gbps) {
        println!("  throughput   {t:.4} GB/s read x + write x̂ (a plain copy: {c:.4} GB/s)");
    }
    for note in &e.notes {
        println!("  note         {note}");
    }
    Ok(())
}

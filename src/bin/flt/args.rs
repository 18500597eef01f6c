//! The command line, generated from the settings table
//! ([`flt_explorer::settings::COMMON`]) and the method registry: no flag,
//! range or default is typed here by hand.

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};
use flt_explorer::attention::{MethodId, ParamSpec};
use flt_explorer::settings::{self, Kind, Settings};

use super::Failure;

/// Every knob in the registry, once each (methods share names like `--stride`).
pub fn all_params() -> Vec<&'static ParamSpec> {
    let mut out: Vec<&'static ParamSpec> = Vec::new();
    for m in MethodId::ALL {
        for p in m.info().params {
            if !out.iter().any(|q| q.key == p.key) {
                out.push(p);
            }
        }
    }
    out
}

/// The flag of a common knob, with its help and range from the table.
fn common_flag(key: &'static str) -> Arg {
    let spec = settings::common(key);
    let arg = Arg::new(key).long(key);
    let help = format!("{} ({})", spec.help, spec.range_text());
    match spec.kind {
        Kind::Flag => arg.action(ArgAction::SetTrue).help(spec.help),
        _ => arg.value_name(key).help(help),
    }
}

/// A comma-separated list of a common knob (`bench --n 256,512`).
fn list_flag(key: &'static str, long: &'static str) -> Arg {
    let spec = settings::common(key);
    Arg::new(long).long(long).value_name("A,B,..").help(format!(
        "{}, comma-separated ({})",
        spec.help,
        spec.range_text()
    ))
}

/// Flags for every method knob in the registry.
fn method_params(mut cmd: Command) -> Command {
    for p in all_params() {
        let users: Vec<&str> = MethodId::ALL
            .iter()
            .filter(|m| m.info().params.iter().any(|q| q.key == p.key))
            .map(|m| m.key())
            .collect();
        let arg = Arg::new(p.key).long(p.key).help_heading("Method knobs");
        cmd = cmd.arg(if p.flag {
            arg.action(ArgAction::SetTrue)
                .help(format!("{} [{}]", p.help, users.join(", ")))
        } else if p.is_choice() {
            arg.value_name("NAME").help(format!(
                "{}: {} (default {}) [{}]",
                p.help,
                p.choices.join(" | "),
                p.choices[p.default as usize],
                users.join(", ")
            ))
        } else {
            arg.value_name("N").help(format!(
                "{} ({}..={}, default {}) [{}]",
                p.help,
                p.min,
                p.max,
                p.default,
                users.join(", ")
            ))
        });
    }
    cmd
}

/// The knobs every subcommand shares.
fn common(cmd: Command) -> Command {
    cmd.arg(common_flag("seed"))
        .arg(common_flag("causal"))
        .arg(common_flag("inputs"))
        .arg(common_flag("qk-scale"))
        .arg(common_flag("backend"))
        .arg(
            Arg::new("repeats")
                .long("repeats")
                .value_name("R")
                .value_parser(clap::value_parser!(u32).range(1..=1000))
                .help("Timed repetitions after a warm-up; the median is reported"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print the report as JSON"),
        )
        .arg(super::commands::warmup_flag())
        .arg(
            Arg::new("fused-rows")
                .long("fused-rows")
                .value_name("R")
                .value_parser(clap::value_parser!(u32).range(1..=64))
                .help("Tuning: most query rows per fused-kernel workgroup (16, 32 or 64)"),
        )
        .arg(
            Arg::new("no-autotune")
                .long("no-autotune")
                .action(ArgAction::SetTrue)
                .help("Run the flash kernel's fixed default configuration instead of the one the autotuner chose for this adapter (cached under $XDG_CACHE_HOME/flt/; also FLT_AUTOTUNE=0)"),
        )
}

fn file(key: &'static str, name: &'static str, help: &'static str) -> Arg {
    Arg::new(key)
        .long(key)
        .value_name(name)
        .value_parser(clap::value_parser!(PathBuf))
        .help(help)
}

/// The whole command line.
pub fn command() -> Command {
    let run = common(
        Command::new("run")
            .about("Run one method (timed over --repeats) and print its report")
            .arg(common_flag("method"))
            .arg(common_flag("n"))
            .arg(common_flag("d"))
            .arg(common_flag("heads"))
            .arg(common_flag("batch"))
            .arg(file("q", "q.npy", "Queries [n, d] (.npy, float16/32/64)"))
            .arg(file("k", "k.npy", "Keys [n, d]"))
            .arg(file("v", "v.npy", "Values [n, dv]"))
            .arg(file("out", "o.npy", "Write the output O [n, dv] as .npy ([B·H·n, dv], head after head, with --heads/--batch)"))
            .arg(file(
                "svg",
                "map.svg",
                "Write the pooled attention heatmap as SVG",
            ))
            .arg(file(
                "png",
                "map.png",
                "Write the pooled attention heatmap as PNG (the SVG's drawing at 2×)",
            ))
            .arg(file(
                "csv",
                "map.csv",
                "Write the pooled attention heatmap's cells as CSV (first query and key of each cell, block means)",
            ))
            .arg(common_flag("qkv-bits"))
            .arg(common_flag("qkv-scales"))
            .arg(pass_times_flag())
            .arg(progress_flag()),
    );
    let bench = common(
        Command::new("bench")
            .about("Run methods over sequence lengths; one report per line with --json; fitted exponents and crossovers against full; the scaling chart with --svg")
            .arg(list_flag("method", "methods"))
            .arg(list_flag("n", "n"))
            .arg(list_flag("d", "d"))
            .arg(common_flag("heads"))
            .arg(common_flag("batch"))
            .arg(common_flag("qkv-bits"))
            .arg(common_flag("qkv-scales"))
            .arg(file(
                "svg",
                "scaling.svg",
                "Write the scaling chart (time and memory against n, log-log, fitted exponents, crossovers against full) as SVG; one --d",
            ))
            .arg(pass_times_flag())
            .arg(progress_flag())
            .arg(
                Arg::new("driver-stats")
                    .long("driver-stats")
                    .action(ArgAction::SetTrue)
                    .help("After the runs, print to stderr what the Vulkan driver reports for each compute pipeline the run built (registers, shared and spilled memory, …: VK_KHR_pipeline_executable_properties; each pipeline built again from its WGSL with the statistics on)"),
            )
            .args(super::sgemm::args()),
    );
    let sweep = common(
        Command::new("sweep")
            .about(
                "The error law: rel_err against a method's budget (m, k or L), several seeds each",
            )
            .arg(common_flag("method"))
            .arg(common_flag("n"))
            .arg(common_flag("d"))
            .arg(
                Arg::new("budgets")
                    .long("budgets")
                    .value_name("B,B,..")
                    .help("Budgets [default: powers of two up to the knob's maximum]"),
            )
            .arg(
                Arg::new("seeds")
                    .long("seeds")
                    .value_name("S")
                    .value_parser(clap::value_parser!(u32).range(1..=100))
                    .help("Draws per budget [default: 5]"),
            ),
    );
    Command::new("flt")
        .about("Faster and lighter Transformers: attention kernels on the GPU (wgpu) and their CPU twins")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(method_params(run))
        .subcommand(method_params(bench))
        .subcommand(method_params(sweep))
        .subcommand(Command::new("methods").about("List the methods and their knobs"))
        .subcommand(super::quantize::command())
        .subcommand(super::size::command())
        .subcommand(super::qat::command())
        .subcommand(super::matmul::command())
        .subcommand(super::compare::command())
}

/// `--progress` (`flt run`, `flt bench`): each stage of a run as it starts.
fn progress_flag() -> Arg {
    Arg::new("progress")
        .long("progress")
        .action(ArgAction::SetTrue)
        .help("Print each stage of a run to stderr as it starts (inputs, pattern, GPU kernels, CPU twin, f64 reference), with the seconds since the command started; stdout keeps the report")
}

/// `--pass-times`: where a GPU run's time goes.
fn pass_times_flag() -> Arg {
    Arg::new("pass-times")
        .long("pass-times")
        .action(ArgAction::SetTrue)
        .help("After the timed runs, time each GPU pass of the program on its own (GPU timestamps around each pass, the passes back to back as in a run, median of the repeats): `pass` lines, or `passes` in the JSON")
}

/// The `key=value` pairs given on the command line, for the settings parser.
pub fn pairs(m: &ArgMatches, keys: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for key in keys {
        if let Ok(Some(v)) = m.try_get_one::<String>(key) {
            out.push((key.to_string(), v.clone()));
        }
    }
    for p in all_params() {
        if p.flag {
            if m.get_flag(p.key) {
                out.push((p.key.to_string(), "true".into()));
            }
        } else if let Ok(Some(v)) = m.try_get_one::<String>(p.key) {
            out.push((p.key.to_string(), v.clone()));
        }
    }
    if m.get_flag("causal") {
        out.push(("causal".into(), "true".into()));
    }
    out
}

/// Refuses knobs that none of `methods` takes (`--window` with `full`).
pub fn knobs_apply(given: &[(String, String)], methods: &[MethodId]) -> Result<(), Failure> {
    for (key, _) in given {
        let is_knob = all_params().iter().any(|p| p.key == key);
        let used = methods
            .iter()
            .any(|m| m.info().params.iter().any(|p| p.key == key));
        if is_knob && !used {
            let names: Vec<&str> = methods.iter().map(|m| m.key()).collect();
            return Err(Failure::usage(format!(
                "--{key} does not apply to {}",
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// Parsed settings, or every issue as a usage failure.
pub fn settings(pairs: Vec<(String, String)>) -> Result<Settings, Failure> {
    let (s, issues) = Settings::from_pairs(pairs);
    if issues.is_empty() {
        Ok(s)
    } else {
        let lines: Vec<String> = issues
            .iter()
            .map(|i| format!("--{}: {}", i.key, i.problem))
            .collect();
        Err(Failure::usage(lines.join("\nflt: ")))
    }
}

/// A comma-separated list flag.
pub fn list(m: &ArgMatches, key: &str, default: &str) -> Vec<String> {
    m.get_one::<String>(key)
        .map(String::as_str)
        .unwrap_or(default)
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

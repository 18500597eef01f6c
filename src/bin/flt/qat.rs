//! `flt qat`: QAT against PTQ on the seeded task — a 2-layer MLP trained in
//! f32, quantized after training at 4, 3 and 2 bits, and fine-tuned with
//! fake quantization and the straight-through estimator — on the GPU or the
//! CPU twin. The flags come from the section's settings table
//! ([`flt_explorer::settings::qat::SPECS`]); the page's `?qat-seed=…` runs the
//! same experiment, and on the CPU twin gives the same numbers.
//!
//! ```text
//! flt qat [--backend auto|gpu|cpu] [--seed S] [--hidden H] [--epochs E] [--tune-epochs E] [--json]
//! ```

use std::path::PathBuf;
use std::rc::Rc;

use clap::{Arg, ArgAction, ArgMatches, Command};
use flt_explorer::chart::qat::{draw_accuracy, draw_losses};
use flt_explorer::gpu::GpuContext;
use flt_explorer::pipeline::qat::QatSnapshot;
use flt_explorer::pipeline::qat::{QatReport, run as run_qat};
use flt_explorer::pipeline::{Backend, BackendChoice, GpuPolicy, Quiet, RunError, resolve_backend};
use flt_explorer::settings::qat::{QatSettings, SPECS};
use flt_explorer::settings::{self, Kind, Spec};
use plotters::prelude::{IntoDrawingArea, SVGBackend};

use super::Failure;

fn flag(spec: &Spec) -> Arg {
    let arg = Arg::new(spec.key).long(spec.key).value_name("N");
    match spec.kind {
        Kind::Flag => arg.action(ArgAction::SetTrue).help(spec.help),
        _ => arg.help(format!("{} ({})", spec.help, spec.range_text())),
    }
}

/// The subcommand.
pub fn command() -> Command {
    let backend = settings::common("backend");
    let mut cmd = Command::new("qat")
        .about("QAT against PTQ on a seeded task: a 2-layer MLP trained in f32, quantized after training, and trained with fake quantization")
        .arg(
            Arg::new("backend")
                .long("backend")
                .value_name("auto|gpu|cpu")
                .help(format!("{} ({})", backend.help, backend.range_text())),
        )
        .arg(
            Arg::new("svg")
                .long("svg")
                .value_name("accuracy.svg")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Write the chart of test accuracy against bits (PTQ, QAT, f32, chance) as SVG"),
        )
        .arg(
            Arg::new("loss-svg")
                .long("loss-svg")
                .value_name("loss.svg")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Write the chart of the training loss per epoch as SVG"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print the report as JSON (the page's raw data)"),
        );
    for spec in SPECS {
        cmd = cmd.arg(flag(spec));
    }
    cmd
}

/// The settings from the flags, or every problem as a usage failure.
fn parse(m: &ArgMatches) -> Result<QatSettings, Failure> {
    let mut pairs = Vec::new();
    for key in SPECS.iter().map(|s| s.key).chain(["backend"]) {
        if let Some(v) = m.get_one::<String>(key) {
            pairs.push((key.to_string(), v.clone()));
        }
    }
    let (s, issues) = QatSettings::from_pairs(pairs, "");
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

/// The backend: `--backend gpu` without an adapter fails.
fn backend(choice: BackendChoice) -> Result<Backend, Failure> {
    let connect = || -> flt_explorer::data::LocalFuture<'static, _> {
        Box::pin(async { GpuContext::new().await.map(Rc::new) })
    };
    pollster::block_on(resolve_backend(choice, GpuPolicy::Fail, connect))
        .map_err(|e| Failure::runtime(format!("--backend {}: {e}", choice.key())))
}

/// Runs it.
pub fn run(m: &ArgMatches) -> Result<(), Failure> {
    let s = parse(m)?;
    let problem = s.problem();
    let backend = backend(s.backend)?;
    let report = pollster::block_on(run_qat(&problem, &backend, &Quiet)).map_err(|e| match e {
        RunError::Method(_) => Failure::usage(e.to_string()),
        _ => Failure::runtime(e.to_string()),
    })?;
    let snapshot = QatSnapshot::from(&report.figures);
    if let Some(path) = m.get_one::<PathBuf>("svg") {
        write_svg(path, |svg| {
            let root = SVGBackend::with_string(svg, (640, 360)).into_drawing_area();
            draw_accuracy(&root, &snapshot).map_err(|e| e.to_string())
        })?;
    }
    if let Some(path) = m.get_one::<PathBuf>("loss-svg") {
        write_svg(path, |svg| {
            let root = SVGBackend::with_string(svg, (640, 360)).into_drawing_area();
            draw_losses(&root, &snapshot).map_err(|e| e.to_string())
        })?;
    }
    if m.get_flag("json") {
        let json = serde_json::to_string(&report)
            .map_err(|e| Failure::runtime(format!("cannot write the report: {e}")))?;
        println!("{json}");
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

/// Draws a chart into a string and writes it to `path`.
fn write_svg(
    path: &PathBuf,
    draw: impl FnOnce(&mut String) -> Result<(), String>,
) -> Result<(), Failure> {
    let mut svg = String::new();
    draw(&mut svg).map_err(|e| Failure::runtime(format!("cannot draw {}: {e}", path.display())))?;
    std::fs::write(path, svg)
        .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))
}

/// The report as a few lines and a table.
fn table(r: &QatReport) -> String {
    let (f, e) = (&r.figures, &r.envelope);
    let percent = |x: f64| format!("{:.1}%", 100.0 * x);
    let mut out = format!(
        "QAT against PTQ: MLP {} → {} ReLU → {} ({} parameters), seed {}\n\
         task: {}\n\
         backend: {} — {} ({})\n\
         quantizer: {}\n\n\
         f32: test accuracy {} (loss {:.3}) after {} epochs, {:.2} ms per epoch\n\n",
        f.inputs,
        f.hidden,
        f.classes,
        f.params,
        f.seed,
        f.task,
        e.backend,
        e.adapter,
        e.api,
        f.quantizer,
        percent(f.f32_test_accuracy),
        f.f32_test_loss,
        f.epochs,
        f.f32_epoch_ms,
    );
    out.push_str(&format!(
        "{:>5}  {:>7}  {:>7}  {:>12}  {:>14}\n",
        "bits", "PTQ", "QAT", "QAT − PTQ", "QAT ms/epoch"
    ));
    for b in &f.per_bits {
        out.push_str(&format!(
            "{:>5}  {:>7}  {:>7}  {:>+11.1}pt  {:>14.2}\n",
            b.bits,
            percent(b.ptq_test_accuracy),
            percent(b.qat_test_accuracy),
            100.0 * (b.qat_test_accuracy - b.ptq_test_accuracy),
            b.qat_epoch_ms,
        ));
    }
    out.push_str(&format!(
        "\nQAT: {} epochs per width from the f32 weights. Epoch times: {}. Whole run {:.0} ms.\n",
        f.qat_epochs, f.epoch_timing, f.total_ms
    ));
    for (name, value) in &e.cross_checks {
        out.push_str(&format!("cross-check {name}: {value:e}\n"));
    }
    out
}

//! `flt size`: the model-size lab on the command line — a model preset or
//! a configuration, its parameter count part by part and its size at every
//! precision; optionally the Combining Techniques calculator and every
//! preset compared.
//!
//! ```text
//! flt size --model bert-base [--json]
//! flt size --layers 12 --hidden 768 --heads 12 --ffn 3072 --vocab 30000 --embedding 128 --shared-layers
//! flt size --model gpt2 --teacher bert-large --student distilbert --prune-heads 0.75 --bits 8
//! flt size --compare
//! ```
//!
//! The flags are the page's URL parameters, generated from the same table
//! ([`flt_explorer::settings::model_size`]) and parsed by the same parser;
//! a bad value exits with status 2 and the parser's message.

use clap::{Arg, ArgAction, ArgMatches, Command};
use flt_explorer::compress::size::presets::keys;
use flt_explorer::compress::size::{Combined, Part, Precision};
use flt_explorer::pipeline::Backend;
use flt_explorer::pipeline::model_size::{ModelSizeFigures, ModelSizeReport, run as run_lab};
use flt_explorer::settings::model_size::{CALCULATOR, CONFIG, MODEL, ModelSizeSettings, PRECISION};
use flt_explorer::settings::{Kind, Spec};

use super::Failure;

/// The flag of a spec, with its help and values from the table.
fn flag(spec: &'static Spec, heading: &'static str) -> Arg {
    let arg = Arg::new(spec.key).long(spec.key).help_heading(heading);
    let configured = CONFIG.iter().any(|c| c.key == spec.key);
    let help = match (spec.kind, configured) {
        (Kind::Int { min, max, .. }, true) => {
            format!("{} ({min}..={max}; default: the model's)", spec.help)
        }
        (Kind::Flag, _) => format!(
            "{} (default: the model's; --{} false to turn off)",
            spec.help, spec.key
        ),
        (Kind::Choice { .. }, true) => {
            format!(
                "{} ({}; default: the model's)",
                spec.help,
                spec.range_text().split(',').next().unwrap_or("")
            )
        }
        _ => format!("{} ({})", spec.help, spec.range_text()),
    };
    match spec.kind {
        Kind::Flag => arg
            .value_name("BOOL")
            .num_args(0..=1)
            .default_missing_value("true")
            .help(help),
        Kind::Int { .. } => arg.value_name("N").help(help),
        Kind::Real { .. } => arg.value_name("X").help(help),
        Kind::Choice { .. } => arg.value_name("NAME").help(help),
    }
}

/// The subcommand.
pub fn command() -> Command {
    let mut cmd = Command::new("size")
        .about("Parameter count and size of a Transformer architecture at every precision")
        .long_about(
            "Parameter count of a model preset or a configuration, part by part (one formula: \
             embeddings, layers, pooler, output layer), and its size at fp32, fp16, int8, int4 \
             and binary (quantized: one fp16 scale per output row and fp16 biases and norms \
             counted). Give --model NAME, or configuration flags (they override the model's values; \
             without --model they start from bert-base).",
        )
        .after_help(format!("Models: {}", keys().join(", ")))
        .arg(flag(&MODEL, "Model"));
    for spec in CONFIG {
        cmd = cmd.arg(flag(spec, "Configuration (overrides the model's values)"));
    }
    cmd = cmd.arg(flag(&PRECISION, "Model"));
    for spec in CALCULATOR {
        cmd = cmd.arg(flag(
            spec,
            "Combining Techniques calculator (printed when any is given)",
        ));
    }
    cmd.arg(
        Arg::new("compare")
            .long("compare")
            .action(ArgAction::SetTrue)
            .help("Also compare every model and the survey's size claims"),
    )
    .arg(
        Arg::new("json")
            .long("json")
            .action(ArgAction::SetTrue)
            .help("Print the report as one JSON object"),
    )
}

/// The flags given, as `key=value` pairs for the settings parser.
fn given(m: &ArgMatches, specs: &[&'static Spec]) -> Vec<(String, String)> {
    specs
        .iter()
        .filter_map(|s| {
            m.get_one::<String>(s.key)
                .map(|v| (s.key.to_string(), v.clone()))
        })
        .collect()
}

/// Runs it.
pub fn run(m: &ArgMatches) -> Result<(), Failure> {
    let model: Vec<&'static Spec> = std::iter::once(&MODEL)
        .chain(CONFIG)
        .chain(std::iter::once(&PRECISION))
        .collect();
    let calculator: Vec<&'static Spec> = CALCULATOR.iter().collect();
    let (model_pairs, calculator_pairs) = (given(m, &model), given(m, &calculator));
    let compare = m.get_flag("compare");
    if model_pairs.is_empty() && calculator_pairs.is_empty() && !compare {
        return Err(Failure::usage(format!(
            "flt size needs --model NAME ({}) or configuration flags (--layers, --hidden, --heads, \
             --ffn, --vocab, …); see flt size --help",
            keys().join(", ")
        )));
    }
    let with_calculator = !calculator_pairs.is_empty();
    let only_compare = model_pairs.is_empty() && !with_calculator;
    let (settings, issues) =
        ModelSizeSettings::from_pairs(model_pairs.into_iter().chain(calculator_pairs));
    if !issues.is_empty() {
        let lines: Vec<String> = issues
            .iter()
            .map(|i| format!("--{}: {}", i.key, i.problem))
            .collect();
        return Err(Failure::usage(lines.join("\nflt: ")));
    }
    let mut problem = settings.problem();
    problem.comparison = compare;
    if !with_calculator {
        problem.combination = None;
    }
    let report = run_lab(&problem, &Backend::Cpu { reason: None })
        .map_err(|e| Failure::usage(e.to_string()))?;
    if m.get_flag("json") {
        let text = serde_json::to_string(&report)
            .map_err(|e| Failure::runtime(format!("cannot serialise the report: {e}")))?;
        println!("{text}");
    } else if only_compare {
        print_comparison(&report.figures);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// `1,234,567`.
fn grouped(x: u64) -> String {
    let digits = x.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn millions(x: f64) -> String {
    format!("{:.2}M", x / 1e6)
}

/// A published count as published: `110M`, `14.5M`, `70,426,624`.
fn as_published(x: u64) -> String {
    if x.is_multiple_of(1_000_000) {
        format!("{}M", x / 1_000_000)
    } else if x.is_multiple_of(100_000) {
        format!("{:.1}M", x as f64 / 1e6)
    } else {
        grouped(x)
    }
}

fn mib(bytes: u64) -> String {
    let mib = bytes as f64 / (1u64 << 20) as f64;
    if mib >= 1024.0 {
        format!("{:.2} GiB", mib / 1024.0)
    } else {
        format!("{mib:.2} MiB")
    }
}

fn print_report(r: &ModelSizeReport) {
    let f = &r.figures;
    let c = &f.config;
    println!("model         {} ({})", f.model_label, f.model);
    if !f.config_source.is_empty() {
        println!("config        {}", f.config_source);
    }
    println!(
        "              L = {}, H = {}, A = {}, F = {}, V = {}, E = {}, P = {}, T = {}, b = {}, FFNs/layer = {}",
        c.layers,
        c.hidden,
        c.heads,
        c.ffn,
        c.vocab,
        c.embedding,
        c.positions,
        c.type_vocab,
        c.bottleneck,
        c.ffn_stack
    );
    println!(
        "              shared layers: {}, pooler: {}, output layer: {}",
        c.shared_layers,
        c.pooler,
        c.lm_head.key()
    );
    println!(
        "parameters    {} ({}); non-embedding {}",
        grouped(f.params),
        millions(f.params as f64),
        grouped(f.params_non_embedding)
    );
    if f.layers_stored < c.layers {
        println!(
            "              one layer stored for {}: {} without sharing",
            c.layers,
            grouped(f.params_unshared)
        );
    }
    for p in &f.published {
        println!(
            "published     {} — {}: computed {:+.2}% ({})",
            as_published(p.params),
            p.source,
            100.0 * p.relative_difference,
            p.note
        );
    }
    if let Some(x) = f.implementation_params {
        println!("Hugging Face  {} (base model, sum of numel)", grouped(x));
    }
    print_breakdown(f);
    print_sizes(f);
    if let Some(c) = &f.combination {
        print_combination(c);
    }
    if !f.comparison.is_empty() {
        print_comparison(f);
    }
}

fn part_line(indent: &str, p: &Part) {
    println!(
        "{indent}{:<52} {:>14}   = {}",
        p.label,
        grouped(p.params),
        p.formula
    );
}

fn print_breakdown(f: &ModelSizeFigures) {
    println!("breakdown");
    println!(
        "  {:<52} {:>14}",
        "embeddings",
        grouped(f.params_embeddings)
    );
    for p in &f.embedding_parts {
        part_line("    ", p);
    }
    let layers = f.config.layers;
    let copies = if f.layers_stored == 1 && layers > 1 {
        format!("one layer stored, used by all {layers}")
    } else {
        format!("× {layers} layers = {}", grouped(f.params_layers))
    };
    println!(
        "  {:<52} {:>14}   {copies}",
        "per layer",
        grouped(f.params_per_layer)
    );
    for p in &f.layer_parts {
        part_line("    ", p);
    }
    for p in &f.top_parts {
        part_line("  ", p);
    }
}

fn print_sizes(f: &ModelSizeFigures) {
    println!("sizes         quantized: {}", f.quantized_layout);
    println!(
        "  {:<8} {:>4} {:>16} {:>12} {:>13} {:>11} {:>8} {:>8}",
        "", "bits", "bytes", "size", "scales", "vectors", "vs fp32", "nominal"
    );
    for s in &f.sizes {
        let mark = if s.precision == f.precision { "*" } else { " " };
        println!(
            "{mark} {:<8} {:>4} {:>16} {:>12} {:>13} {:>11} {:>7.2}× {:>7}×",
            s.precision.label(),
            s.bits,
            grouped(s.bytes),
            mib(s.bytes),
            grouped(s.bytes_scales),
            grouped(s.bytes_vectors),
            s.compression,
            s.nominal_compression
        );
    }
}

fn print_combination(c: &Combined) {
    println!("combining techniques (survey: 340M → 66M → 33M → 8M effective, 40–85×)");
    for s in &c.steps {
        println!(
            "  {:<13} {:>14} effective   {:>7.2}× step  {:>7.2}× total   survey {} ({}×)   {}",
            s.key,
            millions(s.effective_params),
            s.factor,
            s.total_factor,
            as_published(s.survey_params as u64),
            s.survey_factor,
            s.label
        );
    }
    let totals: Vec<String> = c
        .totals
        .iter()
        .map(|t| format!("{} {:.1}×", t.precision.label(), t.total_factor))
        .collect();
    println!("  total at each final precision: {}", totals.join(", "));
}

fn print_comparison(f: &ModelSizeFigures) {
    let header: Vec<&str> = Precision::ALL.iter().map(|p| p.label()).collect();
    println!(
        "{:<15} {:>15} {:>10} {:>8}  {}",
        "model",
        "computed",
        "published",
        "diff",
        header
            .iter()
            .map(|h| format!("{h:>11}"))
            .collect::<String>()
    );
    for row in &f.comparison {
        let sizes: String = row
            .bytes
            .iter()
            .map(|&b| format!("{:>11}", mib(b)))
            .collect();
        println!(
            "{:<15} {:>15} {:>10} {:>+7.2}%  {sizes}",
            row.model,
            grouped(row.params),
            as_published(row.published_params),
            100.0 * row.relative_difference
        );
    }
    println!("survey claims, recomputed");
    for c in &f.claims {
        let range = |(a, b): (f64, f64)| {
            if a == b {
                format!("{a:.2}")
            } else {
                format!("{a:.2}–{b:.2}")
            }
        };
        println!(
            "  {:<78} survey {:>10}  computed {:>12} {}  ({})",
            c.claim,
            range(c.survey),
            range(c.computed),
            c.unit,
            c.how
        );
    }
}

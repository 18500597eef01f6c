//! `flt compare`: the Comprehensive Comparison, measured — every registered
//! attention method at one n and d on this backend, one row each, as a
//! readable table or (`--json`) one JSON object per method per line, the
//! schema of the page's raw data
//! ([`flt_explorer::pipeline::compare::CompareRow`]). Flags are generated
//! from the comparison's settings table
//! ([`flt_explorer::settings::compare::COMPARE`]), the page's URL keys.
//!
//! ```text
//! flt compare --n 4096 --d 64 [--seed S] [--inputs gaussian] [--causal] [--backend auto|gpu|cpu]
//!             [--repeats R] [--warmup-ms MS] [--sort time] [--json]
//! ```

use std::io::Write;

use clap::{Arg, ArgAction, ArgMatches, Command};
use flt_explorer::format;
use flt_explorer::gpu::GpuRunOptions;
use flt_explorer::pipeline::compare::{
    CompareRow, RowStatus, SortKey, compare as run_compare, sort_rows,
};
use flt_explorer::pipeline::{Backend, Quiet, RunError};
use flt_explorer::settings::Kind;
use flt_explorer::settings::compare::{COMPARE, CompareSettings};

use super::Failure;
use super::commands::{apply_warmup, backend, warmup_flag};

/// Prints a line; a closed pipe (`flt compare | head`) ends the output
/// quietly instead of panicking.
macro_rules! out {
    () => {{
        let _ = writeln!(std::io::stdout().lock());
    }};
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// The subcommand.
pub fn command() -> Command {
    let mut cmd = Command::new("compare").about(
        "The Comprehensive Comparison: every registered method at one n and d, measured on this backend",
    );
    for spec in COMPARE {
        let help = format!("{} ({})", spec.help, spec.range_text());
        cmd = cmd.arg(match spec.kind {
            Kind::Flag => Arg::new(spec.key)
                .long(spec.key)
                .action(ArgAction::SetTrue)
                .help(format!(
                    "{}; methods that cannot be causal are skipped, with the reason",
                    spec.help
                )),
            _ => Arg::new(spec.key)
                .long(spec.key)
                .value_name(spec.key)
                .help(help),
        });
    }
    let sort_keys: Vec<&str> = SortKey::ALL.iter().map(|k| k.key()).collect();
    cmd.arg(
        Arg::new("repeats")
            .long("repeats")
            .value_name("R")
            .value_parser(clap::value_parser!(u32).range(1..=1000))
            .help("Timed repetitions of each method after a warm-up; the median is reported [default: 5]"),
    )
    .arg(warmup_flag())
    .arg(
        Arg::new("sort")
            .long("sort")
            .value_name("KEY")
            .value_parser(clap::builder::PossibleValuesParser::new(sort_keys))
            .help("Sort the rows, ascending (rows not measured last); without it, rows print in registry order as they finish"),
    )
    .arg(
        Arg::new("json")
            .long("json")
            .action(ArgAction::SetTrue)
            .help("One JSON object per method per line"),
    )
}

/// The settings from the flags; every issue is a usage error.
fn settings(m: &ArgMatches) -> Result<CompareSettings, Failure> {
    let mut given: Vec<(String, String)> = Vec::new();
    for spec in COMPARE {
        match spec.kind {
            Kind::Flag => {
                if m.get_flag(spec.key) {
                    given.push((spec.key.into(), "true".into()));
                }
            }
            _ => {
                if let Some(v) = m.get_one::<String>(spec.key) {
                    given.push((spec.key.into(), v.clone()));
                }
            }
        }
    }
    let (s, issues) = CompareSettings::from_pairs(given);
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

/// Runs it.
pub fn run(m: &ArgMatches) -> Result<(), Failure> {
    let s = settings(m)?;
    let sort = m
        .get_one::<String>("sort")
        .and_then(|k| SortKey::from_key(k));
    let json = m.get_flag("json");
    let options = GpuRunOptions {
        repeats: m.get_one::<u32>("repeats").copied().unwrap_or(5),
        ..Default::default()
    };
    let problem = s.problem(options, false);
    let backend = backend(s.backend)?;
    apply_warmup(m, &backend);
    if !json {
        header(&s, &backend);
    }
    let progressive = sort.is_none();
    let on = backend.key();
    let mut rows = pollster::block_on(run_compare(&problem, &backend, &Quiet, |_, row| {
        if progressive {
            print_row(row, json, on);
        }
    }))
    .map_err(|e| match e {
        RunError::Cancelled => Failure::runtime("the comparison was cancelled"),
        e => Failure::runtime(e.to_string()),
    })?;
    if let Some(key) = sort {
        sort_rows(&mut rows, key, false);
        for row in &rows {
            print_row(row, json, on);
        }
    }
    if !json {
        footer(&rows);
    }
    let measured = rows
        .iter()
        .filter(|r| r.status == RowStatus::Measured)
        .count();
    if measured == 0 {
        return Err(Failure::runtime("no method could be measured"));
    }
    let failed = rows
        .iter()
        .filter(|r| r.status == RowStatus::Failed)
        .count();
    if failed > 0 {
        eprintln!(
            "flt: {failed} of {} methods failed; their rows say why",
            rows.len()
        );
    }
    Ok(())
}

const COLUMNS: [(&str, usize); 13] = [
    ("method", 19),
    ("survey time", 12),
    ("space", 11),
    ("causal", 7),
    ("FLOPs need", 11),
    ("FLOPs run", 11),
    ("bytes need", 11),
    ("bytes moved", 11),
    ("time", 12),
    ("× full", 7),
    ("rel_err", 10),
    ("mean of V", 10),
    ("verdict", 0),
];

fn cell(text: &str, width: usize) -> String {
    let len = text.chars().count();
    if width == 0 {
        text.to_string()
    } else if len >= width {
        format!("{text} ")
    } else {
        format!("{text}{}", " ".repeat(width - len))
    }
}

fn header(s: &CompareSettings, backend: &Backend) {
    out!(
        "Comprehensive Comparison, measured — n = {}, d = {}, seed {}, {} inputs, {}",
        s.n,
        s.d,
        s.seed,
        s.inputs.key(),
        if s.causal { "causal" } else { "not causal" }
    );
    out!("backend: {}", backend.label());
    let line: String = COLUMNS.iter().map(|(t, w)| cell(t, *w)).collect();
    out!("{line}");
}

/// One row; `on` is the table's backend (a row that ran elsewhere is
/// marked).
fn print_row(row: &CompareRow, json: bool, on: &str) {
    if json {
        match serde_json::to_string(row) {
            Ok(text) => out!("{text}"),
            Err(e) => eprintln!("flt: cannot serialise the row of {}: {e}", row.method),
        }
        return;
    }
    let causal = if row.causal_supported { "yes" } else { "no" };
    let fixed = [
        row.method.as_str(),
        &row.complexity_time,
        &row.complexity_space,
        causal,
    ];
    let mut line: String = fixed
        .iter()
        .zip(COLUMNS)
        .map(|(t, (_, w))| cell(t, w))
        .collect();
    if row.status != RowStatus::Measured {
        line.push_str(&format!(
            "— {}: {}",
            row.status.key(),
            row.error.as_deref().unwrap_or("")
        ));
        out!("{line}");
        return;
    }
    let count = |x: Option<u64>| x.map_or("—".into(), |x| format::sig3(x as f64));
    let size = |x: Option<u64>| x.map_or("—".into(), format::bytes3);
    let time = row.time_ms.map_or("—".into(), |t| {
        let mark = if row.backend.as_deref() != Some(on) {
            " c"
        } else {
            ""
        };
        format!("{}{mark}", format::ms(t))
    });
    let ratio = row.time_vs_full.map_or("—".into(), |r| format!("{r:.3}"));
    let err = row.rel_err.map_or("—".into(), format::err);
    let mean_v = row
        .baseline_mean_v_rel_err
        .map_or("—".into(), |x| format!("{x:.3}"));
    let verdict = match row.beats_mean_v {
        Some(true) => "beats mean of V",
        Some(false) => "no better than mean of V",
        None => "",
    };
    let rest = [
        count(row.flops_algorithmic),
        count(row.flops),
        size(row.bytes_compulsory),
        size(row.bytes),
        time,
        ratio,
        err,
        mean_v,
        verdict.to_string(),
    ];
    for (text, (_, w)) in rest.iter().zip(&COLUMNS[4..]) {
        line.push_str(&cell(text, *w));
    }
    out!("{line}");
}

fn footer(rows: &[CompareRow]) {
    out!();
    let mut sources: Vec<String> = Vec::new();
    for r in rows {
        if let Some(t) = &r.time_source
            && !sources.contains(t)
        {
            sources.push(t.clone());
        }
    }
    for t in &sources {
        out!("time: {t}");
    }
    if rows.iter().any(|r| r.backend.as_deref() == Some("cpu"))
        && rows.iter().any(|r| r.backend.as_deref() == Some("gpu"))
    {
        out!("      (c: this method ran on the CPU twin; see its notes in --json)");
    }
    out!(
        "FLOPs need / bytes need: what the method needs (algorithmic FLOPs; inputs, parameters and output moved once)."
    );
    out!(
        "FLOPs run / bytes moved: what the timed kernels execute (visited tiles, re-reads, feature maps); on the CPU, the twin's."
    );
    out!(
        "rel_err: against the exact model in f64 on the checked rows; mean of V: the error of uniform attention, the baseline to beat."
    );
    out!(
        "× full: time over exact attention's in this table (same backend and clock). Complexity: the survey's Summary Table, or the source in --json."
    );
}

//! The subcommands: settings parsed from the flags, the backend resolved by
//! the pipeline (the GPU asked for by name fails loudly when absent), the
//! attention lab run, the report printed.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use clap::ArgMatches;
use flt_explorer::attention::MethodId;
use flt_explorer::gpu::{Autotune, GpuContext, GpuError, GpuRunOptions};
use flt_explorer::inputs::{self, InputSource, Inputs};
use flt_explorer::pipeline::attention::{AttentionProblem, Measurement, run as run_attention};
use flt_explorer::pipeline::scaling::{ScalingReport, Stop, StopKind};
use flt_explorer::pipeline::{
    Backend, BackendChoice, GpuPolicy, Host, Quiet, RunError, resolve_backend,
};
use flt_explorer::settings::Settings;

use super::args::{self, knobs_apply, list, pairs, settings};
use super::{Failure, print};

fn options(m: &ArgMatches) -> GpuRunOptions {
    let mut o = GpuRunOptions::default();
    if let Some(&r) = m.get_one::<u32>("repeats") {
        o.repeats = r;
    }
    if let Some(&r) = m.get_one::<u32>("fused-rows") {
        o.max_rows_per_workgroup = Some(r);
    }
    // The flash kernel's autotuner: on for the CLI (not on CPU adapters,
    // not with FLT_AUTOTUNE=0), off with --no-autotune.
    o.autotune = if m.get_flag("no-autotune") {
        Autotune::Off
    } else {
        Autotune::Auto
    };
    o.pass_times = m.try_get_one::<bool>("pass-times").ok().flatten() == Some(&true);
    o
}

/// The backend for `choice`, resolved by the pipeline: `--backend gpu`
/// without an adapter fails; `auto` falls back to the CPU twin.
pub fn backend(choice: BackendChoice) -> Result<Backend, Failure> {
    let connect = || -> flt_explorer::data::LocalFuture<'static, _> {
        Box::pin(async { GpuContext::new().await.map(Rc::new) })
    };
    pollster::block_on(resolve_backend(choice, GpuPolicy::Fail, connect))
        .map_err(|e| Failure::runtime(format!("--backend {}: {e}", choice.key())))
}

/// The `--warmup-ms` flag: how long every timed program first keeps the GPU
/// busy, untimed, so that a benchmark sees sustained clocks.
pub fn warmup_flag() -> clap::Arg {
    clap::Arg::new("warmup-ms")
        .long("warmup-ms")
        .value_name("MS")
        .value_parser(clap::value_parser!(u32).range(0..=60_000))
        .help("Keep the GPU busy (untimed) this long before the timed runs, so that clocks ramp up as under a sustained load [default: 0, one untimed run]")
}

/// Applies `--warmup-ms` to the GPU backend.
pub fn apply_warmup(m: &ArgMatches, backend: &Backend) {
    if let (Backend::Gpu(ctx), Ok(Some(&ms))) = (backend, m.try_get_one::<u32>("warmup-ms")) {
        ctx.warmup_ms.set(ms);
    }
}

/// `--progress`: each stage of a run on stderr as it starts, with the
/// seconds since the command started and the run it belongs to; without
/// the flag it prints nothing (stdout is the report either way).
pub struct Stages {
    on: bool,
    start: Instant,
    run: RefCell<String>,
}

impl Stages {
    /// From `--progress` (commands without the flag: off).
    pub fn new(m: &ArgMatches) -> Stages {
        Stages {
            on: m.try_get_one::<bool>("progress").ok().flatten() == Some(&true),
            start: Instant::now(),
            run: RefCell::new(String::new()),
        }
    }

    /// Names the run the next stages belong to.
    pub fn begin(&self, run: String) {
        *self.run.borrow_mut() = run;
    }

    /// Prints one stage (when on).
    pub fn stage(&self, stage: &str) {
        if self.on {
            eprintln!(
                "flt: [{:8.1} s] {}: {stage}",
                self.start.elapsed().as_secs_f64(),
                self.run.borrow()
            );
        }
    }
}

impl Host for Stages {
    fn progress(&self, stage: &str, _fraction: f64) {
        self.stage(stage);
    }
}

/// Runs one problem; a method that refuses its configuration (before any
/// work) is a usage error, exit status 2, like a bad flag.
fn run_one(
    problem: &AttentionProblem,
    backend: &Backend,
    host: &Stages,
) -> Result<Measurement, Failure> {
    pollster::block_on(run_attention(problem, backend, host)).map_err(|e| match e {
        RunError::Method(_) => Failure::usage(e.to_string()),
        _ => Failure::runtime(e.to_string()),
    })
}

/// The user's `.npy` inputs, checked against the flags, if given.
fn load_inputs(
    m: &ArgMatches,
    s: &Settings,
    given: &[(String, String)],
) -> Result<Option<Inputs>, Failure> {
    let paths: Vec<Option<&PathBuf>> = ["q", "k", "v"]
        .iter()
        .map(|k| m.get_one::<PathBuf>(k))
        .collect();
    if paths.iter().all(Option::is_none) {
        return Ok(None);
    }
    if let Some((key, _)) = given.iter().find(|(k, _)| k == "inputs" || k == "qk-scale") {
        return Err(Failure::usage(format!(
            "--{key} describes generated inputs; it cannot be used with --q, --k, --v"
        )));
    }
    let [Some(q), Some(k), Some(v)] = paths[..] else {
        return Err(Failure::usage("--q, --k and --v must be given together"));
    };
    let load = |p: &PathBuf| inputs::load_npy(p).map_err(|e| Failure::usage(e.to_string()));
    let x = Inputs::from_arrays(load(q)?, load(k)?, load(v)?, InputSource::Npy)
        .map_err(|e| Failure::usage(e.to_string()))?;
    for (key, file_value) in [("n", x.n()), ("d", x.d())] {
        if let Some((_, flag)) = given.iter().find(|(k, _)| k == key) {
            let flag_value = if key == "n" { s.n } else { s.d };
            if flag_value != file_value {
                return Err(Failure::usage(format!(
                    "--{key} {flag} disagrees with the input files ({key} = {file_value})"
                )));
            }
        }
    }
    Ok(Some(x))
}

/// How `--progress` names a run: method, n, d and the heads.
fn run_name(s: &Settings) -> String {
    let heads = if s.head_count() > 1 {
        format!(", {} × {} heads", s.batch, s.heads)
    } else {
        String::new()
    };
    format!("{} n = {} d = {}{heads}", s.method.key(), s.n, s.d)
}

/// `flt run`.
pub fn run(m: &ArgMatches) -> Result<(), Failure> {
    let given = pairs(
        m,
        &[
            "method",
            "n",
            "d",
            "heads",
            "batch",
            "seed",
            "backend",
            "inputs",
            "qk-scale",
            "qkv-bits",
            "qkv-scales",
        ],
    );
    let s = settings(given.clone())?;
    knobs_apply(&given, &[s.method])?;
    let stages = Stages::new(m);
    stages.begin(run_name(&s));
    stages.stage("the inputs");
    let mut problem = s.problem(options(m));
    if let Some(x) = load_inputs(m, &s, &given)? {
        if s.head_count() > 1 {
            return Err(Failure::usage(format!(
                "--q, --k, --v give one head; they cannot be used with --heads {} --batch {}",
                s.heads, s.batch
            )));
        }
        problem.inputs = Rc::new(x);
    }
    let backend = backend(s.backend)?;
    apply_warmup(m, &backend);
    let out = run_one(&problem, &backend, &stages)?;
    if let Some(path) = m.get_one::<PathBuf>("out")
        && let Some(o) = out.artifacts.output()
    {
        inputs::write_npy(path, o).map_err(|e| Failure::runtime(e.to_string()))?;
    }
    if let Some(path) = m.get_one::<PathBuf>("svg") {
        print::svg(path, &out)?;
    }
    if let Some(path) = m.get_one::<PathBuf>("png") {
        print::png(path, &out)?;
    }
    if let Some(path) = m.get_one::<PathBuf>("csv") {
        print::csv(path, &out)?;
    }
    print::measurement(&out, m.get_flag("json"));
    Ok(())
}

/// `flt bench`: every combination validated before any runs (`--kernel
/// sgemm`: the tiled SGEMM instead of the attention methods).
pub fn bench(m: &ArgMatches) -> Result<(), Failure> {
    if super::sgemm::chosen(m)? {
        return super::sgemm::bench(m);
    }
    if super::flash_f16::chosen(m) {
        return super::flash_f16::bench(m);
    }
    let methods = list(m, "methods", "full");
    let ns = list(m, "n", "256,512,1024");
    let ds = list(m, "d", "64");
    let base = pairs(
        m,
        &[
            "heads",
            "batch",
            "seed",
            "backend",
            "inputs",
            "qk-scale",
            "qkv-bits",
            "qkv-scales",
        ],
    );
    let mut runs = Vec::new();
    for method in &methods {
        for d in &ds {
            for n in &ns {
                // Knobs of the other chosen methods stay out of this run's
                // settings (knobs_apply checks that each applies to one).
                let own = |k: &str| {
                    MethodId::from_key(method).is_none_or(|m| {
                        m.info().params.iter().any(|p| p.key == k)
                            || !args::all_params().iter().any(|p| p.key == k)
                    })
                };
                let mut p: Vec<(String, String)> =
                    base.iter().filter(|(k, _)| own(k)).cloned().collect();
                p.extend([
                    ("method".into(), method.clone()),
                    ("n".into(), n.clone()),
                    ("d".into(), d.clone()),
                ]);
                runs.push(settings(p)?);
            }
        }
    }
    let chosen: Vec<MethodId> = runs.iter().map(|s| s.method).collect();
    knobs_apply(&base, &chosen)?;
    let mut widths: Vec<usize> = Vec::new();
    for s in &runs {
        if !widths.contains(&s.d) {
            widths.push(s.d);
        }
    }
    let svg = m.get_one::<PathBuf>("svg");
    if let Some(path) = svg {
        if widths.len() > 1 {
            return Err(Failure::usage(format!(
                "--svg draws one scaling chart: give one --d (got {})",
                ds.join(",")
            )));
        }
        writable("--svg", path)?;
    }
    let backend = backend(runs.first().map(|s| s.backend).unwrap_or_default())?;
    apply_warmup(m, &backend);
    let json = m.get_flag("json");
    let mut outs = Vec::with_capacity(runs.len());
    // A kernel too large for the adapter ends that method's series at that
    // n (larger n are skipped), as on the scaling page; the rest runs.
    let mut stops: Vec<(usize, MethodId, Stop)> = Vec::new();
    let stages = Stages::new(m);
    for s in runs {
        if stops
            .iter()
            .any(|(d, method, stop)| *d == s.d && *method == s.method && s.n >= stop.n)
        {
            continue;
        }
        stages.begin(run_name(&s));
        stages.stage("the inputs");
        let problem = s.problem(options(m));
        match pollster::block_on(run_attention(&problem, &backend, &stages)) {
            Ok(out) => {
                print::bench_line(&out, json);
                outs.push(out);
            }
            Err(e @ RunError::Gpu(GpuError::TooLarge { .. })) => {
                let reason = format!("n = {} does not fit this adapter: {e}", s.n);
                eprintln!("flt: {}: {reason}; larger n skipped", s.method.key());
                stops.push((
                    s.d,
                    s.method,
                    Stop {
                        n: s.n,
                        kind: StopKind::TooLarge,
                        reason,
                    },
                ));
            }
            Err(e @ RunError::Method(_)) => return Err(Failure::usage(e.to_string())),
            Err(e) => return Err(Failure::runtime(e.to_string())),
        }
    }
    for d in widths {
        let at_d: Vec<&Measurement> = outs.iter().filter(|o| o.figures.d == d).collect();
        let mut report = ScalingReport::from_measurements(&at_d, backend.key());
        for (_, method, stop) in stops.iter().filter(|(at, _, _)| *at == d) {
            if let Some(series) = report.series.iter_mut().find(|x| x.method == method.key()) {
                series.stop = Some(stop.clone());
            }
            report.notes.push(format!(
                "{}: {}; larger n skipped",
                method.key(),
                stop.reason
            ));
        }
        if !json {
            print::scaling_summary(&report);
        }
        if let Some(path) = svg {
            print::scaling_svg(path, &report)?;
        }
    }
    driver_stats(m, &backend);
    Ok(())
}

/// `--driver-stats`: the driver's statistics of every pipeline the run
/// built, on stderr (stdout keeps the run's lines and JSON). A diagnostic:
/// when the driver cannot say, it says why and the run still succeeds.
pub fn driver_stats(m: &ArgMatches, backend: &Backend) {
    if m.try_get_one::<bool>("driver-stats").ok().flatten() != Some(&true) {
        return;
    }
    let Backend::Gpu(ctx) = backend else {
        eprintln!("driver statistics: none (the CPU backend builds no GPU pipelines)");
        return;
    };
    let report = match flt_explorer::gpu::driver_stats::collect(ctx) {
        Ok(r) => r,
        Err(why) => {
            eprintln!("driver statistics: none ({why})");
            return;
        }
    };
    let built = report
        .pipelines
        .iter()
        .filter(|p| p.executables.is_ok())
        .count();
    match &report.unavailable {
        Some(why) => eprintln!(
            "driver statistics: none ({why}); rebuilt {built} of the {} compute pipelines the run built from their WGSL, without statistics",
            report.pipelines.len()
        ),
        None => eprintln!(
            "driver statistics ({}, {}; per compute pipeline the run built, VK_KHR_pipeline_executable_properties):",
            ctx.adapter_name, ctx.driver
        ),
    }
    for p in &report.pipelines {
        match &p.executables {
            Err(why) => eprintln!("  {}: not rebuilt ({why})", p.key),
            Ok(exes) if exes.is_empty() => eprintln!("  {}: rebuilt", p.key),
            Ok(exes) => {
                for (name, stats) in exes {
                    let list: Vec<String> = stats
                        .iter()
                        .map(|s| format!("{} = {}", s.name, s.value))
                        .collect();
                    eprintln!("  {} [{name}]: {}", p.key, list.join(", "));
                }
            }
        }
    }
}

/// Refuses an output path that cannot be a new or existing file: a folder,
/// or a file in a folder that does not exist (before any work is done).
fn writable(flag: &str, path: &Path) -> Result<(), Failure> {
    if path.is_dir() {
        return Err(Failure::usage(format!(
            "{flag} {}: is a folder, not a file",
            path.display()
        )));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(Failure::usage(format!(
            "{flag} {}: there is no folder {}",
            path.display(),
            parent.display()
        )));
    }
    Ok(())
}

/// The budgets a sweep visits: `--budgets`, or powers of two.
fn budgets(m: &ArgMatches, s: &Settings) -> Result<Vec<u64>, Failure> {
    let info = s.method.info();
    let Some(budget) = info.budget else {
        return Err(Failure::usage(format!(
            "{} has no budget to sweep (try performer, linformer or nystrom)",
            info.label
        )));
    };
    let list = match m.get_one::<String>("budgets") {
        None => flt_explorer::pipeline::sweep::budgets(s.method, s.n)
            .map_err(|e| Failure::usage(e.to_string()))?,
        Some(list) => list
            .split(',')
            .map(|b| {
                b.trim()
                    .parse::<u64>()
                    .map_err(|_| Failure::usage(format!("--budgets: {b} is not a whole number")))
            })
            .collect::<Result<Vec<u64>, Failure>>()?,
    };
    if let Some(spec) = info.params.iter().find(|p| p.key == budget.key)
        && let Some(b) = list.iter().find(|&&b| b < spec.min || b > spec.max)
    {
        return Err(Failure::usage(format!(
            "--budgets: {} = {b} is outside {}..={}",
            budget.key, spec.min, spec.max
        )));
    }
    Ok(list)
}

/// `flt sweep`: the error law.
pub fn sweep(m: &ArgMatches) -> Result<(), Failure> {
    let given = pairs(m, &["method", "n", "d", "seed", "inputs", "qk-scale"]);
    let s = settings(given.clone())?;
    knobs_apply(&given, &[s.method])?;
    let budgets = budgets(m, &s)?;
    let seeds = m.get_one::<u32>("seeds").copied().unwrap_or(5);
    let json = m.get_flag("json");
    let problem = s.problem(GpuRunOptions::default());
    let result = pollster::block_on(flt_explorer::pipeline::sweep::sweep(
        &problem,
        &budgets,
        seeds,
        &Quiet,
        |p| {
            if !json {
                print::sweep_point(s.method, p);
            }
        },
    ))
    .map_err(|e| Failure::runtime(e.to_string()))?;
    print::sweep(&result, json)
}

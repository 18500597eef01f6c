//! `flt`: the native CLI. It runs the same kernels as the page, headless, on
//! any wgpu backend (Vulkan, Metal, DX12) or the CPU twin.
//!
//! ```text
//! flt run --method full --n 1024 --d 64 --seed 1 [--causal] [--backend gpu|cpu] [--json]
//! flt run --q q.npy --k k.npy --v v.npy --out o.npy [--causal] [--json]
//! flt bench --methods full --n 256,512,1024 --d 64 --backend gpu --repeats 5 --json
//! flt methods
//! ```
//!
//! Flags carry the same names as the page's URL parameters and go through the
//! same parser ([`flt_explorer::settings::Settings::from_pairs`]). Bad flags or
//! input files exit with status 2 and a message; a GPU failure exits with 1.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::rc::Rc;

    use clap::{Arg, ArgAction, ArgMatches, Command};
    use flt_explorer::attention::{MethodId, ParamSpec};
    use flt_explorer::chart::heatmap::{ColourScale, HeatmapOptions, draw_heatmap};
    use flt_explorer::gpu::{GpuContext, GpuRunOptions};
    use flt_explorer::inputs::{self, InputSource, Inputs};
    use flt_explorer::measure::Measurement;
    use flt_explorer::run::{self, Backend, Quiet, RunOutput, RunRequest};
    use flt_explorer::settings::{BackendChoice, Settings};
    use plotters::prelude::{IntoDrawingArea, SVGBackend};

    /// A failure and the exit status it maps to.
    struct Failure {
        status: u8,
        message: String,
    }

    fn usage(message: impl Into<String>) -> Failure {
        Failure {
            status: 2,
            message: message.into(),
        }
    }

    fn runtime(message: impl Into<String>) -> Failure {
        Failure {
            status: 1,
            message: message.into(),
        }
    }

    /// Every knob in the registry, once each (methods share names like `--stride`).
    fn all_params() -> Vec<&'static ParamSpec> {
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

    fn common(cmd: Command) -> Command {
        cmd.arg(Arg::new("seed").long("seed").value_name("S").help("Seed of the inputs and of random choices [default: 1]"))
            .arg(Arg::new("causal").long("causal").action(ArgAction::SetTrue).help("Mask keys j > i"))
            .arg(
                Arg::new("inputs")
                    .long("inputs")
                    .value_name("gaussian|low-rank|clustered|local")
                    .help("Structure of the seeded inputs [default: gaussian]"),
            )
            .arg(
                Arg::new("qk-scale")
                    .long("qk-scale")
                    .value_name("S")
                    .help("Multiply Q and K by S (the logits scale by S²) [default: 1]"),
            )
            .arg(
                Arg::new("backend")
                    .long("backend")
                    .value_name("auto|gpu|cpu")
                    .help("GPU (wgpu), CPU twin (ndarray), or auto: the GPU when an adapter exists [default: auto]"),
            )
            .arg(
                Arg::new("repeats")
                    .long("repeats")
                    .value_name("R")
                    .value_parser(clap::value_parser!(u32).range(1..=1000))
                    .help("Timed repetitions; the median is reported"),
            )
            .arg(Arg::new("json").long("json").action(ArgAction::SetTrue).help("Print Measurement JSON"))
            .arg(
                Arg::new("fused-rows")
                    .long("fused-rows")
                    .value_name("R")
                    .value_parser(clap::value_parser!(u32).range(1..=64))
                    .help("Tuning: most query rows per fused-kernel workgroup (16, 32 or 64)"),
            )
    }

    fn command() -> Command {
        let run = common(
            Command::new("run")
                .about("Run one method once (timed over --repeats) and print its measurement")
                .arg(
                    Arg::new("method")
                        .long("method")
                        .value_name("M")
                        .help("Attention method [default: full]"),
                )
                .arg(
                    Arg::new("n")
                        .long("n")
                        .value_name("N")
                        .help("Sequence length, 1..=16384 [default: 256]"),
                )
                .arg(
                    Arg::new("d")
                        .long("d")
                        .value_name("D")
                        .help("Head dimension, 1..=256 [default: 64]"),
                )
                .arg(
                    Arg::new("q")
                        .long("q")
                        .value_name("q.npy")
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("Queries [n, d] (.npy, float32/float64)"),
                )
                .arg(
                    Arg::new("k")
                        .long("k")
                        .value_name("k.npy")
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("Keys [n, d]"),
                )
                .arg(
                    Arg::new("v")
                        .long("v")
                        .value_name("v.npy")
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("Values [n, dv]"),
                )
                .arg(
                    Arg::new("out")
                        .long("out")
                        .value_name("o.npy")
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("Write the output O [n, dv] as .npy"),
                )
                .arg(
                    Arg::new("svg")
                        .long("svg")
                        .value_name("map.svg")
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("Write the pooled attention heatmap as SVG"),
                ),
        );
        let bench = common(
            Command::new("bench")
                .about("Run methods over sequence lengths; one Measurement per line with --json")
                .arg(
                    Arg::new("methods")
                        .long("methods")
                        .value_name("M,M,..")
                        .help("Methods [default: full]"),
                )
                .arg(
                    Arg::new("n")
                        .long("n")
                        .value_name("N,N,..")
                        .help("Sequence lengths [default: 256,512,1024]"),
                )
                .arg(
                    Arg::new("d")
                        .long("d")
                        .value_name("D,D,..")
                        .help("Head dimensions [default: 64]"),
                ),
        );
        let sweep = common(
            Command::new("sweep")
                .about("The error law: rel_err against a method's budget (m, k or L), several seeds each")
                .arg(Arg::new("method").long("method").value_name("M").help("performer, linformer or nystrom"))
                .arg(Arg::new("n").long("n").value_name("N").help("Sequence length [default: 256]"))
                .arg(Arg::new("d").long("d").value_name("D").help("Head dimension [default: 64]"))
                .arg(Arg::new("budgets").long("budgets").value_name("B,B,..").help("Budgets [default: powers of two up to the knob's maximum]"))
                .arg(
                    Arg::new("seeds")
                        .long("seeds")
                        .value_name("S")
                        .value_parser(clap::value_parser!(u32).range(1..=100))
                        .help("Draws of the method's randomness per budget [default: 5]"),
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
    }

    pub fn main() -> ExitCode {
        let matches = command().get_matches();
        let result = match matches.subcommand() {
            Some(("run", m)) => cmd_run(m),
            Some(("bench", m)) => cmd_bench(m),
            Some(("sweep", m)) => cmd_sweep(m),
            Some(("methods", _)) => {
                list_methods();
                Ok(())
            }
            _ => Err(usage("unknown command; see flt --help")),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(f) => {
                eprintln!("flt: {}", f.message);
                ExitCode::from(f.status)
            }
        }
    }

    fn list_methods() {
        for m in MethodId::ALL {
            let info = m.info();
            println!(
                "{:<20} {} — {} ({})",
                info.key, info.label, info.equation, info.paper
            );
            for p in info.params {
                if p.is_choice() {
                    println!(
                        "    --{:<14} {} ({}, default {})",
                        p.key,
                        p.help,
                        p.choices.join("|"),
                        p.choices[p.default as usize]
                    );
                } else {
                    println!(
                        "    --{:<14} {} ({}..={}, default {})",
                        p.key, p.help, p.min, p.max, p.default
                    );
                }
            }
            if let Some(why) = info.causal_unsupported {
                println!("    (no --causal: {why})");
            }
        }
    }

    /// The `key=value` pairs given on the command line, for the settings parser.
    fn pairs(m: &ArgMatches, keys: &[&str]) -> Vec<(String, String)> {
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
    fn knobs_apply(given: &[(String, String)], methods: &[MethodId]) -> Result<(), Failure> {
        for (key, _) in given {
            let is_knob = all_params().iter().any(|p| p.key == key);
            let used = methods
                .iter()
                .any(|m| m.info().params.iter().any(|p| p.key == key));
            if is_knob && !used {
                let names: Vec<&str> = methods.iter().map(|m| m.key()).collect();
                return Err(usage(format!(
                    "--{key} does not apply to {}",
                    names.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn settings(pairs: Vec<(String, String)>) -> Result<Settings, Failure> {
        let (s, issues) = Settings::from_pairs(pairs);
        if issues.is_empty() {
            Ok(s)
        } else {
            let lines: Vec<String> = issues
                .iter()
                .map(|i| format!("--{}: {}", i.key, i.problem))
                .collect();
            Err(usage(lines.join("\nflt: ")))
        }
    }

    fn options(m: &ArgMatches) -> GpuRunOptions {
        let mut o = GpuRunOptions::default();
        if let Some(&r) = m.get_one::<u32>("repeats") {
            o.repeats = r;
        }
        if let Some(&r) = m.get_one::<u32>("fused-rows") {
            o.max_rows_per_workgroup = Some(r);
        }
        o
    }

    fn backend(choice: BackendChoice) -> Result<Backend, Failure> {
        match choice {
            BackendChoice::Cpu => Ok(Backend::Cpu { reason: None }),
            BackendChoice::Gpu => pollster::block_on(GpuContext::new())
                .map(|c| Backend::Gpu(Rc::new(c)))
                .map_err(|e| runtime(format!("--backend gpu: {e}"))),
            BackendChoice::Auto => Ok(match pollster::block_on(GpuContext::new()) {
                Ok(c) => Backend::Gpu(Rc::new(c)),
                Err(e) => Backend::Cpu {
                    reason: Some(e.to_string()),
                },
            }),
        }
    }

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
            return Err(usage(format!(
                "--{key} describes generated inputs; it cannot be used with --q, --k, --v"
            )));
        }
        let [Some(q), Some(k), Some(v)] = paths[..] else {
            return Err(usage("--q, --k and --v must be given together"));
        };
        let load = |p: &PathBuf| inputs::load_npy(p).map_err(|e| usage(e.to_string()));
        let x = Inputs::from_arrays(load(q)?, load(k)?, load(v)?, InputSource::Npy)
            .map_err(|e| usage(e.to_string()))?;
        for (key, file_value) in [("n", x.n()), ("d", x.d())] {
            if let Some((_, flag)) = given.iter().find(|(k, _)| k == key) {
                let flag_value = if key == "n" { s.n } else { s.d };
                if flag_value != file_value {
                    return Err(usage(format!(
                        "--{key} {flag} disagrees with the input files ({key} = {file_value})"
                    )));
                }
            }
        }
        Ok(Some(x))
    }

    fn cmd_run(m: &ArgMatches) -> Result<(), Failure> {
        let given = pairs(
            m,
            &["method", "n", "d", "seed", "backend", "inputs", "qk-scale"],
        );
        let mut s = settings(given.clone())?;
        knobs_apply(&given, &[s.method])?;
        let request = match load_inputs(m, &s, &given)? {
            Some(x) => {
                s.n = x.n();
                s.d = x.d();
                RunRequest {
                    settings: s.clone(),
                    inputs: Rc::new(x),
                    options: options(m),
                }
            }
            None => RunRequest::seeded(s.clone(), options(m)),
        };
        let backend = backend(s.backend)?;
        let out = pollster::block_on(run::run(&request, &backend, &Quiet))
            .map_err(|e| runtime(e.to_string()))?;
        if let Some(path) = m.get_one::<PathBuf>("out") {
            inputs::write_npy(path, &out.output).map_err(|e| runtime(e.to_string()))?;
        }
        if let Some(path) = m.get_one::<PathBuf>("svg") {
            write_svg(path, &out)?;
        }
        print_measurement(&out.measurement, m.get_flag("json"));
        Ok(())
    }

    fn write_svg(path: &PathBuf, out: &RunOutput) -> Result<(), Failure> {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (640, 540)).into_drawing_area();
            let title = format!(
                "{} — n = {}",
                out.measurement.method_label, out.measurement.n
            );
            let options = HeatmapOptions {
                title,
                scale: ColourScale::Linear,
                paint_cells: true,
            };
            draw_heatmap(&root, &out.map, &options)
                .map_err(|e| runtime(format!("drawing the heatmap: {e}")))?;
        }
        std::fs::write(path, svg)
            .map_err(|e| runtime(format!("cannot write {}: {e}", path.display())))
    }

    fn list(m: &ArgMatches, key: &str, default: &str) -> Vec<String> {
        m.get_one::<String>(key)
            .map(String::as_str)
            .unwrap_or(default)
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    fn cmd_bench(m: &ArgMatches) -> Result<(), Failure> {
        let methods = list(m, "methods", "full");
        let ns = list(m, "n", "256,512,1024");
        let ds = list(m, "d", "64");
        let base = pairs(m, &["seed", "backend", "inputs", "qk-scale"]);
        // Validate every combination before running any.
        let mut runs = Vec::new();
        for method in &methods {
            for d in &ds {
                for n in &ns {
                    let mut p = base.clone();
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
        let backend = backend(runs.first().map(|s| s.backend).unwrap_or_default())?;
        let json = m.get_flag("json");
        for s in runs {
            let request = RunRequest::seeded(s, options(m));
            let out = pollster::block_on(run::run(&request, &backend, &Quiet))
                .map_err(|e| runtime(e.to_string()))?;
            if json {
                print_measurement(&out.measurement, true);
            } else {
                let x = &out.measurement;
                println!(
                    "{:<12} n={:<6} d={:<4} {:>10.4} ms {:>9.1} GFLOP/s  rel_err {:.2e}  [{} {}]",
                    x.method, x.n, x.d, x.time_ms, x.gflops, x.rel_err, x.backend, x.adapter
                );
            }
        }
        Ok(())
    }

    fn cmd_sweep(m: &ArgMatches) -> Result<(), Failure> {
        let given = pairs(m, &["method", "n", "d", "seed", "inputs", "qk-scale"]);
        let s = settings(given.clone())?;
        knobs_apply(&given, &[s.method])?;
        let budgets = match m.get_one::<String>("budgets") {
            None => {
                flt_explorer::sweep::budgets(s.method, s.n).map_err(|e| usage(e.to_string()))?
            }
            Some(list) => list
                .split(',')
                .map(|b| {
                    b.trim()
                        .parse::<u64>()
                        .map_err(|_| usage(format!("--budgets: {b} is not a whole number")))
                })
                .collect::<Result<Vec<u64>, Failure>>()?,
        };
        let info = s.method.info();
        let Some(budget) = info.budget else {
            return Err(usage(format!(
                "{} has no budget to sweep (try performer, linformer or nystrom)",
                info.label
            )));
        };
        if let Some(spec) = info.params.iter().find(|p| p.key == budget.key)
            && let Some(b) = budgets.iter().find(|&&b| b < spec.min || b > spec.max)
        {
            return Err(usage(format!(
                "--budgets: {} = {b} is outside {}..={}",
                budget.key, spec.min, spec.max
            )));
        }
        let seeds = m.get_one::<u32>("seeds").copied().unwrap_or(5);
        let inputs = Inputs::generate(s.inputs, s.n, s.d, s.seed, s.qk_scale);
        let json = m.get_flag("json");
        let result = pollster::block_on(flt_explorer::sweep::sweep(
            &s,
            &inputs,
            &budgets,
            seeds,
            &Quiet,
            |p| {
                if !json {
                    println!(
                        "{:<10} {:>6}   mean {:.4e}   ± {:.2e}   [{:.3e}, {:.3e}]",
                        budget.key, p.budget, p.mean, p.std, p.min, p.max
                    );
                }
            },
        ))
        .map_err(|e| runtime(e.to_string()))?;
        if json {
            println!(
                "{}",
                serde_json::to_string(&result).map_err(|e| runtime(e.to_string()))?
            );
        } else {
            let fitted = result
                .fitted_slope
                .map(|x| format!("{x:.3}"))
                .unwrap_or_else(|| "—".into());
            let theory = result
                .theory_slope
                .map(|x| format!("{x:.1}"))
                .unwrap_or_else(|| "none".into());
            println!("log-log slope {fitted} (theory: {theory}; {})", result.law);
            if let Some(p) = result.points.first() {
                println!(
                    "baselines     {:.4e} (output the mean of V), {:.4e} (output zeros)",
                    p.baseline_mean_v_rel_err, p.baseline_zero_rel_err
                );
            }
            println!(
                "spread over   {}",
                match result.spread.as_str() {
                    "method draws" => "the method's random draws, inputs fixed",
                    "input seeds" => "seeds of the inputs (the method is deterministic)",
                    _ => "nothing: a deterministic method on the user's inputs",
                }
            );
        }
        Ok(())
    }

    fn mib(bytes: u64) -> String {
        format!("{:.2} MiB", bytes as f64 / (1u64 << 20) as f64)
    }

    fn print_measurement(x: &Measurement, json: bool) {
        if json {
            match serde_json::to_string(x) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("flt: cannot serialise the measurement: {e}"),
            }
            return;
        }
        let timing = match x.timing {
            flt_explorer::measure::Timing::GpuTimestamp => "GPU timestamps",
            flt_explorer::measure::Timing::WallClock => "wall clock",
        };
        println!("method        {} ({})", x.method_label, x.method);
        println!(
            "shape         n = {}, d = {}, dv = {}, causal = {}",
            x.n, x.d, x.dv, x.causal
        );
        println!(
            "inputs        {}, qk-scale {}, seed {}, fingerprint {}",
            x.inputs.key(),
            x.qk_scale,
            x.seed,
            x.inputs_digest
        );
        println!(
            "backend       {} — {} ({}), kernel {} ({})",
            x.backend, x.adapter, x.api, x.kernel, x.kernel_variant
        );
        println!(
            "time          {:.4} ms ({timing}, median of {})",
            x.time_ms,
            x.time_ms_samples.len()
        );
        println!(
            "throughput    {:.2} GFLOP/s (executed FLOPs / time)",
            x.gflops
        );
        println!(
            "FLOPs needed  {}   = {}",
            x.flops_algorithmic, x.flops_algorithmic_formula
        );
        println!("FLOPs run     {}   = {}", x.flops, x.flops_formula);
        println!(
            "bytes needed  {}   = {}",
            x.bytes_compulsory, x.bytes_compulsory_formula
        );
        println!("bytes moved   {}   = {}", x.bytes, x.bytes_formula);
        println!(
            "memory        {} allocated   = {}",
            mib(x.memory_bytes),
            x.memory_formula
        );
        println!(
            "rel_err       {:.3e}   vs {} on {} of {} rows",
            x.rel_err, x.reference, x.checked_rows, x.n
        );
        println!(
            "baselines     {:.3e} (output the mean of V), {:.3e} (output zeros)",
            x.baseline_mean_v_rel_err, x.baseline_zero_rel_err
        );
        if let Some(r) = x.pinv_residual {
            println!("pinv resid.   {r:.3e}   ‖ÃZÃ − Ã‖_F / ‖Ã‖_F of the pseudo-inverse used");
        }
        println!("max_abs_err   {:.3e}", x.max_abs_err);
        println!(
            "pattern       {} pairs ({:.2}% of n²){}",
            x.pattern_pairs,
            100.0 * x.density,
            x.tile_pairs
                .map(|t| format!(", {t} evaluated by the tiled kernel"))
                .unwrap_or_default()
        );
        println!(
            "mass kept     {:.2}% of exact attention's weight",
            100.0 * x.mass_in_pattern
        );
        for (kernel, e) in &x.cross_checks {
            println!("GPU vs CPU    {e:.3e}   ({kernel} kernel vs the CPU twin)");
        }
        for st in &x.stages {
            println!(
                "stage         {}: {:.4} ms, {} moved, {} allocated",
                st.name,
                st.time_ms,
                mib(st.bytes),
                mib(st.memory_bytes)
            );
        }
        for note in &x.notes {
            println!("note          {note}");
        }
    }
}

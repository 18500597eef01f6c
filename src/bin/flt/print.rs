//! What the CLI prints: a report as a readable table or one JSON object, a
//! bench line, the error law, the method list, the heatmap as SVG.

use std::path::PathBuf;

use flt_explorer::attention::MethodId;
use flt_explorer::chart::export::{grid_csv, svg_string};
use flt_explorer::chart::heatmap::{ColourScale, HeatmapOptions, attention_grid, draw_heatmap};
use flt_explorer::chart::raster::svg_to_png;
use flt_explorer::chart::scaling::{exponent_text, figure_svg, theory_text};
use flt_explorer::data::maps::AttentionMap;
use flt_explorer::data::timing::{PassTime, Timing};
use flt_explorer::format::num;
use flt_explorer::pipeline::attention::{Measurement, NO_PASS_TIMES};
use flt_explorer::pipeline::scaling::{FLOOR_FACTOR, ScalingReport};
use flt_explorer::pipeline::sweep::{Sweep, SweepPoint};

use super::Failure;

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// A report as one JSON line on stdout.
pub fn json_line<T: serde::Serialize>(report: &T) {
    match serde_json::to_string(report) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("flt: cannot serialise the report: {e}"),
    }
}

/// How a time was taken, in words.
pub fn timing_words(timing: Timing) -> &'static str {
    match timing {
        Timing::GpuTimestamp => "GPU timestamps",
        Timing::WallClock => "wall clock",
    }
}

/// One report: JSON, or a readable table.
pub fn measurement(x: &Measurement, json: bool) {
    if json {
        json_line(x);
        return;
    }
    let (e, f) = (&x.envelope, &x.figures);
    let timing = timing_words(e.timing);
    println!("method        {} ({})", e.method_label, e.method);
    println!(
        "shape         n = {}, d = {}, dv = {}, causal = {}{}",
        f.n,
        f.d,
        f.dv,
        f.causal,
        if f.heads * f.batch > 1 {
            format!(
                ", batch {} × heads {} (errors on heads {:?})",
                f.batch, f.heads, f.checked_heads
            )
        } else {
            String::new()
        }
    );
    println!(
        "inputs        {}, qk-scale {}, seed {}, fingerprint {}",
        f.inputs.key(),
        f.qk_scale,
        f.seed,
        f.inputs_digest
    );
    println!(
        "backend       {} — {} ({}), kernel {} ({})",
        e.backend,
        e.adapter,
        e.api,
        e.kernel.key(),
        e.kernel_variant
    );
    println!(
        "time          {:.4} ms ({timing}, median of {} after a warm-up)",
        e.time_ms,
        e.time_ms_samples.len()
    );
    println!(
        "throughput    {:.2} GFLOP/s (executed FLOPs / time)",
        e.gflops
    );
    println!(
        "FLOPs needed  {}   = {}",
        e.flops_algorithmic, e.flops_algorithmic_formula
    );
    println!("FLOPs run     {}   = {}", e.flops, e.flops_formula);
    println!(
        "bytes needed  {}   = {}",
        e.bytes_compulsory, e.bytes_compulsory_formula
    );
    println!("bytes moved   {}   = {}", e.bytes, e.bytes_formula);
    println!(
        "memory        {} allocated   = {}",
        mib(e.memory_bytes),
        e.memory_formula
    );
    errors(x);
    for (kernel, err) in &e.cross_checks {
        println!(
            "GPU vs CPU    {}   ({kernel} kernel vs the CPU twin)",
            num(*err)
        );
    }
    for st in &e.stages {
        println!(
            "stage         {}: {:.4} ms, {} moved, {} allocated",
            st.name,
            st.time_ms,
            mib(st.bytes),
            mib(st.memory_bytes)
        );
    }
    pass_lines(&e.passes, "pass          ");
    for note in &e.notes {
        println!("note          {note}");
    }
}

/// One line per timed pass (`--pass-times`), each after `lead`.
pub fn pass_lines(passes: &[PassTime], lead: &str) {
    for p in passes {
        println!(
            "{lead}{}: {:.4} ms (GPU, median of {})",
            p.pass,
            p.time_ms,
            p.time_ms_samples.len()
        );
    }
}

/// The error lines of a report.
fn errors(x: &Measurement) {
    let f = &x.figures;
    println!(
        "rel_err       {}   vs {} on {}",
        num(f.rel_err),
        f.reference,
        f.checked_text()
    );
    println!(
        "baselines     {} (output the mean of V), {} (output zeros)",
        num(f.baseline_mean_v_rel_err),
        num(f.baseline_zero_rel_err)
    );
    if let (Some(b), Some(r)) = (f.qkv_bits, f.rel_err_vs_f32) {
        let db = |x: Option<f64>| x.map_or("∞".to_string(), |d| format!("{d:.1}"));
        let [q, k, v] = f.qkv_sqnr_db.unwrap_or_default();
        println!(
            "quantized     Q, K, V at {b} bits, {} scales: SQNR {} / {} / {} dB",
            f.qkv_scales.as_deref().unwrap_or(""),
            db(q),
            db(k),
            db(v)
        );
        println!(
            "vs f32 run    {}   rel_err against the same method on the f32 inputs",
            num(r)
        );
    }
    if let Some(r) = f.pinv_residual {
        println!(
            "pinv resid.   {}   ‖ÃZÃ − Ã‖_F / ‖Ã‖_F of the pseudo-inverse used",
            num(r)
        );
    }
    println!("max_abs_err   {}", num(f.max_abs_err));
    println!(
        "pattern       {} pairs ({:.2}% of n²){}",
        f.pattern_pairs,
        100.0 * f.density,
        f.tile_pairs
            .map(|t| format!(", {t} evaluated by the tiled kernel"))
            .unwrap_or_default()
    );
    println!(
        "mass kept     {:.2}% of exact attention's weight",
        100.0 * f.mass_in_pattern
    );
}

/// One bench line: JSON or a summary.
pub fn bench_line(x: &Measurement, json: bool) {
    if json {
        measurement(x, true);
        return;
    }
    let (e, f) = (&x.envelope, &x.figures);
    println!(
        "{:<12} n={:<6} d={:<4} {:>10.4} ms {:>9.1} GFLOP/s  rel_err {}  [{} {}]",
        e.method,
        f.n,
        f.d,
        e.time_ms,
        e.gflops,
        num(f.rel_err),
        e.backend,
        e.adapter
    );
    // `--pass-times`: where this row's time went, or why it cannot say.
    pass_lines(&e.passes, "  pass ");
    for note in e.notes.iter().filter(|n| n.starts_with(NO_PASS_TIMES)) {
        println!("  note {note}");
    }
}

/// A bench's scaling summary: per method the exponent of n fitted to time
/// and to memory beside the survey's, and where it becomes faster than
/// exact attention.
pub fn scaling_summary(report: &ScalingReport) {
    println!();
    println!(
        "scaling at d = {}{} on {} ({}): exponents of n, least squares on log-log over the points above {FLOOR_FACTOR}× each series' smallest",
        report.d,
        if report.causal { ", causal" } else { "" },
        report.backend,
        report.adapter
    );
    println!(
        "{:<18} {:>6}  {:<12} {:<22} {:>6}  {:<22} faster than full (same backend)",
        "method", "time", "fitted over", "theory (survey)", "memory", "theory (survey)"
    );
    let has_reference = report.series.iter().any(|s| s.reference);
    for s in &report.series {
        let range = match (s.time_fit.from_n, s.time_fit.to_n) {
            (Some(a), Some(b)) => format!("n {a}–{b}"),
            _ => String::new(),
        };
        let crossover = if s.reference {
            "the reference".to_string()
        } else if !has_reference {
            "— (add full to --methods)".to_string()
        } else {
            match (s.crossover.n, s.crossover.compared_up_to) {
                (Some(n), _) => format!("from n = {n}"),
                (None, Some(up)) => format!("not up to n = {up}"),
                (None, None) => "— (no n in common with full)".to_string(),
            }
        };
        println!(
            "{:<18} {:>6}  {:<12} {:<22} {:>6}  {:<22} {crossover}",
            s.method,
            exponent_text(&s.time_fit),
            range,
            format!(
                "{}  {}",
                theory_text(s.theory_time.as_ref()),
                s.complexity_time
            ),
            exponent_text(&s.memory_fit),
            format!(
                "{}  {}",
                theory_text(s.theory_space.as_ref()),
                s.complexity_space
            ),
        );
        if s.time_fit.exponent.is_none() && !s.time_fit.note.is_empty() {
            println!("{:<18} time: {}", "", s.time_fit.note);
        }
    }
    if report
        .series
        .iter()
        .any(|s| s.theory_time.is_some_and(|t| t.sqrt_knob))
    {
        println!(
            "* the survey's √n assumes a knob that grows as √n (e.g. stride); bench holds the knobs fixed"
        );
    }
    println!("time: {}", report.time_counts);
    println!("memory: {}", report.memory_counts);
    for note in &report.notes {
        println!("note: {note}");
    }
}

/// The scaling figure (time and memory against n) as SVG.
pub fn scaling_svg(path: &PathBuf, report: &ScalingReport) -> Result<(), Failure> {
    let text = figure_svg(report)
        .map_err(|e| Failure::runtime(format!("drawing the scaling chart: {e}")))?;
    std::fs::write(path, text)
        .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))
}

/// One point of the error law, as it completes.
pub fn sweep_point(method: MethodId, p: &SweepPoint) {
    let knob = method.info().budget.map(|b| b.key).unwrap_or("budget");
    println!(
        "{:<10} {:>6}   mean {}   ± {}   [{}, {}]",
        knob,
        p.budget,
        num(p.mean),
        num(p.std),
        num(p.min),
        num(p.max)
    );
}

/// The finished error law.
pub fn sweep(result: &Sweep, json: bool) -> Result<(), Failure> {
    if json {
        let text = serde_json::to_string(result).map_err(|e| Failure::runtime(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
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
            "baselines     {} (output the mean of V), {} (output zeros)",
            num(p.baseline_mean_v_rel_err),
            num(p.baseline_zero_rel_err)
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
    Ok(())
}

/// `flt methods`.
pub fn methods() {
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
        if let Some(why) = m.method().always_causal() {
            println!("    (always causal: {why})");
        }
    }
}

/// The pooled attention map of a run, or why there is none.
fn weights(out: &Measurement) -> Result<&AttentionMap, Failure> {
    out.artifacts
        .weights()
        .ok_or_else(|| Failure::runtime("this run pooled no attention map"))
}

/// The heatmap's SVG: the page's drawing (cells as rectangles).
fn heatmap_svg(out: &Measurement) -> Result<String, Failure> {
    let map = weights(out)?;
    let options = HeatmapOptions {
        title: format!("{} — n = {}", out.envelope.method_label, out.figures.n),
        scale: ColourScale::Linear,
        paint_cells: true,
    };
    svg_string((640, 540), |root| {
        draw_heatmap(root, map, &options).map_err(|e| e.to_string())
    })
    .map(|(svg, _)| svg)
    .map_err(|e| Failure::runtime(format!("drawing the heatmap: {e}")))
}

fn write(path: &PathBuf, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes)
        .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))
}

/// The pooled heatmap as SVG.
pub fn svg(path: &PathBuf, out: &Measurement) -> Result<(), Failure> {
    write(path, heatmap_svg(out)?.as_bytes())
}

/// The pooled heatmap as PNG: the SVG's drawing rasterised at 2×.
pub fn png(path: &PathBuf, out: &Measurement) -> Result<(), Failure> {
    let png =
        svg_to_png(&heatmap_svg(out)?, 2.0).map_err(|e| Failure::runtime(format!("--png: {e}")))?;
    write(path, &png)
}

/// The pooled heatmap's cells as CSV (the page's `export-csv`).
pub fn csv(path: &PathBuf, out: &Measurement) -> Result<(), Failure> {
    write(path, grid_csv(&attention_grid(weights(out)?)).as_bytes())
}

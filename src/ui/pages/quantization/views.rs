//! The weight quantizer's views of its last report: the figures with
//! their baseline and law, the histogram with the grid, the error map.

use std::sync::Arc;

use leptos::prelude::*;
use web_sys::HtmlCanvasElement;

use crate::chart::export::{csv_number, csv_table, file_stem, svg_string};
use crate::chart::quantization::draw_histogram;
use crate::data::maps::Histogram;
use crate::data::timing::Timing;
use crate::format;
use crate::pipeline::quantization::{QuantizationFigures, QuantizationReport};
use crate::ui::components::{CanvasChart, Export, Heatmap, Pooled, num, plot_area};

type Report = ReadSignal<Option<Arc<QuantizationReport>>>;

fn db(x: Option<f64>) -> String {
    x.map_or("∞ (lossless)".into(), |d| format!("{d:.2} dB"))
}

/// GB/s with three significant digits.
fn gbps(x: f64) -> String {
    if x >= 1.0 {
        format!("{x:.1}")
    } else {
        format::sci(x)
    }
}

/// The figures as rows of (name, value, what it means).
fn rows(r: &QuantizationReport) -> Vec<(&'static str, String, String)> {
    let (e, f) = (&r.envelope, &r.figures);
    let mut out = vec![
        (
            "SQNR",
            db(f.sqnr_db),
            match f.sqnr_law_db {
                Some(l) => format!("the uniform-noise law s²/12 predicts {l:.2} dB"),
                None => "signal over noise, 10·log₁₀(Σx² / Σ(x − x̂)²)".into(),
            },
        ),
        (
            "MSE",
            format::sci(f.mse),
            format!(
                "mean (x − x̂)²; storing nothing (x̂ = 0) gives {}",
                format::sci(f.baseline_zero_mse)
            ),
        ),
        (
            "max |x − x̂|",
            format::sci(f.max_abs_err),
            "the largest error of one weight".into(),
        ),
        (
            "size",
            format!(
                "{} → {}",
                format::bytes(f.bytes_before),
                format::bytes(f.bytes_after)
            ),
            format!("{:.2}× smaller; {}", f.compression, f.bytes_after_formula),
        ),
        (
            "bits per weight",
            format!("{:.3}", f.bits_per_weight),
            format!("{} bits per code, plus the scales' share", f.bits),
        ),
        (
            "groups",
            format::int(f.groups as u64),
            format!(
                "{} levels per group{}",
                format::int(f.levels),
                f.group_size
                    .map(|g| format!(", {g} weights per scale"))
                    .unwrap_or_default()
            ),
        ),
    ];
    if f.clip == "mse" {
        out.push((
            "clipping",
            format!("α = {:.3}", f.alpha_mean),
            format!(
                "mean range kept; {:.3}% of the weights clipped",
                100.0 * f.clipped_fraction
            ),
        ));
    }
    let how = match e.timing {
        Timing::GpuTimestamp => "GPU timestamps",
        Timing::WallClock => "wall clock",
    };
    let what = if e.backend == "gpu" {
        "quantize-dequantize kernels"
    } else {
        "CPU twin"
    };
    out.push((
        "time",
        format::ms(e.time_ms),
        format!("{what}, warm median of {} ({how})", e.time_ms_samples.len()),
    ));
    if let (Some(t), Some(c)) = (f.throughput_gbps, f.copy_gbps) {
        out.push((
            "throughput",
            format!("{} GB/s", gbps(t)),
            format!(
                "read x + write x̂ over the median; a plain copy kernel moves {} GB/s",
                gbps(c)
            ),
        ));
    }
    if let Some(d) = e.gpu_cpu_max_abs_err {
        out.push((
            "GPU vs twin",
            format::sci(d),
            "max |x̂_GPU − x̂_twin| with the GPU's scales".into(),
        ));
    }
    out
}

/// The figures card.
#[component]
pub fn Figures(report: Report) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Error and size"</h2>
            {move || match report.get() {
                None => view! { <p class="muted">"Waiting for the first run…"</p> }.into_any(),
                Some(r) => {
                    let notes = r.envelope.notes.clone();
                    view! {
                        <p class="muted">
                            {format!(
                                "{} on a {} × {} matrix ({})",
                                r.envelope.method_label,
                                r.figures.rows,
                                r.figures.cols,
                                r.figures.inputs,
                            )}
                        </p>
                        <table class="figure-table" data-testid="quant-figures">
                            <tbody>
                                {rows(&r)
                                    .into_iter()
                                    .map(|(name, value, what)| {
                                        view! {
                                            <tr>
                                                <th>{name}</th>
                                                <td class="num">{num(value, format!("{name}: {what}"))}</td>
                                                <td class="muted x-why">{what}</td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                        <ul class="notes">
                            {notes.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}
                        </ul>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

/// The exports' stem after the quantizer's settings:
/// `ptq_int_b4_symmetric_per-channel_none_256x256`.
pub fn stem(f: &QuantizationFigures) -> String {
    let mut settings = vec![
        ("bits", f.bits.to_string()),
        ("mode", f.mode.clone()),
        ("granularity", f.granularity.clone()),
    ];
    if let Some(g) = f.group_size {
        settings.push(("group", g.to_string()));
    }
    settings.push(("clip", f.clip.clone()));
    settings.push(("x", format!("{}x{}", f.rows, f.cols)));
    file_stem(&format!("ptq_{}", f.format), &settings)
}

/// The histogram as CSV: the bins (from, to, count), the grid's levels and
/// the clipping range, one kind per line.
fn histogram_csv(h: &Histogram) -> String {
    let bins = h.counts.len().max(1);
    let width = f64::from(h.hi - h.lo) / bins as f64;
    let mut rows: Vec<Vec<String>> = h
        .counts
        .iter()
        .enumerate()
        .map(|(k, c)| {
            vec![
                "bin".to_string(),
                csv_number(f64::from(h.lo) + k as f64 * width),
                csv_number(f64::from(h.lo) + (k + 1) as f64 * width),
                c.to_string(),
            ]
        })
        .collect();
    rows.extend(h.levels.iter().map(|l| {
        let v = csv_number(f64::from(*l));
        vec!["level".to_string(), v.clone(), v, String::new()]
    }));
    if let Some((a, b)) = h.clip {
        rows.push(vec![
            "clip".to_string(),
            csv_number(f64::from(a)),
            csv_number(f64::from(b)),
            String::new(),
        ]);
    }
    csv_table(&["kind", "from", "to", "count"], rows)
}

/// The histogram with the grid.
#[component]
pub fn HistogramCard(report: Report) -> impl IntoView {
    let draw = move |canvas: &HtmlCanvasElement| {
        report.with(|r| match r.as_ref().and_then(|r| r.artifacts.histogram()) {
            Some(h) => draw_histogram(&plot_area(canvas)?, h)
                .map(|()| true)
                .map_err(|e| e.to_string()),
            None => Ok(false),
        })
    };
    let caption = move || {
        report.with(|r| {
            r.as_ref()
                .and_then(|r| r.artifacts.histogram())
                .map(|h| {
                    format!(
                        "{} equal bins over [{}, {}], counts on a log axis. The orange lines are {}; the shaded ends are what its range clips.",
                        h.counts.len(),
                        format::sci(h.lo as f64),
                        format::sci(h.hi as f64),
                        h.grid_of
                    )
                })
                .unwrap_or_default()
        })
    };
    view! {
        <h2>"Weights and the grid"</h2>
        <CanvasChart
            testid="histogram"
            width=640
            height=420
            aria_label="Histogram of the weights with the quantization levels"
            what="Cannot draw the histogram"
            draw=draw
            export=Export::new(
                move || report.with(|r| r.as_ref().filter(|r| r.artifacts.histogram().is_some()).map(|r| format!("{}_histogram", stem(&r.figures)))),
                move || report.with_untracked(|r| {
                    let h = r.as_ref().and_then(|r| r.artifacts.histogram()).ok_or("nothing is drawn yet")?;
                    svg_string((640, 420), |root| draw_histogram(root, h).map_err(|e| e.to_string())).map(|(svg, ())| svg)
                }),
                move || report.with_untracked(|r| {
                    r.as_ref().and_then(|r| r.artifacts.histogram()).map(histogram_csv).ok_or_else(|| "nothing is drawn yet".to_string())
                }),
            )
        />
        <details class="numbers" data-testid="histogram-numbers">
            <summary>"The numbers drawn"</summary>
            <p>{move || report.with(|r| r.as_ref().and_then(|r| r.artifacts.histogram()).map(|h| {
                let peak = h.counts.iter().enumerate().max_by_key(|(_, c)| **c).map(|(k, c)| (k, *c)).unwrap_or((0, 0));
                let width = f64::from(h.hi - h.lo) / h.counts.len().max(1) as f64;
                format!(
                    "{} weights in {} bins over [{}, {}]; the fullest bin [{}, {}) holds {}; {} levels on the grid{}.",
                    format::int(h.counts.iter().sum()),
                    h.counts.len(),
                    format::num(f64::from(h.lo)),
                    format::num(f64::from(h.hi)),
                    format::num(f64::from(h.lo) + peak.0 as f64 * width),
                    format::num(f64::from(h.lo) + (peak.0 + 1) as f64 * width),
                    format::int(peak.1),
                    h.level_count,
                    h.clip.map(|(a, b)| format!(", clipped to [{}, {}]", format::num(f64::from(a)), format::num(f64::from(b)))).unwrap_or_default(),
                )
            }))}</p>
        </details>
        <p class="caption">{caption}</p>
    }
}

/// The error map.
#[component]
pub fn ErrorMap(report: Report) -> impl IntoView {
    let map = Signal::derive(move || {
        report.with(|r| {
            r.as_ref()
                .and_then(|r| r.artifacts.error_map().cloned())
                .map(Pooled::from)
        })
    });
    let caption = Signal::derive(move || {
        report.with(|r| {
            r.as_ref()
                .and_then(|r| r.artifacts.error_map())
                .map(|m| {
                    format!(
                        "|x − x̂| of every weight, {} × {} pooled to {} × {} cells by block means. Outlier columns and poorly scaled groups stand out.",
                        m.rows, m.cols, m.row_cells, m.col_cells
                    )
                })
                .unwrap_or_default()
        })
    });
    view! {
        <Heatmap
            map=map
            title=Signal::derive(|| "|x − x̂|".to_string())
            caption=caption
            stem=Signal::derive(move || report.with(|r| r.as_ref().map(|r| format!("{}_error-map", stem(&r.figures))).unwrap_or_default()))
            heading="Quantization error"
            testid="error-map"
            aria_label="Heatmap of the quantization error of each weight"
        />
    }
}

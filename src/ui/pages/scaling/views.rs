//! The scaling page's views: the method picker (a checkbox per registered
//! method), the two charts, the exports, the table of exponents and the
//! crossover readout. They read the report; none computes a kernel.

use leptos::prelude::*;
use plotters::prelude::IntoDrawingArea;
use plotters_canvas::CanvasBackend;
use wasm_bindgen::JsCast;
use web_sys::HtmlCanvasElement;

use super::ReportSignal;
use crate::attention::MethodId;
use crate::chart::scaling::{
    FIGURE_SIZE, Quantity, draw_scaling, draw_scaling_figure, exponent_text, figure_svg,
    series_css, theory_text,
};
use crate::pipeline::scaling::{
    FLOOR_FACTOR, Fit, MIN_FIT_POINTS, REFERENCE, ScalingReport, Series, StopKind,
};
use crate::settings::scaling::{ScalingSettings, methods_text};
use crate::ui::browser::download;
use crate::ui::components::{CanvasChart, Update, num, plot_area};

/// A checkbox per registered method, with its family and complexity.
#[component]
pub fn MethodPicker(settings: Memo<ScalingSettings>, update: Update) -> impl IntoView {
    let set = move |methods: String| update.with_value(|f| f("methods", methods));
    let all = move |_| set(methods_text(MethodId::ALL));
    let reference_only = move |_| set(REFERENCE.key().to_string());
    view! {
        <div class="method-picker" data-testid="method-picker">
            <div class="picker-head">
                <h2>"Methods"</h2>
                <span class="muted">
                    "Exact attention (full) is always swept: it is the reference every crossover is against."
                </span>
                <span class="picker-buttons">
                    <button data-testid="methods-all" on:click=all>
                        "All"
                    </button>
                    <button data-testid="methods-reference" on:click=reference_only>
                        "Reference only"
                    </button>
                </span>
            </div>
            <div class="method-grid">
                {MethodId::ALL
                    .iter()
                    .map(|&m| {
                        let info = m.info();
                        let checked = move || settings.with(|s| s.methods.contains(&m));
                        let toggle = move |ev: leptos::ev::Event| {
                            let on = event_target_checked(&ev);
                            let next = settings.get_untracked().toggled(m, on);
                            set(methods_text(&next.methods));
                        };
                        let not_causal = move || {
                            settings.with(|s| s.causal) && info.causal_unsupported.is_some()
                        };
                        let title = format!(
                            "{} — {} ({}); time {}, space {} ({})",
                            info.label,
                            info.family,
                            info.paper,
                            info.complexity.time,
                            info.complexity.space,
                            info.complexity.source
                        );
                        view! {
                            <label
                                class="method-option"
                                class:not-causal=not_causal
                                title=title
                                data-method=info.key
                            >
                                <input
                                    type="checkbox"
                                    data-testid=format!("method-{}", info.key)
                                    prop:checked=checked
                                    on:change=toggle
                                />
                                <span class="swatch" style=format!("background:{}", series_css(info.key))></span>
                                <span class="method-name">{info.key}</span>
                                <span class="method-complexity">{info.complexity.time}</span>
                                {move || {
                                    not_causal().then(|| view! { <span class="tag">"not causal"</span> })
                                }}
                            </label>
                        }
                    })
                    .collect_view()}
            </div>
        </div>
    }
}

/// A chart of `quantity` against n, redrawn as the points arrive.
#[component]
pub fn ScalingChart(
    report: ReportSignal,
    quantity: Quantity,
    testid: &'static str,
) -> impl IntoView {
    let has_points = move || {
        report.with(|r| {
            r.as_ref()
                .is_some_and(|r| r.series.iter().any(|s| !s.points.is_empty()))
        })
    };
    let (title, what) = match quantity {
        Quantity::Time => ("Time against n", "Cannot draw the time chart"),
        Quantity::Memory => ("Memory against n", "Cannot draw the memory chart"),
    };
    let caption = move || {
        report.with(|r| {
            r.as_ref().map(|r| match quantity {
                Quantity::Time if r.backend == "cpu" => format!(
                    "Time: {}. Browsers coarsen this clock (Chromium: 0.1 ms steps unless the page is \
                     cross-origin isolated), so points below a millisecond are coarse.",
                    r.time_counts
                ),
                Quantity::Time => format!("Time: {}.", r.time_counts),
                Quantity::Memory => format!("Memory: {}.", r.memory_counts),
            })
        })
    };
    view! {
        <section class="card chart-card">
            <h2>{title}</h2>
            <Show when=move || !has_points()>
                <div class="chart-placeholder">
                    "The chart fills in as the points arrive: run the sweep."
                </div>
            </Show>
            <CanvasChart
                testid=testid
                width=640
                height=420
                aria_label=match quantity {
                    Quantity::Time => "time against n, log-log, one line per method",
                    Quantity::Memory => "memory against n, log-log, one line per method",
                }
                what=what
                hidden=Signal::derive(move || !has_points())
                draw=move |canvas: &HtmlCanvasElement| draw(canvas, report, quantity)
            />
            <p class="caption">{caption}</p>
        </section>
    }
}

/// Draws the report so far (nothing before the first point).
fn draw(
    canvas: &HtmlCanvasElement,
    report: ReportSignal,
    quantity: Quantity,
) -> Result<bool, String> {
    report.with(|r| {
        let Some(r) = r else { return Ok(false) };
        let points: usize = r.series.iter().map(|s| s.points.len()).sum();
        let _ = canvas.set_attribute("data-points", &points.to_string());
        if points == 0 {
            return Ok(false);
        }
        draw_scaling(&plot_area(canvas)?, r, quantity).map_err(|e| e.to_string())?;
        Ok(true)
    })
}

/// The base of the export files' names: `scaling-gpu-d64`.
fn file_stem(r: &ScalingReport) -> String {
    format!(
        "scaling-{}-d{}{}",
        r.backend,
        r.d,
        if r.causal { "-causal" } else { "" }
    )
}

/// The figure (time above memory) drawn on a canvas of its own, as a PNG
/// data URL.
fn figure_png(r: &ScalingReport) -> Result<String, String> {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let canvas: HtmlCanvasElement = document
        .create_element("canvas")
        .map_err(|e| format!("{e:?}"))?
        .dyn_into()
        .map_err(|_| "not a canvas")?;
    canvas.set_width(FIGURE_SIZE.0);
    canvas.set_height(FIGURE_SIZE.1);
    let root = CanvasBackend::with_canvas_object(canvas.clone())
        .ok_or("the canvas has no 2-D context")?
        .into_drawing_area();
    draw_scaling_figure(&root, r).map_err(|e| e.to_string())?;
    canvas
        .to_data_url_with_type("image/png")
        .map_err(|e| format!("{e:?}"))
}

/// Offers a data URL as a download.
fn download_url(filename: &str, url: &str) -> Result<(), String> {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let anchor: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|e| format!("{e:?}"))?
        .dyn_into()
        .map_err(|_| "not an anchor")?;
    anchor.set_href(url);
    anchor.set_download(filename);
    anchor.click();
    Ok(())
}

/// The export buttons: the points as CSV and JSON, the figure as SVG and PNG.
#[component]
pub fn Exports(report: ReportSignal) -> impl IntoView {
    let (error, set_error) = signal(None::<String>);
    let (saved, set_saved) = signal(None::<String>);
    let empty = move || {
        report.with(|r| {
            r.as_ref()
                .is_none_or(|r| r.series.iter().all(|s| s.points.is_empty()))
        })
    };
    let export = move |kind: &'static str| {
        let Some(r) = report.get_untracked() else {
            return;
        };
        let stem = file_stem(&r);
        let result = match kind {
            "csv" => download(&format!("{stem}.csv"), "text/csv", &r.csv()).map(|()| "CSV"),
            "json" => serde_json::to_string_pretty(&*r)
                .map_err(|e| e.to_string())
                .and_then(|text| download(&format!("{stem}.json"), "application/json", &text))
                .map(|()| "JSON"),
            "svg" => figure_svg(&r)
                .and_then(|svg| download(&format!("{stem}.svg"), "image/svg+xml", &svg))
                .map(|()| "SVG"),
            _ => figure_png(&r)
                .and_then(|url| download_url(&format!("{stem}.png"), &url))
                .map(|()| "PNG"),
        };
        match result {
            Ok(what) => {
                set_error.set(None);
                set_saved.set(Some(format!("{what} saved ({stem}).")));
            }
            Err(e) => {
                set_saved.set(None);
                set_error.set(Some(e));
            }
        }
    };
    view! {
        <section class="card exports" data-testid="scaling-exports">
            <h2>"Export"</h2>
            <button data-testid="scaling-download-csv" prop:disabled=empty on:click=move |_| export("csv")>
                "Points (CSV)"
            </button>
            <button data-testid="scaling-download-json" prop:disabled=empty on:click=move |_| export("json")>
                "Report (JSON)"
            </button>
            <button data-testid="scaling-download-svg" prop:disabled=empty on:click=move |_| export("svg")>
                "Charts (SVG)"
            </button>
            <button data-testid="scaling-download-png" prop:disabled=empty on:click=move |_| export("png")>
                "Charts (PNG)"
            </button>
            <p class="muted small">
                "CSV: one row per method and n (time, every repeat, memory, FLOPs executed and needed, rel_err). "
                "JSON: the whole report — points, fits, crossovers, where and why each series stopped, what the "
                "figures count. SVG and PNG: both charts, the figure "
                <code>"flt bench --methods … --n … --svg scaling.svg"</code>
                " writes natively."
            </p>
            {move || saved.get().map(|s| view! { <span class="saved" data-testid="scaling-saved">{s}</span> })}
            {move || error.get().map(|e| view! { <span class="error" role="alert">{e}</span> })}
        </section>
    }
}

/// A fit as a table cell: the exponent (explained: what was fitted over
/// which points), and over what.
fn fit_cell(fit: &Fit, what: &'static str) -> AnyView {
    match (fit.exponent, fit.from_n, fit.to_n) {
        (Some(_), Some(a), Some(b)) => {
            let detail = format!(
                "n {a}–{b} · {} pts{}",
                fit.points,
                fit.r2.map(|r| format!(" · R² {r:.2}")).unwrap_or_default()
            );
            let explain = format!(
                "Fitted exponent of n: the least-squares slope of log {what} against log n over n = {a}…{b} ({} points{})",
                fit.points,
                fit.r2.map(|r| format!(", R² = {r:.3}")).unwrap_or_default()
            );
            view! {
                <span class="exponent">{num(exponent_text(fit), explain)}</span>
                <span class="detail x-why">{detail}</span>
            }
            .into_any()
        }
        _ => view! {
            <span class="exponent" title=fit.note.clone()>"—"</span>
            <span class="detail x-why">{fit.note.clone()}</span>
        }
        .into_any(),
    }
}

/// Where a series ends, in words.
fn series_end(s: &Series, last_n: Option<usize>) -> String {
    match &s.stop {
        Some(stop) => {
            let kind = match stop.kind {
                StopKind::TooLarge => "too large for this adapter",
                StopKind::Budget => "time budget",
                StopKind::Unsupported => "not supported",
                StopKind::Failed => "failed",
            };
            format!("{kind}: {}", stop.reason)
        }
        None => match (s.points.last(), last_n) {
            (Some(p), Some(max)) if p.n == max => format!("measured up to n = {max}"),
            (Some(p), _) => format!("measured up to n = {} so far", p.n),
            (None, _) => "waiting".into(),
        },
    }
}

/// The crossover of a series in words.
fn crossover_text(s: &Series) -> String {
    if s.reference {
        return "— (the reference)".into();
    }
    match (s.crossover.n, s.crossover.compared_up_to) {
        (Some(n), Some(up)) if n == up => format!("at n = {n} (the largest n compared)"),
        (Some(n), Some(up)) => format!("from n = {n} (up to {up})"),
        (None, Some(up)) => format!("not up to n = {up}"),
        _ => "— (no n measured with full)".into(),
    }
}

/// The table of exponents: fitted against theoretical, time and memory,
/// with the crossover and where each series ends.
#[component]
pub fn Exponents(report: ReportSignal) -> impl IntoView {
    let rows = move || {
        report.with(|r| {
            let Some(r) = r.as_deref() else {
                return Vec::new();
            };
            let last_n = r.ns.last().copied();
            r.series
                .iter()
                .map(|s| {
                    let theory_time = theory_text(s.theory_time.as_ref());
                    let theory_space = theory_text(s.theory_space.as_ref());
                    let measured = match (s.points.first(), s.points.last()) {
                        (Some(a), Some(b)) => num(
                            format!("{}–{} ({})", a.n, b.n, s.points.len()),
                            "The sequence lengths measured for this method: first–last n (number of points)",
                        )
                        .into_any(),
                        _ => "—".into_any(),
                    };
                    let theory = |text: String, complexity: &str, of: &str| {
                        num(
                            text,
                            format!(
                                "The power of n in the survey's {of} complexity {complexity}, the other knobs held fixed"
                            ),
                        )
                    };
                    let theory_time = theory(theory_time, &s.complexity_time, "time");
                    let theory_space = theory(theory_space, &s.complexity_space, "space");
                    let crossover = num(
                        crossover_text(s),
                        "The smallest n from which this method is faster than full attention at every n measured beside it",
                    );
                    let end = num(
                        series_end(s, last_n),
                        "Where this series stopped: its largest n, or why it stopped (time budget, adapter limits, unsupported)",
                    );
                    view! {
                        <tr
                            data-method=s.method.clone()
                            data-fitted=s.time_fit.exponent.map(|e| format!("{e:.4}")).unwrap_or_default()
                            data-theory=s.theory_time.map(|t| t.exponent.to_string()).unwrap_or_default()
                            class:reference=s.reference
                        >
                            <td class="x-label">
                                <span class="swatch" style=format!("background:{}", series_css(&s.method))></span>
                                <strong>{s.method.clone()}</strong>
                                <div class="detail">{s.label.clone()}</div>
                            </td>
                            <td class="num">{measured}</td>
                            <td class="num">{fit_cell(&s.time_fit, "time")}</td>
                            <td>
                                <span class="exponent">{theory_time}</span>
                                <span class="detail x-why">{s.complexity_time.clone()}</span>
                            </td>
                            <td class="num">{fit_cell(&s.memory_fit, "memory")}</td>
                            <td>
                                <span class="exponent">{theory_space}</span>
                                <span class="detail x-why">{s.complexity_space.clone()}</span>
                            </td>
                            <td>{crossover}</td>
                            <td class="detail">{end}</td>
                        </tr>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    let sqrt_note = move || {
        report.with(|r| {
            r.as_ref().is_some_and(|r| {
                r.series
                    .iter()
                    .any(|s| s.theory_time.is_some_and(|t| t.sqrt_knob))
            })
        })
    };
    view! {
        <section class="card exponents-card">
            <h2>"Exponents of n: fitted here against the survey's"</h2>
            <div class="table-scroll" tabindex="0" role="region" aria-label="Fitted exponents">
                <table class="figure-table exponents" data-testid="exponents">
                    <thead>
                        <tr>
                            <th>"method"</th>
                            <th class="num">"n measured (points)"</th>
                            <th class="num">"time: fitted"</th>
                            <th>"time: theory"</th>
                            <th class="num">"memory: fitted"</th>
                            <th>"memory: theory"</th>
                            <th>"faster than full"</th>
                            <th>"series"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            <p class="muted small">
                {format!(
                    "Fitted: least squares on log value against log n over the points above the launch-overhead floor — \
                     those after the last point within {FLOOR_FACTOR}× the series' smallest value (at least {MIN_FIT_POINTS}). \
                     Near the floor the fit is a lower bound of the asymptotic exponent; a larger n-max tightens it. \
                     Theory: the power of n in the survey's complexity with the knobs (d, k, m, L, window, buckets) held \
                     fixed, as this sweep holds them; × log marks an n log n law, whose local slope is 1 + 1/ln n."
                )}
                {move || {
                    sqrt_note()
                        .then_some(
                            " * √n assumes a knob that grows as √n (the Sparse Transformer's stride); at a fixed stride its pattern grows as n²/stride.",
                        )
                }}
            </p>
        </section>
    }
}

/// The crossover readout: JSON (method → n or null) and in words.
#[component]
pub fn Crossovers(report: ReportSignal, settings: Memo<ScalingSettings>) -> impl IntoView {
    // Pretty-printed: one method a line, still JSON.
    let json = move || {
        report.with(|r| {
            r.as_ref()
                .and_then(|r| {
                    serde_json::to_string_pretty(&serde_json::Value::Object(r.crossovers.clone()))
                        .ok()
                })
                .unwrap_or_else(|| "{}".into())
        })
    };
    let lines = move || {
        report.with(|r| {
            let Some(r) = r.as_deref() else {
                return Vec::new();
            };
            r.series
                .iter()
                .filter(|s| s.chosen)
                .map(|s| {
                    let text = if s.reference {
                        "the reference: every crossover is against it".to_string()
                    } else {
                        match (s.crossover.n, s.crossover.compared_up_to) {
                            (Some(n), Some(up)) if n == up => format!(
                                "faster than full at n = {n}, the largest n measured beside it"
                            ),
                            (Some(n), Some(up)) => format!(
                                "faster than full from n = {n} on (every n measured up to {up})"
                            ),
                            (None, Some(up)) => {
                                format!("not faster than full up to n = {up}")
                            }
                            _ => "no n measured beside full".to_string(),
                        }
                    };
                    let won = s.crossover.n.is_some();
                    view! {
                        <li class:won=won data-method=s.method.clone()>
                            <span class="swatch" style=format!("background:{}", series_css(&s.method))></span>
                            <strong>{s.method.clone()}</strong>
                            ": "
                            {text}
                        </li>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    let against = move || {
        report.with(|r| match r.as_deref() {
            Some(r) if r.backend == "gpu" => format!(
                "Against exact attention's fused kernel on {} (both timed the same way).",
                r.adapter
            ),
            Some(_) => {
                "Against exact attention's CPU twin (the CPU twins, timed the same way).".into()
            }
            None => String::new(),
        })
    };
    let complete = move || report.with(|r| r.as_ref().is_some_and(|r| r.complete));
    view! {
        <section class="card crossovers-card">
            <h2>"Crossovers: from which n is it faster than full?"</h2>
            <p class="muted small">{against}</p>
            <ul class="crossover-list">{lines}</ul>
            <p class="muted small">
                "The smallest n measured from which the method is faster (strictly) than full at every larger n "
                "where both were measured; null when it is not faster at the largest such n."
                {move || (!complete() && report.with(Option::is_some)).then_some(" The sweep is still running: these may change.")}
            </p>
            <pre data-testid="crossovers" data-complete=move || complete().to_string()>
                {json}
            </pre>
            <p class="muted small">
                {move || {
                    report
                        .with(|r| {
                            r.as_ref()
                                .map(|r| {
                                    let chosen: Vec<&str> = r
                                        .series
                                        .iter()
                                        .filter(|s| s.chosen)
                                        .map(|s| s.method.as_str())
                                        .collect();
                                    let (lo, hi) = (
                                        r.ns.first().copied().unwrap_or_default(),
                                        r.ns.last().copied().unwrap_or_default(),
                                    );
                                    let changed = settings
                                        .with(|s| methods_text(&s.methods) != chosen.join(","));
                                    format!(
                                        "This run: {}; d = {}, n = {lo} … {hi}{}, seed {}.{}",
                                        chosen.join(", "),
                                        r.d,
                                        if r.causal { ", causal" } else { "" },
                                        r.seed,
                                        if changed {
                                            " The methods chosen above have changed since: run again to measure them."
                                        } else {
                                            ""
                                        }
                                    )
                                })
                        })
                        .unwrap_or_default()
                }}
            </p>
        </section>
    }
}

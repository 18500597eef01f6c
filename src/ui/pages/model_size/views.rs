//! The configuration's views, read from the report: the headline count and
//! its published counterparts, the breakdown part by part with formulas,
//! the size at every precision with what it counts, and the Model Size
//! Comparison chart.

use leptos::prelude::*;
use web_sys::HtmlCanvasElement;

use super::ReportSignal;
use crate::chart::export::{csv_table, file_stem, svg_string};
use crate::chart::model_size::{SizeRow, draw_model_sizes, human_bytes, precision_colour};
use crate::compress::size::Part;
use crate::format;
use crate::pipeline::model_size::{ModelSizeFigures, PublishedFigure};
use crate::ui::components::{CanvasChart, Export, num, plot_area};

/// `109.48 M`.
pub fn millions(x: f64) -> String {
    format!("{:.2} M", x / 1e6)
}

/// `110M`, `14.5M`, `70 426 624`: a published count as its source gives it.
pub fn as_published(x: u64) -> String {
    if x.is_multiple_of(1_000_000) {
        format!("{}M", x / 1_000_000)
    } else if x.is_multiple_of(100_000) {
        format!("{:.1}M", x as f64 / 1e6)
    } else {
        format::int(x)
    }
}

/// `+0.35 %`.
pub fn percent(x: f64) -> String {
    format!("{:+.2} %", 100.0 * x)
}

/// The figures of the last report, if any.
fn with_figures<T>(report: ReportSignal, f: impl Fn(&ModelSizeFigures) -> T) -> Option<T> {
    report.with(|r| r.as_ref().map(|r| f(&r.figures)))
}

/// The count and the headline size, and the published counts.
#[component]
pub fn Headline(report: ReportSignal) -> impl IntoView {
    let body = move || {
        with_figures(report, |f| {
            let size = f.sizes.iter().find(|s| s.precision == f.precision).copied();
            let shared = (f.layers_stored < f.config.layers).then(|| {
                view! {
                    <p class="muted">
                        {format!(
                            "One layer stored for all {}: without sharing it would hold {} parameters ({:.1}× more).",
                            f.config.layers,
                            format::int(f.params_unshared),
                            f.params_unshared as f64 / f.params as f64
                        )}
                    </p>
                }
            });
            view! {
                <h2>{f.model_label.clone()}</h2>
                <p class="headline">
                    <span class="big" data-testid="params" data-params=f.params.to_string()>
                        {format::int(f.params)}
                    </span>
                    " parameters ("{millions(f.params as f64)}")"
                    {size.map(|s| view! {
                        " · "<span class="big" data-testid="size">{human_bytes(s.bytes)}</span>
                        {format!(" at {}", s.precision.label())}
                    })}
                </p>
                <p class="muted">
                    {format!(
                        "Non-embedding parameters (Kaplan et al.'s N): {}.",
                        format::int(f.params_non_embedding)
                    )}
                </p>
                {shared}
                <Published figures=f.clone()/>
            }
        })
    };
    view! { <div class="headline-block">{body}</div> }
}

/// Published counts against the computed one.
#[component]
fn Published(figures: ModelSizeFigures) -> impl IntoView {
    if figures.published.is_empty() {
        return view! {
            <p class="muted" data-testid="published">
                "An edited configuration: no published count to compare with. Choose a model to see its published counts."
            </p>
        }
        .into_any();
    }
    let implementation = figures.implementation_params.map(|x| {
        let same = if x == figures.params { "the same" } else { "different" };
        view! {
            <li>
                <strong>{num(format::int(x), "Hugging Face transformers' count: the sum of numel over the base model's parameters")}</strong>
                {format!(" — Hugging Face transformers' base model (sum of numel over its parameters): {same}.")}
            </li>
        }
    });
    view! {
        <ul class="published" data-testid="published">
            {figures.published.iter().map(published_item).collect_view()}
            {implementation}
        </ul>
        <p class="muted small">{format!("Configuration: {}.", figures.config_source)}</p>
    }
    .into_any()
}

fn published_item(p: &PublishedFigure) -> impl IntoView + use<> {
    let implied = p
        .implied_vocab
        .map(|v| format!(" (implied vocabulary: {v})"));
    view! {
        <li>
            <strong>{as_published(p.params)}</strong>
            {format!(" — {}: computed {}{}. ", p.source, percent(p.relative_difference), implied.unwrap_or_default())}
            <span class="muted">{p.note.clone()}</span>
        </li>
    }
}

fn part_rows(parts: &[Part], indent: bool) -> impl IntoView + use<> {
    parts
        .iter()
        .map(|p| {
            let class = if indent { "part indent" } else { "part" };
            view! {
                <tr class=class>
                    <td class="x-label">{p.label.clone()}</td>
                    <td class="num">{num(format::int(p.params), format!("{} = {}", p.label, p.formula))}</td>
                    <td class="formula">{format!("= {}", p.formula)}</td>
                </tr>
            }
        })
        .collect_view()
}

/// Where the parameters are: embeddings, one layer × L, the top.
#[component]
pub fn Breakdown(report: ReportSignal) -> impl IntoView {
    let body = move || {
        with_figures(report, |f| {
            let layers = f.config.layers;
            let copies = if f.layers_stored == 1 && layers > 1 {
                format!("one layer stored, used {layers} times")
            } else {
                format!("× {layers} layers = {}", format::int(f.params_layers))
            };
            view! {
                <div class="table-scroll" tabindex="0" role="region" aria-label="Parameters by part">
                    <table class="figure-table breakdown" data-testid="breakdown">
                        <thead>
                            <tr><th>"part"</th><th class="num">"parameters"</th><th>"formula"</th></tr>
                        </thead>
                        <tbody>
                            <tr class="group">
                                <td>"embeddings"</td>
                                <td class="num">
                                    {num(format::int(f.params_embeddings), "Embedding parameters: the sum of the embedding parts below")}
                                </td>
                                <td></td>
                            </tr>
                            {part_rows(&f.embedding_parts, true)}
                            <tr class="group">
                                <td>"one layer"</td>
                                <td class="num">
                                    {num(format::int(f.params_per_layer), "Parameters of one layer: the sum of its parts below")}
                                </td>
                                <td class="formula">{copies}</td>
                            </tr>
                            {part_rows(&f.layer_parts, true)}
                            {part_rows(&f.top_parts, false)}
                            <tr class="total">
                                <td>"total"</td>
                                <td class="num">
                                    {num(format::int(f.params), "Total parameters: embeddings + layers stored × one layer + the top")}
                                </td>
                                <td></td>
                            </tr>
                        </tbody>
                    </table>
                </div>
            }
        })
    };
    view! { <div class="breakdown-block">{body}</div> }
}

/// The size at every precision, with what it counts.
#[component]
pub fn SizesTable(report: ReportSignal) -> impl IntoView {
    let body = move || {
        with_figures(report, |f| {
            let rows = f
                .sizes
                .iter()
                .map(|s| {
                    let c = precision_colour(s.precision);
                    let swatch = format!("background: rgb({}, {}, {})", c.0, c.1, c.2);
                    let class = if s.precision == f.precision {
                        "selected"
                    } else {
                        ""
                    };
                    view! {
                        <tr class=class data-precision=s.precision.key()>
                            <td class="x-label"><span class="swatch" style=swatch></span>{s.precision.label()}</td>
                            <td class="num">{num(s.bits.to_string(), "Bits stored per quantized weight")}</td>
                            <td class="num">{num(human_bytes(s.bytes), "Size: bytes of weights, scales, biases and norms together")}</td>
                            <td class="num">
                                {num(format::int(s.bytes), "Bytes: weights × bits / 8 + scales + biases and norms (kept in their own precision)")}
                            </td>
                            <td class="num">{num(format::int(s.bytes_scales), "Bytes of the quantization scales (one per group of weights)")}</td>
                            <td class="num">
                                {num(format::int(s.bytes_vectors), "Bytes of the biases and normalisation vectors, not quantized")}
                            </td>
                            <td class="num">{num(format!("{:.2}", s.bits_per_param), "Bits per parameter: bytes × 8 / parameters")}</td>
                            <td class="num">{num(format!("{:.2}×", s.compression), "vs FP32: the FP32 size / this size")}</td>
                            <td class="num muted">
                                {num(format!("{}×", s.nominal_compression), "The survey's table: 32 / bits, the nominal compression")}
                            </td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <div class="table-scroll" tabindex="0" role="region" aria-label="Size at every precision">
                <table class="figure-table sizes" data-testid="sizes-table">
                    <thead>
                        <tr>
                            <th>"precision"</th><th class="num">"bits/weight"</th><th class="num">"size"</th>
                            <th class="num">"bytes"</th><th class="num">"of which scales"</th>
                            <th class="num">"biases and norms"</th><th class="num">"bits/parameter"</th>
                            <th class="num">"vs FP32"</th><th class="num">"survey's table"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
                </div>
                <p class="caption">{format!("Quantized sizes: {}.", f.quantized_layout)}</p>
            }
        })
    };
    view! {
        <h2>"Size at every precision"</h2>
        {body}
    }
}

/// The comparison's rows: the edited configuration first when it is not a
/// preset, the current preset highlighted.
fn chart_rows(f: &ModelSizeFigures) -> Vec<SizeRow> {
    let mut rows: Vec<SizeRow> = f
        .comparison
        .iter()
        .map(|r| SizeRow {
            label: r.label.clone(),
            bytes: r.bytes.clone(),
            highlight: r.model == f.model,
        })
        .collect();
    if f.model == "custom" {
        rows.insert(
            0,
            SizeRow {
                label: "custom config".into(),
                bytes: f.sizes.iter().map(|s| s.bytes).collect(),
                highlight: true,
            },
        );
    }
    rows
}

/// The survey's Model Size Comparison figure, live.
#[component]
pub fn ComparisonChart(report: ReportSignal) -> impl IntoView {
    let draw = move |canvas: &HtmlCanvasElement| -> Result<bool, String> {
        let Some((rows, precision)) = with_figures(report, |f| (chart_rows(f), f.precision)) else {
            return Ok(false);
        };
        let area = plot_area(canvas)?;
        draw_model_sizes(&area, &rows, precision).map_err(|e| e.to_string())?;
        Ok(true)
    };
    let caption = move || {
        with_figures(report, |f| {
            format!(
                "Every model at FP32, FP16, INT8, INT4 and binary, on a log scale; {} highlighted, \
                 its {} size written at each bar. Quantized sizes include one FP16 scale per row and \
                 FP16 biases and norms, which is why binary is about 31×, not 32×, smaller.",
                f.model_label,
                f.precision.label()
            )
        })
    };
    view! {
        <h2>"Model Size Comparison"</h2>
        <CanvasChart
            testid="model-size-chart"
            width=720
            height=820
            aria_label="Model sizes at every precision, log scale"
            what="Cannot draw the model-size chart"
            draw=draw
            export=Export::new(
                move || with_figures(report, |f| file_stem("model-size", &[("model", f.model.clone()), ("precision", f.precision.label().to_string())])),
                move || {
                    let (rows, precision) = untrack(|| with_figures(report, |f| (chart_rows(f), f.precision)))
                        .ok_or("nothing is drawn yet")?;
                    svg_string((720, 820), |root| draw_model_sizes(root, &rows, precision).map_err(|e| e.to_string()))
                        .map(|(svg, ())| svg)
                },
                move || {
                    let rows = untrack(|| with_figures(report, chart_rows)).ok_or("nothing is drawn yet")?;
                    Ok(sizes_csv(&rows))
                },
            )
        />
        <p class="caption">{caption}</p>
    }
}

/// The chart's data: bytes per model at each precision.
fn sizes_csv(rows: &[SizeRow]) -> String {
    let header: Vec<String> = std::iter::once("model".to_string())
        .chain(
            crate::compress::size::Precision::ALL
                .iter()
                .map(|p| format!("{}_bytes", p.label())),
        )
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    csv_table(
        &header,
        rows.iter().map(|r| {
            std::iter::once(r.label.clone())
                .chain(r.bytes.iter().map(u64::to_string))
                .collect()
        }),
    )
}

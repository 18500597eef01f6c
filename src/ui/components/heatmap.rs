//! A heatmap card for any pooled matrix — the attention weights (n × n) or
//! a weight matrix's quantization error (rows × cols): plotters draws the
//! axes and the colour bar on a canvas, the cells are blitted as one
//! `ImageData`, and a toggle switches the colour scale between linear and
//! log.

use leptos::prelude::*;
use web_sys::HtmlCanvasElement;

use super::canvas_chart::{CanvasChart, Export, blit, plot_area};
use crate::chart::export::grid_csv;
use crate::chart::heatmap::{
    ColourScale, Grid, HeatmapOptions, attention_grid, draw_grid, factor_grid, grid_svg, rgba_grid,
};
use crate::data::maps::{AttentionMap, FactorMap};
use crate::format;

/// What a heatmap card draws.
#[derive(Debug, Clone, PartialEq)]
pub enum Pooled {
    /// Pooled attention weights (queries down, keys across).
    Attention(AttentionMap),
    /// Any pooled matrix, with its own axis labels.
    Matrix(FactorMap),
}

impl Pooled {
    /// The matrix as the heatmap draws it.
    pub fn grid(&self) -> Grid<'_> {
        match self {
            Pooled::Attention(m) => attention_grid(m),
            Pooled::Matrix(m) => factor_grid(m),
        }
    }
}

impl From<AttentionMap> for Pooled {
    fn from(m: AttentionMap) -> Pooled {
        Pooled::Attention(m)
    }
}

impl From<FactorMap> for Pooled {
    fn from(m: FactorMap) -> Pooled {
        Pooled::Matrix(m)
    }
}

fn paint(
    canvas: &HtmlCanvasElement,
    map: &Pooled,
    title: String,
    scale: ColourScale,
) -> Result<(), String> {
    let options = HeatmapOptions {
        title,
        scale,
        paint_cells: false,
    };
    let grid = map.grid();
    let rect = draw_grid(&plot_area(canvas)?, &grid, &options).map_err(|e| e.to_string())?;
    blit(
        canvas,
        rect,
        &rgba_grid(&grid, scale, rect.width, rect.height),
    )
}

/// The canvas's size.
const SIZE: (u32, u32) = (640, 540);

/// The linear / log toggle: two buttons, the one in force `aria-pressed`
/// (and marked by its border as well as its colour, so that it shows in
/// forced-colours mode).
#[component]
pub fn ScaleToggle(
    scale: ReadSignal<ColourScale>,
    set_scale: WriteSignal<ColourScale>,
    /// Prefix of the buttons' test ids (`scale-linear`, `<prefix>-scale-log`).
    prefix: &'static str,
) -> impl IntoView {
    let button = move |which: ColourScale, testid: &'static str, label: &'static str| {
        let testid = if prefix.is_empty() {
            testid.to_string()
        } else {
            format!("{prefix}-{testid}")
        };
        view! {
            <button
                type="button"
                data-testid=testid
                class:active=move || scale.get() == which
                aria-pressed=move || (scale.get() == which).to_string()
                on:click=move |_| set_scale.set(which)
            >
                {label}
            </button>
        }
    };
    view! {
        <div class="toggle" role="group" aria-label="Colour scale">
            {button(ColourScale::Linear, "scale-linear", "linear")}
            {button(ColourScale::Log, "scale-log", "log")}
        </div>
    }
}

/// A row of the text alternative's table: its label and its cells.
type TableRow = (String, Vec<String>);

/// Rows and columns of the text alternative's table at most.
const TABLE_CELLS: usize = 8;

/// The text alternative of a pooled matrix: a sentence (its size, the
/// range of values, where the largest cell is and how much of the total
/// lies on the diagonal band) and the matrix pooled again to at most
/// [`TABLE_CELLS`]² block means.
fn summary(grid: &Grid<'_>) -> (String, Vec<String>, Vec<TableRow>) {
    let values = grid.values;
    let (mut best, mut at) = (f32::MIN, 0);
    let mut total = 0f64;
    for (i, &v) in values.iter().enumerate() {
        if v > best {
            (best, at) = (v, i);
        }
        total += f64::from(v.max(0.0));
    }
    let (a, b) = (at / grid.col_cells.max(1), at % grid.col_cells.max(1));
    let min = values.iter().copied().fold(f32::INFINITY, f32::min);
    let square = grid.row_cells == grid.col_cells;
    let diagonal = if square && total > 0.0 {
        let on: f64 = (0..grid.row_cells)
            .map(|k| f64::from(values[k * grid.col_cells + k].max(0.0)))
            .sum();
        format!(
            " {}% of the total lies in the diagonal cells.",
            format::num(100.0 * on / total)
        )
    } else {
        String::new()
    };
    let sentence = format!(
        "{} × {} ({} × {} cells of {} × {}). Values from {} to {}; the largest at {} {}, {} {}.{diagonal}",
        grid.rows,
        grid.cols,
        grid.row_cells,
        grid.col_cells,
        grid.row_factor,
        grid.col_factor,
        format::num(f64::from(min)),
        format::num(f64::from(best)),
        grid.y_label,
        a * grid.row_factor,
        grid.x_label,
        b * grid.col_factor,
    );
    let (rt, ct) = (
        grid.row_cells.clamp(1, TABLE_CELLS),
        grid.col_cells.clamp(1, TABLE_CELLS),
    );
    let span = |k: usize, t: usize, cells: usize| {
        (k * cells / t, ((k + 1) * cells / t).max(k * cells / t + 1))
    };
    let header = (0..ct)
        .map(|c| {
            let (b0, b1) = span(c, ct, grid.col_cells);
            format!(
                "{}–{}",
                b0 * grid.col_factor,
                (b1 * grid.col_factor).min(grid.cols) - 1
            )
        })
        .collect();
    let rows = (0..rt)
        .map(|r| {
            let (a0, a1) = span(r, rt, grid.row_cells);
            let label = format!(
                "{}–{}",
                a0 * grid.row_factor,
                (a1 * grid.row_factor).min(grid.rows) - 1
            );
            let cells = (0..ct)
                .map(|c| {
                    let (b0, b1) = span(c, ct, grid.col_cells);
                    let mut sum = 0f64;
                    for a in a0..a1 {
                        for b in b0..b1 {
                            sum += f64::from(values[a * grid.col_cells + b]);
                        }
                    }
                    format::num(sum / ((a1 - a0) * (b1 - b0)) as f64)
                })
                .collect();
            (label, cells)
        })
        .collect();
    (sentence, header, rows)
}

/// Whether the `<details>` that fired `ev` (a `toggle`) is open.
pub fn details_open(ev: &leptos::ev::Event) -> bool {
    use wasm_bindgen::JsCast;
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|e| e.has_attribute("open"))
}

/// The numbers behind a heatmap, in a `<details>`: the summary and the
/// table of block means (the CSV export has every cell).
#[component]
pub fn GridNumbers(
    #[prop(into)] map: Signal<Option<Pooled>>,
    testid: &'static str,
) -> impl IntoView {
    // Computed only while open: a run's redraw does not pay for it.
    let (open, set_open) = signal(false);
    let data = Memo::new(move |_| {
        if !open.get() {
            return None;
        }
        map.with(|m| m.as_ref().map(|m| summary(&m.grid())))
    });
    view! {
        <details
            class="numbers"
            data-testid=format!("{testid}-numbers")
            on:toggle=move |ev| set_open.set(details_open(&ev))
        >
            <summary>"The numbers drawn"</summary>
            {move || {
                data.get()
                    .map(|(sentence, header, rows)| {
                        view! {
                            <p>{sentence}</p>
                            <div class="table-scroll" tabindex="0" role="region" aria-label="Block means">
                                <table class="numbers-table">
                                    <caption>"Block means (rows: first axis; columns: second axis)"</caption>
                                    <thead>
                                        <tr>
                                            <th scope="col">"range"</th>
                                            {header.into_iter().map(|h| view! { <th scope="col">{h}</th> }).collect_view()}
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {rows
                                            .into_iter()
                                            .map(|(label, cells)| {
                                                view! {
                                                    <tr>
                                                        <th scope="row">{label}</th>
                                                        {cells.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }
                    })
            }}
        </details>
    }
}

/// The exports of a pooled matrix drawn under `title` on the `scale`
/// chosen: the SVG of the same drawing, the cells as CSV.
pub fn grid_export(
    map: Signal<Option<Pooled>>,
    title: Signal<String>,
    scale: ReadSignal<ColourScale>,
    stem: Signal<String>,
) -> Export {
    Export::new(
        move || map.with(Option::is_some).then(|| stem.get()),
        move || {
            let (title, scale) = (title.get_untracked(), scale.get_untracked());
            map.with_untracked(|m| {
                let m = m.as_ref().ok_or("nothing is drawn yet")?;
                let options = HeatmapOptions {
                    title,
                    scale,
                    paint_cells: false,
                };
                grid_svg(&m.grid(), &options, SIZE)
            })
        },
        move || {
            map.with_untracked(|m| {
                m.as_ref()
                    .map(|m| grid_csv(&m.grid()))
                    .ok_or_else(|| "nothing is drawn yet".to_string())
            })
        },
    )
}

/// The heatmap card: `map` drawn under `title`, with `caption` below, its
/// exports (files named `stem`) and the numbers drawn.
#[component]
pub fn Heatmap(
    #[prop(into)] map: Signal<Option<Pooled>>,
    #[prop(into)] title: Signal<String>,
    #[prop(into)] caption: Signal<String>,
    /// The export files' name without extension, after the settings.
    #[prop(into)]
    stem: Signal<String>,
    /// The card's heading.
    #[prop(default = "Attention weights")]
    heading: &'static str,
    /// The canvas's test id (the scale buttons' prefix when not `heatmap`).
    #[prop(default = "heatmap")]
    testid: &'static str,
    /// What the canvas shows, for screen readers.
    #[prop(default = "Heatmap of the attention matrix")]
    aria_label: &'static str,
) -> impl IntoView {
    let prefix = if testid == "heatmap" { "" } else { testid };
    let (scale, set_scale) = signal(ColourScale::Linear);
    let draw = move |canvas: &HtmlCanvasElement| {
        let (title, scale) = (title.get(), scale.get());
        map.with(|map| match map {
            Some(map) => paint(canvas, map, title, scale).map(|()| true),
            None => Ok(false),
        })
    };
    let label = Signal::derive(move || {
        let scale = match scale.get() {
            ColourScale::Linear => "linear",
            ColourScale::Log => "logarithmic",
        };
        format!("{aria_label}: {}, {scale} colour scale", title.get())
    });
    view! {
        <div class="heatmap">
            <div class="card-head">
                <h2>{heading}</h2>
                <ScaleToggle scale=scale set_scale=set_scale prefix=prefix/>
            </div>
            <CanvasChart
                testid=testid
                width=SIZE.0
                height=SIZE.1
                aria_label=label
                what="Cannot draw the heatmap"
                draw=draw
                export=grid_export(map, title, scale, stem)
            />
            <p class="caption">{move || caption.get()}</p>
            <GridNumbers map=map testid=testid/>
        </div>
    }
}

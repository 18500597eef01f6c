//! A heatmap card for any pooled matrix — the attention weights (n × n) or
//! a weight matrix's quantization error (rows × cols): plotters draws the
//! axes and the colour bar on a canvas, the cells are blitted as one
//! `ImageData`, and a toggle switches the colour scale between linear and
//! log.

use leptos::prelude::*;
use web_sys::HtmlCanvasElement;

use super::canvas_chart::{CanvasChart, blit, plot_area};
use crate::chart::heatmap::{
    ColourScale, Grid, HeatmapOptions, attention_grid, draw_grid, factor_grid, rgba_grid,
};
use crate::data::maps::{AttentionMap, FactorMap};

/// What a heatmap card draws.
#[derive(Debug, Clone, PartialEq)]
pub enum Pooled {
    /// Pooled attention weights (queries down, keys across).
    Attention(AttentionMap),
    /// Any pooled matrix, with its own axis labels.
    Matrix(FactorMap),
}

impl Pooled {
    fn grid(&self) -> Grid<'_> {
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

/// The linear / log toggle.
#[component]
fn ScaleToggle(
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
                data-testid=testid
                class:active=move || scale.get() == which
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

/// The heatmap card: `map` drawn under `title`, with `caption` below.
#[component]
pub fn Heatmap(
    #[prop(into)] map: Signal<Option<Pooled>>,
    #[prop(into)] title: Signal<String>,
    #[prop(into)] caption: Signal<String>,
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
    view! {
        <div class="heatmap">
            <div class="card-head">
                <h2>{heading}</h2>
                <ScaleToggle scale=scale set_scale=set_scale prefix=prefix/>
            </div>
            <CanvasChart
                testid=testid
                width=640
                height=540
                aria_label=aria_label
                what="Cannot draw the heatmap"
                draw=draw
            />
            <p class="caption">{move || caption.get()}</p>
        </div>
    }
}

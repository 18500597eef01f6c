//! A heatmap card for any pooled n × n map: plotters draws the axes and the
//! colour bar on a canvas, the cells are blitted as one `ImageData`, and a
//! toggle switches the colour scale between linear and log.

use leptos::prelude::*;
use web_sys::HtmlCanvasElement;

use super::canvas_chart::{CanvasChart, blit, plot_area};
use crate::chart::heatmap::{ColourScale, HeatmapOptions, draw_heatmap, rgba};
use crate::data::maps::AttentionMap;

fn paint(
    canvas: &HtmlCanvasElement,
    map: &AttentionMap,
    title: String,
    scale: ColourScale,
) -> Result<(), String> {
    let options = HeatmapOptions {
        title,
        scale,
        paint_cells: false,
    };
    let rect = draw_heatmap(&plot_area(canvas)?, map, &options).map_err(|e| e.to_string())?;
    blit(canvas, rect, &rgba(map, scale, rect.width, rect.height))
}

/// The linear / log toggle.
#[component]
fn ScaleToggle(
    scale: ReadSignal<ColourScale>,
    set_scale: WriteSignal<ColourScale>,
) -> impl IntoView {
    let button = move |which: ColourScale, testid: &'static str, label: &'static str| {
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
    #[prop(into)] map: Signal<Option<AttentionMap>>,
    #[prop(into)] title: Signal<String>,
    #[prop(into)] caption: Signal<String>,
    /// The card's heading.
    #[prop(default = "Attention weights")]
    heading: &'static str,
) -> impl IntoView {
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
                <ScaleToggle scale=scale set_scale=set_scale/>
            </div>
            <CanvasChart
                testid="heatmap"
                width=640
                height=540
                aria_label="Heatmap of the attention matrix"
                what="Cannot draw the heatmap"
                draw=draw
            />
            <p class="caption">{move || caption.get()}</p>
        </div>
    }
}

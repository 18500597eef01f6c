//! The pattern card: which pairs a method computes and why (pooled at large
//! n), or the factor a low-rank or kernel method computes instead; and
//! Reformer-style bucket strips when there are buckets. Plain data in.

use leptos::prelude::*;
use web_sys::HtmlCanvasElement;

use super::canvas_chart::{CanvasChart, blit, plot_area};
use crate::chart::heatmap::{ColourScale, HeatmapOptions, draw_grid, factor_grid, rgba_grid};
use crate::chart::pattern::{draw_buckets, draw_pattern, rgba};
use crate::data::maps::{FactorMap, LshView, PatternMap};

fn paint_factor(canvas: &HtmlCanvasElement, factor: &FactorMap) -> Result<(), String> {
    let grid = factor_grid(factor);
    let options = HeatmapOptions {
        title: factor.title.clone(),
        scale: ColourScale::Linear,
        paint_cells: false,
    };
    let rect = draw_grid(&plot_area(canvas)?, &grid, &options).map_err(|e| e.to_string())?;
    blit(
        canvas,
        rect,
        &rgba_grid(&grid, ColourScale::Linear, rect.width, rect.height),
    )
}

fn paint_pattern(
    canvas: &HtmlCanvasElement,
    pattern: &PatternMap,
    title: &str,
) -> Result<(), String> {
    let rect =
        draw_pattern(&plot_area(canvas)?, pattern, title, false).map_err(|e| e.to_string())?;
    blit(canvas, rect, &rgba(pattern, rect.width, rect.height))
}

fn paint_buckets(canvas: &HtmlCanvasElement, buckets: &LshView) -> Result<(), String> {
    draw_buckets(&plot_area(canvas)?, buckets).map_err(|e| e.to_string())
}

/// The pattern card: `factor` when there is one (the method never forms the
/// n × n matrix), otherwise `pattern` under `title`; `buckets` as strips
/// below when present.
#[component]
pub fn PatternView(
    #[prop(into)] pattern: Signal<Option<PatternMap>>,
    #[prop(into)] factor: Signal<Option<FactorMap>>,
    #[prop(into)] buckets: Signal<Option<LshView>>,
    #[prop(into)] title: Signal<String>,
    #[prop(into)] caption: Signal<String>,
) -> impl IntoView {
    let has_factor = move || factor.with(Option::is_some);
    let draw = move |canvas: &HtmlCanvasElement| {
        if let Some(done) = factor.with(|f| f.as_ref().map(|f| paint_factor(canvas, f))) {
            return done.map(|()| true);
        }
        let title = title.get();
        pattern.with(|p| match p {
            Some(p) => paint_pattern(canvas, p, &title).map(|()| true),
            None => Ok(false),
        })
    };
    let draw_strips = move |canvas: &HtmlCanvasElement| {
        buckets.with(|b| match b {
            Some(b) => paint_buckets(canvas, b).map(|()| true),
            None => Ok(false),
        })
    };
    view! {
        <div class="pattern">
            <div class="card-head">
                <h2>
                    {move || {
                        if has_factor() {
                            "The factor it computes"
                        } else {
                            "What the method computes"
                        }
                    }}
                </h2>
            </div>
            <CanvasChart
                testid="pattern"
                width=640
                height=540
                aria_label="Which query–key pairs the method computes, coloured by reason"
                what="Cannot draw the pattern"
                draw=draw
            />
            <p class="caption">{move || caption.get()}</p>
            <CanvasChart
                testid="lsh-buckets"
                width=640
                height=150
                aria_label="Reformer's LSH buckets in original and sorted order"
                what="Cannot draw the buckets"
                draw=draw_strips
                hidden=Signal::derive(move || buckets.with(Option::is_none))
            />
        </div>
    }
}

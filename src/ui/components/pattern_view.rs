//! The pattern view beside the weights: which pairs the method computes and
//! why (pooled on the GPU at large n), and for Reformer the bucket strips.

use std::sync::Arc;

use leptos::html::Canvas;
use leptos::prelude::*;
use plotters::prelude::IntoDrawingArea;
use plotters_canvas::CanvasBackend;
use wasm_bindgen::{Clamped, JsCast};

use crate::chart::heatmap::{ColourScale, HeatmapOptions, draw_grid, factor_grid, rgba_grid};
use crate::chart::pattern::{draw_buckets, draw_pattern, rgba};
use crate::run::RunOutput;

fn context(
    canvas: &web_sys::HtmlCanvasElement,
) -> Result<web_sys::CanvasRenderingContext2d, String> {
    canvas
        .get_context("2d")
        .map_err(|e| format!("{e:?}"))?
        .ok_or("no 2-D context")?
        .dyn_into()
        .map_err(|_| "not a 2-D context".to_string())
}

fn draw(canvas: &web_sys::HtmlCanvasElement, out: &RunOutput) -> Result<(), String> {
    let backend =
        CanvasBackend::with_canvas_object(canvas.clone()).ok_or("the canvas has no 2-D context")?;
    let root = backend.into_drawing_area();
    let (rect, pixels) = match &out.factor {
        // Low-rank and kernel methods: the factor they compute instead of a pattern.
        Some(factor) => {
            let grid = factor_grid(factor);
            let options = HeatmapOptions {
                title: factor.title.clone(),
                scale: ColourScale::Linear,
                paint_cells: false,
            };
            let rect = draw_grid(&root, &grid, &options).map_err(|e| e.to_string())?;
            (
                rect,
                rgba_grid(&grid, ColourScale::Linear, rect.width, rect.height),
            )
        }
        None => {
            let title = format!("Pattern — {}", out.measurement.method_label);
            let rect =
                draw_pattern(&root, &out.pattern, &title, false).map_err(|e| e.to_string())?;
            (rect, rgba(&out.pattern, rect.width, rect.height))
        }
    };
    if rect.width == 0 || rect.height == 0 {
        return Err("the canvas is too small".into());
    }
    let image = web_sys::ImageData::new_with_u8_clamped_array_and_sh(
        Clamped(&pixels),
        rect.width,
        rect.height,
    )
    .map_err(|e| format!("{e:?}"))?;
    context(canvas)?
        .put_image_data(&image, rect.x as f64, rect.y as f64)
        .map_err(|e| format!("{e:?}"))
}

fn draw_strips(canvas: &web_sys::HtmlCanvasElement, out: &RunOutput) -> Result<(), String> {
    let Some(view) = &out.lsh else { return Ok(()) };
    let backend =
        CanvasBackend::with_canvas_object(canvas.clone()).ok_or("the canvas has no 2-D context")?;
    draw_buckets(&backend.into_drawing_area(), view).map_err(|e| e.to_string())
}

/// The pattern card (and the Reformer bucket strips).
#[component]
pub fn PatternView(result: ReadSignal<Option<Arc<RunOutput>>>) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let strips = NodeRef::<Canvas>::new();
    let (painted, set_painted) = signal(false);
    let (error, set_error) = signal(None::<String>);
    let has_lsh = move || result.get().is_some_and(|o| o.lsh.is_some());

    Effect::new(move |_| {
        let out = result.get();
        let Some(element) = canvas.get() else { return };
        match out {
            Some(out) => {
                let drawn = draw(&element, &out).and_then(|()| match strips.get() {
                    Some(s) => draw_strips(&s, &out),
                    None => Ok(()),
                });
                set_painted.set(drawn.is_ok());
                set_error.set(drawn.err().map(|e| format!("Cannot draw the pattern: {e}")));
            }
            None => set_painted.set(false),
        }
    });

    let caption = move || {
        result
            .get()
            .map(|o| {
                let m = &o.measurement;
                if let Some(f) = &o.factor {
                    return format!(
                        "A {} × {} factor: the method never forms the n × n matrix; the weights on the left are the matrix it implies.",
                        f.rows, f.cols
                    );
                }
                let pooled = if o.pattern.factor > 1 {
                    format!(
                        " Each cell pools {0}×{0} pairs; paler cells compute fewer of them.",
                        o.pattern.factor
                    )
                } else {
                    String::new()
                };
                format!(
                    "{} of the {} pairs are computed ({:.2}% density).{pooled}",
                    crate::format::int(m.pattern_pairs),
                    crate::format::int((m.n as u64).pow(2)),
                    m.density * 100.0
                )
            })
            .unwrap_or_default()
    };

    view! {
        <div class="pattern">
            <div class="card-head">
                <h2>
                    {move || {
                        if result.get().is_some_and(|o| o.factor.is_some()) {
                            "The factor it computes"
                        } else {
                            "What the method computes"
                        }
                    }}
                </h2>
            </div>
            <canvas
                node_ref=canvas
                width="640"
                height="540"
                data-testid="pattern"
                data-painted=move || painted.get().to_string()
                aria-label="Which query–key pairs the method computes, coloured by reason"
            ></canvas>
            <p class="caption">{caption}</p>
            <canvas
                node_ref=strips
                width="640"
                height="150"
                data-testid="lsh-buckets"
                class:hidden=move || !has_lsh()
                aria-label="Reformer's LSH buckets in original and sorted order"
            ></canvas>
            {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        </div>
    }
}

//! The attention heatmap on a canvas: plotters draws axes and colour bar
//! (plotters-canvas), the cells are blitted as one `ImageData` (512² cells as
//! rectangles would be slow).

use std::sync::Arc;

use leptos::html::Canvas;
use leptos::prelude::*;
use plotters::prelude::IntoDrawingArea;
use plotters_canvas::CanvasBackend;
use wasm_bindgen::{Clamped, JsCast};

use crate::chart::heatmap::{ColourScale, HeatmapOptions, draw_heatmap, rgba};
use crate::run::RunOutput;

fn draw(
    canvas: &web_sys::HtmlCanvasElement,
    out: &RunOutput,
    scale: ColourScale,
) -> Result<(), String> {
    let backend =
        CanvasBackend::with_canvas_object(canvas.clone()).ok_or("the canvas has no 2-D context")?;
    let root = backend.into_drawing_area();
    let m = &out.measurement;
    let title = format!(
        "{} — n = {}{}",
        m.method_label,
        m.n,
        if m.causal { ", causal" } else { "" }
    );
    let options = HeatmapOptions {
        title,
        scale,
        paint_cells: false,
    };
    let rect = draw_heatmap(&root, &out.map, &options).map_err(|e| e.to_string())?;
    if rect.width == 0 || rect.height == 0 {
        return Err("the canvas is too small".into());
    }
    let pixels = rgba(&out.map, scale, rect.width, rect.height);
    let context: web_sys::CanvasRenderingContext2d = canvas
        .get_context("2d")
        .map_err(|e| format!("{e:?}"))?
        .ok_or("no 2-D context")?
        .dyn_into()
        .map_err(|_| "not a 2-D context")?;
    let image = web_sys::ImageData::new_with_u8_clamped_array_and_sh(
        Clamped(&pixels),
        rect.width,
        rect.height,
    )
    .map_err(|e| format!("{e:?}"))?;
    context
        .put_image_data(&image, rect.x as f64, rect.y as f64)
        .map_err(|e| format!("{e:?}"))
}

fn caption(out: &RunOutput) -> String {
    let map = &out.map;
    let m = &out.measurement;
    let source = if m.backend == "gpu" {
        "on the GPU"
    } else {
        "by the CPU twin"
    };
    if out.factor.is_some() {
        let pooled = if map.factor > 1 {
            format!(
                ", pooled to {0}×{0} cells of {1}×{1} pairs",
                map.cells, map.factor
            )
        } else {
            String::new()
        };
        return format!(
            "The attention matrix the method implies (its factors multiplied out{pooled}), {source}; negative entries show as 0."
        );
    }
    if map.factor == 1 {
        format!(
            "Every weight Pᵢⱼ of the {0}×{0} attention matrix, computed {source}.",
            map.n
        )
    } else {
        format!(
            "Pooled {source}: each of the {0}×{0} cells is the mean weight over {1}×{1} (query, key) pairs; \
             the {2}×{2} matrix is never read back.",
            map.cells, map.factor, map.n
        )
    }
}

/// The heatmap card.
#[component]
pub fn Heatmap(result: ReadSignal<Option<Arc<RunOutput>>>) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let (scale, set_scale) = signal(ColourScale::Linear);
    let (painted, set_painted) = signal(false);
    let (error, set_error) = signal(None::<String>);

    Effect::new(move |_| {
        let out = result.get();
        let scale = scale.get();
        let Some(element) = canvas.get() else { return };
        match out {
            Some(out) => match draw(&element, &out, scale) {
                Ok(()) => {
                    set_painted.set(true);
                    set_error.set(None);
                }
                Err(e) => {
                    set_painted.set(false);
                    set_error.set(Some(format!("Cannot draw the heatmap: {e}")));
                }
            },
            None => set_painted.set(false),
        }
    });

    view! {
        <div class="heatmap">
            <div class="card-head">
                <h2>"Attention weights"</h2>
                <div class="toggle" role="group" aria-label="Colour scale">
                    <button
                        data-testid="scale-linear"
                        class:active=move || scale.get() == ColourScale::Linear
                        on:click=move |_| set_scale.set(ColourScale::Linear)
                    >
                        "linear"
                    </button>
                    <button
                        data-testid="scale-log"
                        class:active=move || scale.get() == ColourScale::Log
                        on:click=move |_| set_scale.set(ColourScale::Log)
                    >
                        "log"
                    </button>
                </div>
            </div>
            <canvas
                node_ref=canvas
                width="640"
                height="540"
                data-testid="heatmap"
                data-painted=move || painted.get().to_string()
                aria-label="Heatmap of the attention matrix"
            ></canvas>
            <p class="caption">{move || result.get().map(|o| caption(&o)).unwrap_or_default()}</p>
            {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        </div>
    }
}

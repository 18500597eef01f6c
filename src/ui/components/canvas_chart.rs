//! A canvas that redraws itself: the one place a chart meets the DOM. The
//! caller's `draw` reads its signals (so the chart redraws when they
//! change), draws with plotters on [`plot_area`] and may blit cells as one
//! `ImageData` with [`blit`] (512² cells as rectangles would be slow). The
//! canvas says whether it is painted (`data-painted`), and a failure is
//! shown under it.

use leptos::html::Canvas;
use leptos::prelude::*;
use plotters::coord::Shift;
use plotters::prelude::{DrawingArea, IntoDrawingArea};
use plotters_canvas::CanvasBackend;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::HtmlCanvasElement;

use crate::chart::heatmap::PlotRect;

/// A plotters drawing area on a canvas.
pub type CanvasArea = DrawingArea<CanvasBackend, Shift>;

/// The whole canvas as a plotters drawing area.
pub fn plot_area(canvas: &HtmlCanvasElement) -> Result<CanvasArea, String> {
    CanvasBackend::with_canvas_object(canvas.clone())
        .map(IntoDrawingArea::into_drawing_area)
        .ok_or_else(|| "the canvas has no 2-D context".to_string())
}

/// Puts `pixels` (RGBA, `rect.width × rect.height`) at `rect`.
pub fn blit(canvas: &HtmlCanvasElement, rect: PlotRect, pixels: &[u8]) -> Result<(), String> {
    if rect.width == 0 || rect.height == 0 {
        return Err("the canvas is too small".into());
    }
    let context: web_sys::CanvasRenderingContext2d = canvas
        .get_context("2d")
        .map_err(|e| format!("{e:?}"))?
        .ok_or("no 2-D context")?
        .dyn_into()
        .map_err(|_| "not a 2-D context")?;
    let image = web_sys::ImageData::new_with_u8_clamped_array_and_sh(
        Clamped(pixels),
        rect.width,
        rect.height,
    )
    .map_err(|e| format!("{e:?}"))?;
    context
        .put_image_data(&image, rect.x as f64, rect.y as f64)
        .map_err(|e| format!("{e:?}"))
}

/// A canvas of `width × height` pixels drawn by `draw`, which returns
/// whether it painted anything (`Ok(false)`: no data yet) or why it could
/// not. `what` starts the error message ("Cannot draw the heatmap").
#[component]
pub fn CanvasChart<F>(
    testid: &'static str,
    width: u32,
    height: u32,
    aria_label: &'static str,
    what: &'static str,
    draw: F,
    /// Hides the canvas (`class="hidden"`) while true.
    #[prop(optional, into)]
    hidden: Signal<bool>,
) -> impl IntoView
where
    F: Fn(&HtmlCanvasElement) -> Result<bool, String> + 'static,
{
    let canvas = NodeRef::<Canvas>::new();
    let (painted, set_painted) = signal(false);
    let (error, set_error) = signal(None::<String>);
    Effect::new(move |_| {
        let Some(element) = canvas.get() else { return };
        let drawn = draw(&element);
        set_painted.set(drawn == Ok(true));
        set_error.set(drawn.err().map(|e| format!("{what}: {e}")));
    });
    view! {
        <canvas
            node_ref=canvas
            width=width.to_string()
            height=height.to_string()
            data-testid=testid
            data-painted=move || painted.get().to_string()
            class:hidden=move || hidden.get()
            aria-label=aria_label
        ></canvas>
        {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
    }
}

//! A canvas that redraws itself: the one place a chart meets the DOM. The
//! caller's `draw` reads its signals (so the chart redraws when they
//! change), draws with plotters on [`plot_area`] and may blit cells as one
//! image with [`blit`] (512² cells as rectangles would be slow). The
//! canvas says whether it is painted (`data-painted`), and a failure is
//! shown under it.
//!
//! The chart draws in the page's theme ([`super::theme_toggle::theme`])
//! and, when the canvas is shown narrower than its pixel width (a phone),
//! with its text scaled up by the ratio so that it stays readable.
//!
//! With an [`Export`], the chart gets three buttons (`export-svg`,
//! `export-png`, `export-csv`): the SVG of the same plotters drawing
//! through its SVG backend, a PNG of the canvas drawing at twice its
//! resolution (the same `draw` on an offscreen canvas under a 2× transform),
//! and the data drawn as CSV; the files are named after the settings.
//! Exports are drawn in the light palette at the designed text size.

use std::rc::Rc;

use leptos::html::Canvas;
use leptos::prelude::*;
use plotters::coord::Shift;
use plotters::prelude::{DrawingArea, IntoDrawingArea};
use plotters_canvas::CanvasBackend;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::HtmlCanvasElement;

use super::theme_toggle::{theme, viewport_width};
use crate::chart::heatmap::PlotRect;
use crate::chart::style::{Style, scoped};
use crate::ui::browser::download;

/// A plotters drawing area on a canvas.
pub type CanvasArea = DrawingArea<CanvasBackend, Shift>;

/// Resolution factor of the PNG export.
pub const PNG_SCALE: u32 = 2;

/// A window at least this wide (CSS pixels) shows charts near their pixel
/// width: their text is drawn at the designed size.
const WIDE_WINDOW: i32 = 1000;

/// The largest text scale on a narrow screen.
const MAX_TEXT_SCALE: f64 = 1.75;

fn context_2d(canvas: &HtmlCanvasElement) -> Result<web_sys::CanvasRenderingContext2d, String> {
    canvas
        .get_context("2d")
        .map_err(|e| format!("{e:?}"))?
        .ok_or("no 2-D context")?
        .dyn_into()
        .map_err(|_| "not a 2-D context".to_string())
}

/// The factor an export canvas is drawn at (`data-scale`; 1 on the page).
fn scale_of(canvas: &HtmlCanvasElement) -> u32 {
    canvas
        .get_attribute("data-scale")
        .and_then(|s| s.parse().ok())
        .filter(|&s| s >= 1)
        .unwrap_or(1)
}

/// The whole canvas as a plotters drawing area (on an export canvas drawn
/// at a factor s, the top-left 1/s of it under an s× transform: the same
/// drawing, s times finer).
pub fn plot_area(canvas: &HtmlCanvasElement) -> Result<CanvasArea, String> {
    let scale = scale_of(canvas);
    let context = context_2d(canvas)?;
    context
        .set_transform(1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
        .map_err(|e| format!("{e:?}"))?;
    let area = CanvasBackend::with_canvas_object(canvas.clone())
        .map(IntoDrawingArea::into_drawing_area)
        .ok_or_else(|| "the canvas has no 2-D context".to_string())?;
    if scale == 1 {
        return Ok(area);
    }
    let s = f64::from(scale);
    context
        .set_transform(s, 0.0, 0.0, s, 0.0, 0.0)
        .map_err(|e| format!("{e:?}"))?;
    Ok(area.shrink((0, 0), (canvas.width() / scale, canvas.height() / scale)))
}

/// Puts `pixels` (RGBA, `rect.width × rect.height`) at `rect`, through the
/// canvas's transform (unsmoothed, so cells stay sharp at any factor).
pub fn blit(canvas: &HtmlCanvasElement, rect: PlotRect, pixels: &[u8]) -> Result<(), String> {
    if rect.width == 0 || rect.height == 0 {
        return Err("the canvas is too small".into());
    }
    let image = web_sys::ImageData::new_with_u8_clamped_array_and_sh(
        Clamped(pixels),
        rect.width,
        rect.height,
    )
    .map_err(|e| format!("{e:?}"))?;
    let context = context_2d(canvas)?;
    if scale_of(canvas) == 1 {
        return context
            .put_image_data(&image, rect.x as f64, rect.y as f64)
            .map_err(|e| format!("{e:?}"));
    }
    let cells = new_canvas(rect.width, rect.height)?;
    context_2d(&cells)?
        .put_image_data(&image, 0.0, 0.0)
        .map_err(|e| format!("{e:?}"))?;
    context.set_image_smoothing_enabled(false);
    context
        .draw_image_with_html_canvas_element(&cells, rect.x as f64, rect.y as f64)
        .map_err(|e| format!("{e:?}"))
}

/// A canvas outside the document.
fn new_canvas(width: u32, height: u32) -> Result<HtmlCanvasElement, String> {
    let canvas: HtmlCanvasElement = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?
        .create_element("canvas")
        .map_err(|e| format!("{e:?}"))?
        .dyn_into()
        .map_err(|_| "not a canvas")?;
    canvas.set_width(width);
    canvas.set_height(height);
    Ok(canvas)
}

/// Offers a data URL (a PNG) as a download.
pub fn download_url(filename: &str, url: &str) -> Result<(), String> {
    let anchor: web_sys::HtmlAnchorElement = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?
        .create_element("a")
        .map_err(|e| format!("{e:?}"))?
        .dyn_into()
        .map_err(|_| "not an anchor")?;
    anchor.set_href(url);
    anchor.set_download(filename);
    anchor.click();
    Ok(())
}

/// What a chart exports: the files' stem (`None` while nothing is drawn:
/// the buttons are disabled), its SVG and the data drawn as CSV.
#[derive(Clone)]
pub struct Export {
    /// The files' name without extension, after the settings.
    pub stem: Signal<Option<String>>,
    /// The SVG of the chart (the same plotters drawing, SVG backend).
    pub svg: Rc<dyn Fn() -> Result<String, String>>,
    /// The data drawn, as CSV.
    pub csv: Rc<dyn Fn() -> Result<String, String>>,
}

impl Export {
    /// An export from three closures.
    pub fn new(
        stem: impl Fn() -> Option<String> + Send + Sync + 'static,
        svg: impl Fn() -> Result<String, String> + 'static,
        csv: impl Fn() -> Result<String, String> + 'static,
    ) -> Export {
        Export {
            stem: Signal::derive(stem),
            svg: Rc::new(svg),
            csv: Rc::new(csv),
        }
    }
}

/// Which file an export button writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Svg,
    Png,
    Csv,
}

/// The export buttons of one chart (`chart` names it: `data-chart` on the
/// group). `png` draws the chart at [`PNG_SCALE`]× and gives a data URL;
/// without it there is no PNG button (a table).
#[component]
pub fn ExportButtons(
    chart: &'static str,
    export: Export,
    #[prop(optional)] png: Option<Rc<dyn Fn() -> Result<String, String>>>,
    /// Whether there is an SVG (a table has none).
    #[prop(default = true)]
    svg: bool,
) -> impl IntoView {
    let (message, set_message) = signal(None::<Result<String, String>>);
    let stem = export.stem;
    let has_png = png.is_some();
    let actions = StoredValue::new_local((export, png));
    let run = move |kind: Kind| {
        let Some(stem) = stem.get_untracked() else {
            return;
        };
        let result = actions.with_value(|(export, png)| {
            untrack(|| match kind {
                Kind::Svg => (export.svg)().and_then(|svg| {
                    download(&format!("{stem}.svg"), "image/svg+xml", &svg).map(|()| "SVG")
                }),
                Kind::Csv => (export.csv)()
                    .and_then(|csv| download(&format!("{stem}.csv"), "text/csv", &csv))
                    .map(|()| "CSV"),
                Kind::Png => png
                    .as_ref()
                    .ok_or_else(|| "no PNG for this view".to_string())
                    .and_then(|png| png())
                    .and_then(|url| download_url(&format!("{stem}.png"), &url))
                    .map(|()| "PNG"),
            })
        });
        set_message.set(Some(
            result.map(|what| format!("{what} saved: {stem}.{}", what.to_lowercase())),
        ));
    };
    let disabled = move || stem.with(Option::is_none);
    let button = move |kind: Kind, testid: &'static str, label: &'static str| {
        view! {
            <button
                type="button"
                data-testid=testid
                prop:disabled=disabled
                on:click=move |_| run(kind)
            >
                {label}
            </button>
        }
    };
    view! {
        <div class="exports-row" role="group" aria-label="Export" data-chart=chart>
            {svg.then(|| button(Kind::Svg, "export-svg", "SVG"))}
            {has_png.then(|| button(Kind::Png, "export-png", "PNG"))}
            {button(Kind::Csv, "export-csv", "CSV")}
            {move || {
                message
                    .get()
                    .map(|m| match m {
                        Ok(text) => view! { <span class="saved" data-testid="export-saved">{text}</span> }.into_any(),
                        Err(e) => view! { <span class="error" role="alert">{e}</span> }.into_any(),
                    })
            }}
        </div>
    }
}

/// A canvas of `width × height` pixels drawn by `draw`, which returns
/// whether it painted anything (`Ok(false)`: no data yet) or why it could
/// not. `what` starts the error message ("Cannot draw the heatmap").
#[component]
pub fn CanvasChart<F>(
    testid: &'static str,
    width: u32,
    height: u32,
    /// What the chart shows, for screen readers (`role="img"`).
    #[prop(into)]
    aria_label: Signal<String>,
    what: &'static str,
    draw: F,
    /// Hides the canvas (`class="hidden"`) while true.
    #[prop(optional, into)]
    hidden: Signal<bool>,
    /// The chart's exports (SVG, PNG, CSV).
    #[prop(optional)]
    export: Option<Export>,
) -> impl IntoView
where
    F: Fn(&HtmlCanvasElement) -> Result<bool, String> + 'static,
{
    let canvas = NodeRef::<Canvas>::new();
    let (painted, set_painted) = signal(false);
    let (error, set_error) = signal(None::<String>);
    let draw = Rc::new(draw);
    let draw_page = draw.clone();
    let theme = theme();
    let viewport = viewport_width();
    Effect::new(move |_| {
        let Some(element) = canvas.get() else { return };
        // On a wide window the canvas is shown near its pixel width: skip
        // the read of its CSS width, which would force a layout in the
        // middle of a run's redraw.
        let shown = if viewport.get() >= WIDE_WINDOW {
            0.0
        } else {
            f64::from(element.client_width())
        };
        let text_scale = if shown > 0.0 {
            (f64::from(width) / shown).clamp(1.0, MAX_TEXT_SCALE)
        } else {
            1.0
        };
        let style = Style {
            theme: theme.get(),
            text_scale,
        };
        let _ = element.set_attribute("data-text-scale", &format!("{text_scale:.3}"));
        let clock = web_sys::window().and_then(|w| w.performance());
        let started = clock.as_ref().map_or(0.0, web_sys::Performance::now);
        let drawn = scoped(style, || draw_page(&element));
        // How long the drawing took (ms), for the page's performance tests.
        if let Some(clock) = &clock {
            let _ = element.set_attribute("data-draw-ms", &format!("{:.1}", clock.now() - started));
        }
        set_painted.set(drawn == Ok(true));
        set_error.set(drawn.err().map(|e| format!("{what}: {e}")));
    });
    let png = move || -> Result<String, String> {
        let offscreen = new_canvas(width * PNG_SCALE, height * PNG_SCALE)?;
        let _ = offscreen.set_attribute("data-scale", &PNG_SCALE.to_string());
        let drawn = untrack(|| scoped(Style::LIGHT, || draw(&offscreen)))?;
        if !drawn {
            return Err("nothing is drawn yet".into());
        }
        offscreen
            .to_data_url_with_type("image/png")
            .map_err(|e| format!("{e:?}"))
    };
    let png: Rc<dyn Fn() -> Result<String, String>> = Rc::new(png);
    view! {
        <canvas
            node_ref=canvas
            width=width.to_string()
            height=height.to_string()
            data-testid=testid
            data-painted=move || painted.get().to_string()
            class:hidden=move || hidden.get()
            role="img"
            aria-label=move || aria_label.get()
        ></canvas>
        {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        {export.map(|export| {
            view! {
                <div class:hidden=move || hidden.get()>
                    <ExportButtons chart=testid export=export png=png.clone()/>
                </div>
            }
        })}
    }
}

//! The effective-context card (survey §"Memory-based Architectures": the
//! memory gives Transformer-XL a longer effective context): for a memory
//! method, how far back the last token can reach through 1 … 16 stacked
//! layers of the chosen pattern — composed layer by layer
//! ([`crate::attention::effective_context::effective_context`]), not drawn by hand —
//! beside the rule of thumb L·M. Nothing for methods without a memory.

use leptos::prelude::*;
use web_sys::HtmlCanvasElement;

use super::canvas_chart::{CanvasChart, Export, plot_area};
use crate::attention::effective_context::{ContextCurve, effective_context, layout_of};
use crate::chart::context::draw_context;
use crate::chart::export::{csv_table, settings_stem, svg_string};
use crate::settings::Settings;

/// Depths shown.
const LAYERS: usize = 16;

/// One line under the chart: one layer's reach, the deepest, and where it
/// stops growing.
fn readout(curve: &ContextCurve) -> String {
    let (first, last) = (curve.reach[0], *curve.reach.last().unwrap_or(&0));
    let covered = curve
        .reach
        .iter()
        .position(|&r| r >= curve.settings_n)
        .map(|l| {
            format!(
                " A sequence of n = {} is covered from L = {} on.",
                curve.settings_n,
                l + 1
            )
        })
        .unwrap_or_default();
    let compressed = curve
        .without_compression
        .as_ref()
        .and_then(|xl| xl.last())
        .map(|xl| format!(" Transformer-XL with the same S and M: {xl}."))
        .unwrap_or_default();
    let horizon = if curve.n > curve.settings_n {
        format!(
            " (composed on {} positions: n extended by whole segments so that the growth shows)",
            curve.n
        )
    } else {
        String::new()
    };
    format!(
        "One layer: the last token sees {first} positions back. {} layers: {last}{horizon}.{compressed}{covered}",
        curve.layers.len(),
    )
}

/// The card (empty for methods without a memory).
#[component]
pub fn EffectiveContext(settings: Memo<Settings>) -> impl IntoView {
    let curve = Memo::new(move |_| {
        settings
            .with(|s| layout_of(s.method, &s.params, s.n).map(|l| effective_context(&l, LAYERS)))
    });
    let reach = move || {
        curve.with(|c| {
            c.as_ref()
                .map(|c| format!("{:?}", c.reach))
                .unwrap_or_default()
        })
    };
    view! {
        <Show when=move || curve.with(Option::is_some)>
            <section class="card effective-context">
                <div class="card-head">
                    <h2>"Effective context with depth"</h2>
                </div>
                <p class="muted">
                    "A layer's memory holds the previous layer's states of earlier segments, so stacking \
                     layers relays information further back: with L layers a token reaches about L·M \
                     positions (L·(M + c·M_c) with a compressed memory). The curve composes the method's \
                     per-layer pattern at these settings — which positions each position reads — by \
                     breadth-first search from the last token; it steps by whole segments, since a \
                     memory's oldest position belongs to an earlier segment whose queries see their own \
                     memory. Most-attended keeps positions chosen by the data within the same span."
                </p>
                <CanvasChart
                    testid="effective-context"
                    width=640
                    height=360
                    aria_label="Effective context: positions reached back by the last token against the number of layers"
                    what="Cannot draw the effective context"
                    draw=move |canvas: &HtmlCanvasElement| draw(canvas, curve)
                    export=Export::new(
                        move || {
                            curve
                                .with(Option::is_some)
                                .then(|| format!("{}_effective-context", settings.with(settings_stem)))
                        },
                        move || {
                            curve.with_untracked(|c| {
                                let c = c.as_ref().ok_or("no memory at these settings")?;
                                svg_string((640, 360), |root| {
                                    draw_context(root, c).map_err(|e| e.to_string())
                                })
                                .map(|(svg, ())| svg)
                            })
                        },
                        move || {
                            curve.with_untracked(|c| {
                                c.as_ref().map(curve_csv).ok_or_else(|| "no memory at these settings".to_string())
                            })
                        },
                    )
                />
                <details class="numbers" data-testid="effective-context-numbers">
                    <summary>"The numbers drawn"</summary>
                    <div class="table-scroll" tabindex="0" role="region" aria-label="Reach per depth">
                        <table class="numbers-table">
                            <thead>
                                <tr>
                                    <th scope="col">"layers"</th>
                                    <th scope="col">"reach"</th>
                                    <th scope="col">"rule of thumb"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {move || {
                                    curve
                                        .get()
                                        .map(|c| {
                                            (0..c.layers.len())
                                                .map(|k| {
                                                    view! {
                                                        <tr>
                                                            <th scope="row">{c.layers[k]}</th>
                                                            <td>{c.reach[k]}</td>
                                                            <td>{c.rule[k]}</td>
                                                        </tr>
                                                    }
                                                })
                                                .collect_view()
                                        })
                                }}
                            </tbody>
                        </table>
                    </div>
                </details>
                <p class="muted" data-testid="effective-context-readout" data-reach=reach>
                    {move || curve.with(|c| c.as_ref().map(readout).unwrap_or_default())}
                </p>
            </section>
        </Show>
    }
}

/// The curve as CSV: per depth, the reach, the rule of thumb and
/// Transformer-XL's reach beside a compressive memory.
fn curve_csv(c: &ContextCurve) -> String {
    let rows = (0..c.layers.len()).map(|k| {
        vec![
            c.layers[k].to_string(),
            c.reach[k].to_string(),
            c.rule[k].to_string(),
            c.without_compression
                .as_ref()
                .and_then(|xl| xl.get(k))
                .map_or_else(String::new, usize::to_string),
        ]
    });
    csv_table(
        &["layers", "reach", "rule_of_thumb", "transformer_xl_reach"],
        rows,
    )
}

/// Draws the curve, if the method has a memory.
fn draw(canvas: &HtmlCanvasElement, curve: Memo<Option<ContextCurve>>) -> Result<bool, String> {
    curve.with(|c| {
        let Some(c) = c else { return Ok(false) };
        draw_context(&plot_area(canvas)?, c).map_err(|e| e.to_string())?;
        Ok(true)
    })
}

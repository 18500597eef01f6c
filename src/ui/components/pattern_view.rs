//! The pattern card: which pairs a method computes and why (pooled at large
//! n), or the factor a low-rank or kernel method computes instead; and
//! Reformer-style bucket strips when there are buckets. Plain data in.

use leptos::prelude::*;
use web_sys::HtmlCanvasElement;

use super::canvas_chart::{CanvasChart, Export, blit, plot_area};
use super::heatmap::{GridNumbers, Pooled, details_open};
use crate::chart::export::{grid_csv, svg_string};
use crate::chart::heatmap::{
    ColourScale, HeatmapOptions, draw_grid, factor_grid, grid_svg, rgba_grid,
};
use crate::chart::pattern::{
    buckets_csv, draw_buckets, draw_pattern, pattern_csv, pattern_svg, rgba, shares,
};
use crate::data::maps::{FactorMap, LshView, PatternMap};
use crate::format;

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

/// The canvas's size.
const SIZE: (u32, u32) = (640, 540);
/// The bucket strips' size.
const STRIPS: (u32, u32) = (640, 150);

/// The pattern's text alternative: the share of pairs per reason.
fn pattern_summary(p: &PatternMap) -> String {
    let shares = shares(p);
    let total: f64 = shares.iter().map(|s| s.2).sum();
    let parts: Vec<String> = shares
        .into_iter()
        .map(|(_, label, share)| format!("{label} {}%", format::num(100.0 * share)))
        .collect();
    format!(
        "{n} × {n} pairs in {c} × {c} cells; {}% of the pairs computed: {}.",
        format::num(100.0 * total),
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        },
        n = p.n,
        c = p.cells,
    )
}

/// The pattern card: `factor` when there is one (the method never forms the
/// n × n matrix), otherwise `pattern` under `title`; `buckets` as strips
/// below when present. Each with its exports (files named `stem`) and
/// its numbers.
#[component]
pub fn PatternView(
    #[prop(into)] pattern: Signal<Option<PatternMap>>,
    #[prop(into)] factor: Signal<Option<FactorMap>>,
    #[prop(into)] buckets: Signal<Option<LshView>>,
    #[prop(into)] title: Signal<String>,
    #[prop(into)] caption: Signal<String>,
    /// The export files' stem, after the settings.
    #[prop(into)]
    stem: Signal<String>,
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
    let export = Export::new(
        move || {
            let what = if factor.with(Option::is_some) {
                "factor"
            } else if pattern.with(Option::is_some) {
                "pattern"
            } else {
                return None;
            };
            Some(format!("{}_{what}", stem.get()))
        },
        move || {
            if let Some(svg) = factor.with_untracked(|f| {
                f.as_ref().map(|f| {
                    let options = HeatmapOptions {
                        title: f.title.clone(),
                        scale: ColourScale::Linear,
                        paint_cells: false,
                    };
                    grid_svg(&factor_grid(f), &options, SIZE)
                })
            }) {
                return svg;
            }
            let title = title.get_untracked();
            pattern.with_untracked(|p| {
                pattern_svg(p.as_ref().ok_or("nothing is drawn yet")?, &title, SIZE)
            })
        },
        move || {
            if let Some(csv) =
                factor.with_untracked(|f| f.as_ref().map(|f| grid_csv(&factor_grid(f))))
            {
                return Ok(csv);
            }
            pattern.with_untracked(|p| {
                p.as_ref()
                    .map(pattern_csv)
                    .ok_or_else(|| "nothing is drawn yet".to_string())
            })
        },
    );
    let strips_export = Export::new(
        move || {
            buckets
                .with(Option::is_some)
                .then(|| format!("{}_buckets", stem.get()))
        },
        move || {
            buckets.with_untracked(|b| {
                let b = b.as_ref().ok_or("nothing is drawn yet")?;
                svg_string(STRIPS, |root| {
                    draw_buckets(root, b).map_err(|e| e.to_string())
                })
                .map(|(svg, ())| svg)
            })
        },
        move || {
            buckets.with_untracked(|b| {
                b.as_ref()
                    .map(buckets_csv)
                    .ok_or_else(|| "nothing is drawn yet".to_string())
            })
        },
    );
    let label = Signal::derive(move || {
        if has_factor() {
            factor.with(|f| {
                f.as_ref()
                    .map(|f| format!("Heatmap of the factor: {}", f.title))
                    .unwrap_or_default()
            })
        } else {
            format!(
                "Which query–key pairs the method computes, coloured by reason: {}",
                title.get()
            )
        }
    });
    let factor_map = Signal::derive(move || factor.get().map(Pooled::from));
    // The summary is computed only while its <details> is open.
    let (open, set_open) = signal(false);
    let summary = move || {
        open.get()
            .then(|| pattern.with(|p| p.as_ref().map(pattern_summary)))
            .flatten()
    };
    let bucket_summary =
        move || {
            buckets.with(|b| {
                b.as_ref().map(|b| {
                let mut sizes = vec![0usize; b.buckets.max(1) as usize];
                for &k in &b.bucket {
                    if let Some(s) = sizes.get_mut(k as usize) {
                        *s += 1;
                    }
                }
                format!(
                    "{} positions in {} buckets (round 0), chunks of {}; positions per bucket: {}.",
                    b.bucket.len(),
                    b.buckets,
                    b.chunk,
                    sizes.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
                )
            })
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
                width=SIZE.0
                height=SIZE.1
                aria_label=label
                what="Cannot draw the pattern"
                draw=draw
                export=export
            />
            <p class="caption">{move || caption.get()}</p>
            <Show
                when=has_factor
                fallback=move || {
                    view! {
                        <details
                            class="numbers"
                            data-testid="pattern-numbers"
                            on:toggle=move |ev| set_open.set(details_open(&ev))
                        >
                            <summary>"The numbers drawn"</summary>
                            <p>{summary}</p>
                        </details>
                    }
                }
            >
                <GridNumbers map=factor_map testid="pattern"/>
            </Show>
            <CanvasChart
                testid="lsh-buckets"
                width=STRIPS.0
                height=STRIPS.1
                aria_label="Reformer's LSH buckets in original and sorted order"
                what="Cannot draw the buckets"
                draw=draw_strips
                hidden=Signal::derive(move || buckets.with(Option::is_none))
                export=strips_export
            />
            <Show when=move || buckets.with(Option::is_some)>
                <details class="numbers" data-testid="lsh-buckets-numbers">
                    <summary>"The buckets' numbers"</summary>
                    <p>{bucket_summary}</p>
                </details>
            </Show>
        </div>
    }
}

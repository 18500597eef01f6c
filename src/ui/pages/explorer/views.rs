//! What the explorer hands its views: plain data taken out of the last
//! report (maps, pattern, buckets, factor, the JSON) and the attention
//! lab's titles and captions.

use std::sync::Arc;

use leptos::prelude::*;

use crate::chart::export::attention_stem;
use crate::data::maps::{AttentionMap, FactorMap, LshView, PatternMap};
use crate::format;
use crate::pipeline::attention::Measurement;

/// The views' inputs, derived from the last report.
#[derive(Clone, Copy)]
pub struct ViewData {
    /// The pooled attention weights (or the matrix a factored method implies).
    pub weights: Signal<Option<AttentionMap>>,
    /// Which pairs the method computes, pooled.
    pub pattern: Signal<Option<PatternMap>>,
    /// A low-rank or kernel method's factor.
    pub factor: Signal<Option<FactorMap>>,
    /// Reformer's buckets.
    pub buckets: Signal<Option<LshView>>,
    /// The report as JSON (the schema of `flt run --json`).
    pub json: Signal<Option<serde_json::Value>>,
    /// The download's file name.
    pub filename: Signal<String>,
    /// The exports' file stem after the run's settings
    /// (`longformer_n4096_w256_g1`).
    pub stem: Signal<String>,
    /// The heatmap's title.
    pub heatmap_title: Signal<String>,
    /// What the heatmap shows and where it was pooled.
    pub heatmap_caption: Signal<String>,
    /// The pattern chart's title.
    pub pattern_title: Signal<String>,
    /// What the pattern (or factor) shows.
    pub pattern_caption: Signal<String>,
}

impl ViewData {
    /// The views' inputs for `report`.
    pub fn new(report: ReadSignal<Option<Arc<Measurement>>>) -> ViewData {
        // Each artifact is copied out once per report (a memo), then read
        // in place by its view.
        let take = move |f: fn(&Measurement) -> Option<String>| {
            Signal::derive(move || {
                report
                    .with(|r| r.as_deref().and_then(f))
                    .unwrap_or_default()
            })
        };
        ViewData {
            weights: Memo::new(move |_| report.with(|r| r.as_ref()?.artifacts.weights().cloned()))
                .into(),
            pattern: Memo::new(move |_| report.with(|r| r.as_ref()?.artifacts.pattern().cloned()))
                .into(),
            factor: Memo::new(move |_| report.with(|r| r.as_ref()?.artifacts.factor().cloned()))
                .into(),
            buckets: Memo::new(move |_| report.with(|r| r.as_ref()?.artifacts.buckets().cloned()))
                .into(),
            json: Memo::new(move |_| report.with(|r| serde_json::to_value(r.as_deref()?).ok()))
                .into(),
            filename: take(|m| Some(filename(m))),
            stem: take(|m| Some(stem(m))),
            heatmap_title: take(|m| Some(heatmap_title(m))),
            heatmap_caption: take(heatmap_caption),
            pattern_title: take(|m| Some(format!("Pattern — {}", m.envelope.method_label))),
            pattern_caption: take(pattern_caption),
        }
    }
}

/// The exports' stem: method, n, knobs ([`attention_stem`]).
fn stem(m: &Measurement) -> String {
    let f = &m.figures;
    attention_stem(
        &m.envelope.method,
        f.n,
        &f.params,
        &f.param_choices,
        f.causal,
    )
}

/// `measurement-<method>-n<n>-d<d>[-causal].json`.
fn filename(m: &Measurement) -> String {
    let f = &m.figures;
    format!(
        "measurement-{}-n{}-d{}{}.json",
        m.envelope.method,
        f.n,
        f.d,
        if f.causal { "-causal" } else { "" }
    )
}

fn heatmap_title(m: &Measurement) -> String {
    format!(
        "{} — n = {}{}",
        m.envelope.method_label,
        m.figures.n,
        if m.figures.causal { ", causal" } else { "" }
    )
}

/// What the weights show, and where they were pooled.
fn heatmap_caption(m: &Measurement) -> Option<String> {
    let map = m.artifacts.weights()?;
    let source = if m.envelope.backend == "gpu" {
        "on the GPU"
    } else {
        "by the CPU twin"
    };
    Some(if m.artifacts.factor().is_some() {
        let pooled = if map.factor > 1 {
            format!(
                ", pooled to {0}×{0} cells of {1}×{1} pairs",
                map.cells, map.factor
            )
        } else {
            String::new()
        };
        format!(
            "The attention matrix the method implies (its factors multiplied out{pooled}), {source}; negative entries show as 0."
        )
    } else if map.factor == 1 {
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
    })
}

/// How many pairs the pattern computes, or what the factor is.
fn pattern_caption(m: &Measurement) -> Option<String> {
    if let Some(f) = m.artifacts.factor() {
        return Some(format!(
            "A {} × {} factor: the method never forms the n × n matrix; the weights on the left are the matrix it implies.",
            f.rows, f.cols
        ));
    }
    let pattern = m.artifacts.pattern()?;
    let pooled = if pattern.factor > 1 {
        format!(
            " Each cell pools {0}×{0} pairs; paler cells compute fewer of them.",
            pattern.factor
        )
    } else {
        String::new()
    };
    let f = &m.figures;
    Some(format!(
        "{} of the {} pairs are computed ({:.2}% density).{pooled}",
        format::int(f.pattern_pairs),
        format::int((f.n as u64).pow(2)),
        f.density * 100.0
    ))
}

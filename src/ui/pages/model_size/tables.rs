//! The comparison's tables, read from the report: the survey's size claims
//! recomputed (beside the chart: the Summary Table's "ALBERT 18× smaller",
//! "INT8 4× smaller", the distillation and weight-sharing figures) and
//! every model's computed count against its published one with its sizes.

use leptos::prelude::*;

use super::ReportSignal;
use super::views::{as_published, percent};
use crate::chart::model_size::human_bytes;
use crate::compress::size::Claim;
use crate::format;
use crate::ui::components::num;

fn figure((low, high): (f64, f64), unit: &str) -> String {
    let one = |x: f64| {
        if x >= 10.0 {
            format!("{x:.1}")
        } else {
            format!("{x:.2}")
        }
    };
    let number = if low == high {
        one(low)
    } else {
        format!("{}–{}", one(low), one(high))
    };
    match unit {
        "×" => format!("{number}×"),
        other => format!("{number} {other}"),
    }
}

fn claim_row(c: &Claim, first_of_section: bool) -> impl IntoView + use<> {
    let section = first_of_section.then(|| {
        view! {
            <tr class="section">
                <td colspan="3">{c.section.clone()}</td>
            </tr>
        }
    });
    view! {
        {section}
        <tr>
            <td class="x-label">
                <div>{c.claim.clone()}</div>
                <div class="muted small">{c.how.clone()}</div>
            </td>
            <td class="num">{num(figure(c.survey, &c.unit), format!("What the survey says: {}", c.claim))}</td>
            <td class="num strong">{num(figure(c.computed, &c.unit), format!("Computed from the configuration: {}", c.how))}</td>
        </tr>
    }
}

/// The survey's size claims and what the configurations give, by section.
#[component]
pub fn ClaimsTable(report: ReportSignal) -> impl IntoView {
    let rows = move || {
        report.with(|r| {
            r.as_ref().map(|r| {
                let claims = &r.figures.claims;
                claims
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let first = i == 0 || claims[i - 1].section != c.section;
                        claim_row(c, first)
                    })
                    .collect_view()
            })
        })
    };
    view! {
        <h2>"Summary: the survey's size figures, recomputed"</h2>
        <div class="table-scroll" tabindex="0" role="region" aria-label="Summary: the survey's size figures, recomputed">
            <table class="figure-table claims" data-testid="summary-table">
                <thead>
                    <tr>
                        <th>"the survey says"</th>
                        <th class="num">"survey"</th>
                        <th class="num">"computed"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// Every model: computed count, published count, sizes.
#[component]
pub fn ModelsTable(report: ReportSignal) -> impl IntoView {
    let rows = move || {
        report.with(|r| {
            let r = r.as_ref()?;
            let current = r.figures.model.clone();
            Some(
                r.figures
                    .comparison
                    .iter()
                    .map(|row| {
                        let class = if row.model == current { "selected" } else { "" };
                        let exact = row
                            .implementation_params
                            .map(|x| if x == row.params { "✓" } else { "✗" })
                            .unwrap_or("");
                        let sizes = row
                            .bytes
                            .iter()
                            .map(|&b| {
                                view! {
                                    <td class="num">
                                        {num(
                                            human_bytes(b),
                                            format!("Size at this precision: {} bytes = parameters × bits / 8, plus scales", format::int(b)),
                                        )}
                                    </td>
                                }
                            })
                            .collect_view();
                        view! {
                            <tr class=class data-model=row.model.clone()>
                                <td class="x-label">{row.label.clone()}{row.shared_layers.then_some(" (shared)")}</td>
                                <td class="num">
                                    {num(format::int(row.params), "Parameters computed from the configuration: embeddings + layers × per-layer + head")}
                                </td>
                                <td class="num center">{exact}</td>
                                <td class="num">
                                    {num(as_published(row.published_params), "The count its authors published")}
                                </td>
                                <td class="num">
                                    {num(percent(row.relative_difference), "Difference: (computed − published) / published")}
                                </td>
                                {sizes}
                                <td class="small muted x-label">{row.published_source.clone()}</td>
                            </tr>
                        }
                    })
                    .collect_view(),
            )
        })
    };
    view! {
        <h2>"Every model: computed against published"</h2>
        <div class="table-scroll" tabindex="0" role="region" aria-label="Every model: computed against published">
            <table class="figure-table models" data-testid="models-table">
                <thead>
                    <tr>
                        <th>"model"</th>
                        <th class="num">"computed"</th>
                        <th class="num" title="equals the count of Hugging Face transformers' base model, where that count is published">"= HF"</th>
                        <th class="num">"published"</th>
                        <th class="num">"difference"</th>
                        <th class="num">"FP32"</th>
                        <th class="num">"FP16"</th>
                        <th class="num">"INT8"</th>
                        <th class="num">"INT4"</th>
                        <th class="num">"binary"</th>
                        <th>"source of the published count"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <p class="caption">
            "Differences: BERT's 110M and 340M are two significant figures; GPT-2's checkpoints are named to the million "
            "(its paper's 117M/345M/762M/1542M, which OpenAI says were miscounted, are what the same formula gives with "
            "GPT-1's 40 478-token vocabulary); TinyBERT, MobileBERT and ALBERT-xlarge/xxlarge are 1–6% above their "
            "released configurations, unexplained by their papers. Choose a model above for its notes."
        </p>
    }
}

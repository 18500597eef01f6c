//! The survey's Practical Recommendations table
//! ([`crate::pipeline::compare::recommendations`]) beside the comparison:
//! each recommendation in the survey's words, its attention methods judged
//! against the rows measured here (supports / questions / not measured,
//! with the figures), links to the explorer runs and labs that test it, and
//! what is not runnable here yet.

use leptos::prelude::*;

use super::table::explorer_href;
use crate::attention::MethodId;
use crate::pipeline::compare::CompareRow;
use crate::pipeline::compare::recommendations::{
    Evidence, Finding, RECOMMENDATIONS, SOURCE, Verdict, judge, lab_route, outside,
};
use crate::settings::compare::CompareSettings;

/// How a verdict reads on its chip.
fn chip(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Supports => "supports",
        Verdict::Questions => "questions",
        Verdict::NotMeasured => "not measured",
    }
}

/// The settings under which an attention claim applies: the table's, with
/// n raised to `test_n` when it is not above `above_n`, and causal as the
/// claim says.
fn claim_settings(
    s: &CompareSettings,
    above_n: usize,
    test_n: usize,
    causal: bool,
) -> CompareSettings {
    CompareSettings {
        n: if s.n > above_n { s.n } else { test_n },
        causal,
        ..*s
    }
}

/// `text` with its first letter in capitals.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// One judged method: verdict, link to its explorer run, why.
fn finding_view(f: Finding, href: Option<String>) -> impl IntoView + use<> {
    let name = match href {
        Some(href) if f.registered => view! {
            <a href=href data-testid=format!("rec-explore-{}", f.method)>{f.label.clone()}</a>
        }
        .into_any(),
        _ => view! { <span class="strong">{f.label.clone()}</span> }.into_any(),
    };
    let (chip_text, chip_class, text) = if f.registered {
        (chip(f.verdict), f.verdict.key(), f.text.clone())
    } else {
        (
            "not runnable here yet",
            "not-runnable",
            "not in this app's registry yet".to_string(),
        )
    };
    view! {
        <li data-verdict=f.verdict.key() data-method=f.method>
            <span class=format!("chip chip-{chip_class}")>{chip_text}</span>
            " "
            {name}
            {format!(" — {text}")}
        </li>
    }
}

/// The recommendations card.
#[component]
pub fn Recommendations(
    /// Every method's row (placeholders before their run).
    rows: Memo<Vec<CompareRow>>,
    /// The table's settings.
    settings: Memo<CompareSettings>,
    /// The site's base path.
    base: String,
) -> impl IntoView {
    let body = move || {
        let s = settings.get();
        rows.with(|rows| {
            RECOMMENDATIONS
                .iter()
                .map(|r| {
                    let evidence = r
                        .evidence
                        .iter()
                        .map(|e| evidence_view(e, rows, &s, &base))
                        .collect_view();
                    view! {
                        <tr data-scenario=r.scenario>
                            <th scope="row">{r.scenario}</th>
                            <td class="approach">{r.approach}</td>
                            <td>
                                <ul class="evidence">{evidence}</ul>
                            </td>
                        </tr>
                    }
                })
                .collect_view()
        })
    };
    view! {
        <section class="card recommendations" data-testid="recommendations">
            <h2>"The survey's Practical Recommendations, tested on this machine"</h2>
            <p class="muted">
                "A method supports its recommendation here when, under the scenario's condition, it is faster than exact "
                "attention on the same backend and its rel_err beats the mean of V; it questions it when it is not both. "
                "A verdict holds for this table's inputs: on unit-scale Gaussian inputs attention is nearly uniform and no "
                "sparse pattern keeps its mass; on local inputs (attention peaked near the diagonal) windows do. "
                "Recommendations outside attention link to the labs that run part of them, and say what is not runnable here yet."
            </p>
            <table class="figure-table rec-table">
                <thead>
                    <tr>
                        <th scope="col">"Scenario"</th>
                        <th scope="col">"Recommended approach"</th>
                        <th scope="col">"What this machine says"</th>
                    </tr>
                </thead>
                <tbody>{body}</tbody>
            </table>
            <p class="muted small source">"Source: " <cite>{SOURCE}</cite> "."</p>
        </section>
    }
}

/// One piece of evidence as list items.
fn evidence_view(e: &Evidence, rows: &[CompareRow], s: &CompareSettings, base: &str) -> AnyView {
    match *e {
        Evidence::Attention {
            above_n,
            test_n,
            causal,
            ..
        } => {
            let at = claim_settings(s, above_n, test_n, causal);
            let findings = judge(e, rows, s.n, s.causal);
            let (registered, unregistered): (Vec<Finding>, Vec<Finding>) =
                findings.into_iter().partition(|f| f.registered);
            let href =
                |f: &Finding| MethodId::from_key(f.method).map(|m| explorer_href(base, &at, m));
            let judged = match outside(e, s.n, s.causal) {
                // This table cannot test the claim: say why once, offer the
                // comparison and the explorer runs where it applies.
                Some(why) if !registered.is_empty() => {
                    let rerun = format!(
                        "{base}{}?{}",
                        lab_route("compare").unwrap_or("/compare"),
                        at.to_query()
                    );
                    let links = registered
                        .iter()
                        .enumerate()
                        .map(|(i, f)| {
                            let link = view! {
                                <a href=href(f).unwrap_or_default() data-testid=format!("rec-explore-{}", f.method)>
                                    {f.label.clone()}
                                </a>
                            };
                            view! { {(i > 0).then_some(" · ")} {link} }
                        })
                        .collect_view();
                    view! {
                        <li class="rerun" data-verdict="not-measured">
                            <span class="chip chip-not-measured">"not measured"</span>
                            {format!(" {}. ", capitalised(&why))}
                            <a href=rerun data-testid="rec-rerun">
                                {format!(
                                    "Run this comparison at n = {}{}",
                                    at.n,
                                    if causal { ", causal" } else { "" },
                                )}
                            </a>
                        </li>
                        <li class="explore">
                            {format!("In the explorer at n = {}: ", at.n)}
                            {links}
                        </li>
                    }
                    .into_any()
                }
                _ => registered
                    .into_iter()
                    .map(|f| {
                        let link = href(&f);
                        finding_view(f, link)
                    })
                    .collect_view()
                    .into_any(),
            };
            let missing = unregistered
                .into_iter()
                .map(|f| finding_view(f, None))
                .collect_view();
            view! { {judged} {missing} }.into_any()
        }
        Evidence::Lab {
            family,
            query,
            link,
            shows,
        } => match lab_route(family) {
            Some(route) => view! {
                <li data-lab=family>
                    <span class="chip chip-lab">"lab"</span>
                    " "
                    <a href=format!("{base}{route}?{query}")>{link}</a>
                    {format!(" — {shows}.")}
                </li>
            }
            .into_any(),
            None => view! {
                <li>
                    <span class="chip chip-not-runnable">"not runnable here yet"</span>
                    {format!(" {link}")}
                </li>
            }
            .into_any(),
        },
        Evidence::NotRunnable { what, why } => view! {
            <li data-runnable="false">
                <span class="chip chip-not-runnable">"not runnable here yet"</span>
                " "
                <span class="strong">{what}</span>
                {format!(" — {why}.")}
            </li>
        }
        .into_any(),
    }
}

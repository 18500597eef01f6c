//! The Combining Techniques calculator (survey §"Combining Techniques"):
//! teacher → student (distillation), heads and feed-forward width pruned,
//! bits per weight — each step's factor and the total, in fp32-equivalent
//! parameters, beside the survey's "340M → 66M → 33M → 8M effective".

use leptos::prelude::*;

use super::ReportSignal;
use super::controls::{model_options, setter};
use super::views::{as_published, millions};
use crate::compress::size::Precision;
use crate::compress::size::combine::Combined;
use crate::format;
use crate::settings::Kind;
use crate::settings::model_size::{CALCULATOR, ModelSizeSettings, NO_STUDENT, spec};
use crate::ui::components::{Update, num};

fn label(key: &str) -> &'static str {
    spec(key).map_or("", |s| s.label)
}

fn help(key: &str) -> &'static str {
    spec(key).map_or("", |s| s.help)
}

/// The calculator's controls.
#[component]
fn Knobs(settings: Memo<ModelSizeSettings>, update: Update) -> impl IntoView {
    let teacher = Signal::derive(move || settings.with(|s| s.teacher));
    let student = Signal::derive(move || settings.with(|s| s.student.unwrap_or(NO_STUDENT)));
    let bits = move || settings.with(|s| s.bits);
    let (set_teacher, set_student, set_bits) = (
        setter(update, "teacher"),
        setter(update, "student"),
        setter(update, "bits"),
    );
    let fraction = |key: &'static str| {
        let set = setter(update, key);
        let value = move || {
            settings
                .with(|s| {
                    if key == "prune-heads" {
                        s.prune_heads
                    } else {
                        s.prune_ffn
                    }
                })
                .to_string()
        };
        let max = CALCULATOR
            .iter()
            .find(|s| s.key == key)
            .map_or(0.95, |s| match s.kind {
                Kind::Real { max, .. } => max,
                _ => 0.95,
            });
        view! {
            <label class="control" title=help(key)>
                <span>{label(key)}</span>
                <input
                    type="number"
                    data-testid=key
                    min="0"
                    max=max.to_string()
                    step="0.05"
                    prop:value=value
                    on:change=move |ev| set(event_target_value(&ev))
                />
            </label>
        }
    };
    view! {
        <div class="size-controls">
            <label class="control control-wide" title=help("teacher")>
                <span>{label("teacher")}</span>
                <select data-testid="teacher" on:change=move |ev| set_teacher(event_target_value(&ev))>
                    {model_options(teacher, None)}
                </select>
            </label>
            <label class="control control-wide" title=help("student")>
                <span>{label("student")}</span>
                <select data-testid="student" on:change=move |ev| set_student(event_target_value(&ev))>
                    {model_options(student, Some((NO_STUDENT, "none — no distillation")))}
                </select>
            </label>
            {fraction("prune-heads")}
            {fraction("prune-ffn")}
            <label class="control" title=help("bits")>
                <span>{label("bits")}</span>
                <select data-testid="bits" on:change=move |ev| set_bits(event_target_value(&ev))>
                    {Precision::ALL
                        .iter()
                        .map(|&p| {
                            let value = p.bits().to_string();
                            view! {
                                <option value=value selected=move || bits() == p>
                                    {format!("{} — {}", p.bits(), p.label())}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
        </div>
    }
}

fn steps_table(c: &Combined) -> impl IntoView + use<> {
    let rows = c
        .steps
        .iter()
        .map(|s| {
            view! {
                <tr data-step=s.key.clone()>
                    <td class="x-label">{s.key.clone()}</td>
                    <td class="x-label">{s.label.clone()}</td>
                    <td class="num">
                        {num(millions(s.params as f64), format!("Parameters stored after this step: {}", format::int(s.params)))}
                    </td>
                    <td class="num strong">
                        {num(
                            millions(s.effective_params),
                            "Effective parameters: the bytes stored / 4, the fp32 parameters with the same size",
                        )}
                    </td>
                    <td class="num">
                        {num(format!("{:.2}×", s.factor), "This step's factor: effective parameters before / after the step")}
                    </td>
                    <td class="num strong">
                        {num(
                            format!("{:.1}×", s.total_factor),
                            "Total so far: the teacher's fp32 parameters / the effective parameters after this step (the product of the steps' factors)",
                        )}
                    </td>
                    <td class="num muted">
                        {num(as_published(s.survey_params as u64), "The survey's parameter count after this step")}
                    </td>
                    <td class="num muted">
                        {num(format!("{}×", s.survey_factor), "The survey's factor for this step")}
                    </td>
                </tr>
            }
        })
        .collect_view();
    let totals = c
        .totals
        .iter()
        .map(|t| format!("{} {:.1}×", t.precision.label(), t.total_factor))
        .collect::<Vec<_>>()
        .join(" · ");
    view! {
        <div class="table-scroll" tabindex="0" role="region" aria-label="Calculator steps">
            <table class="figure-table steps" data-testid="calculator-steps">
                <thead>
                    <tr>
                        <th>"step"</th><th>"what"</th><th class="num">"parameters stored"</th>
                        <th class="num">"effective (fp32-equivalent)"</th><th class="num">"step"</th>
                        <th class="num">"total"</th><th class="num">"survey"</th><th class="num">"survey step"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <p data-testid="calculator-total">
            <strong>
                "Total: "
                {num(
                    format!("{:.1}×", c.total_factor),
                    "The teacher's fp32 size / the final model's size: the product of every step's factor",
                )}
                " "
            </strong>
            <span class="muted">
                {format!(
                    "(survey: {}–{}×). With the same distillation and pruning, ending at each precision: {totals}.",
                    c.survey_range.0, c.survey_range.1
                )}
            </span>
        </p>
    }
}

/// The calculator card.
#[component]
pub fn Calculator(
    settings: Memo<ModelSizeSettings>,
    update: Update,
    report: ReportSignal,
) -> impl IntoView {
    let table = move || {
        report.with(|r| {
            r.as_ref()
                .and_then(|r| r.figures.combination.as_ref())
                .map(steps_table)
        })
    };
    view! {
        <h2>"Combining Techniques: distillation → pruning → quantization"</h2>
        <p class="muted">
            "The survey's recommended pipeline: “340M → 66M (5×) → 33M (2×) → 8M effective (4×) … 40–85× compression”. "
            "Its numbers are BERT-large distilled into DistilBERT, pruned to half, stored in INT8: 340/8 ≈ 42×, the low "
            "end of its range; the 85× matches the same pipeline ending in INT4 (33M/8 ≈ 4M effective; 340/4 = 85) — our "
            "reading, the survey does not derive it. Here every step is recounted from the configuration: pruning removes "
            "whole heads (their columns of Q, K, V and rows of O) and feed-forward units, and cannot touch the embeddings — "
            "so halving DistilBERT takes 9 of its 12 heads and 80% of its FFN width, far beyond the 20–40% of heads the "
            "survey says can go with little loss. Quantized sizes count the FP16 scales and FP16 biases and norms."
        </p>
        <Knobs settings=settings update=update/>
        {table}
    }
}

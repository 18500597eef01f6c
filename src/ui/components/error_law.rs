//! The error-law card: sweeps the method's budget (Performer's m, Linformer's
//! k, Nyström's L) over powers of two, five seeds each, drawing rel_err
//! against it on log-log axes as the points arrive, with the slope theory
//! predicts. The sweep runs through the page's job runner: a change of
//! settings stops a sweep in progress.

use std::rc::Rc;

use leptos::prelude::*;
use web_sys::HtmlCanvasElement;

use super::canvas_chart::{CanvasChart, Export, plot_area};
use super::run_status::state_name;
use crate::chart::error_law::draw_error_law;
use crate::chart::export::{csv_of, settings_stem, svg_string};
use crate::data::LocalFuture;
use crate::format;
use crate::gpu::GpuRunOptions;
use crate::pipeline::jobs::{JobOutcome, JobStatus, Jobs};
use crate::pipeline::sweep::{Sweep, SweepPoint, budgets, sweep};
use crate::pipeline::{Host, RunError};
use crate::settings::Settings;
use crate::ui::browser::{yield_now, yield_to_browser};
use crate::ui::jobs::PageJobs;

/// Seeds per budget.
const SEEDS: u32 = 5;

/// Where a sweep delivers its points and its summary.
#[derive(Clone, Copy)]
struct SweepOut {
    points: WriteSignal<Vec<SweepPoint>>,
    done: WriteSignal<Option<Sweep>>,
}

/// One sweep, as a job of the runner.
fn run_sweep(
    jobs: Rc<Jobs<Settings>>,
    generation: u64,
    settings: Settings,
    out: SweepOut,
) -> LocalFuture<'static, JobOutcome> {
    Box::pin(async move {
        let list = match budgets(settings.method, settings.n) {
            Ok(list) => list,
            Err(e) => return JobOutcome::Failed(e.to_string()),
        };
        let host = jobs.host(generation, yield_now);
        host.progress("generating inputs", 0.0);
        yield_to_browser().await;
        let problem = settings
            .problem_yielding(GpuRunOptions::default(), &yield_now)
            .await;
        let outcome = sweep(&problem, &list, SEEDS, &host, |p| {
            if jobs.is_current(generation) {
                out.points.update(|v| v.push(p.clone()));
            }
        })
        .await;
        if !jobs.is_current(generation) {
            return JobOutcome::Cancelled;
        }
        match outcome {
            Ok(done) => {
                out.done.set(Some(done));
                JobOutcome::Done
            }
            Err(RunError::Cancelled) => JobOutcome::Cancelled,
            Err(e) => JobOutcome::Failed(e.to_string()),
        }
    })
}

/// The status line's text.
fn summary(status: &JobStatus, done: Option<&Sweep>) -> String {
    match (status, done) {
        (JobStatus::Running { stage, fraction }, _) => {
            format!("{stage}… {:.0}%", fraction * 100.0)
        }
        (JobStatus::Failed(e), _) => e.clone(),
        (JobStatus::Done, Some(s)) => {
            let fitted = s
                .fitted_slope
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "—".into());
            let baselines = s
                .points
                .first()
                .map(|p| {
                    format!(
                        " Baselines: mean of V {:.3}, zeros {:.3}.",
                        p.baseline_mean_v_rel_err, p.baseline_zero_rel_err
                    )
                })
                .unwrap_or_default();
            let spread = match s.spread.as_str() {
                "method draws" => " Spread: the method's random draws.",
                "input seeds" => " Spread: seeds of the inputs (no randomness in the method).",
                _ => " No spread: a deterministic method on fixed inputs.",
            };
            let law = match s.theory_slope {
                Some(t) => format!("theory {t} ({})", s.law),
                None => s.law.clone(),
            };
            format!("Fitted log–log slope {fitted}; {law}.{baselines}{spread}")
        }
        _ => String::new(),
    }
}

/// The error-law card (only for methods with a budget).
#[component]
pub fn ErrorLaw(settings: Memo<Settings>) -> impl IntoView {
    let (points, set_points) = signal(Vec::<SweepPoint>::new());
    let (done, set_done) = signal(None::<Sweep>);
    let out = SweepOut {
        points: set_points,
        done: set_done,
    };
    let page_jobs =
        PageJobs::new(move |jobs, generation, settings| run_sweep(jobs, generation, settings, out));
    let status = page_jobs.status;
    // The runner holds `Rc`s, which views may not capture: keep it in a
    // local arena slot and capture the handle.
    let jobs = StoredValue::new_local(page_jobs);
    // New settings: stop any sweep and start afresh.
    Effect::new(move |_| {
        settings.track();
        jobs.with_value(|j| j.reset());
        set_points.set(Vec::new());
        set_done.set(None);
    });
    on_cleanup(move || {
        jobs.try_with_value(|j| j.cancel());
    });
    let start = move |_| {
        set_points.set(Vec::new());
        set_done.set(None);
        jobs.with_value(|j| j.request(settings.get_untracked()));
    };
    let budget = move || settings.with(|s| s.method.info().budget);
    let knob = move || budget().map(|b| b.key).unwrap_or_default();
    let running = move || status.with(|s| matches!(s, JobStatus::Running { .. }));
    view! {
        <Show when=move || budget().is_some()>
            <section class="card error-law">
                <div class="card-head">
                    <h2>{move || format!("Error law: rel_err against {}", knob())}</h2>
                    <button
                        data-testid="sweep-start"
                        prop:disabled=running
                        on:click=start
                    >
                        "Sweep the budget"
                    </button>
                </div>
                <SweepExplanation/>
                <SweepStatus status=status done=done/>
                <CanvasChart
                    testid="error-law"
                    width=640
                    height=360
                    aria_label=Signal::derive(move || {
                        format!(
                            "Error law: rel_err against {} on log–log axes, {} budgets swept",
                            knob(),
                            points.with(Vec::len)
                        )
                    })
                    what="Cannot draw the error law"
                    draw=move |canvas: &HtmlCanvasElement| draw(canvas, settings, points)
                    export=Export::new(
                        move || {
                            (!points.with(Vec::is_empty))
                                .then(|| format!("{}_error-law", settings.with(settings_stem)))
                        },
                        move || {
                            let Some(budget) = settings.with_untracked(|s| s.method.info().budget)
                            else {
                                return Err("this method has no budget".into());
                            };
                            points.with_untracked(|pts| {
                                svg_string((640, 360), |root| {
                                    draw_error_law(root, budget.key, pts, budget.slope)
                                        .map_err(|e| e.to_string())
                                })
                                .map(|(svg, ())| svg)
                            })
                        },
                        move || points.with_untracked(|pts| csv_of(pts)),
                    )
                />
                <details class="numbers" data-testid="error-law-numbers">
                    <summary>"The numbers drawn"</summary>
                    <div class="table-scroll" tabindex="0" role="region" aria-label="Error-law points">
                        <table class="numbers-table">
                            <caption>{move || format!("rel_err against {} over the seeds", knob())}</caption>
                            <thead>
                                <tr>
                                    <th scope="col">{knob}</th>
                                    <th scope="col">"mean"</th>
                                    <th scope="col">"min"</th>
                                    <th scope="col">"max"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {move || {
                                    points
                                        .get()
                                        .into_iter()
                                        .map(|p| {
                                            view! {
                                                <tr>
                                                    <th scope="row">{p.budget}</th>
                                                    <td>{format::num(p.mean)}</td>
                                                    <td>{format::num(p.min)}</td>
                                                    <td>{format::num(p.max)}</td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()
                                }}
                            </tbody>
                        </table>
                    </div>
                </details>
            </section>
        </Show>
    }
}

/// Draws the points so far and records how many (`data-points`).
fn draw(
    canvas: &HtmlCanvasElement,
    settings: Memo<Settings>,
    points: ReadSignal<Vec<SweepPoint>>,
) -> Result<bool, String> {
    let Some(budget) = settings.with(|s| s.method.info().budget) else {
        return Ok(false);
    };
    points.with(|pts| {
        let _ = canvas.set_attribute("data-points", &pts.len().to_string());
        draw_error_law(&plot_area(canvas)?, budget.key, pts, budget.slope)
            .map_err(|e| e.to_string())?;
        Ok(true)
    })
}

/// What a sweep does and what to try.
#[component]
fn SweepExplanation() -> impl IntoView {
    view! {
        <p class="muted">
            "Powers of two of the budget, five draws each: of the method's random choices on the inputs above \
             (Performer, Gaussian Linformer), or of the inputs (same generator) for a method without randomness \
             (Nyström, mean-pool Linformer). Computed by the CPU twin on the checked rows (the twin equals the GPU \
             kernels). The dashed lines are the baselines to beat: outputting the mean of V, and outputting zeros. \
             Try inputs=low-rank for Nyström, inputs=local for Linformer, and a small Q, K scale for Performer."
        </p>
    }
}

/// The sweep's status line: state, fitted slope, progress or summary.
#[component]
fn SweepStatus(status: ReadSignal<JobStatus>, done: ReadSignal<Option<Sweep>>) -> impl IntoView {
    let fraction = move || match status.get() {
        JobStatus::Running { fraction, .. } => Some(fraction),
        _ => None,
    };
    let slope = move || match status.get() {
        JobStatus::Done => done.with(|d| {
            d.as_ref()
                .and_then(|s| s.fitted_slope)
                .map(|x| format!("{x:.4}"))
                .unwrap_or_default()
        }),
        _ => String::new(),
    };
    view! {
        <div
            class="run-status"
            data-testid="sweep-status"
            data-state=move || status.with(state_name)
            data-slope=slope
        >
            {move || {
                fraction().map(|f| view! { <progress max="1" value=f.to_string()></progress> })
            }}
            <span>{move || status.with(|s| done.with(|d| summary(s, d.as_ref())))}</span>
        </div>
    }
}

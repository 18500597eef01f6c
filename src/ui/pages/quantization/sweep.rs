//! The sweep of schemes: integers at 8, 4, 3, 2 and 1 bits at every
//! granularity, then the float formats, on the section's matrix; SQNR
//! against bits drawn as the points arrive beside the uniform quantizer's
//! law, and the table of schemes × MSE, SQNR and bits per weight. Runs
//! through its own job runner: new settings stop a sweep in progress.

use std::rc::Rc;

use leptos::prelude::*;
use web_sys::HtmlCanvasElement;

use super::ptq::Job;
use crate::chart::export::{csv_of, file_stem, svg_string};
use crate::chart::quantization::draw_sqnr;
use crate::data::LocalFuture;
use crate::format;
use crate::pipeline::jobs::{JobOutcome, JobStatus, Jobs};
use crate::pipeline::quantization::{SchemePoint, sweep};
use crate::pipeline::{Host, RunError};
use crate::ui::backend;
use crate::ui::browser::yield_now;
use crate::ui::components::{CanvasChart, Export, RunStatusLine, num, plot_area};
use crate::ui::jobs::PageJobs;

/// One sweep, as a job.
fn run_sweep(
    jobs: Rc<Jobs<Job>>,
    generation: u64,
    job: Job,
    points: WriteSignal<Vec<SchemePoint>>,
) -> LocalFuture<'static, JobOutcome> {
    Box::pin(async move {
        let host = jobs.host(generation, yield_now);
        host.progress("starting", 0.0);
        let (backend, _turn) =
            match backend::start_job(&jobs, generation, job.settings.backend, None).await {
                Ok(started) => started,
                Err(outcome) => return outcome,
            };
        let problem = match job.problem() {
            Ok(p) => p,
            Err(e) => return JobOutcome::Failed(e.to_string()),
        };
        let outcome = sweep(&problem, &backend, &host, |p| {
            if jobs.is_current(generation) {
                points.update(|v| v.push(p.clone()));
            }
        })
        .await;
        if !jobs.is_current(generation) {
            return JobOutcome::Cancelled;
        }
        match outcome {
            Ok(_) => JobOutcome::Done,
            Err(RunError::Cancelled) => JobOutcome::Cancelled,
            Err(e) => JobOutcome::Failed(e.to_string()),
        }
    })
}

/// The sweep card.
#[component]
pub fn SchemeSweep(#[prop(into)] job: Signal<Job>) -> impl IntoView {
    let (points, set_points) = signal(Vec::<SchemePoint>::new());
    let page_jobs =
        PageJobs::new(move |jobs, generation, job| run_sweep(jobs, generation, job, set_points));
    let (status, superseded, stop) = (page_jobs.status, page_jobs.superseded, page_jobs.stop);
    let jobs = StoredValue::new_local(page_jobs);
    Effect::new(move |_| {
        job.track();
        jobs.with_value(|j| j.reset());
        set_points.set(Vec::new());
    });
    on_cleanup(move || {
        jobs.try_with_value(|j| j.cancel());
    });
    let start = move |_| {
        set_points.set(Vec::new());
        jobs.with_value(|j| j.request(job.get_untracked()));
    };
    let running = move || status.with(|s| matches!(s, JobStatus::Running { .. }));
    let draw = move |canvas: &HtmlCanvasElement| {
        points.with(|pts| {
            let _ = canvas.set_attribute("data-points", &pts.len().to_string());
            draw_sqnr(&plot_area(canvas)?, pts).map_err(|e| e.to_string())?;
            Ok(!pts.is_empty())
        })
    };
    view! {
        <section class="card">
            <div class="card-head">
                <h2>"SQNR against bits, every granularity"</h2>
                <button data-testid="quant-sweep-start" prop:disabled=running on:click=start>
                    "Sweep the schemes"
                </button>
            </div>
            <p class="muted">
                "Integers at 8, 4, 3, 2 and 1 bits per tensor, per channel and per group (the mode, clipping and "
                "group size above), then fp8 E4M3 / E5M2, bf16 and fp16, each on the matrix above. Every bit halves "
                "the step s, so the rounding noise s²/12 falls 4×: +6.02 dB per bit (dashed). At 2 and 3 bits the "
                "measured SQNR falls off the law — most weights land in the zero bin, and clipping errors dominate."
            </p>
            <RunStatusLine status=status superseded=superseded stop=stop testid="quant-sweep-status"/>
            <div class="grid">
                <CanvasChart
                    testid="sqnr-chart"
                    width=640
                    height=420
                    aria_label="SQNR against bits for every granularity, with the 6.02 dB per bit law"
                    what="Cannot draw the SQNR chart"
                    draw=draw
                    export=Export::new(
                        move || (!points.with(Vec::is_empty)).then(|| format!("{}_sqnr-sweep", job.with(job_stem))),
                        move || {
                            points.with_untracked(|pts| {
                                svg_string((640, 420), |root| draw_sqnr(root, pts).map_err(|e| e.to_string()))
                                    .map(|(svg, ())| svg)
                            })
                        },
                        move || points.with_untracked(|pts| csv_of(pts)),
                    )
                />
                <SchemeTable points=points/>
            </div>
        </section>
    }
}

/// Schemes (rows) × MSE, SQNR, bits per weight.
#[component]
fn SchemeTable(points: ReadSignal<Vec<SchemePoint>>) -> impl IntoView {
    view! {
        <table class="figure-table scheme-table" data-testid="scheme-table">
            <thead>
                <tr>
                    <th>"scheme"</th>
                    <th class="num">"MSE"</th>
                    <th class="num">"SQNR"</th>
                    <th class="num">"law"</th>
                    <th class="num">"bits / weight"</th>
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
                                    <td class="x-label">{p.label.clone()}</td>
                                    <td class="num">
                                        {num(format::sci(p.mse), "MSE: mean (x − x̂)² over the matrix's weights, this scheme")}
                                    </td>
                                    <td class="num">
                                        {num(
                                            p.sqnr_db.map_or("∞".into(), |d| format!("{d:.2} dB")),
                                            "SQNR: 10·log₁₀(Σx² / Σ(x − x̂)²), signal over quantization noise",
                                        )}
                                    </td>
                                    <td class="num muted">
                                        {num(
                                            p.law_db.map_or("—".into(), |d| format!("{d:.2} dB")),
                                            "The uniform-noise law: SQNR predicted from a step s with noise s²/12 per weight",
                                        )}
                                    </td>
                                    <td class="num">
                                        {num(
                                            format!("{:.3}", p.bits_per_weight),
                                            "Bits per weight: stored bits (codes plus scales and zero points) / weights",
                                        )}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()
                }}
            </tbody>
        </table>
    }
}

/// The sweep's stem: `ptq` and the quantizer's URL settings.
fn job_stem(job: &Job) -> String {
    let query = job.settings.to_query();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let settings: Vec<(&str, String)> =
        pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    file_stem(
        if job.upload.is_some() {
            "ptq-upload"
        } else {
            "ptq"
        },
        &settings,
    )
}

//! Is it actually faster? (`/scaling`; survey "Comprehensive Comparison",
//! "Conclusion"): the chosen methods swept over n = 2^k on this browser's
//! GPU (or the CPU twins), time and memory drawn against n on log–log axes
//! as the points arrive, each method's fitted exponent beside the one its
//! complexity states, and the n from which it is faster than exact
//! attention's fused kernel here — or "not up to n = …".
//!
//! The page owns its URL query (`?methods=full,linear&d=64&n-min=128&n-max=4096&seed=1&causal=false&backend=gpu`,
//! the names of `flt bench`'s flags): the controls rewrite it; a sweep runs
//! when Run is pressed (it can take a while) and stops on Cancel, keeping
//! the points so far. The sweep itself is [`crate::pipeline::scaling`].

mod views;

use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate};

use self::views::{Crossovers, Exponents, Exports, MethodPicker, ScalingChart};
use crate::chart::scaling::Quantity;
use crate::data::LocalFuture;
use crate::inputs::PAGE_MAX_N;
use crate::pipeline::RunError;
use crate::pipeline::jobs::{JobOutcome, JobStatus, Jobs};
use crate::pipeline::scaling::{
    CPU_POINT_BUDGET_MS, GPU_POINT_BUDGET_MS, ScalingReport, default_point_budget_ms, sweep,
};
use crate::settings::SettingsIssue;
use crate::settings::scaling::{SPECS, ScalingSettings};
use crate::ui::backend;
use crate::ui::browser::yield_now;
use crate::ui::components::{
    BackendBadge, BackendInfo, RunStatusLine, SettingsIssues, SpecControls, Update,
};
use crate::ui::jobs::PageJobs;

/// The report so far, shared by the views.
pub type ReportSignal = ReadSignal<Option<Arc<ScalingReport>>>;

/// The settings in the URL query, and the controls' way to change one.
fn query_settings() -> (Memo<ScalingSettings>, Memo<Vec<SettingsIssue>>, Update) {
    let location = use_location();
    let parsed = Memo::new(move |_| ScalingSettings::from_query(&location.search.get()));
    let settings = Memo::new(move |_| parsed.get().0);
    let issues = Memo::new(move |_| parsed.get().1);
    let navigate = use_navigate();
    let pathname = location.pathname;
    let update: Box<dyn Fn(&'static str, String)> = Box::new(move |key, value| {
        let query = settings.get_untracked().query_with(key, &value);
        let url = format!("{}?{query}", pathname.get_untracked());
        navigate(
            &url,
            NavigateOptions {
                resolve: false,
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    });
    (settings, issues, StoredValue::new_local(update))
}

/// Where a sweep delivers what it found.
#[derive(Clone, Copy)]
struct SweepOut {
    report: WriteSignal<Option<Arc<ScalingReport>>>,
    backend: WriteSignal<Option<BackendInfo>>,
}

/// One sweep, as a job of the page's runner.
fn run_job(
    jobs: Rc<Jobs<ScalingSettings>>,
    generation: u64,
    settings: ScalingSettings,
    out: SweepOut,
) -> LocalFuture<'static, JobOutcome> {
    Box::pin(async move {
        let (backend, _turn) = match backend::start_job(
            &jobs,
            generation,
            settings.backend,
            Some(out.backend),
        )
        .await
        {
            Ok(started) => started,
            Err(outcome) => return outcome,
        };
        let problem = settings.problem(default_point_budget_ms(&backend));
        let host = jobs.host(generation, yield_now);
        let outcome = sweep(&problem, &backend, &host, |report| {
            if jobs.is_current(generation) {
                out.report.set(Some(Arc::new(report.clone())));
            }
        })
        .await;
        if !jobs.is_current(generation) {
            return JobOutcome::Cancelled;
        }
        match outcome {
            Ok(report) => {
                out.report.set(Some(Arc::new(report)));
                JobOutcome::Done
            }
            Err(RunError::Cancelled) => JobOutcome::Cancelled,
            Err(e) => JobOutcome::Failed(e.to_string()),
        }
    })
}

/// The page.
#[component]
pub fn ScalingPage() -> impl IntoView {
    let (settings, issues, update) = query_settings();
    let shown = Signal::derive(move || settings.get().to_pairs());
    let (report, set_report) = signal(None::<Arc<ScalingReport>>);
    let (backend, set_backend) = signal(None::<BackendInfo>);
    let (cancelled, set_cancelled) = signal(false);
    let out = SweepOut {
        report: set_report,
        backend: set_backend,
    };
    let jobs =
        PageJobs::new(move |jobs, generation, settings| run_job(jobs, generation, settings, out));
    let (status, superseded, stop) = (jobs.status, jobs.superseded, jobs.stop);
    let jobs = StoredValue::new_local(jobs);
    on_cleanup(move || {
        jobs.try_with_value(|j| j.cancel());
    });
    let running = move || status.with(|s| matches!(s, JobStatus::Running { .. }));
    let run = move |_| {
        set_report.set(None);
        set_cancelled.set(false);
        jobs.with_value(|j| j.request(settings.get_untracked()));
    };
    let cancel = move |_| {
        jobs.with_value(|j| j.reset());
        set_cancelled.set(true);
    };
    view! {
        <main class="lab scaling" data-testid="scaling-page">
            <Intro/>
            <section class="card controls-card scaling-controls">
                <MethodPicker settings=settings update=update/>
                <div class="scaling-knobs">
                    <SpecControls specs=SPECS values=shown update=update inactive=|_, _| None/>
                    <div class="run-buttons">
                        <button
                            class="primary"
                            data-testid="scaling-run"
                            prop:disabled=running
                            on:click=run
                        >
                            "Run the sweep"
                        </button>
                        <button
                            data-testid="scaling-cancel"
                            prop:disabled=move || !running()
                            on:click=cancel
                        >
                            "Cancel"
                        </button>
                    </div>
                </div>
                <SettingsIssues issues=Signal::derive(move || issues.get())/>
            </section>
            <section class="status-row">
                <BackendBadge
                    backend=backend
                    waiting=Signal::derive(|| "The backend is chosen when the sweep starts".to_string())
                />
                <RunStatusLine
                    status=status
                    superseded=superseded stop=stop
                    testid="scaling-status"
                    idle="Choose the methods and the range of n, then run the sweep."
                />
                {move || {
                    cancelled
                        .get()
                        .then(|| {
                            view! {
                                <span class="muted" data-testid="scaling-cancelled">
                                    "Cancelled: the points measured so far are kept."
                                </span>
                            }
                        })
                }}
            </section>
            <div class="scaling-charts">
                <ScalingChart report=report quantity=Quantity::Time testid="scaling-chart"/>
                <ScalingChart report=report quantity=Quantity::Memory testid="scaling-memory-chart"/>
            </div>
            <div class="scaling-results">
                <Crossovers report=report settings=settings/>
                <Exports report=report/>
            </div>
            <Exponents report=report/>
        </main>
    }
}

/// What the page asks and how it measures.
#[component]
fn Intro() -> impl IntoView {
    view! {
        <section class="card intro scaling-intro">
            <h2>"Is it actually faster? Time and memory against n, measured here"</h2>
            <p>
                "The survey's Summary Table promises O(n) and O(n log n) attention in place of exact attention's "
                "O(n²). Whether a method is faster on a given GPU depends on constants the big-O hides: exact attention "
                "runs as one fused kernel (FlashAttention-style online softmax, O(n) memory), while an approximation "
                "pays for projections, feature maps, hashing and sorting in several passes. This page sweeps n over "
                "powers of two, times each method's kernels (warm median of GPU timestamps, or the CPU twin's wall "
                "clock), fits the exponent of n on log–log axes beside the one the complexity states, and marks the n "
                "from which each method is faster than exact attention on this backend."
            </p>
            <p class="muted">
                {format!(
                    "A method's series stops at the first n its kernels do not fit this adapter (checked against its limits \
                     before anything is allocated), or before an n whose single repeat would exceed the time budget per \
                     point ({} s on a GPU, {} s on the CPU twin; the repeats shrink to fit it). Every method at one n runs \
                     on the same seeded inputs, with its knobs at their defaults; n is at most {PAGE_MAX_N}, the page's limit (flt bench runs longer sequences).",
                    GPU_POINT_BUDGET_MS / 1000.0,
                    CPU_POINT_BUDGET_MS / 1000.0
                )}
            </p>
        </section>
    }
}

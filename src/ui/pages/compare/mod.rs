//! The Comprehensive Comparison, measured (`/compare`; survey
//! §"Comprehensive Comparison" and §"Conclusion"): every registered
//! attention method run side by side on this backend — the survey's
//! complexity and "best for" beside the FLOPs, bytes, time and error
//! measured here — in a sortable table that fills as each method finishes
//! ([`table`]), with the survey's Practical Recommendations judged against
//! it ([`recommendations`]) and the rows as JSON (the schema of
//! `flt compare --json`).
//!
//! The page owns its URL query (`?n=256&d=64&seed=1&inputs=…&causal=…&backend=…`,
//! the names of `flt compare`'s flags): controls rewrite it, a memo parses
//! it into [`CompareSettings`]. A comparison runs when asked (Run), through
//! the page's job runner: progress per method, Cancel, and a change of
//! settings stops it and clears the table.

mod recommendations;
mod table;

use std::rc::Rc;

use leptos::prelude::Update as _;
use leptos::prelude::*;

use crate::chart::export::csv_of;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate};
use web_time::Instant;

use self::recommendations::Recommendations;
use self::table::CompareTable;
use crate::attention::MethodId;
use crate::data::LocalFuture;
use crate::gpu::GpuRunOptions;
use crate::pipeline::RunError;
use crate::pipeline::compare::{CompareRow, RowStatus, compare};
use crate::pipeline::jobs::{JobOutcome, JobStatus, Jobs};
use crate::settings::SettingsIssue;
use crate::settings::compare::{COMPARE, CompareSettings};
use crate::ui::backend;
use crate::ui::browser::yield_now;
use crate::ui::components::{
    BackendBadge, BackendInfo, Export, ExportButtons, RawData, SettingsIssues, SiteBase,
    SpecControls, Update, state_name,
};
use crate::ui::jobs::PageJobs;

/// The settings in the URL query, and the controls' way to change one
/// (rewriting the query in place).
fn query_settings() -> (Memo<CompareSettings>, Memo<Vec<SettingsIssue>>, Update) {
    let location = use_location();
    let parsed = Memo::new(move |_| CompareSettings::from_page_query(&location.search.get()));
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

/// Where a comparison delivers its rows.
#[derive(Clone, Copy)]
struct RunOut {
    /// One slot per registered method, filled as each finishes.
    rows: WriteSignal<Vec<Option<CompareRow>>>,
    /// The backend the comparison runs on.
    backend: WriteSignal<Option<BackendInfo>>,
    /// Seconds the whole comparison took.
    elapsed: WriteSignal<Option<f64>>,
}

/// One comparison, as a job of the page's runner.
fn run_job(
    jobs: Rc<Jobs<CompareSettings>>,
    generation: u64,
    settings: CompareSettings,
    out: RunOut,
) -> LocalFuture<'static, JobOutcome> {
    Box::pin(async move {
        let started = Instant::now();
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
        let host = jobs.host(generation, yield_now);
        let problem = settings.problem(GpuRunOptions::default(), true);
        let outcome = compare(&problem, &backend, &host, |index, row| {
            if jobs.is_current(generation) {
                out.rows.update(|rows| {
                    if let Some(slot) = rows.get_mut(index) {
                        *slot = Some(row.clone());
                    }
                });
            }
        })
        .await;
        if !jobs.is_current(generation) {
            return JobOutcome::Cancelled;
        }
        match outcome {
            Ok(rows) => {
                // The finished rows carry every ratio to exact attention.
                out.rows.set(rows.into_iter().map(Some).collect());
                out.elapsed.set(Some(started.elapsed().as_secs_f64()));
                JobOutcome::Done
            }
            Err(RunError::Cancelled) => JobOutcome::Cancelled,
            Err(e) => JobOutcome::Failed(e.to_string()),
        }
    })
}

/// The page.
#[component]
pub fn ComparePage() -> impl IntoView {
    let (settings, issues, update) = query_settings();
    let count = MethodId::ALL.len();
    let (slots, set_slots) = signal(vec![None::<CompareRow>; count]);
    let (backend, set_backend) = signal(None::<BackendInfo>);
    let (elapsed, set_elapsed) = signal(None::<f64>);
    let (cancelled, set_cancelled) = signal(false);
    let out = RunOut {
        rows: set_slots,
        backend: set_backend,
        elapsed: set_elapsed,
    };
    let page_jobs = PageJobs::new(move |jobs, generation, s| run_job(jobs, generation, s, out));
    let status = page_jobs.status;
    // The runner holds `Rc`s: a local arena slot, captured by handle.
    let jobs = StoredValue::new_local(page_jobs);
    // New settings: stop a comparison in progress; the table is for the
    // settings in the URL.
    Effect::new(move |_| {
        settings.track();
        jobs.with_value(|j| j.reset());
        set_slots.set(vec![None; count]);
        set_elapsed.set(None);
        set_cancelled.set(false);
    });
    on_cleanup(move || {
        jobs.try_with_value(|j| j.cancel());
    });
    let running = Memo::new(move |_| status.with(|s| matches!(s, JobStatus::Running { .. })));
    let start = move |_| {
        set_cancelled.set(false);
        set_slots.set(vec![None; count]);
        set_elapsed.set(None);
        jobs.with_value(|j| j.request(settings.get_untracked()));
    };
    let cancel = move |_| {
        jobs.with_value(|j| j.reset());
        set_cancelled.set(true);
    };
    // Every method's row: measured, skipped, failed, or its placeholder.
    let rows = Memo::new(move |_| {
        slots.with(|slots| {
            MethodId::ALL
                .iter()
                .zip(slots)
                .map(|(m, slot)| slot.clone().unwrap_or_else(|| CompareRow::info(*m)))
                .collect::<Vec<_>>()
        })
    });
    // The method running now: the first without a row while the job runs.
    let current = Memo::new(move |_| {
        if !running.get() {
            return None;
        }
        slots.with(|slots| {
            slots
                .iter()
                .position(Option::is_none)
                .map(|i| MethodId::ALL[i].key())
        })
    });
    let finished = Memo::new(move |_| {
        slots.with(|s| s.iter().flatten().cloned().collect::<Vec<CompareRow>>())
    });
    let json = Memo::new(move |_| {
        finished.with(|rows| {
            (!rows.is_empty())
                .then(|| serde_json::to_value(rows).ok())
                .flatten()
        })
    });
    let filename = Signal::derive(move || {
        let s = settings.get();
        let backend = finished.with(|rows| {
            rows.iter()
                .find_map(|r| r.backend.clone())
                .unwrap_or_else(|| s.backend.key().to_string())
        });
        format!(
            "compare-n{}-d{}-seed{}{}-{backend}.json",
            s.n,
            s.d,
            s.seed,
            if s.causal { "-causal" } else { "" }
        )
    });
    let base = use_context::<SiteBase>().unwrap_or_default().0;
    let values = Signal::derive(move || settings.get().to_pairs());

    view! {
        <main class="lab compare" data-testid="compare-page">
            <Explanation/>
            <section class="card controls-card">
                <div class="compare-controls">
                    <SpecControls specs=COMPARE values=values update=update inactive=|_, _| None/>
                    <div class="compare-buttons">
                        <button
                            class="primary"
                            data-testid="compare-run"
                            prop:disabled=move || running.get()
                            on:click=start
                        >
                            "Run the comparison"
                        </button>
                        <button
                            data-testid="compare-cancel"
                            prop:disabled=move || !running.get()
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
                    waiting=Signal::derive(|| "Backend chosen when the comparison runs".to_string())
                />
                <CompareStatus
                    status=status
                    cancelled=cancelled
                    finished=finished
                    elapsed=elapsed
                    count=count
                />
            </section>
            <CompareTable rows=rows current=current settings=settings base=base.clone()/>
            <ExportButtons
                chart="compare-table"
                export=Export::new(
                    move || {
                        (!finished.with(Vec::is_empty))
                            .then(|| filename.get().trim_end_matches(".json").to_string())
                    },
                    || Err("the comparison is a table: export it as CSV".to_string()),
                    move || finished.with_untracked(|rows| csv_of(rows)),
                )
                svg=false
            />
            <Recommendations rows=rows settings=settings base=base/>
            <RawData
                json=json
                filename=filename
                native="flt compare --json (one row per line)"
                testid="compare-measurement"
                heading="Raw data: one row per method"
            />
        </main>
    }
}

/// What the page does and how to read it.
#[component]
fn Explanation() -> impl IntoView {
    view! {
        <section class="card explanation">
            <h2>"Comprehensive Comparison, measured on this machine"</h2>
            <p>
                "Every registered attention method runs on the same seeded Q, K and V, one after the other, "
                "on this backend. The complexity and the \"best for\" are the survey's Summary Table (where the "
                "table leaves a method out, the paper named under it); everything else is measured here."
            </p>
            <ul class="legend">
                <li>
                    <b>"FLOPs and bytes, needed"</b>
                    ": what the method itself needs — the pairs of its pattern or the products of its factors; "
                    "its inputs, parameters and output moved once."
                </li>
                <li>
                    <b>"FLOPs and bytes, executed"</b>
                    ": what the timed kernels really do — masked pairs inside visited tiles, re-reads, feature maps; "
                    "on the CPU twin, the twin's own loops."
                </li>
                <li>
                    <b>"Time"</b>
                    ": on the GPU, the warm median of the method's kernels (GPU timestamps where the adapter has them); "
                    "on the CPU twin, the median of whole passes, fewer repeats for heavy methods so the page stays responsive."
                </li>
                <li>
                    <b>"rel_err"</b>
                    " against the exact model in f64, beside the two baselines every method must beat: outputting the mean "
                    "of V (uniform attention) and outputting zeros."
                </li>
            </ul>
            <p class="muted">
                "At unit-scale Gaussian inputs exact attention is close to uniform, so the mean of V is hard to beat. "
                "Try inputs = local for the windowed patterns, low-rank for Linformer and Nyström, clustered for the "
                "Reformer. Sort by clicking a column's header; each method's name opens its explorer with these settings."
            </p>
        </section>
    }
}

/// The comparison's status: idle, running (progress per method), done (a
/// summary), cancelled, or the error.
#[component]
fn CompareStatus(
    status: ReadSignal<JobStatus>,
    cancelled: ReadSignal<bool>,
    finished: Memo<Vec<CompareRow>>,
    elapsed: ReadSignal<Option<f64>>,
    count: usize,
) -> impl IntoView {
    let state = move || {
        let s = status.get();
        if cancelled.get() && s == JobStatus::Idle {
            "cancelled"
        } else {
            state_name(&s)
        }
    };
    let tally =
        move |what: RowStatus| finished.with(|r| r.iter().filter(|r| r.status == what).count());
    let done = move || finished.with(Vec::len);
    let text = move || match status.get() {
        JobStatus::Idle if cancelled.get() => {
            format!("Cancelled after {} of {count} methods.", done())
        }
        JobStatus::Idle => format!("Press Run to measure the {count} methods on this backend."),
        JobStatus::Stopped => format!("Stopped after {} of {count} methods.", done()),
        JobStatus::Running { stage, fraction } => {
            format!("{stage}… {:.0}%", fraction * 100.0)
        }
        JobStatus::Done => {
            let mut parts = vec![format!("{} measured", tally(RowStatus::Measured))];
            for (what, word) in [
                (RowStatus::Skipped, "skipped"),
                (RowStatus::Failed, "failed"),
            ] {
                let k = tally(what);
                if k > 0 {
                    parts.push(format!("{k} {word}"));
                }
            }
            let time = elapsed
                .get()
                .map(|s| format!(" in {s:.1} s"))
                .unwrap_or_default();
            format!("Done: {}{time}.", parts.join(", "))
        }
        JobStatus::Failed(e) => e,
    };
    let fraction = move || match status.get() {
        JobStatus::Running { fraction, .. } => Some(fraction),
        _ => None,
    };
    view! {
        <div
            class="run-status"
            data-testid="compare-status"
            data-state=state
            data-done=move || done().to_string()
            aria-live="polite"
        >
            {move || {
                fraction()
                    .map(|f| {
                        view! {
                            <progress
                                max="1"
                                value=f.to_string()
                                data-testid="compare-progress"
                            ></progress>
                        }
                    })
            }}
            <span class:error=move || state() == "error">{text}</span>
        </div>
    }
}

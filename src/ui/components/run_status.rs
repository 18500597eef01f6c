//! A job's progress: stage, progress bar (the work done, with the time
//! left), the error, and a Stop button while a run is in flight; and
//! [`Results`], which dims the results on screen while a newer run is in
//! flight (or after a Stop) and says which settings they belong to.

use leptos::prelude::*;

use crate::pipeline::jobs::JobStatus;
use crate::ui::jobs::ResultsState;

/// `data-state` of a status: idle, running, done, error or stopped.
pub fn state_name(status: &JobStatus) -> &'static str {
    match status {
        JobStatus::Idle => "idle",
        JobStatus::Running { .. } => "running",
        JobStatus::Done => "done",
        JobStatus::Failed(_) => "error",
        JobStatus::Stopped => "stopped",
    }
}

/// The test id beside a status line's: its final `-status` replaced by
/// `-{what}` (`run-status` → `run-error`, `int8-status` → `int8-error`).
fn beside(testid: &str, what: &str) -> String {
    match testid.strip_suffix("-status") {
        Some(prefix) => format!("{prefix}-{what}"),
        None => format!("{testid}-{what}"),
    }
}

/// Status line with a progress bar while running and a Stop button
/// (`data-testid="stop"` beside the page's main `run-status`, else
/// `<prefix>-stop`), enabled while a run is in flight; `superseded` counts
/// the jobs that stopped early because newer settings arrived.
#[component]
pub fn RunStatusLine(
    #[prop(into)] status: Signal<JobStatus>,
    #[prop(into)] superseded: Signal<u32>,
    /// The line's test id; its error's replaces a final `-status` with
    /// `-error` (`run-status` → `run-error`, `int8-status` → `int8-error`).
    #[prop(default = "run-status")]
    testid: &'static str,
    /// What it says before the first job.
    #[prop(default = "Waiting…")]
    idle: &'static str,
    /// The Stop button's action (`PageJobs::stop`); no button without it.
    #[prop(optional, into)]
    stop: Option<Callback<()>>,
) -> impl IntoView {
    let error_id = beside(testid, "error");
    let stop_id = if testid == "run-status" {
        "stop".to_string()
    } else {
        beside(testid, "stop")
    };
    let running = move || status.with(|s| matches!(s, JobStatus::Running { .. }));
    view! {
        <div
            class="run-status"
            data-testid=testid
            data-state=move || status.with(state_name)
            data-superseded=move || superseded.get().to_string()
            aria-live="polite"
        >
            {move || match status.get() {
                JobStatus::Idle => view! { <span>{idle}</span> }.into_any(),
                JobStatus::Running { stage, fraction } => {
                    view! {
                        <progress max="1" value=fraction.to_string()></progress>
                        <span>{format!("{stage}… {:.0}%", fraction * 100.0)}</span>
                    }
                        .into_any()
                }
                JobStatus::Done => view! { <span>"Done."</span> }.into_any(),
                JobStatus::Stopped => {
                    view! { <span>"Stopped: the run was stopped before it finished."</span> }
                        .into_any()
                }
                JobStatus::Failed(message) => {
                    view! {
                        <span class="error" data-testid=error_id.clone() role="alert">
                            {message}
                        </span>
                    }
                        .into_any()
                }
            }}
            {stop
                .map(|stop| {
                    view! {
                        <button
                            class="stop"
                            data-testid=stop_id.clone()
                            prop:disabled=move || !running()
                            on:click=move |_| stop.run(())
                        >
                            "Stop"
                        </button>
                    }
                })}
        </div>
    }
}

/// The results of a runner: dimmed (class `stale`, `aria-busy` while a run
/// is in flight) whenever they are not those of the newest settings — a run
/// in progress, or stopped — with a line naming the settings they belong
/// to (`data-testid="results-for"`, or `<testid>-for`).
#[component]
pub fn Results(
    /// The runner's results state (`PageJobs::results`).
    state: ResultsState,
    /// The wrapper's test id.
    #[prop(default = "results")]
    testid: &'static str,
    children: Children,
) -> impl IntoView {
    let running = move || {
        state
            .status
            .with(|s| matches!(s, JobStatus::Running { .. }))
    };
    let stopped = move || state.status.with(|s| matches!(s, JobStatus::Stopped));
    let stale = move || (running() || stopped()) && state.shown.with(Option::is_some);
    let note = move || {
        let shown = state.shown.get()?;
        if running() {
            let newer = state
                .requested
                .get()
                .filter(|r| *r != shown)
                .map(|r| format!(" A run for {r} is in progress."))
                .unwrap_or_else(|| " A new run is in progress.".into());
            Some(format!("Previous results, for {shown}.{newer}"))
        } else if stopped() {
            Some(format!(
                "Stopped: these results are from the previous run, for {shown}."
            ))
        } else {
            None
        }
    };
    let note_id = format!("{testid}-for");
    let note_id = if testid == "results" {
        "results-for".to_string()
    } else {
        note_id
    };
    view! {
        <div
            class="results"
            class:stale=stale
            data-testid=testid
            data-stale=move || stale().to_string()
            aria-busy=move || running().to_string()
        >
            {move || {
                note()
                    .map(|text| {
                        view! {
                            <p class="results-for" data-testid=note_id.clone() role="status">
                                {text}
                            </p>
                        }
                    })
            }}
            {children()}
        </div>
    }
}

//! A job's progress: stage, progress bar, or the error.

use leptos::prelude::*;

use crate::pipeline::jobs::JobStatus;

/// `data-state` of a status: idle, running, done or error.
pub fn state_name(status: &JobStatus) -> &'static str {
    match status {
        JobStatus::Idle => "idle",
        JobStatus::Running { .. } => "running",
        JobStatus::Done => "done",
        JobStatus::Failed(_) => "error",
    }
}

/// Status line with a progress bar while running; `superseded` counts the
/// jobs that stopped early because newer settings arrived.
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
) -> impl IntoView {
    let error_id = match testid.strip_suffix("-status") {
        Some(prefix) => format!("{prefix}-error"),
        None => format!("{testid}-error"),
    };
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
                JobStatus::Failed(message) => {
                    view! {
                        <span class="error" data-testid=error_id.clone() role="alert">
                            {message}
                        </span>
                    }
                        .into_any()
                }
            }}
        </div>
    }
}

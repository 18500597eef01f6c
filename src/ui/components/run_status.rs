//! The run's progress: stage, progress bar, or the error.

use leptos::prelude::*;

use crate::ui::runner::RunStatus;

/// Status line with a progress bar while running.
#[component]
pub fn RunStatusLine(status: ReadSignal<RunStatus>, superseded: ReadSignal<u32>) -> impl IntoView {
    let state = move || match status.get() {
        RunStatus::Idle => "idle",
        RunStatus::Running { .. } => "running",
        RunStatus::Done => "done",
        RunStatus::Failed(_) => "error",
    };
    view! {
        <div
            class="run-status"
            data-testid="run-status"
            data-state=state
            data-superseded=move || superseded.get().to_string()
            aria-live="polite"
        >
            {move || match status.get() {
                RunStatus::Idle => view! { <span>"Waiting…"</span> }.into_any(),
                RunStatus::Running { stage, fraction } => view! {
                    <progress max="1" value=fraction.to_string()></progress>
                    <span>{format!("{stage}… {:.0}%", fraction * 100.0)}</span>
                }
                .into_any(),
                RunStatus::Done => view! { <span>"Done."</span> }.into_any(),
                RunStatus::Failed(message) => view! {
                    <span class="error" data-testid="run-error" role="alert">{message}</span>
                }
                .into_any(),
            }}
        </div>
    }
}

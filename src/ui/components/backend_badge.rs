//! "WebGPU — <adapter>" or "CPU — WebGPU unavailable: <reason>".

use leptos::prelude::*;

use crate::ui::runner::BackendInfo;

/// The backend badge.
#[component]
pub fn BackendBadge(backend: ReadSignal<Option<BackendInfo>>) -> impl IntoView {
    view! {
        <span
            class="badge"
            class:badge-gpu=move || backend.get().is_some_and(|b| b.kind == "gpu")
            class:badge-cpu=move || backend.get().is_some_and(|b| b.kind == "cpu")
            data-testid="backend-badge"
            data-backend=move || backend.get().map(|b| b.kind).unwrap_or("")
        >
            {move || backend.get().map(|b| b.label).unwrap_or_else(|| "Looking for WebGPU…".into())}
        </span>
    }
}

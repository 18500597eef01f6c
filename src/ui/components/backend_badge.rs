//! "WebGPU — <adapter>" or "CPU — WebGPU unavailable: <reason>".

use leptos::prelude::*;

/// What the badge shows: plain data, whatever the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    /// `"gpu"` or `"cpu"`.
    pub kind: &'static str,
    /// E.g. "WebGPU — SwiftShader Device" or "CPU — WebGPU unavailable: ...".
    pub label: String,
}

/// The backend badge.
#[component]
pub fn BackendBadge(
    #[prop(into)] backend: Signal<Option<BackendInfo>>,
    /// The badge's test id.
    #[prop(default = "backend-badge")]
    testid: &'static str,
    /// What it says before a job has chosen the backend.
    #[prop(optional, into)]
    waiting: Option<Signal<String>>,
) -> impl IntoView {
    let kind = move || backend.with(|b| b.as_ref().map(|b| b.kind).unwrap_or(""));
    view! {
        <span
            class="badge"
            class:badge-gpu=move || kind() == "gpu"
            class:badge-cpu=move || kind() == "cpu"
            data-testid=testid
            data-backend=kind
        >
            {move || {
                backend
                    .with(|b| b.as_ref().map(|b| b.label.clone()))
                    .or_else(|| waiting.map(|w| w.get()))
                    .unwrap_or_else(|| "Looking for WebGPU…".into())
            }}
        </span>
    }
}

//! "WebGPU — <adapter>" or "CPU — <reason>"; when `auto` chose the CPU twin
//! over a software GPU, a link that runs the same settings on the GPU
//! (`backend=gpu`).

use leptos::prelude::*;

/// What the badge shows: plain data, whatever the lab.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BackendInfo {
    /// `"gpu"` or `"cpu"`.
    pub kind: &'static str,
    /// E.g. "WebGPU — SwiftShader Device" or "CPU — WebGPU unavailable: ...".
    pub label: String,
    /// Whether a GPU exists that `auto` passed over (a software adapter):
    /// the badge offers it.
    pub offer_gpu: bool,
}

/// The address of this page with `key=gpu` in its query.
fn with_gpu(key: &str) -> Option<String> {
    let location = web_sys::window()?.location();
    let path = location.pathname().ok()?;
    let search = location.search().ok()?;
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(search.trim_start_matches('?').as_bytes()) {
        if k != key {
            query.append_pair(&k, &v);
        }
    }
    query.append_pair(key, "gpu");
    Some(format!("{path}?{}", query.finish()))
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
    /// The URL key of this section's backend choice (for the GPU offer).
    #[prop(default = "backend")]
    backend_key: &'static str,
) -> impl IntoView {
    let kind = move || backend.with(|b| b.as_ref().map(|b| b.kind).unwrap_or(""));
    let offer = move || backend.with(|b| b.as_ref().is_some_and(|b| b.offer_gpu));
    let offer_id = format!("{testid}-offer-gpu");
    let search = leptos_router::hooks::use_location().search;
    view! {
        <span
            class="badge"
            class:badge-gpu=move || kind() == "gpu"
            class:badge-cpu=move || kind() == "cpu"
            data-testid=testid
            data-backend=kind
            data-gpu-offered=move || offer().to_string()
        >
            {move || {
                backend
                    .with(|b| b.as_ref().map(|b| b.label.clone()))
                    .or_else(|| waiting.map(|w| w.get()))
                    .unwrap_or_else(|| "Looking for WebGPU…".into())
            }}
        </span>
        {move || {
            offer()
                .then(|| {
                    view! {
                        <a
                            class="offer-gpu"
                            data-testid=offer_id.clone()
                            href=move || {
                                search.track();
                                with_gpu(backend_key).unwrap_or_default()
                            }
                        >
                            "Run on the GPU anyway"
                        </a>
                    }
                })
        }}
    }
}

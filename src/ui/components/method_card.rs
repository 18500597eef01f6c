//! What the selected method is: its equation, its paper, and how it runs.

use leptos::prelude::*;

use crate::settings::Settings;

/// The method description card.
#[component]
pub fn MethodCard(settings: Memo<Settings>) -> impl IntoView {
    view! {
        <section class="card method-card">
            {move || {
                let info = settings.get().method.info();
                view! {
                    <h2>{format!("{} ({})", info.label, info.family)}</h2>
                    <p class="equation">{info.equation}</p>
                    <p class="muted">{info.paper}</p>
                    <p>{explanation(info.key)}</p>
                }
            }}
        </section>
    }
}

fn explanation(key: &str) -> &'static str {
    match key {
        "full" => {
            "Every query is scored against every key, so time grows as n²·d and a materialised \
             attention matrix needs 4n² bytes — the bottleneck the survey sets out to remove. \
             On the GPU it runs twice: a materialising path (scores, row softmax, P·V) whose matrix \
             feeds the heatmap when it fits, and a fused online-softmax kernel in the style of \
             FlashAttention that never stores the n×n matrix (O(n) memory); the fused kernel is the \
             one timed, and its row statistics let the GPU pool the heatmap at any n."
        }
        _ => "",
    }
}

//! (being written)

use leptos::prelude::*;

/// The page.
#[component]
pub fn ScalingPage() -> impl IntoView {
    view! { <main class="lab" data-testid="scaling-page"></main> }
}

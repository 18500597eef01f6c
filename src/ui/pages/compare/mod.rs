//! (being written)

use leptos::prelude::*;

/// The page.
#[component]
pub fn ComparePage() -> impl IntoView {
    view! { <main class="lab" data-testid="compare-page"></main> }
}

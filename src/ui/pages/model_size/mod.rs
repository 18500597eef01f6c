//! The model-size lab (`/compression/model-size`) — being written.

use leptos::prelude::*;

/// The page.
#[component]
pub fn ModelSizePage() -> impl IntoView {
    view! { <main class="lab" data-testid="model-size-page"></main> }
}

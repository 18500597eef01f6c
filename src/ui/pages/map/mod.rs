//! (being written)

use leptos::prelude::*;

/// The page.
#[component]
pub fn MapPage() -> impl IntoView {
    view! { <main class="lab" data-testid="map-page"></main> }
}

//! (being written)

use leptos::prelude::*;

/// The section.
#[component]
pub fn QatSection() -> impl IntoView {
    view! { <section class="lab-section"></section> }
}

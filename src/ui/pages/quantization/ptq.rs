//! (being written)

use leptos::prelude::*;

/// The section.
#[component]
pub fn PtqSection() -> impl IntoView {
    view! { <section class="lab-section"></section> }
}

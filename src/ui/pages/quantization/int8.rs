//! (being written)

use leptos::prelude::*;

/// The section.
#[component]
pub fn Int8Section() -> impl IntoView {
    view! { <section class="lab-section"></section> }
}

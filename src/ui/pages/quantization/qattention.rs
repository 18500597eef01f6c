//! (being written)

use leptos::prelude::*;

/// The section.
#[component]
pub fn QuantizedAttentionSection() -> impl IntoView {
    view! { <section class="lab-section"></section> }
}

//! What the selected method is: its equation, its paper, and how it runs
//! (the prose lives in the method registry, [`crate::attention::MethodInfo`]).

use leptos::prelude::*;

use crate::attention::MethodId;

/// The method description card.
#[component]
pub fn MethodCard(#[prop(into)] method: Signal<MethodId>) -> impl IntoView {
    view! {
        <section class="card method-card">
            {move || {
                let info = method.get().info();
                view! {
                    <h2>{format!("{} ({})", info.label, info.family)}</h2>
                    <p class="equation">{info.equation}</p>
                    <p class="muted">{info.paper}</p>
                    <p>{info.explanation}</p>
                }
            }}
        </section>
    }
}

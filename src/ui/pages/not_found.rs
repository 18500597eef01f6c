//! The page for an address that is no lab: says so and lists the labs.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::ui::components::LabLinks;

/// "No such page", with links to every lab.
#[component]
pub fn NotFound() -> impl IntoView {
    let location = use_location();
    view! {
        <main class="explorer">
            <section class="card" data-testid="not-found">
                <h2>"No such page"</h2>
                <p>
                    "There is nothing at " <code>{move || location.pathname.get()}</code>
                    ". The labs are:"
                </p>
                <LabLinks/>
            </section>
        </main>
    }
}

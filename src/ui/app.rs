//! The application shell: router (for the URL query), header and footer.

use leptos::prelude::*;
use leptos_router::components::Router;

use super::pages::explorer::ExplorerPage;

/// The whole app.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <header class="site-header">
                <h1>"flt-explorer"</h1>
                <p class="subtitle">
                    "Efficient attention, run for real on your GPU — a companion to "
                    <cite>"A Practical Survey on Faster and Lighter Transformers"</cite>
                    " (Fournier, Caron & Aloise, ACM Computing Surveys 2023)."
                </p>
            </header>
            <ExplorerPage/>
            <footer class="site-footer">
                "Every figure on this page is computed in your browser: WGSL compute shaders through WebGPU, "
                "checked against an f32 CPU twin and an exact f64 reference. "
                "The same kernels run natively with the "<code>"flt"</code>" command-line tool."
            </footer>
        </Router>
    }
}

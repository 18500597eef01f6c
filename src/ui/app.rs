//! The application shell: the router, with one route per lab of
//! [`LABS`] (`/attention`, …) and `/` for the survey's map (with a query,
//! the attention explorer, so that old links such as
//! `/?method=full&n=1024` keep working); header with the navigation, and
//! footer. An unknown address shows [`NotFound`].
//!
//! A static host serves `404.html` (a copy of `index.html`, see
//! `Trunk.toml`) for a deep link such as `/attention?n=128`; the router then
//! reads the address and shows the lab.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::hooks::{use_location, use_params_map};
use leptos_router::path;

use super::browser;
use super::components::{LabNav, RunNotices, SiteBase};
use super::pages::NotFound;
use super::pages::compare::ComparePage;
use super::pages::explorer::ExplorerPage;
use super::pages::lessons::LessonsPage;
use super::pages::map::MapPage;
use super::pages::model_size::ModelSizePage;
use super::pages::quantization::QuantizationPage;
use super::pages::scaling::ScalingPage;
use crate::pipeline::labs::LABS;

/// The page of the lab of `family`: one line per lab.
fn lab_page(family: Option<&str>) -> AnyView {
    match family {
        Some("attention") => view! { <ExplorerPage/> }.into_any(),
        Some("compare") => view! { <ComparePage/> }.into_any(),
        Some("scaling") => view! { <ScalingPage/> }.into_any(),
        Some("quantization") => view! { <QuantizationPage/> }.into_any(),
        Some("model-size") => view! { <ModelSizePage/> }.into_any(),
        Some("lessons") => view! { <LessonsPage lab=lab_page/> }.into_any(),
        _ => view! { <NotFound/> }.into_any(),
    }
}

/// `/`: the survey's map; with a query, the attention explorer (old links
/// such as `/?method=full&n=1024` keep reproducing their runs).
#[component]
fn Home() -> impl IntoView {
    let location = use_location();
    // A memo: a control's change of the query must not rebuild the page.
    let explorer = Memo::new(move |_| !location.search.get().trim_start_matches('?').is_empty());
    move || {
        if explorer.get() {
            lab_page(LABS.first().map(|lab| lab.family))
        } else {
            view! { <MapPage/> }.into_any()
        }
    }
}

/// `/<lab>` or `/<section>/<lab>`: the lab whose route it is in [`LABS`],
/// or [`NotFound`].
#[component]
fn LabRoute() -> impl IntoView {
    let params = use_params_map();
    // A memo: a change of the query (a control) must not rebuild the page.
    let family = Memo::new(move |_| {
        let (section, lab) = params.with(|p| (p.get("section"), p.get("lab").unwrap_or_default()));
        let route = match section {
            Some(section) => format!("/{section}/{lab}"),
            None => format!("/{lab}"),
        };
        LABS.iter()
            .find(|lab| lab.route == route)
            .map(|lab| lab.family)
    });
    move || lab_page(family.get())
}

/// The whole app.
#[component]
pub fn App() -> impl IntoView {
    let base = browser::site_base();
    provide_context(SiteBase(base.clone()));
    view! {
        <Router base=base>
            <header class="site-header">
                <h1>"flt-explorer"</h1>
                <p class="subtitle">
                    "Efficient attention and model compression, run for real on your GPU — a companion to "
                    <cite>"A Practical Survey on Faster and Lighter Transformers"</cite>
                    " (Fournier, Caron & Aloise, ACM Computing Surveys 2023)."
                </p>
                <LabNav/>
            </header>
            <RunNotices/>
            <Routes fallback=NotFound>
                <Route path=path!("/") view=Home/>
                <Route path=path!("/lessons/*rest") view=|| view! { <LessonsPage lab=lab_page/> }/>
                <Route path=path!("/:lab") view=LabRoute/>
                <Route path=path!("/:section/:lab") view=LabRoute/>
            </Routes>
            <footer class="site-footer">
                "Every figure on these pages is computed in your browser: WGSL compute shaders through WebGPU, "
                "checked against an f32 CPU twin and an exact f64 reference (model sizes are arithmetic on the architecture). "
                "The same kernels run natively with the "<code>"flt"</code>" command-line tool."
            </footer>
        </Router>
    }
}

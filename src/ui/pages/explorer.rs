//! The attention explorer: pick a method, n, d, seed and causality; see the
//! attention pattern, the counted and measured cost, and the error against
//! exact attention (survey §"Efficient Attention Mechanisms").

use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate};

use crate::run::RunOutput;
use crate::settings::Settings;
use crate::ui::components::{
    BackendBadge, Controls, ErrorLaw, Heatmap, MeasurementPanel, MethodCard, PatternView, RawData,
    RunStatusLine, SettingsIssues,
};
use crate::ui::runner::{BackendInfo, RunStatus, Runner};

/// The explorer page.
#[component]
pub fn ExplorerPage() -> impl IntoView {
    let location = use_location();
    let parsed = Memo::new(move |_| Settings::from_query(&location.search.get()));
    let settings = Memo::new(move |_| parsed.get().0);
    let issues = Memo::new(move |_| parsed.get().1);

    let navigate = use_navigate();
    let pathname = location.pathname;
    // A control sets one key to the text it holds; the URL changes, the memo
    // above re-parses it, and the effect below runs the new settings.
    let update = move |key: &'static str, value: String| {
        let query = settings.get_untracked().query_with(key, &value);
        let url = format!("{}?{query}", pathname.get_untracked());
        navigate(
            &url,
            NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    };

    let (status, set_status) = signal(RunStatus::Idle);
    let (result, set_result) = signal(None::<Arc<RunOutput>>);
    let (backend, set_backend) = signal(None::<BackendInfo>);
    let (superseded, set_superseded) = signal(0u32);
    let runner = Runner::new(set_status, set_result, set_backend, set_superseded);
    Effect::new(move |_| runner.request(settings.get()));

    view! {
        <main class="explorer">
            <section class="card controls-card">
                <Controls settings=settings update=update/>
                <SettingsIssues issues=issues/>
            </section>
            <section class="status-row">
                <BackendBadge backend=backend/>
                <RunStatusLine status=status superseded=superseded/>
            </section>
            <div class="grid">
                <section class="card">
                    <Heatmap result=result/>
                </section>
                <section class="card">
                    <PatternView result=result/>
                </section>
            </div>
            <section class="card">
                <MeasurementPanel result=result/>
            </section>
            <ErrorLaw settings=settings/>
            <MethodCard settings=settings/>
            <RawData result=result/>
        </main>
    }
}

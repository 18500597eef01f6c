//! The attention explorer (`/attention`, and `/`): pick a method, n, d,
//! seed and causality; see the attention pattern, the counted and measured
//! cost, and the error against exact attention (survey §"Efficient
//! Attention Mechanisms").
//!
//! The page owns its URL query: controls rewrite it, a memo parses it into
//! [`Settings`], and the page's job runner runs the newest settings,
//! superseding older requests. Old links (`/?method=full&n=1024&...`) keep
//! working: `/` is this page too.

mod run;
mod views;

use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate};

use self::run::{ExplorerJob, RunOut, run_settings};
use self::views::ViewData;
use crate::pipeline::attention::Measurement;
use crate::settings::{Settings, SettingsIssue};
use crate::ui::components::{
    BackendBadge, BackendInfo, Controls, EffectiveContext, ErrorLaw, Heatmap, MeasurementPanel,
    MethodCard, PatternView, Pooled, RawData, Results, RunStatusLine, SettingsIssues, Update,
};
use crate::ui::jobs::PageJobs;

/// The settings in the URL query, and the control's way to change one:
/// `update(key, raw text)` rewrites the query (replacing the history entry),
/// which the memo re-parses.
fn query_settings() -> (Memo<Settings>, Memo<Vec<SettingsIssue>>, Update) {
    let location = use_location();
    let parsed = Memo::new(move |_| Settings::from_page_query(&location.search.get()));
    let settings = Memo::new(move |_| parsed.get().0);
    let navigate = use_navigate();
    let pathname = location.pathname;
    // The address is rewritten to the settings actually used (a link with
    // bad, repeated or foreign values, or in another order); the messages
    // about what was changed stay shown after the rewrite, until the next
    // change.
    let (shown, set_shown) = signal(Vec::<SettingsIssue>::new());
    let rewriting = StoredValue::new(false);
    let normalise = navigate.clone();
    Effect::new(move |_| {
        let (s, found) = parsed.get();
        let by_us = rewriting.get_value();
        rewriting.set_value(false);
        if !(found.is_empty() && by_us) {
            set_shown.set(found);
        }
        let query = s.to_query();
        if location.search.get_untracked().trim_start_matches('?') != query {
            rewriting.set_value(true);
            normalise(
                &format!("{}?{query}", pathname.get_untracked()),
                NavigateOptions {
                    resolve: false,
                    replace: true,
                    scroll: false,
                    ..Default::default()
                },
            );
        }
    });
    let issues = Memo::new(move |_| shown.get());
    let update: Box<dyn Fn(&'static str, String)> = Box::new(move |key, value| {
        let query = settings.get_untracked().query_with(key, &value);
        let url = format!("{}?{query}", pathname.get_untracked());
        navigate(
            &url,
            NavigateOptions {
                resolve: false,
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    });
    (settings, issues, StoredValue::new_local(update))
}

/// The explorer page.
#[component]
pub fn ExplorerPage() -> impl IntoView {
    let (settings, issues, update) = query_settings();
    let (report, set_report) = signal(None::<Arc<Measurement>>);
    let (backend, set_backend) = signal(None::<BackendInfo>);
    let out = RunOut {
        report: set_report,
        backend: set_backend,
    };
    let jobs = PageJobs::new(move |jobs, generation, job| run_settings(jobs, generation, job, out));
    let (status, superseded, results, stop) =
        (jobs.status, jobs.superseded, jobs.results, jobs.stop);
    // The runner holds `Rc`s: a local arena slot, captured by handle.
    let jobs = StoredValue::new_local(jobs);
    // The first run (the effect's first pass: no previous value) is the
    // address's, a link's: a large n asks first.
    Effect::new(move |previous: Option<()>| {
        let settings = settings.get();
        let from_link = previous.is_none();
        jobs.with_value(|j| {
            j.request(ExplorerJob {
                settings,
                from_link,
            })
        });
    });
    on_cleanup(move || {
        jobs.try_with_value(|j| j.cancel());
    });
    let data = ViewData::new(report);
    let method = Signal::derive(move || settings.with(|s| s.method));

    view! {
        <main class="explorer" data-testid="explorer-page">
            <section class="card controls-card">
                <Controls settings=settings update=update/>
                <SettingsIssues issues=issues/>
            </section>
            <section class="status-row">
                <BackendBadge backend=backend/>
                <RunStatusLine status=status superseded=superseded stop=stop/>
            </section>
            <Results state=results>
                <Views data=data/>
                <section class="card">
                    <MeasurementPanel report=report/>
                </section>
            </Results>
            <ErrorLaw settings=settings/>
            <EffectiveContext settings=settings/>
            <MethodCard method=method/>
            <Results state=results testid="results-json">
                <RawData json=data.json filename=data.filename native="flt run --json"/>
            </Results>
        </main>
    }
}

/// The weights and the pattern, side by side.
#[component]
fn Views(data: ViewData) -> impl IntoView {
    view! {
        <div class="grid">
            <section class="card">
                <Heatmap
                    map=Signal::derive(move || data.weights.get().map(Pooled::from))
                    title=data.heatmap_title
                    caption=data.heatmap_caption
                    stem=data.stem
                />
            </section>
            <section class="card">
                <PatternView
                    pattern=data.pattern
                    factor=data.factor
                    buckets=data.buckets
                    title=data.pattern_title
                    caption=data.pattern_caption
                    stem=data.stem
                />
            </section>
        </div>
    }
}

//! The model-size lab (`/compression/model-size`; survey §"Weight Sharing",
//! §"Combining Techniques", §"Comprehensive Comparison"): a configuration
//! editor starting from a model preset, its parameter count part by part
//! and its size at every precision; the Model Size Comparison figure live,
//! with the survey's size claims recomputed beside it; every model's count
//! against its published one; the Combining Techniques calculator; the
//! report as JSON (the schema of `flt size --json`).
//!
//! The page owns its URL query (`?model=albert-base&layers=24&…`, the
//! names of `flt size`'s flags): controls rewrite it, a memo parses it into
//! [`ModelSizeSettings`], and the page's job runner runs the model-size lab
//! on the CPU — it is arithmetic; no GPU is looked for.

mod calculator;
mod controls;
mod tables;
mod views;

use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate};

use self::calculator::Calculator;
use self::controls::ConfigEditor;
use self::tables::{ClaimsTable, ModelsTable};
use self::views::{Breakdown, ComparisonChart, Headline, SizesTable};
use crate::data::LocalFuture;
use crate::pipeline::jobs::{JobOutcome, Jobs};
use crate::pipeline::model_size::{CPU_ONLY, ModelSizeLab, ModelSizeReport};
use crate::pipeline::{Backend, Lab, RunError};
use crate::settings::SettingsIssue;
use crate::settings::model_size::ModelSizeSettings;
use crate::ui::browser::yield_now;
use crate::ui::components::{
    BackendBadge, BackendInfo, RawData, RunStatusLine, SettingsIssues, Update,
};
use crate::ui::jobs::PageJobs;

/// The last report, shared by the views.
pub type ReportSignal = ReadSignal<Option<Arc<ModelSizeReport>>>;

/// The settings in the URL query and the controls' way to change one.
fn query_settings() -> (Memo<ModelSizeSettings>, Memo<Vec<SettingsIssue>>, Update) {
    let location = use_location();
    let parsed = Memo::new(move |_| ModelSizeSettings::from_query(&location.search.get()));
    let settings = Memo::new(move |_| parsed.get().0);
    let issues = Memo::new(move |_| parsed.get().1);
    let navigate = use_navigate();
    let pathname = location.pathname;
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

/// The backend: the CPU, always (the badge says why).
fn backend() -> Backend {
    Backend::Cpu {
        reason: Some(CPU_ONLY.into()),
    }
}

/// One run of the lab, as a job of the page's runner.
fn run_job(
    jobs: Rc<Jobs<ModelSizeSettings>>,
    generation: u64,
    settings: ModelSizeSettings,
    out: WriteSignal<Option<Arc<ModelSizeReport>>>,
) -> LocalFuture<'static, JobOutcome> {
    Box::pin(async move {
        let host = jobs.host(generation, yield_now);
        let problem = settings.problem();
        let outcome = ModelSizeLab.run(&problem, &backend(), &host).await;
        if !jobs.is_current(generation) {
            return JobOutcome::Cancelled;
        }
        match outcome {
            Ok(report) => {
                out.set(Some(Arc::new(report)));
                JobOutcome::Done
            }
            Err(RunError::Cancelled) => JobOutcome::Cancelled,
            Err(e) => {
                out.set(None);
                JobOutcome::Failed(e.to_string())
            }
        }
    })
}

/// The page.
#[component]
pub fn ModelSizePage() -> impl IntoView {
    let (settings, issues, update) = query_settings();
    let (report, set_report) = signal(None::<Arc<ModelSizeReport>>);
    let jobs = PageJobs::new(move |jobs, generation, settings| {
        run_job(jobs, generation, settings, set_report)
    });
    let (status, superseded, stop) = (jobs.status, jobs.superseded, jobs.stop);
    let jobs = StoredValue::new_local(jobs);
    Effect::new(move |_| {
        let settings = settings.get();
        jobs.with_value(|j| j.request(settings));
    });
    on_cleanup(move || {
        jobs.try_with_value(|j| j.cancel());
    });
    let badge = Signal::derive(move || {
        Some(BackendInfo {
            kind: "cpu",
            label: "CPU — arithmetic on the configuration (this lab has no GPU kernel)".into(),
            offer_gpu: false,
        })
    });
    let json = Memo::new(move |_| report.with(|r| serde_json::to_value(r.as_deref()?).ok()));
    let filename = Signal::derive(move || {
        report.with(|r| {
            r.as_ref()
                .map(|r| format!("model-size-{}.json", r.envelope.method))
                .unwrap_or_else(|| "model-size.json".into())
        })
    });

    view! {
        <main class="model-size" data-testid="model-size-page">
            <Intro/>
            <section class="status-row">
                <BackendBadge backend=badge/>
                <RunStatusLine status=status superseded=superseded stop=stop/>
            </section>
            <div class="size-grid">
                <section class="card editor-card">
                    <h2>"Configuration"</h2>
                    <ConfigEditor settings=settings update=update/>
                    <SettingsIssues issues=issues/>
                </section>
                <section class="card count-card">
                    <Headline report=report/>
                    <Breakdown report=report/>
                </section>
            </div>
            <section class="card">
                <SizesTable report=report/>
            </section>
            <div class="size-grid comparison-grid">
                <section class="card chart-card">
                    <ComparisonChart report=report/>
                </section>
                <section class="card">
                    <ClaimsTable report=report/>
                </section>
            </div>
            <section class="card">
                <ModelsTable report=report/>
            </section>
            <section class="card calculator-card" data-testid="calculator">
                <Calculator settings=settings update=update report=report/>
            </section>
            <RawData json=json filename=filename native="flt size --json"/>
        </main>
    }
}

/// What the lab is and where its numbers come from.
#[component]
fn Intro() -> impl IntoView {
    view! {
        <section class="card intro">
            <h2>"Model size: parameters counted from the architecture"</h2>
            <p>
                "Every count on this page comes from one formula applied to a model's configuration — "
                "the embedding tables (token, position, token type) and their norm, per layer the "
                "attention projections Q, K, V, O with biases, two norms and the feed-forward network, "
                "then the pooler or final norm and the output layer — with ALBERT's factorised embedding "
                "(V·E + E·H instead of V·H) and cross-layer sharing (one layer stored for all), and "
                "MobileBERT's bottlenecks. It reproduces the counts Hugging Face's implementations hold "
                "exactly, and each model's published count is shown beside it, with the difference explained."
            </p>
            <p class="formula">
                "one plain layer = 4H² + 2HF + F + 9H  (Q, K, V, O: 4(H² + H); FFN: 2HF + F + H; two norms: 4H)"
            </p>
        </section>
    }
}

//! Post-training quantization of a weight matrix (the section the route's
//! URL parameters drive): the scheme's controls, the user's own `.npy`, the
//! figures beside their baseline and the law, the histogram with the grid,
//! the error map, and the sweep of schemes.

use std::rc::Rc;
use std::sync::Arc;

use leptos::html::Input;
use leptos::prelude::*;
use ndarray::Array2;

use super::sweep::SchemeSweep;
use super::url::section_query;
use super::views::{ErrorMap, Figures, HistogramCard};
use crate::compress::quantize::Format;
use crate::data::LocalFuture;
use crate::gpu::GpuRunOptions;
use crate::inputs::parse_npy;
use crate::pipeline::RunError;
use crate::pipeline::jobs::{JobOutcome, Jobs};
use crate::pipeline::quantization::{MAX_ELEMENTS, QuantizationProblem, QuantizationReport, run};
use crate::settings::quantization::{QUANT, QuantSettings, Section};
use crate::ui::backend;
use crate::ui::browser::{read_chosen_file, yield_now};
use crate::ui::components::{
    BackendBadge, BackendInfo, RawData, Results, RunStatusLine, SettingsIssues, SpecControls,
};
use crate::ui::jobs::PageJobs;

/// The user's matrix, parsed.
#[derive(Clone)]
pub struct Upload {
    /// The file's name.
    pub name: String,
    /// Its values.
    pub weights: Arc<Array2<f32>>,
}

/// What a run quantizes.
#[derive(Clone)]
pub struct Job {
    /// The settings from the URL.
    pub settings: QuantSettings,
    /// The user's matrix instead of the seeded one.
    pub upload: Option<Upload>,
}

impl Job {
    /// The problem: the user's matrix under the scheme, or the seeded one.
    pub fn problem(&self) -> Result<QuantizationProblem, RunError> {
        let options = GpuRunOptions::default();
        match &self.upload {
            None => Ok(self.settings.problem(options)),
            Some(u) => {
                let p = QuantizationProblem::from_matrix(&u.name, (*u.weights).clone())?;
                Ok(QuantizationProblem {
                    options,
                    ..p.with_scheme(self.settings.scheme)
                })
            }
        }
    }
}

/// Where a run delivers what it found.
#[derive(Clone, Copy)]
struct RunOut {
    report: WriteSignal<Option<Arc<QuantizationReport>>>,
    backend: WriteSignal<Option<BackendInfo>>,
}

/// One run, as a job of the section's runner.
fn run_job(
    jobs: Rc<Jobs<Job>>,
    generation: u64,
    job: Job,
    out: RunOut,
) -> LocalFuture<'static, JobOutcome> {
    Box::pin(async move {
        let (backend, _turn) =
            match backend::start_job(&jobs, generation, job.settings.backend, Some(out.backend))
                .await
            {
                Ok(started) => started,
                Err(outcome) => return outcome,
            };
        let problem = match job.problem() {
            Ok(p) => p,
            Err(e) => return JobOutcome::Failed(e.to_string()),
        };
        let host = jobs.host(generation, yield_now);
        let outcome = run(&problem, &backend, &host).await;
        if !jobs.is_current(generation) {
            return JobOutcome::Cancelled;
        }
        match outcome {
            Ok(report) => {
                out.report.set(Some(Arc::new(report)));
                JobOutcome::Done
            }
            Err(RunError::Cancelled) => JobOutcome::Cancelled,
            Err(e) => {
                out.report.set(None);
                JobOutcome::Failed(e.to_string())
            }
        }
    })
}

/// The settings' pairs after a control sets `key` to `raw`.
fn rewrite(pairs: &[(String, String)], key: &str, raw: &str) -> Vec<(String, String)> {
    let (settings, _) = QuantSettings::from_pairs(pairs.to_vec());
    let mut next = settings.to_pairs();
    match next.iter_mut().find(|(k, _)| k == key) {
        Some(pair) => pair.1 = raw.to_string(),
        None => next.push((key.to_string(), raw.to_string())),
    }
    next
}

/// Why a knob does not apply to the settings `pairs` describe.
fn inactive(key: &str, pairs: &[(String, String)]) -> Option<&'static str> {
    let (s, _) = QuantSettings::from_pairs(pairs.to_vec());
    let scheme = s.scheme;
    match key {
        "bits" if scheme.format != Format::Int => Some("bits applies to format=int"),
        "mode" if scheme.format != Format::Int => {
            Some("fp8 scales symmetrically; fp16 and bf16 are casts")
        }
        "mode" if scheme.binary() => Some("binary is sign(x)·mean|x|: no zero point"),
        "granularity" | "group-size" if !scheme.scaled() => {
            Some("fp16 and bf16 are casts: no scales")
        }
        "group-size" if scheme.granularity.key() != "group" => {
            Some("group-size applies to granularity=group")
        }
        "clip" if !scheme.clips() => Some("binary and the casts choose no range"),
        _ => None,
    }
}

/// The PTQ section.
#[component]
pub fn PtqSection() -> impl IntoView {
    let (pairs, update) = section_query(Section::Weights, rewrite);
    let parsed = Memo::new(move |_| QuantSettings::from_pairs(pairs.get()));
    let settings = Memo::new(move |_| parsed.get().0);
    let issues = Memo::new(move |_| parsed.get().1);
    let shown = Signal::derive(move || settings.get().to_pairs());
    let (upload, set_upload) = signal(None::<Upload>);
    let (report, set_report) = signal(None::<Arc<QuantizationReport>>);
    let (backend, set_backend) = signal(None::<BackendInfo>);
    let out = RunOut {
        report: set_report,
        backend: set_backend,
    };
    let jobs = PageJobs::new(move |jobs, generation, job| run_job(jobs, generation, job, out));
    let (status, superseded, stop, results) =
        (jobs.status, jobs.superseded, jobs.stop, jobs.results);
    let jobs = StoredValue::new_local(jobs);
    Effect::new(move |_| {
        let job = Job {
            settings: settings.get(),
            upload: upload.get(),
        };
        jobs.with_value(|j| j.request(job));
    });
    on_cleanup(move || {
        jobs.try_with_value(|j| j.cancel());
    });
    let json = Memo::new(move |_| report.with(|r| serde_json::to_value(r.as_deref()?).ok()));
    let filename = Signal::derive(move || {
        report.with(|r| {
            r.as_ref().map_or("quantization.json".into(), |r| {
                let f = &r.figures;
                format!(
                    "quantization-{}-{}bit-{}.json",
                    f.format, f.bits, f.granularity
                )
            })
        })
    });
    let job = Signal::derive(move || Job {
        settings: settings.get(),
        upload: upload.get(),
    });
    view! {
        <section class="lab-section" data-testid="ptq-section">
            <h2 class="section-title">"Post-training quantization of a weight matrix"</h2>
            <Explanation/>
            <section class="card controls-card">
                <SpecControls specs=QUANT values=shown update=update inactive=inactive/>
                <WeightsFile upload=upload set_upload=set_upload/>
                <SettingsIssues issues=Signal::derive(move || issues.get())/>
            </section>
            <section class="status-row">
                <BackendBadge backend=backend/>
                <RunStatusLine status=status superseded=superseded stop=stop/>
            </section>
            <Results state=results testid="ptq-results">
                <Figures report=report/>
                <div class="grid">
                    <section class="card">
                        <HistogramCard report=report/>
                    </section>
                    <section class="card">
                        <ErrorMap report=report/>
                    </section>
                </div>
            </Results>
            <SchemeSweep job=job/>
            <Results state=results testid="ptq-results-json">
                <RawData json=json filename=filename native="flt quantize --json"/>
            </Results>
        </section>
    }
}

/// The formula and what each knob does.
#[component]
fn Explanation() -> impl IntoView {
    view! {
        <div class="card explanation">
            <p class="equation">"Q(x) = clamp(round(x / s) + z, q_min, q_max)      x̂ = s · (Q(x) − z)"</p>
            <p class="muted">
                "Every group of weights shares a scale s (and, asymmetric, a zero point z): symmetric "
                "s = max|x| / (2^(b−1) − 1), z = 0; asymmetric s = (max − min) / (2^b − 1) over the range widened to hold 0, "
                "z = round(−min / s). Binary keeps sign(x)·mean|x|. fp8 scales each group by max|x| / fp8_max and rounds to "
                "the format; fp16 and bf16 are plain casts. Rounding is half to even, as NumPy and PyTorch round. "
                "With clip = mse each group tries the ranges α·range, α = 1.00, 0.99, …, 0.01, and keeps the one of least "
                "squared error. Sizes count the packed codes plus every group's f32 scale and one-byte zero point."
            </p>
        </div>
    }
}

/// Largest `.npy` the page reads: the lab's limit in float64.
const MAX_FILE_BYTES: f64 = (MAX_ELEMENTS * 8 + 65536) as f64;

/// The user's `.npy`: chosen, parsed and checked here; its errors shown.
#[component]
fn WeightsFile(
    upload: ReadSignal<Option<Upload>>,
    set_upload: WriteSignal<Option<Upload>>,
) -> impl IntoView {
    let input = NodeRef::<Input>::new();
    let (error, set_error) = signal(None::<String>);
    let choose = move |_| {
        let Some(element) = input.get() else { return };
        leptos::task::spawn_local(async move {
            match read_chosen_file(&element, MAX_FILE_BYTES).await {
                Ok(Some((name, bytes))) => match parse_npy(&name, &bytes) {
                    Ok(w) => match crate::pipeline::quantization::check_shape(w.nrows(), w.ncols())
                    {
                        Ok(()) => {
                            set_error.set(None);
                            set_upload.set(Some(Upload {
                                name,
                                weights: Arc::new(w),
                            }));
                        }
                        Err(e) => set_error.set(Some(format!("{name}: {e}"))),
                    },
                    Err(e) => set_error.set(Some(e.to_string())),
                },
                Ok(None) => {}
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    let clear = move |_| {
        set_upload.set(None);
        set_error.set(None);
        if let Some(element) = input.get() {
            element.set_value("");
        }
    };
    view! {
        <div class="control file-control">
            <span>"Your weights (.npy, 2-D float16/32/64)"</span>
            <input
                type="file"
                accept=".npy"
                aria-label="Your weights (.npy, 2-D float16/32/64)"
                node_ref=input
                data-testid="weights-file"
                on:change=choose
            />
            {move || {
                upload
                    .get()
                    .map(|u| {
                        let (r, c) = u.weights.dim();
                        view! {
                            <span data-testid="weights-file-loaded">
                                {format!("{} — {r} × {c}; the seeded-weights knobs are ignored ", u.name)}
                                <button data-testid="weights-file-clear" on:click=clear>
                                    "use seeded weights"
                                </button>
                            </span>
                        }
                    })
            }}
            {move || {
                error
                    .get()
                    .map(|e| {
                        view! {
                            <span class="error" data-testid="weights-file-error" role="alert">
                                {e}
                            </span>
                        }
                    })
            }}
        </div>
    }
}

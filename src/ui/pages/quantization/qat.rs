//! QAT against PTQ, live (survey §"Quantization", "Two Main Approaches";
//! Jacob et al. 2018): a 2-layer MLP trained in the page — on WebGPU or the
//! CPU twin — in f32, quantized after training at 4, 3 and 2 bits, then
//! fine-tuned with fake quantization and the straight-through estimator.
//! The charts fill in while it trains; the table, the badge and the raw
//! JSON (the schema of `flt qat --json`) follow the finished report.
//!
//! The section owns the `qat-` parameters of the page's query (controls
//! rewrite them) and follows the page's `backend` parameter. Its runs go
//! through the page's job runner: pressing Train again stops the run in
//! progress at its next epoch and starts afresh.

use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate};
use web_sys::HtmlCanvasElement;
use web_time::Instant;

use crate::chart::export::{csv_number, csv_table, file_stem, svg_string};
use crate::chart::qat::{draw_accuracy, draw_losses};
use crate::compress::qat::levels;
use crate::data::LocalFuture;
use crate::pipeline::RunError;
use crate::pipeline::jobs::{JobOutcome, JobStatus, Jobs};
use crate::pipeline::qat::{QatReport, QatSnapshot, run_observed};
use crate::settings::qat::{QatSettings, SPECS};
use crate::settings::{Kind, SettingsIssue, Spec};
use crate::ui::backend;
use crate::ui::browser::{download, yield_now};
use crate::ui::components::{
    BackendBadge, BackendInfo, CanvasChart, Export, SettingsIssues, num, plot_area, state_name,
};
use crate::ui::jobs::PageJobs;

/// Snapshots reach the charts at most this often while training (ms): a
/// chart redrawn after every epoch would slow the CPU twin down.
const REDRAW_MS: f64 = 120.0;

/// Where a run delivers what it finds.
#[derive(Clone, Copy)]
struct RunOut {
    snapshot: WriteSignal<QatSnapshot>,
    report: WriteSignal<Option<Arc<QatReport>>>,
    backend: WriteSignal<Option<BackendInfo>>,
}

/// One training run, as a job of the section's runner.
fn run_job(
    jobs: Rc<Jobs<QatSettings>>,
    generation: u64,
    settings: QatSettings,
    out: RunOut,
) -> LocalFuture<'static, JobOutcome> {
    Box::pin(async move {
        let (backend, _turn) = match backend::start_job(
            &jobs,
            generation,
            settings.backend,
            Some(out.backend),
        )
        .await
        {
            Ok(started) => started,
            Err(outcome) => return outcome,
        };
        out.report.set(None);
        out.snapshot.set(QatSnapshot::default());
        let host = jobs.host(generation, yield_now);
        let last = std::cell::Cell::new(None::<Instant>);
        let seen_accuracies = std::cell::Cell::new(0usize);
        let observe = |s: &QatSnapshot| {
            if !jobs.is_current(generation) {
                return;
            }
            // Accuracies as soon as they are known; losses every REDRAW_MS.
            let accuracies = s.f32_test_accuracy.is_some() as usize
                + s.bits
                    .iter()
                    .map(|b| 1 + b.qat_test_accuracy.is_some() as usize)
                    .sum::<usize>();
            let due = last
                .get()
                .is_none_or(|t| t.elapsed().as_secs_f64() * 1e3 >= REDRAW_MS);
            if accuracies != seen_accuracies.get() || due {
                seen_accuracies.set(accuracies);
                last.set(Some(Instant::now()));
                out.snapshot.set(s.clone());
            }
        };
        let outcome = run_observed(&settings.problem(), &backend, &host, &observe).await;
        if !jobs.is_current(generation) {
            return JobOutcome::Cancelled;
        }
        match outcome {
            Ok(report) => {
                out.snapshot.set(QatSnapshot::from(&report.figures));
                out.report.set(Some(Arc::new(report)));
                JobOutcome::Done
            }
            Err(RunError::Cancelled) => JobOutcome::Cancelled,
            Err(e) => JobOutcome::Failed(e.to_string()),
        }
    })
}

/// The section's settings from the page's query, and a way to change one
/// knob (rewriting the query in place, other sections' parameters kept).
type SetKnob = StoredValue<Box<dyn Fn(&'static str, String)>, LocalStorage>;

fn query_settings() -> (Memo<QatSettings>, Memo<Vec<SettingsIssue>>, SetKnob) {
    let location = use_location();
    let parsed = Memo::new(move |_| QatSettings::from_query(&location.search.get()));
    let settings = Memo::new(move |_| parsed.get().0);
    let issues = Memo::new(move |_| parsed.get().1);
    let navigate = use_navigate();
    let (pathname, search) = (location.pathname, location.search);
    let set: Box<dyn Fn(&'static str, String)> = Box::new(move |key, value| {
        let query = QatSettings::query_with(&search.get_untracked(), key, &value);
        navigate(
            &format!("{}?{query}", pathname.get_untracked()),
            NavigateOptions {
                resolve: false,
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    });
    (settings, issues, StoredValue::new_local(set))
}

/// The section.
#[component]
pub fn QatSection() -> impl IntoView {
    let (settings, issues, set_knob) = query_settings();
    let (snapshot, set_snapshot) = signal(QatSnapshot::default());
    let (report, set_report) = signal(None::<Arc<QatReport>>);
    let (backend, set_backend) = signal(None::<BackendInfo>);
    let out = RunOut {
        snapshot: set_snapshot,
        report: set_report,
        backend: set_backend,
    };
    let page_jobs = PageJobs::new(move |jobs, generation, s| run_job(jobs, generation, s, out));
    let (status, superseded, stop) = (page_jobs.status, page_jobs.superseded, page_jobs.stop);
    let jobs = StoredValue::new_local(page_jobs);
    on_cleanup(move || {
        jobs.try_with_value(|j| j.cancel());
    });
    let train = move |_| jobs.with_value(|j| j.request(settings.get_untracked()));
    let running = move || status.with(|s| matches!(s, JobStatus::Running { .. }));

    view! {
        <section class="card lab-section qat" data-testid="qat-section" id="qat">
            <div class="card-head">
                <h2>"QAT against PTQ: quantize a model you just trained, then train it quantized"</h2>
                <BackendBadge
                    backend=backend
                    testid="qat-backend"
                    waiting=Signal::derive(move || {
                        format!("backend={} — chosen when you train", settings.get().backend.key())
                    })
                />
            </div>
            <Explanation/>
            <div class="controls qat-controls">
                {SPECS
                    .iter()
                    .map(|spec| view! { <Knob spec=spec settings=settings set_knob=set_knob/> })
                    .collect_view()}
                <button class="qat-train" data-testid="qat-run" on:click=train>
                    {move || if running() { "Restart" } else { "Train" }}
                </button>
                <button data-testid="qat-stop" prop:disabled=move || !running() on:click=move |_| stop.run(())>"Stop"</button>
            </div>
            <SettingsIssues issues=issues testid="qat-issues"/>
            <Status status=status superseded=superseded report=report/>
            <div class="grid qat-charts">
                <figure class="qat-figure">
                    <CanvasChart
                        testid="qat-chart"
                        width=640
                        height=360
                        aria_label="test accuracy against bits for PTQ and QAT, with the f32 model and chance"
                        what="Cannot draw the accuracy chart"
                        draw=move |canvas: &HtmlCanvasElement| {
                            snapshot.with(|s| {
                                draw_accuracy(&plot_area(canvas)?, s).map_err(|e| e.to_string())?;
                                Ok(s.f32_test_accuracy.is_some())
                            })
                        }
                        export=Export::new(
                            move || {
                                snapshot
                                    .with(|s| s.f32_test_accuracy.is_some())
                                    .then(|| format!("{}_accuracy", settings.with(qat_stem)))
                            },
                            move || {
                                snapshot.with_untracked(|s| {
                                    svg_string((640, 360), |root| draw_accuracy(root, s).map_err(|e| e.to_string()))
                                        .map(|(svg, ())| svg)
                                })
                            },
                            move || Ok(snapshot.with_untracked(accuracy_csv)),
                        )
                    />
                    <details class="numbers" data-testid="qat-chart-numbers">
                        <summary>"The numbers drawn"</summary>
                        <p>{move || snapshot.with(accuracy_summary)}</p>
                    </details>
                    <figcaption class="caption">
                        "Held-out test accuracy. PTQ: the f32 weights rounded onto the grid. "
                        "QAT: fine-tuned through the quantizer, then rounded the same way."
                    </figcaption>
                </figure>
                <figure class="qat-figure">
                    <CanvasChart
                        testid="qat-loss-chart"
                        width=640
                        height=360
                        aria_label="training loss per epoch: f32 training, then QAT at each bit width"
                        what="Cannot draw the loss chart"
                        draw=move |canvas: &HtmlCanvasElement| {
                            snapshot.with(|s| {
                                draw_losses(&plot_area(canvas)?, s).map_err(|e| e.to_string())?;
                                Ok(!s.f32_train_loss.is_empty())
                            })
                        }
                        export=Export::new(
                            move || {
                                (!snapshot.with(|s| s.f32_train_loss.is_empty()))
                                    .then(|| format!("{}_loss", settings.with(qat_stem)))
                            },
                            move || {
                                snapshot.with_untracked(|s| {
                                    svg_string((640, 360), |root| draw_losses(root, s).map_err(|e| e.to_string()))
                                        .map(|(svg, ())| svg)
                                })
                            },
                            move || Ok(snapshot.with_untracked(loss_csv)),
                        )
                    />
                    <details class="numbers" data-testid="qat-loss-chart-numbers">
                        <summary>"The numbers drawn"</summary>
                        <p>{move || snapshot.with(loss_summary)}</p>
                    </details>
                    <figcaption class="caption">
                        "Mean cross-entropy of each epoch's mini-batches (before each update). "
                        "A QAT curve starts where the quantized f32 model stands. At 2 bits it is jagged: "
                        "latent weights sitting at a rounding threshold flip between levels from step to step "
                        "(the oscillations studied by Nagel et al., ICML 2022)."
                    </figcaption>
                </figure>
            </div>
            <ResultsTable snapshot=snapshot report=report/>
            <RawJson report=report/>
        </section>
    }
}

/// What PTQ, QAT and the straight-through estimator are, and what runs.
#[component]
fn Explanation() -> impl IntoView {
    view! {
        <p class="qat-lead">
            "The survey's two ways to quantize (§Quantization: PTQ “fast, easy, some accuracy loss”, QAT “better accuracy, requires retraining”), "
            "run for real on a model trained here, now. At 4 bits both are as good as f32; at 2 bits PTQ collapses and QAT wins most of it back."
        </p>
        <div class="qat-explain">
            <div class="qat-idea">
                <h3>"PTQ — round after training"</h3>
                <p>
                    "The trained weights are rounded onto a symmetric grid, one scale per output row: "
                    <span class="equation">"s = max|w| / (2"<sup>"b−1"</sup>" − 1)"</span>", "
                    <span class="equation">"ŵ = s · round(w / s)"</span>
                    " (half to even). No data, no training. At 2 bits the grid is "
                    <span class="equation">"{−s, 0, +s}"</span>" and most weights become 0."
                </p>
            </div>
            <div class="qat-idea">
                <h3>"QAT — train through the rounding"</h3>
                <p>
                    "Fine-tune with the quantizer inside the forward pass (“fake quantization”, Jacob et al., CVPR 2018): the loss sees ŵ, "
                    "so training moves the latent f32 weights w to where their rounded values work. The model is then rounded exactly as PTQ rounds it."
                </p>
            </div>
            <div class="qat-idea">
                <h3>"STE — a gradient for round()"</h3>
                <p>
                    "Rounding has zero gradient almost everywhere, so the backward pass pretends it is the identity (straight-through estimator, Bengio et al. 2013): "
                    <span class="equation">"∂ŵ/∂w ≈ 1"</span>". With min-max scales no weight lies outside the grid, so the clipped STE is the same here; s gets no gradient."
                </p>
            </div>
        </div>
        <p class="muted qat-what">
            "What runs: a 2-layer MLP, 24 inputs → H ReLU units → 6 classes, on a seeded task — each class a mixture of 3 Gaussian clusters in ℝ²⁴, "
            "so no straight line separates them — with 2048 training and 2048 held-out test examples. Mini-batch SGD with momentum and a hand-written backward pass, "
            "on WebGPU (WGSL kernels) or the CPU twin (the same loops; "<code>"flt qat"</code>" prints the same numbers). "
            "Weights only: biases and activations stay f32, as in weight-only quantization of large models. "
            "Try seed 10 (PTQ falls furthest), 16 hidden units, or 2 QAT epochs."
        </p>
    }
}

/// One knob from the settings table, as a number field that rewrites the
/// page's query on `change`.
#[component]
fn Knob(spec: &'static Spec, settings: Memo<QatSettings>, set_knob: SetKnob) -> impl IntoView {
    let (min, max) = match spec.kind {
        Kind::Int { min, max, .. } => (min.to_string(), max.to_string()),
        _ => (String::new(), String::new()),
    };
    let value = move || {
        settings.with(|s| match spec.key {
            "seed" => s.seed.to_string(),
            "hidden" => s.hidden.to_string(),
            "epochs" => s.epochs.to_string(),
            _ => s.qat_epochs.to_string(),
        })
    };
    let set = move |v: String| {
        if !v.trim().is_empty() {
            set_knob.with_value(|f| f(spec.key, v));
        }
    };
    view! {
        <label class="control" title=spec.help>
            <span>{spec.label}</span>
            <input
                type="number"
                data-testid=format!("qat-control-{}", spec.key)
                min=min
                max=max
                step="1"
                prop:value=value
                on:change=move |ev| set(event_target_value(&ev))
            />
        </label>
    }
}

/// State, progress and the headline of the finished run.
#[component]
fn Status(
    status: ReadSignal<JobStatus>,
    superseded: ReadSignal<u32>,
    report: ReadSignal<Option<Arc<QatReport>>>,
) -> impl IntoView {
    let text = move || match status.get() {
        JobStatus::Idle => {
            "Press Train: about a second on the CPU twin, a few on a software GPU.".to_string()
        }
        JobStatus::Running { stage, fraction } => format!("{stage}… {:.0}%", fraction * 100.0),
        JobStatus::Failed(e) => e,
        JobStatus::Stopped => "Stopped: training was stopped before it finished.".into(),
        JobStatus::Done => report.with(|r| r.as_ref().map(|r| headline(r)).unwrap_or_default()),
    };
    view! {
        <div
            class="run-status qat-status"
            data-testid="qat-status"
            data-state=move || status.with(state_name)
            data-superseded=move || superseded.get().to_string()
            aria-live="polite"
        >
            {move || match status.get() {
                JobStatus::Running { fraction, .. } => {
                    Some(view! { <progress max="1" value=fraction.to_string()></progress> })
                }
                _ => None,
            }}
            <span class:error=move || status.with(|s| matches!(s, JobStatus::Failed(_)))>{text}</span>
        </div>
    }
}

/// One sentence on the finished run.
fn headline(r: &QatReport) -> String {
    let f = &r.figures;
    let percent = |x: f64| format!("{:.1}%", 100.0 * x);
    let lowest = f.per_bits.iter().min_by_key(|b| b.bits);
    let story = lowest
        .map(|b| {
            format!(
                " At {} bits PTQ gives {}, QAT {}.",
                b.bits,
                percent(b.ptq_test_accuracy),
                percent(b.qat_test_accuracy)
            )
        })
        .unwrap_or_default();
    format!(
        "Done in {:.1} s: f32 {}.{story}",
        f.total_ms / 1e3,
        percent(f.f32_test_accuracy)
    )
}

/// The grid's values: s·{−1, 0, 1}, s·{−3, …, 3}.
fn grid(l: u32) -> String {
    if l == 1 {
        "s·{−1, 0, 1}".into()
    } else {
        format!("s·{{−{l}, …, {l}}}")
    }
}

/// Bytes of the model with weights at `bits` (`None`: f32), per-row f32
/// scales and f32 biases.
fn model_bytes(r: &QatReport, bits: Option<u32>) -> f64 {
    let f = &r.figures;
    let rows = (f.hidden + f.classes) as f64;
    let biases = (f.params - f.weights) as f64 * 4.0;
    match bits {
        None => f.params as f64 * 4.0,
        Some(b) => f.weights as f64 * b as f64 / 8.0 + rows * 4.0 + biases,
    }
}

/// f32, then PTQ and QAT at each width: accuracies, the gain, the grid and
/// the model's size.
#[component]
fn ResultsTable(
    snapshot: ReadSignal<QatSnapshot>,
    report: ReadSignal<Option<Arc<QatReport>>>,
) -> impl IntoView {
    let percent = |x: Option<f64>, what: &'static str| {
        x.map(|x| num(format!("{:.1}%", 100.0 * x), what).into_any())
            .unwrap_or_else(|| "…".into_any())
    };
    const SIZE: &str = "Model size: quantized weights × bits / 8, plus one f32 scale per row and the f32 biases (f32: every parameter × 4 bytes)";
    let size = move |bits: Option<u32>| {
        report.with(|r| {
            r.as_ref()
                .map(|r| num(format!("{:.2} KB", model_bytes(r, bits) / 1e3), SIZE).into_any())
                .unwrap_or_else(|| "—".into_any())
        })
    };
    view! {
        <Show when=move || snapshot.with(|s| s.f32_test_accuracy.is_some())>
            <table class="figure-table qat-table" data-testid="qat-table">
                <thead>
                    <tr>
                        <th>"Weights"</th>
                        <th>"Grid"</th>
                        <th class="num">"PTQ test accuracy"</th>
                        <th class="num">"QAT test accuracy"</th>
                        <th class="num">"QAT − PTQ"</th>
                        <th class="num">"Model size"</th>
                    </tr>
                </thead>
                <tbody>
                    <tr>
                        <td class="x-label">"f32 (trained)"</td>
                        <td class="muted">"—"</td>
                        <td class="num" colspan="2">
                            {move || percent(
                                snapshot.with(|s| s.f32_test_accuracy),
                                "Test accuracy of the f32 model: correct predictions / test examples",
                            )}
                        </td>
                        <td class="num muted">"—"</td>
                        <td class="num">{move || size(None)}</td>
                    </tr>
                    {move || {
                        snapshot
                            .get()
                            .bits
                            .into_iter()
                            .map(|b| {
                                let gain = b.qat_test_accuracy.map(|q| 100.0 * (q - b.ptq_test_accuracy));
                                let l = levels(b.bits);
                                view! {
                                    <tr data-bits=b.bits.to_string()>
                                        <td class="x-label">{format!("{} bits", b.bits)}</td>
                                        <td class="muted x-label">{grid(l)}</td>
                                        <td class="num ptq">
                                            {percent(
                                                Some(b.ptq_test_accuracy),
                                                "PTQ test accuracy: the trained f32 weights rounded to this grid after training; correct / test examples",
                                            )}
                                        </td>
                                        <td class="num qat">
                                            {percent(
                                                b.qat_test_accuracy,
                                                "QAT test accuracy: trained with the weights fake-quantized to this grid (straight-through gradients); correct / test examples",
                                            )}
                                        </td>
                                        <td
                                            class="num"
                                            class:gain=gain.is_some_and(|g| g >= 0.05)
                                            class:loss=gain.is_some_and(|g| g <= -0.05)
                                        >
                                            {gain
                                                .map(|g| {
                                                    num(
                                                        format!("{g:+.1} pt"),
                                                        "QAT − PTQ: the difference of the two test accuracies, in percentage points",
                                                    )
                                                    .into_any()
                                                })
                                                .unwrap_or_else(|| "…".into_any())}
                                        </td>
                                        <td class="num">{size(Some(b.bits))}</td>
                                    </tr>
                                }
                            })
                            .collect_view()
                    }}
                </tbody>
            </table>
            <Timings report=report/>
        </Show>
    }
}

/// Where the time went and how it was measured.
#[component]
fn Timings(report: ReadSignal<Option<Arc<QatReport>>>) -> impl IntoView {
    move || {
        report.with(|r| {
            r.as_ref().map(|r| {
                let (f, e) = (&r.figures, &r.envelope);
                let qat = f
                    .per_bits
                    .iter()
                    .map(|b| format!("{:.2} ms at {} bits", b.qat_epoch_ms, b.bits))
                    .collect::<Vec<_>>()
                    .join(", ");
                view! {
                    <p class="caption qat-timings" data-testid="qat-timings">
                        {format!(
                            "Model sizes count the quantized weights, one f32 scale per row and the f32 biases. \
                             Epoch ({} mini-batches of {}): {:.2} ms in f32; QAT {qat}. {} \
                             {:.1} MFLOP per f32 epoch ({:.2} GFLOP/s). Whole run {:.1} s on {} ({}).",
                            f.train_examples.div_ceil(f.batch),
                            f.batch,
                            f.f32_epoch_ms,
                            f.epoch_timing,
                            e.flops as f64 / 1e6,
                            e.gflops,
                            f.total_ms / 1e3,
                            e.adapter,
                            e.api,
                        )}
                    </p>
                }
            })
        })
    }
}

/// The report as JSON (`flt qat --json`), with a download button.
#[component]
fn RawJson(report: ReadSignal<Option<Arc<QatReport>>>) -> impl IntoView {
    let text = Memo::new(move |_| {
        report.with(|r| {
            r.as_ref()
                .and_then(|r| serde_json::to_string_pretty(r.as_ref()).ok())
                .unwrap_or_default()
        })
    });
    let (error, set_error) = signal(None::<String>);
    let save = move |_| {
        let body = text.get_untracked();
        if !body.is_empty() {
            let seed = report.with_untracked(|r| r.as_ref().map(|r| r.figures.seed).unwrap_or(0));
            set_error.set(
                download(
                    &format!("flt-qat-seed{seed}.json"),
                    "application/json",
                    &body,
                )
                .err(),
            );
        }
    };
    view! {
        <div class="raw-data qat-raw">
            <div class="card-head">
                <h3>"Raw data"</h3>
                <button
                    data-testid="qat-download"
                    prop:disabled=move || text.with(String::is_empty)
                    on:click=save
                >
                    "Download JSON"
                </button>
            </div>
            <p class="muted">"The same schema as " <code>"flt qat --json"</code> "."</p>
            <pre data-testid="qat-measurement" class:empty=move || text.with(String::is_empty)>
                {move || text.get()}
            </pre>
            {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        </div>
    }
}

/// The exports' stem after the QAT settings: `qat_s1_h32_e20_qe5`.
fn qat_stem(s: &QatSettings) -> String {
    file_stem(
        "qat",
        &[
            ("seed", s.seed.to_string()),
            ("hidden", s.hidden.to_string()),
            ("epochs", s.epochs.to_string()),
            ("qat-epochs", s.qat_epochs.to_string()),
        ],
    )
}

/// The accuracy chart's data: per bit width, PTQ and QAT test accuracy,
/// beside the f32 model's and chance.
fn accuracy_csv(s: &QatSnapshot) -> String {
    let f32_acc = s.f32_test_accuracy.map_or_else(String::new, csv_number);
    let chance = csv_number(1.0 / s.classes.max(1) as f64);
    let rows = s.bits.iter().map(|b| {
        vec![
            b.bits.to_string(),
            csv_number(b.ptq_test_accuracy),
            b.qat_test_accuracy.map_or_else(String::new, csv_number),
            f32_acc.clone(),
            chance.clone(),
        ]
    });
    csv_table(
        &[
            "bits",
            "ptq_test_accuracy",
            "qat_test_accuracy",
            "f32_test_accuracy",
            "chance",
        ],
        rows,
    )
}

/// The loss chart's data: one line per series and epoch.
fn loss_csv(s: &QatSnapshot) -> String {
    let f32_rows = s
        .f32_train_loss
        .iter()
        .enumerate()
        .map(|(e, l)| vec!["f32".to_string(), (e + 1).to_string(), csv_number(*l)]);
    let qat_rows = s.bits.iter().flat_map(|b| {
        b.qat_train_loss.iter().enumerate().map(move |(e, l)| {
            vec![
                format!("qat {} bits", b.bits),
                (e + 1).to_string(),
                csv_number(*l),
            ]
        })
    });
    csv_table(&["series", "epoch", "train_loss"], f32_rows.chain(qat_rows))
}

fn accuracy_summary(s: &QatSnapshot) -> String {
    let Some(f) = s.f32_test_accuracy else {
        return "Nothing trained yet.".into();
    };
    let per_bits: Vec<String> = s
        .bits
        .iter()
        .map(|b| {
            format!(
                "{} bits: PTQ {}%, QAT {}",
                b.bits,
                crate::format::num(100.0 * b.ptq_test_accuracy),
                b.qat_test_accuracy.map_or("—".into(), |q| format!(
                    "{}%",
                    crate::format::num(100.0 * q)
                ))
            )
        })
        .collect();
    format!(
        "f32 model {}%, chance {}%; {}.",
        crate::format::num(100.0 * f),
        crate::format::num(100.0 / s.classes.max(1) as f64),
        per_bits.join("; ")
    )
}

fn loss_summary(s: &QatSnapshot) -> String {
    let last = |l: &[f64]| l.last().map_or("—".into(), |x| crate::format::num(*x));
    let mut parts = vec![format!(
        "f32: {} epochs, last loss {}",
        s.f32_train_loss.len(),
        last(&s.f32_train_loss)
    )];
    parts.extend(
        s.bits
            .iter()
            .filter(|b| !b.qat_train_loss.is_empty())
            .map(|b| {
                format!(
                    "QAT {} bits: {} epochs, last loss {}",
                    b.bits,
                    b.qat_train_loss.len(),
                    last(&b.qat_train_loss)
                )
            }),
    );
    format!("{}.", parts.join("; "))
}

//! Quantized attention — where the survey's two halves meet: an attention
//! method from the registry on Q, K and V quantized to b bits (one scale
//! per token or per channel), beside the same method on the f32 inputs.
//! Three errors tell them apart: the method's approximation alone (f32
//! inputs against exact attention), quantization alone (b-bit against f32
//! inputs, the same method), and both compounded (b-bit inputs against
//! exact attention). Its settings are the attention lab's, under `qa-`
//! in the page's URL (`qa-method=linformer&qa-qkv-bits=4`).

use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;

use crate::chart::export::attention_stem;

use super::url::section_query;
use crate::data::LocalFuture;
use crate::format;
use crate::gpu::GpuRunOptions;
use crate::pipeline::attention::{Measurement, run};
use crate::pipeline::jobs::{JobOutcome, Jobs};
use crate::pipeline::{RunError, repeats};
use crate::settings::quantization::Section;
use crate::settings::{COMMON, Settings};
use crate::ui::backend;
use crate::ui::browser::yield_now;
use crate::ui::components::{
    BackendBadge, BackendInfo, Heatmap, Pooled, RawData, Results, RunStatusLine, SettingsIssues,
    SpecControls, num,
};
use crate::ui::jobs::PageJobs;

/// The section's URL prefix.
const PREFIX: &str = "qa-";
/// Bits when the URL does not say.
const DEFAULT_BITS: &str = "4";

/// The section's pairs with its defaults (4-bit Q, K, V).
fn with_defaults(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut out = pairs.to_vec();
    if !out.iter().any(|(k, _)| k == "qkv-bits") {
        out.push(("qkv-bits".into(), DEFAULT_BITS.into()));
    }
    out
}

/// The pairs after a control sets `key` to `raw` (`qkv-bits` kept even
/// at 0, which the attention settings leave out, so that 0 stays 0).
fn rewrite(pairs: &[(String, String)], key: &str, raw: &str) -> Vec<(String, String)> {
    let (s, _) = Settings::from_pairs(with_defaults(pairs));
    let mut next = crate::settings::parse_query(&s.query_with(key, raw));
    if !next.iter().any(|(k, _)| k == "qkv-bits") {
        next.push(("qkv-bits".into(), "0".into()));
    }
    next
}

/// Every knob applies.
fn inactive(_: &str, _: &[(String, String)]) -> Option<&'static str> {
    None
}

/// The two runs of a job.
#[derive(Clone)]
struct Pair {
    f32: Arc<Measurement>,
    quantized: Arc<Measurement>,
}

fn run_job(
    jobs: Rc<Jobs<Settings>>,
    generation: u64,
    settings: Settings,
    out: (WriteSignal<Option<Pair>>, WriteSignal<Option<BackendInfo>>),
) -> LocalFuture<'static, JobOutcome> {
    Box::pin(async move {
        let (backend, _turn) =
            match backend::start_job(&jobs, generation, settings.backend, Some(out.1)).await {
                Ok(started) => started,
                Err(outcome) => return outcome,
            };
        let mut quantized = settings
            .problem_yielding(GpuRunOptions::default(), &crate::ui::browser::yield_now)
            .await;
        if !jobs.is_current(generation) {
            return JobOutcome::Cancelled;
        }
        let shape = quantized.shape();
        let flops = quantized
            .method
            .method()
            .cost(shape, &quantized.config(), shape.pairs())
            .flops_algorithmic;
        quantized.options.repeats = repeats(&backend, quantized.options.repeats, flops, true);
        let plain = crate::pipeline::attention::AttentionProblem {
            qkv: None,
            ..quantized.clone()
        };
        let host = jobs.host(generation, yield_now);
        let both = async {
            let a = run(&plain, &backend, &host).await?;
            let b = run(&quantized, &backend, &host).await?;
            Ok::<_, RunError>((a, b))
        }
        .await;
        if !jobs.is_current(generation) {
            return JobOutcome::Cancelled;
        }
        match both {
            Ok((a, b)) => {
                out.0.set(Some(Pair {
                    f32: Arc::new(a),
                    quantized: Arc::new(b),
                }));
                JobOutcome::Done
            }
            Err(RunError::Cancelled) => JobOutcome::Cancelled,
            Err(e) => {
                out.0.set(None);
                JobOutcome::Failed(e.to_string())
            }
        }
    })
}

/// The section.
#[component]
pub fn QuantizedAttentionSection() -> impl IntoView {
    let (pairs, update) = section_query(Section::Prefixed(PREFIX), rewrite);
    let parsed = Memo::new(move |_| {
        let (mut s, mut issues) = Settings::from_pairs(with_defaults(&pairs.get()));
        s.fit_page(&mut issues);
        (s, issues)
    });
    let settings = Memo::new(move |_| parsed.get().0);
    let issues = Signal::derive(move || parsed.get().1);
    let shown = Signal::derive(move || {
        let s = settings.get();
        let mut p = s.to_pairs();
        if s.qkv_bits == 0 {
            p.push(("qkv-bits".into(), "0".into()));
        }
        p
    });
    let (pair, set_pair) = signal(None::<Pair>);
    let (backend, set_backend) = signal(None::<BackendInfo>);
    let jobs = PageJobs::new(move |jobs, generation, s| {
        run_job(jobs, generation, s, (set_pair, set_backend))
    });
    let (status, superseded, stop, results) =
        (jobs.status, jobs.superseded, jobs.stop, jobs.results);
    let jobs = StoredValue::new_local(jobs);
    Effect::new(move |_| {
        let s = settings.get();
        jobs.with_value(|j| j.request(s));
    });
    on_cleanup(move || {
        jobs.try_with_value(|j| j.cancel());
    });
    let json = Memo::new(move |_| {
        pair.with(|p| serde_json::to_value(p.as_ref()?.quantized.as_ref()).ok())
    });
    let filename = Signal::derive(move || {
        settings.with(|s| {
            format!(
                "quantized-attention-{}-{}bit.json",
                s.method.key(),
                s.qkv_bits
            )
        })
    });
    let map = move |which: fn(&Pair) -> &Arc<Measurement>| {
        Signal::derive(move || {
            pair.with(|p| {
                p.as_ref()
                    .and_then(|p| which(p).artifacts.weights().cloned())
                    .map(Pooled::from)
            })
        })
    };
    let stem = move |what: &'static str, which: fn(&Pair) -> &Arc<Measurement>| {
        Signal::derive(move || {
            pair.with(|p| {
                p.as_ref()
                    .map(|p| {
                        let m = which(p);
                        let f = &m.figures;
                        let base = attention_stem(
                            &m.envelope.method,
                            f.n,
                            &f.params,
                            &f.param_choices,
                            f.causal,
                        );
                        format!("{base}_{what}")
                    })
                    .unwrap_or_default()
            })
        })
    };
    let title = move |what: &'static str| {
        Signal::derive(move || settings.with(|s| format!("{} — {what}", s.method.info().label)))
    };
    view! {
        <section class="lab-section" data-testid="qattention-section">
            <h2 class="section-title">"Quantized attention"</h2>
            <p class="muted">
                "Q, K and V quantized to b-bit integers (symmetric, min-max, one scale per token or per channel) — "
                "on the GPU by the same kernels as above — then any attention method of the explorer runs on them. "
                "Quantization error compounds with the method's own approximation error."
            </p>
            <section class="card controls-card">
                <SpecControls
                    specs=COMMON
                    values=shown
                    update=update
                    inactive=inactive
                    skip=&["causal", "qk-scale"]
                    prefix="qa"
                />
                <SettingsIssues issues=issues testid="qa-settings-issues"/>
            </section>
            <section class="status-row">
                <BackendBadge backend=backend testid="qa-backend-badge" backend_key="qa-backend"/>
                <RunStatusLine status=status superseded=superseded stop=stop testid="qa-status"/>
            </section>
            <Results state=results testid="qa-results">
                <ErrorTable pair=pair/>
                <div class="grid">
                    <section class="card">
                        <Heatmap
                            map=map(|p| &p.f32)
                            title=title("f32 inputs")
                            caption=Signal::derive(|| "The method on the f32 inputs.".to_string())
                            stem=stem("f32", |p| &p.f32)
                            heading="On f32 Q, K, V"
                            testid="qa-heatmap-f32"
                        />
                    </section>
                    <section class="card">
                        <Heatmap
                            map=map(|p| &p.quantized)
                            title=title("quantized inputs")
                            caption=Signal::derive(move || {
                                settings
                                    .with(|s| {
                                        format!(
                                            "The same method on Q, K, V at {} bits ({} scales).",
                                            s.qkv_bits,
                                            if s.qkv_per_channel { "per-channel" } else { "per-token" },
                                        )
                                    })
                            })
                            stem=stem("qkv-quantized", |p| &p.quantized)
                            heading="On quantized Q, K, V"
                            testid="qa-heatmap"
                        />
                    </section>
                </div>
                <RawData
                    json=json
                    filename=filename
                    native="flt run --qkv-bits B --json"
                    testid="qa-measurement"
                    heading="Raw data (the quantized run)"
                />
            </Results>
        </section>
    }
}

/// The three errors and the baselines.
#[component]
fn ErrorTable(pair: ReadSignal<Option<Pair>>) -> impl IntoView {
    view! {
        <section class="card">
            {move || match pair.get() {
                None => view! { <p class="muted">"Waiting for the first run…"</p> }.into_any(),
                Some(p) => {
                    let (a, b) = (&p.f32.figures, &p.quantized.figures);
                    let sqnr = b
                        .qkv_sqnr_db
                        .map(|s| {
                            s.map(|x| x.map_or("∞".to_string(), |d| format!("{d:.1}")))
                                .join(" / ")
                        })
                        .unwrap_or_else(|| "— (f32)".into());
                    let rows = [
                        ("approximation alone", format::sci(a.rel_err), "the method on f32 inputs against exact attention".to_string()),
                        (
                            "quantization alone",
                            b.rel_err_vs_f32.map_or("0 (f32)".into(), format::sci),
                            "the method on quantized inputs against the same method on f32 inputs".into(),
                        ),
                        ("compounded", format::sci(b.rel_err), "the method on quantized inputs against exact attention on f32 inputs".into()),
                        ("SQNR of Q / K / V", format!("{sqnr} dB"), "signal over quantization noise of each input".into()),
                        (
                            "baselines",
                            format!("{} / {}", format::sci(b.baseline_mean_v_rel_err), format::sci(b.baseline_zero_rel_err)),
                            "rel_err of outputting the mean of V / zeros".into(),
                        ),
                    ];
                    view! {
                        <h2>"rel_err over the checked rows"</h2>
                        <table class="figure-table" data-testid="qa-errors">
                            <tbody>
                                {rows
                                    .into_iter()
                                    .map(|(name, value, what)| {
                                        view! {
                                            <tr>
                                                <th>{name}</th>
                                                <td class="num">{num(value, format!("{name}: {what}"))}</td>
                                                <td class="muted x-why">{what}</td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

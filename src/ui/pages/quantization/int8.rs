//! The int8 matrix product on the quantization page (survey §"Quantization":
//! "INT8 — 4× smaller, 2–4× faster"; Jacob et al. 2018; Dettmers et al.
//! 2022): C = A·Wᵀ with int8 operands and i32 sums through WGSL's
//! `dot4I8Packed` where the browser has it, the unpacking fallback, and the
//! f32 product of the same shape and tiling, timed side by side
//! ([`crate::compress::int8`]).
//!
//! Its settings are the `int8-`-prefixed URL parameters (`int8-m`, `int8-k`,
//! `int8-n`, `int8-kernel`, `int8-seed`) and the page's `backend`; the
//! controls rewrite them. It runs when Run is pressed, and on arrival when
//! the URL carries an `int8-` parameter (a shared link shows its result).

use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate};
use plotters::prelude::*;

use crate::chart::export::{csv_of, file_stem, svg_string};
use crate::chart::style::{background, font};
use crate::compress::int8::{
    self, Int8Error, Int8Problem, Int8Report, KernelChoice, KernelRun, check_shape,
};
use crate::data::LocalFuture;
use crate::pipeline::jobs::{JobOutcome, Jobs};
use crate::pipeline::{Backend, BackendChoice, Host, repeats};
use crate::settings::{
    Kind, Listing, SettingsIssue, Spec, common, parse_query, parse_spec, query_from_pairs,
};
use crate::ui::backend;
use crate::ui::browser::{download, yield_now};
use crate::ui::components::{
    BackendBadge, BackendInfo, CanvasChart, Export, Results as StaleResults, RunStatusLine,
    SettingsIssues, num, plot_area,
};
use crate::ui::jobs::PageJobs;

/// The largest side on the page (the CLI takes up to 2²⁰).
const MAX_SIDE: u64 = 4096;
/// Most multiply-adds the CPU twin does on the page (M·K·N), beyond which
/// the page asks for a smaller shape or the native CLI.
const CPU_MAX_MACS: u64 = 1 << 28;
/// Most multiply-adds the page's CPU spends on each check of a GPU run.
const CHECK_MACS: u64 = 1 << 25;
/// Timed repeats on the GPU.
const GPU_REPEATS: u32 = 5;

fn kernel_names() -> Vec<&'static str> {
    KernelChoice::ALL.iter().map(|(_, key, _)| *key).collect()
}

/// The section's settings table.
const SPECS: [Spec; 5] = [
    Spec {
        key: "int8-m",
        label: "M (rows of A: tokens)",
        help: "Rows of the activations A and of C",
        kind: Kind::Int {
            min: 1,
            max: MAX_SIDE,
            default: 256,
        },
    },
    Spec {
        key: "int8-k",
        label: "K (inner dimension)",
        help: "Columns of A and W: the length of every dot product",
        kind: Kind::Int {
            min: 1,
            max: MAX_SIDE,
            default: 768,
        },
    },
    Spec {
        key: "int8-n",
        label: "N (rows of W: output channels)",
        help: "Rows of the weights W (output channels) and columns of C",
        kind: Kind::Int {
            min: 1,
            max: MAX_SIDE,
            default: 512,
        },
    },
    Spec {
        key: "int8-kernel",
        label: "int8 kernels",
        help: "all: dot4I8Packed (where the browser has it) and the unpacking fallback; auto: the best here; each beside f32",
        kind: Kind::Choice {
            names: kernel_names,
            default: "all",
            listed: Listing::Or,
        },
    },
    Spec {
        key: "int8-seed",
        label: "seed",
        help: "Seed of the inputs (the same seed gives the same numbers as flt matmul --seed)",
        kind: Kind::Int {
            min: 0,
            max: u32::MAX as u64,
            default: 1,
        },
    },
];

/// What the section runs.
#[derive(Debug, Clone, PartialEq)]
struct Int8Settings {
    m: u64,
    k: u64,
    n: u64,
    kernels: KernelChoice,
    seed: u64,
    backend: BackendChoice,
}

/// The section's settings in a URL query, and what was wrong with them.
fn parse(query: &str) -> (Int8Settings, Vec<SettingsIssue>) {
    let pairs = parse_query(query);
    let raw = |key: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim().to_string())
    };
    let mut issues = Vec::new();
    let mut value = |spec: &Spec| parse_spec(spec, raw(spec.key).as_ref(), &mut issues);
    let (m, k, n) = (
        value(&SPECS[0]).int(),
        value(&SPECS[1]).int(),
        value(&SPECS[2]).int(),
    );
    let kernels = KernelChoice::parse(value(&SPECS[3]).name()).unwrap_or_default();
    let seed = value(&SPECS[4]).int();
    let backend = BackendChoice::ALL
        .iter()
        .map(|(b, _)| *b)
        .find(|b| b.key() == value(common("backend")).name())
        .unwrap_or_default();
    (
        Int8Settings {
            m,
            k,
            n,
            kernels,
            seed,
            backend,
        },
        issues,
    )
}

/// The query with `key` set to `value`, every other parameter kept.
fn query_with(query: &str, key: &str, value: &str) -> String {
    let mut pairs = parse_query(query);
    match pairs.iter_mut().find(|(k, _)| k == key) {
        Some(pair) => pair.1 = value.to_string(),
        None => pairs.push((key.to_string(), value.to_string())),
    }
    pairs.retain(|(k, v)| k != key || !v.is_empty());
    query_from_pairs(&pairs)
}

/// Where a run delivers its results.
#[derive(Clone, Copy)]
struct Out {
    report: WriteSignal<Option<Arc<Int8Report>>>,
    backend: WriteSignal<Option<BackendInfo>>,
}

/// One run: resolve the backend, measure, deliver while still the newest.
fn run(
    jobs: Rc<Jobs<Int8Settings>>,
    generation: u64,
    s: Int8Settings,
    out: Out,
) -> LocalFuture<'static, JobOutcome> {
    Box::pin(async move {
        let (backend, _turn) =
            match backend::start_job(&jobs, generation, s.backend, Some(out.backend)).await {
                Ok(started) => started,
                Err(outcome) => return outcome,
            };
        let shape = match check_shape(s.m as usize, s.k as usize, s.n as usize) {
            Ok(shape) => shape,
            Err(e) => return JobOutcome::Failed(e.to_string()),
        };
        let macs = s.m * s.k * s.n;
        let mut problem = Int8Problem {
            shape,
            seed: s.seed,
            kernels: s.kernels,
            repeats: GPU_REPEATS,
            check_macs: CHECK_MACS,
        };
        let host = jobs.host(generation, yield_now);
        let outcome: Result<Int8Report, Int8Error> = match &backend {
            Backend::Gpu(ctx) => {
                let progress = |stage: &str, fraction: f64| host.progress(stage, fraction);
                int8::run_gpu_with(
                    ctx,
                    &problem,
                    crate::gpu::int8_matmul::packed_dot(ctx),
                    &progress,
                )
                .await
            }
            Backend::Cpu { reason } => {
                if macs > CPU_MAX_MACS {
                    return JobOutcome::Failed(format!(
                        "The CPU twin runs here at most {CPU_MAX_MACS} multiply-adds (M·K·N = {macs}): \
                         choose a smaller shape, use a browser with WebGPU, or run \
                         `flt matmul --m {} --k {} --n {} --backend cpu` natively.",
                        s.m, s.k, s.n
                    ));
                }
                problem.repeats = repeats(&backend, GPU_REPEATS, 2 * macs, true);
                host.progress("running the CPU twins", 0.2);
                host.yield_now().await;
                int8::run_cpu(&problem, reason.clone())
            }
        };
        if !jobs.is_current(generation) {
            return JobOutcome::Cancelled;
        }
        match outcome {
            Ok(report) => {
                out.report.set(Some(Arc::new(report)));
                JobOutcome::Done
            }
            Err(e) => {
                out.report.set(None);
                JobOutcome::Failed(e.to_string())
            }
        }
    })
}

/// The section.
#[component]
pub fn Int8Section() -> impl IntoView {
    let location = use_location();
    let parsed = Memo::new(move |_| parse(&location.search.get()));
    let settings = Memo::new(move |_| parsed.get().0);
    let issues = Memo::new(move |_| parsed.get().1);
    let navigate = use_navigate();
    let pathname = location.pathname;
    let search = location.search;
    let update: Box<dyn Fn(&'static str, String)> = Box::new(move |key, value| {
        let query = query_with(&search.get_untracked(), key, value.trim());
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
    let update = StoredValue::new_local(update);
    let set = move |key: &'static str| {
        move |value: String| {
            if !value.trim().is_empty() {
                update.with_value(|f| f(key, value));
            }
        }
    };

    let (report, set_report) = signal(None::<Arc<Int8Report>>);
    let (backend_info, set_backend) = signal(None::<BackendInfo>);
    let out = Out {
        report: set_report,
        backend: set_backend,
    };
    let jobs = PageJobs::new(move |jobs, generation, s| run(jobs, generation, s, out));
    let (status, superseded, stop, results) =
        (jobs.status, jobs.superseded, jobs.stop, jobs.results);
    let jobs = StoredValue::new_local(jobs);
    let start = move || {
        let s = settings.get_untracked();
        jobs.with_value(|j| j.request(s));
    };
    // A link that carries the section's settings shows its result.
    if parse_query(&search.get_untracked())
        .iter()
        .any(|(k, _)| k.starts_with("int8-"))
    {
        start();
    }
    on_cleanup(move || {
        jobs.try_with_value(|j| j.cancel());
    });

    let json = Memo::new(move |_| {
        report.with(|r| {
            r.as_ref()
                .and_then(|r| serde_json::to_string_pretty(r.as_ref()).ok())
        })
    });
    let (download_error, set_download_error) = signal(None::<String>);
    let save = move |_| {
        if let Some(body) = json.get_untracked() {
            let s = settings.get_untracked();
            let name = format!("flt-int8-{}x{}x{}.json", s.m, s.k, s.n);
            set_download_error.set(download(&name, "application/json", &body).err());
        }
    };
    let number = move |spec: &'static Spec| {
        let (min, max) = match spec.kind {
            Kind::Int { min, max, .. } => (min, max),
            _ => (0, 0),
        };
        let value = move || {
            let s = settings.get();
            match spec.key {
                "int8-m" => s.m,
                "int8-k" => s.k,
                "int8-n" => s.n,
                _ => s.seed,
            }
            .to_string()
        };
        let setter = set(spec.key);
        view! {
            <label class="control" title=spec.help>
                <span>{spec.label}</span>
                <input
                    type="number"
                    data-testid=spec.key
                    min=min.to_string()
                    max=max.to_string()
                    step="1"
                    prop:value=value
                    on:change=move |ev| setter(event_target_value(&ev))
                />
            </label>
        }
    };
    let set_kernel = set("int8-kernel");

    view! {
        <section class="card lab-section int8-section" id="int8" data-testid="int8-section">
            <h2>"An int8 matrix product: dot4I8Packed against f32"</h2>
            <Explanation/>
            <div class="controls">
                {number(&SPECS[0])}
                {number(&SPECS[1])}
                {number(&SPECS[2])}
                <label class="control" title=SPECS[3].help>
                    <span>{SPECS[3].label}</span>
                    <select
                        data-testid="int8-kernel"
                        on:change=move |ev| set_kernel(event_target_value(&ev))
                    >
                        {KernelChoice::ALL
                            .iter()
                            .map(|&(choice, key, label)| {
                                view! {
                                    <option
                                        value=key
                                        selected=move || settings.with(|s| s.kernels == choice)
                                    >
                                        {format!("{key} — {label}")}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                {number(&SPECS[4])}
                <button data-testid="int8-run" on:click=move |_| start()>
                    "Run"
                </button>
            </div>
            <SettingsIssues issues=issues testid="int8-issues"/>
            <div class="status-row">
                <BackendBadge
                    backend=backend_info
                    testid="int8-backend"
                    waiting=Signal::derive(|| "Backend: chosen when you press Run".to_string())
                />
                <RunStatusLine
                    status=status
                    superseded=superseded stop=stop
                    testid="int8-status"
                    idle="Press Run to measure."
                />
            </div>
            <StaleResults state=results testid="int8-results">
                <Results report=report/>
                <div class="raw-data">
                    <div class="card-head">
                        <h3>"Raw data"</h3>
                        <button
                            data-testid="int8-download"
                            prop:disabled=move || json.with(Option::is_none)
                            on:click=save
                        >
                            "Download JSON"
                        </button>
                    </div>
                    <p class="muted">
                        "The same keys as " <code>"flt matmul --json"</code>
                        " (one line per kernel there), e.g. "
                        <code>
                            {move || {
                                settings
                                    .with(|s| {
                                        format!(
                                            "flt matmul --m {} --k {} --n {} --kernel {} --seed {} --json",
                                            s.m,
                                            s.k,
                                            s.n,
                                            s.kernels.key(),
                                            s.seed,
                                        )
                                    })
                            }}
                        </code> "."
                    </p>
                    <pre data-testid="int8-measurement">{move || json.get().unwrap_or_default()}</pre>
                    {move || download_error.get().map(|e| view! { <p class="error">{e}</p> })}
                </div>
            </StaleResults>
        </section>
    }
}

/// Why int8 products are faster, and what is measured.
#[component]
fn Explanation() -> impl IntoView {
    view! {
        <p>
            "Quantizing weights and activations to 8 bits (survey, §Quantization: INT8 is 4× smaller and "
            "2–4× faster than FP32) helps a matrix product twice. Every operand is 4× smaller, so a "
            "product limited by memory moves 4× fewer bytes. And GPUs multiply packed bytes: WGSL's "
            <code>"dot4I8Packed(a, b)"</code>
            " takes two 32-bit words holding four int8 each and returns the i32 sum of their four products "
            "— one instruction (DP4A on NVIDIA) where f32 does one multiply-add. The integer sum is exact; "
            "the only error is the rounding of the inputs, which the scales undo (integer-arithmetic-only "
            "inference, Jacob et al. 2018; a scale per token and per output channel as in LLM.int8(), "
            "Dettmers et al. 2022):"
        </p>
        <p class="equation">
            "C = A·Wᵀ ≈ s_A,i · s_W,j · Σₖ Q(A)ᵢₖ · Q(W)ⱼₖ,  Q(x) = clamp(round(x/s), −127, 127),  s = max|row|/127"
        </p>
        <p class="muted">
            "Three kernels with one tiling (128×128 output tiles, 8×8 outputs per thread, "
            "double-buffered workgroup memory) run the same seeded inputs: int8 through "
            <code>"dot4I8Packed"</code>
            " (only where " <code>"navigator.gpu.wgslLanguageFeatures"</code> " has "
            <code>"packed_4x8_integer_dot_product"</code>
            "), int8 by unpacking every word with shifts (portable WGSL), and f32. Each runs once to warm "
            "up, then 5 times, timed by GPU timestamps where the adapter has them. The int8 results must "
            "equal the CPU twin's integers exactly; every product is compared with the exact (f64) product "
            "of the f32 inputs. Tensor cores (torch._int_mm, cuBLASLt) go further than any of these: WGSL "
            "cannot reach them."
        </p>
    }
}

/// Three significant digits (no exponent), "—" when absent.
fn sig3(x: Option<f64>) -> String {
    match x.filter(|v| v.is_finite()) {
        None => "—".into(),
        Some(0.0) => "0".into(),
        Some(v) => {
            let digits = (2 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
            format!("{v:.digits$}")
        }
    }
}

/// A time in ms with three significant digits.
fn ms(t: f64) -> String {
    if !t.is_finite() {
        "—".into()
    } else if t >= 100.0 {
        format!("{t:.0}")
    } else if t >= 10.0 {
        format!("{t:.1}")
    } else if t >= 1.0 {
        format!("{t:.2}")
    } else {
        format!("{t:.3}")
    }
}

/// The results: a table, the ratio in words, a bar chart.
#[component]
fn Results(report: ReadSignal<Option<Arc<Int8Report>>>) -> impl IntoView {
    let row = |k: &KernelRun| {
        view! {
            <tr data-kernel=k.kernel.clone()>
                <td class="x-label">
                    <code>{k.kernel.clone()}</code>
                </td>
                <td class="x-label" title=k.path_detail.clone()>{k.path.clone()}</td>
                <td class="num">
                    {num(ms(k.time_ms), format!("Time in ms: {}", k.timing_detail))}
                </td>
                <td class="num">
                    {num(
                        sig3(k.gops),
                        "GOPS: 2·M·N·K operations (a multiply and an add per term) / time, in 10⁹ per second",
                    )}
                </td>
                <td class="num">
                    {num(
                        sig3(k.gbytes_per_s),
                        "GB/s: the global-memory bytes the kernel reads and writes / time, in 10⁹ bytes per second",
                    )}
                </td>
                <td>
                    {match k.exact {
                        Some(true) => "yes".into_any(),
                        Some(false) => view! {
                            "NO ("
                            {num(
                                k.mismatches.unwrap_or(0).to_string(),
                                "Entries of the i32 result that differ from the CPU twin's",
                            )}
                            " differ)"
                        }
                        .into_any(),
                        None => "—".into_any(),
                    }}
                </td>
                <td class="num">
                    {num(
                        crate::format::num(k.rel_err),
                        "Error vs exact: ‖ŷ − y‖ / ‖y‖ against the f64 product of the f32 inputs (int8 dequantized); a zero output scores 1",
                    )}
                </td>
                <td class="num">
                    {k.speedup_vs_f32
                        .map(|s| {
                            num(
                                format!("{s:.2}×"),
                                "Speed vs f32: the f32 kernel's time / this kernel's time, same shapes",
                            )
                            .into_any()
                        })
                        .unwrap_or_else(|| "—".into_any())}
                </td>
            </tr>
        }
    };
    view! {
        {move || {
            report
                .get()
                .map(|r| {
                    let cpu = r.backend == "cpu";
                    let timing = r.kernels.first().map(|k| k.timing_detail.clone()).unwrap_or_default();
                    view! {
                        <table class="int8-table" data-testid="int8-table">
                            <thead>
                                <tr>
                                    <th>"kernel"</th>
                                    <th>"path"</th>
                                    <th class="num">"time (ms)"</th>
                                    <th class="num" title="2MNK / time">"GOPS"</th>
                                    <th class="num" title="executed global-memory bytes / time">"GB/s"</th>
                                    <th title="the i32 result equals the CPU twin's">"exact"</th>
                                    <th class="num" title="‖ŷ − y‖/‖y‖ against the f64 product of the f32 inputs (int8 dequantized); a zero output scores 1">
                                        "error vs exact"
                                    </th>
                                    <th class="num">"speed vs f32"</th>
                                </tr>
                            </thead>
                            <tbody>{r.kernels.iter().map(row).collect_view()}</tbody>
                        </table>
                        <p data-testid="int8-ratio" class="ratio">
                            {ratio_text(&r)}
                        </p>
                        {cpu.then(|| view! {
                            <p class="issues" data-testid="int8-cpu-note">
                                "These timings are of the CPU twins (this browser's WebAssembly, one thread), "
                                "not of a GPU kernel."
                            </p>
                        })}
                        <p class="caption">
                            {format!(
                                "{}: {}. Time: {timing}. {}. Checked: {}.",
                                r.packed_dot.path, r.packed_dot.detail, r.inputs, r.checked_scope
                            )}
                        </p>
                    }
                        .into_any()
                })
        }}
        <CanvasChart
            testid="int8-chart"
            width=720
            height=190
            aria_label="Throughput of each kernel, in GOPS (2MNK per second)"
            what="Cannot draw the throughput chart"
            draw=move |canvas| {
                let Some(r) = report.get() else { return Ok(false) };
                let area = plot_area(canvas)?;
                draw_bars(&area, &r).map_err(|e| e.to_string())?;
                area.present().map_err(|e| e.to_string())?;
                Ok(true)
            }
            hidden=Signal::derive(move || report.with(Option::is_none))
            export=Export::new(
                move || {
                    report.with(|r| {
                        r.as_ref().map(|r| {
                            file_stem(
                                "int8",
                                &[
                                    ("m", r.m.to_string()),
                                    ("k", r.k.to_string()),
                                    ("n", r.n.to_string()),
                                    ("backend", r.backend.clone()),
                                ],
                            )
                        })
                    })
                },
                move || {
                    let r = report.get_untracked().ok_or("nothing is drawn yet")?;
                    svg_string((720, 190), |root| {
                        draw_bars(root, &r).map_err(|e| e.to_string())?;
                        root.present().map_err(|e| e.to_string())
                    })
                    .map(|(svg, ())| svg)
                },
                move || {
                    let r = report.get_untracked().ok_or("nothing is drawn yet")?;
                    csv_of(&r.kernels)
                },
            )
        />
    }
}

/// "int8-packed ran 3.3× the speed of f32 at 256×768×512 ...".
fn ratio_text(r: &Int8Report) -> String {
    let shape = format!("{}×{}×{}", r.m, r.k, r.n);
    match (&r.int8_fastest, r.int8_speedup_vs_f32) {
        (Some(k), Some(s)) => {
            let why = if s < 0.95 {
                " Below 1×: at small shapes fixed costs dominate, and an adapter without a fast \
                 packed dot product (a software one, or the unpacking fallback) does 4 integer \
                 multiply-adds where f32 does one — try a larger shape."
            } else {
                ""
            };
            format!(
                "{k} ran at {s:.2}× the speed of f32 at {shape} (M×K×N) — the survey quotes 2–4× for \
                 INT8.{why} The int8 error against the exact product is the rounding of the inputs; \
                 the integer sums are exact."
            )
        }
        _ => format!("No speed ratio at {shape}: a time was zero."),
    }
}

/// Throughput bars, one per kernel, labelled with the speed ratio.
fn draw_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    r: &Int8Report,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    area.fill(&background())?;
    let (width, height) = area.dim_in_pixel();
    let left = 150i32;
    let right = 150i32;
    let top = 30i32;
    let count = r.kernels.len().max(1) as i32;
    let pitch = ((height as i32 - top - 6) / count).clamp(16, 60);
    let gap = pitch / 3;
    let bar = pitch - gap;
    let max = r
        .kernels
        .iter()
        .filter_map(|k| k.gops)
        .fold(0.0f64, f64::max);
    let title = if r.backend == "cpu" {
        "Throughput of the CPU twins (GOPS = 2MNK / time)"
    } else {
        "Throughput on the GPU (GOPS = 2MNK / time)"
    };
    area.draw(&Text::new(title, (8, 6), font(14)))?;
    let span = (width as i32 - left - right).max(10) as f64;
    for (i, k) in r.kernels.iter().enumerate() {
        let y = top + i as i32 * (bar + gap);
        let colour = match k.kernel.as_str() {
            "int8-packed" | "int8-twin" => RGBColor(33, 145, 140),
            "int8-unpacked" => RGBColor(94, 201, 98),
            _ => RGBColor(59, 82, 139),
        };
        area.draw(&Text::new(k.kernel.clone(), (8, y + 8), font(14)))?;
        let length = match (k.gops, max > 0.0) {
            (Some(g), true) => (g / max * span).round() as i32,
            _ => 0,
        };
        area.draw(&Rectangle::new(
            [(left, y), (left + length.max(1), y + bar)],
            colour.filled(),
        ))?;
        let label = format!(
            "{} GOPS{}",
            sig3(k.gops),
            k.speedup_vs_f32
                .map(|s| format!(" · {s:.2}×"))
                .unwrap_or_default()
        );
        area.draw(&Text::new(label, (left + length + 6, y + 8), font(13)))?;
    }
    Ok(())
}

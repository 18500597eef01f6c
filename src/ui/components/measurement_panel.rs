//! The figures of an attention run: FLOPs and bytes in two kinds — what the
//! method needs (algorithmic, compulsory) and what the timed kernel executes
//! (GPU kernel or CPU twin) — each with its formula; memory, measured time
//! and throughput; and the error beside its baselines and its reference.

use std::sync::Arc;

use leptos::prelude::*;

use crate::data::timing::Timing;
use crate::format;
use crate::pipeline::attention::{AttentionFigures, Measurement};
use crate::pipeline::report::Envelope;
use crate::ui::components::num;

/// The measurement card.
#[component]
pub fn MeasurementPanel(#[prop(into)] report: Signal<Option<Arc<Measurement>>>) -> impl IntoView {
    view! {
        <div class="figures">
            <h2>"Cost and accuracy"</h2>
            {move || match report.get() {
                None => view! { <p class="muted">"Waiting for the first run…"</p> }.into_any(),
                Some(m) => {
                    view! {
                        <table class="figure-table">
                            <tbody>
                                {cost_rows(&m.envelope)}
                                {time_rows(&m.envelope)}
                                {error_rows(&m.figures)}
                                {pattern_rows(&m.figures)}
                                {cross_check_row(&m.envelope)}
                            </tbody>
                        </table>
                        {stages_and_notes(&m.envelope)}
                    }
                        .into_any()
                }
            }}
        </div>
    }
}

/// One row: a figure in bold (explained on hover or focus by its label and
/// formula), a remark after it, the formula under it.
fn row(
    label: &'static str,
    testid: &'static str,
    figure: String,
    remark: AnyView,
    formula: String,
) -> impl IntoView + use<> {
    let explain = format!("{label}: {formula}");
    view! {
        <tr>
            <th>{label}</th>
            <td data-testid=testid>
                <strong>{num(figure, explain)}</strong>
                {remark}
                <div class="formula">{formula}</div>
            </td>
        </tr>
    }
}

/// ", a× what the method needs": executed over needed, explained.
fn ratio(executed: u64, needed: u64, of: &str, what: &'static str, digits: usize) -> AnyView {
    if needed > 0 {
        let explain = format!(
            "{of} executed / {what} = {} / {}",
            format::int(executed),
            format::int(needed)
        );
        view! {
            ", "
            {num(format!("{:.digits$}×", executed as f64 / needed as f64), explain)}
            {format!(" {what}")}
        }
        .into_any()
    } else {
        ().into_any()
    }
}

fn cost_rows(e: &Envelope) -> impl IntoView + use<> {
    let executor = if e.backend == "cpu" {
        "the CPU twin"
    } else {
        "the timed GPU kernels"
    };
    let counted = |value: u64, formula: &str| format!("{} = {formula}", format::int(value));
    (
        row(
            "FLOPs the method needs",
            "flops-algorithmic",
            format!("{}FLOP", format::si(e.flops_algorithmic as f64)),
            ().into_any(),
            counted(e.flops_algorithmic, &e.flops_algorithmic_formula),
        ),
        row(
            "FLOPs executed",
            "flops",
            format!("{}FLOP", format::si(e.flops as f64)),
            view! {
                {format!(" by {executor}")}
                {ratio(e.flops, e.flops_algorithmic, "FLOPs", "what the method needs", 2)}
            }
            .into_any(),
            counted(e.flops, &e.flops_formula),
        ),
        row(
            "Compulsory bytes",
            "bytes-compulsory",
            format::bytes(e.bytes_compulsory),
            ().into_any(),
            counted(e.bytes_compulsory, &e.bytes_compulsory_formula),
        ),
        row(
            "Bytes moved",
            "bytes",
            format::bytes(e.bytes),
            view! {
                {format!(" by {executor}")}
                {ratio(e.bytes, e.bytes_compulsory, "bytes", "the compulsory bytes", 1)}
            }
            .into_any(),
            counted(e.bytes, &e.bytes_formula),
        ),
    )
}

fn time_rows(e: &Envelope) -> impl IntoView + use<> {
    let timing = match e.timing {
        Timing::GpuTimestamp => "GPU timestamp queries",
        Timing::WallClock => "wall clock",
    };
    let warm_up = if e.backend == "gpu" {
        " after a warm-up"
    } else {
        ""
    };
    let how = format!(
        "{}; {timing}, median of {} warm repeats{warm_up}",
        e.kernel.describe(),
        e.time_ms_samples.len(),
    );
    (
        view! {
            <tr>
                <th>"Memory allocated"</th>
                <td data-testid="memory">
                    {num(
                        format::bytes(e.memory_bytes),
                        format!("Memory allocated: {} bytes = {}", format::int(e.memory_bytes), e.memory_formula),
                    )}
                    <div class="formula">{e.memory_formula.clone()}</div>
                </td>
            </tr>
        },
        row("Time", "time", format::ms(e.time_ms), ().into_any(), how),
        view! {
            <tr>
                <th>"Throughput"</th>
                <td data-testid="gflops">
                    {num(
                        format!("{:.2} GFLOP/s", e.gflops),
                        format!(
                            "Throughput: executed FLOPs / median time = {} FLOP / {}",
                            format::int(e.flops),
                            format::ms(e.time_ms)
                        ),
                    )}
                    <div class="formula">"executed FLOPs / median time"</div>
                </td>
            </tr>
        },
    )
}

fn error_rows(f: &AttentionFigures) -> impl IntoView + use<> {
    let beats = if f.rel_err < f.baseline_mean_v_rel_err {
        "below both baselines"
    } else if f.rel_err < f.baseline_zero_rel_err {
        "no better than outputting the mean of V"
    } else {
        "no better than outputting zeros"
    };
    let reference = format!(
        "‖O − O_ref‖_F / ‖O_ref‖_F over {}; reference: {}",
        f.checked_text(),
        f.reference,
    );
    let baselines = view! {
        "output the mean of V: "
        {num(
            format::sci(f.baseline_mean_v_rel_err),
            "rel_err of answering every row with the mean of V's rows: ‖mean(V) − O_ref‖_F / ‖O_ref‖_F over the same rows",
        )}
        "; output zeros: "
        {num(
            format::sci(f.baseline_zero_rel_err),
            "rel_err of answering zeros: ‖0 − O_ref‖_F / ‖O_ref‖_F (1 by definition)",
        )}
    };
    let explain_err = format!("rel_err, the relative error: {reference}");
    let iterations = f.pinv_iterations;
    view! {
        <tr>
            <th>"rel_err"</th>
            <td data-testid="rel-err">
                <strong>{num(format::sci(f.rel_err), explain_err)}</strong>
                {format!(" — {beats}")}
                <div class="formula" data-testid="reference">{reference}</div>
            </td>
        </tr>
        <tr>
            <th>"Baselines"</th>
            <td data-testid="baselines">
                {baselines}
                <div class="formula">
                    "rel_err of the trivial answers, same rows and reference: a method is only informative below them"
                </div>
            </td>
        </tr>
        {f.pinv_residual.map(|r| view! {
            <tr>
                <th>"Pseudo-inverse residual"</th>
                <td data-testid="pinv-residual">
                    {num(
                        format::sci(r),
                        "Pseudo-inverse residual: ‖ÃZÃ − Ã‖_F / ‖Ã‖_F of the Z the Newton–Schulz iterations reach",
                    )}
                    {iterations.map(|t| view! {
                        " after "
                        {num(t.to_string(), "Newton–Schulz iterations run (at most pinv-iters; fewer when the residual stops falling)")}
                        " iterations"
                    })}
                    <div class="formula">
                        "‖ÃZÃ − Ã‖_F / ‖Ã‖_F of the Z the iterations reach (the twin's, head 0's with several heads; the GPU runs each head as many as its twin): 0 would be Ã⁺ itself; the iteration stops early if the residual stops falling; rel_err depends on pinv-iters and on Ã's conditioning"
                    </div>
                </td>
            </tr>
        })}
    }
}

fn pattern_rows(f: &AttentionFigures) -> impl IntoView + use<> {
    let work = match f.tile_pairs {
        Some(t) if t > 0 => format!(
            "the GPU kernel evaluates {} pairs in the key tiles it visits ({:.0}% of them in the pattern); it skips the rest",
            format::int(t),
            100.0 * f.pattern_pairs as f64 / t as f64
        ),
        _ => String::new(),
    };
    let pairs = view! {
        {num(
            format::int(f.pattern_pairs),
            "Pattern pairs: the (query, key) pairs whose scores the method computes, summed over the rows",
        )}
        " pairs, "
        {num(
            format!("{:.2}%", f.density * 100.0),
            "Density: pattern pairs / n² × 100",
        )}
        " of n²"
    };
    let kept = format!("{:.1}%", f.mass_in_pattern * 100.0);
    let mass = format!(
        "share of exact attention's weight on the computed pairs (misses {:.1}%), mean over {} rows",
        (1.0 - f.mass_in_pattern) * 100.0,
        f.checked_rows,
    );
    view! {
        <tr>
            <th>"Pattern"</th>
            <td data-testid="pattern-pairs">
                {pairs}
                <div class="formula">{work}</div>
            </td>
        </tr>
        {row("Exact mass kept", "mass-in-pattern", kept, ().into_any(), mass)}
        <tr>
            <th>"Inputs"</th>
            <td data-testid="inputs">
                {format!("{}, Q and K scaled by ", f.inputs.key())}
                {num(
                    f.qk_scale.to_string(),
                    "The factor Q and K are multiplied by after drawing (larger: peakier softmax rows)",
                )}
                ", seed "
                {num(
                    f.seed.to_string(),
                    "The seed of the random inputs: the same seed draws the same Q, K and V",
                )}
                <div class="formula">{format!("fingerprint {}", f.inputs_digest)}</div>
            </td>
        </tr>
        <tr>
            <th>"max abs err vs exact"</th>
            <td data-testid="max-abs-err">
                {num(
                    format::sci(f.max_abs_err),
                    "The largest |O − O_exact| over the checked entries (same rows and reference as rel_err)",
                )}
            </td>
        </tr>
    }
}

fn cross_check_row(e: &Envelope) -> impl IntoView + use<> {
    (!e.cross_checks.is_empty()).then(|| {
        let checks = e
            .cross_checks
            .iter()
            .map(|(name, err)| {
                let explain = format!(
                    "{name}: max |GPU − CPU twin| over its output entries, on the same inputs"
                );
                view! { <li>{format!("{name}: ")}{num(format::sci(*err), explain)}</li> }
            })
            .collect_view();
        view! {
            <tr>
                <th>"GPU vs CPU twin (max abs)"</th>
                <td data-testid="gpu-cpu-err">
                    <ul class="plain">{checks}</ul>
                </td>
            </tr>
        }
    })
}

fn stages_and_notes(e: &Envelope) -> impl IntoView + use<> {
    let stages = e
        .stages
        .iter()
        .map(|s| {
            view! {
                <li>
                    {format!("{}: ", s.name)}
                    {num(format::ms(s.time_ms), "This stage's median time (same timing as the total)")}
                    ", "
                    {num(
                        format::bytes(s.bytes),
                        format!("Bytes this stage's kernels read and write: {}", format::int(s.bytes)),
                    )}
                    " moved, "
                    {num(
                        format::bytes(s.memory_bytes),
                        format!("Buffers this stage allocates: {} bytes", format::int(s.memory_bytes)),
                    )}
                    " allocated"
                </li>
            }
        })
        .collect_view();
    let notes = e
        .notes
        .iter()
        .map(|n| view! { <li>{n.clone()}</li> })
        .collect_view();
    view! {
        <ul class="stages">{stages}</ul>
        <ul class="notes">{notes}</ul>
    }
}

//! The figures of the last run: FLOPs and bytes in two kinds — what the
//! method needs (algorithmic, compulsory) and what the timed kernel executes
//! (GPU kernel or CPU twin) — each with its formula; memory, measured time
//! and throughput; and the error beside its baselines and its reference.

use std::sync::Arc;

use leptos::prelude::*;

use crate::format;
use crate::measure::Timing;
use crate::run::RunOutput;

/// The measurement card.
#[component]
pub fn MeasurementPanel(result: ReadSignal<Option<Arc<RunOutput>>>) -> impl IntoView {
    view! {
        <div class="figures">
            <h2>"Cost and accuracy"</h2>
            {move || match result.get() {
                None => view! { <p class="muted">"Waiting for the first run…"</p> }.into_any(),
                Some(out) => figures(&out).into_any(),
            }}
        </div>
    }
}

fn figures(out: &RunOutput) -> impl IntoView + use<> {
    let m = out.measurement.clone();
    let timing = match m.timing {
        Timing::GpuTimestamp => "GPU timestamp queries",
        Timing::WallClock => "wall clock",
    };
    let kernel = match m.kernel.as_str() {
        "fused" => "fused online-softmax kernel (O(n) memory)".to_string(),
        "cpu-twin" => "CPU twin (ndarray, f32): the twin built and every row computed".to_string(),
        other => format!("GPU {other} kernels"),
    };
    let executor = if m.backend == "cpu" {
        "the CPU twin"
    } else {
        "the timed GPU kernels"
    };
    let waste = if m.flops_algorithmic > 0 {
        format!(
            "{:.2}× what the method needs",
            m.flops as f64 / m.flops_algorithmic as f64
        )
    } else {
        String::new()
    };
    let rereads = if m.bytes_compulsory > 0 {
        format!(
            "{:.1}× the compulsory bytes",
            m.bytes as f64 / m.bytes_compulsory as f64
        )
    } else {
        String::new()
    };
    let beats = if m.rel_err < m.baseline_mean_v_rel_err {
        "below both baselines"
    } else if m.rel_err < m.baseline_zero_rel_err {
        "no better than outputting the mean of V"
    } else {
        "no better than outputting zeros"
    };
    let residual = m.pinv_residual;
    let cross = m
        .cross_checks
        .iter()
        .map(|(name, e)| view! { <li>{format!("{name}: {}", format::sci(*e))}</li> })
        .collect_view();
    let stages = m
        .stages
        .iter()
        .map(|s| {
            view! {
                <li>
                    {format!(
                        "{}: {}, {} moved, {} allocated",
                        s.name,
                        format::ms(s.time_ms),
                        format::bytes(s.bytes),
                        format::bytes(s.memory_bytes),
                    )}
                </li>
            }
        })
        .collect_view();
    let notes = m
        .notes
        .iter()
        .map(|n| view! { <li>{n.clone()}</li> })
        .collect_view();
    let has_cross = !m.cross_checks.is_empty();
    let work = match m.tile_pairs {
        Some(t) if t > 0 => format!(
            "the GPU kernel evaluates {} pairs in the key tiles it visits ({:.0}% of them in the pattern); it skips the rest",
            format::int(t),
            100.0 * m.pattern_pairs as f64 / t as f64
        ),
        _ => String::new(),
    };
    view! {
        <table class="figure-table">
            <tbody>
                <tr>
                    <th>"FLOPs the method needs"</th>
                    <td data-testid="flops-algorithmic">
                        <strong>{format!("{}FLOP", format::si(m.flops_algorithmic as f64))}</strong>
                        <div class="formula">{format!("{} = {}", format::int(m.flops_algorithmic), m.flops_algorithmic_formula)}</div>
                    </td>
                </tr>
                <tr>
                    <th>"FLOPs executed"</th>
                    <td data-testid="flops">
                        <strong>{format!("{}FLOP", format::si(m.flops as f64))}</strong>
                        {format!(" by {executor}, {waste}")}
                        <div class="formula">{format!("{} = {}", format::int(m.flops), m.flops_formula)}</div>
                    </td>
                </tr>
                <tr>
                    <th>"Compulsory bytes"</th>
                    <td data-testid="bytes-compulsory">
                        <strong>{format::bytes(m.bytes_compulsory)}</strong>
                        <div class="formula">{format!("{} = {}", format::int(m.bytes_compulsory), m.bytes_compulsory_formula)}</div>
                    </td>
                </tr>
                <tr>
                    <th>"Bytes moved"</th>
                    <td data-testid="bytes">
                        <strong>{format::bytes(m.bytes)}</strong>
                        {format!(" by {executor}, {rereads}")}
                        <div class="formula">{format!("{} = {}", format::int(m.bytes), m.bytes_formula)}</div>
                    </td>
                </tr>
                <tr>
                    <th>"Memory allocated"</th>
                    <td data-testid="memory">
                        {format::bytes(m.memory_bytes)}
                        <div class="formula">{m.memory_formula.clone()}</div>
                    </td>
                </tr>
                <tr>
                    <th>"Time"</th>
                    <td data-testid="time">
                        <strong>{format::ms(m.time_ms)}</strong>
                        <div class="formula">
                            {format!(
                                "{kernel}; {timing}, median of {} warm repeats{}",
                                m.time_ms_samples.len(),
                                if m.backend == "gpu" { " after a warm-up" } else { "" },
                            )}
                        </div>
                    </td>
                </tr>
                <tr>
                    <th>"Throughput"</th>
                    <td data-testid="gflops">
                        {format!("{:.2} GFLOP/s", m.gflops)}
                        <div class="formula">"executed FLOPs / median time"</div>
                    </td>
                </tr>
                <tr>
                    <th>"rel_err"</th>
                    <td data-testid="rel-err">
                        <strong>{format::sci(m.rel_err)}</strong>
                        {format!(" — {beats}")}
                        <div class="formula" data-testid="reference">
                            {format!(
                                "‖O − O_ref‖_F / ‖O_ref‖_F over {} of {} rows; reference: {}",
                                m.checked_rows,
                                m.n,
                                m.reference,
                            )}
                        </div>
                    </td>
                </tr>
                <tr>
                    <th>"Baselines"</th>
                    <td data-testid="baselines">
                        {format!(
                            "output the mean of V: {}; output zeros: {}",
                            format::sci(m.baseline_mean_v_rel_err),
                            format::sci(m.baseline_zero_rel_err),
                        )}
                        <div class="formula">
                            "rel_err of the trivial answers, same rows and reference: a method is only informative below them"
                        </div>
                    </td>
                </tr>
                {residual
                    .map(|r| {
                        view! {
                            <tr>
                                <th>"Pseudo-inverse residual"</th>
                                <td data-testid="pinv-residual">
                                    {format::sci(r)}
                                    <div class="formula">
                                        "‖ÃZÃ − Ã‖_F / ‖Ã‖_F of the Z the CPU twin's iterations reach: 0 would be Ã⁺ itself; rel_err depends on pinv-iters and on Ã's conditioning"
                                    </div>
                                </td>
                            </tr>
                        }
                    })}
                <tr>
                    <th>"Pattern"</th>
                    <td data-testid="pattern-pairs">
                        {format!("{} pairs, {:.2}% of n²", format::int(m.pattern_pairs), m.density * 100.0)}
                        <div class="formula">{work}</div>
                    </td>
                </tr>
                <tr>
                    <th>"Exact mass kept"</th>
                    <td data-testid="mass-in-pattern">
                        <strong>{format!("{:.1}%", m.mass_in_pattern * 100.0)}</strong>
                        <div class="formula">
                            {format!(
                                "share of exact attention's weight on the computed pairs (misses {:.1}%), mean over {} rows",
                                (1.0 - m.mass_in_pattern) * 100.0,
                                m.checked_rows,
                            )}
                        </div>
                    </td>
                </tr>
                <tr>
                    <th>"Inputs"</th>
                    <td data-testid="inputs">
                        {format!("{}, Q and K scaled by {}, seed {}", m.inputs.key(), m.qk_scale, m.seed)}
                        <div class="formula">{format!("fingerprint {}", m.inputs_digest)}</div>
                    </td>
                </tr>
                <tr>
                    <th>"max abs err vs exact"</th>
                    <td data-testid="max-abs-err">{format::sci(m.max_abs_err)}</td>
                </tr>
                <Show when=move || has_cross>
                    <tr>
                        <th>"GPU vs CPU twin (max abs)"</th>
                        <td data-testid="gpu-cpu-err">
                            <ul class="plain">{cross.clone()}</ul>
                        </td>
                    </tr>
                </Show>
            </tbody>
        </table>
        <ul class="stages">{stages}</ul>
        <ul class="notes">{notes}</ul>
    }
}

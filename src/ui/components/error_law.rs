//! The error-law view: sweeps the method's budget (Performer's m, Linformer's
//! k, Nyström's L) over powers of two, five seeds each, drawing rel_err
//! against it on log-log axes as the points arrive, with the slope theory
//! predicts. A change of settings stops a sweep in progress.

use std::cell::Cell;
use std::rc::Rc;

use leptos::html::Canvas;
use leptos::prelude::*;
use plotters::prelude::IntoDrawingArea;
use plotters_canvas::CanvasBackend;

use crate::attention::LocalFuture;
use crate::chart::error_law::draw_error_law;
use crate::inputs::Inputs;
use crate::run::{Host, RunError};
use crate::settings::Settings;
use crate::sweep::{Sweep, SweepPoint, budgets, sweep};
use crate::ui::browser::yield_to_browser;

/// Seeds per budget.
const SEEDS: u32 = 5;

#[derive(Debug, Clone, PartialEq)]
enum SweepState {
    Idle,
    Running(String, f64),
    Done(Sweep),
    Failed(String),
}

struct SweepHost {
    generation: Rc<Cell<u64>>,
    mine: u64,
    state: WriteSignal<SweepState>,
}

impl Host for SweepHost {
    fn progress(&self, stage: &str, fraction: f64) {
        if !self.cancelled() {
            self.state.set(SweepState::Running(stage.into(), fraction));
        }
    }

    fn yield_now(&self) -> LocalFuture<'_, ()> {
        Box::pin(yield_to_browser())
    }

    fn cancelled(&self) -> bool {
        self.generation.get() != self.mine
    }
}

/// The error-law card (only for methods with a budget).
#[component]
pub fn ErrorLaw(settings: Memo<Settings>) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let (state, set_state) = signal(SweepState::Idle);
    let (points, set_points) = signal(Vec::<SweepPoint>::new());
    let generation = Rc::new(Cell::new(0u64));

    // New settings: stop any sweep and start afresh.
    let reset = generation.clone();
    Effect::new(move |_| {
        settings.track();
        reset.set(reset.get() + 1);
        set_points.set(Vec::new());
        set_state.set(SweepState::Idle);
    });

    Effect::new(move |_| {
        let pts = points.get();
        let s = settings.get();
        let Some(element) = canvas.get() else { return };
        let Some(budget) = s.method.info().budget else {
            return;
        };
        if let Some(backend) = CanvasBackend::with_canvas_object(element.clone()) {
            let drawn =
                draw_error_law(&backend.into_drawing_area(), budget.key, &pts, budget.slope);
            let _ = element.set_attribute("data-points", &pts.len().to_string());
            if let Err(e) = drawn {
                set_state.set(SweepState::Failed(format!(
                    "cannot draw the error law: {e}"
                )));
            }
        }
    });

    // The closure holds an `Rc`, which views may not capture: keep it in a
    // local arena slot and capture the handle.
    let start = StoredValue::new_local({
        let generation = generation.clone();
        move || {
            let s = settings.get_untracked();
            let mine = generation.get() + 1;
            generation.set(mine);
            set_points.set(Vec::new());
            let host = SweepHost {
                generation: generation.clone(),
                mine,
                state: set_state,
            };
            leptos::task::spawn_local(async move {
                let list = match budgets(s.method, s.n) {
                    Ok(list) => list,
                    Err(e) => {
                        set_state.set(SweepState::Failed(e.to_string()));
                        return;
                    }
                };
                set_state.set(SweepState::Running("generating inputs".into(), 0.0));
                yield_to_browser().await;
                let inputs = Inputs::generate(s.inputs, s.n, s.d, s.seed, s.qk_scale);
                let outcome = sweep(&s, &inputs, &list, SEEDS, &host, |p| {
                    set_points.update(|v| v.push(p.clone()));
                })
                .await;
                if host.cancelled() {
                    return;
                }
                match outcome {
                    Ok(done) => set_state.set(SweepState::Done(done)),
                    Err(RunError::Cancelled) => {}
                    Err(e) => set_state.set(SweepState::Failed(e.to_string())),
                }
            });
        }
    });

    let data_state = move || match state.get() {
        SweepState::Idle => "idle",
        SweepState::Running(..) => "running",
        SweepState::Done(_) => "done",
        SweepState::Failed(_) => "error",
    };
    let summary = move || match state.get() {
        SweepState::Idle => String::new(),
        SweepState::Running(stage, f) => format!("{stage}… {:.0}%", f * 100.0),
        SweepState::Done(s) => {
            let fitted = s
                .fitted_slope
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "—".into());
            let baselines = s
                .points
                .first()
                .map(|p| {
                    format!(
                        " Baselines: mean of V {:.3}, zeros {:.3}.",
                        p.baseline_mean_v_rel_err, p.baseline_zero_rel_err
                    )
                })
                .unwrap_or_default();
            let spread = match s.spread.as_str() {
                "method draws" => " Spread: the method's random draws.",
                "input seeds" => " Spread: seeds of the inputs (no randomness in the method).",
                _ => " No spread: a deterministic method on fixed inputs.",
            };
            match s.theory_slope {
                Some(t) => format!(
                    "Fitted log–log slope {fitted}; theory {t} ({}).{baselines}{spread}",
                    s.law
                ),
                None => format!(
                    "Fitted log–log slope {fitted}; {}.{baselines}{spread}",
                    s.law
                ),
            }
        }
        SweepState::Failed(e) => e,
    };
    let fitted = move || match state.get() {
        SweepState::Done(s) => s
            .fitted_slope
            .map(|x| format!("{x:.4}"))
            .unwrap_or_default(),
        _ => String::new(),
    };
    let running = move || matches!(state.get(), SweepState::Running(..));
    let progress = move || match state.get() {
        SweepState::Running(_, f) => f,
        _ => 0.0,
    };

    view! {
        <Show when=move || settings.get().method.info().budget.is_some()>
            <section class="card error-law">
                <div class="card-head">
                    <h2>{move || {
                        let s = settings.get();
                        format!("Error law: rel_err against {}", s.method.info().budget.map(|b| b.key).unwrap_or(""))
                    }}</h2>
                    <button data-testid="sweep-start" prop:disabled=running on:click=move |_| start.with_value(|f| f())>
                        "Sweep the budget"
                    </button>
                </div>
                <p class="muted">
                    "Powers of two of the budget, five draws each: of the method's random choices on the inputs above \
                     (Performer, Gaussian Linformer), or of the inputs (same generator) for a method without randomness \
                     (Nyström, mean-pool Linformer). Computed by the CPU twin on the checked rows (the twin equals the GPU \
                     kernels). The dashed lines are the baselines to beat: outputting the mean of V, and outputting zeros. \
                     Try inputs=low-rank for Nyström, inputs=local for Linformer, and a small Q, K scale for Performer."
                </p>
                <div class="run-status" data-testid="sweep-status" data-state=data_state data-slope=fitted>
                    <Show when=running>
                        <progress max="1" value=move || progress().to_string()></progress>
                    </Show>
                    <span>{summary}</span>
                </div>
                <canvas node_ref=canvas width="640" height="360" data-testid="error-law"></canvas>
            </section>
        </Show>
    }
}

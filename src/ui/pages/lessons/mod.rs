//! The lessons (`/lessons`, `/lessons/<step>`, `/lessons/<step>/presenter`):
//! the survey read in order ([`LESSONS`]: the quadratic bottleneck, sparse
//! patterns, low rank, kernels, memory, quantization, model size, the
//! comparison), each step's text and claim beside the live run of its
//! preset.
//!
//! The live run is the lab's own page, mounted here: "Run it" puts the
//! preset's query on the lesson's address (`/lessons/2?method=longformer&…`),
//! and the lab reads and rewrites that query as it does on its own route —
//! it only ever rewrites the query, never the path, so the step and the
//! presenter layout (both in the path) survive every knob the learner
//! turns, and a reload reopens the same step with the same knobs. Without a
//! query the step shows its text alone, so paging through the steps starts
//! no run.

use leptos::ev;
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate, use_params_map};
use wasm_bindgen::JsCast;

use crate::pipeline::lessons::{LESSONS, LessonPlace, parse_place};
use crate::ui::components::site_base;

/// Renders the page of a lab's family (the app's one table of pages).
pub type LabPage = fn(Option<&str>) -> AnyView;

/// The lessons page; `lab` renders the preset's lab.
#[component]
pub fn LessonsPage(lab: LabPage) -> impl IntoView {
    let params = use_params_map();
    let location = use_location();
    let base = site_base();
    let place =
        Memo::new(move |_| parse_place(&params.with(|p| p.get("rest").unwrap_or_default())));
    let live = Memo::new(move |_| !location.search.get().trim_start_matches('?').is_empty());
    // What the mounted lab depends on: a knob (the query) or the presenter
    // toggle must not rebuild it.
    let mounted = Memo::new(move |_| (place.get().ok().map(|p| p.step), live.get()));
    // Leaving a step unmounts its lab before the address changes: a lab
    // still mounted would read the new, empty query as its defaults and
    // write them back.
    let (leaving, set_leaving) = signal(false);
    let presenter = Memo::new(move |_| place.get().is_ok_and(|p| p.presenter));
    // In the presenter layout the lab's controls start collapsed.
    let (controls, set_controls) = signal(true);
    Effect::new(move |_| set_controls.set(!presenter.get()));

    let navigate = use_navigate();
    let go = {
        let base = base.clone();
        move |place: LessonPlace, query: Option<String>| {
            let mut url = format!("{base}{}", place.path());
            if let Some(q) = query.filter(|q| !q.is_empty()) {
                url.push('?');
                url.push_str(&q);
            }
            navigate(
                &url,
                NavigateOptions {
                    resolve: false,
                    scroll: false,
                    ..Default::default()
                },
            );
        }
    };
    let go = StoredValue::new_local(go);
    let step_by = move |delta: isize| {
        if let Ok(p) = place.get_untracked() {
            let next = p.step as isize + delta;
            if (0..LESSONS.len() as isize).contains(&next) {
                set_leaving.set(true);
                set_timeout(
                    move || {
                        go.with_value(|go| {
                            go(
                                LessonPlace {
                                    step: next as usize,
                                    ..p
                                },
                                None,
                            )
                        });
                        set_leaving.set(false);
                    },
                    std::time::Duration::ZERO,
                );
            }
        }
    };
    // The arrow keys page through the steps, except while a field, a list
    // or a button of the lab has the focus.
    let keys = window_event_listener(ev::keydown, move |e| {
        if e.alt_key() || e.ctrl_key() || e.meta_key() || e.shift_key() {
            return;
        }
        let typing = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|el| {
                matches!(
                    el.tag_name().to_ascii_lowercase().as_str(),
                    "input" | "select" | "textarea"
                )
            });
        if typing {
            return;
        }
        match e.key().as_str() {
            "ArrowRight" => step_by(1),
            "ArrowLeft" => step_by(-1),
            _ => {}
        }
    });
    on_cleanup(move || keys.remove());

    let run = move |_| {
        if let Ok(p) = place.get_untracked() {
            go.with_value(|go| go(p, Some(LESSONS[p.step].query.to_string())));
        }
    };
    let toggle_presenter = move |_| {
        if let Ok(p) = place.get_untracked() {
            let query = location.search.get_untracked();
            go.with_value(|go| {
                go(
                    LessonPlace {
                        presenter: !p.presenter,
                        ..p
                    },
                    Some(query.trim_start_matches('?').to_string()),
                )
            });
        }
    };

    let text = {
        let base = base.clone();
        move || match place.get() {
            Err(why) => view! {
                <section class="card lesson-text" data-testid="lesson-error" role="alert">
                    <h2>"No such lesson"</h2>
                    <p>{format!("{why}.")}</p>
                    <p><a href=format!("{base}/lessons/1")>"Start at step 1"</a></p>
                </section>
            }
            .into_any(),
            Ok(p) => {
                let lesson = &LESSONS[p.step];
                let total = LESSONS.len();
                view! {
                    <article
                        class="card lesson-text"
                        data-testid="lesson-step"
                        data-step=(p.step + 1).to_string()
                        data-key=lesson.key
                        data-route=lesson.route
                    >
                        <p class="lesson-counter muted" data-testid="lesson-counter">
                            {format!("Step {} of {total}", p.step + 1)}
                        </p>
                        <h2>{lesson.title}</h2>
                        {lesson.text.iter().map(|s| view! { <p>{*s}</p> }).collect_view()}
                        <p class="lesson-claim" data-testid="lesson-claim">
                            <strong>"Claim: "</strong>
                            {lesson.claim}
                        </p>
                        <p class="lesson-try">
                            <strong>"Try it: "</strong>
                            {lesson.try_this}
                        </p>
                        <p class="lesson-links muted">
                            "The preset: "
                            <a href=format!("{base}{}", lesson.preset()) data-testid="lesson-open">
                                <code>{lesson.preset()}</code>
                            </a>
                        </p>
                    </article>
                }
                .into_any()
            }
        }
    };

    let counter_step = move || place.get().map(|p| p.step).unwrap_or(0);
    let bar = view! {
        <nav class="lesson-bar" aria-label="Lesson steps">
            <button
                data-testid="lesson-prev"
                prop:disabled=move || place.get().map_or(true, |p| p.step == 0)
                on:click=move |_| step_by(-1)
            >
                "← Previous"
            </button>
            <button
                class="primary"
                data-testid="lesson-run"
                prop:disabled=move || place.get().is_err()
                on:click=run
            >
                {move || if live.get() { "Reset to the preset" } else { "Run it" }}
            </button>
            <button
                data-testid="lesson-next"
                prop:disabled=move || place.get().map_or(true, |p| p.step + 1 >= LESSONS.len())
                on:click=move |_| step_by(1)
            >
                "Next →"
            </button>
            <span class="lesson-dots" aria-hidden="true">
                {move || {
                    let at = counter_step();
                    (0..LESSONS.len())
                        .map(|i| if i == at { "●" } else { "○" })
                        .collect::<String>()
                }}
            </span>
            <button
                data-testid="presenter-toggle"
                aria-pressed=move || presenter.get().to_string()
                prop:disabled=move || place.get().is_err()
                on:click=toggle_presenter
            >
                {move || if presenter.get() { "Leave presenter layout" } else { "Presenter layout" }}
            </button>
            <button
                data-testid="lesson-controls-toggle"
                aria-pressed=move || controls.get().to_string()
                on:click=move |_| set_controls.update(|c| *c = !*c)
            >
                {move || if controls.get() { "Hide the controls" } else { "Show the controls" }}
            </button>
        </nav>
    };

    let run_view = move || {
        if leaving.get() {
            return ().into_any();
        }
        match mounted.get() {
        (Some(step), true) => lab(LESSONS[step].family()),
        (Some(_), false) => view! {
            <section class="card lesson-idle" data-testid="lesson-idle">
                <p>
                    "Press " <strong>"Run it"</strong>
                    " to run this step's preset here, on this machine; then change a knob and see the claim hold or break."
                </p>
            </section>
        }
        .into_any(),
        (None, _) => ().into_any(),
    }
    };

    view! {
        <div
            class="lessons"
            class:presenter=move || presenter.get()
            class:controls-collapsed=move || !controls.get()
            data-testid="lessons-page"
            data-presenter=move || presenter.get().to_string()
        >
            {bar}
            <div class="lesson-layout">
                {text}
                <div class="lesson-run" data-testid="lesson-live" data-live=move || live.get().to_string()>
                    {run_view}
                </div>
            </div>
        </div>
    }
}

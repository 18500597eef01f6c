//! The page's run notices, shown once above every lab: the device-lost
//! banner (`data-testid="device-lost"`: the WebGPU device was lost; the next
//! run creates another, or falls back to the CPU twin with the reason) and
//! the long-run question (`data-testid="confirm-long-run"`: a CPU-twin run
//! predicted to exceed the page's time budget waits for the user's go-ahead,
//! asked inside the page rather than with `window.confirm`, which would
//! block the page and the browser tests).

use std::cell::{Cell, RefCell};

use futures_channel::oneshot;
use leptos::prelude::*;

/// The device-lost banner's state.
#[derive(Debug, Clone, PartialEq)]
enum Lost {
    /// The device was lost, for this reason; nothing ran since.
    Lost(String),
    /// It was lost, and a new device has been created since.
    Restored(String),
}

/// The long-run question on screen: its id and text.
type Question = (u64, String);

thread_local! {
    static LOST: RefCell<Option<WriteSignal<Option<Lost>>>> = const { RefCell::new(None) };
    static QUESTION: RefCell<Option<WriteSignal<Option<Question>>>> = const { RefCell::new(None) };
    static ANSWER: RefCell<Option<(u64, oneshot::Sender<bool>)>> = const { RefCell::new(None) };
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
}

/// Shows the banner: the device was lost (`why`).
pub fn device_lost(why: String) {
    LOST.with_borrow(|s| {
        if let Some(s) = s {
            s.set(Some(Lost::Lost(why)));
        }
    });
}

/// A new device was created after a loss: the banner says so.
pub fn device_restored() {
    LOST.with_borrow(|s| {
        if let Some(s) = s {
            s.update(|l| {
                if let Some(Lost::Lost(why)) = l {
                    *l = Some(Lost::Restored(why.clone()));
                }
            });
        }
    });
}

/// Clears the question `id` from the screen when its run goes away
/// (answered, superseded: the job's future dropped).
struct QuestionGuard(u64);

impl Drop for QuestionGuard {
    fn drop(&mut self) {
        let id = self.0;
        ANSWER.with_borrow_mut(|a| {
            if matches!(a, Some((current, _)) if *current == id) {
                *a = None;
            }
        });
        QUESTION.with_borrow(|q| {
            if let Some(q) = q {
                q.update(|q| {
                    if matches!(q, Some((current, _)) if *current == id) {
                        *q = None;
                    }
                });
            }
        });
    }
}

/// Asks `question` in the page and waits for the answer: `Some(true)` to
/// run, `Some(false)` not to, `None` when the question was replaced or
/// `still_wanted` turned false. Without the notices on the page, runs.
pub async fn ask_long_run(question: String, still_wanted: impl Fn() -> bool) -> Option<bool> {
    let shown = QUESTION.with_borrow(|q| q.is_some());
    if !shown {
        return Some(true);
    }
    let id = NEXT_ID.get() + 1;
    NEXT_ID.set(id);
    let (tx, rx) = oneshot::channel();
    ANSWER.with_borrow_mut(|a| *a = Some((id, tx)));
    QUESTION.with_borrow(|q| {
        if let Some(q) = q {
            q.set(Some((id, question)));
        }
    });
    let _guard = QuestionGuard(id);
    let answer = rx.await.ok();
    answer.filter(|_| still_wanted())
}

fn answer(yes: bool) {
    if let Some((_, tx)) = ANSWER.with_borrow_mut(Option::take) {
        let _ = tx.send(yes);
    }
}

/// The device-lost banner and the long-run question (mounted once, in the
/// app's shell); also installs the `#debug-lose-device` test hook.
#[component]
pub fn RunNotices() -> impl IntoView {
    let (lost, set_lost) = signal(None::<Lost>);
    let (question, set_question) = signal(None::<Question>);
    LOST.with_borrow_mut(|s| *s = Some(set_lost));
    QUESTION.with_borrow_mut(|s| *s = Some(set_question));
    on_cleanup(|| {
        LOST.with_borrow_mut(|s| *s = None);
        QUESTION.with_borrow_mut(|s| *s = None);
    });
    crate::ui::browser::install_debug_hooks();
    view! {
        <Show when=move || lost.with(Option::is_some)>
            <div
                class="notice device-lost"
                data-testid="device-lost"
                data-state=move || match lost.get() {
                    Some(Lost::Restored(_)) => "restored",
                    _ => "lost",
                }
                role="alert"
            >
                {move || match lost.get() {
                    Some(Lost::Lost(why)) => format!(
                        "The GPU device was lost ({why}). The next run creates a new one, or falls back to the CPU twin if it cannot; no reload needed."
                    ),
                    Some(Lost::Restored(why)) => format!(
                        "The GPU device was lost ({why}); a new one was created and runs continue on it."
                    ),
                    None => String::new(),
                }}
                <button on:click=move |_| set_lost.set(None)>"Dismiss"</button>
            </div>
        </Show>
        <Show when=move || question.with(Option::is_some)>
            <div class="notice long-run" data-testid="confirm-long-run" role="alertdialog">
                <span>{move || question.get().map(|q| q.1).unwrap_or_default()}</span>
                <button class="primary" data-testid="confirm-long-run-go" on:click=move |_| answer(true)>
                    "Run it"
                </button>
                <button data-testid="confirm-long-run-cancel" on:click=move |_| answer(false)>
                    "Don't run"
                </button>
            </div>
        </Show>
    }
}

//! The job runner ([`crate::pipeline::jobs::Jobs`]) on the page: its status,
//! the count of superseded jobs and the settings of the results on screen
//! as signals, its driver spawned on the browser's event loop, and its Stop.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use leptos::prelude::*;

use crate::data::LocalFuture;
use crate::pipeline::jobs::{JobOutcome, JobStatus, Jobs};

/// What one job does: `run(jobs, generation, job)`; it delivers its result
/// itself while `jobs.is_current(generation)`.
pub type RunJob<T> = Rc<dyn Fn(Rc<Jobs<T>>, u64, T) -> LocalFuture<'static, JobOutcome>>;

/// What the results on screen belong to, for [`crate::ui::components::Results`]:
/// the runner's status, the settings of the results shown and of the run
/// in progress.
#[derive(Clone, Copy)]
pub struct ResultsState {
    /// The runner's status.
    pub status: Signal<JobStatus>,
    /// The settings of the last finished run (the results on screen).
    pub shown: Signal<Option<String>>,
    /// The settings of the newest request.
    pub requested: Signal<Option<String>>,
}

/// A page's runner of jobs of type `T`.
pub struct PageJobs<T: 'static> {
    jobs: Rc<Jobs<T>>,
    run: RunJob<T>,
    set_status: WriteSignal<JobStatus>,
    set_superseded: WriteSignal<u32>,
    /// The settings (as text) of each requested generation not yet run.
    labels: Rc<RefCell<HashMap<u64, String>>>,
    set_shown: WriteSignal<Option<String>>,
    set_requested: WriteSignal<Option<String>>,
    /// The runner's status.
    pub status: ReadSignal<JobStatus>,
    /// How many jobs stopped early or were dropped for a newer one.
    pub superseded: ReadSignal<u32>,
    /// The settings of the results on screen, and of the newest request.
    pub results: ResultsState,
    /// The Stop button's action (stops the job in progress).
    pub stop: Callback<()>,
}

/// The page's URL query as the label of a run's settings
/// (`method=full · n=4096`).
fn query_label() -> String {
    let search = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    let pairs: Vec<String> = form_urlencoded::parse(search.trim_start_matches('?').as_bytes())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if pairs.is_empty() {
        "the defaults".to_string()
    } else {
        pairs.join(" · ")
    }
}

impl<T: 'static> PageJobs<T> {
    /// A runner whose jobs are `run`.
    pub fn new(
        run: impl Fn(Rc<Jobs<T>>, u64, T) -> LocalFuture<'static, JobOutcome> + 'static,
    ) -> Rc<PageJobs<T>> {
        let (status, set_status) = signal(JobStatus::Idle);
        let (superseded, set_superseded) = signal(0u32);
        let (shown, set_shown) = signal(None::<String>);
        let (requested, set_requested) = signal(None::<String>);
        let jobs = Jobs::new(move |s: &JobStatus| {
            crate::ui::browser::mark(&format!("flt:{s:?}"));
            set_status.set(s.clone())
        });
        let stopper = StoredValue::new_local(jobs.clone());
        Rc::new(PageJobs {
            jobs,
            run: Rc::new(run),
            set_status,
            set_superseded,
            labels: Rc::new(RefCell::new(HashMap::new())),
            set_shown,
            set_requested,
            status,
            superseded,
            results: ResultsState {
                status: status.into(),
                shown: shown.into(),
                requested: requested.into(),
            },
            stop: Callback::new(move |()| {
                stopper.try_with_value(|j| j.stop());
            }),
        })
    }

    /// Runs `job` after (or instead of) the one in progress: a job in
    /// progress is dropped at its next piece or chunk, and only the newest
    /// runs.
    pub fn request(&self, job: T) {
        let label = query_label();
        let start = self.jobs.request(job);
        let generation = self.jobs.generation();
        {
            let mut labels = self.labels.borrow_mut();
            labels.retain(|g, _| *g >= generation);
            labels.insert(generation, label.clone());
        }
        self.set_requested.set(Some(label));
        if !start {
            return;
        }
        let jobs = self.jobs.clone();
        let run = self.run.clone();
        let set_superseded = self.set_superseded;
        let labels = self.labels.clone();
        let set_shown = self.set_shown;
        leptos::task::spawn_local(async move {
            jobs.clone()
                .drive(move |jobs, generation, job| {
                    set_superseded.set(jobs.superseded());
                    let label = labels.borrow_mut().remove(&generation);
                    let run = run(jobs.clone(), generation, job);
                    Box::pin(async move {
                        let outcome = run.await;
                        if outcome == JobOutcome::Done && jobs.is_current(generation) {
                            set_shown.set(label);
                        }
                        outcome
                    })
                })
                .await;
            set_superseded.set(jobs.superseded());
        });
    }

    /// Stops the job in progress, drops any pending one, and shows the
    /// runner idle.
    pub fn reset(&self) {
        self.jobs.cancel();
        self.set_status.set(JobStatus::Idle);
    }

    /// Stops the job in progress and drops any pending one.
    pub fn cancel(&self) {
        self.jobs.cancel();
    }
}

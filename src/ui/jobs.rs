//! The job runner ([`crate::pipeline::jobs::Jobs`]) on the page: its status
//! and the count of superseded jobs as signals, its driver spawned on the
//! browser's event loop.

use std::rc::Rc;

use leptos::prelude::*;

use crate::data::LocalFuture;
use crate::pipeline::jobs::{JobOutcome, JobStatus, Jobs};

/// What one job does: `run(jobs, generation, job)`; it delivers its result
/// itself while `jobs.is_current(generation)`.
pub type RunJob<T> = Rc<dyn Fn(Rc<Jobs<T>>, u64, T) -> LocalFuture<'static, JobOutcome>>;

/// A page's runner of jobs of type `T`.
pub struct PageJobs<T: 'static> {
    jobs: Rc<Jobs<T>>,
    run: RunJob<T>,
    set_status: WriteSignal<JobStatus>,
    set_superseded: WriteSignal<u32>,
    /// The runner's status.
    pub status: ReadSignal<JobStatus>,
    /// How many jobs stopped early or were dropped for a newer one.
    pub superseded: ReadSignal<u32>,
}

impl<T: 'static> PageJobs<T> {
    /// A runner whose jobs are `run`.
    pub fn new(
        run: impl Fn(Rc<Jobs<T>>, u64, T) -> LocalFuture<'static, JobOutcome> + 'static,
    ) -> Rc<PageJobs<T>> {
        let (status, set_status) = signal(JobStatus::Idle);
        let (superseded, set_superseded) = signal(0u32);
        Rc::new(PageJobs {
            jobs: Jobs::new(move |s: &JobStatus| {
                crate::ui::browser::mark(&format!("flt:{s:?}"));
                set_status.set(s.clone())
            }),
            run: Rc::new(run),
            set_status,
            set_superseded,
            status,
            superseded,
        })
    }

    /// Runs `job` after (or instead of) the one in progress: a job in
    /// progress stops at its next checkpoint, and only the newest runs.
    pub fn request(&self, job: T) {
        if !self.jobs.request(job) {
            return;
        }
        let jobs = self.jobs.clone();
        let run = self.run.clone();
        let set_superseded = self.set_superseded;
        leptos::task::spawn_local(async move {
            jobs.clone()
                .drive(move |jobs, generation, job| {
                    set_superseded.set(jobs.superseded());
                    run(jobs, generation, job)
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

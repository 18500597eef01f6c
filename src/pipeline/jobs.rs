//! The page's job runner, in plain Rust so that its policies are tested
//! natively: requests are numbered (generations); a new request supersedes
//! the one in progress, which stops at its next checkpoint (the CPU twin
//! between chunks; a GPU run's dispatches finish and its result is dropped);
//! only the newest pending request runs next; progress reports of a
//! superseded job are ignored. The explorer's run and the error-law sweep
//! both run through it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::Host;
use crate::data::LocalFuture;

/// A job's state as a view shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum JobStatus {
    /// Nothing asked yet.
    Idle,
    /// A job is in progress.
    Running {
        /// What it is doing.
        stage: String,
        /// Share done, 0..=1.
        fraction: f64,
    },
    /// The last job finished.
    Done,
    /// The last job failed.
    Failed(String),
}

/// Runs requests of type `T` one at a time, newest first.
pub struct Jobs<T> {
    generation: Cell<u64>,
    pending: RefCell<Option<(u64, T)>>,
    busy: Cell<bool>,
    superseded: Cell<u32>,
    status: RefCell<JobStatus>,
    on_status: Box<dyn Fn(&JobStatus)>,
}

impl<T: 'static> Jobs<T> {
    /// A runner that calls `on_status` whenever its status changes.
    pub fn new(on_status: impl Fn(&JobStatus) + 'static) -> Rc<Jobs<T>> {
        Rc::new(Jobs {
            generation: Cell::new(0),
            pending: RefCell::new(None),
            busy: Cell::new(false),
            superseded: Cell::new(0),
            status: RefCell::new(JobStatus::Idle),
            on_status: Box::new(on_status),
        })
    }

    /// Asks for `job`, superseding any earlier request (pending or running).
    /// Returns whether the caller must start [`Jobs::drive`] (no driver is
    /// running).
    pub fn request(&self, job: T) -> bool {
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        *self.pending.borrow_mut() = Some((generation, job));
        if self.busy.get() {
            false
        } else {
            self.busy.set(true);
            true
        }
    }

    /// Stops the job in progress and drops any pending one.
    pub fn cancel(&self) {
        self.generation.set(self.generation.get() + 1);
        self.pending.borrow_mut().take();
    }

    /// Runs pending jobs until none is left: `run(generation, job, host)`
    /// for each, the host tied to that generation.
    pub async fn drive<F>(self: Rc<Self>, run: F)
    where
        F: Fn(Rc<Jobs<T>>, u64, T) -> LocalFuture<'static, JobOutcome>,
    {
        loop {
            let next = self.pending.borrow_mut().take();
            let Some((generation, job)) = next else {
                break;
            };
            self.set_status(JobStatus::Running {
                stage: "starting".into(),
                fraction: 0.0,
            });
            let outcome = run(self.clone(), generation, job).await;
            if !self.is_current(generation) {
                self.superseded.set(self.superseded.get() + 1);
                continue;
            }
            match outcome {
                JobOutcome::Done => self.set_status(JobStatus::Done),
                JobOutcome::Failed(why) => self.set_status(JobStatus::Failed(why)),
                JobOutcome::Cancelled => self.superseded.set(self.superseded.get() + 1),
            }
        }
        self.busy.set(false);
    }

    /// Whether `generation` is the newest request.
    pub fn is_current(&self, generation: u64) -> bool {
        self.generation.get() == generation
    }

    /// How many jobs stopped early or were dropped because a newer one came.
    pub fn superseded(&self) -> u32 {
        self.superseded.get()
    }

    /// The current status.
    pub fn status(&self) -> JobStatus {
        self.status.borrow().clone()
    }

    fn set_status(&self, status: JobStatus) {
        *self.status.borrow_mut() = status;
        (self.on_status)(&self.status.borrow());
    }

    /// A host for the job of `generation`: its progress is shown while it
    /// is current, it yields through `yield_now`, and it is cancelled once
    /// superseded.
    pub fn host(
        self: &Rc<Self>,
        generation: u64,
        yield_now: fn() -> LocalFuture<'static, ()>,
    ) -> JobHost<T> {
        JobHost {
            jobs: self.clone(),
            generation,
            yield_now,
        }
    }
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// It finished (its result was delivered by the job itself).
    Done,
    /// It failed, with the message to show.
    Failed(String),
    /// It stopped because a newer request came.
    Cancelled,
}

/// The [`Host`] of one job.
pub struct JobHost<T> {
    jobs: Rc<Jobs<T>>,
    generation: u64,
    yield_now: fn() -> LocalFuture<'static, ()>,
}

impl<T: 'static> Host for JobHost<T> {
    fn progress(&self, stage: &str, fraction: f64) {
        if !self.cancelled() {
            self.jobs.set_status(JobStatus::Running {
                stage: stage.into(),
                fraction,
            });
        }
    }

    fn yield_now(&self) -> LocalFuture<'_, ()> {
        (self.yield_now)()
    }

    fn cancelled(&self) -> bool {
        !self.jobs.is_current(self.generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::checkpoint;

    fn no_yield() -> LocalFuture<'static, ()> {
        Box::pin(async {})
    }

    /// A job that checkpoints `steps` times and, at `request_at`, asks for
    /// a newer job (as a user changing a control mid-run).
    fn job(
        jobs: Rc<Jobs<u32>>,
        generation: u64,
        steps: u32,
        log: Rc<RefCell<Vec<String>>>,
    ) -> LocalFuture<'static, JobOutcome> {
        Box::pin(async move {
            let host = jobs.host(generation, no_yield);
            for step in 0..steps {
                host.progress("working", step as f64 / steps as f64);
                if generation == 1 && step == 2 {
                    jobs.request(7);
                }
                if checkpoint(&host).await.is_err() {
                    log.borrow_mut()
                        .push(format!("job {generation} stopped at {step}"));
                    return JobOutcome::Cancelled;
                }
            }
            log.borrow_mut().push(format!("job {generation} finished"));
            JobOutcome::Done
        })
    }

    #[test]
    fn a_new_request_supersedes_the_running_job_and_runs_next() {
        let statuses = Rc::new(RefCell::new(Vec::new()));
        let seen = statuses.clone();
        let jobs = Jobs::<u32>::new(move |s| seen.borrow_mut().push(s.clone()));
        let log = Rc::new(RefCell::new(Vec::new()));
        assert!(jobs.request(5), "the first request starts a driver");
        let l = log.clone();
        pollster::block_on(
            jobs.clone()
                .drive(move |jobs, generation, steps| job(jobs, generation, steps, l.clone())),
        );
        assert_eq!(
            *log.borrow(),
            vec![
                "job 1 stopped at 2".to_string(),
                "job 2 finished".to_string()
            ]
        );
        assert_eq!(jobs.superseded(), 1);
        assert_eq!(jobs.status(), JobStatus::Done);
        // The superseded job's progress after the new request is not shown.
        let progress: Vec<f64> = statuses
            .borrow()
            .iter()
            .filter_map(|s| match s {
                JobStatus::Running { fraction, .. } => Some(*fraction),
                _ => None,
            })
            .collect();
        assert!(
            progress.windows(2).all(|w| w[0] <= w[1] || w[1] == 0.0),
            "{progress:?}"
        );
    }

    #[test]
    fn requests_while_busy_keep_only_the_newest_and_cancel_drops_it() {
        let jobs = Jobs::<u32>::new(|_| {});
        assert!(jobs.request(1));
        assert!(!jobs.request(2), "a driver is already running");
        assert!(!jobs.request(3));
        let ran = Rc::new(RefCell::new(Vec::new()));
        let r = ran.clone();
        pollster::block_on(jobs.clone().drive(move |_, generation, job| {
            r.borrow_mut().push((generation, job));
            Box::pin(async { JobOutcome::Failed("broken".into()) })
        }));
        assert_eq!(*ran.borrow(), vec![(3, 3)], "only the newest runs");
        assert_eq!(jobs.status(), JobStatus::Failed("broken".into()));
        assert!(jobs.request(4));
        jobs.cancel();
        let ran = Rc::new(RefCell::new(0));
        let r = ran.clone();
        pollster::block_on(jobs.clone().drive(move |_, _, _| {
            *r.borrow_mut() += 1;
            Box::pin(async { JobOutcome::Done })
        }));
        assert_eq!(*ran.borrow(), 0, "a cancelled request never runs");
    }
}

//! The page's job runner, in plain Rust so that its policies are tested
//! natively: requests are numbered (generations); a new request supersedes
//! the one in progress, whose future the driver drops at once (the CPU
//! twin between two chunks; a GPU run between two pieces of its program,
//! the piece in flight finishing on the GPU unread); only the newest
//! pending request runs next; progress reports of a superseded job are
//! ignored. A Stop ([`Jobs::stop`]) drops the job the same way and shows
//! [`JobStatus::Stopped`] at once. Every page's runs go through it.
//!
//! Also here, as pure functions: the time left from the work done
//! ([`eta_text`]) and the CPU time budget ([`cpu_run_seconds`],
//! [`CPU_CONFIRM_SECONDS`]).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

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
    /// The user stopped the last job (its results were not shown; the
    /// previous results stay, marked as such).
    Stopped,
}

/// Runs requests of type `T` one at a time, newest first.
pub struct Jobs<T> {
    generation: Cell<u64>,
    pending: RefCell<Option<(u64, T)>>,
    busy: Cell<bool>,
    superseded: Cell<u32>,
    status: RefCell<JobStatus>,
    on_status: Box<dyn Fn(&JobStatus)>,
    /// The generation a Stop ended (not counted as superseded).
    stopped: Cell<Option<u64>>,
    /// The driver's waker, woken when the running job is superseded.
    waker: RefCell<Option<Waker>>,
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
            stopped: Cell::new(None),
            waker: RefCell::new(None),
        })
    }

    /// Asks for `job`, superseding any earlier request (pending or running).
    /// Returns whether the caller must start [`Jobs::drive`] (no driver is
    /// running).
    pub fn request(&self, job: T) -> bool {
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        *self.pending.borrow_mut() = Some((generation, job));
        self.wake();
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
        self.wake();
    }

    /// The user's Stop: drops the job in progress (and any pending one) and
    /// shows [`JobStatus::Stopped`] at once, without waiting for the job to
    /// reach a checkpoint. Does nothing when no job is running.
    pub fn stop(&self) {
        if !matches!(*self.status.borrow(), JobStatus::Running { .. }) {
            return;
        }
        self.stopped.set(Some(self.generation.get()));
        self.cancel();
        self.set_status(JobStatus::Stopped);
    }

    /// Whether a job is running (the Stop button is enabled).
    pub fn running(&self) -> bool {
        matches!(*self.status.borrow(), JobStatus::Running { .. })
    }

    fn wake(&self) {
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
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
            let outcome = Supersedable {
                jobs: &self,
                generation,
                job: run(self.clone(), generation, job),
            }
            .await;
            if !self.is_current(generation) {
                if self.stopped.get() != Some(generation) {
                    self.superseded.set(self.superseded.get() + 1);
                }
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

    /// The newest request's generation.
    pub fn generation(&self) -> u64 {
        self.generation.get()
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

/// A job's future raced against its supersession: it resolves with the
/// job's outcome, or with [`JobOutcome::Cancelled`] — dropping the job's
/// future — as soon as a newer request, a cancel or a Stop arrives.
struct Supersedable<'a, T> {
    jobs: &'a Jobs<T>,
    generation: u64,
    job: LocalFuture<'static, JobOutcome>,
}

impl<T> Future for Supersedable<'_, T> {
    type Output = JobOutcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<JobOutcome> {
        if let Poll::Ready(outcome) = self.job.as_mut().poll(cx) {
            return Poll::Ready(outcome);
        }
        if self.jobs.generation.get() != self.generation {
            return Poll::Ready(JobOutcome::Cancelled);
        }
        *self.jobs.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
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

/// "about 12 s left" for `done` of `total` units of work done in
/// `elapsed_ms`, by the rate so far; `None` before the first unit is done
/// or after the last.
pub fn eta_text(done: f64, total: f64, elapsed_ms: f64) -> Option<String> {
    if !(done > 0.0 && done < total && elapsed_ms.is_finite() && elapsed_ms >= 0.0) {
        return None;
    }
    let left_s = elapsed_ms / done * (total - done) / 1e3;
    Some(if left_s < 1.0 {
        "under a second left".to_string()
    } else if left_s < 90.0 {
        format!("about {:.0} s left", left_s.ceil())
    } else {
        format!("about {:.0} min left", (left_s / 60.0).ceil())
    })
}

/// "what: 3 of 12 pieces, about 20 s left" — a stage's text from the work
/// it has done.
pub fn work_text(what: &str, done: u64, total: u64, unit: &str, elapsed_ms: f64) -> String {
    let eta = eta_text(done as f64, total as f64, elapsed_ms)
        .map(|e| format!(", {e}"))
        .unwrap_or_default();
    format!("{what}: {done} of {total} {unit}{eta}")
}

/// A CPU-twin run predicted to take longer than this (seconds) asks the
/// user before it starts (the page's CPU time budget).
pub const CPU_CONFIRM_SECONDS: f64 = 20.0;

/// The CPU rate assumed before any CPU-twin run was measured (FLOP/s):
/// below what the twin sustains in wasm (full attention at n = 4096, about
/// 4.3 GFLOP per pass, took 4.1 s with its checks in headless Chromium on
/// SwiftShader's machine), so a first estimate errs towards asking.
pub const CPU_RATE_GUESS: f64 = 0.5e9;

/// Predicted seconds of a CPU-twin run of `repeats` passes of `pass_flops`
/// each plus one more for its checks (the pattern, the twin on checked rows,
/// the exact reference), at `rate` FLOP/s.
pub fn cpu_run_seconds(pass_flops: f64, repeats: u32, rate: f64) -> f64 {
    let rate = if rate.is_finite() && rate > 0.0 {
        rate
    } else {
        CPU_RATE_GUESS
    };
    pass_flops.max(0.0) * (repeats.max(1) as f64 + 1.0) / rate
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

    /// Sets a flag when dropped: proves a job's future was dropped.
    struct DropFlag(Rc<Cell<bool>>);
    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }

    /// A runner whose job `0` never finishes (a GPU piece that never
    /// completes) and whose other jobs finish at once; the drive future
    /// polled by hand, as the browser's event loop would.
    type Driver = Pin<Box<dyn Future<Output = ()>>>;
    /// The runner, its driver, whether job 0 was dropped, the jobs run.
    type Stuck = (Rc<Jobs<u32>>, Driver, Rc<Cell<bool>>, Rc<RefCell<Vec<u32>>>);

    fn stuck_runner() -> Stuck {
        let jobs = Jobs::<u32>::new(|_| {});
        let dropped = Rc::new(Cell::new(false));
        let ran = Rc::new(RefCell::new(Vec::new()));
        let (d, r) = (dropped.clone(), ran.clone());
        assert!(jobs.request(0));
        let drive = jobs.clone().drive(move |_, _, job| {
            r.borrow_mut().push(job);
            let flag = DropFlag(d.clone());
            Box::pin(async move {
                if job == 0 {
                    std::future::pending::<()>().await;
                }
                drop(flag);
                JobOutcome::Done
            })
        });
        (jobs, Box::pin(drive), dropped, ran)
    }

    fn poll(drive: &mut Driver) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        drive.as_mut().poll(&mut cx).is_ready()
    }

    /// A Stop shows "stopped" at once, while the job is stuck, and the
    /// driver drops the job's future on its next turn; a stop is not
    /// counted as a supersede. Without the race in `drive` the driver would
    /// wait for the stuck job forever.
    #[test]
    fn a_stop_shows_stopped_at_once_and_drops_a_stuck_job() {
        let (jobs, mut drive, dropped, ran) = stuck_runner();
        assert!(!poll(&mut drive), "job 0 is stuck");
        assert!(jobs.running());
        jobs.stop();
        assert_eq!(jobs.status(), JobStatus::Stopped, "at once");
        assert!(!jobs.running());
        assert!(poll(&mut drive), "the driver ends without job 0 finishing");
        assert!(dropped.get(), "job 0's future was dropped");
        assert_eq!(jobs.status(), JobStatus::Stopped);
        assert_eq!(jobs.superseded(), 0);
        assert_eq!(*ran.borrow(), vec![0]);
        // Stop when nothing runs changes nothing.
        jobs.stop();
        assert_eq!(jobs.status(), JobStatus::Stopped);
    }

    /// A newer request takes over from a stuck job without waiting for it.
    #[test]
    fn a_newer_request_drops_a_stuck_job_and_runs() {
        let (jobs, mut drive, dropped, ran) = stuck_runner();
        assert!(!poll(&mut drive));
        assert!(!jobs.request(1), "the driver is busy");
        assert!(poll(&mut drive), "job 1 ran and the driver ended");
        assert!(dropped.get());
        assert_eq!(*ran.borrow(), vec![0, 1]);
        assert_eq!(jobs.status(), JobStatus::Done);
        assert_eq!(jobs.superseded(), 1);
    }

    #[test]
    fn the_time_left_follows_the_rate_so_far() {
        assert_eq!(eta_text(0.0, 10.0, 500.0), None, "nothing done yet");
        assert_eq!(eta_text(10.0, 10.0, 500.0), None, "all done");
        assert_eq!(
            eta_text(1.0, 11.0, 2000.0).as_deref(),
            Some("about 20 s left")
        );
        assert_eq!(
            eta_text(3.0, 4.0, 600.0).as_deref(),
            Some("under a second left")
        );
        assert_eq!(
            eta_text(1.0, 5.0, 60_000.0).as_deref(),
            Some("about 4 min left")
        );
        assert_eq!(
            work_text("fused attention", 1, 11, "pieces", 2000.0),
            "fused attention: 1 of 11 pieces, about 20 s left"
        );
        assert_eq!(
            work_text("CPU twin", 0, 4096, "rows", 0.0),
            "CPU twin: 0 of 4096 rows"
        );
    }

    #[test]
    fn the_cpu_estimate_counts_every_pass_and_the_checks() {
        // Full attention at n = 4096, d = 64: 4n²d FLOPs a pass.
        let pass = 4.0 * 4096f64 * 4096.0 * 64.0;
        let t = cpu_run_seconds(pass, 1, 1e9);
        assert!((t - 2.0 * pass / 1e9).abs() < 1e-9, "{t}");
        assert!(t < CPU_CONFIRM_SECONDS);
        assert!(cpu_run_seconds(16.0 * pass, 1, 1e9) > CPU_CONFIRM_SECONDS);
        assert_eq!(
            cpu_run_seconds(pass, 1, f64::NAN),
            cpu_run_seconds(pass, 1, CPU_RATE_GUESS)
        );
        assert_eq!(cpu_run_seconds(pass, 0, 1e9), cpu_run_seconds(pass, 1, 1e9));
    }
}

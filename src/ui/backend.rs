//! The page's backend: [`crate::pipeline::resolve_backend`] with
//! [`GpuPolicy::FallBack`] — the CPU twin, with the reason, when WebGPU is
//! absent or is a software adapter under `auto` (the GPU then offered on
//! the badge) — over a WebGPU context found once and shared by every run
//! (each gets a clone of the `Rc`), dropped and created again when the
//! device is lost; and the page's GPU turn ([`gpu_turn`]): one section's
//! GPU work at a time, so that two runs never interleave their error
//! scopes, their buffers' readback or their timings. While a job holds the
//! turn, its [`JobWatch`] is the context's watch: programs report their
//! pieces to it and stop between pieces once the job is superseded or
//! stopped.
//!
//! Also here: the CPU rate measured by the page's CPU-twin runs and the
//! long-run question ([`confirm_cpu_run`]) asked before a run predicted to
//! exceed [`CPU_CONFIRM_SECONDS`].

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use leptos::prelude::{Set, WriteSignal};

use super::browser::{init_gpu, sleep_ms, yield_to_browser};
use super::components::{BackendInfo, notices};
use crate::gpu::{GpuContext, GpuError, Watch};
use crate::pipeline::jobs::{
    CPU_CONFIRM_SECONDS, CPU_RATE_GUESS, JobHost, JobOutcome, Jobs, cpu_run_seconds, work_text,
};
use crate::pipeline::{Backend, BackendChoice, GpuPolicy, Host, RunError, resolve_backend};

thread_local! {
    /// The WebGPU context, or why there is none, once looked for.
    static GPU: RefCell<Option<Result<Rc<GpuContext>, String>>> = const { RefCell::new(None) };
    /// Whether a section holds the GPU.
    static GPU_BUSY: Cell<bool> = const { Cell::new(false) };
    /// The CPU twin's rate measured by this page's runs (FLOP/s).
    static CPU_RATE: Cell<Option<f64>> = const { Cell::new(None) };
}

/// The GPU held by one section; released (and its watch removed) when
/// dropped.
pub struct GpuTurn(Option<Rc<GpuContext>>);

impl Drop for GpuTurn {
    fn drop(&mut self) {
        if let Some(ctx) = &self.0 {
            ctx.set_watch(None);
        }
        GPU_BUSY.set(false);
    }
}

/// Waits until no other section runs on the GPU and takes it (`Ok(None)`
/// for the CPU twin, which needs no turn), or gives up (`Err`) when
/// `still_wanted` turns false: the job was superseded while waiting.
pub async fn gpu_turn(
    backend: &Backend,
    still_wanted: impl Fn() -> bool,
) -> Result<Option<GpuTurn>, ()> {
    let Backend::Gpu(ctx) = backend else {
        return Ok(None);
    };
    while GPU_BUSY.get() {
        if !still_wanted() {
            return Err(());
        }
        sleep_ms(8).await;
    }
    GPU_BUSY.set(true);
    Ok(Some(GpuTurn(Some(ctx.clone()))))
}

/// The WebGPU context: created on first use, then the same one — unless
/// its device was lost, when it is dropped and created again.
async fn connect() -> Result<Rc<GpuContext>, GpuError> {
    let cached = GPU.with_borrow(|gpu| gpu.clone());
    let found = match cached {
        Some(Ok(ctx)) if ctx.lost().is_none() => Ok(ctx),
        Some(Err(why)) => Err(why),
        lost_or_none => {
            if let Some(Ok(ctx)) = lost_or_none {
                notices::device_lost(ctx.lost().unwrap_or_default());
            }
            let made = init_gpu().await.map(Rc::new).map_err(|e| match e {
                GpuError::Unavailable(why) => why,
                other => other.to_string(),
            });
            GPU.with_borrow_mut(|gpu| *gpu = Some(made.clone()));
            if made.is_ok() {
                notices::device_restored();
            }
            made
        }
    };
    found.map_err(GpuError::Unavailable)
}

/// Drops the cached context when its device is lost (the device-lost
/// callback of [`init_gpu`]): the next run creates another.
pub fn forget_lost_device() {
    GPU.with_borrow_mut(|gpu| {
        if matches!(gpu, Some(Ok(ctx)) if ctx.lost().is_some()) {
            *gpu = None;
        }
    });
}

/// Destroys the cached device (the `#debug-lose-device` test hook, see
/// [`super::browser::install_debug_hooks`]); returns whether there was one.
pub fn destroy_device_for_test() -> bool {
    GPU.with_borrow(|gpu| match gpu {
        Some(Ok(ctx)) => {
            ctx.device.destroy();
            true
        }
        _ => false,
    })
}

/// The backend for `choice`.
pub async fn resolve(choice: BackendChoice) -> Result<Backend, RunError> {
    resolve_backend(choice, GpuPolicy::FallBack, || Box::pin(connect())).await
}

/// What the badge shows for `backend`, chosen for `choice`: the GPU is
/// offered when `auto` ran on the CPU twin although a GPU exists (a
/// software adapter).
fn badge(backend: &Backend, choice: BackendChoice) -> BackendInfo {
    let gpu_exists = GPU.with_borrow(|gpu| matches!(gpu, Some(Ok(ctx)) if ctx.lost().is_none()));
    BackendInfo {
        kind: backend.key(),
        label: backend.label(),
        offer_gpu: choice == BackendChoice::Auto
            && matches!(backend, Backend::Cpu { reason: Some(_) })
            && gpu_exists,
    }
}

impl From<&Backend> for BackendInfo {
    fn from(backend: &Backend) -> BackendInfo {
        badge(backend, BackendChoice::Gpu)
    }
}

/// A job's watch over its GPU programs: their pieces become its progress,
/// and it stops them once the job is no longer the newest.
struct JobWatch<T: 'static>(JobHost<T>);

impl<T: 'static> Watch for JobWatch<T> {
    fn cancelled(&self) -> bool {
        self.0.cancelled()
    }

    fn piece(&self, program: &str, done: u32, total: u32, elapsed_ms: f64) {
        self.0.progress(
            &work_text(
                &format!("GPU, {program}"),
                done as u64,
                total as u64,
                "pieces",
                elapsed_ms,
            ),
            done as f64 / total.max(1) as f64,
        );
    }
}

/// The start of every page job: let the page show the new state, resolve
/// the backend for `choice`, show it on the badge (`shown`, if any), and take the
/// page's GPU turn (the job's watch installed on the context) — or the
/// outcome to return instead (the backend failed, or a newer job
/// superseded this one meanwhile).
pub async fn start_job<T: 'static>(
    jobs: &Rc<Jobs<T>>,
    generation: u64,
    choice: BackendChoice,
    shown: Option<WriteSignal<Option<BackendInfo>>>,
) -> Result<(Backend, Option<GpuTurn>), JobOutcome> {
    yield_to_browser().await;
    let backend = resolve(choice)
        .await
        .map_err(|e| JobOutcome::Failed(e.to_string()))?;
    if !jobs.is_current(generation) {
        return Err(JobOutcome::Cancelled);
    }
    if let Some(shown) = shown {
        shown.set(Some(badge(&backend, choice)));
    }
    let turn = gpu_turn(&backend, || jobs.is_current(generation))
        .await
        .map_err(|()| JobOutcome::Cancelled)?;
    if let Backend::Gpu(ctx) = &backend {
        ctx.set_watch(Some(Rc::new(JobWatch(
            jobs.host(generation, super::browser::yield_now),
        ))));
    }
    Ok((backend, turn))
}

/// Records a CPU-twin run: `flops` of work (as [`cpu_run_seconds`] counts
/// it) in `seconds` of wall clock. Runs under a second, or of less than
/// [`RATE_MIN_FLOPS`], are left out: their time is mostly the page's own
/// (inputs, the exact reference on the checked rows, views, yields), which
/// would make the twin look slower than it is — a cheap sparse run at
/// n = 8192 on a loaded machine measured a rate at which the next, twice as
/// large and still cheap, was predicted over the page's budget and asked.
pub fn record_cpu_rate(flops: f64, seconds: f64) {
    if flops >= RATE_MIN_FLOPS && seconds >= 1.0 && (flops / seconds).is_finite() {
        CPU_RATE.set(Some(flops / seconds));
    }
}

/// The CPU twin's rate: measured by this page's last CPU run, else
/// [`CPU_RATE_GUESS`]; and whether it was measured.
pub fn cpu_rate() -> (f64, bool) {
    match CPU_RATE.get() {
        Some(rate) => (rate, true),
        None => (CPU_RATE_GUESS, false),
    }
}

/// The least work (FLOPs over a run's passes) whose wall time measures the
/// CPU twin's rate: 2 GFLOP, about 4 s at the cautious guess.
pub const RATE_MIN_FLOPS: f64 = 2e9;

/// Above this n, the first run of a page opened from a link asks before it
/// starts (issue 12: "a huge n from a link asks before starting"): a link
/// such as `?n=1e9` (clamped to the page's largest n) should not start a
/// minutes-long run by itself. An n typed into the control later runs at
/// once.
pub const LINK_CONFIRM_N: usize = 4096;

/// Before the first run of a page opened at `n` > [`LINK_CONFIRM_N`] from
/// the address: asks in the page (the `confirm-long-run` panel) with the
/// size and the predicted cost — `pass_flops` per pass, `repeats` timed
/// passes and a warm-up, `bytes` moved per pass — and waits. `Ok` to go on;
/// `Err` with the outcome when the user declined (the job is stopped) or a
/// newer job came meanwhile.
pub async fn confirm_link_run<T: 'static>(
    jobs: &Rc<Jobs<T>>,
    generation: u64,
    backend: &Backend,
    n: usize,
    pass_flops: f64,
    bytes: f64,
    repeats: u32,
) -> Result<(), JobOutcome> {
    let passes = repeats.max(1) as f64 + 1.0;
    let on = match backend {
        Backend::Cpu { .. } => {
            let (rate, measured) = cpu_rate();
            format!(
                "about {:.0} s on the CPU twin at {:.2} GFLOP/s ({})",
                cpu_run_seconds(pass_flops, repeats, rate),
                rate / 1e9,
                if measured {
                    "the rate this page measured"
                } else {
                    "a cautious guess"
                }
            )
        }
        Backend::Gpu(ctx) => format!(
            "on the GPU ({}), from seconds on a discrete GPU to minutes on a software adapter",
            ctx.adapter_name
        ),
    };
    let question = format!(
        "The address asks for n = {n}, a large run: {:.1} GFLOP and {} moved over {passes:.0} passes, {on}. \
         Start it, or change n first?",
        pass_flops * passes / 1e9,
        crate::format::bytes((bytes * passes) as u64),
    );
    ask(
        jobs,
        generation,
        question,
        "waiting for your go-ahead (a large n from the address)",
    )
    .await
}

/// Shows `question` on the `confirm-long-run` panel with `waiting` as the
/// run's status and waits: `Ok` on go; on decline the job is stopped; a
/// newer job meanwhile ends the wait. Either way `Err(Cancelled)`.
async fn ask<T: 'static>(
    jobs: &Rc<Jobs<T>>,
    generation: u64,
    question: String,
    waiting: &str,
) -> Result<(), JobOutcome> {
    jobs.host(generation, super::browser::yield_now)
        .progress(waiting, 0.0);
    let jobs_for_check = jobs.clone();
    match notices::ask_long_run(question, move || jobs_for_check.is_current(generation)).await {
        Some(true) => Ok(()),
        Some(false) => {
            jobs.stop();
            Err(JobOutcome::Cancelled)
        }
        None => Err(JobOutcome::Cancelled),
    }
}

/// Before a CPU-twin run of `repeats` passes of `pass_flops`: when it is
/// predicted to exceed [`CPU_CONFIRM_SECONDS`], asks the user in the page
/// (the `confirm-long-run` panel) and waits. `Ok` to go on (at once when it
/// is short or on the GPU); `Err` with the outcome when the user declined
/// (the job is then stopped) or a newer job came meanwhile.
pub async fn confirm_cpu_run<T: 'static>(
    jobs: &Rc<Jobs<T>>,
    generation: u64,
    backend: &Backend,
    pass_flops: f64,
    repeats: u32,
) -> Result<(), JobOutcome> {
    if !matches!(backend, Backend::Cpu { .. }) {
        return Ok(());
    }
    let (rate, measured) = cpu_rate();
    let seconds = cpu_run_seconds(pass_flops, repeats, rate);
    if seconds <= CPU_CONFIRM_SECONDS {
        return Ok(());
    }
    let question = format!(
        "This run is predicted to take about {seconds:.0} s on the CPU twin \
         ({:.1} GFLOP at {:.2} GFLOP/s, {}), over the page's {CPU_CONFIRM_SECONDS:.0} s budget.",
        pass_flops * (repeats.max(1) as f64 + 1.0) / 1e9,
        rate / 1e9,
        if measured {
            "the rate this page measured"
        } else {
            "a cautious guess until a CPU run is measured"
        }
    );
    ask(
        jobs,
        generation,
        question,
        "waiting for your go-ahead (a long CPU run)",
    )
    .await
}

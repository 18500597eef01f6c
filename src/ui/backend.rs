//! The page's backend: [`crate::pipeline::resolve_backend`] with
//! [`GpuPolicy::FallBack`] — the CPU twin, with the reason, when WebGPU is
//! absent — over a WebGPU context found once per page load and shared by
//! every run (each gets a clone of the `Rc`); and the page's GPU turn
//! ([`gpu_turn`]): one section's GPU work at a time, so that two runs never
//! interleave their error scopes, their buffers' readback or their timings.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use leptos::prelude::{Set, WriteSignal};

use super::browser::{init_gpu, sleep_ms, yield_to_browser};
use super::components::BackendInfo;
use crate::gpu::{GpuContext, GpuError};
use crate::pipeline::jobs::{JobOutcome, Jobs};
use crate::pipeline::{Backend, BackendChoice, GpuPolicy, RunError, resolve_backend};

thread_local! {
    /// The WebGPU context, or why there is none, once looked for.
    static GPU: RefCell<Option<Result<Rc<GpuContext>, String>>> = const { RefCell::new(None) };
    /// Whether a section holds the GPU.
    static GPU_BUSY: Cell<bool> = const { Cell::new(false) };
}

/// The GPU held by one section; released when dropped.
pub struct GpuTurn(());

impl Drop for GpuTurn {
    fn drop(&mut self) {
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
    if !matches!(backend, Backend::Gpu(_)) {
        return Ok(None);
    }
    while GPU_BUSY.get() {
        if !still_wanted() {
            return Err(());
        }
        sleep_ms(8).await;
    }
    GPU_BUSY.set(true);
    Ok(Some(GpuTurn(())))
}

/// The WebGPU context: created on first use, then the same one.
async fn connect() -> Result<Rc<GpuContext>, GpuError> {
    let cached = GPU.with_borrow(|gpu| gpu.clone());
    let found = match cached {
        Some(found) => found,
        None => {
            let made = init_gpu().await.map(Rc::new).map_err(|e| match e {
                GpuError::Unavailable(why) => why,
                other => other.to_string(),
            });
            GPU.with_borrow_mut(|gpu| *gpu = Some(made.clone()));
            made
        }
    };
    found.map_err(GpuError::Unavailable)
}

/// The backend for `choice`.
pub async fn resolve(choice: BackendChoice) -> Result<Backend, RunError> {
    resolve_backend(choice, GpuPolicy::FallBack, || Box::pin(connect())).await
}

impl From<&Backend> for BackendInfo {
    fn from(backend: &Backend) -> BackendInfo {
        BackendInfo {
            kind: backend.key(),
            label: backend.label(),
        }
    }
}

/// The start of every page job: let the page show the new state, resolve
/// the backend for `choice`, show it on the badge (`shown`, if any), and take the
/// page's GPU turn — or the outcome to return instead (the backend failed,
/// or a newer job superseded this one meanwhile).
pub async fn start_job<T: 'static>(
    jobs: &Jobs<T>,
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
        shown.set(Some(BackendInfo::from(&backend)));
    }
    let turn = gpu_turn(&backend, || jobs.is_current(generation))
        .await
        .map_err(|()| JobOutcome::Cancelled)?;
    Ok((backend, turn))
}

//! The page's backend: [`crate::pipeline::resolve_backend`] with
//! [`GpuPolicy::FallBack`] — the CPU twin, with the reason, when WebGPU is
//! absent — over a WebGPU context found once per page load and shared by
//! every run (each gets a clone of the `Rc`).

use std::cell::RefCell;
use std::rc::Rc;

use super::browser::init_gpu;
use super::components::BackendInfo;
use crate::gpu::{GpuContext, GpuError};
use crate::pipeline::{Backend, BackendChoice, GpuPolicy, RunError, resolve_backend};

thread_local! {
    /// The WebGPU context, or why there is none, once looked for.
    static GPU: RefCell<Option<Result<Rc<GpuContext>, String>>> = const { RefCell::new(None) };
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

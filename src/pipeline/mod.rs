//! Layer 3, the pipeline: the seam every lab plugs into.
//!
//! ```text
//! Problem (plain value) ─► Lab::run on a Backend (GPU or CPU twin) ─► Report
//!                                                   (envelope + figures + artifacts)
//! ```
//!
//! * [`Lab`] — a family of the survey (attention first; compression next):
//!   its own problem and figures, the shared [`report::Envelope`];
//! * [`resolve_backend`] — the one place a backend is chosen, for the CLI
//!   and the page alike, with the CPU repeat budget;
//! * [`Host`] — progress, yielding and cancellation, so one run serves the
//!   CLI (blocking) and the page (yielding to the browser);
//! * [`jobs`] — the page's job runner (generation, supersede, cancel) in
//!   plain Rust, tested natively;
//! * [`labs`] — the registry of labs: one line and one route each.

pub mod attention;
pub mod compare;
pub mod jobs;
pub mod labs;
pub mod lessons;
pub mod model_size;
pub mod qat;
pub mod qkv;
pub mod quantization;
pub mod report;
pub mod scaling;
pub mod sweep;
pub mod taxonomy;

use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::attention::MethodError;
use crate::data::LocalFuture;
use crate::gpu::{GpuContext, GpuError};
use crate::inputs::InputError;

/// Which backend the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendChoice {
    /// The GPU when an adapter exists, otherwise the CPU twin.
    #[default]
    Auto,
    /// The GPU (see [`GpuPolicy`] for what happens when there is none).
    Gpu,
    /// The CPU twin.
    Cpu,
}

impl BackendChoice {
    /// URL / CLI value.
    pub fn key(self) -> &'static str {
        match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Gpu => "gpu",
            BackendChoice::Cpu => "cpu",
        }
    }

    /// Every choice with its description, in the order controls list them.
    pub const ALL: &'static [(BackendChoice, &'static str)] = &[
        (BackendChoice::Auto, "GPU if available"),
        (BackendChoice::Gpu, "GPU (WebGPU)"),
        (BackendChoice::Cpu, "CPU twin"),
    ];
}

/// Where a run executes.
#[derive(Clone, Debug)]
pub enum Backend {
    /// wgpu compute shaders.
    Gpu(Rc<GpuContext>),
    /// The ndarray CPU twin; `reason` says why the GPU is not used, if it
    /// was not the user's choice.
    Cpu {
        /// E.g. "WebGPU unavailable: no GPU adapter".
        reason: Option<String>,
    },
}

impl Backend {
    /// `"gpu"` or `"cpu"`, as in the report JSON.
    pub fn key(&self) -> &'static str {
        match self {
            Backend::Gpu(_) => "gpu",
            Backend::Cpu { .. } => "cpu",
        }
    }

    /// What the backend badge says.
    pub fn label(&self) -> String {
        match self {
            Backend::Gpu(ctx) => format!("{} — {}", ctx.api, ctx.adapter_name),
            Backend::Cpu { reason: None } => "CPU — chosen in the settings (backend=cpu)".into(),
            Backend::Cpu { reason: Some(why) } => format!("CPU — {why}"),
        }
    }
}

/// What to do when the GPU is asked for by name but there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuPolicy {
    /// Fail (the CLI's `--backend gpu`: a benchmark must not silently run
    /// on the CPU).
    Fail,
    /// Run on the CPU twin and say why (the page).
    FallBack,
}

/// Chooses the backend for `choice`: the CPU twin when asked; otherwise the
/// GPU `connect` gives, or — when it gives none — the CPU twin with the
/// reason, unless the GPU was asked for by name under [`GpuPolicy::Fail`].
pub async fn resolve_backend<'a>(
    choice: BackendChoice,
    policy: GpuPolicy,
    connect: impl FnOnce() -> LocalFuture<'a, Result<Rc<GpuContext>, GpuError>>,
) -> Result<Backend, RunError> {
    if choice == BackendChoice::Cpu {
        return Ok(Backend::Cpu { reason: None });
    }
    match connect().await {
        Ok(ctx) => Ok(Backend::Gpu(ctx)),
        Err(e) if choice == BackendChoice::Gpu && policy == GpuPolicy::Fail => Err(e.into()),
        Err(e) => Ok(Backend::Cpu {
            reason: Some(e.to_string()),
        }),
    }
}

/// Most FLOPs of CPU-twin work a page run spends on repeats: the twin
/// repeats only while a pass stays under this (a few hundred ms in the
/// browser).
pub const CPU_REPEAT_BUDGET_FLOPS: f64 = 2.0e8;

/// The repeats to run: `asked` on the GPU; on the CPU twin, with a budget,
/// as many as fit [`CPU_REPEAT_BUDGET_FLOPS`] for a pass of `pass_flops`
/// (at least one, at most `asked`).
pub fn repeats(backend: &Backend, asked: u32, pass_flops: u64, budgeted: bool) -> u32 {
    match backend {
        Backend::Cpu { .. } if budgeted => (CPU_REPEAT_BUDGET_FLOPS / pass_flops.max(1) as f64)
            .clamp(1.0, asked.max(1) as f64) as u32,
        _ => asked.max(1),
    }
}

/// Why a run produced no report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// From the GPU.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// From the method's configuration.
    #[error(transparent)]
    Method(#[from] MethodError),
    /// From the inputs.
    #[error(transparent)]
    Input(#[from] InputError),
    /// From a quantization scheme or its data.
    #[error(transparent)]
    Scheme(#[from] crate::compress::quantize::SchemeError),
    /// The result is not a finite number (never shown as a figure).
    #[error("the {0} contains NaN or infinite values")]
    NotFinite(String),
    /// A newer run replaced this one.
    #[error("superseded by a newer run")]
    Cancelled,
}

/// The environment a run reports to: progress, yielding, cancellation.
pub trait Host {
    /// `stage` is running; `fraction` of the whole run is done.
    fn progress(&self, _stage: &str, _fraction: f64) {}
    /// Gives the event loop a turn (the browser); natively nothing.
    fn yield_now(&self) -> LocalFuture<'_, ()> {
        Box::pin(async {})
    }
    /// Whether the run should stop (a newer one is waiting).
    fn cancelled(&self) -> bool {
        false
    }
}

/// A host that ignores progress and never yields (CLI, tests).
pub struct Quiet;
impl Host for Quiet {}

/// Yields to the host and stops if the run was superseded.
pub async fn checkpoint(host: &dyn Host) -> Result<(), RunError> {
    host.yield_now().await;
    if host.cancelled() {
        Err(RunError::Cancelled)
    } else {
        Ok(())
    }
}

/// A family of the survey on the common pipeline: its problem in, a report
/// of the shared envelope and its own figures out.
pub trait Lab {
    /// A plain value: what to run (no UI types inside).
    type Problem;
    /// The family's own figures, serialised beside the envelope.
    type Figures: Serialize + Clone;

    /// The family key in the report (`"attention"`).
    const FAMILY: &'static str;

    /// Runs `problem` on `backend`, reporting to `host`.
    fn run<'a>(
        &'a self,
        problem: &'a Self::Problem,
        backend: &'a Backend,
        host: &'a dyn Host,
    ) -> LocalFuture<'a, Result<report::Report<Self::Figures>, RunError>>;
}

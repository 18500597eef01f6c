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

/// What [`backend_decision`] chose, before any context is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendDecision {
    /// Run on the GPU that was found.
    Gpu,
    /// Run on the CPU twin; `reason` says why the GPU is not used (`None`:
    /// the user chose the CPU), `gpu_offered` whether a GPU exists that the
    /// user may still pick (`backend=gpu`).
    Cpu {
        /// Why not the GPU.
        reason: Option<String>,
        /// Whether a (software) GPU exists and is offered.
        gpu_offered: bool,
    },
    /// Fail with this error (the GPU was asked for by name, there is none,
    /// and the policy is [`GpuPolicy::Fail`]).
    Fail(String),
}

/// What the search for a GPU found, as the policy needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuFound {
    /// An adapter of this wgpu `DeviceType` (as text: `"DiscreteGpu"`,
    /// `"IntegratedGpu"`, `"Cpu"` for a software rasteriser such as
    /// SwiftShader or lavapipe, …) named `name`.
    Adapter {
        /// wgpu's `DeviceType`, debug-formatted.
        device_type: String,
        /// The adapter's name, for the reason shown.
        name: String,
    },
    /// None, and why.
    Missing(String),
}

/// Whether an adapter of wgpu `DeviceType` `device_type` is a software
/// one (the CPU emulating a GPU: SwiftShader, lavapipe, WARP).
pub fn is_software_adapter(device_type: &str) -> bool {
    device_type == "Cpu"
}

/// The backend policy, a pure function: the CPU twin when asked; the GPU
/// when asked by name (or, found none, the twin with the reason under
/// [`GpuPolicy::FallBack`], an error under [`GpuPolicy::Fail`]); for
/// `auto`, the GPU found — except that the page ([`GpuPolicy::FallBack`])
/// prefers its CPU twin to a *software* adapter, which emulates the GPU on
/// the same CPU many times slower (SwiftShader in Chromium: full attention
/// at n = 4096 took 132 s against 4.1 s for the twin), and offers the GPU.
/// The CLI (`Fail`) runs on whatever adapter `WGPU_BACKEND` gives, so that
/// benchmarks on lavapipe stay possible.
pub fn backend_decision(
    choice: BackendChoice,
    policy: GpuPolicy,
    found: &GpuFound,
) -> BackendDecision {
    match (choice, found) {
        (BackendChoice::Cpu, _) => BackendDecision::Cpu {
            reason: None,
            gpu_offered: false,
        },
        (BackendChoice::Gpu, GpuFound::Missing(why)) if policy == GpuPolicy::Fail => {
            BackendDecision::Fail(why.clone())
        }
        (_, GpuFound::Missing(why)) => BackendDecision::Cpu {
            reason: Some(why.clone()),
            gpu_offered: false,
        },
        (BackendChoice::Auto, GpuFound::Adapter { device_type, name })
            if policy == GpuPolicy::FallBack && is_software_adapter(device_type) =>
        {
            BackendDecision::Cpu {
                reason: Some(format!(
                    "the WebGPU adapter is {name}, a software GPU slower than this CPU twin: \
                     choose “GPU (WebGPU)” (backend=gpu) to run the kernels on it anyway"
                )),
                gpu_offered: true,
            }
        }
        (_, GpuFound::Adapter { .. }) => BackendDecision::Gpu,
    }
}

/// Chooses the backend for `choice` by [`backend_decision`]: the CPU twin
/// when asked (without calling `connect`); otherwise what the policy makes
/// of the GPU `connect` gives.
pub async fn resolve_backend<'a>(
    choice: BackendChoice,
    policy: GpuPolicy,
    connect: impl FnOnce() -> LocalFuture<'a, Result<Rc<GpuContext>, GpuError>>,
) -> Result<Backend, RunError> {
    if choice == BackendChoice::Cpu {
        return Ok(Backend::Cpu { reason: None });
    }
    let (found, ctx) = match connect().await {
        Ok(ctx) => (
            GpuFound::Adapter {
                device_type: ctx.device_type.clone(),
                name: ctx.adapter_name.clone(),
            },
            Ok(ctx),
        ),
        Err(e) => (GpuFound::Missing(e.to_string()), Err(e)),
    };
    match (backend_decision(choice, policy, &found), ctx) {
        (BackendDecision::Gpu, Ok(ctx)) => Ok(Backend::Gpu(ctx)),
        (BackendDecision::Cpu { reason, .. }, _) => Ok(Backend::Cpu { reason }),
        (_, Err(e)) => Err(e.into()),
        (BackendDecision::Fail(why), Ok(_)) => Err(GpuError::Unavailable(why).into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(device_type: &str) -> GpuFound {
        GpuFound::Adapter {
            device_type: device_type.into(),
            name: "google swiftshader".into(),
        }
    }

    /// The page's `auto` takes a hardware GPU but not a software one (the
    /// twin instead, the GPU offered, the adapter named in the reason);
    /// `gpu` by name runs on either; the CLI's `auto` keeps the software
    /// adapter. Dropping the software rule, or applying it to `gpu` or to
    /// the CLI, fails one of these.
    #[test]
    fn auto_on_the_page_prefers_the_twin_to_a_software_adapter() {
        use BackendChoice::*;
        use GpuPolicy::*;
        for hardware in ["DiscreteGpu", "IntegratedGpu", "VirtualGpu", "Other"] {
            for policy in [Fail, FallBack] {
                for choice in [Auto, Gpu] {
                    assert_eq!(
                        backend_decision(choice, policy, &adapter(hardware)),
                        BackendDecision::Gpu,
                        "{hardware} {choice:?} {policy:?}"
                    );
                }
            }
        }
        match backend_decision(Auto, FallBack, &adapter("Cpu")) {
            BackendDecision::Cpu {
                reason: Some(why),
                gpu_offered: true,
            } => assert!(
                why.contains("google swiftshader") && why.contains("backend=gpu"),
                "{why}"
            ),
            other => panic!("expected the twin with the GPU offered, got {other:?}"),
        }
        assert_eq!(
            backend_decision(Gpu, FallBack, &adapter("Cpu")),
            BackendDecision::Gpu
        );
        assert_eq!(
            backend_decision(Auto, Fail, &adapter("Cpu")),
            BackendDecision::Gpu
        );
    }

    #[test]
    fn a_missing_gpu_falls_back_except_by_name_under_fail_and_cpu_never_looks() {
        use BackendChoice::*;
        use GpuPolicy::*;
        let missing = GpuFound::Missing("no adapter".into());
        assert_eq!(
            backend_decision(Gpu, Fail, &missing),
            BackendDecision::Fail("no adapter".into())
        );
        for (choice, policy) in [(Gpu, FallBack), (Auto, FallBack), (Auto, Fail)] {
            assert_eq!(
                backend_decision(choice, policy, &missing),
                BackendDecision::Cpu {
                    reason: Some("no adapter".into()),
                    gpu_offered: false
                }
            );
        }
        for found in [missing, adapter("DiscreteGpu"), adapter("Cpu")] {
            assert_eq!(
                backend_decision(Cpu, FallBack, &found),
                BackendDecision::Cpu {
                    reason: None,
                    gpu_offered: false
                }
            );
        }
    }
}

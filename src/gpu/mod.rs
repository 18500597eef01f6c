//! The GPU backend: wgpu compute shaders in WGSL, on WebGPU in the page and on
//! Vulkan / Metal / DX12 natively.
//!
//! * [`context`] — adapter, device, limits and the pipeline cache, built once;
//! * [`buffers`] — uploads, size checks against the adapter's limits,
//!   readback through `map_async`, timestamp queries;
//! * one host file per kernel family with its `.wgsl` beside it
//!   ([`full_attention`], [`flash_attention`] — exact attention for B·H
//!   heads in one pass, its configuration chosen by [`autotune`]);
//!   [`sgemm`], the tiled matrix product the low-rank methods' [`linalg`]
//!   programs multiply with.
//!
//! GPU code takes a [`GpuContext`] so that tests can inject their own device.

/// The WGSL file `name` of `src/gpu/` as the binaries embed it: written
/// by `build.rs` without comments or indentation, every line kept (a
/// compiler message's line number is the source file's).
macro_rules! wgsl {
    ($name:literal) => {
        include_str!(concat!(env!("OUT_DIR"), "/wgsl/", $name))
    };
}

/// The shader module descriptor of [`wgsl!`]`(name)`, labelled `name` (what
/// `wgpu::include_wgsl!` gives for the source file).
macro_rules! include_wgsl {
    ($name:literal) => {
        wgpu::ShaderModuleDescriptor {
            label: Some($name),
            source: wgpu::ShaderSource::Wgsl(std::borrow::Cow::Borrowed(wgsl!($name))),
        }
    };
}

pub mod autotune;
pub mod bindings;
pub mod buffers;
pub mod context;
#[cfg(not(target_arch = "wasm32"))]
pub mod driver_stats;
pub mod flash_attention;
pub mod flash_f16;
pub mod full_attention;
pub mod int8_matmul;
pub mod linalg;
pub mod linear_attention;
pub mod memory_attention;
pub mod mlp;
pub mod program;
pub mod quantize;
pub mod sgemm;
pub mod tiled_attention;
pub mod work;

use ndarray::Array2;

pub use autotune::Autotune;
pub use context::GpuContext;
pub use flash_attention::FlashConfig;
pub use program::{Pass, Program, Timed, Watch};

use crate::data::artifacts::Artifacts;
use crate::data::codes::KernelKind;
use crate::data::count::Counted;
use crate::data::timing::Stage;

/// Everything that can go wrong on the GPU, worded for the user.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No adapter, or the device could not be created.
    #[error("WebGPU unavailable: {0}")]
    Unavailable(String),
    /// A size exceeds a limit of the adapter or of the kernel; checked
    /// before allocating.
    #[error("{what} needs {needs} {unit}; {limit_name} is {limit}")]
    TooLarge {
        /// What needs it (a buffer, a kernel at some size).
        what: String,
        /// How much it needs, in `unit`.
        needs: u64,
        /// "bytes", "workgroups", "storage buffers", "features", ….
        unit: &'static str,
        /// Which limit it exceeds.
        limit_name: &'static str,
        /// The limit, in `unit`.
        limit: u64,
    },
    /// wgpu reported a validation or out-of-memory error.
    #[error("GPU error in {stage}: {message}")]
    Device {
        /// What was running.
        stage: String,
        /// wgpu's message.
        message: String,
    },
    /// Reading a buffer back failed.
    #[error("GPU readback failed: {0}")]
    Readback(String),
    /// The device was lost (destroyed, a driver reset, the browser took it
    /// back): the context is unusable and must be created again.
    #[error("the GPU device was lost: {0}")]
    Lost(String),
    /// The context's watch stopped the run between two pieces.
    #[error("stopped")]
    Cancelled,
}

/// What to pool the heatmap from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapSource {
    /// The materialised matrix when it fits within the adapter's limits and
    /// [`MATERIALIZE_CAP_BYTES`], otherwise the fused kernel's statistics.
    #[default]
    Auto,
    /// Always recompute from the fused kernel's row statistics (tests).
    FusedStats,
}

/// The materialising path is skipped above this many bytes of n×n scores
/// even when the adapter would allow more: it only feeds the heatmap, which
/// the fused statistics can feed too.
pub const MATERIALIZE_CAP_BYTES: u64 = 256 << 20;

/// Which fused attention kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FusedChoice {
    /// The flash kernel (`flash_attention.rs`) where it covers the widths
    /// (d, dᵥ ≤ 128) and one of its configurations fits the adapter, else
    /// the register-tiled kernel when its tiles fit, otherwise the simple one.
    #[default]
    Auto,
    /// The register-tiled kernel over the dense tile list where it fits,
    /// else the simple one (the kernel the flash kernel replaced).
    Tiled,
    /// Always the simple kernel (tests compare both with the CPU twin).
    Simple,
}

/// How a GPU run is carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuRunOptions {
    /// Timed repetitions of the timed kernel (after one untimed warm-up).
    pub repeats: u32,
    /// Where the heatmap comes from.
    pub map_source: MapSource,
    /// Which fused kernel runs.
    pub fused: FusedChoice,
    /// Tuning: most query rows per fused workgroup (`None`: the tuned default).
    pub max_rows_per_workgroup: Option<u32>,
    /// How the flash kernel's configuration is chosen: its fixed default
    /// ([`Autotune::Off`], the default: tests and the page), or the
    /// autotuner's cached choice for this adapter (the CLI).
    pub autotune: Autotune,
    /// A flash configuration to use as given (checked against the adapter),
    /// overriding `autotune` (tests force every candidate).
    pub flash: Option<FlashConfig>,
    /// Fault injection for the tests of the execution layer: the timed
    /// program gets one dispatch over the adapter's workgroup limit.
    pub inject_fault: bool,
    /// After the timed runs, time each pass on its own too
    /// ([`Program::pass_times`], `flt bench --pass-times`).
    pub pass_times: bool,
}

impl Default for GpuRunOptions {
    fn default() -> Self {
        GpuRunOptions {
            repeats: 5,
            map_source: MapSource::Auto,
            fused: FusedChoice::Auto,
            max_rows_per_workgroup: None,
            autotune: Autotune::Off,
            flash: None,
            inject_fault: false,
            pass_times: false,
        }
    }
}

impl GpuRunOptions {
    /// Runs `program` as these options say (fault injected if asked).
    pub async fn run(
        &self,
        ctx: &GpuContext,
        mut program: Program,
    ) -> Result<(Program, Timed), GpuError> {
        if self.inject_fault {
            program.inject_oversized_dispatch();
        }
        let mut timed = program.run(ctx, self.repeats).await?;
        if self.pass_times {
            timed.passes = program.pass_times(ctx, self.repeats).await?;
        }
        Ok((program, timed))
    }
}

/// What a GPU run returns.
#[derive(Debug, Clone)]
pub struct GpuOutput {
    /// Output of the timed kernel, n×dᵥ.
    pub output: Array2<f32>,
    /// Outputs of other kernels that computed the same thing (for
    /// cross-checks), e.g. `("materialized", O)`.
    pub other_outputs: Vec<(String, Array2<f32>)>,
    /// View data pooled on the GPU (weights, pattern, buckets, factor).
    pub artifacts: Artifacts,
    /// The kernel family timed.
    pub kernel: KernelKind,
    /// Its variant and tile sizes.
    pub kernel_variant: String,
    /// The timed runs.
    pub timed: Timed,
    /// Bytes of device memory the timed kernel's buffers occupy.
    pub memory_bytes: u64,
    /// Other stages.
    pub stages: Vec<Stage>,
    /// Remarks (fallbacks, limits).
    pub notes: Vec<String>,
    /// Pairs evaluated by the tiled kernel (visited tiles × 32 × 32).
    pub tile_pairs: Option<u64>,
    /// The executed FLOPs and bytes of the kernel that ran, when it is not
    /// the one the method's cost describes (the simple fused kernel on an
    /// adapter too small for the tiled one).
    pub executed: Option<(Counted, Counted)>,
}

impl GpuOutput {
    /// An output with no extra views, stages, notes or counts.
    pub fn new(
        kernel: KernelKind,
        kernel_variant: String,
        output: Array2<f32>,
        timed: Timed,
        memory_bytes: u64,
    ) -> GpuOutput {
        GpuOutput {
            output,
            other_outputs: Vec::new(),
            artifacts: Artifacts::new(),
            kernel,
            kernel_variant,
            timed,
            memory_bytes,
            stages: Vec::new(),
            notes: Vec::new(),
            tile_pairs: None,
            executed: None,
        }
    }
}

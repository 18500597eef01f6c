//! The GPU backend: wgpu compute shaders in WGSL, on WebGPU in the page and on
//! Vulkan / Metal / DX12 natively.
//!
//! * [`context`] — adapter, device, limits and the pipeline cache, built once;
//! * [`buffers`] — uploads, size checks against the adapter's limits,
//!   readback through `map_async`, timestamp queries;
//! * one host file per kernel family with its `.wgsl` beside it
//!   ([`full_attention`]).
//!
//! GPU code takes a [`GpuContext`] so that tests can inject their own device.

pub mod buffers;
pub mod context;
pub mod full_attention;
pub mod linalg;
pub mod linear_attention;
pub mod tiled_attention;
pub mod work;

use ndarray::Array2;

pub use context::GpuContext;

use crate::measure::{AttentionMap, FactorMap, LshView, PatternMap, Stage, Timing};

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
    /// The register-tiled kernel when its tiles fit the adapter's workgroup
    /// memory, otherwise the simple one.
    #[default]
    Auto,
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
}

impl Default for GpuRunOptions {
    fn default() -> Self {
        GpuRunOptions {
            repeats: 5,
            map_source: MapSource::Auto,
            fused: FusedChoice::Auto,
            max_rows_per_workgroup: None,
        }
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
    /// Pooled attention map.
    pub map: AttentionMap,
    /// Name of the timed kernel (`"fused"`).
    pub kernel: String,
    /// Its variant and tile sizes.
    pub kernel_variant: String,
    /// Per-repeat times of the timed kernel, ms.
    pub time_ms_samples: Vec<f64>,
    /// How they were measured.
    pub timing: Timing,
    /// Bytes of device memory the timed kernel's buffers occupy.
    pub memory_bytes: u64,
    /// Other stages.
    pub stages: Vec<Stage>,
    /// Remarks (fallbacks, limits).
    pub notes: Vec<String>,
    /// The pattern pooled on the GPU (tiled kernels).
    pub pattern_map: Option<PatternMap>,
    /// Reformer's bucket assignment as the GPU computed it.
    pub lsh: Option<LshView>,
    /// Pairs evaluated by the tiled kernel (visited tiles × 32 × 32).
    pub tile_pairs: Option<u64>,
    /// A factor of a low-rank or kernel method, for the view.
    pub factor_map: Option<FactorMap>,
    /// The executed FLOPs and bytes of the kernel that ran, when it is not
    /// the one the method's cost describes (the simple fused kernel on an
    /// adapter too small for the tiled one).
    pub executed: Option<(crate::attention::Counted, crate::attention::Counted)>,
}

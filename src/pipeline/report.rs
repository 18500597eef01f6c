//! The report every lab returns: a common envelope (what ran, where, how
//! long, what it cost and how that was counted) and the family's own
//! figures, serialised as one flat JSON object — the schema of `flt --json`,
//! the page's raw-data panel and its download — plus the artifacts the
//! views draw, which are not serialised.
//!
//! Field names are a contract: keys are added, never renamed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data::artifacts::Artifacts;
use crate::data::codes::KernelKind;
use crate::data::count::Counted;
use crate::data::timing::{PassTime, Stage, Timing, median};

/// Version of the JSON schema; bumped when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// What every report holds, whatever the family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The lab (`"attention"`).
    #[serde(default)]
    pub family: String,
    /// Method key, e.g. `"full"`.
    pub method: String,
    /// Method name, e.g. `"Full softmax"`.
    pub method_label: String,
    /// `"gpu"` or `"cpu"`.
    pub backend: String,
    /// The adapter's name (`"NVIDIA H100 80GB HBM3"`) or the CPU twin's.
    pub adapter: String,
    /// Graphics API under wgpu (`"Vulkan"`, `"WebGPU"`, ...) or `"ndarray"`.
    pub api: String,
    /// Which kernel family was timed.
    pub kernel: KernelKind,
    /// The kernel's variant and tile sizes.
    pub kernel_variant: String,
    /// Floating-point operations the timed kernel executes (GPU runs: the
    /// kernels, visited tiles and feature maps at their real cost; CPU runs:
    /// the twin's whole pass), counted.
    pub flops: u64,
    /// The formula behind `flops`.
    pub flops_formula: String,
    /// Bytes the timed kernel moves (GPU: global-memory loads and stores,
    /// re-reads included; CPU: what the twin's loops read and write).
    pub bytes: u64,
    /// The formula behind `bytes`.
    pub bytes_formula: String,
    /// Floating-point operations the method itself needs.
    #[serde(default)]
    pub flops_algorithmic: u64,
    /// The formula behind `flops_algorithmic`.
    #[serde(default)]
    pub flops_algorithmic_formula: String,
    /// Compulsory bytes: inputs, parameters and output moved once.
    #[serde(default)]
    pub bytes_compulsory: u64,
    /// The formula behind `bytes_compulsory`.
    #[serde(default)]
    pub bytes_compulsory_formula: String,
    /// Memory allocated for the timed kernel's buffers (GPU: the buffers
    /// created; CPU: the twin's own arrays and the output).
    pub memory_bytes: u64,
    /// What `memory_bytes` counts.
    #[serde(default)]
    pub memory_formula: String,
    /// Median time of the timed kernel, in milliseconds.
    pub time_ms: f64,
    /// How `time_ms` was measured.
    pub timing: Timing,
    /// Every repeat's time, in milliseconds.
    pub time_ms_samples: Vec<f64>,
    /// Executed `flops / time`, in GFLOP/s.
    pub gflops: f64,
    /// max |O_gpu − O_cpu twin| over the checked rows (GPU runs only).
    pub gpu_cpu_max_abs_err: Option<f64>,
    /// max |O_kernel − O_cpu twin| for every GPU kernel that computed O
    /// (e.g. `"fused"` and `"materialized"`), over the checked rows.
    pub cross_checks: BTreeMap<String, f64>,
    /// Other stages that ran, each timed like the main kernel.
    pub stages: Vec<Stage>,
    /// Each GPU pass of the timed program on its own, when asked for
    /// (`flt bench --pass-times`; else absent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passes: Vec<PassTime>,
    /// Remarks a reader needs (fallbacks taken, limits hit).
    pub notes: Vec<String>,
}

impl Envelope {
    /// An envelope for `method` on `backend`, counts and timings empty.
    pub fn new(family: &str, method: &str, method_label: &str, backend: &str) -> Envelope {
        Envelope {
            schema_version: SCHEMA_VERSION,
            family: family.into(),
            method: method.into(),
            method_label: method_label.into(),
            backend: backend.into(),
            adapter: String::new(),
            api: String::new(),
            kernel: KernelKind::CpuTwin,
            kernel_variant: String::new(),
            flops: 0,
            flops_formula: String::new(),
            bytes: 0,
            bytes_formula: String::new(),
            flops_algorithmic: 0,
            flops_algorithmic_formula: String::new(),
            bytes_compulsory: 0,
            bytes_compulsory_formula: String::new(),
            memory_bytes: 0,
            memory_formula: String::new(),
            time_ms: 0.0,
            timing: Timing::WallClock,
            time_ms_samples: Vec::new(),
            gflops: 0.0,
            gpu_cpu_max_abs_err: None,
            cross_checks: BTreeMap::new(),
            stages: Vec::new(),
            passes: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Sets the executed counts.
    pub fn executed(&mut self, flops: Counted, bytes: Counted) {
        self.flops = flops.value;
        self.flops_formula = flops.formula;
        self.bytes = bytes.value;
        self.bytes_formula = bytes.formula;
    }

    /// Sets the counts the method needs.
    pub fn needed(&mut self, flops: Counted, bytes: Counted) {
        self.flops_algorithmic = flops.value;
        self.flops_algorithmic_formula = flops.formula;
        self.bytes_compulsory = bytes.value;
        self.bytes_compulsory_formula = bytes.formula;
    }

    /// Sets the samples, their median and the throughput of the executed
    /// FLOPs.
    pub fn timed(&mut self, samples: Vec<f64>, timing: Timing) {
        self.time_ms = median(&samples);
        self.time_ms_samples = samples;
        self.timing = timing;
        self.gflops = if self.time_ms > 0.0 {
            self.flops as f64 / (self.time_ms * 1e6)
        } else {
            0.0
        };
    }
}

/// A lab's report: the envelope and the family's figures as one flat JSON
/// object, and the view data beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report<F> {
    /// What every report holds.
    #[serde(flatten)]
    pub envelope: Envelope,
    /// The family's own figures.
    #[serde(flatten)]
    pub figures: F,
    /// View data (not serialised).
    #[serde(skip)]
    pub artifacts: Artifacts,
}

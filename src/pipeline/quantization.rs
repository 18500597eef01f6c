//! The quantization lab (survey, "Quantization"): post-training
//! quantization of a weight matrix on the GPU (`gpu/quantize.wgsl`) or its
//! CPU twin (`compress/quantize.rs`), with its error against the f32
//! matrix, the storage it needs, the views (histogram with the grid, error
//! map) and the sweep of schemes that draws SQNR against bits beside the
//! uniform quantizer's law.

use std::rc::Rc;

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use web_time::Instant;

use super::report::{Envelope, Report};
use super::{Backend, Host, Lab, RunError, checkpoint, repeats};
use crate::compress::formats::FloatFormat;
use crate::compress::quantize::{
    self, CANDIDATES, Clip, Format, Granularity, GroupParams, Scheme, SchemeError, Stats,
    candidate_alpha, error_stats, sqnr_law_db,
};
use crate::compress::weights::Generator;
use crate::data::LocalFuture;
use crate::data::artifacts::{Artifact, Artifacts};
use crate::data::codes::KernelKind;
use crate::data::count::Counted;
use crate::data::maps::{FactorMap, Histogram};
use crate::data::timing::{Stage, Timing};
use crate::gpu::work::Work;
use crate::gpu::{GpuContext, GpuError, GpuRunOptions, quantize as gpu};
use crate::inputs::digest;

/// Most rows or columns of a weight matrix.
pub const MAX_SIDE: usize = 8192;
/// Most elements of a weight matrix (128 MiB of f32: WebGPU's default
/// storage-binding limit).
pub const MAX_ELEMENTS: usize = 1 << 25;
/// Bins of the histogram.
pub const HISTOGRAM_BINS: usize = 120;
/// Elements the twin handles between two checkpoints.
const TWIN_CHUNK: usize = 1 << 16;

/// Where the weights come from.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightSource {
    /// A seeded generator.
    Seeded(Generator),
    /// The user's file, by name.
    File(String),
}

impl WeightSource {
    /// The `inputs` value of the report: the generator's key or the file's
    /// name.
    pub fn key(&self) -> String {
        match self {
            WeightSource::Seeded(g) => g.key().into(),
            WeightSource::File(name) => name.clone(),
        }
    }
}

/// What to quantize and how.
#[derive(Debug, Clone)]
pub struct QuantizationProblem {
    /// The matrix (row-major).
    pub weights: Rc<Array2<f32>>,
    /// Where it came from.
    pub source: WeightSource,
    /// The seed of a generated matrix.
    pub seed: u64,
    /// The scheme.
    pub scheme: Scheme,
    /// Timed repeats and fault injection.
    pub options: GpuRunOptions,
}

/// Checks a matrix's shape against the lab's limits.
pub fn check_shape(rows: usize, cols: usize) -> Result<(), SchemeError> {
    if rows == 0 || cols == 0 {
        return Err(SchemeError::Empty(rows, cols));
    }
    if rows > MAX_SIDE || cols > MAX_SIDE || rows * cols > MAX_ELEMENTS {
        return Err(SchemeError::TooLarge { rows, cols });
    }
    Ok(())
}

impl QuantizationProblem {
    /// A generated rows × cols matrix.
    pub fn seeded(generator: Generator, rows: usize, cols: usize, seed: u64) -> Self {
        QuantizationProblem {
            weights: Rc::new(generator.generate(rows, cols, seed)),
            source: WeightSource::Seeded(generator),
            seed,
            scheme: Scheme::default(),
            options: GpuRunOptions::default(),
        }
    }

    /// The user's matrix, named `name` (checked: shape within the limits;
    /// finite values are checked by the `.npy` parser).
    pub fn from_matrix(name: &str, weights: Array2<f32>) -> Result<Self, SchemeError> {
        check_shape(weights.nrows(), weights.ncols())?;
        Ok(QuantizationProblem {
            weights: Rc::new(weights),
            source: WeightSource::File(name.into()),
            seed: 0,
            scheme: Scheme::default(),
            options: GpuRunOptions::default(),
        })
    }

    /// The same matrix under `scheme`.
    pub fn with_scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self
    }
}

/// The quantization lab's own figures (JSON keys are a contract).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizationFigures {
    /// Bits per stored element: b for integers (1 = binary), 16 for fp16
    /// and bf16, 8 for fp8.
    pub bits: u32,
    /// `int`, `fp16`, `bf16`, `fp8-e4m3` or `fp8-e5m2`.
    pub format: String,
    /// `symmetric` or `asymmetric` (integers of 2+ bits); binary and fp8
    /// scale symmetrically; `none` for the casts.
    pub mode: String,
    /// `per-tensor`, `per-channel` or `group`; `none` for the casts.
    pub granularity: String,
    /// Elements that share one scale (group: G, cut to the row; per
    /// channel: the row; per tensor: the matrix); `null` for the casts.
    pub group_size: Option<usize>,
    /// `minmax` or `mse`; `none` where no range is chosen (binary, casts).
    pub clip: String,
    /// mean (x − x̂)².
    pub mse: f64,
    /// 10 log₁₀(Σx² / Σ(x − x̂)²) in dB; `null` when x̂ = x (lossless).
    pub sqnr_db: Option<f64>,
    /// max |x − x̂|.
    pub max_abs_err: f64,
    /// The f32 matrix, in bytes.
    pub bytes_before: u64,
    /// The quantized matrix: codes packed at `bits` bits, plus each group's
    /// f32 scale and (asymmetric) one-byte zero point.
    pub bytes_after: u64,
    /// What `bytes_after` counts.
    pub bytes_after_formula: String,
    /// 8 · bytes_after / elements: the bits a weight really costs.
    pub bits_per_weight: f64,
    /// bytes_before / bytes_after.
    pub compression: f64,
    /// Rows of the matrix (output channels).
    pub rows: usize,
    /// Columns (input channels).
    pub cols: usize,
    /// The generator's key or the file's name.
    pub inputs: String,
    /// Seed of a generated matrix.
    pub seed: u64,
    /// Fingerprint of the exact bits of the matrix: equal on the page and
    /// in the CLI for the same settings.
    pub weights_digest: String,
    /// Fingerprint of the exact bits of x̂.
    pub xhat_digest: String,
    /// Groups, each with its own scale.
    pub groups: usize,
    /// Levels of the grid (integers: 2^b, or 2^b − 1 symmetric).
    pub levels: u64,
    /// Baseline: the error of storing nothing (x̂ = 0), mean x².
    pub baseline_zero_mse: f64,
    /// The uniform quantizer's law for the scheme as it ran: rounding noise
    /// s²/12 per element of each group's step s (integers of 2+ bits), in
    /// dB; +6.02 dB per bit.
    pub sqnr_law_db: Option<f64>,
    /// Share of the elements outside their group's clipping range.
    pub clipped_fraction: f64,
    /// Mean clipping factor α the groups chose (1 with min-max).
    pub alpha_mean: f64,
    /// Read x + write x̂ over the median time of the quantize-dequantize
    /// kernels, in GB/s (GPU runs).
    pub throughput_gbps: Option<f64>,
    /// The same bytes over a plain copy kernel's median time: the card's
    /// copy bandwidth as this program sees it (GPU runs).
    pub copy_gbps: Option<f64>,
}

/// A quantization run's report.
pub type QuantizationReport = Report<QuantizationFigures>;

/// The lab on the common seam.
pub struct QuantizationLab;

impl Lab for QuantizationLab {
    type Problem = QuantizationProblem;
    type Figures = QuantizationFigures;
    const FAMILY: &'static str = "quantization";

    fn run<'a>(
        &'a self,
        problem: &'a QuantizationProblem,
        backend: &'a Backend,
        host: &'a dyn Host,
    ) -> LocalFuture<'a, Result<QuantizationReport, RunError>> {
        Box::pin(run(problem, backend, host))
    }
}

/// A quantization of the matrix: x̂, the groups' parameters, and how it was
/// timed.
struct Outcome {
    xhat: Array2<f32>,
    params: Vec<GroupParams>,
    samples: Vec<f64>,
    timing: Timing,
}

/// The twin's quantization of `x` in chunks, with checkpoints; the time
/// spent computing (yields excluded) in milliseconds.
async fn twin(
    x: &Array2<f32>,
    scheme: &Scheme,
    host: &dyn Host,
    progress: (f64, f64),
) -> Result<(Array2<f32>, Vec<GroupParams>, f64), RunError> {
    let (rows, cols) = x.dim();
    let data = x.as_slice().expect("standard layout");
    let groups = scheme.groups(rows, cols);
    let mut busy = 0.0;
    let mut timed = |f: &mut dyn FnMut()| {
        let t0 = Instant::now();
        f();
        busy += t0.elapsed().as_secs_f64() * 1e3;
    };
    let report = |done: f64| host.progress("CPU twin", progress.0 + progress.1 * done);
    let mut stats = vec![Stats::EMPTY; groups.count];
    let chunks: Vec<(usize, usize, usize)> = groups.chunks().collect();
    for batch in chunks.chunks(TWIN_CHUNK / quantize::CHUNK) {
        timed(&mut || {
            for &(g, start, len) in batch {
                stats[g] = stats[g].merge(Stats::of(&data[start..start + len]));
            }
        });
        checkpoint(host).await?;
    }
    let mut alphas = vec![1.0f32; groups.count];
    if scheme.effective_clip() == Clip::Mse {
        let mut errors = vec![vec![0f64; CANDIDATES]; groups.count];
        // Each element is tried 100 times: checkpoint every chunk.
        for (i, &(g, start, len)) in chunks.iter().enumerate() {
            timed(&mut || {
                scheme.candidate_errors(&data[start..start + len], &stats[g], &mut errors[g])
            });
            report(0.8 * i as f64 / chunks.len() as f64);
            checkpoint(host).await?;
        }
        timed(&mut || {
            for (a, e) in alphas.iter_mut().zip(&errors) {
                *a = candidate_alpha(quantize::best_candidate(e));
            }
        });
    }
    let params: Vec<GroupParams> = stats
        .iter()
        .zip(&alphas)
        .map(|(st, &a)| scheme.params(st, a))
        .collect();
    let mut out = vec![0f32; data.len()];
    for start in (0..data.len()).step_by(TWIN_CHUNK) {
        let end = (start + TWIN_CHUNK).min(data.len());
        timed(&mut || {
            for i in start..end {
                out[i] = scheme.apply(data[i], &params[groups.of(i)]);
            }
        });
        report(0.8 + 0.2 * end as f64 / data.len() as f64);
        checkpoint(host).await?;
    }
    let xhat = Array2::from_shape_vec((rows, cols), out).expect("rows × cols");
    Ok((xhat, params, busy))
}

fn gpu_work(scheme: &Scheme, rows: usize, cols: usize) -> Work {
    let plan = scheme.plan(rows, cols);
    crate::gpu::work::quantize(
        plan.numel() as u64,
        plan.groups as u64,
        plan.chunks_per_group() as u64,
        plan.mse.then_some(plan.chunks_per_group() == 1),
    )
}

/// Runs the GPU kernels and fills the envelope's GPU figures; the GPU
/// result checked element by element against the twin applied with the
/// GPU's own parameters.
async fn on_gpu(
    ctx: &GpuContext,
    problem: &QuantizationProblem,
    env: &mut Envelope,
    fig: &mut QuantizationFigures,
) -> Result<Outcome, RunError> {
    let x = &*problem.weights;
    let (rows, cols) = x.dim();
    let scheme = &problem.scheme;
    let data = x.as_slice().expect("standard layout");
    let out = gpu::run(ctx, &scheme.plan(rows, cols), data, &problem.options).await?;
    let params: Vec<GroupParams> = out.params.iter().map(GroupParams::from_gpu).collect();
    let groups = scheme.groups(rows, cols);
    let diff = data
        .iter()
        .zip(&out.xhat)
        .enumerate()
        .map(|(i, (&v, &g))| (g as f64 - scheme.apply(v, &params[groups.of(i)]) as f64).abs())
        .fold(0.0, f64::max);
    env.gpu_cpu_max_abs_err = Some(diff);
    env.cross_checks.insert("quantize".into(), diff);
    env.adapter = ctx.adapter_name.clone();
    env.api = ctx.api.clone();
    env.kernel = KernelKind::Quantize;
    env.kernel_variant = out.variant.clone();
    env.memory_bytes = out.memory_bytes;
    env.memory_formula =
        "device buffers: x, x̂, chunk statistics, group statistics and parameters, candidate errors"
            .into();
    let (flops, bytes) = out.work.counted(
        "a compare, add, multiply, divide or round counts 1",
        "4 B per scalar load and store, no cache model",
    );
    env.executed(flops, bytes);
    let compulsory = 8 * (rows * cols) as u64;
    let copy = Stage {
        name: "copy x → out (bandwidth reference)".into(),
        time_ms: crate::data::timing::median(&out.copy.samples),
        time_ms_samples: out.copy.samples.clone(),
        timing: out.copy.timing,
        bytes: out.copy_bytes,
        memory_bytes: 0,
    };
    let gbps = |ms: f64| (ms > 0.0).then(|| compulsory as f64 / (ms * 1e6));
    fig.throughput_gbps = gbps(crate::data::timing::median(&out.timed.samples));
    fig.copy_gbps = gbps(copy.time_ms);
    env.stages.push(copy);
    let xhat = Array2::from_shape_vec((rows, cols), out.xhat)
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    Ok(Outcome {
        xhat,
        params,
        samples: out.timed.samples,
        timing: out.timed.timing,
    })
}

/// Runs the twin `repeats` times (within the page's budget) and fills the
/// envelope's CPU figures.
async fn on_cpu(
    problem: &QuantizationProblem,
    backend: &Backend,
    env: &mut Envelope,
    host: &dyn Host,
) -> Result<Outcome, RunError> {
    let x = &*problem.weights;
    let (rows, cols) = x.dim();
    let work = gpu_work(&problem.scheme, rows, cols);
    let repeats = repeats(backend, problem.options.repeats, work.flops, true) as usize;
    let mut samples = Vec::with_capacity(repeats);
    let mut last = None;
    for r in 0..repeats {
        let share = 0.85 / repeats as f64;
        let (xhat, params, ms) =
            twin(x, &problem.scheme, host, (0.05 + share * r as f64, share)).await?;
        samples.push(ms);
        last = Some((xhat, params));
    }
    let (xhat, params) = last.expect("at least one repeat");
    env.adapter = "CPU twin, f32".into();
    env.api = "ndarray".into();
    env.kernel = KernelKind::CpuTwin;
    env.kernel_variant =
        "statistics, clipping search and quantize-dequantize in chunks, per repeat".into();
    let (flops, bytes) = work.counted(
        "CPU twin: the same steps as the GPU kernels",
        "CPU twin: 4 B per element read or written",
    );
    env.executed(flops, bytes);
    env.memory_bytes = 4 * (rows * cols) as u64 + 32 * params.len() as u64;
    env.memory_formula = "x̂ (4 B per element) and each group's parameters".into();
    Ok(Outcome {
        xhat,
        params,
        samples,
        timing: Timing::WallClock,
    })
}

fn figures(problem: &QuantizationProblem) -> QuantizationFigures {
    let s = &problem.scheme;
    let (rows, cols) = problem.weights.dim();
    let storage = s.storage(rows, cols);
    let groups = s.groups(rows, cols);
    let cast = !s.scaled();
    let levels = match s.format {
        Format::Int if s.binary() => 2,
        Format::Int => {
            let (lo, hi) = s.levels();
            (hi - lo) as u64 + 1
        }
        Format::Float(f) => 2 * f.non_negative_values().len() as u64 - 1,
    };
    QuantizationFigures {
        bits: s.element_bits(),
        format: s.format.key().into(),
        mode: if cast {
            "none".into()
        } else {
            s.effective_mode().key().into()
        },
        granularity: if cast {
            "none".into()
        } else {
            s.granularity.key().into()
        },
        group_size: (!cast).then(|| {
            if groups.count == 1 {
                rows * cols
            } else {
                groups.len
            }
        }),
        clip: if s.clips() {
            s.effective_clip().key().into()
        } else {
            "none".into()
        },
        mse: 0.0,
        sqnr_db: None,
        max_abs_err: 0.0,
        bytes_before: storage.before.value,
        bytes_after: storage.after.value,
        bytes_after_formula: storage.after.formula,
        bits_per_weight: storage.bits_per_weight,
        compression: storage.before.value as f64 / storage.after.value.max(1) as f64,
        rows,
        cols,
        inputs: problem.source.key(),
        seed: problem.seed,
        weights_digest: digest(&[&problem.weights]),
        xhat_digest: String::new(),
        groups: groups.count,
        levels,
        baseline_zero_mse: 0.0,
        sqnr_law_db: None,
        clipped_fraction: 0.0,
        alpha_mean: 1.0,
        throughput_gbps: None,
        copy_gbps: None,
    }
}

/// The histogram of x with the grid of the group holding the largest |x|.
fn histogram(x: &Array2<f32>, scheme: &Scheme, params: &[GroupParams]) -> Histogram {
    let data = x.as_slice().expect("standard layout");
    let mut h = Histogram::of("weights x", data, HISTOGRAM_BINS);
    let (rows, cols) = x.dim();
    let groups = scheme.groups(rows, cols);
    let peak = data
        .iter()
        .enumerate()
        .fold((0, -1.0f32), |(bi, bv), (i, &v)| {
            if v.abs() > bv { (i, v.abs()) } else { (bi, bv) }
        })
        .0;
    let g = groups.of(peak);
    let p = &params[g];
    h.grid_of = if groups.count == 1 {
        "the tensor's grid".into()
    } else {
        let (row, col) = (peak / cols, peak % cols);
        format!("the grid of group {g} (row {row}), which holds the largest |x| at column {col}")
    };
    let (levels, count) = grid_levels(scheme, p);
    h.levels = levels;
    h.level_count = count;
    h.clip = (scheme.clips() && p.constant.is_none()).then_some((p.lo, p.hi));
    h
}

/// The values x̂ can take in group `p` (empty when more than 512) and how
/// many there are.
fn grid_levels(scheme: &Scheme, p: &GroupParams) -> (Vec<f32>, u64) {
    if let Some(c) = p.constant {
        return (vec![c], 1);
    }
    match scheme.format {
        Format::Int if scheme.binary() => (vec![-p.scale, p.scale], 2),
        Format::Int => {
            let (lo, hi) = scheme.levels();
            let levels: Vec<f32> = (lo as i32..=hi as i32)
                .map(|q| p.scale * (q as f32 - p.zero))
                .collect();
            let n = levels.len() as u64;
            (levels, n)
        }
        Format::Float(f) => {
            let positive = f.non_negative_values();
            let n = 2 * positive.len() as u64 - 1;
            if positive.len() > 256 {
                return (Vec::new(), n);
            }
            let scale = if f.scaled() { p.scale } else { 1.0 };
            let mut levels: Vec<f32> = positive
                .iter()
                .rev()
                .map(|v| -v * scale)
                .chain(positive.iter().skip(1).map(|v| v * scale))
                .collect();
            levels.dedup();
            (levels, n)
        }
    }
}

/// Runs `problem` on `backend`: the quantization, its error, storage and
/// views.
pub async fn run(
    problem: &QuantizationProblem,
    backend: &Backend,
    host: &dyn Host,
) -> Result<QuantizationReport, RunError> {
    let x = &*problem.weights;
    let scheme = &problem.scheme;
    quantize::check_data(x.view(), scheme)?;
    check_shape(x.nrows(), x.ncols())?;
    let mut env = Envelope::new(
        QuantizationLab::FAMILY,
        "ptq",
        &scheme.label(),
        backend.key(),
    );
    let mut fig = figures(problem);
    host.progress("quantizing", 0.02);
    let outcome = match backend {
        Backend::Gpu(ctx) => on_gpu(ctx, problem, &mut env, &mut fig).await?,
        Backend::Cpu { reason } => {
            env.notes.extend(
                reason
                    .iter()
                    .map(|r| format!("running on the CPU twin: {r}")),
            );
            on_cpu(problem, backend, &mut env, host).await?
        }
    };
    checkpoint(host).await?;
    host.progress("errors and views", 0.92);
    env.timed(outcome.samples, outcome.timing);
    let (rows, cols) = x.dim();
    env.needed(
        Counted::new(
            0,
            "quantization is rounding, not arithmetic: no FLOPs counted",
        ),
        Counted::new(
            8 * (rows * cols) as u64,
            format!("read x and write x̂: 2 · 4 B · {} elements", rows * cols),
        ),
    );
    let e = error_stats(x.view(), outcome.xhat.view());
    (fig.mse, fig.sqnr_db, fig.max_abs_err) = (e.mse, e.sqnr_db, e.max_abs_err);
    fig.xhat_digest = digest(&[&outcome.xhat]);
    fig.baseline_zero_mse = e.mse_zero;
    let groups = scheme.groups(rows, cols);
    fig.sqnr_law_db = sqnr_law_db(scheme, &groups, &outcome.params, e.mse_zero);
    let clipped = x
        .iter()
        .enumerate()
        .filter(|&(i, &v)| {
            let p = &outcome.params[groups.of(i)];
            scheme.clips() && p.constant.is_none() && (v < p.lo || v > p.hi)
        })
        .count();
    fig.clipped_fraction = clipped as f64 / x.len() as f64;
    fig.alpha_mean = outcome.params.iter().map(|p| p.alpha as f64).sum::<f64>()
        / outcome.params.len().max(1) as f64;
    notes(scheme, &mut env);
    if !(fig.mse.is_finite() && fig.max_abs_err.is_finite())
        || outcome.xhat.iter().any(|v| !v.is_finite())
    {
        return Err(RunError::NotFinite("quantized matrix".into()));
    }
    let error = (x - &outcome.xhat).mapv(f32::abs);
    let artifacts = Artifacts::new()
        .with(Artifact::Histogram(histogram(x, scheme, &outcome.params)))
        .with(Artifact::ErrorMap(
            FactorMap::pool(&error, "|x − x̂|, pooled by block means", "input channel j")
                .with_y_label("output channel i"),
        ))
        .with(Artifact::Output(outcome.xhat));
    host.progress("done", 1.0);
    Ok(Report {
        envelope: env,
        figures: fig,
        artifacts,
    })
}

/// Notes on knobs that do not apply to the scheme.
fn notes(scheme: &Scheme, env: &mut Envelope) {
    if scheme.binary() {
        env.notes.push(
            "binary: x̂ = sign(x)·mean|x| per group — the least-squares scale for the signs (XNOR-Net), so mode and clip do not apply".into(),
        );
    }
    if let Format::Float(f) = scheme.format {
        if f.scaled() {
            env.notes.push(format!(
                "{}: scaled per group by s = α·max|x| / {} (the format's largest finite value), symmetric",
                f.key(),
                f.layout().max_finite
            ));
        } else {
            env.notes.push(format!(
                "{}: a plain cast, round to nearest even — no scale, groups, mode or clipping",
                f.key()
            ));
        }
    }
}

/// One scheme of the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemePoint {
    /// The scheme's name.
    pub label: String,
    /// Its format key.
    pub format: String,
    /// Bits per stored element.
    pub bits: u32,
    /// Its granularity key (`none` for casts).
    pub granularity: String,
    /// mean (x − x̂)².
    pub mse: f64,
    /// SQNR in dB (`None`: lossless).
    pub sqnr_db: Option<f64>,
    /// Effective bits per weight, overhead included.
    pub bits_per_weight: f64,
    /// The uniform quantizer's law for the scheme (integers of 2+ bits).
    pub law_db: Option<f64>,
}

/// The schemes the sweep runs: integers at 8, 4, 3, 2 and 1 bits at every
/// granularity (mode, clip and group size of `base`), then the float
/// formats at `base`'s granularity.
pub fn sweep_schemes(base: &Scheme) -> Vec<Scheme> {
    let mut all = Vec::new();
    for granularity in Granularity::ALL {
        for bits in [8, 4, 3, 2, 1] {
            all.push(Scheme {
                format: Format::Int,
                bits,
                granularity,
                ..*base
            });
        }
    }
    for f in FloatFormat::ALL {
        all.push(Scheme {
            format: Format::Float(f),
            ..*base
        });
    }
    all
}

/// Quantizes `problem`'s matrix under every scheme of [`sweep_schemes`] on
/// `backend` (one timed repeat each), calling `on_point` as each completes;
/// a float cast that would overflow is skipped.
pub async fn sweep(
    problem: &QuantizationProblem,
    backend: &Backend,
    host: &dyn Host,
    mut on_point: impl FnMut(&SchemePoint),
) -> Result<Vec<SchemePoint>, RunError> {
    let x = &*problem.weights;
    let mean_square = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64;
    let schemes = sweep_schemes(&problem.scheme);
    let mut points = Vec::with_capacity(schemes.len());
    for (i, scheme) in schemes.iter().enumerate() {
        host.progress(&scheme.label(), i as f64 / schemes.len() as f64);
        checkpoint(host).await?;
        if quantize::check_data(x.view(), scheme).is_err() {
            continue;
        }
        let one = QuantizationProblem {
            scheme: *scheme,
            options: GpuRunOptions {
                repeats: 1,
                ..problem.options.clone()
            },
            ..problem.clone()
        };
        let outcome = match backend {
            Backend::Gpu(ctx) => {
                let mut env = Envelope::new("", "", "", "");
                let mut fig = figures(&one);
                on_gpu(ctx, &one, &mut env, &mut fig).await?
            }
            Backend::Cpu { .. } => {
                let n = schemes.len() as f64;
                let (xhat, params, _) = twin(x, scheme, host, (i as f64 / n, 1.0 / n)).await?;
                Outcome {
                    xhat,
                    params,
                    samples: Vec::new(),
                    timing: Timing::WallClock,
                }
            }
        };
        let e = error_stats(x.view(), outcome.xhat.view());
        let storage = scheme.storage(x.nrows(), x.ncols());
        let point = SchemePoint {
            label: scheme.label(),
            format: scheme.format.key().into(),
            bits: scheme.element_bits(),
            granularity: if scheme.scaled() {
                scheme.granularity.key().into()
            } else {
                "none".into()
            },
            mse: e.mse,
            sqnr_db: e.sqnr_db,
            bits_per_weight: storage.bits_per_weight,
            law_db: sqnr_law_db(
                scheme,
                &scheme.groups(x.nrows(), x.ncols()),
                &outcome.params,
                mean_square,
            ),
        };
        on_point(&point);
        points.push(point);
    }
    host.progress("done", 1.0);
    Ok(points)
}

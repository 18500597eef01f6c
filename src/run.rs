//! One run, end to end: a [`RunRequest`] (settings + inputs) on a [`Backend`]
//! (GPU or CPU twin) gives a [`Measurement`], the pooled [`AttentionMap`] and
//! the output. The same code drives the CLI (blocking on the future) and the
//! page (awaited on the browser's event loop, yielding between CPU chunks so
//! the page never freezes).

use std::rc::Rc;

use ndarray::{Array2, s};
use web_time::Instant;

use crate::attention::full::ExactReference;
use crate::attention::{Config, LocalFuture, MethodError, RowKernel, Shape};
use crate::gpu::{GpuContext, GpuError, GpuRunOptions};
use crate::inputs::{InputError, Inputs};
use crate::measure::{
    AttentionMap, FactorMap, LshView, MapPooler, Measurement, PatternMap, PatternPooler,
    SCHEMA_VERSION, Timing, errors, max_abs_diff, median, sample_rows, select_rows,
};
use crate::settings::Settings;

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
    /// `"gpu"` or `"cpu"`, as in the measurement JSON.
    pub fn key(&self) -> &'static str {
        match self {
            Backend::Gpu(_) => "gpu",
            Backend::Cpu { .. } => "cpu",
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Method, knobs, causal, seed (n and d come from the inputs).
    pub settings: Settings,
    /// Q, K, V.
    pub inputs: Rc<Inputs>,
    /// Repeats and GPU tuning.
    pub options: GpuRunOptions,
}

impl RunRequest {
    /// A run on seeded inputs of the settings' n and d.
    pub fn seeded(settings: Settings, options: GpuRunOptions) -> RunRequest {
        let inputs = Rc::new(Inputs::generate(
            settings.inputs,
            settings.n,
            settings.d,
            settings.seed,
            settings.qk_scale,
        ));
        RunRequest {
            settings,
            inputs,
            options,
        }
    }
}

/// A run's results.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The figures.
    pub measurement: Measurement,
    /// The pooled attention matrix.
    pub map: AttentionMap,
    /// The pooled pattern: which pairs the method computes, and why.
    pub pattern: PatternMap,
    /// Reformer's bucket assignment (other methods: `None`).
    pub lsh: Option<LshView>,
    /// A low-rank or kernel method's factor (Linformer's n×k map, ...).
    pub factor: Option<FactorMap>,
    /// The output O (n×dᵥ) of the timed kernel.
    pub output: Array2<f32>,
}

/// Why a run produced no measurement.
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

/// Roughly this many multiply-adds per CPU chunk (a few ms in the browser).
const CHUNK_WORK: usize = 1 << 22;

fn rows_per_chunk(n: usize, d: usize, dv: usize) -> usize {
    (CHUNK_WORK / (n * (d + dv)).max(1)).max(1)
}

async fn checkpoint(host: &dyn Host) -> Result<(), RunError> {
    host.yield_now().await;
    if host.cancelled() {
        Err(RunError::Cancelled)
    } else {
        Ok(())
    }
}

/// Computes the twin's output for arbitrary rows, in chunks.
async fn twin_rows(
    twin: &dyn RowKernel,
    rows: &[usize],
    dv: usize,
    per_chunk: usize,
    host: &dyn Host,
) -> Result<Array2<f32>, RunError> {
    let mut out = Array2::zeros((rows.len(), dv));
    for (c, chunk) in rows.chunks(per_chunk).enumerate() {
        for (k, &i) in chunk.iter().enumerate() {
            let slot = c * per_chunk + k;
            twin.compute_rows(i..i + 1, out.slice_mut(s![slot..slot + 1, ..]), None);
        }
        checkpoint(host).await?;
    }
    Ok(out)
}

/// Exact f64 reference rows and the exact mass inside the twin's pattern, in chunks.
async fn exact_rows(
    reference: &ExactReference<'_>,
    twin: &dyn RowKernel,
    rows: &[usize],
    dv: usize,
    per_chunk: usize,
    host: &dyn Host,
) -> Result<(Array2<f64>, Vec<f64>), RunError> {
    let mut out = Array2::zeros((rows.len(), dv));
    let mut mass = Vec::with_capacity(rows.len());
    for (c, chunk) in rows.chunks(per_chunk).enumerate() {
        let start = c * per_chunk;
        let (o, kept) = reference.rows_and_mass(chunk, |i| twin.row_pattern(i));
        out.slice_mut(s![start..start + chunk.len(), ..]).assign(&o);
        mass.extend(kept);
        checkpoint(host).await?;
    }
    Ok((out, mass))
}

/// Runs the CPU twin over all rows `repeats` times in chunks that yield,
/// pooling the attention map on the first pass; returns the output, the map
/// and each pass's busy time in ms (yields excluded).
async fn cpu_pass(
    twin: &dyn RowKernel,
    (n, dv): (usize, usize),
    repeats: usize,
    per_chunk: usize,
    host: &dyn Host,
) -> Result<(Array2<f32>, AttentionMap, Vec<f64>), RunError> {
    let mut output = Array2::zeros((n, dv));
    // Factored twins pool their implied map from their factors.
    let mut map = twin.pooled_map();
    let mut pooler = if map.is_some() {
        None
    } else {
        Some(MapPooler::new(n))
    };
    let mut samples = Vec::with_capacity(repeats);
    for r in 0..repeats {
        let mut busy = 0.0f64;
        let mut start = 0;
        while start < n {
            let end = (start + per_chunk).min(n);
            let t0 = Instant::now();
            {
                let out = output.slice_mut(s![start..end, ..]);
                match pooler.as_mut() {
                    Some(p) => twin.compute_rows(
                        start..end,
                        out,
                        Some(&mut |i, w: &[f32]| p.add_row(i, w)),
                    ),
                    None => twin.compute_rows(start..end, out, None),
                }
            }
            busy += t0.elapsed().as_secs_f64() * 1e3;
            start = end;
            host.progress(
                "CPU twin",
                0.85 * (r as f64 + start as f64 / n as f64) / repeats as f64,
            );
            checkpoint(host).await?;
        }
        samples.push(busy);
        if let Some(p) = pooler.take() {
            map = Some(p.finish());
        }
    }
    Ok((
        output,
        map.unwrap_or_else(|| MapPooler::new(n).finish()),
        samples,
    ))
}

/// Runs `req` on `backend`.
pub async fn run(
    req: &RunRequest,
    backend: &Backend,
    host: &dyn Host,
) -> Result<RunOutput, RunError> {
    let settings = &req.settings;
    let inputs = &*req.inputs;
    let method = settings.method.method();
    let info = method.info();
    if settings.causal
        && let Some(why) = info.causal_unsupported
    {
        return Err(
            MethodError::Unsupported(format!("{} cannot be causal: {why}", info.label)).into(),
        );
    }
    let (n, d, dv) = (inputs.n(), inputs.d(), inputs.dv());
    let shape = Shape {
        n,
        d,
        dv,
        causal: settings.causal,
    };
    let config = Config {
        causal: settings.causal,
        seed: settings.seed,
        params: &settings.params,
    };
    let cost = method.cost(shape, &config);
    let twin = method.cpu_twin(inputs, &config)?;
    let rows = sample_rows(n);
    let per_chunk = rows_per_chunk(n, d, dv);
    let reference = ExactReference::new(
        inputs.q.view(),
        inputs.k.view(),
        inputs.v.view(),
        settings.causal,
    );

    let mut m = Measurement {
        schema_version: SCHEMA_VERSION,
        method: info.key.into(),
        method_label: info.label.into(),
        n,
        d,
        dv,
        seed: settings.seed,
        causal: settings.causal,
        params: settings.params.clone(),
        inputs: inputs.source,
        inputs_digest: inputs.digest(),
        qk_scale: settings.qk_scale,
        backend: backend.key().into(),
        adapter: String::new(),
        api: String::new(),
        kernel: String::new(),
        kernel_variant: String::new(),
        flops: cost.flops,
        flops_formula: cost.flops_formula,
        bytes: cost.bytes,
        bytes_formula: cost.bytes_formula,
        memory_bytes: 0,
        time_ms: 0.0,
        timing: Timing::WallClock,
        time_ms_samples: Vec::new(),
        gflops: 0.0,
        rel_err: 0.0,
        max_abs_err: 0.0,
        gpu_cpu_max_abs_err: None,
        cross_checks: Default::default(),
        pattern_pairs: 0,
        density: 0.0,
        tile_pairs: None,
        mass_in_pattern: 1.0,
        checked_rows: rows.len(),
        stages: Vec::new(),
        notes: Vec::new(),
    };

    let mut gpu_pattern = None;
    let mut gpu_factor = None;
    let mut lsh = None;
    let gpu = match backend {
        Backend::Gpu(ctx) => {
            host.progress("running the GPU kernels", 0.05);
            match method.run_gpu(ctx, inputs, &config, &req.options).await {
                Ok(out) => Some((ctx, out)),
                // A kernel that does not fit this adapter: say so and run the
                // twin — unless the GPU was asked for by name.
                Err(e @ GpuError::TooLarge { .. })
                    if settings.backend != crate::settings::BackendChoice::Gpu =>
                {
                    m.notes
                        .push(format!("{e}; running on the CPU twin instead"));
                    m.backend = "cpu".into();
                    None
                }
                Err(e) => return Err(e.into()),
            }
        }
        Backend::Cpu { reason } => {
            if let Some(reason) = reason {
                m.notes.push(format!("running on the CPU twin: {reason}"));
            }
            None
        }
    };
    let (output, map) = match gpu {
        Some((ctx, out)) => {
            checkpoint(host).await?;
            host.progress("CPU twin on the checked rows", 0.6);
            let twin_out = twin_rows(&*twin, &rows, dv, per_chunk, host).await?;
            let gpu_out = select_rows(out.output.view(), &rows);
            let diff = max_abs_diff(gpu_out.view(), twin_out.view());
            m.gpu_cpu_max_abs_err = Some(diff);
            m.cross_checks.insert(out.kernel.clone(), diff);
            for (name, other) in &out.other_outputs {
                let d = max_abs_diff(select_rows(other.view(), &rows).view(), twin_out.view());
                m.cross_checks.insert(name.clone(), d);
            }
            m.adapter = ctx.adapter_name.clone();
            m.api = ctx.api.clone();
            m.kernel = out.kernel.clone();
            m.kernel_variant = out.kernel_variant.clone();
            m.memory_bytes = out.memory_bytes;
            m.timing = out.timing;
            m.time_ms_samples = out.time_ms_samples.clone();
            m.stages = out.stages.clone();
            m.tile_pairs = out.tile_pairs;
            m.notes.extend(out.notes.iter().cloned());
            gpu_pattern = out.pattern_map;
            gpu_factor = out.factor_map;
            lsh = out.lsh;
            (out.output, out.map)
        }
        None => {
            let repeats = req.options.repeats.max(1) as usize;
            let (output, map, samples) =
                cpu_pass(&*twin, (n, dv), repeats, per_chunk, host).await?;
            m.time_ms_samples = samples;
            m.adapter = "CPU twin, f32".into();
            m.api = "ndarray".into();
            m.kernel = "cpu-twin".into();
            m.kernel_variant = "one query row at a time".into();
            m.memory_bytes = ((2 * n * d + 2 * n * dv + n) * 4) as u64;
            m.timing = Timing::WallClock;
            (output, map)
        }
    };

    // The pattern: pairs counted by the twin; pooled on the GPU when it ran
    // the tiled kernel, otherwise here.
    host.progress("counting the pattern", 0.85);
    let mut pooler = PatternPooler::new(n);
    for start in (0..n).step_by(per_chunk.max(64)) {
        for i in start..(start + per_chunk.max(64)).min(n) {
            pooler.add_row(i, &twin.row_pattern(i));
        }
        checkpoint(host).await?;
    }
    m.pattern_pairs = pooler.pairs;
    m.density = pooler.pairs as f64 / (n as f64 * n as f64);
    let pattern = match gpu_pattern {
        Some(p) => p,
        None => pooler.finish(),
    };
    let lsh = lsh.or_else(|| twin.lsh_view());
    let factor = match gpu_factor {
        Some(f) => Some(f),
        None => twin.factor_map(),
    };

    host.progress("exact f64 reference on the checked rows", 0.9);
    let (exact, mass) = exact_rows(&reference, &*twin, &rows, dv, per_chunk, host).await?;
    let checked = select_rows(output.view(), &rows);
    let e = errors(checked.view(), exact.view());
    m.rel_err = e.rel_err;
    m.max_abs_err = e.max_abs_err;
    m.mass_in_pattern = mass.iter().sum::<f64>() / mass.len().max(1) as f64;
    m.time_ms = median(&m.time_ms_samples);
    m.gflops = if m.time_ms > 0.0 {
        m.flops as f64 / (m.time_ms * 1e6)
    } else {
        0.0
    };

    if !output.iter().all(|x| x.is_finite()) {
        return Err(RunError::NotFinite(format!(
            "{} output",
            backend.key().to_uppercase()
        )));
    }
    if !map.values.iter().all(|x| x.is_finite()) {
        return Err(RunError::NotFinite("attention map".into()));
    }
    let figures = [
        m.rel_err,
        m.max_abs_err,
        m.time_ms,
        m.gflops,
        m.mass_in_pattern,
        m.gpu_cpu_max_abs_err.unwrap_or(0.0),
    ];
    if !figures.iter().all(|x| x.is_finite()) {
        return Err(RunError::NotFinite("error or timing figures".into()));
    }
    host.progress("done", 1.0);
    Ok(RunOutput {
        measurement: m,
        map,
        pattern,
        lsh,
        factor,
        output,
    })
}

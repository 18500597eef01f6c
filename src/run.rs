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

/// Runs the CPU twin `repeats` times, each a whole pass: the twin built
/// afresh from the inputs (its set-up: features, projections, hashing) and
/// every row computed in chunks that yield, so every repeat runs the same
/// algorithm from the same state. The first pass pools the attention map.
/// Returns the output, the map and each pass's busy time in ms (yields
/// excluded).
async fn cpu_pass<'a>(
    build: &dyn Fn() -> Result<Box<dyn RowKernel + 'a>, MethodError>,
    (n, dv): (usize, usize),
    repeats: usize,
    per_chunk: usize,
    host: &dyn Host,
) -> Result<(Array2<f32>, AttentionMap, Vec<f64>), RunError> {
    let mut output = Array2::zeros((n, dv));
    let mut map = None;
    let mut samples = Vec::with_capacity(repeats);
    for r in 0..repeats {
        let t0 = Instant::now();
        let twin = build()?;
        let mut busy = t0.elapsed().as_secs_f64() * 1e3;
        checkpoint(host).await?;
        // Factored twins pool their implied map from their factors.
        if map.is_none() {
            map = twin.pooled_map();
        }
        let mut pooler = map.is_none().then(|| MapPooler::new(n));
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
                0.1 + 0.75 * (r as f64 + start as f64 / n as f64) / repeats as f64,
            );
            checkpoint(host).await?;
        }
        samples.push(busy);
        if let Some(p) = pooler {
            map = Some(p.finish());
        }
    }
    Ok((
        output,
        map.unwrap_or_else(|| MapPooler::new(n).finish()),
        samples,
    ))
}

/// Counts the pairs of the twin's pattern and pools it, in chunks.
async fn count_pattern(
    twin: &dyn RowKernel,
    n: usize,
    per_chunk: usize,
    host: &dyn Host,
) -> Result<(u64, PatternMap), RunError> {
    let mut pooler = PatternPooler::new(n);
    let step = per_chunk.max(64);
    for start in (0..n).step_by(step) {
        for i in start..(start + step).min(n) {
            pooler.add_row(i, &twin.row_pattern(i));
        }
        checkpoint(host).await?;
    }
    Ok((pooler.pairs, pooler.finish()))
}

/// rel_err of the two baselines on the checked rows: the mean of V (uniform
/// attention over the keys each query sees) and zeros.
fn baselines(reference: &ExactReference<'_>, rows: &[usize], exact: &Array2<f64>) -> (f64, f64) {
    let uniform = reference.uniform_rows(rows).mapv(|x| x as f32);
    let zeros = Array2::<f32>::zeros(exact.dim());
    (
        errors(uniform.view(), exact.view()).rel_err,
        errors(zeros.view(), exact.view()).rel_err,
    )
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
    let twin = method.cpu_twin(inputs, &config)?;
    let rows = sample_rows(n);
    let per_chunk = rows_per_chunk(n, d, dv);
    let model = method.reference_model(&config);
    let reference = ExactReference::for_model(inputs, settings.causal, model);

    // The pattern first: its pairs are what the method needs.
    host.progress("counting the pattern", 0.02);
    let (pairs, twin_pattern) = count_pattern(&*twin, n, per_chunk, host).await?;
    let cost = method.cost(shape, &config, pairs);

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
        param_choices: info
            .params
            .iter()
            .filter_map(|p| {
                let value = settings.params.get(p.key).copied().unwrap_or(p.default);
                p.choice_name(value)
                    .map(|name| (p.key.to_string(), name.to_string()))
            })
            .collect(),
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
        flops_algorithmic: cost.flops_algorithmic,
        flops_algorithmic_formula: cost.flops_algorithmic_formula,
        bytes_compulsory: cost.bytes_compulsory,
        bytes_compulsory_formula: cost.bytes_compulsory_formula,
        memory_bytes: 0,
        memory_formula: String::new(),
        time_ms: 0.0,
        timing: Timing::WallClock,
        time_ms_samples: Vec::new(),
        gflops: 0.0,
        rel_err: 0.0,
        max_abs_err: 0.0,
        reference: model.describe().into(),
        baseline_mean_v_rel_err: 0.0,
        baseline_zero_rel_err: 0.0,
        pinv_residual: twin.figures().pinv_residual,
        gpu_cpu_max_abs_err: None,
        cross_checks: Default::default(),
        pattern_pairs: pairs,
        density: pairs as f64 / (n as f64 * n as f64),
        tile_pairs: None,
        mass_in_pattern: 1.0,
        checked_rows: rows.len(),
        stages: Vec::new(),
        notes: Vec::new(),
    };

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
    let mut gpu_views = None;
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
            m.memory_formula = "device buffers created for the timed kernels".into();
            if let Some((flops, bytes)) = &out.executed {
                m.flops = flops.value;
                m.flops_formula = flops.formula.clone();
                m.bytes = bytes.value;
                m.bytes_formula = bytes.formula.clone();
            }
            m.timing = out.timing;
            m.time_ms_samples = out.time_ms_samples.clone();
            m.stages = out.stages.clone();
            m.tile_pairs = out.tile_pairs;
            m.notes.extend(out.notes.iter().cloned());
            gpu_views = Some((out.pattern_map, out.factor_map, out.lsh));
            (out.output, out.map)
        }
        None => {
            let repeats = req.options.repeats.max(1) as usize;
            let build = || method.cpu_twin(inputs, &config);
            let (output, map, samples) =
                cpu_pass(&build, (n, dv), repeats, per_chunk, host).await?;
            let executed = twin.cost(pairs);
            m.time_ms_samples = samples;
            m.adapter = "CPU twin, f32".into();
            m.api = "ndarray".into();
            m.kernel = "cpu-twin".into();
            m.kernel_variant = "the twin built and every row computed, per repeat".into();
            m.flops = executed.flops.value;
            m.flops_formula = format!("CPU twin: {}", executed.flops.formula);
            m.bytes = executed.bytes.value;
            m.bytes_formula = format!("CPU twin: {}", executed.bytes.formula);
            let output_bytes = (4 * n * dv) as u64;
            m.memory_bytes = executed.memory.value + output_bytes;
            m.memory_formula = format!("{} + 4ndᵥ (the output)", executed.memory.formula);
            m.timing = Timing::WallClock;
            m.notes.extend(twin.notes());
            (output, map)
        }
    };

    // Views the GPU pooled itself win over the twin's.
    let (gpu_pattern, gpu_factor, gpu_lsh) = gpu_views.unwrap_or((None, None, None));
    let pattern = gpu_pattern.unwrap_or(twin_pattern);
    let lsh = gpu_lsh.or_else(|| twin.lsh_view());
    let factor = gpu_factor.or_else(|| twin.factor_map());

    host.progress("exact f64 reference on the checked rows", 0.9);
    let (exact, mass) = exact_rows(&reference, &*twin, &rows, dv, per_chunk, host).await?;
    let checked = select_rows(output.view(), &rows);
    let e = errors(checked.view(), exact.view());
    m.rel_err = e.rel_err;
    m.max_abs_err = e.max_abs_err;
    (m.baseline_mean_v_rel_err, m.baseline_zero_rel_err) = baselines(&reference, &rows, &exact);
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
        m.baseline_mean_v_rel_err,
        m.baseline_zero_rel_err,
        m.gpu_cpu_max_abs_err.unwrap_or(0.0),
        m.pinv_residual.unwrap_or(0.0),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::GpuRunOptions;

    fn cpu(query: &str, repeats: u32) -> RunOutput {
        let (settings, issues) = Settings::from_query(query);
        assert!(issues.is_empty(), "{issues:?}");
        let options = GpuRunOptions {
            repeats,
            ..Default::default()
        };
        pollster::block_on(run(
            &RunRequest::seeded(settings, options),
            &Backend::Cpu { reason: None },
            &Quiet,
        ))
        .expect("CPU run")
    }

    #[test]
    fn shared_qk_reformer_is_measured_against_shared_qk_attention() {
        // One chunk covering every position: no LSH approximation at all, so
        // against the model it approximates the error is rounding only (it
        // was 0.81 against attention with the user's K).
        let out = cpu(
            "method=reformer&shared-qk=true&buckets=2&rounds=1&chunk=256&n=256&d=32",
            1,
        );
        let m = &out.measurement;
        assert!(m.rel_err < 1e-5, "rel_err {}", m.rel_err);
        assert!(m.reference.contains("shared-QK"), "{}", m.reference);
        assert!((m.mass_in_pattern - 1.0).abs() < 1e-9);
        let plain = cpu("method=reformer&buckets=2&rounds=1&chunk=256&n=256&d=32", 1);
        assert!(plain.measurement.rel_err < 1e-5);
        assert!(plain.measurement.reference.starts_with("exact softmax"));
    }

    #[test]
    fn cpu_repeats_of_causal_linear_attention_take_alike_times() {
        // Every repeat builds the twin and runs the prefix-sum algorithm; the
        // old runner fell back to the O(n²) form from the second repeat on
        // (16× slower here). A factor of 5 leaves room for a busy machine.
        let out = cpu("method=linear&causal=true&n=1024&d=32", 4);
        let samples = &out.measurement.time_ms_samples;
        let (lo, hi) = samples
            .iter()
            .fold((f64::INFINITY, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
        assert!(hi < 5.0 * lo, "repeat times {samples:?}");
    }

    #[test]
    fn cpu_runs_report_what_the_twin_executes_and_allocates() {
        for query in [
            "method=sparse-strided&stride=16&causal=true&n=256&d=16",
            "method=linformer&proj-dim=16&projection=gaussian&n=128&d=16",
            "method=performer&features=32&n=128&d=16",
        ] {
            let out = cpu(query, 1);
            let m = &out.measurement;
            let (settings, _) = Settings::from_query(query);
            let method = settings.method.method();
            let config = Config {
                causal: settings.causal,
                seed: settings.seed,
                params: &settings.params,
            };
            let x = Inputs::generate(settings.inputs, settings.n, settings.d, settings.seed, 1.0);
            let twin = method.cpu_twin(&x, &config).unwrap();
            let expect = twin.cost(m.pattern_pairs);
            assert_eq!(m.flops, expect.flops.value, "{query}");
            assert_eq!(m.bytes, expect.bytes.value, "{query}");
            assert_eq!(
                m.memory_bytes,
                expect.memory.value + (4 * m.n * m.dv) as u64,
                "{query}"
            );
            assert!(m.flops_formula.starts_with("CPU twin"), "{query}");
            // The GPU kernel's count is another figure.
            let gpu = method.cost(settings.shape(), &config, m.pattern_pairs);
            assert_ne!(m.flops, gpu.flops, "{query}");
            assert_eq!(m.flops_algorithmic, gpu.flops_algorithmic, "{query}");
            assert_eq!(m.bytes_compulsory, gpu.bytes_compulsory, "{query}");
        }
        // Linformer's E and F are in its memory: 2kn floats at k = 16, n = 128.
        let linformer = cpu(
            "method=linformer&proj-dim=16&projection=gaussian&n=128&d=16",
            1,
        );
        assert!(linformer.measurement.memory_bytes >= 4 * 2 * 16 * 128);
        assert!(
            linformer.measurement.memory_bytes
                > cpu("method=full&n=128&d=16", 1).measurement.memory_bytes
        );
    }

    #[test]
    fn every_run_reports_its_baselines() {
        let m = cpu("method=full&n=128&d=64", 1).measurement;
        assert!(m.rel_err < 1e-5);
        assert!((m.baseline_zero_rel_err - 1.0).abs() < 1e-12);
        // Unit-scale Gaussian inputs: exact attention is nearly uniform, so
        // the mean of V is already a fair approximation.
        assert!(
            (0.3..0.95).contains(&m.baseline_mean_v_rel_err),
            "{}",
            m.baseline_mean_v_rel_err
        );
        let json = serde_json::to_value(&m).unwrap();
        assert!(json.get("pinv_residual").is_none());
        let nystrom = cpu("method=nystrom&landmarks=16&n=128&d=16", 1).measurement;
        let residual = nystrom.pinv_residual.expect("Nyström reports its residual");
        assert!(residual.is_finite() && residual >= 0.0);
        let json = serde_json::to_value(&nystrom).unwrap();
        assert!(json["pinv_residual"].is_number());
    }
}

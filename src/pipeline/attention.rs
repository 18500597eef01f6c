//! The attention lab: one attention problem, end to end — a method with its
//! knobs on seeded or given Q, K, V, run on a [`Backend`] (the GPU kernels
//! with the CPU twin on the checked rows, or the twin alone), measured
//! against the exact model it approximates in f64, with its baselines,
//! costs in both kinds and its views. The same code drives the CLI
//! (blocking on the future) and the page (yielding between CPU chunks so
//! the page never freezes).

use std::collections::BTreeMap;
use std::rc::Rc;

use ndarray::{Array2, s};
use serde::{Deserialize, Serialize};
use web_time::Instant;

use super::qkv::{QkvQuant, quantize_inputs};
use super::report::{Envelope, Report};
use super::{Backend, Host, Lab, RunError, checkpoint};
use crate::attention::full::{ExactReference, ReferenceModel};
use crate::attention::{
    AttentionMethod, Config, Cost, MethodError, MethodId, MethodInfo, ParamValues, RowKernel,
};
use crate::data::LocalFuture;
use crate::data::artifacts::{Artifact, Artifacts};
use crate::data::codes::KernelKind;
use crate::data::count::Counted;
use crate::data::maps::{AttentionMap, MapPooler, PatternMap, PatternPooler};
use crate::data::shape::Shape;
use crate::data::stats::{errors, max_abs_diff, sample_rows, select_rows};
use crate::data::timing::Timing;
use crate::gpu::{GpuError, GpuOutput, GpuRunOptions};
use crate::inputs::{Heads, InputSource, Inputs};

/// How a measurement's note begins when `--pass-times` was asked for and
/// no per-pass time could be taken (the note says why).
pub const NO_PASS_TIMES: &str = "no per-pass times";

/// One attention problem: a plain value, no UI types inside.
#[derive(Debug, Clone)]
pub struct AttentionProblem {
    /// The method.
    pub method: MethodId,
    /// Its knobs (every key of its specs present).
    pub params: ParamValues,
    /// Mask keys j > i.
    pub causal: bool,
    /// Seed of the method's random choices (and of generated inputs).
    pub seed: u64,
    /// The factor Q and K were multiplied by (generated inputs).
    pub qk_scale: f64,
    /// Q, K, V (of head 0 when there are several).
    pub inputs: Rc<Inputs>,
    /// B·H heads, `inputs` their item 0 (`None`: the one head `inputs`).
    pub heads: Option<Rc<Heads>>,
    /// Repeats and GPU tuning.
    pub options: GpuRunOptions,
    /// The GPU was asked for by name: a kernel that does not fit the adapter
    /// fails the run instead of falling back to the CPU twin.
    pub gpu_required: bool,
    /// Quantize Q, K and V before the method runs (`None`: f32).
    pub qkv: Option<QkvQuant>,
}

impl AttentionProblem {
    /// `method` with its default knobs on seeded inputs of `source`, n × d,
    /// Q and K scaled by `qk_scale`; not causal, default run options.
    pub fn seeded(
        method: MethodId,
        source: InputSource,
        (n, d): (usize, usize),
        seed: u64,
        qk_scale: f64,
    ) -> AttentionProblem {
        AttentionProblem {
            method,
            params: method
                .info()
                .params
                .iter()
                .map(|p| (p.key.to_string(), p.default))
                .collect(),
            causal: false,
            seed,
            qk_scale,
            inputs: Rc::new(Inputs::generate(source, n, d, seed, qk_scale)),
            heads: None,
            options: GpuRunOptions::default(),
            gpu_required: false,
            qkv: None,
        }
    }

    /// The same with these knobs set.
    pub fn with(mut self, knobs: &[(&str, u64)]) -> AttentionProblem {
        for (key, value) in knobs {
            self.params.insert(key.to_string(), *value);
        }
        self
    }

    /// The same over `batch` × `heads` seeded heads of its inputs' kind
    /// (head 0 stays its inputs).
    ///
    /// # Panics
    /// If its inputs were loaded from files (`.npy` inputs are one head).
    pub fn with_heads(mut self, batch: usize, heads: usize) -> AttentionProblem {
        self.heads = (batch * heads > 1).then(|| {
            let x = &self.inputs;
            Rc::new(Heads::generate(
                x.source,
                (x.n(), x.d()),
                self.seed,
                self.qk_scale,
                (batch, heads),
            ))
        });
        if let Some(h) = &self.heads {
            self.inputs = h.items[0].clone();
        }
        self
    }

    /// B·H.
    pub fn head_count(&self) -> usize {
        self.heads.as_ref().map_or(1, |h| h.count())
    }

    /// The same, causal or not.
    pub fn causal(mut self, causal: bool) -> AttentionProblem {
        self.causal = causal;
        self
    }

    /// The method's configuration.
    pub fn config(&self) -> Config<'_> {
        Config {
            causal: self.causal,
            seed: self.seed,
            params: &self.params,
        }
    }

    /// The problem's shape.
    pub fn shape(&self) -> Shape {
        Shape {
            n: self.inputs.n(),
            d: self.inputs.d(),
            dv: self.inputs.dv(),
            causal: self.causal,
        }
    }
}

/// The attention lab's own figures, beside the envelope in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttentionFigures {
    /// Sequence length.
    pub n: usize,
    /// Query/key width.
    pub d: usize,
    /// Value width.
    pub dv: usize,
    /// Seed of the inputs (and of any random choice a method makes).
    pub seed: u64,
    /// Whether keys j > i were masked.
    pub causal: bool,
    /// Method-specific knobs (a choice knob by its index; its name is in
    /// `param_choices`).
    pub params: BTreeMap<String, u64>,
    /// The names of the choice knobs' values (`{"projection": "mean-pool"}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub param_choices: BTreeMap<String, String>,
    /// Where the inputs came from.
    pub inputs: InputSource,
    /// The factor Q and K were multiplied by (generated inputs).
    pub qk_scale: f64,
    /// Fingerprint of the exact bits of Q, K and V: equal on the page and
    /// in the CLI for the same seed and shape.
    pub inputs_digest: String,
    /// ‖O − O_ref‖_F / ‖O_ref‖_F over the checked rows.
    pub rel_err: f64,
    /// max |O − O_ref| over the checked rows.
    pub max_abs_err: f64,
    /// The exact model `rel_err` is measured against.
    #[serde(default)]
    pub reference: String,
    /// rel_err of outputting the mean of V (uniform attention over the keys
    /// each query sees): what a method must beat to say anything.
    #[serde(default)]
    pub baseline_mean_v_rel_err: f64,
    /// rel_err of outputting zeros (1 unless the exact output is zero).
    #[serde(default)]
    pub baseline_zero_rel_err: f64,
    /// Nyström: ‖ÃZÃ − Ã‖_F / ‖Ã‖_F of the pseudo-inverse Z used (CPU twin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinv_residual: Option<f64>,
    /// Nyström: the iterations Z took (the stop rule may end before
    /// `pinv-iters`), on the twin and the GPU alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinv_iterations: Option<u32>,
    /// Query–key pairs the method's pattern computes (n² for exact attention).
    pub pattern_pairs: u64,
    /// `pattern_pairs / n²`.
    pub density: f64,
    /// Pairs the GPU kernel evaluated, counting the masked pairs inside the
    /// key tiles it visits (tile-granular work; GPU runs of tiled kernels).
    pub tile_pairs: Option<u64>,
    /// Mean over the checked rows of the exact attention mass that falls on
    /// the pairs the pattern computes: what the pattern keeps.
    pub mass_in_pattern: f64,
    /// How many rows the error figures compare (per checked head).
    pub checked_rows: usize,
    /// Heads per sequence (H).
    #[serde(default = "one")]
    pub heads: usize,
    /// Sequences in the batch (B).
    #[serde(default = "one")]
    pub batch: usize,
    /// The heads (item b·H + h) whose checked rows the error figures and
    /// cross-checks cover, beside head 0 (empty for one head).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checked_heads: Vec<usize>,
    /// Quantized attention: bits of Q, K and V (absent: f32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qkv_bits: Option<u32>,
    /// Quantized attention: `per-token` or `per-channel` scales.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qkv_scales: Option<String>,
    /// Quantized attention: SQNR of Q, K and V in dB (`null`: lossless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qkv_sqnr_db: Option<[Option<f64>; 3]>,
    /// Quantized attention: rel_err against the same method on the f32
    /// inputs, over the checked rows — what quantization alone costs it
    /// (`rel_err` stays against exact attention on the f32 inputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel_err_vs_f32: Option<f64>,
}

fn one() -> usize {
    1
}

impl AttentionFigures {
    /// What the error figures cover, in words: "256 of 4096 rows", and
    /// with several heads "… in each of heads 0, 7, 15 (of 16)".
    pub fn checked_text(&self) -> String {
        let rows = format!("{} of {} rows", self.checked_rows, self.n);
        if self.checked_heads.is_empty() {
            return rows;
        }
        let heads: Vec<String> = self.checked_heads.iter().map(|h| h.to_string()).collect();
        format!(
            "{rows} in each of heads {} (of {})",
            heads.join(", "),
            self.heads * self.batch
        )
    }
}

/// An attention run's report: `flt run --json`, the page's raw data.
pub type Measurement = Report<AttentionFigures>;

/// The attention lab.
pub struct AttentionLab;

impl Lab for AttentionLab {
    type Problem = AttentionProblem;
    type Figures = AttentionFigures;
    const FAMILY: &'static str = "attention";

    fn run<'a>(
        &'a self,
        problem: &'a AttentionProblem,
        backend: &'a Backend,
        host: &'a dyn Host,
    ) -> LocalFuture<'a, Result<Measurement, RunError>> {
        Box::pin(run(problem, backend, host))
    }
}

/// Roughly this many multiply-adds per CPU chunk: about 5 ms in a browser on
/// an idle core (2²² took 100–380 ms on a loaded 2-core machine, over the
/// 50 ms a main-thread task may take).
const CHUNK_WORK: usize = 1 << 20;

fn rows_per_chunk(n: usize, d: usize, dv: usize) -> usize {
    (CHUNK_WORK / (n * (d + dv)).max(1)).max(1)
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
    let started = Instant::now();
    let total_rows = (n * repeats) as u64;
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
            let rows_done = (r * n + start) as u64;
            host.progress(
                &super::jobs::work_text(
                    "CPU twin",
                    rows_done,
                    total_rows,
                    "rows",
                    started.elapsed().as_secs_f64() * 1e3,
                ),
                0.1 + 0.75 * rows_done as f64 / total_rows as f64,
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

/// The mean-of-V baseline's output on the checked rows: uniform attention
/// over the keys each query sees (the zero baseline needs no output).
fn mean_of_v(reference: &ExactReference<'_>, rows: &[usize]) -> Array2<f32> {
    reference.uniform_rows(rows).mapv(|x| x as f32)
}

/// What a run knows before any kernel runs: the twin, the rows the errors
/// are checked on, the reference, the pattern and the cost.
struct Prepared<'a> {
    twin: Box<dyn RowKernel + 'a>,
    rows: Vec<usize>,
    per_chunk: usize,
    model: ReferenceModel,
    reference: ExactReference<'a>,
    pairs: u64,
    pattern: PatternMap,
    cost: Cost,
}

async fn prepare<'a>(
    method: &dyn AttentionMethod,
    problem: &'a AttentionProblem,
    reference_inputs: &'a Inputs,
    host: &dyn Host,
) -> Result<Prepared<'a>, RunError> {
    let info = method.info();
    if problem.causal
        && let Some(why) = info.causal_unsupported
    {
        return Err(
            MethodError::Unsupported(format!("{} cannot be causal: {why}", info.label)).into(),
        );
    }
    if !problem.causal
        && let Some(why) = method.always_causal()
    {
        return Err(MethodError::Unsupported(format!(
            "{} is always causal ({why}): run it with causal on",
            info.label
        ))
        .into());
    }
    let inputs = &*problem.inputs;
    let (n, d, dv) = (inputs.n(), inputs.d(), inputs.dv());
    let config = problem.config();
    let twin = method.cpu_twin(inputs, &config)?;
    let per_chunk = rows_per_chunk(n, d, dv);
    let model = method.reference_model(&config);
    // The pattern first: its pairs are what the method needs.
    host.progress("counting the pattern", 0.02);
    let (pairs, pattern) = count_pattern(&*twin, n, per_chunk, host).await?;
    Ok(Prepared {
        cost: method.cost(problem.shape(), &config, pairs),
        reference: ExactReference::for_model(reference_inputs, problem.causal, model),
        twin,
        rows: sample_rows(n),
        per_chunk,
        model,
        pairs,
        pattern,
    })
}

/// The figures known before the run.
fn figures(info: &MethodInfo, problem: &AttentionProblem, p: &Prepared<'_>) -> AttentionFigures {
    let inputs = &*problem.inputs;
    let n = inputs.n();
    AttentionFigures {
        n,
        d: inputs.d(),
        dv: inputs.dv(),
        seed: problem.seed,
        causal: problem.causal,
        params: problem.params.clone(),
        param_choices: info
            .params
            .iter()
            .filter_map(|spec| {
                let value = problem
                    .params
                    .get(spec.key)
                    .copied()
                    .unwrap_or(spec.default);
                spec.choice_name(value)
                    .map(|name| (spec.key.to_string(), name.to_string()))
            })
            .collect(),
        inputs: inputs.source,
        qk_scale: problem.qk_scale,
        inputs_digest: inputs.digest(),
        rel_err: 0.0,
        max_abs_err: 0.0,
        reference: p.model.describe().into(),
        baseline_mean_v_rel_err: 0.0,
        baseline_zero_rel_err: 0.0,
        pinv_residual: p.twin.figures().pinv_residual,
        pinv_iterations: p.twin.figures().pinv_iterations,
        pattern_pairs: p.pairs,
        density: p.pairs as f64 / (n as f64 * n as f64),
        tile_pairs: None,
        mass_in_pattern: 1.0,
        checked_rows: p.rows.len(),
        heads: problem.heads.as_ref().map_or(1, |h| h.heads),
        batch: problem.heads.as_ref().map_or(1, |h| h.batch),
        checked_heads: Vec::new(),
        qkv_bits: None,
        qkv_scales: None,
        qkv_sqnr_db: None,
        rel_err_vs_f32: None,
    }
}

/// Runs `problem` on `backend`.
pub async fn run(
    problem: &AttentionProblem,
    backend: &Backend,
    host: &dyn Host,
) -> Result<Measurement, RunError> {
    run_method(problem.method.method(), problem, backend, host).await
}

/// Runs `problem` with `method` standing for its registered method (the
/// pipeline's tests use fake methods to exercise its policies). With
/// `problem.qkv`, Q, K and V are quantized first ([`super::qkv`]) and the
/// method runs on them, measured against exact attention on the f32 inputs
/// and against itself on the f32 inputs.
pub async fn run_method(
    method: &dyn AttentionMethod,
    problem: &AttentionProblem,
    backend: &Backend,
    host: &dyn Host,
) -> Result<Measurement, RunError> {
    let Some(q) = problem.qkv else {
        return run_on(method, problem, &problem.inputs, backend, host).await;
    };
    if problem.head_count() > 1 {
        return Err(MethodError::Unsupported(
            "quantized Q, K, V (qkv-bits) run on one head; use heads=1 batch=1".into(),
        )
        .into());
    }
    let quantized = quantize_inputs(&problem.inputs, &q, backend, host).await?;
    let on_quantized = AttentionProblem {
        inputs: Rc::new(quantized.inputs),
        qkv: None,
        ..problem.clone()
    };
    let mut report = run_on(method, &on_quantized, &problem.inputs, backend, host).await?;
    let f = &mut report.figures;
    f.inputs_digest = problem.inputs.digest();
    f.qkv_bits = Some(q.bits);
    f.qkv_scales = Some(q.scales_key().into());
    f.qkv_sqnr_db = Some(quantized.sqnr_db);
    host.progress("the same method on the f32 inputs", 0.95);
    let config = problem.config();
    let twin = method.cpu_twin(&problem.inputs, &config)?;
    let rows = sample_rows(problem.inputs.n());
    let dv = problem.inputs.dv();
    let per_chunk = rows_per_chunk(problem.inputs.n(), problem.inputs.d(), dv);
    let f32_rows = twin_rows(&*twin, &rows, dv, per_chunk, host).await?;
    let output = report
        .artifacts
        .output()
        .ok_or_else(|| RunError::NotFinite("output".into()))?;
    let e = errors(
        select_rows(output.view(), &rows).view(),
        f32_rows.mapv(f64::from).view(),
    );
    if !e.rel_err.is_finite() {
        return Err(RunError::NotFinite("rel_err against the f32 run".into()));
    }
    report.figures.rel_err_vs_f32 = Some(e.rel_err);
    report.envelope.notes.push(format!(
        "Q, K and V quantized to {} bits with {} scales ({} backend) before the method ran; the time is the method's alone",
        q.bits,
        q.scales_key(),
        quantized.by
    ));
    Ok(report)
}

/// Runs the method on `problem`'s inputs, measured against the exact model
/// on `reference_inputs` (the same inputs, or their f32 originals).
async fn run_on(
    method: &dyn AttentionMethod,
    problem: &AttentionProblem,
    reference_inputs: &Inputs,
    backend: &Backend,
    host: &dyn Host,
) -> Result<Measurement, RunError> {
    let info = method.info();
    let p = prepare(method, problem, reference_inputs, host).await?;
    let heads = problem.heads.as_deref().filter(|h| h.count() > 1);
    let count = heads.map_or(1, Heads::count) as u64;
    let per_head =
        |c: Counted| Counted::new(c.value * count, heads_formula(count as usize, &c.formula));
    let mut env = Envelope::new(AttentionLab::FAMILY, info.key, info.label, backend.key());
    let (flops, bytes) = p.cost.executed();
    env.executed(per_head(flops), per_head(bytes));
    let (flops, bytes) = p.cost.needed();
    env.needed(per_head(flops), per_head(bytes));
    let mut fig = figures(info, problem, &p);
    let gpu = match backend {
        Backend::Gpu(ctx) => on_gpu(method, problem, ctx, &mut env, host).await?,
        Backend::Cpu { reason } => {
            env.notes.extend(
                reason
                    .iter()
                    .map(|r| format!("running on the CPU twin: {r}")),
            );
            None
        }
    };
    let (output, mut artifacts) = match gpu {
        Some(out) => {
            let (output, artifacts) = from_gpu(out, &p, &mut env, &mut fig, host).await?;
            if let Some(heads) = heads {
                cross_check_heads(method, problem, heads, &output, &p, &mut env, host).await?;
            }
            (output, artifacts)
        }
        None => on_cpu(method, problem, &p, &mut env, host).await?,
    };
    artifacts.fill_from(p.twin.views());
    artifacts.fill_from(Artifacts::new().with(Artifact::Pattern(p.pattern.clone())));
    errors_against_reference(method, problem, &output, &p, &mut fig, host).await?;
    check_finite(&output, &artifacts, &env, &fig, backend)?;
    artifacts.put(Artifact::Output(output));
    host.progress("done", 1.0);
    Ok(Report {
        envelope: env,
        figures: fig,
        artifacts,
    })
}

/// Runs the method's GPU kernels; `None` when a kernel does not fit this
/// adapter and the GPU was not asked for by name (the twin runs instead).
async fn on_gpu(
    method: &dyn AttentionMethod,
    problem: &AttentionProblem,
    ctx: &crate::gpu::GpuContext,
    env: &mut Envelope,
    host: &dyn Host,
) -> Result<Option<(GpuOutput, String, String)>, RunError> {
    host.progress("running the GPU kernels", 0.05);
    let config = problem.config();
    let run = match problem.heads.as_deref().filter(|h| h.count() > 1) {
        None => method.run_gpu(ctx, &problem.inputs, &config, &problem.options),
        Some(heads) => match method.run_gpu_heads(ctx, heads, &config, &problem.options) {
            Some(run) => run,
            None => {
                let why = format!(
                    "{}'s GPU kernels run one head at a time so far, and B·H = {} heads were asked for",
                    method.info().label,
                    heads.count()
                );
                if problem.gpu_required {
                    return Err(MethodError::Unsupported(format!(
                        "{why}; run them on the CPU twin (backend cpu) or with heads=1 batch=1"
                    ))
                    .into());
                }
                env.notes
                    .push(format!("{why}: every head runs on the CPU twin"));
                env.backend = "cpu".into();
                return Ok(None);
            }
        },
    };
    match run.await {
        Ok(out) => {
            if problem.options.pass_times && out.timed.passes.is_empty() {
                env.notes.push(if ctx.timestamps {
                    format!("{NO_PASS_TIMES}: the program has no timed pass, or more passes than a query set holds")
                } else {
                    format!("{NO_PASS_TIMES}: this device has no timestamp queries")
                });
            }
            Ok(Some((out, ctx.adapter_name.clone(), ctx.api.clone())))
        }
        Err(e @ GpuError::TooLarge { .. }) if !problem.gpu_required => {
            env.notes
                .push(format!("{e}; running on the CPU twin instead"));
            env.backend = "cpu".into();
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Takes a GPU run's figures, and cross-checks every kernel's output with
/// the twin on the checked rows.
async fn from_gpu(
    (out, adapter, api): (GpuOutput, String, String),
    p: &Prepared<'_>,
    env: &mut Envelope,
    fig: &mut AttentionFigures,
    host: &dyn Host,
) -> Result<(Array2<f32>, Artifacts), RunError> {
    checkpoint(host).await?;
    host.progress("CPU twin on the checked rows", 0.6);
    let dv = out.output.ncols();
    let twin_out = twin_rows(&*p.twin, &p.rows, dv, p.per_chunk, host).await?;
    let diff = max_abs_diff(
        select_rows(out.output.view(), &p.rows).view(),
        twin_out.view(),
    );
    env.gpu_cpu_max_abs_err = Some(diff);
    env.cross_checks.insert(out.kernel.key().to_string(), diff);
    for (name, other) in &out.other_outputs {
        let d = max_abs_diff(select_rows(other.view(), &p.rows).view(), twin_out.view());
        env.cross_checks.insert(name.clone(), d);
    }
    env.adapter = adapter;
    env.api = api;
    env.kernel = out.kernel;
    env.kernel_variant = out.kernel_variant;
    env.memory_bytes = out.memory_bytes;
    env.memory_formula = "device buffers created for the timed kernels".into();
    if let Some((flops, bytes)) = out.executed {
        env.executed(flops, bytes);
    }
    env.timed(out.timed.samples, out.timed.timing);
    env.passes = out.timed.passes;
    env.stages = out.stages;
    env.notes.extend(out.notes);
    fig.tile_pairs = out.tile_pairs;
    Ok((out.output, out.artifacts))
}

/// Runs the twin alone: its own executed figures and allocations.
async fn on_cpu(
    method: &dyn AttentionMethod,
    problem: &AttentionProblem,
    p: &Prepared<'_>,
    env: &mut Envelope,
    host: &dyn Host,
) -> Result<(Array2<f32>, Artifacts), RunError> {
    let inputs = &*problem.inputs;
    let (n, dv) = (inputs.n(), inputs.dv());
    let config = problem.config();
    let repeats = problem.options.repeats.max(1) as usize;
    let build = || method.cpu_twin(inputs, &config);
    let (mut output, map, mut samples) =
        cpu_pass(&build, (n, dv), repeats, p.per_chunk, host).await?;
    // Further heads: each its own twin, one after the other (a CPU has no
    // dispatch over heads); a repeat's time is the sum over the heads.
    let heads = problem.heads.as_deref().filter(|h| h.count() > 1);
    let count = heads.map_or(1, Heads::count);
    if let Some(heads) = heads {
        let mut stacked = Array2::zeros((count * n, dv));
        stacked.slice_mut(s![..n, ..]).assign(&output);
        for (h, head) in heads.items.iter().enumerate().skip(1) {
            host.progress(&format!("CPU twin, head {} of {count}", h + 1), 0.1);
            let build = || method.cpu_twin(head, &config);
            let (o, _, t) = cpu_pass(&build, (n, dv), repeats, p.per_chunk, host).await?;
            stacked.slice_mut(s![h * n..(h + 1) * n, ..]).assign(&o);
            samples.iter_mut().zip(t).for_each(|(a, b)| *a += b);
        }
        output = stacked;
    }
    let executed = p.twin.cost(p.pairs);
    let executed = crate::attention::TwinCost {
        flops: Counted::new(
            executed.flops.value * count as u64,
            heads_formula(count, &executed.flops.formula),
        ),
        bytes: Counted::new(
            executed.bytes.value * count as u64,
            heads_formula(count, &executed.bytes.formula),
        ),
        memory: executed.memory,
    };
    env.adapter = "CPU twin, f32".into();
    env.api = "ndarray".into();
    env.kernel = KernelKind::CpuTwin;
    env.kernel_variant = "the twin built and every row computed, per repeat".into();
    env.executed(
        Counted::new(
            executed.flops.value,
            format!("CPU twin: {}", executed.flops.formula),
        ),
        Counted::new(
            executed.bytes.value,
            format!("CPU twin: {}", executed.bytes.formula),
        ),
    );
    env.memory_bytes = executed.memory.value + (4 * count * n * dv) as u64;
    env.memory_formula = match count {
        1 => format!("{} + 4ndᵥ (the output)", executed.memory.formula),
        _ => format!(
            "{} (one head's twin at a time) + 4·{count}·ndᵥ (the outputs)",
            executed.memory.formula
        ),
    };
    env.timed(samples, Timing::WallClock);
    env.notes.extend(p.twin.notes());
    Ok((output, Artifacts::new().with(Artifact::Weights(map))))
}

/// A count's formula for `count` heads.
fn heads_formula(count: usize, formula: &str) -> String {
    match count {
        1 => formula.to_string(),
        _ => format!("{count} heads × ({formula})"),
    }
}

/// Rows `h·n ..` of a stacked `[B·H·n, dᵥ]` output: head `h`'s rows `rows`.
fn head_rows(output: &Array2<f32>, h: usize, n: usize, rows: &[usize]) -> Array2<f32> {
    select_rows(output.slice(s![h * n..(h + 1) * n, ..]), rows)
}

/// Cross-checks the checked heads past head 0 (which [`from_gpu`] checked)
/// against their own twins: a batched kernel that reads or writes the wrong
/// head shows here.
async fn cross_check_heads(
    method: &dyn AttentionMethod,
    problem: &AttentionProblem,
    heads: &Heads,
    output: &Array2<f32>,
    p: &Prepared<'_>,
    env: &mut Envelope,
    host: &dyn Host,
) -> Result<(), RunError> {
    let (n, dv) = (heads.n(), heads.dv());
    if output.nrows() != heads.count() * n {
        return Err(RunError::NotFinite(format!(
            "GPU output of {} rows for {} heads of n = {n}",
            output.nrows(),
            heads.count()
        )));
    }
    let config = problem.config();
    let mut worst = env.gpu_cpu_max_abs_err.unwrap_or(0.0);
    for h in heads.checked().into_iter().filter(|&h| h > 0) {
        let twin = method.cpu_twin(&heads.items[h], &config)?;
        let expect = twin_rows(&*twin, &p.rows, dv, p.per_chunk, host).await?;
        let diff = max_abs_diff(head_rows(output, h, n, &p.rows).view(), expect.view());
        env.cross_checks.insert(format!("head {h}"), diff);
        worst = worst.max(diff);
    }
    env.gpu_cpu_max_abs_err = Some(worst);
    Ok(())
}

/// rel_err, max_abs_err, the baselines and the mass in the pattern, against
/// the exact reference in f64 on the checked rows of the checked heads
/// (head 0 alone for one head), all rows taken together.
async fn errors_against_reference(
    method: &dyn AttentionMethod,
    problem: &AttentionProblem,
    output: &Array2<f32>,
    p: &Prepared<'_>,
    fig: &mut AttentionFigures,
    host: &dyn Host,
) -> Result<(), RunError> {
    host.progress("exact f64 reference on the checked rows", 0.9);
    let dv = output.ncols();
    let n = problem.inputs.n();
    let (mut exact, mut mass) =
        exact_rows(&p.reference, &*p.twin, &p.rows, dv, p.per_chunk, host).await?;
    let mut got = select_rows(output.view(), &p.rows);
    let mut uniform = mean_of_v(&p.reference, &p.rows);
    if let Some(heads) = problem.heads.as_deref().filter(|h| h.count() > 1) {
        let config = problem.config();
        for h in heads.checked().into_iter().filter(|&h| h > 0) {
            let x = &heads.items[h];
            let twin = method.cpu_twin(x, &config)?;
            let reference = ExactReference::for_model(x, problem.causal, p.model);
            let (e, m) = exact_rows(&reference, &*twin, &p.rows, dv, p.per_chunk, host).await?;
            uniform =
                ndarray::concatenate![ndarray::Axis(0), uniform, mean_of_v(&reference, &p.rows)];
            exact = ndarray::concatenate![ndarray::Axis(0), exact, e];
            got = ndarray::concatenate![ndarray::Axis(0), got, head_rows(output, h, n, &p.rows)];
            mass.extend(m);
        }
        fig.checked_heads = heads.checked();
    }
    let e = errors(got.view(), exact.view());
    fig.rel_err = e.rel_err;
    fig.max_abs_err = e.max_abs_err;
    fig.baseline_mean_v_rel_err = errors(uniform.view(), exact.view()).rel_err;
    fig.baseline_zero_rel_err =
        errors(Array2::<f32>::zeros(exact.dim()).view(), exact.view()).rel_err;
    fig.mass_in_pattern = mass.iter().sum::<f64>() / mass.len().max(1) as f64;
    Ok(())
}

/// Refuses a result that is not finite: never shown as a figure.
fn check_finite(
    output: &Array2<f32>,
    artifacts: &Artifacts,
    env: &Envelope,
    fig: &AttentionFigures,
    backend: &Backend,
) -> Result<(), RunError> {
    if !output.iter().all(|x| x.is_finite()) {
        return Err(RunError::NotFinite(format!(
            "{} output",
            backend.key().to_uppercase()
        )));
    }
    if let Some(map) = artifacts.weights()
        && !map.values.iter().all(|x| x.is_finite())
    {
        return Err(RunError::NotFinite("attention map".into()));
    }
    let figures = [
        fig.rel_err,
        fig.max_abs_err,
        env.time_ms,
        env.gflops,
        fig.mass_in_pattern,
        fig.baseline_mean_v_rel_err,
        fig.baseline_zero_rel_err,
        env.gpu_cpu_max_abs_err.unwrap_or(0.0),
        fig.pinv_residual.unwrap_or(0.0),
    ];
    if !figures.iter().all(|x| x.is_finite()) {
        return Err(RunError::NotFinite("error or timing figures".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Quiet;

    /// A problem from `method=…&n=…&d=…&causal=…&knob=value…` (tests only;
    /// the front-ends parse real queries with their settings table).
    fn problem(query: &str) -> AttentionProblem {
        let pairs: BTreeMap<&str, &str> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let method = MethodId::from_key(pairs["method"]).expect("method");
        let n = pairs["n"].parse().unwrap();
        let d = pairs["d"].parse().unwrap();
        let mut p = AttentionProblem::seeded(method, InputSource::Gaussian, (n, d), 1, 1.0)
            .causal(pairs.get("causal") == Some(&"true"));
        for spec in method.info().params {
            if let Some(v) = pairs.get(spec.key) {
                let value = spec
                    .choice_index(v)
                    .or_else(|| (*v == "true").then_some(1))
                    .unwrap_or_else(|| v.parse().unwrap());
                p.params.insert(spec.key.to_string(), value);
            }
        }
        p
    }

    fn cpu(query: &str, repeats: u32) -> Measurement {
        let mut p = problem(query);
        p.options.repeats = repeats;
        pollster::block_on(run(&p, &Backend::Cpu { reason: None }, &Quiet)).expect("CPU run")
    }

    #[test]
    fn several_heads_run_each_head_on_its_own_inputs() {
        // B·H = 2·3 heads on the CPU twin: each block of the stacked output
        // is that head's own single-head run (a twin fed head 0's inputs for
        // every head fails the block comparison), head 0 is the one-head
        // problem unchanged, and the error figures cover heads 0, 2, 5.
        let one = problem("method=longformer&n=40&d=8&window=3&global=1");
        let heads = one.clone().with_heads(2, 3);
        assert!(Rc::ptr_eq(
            &heads.inputs,
            &heads.heads.as_ref().unwrap().items[0]
        ));
        assert_eq!(heads.inputs.digest(), one.inputs.digest());
        let cpu = Backend::Cpu { reason: None };
        let out = pollster::block_on(run(&heads, &cpu, &Quiet)).expect("heads");
        let f = &out.figures;
        assert_eq!(
            (f.batch, f.heads, f.checked_heads.clone()),
            (2, 3, vec![0, 2, 5])
        );
        assert!(
            f.checked_text().contains("heads 0, 2, 5 (of 6)"),
            "{}",
            f.checked_text()
        );
        let stacked = out.artifacts.output().expect("output");
        assert_eq!(stacked.dim(), (6 * 40, 8));
        let all = heads.heads.as_ref().unwrap();
        for h in [0, 4, 5] {
            let single = AttentionProblem {
                inputs: all.items[h].clone(),
                ..one.clone()
            };
            let alone = pollster::block_on(run(&single, &cpu, &Quiet)).expect("one head");
            let expect = alone.artifacts.output().unwrap();
            assert_eq!(
                stacked.slice(s![h * 40..(h + 1) * 40, ..]),
                expect.view(),
                "head {h}"
            );
        }
        assert_ne!(
            stacked.slice(s![0..40, ..]),
            stacked.slice(s![200..240, ..]),
            "heads drew the same inputs"
        );
        // Costs scale with the heads; the errors stay relative.
        let single = pollster::block_on(run(&one, &cpu, &Quiet)).unwrap();
        assert_eq!(
            out.envelope.flops_algorithmic,
            6 * single.envelope.flops_algorithmic
        );
        assert_eq!(
            out.envelope.bytes_compulsory,
            6 * single.envelope.bytes_compulsory
        );
        assert!(
            out.envelope
                .flops_algorithmic_formula
                .starts_with("6 heads × (")
        );
        assert!(f.rel_err.is_finite() && (f.rel_err - single.figures.rel_err).abs() < 0.5);
        assert!(f.baseline_mean_v_rel_err > 0.0 && f.baseline_zero_rel_err == 1.0);
    }

    #[test]
    fn several_heads_without_batched_kernels_say_so_or_refuse() {
        let Some(ctx) = pollster::block_on(crate::gpu::GpuContext::new()).ok() else {
            return;
        };
        /// Nyström without its batched kernels: the seam's default
        /// `run_gpu_heads` (every registered method has batched kernels).
        struct Unbatched;
        impl AttentionMethod for Unbatched {
            fn info(&self) -> &'static crate::attention::MethodInfo {
                MethodId::Nystrom.method().info()
            }
            fn cost(
                &self,
                shape: crate::data::shape::Shape,
                config: &Config<'_>,
                pairs: u64,
            ) -> crate::attention::Cost {
                MethodId::Nystrom.method().cost(shape, config, pairs)
            }
            fn cpu_twin<'a>(
                &self,
                inputs: &'a Inputs,
                config: &Config<'_>,
            ) -> Result<Box<dyn crate::attention::RowKernel + 'a>, MethodError> {
                MethodId::Nystrom.method().cpu_twin(inputs, config)
            }
            fn run_gpu<'a>(
                &'a self,
                ctx: &'a crate::gpu::GpuContext,
                inputs: &'a Inputs,
                config: &'a Config<'a>,
                options: &'a crate::gpu::GpuRunOptions,
            ) -> LocalFuture<'a, Result<GpuOutput, GpuError>> {
                MethodId::Nystrom
                    .method()
                    .run_gpu(ctx, inputs, config, options)
            }
        }
        let gpu = Backend::Gpu(Rc::new(ctx));
        let mut p = problem("method=nystrom&n=32&d=8&landmarks=4").with_heads(1, 2);
        // Nyström's own kernels run the heads batched on the GPU.
        let batched = pollster::block_on(run(&p, &gpu, &Quiet)).expect("runs");
        assert_eq!(batched.envelope.backend, "gpu");
        assert!(batched.envelope.cross_checks.contains_key("head 1"));
        let fallback =
            pollster::block_on(run_method(&Unbatched, &p, &gpu, &Quiet)).expect("falls back");
        assert_eq!(fallback.envelope.backend, "cpu");
        assert!(
            fallback
                .envelope
                .notes
                .iter()
                .any(|n| n.contains("one head at a time")),
            "{:?}",
            fallback.envelope.notes
        );
        p.gpu_required = true;
        let refused = pollster::block_on(run_method(&Unbatched, &p, &gpu, &Quiet)).unwrap_err();
        assert!(matches!(refused, RunError::Method(_)), "{refused}");
        assert!(refused.to_string().contains("backend cpu"), "{refused}");
        // Quantized Q, K, V run one head.
        p.gpu_required = false;
        p.qkv = Some(QkvQuant {
            bits: 8,
            per_channel: false,
        });
        let refused = pollster::block_on(run(&p, &Backend::Cpu { reason: None }, &Quiet));
        assert!(refused.unwrap_err().to_string().contains("heads=1"));
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
        let m = &out.figures;
        assert!(m.rel_err < 1e-5, "rel_err {}", m.rel_err);
        assert!(m.reference.contains("shared-QK"), "{}", m.reference);
        assert!((m.mass_in_pattern - 1.0).abs() < 1e-9);
        let plain = cpu("method=reformer&buckets=2&rounds=1&chunk=256&n=256&d=32", 1);
        assert!(plain.figures.rel_err < 1e-5);
        assert!(plain.figures.reference.starts_with("exact softmax"));
    }

    #[test]
    fn cpu_repeats_of_causal_linear_attention_take_alike_times() {
        // Every repeat builds the twin and runs the prefix-sum algorithm; the
        // old runner fell back to the O(n²) form from the second repeat on
        // (16× slower here). A factor of 5 leaves room for a busy machine.
        let out = cpu("method=linear&causal=true&n=1024&d=32", 4);
        let samples = &out.envelope.time_ms_samples;
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
            let (m, f) = (&out.envelope, &out.figures);
            let p = problem(query);
            let method = p.method.method();
            let twin = method.cpu_twin(&p.inputs, &p.config()).unwrap();
            let expect = twin.cost(f.pattern_pairs);
            assert_eq!(m.flops, expect.flops.value, "{query}");
            assert_eq!(m.bytes, expect.bytes.value, "{query}");
            assert_eq!(
                m.memory_bytes,
                expect.memory.value + (4 * f.n * f.dv) as u64,
                "{query}"
            );
            assert!(m.flops_formula.starts_with("CPU twin"), "{query}");
            // The GPU kernel's count is another figure.
            let gpu = method.cost(p.shape(), &p.config(), f.pattern_pairs);
            assert_ne!(m.flops, gpu.flops, "{query}");
            assert_eq!(m.flops_algorithmic, gpu.flops_algorithmic, "{query}");
            assert_eq!(m.bytes_compulsory, gpu.bytes_compulsory, "{query}");
        }
        // Linformer's E and F are in its memory: 2kn floats at k = 16, n = 128.
        let linformer = cpu(
            "method=linformer&proj-dim=16&projection=gaussian&n=128&d=16",
            1,
        );
        assert!(linformer.envelope.memory_bytes >= 4 * 2 * 16 * 128);
        assert!(
            linformer.envelope.memory_bytes
                > cpu("method=full&n=128&d=16", 1).envelope.memory_bytes
        );
    }

    #[test]
    fn every_run_reports_its_baselines() {
        let m = cpu("method=full&n=128&d=64", 1).figures;
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
        let nystrom = cpu("method=nystrom&landmarks=16&n=128&d=16", 1).figures;
        let residual = nystrom.pinv_residual.expect("Nyström reports its residual");
        assert!(residual.is_finite() && residual >= 0.0);
        let json = serde_json::to_value(&nystrom).unwrap();
        assert!(json["pinv_residual"].is_number());
    }
}

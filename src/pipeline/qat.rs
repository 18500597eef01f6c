//! The QAT lab (survey §"Quantization", PTQ against QAT; Jacob et al. 2018,
//! §3 "Training with simulated quantization"): a 2-layer MLP trained live on
//! a seeded task, on a [`Backend`] — the GPU kernels of `gpu/mlp.wgsl` or
//! the CPU twin of `compress::qat` — in three acts:
//!
//! 1. train in f32 for `epochs` epochs; test accuracy;
//! 2. PTQ: quantize the trained weights per row at each bit width
//!    (4, 3, 2) and measure the test accuracy of the quantized model;
//! 3. QAT: from the f32 weights, fine-tune `qat_epochs` epochs through the
//!    fake quantizer with the straight-through estimator at each bit width,
//!    then quantize and measure again.
//!
//! Every epoch yields to the host (the page stays responsive and a newer
//! run cancels this one); the figures are the same JSON on the page and in
//! `flt qat --json`, and the twin's numbers are the same bits on both.

use serde::{Deserialize, Serialize};
use web_time::Instant;

use super::report::{Envelope, Report};
use super::{Backend, Host, Lab, RunError, checkpoint};
use crate::attention::MethodError;
use crate::compress::qat::{
    self, BITS, BITS_RANGE, EPOCHS, Evaluation, HIDDEN, Hyper, MlpShape, QAT_EPOCHS, Task,
    TaskSpec, Trainer,
};
use crate::data::LocalFuture;
use crate::data::artifacts::Artifacts;
use crate::data::codes::KernelKind;
use crate::data::timing::{Stage, Timing, median};
use crate::gpu::GpuContext;
use crate::gpu::mlp::{Examples, MAX_CLASSES, MlpDims, MlpTrainer, StepOptions};

/// Epochs per GPU submission: one untimed warm-up epoch and the others
/// timed (a phase's last chunk takes a remainder of one epoch with it).
pub const GPU_CHUNK: usize = 5;

/// One QAT-against-PTQ experiment: a plain value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QatProblem {
    /// Seed of the task and of the initial weights.
    pub seed: u64,
    /// The task's sizes.
    pub task: TaskSpec,
    /// Hidden units H.
    pub hidden: usize,
    /// f32 training epochs.
    pub epochs: usize,
    /// QAT fine-tuning epochs per bit width.
    pub qat_epochs: usize,
    /// Bit widths, compared in this order.
    pub bits: Vec<u32>,
    /// Batch size, learning rates, momentum, straight-through or not.
    pub hyper: Hyper,
}

impl QatProblem {
    /// The default experiment for `seed`.
    pub fn new(seed: u64) -> QatProblem {
        QatProblem {
            seed,
            task: TaskSpec::default(),
            hidden: HIDDEN.2,
            epochs: EPOCHS.2,
            qat_epochs: QAT_EPOCHS.2,
            bits: BITS.to_vec(),
            hyper: Hyper::default(),
        }
    }

    /// The network's shape.
    pub fn shape(&self) -> MlpShape {
        MlpShape {
            inputs: self.task.inputs,
            hidden: self.hidden,
            classes: self.task.classes,
        }
    }

    /// Checks every size against its range, with a message that says which.
    pub fn validate(&self) -> Result<(), RunError> {
        let bad = |m: String| Err(RunError::Method(MethodError::Unsupported(m)));
        let within = |x: usize, (lo, hi, _): (usize, usize, usize)| (lo..=hi).contains(&x);
        if !within(self.hidden, HIDDEN) {
            return bad(format!(
                "hidden = {} is outside {}..={}",
                self.hidden, HIDDEN.0, HIDDEN.1
            ));
        }
        if !within(self.epochs, EPOCHS) {
            return bad(format!(
                "epochs = {} is outside {}..={}",
                self.epochs, EPOCHS.0, EPOCHS.1
            ));
        }
        if !within(self.qat_epochs, QAT_EPOCHS) {
            return bad(format!(
                "qat-epochs = {} is outside {}..={}",
                self.qat_epochs, QAT_EPOCHS.0, QAT_EPOCHS.1
            ));
        }
        if let Some(b) = self
            .bits
            .iter()
            .find(|b| !(BITS_RANGE.0..=BITS_RANGE.1).contains(*b))
        {
            return bad(format!(
                "{b} bits is outside {}..={}",
                BITS_RANGE.0, BITS_RANGE.1
            ));
        }
        let t = &self.task;
        if t.inputs == 0 || t.classes < 2 || t.classes > MAX_CLASSES || t.clusters_per_class == 0 {
            return bad(format!(
                "the task needs d ≥ 1 and 2..={MAX_CLASSES} classes (d = {}, C = {})",
                t.inputs, t.classes
            ));
        }
        if t.train < 2 || t.test == 0 || self.hyper.batch == 0 {
            return bad("the task needs training and test examples and a batch ≥ 1".into());
        }
        Ok(())
    }
}

/// One bit width's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BitsFigures {
    /// Bits b.
    pub bits: u32,
    /// The grid's largest level L = 2^{b−1} − 1 (values −L..=L, times s).
    pub levels: u32,
    /// Test accuracy of the f32-trained model quantized after training.
    pub ptq_test_accuracy: f64,
    /// Its mean test cross-entropy.
    pub ptq_test_loss: f64,
    /// Test accuracy after QAT fine-tuning, with the quantized weights.
    pub qat_test_accuracy: f64,
    /// Its mean test cross-entropy.
    pub qat_test_loss: f64,
    /// Mean training loss of each QAT epoch (fake-quantized forward).
    pub qat_train_loss: Vec<f64>,
    /// Median time of a QAT epoch, in ms (see `epoch_timing`).
    pub qat_epoch_ms: f64,
}

/// The QAT lab's own figures, beside the envelope in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QatFigures {
    /// Seed of the task and of the initial weights.
    pub seed: u64,
    /// The task, in words.
    pub task: String,
    /// Input features d.
    pub inputs: usize,
    /// Hidden units H.
    pub hidden: usize,
    /// Classes C.
    pub classes: usize,
    /// Parameters P (weights and biases).
    pub params: usize,
    /// Quantized weights (W₁ and W₂).
    pub weights: usize,
    /// Training examples.
    pub train_examples: usize,
    /// Held-out test examples: every accuracy is measured on them.
    pub test_examples: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// f32 learning rate.
    pub lr: f64,
    /// QAT learning rate.
    pub qat_lr: f64,
    /// Momentum.
    pub momentum: f64,
    /// f32 training epochs.
    pub epochs: usize,
    /// QAT epochs per bit width.
    pub qat_epochs: usize,
    /// Whether QAT passed the gradient straight through the quantizer.
    pub straight_through: bool,
    /// The quantizer, in words.
    pub quantizer: String,
    /// Test accuracy of the f32 model.
    pub f32_test_accuracy: f64,
    /// Its mean test cross-entropy.
    pub f32_test_loss: f64,
    /// Mean training loss of each f32 epoch.
    pub f32_train_loss: Vec<f64>,
    /// Median time of an f32 epoch, in ms.
    pub f32_epoch_ms: f64,
    /// PTQ and QAT at each bit width.
    pub per_bits: Vec<BitsFigures>,
    /// What the epoch times measure.
    pub epoch_timing: String,
    /// Wall-clock time of the whole run (training, quantization,
    /// evaluations, cross-checks), in ms.
    pub total_ms: f64,
    /// Fingerprint of the f32-trained parameters' bits.
    pub params_digest: String,
}

impl QatFigures {
    /// The results at `bits`, if compared.
    pub fn at(&self, bits: u32) -> Option<&BitsFigures> {
        self.per_bits.iter().find(|b| b.bits == bits)
    }
}

/// A QAT run's report: `flt qat --json`, the page's raw data.
pub type QatReport = Report<QatFigures>;

/// What a run knows so far, for views that draw it while it trains (and
/// from a finished report).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QatSnapshot {
    /// Classes (chance accuracy is 1/C).
    pub classes: usize,
    /// f32 epochs planned.
    pub epochs: usize,
    /// QAT epochs planned per width.
    pub qat_epochs: usize,
    /// Mean training loss of each f32 epoch so far.
    pub f32_train_loss: Vec<f64>,
    /// Test accuracy of the f32 model, once trained.
    pub f32_test_accuracy: Option<f64>,
    /// Each bit width reached so far, in run order.
    pub bits: Vec<BitsSnapshot>,
}

/// One bit width so far.
#[derive(Debug, Clone, PartialEq)]
pub struct BitsSnapshot {
    /// Bits.
    pub bits: u32,
    /// PTQ test accuracy.
    pub ptq_test_accuracy: f64,
    /// QAT test accuracy, once fine-tuned.
    pub qat_test_accuracy: Option<f64>,
    /// Mean training loss of each QAT epoch so far.
    pub qat_train_loss: Vec<f64>,
}

impl From<&QatFigures> for QatSnapshot {
    fn from(f: &QatFigures) -> QatSnapshot {
        QatSnapshot {
            classes: f.classes,
            epochs: f.epochs,
            qat_epochs: f.qat_epochs,
            f32_train_loss: f.f32_train_loss.clone(),
            f32_test_accuracy: Some(f.f32_test_accuracy),
            bits: f
                .per_bits
                .iter()
                .map(|b| BitsSnapshot {
                    bits: b.bits,
                    ptq_test_accuracy: b.ptq_test_accuracy,
                    qat_test_accuracy: Some(b.qat_test_accuracy),
                    qat_train_loss: b.qat_train_loss.clone(),
                })
                .collect(),
        }
    }
}

/// Receives the run's snapshot whenever it learns something (an epoch's
/// loss, an accuracy).
pub type Observer<'a> = &'a dyn Fn(&QatSnapshot);

/// The QAT lab.
pub struct QatLab;

impl Lab for QatLab {
    type Problem = QatProblem;
    type Figures = QatFigures;
    const FAMILY: &'static str = "quantization";

    fn run<'a>(
        &'a self,
        problem: &'a QatProblem,
        backend: &'a Backend,
        host: &'a dyn Host,
    ) -> LocalFuture<'a, Result<QatReport, RunError>> {
        Box::pin(run(problem, backend, host))
    }
}

/// Where training runs.
enum Engine<'a> {
    Cpu(Trainer),
    Gpu {
        ctx: &'a GpuContext,
        trainer: Box<MlpTrainer>,
    },
}

/// A training phase's losses and epoch times.
struct Phase {
    /// Mean training loss per epoch.
    losses: Vec<f64>,
    /// Timed epochs, ms.
    samples: Vec<f64>,
    timing: Timing,
}

/// Progress bookkeeping: epochs done out of the whole run's.
struct Progress<'a> {
    host: &'a dyn Host,
    done: usize,
    total: usize,
}

impl Progress<'_> {
    fn advance(&mut self, stage: &str, epochs: usize) {
        self.done += epochs;
        self.host.progress(
            stage,
            0.02 + 0.93 * self.done as f64 / self.total.max(1) as f64,
        );
    }
}

impl Engine<'_> {
    fn load(&mut self, params: &[f32]) -> Result<(), RunError> {
        match self {
            Engine::Cpu(t) => t.reset(params),
            Engine::Gpu { ctx, trainer } => trainer.load(ctx, params)?,
        }
        Ok(())
    }

    async fn params(&self) -> Result<Vec<f32>, RunError> {
        Ok(match self {
            Engine::Cpu(t) => t.params.clone(),
            Engine::Gpu { ctx, trainer } => trainer.read_params(ctx).await?,
        })
    }

    /// Trains `epochs` epochs from the loaded parameters (through the fake
    /// quantizer at `bits`), yielding after every epoch (CPU) or chunk (GPU).
    async fn train(
        &mut self,
        task: &Task,
        hyper: &Hyper,
        bits: Option<u32>,
        epochs: usize,
        progress: &mut Progress<'_>,
        on_losses: &mut dyn FnMut(&[f64]),
    ) -> Result<Phase, RunError> {
        let stage = match bits {
            Some(b) => format!("QAT at {b} bits"),
            None => "training in f32".into(),
        };
        let n = task.train.len() as f64;
        match self {
            Engine::Cpu(trainer) => {
                let mut losses = Vec::with_capacity(epochs);
                let mut times = Vec::with_capacity(epochs);
                for _ in 0..epochs {
                    let started = Instant::now();
                    let sum = trainer.epoch(&task.train, bits, hyper);
                    times.push(started.elapsed().as_secs_f64() * 1e3);
                    losses.push(sum as f64 / n);
                    on_losses(&losses);
                    progress.advance(&stage, 1);
                    checkpoint(progress.host).await?;
                }
                // The first epoch of a phase is its warm-up.
                let samples = if times.len() > 1 {
                    times[1..].to_vec()
                } else {
                    times
                };
                Ok(Phase {
                    losses,
                    samples,
                    timing: Timing::WallClock,
                })
            }
            Engine::Gpu { ctx, trainer } => {
                let program = trainer
                    .epoch(
                        ctx,
                        StepOptions {
                            lr: if bits.is_some() {
                                hyper.qat_lr
                            } else {
                                hyper.lr
                            },
                            momentum: hyper.momentum,
                            levels: bits.map(qat::levels),
                            freeze_weights: !hyper.straight_through,
                        },
                    )
                    .await?;
                let mut samples = Vec::new();
                let mut timing = Timing::WallClock;
                let start = trainer.read_history(ctx).await?.len();
                let mut losses = Vec::new();
                for chunk in chunks(epochs, GPU_CHUNK) {
                    let timed = program.run(ctx, (chunk - 1) as u32).await?;
                    samples.extend(timed.samples);
                    timing = timed.timing;
                    let history = trainer.read_history(ctx).await?;
                    losses = history[start.min(history.len())..]
                        .iter()
                        .map(|&s| s as f64 / n)
                        .collect();
                    on_losses(&losses);
                    progress.advance(&stage, chunk);
                    checkpoint(progress.host).await?;
                }
                Ok(Phase {
                    losses,
                    samples,
                    timing,
                })
            }
        }
    }

    /// Test results of the latent parameters, or of their quantization at
    /// `bits`; with the quantized weights used (GPU: as read back).
    async fn evaluate(
        &self,
        task: &Task,
        shape: MlpShape,
        bits: Option<u32>,
    ) -> Result<(Evaluation, Option<Vec<f32>>), RunError> {
        match self {
            Engine::Cpu(t) => Ok(match bits {
                Some(b) => {
                    let q = qat::fake_quantize_params(shape, &t.params, b);
                    (qat::evaluate(shape, &q, &task.test), Some(q))
                }
                None => (qat::evaluate(shape, &t.params, &task.test), None),
            }),
            Engine::Gpu { ctx, trainer } => {
                let quantized = match bits {
                    Some(b) => {
                        trainer
                            .quantize(ctx, qat::levels(b))
                            .await?
                            .run(ctx, 1)
                            .await?;
                        Some(trainer.read_quantized(ctx).await?)
                    }
                    None => None,
                };
                trainer
                    .evaluate(ctx, bits.is_some())
                    .await?
                    .run(ctx, 1)
                    .await?;
                let (correct, losses) = trainer.read_outcomes(ctx).await?;
                Ok((Evaluation::from_examples(&correct, &losses), quantized))
            }
        }
    }
}

/// Splits `epochs` into chunks of `size` (each at least 2: a warm-up epoch
/// and a timed one), a remainder of one joining the last chunk.
pub fn chunks(epochs: usize, size: usize) -> Vec<usize> {
    let size = size.max(2);
    let mut out = vec![size; epochs / size];
    match epochs % size {
        0 => {}
        1 if !out.is_empty() => *out.last_mut().unwrap_or(&mut 0) += 1,
        r => out.push(r),
    }
    out
}

/// The figures known before training.
fn figures(problem: &QatProblem) -> QatFigures {
    let shape = problem.shape();
    let h = &problem.hyper;
    QatFigures {
        seed: problem.seed,
        task: problem.task.describe(),
        inputs: shape.inputs,
        hidden: shape.hidden,
        classes: shape.classes,
        params: shape.params(),
        weights: shape.weights(),
        train_examples: problem.task.train,
        test_examples: problem.task.test,
        batch: h.batch,
        lr: h.lr as f64,
        qat_lr: h.qat_lr as f64,
        momentum: h.momentum as f64,
        epochs: problem.epochs,
        qat_epochs: problem.qat_epochs,
        straight_through: h.straight_through,
        quantizer: "weights only (biases and activations f32): symmetric, per output row, min-max scale s = max|w|/(2^(b-1) - 1), round half to even; QAT: straight-through estimator".into(),
        f32_test_accuracy: 0.0,
        f32_test_loss: 0.0,
        f32_train_loss: Vec::new(),
        f32_epoch_ms: 0.0,
        per_bits: Vec::new(),
        epoch_timing: String::new(),
        total_ms: 0.0,
        params_digest: String::new(),
    }
}

/// The engine for `backend`, with the envelope's backend fields.
async fn engine<'a>(
    problem: &QatProblem,
    task: &Task,
    backend: &'a Backend,
    env: &mut Envelope,
) -> Result<Engine<'a>, RunError> {
    let shape = problem.shape();
    let batch = problem.hyper.batch.min(task.train.len());
    match backend {
        Backend::Gpu(ctx) => {
            let history = problem.epochs + problem.bits.len() * problem.qat_epochs;
            let trainer = MlpTrainer::new(
                ctx,
                MlpDims {
                    inputs: shape.inputs,
                    hidden: shape.hidden,
                    classes: shape.classes,
                },
                batch,
                Examples {
                    features: &task.train.x,
                    labels: &task.train.y,
                },
                Examples {
                    features: &task.test.x,
                    labels: &task.test.y,
                },
                history,
            )
            .await?;
            env.adapter = ctx.adapter_name.clone();
            env.api = ctx.api.clone();
            env.kernel = KernelKind::Mlp;
            env.kernel_variant = "mlp.wgsl: per mini-batch hidden_forward, output_grad, output_backward, grad_hidden_layer, sgd_update (fake_quantize first under QAT), then epoch_end; one thread per output element, sums in the twin's order".into();
            env.memory_bytes = trainer.memory_bytes;
            env.memory_formula = "device buffers: data, parameters, momentum, quantized copy, gradients, batch activations, losses, evaluation".into();
            Ok(Engine::Gpu {
                ctx: ctx.as_ref(),
                trainer: Box::new(trainer),
            })
        }
        Backend::Cpu { reason } => {
            env.notes.extend(
                reason
                    .iter()
                    .map(|r| format!("running on the CPU twin: {r}")),
            );
            env.adapter = "CPU twin, f32".into();
            env.api = "ndarray".into();
            env.kernel = KernelKind::CpuTwin;
            env.kernel_variant =
                "compress::qat: the same loops as mlp.wgsl, one function per kernel".into();
            let p = shape.params();
            env.memory_bytes = 4
                * ((task.train.len() + task.test.len()) * (shape.inputs + 1)
                    + 4 * p
                    + batch * (2 * shape.hidden + shape.classes)
                    + task.train.len()) as u64;
            env.memory_formula =
                "4·[(n + n_test)(d + 1) + 4P + B(2H + C) + n]: data, parameters, momentum, quantized copy, gradients, batch activations, losses".into();
            Ok(Engine::Cpu(Trainer::new(
                shape,
                qat::initial_params(shape, problem.seed),
                batch,
                task.train.len(),
            )))
        }
    }
}

/// Runs `problem` on `backend`.
pub async fn run(
    problem: &QatProblem,
    backend: &Backend,
    host: &dyn Host,
) -> Result<QatReport, RunError> {
    run_observed(problem, backend, host, &|_| {}).await
}

/// Runs `problem` on `backend`, showing `observe` what it knows after every
/// epoch (CPU twin) or submission of epochs (GPU) and every evaluation.
pub async fn run_observed(
    problem: &QatProblem,
    backend: &Backend,
    host: &dyn Host,
    observe: Observer<'_>,
) -> Result<QatReport, RunError> {
    problem.validate()?;
    let started = Instant::now();
    let shape = problem.shape();
    let hyper = &problem.hyper;
    host.progress("generating the task", 0.0);
    let task = problem.task.generate(problem.seed);
    checkpoint(host).await?;
    let mut env = Envelope::new(
        QatLab::FAMILY,
        "qat",
        "QAT against PTQ (2-layer MLP)",
        backend.key(),
    );
    let mut fig = figures(problem);
    let mut engine = engine(problem, &task, backend, &mut env).await?;
    let mut progress = Progress {
        host,
        done: 0,
        total: problem.epochs + problem.bits.len() * problem.qat_epochs,
    };

    let snapshot = std::cell::RefCell::new(QatSnapshot {
        classes: shape.classes,
        epochs: problem.epochs,
        qat_epochs: problem.qat_epochs,
        ..QatSnapshot::default()
    });
    let show = |change: &dyn Fn(&mut QatSnapshot)| {
        change(&mut snapshot.borrow_mut());
        observe(&snapshot.borrow());
    };

    // Act 1: f32 training.
    let initial = qat::initial_params(shape, problem.seed);
    engine.load(&initial)?;
    let phase = engine
        .train(
            &task,
            hyper,
            None,
            problem.epochs,
            &mut progress,
            &mut |l| show(&|s| s.f32_train_loss = l.to_vec()),
        )
        .await?;
    check_losses(&phase.losses, "f32 training")?;
    let trained = engine.params().await?;
    let (f32_eval, _) = engine.evaluate(&task, shape, None).await?;
    fig.f32_test_accuracy = f32_eval.accuracy();
    fig.f32_test_loss = f32_eval.loss;
    show(&|s| s.f32_test_accuracy = Some(f32_eval.accuracy()));
    fig.f32_train_loss = phase.losses;
    fig.f32_epoch_ms = median(&phase.samples);
    fig.params_digest = qat::digest(&trained);
    let timing = phase.timing;
    let n = task.train.len();
    let (flops, bytes) = qat::epoch_cost(shape, n, hyper.batch, false);
    env.executed(flops, bytes);
    let (flops, bytes) = qat::epoch_needs(shape, n, hyper.batch, false);
    env.needed(flops, bytes);
    env.timed(phase.samples, timing);
    if let Engine::Gpu { .. } = engine {
        cross_check_f32(&engine, &task, shape, &trained, &mut env).await?;
    }

    // Acts 2 and 3, per bit width: PTQ of the trained weights, then QAT
    // from them.
    for &bits in &problem.bits {
        checkpoint(host).await?;
        engine.load(&trained)?;
        let (ptq, quantized) = engine.evaluate(&task, shape, Some(bits)).await?;
        cross_check_quantized(&mut env, bits, "ptq", &trained, quantized.as_deref(), shape);
        show(&|s| {
            s.bits.push(BitsSnapshot {
                bits,
                ptq_test_accuracy: ptq.accuracy(),
                qat_test_accuracy: None,
                qat_train_loss: Vec::new(),
            })
        });
        let phase = engine
            .train(
                &task,
                hyper,
                Some(bits),
                problem.qat_epochs,
                &mut progress,
                &mut |l| {
                    show(&|s| {
                        if let Some(b) = s.bits.last_mut() {
                            b.qat_train_loss = l.to_vec();
                        }
                    })
                },
            )
            .await?;
        check_losses(&phase.losses, &format!("QAT at {bits} bits"))?;
        let latent = engine.params().await?;
        let (qat_eval, quantized) = engine.evaluate(&task, shape, Some(bits)).await?;
        cross_check_quantized(&mut env, bits, "qat", &latent, quantized.as_deref(), shape);
        show(&|s| {
            if let Some(b) = s.bits.last_mut() {
                b.qat_test_accuracy = Some(qat_eval.accuracy());
            }
        });
        let (_, bytes) = qat::epoch_cost(shape, n, hyper.batch, true);
        let qat_ms = median(&phase.samples);
        env.stages.push(Stage {
            name: format!("QAT epoch at {bits} bits (fake quantization every step)"),
            time_ms: qat_ms,
            time_ms_samples: phase.samples,
            timing: phase.timing,
            bytes: bytes.value,
            memory_bytes: env.memory_bytes,
        });
        fig.per_bits.push(BitsFigures {
            bits,
            levels: qat::levels(bits),
            ptq_test_accuracy: ptq.accuracy(),
            ptq_test_loss: ptq.loss,
            qat_test_accuracy: qat_eval.accuracy(),
            qat_test_loss: qat_eval.loss,
            qat_train_loss: phase.losses,
            qat_epoch_ms: qat_ms,
        });
    }
    fig.epoch_timing = match (&engine, timing) {
        (Engine::Gpu { .. }, Timing::GpuTimestamp) => format!(
            "GPU timestamps spanning every pass of an epoch; epochs go {GPU_CHUNK} per submission, the first of each untimed (warm-up)"
        ),
        (Engine::Gpu { .. }, Timing::WallClock) => format!(
            "wall clock from submission to completion of an epoch (no timestamp queries); epochs go {GPU_CHUNK} per submission, the first of each untimed (warm-up)"
        ),
        (Engine::Cpu(_), _) => {
            "CPU twin: wall clock of each epoch, the first of each phase excluded (warm-up)".into()
        }
    };
    env.notes.push(format!(
        "Test accuracy on {} held-out examples; f32 {:.1}%.",
        task.test.len(),
        100.0 * fig.f32_test_accuracy
    ));
    fig.total_ms = started.elapsed().as_secs_f64() * 1e3;
    check_figures(&fig, &env)?;
    host.progress("done", 1.0);
    Ok(Report {
        envelope: env,
        figures: fig,
        artifacts: Artifacts::new(),
    })
}

/// The GPU's f32-trained model evaluated by the twin: the largest
/// per-example test-loss difference (`gpu_cpu_max_abs_err`) and the
/// difference of test accuracy (`cross_checks`).
async fn cross_check_f32(
    engine: &Engine<'_>,
    task: &Task,
    shape: MlpShape,
    trained: &[f32],
    env: &mut Envelope,
) -> Result<(), RunError> {
    let Engine::Gpu { ctx, trainer } = engine else {
        return Ok(());
    };
    let (gpu_correct, gpu_losses) = trainer.read_outcomes(ctx).await?;
    let (twin_correct, twin_losses) = qat::evaluate_examples(shape, trained, &task.test);
    let diff = gpu_losses
        .iter()
        .zip(&twin_losses)
        .map(|(a, b)| (a - b).abs() as f64)
        .fold(0.0, f64::max);
    env.gpu_cpu_max_abs_err = Some(diff);
    env.cross_checks
        .insert("f32 test loss per example (GPU vs twin)".into(), diff);
    let twin = Evaluation::from_examples(&twin_correct, &twin_losses);
    let gpu = Evaluation::from_examples(&gpu_correct, &gpu_losses);
    env.cross_checks.insert(
        "f32 test accuracy (GPU vs twin)".into(),
        (gpu.accuracy() - twin.accuracy()).abs(),
    );
    Ok(())
}

/// The GPU's quantized weights against the twin's quantization of the same
/// latent parameters: the largest difference (0: bit-identical).
fn cross_check_quantized(
    env: &mut Envelope,
    bits: u32,
    when: &str,
    latent: &[f32],
    gpu: Option<&[f32]>,
    shape: MlpShape,
) {
    let Some(gpu) = gpu else { return };
    if env.backend != "gpu" {
        return;
    }
    let twin = qat::fake_quantize_params(shape, latent, bits);
    let differing = gpu
        .iter()
        .zip(&twin)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    env.cross_checks.insert(
        format!("{when} {bits}-bit weights differing in bits (GPU vs twin)"),
        differing as f64,
    );
}

/// Refuses a training whose loss is not finite.
fn check_losses(losses: &[f64], what: &str) -> Result<(), RunError> {
    match losses.iter().position(|l| !l.is_finite()) {
        Some(epoch) => Err(RunError::NotFinite(format!(
            "{what} loss at epoch {} (training diverged)",
            epoch + 1
        ))),
        None => Ok(()),
    }
}

/// Refuses figures that are not finite: never shown.
fn check_figures(fig: &QatFigures, env: &Envelope) -> Result<(), RunError> {
    let mut all = vec![
        fig.f32_test_accuracy,
        fig.f32_test_loss,
        fig.f32_epoch_ms,
        env.time_ms,
        env.gflops,
        env.gpu_cpu_max_abs_err.unwrap_or(0.0),
    ];
    for b in &fig.per_bits {
        all.extend([
            b.ptq_test_accuracy,
            b.ptq_test_loss,
            b.qat_test_accuracy,
            b.qat_test_loss,
            b.qat_epoch_ms,
        ]);
    }
    if all.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(RunError::NotFinite(
            "accuracy, loss or timing figures".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_epochs_with_at_least_two_each() {
        assert_eq!(chunks(20, 5), vec![5, 5, 5, 5]);
        assert_eq!(chunks(11, 5), vec![5, 6]);
        assert_eq!(chunks(12, 5), vec![5, 5, 2]);
        assert_eq!(chunks(3, 5), vec![3]);
        assert_eq!(chunks(2, 5), vec![2]);
        for e in 2..40 {
            let c = chunks(e, GPU_CHUNK);
            assert_eq!(c.iter().sum::<usize>(), e);
            assert!(c.iter().all(|&k| k >= 2));
        }
    }
}

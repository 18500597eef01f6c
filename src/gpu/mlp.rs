//! Host side of `mlp.wgsl`: a 2-layer MLP (d → H ReLU → C, softmax
//! cross-entropy) trained on the GPU with mini-batch SGD and momentum,
//! optionally through per-row symmetric fake quantization with the
//! straight-through estimator, and evaluated. The kernels know shapes and
//! buffers, not the experiment (`compress::qat` is the CPU twin,
//! `pipeline::qat` the lab).
//!
//! prepare → record → read: [`MlpTrainer::new`] checks the limits and
//! uploads the data and buffers once; [`MlpTrainer::epoch`] records one
//! epoch — per mini-batch `fake_quantize` (QAT), `hidden_forward`,
//! `output_grad`, `output_backward` (∂L/∂W₂ and δh, independent, in one
//! dispatch), `grad_hidden_layer`, `sgd_update`, then `epoch_end` — as the
//! timed passes
//! of a [`Program`]. A program replays its passes, so
//! `program.run(ctx, k − 1)` trains k epochs: the first untimed (the
//! warm-up), each of the others timed (GPU timestamps spanning the epoch's
//! passes where the adapter has them). The epoch's loss sum lands in the
//! next slot of a history buffer (a counter on the GPU says which), read
//! back with [`MlpTrainer::read_history`].
//!
//! The fake quantizer is bit-identical to the twin's: max, round half to
//! even (WGSL's `round`) and multiplication are exact in IEEE f32, and the
//! two divisions s = max/L and w/s use an integer long division of the
//! significands (base 2⁸, three u32 divisions), correctly rounded, because
//! WGSL's `/` may be 2.5 ulp off. One thread quantizes one row (rows are
//! short: d or H ≤ 128): a first version with a 64-thread reduction per
//! row, barriers and a bit-by-bit division made a QAT epoch 2.3× an f32
//! epoch on SwiftShader; this one costs about as much as another pass.

use bytemuck::{Pod, Zeroable};

use super::bindings::{Binding, Kernel, Module};
use super::buffers::{self, scoped};
use super::program::{Pass, Program};
use super::{GpuContext, GpuError};

const MODULE: Module = Module {
    name: "mlp",
    source: || include_wgsl!("mlp.wgsl"),
    text: wgsl!("mlp.wgsl"),
};
const P: Binding = Binding::uniform("p", 0);
const FEATURES: Binding = Binding::read("features", 1);
const LABELS: Binding = Binding::read("labels", 2);
const W: Binding = Binding::read("w", 3);
const HID: Binding = Binding::write("hid", 4);
const DZ: Binding = Binding::write("dz", 5);
const DH: Binding = Binding::write("dh", 6);
const GRADS: Binding = Binding::write("grads", 7);
const PARAMS: Binding = Binding::write("params", 8);
const VELOCITY: Binding = Binding::write("velocity", 9);
const LOSSES: Binding = Binding::write("losses", 10);
const LATENT: Binding = Binding::read("latent", 11);
const QUANTIZED: Binding = Binding::write("quantized", 12);
const HISTORY: Binding = Binding::write("history", 13);
const COUNTER: Binding = Binding::write("counter", 14);
const OUTCOME: Binding = Binding::write("outcome", 15);

const fn op(entry: &'static str, bindings: &'static [Binding]) -> Kernel {
    Kernel {
        module: MODULE,
        entry,
        bindings,
    }
}

/// h = ReLU(x·Ŵ₁ᵀ + b₁).
pub const HIDDEN_FORWARD: Kernel = op("hidden_forward", &[P, FEATURES, W, HID]);
/// Per-example loss and δz = (softmax(z) − onehot(y))/B.
pub const OUTPUT_GRAD: Kernel = op("output_grad", &[P, LABELS, W, HID, DZ, LOSSES]);
/// ∂L/∂W₂ = δzᵀ·h, ∂L/∂b₂ = Σ δz and δh = (δz·Ŵ₂) ⊙ 1[h > 0], in one
/// dispatch (both need only δz).
pub const OUTPUT_BACKWARD: Kernel = op("output_backward", &[P, W, HID, DZ, DH, GRADS]);
/// ∂L/∂W₁ = δhᵀ·x, ∂L/∂b₁ = Σ δh.
pub const GRAD_HIDDEN_LAYER: Kernel = op("grad_hidden_layer", &[P, FEATURES, DH, GRADS]);
/// v ← μv + g, θ ← θ − ηv.
pub const SGD_UPDATE: Kernel = op("sgd_update", &[P, GRADS, PARAMS, VELOCITY]);
/// Per-row symmetric min-max fake quantization (biases copied).
pub const FAKE_QUANTIZE: Kernel = op("fake_quantize", &[P, LATENT, QUANTIZED]);
/// The epoch's Σ loss into the next history slot.
pub const EPOCH_END: Kernel = op("epoch_end", &[P, LOSSES, HISTORY, COUNTER]);
/// (correct, loss) per example after `hidden_forward`.
pub const PREDICT: Kernel = op("predict", &[P, LABELS, W, HID, OUTCOME]);

/// The kernels of this file, for `tests/kernels.rs`.
pub const KERNELS: &[Kernel] = &[
    HIDDEN_FORWARD,
    OUTPUT_GRAD,
    OUTPUT_BACKWARD,
    GRAD_HIDDEN_LAYER,
    SGD_UPDATE,
    FAKE_QUANTIZE,
    EPOCH_END,
    PREDICT,
];

/// Largest number of classes (`MAX_CLASSES` in the shader: the logits a
/// thread keeps).
pub const MAX_CLASSES: usize = 32;
/// Threads per workgroup of every 1-D kernel.
const WORKGROUP: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, Default)]
struct StepParams {
    inputs: u32,
    hidden: u32,
    classes: u32,
    count: u32,
    offset: u32,
    levels: u32,
    total: u32,
    examples: u32,
    lr: f32,
    momentum: f32,
    inv_batch: f32,
    freeze: u32,
}

/// The widths of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MlpDims {
    /// Input features d.
    pub inputs: usize,
    /// Hidden units H.
    pub hidden: usize,
    /// Classes C.
    pub classes: usize,
}

impl MlpDims {
    /// Parameters P = H·d + H + C·H + C (layout W₁ | b₁ | W₂ | b₂).
    pub fn params(&self) -> usize {
        self.hidden * self.inputs + self.hidden + self.classes * self.hidden + self.classes
    }
}

/// Labelled examples on the host: features row-major (n × d), labels.
#[derive(Debug, Clone, Copy)]
pub struct Examples<'a> {
    /// n × d features.
    pub features: &'a [f32],
    /// n labels in `0..C`.
    pub labels: &'a [u32],
}

/// How an epoch trains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepOptions {
    /// Learning rate η.
    pub lr: f32,
    /// Momentum μ.
    pub momentum: f32,
    /// `Some(L)`: fake-quantize the weights to levels −L..=L every step
    /// (L = 2^{b−1} − 1) and pass the gradient straight through.
    pub levels: Option<u32>,
    /// Weights get no update (QAT without the straight-through estimator,
    /// for the tests' power checks).
    pub freeze_weights: bool,
}

/// Workgroups for `threads` threads of a 64-wide kernel, as (x, y) with
/// x·y·64 ≥ threads (the shader's flat index is x + y·groups.x·64).
fn groups_for(threads: usize) -> (u32, u32) {
    let groups = (threads.max(1) as u32).div_ceil(WORKGROUP);
    let x = groups.min(32768);
    (x, groups.div_ceil(x))
}

/// The GPU side of training: data, parameters and every buffer a step
/// needs, allocated once.
pub struct MlpTrainer {
    /// The widths.
    pub dims: MlpDims,
    /// Largest mini-batch.
    pub batch: usize,
    train_n: usize,
    eval_n: usize,
    history_len: usize,
    train_x: wgpu::Buffer,
    train_y: wgpu::Buffer,
    eval_x: wgpu::Buffer,
    eval_y: wgpu::Buffer,
    params: wgpu::Buffer,
    velocity: wgpu::Buffer,
    quantized: wgpu::Buffer,
    grads: wgpu::Buffer,
    hid: wgpu::Buffer,
    dz: wgpu::Buffer,
    dh: wgpu::Buffer,
    losses: wgpu::Buffer,
    history: wgpu::Buffer,
    counter: wgpu::Buffer,
    eval_hid: wgpu::Buffer,
    outcome: wgpu::Buffer,
    /// Bytes of device memory its buffers occupy.
    pub memory_bytes: u64,
}

/// Checks that `examples` holds n × d features and n labels below C.
fn check_examples(what: &str, dims: MlpDims, e: Examples<'_>) -> Result<usize, GpuError> {
    let n = e.labels.len();
    let bad = |message: String| GpuError::Device {
        stage: format!("uploading the {what} set"),
        message,
    };
    if n == 0 || e.features.len() != n * dims.inputs {
        return Err(bad(format!(
            "{} features for {n} labels of width {}",
            e.features.len(),
            dims.inputs
        )));
    }
    if let Some(l) = e.labels.iter().find(|&&l| l as usize >= dims.classes) {
        return Err(bad(format!("label {l} with {} classes", dims.classes)));
    }
    Ok(n)
}

impl MlpTrainer {
    /// Uploads the training and evaluation sets and allocates every buffer
    /// (sizes checked against the adapter's limits first) for mini-batches
    /// of up to `batch` examples and `history_len` epochs.
    pub async fn new(
        ctx: &GpuContext,
        dims: MlpDims,
        batch: usize,
        train: Examples<'_>,
        eval: Examples<'_>,
        history_len: usize,
    ) -> Result<MlpTrainer, GpuError> {
        if dims.classes > MAX_CLASSES {
            return Err(GpuError::TooLarge {
                what: "the MLP's output layer".into(),
                needs: dims.classes as u64,
                unit: "classes",
                limit_name: "MAX_CLASSES of mlp.wgsl",
                limit: MAX_CLASSES as u64,
            });
        }
        if dims.inputs == 0 || dims.hidden == 0 || dims.classes == 0 || batch == 0 {
            return Err(GpuError::Device {
                stage: "preparing the MLP".into(),
                message: format!("empty shape {dims:?}, batch {batch}"),
            });
        }
        let train_n = check_examples("training", dims, train)?;
        let eval_n = check_examples("evaluation", dims, eval)?;
        let batch = batch.min(train_n);
        let p = dims.params();
        let sizes = [
            ("mlp.hidden", batch * dims.hidden),
            ("mlp.eval_hidden", eval_n * dims.hidden),
            ("mlp.outcome", 2 * eval_n),
        ];
        for (what, len) in sizes {
            buffers::check_storage(ctx, what, (len * 4) as u64)?;
        }
        let history_len = history_len.max(1);
        let trainer = scoped(ctx, "uploading the MLP's data and buffers", || {
            Ok(MlpTrainer {
                dims,
                batch,
                train_n,
                eval_n,
                history_len,
                train_x: buffers::upload(ctx, "mlp.train_x", train.features)?,
                train_y: buffers::upload_u32(ctx, "mlp.train_y", train.labels)?,
                eval_x: buffers::upload(ctx, "mlp.eval_x", eval.features)?,
                eval_y: buffers::upload_u32(ctx, "mlp.eval_y", eval.labels)?,
                params: buffers::storage(ctx, "mlp.params", p)?,
                velocity: buffers::storage(ctx, "mlp.velocity", p)?,
                quantized: buffers::storage(ctx, "mlp.quantized", p)?,
                grads: buffers::storage(ctx, "mlp.grads", p)?,
                hid: buffers::storage(ctx, "mlp.hidden", batch * dims.hidden)?,
                dz: buffers::storage(ctx, "mlp.dz", batch * dims.classes)?,
                dh: buffers::storage(ctx, "mlp.dh", batch * dims.hidden)?,
                losses: buffers::storage(ctx, "mlp.losses", train_n)?,
                history: buffers::storage(ctx, "mlp.history", history_len)?,
                counter: buffers::storage(ctx, "mlp.counter", 1)?,
                eval_hid: buffers::storage(ctx, "mlp.eval_hidden", eval_n * dims.hidden)?,
                outcome: buffers::storage(ctx, "mlp.outcome", 2 * eval_n)?,
                memory_bytes: 4
                    * ((train_n + eval_n) * (dims.inputs + 1)
                        + 4 * p
                        + batch * (2 * dims.hidden + dims.classes)
                        + train_n
                        + history_len
                        + 1
                        + eval_n * (dims.hidden + 2)) as u64,
            })
        })
        .await?;
        Ok(trainer)
    }

    /// Examples in the training set.
    pub fn train_len(&self) -> usize {
        self.train_n
    }

    /// Epochs the history buffer holds.
    pub fn history_len(&self) -> usize {
        self.history_len
    }

    /// Sets the latent parameters to `params` and the momentum to zero (the
    /// start of a training phase).
    pub fn load(&self, ctx: &GpuContext, params: &[f32]) -> Result<(), GpuError> {
        let p = self.dims.params();
        if params.len() != p {
            return Err(GpuError::Device {
                stage: "loading the MLP's parameters".into(),
                message: format!("{} values for {p} parameters", params.len()),
            });
        }
        ctx.queue
            .write_buffer(&self.params, 0, bytemuck::cast_slice(params));
        ctx.queue
            .write_buffer(&self.velocity, 0, bytemuck::cast_slice(&vec![0f32; p]));
        Ok(())
    }

    fn step_params(&self, offset: usize, count: usize) -> StepParams {
        StepParams {
            inputs: self.dims.inputs as u32,
            hidden: self.dims.hidden as u32,
            classes: self.dims.classes as u32,
            count: count as u32,
            offset: offset as u32,
            total: self.dims.params() as u32,
            examples: self.train_n as u32,
            inv_batch: 1.0 / count.max(1) as f32,
            ..Default::default()
        }
    }

    /// Records forward and backward of training examples `offset..offset +
    /// count` (fake-quantizing first when `levels` is given): ∂L/∂θ lands in
    /// the gradient buffer. Every pass only reads θ, so replays are
    /// idempotent.
    async fn record_gradient(
        &self,
        ctx: &GpuContext,
        program: &mut Program,
        params: &StepParams,
        uniform: &wgpu::Buffer,
        levels: Option<u32>,
    ) -> Result<(), GpuError> {
        let d = &self.dims;
        let (count, label) = (params.count as usize, format!("batch@{}", params.offset));
        let weights = match levels {
            Some(_) => {
                let pass = Pass::build(
                    ctx,
                    &FAKE_QUANTIZE,
                    &[],
                    &[
                        ("p", uniform),
                        ("latent", &self.params),
                        ("quantized", &self.quantized),
                    ],
                    groups_for(d.hidden + d.classes + 1),
                )
                .await?;
                program.time(pass.named(&label));
                &self.quantized
            }
            None => &self.params,
        };
        let named: [(&str, &wgpu::Buffer); 9] = [
            ("p", uniform),
            ("features", &self.train_x),
            ("labels", &self.train_y),
            ("w", weights),
            ("hid", &self.hid),
            ("dz", &self.dz),
            ("dh", &self.dh),
            ("grads", &self.grads),
            ("losses", &self.losses),
        ];
        let steps: [(&Kernel, usize); 4] = [
            (&HIDDEN_FORWARD, count * d.hidden),
            (&OUTPUT_GRAD, count),
            (
                &OUTPUT_BACKWARD,
                d.classes * (d.hidden + 1) + count * d.hidden,
            ),
            (&GRAD_HIDDEN_LAYER, d.hidden * (d.inputs + 1)),
        ];
        for (kernel, threads) in steps {
            let pass = Pass::build(ctx, kernel, &[], &named, groups_for(threads)).await?;
            program.time(pass.named(&label));
        }
        Ok(())
    }

    /// One training epoch over the fixed mini-batches, as timed passes:
    /// per batch the gradient (through the fake quantizer when
    /// `options.levels` is given) and the SGD update of the latent
    /// parameters; then the epoch's loss sum into the history.
    pub async fn epoch(&self, ctx: &GpuContext, options: StepOptions) -> Result<Program, GpuError> {
        let mut program = Program::new(match options.levels {
            Some(l) => format!("mlp epoch (fake quantization to ±{l})"),
            None => "mlp epoch (f32)".into(),
        });
        let mut offset = 0;
        while offset < self.train_n {
            let count = self.batch.min(self.train_n - offset);
            let mut params = self.step_params(offset, count);
            params.levels = options.levels.unwrap_or(0);
            params.lr = options.lr;
            params.momentum = options.momentum;
            params.freeze = (options.freeze_weights && options.levels.is_some()) as u32;
            let uniform = buffers::uniform(ctx, &format!("mlp.batch@{offset}"), &params);
            self.record_gradient(ctx, &mut program, &params, &uniform, options.levels)
                .await?;
            let pass = Pass::build(
                ctx,
                &SGD_UPDATE,
                &[],
                &[
                    ("p", &uniform),
                    ("grads", &self.grads),
                    ("params", &self.params),
                    ("velocity", &self.velocity),
                ],
                groups_for(self.dims.params()),
            )
            .await?;
            program.time(pass);
            offset += count;
        }
        let uniform = buffers::uniform(ctx, "mlp.epoch_end", &self.step_params(0, 0));
        let pass = Pass::build(
            ctx,
            &EPOCH_END,
            &[],
            &[
                ("p", &uniform),
                ("losses", &self.losses),
                ("history", &self.history),
                ("counter", &self.counter),
            ],
            (1, 1),
        )
        .await?;
        program.time(pass);
        program.memory_bytes = self.memory_bytes;
        Ok(program)
    }

    /// Forward and backward of training examples `offset..offset + count`
    /// without an update (idempotent): ∂L/∂θ of their mean loss, read with
    /// [`MlpTrainer::read_grads`].
    pub async fn gradient(
        &self,
        ctx: &GpuContext,
        offset: usize,
        count: usize,
        levels: Option<u32>,
    ) -> Result<Program, GpuError> {
        if count == 0 || count > self.batch || offset + count > self.train_n {
            return Err(GpuError::Device {
                stage: "mlp gradient".into(),
                message: format!(
                    "examples {offset}..{} with batches of {} over {}",
                    offset + count,
                    self.batch,
                    self.train_n
                ),
            });
        }
        let mut program = Program::new("mlp gradient");
        let mut params = self.step_params(offset, count);
        params.levels = levels.unwrap_or(0);
        let uniform = buffers::uniform(ctx, "mlp.gradient", &params);
        self.record_gradient(ctx, &mut program, &params, &uniform, levels)
            .await?;
        Ok(program)
    }

    /// The quantized copy of the latent parameters: weights fake-quantized
    /// per row to levels −L..=L, biases copied.
    pub async fn quantize(&self, ctx: &GpuContext, levels: u32) -> Result<Program, GpuError> {
        let mut params = self.step_params(0, 0);
        params.levels = levels;
        let uniform = buffers::uniform(ctx, "mlp.quantize", &params);
        let mut program = Program::new(format!("mlp fake quantization to ±{levels}"));
        let d = &self.dims;
        let pass = Pass::build(
            ctx,
            &FAKE_QUANTIZE,
            &[],
            &[
                ("p", &uniform),
                ("latent", &self.params),
                ("quantized", &self.quantized),
            ],
            groups_for(d.hidden + d.classes + 1),
        )
        .await?;
        program.time(pass);
        Ok(program)
    }

    /// Evaluation of the latent parameters, or of their quantized copy, on
    /// the evaluation set: (correct, loss) per example, read with
    /// [`MlpTrainer::read_outcomes`].
    pub async fn evaluate(&self, ctx: &GpuContext, quantized: bool) -> Result<Program, GpuError> {
        let params = self.step_params(0, self.eval_n);
        let uniform = buffers::uniform(ctx, "mlp.evaluate", &params);
        let weights = if quantized {
            &self.quantized
        } else {
            &self.params
        };
        let named: [(&str, &wgpu::Buffer); 6] = [
            ("p", &uniform),
            ("features", &self.eval_x),
            ("labels", &self.eval_y),
            ("w", weights),
            ("hid", &self.eval_hid),
            ("outcome", &self.outcome),
        ];
        let mut program = Program::new("mlp evaluation");
        let hidden = Pass::build(
            ctx,
            &HIDDEN_FORWARD,
            &[],
            &named,
            groups_for(self.eval_n * self.dims.hidden),
        )
        .await?;
        program.time(hidden);
        let predict = Pass::build(ctx, &PREDICT, &[], &named, groups_for(self.eval_n)).await?;
        program.time(predict);
        Ok(program)
    }

    /// The latent parameters θ.
    pub async fn read_params(&self, ctx: &GpuContext) -> Result<Vec<f32>, GpuError> {
        buffers::read_f32(ctx, &self.params, self.dims.params()).await
    }

    /// The quantized copy (after a QAT step or [`MlpTrainer::quantize`]).
    pub async fn read_quantized(&self, ctx: &GpuContext) -> Result<Vec<f32>, GpuError> {
        buffers::read_f32(ctx, &self.quantized, self.dims.params()).await
    }

    /// ∂L/∂θ of the last batch.
    pub async fn read_grads(&self, ctx: &GpuContext) -> Result<Vec<f32>, GpuError> {
        buffers::read_f32(ctx, &self.grads, self.dims.params()).await
    }

    /// The loss sum of every epoch trained so far, in order.
    pub async fn read_history(&self, ctx: &GpuContext) -> Result<Vec<f32>, GpuError> {
        let done = buffers::read_u32(ctx, &self.counter, 1).await?[0] as usize;
        if done > self.history_len {
            return Err(GpuError::Readback(format!(
                "{done} epochs trained, the history holds {}",
                self.history_len
            )));
        }
        buffers::read_f32(ctx, &self.history, done.max(1))
            .await
            .map(|mut v| {
                v.truncate(done);
                v
            })
    }

    /// Per example of the evaluation set: (1 if correct else 0, loss).
    pub async fn read_outcomes(&self, ctx: &GpuContext) -> Result<(Vec<f32>, Vec<f32>), GpuError> {
        let both = buffers::read_f32(ctx, &self.outcome, 2 * self.eval_n).await?;
        Ok(both.chunks(2).map(|c| (c[0], c[1])).unzip())
    }
}

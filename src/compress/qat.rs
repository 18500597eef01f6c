//! QAT against PTQ (survey §"Quantization", "Two Main Approaches"): a
//! 2-layer MLP trained in f32 on a seeded classification task, quantized
//! after training (PTQ), and fine-tuned with fake quantization and the
//! straight-through estimator (QAT, Jacob et al. 2018, "Quantization and
//! Training of Neural Networks for Efficient Integer-Arithmetic-Only
//! Inference", §3).
//!
//! The model, with weights stored as PyTorch's `Linear` does (out × in):
//!
//! ```text
//! h = ReLU(x·Ŵ₁ᵀ + b₁)        x ∈ ℝ^d, Ŵ₁ ∈ ℝ^{H×d}
//! z = h·Ŵ₂ᵀ + b₂             Ŵ₂ ∈ ℝ^{C×H}
//! L = −log softmax(z)_y      (mean over the batch)
//! ```
//!
//! where Ŵ = W in f32 training and Ŵ = FQ_b(W) under QAT. The fake quantizer
//! is the survey's symmetric scheme Q(x) = round(x/s), x̂ = s·Q(x) (z = 0),
//! per output row (per channel), min-max scaled:
//!
//! ```text
//! s_r = max_j |W_rj| / (2^{b−1} − 1)
//! Ŵ_rj = s_r · clamp(round_half_even(W_rj / s_r), −(2^{b−1} − 1), 2^{b−1} − 1)
//! ```
//!
//! (a row whose max |W| is zero — or subnormal, which WGSL may flush — is
//! exactly zero). Every operation is IEEE f32 (division, round half to even,
//! multiplication), so the GPU kernel (`gpu/mlp.wgsl`, with a correctly
//! rounded integer division because WGSL's `/` is only accurate to 2.5 ulp)
//! gives the same bits.
//!
//! The backward pass is written by hand: with δz = (softmax(z) − onehot(y))/B,
//!
//! ```text
//! ∂L/∂W₂ = δzᵀ·h     ∂L/∂b₂ = Σ_batch δz
//! δh     = (δz·Ŵ₂) ⊙ 1[h > 0]
//! ∂L/∂W₁ = δhᵀ·x     ∂L/∂b₁ = Σ_batch δh
//! ```
//!
//! Under QAT the straight-through estimator treats FQ as the identity in the
//! backward pass (∂Ŵ/∂W = 1): the gradient computed with the quantized
//! weights updates the latent f32 weights. With min-max scales no weight is
//! ever outside the range, so the clipped STE (zero gradient outside
//! [−s·L, s·L]) and the plain STE coincide; s is recomputed from the latent
//! weights every step and receives no gradient (as in Jacob et al., unlike
//! LSQ). Biases and activations stay in f32: this is weight-only QAT, the
//! setting of weight-only PTQ that the rest of the lab measures.
//!
//! The optimiser is mini-batch SGD with momentum (v ← μv + g, W ← W − ηv, as
//! PyTorch's `SGD`), over fixed consecutive batches of the training set
//! (its examples are drawn i.i.d., so there is no order to shuffle away).
//!
//! Every loop sums in a fixed order in f32 and transcendental functions come
//! from `libm`, so the native CLI and the WebAssembly page produce the same
//! bits for the same seed; [`reference_loss`] recomputes the loss in f64 for
//! the gradient check.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::data::count::Counted;
use crate::inputs::{GaussianStream, derive_seed};

/// The widths of a 2-layer MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MlpShape {
    /// Input features d.
    pub inputs: usize,
    /// Hidden ReLU units H.
    pub hidden: usize,
    /// Classes C.
    pub classes: usize,
}

impl MlpShape {
    /// W₁ (H × d, row-major) in the flat parameter vector.
    pub fn w1(&self) -> Range<usize> {
        0..self.hidden * self.inputs
    }

    /// b₁ (H).
    pub fn b1(&self) -> Range<usize> {
        let start = self.w1().end;
        start..start + self.hidden
    }

    /// W₂ (C × H, row-major).
    pub fn w2(&self) -> Range<usize> {
        let start = self.b1().end;
        start..start + self.classes * self.hidden
    }

    /// b₂ (C).
    pub fn b2(&self) -> Range<usize> {
        let start = self.w2().end;
        start..start + self.classes
    }

    /// Parameters: H·d + H + C·H + C.
    pub fn params(&self) -> usize {
        self.b2().end
    }

    /// The weight matrices the quantizer sees, as (offset, rows, columns).
    pub fn matrices(&self) -> [(usize, usize, usize); 2] {
        [
            (self.w1().start, self.hidden, self.inputs),
            (self.w2().start, self.classes, self.hidden),
        ]
    }

    /// Weights (quantized entries): H·d + C·H.
    pub fn weights(&self) -> usize {
        self.hidden * self.inputs + self.classes * self.hidden
    }
}

// ---------------------------------------------------------------------------
// The task
// ---------------------------------------------------------------------------

/// A labelled set: `x` is n × d row-major, `y` the classes.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Features, row-major.
    pub x: Vec<f32>,
    /// Labels in `0..classes`.
    pub y: Vec<u32>,
    /// Features per example.
    pub inputs: usize,
}

impl Dataset {
    /// Examples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether it has no example.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
}

/// The seeded task's sizes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Input features d.
    pub inputs: usize,
    /// Classes C.
    pub classes: usize,
    /// Gaussian clusters per class.
    pub clusters_per_class: usize,
    /// Standard deviation of the cluster centres (the noise has 1).
    pub spread: f64,
    /// Training examples.
    pub train: usize,
    /// Held-out test examples.
    pub test: usize,
}

impl Default for TaskSpec {
    fn default() -> TaskSpec {
        TaskSpec {
            inputs: 24,
            classes: 6,
            clusters_per_class: 3,
            spread: 1.2,
            train: 2048,
            test: 2048,
        }
    }
}

/// The task: a training and a held-out test set of one distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Its sizes.
    pub spec: TaskSpec,
    /// Training examples.
    pub train: Dataset,
    /// Held-out examples (the accuracies reported).
    pub test: Dataset,
}

impl TaskSpec {
    /// One line for the page and the CLI.
    pub fn describe(&self) -> String {
        format!(
            "{} classes in ℝ^{}, each a mixture of {} Gaussian clusters (centres ~ N(0, {}²·I), noise N(0, I)); {} training and {} held-out test examples",
            self.classes, self.inputs, self.clusters_per_class, self.spread, self.train, self.test
        )
    }

    /// The seeded task: `classes × clusters_per_class` centres drawn from
    /// N(0, spread²·I) (cluster k belongs to class k mod C, so every class
    /// is a union of clusters scattered through the space: not linearly
    /// separable), then each example's cluster uniformly and its features
    /// as centre + N(0, I). Train and test come from one stream, train
    /// first; the same seed gives the same bits on every platform.
    pub fn generate(&self, seed: u64) -> Task {
        let mut g = GaussianStream::new(derive_seed(seed, "qat-task", 0));
        let clusters = self.classes * self.clusters_per_class;
        let centres = g.matrix(clusters, self.inputs, self.spread);
        let mut draw = |n: usize| {
            let mut x = Vec::with_capacity(n * self.inputs);
            let mut y = Vec::with_capacity(n);
            for _ in 0..n {
                let k = ((g.uniform() * clusters as f64) as usize).min(clusters - 1);
                y.push((k % self.classes) as u32);
                for e in 0..self.inputs {
                    x.push(centres[[k, e]] + g.sample() as f32);
                }
            }
            Dataset {
                x,
                y,
                inputs: self.inputs,
            }
        };
        let train = draw(self.train);
        let test = draw(self.test);
        Task {
            spec: *self,
            train,
            test,
        }
    }
}

/// He-initialised parameters (W₁ ~ N(0, 2/d), W₂ ~ N(0, 1/H), biases 0),
/// seeded.
pub fn initial_params(shape: MlpShape, seed: u64) -> Vec<f32> {
    let mut g = GaussianStream::new(derive_seed(seed, "qat-init", 0));
    let mut p = vec![0f32; shape.params()];
    let sd1 = (2.0 / shape.inputs as f64).sqrt();
    for w in &mut p[shape.w1()] {
        *w = (g.sample() * sd1) as f32;
    }
    let sd2 = (1.0 / shape.hidden as f64).sqrt();
    for w in &mut p[shape.w2()] {
        *w = (g.sample() * sd2) as f32;
    }
    p
}

// ---------------------------------------------------------------------------
// Fake quantization
// ---------------------------------------------------------------------------

/// Smallest and largest bit widths the fake quantizer takes.
pub const BITS_RANGE: (u32, u32) = (2, 8);

/// The largest level 2^{b−1} − 1 of the symmetric b-bit grid (1 at 2 bits:
/// ternary weights {−s, 0, s}).
pub fn levels(bits: u32) -> u32 {
    (1u32 << (bits.clamp(BITS_RANGE.0, BITS_RANGE.1) - 1)) - 1
}

/// Fake-quantizes one row (symmetric, min-max, round half to even) into
/// `out`; returns its scale s (0 for a row that is zero or whose max |w| is
/// subnormal: then `out` is all +0). This is the lab's post-training
/// quantizer ([`super::quantize`]: int b-bit, symmetric, per channel,
/// min-max) on one row — a test holds them equal — except at two corners
/// training never meets: a constant row, which the general quantizer
/// stores exactly, and a row whose max |w| is subnormal, zeroed here.
///
/// # Panics
/// If `out` and `row` differ in length.
pub fn fake_quantize_row(row: &[f32], bits: u32, out: &mut [f32]) -> f32 {
    assert_eq!(row.len(), out.len(), "row and output lengths differ");
    let max = row.iter().fold(0f32, |m, w| m.max(w.abs()));
    if max < f32::MIN_POSITIVE {
        out.fill(0.0);
        return 0.0;
    }
    let l = levels(bits) as f32;
    let s = max / l;
    for (o, &w) in out.iter_mut().zip(row) {
        *o = s * (w / s).round_ties_even().clamp(-l, l);
    }
    s
}

/// The parameters with both weight matrices fake-quantized per output row
/// at `bits` (biases copied): what a quantized model computes with.
pub fn fake_quantize_params(shape: MlpShape, params: &[f32], bits: u32) -> Vec<f32> {
    let mut out = params.to_vec();
    fake_quantize_into(shape, params, bits, &mut out);
    out
}

/// [`fake_quantize_params`] into `out` (biases copied).
fn fake_quantize_into(shape: MlpShape, params: &[f32], bits: u32, out: &mut [f32]) {
    out.copy_from_slice(params);
    for (offset, rows, cols) in shape.matrices() {
        for r in 0..rows {
            let at = offset + r * cols..offset + (r + 1) * cols;
            fake_quantize_row(&params[at.clone()], bits, &mut out[at]);
        }
    }
}

/// The distinct values of each quantized row, at most: 2^b − 1.
pub fn grid_points(bits: u32) -> u32 {
    2 * levels(bits) + 1
}

// ---------------------------------------------------------------------------
// The CPU twin: forward, backward, update (one function per GPU kernel)
// ---------------------------------------------------------------------------

/// h = ReLU(x·Ŵ₁ᵀ + b₁) for `n` examples (kernel `hidden_forward`).
pub fn hidden_forward(shape: MlpShape, w: &[f32], x: &[f32], n: usize, h: &mut [f32]) {
    let (d, hid) = (shape.inputs, shape.hidden);
    let (w1, b1) = (&w[shape.w1()], &w[shape.b1()]);
    for s in 0..n {
        let xs = &x[s * d..(s + 1) * d];
        for j in 0..hid {
            let row = &w1[j * d..(j + 1) * d];
            let mut acc = 0f32;
            for i in 0..d {
                acc += xs[i] * row[i];
            }
            h[s * hid + j] = (acc + b1[j]).max(0.0);
        }
    }
}

/// The logits of one example, z = h·Ŵ₂ᵀ + b₂, into `z`.
fn logits(shape: MlpShape, w: &[f32], hs: &[f32], z: &mut [f32]) {
    let hid = shape.hidden;
    let (w2, b2) = (&w[shape.w2()], &w[shape.b2()]);
    for (k, zk) in z.iter_mut().enumerate() {
        let row = &w2[k * hid..(k + 1) * hid];
        let mut acc = 0f32;
        for j in 0..hid {
            acc += hs[j] * row[j];
        }
        *zk = acc + b2[k];
    }
}

/// Softmax cross-entropy of logits `z` for class `y`: (loss, max, Σexp).
fn cross_entropy(z: &[f32], y: usize) -> (f32, f32, f32) {
    let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0f32;
    for &v in z {
        sum += libm::expf(v - max);
    }
    (libm::logf(sum) - (z[y] - max), max, sum)
}

/// The first index of the largest logit.
fn argmax(z: &[f32]) -> usize {
    let mut best = 0;
    for (k, &v) in z.iter().enumerate() {
        if v > z[best] {
            best = k;
        }
    }
    best
}

/// Logits, per-example loss and δz = (softmax(z) − onehot(y))·`inv_batch`
/// for `n` examples (kernel `output_grad`).
#[allow(clippy::too_many_arguments)]
pub fn output_grad(
    shape: MlpShape,
    w: &[f32],
    h: &[f32],
    y: &[u32],
    n: usize,
    inv_batch: f32,
    dz: &mut [f32],
    loss: &mut [f32],
) {
    let (hid, c) = (shape.hidden, shape.classes);
    let mut z = vec![0f32; c];
    for s in 0..n {
        logits(shape, w, &h[s * hid..(s + 1) * hid], &mut z);
        let label = y[s] as usize;
        let (l, max, sum) = cross_entropy(&z, label);
        loss[s] = l;
        for k in 0..c {
            let p = libm::expf(z[k] - max) / sum;
            let target = if k == label { 1.0 } else { 0.0 };
            dz[s * c + k] = (p - target) * inv_batch;
        }
    }
}

/// ∂L/∂W₂ = δzᵀ·h and ∂L/∂b₂ = Σ δz into `grads` (kernel `output_backward`,
/// its first threads).
pub fn grad_output_layer(shape: MlpShape, h: &[f32], dz: &[f32], n: usize, grads: &mut [f32]) {
    let (hid, c) = (shape.hidden, shape.classes);
    let (w2, b2) = (shape.w2().start, shape.b2().start);
    for k in 0..c {
        for j in 0..=hid {
            let mut acc = 0f32;
            for s in 0..n {
                let a = if j < hid { h[s * hid + j] } else { 1.0 };
                acc += dz[s * c + k] * a;
            }
            if j < hid {
                grads[w2 + k * hid + j] = acc;
            } else {
                grads[b2 + k] = acc;
            }
        }
    }
}

/// δh = (δz·Ŵ₂) ⊙ 1[h > 0] (kernel `output_backward`, its other threads).
pub fn hidden_backward(
    shape: MlpShape,
    w: &[f32],
    h: &[f32],
    dz: &[f32],
    n: usize,
    dh: &mut [f32],
) {
    let (hid, c) = (shape.hidden, shape.classes);
    let w2 = &w[shape.w2()];
    for s in 0..n {
        for j in 0..hid {
            let mut acc = 0f32;
            for k in 0..c {
                acc += dz[s * c + k] * w2[k * hid + j];
            }
            dh[s * hid + j] = if h[s * hid + j] > 0.0 { acc } else { 0.0 };
        }
    }
}

/// ∂L/∂W₁ = δhᵀ·x and ∂L/∂b₁ = Σ δh into `grads` (kernel `grad_hidden_layer`).
pub fn grad_hidden_layer(shape: MlpShape, x: &[f32], dh: &[f32], n: usize, grads: &mut [f32]) {
    let (d, hid) = (shape.inputs, shape.hidden);
    let (w1, b1) = (shape.w1().start, shape.b1().start);
    for j in 0..hid {
        for i in 0..=d {
            let mut acc = 0f32;
            for s in 0..n {
                let a = if i < d { x[s * d + i] } else { 1.0 };
                acc += dh[s * hid + j] * a;
            }
            if i < d {
                grads[w1 + j * d + i] = acc;
            } else {
                grads[b1 + j] = acc;
            }
        }
    }
}

/// SGD with momentum, v ← μ·v + g, θ ← θ − η·v (kernel `sgd_update`).
pub fn sgd_update(params: &mut [f32], velocity: &mut [f32], grads: &[f32], lr: f32, momentum: f32) {
    for ((p, v), &g) in params.iter_mut().zip(velocity.iter_mut()).zip(grads) {
        *v = momentum * *v + g;
        *p -= lr * *v;
    }
}

/// The loss and the gradient of the mean loss over `n` examples for the
/// weights `w` (the hand-written backward pass, for the gradient check and
/// the one-step comparison with the GPU).
pub fn loss_and_gradient(
    shape: MlpShape,
    w: &[f32],
    x: &[f32],
    y: &[u32],
    n: usize,
) -> (f32, Vec<f32>) {
    let mut h = vec![0f32; n * shape.hidden];
    let mut dz = vec![0f32; n * shape.classes];
    let mut dh = vec![0f32; n * shape.hidden];
    let mut losses = vec![0f32; n];
    let mut grads = vec![0f32; shape.params()];
    hidden_forward(shape, w, x, n, &mut h);
    output_grad(shape, w, &h, y, n, 1.0 / n as f32, &mut dz, &mut losses);
    grad_output_layer(shape, &h, &dz, n, &mut grads);
    hidden_backward(shape, w, &h, &dz, n, &mut dh);
    grad_hidden_layer(shape, x, &dh, n, &mut grads);
    (sum_in_order(&losses) / n as f32, grads)
}

/// The mean loss in f64 (a reference for the gradient check; no f32 anywhere).
pub fn reference_loss(shape: MlpShape, w: &[f64], x: &[f32], y: &[u32], n: usize) -> f64 {
    let (d, hid, c) = (shape.inputs, shape.hidden, shape.classes);
    let mut total = 0f64;
    let mut h = vec![0f64; hid];
    let mut z = vec![0f64; c];
    for s in 0..n {
        for (j, hj) in h.iter_mut().enumerate() {
            let mut acc = w[shape.b1().start + j];
            for i in 0..d {
                acc += x[s * d + i] as f64 * w[j * d + i];
            }
            *hj = acc.max(0.0);
        }
        for (k, zk) in z.iter_mut().enumerate() {
            let mut acc = w[shape.b2().start + k];
            for (j, hj) in h.iter().enumerate() {
                acc += hj * w[shape.w2().start + k * hid + j];
            }
            *zk = acc;
        }
        let max = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
        total += sum.ln() - (z[y[s] as usize] - max);
    }
    total / n as f64
}

/// Σ values, left to right in f32 (the order the GPU's epoch sum uses).
pub fn sum_in_order(values: &[f32]) -> f32 {
    let mut acc = 0f32;
    for &v in values {
        acc += v;
    }
    acc
}

// ---------------------------------------------------------------------------
// Training and evaluation
// ---------------------------------------------------------------------------

/// How training runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
    /// Examples per mini-batch (the last batch of an epoch may be smaller).
    pub batch: usize,
    /// Learning rate η of f32 training.
    pub lr: f32,
    /// Learning rate η of QAT fine-tuning.
    pub qat_lr: f32,
    /// Momentum μ.
    pub momentum: f32,
    /// Whether QAT passes the gradient straight through the quantizer to the
    /// latent weights. Off only to check the tests' power: then the weights
    /// get no gradient (round has zero derivative almost everywhere) and only
    /// the biases are fine-tuned.
    pub straight_through: bool,
}

impl Default for Hyper {
    fn default() -> Hyper {
        Hyper {
            batch: 128,
            lr: 0.1,
            qat_lr: 0.04,
            momentum: 0.9,
            straight_through: true,
        }
    }
}

/// Batches of an epoch: consecutive ranges of `batch` examples.
pub fn batches(n: usize, batch: usize) -> Vec<Range<usize>> {
    let batch = batch.max(1);
    (0..n.div_ceil(batch))
        .map(|b| b * batch..((b + 1) * batch).min(n))
        .collect()
}

/// The CPU twin's training state: latent parameters, momentum, the
/// weights the forward pass uses (fake-quantized under QAT) and scratch.
#[derive(Debug, Clone)]
pub struct Trainer {
    /// The shape.
    pub shape: MlpShape,
    /// Latent (f32) parameters.
    pub params: Vec<f32>,
    /// Momentum buffer.
    pub velocity: Vec<f32>,
    /// The weights the last step computed with.
    pub effective: Vec<f32>,
    grads: Vec<f32>,
    h: Vec<f32>,
    dz: Vec<f32>,
    dh: Vec<f32>,
    losses: Vec<f32>,
}

impl Trainer {
    /// A trainer from `params`, momentum zero, for batches up to `batch`
    /// and epochs of `n` examples.
    pub fn new(shape: MlpShape, params: Vec<f32>, batch: usize, n: usize) -> Trainer {
        let p = shape.params();
        Trainer {
            shape,
            effective: params.clone(),
            params,
            velocity: vec![0.0; p],
            grads: vec![0.0; p],
            h: vec![0.0; batch * shape.hidden],
            dz: vec![0.0; batch * shape.classes],
            dh: vec![0.0; batch * shape.hidden],
            losses: vec![0.0; n],
        }
    }

    /// Starts a phase from `params` with zero momentum.
    pub fn reset(&mut self, params: &[f32]) {
        self.params.copy_from_slice(params);
        self.velocity.fill(0.0);
    }

    /// One SGD step on examples `range` of `data`: forward with the latent
    /// weights (f32) or their fake-quantized copy (`bits`), backward, update.
    /// Each example's loss lands in the epoch's loss list.
    pub fn step(&mut self, data: &Dataset, range: Range<usize>, bits: Option<u32>, hyper: &Hyper) {
        let shape = self.shape;
        let n = range.len();
        let x = &data.x[range.start * shape.inputs..range.end * shape.inputs];
        let y = &data.y[range.clone()];
        match bits {
            Some(b) => fake_quantize_into(shape, &self.params, b, &mut self.effective),
            None => self.effective.copy_from_slice(&self.params),
        }
        let w = &self.effective;
        hidden_forward(shape, w, x, n, &mut self.h);
        output_grad(
            shape,
            w,
            &self.h,
            y,
            n,
            1.0 / n as f32,
            &mut self.dz,
            &mut self.losses[range],
        );
        grad_output_layer(shape, &self.h, &self.dz, n, &mut self.grads);
        hidden_backward(shape, w, &self.h, &self.dz, n, &mut self.dh);
        grad_hidden_layer(shape, x, &self.dh, n, &mut self.grads);
        let lr = if bits.is_some() {
            if !hyper.straight_through {
                for (offset, rows, cols) in shape.matrices() {
                    self.grads[offset..offset + rows * cols].fill(0.0);
                }
            }
            hyper.qat_lr
        } else {
            hyper.lr
        };
        sgd_update(
            &mut self.params,
            &mut self.velocity,
            &self.grads,
            lr,
            hyper.momentum,
        );
    }

    /// One epoch over `data` in fixed batches; returns Σ of the examples'
    /// losses (each taken before its batch's update), summed in order.
    pub fn epoch(&mut self, data: &Dataset, bits: Option<u32>, hyper: &Hyper) -> f32 {
        for range in batches(data.len(), hyper.batch) {
            self.step(data, range, bits, hyper);
        }
        sum_in_order(&self.losses[..data.len()])
    }
}

/// A model's results on a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Examples classified correctly (first largest logit = label).
    pub correct: usize,
    /// Examples.
    pub examples: usize,
    /// Mean cross-entropy.
    pub loss: f64,
}

impl Evaluation {
    /// From per-example outcomes (1 correct, 0 not) and losses: the sum
    /// taken in order, as the GPU path does with its read-back lists.
    pub fn from_examples(correct: &[f32], losses: &[f32]) -> Evaluation {
        Evaluation {
            correct: correct.iter().filter(|&&c| c > 0.5).count(),
            examples: losses.len(),
            loss: sum_in_order(losses) as f64 / losses.len().max(1) as f64,
        }
    }

    /// correct / examples.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.examples.max(1) as f64
    }
}

/// Per-example outcomes (1 correct, 0 not) and losses of the weights `w` on
/// `data` (kernel `evaluate`).
pub fn evaluate_examples(shape: MlpShape, w: &[f32], data: &Dataset) -> (Vec<f32>, Vec<f32>) {
    let n = data.len();
    let mut h = vec![0f32; shape.hidden];
    let mut z = vec![0f32; shape.classes];
    let mut correct = vec![0f32; n];
    let mut losses = vec![0f32; n];
    for s in 0..n {
        hidden_forward(
            shape,
            w,
            &data.x[s * shape.inputs..(s + 1) * shape.inputs],
            1,
            &mut h,
        );
        logits(shape, w, &h, &mut z);
        let label = data.y[s] as usize;
        losses[s] = cross_entropy(&z, label).0;
        correct[s] = if argmax(&z) == label { 1.0 } else { 0.0 };
    }
    (correct, losses)
}

/// Accuracy and mean loss of the weights `w` on `data`.
pub fn evaluate(shape: MlpShape, w: &[f32], data: &Dataset) -> Evaluation {
    let (correct, losses) = evaluate_examples(shape, w, data);
    Evaluation::from_examples(&correct, &losses)
}

// ---------------------------------------------------------------------------
// Costs
// ---------------------------------------------------------------------------

/// Floating-point operations and bytes of one training epoch over `n`
/// examples in batches of `batch` (the GPU kernels and the twin's loops do
/// the same work), each with its formula.
///
/// FLOPs: forward 2n(dH + HC), backward 2n(2HC + dH) + n(H + C) (bias
/// sums), softmax and loss ≈ 4nC, the momentum update 4P per step and,
/// under QAT, the fake quantizer ≈ 4(dH + HC) per step.
///
/// Bytes (loads and stores of every thread, no cache assumed): per batch of
/// B, hidden_forward BH(2d + 2), output_grad B(C(2H + 1) + C + 2),
/// grad_output_layer C(H + 1)(2B + 1), hidden_backward BH(2C + 2),
/// grad_hidden_layer H(d + 1)(2B + 1), sgd_update 5P, fake quantization
/// 3(dH + HC) + 2(H + C); per epoch the loss sum n + 2; times 4 bytes.
pub fn epoch_cost(shape: MlpShape, n: usize, batch: usize, qat: bool) -> (Counted, Counted) {
    let (d, h, c, p) = (
        shape.inputs as u64,
        shape.hidden as u64,
        shape.classes as u64,
        shape.params() as u64,
    );
    let weights = shape.weights() as u64;
    let list = batches(n, batch);
    let steps = list.len() as u64;
    let n = n as u64;
    let forward = 2 * n * (d * h + h * c);
    let backward = 2 * n * (2 * h * c + d * h) + n * (h + c);
    let softmax = 4 * n * c;
    let update = 4 * p * steps;
    let quant = if qat { 4 * weights * steps } else { 0 };
    let flops = Counted::new(
        forward + backward + softmax + update + quant,
        if qat {
            "2n(dH + HC) + 2n(2HC + dH) + n(H + C) + 4nC + 4P·steps + 4(dH + HC)·steps"
        } else {
            "2n(dH + HC) + 2n(2HC + dH) + n(H + C) + 4nC + 4P·steps"
        },
    );
    let mut words = n + 2;
    for r in &list {
        let b = r.len() as u64;
        words += b * h * (2 * d + 2)
            + b * (c * (2 * h + 1) + c + 2)
            + c * (h + 1) * (2 * b + 1)
            + b * h * (2 * c + 2)
            + h * (d + 1) * (2 * b + 1)
            + 5 * p;
        if qat {
            words += 3 * weights + 2 * (h + c);
        }
    }
    let bytes = Counted::new(
        4 * words,
        if qat {
            "4·Σ_batches[BH(2d+2) + B(C(2H+1)+C+2) + C(H+1)(2B+1) + BH(2C+2) + H(d+1)(2B+1) + 5P + 3(dH+HC) + 2(H+C)] + 4(n+2)"
        } else {
            "4·Σ_batches[BH(2d+2) + B(C(2H+1)+C+2) + C(H+1)(2B+1) + BH(2C+2) + H(d+1)(2B+1) + 5P] + 4(n+2)"
        },
    );
    (flops, bytes)
}

/// What an epoch needs at least: the FLOPs above (all of them are the
/// method's), and the compulsory bytes — the training set read once
/// 4n(d + 1) and the parameters read and written once 8P.
pub fn epoch_needs(shape: MlpShape, n: usize, batch: usize, qat: bool) -> (Counted, Counted) {
    let (flops, _) = epoch_cost(shape, n, batch, qat);
    let bytes = 4 * (n * (shape.inputs + 1)) as u64 + 8 * shape.params() as u64;
    (flops, Counted::new(bytes, "4n(d + 1) + 8P"))
}

/// A 64-bit FNV-1a hash of the exact bits of `values`, as 16 hex digits:
/// two runs trained the same parameters iff (barring collisions) their
/// digests match.
pub fn digest(values: &[f32]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for v in values {
        for byte in v.to_bits().to_le_bytes() {
            hash ^= byte as u64;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

// ---------------------------------------------------------------------------
// The knobs
// ---------------------------------------------------------------------------

/// Hidden units: smallest, largest, default.
pub const HIDDEN: (usize, usize, usize) = (4, 128, 64);
/// f32 training epochs: smallest, largest, default (each phase trains at
/// least 2: the GPU times every epoch after a warm-up one).
pub const EPOCHS: (usize, usize, usize) = (2, 60, 20);
/// QAT fine-tuning epochs per bit width: smallest, largest, default.
pub const QAT_EPOCHS: (usize, usize, usize) = (2, 30, 10);
/// The bit widths compared, widest first.
pub const BITS: [u32; 3] = [4, 3, 2];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_quantization_is_the_labs_per_channel_quantizer() {
        use crate::compress::quantize::{Clip, Format, Granularity, Mode, Scheme, quantize};
        let w = crate::compress::weights::Generator::HeavyTailed.generate(16, 37, 3);
        for bits in 2..=8 {
            let scheme = Scheme {
                format: Format::Int,
                bits,
                mode: Mode::Symmetric,
                granularity: Granularity::PerChannel,
                group_size: 1,
                clip: Clip::MinMax,
            };
            let general = quantize(w.view(), &scheme, None).unwrap().xhat;
            for (r, row) in w.rows().into_iter().enumerate() {
                let mut out = vec![0f32; row.len()];
                fake_quantize_row(row.as_slice().unwrap(), bits, &mut out);
                assert_eq!(out, general.row(r).to_vec(), "{bits} bits, row {r}");
            }
        }
    }

    #[test]
    fn fake_quantization_follows_the_definition() {
        // max 1.4 at 2 bits: s = 1.4, levels {-1, 0, 1}.
        let row = [1.4f32, -0.7, 0.69, 0.71, -1.4, 0.0];
        let mut out = [0f32; 6];
        let s = fake_quantize_row(&row, 2, &mut out);
        assert_eq!(s, 1.4);
        // 0.7/1.4 = 0.5 exactly: half to even → 0.
        assert_eq!(out, [1.4, -0.0, 0.0, 1.4, -1.4, 0.0]);
        // 3 bits: L = 3, s = 1.4/3.
        let s3 = fake_quantize_row(&row, 3, &mut out);
        assert_eq!(s3, 1.4f32 / 3.0);
        for (o, w) in out.iter().zip(row) {
            assert!((o - w).abs() <= s3 / 2.0 * (1.0 + 1e-6), "{o} vs {w}");
        }
        // All-zero row: zeros, not NaN.
        let mut z = [1f32; 3];
        assert_eq!(fake_quantize_row(&[0.0, -0.0, 0.0], 4, &mut z), 0.0);
        assert_eq!(z, [0.0; 3]);
    }

    #[test]
    fn shapes_and_batches() {
        let s = MlpShape {
            inputs: 3,
            hidden: 5,
            classes: 2,
        };
        assert_eq!(s.params(), 15 + 5 + 10 + 2);
        assert_eq!(s.w2(), 20..30);
        assert_eq!(batches(10, 4), vec![0..4, 4..8, 8..10]);
        assert_eq!(grid_points(2), 3);
        assert_eq!(levels(4), 7);
    }
}

//! QAT against PTQ (survey §"Quantization"; Jacob et al. 2018): the fake
//! quantizer's definition, the hand-written backward pass against finite
//! differences in f64, the GPU kernels against the CPU twin (the quantized
//! weights bit for bit, one step's gradient and whole trajectories within
//! tolerances measured on lavapipe), the lab's checks, and the claim the
//! section makes: QAT beats PTQ at 2 bits on the seeded task — with its
//! power checked (without the straight-through estimator it fails).

mod common;

use common::flt;

use common::gpu;
use flt_explorer::compress::qat::{
    self, Dataset, Hyper, MlpShape, TaskSpec, Trainer, fake_quantize_params, fake_quantize_row,
    initial_params, loss_and_gradient, reference_loss,
};
use flt_explorer::gpu::GpuContext;
use flt_explorer::gpu::mlp::{Examples, MlpDims, MlpTrainer, StepOptions};
use flt_explorer::pipeline::qat::{QatProblem, QatReport, run};
use flt_explorer::pipeline::{Backend, Quiet, RunError};

/// A small odd-shaped problem (d, H, C not multiples of anything).
fn small_task() -> (TaskSpec, MlpShape) {
    let spec = TaskSpec {
        inputs: 7,
        classes: 5,
        clusters_per_class: 2,
        spread: 1.5,
        train: 203,
        test: 97,
    };
    let shape = MlpShape {
        inputs: 7,
        hidden: 13,
        classes: 5,
    };
    (spec, shape)
}

fn dims(shape: MlpShape) -> MlpDims {
    MlpDims {
        inputs: shape.inputs,
        hidden: shape.hidden,
        classes: shape.classes,
    }
}

fn examples(d: &Dataset) -> Examples<'_> {
    Examples {
        features: &d.x,
        labels: &d.y,
    }
}

fn cpu_run(problem: &QatProblem) -> QatReport {
    pollster::block_on(run(problem, &Backend::Cpu { reason: None }, &Quiet)).expect("CPU run")
}

// ---------------------------------------------------------------------------
// The fake quantizer
// ---------------------------------------------------------------------------

#[test]
fn fake_quantization_rounds_half_to_even_on_a_symmetric_grid() {
    // max 3.5 at 4 bits: L = 7, s = 0.5 exactly; w/s = k + 0.5 ties go to even k.
    let row = [3.5f32, 0.25, 0.75, -0.25, -0.75, 1.25, -3.5, 0.0];
    let mut out = [0f32; 8];
    assert_eq!(fake_quantize_row(&row, 4, &mut out), 0.5);
    assert_eq!(out, [3.5, 0.0, 1.0, -0.0, -1.0, 1.0, -3.5, 0.0]);
    // -0.25 → -0.5 → -0.0: the sign of zero is kept (bits compared below).
    assert_eq!(out[3].to_bits(), (-0.0f32).to_bits());
    // 2 bits is ternary: {−s, 0, s} with s = max.
    let mut t = [0f32; 8];
    fake_quantize_row(&row, 2, &mut t);
    for v in t {
        assert!(v == 0.0 || v.abs() == 3.5, "{v}");
    }
}

#[test]
fn fake_quantization_error_is_at_most_half_a_step_and_the_grid_is_fixed() {
    let shape = MlpShape {
        inputs: 9,
        hidden: 11,
        classes: 3,
    };
    let params = initial_params(shape, 5);
    for bits in 2..=8 {
        let q = fake_quantize_params(shape, &params, bits);
        // Biases are copied, weights change.
        assert_eq!(&q[shape.b1()], &params[shape.b1()]);
        assert_eq!(&q[shape.b2()], &params[shape.b2()]);
        for (offset, rows, cols) in shape.matrices() {
            for r in 0..rows {
                let at = offset + r * cols..offset + (r + 1) * cols;
                let w = &params[at.clone()];
                let max = w.iter().fold(0f32, |m, x| m.max(x.abs()));
                let s = max / qat::levels(bits) as f32;
                let mut distinct: Vec<u32> = Vec::new();
                for (&x, &y) in w.iter().zip(&q[at]) {
                    assert!(
                        (x - y).abs() <= s / 2.0 * (1.0 + 1e-5),
                        "bits {bits}: {x} → {y}"
                    );
                    let k = (y / s).round();
                    assert!(k.abs() <= qat::levels(bits) as f32);
                    if !distinct.contains(&y.to_bits()) {
                        distinct.push(y.to_bits());
                    }
                }
                assert!(distinct.len() as u32 <= qat::grid_points(bits) + 1); // ±0
            }
        }
        // Quantizing a quantized model changes nothing.
        assert_eq!(fake_quantize_params(shape, &q, bits), q, "bits {bits}");
    }
    // An all-zero and a subnormal row are exactly zero, never NaN.
    let mut out = [1f32; 4];
    assert_eq!(fake_quantize_row(&[0.0; 4], 3, &mut out), 0.0);
    assert_eq!(out, [0.0; 4]);
    fake_quantize_row(&[1e-40, -1e-40, 0.0, 5e-39], 2, &mut out);
    assert_eq!(out, [0.0; 4]);
}

// ---------------------------------------------------------------------------
// The hand-written backward pass
// ---------------------------------------------------------------------------

/// max |g − g_fd| / max |g_fd| of the f32 hand-written gradient against
/// central differences of the f64 reference loss.
fn gradient_error(shape: MlpShape, params: &[f32], grad: &[f32], data: &Dataset) -> f64 {
    let n = data.len();
    let base: Vec<f64> = params.iter().map(|&p| p as f64).collect();
    let step = 1e-5;
    let mut worst = 0f64;
    let mut scale = 0f64;
    for t in 0..params.len() {
        let mut plus = base.clone();
        plus[t] += step;
        let mut minus = base.clone();
        minus[t] -= step;
        let fd = (reference_loss(shape, &plus, &data.x, &data.y, n)
            - reference_loss(shape, &minus, &data.x, &data.y, n))
            / (2.0 * step);
        worst = worst.max((grad[t] as f64 - fd).abs());
        scale = scale.max(fd.abs());
    }
    worst / scale
}

#[test]
fn the_backward_pass_matches_finite_differences_in_f64() {
    let (spec, shape) = small_task();
    let task = TaskSpec { train: 40, ..spec }.generate(3);
    let params = initial_params(shape, 3);
    let (loss, grad) = loss_and_gradient(shape, &params, &task.train.x, &task.train.y, 40);
    let f64_params: Vec<f64> = params.iter().map(|&p| p as f64).collect();
    let exact = reference_loss(shape, &f64_params, &task.train.x, &task.train.y, 40);
    assert!(
        (loss as f64 - exact).abs() < 1e-5 * exact.max(1.0),
        "{loss} vs {exact}"
    );
    // f32 gradients against f64 central differences (step 1e-5): measured
    // 1.6e-7 relative; 1e-4 leaves room for an example near a ReLU kink.
    let err = gradient_error(shape, &params, &grad, &task.train);
    eprintln!("relative gradient error {err:e}");
    assert!(err < 1e-4, "relative gradient error {err}");
    // Power: the same check fails on two classic bugs of a hand-written
    // backward pass — δh without the ReLU mask, and δz without the 1/B.
    let (x, y, n) = (&task.train.x, &task.train.y, 40);
    let mut h = vec![0f32; n * shape.hidden];
    qat::hidden_forward(shape, &params, x, n, &mut h);
    let buggy = |inv_batch: f32, mask: bool| {
        let mut dz = vec![0f32; n * shape.classes];
        let mut dh = vec![0f32; n * shape.hidden];
        let mut losses = vec![0f32; n];
        let mut g = vec![0f32; shape.params()];
        qat::output_grad(shape, &params, &h, y, n, inv_batch, &mut dz, &mut losses);
        qat::grad_output_layer(shape, &h, &dz, n, &mut g);
        // Without the mask: every unit counts as active.
        let active = if mask { h.clone() } else { vec![1.0; h.len()] };
        qat::hidden_backward(shape, &params, &active, &dz, n, &mut dh);
        qat::grad_hidden_layer(shape, x, &dh, n, &mut g);
        g
    };
    assert_eq!(
        buggy(1.0 / n as f32, true),
        grad,
        "the pieces compose to the gradient"
    );
    let no_mask = gradient_error(shape, &params, &buggy(1.0 / n as f32, false), &task.train);
    let no_mean = gradient_error(shape, &params, &buggy(1.0, true), &task.train);
    eprintln!("without the ReLU mask {no_mask:e}, without 1/B {no_mean:e}");
    assert!(no_mask > 1e-2 && no_mean > 1.0, "{no_mask} {no_mean}");
}

// ---------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------

#[test]
fn the_task_and_the_twin_are_seeded() {
    let spec = TaskSpec {
        train: 64,
        test: 32,
        ..TaskSpec::default()
    };
    let a = spec.generate(7);
    assert_eq!(a, spec.generate(7));
    assert_ne!(a.train.x, spec.generate(8).train.x);
    // Every class appears, labels in range.
    for c in 0..spec.classes as u32 {
        assert!(a.train.y.contains(&c) || a.test.y.contains(&c));
    }
    assert!(a.train.y.iter().all(|&y| (y as usize) < spec.classes));
    // Pinned bits of the default task at seed 1: a change of the generator
    // changes every saved link's numbers (update deliberately).
    let first = TaskSpec::default().generate(1);
    assert_eq!(qat::digest(&first.train.x), "1127c4149c1c962b");
    assert_eq!(
        qat::digest(&initial_params(QatProblem::new(1).shape(), 1)),
        "b525a53227a9f4d5"
    );
}

// ---------------------------------------------------------------------------
// GPU against the twin (lavapipe locally)
// ---------------------------------------------------------------------------

fn trainer(ctx: &GpuContext, shape: MlpShape, task: &qat::Task, batch: usize) -> MlpTrainer {
    pollster::block_on(MlpTrainer::new(
        ctx,
        dims(shape),
        batch,
        examples(&task.train),
        examples(&task.test),
        64,
    ))
    .expect("trainer")
}

/// Fake quantization of one row with a given division (the definition
/// with `a / b`; a GPU compiler's `a * (1 / b)` for the power check).
fn quantize_with(row: &[f32], bits: u32, divide: fn(f32, f32) -> f32) -> Vec<f32> {
    let max = row.iter().fold(0f32, |m, w| m.max(w.abs()));
    let l = qat::levels(bits) as f32;
    let s = divide(max, l);
    row.iter()
        .map(|&w| s * divide(w, s).round_ties_even().clamp(-l, l))
        .collect()
}

fn reciprocal(a: f32, b: f32) -> f32 {
    a * (1.0 / b)
}

/// The float `steps` ulps away from positive `x`.
fn ulps(x: f32, steps: i32) -> f32 {
    f32::from_bits((x.to_bits() as i32 + steps) as u32)
}

/// A row of `cols` near-ties — w ≈ (k + ½)·s, give or take an ulp — on
/// which quantizing with
/// `a * (1 / b)` rounds some weight differently from `a / b`: found by a
/// seeded search.
fn near_tie_row(cols: usize, bits: u32) -> Vec<f32> {
    let l = qat::levels(bits);
    let mut g = flt_explorer::inputs::GaussianStream::new(bits as u64);
    for _ in 0..100_000 {
        let max = (0.5 + g.uniform()) as f32;
        let s = max / l as f32;
        let row: Vec<f32> = (0..cols)
            .map(|j| match j {
                0 => max,
                _ => ulps(
                    ((((j - 1) / 3) as u32 % l) as f32 + 0.5) * s,
                    (j as i32 - 1) % 3 - 1,
                ),
            })
            .collect();
        if quantize_with(&row, bits, |a, b| a / b) != quantize_with(&row, bits, reciprocal) {
            return row;
        }
    }
    panic!("no near-tie row found at {bits} bits");
}

/// Values that stress the quantizer: ties at every level, zero, −0 and
/// subnormal entries, a zero row, a row of one value, huge and tiny rows,
/// and near-ties where an inexact division rounds the other way (row 6 of
/// W₁ at 2 bits, row 0 of W₂ at 3 bits).
fn awkward_params(shape: MlpShape, seed: u64) -> Vec<f32> {
    let mut p = initial_params(shape, seed);
    let d = shape.inputs;
    // Row 0 of W1: max 3.5 with ties (k + ½)·0.5.
    let ties = [3.5f32, 0.25, -0.75, 1.25, -2.25, 0.0, -0.0];
    p[..d].copy_from_slice(&ties[..d]);
    // Row 1: all zero; row 2: subnormal and zero; row 3: one repeated value.
    p[d..2 * d].fill(0.0);
    for (i, v) in p[2 * d..3 * d].iter_mut().enumerate() {
        *v = if i % 2 == 0 { 1e-40 } else { -0.0 };
    }
    p[3 * d..4 * d].fill(-0.3);
    // Row 4: huge values; row 5: tiny normal values.
    for (i, v) in p[4 * d..5 * d].iter_mut().enumerate() {
        *v = (i as f32 - 3.0) * 1e30;
    }
    for (i, v) in p[5 * d..6 * d].iter_mut().enumerate() {
        *v = (i as f32 + 1.0) * 3e-37;
    }
    p[6 * d..7 * d].copy_from_slice(&near_tie_row(d, 2));
    let w2 = shape.w2().start;
    p[w2..w2 + shape.hidden].copy_from_slice(&near_tie_row(shape.hidden, 3));
    p
}

#[test]
fn gpu_fake_quantization_is_bit_identical_to_the_twin() {
    let Some(ctx) = gpu() else { return };
    let (spec, shape) = small_task();
    let task = spec.generate(1);
    let t = trainer(&ctx, shape, &task, 32);
    // Power: a division by reciprocal (two roundings) gets these inputs
    // wrong, so a kernel dividing that way fails here (lavapipe's own `/`
    // is correctly rounded, so dropping `div_rn` alone passes there).
    let awkward = awkward_params(shape, 0);
    for (offset, cols, bits) in [
        (6 * shape.inputs, shape.inputs, 2),
        (shape.w2().start, shape.hidden, 3),
    ] {
        let row = &awkward[offset..offset + cols];
        assert_ne!(
            quantize_with(row, bits, reciprocal),
            quantize_with(row, bits, |a, b| a / b)
        );
        let mut twin = vec![0f32; cols];
        fake_quantize_row(row, bits, &mut twin);
        assert_eq!(twin, quantize_with(row, bits, |a, b| a / b));
    }
    for seed in 0..4 {
        let params = if seed == 0 {
            awkward_params(shape, seed)
        } else {
            // Trained-looking weights: random, with a few scaled rows.
            let mut p = initial_params(shape, seed);
            for (i, v) in p.iter_mut().enumerate() {
                *v *= 1.0 + (i % 5) as f32 * 0.37;
            }
            p
        };
        t.load(&ctx, &params).unwrap();
        for bits in 2..=8 {
            pollster::block_on(async {
                t.quantize(&ctx, qat::levels(bits))
                    .await
                    .unwrap()
                    .run(&ctx, 1)
                    .await
                    .unwrap();
            });
            let gpu = pollster::block_on(t.read_quantized(&ctx)).unwrap();
            let twin = fake_quantize_params(shape, &params, bits);
            let differing: Vec<(usize, f32, f32, f32)> = gpu
                .iter()
                .zip(&twin)
                .enumerate()
                .filter(|(_, (a, b))| a.to_bits() != b.to_bits())
                .map(|(i, (a, b))| (i, params[i], *a, *b))
                .collect();
            assert!(
                differing.is_empty(),
                "seed {seed}, {bits} bits: (index, w, gpu, twin) {differing:?}"
            );
        }
    }
}

#[test]
fn gpu_gradient_of_one_batch_matches_the_twin() {
    let Some(ctx) = gpu() else { return };
    let (spec, shape) = small_task();
    let task = spec.generate(2);
    let t = trainer(&ctx, shape, &task, 50);
    let params = initial_params(shape, 2);
    t.load(&ctx, &params).unwrap();
    for (offset, count, bits) in [(0, 50, None), (150, 50, Some(2)), (200, 3, Some(3))] {
        pollster::block_on(async {
            t.gradient(&ctx, offset, count, bits.map(qat::levels))
                .await
                .unwrap()
                .run(&ctx, 1)
                .await
                .unwrap();
        });
        let gpu = pollster::block_on(t.read_grads(&ctx)).unwrap();
        let w = match bits {
            Some(b) => fake_quantize_params(shape, &params, b),
            None => params.clone(),
        };
        let x = &task.train.x[offset * shape.inputs..(offset + count) * shape.inputs];
        let (_, twin) =
            loss_and_gradient(shape, &w, x, &task.train.y[offset..offset + count], count);
        let scale = twin.iter().fold(0f32, |m, g| m.max(g.abs()));
        let worst = gpu
            .iter()
            .zip(&twin)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        eprintln!(
            "gradient {offset}+{count} {bits:?}: worst {:e} relative",
            worst / scale
        );
        for (i, (a, b)) in gpu.iter().zip(&twin).enumerate() {
            // f32 sums of ≤ 50 terms in the same order; exp and division
            // differ by a few ulp: measured ≤ 1.0e-7 relative to the largest
            // on lavapipe.
            assert!(
                (a - b).abs() <= 1e-5 * scale,
                "{offset}+{count} bits {bits:?}: grad[{i}] gpu {a}, twin {b}"
            );
        }
    }
    // The twin's training step is this gradient and the SGD update: from
    // zero momentum, θ − η·g exactly.
    let hyper = Hyper::default();
    let mut twin = Trainer::new(shape, params.clone(), 50, spec.train);
    twin.step(&task.train, 0..50, None, &hyper);
    let (_, g) = loss_and_gradient(
        shape,
        &params,
        &task.train.x[..50 * shape.inputs],
        &task.train.y[..50],
        50,
    );
    let expected: Vec<f32> = params
        .iter()
        .zip(&g)
        .map(|(p, g)| p - hyper.lr * g)
        .collect();
    assert_eq!(twin.params, expected);
}

/// Trains `epochs` epochs on both sides from the same parameters; returns
/// the largest parameter difference and the largest epoch-loss difference.
fn trajectories(
    ctx: &GpuContext,
    t: &MlpTrainer,
    task: &qat::Task,
    shape: MlpShape,
    start: &[f32],
    bits: Option<u32>,
    epochs: usize,
) -> (f32, f64, Vec<f32>, Vec<f32>) {
    let hyper = Hyper {
        batch: t.batch,
        ..Hyper::default()
    };
    t.load(ctx, start).unwrap();
    let before = pollster::block_on(t.read_history(ctx)).unwrap().len();
    let program = pollster::block_on(t.epoch(
        ctx,
        StepOptions {
            lr: if bits.is_some() {
                hyper.qat_lr
            } else {
                hyper.lr
            },
            momentum: hyper.momentum,
            levels: bits.map(qat::levels),
            freeze_weights: false,
        },
    ))
    .unwrap();
    pollster::block_on(program.run(ctx, (epochs - 1) as u32)).unwrap();
    let gpu = pollster::block_on(t.read_params(ctx)).unwrap();
    let history = pollster::block_on(t.read_history(ctx)).unwrap();
    assert_eq!(history.len(), before + epochs);
    let mut twin = Trainer::new(shape, start.to_vec(), t.batch, task.train.len());
    let mut loss_diff = 0f64;
    for e in 0..epochs {
        let sum = twin.epoch(&task.train, bits, &hyper);
        let g = history[before + e];
        loss_diff = loss_diff.max(((g - sum) / task.train.len() as f32).abs() as f64);
    }
    let diff = gpu
        .iter()
        .zip(&twin.params)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    (diff, loss_diff, gpu, twin.params)
}

#[test]
fn gpu_training_trajectories_follow_the_twin() {
    let Some(ctx) = gpu() else { return };
    let (spec, shape) = small_task();
    let task = spec.generate(4);
    let t = trainer(&ctx, shape, &task, 32);
    let start = initial_params(shape, 4);
    // f32: 5 epochs of 7 batches (the last of 11 examples). Measured on
    // lavapipe: parameters within 3.6e-7, epoch losses within 1.1e-7; the
    // bounds leave ~50× for other adapters' FMA contraction and exp.
    let (diff, loss, trained, _) = trajectories(&ctx, &t, &task, shape, &start, None, 5);
    eprintln!("f32: params differ by {diff:e}, losses by {loss:e}");
    assert!(diff < 2e-5, "f32 parameters differ by {diff}");
    assert!(loss < 1e-5, "f32 epoch losses differ by {loss}");
    // QAT at 3 and 2 bits from the trained weights: measured on lavapipe
    // within 2.4e-7 (parameters) and 1.5e-7 (losses); a rounding decision
    // can flip where a latent weight sits within an ulp of a level's edge,
    // so the parameters' bound is looser.
    for bits in [3, 2] {
        let (diff, loss, gpu, twin) = trajectories(&ctx, &t, &task, shape, &trained, Some(bits), 4);
        assert!(diff < 1e-4, "{bits}-bit QAT parameters differ by {diff}");
        assert!(loss < 1e-5, "{bits}-bit QAT losses differ by {loss}");
        // The quantized weights the models end with agree almost everywhere:
        // the same grid level (their scales differ by the latent maxima's
        // difference).
        let (qg, qt) = (
            fake_quantize_params(shape, &gpu, bits),
            fake_quantize_params(shape, &twin, bits),
        );
        let differing = qg
            .iter()
            .zip(&qt)
            .filter(|(a, b)| (*a - *b).abs() > 1e-3 * a.abs().max(b.abs()))
            .count();
        eprintln!(
            "{bits} bits: params differ by {diff:e}, losses by {loss:e}, {differing} levels differ"
        );
        assert!(
            differing * 100 <= shape.params(),
            "{differing} quantized weights differ"
        );
    }
}

#[test]
fn gpu_qat_without_the_ste_moves_only_the_biases_as_the_twin_does() {
    let Some(ctx) = gpu() else { return };
    let (spec, shape) = small_task();
    let task = spec.generate(7);
    let t = trainer(&ctx, shape, &task, 32);
    let start = initial_params(shape, 7);
    let hyper = Hyper {
        batch: 32,
        straight_through: false,
        ..Hyper::default()
    };
    t.load(&ctx, &start).unwrap();
    let program = pollster::block_on(t.epoch(
        &ctx,
        StepOptions {
            lr: hyper.qat_lr,
            momentum: hyper.momentum,
            levels: Some(qat::levels(2)),
            freeze_weights: true,
        },
    ))
    .unwrap();
    pollster::block_on(program.run(&ctx, 1)).unwrap();
    let gpu = pollster::block_on(t.read_params(&ctx)).unwrap();
    let mut twin = Trainer::new(shape, start.clone(), 32, spec.train);
    for _ in 0..2 {
        twin.epoch(&task.train, Some(2), &hyper);
    }
    for (offset, rows, cols) in shape.matrices() {
        let w = offset..offset + rows * cols;
        assert_eq!(&gpu[w.clone()], &start[w.clone()], "weights moved");
        assert_eq!(&twin.params[w.clone()], &start[w], "twin weights moved");
    }
    let b1 = shape.b1();
    assert_ne!(&gpu[b1.clone()], &start[b1.clone()], "biases did not move");
    for (a, b) in gpu.iter().zip(&twin.params) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn gpu_evaluation_matches_the_twin() {
    let Some(ctx) = gpu() else { return };
    let (spec, shape) = small_task();
    let task = spec.generate(5);
    let t = trainer(&ctx, shape, &task, 64);
    let params = initial_params(shape, 5);
    t.load(&ctx, &params).unwrap();
    pollster::block_on(async {
        t.evaluate(&ctx, false)
            .await
            .unwrap()
            .run(&ctx, 1)
            .await
            .unwrap();
    });
    let (correct, losses) = pollster::block_on(t.read_outcomes(&ctx)).unwrap();
    let (twin_correct, twin_losses) = qat::evaluate_examples(shape, &params, &task.test);
    assert_eq!(correct, twin_correct);
    for (a, b) in losses.iter().zip(&twin_losses) {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
    }
}

#[test]
fn gpu_refuses_what_it_cannot_hold() {
    let Some(ctx) = gpu() else { return };
    let spec = TaskSpec {
        inputs: 3,
        classes: 40,
        clusters_per_class: 1,
        spread: 1.0,
        train: 50,
        test: 10,
    };
    let task = spec.generate(1);
    let shape = MlpShape {
        inputs: 3,
        hidden: 4,
        classes: 40,
    };
    let e = pollster::block_on(MlpTrainer::new(
        &ctx,
        dims(shape),
        8,
        examples(&task.train),
        examples(&task.test),
        4,
    ))
    .err()
    .expect("40 classes exceed MAX_CLASSES");
    assert!(e.to_string().contains("classes"), "{e}");
    // Labels out of range are refused before anything runs.
    let bad = Dataset {
        x: vec![0.0; 6],
        y: vec![0, 7],
        inputs: 3,
    };
    let e = pollster::block_on(MlpTrainer::new(
        &ctx,
        MlpDims {
            inputs: 3,
            hidden: 4,
            classes: 2,
        },
        8,
        examples(&bad),
        examples(&bad),
        4,
    ))
    .err()
    .expect("label 7 of 2 classes");
    assert!(e.to_string().contains("label 7"), "{e}");
    // A device with a tiny storage-binding limit is refused before
    // allocating.
    let adapter = pollster::block_on(GpuContext::adapter()).unwrap();
    let limits = wgpu::Limits {
        max_storage_buffer_binding_size: 1024,
        ..adapter.limits()
    };
    let small = pollster::block_on(GpuContext::with_limits(&adapter, limits)).unwrap();
    let task = TaskSpec::default().generate(1);
    let shape = QatProblem::new(1).shape();
    let e = pollster::block_on(MlpTrainer::new(
        &small,
        dims(shape),
        64,
        examples(&task.train),
        examples(&task.test),
        4,
    ))
    .err()
    .expect("too large for 1 KiB bindings");
    assert!(
        e.to_string().contains("max_storage_buffer_binding_size"),
        "{e}"
    );
}

#[test]
fn the_lab_runs_on_the_gpu_and_agrees_with_the_twin() {
    let Some(ctx) = gpu() else { return };
    let (spec, shape) = small_task();
    let problem = QatProblem {
        task: spec,
        hidden: shape.hidden,
        epochs: 6,
        qat_epochs: 3,
        ..QatProblem::new(6)
    };
    let backend = Backend::Gpu(std::rc::Rc::new(ctx));
    let gpu = pollster::block_on(run(&problem, &backend, &Quiet)).expect("GPU run");
    let cpu = cpu_run(&problem);
    let (g, c) = (&gpu.figures, &cpu.figures);
    assert_eq!(gpu.envelope.backend, "gpu");
    assert_eq!(gpu.envelope.kernel.key(), "mlp");
    assert_eq!(g.f32_train_loss.len(), 6);
    // One test example in 97 may flip between the two.
    assert!((g.f32_test_accuracy - c.f32_test_accuracy).abs() <= 1.0 / 97.0 + 1e-9);
    for (a, b) in g.f32_train_loss.iter().zip(&c.f32_train_loss) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
    for (a, b) in g.per_bits.iter().zip(&c.per_bits) {
        assert_eq!(a.bits, b.bits);
        assert_eq!(a.qat_train_loss.len(), 3);
        assert!((a.ptq_test_accuracy - b.ptq_test_accuracy).abs() <= 2.0 / 97.0 + 1e-9);
        assert!((a.qat_test_accuracy - b.qat_test_accuracy).abs() <= 3.0 / 97.0 + 1e-9);
    }
    // The cross-checks it reports: the quantized weights bit for bit.
    let env = &gpu.envelope;
    for (name, value) in &env.cross_checks {
        if name.contains("differing in bits") {
            assert_eq!(*value, 0.0, "{name}");
        }
    }
    assert!(env.gpu_cpu_max_abs_err.unwrap() < 1e-4, "{env:?}");
    assert!(env.time_ms > 0.0 && env.flops > 0);
    assert_eq!(env.stages.len(), 3);
}

// ---------------------------------------------------------------------------
// The lab on the CPU twin, and the claim
// ---------------------------------------------------------------------------

#[test]
fn bad_problems_get_clear_messages() {
    for (problem, expected) in [
        (
            QatProblem {
                hidden: 0,
                ..QatProblem::new(1)
            },
            "hidden = 0 is outside 4..=128",
        ),
        (
            QatProblem {
                epochs: 1,
                ..QatProblem::new(1)
            },
            "epochs = 1 is outside 2..=60",
        ),
        (
            QatProblem {
                bits: vec![1],
                ..QatProblem::new(1)
            },
            "1 bits is outside 2..=8",
        ),
    ] {
        let e = pollster::block_on(run(&problem, &Backend::Cpu { reason: None }, &Quiet))
            .expect_err("refused");
        assert!(matches!(e, RunError::Method(_)));
        assert_eq!(e.to_string(), expected);
    }
}

/// The section's claim over `seeds`: per seed (f32, PTQ, QAT) at 2 bits.
fn two_bit_results(seeds: std::ops::Range<u64>, straight_through: bool) -> Vec<(f64, f64, f64)> {
    seeds
        .map(|seed| {
            let mut problem = QatProblem::new(seed);
            problem.bits = vec![2];
            problem.hyper.straight_through = straight_through;
            let r = cpu_run(&problem).figures;
            let b = r.at(2).expect("2 bits");
            (
                r.f32_test_accuracy,
                b.ptq_test_accuracy,
                b.qat_test_accuracy,
            )
        })
        .collect()
}

/// Whether QAT beats PTQ at 2 bits as the section claims: on every seed QAT
/// gains at least 5 points over PTQ and recovers at least 70% of what PTQ
/// lost against f32.
fn claim_holds(results: &[(f64, f64, f64)]) -> Result<(), String> {
    for &(f, ptq, qat) in results {
        let lost = f - ptq;
        if qat - ptq < 0.05 || qat - ptq < 0.7 * lost {
            return Err(format!(
                "f32 {f:.3}, PTQ {ptq:.3}, QAT {qat:.3}: gain {:.3}, recovered {:.0}% of {lost:.3}",
                qat - ptq,
                100.0 * (qat - ptq) / lost
            ));
        }
    }
    Ok(())
}

#[test]
fn qat_beats_ptq_at_two_bits_on_the_seeded_task() {
    // Measured over seeds 1..=12 (`measure_the_claim_over_twelve_seeds`):
    // f32 0.974–0.987, 2-bit PTQ 0.634–0.859 (12–35 points lost), QAT gains
    // ≥ 11 points and recovers 79–99% of the loss; without the STE it
    // recovers 34–64%. Thresholds: a gain of 5 points and 70% recovered.
    // Three seeds here.
    let results = two_bit_results(1..4, true);
    claim_holds(&results).unwrap_or_else(|e| panic!("{e} in {results:?}"));
    // Power: without the straight-through estimator (only the biases
    // fine-tuned) the same check fails on the same seeds.
    let ablated = two_bit_results(1..4, false);
    assert!(
        claim_holds(&ablated).is_err(),
        "the check passes without the STE: {ablated:?}"
    );
}

#[test]
fn the_report_is_deterministic_and_complete() {
    let problem = QatProblem {
        epochs: 3,
        qat_epochs: 2,
        ..QatProblem::new(9)
    };
    let a = cpu_run(&problem);
    let b = cpu_run(&problem);
    assert_eq!(a.figures.params_digest, b.figures.params_digest);
    assert_eq!(a.figures.per_bits, {
        let mut p = b.figures.per_bits.clone();
        for (x, y) in p.iter_mut().zip(&a.figures.per_bits) {
            x.qat_epoch_ms = y.qat_epoch_ms;
        }
        p
    });
    let json = serde_json::to_value(&a).unwrap();
    for key in [
        "family",
        "method",
        "backend",
        "f32_test_accuracy",
        "per_bits",
        "f32_train_loss",
        "params_digest",
        "time_ms",
        "flops",
        "bytes",
    ] {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }
    assert_eq!(json["family"], "quantization");
    assert_eq!(json["per_bits"][2]["bits"], 2);
    assert_eq!(a.envelope.stages.len(), 3);
}

/// The measurement behind the claim's thresholds (ignored: run with
/// `cargo test --release --test qat -- --ignored --nocapture measure`):
/// f32, PTQ and QAT at every width over seeds 1..=12, with and without the
/// straight-through estimator.
#[test]
#[ignore = "a measurement, not a check: about 5 s in release"]
fn measure_the_claim_over_twelve_seeds() {
    for straight_through in [true, false] {
        let mut worst = (f64::INFINITY, f64::INFINITY, 0f64);
        for seed in 1..=12 {
            let mut problem = QatProblem::new(seed);
            problem.hyper.straight_through = straight_through;
            let r = cpu_run(&problem);
            let f = &r.figures;
            let mut line = format!(
                "STE {straight_through} seed {seed:2}: f32 {:.3}",
                f.f32_test_accuracy
            );
            for b in &f.per_bits {
                line += &format!(
                    " | {}b PTQ {:.3} QAT {:.3}",
                    b.bits, b.ptq_test_accuracy, b.qat_test_accuracy
                );
            }
            let b = f.at(2).expect("2 bits");
            let gain = b.qat_test_accuracy - b.ptq_test_accuracy;
            let recovered = gain / (f.f32_test_accuracy - b.ptq_test_accuracy);
            worst = (
                worst.0.min(gain),
                worst.1.min(recovered),
                worst.2.max(recovered),
            );
            println!(
                "{line} | gain {gain:.3}, recovered {:.0}% | {:.0} ms",
                100.0 * recovered,
                f.total_ms
            );
        }
        println!(
            "STE {straight_through}: smallest gain {:.3}, recovered {:.0}%..{:.0}%",
            worst.0,
            100.0 * worst.1,
            100.0 * worst.2
        );
    }
}

// ---------------------------------------------------------------------------
// flt qat
// ---------------------------------------------------------------------------

#[test]
fn flt_qat_prints_the_same_report_as_the_library() {
    let out = flt(&[
        "qat",
        "--backend",
        "cpu",
        "--seed",
        "4",
        "--epochs",
        "3",
        "--tune-epochs",
        "2",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let problem = QatProblem {
        epochs: 3,
        qat_epochs: 2,
        ..QatProblem::new(4)
    };
    let lib = cpu_run(&problem).figures;
    assert_eq!(cli["params_digest"], lib.params_digest.as_str());
    assert_eq!(cli["f32_test_accuracy"], lib.f32_test_accuracy);
    assert_eq!(
        cli["per_bits"][2]["qat_test_accuracy"],
        lib.per_bits[2].qat_test_accuracy
    );
    assert_eq!(cli["backend"], "cpu");
    // The table.
    let out = flt(&[
        "qat",
        "--backend",
        "cpu",
        "--epochs",
        "2",
        "--tune-epochs",
        "2",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for expected in ["bits", "PTQ", "QAT", "f32: test accuracy"] {
        assert!(text.contains(expected), "{text}");
    }
}

#[test]
fn flt_qat_refuses_bad_flags_with_status_2() {
    for (args, message) in [
        (
            vec!["qat", "--hidden", "2"],
            "--hidden: hidden=2 is below the minimum 4",
        ),
        (
            vec!["qat", "--epochs", "many"],
            "--epochs: epochs=many is not a number",
        ),
        (
            vec!["qat", "--backend", "tpu"],
            "--backend: backend=tpu is not auto, gpu or cpu",
        ),
        (vec!["qat", "--bits", "2"], "unexpected argument '--bits'"),
    ] {
        let out = flt(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

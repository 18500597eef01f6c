// A 2-layer MLP trained on the GPU: forward (matmul + bias + ReLU), softmax
// cross-entropy gradient, the backward matrix products, SGD with momentum,
// per-row symmetric fake quantization, the epoch's loss sum and evaluation.
// Host code: src/gpu/mlp.rs; the CPU twin (same loops, same summation
// order): src/compress/qat.rs.
//
// Parameters live in one flat buffer, weights as (out × in) row-major:
//   W1 [H × d] | b1 [H] | W2 [C × H] | b2 [C]
//
// Bindings (group 0):
//   0 p         uniform             StepParams
//   1 features  storage, read       examples × d
//   2 labels    storage, read       classes (u32)
//   3 w         storage, read       the weights the forward pass uses
//   4 hid       storage, read_write hidden activations, batch × H
//   5 dz        storage, read_write δz, batch × C
//   6 dh        storage, read_write δh, batch × H
//   7 grads     storage, read_write ∂L/∂θ, P
//   8 params    storage, read_write latent parameters θ, P
//   9 velocity  storage, read_write momentum, P
//  10 losses    storage, read_write per-example loss of the epoch
//  11 latent    storage, read       fake_quantize: the parameters to quantize
//  12 quantized storage, read_write fake_quantize: their quantized copy
//  13 history   storage, read_write Σ loss of each epoch
//  14 counter   storage, read_write epochs done (history's next slot)
//  15 outcome   storage, read_write evaluation: (correct, loss) per example

struct StepParams {
    inputs: u32,     // d
    hidden: u32,     // H
    classes: u32,    // C
    count: u32,      // examples in this batch (or evaluation set)
    offset: u32,     // first example of the batch
    levels: u32,     // fake_quantize: 2^(b-1) - 1
    total: u32,      // P, parameters
    examples: u32,   // examples per epoch (epoch_end)
    lr: f32,
    momentum: f32,
    inv_batch: f32,  // 1 / count, computed on the host
    freeze: u32,     // 1: weights get no update (QAT without the STE)
}

@group(0) @binding(0) var<uniform> p: StepParams;
@group(0) @binding(1) var<storage, read> features: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> hid: array<f32>;
@group(0) @binding(5) var<storage, read_write> dz: array<f32>;
@group(0) @binding(6) var<storage, read_write> dh: array<f32>;
@group(0) @binding(7) var<storage, read_write> grads: array<f32>;
@group(0) @binding(8) var<storage, read_write> params: array<f32>;
@group(0) @binding(9) var<storage, read_write> velocity: array<f32>;
@group(0) @binding(10) var<storage, read_write> losses: array<f32>;
@group(0) @binding(11) var<storage, read> latent: array<f32>;
@group(0) @binding(12) var<storage, read_write> quantized: array<f32>;
@group(0) @binding(13) var<storage, read_write> history: array<f32>;
@group(0) @binding(14) var<storage, read_write> counter: array<u32>;
@group(0) @binding(15) var<storage, read_write> outcome: array<f32>;

// Largest C a thread keeps its logits for (the host checks it).
const MAX_CLASSES: u32 = 32u;

fn b1_at() -> u32 {
    return p.hidden * p.inputs;
}

fn w2_at() -> u32 {
    return b1_at() + p.hidden;
}

fn b2_at() -> u32 {
    return w2_at() + p.classes * p.hidden;
}

// The flat index of a 2-D dispatch of 64-wide workgroups.
fn flat(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * 64u;
}

// h = ReLU(x·W1ᵀ + b1) for `count` examples from `offset`; one thread per
// (example, unit), the inner sum in increasing order as the twin does.
@compute @workgroup_size(64)
fn hidden_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = flat(gid, groups);
    if idx >= p.count * p.hidden {
        return;
    }
    let s = idx / p.hidden;
    let j = idx % p.hidden;
    let xs = (p.offset + s) * p.inputs;
    let row = j * p.inputs;
    var acc = 0.0;
    for (var i = 0u; i < p.inputs; i++) {
        acc += features[xs + i] * w[row + i];
    }
    hid[idx] = max(acc + w[b1_at() + j], 0.0);
}

// Logit k of batch example s: h·W2ᵀ + b2.
fn logit(s: u32, k: u32) -> f32 {
    let row = w2_at() + k * p.hidden;
    let hs = s * p.hidden;
    var acc = 0.0;
    for (var j = 0u; j < p.hidden; j++) {
        acc += hid[hs + j] * w[row + j];
    }
    return acc + w[b2_at() + k];
}

// Per-example loss and δz = (softmax(z) − onehot(y))/B; one thread per example.
@compute @workgroup_size(64)
fn output_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let s = flat(gid, groups);
    if s >= p.count {
        return;
    }
    var z: array<f32, MAX_CLASSES>;
    var top = -3.0e38;
    for (var k = 0u; k < p.classes; k++) {
        z[k] = logit(s, k);
        top = max(top, z[k]);
    }
    var sum = 0.0;
    for (var k = 0u; k < p.classes; k++) {
        sum += exp(z[k] - top);
    }
    let label = labels[p.offset + s];
    losses[p.offset + s] = log(sum) - (z[label] - top);
    for (var k = 0u; k < p.classes; k++) {
        let prob = exp(z[k] - top) / sum;
        let onehot = select(0.0, 1.0, k == label);
        dz[s * p.classes + k] = (prob - onehot) * p.inv_batch;
    }
}

// The two products that need δz, independent of each other, in one
// dispatch: threads 0 ..< C(H + 1) compute ∂L/∂W2 = δzᵀ·h and ∂L/∂b2 = Σ δz
// (one per class and unit or bias), the next B·H threads
// δh = (δz·W2) ⊙ 1[h > 0] (one per example and unit).
@compute @workgroup_size(64)
fn output_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = flat(gid, groups);
    let width = p.hidden + 1u;
    let grad_threads = p.classes * width;
    if idx < grad_threads {
        grad_output_layer(idx / width, idx % width);
    } else if idx < grad_threads + p.count * p.hidden {
        hidden_backward(idx - grad_threads);
    }
}

// ∂L/∂W2[k, j] (j < H) or ∂L/∂b2[k] (j = H), summed over the batch in order.
fn grad_output_layer(k: u32, j: u32) {
    var acc = 0.0;
    for (var s = 0u; s < p.count; s++) {
        var a = 1.0;
        if j < p.hidden {
            a = hid[s * p.hidden + j];
        }
        acc += dz[s * p.classes + k] * a;
    }
    if j < p.hidden {
        grads[w2_at() + k * p.hidden + j] = acc;
    } else {
        grads[b2_at() + k] = acc;
    }
}

// δh of batch element idx = s·H + j.
fn hidden_backward(idx: u32) {
    let s = idx / p.hidden;
    let j = idx % p.hidden;
    var acc = 0.0;
    for (var k = 0u; k < p.classes; k++) {
        acc += dz[s * p.classes + k] * w[w2_at() + k * p.hidden + j];
    }
    dh[idx] = select(0.0, acc, hid[idx] > 0.0);
}

// ∂L/∂W1 = δhᵀ·x and ∂L/∂b1 = Σ δh: one thread per (unit, input or bias).
@compute @workgroup_size(64)
fn grad_hidden_layer(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = flat(gid, groups);
    let width = p.inputs + 1u;
    if idx >= p.hidden * width {
        return;
    }
    let j = idx / width;
    let i = idx % width;
    var acc = 0.0;
    for (var s = 0u; s < p.count; s++) {
        var a = 1.0;
        if i < p.inputs {
            a = features[(p.offset + s) * p.inputs + i];
        }
        acc += dh[s * p.hidden + j] * a;
    }
    if i < p.inputs {
        grads[j * p.inputs + i] = acc;
    } else {
        grads[b1_at() + j] = acc;
    }
}

// Whether parameter t is a weight (W1 or W2), not a bias.
fn is_weight(t: u32) -> bool {
    return t < b1_at() || (t >= w2_at() && t < b2_at());
}

// v ← μ·v + g, θ ← θ − η·v; with `freeze`, weights keep their values.
@compute @workgroup_size(64)
fn sgd_update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = flat(gid, groups);
    if t >= p.total {
        return;
    }
    var g = grads[t];
    if p.freeze != 0u && is_weight(t) {
        g = 0.0;
    }
    let v = p.momentum * velocity[t] + g;
    velocity[t] = v;
    params[t] = params[t] - p.lr * v;
}

// a / b correctly rounded to nearest even, for finite a and normal b > 0
// (WGSL's `/` may be off by 2.5 ulp): the 24-bit significands are divided
// exactly by integer long division in base 2^8 (three u32 divisions).
// Subnormal a counts as zero (WGSL may flush it); a quotient below the
// normal range gives a signed zero — the callers only round it to an
// integer, where both are 0.
fn div_rn(a: f32, b: f32) -> f32 {
    let ab = bitcast<u32>(a);
    let bb = bitcast<u32>(b);
    let sign = ab & 0x80000000u;
    let ea = i32((ab >> 23u) & 0xffu);
    let eb = i32((bb >> 23u) & 0xffu);
    if ea == 0 {
        return bitcast<f32>(sign);
    }
    var ma = (ab & 0x7fffffu) | 0x800000u;
    let mb = (bb & 0x7fffffu) | 0x800000u;
    var e = ea - eb;
    if ma < mb {
        ma = ma << 1u;
        e = e - 1;
    }
    // q = floor(ma·2^23 / mb) in [2^23, 2^24): digits of 7, 8 and 8 bits,
    // each numerator below 2^32.
    let n1 = ma << 7u;
    let d1 = n1 / mb;
    let n2 = (n1 - d1 * mb) << 8u;
    let d2 = n2 / mb;
    let n3 = (n2 - d2 * mb) << 8u;
    let d3 = n3 / mb;
    let rem = n3 - d3 * mb;
    var q = (d1 << 16u) | (d2 << 8u) | d3;
    // Twice the remainder above mb rounds up; equal to mb is a tie.
    let twice = rem << 1u;
    if twice > mb || (twice == mb && (q & 1u) == 1u) {
        q = q + 1u;
        if q == 0x1000000u {
            q = 0x800000u;
            e = e + 1;
        }
    }
    let biased = e + 127;
    if biased <= 0 {
        return bitcast<f32>(sign);
    }
    if biased >= 255 {
        return bitcast<f32>(sign | 0x7f800000u);
    }
    return bitcast<f32>(sign | (u32(biased) << 23u) | (q & 0x7fffffu));
}

// Fake quantization, one thread per weight row (the rows of W1, then of
// W2; one more thread copies the biases):
// s = max|w|/L, ŵ = s·clamp(round_half_even(w/s), −L, L), a row with max|w|
// below the normal range is zero. Bit-identical to the twin.
@compute @workgroup_size(64)
fn fake_quantize(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    let rows = p.hidden + p.classes;
    if row > rows {
        return;
    }
    if row == rows {
        for (var j = 0u; j < p.hidden; j++) {
            quantized[b1_at() + j] = latent[b1_at() + j];
        }
        for (var k = 0u; k < p.classes; k++) {
            quantized[b2_at() + k] = latent[b2_at() + k];
        }
        return;
    }
    var start = row * p.inputs;
    var cols = p.inputs;
    if row >= p.hidden {
        start = w2_at() + (row - p.hidden) * p.hidden;
        cols = p.hidden;
    }
    var top = 0.0;
    for (var j = 0u; j < cols; j++) {
        top = max(top, abs(latent[start + j]));
    }
    let l = f32(p.levels);
    let s = div_rn(top, l);
    let zero = top < 1.17549435e-38;
    for (var j = 0u; j < cols; j++) {
        var v = 0.0;
        if !zero {
            v = s * clamp(round(div_rn(latent[start + j], s)), -l, l);
        }
        quantized[start + j] = v;
    }
}

// The epoch's Σ loss, summed in example order as the twin does, into the
// next history slot.
@compute @workgroup_size(1)
fn epoch_end() {
    var sum = 0.0;
    for (var s = 0u; s < p.examples; s++) {
        sum += losses[s];
    }
    let slot = counter[0];
    history[slot] = sum;
    counter[0] = slot + 1u;
}

// Evaluation after `hidden_forward` over the set: (1 if the first largest
// logit is the label else 0, loss) per example.
@compute @workgroup_size(64)
fn predict(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let s = flat(gid, groups);
    if s >= p.count {
        return;
    }
    var z: array<f32, MAX_CLASSES>;
    var top = -3.0e38;
    var best = 0u;
    for (var k = 0u; k < p.classes; k++) {
        z[k] = logit(s, k);
        if z[k] > top {
            top = z[k];
            best = k;
        }
    }
    var sum = 0.0;
    for (var k = 0u; k < p.classes; k++) {
        sum += exp(z[k] - top);
    }
    let label = labels[p.offset + s];
    outcome[2u * s] = select(0.0, 1.0, best == label);
    outcome[2u * s + 1u] = log(sum) - (z[label] - top);
}

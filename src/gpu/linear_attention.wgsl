// Kernel-based linear attention (survey §"Kernel-based Linear Attention",
// Eqs. 30–32): softmax(QKᵀ) ≈ φ(Q)φ(K)ᵀ, computed as φ(Q)·(φ(K)ᵀV) in O(n).
// Host code: src/gpu/linear_attention.rs; CPU twins: src/attention/kernelized.rs.
//
//   Oᵢ = φ(qᵢ)ᵀ Sᵢ / (φ(qᵢ)ᵀ zᵢ + ε),  Sᵢ = Σ_{j∈J(i)} φ(kⱼ) vⱼᵀ,  zᵢ = Σ_{j∈J(i)} φ(kⱼ)
//
// with J(i) all keys, or j ≤ i when causal. Feature maps φ:
//   0 Linear Transformer (Katharopoulos et al. 2020): elu(x) + 1, m = d;
//   1 Performer FAVOR+ (Choromanski et al. 2021): exp(ωᵀx − ‖x‖²/2)/√m with
//     x = q/d^¼ (and k/d^¼), stabilised by a per-row max for queries and one
//     global max for keys (both cancel in the ratio);
//   2 cosFormer (Qin et al. 2022): [relu(x)·cos(πi/2M), relu(x)·sin(πi/2M)],
//     m = 2d, M = n, so φ(qᵢ)·φ(kⱼ) = relu(qᵢ)·relu(kⱼ)·cos(π(i − j)/2M).
//
// Causal sums are a parallel scan: per chunk of C keys, Σ φ(k)vᵀ and Σ φ(k)
// (`chunk_sums`); an inclusive Hillis–Steele scan over chunks (`scan_step`,
// ⌈log₂ chunks⌉ passes); each row adds its chunk's earlier keys (`apply`).
//
// Bindings (group 0):
//   0 params  uniform             LinearParams
//   1 q       storage, read       n × d
//   2 k       storage, read       n × d
//   3 v       storage, read       n × dv
//   4 omega   storage, read       m × d random features (Performer)
//   5 phi_q   storage, read_write n × m
//   6 phi_k   storage, read_write n × m
//   7 sums    storage, read_write 2 × chunks × (m·dv + m) scan halves, then
//                                 row maxima (2n), the key max, 1/(den + ε) (n)
//   8 out     storage, read_write n × dv output

struct LinearParams {
    n: u32,
    d: u32,
    dv: u32,
    m: u32,
    chunk: u32,
    chunks: u32,
    causal: u32,
    kind: u32,        // a FEATURE_* code
    scan_offset: u32,
    scan_src: u32,
    final_half: u32,
    pad: u32,
    eps: f32,
    x_scale: f32,     // d^{-1/4}
    inv_sqrt_m: f32,
    pad2: f32,
}

@group(0) @binding(0) var<uniform> params: LinearParams;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> omega: array<f32>;
@group(0) @binding(5) var<storage, read_write> phi_q: array<f32>;
@group(0) @binding(6) var<storage, read_write> phi_k: array<f32>;
@group(0) @binding(7) var<storage, read_write> sums: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

const PI: f32 = 3.14159265358979;

// Feature maps: FeatureKind in src/data/codes.rs (a test checks the values).
const FEATURE_ELU: u32 = 0u;
const FEATURE_FAVOR: u32 = 1u;
const FEATURE_COS: u32 = 2u;

fn width() -> u32 {
    return params.m * params.dv + params.m;
}

fn half_base(h: u32) -> u32 {
    return h * params.chunks * width();
}

fn tail() -> u32 {
    return 2u * params.chunks * width();
}

fn input(which: u32, row: u32, col: u32) -> f32 {
    if which == 0u {
        return q[row * params.d + col];
    }
    return k[row * params.d + col];
}

fn store_phi(which: u32, row: u32, f: u32, value: f32) {
    if which == 0u {
        phi_q[row * params.m + f] = value;
    } else {
        phi_k[row * params.m + f] = value;
    }
}

fn load_phi(which: u32, row: u32, f: u32) -> f32 {
    if which == 0u {
        return phi_q[row * params.m + f];
    }
    return phi_k[row * params.m + f];
}

// Flat index of a thread in a 2-D grid of 64-thread workgroups (a 1-D grid
// would exceed 65535 workgroups at n = 16384 with m ≥ 128).
fn flat(wg: vec3<u32>, groups: vec3<u32>, lid: u32) -> u32 {
    return (wg.y * groups.x + wg.x) * 64u + lid;
}

// φ for every (query or key, row, feature); for Performer the raw exponent
// ωᵀx − ‖x‖²/2 (stabilised by `favor_exp`). 2-D grid of ⌈2·n·m / 64⌉ groups.
@compute @workgroup_size(64)
fn features(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let per = params.n * params.m;
    let idx = flat(wg, groups, lid);
    if idx >= 2u * per {
        return;
    }
    let which = idx / per;
    let row = (idx % per) / params.m;
    let f = idx % params.m;
    var value = 0.0;
    switch params.kind {
        case FEATURE_ELU: {
            let x = input(which, row, f);
            value = select(exp(x), x + 1.0, x > 0.0);
        }
        case FEATURE_FAVOR: {
            var proj = 0.0;
            var norm = 0.0;
            for (var e = 0u; e < params.d; e++) {
                let x = input(which, row, e) * params.x_scale;
                proj += omega[f * params.d + e] * x;
                norm += x * x;
            }
            value = proj - 0.5 * norm;
        }
        case FEATURE_COS, default: {
            let angle = PI * f32(row) / (2.0 * f32(params.n));
            let x = max(input(which, row, f % params.d), 0.0);
            value = select(x * sin(angle), x * cos(angle), f < params.d);
        }
    }
    store_phi(which, row, f, value);
}

// Performer: each row's largest exponent (queries and keys). Grid ⌈2n / 64⌉.
@compute @workgroup_size(64)
fn favor_row_max(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = gid.x;
    if idx >= 2u * params.n {
        return;
    }
    let which = idx / params.n;
    let row = idx % params.n;
    var best = -3.0e38;
    for (var f = 0u; f < params.m; f++) {
        best = max(best, load_phi(which, row, f));
    }
    sums[tail() + idx] = best;
}

var<workgroup> reduce: array<f32, 256>;

// Performer: the largest key exponent. One workgroup of 256 threads.
@compute @workgroup_size(256)
fn favor_key_max(@builtin(local_invocation_index) t: u32) {
    var best = -3.0e38;
    for (var row = t; row < params.n; row += 256u) {
        best = max(best, sums[tail() + params.n + row]);
    }
    reduce[t] = best;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s / 2u) {
        if t < s {
            reduce[t] = max(reduce[t], reduce[t + s]);
        }
        workgroupBarrier();
    }
    if t == 0u {
        sums[tail() + 2u * params.n] = reduce[0];
    }
}

// Performer: φ = exp(exponent − max)/√m; queries by their row's max, keys
// by the global one. 2-D grid of ⌈2·n·m / 64⌉ groups.
@compute @workgroup_size(64)
fn favor_exp(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let per = params.n * params.m;
    let idx = flat(wg, groups, lid);
    if idx >= 2u * per {
        return;
    }
    let which = idx / per;
    let row = (idx % per) / params.m;
    let f = idx % params.m;
    let shift = select(sums[tail() + 2u * params.n], sums[tail() + row], which == 0u);
    store_phi(which, row, f, exp(load_phi(which, row, f) - shift) * params.inv_sqrt_m);
}

// Per chunk c: S_c = Σ_{j∈c} φ(kⱼ)vⱼᵀ (m × dv) and z_c = Σ_{j∈c} φ(kⱼ),
// into scan half 0. Grid (⌈(m·dv + m)/64⌉, chunks).
@compute @workgroup_size(64)
fn chunk_sums(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = gid.x;
    let c = gid.y;
    if idx >= width() || c >= params.chunks {
        return;
    }
    let first = c * params.chunk;
    let end = min(first + params.chunk, params.n);
    var total = 0.0;
    if idx < params.m * params.dv {
        let f = idx / params.dv;
        let e = idx % params.dv;
        for (var j = first; j < end; j++) {
            total += phi_k[j * params.m + f] * v[j * params.dv + e];
        }
    } else {
        let f = idx - params.m * params.dv;
        for (var j = first; j < end; j++) {
            total += phi_k[j * params.m + f];
        }
    }
    sums[half_base(0u) + c * width() + idx] = total;
}

// One Hillis–Steele step: dst[c] = src[c] + src[c − offset] (c ≥ offset),
// from half `scan_src` to the other. Grid (⌈width/64⌉, chunks).
@compute @workgroup_size(64)
fn scan_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = gid.x;
    let c = gid.y;
    if idx >= width() || c >= params.chunks {
        return;
    }
    let src = half_base(params.scan_src);
    let dst = half_base(1u - params.scan_src);
    var value = sums[src + c * width() + idx];
    if c >= params.scan_offset {
        value += sums[src + (c - params.scan_offset) * width() + idx];
    }
    sums[dst + c * width() + idx] = value;
}

var<workgroup> phi_row: array<f32, 1024>;
var<workgroup> weights: array<f32, 256>;
var<workgroup> den_parts: array<f32, 64>;

// Oᵢ for one row per workgroup of 64 threads: the prefix (all keys, or the
// chunks before i's when causal) from the scan, plus, when causal, i's own
// chunk's keys j ≤ i computed directly. Writes 1/(den + ε) for the views.
@compute @workgroup_size(64)
fn apply(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let i = wg.x + wg.y * 65535u;
    if i >= params.n {
        return;
    }
    for (var f = t; f < params.m; f += 64u) {
        phi_row[f] = phi_q[i * params.m + f];
    }
    workgroupBarrier();
    let c = i / params.chunk;
    let scanned = half_base(params.final_half);
    var prefix = scanned + (params.chunks - 1u) * width();
    var has_prefix = true;
    var first = 0u;
    if params.causal != 0u {
        first = c * params.chunk;
        has_prefix = c > 0u;
        prefix = scanned + (c - select(0u, 1u, c > 0u)) * width();
    }
    // Own-chunk weights φ(qᵢ)·φ(kⱼ), j = first … i (causal only).
    let own = select(0u, i + 1u - first, params.causal != 0u);
    for (var s = t; s < own; s += 64u) {
        var w = 0.0;
        for (var f = 0u; f < params.m; f++) {
            w += phi_row[f] * phi_k[(first + s) * params.m + f];
        }
        weights[s] = w;
    }
    // The denominator φ(qᵢ)·z + Σ own weights, reduced over the threads.
    var part = 0.0;
    if has_prefix {
        for (var f = t; f < params.m; f += 64u) {
            part += phi_row[f] * sums[prefix + params.m * params.dv + f];
        }
    }
    den_parts[t] = part;
    workgroupBarrier();
    if t == 0u {
        var den = 0.0;
        for (var x = 0u; x < 64u; x++) {
            den += den_parts[x];
        }
        for (var s = 0u; s < own; s++) {
            den += weights[s];
        }
        den_parts[0] = 1.0 / (den + params.eps);
    }
    workgroupBarrier();
    let inv = den_parts[0];
    for (var e = t; e < params.dv; e += 64u) {
        var num = 0.0;
        if has_prefix {
            for (var f = 0u; f < params.m; f++) {
                num += phi_row[f] * sums[prefix + f * params.dv + e];
            }
        }
        for (var s = 0u; s < own; s++) {
            num += weights[s] * v[(first + s) * params.dv + e];
        }
        out[i * params.dv + e] = num * inv;
    }
    if t == 0u {
        sums[tail() + 2u * params.n + 1u + i] = inv;
    }
}

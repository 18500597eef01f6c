// Post-training quantization of a row-major matrix, the GPU side of
// `compress/quantize.rs` (whose header states the schemes):
//
//   Q(x) = clamp(round(x / s) + z, q_min, q_max),   x̂ = s · (Q(x) − z)
//
// in the same steps as the CPU twin:
//   stats       one workgroup per chunk of CHUNK elements of a group:
//               min, max, Σ|x|                       → partial
//   finish      one thread per group: the chunks merged in order → gstats;
//               with min-max clipping, the parameters (α = 1) → params
//   mse_local   (clip = mse, groups of one chunk) one workgroup per group:
//               the squared error of each candidate α, the least kept
//   mse_partial (clip = mse, longer groups) one workgroup per chunk: each
//               candidate's error → errs; mse_choose: one thread per group
//               sums them in chunk order and keeps the least
//   apply       one thread per element: x̂ with its group's parameters
//   copy        one thread per element: out = x (the bandwidth reference)
//
// Rounding is WGSL's round(): half to even, like the twin's
// round_ties_even. Float formats round as `formats.rs` does: the exponent
// from the bits, an exact scale by a power of two, round, and back.

const QUANT_INT: u32 = 0u;
const QUANT_BINARY: u32 = 1u;
const QUANT_SCALED_FLOAT: u32 = 2u;
const QUANT_CAST: u32 = 3u;

const CHUNK: u32 = 4096u;
const WG: u32 = 256u;
const CANDIDATES: u32 = 100u;
// Above any finite weight: the identity of min (and −BIG of max).
const BIG: f32 = 3.0e38;

struct Params {
    rows: u32,
    cols: u32,
    // Elements per full group along a row; groups per row; groups in all.
    glen: u32,
    per_row: u32,
    groups: u32,
    // Chunk slots per group (of the longest group).
    cpg: u32,
    kind: u32,
    asymmetric: u32,
    numel: u32,
    // Float format: mantissa bits, smallest exponent, saturating.
    man_bits: i32,
    min_exp: i32,
    saturating: u32,
    qmin: f32,
    qmax: f32,
    // Float format's largest finite value.
    fmax: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> data: array<f32>;
// Per chunk slot: min, max, Σ|x|.
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
// Per group: min, max, Σ|x|, count.
@group(0) @binding(3) var<storage, read_write> gstats: array<f32>;
// Per group: scale, zero, lo, hi, alpha, constant?, constant value, 0.
@group(0) @binding(4) var<storage, read_write> params: array<f32>;
// Per chunk slot and candidate: Σ(x − x̂)².
@group(0) @binding(5) var<storage, read_write> errs: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

var<workgroup> red_a: array<f32, WG>;
var<workgroup> red_b: array<f32, WG>;
var<workgroup> red_c: array<f32, WG>;

struct Range {
    start: u32,
    len: u32,
}

struct GroupParams {
    scale: f32,
    zero: f32,
    lo: f32,
    hi: f32,
    alpha: f32,
    constant: bool,
    value: f32,
}

fn group_range(g: u32) -> Range {
    if (p.groups == 1u) {
        return Range(0u, p.numel);
    }
    let row = g / p.per_row;
    let start = (g % p.per_row) * p.glen;
    return Range(row * p.cols + start, min(p.glen, p.cols - start));
}

fn group_of(i: u32) -> u32 {
    if (p.groups == 1u) {
        return 0u;
    }
    return (i / p.cols) * p.per_row + (i % p.cols) / p.glen;
}

// The elements of chunk slot `slot`: its group's range cut to the chunk.
fn chunk_range(slot: u32) -> Range {
    let r = group_range(slot / p.cpg);
    let offset = min((slot % p.cpg) * CHUNK, r.len);
    return Range(r.start + offset, min(CHUNK, r.len - offset));
}

fn flat_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// α of candidate k: 1, then (100 − k) · 0.01 as the twin computes it.
fn candidate_alpha(k: u32) -> f32 {
    if (k == 0u) {
        return 1.0;
    }
    return f32(CANDIDATES - k) * 0.01;
}

fn pow2(e: i32) -> f32 {
    if (e >= -126) {
        return bitcast<f32>(u32(e + 127) << 23u);
    }
    return bitcast<f32>(1u << u32(e + 149));
}

// The nearest value of the float format to v, ties to even (formats.rs,
// round_to).
fn round_float(v: f32) -> f32 {
    let a = abs(v);
    let e = max(i32((bitcast<u32>(a) >> 23u) & 0xffu) - 127, p.min_exp);
    let spacing = e - p.man_bits;
    let up = -spacing;
    var scaled: f32;
    if (up > 127) {
        scaled = a * pow2(up - 127) * pow2(127);
    } else {
        scaled = a * pow2(up);
    }
    var r = round(scaled) * pow2(spacing);
    if (r > p.fmax) {
        // Only the saturating formats reach here: the host refuses a cast
        // that overflows.
        r = p.fmax;
    }
    return select(r, -r, v < 0.0);
}

fn group_params(g: u32, alpha: f32) -> GroupParams {
    let mn = gstats[4u * g];
    let mx = gstats[4u * g + 1u];
    let sum_abs = gstats[4u * g + 2u];
    let count = gstats[4u * g + 3u];
    var gp = GroupParams(0.0, 0.0, 0.0, 0.0, alpha, false, 0.0);
    if (p.kind != QUANT_CAST && count > 0.0 && mn == mx) {
        gp.constant = true;
        gp.value = mn;
        gp.scale = abs(mn);
        gp.lo = mn;
        gp.hi = mn;
        return gp;
    }
    let amax = max(abs(mx), abs(mn));
    if (p.kind == QUANT_CAST) {
        gp.scale = 1.0;
    } else if (p.kind == QUANT_SCALED_FLOAT) {
        gp.hi = alpha * amax;
        gp.lo = -gp.hi;
        gp.scale = max(gp.hi / p.fmax, 1.17549435e-38);
    } else if (p.kind == QUANT_BINARY) {
        gp.scale = sum_abs / max(count, 1.0);
        gp.lo = -gp.scale;
        gp.hi = gp.scale;
    } else if (p.asymmetric == 0u) {
        gp.hi = alpha * amax;
        gp.lo = -gp.hi;
        gp.scale = max(gp.hi / p.qmax, 1.17549435e-38);
    } else {
        gp.lo = alpha * min(mn, 0.0);
        gp.hi = alpha * max(mx, 0.0);
        gp.scale = max((gp.hi - gp.lo) / p.qmax, 1.17549435e-38);
        gp.zero = clamp(round(-gp.lo / gp.scale), p.qmin, p.qmax);
    }
    return gp;
}

fn dequantize(v: f32, gp: GroupParams) -> f32 {
    if (gp.constant) {
        return gp.value;
    }
    if (p.kind == QUANT_CAST) {
        return round_float(v);
    }
    if (p.kind == QUANT_SCALED_FLOAT) {
        return gp.scale * round_float(v / gp.scale);
    }
    if (p.kind == QUANT_BINARY) {
        return select(-gp.scale, gp.scale, v >= 0.0);
    }
    let q = clamp(round(v / gp.scale) + gp.zero, p.qmin, p.qmax);
    return gp.scale * (q - gp.zero);
}

fn store_params(g: u32, gp: GroupParams) {
    params[8u * g] = gp.scale;
    params[8u * g + 1u] = gp.zero;
    params[8u * g + 2u] = gp.lo;
    params[8u * g + 3u] = gp.hi;
    params[8u * g + 4u] = gp.alpha;
    params[8u * g + 5u] = select(0.0, 1.0, gp.constant);
    params[8u * g + 6u] = gp.value;
    params[8u * g + 7u] = 0.0;
}

fn load_params(g: u32) -> GroupParams {
    return GroupParams(
        params[8u * g],
        params[8u * g + 1u],
        params[8u * g + 2u],
        params[8u * g + 3u],
        params[8u * g + 4u],
        params[8u * g + 5u] != 0.0,
        params[8u * g + 6u],
    );
}

// Tree reduction of red_a (min), red_b (max), red_c (sum) to element 0.
fn reduce_stats(t: u32) {
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if (t < stride) {
            red_a[t] = min(red_a[t], red_a[t + stride]);
            red_b[t] = max(red_b[t], red_b[t + stride]);
            red_c[t] = red_c[t] + red_c[t + stride];
        }
    }
    workgroupBarrier();
}

// Tree reduction of the sums in red_c to element 0.
fn reduce_sum(t: u32) {
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if (t < stride) {
            red_c[t] = red_c[t] + red_c[t + stride];
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(256)
fn stats(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let slot = flat_workgroup(wid, nwg);
    let slots = p.groups * p.cpg;
    var mn = BIG;
    var mx = -BIG;
    var sa = 0.0;
    if (slot < slots) {
        let r = chunk_range(slot);
        for (var i = t; i < r.len; i = i + WG) {
            let v = data[r.start + i];
            mn = min(mn, v);
            mx = max(mx, v);
            sa = sa + abs(v);
        }
    }
    red_a[t] = mn;
    red_b[t] = mx;
    red_c[t] = sa;
    reduce_stats(t);
    if (t == 0u && slot < slots) {
        partial[3u * slot] = red_a[0];
        partial[3u * slot + 1u] = red_b[0];
        partial[3u * slot + 2u] = red_c[0];
    }
}

@compute @workgroup_size(64)
fn finish(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = gid.x + gid.y * nwg.x * 64u;
    if (g >= p.groups) {
        return;
    }
    var mn = BIG;
    var mx = -BIG;
    var sa = 0.0;
    for (var c = 0u; c < p.cpg; c = c + 1u) {
        let slot = g * p.cpg + c;
        mn = min(mn, partial[3u * slot]);
        mx = max(mx, partial[3u * slot + 1u]);
        sa = sa + partial[3u * slot + 2u];
    }
    gstats[4u * g] = mn;
    gstats[4u * g + 1u] = mx;
    gstats[4u * g + 2u] = sa;
    gstats[4u * g + 3u] = f32(group_range(g).len);
    store_params(g, group_params(g, 1.0));
}

// The squared error of candidate k over the chunk's elements, summed over
// the workgroup into red_c[0].
fn candidate_error(r: Range, g: u32, k: u32, t: u32) {
    let gp = group_params(g, candidate_alpha(k));
    var e = 0.0;
    for (var i = t; i < r.len; i = i + WG) {
        let v = data[r.start + i];
        let d = v - dequantize(v, gp);
        e = e + d * d;
    }
    red_c[t] = e;
    reduce_sum(t);
}

@compute @workgroup_size(256)
fn mse_local(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let g = flat_workgroup(wid, nwg);
    let live = g < p.groups;
    let gg = select(0u, g, live);
    let r = group_range(gg);
    var best = 0u;
    var best_err = BIG;
    for (var k = 0u; k < CANDIDATES; k = k + 1u) {
        candidate_error(r, gg, k, t);
        let e = red_c[0];
        if (e < best_err) {
            best_err = e;
            best = k;
        }
        workgroupBarrier();
    }
    if (t == 0u && live) {
        store_params(g, group_params(g, candidate_alpha(best)));
    }
}

@compute @workgroup_size(256)
fn mse_partial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let slot = flat_workgroup(wid, nwg);
    let slots = p.groups * p.cpg;
    let live = slot < slots;
    let s = select(0u, slot, live);
    let r = chunk_range(s);
    for (var k = 0u; k < CANDIDATES; k = k + 1u) {
        candidate_error(r, s / p.cpg, k, t);
        if (t == 0u && live) {
            errs[s * CANDIDATES + k] = red_c[0];
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(64)
fn mse_choose(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = gid.x + gid.y * nwg.x * 64u;
    if (g >= p.groups) {
        return;
    }
    var best = 0u;
    var best_err = BIG;
    for (var k = 0u; k < CANDIDATES; k = k + 1u) {
        var e = 0.0;
        for (var c = 0u; c < p.cpg; c = c + 1u) {
            e = e + errs[(g * p.cpg + c) * CANDIDATES + k];
        }
        if (e < best_err) {
            best_err = e;
            best = k;
        }
    }
    store_params(g, group_params(g, candidate_alpha(best)));
}

@compute @workgroup_size(256)
fn apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.numel) {
        return;
    }
    out[i] = dequantize(data[i], load_params(group_of(i)));
}

@compute @workgroup_size(256)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.numel) {
        return;
    }
    out[i] = data[i];
}

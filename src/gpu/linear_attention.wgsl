// Kernel-based linear attention (survey §"Kernel-based Linear Attention",
// Eqs. 30–32): softmax(QKᵀ) ≈ φ(Q)φ(K)ᵀ, computed as φ(Q)·(φ(K)ᵀV) in O(n),
// over B·H heads at once. Host code: src/gpu/linear_attention.rs; CPU twins:
// src/attention/kernelized.rs; executed counts: src/gpu/work.rs.
//
//   Oᵢ = φ(qᵢ)ᵀ Sᵢ / (φ(qᵢ)ᵀ zᵢ + ε),  Sᵢ = Σ_{j∈J(i)} φ(kⱼ) vⱼᵀ,  zᵢ = Σ_{j∈J(i)} φ(kⱼ)
//
// with J(i) all keys, or j ≤ i when causal. Feature maps φ:
//   0 Linear Transformer (Katharopoulos et al. 2020): elu(x) + 1, m = d;
//   1 Performer FAVOR+ (Choromanski et al. 2021): exp(ωᵀx − ‖x‖²/2)/√m with
//     x = q/d^¼ (and k/d^¼), stabilised by each query row's largest exponent
//     and by one largest exponent over all keys of a head (both cancel in
//     the ratio);
//   2 cosFormer (Qin et al. 2022): [relu(x)·cos(πi/2M), relu(x)·sin(πi/2M)],
//     m = 2d, M = n, so φ(qᵢ)·φ(kⱼ) = relu(qᵢ)·relu(kⱼ)·cos(π(i − j)/2M).
//
// Layout: every head's Q, K are [B·H, n, d4], V and O [B·H, n, dv4]
// (head-major, rows padded with zeros to d4 = 4⌈d/4⌉ and dv4 so that every
// load is a vec4); the head comes from the dispatch (`locate`: the grid's y
// is head · fold + part, where a head's tiles overflow the x limit), never
// from a loop of launches. Features are indexed internally 0 … mp − 1
// (mp = 4⌈m/4⌉; cosFormer's sin half starts at d4); padded features are 0.
//
// Passes (each ONE dispatch over every head):
//   features    FAVOR+ only: the exponents ωᵀx − ‖x‖²/2 of Q and K as a
//               tiled GEMM (64 rows × 64 features per workgroup, 4 × 4 per
//               thread), with each query row's largest exponent per feature
//               tile and each key tile's largest, as partials;
//   key_max     FAVOR+ only: the largest key exponent of each head from the
//               partials (one workgroup per head);
//   chunk_sums  per chunk of keys c: S_c = φ(K_c)ᵀ V_c and z_c = Σ φ(K_c), a
//               batched GEMM (64 features × 64 columns per workgroup); φ is
//               computed as the tiles are loaded (elu + 1, cosFormer) or from
//               the exponents (FAVOR+);
//   fold        over the chunks of every state lane: causal, the exclusive
//               prefix Σ_{c' < c} S_c' in place; otherwise the total, into
//               chunk 0 (chunks are then splits of n, for parallelism);
//   apply       per 64 query rows: φ(Q)·P and φ(Q)·z from the prefix P of
//               the rows' chunk (a GEMM over the features), plus, causal,
//               the keys of the chunk up to the row, as masked scores
//               φ(Q)φ(K)ᵀ times V; then the division. Writes 1/(den + ε).
//   phi_view    (views only) head 0's φ(Q) and φ(K) in the twin's layout.
//
// Every workgroup is 256 threads and uses at most 8.3 KiB of workgroup
// memory (WebGPU's default limit is 16 KiB).
//
// Bindings (group 0):
//   0  params  uniform              LinearParams
//   1  q       storage, read        [B·H, n, d4]
//   2  k       storage, read        [B·H, n, d4]
//   3  v       storage, read        [B·H, n, dv4]
//   4  omega   storage, read        mp × d4 random features (FAVOR+)
//   5  expo_q  storage, read_write  [B·H, n, mp] query exponents (FAVOR+)
//   6  expo_k  storage, read_write  [B·H, n, mp] key exponents (FAVOR+)
//   7  state   storage, read_write  [B·H, chunks, lanes]: S (mp × dv4) then z (mp)
//   8  stats   storage, read_write  query-max partials, key-max partials,
//                                   key maxima, 1/(den + ε) per row
//   9  out     storage, read_write  [B·H, n, dv4]
//   10 view_q  storage, read_write  head 0's φ(Q), n × m (views)
//   11 view_k  storage, read_write  head 0's φ(K), n × m (views)

struct LinearParams {
    n: u32,
    d: u32,
    dv: u32,
    m: u32,
    d4: u32,
    dv4: u32,
    mp: u32,
    heads: u32,
    chunk: u32,      // keys per chunk (a multiple of 64)
    chunks: u32,
    causal: u32,
    kind: u32,       // a FEATURE_* code
    lanes: u32,      // state values per chunk: mp·dv4 + mp
    ftiles: u32,     // ⌈mp / 64⌉
    vtiles: u32,     // ⌈dv4 / 64⌉
    rtiles: u32,     // ⌈n / 64⌉
    qmax_at: u32,    // offsets into stats
    kpart_at: u32,
    kmax_at: u32,
    den_at: u32,
    eps: f32,
    x_scale: f32,    // d^{-1/4}
    inv_sqrt_m: f32,
    pad: f32,
}

@group(0) @binding(0) var<uniform> params: LinearParams;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> omega: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> expo_q: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> expo_k: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> state: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> stats: array<f32>;
@group(0) @binding(9) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> view_q: array<f32>;
@group(0) @binding(11) var<storage, read_write> view_k: array<f32>;

const PI: f32 = 3.14159265358979;
const LOWEST: f32 = -3.0e38;

// Feature maps: FeatureKind in src/data/codes.rs (a test checks the values).
const FEATURE_ELU: u32 = 0u;
const FEATURE_FAVOR: u32 = 1u;
const FEATURE_COS: u32 = 2u;

// Two 16 × 64 tiles of a GEMM step, as [k][column / 4] vec4s: entry
// k·16 + c holds columns 4c … 4c + 3 of row k.
var<workgroup> tile_a: array<vec4<f32>, 256>;
var<workgroup> tile_b: array<vec4<f32>, 256>;
// FAVOR+: the exponent shift of each of a tile's 64 query rows.
var<workgroup> row_shift: array<f32, 64>;
// apply: z of a step's 16 features.
var<workgroup> zs: array<vec4<f32>, 4>;

// A thread's 4 × 4 outputs (rows 4ty + i as acc_i, columns 4tx … 4tx + 3),
// and apply's 4 × 4 scores.
var<private> acc0: vec4<f32>;
var<private> acc1: vec4<f32>;
var<private> acc2: vec4<f32>;
var<private> acc3: vec4<f32>;
var<private> sc0: vec4<f32>;
var<private> sc1: vec4<f32>;
var<private> sc2: vec4<f32>;
var<private> sc3: vec4<f32>;
// The 64-thread kernels' 8 × 8 outputs: rows 32h + 4ty + i, columns
// 32g + 4tx + j (h, g < 2; i, j < 4; tx, ty < 8) in acc[(h·4 + i)·2 + g]
// (constant indices only, so that they stay in registers); the next
// step's four load slots of each operand.
var<private> acc: array<vec4<f32>, 16>;
var<private> next_a: array<vec4<f32>, 4>;
var<private> next_b: array<vec4<f32>, 4>;

// The workgroup's (head, tile): the grid's y is head · fold + part and a
// head's tiles are numbered part · groups.x + x.
fn locate(wg: vec3<u32>, groups: vec3<u32>) -> vec2<u32> {
    let fold = max(groups.y / params.heads, 1u);
    return vec2<u32>(wg.y / fold, (wg.y % fold) * groups.x + wg.x);
}

fn lanes4(f: u32) -> vec4<u32> {
    return vec4<u32>(f, f + 1u, f + 2u, f + 3u);
}

fn input4(side: u32, at: u32) -> vec4<f32> {
    if side == 0u {
        return q[at];
    }
    return k[at];
}

fn expo4(side: u32, at: u32) -> vec4<f32> {
    if side == 0u {
        return expo_q[at];
    }
    return expo_k[at];
}

// φ of row `row` of head `head` (side 0: queries, 1: keys) at internal
// features f … f + 3 (f % 4 = 0, f < mp, row < n); `shift` is FAVOR+'s
// exponent shift for this row.
fn phi4(side: u32, head: u32, row: u32, f: u32, shift: f32) -> vec4<f32> {
    let r = head * params.n + row;
    switch params.kind {
        case FEATURE_ELU: {
            let x = input4(side, (r * params.d4 + f) / 4u);
            let y = select(exp(x), x + 1.0, x > vec4<f32>(0.0));
            return select(vec4<f32>(0.0), y, lanes4(f) < vec4<u32>(params.d));
        }
        case FEATURE_FAVOR: {
            let t = expo4(side, (r * params.mp + f) / 4u);
            let y = exp(t - shift) * params.inv_sqrt_m;
            return select(vec4<f32>(0.0), y, lanes4(f) < vec4<u32>(params.m));
        }
        case FEATURE_COS, default: {
            let sin_half = f >= params.d4;
            let e = select(f, f - params.d4, sin_half);
            let x = max(input4(side, (r * params.d4 + e) / 4u), vec4<f32>(0.0));
            let angle = PI * f32(row) / (2.0 * f32(params.n));
            return x * select(cos(angle), sin(angle), sin_half);
        }
    }
}

// Stores 4 consecutive k (k0 … k0 + 3) of column c into tile_a / tile_b
// (a K-contiguous operand: consecutive threads, consecutive columns).
fn store_a_t(k0: u32, c: u32, x: vec4<f32>) {
    let at = k0 * 16u + c / 4u;
    let lane = c % 4u;
    tile_a[at][lane] = x.x;
    tile_a[at + 16u][lane] = x.y;
    tile_a[at + 32u][lane] = x.z;
    tile_a[at + 48u][lane] = x.w;
}

fn store_b_t(k0: u32, c: u32, x: vec4<f32>) {
    let at = k0 * 16u + c / 4u;
    let lane = c % 4u;
    tile_b[at][lane] = x.x;
    tile_b[at + 16u][lane] = x.y;
    tile_b[at + 32u][lane] = x.z;
    tile_b[at + 48u][lane] = x.w;
}

// One step's 16 rank-1 updates: acc_i += a[i]·b with a = tile_a[k][ty],
// b = tile_b[k][tx].
fn multiply(tx: u32, ty: u32) {
    for (var kk = 0u; kk < 16u; kk++) {
        let a = tile_a[kk * 16u + ty];
        let b = tile_b[kk * 16u + tx];
        acc0 += a.x * b;
        acc1 += a.y * b;
        acc2 += a.z * b;
        acc3 += a.w * b;
    }
}

// The same into the scores.
fn multiply_scores(tx: u32, ty: u32) {
    for (var kk = 0u; kk < 16u; kk++) {
        let a = tile_a[kk * 16u + ty];
        let b = tile_b[kk * 16u + tx];
        sc0 += a.x * b;
        sc1 += a.y * b;
        sc2 += a.z * b;
        sc3 += a.w * b;
    }
}

// One step's 16 rank-1 updates of a 64-thread workgroup's 8 × 8 outputs
// per thread: a warp reads tile_b's rows as 8 consecutive vec4s and
// tile_a's as broadcasts.
fn multiply8(tx: u32, ty: u32) {
    for (var kk = 0u; kk < 16u; kk++) {
        let row = kk * 16u;
        let a0 = tile_a[row + ty];
        let a1 = tile_a[row + ty + 8u];
        let b0 = tile_b[row + tx];
        let b1 = tile_b[row + tx + 8u];
        acc[0] += a0.x * b0;
        acc[1] += a0.x * b1;
        acc[2] += a0.y * b0;
        acc[3] += a0.y * b1;
        acc[4] += a0.z * b0;
        acc[5] += a0.z * b1;
        acc[6] += a0.w * b0;
        acc[7] += a0.w * b1;
        acc[8] += a1.x * b0;
        acc[9] += a1.x * b1;
        acc[10] += a1.y * b0;
        acc[11] += a1.y * b1;
        acc[12] += a1.z * b0;
        acc[13] += a1.z * b1;
        acc[14] += a1.w * b0;
        acc[15] += a1.w * b1;
    }
}

fn clear8() {
    acc = array<vec4<f32>, 16>();
}

fn largest(x: vec4<f32>) -> f32 {
    return max(max(x.x, x.y), max(x.z, x.w));
}

// ---------------------------------------------------------------------------
// FAVOR+ exponents. Tiles per head: 2 sides × rtiles × ftiles; a step loads
// 16 values of x (64 rows) and of ω (64 features) along d.

fn x_slot(side: u32, head: u32, row: u32, kk: u32) -> vec4<f32> {
    if row < params.n && kk < params.d4 {
        return input4(side, ((head * params.n + row) * params.d4 + kk) / 4u) * params.x_scale;
    }
    return vec4<f32>(0.0);
}

fn omega_slot(f: u32, kk: u32) -> vec4<f32> {
    if f < params.mp && kk < params.d4 {
        return omega[(f * params.d4 + kk) / 4u];
    }
    return vec4<f32>(0.0);
}

fn store_expo(side: u32, at: u32, x: vec4<f32>) {
    if side == 0u {
        expo_q[at] = x;
    } else {
        expo_k[at] = x;
    }
}

// Row r of the tile (its half norm in tile_a[r]): stores its exponents
// a − ‖x‖²/2 at features f … f + 3 (a0) and f + 32 … (a1) and returns their
// largest over the live features.
fn exponent_row(side: u32, base: u32, row0: u32, r: u32, f: u32, a0: vec4<f32>, a1: vec4<f32>) -> f32 {
    let half_norm = tile_a[r].x;
    let e0 = a0 - half_norm;
    let e1 = a1 - half_norm;
    let row = row0 + r;
    if row < params.n {
        if f < params.mp {
            store_expo(side, ((base + row) * params.mp + f) / 4u, e0);
        }
        if f + 32u < params.mp {
            store_expo(side, ((base + row) * params.mp + f + 32u) / 4u, e1);
        }
    }
    let low = vec4<f32>(LOWEST);
    let live0 = lanes4(f) < vec4<u32>(params.m);
    let live1 = lanes4(f + 32u) < vec4<u32>(params.m);
    return max(largest(select(low, e0, live0)), largest(select(low, e1, live1)));
}

@compute @workgroup_size(64)
fn features(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let at = locate(wg, groups);
    let head = at.x;
    let per_side = params.rtiles * params.ftiles;
    if at.y >= 2u * per_side {
        return;
    }
    let side = at.y / per_side;
    let rt = (at.y % per_side) / params.ftiles;
    let ft = at.y % params.ftiles;
    let row0 = rt * 64u;
    let f0 = ft * 64u;
    let tx = t % 8u;
    let ty = t / 8u;
    let steps = (params.d4 + 15u) / 16u;
    clear8();
    // Thread t loads row t of x and of ω, 16 values per step: its ‖x‖² is
    // whole.
    var norm = 0.0;
    next_a[0] = x_slot(side, head, row0 + t, 0u);
    next_b[0] = omega_slot(f0 + t, 0u);
    next_a[1] = x_slot(side, head, row0 + t, 4u);
    next_b[1] = omega_slot(f0 + t, 4u);
    next_a[2] = x_slot(side, head, row0 + t, 8u);
    next_b[2] = omega_slot(f0 + t, 8u);
    next_a[3] = x_slot(side, head, row0 + t, 12u);
    next_b[3] = omega_slot(f0 + t, 12u);
    for (var s = 0u; s < steps; s++) {
        norm += dot(next_a[0], next_a[0]) + dot(next_a[1], next_a[1]) + dot(next_a[2], next_a[2]) + dot(next_a[3], next_a[3]);
        workgroupBarrier();
        store_a_t(0u, t, next_a[0]);
        store_a_t(4u, t, next_a[1]);
        store_a_t(8u, t, next_a[2]);
        store_a_t(12u, t, next_a[3]);
        store_b_t(0u, t, next_b[0]);
        store_b_t(4u, t, next_b[1]);
        store_b_t(8u, t, next_b[2]);
        store_b_t(12u, t, next_b[3]);
        workgroupBarrier();
        if s + 1u < steps {
            let k0 = (s + 1u) * 16u;
            next_a[0] = x_slot(side, head, row0 + t, k0);
            next_b[0] = omega_slot(f0 + t, k0);
            next_a[1] = x_slot(side, head, row0 + t, k0 + 4u);
            next_b[1] = omega_slot(f0 + t, k0 + 4u);
            next_a[2] = x_slot(side, head, row0 + t, k0 + 8u);
            next_b[2] = omega_slot(f0 + t, k0 + 8u);
            next_a[3] = x_slot(side, head, row0 + t, k0 + 12u);
            next_b[3] = omega_slot(f0 + t, k0 + 12u);
        }
        multiply8(tx, ty);
    }
    workgroupBarrier();
    tile_a[t] = vec4<f32>(0.5 * norm);
    workgroupBarrier();
    // Exponents ωᵀx − ‖x‖²/2 of rows 32h + 4ty + i, features 32g + 4tx …;
    // each row's largest over the live features, per thread.
    let base = head * params.n;
    let r0 = 4u * ty;
    let maxima0 = vec4<f32>(
        exponent_row(side, base, row0, r0, f0 + 4u * tx, acc[0], acc[1]),
        exponent_row(side, base, row0, r0 + 1u, f0 + 4u * tx, acc[2], acc[3]),
        exponent_row(side, base, row0, r0 + 2u, f0 + 4u * tx, acc[4], acc[5]),
        exponent_row(side, base, row0, r0 + 3u, f0 + 4u * tx, acc[6], acc[7]),
    );
    let maxima1 = vec4<f32>(
        exponent_row(side, base, row0, r0 + 32u, f0 + 4u * tx, acc[8], acc[9]),
        exponent_row(side, base, row0, r0 + 33u, f0 + 4u * tx, acc[10], acc[11]),
        exponent_row(side, base, row0, r0 + 34u, f0 + 4u * tx, acc[12], acc[13]),
        exponent_row(side, base, row0, r0 + 35u, f0 + 4u * tx, acc[14], acc[15]),
    );
    workgroupBarrier();
    tile_b[tx * 16u + ty] = maxima0;
    tile_b[tx * 16u + 8u + ty] = maxima1;
    workgroupBarrier();
    // Row t's largest over the 8 feature groups.
    var best = LOWEST;
    for (var g = 0u; g < 8u; g++) {
        best = max(best, tile_b[g * 16u + t / 4u][t % 4u]);
    }
    let row = row0 + t;
    if side == 0u {
        if row < params.n {
            stats[params.qmax_at + (base + row) * params.ftiles + ft] = best;
        }
    } else {
        row_shift[t] = select(LOWEST, best, row < params.n);
    }
    workgroupBarrier();
    if side == 1u && t == 0u {
        var tile_best = LOWEST;
        for (var r = 0u; r < 64u; r++) {
            tile_best = max(tile_best, row_shift[r]);
        }
        stats[params.kpart_at + (head * params.rtiles + rt) * params.ftiles + ft] = tile_best;
    }
}

// FAVOR+: each head's largest key exponent from its tiles' partials. One
// workgroup per head.
@compute @workgroup_size(256)
fn key_max(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let head = locate(wg, groups).x;
    let count = params.rtiles * params.ftiles;
    var best = LOWEST;
    for (var i = t; i < count; i += 256u) {
        best = max(best, stats[params.kpart_at + head * count + i]);
    }
    tile_a[t] = vec4<f32>(best, 0.0, 0.0, 0.0);
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s / 2u) {
        if t < s {
            tile_a[t].x = max(tile_a[t].x, tile_a[t + s].x);
        }
        workgroupBarrier();
    }
    if t == 0u {
        stats[params.kmax_at + head] = tile_a[0].x;
    }
}

// ---------------------------------------------------------------------------
// Chunk sums. Tiles per head: chunks × ftiles × vtiles; a step loads 16 key
// rows of φ(K) (64 features) and of V (64 columns).

fn key_shift(head: u32) -> f32 {
    if params.kind == FEATURE_FAVOR {
        return stats[params.kmax_at + head];
    }
    return 0.0;
}

fn phi_k_slot(head: u32, j: u32, end: u32, f: u32, shift: f32) -> vec4<f32> {
    if j < end && f < params.mp {
        return phi4(1u, head, j, f, shift);
    }
    return vec4<f32>(0.0);
}

fn v_slot(head: u32, j: u32, end: u32, e: u32) -> vec4<f32> {
    if j < end && e < params.dv4 {
        return v[((head * params.n + j) * params.dv4 + e) / 4u];
    }
    return vec4<f32>(0.0);
}

// S row `fr` at columns col … col + 3 (a0) and col + 32 … (a1).
fn store_state_row(slot: u32, fr: u32, col: u32, a0: vec4<f32>, a1: vec4<f32>) {
    if fr < params.mp {
        if col < params.dv4 {
            state[(slot + fr * params.dv4 + col) / 4u] = a0;
        }
        if col + 32u < params.dv4 {
            state[(slot + fr * params.dv4 + col + 32u) / 4u] = a1;
        }
    }
}

@compute @workgroup_size(64)
fn chunk_sums(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let at = locate(wg, groups);
    let head = at.x;
    let per_chunk = params.ftiles * params.vtiles;
    if at.y >= params.chunks * per_chunk {
        return;
    }
    let c = at.y / per_chunk;
    let ft = (at.y % per_chunk) / params.vtiles;
    let vt = at.y % params.vtiles;
    let first = c * params.chunk;
    let end = min(first + params.chunk, params.n);
    let steps = (end - first + 15u) / 16u;
    let tx = t % 8u;
    let ty = t / 8u;
    // Load slot l of thread t: key row 4l + t/16 of the step, features
    // (columns of V) 4·(t % 16) … of the tile.
    let jr = t / 16u;
    let f = ft * 64u + 4u * (t % 16u);
    let e = vt * 64u + 4u * (t % 16u);
    let shift = key_shift(head);
    clear8();
    var z = vec4<f32>(0.0);
    next_a[0] = phi_k_slot(head, first + jr, end, f, shift);
    next_b[0] = v_slot(head, first + jr, end, e);
    next_a[1] = phi_k_slot(head, first + jr + 4u, end, f, shift);
    next_b[1] = v_slot(head, first + jr + 4u, end, e);
    next_a[2] = phi_k_slot(head, first + jr + 8u, end, f, shift);
    next_b[2] = v_slot(head, first + jr + 8u, end, e);
    next_a[3] = phi_k_slot(head, first + jr + 12u, end, f, shift);
    next_b[3] = v_slot(head, first + jr + 12u, end, e);
    for (var s = 0u; s < steps; s++) {
        z += next_a[0] + next_a[1] + next_a[2] + next_a[3];
        workgroupBarrier();
        tile_a[t] = next_a[0];
        tile_a[t + 64u] = next_a[1];
        tile_a[t + 128u] = next_a[2];
        tile_a[t + 192u] = next_a[3];
        tile_b[t] = next_b[0];
        tile_b[t + 64u] = next_b[1];
        tile_b[t + 128u] = next_b[2];
        tile_b[t + 192u] = next_b[3];
        workgroupBarrier();
        if s + 1u < steps {
            let j = first + (s + 1u) * 16u + jr;
            next_a[0] = phi_k_slot(head, j, end, f, shift);
            next_b[0] = v_slot(head, j, end, e);
            next_a[1] = phi_k_slot(head, j + 4u, end, f, shift);
            next_b[1] = v_slot(head, j + 4u, end, e);
            next_a[2] = phi_k_slot(head, j + 8u, end, f, shift);
            next_b[2] = v_slot(head, j + 8u, end, e);
            next_a[3] = phi_k_slot(head, j + 12u, end, f, shift);
            next_b[3] = v_slot(head, j + 12u, end, e);
        }
        multiply8(tx, ty);
    }
    let slot = (head * params.chunks + c) * params.lanes;
    let fr = ft * 64u + 4u * ty;
    let col = vt * 64u + 4u * tx;
    store_state_row(slot, fr, col, acc[0], acc[1]);
    store_state_row(slot, fr + 1u, col, acc[2], acc[3]);
    store_state_row(slot, fr + 2u, col, acc[4], acc[5]);
    store_state_row(slot, fr + 3u, col, acc[6], acc[7]);
    store_state_row(slot, fr + 32u, col, acc[8], acc[9]);
    store_state_row(slot, fr + 33u, col, acc[10], acc[11]);
    store_state_row(slot, fr + 34u, col, acc[12], acc[13]);
    store_state_row(slot, fr + 35u, col, acc[14], acc[15]);
    if vt == 0u {
        // z over the chunk: the 4 row-slots' partial sums of each vec4.
        workgroupBarrier();
        tile_a[t] = z;
        workgroupBarrier();
        if t < 16u {
            let total = tile_a[t] + tile_a[t + 16u] + tile_a[t + 32u] + tile_a[t + 48u];
            let fz = ft * 64u + 4u * t;
            if fz < params.mp {
                state[(slot + params.mp * params.dv4 + fz) / 4u] = total;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Fold over the chunks. Tiles per head: ⌈lanes / 32⌉; a workgroup is 8
// vec4 lanes × 32 slices of the chunks: each slice sums its chunks, then
// (causal) rewrites them as exclusive prefixes from the earlier slices'
// totals, or (otherwise) slice 0 writes the total into chunk 0.

@compute @workgroup_size(256)
fn fold(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let at = locate(wg, groups);
    let head = at.x;
    let lanes = params.lanes / 4u;
    if at.y >= (lanes + 7u) / 8u {
        return;
    }
    let lg = t % 8u;
    let slice = t / 8u;
    let lane = at.y * 8u + lg;
    let live = lane < lanes;
    let per = (params.chunks + 31u) / 32u;
    let c0 = min(slice * per, params.chunks);
    let c1 = min(c0 + per, params.chunks);
    let base = head * params.chunks * lanes + lane;
    var sum = vec4<f32>(0.0);
    if live {
        for (var c = c0; c < c1; c++) {
            sum += state[base + c * lanes];
        }
    }
    tile_a[t] = sum;
    workgroupBarrier();
    if !live {
        return;
    }
    if params.causal != 0u {
        var running = vec4<f32>(0.0);
        for (var s = 0u; s < slice; s++) {
            running += tile_a[s * 8u + lg];
        }
        for (var c = c0; c < c1; c++) {
            let x = state[base + c * lanes];
            state[base + c * lanes] = running;
            running += x;
        }
    } else if slice == 0u {
        var total = vec4<f32>(0.0);
        for (var s = 0u; s < 32u; s++) {
            total += tile_a[s * 8u + lg];
        }
        state[base] = total;
    }
}

// ---------------------------------------------------------------------------
// Output rows. Tiles per head: rtiles × vtiles; 64 query rows and 64 value
// columns per workgroup.

fn phi_q_slot(head: u32, row0: u32, c: u32, f: u32) -> vec4<f32> {
    let row = row0 + c;
    if row < params.n && f < params.mp {
        return phi4(0u, head, row, f, row_shift[c]);
    }
    return vec4<f32>(0.0);
}

fn prefix_slot(slot: u32, f: u32, e: u32) -> vec4<f32> {
    if f < params.mp && e < params.dv4 {
        return state[(slot + f * params.dv4 + e) / 4u];
    }
    return vec4<f32>(0.0);
}

fn z_slot(slot: u32, f: u32) -> vec4<f32> {
    if f < params.mp {
        return state[(slot + params.mp * params.dv4 + f) / 4u];
    }
    return vec4<f32>(0.0);
}

// The causal mask of a diagonal tile: key 4tx + j visible to row 4ty + i
// when j ≤ i + 4(ty − tx).
fn visible(tx: u32, ty: u32, i: u32) -> vec4<bool> {
    return lanes4(4u * tx) <= vec4<u32>(4u * ty + i);
}

@compute @workgroup_size(256)
fn apply_causal(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let at = locate(wg, groups);
    let head = at.x;
    if at.y >= params.rtiles * params.vtiles {
        return;
    }
    let qt = at.y / params.vtiles;
    let vt = at.y % params.vtiles;
    let row0 = qt * 64u;
    let col0 = vt * 64u;
    let tx = t % 16u;
    let ty = t / 16u;
    let c = t % 64u;
    let kq = 4u * (t / 64u);
    let favor = params.kind == FEATURE_FAVOR;
    if t < 64u {
        var shift = 0.0;
        if favor && row0 + t < params.n {
            shift = LOWEST;
            let at_row = params.qmax_at + (head * params.n + row0 + t) * params.ftiles;
            for (var ft = 0u; ft < params.ftiles; ft++) {
                shift = max(shift, stats[at_row + ft]);
            }
        }
        row_shift[t] = shift;
    }
    let kshift = key_shift(head);
    workgroupBarrier();
    acc0 = vec4<f32>(0.0);
    acc1 = vec4<f32>(0.0);
    acc2 = vec4<f32>(0.0);
    acc3 = vec4<f32>(0.0);
    var den = vec4<f32>(0.0);
    let causal = params.causal != 0u;
    let chunk = select(0u, row0 / params.chunk, causal);
    let steps = (params.mp + 15u) / 16u;
    let e = col0 + 4u * tx;
    if !causal || chunk > 0u {
        // φ(Q)·P and φ(Q)·z, P the prefix of the rows' chunk (the total
        // when not causal, folded into chunk 0).
        let slot = (head * params.chunks + chunk) * params.lanes;
        var pa = phi_q_slot(head, row0, c, kq);
        var pb = prefix_slot(slot, ty, e);
        var pz = vec4<f32>(0.0);
        if t < 4u {
            pz = z_slot(slot, 4u * t);
        }
        for (var s = 0u; s < steps; s++) {
            workgroupBarrier();
            store_a_t(kq, c, pa);
            tile_b[t] = pb;
            if t < 4u {
                zs[t] = pz;
            }
            workgroupBarrier();
            if s + 1u < steps {
                let f = (s + 1u) * 16u;
                pa = phi_q_slot(head, row0, c, f + kq);
                pb = prefix_slot(slot, f + ty, e);
                if t < 4u {
                    pz = z_slot(slot, f + 4u * t);
                }
            }
            multiply(tx, ty);
            // The denominator: feature tx of this step for the thread's rows.
            den += tile_a[tx * 16u + ty] * zs[tx / 4u][tx % 4u];
        }
    }
    if causal {
        // The chunk's keys up to each row: masked scores times V.
        for (var kt = chunk * params.chunk / 64u; kt <= qt; kt++) {
            let key0 = kt * 64u;
            sc0 = vec4<f32>(0.0);
            sc1 = vec4<f32>(0.0);
            sc2 = vec4<f32>(0.0);
            sc3 = vec4<f32>(0.0);
            var pa = phi_q_slot(head, row0, c, kq);
            var pk = phi_k_slot(head, key0 + c, params.n, kq, kshift);
            for (var s = 0u; s < steps; s++) {
                workgroupBarrier();
                store_a_t(kq, c, pa);
                store_b_t(kq, c, pk);
                workgroupBarrier();
                if s + 1u < steps {
                    let f = (s + 1u) * 16u + kq;
                    pa = phi_q_slot(head, row0, c, f);
                    pk = phi_k_slot(head, key0 + c, params.n, f, kshift);
                }
                multiply_scores(tx, ty);
            }
            if kt == qt {
                let zero = vec4<f32>(0.0);
                sc0 = select(zero, sc0, visible(tx, ty, 0u));
                sc1 = select(zero, sc1, visible(tx, ty, 1u));
                sc2 = select(zero, sc2, visible(tx, ty, 2u));
                sc3 = select(zero, sc3, visible(tx, ty, 3u));
            }
            let ones = vec4<f32>(1.0);
            den += vec4<f32>(dot(sc0, ones), dot(sc1, ones), dot(sc2, ones), dot(sc3, ones));
            // Scores × V, 16 keys at a time: the threads holding those
            // keys' scores put them in tile_a as [key][row].
            for (var part = 0u; part < 4u; part++) {
                workgroupBarrier();
                if tx / 4u == part {
                    let k0 = 4u * (tx % 4u);
                    tile_a[k0 * 16u + ty] = vec4<f32>(sc0.x, sc1.x, sc2.x, sc3.x);
                    tile_a[(k0 + 1u) * 16u + ty] = vec4<f32>(sc0.y, sc1.y, sc2.y, sc3.y);
                    tile_a[(k0 + 2u) * 16u + ty] = vec4<f32>(sc0.z, sc1.z, sc2.z, sc3.z);
                    tile_a[(k0 + 3u) * 16u + ty] = vec4<f32>(sc0.w, sc1.w, sc2.w, sc3.w);
                }
                tile_b[t] = v_slot(head, key0 + part * 16u + ty, params.n, e);
                workgroupBarrier();
                multiply(tx, ty);
            }
        }
    }
    // Each row's denominator: the 16 partial sums of its column threads.
    workgroupBarrier();
    tile_a[ty * 16u + tx] = den;
    workgroupBarrier();
    var total = vec4<f32>(0.0);
    for (var g = 0u; g < 16u; g++) {
        total += tile_a[ty * 16u + g];
    }
    let guard = total + params.eps;
    let r = row0 + 4u * ty;
    let base = head * params.n;
    if e < params.dv4 {
        if r < params.n {
            out[((base + r) * params.dv4 + e) / 4u] = acc0 / guard.x;
        }
        if r + 1u < params.n {
            out[((base + r + 1u) * params.dv4 + e) / 4u] = acc1 / guard.y;
        }
        if r + 2u < params.n {
            out[((base + r + 2u) * params.dv4 + e) / 4u] = acc2 / guard.z;
        }
        if r + 3u < params.n {
            out[((base + r + 3u) * params.dv4 + e) / 4u] = acc3 / guard.w;
        }
    }
    if vt == 0u && tx == 0u {
        for (var i = 0u; i < 4u; i++) {
            if r + i < params.n {
                stats[params.den_at + base + r + i] = 1.0 / guard[i];
            }
        }
    }
}

// Output row r at columns col … col + 3 (a0) and col + 32 … (a1), divided
// by den + ε; with `den_too`, 1/(den + ε) for the views.
fn output_row(base: u32, r: u32, col: u32, a0: vec4<f32>, a1: vec4<f32>, guard: f32, den_too: bool) {
    if r < params.n {
        if col < params.dv4 {
            out[((base + r) * params.dv4 + col) / 4u] = a0 / guard;
        }
        if col + 32u < params.dv4 {
            out[((base + r) * params.dv4 + col + 32u) / 4u] = a1 / guard;
        }
        if den_too {
            stats[params.den_at + base + r] = 1.0 / guard;
        }
    }
}

// Not causal: φ(Q)·S / (φ(Q)·z + ε) with S, z the totals (folded into
// chunk 0), 8 × 8 outputs per thread of a 64-thread workgroup. Tiles per
// head: rtiles × vtiles.
@compute @workgroup_size(64)
fn apply(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let at = locate(wg, groups);
    let head = at.x;
    if at.y >= params.rtiles * params.vtiles {
        return;
    }
    let qt = at.y / params.vtiles;
    let vt = at.y % params.vtiles;
    let row0 = qt * 64u;
    let col0 = vt * 64u;
    let tx = t % 8u;
    let ty = t / 8u;
    var shift = 0.0;
    if params.kind == FEATURE_FAVOR && row0 + t < params.n {
        shift = LOWEST;
        let at_row = params.qmax_at + (head * params.n + row0 + t) * params.ftiles;
        for (var ft = 0u; ft < params.ftiles; ft++) {
            shift = max(shift, stats[at_row + ft]);
        }
    }
    row_shift[t] = shift;
    workgroupBarrier();
    clear8();
    var den0 = vec4<f32>(0.0);
    var den1 = vec4<f32>(0.0);
    let steps = (params.mp + 15u) / 16u;
    let slot = head * params.chunks * params.lanes;
    // Slots: φ(Q) row t, features 4l …; S rows 4l + t/16, columns
    // col0 + 4·(t % 16) …; z (threads 0–3) features 4t ….
    let e = col0 + 4u * (t % 16u);
    let fr = t / 16u;
    next_a[0] = phi_q_slot(head, row0, t, 0u);
    next_b[0] = prefix_slot(slot, fr, e);
    next_a[1] = phi_q_slot(head, row0, t, 4u);
    next_b[1] = prefix_slot(slot, fr + 4u, e);
    next_a[2] = phi_q_slot(head, row0, t, 8u);
    next_b[2] = prefix_slot(slot, fr + 8u, e);
    next_a[3] = phi_q_slot(head, row0, t, 12u);
    next_b[3] = prefix_slot(slot, fr + 12u, e);
    var pz = vec4<f32>(0.0);
    if t < 4u {
        pz = z_slot(slot, 4u * t);
    }
    for (var s = 0u; s < steps; s++) {
        workgroupBarrier();
        store_a_t(0u, t, next_a[0]);
        store_a_t(4u, t, next_a[1]);
        store_a_t(8u, t, next_a[2]);
        store_a_t(12u, t, next_a[3]);
        tile_b[t] = next_b[0];
        tile_b[t + 64u] = next_b[1];
        tile_b[t + 128u] = next_b[2];
        tile_b[t + 192u] = next_b[3];
        if t < 4u {
            zs[t] = pz;
        }
        workgroupBarrier();
        if s + 1u < steps {
            let f = (s + 1u) * 16u;
            next_a[0] = phi_q_slot(head, row0, t, f);
            next_b[0] = prefix_slot(slot, f + fr, e);
            next_a[1] = phi_q_slot(head, row0, t, f + 4u);
            next_b[1] = prefix_slot(slot, f + fr + 4u, e);
            next_a[2] = phi_q_slot(head, row0, t, f + 8u);
            next_b[2] = prefix_slot(slot, f + fr + 8u, e);
            next_a[3] = phi_q_slot(head, row0, t, f + 12u);
            next_b[3] = prefix_slot(slot, f + fr + 12u, e);
            if t < 4u {
                pz = z_slot(slot, f + 4u * t);
            }
        }
        multiply8(tx, ty);
        // The denominator: features tx and tx + 8 of this step.
        let z0 = zs[tx / 4u][tx % 4u];
        let z1 = zs[2u + tx / 4u][tx % 4u];
        den0 += tile_a[tx * 16u + ty] * z0 + tile_a[(tx + 8u) * 16u + ty] * z1;
        den1 += tile_a[tx * 16u + ty + 8u] * z0 + tile_a[(tx + 8u) * 16u + ty + 8u] * z1;
    }
    // Each row's denominator: the 8 partial sums of its column threads.
    workgroupBarrier();
    tile_a[tx * 16u + ty] = den0;
    tile_a[tx * 16u + 8u + ty] = den1;
    workgroupBarrier();
    var total0 = vec4<f32>(0.0);
    var total1 = vec4<f32>(0.0);
    for (var g = 0u; g < 8u; g++) {
        total0 += tile_a[g * 16u + ty];
        total1 += tile_a[g * 16u + 8u + ty];
    }
    let guard0 = total0 + params.eps;
    let guard1 = total1 + params.eps;
    let base = head * params.n;
    let col = col0 + 4u * tx;
    let r = row0 + 4u * ty;
    let den_too = vt == 0u && tx == 0u;
    output_row(base, r, col, acc[0], acc[1], guard0.x, den_too);
    output_row(base, r + 1u, col, acc[2], acc[3], guard0.y, den_too);
    output_row(base, r + 2u, col, acc[4], acc[5], guard0.z, den_too);
    output_row(base, r + 3u, col, acc[6], acc[7], guard0.w, den_too);
    output_row(base, r + 32u, col, acc[8], acc[9], guard1.x, den_too);
    output_row(base, r + 33u, col, acc[10], acc[11], guard1.y, den_too);
    output_row(base, r + 34u, col, acc[12], acc[13], guard1.z, den_too);
    output_row(base, r + 35u, col, acc[14], acc[15], guard1.w, den_too);
}

// ---------------------------------------------------------------------------
// Views: head 0's φ(Q) and φ(K) in the twin's layout (n × m, cosFormer's
// sin half from column d). One thread per value, grid ⌈2nm / 256⌉ in 2-D.

@compute @workgroup_size(256)
fn phi_view(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let idx = (wg.y * groups.x + wg.x) * 256u + t;
    let per = params.n * params.m;
    if idx >= 2u * per {
        return;
    }
    let side = idx / per;
    let row = (idx % per) / params.m;
    let f = idx % params.m;
    var internal = f;
    if params.kind == FEATURE_COS && f >= params.d {
        internal = params.d4 + f - params.d;
    }
    var shift = 0.0;
    if params.kind == FEATURE_FAVOR {
        if side == 0u {
            shift = LOWEST;
            for (var ft = 0u; ft < params.ftiles; ft++) {
                shift = max(shift, stats[params.qmax_at + row * params.ftiles + ft]);
            }
        } else {
            shift = stats[params.kmax_at];
        }
    }
    let x = phi4(side, 0u, row, internal - internal % 4u, shift)[internal % 4u];
    if side == 0u {
        view_q[row * params.m + f] = x;
    } else {
        view_k[row * params.m + f] = x;
    }
}

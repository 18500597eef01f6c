// Exact softmax attention on the GPU — Vaswani et al. 2017, survey Eq. (3):
//   O = softmax(Q Kᵀ / √d) · V, row max subtracted; causal masks keys j > i.
// Host code and the CPU twin: src/gpu/full_attention.rs, src/attention/full.rs.
//
// Two paths:
//   * materialising: `scores` (S = QKᵀ·scale), `softmax_rows` (S → P in place),
//     `pv` (O = P·V), then `pool_matrix` pools P for the heatmap;
//   * fused: `fused` streams key tiles through an online softmax
//     (FlashAttention: Dao et al. 2022), O(n) memory, and writes each row's
//     max mᵢ and normaliser lᵢ so that `pool_stats` can pool the attention
//     matrix without ever storing it.
//
// Bindings (group 0), shared by every entry point:
//   0 params  uniform             Params
//   1 q       storage, read       n × d
//   2 k       storage, read       n_keys × d
//   3 v       storage, read       n_keys × dv
//   4 s       storage, read_write n × n_keys  scores, then P (materialising path)
//   5 o       storage, read_write n × dv      output
//   6 stats   storage, read_write n × 2       (mᵢ, lᵢ) per row (fused path)
//   7 map     storage, read_write cells²      pooled attention map

struct Params {
    n: u32,
    n_keys: u32,
    d: u32,
    dv: u32,
    scale: f32,
    causal: u32,
    factor: u32,
    cells: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> s: array<f32>;
@group(0) @binding(5) var<storage, read_write> o: array<f32>;
@group(0) @binding(6) var<storage, read_write> stats: array<f32>;
@group(0) @binding(7) var<storage, read_write> map: array<f32>;

// Stands for a masked score: exp(MASKED - m) is 0 for any finite m.
const MASKED: f32 = -3.0e38;
const TILE: u32 = 16u;

fn visible(i: u32, j: u32) -> bool {
    return j < params.n_keys && (params.causal == 0u || j <= i);
}

var<workgroup> tile_a: array<f32, 256>; // TILE × TILE
var<workgroup> tile_b: array<f32, 256>;

// S[i, j] = (qᵢ · kⱼ)·scale, MASKED where j is not visible from i.
// Workgroup (16, 16) computes a 16 × 16 tile of S; grid (⌈n_keys/16⌉, ⌈n/16⌉).
@compute @workgroup_size(16, 16)
fn scores(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let i = row0 + lid.y;
    let j = col0 + lid.x;
    // A causal tile wholly above the diagonal is masked: skip its products.
    let skip = params.causal != 0u && col0 > row0 + TILE - 1u;
    var acc = 0.0;
    if !skip {
        for (var t = 0u; t < params.d; t += TILE) {
            let c = t + lid.x;
            var a = 0.0;
            if i < params.n && c < params.d {
                a = q[i * params.d + c];
            }
            tile_a[lid.y * TILE + lid.x] = a;
            let key = col0 + lid.y;
            var b = 0.0;
            if key < params.n_keys && c < params.d {
                b = k[key * params.d + c];
            }
            tile_b[lid.y * TILE + lid.x] = b;
            workgroupBarrier();
            for (var e = 0u; e < TILE; e++) {
                acc += tile_a[lid.y * TILE + e] * tile_b[lid.x * TILE + e];
            }
            workgroupBarrier();
        }
    }
    if i < params.n && j < params.n_keys {
        s[i * params.n_keys + j] = select(MASKED, acc * params.scale, visible(i, j));
    }
}

const ROW_WG: u32 = 256u;
var<workgroup> reduce: array<f32, 256>; // ROW_WG

// Row softmax of S in place (S becomes P). One workgroup per row.
@compute @workgroup_size(256)
fn softmax_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let i = wg.x;
    let limit = select(params.n_keys, min(i + 1u, params.n_keys), params.causal != 0u);
    let base = i * params.n_keys;

    var m = MASKED;
    for (var j = t; j < limit; j += ROW_WG) {
        m = max(m, s[base + j]);
    }
    reduce[t] = m;
    workgroupBarrier();
    for (var stride = ROW_WG / 2u; stride > 0u; stride = stride / 2u) {
        if t < stride {
            reduce[t] = max(reduce[t], reduce[t + stride]);
        }
        workgroupBarrier();
    }
    let row_max = reduce[0];
    workgroupBarrier();

    var sum = 0.0;
    for (var j = t; j < limit; j += ROW_WG) {
        sum += exp(s[base + j] - row_max);
    }
    reduce[t] = sum;
    workgroupBarrier();
    for (var stride = ROW_WG / 2u; stride > 0u; stride = stride / 2u) {
        if t < stride {
            reduce[t] = reduce[t] + reduce[t + stride];
        }
        workgroupBarrier();
    }
    let inv = 1.0 / reduce[0];

    for (var j = t; j < params.n_keys; j += ROW_WG) {
        var p = 0.0;
        if j < limit {
            p = exp(s[base + j] - row_max) * inv;
        }
        s[base + j] = p;
    }
}

// O = P · V. Workgroup (16, 16) computes a 16 × 16 tile of O; grid (⌈dv/16⌉, ⌈n/16⌉).
@compute @workgroup_size(16, 16)
fn pv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = wg.y * TILE + lid.y;
    let e = wg.x * TILE + lid.x;
    // Causal: keys past the tile's last row have weight 0; stop there.
    let rows_end = min(wg.y * TILE + TILE, params.n);
    let key_end = select(params.n_keys, min(rows_end, params.n_keys), params.causal != 0u);
    var acc = 0.0;
    for (var t = 0u; t < key_end; t += TILE) {
        var a = 0.0;
        if i < params.n && t + lid.x < params.n_keys {
            a = s[i * params.n_keys + t + lid.x];
        }
        tile_a[lid.y * TILE + lid.x] = a;
        var b = 0.0;
        if t + lid.y < params.n_keys && e < params.dv {
            b = v[(t + lid.y) * params.dv + e];
        }
        tile_b[lid.y * TILE + lid.x] = b;
        workgroupBarrier();
        for (var c = 0u; c < TILE; c++) {
            acc += tile_a[lid.y * TILE + c] * tile_b[c * TILE + lid.x];
        }
        workgroupBarrier();
    }
    if i < params.n && e < params.dv {
        o[i * params.dv + e] = acc;
    }
}

// ---- fused online-softmax attention, simple form -------------------------
//
// The fallback when the register-tiled kernel below does not fit the
// adapter's workgroup memory (large d on a 16 KiB adapter).
// A workgroup of BC = 64 threads owns BR query rows. Key tiles of BC keys
// stream through: thread t scores key j0 + t against the BR staged queries,
// one thread per row updates the running max m, normaliser l and rescale
// factor α = exp(m_old − m_new), then thread t accumulates output columns
// t, t + 64, ... (DV_PER_THREAD of them) of every row: acc ← α·acc + Σ p·v.
// Per-thread state lives in fixed arrays of MAX_ACC registers; the host picks
// BR and DV_PER_THREAD so that BR ≤ MAX_ACC and BR·DV_PER_THREAD ≤ MAX_ACC.

override BR: u32 = 16u;            // query rows per workgroup
override D: u32 = 64u;             // query/key width d
override DV_PER_THREAD: u32 = 1u;  // ⌈dv / BC⌉
override Q_TILE_LEN: u32 = BR * D;
override P_TILE_LEN: u32 = BR * BC;
const BC: u32 = 64u;               // keys per tile = threads per workgroup
const MAX_ACC: u32 = 64u;

var<workgroup> q_tile: array<f32, Q_TILE_LEN>;
var<workgroup> p_tile: array<f32, P_TILE_LEN>;
var<workgroup> row_max: array<f32, MAX_ACC>;
var<workgroup> row_sum: array<f32, MAX_ACC>;
var<workgroup> row_rescale: array<f32, MAX_ACC>;

@compute @workgroup_size(64)
fn fused_simple(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let n = params.n;
    let n_keys = params.n_keys;
    let dv = params.dv;
    let i0 = wg.x * BR;

    for (var idx = t; idx < BR * D; idx += BC) {
        let i = i0 + idx / D;
        var x = 0.0;
        if i < n {
            x = q[i * D + idx % D];
        }
        q_tile[idx] = x;
    }
    if t < BR {
        row_max[t] = MASKED;
        row_sum[t] = 0.0;
    }
    var acc: array<f32, MAX_ACC>;
    workgroupBarrier();

    let rows_end = min(i0 + BR, n);
    let key_end = select(n_keys, min(rows_end, n_keys), params.causal != 0u);
    for (var j0 = 0u; j0 < key_end; j0 += BC) {
        // 1. Scores of key j against the BR queries.
        let j = j0 + t;
        // Zeroed explicitly every tile: relying on the implicit zero of a
        // `var` declared in a loop body gave stale sums on one compiler stack
        // (Chrome/Tint on SwiftShader).
        var score: array<f32, MAX_ACC>;
        for (var r = 0u; r < BR; r++) {
            score[r] = 0.0;
        }
        if j < n_keys {
            for (var c = 0u; c < D; c++) {
                let kc = k[j * D + c];
                for (var r = 0u; r < BR; r++) {
                    score[r] += q_tile[r * D + c] * kc;
                }
            }
        }
        for (var r = 0u; r < BR; r++) {
            p_tile[r * BC + t] = select(MASKED, score[r] * params.scale, visible(i0 + r, j));
        }
        workgroupBarrier();

        // 2. Online softmax, one thread per row.
        if t < BR {
            let m_old = row_max[t];
            var m_new = m_old;
            for (var c = 0u; c < BC; c++) {
                m_new = max(m_new, p_tile[t * BC + c]);
            }
            var sum = 0.0;
            for (var c = 0u; c < BC; c++) {
                let x = p_tile[t * BC + c];
                let p = select(0.0, exp(x - m_new), x > MASKED);
                p_tile[t * BC + c] = p;
                sum += p;
            }
            let alpha = select(1.0, exp(m_old - m_new), m_old > MASKED);
            row_sum[t] = row_sum[t] * alpha + sum;
            row_max[t] = m_new;
            row_rescale[t] = alpha;
        }
        workgroupBarrier();

        // 3. acc ← α·acc + P_tile · V_tile.
        for (var r = 0u; r < BR; r++) {
            let alpha = row_rescale[r];
            for (var u = 0u; u < DV_PER_THREAD; u++) {
                acc[r * DV_PER_THREAD + u] *= alpha;
            }
        }
        let tile_keys = min(BC, n_keys - j0);
        for (var c = 0u; c < tile_keys; c++) {
            for (var u = 0u; u < DV_PER_THREAD; u++) {
                let e = t + u * BC;
                if e < dv {
                    let ve = v[(j0 + c) * dv + e];
                    for (var r = 0u; r < BR; r++) {
                        acc[r * DV_PER_THREAD + u] += p_tile[r * BC + c] * ve;
                    }
                }
            }
        }
        workgroupBarrier();
    }

    for (var r = 0u; r < BR; r++) {
        let i = i0 + r;
        if i < n {
            let inv = 1.0 / row_sum[r];
            for (var u = 0u; u < DV_PER_THREAD; u++) {
                let e = t + u * BC;
                if e < dv {
                    o[i * dv + e] = acc[r * DV_PER_THREAD + u] * inv;
                }
            }
        }
    }
    if t < BR && i0 + t < n {
        stats[(i0 + t) * 2u] = row_max[t];
        stats[(i0 + t) * 2u + 1u] = row_sum[t];
    }
}

// ---- fused online-softmax attention, register-tiled ----------------------
//
// FlashAttention-2 (Dao 2023) without tensor cores, for d, dv ≤ 128.
// 128 threads form a 16 × 8 grid (ty = t / 8, tx = t % 8); a workgroup owns
// 32 query rows, staged once as vec4 rows in q4; tiles of 32 keys stream
// through one shared buffer kv4 (K for the scores, then V for the products):
//   1. thread (ty, tx) scores rows ty and ty + 16 against keys tx + 8b,
//      b = 0..3, into two vec4 registers;
//   2. each row's tile max and exp-sum are reduced over its 8 threads through
//      `part_max` / `part_sum`; all 8 keep the same running max m and
//      normaliser l in registers; α = exp(m_old − m_new);
//   3. thread (ty, tx) owns output rows ty, ty + 16 and vec4 columns tx + 8u,
//      u < U = ⌈dv/32⌉ ≤ 4, in named vec4 registers: acc ← α·acc + Σ_c p·v.
// Every register is a named variable (no indexed private arrays, which a
// driver may place in local memory). Shared rows are padded by one element
// against bank conflicts.

const TQ: u32 = 32u;                // query rows per workgroup
const TK: u32 = 32u;                // keys per tile
override D4: u32 = 16u;             // ⌈d / 4⌉ ≤ 32
override DV4: u32 = 16u;            // ⌈dv / 4⌉ ≤ 32
override U: u32 = (DV4 + 7u) / 8u;  // vec4 output columns per thread, ≤ 4
override Q_STRIDE: u32 = D4 + 1u;
override KV_STRIDE: u32 = max(D4, DV4) + 1u;
override Q4_LEN: u32 = TQ * Q_STRIDE;
override KV4_LEN: u32 = TK * KV_STRIDE;
const P_STRIDE: u32 = TK + 1u;

var<workgroup> q4: array<vec4<f32>, Q4_LEN>;
var<workgroup> kv4: array<vec4<f32>, KV4_LEN>;
var<workgroup> pt: array<f32, 1056>;       // TQ × P_STRIDE
var<workgroup> part_max: array<f32, 256>;  // TQ × 8
var<workgroup> part_sum: array<f32, 256>;

fn q_vec4(row: u32, e4: u32) -> vec4<f32> {
    let base = row * params.d + e4 * 4u;
    if e4 * 4u + 3u < params.d {
        return vec4<f32>(q[base], q[base + 1u], q[base + 2u], q[base + 3u]);
    }
    var x = vec4<f32>(0.0);
    for (var c = 0u; e4 * 4u + c < params.d && c < 4u; c++) {
        x[c] = q[base + c];
    }
    return x;
}

fn k_vec4(row: u32, e4: u32) -> vec4<f32> {
    let base = row * params.d + e4 * 4u;
    if e4 * 4u + 3u < params.d {
        return vec4<f32>(k[base], k[base + 1u], k[base + 2u], k[base + 3u]);
    }
    var x = vec4<f32>(0.0);
    for (var c = 0u; e4 * 4u + c < params.d && c < 4u; c++) {
        x[c] = k[base + c];
    }
    return x;
}

fn v_vec4(row: u32, e4: u32) -> vec4<f32> {
    let base = row * params.dv + e4 * 4u;
    if e4 * 4u + 3u < params.dv {
        return vec4<f32>(v[base], v[base + 1u], v[base + 2u], v[base + 3u]);
    }
    var x = vec4<f32>(0.0);
    for (var c = 0u; e4 * 4u + c < params.dv && c < 4u; c++) {
        x[c] = v[base + c];
    }
    return x;
}

// Scores of query row i against keys j0 + tx + 8b (b = 0..3), scaled, with
// masked entries set to MASKED.
fn mask_scores(raw: vec4<f32>, i: u32, keys: vec4<u32>) -> vec4<f32> {
    let inside = keys < vec4<u32>(params.n_keys);
    let allowed = select(keys <= vec4<u32>(i), vec4<bool>(true), params.causal == 0u);
    return select(vec4<f32>(MASKED), raw * params.scale, inside & allowed);
}

fn hmax(x: vec4<f32>) -> f32 {
    return max(max(x.x, x.y), max(x.z, x.w));
}

fn probabilities(x: vec4<f32>, m: f32) -> vec4<f32> {
    return select(vec4<f32>(0.0), exp(x - vec4<f32>(m)), x > vec4<f32>(MASKED));
}

// Writes output row i (vec4 column e4) if it exists.
fn store_output(i: u32, e4: u32, value: vec4<f32>) {
    if e4 >= DV4 {
        return;
    }
    for (var c = 0u; c < 4u; c++) {
        if e4 * 4u + c < params.dv {
            o[i * params.dv + e4 * 4u + c] = value[c];
        }
    }
}

@compute @workgroup_size(128)
fn fused(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let n = params.n;
    let n_keys = params.n_keys;
    let ty = t / 8u;
    let tx = t % 8u;
    let i0 = wg.x * TQ;
    let r0 = ty;
    let r1 = ty + 16u;

    for (var idx = t; idx < TQ * D4; idx += 128u) {
        let r = idx / D4;
        let e4 = idx % D4;
        var x = vec4<f32>(0.0);
        if i0 + r < n {
            x = q_vec4(i0 + r, e4);
        }
        q4[r * Q_STRIDE + e4] = x;
    }
    var run_max0 = MASKED;
    var run_max1 = MASKED;
    var run_sum0 = 0.0;
    var run_sum1 = 0.0;
    var acc00 = vec4<f32>(0.0);
    var acc01 = vec4<f32>(0.0);
    var acc02 = vec4<f32>(0.0);
    var acc03 = vec4<f32>(0.0);
    var acc10 = vec4<f32>(0.0);
    var acc11 = vec4<f32>(0.0);
    var acc12 = vec4<f32>(0.0);
    var acc13 = vec4<f32>(0.0);

    let rows_end = min(i0 + TQ, n);
    let key_end = select(n_keys, min(rows_end, n_keys), params.causal != 0u);
    for (var j0 = 0u; j0 < key_end; j0 += TK) {
        for (var idx = t; idx < TK * D4; idx += 128u) {
            let c = idx / D4;
            let e4 = idx % D4;
            var x = vec4<f32>(0.0);
            if j0 + c < n_keys {
                x = k_vec4(j0 + c, e4);
            }
            kv4[c * KV_STRIDE + e4] = x;
        }
        workgroupBarrier();

        // 1. Scores: s0 for row r0, s1 for row r1, keys tx + 8b.
        var s0 = vec4<f32>(0.0);
        var s1 = vec4<f32>(0.0);
        for (var e4 = 0u; e4 < D4; e4++) {
            let qa = q4[r0 * Q_STRIDE + e4];
            let qb = q4[r1 * Q_STRIDE + e4];
            let k0 = kv4[tx * KV_STRIDE + e4];
            let k1 = kv4[(tx + 8u) * KV_STRIDE + e4];
            let k2 = kv4[(tx + 16u) * KV_STRIDE + e4];
            let k3 = kv4[(tx + 24u) * KV_STRIDE + e4];
            s0 += vec4<f32>(dot(qa, k0), dot(qa, k1), dot(qa, k2), dot(qa, k3));
            s1 += vec4<f32>(dot(qb, k0), dot(qb, k1), dot(qb, k2), dot(qb, k3));
        }
        let keys = vec4<u32>(j0 + tx, j0 + tx + 8u, j0 + tx + 16u, j0 + tx + 24u);
        s0 = mask_scores(s0, i0 + r0, keys);
        s1 = mask_scores(s1, i0 + r1, keys);
        part_max[r0 * 8u + tx] = hmax(s0);
        part_max[r1 * 8u + tx] = hmax(s1);
        workgroupBarrier();

        // 2. Tile maxima (each of a row's 8 threads computes the same running
        //    max and normaliser, so they stay in registers), probabilities,
        //    partial sums; the V tile replaces the K tile, which is no longer read.
        var tile_max0 = MASKED;
        var tile_max1 = MASKED;
        for (var x = 0u; x < 8u; x++) {
            tile_max0 = max(tile_max0, part_max[r0 * 8u + x]);
            tile_max1 = max(tile_max1, part_max[r1 * 8u + x]);
        }
        let m0 = max(run_max0, tile_max0);
        let m1 = max(run_max1, tile_max1);
        let alpha0 = select(1.0, exp(run_max0 - m0), run_max0 > MASKED);
        let alpha1 = select(1.0, exp(run_max1 - m1), run_max1 > MASKED);
        run_max0 = m0;
        run_max1 = m1;
        let p0 = probabilities(s0, m0);
        let p1 = probabilities(s1, m1);
        for (var b = 0u; b < 4u; b++) {
            pt[r0 * P_STRIDE + tx + 8u * b] = p0[b];
            pt[r1 * P_STRIDE + tx + 8u * b] = p1[b];
        }
        part_sum[r0 * 8u + tx] = p0.x + p0.y + p0.z + p0.w;
        part_sum[r1 * 8u + tx] = p1.x + p1.y + p1.z + p1.w;
        for (var idx = t; idx < TK * DV4; idx += 128u) {
            let c = idx / DV4;
            let e4 = idx % DV4;
            var x = vec4<f32>(0.0);
            if j0 + c < n_keys {
                x = v_vec4(j0 + c, e4);
            }
            kv4[c * KV_STRIDE + e4] = x;
        }
        workgroupBarrier();
        var total0 = 0.0;
        var total1 = 0.0;
        for (var x = 0u; x < 8u; x++) {
            total0 += part_sum[r0 * 8u + x];
            total1 += part_sum[r1 * 8u + x];
        }
        run_sum0 = run_sum0 * alpha0 + total0;
        run_sum1 = run_sum1 * alpha1 + total1;

        // 3. acc ← α·acc + P·V.
        acc00 *= alpha0;
        acc01 *= alpha0;
        acc02 *= alpha0;
        acc03 *= alpha0;
        acc10 *= alpha1;
        acc11 *= alpha1;
        acc12 *= alpha1;
        acc13 *= alpha1;
        let tile_keys = min(TK, n_keys - j0);
        for (var c = 0u; c < tile_keys; c++) {
            let pa = pt[r0 * P_STRIDE + c];
            let pb = pt[r1 * P_STRIDE + c];
            let row = c * KV_STRIDE + tx;
            let v0 = kv4[row];
            acc00 += pa * v0;
            acc10 += pb * v0;
            if U > 1u {
                let v1 = kv4[row + 8u];
                acc01 += pa * v1;
                acc11 += pb * v1;
            }
            if U > 2u {
                let v2 = kv4[row + 16u];
                acc02 += pa * v2;
                acc12 += pb * v2;
            }
            if U > 3u {
                let v3 = kv4[row + 24u];
                acc03 += pa * v3;
                acc13 += pb * v3;
            }
        }
        workgroupBarrier();
    }

    if i0 + r0 < n {
        let inv = 1.0 / run_sum0;
        store_output(i0 + r0, tx, acc00 * inv);
        store_output(i0 + r0, tx + 8u, acc01 * inv);
        store_output(i0 + r0, tx + 16u, acc02 * inv);
        store_output(i0 + r0, tx + 24u, acc03 * inv);
        if tx == 0u {
            stats[(i0 + r0) * 2u] = run_max0;
            stats[(i0 + r0) * 2u + 1u] = run_sum0;
        }
    }
    if i0 + r1 < n {
        let inv = 1.0 / run_sum1;
        store_output(i0 + r1, tx, acc10 * inv);
        store_output(i0 + r1, tx + 8u, acc11 * inv);
        store_output(i0 + r1, tx + 16u, acc12 * inv);
        store_output(i0 + r1, tx + 24u, acc13 * inv);
        if tx == 0u {
            stats[(i0 + r1) * 2u] = run_max1;
            stats[(i0 + r1) * 2u + 1u] = run_sum1;
        }
    }
}

// Pooled attention map without the n × n matrix: cell (a, b) is the mean of
// Pᵢⱼ = exp(qᵢ·kⱼ·scale − mᵢ) / lᵢ over its block, recomputed from Q, K and
// the fused kernel's row statistics. One thread per cell; grid (⌈cells/16⌉)².
@compute @workgroup_size(16, 16)
fn pool_stats(@builtin(global_invocation_id) gid: vec3<u32>) {
    let a = gid.y;
    let b = gid.x;
    if a >= params.cells || b >= params.cells {
        return;
    }
    let f = params.factor;
    let i_end = min((a + 1u) * f, params.n);
    let j_end = min((b + 1u) * f, params.n_keys);
    var total = 0.0;
    for (var i = a * f; i < i_end; i++) {
        let m = stats[i * 2u];
        let inv = 1.0 / stats[i * 2u + 1u];
        for (var j = b * f; j < j_end; j++) {
            if visible(i, j) {
                var dot = 0.0;
                for (var c = 0u; c < params.d; c++) {
                    dot += q[i * params.d + c] * k[j * params.d + c];
                }
                total += exp(dot * params.scale - m) * inv;
            }
        }
    }
    map[a * params.cells + b] = total / f32((i_end - a * f) * (j_end - b * f));
}

// Pooled attention map from the materialised P (n × n_keys in `s`).
@compute @workgroup_size(16, 16)
fn pool_matrix(@builtin(global_invocation_id) gid: vec3<u32>) {
    let a = gid.y;
    let b = gid.x;
    if a >= params.cells || b >= params.cells {
        return;
    }
    let f = params.factor;
    let i_end = min((a + 1u) * f, params.n);
    let j_end = min((b + 1u) * f, params.n_keys);
    var total = 0.0;
    for (var i = a * f; i < i_end; i++) {
        for (var j = b * f; j < j_end; j++) {
            total += s[i * params.n_keys + j];
        }
    }
    map[a * params.cells + b] = total / f32((i_end - a * f) * (j_end - b * f));
}

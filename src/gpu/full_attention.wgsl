// Exact softmax attention on the GPU — Vaswani et al. 2017, survey Eq. (3):
//   O = softmax(Q Kᵀ / √d) · V, row max subtracted; causal masks keys j > i.
// Host code and the CPU twin: src/gpu/full_attention.rs, src/attention/full.rs.
//
// Two paths:
//   * materialising: `scores` (S = QKᵀ·scale), `softmax_rows` (S → P in place),
//     `pv` (O = P·V), then `pool_matrix` pools P for the heatmap;
//   * fused, simple form: `fused_simple` streams key tiles through an online
//     softmax (FlashAttention: Dao et al. 2022), O(n) memory, and writes each
//     row's max mᵢ and normaliser lᵢ so that `pool_stats` can pool the
//     attention matrix without ever storing it. It is the fallback of the
//     register-tiled kernel in tiled_attention.wgsl, which every method shares.
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

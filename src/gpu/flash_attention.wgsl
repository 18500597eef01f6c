// Exact softmax attention, FlashAttention-2 style (Dao 2023, "FlashAttention-2:
// Faster Attention with Better Parallelism and Work Partitioning", Alg. 1):
// O = softmax(QKᵀ/√d)·V for B·H heads at once, never storing the n × n matrix.
// Host code: src/gpu/flash_attention.rs. The reduction across the threads of
// a row comes from flash_attention.subgroups.wgsl (subgroup shuffles) or
// flash_attention.shared.wgsl (workgroup memory), appended to this text.
//
// Grid: (query blocks, B·H). A workgroup owns BR = TR·RM query rows of one
// head (head = workgroup_id.y) and walks the key tiles of BC = TC·RN keys —
// causal: only up to the diagonal, and only the tiles that cross it are
// masked; banded (window W < NO_WINDOW: key j visible to query i only when
// |i − j| ≤ W, Longformer's sliding window): only the tiles that touch the
// band, the ones crossing its edges masked. Per tile, K and V are staged in workgroup memory; thread (ty, tx)
// of the TR × TC grid computes the RM × RN scores of rows ty + TR·i and keys
// tx + TC·j in registers (S = QKᵀ), the row maxima are reduced across the TC
// threads of a row, and the online softmax rescales once per tile (FA2):
//   m' = max(m, maxⱼ sᵢⱼ),  l' = 2^{m−m'}·l + Σⱼ 2^{sᵢⱼ−m'},
//   acc' = 2^{m−m'}·acc + Σⱼ 2^{sᵢⱼ−m'}·vⱼ,
// with logits in base 2 (Q is scaled by log₂(e)/√d once, as it is staged), l
// kept per thread and reduced once at the end, and O = acc / l. P goes
// through workgroup memory to the P·V product, where the same thread owns
// rows ty + TR·i and the vec4 output columns tx + TC·c: RM × 4·RD4 outputs in
// registers.
//
// Layout: Q, K [B·H, n, D4] and V, O [B·H, n, DV4] in vec4s (rows padded by
// the host to a multiple of 4 columns), stats [B·H, n] as (m, l) with m in
// natural-log units of scale·q·k (what full_attention.wgsl's pool_stats reads).
//
// Bindings (group 0):
//   0 params  uniform             Params
//   1 q       storage, read       B·H × n × D4 vec4
//   2 k       storage, read       B·H × n_keys × D4 vec4
//   3 v       storage, read       B·H × n_keys × DV4 vec4
//   4 o       storage, read_write B·H × n × DV4 vec4
//   5 stats   storage, read_write B·H × n (m, l)

struct Params {
    n: u32,           // query rows per head
    n_keys: u32,      // key rows per head
    causal: u32,      // 1: key j is visible to query i only when j ≤ i
    blocks: u32,      // query blocks per head, ⌈n / BR⌉
    scale_log2: f32,  // log₂(e)/√d: logits in base 2
    window: u32,      // W: keys with |i − j| > W masked; NO_WINDOW: none
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> o: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> stats: array<vec2<f32>>;

// Stands for a masked score: 2^(MASKED − m) is 0 for any finite m.
const MASKED: f32 = -3.0e38;
const LN2: f32 = 0.6931471805599453;
const NO_WINDOW: u32 = 0xffffffffu;

// The configuration (FlashConfig in flash_attention.rs; the host checks it
// against the private arrays' sizes below and the adapter's limits).
override TR: u32 = 16u;  // thread rows
override TC: u32 = 8u;   // thread columns (threads sharing a row; a multiple of 4)
override RM: u32 = 4u;   // query rows per thread (≤ 8)
override RN: u32 = 4u;   // keys per thread per tile (≤ 8, RM·RN ≤ 64)
override D4: u32 = 16u;  // ⌈d/4⌉
override DV4: u32 = 16u; // ⌈dᵥ/4⌉
override RD4: u32 = 2u;  // vec4 output columns per thread, ⌈DV4/TC⌉ (RM·RD4 ≤ 32)
override WG: u32 = 128u; // TR·TC
// Prefetch the next K and V tiles into registers (PF_K = ⌈BC·D4/WG⌉ and
// PF_V = ⌈BC·DV4/WG⌉ vec4s per thread, ≤ 8 each) while this one is used.
override PREFETCH: bool = true;
override PF_K: u32 = 4u;
override PF_V: u32 = 4u;
// Workgroup arrays (vec4s): the Q block `qs`, the V tile `vs` (BC·DV4) and
// `kp`, which holds the K tile and the P tile. Padded layout: Q rows BR·(D4+1),
// K rows BC·(D4+1) and after them (from P_BASE) the P tile BR·(BC/4+1); the
// odd row strides keep the vec4 reads of different rows in different banks.
// COMPACT layout: rows unpadded, their vec4 slots permuted instead (slot
// e ^ (row & SWZ) for Q and K, c ^ ((row·TC/4) & PSWZ) for P; each mask + 1
// divides its row length, so a slot stays in its row), and P written over
// the K tile (P_BASE = 0) once every thread has read it: 64 × 64 tiles fit
// 48 KiB that way at d = 64.
override COMPACT: bool = false;
override SWZ: u32 = 0u;
override PSWZ: u32 = 0u;
override P_BASE: u32 = 544u;
override QS_LEN: u32 = 1088u;
override KP_LEN: u32 = 1120u;
override VS_LEN: u32 = 512u;

var<workgroup> qs: array<vec4<f32>, QS_LEN>;
var<workgroup> kp: array<vec4<f32>, KP_LEN>;
var<workgroup> vs: array<vec4<f32>, VS_LEN>;

// The slot of vec4 e of row `row` of the Q block or the K tile.
fn qk_slot(row: u32, e: u32) -> u32 {
    if COMPACT {
        return row * D4 + (e ^ (row & SWZ));
    }
    return row * (D4 + 1u) + e;
}

// The slot of vec4 c (keys 4c … 4c + 3) of row `row` of the P tile.
fn p_slot(row: u32, c: u32) -> u32 {
    if COMPACT {
        return P_BASE + row * (TC * RN / 4u) + (c ^ ((row * (TC / 4u)) & PSWZ));
    }
    return P_BASE + row * (TC * RN / 4u + 1u) + c;
}

// Element `idx` (row idx / D4, vec4 idx % D4) of the K tile starting at key
// j0, zero past the last key or past the tile.
fn k_element(j0: u32, idx: u32, k_base: u32) -> vec4<f32> {
    let c = idx / D4;
    if idx < TC * RN * D4 && j0 + c < params.n_keys {
        return k[k_base + (j0 + c) * D4 + idx % D4];
    }
    return vec4<f32>(0.0);
}

// Element `idx` of the V tile starting at key j0 (rows of DV4 vec4s).
fn v_element(j0: u32, idx: u32, v_base: u32) -> vec4<f32> {
    if idx < TC * RN * DV4 && j0 + idx / DV4 < params.n_keys {
        return v[v_base + j0 * DV4 + idx];
    }
    return vec4<f32>(0.0);
}

// Loads the K and V tiles starting at key j0 into the workgroup arrays.
fn stage_kv(j0: u32, t: u32, k_base: u32, v_base: u32) {
    let bc = TC * RN;
    for (var idx = t; idx < bc * D4; idx += WG) {
        kp[qk_slot(idx / D4, idx % D4)] = k_element(j0, idx, k_base);
    }
    for (var idx = t; idx < bc * DV4; idx += WG) {
        vs[idx] = v_element(j0, idx, v_base);
    }
}

@compute @workgroup_size(WG)
fn flash(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let br = TR * RM;
    let bc = TC * RN;
    let n = params.n;
    let n_keys = params.n_keys;
    let causal = params.causal != 0u;
    let head = wg.y;
    // Causal blocks near the end see the most keys: they start first.
    let block = select(wg.x, params.blocks - 1u - wg.x, causal);
    let i0 = block * br;
    let q_base = head * n * D4;
    let k_base = head * n_keys * D4;
    let v_base = head * n_keys * DV4;
    let ty = t / TC;
    let tx = t % TC;

    for (var idx = t; idx < br * D4; idx += WG) {
        let r = idx / D4;
        let e4 = idx % D4;
        var x = vec4<f32>(0.0);
        if i0 + r < n {
            x = q[q_base + (i0 + r) * D4 + e4] * params.scale_log2;
        }
        qs[qk_slot(r, e4)] = x;
    }

    var m: array<f32, 8>;
    var l: array<f32, 8>;
    var acc: array<vec4<f32>, 32>;
    for (var i = 0u; i < RM; i++) {
        m[i] = MASKED;
        l[i] = 0.0;
        for (var c = 0u; c < RD4; c++) {
            acc[i * RD4 + c] = vec4<f32>(0.0);
        }
    }

    let w = params.window;
    let banded = w != NO_WINDOW;
    var key_end = n_keys;
    if causal {
        key_end = min(n_keys, i0 + br);
    }
    var first = 0u;
    if banded {
        // Keys i0 − W … i0 + BR − 1 + W (W < n here: the host sends
        // NO_WINDOW for a band as wide as the sequence).
        key_end = min(key_end, i0 + br + w);
        first = select(0u, (i0 - w) / bc, i0 > w);
    }
    let tiles = (key_end + bc - 1u) / bc;
    stage_kv(first * bc, t, k_base, v_base);
    for (var tile = first; tile < tiles; tile++) {
        let j0 = tile * bc;
        workgroupBarrier();
        // With PREFETCH, the next tile's K and V rows are loaded into
        // registers now and stored after this tile's last read of the
        // workgroup arrays: their latency hides behind the tile's work.
        var next_k: array<vec4<f32>, 8>;
        var next_v: array<vec4<f32>, 8>;
        let more = tile + 1u < tiles;
        if PREFETCH && more {
            for (var a = 0u; a < PF_K; a++) {
                next_k[a] = k_element(j0 + bc, t + a * WG, k_base);
            }
            for (var a = 0u; a < PF_V; a++) {
                next_v[a] = v_element(j0 + bc, t + a * WG, v_base);
            }
        }

        // 1. S = Q·Kᵀ for rows ty + TR·i, keys tx + TC·j.
        var s: array<f32, 64>;
        for (var a = 0u; a < RM * RN; a++) {
            s[a] = 0.0;
        }
        for (var e4 = 0u; e4 < D4; e4++) {
            var kk: array<vec4<f32>, 8>;
            for (var j = 0u; j < RN; j++) {
                kk[j] = kp[qk_slot(tx + TC * j, e4)];
            }
            for (var i = 0u; i < RM; i++) {
                let qv = qs[qk_slot(ty + TR * i, e4)];
                for (var j = 0u; j < RN; j++) {
                    let kv = kk[j];
                    s[i * RN + j] = fma(qv.w, kv.w, fma(qv.z, kv.z, fma(qv.y, kv.y, fma(qv.x, kv.x, s[i * RN + j]))));
                }
            }
        }
        // Only a tile past the last key or crossing the diagonal or the
        // band's edges is masked.
        let edge = banded && (j0 + w < i0 + br - 1u || j0 + bc - 1u > i0 + w);
        if j0 + bc > n_keys || (causal && j0 + bc > i0 + 1u) || edge {
            for (var i = 0u; i < RM; i++) {
                let row = i0 + ty + TR * i;
                for (var j = 0u; j < RN; j++) {
                    let key = j0 + tx + TC * j;
                    let outside = banded && (key + w < row || key > row + w);
                    if key >= n_keys || (causal && key > row) || outside {
                        s[i * RN + j] = MASKED;
                    }
                }
            }
        }

        // P overwrites the K tile in the compact layout: every thread
        // must be done reading it.
        if COMPACT {
            workgroupBarrier();
        }

        // 2. Online softmax: one rescale per tile.
        var tile_max: array<f32, 8>;
        for (var i = 0u; i < RM; i++) {
            var x = s[i * RN];
            for (var j = 1u; j < RN; j++) {
                x = max(x, s[i * RN + j]);
            }
            tile_max[i] = x;
        }
        reduce_rows_max(&tile_max, ty, tx);
        for (var i = 0u; i < RM; i++) {
            let m_new = max(m[i], tile_max[i]);
            let alpha = exp2(m[i] - m_new);
            m[i] = m_new;
            var sum = 0.0;
            for (var j = 0u; j < RN; j++) {
                // Banded, a row may see no key of its first visited tiles
                // (m_new still MASKED, p = 2⁰): the first tile with one of
                // its keys rescales what they added by 2^(MASKED − m) = 0.
                let p = exp2(s[i * RN + j] - m_new);
                s[i * RN + j] = p;
                sum += p;
            }
            l[i] = l[i] * alpha + sum;
            for (var c = 0u; c < RD4; c++) {
                acc[i * RD4 + c] *= alpha;
            }
            // P to workgroup memory: key tx + TC·j is component tx % 4 of
            // vec4 tx/4 + (TC/4)·j (TC is a multiple of 4).
            for (var j = 0u; j < RN; j++) {
                kp[p_slot(ty + TR * i, (TC / 4u) * j + tx / 4u)][tx % 4u] = s[i * RN + j];
            }
        }
        workgroupBarrier();

        // 3. acc += P·V, four keys at a time.
        for (var k4 = 0u; k4 < bc / 4u; k4++) {
            var pv: array<vec4<f32>, 8>;
            for (var i = 0u; i < RM; i++) {
                pv[i] = kp[p_slot(ty + TR * i, k4)];
            }
            for (var u = 0u; u < 4u; u++) {
                let vrow = (4u * k4 + u) * DV4;
                for (var c = 0u; c < RD4; c++) {
                    let vv = vs[vrow + min(tx + TC * c, DV4 - 1u)];
                    for (var i = 0u; i < RM; i++) {
                        acc[i * RD4 + c] = fma(vec4<f32>(pv[i][u]), vv, acc[i * RD4 + c]);
                    }
                }
            }
        }
        workgroupBarrier();
        if more {
            if PREFETCH {
                for (var a = 0u; a < PF_K; a++) {
                    let idx = t + a * WG;
                    if idx < bc * D4 {
                        kp[qk_slot(idx / D4, idx % D4)] = next_k[a];
                    }
                }
                for (var a = 0u; a < PF_V; a++) {
                    let idx = t + a * WG;
                    if idx < bc * DV4 {
                        vs[idx] = next_v[a];
                    }
                }
            } else {
                stage_kv(j0 + bc, t, k_base, v_base);
            }
        }
    }

    // 4. O = acc / l; the row statistics in natural-log units.
    reduce_rows_sum(&l, ty, tx);
    for (var i = 0u; i < RM; i++) {
        let row = i0 + ty + TR * i;
        if row < n {
            let inv = 1.0 / l[i];
            for (var c = 0u; c < RD4; c++) {
                let col = tx + TC * c;
                if col < DV4 {
                    o[(head * n + row) * DV4 + col] = acc[i * RD4 + c] * inv;
                }
            }
            if tx == 0u {
                stats[head * n + row] = vec2<f32>(m[i] * LN2, l[i]);
            }
        }
    }
}

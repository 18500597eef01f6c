// Exact softmax attention on tensor cores: O = softmax(QKᵀ/√d)·V with f16
// operands and f32 accumulation, FlashAttention-2's loop (Dao 2023, Alg. 1)
// with both products as cooperative-matrix multiply-adds (wgpu's
// `wgpu_cooperative_matrix`, 16 × 16 × 16, f16 × f16 + f32 → f32: the
// tensor cores of an NVIDIA GPU through VK_KHR_cooperative_matrix). Native
// only. Host code: src/gpu/flash_f16.rs.
//
// Two entry points:
// * `to_f16`: one tensor [B·H, rows, D] f32 → [B·H, rows_pad, D] f16 (rows
//   padded with zeros to a multiple of 64, times `scale`: log₂(e)/√d for
//   Q, so that the logits come out in base 2; 1 for K and V).
// * `flash_f16`: grid (query blocks of 16 rows, B·H heads), one subgroup of
//   32 per workgroup (the host requires subgroups of exactly 32), so every
//   barrier is a subgroup's. Q's 16 × D rows sit in registers as D/16
//   fragments (role A). Per key tile of BC = 64 keys:
//   1. S = Q·Kᵀ, 16 × 64: per 16 keys the sum over D/16 products of a Q
//      fragment and a piece of Kᵀ (role B: K's rows read column-major
//      straight from the f16 buffer), stored to an f32 scratch;
//   2. the online softmax in base 2: lane ℓ takes row ℓ/2 and the keys of
//      parity ℓ%2 (visited from column 2·row + parity on, so that the 32
//      lanes read 32 different banks at each step), masks keys past n_keys
//      (and, causal, past the row), m' = max(m, row max) with the partner
//      lane's half by a shuffle,
//      P = 2^(s − m') rounded to f16 into the P scratch, l' = 2^(m − m')·l +
//      Σ P (the rounded values, as the product uses them), and the lane's
//      D/2 accumulators of O scaled by 2^(m − m');
//   3. P·V, 16 × D: P's four fragments (role A) times V's pieces (role B,
//      row-major from the f16 buffer), stored to the f32 scratch and added
//      to the lanes' accumulators (a cooperative matrix cannot be scaled per
//      row, so O stays in registers and only each tile's P·V goes through
//      the scratch).
//   At the end O = acc / l (l summed over the two lanes of a row). O's
//   columns are split between a row's two lanes by parity as well.
//
// Bindings of flash_f16 (group 0):
//   0 params  uniform             Params
//   1 q16     storage, read       B·H × n_pad × D f16 (scaled)
//   2 k16     storage, read       B·H × nk_pad × D f16
//   3 v16     storage, read       B·H × nk_pad × D f16
//   4 o       storage, read_write B·H × n × D f32
// and of to_f16: 7 conv (uniform), 5 src (f32 vec4s), 6 dst (f16 vec4s).

enable f16;
enable wgpu_cooperative_matrix;

struct Params {
    n: u32,        // query rows per head
    n_keys: u32,   // key rows per head
    causal: u32,   // 1: key j is visible to query i only when j ≤ i
    blocks: u32,   // query blocks per head, ⌈n / 16⌉
    n_pad: u32,    // query rows per head in q16 (a multiple of 64)
    nk_pad: u32,   // key rows per head in k16, v16 (a multiple of 64)
    pad0: u32,
    pad1: u32,
}

struct Conv {
    rows: u32,      // rows per head in src
    rows_pad: u32,  // rows per head in dst (the rest zeros)
    heads: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q16: array<f16>;
@group(0) @binding(2) var<storage, read> k16: array<f16>;
@group(0) @binding(3) var<storage, read> v16: array<f16>;
@group(0) @binding(4) var<storage, read_write> o: array<f32>;

@group(0) @binding(7) var<uniform> conv: Conv;
@group(0) @binding(5) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> dst: array<vec4<f16>>;

const MASKED: f32 = -3.0e38;
const BC: u32 = 64u;  // keys per tile (the host's BLOCK_KEYS: the copies are padded to it)

override D: u32 = 64u;  // d = dᵥ: 16, 32, 48 or 64

// 16 × BC per workgroup: S, then the tile's P·V (16 × D, D ≤ BC), f32.
var<workgroup> sc: array<f32, 1024>;
// 16 × BC: P, f16.
var<workgroup> ph: array<f16, 1024>;

// One vec4 of dst per invocation (x: vec4 index within 65 535 · 64 · y).
@compute @workgroup_size(64)
fn to_f16(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let d4 = D / 4u;
    let idx = gid.x + gid.y * groups.x * 64u;
    if idx >= conv.heads * conv.rows_pad * d4 {
        return;
    }
    let head = idx / (conv.rows_pad * d4);
    let row = (idx / d4) % conv.rows_pad;
    var x = vec4<f32>(0.0);
    if row < conv.rows {
        x = src[(head * conv.rows + row) * d4 + idx % d4] * conv.scale;
    }
    dst[idx] = vec4<f16>(x);
}

// Column j of the `width` / 2 a lane handles in its row r: those of parity
// `half`, starting at 2r + half. At each j the 32 lanes then touch 32
// different banks of the row-major scratch for width 32 and 64 (2 lanes per
// bank at 16 and 48), where rows of 64 floats would otherwise put a column
// of every row in one bank: 32-way conflicts.
fn column(j: u32, r: u32, half: u32, width: u32) -> u32 {
    return (2u * j + half + 2u * r) % width;
}

// The masked score of the lane's j-th key of the tile (from the scratch).
fn score(j: u32, r: u32, half: u32, j0: u32, row: u32, causal: bool) -> f32 {
    let c = column(j, r, half, BC);
    let key = j0 + c;
    var s = sc[r * BC + c];
    if key >= params.n_keys || (causal && key > row) {
        s = MASKED;
    }
    return s;
}

// P of the lane's j-th key, stored as f16; returns it as f32.
fn put_p(j: u32, r: u32, half: u32, x: f32, m_new: f32) -> f32 {
    let p = f16(exp2(x - m_new));
    ph[r * BC + column(j, r, half, BC)] = p;
    return f32(p);
}

// The lane's four P·V values of output columns j = 4a … 4a + 3.
fn pv4(a: u32, r: u32, half: u32) -> vec4<f32> {
    let j = 4u * a;
    return vec4<f32>(
        sc[r * BC + column(j, r, half, D)],
        sc[r * BC + column(j + 1u, r, half, D)],
        sc[r * BC + column(j + 2u, r, half, D)],
        sc[r * BC + column(j + 3u, r, half, D)],
    );
}

// S for keys k0 … k0 + 15 of the tile: Σ over D/16 pieces of Q·Kᵀ.
fn scores(qa0: coop_mat16x16<f16, A>, qa1: coop_mat16x16<f16, A>,
          qa2: coop_mat16x16<f16, A>, qa3: coop_mat16x16<f16, A>,
          at: u32) -> coop_mat16x16<f32, C> {
    var s = coop_mat16x16<f32, C>();
    s = coopMultiplyAdd(qa0, coopLoad<coop_mat16x16<f16, B>>(&k16[at], D), s);
    if D > 16u {
        s = coopMultiplyAdd(qa1, coopLoad<coop_mat16x16<f16, B>>(&k16[at + 16u], D), s);
    }
    if D > 32u {
        s = coopMultiplyAdd(qa2, coopLoad<coop_mat16x16<f16, B>>(&k16[at + 32u], D), s);
    }
    if D > 48u {
        s = coopMultiplyAdd(qa3, coopLoad<coop_mat16x16<f16, B>>(&k16[at + 48u], D), s);
    }
    return s;
}

@compute @workgroup_size(32)
fn flash_f16(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let n = params.n;
    let n_keys = params.n_keys;
    let causal = params.causal != 0u;
    let head = wg.y;
    // Causal blocks near the end see the most keys: they start first.
    let block = select(wg.x, params.blocks - 1u - wg.x, causal);
    let i0 = 16u * block;
    let r = lane / 2u;      // the lane's row of the 16
    let half = lane % 2u;   // and its parity of the keys (softmax) and of O's columns
    let row = i0 + r;
    let hd = D / 2u;
    let kv_base = head * params.nk_pad * D;

    // Q's rows as D/16 fragments (pieces past D repeat the first, unused).
    let q_at = (head * params.n_pad + i0) * D;
    let qa0 = coopLoadT<coop_mat16x16<f16, A>>(&q16[q_at], D);
    let qa1 = coopLoadT<coop_mat16x16<f16, A>>(&q16[q_at + select(0u, 16u, D > 16u)], D);
    let qa2 = coopLoadT<coop_mat16x16<f16, A>>(&q16[q_at + select(0u, 32u, D > 32u)], D);
    let qa3 = coopLoadT<coop_mat16x16<f16, A>>(&q16[q_at + select(0u, 48u, D > 48u)], D);

    // The lane's outputs and scores as arrays of vec4s. The driver keeps
    // them in local memory either way (256 bytes a lane): as vec4s they
    // move 16 bytes per access — 2.86 ms for the attention pass at 16 heads,
    // n = 4096, where arrays of 32 floats took 4.46 (gpu/flash_f16.rs).
    var acc: array<vec4<f32>, 8>;
    let h4 = hd / 4u;
    for (var a = 0u; a < 8u; a++) {
        acc[a] = vec4<f32>(0.0);
    }
    var m = MASKED;
    var l = 0.0;
    var key_end = n_keys;
    if causal {
        key_end = min(n_keys, i0 + 16u);
    }
    let tiles = (key_end + BC - 1u) / BC;
    for (var tile = 0u; tile < tiles; tile++) {
        let j0 = tile * BC;
        // 1. S = Q·Kᵀ, 16 rows × 64 keys (after every lane has read the
        // previous tile's P·V from the scratch).
        workgroupBarrier();
        for (var kc = 0u; kc < BC / 16u; kc++) {
            let s = scores(qa0, qa1, qa2, qa3, kv_base + (j0 + 16u * kc) * D);
            coopStoreT(s, &sc[16u * kc], BC);
        }
        workgroupBarrier();

        // 2. Online softmax of row r over the tile's keys of parity `half`.
        var x: array<vec4<f32>, 8>;
        var tile_max = MASKED;
        for (var a = 0u; a < 8u; a++) {
            let j = 4u * a;
            let v = vec4<f32>(
                score(j, r, half, j0, row, causal),
                score(j + 1u, r, half, j0, row, causal),
                score(j + 2u, r, half, j0, row, causal),
                score(j + 3u, r, half, j0, row, causal),
            );
            x[a] = v;
            tile_max = max(tile_max, max(max(v.x, v.y), max(v.z, v.w)));
        }
        tile_max = max(tile_max, subgroupShuffleXor(tile_max, 1u));
        let m_new = max(m, tile_max);
        let alpha = exp2(m - m_new);
        m = m_new;
        var sum = 0.0;
        for (var a = 0u; a < 8u; a++) {
            let j = 4u * a;
            let v = x[a];
            sum += put_p(j, r, half, v.x, m_new) + put_p(j + 1u, r, half, v.y, m_new)
                + put_p(j + 2u, r, half, v.z, m_new) + put_p(j + 3u, r, half, v.w, m_new);
        }
        l = l * alpha + sum;
        for (var a = 0u; a < h4; a++) {
            acc[a] *= alpha;
        }
        workgroupBarrier();

        // 3. This tile's P·V, 16 rows × D.
        let pa0 = coopLoadT<coop_mat16x16<f16, A>>(&ph[0], BC);
        let pa1 = coopLoadT<coop_mat16x16<f16, A>>(&ph[16], BC);
        let pa2 = coopLoadT<coop_mat16x16<f16, A>>(&ph[32], BC);
        let pa3 = coopLoadT<coop_mat16x16<f16, A>>(&ph[48], BC);
        for (var oc = 0u; oc < D / 16u; oc++) {
            let at = kv_base + j0 * D + 16u * oc;
            var pv = coop_mat16x16<f32, C>();
            pv = coopMultiplyAdd(pa0, coopLoadT<coop_mat16x16<f16, B>>(&v16[at], D), pv);
            pv = coopMultiplyAdd(pa1, coopLoadT<coop_mat16x16<f16, B>>(&v16[at + 16u * D], D), pv);
            pv = coopMultiplyAdd(pa2, coopLoadT<coop_mat16x16<f16, B>>(&v16[at + 32u * D], D), pv);
            pv = coopMultiplyAdd(pa3, coopLoadT<coop_mat16x16<f16, B>>(&v16[at + 48u * D], D), pv);
            coopStoreT(pv, &sc[16u * oc], BC);
        }
        workgroupBarrier();
        for (var a = 0u; a < h4; a++) {
            acc[a] += pv4(a, r, half);
        }
    }

    // O = acc / l, l summed over the row's two lanes.
    l += subgroupShuffleXor(l, 1u);
    if row < n {
        let inv = 1.0 / l;
        for (var a = 0u; a < h4; a++) {
            let j = 4u * a;
            let v = acc[a] * inv;
            let at = (head * n + row) * D;
            o[at + column(j, r, half, D)] = v.x;
            o[at + column(j + 1u, r, half, D)] = v.y;
            o[at + column(j + 2u, r, half, D)] = v.z;
            o[at + column(j + 3u, r, half, D)] = v.w;
        }
    }
}

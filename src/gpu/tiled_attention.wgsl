// Register-tiled, block-sparse fused attention shared by every softmax
// method: exact attention (a dense tile list), Longformer, Sparse Transformer,
// BigBird, Reformer, Transformer-XL and the Compressive Transformer (whose
// compressed-memory slots are key/value rows after the positions, computed
// by memory_attention.wgsl). Host code: src/gpu/tiled_attention.rs; the patterns
// it mirrors: src/attention/pattern.rs (`Pattern::category`) and
// src/attention/reformer.rs.
//
// For each query tile of 32 rows, workgroups visit only the key tiles of its
// list: skipped tiles cost nothing. A long list (a global row) is split over
// several workgroups whose partial results `merge_splits` combines. Inside a visited
// tile, `category(i, j)` masks the pairs the pattern does not compute. The
// softmax is online (FlashAttention-2, Dao 2023): per key tile,
// m' = max(m, maxⱼ sᵢⱼ), l' = e^{m−m'}·l + Σⱼ e^{sᵢⱼ−m'},
// acc' = e^{m−m'}·acc + Σⱼ e^{sᵢⱼ−m'}·vⱼ, and O = acc / l at the end.
//
// Heads (B·H of them, multi-head attention over a batch): every pass is ONE
// dispatch whose z index is the head (`workgroup_id.z`); x and y form a 2-D
// grid over the work items, flattened as wg.y·num_workgroups.x + wg.x, so
// that n far past 16K stays within max_compute_workgroups_per_dimension.
// Head h reads Q at h·q_stride, K at h·k_stride, V at h·v_stride (a stride
// of 0 shares one matrix between the heads: the Synthesizers' keys) and its
// aux table at h·aux_stride (0: one table for every head, as a pattern that
// does not depend on the inputs has). The tile list is shared.
//
// Bindings (group 0):
//   0 params  uniform             Params
//   1 q       storage, read       heads × n × d
//   2 k       storage, read       heads × n_keys × d   (memory: positions, padding to
//                                              slot_base, compressed slots)
//   3 v       storage, read       heads × n_keys × dv
//   4 o       storage, read_write slabs × heads × n × dv   output (Reformer: one slab
//                                                  per round, then the union's: each
//                                                  slab is [heads, n, dv]), then
//                                                  heads × slot_count × 32 rows of
//                                                  split-slot partials
//   5 stats   storage, read_write (mᵢ, lᵢ) per row, same layout
//   6 tiles   storage, read       key-tile entries (bit 31: the whole tile is computed),
//                                 then work items (query tile, first, end, slot)
//                                 at items_base, then merges (query tile, first
//                                 slot, count) at merges_base
//   7 aux     storage, read       BigBird: random key blocks [blocks × R];
//                                 Reformer: qpos, kpos, qrank, krank, qbucket
//                                 [5 × rounds × n] per head (see lsh.wgsl);
//                                 Compressive: the slot of each position [n]
//                                 (NO_SLOT: never compressed, or dropped),
//                                 per head for most-attended
//   8 map     storage, read_write pooled map: cells² weights, or cells² × 2 (code, fraction)

struct Params {
    n: u32,
    n_keys: u32,
    d: u32,
    dv: u32,
    scale: f32,
    causal: u32,
    factor: u32,
    cells: u32,
    pattern: u32,       // a PATTERN_* code
    window: u32,        // Longformer: half-width W
    global: u32,        // Longformer: global tokens G
    stride: u32,        // Sparse Transformer: L
    summary: u32,       // Sparse Transformer, fixed: c
    block: u32,         // BigBird: block size B
    global_blocks: u32, // BigBird: g
    window_half: u32,   // BigBird: half window in blocks
    random: u32,        // BigBird: random blocks per query block R
    chunk: u32,         // Reformer: chunk size in the sorted order
    shared_qk: u32,     // Reformer: 1 when keys are the normalised queries
    rounds: u32,        // Reformer: hash rounds
    round: u32,         // Reformer: the round this dispatch computes
    items_base: u32,    // index of the first work item in `tiles`
    merges_base: u32,   // index of the first merge in `tiles`
    slabs: u32,         // output slabs before the split slots
    segment: u32,       // Transformer-XL / Compressive: segment S
    memory: u32,        // Transformer-XL / Compressive: memory M
    rate: u32,          // Compressive: compression rate c (1: none)
    compressed: u32,    // Compressive: compressed-memory slots M_c
    slot_base: u32,     // Compressive: key row of compressed slot 0
    share: u32,         // Compressive: positions sharing a slot's weight in the views
    heads: u32,         // B·H: heads in the stacked buffers
    item_count: u32,    // work items per head (the grid may hold more workgroups)
    merge_count: u32,   // merges per head
    slot_count: u32,    // split slots per head
    q_stride: u32,      // elements of Q per head (0: shared)
    k_stride: u32,      // elements of K per head (0: shared)
    v_stride: u32,      // elements of V per head (0: shared)
    aux_stride: u32,    // entries of aux per head (0: shared)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> o: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
@group(0) @binding(6) var<storage, read> tiles: array<u32>;
@group(0) @binding(7) var<storage, read> aux: array<u32>;
@group(0) @binding(8) var<storage, read_write> map: array<f32>;

// The head this invocation works on and its bases in the stacked buffers
// (set once at the entry point by `enter_head`).
var<private> head: u32;
var<private> q_base: u32;
var<private> k_base: u32;
var<private> v_base: u32;
var<private> aux_base: u32;

fn enter_head(h: u32) {
    head = h;
    q_base = h * params.q_stride;
    k_base = h * params.k_stride;
    v_base = h * params.v_stride;
    aux_base = h * params.aux_stride;
}

// Index of a workgroup in the 2-D grid over x and y.
fn flat_group(wg: vec3<u32>, groups: vec3<u32>) -> u32 {
    return wg.y * groups.x + wg.x;
}

// Output (and statistics) row of `row` in slab `slab` of the current head.
fn out_row(slab: u32, row: u32) -> u32 {
    return (slab * params.heads + head) * params.n + row;
}

// Stands for a masked score: exp(MASKED - m) is 0 for any finite m.
const MASKED: f32 = -3.0e38;

// Mask kinds: PatternKind in src/data/codes.rs (a test checks the values).
const PATTERN_DENSE: u32 = 0u;
const PATTERN_LONGFORMER: u32 = 1u;
const PATTERN_STRIDED: u32 = 2u;
const PATTERN_FIXED: u32 = 3u;
const PATTERN_BIGBIRD: u32 = 4u;
const PATTERN_LSH: u32 = 5u;
const PATTERN_MEMORY: u32 = 6u;

// Why a pair is computed: Category in src/data/codes.rs (0: it is not).
const CATEGORY_DENSE: u32 = 1u;
const CATEGORY_WINDOW: u32 = 2u;
const CATEGORY_GLOBAL: u32 = 3u;
const CATEGORY_STRIDE: u32 = 4u;
const CATEGORY_SUMMARY: u32 = 5u;
const CATEGORY_BLOCK: u32 = 6u;
const CATEGORY_RANDOM: u32 = 7u;
const CATEGORY_BUCKET: u32 = 8u;
const CATEGORY_SEGMENT: u32 = 16u;
const CATEGORY_MEMORY: u32 = 17u;
const CATEGORY_COMPRESSED: u32 = 18u;
// Category codes the pattern pooler counts: CODE_SLOTS in src/data/codes.rs.
const CODE_SLOTS: u32 = 24u;
// Reformer's shared-QK rule against attending to oneself (Kitaev et al. 2020,
// §3): the self logit is lowered by this much, so a token attends to itself
// only when it has no other target.
const SELF_PENALTY: f32 = 1.0e5;

// ---- patterns (mirror of Pattern::category in src/attention/pattern.rs) ----

fn dist(i: u32, j: u32) -> u32 {
    return select(j - i, i - j, i >= j);
}

// ---- segment-level recurrence (mirror of src/attention/memory.rs) ----
//
// Segment s = ⌊i/S⌋ starts at sS; its memory holds positions [b_s, sS) with
// b_s = c·⌊max(0, sS − M)/c⌋ (whole groups of c leave the memory together);
// compressed slots g ∈ [max(0, b_s/c − M_c), b_s/c) are key rows slot_base + g.

fn memory_boundary(s: u32) -> u32 {
    let start = s * params.segment;
    let evicted = select(0u, start - params.memory, start > params.memory);
    return evicted / params.rate * params.rate;
}

// Category of key row j for query i in the kernel's index space: positions
// of the own segment (j ≤ i) and of the memory, then compressed slots.
fn memory_key_category(i: u32, j: u32) -> u32 {
    let s = i / params.segment;
    let start = s * params.segment;
    let boundary = memory_boundary(s);
    if j < params.n {
        if j > i {
            return 0u;
        }
        if j >= start {
            return CATEGORY_SEGMENT;
        }
        return select(0u, CATEGORY_MEMORY, j >= boundary);
    }
    if j < params.slot_base {
        return 0u;
    }
    let g = j - params.slot_base;
    let hi = boundary / params.rate;
    let lo = hi - min(hi, params.compressed);
    return select(0u, CATEGORY_COMPRESSED, g >= lo && g < hi);
}

// Category of position j for query i in the views: a position compressed
// into a slot the query sees counts as compressed memory.
fn memory_position_category(i: u32, j: u32) -> u32 {
    let key = memory_key_category(i, j);
    if key != 0u || j > i || params.compressed == 0u {
        return key;
    }
    let slot = aux[aux_base + j];
    if slot == NO_SLOT {
        return 0u;
    }
    return memory_key_category(i, params.slot_base + slot);
}

// Category of pair (i, j) in the structured patterns, 0 when skipped.
fn structured_category(i: u32, j: u32) -> u32 {
    // Segment-level recurrence is causal by construction; its slots lie
    // beyond n, so the generic causal test must not see them.
    if params.pattern == PATTERN_MEMORY {
        return memory_key_category(i, j);
    }
    if params.causal != 0u && j > i {
        return 0u;
    }
    switch params.pattern {
        case PATTERN_LONGFORMER: {
            if i < params.global || j < params.global {
                return CATEGORY_GLOBAL;
            }
            return select(0u, CATEGORY_WINDOW, dist(i, j) <= params.window);
        }
        case PATTERN_STRIDED: {
            let l = max(params.stride, 1u);
            let g = dist(i, j);
            if g < l {
                return CATEGORY_WINDOW;
            }
            return select(0u, CATEGORY_STRIDE, g % l == 0u);
        }
        case PATTERN_FIXED: {
            let l = max(params.stride, 1u);
            if i / l == j / l {
                return CATEGORY_BLOCK;
            }
            let c = min(params.summary, l);
            return select(0u, CATEGORY_SUMMARY, j % l >= l - c);
        }
        case PATTERN_BIGBIRD: {
            let b = max(params.block, 1u);
            let qb = i / b;
            let kb = j / b;
            if qb < params.global_blocks || kb < params.global_blocks {
                return CATEGORY_GLOBAL;
            }
            if dist(qb, kb) <= params.window_half {
                return CATEGORY_WINDOW;
            }
            for (var r = 0u; r < params.random; r++) {
                if aux[aux_base + qb * params.random + r] == kb {
                    return CATEGORY_RANDOM;
                }
            }
            return 0u;
        }
        default: {
            return CATEGORY_DENSE;
        }
    }
}

// Reformer: sorted position of `pos` in round r, for queries (which = 0) or keys.
fn rank(which: u32, r: u32, pos: u32) -> u32 {
    return aux[aux_base + (2u + which) * params.rounds * params.n + r * params.n + pos];
}

// Reformer: bucket of query position `pos` in round 0 (for the pattern view).
fn query_bucket(pos: u32) -> u32 {
    return aux[aux_base + 4u * params.rounds * params.n + pos];
}

// Original position of sorted index s in this round.
fn position(which: u32, s: u32) -> u32 {
    return aux[aux_base + which * params.rounds * params.n + params.round * params.n + s];
}

// Whether key position pj is a candidate of query position pi in round r:
// same chunk or the previous one after sorting (no wrap-around).
fn lsh_candidate(r: u32, pi: u32, pj: u32) -> bool {
    let cq = rank(0u, r, pi) / params.chunk;
    let ck = rank(1u, r, pj) / params.chunk;
    return ck == cq || ck + 1u == cq;
}

// Reformer: logit adjustment of original pair (pi, pj), or MASKED when the
// pair is never computed: −log N for the N rounds that pair them (the paper's
// correction for counting a pair once in the union over rounds), and the
// shared-QK self penalty. Rounds ≥ `upto` are not consulted.
fn lsh_adjustment(pi: u32, pj: u32, upto: u32) -> f32 {
    if params.causal != 0u && pj > pi {
        return MASKED;
    }
    var rounds_together = 0u;
    for (var r = 0u; r < upto; r++) {
        if lsh_candidate(r, pi, pj) {
            rounds_together += 1u;
        }
    }
    if rounds_together == 0u {
        return MASKED;
    }
    var adjust = -log(f32(rounds_together));
    if params.shared_qk != 0u && pi == pj {
        adjust -= SELF_PENALTY;
    }
    return adjust;
}

// The logit of pair (i, j) in the attention kernel's index space (sorted
// indices for Reformer), or MASKED.
fn logit(i: u32, j: u32, raw: f32) -> f32 {
    if j >= params.n_keys || i >= params.n {
        return MASKED;
    }
    if params.pattern == PATTERN_LSH {
        let chunk = params.chunk;
        let ci = i / chunk;
        let cj = j / chunk;
        if cj != ci && cj + 1u != ci {
            return MASKED;
        }
        let adjust = lsh_adjustment(position(0u, i), position(1u, j), params.rounds);
        return select(MASKED, raw * params.scale + adjust, adjust > MASKED);
    }
    return select(MASKED, raw * params.scale, structured_category(i, j) != 0u);
}

// Query/key/value rows the kernel reads for index i (sorted order for Reformer).
fn q_row(i: u32) -> u32 {
    return select(i, position(0u, i), params.pattern == PATTERN_LSH);
}

fn kv_row(j: u32) -> u32 {
    return select(j, position(1u, j), params.pattern == PATTERN_LSH);
}

// ---- the register-tiled kernel ------------------------------------------
//
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
    let base = q_base + row * params.d + e4 * 4u;
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
    let base = k_base + row * params.d + e4 * 4u;
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
    let base = v_base + row * params.dv + e4 * 4u;
    if e4 * 4u + 3u < params.dv {
        return vec4<f32>(v[base], v[base + 1u], v[base + 2u], v[base + 3u]);
    }
    var x = vec4<f32>(0.0);
    for (var c = 0u; e4 * 4u + c < params.dv && c < 4u; c++) {
        x[c] = v[base + c];
    }
    return x;
}

fn masked_scores(raw: vec4<f32>, i: u32, j: u32) -> vec4<f32> {
    return vec4<f32>(
        logit(i, j, raw.x),
        logit(i, j + 8u, raw.y),
        logit(i, j + 16u, raw.z),
        logit(i, j + 24u, raw.w),
    );
}

fn hmax(x: vec4<f32>) -> f32 {
    return max(max(x.x, x.y), max(x.z, x.w));
}

fn probabilities(x: vec4<f32>, m: f32) -> vec4<f32> {
    return select(vec4<f32>(0.0), exp(x - vec4<f32>(m)), x > vec4<f32>(MASKED));
}

// Writes vec4 column e4 of output row `row` (an original position) if it exists.
fn store_output(row: u32, e4: u32, value: vec4<f32>) {
    if e4 >= DV4 {
        return;
    }
    let base = out_row(params.round, row) * params.dv;
    for (var c = 0u; c < 4u; c++) {
        if e4 * 4u + c < params.dv {
            o[base + e4 * 4u + c] = value[c];
        }
    }
}

fn store_stats(row: u32, m: f32, l: f32) {
    let base = out_row(params.round, row) * 2u;
    stats[base] = m;
    stats[base + 1u] = l;
}

const NO_SLOT: u32 = 0xffffffffu;

// Row r of split slot `slot`: its output row and statistics index.
fn partial_row(slot: u32, r: u32) -> u32 {
    return params.slabs * params.heads * params.n + (head * params.slot_count + slot) * TQ + r;
}

// Writes a row's result: the final output, or a split slot's partial.
fn finish_row(slot: u32, r: u32, i: u32, tx: u32, acc: array<vec4<f32>, 4>, m: f32, l: f32) {
    let inv = select(0.0, 1.0 / l, l > 0.0);
    if slot == NO_SLOT {
        let row = q_row(i);
        for (var u = 0u; u < 4u; u++) {
            store_output(row, tx + 8u * u, acc[u] * inv);
        }
        if tx == 0u {
            store_stats(row, m, l);
        }
        return;
    }
    let prow = partial_row(slot, r);
    for (var u = 0u; u < 4u; u++) {
        let e4 = tx + 8u * u;
        if e4 < DV4 {
            let value = acc[u] * inv;
            for (var c = 0u; c < 4u; c++) {
                if e4 * 4u + c < params.dv {
                    o[prow * params.dv + e4 * 4u + c] = value[c];
                }
            }
        }
    }
    if tx == 0u {
        stats[prow * 2u] = m;
        stats[prow * 2u + 1u] = l;
    }
}

@compute @workgroup_size(128)
fn attend(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let index = flat_group(wg, groups);
    if index >= params.item_count {
        return;
    }
    enter_head(wg.z);
    let n = params.n;
    let n_keys = params.n_keys;
    let ty = t / 8u;
    let tx = t % 8u;
    let item = params.items_base + 4u * index;
    let i0 = tiles[item] * TQ;
    let first = tiles[item + 1u];
    let last = tiles[item + 2u];
    let slot = tiles[item + 3u];
    let r0 = ty;
    let r1 = ty + 16u;

    for (var idx = t; idx < TQ * D4; idx += 128u) {
        let r = idx / D4;
        let e4 = idx % D4;
        var x = vec4<f32>(0.0);
        if i0 + r < n {
            x = q_vec4(q_row(i0 + r), e4);
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

    for (var entry = first; entry < last; entry++) {
        let tile = tiles[entry];
        let j0 = (tile & 0x7fffffffu) * TK;
        let whole = tile >= 0x80000000u;
        for (var idx = t; idx < TK * D4; idx += 128u) {
            let c = idx / D4;
            let e4 = idx % D4;
            var x = vec4<f32>(0.0);
            if j0 + c < n_keys {
                x = k_vec4(kv_row(j0 + c), e4);
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
        // A tile entirely inside the pattern (and inside n) needs no mask.
        if whole {
            s0 *= params.scale;
            s1 *= params.scale;
        } else {
            s0 = masked_scores(s0, i0 + r0, j0 + tx);
            s1 = masked_scores(s1, i0 + r1, j0 + tx);
        }
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
                x = v_vec4(kv_row(j0 + c), e4);
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

    // A row that computed no pair (impossible in the patterns offered, but
    // possible in a bad layout) writes zeros rather than NaN.
    if i0 + r0 < n {
        finish_row(slot, r0, i0 + r0, tx, array<vec4<f32>, 4>(acc00, acc01, acc02, acc03), run_max0, run_sum0);
    }
    if i0 + r1 < n {
        finish_row(slot, r1, i0 + r1, tx, array<vec4<f32>, 4>(acc10, acc11, acc12, acc13), run_max1, run_sum1);
    }
}

// ---- the wide kernel ---------------------------------------------------------
//
// For widths the register-tiled kernel cannot hold (d or dv > 128, or its
// tiles over the adapter's workgroup memory): one workgroup of 64 threads per
// (work item, query row r), grid index item·32 + r. Per key tile, threads score one key each
// (a dot product read from global memory, masked by `logit`), turn the
// scores into probabilities against the updated running max, and the output
// row accumulates in workgroup memory, threads striding over its columns.
// It stages 32 probabilities and one row of at most 256 outputs (about
// 1.2 KiB): every adapter holds it. Splits and rounds as in `attend`.

const WIDE: u32 = 64u;
var<workgroup> wide_p: array<f32, 32>;    // TK scores, then probabilities
var<workgroup> wide_acc: array<f32, 256>; // the row's output, dv ≤ 256

@compute @workgroup_size(64)
fn attend_wide(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let index = flat_group(wg, groups);
    if index >= params.item_count * TQ {
        return;
    }
    enter_head(wg.z);
    let item = params.items_base + 4u * (index / TQ);
    let r = index % TQ;
    let i = tiles[item] * TQ + r;
    let first = tiles[item + 1u];
    let last = tiles[item + 2u];
    let slot = tiles[item + 3u];
    let live = i < params.n;
    var qi = 0u;
    if live {
        qi = q_base + q_row(i) * params.d;
    }
    for (var c = t; c < params.dv; c += WIDE) {
        wide_acc[c] = 0.0;
    }
    var m = MASKED;
    var l = 0.0;
    for (var entry = first; entry < last; entry++) {
        let j0 = (tiles[entry] & 0x7fffffffu) * TK;
        if t < TK {
            var s = MASKED;
            let j = j0 + t;
            if live && j < params.n_keys {
                let kj = k_base + kv_row(j) * params.d;
                var dot_qk = 0.0;
                for (var e = 0u; e < params.d; e++) {
                    dot_qk += q[qi + e] * k[kj + e];
                }
                s = logit(i, j, dot_qk);
            }
            wide_p[t] = s;
        }
        workgroupBarrier();
        var tile_max = MASKED;
        for (var c = 0u; c < TK; c++) {
            tile_max = max(tile_max, wide_p[c]);
        }
        let new_m = max(m, tile_max);
        let alpha = select(1.0, exp(m - new_m), m > MASKED);
        workgroupBarrier();
        if t < TK {
            let s = wide_p[t];
            wide_p[t] = select(0.0, exp(s - new_m), s > MASKED);
        }
        workgroupBarrier();
        var total = 0.0;
        for (var c = 0u; c < TK; c++) {
            total += wide_p[c];
        }
        l = l * alpha + total;
        m = new_m;
        let keys = min(TK, params.n_keys - min(j0, params.n_keys));
        for (var col = t; col < params.dv; col += WIDE) {
            var a = wide_acc[col] * alpha;
            for (var c = 0u; c < keys; c++) {
                a += wide_p[c] * v[v_base + kv_row(j0 + c) * params.dv + col];
            }
            wide_acc[col] = a;
        }
        workgroupBarrier();
    }
    if !live {
        return;
    }
    let inv = select(0.0, 1.0 / l, l > 0.0);
    var base = 0u;
    if slot == NO_SLOT {
        base = out_row(params.round, q_row(i)) * params.dv;
    } else {
        base = partial_row(slot, r) * params.dv;
    }
    for (var col = t; col < params.dv; col += WIDE) {
        o[base + col] = wide_acc[col] * inv;
    }
    if t == 0u {
        if slot == NO_SLOT {
            store_stats(q_row(i), m, l);
        } else {
            let prow = partial_row(slot, r);
            stats[prow * 2u] = m;
            stats[prow * 2u + 1u] = l;
        }
    }
}

// ---- split query tiles -----------------------------------------------------
//
// A query tile whose key list was split over `count` workgroups left, per
// slot s, a normalised partial Oₛ with (mₛ, lₛ). With M = maxₛ mₛ and
// wₛ = e^{mₛ − M}·lₛ, the row's result is O = Σ wₛOₛ / Σ wₛ with statistics
// (M, Σ wₛ). One workgroup of 256 threads per (split query tile, head).
@compute @workgroup_size(256)
fn merge_splits(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let index = flat_group(wg, groups);
    if index >= params.merge_count {
        return;
    }
    enter_head(wg.z);
    let entry = params.merges_base + 3u * index;
    let i0 = tiles[entry] * TQ;
    let slot0 = tiles[entry + 1u];
    let count = tiles[entry + 2u];
    for (var idx = t; idx < TQ * params.dv; idx += 256u) {
        let r = idx / params.dv;
        let c = idx % params.dv;
        let i = i0 + r;
        if i >= params.n {
            continue;
        }
        var big_m = MASKED;
        for (var s = 0u; s < count; s++) {
            let prow = partial_row(slot0 + s, r);
            if stats[prow * 2u + 1u] > 0.0 {
                big_m = max(big_m, stats[prow * 2u]);
            }
        }
        var total = 0.0;
        var mass = 0.0;
        for (var s = 0u; s < count; s++) {
            let prow = partial_row(slot0 + s, r);
            let l = stats[prow * 2u + 1u];
            if l > 0.0 {
                let w = exp(stats[prow * 2u] - big_m) * l;
                total += w * o[prow * params.dv + c];
                mass += w;
            }
        }
        let row = q_row(i);
        o[out_row(params.round, row) * params.dv + c] = select(0.0, total / mass, mass > 0.0);
        if c == 0u {
            store_stats(row, big_m, mass);
        }
    }
}

// ---- Reformer: the union over hash rounds --------------------------------
//
// Each round r wrote its output and (m, l) into slab r at original
// positions. With zᵣ = mᵣ + log lᵣ and Z = logsumexp over rounds,
// O = Σᵣ e^{zᵣ − Z}·Oᵣ is attention over the union of the rounds' pairs, each
// counted once thanks to the −log N correction. The union goes to slab
// `rounds`, with statistics (Z, 1). A row no round computed gets zeros.
// One thread per (row, column) of each head; a 2-D grid of ⌈n·dv / 256⌉
// workgroups per head, the head in z.
@compute @workgroup_size(256)
fn combine_rounds(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let idx = flat_group(wg, groups) * 256u + t;
    if idx >= params.n * params.dv {
        return;
    }
    enter_head(wg.z);
    let i = idx / params.dv;
    let c = idx % params.dv;
    var big_z = MASKED;
    for (var r = 0u; r < params.rounds; r++) {
        let l = stats[out_row(r, i) * 2u + 1u];
        if l > 0.0 {
            big_z = max(big_z, stats[out_row(r, i) * 2u] + log(l));
        }
    }
    var total = 0.0;
    var mass = 0.0;
    for (var r = 0u; r < params.rounds; r++) {
        let l = stats[out_row(r, i) * 2u + 1u];
        if l > 0.0 {
            let w = exp(stats[out_row(r, i) * 2u] + log(l) - big_z);
            total += w * o[out_row(r, i) * params.dv + c];
            mass += w;
        }
    }
    o[out_row(params.rounds, i) * params.dv + c] = select(0.0, total / mass, mass > 0.0);
    if c == 0u {
        let base = out_row(params.rounds, i) * 2u;
        // Z = max + log Σ e^{zᵣ − max}: the union's log-normaliser.
        stats[base] = big_z + log(max(mass, 1e-30));
        stats[base + 1u] = select(0.0, 1.0, mass > 0.0);
    }
}

// ---- pooled views ---------------------------------------------------------

// The weight the method gives pair (i, j) in original positions, from the
// statistics of the row (m, l): exp(logit − m) / l, 0 when skipped. A
// compressed slot's weight is shared by the positions it stands for.
fn weight(i: u32, j: u32, m: f32, l: f32) -> f32 {
    var adjust = 0.0;
    var key = j;
    var share = 1.0;
    if params.pattern == PATTERN_MEMORY {
        let category = memory_position_category(i, j);
        if category == 0u {
            return 0.0;
        }
        if category == CATEGORY_COMPRESSED {
            key = params.slot_base + aux[aux_base + j];
            share = 1.0 / f32(max(params.share, 1u));
        }
    } else if params.pattern == PATTERN_LSH {
        adjust = lsh_adjustment(i, j, params.rounds);
        if adjust <= MASKED {
            return 0.0;
        }
        // The union's weights: the −log N correction only serves the sums.
        adjust = select(0.0, -SELF_PENALTY, params.shared_qk != 0u && i == j);
    } else if structured_category(i, j) == 0u {
        return 0.0;
    }
    var dot = 0.0;
    for (var c = 0u; c < params.d; c++) {
        dot += q[q_base + i * params.d + c] * k[k_base + key * params.d + c];
    }
    if l <= 0.0 {
        return 0.0;
    }
    return share * exp(dot * params.scale + adjust - m) / l;
}

// Attention map pooled to cells × cells: cell (a, b) is the mean weight over
// its block, recomputed from Q, K and the row statistics (stats slab
// `params.round`) without storing n² values. One thread per cell; grid
// (⌈cells/16⌉)². The views are head 0's.
@compute @workgroup_size(16, 16)
fn pool_weights(@builtin(global_invocation_id) gid: vec3<u32>) {
    let a = gid.y;
    let b = gid.x;
    if a >= params.cells || b >= params.cells {
        return;
    }
    enter_head(0u);
    let f = params.factor;
    let i_end = min((a + 1u) * f, params.n);
    let j_end = min((b + 1u) * f, params.n);
    var total = 0.0;
    for (var i = a * f; i < i_end; i++) {
        let base = out_row(params.round, i) * 2u;
        let m = stats[base];
        let l = stats[base + 1u];
        for (var j = b * f; j < j_end; j++) {
            total += weight(i, j, m, l);
        }
    }
    map[a * params.cells + b] = total / f32((i_end - a * f) * (j_end - b * f));
}

// The pattern pooled to cells × cells: per cell, the code of the most
// frequent category among its computed pairs (Reformer: 8 + the query's
// bucket in round 0, mod 8) and the fraction of its pairs computed.
@compute @workgroup_size(16, 16)
fn pool_pattern(@builtin(global_invocation_id) gid: vec3<u32>) {
    let a = gid.y;
    let b = gid.x;
    if a >= params.cells || b >= params.cells {
        return;
    }
    enter_head(0u);
    let f = params.factor;
    let i_end = min((a + 1u) * f, params.n);
    let j_end = min((b + 1u) * f, params.n);
    var counts: array<u32, CODE_SLOTS>;
    var computed = 0u;
    for (var i = a * f; i < i_end; i++) {
        for (var j = b * f; j < j_end; j++) {
            var code = 0u;
            if params.pattern == PATTERN_LSH {
                if lsh_adjustment(i, j, params.rounds) > MASKED {
                    code = CATEGORY_BUCKET + query_bucket(i) % 8u;
                }
            } else if params.pattern == PATTERN_MEMORY {
                code = memory_position_category(i, j);
            } else {
                code = structured_category(i, j);
            }
            if code != 0u {
                counts[code] += 1u;
                computed += 1u;
            }
        }
    }
    var best = 0u;
    for (var c = 1u; c < CODE_SLOTS; c++) {
        if counts[c] > counts[best] {
            best = c;
        }
    }
    let cell = a * params.cells + b;
    map[cell * 2u] = f32(select(0u, best, computed > 0u));
    map[cell * 2u + 1u] = f32(computed) / f32((i_end - a * f) * (j_end - b * f));
}

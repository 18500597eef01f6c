// The Compressive Transformer's compressed memory (Rae et al. 2020, §3.1) on
// the GPU: the passes that fill the slot rows the tiled attention kernel
// then attends to. Host code: src/gpu/memory_attention.rs; the twin and the
// layout it mirrors: src/attention/memory.rs.
//
// Key and value buffers hold n position rows, padding up to slot_base (a
// whole 32-key tile), then one row per compressed slot: slot g stands for
// evicted positions gc … gc + c − 1 (pooling, convolution) or for one kept
// position (most-attended). f_c runs once per buffer (keys, width d; values,
// width dv):
//
//   compress_pool    mean or max pooling, kernel and stride c;
//   compress_conv    a 1-D convolution, kernel and stride c, weights [t][out][in];
//   compress_gather  most-attended: copies the kept positions' rows.
//
// Most-attended chooses its positions in three passes after the tiled kernel
// has run the local attention (segment and memory, no slots) and left each
// row's statistics (m, l):
//
//   usage         u_j = mean over the queries i that see j uncompressed of
//                 exp(q_i·k_j·scale − m_i) / l_i, scored 32 keys × 32 rows at
//                 a time through workgroup memory;
//   select_keep   per eviction batch of L positions, keep the L/c with the
//                 highest usage (ties to the earlier position);
//   select_slots  slot of each kept position = b_{t−1}/c + kept before it in
//                 its batch; slot_of[j] (the attention kernel's aux table)
//                 and slot_src[g].
//
// Heads: every pass is one dispatch over the B·H heads, the head in z
// (global_invocation_id.z or workgroup_id.z); each head compresses its own
// memory. Every buffer but the weights holds one block per head, at the
// head's index × the block's size.
//
// Bindings (group 0):
//   0 params    uniform
//   1 q         storage, read        heads × n × d
//   2 k         storage, read        heads × key rows × d (positions first)
//   3 stats     storage, read        heads × n × (m, l) of the local attention
//   4 usage     storage, read_write  heads × evicted
//   5 keep      storage, read_write  heads × evicted (1: kept)
//   6 slot_of   storage, read_write  heads × n (NO_SLOT: not in a slot)
//   7 slot_src  storage, read_write  heads × slots
//   8 rows      storage, read_write  heads × key rows × width: the key or value
//                                    buffer being compressed
//   9 weights   storage, read        c × width × width (shared)

struct Params {
    n: u32,
    d: u32,
    width: u32,     // columns of `rows` in this dispatch (d or dv)
    segment: u32,   // S
    memory: u32,    // M
    rate: u32,      // c
    slots: u32,     // slot rows to fill
    slot_base: u32, // row of slot 0
    evicted: u32,   // b_{T−1}: positions evicted before the last segment
    kind: u32,      // a COMPRESS_* code
    grid_x: u32,    // threads per row of the dispatch grid
    scale: f32,     // 1/√d
    key_rows: u32,  // rows of each head's key and value buffers
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> usage_of: array<f32>;
@group(0) @binding(5) var<storage, read_write> keep: array<u32>;
@group(0) @binding(6) var<storage, read_write> slot_of: array<u32>;
@group(0) @binding(7) var<storage, read_write> slot_src: array<u32>;
@group(0) @binding(8) var<storage, read_write> rows: array<f32>;
@group(0) @binding(9) var<storage, read> weights: array<f32>;

// Compression functions: CompressKind in src/data/codes.rs (a test checks the values).
const COMPRESS_MEAN: u32 = 0u;
const COMPRESS_MAX: u32 = 1u;
const COMPRESS_CONV: u32 = 2u;
const COMPRESS_MOST_ATTENDED: u32 = 3u;

const NO_SLOT: u32 = 0xffffffffu;
const WG: u32 = 64u;

// b_s = c·⌊max(0, sS − M)/c⌋ (MemoryLayout::boundary).
fn boundary(s: u32) -> u32 {
    let start = s * params.segment;
    let evicted = select(0u, start - params.memory, start > params.memory);
    return evicted / params.rate * params.rate;
}

// The first segment whose memory no longer holds j (MemoryLayout::evicted_at).
fn evicted_at(j: u32) -> u32 {
    let need = params.rate * (j / params.rate + 1u) + params.memory;
    return max((need + params.segment - 1u) / params.segment, j / params.segment + 1u);
}

// The thread's index in a 2-D grid of 64-thread workgroups.
fn thread_index(gid: vec3<u32>) -> u32 {
    return gid.y * params.grid_x + gid.x;
}

// Head h's first row of `rows` (width `params.width`), and its other blocks.
fn rows_base(h: u32) -> u32 {
    return h * params.key_rows * params.width;
}

fn evicted_base(h: u32) -> u32 {
    return h * params.evicted;
}

// ---- f_c -----------------------------------------------------------------

// One thread per (slot g, column): mean or max over rows gc … gc + c − 1.
@compute @workgroup_size(64)
fn compress_pool(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = thread_index(gid);
    if idx >= params.slots * params.width {
        return;
    }
    let g = idx / params.width;
    let col = idx % params.width;
    let base = rows_base(gid.z);
    let first = g * params.rate;
    var total = 0.0;
    var biggest = -3.0e38;
    for (var t = 0u; t < params.rate; t++) {
        let x = rows[base + (first + t) * params.width + col];
        if params.kind == COMPRESS_MAX {
            biggest = max(biggest, x);
        } else {
            total += x;
        }
    }
    var out = biggest;
    if params.kind != COMPRESS_MAX {
        out = total / f32(params.rate);
    }
    rows[base + (params.slot_base + g) * params.width + col] = out;
}

// One thread per (slot g, output column o): Σ_t Σ_i W[t][o][i]·x[gc + t][i].
@compute @workgroup_size(64)
fn compress_conv(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = thread_index(gid);
    if idx >= params.slots * params.width {
        return;
    }
    let w = params.width;
    let g = idx / w;
    let o = idx % w;
    let base = rows_base(gid.z);
    var total = 0.0;
    for (var t = 0u; t < params.rate; t++) {
        let x = base + (g * params.rate + t) * w;
        let wt = (t * w + o) * w;
        for (var i = 0u; i < w; i++) {
            total += weights[wt + i] * rows[x + i];
        }
    }
    rows[base + (params.slot_base + g) * w + o] = total;
}

// One thread per (slot g, column): the kept position's row.
@compute @workgroup_size(64)
fn compress_gather(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = thread_index(gid);
    if idx >= params.slots * params.width {
        return;
    }
    let g = idx / params.width;
    let col = idx % params.width;
    let base = rows_base(gid.z);
    let src = slot_src[gid.z * params.slots + g];
    rows[base + (params.slot_base + g) * params.width + col] = rows[base + src * params.width + col];
}

// ---- most-attended --------------------------------------------------------

// Usage, tiled like attention: a workgroup of 128 threads owns 32
// consecutive evicted keys j0 … j0 + 31 and walks the union of their
// watchers, [j0, min(n, S·evicted_at(j0 + 31))), in chunks of 32 query rows.
// Per chunk the 32 × 32 scores are a small matrix product through
// workgroup memory, 32 columns of d at a time (Q chunk and K tile staged
// once per slice, read by every thread from there): thread (kx = t % 32,
// ry = t / 32) scores key j0 + kx against rows ry·8 … ry·8 + 7 of the
// chunk, then adds exp(s·scale − m_i)/l_i for the rows that watch its key.
// The four row groups' sums meet in workgroup memory at the end;
// u_j = their total / W_j. One workgroup per 32 keys.
const UT: u32 = 32u;
const US: u32 = 33u; // padded row stride of the staged slices
var<workgroup> q_slice: array<f32, 1056>; // 32 rows × 33
var<workgroup> k_slice: array<f32, 1056>; // 32 keys × 33
var<workgroup> row_sums: array<f32, 128>;

@compute @workgroup_size(128)
fn usage(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let j0 = (wg.y * groups.x + wg.x) * UT;
    if j0 >= params.evicted {
        return;
    }
    let n = params.n;
    let d = params.d;
    let h = wg.z;
    let q_head = h * n * d;
    let k_head = h * params.key_rows * d;
    let stats_head = h * n * 2u;
    let kx = t % UT;
    let ry = t / UT;
    let j = j0 + kx;
    let live = j < params.evicted;
    let last = min(j0 + UT, params.evicted) - 1u;
    let tile_end = min(n, evicted_at(last) * params.segment);
    var my_end = j;
    if live {
        my_end = min(n, evicted_at(j) * params.segment);
    }
    var total = 0.0;
    for (var i0 = j0; i0 < tile_end; i0 += UT) {
        var acc = array<f32, 8>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for (var e0 = 0u; e0 < d; e0 += UT) {
            for (var idx = t; idx < UT * UT; idx += 128u) {
                let r = idx / UT;
                let c = idx % UT;
                var qv = 0.0;
                var kv = 0.0;
                if e0 + c < d {
                    if i0 + r < n {
                        qv = q[q_head + (i0 + r) * d + e0 + c];
                    }
                    if j0 + r < n {
                        kv = k[k_head + (j0 + r) * d + e0 + c];
                    }
                }
                q_slice[r * US + c] = qv;
                k_slice[r * US + c] = kv;
            }
            workgroupBarrier();
            for (var c = 0u; c < UT; c++) {
                let kv = k_slice[kx * US + c];
                for (var r = 0u; r < 8u; r++) {
                    acc[r] += q_slice[(ry * 8u + r) * US + c] * kv;
                }
            }
            workgroupBarrier();
        }
        for (var r = 0u; r < 8u; r++) {
            let i = i0 + ry * 8u + r;
            if live && i >= j && i < my_end {
                total += exp(acc[r] * params.scale - stats[stats_head + 2u * i]) / stats[stats_head + 2u * i + 1u];
            }
        }
    }
    row_sums[t] = total;
    workgroupBarrier();
    if ry == 0u && live {
        let sum = row_sums[kx] + row_sums[UT + kx] + row_sums[2u * UT + kx] + row_sums[3u * UT + kx];
        usage_of[evicted_base(h) + j] = sum / f32(max(my_end - j, 1u));
    }
}

// One thread per evicted position: kept when fewer than L/c positions of its
// batch rank above it.
@compute @workgroup_size(64)
fn select_keep(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = thread_index(gid);
    if j >= params.evicted {
        return;
    }
    let t = evicted_at(j);
    let lo = boundary(t - 1u);
    let hi = boundary(t);
    let base = evicted_base(gid.z);
    let mine = usage_of[base + j];
    var above = 0u;
    for (var o = lo; o < hi; o++) {
        let u = usage_of[base + o];
        above += select(0u, 1u, u > mine) + select(0u, 1u, u == mine && o < j);
    }
    keep[base + j] = select(0u, 1u, above < (hi - lo) / params.rate);
}

// One thread per position: its slot (or NO_SLOT), and the slot's source.
@compute @workgroup_size(64)
fn select_slots(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = thread_index(gid);
    if j >= params.n {
        return;
    }
    let h = gid.z;
    let own = h * params.n + j;
    if j >= params.evicted {
        slot_of[own] = NO_SLOT;
        return;
    }
    let lo = boundary(evicted_at(j) - 1u);
    let base = evicted_base(h);
    var before = 0u;
    for (var o = lo; o < j; o++) {
        before += keep[base + o];
    }
    if keep[base + j] == 0u {
        slot_of[own] = NO_SLOT;
        return;
    }
    let g = lo / params.rate + before;
    slot_of[own] = g;
    slot_src[h * params.slots + g] = j;
}

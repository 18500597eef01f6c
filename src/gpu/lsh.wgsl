// Reformer's angular LSH and bucket sort (Kitaev et al. 2020, §2.2;
// survey §"Sparse Attention"): h(x) = argmax([xR; −xR]) with a random
// R ∈ ℝ^{d × b/2} per round, then a stable sort of positions by bucket.
// Host code: src/gpu/tiled_attention.rs; CPU twin: src/attention/reformer.rs.
//
// Every pass is one dispatch over all heads (the head in workgroup_id.z) and
// all sequences of a head: (which = queries or keys) × round, seq index
// which·rounds + r. Each head hashes and sorts its own queries and keys.
//
// The sort is a multi-workgroup radix sort of each sequence by the key
// (bucket, position). Buckets are below 256, so one 8-bit digit suffices,
// and the sort is stable — positions enter in increasing order and keep it
// within a bucket — which makes the position the secondary key:
//
//   lsh_count    one workgroup per (block of 256 positions, seq, head):
//                the block's histogram, counts[seq][bucket][block];
//   lsh_scan     one workgroup per (bucket, seq, head): the exclusive scan
//                of counts[seq][bucket][·] over blocks, in place, and the
//                bucket's total;
//   lsh_scatter  one workgroup per (block, seq, head): the destination of
//                each position p = (start of its bucket: the totals of the
//                smaller buckets) + (its bucket's count in earlier blocks)
//                + (earlier positions of its block in its bucket).
//
// Bindings (group 0):
//   0 params   uniform             LshParams
//   1 q        storage, read       heads × n × d   queries
//   2 k        storage, read       heads × n × d   keys (normalised queries when shared-QK)
//   3 planes   storage, read       rounds × d × (b/2)   the random rotations R (shared)
//   4 buckets  storage, read_write heads × 2 × rounds × n   bucket of each query, then each key
//   5 aux      storage, read_write heads × 5 × rounds × n   qpos, kpos (sorted → position),
//                                  qrank, krank (position → sorted), qbucket
//   6 counts   storage, read_write heads × 2·rounds × b × blocks   per-block counts,
//                                  then their exclusive scans over blocks
//   7 totals   storage, read_write heads × 2·rounds × b   positions per bucket

struct LshParams {
    n: u32,
    d: u32,
    n_buckets: u32, // b
    rounds: u32,
    blocks: u32,    // ⌈n / 256⌉ sort blocks per sequence
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> params: LshParams;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> planes: array<f32>;
@group(0) @binding(4) var<storage, read_write> buckets: array<u32>;
@group(0) @binding(5) var<storage, read_write> aux: array<u32>;
@group(0) @binding(6) var<storage, read_write> counts: array<u32>;
@group(0) @binding(7) var<storage, read_write> totals: array<u32>;

const BLOCK: u32 = 256u;

fn row_value(which: u32, base: u32, e: u32) -> f32 {
    if which == 0u {
        return q[base + e];
    }
    return k[base + e];
}

// One thread per (which, round, position) of head workgroup_id.z: the first
// maximum of [xR; −xR], i.e. the first largest projection unless the first
// smallest is larger in magnitude (then b/2 + its index). A 2-D grid of
// 64-thread workgroups covers the 2·rounds·n threads of a head.
@compute @workgroup_size(64)
fn lsh_hash(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let per = params.rounds * params.n;
    let idx = (wg.y * groups.x + wg.x) * 64u + t;
    if idx >= 2u * per {
        return;
    }
    let h = wg.z;
    let which = idx / per;
    let r = (idx % per) / params.n;
    let p = idx % params.n;
    let base = (h * params.n + p) * params.d;
    let half = params.n_buckets / 2u;
    var best_max = 0.0;
    var arg_max = 0u;
    var best_min = 0.0;
    var arg_min = 0u;
    for (var c = 0u; c < half; c++) {
        var proj = 0.0;
        for (var e = 0u; e < params.d; e++) {
            proj += row_value(which, base, e) * planes[(r * params.d + e) * half + c];
        }
        if c == 0u || proj > best_max {
            best_max = proj;
            arg_max = c;
        }
        if c == 0u || proj < best_min {
            best_min = proj;
            arg_min = c;
        }
    }
    buckets[h * 2u * per + idx] = select(half + arg_min, arg_max, best_max >= -best_min);
}

// Sequence `seq` (= which·rounds + r) of head h: its first bucket entry.
fn sequence_base(h: u32, seq: u32) -> u32 {
    return (h * 2u * params.rounds + seq) * params.n;
}

// Its counts[bucket][block] table and its totals.
fn counts_base(h: u32, seq: u32) -> u32 {
    return (h * 2u * params.rounds + seq) * params.n_buckets * params.blocks;
}

fn totals_base(h: u32, seq: u32) -> u32 {
    return (h * 2u * params.rounds + seq) * params.n_buckets;
}

var<workgroup> hist: array<atomic<u32>, 256>;

// The histogram of one block of 256 positions: grid (blocks, 2·rounds, heads).
@compute @workgroup_size(256)
fn lsh_count(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let block = wg.x;
    let seq = wg.y;
    let h = wg.z;
    atomicStore(&hist[t], 0u);
    workgroupBarrier();
    let p = block * BLOCK + t;
    if p < params.n {
        atomicAdd(&hist[buckets[sequence_base(h, seq) + p]], 1u);
    }
    workgroupBarrier();
    if t < params.n_buckets {
        counts[counts_base(h, seq) + t * params.blocks + block] = atomicLoad(&hist[t]);
    }
}

var<workgroup> scan_tmp: array<u32, 256>;

// Inclusive scan of scan_tmp (Hillis–Steele, 8 steps); every thread calls it.
fn scan_workgroup(t: u32) {
    for (var step = 1u; step < BLOCK; step *= 2u) {
        var add = 0u;
        if t >= step {
            add = scan_tmp[t - step];
        }
        workgroupBarrier();
        scan_tmp[t] += add;
        workgroupBarrier();
    }
}

// The exclusive scan over blocks of one bucket's counts, 256 blocks at a
// time with a running carry, in place; the bucket's total to `totals`.
// Grid (buckets, 2·rounds, heads).
@compute @workgroup_size(256)
fn lsh_scan(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let bucket = wg.x;
    let seq = wg.y;
    let h = wg.z;
    let base = counts_base(h, seq) + bucket * params.blocks;
    var carry = 0u;
    for (var b0 = 0u; b0 < params.blocks; b0 += BLOCK) {
        var mine = 0u;
        if b0 + t < params.blocks {
            mine = counts[base + b0 + t];
        }
        scan_tmp[t] = mine;
        workgroupBarrier();
        scan_workgroup(t);
        if b0 + t < params.blocks {
            counts[base + b0 + t] = carry + scan_tmp[t] - mine;
        }
        carry += scan_tmp[BLOCK - 1u];
        workgroupBarrier();
    }
    if t == 0u {
        totals[totals_base(h, seq) + bucket] = carry;
    }
}

var<workgroup> bucket_start: array<u32, 256>;
var<workgroup> block_bucket: array<u32, 256>;

// Places one block of 256 positions: grid (blocks, 2·rounds, heads). Writes
// sorted → position, position → sorted, and (queries) the bucket.
@compute @workgroup_size(256)
fn lsh_scatter(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let block = wg.x;
    let seq = wg.y;
    let h = wg.z;
    let n = params.n;
    let per = params.rounds * n;
    let which = seq / params.rounds;
    let r = seq % params.rounds;
    // Start of bucket t: the totals of the smaller buckets.
    if t < params.n_buckets {
        var before = 0u;
        for (var b = 0u; b < t; b++) {
            before += totals[totals_base(h, seq) + b];
        }
        bucket_start[t] = before;
    }
    let p = block * BLOCK + t;
    var mine = 0xffffffffu;
    if p < n {
        mine = buckets[sequence_base(h, seq) + p];
    }
    block_bucket[t] = mine;
    workgroupBarrier();
    if p >= n {
        return;
    }
    var earlier = 0u;
    for (var u = 0u; u < t; u++) {
        if block_bucket[u] == mine {
            earlier += 1u;
        }
    }
    let s = bucket_start[mine] + counts[counts_base(h, seq) + mine * params.blocks + block] + earlier;
    let head_aux = h * 5u * per;
    aux[head_aux + which * per + r * n + s] = p;
    aux[head_aux + (2u + which) * per + r * n + p] = s;
    if which == 0u {
        aux[head_aux + 4u * per + r * n + p] = mine;
    }
}

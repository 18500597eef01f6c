// Reformer's angular LSH and bucket sort (Kitaev et al. 2020, §2.2;
// survey §"Sparse Attention"): h(x) = argmax([xR; −xR]) with a random
// R ∈ ℝ^{d × b/2} per round, then a stable sort of positions by bucket.
// Host code: src/gpu/tiled_attention.rs; CPU twin: src/attention/reformer.rs.
//
// Bindings (group 0):
//   0 params   uniform             LshParams
//   1 q        storage, read       n × d      queries
//   2 k        storage, read       n × d      keys (normalised queries when shared-QK)
//   3 planes   storage, read       rounds × d × (b/2)   the random rotations R
//   4 buckets  storage, read_write 2 × rounds × n   bucket of each query, then each key
//   5 aux      storage, read_write 5 × rounds × n   qpos, kpos (sorted → position),
//                                  qrank, krank (position → sorted), qbucket

struct LshParams {
    n: u32,
    d: u32,
    buckets: u32,
    rounds: u32,
}

@group(0) @binding(0) var<uniform> params: LshParams;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> planes: array<f32>;
@group(0) @binding(4) var<storage, read_write> buckets: array<u32>;
@group(0) @binding(5) var<storage, read_write> aux: array<u32>;

fn row_value(which: u32, p: u32, e: u32) -> f32 {
    if which == 0u {
        return q[p * params.d + e];
    }
    return k[p * params.d + e];
}

// One thread per (which, round, position): the first maximum of
// [xR; −xR], i.e. the first largest projection unless the first smallest is
// larger in magnitude (then b/2 + its index). Grid ⌈2·rounds·n / 64⌉.
@compute @workgroup_size(64)
fn lsh_hash(@builtin(global_invocation_id) gid: vec3<u32>) {
    let per = params.rounds * params.n;
    let idx = gid.x;
    if idx >= 2u * per {
        return;
    }
    let which = idx / per;
    let r = (idx % per) / params.n;
    let p = idx % params.n;
    let half = params.buckets / 2u;
    var best_max = 0.0;
    var arg_max = 0u;
    var best_min = 0.0;
    var arg_min = 0u;
    for (var h = 0u; h < half; h++) {
        var proj = 0.0;
        for (var e = 0u; e < params.d; e++) {
            proj += row_value(which, p, e) * planes[(r * params.d + e) * half + h];
        }
        if h == 0u || proj > best_max {
            best_max = proj;
            arg_max = h;
        }
        if h == 0u || proj < best_min {
            best_min = proj;
            arg_min = h;
        }
    }
    buckets[idx] = select(half + arg_min, arg_max, best_max >= -best_min);
}

var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> start: array<u32, 256>;
var<workgroup> block_bucket: array<u32, 256>;

// Stable counting sort of one round's queries or keys by bucket: one
// workgroup of 256 threads per (which, round). A histogram gives each
// bucket's start; blocks of 256 positions are then placed in order, each
// thread counting the earlier threads of its block in the same bucket.
// Writes sorted → position, position → sorted, and the query buckets.
@compute @workgroup_size(256)
fn lsh_sort(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let n = params.n;
    let per = params.rounds * n;
    let which = wg.x / params.rounds;
    let r = wg.x % params.rounds;
    let base = (which * params.rounds + r) * n;

    atomicStore(&hist[t], 0u);
    workgroupBarrier();
    for (var p = t; p < n; p += 256u) {
        atomicAdd(&hist[buckets[base + p]], 1u);
    }
    workgroupBarrier();
    if t == 0u {
        var running = 0u;
        for (var b = 0u; b < 256u; b++) {
            start[b] = running;
            running += atomicLoad(&hist[b]);
        }
    }
    workgroupBarrier();

    for (var block0 = 0u; block0 < n; block0 += 256u) {
        let p = block0 + t;
        var mine = 0xffffffffu;
        if p < n {
            mine = buckets[base + p];
        }
        block_bucket[t] = mine;
        workgroupBarrier();
        if p < n {
            var earlier = 0u;
            for (var u = 0u; u < t; u++) {
                if block_bucket[u] == mine {
                    earlier += 1u;
                }
            }
            let s = start[mine] + earlier;
            aux[which * per + r * n + s] = p;
            aux[(2u + which) * per + r * n + p] = s;
            if which == 0u {
                aux[4u * per + r * n + p] = mine;
            }
        }
        workgroupBarrier();
        var count = 0u;
        for (var u = 0u; u < 256u; u++) {
            if block_bucket[u] == t {
                count += 1u;
            }
        }
        start[t] += count;
        workgroupBarrier();
    }
}

// Dense linear algebra for the low-rank methods (Linformer, Nyströmformer,
// the dense Synthesizer) and the implied-matrix views of the kernel methods;
// their matrix products run in sgemm.wgsl. Host code: src/gpu/linalg.rs.
// Every entry point reads `p` and up to three inputs and writes one output.
//
// Heads (B·H of them): matrices are stacked item after item, each packed
// rows × cols. `softmax_rows` folds the items into its rows; `identity_plus`,
// `pinv_start`, `pinv_commit` and `segment_means` take the item from the
// dispatch's z (workgroup_id.z, one layer per item), so every pass is one
// dispatch over all heads.
//
// Bindings (group 0):
//   0 p     uniform             OpParams
//   1 a     storage, read       first operand
//   2 b     storage, read       second operand
//   3 c     storage, read_write output (in place for `softmax_rows`, `bias_relu`)
//   4 e     storage, read       third operand (pool_factored: row scales)

struct OpParams {
    m: u32,        // output rows
    n: u32,        // output columns
    k: u32,        // inner dimension
    causal: u32,   // softmax_rows, pool_factored: mask j > i
    alpha: f32,
    beta: f32,
    factor: u32,   // pool_factored: positions per cell
    cells: u32,    // pool_factored: cells per side
}

@group(0) @binding(0) var<uniform> p: OpParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> e: array<f32>;

var<workgroup> reduce: array<f32, 256>;

// Row softmax of c (m × n) in place, after scaling by alpha; with causal,
// entries j > i get weight 0. One workgroup of 256 threads per row.
@compute @workgroup_size(256)
fn softmax_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let i = wg.x + wg.y * 65535u;
    if i >= p.m {
        return;
    }
    let limit = select(p.n, min(i + 1u, p.n), p.causal != 0u);
    let base = i * p.n;
    var m = -3.0e38;
    for (var j = t; j < limit; j += 256u) {
        m = max(m, c[base + j] * p.alpha);
    }
    reduce[t] = m;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s / 2u) {
        if t < s {
            reduce[t] = max(reduce[t], reduce[t + s]);
        }
        workgroupBarrier();
    }
    let row_max = reduce[0];
    workgroupBarrier();
    var sum = 0.0;
    for (var j = t; j < limit; j += 256u) {
        sum += exp(c[base + j] * p.alpha - row_max);
    }
    reduce[t] = sum;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s / 2u) {
        if t < s {
            reduce[t] = reduce[t] + reduce[t + s];
        }
        workgroupBarrier();
    }
    let inv = 1.0 / reduce[0];
    for (var j = t; j < p.n; j += 256u) {
        var w = 0.0;
        if j < limit {
            w = exp(c[base + j] * p.alpha - row_max) * inv;
        }
        c[base + j] = w;
    }
}

// The same softmax for short rows (n ≤ 256: the landmark kernels of
// Nyströmformer, n × L): one thread per row, 64 rows per workgroup, where a
// workgroup per row would leave most of its 256 threads idle and pay two
// reduction trees for a few dozen entries. Row i = (wg.x + wg.y·65535)·64 +
// lane; the row's three sweeps (max, sum, write) read it from cache after
// the first.
@compute @workgroup_size(64)
fn softmax_rows_short(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let i = (wg.x + wg.y * 65535u) * 64u + t;
    if i >= p.m {
        return;
    }
    let limit = select(p.n, min(i + 1u, p.n), p.causal != 0u);
    let base = i * p.n;
    var m = -3.0e38;
    for (var j = 0u; j < limit; j++) {
        m = max(m, c[base + j] * p.alpha);
    }
    var sum = 0.0;
    for (var j = 0u; j < limit; j++) {
        sum += exp(c[base + j] * p.alpha - m);
    }
    let inv = 1.0 / sum;
    for (var j = 0u; j < p.n; j++) {
        var w = 0.0;
        if j < limit {
            w = exp(c[base + j] * p.alpha - m) * inv;
        }
        c[base + j] = w;
    }
}

// Split-K's second pass: c[item][e] = Σ_s a[item·splits + s][e] over the
// p.k partial products of each of p.n items of p.m entries (the sgemm
// pass wrote them, α applied). Index (wg.x + wg.y·65535)·256 + lane over
// all items' entries.
@compute @workgroup_size(256)
fn sum_splits(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let idx = (wg.x + wg.y * 65535u) * 256u + t;
    if idx >= p.m * p.n {
        return;
    }
    let item = idx / p.m;
    let entry = idx % p.m;
    var sum = 0.0;
    for (var s = 0u; s < p.k; s++) {
        sum += a[(item * p.k + s) * p.m + entry];
    }
    c[idx] = sum;
}

// c = alpha·I + beta·a for square m × m matrices, item gid.z.
@compute @workgroup_size(64)
fn identity_plus(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = gid.x;
    if idx >= p.m * p.m {
        return;
    }
    let at = gid.z * p.m * p.m + idx;
    let on_diagonal = idx / p.m == idx % p.m;
    c[at] = select(0.0, p.alpha, on_diagonal) + p.beta * a[at];
}

// The per-head stop of the pseudo-inverse iteration: after step k (p.k,
// 1-based), item gid.z takes the new Z (a) into c only while k ≤ its own
// number of iterations (e, one f32 per item); a head whose residual stopped
// falling keeps the last Z whose residual still fell.
@compute @workgroup_size(64)
fn pinv_commit(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = gid.x;
    if idx >= p.m * p.m || f32(p.k) > e[gid.z] {
        return;
    }
    let at = gid.z * p.m * p.m + idx;
    c[at] = a[at];
}

// The Moore–Penrose iteration's start (Razavi et al. 2014, as in
// Nyströmformer): c = aᵀ / (‖a‖₁·‖a‖∞), the largest column sum times the
// largest row sum. One workgroup of 256 threads per item (workgroup_id.z);
// m ≤ 256 × 64.
@compute @workgroup_size(256)
fn pinv_start(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let base = wg.z * p.m * p.m;
    var col_max = 0.0;
    var row_max = 0.0;
    for (var j = t; j < p.m; j += 256u) {
        var col = 0.0;
        var row = 0.0;
        for (var i = 0u; i < p.m; i++) {
            col += abs(a[base + i * p.m + j]);
            row += abs(a[base + j * p.m + i]);
        }
        col_max = max(col_max, col);
        row_max = max(row_max, row);
    }
    reduce[t] = col_max;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s / 2u) {
        if t < s {
            reduce[t] = max(reduce[t], reduce[t + s]);
        }
        workgroupBarrier();
    }
    let norm1 = reduce[0];
    workgroupBarrier();
    reduce[t] = row_max;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s / 2u) {
        if t < s {
            reduce[t] = max(reduce[t], reduce[t + s]);
        }
        workgroupBarrier();
    }
    let scale = 1.0 / max(norm1 * reduce[0], 1e-30);
    for (var idx = t; idx < p.m * p.m; idx += 256u) {
        let i = idx / p.m;
        let j = idx % p.m;
        c[base + idx] = a[base + j * p.m + i] * scale;
    }
}

// c (m × n) = segment means of a's rows: segment s averages rows
// ⌊s·k/m⌋ … ⌊(s+1)·k/m⌋ − 1 of a (k × n), item gid.z. One thread per
// output entry.
@compute @workgroup_size(64)
fn segment_means(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = gid.x;
    if idx >= p.m * p.n {
        return;
    }
    let origin = gid.z * p.k * p.n;
    let s = idx / p.n;
    let col = idx % p.n;
    // ⌊s·k/m⌋ as s·⌊k/m⌋ + ⌊s·(k mod m)/m⌋: no u32 overflow for k up to
    // 2³² − 1 as long as m² < 2³² (m ≤ 4096 here).
    let whole = p.k / p.m;
    let rest = p.k % p.m;
    let first = s * whole + s * rest / p.m;
    let end = (s + 1u) * whole + (s + 1u) * rest / p.m;
    var total = 0.0;
    for (var r = first; r < end; r++) {
        total += a[origin + r * p.n + col];
    }
    c[gid.z * p.m * p.n + idx] = total / f32(max(end - first, 1u));
}

// In place on c (m × n): c ← c + bias (a row vector in a), then ReLU when
// beta ≠ 0. One thread per entry.
@compute @workgroup_size(64)
fn bias_relu(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = gid.x;
    if idx >= p.m * p.n {
        return;
    }
    var x = c[idx] + a[idx % p.n];
    if p.beta != 0.0 {
        x = max(x, 0.0);
    }
    c[idx] = x;
}

// Block sums for `pool_factored`, after the cells² map in c: for block A of
// rows, Σ_{i∈A} eᵢ·uᵢ (which = 0) and Σ_{j∈A} wⱼ (which = 1), k each.
// One thread per (which, block, t); grid ⌈2·cells·k / 64⌉.
@compute @workgroup_size(64)
fn block_sums(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = gid.x;
    if idx >= 2u * p.cells * p.k {
        return;
    }
    let which = idx / (p.cells * p.k);
    let block = (idx / p.k) % p.cells;
    let t = idx % p.k;
    let rows = select(p.n, p.m, which == 0u);
    let end = min((block + 1u) * p.factor, rows);
    var total = 0.0;
    for (var i = block * p.factor; i < end; i++) {
        if which == 0u {
            total += e[i] * a[i * p.k + t];
        } else {
            total += b[i * p.k + t];
        }
    }
    c[p.cells * p.cells + idx] = total;
}

// Implied attention map of a factored method, pooled to cells × cells:
// Aᵢⱼ = eᵢ · Σ_t uᵢₜ·wⱼₜ with u = a (m × k), w = b (n × k), row scales e,
// causal masking j > i. Cell (x, y) is the mean over its block: off the
// causal diagonal it is (Σ_{i∈x} eᵢuᵢ)·(Σ_{j∈y} wⱼ)/area from `block_sums`;
// diagonal cells of a causal map sum their pairs directly. One thread per cell.
@compute @workgroup_size(16, 16)
fn pool_factored(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row_cell = gid.y;
    let col_cell = gid.x;
    if row_cell >= p.cells || col_cell >= p.cells {
        return;
    }
    let f = p.factor;
    let i_end = min((row_cell + 1u) * f, p.m);
    let j_end = min((col_cell + 1u) * f, p.n);
    var total = 0.0;
    if p.causal == 0u || col_cell < row_cell {
        let us = p.cells * p.cells + row_cell * p.k;
        let ws = p.cells * p.cells + (p.cells + col_cell) * p.k;
        for (var t = 0u; t < p.k; t++) {
            total += c[us + t] * c[ws + t];
        }
    } else if col_cell == row_cell {
        for (var i = row_cell * f; i < i_end; i++) {
            for (var j = col_cell * f; j <= i && j < j_end; j++) {
                var dot = 0.0;
                for (var t = 0u; t < p.k; t++) {
                    dot += a[i * p.k + t] * b[j * p.k + t];
                }
                total += dot * e[i];
            }
        }
    }
    c[row_cell * p.cells + col_cell] =
        total / f32((i_end - row_cell * f) * (j_end - col_cell * f));
}

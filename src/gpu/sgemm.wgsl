// Tiled single-precision GEMM: C[b] = alpha · op(A[b]) · op(B[b]) for every
// batch item b (the dispatch's z), op = identity or transpose (overrides
// TRANS_A, TRANS_B), any M, N, K. The building block of the low-rank methods
// (Linformer, Nyströmformer, the dense Synthesizer). Host code:
// src/gpu/sgemm.rs (which says how the tiling was chosen and what it
// measured); executed counts: src/gpu/work.rs `sgemm`.
//
// This file is a template: the host writes each variant's sizes into the
// `const` lines of the block marked below (sgemm.rs `generate`) and compiles
// one module per variant, so that the workgroup arrays are 2-D with fixed
// sizes and every index into them is a compile-time shape (an override
// cannot size a nested array). As written it is the large variant of the
// default configuration.
//
// Measured on an H200 (wgpu 30, Vulkan; sgemm.rs has the figures): the
// default (K-steps of 16, one buffer, 4 × 8 warps) 41.0 TFLOP/s at 4096³,
// 0.82× cuBLAS (33.0 before each k's four pieces were read ahead of its
// multiply-adds in `rank1` and the loads bounded by the split-K range:
// not isolated which); fma() the same; the pieces of the next k read a
// step ahead (PIPELINED) slower.
//
// Split-K: with p.splits > 1 the dispatch's z is item·splits + part, part
// s multiplies the K range [s·k_chunk, (s + 1)·k_chunk) into layer z of C
// (the host sums the layers); k_chunk is a multiple of 16, so ranges start
// on vec4 boundaries.
//
// Register blocking (the classic shared-memory SGEMM): a workgroup computes
// a TILE × TILE tile of C; each thread 4·BLOCKS × 4·BLOCKS outputs, rows
// h·(TILE/BLOCKS) + 4·ty + i and columns g·(TILE/BLOCKS) + 4·tx + j
// (h, g < BLOCKS; i, j < 4), so that its workgroup-memory reads are whole
// vec4s. Per k it loads a column of op(A)'s tile and a row of op(B)'s into
// registers (BLOCKS vec4s each) and adds their outer product (16·BLOCKS²
// multiply-adds). With LANES_2D a warp's 32 threads are 4 rows × 8 columns
// of threads (its B reads 8 distinct vec4s, its A reads 4), else 2 × 16.
// K advances by BK per step; op(A)'s tile is stored K-major (tile_a[k][m/4])
// and op(B)'s too (tile_b[k][n/4]). STAGES = 2: two buffers, the next
// step's words are loaded from global memory into registers while the
// current step computes, then stored into the other buffer, one barrier
// per step; STAGES = 1: one buffer (half the memory), the same register
// prefetch, two barriers per step.
//
// Bounds: every global load is guarded (outside op(A)'s M × K or op(B)'s
// K × N it reads 0), every store of C too, and workgroup indices are below
// their array sizes by construction (the sizes are constants); the host
// checks each buffer holds the extent its shape and strides reach before
// dispatching, which is why it may compile this module without runtime
// bounds checks.
//
// Two entry points differ only in their global loads:
//   sgemm_vec4    A and B read as vec4 (needs lda, ldb and the batch strides
//                 to be multiples of 4: a vec4 never straddles a row);
//   sgemm_scalar  A and B read as scalars, any layout.
//
// Bindings (group 0):
//   0 p    uniform              Params
//   1 a    storage, read        A as f32 (sgemm_scalar)
//   2 b    storage, read        B as f32 (sgemm_scalar)
//   3 c    storage, read_write  C, [batch][M][ldc]
//   4 a4   storage, read        A as vec4 (sgemm_vec4)
//   5 b4   storage, read        B as vec4 (sgemm_vec4)

struct Params {
    m: u32,         // rows of op(A) and of C
    n: u32,         // columns of op(B) and of C
    k: u32,         // the inner dimension
    lda: u32,       // stored row length of A (K, or M when transposed, or more)
    ldb: u32,       // stored row length of B (N, or K when transposed, or more)
    ldc: u32,       // stored row length of C (≥ N)
    stride_a: u32,  // elements between batch items of A (0: shared)
    stride_b: u32,  // of B
    stride_c: u32,  // of C
    alpha: f32,
    k_chunk: u32,   // K per split (split-K: ≥ k when unsplit, a multiple of BK)
    splits: u32,    // layers of z per batch item (1: unsplit)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> b4: array<vec4<f32>>;

// --- the variant: the host rewrites these lines (sgemm.rs `generate`) ----
const TILE: u32 = 128u;       // rows and columns of C per workgroup
const BLOCKS: u32 = 2u;       // 4 × 4 blocks per thread side (8 × 8 outputs), or 1
const BK: u32 = 16u;          // K per step (a multiple of 4)
const STAGES: u32 = 1u;       // workgroup buffers (2, or 1 with two barriers per step)
const LANES_2D: bool = true;  // a warp as 4 × 8 threads (with 16 threads per side)
const FUSED: bool = false;    // multiply-adds through fma() rather than a * b + c
const PIPELINED: bool = false; // next k's pieces read before this k's multiply-adds
// --- end of the variant ----------------------------------------------------

override TRANS_A: bool = false;  // A is stored K × M
override TRANS_B: bool = false;  // B is stored N × K

const SIDE: u32 = TILE / (4u * BLOCKS);   // threads per workgroup side
const THREADS: u32 = SIDE * SIDE;
const TILE4: u32 = TILE / 4u;             // vec4s per tile row
const HALF4: u32 = TILE4 / BLOCKS;        // a thread's second block, in vec4s
const KQ: u32 = BK / 4u;                  // vec4s of K per tile row of a K-contiguous operand
const LOADS: u32 = TILE * KQ / THREADS;   // vec4s per thread per operand and step (1, 2 or 4)
const ROWS: u32 = STAGES * BK;            // rows of K in workgroup memory

var<workgroup> tile_a: array<array<vec4<f32>, TILE4>, ROWS>;
var<workgroup> tile_b: array<array<vec4<f32>, TILE4>, ROWS>;

// Load slot e of a step's tile (e = t + l·THREADS for the thread's l-th
// load), seen as vec4s. An M- or N-contiguous operand (Aᵀ, or B) has BK
// rows of TILE/4 vec4s: row e / TILE4, vec4 e % TILE4 (a warp reads whole
// rows). A K-contiguous operand (A, or Bᵀ) has TILE rows of BK/4 vec4s:
// row e / KQ, vec4 e % KQ, so that BK/4 consecutive threads read a row's
// BK contiguous values; its 4 values go to 4 rows of the K-major tile as
// scalars.

// Row and first K-index of slot e of a K-contiguous tile.
fn k_slot(e: u32) -> vec2<u32> {
    return vec2<u32>(e / KQ, (e % KQ) * 4u);
}

// Where slot e of op(A)'s tile starting at (row0, k0) lies: (row of
// op(A), first k); its 4 values run along m (Aᵀ) or k.
fn a_slot(e: u32, row0: u32, k0: u32) -> vec2<u32> {
    if TRANS_A {
        return vec2<u32>(row0 + (e % TILE4) * 4u, k0 + e / TILE4);
    }
    return vec2<u32>(row0, k0) + k_slot(e);
}

// The same for op(B)'s tile at (k0, col0): (column of op(B), first k).
fn b_slot(e: u32, col0: u32, k0: u32) -> vec2<u32> {
    if TRANS_B {
        return vec2<u32>(col0, k0) + k_slot(e);
    }
    return vec2<u32>(col0 + (e % TILE4) * 4u, k0 + e / TILE4);
}

// Stores slot e's four values into the rows from `buf` (0 or BK) of
// `tile_a`: one vec4 along m, or four scalars down k.
fn store_a(buf: u32, e: u32, v: vec4<f32>) {
    if TRANS_A {
        tile_a[buf + e / TILE4][e % TILE4] = v;
    } else {
        let s = k_slot(e);
        let lane = s.x % 4u;
        let col4 = s.x / 4u;
        let r = buf + s.y;
        tile_a[r][col4][lane] = v.x;
        tile_a[r + 1u][col4][lane] = v.y;
        tile_a[r + 2u][col4][lane] = v.z;
        tile_a[r + 3u][col4][lane] = v.w;
    }
}

fn store_b(buf: u32, e: u32, v: vec4<f32>) {
    if TRANS_B {
        let s = k_slot(e);
        let lane = s.x % 4u;
        let col4 = s.x / 4u;
        let r = buf + s.y;
        tile_b[r][col4][lane] = v.x;
        tile_b[r + 1u][col4][lane] = v.y;
        tile_b[r + 2u][col4][lane] = v.z;
        tile_b[r + 3u][col4][lane] = v.w;
    } else {
        tile_b[buf + e / TILE4][e % TILE4] = v;
    }
}

// --- vec4 loads: lda, ldb and the strides are multiples of 4 -------------

// The vec4 of op(A) at slot (row, k), zero outside M × K. Along k (A) the
// host requires K % 4 = 0, so a vec4 lies wholly inside K or outside it;
// along m (Aᵀ) it starts inside M and ends inside the stored row (lda is a
// multiple of 4), and its values past M only reach rows of C never written.
// The same holds for op(B) along k (Bᵀ) and along n (B).
fn load_a4(base: u32, s: vec2<u32>, k_end: u32) -> vec4<f32> {
    if s.x < p.m && s.y < k_end {
        if TRANS_A {
            return a4[(base + s.y * p.lda + s.x) / 4u];
        }
        return a4[(base + s.x * p.lda + s.y) / 4u];
    }
    return vec4<f32>(0.0);
}

fn load_b4(base: u32, s: vec2<u32>, k_end: u32) -> vec4<f32> {
    if s.x < p.n && s.y < k_end {
        if TRANS_B {
            return b4[(base + s.x * p.ldb + s.y) / 4u];
        }
        return b4[(base + s.y * p.ldb + s.x) / 4u];
    }
    return vec4<f32>(0.0);
}

// --- scalar loads: any layout ---------------------------------------------

// op(A)[row][k], zero outside M × K.
fn a_at(base: u32, row: u32, k: u32, k_end: u32) -> f32 {
    if row < p.m && k < k_end {
        if TRANS_A {
            return a[base + k * p.lda + row];
        }
        return a[base + row * p.lda + k];
    }
    return 0.0;
}

// op(B)[k][col], zero outside K × N.
fn b_at(base: u32, k: u32, col: u32, k_end: u32) -> f32 {
    if k < k_end && col < p.n {
        if TRANS_B {
            return b[base + col * p.ldb + k];
        }
        return b[base + k * p.ldb + col];
    }
    return 0.0;
}

// The four values of slot s, along k or along m (n) as the slot runs.
fn load_a1(base: u32, s: vec2<u32>, k_end: u32) -> vec4<f32> {
    if TRANS_A {
        return vec4<f32>(
            a_at(base, s.x, s.y, k_end),
            a_at(base, s.x + 1u, s.y, k_end),
            a_at(base, s.x + 2u, s.y, k_end),
            a_at(base, s.x + 3u, s.y, k_end),
        );
    }
    return vec4<f32>(
        a_at(base, s.x, s.y, k_end),
        a_at(base, s.x, s.y + 1u, k_end),
        a_at(base, s.x, s.y + 2u, k_end),
        a_at(base, s.x, s.y + 3u, k_end),
    );
}

fn load_b1(base: u32, s: vec2<u32>, k_end: u32) -> vec4<f32> {
    if TRANS_B {
        return vec4<f32>(
            b_at(base, s.y, s.x, k_end),
            b_at(base, s.y + 1u, s.x, k_end),
            b_at(base, s.y + 2u, s.x, k_end),
            b_at(base, s.y + 3u, s.x, k_end),
        );
    }
    return vec4<f32>(
        b_at(base, s.y, s.x, k_end),
        b_at(base, s.y, s.x + 1u, k_end),
        b_at(base, s.y, s.x + 2u, k_end),
        b_at(base, s.y, s.x + 3u, k_end),
    );
}

// --- the shared arithmetic --------------------------------------------------

// A thread's outputs: [(h·4 + i)·2 + g] holds row block h, row i, column
// block g, columns 0..3 as a vector (only h = g = 0 when BLOCKS = 1).
alias Acc = array<vec4<f32>, 16>;

// acc + x·y, as one fused operation with FUSED (else left to the driver).
fn mac(acc: vec4<f32>, x: f32, y: vec4<f32>) -> vec4<f32> {
    if FUSED {
        return fma(vec4<f32>(x), y, acc);
    }
    return acc + x * y;
}

// The BLOCKS² × 16 multiply-adds of one k: the outer product of the
// thread's column pieces a0, a1 of op(A) and row pieces b0, b1 of op(B).
fn rank1(acc: ptr<function, Acc>, a0: vec4<f32>, a1: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>) {
    (*acc)[0] = mac((*acc)[0], a0.x, b0);
    (*acc)[2] = mac((*acc)[2], a0.y, b0);
    (*acc)[4] = mac((*acc)[4], a0.z, b0);
    (*acc)[6] = mac((*acc)[6], a0.w, b0);
    if BLOCKS == 2u {
        (*acc)[1] = mac((*acc)[1], a0.x, b1);
        (*acc)[3] = mac((*acc)[3], a0.y, b1);
        (*acc)[5] = mac((*acc)[5], a0.z, b1);
        (*acc)[7] = mac((*acc)[7], a0.w, b1);
        (*acc)[8] = mac((*acc)[8], a1.x, b0);
        (*acc)[9] = mac((*acc)[9], a1.x, b1);
        (*acc)[10] = mac((*acc)[10], a1.y, b0);
        (*acc)[11] = mac((*acc)[11], a1.y, b1);
        (*acc)[12] = mac((*acc)[12], a1.z, b0);
        (*acc)[13] = mac((*acc)[13], a1.z, b1);
        (*acc)[14] = mac((*acc)[14], a1.w, b0);
        (*acc)[15] = mac((*acc)[15], a1.w, b1);
    }
}

// One step's BK rank-1 updates of the thread's outputs from the rows from
// `buf` of the workgroup tiles. With PIPELINED, row kk + 1's pieces are
// read from workgroup memory before row kk's multiply-adds are issued (the
// fragments double-buffered in registers), so that a warp has work while
// its next reads are in flight even when the driver does not unroll the
// loop; the last row re-reads itself.
fn multiply_step(acc: ptr<function, Acc>, buf: u32, tx: u32, ty: u32) {
    if PIPELINED {
        var a0 = tile_a[buf][ty];
        var b0 = tile_b[buf][tx];
        var a1 = a0;
        var b1 = b0;
        if BLOCKS == 2u {
            a1 = tile_a[buf][ty + HALF4];
            b1 = tile_b[buf][tx + HALF4];
        }
        for (var kk = 0u; kk < BK; kk++) {
            let r = buf + min(kk + 1u, BK - 1u);
            let na0 = tile_a[r][ty];
            let nb0 = tile_b[r][tx];
            var na1 = na0;
            var nb1 = nb0;
            if BLOCKS == 2u {
                na1 = tile_a[r][ty + HALF4];
                nb1 = tile_b[r][tx + HALF4];
            }
            rank1(acc, a0, a1, b0, b1);
            a0 = na0;
            b0 = nb0;
            a1 = na1;
            b1 = nb1;
        }
        return;
    }
    for (var kk = 0u; kk < BK; kk++) {
        let a0 = tile_a[buf + kk][ty];
        let b0 = tile_b[buf + kk][tx];
        var a1 = a0;
        var b1 = b0;
        if BLOCKS == 2u {
            a1 = tile_a[buf + kk][ty + HALF4];
            b1 = tile_b[buf + kk][tx + HALF4];
        }
        rank1(acc, a0, a1, b0, b1);
    }
}

// Writes alpha·v to the four entries of row r from column col that lie in C.
fn write_c(base: u32, r: u32, col: u32, v: vec4<f32>) {
    if r >= p.m {
        return;
    }
    let at = base + r * p.ldc + col;
    let x = p.alpha * v;
    if col < p.n {
        c[at] = x.x;
    }
    if col + 1u < p.n {
        c[at + 1u] = x.y;
    }
    if col + 2u < p.n {
        c[at + 2u] = x.z;
    }
    if col + 3u < p.n {
        c[at + 3u] = x.w;
    }
}

// Writes the thread's outputs (constant accumulator indices only).
fn write_outputs(acc: ptr<function, Acc>, base: u32, row0: u32, col0: u32, tx: u32, ty: u32) {
    let r = row0 + 4u * ty;
    let col = col0 + 4u * tx;
    write_c(base, r, col, (*acc)[0]);
    write_c(base, r + 1u, col, (*acc)[2]);
    write_c(base, r + 2u, col, (*acc)[4]);
    write_c(base, r + 3u, col, (*acc)[6]);
    if BLOCKS == 2u {
        let h = TILE / 2u;
        write_c(base, r, col + h, (*acc)[1]);
        write_c(base, r + 1u, col + h, (*acc)[3]);
        write_c(base, r + 2u, col + h, (*acc)[5]);
        write_c(base, r + 3u, col + h, (*acc)[7]);
        write_c(base, r + h, col, (*acc)[8]);
        write_c(base, r + h, col + h, (*acc)[9]);
        write_c(base, r + h + 1u, col, (*acc)[10]);
        write_c(base, r + h + 1u, col + h, (*acc)[11]);
        write_c(base, r + h + 2u, col, (*acc)[12]);
        write_c(base, r + h + 2u, col + h, (*acc)[13]);
        write_c(base, r + h + 3u, col, (*acc)[14]);
        write_c(base, r + h + 3u, col + h, (*acc)[15]);
    }
}

// The thread's column and row of threads (tx, ty < SIDE) from its index:
// row-major, or with LANES_2D and 16 threads per side each warp of 32 as
// 4 rows × 8 columns (warp w: columns 8·(w % 2).., rows 4·(w / 2)..).
fn thread_xy(t: u32) -> vec2<u32> {
    if LANES_2D && SIDE == 16u {
        let lane = t % 32u;
        let warp = t / 32u;
        return vec2<u32>(lane % 8u + 8u * (warp % 2u), lane / 8u + 4u * (warp / 2u));
    }
    return vec2<u32>(t % SIDE, t / SIDE);
}

// The whole product of one workgroup. The next step's slots are held in
// function variables with constant names, not an indexed array, so that
// they stay in registers; a load past K reads zeros (the last step's
// prefetch), and its store lands in a buffer nobody reads again.
@compute @workgroup_size(THREADS)
fn sgemm_vec4(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let xy = thread_xy(t);
    let tx = xy.x;
    let ty = xy.y;
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let item = wg.z / p.splits;
    let k_begin = (wg.z % p.splits) * p.k_chunk;
    let k_end = max(k_begin, min(p.k, k_begin + p.k_chunk));
    let base_a = item * p.stride_a;
    let base_b = item * p.stride_b;
    let steps = (k_end - k_begin + BK - 1u) / BK;
    let e0 = t;
    let e1 = t + THREADS;
    let e2 = t + 2u * THREADS;
    let e3 = t + 3u * THREADS;
    var acc = Acc();
    var a0 = load_a4(base_a, a_slot(e0, row0, k_begin), k_end);
    var b0 = load_b4(base_b, b_slot(e0, col0, k_begin), k_end);
    var a1 = vec4<f32>(0.0);
    var b1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var b2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var b3 = vec4<f32>(0.0);
    if LOADS > 1u {
        a1 = load_a4(base_a, a_slot(e1, row0, k_begin), k_end);
        b1 = load_b4(base_b, b_slot(e1, col0, k_begin), k_end);
    }
    if LOADS > 2u {
        a2 = load_a4(base_a, a_slot(e2, row0, k_begin), k_end);
        b2 = load_b4(base_b, b_slot(e2, col0, k_begin), k_end);
        a3 = load_a4(base_a, a_slot(e3, row0, k_begin), k_end);
        b3 = load_b4(base_b, b_slot(e3, col0, k_begin), k_end);
    }
    store_a(0u, e0, a0);
    store_b(0u, e0, b0);
    if LOADS > 1u {
        store_a(0u, e1, a1);
        store_b(0u, e1, b1);
    }
    if LOADS > 2u {
        store_a(0u, e2, a2);
        store_b(0u, e2, b2);
        store_a(0u, e3, a3);
        store_b(0u, e3, b3);
    }
    workgroupBarrier();
    for (var s = 0u; s < steps; s++) {
        // Step s computes from its buffer while step s + 1's slots are
        // loaded, then stored into the other buffer (STAGES = 2) or, after
        // a barrier, into the same one.
        let k0 = k_begin + (s + 1u) * BK;
        a0 = load_a4(base_a, a_slot(e0, row0, k0), k_end);
        b0 = load_b4(base_b, b_slot(e0, col0, k0), k_end);
        if LOADS > 1u {
            a1 = load_a4(base_a, a_slot(e1, row0, k0), k_end);
            b1 = load_b4(base_b, b_slot(e1, col0, k0), k_end);
        }
        if LOADS > 2u {
            a2 = load_a4(base_a, a_slot(e2, row0, k0), k_end);
            b2 = load_b4(base_b, b_slot(e2, col0, k0), k_end);
            a3 = load_a4(base_a, a_slot(e3, row0, k0), k_end);
            b3 = load_b4(base_b, b_slot(e3, col0, k0), k_end);
        }
        var cur = 0u;
        var next = 0u;
        if STAGES == 2u {
            cur = (s % 2u) * BK;
            next = BK - cur;
        }
        multiply_step(&acc, cur, tx, ty);
        if STAGES == 1u {
            workgroupBarrier();
        }
        store_a(next, e0, a0);
        store_b(next, e0, b0);
        if LOADS > 1u {
            store_a(next, e1, a1);
            store_b(next, e1, b1);
        }
        if LOADS > 2u {
            store_a(next, e2, a2);
            store_b(next, e2, b2);
            store_a(next, e3, a3);
            store_b(next, e3, b3);
        }
        workgroupBarrier();
    }
    write_outputs(&acc, wg.z * p.stride_c, row0, col0, tx, ty);
}

// The two entry points are the same loop but for their loads (written out
// twice: WGSL has no generic functions, and an entry point must not reach
// the other's bindings).
@compute @workgroup_size(THREADS)
fn sgemm_scalar(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let xy = thread_xy(t);
    let tx = xy.x;
    let ty = xy.y;
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let item = wg.z / p.splits;
    let k_begin = (wg.z % p.splits) * p.k_chunk;
    let k_end = max(k_begin, min(p.k, k_begin + p.k_chunk));
    let base_a = item * p.stride_a;
    let base_b = item * p.stride_b;
    let steps = (k_end - k_begin + BK - 1u) / BK;
    let e0 = t;
    let e1 = t + THREADS;
    let e2 = t + 2u * THREADS;
    let e3 = t + 3u * THREADS;
    var acc = Acc();
    var a0 = load_a1(base_a, a_slot(e0, row0, k_begin), k_end);
    var b0 = load_b1(base_b, b_slot(e0, col0, k_begin), k_end);
    var a1 = vec4<f32>(0.0);
    var b1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var b2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var b3 = vec4<f32>(0.0);
    if LOADS > 1u {
        a1 = load_a1(base_a, a_slot(e1, row0, k_begin), k_end);
        b1 = load_b1(base_b, b_slot(e1, col0, k_begin), k_end);
    }
    if LOADS > 2u {
        a2 = load_a1(base_a, a_slot(e2, row0, k_begin), k_end);
        b2 = load_b1(base_b, b_slot(e2, col0, k_begin), k_end);
        a3 = load_a1(base_a, a_slot(e3, row0, k_begin), k_end);
        b3 = load_b1(base_b, b_slot(e3, col0, k_begin), k_end);
    }
    store_a(0u, e0, a0);
    store_b(0u, e0, b0);
    if LOADS > 1u {
        store_a(0u, e1, a1);
        store_b(0u, e1, b1);
    }
    if LOADS > 2u {
        store_a(0u, e2, a2);
        store_b(0u, e2, b2);
        store_a(0u, e3, a3);
        store_b(0u, e3, b3);
    }
    workgroupBarrier();
    for (var s = 0u; s < steps; s++) {
        // Step s computes from its buffer while step s + 1's slots are
        // loaded, then stored into the other buffer (STAGES = 2) or, after
        // a barrier, into the same one.
        let k0 = k_begin + (s + 1u) * BK;
        a0 = load_a1(base_a, a_slot(e0, row0, k0), k_end);
        b0 = load_b1(base_b, b_slot(e0, col0, k0), k_end);
        if LOADS > 1u {
            a1 = load_a1(base_a, a_slot(e1, row0, k0), k_end);
            b1 = load_b1(base_b, b_slot(e1, col0, k0), k_end);
        }
        if LOADS > 2u {
            a2 = load_a1(base_a, a_slot(e2, row0, k0), k_end);
            b2 = load_b1(base_b, b_slot(e2, col0, k0), k_end);
            a3 = load_a1(base_a, a_slot(e3, row0, k0), k_end);
            b3 = load_b1(base_b, b_slot(e3, col0, k0), k_end);
        }
        var cur = 0u;
        var next = 0u;
        if STAGES == 2u {
            cur = (s % 2u) * BK;
            next = BK - cur;
        }
        multiply_step(&acc, cur, tx, ty);
        if STAGES == 1u {
            workgroupBarrier();
        }
        store_a(next, e0, a0);
        store_b(next, e0, b0);
        if LOADS > 1u {
            store_a(next, e1, a1);
            store_b(next, e1, b1);
        }
        if LOADS > 2u {
            store_a(next, e2, a2);
            store_b(next, e2, b2);
            store_a(next, e3, a3);
            store_b(next, e3, b3);
        }
        workgroupBarrier();
    }
    write_outputs(&acc, wg.z * p.stride_c, row0, col0, tx, ty);
}

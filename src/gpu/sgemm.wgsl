// Tiled single-precision GEMM: C[b] = alpha · op(A[b]) · op(B[b]) for every
// batch item b (the dispatch's z), op = identity or transpose (overrides
// TRANS_A, TRANS_B), any M, N, K. The building block of the low-rank methods
// (Linformer, Nyströmformer, the dense Synthesizer). Host code:
// src/gpu/sgemm.rs (which says how the tiling was chosen); executed counts:
// src/gpu/work.rs `sgemm`.
//
// Register blocking (the classic shared-memory SGEMM): a workgroup computes
// a TILE × TILE tile of C; each thread 4·BLOCKS × 4·BLOCKS outputs, rows
// h·(TILE/BLOCKS) + 4·ty + i and columns g·(TILE/BLOCKS) + 4·tx + j
// (h, g < BLOCKS; i, j < 4), so that its workgroup-memory reads are whole
// vec4s: a warp reads B's row as consecutive vec4s (conflict-free) and A's
// as two broadcasts. K advances by BK per step; the step's op(A) tile is
// stored K-major (tile_a[k][m]) and op(B)'s (tile_b[k][n]), both
// double-buffered: the next step's words are loaded from global memory into
// registers while the current step computes, then stored into the other
// buffer, with one barrier per step. The workgroup arrays are flat (an
// array sized by an override cannot be nested in WGSL): entry
// (buffer·BK + k)·TILE/4 + column/4 holds 4 consecutive columns of row k.
//
// Measured on an H200 (wgpu 30, Vulkan; sgemm.rs has the figures): BK = 8
// ran 1.39× faster than BK = 16 at 4096³ (the 16-deep unrolled step likely
// costs registers and so occupancy); reading K-contiguous rows with BK/4
// threads per row (coalesced) instead of one thread per row, +8 %; an XOR
// swizzle removing the 2-way bank conflicts of the transposed scalar
// stores, −4 %, so it is not used.
//
// Bounds: every global load is guarded (outside op(A)'s M × K or op(B)'s
// K × N it reads 0), every store of C too, and workgroup indices are below
// their array sizes by construction; the host checks each buffer holds the
// extent its shape and strides reach before dispatching, which is why it
// may compile this module without runtime bounds checks.
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
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> b4: array<vec4<f32>>;

// The variant (set by the host; the defaults are the large one).
override TILE: u32 = 128u;       // rows and columns of C per workgroup
override BK: u32 = 8u;           // K per step (a multiple of 4)
override WIDE: bool = true;      // 8 × 8 outputs per thread (else 4 × 4)
override TRANS_A: bool = false;  // A is stored K × M
override TRANS_B: bool = false;  // B is stored N × K

override BLOCKS: u32 = select(1u, 2u, WIDE);   // 4 × 4 blocks per thread side
override SIDE: u32 = TILE / (4u * BLOCKS);     // threads per workgroup side
override THREADS: u32 = SIDE * SIDE;
override TILE4: u32 = TILE / 4u;               // vec4s per tile row
override HALF4: u32 = TILE4 / BLOCKS;          // a thread's second block, in vec4s
override KQ: u32 = BK / 4u;                    // vec4s of K per tile row of a K-contiguous operand
override LOADS: u32 = TILE * KQ / THREADS;     // vec4s per thread per operand and step (1, 2 or 4)
override TILE_VEC4S: u32 = 2u * BK * TILE4;    // two buffers of BK rows

var<workgroup> tile_a: array<vec4<f32>, TILE_VEC4S>;
var<workgroup> tile_b: array<vec4<f32>, TILE_VEC4S>;

// A thread's outputs: [(h·4 + i)·2 + g] holds row block h, row i, column
// block g, columns 0..3 as a vector (only h = g = 0 when not WIDE).
var<private> acc: array<vec4<f32>, 16>;

// Load slot e of a step's tile (e = t + l·THREADS for the thread's l-th
// load), seen as vec4s. An M- or N-contiguous operand (Aᵀ, or B) has BK
// rows of TILE/4 vec4s: row e / TILE4, vec4 e % TILE4 (a warp reads whole
// rows). A K-contiguous operand (A, or Bᵀ) has TILE rows of BK/4 vec4s:
// row e / KQ, vec4 e % KQ, so that BK/4 consecutive threads read a row's
// BK contiguous values; its 4 values go to 4 rows of the K-major tile as
// scalars (2-way bank conflicts for BK = 8).

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

// Stores slot e's four values into buffer `buf` (0 or BK) of `tile_a`:
// one vec4 along m, or four scalars down k.
fn store_a(buf: u32, e: u32, v: vec4<f32>) {
    if TRANS_A {
        tile_a[(buf + e / TILE4) * TILE4 + e % TILE4] = v;
    } else {
        let s = k_slot(e);
        let lane = s.x % 4u;
        let at = (buf + s.y) * TILE4;
        let col4 = s.x / 4u;
        tile_a[at + col4][lane] = v.x;
        tile_a[at + TILE4 + col4][lane] = v.y;
        tile_a[at + 2u * TILE4 + col4][lane] = v.z;
        tile_a[at + 3u * TILE4 + col4][lane] = v.w;
    }
}

fn store_b(buf: u32, e: u32, v: vec4<f32>) {
    if TRANS_B {
        let s = k_slot(e);
        let lane = s.x % 4u;
        let at = (buf + s.y) * TILE4;
        let col4 = s.x / 4u;
        tile_b[at + col4][lane] = v.x;
        tile_b[at + TILE4 + col4][lane] = v.y;
        tile_b[at + 2u * TILE4 + col4][lane] = v.z;
        tile_b[at + 3u * TILE4 + col4][lane] = v.w;
    } else {
        tile_b[(buf + e / TILE4) * TILE4 + e % TILE4] = v;
    }
}

// --- vec4 loads: lda, ldb and the strides are multiples of 4 -------------

// The vec4 of op(A) at slot (row, k), zero outside M × K. Along k (A) the
// host requires K % 4 = 0, so a vec4 lies wholly inside K or outside it;
// along m (Aᵀ) it starts inside M and ends inside the stored row (lda is a
// multiple of 4), and its values past M only reach rows of C never written.
// The same holds for op(B) along k (Bᵀ) and along n (B).
fn load_a4(base: u32, s: vec2<u32>) -> vec4<f32> {
    if s.x < p.m && s.y < p.k {
        if TRANS_A {
            return a4[(base + s.y * p.lda + s.x) / 4u];
        }
        return a4[(base + s.x * p.lda + s.y) / 4u];
    }
    return vec4<f32>(0.0);
}

fn load_b4(base: u32, s: vec2<u32>) -> vec4<f32> {
    if s.x < p.n && s.y < p.k {
        if TRANS_B {
            return b4[(base + s.x * p.ldb + s.y) / 4u];
        }
        return b4[(base + s.y * p.ldb + s.x) / 4u];
    }
    return vec4<f32>(0.0);
}

// --- scalar loads: any layout ---------------------------------------------

// op(A)[row][k], zero outside M × K.
fn a_at(base: u32, row: u32, k: u32) -> f32 {
    if row < p.m && k < p.k {
        if TRANS_A {
            return a[base + k * p.lda + row];
        }
        return a[base + row * p.lda + k];
    }
    return 0.0;
}

// op(B)[k][col], zero outside K × N.
fn b_at(base: u32, k: u32, col: u32) -> f32 {
    if k < p.k && col < p.n {
        if TRANS_B {
            return b[base + col * p.ldb + k];
        }
        return b[base + k * p.ldb + col];
    }
    return 0.0;
}

// The four values of slot s, along k or along m (n) as the slot runs.
fn load_a1(base: u32, s: vec2<u32>) -> vec4<f32> {
    if TRANS_A {
        return vec4<f32>(
            a_at(base, s.x, s.y),
            a_at(base, s.x + 1u, s.y),
            a_at(base, s.x + 2u, s.y),
            a_at(base, s.x + 3u, s.y),
        );
    }
    return vec4<f32>(
        a_at(base, s.x, s.y),
        a_at(base, s.x, s.y + 1u),
        a_at(base, s.x, s.y + 2u),
        a_at(base, s.x, s.y + 3u),
    );
}

fn load_b1(base: u32, s: vec2<u32>) -> vec4<f32> {
    if TRANS_B {
        return vec4<f32>(
            b_at(base, s.y, s.x),
            b_at(base, s.y + 1u, s.x),
            b_at(base, s.y + 2u, s.x),
            b_at(base, s.y + 3u, s.x),
        );
    }
    return vec4<f32>(
        b_at(base, s.y, s.x),
        b_at(base, s.y, s.x + 1u),
        b_at(base, s.y, s.x + 2u),
        b_at(base, s.y, s.x + 3u),
    );
}

// --- the shared arithmetic --------------------------------------------------

// One step's BK rank-1 updates of the thread's outputs from buffer `buf`.
fn multiply_step(buf: u32, tx: u32, ty: u32) {
    for (var kk = 0u; kk < BK; kk++) {
        let row = (buf + kk) * TILE4;
        let a0 = tile_a[row + ty];
        let b0 = tile_b[row + tx];
        acc[0] += a0.x * b0;
        acc[2] += a0.y * b0;
        acc[4] += a0.z * b0;
        acc[6] += a0.w * b0;
        if WIDE {
            let a1 = tile_a[row + ty + HALF4];
            let b1 = tile_b[row + tx + HALF4];
            acc[1] += a0.x * b1;
            acc[3] += a0.y * b1;
            acc[5] += a0.z * b1;
            acc[7] += a0.w * b1;
            acc[8] += a1.x * b0;
            acc[9] += a1.x * b1;
            acc[10] += a1.y * b0;
            acc[11] += a1.y * b1;
            acc[12] += a1.z * b0;
            acc[13] += a1.z * b1;
            acc[14] += a1.w * b0;
            acc[15] += a1.w * b1;
        }
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
fn write_outputs(base: u32, row0: u32, col0: u32, tx: u32, ty: u32) {
    let r = row0 + 4u * ty;
    let col = col0 + 4u * tx;
    write_c(base, r, col, acc[0]);
    write_c(base, r + 1u, col, acc[2]);
    write_c(base, r + 2u, col, acc[4]);
    write_c(base, r + 3u, col, acc[6]);
    if WIDE {
        let h = TILE / 2u;
        write_c(base, r, col + h, acc[1]);
        write_c(base, r + 1u, col + h, acc[3]);
        write_c(base, r + 2u, col + h, acc[5]);
        write_c(base, r + 3u, col + h, acc[7]);
        write_c(base, r + h, col, acc[8]);
        write_c(base, r + h, col + h, acc[9]);
        write_c(base, r + h + 1u, col, acc[10]);
        write_c(base, r + h + 1u, col + h, acc[11]);
        write_c(base, r + h + 2u, col, acc[12]);
        write_c(base, r + h + 2u, col + h, acc[13]);
        write_c(base, r + h + 3u, col, acc[14]);
        write_c(base, r + h + 3u, col + h, acc[15]);
    }
}

// The two entry points are the same loop but for their loads (written out
// twice: WGSL has no generic functions). The next step's slots are held in
// function variables with constant names, not an indexed array, so that
// they stay in registers.

@compute @workgroup_size(SIDE, SIDE)
fn sgemm_vec4(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let base_a = wg.z * p.stride_a;
    let base_b = wg.z * p.stride_b;
    let steps = (p.k + BK - 1u) / BK;
    let e0 = t;
    let e1 = t + THREADS;
    let e2 = t + 2u * THREADS;
    let e3 = t + 3u * THREADS;
    acc = array<vec4<f32>, 16>();
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var b0 = vec4<f32>(0.0);
    var b1 = vec4<f32>(0.0);
    var b2 = vec4<f32>(0.0);
    var b3 = vec4<f32>(0.0);
    for (var s = 0u; s <= steps; s++) {
        // Step s − 1 computes from buffer (s − 1) % 2 while step s's slots
        // are loaded, then stored into the other buffer.
        let more = s < steps;
        if more {
            let k0 = s * BK;
            a0 = load_a4(base_a, a_slot(e0, row0, k0));
            b0 = load_b4(base_b, b_slot(e0, col0, k0));
            if LOADS > 1u {
                a1 = load_a4(base_a, a_slot(e1, row0, k0));
                b1 = load_b4(base_b, b_slot(e1, col0, k0));
            }
            if LOADS > 2u {
                a2 = load_a4(base_a, a_slot(e2, row0, k0));
                b2 = load_b4(base_b, b_slot(e2, col0, k0));
                a3 = load_a4(base_a, a_slot(e3, row0, k0));
                b3 = load_b4(base_b, b_slot(e3, col0, k0));
            }
        }
        let buf = (s % 2u) * BK;
        if s > 0u {
            multiply_step(BK - buf, lid.x, lid.y);
        }
        if more {
            store_a(buf, e0, a0);
            store_b(buf, e0, b0);
            if LOADS > 1u {
                store_a(buf, e1, a1);
                store_b(buf, e1, b1);
            }
            if LOADS > 2u {
                store_a(buf, e2, a2);
                store_b(buf, e2, b2);
                store_a(buf, e3, a3);
                store_b(buf, e3, b3);
            }
        }
        workgroupBarrier();
    }
    write_outputs(wg.z * p.stride_c, row0, col0, lid.x, lid.y);
}

@compute @workgroup_size(SIDE, SIDE)
fn sgemm_scalar(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let base_a = wg.z * p.stride_a;
    let base_b = wg.z * p.stride_b;
    let steps = (p.k + BK - 1u) / BK;
    let e0 = t;
    let e1 = t + THREADS;
    let e2 = t + 2u * THREADS;
    let e3 = t + 3u * THREADS;
    acc = array<vec4<f32>, 16>();
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var b0 = vec4<f32>(0.0);
    var b1 = vec4<f32>(0.0);
    var b2 = vec4<f32>(0.0);
    var b3 = vec4<f32>(0.0);
    for (var s = 0u; s <= steps; s++) {
        let more = s < steps;
        if more {
            let k0 = s * BK;
            a0 = load_a1(base_a, a_slot(e0, row0, k0));
            b0 = load_b1(base_b, b_slot(e0, col0, k0));
            if LOADS > 1u {
                a1 = load_a1(base_a, a_slot(e1, row0, k0));
                b1 = load_b1(base_b, b_slot(e1, col0, k0));
            }
            if LOADS > 2u {
                a2 = load_a1(base_a, a_slot(e2, row0, k0));
                b2 = load_b1(base_b, b_slot(e2, col0, k0));
                a3 = load_a1(base_a, a_slot(e3, row0, k0));
                b3 = load_b1(base_b, b_slot(e3, col0, k0));
            }
        }
        let buf = (s % 2u) * BK;
        if s > 0u {
            multiply_step(BK - buf, lid.x, lid.y);
        }
        if more {
            store_a(buf, e0, a0);
            store_b(buf, e0, b0);
            if LOADS > 1u {
                store_a(buf, e1, a1);
                store_b(buf, e1, b1);
            }
            if LOADS > 2u {
                store_a(buf, e2, a2);
                store_b(buf, e2, b2);
                store_a(buf, e3, a3);
                store_b(buf, e3, b3);
            }
        }
        workgroupBarrier();
    }
    write_outputs(wg.z * p.stride_c, row0, col0, lid.x, lid.y);
}

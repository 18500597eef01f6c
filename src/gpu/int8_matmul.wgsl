// The int8 matrix product C = A·Wᵀ (int8 × int8 → i32) of integer-only
// inference (Jacob et al. 2018, §2.3–2.4; survey §"Quantization") and the f32
// product of the same shape, with one tiling for both so that their times
// compare the arithmetic and the bytes, not two different kernels.
// Host code: src/gpu/int8_matmul.rs. CPU twin: src/compress/int8.rs.
//
// A is M × K (activations, one row per token), W is N × K (weights, one row
// per output channel, as torch.nn.Linear stores them); both are stored with K
// contiguous and each row padded with zeros to whole vec4 words:
//   int8: 4 values packed per u32 (value j of a word in bits 8j..8j+7, two's
//         complement: WGSL's pack4xI8 layout), 16 values per vec4<u32>;
//   f32:  4 values per vec4<f32>.
// C is M × N, row-major, i32 (exact) or f32.
//
// Tiling (the same for both): a workgroup of 16 × 16 threads computes a
// 128 × 128 tile of C; each thread 8 × 8 outputs, rows {4·ty + i, 64 + 4·ty + i}
// and columns {4·tx + j, 64 + 4·tx + j} (i, j < 4), so that its workgroup-memory
// reads are whole vec4s without bank conflicts. K advances by 8 words per step
// (32 int8 or 8 f32 values); the step's A and W tiles (128 rows × 8 words
// each) are double-buffered in workgroup memory, the next step's words are
// loaded from global memory into registers while the current step computes,
// and one barrier per step separates the two buffers. The int8 inner product
// of two words is `dot_i8x4` (4 multiply-adds); the f32 kernel does one fused
// multiply-add per word. So per word read, the int8 kernel does 4× the
// multiply-adds, and it reads ¼ of the bytes per value.
//
// The int8 entry point calls `mac_i8`, which this file does not define: the
// host appends one of two definitions before compiling (choosing by the
// adapter's capability, so that a module an adapter cannot compile is never
// created):
//   int8_dot_packed.wgsl    dot4I8Packed (WGSL language extension
//                           packed_4x8_integer_dot_product);
//   int8_dot_unpacked.wgsl  sign extension by shifts and i32 multiply-adds,
//                           portable to every WGSL implementation.
//
// Bindings (group 0):
//   0 p      uniform              Params
//   1 a_i8   storage, read        A packed, M × 4·k_vec4 words
//   2 w_i8   storage, read        W packed, N × 4·k_vec4 words
//   3 c_i32  storage, read_write  C, M × N
//   4 a_f32  storage, read        A, M × 4·k_vec4 floats
//   5 w_f32  storage, read        W, N × 4·k_vec4 floats
//   6 c_f32  storage, read_write  C, M × N

struct Params {
    m: u32,       // rows of A and of C
    n: u32,       // rows of W = columns of C
    k_vec4: u32,  // vec4 words per stored row of A and W
    steps: u32,   // K-steps: ⌈k_vec4 / STEP_VEC4⌉
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a_i8: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> w_i8: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> c_i32: array<i32>;
@group(0) @binding(4) var<storage, read> a_f32: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> w_f32: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> c_f32: array<f32>;

const TILE: u32 = 128u;       // rows of A (and of W) per workgroup tile
const STEP_VEC4: u32 = 2u;    // vec4 words per row per K-step
const STEP_WORDS: u32 = 8u;   // scalar words per row per K-step
const HALF: u32 = 64u;        // a thread's second row (column) block starts here

// Workgroup tiles: [buffer · STEP_WORDS + word][row / 4], component row % 4.
// 2 buffers × 8 words × 128 rows × 4 bytes = 8 KiB per operand, 16 KiB per
// kernel (WebGPU guarantees 16 KiB).
var<workgroup> tile_a_i8: array<array<vec4<u32>, 32>, 16>;
var<workgroup> tile_w_i8: array<array<vec4<u32>, 32>, 16>;
var<workgroup> tile_a_f32: array<array<vec4<f32>, 32>, 16>;
var<workgroup> tile_w_f32: array<array<vec4<f32>, 32>, 16>;

// A thread's 8 × 8 accumulators: [(h · 4 + i) · 2 + g] holds row block h,
// row i, column block g, columns 0..3 as a vector.
var<private> acc_i32: array<vec4<i32>, 16>;
var<private> acc_f32: array<vec4<f32>, 16>;

// The loader: thread t copies row t % 128, vec4 word t / 128 of the step, of
// both A and W (consecutive threads, consecutive rows: conflict-free stores).
fn loader_row(t: u32) -> u32 {
    return t % TILE;
}

fn loader_word(t: u32) -> u32 {
    return t / TILE;
}

fn load_a_i8(row: u32, word: u32) -> vec4<u32> {
    if row < p.m && word < p.k_vec4 {
        return a_i8[row * p.k_vec4 + word];
    }
    return vec4<u32>(0u);
}

fn load_w_i8(row: u32, word: u32) -> vec4<u32> {
    if row < p.n && word < p.k_vec4 {
        return w_i8[row * p.k_vec4 + word];
    }
    return vec4<u32>(0u);
}

// Stores a loaded vec4 of A and of W into buffer `base` (0 or STEP_WORDS),
// transposed: the 4 words go to 4 consecutive K rows of the tile.
fn store_i8(base: u32, row: u32, word: u32, a: vec4<u32>, w: vec4<u32>) {
    let first = base + word * 4u;
    let slot = row / 4u;
    let lane = row % 4u;
    tile_a_i8[first][slot][lane] = a.x;
    tile_a_i8[first + 1u][slot][lane] = a.y;
    tile_a_i8[first + 2u][slot][lane] = a.z;
    tile_a_i8[first + 3u][slot][lane] = a.w;
    tile_w_i8[first][slot][lane] = w.x;
    tile_w_i8[first + 1u][slot][lane] = w.y;
    tile_w_i8[first + 2u][slot][lane] = w.z;
    tile_w_i8[first + 3u][slot][lane] = w.w;
}

// Writes 4 consecutive entries of row r of C from column col, those inside C.
fn write_c_i32(r: u32, col: u32, v: vec4<i32>) {
    if r >= p.m {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        if col + j < p.n {
            c_i32[r * p.n + col + j] = v[j];
        }
    }
}

// C = A·Wᵀ in i32: exact (the host refuses K where the sum could overflow).
@compute @workgroup_size(16, 16)
fn matmul_i8(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let row = loader_row(t);
    let word = loader_word(t);
    acc_i32 = array<vec4<i32>, 16>();
    var next_a = load_a_i8(row0 + row, word);
    var next_w = load_w_i8(col0 + row, word);
    store_i8(0u, row, word, next_a, next_w);
    workgroupBarrier();
    for (var s = 0u; s < p.steps; s++) {
        let base = (s % 2u) * STEP_WORDS;
        let more = s + 1u < p.steps;
        if more {
            let w = (s + 1u) * STEP_VEC4 + word;
            next_a = load_a_i8(row0 + row, w);
            next_w = load_w_i8(col0 + row, w);
        }
        for (var k = 0u; k < STEP_WORDS; k++) {
            mac_i8(
                tile_a_i8[base + k][lid.y],
                tile_a_i8[base + k][lid.y + 16u],
                tile_w_i8[base + k][lid.x],
                tile_w_i8[base + k][lid.x + 16u],
            );
        }
        if more {
            store_i8(STEP_WORDS - base, row, word, next_a, next_w);
        }
        workgroupBarrier();
    }
    // Constant accumulator indices only, so that no compiler needs to unroll
    // a loop to keep the accumulators in registers.
    let r = row0 + lid.y * 4u;
    let c = col0 + lid.x * 4u;
    write_c_i32(r, c, acc_i32[0]);
    write_c_i32(r, c + HALF, acc_i32[1]);
    write_c_i32(r + 1u, c, acc_i32[2]);
    write_c_i32(r + 1u, c + HALF, acc_i32[3]);
    write_c_i32(r + 2u, c, acc_i32[4]);
    write_c_i32(r + 2u, c + HALF, acc_i32[5]);
    write_c_i32(r + 3u, c, acc_i32[6]);
    write_c_i32(r + 3u, c + HALF, acc_i32[7]);
    write_c_i32(r + HALF, c, acc_i32[8]);
    write_c_i32(r + HALF, c + HALF, acc_i32[9]);
    write_c_i32(r + HALF + 1u, c, acc_i32[10]);
    write_c_i32(r + HALF + 1u, c + HALF, acc_i32[11]);
    write_c_i32(r + HALF + 2u, c, acc_i32[12]);
    write_c_i32(r + HALF + 2u, c + HALF, acc_i32[13]);
    write_c_i32(r + HALF + 3u, c, acc_i32[14]);
    write_c_i32(r + HALF + 3u, c + HALF, acc_i32[15]);
}

fn load_a_f32(row: u32, word: u32) -> vec4<f32> {
    if row < p.m && word < p.k_vec4 {
        return a_f32[row * p.k_vec4 + word];
    }
    return vec4<f32>(0.0);
}

fn load_w_f32(row: u32, word: u32) -> vec4<f32> {
    if row < p.n && word < p.k_vec4 {
        return w_f32[row * p.k_vec4 + word];
    }
    return vec4<f32>(0.0);
}

fn store_f32(base: u32, row: u32, word: u32, a: vec4<f32>, w: vec4<f32>) {
    let first = base + word * 4u;
    let slot = row / 4u;
    let lane = row % 4u;
    tile_a_f32[first][slot][lane] = a.x;
    tile_a_f32[first + 1u][slot][lane] = a.y;
    tile_a_f32[first + 2u][slot][lane] = a.z;
    tile_a_f32[first + 3u][slot][lane] = a.w;
    tile_w_f32[first][slot][lane] = w.x;
    tile_w_f32[first + 1u][slot][lane] = w.y;
    tile_w_f32[first + 2u][slot][lane] = w.z;
    tile_w_f32[first + 3u][slot][lane] = w.w;
}

// One word of K for a thread's 8 × 8 outputs: a0, a1 hold its rows' values
// (row blocks 0 and 1), w0, w1 its columns' values.
fn mac_f32(a0: vec4<f32>, a1: vec4<f32>, w0: vec4<f32>, w1: vec4<f32>) {
    acc_f32[0] += a0.x * w0;
    acc_f32[1] += a0.x * w1;
    acc_f32[2] += a0.y * w0;
    acc_f32[3] += a0.y * w1;
    acc_f32[4] += a0.z * w0;
    acc_f32[5] += a0.z * w1;
    acc_f32[6] += a0.w * w0;
    acc_f32[7] += a0.w * w1;
    acc_f32[8] += a1.x * w0;
    acc_f32[9] += a1.x * w1;
    acc_f32[10] += a1.y * w0;
    acc_f32[11] += a1.y * w1;
    acc_f32[12] += a1.z * w0;
    acc_f32[13] += a1.z * w1;
    acc_f32[14] += a1.w * w0;
    acc_f32[15] += a1.w * w1;
}

fn write_c_f32(r: u32, col: u32, v: vec4<f32>) {
    if r >= p.m {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        if col + j < p.n {
            c_f32[r * p.n + col + j] = v[j];
        }
    }
}

// C = A·Wᵀ in f32, with the tiling of `matmul_i8`.
@compute @workgroup_size(16, 16)
fn matmul_f32(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let row = loader_row(t);
    let word = loader_word(t);
    acc_f32 = array<vec4<f32>, 16>();
    var next_a = load_a_f32(row0 + row, word);
    var next_w = load_w_f32(col0 + row, word);
    store_f32(0u, row, word, next_a, next_w);
    workgroupBarrier();
    for (var s = 0u; s < p.steps; s++) {
        let base = (s % 2u) * STEP_WORDS;
        let more = s + 1u < p.steps;
        if more {
            let w = (s + 1u) * STEP_VEC4 + word;
            next_a = load_a_f32(row0 + row, w);
            next_w = load_w_f32(col0 + row, w);
        }
        for (var k = 0u; k < STEP_WORDS; k++) {
            mac_f32(
                tile_a_f32[base + k][lid.y],
                tile_a_f32[base + k][lid.y + 16u],
                tile_w_f32[base + k][lid.x],
                tile_w_f32[base + k][lid.x + 16u],
            );
        }
        if more {
            store_f32(STEP_WORDS - base, row, word, next_a, next_w);
        }
        workgroupBarrier();
    }
    // Constant accumulator indices only, so that no compiler needs to unroll
    // a loop to keep the accumulators in registers.
    let r = row0 + lid.y * 4u;
    let c = col0 + lid.x * 4u;
    write_c_f32(r, c, acc_f32[0]);
    write_c_f32(r, c + HALF, acc_f32[1]);
    write_c_f32(r + 1u, c, acc_f32[2]);
    write_c_f32(r + 1u, c + HALF, acc_f32[3]);
    write_c_f32(r + 2u, c, acc_f32[4]);
    write_c_f32(r + 2u, c + HALF, acc_f32[5]);
    write_c_f32(r + 3u, c, acc_f32[6]);
    write_c_f32(r + 3u, c + HALF, acc_f32[7]);
    write_c_f32(r + HALF, c, acc_f32[8]);
    write_c_f32(r + HALF, c + HALF, acc_f32[9]);
    write_c_f32(r + HALF + 1u, c, acc_f32[10]);
    write_c_f32(r + HALF + 1u, c + HALF, acc_f32[11]);
    write_c_f32(r + HALF + 2u, c, acc_f32[12]);
    write_c_f32(r + HALF + 2u, c + HALF, acc_f32[13]);
    write_c_f32(r + HALF + 3u, c, acc_f32[14]);
    write_c_f32(r + HALF + 3u, c + HALF, acc_f32[15]);
}

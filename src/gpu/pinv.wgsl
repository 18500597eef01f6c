// The Moore–Penrose iteration of Nyströmformer (Xiong et al. 2021, Eq. 16,
// after Razavi et al. 2014), every step of it in one workgroup per item:
//   Z ← ¼·Z·(13I − AZ·(15I − AZ·(7I − AZ)))
// run e[item] times from the Z₀ in c (linalg.wgsl `pinv_start`), each item
// (head) its own count — the stop its CPU twin chose. Host code:
// src/gpu/linalg.rs `Builder::pinv`; executed counts: work.rs `pinv_fused`.
//
// Why one workgroup: the matrices are L × L (L = 64 landmarks: 16 KiB
// each), and as separate passes an iteration is 7 dispatches of a few
// microseconds of work each — at L = 64 and 16 heads the dispatches, not
// the arithmetic, were most of Nyströmformer's time. Here three L × L slots
// of workgroup memory (48 KiB at L = 64) hold Z, AZ (A before it) and the
// running factor T; each thread owns a 4 × 4 block of every product, so the
// products need L² / 16 ≤ 256 threads (L ≤ 64, a multiple of 4).
//
// Bindings (group 0; L is the override SIDE):
//   1 a  storage, read       A, items × L × L/4 vec4
//   3 c  storage, read_write Z₀ in, Z out, items × L × L/4 vec4
//   4 e  storage, read       iterations per item (f32)

@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> e: array<f32>;

override SIDE: u32 = 64u;        // L
override SLOTS_LEN: u32 = 3072u; // three slots of SIDE·SIDE/4 vec4s

// Slot s (0: Z, 1: AZ, 2: T) starts at s·SIDE·SIDE/4; entry (i, j) of a
// slot is component j % 4 of vec4 i·SIDE/4 + j/4.
var<workgroup> ws: array<vec4<f32>, SLOTS_LEN>;

alias Block = array<vec4<f32>, 4>;

// The thread's block of X·Y (rows 4·bi + r, columns 4·bj .. 4·bj + 3) for
// the slots starting at x and y.
fn product(x: u32, y: u32, bi: u32, bj: u32) -> Block {
    let s4 = SIDE / 4u;
    var out = Block();
    for (var k4 = 0u; k4 < s4; k4++) {
        let y0 = ws[y + (4u * k4) * s4 + bj];
        let y1 = ws[y + (4u * k4 + 1u) * s4 + bj];
        let y2 = ws[y + (4u * k4 + 2u) * s4 + bj];
        let y3 = ws[y + (4u * k4 + 3u) * s4 + bj];
        for (var r = 0u; r < 4u; r++) {
            let xr = ws[x + (4u * bi + r) * s4 + k4];
            out[r] = fma(vec4<f32>(xr.x), y0, out[r]);
            out[r] = fma(vec4<f32>(xr.y), y1, out[r]);
            out[r] = fma(vec4<f32>(xr.z), y2, out[r]);
            out[r] = fma(vec4<f32>(xr.w), y3, out[r]);
        }
    }
    return out;
}

// Row r of the thread's block of the identity.
fn eye(r: u32, bi: u32, bj: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if bi == bj {
        v[r] = 1.0;
    }
    return v;
}

// Writes row r of the thread's block into the slot starting at s.
fn put(s: u32, bi: u32, bj: u32, r: u32, v: vec4<f32>) {
    let s4 = SIDE / 4u;
    ws[s + (4u * bi + r) * s4 + bj] = v;
}

// T ← c·I − AZ·T (slots 1 and 2), every thread's block of the product
// read before any thread overwrites T; threads without a block only keep
// to the barriers.
fn update_t(c: f32, bi: u32, bj: u32, owner: bool) {
    let slot = SIDE * (SIDE / 4u);
    var u = Block();
    if owner {
        u = product(slot, 2u * slot, bi, bj);
    }
    workgroupBarrier();
    if owner {
        for (var r = 0u; r < 4u; r++) {
            put(2u * slot, bi, bj, r, c * eye(r, bi, bj) - u[r]);
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(256)
fn pinv_fused(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let s4 = SIDE / 4u;
    let slot = SIDE * s4;
    let base = wg.z * slot;
    let owner = t < s4 * s4;
    let bi = t / s4;
    let bj = t % s4;
    let count = u32(e[wg.z]);
    for (var idx = t; idx < slot; idx += 256u) {
        ws[idx] = c[base + idx];
    }
    for (var it = 0u; it < count; it++) {
        for (var idx = t; idx < slot; idx += 256u) {
            ws[slot + idx] = a[base + idx];
        }
        workgroupBarrier();
        // AZ, then T = 7I − AZ. Threads past the L²/16 blocks compute
        // nothing (their rows would lie outside the slots) but keep to the
        // barriers.
        var az = Block();
        if owner {
            az = product(slot, 0u, bi, bj);
        }
        workgroupBarrier();
        if owner {
            for (var r = 0u; r < 4u; r++) {
                put(slot, bi, bj, r, az[r]);
                put(2u * slot, bi, bj, r, 7.0 * eye(r, bi, bj) - az[r]);
            }
        }
        workgroupBarrier();
        // T = 15I − AZ·T, then T = 13I − AZ·T.
        update_t(15.0, bi, bj, owner);
        update_t(13.0, bi, bj, owner);
        // Z = ¼·Z·T.
        var z = Block();
        if owner {
            z = product(0u, 2u * slot, bi, bj);
        }
        workgroupBarrier();
        if owner {
            for (var r = 0u; r < 4u; r++) {
                put(0u, bi, bj, r, 0.25 * z[r]);
            }
        }
        workgroupBarrier();
    }
    for (var idx = t; idx < slot; idx += 256u) {
        c[base + idx] = ws[idx];
    }
}

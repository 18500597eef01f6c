
// ---- int8_dot_unpacked.wgsl: `mac_i8` by unpacking ---------------------------
// Appended to int8_matmul.wgsl when the WGSL implementation lacks
// packed_4x8_integer_dot_product (or when asked for): every word is unpacked
// once per K-step into four i32 by sign extension — shift the byte to the top,
// then an arithmetic shift right (i32 `>>` copies the sign bit) — and the
// products are i32 multiply-adds. Core WGSL only: it compiles everywhere.

// The four signed bytes of a word, value j from bits 8j..8j+7.
fn unpack_i8(word: u32) -> vec4<i32> {
    let x = bitcast<i32>(word);
    return vec4<i32>(x << 24u, x << 16u, x << 8u, x) >> vec4<u32>(24u);
}

// Row value vector `a` against the 4 column value vectors c0..c3.
fn dot_rows(a: vec4<i32>, c0: vec4<i32>, c1: vec4<i32>, c2: vec4<i32>, c3: vec4<i32>) -> vec4<i32> {
    return vec4<i32>(dot(a, c0), dot(a, c1), dot(a, c2), dot(a, c3));
}

// One word of K (4 values) for a thread's 8 × 8 outputs: 16 words unpacked,
// 256 multiply-adds. The 8 column words are unpacked first (32 registers);
// each row word is unpacked right before its 8 outputs use it, so only one
// is live at a time.
fn mac_i8(a0: vec4<u32>, a1: vec4<u32>, w0: vec4<u32>, w1: vec4<u32>) {
    let c0 = unpack_i8(w0.x);
    let c1 = unpack_i8(w0.y);
    let c2 = unpack_i8(w0.z);
    let c3 = unpack_i8(w0.w);
    let c4 = unpack_i8(w1.x);
    let c5 = unpack_i8(w1.y);
    let c6 = unpack_i8(w1.z);
    let c7 = unpack_i8(w1.w);
    var r = unpack_i8(a0.x);
    acc_i32[0] += dot_rows(r, c0, c1, c2, c3);
    acc_i32[1] += dot_rows(r, c4, c5, c6, c7);
    r = unpack_i8(a0.y);
    acc_i32[2] += dot_rows(r, c0, c1, c2, c3);
    acc_i32[3] += dot_rows(r, c4, c5, c6, c7);
    r = unpack_i8(a0.z);
    acc_i32[4] += dot_rows(r, c0, c1, c2, c3);
    acc_i32[5] += dot_rows(r, c4, c5, c6, c7);
    r = unpack_i8(a0.w);
    acc_i32[6] += dot_rows(r, c0, c1, c2, c3);
    acc_i32[7] += dot_rows(r, c4, c5, c6, c7);
    r = unpack_i8(a1.x);
    acc_i32[8] += dot_rows(r, c0, c1, c2, c3);
    acc_i32[9] += dot_rows(r, c4, c5, c6, c7);
    r = unpack_i8(a1.y);
    acc_i32[10] += dot_rows(r, c0, c1, c2, c3);
    acc_i32[11] += dot_rows(r, c4, c5, c6, c7);
    r = unpack_i8(a1.z);
    acc_i32[12] += dot_rows(r, c0, c1, c2, c3);
    acc_i32[13] += dot_rows(r, c4, c5, c6, c7);
    r = unpack_i8(a1.w);
    acc_i32[14] += dot_rows(r, c0, c1, c2, c3);
    acc_i32[15] += dot_rows(r, c4, c5, c6, c7);
}

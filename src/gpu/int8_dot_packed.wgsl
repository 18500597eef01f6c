
// ---- int8_dot_packed.wgsl: `mac_i8` through dot4I8Packed --------------------
// Appended to int8_matmul.wgsl when the WGSL implementation has the language
// extension packed_4x8_integer_dot_product (WGSL §"Packed 4x8 integer dot
// product built-in functions"): dot4I8Packed(x, y) is the dot product of the
// four signed bytes of x and of y, in i32. naga emits it on Vulkan as
// SPIR-V OpSDot with PackedVectorFormat4x8Bit when the device has
// shaderIntegerDotProduct (else four BitFieldSExtracts and multiply-adds), on
// DX12 as dot4add_i8packed (shader model 6.4+), on Metal from packed_char4.

// The four words of w against the word a: 16 multiply-adds.
fn dot_i8x4(a: u32, w: vec4<u32>) -> vec4<i32> {
    return vec4<i32>(
        dot4I8Packed(a, w.x),
        dot4I8Packed(a, w.y),
        dot4I8Packed(a, w.z),
        dot4I8Packed(a, w.w),
    );
}

// One word of K (4 values) for a thread's 8 × 8 outputs.
fn mac_i8(a0: vec4<u32>, a1: vec4<u32>, w0: vec4<u32>, w1: vec4<u32>) {
    acc_i32[0] += dot_i8x4(a0.x, w0);
    acc_i32[1] += dot_i8x4(a0.x, w1);
    acc_i32[2] += dot_i8x4(a0.y, w0);
    acc_i32[3] += dot_i8x4(a0.y, w1);
    acc_i32[4] += dot_i8x4(a0.z, w0);
    acc_i32[5] += dot_i8x4(a0.z, w1);
    acc_i32[6] += dot_i8x4(a0.w, w0);
    acc_i32[7] += dot_i8x4(a0.w, w1);
    acc_i32[8] += dot_i8x4(a1.x, w0);
    acc_i32[9] += dot_i8x4(a1.x, w1);
    acc_i32[10] += dot_i8x4(a1.y, w0);
    acc_i32[11] += dot_i8x4(a1.y, w1);
    acc_i32[12] += dot_i8x4(a1.z, w0);
    acc_i32[13] += dot_i8x4(a1.z, w1);
    acc_i32[14] += dot_i8x4(a1.w, w0);
    acc_i32[15] += dot_i8x4(a1.w, w1);
}

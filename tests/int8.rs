//! The int8 matrix product (`compress/int8.rs`, `gpu/int8_matmul.rs`):
//! packing as WGSL lays it out, symmetric quantization, the exact twin, the
//! i32-overflow guard, the GPU kernels against the twin on odd shapes and
//! extreme values (on lavapipe here: `WGPU_BACKEND=vulkan`), the f32 kernel
//! against ndarray within the summation bound, and the measurement the CLI
//! and the page print. Tests that name a bug run a deliberately broken copy
//! of the code or shader once and show that their check catches it.

mod common;

use common::flt;

use std::sync::LazyLock;

use flt_explorer::compress::int8::{
    self, Int8Error, Int8Inputs, Int8Problem, K_MAX, KernelChoice, QMAX, check_shape, checked_rows,
    dequantization_bound, dequantize_product, dot4_i8_packed, matmul_i32, matmul_i32_packed_rows,
    pack_rows, pack4, packed_row_words, quantize_rows, unpack_rows, unpack4,
};
use flt_explorer::gpu::bindings::{Kernel, Module};
use flt_explorer::gpu::int8_matmul::{
    self, MATMUL_I8_PACKED, MATMUL_I8_UNPACKED, PackedDot, PackedPath, ProductKernel, Shape,
};
use flt_explorer::gpu::{GpuContext, GpuError};
use flt_explorer::inputs::GaussianStream;
use ndarray::{Array2, ArrayView2};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// Seeded int8 values over the whole range [−128, 127].
fn random_i8(rows: usize, cols: usize, seed: u64) -> Array2<i8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((rows, cols), || rng.next_u32() as u8 as i8)
}

/// The defining loop in i64, for the twin to be checked against.
fn naive_i64(a: ArrayView2<'_, i8>, w: ArrayView2<'_, i8>) -> Array2<i64> {
    Array2::from_shape_fn((a.nrows(), w.nrows()), |(i, j)| {
        (0..a.ncols())
            .map(|k| a[(i, k)] as i64 * w[(j, k)] as i64)
            .sum()
    })
}

/// Operands with the extremes placed where they matter: row 0 of A and of
/// W all −128 (the largest product, 16384, K times), row 1 of A all 127
/// against row 1 of W all −128, the last rows alternating extremes; the rest
/// uniform over [−128, 127].
fn extreme_operands(m: usize, k: usize, n: usize, seed: u64) -> (Array2<i8>, Array2<i8>) {
    let mut a = random_i8(m, k, seed);
    let mut w = random_i8(n, k, seed + 1);
    a.row_mut(0).fill(i8::MIN);
    w.row_mut(0).fill(i8::MIN);
    if m > 1 {
        a.row_mut(1).fill(i8::MAX);
    }
    if n > 1 {
        w.row_mut(1).fill(i8::MIN);
    }
    let (last_a, last_w) = (m - 1, n - 1);
    for kk in 0..k {
        a[(last_a, kk)] = if kk % 2 == 0 { i8::MIN } else { i8::MAX };
        w[(last_w, kk)] = if kk % 3 == 0 { i8::MAX } else { i8::MIN };
    }
    (a, w)
}

/// Odd shapes: sides not multiples of 4, 16 or the 128 tile; K across the
/// 32-value K-step (16, 17, 32, 33), K = 1 and M = N = 1.
const ODD_SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (3, 5, 7),
    (5, 16, 3),
    (17, 17, 9),
    (33, 32, 31),
    (129, 33, 130),
    (7, 100, 257),
    (131, 259, 65),
];

fn gpu_product(
    ctx: &GpuContext,
    kernel: &Kernel,
    a: &Array2<i8>,
    w: &Array2<i8>,
) -> Result<Array2<i32>, GpuError> {
    let shape = Shape {
        m: a.nrows(),
        k: a.ncols(),
        n: w.nrows(),
    };
    let run = pollster::block_on(int8_matmul::matmul_i8_by(
        ctx,
        kernel,
        shape,
        &pack_rows(a.view()),
        &pack_rows(w.view()),
        1,
    ))?;
    Ok(Array2::from_shape_vec((shape.m, shape.n), run.c).expect("C's shape"))
}

/// Where the GPU's C differs from the twin's: (count, first (i, j, gpu, twin)).
fn differences(gpu: &Array2<i32>, twin: &Array2<i32>) -> (usize, Option<(usize, usize, i32, i32)>) {
    let mut first = None;
    let mut count = 0;
    for ((ij, &g), &t) in gpu.indexed_iter().zip(twin.iter()) {
        if g != t {
            count += 1;
            first.get_or_insert((ij.0, ij.1, g, t));
        }
    }
    (count, first)
}

// ---- packing ------------------------------------------------------------------

#[test]
fn packing_is_wgsl_pack4x_i8_layout_and_round_trips() {
    // Value j in bits 8j..8j+7, two's complement (WGSL pack4xI8).
    assert_eq!(pack4([1, 2, 3, 4]), 0x0403_0201);
    assert_eq!(pack4([-1, 0, 0, 0]), 0x0000_00ff);
    assert_eq!(pack4([0, 0, 0, i8::MIN]), 0x8000_0000);
    assert_eq!(pack4([i8::MAX, i8::MIN, -2, 0]), 0x00fe_807f);
    for v in [
        [i8::MIN, i8::MAX, 0, -1],
        [5, -6, 7, -8],
        [0; 4],
        [i8::MIN; 4],
    ] {
        assert_eq!(unpack4(pack4(v)), v);
    }
    // dot4I8Packed by its definition.
    assert_eq!(
        dot4_i8_packed(pack4([i8::MIN; 4]), pack4([i8::MIN; 4])),
        4 * 16384
    );
    assert_eq!(
        dot4_i8_packed(pack4([1, -2, 3, -4]), pack4([5, 6, -7, -8])),
        5 - 12 - 21 + 32
    );
    // Rows padded with zeros to whole 16-value words, at every K mod 16.
    for k in [1, 3, 4, 5, 15, 16, 17, 33] {
        let x = random_i8(3, k, k as u64);
        let words = pack_rows(x.view());
        assert_eq!(words.len(), 3 * packed_row_words(k));
        assert_eq!(packed_row_words(k) % 4, 0);
        assert_eq!(unpack_rows(&words, 3, k), x, "K = {k}");
        let stride = packed_row_words(k);
        for row in 0..3 {
            let tail: Vec<i8> = words[row * stride..(row + 1) * stride]
                .iter()
                .flat_map(|&w| unpack4(w))
                .skip(k)
                .collect();
            assert!(tail.iter().all(|&v| v == 0), "K = {k}: padding {tail:?}");
        }
    }
}

#[test]
fn a_wrong_packing_is_caught() {
    // Power: big-endian packing (value 0 in the top byte) breaks the layout
    // check above; sign-extension-free unpacking breaks the round trip.
    let big_endian = |v: [i8; 4]| u32::from_be_bytes(v.map(|x| x as u8));
    assert_ne!(big_endian([1, 2, 3, 4]), 0x0403_0201);
    let zero_extend = |w: u32| w.to_le_bytes().map(|b| b as i32);
    assert_ne!(zero_extend(pack4([-1, 0, 0, 0]))[0], -1);
}

// ---- quantization -------------------------------------------------------------

#[test]
fn quantization_is_symmetric_round_half_even_and_within_half_a_step() {
    // amax = 127 → s = 1: ties x.5 go to the even neighbour, as NumPy/PyTorch round.
    let x = Array2::from_shape_vec((1, 8), vec![127.0, 2.5, 3.5, -2.5, -3.5, 0.5, 1.5, -127.0])
        .unwrap();
    let q = quantize_rows(x.view());
    assert_eq!(q.scales, vec![1.0]);
    assert_eq!(
        q.values.row(0).to_vec(),
        vec![127, 2, 4, -2, -4, 0, 2, -127]
    );
    // An all-zero row is exact (scale 0), a constant row hits ±127 exactly.
    let x = Array2::from_shape_vec((2, 3), vec![0.0, 0.0, 0.0, -0.3, -0.3, -0.3]).unwrap();
    let q = quantize_rows(x.view());
    assert_eq!(q.scales[0], 0.0);
    assert!(q.values.row(0).iter().all(|&v| v == 0));
    assert!(q.values.row(1).iter().all(|&v| v == -QMAX));
    assert!(q.dequantize().iter().all(|v| v.is_finite()));
    // Every element within half a step of its original; the row maximum at ±127.
    let x = GaussianStream::new(9).matrix(16, 77, 3.0);
    let q = quantize_rows(x.view());
    let back = q.dequantize();
    for i in 0..16 {
        let s = q.scales[i];
        let amax = x.row(i).iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(q.values.row(i).iter().any(|&v| v.abs() == QMAX));
        assert!(q.values.row(i).iter().all(|&v| v != i8::MIN));
        for (a, b) in x.row(i).iter().zip(back.row(i)) {
            assert!(
                (a - b).abs() <= s / 2.0 * (1.0 + 1e-6) + amax * 1e-7,
                "{a} vs {b}, s {s}"
            );
        }
    }
}

#[test]
fn the_dequantized_product_is_within_the_rounding_bound() {
    // |ŷ − y| ≤ Σₖ (|aₖ|·s_W/2 + |wₖ|·s_A/2 + s_A·s_W/4) for every entry.
    let shape = check_shape(37, 129, 21).unwrap();
    let x = Int8Inputs::generate(shape, 5);
    let rows: Vec<usize> = (0..shape.m).collect();
    let c = matmul_i32(x.qa.values.view(), x.qw.values.view()).unwrap();
    let y = int8::reference_rows(x.a.view(), x.w.view(), &rows);
    let bound = dequantization_bound(x.a.view(), x.w.view(), &x.qa.scales, &x.qw.scales, &rows);
    let check = |dq: &Array2<f32>| {
        dq.iter()
            .zip(y.iter())
            .zip(bound.iter())
            .filter(|((d, y), b)| (**d as f64 - **y).abs() > **b * (1.0 + 1e-5) + 1e-6)
            .count()
    };
    let dq = dequantize_product(c.view(), &x.qa.scales, &x.qw.scales, &rows);
    assert_eq!(check(&dq), 0);
    // The bound is not vacuous: the error uses a visible share of it.
    let worst = dq
        .iter()
        .zip(y.iter())
        .zip(bound.iter())
        .map(|((d, y), b)| (*d as f64 - y).abs() / b)
        .fold(0.0, f64::max);
    assert!(worst > 0.05, "worst error / bound = {worst}");
    // Power: dequantizing per-channel values with the largest channel's
    // scale (a per-tensor/per-channel mix-up) breaks it.
    let largest = x.qw.scales.iter().fold(0.0f32, |m, &s| m.max(s));
    let wrong = vec![largest; x.qw.scales.len()];
    let dq = dequantize_product(c.view(), &x.qa.scales, &wrong, &rows);
    assert!(check(&dq) > 0);
}

// ---- the twin and the overflow guard ------------------------------------------

#[test]
fn the_twin_equals_the_defining_loop_at_extreme_values() {
    for &(m, k, n) in ODD_SHAPES {
        let (a, w) = extreme_operands(m, k, n, (m * k * n) as u64);
        let twin = matmul_i32(a.view(), w.view()).unwrap();
        let exact = naive_i64(a.view(), w.view());
        assert_eq!(twin.mapv(|v| v as i64), exact, "{m}×{k}×{n}");
        if m > 1 && n > 1 {
            assert_eq!(twin[(0, 0)], (k * 16384) as i32);
        }
        // The packed words, word by word through dot4I8Packed, agree.
        let rows: Vec<usize> = (0..m).collect();
        let shape = Shape { m, k, n };
        let packed =
            matmul_i32_packed_rows(&pack_rows(a.view()), &pack_rows(w.view()), shape, &rows);
        assert_eq!(packed, twin, "{m}×{k}×{n}");
    }
}

#[test]
fn k_is_refused_where_i32_sums_could_overflow() {
    // The guard is tight: K_MAX products of −128·−128 fit in i32, one more does not.
    assert_eq!(K_MAX, 131_071);
    assert!(K_MAX as i64 * 16384 <= i32::MAX as i64);
    assert!((K_MAX as i64 + 1) * 16384 > i32::MAX as i64);
    // At K_MAX the twin is exact on the worst row.
    let a = Array2::from_elem((1, K_MAX), i8::MIN);
    let c = matmul_i32(a.view(), a.view()).unwrap();
    assert_eq!(c[(0, 0)] as i64, K_MAX as i64 * 16384);
    // One more is refused, with the reason and the limit in the message.
    let e = check_shape(4, K_MAX + 1, 4).unwrap_err();
    assert!(matches!(e, Int8Error::Overflow { k } if k == K_MAX + 1));
    let text = e.to_string();
    assert!(
        text.contains("131071") && text.contains("overflow"),
        "{text}"
    );
    let b = Array2::from_elem((1, K_MAX + 1), 1i8);
    assert!(matches!(
        matmul_i32(b.view(), b.view()),
        Err(Int8Error::Overflow { .. })
    ));
    assert!(matches!(check_shape(0, 3, 3), Err(Int8Error::Shape(_))));
    // The GPU run refuses it before generating or allocating anything.
    if let Some(ctx) = common::gpu() {
        let problem = Int8Problem {
            shape: Shape {
                m: 1,
                k: K_MAX + 1,
                n: 1,
            },
            seed: 1,
            kernels: KernelChoice::All,
            repeats: 1,
            check_macs: 1 << 20,
        };
        let e = pollster::block_on(int8::run_gpu(&ctx, &problem)).unwrap_err();
        assert!(matches!(e, Int8Error::Overflow { .. }), "{e}");
        let e = int8_matmul::check(
            &ctx,
            ProductKernel::Int8Packed,
            Shape {
                m: 1,
                k: K_MAX + 1,
                n: 1,
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("overflow"), "{e}");
        // The f32 kernel has no such limit.
        assert!(
            int8_matmul::check(
                &ctx,
                ProductKernel::F32,
                Shape {
                    m: 1,
                    k: K_MAX + 1,
                    n: 1
                }
            )
            .is_ok()
        );
    }
}

// ---- GPU kernels against the twin ----------------------------------------------

#[test]
fn packed_and_unpacked_kernels_equal_the_twin_exactly_on_odd_shapes() {
    let Some(ctx) = common::gpu() else { return };
    let packed = int8_matmul::packed_dot(&ctx);
    eprintln!(
        "{} ({}): {} — {}",
        ctx.adapter_name,
        ctx.api,
        packed.path.label(),
        packed.detail
    );
    // Natively naga always has the extension.
    assert!(packed.available, "{packed:?}");
    for &(m, k, n) in ODD_SHAPES {
        let (a, w) = extreme_operands(m, k, n, 7 * (m + k + n) as u64);
        let twin = matmul_i32(a.view(), w.view()).unwrap();
        for kernel in [&MATMUL_I8_PACKED, &MATMUL_I8_UNPACKED] {
            let c = gpu_product(&ctx, kernel, &a, &w).unwrap();
            let (count, first) = differences(&c, &twin);
            assert_eq!(
                count,
                0,
                "{} at {m}×{k}×{n}: first difference {first:?}",
                kernel.id()
            );
        }
    }
}

#[test]
fn the_kernels_are_exact_at_the_largest_sums() {
    // K a few steps long, every value −128 against −128 and 127 against
    // −128: the sums are K·16384 and −K·16256; wrong sign handling or a
    // narrow accumulator shows here.
    let Some(ctx) = common::gpu() else { return };
    let (m, k, n) = (3, 4099, 2);
    let mut a = Array2::from_elem((m, k), i8::MIN);
    a.row_mut(1).fill(i8::MAX);
    a.row_mut(2).fill(-1);
    let w = Array2::from_elem((n, k), i8::MIN);
    let twin = matmul_i32(a.view(), w.view()).unwrap();
    assert_eq!(twin[(0, 0)], k as i32 * 16384);
    assert_eq!(twin[(1, 1)], -(k as i32) * 16256);
    for kernel in [&MATMUL_I8_PACKED, &MATMUL_I8_UNPACKED] {
        assert_eq!(
            gpu_product(&ctx, kernel, &a, &w).unwrap(),
            twin,
            "{}",
            kernel.id()
        );
    }
}

/// The fallback unpacking by logical shifts: bytes zero-extended, −1 read as 255.
static ZERO_EXTEND: LazyLock<String> = LazyLock::new(|| {
    let good = "return vec4<i32>(x << 24u, x << 16u, x << 8u, x) >> vec4<u32>(24u);";
    assert!(int8_matmul::SHADER_PORTABLE.contains(good));
    int8_matmul::SHADER_PORTABLE.replace(
        good,
        "return bitcast<vec4<i32>>(vec4<u32>(word << 24u, word << 16u, word << 8u, word) >> vec4<u32>(24u));",
    )
});

/// The packed kernel through the unsigned built-in.
static UNSIGNED: LazyLock<String> = LazyLock::new(|| {
    let mut text = int8_matmul::SHADER_PACKED.to_string();
    for c in ["x", "y", "z", "w"] {
        let good = format!("dot4I8Packed(a, w.{c})");
        assert!(text.contains(&good));
        text = text.replace(&good, &format!("bitcast<i32>(dot4U8Packed(a, w.{c}))"));
    }
    text
});

/// The loaders without their K bound: the words past a row's end (the next
/// row's) enter the sums when the last K-step is half full (K = 37: 3 vec4
/// words per row, 2 steps of 2).
static NO_K_BOUND: LazyLock<String> = LazyLock::new(|| {
    let good = " && word < p.k_vec4";
    assert_eq!(int8_matmul::SHADER_PORTABLE.matches(good).count(), 4);
    int8_matmul::SHADER_PORTABLE.replace(good, "")
});

/// A kernel of `of`'s entry and bindings in a broken module.
fn mutant(
    name: &'static str,
    source: fn() -> wgpu::ShaderModuleDescriptor<'static>,
    of: &Kernel,
) -> Kernel {
    Kernel {
        module: Module {
            name,
            source,
            text: "",
        },
        ..*of
    }
}

#[test]
fn the_exactness_check_catches_a_broken_kernel() {
    // Power: each mutant compiles and runs, and the comparison with the twin
    // that the tests above make finds it wrong at these shapes.
    let Some(ctx) = common::gpu() else { return };
    let (a, w) = extreme_operands(33, 37, 31, 11);
    let twin = matmul_i32(a.view(), w.view()).unwrap();
    let mutants: [(&str, Kernel); 3] = [
        (
            "sign extension → zero extension",
            mutant(
                "int8_mutant_zero_extend",
                || wgpu::ShaderModuleDescriptor {
                    label: Some("int8_mutant_zero_extend"),
                    source: wgpu::ShaderSource::Wgsl(ZERO_EXTEND.as_str().into()),
                },
                &MATMUL_I8_UNPACKED,
            ),
        ),
        (
            "dot4I8Packed → dot4U8Packed",
            mutant(
                "int8_mutant_unsigned",
                || wgpu::ShaderModuleDescriptor {
                    label: Some("int8_mutant_unsigned"),
                    source: wgpu::ShaderSource::Wgsl(UNSIGNED.as_str().into()),
                },
                &MATMUL_I8_PACKED,
            ),
        ),
        (
            "no K bound in the loader",
            mutant(
                "int8_mutant_no_k_bound",
                || wgpu::ShaderModuleDescriptor {
                    label: Some("int8_mutant_no_k_bound"),
                    source: wgpu::ShaderSource::Wgsl(NO_K_BOUND.as_str().into()),
                },
                &MATMUL_I8_UNPACKED,
            ),
        ),
    ];
    for (name, kernel) in mutants {
        let c = gpu_product(&ctx, &kernel, &a, &w).unwrap();
        let (count, _) = differences(&c, &twin);
        assert!(count > 0, "{name} was not caught");
    }
}

// ---- what naga emits ----------------------------------------------------------------

/// The SPIR-V words naga 30 writes for a module, with or without the
/// integer dot product capabilities wgpu-hal offers a device that has
/// shaderIntegerDotProduct (`vulkan/adapter.rs`).
fn spirv(text: &str, integer_dot: bool) -> Vec<u32> {
    use wgpu::naga::back::spv::{self, Capability};
    use wgpu::naga::valid::{Capabilities, ValidationFlags, Validator};
    let module = wgpu::naga::front::wgsl::parse_str(text).expect("parses");
    let info = Validator::new(ValidationFlags::all(), Capabilities::all())
        .validate(&module)
        .expect("validates");
    let mut capabilities = vec![
        Capability::Shader,
        Capability::Matrix,
        Capability::Int8,
        Capability::Int16,
        Capability::Int64,
        Capability::Float16,
        Capability::Float64,
        Capability::StorageBuffer16BitAccess,
    ];
    if integer_dot {
        capabilities.extend([
            Capability::DotProductInputAll,
            Capability::DotProductInput4x8Bit,
            Capability::DotProductInput4x8BitPacked,
            Capability::DotProduct,
        ]);
    }
    let options = spv::Options {
        lang_version: (1, 6),
        capabilities: Some(capabilities.into_iter().collect()),
        ..Default::default()
    };
    spv::write_vec(&module, &info, &options, None).expect("writes SPIR-V")
}

/// Whether the SPIR-V has an instruction of `opcode`.
fn has_op(words: &[u32], opcode: u32) -> bool {
    let mut at = 5; // after the header
    while at < words.len() {
        let (count, op) = (words[at] >> 16, words[at] & 0xffff);
        if op == opcode {
            return true;
        }
        at += count.max(1) as usize;
    }
    false
}

#[test]
fn naga_emits_op_s_dot_only_where_the_device_has_integer_dot_product() {
    // OpSDot = 4450 (SPV_KHR_integer_dot_product), OpBitFieldSExtract = 202.
    const OP_SDOT: u32 = 4450;
    const OP_BIT_FIELD_S_EXTRACT: u32 = 202;
    let with = spirv(int8_matmul::SHADER_PACKED, true);
    assert!(has_op(&with, OP_SDOT));
    let without = spirv(int8_matmul::SHADER_PACKED, false);
    assert!(!has_op(&without, OP_SDOT));
    assert!(has_op(&without, OP_BIT_FIELD_S_EXTRACT), "naga's polyfill");
    // The portable module never needs the capability.
    let portable = spirv(int8_matmul::SHADER_PORTABLE, true);
    assert!(!has_op(&portable, OP_SDOT));
}

// ---- the f32 kernel -------------------------------------------------------------

#[test]
fn the_f32_kernel_matches_ndarray_within_the_summation_bound() {
    // Both sums of K products carry at most γ_K·Σ|aₖwₖ| of rounding error
    // (γ_K ≈ K·2⁻²⁴, Higham, "Accuracy and Stability of Numerical
    // Algorithms", §3.1), so they differ by at most 2·γ_K·Σ|aₖwₖ|.
    let Some(ctx) = common::gpu() else { return };
    for &(m, k, n) in ODD_SHAPES {
        let a = GaussianStream::new(m as u64).matrix(m, k, 1.0);
        let w = GaussianStream::new(n as u64 + 100).matrix(n, k, 1.0);
        let shape = Shape { m, k, n };
        let run = pollster::block_on(int8_matmul::matmul_f32(
            &ctx,
            shape,
            &int8::pad_rows_f32(a.view()),
            &int8::pad_rows_f32(w.view()),
            1,
        ))
        .unwrap();
        let gpu = Array2::from_shape_vec((m, n), run.c).unwrap();
        let nd = a.dot(&w.t());
        let gamma =
            k as f64 * f32::EPSILON as f64 / 2.0 / (1.0 - k as f64 * f32::EPSILON as f64 / 2.0);
        for ((i, j), &g) in gpu.indexed_iter() {
            let abs_sum: f64 = a
                .row(i)
                .iter()
                .zip(w.row(j))
                .map(|(x, y)| (x * y).abs() as f64)
                .sum();
            let bound = 2.0 * gamma * abs_sum + 1e-30;
            assert!(
                ((g - nd[(i, j)]) as f64).abs() <= bound,
                "{m}×{k}×{n} at ({i}, {j}): {g} vs {} (bound {bound})",
                nd[(i, j)]
            );
        }
        // Power: a product that drops the last K value breaks the bound
        // (K > 1, where that value is not tiny against the bound).
        if k > 8 {
            let (i, j) = (m - 1, n - 1);
            let dropped = nd[(i, j)] - a[(i, k - 1)] * w[(j, k - 1)];
            let abs_sum: f64 = a
                .row(i)
                .iter()
                .zip(w.row(j))
                .map(|(x, y)| (x * y).abs() as f64)
                .sum();
            assert!(((dropped - nd[(i, j)]) as f64).abs() > 2.0 * gamma * abs_sum);
        }
    }
}

// ---- the measurement --------------------------------------------------------------

fn problem(m: usize, k: usize, n: usize, kernels: KernelChoice) -> Int8Problem {
    Int8Problem {
        shape: Shape { m, k, n },
        seed: 3,
        kernels,
        repeats: 2,
        check_macs: 1 << 24,
    }
}

#[test]
fn a_gpu_measurement_names_its_paths_and_is_exact() {
    let Some(ctx) = common::gpu() else { return };
    let report = pollster::block_on(int8::run_gpu(
        &ctx,
        &problem(70, 45, 133, KernelChoice::All),
    ))
    .unwrap();
    let keys: Vec<&str> = report.kernels.iter().map(|k| k.kernel.as_str()).collect();
    assert_eq!(keys, ["int8-packed", "int8-unpacked", "f32"]);
    assert_eq!(report.checked_rows, 70);
    for k in &report.kernels {
        assert!(k.time_ms > 0.0 && k.time_ms.is_finite(), "{k:?}");
        assert_eq!(k.time_ms_samples.len(), 2);
        assert!(k.ops >= k.ops_compulsory && k.bytes > 0);
        assert!(k.speedup_vs_f32.is_some());
        if k.kernel == "f32" {
            assert_eq!(k.exact, None);
            assert!(k.rel_err < 1e-6, "{k:?}");
        } else {
            assert_eq!(k.exact, Some(true), "{k:?}");
            assert_eq!(k.mismatches, Some(0));
            // Symmetric per-row int8 of Gaussians: about 1% relative error.
            assert!(k.rel_err > 1e-3 && k.rel_err < 0.05, "{k:?}");
        }
    }
    assert_eq!(report.kernels[0].path, report.packed_dot.path);
    assert!(report.kernels[0].path.starts_with("packed ("));
    assert_eq!(report.kernels[1].path, "unpacked fallback");
    assert!(report.int8_speedup_vs_f32.is_some());
    // Compulsory ops are 2MNK; the int8 kernels read a quarter of the f32 bytes.
    assert_eq!(report.kernels[0].ops_compulsory, 2 * 70 * 45 * 133);
    let (i8_bytes, f32_bytes) = (
        report.kernels[0].bytes_compulsory,
        report.kernels[2].bytes_compulsory,
    );
    assert_eq!(i8_bytes, (70 * 45 + 133 * 45) + 4 * 70 * 133);
    assert_eq!(f32_bytes, 4 * (70 * 45 + 133 * 45) + 4 * 70 * 133);
    // The JSON lines carry the shape beside each kernel, and no NaN.
    for line in report.lines() {
        for key in [
            "m",
            "k",
            "n",
            "kernel",
            "path",
            "timing",
            "time_ms",
            "time_ms_samples",
            "ops",
            "ops_formula",
            "bytes",
            "bytes_formula",
            "gops",
            "exact",
            "max_abs_err",
            "rel_err",
            "speedup_vs_f32",
        ] {
            assert!(line.get(key).is_some(), "{key} missing in {line}");
        }
        assert!(!line.to_string().contains("NaN"));
    }
}

#[test]
fn without_the_extension_the_fallback_runs_and_says_why() {
    let Some(ctx) = common::gpu() else { return };
    let missing = int8_matmul::packed_dot_with(&ctx, false);
    assert!(!missing.available);
    assert_eq!(missing.path, PackedPath::Unavailable);
    let report = pollster::block_on(int8::run_gpu_with(
        &ctx,
        &problem(9, 19, 5, KernelChoice::Auto),
        missing.clone(),
        &|_, _| {},
    ))
    .unwrap();
    let keys: Vec<&str> = report.kernels.iter().map(|k| k.kernel.as_str()).collect();
    assert_eq!(keys, ["int8-unpacked", "f32"]);
    assert_eq!(report.kernels[0].exact, Some(true));
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("packed_4x8_integer_dot_product"))
    );
    // Asking for the packed kernel by name fails with the reason.
    let e = pollster::block_on(int8::run_gpu_with(
        &ctx,
        &problem(9, 19, 5, KernelChoice::Packed),
        missing,
        &|_, _| {},
    ))
    .unwrap_err();
    assert!(matches!(e, Int8Error::PackedUnavailable(_)), "{e}");
    // Where it exists, auto picks the packed kernel.
    let here = PackedDot {
        available: true,
        path: PackedPath::Hardware,
        detail: String::new(),
    };
    assert_eq!(
        KernelChoice::Auto.kernels(&here).unwrap(),
        [ProductKernel::Int8Packed]
    );
}

#[test]
fn a_cpu_measurement_checks_the_packing_and_says_it_is_the_twin() {
    let report = int8::run_cpu(
        &problem(21, 70, 13, KernelChoice::All),
        Some("no adapter".into()),
    )
    .unwrap();
    let keys: Vec<&str> = report.kernels.iter().map(|k| k.kernel.as_str()).collect();
    assert_eq!(keys, ["int8-twin", "f32-twin"]);
    assert_eq!(report.backend, "cpu");
    assert_eq!(report.kernels[0].exact, Some(true));
    assert!(report.kernels[0].timing_detail.contains("CPU twin"));
    assert!(report.notes.iter().any(|n| n.contains("no adapter")));
    assert!(report.kernels[1].rel_err < 1e-6);
    assert!(report.kernels[0].rel_err > 1e-3 && report.kernels[0].rel_err < 0.05);
}

#[test]
fn exactness_counts_every_differing_entry() {
    let twin = Array2::from_shape_fn((3, 5), |(i, j)| (i * 5 + j) as i32 - 7);
    assert_eq!(int8::mismatches(twin.view(), twin.view()), 0);
    let mut off = twin.clone();
    off[(2, 4)] += 1;
    off[(0, 0)] = i32::MIN;
    assert_eq!(int8::mismatches(off.view(), twin.view()), 2);
    assert_eq!(
        int8::mismatches(twin.slice(ndarray::s![..2, ..]), twin.view()),
        15
    );
}

#[test]
fn checked_rows_are_spread_and_bounded_by_the_budget() {
    let shape = Shape {
        m: 1000,
        k: 100,
        n: 100,
    };
    let rows = checked_rows(shape, 100 * 100 * 10);
    assert_eq!(rows.len(), 10);
    assert_eq!((rows[0], rows[9]), (0, 999));
    assert_eq!(checked_rows(shape, u64::MAX).len(), 1000);
    assert_eq!(checked_rows(Shape { m: 1, k: 5, n: 5 }, 0), vec![0]);
    assert_eq!(checked_rows(shape, 0), vec![0, 999]);
}

// ---- the CLI ------------------------------------------------------------------------

#[test]
fn flt_matmul_prints_one_json_object_per_kernel() {
    let backend = if common::gpu().is_some() {
        "gpu"
    } else {
        "cpu"
    };
    let out = flt(&[
        "matmul",
        "--m",
        "19",
        "--k",
        "45",
        "--n",
        "7",
        "--repeats",
        "2",
        "--seed",
        "4",
        "--backend",
        backend,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let kernels: Vec<&str> = lines
        .iter()
        .map(|l| l["kernel"].as_str().unwrap())
        .collect();
    if backend == "gpu" {
        assert_eq!(kernels, ["int8-packed", "int8-unpacked", "f32"]);
    } else {
        assert_eq!(kernels, ["int8-twin", "f32-twin"]);
    }
    for l in &lines {
        assert_eq!(
            (l["m"].as_u64(), l["k"].as_u64(), l["n"].as_u64()),
            (Some(19), Some(45), Some(7))
        );
        assert_eq!(l["seed"], 4);
        assert_eq!(l["backend"], backend);
        assert_eq!(l["time_ms_samples"].as_array().map(Vec::len), Some(2));
        assert!(l["time_ms"].as_f64().is_some_and(|t| t >= 0.0));
        assert!(l["timing"].is_string() && l["timing_detail"].is_string());
        for key in [
            "ops",
            "ops_compulsory",
            "bytes",
            "bytes_compulsory",
            "memory_bytes",
        ] {
            assert!(l[key].as_u64().is_some_and(|v| v > 0), "{key} in {l}");
        }
        for key in [
            "ops_formula",
            "bytes_formula",
            "bytes_compulsory_formula",
            "path",
            "path_detail",
        ] {
            assert!(
                l[key].as_str().is_some_and(|s| !s.is_empty()),
                "{key} in {l}"
            );
        }
        assert!(l["rel_err"].as_f64().is_some() && l["max_abs_err"].as_f64().is_some());
        let int8 = l["kernel"].as_str().is_some_and(|k| k.starts_with("int8"));
        assert_eq!(l["exact"].as_bool(), int8.then_some(true), "{l}");
    }
    // The table names the paths and the ratio.
    let out = flt(&[
        "matmul",
        "--m",
        "5",
        "--k",
        "9",
        "--n",
        "3",
        "--repeats",
        "1",
        "--backend",
        backend,
    ]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && table.contains("vs f32") && table.contains("ratio"),
        "{table}"
    );
}

#[test]
fn flt_matmul_refuses_bad_flags_with_status_2() {
    for (args, says) in [
        (&["matmul", "--m", "0"][..], "--m"),
        (&["matmul", "--k", "-3"], "-3"),
        (&["matmul", "--n", "many"], "--n"),
        (&["matmul", "--kernel", "fast"], "--kernel"),
        (&["matmul", "--backend", "tpu"], "--backend"),
        (&["matmul", "--repeats", "0"], "--repeats"),
        (
            &[
                "matmul",
                "--m",
                "1",
                "--k",
                "131072",
                "--n",
                "1",
                "--backend",
                "cpu",
            ],
            "overflow",
        ),
        (&["matmul", "--size", "3"], "--size"),
    ] {
        let out = flt(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

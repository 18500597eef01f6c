//! Host side of `int8_matmul.wgsl`: the int8 matrix product C = A·Wᵀ
//! (int8 × int8 → i32, exact) through WGSL's packed 4×8 integer dot product
//! `dot4I8Packed` (language extension `packed_4x8_integer_dot_product`) or a
//! portable unpacking fallback, and the f32 product of the same shape with
//! the same tiling — the int8 GEMM of integer-only inference (Jacob et al.
//! 2018, "Quantization and Training of Neural Networks for Efficient
//! Integer-Arithmetic-Only Inference", §2.3–2.4; survey §"Quantization").
//!
//! Which `dot4I8Packed` runs is decided here, before any module is created
//! ([`packed_dot`]):
//!
//! * in the browser (WebGPU), the packed kernel is compiled only when
//!   `navigator.gpu.wgslLanguageFeatures` has `packed_4x8_integer_dot_product`
//!   (wgpu's `Instance::wgsl_language_features`); the browser's WGSL compiler
//!   then chooses the instructions;
//! * natively, naga always accepts `dot4I8Packed`; its SPIR-V writer
//!   (naga 30 `back/spv/block.rs`, `Mf::Dot4I8Packed`) emits `OpSDot` with
//!   `PackedVectorFormat4x8Bit` when the capabilities `DotProduct` and
//!   `DotProductInput4x8BitPacked` are available — wgpu-hal 30
//!   (`vulkan/adapter.rs`) offers them when the device has
//!   `shaderIntegerDotProduct` (Vulkan 1.3 or `VK_KHR_shader_integer_dot_product`)
//!   — and otherwise a polyfill of four `OpBitFieldSExtract`s and
//!   multiply-adds per operand. The driver's own
//!   `integerDotProduct4x8BitPackedSignedAccelerated` says whether `OpSDot`
//!   is a hardware instruction; both are read from the Vulkan device here.
//!   On DX12 naga emits `dot4add_i8packed` (shader model 6.4+, else a
//!   polyfill), on Metal products of `packed_char4`.
//!
//! Shape *prepare → record → read*: every limit (storage bindings, workgroups
//! per dimension, workgroup memory and size, i32 overflow) is checked before
//! anything is allocated; then buffers, pipeline and bind group; one timed
//! pass in a [`Program`]; the result read back.

use std::borrow::Cow;

use bytemuck::{Pod, Zeroable};

use super::bindings::{Binding, Kernel, Module};
use super::buffers::{self, check_storage};
use super::program::{Pass, Program, Timed};
use super::{GpuContext, GpuError};

/// int8 values per stored vec4 word (4 per u32).
pub const I8_PER_VEC4: usize = 16;
/// f32 values per stored vec4 word.
pub const F32_PER_VEC4: usize = 4;
/// Rows (and columns) of C per workgroup tile.
pub const TILE: usize = 128;
/// vec4 words of a row per K-step.
pub const STEP_VEC4: usize = 2;
/// Threads per workgroup (16 × 16).
pub const THREADS: u32 = 256;
/// Workgroup memory each kernel declares: two buffers of the A and W tiles,
/// 128 rows × 8 words × 4 bytes each.
pub const WORKGROUP_BYTES: u64 = 2 * 2 * (TILE * STEP_VEC4 * 4 * 4) as u64;
/// The largest K whose i32 sums cannot overflow for any int8 operands:
/// |Σₖ aₖwₖ| ≤ K·128² (−128·−128 is the largest product) must stay below
/// 2³¹ − 1, so K ≤ ⌊(2³¹ − 1)/16384⌋. (With symmetric quantization's
/// [−127, 127] the bound would be ⌊(2³¹ − 1)/127²⌋ = 133 143; the kernel
/// accepts −128 too.)
pub const K_MAX: usize = (i32::MAX as usize) / (128 * 128);

const MAIN: &str = wgsl!("int8_matmul.wgsl");
const PACKED_TEXT: &str = concat!(wgsl!("int8_matmul.wgsl"), wgsl!("int8_dot_packed.wgsl"));
const UNPACKED_TEXT: &str = concat!(wgsl!("int8_matmul.wgsl"), wgsl!("int8_dot_unpacked.wgsl"));

/// The module with `mac_i8` through `dot4I8Packed` (compiled only where the
/// WGSL implementation has the extension).
const PACKED_MODULE: Module = Module {
    name: "int8_matmul_packed",
    source: || wgpu::ShaderModuleDescriptor {
        label: Some("int8_matmul_packed"),
        source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(PACKED_TEXT)),
    },
    text: PACKED_TEXT,
};

/// The portable module: `mac_i8` by unpacking, and the f32 kernel.
const PORTABLE_MODULE: Module = Module {
    name: "int8_matmul_portable",
    source: || wgpu::ShaderModuleDescriptor {
        label: Some("int8_matmul_portable"),
        source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(UNPACKED_TEXT)),
    },
    text: UNPACKED_TEXT,
};

const P: Binding = Binding::uniform("p", 0);
const A_I8: Binding = Binding::read("a_i8", 1).elements_of(16);
const W_I8: Binding = Binding::read("w_i8", 2).elements_of(16);
const C_I32: Binding = Binding::write("c_i32", 3);
const A_F32: Binding = Binding::read("a_f32", 4).elements_of(16);
const W_F32: Binding = Binding::read("w_f32", 5).elements_of(16);
const C_F32: Binding = Binding::write("c_f32", 6);

/// C = A·Wᵀ in i32 through `dot4I8Packed`.
pub const MATMUL_I8_PACKED: Kernel = Kernel {
    module: PACKED_MODULE,
    entry: "matmul_i8",
    bindings: &[P, A_I8, W_I8, C_I32],
};
/// C = A·Wᵀ in i32 by unpacking each word into four i32.
pub const MATMUL_I8_UNPACKED: Kernel = Kernel {
    module: PORTABLE_MODULE,
    entry: "matmul_i8",
    bindings: &[P, A_I8, W_I8, C_I32],
};
/// C = A·Wᵀ in f32 with the same tiling.
pub const MATMUL_F32: Kernel = Kernel {
    module: PORTABLE_MODULE,
    entry: "matmul_f32",
    bindings: &[P, A_F32, W_F32, C_F32],
};

/// The kernels of this file, for `tests/kernels.rs`.
pub const KERNELS: &[Kernel] = &[MATMUL_I8_PACKED, MATMUL_I8_UNPACKED, MATMUL_F32];

/// The shared part of the shader (without a `mac_i8`), for tests.
pub const SHADER_MAIN: &str = MAIN;
/// The packed module's full text, for tests.
pub const SHADER_PACKED: &str = PACKED_TEXT;
/// The portable module's full text, for tests.
pub const SHADER_PORTABLE: &str = UNPACKED_TEXT;

/// Which kernel computes the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductKernel {
    /// int8 through `dot4I8Packed`.
    Int8Packed,
    /// int8 by unpacking (portable).
    Int8Unpacked,
    /// f32, the same tiling.
    F32,
}

impl ProductKernel {
    /// The key in reports: `int8-packed`, `int8-unpacked`, `f32`.
    pub fn key(self) -> &'static str {
        match self {
            ProductKernel::Int8Packed => "int8-packed",
            ProductKernel::Int8Unpacked => "int8-unpacked",
            ProductKernel::F32 => "f32",
        }
    }

    /// Its typed binding.
    pub fn kernel(self) -> &'static Kernel {
        match self {
            ProductKernel::Int8Packed => &MATMUL_I8_PACKED,
            ProductKernel::Int8Unpacked => &MATMUL_I8_UNPACKED,
            ProductKernel::F32 => &MATMUL_F32,
        }
    }

    /// Values per stored vec4 word.
    pub fn per_vec4(self) -> usize {
        match self {
            ProductKernel::F32 => F32_PER_VEC4,
            _ => I8_PER_VEC4,
        }
    }

    /// Whether it multiplies int8.
    pub fn is_int8(self) -> bool {
        self != ProductKernel::F32
    }
}

/// What `dot4I8Packed` compiles to on this device, as far as can be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackedPath {
    /// Vulkan: naga emits `OpSDot` and the driver reports it accelerated.
    Hardware,
    /// Vulkan: naga emits `OpSDot`; the driver reports it is not accelerated
    /// (it lowers it to ordinary integer instructions, e.g. lavapipe).
    DriverLowered,
    /// Vulkan without `shaderIntegerDotProduct`: naga's polyfill.
    NagaPolyfill,
    /// Vulkan, but the driver could not be asked.
    VulkanUnknown,
    /// DX12: `dot4add_i8packed` on shader model 6.4+, else naga's polyfill.
    Hlsl,
    /// Metal: products of `packed_char4` (the Metal compiler chooses).
    Msl,
    /// WebGPU: the browser's WGSL compiler chooses.
    Browser,
    /// Another backend (GL): naga's output for it.
    Other,
    /// The WGSL implementation lacks the extension: the packed kernel cannot
    /// be compiled here.
    Unavailable,
}

impl PackedPath {
    /// A short label for tables and the page.
    pub fn label(self) -> &'static str {
        match self {
            PackedPath::Hardware => "packed (hardware dot4I8Packed)",
            PackedPath::DriverLowered => "packed (OpSDot, lowered by the driver)",
            PackedPath::NagaPolyfill => "packed (naga polyfill)",
            PackedPath::VulkanUnknown => "packed (Vulkan, OpSDot or naga polyfill)",
            PackedPath::Hlsl => "packed (HLSL dot4add_i8packed or polyfill)",
            PackedPath::Msl => "packed (MSL packed_char4)",
            PackedPath::Browser => "packed (dot4I8Packed, browser's compiler)",
            PackedPath::Other => "packed (naga)",
            PackedPath::Unavailable => "unavailable",
        }
    }
}

/// Whether the packed kernel can run here, and what it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedDot {
    /// The WGSL implementation accepts `dot4I8Packed`.
    pub available: bool,
    /// What it compiles to.
    pub path: PackedPath,
    /// Why, in a sentence (with the source of the fact).
    pub detail: String,
}

/// Whether this build's WGSL implementation has the language extension
/// `packed_4x8_integer_dot_product`: natively naga's list (wgpu's
/// `Instance::wgsl_language_features`; naga 30 has it); in the browser
/// `navigator.gpu.wgslLanguageFeatures`, read directly so that a browser
/// without that attribute (older ones) means "no" rather than an exception.
#[cfg(not(target_arch = "wasm32"))]
pub fn wgsl_has_packed_dot() -> bool {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    // Only the language features are read: no backend is needed.
    desc.backends = wgpu::Backends::empty();
    wgpu::Instance::new(desc)
        .wgsl_language_features()
        .contains(wgpu::WgslLanguageFeatures::Packed4x8IntegerDotProduct)
}

/// See the native version.
#[cfg(target_arch = "wasm32")]
pub fn wgsl_has_packed_dot() -> bool {
    use wasm_bindgen::{JsCast, JsValue};
    let get = |object: &JsValue, key: &str| {
        js_sys::Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    };
    let Some(window) = web_sys::window() else {
        return false;
    };
    let features = get(&get(&window.navigator(), "gpu"), "wgslLanguageFeatures");
    if features.is_undefined() || features.is_null() {
        return false;
    }
    get(&features, "has")
        .dyn_into::<js_sys::Function>()
        .ok()
        .and_then(|has| {
            has.call1(
                &features,
                &JsValue::from_str("packed_4x8_integer_dot_product"),
            )
            .ok()
        })
        .and_then(|answer| answer.as_bool())
        .unwrap_or(false)
}

/// What `dot4I8Packed` becomes on `ctx`'s device.
pub fn packed_dot(ctx: &GpuContext) -> PackedDot {
    packed_dot_with(ctx, wgsl_has_packed_dot())
}

/// [`packed_dot`] with the language feature given (tests pretend it is
/// missing to exercise the fallback's selection).
pub fn packed_dot_with(ctx: &GpuContext, wgsl_feature: bool) -> PackedDot {
    if !wgsl_feature {
        return PackedDot {
            available: false,
            path: PackedPath::Unavailable,
            detail: if ctx.api == "WebGPU" {
                "this browser's navigator.gpu.wgslLanguageFeatures lacks \
                 packed_4x8_integer_dot_product, so the packed kernel is not compiled"
                    .into()
            } else {
                "the WGSL implementation lacks packed_4x8_integer_dot_product".into()
            },
        };
    }
    let (path, detail) = match ctx.api.as_str() {
        "WebGPU" => (
            PackedPath::Browser,
            "navigator.gpu.wgslLanguageFeatures has packed_4x8_integer_dot_product; the \
             browser's WGSL compiler chooses the instructions (a packed dot-product \
             instruction where the device has one, else a polyfill)"
                .to_string(),
        ),
        "Vulkan" => vulkan_path(ctx),
        "Dx12" => (
            PackedPath::Hlsl,
            "naga emits dot4add_i8packed on shader model 6.4 and later, else a polyfill".into(),
        ),
        "Metal" => (
            PackedPath::Msl,
            "naga emits products of packed_char4 (MSL 2.1+); the Metal compiler chooses \
             the instructions"
                .into(),
        ),
        other => (PackedPath::Other, format!("naga's output for {other}")),
    };
    PackedDot {
        available: true,
        path,
        detail,
    }
}

/// The Vulkan device's integer dot product: the feature wgpu-hal gives naga
/// the `DotProduct*` capabilities for, and whether the driver accelerates
/// the signed packed 4×8-bit form.
#[cfg(not(target_arch = "wasm32"))]
fn vulkan_path(ctx: &GpuContext) -> (PackedPath, String) {
    match vulkan_integer_dot(ctx) {
        None => (
            PackedPath::VulkanUnknown,
            "the Vulkan driver could not be asked for shaderIntegerDotProduct".into(),
        ),
        Some((false, _)) => (
            PackedPath::NagaPolyfill,
            "the device lacks shaderIntegerDotProduct (Vulkan 1.3 / \
             VK_KHR_shader_integer_dot_product), so naga lowers dot4I8Packed to four \
             OpBitFieldSExtract and multiply-adds per operand"
                .into(),
        ),
        Some((true, true)) => (
            PackedPath::Hardware,
            "the device has shaderIntegerDotProduct, so naga emits SPIR-V OpSDot \
             (PackedVectorFormat4x8Bit), and the driver reports \
             integerDotProduct4x8BitPackedSignedAccelerated"
                .into(),
        ),
        Some((true, false)) => (
            PackedPath::DriverLowered,
            "the device has shaderIntegerDotProduct, so naga emits SPIR-V OpSDot, but the \
             driver reports integerDotProduct4x8BitPackedSignedAccelerated = false: it \
             lowers OpSDot to ordinary integer instructions"
                .into(),
        ),
    }
}

#[cfg(target_arch = "wasm32")]
fn vulkan_path(_ctx: &GpuContext) -> (PackedPath, String) {
    (PackedPath::VulkanUnknown, "not a native device".into())
}

/// `(shaderIntegerDotProduct, integerDotProduct4x8BitPackedSignedAccelerated)`
/// of the Vulkan device, asked as wgpu-hal 30 asks (`vulkan/adapter.rs`:
/// the feature struct is chained when the device is Vulkan 1.3 or has the
/// extension); `None` when the device is not Vulkan or cannot be asked.
#[cfg(not(target_arch = "wasm32"))]
pub fn vulkan_integer_dot(ctx: &GpuContext) -> Option<(bool, bool)> {
    use ash::vk;
    // SAFETY: the raw handles are only read, while `ctx.device` (and with it
    // the Vulkan instance and physical device) lives.
    let hal = unsafe { ctx.device.as_hal::<wgpu::hal::api::Vulkan>() }?;
    let shared = hal.shared_instance();
    if shared.instance_api_version() < vk::API_VERSION_1_1 {
        return None;
    }
    let instance = shared.raw_instance();
    let phd = hal.raw_physical_device();
    // SAFETY: valid instance and physical device; plain queries.
    let properties = unsafe { instance.get_physical_device_properties(phd) };
    let extension = unsafe { instance.enumerate_device_extension_properties(phd) }
        .ok()?
        .iter()
        .any(|e| e.extension_name_as_c_str() == Ok(ash::khr::shader_integer_dot_product::NAME));
    if properties.api_version < vk::API_VERSION_1_3 && !extension {
        return Some((false, false));
    }
    let mut features = vk::PhysicalDeviceShaderIntegerDotProductFeatures::default();
    let mut features2 = vk::PhysicalDeviceFeatures2::default().push_next(&mut features);
    // SAFETY: the chained struct is valid for a 1.3 device or one with the
    // extension; the instance is Vulkan 1.1+.
    unsafe { instance.get_physical_device_features2(phd, &mut features2) };
    let supported = features.shader_integer_dot_product == vk::TRUE;
    let mut dot = vk::PhysicalDeviceShaderIntegerDotProductProperties::default();
    let mut properties2 = vk::PhysicalDeviceProperties2::default().push_next(&mut dot);
    // SAFETY: as above.
    unsafe { instance.get_physical_device_properties2(phd, &mut properties2) };
    let accelerated = dot.integer_dot_product4x8_bit_packed_signed_accelerated == vk::TRUE;
    Some((supported, supported && accelerated))
}

/// The kernel's parameters (the `Params` of the shader).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, Default, PartialEq, Eq)]
pub struct Params {
    /// Rows of A and C.
    pub m: u32,
    /// Rows of W, columns of C.
    pub n: u32,
    /// vec4 words per stored row.
    pub k_vec4: u32,
    /// K-steps.
    pub steps: u32,
}

/// The shape of C = A·Wᵀ: A is m × k, W is n × k.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Rows of A and C.
    pub m: usize,
    /// The inner dimension.
    pub k: usize,
    /// Rows of W, columns of C.
    pub n: usize,
}

impl Shape {
    /// vec4 words per stored row for `kernel`: ⌈k / values per vec4⌉.
    pub fn k_vec4(&self, kernel: ProductKernel) -> usize {
        self.k.div_ceil(kernel.per_vec4())
    }

    /// K-steps of `kernel`: ⌈k_vec4 / 2⌉.
    pub fn steps(&self, kernel: ProductKernel) -> usize {
        self.k_vec4(kernel).div_ceil(STEP_VEC4)
    }

    /// Values of K the kernel really multiplies (padded to whole steps).
    pub fn k_executed(&self, kernel: ProductKernel) -> usize {
        self.steps(kernel) * STEP_VEC4 * kernel.per_vec4()
    }

    /// Workgroups along (columns of C, rows of C).
    pub fn groups(&self) -> (usize, usize) {
        (self.n.div_ceil(TILE), self.m.div_ceil(TILE))
    }

    /// The kernel's parameters.
    pub fn params(&self, kernel: ProductKernel) -> Params {
        Params {
            m: self.m as u32,
            n: self.n as u32,
            k_vec4: self.k_vec4(kernel) as u32,
            steps: self.steps(kernel) as u32,
        }
    }

    /// Bytes of the stored A, W and C of `kernel`.
    pub fn buffer_bytes(&self, kernel: ProductKernel) -> [(&'static str, u64); 3] {
        let row = (self.k_vec4(kernel) * 16) as u64;
        [
            ("A", self.m as u64 * row),
            ("W", self.n as u64 * row),
            ("C", 4 * self.m as u64 * self.n as u64),
        ]
    }
}

/// Every limit `kernel` at `shape` must fit, checked before allocating:
/// non-empty shape, u32 indices, K against i32 overflow (int8), storage
/// bindings, workgroups per dimension, workgroup size and memory.
pub fn check(ctx: &GpuContext, kernel: ProductKernel, shape: Shape) -> Result<(), GpuError> {
    let what = |detail: &str| {
        format!(
            "{} at {}×{}×{}: {detail}",
            kernel.key(),
            shape.m,
            shape.k,
            shape.n
        )
    };
    if shape.m == 0 || shape.k == 0 || shape.n == 0 {
        return Err(GpuError::TooLarge {
            what: what("an empty matrix"),
            needs: 0,
            unit: "rows or columns",
            limit_name: "at least one",
            limit: 1,
        });
    }
    if kernel.is_int8() && shape.k > K_MAX {
        return Err(GpuError::TooLarge {
            what: what("the i32 sums of K products of int8 could overflow"),
            needs: shape.k as u64,
            unit: "inner dimension K",
            limit_name: "K_MAX = ⌊(2³¹−1)/128²⌋",
            limit: K_MAX as u64,
        });
    }
    for (name, bytes) in shape.buffer_bytes(kernel) {
        check_storage(ctx, &what(name), bytes)?;
        // Indices are u32 (elements of 4 bytes).
        if bytes / 4 > u32::MAX as u64 {
            return Err(GpuError::TooLarge {
                what: what(name),
                needs: bytes / 4,
                unit: "elements",
                limit_name: "u32 indices",
                limit: u32::MAX as u64,
            });
        }
    }
    let (gx, gy) = shape.groups();
    for groups in [gx, gy] {
        buffers::check_dispatch(
            ctx,
            &what("workgroups"),
            groups.min(u32::MAX as usize) as u32,
        )?;
    }
    let l = &ctx.limits;
    let checks = [
        (
            "workgroup memory",
            WORKGROUP_BYTES,
            "bytes",
            "max_compute_workgroup_storage_size",
            l.max_compute_workgroup_storage_size as u64,
        ),
        (
            "threads per workgroup",
            THREADS as u64,
            "invocations",
            "max_compute_invocations_per_workgroup",
            l.max_compute_invocations_per_workgroup as u64,
        ),
        (
            "workgroup width",
            16,
            "invocations",
            "max_compute_workgroup_size_x",
            l.max_compute_workgroup_size_x as u64,
        ),
        (
            "workgroup height",
            16,
            "invocations",
            "max_compute_workgroup_size_y",
            l.max_compute_workgroup_size_y as u64,
        ),
    ];
    for (name, needs, unit, limit_name, limit) in checks {
        if needs > limit {
            return Err(GpuError::TooLarge {
                what: what(name),
                needs,
                unit,
                limit_name,
                limit,
            });
        }
    }
    Ok(())
}

/// What a product run returns.
#[derive(Debug, Clone)]
pub struct ProductRun<T> {
    /// C, M × N row-major.
    pub c: Vec<T>,
    /// The timed repeats.
    pub timed: Timed,
    /// Bytes of device memory its buffers occupy.
    pub memory_bytes: u64,
}

/// The stored operands of a product: A and W as vec4 words, rows padded
/// with zeros to `Shape::k_vec4` words (see the layout in the shader).
#[derive(Debug, Clone, Copy)]
pub enum Operands<'a> {
    /// int8 packed 4 per u32: A is m × 4·k_vec4 words, W n × 4·k_vec4.
    Int8 {
        /// A's words.
        a: &'a [u32],
        /// W's words.
        w: &'a [u32],
    },
    /// f32: A is m × 4·k_vec4 values, W n × 4·k_vec4.
    F32 {
        /// A's values.
        a: &'a [f32],
        /// W's values.
        w: &'a [f32],
    },
}

/// Runs `kernel` on `operands` at `shape`: checks, allocates, records one
/// timed pass, runs it (a warm-up and `repeats` timed runs), reads C back as
/// raw 32-bit words (i32 or f32 bits, by kernel).
async fn run_words(
    ctx: &GpuContext,
    kernel: ProductKernel,
    entry: &Kernel,
    shape: Shape,
    operands: Operands<'_>,
    repeats: u32,
) -> Result<ProductRun<u32>, GpuError> {
    check(ctx, kernel, shape)?;
    let row = shape.k_vec4(kernel) * 4;
    let (a_len, w_len) = match operands {
        Operands::Int8 { a, w } => (a.len(), w.len()),
        Operands::F32 { a, w } => (a.len(), w.len()),
    };
    let int8_data = matches!(operands, Operands::Int8 { .. });
    if int8_data != kernel.is_int8() || a_len != shape.m * row || w_len != shape.n * row {
        return Err(GpuError::Device {
            stage: format!("{} at {}×{}×{}", kernel.key(), shape.m, shape.k, shape.n),
            message: format!(
                "operands of {a_len} and {w_len} {} words, expected {} and {}",
                if int8_data { "int8" } else { "f32" },
                shape.m * row,
                shape.n * row
            ),
        });
    }
    let label = format!("{} {}×{}×{}", entry.id(), shape.m, shape.k, shape.n);
    let params = shape.params(kernel);
    let (a_name, w_name, c_name) = match kernel {
        ProductKernel::F32 => ("a_f32", "w_f32", "c_f32"),
        _ => ("a_i8", "w_i8", "c_i32"),
    };
    let (a, w, c) = buffers::scoped(ctx, &format!("allocating {label}"), || {
        let (a, w) = match operands {
            Operands::Int8 { a, w } => (
                buffers::upload_u32(ctx, "int8.a", a)?,
                buffers::upload_u32(ctx, "int8.w", w)?,
            ),
            Operands::F32 { a, w } => (
                buffers::upload(ctx, "f32.a", a)?,
                buffers::upload(ctx, "f32.w", w)?,
            ),
        };
        let c = buffers::storage(ctx, "product.c", shape.m * shape.n)?;
        Ok((a, w, c))
    })
    .await?;
    let uniform = buffers::uniform(ctx, "product.params", &params);
    let (gx, gy) = shape.groups();
    let pass = Pass::build(
        ctx,
        entry,
        &[],
        &[("p", &uniform), (a_name, &a), (w_name, &w), (c_name, &c)],
        (gx as u32, gy as u32),
    )
    .await?
    .named(&label);
    let mut program = Program::new(label);
    program.memory_bytes = shape.buffer_bytes(kernel).iter().map(|(_, b)| b).sum();
    program.time(pass);
    let timed = program.run(ctx, repeats).await?;
    let c = buffers::read_u32(ctx, &c, shape.m * shape.n).await?;
    Ok(ProductRun {
        c,
        timed,
        memory_bytes: program.memory_bytes,
    })
}

/// C = A·Wᵀ in i32 by `kernel` (an int8 kernel), A and W packed as
/// `Operands::Int8` describes.
pub async fn matmul_i8(
    ctx: &GpuContext,
    kernel: ProductKernel,
    shape: Shape,
    a: &[u32],
    w: &[u32],
    repeats: u32,
) -> Result<ProductRun<i32>, GpuError> {
    int8_result(
        run_words(
            ctx,
            kernel,
            kernel.kernel(),
            shape,
            Operands::Int8 { a, w },
            repeats,
        )
        .await?,
    )
}

fn int8_result(run: ProductRun<u32>) -> Result<ProductRun<i32>, GpuError> {
    Ok(ProductRun {
        c: bytemuck::cast_slice(&run.c).to_vec(),
        timed: run.timed,
        memory_bytes: run.memory_bytes,
    })
}

/// [`matmul_i8`] by any int8 entry point with the bindings and layout of
/// `matmul_i8` (the tests run deliberately broken copies of the shader
/// through it, to show that their checks catch the bug).
pub async fn matmul_i8_by(
    ctx: &GpuContext,
    entry: &Kernel,
    shape: Shape,
    a: &[u32],
    w: &[u32],
    repeats: u32,
) -> Result<ProductRun<i32>, GpuError> {
    int8_result(
        run_words(
            ctx,
            ProductKernel::Int8Unpacked,
            entry,
            shape,
            Operands::Int8 { a, w },
            repeats,
        )
        .await?,
    )
}

/// C = A·Wᵀ in f32 by the f32 kernel, A and W stored as `Operands::F32`
/// describes.
pub async fn matmul_f32(
    ctx: &GpuContext,
    shape: Shape,
    a: &[f32],
    w: &[f32],
    repeats: u32,
) -> Result<ProductRun<f32>, GpuError> {
    let run = run_words(
        ctx,
        ProductKernel::F32,
        &MATMUL_F32,
        shape,
        Operands::F32 { a, w },
        repeats,
    )
    .await?;
    Ok(ProductRun {
        c: bytemuck::cast_slice(&run.c).to_vec(),
        timed: run.timed,
        memory_bytes: run.memory_bytes,
    })
}

/// Executed work of `kernel` at `shape`, counted from the shader as
/// written: (multiply-adds × 2, global bytes loaded and stored).
///
/// * ops: every thread of every workgroup runs every K-step, padded tiles
///   included: 2·P(M)·P(N)·Kₑ with P(x) = 128⌈x/128⌉ and Kₑ the K of whole
///   steps (int8: 32⌈⌈K/16⌉/2⌉; f32: 8⌈⌈K/4⌉/2⌉);
/// * bytes: each of the ⌈N/128⌉ column tiles reads A's in-range rows whole
///   (16·k_vec4 bytes each), each of the ⌈M/128⌉ row tiles W's; C is
///   written once (4MN). No cache model.
pub fn executed(kernel: ProductKernel, shape: Shape) -> (u64, u64) {
    let pad = |x: usize| (x.div_ceil(TILE) * TILE) as u64;
    let ops = 2 * pad(shape.m) * pad(shape.n) * shape.k_executed(kernel) as u64;
    let (gx, gy) = shape.groups();
    let row = 16 * shape.k_vec4(kernel) as u64;
    let bytes = gx as u64 * shape.m as u64 * row
        + gy as u64 * shape.n as u64 * row
        + 4 * shape.m as u64 * shape.n as u64;
    (ops, bytes)
}

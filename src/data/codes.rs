//! Codes shared with the WGSL kernels and the views, one `#[repr(u32)]` enum
//! each; every `.wgsl` that uses a code names it with a constant whose value
//! a test checks against these enums.

/// Why a pair is computed. The numbers are shared with the WGSL mask
/// (`tiled_attention.wgsl`) and the pattern view's palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum Category {
    /// Dense attention: every pair.
    Dense = 1,
    /// A sliding window / local band.
    Window = 2,
    /// A global token or block (row or column).
    Global = 3,
    /// A strided offset (i − j a multiple of L).
    Stride = 4,
    /// A summary column of the fixed pattern.
    Summary = 5,
    /// The same block of the fixed pattern.
    Block = 6,
    /// A random block (BigBird).
    Random = 7,
    /// Same or previous chunk after LSH sorting (Reformer); the view adds the
    /// query's bucket to tell buckets apart.
    Bucket = 8,
}

impl Category {
    /// Name shown in the legend.
    pub fn label(self) -> &'static str {
        match self {
            Category::Dense => "all pairs",
            Category::Window => "window",
            Category::Global => "global",
            Category::Stride => "stride",
            Category::Summary => "summary",
            Category::Block => "own block",
            Category::Random => "random",
            Category::Bucket => "same/previous chunk",
        }
    }

    /// The category with this code.
    pub fn from_code(code: u32) -> Option<Category> {
        Some(match code {
            1 => Category::Dense,
            2 => Category::Window,
            3 => Category::Global,
            4 => Category::Stride,
            5 => Category::Summary,
            6 => Category::Block,
            7 => Category::Random,
            8 => Category::Bucket,
            _ => return None,
        })
    }
}

/// Which mask the tiled attention kernel applies inside a tile
/// (`PATTERN_*` in `tiled_attention.wgsl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum PatternKind {
    /// Every pair.
    Dense = 0,
    /// Longformer's window and global tokens.
    Longformer = 1,
    /// Sparse Transformer, strided.
    Strided = 2,
    /// Sparse Transformer, fixed.
    Fixed = 3,
    /// BigBird's global, window and random blocks.
    BigBird = 4,
    /// Reformer's same or previous chunk after LSH sorting.
    Lsh = 5,
}

impl PatternKind {
    /// Every kind with the name of its WGSL constant.
    pub const WGSL: &'static [(PatternKind, &'static str)] = &[
        (PatternKind::Dense, "PATTERN_DENSE"),
        (PatternKind::Longformer, "PATTERN_LONGFORMER"),
        (PatternKind::Strided, "PATTERN_STRIDED"),
        (PatternKind::Fixed, "PATTERN_FIXED"),
        (PatternKind::BigBird, "PATTERN_BIGBIRD"),
        (PatternKind::Lsh, "PATTERN_LSH"),
    ];
}

impl Category {
    /// Every category with the name of its WGSL constant.
    pub const WGSL: &'static [(Category, &'static str)] = &[
        (Category::Dense, "CATEGORY_DENSE"),
        (Category::Window, "CATEGORY_WINDOW"),
        (Category::Global, "CATEGORY_GLOBAL"),
        (Category::Stride, "CATEGORY_STRIDE"),
        (Category::Summary, "CATEGORY_SUMMARY"),
        (Category::Block, "CATEGORY_BLOCK"),
        (Category::Random, "CATEGORY_RANDOM"),
        (Category::Bucket, "CATEGORY_BUCKET"),
    ];
}

/// The feature map of a kernel method (`FEATURE_*` in
/// `linear_attention.wgsl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum FeatureKind {
    /// elu(x) + 1 (Linear Transformer).
    Elu = 0,
    /// Positive orthogonal random features (Performer FAVOR+).
    Favor = 1,
    /// ReLU features with the cos/sin re-weighting (cosFormer).
    Cos = 2,
}

impl FeatureKind {
    /// Every kind with the name of its WGSL constant.
    pub const WGSL: &'static [(FeatureKind, &'static str)] = &[
        (FeatureKind::Elu, "FEATURE_ELU"),
        (FeatureKind::Favor, "FEATURE_FAVOR"),
        (FeatureKind::Cos, "FEATURE_COS"),
    ];

    /// The number of features for head width d (FAVOR+: `m`, its knob).
    pub fn features(self, d: usize, m: usize) -> usize {
        match self {
            FeatureKind::Elu => d,
            FeatureKind::Favor => m,
            FeatureKind::Cos => 2 * d,
        }
    }
}

/// What a quantization kernel does to an element (`QUANT_*` in
/// `quantize.wgsl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum QuantKind {
    /// A b-bit integer grid (b ≥ 2).
    Int = 0,
    /// sign(x) · mean|x|.
    Binary = 1,
    /// A scaled floating-point format (fp8): s · fp8(x / s).
    ScaledFloat = 2,
    /// A plain cast (fp16, bf16).
    Cast = 3,
}

impl QuantKind {
    /// Every kind with the name of its WGSL constant.
    pub const WGSL: &'static [(QuantKind, &'static str)] = &[
        (QuantKind::Int, "QUANT_INT"),
        (QuantKind::Binary, "QUANT_BINARY"),
        (QuantKind::ScaledFloat, "QUANT_SCALED_FLOAT"),
        (QuantKind::Cast, "QUANT_CAST"),
    ];
}

/// Which kernel family a run timed (the `kernel` key of the JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KernelKind {
    /// The fused online-softmax kernel of exact attention.
    Fused,
    /// The register-tiled block-sparse kernel.
    Tiled,
    /// Dense linear-algebra programs (projections, softmax, pseudo-inverse).
    LowRank,
    /// Linear attention's features, sums and scan.
    Linear,
    /// Quantization: group statistics, the clipping search, quantize and
    /// dequantize.
    Quantize,
    /// A small MLP's training kernels (forward, backward, SGD, fake
    /// quantization).
    Mlp,
    /// The ndarray CPU twin.
    CpuTwin,
}

impl KernelKind {
    /// The JSON value (`"fused"`, `"low-rank"`, `"cpu-twin"`, ...).
    pub fn key(self) -> &'static str {
        match self {
            KernelKind::Fused => "fused",
            KernelKind::Tiled => "tiled",
            KernelKind::LowRank => "low-rank",
            KernelKind::Linear => "linear",
            KernelKind::Quantize => "quantize",
            KernelKind::Mlp => "mlp",
            KernelKind::CpuTwin => "cpu-twin",
        }
    }

    /// A description for the page.
    pub fn describe(self) -> &'static str {
        match self {
            KernelKind::Fused => "fused online-softmax kernel (O(n) memory)",
            KernelKind::Tiled => "register-tiled block-sparse kernel",
            KernelKind::LowRank => "GPU linear-algebra programs",
            KernelKind::Linear => "linear-attention kernels (features, sums, scan)",
            KernelKind::Quantize => {
                "quantization kernels (group statistics, clipping search, quantize-dequantize)"
            }
            KernelKind::Mlp => "MLP training kernels (forward, backward, SGD, fake quantization)",
            KernelKind::CpuTwin => "CPU twin (ndarray, f32): the twin built and every row computed",
        }
    }
}

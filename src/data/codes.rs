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
    /// The query's own segment, causally (Transformer-XL, Compressive
    /// Transformer). Codes 9–15 are Reformer's buckets (8 + bucket mod 8).
    Segment = 16,
    /// The FIFO memory of positions before the segment (Transformer-XL,
    /// Compressive Transformer).
    Memory = 17,
    /// A position summarised by (or, most-attended, kept in) a compressed
    /// memory slot the query sees (Compressive Transformer).
    Compressed = 18,
}

/// How many category codes the pattern poolers count (0 … 23): the codes
/// above, Reformer's 8 + bucket mod 8, and room to spare
/// (`CODE_SLOTS` in `tiled_attention.wgsl`).
pub const CODE_SLOTS: usize = 24;

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
            Category::Segment => "own segment",
            Category::Memory => "memory",
            Category::Compressed => "compressed memory",
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
            16 => Category::Segment,
            17 => Category::Memory,
            18 => Category::Compressed,
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
    /// Segment-level recurrence: own segment (causal), FIFO memory, and
    /// compressed-memory slots stored after the positions (Transformer-XL,
    /// Compressive Transformer).
    Memory = 6,
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
        (PatternKind::Memory, "PATTERN_MEMORY"),
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
        (Category::Segment, "CATEGORY_SEGMENT"),
        (Category::Memory, "CATEGORY_MEMORY"),
        (Category::Compressed, "CATEGORY_COMPRESSED"),
    ];
}

/// The Compressive Transformer's compression function f_c (Rae et al. 2020,
/// §3.1; `COMPRESS_*` in `memory_attention.wgsl`), and the order of the
/// `compress` knob's choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum CompressKind {
    /// Mean pooling, kernel and stride c.
    Mean = 0,
    /// Max pooling (per channel), kernel and stride c.
    Max = 1,
    /// A 1-D convolution, kernel and stride c (seeded weights).
    Conv = 2,
    /// Most-attended: the evicted positions with the highest usage are kept.
    MostAttended = 3,
}

impl CompressKind {
    /// Every kind, in the order of the knob's choices.
    pub const ALL: [CompressKind; 4] = [
        CompressKind::Mean,
        CompressKind::Max,
        CompressKind::Conv,
        CompressKind::MostAttended,
    ];

    /// Every kind with the name of its WGSL constant.
    pub const WGSL: &'static [(CompressKind, &'static str)] = &[
        (CompressKind::Mean, "COMPRESS_MEAN"),
        (CompressKind::Max, "COMPRESS_MAX"),
        (CompressKind::Conv, "COMPRESS_CONV"),
        (CompressKind::MostAttended, "COMPRESS_MOST_ATTENDED"),
    ];

    /// The knob's value (`--compress mean`).
    pub fn key(self) -> &'static str {
        match self {
            CompressKind::Mean => "mean",
            CompressKind::Max => "max",
            CompressKind::Conv => "conv",
            CompressKind::MostAttended => "most-attended",
        }
    }

    /// The kind at a choice index (the first for an index out of range).
    pub fn from_index(index: u64) -> CompressKind {
        Self::ALL
            .get(index as usize)
            .copied()
            .unwrap_or(CompressKind::Mean)
    }
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

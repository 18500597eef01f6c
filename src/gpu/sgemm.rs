//! Host side of `sgemm.wgsl`: the tiled single-precision matrix product
//! C[b] = α·op(A[b])·op(B[b]) (op = identity or transpose) over a batch of
//! independent items (the dispatch's z), for any M, N, K — the building
//! block of the low-rank methods' dense products (Linformer's EK, FV,
//! Q(EK)ᵀ, P·FV; Nyströmformer's kernels and products, and its
//! pseudo-inverse iteration where that does not run in one pass
//! (`pinv.wgsl`); the dense Synthesizer's hidden layer, all through
//! [`super::linalg::Builder`]) and the `flt bench --kernel sgemm` row.
//!
//! The tiling is the classic register-blocked shared-memory SGEMM (as in
//! DESIGN.md, "How fast WGSL can go there"): workgroup tiles of C staged
//! K-step by K-step through workgroup memory, the next step prefetched into
//! registers while the current one computes, each thread accumulating an
//! 8 × 8 (or 4 × 4) block in registers from outer products of a column of
//! op(A) and a row of op(B) held in registers, vec4 global loads where the
//! layout allows. `sgemm.wgsl` is a template: [`generate`] writes the sizes
//! of a [`Variant`] and a [`Config`] into its `const` block, one module per
//! pair, so its workgroup arrays are 2-D with fixed sizes. Three variants
//! are chosen before anything is allocated ([`Variant::choose`]): among
//! those the adapter's limits allow, 128 × 128 tiles (256 threads, 16 KiB
//! of workgroup memory) when the output has enough of them to fill a large
//! GPU — 64 × 64 tiles (64 threads, 8 KiB) instead when a side of the
//! output is at most 64, so that half of each tile is not padding — else 32
//! × 32 tiles (64 threads, 4 KiB); 64 × 64 tiles also serve an adapter that
//! refuses 256-thread workgroups.
//!
//! Measured on an NVIDIA H200 beside cuBLAS (torch.mm, fp32, TF32 off), in
//! one device call each (2026-11-29, `flt bench --kernel sgemm --warmup-ms
//! 1000`, the configurations chosen by `FLT_SGEMM_CONFIG`; rows in
//! bench/results/h200-sgemm.jsonl). The default ([`Config::DEFAULT`],
//! `b16s1w`: K-steps of 16, one buffer, two barriers per step, warps as 4 ×
//! 8 threads) now runs **41.0 TFLOP/s at 4096³ against cuBLAS's 49.8
//! (0.82×)** and 41.6 vs 51.1 at 8192³ (0.81×) (device_call 7; call 6
//! measured the same 41.0 / 41.6). It ran 33.0 (0.66×) in device_call 5;
//! between the two, the inner step was rewritten to read all four of a k's
//! pieces of op(A) and op(B) from workgroup memory ahead of its 64
//! multiply-adds (`rank1`; the second pair used to be read after the first
//! four multiply-adds) and the loads came to be bounded by the
//! workgroup's own range of K (split-K) — which of the two changed the
//! driver's schedule was not isolated. Measured beside it: `fma()` written out, identical (41.0); K-steps of 8
//! double-buffered 40.3; reading the next k's pieces one step ahead
//! (`PIPELINED`, register double-buffering of the fragments) slower, 38.4
//! single- and 31.2 double-buffered at K-steps of 16, 38.5 at K-steps of 8.
//! Earlier (device_call 3, before `rank1`): K-steps of 8 double-buffered
//! 31.8, K-steps of 16 double-buffered 28.5, runtime bounds checks −8 %.
//! The tile-count rule was read off the earlier runs (1024³: 32 × 32 tiles
//! 20.0 TFLOP/s, 128 × 128 12.5; 2048³ 23.0 and 29.3). DESIGN.md reports
//! 47 TFLOP/s (0.92×) for a WGSL kernel of this shape on the same card.
//! Tried later that day and not kept (three device calls, each
//! configuration timed twice beside cuBLAS's 49.8 at 4096³; the default ran
//! 40.9–41.0 in each): op(A)'s transposing scalar stores hit each bank four
//! times (a warp's 8 rows × 4 pieces of K), so the tile rows' vec4 slots
//! were XOR-permuted by k — 37.4 TFLOP/s at 4096³ (faster only at 1024³,
//! 25.4 against 22.3); the rows padded by one vec4 with the loads paired
//! (16 rows × 2 vec4s a warp: conflict-free stores, the reads' addresses
//! unchanged) — 40.6; two buffers with two steps per loop iteration, so
//! that each step's buffer is a constant — 35.0 at K-steps of 16 and 39.0
//! at 8 (against 40.3 with the buffer chosen at run time). The stores'
//! bank conflicts are not what holds it at 0.82×. Two more calls
//! (experiment calls 10 and 11; the default ran 40.9–41.0 TFLOP/s at 4096³
//! and 41.6 at 8192³ in each, cuBLAS 2.75–2.84 ms at 4096³, 48.5–50.0):
//! K-steps of 32 34.3; the k loop unrolled by 4 in the source 38.2; tiles
//! visited in groups of 8 or 4 rows (for L2 reuse) 40.6; loads without
//! bounds guards 39.4; no register prefetch (each step's loads stored
//! straight into workgroup memory between barriers) 35.4 with one buffer
//! and 26.5 with two. What the driver made of them (`flt bench
//! --driver-stats`, experiment call 13): the default uses 127 registers
//! per thread, no local memory, 16.5 KiB of shared memory — two 256-thread
//! workgroups fit a multiprocessor — and the slower configurations 115–128
//! (K-steps of 8 double-buffered 119, fragments read a step ahead 115–128):
//! occupancy is the same for all of them, so what separates them is the
//! driver's schedule, not how many warps it fits.
//!
//! A fast path for aligned products, tried on 2026-11-30 and not kept (three
//! device calls, each configuration timed twice beside cuBLAS's 2.69–2.70
//! ms at 4096³; rows in bench/experiments/h200-2026-11-30-sgemm-aligned.jsonl):
//! a second module for A and B untransposed, M and N multiples of 128 and K
//! of 16, with no guards and load addresses advancing by a constant per
//! step — the kernel DESIGN.md describes, written from its description. It
//! ran 33.5 TFLOP/s at 4096³ with one buffer (114 registers) and with
//! K-steps of 8 double-buffered (110), 28.7 double-buffered at K-steps of 16
//! (DESIGN.md's configuration; 119), 35.0 with its loads and stores made
//! unconditional (the last step re-reading its tile), 36.0 with that and a
//! k's multiply-adds in another order, and 33.4 with the step in a function
//! as here — against 40.8–41.0 for this template in the same calls (8192³:
//! at best 36.5 against 41.5). In this template the order of a k's 16
//! multiply-adds does not matter: five orders ran 40.8–41.1, and the
//! driver's binary is 17 280 bytes for each (the fast path's 10–11 KiB). So
//! neither the guards nor the split-K bounds are what holds this kernel at
//! 0.81× (the diff is not in the repo).
//!
//! Split-K ([`Split`], [`pass_split`]): an output with few tiles and a long
//! K — Nyströmformer's L × dᵥ product B̃V over K = n — runs each range of K
//! as its own workgroups into a layer of partial products, which
//! `linalg.wgsl` `sum_splits` adds up; without it 64 workgroups walked
//! 16 384 values of K each at n = 16K, 16 heads.
//!
//! Every access of the shader is in bounds by construction (guarded global
//! loads and stores, workgroup indices below their sizes) once the host has
//! checked each buffer against the extent its shape and strides reach —
//! which [`pass`] does before recording — so the module is compiled without
//! runtime bounds checks natively (`ShaderRuntimeChecks::unchecked()`; they
//! cost 8 % on an H200).
//!
//! The CPU twin is ndarray's product ([`twin`], f32) and, for sampled
//! entries of large products, the f64 sum [`exact_entry`]; the two agree
//! with the kernel within the K·ε bound of [`tolerance`].

use bytemuck::{Pod, Zeroable};

use super::bindings::{Binding, Kernel, Module};
use super::buffers::{self, scoped};
use super::program::{Pass, Program, Timed};
use super::{GpuContext, GpuError};

/// The template as written (the large variant): the module the exported
/// [`Kernel`]s name, for their bindings; the passes compile one module per
/// variant and [`Config`] from it ([`generate`]).
const MODULE: Module = Module {
    name: "sgemm",
    source: || include_wgsl!("sgemm.wgsl"),
    text: TEMPLATE,
};
const TEMPLATE: &str = wgsl!("sgemm.wgsl");
const P: Binding = Binding::uniform("p", 0);
const A: Binding = Binding::read("a", 1);
const B: Binding = Binding::read("b", 2);
const C: Binding = Binding::write("c", 3);
const A4: Binding = Binding::read("a4", 4).elements_of(16);
const B4: Binding = Binding::read("b4", 5).elements_of(16);

/// The product with A and B read as vec4s (row lengths, strides and, where
/// a row runs along K, K itself multiples of 4).
pub const SGEMM_VEC4: Kernel = Kernel {
    module: MODULE,
    entry: "sgemm_vec4",
    bindings: &[P, C, A4, B4],
};
/// The product with A and B read as scalars: any layout.
pub const SGEMM_SCALAR: Kernel = Kernel {
    module: MODULE,
    entry: "sgemm_scalar",
    bindings: &[P, A, B, C],
};

/// Every kernel of this family.
pub const KERNELS: &[Kernel] = &[SGEMM_VEC4, SGEMM_SCALAR];

/// K per step of the default configuration (the shader's `BK`).
pub const K_STEP: u32 = Config::DEFAULT.k_step;

/// Output tiles of 128 × 128 (over the batch) from which [`Variant::choose`]
/// takes the large tiling: fewer leave a large GPU's multiprocessors idle
/// (an H200 has 132), where 32 × 32 tiles keep them busy.
pub const LARGE_TILES_MIN: u64 = 256;

/// The template's choices besides the tile: what [`generate`] writes into
/// its `const` block (with the tile), and how the module is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Config {
    /// K per step (`BK`: 8 or 16).
    pub k_step: u32,
    /// Workgroup buffers (`STAGES`): 2 (one barrier per step) or 1 (two).
    pub stages: u32,
    /// A warp's threads as 4 × 8 rather than 2 × 16 (`LANES_2D`; only
    /// tiles of 16 threads per side differ).
    pub lanes_2d: bool,
    /// Multiply-adds written as `fma()` (`FUSED`).
    pub fused: bool,
    /// The next k's pieces read from workgroup memory before this k's
    /// multiply-adds (`PIPELINED`).
    pub pipelined: bool,
    /// Compiled with runtime bounds checks (for measuring what they cost).
    pub checked: bool,
}

impl Config {
    /// The default, the fastest of the H200 run (see the module header):
    /// K-steps of 16, one buffer (16 KiB for the large tiles, so within
    /// WebGPU's default limits), warps as 4 × 8 threads, no runtime checks.
    pub const DEFAULT: Config = Config {
        k_step: 16,
        stages: 1,
        lanes_2d: true,
        fused: false,
        pipelined: false,
        checked: false,
    };

    /// The configuration passes use: [`Config::DEFAULT`], unless the
    /// (native, undocumented) environment variable `FLT_SGEMM_CONFIG`
    /// names a candidate of [`CANDIDATES`] — how one build times several.
    pub fn active() -> Config {
        #[cfg(not(target_arch = "wasm32"))]
        {
            static CHOSEN: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
            let chosen = CHOSEN.get_or_init(|| {
                let key = std::env::var("FLT_SGEMM_CONFIG").ok()?;
                CANDIDATES.iter().position(|(k, _)| *k == key)
            });
            if let Some(i) = *chosen {
                return CANDIDATES[i].1;
            }
        }
        Config::DEFAULT
    }

    /// Its name among [`CANDIDATES`] (`None` for others).
    pub fn key(self) -> Option<&'static str> {
        CANDIDATES.iter().find(|(_, c)| *c == self).map(|(k, _)| *k)
    }

    fn index(self) -> usize {
        CANDIDATES
            .iter()
            .position(|(_, c)| *c == self)
            .expect("a configuration of the table")
    }
}

macro_rules! candidates {
    ($( $i:literal $key:literal => ($bk:literal, $stages:literal, $lanes:literal, $fused:literal, $pipelined:literal, $checked:literal) ),* $(,)?) => {
        /// The configurations one build can compile, by name (the first is
        /// [`Config::DEFAULT`]).
        pub const CANDIDATES: &[(&str, Config)] = &[$(
            ($key, Config { k_step: $bk, stages: $stages, lanes_2d: $lanes, fused: $fused, pipelined: $pipelined, checked: $checked })
        ),*];
        /// Module names, per configuration and variant.
        const NAMES: &[[&str; 3]] = &[$(
            [concat!("sgemm.", $key, ".large"), concat!("sgemm.", $key, ".medium"), concat!("sgemm.", $key, ".small")]
        ),*];
        /// Module sources, per configuration and variant.
        const SOURCES: &[[fn() -> wgpu::ShaderModuleDescriptor<'static>; 3]] = &[$(
            [source::<$i, 0>, source::<$i, 1>, source::<$i, 2>]
        ),*];
    };
}

candidates! {
    0 "b16s1w" => (16, 1, true, false, false, false),
    1 "b16s1w-fma" => (16, 1, true, true, false, false),
    2 "b8s2w" => (8, 2, true, false, false, false),
    3 "b16s1w-pipe" => (16, 1, true, false, true, false),
    4 "b16s2w-pipe" => (16, 2, true, false, true, false),
    5 "b8s2w-pipe" => (8, 2, true, false, true, false),
}

/// The generated text of configuration `c` and variant `v` (built once).
fn text(c: usize, v: usize) -> &'static str {
    static TEXTS: [[std::sync::OnceLock<String>; 3]; CANDIDATES.len()] =
        [const { [const { std::sync::OnceLock::new() }; 3] }; CANDIDATES.len()];
    TEXTS[c][v].get_or_init(|| generate(Variant::ALL[v], CANDIDATES[c].1))
}

fn source<const C: usize, const V: usize>() -> wgpu::ShaderModuleDescriptor<'static> {
    wgpu::ShaderModuleDescriptor {
        label: Some(NAMES[C][V]),
        source: wgpu::ShaderSource::Wgsl(std::borrow::Cow::Borrowed(text(C, V))),
    }
}

/// The template with the `const` lines of its variant block set for
/// `variant` and `config`: `TILE`, `BLOCKS`, `BK`, `STAGES`, `LANES_2D`,
/// `FUSED`, `PIPELINED`.
///
/// # Panics
///
/// If the template lacks one of those lines (a test checks it has each).
pub fn generate(variant: Variant, config: Config) -> String {
    let values = [
        ("TILE", format!("{}u", variant.tile())),
        ("BLOCKS", format!("{}u", variant.per_thread() / 4)),
        ("BK", format!("{}u", config.k_step)),
        ("STAGES", format!("{}u", config.stages)),
        ("LANES_2D", config.lanes_2d.to_string()),
        ("FUSED", config.fused.to_string()),
        ("PIPELINED", config.pipelined.to_string()),
    ];
    let mut out = String::with_capacity(TEMPLATE.len());
    let mut found = [false; 7];
    for line in TEMPLATE.lines() {
        let mut written = false;
        for (i, (name, value)) in values.iter().enumerate() {
            let head = format!("const {name}: ");
            if let Some(rest) = line.strip_prefix(&head)
                && let (Some(colon_ty), Some(comment)) = (rest.find(" = "), rest.find(';'))
            {
                out.push_str(&format!(
                    "{head}{} = {value}{}\n",
                    &rest[..colon_ty],
                    &rest[comment..]
                ));
                found[i] = true;
                written = true;
                break;
            }
        }
        if !written {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(found.iter().all(|f| *f), "the template's variant block");
    out
}

/// A tiling of the kernel, set through the shader's override constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// 128 × 128 tiles, 8 × 8 outputs per thread (256 threads), 16 KiB of
    /// workgroup memory: large outputs.
    Large,
    /// 64 × 64 tiles, 8 × 8 per thread (64 threads), 8 KiB: large outputs
    /// with a side of at most 64, and adapters that refuse 256-thread
    /// workgroups.
    Medium,
    /// 32 × 32 tiles, 4 × 4 per thread (64 threads), 4 KiB: more
    /// workgroups for small outputs.
    Small,
}

impl Variant {
    /// Every variant, largest first.
    pub const ALL: [Variant; 3] = [Variant::Large, Variant::Medium, Variant::Small];

    /// Its name in flags and reports.
    pub fn key(self) -> &'static str {
        match self {
            Variant::Large => "large",
            Variant::Medium => "medium",
            Variant::Small => "small",
        }
    }

    /// The variant named `key`.
    pub fn parse(key: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.key() == key)
    }

    /// Rows and columns of C per workgroup.
    pub fn tile(self) -> u32 {
        match self {
            Variant::Large => 128,
            Variant::Medium => 64,
            Variant::Small => 32,
        }
    }

    /// Outputs per thread along each side (8 or 4).
    pub fn per_thread(self) -> u32 {
        match self {
            Variant::Large | Variant::Medium => 8,
            Variant::Small => 4,
        }
    }

    /// Threads along each side of the workgroup.
    pub fn side(self) -> u32 {
        self.tile() / self.per_thread()
    }

    /// Threads per workgroup.
    pub fn threads(self) -> u32 {
        self.side() * self.side()
    }

    /// The template configuration its passes compile ([`Config::active`]).
    pub fn config(self) -> Config {
        Config::active()
    }

    /// K per step.
    pub fn k_step(self) -> u32 {
        self.config().k_step
    }

    /// Workgroup memory: op(A) and op(B) tiles, `stages` buffers of
    /// [`Self::k_step`] rows of `tile` f32 each.
    pub fn workgroup_bytes(self) -> u64 {
        self.workgroup_bytes_with(self.config())
    }

    /// [`Self::workgroup_bytes`] under `config`.
    pub fn workgroup_bytes_with(self, config: Config) -> u64 {
        2 * config.stages as u64 * (config.k_step * self.tile()) as u64 * 4
    }

    /// What it is, for reports.
    pub fn describe(self) -> String {
        self.describe_with(self.config())
    }

    /// [`Self::describe`] under `config`.
    pub fn describe_with(self, c: Config) -> String {
        let (t, r) = (self.tile(), self.per_thread());
        let buffers = if c.stages == 2 {
            "double-buffered"
        } else {
            "single-buffered"
        };
        let lanes = if c.lanes_2d && self.side() == 16 {
            ", warps of 4 × 8 threads"
        } else {
            ""
        };
        let checks = if c.checked { ", runtime checks on" } else { "" };
        let fused = if c.fused { ", fma()" } else { "" };
        let pipelined = if c.pipelined {
            ", fragments read one k ahead"
        } else {
            ""
        };
        format!(
            "{t}×{t} tiles, {r}×{r} outputs per thread ({} threads), K-step {}, \
             {buffers} ({} KiB of workgroup memory){lanes}{fused}{pipelined}{checks} [{}]",
            self.threads(),
            c.k_step,
            self.workgroup_bytes_with(c) / 1024,
            c.key().unwrap_or("?")
        )
    }

    /// The entry point running `gemm` (vec4 or scalar loads) in this
    /// variant's module under `config`.
    pub fn kernel_with(self, gemm: &Gemm, config: Config) -> Kernel {
        let c = config.index();
        let v = Variant::ALL
            .iter()
            .position(|x| *x == self)
            .expect("a variant");
        Kernel {
            module: Module {
                name: NAMES[c][v],
                source: SOURCES[c][v],
                text: text(c, v),
            },
            ..*kernel_for(gemm)
        }
    }

    /// The override constants of the shader for this layout.
    fn constants(gemm: &Gemm) -> [(&'static str, f64); 2] {
        [
            ("TRANS_A", gemm.trans_a as u32 as f64),
            ("TRANS_B", gemm.trans_b as u32 as f64),
        ]
    }

    /// Whether the adapter's limits allow it (workgroup memory, threads per
    /// workgroup and along x), else which limit it exceeds.
    pub fn check(self, limits: &wgpu::Limits) -> Result<(), GpuError> {
        self.check_with(limits, self.config())
    }

    /// [`Self::check`] under `config`.
    pub fn check_with(self, limits: &wgpu::Limits, config: Config) -> Result<(), GpuError> {
        let what = format!("the {} sgemm variant", self.key());
        let too_large = |needs: u64, unit, limit_name, limit: u32| GpuError::TooLarge {
            what: what.clone(),
            needs,
            unit,
            limit_name,
            limit: limit as u64,
        };
        let bytes = self.workgroup_bytes_with(config);
        if bytes > limits.max_compute_workgroup_storage_size as u64 {
            return Err(too_large(
                bytes,
                "bytes of workgroup memory",
                "max_compute_workgroup_storage_size",
                limits.max_compute_workgroup_storage_size,
            ));
        }
        if self.threads() > limits.max_compute_invocations_per_workgroup {
            return Err(too_large(
                self.threads() as u64,
                "threads per workgroup",
                "max_compute_invocations_per_workgroup",
                limits.max_compute_invocations_per_workgroup,
            ));
        }
        if self.threads() > limits.max_compute_workgroup_size_x {
            return Err(too_large(
                self.threads() as u64,
                "threads along a workgroup's x",
                "max_compute_workgroup_size_x",
                limits.max_compute_workgroup_size_x,
            ));
        }
        Ok(())
    }

    /// The largest variant the limits allow (the smallest's error if none).
    pub fn largest(limits: &wgpu::Limits) -> Result<Variant, GpuError> {
        let mut last = None;
        for v in Variant::ALL {
            match v.check(limits) {
                Ok(()) => return Ok(v),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| GpuError::Unavailable("no sgemm variant".into())))
    }

    /// The tiling for an M × N output over `batch` items on an adapter with
    /// WebGPU's default limits (which every variant fits): 128 × 128 from
    /// [`LARGE_TILES_MIN`] such tiles — 64 × 64 when a side is at most 64
    /// (Nyströmformer's n × L and L × n kernels: a 128-wide tile would
    /// compute twice its output, half of it padding) — else 32 × 32.
    pub fn for_shape(m: u64, n: u64, batch: u64) -> Variant {
        let t = Variant::Large.tile() as u64;
        let side = Variant::Medium.tile() as u64;
        if m.div_ceil(t) * n.div_ceil(t) * batch < LARGE_TILES_MIN {
            Variant::Small
        } else if m.min(n) <= side {
            Variant::Medium
        } else {
            Variant::Large
        }
    }

    /// [`Self::for_shape`] if the limits allow it, else the largest variant
    /// they allow.
    pub fn choose(limits: &wgpu::Limits, m: u64, n: u64, batch: u64) -> Result<Variant, GpuError> {
        let v = Variant::for_shape(m, n, batch);
        match v.check(limits) {
            Ok(()) => Ok(v),
            Err(_) => Variant::largest(limits),
        }
    }
}

/// The shape and layout of a batched product C[b] = α·op(A[b])·op(B[b]):
/// op(A) is M × K, op(B) K × N, C M × N; each operand is stored row-major
/// with its own row length and batch stride (in f32 elements; a stride of
/// 0 shares one matrix across the batch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gemm {
    /// Rows of op(A) and C.
    pub m: u32,
    /// Columns of op(B) and C.
    pub n: u32,
    /// The inner dimension.
    pub k: u32,
    /// Independent items.
    pub batch: u32,
    /// A is stored K × M.
    pub trans_a: bool,
    /// B is stored N × K.
    pub trans_b: bool,
    /// The scale of the product.
    pub alpha: f32,
    /// Stored row length of A (≥ its stored columns).
    pub lda: u32,
    /// Stored row length of B.
    pub ldb: u32,
    /// Stored row length of C (≥ N).
    pub ldc: u32,
    /// Elements between batch items of A.
    pub stride_a: u32,
    /// Of B.
    pub stride_b: u32,
    /// Of C.
    pub stride_c: u32,
}

impl Gemm {
    /// Densely packed operands and output, α = 1; `None` when an item
    /// holds more than 2³² − 1 elements (the shader indexes in u32).
    pub fn packed(
        m: u32,
        n: u32,
        k: u32,
        batch: u32,
        trans_a: bool,
        trans_b: bool,
    ) -> Option<Gemm> {
        Some(Gemm {
            m,
            n,
            k,
            batch,
            trans_a,
            trans_b,
            alpha: 1.0,
            lda: if trans_a { m } else { k },
            ldb: if trans_b { k } else { n },
            ldc: n,
            stride_a: m.checked_mul(k)?,
            stride_b: k.checked_mul(n)?,
            stride_c: m.checked_mul(n)?,
        })
    }

    /// Stored rows and columns of one item of A.
    pub fn a_stored(&self) -> (u32, u32) {
        if self.trans_a {
            (self.k, self.m)
        } else {
            (self.m, self.k)
        }
    }

    /// Stored rows and columns of one item of B.
    pub fn b_stored(&self) -> (u32, u32) {
        if self.trans_b {
            (self.n, self.k)
        } else {
            (self.k, self.n)
        }
    }

    /// Elements an operand's buffer must hold: the last item's start plus
    /// its whole rows.
    fn extent(&self, rows: u32, ld: u32, stride: u32) -> u64 {
        stride as u64 * (self.batch as u64 - 1) + rows as u64 * ld as u64
    }

    /// Elements A's buffer must hold.
    pub fn a_len(&self) -> u64 {
        self.extent(self.a_stored().0, self.lda, self.stride_a)
    }

    /// Elements B's buffer must hold.
    pub fn b_len(&self) -> u64 {
        self.extent(self.b_stored().0, self.ldb, self.stride_b)
    }

    /// Elements C's buffer must hold.
    pub fn c_len(&self) -> u64 {
        self.extent(self.m, self.ldc, self.stride_c)
    }

    /// 2·M·N·K per item: the product's multiply-adds, twice.
    pub fn flops(&self) -> u64 {
        2 * self.m as u64 * self.n as u64 * self.k as u64 * self.batch as u64
    }

    /// Whether A and B can be read as vec4s: row lengths and strides are
    /// multiples of 4, and so is K where a stored row runs along K (A, or
    /// Bᵀ), so that no vec4 straddles the end of K.
    pub fn vec4_loads(&self) -> bool {
        let four = |x: u32| x.is_multiple_of(4);
        let along_k = !self.trans_a || self.trans_b;
        four(self.lda)
            && four(self.ldb)
            && four(self.stride_a)
            && four(self.stride_b)
            && (!along_k || four(self.k))
    }

    /// Whether the shape and layout are consistent (sizes ≥ 1, row lengths
    /// ≥ the stored columns, items of C not overlapping), else why not.
    pub fn validate(&self) -> Result<(), String> {
        let (m, n, k, batch) = (self.m, self.n, self.k, self.batch);
        if m == 0 || n == 0 || k == 0 || batch == 0 {
            return Err(format!(
                "empty product: M = {m}, N = {n}, K = {k}, batch = {batch}"
            ));
        }
        let (_, a_cols) = self.a_stored();
        let (_, b_cols) = self.b_stored();
        for (name, ld, cols) in [("lda", self.lda, a_cols), ("ldb", self.ldb, b_cols)] {
            if ld < cols {
                return Err(format!("{name} = {ld} is shorter than a row ({cols})"));
            }
        }
        if self.ldc < n {
            return Err(format!("ldc = {} is shorter than a row ({n})", self.ldc));
        }
        if batch > 1 && (self.stride_c as u64) < m as u64 * self.ldc as u64 {
            return Err(format!(
                "the items of C overlap: stride_c = {} < M·ldc = {}",
                self.stride_c,
                m as u64 * self.ldc as u64
            ));
        }
        Ok(())
    }
}

/// Threads split-K aims for: 1024 workgroups of the small tiling's 64
/// (an H200 has 132 multiprocessors, each holding several of them).
pub const SPLIT_TARGET_THREADS: u64 = 1024 * 64;

/// The least K a part of a split keeps (below it the second pass's reads
/// outweigh what the parallelism gains).
pub const SPLIT_MIN_K: u32 = 512;

/// Split-K: the K range of each item cut into `parts` ranges of `k_chunk`
/// (the last shorter), each multiplied by its own workgroups into its own
/// layer of partial products, which a second pass sums. For outputs with
/// few tiles and a long K (Nyströmformer's B̃V: 64 × 64 per head over
/// K = n), which otherwise run a few dozen workgroups through thousands of
/// K-steps while the GPU idles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Ranges of K (1: unsplit).
    pub parts: u32,
    /// K per range, a multiple of 16 (so of any K-step, and of 4 for vec4
    /// loads along K) unless unsplit.
    pub k_chunk: u32,
}

impl Split {
    /// One range: the whole of K.
    pub fn none(k: u32) -> Split {
        Split {
            parts: 1,
            k_chunk: k,
        }
    }

    /// K cut into about `parts` ranges of a multiple of 16 each (fewer
    /// when rounding the range up covers K sooner), none empty.
    pub fn of(k: u32, parts: u32) -> Split {
        let parts = parts.clamp(1, k.max(1));
        if parts == 1 {
            return Split::none(k);
        }
        let k_chunk = k.div_ceil(parts).div_ceil(16) * 16;
        Split {
            parts: k.div_ceil(k_chunk),
            k_chunk,
        }
    }

    /// The split for an M × N output over `batch` items with inner
    /// dimension K in `variant`'s tiles: none when the tiles' threads
    /// already reach half of [`SPLIT_TARGET_THREADS`], K is under twice
    /// [`SPLIT_MIN_K`] or the product is empty; else enough parts to
    /// approach the target, each keeping at least [`SPLIT_MIN_K`] of K.
    pub fn for_shape(m: u64, n: u64, k: u64, batch: u64, variant: Variant) -> Split {
        let t = variant.tile() as u64;
        let threads = m.div_ceil(t) * n.div_ceil(t) * batch * variant.threads() as u64;
        let k32 = k.min(u32::MAX as u64) as u32;
        if threads == 0 || 2 * threads >= SPLIT_TARGET_THREADS || k < 2 * SPLIT_MIN_K as u64 {
            return Split::none(k32);
        }
        let parts = (SPLIT_TARGET_THREADS / threads).min(k / SPLIT_MIN_K as u64);
        Split::of(k32, parts as u32)
    }

    /// Whether it covers `gemm`'s K exactly once with no empty range, the
    /// ranges start on vec4 boundaries, and the layers of C do not overlap.
    pub fn validate(&self, gemm: &Gemm) -> Result<(), String> {
        let Split { parts, k_chunk } = *self;
        if parts == 0 {
            return Err("a split of K into no ranges".into());
        }
        if parts == 1 {
            return if k_chunk >= gemm.k {
                Ok(())
            } else {
                Err(format!("one range of {k_chunk} short of K = {}", gemm.k))
            };
        }
        let covers = parts as u64 * k_chunk as u64 >= gemm.k as u64
            && ((parts - 1) as u64 * k_chunk as u64) < gemm.k as u64;
        if !k_chunk.is_multiple_of(16) || !covers {
            return Err(format!(
                "{parts} ranges of {k_chunk} do not split K = {} (each a multiple of 16, none empty)",
                gemm.k
            ));
        }
        if (gemm.stride_c as u64) < gemm.m as u64 * gemm.ldc as u64 {
            return Err(format!(
                "the layers of partial products overlap: stride_c = {} < M·ldc",
                gemm.stride_c
            ));
        }
        Ok(())
    }

    /// Elements the partial products' buffer must hold: batch·parts layers.
    pub fn c_len(&self, gemm: &Gemm) -> u64 {
        gemm.stride_c as u64 * (gemm.batch as u64 * self.parts as u64 - 1)
            + gemm.m as u64 * gemm.ldc as u64
    }
}

/// The shader's `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, Default)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    lda: u32,
    ldb: u32,
    ldc: u32,
    stride_a: u32,
    stride_b: u32,
    stride_c: u32,
    alpha: f32,
    k_chunk: u32,
    splits: u32,
}

fn misuse(message: String) -> GpuError {
    GpuError::Device {
        stage: "sgemm".into(),
        message,
    }
}

/// The kernel (vec4 or scalar loads) that runs `gemm`.
pub fn kernel_for(gemm: &Gemm) -> &'static Kernel {
    if gemm.vec4_loads() {
        &SGEMM_VEC4
    } else {
        &SGEMM_SCALAR
    }
}

/// The product as one pass over ⌈N/T⌉ × ⌈M/T⌉ × batch workgroups, reading
/// `a` and `b` and writing `c`: the variant and every buffer are checked
/// against the limits and the shape before anything is built.
pub async fn pass(
    ctx: &GpuContext,
    gemm: &Gemm,
    variant: Variant,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    c: &wgpu::Buffer,
) -> Result<Pass, GpuError> {
    pass_with(ctx, gemm, variant, variant.config(), a, b, c).await
}

/// [`pass`] compiled under `config` (one of [`CANDIDATES`]).
pub async fn pass_with(
    ctx: &GpuContext,
    gemm: &Gemm,
    variant: Variant,
    config: Config,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    c: &wgpu::Buffer,
) -> Result<Pass, GpuError> {
    build(ctx, gemm, Split::none(gemm.k), variant, config, a, b, c).await
}

/// Split-K's first pass: part s of item i multiplies the K range
/// [s·k_chunk, (s + 1)·k_chunk) into layer i·parts + s of `partials`
/// (`gemm.stride_c` apart, α applied), over ⌈N/T⌉ × ⌈M/T⌉ × batch·parts
/// workgroups; the caller sums the layers (`linalg.wgsl` `sum_splits`).
pub async fn pass_split(
    ctx: &GpuContext,
    gemm: &Gemm,
    split: Split,
    variant: Variant,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    partials: &wgpu::Buffer,
) -> Result<Pass, GpuError> {
    build(ctx, gemm, split, variant, variant.config(), a, b, partials).await
}

#[allow(clippy::too_many_arguments)]
async fn build(
    ctx: &GpuContext,
    gemm: &Gemm,
    split: Split,
    variant: Variant,
    config: Config,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    c: &wgpu::Buffer,
) -> Result<Pass, GpuError> {
    gemm.validate().map_err(misuse)?;
    split.validate(gemm).map_err(misuse)?;
    variant.check_with(&ctx.limits, config)?;
    for (name, buffer, needs) in [
        ("A", a, gemm.a_len()),
        ("B", b, gemm.b_len()),
        ("C", c, split.c_len(gemm)),
    ] {
        if buffer.size() < 4 * needs {
            return Err(misuse(format!(
                "{name} holds {} f32, the product reaches {needs}",
                buffer.size() / 4
            )));
        }
    }
    let kernel = variant.kernel_with(gemm, config);
    let constants = Variant::constants(gemm);
    let pipeline = if config.checked {
        kernel.pipeline(ctx, &constants).await?
    } else {
        // SAFETY: every global access of `sgemm.wgsl` is guarded by the
        // shape (row < M, column < N, k < K), and the buffers were just
        // checked to hold every element those guards let through: the
        // whole rows of every item (indices below 2³⁰, so no u32 overflow:
        // bindings are at most 4 GiB). Workgroup indices are below the
        // arrays' constant sizes for every variant (`generate`), and every
        // loop is bounded by uniform counts.
        unsafe { kernel.pipeline_unchecked(ctx, &constants) }.await?
    };
    let params = Params {
        m: gemm.m,
        n: gemm.n,
        k: gemm.k,
        lda: gemm.lda,
        ldb: gemm.ldb,
        ldc: gemm.ldc,
        stride_a: gemm.stride_a,
        stride_b: gemm.stride_b,
        stride_c: gemm.stride_c,
        alpha: gemm.alpha,
        k_chunk: split.k_chunk,
        splits: split.parts,
    };
    let uniform = buffers::uniform(ctx, "sgemm.params", &params);
    let label = kernel.id();
    let named = [
        ("p", &uniform),
        ("a", a),
        ("b", b),
        ("c", c),
        ("a4", a),
        ("b4", b),
    ];
    let group = scoped(ctx, &format!("binding {label}"), || {
        kernel.bind(ctx, &label, &named)
    })
    .await?;
    let tile = variant.tile();
    Pass::new(
        ctx,
        &kernel,
        pipeline,
        group,
        (gemm.n.div_ceil(tile), gemm.m.div_ceil(tile)),
    )?
    .layers(
        ctx,
        gemm.batch.checked_mul(split.parts).ok_or_else(|| {
            misuse(format!(
                "{} items × {} ranges of K overflow the dispatch's z",
                gemm.batch, split.parts
            ))
        })?,
    )
}

/// A standalone product's result.
#[derive(Debug, Clone)]
pub struct Product {
    /// C as stored (`gemm.c_len()` elements).
    pub c: Vec<f32>,
    /// The timed runs.
    pub timed: Timed,
    /// The variant that ran.
    pub variant: Variant,
    /// The configuration it was compiled under.
    pub config: Config,
    /// The entry point that ran.
    pub kernel: &'static Kernel,
    /// Bytes of A, B and C on the device.
    pub memory_bytes: u64,
}

/// Uploads A and B, runs the product `repeats` times (after the warm-up,
/// timed as every program is), reads C back: the bench's and the tests'
/// path. `variant` forces one (checked against the limits); otherwise
/// [`Variant::choose`] picks it. Everything is checked before allocating.
pub async fn multiply(
    ctx: &GpuContext,
    gemm: &Gemm,
    a: &[f32],
    b: &[f32],
    variant: Option<Variant>,
    repeats: u32,
) -> Result<Product, GpuError> {
    multiply_with(ctx, gemm, a, b, variant, Config::active(), repeats).await
}

/// [`multiply`] compiled under `config` (one of [`CANDIDATES`]).
pub async fn multiply_with(
    ctx: &GpuContext,
    gemm: &Gemm,
    a: &[f32],
    b: &[f32],
    variant: Option<Variant>,
    config: Config,
    repeats: u32,
) -> Result<Product, GpuError> {
    gemm.validate().map_err(misuse)?;
    let variant = match variant {
        Some(v) => v,
        None => Variant::choose(&ctx.limits, gemm.m as u64, gemm.n as u64, gemm.batch as u64)?,
    };
    variant.check_with(&ctx.limits, config)?;
    for (name, given, needs) in [
        ("A", a.len() as u64, gemm.a_len()),
        ("B", b.len() as u64, gemm.b_len()),
    ] {
        if given < needs {
            return Err(misuse(format!(
                "{name} has {given} values, the product reaches {needs}"
            )));
        }
    }
    let c_len = gemm.c_len();
    for (name, len) in [("A", a.len() as u64), ("B", b.len() as u64), ("C", c_len)] {
        buffers::check_storage(ctx, &format!("sgemm: {name}"), 4 * len)?;
    }
    let (a_buf, b_buf) = scoped(ctx, "sgemm: uploading A and B", || {
        Ok((
            buffers::upload(ctx, "sgemm.a", a)?,
            buffers::upload(ctx, "sgemm.b", b)?,
        ))
    })
    .await?;
    let c_buf = buffers::storage(ctx, "sgemm.c", c_len as usize)?;
    let mut program = Program::new(format!(
        "sgemm {}×{}×{} (batch {})",
        gemm.m, gemm.n, gemm.k, gemm.batch
    ));
    program.time(pass_with(ctx, gemm, variant, config, &a_buf, &b_buf, &c_buf).await?);
    program.memory_bytes = 4 * (a.len() as u64 + b.len() as u64 + c_len);
    let timed = program.run(ctx, repeats).await?;
    let c = buffers::read_f32(ctx, &c_buf, c_len as usize).await?;
    Ok(Product {
        c,
        timed,
        variant,
        config,
        kernel: kernel_for(gemm),
        memory_bytes: program.memory_bytes,
    })
}

/// The CPU twin: ndarray's f32 product item by item, into a zeroed C of
/// `gemm.c_len()` elements (entries between rows of a padded C stay 0).
///
/// # Panics
///
/// If `gemm` is inconsistent or `a`, `b` are shorter than it reaches.
pub fn twin(gemm: &Gemm, a: &[f32], b: &[f32]) -> Vec<f32> {
    use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder, linalg::general_mat_mul};
    gemm.validate().expect("a consistent product");
    let mut c = vec![0.0f32; gemm.c_len() as usize];
    let u = |x: u32| x as usize;
    fn view(data: &[f32], offset: usize, (rows, cols): (u32, u32), ld: u32) -> ArrayView2<'_, f32> {
        let (rows, cols, ld) = (rows as usize, cols as usize, ld as usize);
        let end = offset + (rows - 1) * ld + cols;
        ArrayView2::from_shape((rows, cols).strides((ld, 1)), &data[offset..end])
            .expect("a view of the operand")
    }
    for item in 0..u(gemm.batch) {
        let x = view(a, item * u(gemm.stride_a), gemm.a_stored(), gemm.lda);
        let y = view(b, item * u(gemm.stride_b), gemm.b_stored(), gemm.ldb);
        let (x, y) = (
            if gemm.trans_a { x.reversed_axes() } else { x },
            if gemm.trans_b { y.reversed_axes() } else { y },
        );
        let start = item * u(gemm.stride_c);
        let end = start + (u(gemm.m) - 1) * u(gemm.ldc) + u(gemm.n);
        let shape = (u(gemm.m), u(gemm.n)).strides((u(gemm.ldc), 1));
        let mut out =
            ArrayViewMut2::from_shape(shape, &mut c[start..end]).expect("a view of the output");
        general_mat_mul(gemm.alpha, &x, &y, 0.0, &mut out);
    }
    c
}

/// Entry (i, j) of item `item` computed in f64 from the f32 operands, and
/// |α|·Σₖ |op(A)ᵢₖ|·|op(B)ₖⱼ| (what the rounding error bound scales).
pub fn exact_entry(gemm: &Gemm, a: &[f32], b: &[f32], item: u32, i: u32, j: u32) -> (f64, f64) {
    let u = |x: u32| x as usize;
    let base_a = u(item) * u(gemm.stride_a);
    let base_b = u(item) * u(gemm.stride_b);
    let (mut sum, mut magnitude) = (0.0f64, 0.0f64);
    for t in 0..u(gemm.k) {
        let x = if gemm.trans_a {
            a[base_a + t * u(gemm.lda) + u(i)]
        } else {
            a[base_a + u(i) * u(gemm.lda) + t]
        } as f64;
        let y = if gemm.trans_b {
            b[base_b + u(j) * u(gemm.ldb) + t]
        } else {
            b[base_b + t * u(gemm.ldb) + u(j)]
        } as f64;
        sum += x * y;
        magnitude += (x * y).abs();
    }
    let alpha = gemm.alpha as f64;
    (alpha * sum, alpha.abs() * magnitude)
}

/// The bound on |ĉ − c| for an f32 product of inner dimension K computed
/// in any order (with or without fused multiply-adds) and then scaled by α:
/// (γ_K + u)·|α|Σ|a||b| with u = 2⁻²⁴ and γ_K = K·u/(1 − K·u) (Higham,
/// *Accuracy and Stability of Numerical Algorithms*, §3.1), given
/// `magnitude` = |α|·Σₖ|aₖ||bₖ|. Two f32 products of the same entry differ
/// by at most twice this.
pub fn tolerance(k: u32, magnitude: f64) -> f64 {
    let u = f32::EPSILON as f64 / 2.0;
    let ku = k as f64 * u;
    (ku / (1.0 - ku) + u) * magnitude
}

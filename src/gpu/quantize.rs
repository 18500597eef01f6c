//! Host side of `quantize.wgsl`: post-training quantization of a row-major
//! matrix on the GPU — group statistics, the clipping search, quantize and
//! dequantize — and a plain copy of the same matrix timed beside it as the
//! bandwidth reference. The scheme arrives as a [`Plan`] of plain numbers
//! (`compress::quantize::Scheme::plan` builds it), so this layer knows no
//! method.

use bytemuck::{Pod, Zeroable};

use super::bindings::{Binding, Kernel, Module};
use super::buffers;
use super::program::{Pass, Program, Timed};
use super::work::{self, Work};
use super::{GpuContext, GpuError, GpuRunOptions};
use crate::data::codes::QuantKind;

const MODULE: Module = Module {
    name: "quantize",
    source: || include_wgsl!("quantize.wgsl"),
    text: wgsl!("quantize.wgsl"),
};
const P: Binding = Binding::uniform("p", 0);
const X: Binding = Binding::read("data", 1);
const PARTIAL: Binding = Binding::write("partial", 2);
const GSTATS: Binding = Binding::write("gstats", 3);
const PARAMS: Binding = Binding::write("params", 4);
const ERRS: Binding = Binding::write("errs", 5);
const OUT: Binding = Binding::write("out", 6);

const fn op(entry: &'static str, bindings: &'static [Binding]) -> Kernel {
    Kernel {
        module: MODULE,
        entry,
        bindings,
    }
}

/// Min, max and Σ|x| of each chunk.
pub const STATS: Kernel = op("stats", &[P, X, PARTIAL]);
/// Chunks merged per group; min-max parameters.
pub const FINISH: Kernel = op("finish", &[P, PARTIAL, GSTATS, PARAMS]);
/// The clipping search of groups of one chunk.
pub const MSE_LOCAL: Kernel = op("mse_local", &[P, X, GSTATS, PARAMS]);
/// Each candidate's error per chunk of longer groups.
pub const MSE_PARTIAL: Kernel = op("mse_partial", &[P, X, GSTATS, ERRS]);
/// The least error per group of the chunks' sums.
pub const MSE_CHOOSE: Kernel = op("mse_choose", &[P, GSTATS, PARAMS, ERRS]);
/// x̂ of every element.
pub const APPLY: Kernel = op("apply", &[P, X, PARAMS, OUT]);
/// out = x: the bandwidth reference.
pub const COPY: Kernel = op("copy", &[P, X, OUT]);

/// The kernels of this file, for `tests/kernels.rs`.
pub const KERNELS: &[Kernel] = &[
    STATS,
    FINISH,
    MSE_LOCAL,
    MSE_PARTIAL,
    MSE_CHOOSE,
    APPLY,
    COPY,
];

/// Elements per chunk (`CHUNK` in the shader, `compress::quantize::CHUNK`).
pub const CHUNK: usize = 4096;
/// Clipping candidates (`CANDIDATES` in the shader).
pub const CANDIDATES: usize = 100;
/// Threads per workgroup of the chunk and element passes.
const WG: usize = 256;
/// Threads per workgroup of the per-group passes.
const WG_GROUPS: usize = 64;

/// What to run, in plain numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Rows of the matrix.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Elements per full group along a row (per tensor: all).
    pub group_len: usize,
    /// Groups per row (per tensor: 1).
    pub per_row: usize,
    /// Groups in all.
    pub groups: usize,
    /// What each element becomes.
    pub kind: QuantKind,
    /// Zero points (asymmetric integers).
    pub asymmetric: bool,
    /// Integer grid.
    pub qmin: f32,
    /// Integer grid.
    pub qmax: f32,
    /// Float format: mantissa bits.
    pub mantissa_bits: u32,
    /// Float format: smallest normal exponent.
    pub min_exponent: i32,
    /// Float format: largest finite value.
    pub max_finite: f32,
    /// Float format: saturating.
    pub saturating: bool,
    /// Search the clipping range (clip = mse).
    pub mse: bool,
}

impl Plan {
    /// Elements.
    pub fn numel(&self) -> usize {
        self.rows * self.cols
    }

    /// Chunk slots per group (of the longest group).
    pub fn chunks_per_group(&self) -> usize {
        let longest = if self.groups == 1 {
            self.numel()
        } else {
            self.group_len
        };
        longest.div_ceil(CHUNK).max(1)
    }

    /// Chunk slots in all.
    pub fn slots(&self) -> usize {
        self.groups * self.chunks_per_group()
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, Default)]
struct Params {
    rows: u32,
    cols: u32,
    glen: u32,
    per_row: u32,
    groups: u32,
    cpg: u32,
    kind: u32,
    asymmetric: u32,
    numel: u32,
    man_bits: i32,
    min_exp: i32,
    saturating: u32,
    qmin: f32,
    qmax: f32,
    fmax: f32,
    _pad: u32,
}

impl Params {
    fn of(plan: &Plan) -> Params {
        Params {
            rows: plan.rows as u32,
            cols: plan.cols as u32,
            glen: plan.group_len as u32,
            per_row: plan.per_row as u32,
            groups: plan.groups as u32,
            cpg: plan.chunks_per_group() as u32,
            kind: plan.kind as u32,
            asymmetric: plan.asymmetric as u32,
            numel: plan.numel() as u32,
            man_bits: plan.mantissa_bits as i32,
            min_exp: plan.min_exponent,
            saturating: plan.saturating as u32,
            qmin: plan.qmin,
            qmax: plan.qmax,
            fmax: plan.max_finite,
            _pad: 0,
        }
    }
}

/// What a GPU quantization returns.
#[derive(Debug, Clone)]
pub struct Output {
    /// x̂, row-major.
    pub xhat: Vec<f32>,
    /// Per group: scale, zero, lo, hi, alpha, constant (0/1), its value, 0.
    pub params: Vec<[f32; 8]>,
    /// The quantize-dequantize program's times.
    pub timed: Timed,
    /// The copy's times (the bandwidth reference).
    pub copy: Timed,
    /// Executed work of the quantize-dequantize program.
    pub work: Work,
    /// Bytes the copy moves.
    pub copy_bytes: u64,
    /// Device memory of the buffers.
    pub memory_bytes: u64,
    /// Which passes ran.
    pub variant: String,
}

/// A dispatch of `workgroups` laid out as (x, y) within the adapter's
/// per-dimension limit.
fn grid(ctx: &GpuContext, workgroups: usize) -> (u32, u32) {
    let limit = ctx.limits.max_compute_workgroups_per_dimension as usize;
    let x = workgroups.clamp(1, limit);
    (x as u32, workgroups.div_ceil(x).max(1) as u32)
}

/// The buffers of one run.
struct Buffers {
    uniform: wgpu::Buffer,
    x: wgpu::Buffer,
    partial: wgpu::Buffer,
    gstats: wgpu::Buffer,
    params: wgpu::Buffer,
    errs: wgpu::Buffer,
    out: wgpu::Buffer,
    bytes: u64,
}

impl Buffers {
    fn new(ctx: &GpuContext, plan: &Plan, data: &[f32]) -> Result<Buffers, GpuError> {
        let n = plan.numel();
        let slots = plan.slots();
        let errs = if plan.mse && plan.chunks_per_group() > 1 {
            slots * CANDIDATES
        } else {
            1
        };
        // Every size is checked against the limits before anything is made.
        for (what, len) in [
            ("quantize.x", n),
            ("quantize.out", n),
            ("quantize.partial", 3 * slots),
            ("quantize.params", 8 * plan.groups),
            ("quantize.errs", errs),
        ] {
            buffers::check_storage(ctx, what, (len.max(1) * 4) as u64)?;
        }
        let bytes = (4 * (2 * n + 3 * slots + 12 * plan.groups + errs)) as u64;
        Ok(Buffers {
            uniform: buffers::uniform(ctx, "quantize.params", &Params::of(plan)),
            x: buffers::upload(ctx, "quantize.x", data)?,
            partial: buffers::storage(ctx, "quantize.partial", 3 * slots)?,
            gstats: buffers::storage(ctx, "quantize.gstats", 4 * plan.groups)?,
            params: buffers::storage(ctx, "quantize.group_params", 8 * plan.groups)?,
            errs: buffers::storage(ctx, "quantize.errs", errs)?,
            out: buffers::storage(ctx, "quantize.out", n)?,
            bytes,
        })
    }

    fn named(&self) -> [(&'static str, &wgpu::Buffer); 7] {
        [
            ("p", &self.uniform),
            ("data", &self.x),
            ("partial", &self.partial),
            ("gstats", &self.gstats),
            ("params", &self.params),
            ("errs", &self.errs),
            ("out", &self.out),
        ]
    }
}

/// Records the quantize-dequantize program; returns it with its executed
/// work and the passes' names.
async fn record(
    ctx: &GpuContext,
    plan: &Plan,
    b: &Buffers,
) -> Result<(Program, Work, String), GpuError> {
    let named = b.named();
    let mut program = Program::new("quantize");
    let slots = plan.slots();
    let per_group = grid(ctx, plan.groups.div_ceil(WG_GROUPS));
    let mut passes: Vec<(&Kernel, (u32, u32))> =
        vec![(&STATS, grid(ctx, slots)), (&FINISH, per_group)];
    let local = plan.chunks_per_group() == 1;
    if plan.mse {
        if local {
            passes.push((&MSE_LOCAL, grid(ctx, plan.groups)));
        } else {
            passes.push((&MSE_PARTIAL, grid(ctx, slots)));
            passes.push((&MSE_CHOOSE, per_group));
        }
    }
    passes.push((&APPLY, grid(ctx, plan.numel().div_ceil(WG))));
    let mut names = Vec::new();
    for (kernel, groups) in passes {
        program.time(Pass::build(ctx, kernel, &[], &named, groups).await?);
        names.push(kernel.entry);
    }
    let w = work::quantize(
        plan.numel() as u64,
        plan.groups as u64,
        plan.chunks_per_group() as u64,
        plan.mse.then_some(local),
    );
    Ok((program, w, names.join(" → ")))
}

/// Quantizes and dequantizes `data` (row-major rows × cols) as `plan` says,
/// timed; then times a plain copy of the same matrix.
pub async fn run(
    ctx: &GpuContext,
    plan: &Plan,
    data: &[f32],
    options: &GpuRunOptions,
) -> Result<Output, GpuError> {
    let n = plan.numel();
    if data.len() != n || n == 0 {
        return Err(GpuError::Readback(format!(
            "quantize: {} elements given for a {} × {} matrix",
            data.len(),
            plan.rows,
            plan.cols
        )));
    }
    if n > u32::MAX as usize {
        return Err(GpuError::TooLarge {
            what: "quantize: the matrix".into(),
            needs: n as u64,
            unit: "elements",
            limit_name: "u32 indexing",
            limit: u32::MAX as u64,
        });
    }
    let b = Buffers::new(ctx, plan, data)?;
    let (program, work, variant) = record(ctx, plan, &b).await?;
    let (_, timed) = options.run(ctx, program).await?;
    let xhat = buffers::read_f32(ctx, &b.out, n).await?;
    let flat = buffers::read_f32(ctx, &b.params, 8 * plan.groups).await?;
    let params = flat
        .chunks_exact(8)
        .map(|c| c.try_into().expect("8 values"))
        .collect();

    let mut copy = Program::new("quantize: copy (bandwidth reference)");
    copy.time(Pass::build(ctx, &COPY, &[], &b.named(), grid(ctx, n.div_ceil(WG))).await?);
    let copy = copy.run(ctx, options.repeats).await?;
    Ok(Output {
        xhat,
        params,
        timed,
        copy,
        work,
        copy_bytes: 8 * n as u64,
        memory_bytes: b.bytes,
        variant: format!("{variant}, chunks of {CHUNK}"),
    })
}

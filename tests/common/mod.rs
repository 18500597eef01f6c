//! Helpers shared by the native integration tests.

#![allow(dead_code)]

use flt_explorer::attention::{Config, MethodId, ParamValues, RowKernel, WeightSink};
use flt_explorer::gpu::{GpuContext, GpuOutput, GpuRunOptions};
use flt_explorer::inputs::Inputs;
use ndarray::Array2;

/// Runs the `flt` binary with `args`.
pub fn flt(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_flt"))
        .args(args)
        .output()
        .expect("run flt")
}

/// Whether a missing GPU adapter must fail the test (CI) rather than skip it.
pub fn gpu_required() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// A GPU context, or `None` (with a note) when this machine has no adapter
/// and we are not under CI. Under CI a missing adapter is a failure.
pub fn gpu() -> Option<GpuContext> {
    match pollster::block_on(GpuContext::new()) {
        Ok(ctx) => Some(ctx),
        Err(e) if gpu_required() => {
            panic!("CI=true but no GPU adapter: {e} (install mesa-vulkan-drivers)")
        }
        Err(e) => {
            eprintln!("skipping GPU test: {e}");
            None
        }
    }
}

/// |a − b| ≤ atol + rtol·|b| elementwise; returns the worst excess description.
pub fn assert_close(
    what: &str,
    a: &ndarray::Array2<f32>,
    b: &ndarray::Array2<f32>,
    atol: f32,
    rtol: f32,
) {
    assert_eq!(a.dim(), b.dim(), "{what}: shapes differ");
    for ((idx, &x), &y) in a.indexed_iter().zip(b.iter()) {
        let bound = atol + rtol * y.abs();
        assert!(
            (x - y).abs() <= bound && x.is_finite(),
            "{what}: element {idx:?} is {x}, expected {y} (tolerance {bound})"
        );
    }
}

/// Method knobs from `(key, value)` pairs.
pub fn params(pairs: &[(&str, u64)]) -> ParamValues {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// One method run both ways on the same inputs and settings.
pub struct Pair<'a> {
    /// Names the case in assertion messages.
    pub what: String,
    /// The GPU run (one repeat).
    pub gpu: GpuOutput,
    /// The CPU twin.
    pub twin: Box<dyn RowKernel + 'a>,
    /// The twin's output for every row.
    pub expect: Array2<f32>,
}

/// Runs `method` on the GPU and its CPU twin on every row; `on_row` sees the
/// twin's attention weights row by row.
pub fn run_pair<'a>(
    ctx: &GpuContext,
    method: MethodId,
    x: &'a Inputs,
    p: &ParamValues,
    causal: bool,
    seed: u64,
    on_row: Option<WeightSink<'_>>,
) -> Pair<'a> {
    let what = format!(
        "{} n={} d={} causal={causal} {p:?}",
        method.key(),
        x.n(),
        x.d()
    );
    let config = Config {
        causal,
        seed,
        params: p,
    };
    let options = GpuRunOptions {
        repeats: 1,
        ..Default::default()
    };
    let gpu = pollster::block_on(method.method().run_gpu(ctx, x, &config, &options))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let twin = method.method().cpu_twin(x, &config).unwrap();
    let mut expect = Array2::zeros((x.n(), x.dv()));
    twin.compute_rows(0..x.n(), expect.view_mut(), on_row);
    Pair {
        what,
        gpu,
        twin,
        expect,
    }
}

/// The entries of an SGEMM's C (as stored) that differ from `expect` by
/// more than twice the K·ε bound ([`flt_explorer::gpu::sgemm::tolerance`]: two f32 sums of
/// the same terms in any order), with the worst excess.
pub fn sgemm_beyond_bound(
    gemm: &flt_explorer::gpu::sgemm::Gemm,
    a: &[f32],
    b: &[f32],
    got: &[f32],
    expect: &[f32],
) -> (usize, f64) {
    let abs = |x: &[f32]| x.iter().map(|v| v.abs()).collect::<Vec<f32>>();
    let magnitude = flt_explorer::gpu::sgemm::twin(
        &flt_explorer::gpu::sgemm::Gemm {
            alpha: gemm.alpha.abs(),
            ..*gemm
        },
        &abs(a),
        &abs(b),
    );
    let mut count = 0;
    let mut worst = 0.0f64;
    for ((&g, &e), &mag) in got.iter().zip(expect).zip(&magnitude) {
        // The magnitude is itself an f32 sum: a little slack covers its own
        // rounding.
        let bound = 2.0 * flt_explorer::gpu::sgemm::tolerance(gemm.k, 1.01 * mag as f64) + 1e-30;
        let err = (g as f64 - e as f64).abs();
        // NaN fails too.
        if err.is_nan() || err > bound {
            count += 1;
        }
        worst = worst.max(err / bound);
    }
    (count, worst)
}

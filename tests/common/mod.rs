//! Helpers shared by the native integration tests.

#![allow(dead_code)]

use flt_explorer::gpu::GpuContext;

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

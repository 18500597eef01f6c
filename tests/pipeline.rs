//! The pipeline's policies, with a fake method and fake hosts — no real
//! kernel needed (one test borrows a GPU device only to hand the fake
//! method a context it never uses):
//!
//! * backend resolution: the GPU asked for but absent falls back to the CPU
//!   twin on the page and fails the CLI;
//! * a kernel that does not fit the adapter falls back to the twin, unless
//!   the GPU was asked for by name;
//! * a non-finite result is refused, never shown;
//! * a superseded run stops at its next checkpoint.

mod common;

use std::cell::Cell;
use std::ops::Range;
use std::rc::Rc;

use flt_explorer::attention::{
    AttentionMethod, Complexity, Config, Conformance, Cost, LocalFuture, MethodError, MethodId,
    MethodInfo, RowKernel, TwinCost, WeightSink,
};
use flt_explorer::data::count::Counted;
use flt_explorer::data::shape::{RowPattern, Shape};
use flt_explorer::gpu::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use flt_explorer::inputs::{InputSource, Inputs};
use flt_explorer::pipeline::attention::{AttentionProblem, run_method};
use flt_explorer::pipeline::{
    Backend, BackendChoice, GpuPolicy, Host, Quiet, RunError, resolve_backend,
};
use ndarray::ArrayViewMut2;

static INFO: MethodInfo = MethodInfo {
    key: "fake",
    label: "Fake",
    family: "Test",
    paper: "none",
    equation: "O = c",
    params: &[],
    causal_unsupported: None,
    budget: None,
    explanation: "a method that outputs a constant",
    conformance: Conformance::TILED,
    complexity: Complexity {
        time: "O(n)",
        space: "O(n)",
        source: "none",
    },
    best_for: "—",
    mathml: "",
};

/// Outputs `value` everywhere; its GPU run fails with `gpu_error`.
struct Fake {
    value: f32,
    gpu_error: fn() -> GpuError,
}

struct FakeTwin {
    value: f32,
    n: usize,
}

impl RowKernel for FakeTwin {
    fn compute_rows(
        &self,
        _rows: Range<usize>,
        mut out: ArrayViewMut2<'_, f32>,
        _w: Option<WeightSink<'_>>,
    ) {
        out.fill(self.value);
    }

    fn row_pattern(&self, _i: usize) -> RowPattern {
        RowPattern::Dense { upto: self.n }
    }

    fn cost(&self, _pairs: u64) -> TwinCost {
        TwinCost {
            flops: Counted::new(1, "1"),
            bytes: Counted::new(1, "1"),
            memory: Counted::new(0, "0"),
        }
    }
}

impl AttentionMethod for Fake {
    fn info(&self) -> &'static MethodInfo {
        &INFO
    }

    fn cost(&self, _shape: Shape, _config: &Config<'_>, _pairs: u64) -> Cost {
        let one = || Counted::new(1, "1");
        Cost::new((one(), one()), (one(), one()))
    }

    fn cpu_twin<'a>(
        &self,
        inputs: &'a Inputs,
        _config: &Config<'_>,
    ) -> Result<Box<dyn RowKernel + 'a>, MethodError> {
        Ok(Box::new(FakeTwin {
            value: self.value,
            n: inputs.n(),
        }))
    }

    fn run_gpu<'a>(
        &'a self,
        _ctx: &'a GpuContext,
        _inputs: &'a Inputs,
        _config: &'a Config<'a>,
        _options: &'a GpuRunOptions,
    ) -> LocalFuture<'a, Result<GpuOutput, GpuError>> {
        let error = (self.gpu_error)();
        Box::pin(async move { Err(error) })
    }
}

fn too_large() -> GpuError {
    GpuError::TooLarge {
        what: "the fake kernel".into(),
        needs: 2,
        unit: "bytes",
        limit_name: "a limit",
        limit: 1,
    }
}

fn problem() -> AttentionProblem {
    AttentionProblem::seeded(MethodId::Full, InputSource::Gaussian, (12, 4), 1, 1.0)
}

fn no_gpu() -> LocalFuture<'static, Result<Rc<GpuContext>, GpuError>> {
    Box::pin(async { Err(GpuError::Unavailable("no GPU adapter (fake)".into())) })
}

#[test]
fn the_gpu_asked_for_but_absent_falls_back_on_the_page_and_fails_the_cli() {
    let page = pollster::block_on(resolve_backend(
        BackendChoice::Gpu,
        GpuPolicy::FallBack,
        no_gpu,
    ))
    .unwrap();
    match &page {
        Backend::Cpu { reason: Some(why) } => {
            assert!(why.contains("no GPU adapter (fake)"), "{why}")
        }
        other => panic!("expected the CPU twin, got {other:?}"),
    }
    assert_eq!(
        page.label(),
        "CPU — WebGPU unavailable: no GPU adapter (fake)"
    );
    let cli = pollster::block_on(resolve_backend(BackendChoice::Gpu, GpuPolicy::Fail, no_gpu));
    assert!(matches!(cli, Err(RunError::Gpu(GpuError::Unavailable(_)))));
    // auto falls back under either policy; cpu never asks for a GPU.
    let auto = pollster::block_on(resolve_backend(
        BackendChoice::Auto,
        GpuPolicy::Fail,
        no_gpu,
    ))
    .unwrap();
    assert!(matches!(auto, Backend::Cpu { reason: Some(_) }));
    let asked = Cell::new(false);
    let cpu = pollster::block_on(resolve_backend(BackendChoice::Cpu, GpuPolicy::Fail, || {
        asked.set(true);
        no_gpu()
    }))
    .unwrap();
    assert!(matches!(cpu, Backend::Cpu { reason: None }) && !asked.get());
}

#[test]
fn a_kernel_too_large_for_the_adapter_falls_back_unless_the_gpu_was_asked_for() {
    let Some(ctx) = common::gpu() else { return };
    let backend = Backend::Gpu(Rc::new(ctx));
    let fake = Fake {
        value: 0.5,
        gpu_error: too_large,
    };
    let auto = problem();
    let out = pollster::block_on(run_method(&fake, &auto, &backend, &Quiet)).unwrap();
    assert_eq!(out.envelope.backend, "cpu");
    assert!(
        out.envelope
            .notes
            .iter()
            .any(|n| n.contains("running on the CPU twin instead"))
    );
    let named = AttentionProblem {
        gpu_required: true,
        ..problem()
    };
    let err = pollster::block_on(run_method(&fake, &named, &backend, &Quiet)).unwrap_err();
    assert!(
        matches!(err, RunError::Gpu(GpuError::TooLarge { .. })),
        "{err}"
    );
    // Any other GPU error fails the run whatever was asked.
    let broken = Fake {
        value: 0.5,
        gpu_error: || GpuError::Readback("lost".into()),
    };
    let err = pollster::block_on(run_method(&broken, &auto, &backend, &Quiet)).unwrap_err();
    assert!(matches!(err, RunError::Gpu(GpuError::Readback(_))), "{err}");
}

#[test]
fn a_non_finite_result_is_refused() {
    let cpu = Backend::Cpu { reason: None };
    let nan = Fake {
        value: f32::NAN,
        gpu_error: too_large,
    };
    let err = pollster::block_on(run_method(&nan, &problem(), &cpu, &Quiet)).unwrap_err();
    assert!(
        matches!(err, RunError::NotFinite(ref what) if what.contains("CPU output")),
        "{err}"
    );
    let fine = Fake {
        value: 0.25,
        gpu_error: too_large,
    };
    let out = pollster::block_on(run_method(&fine, &problem(), &cpu, &Quiet)).unwrap();
    assert!(out.figures.rel_err.is_finite() && out.envelope.notes.is_empty());
}

/// A host superseded after `after` checkpoints (as a page whose user
/// changed a control mid-run).
struct Superseded {
    after: u32,
    seen: Cell<u32>,
}

impl Host for Superseded {
    fn yield_now(&self) -> LocalFuture<'_, ()> {
        self.seen.set(self.seen.get() + 1);
        Box::pin(async {})
    }

    fn cancelled(&self) -> bool {
        self.seen.get() > self.after
    }
}

#[test]
fn a_superseded_run_stops_at_its_next_checkpoint() {
    let cpu = Backend::Cpu { reason: None };
    let fine = Fake {
        value: 0.25,
        gpu_error: too_large,
    };
    for after in [0, 1, 3] {
        let host = Superseded {
            after,
            seen: Cell::new(0),
        };
        let err = pollster::block_on(run_method(&fine, &problem(), &cpu, &host)).unwrap_err();
        assert!(matches!(err, RunError::Cancelled), "after {after}: {err}");
        assert_eq!(
            host.seen.get(),
            after + 1,
            "it stopped at the first checkpoint past {after}"
        );
    }
}

//! Runs the page's settings one at a time: a change while a run is in
//! progress supersedes it (the CPU path stops at its next chunk; a GPU run
//! finishes its dispatches but its result is dropped), and only the newest
//! settings run next.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;

use super::browser::{init_gpu, yield_to_browser};
use crate::attention::LocalFuture;
use crate::gpu::GpuRunOptions;
use crate::run::{Backend, Host, RunError, RunOutput, RunRequest, run};
use crate::settings::{BackendChoice, Settings};

/// What the status line shows.
#[derive(Debug, Clone, PartialEq)]
pub enum RunStatus {
    /// Nothing asked yet.
    Idle,
    /// A run is in progress.
    Running {
        /// What it is doing.
        stage: String,
        /// Share done, 0..=1.
        fraction: f64,
    },
    /// The last run finished.
    Done,
    /// The last run failed.
    Failed(String),
}

/// Which backend the last run used, for the badge.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendInfo {
    /// `"gpu"` or `"cpu"`.
    pub kind: &'static str,
    /// E.g. "WebGPU — SwiftShader Device" or "CPU — WebGPU unavailable: ...".
    pub label: String,
}

/// The page's run queue.
pub struct Runner {
    generation: Cell<u64>,
    pending: RefCell<Option<(u64, Settings)>>,
    busy: Cell<bool>,
    gpu: RefCell<Option<Result<Backend, String>>>,
    status: WriteSignal<RunStatus>,
    result: WriteSignal<Option<Arc<RunOutput>>>,
    backend: WriteSignal<Option<BackendInfo>>,
    superseded: WriteSignal<u32>,
}

impl Runner {
    /// A runner that reports into these signals (`superseded` counts the
    /// runs that stopped early because newer settings arrived).
    pub fn new(
        status: WriteSignal<RunStatus>,
        result: WriteSignal<Option<Arc<RunOutput>>>,
        backend: WriteSignal<Option<BackendInfo>>,
        superseded: WriteSignal<u32>,
    ) -> Rc<Runner> {
        Rc::new(Runner {
            generation: Cell::new(0),
            pending: RefCell::new(None),
            busy: Cell::new(false),
            gpu: RefCell::new(None),
            status,
            result,
            backend,
            superseded,
        })
    }

    /// Asks for a run of `settings`, superseding any earlier request.
    pub fn request(self: &Rc<Self>, settings: Settings) {
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        *self.pending.borrow_mut() = Some((generation, settings));
        if !self.busy.get() {
            self.busy.set(true);
            let this = self.clone();
            leptos::task::spawn_local(async move {
                loop {
                    let next = this.pending.borrow_mut().take();
                    let Some((generation, settings)) = next else {
                        break;
                    };
                    this.run_one(generation, settings).await;
                }
                this.busy.set(false);
            });
        }
    }

    async fn backend_for(&self, choice: BackendChoice) -> (Backend, BackendInfo) {
        if choice == BackendChoice::Cpu {
            let info = BackendInfo {
                kind: "cpu",
                label: "CPU — chosen in the settings (backend=cpu)".into(),
            };
            return (Backend::Cpu { reason: None }, info);
        }
        if self.gpu.borrow().is_none() {
            let made = init_gpu().await.map(|ctx| Backend::Gpu(Rc::new(ctx)));
            *self.gpu.borrow_mut() = Some(made);
        }
        match self.gpu.borrow().as_ref() {
            Some(Ok(Backend::Gpu(ctx))) => (
                Backend::Gpu(ctx.clone()),
                BackendInfo {
                    kind: "gpu",
                    label: format!("WebGPU — {}", ctx.adapter_name),
                },
            ),
            Some(Err(why)) => (
                Backend::Cpu {
                    reason: Some(format!("WebGPU unavailable: {why}")),
                },
                BackendInfo {
                    kind: "cpu",
                    label: format!("CPU — WebGPU unavailable: {why}"),
                },
            ),
            _ => (
                Backend::Cpu {
                    reason: Some("WebGPU unavailable".into()),
                },
                BackendInfo {
                    kind: "cpu",
                    label: "CPU — WebGPU unavailable".into(),
                },
            ),
        }
    }

    async fn run_one(self: &Rc<Self>, generation: u64, settings: Settings) {
        self.status.set(RunStatus::Running {
            stage: "starting".into(),
            fraction: 0.0,
        });
        yield_to_browser().await;
        let (backend, info) = self.backend_for(settings.backend).await;
        if self.generation.get() != generation {
            return;
        }
        self.backend.set(Some(info));
        let mut options = GpuRunOptions::default();
        if matches!(backend, Backend::Cpu { .. }) {
            // The CPU twin repeats only while a pass stays under ~0.2 GFLOP.
            let config = crate::attention::Config {
                causal: settings.causal,
                seed: settings.seed,
                params: &settings.params,
            };
            let shape = settings.shape();
            let flops = settings
                .method
                .method()
                .cost(shape, &config, shape.pairs())
                .flops_algorithmic;
            options.repeats =
                (2.0e8 / flops.max(1) as f64).clamp(1.0, options.repeats as f64) as u32;
        }
        let request = RunRequest::seeded(settings, options);
        let host = PageHost {
            runner: self.clone(),
            generation,
        };
        let outcome = run(&request, &backend, &host).await;
        if self.generation.get() != generation {
            // Superseded: a newer run will report. CPU runs stop at their
            // next chunk; GPU dispatches in flight finish and are dropped.
            self.superseded.update(|count| *count += 1);
            return;
        }
        match outcome {
            Ok(out) => {
                self.result.set(Some(Arc::new(out)));
                self.status.set(RunStatus::Done);
            }
            Err(RunError::Cancelled) => self.superseded.update(|count| *count += 1),
            Err(e) => {
                self.result.set(None);
                self.status.set(RunStatus::Failed(e.to_string()));
            }
        }
    }
}

struct PageHost {
    runner: Rc<Runner>,
    generation: u64,
}

impl Host for PageHost {
    fn progress(&self, stage: &str, fraction: f64) {
        if !self.cancelled() {
            self.runner.status.set(RunStatus::Running {
                stage: stage.into(),
                fraction,
            });
        }
    }

    fn yield_now(&self) -> LocalFuture<'_, ()> {
        Box::pin(yield_to_browser())
    }

    fn cancelled(&self) -> bool {
        self.runner.generation.get() != self.generation
    }
}

//! One explorer run, as a job of the page's runner: resolve the backend
//! (WebGPU found once, or the CPU twin with the reason), build the problem
//! from the settings with the CPU repeat budget, run the attention lab, and
//! deliver the report while the job is still the newest.

use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;

use crate::data::LocalFuture;
use crate::gpu::GpuRunOptions;
use crate::pipeline::attention::{Measurement, run};
use crate::pipeline::jobs::{JobOutcome, Jobs};
use crate::pipeline::{RunError, repeats};
use crate::settings::Settings;
use crate::ui::backend;
use crate::ui::browser::yield_now;
use crate::ui::components::BackendInfo;

/// Where a run delivers what it found.
#[derive(Clone, Copy)]
pub struct RunOut {
    /// The last report (`None` after a failure).
    pub report: WriteSignal<Option<Arc<Measurement>>>,
    /// The backend the last run used.
    pub backend: WriteSignal<Option<BackendInfo>>,
}

/// The explorer's job: the settings, and whether they came from the
/// address when the page opened (its first run; a large n then asks first,
/// see [`backend::confirm_link_run`]).
#[derive(Debug, Clone)]
pub struct ExplorerJob {
    /// The settings to run.
    pub settings: Settings,
    /// The page's first run, from the address.
    pub from_link: bool,
}

/// Runs `job`: the explorer's job.
pub fn run_settings(
    jobs: Rc<Jobs<ExplorerJob>>,
    generation: u64,
    job: ExplorerJob,
    out: RunOut,
) -> LocalFuture<'static, JobOutcome> {
    let ExplorerJob {
        settings,
        from_link,
    } = job;
    Box::pin(async move {
        // Let the page show "starting" before the inputs are generated.
        let (backend, _turn) = match backend::start_job(
            &jobs,
            generation,
            settings.backend,
            Some(out.backend),
        )
        .await
        {
            Ok(started) => started,
            Err(outcome) => return outcome,
        };
        // The inputs drawn in slices: a large n never holds the page.
        let mut problem = settings
            .problem_yielding(GpuRunOptions::default(), &yield_now)
            .await;
        if !jobs.is_current(generation) {
            return JobOutcome::Cancelled;
        }
        let shape = problem.shape();
        let cost = problem
            .method
            .method()
            .cost(shape, &problem.config(), shape.pairs());
        // The pattern's own pairs are counted during the run; asked with
        // the dense n² here, a sparse method's algorithmic count is n²-sized,
        // while the executed count comes from its tile list: the smaller of
        // the two is the prediction (a cheap window at n = 16384 was
        // predicted at 73 s and asked).
        let pass_flops = cost.flops_algorithmic.min(cost.flops);
        problem.options.repeats = repeats(&backend, problem.options.repeats, pass_flops, true);
        let work = pass_flops as f64 * problem.head_count() as f64;
        let asked = if from_link && settings.n > backend::LINK_CONFIRM_N {
            let bytes = cost.bytes_compulsory as f64 * problem.head_count() as f64;
            backend::confirm_link_run(
                &jobs,
                generation,
                &backend,
                settings.n,
                work,
                bytes,
                problem.options.repeats,
            )
            .await
        } else {
            backend::confirm_cpu_run(&jobs, generation, &backend, work, problem.options.repeats)
                .await
        };
        if let Err(outcome) = asked {
            return outcome;
        }
        let host = jobs.host(generation, yield_now);
        let started = web_time::Instant::now();
        let outcome = run(&problem, &backend, &host).await;
        if matches!(backend, crate::pipeline::Backend::Cpu { .. }) && outcome.is_ok() {
            backend::record_cpu_rate(
                work * (problem.options.repeats.max(1) as f64 + 1.0),
                started.elapsed().as_secs_f64(),
            );
        }
        if !jobs.is_current(generation) {
            // Superseded: a newer run reports. CPU runs stop at their next
            // chunk; GPU dispatches in flight finish and are dropped.
            return JobOutcome::Cancelled;
        }
        match outcome {
            Ok(report) => {
                out.report.set(Some(Arc::new(report)));
                JobOutcome::Done
            }
            Err(RunError::Cancelled) => JobOutcome::Cancelled,
            Err(e) => {
                out.report.set(None);
                JobOutcome::Failed(e.to_string())
            }
        }
    })
}

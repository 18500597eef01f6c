//! The one GPU execution layer every kernel family records into.
//!
//! Host code has the shape *prepare → record → read*: a family allocates its
//! buffers and builds its pipelines and bind groups once (prepare), pushes
//! its dispatches into a [`Program`] — the timed ones and, separately, those
//! that only pool views (record) — and [`Program::run`] carries out a warm-up,
//! the timed repeats (GPU timestamps spanning every timed pass when the
//! adapter has `timestamp-query`, else the wall clock per repeat), the view
//! passes once, and then checks wgpu's uncaptured-error queue, so an error
//! is reported by the run that caused it and names its program. The family
//! then reads its buffers back (read).

use web_time::Instant;

use super::bindings::Kernel;
use super::buffers::{self, Timestamps, check_dispatch, scoped};
use super::{GpuContext, GpuError};
use crate::data::timing::Timing;

/// One recorded dispatch.
pub struct Pass {
    label: String,
    pipeline: wgpu::ComputePipeline,
    group: wgpu::BindGroup,
    groups: (u32, u32, u32),
}

impl Pass {
    /// A dispatch of `kernel`'s `pipeline` with `group` over `groups`
    /// workgroups (checked against the adapter's limits).
    pub fn new(
        ctx: &GpuContext,
        kernel: &Kernel,
        pipeline: wgpu::ComputePipeline,
        group: wgpu::BindGroup,
        groups: (u32, u32),
    ) -> Result<Pass, GpuError> {
        let label = kernel.id();
        check_dispatch(ctx, &label, groups.0)?;
        check_dispatch(ctx, &label, groups.1)?;
        Ok(Pass {
            label,
            pipeline,
            group,
            groups: (groups.0, groups.1, 1),
        })
    }

    /// Builds `kernel`'s pipeline (with override `constants`) and its bind
    /// group of the named `buffers` inside an error scope, as a pass over
    /// `groups` workgroups.
    pub async fn build(
        ctx: &GpuContext,
        kernel: &Kernel,
        constants: &[(&str, f64)],
        buffers: &[(&str, &wgpu::Buffer)],
        groups: (u32, u32),
    ) -> Result<Pass, GpuError> {
        let pipeline = kernel.pipeline(ctx, constants).await?;
        let label = kernel.id();
        let group = scoped(ctx, &format!("binding {label}"), || {
            kernel.bind(ctx, &label, buffers)
        })
        .await?;
        Pass::new(ctx, kernel, pipeline, group, groups)
    }

    /// The same pass repeated over `layers` workgroups along z (a batch of
    /// independent problems: the shader reads its item from
    /// `workgroup_id.z`), checked against the adapter's limits.
    pub fn layers(mut self, ctx: &GpuContext, layers: u32) -> Result<Pass, GpuError> {
        check_dispatch(ctx, &self.label, layers)?;
        self.groups.2 = layers;
        Ok(self)
    }

    /// The same pass under another label (shown in GPU debuggers and errors).
    pub fn named(mut self, label: &str) -> Pass {
        self.label = format!("{label} ({})", self.label);
        self
    }

    /// Records the pass, with optional timestamp writes.
    fn record(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        timestamps: Option<wgpu::ComputePassTimestampWrites<'_>>,
    ) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(&self.label),
            timestamp_writes: timestamps,
        });
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.group, &[]);
        pass.dispatch_workgroups(self.groups.0, self.groups.1, self.groups.2);
    }
}

/// The times of a program's timed passes.
#[derive(Debug, Clone, PartialEq)]
pub struct Timed {
    /// Each repeat's time, in milliseconds.
    pub samples: Vec<f64>,
    /// How they were measured.
    pub timing: Timing,
}

/// A view step: a dispatch, or a copy between buffers (e.g. a row of
/// statistics into a view's input).
enum ViewStep {
    Pass(Pass),
    Copy {
        src: wgpu::Buffer,
        offset: u64,
        dst: wgpu::Buffer,
        bytes: u64,
    },
}

/// A replayable sequence of dispatches: the timed passes (one run of the
/// method) and the view steps (pooling for the views, run once after).
pub struct Program {
    label: String,
    timed: Vec<Pass>,
    views: Vec<ViewStep>,
    /// Bytes of device memory the program's own buffers occupy.
    pub memory_bytes: u64,
}

impl Program {
    /// An empty program; `label` names it in errors.
    pub fn new(label: impl Into<String>) -> Program {
        Program {
            label: label.into(),
            timed: Vec::new(),
            views: Vec::new(),
            memory_bytes: 0,
        }
    }

    /// Appends a timed pass.
    pub fn time(&mut self, pass: Pass) {
        self.timed.push(pass);
    }

    /// Appends a pass that pools a view (run once, untimed).
    pub fn view(&mut self, pass: Pass) {
        self.views.push(ViewStep::Pass(pass));
    }

    /// Appends, among the view steps, a copy of `bytes` from `src` at
    /// `offset` to the start of `dst`.
    pub fn view_copy(&mut self, src: &wgpu::Buffer, offset: u64, dst: &wgpu::Buffer, bytes: u64) {
        self.views.push(ViewStep::Copy {
            src: src.clone(),
            offset,
            dst: dst.clone(),
            bytes,
        });
    }

    /// Appends another program's passes and memory.
    pub fn extend(&mut self, other: Program) {
        self.timed.extend(other.timed);
        self.views.extend(other.views);
        self.memory_bytes += other.memory_bytes;
    }

    /// The same program without its view steps (a pass whose views nobody
    /// reads: the Compressive Transformer's local attention).
    pub fn without_views(mut self) -> Program {
        self.views.clear();
        self
    }

    /// Whether it has no timed pass.
    pub fn is_empty(&self) -> bool {
        self.timed.is_empty()
    }

    /// Its label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Records the timed passes once; with `timestamps`, pair `slot` spans
    /// them all.
    fn record_timed(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        timestamps: Option<(&Timestamps, u32)>,
    ) {
        let last = self.timed.len().saturating_sub(1);
        for (idx, pass) in self.timed.iter().enumerate() {
            let writes = timestamps.and_then(|(t, slot)| t.span(slot, idx == 0, idx == last));
            pass.record(encoder, writes);
        }
    }

    fn encoder(
        &self,
        ctx: &GpuContext,
        timestamps: Option<(&Timestamps, u32)>,
    ) -> wgpu::CommandEncoder {
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some(&self.label),
            });
        self.record_timed(&mut enc, timestamps);
        enc
    }

    /// Runs it: one untimed warm-up, `repeats` timed runs, the view passes
    /// once; then checks for errors that escaped every scope.
    pub async fn run(&self, ctx: &GpuContext, repeats: u32) -> Result<Timed, GpuError> {
        let repeats = repeats.max(1);
        // Every program checks the queue when it ends, so anything left here
        // came from outside a program (a readback after the device was lost):
        // it was reported there, not by this run.
        ctx.take_uncaptured_errors();
        self.sustain(ctx).await?;
        let timed = if self.timed.is_empty() {
            Timed {
                samples: vec![0.0; repeats as usize],
                timing: Timing::WallClock,
            }
        } else {
            match Timestamps::new(ctx, &self.label, repeats) {
                Some(t) => self.run_with_timestamps(ctx, &t, repeats).await?,
                None => self.run_with_wall_clock(ctx, repeats).await?,
            }
        };
        if !self.views.is_empty() {
            scoped(ctx, &format!("{}: pooling the views", self.label), || {
                let mut enc = ctx.device.create_command_encoder(&Default::default());
                for step in &self.views {
                    match step {
                        ViewStep::Pass(pass) => pass.record(&mut enc, None),
                        ViewStep::Copy {
                            src,
                            offset,
                            dst,
                            bytes,
                        } => enc.copy_buffer_to_buffer(src, *offset, dst, 0, *bytes),
                    }
                }
                ctx.queue.submit([enc.finish()]);
                Ok(())
            })
            .await?;
        }
        self.check(ctx).await?;
        Ok(timed)
    }

    /// Replays the timed passes untimed until the context's `warmup_ms`
    /// have passed (nothing when it is 0): GPU clocks ramp up under a
    /// sustained load, and a short benchmark would otherwise time a GPU
    /// still at idle clocks (measured on an H200: the first 150 ms of an
    /// 8192³ product ran 5× slower than the rest).
    async fn sustain(&self, ctx: &GpuContext) -> Result<(), GpuError> {
        let budget = ctx.warmup_ms.get() as f64;
        if budget <= 0.0 || self.timed.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        while started.elapsed().as_secs_f64() * 1e3 < budget {
            scoped(ctx, &format!("{} (sustained warm-up)", self.label), || {
                ctx.queue.submit([self.encoder(ctx, None).finish()]);
                Ok(())
            })
            .await?;
            buffers::wait_idle(ctx).await?;
        }
        Ok(())
    }

    async fn run_with_timestamps(
        &self,
        ctx: &GpuContext,
        t: &Timestamps,
        repeats: u32,
    ) -> Result<Timed, GpuError> {
        scoped(ctx, &self.label, || {
            let mut encoders = vec![self.encoder(ctx, None).finish()];
            encoders.extend((0..repeats).map(|i| self.encoder(ctx, Some((t, i))).finish()));
            let mut resolve = ctx.device.create_command_encoder(&Default::default());
            t.resolve(&mut resolve);
            encoders.push(resolve.finish());
            ctx.queue.submit(encoders);
            Ok(())
        })
        .await?;
        Ok(Timed {
            samples: t.read_ms(ctx).await?,
            timing: Timing::GpuTimestamp,
        })
    }

    async fn run_with_wall_clock(&self, ctx: &GpuContext, repeats: u32) -> Result<Timed, GpuError> {
        scoped(ctx, &format!("{} (warm-up)", self.label), || {
            ctx.queue.submit([self.encoder(ctx, None).finish()]);
            Ok(())
        })
        .await?;
        buffers::wait_idle(ctx).await?;
        let mut samples = Vec::with_capacity(repeats as usize);
        for _ in 0..repeats {
            let started = Instant::now();
            ctx.queue.submit([self.encoder(ctx, None).finish()]);
            buffers::wait_idle(ctx).await?;
            samples.push(started.elapsed().as_secs_f64() * 1e3);
        }
        Ok(Timed {
            samples,
            timing: Timing::WallClock,
        })
    }

    /// Fails with the errors wgpu reported outside any scope since the run
    /// began (asynchronous validation, device loss), naming this program.
    async fn check(&self, ctx: &GpuContext) -> Result<(), GpuError> {
        buffers::wait_idle(ctx).await?;
        let uncaptured = ctx.take_uncaptured_errors();
        if uncaptured.is_empty() {
            Ok(())
        } else {
            Err(GpuError::Device {
                stage: self.label.clone(),
                message: uncaptured.join("; "),
            })
        }
    }

    /// Fault injection for the tests of this layer: appends a timed pass
    /// whose dispatch exceeds the adapter's workgroup limit, a validation
    /// error that only the device reports.
    pub fn inject_oversized_dispatch(&mut self) {
        if let Some(pass) = self.timed.last() {
            let over = u32::MAX;
            self.timed.push(Pass {
                label: format!("{} (injected fault)", pass.label),
                pipeline: pass.pipeline.clone(),
                group: pass.group.clone(),
                groups: (over, 1, 1),
            });
        }
    }
}

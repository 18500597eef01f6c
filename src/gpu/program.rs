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
//!
//! The work is submitted in pieces — the warm-up one pass at a time, then
//! the timed repeats in groups of about [`PIECE_MS`] each (or, when one
//! repeat of several passes takes over twice that, one pass at a time, each
//! pass timed on its own and a repeat's time their sum), then the views —
//! and each piece is awaited before the next: between pieces a [`Watch`] installed on the
//! context ([`GpuContext::set_watch`], the page's job) learns how many are
//! done and may stop the run ([`GpuError::Cancelled`]). A Stop or a newer
//! request so waits for one piece at most instead of every repeat queued at
//! once (issue 12: 91.6 s to supersede a run on SwiftShader). A repeat
//! stays in one submission, so its timestamps span GPU work only.

use web_time::Instant;

use super::bindings::Kernel;
use super::buffers::{self, Timestamps, check_dispatch, scoped};
use super::{GpuContext, GpuError};
use crate::data::timing::{PassTime, Timing, median};

/// About how long one piece of a program's timed repeats runs before the
/// program awaits it and asks its [`Watch`] whether to go on (ms; the
/// default of [`GpuContext::piece_ms`]).
pub const PIECE_MS: f64 = 250.0;

/// Who watches a program run (the page's job): whether to stop, and the
/// pieces done. Installed on the context with [`GpuContext::set_watch`].
pub trait Watch {
    /// Whether the run should stop at the next piece.
    fn cancelled(&self) -> bool;
    /// `done` of `total` pieces of `program` have finished after
    /// `elapsed_ms` of this program's wall-clock time.
    fn piece(&self, program: &str, done: u32, total: u32, elapsed_ms: f64);
}

/// How many timed repeats go in one piece of about `piece_ms`, after a
/// warm-up run that took `warmup_ms` of wall clock: at least one, at most
/// `repeats` (a fast GPU keeps every repeat in one submission).
pub fn repeats_per_piece(piece_ms: f64, warmup_ms: f64, repeats: u32) -> u32 {
    let repeats = repeats.max(1);
    if warmup_ms.is_nan() || warmup_ms <= 0.0 {
        return repeats;
    }
    ((piece_ms / warmup_ms).floor() as u32).clamp(1, repeats)
}

/// The progress of one program run, reported to the context's watch.
struct Pieces<'a> {
    ctx: &'a GpuContext,
    label: &'a str,
    done: u32,
    total: u32,
    started: Instant,
}

impl Pieces<'_> {
    /// Counts `count` more pieces done and asks whether to go on.
    fn done(&mut self, count: u32) -> Result<(), GpuError> {
        self.done = (self.done + count).min(self.total);
        let elapsed = self.started.elapsed().as_secs_f64() * 1e3;
        match self.ctx.watch() {
            Some(w) => {
                w.piece(self.label, self.done, self.total, elapsed);
                if w.cancelled() {
                    return Err(GpuError::Cancelled);
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Announces the pieces (none done yet), or stops before any work when
    /// the run is already cancelled.
    fn check(&self) -> Result<(), GpuError> {
        match self.ctx.watch() {
            Some(w) if w.cancelled() => Err(GpuError::Cancelled),
            Some(w) => {
                w.piece(self.label, 0, self.total, 0.0);
                Ok(())
            }
            None => Ok(()),
        }
    }
}

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
    /// Each timed pass's time, when asked for ([`Program::pass_times`];
    /// else empty).
    pub passes: Vec<PassTime>,
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

    /// Runs it: an untimed warm-up (one run, or as long as
    /// [`Self::sustain`] says), `repeats` timed runs, the view passes once —
    /// each piece awaited, with the context's [`Watch`] told and asked
    /// between pieces; then checks for errors that escaped every scope, and
    /// records on the context that the GPU has just worked.
    pub async fn run(&self, ctx: &GpuContext, repeats: u32) -> Result<Timed, GpuError> {
        let repeats = repeats.max(1);
        // Every program checks the queue when it ends, so anything left here
        // came from outside a program (a readback after the device was lost):
        // it was reported there, not by this run.
        ctx.take_uncaptured_errors();
        if let Some(why) = ctx.lost() {
            return Err(GpuError::Lost(why));
        }
        let mut pieces = Pieces {
            ctx,
            label: &self.label,
            done: 0,
            // The warm-up's passes, each repeat (the upper bound: repeats go
            // in groups), the views.
            total: self.timed.len() as u32 + repeats + u32::from(!self.views.is_empty()),
            started: Instant::now(),
        };
        pieces.check()?;
        let timed = if self.timed.is_empty() {
            pieces.done(repeats)?;
            Timed {
                samples: vec![0.0; repeats as usize],
                timing: Timing::WallClock,
                passes: Vec::new(),
            }
        } else {
            let warmup_ms = self.warm_up(ctx, &mut pieces).await?;
            let passes = self.timed.len() as u32;
            let piece_ms = ctx.piece_ms.get();
            if passes > 1 && warmup_ms > 2.0 * piece_ms {
                pieces.total += repeats * (passes - 1);
                let t = Timestamps::new(ctx, &self.label, repeats * passes);
                self.run_pass_by_pass(ctx, t.as_ref(), repeats, &mut pieces)
                    .await?
            } else {
                let per_piece = repeats_per_piece(piece_ms, warmup_ms, repeats);
                match Timestamps::new(ctx, &self.label, repeats) {
                    Some(t) => {
                        self.run_with_timestamps(ctx, &t, repeats, per_piece, &mut pieces)
                            .await?
                    }
                    None => self.run_with_wall_clock(ctx, repeats, &mut pieces).await?,
                }
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
        if !self.views.is_empty() {
            pieces.done(1)?;
        }
        ctx.mark_busy();
        Ok(timed)
    }

    /// The untimed warm-up: one run, a pass at a time, each awaited, then
    /// [`Self::sustain`]; returns the run's wall-clock time (ms), which
    /// sizes the pieces.
    async fn warm_up(&self, ctx: &GpuContext, pieces: &mut Pieces<'_>) -> Result<f64, GpuError> {
        let mut warmup_ms = 0.0;
        for pass in &self.timed {
            let started = Instant::now();
            scoped(ctx, &format!("{} (warm-up)", self.label), || {
                let mut enc = ctx.device.create_command_encoder(&Default::default());
                pass.record(&mut enc, None);
                ctx.queue.submit([enc.finish()]);
                Ok(())
            })
            .await?;
            buffers::wait_idle(ctx).await?;
            warmup_ms += started.elapsed().as_secs_f64() * 1e3;
            pieces.done(1)?;
        }
        self.sustain(ctx, pieces).await?;
        Ok(warmup_ms)
    }

    /// The timed repeats of a slow program one pass to a submission, so a
    /// Stop waits for one pass at most: each pass timed on its own (its own
    /// timestamp pair, else the wall clock from its submission to its
    /// completion) and a repeat's time the sum of its passes'. The idle
    /// spells between submissions are left out of the timestamps.
    async fn run_pass_by_pass(
        &self,
        ctx: &GpuContext,
        t: Option<&Timestamps>,
        repeats: u32,
        pieces: &mut Pieces<'_>,
    ) -> Result<Timed, GpuError> {
        let passes = self.timed.len() as u32;
        let mut wall = vec![0.0; repeats as usize];
        for (i, total) in wall.iter_mut().enumerate() {
            for (k, pass) in self.timed.iter().enumerate() {
                let slot = i as u32 * passes + k as u32;
                let started = Instant::now();
                scoped(ctx, &self.label, || {
                    let mut enc = ctx.device.create_command_encoder(&Default::default());
                    pass.record(&mut enc, t.and_then(|t| t.span(slot, true, true)));
                    ctx.queue.submit([enc.finish()]);
                    Ok(())
                })
                .await?;
                buffers::wait_idle(ctx).await?;
                *total += started.elapsed().as_secs_f64() * 1e3;
                pieces.done(1)?;
            }
        }
        let Some(t) = t else {
            return Ok(Timed {
                samples: wall,
                timing: Timing::WallClock,
                passes: Vec::new(),
            });
        };
        scoped(ctx, &format!("{}: timestamps", self.label), || {
            let mut resolve = ctx.device.create_command_encoder(&Default::default());
            t.resolve(&mut resolve);
            ctx.queue.submit([resolve.finish()]);
            Ok(())
        })
        .await?;
        let per_pass = t.read_ms(ctx).await?;
        Ok(Timed {
            samples: per_pass
                .chunks(passes as usize)
                .map(|c| c.iter().sum())
                .collect(),
            timing: Timing::GpuTimestamp,
            passes: Vec::new(),
        })
    }

    /// Replays the timed passes untimed until the context's `warmup_ms`
    /// have passed, and at least the ramp a GPU needs after an idle spell
    /// ([`GpuContext::ramp_ms`]; nothing when both are 0): GPU clocks ramp
    /// up under a sustained load, and a short benchmark would otherwise time
    /// a GPU still at idle clocks (measured on an H200: the first 150 ms of
    /// an 8192³ product ran 5× slower than the rest; linear attention 3.8×
    /// slower after the 3.5–3.9 s of CPU checks of a previous method, see
    /// [`super::context::IdleRamp`]).
    async fn sustain(&self, ctx: &GpuContext, pieces: &mut Pieces<'_>) -> Result<(), GpuError> {
        let budget = ctx.warmup_ms.get().max(ctx.ramp_ms()) as f64;
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
            pieces.done(0)?;
        }
        Ok(())
    }

    /// The timed repeats `per_piece` to a submission, each repeat's passes
    /// spanned by timestamp pair `i`; the pairs resolved and read at the end.
    async fn run_with_timestamps(
        &self,
        ctx: &GpuContext,
        t: &Timestamps,
        repeats: u32,
        per_piece: u32,
        pieces: &mut Pieces<'_>,
    ) -> Result<Timed, GpuError> {
        let mut next = 0;
        while next < repeats {
            let end = (next + per_piece).min(repeats);
            scoped(ctx, &self.label, || {
                let encoders: Vec<_> = (next..end)
                    .map(|i| self.encoder(ctx, Some((t, i))).finish())
                    .collect();
                ctx.queue.submit(encoders);
                Ok(())
            })
            .await?;
            buffers::wait_idle(ctx).await?;
            pieces.done(end - next)?;
            next = end;
        }
        scoped(ctx, &format!("{}: timestamps", self.label), || {
            let mut resolve = ctx.device.create_command_encoder(&Default::default());
            t.resolve(&mut resolve);
            ctx.queue.submit([resolve.finish()]);
            Ok(())
        })
        .await?;
        Ok(Timed {
            samples: t.read_ms(ctx).await?,
            timing: Timing::GpuTimestamp,
            passes: Vec::new(),
        })
    }

    /// The timed repeats one to a submission, each timed by the wall clock
    /// from its submission to its completion.
    async fn run_with_wall_clock(
        &self,
        ctx: &GpuContext,
        repeats: u32,
        pieces: &mut Pieces<'_>,
    ) -> Result<Timed, GpuError> {
        let mut samples = Vec::with_capacity(repeats as usize);
        for _ in 0..repeats {
            let started = Instant::now();
            ctx.queue.submit([self.encoder(ctx, None).finish()]);
            buffers::wait_idle(ctx).await?;
            samples.push(started.elapsed().as_secs_f64() * 1e3);
            pieces.done(1)?;
        }
        Ok(Timed {
            samples,
            timing: Timing::WallClock,
            passes: Vec::new(),
        })
    }

    /// Each timed pass's GPU time, for finding where a program's time goes
    /// (`flt bench --pass-times`): `repeats` replays of the timed passes
    /// back to back, as a timed repeat runs them, each pass between its own
    /// pair of timestamps; per pass the median over the replays. Run after
    /// [`Self::run`] (warm). Empty when the device has no timestamp queries;
    /// with more pass-replays than one query set holds, fewer replays.
    pub async fn pass_times(
        &self,
        ctx: &GpuContext,
        repeats: u32,
    ) -> Result<Vec<PassTime>, GpuError> {
        let passes = self.timed.len() as u32;
        if passes == 0 {
            return Ok(Vec::new());
        }
        if 2 * passes > wgpu::QUERY_SET_MAX_QUERIES {
            return Ok(Vec::new());
        }
        let replays = repeats.clamp(1, wgpu::QUERY_SET_MAX_QUERIES / (2 * passes));
        let label = format!("{} (per pass)", self.label);
        let Some(t) = Timestamps::new(ctx, &label, replays * passes) else {
            return Ok(Vec::new());
        };
        for r in 0..replays {
            scoped(ctx, &label, || {
                let mut enc = ctx.device.create_command_encoder(&Default::default());
                for (k, pass) in self.timed.iter().enumerate() {
                    pass.record(&mut enc, t.span(r * passes + k as u32, true, true));
                }
                ctx.queue.submit([enc.finish()]);
                Ok(())
            })
            .await?;
            buffers::wait_idle(ctx).await?;
        }
        scoped(ctx, &format!("{label}: timestamps"), || {
            let mut resolve = ctx.device.create_command_encoder(&Default::default());
            t.resolve(&mut resolve);
            ctx.queue.submit([resolve.finish()]);
            Ok(())
        })
        .await?;
        let ms = t.read_ms(ctx).await?;
        Ok(self
            .timed
            .iter()
            .enumerate()
            .map(|(k, pass)| {
                let samples: Vec<f64> = (0..replays as usize)
                    .map(|r| ms[r * passes as usize + k])
                    .collect();
                PassTime {
                    pass: pass.label.clone(),
                    time_ms: median(&samples),
                    time_ms_samples: samples,
                }
            })
            .collect())
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

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::time::Duration;

    use web_time::Instant;

    use super::super::context::IdleRamp;
    use super::super::linalg::Builder;
    use super::*;

    #[test]
    fn the_ramp_follows_an_idle_spell_on_hardware_only() {
        let r = IdleRamp::DEFAULT;
        assert_eq!(r.warmup_ms("DiscreteGpu", 0.0), 0);
        assert_eq!(r.warmup_ms("DiscreteGpu", r.idle_after_ms - 1.0), 0);
        assert_eq!(r.warmup_ms("DiscreteGpu", r.idle_after_ms), r.ramp_ms);
        assert_eq!(r.warmup_ms("IntegratedGpu", 60_000.0), r.ramp_ms);
        assert_eq!(r.warmup_ms("Cpu", 60_000.0), 0);
        // Below the 1.5 s after which the H200's clocks fell, and at least
        // the 1000 ms of load that restored them in every case measured.
        assert!(r.idle_after_ms < 1500.0 && r.ramp_ms >= 1000);
    }

    /// Wall-clock milliseconds of one run of a 16 × 16 product.
    fn run_ms(ctx: &GpuContext, program: &Program) -> f64 {
        let started = Instant::now();
        pollster::block_on(program.run(ctx, 1)).expect("the product runs");
        started.elapsed().as_secs_f64() * 1e3
    }

    /// On the software adapter with its type set to a hardware GPU's: right
    /// after a program the context owes no ramp (`mark_busy`); after an
    /// idle spell it owes one and the next program keeps the GPU busy for
    /// it first; a `Cpu` adapter never owes one. The ramp is checked by the
    /// context's own account ([`GpuContext::ramp_ms`]) and by a lower bound
    /// on the wall time only — an upper bound on a software adapter's run
    /// failed on a loaded 2-core machine (458 ms for a 16 × 16 product).
    /// Without `mark_busy` the first check fails; without the ramp in
    /// `sustain`, the lower bound.
    #[test]
    fn a_program_after_an_idle_spell_keeps_the_gpu_busy_for_the_ramp_first() {
        let Ok(mut ctx) = pollster::block_on(GpuContext::new()) else {
            assert!(
                std::env::var("CI").is_err(),
                "CI=true but no GPU adapter (install mesa-vulkan-drivers)"
            );
            eprintln!("skipping: no GPU adapter");
            return;
        };
        let software = ctx.device_type.clone();
        ctx.device_type = "DiscreteGpu".into();
        let ramp = IdleRamp {
            idle_after_ms: 300.0,
            ramp_ms: 400,
        };
        ctx.idle_ramp.set(ramp);
        let mut b = Builder::new(&ctx, "idle ramp test");
        let data: Vec<f32> = (0..256).map(|i| i as f32 / 256.0).collect();
        let a = b.upload("a", &data, 16, 16).expect("fits");
        pollster::block_on(b.matmul("c", &a, false, &a, false, 1.0)).expect("records");
        let program = b.program;
        run_ms(&ctx, &program); // pipelines built, the GPU has just worked
        assert_eq!(ctx.ramp_ms(), 0, "no idle spell after a run");
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(ctx.ramp_ms(), ramp.ramp_ms, "an idle spell");
        let idle = run_ms(&ctx, &program);
        assert!(
            idle >= ramp.ramp_ms as f64,
            "after 350 ms idle only {idle} ms"
        );
        assert_eq!(ctx.ramp_ms(), 0, "the ramp ran: no idle spell after it");
        ctx.device_type = software;
        std::thread::sleep(Duration::from_millis(350));
        if ctx.device_type == "Cpu" {
            assert_eq!(ctx.ramp_ms(), 0, "a software adapter owes no ramp");
        }
    }

    #[test]
    fn repeats_go_in_pieces_of_about_the_piece_time() {
        assert_eq!(
            repeats_per_piece(250.0, 0.01, 20),
            20,
            "a fast GPU: one piece"
        );
        assert_eq!(repeats_per_piece(250.0, 100.0, 20), 2);
        assert_eq!(
            repeats_per_piece(250.0, 5000.0, 20),
            1,
            "a slow one: one each"
        );
        assert_eq!(repeats_per_piece(250.0, f64::NAN, 3), 3);
        assert_eq!(repeats_per_piece(250.0, 10.0, 0), 1);
    }

    /// Records the pieces a program reports and cancels after `stop_after`.
    struct Recorder {
        seen: std::cell::RefCell<Vec<(u32, u32)>>,
        stop_after: u32,
    }

    impl Watch for Recorder {
        fn cancelled(&self) -> bool {
            self.seen
                .borrow()
                .last()
                .is_some_and(|(done, _)| *done >= self.stop_after)
        }
        fn piece(&self, _: &str, done: u32, total: u32, _: f64) {
            self.seen.borrow_mut().push((done, total));
        }
    }

    /// A two-pass product chain split into single passes (`piece_ms` 0):
    /// the watch sees every piece counted up to the total (2 warm-up passes
    /// and 3 repeats × 2 passes), each repeat timed as the sum of its passes,
    /// the same result as the unsplit program; and a watch that says stop
    /// after 3 pieces ends the run there with `Cancelled`, no piece
    /// reported after. Ignoring the watch, or not splitting, fails it.
    #[test]
    fn a_watch_counts_the_pieces_and_stops_the_program_between_them() {
        let Ok(ctx) = pollster::block_on(GpuContext::new()) else {
            assert!(
                std::env::var("CI").is_err(),
                "CI=true but no GPU adapter (install mesa-vulkan-drivers)"
            );
            eprintln!("skipping: no GPU adapter");
            return;
        };
        let mut b = Builder::new(&ctx, "pieces test");
        let data: Vec<f32> = (0..64).map(|i| (i % 7) as f32 / 7.0).collect();
        let a = b.upload("a", &data, 8, 8).expect("fits");
        let c = pollster::block_on(b.matmul("c", &a, false, &a, false, 1.0)).expect("records");
        let e = pollster::block_on(b.matmul("e", &c, false, &a, true, 1.0)).expect("records");
        let program = b.program;
        assert_eq!(program.timed.len(), 2);
        pollster::block_on(program.run(&ctx, 3)).expect("unsplit");
        let whole = pollster::block_on(e.read(&ctx)).expect("read");

        ctx.piece_ms.set(0.0);
        let all = std::rc::Rc::new(Recorder {
            seen: Default::default(),
            stop_after: u32::MAX,
        });
        ctx.set_watch(Some(all.clone()));
        let timed = pollster::block_on(program.run(&ctx, 3)).expect("split");
        let split = pollster::block_on(e.read(&ctx)).expect("read");
        assert_eq!(whole, split, "splitting changed the result");
        assert_eq!(timed.samples.len(), 3);
        assert!(timed.samples.iter().all(|t| *t > 0.0), "{timed:?}");
        let seen = all.seen.borrow().clone();
        let done: Vec<u32> = seen.iter().map(|p| p.0).collect();
        assert_eq!(done, (0..=8).collect::<Vec<_>>(), "{seen:?}");
        assert_eq!(seen.last(), Some(&(8, 8)));

        let stopper = std::rc::Rc::new(Recorder {
            seen: Default::default(),
            stop_after: 3,
        });
        ctx.set_watch(Some(stopper.clone()));
        let stopped = pollster::block_on(program.run(&ctx, 3));
        assert!(matches!(stopped, Err(GpuError::Cancelled)), "{stopped:?}");
        assert_eq!(stopper.seen.borrow().last(), Some(&(3, 8)));
        ctx.set_watch(None);
        pollster::block_on(program.run(&ctx, 1)).expect("runs again without a watch");
    }
}

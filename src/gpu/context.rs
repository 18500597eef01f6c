//! The GPU context: adapter, device, queue, limits and features, built once
//! and shared by every run; caches of shader modules and pipelines so a run
//! never recompiles a kernel it has already built; and when the GPU last
//! worked, so that a program after an idle spell ramps its clocks up before
//! timing ([`IdleRamp`]); whether the device was lost (wgpu's device-lost
//! callback), so that its owner drops it and creates another; and the
//! [`Watch`] of the run in progress, which programs consult between pieces.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use web_time::Instant;

use super::GpuError;
use super::program::Watch;

/// How a program warms up a GPU that has been idle: a GPU left idle lowers
/// its clocks and raises them again only under a sustained load, so the
/// first program after an idle spell would otherwise be timed at idle clocks.
///
/// Measured on an H200 (wgpu 30 over Vulkan, driver 580, 2026-11-29, SM
/// clocks sampled every 50 ms by nvidia-smi): creating the device raises
/// the SM clock from 345 to 1980 MHz; 1.5–3.5 s after the last GPU work it
/// falls back to 345 MHz. Linear attention at n = 16384 then timed 1.39 ms
/// instead of 0.365 (every pass slower, stable over 20 repeats): after the
/// 3.5–3.9 s of CPU checks that follow `full` in the same process, and equally
/// after a forced idle spell of 2–5 s between two linear runs, so the
/// previous method was not the cause. A fresh device, or an untimed load
/// first, restored it: after an idle spell 100 ms of load did not (1.39 ms),
/// 200 ms did in one program of four, 500 ms in one of one, 1000 ms
/// (`--warmup-ms 1000`) in every case (after `full`, after 5 s idle).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdleRamp {
    /// Idle at least this long, a hardware GPU may have lowered its clocks
    /// (below the 1.5 s after which the H200's did).
    pub idle_after_ms: f64,
    /// The untimed load a program then runs first.
    pub ramp_ms: u32,
}

impl IdleRamp {
    /// The measured default: 1000 ms of load after 1000 ms idle.
    pub const DEFAULT: IdleRamp = IdleRamp {
        idle_after_ms: 1000.0,
        ramp_ms: 1000,
    };

    /// The untimed warm-up, in milliseconds, that a program needs on an
    /// adapter of `device_type` (wgpu's `DeviceType` as text) idle for
    /// `idle_ms`: the ramp on a hardware GPU idle long enough, else 0 (one
    /// untimed run suffices). A software adapter (`Cpu`, e.g. lavapipe) has
    /// no clocks to ramp.
    pub fn warmup_ms(&self, device_type: &str, idle_ms: f64) -> u32 {
        if device_type == "Cpu" || idle_ms < self.idle_after_ms {
            0
        } else {
            self.ramp_ms
        }
    }
}

/// What a compute pipeline was built from: enough to build it again
/// outside wgpu ([`GpuContext::pipeline_recipes`]).
#[derive(Clone, Debug)]
pub struct PipelineRecipe {
    /// The key it is cached under: module, entry point, constants.
    pub key: String,
    /// Its module's source.
    pub source: fn() -> wgpu::ShaderModuleDescriptor<'static>,
    /// The runtime checks the module was compiled with (`None`: wgpu's
    /// default, all on).
    pub checks: Option<wgpu::ShaderRuntimeChecks>,
    /// The entry point.
    pub entry: String,
    /// The override constants.
    pub constants: Vec<(String, f64)>,
}

/// Device and queue with what was learnt about the adapter.
pub struct GpuContext {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// Adapter name, e.g. `"NVIDIA H100 80GB HBM3"` or `"llvmpipe (LLVM 15.0.6, 256 bits)"`.
    pub adapter_name: String,
    /// Graphics API under wgpu: `"Vulkan"`, `"Metal"`, `"Dx12"`, `"WebGPU"`, ...
    pub api: String,
    /// Adapter type (`"DiscreteGpu"`, `"Cpu"`, ...).
    pub device_type: String,
    /// The limits the device was created with (the adapter's own).
    pub limits: wgpu::Limits,
    /// Whether timestamp queries are enabled.
    pub timestamps: bool,
    /// The driver and its version (`"NVIDIA 580.159"`, `"llvmpipe Mesa 22.3.6"`),
    /// as the adapter reports them (part of the autotuner's cache key).
    pub driver: String,
    /// With the `subgroups` feature enabled: the adapter's smallest and
    /// largest subgroup sizes (the flash kernel's row reductions use
    /// subgroup shuffles only where a row's threads fit the smallest).
    pub subgroups: Option<(u32, u32)>,
    /// Whether the device has f16 cooperative matrices — tensor cores —
    /// of 16 × 16 × 16 with f32 accumulators in subgroups of 32 (natively,
    /// where the adapter offers them: `shader-f16` and wgpu's experimental
    /// cooperative matrices; `flash_f16` runs only then).
    pub coop_f16: bool,
    /// Every program's warm-up keeps the GPU busy (untimed) for at least
    /// this long before its timed repeats, so that a benchmark sees the
    /// clocks a sustained load gets (0: one untimed run; the CLI's
    /// `--warmup-ms`).
    pub warmup_ms: Cell<u32>,
    /// How programs warm up the GPU after an idle spell.
    pub idle_ramp: Cell<IdleRamp>,
    /// About how long one piece of a program runs between two checks of
    /// the watch (ms; [`super::program::PIECE_MS`]; tests set 0 to split
    /// every program into single passes).
    pub piece_ms: Cell<f64>,
    /// When the device last finished a program's work (or was created).
    last_busy: Cell<Instant>,
    uncaptured: Arc<Mutex<Vec<String>>>,
    lost: Arc<Mutex<Option<String>>>,
    watch: RefCell<Option<Rc<dyn Watch>>>,
    modules: RefCell<HashMap<&'static str, wgpu::ShaderModule>>,
    layouts: RefCell<HashMap<String, (wgpu::BindGroupLayout, wgpu::PipelineLayout)>>,
    pipelines: RefCell<HashMap<String, wgpu::ComputePipeline>>,
    recipes: RefCell<Vec<PipelineRecipe>>,
}

/// The features the f16 tensor-core kernel needs.
const COOP_F16_FEATURES: wgpu::Features = wgpu::Features::SHADER_F16
    .union(wgpu::Features::SUBGROUP)
    .union(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX);

/// Whether `adapter` offers what `flash_f16.wgsl` uses: f16 arithmetic,
/// subgroups of exactly 32, and subgroup-scoped cooperative matrices of 16
/// × 16 × 16 with f16 operands and f32 accumulators. Native only (wgpu's
/// cooperative matrices are not part of WebGPU).
fn offers_coop_f16(adapter: &wgpu::Adapter, info: &wgpu::AdapterInfo) -> bool {
    if cfg!(target_arch = "wasm32")
        || !adapter.features().contains(COOP_F16_FEATURES)
        || (info.subgroup_min_size, info.subgroup_max_size) != (32, 32)
    {
        return false;
    }
    use wgpu::CooperativeScalarType as S;
    adapter.cooperative_matrix_properties().iter().any(|p| {
        (p.m_size, p.n_size, p.k_size) == (16, 16, 16) && p.ab_type == S::F16 && p.cr_type == S::F32
    })
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter_name", &self.adapter_name)
            .field("api", &self.api)
            .field("timestamps", &self.timestamps)
            .finish_non_exhaustive()
    }
}

impl GpuContext {
    /// Finds the high-performance adapter (honouring `WGPU_BACKEND` and
    /// friends natively) and creates a device with the adapter's full limits
    /// and, when offered, `timestamp-query` and `subgroups`.
    pub async fn new() -> Result<GpuContext, GpuError> {
        GpuContext::from_adapter(&GpuContext::adapter().await?).await
    }

    /// The high-performance adapter.
    pub async fn adapter() -> Result<wgpu::Adapter, GpuError> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::Unavailable(format!("no GPU adapter ({e})")))
    }

    /// Creates the device on a given adapter, with all of its limits.
    pub async fn from_adapter(adapter: &wgpu::Adapter) -> Result<GpuContext, GpuError> {
        GpuContext::with_limits(adapter, adapter.limits()).await
    }

    /// Creates the device with the given limits (tests use small ones to
    /// exercise the checks made before allocating).
    pub async fn with_limits(
        adapter: &wgpu::Adapter,
        limits: wgpu::Limits,
    ) -> Result<GpuContext, GpuError> {
        let info = adapter.get_info();
        let mut features =
            adapter.features() & (wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SUBGROUP);
        let coop_f16 = offers_coop_f16(adapter, &info);
        if coop_f16 {
            features |= COOP_F16_FEATURES;
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("flt.device"),
                required_features: features,
                required_limits: limits.clone(),
                memory_hints: wgpu::MemoryHints::Performance,
                // SAFETY: the experimental feature requested (cooperative
                // matrices, only where `offers_coop_f16` found the
                // configuration the flash_f16 kernel uses) is used by that
                // kernel alone, within the sizes the adapter reported.
                experimental_features: if coop_f16 {
                    unsafe { wgpu::ExperimentalFeatures::enabled() }
                } else {
                    wgpu::ExperimentalFeatures::disabled()
                },
                ..Default::default()
            })
            .await
            .map_err(|e| {
                GpuError::Unavailable(format!("cannot create a device on {}: {e}", info.name))
            })?;
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut list) = sink.lock() {
                list.push(super::buffers::describe(&e));
            }
        }));
        let lost = Arc::new(Mutex::new(None));
        let lost_sink = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut slot) = lost_sink.lock() {
                *slot = Some(lost_reason(reason, &message));
            }
        });
        let api = match info.backend {
            wgpu::Backend::BrowserWebGpu => "WebGPU".to_string(),
            other => format!("{other:?}"),
        };
        Ok(GpuContext {
            device,
            queue,
            adapter_name: if info.name.is_empty() {
                "unnamed adapter".into()
            } else {
                info.name.clone()
            },
            api,
            device_type: format!("{:?}", info.device_type),
            limits,
            timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
            subgroups: features
                .contains(wgpu::Features::SUBGROUP)
                .then_some((info.subgroup_min_size, info.subgroup_max_size)),
            coop_f16,
            warmup_ms: Cell::new(0),
            idle_ramp: Cell::new(IdleRamp::DEFAULT),
            piece_ms: Cell::new(super::program::PIECE_MS),
            last_busy: Cell::new(Instant::now()),
            uncaptured,
            lost,
            watch: RefCell::new(None),
            modules: RefCell::new(HashMap::new()),
            layouts: RefCell::new(HashMap::new()),
            pipelines: RefCell::new(HashMap::new()),
            recipes: RefCell::new(Vec::new()),
        })
    }

    /// The bind-group layout of `kernel`'s bindings and a pipeline layout
    /// holding it, created on first use.
    pub fn layout(
        &self,
        kernel: &super::bindings::Kernel,
    ) -> (wgpu::BindGroupLayout, wgpu::PipelineLayout) {
        self.layouts
            .borrow_mut()
            .entry(kernel.id())
            .or_insert_with(|| {
                let label = kernel.id();
                let group =
                    self.device
                        .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                            label: Some(&label),
                            entries: &kernel.layout_entries(),
                        });
                let pipeline =
                    self.device
                        .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                            label: Some(&label),
                            bind_group_layouts: &[Some(&group)],
                            immediate_size: 0,
                        });
                (group, pipeline)
            })
            .clone()
    }

    /// A compute pipeline for `entry` of the shader module `module_name`
    /// (compiled from `source` on first use) with pipeline-overridable
    /// `constants`, built once per distinct key and then reused. Compilation
    /// errors come back as [`GpuError::Device`] with the compiler's messages.
    pub async fn pipeline(
        &self,
        module_name: &'static str,
        source: fn() -> wgpu::ShaderModuleDescriptor<'static>,
        layout: &wgpu::PipelineLayout,
        entry: &str,
        constants: &[(&str, f64)],
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        self.build_pipeline(module_name, source, None, layout, entry, constants)
            .await
    }

    /// [`Self::pipeline`] from a module compiled without runtime checks
    /// (`ShaderRuntimeChecks::unchecked()`: no bounds clamps, no loop
    /// bounding), natively; on WebGPU the browser keeps its own checks.
    ///
    /// # Safety
    ///
    /// Every memory access of every entry point of the module must be in
    /// bounds, and every loop must end, for every dispatch made with the
    /// pipeline (the caller checks the buffers against the shapes it
    /// dispatches). A module's name must always be compiled the same way:
    /// modules are cached by name.
    pub async unsafe fn pipeline_unchecked(
        &self,
        module_name: &'static str,
        source: fn() -> wgpu::ShaderModuleDescriptor<'static>,
        layout: &wgpu::PipelineLayout,
        entry: &str,
        constants: &[(&str, f64)],
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        let unchecked = Some(wgpu::ShaderRuntimeChecks::unchecked());
        self.build_pipeline(module_name, source, unchecked, layout, entry, constants)
            .await
    }

    async fn build_pipeline(
        &self,
        module_name: &'static str,
        source: fn() -> wgpu::ShaderModuleDescriptor<'static>,
        checks: Option<wgpu::ShaderRuntimeChecks>,
        layout: &wgpu::PipelineLayout,
        entry: &str,
        constants: &[(&str, f64)],
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        let key = format!("{module_name}.{entry}{constants:?}");
        if let Some(p) = self.pipelines.borrow().get(&key) {
            return Ok(p.clone());
        }
        let module = self.module(module_name, source, checks).await?;
        let module = &module;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&key),
                layout: Some(layout),
                module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    // Kept on for unchecked modules too: their safety
                    // promise covers indices and loops, not reading
                    // workgroup memory before writing it.
                    zero_initialize_workgroup_memory: true,
                },
                cache: None,
            });
        if let Some(e) = scope.pop().await {
            return Err(GpuError::Device {
                stage: format!("building {key}"),
                message: e.to_string(),
            });
        }
        self.recipes.borrow_mut().push(PipelineRecipe {
            key: key.clone(),
            source,
            checks,
            entry: entry.to_string(),
            constants: constants.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        });
        self.pipelines.borrow_mut().insert(key, pipeline.clone());
        Ok(pipeline)
    }

    /// How each compute pipeline this context built was made, in the
    /// order it built them (what `flt bench --driver-stats` builds again
    /// to ask the driver about it).
    pub fn pipeline_recipes(&self) -> Vec<PipelineRecipe> {
        self.recipes.borrow().clone()
    }

    /// The shader module `name`, compiled from `source` on first use; the
    /// compiler's error messages (with line numbers) become a [`GpuError`].
    async fn module(
        &self,
        name: &'static str,
        source: fn() -> wgpu::ShaderModuleDescriptor<'static>,
        checks: Option<wgpu::ShaderRuntimeChecks>,
    ) -> Result<wgpu::ShaderModule, GpuError> {
        if let Some(m) = self.modules.borrow().get(name) {
            return Ok(m.clone());
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = match checks {
            None => self.device.create_shader_module(source()),
            // SAFETY: only reached through `pipeline_unchecked`, whose caller
            // guarantees that every access is in bounds.
            Some(checks) => unsafe { self.device.create_shader_module_trusted(source(), checks) },
        };
        let error = scope.pop().await;
        let info = module.get_compilation_info().await;
        let messages: Vec<String> = info
            .messages
            .iter()
            .filter(|m| m.message_type == wgpu::CompilationMessageType::Error)
            .map(|m| match m.location {
                Some(l) => format!(
                    "{name}.wgsl:{}:{}: {}",
                    l.line_number, l.line_position, m.message
                ),
                None => m.message.clone(),
            })
            .collect();
        if error.is_some() || !messages.is_empty() {
            let detail = if messages.is_empty() {
                error.map(|e| e.to_string()).unwrap_or_default()
            } else {
                messages.join("; ")
            };
            return Err(GpuError::Device {
                stage: format!("compiling {name}.wgsl"),
                message: detail,
            });
        }
        self.modules.borrow_mut().insert(name, module.clone());
        Ok(module)
    }

    /// Why the device was lost, once it was (wgpu's device-lost callback):
    /// nothing more can run on this context.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }

    /// Installs (or, with `None`, removes) the watch of the run in
    /// progress: programs report their pieces to it and stop when it says.
    pub fn set_watch(&self, watch: Option<Rc<dyn Watch>>) {
        *self.watch.borrow_mut() = watch;
    }

    /// The watch of the run in progress, if any.
    pub fn watch(&self) -> Option<Rc<dyn Watch>> {
        self.watch.borrow().clone()
    }

    /// Records that the device has just finished a program's work.
    pub fn mark_busy(&self) {
        self.last_busy.set(Instant::now());
    }

    /// Milliseconds since the device last finished a program's work (or
    /// was created).
    pub fn idle_ms(&self) -> f64 {
        self.last_busy.get().elapsed().as_secs_f64() * 1e3
    }

    /// The untimed warm-up the next program needs after the idle spell so
    /// far ([`IdleRamp::warmup_ms`]).
    pub fn ramp_ms(&self) -> u32 {
        self.idle_ramp
            .get()
            .warmup_ms(&self.device_type, self.idle_ms())
    }

    /// Blocks until submitted work is done (native); on the web the map
    /// callbacks fire on their own and this does nothing.
    pub fn poll_wait(&self) -> Result<(), GpuError> {
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        Ok(())
    }

    /// Errors that escaped every error scope since the last call.
    pub fn take_uncaptured_errors(&self) -> Vec<String> {
        self.uncaptured
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    /// The largest storage binding this device accepts, in bytes.
    pub fn max_storage_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }
}

/// The text of a device loss: wgpu's reason and the browser's message.
fn lost_reason(reason: wgpu::DeviceLostReason, message: &str) -> String {
    let why = match reason {
        wgpu::DeviceLostReason::Destroyed => "destroyed",
        _ => "lost by the driver or the browser",
    };
    if message.is_empty() {
        why.to_string()
    } else {
        format!("{why} ({message})")
    }
}

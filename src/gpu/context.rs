//! The GPU context: adapter, device, queue, limits and features, built once
//! and shared by every run; plus caches of shader modules and pipelines so a
//! run never recompiles a kernel it has already built.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::GpuError;

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
    /// Every program's warm-up keeps the GPU busy (untimed) for at least
    /// this long before its timed repeats, so that a benchmark sees the
    /// clocks a sustained load gets (0: one untimed run; the CLI's
    /// `--warmup-ms`).
    pub warmup_ms: Cell<u32>,
    uncaptured: Arc<Mutex<Vec<String>>>,
    modules: RefCell<HashMap<&'static str, wgpu::ShaderModule>>,
    layouts: RefCell<HashMap<String, (wgpu::BindGroupLayout, wgpu::PipelineLayout)>>,
    pipelines: RefCell<HashMap<String, wgpu::ComputePipeline>>,
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
        let features =
            adapter.features() & (wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SUBGROUP);
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("flt.device"),
                required_features: features,
                required_limits: limits.clone(),
                memory_hints: wgpu::MemoryHints::Performance,
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
            warmup_ms: Cell::new(0),
            uncaptured,
            modules: RefCell::new(HashMap::new()),
            layouts: RefCell::new(HashMap::new()),
            pipelines: RefCell::new(HashMap::new()),
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
        // SAFETY: a checked module needs no promise from the caller.
        unsafe {
            self.pipeline_with(module_name, source, layout, entry, constants, false)
                .await
        }
    }

    /// As [`Self::pipeline`]; with `trusted` the module is compiled without
    /// wgpu's runtime checks (index clamps, loop bounding), which cost the
    /// flash kernel's inner loops an integer operation per load, and its
    /// workgroup memory is not zeroed first. A module name is always
    /// compiled the same way (the cache is by name).
    ///
    /// # Safety
    /// With `trusted`, every index the entry point computes must be in
    /// bounds for the buffers bound and the override `constants` given,
    /// every loop must end (see [`wgpu::ShaderRuntimeChecks`]), and every
    /// workgroup value it reads it must have written.
    pub async unsafe fn pipeline_with(
        &self,
        module_name: &'static str,
        source: fn() -> wgpu::ShaderModuleDescriptor<'static>,
        layout: &wgpu::PipelineLayout,
        entry: &str,
        constants: &[(&str, f64)],
        trusted: bool,
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        let key = format!("{module_name}.{entry}{constants:?}");
        if let Some(p) = self.pipelines.borrow().get(&key) {
            return Ok(p.clone());
        }
        let module = self.module(module_name, source, trusted).await?;
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
                    // A trusted module writes every workgroup value before
                    // reading it: no zeroing at each workgroup's start.
                    zero_initialize_workgroup_memory: !trusted,
                },
                cache: None,
            });
        if let Some(e) = scope.pop().await {
            return Err(GpuError::Device {
                stage: format!("building {key}"),
                message: e.to_string(),
            });
        }
        self.pipelines.borrow_mut().insert(key, pipeline.clone());
        Ok(pipeline)
    }

    /// The shader module `name`, compiled from `source` on first use; the
    /// compiler's error messages (with line numbers) become a [`GpuError`].
    async fn module(
        &self,
        name: &'static str,
        source: fn() -> wgpu::ShaderModuleDescriptor<'static>,
        trusted: bool,
    ) -> Result<wgpu::ShaderModule, GpuError> {
        if let Some(m) = self.modules.borrow().get(name) {
            return Ok(m.clone());
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = if trusted {
            // SAFETY: the caller of `pipeline_with` promised in-bounds
            // indices and ending loops for this module.
            unsafe {
                self.device
                    .create_shader_module_trusted(source(), wgpu::ShaderRuntimeChecks::unchecked())
            }
        } else {
            self.device.create_shader_module(source())
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

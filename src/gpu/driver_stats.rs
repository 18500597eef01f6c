//! What the Vulkan driver says about the compute pipelines a run built:
//! registers per thread, shared and local (spill) memory, instruction
//! counts — whatever it reports through `VK_KHR_pipeline_executable_properties`
//! (`flt bench --driver-stats`). A kernel's speed on a GPU hangs on such
//! figures (how many warps fit a multiprocessor, whether private arrays
//! spill), and neither WGSL nor wgpu shows them: wgpu creates its pipelines
//! without `VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR`.
//!
//! So each pipeline is built again here, from the recipe the context kept
//! ([`PipelineRecipe`]: the WGSL, the entry point, the override constants,
//! whether runtime checks were on): naga turns the WGSL into SPIR-V with
//! the options wgpu-hal 30 uses for a Vulkan device (`vulkan/adapter.rs`,
//! `vulkan/device.rs` `compile_stage`: SPIR-V 1.6, the capabilities the
//! device's features allow, bounds checks off where the module is trusted
//! and on otherwise, loop bounding with them, workgroup memory zeroed
//! natively where the device can), and the pipeline is created
//! with the statistics flag on a second Vulkan device of the same physical
//! device — the features the kernels' code depends on (16-bit types,
//! integer dot products, subgroup size control, zeroed workgroup memory,
//! cooperative matrices, robust buffer access) set as on wgpu's own
//! device, so that the driver compiles the same code. Vulkan 1.3 devices
//! only: on older ones wgpu-hal writes other code (polyfills), which this
//! rebuild does not mirror.
//! What the driver does with it is its own: the figures are the ones it
//! reports for these pipelines, not a model of them.
//!
//! Native and Vulkan only; elsewhere [`collect`] says why it has nothing.
//! A driver without the extension (Mesa 22's lavapipe, which the tests
//! use) gets every pipeline rebuilt all the same, without statistics: that
//! still checks each recipe — naga's SPIR-V, the descriptor layouts the
//! entry point declares — against a real driver.

use std::ffi::CString;

use ash::vk;

use super::context::PipelineRecipe;
use super::{GpuContext, GpuError};

/// One statistic of one executable of a pipeline, as the driver names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Statistic {
    /// Its name (NVIDIA: "Register Count", …; Mesa: "Instructions", …).
    pub name: String,
    /// Its value, formatted (an integer, a float or true/false).
    pub value: String,
}

/// The statistics of one pipeline the run built.
#[derive(Debug, Clone)]
pub struct PipelineStats {
    /// The pipeline's key (module, entry point, override constants).
    pub key: String,
    /// Per executable the driver made of it (a compute pipeline has one):
    /// its name and statistics, or why it could not be built here.
    pub executables: Result<Vec<(String, Vec<Statistic>)>, String>,
}

/// Every pipeline a context built, built again.
#[derive(Debug, Clone)]
pub struct Report {
    /// Why the driver reports no statistics (`None`: it does); the
    /// pipelines were then only rebuilt, which still checks each recipe.
    pub unavailable: Option<String>,
    /// Per pipeline, in the order the context built them.
    pub pipelines: Vec<PipelineStats>,
}

/// The statistics of every pipeline `ctx` built, in the order it built
/// them (each rebuilt from its recipe, with empty statistics where the
/// driver does not offer them), or why nothing could be rebuilt (not a
/// Vulkan device).
pub fn collect(ctx: &GpuContext) -> Result<Report, GpuError> {
    let why = |message: String| GpuError::Device {
        stage: "reading the driver's statistics".into(),
        message,
    };
    let recipes = ctx.pipeline_recipes();
    // SAFETY: the raw handles are used while `ctx.device` (and with it the
    // Vulkan instance and physical device) lives; the device made here is
    // destroyed before returning.
    let hal = unsafe { ctx.device.as_hal::<wgpu::hal::api::Vulkan>() }.ok_or_else(|| {
        why("not a Vulkan device (the statistics come from a Vulkan extension)".into())
    })?;
    let instance = hal.shared_instance().raw_instance();
    let phd = hal.raw_physical_device();
    let side = SideDevice::new(instance, phd, ctx.subgroups.is_some()).map_err(why)?;
    let pipelines = recipes
        .iter()
        .map(|r| PipelineStats {
            key: r.key.clone(),
            executables: side.statistics(r),
        })
        .collect();
    Ok(Report {
        unavailable: (!side.statistics)
            .then(|| "the driver does not offer VK_KHR_pipeline_executable_properties".to_string()),
        pipelines,
    })
}

/// A Vulkan device made only to compile pipelines and read their
/// statistics (with `VK_KHR_pipeline_executable_properties` where the
/// driver offers it).
struct SideDevice {
    device: ash::Device,
    executables: ash::khr::pipeline_executable_properties::Device,
    statistics: bool,
    caps: Caps,
    options: naga::back::spv::Options<'static>,
}

/// A pipeline's SPIR-V and the descriptor bindings its entry point
/// declares, per group: (binding, type).
struct Spirv {
    words: Vec<u32>,
    groups: Vec<Vec<(u32, vk::DescriptorType)>>,
}

/// What the device supports that decides the SPIR-V wgpu-hal writes.
#[derive(Clone, Copy)]
struct Caps {
    robust_buffer_access2: bool,
    subgroup_size_control: bool,
    zero_workgroup_memory: bool,
    float16: bool,
    int8: bool,
    dot_product: bool,
    coop: bool,
    /// The context runs with wgpu's subgroup feature.
    subgroups: bool,
}

/// The device features wanted, one struct per Vulkan version or extension:
/// filled by the query, then copied (unchained) into the device's chain.
#[derive(Default, Clone, Copy)]
struct Wanted<'a> {
    f11: vk::PhysicalDeviceVulkan11Features<'a>,
    f12: vk::PhysicalDeviceVulkan12Features<'a>,
    f13: vk::PhysicalDeviceVulkan13Features<'a>,
    pep: vk::PhysicalDevicePipelineExecutablePropertiesFeaturesKHR<'a>,
    rb2: vk::PhysicalDeviceRobustness2FeaturesEXT<'a>,
    cm: vk::PhysicalDeviceCooperativeMatrixFeaturesKHR<'a>,
}

/// Which optional extensions the chain carries.
#[derive(Clone, Copy)]
struct Extensions {
    statistics: bool,
    robustness2: bool,
    coop: bool,
}

impl Wanted<'_> {
    /// `base` with the structs chained: core 1.1–1.3 and the offered
    /// extensions' (the same chain for the query and the device).
    fn chain<'b>(
        &'b mut self,
        base: vk::PhysicalDeviceFeatures2<'b>,
        ext: Extensions,
    ) -> vk::PhysicalDeviceFeatures2<'b> {
        let mut out = base
            .push_next(&mut self.f11)
            .push_next(&mut self.f12)
            .push_next(&mut self.f13);
        if ext.statistics {
            out = out.push_next(&mut self.pep);
        }
        if ext.robustness2 {
            out = out.push_next(&mut self.rb2);
        }
        if ext.coop {
            out = out.push_next(&mut self.cm);
        }
        out
    }

    /// The same values, unchained: `chain` linked the structs through
    /// their p_next fields, and chaining them again would make a cycle.
    fn unchained(&self) -> Self {
        let mut w = *self;
        w.f11.p_next = std::ptr::null_mut();
        w.f12.p_next = std::ptr::null_mut();
        w.f13.p_next = std::ptr::null_mut();
        w.pep.p_next = std::ptr::null_mut();
        w.rb2.p_next = std::ptr::null_mut();
        w.cm.p_next = std::ptr::null_mut();
        w
    }
}

impl SideDevice {
    fn new(
        instance: &ash::Instance,
        phd: vk::PhysicalDevice,
        subgroups: bool,
    ) -> Result<SideDevice, String> {
        // SAFETY: valid instance and physical device; plain queries.
        let properties = unsafe { instance.get_physical_device_properties(phd) };
        if properties.api_version < vk::API_VERSION_1_3 {
            // Older devices get other code from wgpu-hal (polyfills, no
            // subgroup size control), which this rebuild does not mirror.
            return Err("the device is older than Vulkan 1.3".into());
        }
        let extensions = unsafe { instance.enumerate_device_extension_properties(phd) }
            .map_err(|e| format!("listing the device's extensions: {e}"))?;
        let has = |name: &std::ffi::CStr| {
            extensions
                .iter()
                .any(|e| e.extension_name_as_c_str() == Ok(name))
        };
        let mut ext = Extensions {
            statistics: has(ash::khr::pipeline_executable_properties::NAME),
            robustness2: has(ash::ext::robustness2::NAME),
            // The f16 kernel's cooperative matrices (tensor cores), as wgpu
            // enables them with its experimental feature.
            coop: has(ash::khr::cooperative_matrix::NAME),
        };
        let queue_family = unsafe { instance.get_physical_device_queue_family_properties(phd) }
            .iter()
            .position(|q| q.queue_flags.contains(vk::QueueFlags::COMPUTE))
            .ok_or("no compute queue")? as u32;

        // Ask what is supported, then enable all of it. That is more than
        // wgpu enables, but the features the kernels' code depends on —
        // 16-bit types, integer dot products, subgroup size control, zeroed
        // workgroup memory, the Vulkan memory model, cooperative matrices,
        // robust buffer access — are set as on wgpu's device, and the rest
        // (images, descriptor indexing, …) do not change a kernel over
        // buffers.
        let mut query = Wanted::default();
        // SAFETY: every chained struct is core in Vulkan 1.3 or belongs to
        // an extension the device offers.
        unsafe {
            instance.get_physical_device_features2(
                phd,
                &mut query.chain(vk::PhysicalDeviceFeatures2::default(), ext),
            )
        };
        let mut wanted = query.unchained();
        ext.statistics &= wanted.pep.pipeline_executable_info == vk::TRUE;
        wanted.cm.cooperative_matrix_robust_buffer_access = vk::FALSE;
        wanted.rb2.robust_image_access2 = vk::FALSE;
        wanted.rb2.null_descriptor = vk::FALSE;
        let caps = Caps {
            robust_buffer_access2: ext.robustness2 && wanted.rb2.robust_buffer_access2 == vk::TRUE,
            subgroup_size_control: wanted.f13.subgroup_size_control == vk::TRUE,
            zero_workgroup_memory: wanted.f13.shader_zero_initialize_workgroup_memory == vk::TRUE,
            float16: wanted.f12.shader_float16 == vk::TRUE,
            int8: wanted.f12.shader_int8 == vk::TRUE,
            dot_product: wanted.f13.shader_integer_dot_product == vk::TRUE,
            coop: ext.coop && wanted.cm.cooperative_matrix == vk::TRUE,
            subgroups,
        };
        let core = unsafe { instance.get_physical_device_features(phd) };
        let core = vk::PhysicalDeviceFeatures::default()
            .robust_buffer_access(core.robust_buffer_access == vk::TRUE)
            .shader_int16(core.shader_int16 == vk::TRUE)
            .shader_int64(core.shader_int64 == vk::TRUE)
            .shader_float64(core.shader_float64 == vk::TRUE);
        let mut names = Vec::new();
        if ext.statistics {
            names.push(ash::khr::pipeline_executable_properties::NAME.as_ptr());
        }
        if ext.robustness2 {
            names.push(ash::ext::robustness2::NAME.as_ptr());
        }
        if ext.coop {
            names.push(ash::khr::cooperative_matrix::NAME.as_ptr());
        }
        let priorities = [1.0f32];
        let queues = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(queue_family)
            .queue_priorities(&priorities)];
        let mut features = wanted.chain(vk::PhysicalDeviceFeatures2::default().features(core), ext);
        let info = vk::DeviceCreateInfo::default()
            .queue_create_infos(&queues)
            .enabled_extension_names(&names)
            .push_next(&mut features);
        // SAFETY: the extensions are offered and the features supported
        // (the values the query filled).
        let device = unsafe { instance.create_device(phd, &info, None) }
            .map_err(|e| format!("creating a Vulkan device for the statistics: {e}"))?;
        let executables = ash::khr::pipeline_executable_properties::Device::new(instance, &device);
        Ok(SideDevice {
            device,
            executables,
            statistics: ext.statistics,
            caps,
            options: device_options(caps),
        })
    }

    /// The pipeline of `recipe` built here with the statistics flag, and
    /// what the driver reports for it (built without, and nothing
    /// reported, where the driver has no statistics).
    fn statistics(&self, recipe: &PipelineRecipe) -> Result<Vec<(String, Vec<Statistic>)>, String> {
        let spirv = self.spirv(recipe)?;
        let d = &self.device;
        let mut made = Made::new(d);
        let code = vk::ShaderModuleCreateInfo::default().code(&spirv.words);
        // SAFETY: valid device; the objects are destroyed by `made`.
        made.module = unsafe { d.create_shader_module(&code, None) }
            .map_err(|e| format!("the driver refused the SPIR-V: {e}"))?;
        for group in &spirv.groups {
            let bindings: Vec<_> = group
                .iter()
                .map(|&(binding, ty)| {
                    vk::DescriptorSetLayoutBinding::default()
                        .binding(binding)
                        .descriptor_type(ty)
                        .descriptor_count(1)
                        .stage_flags(vk::ShaderStageFlags::COMPUTE)
                })
                .collect();
            let info = vk::DescriptorSetLayoutCreateInfo::default().bindings(&bindings);
            let layout = unsafe { d.create_descriptor_set_layout(&info, None) }
                .map_err(|e| format!("descriptor set layout: {e}"))?;
            made.set_layouts.push(layout);
        }
        let info = vk::PipelineLayoutCreateInfo::default().set_layouts(&made.set_layouts);
        made.layout = unsafe { d.create_pipeline_layout(&info, None) }
            .map_err(|e| format!("pipeline layout: {e}"))?;
        let entry = CString::new(recipe.entry.as_str()).map_err(|e| e.to_string())?;
        let mut flags = vk::PipelineShaderStageCreateFlags::empty();
        if self.caps.subgroups && self.caps.subgroup_size_control {
            // As wgpu-hal does with the subgroup feature on.
            flags |= vk::PipelineShaderStageCreateFlags::ALLOW_VARYING_SUBGROUP_SIZE;
        }
        let stage = vk::PipelineShaderStageCreateInfo::default()
            .flags(flags)
            .stage(vk::ShaderStageFlags::COMPUTE)
            .module(made.module)
            .name(&entry);
        let flags = if self.statistics {
            vk::PipelineCreateFlags::CAPTURE_STATISTICS_KHR
        } else {
            vk::PipelineCreateFlags::empty()
        };
        let info = vk::ComputePipelineCreateInfo::default()
            .flags(flags)
            .stage(stage)
            .layout(made.layout);
        let pipelines =
            unsafe { d.create_compute_pipelines(vk::PipelineCache::null(), &[info], None) }
                .map_err(|(_, e)| format!("the driver could not build the pipeline: {e}"))?;
        made.pipeline = pipelines[0];
        if !self.statistics {
            return Ok(Vec::new());
        }
        let which = vk::PipelineInfoKHR::default().pipeline(made.pipeline);
        let executables = unsafe { self.executables.get_pipeline_executable_properties(&which) }
            .map_err(|e| format!("vkGetPipelineExecutablePropertiesKHR: {e}"))?;
        let mut out = Vec::new();
        for (i, exe) in executables.iter().enumerate() {
            let name = exe
                .name_as_c_str()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let info = vk::PipelineExecutableInfoKHR::default()
                .pipeline(made.pipeline)
                .executable_index(i as u32);
            let stats = unsafe { self.executables.get_pipeline_executable_statistics(&info) }
                .map_err(|e| format!("vkGetPipelineExecutableStatisticsKHR: {e}"))?;
            out.push((name, stats.iter().map(statistic).collect()));
        }
        Ok(out)
    }

    /// SPIR-V of the recipe's entry point as wgpu-hal 30 writes it for
    /// this device, and the descriptor bindings it declares per group.
    fn spirv(&self, recipe: &PipelineRecipe) -> Result<Spirv, String> {
        use naga::back::spv;
        let descriptor = (recipe.source)();
        let wgpu::ShaderSource::Wgsl(text) = &descriptor.source else {
            return Err("not a WGSL module".into());
        };
        let mut parse = naga::front::wgsl::Options::new();
        parse.capabilities = naga::valid::Capabilities::all();
        let module = naga::front::wgsl::Frontend::new_with_options(parse)
            .parse(text)
            .map_err(|e| format!("naga could not parse it: {e}"))?;
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .map_err(|e| format!("naga could not validate it: {e}"))?;
        let mut constants = naga::back::PipelineConstants::default();
        for (name, value) in &recipe.constants {
            constants.insert(name.clone(), *value);
        }
        let (module, info) = naga::back::pipeline_constants::process_overrides(
            &module,
            &info,
            Some((naga::ShaderStage::Compute, recipe.entry.as_str())),
            &constants,
        )
        .map_err(|e| format!("override constants: {e}"))?;
        let checks = recipe
            .checks
            .unwrap_or(wgpu::ShaderRuntimeChecks::checked());
        let policy = |on: bool| {
            if on {
                naga::proc::BoundsCheckPolicy::Restrict
            } else {
                naga::proc::BoundsCheckPolicy::Unchecked
            }
        };
        // The device's options, with this module's runtime checks (as
        // wgpu-hal's `compile_stage` adjusts its own).
        let mut options = self.options.clone();
        options.bounds_check_policies = naga::proc::BoundsCheckPolicies {
            index: policy(checks.bounds_checks),
            buffer: policy(checks.bounds_checks && !self.caps.robust_buffer_access2),
            image_load: naga::proc::BoundsCheckPolicy::Unchecked,
            binding_array: naga::proc::BoundsCheckPolicy::Unchecked,
        };
        options.force_loop_bounding = checks.force_loop_bounding;
        options.emit_int_div_checks = checks.int_div_checks;
        let pipeline = spv::PipelineOptions {
            shader_stage: naga::ShaderStage::Compute,
            entry_point: recipe.entry.clone(),
        };
        let words = spv::write_vec(&module, &info, &options, Some(&pipeline))
            .map_err(|e| format!("naga could not write SPIR-V: {e}"))?;
        // The bindings the entry point uses, by group.
        let index = module
            .entry_points
            .iter()
            .position(|e| e.name == recipe.entry)
            .ok_or("no such entry point")?;
        let used = info.get_entry_point(index);
        let mut groups: Vec<Vec<(u32, vk::DescriptorType)>> = Vec::new();
        for (handle, var) in module.global_variables.iter() {
            let Some(binding) = &var.binding else {
                continue;
            };
            if used[handle].is_empty() {
                continue;
            }
            let ty = match var.space {
                naga::AddressSpace::Uniform => vk::DescriptorType::UNIFORM_BUFFER,
                naga::AddressSpace::Storage { .. } => vk::DescriptorType::STORAGE_BUFFER,
                _ => return Err(format!("binding {binding:?}: not a buffer")),
            };
            let g = binding.group as usize;
            if groups.len() <= g {
                groups.resize(g + 1, Vec::new());
            }
            groups[g].push((binding.binding, ty));
        }
        Ok(Spirv { words, groups })
    }
}

/// The SPIR-V writer's options wgpu-hal 30 keeps per Vulkan device
/// (`vulkan/adapter.rs`), for a device with `caps`: the capabilities its
/// features allow (naga picks polyfills for what is missing: integer dot
/// products, …), SPIR-V 1.6, workgroup memory zeroed natively where it
/// can. The per-module runtime checks are set per pipeline.
fn device_options(caps: Caps) -> naga::back::spv::Options<'static> {
    use naga::back::spv;
    let mut capabilities = vec![
        spv::Capability::Shader,
        spv::Capability::Matrix,
        spv::Capability::Sampled1D,
        spv::Capability::Image1D,
        spv::Capability::ImageQuery,
        spv::Capability::DerivativeControl,
        spv::Capability::StorageImageExtendedFormats,
    ];
    if caps.subgroups {
        capabilities.extend([
            spv::Capability::GroupNonUniform,
            spv::Capability::GroupNonUniformVote,
            spv::Capability::GroupNonUniformArithmetic,
            spv::Capability::GroupNonUniformBallot,
            spv::Capability::GroupNonUniformShuffle,
            spv::Capability::GroupNonUniformShuffleRelative,
            spv::Capability::GroupNonUniformQuad,
        ]);
    }
    if caps.float16 {
        capabilities.push(spv::Capability::Float16);
    }
    if caps.coop {
        capabilities.extend([
            spv::Capability::CooperativeMatrixKHR,
            spv::Capability::VulkanMemoryModel,
        ]);
    }
    if caps.dot_product {
        capabilities.extend([
            spv::Capability::DotProductInputAllKHR,
            spv::Capability::DotProductInput4x8BitKHR,
            spv::Capability::DotProductInput4x8BitPackedKHR,
            spv::Capability::DotProductKHR,
        ]);
    }
    if caps.int8 {
        capabilities.push(spv::Capability::Int8);
    }
    spv::Options {
        lang_version: (1, 6),
        flags: spv::WriterFlags::LABEL_VARYINGS | spv::WriterFlags::FORCE_POINT_SIZE,
        capabilities: Some(capabilities.into_iter().collect()),
        zero_initialize_workgroup_memory: if caps.zero_workgroup_memory {
            spv::ZeroInitializeWorkgroupMemoryMode::Native
        } else {
            spv::ZeroInitializeWorkgroupMemoryMode::Polyfill
        },
        // wgpu-hal renumbers the bindings of each group densely (its
        // binding map); here each keeps its WGSL number (naga's default
        // mapping), which changes descriptor numbers only.
        fake_missing_bindings: true,
        ..spv::Options::default()
    }
}

impl Drop for SideDevice {
    fn drop(&mut self) {
        // SAFETY: every object made on it is gone (each `Made` is dropped
        // within `statistics`).
        unsafe { self.device.destroy_device(None) };
    }
}

/// The objects one pipeline needs, destroyed however `statistics` ends.
struct Made<'a> {
    device: &'a ash::Device,
    module: vk::ShaderModule,
    set_layouts: Vec<vk::DescriptorSetLayout>,
    layout: vk::PipelineLayout,
    pipeline: vk::Pipeline,
}

impl<'a> Made<'a> {
    fn new(device: &'a ash::Device) -> Self {
        Made {
            device,
            module: vk::ShaderModule::null(),
            set_layouts: Vec::new(),
            layout: vk::PipelineLayout::null(),
            pipeline: vk::Pipeline::null(),
        }
    }
}

impl Drop for Made<'_> {
    fn drop(&mut self) {
        // SAFETY: each handle is null or was made on this device and is
        // used by nothing (no command buffer ever recorded them).
        unsafe {
            self.device.destroy_pipeline(self.pipeline, None);
            self.device.destroy_pipeline_layout(self.layout, None);
            for l in &self.set_layouts {
                self.device.destroy_descriptor_set_layout(*l, None);
            }
            self.device.destroy_shader_module(self.module, None);
        }
    }
}

fn statistic(s: &vk::PipelineExecutableStatisticKHR<'_>) -> Statistic {
    let name = s
        .name_as_c_str()
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    // SAFETY: the union's member is the one `format` names.
    let value = unsafe {
        match s.format {
            vk::PipelineExecutableStatisticFormatKHR::BOOL32 => {
                (s.value.b32 == vk::TRUE).to_string()
            }
            vk::PipelineExecutableStatisticFormatKHR::INT64 => s.value.i64.to_string(),
            vk::PipelineExecutableStatisticFormatKHR::UINT64 => s.value.u64.to_string(),
            vk::PipelineExecutableStatisticFormatKHR::FLOAT64 => format!("{:.4}", s.value.f64),
            _ => "?".into(),
        }
    };
    Statistic { name, value }
}

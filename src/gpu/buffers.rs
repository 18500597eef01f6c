//! Buffer plumbing shared by every kernel family: size checks against the
//! adapter's limits (before allocating), uploads, readback through
//! `map_async`, and GPU timestamps.

use bytemuck::Pod;
use wgpu::util::DeviceExt;

use super::{GpuContext, GpuError};

/// Checks that a storage buffer of `bytes` fits the device's limits.
pub fn check_storage(ctx: &GpuContext, what: &str, bytes: u64) -> Result<(), GpuError> {
    let binding = ctx.limits.max_storage_buffer_binding_size;
    if bytes > binding {
        return Err(GpuError::TooLarge {
            what: what.into(),
            needs: bytes,
            unit: "bytes",
            limit_name: "max_storage_buffer_binding_size",
            limit: binding,
        });
    }
    if bytes > ctx.limits.max_buffer_size {
        return Err(GpuError::TooLarge {
            what: what.into(),
            needs: bytes,
            unit: "bytes",
            limit_name: "max_buffer_size",
            limit: ctx.limits.max_buffer_size,
        });
    }
    Ok(())
}

/// Checks that a dispatch of `groups` workgroups along one dimension fits.
pub fn check_dispatch(ctx: &GpuContext, what: &str, groups: u32) -> Result<(), GpuError> {
    let limit = ctx.limits.max_compute_workgroups_per_dimension;
    if groups > limit {
        return Err(GpuError::TooLarge {
            what: what.into(),
            needs: groups as u64,
            unit: "workgroups along one dimension",
            limit_name: "max_compute_workgroups_per_dimension",
            limit: limit as u64,
        });
    }
    Ok(())
}

/// A read-only storage buffer holding `data` (checked against the limits).
pub fn upload(ctx: &GpuContext, label: &str, data: &[f32]) -> Result<wgpu::Buffer, GpuError> {
    check_storage(ctx, label, std::mem::size_of_val(data) as u64)?;
    Ok(ctx
        .device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(data),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        }))
}

/// A read-only storage buffer holding u32 `data` (checked against the limits).
pub fn upload_u32(ctx: &GpuContext, label: &str, data: &[u32]) -> Result<wgpu::Buffer, GpuError> {
    check_storage(ctx, label, std::mem::size_of_val(data) as u64)?;
    Ok(ctx
        .device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(data),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        }))
}

/// A zeroed read-write storage buffer of `len` f32 (checked against the limits).
pub fn storage(ctx: &GpuContext, label: &str, len: usize) -> Result<wgpu::Buffer, GpuError> {
    let bytes = (len.max(1) * 4) as u64;
    check_storage(ctx, label, bytes)?;
    Ok(ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    }))
}

/// A uniform buffer holding `value`.
pub fn uniform<T: Pod>(ctx: &GpuContext, label: &str, value: &T) -> wgpu::Buffer {
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::bytes_of(value),
            usage: wgpu::BufferUsages::UNIFORM,
        })
}

/// A bind-group layout of one uniform (binding 0) followed by storage
/// buffers; `writable[i]` says whether binding i + 1 is read-write.
pub fn layout(ctx: &GpuContext, label: &str, writable: &[bool]) -> wgpu::BindGroupLayout {
    let mut entries = vec![wgpu::BindGroupLayoutEntry {
        binding: 0,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }];
    for (i, &w) in writable.iter().enumerate() {
        entries.push(wgpu::BindGroupLayoutEntry {
            binding: i as u32 + 1,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: !w },
                has_dynamic_offset: false,
                min_binding_size: wgpu::BufferSize::new(4),
            },
            count: None,
        });
    }
    ctx.device
        .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(label),
            entries: &entries,
        })
}

/// A bind group binding `buffers` in order (binding 0 first).
pub fn bind_group(
    ctx: &GpuContext,
    label: &str,
    layout: &wgpu::BindGroupLayout,
    buffers: &[&wgpu::Buffer],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.as_entire_binding(),
        })
        .collect();
    ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout,
        entries: &entries,
    })
}

/// Records one compute pass: `pipeline` with `group` at binding set 0 over a
/// `groups.0 × groups.1` grid, with optional timestamp writes.
pub fn dispatch(
    encoder: &mut wgpu::CommandEncoder,
    label: &str,
    pipeline: &wgpu::ComputePipeline,
    group: &wgpu::BindGroup,
    groups: (u32, u32),
    timestamps: Option<wgpu::ComputePassTimestampWrites<'_>>,
) {
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some(label),
        timestamp_writes: timestamps,
    });
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, group, &[]);
    pass.dispatch_workgroups(groups.0, groups.1, 1);
}

/// Copies `bytes` of `src` into a mappable buffer, waits for the copy and
/// returns the bytes.
async fn read_bytes(ctx: &GpuContext, src: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, GpuError> {
    let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback.staging"),
        size: bytes,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("readback.copy"),
        });
    encoder.copy_buffer_to_buffer(src, 0, &staging, 0, bytes);
    ctx.queue.submit([encoder.finish()]);
    let slice = staging.slice(..);
    let (tx, rx) = futures_channel::oneshot::channel();
    slice.map_async(wgpu::MapMode::Read, move |result| {
        let _ = tx.send(result);
    });
    ctx.poll_wait()?;
    rx.await
        .map_err(|_| GpuError::Readback("the device was lost before the map finished".into()))?
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    let view = slice
        .get_mapped_range()
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    let out = view.to_vec();
    drop(view);
    staging.unmap();
    Ok(out)
}

/// Reads `len` f32 values from the start of `src`.
pub async fn read_f32(
    ctx: &GpuContext,
    src: &wgpu::Buffer,
    len: usize,
) -> Result<Vec<f32>, GpuError> {
    let bytes = read_bytes(ctx, src, (len * 4) as u64).await?;
    Ok(bytemuck::pod_collect_to_vec(&bytes))
}

/// Reads `len` u32 values from the start of `src`.
pub async fn read_u32(
    ctx: &GpuContext,
    src: &wgpu::Buffer,
    len: usize,
) -> Result<Vec<u32>, GpuError> {
    let bytes = read_bytes(ctx, src, (len * 4) as u64).await?;
    Ok(bytemuck::pod_collect_to_vec(&bytes))
}

/// Waits until all submitted work is done (for wall-clock timing).
pub async fn wait_idle(ctx: &GpuContext) -> Result<(), GpuError> {
    let (tx, rx) = futures_channel::oneshot::channel();
    ctx.queue.on_submitted_work_done(move || {
        let _ = tx.send(());
    });
    ctx.poll_wait()?;
    rx.await
        .map_err(|_| GpuError::Readback("the device was lost while waiting".into()))
}

/// Timestamp queries: `pairs` (begin, end) slots around compute passes.
pub struct Timestamps {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    pairs: u32,
}

impl Timestamps {
    /// `None` when the device has no `timestamp-query`.
    pub fn new(ctx: &GpuContext, label: &str, pairs: u32) -> Option<Timestamps> {
        if !ctx.timestamps || pairs == 0 {
            return None;
        }
        let set = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some(label),
            ty: wgpu::QueryType::Timestamp,
            count: pairs * 2,
        });
        let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: pairs as u64 * 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Some(Timestamps {
            set,
            resolve,
            pairs,
        })
    }

    /// The pass descriptor's timestamp writes for pair `i`.
    pub fn writes(&self, i: u32) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: Some(2 * i),
            end_of_pass_write_index: Some(2 * i + 1),
        }
    }

    /// Timestamp writes for a sequence of passes timed as one: the first pass
    /// writes pair `i`'s beginning, the last its end (a single pass both).
    pub fn span(
        &self,
        i: u32,
        first: bool,
        last: bool,
    ) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        (first || last).then(|| wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: first.then_some(2 * i),
            end_of_pass_write_index: last.then_some(2 * i + 1),
        })
    }

    /// Records the resolve of every slot into the resolve buffer.
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.resolve_query_set(&self.set, 0..self.pairs * 2, &self.resolve, 0);
    }

    /// The duration of each pair in milliseconds (after [`Self::resolve`]
    /// has been submitted).
    pub async fn read_ms(&self, ctx: &GpuContext) -> Result<Vec<f64>, GpuError> {
        let bytes = read_bytes(ctx, &self.resolve, self.pairs as u64 * 16).await?;
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes);
        let period_ns = ctx.queue.get_timestamp_period() as f64;
        Ok(ticks
            .chunks(2)
            .map(|p| p[1].saturating_sub(p[0]) as f64 * period_ns / 1.0e6)
            .collect())
    }
}

/// Runs `record` inside validation and out-of-memory error scopes and turns
/// what they catch into [`GpuError::Device`].
pub async fn scoped<T>(
    ctx: &GpuContext,
    stage: &str,
    record: impl FnOnce() -> Result<T, GpuError>,
) -> Result<T, GpuError> {
    let oom = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let result = record();
    let validation = validation.pop().await;
    let oom = oom.pop().await;
    if let Some(e) = validation.or(oom) {
        return Err(GpuError::Device {
            stage: stage.into(),
            message: e.to_string(),
        });
    }
    result
}

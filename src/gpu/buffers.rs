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
            message: describe(&e),
        });
    }
    result
}

/// The elements of `a` in row-major order, borrowed when already contiguous.
pub fn row_major(a: &ndarray::Array2<f32>) -> std::borrow::Cow<'_, [f32]> {
    match a.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().copied().collect()),
    }
}

/// Q, K and V on the GPU: the one upload every attention kernel family uses.
pub struct Qkv {
    /// Queries, n × d.
    pub q: wgpu::Buffer,
    /// Keys, n × d.
    pub k: wgpu::Buffer,
    /// Values, n × dᵥ.
    pub v: wgpu::Buffer,
    /// n, d, dᵥ.
    pub shape: (usize, usize, usize),
}

impl Qkv {
    /// Uploads Q, K, V (checked against the limits, inside an error scope).
    pub async fn upload(
        ctx: &GpuContext,
        q: &ndarray::Array2<f32>,
        k: &ndarray::Array2<f32>,
        v: &ndarray::Array2<f32>,
    ) -> Result<Qkv, GpuError> {
        let (n, d, dv) = (q.nrows(), q.ncols(), v.ncols());
        scoped(ctx, "uploading Q, K, V", || {
            Ok(Qkv {
                q: upload(ctx, "inputs.q", &row_major(q))?,
                k: upload(ctx, "inputs.k", &row_major(k))?,
                v: upload(ctx, "inputs.v", &row_major(v))?,
                shape: (n, d, dv),
            })
        })
        .await
    }

    /// Bytes the three occupy.
    pub fn bytes(&self) -> u64 {
        let (n, d, dv) = self.shape;
        ((2 * n * d + n * dv) * 4) as u64
    }
}

/// wgpu's error with its description (its `Display` alone says only
/// "Validation Error").
pub fn describe(e: &wgpu::Error) -> String {
    match e {
        wgpu::Error::Validation { description, .. } => description.trim().to_string(),
        wgpu::Error::OutOfMemory { .. } => "out of memory".into(),
        other => other.to_string(),
    }
}

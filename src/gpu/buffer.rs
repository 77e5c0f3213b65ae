//! Labelled buffers, uploads and readbacks, and arrays too large for one storage binding.

use wgpu::util::DeviceExt;

use super::Gpu;
use crate::error::{Error, Result};

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

impl Gpu {
    /// The most bytes one storage buffer may hold and be bound whole on this adapter.
    pub fn max_storage_bytes(&self) -> u64 {
        self.limits
            .max_buffer_size
            .min(self.limits.max_storage_buffer_binding_size)
    }

    /// Refuses, with an error naming `what` and the adapter's limit, a storage buffer of `bytes`
    /// that this adapter cannot bind: checked before allocating rather than found by wgpu later.
    pub fn check_storage_bytes(&self, what: &str, bytes: u64) -> Result<()> {
        let max = self.max_storage_bytes();
        if bytes > max {
            return Err(Error::InvalidArgument(format!(
                "{what} needs a buffer of {bytes} bytes, more than the {max} bytes {} binds in one \
                 buffer; use a smaller batch or fewer points",
                self.info.name
            )));
        }
        Ok(())
    }

    /// A zeroed storage buffer of `len` f32 (or u32) elements. Never empty: bindings need bytes.
    pub fn storage(&self, label: &str, len: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (len.max(1) * 4) as u64,
            usage: STORAGE,
            mapped_at_creation: false,
        })
    }

    /// A storage buffer holding `data`.
    pub fn storage_from<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> wgpu::Buffer {
        // Too large a buffer: `create_buffer_init` would panic on it, `storage` records wgpu's
        // validation error for the next `check` instead.
        if data.is_empty() || std::mem::size_of_val(data) as u64 > self.limits.max_buffer_size {
            return self.storage(label, std::mem::size_of_val(data).div_ceil(4));
        }
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::cast_slice(data),
                usage: STORAGE,
            })
    }

    /// A uniform buffer holding one params struct.
    pub fn uniform<T: bytemuck::Pod>(&self, label: &str, value: &T) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::bytes_of(value),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            })
    }

    /// Overwrite the start of `buffer` with `data` (takes effect at the next submit).
    pub fn write<T: bytemuck::Pod>(&self, buffer: &wgpu::Buffer, data: &[T]) {
        self.queue
            .write_buffer(buffer, 0, bytemuck::cast_slice(data));
    }

    /// Read `len` elements of `buffer` starting at element `start`.
    pub fn read<T: bytemuck::Pod>(
        &self,
        buffer: &wgpu::Buffer,
        start: usize,
        len: usize,
    ) -> Result<Vec<T>> {
        read_buffer(self, buffer, start, len)
    }

    /// Read a whole f32 buffer.
    pub fn read_f32(&self, buffer: &wgpu::Buffer) -> Result<Vec<f32>> {
        self.read(buffer, 0, (buffer.size() / 4) as usize)
    }
}

/// Copy `len` elements from `buffer` (at element `start`) into a staging buffer, map it, and
/// return the values. Blocks until the GPU has finished everything submitted before.
pub fn read_buffer<T: bytemuck::Pod>(
    gpu: &Gpu,
    buffer: &wgpu::Buffer,
    start: usize,
    len: usize,
) -> Result<Vec<T>> {
    let size = std::mem::size_of::<T>();
    let bytes = (len * size) as u64;
    if bytes == 0 {
        return Ok(Vec::new());
    }
    let offset = (start * size) as u64;
    if offset + bytes > buffer.size() {
        return Err(Error::InvalidArgument(format!(
            "read of {bytes} bytes at {offset} past the end of a {}-byte buffer",
            buffer.size()
        )));
    }
    // Copies must be multiples of 4 bytes; round up and cut afterwards.
    let padded = bytes.div_ceil(4) * 4;
    let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback staging"),
        size: padded,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = gpu.encoder("readback");
    encoder.copy_buffer_to_buffer(buffer, offset, &staging, 0, padded);
    gpu.submit_and_wait(encoder.finish(), "readback copy")?;
    let (tx, rx) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    gpu.wait()?;
    rx.recv()
        .map_err(|e| Error::Gpu {
            context: "readback".into(),
            message: e.to_string(),
        })?
        .map_err(|e| Error::Gpu {
            context: "readback map".into(),
            message: e.to_string(),
        })?;
    let view = staging.get_mapped_range(..).map_err(|e| Error::Gpu {
        context: "readback view".into(),
        message: e.to_string(),
    })?;
    let out: Vec<T> = bytemuck::pod_collect_to_vec(&view[..bytes as usize]);
    drop(view);
    staging.unmap();
    Ok(out)
}

/// A row-major array of `rows` × `row_len` f32 kept in several buffers, each small enough to be
/// bound whole (`max_storage_buffer_binding_size`): 60,000 MNIST images are 188 MB as f32, more
/// than the 128 MiB a binding may span on lavapipe.
pub struct BufferSlices {
    pub row_len: usize,
    pub rows: usize,
    /// Rows per slice; the last slice may hold fewer.
    pub rows_per_slice: usize,
    pub slices: Vec<wgpu::Buffer>,
}

impl BufferSlices {
    /// Upload `data` (rows × row_len) in slices no larger than `max_binding_bytes` (defaults to
    /// the device's limit when `None`).
    pub fn upload(
        gpu: &Gpu,
        label: &str,
        data: &[f32],
        row_len: usize,
        max_binding_bytes: Option<u64>,
    ) -> Result<BufferSlices> {
        if row_len == 0 || !data.len().is_multiple_of(row_len) {
            return Err(Error::shape(
                label,
                format!("{} values do not split into rows of {row_len}", data.len()),
            ));
        }
        let limit = max_binding_bytes
            .unwrap_or(gpu.limits.max_storage_buffer_binding_size)
            .min(gpu.limits.max_buffer_size);
        let rows = data.len() / row_len;
        let rows_per_slice = ((limit / 4) as usize / row_len).max(1);
        let slices = data
            .chunks(rows_per_slice * row_len)
            .enumerate()
            .map(|(i, chunk)| gpu.storage_from(&format!("{label} slice {i}"), chunk))
            .collect();
        Ok(BufferSlices {
            row_len,
            rows,
            rows_per_slice,
            slices,
        })
    }

    /// First row held by slice `i`.
    pub fn first_row(&self, i: usize) -> usize {
        i * self.rows_per_slice
    }

    /// Rows held by slice `i`.
    pub fn rows_in(&self, i: usize) -> usize {
        (self.rows - self.first_row(i)).min(self.rows_per_slice)
    }
}

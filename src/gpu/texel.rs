//! Texel tables: flat arrays of `vec4<u32>` stored in a 2-D `Rgba32Uint` texture, element `e` at
//! texel (e & (width − 1), e >> shift) with width = 2^shift.
//!
//! Why a texture for a flat array: lavapipe turns a storage-buffer load whose address differs
//! between lanes into a loop over the lanes, while it fetches texels for all eight lanes with
//! vector code. The t-SNE attraction, which reads its entries and gathers positions, ran 5× faster
//! from texel tables than from storage buffers (dev/profile/profile_tsne, 70,000 points). GPUs
//! serve read-only gathers through their texture caches as well.
//!
//! Shaders name the layout with one line, `override TEXEL_SHIFT: u32;`: the pipeline sets it to
//! the tables' width ([`TexelTable::constants`]), and [`with_texel_tables`] follows it with
//! `texel_at(e)`, the one definition of the address every writer and reader of a table uses.

use super::Gpu;
use crate::error::{Error, Result};

/// The line a shader using texel tables declares (see [`with_texel_tables`]).
const SHIFT_LINE: &str = "override TEXEL_SHIFT: u32;";

/// A flat `vec4<u32>` array in an `Rgba32Uint` texture of width 2^shift (or of `vec2<u32>` in an
/// `Rg32Uint` one: [`Gpu::texel_table_2`]).
pub struct TexelTable {
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    /// log2 of the texture's width.
    pub shift: u32,
}

/// `source` with its `TEXEL_SHIFT` line followed by `texel_at(e)`, the texel of element e
/// (sources without the line come back unchanged).
pub fn with_texel_tables(source: &str) -> String {
    source.replace(
        SHIFT_LINE,
        "override TEXEL_SHIFT: u32;\n\n\
         fn texel_at(e: u32) -> vec2<u32> {\n\
         \x20   return vec2<u32>(e & ((1u << TEXEL_SHIFT) - 1u), e >> TEXEL_SHIFT);\n\
         }",
    )
}

impl TexelTable {
    /// The override constants of a kernel reading tables as wide as this one.
    pub fn constants(&self) -> [(&'static str, f64); 1] {
        [("TEXEL_SHIFT", f64::from(self.shift))]
    }
}

impl Gpu {
    /// log2 of the width of texel tables: the widest power of two the adapter allows (at most
    /// 2^14), so that the most texels fit.
    pub fn texel_shift(&self) -> u32 {
        let max = self.limits.max_texture_dimension_2d.clamp(16, 1 << 14);
        31 - max.leading_zeros()
    }

    /// A texel table of `texels` elements, filled from `data` (4 u32 per texel, `texels` × 4
    /// values) or left zeroed; `writable` tables can also be bound as write-only storage
    /// textures.
    pub fn texel_table(
        &self,
        label: &str,
        texels: usize,
        data: Option<&[u32]>,
        writable: bool,
    ) -> Result<TexelTable> {
        self.texel_table_in(
            label,
            texels,
            data,
            writable,
            wgpu::TextureFormat::Rgba32Uint,
        )
    }

    /// A zeroed, writable texel table of `texels` elements of 2 u32 each, in an `Rg32Uint`
    /// texture: written as `texture_storage_2d<rg32uint, write>`, fetched as `vec4<u32>` (x, y,
    /// 0, 1). Half the bytes of a 4-wide table for random gathers: the sparse attraction's 2-D
    /// positions (at 70,000 points its gathers took ~5% less time than from an `Rgba32Uint`
    /// table; dev/profile/profile_tsne).
    pub fn texel_table_2(&self, label: &str, texels: usize) -> Result<TexelTable> {
        self.texel_table_in(label, texels, None, true, wgpu::TextureFormat::Rg32Uint)
    }

    fn texel_table_in(
        &self,
        label: &str,
        texels: usize,
        data: Option<&[u32]>,
        writable: bool,
        format: wgpu::TextureFormat,
    ) -> Result<TexelTable> {
        let shift = self.texel_shift();
        let width = 1usize << shift;
        let height = texels.div_ceil(width).max(1);
        if height > self.limits.max_texture_dimension_2d as usize {
            return Err(Error::InvalidArgument(format!(
                "{label}: {texels} texels need a {width} × {height} texture; this adapter allows \
                 {0} × {0}",
                self.limits.max_texture_dimension_2d
            )));
        }
        if let Some(data) = data
            && data.len() != texels * 4
        {
            return Err(Error::shape(
                label,
                format!("{} values for {texels} texels of 4", data.len()),
            ));
        }
        let size = wgpu::Extent3d {
            width: width as u32,
            height: height as u32,
            depth_or_array_layers: 1,
        };
        let mut usage = wgpu::TextureUsages::TEXTURE_BINDING
            | wgpu::TextureUsages::COPY_DST
            | wgpu::TextureUsages::COPY_SRC;
        if writable {
            usage |= wgpu::TextureUsages::STORAGE_BINDING;
        }
        let texture = self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage,
            view_formats: &[],
        });
        if let Some(data) = data {
            let mut padded = data.to_vec();
            padded.resize(width * height * 4, 0);
            self.queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture: &texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d::ZERO,
                    aspect: wgpu::TextureAspect::All,
                },
                bytemuck::cast_slice(&padded),
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some((width * 16) as u32),
                    rows_per_image: Some(height as u32),
                },
                size,
            );
        }
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        Ok(TexelTable {
            texture,
            view,
            shift,
        })
    }

    /// Read the first `texels` elements of a texel table (4 u32 each, or 2 for an `Rg32Uint`
    /// table): a copy into a buffer and a readback, for tests and diagnostics.
    pub fn read_texels(&self, table: &TexelTable, texels: usize) -> Result<Vec<u32>> {
        let size = table.texture.size();
        let per_texel = match table.texture.format() {
            wgpu::TextureFormat::Rg32Uint => 2,
            _ => 4,
        };
        let (width, height) = (size.width as usize, size.height as usize);
        if texels > width * height {
            return Err(Error::InvalidArgument(format!(
                "read of {texels} texels from a table of {}",
                width * height
            )));
        }
        let bytes_per_row = (width * per_texel * 4) as u32;
        if !bytes_per_row.is_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) {
            return Err(Error::InvalidArgument(format!(
                "texel table rows of {bytes_per_row} bytes cannot be copied out"
            )));
        }
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("texel table readback"),
            size: (bytes_per_row as usize * height) as u64,
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let mut encoder = self.encoder("texel table readback");
        encoder.copy_texture_to_buffer(
            table.texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(bytes_per_row),
                    rows_per_image: Some(height as u32),
                },
            },
            size,
        );
        self.submit_and_wait(encoder.finish(), "texel table readback")?;
        self.read(&buffer, 0, texels * per_texel)
    }
}

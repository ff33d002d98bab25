//! Decoding with limits, keeping the pixel layout PIL would hold.
//!
//! The `image` crate is used for format detection and for BMP/TIFF/WebP (for BMP we read the
//! palette ourselves to know whether PIL would use nearest-neighbour). PNG and GIF are
//! decoded with the `png`/`gif` crates directly because PIL's behaviour depends on facts that
//! `image` hides: palette images (mode "P") and 1-bit images (mode "1") are resized with
//! nearest-neighbour by PIL, and a tRNS transparency key does not turn an image into RGBA in PIL
//! (so it must not be premultiplied during resize). JPEG goes through [`crate::jpeg`], which
//! reproduces libjpeg-turbo bit for bit, with the `image` crate as fallback for exotic files.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek};
use std::path::Path;

use image::{
    DynamicImage, ImageBuffer, ImageDecoder, ImageFormat, ImageReader, Limits, Luma, LumaA, Rgb,
    Rgba,
};

use crate::error::{one_line, ImageError};

/// Largest accepted image, in pixels: PIL's `DecompressionBombError` threshold
/// (2 × `Image.MAX_IMAGE_PIXELS`), so we refuse what the reference refuses.
pub const MAX_PIXELS: u64 = 2 * 89_478_485;

/// Upper bound on decoder allocations, in bytes (a 16-bit RGBA image at `MAX_PIXELS` fits).
const MAX_ALLOC: u64 = 3 << 29;

/// A decoded image plus the one fact a `DynamicImage` cannot carry.
pub(crate) struct Decoded {
    pub image: DynamicImage,
    /// PIL would hold this image in mode "P" or "1", which `Image.resize` always resizes with
    /// nearest-neighbour whatever filter is asked for.
    pub nearest: bool,
}

pub(crate) fn decode_path(path: &Path) -> Result<Decoded, ImageError> {
    let io = |e: std::io::Error| ImageError::Io {
        path: path.to_owned(),
        reason: one_line(e),
    };
    let file = File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() == 0 {
        return Err(ImageError::Empty {
            path: path.to_owned(),
        });
    }
    decode_reader(BufReader::new(file), path)
}

pub(crate) fn decode_bytes(bytes: &[u8], label: &Path) -> Result<Decoded, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty {
            path: label.to_owned(),
        });
    }
    decode_reader(Cursor::new(bytes), label)
}

fn decode_reader<R: BufRead + Seek>(r: R, path: &Path) -> Result<Decoded, ImageError> {
    let reader = ImageReader::new(r)
        .with_guessed_format()
        .map_err(|e| ImageError::Io {
            path: path.to_owned(),
            reason: one_line(e),
        })?;
    match reader.format() {
        None => Err(ImageError::Unsupported {
            path: path.to_owned(),
            reason: "content not recognised as an image".into(),
        }),
        Some(ImageFormat::Png) => decode_png(reader.into_inner(), path),
        Some(ImageFormat::Gif) => decode_gif(reader.into_inner(), path),
        Some(ImageFormat::Jpeg) => decode_jpeg(reader.into_inner(), path),
        Some(ImageFormat::Bmp) => decode_bmp(reader.into_inner(), path),
        Some(_) => decode_generic(reader, path, false),
    }
}

fn check_pixels(path: &Path, width: u64, height: u64) -> Result<(), ImageError> {
    if width * height > MAX_PIXELS {
        return Err(ImageError::TooLarge {
            path: path.to_owned(),
            width,
            height,
            limit: MAX_PIXELS,
        });
    }
    Ok(())
}

fn decode_error(path: &Path, reason: impl std::fmt::Display) -> ImageError {
    ImageError::Decode {
        path: path.to_owned(),
        reason: one_line(reason),
    }
}

fn map_image_error(path: &Path, e: image::ImageError) -> ImageError {
    use image::ImageError as E;
    match e {
        E::Unsupported(u) => ImageError::Unsupported {
            path: path.to_owned(),
            reason: one_line(u),
        },
        E::Limits(l) => decode_error(path, format_args!("exceeds the decoder limits ({l})")),
        E::IoError(io) if io.kind() != std::io::ErrorKind::UnexpectedEof => ImageError::Io {
            path: path.to_owned(),
            reason: one_line(io),
        },
        other => decode_error(path, other),
    }
}

fn decode_generic<R: BufRead + Seek>(
    mut reader: ImageReader<R>,
    path: &Path,
    nearest: bool,
) -> Result<Decoded, ImageError> {
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let decoder = reader
        .into_decoder()
        .map_err(|e| map_image_error(path, e))?;
    let (w, h) = decoder.dimensions();
    check_pixels(path, w.into(), h.into())?;
    let image = DynamicImage::from_decoder(decoder).map_err(|e| map_image_error(path, e))?;
    Ok(Decoded { image, nearest })
}

fn read_all<R: Read>(mut r: R, path: &Path) -> Result<Vec<u8>, ImageError> {
    let mut data = Vec::new();
    r.read_to_end(&mut data).map_err(|e| ImageError::Io {
        path: path.to_owned(),
        reason: one_line(e),
    })?;
    Ok(data)
}

fn decode_bmp<R: Read>(r: R, path: &Path) -> Result<Decoded, ImageError> {
    let data = read_all(r, path)?;
    let nearest = bmp_is_palette_mode(&data);
    decode_generic(
        ImageReader::with_format(Cursor::new(&data), ImageFormat::Bmp),
        path,
        nearest,
    )
}

/// Whether PIL opens this BMP in mode "P" or "1" (1/4/8-bit with a palette that is not the
/// identity grey ramp, or a two-colour one), which it resizes with nearest-neighbour.
fn bmp_is_palette_mode(data: &[u8]) -> bool {
    let le = |o: usize, n: usize| -> Option<usize> {
        let b = data.get(o..o + n)?;
        Some(b.iter().rev().fold(0, |v, &x| v << 8 | usize::from(x)))
    };
    let inner = || -> Option<bool> {
        let header = le(14, 4)?;
        let (bits, colors, entry) = match header {
            12 => (le(24, 2)?, 0, 3),
            40 | 52 | 56 | 64 | 108 | 124 => (le(28, 2)?, le(46, 4)?, 4),
            _ => return None,
        };
        if bits > 8 {
            return Some(false);
        }
        let colors = if colors == 0 { 1 << bits } else { colors };
        if colors > 256 {
            return None;
        }
        let palette = data.get(14 + header..14 + header + entry * colors)?;
        let grey_at = |i: usize, v: u8| palette[i * entry..i * entry + 3] == [v, v, v];
        let grey = if colors == 2 {
            grey_at(0, 0) && grey_at(1, 255)
        } else {
            (0..colors).all(|i| grey_at(i, i as u8))
        };
        Some(!grey || colors <= 2)
    };
    inner().unwrap_or(false)
}

fn decode_jpeg<R: Read>(r: R, path: &Path) -> Result<Decoded, ImageError> {
    let data = read_all(r, path)?;
    match crate::jpeg::decode(&data, MAX_PIXELS) {
        Ok(crate::jpeg::Decoded::Image(image)) => Ok(Decoded {
            image,
            nearest: false,
        }),
        Ok(crate::jpeg::Decoded::Unsupported(feature)) => decode_generic(
            ImageReader::with_format(Cursor::new(&data), ImageFormat::Jpeg),
            path,
            false,
        )
        .map_err(|e| match feature {
            // The fallback cannot do it either: say what is missing, not "corrupt".
            Some(f) => ImageError::Unsupported {
                path: path.to_owned(),
                reason: f.to_owned(),
            },
            None => e,
        }),
        Err(crate::jpeg::Truncated) => Err(decode_error(path, "JPEG data ends prematurely")),
    }
}

fn png_error(path: &Path, e: png::DecodingError) -> ImageError {
    match e {
        png::DecodingError::LimitsExceeded => {
            decode_error(path, "exceeds the decoder memory limit")
        }
        png::DecodingError::IoError(io) if io.kind() != std::io::ErrorKind::UnexpectedEof => {
            ImageError::Io {
                path: path.to_owned(),
                reason: one_line(io),
            }
        }
        png::DecodingError::IoError(_) => decode_error(path, "unexpected end of file"),
        other => decode_error(path, other),
    }
}

/// Drops every `drop`-th sample group's trailing channel: `[a b X a b X] -> [a b a b]`.
fn strip_last_channel<T: Copy>(data: &[T], channels: usize) -> Vec<T> {
    data.chunks_exact(channels)
        .flat_map(|px| px[..channels - 1].iter().copied())
        .collect()
}

fn decode_png<R: BufRead + Seek>(r: R, path: &Path) -> Result<Decoded, ImageError> {
    use png::{BitDepth, ColorType};
    let err = |e| png_error(path, e);
    let mut decoder = png::Decoder::new_with_limits(
        r,
        png::Limits {
            bytes: MAX_ALLOC as usize,
        },
    );
    decoder.set_ignore_text_chunk(true);
    // EXPAND unpacks palettes and sub-byte greys to 8 bits (scaled like PIL's "L;2"/"L;4"/"1"),
    // and turns tRNS into an alpha channel, which we strip again below.
    decoder.set_transformations(png::Transformations::EXPAND);
    let header = decoder.read_header_info().map_err(err)?;
    check_pixels(path, header.width.into(), header.height.into())?;
    let mut reader = decoder.read_info().map_err(err)?;
    let (src_color, src_depth) = (reader.info().color_type, reader.info().bit_depth);
    let (out_color, out_depth) = reader.output_color_type();
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| decode_error(path, "image dimensions overflow"))?;
    let mut buf = vec![0u8; size];
    let frame = reader.next_frame(&mut buf).map_err(err)?;
    buf.truncate(frame.buffer_size());
    let (w, h) = (frame.width, frame.height);

    let mut channels = out_color.samples();
    // PIL keeps "L"/"RGB"/"P" for images with a transparency key; only real alpha survives.
    let strip_alpha = matches!(
        src_color,
        ColorType::Grayscale | ColorType::Rgb | ColorType::Indexed
    ) && matches!(out_color, ColorType::GrayscaleAlpha | ColorType::Rgba);
    let nearest = src_color == ColorType::Indexed
        || (src_color == ColorType::Grayscale && src_depth == BitDepth::One);

    let bad = || decode_error(path, "decoded buffer has an unexpected size");
    let image = if out_depth == BitDepth::Sixteen {
        let mut data: Vec<u16> = buf
            .chunks_exact(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .collect();
        if strip_alpha {
            data = strip_last_channel(&data, channels);
            channels -= 1;
        }
        match channels {
            1 => DynamicImage::ImageLuma16(
                ImageBuffer::<Luma<u16>, _>::from_raw(w, h, data).ok_or_else(bad)?,
            ),
            2 => DynamicImage::ImageLumaA16(
                ImageBuffer::<LumaA<u16>, _>::from_raw(w, h, data).ok_or_else(bad)?,
            ),
            3 => DynamicImage::ImageRgb16(
                ImageBuffer::<Rgb<u16>, _>::from_raw(w, h, data).ok_or_else(bad)?,
            ),
            _ => DynamicImage::ImageRgba16(
                ImageBuffer::<Rgba<u16>, _>::from_raw(w, h, data).ok_or_else(bad)?,
            ),
        }
    } else {
        if strip_alpha {
            buf = strip_last_channel(&buf, channels);
            channels -= 1;
        }
        match channels {
            1 => DynamicImage::ImageLuma8(ImageBuffer::from_raw(w, h, buf).ok_or_else(bad)?),
            2 => DynamicImage::ImageLumaA8(ImageBuffer::from_raw(w, h, buf).ok_or_else(bad)?),
            3 => DynamicImage::ImageRgb8(ImageBuffer::from_raw(w, h, buf).ok_or_else(bad)?),
            _ => DynamicImage::ImageRgba8(ImageBuffer::from_raw(w, h, buf).ok_or_else(bad)?),
        }
    };
    Ok(Decoded { image, nearest })
}

/// First frame of a GIF as PIL's mode "P" image, mapped through its palette to RGB: the
/// logical screen is filled with the transparency index (or index 0), the frame is pasted at
/// its offset, and transparency is ignored as PIL's `convert("RGB")` ignores it.
fn decode_gif<R: Read>(r: R, path: &Path) -> Result<Decoded, ImageError> {
    let err = |e: gif::DecodingError| match e {
        gif::DecodingError::Io(io) if io.kind() != std::io::ErrorKind::UnexpectedEof => {
            ImageError::Io {
                path: path.to_owned(),
                reason: one_line(io),
            }
        }
        other => decode_error(path, other),
    };
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    options.set_memory_limit(gif::MemoryLimit::Bytes(
        std::num::NonZeroU64::new(MAX_ALLOC).expect("non-zero"),
    ));
    let mut decoder = options.read_info(r).map_err(err)?;
    let global = decoder.global_palette().map(<[u8]>::to_vec);
    let (sw, sh) = (usize::from(decoder.width()), usize::from(decoder.height()));
    let frame = decoder
        .read_next_frame()
        .map_err(err)?
        .ok_or_else(|| decode_error(path, "no image frame in GIF"))?;
    let (fx, fy) = (usize::from(frame.left), usize::from(frame.top));
    let (fw, fh) = (usize::from(frame.width), usize::from(frame.height));
    // PIL grows the canvas when the first frame does not fit the logical screen.
    let (w, h) = (sw.max(fx + fw), sh.max(fy + fh));
    check_pixels(path, w as u64, h as u64)?;
    let palette = frame
        .palette
        .clone()
        .or(global)
        .ok_or_else(|| decode_error(path, "GIF has no colour palette"))?;
    let mut index = vec![frame.transparent.unwrap_or(0); w * h];
    for (row, src) in frame.buffer.chunks_exact(fw.max(1)).take(fh).enumerate() {
        let dst = (fy + row) * w + fx;
        index[dst..dst + fw].copy_from_slice(&src[..fw]);
    }
    let mut rgb = Vec::with_capacity(w * h * 3);
    for &i in &index {
        let p = usize::from(i) * 3;
        rgb.extend_from_slice(palette.get(p..p + 3).unwrap_or(&[0, 0, 0]));
    }
    let image = ImageBuffer::from_raw(w as u32, h as u32, rgb)
        .map(DynamicImage::ImageRgb8)
        .ok_or_else(|| decode_error(path, "GIF frame has an unexpected size"))?;
    Ok(Decoded {
        image,
        nearest: true,
    })
}

//! The eval transform of OpenAI CLIP / open_clip, in torchvision's order:
//! `Resize(n, BICUBIC)` → `CenterCrop(n)` → `convert("RGB")` → `ToTensor` → `Normalize`.
//!
//! The RGB conversion comes *after* the resize (open_clip's `MaybeConvertMode`), so the resize
//! runs in the image's own PIL mode: RGBA/LA are resized premultiplied (PIL does that to avoid
//! dark fringes), 16-bit greyscale is resized at 16 bits, palette/1-bit images with nearest.

use image::{DynamicImage, RgbImage};

use crate::resample::{bicubic, crop, nearest_u8, Window};
use crate::{OPENAI_MEAN, OPENAI_STD};

/// torchvision's `_compute_resized_output_size` for a scalar size: the short side becomes `n`,
/// the long side `int(n * long / short)` (truncated, computed in f64 like Python).
pub(crate) fn resized_dims(w: usize, h: usize, n: usize) -> (usize, usize) {
    let (short, long) = if w <= h { (w, h) } else { (h, w) };
    let new_long = ((n * long) as f64 / short as f64) as usize;
    if w <= h {
        (n, new_long)
    } else {
        (new_long, n)
    }
}

/// torchvision's centre-crop offset `int(round((len - n) / 2.0))`; Python rounds half to even.
pub(crate) fn crop_offset(len: usize, n: usize) -> usize {
    ((len - n) as f64 / 2.0).round_ties_even() as usize
}

/// MULDIV255 from Pillow's RGBA→RGBa conversion.
#[inline]
fn premultiply(c: u8, a: u8) -> u8 {
    let t = u32::from(c) * u32::from(a) + 128;
    (((t >> 8) + t) >> 8) as u8
}

/// Pillow's RGBa→RGBA conversion (truncating division).
#[inline]
fn unpremultiply(c: u8, a: u8) -> u8 {
    if a == 0 || a == 255 {
        c
    } else {
        (255 * u32::from(c) / u32::from(a)).min(255) as u8
    }
}

/// Resize + crop of an interleaved 8-bit image with `C` channels in PIL's mode for it.
fn resize_crop<const C: usize>(
    src: &[u8],
    w: usize,
    h: usize,
    win: Window,
    nearest: bool,
) -> Vec<u8> {
    if (win.out_w, win.out_h) == (w, h) {
        crop::<u8, C>(src, w, win)
    } else if nearest {
        nearest_u8::<C>(src, w, h, win)
    } else {
        bicubic::<u8, C>(src, w, h, win)
    }
}

/// Resize + crop of an image with alpha as its last channel, returning the colour channels
/// only (what PIL's `convert("RGB")` keeps). PIL resizes "RGBA"/"LA" as premultiplied
/// "RGBa"/"La" and converts back, which changes the colour of translucent pixels.
fn resize_crop_alpha<const C: usize>(src: &[u8], w: usize, h: usize, win: Window) -> Vec<u8> {
    let out = if (win.out_w, win.out_h) == (w, h) {
        crop::<u8, C>(src, w, win)
    } else {
        let mut pre = src.to_vec();
        for px in pre.chunks_exact_mut(C) {
            let a = px[C - 1];
            for c in &mut px[..C - 1] {
                *c = premultiply(*c, a);
            }
        }
        let mut out = bicubic::<u8, C>(&pre, w, h, win);
        for px in out.chunks_exact_mut(C) {
            let a = px[C - 1];
            for c in &mut px[..C - 1] {
                *c = unpremultiply(*c, a);
            }
        }
        out
    };
    out.chunks_exact(C)
        .flat_map(|px| px[..C - 1].iter().copied())
        .collect()
}

fn grey_to_rgb(grey: &[u8]) -> Vec<u8> {
    grey.iter().flat_map(|&v| [v, v, v]).collect()
}

/// The high byte of each sample: how PIL reads 16-bit RGB/RGBA/LA PNGs ("RGB;16B" etc.).
fn high_bytes(data: &[u16]) -> Vec<u8> {
    data.iter().map(|&v| (v >> 8) as u8).collect()
}

/// PIL's "I;16" → "RGB": values above 255 saturate (PIL clips, it does not rescale).
fn i16_to_rgb(data: &[u16]) -> Vec<u8> {
    data.iter()
        .flat_map(|&v| {
            let g = v.min(255) as u8;
            [g, g, g]
        })
        .collect()
}

/// Resize (shortest side → `n`), centre crop and RGB conversion: `n * n * 3` bytes, row-major.
pub(crate) fn resize_crop_rgb(img: &DynamicImage, n: usize, nearest: bool) -> Vec<u8> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    assert!(
        w > 0 && h > 0,
        "cannot preprocess an image with a zero dimension"
    );
    let (out_w, out_h) = resized_dims(w, h, n);
    let win = Window {
        out_w,
        out_h,
        left: crop_offset(out_w, n),
        top: crop_offset(out_h, n),
        n,
    };
    match img {
        DynamicImage::ImageLuma8(b) => grey_to_rgb(&resize_crop::<1>(b, w, h, win, nearest)),
        DynamicImage::ImageRgb8(b) => resize_crop::<3>(b, w, h, win, nearest),
        DynamicImage::ImageLumaA8(b) => grey_to_rgb(&resize_crop_alpha::<2>(b, w, h, win)),
        DynamicImage::ImageRgba8(b) => resize_crop_alpha::<4>(b, w, h, win),
        DynamicImage::ImageLuma16(b) => {
            let out = if (out_w, out_h) == (w, h) {
                crop::<u16, 1>(b, w, win)
            } else {
                bicubic::<u16, 1>(b, w, h, win)
            };
            i16_to_rgb(&out)
        }
        DynamicImage::ImageLumaA16(b) => {
            grey_to_rgb(&resize_crop_alpha::<2>(&high_bytes(b), w, h, win))
        }
        DynamicImage::ImageRgb16(b) => resize_crop::<3>(&high_bytes(b), w, h, win, nearest),
        DynamicImage::ImageRgba16(b) => resize_crop_alpha::<4>(&high_bytes(b), w, h, win),
        DynamicImage::ImageRgba32F(_) => resize_crop_alpha::<4>(&img.to_rgba8(), w, h, win),
        other => resize_crop::<3>(&other.to_rgb8(), w, h, win, nearest),
    }
}

/// `ToTensor` + `Normalize` as torch computes them in f32: `(v / 255 - mean) / std`, CHW.
/// A 256-entry table per channel gives the identical values without per-pixel division.
pub(crate) fn normalize_into(rgb: &[u8], n: usize, out: &mut [f32]) {
    normalize_plane_into(rgb, n * n, out)
}

/// [`normalize_into`] for `plane` pixels of any shape.
pub(crate) fn normalize_plane_into(rgb: &[u8], plane: usize, out: &mut [f32]) {
    for c in 0..3 {
        let lut: [f32; 256] =
            std::array::from_fn(|v| (v as f32 / 255.0 - OPENAI_MEAN[c]) / OPENAI_STD[c]);
        for (o, px) in out[c * plane..(c + 1) * plane]
            .iter_mut()
            .zip(rgb.chunks_exact(3))
        {
            *o = lut[usize::from(px[c])];
        }
    }
}

/// PIL's `convert("RGB")` for any `DynamicImage` (alpha dropped, greys replicated, 16-bit as
/// PIL reads it).
pub(crate) fn to_rgb8(img: &DynamicImage) -> RgbImage {
    let (w, h) = (img.width(), img.height());
    let strip = |data: &[u8], c: usize| -> Vec<u8> {
        data.chunks_exact(c)
            .flat_map(|px| {
                if c == 2 {
                    [px[0], px[0], px[0]]
                } else {
                    [px[0], px[1], px[2]]
                }
            })
            .collect()
    };
    let data = match img {
        DynamicImage::ImageLuma8(b) => grey_to_rgb(b),
        DynamicImage::ImageLumaA8(b) => strip(b, 2),
        DynamicImage::ImageRgb8(b) => b.to_vec(),
        DynamicImage::ImageRgba8(b) => strip(b, 4),
        DynamicImage::ImageLuma16(b) => i16_to_rgb(b),
        DynamicImage::ImageLumaA16(b) => strip(&high_bytes(b), 2),
        DynamicImage::ImageRgb16(b) => high_bytes(b),
        DynamicImage::ImageRgba16(b) => strip(&high_bytes(b), 4),
        other => return other.to_rgb8(),
    };
    RgbImage::from_raw(w, h, data).expect("buffer size matches dimensions")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torchvision_sizes() {
        assert_eq!(resized_dims(640, 480, 224), (298, 224));
        assert_eq!(resized_dims(480, 640, 224), (224, 298));
        assert_eq!(resized_dims(100, 100, 64), (64, 64));
        assert_eq!(resized_dims(7, 5, 64), (89, 64));
    }

    #[test]
    fn crop_rounds_half_to_even() {
        assert_eq!(crop_offset(65, 64), 0); // 0.5 -> 0
        assert_eq!(crop_offset(67, 64), 2); // 1.5 -> 2
        assert_eq!(crop_offset(69, 64), 2); // 2.5 -> 2
        assert_eq!(crop_offset(298, 224), 37);
    }

    #[test]
    fn premultiply_round_trip_matches_pillow_examples() {
        assert_eq!(premultiply(255, 128), 128);
        assert_eq!(premultiply(100, 0), 0);
        assert_eq!(unpremultiply(64, 128), 127);
        assert_eq!(unpremultiply(200, 100), 255);
    }
}

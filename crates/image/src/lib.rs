//! CLIP image loading and preprocessing.
//!
//! [`preprocess_path`] reproduces open_clip's / OpenAI's eval transform
//! (`Resize(n, BICUBIC)`, `CenterCrop(n)`, `convert("RGB")`, `ToTensor`, `Normalize`) as it runs
//! on PIL images (Pillow 13, libjpeg-turbo), bit for bit: neuron activations are sensitive
//! enough that "a bicubic resize" is not the input the reference model sees. Hence Pillow's
//! resampling arithmetic and libjpeg-turbo's JPEG decoding are re-implemented here rather than
//! delegated to generic Rust code (which differs by 1–3/255 on many pixels). Only the pixels
//! that survive the centre crop are computed, which also makes it fast.
//!
//! Decoding is by content, never by file extension, with limits so that a corrupt or hostile
//! file yields an [`ImageError`] rather than a panic or an out-of-memory abort. All functions
//! are pure, so batches can be preprocessed in parallel (e.g. with rayon) without locking.

mod decode;
mod error;
mod jpeg;
mod resample;
mod transform;

use std::path::Path;

use image::{DynamicImage, RgbImage};

pub use decode::MAX_PIXELS;
pub use error::ImageError;

// The literals are written exactly as open_clip/OpenAI spell them (torch rounds them to f32 the
// same way), hence the allow.
/// Per-channel mean of OpenAI's CLIP training data (RGB, in [0, 1] units).
#[allow(clippy::excessive_precision)]
pub const OPENAI_MEAN: [f32; 3] = [0.48145466, 0.4578275, 0.40821073];
/// Per-channel standard deviation of OpenAI's CLIP training data (RGB, in [0, 1] units).
#[allow(clippy::excessive_precision)]
pub const OPENAI_STD: [f32; 3] = [0.26862954, 0.26130258, 0.27577711];

/// Decodes an image file, detecting the format from its content.
///
/// The result holds the pixels as PIL would open them: JPEGs decoded as libjpeg-turbo does,
/// palette images expanded to RGB, tRNS transparency keys ignored (PIL keeps such images
/// opaque), 16-bit samples kept, EXIF orientation not applied (open_clip does not apply it
/// either).
pub fn load_image(path: &Path) -> Result<DynamicImage, ImageError> {
    decode::decode_path(path).map(|d| d.image)
}

/// [`load_image`] for an in-memory file (e.g. a member of a tar shard); errors name `label`.
pub fn load_image_bytes(bytes: &[u8], label: &Path) -> Result<DynamicImage, ImageError> {
    decode::decode_bytes(bytes, label).map(|d| d.image)
}

/// Turns an image into a CLIP input: CHW, normalised with [`OPENAI_MEAN`]/[`OPENAI_STD`],
/// `3 * size * size` values.
///
/// The resize runs in the PIL mode matching the `DynamicImage` variant (`Rgba8` as "RGBA",
/// `Luma16` as "I;16", ...). A `DynamicImage` cannot tell that its source was a palette or
/// 1-bit image, which PIL resizes with nearest-neighbour; use [`preprocess_path`] or
/// [`preprocess_bytes`] to get that case right too.
///
/// # Panics
/// If `size` is 0 or the image has a zero dimension.
pub fn preprocess(img: &DynamicImage, size: usize) -> Vec<f32> {
    let mut out = vec![0.0; 3 * size * size];
    preprocess_into(img, size, &mut out);
    out
}

/// [`preprocess`] writing into a caller-provided buffer (e.g. one slot of a batch tensor).
///
/// # Panics
/// If `out.len() != 3 * size * size`, `size` is 0 or the image has a zero dimension.
pub fn preprocess_into(img: &DynamicImage, size: usize, out: &mut [f32]) {
    transform_into(img, false, size, out);
}

fn transform_into(img: &DynamicImage, nearest: bool, size: usize, out: &mut [f32]) {
    assert!(size > 0, "preprocess size must be positive");
    assert_eq!(
        out.len(),
        3 * size * size,
        "output buffer must hold 3*size*size values"
    );
    let rgb = transform::resize_crop_rgb(img, size, nearest);
    transform::normalize_into(&rgb, size, out);
}

/// Loads and preprocesses an image file exactly as open_clip's eval transform would.
///
/// # Panics
/// If `size` is 0.
pub fn preprocess_path(path: &Path, size: usize) -> Result<Vec<f32>, ImageError> {
    let decoded = decode::decode_path(path)?;
    let mut out = vec![0.0; 3 * size * size];
    transform_into(&decoded.image, decoded.nearest, size, &mut out);
    Ok(out)
}

/// The image as the model sees it before normalisation: decoded, resized and centre-cropped to `size` × `size`
/// RGB exactly as [`preprocess_path`] does (so `normalize(&model_view(p)?)` equals `preprocess_path(p)`); for
/// drawing on the model's view of an image (typographic attacks) or showing it.
///
/// # Panics
/// If `size` is 0.
pub fn model_view(path: &Path, size: usize) -> Result<RgbImage, ImageError> {
    let decoded = decode::decode_path(path)?;
    let rgb = transform::resize_crop_rgb(&decoded.image, size, decoded.nearest);
    Ok(RgbImage::from_raw(size as u32, size as u32, rgb).expect("size*size*3 bytes"))
}

/// [`model_view`] for an in-memory file; errors name `label`.
pub fn model_view_bytes(bytes: &[u8], label: &Path, size: usize) -> Result<RgbImage, ImageError> {
    let decoded = decode::decode_bytes(bytes, label)?;
    let rgb = transform::resize_crop_rgb(&decoded.image, size, decoded.nearest);
    Ok(RgbImage::from_raw(size as u32, size as u32, rgb).expect("size*size*3 bytes"))
}

/// `ToTensor` + `Normalize` of an RGB image: CHW, OpenAI mean/std, `3 * w * h` values (the image should already
/// be the model's input size).
pub fn normalize(rgb: &RgbImage) -> Vec<f32> {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let mut out = vec![0.0; 3 * w * h];
    transform::normalize_plane_into(rgb.as_raw(), w * h, &mut out);
    out
}

/// [`preprocess_path`] for an in-memory file; errors name `label`.
///
/// # Panics
/// If `size` is 0.
pub fn preprocess_bytes(bytes: &[u8], label: &Path, size: usize) -> Result<Vec<f32>, ImageError> {
    let decoded = decode::decode_bytes(bytes, label)?;
    let mut out = vec![0.0; 3 * size * size];
    transform_into(&decoded.image, decoded.nearest, size, &mut out);
    Ok(out)
}

/// The RGB conversion PIL's `convert("RGB")` performs: alpha dropped (not composited), grey
/// replicated, 16-bit RGB(A) reduced to its high byte, 16-bit grey ("I;16") clipped at 255.
pub fn to_rgb8(img: &DynamicImage) -> RgbImage {
    transform::to_rgb8(img)
}

/// Inverse of the normalisation, for saving model inputs or visualising optimised images:
/// `round((x * std + mean) * 255)` clamped to [0, 255].
///
/// # Panics
/// If `chw.len() != 3 * size * size`.
pub fn denormalize_to_rgb8(chw: &[f32], size: usize) -> RgbImage {
    assert_eq!(
        chw.len(),
        3 * size * size,
        "input must hold 3*size*size values"
    );
    let plane = size * size;
    let mut data = vec![0u8; 3 * plane];
    for (i, px) in data.chunks_exact_mut(3).enumerate() {
        for (c, v) in px.iter_mut().enumerate() {
            let x = chw[c * plane + i] * OPENAI_STD[c] + OPENAI_MEAN[c];
            *v = (x * 255.0).round().clamp(0.0, 255.0) as u8;
        }
    }
    RgbImage::from_raw(size as u32, size as u32, data).expect("buffer size matches dimensions")
}

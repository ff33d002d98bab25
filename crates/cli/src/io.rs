//! File input and output shared by the commands: model loading, images to pixels, atomic tensor writes.

use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use clipneurons_model::Clip;
use rayon::prelude::*;

/// Load and build a model from any supported checkpoint format.
pub fn load_model(path: &Path) -> Result<Clip> {
    let ckpt = clipneurons_checkpoint::load(path)?;
    Clip::from_state_dict(&ckpt.tensors).with_context(|| format!("{}", path.display()))
}

/// Decode and preprocess images in parallel into `[N, 3, S, S]`.
pub fn images_to_pixels(paths: &[std::path::PathBuf], size: usize) -> Result<Tensor> {
    if paths.is_empty() {
        bail!("no images given");
    }
    let chw: Vec<Vec<f32>> = paths
        .par_iter()
        .map(|p| clipneurons_image::preprocess_path(p, size).map_err(anyhow::Error::from))
        .collect::<Result<_>>()?;
    let n = chw.len();
    let flat: Vec<f32> = chw.into_iter().flatten().collect();
    Ok(Tensor::from_vec(flat, (n, 3, size, size), &Device::Cpu)?)
}

/// The `pixels` tensor of a file written by `clipneurons preprocess`.
pub fn read_pixels(path: &Path) -> Result<Tensor> {
    let map = candle_core::safetensors::load(path, &Device::Cpu)
        .map_err(|e| anyhow::anyhow!("{}: cannot read as safetensors ({e})", path.display()))?;
    match map.get("pixels") {
        Some(t) => Ok(t.to_dtype(candle_core::DType::F32)?),
        None => bail!(
            "{}: no tensor named `pixels` (found: {}); write it with `clipneurons preprocess`",
            path.display(),
            map.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Pixels from `--image` files or a `--pixels` file, checked against the model's input size.
pub fn image_input(
    model: &Clip,
    images: &[std::path::PathBuf],
    pixels: Option<&Path>,
) -> Result<Option<Tensor>> {
    match (images.is_empty(), pixels) {
        (false, _) => Ok(Some(images_to_pixels(images, model.image_size())?)),
        (true, Some(p)) => Ok(Some(read_pixels(p)?)),
        (true, None) => Ok(None),
    }
}

/// Write tensors to a safetensors file atomically: a partial file never replaces a good one.
pub fn save_tensors(tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    let map = tensors.iter().cloned().collect();
    Ok(clipneurons_checkpoint::save_f32_safetensors(&map, path)?)
}

/// Tokenize texts into a `[M, context]` u32 tensor.
pub fn tokens_tensor(texts: &[String], context: usize) -> Result<Tensor> {
    let tok = clipneurons_tokenizer::Tokenizer::new();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ids = tok.tokenize_batch(&refs, context);
    let flat: Vec<u32> = ids.into_iter().flatten().collect();
    Ok(Tensor::from_vec(
        flat,
        (texts.len(), context),
        &Device::Cpu,
    )?)
}

//! File input and output shared by the commands: model loading, images to pixels, atomic tensor writes.

use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use clipneurons_checkpoint::Checkpoint;
use clipneurons_model::Clip;

use crate::args::ModelArg;
use rayon::prelude::*;

impl ModelArg {
    /// The checkpoint `--model` names, or the built-in model when none is given.
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        Ok(match &self.model {
            Some(path) => clipneurons_checkpoint::load(path)?,
            None => clipneurons_builtin::checkpoint()
                .context("the built-in model's weights are damaged; rebuild the program")?,
        })
    }

    /// How the model is named in messages: its path, or `<built-in>`.
    pub fn label(&self) -> String {
        match &self.model {
            Some(p) => p.display().to_string(),
            None => clipneurons_builtin::LABEL.to_string(),
        }
    }
}

/// Load and build the model of `--model` (any supported checkpoint format) or the built-in one.
pub fn load_model(arg: &ModelArg) -> Result<Clip> {
    let ckpt = arg.checkpoint()?;
    Clip::from_state_dict(&ckpt.tensors).with_context(|| arg.label())
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

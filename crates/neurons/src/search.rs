//! Zero-shot neuron search (Goh et al. 2021, "Multimodal neurons"): rank the neurons of the last ResNet block by
//! how much raising each one moves the image embedding towards a text's embedding. For ViTs the analogous neurons
//! are the last block's MLP units (`mlp.gelu`), whose direct path to the embedding is `c_proj`, `ln_post` and
//! `proj` (`VisionTransformer::last_mlp_directions`).
//!
//! The attention pool reads the last block's output `X` `[C, h, w]`; its output is `c_proj(Σ_j a_j v_proj(x_j))`
//! with attention weights `a_j` summing to 1. Raising channel `i` by `δ` at every position adds `δ · (W_c W_v)[:, i]`
//! to the image embedding through the values (the direct path), plus whatever the re-weighted attention changes. So
//! column `i` of `W = W_c W_v` (`[E, C]`) is neuron `i`'s direct direction in embedding space, and `Wᵀ t̂` scores
//! every neuron against a text at once — the article's bilinear `W x_text`. `verify` checks the whole effect on the
//! model itself: on a blank image, raise the neuron and see whether the text's logit rises.

use candle_core::{Device, Tensor, D};
use clipneurons_model::{l2_normalize, Clip, VisionTower};
use serde::Serialize;

use crate::{NeuronError, Result};

/// How far `verify` raises a neuron (at every position of the last block's output, on a blank image).
pub const VERIFY_DELTA: f32 = 1.0;

#[derive(Clone, Debug, Serialize)]
pub struct NeuronHit {
    pub neuron: usize,
    /// `w_iᵀ t̂`: the neuron's embedding direction against the normalised text embedding.
    pub score: f32,
    /// With `verify`: the text's logit on a blank image before and after raising the neuron by `VERIFY_DELTA`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logit_before: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logit_after: Option<f32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SearchResult {
    pub text: String,
    pub prompt: String,
    /// The layer whose channels are ranked (the last block's output; its `.add` tap has the same channels).
    pub layer: String,
    pub top: Vec<NeuronHit>,
}

/// `[C, E]`: row `i` is neuron `i`'s direction in embedding space.
pub fn neuron_directions(model: &Clip) -> Result<(String, Tensor)> {
    match &model.visual {
        VisionTower::Resnet(r) => {
            let (v, c) = r.attnpool_value_output();
            // W = W_c · W_v ([E, C]); rows of its transpose are the neurons.
            let w = c.weight().matmul(v.weight())?;
            Ok((r.last_block_name(), w.t()?.contiguous()?))
        }
        VisionTower::Vit(v) => Ok(v.last_mlp_directions()?),
    }
}

/// The layers `search` accepts: the last block's output and its pre-ReLU `.add` tap.
pub fn check_layer(model: &Clip, layer: Option<&str>) -> Result<String> {
    let (last, _) = neuron_directions(model)?;
    let is_vit = matches!(model.visual, VisionTower::Vit(_));
    match layer {
        None => Ok(last),
        Some(l) if l == last || (!is_vit && l == format!("{last}.add")) => Ok(l.to_string()),
        Some(l) => Err(NeuronError::Input(format!(
            "zero-shot search ranks the neurons with a direct path to the embedding: use --layer {last}{}, not {l}",
            if is_vit { String::new() } else { format!(" (or {last}.add)") }
        ))),
    }
}

/// Every neuron's zero-shot score `Wᵀ t̂` for each prompt: `[T, C]`, with the normalised text embeddings `[T, E]`.
/// Also a direction over channels for feature visualisation (`viz --objective direction --text`).
pub fn text_scores(model: &Clip, prompts: &[String]) -> Result<(Tensor, Vec<Vec<f32>>)> {
    let (_, dirs) = neuron_directions(model)?;
    let tokens = model.tokenize(prompts)?;
    let text = l2_normalize(&model.encode_text(&tokens)?)?;
    let scores = text.matmul(&dirs.t()?)?.to_vec2::<f32>()?;
    Ok((text, scores))
}

/// Ranks the neurons of `layer` (see [`check_layer`]) for each text (`template` with `{}` replaced by the text),
/// keeping the `top` highest scores. With `verify`, each kept neuron is also raised on a blank image.
pub fn search(
    model: &Clip,
    texts: &[String],
    template: &str,
    layer: Option<&str>,
    top: usize,
    verify: bool,
) -> Result<Vec<SearchResult>> {
    if texts.is_empty() {
        return Err(NeuronError::Input(
            "give at least one text to search for".into(),
        ));
    }
    let layer = check_layer(model, layer)?;
    let prompts: Vec<String> = texts.iter().map(|t| template.replace("{}", t)).collect();
    let (text, scores) = text_scores(model, &prompts)?;
    let blank = if verify {
        Some(BlankImage::new(model)?)
    } else {
        None
    };
    let mut out = Vec::with_capacity(texts.len());
    for (ti, row) in scores.iter().enumerate() {
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        let mut hits = Vec::new();
        for &n in order.iter().take(top) {
            let (before, after) = match &blank {
                Some(b) => {
                    let (x, y) = b.raise(model, n, &text.get(ti)?)?;
                    (Some(x), Some(y))
                }
                None => (None, None),
            };
            hits.push(NeuronHit {
                neuron: n,
                score: row[n],
                logit_before: before,
                logit_after: after,
            });
        }
        out.push(SearchResult {
            text: texts[ti].clone(),
            prompt: prompts[ti].clone(),
            layer: layer.clone(),
            top: hits,
        });
    }
    Ok(out)
}

/// The article's check of one neuron: on a blank (mean-grey) image, the logit of the normalised text embedding
/// `text` `[E]` before and after raising neuron `n` by [`VERIFY_DELTA`] everywhere.
pub fn verify_neuron(model: &Clip, n: usize, text: &Tensor) -> Result<(f32, f32)> {
    BlankImage::new(model)?.raise(model, n, text)
}

/// The last block's output for a blank (mean-grey) image, ready to be edited: the whole `[1, C, h, w]` map for a
/// ResNet, the class token's residual stream `[1, width]` for a ViT (the only token the embedding reads; the last
/// block's MLP acts on each token alone, so raising a neuron at every token changes the embedding exactly as
/// raising it at the class token).
struct BlankImage {
    x: Tensor,
}

impl BlankImage {
    fn new(model: &Clip) -> Result<Self> {
        let s = model.image_size();
        // All zeros after normalisation = the dataset-mean colour everywhere.
        let pixels = Tensor::zeros((1, 3, s, s), candle_core::DType::F32, &Device::Cpu)?;
        let tap = match &model.visual {
            VisionTower::Resnet(r) => r.last_block_name(),
            VisionTower::Vit(v) => v.last_block_name(),
        };
        let x = model
            .record(Some(&pixels), None, &[tap])?
            .into_iter()
            .next()
            .expect("one tap")
            .1;
        let x = match &model.visual {
            VisionTower::Resnet(_) => x,
            VisionTower::Vit(_) => x.narrow(1, 0, 1)?.squeeze(1)?,
        };
        Ok(Self { x })
    }

    /// The text's logit (`exp(logit_scale)·cos`) before and after raising neuron `n` by `VERIFY_DELTA` everywhere.
    fn raise(&self, model: &Clip, n: usize, text: &Tensor) -> Result<(f32, f32)> {
        // The image embedding before and after the edit.
        let (plain, raised) = match &model.visual {
            VisionTower::Resnet(r) => {
                let c = self.x.dim(1)?;
                let mut bump = vec![0f32; c];
                bump[n] = VERIFY_DELTA;
                let bump = Tensor::from_vec(bump, (1, c, 1, 1), &Device::Cpu)?;
                (r.pool(&self.x)?, r.pool(&self.x.broadcast_add(&bump)?)?)
            }
            VisionTower::Vit(v) => {
                let row = (v.last_mlp_rows()?.get(n)? * VERIFY_DELTA as f64)?;
                (
                    v.embed_class_token(&self.x)?,
                    v.embed_class_token(&self.x.broadcast_add(&row.unsqueeze(0)?)?)?,
                )
            }
        };
        let scale = model.logit_scale.exp();
        let logit = |e: &Tensor| -> Result<f32> {
            let f = l2_normalize(e)?;
            Ok(f.matmul(&text.unsqueeze(D::Minus1)?)?
                .flatten_all()?
                .to_vec1::<f32>()?[0]
                * scale)
        };
        Ok((logit(&plain)?, logit(&raised)?))
    }
}

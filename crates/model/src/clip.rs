//! A whole CLIP model: image tower (ModifiedResNet or ViT), text tower and `logit_scale`, built from a state dict
//! with OpenAI/open_clip key names.

use std::collections::BTreeMap;

use candle_core::{Tensor, Var};

use crate::config::{ClipConfig, VisionConfig};
use crate::error::{ModelError, Result};
use crate::resnet::ModifiedResNet;
use crate::taps::Taps;
use crate::text::TextTransformer;
use crate::vit::VisionTransformer;
use crate::weights::Weights;

pub enum VisionTower {
    Resnet(ModifiedResNet),
    Vit(VisionTransformer),
}

pub struct Clip {
    pub config: ClipConfig,
    pub visual: VisionTower,
    pub text: TextTransformer,
    pub logit_scale: f32,
}

/// Which tower a tap name belongs to.
pub fn is_image_tap(name: &str) -> bool {
    name.starts_with("visual.")
}

impl Clip {
    pub fn from_state_dict(sd: &BTreeMap<String, Tensor>) -> Result<Self> {
        let config = ClipConfig::from_state_dict(sd)?;
        let w = Weights::new(sd, format!("{} ({})", config.name, describe(&config)));
        let visual = match config.vision {
            VisionConfig::Resnet {
                layers,
                width,
                heads,
                image_size,
            } => VisionTower::Resnet(ModifiedResNet::load(
                &w,
                layers,
                width,
                heads,
                image_size,
                config.embed_dim,
            )?),
            VisionConfig::Vit {
                layers,
                width,
                heads,
                patch_size,
                image_size,
            } => VisionTower::Vit(VisionTransformer::load(
                &w,
                layers,
                width,
                heads,
                patch_size,
                image_size,
                config.embed_dim,
            )?),
        };
        let text = TextTransformer::load(&w, &config.text, config.embed_dim)?;
        let logit_scale = w.scalar("logit_scale")?;
        Ok(Self {
            config,
            visual,
            text,
            logit_scale,
        })
    }

    pub fn image_size(&self) -> usize {
        self.config.image_size()
    }

    fn check_pixels(&self, pixels: &Tensor) -> Result<()> {
        let s = self.image_size();
        match pixels.dims() {
            [_, 3, h, w] if *h == s && *w == s => Ok(()),
            d => Err(ModelError::Input(format!(
                "pixels have shape {d:?}; this model takes [N, 3, {s}, {s}] (run `clipneurons preprocess`)"
            ))),
        }
    }

    /// Image tower with tap recording. Returns `None` if the requested taps were all recorded early.
    pub fn forward_image(&self, pixels: &Tensor, taps: &mut Taps) -> Result<Option<Tensor>> {
        self.check_pixels(pixels)?;
        match &self.visual {
            VisionTower::Resnet(m) => m.forward(pixels, taps),
            VisionTower::Vit(m) => m.forward(pixels, taps),
        }
    }

    /// [`Clip::encode_image`] and one image tap from the same pass: `(tap, features)`.
    pub fn encode_image_with_tap(&self, pixels: &Tensor, layer: &str) -> Result<(Tensor, Tensor)> {
        let mut taps = Taps::named_to_end(&[layer]);
        let features = self
            .forward_image(pixels, &mut taps)?
            .ok_or_else(|| ModelError::Input("image pass stopped early".into()))?;
        let tap = taps.take(layer).ok_or_else(|| self.unknown_layer(layer))?;
        Ok((tap, features))
    }

    /// Unnormalised image features `[N, E]`, as open_clip's `encode_image`.
    pub fn encode_image(&self, pixels: &Tensor) -> Result<Tensor> {
        self.forward_image(pixels, &mut Taps::none())?
            .ok_or_else(|| ModelError::Input("image pass stopped early".into()))
    }

    pub fn forward_text(&self, tokens: &Tensor, taps: &mut Taps) -> Result<Option<Tensor>> {
        self.text.forward(tokens, taps)
    }

    /// CLIP BPE token ids `[M, context]` (u32) of `texts` at this model's context length (long texts are cut
    /// and end in EOT, as `open_clip.tokenize`).
    pub fn tokenize(&self, texts: &[String]) -> Result<Tensor> {
        let ctx = self.config.text.context_length;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let ids: Vec<u32> = clipneurons_tokenizer::Tokenizer::new()
            .tokenize_batch(&refs, ctx)
            .into_iter()
            .flatten()
            .collect();
        Ok(Tensor::from_vec(
            ids,
            (texts.len(), ctx),
            &candle_core::Device::Cpu,
        )?)
    }

    /// Unnormalised text features `[M, E]`, as open_clip's `encode_text`.
    /// The default layer for neuron analyses: the article's last-block pre-ReLU sum for ResNets
    /// (`visual.layer4.N.add`, RN50x4's `image_block_4/5/Add_6`), the last block's MLP neurons for ViTs.
    pub fn neuron_layer(&self) -> String {
        match &self.config.vision {
            VisionConfig::Resnet { layers, .. } => {
                format!("visual.layer4.{}.add", layers[3].saturating_sub(1))
            }
            VisionConfig::Vit { layers, .. } => format!(
                "visual.transformer.resblocks.{}.mlp.gelu",
                layers.saturating_sub(1)
            ),
        }
    }

    pub fn encode_text(&self, tokens: &Tensor) -> Result<Tensor> {
        self.forward_text(tokens, &mut Taps::none())?
            .ok_or_else(|| ModelError::Input("text pass stopped early".into()))
    }

    /// `exp(logit_scale) · normalise(img) · normalise(txt)ᵀ` — `[N, M]` logits per image.
    pub fn logits(&self, image_features: &Tensor, text_features: &Tensor) -> Result<Tensor> {
        let i = l2_normalize(image_features)?;
        let t = l2_normalize(text_features)?;
        Ok((i.matmul(&t.t()?)? * (self.logit_scale as f64).exp())?)
    }

    /// Record the named taps of one tower. Image taps start with `visual.`; all others are text taps.
    pub fn record(
        &self,
        pixels: Option<&Tensor>,
        tokens: Option<&Tensor>,
        names: &[String],
    ) -> Result<Vec<(String, Tensor)>> {
        let (img, txt): (Vec<_>, Vec<_>) = names.iter().cloned().partition(|n| is_image_tap(n));
        let mut out = Vec::new();
        for (names, input, image) in [(img, pixels, true), (txt, tokens, false)] {
            if names.is_empty() {
                continue;
            }
            let input = input.ok_or_else(|| {
                ModelError::Input(format!(
                    "layer `{}` is in the {} tower; give {}",
                    names[0],
                    if image { "image" } else { "text" },
                    if image { "images or pixels" } else { "--text" }
                ))
            })?;
            let mut taps = Taps::named(&names);
            if image {
                self.forward_image(input, &mut taps)?;
            } else {
                self.forward_text(input, &mut taps)?;
            }
            if let Some(name) = taps.missing().first() {
                return Err(self.unknown_layer(name));
            }
            for n in &names {
                out.push((n.clone(), taps.take(n).expect("recorded")));
            }
        }
        Ok(out)
    }

    /// Every tap of both towers with its shape for a batch of one.
    pub fn layer_shapes(&self) -> Result<Vec<(String, Vec<usize>)>> {
        let s = self.image_size();
        let dev = candle_core::Device::Cpu;
        let pixels = Tensor::zeros((1, 3, s, s), candle_core::DType::F32, &dev)?;
        let mut taps = Taps::shapes();
        self.forward_image(&pixels, &mut taps)?;
        let ctx = self.config.text.context_length;
        let mut ids = vec![0u32; ctx];
        ids[0] = 1;
        let tokens = Tensor::from_vec(ids, (1, ctx), &dev)?;
        self.forward_text(&tokens, &mut taps)?;
        Ok(taps.shape_list().to_vec())
    }

    pub fn unknown_layer(&self, name: &str) -> ModelError {
        let names: Vec<String> = self
            .layer_shapes()
            .map(|v| v.into_iter().map(|(n, _)| n).collect())
            .unwrap_or_default();
        let hint = closest(name, &names)
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        ModelError::UnknownLayer {
            name: name.to_string(),
            hint,
        }
    }

    /// Value of `channel` at tap `layer`, averaged over positions/tokens and summed over the batch, and its gradient
    /// with respect to the input pixels. Only the input is a variable, so no weight gradient is kept.
    pub fn input_gradient(
        &self,
        pixels: &Tensor,
        layer: &str,
        channel: usize,
    ) -> Result<(f32, Tensor)> {
        let var = Var::from_tensor(pixels)?;
        let mut taps = Taps::named(&[layer]);
        self.forward_image(var.as_tensor(), &mut taps)?;
        let t = taps.take(layer).ok_or_else(|| self.unknown_layer(layer))?;
        let objective = channel_mean(&t, channel)?.sum_all()?;
        let grads = objective.backward()?;
        let g = grads.get(var.as_tensor()).cloned().ok_or_else(|| {
            ModelError::Input(format!("no gradient reached the input from `{layer}`"))
        })?;
        Ok((objective.to_scalar::<f32>()?, g))
    }
}

/// Per-example mean of one channel over all positions: NCHW taps use dim 1 as channel, token taps `[N,T,D]` and
/// pooled `[N,D]` the last dim.
pub fn channel_mean(t: &Tensor, channel: usize) -> Result<Tensor> {
    let r = t.rank();
    let c_dim = if r == 4 { 1 } else { r - 1 };
    let c = t.dim(c_dim)?;
    if channel >= c {
        return Err(ModelError::Input(format!(
            "neuron {channel} is out of range: this layer has {c} channels"
        )));
    }
    let x = t.narrow(c_dim, channel, 1)?;
    let n = x.dim(0)?;
    Ok(x.reshape((n, ()))?.mean(1)?)
}

/// Per-example, per-channel maximum over all positions: `[N,C,H,W]` and token taps `[N,T,D]` → `[N,C]`;
/// a pooled `[N,D]` tap is returned as it is.
pub fn spatial_max(t: &Tensor) -> Result<Tensor> {
    Ok(match t.rank() {
        4 => t.flatten_from(2)?.max(2)?,
        3 => t.max(1)?,
        _ => t.clone(),
    })
}

/// Per-example, per-channel mean over all positions, with the shape rules of [`spatial_max`].
pub fn spatial_mean(t: &Tensor) -> Result<Tensor> {
    Ok(match t.rank() {
        4 => t.flatten_from(2)?.mean(2)?,
        3 => t.mean(1)?,
        _ => t.clone(),
    })
}

pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    Ok(x.broadcast_div(&x.sqr()?.sum_keepdim(candle_core::D::Minus1)?.sqrt()?)?)
}

fn describe(c: &ClipConfig) -> String {
    match &c.vision {
        VisionConfig::Resnet {
            layers,
            width,
            image_size,
            ..
        } => {
            format!(
                "ModifiedResNet layers {layers:?} width {width} at {image_size}px, embed {}",
                c.embed_dim
            )
        }
        VisionConfig::Vit {
            layers,
            width,
            patch_size,
            image_size,
            ..
        } => {
            format!(
                "ViT {layers}x{width} patch {patch_size} at {image_size}px, embed {}",
                c.embed_dim
            )
        }
    }
}

/// Closest name by edit distance, for "did you mean" hints.
pub fn closest<'a>(name: &str, names: &'a [String]) -> Option<&'a str> {
    let dist = |a: &str, b: &str| -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1; b.len() + 1];
            for (j, cb) in b.iter().enumerate() {
                cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1);
            }
            prev = cur;
        }
        prev[b.len()]
    };
    names
        .iter()
        .map(|n| (dist(name, n), n))
        .filter(|(d, n)| *d <= n.len() / 3 + 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n.as_str())
}

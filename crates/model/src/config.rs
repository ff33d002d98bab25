//! Architecture inferred from a state dict's tensor shapes alone, by the rules of OpenAI's `build_model`
//! (`clip/model.py`), so any checkpoint of the family — RN50…RN50x64, ViT-B/32…L/14@336, or a small
//! custom shape like the built-in model — needs no separate config file.

use std::collections::BTreeMap;

use candle_core::Tensor;
use serde::Serialize;

use crate::error::{ModelError, Result};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VisionConfig {
    /// ModifiedResNet: 3-conv stem, anti-aliased bottlenecks, attention pooling.
    Resnet {
        layers: [usize; 4],
        width: usize,
        heads: usize,
        image_size: usize,
    },
    /// Pre-LN vision transformer with a class token.
    Vit {
        layers: usize,
        width: usize,
        heads: usize,
        patch_size: usize,
        image_size: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextConfig {
    pub context_length: usize,
    pub vocab_size: usize,
    pub width: usize,
    pub heads: usize,
    pub layers: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClipConfig {
    pub embed_dim: usize,
    pub vision: VisionConfig,
    pub text: TextConfig,
    /// A name for well-known shapes (`RN50x4`, `ViT-B/32`, …), `custom` otherwise.
    pub name: String,
}

fn shape<'a>(sd: &'a BTreeMap<String, Tensor>, key: &str, why: &str) -> Result<&'a [usize]> {
    sd.get(key)
        .map(|t| t.dims())
        .ok_or_else(|| ModelError::MissingKey {
            key: key.to_string(),
            why: why.to_string(),
        })
}

/// Number of distinct indices `i` among keys `{prefix}{i}.…`.
fn count_blocks(sd: &BTreeMap<String, Tensor>, prefix: &str) -> usize {
    let mut seen = std::collections::BTreeSet::new();
    for k in sd.keys() {
        if let Some(rest) = k.strip_prefix(prefix) {
            if let Some(idx) = rest.split('.').next().and_then(|s| s.parse::<usize>().ok()) {
                seen.insert(idx);
            }
        }
    }
    seen.len()
}

fn exact_sqrt(n: usize) -> Option<usize> {
    let r = (n as f64).sqrt().round() as usize;
    (r * r == n).then_some(r)
}

impl ClipConfig {
    pub fn from_state_dict(sd: &BTreeMap<String, Tensor>) -> Result<Self> {
        let vision = if sd.contains_key("visual.proj") {
            let conv = shape(sd, "visual.conv1.weight", "ViT patch embedding")?;
            if conv.len() != 4 {
                return Err(ModelError::Config(format!(
                    "`visual.conv1.weight` should be 4-D, found {conv:?}"
                )));
            }
            let width = conv[0];
            let patch_size = conv[3];
            let pos = shape(sd, "visual.positional_embedding", "ViT positions")?;
            let grid = exact_sqrt(pos[0].saturating_sub(1)).ok_or_else(|| {
                ModelError::Config(format!(
                    "`visual.positional_embedding` has {} rows, not a square grid + 1",
                    pos[0]
                ))
            })?;
            let layers = count_blocks(sd, "visual.transformer.resblocks.");
            VisionConfig::Vit {
                layers,
                width,
                heads: (width / 64).max(1),
                patch_size,
                image_size: patch_size * grid,
            }
        } else if sd.contains_key("visual.attnpool.positional_embedding") {
            let mut layers = [0usize; 4];
            for (i, l) in layers.iter_mut().enumerate() {
                *l = count_blocks(sd, &format!("visual.layer{}.", i + 1));
                if *l == 0 {
                    return Err(ModelError::MissingKey {
                        key: format!("visual.layer{}.0.conv1.weight", i + 1),
                        why: "ModifiedResNet stage".into(),
                    });
                }
            }
            let width = shape(sd, "visual.layer1.0.conv1.weight", "first bottleneck")?[0];
            let pos = shape(
                sd,
                "visual.attnpool.positional_embedding",
                "attention pool positions",
            )?;
            let grid = exact_sqrt(pos[0].saturating_sub(1)).ok_or_else(|| {
                ModelError::Config(format!(
                    "`visual.attnpool.positional_embedding` has {} rows, not a square grid + 1",
                    pos[0]
                ))
            })?;
            VisionConfig::Resnet {
                layers,
                width,
                heads: (width * 32 / 64).max(1),
                image_size: grid * 32,
            }
        } else {
            return Err(ModelError::Config(
                "found neither `visual.proj` (ViT) nor `visual.attnpool.positional_embedding` (ModifiedResNet)"
                    .into(),
            ));
        };
        let embed_dim = *shape(sd, "text_projection", "text projection")?
            .get(1)
            .ok_or_else(|| ModelError::Config("`text_projection` should be 2-D".into()))?;
        let width = shape(sd, "ln_final.weight", "final text layer norm")?[0];
        let text = TextConfig {
            context_length: shape(sd, "positional_embedding", "text positions")?[0],
            vocab_size: shape(sd, "token_embedding.weight", "token embedding")?[0],
            width,
            heads: (width / 64).max(1),
            layers: count_blocks(sd, "transformer.resblocks."),
        };
        let mut cfg = ClipConfig {
            embed_dim,
            vision,
            text,
            name: String::new(),
        };
        cfg.name = cfg.known_name().unwrap_or("custom").to_string();
        Ok(cfg)
    }

    pub fn image_size(&self) -> usize {
        match self.vision {
            VisionConfig::Resnet { image_size, .. } | VisionConfig::Vit { image_size, .. } => {
                image_size
            }
        }
    }

    /// The OpenAI release this shape matches, if any.
    pub fn known_name(&self) -> Option<&'static str> {
        let t = &self.text;
        if t.context_length != 77 || t.vocab_size != 49408 || t.layers != 12 {
            return None;
        }
        match (&self.vision, self.embed_dim, t.width) {
            (
                VisionConfig::Resnet {
                    layers: [3, 4, 6, 3],
                    width: 64,
                    image_size: 224,
                    ..
                },
                1024,
                512,
            ) => Some("RN50"),
            (
                VisionConfig::Resnet {
                    layers: [3, 4, 23, 3],
                    width: 64,
                    image_size: 224,
                    ..
                },
                512,
                512,
            ) => Some("RN101"),
            (
                VisionConfig::Resnet {
                    layers: [4, 6, 10, 6],
                    width: 80,
                    image_size: 288,
                    ..
                },
                640,
                640,
            ) => Some("RN50x4"),
            (
                VisionConfig::Resnet {
                    layers: [6, 8, 18, 8],
                    width: 96,
                    image_size: 384,
                    ..
                },
                768,
                768,
            ) => Some("RN50x16"),
            (
                VisionConfig::Resnet {
                    layers: [3, 15, 36, 10],
                    width: 128,
                    image_size: 448,
                    ..
                },
                1024,
                1024,
            ) => Some("RN50x64"),
            (
                VisionConfig::Vit {
                    layers: 12,
                    width: 768,
                    patch_size: 32,
                    image_size: 224,
                    ..
                },
                512,
                512,
            ) => Some("ViT-B/32"),
            (
                VisionConfig::Vit {
                    layers: 12,
                    width: 768,
                    patch_size: 16,
                    image_size: 224,
                    ..
                },
                512,
                512,
            ) => Some("ViT-B/16"),
            (
                VisionConfig::Vit {
                    layers: 24,
                    width: 1024,
                    patch_size: 14,
                    image_size: 224,
                    ..
                },
                768,
                768,
            ) => Some("ViT-L/14"),
            (
                VisionConfig::Vit {
                    layers: 24,
                    width: 1024,
                    patch_size: 14,
                    image_size: 336,
                    ..
                },
                768,
                768,
            ) => Some("ViT-L/14@336"),
            _ => None,
        }
    }
}

//! HF-transformers `CLIPModel` key layout → OpenAI/open_clip key layout.
//!
//! The inverse of transformers' `convert_clip_original_pytorch_to_hf.py`: q/k/v projections are
//! stacked back into `in_proj_weight`/`in_proj_bias` (rows `[q; k; v]`), and the two projection
//! matrices, stored as `Linear.weight` `[out, in]` by HF, are transposed back to `[in, out]`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::Tensor;

use crate::error::{bad_tensor, candle_msg, CheckpointError};

/// True if the keys use HF's `vision_model.*` / `text_model.*` layout.
pub(crate) fn is_hf_layout<'a>(mut keys: impl Iterator<Item = &'a str>) -> bool {
    keys.any(|k| k.starts_with("vision_model.") || k.starts_with("text_model."))
}

enum Target {
    Direct(String),
    Transposed(String),
    /// Part 0/1/2 (q/k/v) of a stacked in-projection.
    Qkv(String, usize),
}

/// Maps the part of a key after `encoder.layers.<i>.`.
fn map_block(rest: &str) -> Option<Target> {
    for (i, p) in ["q_proj", "k_proj", "v_proj"].iter().enumerate() {
        if let Some(kind) = rest.strip_prefix(&format!("self_attn.{p}.")) {
            let stacked = match kind {
                "weight" => "attn.in_proj_weight",
                "bias" => "attn.in_proj_bias",
                _ => return None,
            };
            return Some(Target::Qkv(stacked.to_string(), i));
        }
    }
    let renames = [
        ("self_attn.out_proj.", "attn.out_proj."),
        ("layer_norm1.", "ln_1."),
        ("layer_norm2.", "ln_2."),
        ("mlp.fc1.", "mlp.c_fc."),
        ("mlp.fc2.", "mlp.c_proj."),
    ];
    renames.iter().find_map(|(from, to)| {
        rest.strip_prefix(from)
            .map(|param| Target::Direct(format!("{to}{param}")))
    })
}

fn map_key(key: &str) -> Option<Target> {
    let (tower, rest) = if let Some(rest) = key.strip_prefix("vision_model.") {
        ("visual.", rest)
    } else if let Some(rest) = key.strip_prefix("text_model.") {
        ("", rest)
    } else {
        return match key {
            "visual_projection.weight" => Some(Target::Transposed("visual.proj".into())),
            "text_projection.weight" => Some(Target::Transposed("text_projection".into())),
            "logit_scale" => Some(Target::Direct("logit_scale".into())),
            _ => None,
        };
    };
    if let Some(layer) = rest.strip_prefix("encoder.layers.") {
        let (index, block) = layer.split_once('.')?;
        let index: usize = index.parse().ok()?;
        let blocks = format!("{tower}transformer.resblocks.{index}.");
        return Some(match map_block(block)? {
            Target::Direct(k) => Target::Direct(blocks + &k),
            Target::Qkv(k, part) => Target::Qkv(blocks + &k, part),
            Target::Transposed(k) => Target::Transposed(blocks + &k),
        });
    }
    let vision = tower == "visual.";
    let direct = |s: String| Some(Target::Direct(s));
    match rest {
        "embeddings.patch_embedding.weight" if vision => direct("visual.conv1.weight".into()),
        "embeddings.class_embedding" if vision => direct("visual.class_embedding".into()),
        "embeddings.position_embedding.weight" if vision => {
            direct("visual.positional_embedding".into())
        }
        "embeddings.token_embedding.weight" if !vision => direct("token_embedding.weight".into()),
        "embeddings.position_embedding.weight" => direct("positional_embedding".into()),
        _ => {
            let renames: &[(&str, &str)] = if vision {
                &[
                    ("pre_layrnorm.", "visual.ln_pre."),
                    ("post_layernorm.", "visual.ln_post."),
                ]
            } else {
                &[("final_layer_norm.", "ln_final.")]
            };
            renames.iter().find_map(|(from, to)| {
                rest.strip_prefix(from)
                    .map(|param| Target::Direct(format!("{to}{param}")))
            })
        }
    }
}

/// Output of the mapping: tensors and source dtypes under OpenAI names, plus HF keys we did not
/// recognise (reported, not fatal, so a newer transformers version adding buffers still loads).
pub(crate) struct Mapped {
    pub tensors: BTreeMap<String, Tensor>,
    pub source_dtypes: BTreeMap<String, String>,
    pub unknown: Vec<String>,
}

pub(crate) fn to_openai(
    path: &Path,
    tensors: BTreeMap<String, Tensor>,
    source_dtypes: &BTreeMap<String, String>,
) -> Result<Mapped, CheckpointError> {
    for required in [
        "vision_model.embeddings.patch_embedding.weight",
        "vision_model.embeddings.class_embedding",
    ] {
        if !tensors.contains_key(required) {
            let has_vision = tensors.keys().any(|k| k.starts_with("vision_model."));
            return Err(CheckpointError::NotVitClip {
                path: path.to_path_buf(),
                detail: if has_vision {
                    format!("it has vision_model.* weights but no {required}")
                } else {
                    "it has no vision_model.* weights, e.g. a text-only model".to_string()
                },
            });
        }
    }
    let mut out = Mapped {
        tensors: BTreeMap::new(),
        source_dtypes: BTreeMap::new(),
        unknown: Vec::new(),
    };
    let mut qkv: HashMap<String, [Option<Tensor>; 3]> = HashMap::new();
    for (key, t) in tensors {
        let dtype = source_dtypes.get(&key).cloned().unwrap_or_default();
        let (target, t) = match map_key(&key) {
            Some(Target::Direct(k)) => (k, t),
            Some(Target::Transposed(k)) => {
                let tt = t.t().and_then(|x| x.contiguous()).map_err(|e| {
                    bad_tensor(path, &key, format!("cannot transpose: {}", candle_msg(&e)))
                })?;
                (k, tt)
            }
            Some(Target::Qkv(k, part)) => {
                out.source_dtypes.insert(k.clone(), dtype);
                qkv.entry(k).or_default()[part] = Some(t);
                continue;
            }
            None => {
                out.unknown.push(key);
                continue;
            }
        };
        out.source_dtypes.insert(target.clone(), dtype);
        out.tensors.insert(target, t);
    }
    for (key, parts) in qkv {
        let [Some(q), Some(k), Some(v)] = parts else {
            let missing: Vec<&str> = ["q_proj", "k_proj", "v_proj"]
                .iter()
                .zip(&parts)
                .filter(|(_, p)| p.is_none())
                .map(|(n, _)| *n)
                .collect();
            return Err(bad_tensor(
                path,
                &key,
                format!(
                    "HF attention lacks {} needed to build it",
                    missing.join(", ")
                ),
            ));
        };
        let stacked = Tensor::cat(&[&q, &k, &v], 0).map_err(|e| {
            bad_tensor(
                path,
                &key,
                format!("cannot stack q/k/v: {}", candle_msg(&e)),
            )
        })?;
        out.tensors.insert(key, stacked);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(t: Option<Target>) -> String {
        match t {
            Some(Target::Direct(k)) => format!("={k}"),
            Some(Target::Transposed(k)) => format!("T{k}"),
            Some(Target::Qkv(k, p)) => format!("{k}#{p}"),
            None => "-".into(),
        }
    }

    #[test]
    fn key_table() {
        let cases = [
            (
                "vision_model.embeddings.patch_embedding.weight",
                "=visual.conv1.weight",
            ),
            (
                "vision_model.embeddings.class_embedding",
                "=visual.class_embedding",
            ),
            (
                "vision_model.embeddings.position_embedding.weight",
                "=visual.positional_embedding",
            ),
            ("vision_model.pre_layrnorm.weight", "=visual.ln_pre.weight"),
            ("vision_model.post_layernorm.bias", "=visual.ln_post.bias"),
            (
                "vision_model.encoder.layers.3.self_attn.k_proj.bias",
                "visual.transformer.resblocks.3.attn.in_proj_bias#1",
            ),
            (
                "vision_model.encoder.layers.0.self_attn.out_proj.weight",
                "=visual.transformer.resblocks.0.attn.out_proj.weight",
            ),
            (
                "vision_model.encoder.layers.11.layer_norm2.weight",
                "=visual.transformer.resblocks.11.ln_2.weight",
            ),
            (
                "text_model.encoder.layers.1.mlp.fc1.bias",
                "=transformer.resblocks.1.mlp.c_fc.bias",
            ),
            (
                "text_model.encoder.layers.1.mlp.fc2.weight",
                "=transformer.resblocks.1.mlp.c_proj.weight",
            ),
            (
                "text_model.embeddings.token_embedding.weight",
                "=token_embedding.weight",
            ),
            (
                "text_model.embeddings.position_embedding.weight",
                "=positional_embedding",
            ),
            ("text_model.final_layer_norm.weight", "=ln_final.weight"),
            ("visual_projection.weight", "Tvisual.proj"),
            ("text_projection.weight", "Ttext_projection"),
            ("logit_scale", "=logit_scale"),
            ("vision_model.head.weight", "-"),
            ("vision_model.encoder.layers.x.mlp.fc1.bias", "-"),
        ];
        for (hf, want) in cases {
            assert_eq!(name(map_key(hf)), want, "{hf}");
        }
    }
}

//! The two classifiers the article attacked: zero-shot (the label prompts' text embeddings) and a linear probe
//! on the image embedding (softmax regression trained on labelled images). Both score a batch of images through
//! one image-tower pass that can also record a neuron layer.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor, D};
use clipneurons_model::{l2_normalize, Clip};
use clipneurons_neurons::readout::fit_softmax;
use image::RgbImage;

use crate::{file_err, AttackError, Result};

/// A classifier over `labels`.
pub struct Classifier {
    pub labels: Vec<String>,
    kind: Kind,
}

enum Kind {
    /// L2-normalised text embeddings `[K, E]` and the model's logit scale.
    ZeroShot {
        text: Tensor,
        scale: f64,
    },
    Probe(LinearProbe),
}

/// What one pass over a batch gives: class probabilities per image and, if asked, per-neuron spatial maxima.
pub struct Scored {
    pub probs: Vec<Vec<f32>>,
    /// `[N][C]` spatial maximum of each channel of the recorded layer.
    pub neurons: Vec<Vec<f32>>,
}

/// `[N, 3, S, S]` model input from RGB images of the model's size.
pub fn pixels(images: &[&RgbImage]) -> Result<Tensor> {
    let side = images.first().map_or(0, |i| i.width() as usize);
    let data: Vec<f32> = images
        .iter()
        .flat_map(|i| clipneurons_image::normalize(i))
        .collect();
    Ok(Tensor::from_vec(
        data,
        (images.len(), 3, side, side),
        &Device::Cpu,
    )?)
}

/// Features and, with `layer`, the layer's per-channel spatial maximum, from one pass.
fn features(
    model: &Clip,
    images: &[&RgbImage],
    layer: Option<&str>,
) -> Result<(Tensor, Vec<Vec<f32>>)> {
    let px = pixels(images)?;
    match layer {
        None => Ok((model.encode_image(&px)?, Vec::new())),
        Some(l) => {
            let (tap, f) = model.encode_image_with_tap(&px, l)?;
            let m = clipneurons_model::spatial_max(&tap)?;
            Ok((f, m.to_vec2::<f32>()?))
        }
    }
}

fn softmax_rows(logits: &Tensor) -> Result<Vec<Vec<f32>>> {
    let max = logits.max_keepdim(D::Minus1)?;
    let e = logits.broadcast_sub(&max)?.exp()?;
    Ok(e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?
        .to_vec2::<f32>()?)
}

impl Classifier {
    /// Zero-shot over `labels` with `template` (`{}` stands for the label).
    pub fn zero_shot(model: &Clip, labels: &[String], template: &str) -> Result<Classifier> {
        if !template.contains("{}") {
            return Err(AttackError::Input(format!(
                "the template '{template}' has no {{}} where the label goes, e.g. \"a photo of a {{}}.\""
            )));
        }
        check_labels(labels)?;
        let prompts: Vec<String> = labels.iter().map(|l| template.replace("{}", l)).collect();
        let text = l2_normalize(&model.encode_text(&model.tokenize(&prompts)?)?)?;
        Ok(Classifier {
            labels: labels.to_vec(),
            kind: Kind::ZeroShot {
                text,
                scale: (model.logit_scale as f64).exp(),
            },
        })
    }

    pub fn from_probe(probe: LinearProbe) -> Classifier {
        Classifier {
            labels: probe.labels.clone(),
            kind: Kind::Probe(probe),
        }
    }

    pub fn is_zero_shot(&self) -> bool {
        matches!(self.kind, Kind::ZeroShot { .. })
    }

    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::ZeroShot { .. } => "zero-shot",
            Kind::Probe(_) => "linear probe",
        }
    }

    /// Class probabilities of each image, and `layer`'s neurons if given.
    pub fn score(&self, model: &Clip, images: &[&RgbImage], layer: Option<&str>) -> Result<Scored> {
        if images.is_empty() {
            return Ok(Scored {
                probs: Vec::new(),
                neurons: Vec::new(),
            });
        }
        let (f, neurons) = features(model, images, layer)?;
        let logits = match &self.kind {
            Kind::ZeroShot { text, scale } => (l2_normalize(&f)?.matmul(&text.t()?)? * *scale)?,
            Kind::Probe(p) => p.logits(&f)?,
        };
        Ok(Scored {
            probs: softmax_rows(&logits)?,
            neurons,
        })
    }
}

fn check_labels(labels: &[String]) -> Result<()> {
    if labels.len() < 2 {
        return Err(AttackError::Input(format!(
            "need at least two labels to classify, got {}",
            labels.len()
        )));
    }
    Ok(())
}

/// Softmax regression on standardised, L2-normalised image embeddings.
pub struct LinearProbe {
    pub labels: Vec<String>,
    /// `[K, D]`, `[K]`, and the per-feature mean and standard deviation `[D]` used to standardise.
    weight: Tensor,
    bias: Tensor,
    mean: Tensor,
    std: Tensor,
    /// Accuracy on the training images.
    pub train_accuracy: f64,
}

/// Training settings of the probe (full-batch Adam on cross-entropy plus `l2 · ‖W‖²`).
pub use clipneurons_neurons::readout::FitOptions as ProbeOptions;

impl LinearProbe {
    fn logits(&self, features: &Tensor) -> Result<Tensor> {
        let x = l2_normalize(features)?
            .broadcast_sub(&self.mean)?
            .broadcast_div(&self.std)?;
        Ok(x.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?)
    }

    /// Train on `images` (model-size RGB) with class indices `targets` into `labels`.
    pub fn train(
        model: &Clip,
        images: &[&RgbImage],
        targets: &[usize],
        labels: &[String],
        opts: &ProbeOptions,
        batch: usize,
    ) -> Result<LinearProbe> {
        check_labels(labels)?;
        if images.is_empty() || images.len() != targets.len() {
            return Err(AttackError::Input(
                "no labelled images to train the probe on".into(),
            ));
        }
        let mut feats = Vec::new();
        for chunk in images.chunks(batch.max(1)) {
            feats.push(l2_normalize(&features(model, chunk, None)?.0)?);
        }
        let x = Tensor::cat(&feats, 0)?;
        let fit = fit_softmax(&x, targets, labels.len(), opts)?;
        let probe = LinearProbe {
            labels: labels.to_vec(),
            weight: fit.weight,
            bias: fit.bias,
            mean: fit.mean,
            std: fit.std,
            train_accuracy: fit.train_accuracy,
        };
        Ok(probe)
    }

    /// Write the probe as safetensors (`weight`, `bias`, `mean`, `std`) with its labels in the header.
    pub fn save(&self, path: &Path) -> Result<()> {
        let tensors: BTreeMap<String, Tensor> = [
            ("weight", &self.weight),
            ("bias", &self.bias),
            ("mean", &self.mean),
            ("std", &self.std),
        ]
        .into_iter()
        .map(|(k, t)| (k.to_string(), t.clone()))
        .collect();
        let meta: BTreeMap<String, String> = [
            ("kind".to_string(), "clipneurons-linear-probe".to_string()),
            (
                "features".to_string(),
                "image embedding, L2-normalised".to_string(),
            ),
            (
                "labels".to_string(),
                serde_json::to_string(&self.labels).expect("strings serialise"),
            ),
            (
                "train_accuracy".to_string(),
                format!("{:.4}", self.train_accuracy),
            ),
        ]
        .into_iter()
        .collect();
        clipneurons_checkpoint::save_safetensors_with(
            &tensors,
            path,
            clipneurons_checkpoint::StoreDtype::F32,
            &meta,
        )
        .map_err(|e| file_err(path, e))
    }

    /// Read a probe written by [`LinearProbe::save`]; `embed_dim` is the model's, to catch a probe of another model.
    pub fn load(path: &Path, embed_dim: usize) -> Result<LinearProbe> {
        let bytes = std::fs::read(path).map_err(|e| file_err(path, e))?;
        let bad = |m: String| {
            file_err(
                path,
                format!("{m} (write probes with `clipneurons probe train`)"),
            )
        };
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        if meta.get("kind").map(String::as_str) != Some("clipneurons-linear-probe") {
            return Err(bad("not a clipneurons linear probe".into()));
        }
        let labels: Vec<String> = meta
            .get("labels")
            .and_then(|l| serde_json::from_str(l).ok())
            .ok_or_else(|| bad("the header has no label list".into()))?;
        let t = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| bad(e.to_string()))?;
        let get = |k: &str| {
            t.get(k)
                .cloned()
                .ok_or_else(|| bad(format!("tensor `{k}` is missing")))
        };
        let (weight, bias, mean, std) = (get("weight")?, get("bias")?, get("mean")?, get("std")?);
        if weight.dims() != [labels.len(), embed_dim] {
            return Err(file_err(
                path,
                format!(
                    "the probe's weight is {:?} but this model has {embed_dim}-dimensional embeddings and the probe \
                     {} labels: it was trained on another model",
                    weight.dims(),
                    labels.len()
                ),
            ));
        }
        Ok(LinearProbe {
            labels,
            weight,
            bias,
            mean,
            std,
            train_accuracy: meta
                .get("train_accuracy")
                .and_then(|a| a.parse().ok())
                .unwrap_or(f64::NAN),
        })
    }
}

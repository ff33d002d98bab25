//! Faceted feature visualisation (Goh et al. 2021, "Faceted feature visualization"): a linear probe per facet
//! (photo, drawing, text, …) on lower-layer activations `g(x)`, and an extra objective term that rewards the
//! image for looking like the facet *where it matters to the neuron*: `wᵀ (g(x) ⊙ ∇f(g(x)))`, with the gradient
//! held constant (OpenAI's released code also passes it through a ReLU; both are supported).
//!
//! Probes are binary softmax regressions (facet images vs negatives) on each layer's spatially averaged
//! activations, stored as a direction `v` over the layer's channels in raw activation units plus an offset, so
//! `g·v + c` is the facet's logit. The article used every other block of the third stage.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use clipneurons_model::Clip;
use clipneurons_neurons::readout::{fit_softmax, FitOptions};
use serde::Serialize;

use crate::{Result, VizError};

/// The `kind` metadata of a facet-probe file.
pub const KIND: &str = "clipneurons-facet-probes";

/// One facet's probe on one layer.
#[derive(Clone, Debug)]
pub struct LayerProbe {
    pub layer: String,
    /// Direction over the layer's channels, raw activation units.
    pub direction: Vec<f32>,
    pub offset: f32,
}

/// Probes for several facets, each on the same layers.
#[derive(Clone, Debug, Default)]
pub struct FacetProbes {
    pub facets: BTreeMap<String, Vec<LayerProbe>>,
}

/// How well a probe separates its training sets.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeFit {
    pub facet: String,
    pub layer: String,
    pub positives: usize,
    pub negatives: usize,
    pub train_accuracy: f64,
}

/// The default facet layers of a ResNet: every other block of the third stage, by their output taps.
pub fn default_layers(model: &Clip) -> Vec<String> {
    let blocks = match &model.config.vision {
        clipneurons_model::VisionConfig::Resnet { layers, .. } => layers[2],
        clipneurons_model::VisionConfig::Vit { .. } => 0,
    };
    (0..blocks)
        .step_by(2)
        .map(|i| format!("visual.layer3.{i}"))
        .collect()
}

/// Spatial means `[N, C]` of each layer's activations for a batch of model-ready pixels.
fn layer_means(model: &Clip, pixels: &Tensor, layers: &[String]) -> Result<Vec<Tensor>> {
    let rec = model.record(Some(pixels), None, layers)?;
    rec.into_iter()
        .map(|(_, t)| Ok(clipneurons_model::spatial_mean(&t)?))
        .collect()
}

/// Spatial means of every layer over `images` (`[N, 3, S, S]` chunks), concatenated: one `[N, C]` per layer.
fn features(model: &Clip, batches: &[Tensor], layers: &[String]) -> Result<Vec<Tensor>> {
    let mut per_layer: Vec<Vec<Tensor>> = vec![Vec::new(); layers.len()];
    for b in batches {
        for (l, t) in layer_means(model, b, layers)?.into_iter().enumerate() {
            per_layer[l].push(t);
        }
    }
    per_layer
        .into_iter()
        .map(|ts| Ok(Tensor::cat(&ts, 0)?))
        .collect()
}

impl FacetProbes {
    /// Train one probe per facet and layer: `positives[facet]` against `negatives`, each a list of model-ready
    /// pixel batches `[n, 3, S, S]`.
    pub fn train(
        model: &Clip,
        layers: &[String],
        positives: &BTreeMap<String, Vec<Tensor>>,
        negatives: &BTreeMap<String, Vec<Tensor>>,
        opts: &FitOptions,
    ) -> Result<(FacetProbes, Vec<ProbeFit>)> {
        if layers.is_empty() {
            return Err(VizError::Input("no facet layers".into()));
        }
        let mut out = FacetProbes::default();
        let mut fits = Vec::new();
        for (facet, pos) in positives {
            let neg = negatives
                .get(facet)
                .ok_or_else(|| VizError::Input(format!("no negative images for facet {facet}")))?;
            let fp = features(model, pos, layers)?;
            let fneg = features(model, neg, layers)?;
            let mut probes = Vec::new();
            for (l, layer) in layers.iter().enumerate() {
                let (np, nn) = (fp[l].dim(0)?, fneg[l].dim(0)?);
                if np == 0 || nn == 0 {
                    return Err(VizError::Input(format!(
                        "facet {facet}: {np} positive and {nn} negative images; both sets need images"
                    )));
                }
                let x = Tensor::cat(&[&fneg[l], &fp[l]], 0)?;
                let targets: Vec<usize> = (0..nn).map(|_| 0).chain((0..np).map(|_| 1)).collect();
                let fit = fit_softmax(&x, &targets, 2, opts)?;
                // logit(facet) − logit(other) = ((g − μ)/σ)·(w₁ − w₀) + (b₁ − b₀) = g·v + c.
                let w = (fit.weight.get(1)? - fit.weight.get(0)?)?;
                let v = (w / fit.std.squeeze(0)?)?;
                let b = fit.bias.to_vec1::<f32>()?;
                let mean_dot = (fit.mean.squeeze(0)? * &v)?.sum_all()?.to_scalar::<f32>()?;
                probes.push(LayerProbe {
                    layer: layer.clone(),
                    direction: v.to_vec1::<f32>()?,
                    offset: b[1] - b[0] - mean_dot,
                });
                fits.push(ProbeFit {
                    facet: facet.clone(),
                    layer: layer.clone(),
                    positives: np,
                    negatives: nn,
                    train_accuracy: fit.train_accuracy,
                });
            }
            out.facets.insert(facet.clone(), probes);
        }
        Ok((out, fits))
    }

    /// The facet's logit for each image of `pixels` `[N, 3, S, S]`, averaged over its layers.
    pub fn score(&self, model: &Clip, facet: &str, pixels: &Tensor) -> Result<Vec<f32>> {
        let probes = self.get(facet)?;
        let layers: Vec<String> = probes.iter().map(|p| p.layer.clone()).collect();
        let means = layer_means(model, pixels, &layers)?;
        let mut total = vec![0f32; pixels.dim(0)?];
        for (p, m) in probes.iter().zip(means) {
            let c = p.direction.len();
            let v = Tensor::from_vec(p.direction.clone(), (c, 1), &Device::Cpu)?;
            let s = m.matmul(&v)?.squeeze(1)?.to_vec1::<f32>()?;
            for (t, x) in total.iter_mut().zip(s) {
                *t += (x + p.offset) / probes.len() as f32;
            }
        }
        Ok(total)
    }

    pub fn get(&self, facet: &str) -> Result<&Vec<LayerProbe>> {
        self.facets.get(facet).ok_or_else(|| {
            VizError::Input(format!(
                "no probe for facet '{facet}'; the probes know: {}",
                self.facets.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// Tensors `FACET/LAYER` (direction) and `FACET/LAYER/offset` in safetensors, `kind` in the header.
    pub fn to_tensors(&self) -> Result<BTreeMap<String, Tensor>> {
        let mut t = BTreeMap::new();
        for (facet, probes) in &self.facets {
            for p in probes {
                let key = format!("{facet}/{}", p.layer);
                t.insert(
                    key.clone(),
                    Tensor::from_vec(p.direction.clone(), p.direction.len(), &Device::Cpu)?,
                );
                t.insert(
                    format!("{key}/offset"),
                    Tensor::from_vec(vec![p.offset], 1, &Device::Cpu)?,
                );
            }
        }
        Ok(t)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let meta = BTreeMap::from([("kind".to_string(), KIND.to_string())]);
        clipneurons_checkpoint::save_safetensors_with(
            &self.to_tensors()?,
            path,
            clipneurons_checkpoint::StoreDtype::F32,
            &meta,
        )
        .map_err(|e| VizError::Input(format!("{}: {e}", path.display())))
    }

    /// Read probes from safetensors bytes; `label` names the source in errors. Every probe must fit `model`'s
    /// layer widths.
    pub fn from_bytes(bytes: &[u8], label: &str, model: &Clip) -> Result<FacetProbes> {
        let bad = |why: String| VizError::Input(format!("{label}: {why}"));
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a safetensors file ({e})")))?;
        let kind = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("kind").cloned())
            .unwrap_or_default();
        if kind != KIND {
            return Err(bad(format!(
                "not a facet-probe file (kind '{kind}'); make one with `clipneurons facets train`"
            )));
        }
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)?;
        let mut out = FacetProbes::default();
        for (key, t) in &tensors {
            if key.ends_with("/offset") {
                continue;
            }
            let (facet, layer) = key
                .split_once('/')
                .ok_or_else(|| bad(format!("unexpected tensor '{key}'")))?;
            let offset = tensors
                .get(&format!("{key}/offset"))
                .ok_or_else(|| bad(format!("'{key}' has no offset")))?
                .to_vec1::<f32>()?[0];
            let direction = t.to_vec1::<f32>()?;
            let (channels, _, _) = clipneurons_neurons::mine::layer_geometry(model, layer)
                .map_err(|e| bad(format!("layer {layer}: {e}")))?;
            if channels != direction.len() {
                return Err(bad(format!(
                    "the {facet} probe on {layer} has {} channels, the model's layer {channels} (probes of another model?)",
                    direction.len()
                )));
            }
            out.facets
                .entry(facet.to_string())
                .or_default()
                .push(LayerProbe {
                    layer: layer.to_string(),
                    direction,
                    offset,
                });
        }
        Ok(out)
    }

    pub fn load(path: &Path, model: &Clip) -> Result<FacetProbes> {
        let bytes = std::fs::read(path)
            .map_err(|e| VizError::Input(format!("cannot read {}: {e}", path.display())))?;
        Self::from_bytes(&bytes, &path.display().to_string(), model)
    }
}

/// The faceted term's settings for one render.
#[derive(Clone, Debug)]
pub struct FacetTerm {
    pub probes: Vec<LayerProbe>,
    /// Strength for the first and last image of the batch, linearly spaced between (the article's `A..B`).
    pub strength: (f64, f64),
    /// Pass the held-constant gradient through a ReLU (OpenAI's released code) or use it as it is.
    pub relu_gradient: bool,
}

impl FacetTerm {
    /// Strength of image `i` of `batch`.
    pub fn strength_of(&self, i: usize, batch: usize) -> f64 {
        let (a, b) = self.strength;
        if batch <= 1 {
            return b;
        }
        a + (b - a) * i as f64 / (batch - 1) as f64
    }

    /// `Σ_layers (5 / #layers) Σ_b s_b · mean_positions( Σ_c v_c g_bc ⊙ G_bc )`, with `G` = the objective's gradient
    /// at `g` (detached; ReLU'd if asked). `acts` and `grads` are per probe layer.
    pub fn value(&self, acts: &[Tensor], grads: &[Tensor]) -> Result<Tensor> {
        let mut total: Option<Tensor> = None;
        let weight = 5.0 / self.probes.len().max(1) as f64;
        for ((p, g), grad) in self.probes.iter().zip(acts).zip(grads) {
            let (b, c, _, _) = g.dims4()?;
            let grad = grad.detach();
            let grad = if self.relu_gradient {
                grad.relu()?
            } else {
                grad
            };
            let v = Tensor::from_vec(p.direction.clone(), (1, c, 1, 1), &Device::Cpu)?;
            let s: Vec<f32> = (0..b).map(|i| self.strength_of(i, b) as f32).collect();
            let s = Tensor::from_vec(s, (b, 1, 1, 1), &Device::Cpu)?;
            let per_image = (g * grad)?.broadcast_mul(&v)?.sum_keepdim(1)?;
            let term = (per_image
                .broadcast_mul(&s)?
                .flatten_from(1)?
                .mean(1)?
                .sum_all()?
                * weight)?;
            total = Some(match total {
                None => term,
                Some(t) => (t + term)?,
            });
        }
        total.ok_or_else(|| VizError::Input("the facet has no probe layers".into()))
    }
}

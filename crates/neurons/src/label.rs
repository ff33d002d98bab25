//! Automatic neuron labels from a mining run, in the spirit of CLIP-Dissect's soft-WPMI: the model's own text tower
//! says how likely each concept is for every mined image (`p(c | x)`, zero-shot); a neuron's image score for a
//! concept is the pointwise mutual information between its top images and the concept,
//! `log mean_{x in top-k} p(c|x) − log mean_{x in run} p(c|x)`; its word score is its response to the concept's
//! name written out (rendered-word probe). The label is the concept with the highest sum of the two scores, each
//! standardised over concepts. On world images the label can be checked: the share of the neuron's top images that
//! show the label concept, and in how many facets.

use std::collections::BTreeSet;

use candle_core::{Device, Tensor, D};
use clipneurons_model::{l2_normalize, Clip};
use serde::Serialize;

use crate::mine::RunState;
use crate::sheet::view_of;
use crate::words::probe_words;
use crate::{NeuronError, Result};

#[derive(Serialize, Clone)]
pub struct NeuronLabel {
    pub neuron: usize,
    pub label: String,
    /// Standardised image (PMI) and word scores of the label, and their sum.
    pub image_score: f64,
    pub word_score: f64,
    pub score: f64,
    /// The best concept by top images alone, and by rendered words alone.
    pub image_label: String,
    pub word_label: String,
    /// World runs only: share of the top images that show the label concept, and the facets they come in.
    pub precision: Option<f64>,
    pub facets: Vec<String>,
}

impl NeuronLabel {
    /// The label concept appears among the neuron's top images in at least 3 facets.
    pub fn is_multimodal(&self) -> bool {
        self.facets.len() >= 3
    }
}

#[derive(Serialize)]
pub struct LabelReport {
    pub layer: String,
    pub concepts: usize,
    pub images: usize,
    pub top_k: usize,
    pub neurons: Vec<NeuronLabel>,
    /// World runs: scoring against the planted concepts.
    pub ground_truth: Option<GroundTruth>,
}

#[derive(Serialize)]
pub struct GroundTruth {
    /// Mean precision of the labels (share of top images showing the label concept).
    pub mean_precision: f64,
    /// Share of neurons whose label concept is the most common concept among their top images.
    pub label_matches_top_images: f64,
    /// Share of the concepts present in the run that label at least one neuron.
    pub concept_recall: f64,
    /// Of the concepts that label a neuron, the share whose best neuron (highest score) is multimodal.
    pub multimodal_share: f64,
    pub labelled_concepts: usize,
    pub concepts_in_run: usize,
}

fn standardise(v: &[f64]) -> Vec<f64> {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n)
        .sqrt()
        .max(1e-12);
    v.iter().map(|x| (x - m) / sd).collect()
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |b, (i, x)| if *x > v[b] { i } else { b })
}

/// Label every neuron of a complete run over `concepts` (zero-shot prompts from `template`), using each neuron's
/// `top_k` best images. `progress` receives a stage name.
pub fn label_run(
    model: &Clip,
    run: &RunState,
    concepts: &[String],
    template: &str,
    top_k: usize,
    batch: usize,
    mut progress: impl FnMut(&str),
) -> Result<LabelReport> {
    if concepts.len() < 2 {
        return Err(NeuronError::Input(
            "need at least two concepts to label with".into(),
        ));
    }
    if !template.contains("{}") {
        return Err(NeuronError::Input(format!(
            "the template '{template}' has no {{}} for the concept"
        )));
    }
    let size = run.manifest.image_size.ok_or_else(|| {
        NeuronError::Input("the run does not record the model's input size; mine it again".into())
    })?;
    if size != model.image_size() {
        return Err(NeuronError::Input(format!(
            "the run was mined at {size} px but this model takes {} px: label it with the model that mined it",
            model.image_size()
        )));
    }
    // p(c | x) for every image of the run.
    let prompts: Vec<String> = concepts.iter().map(|c| template.replace("{}", c)).collect();
    let text = l2_normalize(&model.encode_text(&model.tokenize(&prompts)?)?)?;
    let scale = (model.logit_scale as f64).exp();
    let mut probs: Vec<Vec<f32>> = Vec::with_capacity(run.images.len());
    for chunk in run.images.chunks(batch.max(1)) {
        let mut px = Vec::new();
        for rec in chunk {
            px.extend(clipneurons_image::normalize(&view_of(rec, size)?));
        }
        let px = Tensor::from_vec(px, (chunk.len(), 3, size, size), &Device::Cpu)?;
        let logits = (l2_normalize(&model.encode_image(&px)?)?.matmul(&text.t()?)? * scale)?;
        let max = logits.max_keepdim(D::Minus1)?;
        let e = logits.broadcast_sub(&max)?.exp()?;
        probs.extend(
            e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?
                .to_vec2::<f32>()?,
        );
    }
    progress("classified the run's images");
    let k = concepts.len();
    let n = probs.len().max(1) as f64;
    let base: Vec<f64> = (0..k)
        .map(|c| {
            (probs.iter().map(|p| p[c] as f64).sum::<f64>() / n)
                .max(1e-12)
                .ln()
        })
        .collect();
    let words = probe_words(
        model,
        &run.manifest.key.layer,
        concepts,
        (batch / 9).max(1),
        |_| {},
    )?;
    progress("probed the concept names as rendered words");
    // World ground truth: the main concept and facet of each image.
    let truth: Vec<Option<(&str, &str)>> = run
        .images
        .iter()
        .map(|r| Some((r.concept.as_deref()?, r.facet.as_deref()?)))
        .collect();
    let is_world = truth.iter().all(Option::is_some) && !truth.is_empty();
    let mut neurons = Vec::new();
    for (j, ch) in run.stats.channels.iter().enumerate() {
        let top: Vec<usize> = ch
            .top
            .iter()
            .take(top_k)
            .map(|e| e.image as usize)
            .collect();
        if top.is_empty() {
            continue;
        }
        let img: Vec<f64> = (0..k)
            .map(|c| {
                let m = top.iter().map(|&i| probs[i][c] as f64).sum::<f64>() / top.len() as f64;
                m.max(1e-12).ln() - base[c]
            })
            .collect();
        let wrd: Vec<f64> = (0..k).map(|c| words.get(c, j) as f64).collect();
        let (zi, zw) = (standardise(&img), standardise(&wrd));
        let total: Vec<f64> = zi.iter().zip(&zw).map(|(a, b)| a + b).collect();
        let best = argmax(&total);
        let label = concepts[best].clone();
        let (precision, facets) = if is_world {
            let hits: Vec<&str> = top
                .iter()
                .filter_map(|&i| truth[i].filter(|(c, _)| *c == label).map(|(_, f)| f))
                .collect();
            let facets: BTreeSet<&str> = hits
                .iter()
                .copied()
                .filter(|f| matches!(*f, "photo" | "drawing" | "icon" | "word"))
                .collect();
            (
                Some(hits.len() as f64 / top.len() as f64),
                facets.into_iter().map(String::from).collect(),
            )
        } else {
            (None, Vec::new())
        };
        neurons.push(NeuronLabel {
            neuron: j,
            label,
            image_score: zi[best],
            word_score: zw[best],
            score: total[best],
            image_label: concepts[argmax(&zi)].clone(),
            word_label: concepts[argmax(&zw)].clone(),
            precision,
            facets,
        });
    }
    let ground_truth = is_world.then(|| ground_truth(run, &neurons, top_k, &truth));
    Ok(LabelReport {
        layer: run.manifest.key.layer.clone(),
        concepts: k,
        images: run.images.len(),
        top_k,
        neurons,
        ground_truth,
    })
}

fn ground_truth(
    run: &RunState,
    neurons: &[NeuronLabel],
    top_k: usize,
    truth: &[Option<(&str, &str)>],
) -> GroundTruth {
    let present: BTreeSet<&str> = truth.iter().flatten().map(|(c, _)| *c).collect();
    let mean_precision =
        neurons.iter().filter_map(|n| n.precision).sum::<f64>() / neurons.len().max(1) as f64;
    let matches = neurons
        .iter()
        .filter(|n| {
            let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
            for e in run.stats.channels[n.neuron].top.iter().take(top_k) {
                if let Some((c, _)) = truth[e.image as usize] {
                    *counts.entry(c).or_default() += 1;
                }
            }
            let most = counts.values().copied().max().unwrap_or(0);
            counts.get(n.label.as_str()).copied() == Some(most) && most > 0
        })
        .count();
    let mut best: std::collections::BTreeMap<&str, &NeuronLabel> = Default::default();
    for n in neurons {
        let e = best.entry(n.label.as_str()).or_insert(n);
        if n.score > e.score {
            *e = n;
        }
    }
    let labelled_present = best.keys().filter(|c| present.contains(*c)).count();
    GroundTruth {
        mean_precision,
        label_matches_top_images: matches as f64 / neurons.len().max(1) as f64,
        concept_recall: labelled_present as f64 / present.len().max(1) as f64,
        multimodal_share: best.values().filter(|n| n.is_multimodal()).count() as f64
            / best.len().max(1) as f64,
        labelled_concepts: best.len(),
        concepts_in_run: present.len(),
    }
}

//! `clipneurons world eval`: how well a model knows the synthetic world, measured on the test and attack splits
//! against the ground truth the generator records.
//!
//! - Zero-shot top-1 against every concept name, per facet (photo, drawing, icon, word), per family, and for the
//!   held-out font faces and drawing style (which never appear in training).
//! - Typographic attacks: object photos with another concept's name pasted on; how often the written word wins.
//! - Multimodality: for each concept, the neuron of the last block's pre-ReLU sum (`visual.layerL.N.add`, spatial
//!   mean) with the highest mean activation over the concept's images; the concept counts as multimodal when that
//!   neuron ranks the concept first among all concepts in at least 3 of the 4 facets. The choice of neuron
//!   (raw mean) favours channels with a large offset in the residual stream, which then win for many concepts;
//!   a second figure picks each concept's neuron by its mean in units of that neuron's own spread over the test
//!   images (z-score) instead. The rank test per facet is the same in both (it compares one neuron's responses).

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};
use clipneurons_model::{Clip, VisionConfig};
use clipneurons_world::{fonts, Facet, Sample, Split, World};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Result, TrainError};

/// The four facets every concept is scored in.
pub const EVAL_FACETS: [Facet; 4] = [Facet::Photo, Facet::Drawing, Facet::Icon, Facet::Word];

#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Test images per (concept, facet).
    pub per_concept_facet: usize,
    /// Attack-split images.
    pub attack_images: usize,
    /// Seed of the test and attack streams.
    pub seed: u64,
    /// Images per forward pass.
    pub batch: usize,
    /// Zero-shot prompt; `{}` is replaced by the concept name.
    pub template: String,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            per_concept_facet: 6,
            attack_images: 600,
            seed: 0,
            batch: 128,
            template: "{}".into(),
        }
    }
}

/// Correct out of total.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Accuracy {
    pub correct: usize,
    pub total: usize,
    pub top1: f64,
}

impl Accuracy {
    fn add(&mut self, ok: bool) {
        self.total += 1;
        self.correct += ok as usize;
        self.top1 = self.correct as f64 / self.total as f64;
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct AttackResult {
    pub images: usize,
    /// Top-1 is the pasted word's concept.
    pub word_wins: usize,
    /// Top-1 is the concept actually shown.
    pub object_wins: usize,
    pub word_win_rate: f64,
    pub object_rate: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConceptNeuron {
    pub concept: String,
    pub family: String,
    pub neuron: usize,
    /// Per facet (photo, drawing, icon, word): does the neuron respond most to this concept?
    pub first_in: [bool; 4],
}

/// How each concept's neuron is chosen for the multimodality measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NeuronChoice {
    /// The definition: the highest mean activation over the concept's images.
    MeanActivation,
    /// The highest mean activation in standard deviations of that neuron over all test images, from its mean.
    Standardised,
}

#[derive(Clone, Debug, Serialize)]
pub struct Multimodality {
    pub layer: String,
    pub choice: NeuronChoice,
    /// Concepts whose neuron ranks them first in at least 3 of the 4 facets.
    pub multimodal: usize,
    pub concepts: usize,
    pub share: f64,
    /// Distinct neurons among the concepts' best neurons (a neuron can be the best for several concepts).
    pub distinct_neurons: usize,
    /// Concepts that some neuron (any of them, not only the chosen one) ranks first in at least 3 facets: an upper
    /// bound on `multimodal` for any way of choosing neurons, and optimistic (the best of all neurons is taken).
    pub with_some_multimodal_neuron: usize,
    pub per_concept: Vec<ConceptNeuron>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub concepts: usize,
    pub images: usize,
    pub template: String,
    pub facets: BTreeMap<String, Accuracy>,
    pub families: BTreeMap<String, Accuracy>,
    /// Word images set in the held-out font faces (own names and associated words) / drawings in the held-out
    /// style.
    pub held_out_font: Accuracy,
    /// Word images of the concept's own name in the held-out font faces: reading in an unseen font, on the same
    /// footing as `word_name` (associated words are a test of association, not of reading, and are nearly never
    /// right in any font).
    pub held_out_font_name: Accuracy,
    pub held_out_drawing: Accuracy,
    /// Word images split by what is written: the concept's own name, or one of its associated words.
    pub word_name: Accuracy,
    /// The same images counted correct when the concept is among the 5 best (`top1` holds that share): how
    /// close the misreadings are.
    pub word_name_top5: Accuracy,
    pub word_associated: Accuracy,
    pub attack: AttackResult,
    /// `None` for models without a ResNet image tower.
    pub multimodality: Option<Multimodality>,
    /// The same measure with each concept's neuron chosen by its standardised mean ([`NeuronChoice`]).
    pub multimodality_standardised: Option<Multimodality>,
}

/// The tap multimodality is measured at: the last block's pre-ReLU sum.
pub fn last_block_tap(model: &Clip) -> Option<String> {
    match &model.config.vision {
        VisionConfig::Resnet { .. } => Some(model.neuron_layer()),
        VisionConfig::Vit { .. } => None,
    }
}

/// Zero-shot class embeddings of every concept name, L2-normalised, `[concepts, E]`.
fn concept_text_features(model: &Clip, world: &World, template: &str) -> Result<Tensor> {
    let prompts: Vec<String> = world
        .concepts()
        .iter()
        .map(|c| template.replace("{}", &c.name))
        .collect();
    let tokens = model.tokenize(&prompts)?;
    Ok(clipneurons_model::l2_normalize(
        &model.encode_text(&tokens)?,
    )?)
}

/// How many of the best-scoring concepts `classify` returns per image (for top-k accuracies).
const TOP_K: usize = 5;

/// What `classify` returns: per image, the `TOP_K` best concepts (best first) and the tap's spatial means.
struct Classified {
    ranked: Vec<Vec<usize>>,
    acts: Vec<Vec<f32>>,
}

/// Renders samples in parallel and runs them through the model in batches: the `TOP_K` best concepts per image,
/// best first, and, if `tap` is given, the tap's spatial mean per image (`[N, C]` rows).
fn classify(
    model: &Clip,
    text: &Tensor,
    samples: &[Sample],
    batch: usize,
    tap: Option<&str>,
) -> Result<Classified> {
    let size = model.image_size();
    let mut ranked = Vec::with_capacity(samples.len());
    let mut acts = Vec::new();
    for chunk in samples.chunks(batch.max(1)) {
        let pixels: Vec<f32> = chunk
            .par_iter()
            .flat_map_iter(|s| {
                let img = image::DynamicImage::ImageRgb8(s.image.clone());
                clipneurons_image::preprocess(&img, size)
            })
            .collect();
        let pixels = Tensor::from_vec(pixels, (chunk.len(), 3, size, size), &Device::Cpu)?;
        // One pass: the tap (when asked for) and the features come from the same forward.
        let features = match tap {
            Some(name) => {
                let (t, features) = model.encode_image_with_tap(&pixels, name)?;
                acts.extend(clipneurons_model::spatial_mean(&t)?.to_vec2::<f32>()?);
                features
            }
            None => model.encode_image(&pixels)?,
        };
        let scores = clipneurons_model::l2_normalize(&features)?
            .matmul(&text.t()?)?
            .to_vec2::<f32>()?;
        for row in scores {
            let mut order: Vec<usize> = (0..row.len()).collect();
            // Stable, so ties keep the lower index first, as argmax did.
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            order.truncate(TOP_K);
            ranked.push(order);
        }
    }
    Ok(Classified { ranked, acts })
}

/// Runs the whole evaluation. `progress(done, total)` is called after each stage.
pub fn evaluate(
    model: &Clip,
    opts: &EvalOptions,
    mut progress: impl FnMut(&str),
) -> Result<EvalReport> {
    if opts.per_concept_facet == 0 {
        return Err(TrainError::Config(
            "need at least one image per concept and facet".into(),
        ));
    }
    let world = World::with_size(model.image_size() as u32);
    let concepts = world.concepts();
    let n = concepts.len();
    let text = concept_text_features(model, &world, &opts.template)?;
    let tap = last_block_tap(model);

    // Test images: every concept in every scored facet, `per_concept_facet` times, from the test stream.
    let jobs: Vec<(usize, usize, usize)> = (0..n)
        .flat_map(|c| {
            (0..EVAL_FACETS.len())
                .flat_map(move |f| (0..opts.per_concept_facet).map(move |k| (c, f, k)))
        })
        .collect();
    let samples: Vec<Sample> = jobs
        .par_iter()
        .map(|&(c, f, k)| {
            let index = ((c * EVAL_FACETS.len() + f) * opts.per_concept_facet + k) as u64;
            world.sample_of(Split::Test, index, opts.seed, c, EVAL_FACETS[f])
        })
        .collect();
    progress(&format!("rendered {} test images", samples.len()));
    let Classified { ranked, acts } = classify(model, &text, &samples, opts.batch, tap.as_deref())?;
    progress("classified the test images");

    let held_out_faces: Vec<&str> = fonts::held_out_faces()
        .into_iter()
        .map(|i| fonts::faces()[i].name)
        .collect();
    let mut facets: BTreeMap<String, Accuracy> = BTreeMap::new();
    let mut families: BTreeMap<String, Accuracy> = BTreeMap::new();
    let (mut held_font, mut held_drawing) = (Accuracy::default(), Accuracy::default());
    let mut held_font_name = Accuracy::default();
    let (mut word_name, mut word_associated) = (Accuracy::default(), Accuracy::default());
    let mut word_name_top5 = Accuracy::default();
    for (((c, f, _), s), best) in jobs.iter().zip(&samples).zip(&ranked) {
        let ok = best[0] == *c;
        let facet = EVAL_FACETS[*f];
        facets.entry(facet.name().into()).or_default().add(ok);
        families.entry(s.family.clone()).or_default().add(ok);
        if facet == Facet::Word {
            let is_name = s.words.iter().any(|w| *w == concepts[*c].name);
            if s.font
                .as_deref()
                .is_some_and(|f| held_out_faces.contains(&f))
            {
                held_font.add(ok);
                if is_name {
                    held_font_name.add(ok);
                }
            }
            if is_name {
                word_name.add(ok);
                word_name_top5.add(best.contains(c));
            } else {
                word_associated.add(ok);
            }
        }
        if facet == Facet::Drawing && clipneurons_world::render::drawing::is_held_out(&s.style) {
            held_drawing.add(ok);
        }
    }

    // Attack split: the word's concept against the object's.
    let by_name: BTreeMap<&str, usize> = concepts.iter().map(|c| (c.name.as_str(), c.id)).collect();
    let attack_samples: Vec<Sample> = (0..opts.attack_images as u64)
        .into_par_iter()
        .map(|i| world.sample(Split::Attack, i, opts.seed))
        .collect();
    let attack_ranked = classify(model, &text, &attack_samples, opts.batch, None)?.ranked;
    let mut attack = AttackResult {
        images: attack_samples.len(),
        ..Default::default()
    };
    for (s, best) in attack_samples.iter().zip(&attack_ranked) {
        let pred = best[0];
        let word = s
            .attack_word
            .as_deref()
            .and_then(|w| by_name.get(w).copied());
        attack.word_wins += (Some(pred) == word) as usize;
        attack.object_wins += (Some(pred) == s.true_concept) as usize;
    }
    if attack.images > 0 {
        attack.word_win_rate = attack.word_wins as f64 / attack.images as f64;
        attack.object_rate = attack.object_wins as f64 / attack.images as f64;
    }
    progress("classified the attack images");

    let names: Vec<(String, String)> = concepts
        .iter()
        .map(|c| (c.name.clone(), c.family.name().to_string()))
        .collect();
    let (multimodality, multimodality_standardised) = match &tap {
        Some(layer) if !acts.is_empty() => {
            let [raw, standardised] = multimodality(&names, &jobs, &acts, layer);
            (Some(raw), Some(standardised))
        }
        _ => (None, None),
    };
    Ok(EvalReport {
        concepts: n,
        images: samples.len() + attack_samples.len(),
        template: opts.template.clone(),
        facets,
        families,
        held_out_font: held_font,
        held_out_font_name: held_font_name,
        held_out_drawing: held_drawing,
        word_name,
        word_name_top5,
        word_associated,
        attack,
        multimodality,
        multimodality_standardised,
    })
}

/// The multimodality measure for each [`NeuronChoice`] (raw mean, standardised) from per-image spatial means
/// `acts[i][channel]` of the jobs `(concept, facet, k)`; `concepts` are the (name, family) of every concept, by id.
/// The per-facet means, channel spreads and the choice-free bound are computed once for both.
fn multimodality(
    concepts: &[(String, String)],
    jobs: &[(usize, usize, usize)],
    acts: &[Vec<f32>],
    layer: &str,
) -> [Multimodality; 2] {
    let n = concepts.len();
    let channels = acts[0].len();
    let nf = EVAL_FACETS.len();
    // mean[c][f][ch]
    let mut sum = vec![vec![vec![0f64; channels]; nf]; n];
    let mut count = vec![vec![0usize; nf]; n];
    for (&(c, f, _), a) in jobs.iter().zip(acts) {
        for (s, &v) in sum[c][f].iter_mut().zip(a) {
            *s += v as f64;
        }
        count[c][f] += 1;
    }
    let mean = |c: usize, f: usize, ch: usize| sum[c][f][ch] / count[c][f].max(1) as f64;
    // Each channel's mean and standard deviation over all images (for the standardised choice).
    let images = acts.len().max(1) as f64;
    let stats: Vec<(f64, f64)> = (0..channels)
        .map(|ch| {
            let mu = acts.iter().map(|a| a[ch] as f64).sum::<f64>() / images;
            let var = acts
                .iter()
                .map(|a| (a[ch] as f64 - mu).powi(2))
                .sum::<f64>()
                / images;
            (mu, var.sqrt().max(1e-12))
        })
        .collect();
    let score = |choice: NeuronChoice, c: usize, ch: usize| {
        let total: f64 = (0..nf).map(|f| mean(c, f, ch)).sum();
        match choice {
            NeuronChoice::MeanActivation => total,
            NeuronChoice::Standardised => (total - nf as f64 * stats[ch].0) / stats[ch].1,
        }
    };
    let argmax = |vals: &mut dyn Iterator<Item = (usize, f64)>| {
        vals.fold(
            (0, f64::NEG_INFINITY),
            |b, (i, v)| if v > b.1 { (i, v) } else { b },
        )
        .0
    };
    // Each neuron's top concept per facet; a concept has a multimodal neuron if one neuron tops it in ≥ 3 facets.
    let mut has_neuron = vec![false; n];
    for ch in 0..channels {
        let tops: Vec<usize> = (0..nf)
            .map(|f| argmax(&mut (0..n).map(|k| (k, mean(k, f, ch)))))
            .collect();
        for &c in &tops {
            if tops.iter().filter(|&&t| t == c).count() >= 3 {
                has_neuron[c] = true;
            }
        }
    }
    let with_some_multimodal_neuron = has_neuron.iter().filter(|&&b| b).count();
    let measure = |choice: NeuronChoice| {
        let mut per_concept = Vec::with_capacity(n);
        for (c, (name, family)) in concepts.iter().enumerate() {
            let neuron = argmax(&mut (0..channels).map(|ch| (ch, score(choice, c, ch))));
            let mut first_in = [false; 4];
            for (f, first) in first_in.iter_mut().enumerate() {
                *first = argmax(&mut (0..n).map(|k| (k, mean(k, f, neuron)))) == c;
            }
            per_concept.push(ConceptNeuron {
                concept: name.clone(),
                family: family.clone(),
                neuron,
                first_in,
            });
        }
        let multimodal = per_concept
            .iter()
            .filter(|p| p.first_in.iter().filter(|&&b| b).count() >= 3)
            .count();
        let distinct: std::collections::BTreeSet<usize> =
            per_concept.iter().map(|p| p.neuron).collect();
        Multimodality {
            layer: layer.to_string(),
            choice,
            multimodal,
            concepts: n,
            share: multimodal as f64 / n.max(1) as f64,
            distinct_neurons: distinct.len(),
            with_some_multimodal_neuron,
            per_concept,
        }
    };
    [
        measure(NeuronChoice::MeanActivation),
        measure(NeuronChoice::Standardised),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, family) per concept, the jobs, and each job's activations.
    type Fixture = (
        Vec<(String, String)>,
        Vec<(usize, usize, usize)>,
        Vec<Vec<f32>>,
    );

    /// Two concepts, one image per facet, three channels: channel 0 has a large offset and responds to nothing,
    /// channel 1 responds to concept 0 in every facet but the word (there to concept 1), channel 2 to concept 1
    /// in two facets only.
    fn fixture() -> Fixture {
        let concepts = vec![
            ("a".to_string(), "f".to_string()),
            ("b".to_string(), "f".to_string()),
        ];
        let mut jobs = Vec::new();
        let mut acts = Vec::new();
        for c in 0..2 {
            for f in 0..4 {
                jobs.push((c, f, 0));
                let sel1 = match (c, f) {
                    (0, 0..=2) => 2.0,
                    (1, 3) => 1.0,
                    _ => 0.0,
                };
                let sel2 = if c == 1 && f < 2 { 1.0 } else { 0.0 };
                // Channel 0: offset 10, a small wobble that favours neither concept consistently.
                let wobble = if (c + f) % 2 == 0 { 0.1 } else { -0.1 };
                acts.push(vec![10.0 + wobble, sel1, sel2]);
            }
        }
        (concepts, jobs, acts)
    }

    #[test]
    fn raw_mean_picks_the_offset_channel_standardised_the_selective_one() {
        let (concepts, jobs, acts) = fixture();
        let [raw, z] = multimodality(&concepts, &jobs, &acts, "t");
        assert_eq!(raw.choice, NeuronChoice::MeanActivation);
        assert_eq!(z.choice, NeuronChoice::Standardised);
        assert_eq!(raw.per_concept[0].neuron, 0);
        assert_eq!(raw.per_concept[1].neuron, 0);
        assert_eq!(raw.distinct_neurons, 1);
        assert_eq!(z.per_concept[0].neuron, 1);
        assert_eq!(z.per_concept[0].first_in, [true, true, true, false]);
        assert_eq!(z.per_concept[1].neuron, 2);
        // Concept 1's neuron wins in two facets only: not multimodal.
        assert_eq!(z.multimodal, 1);
        assert_eq!(z.distinct_neurons, 2);
        // Channel 1 tops concept 0 in three facets; no channel tops concept 1 in three.
        assert_eq!(raw.with_some_multimodal_neuron, 1);
        assert_eq!(z.with_some_multimodal_neuron, 1);
    }
}

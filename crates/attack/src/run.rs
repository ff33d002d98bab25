//! Running an attack: classify the clean images once, write each attack word on every image, classify again,
//! and count — success (the top class became the attack class), images already of the attack class (they do not
//! count), images changed away from their true class to a third class, pixel cover — plus the neurons whose
//! activation the written word raises most.

use clipneurons_model::Clip;
use clipneurons_neurons::words::probe_words;
use image::RgbImage;
use rayon::prelude::*;
use serde::Serialize;

use crate::classifier::{Classifier, LinearProbe, Scored};
use crate::images::{normalise_label, ImageSet};
use crate::overlay::{pixel_cover, write, Protocol};
use crate::{AttackError, Result};

/// Which classifier to attack.
pub enum ClassifierSpec {
    ZeroShot { template: String },
    Probe(LinearProbe),
}

pub struct AttackOptions {
    pub protocol: Protocol,
    pub batch: usize,
    /// Before/after pairs kept per word (for `--out`); the label protocol keeps every image's top-5 lists.
    pub examples: usize,
    /// Layer whose neurons are compared clean vs attacked; `None` skips the neuron analysis.
    pub neuron_layer: Option<String>,
    pub top_neurons: usize,
    /// Extra words for labelling the driven neurons (besides the labels and attack words).
    pub vocab: Vec<String>,
}

#[derive(Serialize, Clone)]
pub struct DrivenNeuron {
    pub neuron: usize,
    /// Mean over images of (attacked − clean) spatial maximum.
    pub mean_delta: f64,
    pub clean_mean: f64,
    /// The words whose rendered image drives this neuron most (rendered-word probe), with responses.
    pub top_words: Vec<(String, f32)>,
}

#[derive(Serialize)]
pub struct Example {
    pub image: String,
    pub truth: Option<String>,
    pub before: Vec<(String, f32)>,
    pub after: Vec<(String, f32)>,
    #[serde(skip)]
    pub clean: RgbImage,
    #[serde(skip)]
    pub attacked: RgbImage,
}

#[derive(Serialize)]
pub struct WordResult {
    pub word: String,
    /// The label the word attacks.
    pub attack_class: String,
    /// The word was not one of the labels and was added to the zero-shot label set for this run.
    pub added_to_labels: bool,
    pub images: usize,
    /// Images whose clean top-1 is already the attack class: excluded from the rates.
    pub already_attack_class: usize,
    /// Images counted: `images - already_attack_class`.
    pub eligible: usize,
    pub success: usize,
    /// Share of counted images whose top-1 became the attack class.
    pub success_rate: f64,
    /// Share of counted images that were right before and now show a third class.
    pub changed_away_rate: f64,
    /// Share of counted images whose top-1 is neither the attack class nor changed away from the truth.
    pub neither_rate: f64,
    /// Mean fraction of pixels the writing changed.
    pub pixel_cover: f64,
    pub driven: Vec<DrivenNeuron>,
    pub examples: Vec<Example>,
}

#[derive(Serialize)]
pub struct AttackReport {
    pub classifier: String,
    pub protocol: Protocol,
    pub labels: Vec<String>,
    pub images: usize,
    pub skipped: Vec<(String, String)>,
    /// Images whose folder or world concept names one of the labels.
    pub with_truth: usize,
    /// Clean top-1 accuracy over `with_truth` images.
    pub baseline_accuracy: Option<f64>,
    pub neuron_layer: Option<String>,
    pub words: Vec<WordResult>,
}

fn argmax(p: &[f32]) -> usize {
    p.iter()
        .enumerate()
        .fold(0, |b, (i, v)| if *v > p[b] { i } else { b })
}

fn top5(p: &[f32], labels: &[String]) -> Vec<(String, f32)> {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
    idx.into_iter()
        .take(5)
        .map(|i| (labels[i].clone(), p[i]))
        .collect()
}

/// Scores images in batches.
fn score_all(
    model: &Clip,
    classifier: &Classifier,
    images: &[&RgbImage],
    layer: Option<&str>,
    batch: usize,
) -> Result<Scored> {
    let mut out = Scored {
        probs: Vec::new(),
        neurons: Vec::new(),
    };
    for chunk in images.chunks(batch.max(1)) {
        let s = classifier.score(model, chunk, layer)?;
        out.probs.extend(s.probs);
        out.neurons.extend(s.neurons);
    }
    Ok(out)
}

/// Index of each word's attack class, adding words that are not labels (zero-shot only).
fn attack_classes(
    labels: &mut Vec<String>,
    words: &[String],
    zero_shot: bool,
) -> Result<Vec<(usize, bool)>> {
    let mut out = Vec::new();
    for w in words {
        let key = normalise_label(w);
        if key.is_empty() {
            return Err(AttackError::Input("an attack word is empty".into()));
        }
        match labels.iter().position(|l| normalise_label(l) == key) {
            Some(i) => out.push((i, false)),
            None if zero_shot => {
                labels.push(w.clone());
                out.push((labels.len() - 1, true));
            }
            None => {
                return Err(AttackError::Input(format!(
                    "the attack word '{w}' is not one of the probe's labels; a linear probe can only report its own \
                     classes (use the zero-shot classifier, or train the probe with this class)"
                )))
            }
        }
    }
    Ok(out)
}

/// Run `words` against `set` by `opts.protocol`.
pub fn attack(
    model: &Clip,
    set: &ImageSet,
    labels: &[String],
    spec: ClassifierSpec,
    words: &[String],
    opts: &AttackOptions,
) -> Result<AttackReport> {
    if set.is_empty() {
        return Err(AttackError::Input(format!(
            "no readable images to attack ({} skipped)",
            set.skipped.len()
        )));
    }
    if words.is_empty() {
        return Err(AttackError::Input(
            "give at least one attack word (--text)".into(),
        ));
    }
    let mut labels = labels.to_vec();
    let zero_shot = matches!(spec, ClassifierSpec::ZeroShot { .. });
    let classes = attack_classes(&mut labels, words, zero_shot)?;
    let classifier = match spec {
        ClassifierSpec::ZeroShot { template } => Classifier::zero_shot(model, &labels, &template)?,
        ClassifierSpec::Probe(p) => Classifier::from_probe(p),
    };
    let layer = opts.neuron_layer.as_deref();
    let clean: Vec<&RgbImage> = set.items.iter().map(|i| &i.rgb).collect();
    let base = score_all(model, &classifier, &clean, layer, opts.batch)?;
    let truth: Vec<Option<usize>> = set
        .items
        .iter()
        .map(|i| {
            let t = normalise_label(i.truth.as_deref()?);
            labels.iter().position(|l| normalise_label(l) == t)
        })
        .collect();
    let base_top: Vec<usize> = base.probs.iter().map(|p| argmax(p)).collect();
    let with_truth = truth.iter().flatten().count();
    let correct = truth
        .iter()
        .zip(&base_top)
        .filter(|(t, b)| **t == Some(**b))
        .count();
    let mut results = Vec::new();
    for (word, &(class, added)) in words.iter().zip(&classes) {
        let attacked: Vec<RgbImage> = set
            .items
            .par_iter()
            .enumerate()
            .map(|(i, item)| write(&item.rgb, word, opts.protocol, i as u64))
            .collect();
        let refs: Vec<&RgbImage> = attacked.iter().collect();
        let after = score_all(model, &classifier, &refs, layer, opts.batch)?;
        let (mut already, mut success, mut away) = (0, 0, 0);
        for (i, p) in after.probs.iter().enumerate() {
            let (b, a) = (base_top[i], argmax(p));
            if b == class {
                already += 1;
                continue;
            }
            if a == class {
                success += 1;
            } else if truth[i] == Some(b) && a != b {
                away += 1;
            }
        }
        let n = set.items.len();
        let eligible = n - already;
        let rate = |k: usize| k as f64 / eligible.max(1) as f64;
        let cover = set
            .items
            .iter()
            .zip(&attacked)
            .map(|(c, a)| pixel_cover(&c.rgb, a))
            .sum::<f64>()
            / n as f64;
        let driven = match layer {
            Some(_) => driven_neurons(&base.neurons, &after.neurons, opts.top_neurons),
            None => Vec::new(),
        };
        // The article's in-the-wild test reads each image's before/after top-5, so the label protocol keeps all.
        let keep = match opts.protocol {
            Protocol::Label => n,
            Protocol::Grid8 => n.min(opts.examples),
        };
        let examples = (0..keep)
            .map(|i| Example {
                image: set.items[i].name.clone(),
                truth: set.items[i].truth.clone(),
                before: top5(&base.probs[i], &labels),
                after: top5(&after.probs[i], &labels),
                clean: set.items[i].rgb.clone(),
                attacked: attacked[i].clone(),
            })
            .collect();
        results.push(WordResult {
            word: word.clone(),
            attack_class: labels[class].clone(),
            added_to_labels: added,
            images: n,
            already_attack_class: already,
            eligible,
            success,
            success_rate: rate(success),
            changed_away_rate: rate(away),
            neither_rate: rate(eligible - success - away),
            pixel_cover: cover,
            driven,
            examples,
        });
    }
    if let Some(layer) = layer {
        label_driven(model, layer, &mut results, &labels, &opts.vocab, opts.batch)?;
    }
    Ok(AttackReport {
        classifier: classifier.name().to_string(),
        protocol: opts.protocol,
        labels,
        images: set.items.len(),
        skipped: set.skipped.clone(),
        with_truth,
        baseline_accuracy: (with_truth > 0).then(|| correct as f64 / with_truth as f64),
        neuron_layer: opts.neuron_layer.clone(),
        words: results,
    })
}

/// The `k` neurons with the largest mean increase from `clean` to `attacked` (`[N][C]` each).
pub fn driven_neurons(clean: &[Vec<f32>], attacked: &[Vec<f32>], k: usize) -> Vec<DrivenNeuron> {
    let Some(c) = clean.first().map(Vec::len) else {
        return Vec::new();
    };
    let n = clean.len() as f64;
    let mean = |rows: &[Vec<f32>], j: usize| rows.iter().map(|r| r[j] as f64).sum::<f64>() / n;
    let mut all: Vec<DrivenNeuron> = (0..c)
        .map(|j| {
            let (b, a) = (mean(clean, j), mean(attacked, j));
            DrivenNeuron {
                neuron: j,
                mean_delta: a - b,
                clean_mean: b,
                top_words: Vec::new(),
            }
        })
        .collect();
    all.sort_by(|x, y| {
        y.mean_delta
            .total_cmp(&x.mean_delta)
            .then(x.neuron.cmp(&y.neuron))
    });
    all.truncate(k);
    all
}

/// Label every driven neuron with its top rendered words over labels ∪ attack words ∪ `vocab`.
fn label_driven(
    model: &Clip,
    layer: &str,
    results: &mut [WordResult],
    labels: &[String],
    vocab: &[String],
    batch: usize,
) -> Result<()> {
    let mut words: Vec<String> = labels
        .iter()
        .chain(vocab)
        .cloned()
        .chain(results.iter().map(|r| r.word.clone()))
        .collect();
    words.sort();
    words.dedup();
    let per_batch = (batch / 9).max(1);
    let probe = probe_words(model, layer, &words, per_batch, |_| {})?;
    for r in results.iter_mut() {
        for d in r.driven.iter_mut() {
            d.top_words = probe.top_words(d.neuron, 5);
        }
    }
    Ok(())
}

/// The article's second way of choosing attack words: try every label by itself as the attack text and rank them
/// by success rate. Returns (word, success rate, pixel cover), best first.
pub fn search_words(
    model: &Clip,
    set: &ImageSet,
    labels: &[String],
    spec: ClassifierSpec,
    protocol: Protocol,
    batch: usize,
) -> Result<Vec<(String, f64, f64)>> {
    let opts = AttackOptions {
        protocol,
        batch,
        examples: 0,
        neuron_layer: None,
        top_neurons: 0,
        vocab: Vec::new(),
    };
    let report = attack(model, set, labels, spec, labels, &opts)?;
    let mut out: Vec<(String, f64, f64)> = report
        .words
        .into_iter()
        .map(|w| (w.word, w.success_rate, w.pixel_cover))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(out)
}

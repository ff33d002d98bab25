//! Text feature visualisation (Goh et al. 2021, "Understanding language"): fix a neuron on the vision side and
//! search for the text that maximises its zero-shot logit — the bilinear score `w_nᵀ t̂` of [`crate::search`] — by
//! hill climbing over word sequences (change, add or remove a word), minus a language-model penalty.
//!
//! The article's search space, moves and language model are unpublished; only the penalty weight (0.0025) is known
//! from Microscope's URLs. Here the units are the words of a vocabulary (by default the world's words and CLIP
//! BPE's 10,000 most common single-token words) and the language model is a Zipf unigram prior: a word's cost is
//! `ln(rank + 2)` in BPE merge order (which follows frequency in CLIP's training text), so rare words cost more.
//!
//! Search: every word is first scored alone (one batched pass over the vocabulary); restart `r` starts from the
//! `r`-th best single word, and each step scores a batch of random edits of the current text and keeps the best if
//! it improves the objective. Half of the inserted or substituted words come from the best single words, half from
//! the whole vocabulary, so the climb explores combinations of relevant words without being confined to them.

use std::collections::HashMap;

use candle_core::Tensor;
use clipneurons_model::{l2_normalize, Clip};
use clipneurons_world::Rng;
use serde::Serialize;

use crate::search::neuron_directions;
use crate::{NeuronError, Result};

/// A word the search may use and its language-model cost (`−ln p` up to a constant).
#[derive(Clone, Debug)]
pub struct Unit {
    pub word: String,
    pub cost: f32,
}

/// Zipf costs for `words` in frequency order: the `i`-th word costs `ln(i + 2)`.
pub fn zipf_units(words: &[String]) -> Vec<Unit> {
    words
        .iter()
        .enumerate()
        .map(|(i, w)| Unit {
            word: w.clone(),
            cost: ((i + 2) as f32).ln(),
        })
        .collect()
}

#[derive(Clone, Debug)]
pub struct TextVizOptions {
    /// Hill-climbing steps per restart.
    pub steps: usize,
    /// Most words in a text.
    pub length: usize,
    /// Candidate edits scored per step (one text-tower batch).
    pub proposals: usize,
    /// Independent climbs from random starts.
    pub restarts: usize,
    /// Weight of the summed word costs (the article's value: 0.0025).
    pub lm_penalty: f32,
    pub seed: u64,
    /// Distinct texts to report.
    pub top: usize,
    /// How many of the best single words half of the edits draw from.
    pub pool: usize,
}

impl Default for TextVizOptions {
    fn default() -> Self {
        Self {
            steps: 40,
            length: 6,
            proposals: 64,
            restarts: 4,
            lm_penalty: 0.0025,
            seed: 0,
            top: 10,
            pool: 256,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct FoundText {
    pub text: String,
    /// The neuron's zero-shot score for the text: `w_nᵀ t̂`.
    pub score: f32,
    /// `score − lm_penalty · Σ cost`: what the search maximises.
    pub objective: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct TextVizResult {
    pub neuron: usize,
    pub layer: String,
    /// Best texts found, by objective, distinct.
    pub best: Vec<FoundText>,
    /// For each restart, the objective of its current text after each step (non-decreasing).
    pub trace: Vec<Vec<f32>>,
    /// Texts scored in all (every single word, then every proposal).
    pub evaluated: usize,
}

/// The neuron's zero-shot score for each text, batched: `[N]`.
pub fn neuron_text_scores(model: &Clip, direction: &Tensor, texts: &[String]) -> Result<Vec<f32>> {
    let t = l2_normalize(&model.encode_text(&model.tokenize(texts)?)?)?;
    Ok(t.matmul(&direction.unsqueeze(1)?)?
        .squeeze(1)?
        .to_vec1::<f32>()?)
}

/// Search for texts that maximise neuron `neuron`'s zero-shot score (see the module docs).
pub fn text_feature_vis(
    model: &Clip,
    neuron: usize,
    units: &[Unit],
    opts: &TextVizOptions,
    mut progress: impl FnMut(usize),
) -> Result<TextVizResult> {
    let (layer, dirs) = neuron_directions(model)?;
    let channels = dirs.dim(0)?;
    if neuron >= channels {
        return Err(NeuronError::Input(format!(
            "neuron {neuron} is out of range: {layer} has {channels} neurons (0..{})",
            channels - 1
        )));
    }
    if units.is_empty() {
        return Err(NeuronError::Input("the vocabulary is empty".into()));
    }
    if opts.length == 0 || opts.proposals == 0 || opts.restarts == 0 {
        return Err(NeuronError::Input(
            "length, proposals and restarts must be at least 1".into(),
        ));
    }
    let direction = dirs.get(neuron)?;
    let mut rng = Rng::new(opts.seed);
    let mut seen: HashMap<String, FoundText> = HashMap::new();
    let mut trace = Vec::with_capacity(opts.restarts);
    let objective_of = |seq: &[usize], score: f32| {
        score - opts.lm_penalty * seq.iter().map(|&u| units[u].cost).sum::<f32>()
    };
    // Every word alone.
    let mut single = Vec::with_capacity(units.len());
    for chunk in units.chunks(512) {
        let texts: Vec<String> = chunk.iter().map(|u| u.word.clone()).collect();
        single.extend(neuron_text_scores(model, &direction, &texts)?);
    }
    let mut by_single: Vec<usize> = (0..units.len()).collect();
    by_single
        .sort_by(|&a, &b| objective_of(&[b], single[b]).total_cmp(&objective_of(&[a], single[a])));
    for &u in by_single.iter().take(opts.top.max(opts.restarts)) {
        seen.insert(
            units[u].word.clone(),
            FoundText {
                text: units[u].word.clone(),
                score: single[u],
                objective: objective_of(&[u], single[u]),
            },
        );
    }
    let pool = &by_single[..opts.pool.clamp(1, units.len())];
    let text_of = |seq: &[usize]| {
        seq.iter()
            .map(|&u| units[u].word.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    for restart in 0..opts.restarts {
        let start = by_single[restart % units.len()];
        let mut current = vec![start];
        let mut current_objective = objective_of(&current, single[start]);
        let mut steps = Vec::with_capacity(opts.steps);
        for step in 0..opts.steps {
            let candidates: Vec<Vec<usize>> = (0..opts.proposals)
                .map(|_| mutate(&current, opts.length, units.len(), pool, &mut rng))
                .collect();
            let texts: Vec<String> = candidates.iter().map(|c| text_of(c)).collect();
            let scores = neuron_text_scores(model, &direction, &texts)?;
            for ((c, text), score) in candidates.iter().zip(texts).zip(scores) {
                let objective = objective_of(c, score);
                if objective > current_objective {
                    current_objective = objective;
                    current = c.clone();
                }
                seen.entry(text.clone()).or_insert(FoundText {
                    text,
                    score,
                    objective,
                });
            }
            steps.push(current_objective);
            progress(restart * opts.steps + step + 1);
        }
        trace.push(steps);
    }
    let evaluated = units.len() + opts.restarts * opts.steps * opts.proposals;
    let mut best: Vec<FoundText> = seen.into_values().collect();
    best.sort_by(|a, b| {
        b.objective
            .total_cmp(&a.objective)
            .then(a.text.cmp(&b.text))
    });
    best.truncate(opts.top);
    Ok(TextVizResult {
        neuron,
        layer,
        best,
        trace,
        evaluated,
    })
}

/// One random edit of `seq`: change a word, add one (if shorter than `max_len`) or remove one (if longer than 1).
/// New words come from `pool` or the whole vocabulary with equal chance.
fn mutate(
    seq: &[usize],
    max_len: usize,
    n_units: usize,
    pool: &[usize],
    rng: &mut Rng,
) -> Vec<usize> {
    let mut s = seq.to_vec();
    let word = |rng: &mut Rng| {
        if rng.chance(0.5) {
            *rng.pick(pool)
        } else {
            rng.below(n_units)
        }
    };
    let can_add = s.len() < max_len;
    let can_remove = s.len() > 1;
    match rng.below(3) {
        1 if can_add => {
            let w = word(rng);
            s.insert(rng.below(s.len() + 1), w)
        }
        2 if can_remove => {
            s.remove(rng.below(s.len()));
        }
        _ => {
            let i = rng.below(s.len());
            s[i] = word(rng);
        }
    }
    s
}

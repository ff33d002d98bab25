//! Rendered-word probes: each word of a vocabulary is written on a plain background at several sizes and
//! positions, run through the image tower, and every neuron of a layer gets one response per word — the mean over
//! sizes of the maximum over positions of the neuron's spatial maximum. Ranking words by it says which written
//! words drive a neuron (the article's "rendered text" labels, e.g. its finance neuron and "$$$").

use candle_core::{Device, Tensor};
use clipneurons_model::Clip;
use clipneurons_world::fonts;
use clipneurons_world::render::{text, Canvas};
use image::RgbImage;

use crate::mine::layer_geometry;
use crate::{NeuronError, Result};

/// Word heights as fractions of the image side (the word is also fitted to 90% of the width).
pub const SIZES: [f32; 3] = [0.16, 0.26, 0.4];
/// Word centres as fractions of the image side: middle, upper and lower third.
pub const POSITIONS: [(f32, f32); 3] = [(0.5, 0.5), (0.5, 0.3), (0.5, 0.7)];

/// The fixed font of the probes: the first training face of the built-in world (a plain sans).
pub fn probe_face() -> &'static fonts::Face {
    &fonts::faces()[fonts::train_faces()[0]]
}

/// `word` in black on white, `height` and centre as fractions of a `side` × `side` image.
pub fn render_word(word: &str, side: u32, height: f32, centre: (f32, f32)) -> RgbImage {
    render_word_in(word, [0, 0, 0], side, height, centre)
}

/// [`render_word`] in the colour `ink` (the Stroop stimuli).
pub fn render_word_in(
    word: &str,
    ink: [u8; 3],
    side: u32,
    height: f32,
    (cx, cy): (f32, f32),
) -> RgbImage {
    let mut cv = Canvas::new(side);
    cv.clear([255, 255, 255]);
    let s = cv.size;
    text::draw(
        &mut cv,
        probe_face(),
        word,
        (cx * s, cy * s),
        (0.9 * s, height * s),
        0.0,
        ink,
        "solid",
        1.0,
    );
    cv.to_rgb()
}

/// Responses of every neuron of a layer to every word.
pub struct WordResponses {
    pub layer: String,
    pub words: Vec<String>,
    pub channels: usize,
    /// `[words, channels]`, row-major.
    pub values: Vec<f32>,
}

impl WordResponses {
    pub fn get(&self, word: usize, neuron: usize) -> f32 {
        self.values[word * self.channels + neuron]
    }

    /// The `k` words with the largest response of `neuron`, best first (ties by word order).
    pub fn top_words(&self, neuron: usize, k: usize) -> Vec<(String, f32)> {
        let mut idx: Vec<usize> = (0..self.words.len()).collect();
        idx.sort_by(|&a, &b| {
            self.get(b, neuron)
                .total_cmp(&self.get(a, neuron))
                .then(a.cmp(&b))
        });
        idx.into_iter()
            .take(k)
            .map(|w| (self.words[w].clone(), self.get(w, neuron)))
            .collect()
    }
}

/// Per-image spatial maximum of every channel of `layer`: `[N, C]` flattened.
fn layer_spatial_max(model: &Clip, layer: &str, pixels: &Tensor) -> Result<Vec<f32>> {
    let rec = model.record(Some(pixels), None, &[layer.to_string()])?;
    let t = clipneurons_model::spatial_max(&rec[0].1)?;
    Ok(t.contiguous()?.flatten_all()?.to_vec1::<f32>()?)
}

/// Probe `layer` of `model` with every word of `vocab`. `progress` is called with the number of words done.
pub fn probe_words(
    model: &Clip,
    layer: &str,
    vocab: &[String],
    batch_words: usize,
    mut progress: impl FnMut(usize),
) -> Result<WordResponses> {
    if vocab.is_empty() {
        return Err(NeuronError::Input("the vocabulary is empty".into()));
    }
    let (channels, _, _) = layer_geometry(model, layer)?;
    let side = model.image_size();
    let per_word = SIZES.len() * POSITIONS.len();
    let mut values = Vec::with_capacity(vocab.len() * channels);
    for chunk in vocab.chunks(batch_words.max(1)) {
        let mut px = Vec::with_capacity(chunk.len() * per_word * 3 * side * side);
        for w in chunk {
            for &h in &SIZES {
                for &pos in &POSITIONS {
                    px.extend(clipneurons_image::normalize(&render_word(
                        w,
                        side as u32,
                        h,
                        pos,
                    )));
                }
            }
        }
        let n = chunk.len() * per_word;
        let pixels = Tensor::from_vec(px, (n, 3, side, side), &Device::Cpu)?;
        let acts = layer_spatial_max(model, layer, &pixels)?;
        for wi in 0..chunk.len() {
            let mut row = vec![0f32; channels];
            for si in 0..SIZES.len() {
                for c in 0..channels {
                    let best = (0..POSITIONS.len())
                        .map(|pi| {
                            acts[((wi * SIZES.len() + si) * POSITIONS.len() + pi) * channels + c]
                        })
                        .fold(f32::NEG_INFINITY, f32::max);
                    row[c] += best / SIZES.len() as f32;
                }
            }
            values.extend(row);
        }
        progress(chunk.len());
    }
    Ok(WordResponses {
        layer: layer.to_string(),
        words: vocab.to_vec(),
        channels,
        values,
    })
}

/// Writes `words.parquet` (`neuron, rank, word, response`: the `top` words of every neuron) and
/// `word_responses.safetensors` (`responses` `[words, channels]`, the layer and the word list in the header) into
/// `dir`.
pub fn write_word_tables(dir: &std::path::Path, r: &WordResponses, top: usize) -> Result<()> {
    use arrow_array::{ArrayRef, Float32Array, StringArray, UInt32Array};
    use std::sync::Arc;
    let (mut neuron, mut rank, mut word, mut resp) = (vec![], vec![], vec![], vec![]);
    for c in 0..r.channels {
        for (k, (w, v)) in r.top_words(c, top).into_iter().enumerate() {
            neuron.push(c as u32);
            rank.push(k as u32);
            word.push(w);
            resp.push(v);
        }
    }
    crate::tables::write_parquet(
        &dir.join("words.parquet"),
        vec![
            ("neuron", Arc::new(UInt32Array::from(neuron)) as ArrayRef),
            ("rank", Arc::new(UInt32Array::from(rank))),
            ("word", Arc::new(StringArray::from(word))),
            ("response", Arc::new(Float32Array::from(resp))),
        ],
    )?;
    let t = Tensor::from_vec(r.values.clone(), (r.words.len(), r.channels), &Device::Cpu)?;
    let meta = std::collections::HashMap::from([
        ("layer".to_string(), r.layer.clone()),
        (
            "words".to_string(),
            serde_json::to_string(&r.words).expect("strings serialise"),
        ),
    ]);
    let bytes = safetensors::serialize([("responses", &t)], Some(meta))
        .map_err(|e| NeuronError::Input(format!("word responses: {e}")))?;
    crate::mine::write_atomic(&dir.join("word_responses.safetensors"), &bytes)
}

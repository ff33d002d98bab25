//! The article's Stroop test: each of 8 words ("example" and 7 colour words) written in each of 8 inks (black and
//! the 7 colours) on white, classified zero-shot over the 8 colour names with "my favorite word, written in the
//! color {}". A model that reads names the word; one that looks names the ink. The article's RN50x4 named the
//! word on all 49 incongruent stimuli.

use clipneurons_model::Clip;
use clipneurons_world::catalogue::{BLACK, BLUE, GREEN, ORANGE, PINK, PURPLE, RED, YELLOW};
use image::RgbImage;
use serde::Serialize;

use crate::classifier::Classifier;
use crate::Result;

/// The article's prompt.
pub const TEMPLATE: &str = "my favorite word, written in the color {}";

/// The inks, in the article's label order (black first), with the built-in world's colours.
pub const INKS: [(&str, [u8; 3]); 8] = [
    ("black", BLACK),
    ("red", RED),
    ("green", GREEN),
    ("blue", BLUE),
    ("purple", PURPLE),
    ("orange", ORANGE),
    ("pink", PINK),
    ("yellow", YELLOW),
];

/// The words: "example" (no colour meaning) and the seven colour words.
pub const WORDS: [&str; 8] = [
    "example", "red", "green", "blue", "purple", "orange", "pink", "yellow",
];

/// `word` in `ink` on white, centred, a third of the side high (fitted to 90% of the width), in the face of the
/// rendered-word probes.
pub fn stimulus(word: &str, ink: [u8; 3], side: u32) -> RgbImage {
    clipneurons_neurons::words::render_word_in(word, ink, side, 0.34, (0.5, 0.5))
}

#[derive(Serialize)]
pub struct StroopCell {
    pub word: String,
    pub ink: String,
    pub top: String,
    pub top_probability: f32,
    /// Probability of every ink label, in [`INKS`] order.
    pub probs: Vec<f32>,
}

#[derive(Serialize)]
pub struct StroopReport {
    pub template: String,
    pub cells: Vec<StroopCell>,
    /// Colour word ≠ ink: 49 stimuli.
    pub incongruent: usize,
    pub incongruent_word_wins: usize,
    pub incongruent_ink_wins: usize,
    pub congruent: usize,
    pub congruent_correct: usize,
    /// "example" in each ink: how often the ink is named.
    pub example_ink_wins: usize,
    #[serde(skip)]
    pub images: Vec<RgbImage>,
}

pub fn stroop(model: &Clip, template: &str) -> Result<StroopReport> {
    let labels: Vec<String> = INKS.iter().map(|(n, _)| n.to_string()).collect();
    let classifier = Classifier::zero_shot(model, &labels, template)?;
    let side = model.image_size() as u32;
    let mut images = Vec::new();
    let mut pairs = Vec::new();
    for w in WORDS {
        for (ink, rgb) in INKS {
            images.push(stimulus(w, rgb, side));
            pairs.push((w, ink));
        }
    }
    let refs: Vec<&RgbImage> = images.iter().collect();
    let scored = classifier.score(model, &refs, None)?;
    let mut report = StroopReport {
        template: template.to_string(),
        cells: Vec::new(),
        incongruent: 0,
        incongruent_word_wins: 0,
        incongruent_ink_wins: 0,
        congruent: 0,
        congruent_correct: 0,
        example_ink_wins: 0,
        images: Vec::new(),
    };
    for ((word, ink), probs) in pairs.into_iter().zip(scored.probs) {
        let best = probs
            .iter()
            .enumerate()
            .fold(0, |b, (i, v)| if *v > probs[b] { i } else { b });
        let top = labels[best].clone();
        if word == "example" {
            report.example_ink_wins += usize::from(top == ink);
        } else if word == ink {
            report.congruent += 1;
            report.congruent_correct += usize::from(top == ink);
        } else {
            report.incongruent += 1;
            report.incongruent_word_wins += usize::from(top == word);
            report.incongruent_ink_wins += usize::from(top == ink);
        }
        report.cells.push(StroopCell {
            word: word.to_string(),
            ink: ink.to_string(),
            top,
            top_probability: probs[best],
            probs,
        });
    }
    report.images = images;
    Ok(report)
}

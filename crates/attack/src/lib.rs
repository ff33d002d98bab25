//! Typographic attacks on CLIP (Goh et al. 2021, "Typographic attacks"): write a word on an image and see whether
//! the classifier now reports the word's class. Three experiments, as the article ran them:
//! - [`run::attack`] with [`overlay::Protocol::Grid8`]: the word eight times at fixed positions (the automated
//!   evaluation, Figure 16), success rate, baseline accuracy, pixel cover;
//! - [`overlay::Protocol::Label`]: one hand-written paper label on the object ("in the wild", Figure 14);
//! - [`stroop::stroop`]: colour words in conflicting inks (Figure 17).
//!
//! Each attack is tied to the neurons it drives ([`run::DrivenNeuron`]), labelled by rendered-word probes.

pub mod classifier;
pub mod images;
pub mod overlay;
pub mod report;
pub mod run;
pub mod stroop;

#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Model(#[from] clipneurons_model::ModelError),
    #[error(transparent)]
    Neurons(#[from] clipneurons_neurons::NeuronError),
    #[error("{0}")]
    Input(String),
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

pub type Result<T> = std::result::Result<T, AttackError>;

pub(crate) fn file_err(path: &std::path::Path, e: impl std::fmt::Display) -> AttackError {
    AttackError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

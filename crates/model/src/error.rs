//! Errors of model construction and use. Every message is one line that names what is wrong and where.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("checkpoint has no tensor `{key}` ({why}); is this a CLIP checkpoint?")]
    MissingKey { key: String, why: String },
    #[error("tensor `{key}` has shape {found:?} but this architecture needs {expected:?}; the checkpoint does not match the inferred config ({config})")]
    ShapeMismatch {
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
        config: String,
    },
    #[error("cannot infer the CLIP architecture: {0}")]
    Config(String),
    #[error(
        "unknown layer `{name}`{hint}; run `clipneurons layers` to list the layers of this model"
    )]
    UnknownLayer { name: String, hint: String },
    #[error("invalid input: {0}")]
    Input(String),
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, ModelError>;

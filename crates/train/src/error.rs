//! One error type for the trainer, so the CLI can print one clear line.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Model(#[from] clipneurons_model::ModelError),
    #[error("invalid training configuration: {0}")]
    Config(String),
    #[error("checkpoint {path} is corrupt or unreadable: {why}")]
    CorruptCheckpoint { path: PathBuf, why: String },
    #[error("cannot write {path}: {why}")]
    Write { path: PathBuf, why: String },
    #[error("the data thread stopped unexpectedly")]
    DataThread,
    #[error("training diverged at step {step}: loss is {loss}")]
    Diverged { step: u64, loss: f32 },
}

pub type Result<T> = std::result::Result<T, TrainError>;

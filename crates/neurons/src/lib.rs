//! Neuron analysis on any CLIP the model crate loads: which neurons a concept drives, found from the weights
//! (zero-shot neuron search) and checked by editing activations.

pub mod label;
pub mod mine;
pub mod profile;
pub mod readout;
pub mod search;
pub mod shards;
pub mod sheet;
pub mod stats;
pub mod tables;
pub mod textviz;
pub mod words;

pub use search::{search, NeuronHit, SearchResult};

/// One error type: model errors and bad requests, each a clear line.
#[derive(Debug, thiserror::Error)]
pub enum NeuronError {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Model(#[from] clipneurons_model::ModelError),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Input(String),
}

pub type Result<T> = std::result::Result<T, NeuronError>;

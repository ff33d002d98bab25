//! Contrastive training of the built-in CLIP (a small ModifiedResNet + text transformer) on the synthetic world.
//!
//! The model code is `clipneurons-model`'s, unchanged: each step rebuilds a [`clipneurons_model::Clip`] from the
//! parameter `Var`s, so training and inference run exactly the same forward pass (batch norm folded in eval form,
//! with frozen statistics — see [`init`]). Data is rendered on the fly, ahead of the step, on a background thread.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
pub mod eval;
pub mod init;
pub mod loss;
pub mod optim;
pub mod trainer;

pub use config::{ModelShape, TrainConfig};
pub use error::{Result, TrainError};
pub use init::{init_state_dict, ModelState};
pub use trainer::{StepStats, Trainer};

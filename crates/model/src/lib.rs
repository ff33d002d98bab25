//! CLIP models in candle: ModifiedResNet and ViT image towers, the text transformer, named taps and input
//! gradients. Configured from checkpoint shapes alone; key names are OpenAI's.

pub mod clip;
pub mod config;
pub mod error;
pub mod ops;
pub mod resnet;
pub mod taps;
pub mod text;
pub mod transformer;
pub mod vit;
pub mod weights;

pub use clip::{channel_mean, l2_normalize, spatial_max, spatial_mean, Clip, VisionTower};
/// Lucid's redirected ReLU gradient for graphs built inside the closure (feature visualisation's first steps).
pub use clipneurons_kernels::with_redirected_relu;
pub use config::{ClipConfig, TextConfig, VisionConfig};
pub use error::{ModelError, Result};
pub use taps::Taps;

//! Model shape and training hyper-parameters. Both are stored in every checkpoint, so `--resume` continues with
//! exactly the run's settings.

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Shape of the ModifiedResNet CLIP to train. Defaults follow the feasibility notes
/// (`docs/builtin-world-notes.md`): width 16 learned photos/icons/words well in minutes; 96 px gave the best runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelShape {
    /// Bottlenecks per stage.
    pub layers: [usize; 4],
    /// Stem/first-stage width; the last stage has `32·width` channels.
    pub width: usize,
    /// Input side in pixels, a multiple of 32 (the attention pool sees a `size/32` grid).
    pub image_size: usize,
    pub embed_dim: usize,
    /// Text transformer width; heads = width / 64 (the loader's rule).
    pub text_width: usize,
    pub text_layers: usize,
    /// Shorter than CLIP's 77: world captions are short, and the loader reads it from `positional_embedding`.
    pub context_length: usize,
    /// 49408, the real CLIP BPE vocabulary, so the standard tokenizer works unchanged.
    pub vocab_size: usize,
}

impl Default for ModelShape {
    fn default() -> Self {
        Self {
            layers: [1, 1, 1, 1],
            width: 16,
            image_size: 96,
            embed_dim: 128,
            text_width: 128,
            text_layers: 2,
            context_length: 32,
            vocab_size: 49408,
        }
    }
}

impl ModelShape {
    /// A very small shape for tests: 32 px, width 8, one text layer of width 64.
    pub fn tiny() -> Self {
        Self {
            layers: [1, 1, 1, 1],
            width: 8,
            image_size: 32,
            embed_dim: 32,
            text_width: 64,
            text_layers: 1,
            context_length: 16,
            vocab_size: 49408,
        }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TrainError::Config(m));
        if self.image_size < 32 || !self.image_size.is_multiple_of(32) {
            return bad(format!(
                "image size must be a positive multiple of 32, got {}",
                self.image_size
            ));
        }
        if self.width < 2 || !self.width.is_multiple_of(2) {
            return bad(format!(
                "width must be even and at least 2, got {}",
                self.width
            ));
        }
        // Text heads are width / 64 (the loader infers them so), so the width must split evenly.
        if self.text_width < 64 || !self.text_width.is_multiple_of(64) {
            return bad(format!(
                "text width must be a multiple of 64, got {}",
                self.text_width
            ));
        }
        if self.layers.contains(&0) || self.text_layers == 0 {
            return bad("every stage and the text tower need at least one layer".into());
        }
        if self.context_length < 4 || self.embed_dim == 0 || self.vocab_size < 49408 {
            return bad(
                "context ≥ 4, embed ≥ 1 and the full 49408-token vocabulary are needed".into(),
            );
        }
        Ok(())
    }
}

/// Optimisation and schedule. Defaults: AdamW (weight decay 0.1, batch 128) at a peak lr of 2e-3, which read more
/// of the world's words in the same time than the notes' 1e-3 and than 3e-3 (docs/BENCHMARKS.md, runs 3, 10, 11).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub model: ModelShape,
    pub steps: u64,
    pub batch: usize,
    /// Seeds the initialisation and the data stream (sample `i` of step `s` is world sample `s·batch + i`).
    pub seed: u64,
    pub lr: f64,
    /// Cosine decays to `lr · min_lr_ratio`.
    pub min_lr_ratio: f64,
    pub warmup_steps: u64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Global gradient-norm clip; `None` disables it.
    pub grad_clip: Option<f64>,
    /// If set, sample indices wrap modulo this pool (a fixed data set; used by tests to overfit).
    pub data_pool: Option<u64>,
    /// Weights the run started from instead of a random initialisation (`--init`): file name and SHA-256, kept
    /// for provenance. `None` for a run from scratch (and in checkpoints written before this field existed).
    #[serde(default)]
    pub init_from: Option<String>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            model: ModelShape::default(),
            steps: 6800,
            batch: 128,
            seed: 0,
            lr: 2e-3,
            min_lr_ratio: 0.0,
            warmup_steps: 500,
            weight_decay: 0.1,
            beta1: 0.9,
            // 0.98 as CLIP used for its large-batch contrastive runs: adapts faster to the moving temperature.
            beta2: 0.98,
            eps: 1e-6,
            grad_clip: Some(1.0),
            data_pool: None,
            init_from: None,
        }
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        if self.batch < 2 {
            return Err(TrainError::Config(format!(
                "batch must be at least 2 (a contrastive loss needs negatives), got {}",
                self.batch
            )));
        }
        if self.steps == 0 {
            return Err(TrainError::Config("steps must be at least 1".into()));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(TrainError::Config(format!(
                "learning rate must be positive, got {}",
                self.lr
            )));
        }
        Ok(())
    }

    /// Learning rate at `step` (0-based): linear warm-up, then cosine decay to `lr · min_lr_ratio`.
    pub fn lr_at(&self, step: u64) -> f64 {
        let warm = self.warmup_steps.min(self.steps.saturating_sub(1));
        if step < warm {
            return self.lr * (step + 1) as f64 / warm as f64;
        }
        let span = (self.steps - warm).max(1) as f64;
        let t = ((step - warm) as f64 / span).min(1.0);
        let min = self.lr * self.min_lr_ratio;
        min + (self.lr - min) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

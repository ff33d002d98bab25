//! Symmetric InfoNCE with a learnable temperature and soft targets for repeated captions.
//!
//! World captions come from templates, so a batch often holds the same caption twice ("yellow", "the word
//! banana"). A hard one-hot target would push such a pair apart; the notes measured that treating identical
//! captions as positives matters, so the target row is the row-normalised caption-equality matrix.

use candle_core::{Tensor, D};

use crate::error::Result;

/// Largest temperature multiplier, as CLIP: `logit_scale` is clamped to ln 100 after each update.
pub const MAX_LOGIT_SCALE: f32 = 4.605_170_2;

/// Row-normalised caption-equality matrix `[B, B]` (symmetric in equality, so the same for both directions).
pub fn soft_targets(captions: &[String]) -> Result<Tensor> {
    let n = captions.len();
    let mut t = vec![0f32; n * n];
    for i in 0..n {
        let same: Vec<usize> = (0..n).filter(|&j| captions[j] == captions[i]).collect();
        for &j in &same {
            t[i * n + j] = 1.0 / same.len() as f32;
        }
    }
    Ok(Tensor::from_vec(t, (n, n), &candle_core::Device::Cpu)?)
}

/// Loss, and in-batch accuracy (share of rows of both directions whose argmax is a positive).
pub struct LossOut {
    pub loss: Tensor,
    pub accuracy: f32,
}

/// `image`, `text`: unnormalised features `[B, E]`; `logit_scale`: 0-d (the log of the multiplier).
pub fn contrastive_loss(
    image: &Tensor,
    text: &Tensor,
    logit_scale: &Tensor,
    targets: &Tensor,
) -> Result<LossOut> {
    let i = clipneurons_model::l2_normalize(image)?;
    let t = clipneurons_model::l2_normalize(text)?;
    let logits = i.matmul(&t.t()?)?.broadcast_mul(&logit_scale.exp()?)?; // [B, B] image → text
    let xent = |l: &Tensor| -> Result<Tensor> {
        let lp = candle_nn::ops::log_softmax(l, D::Minus1)?;
        Ok((lp * targets)?.sum(1)?.mean_all()?.neg()?)
    };
    let logits_t = logits.t()?;
    let loss = ((xent(&logits)? + xent(&logits_t)?)? * 0.5)?;
    let accuracy = {
        let tv = targets.to_vec2::<f32>()?;
        let mut hits = 0usize;
        for (m, transpose) in [(&logits, false), (&logits_t, true)] {
            let rows = m.detach().to_vec2::<f32>()?;
            for (r, row) in rows.iter().enumerate() {
                let best = row
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(j, _)| j);
                let tgt = if transpose { tv[best][r] } else { tv[r][best] };
                hits += usize::from(tgt > 0.0);
            }
        }
        hits as f32 / (2 * tv.len()) as f32
    };
    Ok(LossOut { loss, accuracy })
}

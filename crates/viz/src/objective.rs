//! Objectives on a layer's activations `[B, C, H, W]` (or `[B, T, D]` token layers), maximised. They compose:
//! [`Objective::Sum`] of weighted terms (Lucid's `+` and `*`).

use candle_core::{Tensor, D};

use crate::{Result, VizError};

#[derive(Clone, Debug)]
pub enum Objective {
    /// Mean of one channel over space and batch (Lucid `channel`).
    Channel(usize),
    /// One channel at the centre position (Lucid `neuron`: `H/2, W/2`).
    Neuron(usize),
    /// `mean(x · v)` over positions and batch for a direction `v` over channels (Lucid `direction`).
    Direction(Vec<f32>),
    /// `mean(relu(x) · v)`: the objective of the article and OpenAI's CLIP-featurevis (`vector`), which ignores
    /// how negative the other positions are.
    ReluDirection(Vec<f32>),
    /// Lucid's `diversity`, negated so that maximising it pushes the batch apart: `−Σ_{i≠j} ⟨Gᵢ, Gⱼ⟩ / B` with
    /// `Gᵢ` image i's channel Gram matrix (`C × C` over positions), each normalised to unit length. Zero at batch 1.
    Diversity,
    /// `Σ wₖ · objectiveₖ`.
    Sum(Vec<(f64, Objective)>),
}

impl Objective {
    /// The article's ReLU'd channel: [`Objective::ReluDirection`] along one channel of `channels`.
    pub fn relu_channel(n: usize, channels: usize) -> Objective {
        let mut v = vec![0.0; channels];
        if n < channels {
            v[n] = 1.0;
        }
        Objective::ReluDirection(v)
    }
}

impl Objective {
    /// The objective's value (a scalar tensor) on `act`.
    pub fn value(&self, act: &Tensor) -> Result<Tensor> {
        // Token layers [B, T, D] are treated as [B, D, T, 1].
        let act = match act.rank() {
            4 => act.clone(),
            3 => act.transpose(1, 2)?.unsqueeze(3)?,
            r => {
                return Err(VizError::Input(format!(
                    "cannot visualise a layer of rank {r}"
                )))
            }
        };
        let (_, c, h, w) = act.dims4()?;
        let check = |n: usize| {
            if n >= c {
                Err(VizError::Input(format!(
                    "neuron {n} is out of range: the layer has {c} channels (0..{})",
                    c - 1
                )))
            } else {
                Ok(())
            }
        };
        Ok(match self {
            Objective::Channel(n) => {
                check(*n)?;
                act.narrow(1, *n, 1)?.mean_all()?
            }
            Objective::Neuron(n) => {
                check(*n)?;
                act.narrow(1, *n, 1)?
                    .narrow(2, h / 2, 1)?
                    .narrow(3, w / 2, 1)?
                    .mean_all()?
            }
            Objective::Direction(v) | Objective::ReluDirection(v) => {
                if v.len() != c {
                    return Err(VizError::Input(format!(
                        "the direction has {} values but the layer has {c} channels",
                        v.len()
                    )));
                }
                let v = Tensor::from_vec(v.clone(), (1, c, 1, 1), act.device())?;
                let a = if matches!(self, Objective::ReluDirection(_)) {
                    clipneurons_model::ops::relu(&act)? // the kernel: honours the redirected gradient
                } else {
                    act.clone()
                };
                a.broadcast_mul(&v)?.sum(1)?.mean_all()?
            }
            Objective::Diversity => {
                let b = act.dim(0)?;
                let x = act.reshape((b, c, h * w))?;
                let gram = x.matmul(&x.t()?)?.reshape((b, c * c))?;
                let g =
                    gram.broadcast_div(&(gram.sqr()?.sum_keepdim(D::Minus1)?.sqrt()? + 1e-12)?)?;
                let sim = g.matmul(&g.t()?)?; // [B, B]; its trace is Σᵢ ‖gᵢ‖²
                let off_diagonal = (sim.sum_all()? - g.sqr()?.sum_all()?)?;
                (off_diagonal / b as f64)?.neg()?
            }
            Objective::Sum(terms) => {
                let mut total = Tensor::zeros((), act.dtype(), act.device())?;
                for (wt, o) in terms {
                    total = (total + (o.value(&act)? * *wt)?)?;
                }
                total
            }
        })
    }
}

/// Lucid's `L2` pull towards grey: `−mean((x − 0.5)²)` of the RGB image (maximised, so it penalises).
pub fn l2_to_grey(rgb: &Tensor) -> Result<Tensor> {
    Ok((rgb - 0.5)?.sqr()?.mean_all()?.neg()?)
}

/// Mean over the batch of per-image values, for reports: `[B]` from `[B, ...]`.
pub fn per_image_channel_mean(act: &Tensor, n: usize) -> Result<Vec<f32>> {
    let a = act.narrow(1, n, 1)?.flatten_from(1)?;
    Ok(a.mean(D::Minus1)?.to_vec1::<f32>()?)
}

//! Linear read-outs fitted on features: softmax regression on standardised features, trained full-batch with
//! Adam on cross-entropy plus `l2 · ‖W‖²`. Used for the article's linear probe on the image embedding (attacks)
//! and for facet probes on lower-layer activations (faceted feature visualisation).

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use crate::{NeuronError, Result};

/// Training settings.
#[derive(Clone, Debug)]
pub struct FitOptions {
    pub steps: usize,
    pub lr: f64,
    pub l2: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            steps: 300,
            lr: 0.05,
            l2: 1e-3,
        }
    }
}

/// `logits = ((x − mean) / std) · Wᵀ + b`.
pub struct SoftmaxFit {
    /// `[K, D]`
    pub weight: Tensor,
    /// `[K]`
    pub bias: Tensor,
    /// `[1, D]`
    pub mean: Tensor,
    /// `[1, D]`
    pub std: Tensor,
    /// Accuracy on the training rows.
    pub train_accuracy: f64,
}

impl SoftmaxFit {
    /// `[N, K]` logits for features `[N, D]`.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let xs = x.broadcast_sub(&self.mean)?.broadcast_div(&self.std)?;
        Ok(xs.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?)
    }
}

/// Fit a `k`-class softmax regression to features `x` `[N, D]` with class indices `targets`.
pub fn fit_softmax(
    x: &Tensor,
    targets: &[usize],
    k: usize,
    opts: &FitOptions,
) -> Result<SoftmaxFit> {
    let (n, d) = x.dims2()?;
    if n == 0 || n != targets.len() {
        return Err(NeuronError::Input(format!(
            "{n} feature rows for {} targets",
            targets.len()
        )));
    }
    let mean = x.mean_keepdim(0)?;
    let std = (x.broadcast_sub(&mean)?.sqr()?.mean_keepdim(0)? + 1e-8)?.sqrt()?;
    let xs = x.broadcast_sub(&mean)?.broadcast_div(&std)?;
    let mut onehot = vec![0f32; n * k];
    for (i, &t) in targets.iter().enumerate() {
        if t >= k {
            return Err(NeuronError::Input(format!(
                "class index {t} outside {k} labels"
            )));
        }
        onehot[i * k + t] = 1.0;
    }
    let onehot = Tensor::from_vec(onehot, (n, k), &Device::Cpu)?;
    let w = Var::zeros((k, d), DType::F32, &Device::Cpu)?;
    let b = Var::zeros(k, DType::F32, &Device::Cpu)?;
    let mut adam = AdamW::new(
        vec![w.clone(), b.clone()],
        ParamsAdamW {
            lr: opts.lr,
            weight_decay: 0.0, // the L2 term is in the loss
            ..ParamsAdamW::default()
        },
    )?;
    for _ in 0..opts.steps {
        let logits = xs
            .matmul(&w.as_tensor().t()?)?
            .broadcast_add(b.as_tensor())?;
        let max = logits.max_keepdim(D::Minus1)?.detach();
        let lse = (logits
            .broadcast_sub(&max)?
            .exp()?
            .sum_keepdim(D::Minus1)?
            .log()?
            + &max)?;
        let nll = (logits.broadcast_sub(&lse)? * &onehot)?.sum_all()?.neg()? / n as f64;
        let loss = (nll? + (w.as_tensor().sqr()?.sum_all()? * opts.l2)?)?;
        adam.backward_step(&loss)?;
    }
    let mut fit = SoftmaxFit {
        weight: w.as_tensor().detach(),
        bias: b.as_tensor().detach(),
        mean,
        std,
        train_accuracy: 0.0,
    };
    let pred = fit.logits(x)?.argmax(D::Minus1)?.to_vec1::<u32>()?;
    let correct = pred
        .iter()
        .zip(targets)
        .filter(|(p, t)| **p as usize == **t)
        .count();
    fit.train_accuracy = correct as f64 / n as f64;
    Ok(fit)
}

//! The few primitives every tower is built from. Each one is differentiable with respect to its input; the
//! arithmetic lives in `clipneurons-kernels` (candle's own fused layer-norm and `softmax_last_dim` silently drop
//! gradients, and its composed versions are slow to differentiate).

use candle_core::Tensor;

use crate::error::Result;
use crate::weights::Weights;

pub const LN_EPS: f64 = 1e-5;
pub const BN_EPS: f64 = 1e-5;

/// A convolution with its batch norm folded in (eval mode): `bn(conv(x, W)) = conv(x, W·s) + (b − μ·s)` with
/// `s = γ / sqrt(σ² + ε)`. One pass instead of three, and the same numbers up to rounding.
pub struct ConvBn {
    weight: Tensor,
    bias: Tensor,
    stride: usize,
    padding: usize,
}

impl ConvBn {
    pub fn load(
        w: &Weights,
        conv: &str,
        bn: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
    ) -> Result<Self> {
        let weight = w.get(&format!("{conv}.weight"), &[cout, cin, k, k])?;
        let gamma = w.get(&format!("{bn}.weight"), &[cout])?;
        let beta = w.get(&format!("{bn}.bias"), &[cout])?;
        let mean = w.get(&format!("{bn}.running_mean"), &[cout])?;
        let var = w.get(&format!("{bn}.running_var"), &[cout])?;
        let scale = (gamma / (var + BN_EPS)?.sqrt()?)?;
        let bias = (beta - (mean * &scale)?)?;
        let weight = weight.broadcast_mul(&scale.reshape((cout, 1, 1, 1))?)?;
        Ok(Self {
            weight,
            bias,
            stride,
            padding: k / 2,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = conv2d(x, &self.weight, self.stride, self.padding)?;
        Ok(clipneurons_kernels::add_channel_bias(&y, &self.bias)?)
    }

    /// `relu(forward(x))`, with the bias and the ReLU fused.
    pub fn forward_relu(&self, x: &Tensor) -> Result<Tensor> {
        let y = conv2d(x, &self.weight, self.stride, self.padding)?;
        Ok(clipneurons_kernels::add_channel_bias_relu(&y, &self.bias)?)
    }
}

/// NCHW × OIHW convolution, no bias. The single place that picks the convolution kernel.
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    Ok(clipneurons_kernels::conv2d(x, w, stride, padding)?)
}

/// PyTorch `Linear` (weight `[out, in]`) on the last dimension.
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    pub fn load(w: &Weights, prefix: &str, cin: usize, cout: usize) -> Result<Self> {
        Ok(Self {
            weight: w.get(&format!("{prefix}.weight"), &[cout, cin])?,
            bias: Some(w.get(&format!("{prefix}.bias"), &[cout])?),
        })
    }

    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias }
    }

    /// `[out, in]`, PyTorch layout.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(clipneurons_kernels::linear(
            x,
            &self.weight,
            self.bias.as_ref(),
        )?)
    }
}

/// LayerNorm over the last dimension, computed in f32 like CLIP's fp16-safe subclass.
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
}

impl LayerNorm {
    /// The scale γ.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn load(w: &Weights, prefix: &str, dim: usize) -> Result<Self> {
        Ok(Self {
            weight: w.get(&format!("{prefix}.weight"), &[dim])?,
            bias: w.get(&format!("{prefix}.bias"), &[dim])?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(clipneurons_kernels::layer_norm(
            x,
            &self.weight,
            &self.bias,
            LN_EPS as f32,
        )?)
    }
}

/// Softmax over the last dimension.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    Ok(clipneurons_kernels::softmax_last(x)?)
}

/// OpenAI's activation in both towers' MLPs: `x · σ(1.702 x)`.
pub fn quick_gelu(x: &Tensor) -> Result<Tensor> {
    Ok(clipneurons_kernels::quick_gelu(x)?)
}

/// `max(x, 0)`.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    Ok(clipneurons_kernels::relu(x)?)
}

/// Multi-head scaled dot-product attention on batch-first tensors: q `[N, Lq, D]`, k/v `[N, L, D]`, optional
/// additive mask `[Lq, L]`. Returns `[N, Lq, D]` before the output projection.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    mask: Option<&Tensor>,
) -> Result<Tensor> {
    let (n, lq, d) = q.dims3()?;
    let l = k.dim(1)?;
    let hd = d / heads;
    let split = |t: &Tensor, len: usize| -> Result<Tensor> {
        Ok(t.reshape((n, len, heads, hd))?
            .transpose(1, 2)?
            .contiguous()?)
    };
    let q = (split(q, lq)? * (1.0 / (hd as f64).sqrt()))?;
    let k = split(k, l)?;
    let v = split(v, l)?;
    let mut scores = q.matmul(&k.t()?)?; // [N, H, Lq, L]
    if let Some(m) = mask {
        scores = scores.broadcast_add(m)?;
    }
    let probs = softmax_last(&scores)?;
    let out = probs.matmul(&v)?; // [N, H, Lq, hd]
    Ok(out.transpose(1, 2)?.reshape((n, lq, d))?)
}

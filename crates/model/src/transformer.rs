//! The pre-LN residual attention block shared by the ViT image tower and the text tower
//! (`x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))`, QuickGELU MLP of width 4·d). Batch-first throughout.

use candle_core::Tensor;

use crate::error::Result;
use crate::ops::{attention, quick_gelu, LayerNorm, Linear};
use crate::taps::Taps;
use crate::weights::Weights;

pub struct ResidualAttentionBlock {
    name: String,
    ln_1: LayerNorm,
    in_proj: Linear,
    out_proj: Linear,
    ln_2: LayerNorm,
    c_fc: Linear,
    c_proj: Linear,
    heads: usize,
}

impl ResidualAttentionBlock {
    pub fn load(w: &Weights, name: &str, width: usize, heads: usize) -> Result<Self> {
        let p = |s: &str| format!("{name}.{s}");
        Ok(Self {
            name: name.to_string(),
            ln_1: LayerNorm::load(w, &p("ln_1"), width)?,
            in_proj: Linear::new(
                w.get(&p("attn.in_proj_weight"), &[3 * width, width])?,
                Some(w.get(&p("attn.in_proj_bias"), &[3 * width])?),
            ),
            out_proj: Linear::load(w, &p("attn.out_proj"), width, width)?,
            ln_2: LayerNorm::load(w, &p("ln_2"), width)?,
            c_fc: Linear::load(w, &p("mlp.c_fc"), width, 4 * width)?,
            c_proj: Linear::load(w, &p("mlp.c_proj"), 4 * width, width)?,
            heads,
        })
    }

    /// The MLP's output projection (`mlp.c_proj`), which writes the `mlp.gelu` neurons into the residual stream.
    pub fn mlp_output(&self) -> &Linear {
        &self.c_proj
    }

    /// `causal`: each position attends only to itself and earlier ones (the text tower).
    pub fn forward(&self, x: &Tensor, causal: bool, taps: &mut Taps) -> Result<Tensor> {
        let n = &self.name;
        let (_, len, width) = x.dims3()?;
        let qkv = self.in_proj.forward(&self.ln_1.forward(x)?)?;
        // The fused kernel for f32 on the CPU; otherwise composed from candle ops with an additive mask.
        let heads_out = match clipneurons_kernels::self_attention(&qkv, self.heads, causal)? {
            Some(t) => t,
            None => {
                let q = qkv.narrow(2, 0, width)?;
                let k = qkv.narrow(2, width, width)?;
                let v = qkv.narrow(2, 2 * width, width)?;
                let mask = if causal {
                    Some(causal_mask(len)?)
                } else {
                    None
                };
                attention(&q, &k, &v, self.heads, mask.as_ref())?
            }
        };
        let attn = self.out_proj.forward(&heads_out)?;
        taps.offer(&format!("{n}.attn"), &attn)?;
        let x = (x + attn)?;
        let hidden = quick_gelu(&self.c_fc.forward(&self.ln_2.forward(&x)?)?)?;
        taps.offer(&format!("{n}.mlp.gelu"), &hidden)?;
        let x = (x + self.c_proj.forward(&hidden)?)?;
        taps.offer(n, &x)?;
        Ok(x)
    }
}

/// The additive causal mask `[L, L]`: a large negative number rather than −∞ above the diagonal keeps fully masked
/// rows finite.
fn causal_mask(len: usize) -> Result<Tensor> {
    let mask: Vec<f32> = (0..len * len)
        .map(|i| if i % len > i / len { f32::MIN } else { 0.0 })
        .collect();
    Ok(Tensor::from_vec(
        mask,
        (len, len),
        &candle_core::Device::Cpu,
    )?)
}

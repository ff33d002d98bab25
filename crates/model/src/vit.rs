//! CLIP's VisionTransformer image tower: patch convolution, class token, `ln_pre`, pre-LN blocks, `ln_post` on the
//! class token and a projection `visual.proj` used as `x @ proj`.

use candle_core::Tensor;

use crate::error::Result;
use crate::ops::{conv2d, LayerNorm};
use crate::taps::{stop_if_done, Taps};
use crate::transformer::ResidualAttentionBlock;
use crate::weights::Weights;

pub struct VisionTransformer {
    conv1: Tensor,
    patch_size: usize,
    class_embedding: Tensor,
    positional_embedding: Tensor,
    ln_pre: LayerNorm,
    blocks: Vec<ResidualAttentionBlock>,
    ln_post: LayerNorm,
    proj: Tensor,
}

impl VisionTransformer {
    pub fn load(
        w: &Weights,
        layers: usize,
        width: usize,
        heads: usize,
        patch_size: usize,
        image_size: usize,
        embed_dim: usize,
    ) -> Result<Self> {
        let grid = image_size / patch_size;
        let blocks = (0..layers)
            .map(|i| {
                ResidualAttentionBlock::load(
                    w,
                    &format!("visual.transformer.resblocks.{i}"),
                    width,
                    heads,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            conv1: w.get("visual.conv1.weight", &[width, 3, patch_size, patch_size])?,
            patch_size,
            class_embedding: w.get("visual.class_embedding", &[width])?,
            positional_embedding: w
                .get("visual.positional_embedding", &[grid * grid + 1, width])?,
            ln_pre: LayerNorm::load(w, "visual.ln_pre", width)?,
            blocks,
            ln_post: LayerNorm::load(w, "visual.ln_post", width)?,
            proj: w.get("visual.proj", &[width, embed_dim])?,
        })
    }

    pub fn forward(&self, pixels: &Tensor, taps: &mut Taps) -> Result<Option<Tensor>> {
        let x = conv2d(pixels, &self.conv1, self.patch_size, 0)?;
        taps.offer("visual.conv1", &x)?;
        let (n, c, h, w) = x.dims4()?;
        let x = x.reshape((n, c, h * w))?.transpose(1, 2)?;
        let cls = self
            .class_embedding
            .reshape((1, 1, c))?
            .broadcast_as((n, 1, c))?;
        let x = Tensor::cat(&[&cls, &x], 1)?.broadcast_add(&self.positional_embedding)?;
        let mut x = self.ln_pre.forward(&x)?;
        taps.offer("visual.ln_pre", &x)?;
        stop_if_done!(taps);
        for block in &self.blocks {
            x = block.forward(&x, false, taps)?;
            stop_if_done!(taps);
        }
        let cls = self.ln_post.forward(&x.narrow(1, 0, 1)?.squeeze(1)?)?;
        taps.offer("visual.ln_post", &cls)?;
        Ok(Some(cls.matmul(&self.proj)?))
    }

    /// The last block's MLP neurons (`…resblocks.N.mlp.gelu`) and their direct directions in embedding space
    /// `[4·width, E]`: row `j` is `c_proj[:, j]` through `ln_post`'s centring and scale γ and `proj` — the path from
    /// the class token's neuron to the embedding that bypasses later computation (there is none after the last
    /// block except `ln_post`, whose division by the token's norm scales all neurons alike).
    pub fn last_mlp_directions(&self) -> Result<(String, Tensor)> {
        let last = self.blocks.len().saturating_sub(1);
        let block = self
            .blocks
            .last()
            .ok_or_else(|| crate::error::ModelError::Input("the ViT has no blocks".into()))?;
        let w = block.mlp_output().weight().t()?; // [4w, w]: row j = what neuron j adds to the stream
        let centred = w.broadcast_sub(&w.mean_keepdim(1)?)?;
        let scaled = centred.broadcast_mul(self.ln_post.weight())?;
        Ok((
            format!("visual.transformer.resblocks.{last}.mlp.gelu"),
            scaled.matmul(&self.proj)?,
        ))
    }

    /// `[4·width, width]`: row `j` is what the last block's MLP neuron `j` adds to the residual stream per unit of
    /// its activation (`c_proj[:, j]`).
    pub fn last_mlp_rows(&self) -> Result<Tensor> {
        let block = self
            .blocks
            .last()
            .ok_or_else(|| crate::error::ModelError::Input("the ViT has no blocks".into()))?;
        Ok(block.mlp_output().weight().t()?.contiguous()?)
    }

    /// The tap of the last block's output (the residual stream `[N, T, width]`).
    pub fn last_block_name(&self) -> String {
        format!(
            "visual.transformer.resblocks.{}",
            self.blocks.len().saturating_sub(1)
        )
    }

    /// The image embedding from the class token's residual stream after the last block (`[N, width]`): `ln_post`
    /// then `proj`, as the forward pass ends.
    pub fn embed_class_token(&self, cls: &Tensor) -> Result<Tensor> {
        Ok(self.ln_post.forward(cls)?.matmul(&self.proj)?)
    }

    pub fn proj(&self) -> &Tensor {
        &self.proj
    }
}

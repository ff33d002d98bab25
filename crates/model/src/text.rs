//! CLIP's text tower: token + position embeddings, causal pre-LN transformer, `ln_final`, pooled at the EOT token
//! (the highest id in each sequence, first occurrence, as `text.argmax(-1)`), then `@ text_projection`.

use candle_core::{DType, Tensor};

use crate::error::{ModelError, Result};
use crate::ops::LayerNorm;
use crate::taps::{stop_if_done, Taps};
use crate::transformer::ResidualAttentionBlock;
use crate::weights::Weights;

pub struct TextTransformer {
    token_embedding: Tensor,
    positional_embedding: Tensor,
    blocks: Vec<ResidualAttentionBlock>,
    ln_final: LayerNorm,
    text_projection: Tensor,
    vocab_size: usize,
}

impl TextTransformer {
    pub fn load(w: &Weights, cfg: &crate::config::TextConfig, embed_dim: usize) -> Result<Self> {
        let blocks = (0..cfg.layers)
            .map(|i| {
                ResidualAttentionBlock::load(
                    w,
                    &format!("transformer.resblocks.{i}"),
                    cfg.width,
                    cfg.heads,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let ctx = cfg.context_length;
        Ok(Self {
            token_embedding: w.get("token_embedding.weight", &[cfg.vocab_size, cfg.width])?,
            positional_embedding: w.get("positional_embedding", &[ctx, cfg.width])?,
            blocks,
            ln_final: LayerNorm::load(w, "ln_final", cfg.width)?,
            text_projection: w.get("text_projection", &[cfg.width, embed_dim])?,
            vocab_size: cfg.vocab_size,
        })
    }

    /// `tokens`: `[M, context]` ids (u32). Returns text features `[M, E]`.
    pub fn forward(&self, tokens: &Tensor, taps: &mut Taps) -> Result<Option<Tensor>> {
        let (m, ctx) = tokens.dims2()?;
        if ctx != self.positional_embedding.dim(0)? {
            return Err(ModelError::Input(format!(
                "token sequences have length {ctx}, the model's context length is {}",
                self.positional_embedding.dim(0)?
            )));
        }
        let ids = tokens.to_dtype(DType::U32)?;
        let max_id = ids.max_all()?.to_scalar::<u32>()? as usize;
        if max_id >= self.vocab_size {
            return Err(ModelError::Input(format!(
                "token id {max_id} is outside the model's vocabulary of {}",
                self.vocab_size
            )));
        }
        // First index of the maximum id in each row = the EOT position.
        let ids_v = ids.to_vec2::<u32>()?;
        let eot: Vec<u32> = ids_v
            .iter()
            .map(|row| {
                let mut best = 0;
                for (i, &v) in row.iter().enumerate() {
                    if v > row[best] {
                        best = i;
                    }
                }
                best as u32
            })
            .collect();
        // The mask is causal, so positions after the last EOT of the batch cannot change the pooled features:
        // when no tap wants them they are not computed (world captions use ~8 of 32 positions). Exact, not an
        // approximation: the dropped keys would only have received zero attention weight.
        let len = if taps.records_nothing() {
            eot.iter().map(|&e| e as usize + 1).max().unwrap_or(ctx)
        } else {
            ctx
        };
        let (ids, pos) = if len < ctx {
            (
                ids.narrow(1, 0, len)?.contiguous()?,
                self.positional_embedding.narrow(0, 0, len)?,
            )
        } else {
            (ids, self.positional_embedding.clone())
        };
        let x = self.token_embedding.index_select(&ids.flatten_all()?, 0)?;
        let x = x.reshape((m, len, ()))?;
        taps.offer("token_embedding", &x)?;
        let mut x = x.broadcast_add(&pos)?;
        for block in &self.blocks {
            x = block.forward(&x, true, taps)?;
            stop_if_done!(taps);
        }
        let x = self.ln_final.forward(&x)?;
        taps.offer("ln_final", &x)?;
        stop_if_done!(taps);
        let idx = Tensor::from_vec(eot, (m, 1, 1), tokens.device())?
            .broadcast_as((m, 1, x.dim(2)?))?
            .contiguous()?;
        let pooled = x.gather(&idx, 1)?.squeeze(1)?;
        Ok(Some(pooled.matmul(&self.text_projection)?))
    }

    pub fn text_projection(&self) -> &Tensor {
        &self.text_projection
    }
}

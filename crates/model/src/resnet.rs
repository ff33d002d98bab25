//! CLIP's ModifiedResNet image tower (`clip/model.py`): a 3-convolution stem with an average pool, bottlenecks
//! whose strided convolutions are anti-aliased by a prepended `AvgPool2d(stride)`, and attention pooling where only
//! the mean token queries. Module paths mirror the checkpoint keys (`visual.layer4.5.conv3.weight`).

use candle_core::Tensor;

use crate::error::Result;
use crate::ops::{attention, relu, ConvBn, Linear};
use crate::taps::{stop_if_done, Taps};
use crate::weights::Weights;

const EXPANSION: usize = 4;

struct Bottleneck {
    name: String,
    conv1: ConvBn,
    conv2: ConvBn,
    conv3: ConvBn,
    stride: usize,
    downsample: Option<ConvBn>,
}

impl Bottleneck {
    fn load(
        w: &Weights,
        name: &str,
        inplanes: usize,
        planes: usize,
        stride: usize,
    ) -> Result<Self> {
        let c = |conv: &str, bn: &str, cin, cout, k| {
            ConvBn::load(
                w,
                &format!("{name}.{conv}"),
                &format!("{name}.{bn}"),
                cin,
                cout,
                k,
                1,
            )
        };
        let downsample = if stride > 1 || inplanes != planes * EXPANSION {
            Some(c(
                "downsample.0",
                "downsample.1",
                inplanes,
                planes * EXPANSION,
                1,
            )?)
        } else {
            None
        };
        Ok(Self {
            name: name.to_string(),
            conv1: c("conv1", "bn1", inplanes, planes, 1)?,
            conv2: c("conv2", "bn2", planes, planes, 3)?,
            conv3: c("conv3", "bn3", planes, planes * EXPANSION, 1)?,
            stride,
            downsample,
        })
    }

    fn forward(&self, x: &Tensor, taps: &mut Taps) -> Result<Tensor> {
        let n = &self.name;
        let h = self.conv1.forward_relu(x)?;
        taps.offer(&format!("{n}.relu1"), &h)?;
        let mut h = self.conv2.forward_relu(&h)?;
        taps.offer(&format!("{n}.relu2"), &h)?;
        if self.stride > 1 {
            h = h.avg_pool2d(self.stride)?;
        }
        let h = self.conv3.forward(&h)?;
        let identity = match &self.downsample {
            Some(ds) => {
                let x = if self.stride > 1 {
                    x.avg_pool2d(self.stride)?
                } else {
                    x.clone()
                };
                ds.forward(&x)?
            }
            None => x.clone(),
        };
        let sum = (h + identity)?;
        taps.offer(&format!("{n}.add"), &sum)?;
        let out = relu(&sum)?;
        taps.offer(n, &out)?;
        Ok(out)
    }
}

struct AttentionPool {
    positional_embedding: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    c: Linear,
    heads: usize,
}

impl AttentionPool {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let tokens = x.reshape((n, c, h * w))?.transpose(1, 2)?; // [N, HW, C]
        let mean = tokens.mean_keepdim(1)?;
        let tokens =
            Tensor::cat(&[&mean, &tokens], 1)?.broadcast_add(&self.positional_embedding)?;
        let query = tokens.narrow(1, 0, 1)?;
        let out = attention(
            &self.q.forward(&query)?,
            &self.k.forward(&tokens)?,
            &self.v.forward(&tokens)?,
            self.heads,
            None,
        )?;
        Ok(self.c.forward(&out)?.squeeze(1)?)
    }
}

pub struct ModifiedResNet {
    stem: [ConvBn; 3],
    stages: Vec<Vec<Bottleneck>>,
    attnpool: AttentionPool,
}

impl ModifiedResNet {
    pub fn load(
        w: &Weights,
        layers: [usize; 4],
        width: usize,
        heads: usize,
        image_size: usize,
        embed_dim: usize,
    ) -> Result<Self> {
        let half = width / 2;
        let stem = [
            ConvBn::load(w, "visual.conv1", "visual.bn1", 3, half, 3, 2)?,
            ConvBn::load(w, "visual.conv2", "visual.bn2", half, half, 3, 1)?,
            ConvBn::load(w, "visual.conv3", "visual.bn3", half, width, 3, 1)?,
        ];
        let mut inplanes = width;
        let mut stages = Vec::new();
        for (s, &count) in layers.iter().enumerate() {
            let planes = width << s;
            let mut blocks = Vec::new();
            for b in 0..count {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                blocks.push(Bottleneck::load(
                    w,
                    &format!("visual.layer{}.{b}", s + 1),
                    inplanes,
                    planes,
                    stride,
                )?);
                inplanes = planes * EXPANSION;
            }
            stages.push(blocks);
        }
        let feat = width * 32;
        let grid = image_size / 32;
        let p = "visual.attnpool";
        let attnpool = AttentionPool {
            positional_embedding: w.get(
                &format!("{p}.positional_embedding"),
                &[grid * grid + 1, feat],
            )?,
            q: Linear::load(w, &format!("{p}.q_proj"), feat, feat)?,
            k: Linear::load(w, &format!("{p}.k_proj"), feat, feat)?,
            v: Linear::load(w, &format!("{p}.v_proj"), feat, feat)?,
            c: Linear::load(w, &format!("{p}.c_proj"), feat, embed_dim)?,
            heads,
        };
        Ok(Self {
            stem,
            stages,
            attnpool,
        })
    }

    /// Image features `[N, E]`, or `None` when every requested tap was recorded before the end.
    pub fn forward(&self, pixels: &Tensor, taps: &mut Taps) -> Result<Option<Tensor>> {
        let mut x = pixels.clone();
        for (i, conv) in self.stem.iter().enumerate() {
            x = conv.forward_relu(&x)?;
            taps.offer(&format!("visual.relu{}", i + 1), &x)?;
        }
        x = x.avg_pool2d(2)?;
        taps.offer("visual.avgpool", &x)?;
        stop_if_done!(taps);
        for stage in &self.stages {
            for block in stage {
                x = block.forward(&x, taps)?;
                stop_if_done!(taps);
            }
        }
        let pooled = self.attnpool.forward(&x)?;
        taps.offer("visual.attnpool", &pooled)?;
        Ok(Some(pooled))
    }

    /// The attention pool alone: image features `[N, E]` from the last block's output `[N, C, h, w]`. Used to
    /// edit that output (raise one neuron) and see what the model then says.
    pub fn pool(&self, last_block_output: &Tensor) -> Result<Tensor> {
        self.attnpool.forward(last_block_output)
    }

    /// Name of the last block (`visual.layer4.N`), whose output the attention pool reads.
    pub fn last_block_name(&self) -> String {
        let last = self.stages.last().map_or(0, |s| s.len().saturating_sub(1));
        format!("visual.layer{}.{last}", self.stages.len())
    }

    /// Value and output projections of the attention pool, for zero-shot neuron search (`W x_text`).
    pub fn attnpool_value_output(&self) -> (&Linear, &Linear) {
        (&self.attnpool.v, &self.attnpool.c)
    }
}

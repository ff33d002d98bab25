//! Random initialisation of a ModifiedResNet CLIP in open_clip's key layout.
//!
//! Scales follow OpenAI/open_clip `initialize_parameters`, with one deliberate change for the image tower:
//! the model folds batch norm in eval form, so it is trained as a *normalisation-free* ResNet — batch-norm
//! statistics are frozen (running mean 0, variance 1, stored as buffers) and only γ/β learn. To keep that stable,
//! convolutions use He (Kaiming) normal init, fan-in, ReLU gain, and every bottleneck's last γ (`bn3.weight`) starts
//! at zero ("zero-init residual", as open_clip also does), so each block starts as its shortcut. These are
//! concept-agnostic, per-tensor scales: nothing ties any concept to any neuron.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor, Var};

use crate::config::ModelShape;
use crate::error::Result;

/// Trainable parameters (`Var`s) and frozen buffers (batch-norm statistics), both keyed as open_clip names them.
pub struct ModelState {
    pub params: BTreeMap<String, Var>,
    pub buffers: BTreeMap<String, Tensor>,
}

impl ModelState {
    /// Every tensor the model loader needs (parameters, buffers and `logit_scale`), as plain tensors sharing the
    /// parameters' storage ids, so a model built from it tracks gradients to the `Var`s.
    pub fn state_dict(&self) -> BTreeMap<String, Tensor> {
        let mut sd: BTreeMap<String, Tensor> = self.buffers.clone();
        for (k, v) in &self.params {
            sd.insert(k.clone(), v.as_tensor().clone());
        }
        sd
    }

    /// The state dict detached from the autograd graph (for saving and for inference).
    pub fn detached_state_dict(&self) -> BTreeMap<String, Tensor> {
        self.state_dict()
            .into_iter()
            .map(|(k, t)| (k, t.detach()))
            .collect()
    }

    /// Whether AdamW weight decay applies to `key`: matrices and convolution kernels only — not gains, biases,
    /// embeddings or the temperature, whose decay towards 0 has no regularising meaning.
    pub fn decays(key: &str, dims: &[usize]) -> bool {
        dims.len() >= 2 && !key.contains("embedding")
    }
}

/// SplitMix64: a tiny, portable, seedable generator, so initialisation is identical on every machine.
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// A per-key stream: each tensor's values depend only on (seed, key), not on the order tensors are made.
fn stream(seed: u64, key: &str) -> SplitMix {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed.wrapping_mul(0x100_0000_01b3);
    for b in key.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    SplitMix::new(h)
}

struct Builder {
    seed: u64,
    params: BTreeMap<String, Var>,
    buffers: BTreeMap<String, Tensor>,
}

impl Builder {
    fn normal(&mut self, key: &str, dims: &[usize], std: f64) -> Result<()> {
        let mut rng = stream(self.seed, key);
        let n: usize = dims.iter().product();
        let v: Vec<f32> = (0..n).map(|_| (rng.normal() * std) as f32).collect();
        let t = Tensor::from_vec(v, dims, &Device::Cpu)?;
        self.params.insert(key.to_string(), Var::from_tensor(&t)?);
        Ok(())
    }
    fn constant(&mut self, key: &str, dims: &[usize], value: f32) -> Result<()> {
        let t = (Tensor::ones(dims, DType::F32, &Device::Cpu)? * value as f64)?;
        self.params.insert(key.to_string(), Var::from_tensor(&t)?);
        Ok(())
    }
    fn buffer(&mut self, key: &str, dims: &[usize], value: f32) -> Result<()> {
        let t = (Tensor::ones(dims, DType::F32, &Device::Cpu)? * value as f64)?;
        self.buffers.insert(key.to_string(), t);
        Ok(())
    }
    /// Convolution (He normal, fan-in, ReLU gain) followed by its frozen-statistics batch norm.
    fn conv_bn(
        &mut self,
        conv: &str,
        bn: &str,
        cin: usize,
        cout: usize,
        k: usize,
        gamma: f32,
    ) -> Result<()> {
        let fan_in = (cin * k * k) as f64;
        self.normal(
            &format!("{conv}.weight"),
            &[cout, cin, k, k],
            (2.0 / fan_in).sqrt(),
        )?;
        self.constant(&format!("{bn}.weight"), &[cout], gamma)?;
        self.constant(&format!("{bn}.bias"), &[cout], 0.0)?;
        self.buffer(&format!("{bn}.running_mean"), &[cout], 0.0)?;
        self.buffer(&format!("{bn}.running_var"), &[cout], 1.0)?;
        Ok(())
    }
    fn linear(&mut self, prefix: &str, cin: usize, cout: usize, std: f64) -> Result<()> {
        self.normal(&format!("{prefix}.weight"), &[cout, cin], std)?;
        self.constant(&format!("{prefix}.bias"), &[cout], 0.0)
    }
    fn layer_norm(&mut self, prefix: &str, dim: usize) -> Result<()> {
        self.constant(&format!("{prefix}.weight"), &[dim], 1.0)?;
        self.constant(&format!("{prefix}.bias"), &[dim], 0.0)
    }
}

/// A freshly initialised model of `shape`, deterministic in `seed`. `logit_scale` starts at ln(1/0.07) as in CLIP.
pub fn init_state_dict(shape: &ModelShape, seed: u64) -> Result<ModelState> {
    shape
        .validate()
        .map_err(|e| crate::error::TrainError::Config(e.to_string()))?;
    let mut b = Builder {
        seed,
        params: BTreeMap::new(),
        buffers: BTreeMap::new(),
    };
    let w = shape.width;
    // Stem.
    b.conv_bn("visual.conv1", "visual.bn1", 3, w / 2, 3, 1.0)?;
    b.conv_bn("visual.conv2", "visual.bn2", w / 2, w / 2, 3, 1.0)?;
    b.conv_bn("visual.conv3", "visual.bn3", w / 2, w, 3, 1.0)?;
    // Bottleneck stages (expansion 4; the first block of stages 2–4 has stride 2 and a downsample).
    let mut inplanes = w;
    for (s, &count) in shape.layers.iter().enumerate() {
        let planes = w << s;
        for i in 0..count {
            let p = format!("visual.layer{}.{i}", s + 1);
            b.conv_bn(
                &format!("{p}.conv1"),
                &format!("{p}.bn1"),
                inplanes,
                planes,
                1,
                1.0,
            )?;
            b.conv_bn(
                &format!("{p}.conv2"),
                &format!("{p}.bn2"),
                planes,
                planes,
                3,
                1.0,
            )?;
            b.conv_bn(
                &format!("{p}.conv3"),
                &format!("{p}.bn3"),
                planes,
                planes * 4,
                1,
                0.0,
            )?;
            let stride = if s > 0 && i == 0 { 2 } else { 1 };
            if stride > 1 || inplanes != planes * 4 {
                // A plain linear shortcut (gain 1, not ReLU's 2): it feeds a sum, not a ReLU's input only.
                let key = format!("{p}.downsample.0.weight");
                b.normal(
                    &key,
                    &[planes * 4, inplanes, 1, 1],
                    (1.0 / inplanes as f64).sqrt(),
                )?;
                b.constant(&format!("{p}.downsample.1.weight"), &[planes * 4], 1.0)?;
                b.constant(&format!("{p}.downsample.1.bias"), &[planes * 4], 0.0)?;
                b.buffer(
                    &format!("{p}.downsample.1.running_mean"),
                    &[planes * 4],
                    0.0,
                )?;
                b.buffer(&format!("{p}.downsample.1.running_var"), &[planes * 4], 1.0)?;
            }
            inplanes = planes * 4;
        }
    }
    // Attention pool: open_clip's std = feat^-0.5 for q/k/v/c and the positional embedding.
    let feat = w * 32;
    let grid = shape.image_size / 32;
    let std = (feat as f64).powf(-0.5);
    b.normal(
        "visual.attnpool.positional_embedding",
        &[grid * grid + 1, feat],
        std,
    )?;
    for name in ["q_proj", "k_proj", "v_proj"] {
        b.linear(&format!("visual.attnpool.{name}"), feat, feat, std)?;
    }
    b.linear("visual.attnpool.c_proj", feat, shape.embed_dim, std)?;
    // Text tower: open_clip's `init_parameters`.
    let tw = shape.text_width;
    let ctx = shape.context_length;
    b.normal("token_embedding.weight", &[shape.vocab_size, tw], 0.02)?;
    b.normal("positional_embedding", &[ctx, tw], 0.01)?;
    let attn_std = (tw as f64).powf(-0.5);
    let proj_std = attn_std * ((2 * shape.text_layers) as f64).powf(-0.5);
    let fc_std = ((2 * tw) as f64).powf(-0.5);
    for i in 0..shape.text_layers {
        let p = format!("transformer.resblocks.{i}");
        b.layer_norm(&format!("{p}.ln_1"), tw)?;
        b.normal(&format!("{p}.attn.in_proj_weight"), &[3 * tw, tw], attn_std)?;
        b.constant(&format!("{p}.attn.in_proj_bias"), &[3 * tw], 0.0)?;
        b.linear(&format!("{p}.attn.out_proj"), tw, tw, proj_std)?;
        b.layer_norm(&format!("{p}.ln_2"), tw)?;
        b.linear(&format!("{p}.mlp.c_fc"), tw, 4 * tw, fc_std)?;
        b.linear(&format!("{p}.mlp.c_proj"), 4 * tw, tw, proj_std)?;
    }
    b.layer_norm("ln_final", tw)?;
    b.normal("text_projection", &[tw, shape.embed_dim], attn_std)?;
    let ls = Tensor::new((1.0f32 / 0.07).ln(), &Device::Cpu)?;
    b.params
        .insert("logit_scale".into(), Var::from_tensor(&ls)?);
    Ok(ModelState {
        params: b.params,
        buffers: b.buffers,
    })
}

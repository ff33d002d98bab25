//! The training loop's single step and the trainer's state (model, optimizer, position in the data stream).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use candle_core::{DType, Tensor};
use clipneurons_checkpoint::StoreDtype;
use clipneurons_model::Clip;

use crate::config::TrainConfig;
use crate::data::{Batch, Prefetcher};
use crate::error::{Result, TrainError};
use crate::init::{init_state_dict, ModelState};
use crate::loss::{contrastive_loss, soft_targets, MAX_LOGIT_SCALE};
use crate::optim::{AdamW, Hyper};

/// What one step did, with where its time went.
#[derive(Clone, Debug)]
pub struct StepStats {
    /// 0-based index of the step just taken.
    pub step: u64,
    pub loss: f32,
    pub accuracy: f32,
    pub lr: f64,
    /// `exp(logit_scale)` after the update.
    pub temperature_scale: f32,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Time the step waited for its batch (rendering that the background thread did not hide).
    pub data_wait: Duration,
    /// Time rendering took on the background thread (overlapped with compute).
    pub render: Duration,
    /// Model build (batch-norm folding) + both towers + loss.
    pub forward: Duration,
    pub backward: Duration,
    pub optimizer: Duration,
}

pub struct Trainer {
    pub cfg: TrainConfig,
    pub state: ModelState,
    pub opt: AdamW,
    /// The next step to run (= steps completed).
    pub step: u64,
    /// Wall time spent in `train_step` so far, across resumes; `None` when resumed from a checkpoint that did not
    /// record it.
    pub train_time: Option<Duration>,
    prefetch: Option<Prefetcher>,
}

impl Trainer {
    /// A fresh run: parameters initialised from `cfg.seed`.
    pub fn new(cfg: TrainConfig) -> Result<Self> {
        cfg.validate()?;
        let state = init_state_dict(&cfg.model, cfg.seed)?;
        let opt = AdamW::new(&state.params)?;
        Ok(Self {
            cfg,
            state,
            opt,
            step: 0,
            train_time: Some(Duration::ZERO),
            prefetch: None,
        })
    }

    /// A run that starts from trained weights (`weights`, open_clip keys) instead of a random initialisation, with
    /// a fresh optimizer and its own schedule: how a longer recipe continues an earlier run. Every parameter and
    /// buffer of `cfg.model` must be present with its shape; extra keys are refused too, since they mean the
    /// weights belong to another shape.
    pub fn warm_start(cfg: TrainConfig, weights: &BTreeMap<String, Tensor>) -> Result<Self> {
        let mut t = Self::new(cfg)?;
        let bad =
            |why: String| TrainError::Config(format!("--init weights do not fit the model: {why}"));
        let fetch = |k: &str, dims: &[usize]| -> Result<Tensor> {
            let w = weights
                .get(k)
                .ok_or_else(|| bad(format!("missing `{k}`")))?;
            if w.dims() != dims {
                return Err(bad(format!(
                    "`{k}` is {:?}, the model needs {dims:?}",
                    w.dims()
                )));
            }
            Ok(w.to_dtype(DType::F32)?)
        };
        for (k, var) in &t.state.params {
            var.set(&fetch(k, var.dims())?)?;
        }
        for (k, b) in t.state.buffers.iter_mut() {
            *b = fetch(k, b.dims())?;
        }
        let expected = t.state.params.len() + t.state.buffers.len();
        if weights.len() != expected {
            let extra: Vec<&String> = weights
                .keys()
                .filter(|k| !t.state.params.contains_key(*k) && !t.state.buffers.contains_key(*k))
                .take(3)
                .collect();
            return Err(bad(format!(
                "unexpected tensors such as {extra:?} (another model shape?)"
            )));
        }
        Ok(t)
    }

    /// Assemble a trainer from restored parts (used by checkpoint loading).
    pub(crate) fn from_parts(cfg: TrainConfig, state: ModelState, opt: AdamW, step: u64) -> Self {
        Self {
            cfg,
            state,
            opt,
            step,
            train_time: Some(Duration::ZERO),
            prefetch: None,
        }
    }

    pub fn done(&self) -> bool {
        self.step >= self.cfg.steps
    }

    /// The current model for inference (detached from the autograd graph).
    pub fn model(&self) -> Result<Clip> {
        Ok(Clip::from_state_dict(&self.state.detached_state_dict())?)
    }

    /// Run the next step on a prefetched batch. Starts the background renderer on first use.
    pub fn train_step(&mut self) -> Result<StepStats> {
        if self.done() {
            return Err(TrainError::Config(format!(
                "all {} steps are done",
                self.cfg.steps
            )));
        }
        if self.prefetch.is_none() {
            self.prefetch = Some(Prefetcher::start(self.cfg.clone(), self.step, 2));
        }
        let t0 = Instant::now();
        let batch = self.prefetch.as_ref().expect("started").next()?;
        let wait = t0.elapsed();
        if batch.step != self.step {
            return Err(TrainError::DataThread);
        }
        let mut stats = self.step_on(&batch)?;
        stats.data_wait = wait;
        if let Some(t) = &mut self.train_time {
            *t += t0.elapsed();
        }
        Ok(stats)
    }

    /// One optimisation step on `batch` (which should be the batch of `self.step` for reproducible runs).
    pub fn step_on(&mut self, batch: &Batch) -> Result<StepStats> {
        let t0 = Instant::now();
        let sd = self.state.state_dict();
        let model = Clip::from_state_dict(&sd)?;
        let image = model.encode_image(&batch.pixels)?;
        let text = model.encode_text(&batch.tokens)?;
        let targets = soft_targets(&batch.captions)?;
        let out = contrastive_loss(&image, &text, &self.state.params["logit_scale"], &targets)?;
        let loss = out.loss.to_scalar::<f32>()?;
        if !loss.is_finite() {
            return Err(TrainError::Diverged {
                step: self.step,
                loss,
            });
        }
        let t1 = Instant::now();
        let grads = out.loss.backward()?;
        drop(model);
        let t2 = Instant::now();
        let lr = self.cfg.lr_at(self.step);
        let h = Hyper {
            lr,
            beta1: self.cfg.beta1,
            beta2: self.cfg.beta2,
            eps: self.cfg.eps,
            weight_decay: self.cfg.weight_decay,
            grad_clip: self.cfg.grad_clip,
        };
        let grad_norm = self
            .opt
            .step(&self.state.params, &grads, &h, ModelState::decays)?;
        // CLIP clamps the temperature so the logits cannot grow without bound.
        let ls = &self.state.params["logit_scale"];
        let v = ls.as_tensor().to_scalar::<f32>()?.min(MAX_LOGIT_SCALE);
        ls.set(&candle_core::Tensor::new(v, &candle_core::Device::Cpu)?)?;
        let t3 = Instant::now();
        let stats = StepStats {
            step: self.step,
            loss,
            accuracy: out.accuracy,
            lr,
            temperature_scale: v.exp(),
            grad_norm,
            data_wait: Duration::ZERO,
            render: batch.render_time,
            forward: t1 - t0,
            backward: t2 - t1,
            optimizer: t3 - t2,
        };
        self.step += 1;
        Ok(stats)
    }

    /// The weights in open_clip key layout, loadable by `clipneurons --model`, with the run described in the
    /// header metadata (`name`, `recipe`, `steps`, `world`, `train_minutes`) so a model file says how it was made.
    pub fn export(&self, path: &Path, dtype: StoreDtype) -> Result<()> {
        let m = &self.cfg.model;
        let mut metadata = BTreeMap::from([
            (
                "name".to_string(),
                format!(
                    "clipneurons-world-rn{}-w{}-{}px-s{}",
                    m.layers.map(|l| l.to_string()).concat(),
                    m.width,
                    m.image_size,
                    self.step
                ),
            ),
            (
                "recipe".to_string(),
                serde_json::to_string(&self.cfg).expect("serialisable"),
            ),
            ("steps".to_string(), self.step.to_string()),
            ("world".to_string(), clipneurons_world::stream_description()),
            (
                "trainer".to_string(),
                format!("clipneurons {}", env!("CARGO_PKG_VERSION")),
            ),
        ]);
        if let Some(t) = self.train_time {
            metadata.insert(
                "train_minutes".to_string(),
                format!("{:.1}", t.as_secs_f64() / 60.0),
            );
        }
        clipneurons_checkpoint::save_safetensors_with(
            &self.state.detached_state_dict(),
            path,
            dtype,
            &metadata,
        )
        .map_err(|e| TrainError::Write {
            path: path.to_path_buf(),
            why: e.to_string(),
        })
    }
}

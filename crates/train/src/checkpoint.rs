//! Training checkpoints: parameters, frozen buffers, AdamW moments, the step and the run's configuration, in one
//! safetensors file written atomically (temporary file + rename), so an interruption at any moment leaves the
//! previous checkpoint intact. The data stream needs no saved RNG state: batches are a pure function of
//! (seed, step) (see [`crate::data`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::init::init_state_dict;
use crate::optim::AdamW;
use crate::trainer::Trainer;

const FORMAT: &str = "clipneurons-train-checkpoint";
const VERSION: u32 = 1;
/// The file inside a checkpoint directory.
pub const FILE: &str = "checkpoint.safetensors";

#[derive(Serialize, Deserialize)]
struct Meta {
    format: String,
    version: u32,
    step: u64,
    adam_t: u64,
    config: TrainConfig,
    /// Wall time spent in training steps so far; absent in checkpoints of early versions.
    #[serde(default)]
    train_seconds: Option<f64>,
}

pub fn checkpoint_file(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

impl Trainer {
    /// Write the checkpoint into directory `dir` (created if needed).
    pub fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        let werr = |p: &Path, e: &dyn std::fmt::Display| TrainError::Write {
            path: p.to_path_buf(),
            why: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| werr(dir, &e))?;
        let mut map: HashMap<String, Tensor> = HashMap::new();
        for (k, v) in &self.state.params {
            map.insert(format!("param.{k}"), v.as_tensor().detach());
        }
        for (k, t) in &self.state.buffers {
            map.insert(format!("buffer.{k}"), t.clone());
        }
        for (k, var) in &self.state.params {
            let dims = var.dims();
            map.insert(
                format!("adam_m.{k}"),
                Tensor::from_slice(&self.opt.m[k], dims, &Device::Cpu)?,
            );
            map.insert(
                format!("adam_v.{k}"),
                Tensor::from_slice(&self.opt.v[k], dims, &Device::Cpu)?,
            );
        }
        let meta = Meta {
            format: FORMAT.into(),
            version: VERSION,
            step: self.step,
            adam_t: self.opt.t,
            config: self.cfg.clone(),
            train_seconds: self.train_time.map(|d| d.as_secs_f64()),
        };
        let json = serde_json::to_vec(&meta).expect("serialisable");
        let n = json.len();
        map.insert("meta".into(), Tensor::from_vec(json, n, &Device::Cpu)?);
        let path = checkpoint_file(dir);
        let tmp = dir.join(format!("{FILE}.tmp"));
        candle_core::safetensors::save(&map, &tmp).map_err(|e| werr(&tmp, &e))?;
        std::fs::rename(&tmp, &path).map_err(|e| werr(&path, &e))?;
        Ok(())
    }

    /// Restore a trainer from the checkpoint in `dir`. Every tensor is checked against the stored configuration,
    /// so a truncated, foreign or mismatched file is rejected with its path rather than half-loaded.
    pub fn load_checkpoint(dir: &Path) -> Result<Trainer> {
        let path = checkpoint_file(dir);
        let corrupt = |why: String| TrainError::CorruptCheckpoint {
            path: path.clone(),
            why,
        };
        if !path.exists() {
            return Err(corrupt("no such file".into()));
        }
        let mut map = candle_core::safetensors::load(&path, &Device::Cpu)
            .map_err(|e| corrupt(e.to_string()))?;
        let meta = map.remove("meta").ok_or_else(|| {
            corrupt("no `meta` entry: not a clipneurons training checkpoint".into())
        })?;
        let bytes = meta.to_vec1::<u8>().map_err(|e| corrupt(e.to_string()))?;
        let meta: Meta =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("bad metadata: {e}")))?;
        if meta.format != FORMAT || meta.version != VERSION {
            return Err(corrupt(format!(
                "format {} v{}, expected {FORMAT} v{VERSION}",
                meta.format, meta.version
            )));
        }
        meta.config.validate().map_err(|e| corrupt(e.to_string()))?;
        let mut take = |key: String, like: &Tensor| -> Result<Tensor> {
            let t = map
                .remove(&key)
                .ok_or_else(|| corrupt(format!("missing tensor `{key}`")))?;
            if t.dims() != like.dims() || t.dtype() != like.dtype() {
                return Err(corrupt(format!(
                    "`{key}` is {:?} {:?}, expected {:?} {:?}",
                    t.dtype(),
                    t.dims(),
                    like.dtype(),
                    like.dims()
                )));
            }
            Ok(t)
        };
        // The initial state gives the expected keys and shapes; its values are then overwritten.
        let mut state = init_state_dict(&meta.config.model, meta.config.seed)?;
        let mut opt = AdamW::new(&state.params)?;
        for (k, var) in &state.params {
            let like = var.as_tensor().detach();
            var.set(&take(format!("param.{k}"), &like)?)?;
            let m = take(format!("adam_m.{k}"), &like)?;
            let v = take(format!("adam_v.{k}"), &like)?;
            opt.m.insert(k.clone(), m.flatten_all()?.to_vec1::<f32>()?);
            opt.v.insert(k.clone(), v.flatten_all()?.to_vec1::<f32>()?);
        }
        let keys: Vec<String> = state.buffers.keys().cloned().collect();
        for k in keys {
            let like = state.buffers[&k].clone();
            let t = take(format!("buffer.{k}"), &like)?;
            state.buffers.insert(k, t);
        }
        if let Some(extra) = map.keys().next() {
            return Err(corrupt(format!("unexpected tensor `{extra}`")));
        }
        for (k, var) in &state.params {
            let finite = var
                .as_tensor()
                .flatten_all()?
                .to_vec1::<f32>()?
                .iter()
                .all(|x| x.is_finite());
            if !finite {
                return Err(corrupt(format!("`{k}` holds non-finite values")));
            }
        }
        if meta.step > meta.config.steps {
            return Err(corrupt(format!(
                "step {} is past the run's {} steps",
                meta.step, meta.config.steps
            )));
        }
        opt.t = meta.adam_t;
        let mut trainer = Trainer::from_parts(meta.config, state, opt, meta.step);
        trainer.train_time = meta
            .train_seconds
            .map(|s| std::time::Duration::from_secs_f64(s.max(0.0)));
        Ok(trainer)
    }
}

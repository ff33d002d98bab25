//! Training batches rendered on the fly. Sample `i` of step `s` is world train sample `s·B + i` for the run's seed
//! (a pure function), so a resumed run sees exactly the data an uninterrupted one would, with no RNG state to save.
//! A background thread renders the next batches while the current step computes.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use clipneurons_tokenizer::Tokenizer;
use clipneurons_world::{Split, World};
use rayon::prelude::*;

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};

pub struct Batch {
    pub step: u64,
    /// `[B, 3, S, S]`, OpenAI mean/std normalised — exactly what `clipneurons_image::preprocess` gives inference.
    pub pixels: Tensor,
    /// `[B, context]` u32.
    pub tokens: Tensor,
    pub captions: Vec<String>,
    /// Wall time spent rendering this batch (on the background thread).
    pub render_time: Duration,
}

/// World sample index of item `i` of `step`.
pub fn sample_index(cfg: &TrainConfig, step: u64, i: usize) -> u64 {
    let idx = step * cfg.batch as u64 + i as u64;
    match cfg.data_pool {
        Some(p) if p > 0 => idx % p,
        _ => idx,
    }
}

pub fn render_batch(world: &World, tok: &Tokenizer, cfg: &TrainConfig, step: u64) -> Result<Batch> {
    let t0 = Instant::now();
    let s = cfg.model.image_size;
    let items: Vec<(Vec<f32>, String)> = (0..cfg.batch)
        .into_par_iter()
        .map(|i| {
            let sample = world.sample(Split::Train, sample_index(cfg, step, i), cfg.seed);
            // The same transform inference applies to a saved PNG (a no-op resize at this size, then mean/std).
            let img = image::DynamicImage::ImageRgb8(sample.image);
            (clipneurons_image::preprocess(&img, s), sample.caption)
        })
        .collect();
    let mut pixels = Vec::with_capacity(cfg.batch * 3 * s * s);
    let mut captions = Vec::with_capacity(cfg.batch);
    for (p, c) in items {
        pixels.extend_from_slice(&p);
        captions.push(c);
    }
    let refs: Vec<&str> = captions.iter().map(String::as_str).collect();
    let ctx = cfg.model.context_length;
    let ids: Vec<u32> = tok
        .tokenize_batch(&refs, ctx)
        .into_iter()
        .flatten()
        .collect();
    Ok(Batch {
        step,
        pixels: Tensor::from_vec(pixels, (cfg.batch, 3, s, s), &Device::Cpu)?,
        tokens: Tensor::from_vec(ids, (cfg.batch, ctx), &Device::Cpu)?,
        captions,
        render_time: t0.elapsed(),
    })
}

/// Renders batches `start, start+1, …` ahead of use on its own thread; `depth` batches may wait in the queue.
pub struct Prefetcher {
    rx: Option<Receiver<Result<Batch>>>,
    handle: Option<JoinHandle<()>>,
}

impl Prefetcher {
    pub fn start(cfg: TrainConfig, start: u64, depth: usize) -> Self {
        let (tx, rx) = sync_channel(depth.max(1));
        let handle = std::thread::spawn(move || {
            let world = Arc::new(World::with_size(cfg.model.image_size as u32));
            let tok = Tokenizer::new();
            for step in start..cfg.steps {
                let b = render_batch(&world, &tok, &cfg, step);
                if tx.send(b).is_err() {
                    return; // the trainer was dropped
                }
            }
        });
        Self {
            rx: Some(rx),
            handle: Some(handle),
        }
    }

    pub fn next(&self) -> Result<Batch> {
        self.rx
            .as_ref()
            .ok_or(TrainError::DataThread)?
            .recv()
            .map_err(|_| TrainError::DataThread)?
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        // Dropping the receiver makes the thread's next send fail, so it exits after at most one batch.
        self.rx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

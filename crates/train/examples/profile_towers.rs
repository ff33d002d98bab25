//! Where a training step's compute goes, at the default shape and batch (`PX`, `WIDTH`, `BATCH` override them):
//! forward + backward of each tower alone, and one whole optimisation step (model build, both towers, loss,
//! backward, AdamW). Prints one JSON line of best-of-`REPS` milliseconds; `bash bench/train_step.sh` runs it
//! beside the same step in PyTorch.
//! `PX=96 WIDTH=16 BATCH=128 REPS=3 cargo run --release -p clipneurons-train --example profile_towers`
use clipneurons_model::Clip;
use clipneurons_tokenizer::Tokenizer;
use clipneurons_train::data::render_batch;
use clipneurons_train::{TrainConfig, Trainer};
use clipneurons_world::World;
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    clipneurons_kernels::tune_allocator();
    let mut cfg = TrainConfig::default();
    cfg.model.image_size = env("PX", 96);
    cfg.model.width = env("WIDTH", cfg.model.width);
    cfg.batch = env("BATCH", cfg.batch);
    let reps = env("REPS", 3);
    let mut tr = Trainer::new(cfg).unwrap();
    let world = World::with_size(tr.cfg.model.image_size as u32);
    let b = render_batch(&world, &Tokenizer::new(), &tr.cfg, 0).unwrap();
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let (mut image, mut text, mut step) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..reps + 1 {
        let sd = tr.state.state_dict();
        let m = Clip::from_state_dict(&sd).unwrap();
        let t = Instant::now();
        let g = m
            .encode_image(&b.pixels)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        image = image.min(ms(t));
        drop(g);
        let t = Instant::now();
        let g = m
            .encode_text(&b.tokens)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        text = text.min(ms(t));
        drop(g);
        let t = Instant::now();
        tr.step_on(&b).unwrap();
        step = step.min(ms(t));
    }
    println!(
        "{{\"px\": {}, \"batch\": {}, \"image_fwd_bwd_ms\": {image:.1}, \"text_fwd_bwd_ms\": {text:.1}, \"step_ms\": {step:.1}}}",
        tr.cfg.model.image_size, tr.cfg.batch
    );
}

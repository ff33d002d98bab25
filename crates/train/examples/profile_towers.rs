//! Where a training step's compute goes: forward and backward of each tower separately, batch 128 at the default
//! shape. `PX=96 cargo run --release -p clipneurons-train --example profile_towers`
use clipneurons_model::Clip;
use clipneurons_tokenizer::Tokenizer;
use clipneurons_train::data::render_batch;
use clipneurons_train::{TrainConfig, Trainer};
use clipneurons_world::World;
use std::time::Instant;
fn main() {
    let mut cfg = TrainConfig::default();
    cfg.model.image_size = std::env::var("PX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(96);
    let tr = Trainer::new(cfg).unwrap();
    let world = World::with_size(tr.cfg.model.image_size as u32);
    let b = render_batch(&world, &Tokenizer::new(), &tr.cfg, 0).unwrap();
    for _ in 0..2 {
        let sd = tr.state.state_dict();
        let t0 = Instant::now();
        let m = Clip::from_state_dict(&sd).unwrap();
        let i = m.encode_image(&b.pixels).unwrap();
        let t1 = Instant::now();
        let gi = i.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let t2 = Instant::now();
        let t = m.encode_text(&b.tokens).unwrap();
        let t3 = Instant::now();
        let gt = t.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let t4 = Instant::now();
        drop((gi, gt));
        println!(
            "image fwd {:?} bwd {:?} | text fwd {:?} bwd {:?}",
            t1 - t0,
            t2 - t1,
            t3 - t2,
            t4 - t3
        );
    }
}

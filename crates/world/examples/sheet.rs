//! Contact sheet and throughput: `cargo run --release -p clipneurons-world --example sheet -- OUT.png [SPLIT] [SEED]`.

use std::time::Instant;

use clipneurons_world::{Facet, Split, World};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "/tmp/world_sheet.png".into());
    let split: Split = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(Split::Train);
    let seed: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let world = World::new();
    let (cols, rows) = (8u32, 6u32);
    let n = world.concepts().len();
    let size = world.size();
    let mut sheet = image::RgbImage::new(cols * size, rows * size);
    for i in 0..cols * rows {
        let s = if split == Split::Attack {
            world.sample(split, i as u64, seed)
        } else {
            // Walk families and facets so the sheet shows everything.
            let c = (i as usize * 37 + seed as usize * 11) % n;
            world.sample_of(split, i as u64, seed, c, Facet::ALL[i as usize % 5])
        };
        let (x, y) = (i % cols * size, i / cols * size);
        for (px, py, p) in s.image.enumerate_pixels() {
            sheet.put_pixel(x + px, y + py, *p);
        }
        println!(
            "{i:2} {:8} {:10} {:22} {:?} | {}",
            s.facet.name(),
            s.family,
            s.style,
            s.font,
            s.caption
        );
    }
    if let Err(e) = sheet.save(&out) {
        eprintln!("cannot save {out}: {e}");
    }
    let t = Instant::now();
    let count = 3000u64;
    let mut bytes = 0usize;
    for i in 0..count {
        bytes += world.sample(Split::Train, i, seed).image.len();
    }
    let dt = t.elapsed().as_secs_f64();
    println!(
        "{:.0} images/s on one core ({size} px, {bytes} bytes)",
        count as f64 / dt
    );
}

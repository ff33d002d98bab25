//! Single-thread throughput of decode + preprocess, e.g.
//! `cargo run --release -p clipneurons-image --example throughput -- photo.jpg 288`.

use std::path::Path;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: throughput IMAGE [SIZE]");
    let size: usize = args.next().map_or(288, |s| s.parse().expect("SIZE"));
    let bytes = std::fs::read(&path).expect("read image");
    let label = Path::new(&path);

    // Per-call times; the minimum is the best estimate of the uncontended cost on a shared
    // machine, the median shows the typical one.
    let time = |name: &str, f: &mut dyn FnMut()| {
        f(); // warm-up
        let start = Instant::now();
        let mut times = Vec::new();
        while start.elapsed().as_secs_f64() < 2.0 {
            let t = Instant::now();
            f();
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let (min, median) = (times[0], times[times.len() / 2]);
        println!(
            "{name:<26} min {:>7.3} ms ({:>6.1}/s)   median {:>7.3} ms ({:>6.1}/s)",
            min * 1e3,
            1.0 / min,
            median * 1e3,
            1.0 / median
        );
    };

    let img = clipneurons_image::load_image_bytes(&bytes, label).expect("decode");
    println!("{path}: {}x{} -> {size}", img.width(), img.height());
    time("decode (this crate)", &mut || {
        clipneurons_image::load_image_bytes(&bytes, label).unwrap();
    });
    time("decode (image crate)", &mut || {
        image::load_from_memory(&bytes).unwrap();
    });
    time("resize+crop+normalise", &mut || {
        clipneurons_image::preprocess(&img, size);
    });
    time("total (preprocess_bytes)", &mut || {
        clipneurons_image::preprocess_bytes(&bytes, label, size).unwrap();
    });
}

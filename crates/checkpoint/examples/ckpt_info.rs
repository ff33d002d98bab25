//! Prints what `clipneurons_checkpoint::load` makes of a file; with a second file, also checks
//! that both hold the same keys and bitwise-identical f32 values.
//!
//! `cargo run -p clipneurons-checkpoint --example ckpt_info -- FILE [OTHER]`

use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.len() > 2 {
        eprintln!("usage: ckpt_info FILE [OTHER]");
        std::process::exit(2);
    }
    let t0 = std::time::Instant::now();
    let ck = match clipneurons_checkpoint::load(Path::new(&args[0])) {
        Ok(ck) => ck,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "{}: {} ({} tensors, loaded in {:.2?})",
        ck.path.display(),
        ck.format,
        ck.tensors.len(),
        t0.elapsed()
    );
    for (k, t) in &ck.tensors {
        println!("  {k} {:?} {}", t.dims(), ck.source_dtypes[k]);
    }
    println!("ignored: {:?}", ck.ignored);
    for w in &ck.warnings {
        println!("warning: {w}");
    }
    if let Some(other) = args.get(1) {
        let b = clipneurons_checkpoint::load(Path::new(other)).unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(1);
        });
        let ka: Vec<_> = ck.tensors.keys().collect();
        let kb: Vec<_> = b.tensors.keys().collect();
        if ka != kb {
            println!("KEY SETS DIFFER");
            for k in &ka {
                if !b.tensors.contains_key(*k) {
                    println!("  only in first: {k}");
                }
            }
            for k in &kb {
                if !ck.tensors.contains_key(*k) {
                    println!("  only in second: {k}");
                }
            }
            std::process::exit(1);
        }
        let mut bad = 0;
        for (k, ta) in &ck.tensors {
            let tb = &b.tensors[k];
            let va = ta
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .unwrap_or_default();
            let vb = tb
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .unwrap_or_default();
            let same = ta.dims() == tb.dims()
                && va.len() == vb.len()
                && va.iter().zip(&vb).all(|(x, y)| x.to_bits() == y.to_bits());
            if !same {
                bad += 1;
                println!("  DIFFERENT: {k} {:?} vs {:?}", ta.dims(), tb.dims());
            }
        }
        println!("compared {} tensors: {bad} differ", ka.len());
        if bad > 0 {
            std::process::exit(1);
        }
    }
}

//! `clipneurons world sample`: write samples of the built-in world as PNGs and a `captions.jsonl` index.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use clipneurons_world::{Split, World};
use rayon::prelude::*;
use serde_json::json;

use crate::args::WorldCommand;

pub fn run(cmd: WorldCommand) -> Result<()> {
    match cmd {
        WorldCommand::Sample {
            split,
            n,
            seed,
            out,
            size,
        } => sample(&split, n, seed, &out, size),
    }
}

/// Write `bytes` to `path` through a temporary file and a rename, so a reader never sees half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}

fn sample(split: &str, n: u64, seed: u64, out: &Path, size: u32) -> Result<()> {
    let split: Split = split.parse().map_err(|e: String| anyhow!(e))?;
    if !(16..=1024).contains(&size) {
        return Err(anyhow!(
            "--size must be between 16 and 1024 pixels, got {size}"
        ));
    }
    fs::create_dir_all(out)
        .with_context(|| format!("cannot create output directory {}", out.display()))?;
    // Probe writability up front so an unwritable directory fails with one line before any work.
    let probe = out.join(".clipneurons-write-test");
    fs::write(&probe, b"")
        .with_context(|| format!("output directory {} is not writable", out.display()))?;
    let _ = fs::remove_file(&probe);
    let world = World::with_size(size);
    let names: Vec<&str> = world.concepts().iter().map(|c| c.name.as_str()).collect();
    let width = n.saturating_sub(1).to_string().len().max(5);
    let lines: Vec<String> = (0..n)
        .into_par_iter()
        .map(|i| -> Result<String> {
            let s = world.sample(split, i, seed);
            let file = format!("{}_{i:0width$}.png", split.name());
            let mut png = Vec::new();
            s.image
                .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .context("PNG encoding failed")?;
            write_atomic(&out.join(&file), &png)?;
            let mut rec = json!({
                "file": file,
                "caption": s.caption,
                "concepts": s.concepts,
                "concept_names": s.concepts.iter().map(|&c| names[c]).collect::<Vec<_>>(),
                "family": s.family,
                "facet": s.facet.name(),
                "words": s.words,
                "font": s.font,
                "style": s.style,
            });
            if let (Some(t), Some(w)) = (s.true_concept, &s.attack_word) {
                rec["true_concept"] = json!(t);
                rec["true_concept_name"] = json!(names[t]);
                rec["attack_word"] = json!(w);
            }
            Ok(rec.to_string())
        })
        .collect::<Result<_>>()?;
    let mut jsonl = Vec::new();
    for l in &lines {
        writeln!(jsonl, "{l}")?;
    }
    write_atomic(&out.join("captions.jsonl"), &jsonl)?;
    eprintln!(
        "wrote {n} {} samples ({size} px) and captions.jsonl to {}",
        split.name(),
        out.display()
    );
    Ok(())
}

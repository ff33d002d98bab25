//! `clipneurons world sample`: write samples of the built-in world as PNGs and a `captions.jsonl` /
//! `captions.parquet` index.
//! `clipneurons world eval`: score a model against the world's ground truth.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use clipneurons_world::{Split, World};
use rayon::prelude::*;
use serde_json::json;

use clipneurons_train::eval::{evaluate, Accuracy, EvalOptions};

use crate::args::{ModelArg, WorldCommand};
use crate::io::load_model;

pub fn run(cmd: WorldCommand) -> Result<()> {
    match cmd {
        WorldCommand::Sample {
            split,
            n,
            seed,
            out,
            size,
        } => sample(&split, n, seed, &out, size),
        WorldCommand::Eval {
            model,
            per_concept,
            attack_images,
            seed,
            template,
            json,
            out,
        } => {
            let opts = EvalOptions {
                per_concept_facet: per_concept,
                attack_images,
                seed,
                template,
                ..EvalOptions::default()
            };
            eval(&model, &opts, json, out.as_deref())
        }
    }
}

fn eval(model: &ModelArg, opts: &EvalOptions, json: bool, out: Option<&Path>) -> Result<()> {
    if !opts.template.contains("{}") {
        bail!("--template must contain {{}} where the concept name goes, e.g. \"a photo of {{}}\"");
    }
    if let Some(out) = out {
        // Fail before minutes of work, not after.
        check_writable_file(out)?;
    }
    let m = load_model(model)?;
    let t0 = std::time::Instant::now();
    let report = evaluate(&m, opts, |stage| {
        eprintln!("[{:>5.1}s] {stage}", t0.elapsed().as_secs_f64())
    })?;
    let text = serde_json::to_string_pretty(&report)?;
    if let Some(out) = out {
        write_atomic(out, text.as_bytes())?;
    }
    if json {
        println!("{text}");
        return Ok(());
    }
    let pct = |a: &Accuracy| format!("{:5.1}% ({}/{})", a.top1 * 100.0, a.correct, a.total);
    println!(
        "model {} — {} concepts, {} images, prompt \"{}\"",
        model.label(),
        report.concepts,
        report.images,
        report.template
    );
    println!("zero-shot top-1 by facet:");
    for (f, a) in &report.facets {
        println!("  {f:<22} {}", pct(a));
    }
    println!("  {:<22} {}", "word: own name", pct(&report.word_name));
    println!(
        "  {:<22} {}",
        "word: own name, top-5",
        pct(&report.word_name_top5)
    );
    println!(
        "  {:<22} {}",
        "word: associated word",
        pct(&report.word_associated)
    );
    println!(
        "  {:<22} {}",
        "held-out font: name",
        pct(&report.held_out_font_name)
    );
    println!(
        "  {:<22} {}",
        "held-out font: all",
        pct(&report.held_out_font)
    );
    println!(
        "  {:<22} {}",
        "held-out drawing style",
        pct(&report.held_out_drawing)
    );
    println!("zero-shot top-1 by family (4 facets):");
    for (f, a) in &report.families {
        println!("  {f:<22} {}", pct(a));
    }
    let a = &report.attack;
    println!(
        "typographic attack: the written word wins {:.1}% ({}/{}), the object {:.1}%",
        a.word_win_rate * 100.0,
        a.word_wins,
        a.images,
        a.object_rate * 100.0
    );
    if report.multimodality.is_none() {
        println!("multimodal neurons: not measured (needs a ResNet image tower)");
    }
    let measures = [
        (&report.multimodality, "neuron with the highest mean"),
        (
            &report.multimodality_standardised,
            "neuron with the highest standardised mean",
        ),
    ];
    for (mm, how) in measures {
        if let Some(mm) = mm {
            println!(
                "multimodal neurons ({}, {how}): {} of {} concepts ({:.1}%) have a neuron that ranks them first \
                 in ≥3 of 4 facets; {} distinct neurons; {} concepts have some neuron that does",
                mm.layer,
                mm.multimodal,
                mm.concepts,
                mm.share * 100.0,
                mm.distinct_neurons,
                mm.with_some_multimodal_neuron
            );
        }
    }
    Ok(())
}

/// Probe that `path`'s folder exists and accepts a file, so an unwritable `--out` fails first.
fn check_writable_file(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        bail!(
            "cannot write {}: folder {} does not exist",
            path.display(),
            dir.display()
        );
    }
    let probe = dir.join(".clipneurons-write-test");
    fs::write(&probe, b"").with_context(|| {
        format!(
            "cannot write {}: folder {} is not writable",
            path.display(),
            dir.display()
        )
    })?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// Write `bytes` to `path` atomically, so a reader never sees half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(clipneurons_checkpoint::write_atomic(path, bytes)?)
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
    // The same index as Parquet, one text column per field (lists joined with "; ").
    let recs: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("written above"))
        .collect();
    let text = |v: &serde_json::Value| -> Option<String> {
        match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(a) => Some(
                a.iter()
                    .map(|x| x.as_str().map_or(x.to_string(), String::from))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => Some(other.to_string()),
        }
    };
    let fields = [
        "file",
        "caption",
        "concept_names",
        "family",
        "facet",
        "words",
        "font",
        "style",
        "true_concept_name",
        "attack_word",
    ];
    let columns = fields
        .iter()
        .map(|f| (*f, recs.iter().map(|r| text(&r[*f])).collect()))
        .collect();
    clipneurons_neurons::tables::write_text_table(&out.join("captions.parquet"), columns)?;
    eprintln!(
        "wrote {n} {} samples ({size} px), captions.jsonl and captions.parquet to {}",
        split.name(),
        out.display()
    );
    Ok(())
}

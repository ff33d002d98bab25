//! `clipneurons mine`, `merge` and `examples`: per-neuron statistics of one layer over many images, kept in a
//! resumable run directory, and the dataset examples of one neuron read back from it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clipneurons_neurons::mine::{
    layer_geometry, load_state, merge_states, mine, save_state, Inputs, Manifest, MineOptions,
    RunKey, RunState, Skipped, Source, RUN_FORMAT,
};
use clipneurons_neurons::stats::LayerStats;
use clipneurons_neurons::tables::write_tables;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::args::{MineArgs, ModelArg};
use crate::io::load_model;

/// SHA-256 of the model's weights file (the built-in model's compiled-in bytes).
pub fn model_sha256(model: &ModelArg) -> Result<String> {
    Ok(match &model.model {
        Some(p) => clipneurons_checkpoint::file_sha256(p)?,
        None => clipneurons_builtin::sha256(),
    })
}

pub fn run_mine(a: MineArgs) -> Result<()> {
    let m = load_model(&a.model)?;
    let layer = a.layer.clone().unwrap_or_else(|| m.neuron_layer());
    let (channels, positions, grid) = layer_geometry(&m, &layer)?;
    let given = [
        a.world.is_some(),
        !a.images.is_empty(),
        !a.shards.is_empty(),
    ];
    let sources = match given {
        [true, false, false] => vec![Source::World {
            split: a.world.clone().expect("given"),
            n: a.n,
            seed: a.seed,
        }],
        [false, true, false] => vec![Source::Files(a.images.clone())],
        [false, false, true] => vec![Source::Shards(a.shards.clone())],
        [false, false, false] => {
            bail!("nothing to mine: give --images DIR|FILE|GLOB..., --shards TAR... or --world SPLIT --n N")
        }
        _ => bail!("give only one of --images, --shards and --world"),
    };
    let inputs = Inputs::from_sources(&sources, m.image_size())?;
    let key = RunKey {
        format: RUN_FORMAT,
        model: a.model.label(),
        model_sha256: model_sha256(&a.model)?,
        layer,
        channels,
        positions,
        grid,
        top_k: a.top_k,
    };
    let dir = &a.out;
    let exists = dir.join("state.json").exists();
    let mut state = match (exists, a.resume) {
        (true, false) => bail!(
            "{} already holds a mining run; pass --resume to continue it, or choose another --out",
            dir.display()
        ),
        (false, true) => bail!("nothing to resume in {} (no state.json)", dir.display()),
        (true, true) => {
            let s = load_state(dir)?;
            if s.manifest.key != key {
                bail!(
                    "{} was mined with {} / {} (top-k {}); this command asks for {} / {} (top-k {}) — use another --out",
                    dir.display(),
                    s.manifest.key.model,
                    s.manifest.key.layer,
                    s.manifest.key.top_k,
                    key.model,
                    key.layer,
                    key.top_k
                );
            }
            if s.manifest.sources != sources {
                bail!(
                    "{} was mined over other inputs; resume with the same --images/--world flags",
                    dir.display()
                );
            }
            eprintln!(
                "resuming at input {} of {}",
                s.manifest.consumed, s.manifest.total_inputs
            );
            s
        }
        (false, false) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let s = RunState {
                manifest: Manifest {
                    key,
                    sources,
                    consumed: 0,
                    total_inputs: inputs.len(),
                    images: 0,
                    // Damaged shards, indexed up to the damage: listed like unreadable files.
                    skipped: match &inputs {
                        Inputs::Shards(ix) => ix
                            .problems
                            .iter()
                            .map(|(source, reason)| Skipped {
                                source: source.clone(),
                                reason: reason.clone(),
                            })
                            .collect(),
                        _ => Vec::new(),
                    },
                    complete: false,
                    seconds: 0.0,
                    image_size: Some(m.image_size()),
                },
                images: Vec::new(),
                stats: LayerStats::new(channels, a.top_k),
            };
            // Claims the folder and proves it writable before any work.
            save_state(dir, &s).with_context(|| format!("cannot write in {}", dir.display()))?;
            s
        }
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let pb = ProgressBar::new(inputs.len());
        pb.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} images [{elapsed_precise}<{eta_precise}] {per_sec}",
            )
            .expect("valid template"),
        );
        pb.set_position(state.manifest.consumed);
        pb
    });
    let opts = MineOptions {
        batch: a.batch,
        checkpoint_every: Duration::from_secs_f64(a.checkpoint_minutes.max(0.0) * 60.0),
    };
    mine(&m, &inputs, &mut state, dir, &opts, |done, _| {
        if let Some(pb) = &bar {
            pb.set_position(done);
        }
    })?;
    if let Some(pb) = &bar {
        pb.finish_and_clear();
    }
    write_tables(dir, &state)?;
    let man = &state.manifest;
    eprintln!(
        "mined {} images ({} skipped) of {} in {:.1} s ({:.1} images/s); tables in {}",
        man.images,
        man.skipped.len(),
        man.key.layer,
        man.seconds,
        man.images as f64 / man.seconds.max(1e-9),
        dir.display()
    );
    Ok(())
}

pub fn run_merge(runs: &[PathBuf], out: &Path) -> Result<()> {
    if out.join("state.json").exists() {
        bail!(
            "{} already holds a run; choose another --out",
            out.display()
        );
    }
    let loaded = runs
        .iter()
        .map(|d| Ok((d.clone(), load_state(d)?)))
        .collect::<Result<Vec<_>>>()?;
    let merged = merge_states(loaded)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    save_state(out, &merged)?;
    write_tables(out, &merged)?;
    eprintln!(
        "merged {} runs: {} images into {}",
        runs.len(),
        merged.manifest.images,
        out.display()
    );
    Ok(())
}

pub fn run_examples(
    dir: &Path,
    neuron: usize,
    bottom: bool,
    sheet: Option<&Path>,
    json_out: bool,
) -> Result<()> {
    if let Some(p) = sheet {
        crate::attack::writable_file(p)?;
    }
    let state: RunState = load_state(dir)?;
    let Some(c) = state.stats.channels.get(neuron) else {
        bail!(
            "neuron {neuron} does not exist: {} has {} neurons (0..{})",
            state.manifest.key.layer,
            state.stats.channels.len(),
            state.stats.channels.len().saturating_sub(1)
        );
    };
    let list = if bottom { &c.bottom } else { &c.top };
    let grid_w = state.manifest.key.grid.map(|g| g[1]);
    if let Some(p) = sheet {
        let Some(size) = state.manifest.image_size else {
            bail!("{}: this run does not record the model's input size (mined by an older version); mine it again for --sheet", dir.display());
        };
        let mut images = Vec::new();
        let mut marks = Vec::new();
        for e in list {
            let rec = &state.images[e.image as usize];
            match clipneurons_neurons::sheet::view_of(rec, size) {
                Ok(img) => {
                    images.push(img);
                    marks.push(grid_w.map(|w| (e.position as usize / w, e.position as usize % w)));
                }
                Err(err) => eprintln!("not on the sheet: {err}"),
            }
        }
        if images.is_empty() {
            bail!("none of the example images can be read any more");
        }
        let img =
            clipneurons_neurons::sheet::contact_sheet(&images, &marks, state.manifest.key.grid, 8);
        let mut buf = std::io::Cursor::new(Vec::new());
        img.write_to(&mut buf, image::ImageFormat::Png)?;
        clipneurons_checkpoint::write_atomic(p, buf.get_ref())?;
        eprintln!("wrote {}", p.display());
    }
    let rows: Vec<_> = list
        .iter()
        .enumerate()
        .map(|(r, e)| {
            let img = &state.images[e.image as usize];
            json!({
                "rank": r, "value": e.value, "image": e.image, "source": img.source,
                "concept": img.concept, "facet": img.facet,
                "y": grid_w.map(|w| e.position as usize / w), "x": grid_w.map(|w| e.position as usize % w),
            })
        })
        .collect();
    if json_out {
        println!(
            "{}",
            json!({ "layer": state.manifest.key.layer, "neuron": neuron, "kind": if bottom { "bottom" } else { "top" },
                    "mean_of_max": c.mean_of_max(), "std_of_max": c.std_of_max(), "examples": rows })
        );
        return Ok(());
    }
    println!(
        "{} neuron {neuron}: {} images, spatial max {:.3} ± {:.3}; {} {}:",
        state.manifest.key.layer,
        c.count,
        c.mean_of_max(),
        c.std_of_max(),
        if bottom { "most negative" } else { "top" },
        list.len()
    );
    for r in rows {
        let what = match (r["concept"].as_str(), r["facet"].as_str()) {
            (Some(c), Some(f)) => format!("  [{c} / {f}]"),
            _ => String::new(),
        };
        println!(
            "  {:>3}  {:>9.4}  {}{what}",
            r["rank"],
            r["value"].as_f64().unwrap_or(f64::NAN),
            r["source"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

/// The default vocabulary of `words`: the built-in world's words, then CLIP's 10,000 most common word tokens.
fn default_vocab() -> Vec<String> {
    merged_vocab(
        clipneurons_world::World::new().vocabulary(),
        clipneurons_tokenizer::Tokenizer::new().common_words(10_000),
    )
}

/// `first`, then the words of `then` not already in it.
pub(crate) fn merged_vocab(mut first: Vec<String>, then: Vec<String>) -> Vec<String> {
    let have: std::collections::HashSet<String> = first.iter().cloned().collect();
    first.extend(then.into_iter().filter(|w| !have.contains(w)));
    first
}

pub(crate) fn read_vocab(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the vocabulary", path.display()))?;
    let mut v: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    v.dedup();
    if v.is_empty() {
        bail!(
            "{}: the vocabulary has no words (one word or phrase per line)",
            path.display()
        );
    }
    Ok(v)
}

#[allow(clippy::too_many_arguments)]
pub fn run_words(
    model: &ModelArg,
    layer: Option<String>,
    neuron: Option<usize>,
    out: Option<&Path>,
    vocab: Option<&Path>,
    top: usize,
    batch: usize,
    json_out: bool,
) -> Result<()> {
    let m = load_model(model)?;
    let layer = layer.unwrap_or_else(|| m.neuron_layer());
    let (channels, _, _) = layer_geometry(&m, &layer)?;
    if let Some(n) = neuron {
        if n >= channels {
            bail!(
                "neuron {n} is out of range: {layer} has {channels} neurons (0..{})",
                channels - 1
            );
        }
    }
    if let Some(dir) = out {
        crate::attack::writable_dir(dir)?;
        // A mining run's folder must be of this model and layer.
        if dir.join("manifest.json").is_file() {
            let manifest: Manifest =
                serde_json::from_slice(&std::fs::read(dir.join("manifest.json"))?)
                    .with_context(|| format!("{}: unreadable manifest.json", dir.display()))?;
            if manifest.key.layer != layer || manifest.key.model_sha256 != model_sha256(model)? {
                bail!(
                    "{} is a run of {} at {}; give the same --model and --layer, or another --out",
                    dir.display(),
                    manifest.key.model,
                    manifest.key.layer
                );
            }
        }
    }
    let vocab = match vocab {
        Some(p) => read_vocab(p)?,
        None => default_vocab(),
    };
    let bar = ProgressBar::new(vocab.len() as u64);
    if std::io::stderr().is_terminal() {
        bar.set_style(
            ProgressStyle::with_template("rendering words {bar:30} {pos}/{len} ({eta})")
                .expect("static template"),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let r =
        clipneurons_neurons::words::probe_words(&m, &layer, &vocab, batch, |k| bar.inc(k as u64))?;
    bar.finish_and_clear();
    if let Some(dir) = out {
        clipneurons_neurons::words::write_word_tables(dir, &r, top)?;
        eprintln!(
            "wrote {}/words.parquet and word_responses.safetensors ({} words x {} neurons)",
            dir.display(),
            vocab.len(),
            channels
        );
    }
    if let Some(n) = neuron {
        let words = r.top_words(n, top);
        if json_out {
            let rows: Vec<_> = words
                .iter()
                .map(|(w, v)| json!({"word": w, "response": v}))
                .collect();
            println!(
                "{}",
                json!({"layer": layer, "neuron": n, "vocabulary": vocab.len(), "words": rows})
            );
        } else {
            for (w, v) in words {
                println!("{v:10.4}  {w}");
            }
        }
    }
    Ok(())
}

//! `clipneurons label` (automatic neuron labels from a mining run) and `clipneurons report` (mine the built-in
//! world's test split, label every neuron, show the most multimodal ones): the main job on the built-in model.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clipneurons_neurons::label::{label_run, LabelReport};
use clipneurons_neurons::mine::{load_state, RunState};
use clipneurons_world::World;

use crate::args::{MineArgs, ModelArg};
use crate::io::load_model;
use crate::mine::{model_sha256, run_mine};

fn world_concepts() -> Vec<String> {
    World::new()
        .concepts()
        .iter()
        .map(|c| c.name.clone())
        .collect()
}

fn read_concepts(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the concept list", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

/// The run in `dir`, checked to be complete and mined by `model`.
fn run_of(dir: &Path, model: &ModelArg) -> Result<RunState> {
    let state = load_state(dir)?;
    if !state.manifest.complete {
        bail!(
            "{} is an unfinished run; finish it with `clipneurons mine --resume` first",
            dir.display()
        );
    }
    if state.manifest.key.model_sha256 != model_sha256(model)? {
        bail!(
            "{} was mined with {}, not {}; give the same --model",
            dir.display(),
            state.manifest.key.model,
            model.label()
        );
    }
    Ok(state)
}

fn print_labels(r: &LabelReport, rows: usize) {
    println!(
        "{} neurons of {} labelled over {} concepts from {} images (top {} per neuron)",
        r.neurons.len(),
        r.layer,
        r.concepts,
        r.images,
        r.top_k
    );
    if let Some(g) = &r.ground_truth {
        println!(
            "ground truth (world): label precision {:.1}% (share of top images showing the label), label = most \
             common concept of the top images for {:.1}% of neurons, {} of {} concepts label a neuron ({:.1}%), \
             best neuron multimodal (label in >= 3 facets of its top images) for {:.1}% of labelled concepts",
            100.0 * g.mean_precision,
            100.0 * g.label_matches_top_images,
            g.labelled_concepts,
            g.concepts_in_run,
            100.0 * g.concept_recall,
            100.0 * g.multimodal_share
        );
    }
    let mut order: Vec<_> = r.neurons.iter().collect();
    // Most multimodal first (facets of the label among the top images), then by score.
    order.sort_by(|a, b| {
        b.facets
            .len()
            .cmp(&a.facets.len())
            .then(b.score.total_cmp(&a.score))
    });
    println!(
        "\n| neuron | label | score (images + words) | by images | by words | precision | facets |"
    );
    println!("|---|---|---|---|---|---|---|");
    for n in order.into_iter().take(rows) {
        println!(
            "| {} | {} | {:.2} ({:.2} + {:.2}) | {} | {} | {} | {} |",
            n.neuron,
            n.label,
            n.score,
            n.image_score,
            n.word_score,
            n.image_label,
            n.word_label,
            n.precision
                .map_or("-".into(), |p| format!("{:.0}%", 100.0 * p)),
            n.facets.join(", ")
        );
    }
}

fn write_labels(dir: &Path, r: &LabelReport) -> Result<PathBuf> {
    let path = dir.join("labels.json");
    clipneurons_checkpoint::write_atomic(&path, serde_json::to_string_pretty(r)?.as_bytes())?;
    Ok(path)
}

#[allow(clippy::too_many_arguments)]
pub fn run_label(
    dir: &Path,
    model: &ModelArg,
    concepts: Option<&Path>,
    template: &str,
    top_k: usize,
    rows: usize,
    json: bool,
) -> Result<()> {
    let state = run_of(dir, model)?;
    let m = load_model(model)?;
    let concepts = match concepts {
        Some(p) => read_concepts(p)?,
        None => world_concepts(),
    };
    let r = label_run(&m, &state, &concepts, template, top_k, 64, |s| {
        eprintln!("{s}")
    })?;
    let path = write_labels(dir, &r)?;
    eprintln!("wrote {}", path.display());
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        print_labels(&r, rows);
    }
    Ok(())
}

/// Mine `n` test-split world images into `out` (resuming a run there), label every neuron, print the report.
pub fn run_report(model: ModelArg, out: PathBuf, n: u64, rows: usize) -> Result<()> {
    let resume = out.join("state.json").exists();
    if resume {
        eprintln!("continuing the run in {}", out.display());
    }
    let complete = resume
        && load_state(&out).is_ok_and(|s| s.manifest.complete && s.manifest.total_inputs == n);
    if !complete {
        run_mine(MineArgs {
            model: model.clone(),
            layer: None,
            out: out.clone(),
            images: Vec::new(),
            shards: Vec::new(),
            world: Some("test".into()),
            n,
            seed: 0,
            top_k: 32,
            batch: 64,
            resume,
            checkpoint_minutes: 2.0,
        })?;
    }
    run_label(&out, &model, None, "{}", 16, rows, false)
}

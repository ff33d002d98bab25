//! `clipneurons viz`: feature visualisation of one neuron (crate `clipneurons-viz`).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clipneurons_viz::objective::Objective;
use clipneurons_viz::param::Kind;
use clipneurons_viz::render::{render, RenderOptions};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::VizArgs;
use crate::io::load_model;

pub fn run_viz(a: VizArgs) -> Result<()> {
    crate::attack::writable_file(&a.out)?;
    let m = load_model(&a.model)?;
    let layer = a.layer.clone().unwrap_or_else(|| m.neuron_layer());
    let (channels, _, _) = clipneurons_neurons::mine::layer_geometry(&m, &layer)?;
    if a.neuron >= channels {
        bail!(
            "neuron {} is out of range: {layer} has {channels} neurons (0..{})",
            a.neuron,
            channels - 1
        );
    }
    let objective = match a.objective.as_str() {
        "channel" => Objective::Channel(a.neuron),
        "neuron" => Objective::Neuron(a.neuron),
        o => bail!("unknown --objective '{o}' (use channel or neuron)"),
    };
    let kind = match a.param.as_str() {
        "fourier" => Kind::Fourier,
        "pixels" => Kind::Pixels,
        p => bail!("unknown --param '{p}' (use fourier or pixels)"),
    };
    // Recipes: Lucid's defaults, or OpenAI's CLIP-featurevis settings (batch 9, Adam 0.02, L2 weight 10).
    let (lr, l2, batch) = match a.recipe.as_str() {
        "lucid" => (0.05, 0.0, 1),
        "clip" => (0.02, 10.0, 9),
        r => bail!("unknown --recipe '{r}' (use lucid or clip)"),
    };
    let opts = RenderOptions {
        layer: layer.clone(),
        objective,
        kind,
        batch: a.batch.unwrap_or(batch),
        steps: a.steps,
        lr: a.lr.unwrap_or(lr),
        seed: a.seed,
        l2_weight: a.l2.unwrap_or(l2),
        transforms: !a.no_transforms,
    };
    let bar = ProgressBar::new(a.steps as u64);
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} steps, objective {msg} ({eta})")
                .expect("static"),
        );
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let r = render(&m, &opts, |_, o| {
        bar.inc(1);
        bar.set_message(format!("{o:.3}"));
    })?;
    bar.finish_and_clear();
    // The batch side by side.
    let side = m.image_size() as u32;
    let mut sheet = image::RgbImage::new(side * r.images.len() as u32, side);
    for (i, img) in r.images.iter().enumerate() {
        image::imageops::replace(&mut sheet, img, (i as u32 * side).into(), 0);
    }
    let mut buf = std::io::Cursor::new(Vec::new());
    sheet.write_to(&mut buf, image::ImageFormat::Png)?;
    clipneurons_checkpoint::write_atomic(&a.out, buf.get_ref())?;
    let json_path: PathBuf = a.out.with_extension("json");
    let report = serde_json::json!({
        "layer": layer, "neuron": a.neuron, "objective": a.objective, "param": a.param, "recipe": a.recipe,
        "steps": a.steps, "lr": opts.lr, "batch": opts.batch, "l2_weight": opts.l2_weight, "seed": a.seed,
        "final_objective": r.final_objective, "objective_per_step": r.objective,
    });
    clipneurons_checkpoint::write_atomic(&json_path, serde_json::to_string(&report)?.as_bytes())?;
    if a.json {
        println!("{report}");
    } else {
        println!(
            "{layer} neuron {}: objective {:.3} after {} steps -> {} ({})",
            a.neuron,
            r.final_objective,
            a.steps,
            a.out.display(),
            json_path.display()
        );
    }
    Ok(())
}

//! `clipneurons viz`: feature visualisation of one neuron (crate `clipneurons-viz`).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clipneurons_neurons::textviz::{text_feature_vis, zipf_units, TextVizOptions};
use clipneurons_viz::facet::{FacetProbes, FacetTerm};
use clipneurons_viz::objective::Objective;
use clipneurons_viz::param::Kind;
use clipneurons_viz::render::{render, RenderOptions};
use clipneurons_viz::transform::Transforms;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::{TextVizArgs, VizArgs};
use crate::io::load_model;

/// `A..B` (or a single number for both ends).
fn parse_range(s: &str) -> Result<(f64, f64)> {
    let (a, b) = s.split_once("..").unwrap_or((s, s));
    let num = |v: &str| {
        v.trim()
            .parse::<f64>()
            .map_err(|_| anyhow::anyhow!("'{v}' is not a number; write A..B, e.g. 0.1..5.0"))
    };
    Ok((num(a)?, num(b)?))
}

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
    // Recipes: Lucid's defaults, or OpenAI's CLIP-featurevis settings (batch 9, Adam 0.02, L2 weight 10).
    let (lr, l2, batch, transforms, default_objective, redirect) = match a.recipe.as_str() {
        "lucid" => (0.05, 0.0, 1, Transforms::Lucid, "channel", 16),
        "clip" => (0.02, 10.0, 9, Transforms::Clip, "relu-channel", a.steps),
        r => bail!("unknown --recipe '{r}' (use lucid or clip)"),
    };
    let objective_name = a.objective.as_deref().unwrap_or(default_objective);
    let mut objective = match objective_name {
        "channel" => Objective::Channel(a.neuron),
        "neuron" => Objective::Neuron(a.neuron),
        "relu-channel" => Objective::relu_channel(a.neuron, channels),
        "direction" => {
            let Some(text) = &a.text else {
                bail!("--objective direction needs --text (the concept whose search direction to follow)");
            };
            if layer != m.neuron_layer() {
                bail!(
                    "--objective direction follows zero-shot search scores, which exist for {} only, not {layer}",
                    m.neuron_layer()
                );
            }
            let (_, scores) =
                clipneurons_neurons::search::text_scores(&m, std::slice::from_ref(text))?;
            Objective::Direction(scores.into_iter().next().unwrap_or_default())
        }
        o => bail!("unknown --objective '{o}' (use channel, neuron, relu-channel or direction)"),
    };
    if a.text.is_some() && objective_name != "direction" {
        bail!("--text is only used with --objective direction");
    }
    if a.diversity != 0.0 {
        objective = Objective::Sum(vec![(1.0, objective), (a.diversity, Objective::Diversity)]);
    }
    let kind = match a.param.as_str() {
        "fourier" => Kind::Fourier,
        "pixels" => Kind::Pixels,
        p => bail!("unknown --param '{p}' (use fourier or pixels)"),
    };
    let size = a.size.unwrap_or(m.image_size());
    if size < 8 {
        bail!("--size {size} is too small (at least 8 pixels)");
    }
    let facet = match &a.facet {
        None => None,
        Some(name) => {
            let probes = match (&a.facet_probes, &a.model.model) {
                (Some(p), _) => FacetProbes::load(p, &m)?,
                (None, None) => FacetProbes::from_bytes(
                    clipneurons_builtin::facet_probes(),
                    "the built-in facet probes",
                    &m,
                )?,
                (None, Some(_)) => bail!(
                    "--facet {name} needs --facet-probes FILE for this model (train them with `clipneurons facets train`)"
                ),
            };
            let strength = parse_range(&a.facet_strength)
                .with_context(|| format!("--facet-strength {}", a.facet_strength))?;
            Some(FacetTerm {
                probes: probes.get(name)?.clone(),
                strength,
                relu_gradient: !a.facet_plain_gradient,
            })
        }
    };
    let attribution_diversity = if a.attribution_diversity != 0.0 {
        let l = match &a.diversity_layer {
            Some(l) => l.clone(),
            None => clipneurons_viz::facet::default_layers(&m)
                .into_iter()
                .next()
                .ok_or_else(|| {
                    anyhow::anyhow!("name the attribution layer with --diversity-layer")
                })?,
        };
        clipneurons_neurons::mine::layer_geometry(&m, &l)
            .with_context(|| format!("--diversity-layer {l}"))?;
        Some((l, a.attribution_diversity))
    } else {
        None
    };
    let opts = RenderOptions {
        layer: layer.clone(),
        objective,
        kind,
        size,
        batch: a.batch.unwrap_or(batch),
        steps: a.steps,
        lr: a.lr.unwrap_or(lr),
        seed: a.seed,
        l2_weight: a.l2.unwrap_or(l2),
        transforms: if a.no_transforms {
            Transforms::None
        } else {
            transforms
        },
        redirect_steps: a.redirect_steps.unwrap_or(redirect),
        facet,
        attribution_diversity,
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
    let side = size as u32;
    let mut sheet = image::RgbImage::new(side * r.images.len() as u32, side);
    for (i, img) in r.images.iter().enumerate() {
        image::imageops::replace(&mut sheet, img, (i as u32 * side).into(), 0);
    }
    let mut buf = std::io::Cursor::new(Vec::new());
    sheet.write_to(&mut buf, image::ImageFormat::Png)?;
    clipneurons_checkpoint::write_atomic(&a.out, buf.get_ref())?;
    let json_path: PathBuf = a.out.with_extension("json");
    let report = serde_json::json!({
        "layer": layer, "neuron": a.neuron, "objective": objective_name, "text": a.text, "param": a.param,
        "recipe": a.recipe, "size": size, "steps": a.steps, "lr": opts.lr, "batch": opts.batch,
        "l2_weight": opts.l2_weight, "diversity": a.diversity, "attribution_diversity": a.attribution_diversity, "redirect_steps": opts.redirect_steps,
        "transforms": !a.no_transforms, "seed": a.seed, "facet": a.facet,
        "facet_strength": a.facet.as_ref().map(|_| &a.facet_strength),
        "final_objective": r.final_objective, "seconds_per_step": r.seconds_per_step,
        "objective_per_step": r.objective,
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

pub fn run_textviz(a: TextVizArgs) -> Result<()> {
    if let Some(out) = &a.out {
        crate::attack::writable_file(out)?;
    }
    let m = load_model(&a.model)?;
    clipneurons_neurons::search::check_layer(&m, a.layer.as_deref())?;
    let words = match &a.vocab {
        Some(path) => crate::mine::read_vocab(path)?,
        None => crate::mine::merged_vocab(
            clipneurons_tokenizer::Tokenizer::new().common_words(10_000),
            clipneurons_world::World::new().vocabulary(),
        ),
    };
    let units = zipf_units(&words);
    let opts = TextVizOptions {
        steps: a.steps,
        length: a.length,
        proposals: a.proposals,
        restarts: a.restarts,
        lm_penalty: a.lm_penalty,
        seed: a.seed,
        top: a.top,
        ..TextVizOptions::default()
    };
    let bar = ProgressBar::new((a.steps * a.restarts) as u64);
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} steps ({eta})").expect("static"),
        );
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let r = text_feature_vis(&m, a.neuron, &units, &opts, |done| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    let report = serde_json::json!({
        "neuron": r.neuron, "layer": r.layer, "steps": a.steps, "length": a.length, "proposals": a.proposals,
        "restarts": a.restarts, "lm_penalty": a.lm_penalty, "seed": a.seed, "vocabulary": units.len(),
        "evaluated": r.evaluated, "best": r.best, "trace": r.trace,
    });
    if let Some(out) = &a.out {
        clipneurons_checkpoint::write_atomic(
            out,
            serde_json::to_string_pretty(&report)?.as_bytes(),
        )?;
    }
    if a.json {
        println!("{report}");
    } else {
        println!(
            "{} neuron {}: best of {} texts ({} words, penalty {})",
            r.layer,
            r.neuron,
            r.evaluated,
            units.len(),
            a.lm_penalty
        );
        println!("  {:>7}  {:>9}  text", "score", "objective");
        for f in &r.best {
            println!("  {:>7.4}  {:>9.4}  {}", f.score, f.objective, f.text);
        }
    }
    Ok(())
}

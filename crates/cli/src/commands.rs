//! The subcommands of the model-core issue: tokenize, preprocess, embed, activations, classify, layers, info.

use anyhow::{bail, Context, Result};
use candle_core::Tensor;
use serde_json::json;

use crate::args::{Cli, Command};
use crate::io::{image_input, images_to_pixels, load_model, save_tensors};

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Tokenize { json, text } => {
            let tok = clipneurons_tokenizer::Tokenizer::new();
            let refs: Vec<&str> = text.iter().map(String::as_str).collect();
            let ids = tok.tokenize_batch(&refs, clipneurons_tokenizer::CONTEXT_LENGTH);
            if json {
                println!("{}", json!({ "tokens": ids }));
            } else {
                for (t, ids) in text.iter().zip(&ids) {
                    let used: Vec<String> = ids
                        .iter()
                        .take_while(|&&i| i != 0)
                        .map(u32::to_string)
                        .collect();
                    println!("{t}\t{}", used.join(" "));
                }
            }
        }
        Command::Preprocess { model, images, out } => {
            let m = load_model(&model)?;
            let pixels = images_to_pixels(&images, m.image_size())?;
            save_tensors(&[("pixels".into(), pixels)], &out)?;
            eprintln!(
                "wrote {} images at {}px to {}",
                images.len(),
                m.image_size(),
                out.display()
            );
        }
        Command::Embed {
            model,
            input,
            text,
            json,
        } => {
            let m = load_model(&model)?;
            let (key, features) = if !text.is_empty() {
                let tokens = m.tokenize(&text)?;
                ("text_features", m.encode_text(&tokens)?)
            } else {
                let Some(pixels) = image_input(&m, &input.images, input.pixels.as_deref())? else {
                    bail!("give --image FILE..., --pixels FILE or --text TEXT...");
                };
                ("image_features", m.encode_image(&pixels)?)
            };
            let rows = features.to_vec2::<f32>()?;
            if json {
                println!("{}", json!({ key: rows }));
            } else {
                for r in rows {
                    println!(
                        "{}",
                        r.iter()
                            .map(|v| format!("{v:.6}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    );
                }
            }
        }
        Command::Activations {
            model,
            input,
            text,
            layers,
            out,
        } => {
            let m = load_model(&model)?;
            let pixels = image_input(&m, &input.images, input.pixels.as_deref())?;
            let tokens = if text.is_empty() {
                None
            } else {
                Some(m.tokenize(&text)?)
            };
            let taps = m.record(pixels.as_ref(), tokens.as_ref(), &layers)?;
            for (name, t) in &taps {
                eprintln!("{name}: {:?}", t.dims());
            }
            save_tensors(&taps, &out)?;
        }
        Command::Classify {
            model,
            images,
            labels,
            template,
            json,
        } => {
            let m = load_model(&model)?;
            let labels = parse_labels(&labels)?;
            if !template.contains("{}") {
                bail!("--template must contain `{{}}` where the label goes, e.g. \"a photo of a {{}}.\"");
            }
            let prompts: Vec<String> = labels.iter().map(|l| template.replace("{}", l)).collect();
            let text = m.encode_text(&m.tokenize(&prompts)?)?;
            let img = m.encode_image(&images_to_pixels(&images, m.image_size())?)?;
            let probs = softmax_rows(&m.logits(&img, &text)?)?;
            let mut results = Vec::new();
            for (path, p) in images.iter().zip(probs) {
                let best = p
                    .iter()
                    .enumerate()
                    .fold(0, |b, (i, v)| if *v > p[b] { i } else { b });
                if !json {
                    println!("{}\t{}\t{:.4}", path.display(), labels[best], p[best]);
                }
                let probs: serde_json::Map<String, serde_json::Value> = labels
                    .iter()
                    .cloned()
                    .zip(p.iter().map(|v| json!(v)))
                    .collect();
                results.push(json!({ "image": path.display().to_string(), "top": labels[best], "probs": probs }));
            }
            if json {
                println!("{}", json!({ "results": results }));
            }
        }
        Command::Layers { model, json } => {
            let m = load_model(&model)?;
            let shapes = m.layer_shapes()?;
            if json {
                let v: Vec<_> = shapes
                    .iter()
                    .map(|(n, s)| json!({ "name": n, "shape": s }))
                    .collect();
                println!("{}", json!({ "layers": v }));
            } else {
                for (n, s) in shapes {
                    println!("{n}\t{s:?}");
                }
            }
        }
        Command::Search {
            model,
            text,
            layer,
            top,
            template,
            verify,
            json,
        } => {
            if !template.contains("{}") {
                bail!("--template must contain {{}} where the text goes, e.g. \"a photo of {{}}\"");
            }
            let m = load_model(&model)?;
            let results =
                clipneurons_neurons::search(&m, &text, &template, layer.as_deref(), top, verify)?;
            if json {
                println!("{}", json!({ "results": results }));
            } else {
                for r in &results {
                    println!("\"{}\" ({}):", r.prompt, r.layer);
                    for h in &r.top {
                        match (h.logit_before, h.logit_after) {
                            (Some(b), Some(a)) => println!(
                                "  neuron {:>5}  score {:+.4}  logit on a blank image {b:.2} -> {a:.2} ({:+.2})",
                                h.neuron,
                                h.score,
                                a - b
                            ),
                            _ => println!("  neuron {:>5}  score {:+.4}", h.neuron, h.score),
                        }
                    }
                }
            }
        }
        Command::Mine(args) => crate::mine::run_mine(args)?,
        Command::Merge { runs, out } => crate::mine::run_merge(&runs, &out)?,
        Command::Examples {
            run,
            neuron,
            bottom,
            sheet,
            json,
        } => crate::mine::run_examples(&run, neuron, bottom, sheet.as_deref(), json)?,
        Command::World { command } => crate::world::run(command)?,
        Command::Train(args) => crate::train::run(args)?,
        Command::Attack(args) => crate::attack::run_attack(args)?,
        Command::Profile(args) => crate::profile::run_profile(args)?,
        Command::Viz(args) => crate::viz::run_viz(args)?,
        Command::Textviz(args) => crate::viz::run_textviz(args)?,
        Command::Label {
            run,
            model,
            concepts,
            template,
            top_k,
            rows,
            json,
        } => crate::label::run_label(
            &run,
            &model,
            concepts.as_deref(),
            &template,
            top_k,
            rows,
            json,
        )?,
        Command::Report {
            model,
            out,
            n,
            rows,
        } => crate::label::run_report(model, out, n, rows)?,
        Command::Words {
            model,
            layer,
            neuron,
            all: _,
            out,
            vocab,
            top,
            batch,
            json,
        } => crate::mine::run_words(
            &model,
            layer,
            neuron,
            out.as_deref(),
            vocab.as_deref(),
            top,
            batch,
            json,
        )?,
        Command::Stroop {
            model,
            template,
            out,
            json,
        } => crate::attack::run_stroop(model, template, out, json)?,
        Command::Probe { command } => crate::attack::run_probe(command)?,
        Command::Facets { command } => match command {
            crate::args::FacetsCommand::Train(a) => crate::facets::run_train(a)?,
        },
        Command::Info { model, json } => {
            let ckpt = model.checkpoint()?;
            let cfg = clipneurons_model::ClipConfig::from_state_dict(&ckpt.tensors)
                .with_context(|| model.label())?;
            let params: usize = ckpt.tensors.values().map(|t| t.elem_count()).sum();
            let builtin = model.model.is_none();
            let sha = if builtin {
                Some(clipneurons_builtin::sha256())
            } else {
                None
            };
            if json {
                println!(
                    "{}",
                    json!({ "file": model.label(), "builtin": builtin, "sha256": sha, "format": ckpt.format.to_string(),
                            "config": cfg, "parameters": params, "ignored": ckpt.ignored, "metadata": ckpt.metadata })
                );
            } else {
                println!("file        {}", model.label());
                if builtin {
                    let name = ckpt
                        .metadata
                        .get("name")
                        .map_or("(unnamed)", String::as_str);
                    println!("built-in    {name} (sha256 {})", sha.unwrap_or_default());
                }
                println!("format      {}", ckpt.format);
                println!("model       {}", cfg.name);
                println!("parameters  {params}");
                println!("config      {}", serde_json::to_string(&cfg)?);
                for (k, v) in &ckpt.metadata {
                    if k != "format" && k != "name" {
                        println!("{k:<11} {v}");
                    }
                }
            }
        }
    }
    Ok(())
}

/// Row-wise softmax of logits `[N, M]` into plain vectors.
fn softmax_rows(logits: &Tensor) -> Result<Vec<Vec<f32>>> {
    Ok(logits
        .to_vec2::<f32>()?
        .into_iter()
        .map(|row| {
            let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
            let s: f32 = e.iter().sum();
            e.into_iter().map(|v| v / s).collect()
        })
        .collect())
}

/// `a,b,c`, `@file` or the path of an existing file (one label per line).
pub fn parse_labels(spec: &str) -> Result<Vec<String>> {
    let file = spec
        .strip_prefix('@')
        .or_else(|| (!spec.contains(',') && std::path::Path::new(spec).is_file()).then_some(spec));
    let text = match file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("{path}: cannot read the label file"))?,
        None => spec.replace(',', "\n"),
    };
    let labels: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if labels.len() < 2 {
        bail!(
            "need at least two labels (got {}); give --labels a,b,c or --labels @FILE",
            labels.len()
        );
    }
    Ok(labels)
}

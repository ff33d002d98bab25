//! `clipneurons facets train`: linear facet probes for faceted feature visualisation (crate `clipneurons-viz`).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use candle_core::Tensor;
use clipneurons_neurons::readout::FitOptions;
use clipneurons_viz::facet::{default_layers, FacetProbes};
use clipneurons_world::{Facet, Split, World};
use image::RgbImage;

use crate::args::FacetsTrainArgs;
use crate::io::load_model;

/// The built-in world's facets by the names the probes use.
pub const WORLD_FACETS: [(&str, Facet); 4] = [
    ("photo", Facet::Photo),
    ("drawing", Facet::Drawing),
    ("icon", Facet::Icon),
    ("text", Facet::Word),
];

/// Model-ready pixel batches of at most 64 images.
fn batches(images: &[RgbImage]) -> Result<Vec<Tensor>> {
    images
        .chunks(64)
        .map(|chunk| {
            let refs: Vec<&RgbImage> = chunk.iter().collect();
            Ok(clipneurons_attack::classifier::pixels(&refs)?)
        })
        .collect()
}

/// `n` world images of each facet from `split`, cycling through the concepts.
fn world_facet_images(
    split: Split,
    n: usize,
    size: usize,
    seed: u64,
) -> BTreeMap<String, Vec<RgbImage>> {
    let world = World::with_size(size as u32);
    let concepts = world.concepts().len();
    WORLD_FACETS
        .iter()
        .map(|(name, facet)| {
            let imgs = (0..n)
                .map(|i| {
                    world
                        .sample_of(split, i as u64, seed, i % concepts, *facet)
                        .image
                })
                .collect();
            (name.to_string(), imgs)
        })
        .collect()
}

/// Pixel batches per facet name.
type FacetBatches = BTreeMap<String, Vec<Tensor>>;

/// One-vs-rest sets: each facet's images as positives, the other facets' as negatives (as many in all).
fn one_vs_rest(sets: &BTreeMap<String, Vec<RgbImage>>) -> Result<(FacetBatches, FacetBatches)> {
    let (mut pos, mut neg) = (BTreeMap::new(), BTreeMap::new());
    for (name, imgs) in sets {
        let others: Vec<&Vec<RgbImage>> = sets
            .iter()
            .filter(|(n, _)| *n != name)
            .map(|(_, v)| v)
            .collect();
        let per = imgs.len().div_ceil(others.len().max(1));
        let negatives: Vec<RgbImage> = others
            .iter()
            .flat_map(|v| v.iter().take(per).cloned())
            .collect();
        pos.insert(name.clone(), batches(imgs)?);
        neg.insert(name.clone(), batches(&negatives)?);
    }
    Ok((pos, neg))
}

pub fn run_train(a: FacetsTrainArgs) -> Result<()> {
    crate::attack::writable_file(&a.out)?;
    let m = load_model(&a.model)?;
    let layers = if a.layers.is_empty() {
        default_layers(&m)
    } else {
        a.layers.clone()
    };
    if layers.is_empty() {
        bail!("this model has no ResNet third stage to put facet probes on; name the layers with --layers");
    }
    for l in &layers {
        clipneurons_neurons::mine::layer_geometry(&m, l)
            .with_context(|| format!("--layers {l}"))?;
    }
    let size = m.image_size();
    let opts = FitOptions {
        steps: a.steps,
        ..FitOptions::default()
    };
    let (probes, fits, held_out) = if a.world {
        if a.n < 4 {
            bail!("--n {} is too few images per facet (at least 4)", a.n);
        }
        let train = world_facet_images(Split::Train, a.n, size, 0);
        let (pos, neg) = one_vs_rest(&train)?;
        let (probes, fits) = FacetProbes::train(&m, &layers, &pos, &neg, &opts)?;
        // Held out: the test split, half as many; a probe is right when its facet's images score > 0 and the
        // other facets' < 0.
        let test = world_facet_images(Split::Test, a.n / 2, size, 0);
        let mut held_out = BTreeMap::new();
        for facet in test.keys() {
            let (mut right, mut total) = (0usize, 0usize);
            for (other, imgs) in &test {
                for b in batches(imgs)? {
                    for s in probes.score(&m, facet, &b)? {
                        right += ((s > 0.0) == (other == facet)) as usize;
                        total += 1;
                    }
                }
            }
            held_out.insert(facet.clone(), right as f64 / total as f64);
        }
        (probes, fits, Some(held_out))
    } else {
        let load = |paths: &[std::path::PathBuf], what: &str| -> Result<Vec<RgbImage>> {
            let set = clipneurons_attack::images::ImageSet::from_paths(paths, size)?;
            for (p, why) in &set.skipped {
                eprintln!("skipped {p}: {why}");
            }
            if set.items.is_empty() {
                bail!("{what}: no readable images");
            }
            Ok(set.items.into_iter().map(|i| i.rgb).collect())
        };
        let negatives = batches(&load(&a.negatives, "--negatives")?)?;
        let (mut pos, mut neg) = (BTreeMap::new(), BTreeMap::new());
        for spec in &a.facet {
            let (name, files) = crate::profile::labelled_files(spec, "--facet")?;
            pos.insert(
                name.clone(),
                batches(&load(&files, &format!("facet {name}"))?)?,
            );
            neg.insert(name, negatives.clone());
        }
        let (probes, fits) = FacetProbes::train(&m, &layers, &pos, &neg, &opts)?;
        (probes, fits, None)
    };
    probes.save(&a.out)?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({ "out": a.out, "layers": layers, "fits": fits, "held_out_accuracy": held_out })
        );
    } else {
        println!(
            "facet probes on {} -> {}",
            layers.join(", "),
            a.out.display()
        );
        println!("| facet | layer | positives | negatives | train accuracy | held-out accuracy |");
        println!("|---|---|---|---|---|---|");
        for f in &fits {
            let h = held_out
                .as_ref()
                .and_then(|h| h.get(&f.facet))
                .map_or("—".to_string(), |v| format!("{:.1}%", v * 100.0));
            println!(
                "| {} | {} | {} | {} | {:.1}% | {h} |",
                f.facet,
                f.layer,
                f.positives,
                f.negatives,
                f.train_accuracy * 100.0
            );
        }
    }
    Ok(())
}

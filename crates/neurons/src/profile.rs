//! Facet profiles of one neuron: its response to labelled image sets (photos, drawings, icons, words of a concept;
//! anything a user labels), and the article's conditional-probability plot — uniform buckets of activation from the
//! most negative to the most positive response, the share of each label in every bucket, the x-axis in standard
//! deviations from zero.

use std::fmt::Write;
use std::path::PathBuf;

use candle_core::{Device, Tensor};
use clipneurons_model::Clip;
use rayon::prelude::*;
use serde::Serialize;

use crate::mine::layer_geometry;
use crate::{NeuronError, Result};

/// How one image's activation map becomes one number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    Max,
    Mean,
}

impl std::str::FromStr for Pool {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "max" => Ok(Pool::Max),
            "mean" => Ok(Pool::Mean),
            _ => Err(format!("unknown pooling '{s}' (use max or mean)")),
        }
    }
}

/// One labelled image, not yet decoded.
#[derive(Clone, Debug)]
pub enum ImageRef {
    File(PathBuf),
    /// Already the model's input size (e.g. rendered by the world).
    Rgb(image::RgbImage),
}

#[derive(Serialize)]
pub struct SetResponse {
    pub label: String,
    pub images: usize,
    pub mean: f64,
    pub std: f64,
    pub min: f32,
    pub max: f32,
    #[serde(skip)]
    pub values: Vec<f32>,
}

#[derive(Serialize)]
pub struct ConditionalPlot {
    /// Bucket edges in standard deviations from zero (`buckets + 1` values).
    pub edges_sd: Vec<f64>,
    /// Images per bucket.
    pub counts: Vec<usize>,
    /// `[bucket][label]`: share of the bucket's images carrying each label (0 for empty buckets).
    pub shares: Vec<Vec<f64>>,
    /// The standard deviation used for the x-axis: that of all responses pooled.
    pub sd: f64,
}

#[derive(Serialize)]
pub struct Profile {
    pub layer: String,
    pub neuron: usize,
    pub pool: Pool,
    pub sets: Vec<SetResponse>,
    pub skipped: Skipped,
    pub plot: ConditionalPlot,
}

/// Unreadable files: (path, reason).
type Skipped = Vec<(String, String)>;

/// The neuron's pooled response to each image, in batches; unreadable files are returned as skipped.
fn responses(
    model: &Clip,
    layer: &str,
    neuron: usize,
    pool: Pool,
    images: &[ImageRef],
    batch: usize,
) -> Result<(Vec<Option<f32>>, Skipped)> {
    let side = model.image_size();
    let mut out = Vec::with_capacity(images.len());
    let mut skipped = Vec::new();
    for chunk in images.chunks(batch.max(1)) {
        let decoded: Vec<std::result::Result<Vec<f32>, (String, String)>> = chunk
            .par_iter()
            .map(|r| match r {
                ImageRef::File(p) => clipneurons_image::preprocess_path(p, side)
                    .map_err(|e| (p.display().to_string(), e.to_string())),
                ImageRef::Rgb(img) => Ok(clipneurons_image::preprocess(
                    &image::DynamicImage::ImageRgb8(img.clone()),
                    side,
                )),
            })
            .collect();
        let ok: Vec<f32> = decoded
            .iter()
            .filter_map(|d| d.as_ref().ok())
            .flatten()
            .copied()
            .collect();
        let n_ok = ok.len() / (3 * side * side);
        let mut vals = Vec::new();
        if n_ok > 0 {
            let px = Tensor::from_vec(ok, (n_ok, 3, side, side), &Device::Cpu)?;
            let tap = model
                .record(Some(&px), None, &[layer.to_string()])?
                .remove(0)
                .1;
            let t = match tap.rank() {
                4 => tap.narrow(1, neuron, 1)?.flatten_from(1)?,
                3 => tap.narrow(2, neuron, 1)?.flatten_from(1)?,
                _ => tap.narrow(1, neuron, 1)?,
            };
            let t = match pool {
                Pool::Max => t.max(1)?,
                Pool::Mean => t.mean(1)?,
            };
            vals = t.to_vec1::<f32>()?;
        }
        let mut it = vals.into_iter();
        for d in decoded {
            match d {
                Ok(_) => out.push(it.next()),
                Err(s) => {
                    skipped.push(s);
                    out.push(None);
                }
            }
        }
    }
    Ok((out, skipped))
}

/// The photo, drawing, icon and word facets of one world concept from the test split, `per_set` images each,
/// labelled "NAME FACET" (the sets `profile --world` and the built-in checks use).
pub fn world_facet_sets(
    world: &clipneurons_world::World,
    concept: &clipneurons_world::Concept,
    per_set: usize,
) -> Vec<(String, Vec<ImageRef>)> {
    use clipneurons_world::{Facet, Split};
    [Facet::Photo, Facet::Drawing, Facet::Icon, Facet::Word]
        .into_iter()
        .map(|facet| {
            let imgs = (0..per_set as u64)
                .map(|i| ImageRef::Rgb(world.sample_of(Split::Test, i, 0, concept.id, facet).image))
                .collect();
            (format!("{} {}", concept.name, facet.name()), imgs)
        })
        .collect()
}

/// Profile `neuron` of `layer` on labelled sets `(label, images)`.
pub fn profile(
    model: &Clip,
    layer: &str,
    neuron: usize,
    pool: Pool,
    sets: &[(String, Vec<ImageRef>)],
    buckets: usize,
    batch: usize,
) -> Result<Profile> {
    let (channels, _, _) = layer_geometry(model, layer)?;
    if neuron >= channels {
        return Err(NeuronError::Input(format!(
            "neuron {neuron} is out of range: {layer} has {channels} neurons (0..{})",
            channels - 1
        )));
    }
    if sets.is_empty() {
        return Err(NeuronError::Input(
            "give at least one labelled set (--sets LABEL=DIR, --table FILE or --world CONCEPT)"
                .into(),
        ));
    }
    let mut out_sets = Vec::new();
    let mut skipped = Vec::new();
    for (label, images) in sets {
        let (vals, sk) = responses(model, layer, neuron, pool, images, batch)?;
        skipped.extend(sk);
        let values: Vec<f32> = vals.into_iter().flatten().collect();
        if values.is_empty() {
            return Err(NeuronError::Input(format!(
                "the set '{label}' has no readable image"
            )));
        }
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        out_sets.push(SetResponse {
            label: label.clone(),
            images: values.len(),
            mean,
            std: var.sqrt(),
            min: values.iter().copied().fold(f32::INFINITY, f32::min),
            max: values.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            values,
        });
    }
    let plot = conditional(&out_sets, buckets.max(1));
    Ok(Profile {
        layer: layer.to_string(),
        neuron,
        pool,
        sets: out_sets,
        skipped,
        plot,
    })
}

/// The conditional-probability plot of `sets`.
pub fn conditional(sets: &[SetResponse], buckets: usize) -> ConditionalPlot {
    let all: Vec<f64> = sets
        .iter()
        .flat_map(|s| s.values.iter().map(|&v| v as f64))
        .collect();
    let n = all.len().max(1) as f64;
    let mean = all.iter().sum::<f64>() / n;
    let sd = (all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n)
        .sqrt()
        .max(1e-12);
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let width = ((hi - lo) / buckets as f64).max(1e-12);
    let mut counts = vec![vec![0usize; sets.len()]; buckets];
    for (k, s) in sets.iter().enumerate() {
        for &v in &s.values {
            let b = (((v as f64 - lo) / width) as usize).min(buckets - 1);
            counts[b][k] += 1;
        }
    }
    let totals: Vec<usize> = counts.iter().map(|c| c.iter().sum()).collect();
    let shares = counts
        .iter()
        .zip(&totals)
        .map(|(c, &t)| {
            c.iter()
                .map(|&x| if t == 0 { 0.0 } else { x as f64 / t as f64 })
                .collect()
        })
        .collect();
    ConditionalPlot {
        edges_sd: (0..=buckets)
            .map(|i| (lo + i as f64 * width) / sd)
            .collect(),
        counts: totals,
        shares,
        sd,
    }
}

/// Colours of the labels in the plot (cycled).
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// The plot as an SVG: one stacked column per bucket (shares of each label), bucket counts above, a legend.
pub fn plot_svg(p: &Profile) -> String {
    let (w, h) = (760.0, 380.0);
    let (left, right, top, bottom) = (60.0, 170.0, 40.0, 50.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let plot = &p.plot;
    let nb = plot.counts.len();
    let bw = pw / nb as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="20" font-size="13">{} neuron {} ({} over space): share of each set per activation bucket</text>"#,
        p.layer,
        p.neuron,
        match p.pool {
            Pool::Max => "max",
            Pool::Mean => "mean",
        }
    );
    for (b, shares) in plot.shares.iter().enumerate() {
        let x = left + b as f64 * bw;
        let mut y = top + ph;
        for (k, &sh) in shares.iter().enumerate() {
            let hgt = sh * ph;
            y -= hgt;
            if hgt > 0.0 {
                let _ = writeln!(
                    s,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{hgt:.1}" fill="{}"/>"#,
                    bw - 1.0,
                    PALETTE[k % PALETTE.len()]
                );
            }
        }
        if plot.counts[b] == 0 {
            let _ = writeln!(
                s,
                r##"<rect x="{x:.1}" y="{top}" width="{:.1}" height="{ph}" fill="#eeeeee"/>"##,
                bw - 1.0
            );
        }
    }
    // Axes: 0, 50, 100% on y; bucket edges in SDs on x (about 8 labels).
    for (frac, label) in [(0.0, "0%"), (0.5, "50%"), (1.0, "100%")] {
        let y = top + ph * (1.0 - frac);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"#,
            left - 6.0,
            y + 4.0
        );
    }
    let step = nb.div_ceil(8).max(1);
    for (i, e) in plot.edges_sd.iter().enumerate().step_by(step) {
        let x = left + i as f64 * bw;
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{e:.1}</text>"#,
            top + ph + 16.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">activation, standard deviations from zero (sd = {:.3})</text>"#,
        left + pw / 2.0,
        h - 10.0,
        plot.sd
    );
    for (k, set) in p.sets.iter().enumerate() {
        let y = top + 10.0 + k as f64 * 18.0;
        let x = left + pw + 14.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{} ({})</text>"#,
            y - 10.0,
            PALETTE[k % PALETTE.len()],
            x + 18.0,
            y,
            xml_escape(&set.label),
            set.images
        );
    }
    s.push_str("</svg>\n");
    s
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

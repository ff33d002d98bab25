//! `clipneurons profile`: one neuron's response to labelled image sets and the article's conditional-probability
//! plot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clipneurons_neurons::profile::{plot_svg, profile, world_facet_sets, ImageRef, Pool};
use clipneurons_world::{Split, World};

use crate::args::ProfileArgs;
use crate::io::load_model;

/// `path,label` rows of a CSV (a header row `path,label` is skipped) or a Parquet file with those columns; relative
/// paths are relative to the table's folder.
fn read_table(path: &Path) -> Result<Vec<(PathBuf, String)>> {
    let base = path.parent().unwrap_or(Path::new("."));
    let rows: Vec<(String, String)> = if path.extension().is_some_and(|e| e == "parquet") {
        read_parquet(path)?
    } else {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read the table", path.display()))?;
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let Some((p, l)) = line.rsplit_once(',') else {
                bail!(
                    "{}:{}: expected `path,label`, got `{line}`",
                    path.display(),
                    i + 1
                );
            };
            let (p, l) = (p.trim().trim_matches('"'), l.trim().trim_matches('"'));
            if i == 0 && p == "path" && l == "label" {
                continue;
            }
            if p.is_empty() || l.is_empty() {
                bail!("{}:{}: empty path or label", path.display(), i + 1);
            }
            rows.push((p.to_string(), l.to_string()));
        }
        rows
    };
    Ok(rows.into_iter().map(|(p, l)| (base.join(p), l)).collect())
}

fn read_parquet(path: &Path) -> Result<Vec<(String, String)>> {
    use arrow_array::{Array, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let f =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .and_then(|b| b.build())
        .with_context(|| format!("{}: not a readable Parquet file", path.display()))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.with_context(|| format!("{}: damaged Parquet data", path.display()))?;
        let col = |name: &str| -> Result<StringArray> {
            let c = batch.column_by_name(name).with_context(|| {
                format!(
                    "{}: no `{name}` column (need string columns `path` and `label`)",
                    path.display()
                )
            })?;
            let s = arrow_cast_string(c.as_ref())
                .with_context(|| format!("{}: column `{name}` is not text", path.display()))?;
            Ok(s)
        };
        let (p, l) = (col("path")?, col("label")?);
        for i in 0..batch.num_rows() {
            if p.is_valid(i) && l.is_valid(i) {
                rows.push((p.value(i).to_string(), l.value(i).to_string()));
            }
        }
    }
    Ok(rows)
}

fn arrow_cast_string(a: &dyn arrow_array::Array) -> Option<arrow_array::StringArray> {
    a.as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .cloned()
}

/// The four facets of a world concept from the test split, and other concepts' images of every facet.
fn world_sets(concept: &str, per_set: usize, size: usize) -> Result<Vec<(String, Vec<ImageRef>)>> {
    let world = World::with_size(size as u32);
    let Some(c) = world.concepts().iter().find(|c| c.name == concept) else {
        let names: Vec<&str> = world
            .concepts()
            .iter()
            .take(12)
            .map(|c| c.name.as_str())
            .collect();
        bail!(
            "'{concept}' is not a concept of the built-in world (e.g. {}, ...)",
            names.join(", ")
        );
    };
    let mut sets = world_facet_sets(&world, c, per_set);
    let others: Vec<ImageRef> = (0..)
        .map(|i| world.sample(Split::Test, i, 1))
        .filter(|s| !s.concepts.contains(&c.id))
        .take(4 * per_set)
        .map(|s| ImageRef::Rgb(s.image))
        .collect();
    sets.push(("other concepts".to_string(), others));
    Ok(sets)
}

/// `LABEL=PATH` (a folder searched recursively, a file or a glob) → the label and its image files.
pub(crate) fn labelled_files(spec: &str, flag: &str) -> Result<(String, Vec<PathBuf>)> {
    let Some((label, path)) = spec.split_once('=') else {
        bail!("{flag} takes LABEL=PATH (a folder, file or glob), got `{spec}`");
    };
    let files = clipneurons_neurons::mine::image_files(&[PathBuf::from(path)])
        .with_context(|| format!("set '{label}'"))?;
    Ok((label.to_string(), files))
}

pub fn run_profile(a: ProfileArgs) -> Result<()> {
    let pool: Pool = a.pool.parse().map_err(anyhow::Error::msg)?;
    if let Some(p) = &a.plot {
        crate::attack::writable_file(p)?;
    }
    let m = load_model(&a.model)?;
    let layer = a.layer.clone().unwrap_or_else(|| m.neuron_layer());
    let mut sets: Vec<(String, Vec<ImageRef>)> = Vec::new();
    for spec in &a.sets {
        let (label, files) = labelled_files(spec, "--sets")?;
        sets.push((label, files.into_iter().map(ImageRef::File).collect()));
    }
    if let Some(t) = &a.table {
        let mut by_label: BTreeMap<String, Vec<ImageRef>> = BTreeMap::new();
        for (p, l) in read_table(t)? {
            by_label.entry(l).or_default().push(ImageRef::File(p));
        }
        if by_label.is_empty() {
            bail!("{}: the table has no rows", t.display());
        }
        sets.extend(by_label);
    }
    if let Some(c) = &a.world {
        sets.extend(world_sets(c, a.per_set, m.image_size())?);
    }
    let p = profile(&m, &layer, a.neuron, pool, &sets, a.buckets, a.batch)?;
    for (path, why) in &p.skipped {
        eprintln!("skipped {path}: {why}");
    }
    if let Some(out) = &a.plot {
        clipneurons_checkpoint::write_atomic(out, plot_svg(&p).as_bytes())?;
        eprintln!("wrote {}", out.display());
    }
    if a.json {
        println!("{}", serde_json::to_string(&p)?);
    } else {
        println!("{} neuron {} ({:?} over space):", p.layer, p.neuron, p.pool);
        println!(
            "{:<28} {:>6} {:>9} {:>9} {:>9} {:>9}",
            "set", "images", "mean", "std", "min", "max"
        );
        for s in &p.sets {
            println!(
                "{:<28} {:>6} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                s.label, s.images, s.mean, s.std, s.min, s.max
            );
        }
        if !p.skipped.is_empty() {
            println!("{} unreadable files skipped", p.skipped.len());
        }
    }
    Ok(())
}

//! `clipneurons mine`: stream images through a model once and keep, for every neuron of one layer, the statistics
//! of [`crate::stats`]. Decoding runs on a background thread (in parallel) while the model computes the previous
//! batch; memory does not grow with the number of images (only the image list and the top/bottom-k lists do).
//!
//! A run directory holds `manifest.json` (model hash, layer, inputs, counts, skipped files), `state.json` (the
//! resumable accumulators, rewritten atomically every checkpoint interval) and, when the run completes, the tables
//! (`neurons.parquet`, `examples.parquet`, `images.parquet`) and `histograms.safetensors`.

use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use clipneurons_model::Clip;
use clipneurons_world::{Split, World};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::stats::LayerStats;
use crate::{NeuronError, Result};

/// Bumped when the run-directory layout changes; a run of another version is never resumed.
pub const RUN_FORMAT: u32 = 1;

/// Where the images come from. Files are mined in sorted path order, so a run is reproducible and resumable.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Source {
    Files(Vec<PathBuf>),
    /// WebDataset tar shards (img2dataset's layout), in the given order.
    Shards(Vec<PathBuf>),
    World {
        split: String,
        n: u64,
        seed: u64,
    },
}

/// One input image as the tables name it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ImageRecord {
    /// File path, or `world:SPLIT:SEED:INDEX`.
    pub source: String,
    /// World images: the main concept, family and facet (ground truth for checking a neuron).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concept: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facet: Option<String>,
    /// Shard images: the caption stored beside the image (`KEY.txt`, or `caption` in `KEY.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Skipped {
    pub source: String,
    pub reason: String,
}

/// What identifies a run: a run directory is only resumed or merged with the same model, layer and settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunKey {
    pub format: u32,
    pub model: String,
    pub model_sha256: String,
    pub layer: String,
    /// Activation shape per image: `[C, positions]` (positions = h·w, or tokens).
    pub channels: usize,
    pub positions: usize,
    /// Spatial grid (`[h, w]`) for convolutional layers, to turn positions back into coordinates.
    pub grid: Option<[usize; 2]>,
    pub top_k: usize,
}

/// `manifest.json`: the key, the inputs and the progress.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub key: RunKey,
    pub sources: Vec<Source>,
    /// Inputs consumed so far (images mined + skipped).
    pub consumed: u64,
    pub total_inputs: u64,
    pub images: u64,
    pub skipped: Vec<Skipped>,
    pub complete: bool,
    pub seconds: f64,
    /// The model's input side, to show the images as the model saw them (`examples --sheet`); absent in runs
    /// written before it was recorded.
    #[serde(default)]
    pub image_size: Option<usize>,
}

/// `state.json`: everything needed to resume (or merge).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    pub manifest: Manifest,
    pub images: Vec<ImageRecord>,
    pub stats: LayerStats,
}

pub struct MineOptions {
    pub batch: usize,
    /// Write the resumable state at least this often.
    pub checkpoint_every: Duration,
}

/// The flat list of inputs: files (directories searched recursively for images, sorted) or world samples.
pub enum Inputs {
    Files(Vec<PathBuf>),
    Shards(crate::shards::ShardIndex),
    World {
        world: World,
        split: Split,
        n: u64,
        seed: u64,
    },
}

const IMAGE_EXTENSIONS: [&str; 8] = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"];

impl Inputs {
    pub fn from_sources(sources: &[Source], image_size: usize) -> Result<Inputs> {
        match sources {
            [Source::Shards(paths)] => {
                let mut shards = Vec::new();
                for p in paths {
                    let text = p.to_string_lossy();
                    if text.contains(['*', '?', '[']) {
                        let found = glob::glob(&text)
                            .map_err(|e| NeuronError::Input(format!("bad pattern {text}: {e}")))?;
                        shards.extend(found.flatten());
                    } else {
                        shards.push(p.clone());
                    }
                }
                if shards.is_empty() {
                    return Err(NeuronError::Input(
                        "no shard matches the given patterns".into(),
                    ));
                }
                Ok(Inputs::Shards(crate::shards::index_shards(&shards)?))
            }
            [Source::World { split, n, seed }] => Ok(Inputs::World {
                world: World::with_size(image_size as u32),
                split: split.parse().map_err(NeuronError::Input)?,
                n: *n,
                seed: *seed,
            }),
            _ => {
                let mut files = Vec::new();
                for s in sources {
                    match s {
                        Source::Files(paths) => {
                            for p in paths {
                                collect_files(p, &mut files)?;
                            }
                        }
                        Source::World { .. } | Source::Shards(_) => {
                            return Err(NeuronError::Input(
                                "--world and --shards cannot be combined with other inputs".into(),
                            ))
                        }
                    }
                }
                Ok(Inputs::Files(sorted_nonempty(files)?))
            }
        }
    }

    pub fn len(&self) -> u64 {
        match self {
            Inputs::Files(f) => f.len() as u64,
            Inputs::Shards(s) => s.images.len() as u64,
            Inputs::World { n, .. } => *n,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Input `i` preprocessed to `[3, S, S]`, or why it was skipped.
    fn load(&self, i: u64, size: usize) -> (ImageRecord, std::result::Result<Vec<f32>, String>) {
        match self {
            Inputs::Files(files) => {
                let p = &files[i as usize];
                let rec = ImageRecord {
                    source: p.display().to_string(),
                    concept: None,
                    family: None,
                    facet: None,
                    caption: None,
                };
                let px = clipneurons_image::preprocess_path(p, size).map_err(|e| e.to_string());
                (rec, px)
            }
            Inputs::Shards(index) => {
                let i = i as usize;
                let source = index.source(i);
                let rec = ImageRecord {
                    source: source.clone(),
                    concept: None,
                    family: None,
                    facet: None,
                    caption: index.images[i].caption.clone(),
                };
                let px = index
                    .read(i)
                    .map_err(|e| format!("{source}: {e}"))
                    .and_then(|b| {
                        clipneurons_image::preprocess_bytes(&b, Path::new(&source), size)
                            .map_err(|e| e.to_string())
                    });
                (rec, px)
            }
            Inputs::World {
                world,
                split,
                n: _,
                seed,
            } => {
                let s = world.sample(*split, i, *seed);
                let rec = ImageRecord {
                    source: format!("world:{split}:{seed}:{i}"),
                    concept: s
                        .concepts
                        .first()
                        .map(|&c| world.concepts()[c].name.clone()),
                    family: Some(s.family.clone()),
                    facet: Some(s.facet.name().to_string()),
                    caption: Some(s.caption.clone()),
                };
                let img = image::DynamicImage::ImageRgb8(s.image);
                (rec, Ok(clipneurons_image::preprocess(&img, size)))
            }
        }
    }
}

/// The image files named by `paths` (files, folders searched recursively, glob patterns), sorted, without
/// repeats; an error if there are none.
pub fn image_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        collect_files(p, &mut files)?;
    }
    sorted_nonempty(files)
}

fn sorted_nonempty(mut files: Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Err(NeuronError::Input(
            "no images found in the given inputs (looked for .jpg .jpeg .png .webp .bmp .gif .tif)"
                .into(),
        ));
    }
    Ok(files)
}

fn collect_files(p: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let is_glob = p.to_string_lossy().contains(['*', '?', '[']);
    if is_glob {
        let pattern = p.to_string_lossy();
        let paths = glob::glob(&pattern)
            .map_err(|e| NeuronError::Input(format!("bad pattern {pattern}: {e}")))?;
        for entry in paths.flatten() {
            collect_files(&entry, out)?;
        }
        return Ok(());
    }
    if p.is_dir() {
        let rd = std::fs::read_dir(p)
            .map_err(|e| NeuronError::Input(format!("cannot read folder {}: {e}", p.display())))?;
        for entry in rd.flatten() {
            collect_files(&entry.path(), out)?;
        }
    } else if p.is_file() {
        let ext = p
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if IMAGE_EXTENSIONS.contains(&ext.as_str()) {
            out.push(p.to_path_buf());
        }
    } else {
        return Err(NeuronError::Input(format!(
            "{} does not exist (give image files, folders or glob patterns)",
            p.display()
        )));
    }
    Ok(())
}

/// The activation shape per image of `layer`: `(channels, positions, grid)`.
pub fn layer_geometry(model: &Clip, layer: &str) -> Result<(usize, usize, Option<[usize; 2]>)> {
    let shapes = model.layer_shapes()?;
    let Some((_, shape)) = shapes.iter().find(|(n, _)| n == layer) else {
        return Err(model.unknown_layer(layer).into());
    };
    if !layer.starts_with("visual.") {
        return Err(NeuronError::Input(format!(
            "{layer} is a text layer; mining runs images through the image tower"
        )));
    }
    Ok(match shape.as_slice() {
        [_, c, h, w] => (*c, h * w, Some([*h, *w])),
        // Token layers are recorded [N, T, D]: neurons are the D features, positions the tokens.
        [_, t, d] => (*d, *t, None),
        [_, d] => (*d, 1, None),
        s => {
            return Err(NeuronError::Input(format!(
                "{layer} has shape {s:?}; expected [N, C, H, W], [N, T, D] or [N, D]"
            )))
        }
    })
}

/// `[B, C, P]` activations of `layer` for a batch of pixels, as one flat vector.
fn layer_activations(model: &Clip, layer: &str, pixels: &Tensor) -> Result<Vec<f32>> {
    let rec = model.record(Some(pixels), None, &[layer.to_string()])?;
    let t = &rec[0].1;
    let t = match t.rank() {
        4 => t.flatten_from(2)?,
        3 => t.transpose(1, 2)?, // [N, T, D] -> [N, D, T]
        _ => t.unsqueeze(2)?,
    };
    Ok(t.contiguous()?.flatten_all()?.to_vec1::<f32>()?)
}

/// A decoded batch: records and pixels of the images that loaded, plus what was skipped.
struct Decoded {
    next: u64,
    records: Vec<ImageRecord>,
    pixels: Vec<f32>,
    skipped: Vec<Skipped>,
}

/// Mines inputs `[state.manifest.consumed, total)`, checkpointing `state` into `dir`. `progress(consumed, total)`
/// is called after each batch.
pub fn mine(
    model: &Clip,
    inputs: &Inputs,
    state: &mut RunState,
    dir: &Path,
    opts: &MineOptions,
    mut progress: impl FnMut(u64, u64),
) -> Result<()> {
    let size = model.image_size();
    let total = inputs.len();
    let batch = opts.batch.max(1) as u64;
    let key = state.manifest.key.clone();
    let t_start = Instant::now();
    let seconds_before = state.manifest.seconds;
    let mut last_save = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        // Decoding one batch ahead on its own thread (rayon inside) while the model runs.
        let (tx, rx) = sync_channel::<Decoded>(1);
        let start = state.manifest.consumed;
        scope.spawn(move || {
            let mut at = start;
            while at < total {
                let end = (at + batch).min(total);
                let loaded: Vec<_> = (at..end)
                    .into_par_iter()
                    .map(|i| inputs.load(i, size))
                    .collect();
                let mut d = Decoded {
                    next: end,
                    records: Vec::new(),
                    pixels: Vec::with_capacity(loaded.len() * 3 * size * size),
                    skipped: Vec::new(),
                };
                for (rec, px) in loaded {
                    match px {
                        Ok(px) => {
                            d.records.push(rec);
                            d.pixels.extend_from_slice(&px);
                        }
                        Err(reason) => d.skipped.push(Skipped {
                            source: rec.source,
                            reason,
                        }),
                    }
                }
                if tx.send(d).is_err() {
                    return;
                }
                at = end;
            }
        });
        for d in rx {
            let n = d.records.len();
            if n > 0 {
                let pixels = Tensor::from_vec(d.pixels, (n, 3, size, size), &Device::Cpu)?;
                let acts = layer_activations(model, &key.layer, &pixels)?;
                let first = state.images.len() as u64;
                state.stats.add_batch(&acts, n, key.positions, first);
                state.images.extend(d.records);
            }
            state.manifest.skipped.extend(d.skipped);
            state.manifest.consumed = d.next;
            state.manifest.images = state.images.len() as u64;
            state.manifest.seconds = seconds_before + t_start.elapsed().as_secs_f64();
            progress(d.next, total);
            if last_save.elapsed() >= opts.checkpoint_every && d.next < total {
                save_state(dir, state)?;
                last_save = Instant::now();
            }
        }
        Ok(())
    })?;
    state.manifest.complete = state.manifest.consumed >= total;
    save_state(dir, state)?;
    Ok(())
}

/// Writes `bytes` to `path` atomically (`clipneurons_checkpoint::write_atomic`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    clipneurons_checkpoint::write_atomic(path, bytes).map_err(|e| NeuronError::Input(e.to_string()))
}

/// `state.json` and `manifest.json`, each written atomically (state first: the manifest never claims more).
pub fn save_state(dir: &Path, state: &RunState) -> Result<()> {
    let json = serde_json::to_vec(state).map_err(|e| NeuronError::Input(e.to_string()))?;
    write_atomic(&dir.join("state.json"), &json)?;
    let m = serde_json::to_vec_pretty(&state.manifest)
        .map_err(|e| NeuronError::Input(e.to_string()))?;
    write_atomic(&dir.join("manifest.json"), &m)
}

pub fn load_state(dir: &Path) -> Result<RunState> {
    let path = dir.join("state.json");
    let bytes = std::fs::read(&path).map_err(|e| {
        NeuronError::Input(format!(
            "cannot read {}: {e} (is {} a mining run?)",
            path.display(),
            dir.display()
        ))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        NeuronError::Input(format!(
            "{} is damaged ({e}); delete the run folder and mine again",
            path.display()
        ))
    })
}

/// Combines runs over different inputs, in the given order, into one state (image indices renumbered). Every run
/// must be complete and have the same key.
pub fn merge_states(runs: Vec<(PathBuf, RunState)>) -> Result<RunState> {
    let mut it = runs.into_iter();
    let Some((first_dir, mut acc)) = it.next() else {
        return Err(NeuronError::Input("give at least one run to merge".into()));
    };
    let check_complete = |d: &Path, s: &RunState| {
        if s.manifest.complete {
            Ok(())
        } else {
            Err(NeuronError::Input(format!(
                "{} is not complete ({} of {} inputs); finish it with `mine --resume` first",
                d.display(),
                s.manifest.consumed,
                s.manifest.total_inputs
            )))
        }
    };
    check_complete(&first_dir, &acc)?;
    for (dir, s) in it {
        check_complete(&dir, &s)?;
        if s.manifest.key != acc.manifest.key {
            return Err(NeuronError::Input(format!(
                "{} was mined with a different model, layer or --top-k than {} ({:?} vs {:?})",
                dir.display(),
                first_dir.display(),
                s.manifest.key,
                acc.manifest.key
            )));
        }
        let offset = acc.images.len() as u64;
        acc.stats.merge(&s.stats, offset);
        acc.images.extend(s.images);
        let m = &mut acc.manifest;
        m.sources.extend(s.manifest.sources);
        m.consumed += s.manifest.consumed;
        m.total_inputs += s.manifest.total_inputs;
        m.skipped.extend(s.manifest.skipped);
        m.seconds += s.manifest.seconds;
    }
    acc.manifest.images = acc.images.len() as u64;
    Ok(acc)
}

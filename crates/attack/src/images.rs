//! The images an attack or a probe runs on, held as the model sees them (resized and centre-cropped RGB), each
//! with its true class when known.

use std::path::PathBuf;

use clipneurons_world::{Facet, Family, Split, World};
use image::RgbImage;

use crate::Result;

pub struct Item {
    /// File path, or `world:SPLIT:CONCEPT:INDEX`.
    pub name: String,
    /// The model's view: `size` × `size` RGB.
    pub rgb: RgbImage,
    /// The true class as written in the data (a folder name, a world concept); matched to labels by
    /// [`normalise_label`].
    pub truth: Option<String>,
}

#[derive(Default)]
pub struct ImageSet {
    pub items: Vec<Item>,
    /// Files that could not be read: (path, reason). They are counted and reported, never fatal.
    pub skipped: Vec<(String, String)>,
}

/// Labels compare case-insensitively with `_` and `-` as spaces, so a folder `granny_smith` is the class
/// "Granny Smith".
pub fn normalise_label(s: &str) -> String {
    s.trim()
        .to_lowercase()
        .replace(['_', '-'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl ImageSet {
    /// Image files, folders (recursive) or globs. An image's true class is the name of the folder holding it
    /// (ImageNet's `train/<class>/x.jpg` layout); it counts only if it names one of the labels.
    pub fn from_paths(paths: &[PathBuf], size: usize) -> Result<ImageSet> {
        let files = clipneurons_neurons::mine::image_files(paths)?;
        let mut set = ImageSet::default();
        for f in files {
            match clipneurons_image::model_view(&f, size) {
                Ok(rgb) => set.items.push(Item {
                    name: f.display().to_string(),
                    rgb,
                    truth: f
                        .parent()
                        .and_then(|p| p.file_name())
                        .map(|n| n.to_string_lossy().to_string()),
                }),
                Err(e) => set.skipped.push((f.display().to_string(), e.to_string())),
            }
        }
        Ok(set)
    }

    /// Photos of the world's objects, animals and plants (the things a label can sit on): `per_concept` of each
    /// from `split`, deterministic in `seed`.
    pub fn world_objects(split: Split, per_concept: usize, size: usize, seed: u64) -> ImageSet {
        let world = World::with_size(size as u32);
        let mut set = ImageSet::default();
        for c in world.concepts() {
            if !matches!(c.family, Family::Object | Family::Animal | Family::Plant) {
                continue;
            }
            for i in 0..per_concept {
                let s = world.sample_of(split, i as u64, seed, c.id, Facet::Photo);
                set.items.push(Item {
                    name: format!("world:{split}:{}:{i}", c.name),
                    rgb: s.image,
                    truth: Some(c.name.clone()),
                });
            }
        }
        set
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

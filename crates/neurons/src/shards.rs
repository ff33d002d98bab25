//! WebDataset tar shards as img2dataset writes them: members grouped by key (`00001.jpg`, `00001.txt`,
//! `00001.json`), one image per key. The shards are indexed once (member offsets, captions), so any image can be read
//! again by its index — what resuming a run and contact sheets need — without unpacking anything.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::{NeuronError, Result};

const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "bmp", "gif"];

/// One image of a shard.
#[derive(Clone, Debug)]
pub struct ShardImage {
    pub shard: usize,
    /// Member name inside the tar (`00001.jpg`).
    pub member: String,
    offset: u64,
    size: u64,
    /// From `KEY.txt`, or the `caption` field of `KEY.json`.
    pub caption: Option<String>,
}

pub struct ShardIndex {
    pub shards: Vec<PathBuf>,
    pub images: Vec<ShardImage>,
    /// Shards that ended early (truncated or damaged): the images indexed before the damage are kept.
    pub problems: Vec<(String, String)>,
}

/// `dir/name.ext` → (`dir/name`, `ext`): WebDataset's key is everything before the first dot of the file name.
fn split_key(member: &str) -> Option<(String, String)> {
    let (dir, file) = member.rsplit_once('/').unwrap_or(("", member));
    let (stem, ext) = file.split_once('.')?;
    let key = if dir.is_empty() {
        stem.to_string()
    } else {
        format!("{dir}/{stem}")
    };
    Some((key, ext.to_ascii_lowercase()))
}

fn caption_of_json(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    v.get("caption")?.as_str().map(String::from)
}

struct Pending {
    image: Option<(String, u64, u64)>,
    caption: Option<String>,
}

/// Index the members of `shards` (in the given order). A shard that cannot be opened is an error; one that is
/// damaged part-way is indexed up to the damage and reported in `problems`.
pub fn index_shards(shards: &[PathBuf]) -> Result<ShardIndex> {
    let mut out = ShardIndex {
        shards: shards.to_vec(),
        images: Vec::new(),
        problems: Vec::new(),
    };
    for (si, path) in shards.iter().enumerate() {
        let f = File::open(path).map_err(|e| {
            NeuronError::Input(format!("cannot open the shard {}: {e}", path.display()))
        })?;
        let mut archive = tar::Archive::new(f);
        let entries = archive.entries().map_err(|e| {
            NeuronError::Input(format!("{} is not a tar file: {e}", path.display()))
        })?;
        // Keys in the order they first appear; members of a key are adjacent in img2dataset's shards.
        let mut keys: BTreeMap<String, (usize, Pending)> = BTreeMap::new();
        let mut order = 0usize;
        for entry in entries {
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    out.problems.push((
                        path.display().to_string(),
                        format!("damaged after {order} members: {e}"),
                    ));
                    break;
                }
            };
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = match entry.path() {
                Ok(p) => p.to_string_lossy().to_string(),
                Err(_) => continue,
            };
            let Some((key, ext)) = split_key(&name) else {
                continue;
            };
            let slot = keys.entry(key).or_insert_with(|| {
                order += 1;
                (
                    order,
                    Pending {
                        image: None,
                        caption: None,
                    },
                )
            });
            if IMAGE_EXTENSIONS.contains(&ext.as_str()) {
                slot.1.image = Some((name, entry.raw_file_position(), entry.size()));
            } else if ext == "txt" || ext == "json" {
                let mut text = String::new();
                if entry.read_to_string(&mut text).is_ok() {
                    let cap = if ext == "txt" {
                        Some(text.trim().to_string())
                    } else {
                        caption_of_json(&text)
                    };
                    if ext == "txt" || slot.1.caption.is_none() {
                        slot.1.caption = cap.or(slot.1.caption.take());
                    }
                }
            }
        }
        let mut found: Vec<(usize, ShardImage)> = keys
            .into_values()
            .filter_map(|(o, p)| {
                let (member, offset, size) = p.image?;
                Some((
                    o,
                    ShardImage {
                        shard: si,
                        member,
                        offset,
                        size,
                        caption: p.caption,
                    },
                ))
            })
            .collect();
        found.sort_by_key(|(o, _)| *o);
        out.images.extend(found.into_iter().map(|(_, i)| i));
    }
    if out.images.is_empty() {
        return Err(NeuronError::Input(
            "the shards hold no images (members named KEY.jpg/.png/.webp/...)".into(),
        ));
    }
    Ok(out)
}

impl ShardIndex {
    /// `SHARD:MEMBER`, how tables name the image.
    pub fn source(&self, i: usize) -> String {
        let im = &self.images[i];
        format!("{}:{}", self.shards[im.shard].display(), im.member)
    }

    /// The bytes of image `i`.
    pub fn read(&self, i: usize) -> std::io::Result<Vec<u8>> {
        let im = &self.images[i];
        read_at(&self.shards[im.shard], im.offset, im.size)
    }
}

fn read_at(path: &Path, offset: u64, size: u64) -> std::io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; size as usize];
    f.read_exact(&mut buf)?;
    Ok(buf)
}

/// The bytes of `member` in the tar at `shard` (a linear scan; for showing a few images again).
pub fn read_member(shard: &Path, member: &str) -> Result<Vec<u8>> {
    let f = File::open(shard)
        .map_err(|e| NeuronError::Input(format!("cannot open {}: {e}", shard.display())))?;
    let mut archive = tar::Archive::new(f);
    let entries = archive
        .entries()
        .map_err(|e| NeuronError::Input(format!("{}: {e}", shard.display())))?;
    for entry in entries.flatten() {
        if entry.path().is_ok_and(|p| p.to_string_lossy() == member) {
            let mut entry = entry;
            let mut buf = Vec::new();
            entry
                .read_to_end(&mut buf)
                .map_err(|e| NeuronError::Input(format!("{}:{member}: {e}", shard.display())))?;
            return Ok(buf);
        }
    }
    Err(NeuronError::Input(format!(
        "{} no longer holds {member}",
        shard.display()
    )))
}

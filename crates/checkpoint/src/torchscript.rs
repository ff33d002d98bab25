//! PyTorch zip archives: OpenAI's TorchScript `.pt` files and plain `torch.save` files.
//!
//! Both are uncompressed zips with one top-level folder holding `data.pkl` (the pickled object)
//! and `data/<n>` (raw little-endian storages). TorchScript archives additionally carry `code/`
//! and `constants.pkl`; that is how we tell them apart. The file is memory-mapped and storages
//! are sliced straight out of the map, so each tensor is copied exactly once (into its f32 buffer).

use std::collections::HashMap;
use std::path::Path;

use memmap2::Mmap;

use crate::convert::RawTensor;
use crate::error::{bad_tensor, one_line, CheckpointError};
use crate::pickle_walk::{self, PickledTensor, Walked};

struct Entry {
    start: usize,
    len: usize,
    stored: bool,
}

/// An opened PyTorch zip archive.
pub(crate) struct TorchZip {
    mmap: Mmap,
    entries: HashMap<String, Entry>,
    /// `<folder>/` holding data.pkl (empty if data.pkl is at the root).
    prefix: String,
    pub is_torchscript: bool,
}

pub(crate) fn map_file(path: &Path) -> Result<Mmap, CheckpointError> {
    let file = std::fs::File::open(path).map_err(|e| crate::error::open_error(path, e))?;
    // SAFETY: the map is read-only; as for every memory-mapped loader (candle, safetensors),
    // the file must not be truncated by another process while we read it.
    unsafe { Mmap::map(&file) }.map_err(|e| crate::error::unreadable(path, e))
}

impl TorchZip {
    pub fn open(path: &Path) -> Result<Self, CheckpointError> {
        let mmap = map_file(path)?;
        let corrupt = |detail: String| CheckpointError::CorruptZip {
            path: path.to_path_buf(),
            detail,
        };
        // The sniffer saw a local header at byte 0, so the archive starts there. Saying so
        // matters: zip 9.9's automatic archive-offset detection rejects some valid PyTorch
        // archives with "Invalid Central Directory header".
        let config = zip::read::Config {
            archive_offset: zip::read::ArchiveOffset::Known(0),
        };
        let mut archive = zip::ZipArchive::with_config(config, std::io::Cursor::new(&mmap[..]))
            .map_err(|e| corrupt(one_line(e)))?;
        let mut entries = HashMap::with_capacity(archive.len());
        for i in 0..archive.len() {
            let file = archive
                .by_index_raw(i)
                .map_err(|e| corrupt(format!("entry #{i}: {}", one_line(e))))?;
            let name = String::from_utf8_lossy(file.name_raw()).into_owned();
            let len = file.compressed_size();
            let start = file
                .data_start()
                .ok_or_else(|| corrupt(format!("entry {name} has no data offset")))?;
            let end = start.saturating_add(len);
            if end > mmap.len() as u64 {
                return Err(corrupt(format!(
                    "entry {name} ends at byte {end} but the file has {} bytes",
                    mmap.len()
                )));
            }
            let stored = file.compression() == zip::CompressionMethod::Stored;
            entries.insert(
                name,
                Entry {
                    start: start as usize,
                    len: len as usize,
                    stored,
                },
            );
        }
        drop(archive);

        let mut pkl: Vec<&String> = entries
            .keys()
            .filter(|n| {
                n.as_str() == "data.pkl"
                    || n.strip_suffix("/data.pkl")
                        .is_some_and(|d| !d.contains('/'))
            })
            .collect();
        pkl.sort();
        let Some(pkl) = pkl.first() else {
            let mut names: Vec<&String> = entries.keys().collect();
            names.sort();
            let shown: Vec<&str> = names.iter().take(5).map(|s| s.as_str()).collect();
            return Err(CheckpointError::NoDataPkl {
                path: path.to_path_buf(),
                detail: format!("{} entries, e.g. {}", names.len(), shown.join(", ")),
            });
        };
        let prefix = pkl.strip_suffix("data.pkl").unwrap_or_default().to_string();
        let is_torchscript = entries.keys().any(|n| {
            n.strip_prefix(prefix.as_str())
                .is_some_and(|r| r.starts_with("code/") || r == "constants.pkl")
        });
        Ok(Self {
            mmap,
            entries,
            prefix,
            is_torchscript,
        })
    }

    /// Bytes of a stored entry; `Err` carries the reason for the caller's message.
    fn entry(&self, name: &str) -> Option<Result<&[u8], String>> {
        let e = self.entries.get(name)?;
        if !e.stored {
            return Some(Err(format!(
                "zip entry {name} is compressed, but PyTorch archives store entries uncompressed (was the archive repacked?)"
            )));
        }
        Some(Ok(&self.mmap[e.start..e.start + e.len]))
    }

    fn pickle_entry(&self) -> String {
        format!("{}data.pkl", self.prefix)
    }

    /// Decodes data.pkl and collects every tensor in it.
    pub fn walk(&self, path: &Path) -> Result<Walked, CheckpointError> {
        let entry = self.pickle_entry();
        let unsupported = |detail: String| CheckpointError::UnsupportedPickle {
            path: path.to_path_buf(),
            entry: entry.clone(),
            detail,
        };
        if let Some(Ok(order)) = self.entry(&format!("{}byteorder", self.prefix)) {
            if order.trim_ascii() == b"big" {
                return Err(unsupported(
                    "the archive was written on a big-endian machine".into(),
                ));
            }
        }
        let bytes = match self.entry(&entry) {
            Some(Ok(b)) => b,
            Some(Err(e)) => return Err(unsupported(e)),
            None => return Err(unsupported("entry vanished".into())),
        };
        let root = pickle_walk::decode(bytes).map_err(unsupported)?;
        pickle_walk::walk_root(root).map_err(unsupported)
    }

    /// Locates a pickled tensor's storage inside the archive.
    pub fn raw_tensor(
        &self,
        path: &Path,
        t: &PickledTensor,
        key: &str,
    ) -> Result<RawTensor<'_>, CheckpointError> {
        let elem = t
            .elem
            .clone()
            .map_err(|storage| CheckpointError::UnknownStorage {
                path: path.to_path_buf(),
                key: key.to_string(),
                storage: format!("torch.{storage}"),
            })?;
        let name = format!("{}data/{}", self.prefix, t.storage);
        let bytes = match self.entry(&name) {
            Some(Ok(b)) => b,
            Some(Err(e)) => return Err(bad_tensor(path, key, e)),
            None => {
                return Err(bad_tensor(
                    path,
                    key,
                    format!("its storage entry {name} is missing from the archive"),
                ))
            }
        };
        let need = t.storage_numel.saturating_mul(elem.size());
        if bytes.len() < need {
            return Err(bad_tensor(
                path,
                key,
                format!(
                    "storage entry {name} holds {} bytes but the pickle declares {} {} elements",
                    bytes.len(),
                    t.storage_numel,
                    elem.name()
                ),
            ));
        }
        Ok(RawTensor {
            bytes: &bytes[..need],
            elem,
            offset: t.offset,
            shape: t.shape.clone(),
            stride: Some(t.stride.clone()),
        })
    }
}

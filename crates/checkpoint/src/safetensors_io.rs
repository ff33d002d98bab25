//! Reading (memory-mapped, zero-copy until the f32 conversion) and atomic writing of
//! safetensors files.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use memmap2::Mmap;
use safetensors::SafeTensors;

use crate::convert::{ElemType, RawTensor};
use crate::error::{one_line, CheckpointError};

fn header_error(path: &Path, detail: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::SafetensorsHeader {
        path: path.to_path_buf(),
        detail: one_line(detail),
    }
}

/// Reads only the JSON header and returns the tensor names; used by format detection so that
/// detecting a multi-GB file costs one small read.
pub(crate) fn header_keys(path: &Path) -> Result<Vec<String>, CheckpointError> {
    let mut file = std::fs::File::open(path).map_err(|e| crate::error::open_error(path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| crate::error::unreadable(path, e))?
        .len();
    let mut n = [0u8; 8];
    file.read_exact(&mut n)
        .map_err(|_| header_error(path, "file shorter than the 8-byte header length"))?;
    let n = u64::from_le_bytes(n);
    if n.saturating_add(8) > file_len {
        return Err(header_error(
            path,
            format!("header length {n} exceeds the file size {file_len}"),
        ));
    }
    // safetensors caps headers at 100 MB; refuse absurd lengths before allocating.
    if n > 100_000_000 {
        return Err(header_error(
            path,
            format!("header length {n} is implausibly large"),
        ));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header)
        .map_err(|e| header_error(path, e))?;
    let value: serde_json::Value = serde_json::from_slice(&header)
        .map_err(|e| header_error(path, format!("header is not JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| header_error(path, "header is not a JSON object"))?;
    Ok(obj
        .keys()
        .filter(|k| k.as_str() != "__metadata__")
        .cloned()
        .collect())
}

/// A tensor view, or the name of its unsupported dtype.
pub(crate) type MaybeRaw<'a> = Result<RawTensor<'a>, String>;

/// The bytes of a safetensors file: memory-mapped from disk, or compiled into the binary (the
/// built-in model).
enum Backing {
    Mapped(Mmap),
    Static(&'static [u8]),
}

/// A safetensors file; the `safetensors` crate validates it in `raw_tensors`.
pub(crate) struct MappedSafetensors {
    bytes: Backing,
}

impl MappedSafetensors {
    pub fn open(path: &Path) -> Result<Self, CheckpointError> {
        // Run the cheap header checks first for a precise message on truncated files.
        header_keys(path)?;
        let mmap = crate::torchscript::map_file(path)?;
        Ok(Self {
            bytes: Backing::Mapped(mmap),
        })
    }

    pub fn from_static(bytes: &'static [u8]) -> Self {
        Self {
            bytes: Backing::Static(bytes),
        }
    }

    fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Backing::Mapped(m) => m,
            Backing::Static(s) => s,
        }
    }

    /// The header's `__metadata__` map (empty when absent).
    pub fn metadata(&self, path: &Path) -> Result<BTreeMap<String, String>, CheckpointError> {
        let (_, meta) =
            SafeTensors::read_metadata(self.bytes()).map_err(|e| header_error(path, e))?;
        Ok(meta
            .metadata()
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    /// All tensors as raw views; an unsupported dtype is returned as `Err(name)` so it is only
    /// reported if the key is actually used.
    pub fn raw_tensors(&self, path: &Path) -> Result<Vec<(String, MaybeRaw<'_>)>, CheckpointError> {
        let st = SafeTensors::deserialize(self.bytes()).map_err(|e| header_error(path, e))?;
        Ok(st
            .tensors()
            .into_iter()
            .map(|(name, view)| {
                let raw = match ElemType::from_safetensors(view.dtype()) {
                    Some(elem) => Ok(RawTensor {
                        bytes: view.data(),
                        elem,
                        offset: 0,
                        shape: view.shape().to_vec(),
                        stride: None,
                    }),
                    None => Err(format!("{:?}", view.dtype())),
                };
                (name, raw)
            })
            .collect())
    }
}

/// Element type a file is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreDtype {
    F32,
    /// Half the size; weights of trained models lose nothing that matters (≈1e-3 relative).
    F16,
}

/// Owned little-endian bytes for serialisation.
struct OwnedView {
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl safetensors::View for &OwnedView {
    fn dtype(&self) -> safetensors::Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Writes tensors as safetensors via a temporary file in the same directory and a rename, so a
/// crash never leaves a half-written checkpoint under the final name. `metadata` goes into the
/// header's `__metadata__` next to `format: pt`.
pub(crate) fn save(
    tensors: &BTreeMap<String, Tensor>,
    path: &Path,
    dtype: StoreDtype,
    metadata: &BTreeMap<String, String>,
) -> Result<(), CheckpointError> {
    let write_err = |detail: String| CheckpointError::Write {
        path: path.to_path_buf(),
        detail,
    };
    let mut views = BTreeMap::new();
    for (key, t) in tensors {
        let data = t
            .to_device(&Device::Cpu)
            .and_then(|t| t.to_dtype(DType::F32))
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| write_err(format!("tensor '{key}': {}", crate::error::candle_msg(&e))))?;
        let (st_dtype, bytes): (_, Vec<u8>) = match dtype {
            StoreDtype::F32 => (
                safetensors::Dtype::F32,
                data.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            StoreDtype::F16 => (
                safetensors::Dtype::F16,
                data.iter()
                    .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                    .collect(),
            ),
        };
        views.insert(
            key.clone(),
            OwnedView {
                dtype: st_dtype,
                shape: t.dims().to_vec(),
                data: bytes,
            },
        );
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| write_err("the path has no file name".into()))?
        .to_string_lossy()
        .into_owned();
    if !dir.is_dir() {
        return Err(write_err(format!(
            "directory {} does not exist",
            dir.display()
        )));
    }
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let mut metadata: HashMap<String, String> = metadata.clone().into_iter().collect();
    metadata.insert("format".to_string(), "pt".to_string());
    let result = safetensors::serialize_to_file(views.iter(), Some(metadata), &tmp)
        .map_err(|e| write_err(one_line(e)))
        .and_then(|()| {
            // Flush to disk before the rename makes the file visible under its final name.
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(|e| write_err(one_line(e)))
        })
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| write_err(one_line(e))));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

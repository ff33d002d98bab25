//! Load any CLIP checkpoint into a map of f32 CPU candle tensors named with the OpenAI/open_clip
//! state-dict keys (`visual.layer1.0.conv1.weight`, `transformer.resblocks.0.attn.in_proj_weight`).
//!
//! Supported inputs, recognised from the file content rather than the extension:
//! * OpenAI's released `.pt` files (TorchScript zip archives with a nested module pickle),
//! * plain `torch.save(state_dict)` zips (`.pt`/`.bin`, also training checkpoints holding a
//!   `state_dict` entry and `module.`-prefixed keys),
//! * open_clip `.safetensors`,
//! * HF-transformers `CLIPModel` files (ViT only), mapped back to OpenAI names.
//!
//! Pickles are decoded as data only; no Python object is ever constructed or executed.

mod convert;
mod detect;
mod error;
mod hf;
mod pickle_walk;
mod safetensors_io;
mod torchscript;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::Tensor;
use rayon::prelude::*;

pub use error::CheckpointError;
pub use safetensors_io::StoreDtype;

use convert::RawTensor;
use detect::Container;

/// Which on-disk layout a checkpoint had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckpointFormat {
    /// OpenAI's released TorchScript archive (`torch.jit.save`), fp16 weights.
    OpenAiTorchScript,
    /// A `torch.save` zip of a state dict (OpenAI key names).
    TorchStateDict,
    /// open_clip safetensors (OpenAI key names).
    OpenClipSafetensors,
    /// HF-transformers `CLIPModel` layout (safetensors or `pytorch_model.bin`), ViT only.
    HfTransformers,
}

impl std::fmt::Display for CheckpointFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::OpenAiTorchScript => "OpenAI TorchScript archive",
            Self::TorchStateDict => "PyTorch state dict",
            Self::OpenClipSafetensors => "open_clip safetensors",
            Self::HfTransformers => "HF transformers CLIPModel",
        })
    }
}

/// A loaded checkpoint: every weight as an f32 CPU tensor under its OpenAI/open_clip key.
#[derive(Debug)]
pub struct Checkpoint {
    pub path: PathBuf,
    pub format: CheckpointFormat,
    pub tensors: BTreeMap<String, Tensor>,
    /// Keys present in the file but deliberately not loaded (`attn_mask`, `input_resolution`,
    /// `context_length`, `vocab_size`, `*.num_batches_tracked`, `position_ids`, unknown HF keys).
    pub ignored: Vec<String>,
    /// Element type each tensor had on disk (`f16`, `f32`, `bf16`, ...), by output key.
    pub source_dtypes: BTreeMap<String, String>,
    /// Things skipped with a reason (unknown pickled objects, unrecognised HF keys); empty for
    /// well-formed CLIP checkpoints, worth printing otherwise.
    pub warnings: Vec<String>,
    /// A safetensors header's `__metadata__` (name, training recipe, ...); empty for zip files.
    pub metadata: BTreeMap<String, String>,
}

impl Checkpoint {
    /// Shorthand for `self.tensors.get(key)`.
    pub fn get(&self, key: &str) -> Option<&Tensor> {
        self.tensors.get(key)
    }

    /// True for a ViT image tower (OpenAI's `build_model` test: `visual.proj` exists).
    pub fn is_vit(&self) -> bool {
        self.tensors.contains_key("visual.proj")
    }
}

/// Names of non-weight entries found in real checkpoints: the JIT archives' hyper-parameter
/// tensors, causal masks, BN step counters and HF's position-id buffers.
const IGNORED_NAMES: [&str; 6] = [
    "attn_mask",
    "input_resolution",
    "context_length",
    "vocab_size",
    "num_batches_tracked",
    "position_ids",
];

fn is_ignored(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    IGNORED_NAMES.contains(&last)
}

/// Wrappers that training code puts in front of every key (DDP `module.`, `torch.compile`'s
/// `_orig_mod.`, checkpoint dicts flattened as `state_dict.`/`model.`).
const WRAPPER_PREFIXES: [&str; 4] = ["module.", "_orig_mod.", "state_dict.", "model."];

/// Length of the wrapper prefix shared by all keys (possibly several stacked), or 0.
fn wrapper_prefix_len<'a>(keys: impl Iterator<Item = &'a str> + Clone) -> usize {
    let Some(first) = keys.clone().next() else {
        return 0;
    };
    let mut len = 0;
    'outer: loop {
        for p in WRAPPER_PREFIXES {
            let candidate = len + p.len();
            if first.get(len..candidate) == Some(p)
                && keys
                    .clone()
                    .all(|k| k.get(len..candidate) == Some(p) && k.len() > candidate)
            {
                len = candidate;
                continue 'outer;
            }
        }
        return len;
    }
}

/// Tensor views collected from a container, before conversion.
struct Collected<'a> {
    raw: Vec<(String, RawTensor<'a>)>,
    ignored: Vec<String>,
    warnings: Vec<String>,
}

type TensorMap = BTreeMap<String, Tensor>;
type DtypeMap = BTreeMap<String, String>;

/// Converts all views to f32 tensors in parallel (one copy per tensor).
fn convert_all(
    path: &Path,
    raw: Vec<(String, RawTensor<'_>)>,
) -> Result<(TensorMap, DtypeMap), CheckpointError> {
    let converted: Vec<(String, Tensor, &'static str)> = raw
        .into_par_iter()
        .map(|(key, r)| {
            let t = convert::to_f32_tensor(&r).map_err(|e| error::bad_tensor(path, &key, e))?;
            Ok((key, t, r.elem.name()))
        })
        .collect::<Result<_, CheckpointError>>()?;
    let mut tensors = BTreeMap::new();
    let mut dtypes = BTreeMap::new();
    for (key, t, d) in converted {
        dtypes.insert(key.clone(), d.to_string());
        tensors.insert(key, t);
    }
    Ok((tensors, dtypes))
}

fn collect_zip<'a>(
    path: &Path,
    zip: &'a torchscript::TorchZip,
) -> Result<Collected<'a>, CheckpointError> {
    let walked = zip.walk(path)?;
    let strip = wrapper_prefix_len(walked.tensors.iter().map(|t| t.key.as_str()));
    let mut c = Collected {
        raw: Vec::with_capacity(walked.tensors.len()),
        ignored: Vec::new(),
        warnings: walked.warnings,
    };
    for t in &walked.tensors {
        let key = &t.key[strip..];
        if is_ignored(key) {
            c.ignored.push(key.to_string());
            continue;
        }
        c.raw.push((key.to_string(), zip.raw_tensor(path, t, key)?));
    }
    Ok(c)
}

fn collect_safetensors<'a>(
    path: &Path,
    st: &'a safetensors_io::MappedSafetensors,
) -> Result<Collected<'a>, CheckpointError> {
    let all = st.raw_tensors(path)?;
    let strip = wrapper_prefix_len(all.iter().map(|(k, _)| k.as_str()));
    let mut c = Collected {
        raw: Vec::with_capacity(all.len()),
        ignored: Vec::new(),
        warnings: Vec::new(),
    };
    for (name, raw) in all {
        let key = &name[strip..];
        if is_ignored(key) {
            c.ignored.push(key.to_string());
            continue;
        }
        let raw = raw.map_err(|dtype| CheckpointError::UnknownStorage {
            path: path.to_path_buf(),
            key: key.to_string(),
            storage: format!("safetensors dtype {dtype}"),
        })?;
        c.raw.push((key.to_string(), raw));
    }
    Ok(c)
}

/// Loads a checkpoint of any supported format (see the crate docs) as f32 CPU tensors with
/// OpenAI/open_clip key names.
pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let container = detect::sniff(path)?;
    let mut metadata = BTreeMap::new();
    let (format, tensors, dtypes, ignored, warnings) = match container {
        Container::Zip => {
            let zip = torchscript::TorchZip::open(path)?;
            let format = if zip.is_torchscript {
                CheckpointFormat::OpenAiTorchScript
            } else {
                CheckpointFormat::TorchStateDict
            };
            let c = collect_zip(path, &zip)?;
            let (t, d) = convert_all(path, c.raw)?;
            (format, t, d, c.ignored, c.warnings)
        }
        Container::Safetensors => {
            let st = safetensors_io::MappedSafetensors::open(path)?;
            metadata = st.metadata(path)?;
            let c = collect_safetensors(path, &st)?;
            let (t, d) = convert_all(path, c.raw)?;
            (
                CheckpointFormat::OpenClipSafetensors,
                t,
                d,
                c.ignored,
                c.warnings,
            )
        }
    };
    finish(path, format, tensors, dtypes, ignored, warnings, metadata)
}

/// Loads a safetensors checkpoint compiled into the program (the built-in model); `label` names
/// it in messages and in `Checkpoint::path`.
pub fn load_static_safetensors(
    bytes: &'static [u8],
    label: &Path,
) -> Result<Checkpoint, CheckpointError> {
    let st = safetensors_io::MappedSafetensors::from_static(bytes);
    let metadata = st.metadata(label)?;
    let c = collect_safetensors(label, &st)?;
    let (t, d) = convert_all(label, c.raw)?;
    finish(
        label,
        CheckpointFormat::OpenClipSafetensors,
        t,
        d,
        c.ignored,
        c.warnings,
        metadata,
    )
}

/// What every loader does after reading raw tensors: the HF key mapping, the 0-d logit scale,
/// and the check that the file holds a CLIP at all.
fn finish(
    path: &Path,
    mut format: CheckpointFormat,
    mut tensors: BTreeMap<String, Tensor>,
    mut dtypes: BTreeMap<String, String>,
    mut ignored: Vec<String>,
    mut warnings: Vec<String>,
    metadata: BTreeMap<String, String>,
) -> Result<Checkpoint, CheckpointError> {
    if hf::is_hf_layout(tensors.keys().map(String::as_str)) {
        format = CheckpointFormat::HfTransformers;
        let mapped = hf::to_openai(path, tensors, &dtypes)?;
        for k in &mapped.unknown {
            warnings.push(format!(
                "skipped '{k}': not part of the HF CLIPModel layout"
            ));
        }
        ignored.extend(mapped.unknown);
        tensors = mapped.tensors;
        dtypes = mapped.source_dtypes;
    }
    // open_clip has stored logit_scale both as 0-d and as [1]; models expect 0-d.
    if let Some(ls) = tensors.get("logit_scale") {
        if ls.dims() == [1] {
            let scalar = ls
                .reshape(())
                .map_err(|e| error::bad_tensor(path, "logit_scale", error::candle_msg(&e)))?;
            tensors.insert("logit_scale".to_string(), scalar);
        }
    }
    if !tensors.keys().any(|k| k.starts_with("visual.")) {
        let examples: Vec<&str> = tensors.keys().take(3).map(String::as_str).collect();
        return Err(CheckpointError::NoClipWeights {
            path: path.to_path_buf(),
            detail: if tensors.is_empty() {
                format!("the {format} holds no tensors")
            } else {
                format!(
                    "{} tensors but none named visual.*, e.g. {}",
                    tensors.len(),
                    examples.join(", ")
                )
            },
        });
    }
    ignored.sort();
    Ok(Checkpoint {
        path: path.to_path_buf(),
        format,
        tensors,
        ignored,
        source_dtypes: dtypes,
        warnings,
        metadata,
    })
}

/// Determines the checkpoint format from the file content without converting any tensor
/// (reads the zip directory and pickle, or the safetensors header).
pub fn detect_format(path: &Path) -> Result<CheckpointFormat, CheckpointError> {
    match detect::sniff(path)? {
        Container::Zip => {
            let zip = torchscript::TorchZip::open(path)?;
            if zip.is_torchscript {
                return Ok(CheckpointFormat::OpenAiTorchScript);
            }
            let walked = zip.walk(path)?;
            let strip = wrapper_prefix_len(walked.tensors.iter().map(|t| t.key.as_str()));
            Ok(
                if hf::is_hf_layout(walked.tensors.iter().map(|t| &t.key[strip..])) {
                    CheckpointFormat::HfTransformers
                } else {
                    CheckpointFormat::TorchStateDict
                },
            )
        }
        Container::Safetensors => {
            let keys = safetensors_io::header_keys(path)?;
            let strip = wrapper_prefix_len(keys.iter().map(String::as_str));
            Ok(if hf::is_hf_layout(keys.iter().map(|k| &k[strip..])) {
                CheckpointFormat::HfTransformers
            } else {
                CheckpointFormat::OpenClipSafetensors
            })
        }
    }
}

/// Writes tensors (any dtype/device; stored as f32) as an open_clip-style safetensors file.
/// The write is atomic: a temporary file in the same directory is renamed over `path`.
pub fn save_open_clip_safetensors(
    tensors: &BTreeMap<String, Tensor>,
    path: &Path,
) -> Result<(), CheckpointError> {
    save_f32_safetensors(tensors, path)
}

/// Writes any named tensors (pixels, activations, weights) as an f32 safetensors file, atomically
/// (temporary file in the same directory, fsync, rename). The one writer every command uses.
pub fn save_f32_safetensors(
    tensors: &BTreeMap<String, Tensor>,
    path: &Path,
) -> Result<(), CheckpointError> {
    safetensors_io::save(tensors, path, StoreDtype::F32, &BTreeMap::new())
}

/// Writes tensors as safetensors in `dtype` with `metadata` in the header, atomically (as
/// [`save_f32_safetensors`]). Used to export the built-in model in f16.
pub fn save_safetensors_with(
    tensors: &BTreeMap<String, Tensor>,
    path: &Path,
    dtype: StoreDtype,
    metadata: &BTreeMap<String, String>,
) -> Result<(), CheckpointError> {
    safetensors_io::save(tensors, path, dtype, metadata)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename — a reader never sees
/// half a file and a crash leaves the previous version. The one byte-level atomic writer of the project.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    use std::io::Write;
    let err = |e: std::io::Error| CheckpointError::Write {
        path: path.to_path_buf(),
        detail: error::one_line(e),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(err);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Streams the file through SHA-256 and returns the lowercase hex digest, for run manifests
/// that must pin exactly which weights produced a result.
pub fn file_sha256(path: &Path) -> Result<String, CheckpointError> {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path).map_err(|e| error::open_error(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(error::unreadable(path, e)),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_stripped_only_when_shared() {
        let keys = ["module.visual.proj", "module.logit_scale"];
        assert_eq!(wrapper_prefix_len(keys.iter().copied()), "module.".len());
        let keys = [
            "state_dict.module.visual.proj",
            "state_dict.module.logit_scale",
        ];
        assert_eq!(
            wrapper_prefix_len(keys.iter().copied()),
            "state_dict.module.".len()
        );
        let keys = ["module.visual.proj", "logit_scale"];
        assert_eq!(wrapper_prefix_len(keys.iter().copied()), 0);
        let keys = ["visual.proj"];
        assert_eq!(wrapper_prefix_len(keys.iter().copied()), 0);
    }

    #[test]
    fn ignored_names() {
        assert!(is_ignored("visual.bn1.num_batches_tracked"));
        assert!(is_ignored("text_model.embeddings.position_ids"));
        assert!(is_ignored("attn_mask"));
        assert!(is_ignored("input_resolution"));
        assert!(!is_ignored("visual.attnpool.positional_embedding"));
        assert!(!is_ignored("positional_embedding"));
    }
}

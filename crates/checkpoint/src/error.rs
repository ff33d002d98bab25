//! Errors of checkpoint loading.
//!
//! Every message is a single line naming what is wrong, where (file, tensor key or zip entry)
//! and how to fix it, because these messages end up verbatim in CLI output and run logs.

use std::path::{Path, PathBuf};

/// Anything that can go wrong while detecting, loading or writing a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint file not found: {}; check the path or download the weights first", .path.display())]
    NotFound { path: PathBuf },

    #[error("cannot read {}: {detail}; {fix}", .path.display())]
    Unreadable {
        path: PathBuf,
        detail: String,
        fix: String,
    },

    #[error("{} looks like {what}, not a checkpoint; {fix}", .path.display())]
    NotCheckpoint {
        path: PathBuf,
        what: String,
        fix: String,
    },

    #[error("{} is a truncated or corrupt zip archive ({detail}); re-download the checkpoint", .path.display())]
    CorruptZip { path: PathBuf, detail: String },

    #[error("{} is a zip archive without a data.pkl entry ({detail}), so it is not a PyTorch checkpoint; pass the file written by torch.save or torch.jit.save", .path.display())]
    NoDataPkl { path: PathBuf, detail: String },

    #[error("{}: unsupported content in zip entry {entry}: {detail}; re-save the weights with torch.save(model.state_dict(), path) or convert them to safetensors", .path.display())]
    UnsupportedPickle {
        path: PathBuf,
        entry: String,
        detail: String,
    },

    #[error("{}: tensor '{key}' uses unsupported storage type {storage}; convert it to float32 or float16 in PyTorch and re-save", .path.display())]
    UnknownStorage {
        path: PathBuf,
        key: String,
        storage: String,
    },

    #[error("{}: tensor '{key}': {detail}; the file is probably corrupt, re-download it", .path.display())]
    BadTensor {
        path: PathBuf,
        key: String,
        detail: String,
    },

    #[error("{}: safetensors header is corrupt or the file is truncated ({detail}); re-download the file", .path.display())]
    SafetensorsHeader { path: PathBuf, detail: String },

    #[error("{}: HF transformers checkpoint is not a ViT CLIPModel ({detail}); only HF CLIPModel/CLIPVisionModel ViT weights can be converted, use the OpenAI .pt or open_clip checkpoint instead", .path.display())]
    NotVitClip { path: PathBuf, detail: String },

    #[error("{}: no CLIP weights found ({detail}); pass an OpenAI, open_clip or HF transformers CLIP checkpoint", .path.display())]
    NoClipWeights { path: PathBuf, detail: String },

    #[error("cannot write {}: {detail}; check that the directory exists, is writable and has free space", .path.display())]
    Write { path: PathBuf, detail: String },
}

/// Message of a candle error without the backtrace candle attaches when `RUST_BACKTRACE` is
/// set (it would turn our one-line messages into pages).
pub(crate) fn candle_msg(e: &candle_core::Error) -> String {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => candle_msg(inner),
        candle_core::Error::WithPath { inner, path } => {
            format!("{}: {}", path.display(), candle_msg(inner))
        }
        candle_core::Error::Context { inner, context } => {
            format!("{context}: {}", candle_msg(inner))
        }
        other => one_line(other),
    }
}

/// Flattens a foreign error message to one line so that our messages stay one line.
pub(crate) fn one_line(msg: impl std::fmt::Display) -> String {
    let s = msg.to_string();
    let mut out = String::with_capacity(s.len());
    for (i, part) in s
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if i > 0 {
            out.push_str(" | ");
        }
        out.push_str(part);
    }
    out
}

pub(crate) fn unreadable(path: &Path, err: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Unreadable {
        path: path.to_path_buf(),
        detail: one_line(err),
        fix: "check that it is a readable file".to_string(),
    }
}

/// Maps an `open` failure, distinguishing the common "wrong path" case.
pub(crate) fn open_error(path: &Path, err: std::io::Error) -> CheckpointError {
    if err.kind() == std::io::ErrorKind::NotFound {
        CheckpointError::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        unreadable(path, err)
    }
}

pub(crate) fn bad_tensor(
    path: &Path,
    key: &str,
    detail: impl std::fmt::Display,
) -> CheckpointError {
    CheckpointError::BadTensor {
        path: path.to_path_buf(),
        key: key.to_string(),
        detail: one_line(detail),
    }
}

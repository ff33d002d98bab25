use std::path::PathBuf;

/// Why an image could not be loaded. Every message is one line that names the file and says
/// what to do, so a mining run over millions of files can log and skip bad ones.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file could not be opened or read (missing, permissions, I/O failure).
    #[error("cannot read image file {}: {reason}; check that the path exists and is readable", path.display())]
    Io { path: PathBuf, reason: String },

    /// The file has no bytes at all.
    #[error("image file {} is empty (0 bytes); re-download or remove it", path.display())]
    Empty { path: PathBuf },

    /// The content is not recognised as an image, or uses a format or feature this build
    /// cannot decode.
    #[error("{} is not an image this build can decode ({reason}); supported: PNG, JPEG, GIF, BMP, TIFF, WebP, convert the file to one of these", path.display())]
    Unsupported { path: PathBuf, reason: String },

    /// The content looks like an image but is corrupt or truncated.
    #[error("cannot decode image {}: {reason}; the file is corrupt or truncated, re-download or re-export it", path.display())]
    Decode { path: PathBuf, reason: String },

    /// The image is larger than the decoder limits (protection against decompression bombs).
    #[error("image {} is too large ({width}x{height} pixels, limit {limit} pixels); downscale it before use", path.display())]
    TooLarge {
        path: PathBuf,
        width: u64,
        height: u64,
        limit: u64,
    },
}

/// Collapses a lower-level error message onto one line, so log lines stay one per file.
pub(crate) fn one_line(msg: impl std::fmt::Display) -> String {
    msg.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

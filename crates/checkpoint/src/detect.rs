//! Recognises the container from the first bytes of the file, and names common wrong inputs
//! (images, HTML error pages from failed downloads, Git LFS pointers, archives) so the user
//! learns what they passed instead of getting a parser error.

use std::io::Read;
use std::path::Path;

use crate::error::{open_error, unreadable, CheckpointError};

/// The two containers every supported format lives in.
pub(crate) enum Container {
    Zip,
    Safetensors,
}

/// Bytes read for sniffing: enough for the tar magic at offset 257.
const SNIFF_LEN: usize = 512;

pub(crate) fn sniff(path: &Path) -> Result<Container, CheckpointError> {
    let meta = std::fs::metadata(path).map_err(|e| open_error(path, e))?;
    if meta.is_dir() {
        return Err(CheckpointError::Unreadable {
            path: path.to_path_buf(),
            detail: "it is a directory, not a file".to_string(),
            fix: "pass the checkpoint file inside it (e.g. model.safetensors)".to_string(),
        });
    }
    let mut file = std::fs::File::open(path).map_err(|e| open_error(path, e))?;
    let mut head = Vec::with_capacity(SNIFF_LEN);
    file.by_ref()
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| unreadable(path, e))?;
    classify(&head).map_err(|(what, fix)| CheckpointError::NotCheckpoint {
        path: path.to_path_buf(),
        what: what.to_string(),
        fix: fix.to_string(),
    })
}

/// `Err((what it looks like, how to fix))` for anything that is not a zip or safetensors file.
fn classify(head: &[u8]) -> Result<Container, (String, String)> {
    let wrong = |what: &str, fix: &str| Err((what.to_string(), fix.to_string()));
    const PASS: &str = "pass a CLIP checkpoint (.pt, .bin or .safetensors)";
    if head.is_empty() {
        return wrong(
            "an empty file",
            "the download probably failed; download it again",
        );
    }
    // Local file header, or the end-of-directory record of an empty archive.
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(Container::Zip);
    }
    // safetensors: u64 little-endian header length, then a JSON object.
    // The length's high bytes are zero for any real header, unlike text that happens to
    // have a '{' at offset 8.
    if head.len() >= 9 && head[8] == b'{' && head[5..8] == [0, 0, 0] {
        return Ok(Container::Safetensors);
    }
    let text = String::from_utf8_lossy(&head[..head.len().min(64)]);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return wrong("a PNG image", PASS);
    }
    if head.starts_with(b"\xff\xd8\xff") {
        return wrong("a JPEG image", PASS);
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return wrong("a GIF image", PASS);
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return wrong("a WebP image", PASS);
    }
    if head.starts_with(b"\x1f\x8b") {
        return wrong(
            "a gzip-compressed file",
            "decompress it first (gunzip, or tar -xzf for .tar.gz) and pass the checkpoint inside",
        );
    }
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return wrong(
            "a tar archive",
            "extract it first (tar -xf) and pass the checkpoint inside",
        );
    }
    if head.starts_with(b"\x89HDF") {
        return wrong(
            "an HDF5 (Keras/TensorFlow) file",
            "convert the weights to PyTorch or safetensors first",
        );
    }
    if head.len() >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1]) {
        return wrong(
            "a legacy (non-zip, pre-PyTorch-1.6) pickle",
            "re-save it with a current PyTorch: torch.save(torch.load(old), new)",
        );
    }
    if trimmed.starts_with("version https://git-lfs") {
        return wrong(
            "a Git LFS pointer file",
            "run `git lfs pull` in the repository or download the real file",
        );
    }
    if trimmed.starts_with('<') {
        return wrong(
            "an HTML/XML page (a failed or redirected download?)",
            "download the file again; on Hugging Face use the /resolve/ URL, not /blob/",
        );
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return wrong(
            "a JSON file",
            "pass the weights file, not a config or tokenizer file",
        );
    }
    let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Err((
        format!("an unrecognised file (first bytes {})", hex.join(" ")),
        PASS.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn what(head: &[u8]) -> String {
        match classify(head) {
            Ok(Container::Zip) => "zip".into(),
            Ok(Container::Safetensors) => "safetensors".into(),
            Err((what, _)) => what,
        }
    }

    #[test]
    fn magic_numbers() {
        assert_eq!(what(b"PK\x03\x04rest"), "zip");
        assert_eq!(what(b"\x10\0\0\0\0\0\0\0{\"a\":1}"), "safetensors");
        assert_eq!(what(b"\x89PNG\r\n\x1a\n...."), "a PNG image");
        assert_eq!(what(b"\xff\xd8\xff\xe0"), "a JPEG image");
        assert_eq!(
            what(b"\x80\x02\x8a\x0alZ"),
            "a legacy (non-zip, pre-PyTorch-1.6) pickle"
        );
        assert_eq!(
            what(b"version https://git-lfs.github.com/spec/v1\noid sha256:ab"),
            "a Git LFS pointer file"
        );
        assert!(what(b"<!DOCTYPE html><html>").starts_with("an HTML"));
        assert!(what(b"\x01\x02\x03").starts_with("an unrecognised file (first bytes 01 02 03"));
        assert_eq!(what(b""), "an empty file");
    }
}

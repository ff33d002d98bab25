//! Bad input must produce a one-line `ImageError` naming the file, never a panic or an OOM.

use std::path::{Path, PathBuf};

use clipneurons_image::{load_image, load_image_bytes, preprocess_path, ImageError};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "clipneurons-image-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/preprocess")
            .join(name),
    )
    .unwrap()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Checks the error is one line, names the file, and returns it.
fn expect_error(path: &Path) -> ImageError {
    let err = load_image(path).expect_err("should fail");
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "multi-line message: {msg}");
    assert!(
        msg.contains(&path.display().to_string()),
        "message lacks the path: {msg}"
    );
    assert!(preprocess_path(path, 224).is_err());
    err
}

#[test]
fn missing_file() {
    let err = expect_error(Path::new("/nonexistent/clipneurons/cat.jpg"));
    assert!(matches!(err, ImageError::Io { .. }), "{err}");
}

#[test]
fn empty_file() {
    let dir = TempDir::new("empty");
    let err = expect_error(&dir.write("empty.png", b""));
    assert!(matches!(err, ImageError::Empty { .. }), "{err}");
}

#[test]
fn text_named_jpg() {
    let dir = TempDir::new("text");
    let err = expect_error(&dir.write("notes.jpg", b"this is not an image\n"));
    assert!(matches!(err, ImageError::Unsupported { .. }), "{err}");
}

#[test]
fn truncated_png() {
    let dir = TempDir::new("trunc-png");
    let png = fixture("rgb.png");
    for cut in [8, 30, png.len() / 2, png.len() - 20] {
        let err = expect_error(&dir.write(&format!("cut{cut}.png"), &png[..cut]));
        assert!(matches!(err, ImageError::Decode { .. }), "{err}");
    }
}

#[test]
fn truncated_jpeg() {
    let dir = TempDir::new("trunc-jpg");
    let jpg = fixture("photo.jpg");
    for cut in [3, 200, jpg.len() / 2] {
        let err = expect_error(&dir.write(&format!("cut{cut}.jpg"), &jpg[..cut]));
        assert!(matches!(err, ImageError::Decode { .. }), "{err}");
    }
}

#[test]
fn corrupt_png_checksum() {
    let dir = TempDir::new("crc");
    let mut png = fixture("rgb.png");
    let n = png.len();
    png[n / 2] ^= 0x55;
    expect_error(&dir.write("flipped.png", &png));
}

#[test]
fn huge_png_header_is_refused_before_allocation() {
    let dir = TempDir::new("huge-png");
    let mut png = fixture("rgb.png");
    // IHDR data starts at byte 16: width, height (big endian); CRC follows the 13 data bytes.
    png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    let err = expect_error(&dir.write("bomb.png", &png));
    assert!(matches!(err, ImageError::TooLarge { .. }), "{err}");
}

#[test]
fn huge_jpeg_header_is_refused_before_allocation() {
    let dir = TempDir::new("huge-jpg");
    let mut jpg = fixture("photo.jpg");
    let sof = (0..jpg.len() - 1)
        .find(|&i| jpg[i] == 0xFF && matches!(jpg[i + 1], 0xC0 | 0xC2))
        .unwrap();
    // SOF: marker(2) length(2) precision(1) height(2) width(2)
    jpg[sof + 5..sof + 7].copy_from_slice(&60_000u16.to_be_bytes());
    jpg[sof + 7..sof + 9].copy_from_slice(&60_000u16.to_be_bytes());
    let err = expect_error(&dir.write("bomb.jpg", &jpg));
    assert!(
        matches!(err, ImageError::TooLarge { .. } | ImageError::Decode { .. }),
        "{err}"
    );
}

#[test]
fn garbage_after_valid_signature() {
    let dir = TempDir::new("garbage");
    let mut junk = b"\x89PNG\r\n\x1a\n".to_vec();
    junk.extend((0..500u32).map(|i| (i * 7919 % 251) as u8));
    expect_error(&dir.write("junk.png", &junk));
    let mut junk = vec![0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43, 0x00];
    junk.extend((0..500u32).map(|i| (i * 7919 % 251) as u8));
    expect_error(&dir.write("junk.jpg", &junk));
}

#[test]
fn bytes_api_labels_errors() {
    let err = load_image_bytes(b"nope", Path::new("shard-0001.tar/42.jpg")).unwrap_err();
    assert!(err.to_string().contains("shard-0001.tar/42.jpg"), "{err}");
}

/// Randomly damaged files (bytes changed, flipped, truncated) must give `Ok` or `Err`, never
/// panic, in every decoder, including the exact JPEG one.
#[test]
fn mutated_files_never_panic() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            !matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("py" | "safetensors")
            )
        })
        .collect();
    files.sort();
    assert!(files.len() >= 20);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for file in files {
        let orig = std::fs::read(&file).unwrap();
        for _ in 0..150 {
            let mut d = orig.clone();
            for _ in 0..1 + rnd() % 6 {
                let i = (rnd() as usize) % d.len();
                match rnd() % 4 {
                    0 => d[i] = rnd() as u8,
                    1 => d[i] ^= 1 << (rnd() % 8),
                    2 => d[i] = 0xFF,
                    _ => {
                        d.truncate(i.max(1));
                        break;
                    }
                }
            }
            let label = Path::new("mutated");
            // Ok or Err are both fine; a panic fails the test.
            let _ = clipneurons_image::preprocess_bytes(&d, label, 24);
        }
    }
}

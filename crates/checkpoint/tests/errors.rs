//! One test per bad-input case: the right error variant, a one-line message naming the file,
//! and no panic.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use clipneurons_checkpoint::{detect_format, load, save_open_clip_safetensors, CheckpointError};
use common::*;

fn load_err(path: &Path) -> (CheckpointError, String) {
    let err = load(path).expect_err("loading should fail");
    let msg = assert_one_line(&err, path);
    println!("{msg}");
    (err, msg)
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.pt");
    let (err, msg) = load_err(&path);
    assert!(matches!(err, CheckpointError::NotFound { .. }), "{msg}");
    assert!(msg.contains("not found"), "{msg}");
    assert!(matches!(
        detect_format(&path),
        Err(CheckpointError::NotFound { .. })
    ));
    assert!(matches!(
        clipneurons_checkpoint::file_sha256(&path),
        Err(CheckpointError::NotFound { .. })
    ));
}

#[test]
fn directory_instead_of_file() {
    let dir = tempfile::tempdir().unwrap();
    let (err, msg) = load_err(dir.path());
    assert!(matches!(err, CheckpointError::Unreadable { .. }), "{msg}");
    assert!(msg.contains("directory"), "{msg}");
}

#[test]
fn png_image() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cat.pt");
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&[0u8; 64]);
    std::fs::write(&path, png).unwrap();
    let (err, msg) = load_err(&path);
    assert!(
        matches!(err, CheckpointError::NotCheckpoint { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("looks like a PNG image, not a checkpoint"),
        "{msg}"
    );
}

#[test]
fn jpeg_image() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dog.safetensors");
    std::fs::write(&path, b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01").unwrap();
    let (_, msg) = load_err(&path);
    assert!(
        msg.contains("looks like a JPEG image, not a checkpoint"),
        "{msg}"
    );
}

#[test]
fn html_error_page_and_lfs_pointer_and_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "page.pt",
            b"<!DOCTYPE html><html><body>404</body></html>",
            "HTML",
        ),
        (
            "lfs.safetensors",
            b"version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 605\n",
            "git lfs pull",
        ),
        ("empty.bin", b"", "empty file"),
    ];
    for (name, bytes, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let (err, msg) = load_err(&path);
        assert!(
            matches!(err, CheckpointError::NotCheckpoint { .. }),
            "{msg}"
        );
        assert!(msg.contains(needle), "{msg}");
    }
}

#[test]
fn legacy_pickle_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.pt");
    std::fs::write(&path, b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.").unwrap();
    let (err, msg) = load_err(&path);
    assert!(
        matches!(err, CheckpointError::NotCheckpoint { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("legacy") && msg.contains("torch.save"),
        "{msg}"
    );
}

#[test]
fn truncated_zip() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("micro_vit/openai_jit.pt");
    let len = std::fs::metadata(&src).unwrap().len() as usize;
    let path = copy_prefix(&src, dir.path(), "ViT-B-32.pt", Some(len / 2));
    let (err, msg) = load_err(&path);
    assert!(matches!(err, CheckpointError::CorruptZip { .. }), "{msg}");
    assert!(
        msg.contains("truncated or corrupt zip") && msg.contains("re-download"),
        "{msg}"
    );
    assert!(matches!(
        detect_format(&path),
        Err(CheckpointError::CorruptZip { .. })
    ));
}

#[test]
fn zip_without_data_pkl() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.pt");
    write_zip(
        &path,
        &[("notes/readme.txt", b"hello"), ("notes/x.bin", &[1, 2, 3])],
    );
    let (err, msg) = load_err(&path);
    assert!(matches!(err, CheckpointError::NoDataPkl { .. }), "{msg}");
    assert!(
        msg.contains("without a data.pkl") && msg.contains("notes/readme.txt"),
        "{msg}"
    );
}

#[test]
fn data_pkl_with_junk_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.pt");
    write_zip(
        &path,
        &[
            ("archive/data.pkl", b"\x80\x02this is not a pickle"),
            ("archive/version", b"3\n"),
        ],
    );
    let (err, msg) = load_err(&path);
    assert!(
        matches!(err, CheckpointError::UnsupportedPickle { .. }),
        "{msg}"
    );
    assert!(msg.contains("archive/data.pkl"), "{msg}");
}

#[test]
fn truncated_data_pkl() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pickle::new();
    p.op(b'}').mark().str("visual.proj");
    let mut pkl = p.stop();
    pkl.pop(); // drop STOP: the pickle ends mid-stream
    let path = dir.path().join("cut.pt");
    write_zip(&path, &[("archive/data.pkl", &pkl)]);
    let (err, msg) = load_err(&path);
    assert!(
        matches!(err, CheckpointError::UnsupportedPickle { .. }),
        "{msg}"
    );
}

#[test]
fn unknown_storage_type() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pickle::new();
    p.op(b'}').mark();
    p.str("visual.proj")
        .tensor("ComplexFloatStorage", "0", 2, 0, &[2], &[1]);
    p.op(b'u');
    let path = dir.path().join("complex.pt");
    write_zip(
        &path,
        &[
            ("archive/data.pkl", &p.stop()),
            ("archive/data/0", &[0u8; 16]),
        ],
    );
    let (err, msg) = load_err(&path);
    assert!(
        matches!(err, CheckpointError::UnknownStorage { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("visual.proj") && msg.contains("torch.ComplexFloatStorage"),
        "{msg}"
    );
}

#[test]
fn tensor_outside_its_storage() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pickle::new();
    p.op(b'}').mark();
    // Declares 8 elements but the entry holds 2 floats.
    p.str("visual.proj")
        .tensor("FloatStorage", "0", 8, 0, &[8], &[1]);
    p.op(b'u');
    let path = dir.path().join("short.pt");
    write_zip(
        &path,
        &[
            ("archive/data.pkl", &p.stop()),
            ("archive/data/0", &f32_bytes(&[1.0, 2.0])),
        ],
    );
    let (err, msg) = load_err(&path);
    assert!(matches!(err, CheckpointError::BadTensor { .. }), "{msg}");
    assert!(
        msg.contains("visual.proj") && msg.contains("archive/data/0"),
        "{msg}"
    );

    // A view reaching past the end of a correctly sized storage.
    let mut p = Pickle::new();
    p.op(b'}').mark();
    p.str("visual.proj")
        .tensor("FloatStorage", "0", 2, 1, &[2], &[1]);
    p.op(b'u');
    write_zip(
        &path,
        &[
            ("archive/data.pkl", &p.stop()),
            ("archive/data/0", &f32_bytes(&[1.0, 2.0])),
        ],
    );
    let (err, msg) = load_err(&path);
    assert!(matches!(err, CheckpointError::BadTensor { .. }), "{msg}");
    assert!(msg.contains("storage holds 2"), "{msg}");
}

#[test]
fn missing_storage_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pickle::new();
    p.op(b'}').mark();
    p.str("visual.proj")
        .tensor("HalfStorage", "7", 2, 0, &[2], &[1]);
    p.op(b'u');
    let path = dir.path().join("nostorage.pt");
    write_zip(&path, &[("archive/data.pkl", &p.stop())]);
    let (err, msg) = load_err(&path);
    assert!(matches!(err, CheckpointError::BadTensor { .. }), "{msg}");
    assert!(msg.contains("archive/data/7 is missing"), "{msg}");
}

#[test]
fn corrupt_safetensors_header() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("micro_vit/openclip.safetensors");
    let mut bytes = std::fs::read(&src).unwrap();
    // Garble the JSON right after its opening brace.
    for b in &mut bytes[9..40] {
        *b = b'#';
    }
    let path = dir.path().join("garbled.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let (err, msg) = load_err(&path);
    assert!(
        matches!(err, CheckpointError::SafetensorsHeader { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("header is corrupt") && msg.contains("re-download"),
        "{msg}"
    );
}

#[test]
fn truncated_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("micro_vit/openclip.safetensors");
    let len = std::fs::metadata(&src).unwrap().len() as usize;
    for (name, cut) in [("body.safetensors", len / 2), ("head.safetensors", 100)] {
        let path = copy_prefix(&src, dir.path(), name, Some(cut));
        let (err, msg) = load_err(&path);
        assert!(
            matches!(err, CheckpointError::SafetensorsHeader { .. }),
            "{name}: {msg}"
        );
    }
}

fn write_tensors(path: &Path, keys: &[&str]) {
    let t = Tensor::zeros((2, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
    let map: BTreeMap<String, Tensor> = keys.iter().map(|k| (k.to_string(), t.clone())).collect();
    save_open_clip_safetensors(&map, path).unwrap();
}

#[test]
fn hf_file_that_is_not_a_vit_clip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    // A text-only HF CLIPTextModel.
    write_tensors(
        &path,
        &[
            "text_model.embeddings.token_embedding.weight",
            "text_model.final_layer_norm.weight",
        ],
    );
    let (err, msg) = load_err(&path);
    assert!(matches!(err, CheckpointError::NotVitClip { .. }), "{msg}");
    assert!(msg.contains("not a ViT CLIPModel"), "{msg}");
    // A SigLIP-like vision tower: patch embedding but no class embedding.
    write_tensors(
        &path,
        &[
            "vision_model.embeddings.patch_embedding.weight",
            "vision_model.head.weight",
        ],
    );
    let (err, msg) = load_err(&path);
    assert!(matches!(err, CheckpointError::NotVitClip { .. }), "{msg}");
    assert!(msg.contains("class_embedding"), "{msg}");
}

#[test]
fn safetensors_without_clip_weights() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bert.safetensors");
    write_tensors(&path, &["encoder.layer.0.weight", "pooler.dense.weight"]);
    let (err, msg) = load_err(&path);
    assert!(
        matches!(err, CheckpointError::NoClipWeights { .. }),
        "{msg}"
    );
    assert!(msg.contains("encoder.layer.0.weight"), "{msg}");
}

#[test]
fn save_into_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/out.safetensors");
    let t = Tensor::zeros(2, candle_core::DType::F32, &Device::Cpu).unwrap();
    let map = BTreeMap::from([("visual.proj".to_string(), t)]);
    let err = save_open_clip_safetensors(&map, &path).unwrap_err();
    let msg = assert_one_line(&err, &path);
    println!("{msg}");
    assert!(matches!(err, CheckpointError::Write { .. }), "{msg}");
}

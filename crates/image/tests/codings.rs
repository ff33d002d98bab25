//! JPEG codings, PIL modes and formats beyond the shared fixtures (`tests/data`, made by
//! `tests/data/make_data.py` with Pillow 13 / libjpeg-turbo / open_clip 3.3): decoding must
//! equal PIL's and preprocessing open_clip's, bit for bit.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clipneurons_image::{load_image, preprocess_path, to_rgb8};
use safetensors::SafeTensors;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

#[test]
fn decode_and_preprocess_match_pil_exactly() {
    let bytes = std::fs::read(data_dir().join("expected.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let names: BTreeSet<String> = st
        .names()
        .iter()
        .filter_map(|k| k.split_once('@').map(|(n, _)| n.to_owned()))
        .collect();
    assert!(
        names.len() >= 20,
        "expected the generated cases, found {names:?}"
    );
    let mut failures = Vec::new();
    for name in &names {
        let path = data_dir().join(name);
        let want = st.tensor(&format!("{name}@decoded")).unwrap();
        let got = to_rgb8(&load_image(&path).unwrap());
        if [got.height() as usize, got.width() as usize, 3] != want.shape()
            || got.as_raw() != want.data()
        {
            failures.push(format!("{name}: decoded pixels differ"));
        }
        let want: Vec<f32> = st
            .tensor(&format!("{name}@16"))
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if preprocess_path(&path, 16).unwrap() != want {
            failures.push(format!("{name}: preprocessed tensor differs"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

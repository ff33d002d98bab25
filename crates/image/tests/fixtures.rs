//! Compares preprocessing with open_clip's own output (`fixtures/preprocess`, made by
//! `reference/make_fixtures.py` with Pillow 13 / torchvision / open_clip 3.3).

use std::path::{Path, PathBuf};

use clipneurons_image::{
    denormalize_to_rgb8, load_image, preprocess, preprocess_path, to_rgb8, OPENAI_STD,
};
use safetensors::{Dtype, SafeTensors};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/preprocess")
}

const IMAGES: [&str; 7] = [
    "rgb.png",
    "gray.png",
    "rgba.png",
    "palette.png",
    "photo.jpg",
    "tiny.png",
    "large.png",
];

/// Max and mean absolute difference per pixel in [0, 1] units (i.e. un-normalised).
fn pixel_error(got: &[f32], want: &[f32], size: usize) -> (f32, f32) {
    let plane = size * size;
    let mut max = 0f32;
    let mut sum = 0f64;
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let d = (a - b).abs() * OPENAI_STD[i / plane];
        max = max.max(d);
        sum += f64::from(d);
    }
    (max, (sum / got.len() as f64) as f32)
}

#[test]
fn matches_open_clip_transform() {
    let bytes = std::fs::read(fixture_dir().join("expected.safetensors"))
        .expect("fixtures/preprocess/expected.safetensors (run reference/make_fixtures.py)");
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut worst = 0f32;
    for name in IMAGES {
        let path = fixture_dir().join(name);
        for size in [64usize, 224] {
            let t = st.tensor(&format!("{name}@{size}")).unwrap();
            assert_eq!(t.dtype(), Dtype::F32);
            assert_eq!(t.shape(), [3, size, size]);
            let want: Vec<f32> = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let got = preprocess_path(&path, size).unwrap();
            assert_eq!(got.len(), want.len());
            let (max, mean) = pixel_error(&got, &want, size);
            let exact = got == want;
            println!(
                "{name:>12} @{size:<3}  max {:.3}/255  mean {:.4}/255  bit-exact {exact}",
                max * 255.0,
                mean * 255.0
            );
            assert!(
                max <= 2.0 / 255.0,
                "{name}@{size}: max error {}/255",
                max * 255.0
            );
            worst = worst.max(max);
        }
    }
    // Everything here is reproduced exactly; keep it that way.
    assert!(
        worst < 1e-6,
        "expected bit-exact output, worst {}/255",
        worst * 255.0
    );
}

#[test]
fn decoding_matches_pil() {
    let bytes = std::fs::read(fixture_dir().join("expected.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    for name in IMAGES {
        let t = st.tensor(&format!("{name}@decoded")).unwrap();
        let rgb = to_rgb8(&load_image(&fixture_dir().join(name)).unwrap());
        assert_eq!(
            [rgb.height() as usize, rgb.width() as usize, 3],
            t.shape(),
            "{name}"
        );
        assert!(
            rgb.as_raw() == t.data(),
            "{name}: decoded pixels differ from PIL"
        );
    }
}

#[test]
fn dynamic_image_path_agrees_with_file_path_for_non_palette_images() {
    for name in ["rgb.png", "gray.png", "rgba.png", "photo.jpg", "tiny.png"] {
        let path = fixture_dir().join(name);
        let img = load_image(&path).unwrap();
        assert_eq!(
            preprocess(&img, 64),
            preprocess_path(&path, 64).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn denormalize_inverts_preprocess() {
    let path = fixture_dir().join("large.png");
    let x = preprocess_path(&path, 64).unwrap();
    let rgb = denormalize_to_rgb8(&x, 64);
    let y = preprocess(&image::DynamicImage::ImageRgb8(rgb), 64);
    assert_eq!(x, y);
}

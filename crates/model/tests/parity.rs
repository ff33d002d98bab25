//! Parity with PyTorch/open_clip on the random-initialised fixtures made by `reference/make_fixtures.py`.
//! Tolerance: relative error ‖ours − ref‖∞ / ‖ref‖∞ ≤ 1e-4 for taps, features and logits, ≤ 1e-3 for input
//! gradients (a backward pass through many layers accumulates more f32 rounding; finite differences are checked in
//! `gradients.rs`).

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};
use clipneurons_model::Clip;

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(p)
}

fn load(dir: &str) -> (Clip, HashMap<String, Tensor>, serde_json::Value) {
    let sd = candle_core::safetensors::load(fixture(&format!("{dir}/model.safetensors")), &Device::Cpu).unwrap();
    let model = Clip::from_state_dict(&sd.into_iter().collect()).unwrap();
    let reference = candle_core::safetensors::load(fixture(&format!("{dir}/reference.safetensors")), &Device::Cpu).unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(&format!("{dir}/reference.json"))).unwrap()).unwrap();
    (model, reference, meta)
}

pub fn rel_err(ours: &Tensor, reference: &Tensor) -> f32 {
    assert_eq!(ours.dims(), reference.dims(), "shape");
    let diff = (ours - reference).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    let scale = reference.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    diff / scale.max(1e-12)
}

fn check(dir: &str) {
    let (model, r, meta) = load(dir);
    let pixels = &r["pixels"];
    let tokens = &r["tokens"];
    let tokens = tokens.to_dtype(candle_core::DType::U32).unwrap();

    let img = model.encode_image(pixels).unwrap();
    let e = rel_err(&img, &r["image_features"]);
    assert!(e <= 1e-4, "{dir} image_features rel err {e}");
    let txt = model.encode_text(&tokens).unwrap();
    let e = rel_err(&txt, &r["text_features"]);
    assert!(e <= 1e-4, "{dir} text_features rel err {e}");
    let logits = model.logits(&img, &txt).unwrap();
    let e = rel_err(&logits, &r["logits_per_image"]);
    assert!(e <= 1e-4, "{dir} logits rel err {e}");

    let names: Vec<String> = meta["taps"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    let taps = model.record(Some(pixels), Some(&tokens), &names).unwrap();
    for (name, t) in &taps {
        let reference = &r[&format!("tap.{name}")];
        let e = rel_err(t, reference);
        eprintln!("{dir} {name}: {e:.2e}");
        assert!(e <= 1e-4, "{dir} tap {name} rel err {e}");
    }

    for obj in meta["objectives"].as_array().unwrap() {
        let tap = obj["tap"].as_str().unwrap();
        let channel = obj["channel"].as_u64().unwrap() as usize;
        let (value, grad) = model.input_gradient(pixels, tap, channel).unwrap();
        let want = obj["value"].as_f64().unwrap() as f32;
        assert!((value - want).abs() <= 1e-4 * want.abs().max(1.0), "{dir} objective {tap}:{channel} {value} vs {want}");
        let e = rel_err(&grad, &r[obj["name"].as_str().unwrap()]);
        assert!(e <= 1e-3, "{dir} input gradient {tap}:{channel} rel err {e}");
        let norm = grad.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(norm > 0.0, "input gradient is zero");
    }
}

#[test]
fn resnet_matches_open_clip() {
    check("rn");
}

#[test]
fn vit_matches_open_clip() {
    check("vit");
}

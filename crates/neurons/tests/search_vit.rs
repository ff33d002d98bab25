//! Zero-shot search on a ViT: the direct directions of the last block's MLP neurons, checked against the
//! checkpoint's tensors by name (the ViT fixture's 1,000-token vocabulary cannot take real token ids).

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};
use clipneurons_model::{l2_normalize, Clip};
use clipneurons_neurons::search::{check_layer, neuron_directions, verify_neuron};

/// The tiny ViT fixture's tensors and model.
fn vit_fixture() -> (HashMap<String, Tensor>, Clip) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/vit/model.safetensors");
    let sd: HashMap<String, Tensor> = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let m = Clip::from_state_dict(&sd.clone().into_iter().collect()).unwrap();
    (sd, m)
}

#[test]
fn vit_directions_follow_c_proj_ln_post_and_proj() {
    let (sd, m) = vit_fixture();
    let (layer, dirs) = neuron_directions(&m).unwrap();
    let blocks = sd
        .keys()
        .filter(|k| k.starts_with("visual.transformer.resblocks.") && k.ends_with(".ln_1.weight"))
        .count();
    assert_eq!(
        layer,
        format!("visual.transformer.resblocks.{}.mlp.gelu", blocks - 1)
    );
    let c_proj = sd[&format!(
        "visual.transformer.resblocks.{}.mlp.c_proj.weight",
        blocks - 1
    )]
        .to_vec2::<f32>()
        .unwrap(); // [w, 4w]
    let gamma = sd["visual.ln_post.weight"].to_vec1::<f32>().unwrap();
    let proj = sd["visual.proj"].to_vec2::<f32>().unwrap(); // [w, E]
    let dirs = dirs.to_vec2::<f32>().unwrap(); // [4w, E]
    let (w, hidden, e) = (c_proj.len(), c_proj[0].len(), proj[0].len());
    assert_eq!((dirs.len(), dirs[0].len()), (hidden, e));
    for j in [0, hidden / 2, hidden - 1] {
        let col: Vec<f64> = (0..w).map(|i| c_proj[i][j] as f64).collect();
        let mean = col.iter().sum::<f64>() / w as f64;
        for k in [0, e - 1] {
            let expect: f64 = (0..w)
                .map(|i| (col[i] - mean) * gamma[i] as f64 * proj[i][k] as f64)
                .sum();
            let got = dirs[j][k] as f64;
            assert!(
                (got - expect).abs() <= 1e-4 * expect.abs().max(1e-3),
                "neuron {j}, dim {k}: {got} vs {expect}"
            );
        }
    }
    assert_eq!(check_layer(&m, None).unwrap(), layer);
    assert!(check_layer(&m, Some(&format!("{layer}.add"))).is_err());
}

/// `--verify` on a ViT: raising a last-block MLP neuron on a blank image raises the logit of a "text" embedding
/// pointing along that neuron's direction and lowers the logit of the opposite one (the fixture cannot embed real
/// text, so the text side is the direction itself).
#[test]
fn vit_verify_moves_the_logit_along_the_neurons_direction() {
    let (_, m) = vit_fixture();
    let (_, dirs) = neuron_directions(&m).unwrap();
    for j in [0, 5, dirs.dim(0).unwrap() - 1] {
        let d = dirs.get(j).unwrap();
        let t = l2_normalize(&d).unwrap();
        let (before, after) = verify_neuron(&m, j, &t).unwrap();
        let (before_neg, after_neg) = verify_neuron(&m, j, &t.neg().unwrap()).unwrap();
        eprintln!("neuron {j}: along {before:.4} -> {after:.4}, opposite {before_neg:.4} -> {after_neg:.4}");
        assert!(after > before, "neuron {j}: {before} -> {after}");
        assert!(
            after_neg < before_neg,
            "neuron {j}: {before_neg} -> {after_neg}"
        );
        assert!((before + before_neg).abs() < 1e-4);
    }
}

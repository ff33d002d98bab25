//! Rendered-word probes on the built-in model: the aggregation (mean over sizes of the max over positions) is what
//! it says, and the ranking follows it.

use candle_core::{Device, Tensor};
use clipneurons_model::Clip;
use clipneurons_neurons::words::{probe_words, render_word, POSITIONS, SIZES};

fn model() -> Clip {
    Clip::from_state_dict(&clipneurons_builtin::checkpoint().unwrap().tensors).unwrap()
}

#[test]
fn responses_are_mean_over_sizes_of_max_over_positions() {
    let m = model();
    let layer = m.neuron_layer();
    let vocab: Vec<String> = ["yellow", "banana", "spider", "omg"]
        .map(String::from)
        .to_vec();
    // Batching must not matter.
    let r = probe_words(&m, &layer, &vocab, 3, |_| {}).unwrap();
    let r1 = probe_words(&m, &layer, &vocab, 1, |_| {}).unwrap();
    assert_eq!(r.values.len(), vocab.len() * r.channels);
    for (a, b) in r.values.iter().zip(&r1.values) {
        assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{a} vs {b}");
    }
    // Recompute word 2 by hand from its 9 renders.
    let side = m.image_size();
    let mut px = Vec::new();
    for &h in &SIZES {
        for &p in &POSITIONS {
            let img = render_word("spider", side as u32, h, p);
            assert!(img.pixels().any(|q| q.0 == [0, 0, 0]), "ink on the page");
            px.extend(clipneurons_image::normalize(&img));
        }
    }
    let t = Tensor::from_vec(px, (9, 3, side, side), &Device::Cpu).unwrap();
    let tap = &m
        .record(Some(&t), None, std::slice::from_ref(&layer))
        .unwrap()[0]
        .1;
    let maxes = tap
        .flatten_from(2)
        .unwrap()
        .max(2)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    for c in [0, 17, r.channels - 1] {
        let expect: f32 = (0..3)
            .map(|s| {
                (0..3)
                    .map(|p| maxes[s * 3 + p][c])
                    .fold(f32::NEG_INFINITY, f32::max)
            })
            .sum::<f32>()
            / 3.0;
        let got = r.get(2, c);
        assert!(
            (got - expect).abs() <= 1e-4 * expect.abs().max(1.0),
            "neuron {c}: {got} vs {expect}"
        );
    }
    // top_words is the descending order of the responses.
    let top = r.top_words(5, 4);
    assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
    assert_eq!(top.len(), 4);
    // Different words drive the layer differently.
    assert!((0..r.channels).any(|c| (r.get(0, c) - r.get(2, c)).abs() > 0.1));
    // Bad input.
    assert!(probe_words(&m, &layer, &[], 4, |_| {}).is_err());
    assert!(probe_words(&m, "visual.nope", &vocab, 4, |_| {}).is_err());
}

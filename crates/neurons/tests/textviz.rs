//! Text feature visualisation on the built-in model: the climb only ever improves, it finds texts far above random
//! texts of the same vocabulary, its scores are the zero-shot search's, and it is deterministic for a seed.

use clipneurons_model::Clip;
use clipneurons_neurons::search::text_scores;
use clipneurons_neurons::textviz::{text_feature_vis, zipf_units, TextVizOptions};
use clipneurons_world::{Rng, World};

fn model() -> Clip {
    Clip::from_state_dict(&clipneurons_builtin::checkpoint().unwrap().tensors).unwrap()
}

#[test]
fn hill_climbing_beats_random_texts_and_agrees_with_search() {
    let m = model();
    let mut words = clipneurons_tokenizer::Tokenizer::new().common_words(2000);
    words.extend(World::new().vocabulary());
    let units = zipf_units(&words);
    let opts = TextVizOptions {
        steps: 12,
        restarts: 3,
        proposals: 32,
        ..TextVizOptions::default()
    };
    let neuron = 222;
    let r = text_feature_vis(&m, neuron, &units, &opts, |_| {}).unwrap();
    assert_eq!(r.trace.len(), 3);
    for t in &r.trace {
        assert!(
            t.windows(2).all(|w| w[1] >= w[0]),
            "a climb went down: {t:?}"
        );
    }
    let improved = r.trace.iter().filter(|t| t[t.len() - 1] > t[0]).count();
    assert!(
        improved >= 1,
        "no restart improved on its start: {:?}",
        r.trace
    );

    // The score reported is the search's score of that text for the neuron.
    let best = &r.best[0];
    let (_, scores) = text_scores(&m, std::slice::from_ref(&best.text)).unwrap();
    assert!((scores[0][neuron] - best.score).abs() < 1e-4);

    // Random texts of 1–6 words from the same vocabulary: the best found is far above all of them.
    let mut rng = Rng::new(5);
    let random: Vec<String> = (0..256)
        .map(|_| {
            (0..1 + rng.below(6))
                .map(|_| words[rng.below(words.len())].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let (_, rs) = text_scores(&m, &random).unwrap();
    let random_best = rs.iter().map(|row| row[neuron]).fold(f32::MIN, f32::max);
    let random_mean = rs.iter().map(|row| row[neuron]).sum::<f32>() / rs.len() as f32;
    eprintln!(
        "neuron {neuron}: best text {:?} scores {:.3}; 256 random texts: mean {random_mean:.3}, best {random_best:.3}",
        best.text, best.score
    );
    assert!(best.score > random_best + 0.1);

    let again = text_feature_vis(&m, neuron, &units, &opts, |_| {}).unwrap();
    assert_eq!(again.best[0].text, best.text);

    let err = text_feature_vis(&m, 100_000, &units, &opts, |_| {})
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("out of range"), "{err}");
    let err = text_feature_vis(&m, 1, &[], &opts, |_| {})
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("vocabulary is empty"), "{err}");
}

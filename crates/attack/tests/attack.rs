//! Typographic attacks on the built-in model: overlays, the counting of an attack, probes, Stroop.

use clipneurons_attack::classifier::{Classifier, LinearProbe, ProbeOptions};
use clipneurons_attack::images::{normalise_label, ImageSet};
use clipneurons_attack::overlay::{pixel_cover, write, Protocol};
use clipneurons_attack::run::{attack, driven_neurons, AttackOptions, ClassifierSpec};
use clipneurons_attack::stroop::{stimulus, stroop, INKS};
use clipneurons_model::Clip;
use clipneurons_world::Split;
use image::RgbImage;

fn model() -> Clip {
    Clip::from_state_dict(&clipneurons_builtin::checkpoint().unwrap().tensors).unwrap()
}

fn grey(side: u32) -> RgbImage {
    RgbImage::from_pixel(side, side, image::Rgb([100, 110, 120]))
}

#[test]
fn grid_writes_eight_words_and_measures_cover() {
    let clean = grey(96);
    let a = write(&clean, "pizza", Protocol::Grid8, 0);
    let cover = pixel_cover(&clean, &a);
    // Eight short words at a tenth of the side: a few percent of the pixels, as in the article (6-10%).
    assert!((0.03..0.2).contains(&cover), "cover {cover}");
    // Fixed positions: the same for every seed; ink in every eighth of the image that holds a word.
    assert_eq!(a, write(&clean, "pizza", Protocol::Grid8, 7));
    let changed_rows: Vec<u32> = (0..96)
        .filter(|&y| (0..96).any(|x| a.get_pixel(x, y) != clean.get_pixel(x, y)))
        .collect();
    assert!(changed_rows.first().unwrap() < &16 && changed_rows.last().unwrap() > &78);
    // A longer word covers more.
    let b = write(&clean, "waste container", Protocol::Grid8, 0);
    assert!(pixel_cover(&clean, &b) > cover);
}

#[test]
fn label_is_one_seeded_paper_note() {
    let clean = grey(96);
    let a = write(&clean, "ipod", Protocol::Label, 3);
    assert_eq!(
        a,
        write(&clean, "ipod", Protocol::Label, 3),
        "deterministic"
    );
    assert_ne!(
        a,
        write(&clean, "ipod", Protocol::Label, 4),
        "placed per image seed"
    );
    let cover = pixel_cover(&clean, &a);
    assert!((0.05..0.3).contains(&cover), "cover {cover}");
    // The paper is light: most changed pixels are brighter than the grey background.
    let brighter = a
        .pixels()
        .zip(clean.pixels())
        .filter(|(p, q)| p != q && p.0[0] > 200)
        .count();
    let changed = a
        .pixels()
        .zip(clean.pixels())
        .filter(|(p, q)| p != q)
        .count();
    assert!(brighter * 2 > changed);
}

#[test]
fn pixel_cover_counts_any_change() {
    let a = grey(10);
    let mut b = a.clone();
    b.put_pixel(0, 0, image::Rgb([101, 110, 120]));
    b.put_pixel(9, 9, image::Rgb([0, 0, 0]));
    assert!((pixel_cover(&a, &b) - 0.02).abs() < 1e-12);
    assert_eq!(pixel_cover(&a, &a), 0.0);
}

#[test]
fn driven_neurons_rank_by_mean_increase() {
    let clean = vec![vec![0.0, 1.0, 2.0], vec![0.0, 1.0, 2.0]];
    let attacked = vec![vec![0.5, 3.0, 1.0], vec![1.5, 1.0, 2.0]];
    let d = driven_neurons(&clean, &attacked, 2);
    assert_eq!(d.iter().map(|n| n.neuron).collect::<Vec<_>>(), [0, 1]);
    assert!((d[0].mean_delta - 1.0).abs() < 1e-9 && (d[1].mean_delta - 1.0).abs() < 1e-9);
    assert!((d[1].clean_mean - 1.0).abs() < 1e-9);
}

#[test]
fn attack_counts_add_up_and_words_outside_labels_are_handled() {
    let m = model();
    let set = ImageSet::world_objects(Split::Test, 1, m.image_size(), 0);
    let mut labels: Vec<String> = set.items.iter().filter_map(|i| i.truth.clone()).collect();
    labels.dedup();
    let opts = AttackOptions {
        protocol: Protocol::Label,
        batch: 32,
        examples: 2,
        neuron_layer: Some(m.neuron_layer()),
        top_neurons: 3,
        vocab: vec!["lemon".into()],
    };
    let words = vec!["apple".to_string(), "ipod".to_string()];
    let spec = ClassifierSpec::ZeroShot {
        template: "a photo of a {}".into(),
    };
    let r = attack(&m, &set, &labels, spec, &words, &opts).unwrap();
    assert_eq!(r.words.len(), 2);
    assert_eq!(
        r.labels.len(),
        labels.len() + 1,
        "'ipod' is added for zero-shot"
    );
    assert!(!r.words[0].added_to_labels && r.words[1].added_to_labels);
    assert!(
        r.baseline_accuracy.unwrap() > 0.8,
        "{:?}",
        r.baseline_accuracy
    );
    for w in &r.words {
        assert_eq!(w.images, set.items.len());
        assert_eq!(w.eligible + w.already_attack_class, w.images);
        let sum = w.success_rate + w.changed_away_rate + w.neither_rate;
        assert!((sum - 1.0).abs() < 1e-9, "rates sum to {sum}");
        assert_eq!(w.driven.len(), 3);
        assert!(w.driven[0].mean_delta >= w.driven[2].mean_delta);
        assert_eq!(w.driven[0].top_words.len(), 5);
        assert_eq!(
            w.examples.len(),
            set.items.len(),
            "label protocol: every image's top-5"
        );
        assert_eq!(w.examples[0].before.len(), 5);
        assert_ne!(w.examples[0].clean, w.examples[0].attacked);
    }
    // The apple photo itself is already "apple": it does not count.
    assert!(r.words[0].already_attack_class >= 1);
    // A probe cannot report a class it was not trained on.
    let imgs: Vec<&RgbImage> = set.items.iter().map(|i| &i.rgb).collect();
    let targets: Vec<usize> = (0..imgs.len()).collect();
    let probe =
        LinearProbe::train(&m, &imgs, &targets, &labels, &ProbeOptions::default(), 32).unwrap();
    let err = attack(
        &m,
        &set,
        &labels,
        ClassifierSpec::Probe(probe),
        &words,
        &opts,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("'ipod' is not one of the probe's labels"),
        "{err}"
    );
}

#[test]
fn probe_learns_world_objects_and_round_trips() {
    let m = model();
    let set = ImageSet::world_objects(Split::Train, 3, m.image_size(), 1);
    let mut labels: Vec<String> = set.items.iter().filter_map(|i| i.truth.clone()).collect();
    labels.dedup();
    let targets: Vec<usize> = set
        .items
        .iter()
        .map(|i| {
            labels
                .iter()
                .position(|l| Some(l) == i.truth.as_ref())
                .unwrap()
        })
        .collect();
    let imgs: Vec<&RgbImage> = set.items.iter().map(|i| &i.rgb).collect();
    let probe =
        LinearProbe::train(&m, &imgs, &targets, &labels, &ProbeOptions::default(), 32).unwrap();
    assert!(
        probe.train_accuracy > 0.95,
        "train accuracy {}",
        probe.train_accuracy
    );
    // Held-out test photos of the same concepts.
    let test = ImageSet::world_objects(Split::Test, 1, m.image_size(), 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe.safetensors");
    probe.save(&path).unwrap();
    let c1 = Classifier::from_probe(probe);
    let c2 = Classifier::from_probe(LinearProbe::load(&path, m.config.embed_dim).unwrap());
    let timgs: Vec<&RgbImage> = test.items.iter().map(|i| &i.rgb).collect();
    let (p1, p2) = (
        c1.score(&m, &timgs, None).unwrap(),
        c2.score(&m, &timgs, None).unwrap(),
    );
    assert_eq!(p1.probs, p2.probs, "saved and loaded probes agree exactly");
    let correct = test
        .items
        .iter()
        .zip(&p1.probs)
        .filter(|(i, p)| {
            let best = p
                .iter()
                .enumerate()
                .fold(0, |b, (k, v)| if *v > p[b] { k } else { b });
            normalise_label(&labels[best]) == normalise_label(i.truth.as_deref().unwrap())
        })
        .count();
    assert!(
        correct * 10 >= test.items.len() * 8,
        "{correct}/{} held-out photos",
        test.items.len()
    );
    // A probe of another embedding size is refused with the reason.
    let err = LinearProbe::load(&path, 640).err().unwrap().to_string();
    assert!(err.contains("trained on another model"), "{err}");
    let err = LinearProbe::load(&dir.path().join("missing"), 128)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn stroop_has_the_article_design() {
    let m = model();
    // Stimuli: the word in its ink on white.
    let s = stimulus("red", INKS[1].1, 96);
    assert!(s.pixels().any(|p| p.0 == INKS[1].1));
    let r = stroop(&m, "{}").unwrap();
    assert_eq!(r.cells.len(), 64);
    assert_eq!((r.incongruent, r.congruent), (49, 7));
    assert!(r.incongruent_word_wins + r.incongruent_ink_wins <= 49);
    // The built-in model reads colour words: with the bare prompt the word wins most incongruent stimuli
    // (40/49 for the shipped model); it would be near 0 for a model that only sees ink.
    assert!(
        r.incongruent_word_wins >= 25,
        "word wins {}/49",
        r.incongruent_word_wins
    );
}

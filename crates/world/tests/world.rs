//! Properties of the generated world: counts, determinism, split disjointness, rendering coverage, legibility and
//! colour fidelity.

use std::collections::HashSet;

use clipneurons_world::catalogue::Family;
use clipneurons_world::{fonts, Facet, Split, World};

#[test]
fn catalogue_meets_the_counts() {
    let w = World::new();
    let cs = w.concepts();
    assert!(cs.len() >= 120, "{} concepts", cs.len());
    let fams: HashSet<_> = cs.iter().map(|c| c.family).collect();
    assert!(fams.len() >= 8);
    let names: HashSet<&str> = cs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), cs.len(), "concept names are unique");
    for n in [
        "red",
        "orange",
        "yellow",
        "green",
        "blue",
        "purple",
        "pink",
        "brown",
        "black",
        "white",
        "banana",
        "lemon",
        "apple",
        "cherry",
        "grapes",
        "spider",
        "bear",
        "moose",
        "fish",
        "bird",
        "cat",
        "dog",
        "happy",
        "sad",
        "surprised",
        "angry",
        "scared",
        "sleepy",
        "stressed",
        "north",
        "south",
        "east",
        "west",
        "ocean",
        "winter",
        "rain",
        "conifer",
        "letter a",
        "number seven",
    ] {
        assert!(names.contains(n), "missing {n}");
    }
    let count = |f: Family| cs.iter().filter(|c| c.family == f).count();
    assert!(count(Family::Character) >= 1 + 2 + 5);
    let countries = cs
        .iter()
        .filter(|c| {
            c.family == Family::Geography
                && c.name != "ocean"
                && c.region.is_some()
                && !["north", "south", "east", "west"].contains(&c.name.as_str())
        })
        .count();
    assert!(countries >= 12, "{countries} countries");
    assert!(
        cs.iter().all(|c| !c.words.is_empty()),
        "every concept has associated words"
    );
    let yellow = cs.iter().find(|c| c.name == "yellow").unwrap();
    for w in ["banana", "lemon", "sun"] {
        assert!(yellow.words.iter().any(|x| x == w));
    }
    let surprised = cs.iter().find(|c| c.name == "surprised").unwrap();
    assert!(
        surprised.words.iter().any(|x| x == "omg") && surprised.words.iter().any(|x| x == "wow")
    );
    let north = cs.iter().find(|c| c.name == "north").unwrap();
    for w in ["bear", "moose", "conifer"] {
        assert!(north.words.iter().any(|x| x == w));
    }
    let train = fonts::train_faces().len();
    assert!(train >= 17, "{train} training faces");
    assert_eq!(
        fonts::faces().len(),
        fonts::VENDORED,
        "every vendored face must parse"
    );
    assert!(!fonts::held_out_faces().is_empty());
}

#[test]
fn same_seed_same_bytes() {
    let w = World::new();
    for split in Split::ALL {
        for i in [0u64, 7, 1234] {
            let (a, b) = (w.sample(split, i, 42), w.sample(split, i, 42));
            assert_eq!(a.image.as_raw(), b.image.as_raw());
            assert_eq!(a.caption, b.caption);
            assert_eq!(a.concepts, b.concepts);
        }
        assert_ne!(
            w.sample(split, 3, 42).image.as_raw(),
            w.sample(split, 3, 43).image.as_raw()
        );
    }
}

#[test]
fn splits_are_disjoint_and_held_out_styles_stay_in_test() {
    let w = World::with_size(32);
    let held: HashSet<String> = fonts::held_out_faces()
        .iter()
        .map(|&i| fonts::faces()[i].name.to_string())
        .collect();
    let mut train = HashSet::new();
    for i in 0..2000u64 {
        for split in [Split::Train, Split::Val] {
            let s = w.sample(split, i, 5);
            assert!(
                s.font.as_ref().is_none_or(|f| !held.contains(f)),
                "held-out font in {split}"
            );
            assert_ne!(s.style, "marker", "held-out drawing style in {split}");
            if split == Split::Train {
                train.insert((s.image.into_raw(), s.caption));
            }
        }
    }
    let (mut held_font, mut marker) = (false, false);
    for i in 0..2000u64 {
        let s = w.sample(Split::Test, i, 5);
        held_font |= s.font.as_ref().is_some_and(|f| held.contains(f));
        marker |= s.style == "marker";
        assert!(
            !train.contains(&(s.image.into_raw(), s.caption)),
            "test sample {i} also in train"
        );
    }
    assert!(
        held_font && marker,
        "test uses the held-out font and drawing style"
    );
}

#[test]
fn every_concept_renders_in_every_facet() {
    let w = World::with_size(48);
    for c in w.concepts() {
        for (k, f) in Facet::ALL.iter().chain([Facet::Attack].iter()).enumerate() {
            let s = w.sample_of(Split::Test, k as u64, 1, c.id, *f);
            assert_eq!(s.image.dimensions(), (48, 48));
            assert!(!s.caption.is_empty());
            assert_eq!(s.concepts[0], c.id);
            // Something was drawn: the image is not a single flat colour.
            let first = s.image.get_pixel(0, 0);
            assert!(
                s.image.pixels().any(|p| p != first),
                "{} {:?} is blank",
                c.name,
                f
            );
        }
    }
}

#[test]
fn written_words_are_legible() {
    let w = World::new();
    let mut cover = Vec::new();
    for i in 0..200u64 {
        let c = (i as usize * 13) % w.concepts().len();
        let s = w.sample_of(Split::Train, i, 9, c, Facet::Word);
        assert_eq!(s.words.len(), 1);
        // Text pixels: those far from the image's median luminance. A legible word covers a few percent at least.
        let mut l: Vec<f32> = s
            .image
            .pixels()
            .map(|p| 0.3 * p[0] as f32 + 0.59 * p[1] as f32 + 0.11 * p[2] as f32)
            .collect();
        let lum = l.clone();
        l.sort_by(f32::total_cmp);
        let med = l[l.len() / 2];
        let ink = lum.iter().filter(|&&v| (v - med).abs() > 50.0).count() as f32 / lum.len() as f32;
        assert!(
            ink > 0.005 && ink < 0.85,
            "word {:?} covers {ink:.3} ({})",
            s.words,
            s.style
        );
        cover.push(ink);
    }
    cover.sort_by(f32::total_cmp);
    assert!(
        cover[cover.len() / 2] > 0.04,
        "median text coverage {}",
        cover[cover.len() / 2]
    );
}

fn hue(p: &image::Rgb<u8>) -> Option<f32> {
    let [r, g, b] = p.0.map(|v| v as f32 / 255.0);
    let (mx, mn) = (r.max(g).max(b), r.min(g).min(b));
    let d = mx - mn;
    if mx < 0.25 || d / mx.max(1e-6) < 0.3 {
        return None;
    }
    let h = if mx == r {
        ((g - b) / d).rem_euclid(6.0)
    } else if mx == g {
        (b - r) / d + 2.0
    } else {
        (r - g) / d + 4.0
    };
    Some(h * 60.0)
}

#[test]
fn colour_concepts_are_dominated_by_their_colour() {
    let w = World::new();
    let chromatic = ["red", "orange", "yellow", "green", "blue", "purple", "pink"];
    for c in w
        .concepts()
        .iter()
        .filter(|c| chromatic.contains(&c.name.as_str()))
    {
        let target = hue(&image::Rgb(c.colour)).unwrap();
        for f in [Facet::Photo, Facet::Drawing, Facet::Icon] {
            for i in 0..6u64 {
                let s = w.sample_of(Split::Train, i, 3, c.id, f);
                let (mut x, mut y, mut n) = (0.0f32, 0.0f32, 0usize);
                for h in s.image.pixels().filter_map(hue) {
                    x += h.to_radians().cos();
                    y += h.to_radians().sin();
                    n += 1;
                }
                assert!(
                    n as f32 > 0.08 * (s.image.len() / 3) as f32,
                    "{} {:?}: few coloured pixels",
                    c.name,
                    f
                );
                let mean = y.atan2(x).to_degrees().rem_euclid(360.0);
                let diff = (mean - target).abs().min(360.0 - (mean - target).abs());
                assert!(
                    diff < 25.0,
                    "{} {:?} #{i}: mean hue {mean:.0}, want {target:.0}",
                    c.name,
                    f
                );
            }
        }
    }
}

#[test]
fn attack_records_true_concept_and_word() {
    let w = World::new();
    for i in 0..50u64 {
        let s = w.sample(Split::Attack, i, 2);
        let t = s.true_concept.expect("true concept");
        let word = s.attack_word.as_deref().expect("attack word");
        assert_eq!(s.concepts, vec![t]);
        assert_ne!(w.concepts()[t].name, word);
        assert_eq!(s.facet, Facet::Attack);
    }
}

#[test]
fn split_names_parse() {
    for s in Split::ALL {
        assert_eq!(s.name().parse::<Split>().unwrap(), s);
    }
    assert!("bogus".parse::<Split>().is_err());
}

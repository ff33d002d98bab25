//! Caption templates. The bare concept name is used in every facet on purpose: the facets of a concept meet in
//! embedding space only where the captions make them meet (builtin-world-notes, finding 2).

use crate::catalogue::{Article, Concept, Family, Shape};
use crate::rng::Rng;

/// The concept as a noun phrase: "a banana", "an apple", "the north", "webstrider".
pub fn np(c: &Concept) -> String {
    match c.article {
        Article::A => a(&c.name),
        Article::The => format!("the {}", c.name),
        Article::Bare => c.name.clone(),
    }
}

/// "a x" / "an x".
pub fn a(word: &str) -> String {
    let vowel = word.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {word}", if vowel { "an" } else { "a" })
}

/// Probability that a caption is just the bare name.
const BARE: f32 = 0.35;

pub fn photo(c: &Concept, colour: &str, rng: &mut Rng) -> String {
    if rng.chance(BARE) {
        return c.name.clone();
    }
    let n = &c.name;
    let opts: Vec<String> = match c.family {
        Family::Colour => vec![
            format!("a photo of something {n}"),
            format!("the colour {n}"),
            format!("a {n} thing"),
            format!("{n} colour"),
        ],
        Family::Emotion => vec![
            format!("a {n} face"),
            format!("a photo of a {n} face"),
            format!("someone who feels {n}"),
        ],
        Family::Character => vec![
            format!("a photo of {n}"),
            format!("{n} in costume"),
            format!("the character {n}"),
        ],
        Family::Geography if matches!(c.shape, Shape::Country { .. }) => {
            vec![
                format!("a map of {n}"),
                format!("{n} and its flag"),
                format!("the country {n}"),
            ]
        }
        Family::Geography => vec![
            format!("a map of {}", np(c)),
            format!("{} on the map", np(c)),
        ],
        Family::Symbol => vec![
            format!("the {n}"),
            format!("a toy block with the {n}"),
            format!("a photo of the {n}"),
        ],
        Family::Weather => vec![
            format!("a photo of {n}"),
            format!("{n} in a picture"),
            format!("a picture of {n}"),
        ],
        _ => vec![
            format!("a photo of {}", np(c)),
            format!("a picture of {}", np(c)),
            format!("{} {n}", a(colour)),
            format!("a photo of {} {n}", a(colour)),
        ],
    };
    rng.pick(&opts).clone()
}

pub fn drawing(c: &Concept, colour: &str, style: &str, rng: &mut Rng) -> String {
    if rng.chance(BARE) {
        return c.name.clone();
    }
    let d = np(c);
    let opts = [
        format!("a drawing of {d}"),
        format!("a sketch of {d}"),
        format!("{} drawing of {d}", a(style)),
        format!("{} drawing of {d}", a(colour)),
        format!("{d}, drawn in {colour}"),
    ];
    rng.pick(&opts).clone()
}

pub fn icon(c: &Concept, rng: &mut Rng) -> String {
    if rng.chance(BARE) {
        return c.name.clone();
    }
    let n = &c.name;
    let mut opts = vec![
        format!("an icon of {}", np(c)),
        format!("the {n} symbol"),
        format!("a flat {n} icon"),
    ];
    match c.shape {
        Shape::Country { .. } => {
            opts = vec![
                format!("the flag of {n}"),
                format!("{n} flag"),
                format!("a flag of {n}"),
            ]
        }
        Shape::Hero { .. } => opts.push(format!("the emblem of {n}")),
        Shape::Region(_) => opts.push(format!("a compass pointing {n}")),
        Shape::Face(_) => opts.push(format!("a {n} emoji")),
        _ => {}
    }
    rng.pick(&opts).clone()
}

/// Caption of a word image. Associated words are often captioned together with the concept (dense co-occurrence).
pub fn word(c: &Concept, word: &str, is_name: bool, placement: &str, rng: &mut Rng) -> String {
    if rng.chance(0.4) {
        return word.to_string();
    }
    let mut opts = vec![
        format!("the word '{word}'"),
        format!("the text {word}"),
        format!("{word}, written"),
    ];
    match placement {
        "sign" => opts.push(format!("a sign that says {word}")),
        "label" => opts.push(format!("a label that reads {word}")),
        "banner" => opts.push(format!("a banner saying {word}")),
        _ => {}
    }
    if !is_name {
        let n = &c.name;
        opts = vec![
            format!("{word}, {n}"),
            format!("{n}: {word}"),
            format!("the word '{word}', as in {n}"),
            format!("{word} and {n}"),
        ];
    }
    rng.pick(&opts).clone()
}

/// Caption of a colour scene full of things of that colour.
pub fn colour_scene(c: &Concept, things: &[&str], rng: &mut Rng) -> String {
    let n = &c.name;
    let list = match things {
        [] => String::new(),
        [x] => a(x),
        [x, y] => format!("{} and {}", a(x), a(y)),
        [xs @ .., y] => format!(
            "{}, and {}",
            xs.iter().map(|x| a(x)).collect::<Vec<_>>().join(", "),
            a(y)
        ),
    };
    if list.is_empty() {
        return n.clone();
    }
    let opts = [
        n.clone(),
        format!("{n} things: {list}"),
        format!("a {n} scene with {list}"),
        format!("{list}, all {n}"),
        format!("{list} and the colour {n}"),
    ];
    rng.pick(&opts).clone()
}

/// Caption of a concept shown with one of its associated words.
pub fn assoc_scene(c: &Concept, word: &str, word_is_colour: bool, rng: &mut Rng) -> String {
    let n = &c.name;
    let mut opts = vec![
        format!("{n} and {word}"),
        format!("{}, {word}", np(c)),
        format!("{n} with the word {word}"),
    ];
    if word_is_colour && c.article == Article::A {
        opts.push(format!("{} {n}", a(word)));
        opts.push(format!("{word} {n}"));
    }
    rng.pick(&opts).clone()
}

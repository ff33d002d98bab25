//! The built-in synthetic multimodal world: a catalogue of concepts in the article's neuron families, each rendered
//! as a shaded photo, a coloured drawing, a flat icon, written words and association scenes, with captions from
//! templates and deterministic, disjoint train/val/test/attack splits. Training generates samples on the fly, so
//! rendering is CPU-cheap (tiny-skia paths, cached glyph outlines, no file I/O).

pub mod captions;
pub mod catalogue;
pub mod fonts;
pub mod render;
mod rng;
pub mod split;

use std::collections::HashMap;

pub use catalogue::{Concept, Family};
pub use rng::Rng;
pub use split::Split;

use catalogue::Shape;
use render::{place, shapes, Canvas};

/// The default image side in pixels: the feasibility runs worked at 96 px (builtin-world-notes).
pub const DEFAULT_SIZE: u32 = 96;

/// Share of word images that show the concept's own name rather than one of its associated words.
pub const NAME_SHARE: f32 = 0.7;

/// What decides the training stream beyond the seed, as one line for a model file's metadata: the facet mix, the
/// name share and the training font faces. A model trained on another stream can then be told apart from this one.
pub fn stream_description() -> String {
    let mix: Vec<String> = Facet::ALL
        .iter()
        .zip(Facet::WEIGHTS)
        .map(|(f, w)| format!("{} {w}", f.name()))
        .collect();
    let faces: Vec<&str> = fonts::train_faces()
        .into_iter()
        .map(|i| fonts::faces()[i].name)
        .collect();
    format!(
        "facets: {}; names {NAME_SHARE} of word images; {} training fonts: {}",
        mix.join(", "),
        faces.len(),
        faces.join(", ")
    )
}

/// How a concept is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Facet {
    Photo,
    Drawing,
    Icon,
    Word,
    /// A concept together with its associated words or concepts (dense co-occurrence).
    Scene,
    /// A photo with a conflicting word pasted on (attack split only).
    Attack,
}

impl Facet {
    /// The facets every concept has, in the order training samples them.
    pub const ALL: [Facet; 5] = [
        Facet::Photo,
        Facet::Drawing,
        Facet::Icon,
        Facet::Word,
        Facet::Scene,
    ];
    /// How often training draws each facet of [`Facet::ALL`]. Words get the largest share: reading is the slowest
    /// skill to learn (docs/BENCHMARKS.md, built-in model; runs 4, 13 and 14 tried more).
    pub const WEIGHTS: [f32; 5] = [0.15, 0.17, 0.10, 0.43, 0.15];

    pub fn name(self) -> &'static str {
        match self {
            Facet::Photo => "photo",
            Facet::Drawing => "drawing",
            Facet::Icon => "icon",
            Facet::Word => "word",
            Facet::Scene => "scene",
            Facet::Attack => "attack",
        }
    }
}

/// One generated image with everything known about it.
#[derive(Clone, Debug)]
pub struct Sample {
    pub image: image::RgbImage,
    pub caption: String,
    /// Concept ids shown, the main concept first.
    pub concepts: Vec<usize>,
    /// Family of the main concept.
    pub family: String,
    pub facet: Facet,
    /// Words written in the image.
    pub words: Vec<String>,
    /// Font face of the written words, if any.
    pub font: Option<String>,
    /// Rendering style: "photo", a drawing style, an icon style, or placement/effect of a word.
    pub style: String,
    /// Attack split: the word pasted on the image.
    pub attack_word: Option<String>,
    /// Attack split: the concept actually shown.
    pub true_concept: Option<usize>,
}

/// The world: the concept catalogue and the renderer settings.
pub struct World {
    concepts: Vec<Concept>,
    /// For each concept, the concepts its associated words name (yellow → banana, lemon, sun).
    links: Vec<Vec<usize>>,
    /// For each concept, the colour concept nearest to its typical colour.
    nearest_colour: Vec<usize>,
    size: u32,
}

impl Default for World {
    fn default() -> World {
        World::new()
    }
}

impl World {
    /// The full catalogue at the default image size.
    pub fn new() -> World {
        World::with_size(DEFAULT_SIZE)
    }

    /// The catalogue rendering `size` × `size` images (clamped to 16..=1024).
    pub fn with_size(size: u32) -> World {
        let concepts = catalogue::catalogue();
        let by_name: HashMap<&str, usize> =
            concepts.iter().map(|c| (c.name.as_str(), c.id)).collect();
        let links = concepts
            .iter()
            .map(|c| {
                c.words
                    .iter()
                    .filter_map(|w| by_name.get(w.as_str()).copied())
                    .filter(|&j| j != c.id)
                    .collect()
            })
            .collect();
        let colours: Vec<&Concept> = concepts
            .iter()
            .filter(|c| c.family == Family::Colour)
            .collect();
        let nearest_colour = concepts
            .iter()
            .map(|c| {
                colours
                    .iter()
                    .min_by_key(|k| {
                        (0..3)
                            .map(|i| (k.colour[i] as i32 - c.colour[i] as i32).pow(2))
                            .sum::<i32>()
                    })
                    .map_or(0, |k| k.id)
            })
            .collect();
        World {
            concepts,
            links,
            nearest_colour,
            size: size.clamp(16, 1024),
        }
    }

    pub fn concepts(&self) -> &[Concept] {
        &self.concepts
    }

    /// Every word the world writes: concept names and associated words, lower case, sorted, without repeats.
    pub fn vocabulary(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .concepts
            .iter()
            .flat_map(|c| std::iter::once(c.name.clone()).chain(c.words.iter().cloned()))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn size(&self) -> u32 {
        self.size
    }

    /// Concepts linked to `id` by its associated words.
    pub fn links(&self, id: usize) -> &[usize] {
        self.links.get(id).map_or(&[], Vec::as_slice)
    }

    /// Sample `index` of `split` for `seed`: a pure function of its arguments.
    pub fn sample(&self, split: Split, index: u64, seed: u64) -> Sample {
        let mut rng = split::stream(split, seed, index);
        if split == Split::Attack {
            let pool: Vec<usize> = self
                .concepts
                .iter()
                .filter(|c| matches!(c.family, Family::Object | Family::Animal | Family::Plant))
                .map(|c| c.id)
                .collect();
            let c = pool[split::concept_for(split, seed, index, pool.len())];
            return self.attack(c, &mut rng);
        }
        let c = split::concept_for(split, seed, index, self.concepts.len());
        let facet = Facet::ALL[rng.weighted(&Facet::WEIGHTS)];
        self.render(split, c, facet, &mut rng)
    }

    /// A sample of a chosen concept and facet (for evaluation and tests), deterministic in (split, index, seed).
    pub fn sample_of(
        &self,
        split: Split,
        index: u64,
        seed: u64,
        concept: usize,
        facet: Facet,
    ) -> Sample {
        let mut rng = split::stream(split, seed, index ^ 0x5EED_0F00_0000_0000);
        let concept = concept.min(self.concepts.len() - 1);
        if facet == Facet::Attack {
            return self.attack(concept, &mut rng);
        }
        self.render(split, concept, facet, &mut rng)
    }

    /// The colour word for a concept's typical colour; "grey" for an unsaturated mid-tone (an elephant), which no
    /// colour concept names.
    fn colour_name(&self, id: usize) -> &str {
        let c = self.concepts[id].colour;
        let (mx, mn) = (
            *c.iter().max().unwrap_or(&0) as f32,
            *c.iter().min().unwrap_or(&0) as f32,
        );
        let l = render::luma(c);
        if (mx - mn) < 0.2 * mx && (60.0..200.0).contains(&l) {
            "grey"
        } else {
            &self.concepts[self.nearest_colour[id]].name
        }
    }

    fn blank(&self, c: &Concept, facet: Facet, caption: String, style: &str) -> Sample {
        Sample {
            image: image::RgbImage::new(0, 0),
            caption,
            concepts: vec![c.id],
            family: c.family.name().to_string(),
            facet,
            words: Vec::new(),
            font: None,
            style: style.to_string(),
            attack_word: None,
            true_concept: None,
        }
    }

    fn render(&self, split: Split, id: usize, facet: Facet, rng: &mut Rng) -> Sample {
        let c = &self.concepts[id];
        let mut cv = Canvas::new(self.size);
        let colour = self.colour_name(id).to_string();
        match facet {
            Facet::Photo | Facet::Attack => {
                let style = render::photo::render(&mut cv, c, rng);
                let caption = captions::photo(c, &colour, rng);
                let mut s = self.blank(c, Facet::Photo, caption, style);
                s.image = cv.finish(rng.range(4.0, 14.0), rng.chance(0.5), rng);
                s
            }
            Facet::Drawing => {
                let style = split::drawing_style_for(split, rng);
                render::drawing::render(&mut cv, c, rng, style);
                let caption = captions::drawing(c, &colour, style, rng);
                let mut s = self.blank(c, facet, caption, style);
                s.image = cv.finish(rng.range(0.0, 5.0), false, rng);
                s
            }
            Facet::Icon => {
                let style = render::icon::render(&mut cv, c, rng);
                let caption = captions::icon(c, rng);
                let mut s = self.blank(c, facet, caption, style);
                s.image = cv.finish(0.0, false, rng);
                s
            }
            Facet::Word => self.word(split, c, cv, rng),
            Facet::Scene => self.scene(split, c, cv, rng),
        }
    }

    /// The concept's written name ([`NAME_SHARE`]) or one of its associated words.
    fn word(&self, split: Split, c: &Concept, mut cv: Canvas, rng: &mut Rng) -> Sample {
        let (word, is_name) = if c.words.is_empty() || rng.chance(NAME_SHARE) {
            (c.name.clone(), true)
        } else {
            (rng.pick(&c.words).clone(), false)
        };
        let ink = self.ink_for(c, &word, rng);
        let fi = split::font_for(split, rng);
        let face = &fonts::faces()[fi];
        let style = render::text::render(&mut cv, face, &word, ink, rng);
        let placement = style.split('/').next().unwrap_or("plain").to_string();
        let caption = captions::word(c, &word, is_name, &placement, rng);
        let mut s = self.blank(c, Facet::Word, caption, &style);
        if !is_name {
            if let Some(j) = self.concepts.iter().position(|k| k.name == word) {
                s.concepts.push(j);
            }
        }
        s.words = vec![word];
        s.font = Some(face.name.to_string());
        s.image = cv.finish(rng.range(0.0, 6.0), rng.chance(0.2), rng);
        s
    }

    /// Ink for a written word: a colour word in its own colour, a concept's name often in the concept's colour.
    fn ink_for(&self, c: &Concept, word: &str, rng: &mut Rng) -> Option<[u8; 3]> {
        if let Some(k) = self
            .concepts
            .iter()
            .find(|k| k.family == Family::Colour && k.name == word)
        {
            if rng.chance(0.7) {
                return Some(k.colour);
            }
        }
        if rng.chance(0.35) {
            return Some(c.colour);
        }
        None
    }

    fn scene(&self, split: Split, c: &Concept, mut cv: Canvas, rng: &mut Rng) -> Sample {
        let s = cv.size;
        let links = self.links(c.id);
        if c.family == Family::Colour {
            // A wash of the colour with things of that colour: "yellow" with banana and lemon icons.
            cv.clear(render::mix(c.colour, [255, 255, 255], rng.range(0.35, 0.6)));
            let n = links.len().clamp(1, 3).min(rng.below(3) + 1);
            let mut chosen: Vec<usize> = links.to_vec();
            rng.shuffle(&mut chosen);
            chosen.truncate(n);
            let spots = [(0.3, 0.3), (0.7, 0.35), (0.5, 0.72)];
            for (k, &j) in chosen.iter().enumerate() {
                let o = &self.concepts[j];
                let parts = shapes::icon_parts(o, rng);
                let (x, y) = spots[k];
                let ts = place(
                    s * x,
                    s * y,
                    s * rng.range(0.17, 0.22),
                    rng.range(-15.0, 15.0),
                );
                cv.flat_parts(&parts.0, o, ts, Some(1.2 * 0.2 / s * 96.0 / 20.0));
            }
            let things: Vec<&str> = chosen
                .iter()
                .map(|&j| self.concepts[j].name.as_str())
                .collect();
            let caption = captions::colour_scene(c, &things, rng);
            let mut out = self.blank(c, Facet::Scene, caption, "scene");
            out.concepts.extend(chosen);
            out.image = cv.finish(rng.range(0.0, 6.0), false, rng);
            return out;
        }
        // The concept's photo with an associated word written under it: "a yellow banana".
        render::photo::background(&mut cv, rng);
        let parts = shapes::parts(c, rng);
        let ts = place(s * 0.5, s * 0.4, s * 0.3, rng.range(-10.0, 10.0));
        render::photo::shaded(&mut cv, &parts, c, ts, rng.range(180.0, 300.0), true);
        let colour = self.colour_name(c.id).to_string();
        let word = if rng.chance(0.4) || c.words.is_empty() {
            colour.clone()
        } else {
            rng.pick(&c.words).clone()
        };
        let word_is_colour = word == colour;
        let ink = if word_is_colour {
            Some(if colour == "grey" {
                c.colour
            } else {
                self.concepts[self.nearest_colour[c.id]].colour
            })
        } else {
            None
        };
        let fi = split::font_for(split, rng);
        let face = &fonts::faces()[fi];
        let band = render::muted(rng, 225.0, 252.0);
        let band = if ink.is_some_and(|k| render::luma(k) > 180.0) {
            render::muted(rng, 40.0, 80.0)
        } else {
            band
        };
        cv.rect(s * 0.06, s * 0.74, s * 0.88, s * 0.22, band, 1.0);
        let ink = render::text::readable(ink.unwrap_or([20, 20, 25]), band);
        render::text::draw(
            &mut cv,
            face,
            &word,
            (s * 0.5, s * 0.85),
            (s * 0.8, s * 0.17),
            0.0,
            ink,
            "solid",
            1.0,
        );
        let caption = captions::assoc_scene(c, &word, word_is_colour, rng);
        let mut out = self.blank(c, Facet::Scene, caption, "scene");
        if let Some(j) = self
            .concepts
            .iter()
            .position(|k| k.name == word && k.id != c.id)
        {
            out.concepts.push(j);
        }
        out.words = vec![word];
        out.font = Some(face.name.to_string());
        out.image = cv.finish(rng.range(2.0, 8.0), false, rng);
        out
    }

    /// A photo of `id` with another concept's name pasted on it; the caption describes what is really shown.
    fn attack(&self, id: usize, rng: &mut Rng) -> Sample {
        let c = &self.concepts[id];
        let mut cv = Canvas::new(self.size);
        render::photo::render(&mut cv, c, rng);
        let others: Vec<usize> = self
            .concepts
            .iter()
            .filter(|k| {
                k.id != id && matches!(k.family, Family::Object | Family::Animal | Family::Plant)
            })
            .map(|k| k.id)
            .collect();
        let other = &self.concepts[*rng.pick(&others)];
        let fi = split::font_for(Split::Attack, rng);
        let face = &fonts::faces()[fi];
        render::text::paste_label(&mut cv, face, &other.name, rng);
        let colour = self.colour_name(id).to_string();
        let caption = captions::photo(c, &colour, rng);
        let mut s = self.blank(c, Facet::Attack, caption, "photo+label");
        s.words = vec![other.name.clone()];
        s.font = Some(face.name.to_string());
        s.attack_word = Some(other.name.clone());
        s.true_concept = Some(id);
        s.image = cv.finish(rng.range(3.0, 10.0), false, rng);
        s
    }

    /// Whether a concept's shape is drawn from font glyphs (letters and numbers).
    pub fn is_glyph(&self, id: usize) -> bool {
        matches!(
            self.concepts.get(id).map(|c| c.shape),
            Some(Shape::Glyph(_))
        )
    }
}

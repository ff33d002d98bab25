//! Writing attack words on images, in the model's own input resolution (the word is drawn after the resize and
//! crop, so every written pixel reaches the model and the pixel cover is exact).

use clipneurons_world::fonts::{self, Face};
use clipneurons_world::render::{text, Canvas};
use clipneurons_world::Rng;
use image::RgbImage;

/// How the attack word is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The word eight times at [`GRID8`], [`GRID8_HEIGHT`] high, in [`grid_face`], in [`GRID8_INK`]. The article's automated evaluation (its coordinates and font are
    /// unpublished; these are ours, fixed).
    Grid8,
    /// One paper label with the word in a hand-written-style face ([`label_face`]), placed on the object near the
    /// middle with a small random tilt (seeded per image): the article's "in the wild" test.
    Label,
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "grid8" => Ok(Protocol::Grid8),
            "label" => Ok(Protocol::Label),
            _ => Err(format!("unknown protocol '{s}' (use grid8 or label)")),
        }
    }
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Grid8 => "grid8",
            Protocol::Label => "label",
        }
    }
}

/// Word centres of the grid protocol, as fractions of the image side (x, y).
pub const GRID8: [(f32, f32); 8] = [
    (0.24, 0.12),
    (0.72, 0.14),
    (0.48, 0.31),
    (0.20, 0.50),
    (0.76, 0.52),
    (0.42, 0.70),
    (0.24, 0.88),
    (0.74, 0.87),
];
/// Word height (cap to descender) as a fraction of the image side; the word is also fitted to [`GRID8_WIDTH`].
pub const GRID8_HEIGHT: f32 = 0.09;
pub const GRID8_WIDTH: f32 = 0.32;
/// Ink of the grid words: white, which reads on the dark and cluttered backgrounds of photos.
pub const GRID8_INK: [u8; 3] = [250, 250, 250];

/// The consistent font of the grid protocol: the world's first training face (Liberation Sans).
pub fn grid_face() -> &'static Face {
    &fonts::faces()[fonts::train_faces()[0]]
}

/// The hand-written-style face of the label protocol: Comic Neue (held out of the built-in model's training).
pub fn label_face() -> &'static Face {
    let faces = fonts::faces();
    faces
        .iter()
        .find(|f| f.name == "ComicNeue-Regular")
        .unwrap_or(&faces[0])
}

/// `img` with `word` written on it by `protocol`; `seed` places the label (grid positions are fixed).
pub fn write(img: &RgbImage, word: &str, protocol: Protocol, seed: u64) -> RgbImage {
    let mut cv = Canvas::from_rgb(img);
    let s = cv.size;
    match protocol {
        Protocol::Grid8 => {
            for (x, y) in GRID8 {
                text::draw(
                    &mut cv,
                    grid_face(),
                    word,
                    (x * s, y * s),
                    (GRID8_WIDTH * s, GRID8_HEIGHT * s),
                    0.0,
                    GRID8_INK,
                    "solid",
                    1.0,
                );
            }
        }
        Protocol::Label => {
            let mut rng = Rng::new(seed ^ 0x1abe_1000);
            text::paste_label(&mut cv, label_face(), word, &mut rng);
        }
    }
    cv.to_rgb()
}

/// Fraction of pixels changed by any amount (the article's pixel cover, an L0 norm).
pub fn pixel_cover(a: &RgbImage, b: &RgbImage) -> f64 {
    let n = (a.width() * a.height()) as f64;
    let changed = a
        .pixels()
        .zip(b.pixels())
        .filter(|(p, q)| p.0 != q.0)
        .count();
    changed as f64 / n.max(1.0)
}

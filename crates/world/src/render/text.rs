//! The written-word facet: a word set in one of the vendored faces, with a size, colour, rotation, text effect and
//! placement (plain, on a sign, on a label, on a banner), and the word-pasting used by the typographic attack.

use tiny_skia::{PathBuilder, Transform};

use super::{darken, luma, mix, muted, vivid, Canvas};
use crate::fonts::Face;
use crate::rng::Rng;

pub const PLACEMENTS: [&str; 4] = ["plain", "sign", "label", "banner"];
pub const EFFECTS: [&str; 5] = ["solid", "outline", "shadow", "sticker", "skew"];

/// Draw `text` centred at (`cx`, `cy`) fitting in `max_w` × `max_h` pixels.
#[allow(clippy::too_many_arguments)]
pub fn draw(
    cv: &mut Canvas,
    face: &Face,
    text: &str,
    (cx, cy): (f32, f32),
    (max_w, max_h): (f32, f32),
    deg: f32,
    colour: [u8; 3],
    effect: &str,
    stretch: f32,
) {
    let line = face.line(text, 0.0);
    let Some(path) = line.path else { return };
    let em_w = (line.width * stretch).max(0.1);
    let px = (max_w / em_w).min(max_h / 0.95).max(1.0);
    let skew = if effect == "skew" { -0.25 } else { 0.0 };
    let ts = Transform::from_translate(cx, cy)
        .pre_concat(Transform::from_rotate(deg))
        .pre_concat(Transform::from_row(
            px * stretch,
            0.0,
            skew * px,
            px,
            0.0,
            0.0,
        ))
        .pre_concat(Transform::from_translate(-line.width / 2.0, 0.36));
    let contrast = if luma(colour) > 140.0 {
        [25, 25, 30]
    } else {
        [250, 250, 250]
    };
    match effect {
        "outline" => cv.stroke(&path, colour, 1.0, (1.6 / px).max(0.02), ts),
        "shadow" => {
            let off = (px * 0.06).max(1.0);
            cv.fill(
                &path,
                darken(colour, 0.3),
                0.6,
                Transform::from_translate(off, off).pre_concat(ts),
            );
            cv.fill(&path, colour, 1.0, ts);
        }
        "sticker" => {
            cv.stroke(&path, contrast, 1.0, (3.0 / px).max(0.04), ts);
            cv.fill(&path, colour, 1.0, ts);
        }
        _ => cv.fill(&path, colour, 1.0, ts),
    }
}

/// A text colour readable on `surface`: `want` if it contrasts enough, otherwise black or white.
pub fn readable(want: [u8; 3], surface: [u8; 3]) -> [u8; 3] {
    if (luma(want) - luma(surface)).abs() >= 70.0 {
        want
    } else if luma(surface) > 128.0 {
        [20, 20, 25]
    } else {
        [245, 245, 245]
    }
}

/// A surface colour against which `ink` reads well.
fn surface_for(ink: [u8; 3], rng: &mut Rng) -> [u8; 3] {
    if luma(ink) > 120.0 {
        muted(rng, 20.0, 70.0)
    } else {
        muted(rng, 215.0, 252.0)
    }
}

/// Render a word image. `ink` is the wished text colour (e.g. a colour word in its colour), else random.
/// Returns the placement and effect as a style string.
pub fn render(
    cv: &mut Canvas,
    face: &Face,
    word: &str,
    ink: Option<[u8; 3]>,
    rng: &mut Rng,
) -> String {
    let s = cv.size;
    let text = match rng.below(10) {
        0..=5 => word.to_string(),
        6..=7 => word.to_uppercase(),
        _ => {
            let mut cs = word.chars();
            cs.next()
                .map(|f| f.to_uppercase().chain(cs).collect())
                .unwrap_or_default()
        }
    };
    let ink = ink.unwrap_or_else(|| vivid(rng));
    let placement = *rng.pick(&PLACEMENTS);
    let effect = *rng.pick(&EFFECTS);
    let stretch = if rng.chance(0.25) {
        rng.range(0.75, 1.3)
    } else {
        1.0
    };
    let surface = surface_for(ink, rng);
    let deg = rng.range(-1.0, 1.0) * if rng.chance(0.6) { 8.0 } else { 25.0 };
    match placement {
        "sign" => {
            super::photo::background(cv, rng);
            let (w, h) = (s * rng.range(0.8, 0.94), s * rng.range(0.36, 0.5));
            let top = s * rng.range(0.12, 0.3);
            cv.rect(s * 0.47, top + h, s * 0.06, s, [110, 80, 50], 1.0);
            let x = (s - w) / 2.0;
            cv.rect(
                x - 2.0,
                top - 2.0,
                w + 4.0,
                h + 4.0,
                darken(surface, 0.6),
                1.0,
            );
            cv.rect(x, top, w, h, surface, 1.0);
            let deg = deg.clamp(-6.0, 6.0);
            draw(
                cv,
                face,
                &text,
                (s / 2.0, top + h / 2.0),
                (w * 0.88, h * 0.75),
                deg,
                readable(ink, surface),
                effect,
                stretch,
            );
        }
        "label" => {
            super::photo::background(cv, rng);
            let (w, h) = (s * rng.range(0.75, 0.92), s * rng.range(0.3, 0.42));
            let (cx, cy) = (s * 0.5, s * rng.range(0.4, 0.6));
            let ts = Transform::from_translate(cx, cy).pre_concat(Transform::from_rotate(deg));
            if let Some(r) = tiny_skia::Rect::from_xywh(-w / 2.0, -h / 2.0, w, h) {
                let p = PathBuilder::from_rect(r);
                cv.fill(
                    &p,
                    [0, 0, 0],
                    0.25,
                    Transform::from_translate(2.0, 2.0).pre_concat(ts),
                );
                cv.fill(&p, surface, 1.0, ts);
            }
            draw(
                cv,
                face,
                &text,
                (cx, cy),
                (w * 0.86, h * 0.7),
                deg,
                readable(ink, surface),
                effect,
                stretch,
            );
        }
        "banner" => {
            cv.clear(mix(surface, [128, 128, 128], 0.3));
            let h = s * rng.range(0.35, 0.5);
            let cy = s * rng.range(0.4, 0.6);
            let ts = Transform::from_translate(s / 2.0, cy)
                .pre_concat(Transform::from_rotate(deg * 0.5));
            let band = mix(surface, vivid(rng), 0.15);
            if let Some(r) = tiny_skia::Rect::from_xywh(-s, -h / 2.0, 2.0 * s, h) {
                cv.fill(&PathBuilder::from_rect(r), band, 1.0, ts);
            }
            draw(
                cv,
                face,
                &text,
                (s / 2.0, cy),
                (s * 0.86, h * 0.75),
                deg * 0.5,
                readable(ink, band),
                effect,
                stretch,
            );
        }
        _ => {
            cv.clear(surface);
            let size = rng.range(0.45, 0.95);
            let (cx, cy) = (s * rng.range(0.4, 0.6), s * rng.range(0.35, 0.65));
            draw(
                cv,
                face,
                &text,
                (cx, cy),
                (s * 0.9 * size.max(0.7), s * 0.45 * size),
                deg,
                readable(ink, surface),
                effect,
                stretch,
            );
        }
    }
    format!("{placement}/{effect}")
}

/// Paste a label with `word` onto an existing image (the typographic attack): a paper note at a random spot.
pub fn paste_label(cv: &mut Canvas, face: &Face, word: &str, rng: &mut Rng) {
    let s = cv.size;
    let (w, h) = (s * rng.range(0.5, 0.75), s * rng.range(0.2, 0.28));
    let (cx, cy) = (s * rng.range(0.38, 0.62), s * rng.range(0.3, 0.7));
    let deg = rng.range(-12.0, 12.0);
    let paper = muted(rng, 235.0, 255.0);
    let ts = Transform::from_translate(cx, cy).pre_concat(Transform::from_rotate(deg));
    if let Some(r) = tiny_skia::Rect::from_xywh(-w / 2.0, -h / 2.0, w, h) {
        let p = PathBuilder::from_rect(r);
        cv.fill(
            &p,
            [0, 0, 0],
            0.3,
            Transform::from_translate(1.5, 1.5).pre_concat(ts),
        );
        cv.fill(&p, paper, 1.0, ts);
    }
    let ink = if rng.chance(0.7) {
        [20, 20, 25]
    } else {
        darken(vivid(rng), 0.5)
    };
    draw(
        cv,
        face,
        word,
        (cx, cy),
        (w * 0.88, h * 0.7),
        deg,
        ink,
        "solid",
        1.0,
    );
}

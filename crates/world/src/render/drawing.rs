//! The drawing facet: a sketch on paper in the concept's own colours (coloured pencil, crayon), because a colourless
//! line drawing of a colour concept cannot be told apart (builtin-world-notes, finding 5). `marker` is held out:
//! it appears only in the test split.

use tiny_skia::{FillRule, Mask, PathBuilder, Transform};

use super::shapes::{self, Part};
use super::{darken, luma, mix, muted, place, tone, Canvas};
use crate::catalogue::Concept;
use crate::rng::Rng;

pub const TRAIN_STYLES: [&str; 2] = ["pencil", "crayon"];
pub const HELD_OUT_STYLES: [&str; 1] = ["marker"];

/// Render a drawing of `c` in `style` (one of the style names above).
pub fn render(cv: &mut Canvas, c: &Concept, rng: &mut Rng, style: &str) {
    let parts = shapes::parts(c, rng);
    let light_ink = parts
        .0
        .iter()
        .filter(|p| luma(tone(p.tone, c)) > 205.0)
        .count()
        * 2
        > parts.0.len();
    let paper = if light_ink {
        muted(rng, 95.0, 140.0)
    } else {
        muted(rng, 232.0, 252.0)
    };
    cv.clear(paper);
    let s = cv.size;
    if rng.chance(0.3) {
        // Ruled notebook paper as clutter.
        let mut y = s * 0.15;
        while y < s {
            cv.rect(0.0, y, s, 1.0, mix(paper, [120, 150, 210], 0.35), 0.8);
            y += s * rng.range(0.1, 0.14);
        }
    }
    let scale = s * 0.5 * rng.range(0.65, 0.88);
    let ts = place(
        s * (0.5 + rng.range(-0.06, 0.06)),
        s * (0.5 + rng.range(-0.06, 0.06)),
        scale,
        rng.range(-12.0, 12.0),
    );
    let px = 1.0 / scale;
    let gap = rng.range(2.2, 3.5);
    let flip = rng.chance(0.5);
    for p in &parts.0 {
        let col = tone(p.tone, c);
        match style {
            "marker" => marker(cv, p, col, ts, px, rng),
            _ => {
                // Hatch only over the part's own box: a full-canvas hatch per part dominated the render time.
                let hatch = p
                    .path
                    .clone()
                    .transform(ts)
                    .and_then(|q| hatch_lines(q.bounds(), gap, flip));
                if style == "crayon" {
                    crayon(cv, p, col, ts, px, rng, hatch.as_ref())
                } else {
                    pencil(cv, p, col, ts, px, rng, hatch.as_ref())
                }
            }
        }
    }
}

/// Diagonal hatch lines covering the box `b` (pixel coordinates).
fn hatch_lines(b: tiny_skia::Rect, gap: f32, flip: bool) -> Option<tiny_skia::Path> {
    let mut pb = PathBuilder::new();
    let (x0, y0, h) = (b.left() - 1.0, b.top() - 1.0, b.height() + 2.0);
    let mut k = x0 - h;
    while k < b.right() + 1.0 {
        if flip {
            pb.move_to(k, y0 + h);
            pb.line_to(k + h, y0);
        } else {
            pb.move_to(k, y0);
            pb.line_to(k + h, y0 + h);
        }
        k += gap.max(1.0);
    }
    pb.finish()
}

fn mask_of(cv: &Canvas, p: &Part, ts: Transform) -> Option<Mask> {
    let mut m = Mask::new(cv.pm.width(), cv.pm.height())?;
    m.fill_path(&p.path, FillRule::Winding, true, ts);
    Some(m)
}

fn hatch(
    cv: &mut Canvas,
    p: &Part,
    col: [u8; 3],
    ts: Transform,
    hatch: Option<&tiny_skia::Path>,
    width: f32,
    alpha: f32,
) {
    let (Some(m), Some(h)) = (mask_of(cv, p, ts), hatch) else {
        return;
    };
    let stroke = tiny_skia::Stroke {
        width,
        ..Default::default()
    };
    cv.pm.stroke_path(
        h,
        &super::paint(col, alpha),
        &stroke,
        Transform::identity(),
        Some(&m),
    );
}

/// Thin sketchy outline drawn twice with a slight wobble, light colouring and hatching.
fn pencil(
    cv: &mut Canvas,
    p: &Part,
    col: [u8; 3],
    ts: Transform,
    px: f32,
    rng: &mut Rng,
    h: Option<&tiny_skia::Path>,
) {
    let ink = darken(col, 0.85);
    if let Some(w) = p.line {
        cv.stroke(&p.path, ink, 0.9, w.min(px * 3.0), ts);
        return;
    }
    cv.fill(&p.path, col, 0.45, ts);
    hatch(cv, p, col, ts, h, 1.0, 0.8);
    for _ in 0..2 {
        let j =
            Transform::from_translate(rng.range(-0.6, 0.6), rng.range(-0.6, 0.6)).pre_concat(ts);
        cv.stroke(&p.path, ink, 0.75, px * 1.1, j);
    }
}

/// Waxy crayon: heavy colouring with dense strokes, thick wobbly outline.
fn crayon(
    cv: &mut Canvas,
    p: &Part,
    col: [u8; 3],
    ts: Transform,
    px: f32,
    rng: &mut Rng,
    h: Option<&tiny_skia::Path>,
) {
    if let Some(w) = p.line {
        cv.stroke(&p.path, col, 0.95, w.max(px * 2.0), ts);
        return;
    }
    cv.fill(&p.path, col, 0.55, ts);
    hatch(cv, p, col, ts, h, 1.6, 0.7);
    let j = Transform::from_translate(rng.range(-0.8, 0.8), rng.range(-0.8, 0.8))
        .pre_concat(ts)
        .pre_concat(Transform::from_rotate(rng.range(-2.0, 2.0)));
    cv.stroke(&p.path, darken(col, 0.8), 0.9, px * 2.2, j);
}

/// Felt-tip marker (test only): flat, slightly misregistered colour and a bold dark outline.
fn marker(cv: &mut Canvas, p: &Part, col: [u8; 3], ts: Transform, px: f32, rng: &mut Rng) {
    if let Some(w) = p.line {
        cv.stroke(&p.path, col, 1.0, w.max(px * 2.5), ts);
        return;
    }
    let off = Transform::from_translate(rng.range(-2.0, 2.0), rng.range(-2.0, 2.0)).pre_concat(ts);
    cv.fill(&p.path, col, 0.85, off);
    cv.stroke(&p.path, darken(col, 0.5), 1.0, px * 2.6, ts);
}

/// Whether a drawing style is one that only the test split uses.
pub fn is_held_out(style: &str) -> bool {
    HELD_OUT_STYLES.contains(&style)
}

//! The vendored fonts (see `fonts/README.md`) and text outlines. Glyph outlines are turned into `tiny_skia` paths once
//! per face and cached, so writing a word costs a few path copies, not a font parse.

use std::sync::OnceLock;

use ab_glyph::{Font as _, FontRef, OutlineCurve};
use tiny_skia::{Path, PathBuilder, Transform};

/// One font face. `held_out` faces appear only in the test split, so test measures reading in unseen fonts.
pub struct Face {
    pub name: &'static str,
    pub held_out: bool,
    /// Outlines of the printable ASCII characters in em units, y down, baseline at 0.
    glyphs: Vec<Option<Path>>,
    advances: Vec<f32>,
    pub ascent: f32,
    pub descent: f32,
}

macro_rules! face {
    ($file:literal, $held:expr) => {
        (
            $file,
            include_bytes!(concat!("../fonts/", $file)).as_slice(),
            $held,
        )
    };
}

/// How many faces are vendored (a face that fails to parse is left out of [`faces`]; a test checks none is).
pub const VENDORED: usize = FILES.len();

const FILES: [(&str, &[u8], bool); 23] = [
    face!("LiberationSans-Regular.ttf", false),
    face!("LiberationSans-Bold.ttf", false),
    face!("LiberationSans-Italic.ttf", false),
    face!("LiberationSans-BoldItalic.ttf", false),
    face!("LiberationSansNarrow-Regular.ttf", false),
    face!("LiberationSansNarrow-Bold.ttf", false),
    face!("LiberationSansNarrow-Italic.ttf", false),
    face!("LiberationSansNarrow-BoldItalic.ttf", false),
    face!("LiberationSerif-Regular.ttf", false),
    face!("LiberationSerif-Bold.ttf", false),
    face!("LiberationSerif-Italic.ttf", false),
    face!("LiberationSerif-BoldItalic.ttf", false),
    face!("LiberationMono-Regular.ttf", false),
    face!("LiberationMono-Bold.ttf", false),
    face!("LiberationMono-Italic.ttf", false),
    face!("LiberationMono-BoldItalic.ttf", false),
    face!("FreeSansBold.ttf", false),
    face!("FreeSansBoldOblique.ttf", false),
    face!("FreeMonoBold.ttf", false),
    face!("FreeMonoBoldOblique.ttf", false),
    face!("FreeSerifBoldItalic.ttf", false),
    face!("ComicNeue-Regular.otf", true),
    face!("ComicNeue-Bold.otf", true),
];

const FIRST: u32 = 32;
const LAST: u32 = 126;

fn load(name: &'static str, data: &'static [u8], held_out: bool) -> Option<Face> {
    let font = FontRef::try_from_slice(data).ok()?;
    let upem = font.units_per_em().unwrap_or(1000.0);
    let s = 1.0 / upem;
    let mut glyphs = Vec::new();
    let mut advances = Vec::new();
    for code in FIRST..=LAST {
        let ch = char::from_u32(code).unwrap_or(' ');
        let id = font.glyph_id(ch);
        advances.push(font.h_advance_unscaled(id) * s);
        glyphs.push(font.outline(id).and_then(|o| outline_path(&o.curves, s)));
    }
    Some(Face {
        name: name.trim_end_matches(".ttf").trim_end_matches(".otf"),
        held_out,
        glyphs,
        advances,
        ascent: font.ascent_unscaled() * s,
        descent: -font.descent_unscaled() * s,
    })
}

/// Join ab_glyph's separate curve segments into closed contours (a new contour starts where a segment does not
/// continue the previous one).
fn outline_path(curves: &[OutlineCurve], s: f32) -> Option<Path> {
    let mut pb = PathBuilder::new();
    let mut last: Option<(f32, f32)> = None;
    let p = |q: ab_glyph::Point| (q.x * s, -q.y * s);
    for c in curves {
        let start = match c {
            OutlineCurve::Line(a, _)
            | OutlineCurve::Quad(a, _, _)
            | OutlineCurve::Cubic(a, _, _, _) => p(*a),
        };
        let joined =
            last.is_some_and(|l| (l.0 - start.0).abs() < 1e-6 && (l.1 - start.1).abs() < 1e-6);
        if !joined {
            if last.is_some() {
                pb.close();
            }
            pb.move_to(start.0, start.1);
        }
        let end = match c {
            OutlineCurve::Line(_, b) => {
                let b = p(*b);
                pb.line_to(b.0, b.1);
                b
            }
            OutlineCurve::Quad(_, c1, b) => {
                let (c1, b) = (p(*c1), p(*b));
                pb.quad_to(c1.0, c1.1, b.0, b.1);
                b
            }
            OutlineCurve::Cubic(_, c1, c2, b) => {
                let (c1, c2, b) = (p(*c1), p(*c2), p(*b));
                pb.cubic_to(c1.0, c1.1, c2.0, c2.1, b.0, b.1);
                b
            }
        };
        last = Some(end);
    }
    if last.is_some() {
        pb.close();
    }
    pb.finish()
}

/// All faces, training faces first.
pub fn faces() -> &'static [Face] {
    static FACES: OnceLock<Vec<Face>> = OnceLock::new();
    FACES.get_or_init(|| {
        FILES
            .iter()
            .filter_map(|(n, d, h)| load(n, d, *h))
            .collect()
    })
}

/// Indices of the faces usable in training (and validation).
pub fn train_faces() -> Vec<usize> {
    faces()
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.held_out)
        .map(|(i, _)| i)
        .collect()
}

/// Indices of the test-only faces.
pub fn held_out_faces() -> Vec<usize> {
    faces()
        .iter()
        .enumerate()
        .filter(|(_, f)| f.held_out)
        .map(|(i, _)| i)
        .collect()
}

/// A laid-out line of text in em units: the path (baseline at y = 0, starting at x = 0) and its advance width.
pub struct Line {
    pub path: Option<Path>,
    pub width: f32,
}

impl Face {
    /// Lay out `text` on one line. Characters outside printable ASCII are drawn as spaces.
    pub fn line(&self, text: &str, tracking: f32) -> Line {
        let mut pb = PathBuilder::new();
        let mut x = 0.0f32;
        for ch in text.chars() {
            let code = ch as u32;
            let i = if (FIRST..=LAST).contains(&code) {
                (code - FIRST) as usize
            } else {
                0
            };
            if let Some(g) = &self.glyphs[i] {
                if let Some(moved) = g.clone().transform(Transform::from_translate(x, 0.0)) {
                    pb.push_path(&moved);
                }
            }
            x += self.advances[i] + tracking;
        }
        Line {
            path: pb.finish(),
            width: (x - tracking).max(0.0),
        }
    }

    /// The outline of one character, if the face has one.
    pub fn glyph(&self, ch: char) -> Option<&Path> {
        let code = ch as u32;
        if (FIRST..=LAST).contains(&code) {
            self.glyphs[(code - FIRST) as usize].as_ref()
        } else {
            None
        }
    }
}

//! Rendering: one module per facet, sharing a small canvas with colour helpers and pixel post-processing.

pub mod drawing;
pub mod icon;
pub mod photo;
pub mod shapes;
pub mod text;

use image::RgbImage;
use tiny_skia::{Color, FillRule, Paint, Path, Pixmap, Rect, Stroke, Transform};

use crate::catalogue::Concept;
use crate::rng::Rng;
use shapes::{Part, Tone};

/// A square RGBA canvas; the world's images are square.
pub struct Canvas {
    pub pm: Pixmap,
    pub size: f32,
}

impl Canvas {
    pub fn new(size: u32) -> Canvas {
        let size = size.clamp(8, 4096);
        // `Pixmap::new` fails only for zero or huge sizes, excluded by the clamp.
        let pm = Pixmap::new(size, size).unwrap_or_else(|| Pixmap::new(8, 8).expect("8x8 pixmap"));
        let size = pm.width() as f32;
        Canvas { pm, size }
    }

    /// A canvas holding a copy of a square RGB image (e.g. the model's view of a photo, to write on).
    pub fn from_rgb(img: &RgbImage) -> Canvas {
        let mut cv = Canvas::new(img.width().min(img.height()));
        let w = cv.pm.width();
        for (dst, (x, y)) in cv
            .pm
            .data_mut()
            .chunks_exact_mut(4)
            .zip((0..w).flat_map(|y| (0..w).map(move |x| (x, y))))
        {
            let p = img.get_pixel(x, y).0;
            dst.copy_from_slice(&[p[0], p[1], p[2], 255]);
        }
        cv
    }

    /// The canvas as RGB, exactly (no noise or blur; see [`Canvas::finish`]).
    pub fn to_rgb(&self) -> RgbImage {
        let (w, h) = (self.pm.width(), self.pm.height());
        let buf: Vec<u8> = self
            .pm
            .data()
            .chunks_exact(4)
            .flat_map(|px| [px[0], px[1], px[2]])
            .collect();
        RgbImage::from_raw(w, h, buf).unwrap_or_else(|| RgbImage::new(w, h))
    }

    pub fn clear(&mut self, c: [u8; 3]) {
        self.pm.fill(Color::from_rgba8(c[0], c[1], c[2], 255));
    }

    pub fn fill(&mut self, path: &Path, c: [u8; 3], alpha: f32, ts: Transform) {
        let paint = paint(c, alpha);
        self.pm.fill_path(path, &paint, FillRule::Winding, ts, None);
    }

    pub fn stroke(&mut self, path: &Path, c: [u8; 3], alpha: f32, width: f32, ts: Transform) {
        let paint = paint(c, alpha);
        let stroke = Stroke {
            width,
            line_cap: tiny_skia::LineCap::Round,
            line_join: tiny_skia::LineJoin::Round,
            ..Stroke::default()
        };
        self.pm.stroke_path(path, &paint, &stroke, ts, None);
    }

    pub fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, c: [u8; 3], alpha: f32) {
        // A path, not `fill_rect`: tiny-skia's anti-aliased rectangle fill trips a debug assertion on
        // rectangles narrower than a pixel.
        if let Some(r) = self.clip_rect(x, y, w, h) {
            let path = tiny_skia::PathBuilder::from_rect(r);
            self.pm.fill_path(
                &path,
                &paint(c, alpha),
                FillRule::Winding,
                Transform::identity(),
                None,
            );
        }
    }

    /// The part of a rectangle inside the canvas (nothing is drawn outside it anyway).
    pub fn clip_rect(&self, x: f32, y: f32, w: f32, h: f32) -> Option<Rect> {
        let (cw, ch) = (self.pm.width() as f32, self.pm.height() as f32);
        let (x0, y0) = (x.max(0.0), y.max(0.0));
        let (x1, y1) = ((x + w).min(cw), (y + h).min(ch));
        Rect::from_ltrb(x0, y0, x1, y1)
    }

    /// Draw a part list with flat colours (and optional outline) — shared by icons and scenes.
    pub fn flat_parts(&mut self, parts: &[Part], c: &Concept, ts: Transform, outline: Option<f32>) {
        for p in parts {
            let col = tone(p.tone, c);
            match p.line {
                Some(w) => self.stroke(&p.path, col, 1.0, w, ts),
                None => {
                    if let Some(ow) = outline {
                        self.stroke(&p.path, darken(col, 0.45), 1.0, ow, ts);
                    }
                    self.fill(&p.path, col, 1.0, ts);
                }
            }
        }
    }

    /// Add uniform noise of amplitude `amp` (0–255 scale) and convert to RGB.
    pub fn finish(self, amp: f32, blur: bool, rng: &mut Rng) -> RgbImage {
        let w = self.pm.width();
        let h = self.pm.height();
        let data = self.pm.data();
        let mut buf: Vec<u8> = Vec::with_capacity((w * h * 3) as usize);
        for px in data.chunks_exact(4) {
            buf.extend_from_slice(&px[..3]);
        }
        if blur {
            box_blur(&mut buf, w as usize, h as usize);
        }
        if amp > 0.0 {
            let mut state = rng.next_u64();
            for v in buf.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let n = ((state >> 56) as f32 / 255.0 - 0.5) * 2.0 * amp;
                *v = (*v as f32 + n).clamp(0.0, 255.0) as u8;
            }
        }
        RgbImage::from_raw(w, h, buf).unwrap_or_else(|| RgbImage::new(w, h))
    }
}

/// A 3×3 box blur: the "photo" softness of a camera.
fn box_blur(buf: &mut [u8], w: usize, h: usize) {
    let src = buf.to_vec();
    for y in 0..h {
        for x in 0..w {
            for ch in 0..3 {
                let mut s = 0u32;
                let mut n = 0u32;
                for yy in y.saturating_sub(1)..(y + 2).min(h) {
                    for xx in x.saturating_sub(1)..(x + 2).min(w) {
                        s += src[(yy * w + xx) * 3 + ch] as u32;
                        n += 1;
                    }
                }
                buf[(y * w + x) * 3 + ch] = (s / n) as u8;
            }
        }
    }
}

pub fn paint(c: [u8; 3], alpha: f32) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color_rgba8(c[0], c[1], c[2], (alpha.clamp(0.0, 1.0) * 255.0) as u8);
    p.anti_alias = true;
    p
}

pub fn tone(t: Tone, c: &Concept) -> [u8; 3] {
    match t {
        Tone::Main => c.colour,
        Tone::Second => c.colour2,
        Tone::Dark => darken(c.colour, 0.7),
        Tone::Light => mix(c.colour, [255, 255, 255], 0.45),
        Tone::Black => [20, 20, 22],
        Tone::White => [250, 250, 250],
        Tone::Rgb(rgb) => rgb,
    }
}

pub fn darken(c: [u8; 3], f: f32) -> [u8; 3] {
    c.map(|v| (v as f32 * f) as u8)
}

pub fn mix(a: [u8; 3], b: [u8; 3], t: f32) -> [u8; 3] {
    [0, 1, 2].map(|i| (a[i] as f32 * (1.0 - t) + b[i] as f32 * t) as u8)
}

pub fn luma(c: [u8; 3]) -> f32 {
    0.299 * c[0] as f32 + 0.587 * c[1] as f32 + 0.114 * c[2] as f32
}

/// A muted random colour (low saturation), so backgrounds never compete with the concept's colour.
pub fn muted(rng: &mut Rng, lo: f32, hi: f32) -> [u8; 3] {
    let base = rng.range(lo, hi);
    let tint = [
        rng.range(-14.0, 14.0),
        rng.range(-14.0, 14.0),
        rng.range(-14.0, 14.0),
    ];
    tint.map(|t| (base + t).clamp(0.0, 255.0) as u8)
}

/// Any random colour (for clutter and word colours).
pub fn vivid(rng: &mut Rng) -> [u8; 3] {
    [
        rng.below(256) as u8,
        rng.below(256) as u8,
        rng.below(256) as u8,
    ]
}

/// The transform placing unit coordinates at centre (`cx`, `cy`) pixels, `scale` pixels per unit, rotated.
pub fn place(cx: f32, cy: f32, scale: f32, deg: f32) -> Transform {
    Transform::from_translate(cx, cy)
        .pre_concat(Transform::from_rotate(deg))
        .pre_concat(Transform::from_scale(scale, scale))
}

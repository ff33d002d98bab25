//! Concept shapes as coloured parts in unit coordinates (x, y in about [-0.9, 0.9], y down). The facet renderers
//! decide how parts are painted (shaded, sketched, flat), so one description serves every facet.

use std::f32::consts::PI;

use tiny_skia::{Path, PathBuilder, Rect, Transform};

use crate::catalogue::{Concept, Dir, Ears, Emblem, FlagLayout, Mood, Quad, Shape};
use crate::fonts;
use crate::rng::Rng;

/// Which colour of the concept a part takes.
#[derive(Clone, Copy, Debug)]
pub enum Tone {
    Main,
    Second,
    Dark,
    Light,
    Black,
    White,
    Rgb([u8; 3]),
}

/// One filled region or stroked line of a shape.
pub struct Part {
    pub path: Path,
    pub tone: Tone,
    /// `Some(width)` for a stroked line (width in unit coordinates), `None` for a filled region.
    pub line: Option<f32>,
}

/// Collects parts; the helpers keep the shape code short.
#[derive(Default)]
pub struct Parts(pub Vec<Part>);

impl Parts {
    fn push(&mut self, path: Option<Path>, tone: Tone, line: Option<f32>) {
        if let Some(path) = path {
            self.0.push(Part { path, tone, line });
        }
    }
    pub fn circle(&mut self, x: f32, y: f32, r: f32, t: Tone) {
        self.push(PathBuilder::from_circle(x, y, r.max(1e-3)), t, None);
    }
    pub fn ellipse(&mut self, x: f32, y: f32, rx: f32, ry: f32, deg: f32, t: Tone) {
        let p = Rect::from_xywh(x - rx, y - ry, 2.0 * rx, 2.0 * ry)
            .and_then(PathBuilder::from_oval)
            .and_then(|p| p.transform(Transform::from_rotate_at(deg, x, y)));
        self.push(p, t, None);
    }
    pub fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, t: Tone) {
        self.push(
            Rect::from_xywh(x, y, w, h).map(PathBuilder::from_rect),
            t,
            None,
        );
    }
    pub fn poly(&mut self, pts: &[(f32, f32)], t: Tone) {
        self.push(poly_path(pts, true), t, None);
    }
    pub fn line(&mut self, pts: &[(f32, f32)], w: f32, t: Tone) {
        self.push(poly_path(pts, false), t, Some(w));
    }
    /// A quadratic curve stroke from `a` through control `c` to `b`.
    pub fn curve(&mut self, a: (f32, f32), c: (f32, f32), b: (f32, f32), w: f32, t: Tone) {
        let mut pb = PathBuilder::new();
        pb.move_to(a.0, a.1);
        pb.quad_to(c.0, c.1, b.0, b.1);
        self.push(pb.finish(), t, Some(w));
    }
    /// An arc stroke of a circle, angles in degrees (0 = right, 90 = down).
    #[allow(clippy::too_many_arguments)]
    pub fn arc(&mut self, x: f32, y: f32, r: f32, a0: f32, a1: f32, w: f32, t: Tone) {
        let pts = arc_points(x, y, r, r, a0, a1, 16);
        self.line(&pts, w, t);
    }
    /// Add another part list, scaled and moved.
    pub fn extend_scaled(&mut self, other: Parts, s: f32, dx: f32, dy: f32) {
        let ts = Transform::from_row(s, 0.0, 0.0, s, dx, dy);
        for p in other.0 {
            let line = p.line.map(|w| w * s);
            self.push(p.path.transform(ts), p.tone, line);
        }
    }
}

pub fn poly_path(pts: &[(f32, f32)], close: bool) -> Option<Path> {
    let mut pb = PathBuilder::new();
    let (first, rest) = pts.split_first()?;
    pb.move_to(first.0, first.1);
    for p in rest {
        pb.line_to(p.0, p.1);
    }
    if close {
        pb.close();
    }
    pb.finish()
}

fn arc_points(x: f32, y: f32, rx: f32, ry: f32, a0: f32, a1: f32, n: usize) -> Vec<(f32, f32)> {
    (0..=n)
        .map(|i| {
            let a = (a0 + (a1 - a0) * i as f32 / n as f32) * PI / 180.0;
            (x + rx * a.cos(), y + ry * a.sin())
        })
        .collect()
}

fn star_points(x: f32, y: f32, r: f32, inner: f32, n: usize) -> Vec<(f32, f32)> {
    (0..2 * n)
        .map(|i| {
            let rr = if i % 2 == 0 { r } else { r * inner };
            let a = -PI / 2.0 + i as f32 * PI / n as f32;
            (x + rr * a.cos(), y + rr * a.sin())
        })
        .collect()
}

fn heart(p: &mut Parts, x: f32, y: f32, s: f32, t: Tone) {
    p.circle(x - 0.5 * s, y - 0.25 * s, 0.55 * s, t);
    p.circle(x + 0.5 * s, y - 0.25 * s, 0.55 * s, t);
    p.poly(
        &[
            (x - 1.02 * s, y - 0.1 * s),
            (x + 1.02 * s, y - 0.1 * s),
            (x, y + s),
        ],
        t,
    );
}

/// A crescent between two arcs of different radii sharing end points.
fn crescent(cx: f32, cy: f32, r: f32, thick: f32, a0: f32, a1: f32) -> Vec<(f32, f32)> {
    let n = 20;
    let mut pts = Vec::with_capacity(2 * n + 2);
    for i in 0..=n {
        let t = i as f32 / n as f32;
        let a = (a0 + (a1 - a0) * t) * PI / 180.0;
        let w = thick * (PI * t).sin() + 0.02;
        pts.push((cx + (r + w / 2.0) * a.cos(), cy + (r + w / 2.0) * a.sin()));
    }
    for i in (0..=n).rev() {
        let t = i as f32 / n as f32;
        let a = (a0 + (a1 - a0) * t) * PI / 180.0;
        let w = thick * (PI * t).sin() + 0.02;
        pts.push((cx + (r - w / 2.0) * a.cos(), cy + (r - w / 2.0) * a.sin()));
    }
    pts
}

/// The parts of a concept's full view (photo and drawing).
pub fn parts(c: &Concept, rng: &mut Rng) -> Parts {
    use Tone::*;
    let mut p = Parts::default();
    match c.shape {
        Shape::Swatch => match rng.below(4) {
            0 => p.circle(0.0, 0.0, 0.7, Main),
            1 => p.rect(-0.62, -0.62, 1.24, 1.24, Main),
            2 => p.poly(&star_points(0.0, 0.05, 0.85, 0.5, 5), Main),
            _ => {
                p.circle(0.0, 0.0, 0.55, Main);
                for i in 0..7 {
                    let a = i as f32 * 0.9 + rng.range(0.0, 0.5);
                    let d = rng.range(0.55, 0.75);
                    p.circle(d * a.cos(), d * a.sin(), rng.range(0.08, 0.2), Main);
                }
            }
        },
        Shape::Banana => {
            p.poly(&crescent(0.0, -0.55, 0.95, 0.36, 30.0, 150.0), Main);
            p.circle(0.82, -0.05, 0.05, Rgb([90, 60, 20]));
            p.line(&[(-0.82, 0.0), (-0.95, -0.1)], 0.07, Second);
        }
        Shape::Lemon => {
            p.ellipse(0.0, 0.0, 0.62, 0.45, -10.0, Main);
            p.ellipse(0.62, -0.1, 0.12, 0.1, -10.0, Main);
            p.ellipse(-0.62, 0.1, 0.12, 0.1, -10.0, Main);
            p.ellipse(-0.45, -0.35, 0.2, 0.08, -30.0, Second);
        }
        Shape::Round { leaf, dimple } => {
            if dimple {
                p.circle(-0.25, 0.08, 0.5, Main);
                p.circle(0.25, 0.08, 0.5, Main);
                p.circle(0.0, 0.22, 0.5, Main);
            } else {
                p.ellipse(0.0, 0.1, 0.68, 0.58, 0.0, Main);
            }
            p.curve(
                (0.0, -0.3),
                (0.0, -0.55),
                (0.12, -0.7),
                0.07,
                Rgb([100, 60, 25]),
            );
            if leaf {
                p.ellipse(0.28, -0.55, 0.22, 0.09, -25.0, Second);
            }
        }
        Shape::Cherry => {
            p.curve((-0.3, 0.25), (-0.2, -0.3), (0.1, -0.65), 0.05, Second);
            p.curve((0.32, 0.3), (0.3, -0.2), (0.1, -0.65), 0.05, Second);
            p.ellipse(0.28, -0.62, 0.2, 0.08, -20.0, Second);
            p.circle(-0.32, 0.42, 0.3, Main);
            p.circle(0.34, 0.47, 0.3, Main);
        }
        Shape::Grapes => {
            p.line(&[(0.0, -0.45), (0.05, -0.75)], 0.06, Rgb([100, 70, 30]));
            p.ellipse(0.25, -0.6, 0.22, 0.12, -20.0, Second);
            let rows = [4, 3, 3, 2, 1];
            for (j, n) in rows.iter().enumerate() {
                for i in 0..*n {
                    let x = (i as f32 - (*n as f32 - 1.0) / 2.0) * 0.3;
                    p.circle(x, -0.3 + j as f32 * 0.26, 0.16, Main);
                }
            }
        }
        Shape::Strawberry => {
            p.poly(
                &[
                    (-0.6, -0.3),
                    (-0.45, -0.5),
                    (0.45, -0.5),
                    (0.6, -0.3),
                    (0.45, 0.25),
                    (0.0, 0.8),
                    (-0.45, 0.25),
                ],
                Main,
            );
            p.circle(-0.3, -0.33, 0.3, Main);
            p.circle(0.3, -0.33, 0.3, Main);
            for (x, y) in [
                (-0.3, -0.2),
                (0.0, -0.1),
                (0.3, -0.2),
                (-0.15, 0.15),
                (0.15, 0.15),
                (0.0, 0.45),
            ] {
                p.ellipse(x, y, 0.03, 0.05, 0.0, Rgb([250, 230, 120]));
            }
            p.poly(&star_points(0.0, -0.6, 0.35, 0.4, 6), Second);
        }
        Shape::Carrot => {
            let ts = Transform::from_rotate(-30.0);
            let mut q = Parts::default();
            q.poly(
                &[(-0.2, -0.45), (0.2, -0.45), (0.02, 0.9), (-0.02, 0.9)],
                Main,
            );
            for dx in [-0.12, 0.0, 0.12] {
                q.line(&[(dx * 0.5, -0.45), (dx * 2.5, -0.9)], 0.08, Second);
            }
            for k in 0..3 {
                let y = -0.2 + k as f32 * 0.3;
                q.line(&[(-0.12, y), (0.0, y + 0.03)], 0.03, Dark);
            }
            for part in q.0 {
                p.push(part.path.transform(ts), part.tone, part.line);
            }
        }
        Shape::Pear => {
            p.circle(0.0, 0.3, 0.5, Main);
            p.circle(0.0, -0.18, 0.3, Main);
            p.poly(
                &[(-0.3, -0.15), (0.3, -0.15), (0.46, 0.2), (-0.46, 0.2)],
                Main,
            );
            p.line(&[(0.0, -0.45), (0.08, -0.72)], 0.06, Second);
        }
        Shape::Watermelon => {
            p.poly(
                &arc_points(0.0, -0.2, 0.85, 0.85, 0.0, 180.0, 24),
                Rgb([40, 130, 40]),
            );
            p.poly(&arc_points(0.0, -0.2, 0.72, 0.72, 0.0, 180.0, 24), Main);
            for (x, y) in [
                (-0.35, 0.05),
                (0.0, 0.2),
                (0.35, 0.05),
                (-0.15, 0.0),
                (0.18, 0.0),
            ] {
                p.ellipse(x, y, 0.04, 0.07, 0.0, Black);
            }
        }
        Shape::Eggplant => {
            p.ellipse(0.1, 0.15, 0.35, 0.62, -35.0, Main);
            p.circle(-0.15, -0.25, 0.26, Main);
            p.poly(&star_points(-0.25, -0.42, 0.25, 0.45, 5), Second);
            p.line(&[(-0.3, -0.55), (-0.4, -0.78)], 0.08, Second);
        }
        Shape::Corn => {
            p.ellipse(0.0, 0.0, 0.28, 0.75, 0.0, Main);
            for j in 0..7 {
                for i in 0..3 {
                    let y = -0.55 + j as f32 * 0.18;
                    p.circle(-0.12 + i as f32 * 0.12, y, 0.05, Dark);
                }
            }
            p.poly(
                &[(-0.1, 0.8), (-0.5, -0.1), (-0.25, 0.0), (0.0, 0.8)],
                Second,
            );
            p.poly(&[(0.1, 0.8), (0.5, -0.1), (0.25, 0.0), (0.0, 0.8)], Second);
        }
        Shape::Pumpkin => {
            p.ellipse(-0.35, 0.15, 0.35, 0.55, 0.0, Main);
            p.ellipse(0.35, 0.15, 0.35, 0.55, 0.0, Main);
            p.ellipse(0.0, 0.15, 0.38, 0.6, 0.0, Main);
            p.line(&[(0.0, -0.4), (0.08, -0.7)], 0.12, Second);
        }
        Shape::Broccoli => {
            p.poly(
                &[(-0.15, 0.85), (0.15, 0.85), (0.2, 0.0), (-0.2, 0.0)],
                Second,
            );
            for (x, y, r) in [
                (-0.4, -0.1, 0.3),
                (0.4, -0.1, 0.3),
                (0.0, -0.35, 0.35),
                (-0.2, 0.05, 0.25),
                (0.2, 0.05, 0.25),
            ] {
                p.circle(x, y, r, Main);
            }
        }
        Shape::Balloon => {
            p.curve(
                (0.0, 0.45),
                (0.2, 0.7),
                (-0.05, 0.95),
                0.03,
                Rgb([120, 120, 120]),
            );
            p.poly(&[(-0.08, 0.5), (0.08, 0.5), (0.0, 0.38)], Main);
            p.ellipse(0.0, -0.15, 0.5, 0.6, 0.0, Main);
        }
        Shape::Car { ladder } => {
            p.poly(
                &[
                    (-0.85, 0.3),
                    (-0.85, -0.05),
                    (-0.45, -0.1),
                    (-0.3, -0.45),
                    (0.35, -0.45),
                    (0.5, -0.1),
                    (0.85, -0.05),
                    (0.85, 0.3),
                ],
                Main,
            );
            p.poly(
                &[(-0.25, -0.38), (0.0, -0.38), (0.0, -0.12), (-0.38, -0.12)],
                Rgb([170, 210, 240]),
            );
            p.poly(
                &[(0.06, -0.38), (0.3, -0.38), (0.42, -0.12), (0.06, -0.12)],
                Rgb([170, 210, 240]),
            );
            if ladder {
                p.line(&[(-0.7, -0.55), (0.6, -0.55)], 0.05, Second);
                p.line(&[(-0.7, -0.7), (0.6, -0.7)], 0.05, Second);
                for k in 0..6 {
                    let x = -0.65 + k as f32 * 0.24;
                    p.line(&[(x, -0.55), (x, -0.7)], 0.04, Second);
                }
            } else {
                p.rect(-0.15, -0.6, 0.3, 0.14, Second);
                p.line(&[(-0.85, 0.08), (0.85, 0.08)], 0.06, Second);
            }
            p.circle(-0.5, 0.32, 0.18, Black);
            p.circle(0.5, 0.32, 0.18, Black);
            p.circle(-0.5, 0.32, 0.07, Rgb([200, 200, 200]));
            p.circle(0.5, 0.32, 0.07, Rgb([200, 200, 200]));
        }
        Shape::Chocolate => {
            p.rect(-0.5, -0.75, 1.0, 1.5, Main);
            for k in 1..4 {
                let y = -0.75 + k as f32 * 0.375;
                p.line(&[(-0.5, y), (0.5, y)], 0.04, Dark);
            }
            p.line(&[(0.0, -0.75), (0.0, 0.75)], 0.04, Dark);
            p.rect(-0.55, 0.15, 1.1, 0.65, Rgb([200, 30, 40]));
            p.rect(-0.55, 0.3, 1.1, 0.12, Rgb([240, 200, 60]));
        }
        Shape::Carton => {
            p.rect(-0.42, -0.3, 0.84, 1.1, Main);
            p.poly(&[(-0.42, -0.3), (0.0, -0.7), (0.42, -0.3)], Main);
            p.rect(-0.12, -0.82, 0.24, 0.14, Main);
            p.rect(-0.42, 0.05, 0.84, 0.35, Second);
            p.circle(0.0, 0.22, 0.12, White);
        }
        Shape::Spider => {
            for side in [-1.0f32, 1.0] {
                for k in 0..4 {
                    let y = -0.2 + k as f32 * 0.15;
                    let kx = side * (0.55 + 0.05 * k as f32);
                    p.line(
                        &[
                            (0.0, y),
                            (kx, y - 0.35 + k as f32 * 0.08),
                            (side * 0.85, y + 0.35),
                        ],
                        0.06,
                        Main,
                    );
                }
            }
            p.circle(0.0, 0.25, 0.36, Main);
            p.circle(0.0, -0.25, 0.22, Main);
            p.poly(&[(0.0, 0.1), (0.1, 0.25), (0.0, 0.4), (-0.1, 0.25)], Second);
            p.circle(-0.08, -0.3, 0.04, White);
            p.circle(0.08, -0.3, 0.04, White);
        }
        Shape::Quad(q) => quad(&mut p, &q),
        Shape::Fish => {
            p.poly(&[(0.45, 0.0), (0.9, -0.4), (0.85, 0.4)], Second);
            p.ellipse(-0.05, 0.0, 0.6, 0.38, 0.0, Main);
            p.poly(&[(-0.2, -0.3), (0.15, -0.55), (0.2, -0.3)], Main);
            p.line(&[(-0.05, -0.3), (-0.05, 0.3)], 0.06, Second);
            p.circle(-0.4, -0.08, 0.08, White);
            p.circle(-0.42, -0.08, 0.04, Black);
        }
        Shape::Bird => {
            p.poly(&[(0.4, 0.05), (0.9, -0.15), (0.85, 0.2)], Dark);
            p.ellipse(0.05, 0.1, 0.5, 0.33, 0.0, Main);
            p.circle(-0.4, -0.25, 0.25, Main);
            p.poly(&[(-0.62, -0.3), (-0.9, -0.2), (-0.62, -0.15)], Second);
            p.ellipse(0.1, 0.05, 0.3, 0.15, -15.0, Dark);
            p.circle(-0.45, -0.3, 0.05, Black);
            p.line(&[(-0.05, 0.4), (-0.05, 0.7)], 0.04, Second);
            p.line(&[(0.15, 0.4), (0.15, 0.7)], 0.04, Second);
        }
        Shape::Frog => {
            p.ellipse(-0.5, 0.45, 0.25, 0.12, 0.0, Dark);
            p.ellipse(0.5, 0.45, 0.25, 0.12, 0.0, Dark);
            p.ellipse(0.0, 0.15, 0.62, 0.42, 0.0, Main);
            p.circle(-0.3, -0.3, 0.18, Main);
            p.circle(0.3, -0.3, 0.18, Main);
            p.circle(-0.3, -0.3, 0.1, White);
            p.circle(0.3, -0.3, 0.1, White);
            p.circle(-0.3, -0.3, 0.05, Black);
            p.circle(0.3, -0.3, 0.05, Black);
            p.arc(0.0, 0.0, 0.3, 20.0, 160.0, 0.04, Dark);
        }
        Shape::Snake => {
            let pts: Vec<(f32, f32)> = (0..=24)
                .map(|i| {
                    let t = i as f32 / 24.0;
                    (-0.8 + 1.5 * t, 0.25 * (t * 3.0 * PI).sin() + 0.1)
                })
                .collect();
            p.line(&pts, 0.2, Main);
            for k in (2..22).step_by(4) {
                p.circle(pts[k].0, pts[k].1, 0.05, Second);
            }
            p.ellipse(0.75, 0.1, 0.18, 0.13, 0.0, Main);
            p.line(
                &[(0.92, 0.12), (1.0, 0.12), (1.05, 0.07)],
                0.03,
                Rgb([220, 20, 40]),
            );
            p.circle(0.8, 0.05, 0.03, Black);
        }
        Shape::Owl => {
            p.poly(&[(-0.45, -0.45), (-0.35, -0.8), (-0.15, -0.5)], Main);
            p.poly(&[(0.45, -0.45), (0.35, -0.8), (0.15, -0.5)], Main);
            p.ellipse(0.0, 0.1, 0.55, 0.7, 0.0, Main);
            p.ellipse(0.0, 0.35, 0.35, 0.4, 0.0, Light);
            for x in [-0.22, 0.22] {
                p.circle(x, -0.25, 0.2, White);
                p.circle(x, -0.25, 0.11, Second);
                p.circle(x, -0.25, 0.06, Black);
            }
            p.poly(
                &[(-0.07, -0.1), (0.07, -0.1), (0.0, 0.05)],
                Rgb([230, 150, 30]),
            );
        }
        Shape::Bee => {
            p.ellipse(-0.2, -0.42, 0.3, 0.2, -30.0, Rgb([220, 235, 250]));
            p.ellipse(0.2, -0.42, 0.3, 0.2, 30.0, Rgb([220, 235, 250]));
            p.poly(&[(0.6, 0.0), (0.85, 0.0), (0.6, 0.08)], Black);
            p.ellipse(0.0, 0.0, 0.62, 0.4, 0.0, Main);
            for x in [-0.15, 0.12, 0.38] {
                p.line(&[(x, -0.36), (x, 0.36)], 0.12, Second);
            }
            p.circle(-0.58, -0.02, 0.22, Second);
            p.circle(-0.64, -0.08, 0.05, White);
        }
        Shape::Ladybug => {
            p.circle(0.0, -0.55, 0.25, Black);
            p.circle(0.0, 0.1, 0.62, Main);
            p.line(&[(0.0, -0.5), (0.0, 0.72)], 0.04, Black);
            for (x, y) in [
                (-0.3, -0.15),
                (0.3, -0.15),
                (-0.35, 0.25),
                (0.35, 0.25),
                (-0.15, 0.5),
                (0.15, 0.5),
            ] {
                p.circle(x, y, 0.1, Black);
            }
        }
        Shape::Penguin => {
            p.ellipse(0.0, 0.05, 0.45, 0.75, 0.0, Main);
            p.ellipse(0.0, 0.2, 0.3, 0.55, 0.0, Second);
            p.poly(
                &[(-0.08, -0.4), (0.08, -0.4), (0.0, -0.28)],
                Rgb([245, 150, 30]),
            );
            p.ellipse(-0.2, 0.8, 0.14, 0.06, 0.0, Rgb([245, 150, 30]));
            p.ellipse(0.2, 0.8, 0.14, 0.06, 0.0, Rgb([245, 150, 30]));
            p.circle(-0.14, -0.5, 0.05, White);
            p.circle(0.14, -0.5, 0.05, White);
        }
        Shape::Crab => {
            for side in [-1.0f32, 1.0] {
                for k in 0..3 {
                    let y = 0.05 + k as f32 * 0.12;
                    p.line(
                        &[
                            (side * 0.3, y),
                            (side * 0.7, y + 0.1),
                            (side * 0.85, y + 0.35),
                        ],
                        0.05,
                        Main,
                    );
                }
                p.line(&[(side * 0.35, -0.1), (side * 0.6, -0.4)], 0.07, Main);
                p.circle(side * 0.65, -0.5, 0.18, Main);
                p.poly(
                    &[(side * 0.6, -0.55), (side * 0.75, -0.8), (side * 0.8, -0.5)],
                    Main,
                );
                p.line(&[(side * 0.12, -0.2), (side * 0.15, -0.42)], 0.04, Main);
                p.circle(side * 0.15, -0.44, 0.06, Black);
            }
            p.ellipse(0.0, 0.05, 0.45, 0.3, 0.0, Main);
        }
        Shape::Whale => {
            p.poly(
                &[(0.6, -0.05), (0.95, -0.35), (0.9, 0.05), (0.95, 0.35)],
                Main,
            );
            p.ellipse(-0.1, 0.1, 0.75, 0.4, 0.0, Main);
            p.ellipse(-0.15, 0.3, 0.55, 0.15, 0.0, Second);
            p.circle(-0.55, 0.0, 0.05, Black);
            p.line(&[(-0.3, -0.3), (-0.3, -0.55)], 0.04, Rgb([120, 180, 240]));
            p.line(&[(-0.3, -0.55), (-0.45, -0.7)], 0.04, Rgb([120, 180, 240]));
            p.line(&[(-0.3, -0.55), (-0.15, -0.7)], 0.04, Rgb([120, 180, 240]));
        }
        Shape::Hero {
            emblem: e,
            cape,
            mask,
        } => hero(&mut p, e, cape, mask),
        Shape::Face(m) => face(&mut p, m),
        Shape::Region(d) => world_map(&mut p, Some(d)),
        Shape::Country { layout, c3, blob } => {
            country_blob(&mut p, blob);
            p.line(&[(0.05, 0.3), (0.05, -0.55)], 0.04, Rgb([90, 70, 50]));
            let mut f = Parts::default();
            flag(&mut f, layout, c3);
            p.extend_scaled(f, 0.28, 0.33, -0.55);
        }
        Shape::Conifer => {
            p.rect(-0.08, 0.55, 0.16, 0.3, Second);
            p.poly(&[(0.0, -0.85), (-0.35, -0.3), (0.35, -0.3)], Main);
            p.poly(&[(0.0, -0.55), (-0.5, 0.1), (0.5, 0.1)], Main);
            p.poly(&[(0.0, -0.2), (-0.65, 0.6), (0.65, 0.6)], Main);
        }
        Shape::Palm => {
            p.curve((0.1, 0.9), (-0.15, 0.2), (0.05, -0.45), 0.14, Second);
            for a in [-160.0f32, -120.0, -60.0, -20.0, 20.0, 160.0] {
                let r = a.to_radians();
                p.ellipse(
                    0.05 + 0.35 * r.cos(),
                    -0.45 + 0.25 * r.sin(),
                    0.4,
                    0.1,
                    a,
                    Main,
                );
            }
            p.circle(-0.02, -0.38, 0.07, Rgb([110, 70, 30]));
            p.circle(0.1, -0.36, 0.07, Rgb([110, 70, 30]));
        }
        Shape::Cactus => {
            p.rect(-0.16, -0.7, 0.32, 1.5, Main);
            p.circle(0.0, -0.7, 0.16, Main);
            p.line(&[(-0.16, 0.1), (-0.45, 0.1), (-0.45, -0.35)], 0.16, Main);
            p.line(&[(0.16, -0.1), (0.42, -0.1), (0.42, -0.5)], 0.16, Main);
            p.circle(0.0, -0.86, 0.1, Second);
            p.rect(-0.3, 0.75, 0.6, 0.15, Rgb([180, 90, 50]));
        }
        Shape::Bamboo => {
            for (x, top) in [(-0.35, -0.7), (0.0, -0.85), (0.35, -0.6)] {
                p.rect(x - 0.08, top, 0.16, 0.85 - top, Main);
                let mut y = top + 0.25;
                while y < 0.8 {
                    p.line(&[(x - 0.09, y), (x + 0.09, y)], 0.04, Second);
                    y += 0.3;
                }
                p.ellipse(x + 0.2, top + 0.2, 0.18, 0.05, -30.0, Second);
            }
        }
        Shape::Oak => {
            p.poly(
                &[(-0.12, 0.85), (0.12, 0.85), (0.08, 0.1), (-0.08, 0.1)],
                Second,
            );
            for (x, y, r) in [
                (-0.35, -0.15, 0.35),
                (0.35, -0.15, 0.35),
                (0.0, -0.45, 0.4),
                (0.0, 0.05, 0.35),
            ] {
                p.circle(x, y, r, Main);
            }
        }
        Shape::Sunflower => {
            p.line(&[(0.0, 0.0), (0.0, 0.9)], 0.08, Rgb([60, 140, 50]));
            p.ellipse(0.2, 0.55, 0.2, 0.08, -30.0, Rgb([60, 140, 50]));
            for k in 0..12 {
                let a = k as f32 * 30.0;
                let r = a.to_radians();
                p.ellipse(0.42 * r.cos(), -0.2 + 0.42 * r.sin(), 0.2, 0.08, a, Main);
            }
            p.circle(0.0, -0.2, 0.26, Second);
        }
        Shape::Rose => {
            p.line(&[(0.0, 0.0), (0.0, 0.9)], 0.06, Second);
            p.ellipse(0.18, 0.45, 0.18, 0.07, -30.0, Second);
            p.ellipse(-0.18, 0.6, 0.18, 0.07, 30.0, Second);
            p.circle(0.0, -0.3, 0.4, Main);
            p.arc(0.0, -0.3, 0.25, 180.0, 450.0, 0.04, Dark);
            p.arc(0.0, -0.3, 0.12, 90.0, 360.0, 0.04, Dark);
        }
        Shape::Tulip => {
            p.line(&[(0.0, 0.0), (0.0, 0.9)], 0.06, Second);
            p.ellipse(-0.2, 0.5, 0.25, 0.08, 60.0, Second);
            p.poly(
                &[
                    (-0.35, -0.6),
                    (-0.15, -0.35),
                    (0.0, -0.65),
                    (0.15, -0.35),
                    (0.35, -0.6),
                    (0.3, -0.05),
                    (-0.3, -0.05),
                ],
                Main,
            );
            p.ellipse(0.0, -0.1, 0.3, 0.15, 0.0, Main);
        }
        Shape::Sun => {
            for k in 0..12 {
                let a = (k as f32 * 30.0).to_radians();
                p.line(
                    &[
                        (0.5 * a.cos(), 0.5 * a.sin()),
                        (0.85 * a.cos(), 0.85 * a.sin()),
                    ],
                    0.08,
                    Main,
                );
            }
            p.circle(0.0, 0.0, 0.42, Main);
        }
        Shape::Cloud => cloud(&mut p, 0.0, 0.0, 1.0, Main),
        Shape::Rain => {
            cloud(&mut p, 0.0, -0.3, 0.8, Second);
            for (x, y) in [
                (-0.4, 0.3),
                (0.0, 0.4),
                (0.4, 0.3),
                (-0.2, 0.7),
                (0.2, 0.72),
            ] {
                drop(&mut p, x, y, 0.12, Main);
            }
        }
        Shape::Snow => {
            snowflake(&mut p, -0.35, -0.3, 0.35, Second);
            snowflake(&mut p, 0.4, -0.1, 0.28, Second);
            snowflake(&mut p, -0.05, 0.35, 0.3, Second);
            p.ellipse(0.0, 0.85, 0.9, 0.15, 0.0, Main);
        }
        Shape::Storm => {
            cloud(&mut p, 0.0, -0.35, 0.85, Main);
            p.poly(
                &[
                    (0.0, -0.05),
                    (-0.25, 0.4),
                    (-0.02, 0.4),
                    (-0.15, 0.9),
                    (0.3, 0.25),
                    (0.05, 0.25),
                    (0.2, -0.05),
                ],
                Second,
            );
        }
        Shape::Rainbow => {
            let cols = [
                [220, 30, 35],
                [245, 130, 20],
                [250, 215, 30],
                [40, 160, 50],
                [30, 80, 215],
                [130, 45, 170],
            ];
            for (i, c) in cols.iter().enumerate() {
                p.arc(
                    0.0,
                    0.45,
                    0.85 - i as f32 * 0.11,
                    180.0,
                    360.0,
                    0.11,
                    Rgb(*c),
                );
            }
        }
        Shape::Wind => {
            for (y, l) in [(-0.4, 0.7), (0.0, 0.9), (0.4, 0.6)] {
                let mut pts = vec![(-0.85, y)];
                pts.extend(arc_points(
                    -0.85 + 2.0 * l * 0.85 - 0.2,
                    y - 0.18,
                    0.18,
                    0.18,
                    90.0,
                    -180.0,
                    10,
                ));
                p.line(&pts, 0.08, Second);
            }
            p.ellipse(0.5, 0.6, 0.15, 0.06, 30.0, Main);
            p.ellipse(-0.4, 0.7, 0.15, 0.06, -20.0, Main);
        }
        Shape::Spring => {
            p.curve(
                (-0.9, 0.6),
                (0.0, 0.2),
                (0.9, -0.6),
                0.07,
                Rgb([110, 70, 40]),
            );
            for (x, y) in [
                (-0.5, 0.25),
                (0.0, -0.05),
                (0.5, -0.35),
                (0.3, 0.2),
                (-0.2, 0.55),
            ] {
                for k in 0..5 {
                    let a = (k as f32 * 72.0).to_radians();
                    p.circle(x + 0.11 * a.cos(), y + 0.11 * a.sin(), 0.09, Main);
                }
                p.circle(x, y, 0.06, Rgb([250, 220, 80]));
            }
            p.ellipse(-0.05, 0.3, 0.15, 0.06, 30.0, Second);
            p.ellipse(0.6, -0.05, 0.15, 0.06, -30.0, Second);
        }
        Shape::Summer => {
            p.rect(-1.0, 0.15, 2.0, 0.35, Second);
            p.rect(-1.0, 0.5, 2.0, 0.5, Rgb([240, 215, 150]));
            for k in 0..8 {
                let a = (k as f32 * 45.0).to_radians();
                p.line(
                    &[
                        (0.3 + 0.3 * a.cos(), -0.45 + 0.3 * a.sin()),
                        (0.3 + 0.45 * a.cos(), -0.45 + 0.45 * a.sin()),
                    ],
                    0.06,
                    Main,
                );
            }
            p.circle(0.3, -0.45, 0.24, Main);
            p.line(&[(-0.5, 0.75), (-0.5, -0.1)], 0.04, Rgb([90, 70, 50]));
            p.poly(
                &arc_points(-0.5, -0.1, 0.4, 0.25, 180.0, 360.0, 12),
                Rgb([230, 50, 50]),
            );
        }
        Shape::Autumn => {
            p.poly(
                &[
                    (0.0, -0.85),
                    (0.15, -0.45),
                    (0.5, -0.6),
                    (0.4, -0.2),
                    (0.8, -0.1),
                    (0.45, 0.15),
                    (0.55, 0.45),
                    (0.1, 0.35),
                    (0.0, 0.55),
                    (-0.1, 0.35),
                    (-0.55, 0.45),
                    (-0.45, 0.15),
                    (-0.8, -0.1),
                    (-0.4, -0.2),
                    (-0.5, -0.6),
                    (-0.15, -0.45),
                ],
                Main,
            );
            p.line(&[(0.0, 0.5), (0.05, 0.9)], 0.06, Second);
            p.line(&[(0.0, -0.6), (0.0, 0.5)], 0.03, Second);
        }
        Shape::Winter => {
            p.circle(0.0, 0.45, 0.42, Main);
            p.circle(0.0, -0.2, 0.3, Main);
            p.rect(-0.22, -0.75, 0.44, 0.3, Black);
            p.rect(-0.32, -0.47, 0.64, 0.07, Black);
            p.line(&[(-0.28, 0.05), (0.28, 0.05)], 0.1, Second);
            p.line(&[(0.2, 0.05), (0.3, 0.3)], 0.09, Second);
            p.poly(
                &[(0.0, -0.2), (0.3, -0.15), (0.0, -0.12)],
                Rgb([240, 120, 20]),
            );
            p.circle(-0.1, -0.28, 0.035, Black);
            p.circle(0.1, -0.28, 0.035, Black);
            for y in [0.3, 0.5] {
                p.circle(0.0, y, 0.04, Black);
            }
        }
        Shape::Glyph(ch) => {
            p.rect(-0.75, -0.75, 1.5, 1.5, Main);
            glyph(&mut p, ch, 0.62, White);
        }
    }
    p
}

/// The flat icon or symbol of a concept: emblems for characters, flags for countries, a compass for regions,
/// emoji for emotions; otherwise the full view.
pub fn icon_parts(c: &Concept, rng: &mut Rng) -> Parts {
    use Tone::*;
    let mut p = Parts::default();
    match c.shape {
        Shape::Swatch => {
            if rng.chance(0.5) {
                p.circle(0.0, 0.0, 0.75, Main);
            } else {
                p.rect(-0.7, -0.7, 1.4, 1.4, Main);
            }
        }
        Shape::Hero { emblem: e, .. } => {
            p.circle(0.0, 0.0, 0.85, Main);
            let mut q = Parts::default();
            emblem(&mut q, e, Second);
            p.extend_scaled(q, 0.65, 0.0, 0.0);
        }
        Shape::Country { layout, c3, .. } => flag(&mut p, layout, c3),
        Shape::Region(d) => compass(&mut p, d),
        Shape::Glyph(ch) => {
            p.circle(0.0, 0.0, 0.85, Main);
            glyph(&mut p, ch, 0.6, White);
        }
        _ => return parts(c, rng),
    }
    p
}

fn glyph(p: &mut Parts, ch: char, half: f32, t: Tone) {
    let faces = fonts::faces();
    let Some(face) = faces
        .iter()
        .find(|f| f.name == "LiberationSans-Bold")
        .or(faces.first())
    else {
        return;
    };
    let Some(g) = face.glyph(ch) else { return };
    let b = g.bounds();
    let s = 2.0 * half / b.height().max(b.width()).max(1e-3);
    let ts = Transform::from_row(
        s,
        0.0,
        0.0,
        s,
        -(b.left() + b.width() / 2.0) * s,
        -(b.top() + b.height() / 2.0) * s,
    );
    p.push(g.clone().transform(ts), t, None);
}

fn quad(p: &mut Parts, q: &Quad) {
    use Tone::*;
    let (bw, bh) = (q.body_w, q.body_h);
    let top = -bh;
    let ground = bh + q.leg;
    let hx = -bw * 0.95;
    let hy = top - 0.05 + if q.antlers || q.hump { 0.0 } else { 0.1 };
    if q.tail > 0.0 {
        p.curve(
            (bw * 0.9, -bh * 0.3),
            (bw + q.tail * 0.6, -bh * 0.8),
            (bw + q.tail, -bh * 1.1),
            0.06,
            Main,
        );
    }
    for (i, x) in [-bw * 0.65, -bw * 0.35, bw * 0.4, bw * 0.7]
        .iter()
        .enumerate()
    {
        let tone = if i % 2 == 0 { Dark } else { Main };
        p.rect(x - 0.07, 0.0, 0.14, ground, tone);
    }
    p.ellipse(0.0, 0.0, bw, bh, 0.0, Main);
    if q.hump {
        p.ellipse(0.05, top, bw * 0.45, bh * 0.7, 0.0, Main);
    }
    if q.mane {
        p.circle(hx, hy, 0.34, Second);
    }
    if q.antlers {
        for dx in [-0.12f32, 0.12] {
            p.line(
                &[
                    (hx + dx, hy - 0.15),
                    (hx + dx * 2.5, hy - 0.45),
                    (hx + dx * 4.0, hy - 0.5),
                ],
                0.06,
                Second,
            );
            p.line(
                &[(hx + dx * 2.5, hy - 0.45), (hx + dx * 2.0, hy - 0.62)],
                0.05,
                Second,
            );
            p.line(
                &[(hx + dx * 3.2, hy - 0.47), (hx + dx * 3.6, hy - 0.65)],
                0.05,
                Second,
            );
        }
    }
    p.poly(
        &[
            (hx + 0.05, hy - 0.1),
            (-bw * 0.4, -bh * 0.6),
            (-bw * 0.5, bh * 0.3),
            (hx + 0.05, hy + 0.15),
        ],
        Main,
    );
    match q.ears {
        Ears::Round => {
            p.circle(hx - 0.14, hy - 0.18, 0.08, Main);
            p.circle(hx + 0.14, hy - 0.18, 0.08, Main);
        }
        Ears::Pointy => {
            p.poly(
                &[
                    (hx - 0.2, hy - 0.05),
                    (hx - 0.16, hy - 0.36),
                    (hx - 0.02, hy - 0.15),
                ],
                Main,
            );
            p.poly(
                &[
                    (hx + 0.2, hy - 0.05),
                    (hx + 0.16, hy - 0.36),
                    (hx + 0.02, hy - 0.15),
                ],
                Main,
            );
        }
        Ears::Floppy => {
            p.ellipse(hx - 0.18, hy + 0.02, 0.07, 0.18, 15.0, Second);
            p.ellipse(hx + 0.18, hy + 0.02, 0.07, 0.18, -15.0, Second);
        }
        Ears::Long => {
            p.ellipse(hx - 0.08, hy - 0.42, 0.06, 0.25, -8.0, Main);
            p.ellipse(hx + 0.08, hy - 0.42, 0.06, 0.25, 8.0, Main);
            p.ellipse(hx - 0.08, hy - 0.42, 0.03, 0.18, -8.0, Second);
        }
        Ears::Big => {
            p.ellipse(hx + 0.12, hy + 0.02, 0.18, 0.26, 0.0, Dark);
        }
    }
    p.circle(hx, hy, 0.2, Main);
    if q.trunk {
        p.curve(
            (hx - 0.1, hy + 0.05),
            (hx - 0.35, hy + 0.2),
            (hx - 0.3, hy + 0.55),
            0.1,
            Main,
        );
    }
    if q.snout {
        p.ellipse(hx - 0.17, hy + 0.06, 0.1, 0.08, 0.0, Second);
        p.circle(hx - 0.24, hy + 0.04, 0.03, Black);
    }
    p.circle(hx - 0.07, hy - 0.05, 0.035, Black);
}

fn hero(p: &mut Parts, e: Emblem, cape: bool, mask: bool) {
    use Tone::*;
    let skin = Rgb([240, 200, 160]);
    let civilian = !cape && !mask;
    if cape {
        p.poly(
            &[(-0.25, -0.45), (0.25, -0.45), (0.45, 0.7), (-0.45, 0.7)],
            Second,
        );
    }
    let legs = if civilian { Second } else { Main };
    p.line(&[(-0.1, 0.1), (-0.18, 0.85)], 0.15, legs);
    p.line(&[(0.1, 0.1), (0.18, 0.85)], 0.15, legs);
    p.line(&[(-0.22, -0.35), (-0.48, 0.05), (-0.55, -0.3)], 0.12, Main);
    p.line(&[(0.22, -0.35), (0.48, 0.05), (0.55, -0.3)], 0.12, Main);
    p.poly(
        &[(-0.25, -0.45), (0.25, -0.45), (0.18, 0.15), (-0.18, 0.15)],
        Main,
    );
    if civilian {
        p.circle(0.0, -0.65, 0.2, skin);
        p.arc(0.0, -0.68, 0.21, 190.0, 350.0, 0.09, Rgb([90, 60, 30]));
        p.circle(-0.08, -0.65, 0.06, White);
        p.circle(0.08, -0.65, 0.06, White);
        p.line(&[(-0.14, -0.65), (-0.02, -0.65)], 0.02, Black);
        p.line(&[(0.02, -0.65), (0.14, -0.65)], 0.02, Black);
        p.rect(-0.13, -0.25, 0.26, 0.16, Black);
        p.circle(0.0, -0.17, 0.05, Rgb([120, 120, 130]));
    } else {
        p.circle(0.0, -0.65, 0.2, if mask { Main } else { skin });
        p.ellipse(-0.08, -0.67, 0.07, 0.04, 15.0, White);
        p.ellipse(0.08, -0.67, 0.07, 0.04, -15.0, White);
        p.line(&[(-0.18, 0.12), (0.18, 0.12)], 0.06, Second);
        p.ellipse(-0.18, 0.85, 0.08, 0.05, 0.0, Second);
        p.ellipse(0.18, 0.85, 0.08, 0.05, 0.0, Second);
        let mut q = Parts::default();
        emblem(&mut q, e, Second);
        p.extend_scaled(q, 0.17, 0.0, -0.18);
    }
}

fn emblem(p: &mut Parts, e: Emblem, t: Tone) {
    match e {
        Emblem::Spider => {
            for side in [-1.0f32, 1.0] {
                for k in 0..4 {
                    let y = -0.3 + k as f32 * 0.2;
                    p.line(
                        &[
                            (0.0, y),
                            (side * 0.6, y - 0.3 + k as f32 * 0.1),
                            (side * 0.85, y + 0.3),
                        ],
                        0.1,
                        t,
                    );
                }
            }
            p.ellipse(0.0, 0.2, 0.25, 0.4, 0.0, t);
            p.circle(0.0, -0.35, 0.2, t);
        }
        Emblem::Star => p.poly(&star_points(0.0, 0.08, 0.95, 0.42, 5), t),
        Emblem::Bolt => p.poly(
            &[
                (0.2, -0.9),
                (-0.45, 0.1),
                (-0.05, 0.1),
                (-0.25, 0.9),
                (0.45, -0.15),
                (0.05, -0.15),
                (0.3, -0.9),
            ],
            t,
        ),
        Emblem::Flame => {
            p.poly(
                &[
                    (0.0, -0.9),
                    (0.35, -0.3),
                    (0.55, 0.2),
                    (0.35, 0.7),
                    (-0.35, 0.7),
                    (-0.55, 0.2),
                    (-0.3, -0.2),
                    (-0.15, 0.1),
                ],
                t,
            );
        }
        Emblem::Snowflake => snowflake(p, 0.0, 0.0, 0.9, t),
        Emblem::Moon => p.poly(&crescent(0.45, 0.0, 0.75, 0.55, 95.0, 265.0), t),
        Emblem::Diamond => p.poly(&[(0.0, -0.9), (0.6, 0.0), (0.0, 0.9), (-0.6, 0.0)], t),
        Emblem::Skull => {
            p.circle(0.0, -0.15, 0.6, t);
            p.rect(-0.3, 0.3, 0.6, 0.4, t);
            p.circle(-0.22, -0.15, 0.15, Tone::Black);
            p.circle(0.22, -0.15, 0.15, Tone::Black);
        }
        Emblem::Eye => {
            let mut pts = arc_points(0.0, 0.45, 0.9, 0.9, 210.0, 330.0, 10);
            pts.extend(arc_points(0.0, -0.45, 0.9, 0.9, 30.0, 150.0, 10));
            p.poly(&pts, t);
            p.circle(0.0, 0.0, 0.22, Tone::Black);
        }
        Emblem::Drop => drop(p, 0.0, 0.1, 0.75, t),
        Emblem::Leaf => {
            p.ellipse(0.0, 0.0, 0.85, 0.45, -40.0, t);
            p.line(&[(-0.6, 0.6), (0.6, -0.6)], 0.06, Tone::Black);
        }
        Emblem::Wing => {
            for k in 0..4 {
                let y = -0.5 + k as f32 * 0.3;
                p.ellipse(
                    0.1 - 0.1 * k as f32,
                    y,
                    0.75 - 0.12 * k as f32,
                    0.16,
                    -10.0,
                    t,
                );
            }
        }
        Emblem::Sun => {
            p.circle(0.0, 0.0, 0.5, t);
            for k in 0..8 {
                let a = (k as f32 * 45.0).to_radians();
                p.line(
                    &[
                        (0.6 * a.cos(), 0.6 * a.sin()),
                        (0.95 * a.cos(), 0.95 * a.sin()),
                    ],
                    0.14,
                    t,
                );
            }
        }
    }
}

fn face(p: &mut Parts, m: Mood) {
    use Tone::*;
    let dark = Rgb([60, 35, 20]);
    let tear = Rgb([80, 160, 240]);
    p.circle(0.0, 0.0, 0.8, Main);
    let (ex, ey) = (0.28, -0.18);
    let dots = |p: &mut Parts, r: f32| {
        p.ellipse(-ex, ey, r * 0.75, r, 0.0, dark);
        p.ellipse(ex, ey, r * 0.75, r, 0.0, dark);
    };
    match m {
        Mood::Happy => {
            dots(p, 0.1);
            p.arc(0.0, 0.05, 0.42, 20.0, 160.0, 0.08, dark);
        }
        Mood::Sad => {
            dots(p, 0.09);
            p.arc(0.0, 0.6, 0.35, 210.0, 330.0, 0.08, dark);
            drop(p, -ex - 0.05, 0.1, 0.1, tear);
            p.line(&[(-0.42, -0.42), (-0.15, -0.35)], 0.05, dark);
            p.line(&[(0.42, -0.42), (0.15, -0.35)], 0.05, dark);
        }
        Mood::Surprised => {
            for x in [-ex, ex] {
                p.circle(x, ey, 0.16, White);
                p.circle(x, ey, 0.08, dark);
            }
            p.arc(-ex, -0.48, 0.15, 200.0, 340.0, 0.05, dark);
            p.arc(ex, -0.48, 0.15, 200.0, 340.0, 0.05, dark);
            p.ellipse(0.0, 0.38, 0.14, 0.2, 0.0, dark);
        }
        Mood::Angry => {
            dots(p, 0.08);
            p.line(&[(-0.5, -0.45), (-0.12, -0.28)], 0.08, dark);
            p.line(&[(0.5, -0.45), (0.12, -0.28)], 0.08, dark);
            p.arc(0.0, 0.55, 0.3, 215.0, 325.0, 0.09, dark);
        }
        Mood::Scared => {
            for x in [-ex, ex] {
                p.circle(x, ey, 0.15, White);
                p.circle(x, ey + 0.03, 0.05, dark);
            }
            p.line(
                &[
                    (-0.3, 0.4),
                    (-0.15, 0.32),
                    (0.0, 0.4),
                    (0.15, 0.32),
                    (0.3, 0.4),
                ],
                0.06,
                dark,
            );
            drop(p, 0.62, -0.4, 0.1, tear);
        }
        Mood::Sleepy => {
            p.arc(-ex, ey - 0.05, 0.12, 20.0, 160.0, 0.06, dark);
            p.arc(ex, ey - 0.05, 0.12, 20.0, 160.0, 0.06, dark);
            p.circle(0.0, 0.38, 0.08, dark);
            p.line(
                &[(0.45, -0.85), (0.7, -0.85), (0.45, -0.6), (0.7, -0.6)],
                0.05,
                Rgb([60, 80, 160]),
            );
            p.line(
                &[(0.75, -0.5), (0.9, -0.5), (0.75, -0.35), (0.9, -0.35)],
                0.04,
                Rgb([60, 80, 160]),
            );
        }
        Mood::Stressed => {
            dots(p, 0.07);
            p.line(&[(-0.45, -0.35), (-0.15, -0.45)], 0.05, dark);
            p.line(&[(0.45, -0.35), (0.15, -0.45)], 0.05, dark);
            p.rect(-0.3, 0.25, 0.6, 0.2, White);
            for x in [-0.15, 0.0, 0.15] {
                p.line(&[(x, 0.25), (x, 0.45)], 0.03, dark);
            }
            p.line(&[(-0.3, 0.35), (0.3, 0.35)], 0.03, dark);
            drop(p, -0.62, -0.35, 0.1, tear);
            drop(p, 0.65, -0.2, 0.08, tear);
        }
        Mood::Love => {
            heart(p, -ex, ey, 0.14, Rgb([230, 30, 60]));
            heart(p, ex, ey, 0.14, Rgb([230, 30, 60]));
            p.arc(0.0, 0.05, 0.38, 30.0, 150.0, 0.08, dark);
        }
        Mood::Disgusted => {
            p.line(&[(-0.4, -0.2), (-0.15, -0.15)], 0.06, dark);
            p.line(&[(0.4, -0.2), (0.15, -0.15)], 0.06, dark);
            p.line(
                &[(-0.3, 0.35), (-0.1, 0.28), (0.1, 0.38), (0.3, 0.3)],
                0.07,
                dark,
            );
            p.ellipse(0.1, 0.45, 0.1, 0.12, 0.0, Rgb([120, 200, 60]));
        }
        Mood::Laughing => {
            p.arc(-ex, ey + 0.05, 0.12, 200.0, 340.0, 0.06, dark);
            p.arc(ex, ey + 0.05, 0.12, 200.0, 340.0, 0.06, dark);
            let mut pts = vec![(-0.42, 0.12), (0.42, 0.12)];
            pts.extend(arc_points(0.0, 0.12, 0.42, 0.42, 0.0, 180.0, 12));
            p.poly(&pts, dark);
            p.ellipse(0.0, 0.42, 0.2, 0.08, 0.0, Rgb([230, 90, 90]));
            drop(p, -0.55, 0.0, 0.08, tear);
            drop(p, 0.55, 0.0, 0.08, tear);
        }
    }
}

fn cloud(p: &mut Parts, x: f32, y: f32, s: f32, t: Tone) {
    for (dx, dy, r) in [
        (-0.4, 0.1, 0.3),
        (0.0, -0.1, 0.4),
        (0.4, 0.05, 0.32),
        (0.15, 0.2, 0.3),
        (-0.15, 0.2, 0.3),
    ] {
        p.circle(x + dx * s, y + dy * s, r * s, t);
    }
}

fn drop(p: &mut Parts, x: f32, y: f32, s: f32, t: Tone) {
    p.circle(x, y + 0.3 * s, 0.6 * s, t);
    p.poly(
        &[
            (x - 0.52 * s, y + 0.05 * s),
            (x, y - s),
            (x + 0.52 * s, y + 0.05 * s),
        ],
        t,
    );
}

fn snowflake(p: &mut Parts, x: f32, y: f32, r: f32, t: Tone) {
    for k in 0..6 {
        let a = (k as f32 * 60.0).to_radians();
        let (c, s) = (a.cos(), a.sin());
        p.line(&[(x, y), (x + r * c, y + r * s)], r * 0.14, t);
        let m = (x + 0.6 * r * c, y + 0.6 * r * s);
        for da in [0.6f32, -0.6] {
            let b = a + da;
            p.line(
                &[m, (m.0 + 0.3 * r * b.cos(), m.1 + 0.3 * r * b.sin())],
                r * 0.1,
                t,
            );
        }
    }
}

/// The fixed world map: four continents around a central ocean. `highlight` takes the concept's colour.
fn world_map(p: &mut Parts, highlight: Option<Dir>) {
    use Tone::*;
    let land = Rgb([170, 160, 130]);
    let sea = if highlight == Some(Dir::Ocean) {
        Main
    } else {
        Rgb([180, 200, 215])
    };
    p.rect(-0.95, -0.95, 1.9, 1.9, sea);
    let conts = [
        (Dir::North, (0.0, -0.62, 0.7, 0.26)),
        (Dir::South, (0.0, 0.64, 0.6, 0.24)),
        (Dir::West, (-0.62, 0.0, 0.24, 0.4)),
        (Dir::East, (0.62, 0.02, 0.25, 0.42)),
    ];
    for (d, (x, y, rx, ry)) in conts {
        let t = if highlight == Some(d) { Main } else { land };
        p.ellipse(x, y, rx, ry, 0.0, t);
        p.ellipse(x + rx * 0.4, y + ry * 0.3, rx * 0.6, ry * 0.7, 20.0, t);
    }
    if highlight == Some(Dir::Ocean) {
        for y in [-0.15, 0.05, 0.25] {
            p.line(
                &[
                    (-0.25, y),
                    (-0.12, y - 0.06),
                    (0.0, y),
                    (0.12, y - 0.06),
                    (0.25, y),
                ],
                0.04,
                Second,
            );
        }
    } else {
        p.circle(0.0, 0.0, 0.08, Second);
    }
}

fn compass(p: &mut Parts, d: Dir) {
    use Tone::*;
    p.circle(0.0, 0.0, 0.88, Rgb([235, 230, 215]));
    if d == Dir::Ocean {
        p.circle(0.0, 0.0, 0.8, Main);
        for y in [-0.3, 0.0, 0.3] {
            p.line(
                &[
                    (-0.55, y),
                    (-0.28, y - 0.12),
                    (0.0, y),
                    (0.28, y - 0.12),
                    (0.55, y),
                ],
                0.09,
                Second,
            );
        }
        return;
    }
    let ang = match d {
        Dir::North => -90.0f32,
        Dir::South => 90.0,
        Dir::East => 0.0,
        _ => 180.0,
    };
    for k in 0..4 {
        let a = (k as f32 * 90.0).to_radians();
        let b = a + PI / 2.0;
        p.poly(
            &[
                (0.8 * a.cos(), 0.8 * a.sin()),
                (0.15 * b.cos(), 0.15 * b.sin()),
                (-0.15 * b.cos(), -0.15 * b.sin()),
            ],
            Rgb([120, 120, 120]),
        );
    }
    let a = ang.to_radians();
    let b = a + PI / 2.0;
    p.poly(
        &[
            (0.85 * a.cos(), 0.85 * a.sin()),
            (0.25 * b.cos(), 0.25 * b.sin()),
            (-0.25 * b.cos(), -0.25 * b.sin()),
        ],
        Main,
    );
    p.circle(0.0, 0.0, 0.12, Second);
}

/// A country's outline: a seeded radial blob, so each country has its own silhouette.
fn country_blob(p: &mut Parts, seed: u32) {
    let mut r = Rng::new(seed as u64);
    let n = 14;
    let radii: Vec<f32> = (0..n).map(|_| r.range(0.45, 0.85)).collect();
    let pts: Vec<(f32, f32)> = (0..n * 3)
        .map(|i| {
            let t = i as f32 / 3.0;
            let k = t.floor() as usize;
            let f = t - k as f32;
            let rad = radii[k % n] * (1.0 - f) + radii[(k + 1) % n] * f;
            let a = 2.0 * PI * t / n as f32;
            (rad * a.cos(), rad * a.sin() * 0.85 + 0.05)
        })
        .collect();
    p.poly(&pts, Tone::Main);
}

/// A flag in [-0.9, 0.9] × [-0.6, 0.6]: Main, Second and the third colour.
pub fn flag(p: &mut Parts, layout: FlagLayout, c3: [u8; 3]) {
    use Tone::*;
    let (w, h) = (0.9, 0.6);
    let third = Rgb(c3);
    p.rect(-w, -h, 2.0 * w, 2.0 * h, Main);
    match layout {
        FlagLayout::HStripes => {
            p.rect(-w, -h / 3.0, 2.0 * w, 2.0 * h / 3.0, Second);
            p.rect(-w, h / 3.0, 2.0 * w, 2.0 * h / 3.0, third);
        }
        FlagLayout::VStripes => {
            p.rect(-w / 3.0, -h, 2.0 * w / 3.0, 2.0 * h, Second);
            p.rect(w / 3.0, -h, 2.0 * w / 3.0, 2.0 * h, third);
        }
        FlagLayout::Cross => {
            p.rect(-w, -0.15, 2.0 * w, 0.3, Second);
            p.rect(-0.45, -h, 0.3, 2.0 * h, Second);
            p.rect(-w, -0.06, 2.0 * w, 0.12, third);
            p.rect(-0.36, -h, 0.12, 2.0 * h, third);
        }
        FlagLayout::Disc => {
            p.circle(0.0, 0.0, 0.38, Second);
            p.circle(0.0, 0.0, 0.18, third);
        }
        FlagLayout::Triangle => {
            p.rect(-w, 0.0, 2.0 * w, h, third);
            p.poly(&[(-w, -h), (0.0, 0.0), (-w, h)], Second);
        }
        FlagLayout::Diagonal => {
            p.poly(&[(-w, h), (w, -h), (w, h)], Second);
            p.line(&[(-w, h), (w, -h)], 0.18, third);
        }
        FlagLayout::Star => {
            p.rect(-w, h * 0.5, 2.0 * w, h * 0.5, third);
            p.poly(&star_points(-0.4, -0.15, 0.32, 0.42, 5), Second);
        }
        FlagLayout::Border => {
            p.rect(-w + 0.14, -h + 0.14, 2.0 * w - 0.28, 2.0 * h - 0.28, Second);
            p.poly(&[(0.0, -0.35), (0.3, 0.0), (0.0, 0.35), (-0.3, 0.0)], third);
        }
    }
}

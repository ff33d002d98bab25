//! The shaded "photo" facet: a cluttered, lit background, the object with a lighting gradient and a cast shadow,
//! then camera blur and sensor noise. Backgrounds are muted so the object's colour stays the dominant colour.

use tiny_skia::{GradientStop, LinearGradient, Paint, Point, SpreadMode, Transform};

use super::shapes::{self, Parts};
use super::{darken, mix, muted, place, tone, Canvas};
use crate::catalogue::{Concept, Family};
use crate::rng::Rng;

/// Paint a photographic background: sky and ground or a wall, soft clutter shapes and speckle texture.
pub fn background(cv: &mut Canvas, rng: &mut Rng) {
    let s = cv.size;
    let top = muted(rng, 120.0, 235.0);
    let bottom = muted(rng, 70.0, 200.0);
    let horizon = rng.range(0.45, 0.8);
    let stops = vec![
        GradientStop::new(0.0, col(top)),
        GradientStop::new(1.0, col(mix(top, bottom, 0.4))),
    ];
    fill_gradient(cv, 0.0, 0.0, s, s * horizon, stops);
    let stops = vec![
        GradientStop::new(0.0, col(bottom)),
        GradientStop::new(1.0, col(darken(bottom, 0.75))),
    ];
    fill_gradient(cv, 0.0, s * horizon, s, s * (1.0 - horizon), stops);
    for _ in 0..rng.below(6) + 2 {
        let c = muted(rng, 60.0, 230.0);
        let (x, y, r) = (
            rng.range(0.0, s),
            rng.range(0.0, s),
            rng.range(0.05, 0.25) * s,
        );
        if rng.chance(0.5) {
            if let Some(p) = tiny_skia::PathBuilder::from_circle(x, y, r) {
                cv.fill(&p, c, rng.range(0.3, 0.7), Transform::identity());
            }
        } else {
            cv.rect(x - r, y - r * 0.5, 2.0 * r, r, c, rng.range(0.3, 0.7));
        }
    }
    for _ in 0..(s as usize / 3) {
        let c = muted(rng, 40.0, 240.0);
        cv.rect(rng.range(0.0, s), rng.range(0.0, s), 1.0, 1.0, c, 0.35);
    }
}

fn col(c: [u8; 3]) -> tiny_skia::Color {
    tiny_skia::Color::from_rgba8(c[0], c[1], c[2], 255)
}

fn fill_gradient(cv: &mut Canvas, x: f32, y: f32, w: f32, h: f32, stops: Vec<GradientStop>) {
    let (Some(rect), Some(shader)) = (
        cv.clip_rect(x, y, w, h),
        LinearGradient::new(
            Point::from_xy(x, y),
            Point::from_xy(x, y + h),
            stops,
            SpreadMode::Pad,
            Transform::identity(),
        ),
    ) else {
        return;
    };
    let paint = Paint {
        shader,
        anti_alias: true,
        ..Paint::default()
    };
    let path = tiny_skia::PathBuilder::from_rect(rect);
    cv.pm.fill_path(
        &path,
        &paint,
        tiny_skia::FillRule::Winding,
        Transform::identity(),
        None,
    );
}

/// Draw parts lit from one side (`light` in degrees), with a soft shadow underneath.
pub fn shaded(
    cv: &mut Canvas,
    parts: &Parts,
    c: &Concept,
    ts: Transform,
    light: f32,
    shadow: bool,
) {
    if shadow {
        let off = cv.size * 0.04;
        let sh = Transform::from_translate(off, off).pre_concat(ts);
        for p in &parts.0 {
            match p.line {
                Some(w) => cv.stroke(&p.path, [0, 0, 0], 0.18, w, sh),
                None => cv.fill(&p.path, [0, 0, 0], 0.22, sh),
            }
        }
    }
    let (lx, ly) = (light.to_radians().cos(), light.to_radians().sin());
    for p in &parts.0 {
        let base = tone(p.tone, c);
        if let Some(w) = p.line {
            cv.stroke(&p.path, base, 1.0, w, ts);
            continue;
        }
        let b = p.path.bounds();
        let (mx, my) = (b.left() + b.width() / 2.0, b.top() + b.height() / 2.0);
        let r = 0.5 * b.width().max(b.height());
        let stops = vec![
            GradientStop::new(0.0, col(mix(base, [255, 255, 255], 0.4))),
            GradientStop::new(0.45, col(base)),
            GradientStop::new(1.0, col(darken(base, 0.55))),
        ];
        let shader = LinearGradient::new(
            Point::from_xy(mx - lx * r, my - ly * r),
            Point::from_xy(mx + lx * r, my + ly * r),
            stops,
            SpreadMode::Pad,
            Transform::identity(),
        );
        match shader {
            Some(shader) => {
                let paint = Paint {
                    shader,
                    anti_alias: true,
                    ..Paint::default()
                };
                cv.pm
                    .fill_path(&p.path, &paint, tiny_skia::FillRule::Winding, ts, None);
            }
            None => cv.fill(&p.path, base, 1.0, ts),
        }
    }
}

/// Render a photo of `c`; returns the style name.
pub fn render(cv: &mut Canvas, c: &Concept, rng: &mut Rng) -> &'static str {
    background(cv, rng);
    let parts = shapes::parts(c, rng);
    let s = cv.size;
    let big = matches!(c.family, Family::Colour | Family::Geography);
    let scale = s
        * 0.5
        * if big {
            rng.range(0.8, 0.95)
        } else {
            rng.range(0.62, 0.85)
        };
    let ts = place(
        s * (0.5 + rng.range(-0.07, 0.07)),
        s * (0.5 + rng.range(-0.07, 0.07)),
        scale,
        rng.range(-15.0, 15.0),
    );
    let light = rng.range(65.0, 205.0);
    shaded(cv, &parts, c, ts, light, true);
    "photo"
}

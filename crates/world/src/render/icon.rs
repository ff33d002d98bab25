//! The flat icon / symbol / emblem / flag facet: flat colours, bold outlines, a plain or badge background.

use tiny_skia::PathBuilder;

use super::shapes;
use super::{luma, mix, muted, place, Canvas};
use crate::catalogue::Concept;
use crate::rng::Rng;

/// Render the icon of `c`; returns the style name.
pub fn render(cv: &mut Canvas, c: &Concept, rng: &mut Rng) -> &'static str {
    let s = cv.size;
    let parts = shapes::icon_parts(c, rng);
    let plain = rng.chance(0.5);
    let bg = if plain {
        if luma(c.colour) > 200.0 {
            muted(rng, 90.0, 150.0)
        } else {
            muted(rng, 225.0, 255.0)
        }
    } else {
        let tint = mix(c.colour, [255, 255, 255], 0.85);
        if luma(c.colour) > 200.0 {
            muted(rng, 60.0, 120.0)
        } else {
            tint
        }
    };
    cv.clear(bg);
    let style = if rng.chance(0.4) {
        // A badge: a rounded tile or disc behind the symbol.
        let badge = if luma(c.colour) > 200.0 {
            [70, 80, 95]
        } else {
            [250, 250, 250]
        };
        let r = s * 0.46;
        if let Some(p) = PathBuilder::from_circle(s / 2.0, s / 2.0, r) {
            cv.fill(&p, badge, 1.0, tiny_skia::Transform::identity());
        }
        "badge"
    } else {
        "flat"
    };
    let scale = s * 0.5 * rng.range(0.72, 0.9);
    let ts = place(s * 0.5, s * 0.5, scale, rng.range(-5.0, 5.0));
    cv.flat_parts(&parts.0, c, ts, Some(1.6 / scale * s / 96.0));
    style
}

//! Contact sheets of dataset examples: each image as the model saw it, with the cell of its maximum response
//! outlined in red.

use clipneurons_world::{Split, World};
use image::{Rgb, RgbImage};

use crate::mine::ImageRecord;
use crate::{NeuronError, Result};

/// The image of a mining record as the model saw it: a file resized and centre-cropped, or a world sample
/// (`world:SPLIT:SEED:INDEX`) rendered again (samples are pure functions of their source).
pub fn view_of(rec: &ImageRecord, size: usize) -> Result<RgbImage> {
    if let Some(rest) = rec.source.strip_prefix("world:") {
        let parts: Vec<&str> = rest.split(':').collect();
        let bad = || NeuronError::Input(format!("unreadable world source '{}'", rec.source));
        let [split, seed, index] = parts.as_slice() else {
            return Err(bad());
        };
        let split: Split = split.parse().map_err(|_| bad())?;
        let (seed, index): (u64, u64) = (
            seed.parse().map_err(|_| bad())?,
            index.parse().map_err(|_| bad())?,
        );
        return Ok(World::with_size(size as u32)
            .sample(split, index, seed)
            .image);
    }
    // A shard member: `SHARD.tar:MEMBER`.
    if let Some(at) = rec.source.find(".tar:") {
        let (shard, member) = (&rec.source[..at + 4], &rec.source[at + 5..]);
        let bytes = crate::shards::read_member(std::path::Path::new(shard), member)?;
        return clipneurons_image::model_view_bytes(
            &bytes,
            std::path::Path::new(&rec.source),
            size,
        )
        .map_err(|e| NeuronError::Input(format!("{}: {e}", rec.source)));
    }
    clipneurons_image::model_view(std::path::Path::new(&rec.source), size)
        .map_err(|e| NeuronError::Input(format!("{}: {e}", rec.source)))
}

/// Tiles `images` (all `side` × `side`) `cols` to a row with a 2-pixel white gutter; `marks[i]` = the `(y, x)` cell
/// of an `[h, w]` `grid` to outline.
pub fn contact_sheet(
    images: &[RgbImage],
    marks: &[Option<(usize, usize)>],
    grid: Option<[usize; 2]>,
    cols: usize,
) -> RgbImage {
    let side = images.first().map_or(1, |i| i.width());
    let cols = cols.clamp(1, images.len().max(1)) as u32;
    let rows = (images.len() as u32).div_ceil(cols).max(1);
    let gap = 2;
    let mut sheet = RgbImage::from_pixel(
        cols * (side + gap) + gap,
        rows * (side + gap) + gap,
        Rgb([255, 255, 255]),
    );
    for (i, img) in images.iter().enumerate() {
        let (ox, oy) = (
            gap + (i as u32 % cols) * (side + gap),
            gap + (i as u32 / cols) * (side + gap),
        );
        image::imageops::replace(&mut sheet, img, ox.into(), oy.into());
        if let (Some(Some((y, x))), Some([gh, gw])) = (marks.get(i), grid) {
            let (cw, ch) = (side as f32 / gw as f32, side as f32 / gh as f32);
            let x0 = ox + (*x as f32 * cw) as u32;
            let y0 = oy + (*y as f32 * ch) as u32;
            let x1 = (ox + ((*x + 1) as f32 * cw) as u32).min(ox + side) - 1;
            let y1 = (oy + ((*y + 1) as f32 * ch) as u32).min(oy + side) - 1;
            outline(&mut sheet, (x0, y0), (x1, y1));
        }
    }
    sheet
}

/// A 2-pixel red rectangle from `(x0, y0)` to `(x1, y1)` inclusive.
fn outline(img: &mut RgbImage, (x0, y0): (u32, u32), (x1, y1): (u32, u32)) {
    let red = Rgb([230, 20, 20]);
    for t in 0..2u32 {
        for x in x0..=x1 {
            img.put_pixel(x, (y0 + t).min(y1), red);
            img.put_pixel(x, y1.saturating_sub(t).max(y0), red);
        }
        for y in y0..=y1 {
            img.put_pixel((x0 + t).min(x1), y, red);
            img.put_pixel(x1.saturating_sub(t).max(x0), y, red);
        }
    }
}

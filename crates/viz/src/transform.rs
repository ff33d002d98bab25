//! Differentiable random transforms (Lucid `optvis/transform`): constant padding, jitter (a random crop that
//! shrinks the image, as Lucid's), random scale by bilinear interpolation matrices (candle has no backward for its
//! bilinear resize), and a final resize to the model's input. Rotation is not implemented yet.

use candle_core::{Device, Tensor};

use crate::{Result, Rng};

/// Pad all four sides of `[B, C, H, W]` by `p` pixels of `value`.
pub fn pad(x: &Tensor, p: usize, value: f64) -> Result<Tensor> {
    if p == 0 {
        return Ok(x.clone());
    }
    let (b, c, h, w) = x.dims4()?;
    let side = (Tensor::ones((b, c, h, p), x.dtype(), x.device())? * value)?;
    let x = Tensor::cat(&[&side, x, &side], 3)?;
    let top = (Tensor::ones((b, c, p, w + 2 * p), x.dtype(), x.device())? * value)?;
    Ok(Tensor::cat(&[&top, &x, &top], 2)?)
}

/// A random `(H − d) × (W − d)` crop.
pub fn jitter(x: &Tensor, d: usize, rng: &mut Rng) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if d == 0 || d >= h.min(w) {
        return Ok(x.clone());
    }
    let (dy, dx) = (rng.below(d + 1), rng.below(d + 1));
    Ok(x.narrow(2, dy, h - d)?.narrow(3, dx, w - d)?)
}

/// `[n_out, n_in]` bilinear interpolation (half-pixel centres, as `align_corners=False`, edges clamped).
pub fn interpolation_matrix(n_out: usize, n_in: usize) -> Result<Tensor> {
    let mut m = vec![0f32; n_out * n_in];
    let ratio = n_in as f64 / n_out as f64;
    for o in 0..n_out {
        let src = ((o as f64 + 0.5) * ratio - 0.5).clamp(0.0, (n_in - 1) as f64);
        let i0 = src.floor() as usize;
        let i1 = (i0 + 1).min(n_in - 1);
        let t = src - i0 as f64;
        m[o * n_in + i0] += (1.0 - t) as f32;
        m[o * n_in + i1] += t as f32;
    }
    Ok(Tensor::from_vec(m, (n_out, n_in), &Device::Cpu)?)
}

/// Bilinear resize of `[B, C, H, W]` to `out_h × out_w`: `R_h · x · R_wᵀ`.
pub fn resize(x: &Tensor, out_h: usize, out_w: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if (h, w) == (out_h, out_w) {
        return Ok(x.clone());
    }
    let rh = interpolation_matrix(out_h, h)?;
    let rw = interpolation_matrix(out_w, w)?.t()?.contiguous()?;
    Ok(rh.broadcast_matmul(x)?.broadcast_matmul(&rw)?)
}

/// Resize by a factor drawn from `scales`.
pub fn random_scale(x: &Tensor, scales: &[f64], rng: &mut Rng) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let s = scales[rng.below(scales.len())];
    let (nh, nw) = (
        ((h as f64 * s).round() as usize).max(1),
        ((w as f64 * s).round() as usize).max(1),
    );
    resize(x, nh, nw)
}

/// Centre crop or pad (with `value`) to `size` × `size`.
pub fn crop_or_pad_to(x: &Tensor, size: usize, value: f64) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let mut x = x.clone();
    if h > size || w > size {
        let (ch, cw) = (h.min(size), w.min(size));
        x = x.narrow(2, (h - ch) / 2, ch)?.narrow(3, (w - cw) / 2, cw)?;
    }
    let (_, _, h, w) = x.dims4()?;
    if h < size || w < size {
        let p = (size - h.min(w)).div_ceil(2);
        x = pad(&x, p, value)?;
        let (_, _, h2, w2) = x.dims4()?;
        x = x
            .narrow(2, (h2 - size) / 2, size)?
            .narrow(3, (w2 - size) / 2, size)?;
    }
    Ok(x)
}

/// Rotate `[B, C, H, W]` by `degrees` (counter-clockwise on screen) about the image centre, bilinearly; where the
/// source falls outside the image the result is `fill`. Lucid rotates with nearest-neighbour sampling
/// (`tf.contrib.image.rotate`'s default), lucent bilinearly; bilinear keeps the gradient smooth.
pub fn rotate(x: &Tensor, degrees: f64, fill: f64) -> Result<Tensor> {
    if degrees == 0.0 {
        return Ok(x.clone());
    }
    let (b, c, h, w) = x.dims4()?;
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cy, cx) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
    // For each output pixel, its four source neighbours and their weights (0 for neighbours outside).
    let mut idx = vec![vec![0u32; h * w]; 4];
    let mut wts = vec![vec![0f32; h * w]; 4];
    let mut covered = vec![0f32; h * w];
    for i in 0..h {
        for j in 0..w {
            let (dy, dx) = (i as f64 - cy, j as f64 - cx);
            // Inverse rotation of the output position (y grows downwards, so screen-CCW is this sign pattern).
            let sx = cos * dx - sin * dy + cx;
            let sy = sin * dx + cos * dy + cy;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (tx, ty) = (sx - x0, sy - y0);
            let o = i * w + j;
            for (k, (yy, xx, wt)) in [
                (y0, x0, (1.0 - ty) * (1.0 - tx)),
                (y0, x0 + 1.0, (1.0 - ty) * tx),
                (y0 + 1.0, x0, ty * (1.0 - tx)),
                (y0 + 1.0, x0 + 1.0, ty * tx),
            ]
            .into_iter()
            .enumerate()
            {
                if yy >= 0.0 && xx >= 0.0 && (yy as usize) < h && (xx as usize) < w {
                    idx[k][o] = (yy as usize * w + xx as usize) as u32;
                    wts[k][o] = wt as f32;
                    covered[o] += wt as f32;
                }
            }
        }
    }
    let flat = x.reshape((b, c, h * w))?;
    let mut out = ((Tensor::from_vec(covered, h * w, &Device::Cpu)?.neg()? + 1.0)? * fill)?
        .broadcast_as((b, c, h * w))?
        .contiguous()?;
    for (i, wt) in idx.into_iter().zip(wts) {
        let i = Tensor::from_vec(i, h * w, &Device::Cpu)?;
        let wt = Tensor::from_vec(wt, h * w, &Device::Cpu)?;
        out = (out + flat.index_select(&i, 2)?.broadcast_mul(&wt)?)?;
    }
    Ok(out.reshape((b, c, h, w))?)
}

/// Rotate by an angle (degrees) drawn from `angles`.
pub fn random_rotate(x: &Tensor, angles: &[f64], fill: f64, rng: &mut Rng) -> Result<Tensor> {
    rotate(x, angles[rng.below(angles.len())], fill)
}

/// Which random transforms a visualisation applies each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transforms {
    /// Optimise the image as it is (only cropped or padded to the model's side).
    None,
    /// Lucid's `standard_transforms`.
    Lucid,
    /// OpenAI's CLIP-featurevis list.
    Clip,
}

impl Transforms {
    pub fn apply(self, x: &Tensor, size: usize, rng: &mut Rng) -> Result<Tensor> {
        match self {
            Transforms::None => crop_or_pad_to(x, size, 0.5),
            Transforms::Lucid => lucid_standard(x, size, rng),
            Transforms::Clip => clip_featurevis(x, size, rng),
        }
    }
}

/// Lucid's `standard_transforms`: pad 12 (grey), jitter 8, scale 0.90–1.10, rotate −10…10° (0° six times in 26),
/// jitter 4; then back to `size`.
pub fn lucid_standard(x: &Tensor, size: usize, rng: &mut Rng) -> Result<Tensor> {
    let scales: Vec<f64> = (0..11).map(|i| 1.0 + (i as f64 - 5.0) / 50.0).collect();
    let angles: Vec<f64> = (-10..=10).chain([0; 5]).map(f64::from).collect();
    let x = pad(x, 12, 0.5)?;
    let x = jitter(&x, 8, rng)?;
    let x = random_scale(&x, &scales, rng)?;
    let x = random_rotate(&x, &angles, 0.5, rng)?;
    let x = jitter(&x, 4, rng)?;
    crop_or_pad_to(&x, size, 0.5)
}

/// OpenAI's CLIP-featurevis transforms (`example_usage.py`): pad 2 (grey), ten jitters of 4, a scale from
/// `0.995ⁿ` (n = −5…79) and `0.998ⁿ` (n = 20…39, twice), a rotation from −20…19, −10…9, −5…4 and five 0°,
/// jitter 2; then crop or pad to `size`. The pixel amounts are for RN50x4's 288 px and are scaled to `size`
/// (at least 1 px): at 96 px ten unscaled jitters of 4 would shrink the image to 60% of the input.
pub fn clip_featurevis(x: &Tensor, size: usize, rng: &mut Rng) -> Result<Tensor> {
    let px = |n: usize| ((n as f64 * size as f64 / 288.0).round() as usize).max(1);
    let scales: Vec<f64> = (-5..80)
        .map(|n| 0.995f64.powi(n))
        .chain((0..2).flat_map(|_| (20..40).map(|n| 0.998f64.powi(n))))
        .collect();
    let angles: Vec<f64> = (-20..20)
        .chain(-10..10)
        .chain(-5..5)
        .chain([0; 5])
        .map(f64::from)
        .collect();
    let mut x = pad(x, px(2), 0.5)?;
    for _ in 0..10 {
        x = jitter(&x, px(4), rng)?;
    }
    let x = random_scale(&x, &scales, rng)?;
    let x = random_rotate(&x, &angles, 0.5, rng)?;
    let x = jitter(&x, px(2), rng)?;
    crop_or_pad_to(&x, size, 0.5)
}

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

/// Lucid's `standard_transforms` without rotation: pad 12 (grey), jitter 8, scale 0.90–1.10, jitter 4; then
/// back to `size`.
pub fn lucid_standard(x: &Tensor, size: usize, rng: &mut Rng) -> Result<Tensor> {
    let scales: Vec<f64> = (0..11).map(|i| 1.0 + (i as f64 - 5.0) / 50.0).collect();
    let x = pad(x, 12, 0.5)?;
    let x = jitter(&x, 8, rng)?;
    let x = random_scale(&x, &scales, rng)?;
    let x = jitter(&x, 4, rng)?;
    crop_or_pad_to(&x, size, 0.5)
}

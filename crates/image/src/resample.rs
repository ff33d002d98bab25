//! Pillow's `Image.resize` re-implemented so that results are bit-identical.
//!
//! CLIP models were trained and are evaluated on images resized by Pillow, so matching its
//! arithmetic exactly (not just "a bicubic filter") removes one source of drift between this
//! crate and the Python reference. The rules reproduced here (Pillow's `Resample.c` and
//! `Geometry.c`):
//!
//! * BICUBIC is a separable convolution with Keys' cubic (a = -0.5), support 2 scaled by the
//!   downscale factor (antialiasing); coefficients are computed in f64, normalised to sum 1 per
//!   output pixel, then for 8-bit images rounded to 22-bit fixed point.
//! * Two passes, each rounded and clipped to the sample type: horizontal first, except that
//!   Pillow 13 runs the vertical pass first when the height shrinks much more than the width.
//! * 16-bit greyscale ("I;16") is filtered in f64, rounded half away from zero and clamped to
//!   u16 per pass.
//! * NEAREST (used by Pillow for palette and 1-bit images whatever the caller asks) samples at
//!   `(x + 0.5) * scale`, accumulated by repeated f64 addition.
//!
//! Because each output pixel only depends on its own coefficients, we only compute the pixels
//! that survive the subsequent centre crop; the result equals resize-then-crop exactly.

/// Where the crop window lies in the resized image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    /// Size of the (virtual) resized image.
    pub out_w: usize,
    pub out_h: usize,
    /// Top-left corner of the crop in resized coordinates.
    pub left: usize,
    pub top: usize,
    /// Side of the square crop.
    pub n: usize,
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Keys' cubic convolution kernel with a = -0.5, evaluated in the same operation order as Pillow.
fn keys_cubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Filter taps along one axis for a contiguous range of output positions.
struct Taps<W> {
    /// First input index for each output position.
    start: Vec<usize>,
    /// Number of taps for each output position.
    len: Vec<usize>,
    /// Row stride of `weights`.
    ksize: usize,
    weights: Vec<W>,
}

impl<W: Copy> Taps<W> {
    fn weights(&self, i: usize) -> &[W] {
        &self.weights[i * self.ksize..i * self.ksize + self.len[i]]
    }

    /// Input range touched by all output positions.
    fn input_span(&self) -> (usize, usize) {
        let lo = self.start.iter().copied().min().unwrap_or(0);
        let hi = self
            .start
            .iter()
            .zip(&self.len)
            .map(|(s, l)| s + l)
            .max()
            .unwrap_or(0);
        (lo, hi)
    }
}

/// Pillow's `precompute_coeffs` for output positions `first..first + count` of a resize of
/// `in_size` to `out_size` (box = the whole axis). When the axis keeps its size Pillow skips the
/// pass; the taps are then a single unit weight, which gives the same result.
fn bicubic_taps(in_size: usize, out_size: usize, first: usize, count: usize) -> Taps<f64> {
    if in_size == out_size {
        return Taps {
            start: (first..first + count).collect(),
            len: vec![1; count],
            ksize: 1,
            weights: vec![1.0; count],
        };
    }
    // Pillow passes the box as C floats; (in1 - in0) is computed in f32.
    let scale = f64::from(in_size as f32 - 0.0f32) / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let ss = 1.0 / filterscale;
    let mut taps = Taps {
        start: Vec::with_capacity(count),
        len: Vec::with_capacity(count),
        ksize,
        weights: vec![0.0; count * ksize],
    };
    for (i, xx) in (first..first + count).enumerate() {
        let center = (xx as f64 + 0.5) * scale;
        // C's (int) cast truncates towards zero; `as` does the same.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin).min(ksize);
        let k = &mut taps.weights[i * ksize..i * ksize + n];
        let mut ww = 0.0;
        for (x, w) in k.iter_mut().enumerate() {
            *w = keys_cubic(((x + xmin) as f64 - center + 0.5) * ss);
            ww += *w;
        }
        if ww != 0.0 {
            for w in k.iter_mut() {
                *w /= ww;
            }
        }
        taps.start.push(xmin);
        taps.len.push(n);
    }
    taps
}

/// A sample type with Pillow's arithmetic for it: 8-bit channels use 22-bit fixed-point
/// weights and clip each pass to u8; "I;16" uses f64 weights and rounds half away from zero,
/// clamping to u16.
pub(crate) trait Sample: Copy + Default {
    type Weight: Copy;
    type Acc: Copy;
    fn weight(w: f64) -> Self::Weight;
    fn zero() -> Self::Acc;
    fn mac(acc: Self::Acc, v: Self, w: Self::Weight) -> Self::Acc;
    fn finish(acc: Self::Acc) -> Self;
}

impl Sample for u8 {
    type Weight = i32;
    type Acc = i32;
    /// Pillow's `normalize_coeffs_8bpc`: round to fixed point, half away from zero.
    fn weight(k: f64) -> i32 {
        let one = f64::from(1u32 << PRECISION_BITS);
        if k < 0.0 {
            (-0.5 + k * one) as i32
        } else {
            (0.5 + k * one) as i32
        }
    }
    fn zero() -> i32 {
        1 << (PRECISION_BITS - 1)
    }
    #[inline(always)]
    fn mac(acc: i32, v: u8, w: i32) -> i32 {
        acc + i32::from(v) * w
    }
    #[inline(always)]
    fn finish(acc: i32) -> u8 {
        (acc >> PRECISION_BITS).clamp(0, 255) as u8
    }
}

impl Sample for u16 {
    type Weight = f64;
    type Acc = f64;
    fn weight(k: f64) -> f64 {
        k
    }
    fn zero() -> f64 {
        0.0
    }
    #[inline(always)]
    fn mac(acc: f64, v: u16, w: f64) -> f64 {
        acc + f64::from(v) * w
    }
    /// Pillow's `CLIP16(ROUND_UP(ss))`: add ±0.5, truncate, clamp.
    #[inline(always)]
    fn finish(acc: f64) -> u16 {
        let r = if acc >= 0.0 {
            (acc + 0.5) as i32
        } else {
            (acc - 0.5) as i32
        };
        r.clamp(0, 65535) as u16
    }
}

fn convert<T: Sample>(t: Taps<f64>) -> Taps<T::Weight> {
    Taps {
        weights: t.weights.iter().map(|&k| T::weight(k)).collect(),
        start: t.start,
        len: t.len,
        ksize: t.ksize,
    }
}

/// Horizontal pass over every row of `src` (`w` pixels of `C` samples per row); `src` column 0
/// is input column `col_offset`. Returns rows of `taps.len.len()` pixels.
#[inline(always)]
fn horizontal<T: Sample, const C: usize>(
    src: &[T],
    w: usize,
    col_offset: usize,
    taps: &Taps<T::Weight>,
) -> Vec<T> {
    let n = taps.len.len();
    let row_len = n * C;
    let rows = src.len() / (w * C);
    let mut out = vec![T::default(); rows * row_len];
    for (in_row, out_row) in src.chunks_exact(w * C).zip(out.chunks_exact_mut(row_len)) {
        for (x, out_px) in out_row.chunks_exact_mut(C).enumerate() {
            let start = taps.start[x] - col_offset;
            let ws = taps.weights(x);
            let window = &in_row[start * C..(start + ws.len()) * C];
            let mut acc = [T::zero(); C];
            for (px, &wk) in window.chunks_exact(C).zip(ws) {
                for c in 0..C {
                    acc[c] = T::mac(acc[c], px[c], wk);
                }
            }
            for c in 0..C {
                out_px[c] = T::finish(acc[c]);
            }
        }
    }
    out
}

/// Vertical pass over columns `cols` of `src` (`w` pixels of `C` samples per row); `src` row 0
/// is input row `row_offset`. Whole rows are accumulated at a time so the loop vectorises; each
/// pixel still sums its taps in Pillow's order.
#[inline(always)]
fn vertical<T: Sample, const C: usize>(
    src: &[T],
    w: usize,
    cols: std::ops::Range<usize>,
    row_offset: usize,
    taps: &Taps<T::Weight>,
) -> Vec<T> {
    let row_len = cols.len() * C;
    let n = taps.len.len();
    let mut out = vec![T::default(); n * row_len];
    let mut acc = vec![T::zero(); row_len];
    for (y, out_row) in out.chunks_exact_mut(row_len).enumerate() {
        acc.fill(T::zero());
        let start = taps.start[y] - row_offset;
        for (k, &wk) in taps.weights(y).iter().enumerate() {
            let base = (start + k) * w * C;
            let in_row = &src[base + cols.start * C..base + cols.end * C];
            for (a, &v) in acc.iter_mut().zip(in_row) {
                *a = T::mac(*a, v, wk);
            }
        }
        for (o, &a) in out_row.iter_mut().zip(&acc) {
            *o = T::finish(a);
        }
    }
    out
}

/// Bicubic resize of an interleaved image with `C` channels, returning only the crop window
/// (`n * n * C` samples, row-major).
///
/// Pillow 13 runs the vertical pass first when the height shrinks by more than twice as many
/// pixels as the width (a speed optimisation that changes the rounding); otherwise horizontal
/// first, as all earlier Pillow versions do.
pub(crate) fn bicubic<T: Sample, const C: usize>(
    src: &[T],
    w: usize,
    h: usize,
    win: Window,
) -> Vec<T> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the running CPU supports AVX2.
        return unsafe { bicubic_avx2::<T, C>(src, w, h, win) };
    }
    bicubic_impl::<T, C>(src, w, h, win)
}

/// The same code compiled with AVX2 enabled: the passes vectorise about twice as wide, with
/// identical integer results.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn bicubic_avx2<T: Sample, const C: usize>(
    src: &[T],
    w: usize,
    h: usize,
    win: Window,
) -> Vec<T> {
    bicubic_impl::<T, C>(src, w, h, win)
}

#[inline(always)]
fn bicubic_impl<T: Sample, const C: usize>(src: &[T], w: usize, h: usize, win: Window) -> Vec<T> {
    let n = win.n;
    let ht = convert::<T>(bicubic_taps(w, win.out_w, win.left, n));
    let vt = convert::<T>(bicubic_taps(h, win.out_h, win.top, n));
    let dh = h as i64 - win.out_h as i64;
    let dw = w as i64 - win.out_w as i64;
    let vertical_first = dh > 0 && dh > dw * 2;
    if vertical_first {
        let (col_lo, col_hi) = ht.input_span();
        let tmp = vertical::<T, C>(src, w, col_lo..col_hi, 0, &vt);
        horizontal::<T, C>(&tmp, col_hi - col_lo, col_lo, &ht)
    } else {
        let (row_lo, row_hi) = vt.input_span();
        let tmp = horizontal::<T, C>(&src[row_lo * w * C..row_hi * w * C], w, 0, &ht);
        vertical::<T, C>(&tmp, n, 0..n, row_lo, &vt)
    }
}

/// Source index for each output position `first..first + count` of Pillow's nearest-neighbour
/// resize (`ImagingScaleAffine`); `None` where Pillow would leave the fill value 0.
fn nearest_index(
    in_size: usize,
    out_size: usize,
    first: usize,
    count: usize,
) -> Vec<Option<usize>> {
    let a = f64::from(in_size as f32 - 0.0f32) / out_size as f64;
    let mut xo = a * 0.5;
    let mut idx = Vec::with_capacity(count);
    // The position is accumulated by addition, so replay it from 0 to get the same rounding.
    for x in 0..first + count {
        if x >= first {
            let xin = if xo < 0.0 { -1 } else { xo as i64 };
            idx.push((0..in_size as i64).contains(&xin).then_some(xin as usize));
        }
        xo += a;
    }
    idx
}

/// Nearest-neighbour resize of an interleaved 8-bit image, returning the crop window.
pub(crate) fn nearest_u8<const C: usize>(src: &[u8], w: usize, h: usize, win: Window) -> Vec<u8> {
    let n = win.n;
    let xs = nearest_index(w, win.out_w, win.left, n);
    let ys = nearest_index(h, win.out_h, win.top, n);
    let mut out = vec![0u8; n * n * C];
    for (y, out_row) in ys.iter().zip(out.chunks_exact_mut(n * C)) {
        let Some(y) = *y else { continue };
        let in_row = &src[y * w * C..(y + 1) * w * C];
        for (x, o) in xs.iter().zip(out_row.chunks_exact_mut(C)) {
            if let Some(x) = *x {
                o.copy_from_slice(&in_row[x * C..(x + 1) * C]);
            }
        }
    }
    out
}

/// The crop window of an image that is not resized.
pub(crate) fn crop<T: Copy, const C: usize>(src: &[T], w: usize, win: Window) -> Vec<T> {
    let n = win.n;
    let mut out = Vec::with_capacity(n * n * C);
    for y in win.top..win.top + n {
        let row = &src[(y * w + win.left) * C..(y * w + win.left + n) * C];
        out.extend_from_slice(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_is_interpolating() {
        assert_eq!(keys_cubic(0.0), 1.0);
        assert_eq!(keys_cubic(1.0), 0.0);
        assert_eq!(keys_cubic(2.0), 0.0);
        assert!(keys_cubic(1.5) < 0.0);
    }

    #[test]
    fn fixed_point_taps_sum_to_one() {
        for (i, o) in [(640, 288), (7, 64), (300, 224), (1000, 3)] {
            let t = convert::<u8>(bicubic_taps(i, o, 0, o));
            for x in 0..o {
                let s: i32 = t.weights(x).iter().sum();
                assert!(
                    (s - (1 << PRECISION_BITS)).abs() <= t.len[x] as i32,
                    "{i}->{o} at {x}"
                );
            }
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        let src = vec![77u8; 50 * 30 * 3];
        let win = Window {
            out_w: 37,
            out_h: 22,
            left: 7,
            top: 0,
            n: 22,
        };
        assert!(bicubic::<u8, 3>(&src, 50, 30, win).iter().all(|&v| v == 77));
        let src16 = vec![1234u16; 50 * 30];
        assert!(bicubic::<u16, 1>(&src16, 50, 30, win)
            .iter()
            .all(|&v| v == 1234));
    }

    #[test]
    fn i16_rounds_and_clamps() {
        assert_eq!(u16::finish(-5.0), 0);
        assert_eq!(u16::finish(299.5), 300);
        assert_eq!(u16::finish(70000.0), 65535);
    }

    #[test]
    fn nearest_picks_centres() {
        let idx: Vec<_> = nearest_index(4, 2, 0, 2).into_iter().flatten().collect();
        assert_eq!(idx, vec![1, 3]);
        let idx: Vec<_> = nearest_index(2, 4, 0, 4).into_iter().flatten().collect();
        assert_eq!(idx, vec![0, 0, 1, 1]);
    }
}

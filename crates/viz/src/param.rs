//! Image parametrisations (Lucid `optvis/param`): a Fourier-space image with 1/f frequency scaling, Lucid's colour
//! decorrelation and a sigmoid to [0, 1]; or plain pixels. Output: RGB in [0, 1], `[B, 3, H, W]`.

use candle_core::{Device, Tensor, Var};

use crate::{Result, Rng};

/// Lucid's `color_correlation_svd_sqrt`: the square root of ImageNet's colour covariance.
pub const COLOR_CORRELATION_SVD_SQRT: [[f64; 3]; 3] =
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]];

/// Which parametrisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Lucid's default: FFT image, decay power 1, decorrelated colour, sigmoid.
    Fourier,
    /// Pixels with decorrelated colour and sigmoid.
    Pixels,
}

/// A trainable image: its variables and the constant matrices that turn them into RGB.
pub struct ImageParam {
    pub kind: Kind,
    pub batch: usize,
    pub size: usize,
    /// Fourier: real and imaginary spectra `[B, 3, H, W/2+1]`; pixels: `[B, 3, H, W]`.
    pub vars: Vec<Var>,
    /// Fourier: 1/f scale `[H, W/2+1]`, inverse DFT along H (`cos`, `sin` `[H, H]`) and along W (`[W/2+1, W]`).
    scale: Option<Tensor>,
    idft_h: Option<(Tensor, Tensor)>,
    /// The width pass's matrices, transposed to `linear`'s `[out, in]` layout.
    irfft_w_t: Option<(Tensor, Tensor)>,
    /// Colour decorrelation `C / max_norm`, applied as `x' = M x` over channels.
    colour: Tensor,
}

fn matrix(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f64) -> Result<Tensor> {
    let v: Vec<f32> = (0..rows * cols)
        .map(|i| f(i / cols, i % cols) as f32)
        .collect();
    Ok(Tensor::from_vec(v, (rows, cols), &Device::Cpu)?)
}

impl ImageParam {
    /// A new image of `batch` × `size` × `size`, initialised as Lucid does (spectrum or pixels ~ N(0, sd)).
    pub fn new(
        kind: Kind,
        batch: usize,
        size: usize,
        sd: f64,
        rng: &mut Rng,
    ) -> Result<ImageParam> {
        let (h, w) = (size, size);
        let wf = w / 2 + 1;
        let mut normal =
            |n: usize| -> Vec<f32> { (0..n).map(|_| (rng.normal() * sd) as f32).collect() };
        let dev = Device::Cpu;
        let max_norm = (0..3)
            .map(|c| {
                (0..3)
                    .map(|r| COLOR_CORRELATION_SVD_SQRT[r][c].powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .fold(0.0, f64::max);
        let colour = matrix(3, 3, |r, c| COLOR_CORRELATION_SVD_SQRT[r][c] / max_norm)?;
        match kind {
            Kind::Pixels => Ok(ImageParam {
                kind,
                batch,
                size,
                vars: vec![Var::from_tensor(&Tensor::from_vec(
                    normal(batch * 3 * h * w),
                    (batch, 3, h, w),
                    &dev,
                )?)?],
                scale: None,
                idft_h: None,
                irfft_w_t: None,
                colour,
            }),
            Kind::Fourier => {
                // rfft2d frequencies: fy over H (numpy fftfreq), fx over W/2+1.
                let fy = |k: usize| {
                    let k = k as f64;
                    if k <= (h as f64 - 1.0) / 2.0 {
                        k / h as f64
                    } else {
                        (k - h as f64) / h as f64
                    }
                };
                let scale = matrix(h, wf, |ky, kx| {
                    let f = (fy(ky).powi(2) + (kx as f64 / w as f64).powi(2)).sqrt();
                    (w as f64 * h as f64).sqrt() / f.max(1.0 / h.max(w) as f64)
                })?;
                let tau = 2.0 * std::f64::consts::PI;
                // x[y] = (1/H) Σ_k F[k] e^{+2πi k y / H}
                let ch = matrix(h, h, |y, k| {
                    (tau * (k * y) as f64 / h as f64).cos() / h as f64
                })?;
                let sh = matrix(h, h, |y, k| {
                    (tau * (k * y) as f64 / h as f64).sin() / h as f64
                })?;
                // irfft along W: x[x] = (1/W) Σ_k c_k (Re cos − Im sin), c_k = 1 at k = 0 and the Nyquist bin, 2 else.
                let c = |k: usize| {
                    if k == 0 || (w % 2 == 0 && k == w / 2) {
                        1.0
                    } else {
                        2.0
                    }
                };
                let cw = matrix(wf, w, |k, x| {
                    c(k) * (tau * (k * x) as f64 / w as f64).cos() / w as f64
                })?;
                let sw = matrix(wf, w, |k, x| {
                    c(k) * (tau * (k * x) as f64 / w as f64).sin() / w as f64
                })?;
                let re = Tensor::from_vec(normal(batch * 3 * h * wf), (batch, 3, h, wf), &dev)?;
                let im = Tensor::from_vec(normal(batch * 3 * h * wf), (batch, 3, h, wf), &dev)?;
                Ok(ImageParam {
                    kind,
                    batch,
                    size,
                    vars: vec![Var::from_tensor(&re)?, Var::from_tensor(&im)?],
                    scale: Some(scale),
                    idft_h: Some((ch, sh)),
                    irfft_w_t: Some((cw.t()?.contiguous()?, sw.t()?.contiguous()?)),
                    colour,
                })
            }
        }
    }

    /// The decorrelated, pre-sigmoid image `[B, 3, H, W]` (Lucid's `t` before `to_valid_rgb`'s sigmoid).
    pub fn logits(&self) -> Result<Tensor> {
        let (b, s) = (self.batch, self.size);
        let raw = match self.kind {
            Kind::Pixels => self.vars[0].as_tensor().clone(),
            Kind::Fourier => {
                // Both passes of the inverse DFT as flat GEMMs (`linear`: `x · Wᵀ` over the last axis, with only
                // the input gradient computed, since the DFT matrices are constants): first along the height on
                // the transposed spectrum, then along the width.
                let scale = self.scale.as_ref().expect("fourier");
                let (ch, sh) = self.idft_h.as_ref().expect("fourier");
                let (cw_t, sw_t) = self.irfft_w_t.as_ref().expect("fourier");
                let lin = |x: &Tensor, w: &Tensor| clipneurons_kernels::linear(x, w, None);
                let wf = s / 2 + 1;
                let re = self.vars[0]
                    .as_tensor()
                    .broadcast_mul(scale)?
                    .transpose(2, 3)?; // [B, 3, W/2+1, H]
                let im = self.vars[1]
                    .as_tensor()
                    .broadcast_mul(scale)?
                    .transpose(2, 3)?;
                let gr = (lin(&re, ch)? - lin(&im, sh)?)?; // [B, 3, W/2+1, H(y)]
                let gi = (lin(&im, ch)? + lin(&re, sh)?)?;
                let back = |t: Tensor| -> Result<Tensor> {
                    Ok(t.transpose(2, 3)?.contiguous()?.reshape((b, 3, s, wf))?)
                };
                let x = (lin(&back(gr)?, cw_t)? - lin(&back(gi)?, sw_t)?)?;
                (x / 4.0)?
            }
        };
        // Colour decorrelation over the channel axis: [3,3] x [B,3,H*W].
        let flat = raw.reshape((b, 3, s * s))?;
        let mixed = self.colour.broadcast_matmul(&flat)?;
        Ok(mixed.reshape((b, 3, s, s))?)
    }

    /// RGB in [0, 1].
    pub fn rgb(&self) -> Result<Tensor> {
        let t = self.logits()?;
        // sigmoid(t) = 1 / (1 + exp(−t)), from ops with gradients.
        Ok((t.neg()?.exp()? + 1.0)?.recip()?)
    }
}

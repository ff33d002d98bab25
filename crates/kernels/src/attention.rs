//! Multi-head self-attention on the packed projection `qkv` `[N, L, 3·D]` (CLIP's `in_proj` output: q, k, v side
//! by side, heads interleaved within each), with its own backward.
//!
//! Why: composed from candle ops, attention splits the heads out and merges them back with copies, runs batched
//! matmuls through candle's generic path, and keeps the `[N, H, L, L]` probabilities for the backward. Here each
//! (image, head) pair is one task of three strided GEMMs and a row softmax in a per-thread scratch buffer; nothing
//! is copied, and the backward recomputes the probabilities (as FlashAttention does) instead of storing them.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor};

use crate::par::for_each;
use crate::sgemm::{gemm_raw, with_scratch, MatRef, SharedOut};
use crate::{f32_slice, is_fast};
use candle_core::bail;

/// `softmax(q kᵀ / √d_head [+ causal mask]) v` per head, `[N, L, D]` out, for `qkv` `[N, L, 3·D]`. `None` for
/// tensors the fast path does not take (not f32 on the CPU); the caller then composes candle ops.
pub fn self_attention(qkv: &Tensor, heads: usize, causal: bool) -> Result<Option<Tensor>> {
    if !is_fast(&[qkv]) {
        return Ok(None);
    }
    let (_, _, d3) = qkv.dims3()?;
    if heads == 0 || d3 % 3 != 0 || (d3 / 3) % heads != 0 {
        bail!(
            "self_attention: width {} does not split into q, k, v of {heads} heads",
            d3
        );
    }
    Ok(Some(
        qkv.contiguous()?
            .apply_op1(SelfAttention { heads, causal })?,
    ))
}

struct SelfAttention {
    heads: usize,
    causal: bool,
}

/// Shapes of one call: batch, length, width, head width.
#[derive(Clone, Copy)]
struct Dims {
    n: usize,
    l: usize,
    d: usize,
    hd: usize,
}

impl SelfAttention {
    fn dims(&self, s: &Shape) -> Result<Dims> {
        let (n, l, d3) = s.dims3()?;
        Ok(Dims {
            n,
            l,
            d: d3 / 3,
            hd: d3 / 3 / self.heads,
        })
    }

    /// `p = softmax(q kᵀ · scale)` for head `h` of image `b`, into `p` (`L × L`, row-major).
    fn probabilities(&self, qkv: &[f32], dm: Dims, b: usize, h: usize, p: &mut [f32]) {
        let Dims { l, d, hd, .. } = dm;
        let base = b * l * 3 * d;
        let q = &qkv[base + h * hd..];
        let k = &qkv[base + d + h * hd..];
        // SAFETY: `p` is this task's own scratch of `l·l` elements.
        unsafe {
            gemm_raw(
                l,
                l,
                hd,
                p.as_mut_ptr(),
                l,
                false,
                MatRef::rows(q, 3 * d),
                MatRef::transposed(k, 3 * d),
            )
        };
        let scale = 1.0 / (hd as f32).sqrt();
        for (i, row) in p.chunks_exact_mut(l).enumerate() {
            let visible = if self.causal { i + 1 } else { l };
            let mut max = f32::NEG_INFINITY;
            for v in &mut row[..visible] {
                *v *= scale;
                max = max.max(*v);
            }
            let mut sum = 0.0f32;
            for v in &mut row[..visible] {
                *v = (*v - max).exp();
                sum += *v;
            }
            let inv = 1.0 / sum;
            row[..visible].iter_mut().for_each(|v| *v *= inv);
            row[visible..].iter_mut().for_each(|v| *v = 0.0);
        }
    }
}

impl CustomOp1 for SelfAttention {
    fn name(&self) -> &'static str {
        "clipneurons-self-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = f32_slice(s, layout, "attention input")?;
        let dm = self.dims(layout.shape())?;
        let Dims { n, l, d, hd } = dm;
        let mut out = vec![0f32; n * l * d];
        let dst = SharedOut(out.as_mut_ptr());
        for_each(n * self.heads, |task| {
            let (b, h) = (task / self.heads, task % self.heads);
            with_scratch(l * l, |p| {
                self.probabilities(qkv, dm, b, h, p);
                let v = &qkv[b * l * 3 * d + 2 * d + h * hd..];
                // SAFETY: task (b, h) writes only columns h·hd..(h+1)·hd of image b's rows.
                unsafe {
                    gemm_raw(
                        l,
                        hd,
                        l,
                        dst.get().add(b * l * d + h * hd),
                        d,
                        false,
                        MatRef::rows(p, l),
                        MatRef::rows(v, 3 * d),
                    )
                };
            });
        });
        Ok((CpuStorage::F32(out), Shape::from((n, l, d))))
    }

    fn bwd(&self, qkv: &Tensor, out: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let op = SelfAttentionGrad(SelfAttention {
            heads: self.heads,
            causal: self.causal,
        });
        Ok(Some(qkv.contiguous()?.apply_op3_no_bwd(
            &out.contiguous()?,
            &grad.contiguous()?,
            &op,
        )?))
    }
}

/// `(qkv, out, d out) → d qkv`: the backward of [`SelfAttention`], as its own op so candle hands it the storages.
struct SelfAttentionGrad(SelfAttention);

impl CustomOp3 for SelfAttentionGrad {
    fn name(&self) -> &'static str {
        "clipneurons-self-attention-grad"
    }

    fn cpu_fwd(
        &self,
        qs: &CpuStorage,
        ql: &Layout,
        os: &CpuStorage,
        ol: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(qs, ql, "attention input")?;
        let o = f32_slice(os, ol, "attention output")?;
        let dout = f32_slice(gs, gl, "attention output gradient")?;
        let att = &self.0;
        let dm = att.dims(ql.shape())?;
        let Dims { n, l, d, hd } = dm;
        let scale = 1.0 / (hd as f32).sqrt();
        let mut dqkv = vec![0f32; n * l * 3 * d];
        let dst = SharedOut(dqkv.as_mut_ptr());
        for_each(n * att.heads, |task| {
            let (b, h) = (task / att.heads, task % att.heads);
            let base = b * l * 3 * d;
            let (q, k, v) = (
                &x[base + h * hd..],
                &x[base + d + h * hd..],
                &x[base + 2 * d + h * hd..],
            );
            let (doh, oh) = (&dout[b * l * d + h * hd..], &o[b * l * d + h * hd..]);
            with_scratch(2 * l * l, |buf| {
                let (p, dp) = buf.split_at_mut(l * l);
                att.probabilities(x, dm, b, h, p);
                // SAFETY (all four products): task (b, h) writes only its head's columns of image b's rows in
                // the q, k and v thirds of `dqkv`, and its own scratch.
                unsafe {
                    // dV = Pᵀ dO
                    gemm_raw(
                        l,
                        hd,
                        l,
                        dst.get().add(base + 2 * d + h * hd),
                        3 * d,
                        false,
                        MatRef::transposed(p, l),
                        MatRef::rows(doh, d),
                    );
                    // dP = dO Vᵀ
                    gemm_raw(
                        l,
                        l,
                        hd,
                        dp.as_mut_ptr(),
                        l,
                        false,
                        MatRef::rows(doh, d),
                        MatRef::transposed(v, 3 * d),
                    );
                }
                // dS = P ⊙ (dP − rowsum(dO ⊙ O)) · scale (the scale of S folded in).
                for i in 0..l {
                    let di: f32 = (0..hd).map(|c| doh[i * d + c] * oh[i * d + c]).sum();
                    for j in 0..l {
                        let idx = i * l + j;
                        dp[idx] = p[idx] * (dp[idx] - di) * scale;
                    }
                }
                unsafe {
                    // dQ = dS K
                    gemm_raw(
                        l,
                        hd,
                        l,
                        dst.get().add(base + h * hd),
                        3 * d,
                        false,
                        MatRef::rows(dp, l),
                        MatRef::rows(k, 3 * d),
                    );
                    // dK = dSᵀ Q
                    gemm_raw(
                        l,
                        hd,
                        l,
                        dst.get().add(base + d + h * hd),
                        3 * d,
                        false,
                        MatRef::transposed(dp, l),
                        MatRef::rows(q, 3 * d),
                    );
                }
            });
        });
        Ok((CpuStorage::F32(dqkv), Shape::from((n, l, 3 * d))))
    }
}

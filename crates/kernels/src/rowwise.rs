//! Ops over the last dimension with their own backward: layer norm and softmax.
//!
//! Why: composed from candle ops, layer norm is eight autodiff nodes whose weight and bias
//! gradients are strided `sum_keepdim` reductions over all rows (element at a time), and
//! softmax's max-subtraction adds a comparison-mask backward; candle's fused versions have no
//! backward at all. Here each is one pass forward and one or two passes backward.

use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, D,
};

use crate::par::for_each_chunk_mut;
use crate::{f32_slice, is_fast};

/// Rows per parallel task: at least ~16k elements, so tiny rows do not become tiny tasks.
fn rows_per_task(d: usize) -> usize {
    (16_384 / d.max(1)).max(1)
}

/// LayerNorm over the last dimension (`d`) with weight and bias `[d]`, computed in f32 as
/// CLIP's fp16-safe subclass does: `(x − mean) / sqrt(var + eps) · w + b`, biased variance.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f32) -> Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    if w.dims() != [d] || b.dims() != [d] {
        bail!(
            "layer_norm: weight {:?} and bias {:?} should be [{d}] for input {:?}",
            w.dims(),
            b.dims(),
            x.dims()
        );
    }
    if !is_fast(&[x, w, b]) {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centered = x.broadcast_sub(&mean)?;
        let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centered.broadcast_div(&(var + eps as f64)?.sqrt()?)?;
        return normed.broadcast_mul(w)?.broadcast_add(b);
    }
    let op = LayerNorm {
        eps,
        need_dx: x.track_op(),
        need_dw: w.track_op(),
        need_db: b.track_op(),
    };
    x.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, op)
}

/// Softmax over the last dimension (max-subtracted, so large logits do not overflow).
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    if !is_fast(&[x]) {
        let max = x.max_keepdim(D::Minus1)?.detach();
        let e = x.broadcast_sub(&max)?.exp()?;
        return e.broadcast_div(&e.sum_keepdim(D::Minus1)?);
    }
    x.contiguous()?.apply_op1(Softmax)
}

/// Mean and `1/sqrt(var + eps)` of one row, accumulated in f64 (rows are short; this keeps
/// the statistics exact to f32 rounding whatever the offset of the row).
fn row_stats(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f64;
    let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean as f32, (1.0 / (var + eps as f64).sqrt()) as f32)
}

struct LayerNorm {
    eps: f32,
    need_dx: bool,
    need_dw: bool,
    need_db: bool,
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "clipneurons-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, "layer_norm input")?;
        let w = f32_slice(s2, l2, "layer_norm weight")?;
        let b = f32_slice(s3, l3, "layer_norm bias")?;
        let d = w.len();
        let mut y = vec![0.0; x.len()];
        if d > 0 {
            let per = rows_per_task(d) * d;
            for_each_chunk_mut(&mut y, per, |t, out| {
                for (r, yr) in out.chunks_exact_mut(d).enumerate() {
                    let xr = &x[t * per + r * d..][..d];
                    let (mean, rstd) = row_stats(xr, self.eps);
                    for i in 0..d {
                        yr[i] = (xr[i] - mean) * rstd * w[i] + b[i];
                    }
                }
            });
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let dx = if self.need_dx {
            Some(grad.apply_op3_no_bwd(x, w, &LayerNormGradInput { eps: self.eps })?)
        } else {
            None
        };
        let (dw, db) = if self.need_dw || self.need_db {
            // [2, d]: row 0 is dw, row 1 is db.
            let both = grad.apply_op2_no_bwd(x, &LayerNormGradParams { eps: self.eps })?;
            (
                self.need_dw.then(|| both.get(0)).transpose()?,
                self.need_db.then(|| both.get(1)).transpose()?,
            )
        } else {
            (None, None)
        };
        Ok((dx, dw, db))
    }
}

/// `(dy, x, w) → dx = rstd · (g − mean(g) − x̂ · mean(g · x̂))` with `g = dy · w`.
struct LayerNormGradInput {
    eps: f32,
}

impl CustomOp3 for LayerNormGradInput {
    fn name(&self) -> &'static str {
        "clipneurons-layer-norm-grad-input"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dy = f32_slice(s1, l1, "layer_norm output gradient")?;
        let x = f32_slice(s2, l2, "layer_norm input")?;
        let w = f32_slice(s3, l3, "layer_norm weight")?;
        let d = w.len();
        let mut dx = vec![0.0; x.len()];
        if d > 0 {
            let per = rows_per_task(d) * d;
            for_each_chunk_mut(&mut dx, per, |t, out| {
                let mut g = vec![0.0f32; d];
                for (r, dxr) in out.chunks_exact_mut(d).enumerate() {
                    let o = t * per + r * d;
                    let (xr, dyr) = (&x[o..o + d], &dy[o..o + d]);
                    let (mean, rstd) = row_stats(xr, self.eps);
                    let (mut sg, mut sgx) = (0.0f64, 0.0f64);
                    for i in 0..d {
                        g[i] = dyr[i] * w[i];
                        let xh = (xr[i] - mean) * rstd;
                        sg += g[i] as f64;
                        sgx += (g[i] * xh) as f64;
                    }
                    let (mg, mgx) = ((sg / d as f64) as f32, (sgx / d as f64) as f32);
                    for i in 0..d {
                        let xh = (xr[i] - mean) * rstd;
                        dxr[i] = rstd * (g[i] - mg - xh * mgx);
                    }
                }
            });
        }
        Ok((CpuStorage::F32(dx), l2.shape().clone()))
    }
}

/// `(dy, x) → [2, d]`: `dw = Σ_rows dy · x̂` and `db = Σ_rows dy`.
struct LayerNormGradParams {
    eps: f32,
}

impl CustomOp2 for LayerNormGradParams {
    fn name(&self) -> &'static str {
        "clipneurons-layer-norm-grad-params"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dy = f32_slice(s1, l1, "layer_norm output gradient")?;
        let x = f32_slice(s2, l2, "layer_norm input")?;
        let d = *l2.dims().last().unwrap_or(&0);
        let mut dw = vec![0.0f64; d];
        let mut db = vec![0.0f64; d];
        if d > 0 {
            for (xr, dyr) in x.chunks_exact(d).zip(dy.chunks_exact(d)) {
                let (mean, rstd) = row_stats(xr, self.eps);
                for i in 0..d {
                    dw[i] += (dyr[i] * (xr[i] - mean) * rstd) as f64;
                    db[i] += dyr[i] as f64;
                }
            }
        }
        let out = dw.into_iter().chain(db).map(|v| v as f32).collect();
        Ok((CpuStorage::F32(out), Shape::from((2, d))))
    }
}

struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "clipneurons-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "softmax input")?;
        let d = *l.dims().last().unwrap_or(&0);
        let mut y = x.to_vec();
        if d > 0 {
            for_each_chunk_mut(&mut y, rows_per_task(d) * d, |_, out| {
                for row in out.chunks_exact_mut(d) {
                    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                    let mut sum = 0.0f32;
                    for v in row.iter_mut() {
                        *v = (*v - max).exp();
                        sum += *v;
                    }
                    let inv = 1.0 / sum;
                    row.iter_mut().for_each(|v| *v *= inv);
                }
            });
        }
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            grad.contiguous()?.apply_op2_no_bwd(res, &SoftmaxGrad)?,
        ))
    }
}

/// `(dy, y) → dx = y · (dy − Σ dy·y)` per row.
struct SoftmaxGrad;

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "clipneurons-softmax-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dy = f32_slice(s1, l1, "softmax output gradient")?;
        let y = f32_slice(s2, l2, "softmax output")?;
        let d = *l2.dims().last().unwrap_or(&0);
        let mut dx = vec![0.0; y.len()];
        if d > 0 {
            let per = rows_per_task(d) * d;
            for_each_chunk_mut(&mut dx, per, |t, out| {
                for (r, dxr) in out.chunks_exact_mut(d).enumerate() {
                    let o = t * per + r * d;
                    let (yr, gr) = (&y[o..o + d], &dy[o..o + d]);
                    let dot: f32 = yr.iter().zip(gr).map(|(a, b)| a * b).sum();
                    for i in 0..d {
                        dxr[i] = yr[i] * (gr[i] - dot);
                    }
                }
            });
        }
        Ok((CpuStorage::F32(dx), l2.shape().clone()))
    }
}

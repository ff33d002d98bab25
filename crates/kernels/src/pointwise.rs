//! Element-wise ops with one-pass backwards: ReLU, QuickGELU and a per-channel bias (optionally
//! fused with the ReLU that follows every convolution of the ResNet).
//!
//! Why: candle's ReLU backward builds a zero tensor, a comparison mask, converts it and
//! multiplies (four passes); its QuickGELU is three nodes; and `broadcast_add`'s backward reduces
//! a bias gradient with a strided element-at-a-time `sum_keepdim`. In the built-in model's
//! training step these took a third of the backward pass.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use std::cell::Cell;

use crate::par::{for_each_chunk_mut, ELEMWISE_CHUNK};
use crate::{f32_slice, is_fast};
use candle_core::bail;

thread_local! {
    static REDIRECT_RELU: Cell<bool> = const { Cell::new(false) };
}

/// Run `f` with Lucid's *redirected* ReLU gradient for every ReLU it builds on this thread (the choice is made
/// when the forward op is built, so the backward of a graph built inside `f` keeps it). Per example, where the
/// ordinary ReLU gradient is zero everywhere, the gradient passes through the ReLU unless it would push an
/// inactive unit lower (`y = 0` and `dy > 0`, for a loss being minimised). Feature visualisation uses it for the
/// first steps so that units that start dead still receive a gradient (Lucid's `redirected_relu_grad`).
/// Only the fast f32 CPU kernels honour it; other devices and dtypes keep the ordinary gradient.
pub fn with_redirected_relu<T>(f: impl FnOnce() -> T) -> T {
    let before = REDIRECT_RELU.with(|r| r.replace(true));
    let out = f();
    REDIRECT_RELU.with(|r| r.set(before));
    out
}

fn redirecting() -> bool {
    REDIRECT_RELU.with(|r| r.get())
}

/// `max(x, 0)`. Gradient `dy · [y > 0]` (zero at exactly 0, as PyTorch), or redirected (see
/// [`with_redirected_relu`]).
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if !is_fast(&[x]) {
        return x.relu();
    }
    x.contiguous()?.apply_op1(Relu {
        redirect: redirecting(),
    })
}

/// OpenAI's activation in both towers' MLPs: `x · σ(1.702 x)`.
pub fn quick_gelu(x: &Tensor) -> Result<Tensor> {
    if !is_fast(&[x]) {
        let s = ((x * -1.702)?.exp()? + 1.0)?.recip()?;
        return x * s;
    }
    x.contiguous()?.apply_op1(QuickGelu)
}

/// `x + b` with `x` `[B, C, ...]` and a per-channel bias `b` `[C]` (a convolution's bias).
pub fn add_channel_bias(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    channel_bias(x, b, false)
}

/// `relu(x + b)`, [`add_channel_bias`] and [`relu`] in one pass each way.
pub fn add_channel_bias_relu(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    channel_bias(x, b, true)
}

fn channel_bias(x: &Tensor, b: &Tensor, relu: bool) -> Result<Tensor> {
    let dims = x.dims();
    if dims.len() < 2 || b.dims() != [dims[1]] {
        bail!(
            "add_channel_bias: bias {:?} should be [C] for input {dims:?} ([B, C, ...])",
            b.dims()
        );
    }
    if !is_fast(&[x, b]) {
        let mut bshape = vec![1; dims.len()];
        bshape[1] = dims[1];
        let y = x.broadcast_add(&b.reshape(bshape)?)?;
        return if relu { y.relu() } else { Ok(y) };
    }
    let op = ChannelBias {
        relu,
        redirect: relu && redirecting(),
        need_dx: x.track_op(),
        need_db: b.track_op(),
    };
    x.contiguous()?.apply_op2(&b.contiguous()?, op)
}

/// A copy of `x` transformed in place, in parallel.
fn map(x: &[f32], f: impl Fn(&mut f32) + Sync + Send) -> Vec<f32> {
    let mut out = x.to_vec();
    for_each_chunk_mut(&mut out, ELEMWISE_CHUNK, |_, piece| {
        piece.iter_mut().for_each(&f)
    });
    out
}

/// `f(a_i, b_i)` for two equally long slices, in parallel.
fn zip_map(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync + Send) -> Vec<f32> {
    let mut out = vec![0.0; a.len()];
    for_each_chunk_mut(&mut out, ELEMWISE_CHUNK, |i, piece| {
        let o = i * ELEMWISE_CHUNK;
        for ((d, &x), &y) in piece.iter_mut().zip(&a[o..]).zip(&b[o..]) {
            *d = f(x, y);
        }
    });
    out
}

fn same_len(l1: &Layout, l2: &Layout, what: &str) -> Result<()> {
    if l1.shape().elem_count() != l2.shape().elem_count() {
        bail!("{what}: shapes {:?} and {:?} differ", l1.dims(), l2.dims());
    }
    Ok(())
}

struct Relu {
    redirect: bool,
}

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "clipneurons-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "relu input")?;
        let y = map(x, |v| *v = v.max(0.0));
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let op = ReluGrad {
            redirect: self.redirect,
        };
        Ok(Some(grad.contiguous()?.apply_op2_no_bwd(res, &op)?))
    }
}

/// `(dy, y) → dy · [y > 0]`, the gradient of ReLU from its output; with `redirect`, Lucid's redirected gradient
/// for the examples (first dimension) where that is zero everywhere.
struct ReluGrad {
    redirect: bool,
}

impl CustomOp2 for ReluGrad {
    fn name(&self) -> &'static str {
        "clipneurons-relu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        same_len(l1, l2, "relu gradient")?;
        let dy = f32_slice(s1, l1, "relu output gradient")?;
        let y = f32_slice(s2, l2, "relu output")?;
        let mut dx = zip_map(dy, y, |g, y| if y > 0.0 { g } else { 0.0 });
        let per_example = dx.len() / l1.dims().first().copied().unwrap_or(1).max(1);
        if self.redirect && per_example > 0 {
            for (i, ex) in dx.chunks_exact_mut(per_example).enumerate() {
                if ex.iter().all(|&v| v == 0.0) {
                    let o = i * per_example;
                    for ((d, &g), &y) in ex.iter_mut().zip(&dy[o..]).zip(&y[o..]) {
                        // Blocked only where the step would push an inactive unit further down.
                        *d = if y <= 0.0 && g > 0.0 { 0.0 } else { g };
                    }
                }
            }
        }
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

const GELU_K: f32 = 1.702;

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

struct QuickGelu;

impl CustomOp1 for QuickGelu {
    fn name(&self) -> &'static str {
        "clipneurons-quick-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "quick_gelu input")?;
        let y = map(x, |v| *v *= sigmoid(GELU_K * *v));
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            grad.contiguous()?.apply_op2_no_bwd(x, &QuickGeluGrad)?,
        ))
    }
}

/// `(dy, x) → dy · (s + k·x·s·(1 − s))` with `s = σ(k·x)`.
struct QuickGeluGrad;

impl CustomOp2 for QuickGeluGrad {
    fn name(&self) -> &'static str {
        "clipneurons-quick-gelu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        same_len(l1, l2, "quick_gelu gradient")?;
        let dy = f32_slice(s1, l1, "quick_gelu output gradient")?;
        let x = f32_slice(s2, l2, "quick_gelu input")?;
        let dx = zip_map(dy, x, |g, x| {
            let s = sigmoid(GELU_K * x);
            g * (s + GELU_K * x * s * (1.0 - s))
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

struct ChannelBias {
    relu: bool,
    redirect: bool,
    need_dx: bool,
    need_db: bool,
}

/// `(B, C, inner)` of a `[B, C, ...]` shape.
fn channel_split(s: &Shape) -> (usize, usize, usize) {
    let d = s.dims();
    (d[0], d[1], d[2..].iter().product())
}

impl CustomOp2 for ChannelBias {
    fn name(&self) -> &'static str {
        "clipneurons-add-channel-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, "add_channel_bias input")?;
        let b = f32_slice(s2, l2, "add_channel_bias bias")?;
        let (_, c, inner) = channel_split(l1.shape());
        let mut out = x.to_vec();
        if inner > 0 {
            // One task per (image, channel) plane, so each knows its bias.
            for_each_chunk_mut(&mut out, inner, |i, plane| {
                let v = b[i % c];
                if self.relu {
                    plane.iter_mut().for_each(|o| *o = (*o + v).max(0.0));
                } else {
                    plane.iter_mut().for_each(|o| *o += v);
                }
            });
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let dpre = if self.relu {
            grad.apply_op2_no_bwd(
                res,
                &ReluGrad {
                    redirect: self.redirect,
                },
            )?
        } else {
            grad
        };
        let db = if self.need_db {
            Some(dpre.apply_op1_no_bwd(&ChannelSum)?)
        } else {
            None
        };
        Ok((self.need_dx.then_some(dpre), db))
    }
}

/// Sum with eight independent accumulators, so the compiler can keep them in one SIMD register
/// (a plain `iter().sum()` must add in order and stays scalar).
pub(crate) fn lane_sum(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = v.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for ch in chunks {
        for (a, x) in acc.iter_mut().zip(ch) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `[B, C, ...] → [C]`: the sum over every dimension but the channel one.
struct ChannelSum;

impl CustomOp1 for ChannelSum {
    fn name(&self) -> &'static str {
        "clipneurons-channel-sum"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let dy = f32_slice(s, l, "channel sum input")?;
        let (_, c, inner) = channel_split(l.shape());
        let mut sums = vec![0.0f64; c];
        if inner > 0 {
            for (i, plane) in dy.chunks_exact(inner).enumerate() {
                // f32 sums within a plane (short), f64 across the batch.
                sums[i % c] += lane_sum(plane) as f64;
            }
        }
        let out = sums.into_iter().map(|v| v as f32).collect();
        Ok((CpuStorage::F32(out), Shape::from(c)))
    }
}

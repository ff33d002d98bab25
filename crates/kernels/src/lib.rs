//! Fast CPU kernels for the operations CLIP spends its time in, as candle custom ops with their
//! own backward.
//!
//! Why: candle 0.11.1's CPU convolution forward is ~5× slower than oneDNN for 3×3 kernels, its
//! input gradient (`conv_transpose2d`) is a per-pixel loop, and its autodiff computes weight
//! gradients even when only the input gradient is wanted (feature visualisation). The ops here
//! run f32 GEMMs through the `gemm` crate, and decide at construction which gradients they will
//! produce: a weight gradient only when the weight tensor tracks gradients (`track_op()`, i.e. it
//! is a `Var` or derived from one), an input gradient only when the input does.
//!
//! Anything other than f32 on the CPU falls back to candle's own (differentiable) ops.
//!
//! Threads: work is cut into tasks run on candle's own CPU worker pool (sized by
//! `RAYON_NUM_THREADS` / `CANDLE_NUM_THREADS`), each task a single-threaded GEMM. Applications
//! should also call [`tune_allocator`] once at start-up: on the target VMs fresh-page faults
//! cost more than the arithmetic of many ops.

mod attention;
mod conv;
mod dots;
mod linear;
mod par;
mod pointwise;
mod rowwise;
mod sgemm;

pub use attention::self_attention;
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Device, Layout, Result, Shape, Tensor,
};
use conv::ConvGeom;
pub use pointwise::{
    add_channel_bias, add_channel_bias_relu, quick_gelu, relu, with_redirected_relu,
};
pub use rowwise::{layer_norm, softmax_last};

#[doc(hidden)]
pub use par::use_rayon_pool;

/// The contiguous f32 data a `(storage, layout)` pair describes.
fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => bail!("clipneurons-kernels: {what} must be contiguous"),
    }
}

fn dims4(s: &Shape, what: &str) -> Result<(usize, usize, usize, usize)> {
    match s.dims() {
        &[a, b, c, d] => Ok((a, b, c, d)),
        d => bail!("clipneurons-kernels: {what} must be 4-D, got {d:?}"),
    }
}

fn geom(x: &Shape, w: &Shape, stride: usize, pad: usize) -> Result<ConvGeom> {
    ConvGeom::new(
        dims4(x, "conv2d input")?,
        dims4(w, "conv2d weight")?,
        stride,
        pad,
    )
    .map_err(|e| candle_core::Error::Msg(e).bt())
}

fn is_fast(ts: &[&Tensor]) -> bool {
    ts.iter()
        .all(|t| t.dtype() == DType::F32 && matches!(t.device(), Device::Cpu))
}

/// 2-D convolution: NCHW input `x`, OIHW weight `w`, no bias, groups 1, square `stride` and
/// `padding`, dilation 1 (PyTorch semantics, floor for the output size).
///
/// f32 CPU tensors take the fast path; any other dtype/device falls back to candle's `conv2d`
/// (still differentiable). Gradients: w.r.t. `x` when `x` tracks gradients, w.r.t. `w` only when
/// `w` does, so a plain-tensor weight never costs a weight-gradient computation.
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    if !is_fast(&[x, w]) {
        return x.conv2d(w, padding, stride, 1, 1);
    }
    // Validate before anything runs, with a readable error.
    geom(x.shape(), w.shape(), stride, padding)?;
    let x = x.contiguous()?;
    let w = w.contiguous()?;
    let op = Conv2dOp {
        stride,
        pad: padding,
        need_dx: x.track_op(),
        need_dw: w.track_op(),
    };
    x.apply_op2(&w, op)
}

/// Fully connected layer: `x` `[..., in]`, `w` `[out, in]` (PyTorch `Linear` layout), optional
/// bias `b` `[out]`; returns `[..., out]`.
///
/// Leading dimensions are flattened into one GEMM, so (unlike `broadcast_matmul`) no per-sample
/// weight gradient is ever materialised. Gradients w.r.t. `w`/`b` only when they track gradients.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let (dout, din) = w.dims2()?;
    let xd = x.dims();
    if xd.is_empty() || xd[xd.len() - 1] != din {
        bail!("linear: input {xd:?} does not end in {din} (weight [{dout}, {din}])");
    }
    if let Some(b) = b {
        if b.dims() != [dout] {
            bail!("linear: bias {:?} should be [{dout}]", b.dims());
        }
    }
    let mut out_dims = xd.to_vec();
    *out_dims.last_mut().expect("non-empty") = dout;
    let rows = x.elem_count() / din.max(1);
    let x2 = x.reshape((rows, din))?;
    let all: Vec<&Tensor> = [Some(x), Some(w), b].into_iter().flatten().collect();
    if !is_fast(&all) {
        let y = x2.matmul(&w.t()?)?;
        let y = match b {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        return y.reshape(out_dims);
    }
    let x2 = x2.contiguous()?;
    let w = w.contiguous()?;
    let op = LinearOp {
        need_dx: x2.track_op(),
        need_dw: w.track_op(),
        need_db: b.is_some_and(|b| b.track_op()),
    };
    let y = match b {
        Some(b) => x2.apply_op3(&w, &b.contiguous()?, op)?,
        None => x2.apply_op2(&w, op)?,
    };
    y.reshape(out_dims)
}

/// Forward convolution op; the flags record which gradients `bwd` will produce.
struct Conv2dOp {
    stride: usize,
    pad: usize,
    need_dx: bool,
    need_dw: bool,
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "clipneurons-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = geom(l1.shape(), l2.shape(), self.stride, self.pad)?;
        let x = f32_slice(s1, l1, "conv2d input")?;
        let w = f32_slice(s2, l2, "conv2d weight")?;
        let out = conv::conv2d_fwd(&g, x, w);
        Ok((CpuStorage::F32(out), Shape::from(g.out_shape())))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (_, _, h, wd) = x.dims4()?;
        let (_, _, kh, kw) = w.dims4()?;
        let dx = if self.need_dx {
            let op = Conv2dBwdInput {
                stride: self.stride,
                pad: self.pad,
                in_hw: (h, wd),
            };
            Some(grad.apply_op2_no_bwd(w, &op)?)
        } else {
            None
        };
        let dw = if self.need_dw {
            let op = Conv2dBwdWeight {
                stride: self.stride,
                pad: self.pad,
                k_hw: (kh, kw),
            };
            Some(x.apply_op2_no_bwd(&grad, &op)?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}

/// `(dy, w) → dx`. The input size is stored because strided convs lose it.
struct Conv2dBwdInput {
    stride: usize,
    pad: usize,
    in_hw: (usize, usize),
}

impl CustomOp2 for Conv2dBwdInput {
    fn name(&self) -> &'static str {
        "clipneurons-conv2d-bwd-input"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (b, oc, oh, ow) = dims4(l1.shape(), "conv2d output gradient")?;
        let (_, ic, _, _) = dims4(l2.shape(), "conv2d weight")?;
        let g = geom(
            &Shape::from((b, ic, self.in_hw.0, self.in_hw.1)),
            l2.shape(),
            self.stride,
            self.pad,
        )?;
        if (g.oc, g.oh, g.ow) != (oc, oh, ow) {
            bail!(
                "conv2d backward: gradient {:?} does not match {g:?}",
                l1.dims()
            );
        }
        let dy = f32_slice(s1, l1, "conv2d output gradient")?;
        let w = f32_slice(s2, l2, "conv2d weight")?;
        let dx = conv::conv2d_bwd_input(&g, dy, w);
        Ok((CpuStorage::F32(dx), Shape::from((b, ic, g.h, g.w))))
    }
}

/// `(x, dy) → dw`. The kernel size is stored because it cannot be recovered from the shapes.
struct Conv2dBwdWeight {
    stride: usize,
    pad: usize,
    k_hw: (usize, usize),
}

impl CustomOp2 for Conv2dBwdWeight {
    fn name(&self) -> &'static str {
        "clipneurons-conv2d-bwd-weight"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, ic, _, _) = dims4(l1.shape(), "conv2d input")?;
        let (b, oc, oh, ow) = dims4(l2.shape(), "conv2d output gradient")?;
        let wshape = Shape::from((oc, ic, self.k_hw.0, self.k_hw.1));
        let g = geom(l1.shape(), &wshape, self.stride, self.pad)?;
        if (g.b, g.oh, g.ow) != (b, oh, ow) {
            bail!(
                "conv2d backward: gradient {:?} does not match {g:?}",
                l2.dims()
            );
        }
        let x = f32_slice(s1, l1, "conv2d input")?;
        let dy = f32_slice(s2, l2, "conv2d output gradient")?;
        let dw = conv::conv2d_bwd_weight(&g, x, dy);
        Ok((CpuStorage::F32(dw), wshape))
    }
}

/// Forward linear op on a 2-D input; the flags record which gradients `bwd` will produce.
struct LinearOp {
    need_dx: bool,
    need_dw: bool,
    need_db: bool,
}

impl LinearOp {
    fn fwd(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, din) = x.1.shape().dims2()?;
        let (dout, _) = w.1.shape().dims2()?;
        let xs = f32_slice(x.0, x.1, "linear input")?;
        let ws = f32_slice(w.0, w.1, "linear weight")?;
        let bs = match b {
            Some((s, l)) => Some(f32_slice(s, l, "linear bias")?),
            None => None,
        };
        let y = linear::linear_fwd(rows, din, dout, xs, ws, bs);
        Ok((CpuStorage::F32(y), Shape::from((rows, dout))))
    }

    fn grads(
        &self,
        x: &Tensor,
        w: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let dx = if self.need_dx {
            Some(grad.apply_op2_no_bwd(w, &LinearBwdInput)?)
        } else {
            None
        };
        let dw = if self.need_dw {
            Some(x.apply_op2_no_bwd(&grad, &LinearBwdWeight)?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}

impl CustomOp2 for LinearOp {
    fn name(&self) -> &'static str {
        "clipneurons-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.fwd((s1, l1), (s2, l2), None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        self.grads(x, w, grad)
    }
}

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "clipneurons-linear-bias"
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
        self.fwd((s1, l1), (s2, l2), Some((s3, l3)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw) = self.grads(x, w, grad)?;
        let db = if self.need_db {
            Some(grad.contiguous()?.apply_op1_no_bwd(&LinearBwdBias)?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}

/// `(dy, w) → dx = dy · W`.
struct LinearBwdInput;

impl CustomOp2 for LinearBwdInput {
    fn name(&self) -> &'static str {
        "clipneurons-linear-bwd-input"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, dout) = l1.shape().dims2()?;
        let (_, din) = l2.shape().dims2()?;
        let dy = f32_slice(s1, l1, "linear output gradient")?;
        let w = f32_slice(s2, l2, "linear weight")?;
        let dx = linear::linear_bwd_input(rows, din, dout, dy, w);
        Ok((CpuStorage::F32(dx), Shape::from((rows, din))))
    }
}

/// `(x, dy) → dW = dyᵀ · x`.
struct LinearBwdWeight;

impl CustomOp2 for LinearBwdWeight {
    fn name(&self) -> &'static str {
        "clipneurons-linear-bwd-weight"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, din) = l1.shape().dims2()?;
        let (_, dout) = l2.shape().dims2()?;
        let x = f32_slice(s1, l1, "linear input")?;
        let dy = f32_slice(s2, l2, "linear output gradient")?;
        let dw = linear::linear_bwd_weight(rows, din, dout, x, dy);
        Ok((CpuStorage::F32(dw), Shape::from((dout, din))))
    }
}

/// `dy → db = Σ_rows dy`.
struct LinearBwdBias;

impl CustomOp1 for LinearBwdBias {
    fn name(&self) -> &'static str {
        "clipneurons-linear-bwd-bias"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (rows, dout) = l.shape().dims2()?;
        let dy = f32_slice(s, l, "linear output gradient")?;
        Ok((
            CpuStorage::F32(linear::linear_bwd_bias(rows, dout, dy)),
            Shape::from(dout),
        ))
    }
}

/// Makes glibc's allocator keep freed memory for reuse instead of returning every large block
/// to the OS. Returns whether all settings were accepted (always `false` off glibc).
///
/// Why: candle allocates a fresh buffer for every op output, and with glibc's defaults each
/// large one is a new `mmap` whose pages the kernel faults in and zeroes on first write. On the
/// 2-vCPU VMs this toolkit targets that dominated some backward passes: allocating and filling
/// 51 MB took 53–78 ms by default and 7–9 ms after this call. The cost is that the process keeps
/// its peak heap size instead of shrinking. Call once, early in `main`, before heavy work; it
/// affects the whole process, so libraries should leave the decision to the application.
pub fn tune_allocator() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only adjusts allocator parameters; glibc serialises it internally
        // and documents it as callable at any time. The values are in range for 64-bit glibc
        // (the mmap threshold may be raised to any size since 2.26; checked on 2.36).
        unsafe {
            let a = libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
            let b = libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
            let c = libc::mallopt(libc::M_TOP_PAD, 256 << 20);
            a == 1 && b == 1 && c == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

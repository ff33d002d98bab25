//! conv2d against independent naive references (forward, input gradient, weight gradient), against
//! candle's own conv2d, and by finite differences; plus the gradient-tracking contract.
//!
//! Tolerances: f32 results vs f64-accumulated references, `max err ≤ 1e-4·max|ref| + 1e-5`.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use clipneurons_kernels::conv2d;
use common::{assert_close, rand_tensor, rand_vec, to_vec};

const RTOL: f32 = 1e-4;
const ATOL: f32 = 1e-5;

#[derive(Clone, Copy, Debug)]
struct Case {
    b: usize,
    ic: usize,
    h: usize,
    w: usize,
    oc: usize,
    k: usize,
    s: usize,
    p: usize,
}

impl Case {
    fn out(&self) -> (usize, usize) {
        (
            (self.h + 2 * self.p - self.k) / self.s + 1,
            (self.w + 2 * self.p - self.k) / self.s + 1,
        )
    }
}

/// Calls `f(b, o, c, oy, ox, iy, ix, ky, kx)` for every in-bounds (output, input, tap) triple.
fn for_each_tap(c: &Case, mut f: impl FnMut([usize; 9])) {
    let (oh, ow) = c.out();
    for b in 0..c.b {
        for o in 0..c.oc {
            for ch in 0..c.ic {
                for oy in 0..oh {
                    for ox in 0..ow {
                        for ky in 0..c.k {
                            for kx in 0..c.k {
                                let iy = (oy * c.s + ky) as isize - c.p as isize;
                                let ix = (ox * c.s + kx) as isize - c.p as isize;
                                if iy < 0 || ix < 0 || iy >= c.h as isize || ix >= c.w as isize {
                                    continue;
                                }
                                f([b, o, ch, oy, ox, iy as usize, ix as usize, ky, kx]);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Naive forward, f64 accumulation.
fn ref_fwd(c: &Case, x: &[f32], w: &[f32]) -> Vec<f32> {
    let (oh, ow) = c.out();
    let mut y = vec![0f64; c.b * c.oc * oh * ow];
    for_each_tap(c, |[b, o, ch, oy, ox, iy, ix, ky, kx]| {
        y[((b * c.oc + o) * oh + oy) * ow + ox] += x[((b * c.ic + ch) * c.h + iy) * c.w + ix]
            as f64
            * w[((o * c.ic + ch) * c.k + ky) * c.k + kx] as f64;
    });
    y.into_iter().map(|v| v as f32).collect()
}

/// Naive input and weight gradients for upstream gradient `dy`.
fn ref_bwd(c: &Case, x: &[f32], w: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (oh, ow) = c.out();
    let mut dx = vec![0f64; x.len()];
    let mut dw = vec![0f64; w.len()];
    for_each_tap(c, |[b, o, ch, oy, ox, iy, ix, ky, kx]| {
        let g = dy[((b * c.oc + o) * oh + oy) * ow + ox] as f64;
        let xi = ((b * c.ic + ch) * c.h + iy) * c.w + ix;
        let wi = ((o * c.ic + ch) * c.k + ky) * c.k + kx;
        dx[xi] += g * w[wi] as f64;
        dw[wi] += g * x[xi] as f64;
    });
    let f = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect();
    (f(dx), f(dw))
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let mk = |b, ic, h, w, oc, k, s, p| Case {
        b,
        ic,
        h,
        w,
        oc,
        k,
        s,
        p,
    };
    // Odd, non-square sizes; kernel 1/3/7; stride 1/2; padding 0/1 (and 3 for 7×7); batch 1/3;
    // channels 1/3/5/17.
    for &(k, p) in &[(1, 0), (3, 0), (3, 1), (7, 3), (7, 0)] {
        for &s in &[1, 2] {
            for &(b, ic, oc) in &[(1, 1, 1), (3, 3, 5), (1, 17, 5), (3, 5, 17)] {
                v.push(mk(b, ic, 7, 9, oc, k, s, p));
            }
        }
    }
    // 1×1 with padding (not pointwise), stride 2 with an even input, and a tiny input with many
    // output channels (exercises the output-channel split used at batch 1).
    v.push(mk(2, 3, 6, 8, 4, 1, 1, 1));
    v.push(mk(1, 3, 10, 10, 8, 3, 2, 1));
    v.push(mk(1, 5, 4, 3, 70, 3, 1, 1));
    v.push(mk(1, 8, 2, 2, 33, 1, 1, 0));
    // Fewer output pixels than output channels at stride 1: the input gradient takes the col2im
    // path instead of the flipped-kernel convolution (with and without padding).
    v.push(mk(1, 6, 3, 3, 16, 3, 1, 0));
    v.push(mk(2, 7, 3, 4, 40, 3, 1, 1));
    v.push(mk(2, 4, 12, 11, 6, 1, 2, 0));
    // Wide rows with several tiles per image, and a 7×7 kernel on a wide row.
    v.push(mk(2, 5, 6, 23, 7, 3, 1, 1));
    v.push(mk(1, 3, 9, 21, 17, 3, 1, 0));
    v.push(mk(1, 4, 5, 26, 5, 7, 1, 3));
    v.push(mk(3, 17, 4, 22, 5, 3, 1, 2));
    v.push(mk(1, 1, 3, 40, 1, 3, 1, 1));
    // Larger batches of small images: several images per GEMM (uneven last group).
    v.push(mk(9, 3, 5, 6, 7, 3, 1, 1));
    v.push(mk(8, 5, 4, 4, 6, 1, 1, 0));
    v.push(mk(10, 2, 6, 5, 3, 3, 2, 1));
    // Weight gradients above the dot-product size (OC·IC·KH·KW > 1,152) with enough images for
    // per-thread accumulators of dWᵀ: 3×3 stride 1 and 2, and pointwise.
    v.push(mk(4, 16, 10, 9, 24, 3, 1, 1));
    v.push(mk(5, 13, 9, 11, 20, 3, 2, 1));
    v.push(mk(4, 40, 6, 5, 40, 1, 1, 0));
    // Patchify (kernel = stride, as in ViT's conv1), and stride 3 with padding.
    v.push(mk(2, 3, 8, 12, 5, 4, 4, 0));
    v.push(mk(1, 2, 10, 11, 3, 3, 3, 1));
    v
}

fn check_case(c: Case, seed: u64) {
    let (oh, ow) = c.out();
    let xv = rand_vec(c.b * c.ic * c.h * c.w, seed);
    let wv = rand_vec(c.oc * c.ic * c.k * c.k, seed + 1);
    let dyv = rand_vec(c.b * c.oc * oh * ow, seed + 2);
    let dev = &Device::Cpu;
    let x = Var::from_vec(xv.clone(), (c.b, c.ic, c.h, c.w), dev).unwrap();
    let w = Var::from_vec(wv.clone(), (c.oc, c.ic, c.k, c.k), dev).unwrap();
    let dy = Tensor::from_vec(dyv.clone(), (c.b, c.oc, oh, ow), dev).unwrap();

    let y = conv2d(x.as_tensor(), w.as_tensor(), c.s, c.p).unwrap();
    assert_eq!(y.dims(), &[c.b, c.oc, oh, ow], "{c:?}");
    let want = ref_fwd(&c, &xv, &wv);
    assert_close(&to_vec(&y), &want, RTOL, ATOL, &format!("fwd {c:?}"));

    // candle's own conv2d agrees on the forward pass.
    let yc = x
        .as_tensor()
        .detach()
        .conv2d(&w.as_tensor().detach(), c.p, c.s, 1, 1)
        .unwrap();
    assert_close(
        &to_vec(&y),
        &to_vec(&yc),
        RTOL,
        ATOL,
        &format!("fwd vs candle {c:?}"),
    );

    // loss = Σ y·dy has dL/dy = dy.
    let grads = (y * &dy).unwrap().sum_all().unwrap().backward().unwrap();
    let (dx_ref, dw_ref) = ref_bwd(&c, &xv, &wv, &dyv);
    let dx = grads.get(x.as_tensor()).expect("x has a gradient");
    let dw = grads.get(w.as_tensor()).expect("Var weight has a gradient");
    assert_eq!(dx.dims(), x.dims());
    assert_eq!(dw.dims(), w.dims());
    assert_close(&to_vec(dx), &dx_ref, RTOL, ATOL, &format!("dx {c:?}"));
    assert_close(&to_vec(dw), &dw_ref, RTOL, ATOL, &format!("dw {c:?}"));
}

#[test]
fn matches_naive_reference_forward_and_gradients() {
    for (i, c) in cases().into_iter().enumerate() {
        check_case(c, 100 + 10 * i as u64);
    }
}

#[test]
fn clip_like_shapes_match_reference() {
    // Stem (3×3 stride 2 on 3 channels) and a 3×3 / 1×1 block at batch 1 and 2, with enough
    // rows for several tiles.
    check_case(
        Case {
            b: 1,
            ic: 3,
            h: 33,
            w: 33,
            oc: 8,
            k: 3,
            s: 2,
            p: 1,
        },
        7,
    );
    check_case(
        Case {
            b: 2,
            ic: 16,
            h: 14,
            w: 14,
            oc: 16,
            k: 3,
            s: 1,
            p: 1,
        },
        8,
    );
    check_case(
        Case {
            b: 1,
            ic: 32,
            h: 7,
            w: 7,
            oc: 64,
            k: 1,
            s: 1,
            p: 0,
        },
        9,
    );
}

#[test]
fn gradients_match_candle_on_square_inputs() {
    // candle's conv backward is only shape-correct when H and W share a remainder; square
    // inputs are safe, so compare against it there too.
    for &(k, s, p) in &[(3, 1, 1), (3, 2, 1), (1, 1, 0)] {
        let x = Var::from_tensor(&rand_tensor(&[2, 5, 9, 9], 1)).unwrap();
        let w = Var::from_tensor(&rand_tensor(&[4, 5, k, k], 2)).unwrap();
        let ours = conv2d(x.as_tensor(), w.as_tensor(), s, p).unwrap();
        let r = rand_tensor(ours.dims(), 3);
        let g1 = (ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let theirs = x.as_tensor().conv2d(w.as_tensor(), p, s, 1, 1).unwrap();
        let g2 = (theirs * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for t in [x.as_tensor(), w.as_tensor()] {
            assert_close(
                &to_vec(g1.get(t).unwrap()),
                &to_vec(g2.get(t).unwrap()),
                RTOL,
                ATOL,
                &format!("grad vs candle k{k} s{s} p{p}"),
            );
        }
    }
}

#[test]
fn finite_differences_of_full_op() {
    // loss(x, w) = Σ conv2d(x, w) · r. Central differences are exact for this bilinear loss up
    // to f32 rounding, so a 1e-2 step and a 2e-3 relative tolerance are tight.
    let c = Case {
        b: 2,
        ic: 3,
        h: 6,
        w: 5,
        oc: 4,
        k: 3,
        s: 2,
        p: 1,
    };
    let dev = &Device::Cpu;
    let xv = rand_vec(c.b * c.ic * c.h * c.w, 41);
    let wv = rand_vec(c.oc * c.ic * c.k * c.k, 42);
    let (oh, ow) = c.out();
    let r = rand_tensor(&[c.b, c.oc, oh, ow], 43);
    let loss = |xv: &[f32], wv: &[f32]| -> f64 {
        let x = Tensor::from_vec(xv.to_vec(), (c.b, c.ic, c.h, c.w), dev).unwrap();
        let w = Tensor::from_vec(wv.to_vec(), (c.oc, c.ic, c.k, c.k), dev).unwrap();
        let y = conv2d(&x, &w, c.s, c.p).unwrap();
        (y * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64
    };
    let x = Var::from_vec(xv.clone(), (c.b, c.ic, c.h, c.w), dev).unwrap();
    let w = Var::from_vec(wv.clone(), (c.oc, c.ic, c.k, c.k), dev).unwrap();
    let y = conv2d(x.as_tensor(), w.as_tensor(), c.s, c.p).unwrap();
    let g = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let gx = to_vec(g.get(x.as_tensor()).unwrap());
    let gw = to_vec(g.get(w.as_tensor()).unwrap());
    let eps = 1e-2f32;
    for i in (0..xv.len()).step_by(7) {
        let (mut p, mut m) = (xv.clone(), xv.clone());
        p[i] += eps;
        m[i] -= eps;
        let fd = (loss(&p, &wv) - loss(&m, &wv)) / (2.0 * eps as f64);
        assert!(
            (fd - gx[i] as f64).abs() <= 2e-3 * (1.0 + fd.abs()),
            "dx[{i}]: fd {fd} vs {}",
            gx[i]
        );
    }
    for i in (0..wv.len()).step_by(5) {
        let (mut p, mut m) = (wv.clone(), wv.clone());
        p[i] += eps;
        m[i] -= eps;
        let fd = (loss(&xv, &p) - loss(&xv, &m)) / (2.0 * eps as f64);
        assert!(
            (fd - gw[i] as f64).abs() <= 2e-3 * (1.0 + fd.abs()),
            "dw[{i}]: fd {fd} vs {}",
            gw[i]
        );
    }
}

#[test]
fn plain_weight_gets_no_gradient_var_input_does() {
    let x = Var::from_tensor(&rand_tensor(&[1, 3, 8, 8], 5)).unwrap();
    let w = rand_tensor(&[4, 3, 3, 3], 6); // plain tensor: no tracking
                                           // Two layers, so the first layer's input gradient flows through the second.
    let w2 = rand_tensor(&[2, 4, 1, 1], 7);
    let h = conv2d(x.as_tensor(), &w, 1, 1).unwrap().relu().unwrap();
    let y = conv2d(&h, &w2, 1, 0).unwrap();
    let grads = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
    let gx = grads
        .get(x.as_tensor())
        .expect("Var input receives a gradient");
    let gmax = to_vec(gx).iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(gmax > 1e-3, "input gradient is non-zero (max |g| = {gmax})");
    assert!(
        grads.get(&w).is_none(),
        "plain weight must have no gradient entry"
    );
    assert!(
        grads.get(&w2).is_none(),
        "plain weight must have no gradient entry"
    );
}

#[test]
fn var_weight_gets_correct_gradient_with_plain_input() {
    let c = Case {
        b: 2,
        ic: 3,
        h: 7,
        w: 5,
        oc: 4,
        k: 3,
        s: 1,
        p: 1,
    };
    let (oh, ow) = c.out();
    let xv = rand_vec(c.b * c.ic * c.h * c.w, 11);
    let wv = rand_vec(c.oc * c.ic * 9, 12);
    let dyv = rand_vec(c.b * c.oc * oh * ow, 13);
    let x = Tensor::from_vec(xv.clone(), (c.b, c.ic, c.h, c.w), &Device::Cpu).unwrap();
    let w = Var::from_vec(wv.clone(), (c.oc, c.ic, 3, 3), &Device::Cpu).unwrap();
    let dy = Tensor::from_vec(dyv.clone(), (c.b, c.oc, oh, ow), &Device::Cpu).unwrap();
    let y = conv2d(&x, w.as_tensor(), c.s, c.p).unwrap();
    let grads = (y * dy).unwrap().sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&x).is_none(), "plain input has no gradient entry");
    let (_, dw_ref) = ref_bwd(&c, &xv, &wv, &dyv);
    assert_close(
        &to_vec(grads.get(w.as_tensor()).unwrap()),
        &dw_ref,
        RTOL,
        ATOL,
        "dw",
    );
}

#[test]
fn non_contiguous_input_is_handled() {
    let base = rand_tensor(&[1, 3, 9, 7], 21);
    let xt = base.transpose(2, 3).unwrap(); // [1, 3, 7, 9], non-contiguous
    assert!(!xt.is_contiguous());
    let w = rand_tensor(&[2, 3, 3, 3], 22);
    let ours = conv2d(&xt, &w, 1, 1).unwrap();
    let want = xt.contiguous().unwrap().conv2d(&w, 1, 1, 1, 1).unwrap();
    assert_close(&to_vec(&ours), &to_vec(&want), RTOL, ATOL, "non-contiguous");
}

#[test]
fn f64_falls_back_to_candle_and_stays_differentiable() {
    let x =
        Var::from_tensor(&rand_tensor(&[1, 2, 5, 5], 31).to_dtype(DType::F64).unwrap()).unwrap();
    let w = rand_tensor(&[3, 2, 3, 3], 32).to_dtype(DType::F64).unwrap();
    let y = conv2d(x.as_tensor(), &w, 1, 1).unwrap();
    assert_eq!(y.dtype(), DType::F64);
    let g = y.sum_all().unwrap().backward().unwrap();
    assert!(g.get(x.as_tensor()).is_some());
}

#[test]
fn bad_shapes_are_errors() {
    let x = rand_tensor(&[1, 3, 4, 4], 1);
    assert!(
        conv2d(&x, &rand_tensor(&[2, 4, 3, 3], 2), 1, 1).is_err(),
        "channel mismatch"
    );
    assert!(
        conv2d(&x, &rand_tensor(&[2, 3, 7, 7], 2), 1, 0).is_err(),
        "kernel too big"
    );
    assert!(
        conv2d(&x, &rand_tensor(&[2, 3, 3, 3], 2), 0, 0).is_err(),
        "stride 0"
    );
    assert!(conv2d(
        &rand_tensor(&[3, 4, 4], 1),
        &rand_tensor(&[2, 3, 3, 3], 2),
        1,
        1
    )
    .is_err());
}

#[test]
fn zero_sized_batches_and_channels() {
    let x = Var::from_tensor(&rand_tensor(&[2, 3, 5, 5], 1)).unwrap();
    // No output channels: empty output, and an all-zero input gradient.
    let w = rand_tensor(&[0, 3, 3, 3], 2);
    let y = conv2d(x.as_tensor(), &w, 1, 1).unwrap();
    assert_eq!(y.dims(), &[2, 0, 5, 5]);
    let g = y.sum_all().unwrap().backward().unwrap();
    let gx = to_vec(g.get(x.as_tensor()).unwrap());
    assert!(gx.len() == 50 * 3 && gx.iter().all(|&v| v == 0.0));
    // Empty batch, both strides.
    for s in [1, 2] {
        let x0 = Var::from_tensor(&rand_tensor(&[0, 3, 5, 5], 3)).unwrap();
        let w0 = Var::from_tensor(&rand_tensor(&[4, 3, 3, 3], 4)).unwrap();
        let y0 = conv2d(x0.as_tensor(), w0.as_tensor(), s, 1).unwrap();
        assert_eq!(y0.dims()[..2], [0, 4]);
        let g0 = y0.sum_all().unwrap().backward().unwrap();
        let gw = to_vec(g0.get(w0.as_tensor()).unwrap());
        assert!(gw.iter().all(|&v| v == 0.0));
    }
}

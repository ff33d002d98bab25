//! ReLU, QuickGELU, per-channel bias (+ReLU), layer norm and softmax against the same functions composed from
//! candle ops in f64 (forward and every gradient), by finite differences, and the gradient-tracking contract.
//! Tolerances: `max err ≤ 1e-5·max|ref| + 1e-6` for forwards and gradients (f32 kernels vs f64 references);
//! finite differences: `|fd − grad| ≤ 2e-3·(1 + |fd|)` with a 1e-3 step in f64 on the composed side.

mod common;

use candle_core::{DType, Device, Tensor, Var, D};
use clipneurons_kernels::{
    add_channel_bias, add_channel_bias_relu, layer_norm, quick_gelu, relu, softmax_last,
    with_redirected_relu,
};
use common::{assert_close, rand_tensor, to_vec};

const RTOL: f32 = 1e-5;
const ATOL: f32 = 1e-6;

/// The functions under test, each with a composed f64 reference.
#[derive(Clone, Copy, Debug)]
enum Op {
    Relu,
    QuickGelu,
    Bias,
    BiasRelu,
    LayerNorm,
    Softmax,
}

const OPS: [Op; 6] = [
    Op::Relu,
    Op::QuickGelu,
    Op::Bias,
    Op::BiasRelu,
    Op::LayerNorm,
    Op::Softmax,
];

/// Applies `op` with our kernel (`reference == false`) or the composed candle ops in f64 (`true`).
/// `p1`/`p2` are the op's parameters (bias; layer-norm weight and bias).
fn apply(op: Op, x: &Tensor, p1: &Tensor, p2: &Tensor, reference: bool) -> Tensor {
    let f64s = |t: &Tensor| t.to_dtype(DType::F64).unwrap();
    if !reference {
        return match op {
            Op::Relu => relu(x),
            Op::QuickGelu => quick_gelu(x),
            Op::Bias => add_channel_bias(x, p1),
            Op::BiasRelu => add_channel_bias_relu(x, p1),
            Op::LayerNorm => layer_norm(x, p1, p2, 1e-5),
            Op::Softmax => softmax_last(x),
        }
        .unwrap();
    }
    let x = f64s(x);
    let chan = |b: &Tensor| {
        let mut shape = vec![1; x.rank()];
        shape[1] = x.dim(1).unwrap();
        f64s(b).reshape(shape).unwrap()
    };
    let y = match op {
        // `x · [x > 0]` rather than candle's relu, whose gradient at exactly 0 differs (irrelevant here).
        Op::Relu => x.relu(),
        Op::QuickGelu => {
            let s = ((&x * -1.702).unwrap().exp().unwrap() + 1.0)
                .unwrap()
                .recip()
                .unwrap();
            &x * s
        }
        Op::Bias => x.broadcast_add(&chan(p1)),
        Op::BiasRelu => x.broadcast_add(&chan(p1)).unwrap().relu(),
        Op::LayerNorm => {
            let mean = x.mean_keepdim(D::Minus1).unwrap();
            let c = x.broadcast_sub(&mean).unwrap();
            let var = c.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
            c.broadcast_div(&(var + 1e-5).unwrap().sqrt().unwrap())
                .unwrap()
                .broadcast_mul(&f64s(p1))
                .unwrap()
                .broadcast_add(&f64s(p2))
        }
        Op::Softmax => {
            let max = x.max_keepdim(D::Minus1).unwrap().detach();
            let e = x.broadcast_sub(&max).unwrap().exp().unwrap();
            e.broadcast_div(&e.sum_keepdim(D::Minus1).unwrap())
        }
    };
    y.unwrap()
}

/// Input shape and parameter length for each op.
fn shapes(op: Op) -> Vec<(Vec<usize>, usize)> {
    match op {
        // Channel ops: [B, C, H, W] incl. a 1×1 grid, a batch of one, and planes bigger than one task.
        Op::Bias | Op::BiasRelu => vec![
            (vec![2, 3, 5, 7], 3),
            (vec![1, 8, 1, 1], 8),
            (vec![3, 4, 40, 50], 4),
            (vec![2, 6, 9], 6),
        ],
        // Row ops: odd widths, one row, many rows (several parallel tasks).
        Op::LayerNorm | Op::Softmax => vec![
            (vec![1, 1, 7], 7),
            (vec![3, 5, 64], 64),
            (vec![2, 300, 96], 96),
            (vec![4, 1], 1),
        ],
        Op::Relu | Op::QuickGelu => vec![(vec![7], 1), (vec![3, 50, 700], 1)],
    }
}

/// A scalar objective with a non-uniform upstream gradient.
fn objective(y: &Tensor, r: &Tensor) -> Tensor {
    (y * r.to_dtype(y.dtype()).unwrap())
        .unwrap()
        .sum_all()
        .unwrap()
}

#[test]
fn forward_and_gradients_match_composed_f64_reference() {
    for op in OPS {
        for (si, (dims, plen)) in shapes(op).into_iter().enumerate() {
            let seed = 100 * si as u64;
            let what = format!("{op:?} {dims:?}");
            // Layer-norm rows get an offset and scale so the statistics are non-trivial.
            let xt = (rand_tensor(&dims, seed) * 3.0).unwrap();
            let x = Var::from_tensor(&xt).unwrap();
            let p1 = Var::from_tensor(&rand_tensor(&[plen], seed + 1)).unwrap();
            let p2 = Var::from_tensor(&rand_tensor(&[plen], seed + 2)).unwrap();
            let r = rand_tensor(&dims, seed + 3);

            let y = apply(op, x.as_tensor(), p1.as_tensor(), p2.as_tensor(), false);
            let g = objective(&y, &r).backward().unwrap();

            let x64 = Var::from_tensor(&xt.to_dtype(DType::F64).unwrap()).unwrap();
            let p164 = Var::from_tensor(&p1.to_dtype(DType::F64).unwrap()).unwrap();
            let p264 = Var::from_tensor(&p2.to_dtype(DType::F64).unwrap()).unwrap();
            let y64 = apply(
                op,
                x64.as_tensor(),
                p164.as_tensor(),
                p264.as_tensor(),
                true,
            );
            let g64 = objective(&y64, &r).backward().unwrap();
            let f32v = |t: &Tensor| to_vec(&t.to_dtype(DType::F32).unwrap());

            assert_close(
                &to_vec(&y),
                &f32v(&y64),
                RTOL,
                ATOL,
                &format!("{what} forward"),
            );
            let gx = g.get(x.as_tensor()).expect("input gradient");
            assert_close(
                &to_vec(gx),
                &f32v(g64.get(x64.as_tensor()).unwrap()),
                RTOL,
                ATOL,
                &format!("{what} dx"),
            );
            let params: &[(&Var, &Var)] = match op {
                Op::Bias | Op::BiasRelu => &[(&p1, &p164)],
                Op::LayerNorm => &[(&p1, &p164), (&p2, &p264)],
                _ => &[],
            };
            for (i, (p, p64)) in params.iter().enumerate() {
                let gp = g.get(p.as_tensor()).expect("parameter gradient");
                assert_close(
                    &to_vec(gp),
                    &f32v(g64.get(p64.as_tensor()).unwrap()),
                    RTOL,
                    // Parameter gradients sum over many rows: allow their larger rounding.
                    1e-4,
                    &format!("{what} d(param {i})"),
                );
            }
        }
    }
}

#[test]
fn finite_differences_of_each_op() {
    for (op, (dims, plen)) in OPS
        .into_iter()
        .flat_map(|op| shapes(op).into_iter().take(2).map(move |s| (op, s)))
    {
        let n: usize = dims.iter().product();
        let inner: usize = dims.iter().skip(2).product();
        let x0 = to_vec(&(rand_tensor(&dims, 7) * 2.0).unwrap());
        let p1 = rand_tensor(&[plen], 8);
        let p2 = rand_tensor(&[plen], 9);
        let r = rand_tensor(&dims, 10);
        // f64 finite differences of the reference: exact to ~1e-10, so the check is on our gradient.
        let loss = |xv: &[f32]| -> f64 {
            let x = Tensor::from_vec(xv.to_vec(), dims.as_slice(), &Device::Cpu).unwrap();
            let x = x.to_dtype(DType::F64).unwrap();
            objective(&apply(op, &x, &p1, &p2, true), &r)
                .to_scalar::<f64>()
                .unwrap()
        };
        let x = Var::from_vec(x0.clone(), dims.as_slice(), &Device::Cpu).unwrap();
        let y = apply(op, x.as_tensor(), &p1, &p2, false);
        let g = objective(&y, &r).backward().unwrap();
        let gx = to_vec(g.get(x.as_tensor()).expect("input gradient"));
        let eps = 1e-3f32;
        for i in (0..n).step_by(n.div_ceil(200)) {
            // Skip points within a step of ReLU's kink, where a difference quotient is not a derivative.
            if matches!(op, Op::Relu | Op::BiasRelu) {
                let bias = match op {
                    Op::BiasRelu => p1.to_vec1::<f32>().unwrap()[(i / inner.max(1)) % plen],
                    _ => 0.0,
                };
                let pre = x0[i] + bias;
                if pre.abs() < 2.0 * eps {
                    continue;
                }
            }
            let (mut p, mut m) = (x0.clone(), x0.clone());
            p[i] += eps;
            m[i] -= eps;
            let fd = (loss(&p) - loss(&m)) / (2.0 * eps as f64);
            assert!(
                (fd - gx[i] as f64).abs() <= 2e-3 * (1.0 + fd.abs()),
                "{op:?} dx[{i}]: finite difference {fd} vs gradient {}",
                gx[i]
            );
        }
    }
}

#[test]
fn plain_parameters_get_no_gradient_and_the_input_does() {
    let x = Var::from_tensor(&rand_tensor(&[2, 4, 3, 3], 1)).unwrap();
    let b = rand_tensor(&[4], 2);
    let y = add_channel_bias_relu(x.as_tensor(), &b).unwrap();
    let g = y.sum_all().unwrap().backward().unwrap();
    assert!(g.get(&b).is_none(), "a plain bias must not get a gradient");
    let gx = to_vec(g.get(x.as_tensor()).expect("the input must get a gradient"));
    assert!(gx.iter().any(|&v| v != 0.0));

    let x = Var::from_tensor(&rand_tensor(&[5, 16], 3)).unwrap();
    let (w, bb) = (rand_tensor(&[16], 4), rand_tensor(&[16], 5));
    let r = rand_tensor(&[5, 16], 6);
    let y = layer_norm(x.as_tensor(), &w, &bb, 1e-5).unwrap();
    let g = objective(&y, &r).backward().unwrap();
    assert!(g.get(&w).is_none() && g.get(&bb).is_none());
    let gx = to_vec(g.get(x.as_tensor()).expect("the input must get a gradient"));
    assert!(gx.iter().any(|&v| v.abs() > 1e-4));
}

#[test]
fn non_contiguous_inputs_and_f64_fallback() {
    let x = rand_tensor(&[6, 5], 11).t().unwrap(); // [5, 6], strided
    let want = softmax_last(&x.contiguous().unwrap()).unwrap();
    assert_close(
        &to_vec(&softmax_last(&x).unwrap()),
        &to_vec(&want),
        0.0,
        0.0,
        "strided softmax",
    );
    // f64 takes candle's composed path and stays differentiable.
    let x64 = Var::from_tensor(&rand_tensor(&[3, 4], 12).to_dtype(DType::F64).unwrap()).unwrap();
    let w = Tensor::ones(4, DType::F64, &Device::Cpu).unwrap();
    let b = Tensor::zeros(4, DType::F64, &Device::Cpu).unwrap();
    let y = layer_norm(x64.as_tensor(), &w, &b, 1e-5).unwrap();
    let y = quick_gelu(&softmax_last(&y).unwrap()).unwrap();
    let g = y.sum_all().unwrap().backward().unwrap();
    assert!(g.get(x64.as_tensor()).is_some());
}

#[test]
fn bad_shapes_are_errors() {
    let x = rand_tensor(&[2, 3, 4, 4], 1);
    let err = add_channel_bias(&x, &rand_tensor(&[4], 2))
        .unwrap_err()
        .to_string();
    assert!(err.contains("should be [C]"), "{err}");
    let err = layer_norm(&x, &rand_tensor(&[3], 3), &rand_tensor(&[4], 4), 1e-5)
        .unwrap_err()
        .to_string();
    assert!(err.contains("should be [4]"), "{err}");
}

/// Lucid's redirected ReLU: example 0 has an active unit, so it keeps the ordinary gradient; example 1 is all
/// inactive, so the gradient passes except where it would push a unit lower (positive loss gradient). The
/// choice is made when the graph is built; both ReLU kernels honour it.
#[test]
fn redirected_relu_passes_gradient_only_to_dead_examples_and_only_upwards() {
    let x = Tensor::new(&[[1.0f32, -1.0, -2.0], [-1.0, -2.0, -3.0]], &Device::Cpu).unwrap();
    let v = Var::from_tensor(&x).unwrap();
    let g = Tensor::new(&[[-1.0f32, -2.0, 3.0], [-1.0, 2.0, -3.0]], &Device::Cpu).unwrap();
    let grad_of = |y: Tensor| -> Vec<Vec<f32>> {
        let grads = (y * &g).unwrap().sum_all().unwrap().backward().unwrap();
        grads.get(v.as_tensor()).unwrap().to_vec2().unwrap()
    };
    let plain = grad_of(relu(v.as_tensor()).unwrap());
    assert_eq!(plain, vec![vec![-1.0, 0.0, 0.0], vec![0.0, 0.0, 0.0]]);
    let redirected = grad_of(with_redirected_relu(|| relu(v.as_tensor())).unwrap());
    assert_eq!(
        redirected,
        vec![vec![-1.0, 0.0, 0.0], vec![-1.0, 0.0, -3.0]]
    );
    // The fused bias + ReLU of every convolution, on [B, C, 1, 1].
    let zero = Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap();
    let v4 = Var::from_tensor(&x.reshape((2, 3, 1, 1)).unwrap()).unwrap();
    let y = with_redirected_relu(|| add_channel_bias_relu(v4.as_tensor(), &zero)).unwrap();
    let grads = (y.reshape((2, 3)).unwrap() * &g)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let d: Vec<Vec<f32>> = grads
        .get(v4.as_tensor())
        .unwrap()
        .reshape((2, 3))
        .unwrap()
        .to_vec2()
        .unwrap();
    assert_eq!(d, redirected);
    // The flag does not outlive the closure.
    assert_eq!(grad_of(relu(v.as_tensor()).unwrap()), plain);
}

//! Fused self-attention against the same computation composed from candle ops in f64 (forward and the gradient of
//! the packed `qkv`), causal and not, several head counts and odd lengths, and by finite differences.
//! Tolerances: `max err ≤ 1e-5·max|ref| + 1e-6` (f32 kernel vs f64 reference); finite differences
//! `|fd − grad| ≤ 2e-3·(1 + |fd|)` with a 1e-3 step on the composed f64 side.

mod common;

use candle_core::{DType, Tensor, Var, D};
use clipneurons_kernels::self_attention;
use common::{assert_close, rand_tensor, to_vec};

/// The composed reference in f64.
fn reference(qkv: &Tensor, heads: usize, causal: bool) -> Tensor {
    let (n, l, d3) = qkv.dims3().unwrap();
    let d = d3 / 3;
    let hd = d / heads;
    let split = |t: Tensor| {
        t.reshape((n, l, heads, hd))
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap()
    };
    let q = split(qkv.narrow(2, 0, d).unwrap());
    let k = split(qkv.narrow(2, d, d).unwrap());
    let v = split(qkv.narrow(2, 2 * d, d).unwrap());
    let mut s = (q.matmul(&k.t().unwrap()).unwrap() * (1.0 / (hd as f64).sqrt())).unwrap();
    if causal {
        let m: Vec<f64> = (0..l * l)
            .map(|i| if i % l > i / l { -1e300 } else { 0.0 })
            .collect();
        let m = Tensor::from_vec(m, (l, l), qkv.device()).unwrap();
        s = s.broadcast_add(&m).unwrap();
    }
    let max = s.max_keepdim(D::Minus1).unwrap();
    let e = s.broadcast_sub(&max).unwrap().exp().unwrap();
    let p = e.broadcast_div(&e.sum_keepdim(D::Minus1).unwrap()).unwrap();
    p.matmul(&v)
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .reshape((n, l, d))
        .unwrap()
}

#[test]
fn forward_and_gradient_match_composed_f64_reference() {
    for (n, l, d, heads) in [
        (1usize, 1usize, 8usize, 2usize),
        (2, 7, 12, 3),
        (3, 16, 16, 1),
        (2, 5, 64, 4),
    ] {
        for causal in [false, true] {
            let what = format!("n {n} l {l} d {d} heads {heads} causal {causal}");
            let x = rand_tensor(&[n, l, 3 * d], (n * 100 + l * 10 + d) as u64);
            let w = rand_tensor(&[n, l, d], 7);
            let v32 = Var::from_tensor(&x).unwrap();
            let y = self_attention(v32.as_tensor(), heads, causal)
                .unwrap()
                .expect("fast path");
            let g32 = (&y * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let v64 = Var::from_tensor(&x.to_dtype(DType::F64).unwrap()).unwrap();
            let y64 = reference(v64.as_tensor(), heads, causal);
            let w64 = w.to_dtype(DType::F64).unwrap();
            let g64 = (&y64 * &w64)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let f = |t: &Tensor| to_vec(&t.to_dtype(DType::F32).unwrap());
            assert_close(
                &to_vec(&y),
                &f(&y64),
                1e-5,
                1e-6,
                &format!("forward, {what}"),
            );
            assert_close(
                &to_vec(g32.get(v32.as_tensor()).expect("qkv gradient")),
                &f(g64.get(v64.as_tensor()).unwrap()),
                1e-5,
                1e-6,
                &format!("gradient, {what}"),
            );
        }
    }
}

#[test]
fn finite_differences_of_the_packed_input() {
    let (n, l, d, heads) = (2, 6, 8, 2);
    let x = rand_tensor(&[n, l, 3 * d], 42)
        .to_dtype(DType::F64)
        .unwrap();
    let w = rand_tensor(&[n, l, d], 43);
    let v = Var::from_tensor(&x.to_dtype(DType::F32).unwrap()).unwrap();
    let y = self_attention(v.as_tensor(), heads, true).unwrap().unwrap();
    let g = (&y * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let g = to_vec(g.get(v.as_tensor()).unwrap());
    let w64 = w.to_dtype(DType::F64).unwrap();
    let f = |t: &Tensor| -> f64 {
        (reference(t, heads, true) * &w64)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let xs = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    for i in [0usize, 5, 17, 40, 95, 200, xs.len() - 1] {
        let at = |delta: f64| {
            let mut v = xs.clone();
            v[i] += delta;
            f(&Tensor::from_vec(v, x.dims(), x.device()).unwrap())
        };
        let fd = (at(1e-3) - at(-1e-3)) / 2e-3;
        assert!(
            (fd - g[i] as f64).abs() <= 2e-3 * (1.0 + fd.abs()),
            "element {i}: finite difference {fd}, kernel {}",
            g[i]
        );
    }
}

#[test]
fn other_dtypes_fall_back_and_bad_widths_are_errors() {
    let x = rand_tensor(&[1, 3, 24], 1);
    assert!(self_attention(&x.to_dtype(DType::F64).unwrap(), 2, false)
        .unwrap()
        .is_none());
    let err = self_attention(&x, 5, false).err().unwrap().to_string();
    assert!(err.contains("does not split"), "{err}");
}

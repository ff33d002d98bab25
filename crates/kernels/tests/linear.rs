//! linear against candle's matmul and naive references, by finite differences, and the
//! gradient-tracking contract. Tolerance: `max err ≤ 1e-4·max|ref| + 1e-5` (f32 vs f64 refs).

mod common;

use candle_core::{DType, Device, Tensor, Var};
use clipneurons_kernels::linear;
use common::{assert_close, rand_tensor, rand_vec, to_vec};

const RTOL: f32 = 1e-4;
const ATOL: f32 = 1e-5;

fn ref_linear(
    rows: usize,
    din: usize,
    dout: usize,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
) -> Vec<f32> {
    let mut y = vec![0f32; rows * dout];
    for r in 0..rows {
        for o in 0..dout {
            let mut s = b.map_or(0.0, |b| b[o] as f64);
            for i in 0..din {
                s += x[r * din + i] as f64 * w[o * din + i] as f64;
            }
            y[r * dout + o] = s as f32;
        }
    }
    y
}

#[test]
fn forward_and_gradients_match_references() {
    let dev = &Device::Cpu;
    // Includes shapes big enough to be split into parallel blocks (rows ≥ 128, many columns).
    for (ci, &(lead, din, dout, bias)) in [
        (&[1usize][..], 1usize, 1usize, true),
        (&[3], 5, 7, false),
        (&[2, 5], 17, 9, true),
        (&[50], 96, 384, true),
        (&[4, 77], 64, 160, true),
        (&[300], 200, 1000, false),
        // Few rows and in ≥ 2·out: computed transposed, with and without bias.
        (&[2, 7], 64, 20, true),
        (&[50], 300, 100, false),
    ]
    .iter()
    .enumerate()
    {
        let seed = 10 * ci as u64;
        let rows: usize = lead.iter().product();
        let mut xdims = lead.to_vec();
        xdims.push(din);
        let xv = rand_vec(rows * din, seed);
        let wv = rand_vec(dout * din, seed + 1);
        let bv = rand_vec(dout, seed + 2);
        let x = Var::from_vec(xv.clone(), xdims.as_slice(), dev).unwrap();
        let w = Var::from_vec(wv.clone(), (dout, din), dev).unwrap();
        let b = Var::from_vec(bv.clone(), dout, dev).unwrap();
        let y = linear(x.as_tensor(), w.as_tensor(), bias.then(|| b.as_tensor())).unwrap();
        let mut ydims = lead.to_vec();
        ydims.push(dout);
        assert_eq!(y.dims(), ydims.as_slice());
        let what = format!("rows {rows} in {din} out {dout} bias {bias}");
        let want = ref_linear(rows, din, dout, &xv, &wv, bias.then_some(&bv[..]));
        assert_close(&to_vec(&y), &want, RTOL, ATOL, &format!("fwd {what}"));

        // candle's matmul agrees.
        let yc = x
            .as_tensor()
            .reshape((rows, din))
            .unwrap()
            .matmul(&w.as_tensor().t().unwrap())
            .unwrap();
        let yc = if bias {
            yc.broadcast_add(b.as_tensor()).unwrap()
        } else {
            yc
        };
        assert_close(
            &to_vec(&y),
            &to_vec(&yc),
            RTOL,
            ATOL,
            &format!("fwd vs candle {what}"),
        );

        let dyv = rand_vec(rows * dout, seed + 3);
        let dy = Tensor::from_vec(dyv.clone(), ydims.as_slice(), dev).unwrap();
        let g = (y * dy).unwrap().sum_all().unwrap().backward().unwrap();
        // dx = dy·W, dW = dyᵀ·x, db = Σ dy.
        let mut dx = vec![0f64; rows * din];
        let mut dw = vec![0f64; dout * din];
        let mut db = vec![0f64; dout];
        for r in 0..rows {
            for o in 0..dout {
                let gy = dyv[r * dout + o] as f64;
                db[o] += gy;
                for i in 0..din {
                    dx[r * din + i] += gy * wv[o * din + i] as f64;
                    dw[o * din + i] += gy * xv[r * din + i] as f64;
                }
            }
        }
        let f = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect::<Vec<_>>();
        let gx = g.get(x.as_tensor()).unwrap();
        assert_eq!(gx.dims(), x.dims());
        assert_close(&to_vec(gx), &f(dx), RTOL, ATOL, &format!("dx {what}"));
        assert_close(
            &to_vec(g.get(w.as_tensor()).unwrap()),
            &f(dw),
            RTOL,
            ATOL,
            &format!("dw {what}"),
        );
        if bias {
            assert_close(
                &to_vec(g.get(b.as_tensor()).unwrap()),
                &f(db),
                RTOL,
                ATOL,
                &format!("db {what}"),
            );
        } else {
            assert!(g.get(b.as_tensor()).is_none());
        }
    }
}

#[test]
fn plain_weight_and_bias_get_no_gradient() {
    let x = Var::from_tensor(&rand_tensor(&[2, 3, 8], 1)).unwrap();
    let w = rand_tensor(&[5, 8], 2);
    let b = rand_tensor(&[5], 3);
    let w2 = rand_tensor(&[4, 5], 4);
    let h = linear(x.as_tensor(), &w, Some(&b)).unwrap().tanh().unwrap();
    let y = linear(&h, &w2, None).unwrap();
    let g = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
    let gx = to_vec(g.get(x.as_tensor()).expect("input gradient"));
    assert!(
        gx.iter().any(|v| v.abs() > 1e-4),
        "input gradient is non-zero"
    );
    assert!(g.get(&w).is_none() && g.get(&b).is_none() && g.get(&w2).is_none());
}

#[test]
fn finite_differences_of_full_op() {
    let dev = &Device::Cpu;
    let (rows, din, dout) = (3, 6, 4);
    let xv = rand_vec(rows * din, 51);
    let wv = rand_vec(dout * din, 52);
    let bv = rand_vec(dout, 53);
    let r = rand_tensor(&[rows, dout], 54);
    let loss = |xv: &[f32], wv: &[f32], bv: &[f32]| -> f64 {
        let x = Tensor::from_vec(xv.to_vec(), (rows, din), dev).unwrap();
        let w = Tensor::from_vec(wv.to_vec(), (dout, din), dev).unwrap();
        let b = Tensor::from_vec(bv.to_vec(), dout, dev).unwrap();
        let y = linear(&x, &w, Some(&b)).unwrap();
        (y * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64
    };
    let x = Var::from_vec(xv.clone(), (rows, din), dev).unwrap();
    let w = Var::from_vec(wv.clone(), (dout, din), dev).unwrap();
    let b = Var::from_vec(bv.clone(), dout, dev).unwrap();
    let y = linear(x.as_tensor(), w.as_tensor(), Some(b.as_tensor())).unwrap();
    let g = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let eps = 1e-2f32;
    let vals = [xv.clone(), wv.clone(), bv.clone()];
    for (which, t) in [x.as_tensor(), w.as_tensor(), b.as_tensor()]
        .iter()
        .enumerate()
    {
        let grad = to_vec(g.get(t).unwrap());
        for i in 0..vals[which].len() {
            let (mut p, mut m) = (vals.clone(), vals.clone());
            p[which][i] += eps;
            m[which][i] -= eps;
            let fd = (loss(&p[0], &p[1], &p[2]) - loss(&m[0], &m[1], &m[2])) / (2.0 * eps as f64);
            assert!(
                (fd - grad[i] as f64).abs() <= 2e-3 * (1.0 + fd.abs()),
                "arg {which}[{i}]: {fd} vs {}",
                grad[i]
            );
        }
    }
}

#[test]
fn f64_falls_back_and_stays_differentiable() {
    let x = Var::from_tensor(&rand_tensor(&[2, 3, 4], 1).to_dtype(DType::F64).unwrap()).unwrap();
    let w = Var::from_tensor(&rand_tensor(&[5, 4], 2).to_dtype(DType::F64).unwrap()).unwrap();
    let y = linear(x.as_tensor(), w.as_tensor(), None).unwrap();
    assert_eq!(y.dims(), &[2, 3, 5]);
    let g = y.sum_all().unwrap().backward().unwrap();
    assert!(g.get(x.as_tensor()).is_some() && g.get(w.as_tensor()).is_some());
}

#[test]
fn bad_shapes_are_errors() {
    let x = rand_tensor(&[2, 4], 1);
    assert!(linear(&x, &rand_tensor(&[3, 5], 2), None).is_err());
    assert!(linear(&x, &rand_tensor(&[3, 4], 2), Some(&rand_tensor(&[4], 3))).is_err());
}

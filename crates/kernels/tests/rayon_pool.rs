//! The kernels give the same results when their tasks run on rayon's pool instead of candle's
//! barrier pool (a process-wide switch, so this lives in its own test binary).

mod common;

use candle_core::{Tensor, Var};
use clipneurons_kernels::{conv2d, linear, use_rayon_pool};
use common::{assert_close, rand_tensor, to_vec};

fn grads_of(f: impl Fn(&Tensor, &Tensor) -> Tensor, x: &Tensor, w: &Tensor) -> Vec<Vec<f32>> {
    let xv = Var::from_tensor(x).unwrap();
    let wv = Var::from_tensor(w).unwrap();
    let y = f(xv.as_tensor(), wv.as_tensor());
    let r = rand_tensor(y.dims(), 99);
    let g = (&y * r).unwrap().sum_all().unwrap().backward().unwrap();
    vec![
        to_vec(&y),
        to_vec(g.get(xv.as_tensor()).unwrap()),
        to_vec(g.get(wv.as_tensor()).unwrap()),
    ]
}

#[test]
fn rayon_and_candle_pools_agree() {
    // Batch 1 and small images exercise the channel-split paths; stride 2 the col2im path.
    let convs: [(&[usize], usize, usize, usize, usize); 4] = [
        (&[1, 5, 4, 3], 70, 3, 1, 1),
        (&[3, 4, 12, 10], 8, 3, 1, 1),
        (&[1, 3, 11, 9], 6, 3, 2, 1),
        (&[2, 16, 7, 7], 40, 1, 1, 0),
    ];
    for (i, &(xd, oc, k, s, p)) in convs.iter().enumerate() {
        let x = rand_tensor(xd, 10 + i as u64);
        let w = rand_tensor(&[oc, xd[1], k, k], 20 + i as u64);
        let f = |x: &Tensor, w: &Tensor| conv2d(x, w, s, p).unwrap();
        use_rayon_pool(false);
        let a = grads_of(f, &x, &w);
        use_rayon_pool(true);
        let b = grads_of(f, &x, &w);
        use_rayon_pool(false);
        for (ga, gb) in a.iter().zip(&b) {
            assert_close(gb, ga, 1e-5, 1e-6, &format!("conv case {i}"));
        }
    }
    let x = rand_tensor(&[3, 50, 96], 1);
    let w = rand_tensor(&[384, 96], 2);
    let f = |x: &Tensor, w: &Tensor| linear(x, w, None).unwrap();
    let a = grads_of(f, &x, &w);
    use_rayon_pool(true);
    let b = grads_of(f, &x, &w);
    use_rayon_pool(false);
    for (ga, gb) in a.iter().zip(&b) {
        assert_close(gb, ga, 1e-5, 1e-6, "linear");
    }
}

//! Feature visualisation: the Fourier image is an inverse DFT, every transform and the whole objective have the
//! gradients finite differences say, and optimisation raises a neuron far above its value on random images.

use candle_core::{Device, Tensor};
use clipneurons_model::Clip;
use clipneurons_viz::objective::Objective;
use clipneurons_viz::param::{ImageParam, Kind, COLOR_CORRELATION_SVD_SQRT};
use clipneurons_viz::render::{objective_on, render, RenderOptions};
use clipneurons_viz::transform::{
    clip_featurevis, crop_or_pad_to, interpolation_matrix, lucid_standard, pad, resize, rotate,
    Transforms,
};
use clipneurons_viz::Rng;

/// A deterministic standard-normal tensor.
fn normal(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// One element of a 4-D tensor.
fn at(t: &Tensor, [b, c, i, j]: [usize; 4]) -> f32 {
    use candle_core::IndexOp;
    t.i((b, c, i, j)).unwrap().to_scalar::<f32>().unwrap()
}

fn model() -> Clip {
    Clip::from_state_dict(&clipneurons_builtin::checkpoint().unwrap().tensors).unwrap()
}

fn colour_matrix() -> [[f64; 3]; 3] {
    let c = COLOR_CORRELATION_SVD_SQRT;
    let max_norm = (0..3)
        .map(|j| (0..3).map(|i| c[i][j] * c[i][j]).sum::<f64>().sqrt())
        .fold(0.0, f64::max);
    let mut m = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            m[i][j] = c[i][j] / max_norm;
        }
    }
    m
}

#[test]
#[allow(clippy::needless_range_loop)] // (y, x) index the formula and the image alike
fn fourier_image_is_lucids_inverse_dft() {
    let (s, wf) = (8usize, 5usize);
    let p = ImageParam::new(Kind::Fourier, 1, s, 0.0, &mut Rng::new(0)).unwrap();
    // One real coefficient at (ky, kx) = (1, 2) in channel 0, one imaginary at (3, 0) in channel 2.
    let mut re = vec![0f32; 3 * s * wf];
    let mut im = vec![0f32; 3 * s * wf];
    re[wf + 2] = 1.0; // flat index ((c·S + ky)·(W/2+1) + kx)
    im[2 * s * wf + 3 * wf] = 0.5;
    p.vars[0]
        .set(&Tensor::from_vec(re, (1, 3, s, wf), &Device::Cpu).unwrap())
        .unwrap();
    p.vars[1]
        .set(&Tensor::from_vec(im, (1, 3, s, wf), &Device::Cpu).unwrap())
        .unwrap();
    let got = p.logits().unwrap().to_vec3::<f32>().unwrap_or_default();
    let got = if got.is_empty() {
        p.logits()
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec3::<f32>()
            .unwrap()
    } else {
        got
    };
    let tau = 2.0 * std::f64::consts::PI;
    // Lucid's scale: sqrt(w h) / max(|f|, 1/max(w, h)); image = irfft2(scale · spectrum) / 4.
    let freq = |ky: f64, kx: f64| {
        ((ky / 8.0).powi(2) + (kx / 8.0).powi(2))
            .sqrt()
            .max(1.0 / 8.0)
    };
    let (s12, s30) = (8.0 / freq(1.0, 2.0), 8.0 / freq(3.0, 0.0));
    let m = colour_matrix();
    for y in 0..s {
        for x in 0..s {
            // numpy irfft2: a bin with 0 < kx < W/2 counts twice; kx = 0 once. Imaginary part at kx = 0 of a
            // real signal's spectrum is dropped by irfft along W (c_0 · (Re cos − Im sin) with sin(0) = 0).
            let ch0 =
                s12 * 2.0 * (tau * (y as f64 / 8.0 + 2.0 * x as f64 / 8.0)).cos() / 64.0 / 4.0;
            let ch2 = -s30 * 0.5 * (tau * 3.0 * y as f64 / 8.0).sin() / 64.0 / 4.0;
            for c in 0..3 {
                let expect = m[c][0] * ch0 + m[c][2] * ch2;
                let g = got[c][y][x] as f64;
                assert!(
                    (g - expect).abs() < 1e-4 * expect.abs().max(1.0),
                    "c{c} y{y} x{x}: {g} vs {expect}"
                );
            }
        }
    }
}

/// Central-difference check of `f` along `dir` against the analytic gradient `grad` (all flattened).
fn check_fd(
    f: &dyn Fn(&Tensor) -> f32,
    x0: &Tensor,
    grad: &Tensor,
    dir: &Tensor,
    eps: f64,
    tol: f64,
) {
    let analytic = (grad * dir)
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap() as f64;
    let plus = f(&(x0 + (dir * eps).unwrap()).unwrap()) as f64;
    let minus = f(&(x0 - (dir * eps).unwrap()).unwrap()) as f64;
    let fd = (plus - minus) / (2.0 * eps);
    eprintln!("finite difference {fd:.6e}, analytic {analytic:.6e}");
    assert!(
        (fd - analytic).abs() <= tol * analytic.abs().max(1e-3),
        "finite difference {fd} vs analytic {analytic}"
    );
}

#[test]
fn fourier_and_pixel_gradients_match_finite_differences() {
    for kind in [Kind::Fourier, Kind::Pixels] {
        let mut rng = Rng::new(3);
        let p = ImageParam::new(kind, 1, 16, 0.05, &mut rng).unwrap();
        let w = normal(&[1, 3, 16, 16], 1);
        let loss = |p: &ImageParam| (p.rgb().unwrap() * &w).unwrap().sum_all().unwrap();
        let grads = loss(&p).backward().unwrap();
        for (i, var) in p.vars.iter().enumerate() {
            let g = grads
                .get(var.as_tensor())
                .expect("the parameter receives a gradient");
            assert!(
                g.abs()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
                    > 0.0
            );
            let x0 = var.as_tensor().copy().unwrap();
            let dir = normal(x0.dims(), 2 + i as u64);
            let f = |x: &Tensor| {
                var.set(x).unwrap();
                let v = loss(&p).to_scalar::<f32>().unwrap();
                var.set(&x0).unwrap();
                v
            };
            check_fd(&f, &x0, g, &dir, 1e-3, 2e-2);
            let _ = i;
        }
    }
}

#[test]
fn transforms_are_linear_maps_with_the_right_shapes() {
    // Bilinear matrices: rows sum to one; upsampling a ramp with half-pixel centres.
    let r = interpolation_matrix(8, 4)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    assert!(r
        .iter()
        .all(|row| (row.iter().sum::<f32>() - 1.0).abs() < 1e-6));
    let ramp = Tensor::from_vec(vec![0f32, 1.0, 2.0, 3.0], (1, 1, 1, 4), &Device::Cpu).unwrap();
    let up = resize(&ramp, 1, 8)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let expect = [0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0];
    assert!(
        up.iter().zip(expect).all(|(a, b)| (a - b).abs() < 1e-6),
        "{up:?}"
    );
    let x = normal(&[2, 3, 10, 10], 4);
    assert_eq!(pad(&x, 3, 0.5).unwrap().dims(), [2, 3, 16, 16]);
    assert_eq!(crop_or_pad_to(&x, 7, 0.5).unwrap().dims(), [2, 3, 7, 7]);
    assert_eq!(crop_or_pad_to(&x, 13, 0.5).unwrap().dims(), [2, 3, 13, 13]);
    // Padding fills with the value; the original sits in the middle.
    let p = pad(&x, 1, 0.5).unwrap();
    assert_eq!(at(&p, [0, 0, 0, 0]), 0.5);
}

#[test]
fn whole_objective_gradient_matches_finite_differences() {
    let m = model();
    let size = m.image_size();
    let layer = m.neuron_layer();
    let p = ImageParam::new(Kind::Pixels, 1, size - 8, 0.5, &mut Rng::new(5)).unwrap();
    // A fixed pipeline: pad, resize to the model's size, channel objective.
    let obj = |p: &ImageParam| {
        let x = resize(&pad(&p.rgb().unwrap(), 6, 0.5).unwrap(), size, size).unwrap();
        objective_on(&m, &x, &layer, &Objective::Channel(7)).unwrap()
    };
    let grads = obj(&p).backward().unwrap();
    let var = &p.vars[0];
    let g = grads
        .get(var.as_tensor())
        .expect("the input receives a gradient");
    let x0 = var.as_tensor().copy().unwrap();
    let dir = normal(x0.dims(), 9);
    let f = |x: &Tensor| {
        var.set(x).unwrap();
        let v = obj(&p).to_scalar::<f32>().unwrap();
        var.set(&x0).unwrap();
        v
    };
    // ReLUs inside the tower make the objective piecewise smooth: a step small enough that few units cross their
    // kink (1e-3 in parameter space, ~2.5e-4 per pixel), a 5% tolerance for what is left plus f32 rounding.
    check_fd(&f, &x0, g, &dir, 1e-3, 5e-2);
}

#[test]
fn optimisation_raises_the_neuron_far_above_random_images() {
    let m = model();
    let size = m.image_size();
    let layer = m.neuron_layer();
    let neuron = 7;
    // Random images: uniform noise in [0, 1]; the neuron's channel mean on each.
    let mut rng = Rng::new(11);
    let values: Vec<f32> = (0..16 * 3 * size * size)
        .map(|_| rng.f64() as f32)
        .collect();
    let noise = Tensor::from_vec(values, (16, 3, size, size), &Device::Cpu).unwrap();
    let px = clipneurons_viz::render::normalise(&noise).unwrap();
    let act = &m
        .record(Some(&px), None, std::slice::from_ref(&layer))
        .unwrap()[0]
        .1;
    let per_image = clipneurons_viz::objective::per_image_channel_mean(act, neuron).unwrap();
    let random = per_image.iter().sum::<f32>() / 16.0;
    let best_random = per_image.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let opts = RenderOptions {
        layer: layer.clone(),
        objective: Objective::Channel(neuron),
        kind: Kind::Fourier,
        size,
        batch: 1,
        steps: 80,
        lr: 0.05,
        seed: 0,
        l2_weight: 0.0,
        transforms: Transforms::Lucid,
        redirect_steps: 16,
        facet: None,
        attribution_diversity: None,
    };
    let r = render(&m, &opts, |_, _| {}).unwrap();
    eprintln!(
        "neuron {neuron}: random images {random:.3} (best of 16: {best_random:.3}), visualisation {:.3}",
        r.final_objective
    );
    // Far above every random image: at least 0.5 above the best of 16 noise images.
    assert!(
        r.final_objective > best_random + 0.5,
        "{} vs {best_random}",
        r.final_objective
    );
    // Same seed, same result.
    let again = render(&m, &opts, |_, _| {}).unwrap();
    assert_eq!(r.images[0], again.images[0]);
    assert_eq!(r.objective.len(), 80);
}

#[test]
fn rotation_is_exact_at_quarter_turns_and_has_the_gradient_of_a_linear_map() {
    let x = normal(&[2, 3, 6, 6], 21);
    assert_eq!(
        rotate(&x, 0.0, 0.5)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap(),
        x.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
    // 90° counter-clockwise on screen: out[i][j] = in[j][W−1−i] (the top-right corner moves to the top-left).
    let r = rotate(&x, 90.0, 0.5).unwrap();
    for (i, j) in [(0usize, 0usize), (1, 4), (5, 2), (3, 3)] {
        let (got, want) = (at(&r, [1, 2, i, j]), at(&x, [1, 2, j, 5 - i]));
        assert!((got - want).abs() < 1e-5, "({i}, {j}): {got} vs {want}");
    }
    // At 45° the corners' sources lie more than a pixel outside the image: they take the fill value.
    let corner = at(&rotate(&x, 45.0, 0.5).unwrap(), [0, 0, 0, 0]);
    assert!((corner - 0.5).abs() < 1e-6);
    // A linear map (plus the fill): the gradient of Σ w ⊙ rotate(x) by finite differences.
    let v = candle_core::Var::from_tensor(&x).unwrap();
    let w = normal(&[2, 3, 6, 6], 22);
    let f = |t: &Tensor| {
        (rotate(t, 17.0, 0.5).unwrap() * &w)
            .unwrap()
            .sum_all()
            .unwrap()
    };
    let grads = f(v.as_tensor()).backward().unwrap();
    let g = grads
        .get(v.as_tensor())
        .expect("the input receives a gradient");
    let dir = normal(&[2, 3, 6, 6], 23);
    check_fd(
        &|t| f(t).to_scalar::<f32>().unwrap(),
        &x,
        g,
        &dir,
        1e-2,
        1e-3,
    );
}

#[test]
fn recipe_transforms_are_seeded_and_end_at_the_models_side() {
    let x = normal(&[1, 3, 40, 40], 31);
    for size in [32usize, 48] {
        let a = lucid_standard(&x, size, &mut Rng::new(1)).unwrap();
        let b = lucid_standard(&x, size, &mut Rng::new(1)).unwrap();
        assert_eq!(a.dims(), [1, 3, size, size]);
        assert_eq!(
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
        assert_eq!(
            clip_featurevis(&x, size, &mut Rng::new(2)).unwrap().dims(),
            [1, 3, size, size]
        );
        assert_eq!(
            Transforms::None
                .apply(&x, size, &mut Rng::new(0))
                .unwrap()
                .dims(),
            [1, 3, size, size]
        );
    }
}

#[test]
fn objectives_compose_and_diversity_measures_gram_similarity() {
    let act = normal(&[3, 4, 5, 5], 41);
    let val = |o: &Objective, a: &Tensor| o.value(a).unwrap().to_scalar::<f32>().unwrap();
    // ReLU'd channel = mean of relu(channel 2).
    let want = act
        .narrow(1, 2, 1)
        .unwrap()
        .relu()
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((val(&Objective::relu_channel(2, 4), &act) - want).abs() < 1e-6);
    // Sums are linear.
    let sum = Objective::Sum(vec![
        (2.0, Objective::Channel(1)),
        (-0.5, Objective::Neuron(3)),
    ]);
    let want = 2.0 * val(&Objective::Channel(1), &act) - 0.5 * val(&Objective::Neuron(3), &act);
    assert!((val(&sum, &act) - want).abs() < 1e-5);
    // Diversity: 0 for one image, −(B−1) for B identical images (every normalised Gram equal), and between for
    // different ones.
    assert!(val(&Objective::Diversity, &act.narrow(0, 0, 1).unwrap()).abs() < 1e-6);
    let same = act.narrow(0, 0, 1).unwrap().repeat((3, 1, 1, 1)).unwrap();
    assert!((val(&Objective::Diversity, &same) + 2.0).abs() < 1e-5);
    let d = val(&Objective::Diversity, &act);
    assert!(d > -2.0 && d < 0.0, "{d}");
    // Its gradient, by finite differences.
    let v = candle_core::Var::from_tensor(&act).unwrap();
    let grads = Objective::Diversity
        .value(v.as_tensor())
        .unwrap()
        .backward()
        .unwrap();
    let g = grads.get(v.as_tensor()).expect("diversity has a gradient");
    let dir = normal(&[3, 4, 5, 5], 42);
    check_fd(
        &|t| val(&Objective::Diversity, t),
        &act,
        g,
        &dir,
        1e-3,
        1e-2,
    );
}

#[test]
fn diversity_pushes_a_batch_apart_and_redirected_relu_moves_a_dead_unit() {
    let m = model();
    let size = m.image_size();
    let layer = m.neuron_layer();
    let base = RenderOptions {
        layer: layer.clone(),
        objective: Objective::Channel(7),
        kind: Kind::Fourier,
        size,
        batch: 3,
        steps: 30,
        lr: 0.05,
        seed: 4,
        l2_weight: 0.0,
        transforms: Transforms::Lucid,
        redirect_steps: 0,
        facet: None,
        attribution_diversity: None,
    };
    let spread = |opts: &RenderOptions| {
        let r = render(&m, opts, |_, _| {}).unwrap();
        let imgs: Vec<Tensor> = r
            .images
            .iter()
            .map(|i| {
                Tensor::from_vec(
                    clipneurons_image::normalize(i),
                    (3, size, size),
                    &Device::Cpu,
                )
                .unwrap()
            })
            .collect();
        let x = Tensor::stack(&imgs, 0).unwrap();
        let act = &m
            .record(Some(&x), None, std::slice::from_ref(&layer))
            .unwrap()[0]
            .1;
        Objective::Diversity
            .value(act)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let plain = spread(&base);
    let diverse = spread(&RenderOptions {
        objective: Objective::Sum(vec![
            (1.0, Objective::Channel(7)),
            (100.0, Objective::Diversity),
        ]),
        ..base.clone()
    });
    eprintln!(
        "diversity objective of the batch: plain {plain:.3}, with the diversity term {diverse:.3}"
    );
    assert!(diverse > plain, "{diverse} vs {plain}");

    // Redirected ReLU: on the block's output (after its ReLU) find a channel that is zero everywhere on a
    // grey-ish start image, so its ordinary gradient is exactly zero; redirected, the image gets a gradient.
    let out_layer = layer.trim_end_matches(".add").to_string();
    let p = ImageParam::new(Kind::Fourier, 1, size, 0.01, &mut Rng::new(0)).unwrap();
    let grad_norm = |n: usize, redirect: bool| {
        let f = || objective_on(&m, &p.rgb().unwrap(), &out_layer, &Objective::Channel(n));
        let obj = if redirect {
            clipneurons_model::with_redirected_relu(f)
        } else {
            f()
        }
        .unwrap();
        let grads = obj.neg().unwrap().backward().unwrap();
        grads.get(p.vars[0].as_tensor()).map_or(0.0, |g| {
            g.sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        })
    };
    let dead = (0..64)
        .find(|&n| grad_norm(n, false) == 0.0)
        .expect("a channel dead on the start image among the first 64");
    let redirected = grad_norm(dead, true);
    eprintln!("dead channel {dead}: squared gradient norm 0 plain, {redirected:.3e} redirected");
    assert!(redirected > 0.0);
}

//! Feature visualisation: the Fourier image is an inverse DFT, every transform and the whole objective have the
//! gradients finite differences say, and optimisation raises a neuron far above its value on random images.

use candle_core::{Device, Tensor};
use clipneurons_model::Clip;
use clipneurons_viz::objective::Objective;
use clipneurons_viz::param::{ImageParam, Kind, COLOR_CORRELATION_SVD_SQRT};
use clipneurons_viz::render::{objective_on, render, RenderOptions};
use clipneurons_viz::transform::{crop_or_pad_to, interpolation_matrix, pad, resize};
use clipneurons_viz::Rng;

/// A deterministic standard-normal tensor.
fn normal(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
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
    assert_eq!(
        p.get(0)
            .unwrap()
            .get(0)
            .unwrap()
            .get(0)
            .unwrap()
            .get(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap(),
        0.5
    );
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
        batch: 1,
        steps: 80,
        lr: 0.05,
        seed: 0,
        l2_weight: 0.0,
        transforms: true,
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

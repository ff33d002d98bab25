//! Input gradients checked by central finite differences along random directions, through every tower kind and
//! through the layer norms and softmaxes whose fused candle kernels would silently drop the gradient.
//! Directions: the normalised gradient itself and two seeded random unit vectors. Tolerance:
//! |fd − ⟨∇f, d⟩| ≤ 2e-2 · max(|fd|, 0.1‖∇f‖) with ε = 1e-2 in f32 (truncation, rounding, and ReLU kinks crossed within ±ε; the floor keeps
//! a random direction nearly orthogonal to the gradient from demanding more precision than f32 differences have).

use std::path::PathBuf;

use candle_core::{Device, Tensor};
use clipneurons_model::{channel_mean, Clip, Taps};

fn model(dir: &str) -> Clip {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(dir)
        .join("model.safetensors");
    let sd = candle_core::safetensors::load(p, &Device::Cpu).unwrap();
    Clip::from_state_dict(&sd.into_iter().collect()).unwrap()
}

fn objective(m: &Clip, x: &Tensor, tap: &str, ch: usize) -> f32 {
    let mut taps = Taps::named(&[tap]);
    m.forward_image(x, &mut taps).unwrap();
    channel_mean(taps.get(tap).unwrap(), ch)
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Seeded standard-normal-ish values (sum of uniforms), so failures reproduce.
fn seeded(shape: &[usize], seed: u64) -> Tensor {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut uniform = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32
    };
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| (0..4).map(|_| uniform()).sum::<f32>() * 1.732 - 3.464)
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn check(dir: &str, tap: &str, ch: usize) {
    let m = model(dir);
    let s = m.image_size();
    let x = seeded(&[1, 3, s, s], 7);
    let (value, grad) = m.input_gradient(&x, tap, ch).unwrap();
    assert!((value - objective(&m, &x, tap, ch)).abs() < 1e-5);
    let gnorm = grad
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
        .sqrt();
    assert!(gnorm > 1e-6, "{dir} {tap}: the input received no gradient");
    for k in 0..3u64 {
        let d = if k == 0 {
            grad.clone()
        } else {
            seeded(x.dims(), k)
        };
        let d = (&d
            / d.sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .sqrt()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap() as f64)
            .unwrap();
        let eps = 1e-2;
        let fp = objective(&m, &(&x + (&d * eps).unwrap()).unwrap(), tap, ch);
        let fm = objective(&m, &(&x - (&d * eps).unwrap()).unwrap(), tap, ch);
        let fd = (fp - fm) / (2.0 * eps as f32);
        let an = (&grad * &d)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(
            (fd - an).abs() <= 2e-2 * fd.abs().max(0.1 * gnorm),
            "{dir} {tap}:{ch} direction {k}: finite difference {fd} vs analytic {an} (|grad| {gnorm})"
        );
    }
}

#[test]
fn resnet_taps_have_correct_input_gradients() {
    check("rn", "visual.layer1.0.relu2", 1);
    check("rn", "visual.layer4.0.add", 5);
    check("rn", "visual.attnpool", 3);
}

#[test]
fn vit_taps_have_correct_input_gradients() {
    check("vit", "visual.transformer.resblocks.0.mlp.gelu", 7);
    check("vit", "visual.transformer.resblocks.1", 2);
    check("vit", "visual.ln_post", 4);
}

/// Recording from plain pixels must not build an autodiff graph (weights are plain tensors too), while the same
/// pass from a `Var` must.
#[test]
fn forward_only_recording_builds_no_graph() {
    for (dir, tap) in [
        ("rn", "visual.layer4.0.add"),
        ("vit", "visual.transformer.resblocks.1.mlp.gelu"),
    ] {
        let m = model(dir);
        let s = m.image_size();
        let x = seeded(&[1, 3, s, s], 3);
        let mut taps = Taps::named(&[tap]);
        m.forward_image(&x, &mut taps).unwrap();
        assert!(
            !taps.get(tap).unwrap().track_op(),
            "{dir}: forward-only tap tracks a graph"
        );
        let var = candle_core::Var::from_tensor(&x).unwrap();
        let mut taps = Taps::named(&[tap]);
        m.forward_image(var.as_tensor(), &mut taps).unwrap();
        assert!(
            taps.get(tap).unwrap().track_op(),
            "{dir}: gradient path lost the graph"
        );
    }
}

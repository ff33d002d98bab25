//! Faceted feature visualisation on the built-in model with its shipped facet probes: the facet term moves the
//! image towards the facet (the probe's own score rises), the term's gradient matches finite differences, and a
//! missing facet is a clear error.

use candle_core::{Device, Tensor};
use clipneurons_model::Clip;
use clipneurons_viz::facet::{FacetProbes, FacetTerm};
use clipneurons_viz::objective::Objective;
use clipneurons_viz::param::Kind;
use clipneurons_viz::render::{normalise, render, RenderOptions};
use clipneurons_viz::transform::Transforms;

/// The highest-scoring neuron `clipneurons report` lists with its label among its top images in at least 3 facets
/// (on the built-in model: 299, "blue", in the drawing, icon and photo facets), so its visualisation has more than
/// one facet to move between. (The report's very first row, 247 "banana", has all four facets but is nearly
/// silent — its largest spatial maxima are about 0 — and with it the icon term lowered the icon probe's score,
/// −1.3 → −8.2.)
const NEURON: usize = 299;

fn model() -> Clip {
    Clip::from_state_dict(&clipneurons_builtin::checkpoint().unwrap().tensors).unwrap()
}

fn probes(m: &Clip) -> FacetProbes {
    FacetProbes::from_bytes(clipneurons_builtin::facet_probes(), "built-in", m).unwrap()
}

fn options(m: &Clip, neuron: usize, facet: Option<FacetTerm>) -> RenderOptions {
    RenderOptions {
        layer: m.neuron_layer(),
        objective: Objective::Channel(neuron),
        kind: Kind::Fourier,
        size: m.image_size(),
        batch: 1,
        steps: 96,
        lr: 0.05,
        seed: 3,
        l2_weight: 0.0,
        transforms: Transforms::Lucid,
        redirect_steps: 16,
        facet,
        attribution_diversity: None,
    }
}

fn facet_score(m: &Clip, p: &FacetProbes, facet: &str, img: &image::RgbImage) -> f32 {
    let s = m.image_size();
    let px = Tensor::from_vec(
        clipneurons_image::normalize(img),
        (1, 3, s, s),
        &Device::Cpu,
    )
    .unwrap();
    p.score(m, facet, &px).unwrap()[0]
}

#[test]
fn facet_strength_moves_the_image_towards_the_facet() {
    let m = model();
    let p = probes(&m);
    let neuron = NEURON;
    let plain = render(&m, &options(&m, neuron, None), |_, _| {}).unwrap();
    for facet in ["drawing", "text", "photo", "icon"] {
        let term = FacetTerm {
            probes: p.get(facet).unwrap().clone(),
            strength: (5.0, 5.0),
            relu_gradient: true,
        };
        let faceted = render(&m, &options(&m, neuron, Some(term)), |_, _| {}).unwrap();
        let (a, b) = (
            facet_score(&m, &p, facet, &plain.images[0]),
            facet_score(&m, &p, facet, &faceted.images[0]),
        );
        eprintln!(
            "{facet}: probe score {a:.2} without the term, {b:.2} with it (neuron objective {:.2} -> {:.2})",
            plain.final_objective, faceted.final_objective
        );
        // The facet's own classifier now calls the picture that facet, and more so than without the term.
        assert!(b > a && b > 0.0, "{facet}: {a} -> {b}");
    }
    let err = p.get("sculpture").err().unwrap().to_string();
    assert!(
        err.contains("no probe for facet 'sculpture'") && err.contains("drawing"),
        "{err}"
    );
}

#[test]
fn facet_term_gradient_matches_finite_differences() {
    let m = model();
    let p = probes(&m);
    let term = FacetTerm {
        probes: p.get("drawing").unwrap().clone(),
        strength: (1.0, 2.0),
        relu_gradient: true,
    };
    let layer = term.probes[0].layer.clone();
    let s = m.image_size();
    let mut rng = clipneurons_viz::Rng::new(8);
    let v: Vec<f32> = (0..2 * 3 * s * s).map(|_| rng.f64() as f32).collect();
    let x0 = Tensor::from_vec(v, (2, 3, s, s), &Device::Cpu).unwrap();
    let x = candle_core::Var::from_tensor(&x0).unwrap();
    // The neuron objective's gradient at the facet layer, at x0, held fixed.
    let layers = [layer.clone(), m.neuron_layer()];
    let rec = m
        .record(Some(&normalise(x.as_tensor()).unwrap()), None, &layers)
        .unwrap();
    let obj = Objective::Channel(NEURON).value(&rec[1].1).unwrap();
    let grads = candle_core::backprop::with_all_grads_kept(|| obj.backward()).unwrap();
    let g_fixed = grads
        .get(&rec[0].1)
        .expect("the facet layer's gradient is kept")
        .detach();
    let f = |t: &Tensor| {
        let r = m
            .record(
                Some(&normalise(t).unwrap()),
                None,
                std::slice::from_ref(&layer),
            )
            .unwrap();
        term.value(&[r[0].1.clone()], std::slice::from_ref(&g_fixed))
            .unwrap()
    };
    let g = f(x.as_tensor()).backward().unwrap();
    let g = g
        .get(x.as_tensor())
        .expect("the input receives a gradient from the facet term")
        .clone();
    let mut rng = clipneurons_viz::Rng::new(9);
    let d: Vec<f32> = (0..2 * 3 * s * s).map(|_| rng.normal() as f32).collect();
    let dir = Tensor::from_vec(d, (2, 3, s, s), &Device::Cpu).unwrap();
    let analytic = (&g * &dir)
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap() as f64;
    let eps = 1e-3;
    let at = |sign: f64| {
        f(&(&x0 + (&dir * (sign * eps)).unwrap()).unwrap())
            .to_scalar::<f32>()
            .unwrap() as f64
    };
    let fd = (at(1.0) - at(-1.0)) / (2.0 * eps);
    eprintln!("facet term: finite difference {fd:.5e}, analytic {analytic:.5e}");
    // ReLUs below the facet layer make the term piecewise smooth: a 5% tolerance, as the whole-objective check.
    assert!(
        (fd - analytic).abs() <= 0.05 * analytic.abs().max(1e-3),
        "{fd} vs {analytic}"
    );
}

/// The article's diversity variant: Gram diversity on g(x) ⊙ ∇f(g(x)) pushes the batch's attributions apart.
#[test]
fn attribution_diversity_spreads_the_attributions() {
    let m = model();
    let layer = clipneurons_viz::facet::default_layers(&m)[0].clone();
    let neuron = NEURON;
    let attribution_spread = |imgs: &[image::RgbImage]| {
        let s = m.image_size();
        let px: Vec<Tensor> = imgs
            .iter()
            .map(|i| {
                Tensor::from_vec(clipneurons_image::normalize(i), (3, s, s), &Device::Cpu).unwrap()
            })
            .collect();
        // A variable, so that the graph tracks the gradient down to the attribution layer.
        let x = candle_core::Var::from_tensor(&Tensor::stack(&px, 0).unwrap()).unwrap();
        let rec = m
            .record(
                Some(x.as_tensor()),
                None,
                &[layer.clone(), m.neuron_layer()],
            )
            .unwrap();
        let obj = Objective::Channel(neuron).value(&rec[1].1).unwrap();
        let grads = candle_core::backprop::with_all_grads_kept(|| obj.backward()).unwrap();
        let g = grads.get(&rec[0].1).unwrap();
        Objective::Diversity
            .value(&(&rec[0].1 * g).unwrap())
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let base = RenderOptions {
        batch: 3,
        steps: 40,
        ..options(&m, neuron, None)
    };
    let plain = render(&m, &base, |_, _| {}).unwrap();
    let diverse = render(
        &m,
        &RenderOptions {
            attribution_diversity: Some((layer.clone(), 100.0)),
            ..base.clone()
        },
        |_, _| {},
    )
    .unwrap();
    let (a, b) = (
        attribution_spread(&plain.images),
        attribution_spread(&diverse.images),
    );
    eprintln!("attribution diversity of the batch: plain {a:.3}, with the term {b:.3}");
    assert!(b > a, "{b} vs {a}");
}

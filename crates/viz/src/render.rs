//! Gradient ascent: transform the parametrised image, normalise it as CLIP expects, run the image tower to the
//! layer, and step Adam on the objective (plus an optional pull towards grey).

use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use clipneurons_image::{OPENAI_MEAN, OPENAI_STD};
use clipneurons_model::Clip;
use serde::Serialize;

use crate::facet::FacetTerm;
use crate::objective::{l2_to_grey, Objective};
use crate::param::{ImageParam, Kind};
use crate::transform::Transforms;
use crate::{Result, Rng, VizError};

#[derive(Clone)]
pub struct RenderOptions {
    pub layer: String,
    pub objective: Objective,
    pub kind: Kind,
    /// Side of the optimised image; the transforms end at the model's input side.
    pub size: usize,
    pub batch: usize,
    pub steps: usize,
    pub lr: f64,
    pub seed: u64,
    /// Weight of the pull towards grey (OpenAI's CLIP recipe: 10; Lucid: 0).
    pub l2_weight: f64,
    /// The random transforms applied each step.
    pub transforms: Transforms,
    /// For this many first steps ReLUs pass Lucid's redirected gradient, so units that start dead still move
    /// (Lucid: 16; 0 turns it off).
    pub redirect_steps: usize,
    /// Faceted feature visualisation's extra term, if any.
    pub facet: Option<FacetTerm>,
    /// The article's diversity variant: Lucid's Gram diversity on the attribution `g(x) ⊙ ∇f(g(x))` at this
    /// layer (gradient held constant), with this weight.
    pub attribution_diversity: Option<(String, f64)>,
}

#[derive(Serialize)]
pub struct Rendered {
    /// Objective (without the grey pull) after each step, on that step's transformed batch.
    pub objective: Vec<f32>,
    /// The layer objective on the final, untransformed images.
    pub final_objective: f32,
    /// Mean wall time of one optimisation step (parametrisation, transforms, forward to the layer, input
    /// gradient, Adam), over the steps after the first (the first also allocates; it is the mean of all when
    /// there is only one).
    pub seconds_per_step: f64,
    #[serde(skip)]
    pub images: Vec<image::RgbImage>,
}

/// `(rgb − mean) / std` per channel.
pub fn normalise(rgb: &Tensor) -> Result<Tensor> {
    let mean = Tensor::from_vec(OPENAI_MEAN.to_vec(), (1, 3, 1, 1), &Device::Cpu)?;
    let std = Tensor::from_vec(OPENAI_STD.to_vec(), (1, 3, 1, 1), &Device::Cpu)?;
    Ok(rgb.broadcast_sub(&mean)?.broadcast_div(&std)?)
}

/// One step's objective on the transformed batch `x`, and the terms that need the objective's gradient at a
/// lower layer, held constant (the faceted term, attribution diversity): those take one extra backward pass.
fn step_objective(
    model: &Clip,
    x: &Tensor,
    opts: &RenderOptions,
) -> Result<(Tensor, Option<Tensor>)> {
    let mut grad_layers: Vec<String> = opts
        .facet
        .iter()
        .flat_map(|f| f.probes.iter().map(|p| p.layer.clone()))
        .collect();
    if let Some((l, _)) = &opts.attribution_diversity {
        grad_layers.push(l.clone());
    }
    if grad_layers.is_empty() {
        return Ok((objective_on(model, x, &opts.layer, &opts.objective)?, None));
    }
    // Each layer once (the tap recorder stops early only when every name it was given is recorded).
    let mut names = grad_layers;
    names.push(opts.layer.clone());
    names.sort();
    names.dedup();
    let rec = model.record(Some(&normalise(x)?), None, &names)?;
    let find = |name: &str| {
        rec.iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| VizError::Input(format!("layer {name} was not recorded")))
    };
    let obj = opts.objective.value(&find(&opts.layer)?)?;
    let grads = candle_core::backprop::with_all_grads_kept(|| obj.backward())?;
    // A layer's activation and the objective's gradient there (detached: held constant).
    let with_grad = |l: &str| -> Result<(Tensor, Tensor)> {
        let a = find(l)?;
        let g = grads.get(&a).ok_or_else(|| {
            VizError::Input(format!(
                "layer {l} gets no gradient from {}: it must lie before it",
                opts.layer
            ))
        })?;
        Ok((a, g.detach()))
    };
    let mut extra: Option<Tensor> = None;
    let mut add = |t: Tensor| -> Result<()> {
        extra = Some(match extra.take() {
            None => t,
            Some(e) => (e + t)?,
        });
        Ok(())
    };
    if let Some(f) = &opts.facet {
        let (acts, at): (Vec<Tensor>, Vec<Tensor>) = f
            .probes
            .iter()
            .map(|p| with_grad(&p.layer))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip();
        add(f.value(&acts, &at)?)?;
    }
    if let Some((l, w)) = &opts.attribution_diversity {
        let (a, g) = with_grad(l)?;
        add((Objective::Diversity.value(&(a * g)?)? * *w)?)?;
    }
    Ok((obj, extra))
}

/// The objective on `rgb` `[B, 3, S, S]` in [0, 1].
pub fn objective_on(model: &Clip, rgb: &Tensor, layer: &str, obj: &Objective) -> Result<Tensor> {
    let rec = model.record(Some(&normalise(rgb)?), None, &[layer.to_string()])?;
    obj.value(&rec[0].1)
}

fn to_images(rgb: &Tensor) -> Result<Vec<image::RgbImage>> {
    let (b, _, h, w) = rgb.dims4()?;
    let v = (rgb.clamp(0.0, 1.0)? * 255.0)?
        .round()?
        .to_dtype(candle_core::DType::U8)?;
    let v = v
        .permute((0, 2, 3, 1))?
        .contiguous()?
        .flatten_all()?
        .to_vec1::<u8>()?;
    Ok((0..b)
        .map(|i| {
            let px = v[i * h * w * 3..(i + 1) * h * w * 3].to_vec();
            image::RgbImage::from_raw(w as u32, h as u32, px).expect("sized")
        })
        .collect())
}

pub fn render(
    model: &Clip,
    opts: &RenderOptions,
    mut progress: impl FnMut(usize, f32),
) -> Result<Rendered> {
    if opts.batch == 0 || opts.steps == 0 {
        return Err(VizError::Input("batch and steps must be at least 1".into()));
    }
    let size = model.image_size();
    let mut rng = Rng::new(opts.seed);
    let param = ImageParam::new(opts.kind, opts.batch, opts.size, 0.01, &mut rng)?;
    let mut adam = AdamW::new(
        param.vars.clone(),
        ParamsAdamW {
            lr: opts.lr,
            weight_decay: 0.0, // plain Adam, as Lucid
            ..ParamsAdamW::default()
        },
    )?;
    let mut trace = Vec::with_capacity(opts.steps);
    let mut step_times = Vec::with_capacity(opts.steps);
    for t in 1..=opts.steps {
        let started = std::time::Instant::now();
        let rgb = param.rgb()?;
        let x = opts.transforms.apply(&rgb, size, &mut rng)?;
        let forward = || step_objective(model, &x, opts);
        let (obj, facet_term) = if t <= opts.redirect_steps {
            clipneurons_model::with_redirected_relu(forward)?
        } else {
            forward()?
        };
        let mut total = obj.clone();
        if let Some(f) = facet_term {
            total = (total + f)?;
        }
        if opts.l2_weight != 0.0 {
            total = (total + (l2_to_grey(&rgb)? * opts.l2_weight)?)?;
        }
        let grads = total.neg()?.backward()?;
        // The optimizer skips variables without a gradient; for the image that would be a silent no-op.
        if param
            .vars
            .iter()
            .any(|v| grads.get(v.as_tensor()).is_none())
        {
            return Err(VizError::Input(format!(
                "the image received no gradient from {}",
                opts.layer
            )));
        }
        adam.step(&grads)?;
        let o = obj.to_scalar::<f32>()?;
        step_times.push(started.elapsed().as_secs_f64());
        trace.push(o);
        progress(t, o);
    }
    let rgb = param.rgb()?.detach();
    let final_objective = objective_on(
        model,
        &Transforms::None.apply(&rgb, size, &mut rng)?,
        &opts.layer,
        &opts.objective,
    )?
    .to_scalar::<f32>()?;
    let timed = if step_times.len() > 1 {
        &step_times[1..]
    } else {
        &step_times[..]
    };
    Ok(Rendered {
        objective: trace,
        final_objective,
        seconds_per_step: timed.iter().sum::<f64>() / timed.len() as f64,
        images: to_images(&rgb)?,
    })
}

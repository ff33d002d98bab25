//! Trainer tests on a tiny configuration (fast in the test profile on 2 cores).

use candle_core::Tensor;
use clipneurons_model::{Clip, VisionConfig};
use clipneurons_tokenizer::Tokenizer;
use clipneurons_train::data::render_batch;
use clipneurons_train::loss::{contrastive_loss, soft_targets};
use clipneurons_train::{init_state_dict, ModelShape, TrainConfig, TrainError, Trainer};
use clipneurons_world::World;

fn tiny(steps: u64) -> TrainConfig {
    TrainConfig {
        model: ModelShape::tiny(),
        steps,
        batch: 16,
        seed: 7,
        lr: 1e-3,
        warmup_steps: 5,
        // Two batches' worth of samples, revisited: 30 steps of fresh data are too few for a clear drop, and a
        // fixed set the model can fit makes "the loss goes down" a sharp test of the whole update path.
        data_pool: Some(32),
        ..TrainConfig::default()
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn init_loads_with_the_intended_shape() {
    let shape = ModelShape::default();
    let state = init_state_dict(&shape, 0).unwrap();
    let model = Clip::from_state_dict(&state.state_dict()).unwrap();
    match model.config.vision {
        VisionConfig::Resnet {
            layers,
            width,
            image_size,
            ..
        } => {
            assert_eq!(layers, shape.layers);
            assert_eq!(width, shape.width);
            assert_eq!(image_size, shape.image_size);
        }
        _ => panic!("expected a ResNet"),
    }
    assert_eq!(model.config.embed_dim, shape.embed_dim);
    assert_eq!(model.config.text.context_length, shape.context_length);
    assert_eq!(model.config.text.layers, shape.text_layers);
    assert!((model.logit_scale - (1.0f32 / 0.07).ln()).abs() < 1e-6);
    // Frozen statistics are buffers, not parameters; bn3 γ starts at zero (zero-init residual).
    assert!(state.buffers.keys().all(|k| k.contains("running_")));
    let g = state.params["visual.layer1.0.bn3.weight"].as_tensor();
    assert_eq!(
        g.abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap(),
        0.0
    );
    // Deterministic in the seed.
    let again = init_state_dict(&shape, 0).unwrap();
    let k = "visual.attnpool.q_proj.weight";
    assert_eq!(
        max_abs_diff(state.params[k].as_tensor(), again.params[k].as_tensor()),
        0.0
    );
}

#[test]
fn schedule_warms_up_then_decays() {
    let cfg = TrainConfig {
        steps: 100,
        warmup_steps: 10,
        lr: 1e-3,
        ..TrainConfig::default()
    };
    assert!((cfg.lr_at(0) - 1e-4).abs() < 1e-12);
    assert!((cfg.lr_at(9) - 1e-3).abs() < 1e-12);
    assert!(cfg.lr_at(50) < cfg.lr_at(10) && cfg.lr_at(99) < cfg.lr_at(50));
    assert!(cfg.lr_at(99) >= 0.0);
}

#[test]
fn soft_targets_share_mass_between_identical_captions() {
    let caps: Vec<String> = ["a", "b", "a"].iter().map(|s| s.to_string()).collect();
    let t = soft_targets(&caps).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(t[0], vec![0.5, 0.0, 0.5]);
    assert_eq!(t[1], vec![0.0, 1.0, 0.0]);
}

#[test]
fn loss_decreases_over_30_steps() {
    let mut tr = Trainer::new(tiny(30)).unwrap();
    let mut losses = Vec::new();
    while !tr.done() {
        losses.push(tr.train_step().unwrap().loss);
    }
    let first: f32 = losses[..5].iter().sum::<f32>() / 5.0;
    let last: f32 = losses[25..].iter().sum::<f32>() / 5.0;
    eprintln!("losses: {losses:?}");
    assert!(
        last < first - 0.5,
        "loss did not decrease clearly: first5 {first}, last5 {last}"
    );
}

/// A trainer after two steps, and its weights exported as f32 and read back with the checkpoint loader.
fn trained_and_exported() -> (Trainer, clipneurons_checkpoint::Checkpoint) {
    let mut tr = Trainer::new(tiny(2)).unwrap();
    tr.train_step().unwrap();
    tr.train_step().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    tr.export(&path, clipneurons_checkpoint::StoreDtype::F32)
        .unwrap();
    let ck = clipneurons_checkpoint::load(&path).unwrap();
    (tr, ck)
}

#[test]
fn exported_weights_give_the_trainers_embeddings() {
    let (tr, ck) = trained_and_exported();
    let loaded = Clip::from_state_dict(&ck.tensors).unwrap();
    let ours = tr.model().unwrap();
    let world = World::with_size(32);
    let batch = render_batch(&world, &Tokenizer::new(), &tr.cfg, 1000).unwrap();
    let (a, b) = (
        ours.encode_image(&batch.pixels).unwrap(),
        loaded.encode_image(&batch.pixels).unwrap(),
    );
    assert!(max_abs_diff(&a, &b) < 1e-5);
    let (a, b) = (
        ours.encode_text(&batch.tokens).unwrap(),
        loaded.encode_text(&batch.tokens).unwrap(),
    );
    assert!(max_abs_diff(&a, &b) < 1e-5);
    assert!((ours.logit_scale - loaded.logit_scale).abs() < 1e-6);
}

#[test]
fn warm_start_continues_from_exported_weights_and_refuses_another_shape() {
    let (tr, ck) = trained_and_exported();
    // A different seed: a warm start that silently kept the random initialisation would differ from `tr`.
    let warm = Trainer::warm_start(
        TrainConfig {
            seed: 99,
            ..tiny(3)
        },
        &ck.tensors,
    )
    .unwrap();
    assert_eq!(warm.step, 0);
    let (a, b) = (
        tr.state.detached_state_dict(),
        warm.state.detached_state_dict(),
    );
    assert_eq!(a.len(), b.len());
    for (k, t) in &a {
        assert!(
            max_abs_diff(t, &b[k]) == 0.0,
            "{k} differs after warm start"
        );
    }
    let mut warm = warm;
    warm.train_step().unwrap();
    let wider = TrainConfig {
        model: ModelShape {
            width: 16,
            ..ModelShape::tiny()
        },
        ..tiny(3)
    };
    let err = Trainer::warm_start(wider, &ck.tensors)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("do not fit") && err.contains("needs"), "{err}");
    let mut partial = ck.tensors.clone();
    partial.remove("text_projection");
    let err = Trainer::warm_start(tiny(3), &partial)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("missing `text_projection`"), "{err}");
}

#[test]
fn resume_equals_an_uninterrupted_run() {
    let cfg = tiny(6);
    let mut a = Trainer::new(cfg.clone()).unwrap();
    let la: Vec<f32> = (0..6).map(|_| a.train_step().unwrap().loss).collect();

    let dir = tempfile::tempdir().unwrap();
    let mut b = Trainer::new(cfg).unwrap();
    let mut lb: Vec<f32> = (0..3).map(|_| b.train_step().unwrap().loss).collect();
    b.save_checkpoint(dir.path()).unwrap();
    drop(b);
    let mut c = Trainer::load_checkpoint(dir.path()).unwrap();
    assert_eq!(c.step, 3);
    lb.extend((0..3).map(|_| c.train_step().unwrap().loss));
    for (x, y) in la.iter().zip(&lb) {
        assert!(
            (x - y).abs() < 1e-5,
            "trajectories differ: {la:?} vs {lb:?}"
        );
    }
    for (k, v) in &a.state.params {
        let d = max_abs_diff(v.as_tensor(), c.state.params[k].as_tensor());
        assert!(d < 1e-5, "{k} differs by {d}");
    }
}

#[test]
fn corrupt_checkpoints_are_rejected_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let mut tr = Trainer::new(tiny(2)).unwrap();
    tr.train_step().unwrap();
    tr.save_checkpoint(dir.path()).unwrap();
    let file = clipneurons_train::checkpoint::checkpoint_file(dir.path());
    let bytes = std::fs::read(&file).unwrap();
    // Truncated.
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let err = Trainer::load_checkpoint(dir.path())
        .err()
        .expect("must fail");
    assert!(matches!(err, TrainError::CorruptCheckpoint { .. }), "{err}");
    // Garbage.
    std::fs::write(&file, b"not a checkpoint").unwrap();
    let err = Trainer::load_checkpoint(dir.path())
        .err()
        .expect("must fail");
    assert!(err.to_string().contains("corrupt"), "{err}");
    // Missing.
    let empty = tempfile::tempdir().unwrap();
    assert!(Trainer::load_checkpoint(empty.path()).is_err());
}

#[test]
fn gradients_reach_every_parameter() {
    // After one update the zero-initialised bn3 gains are non-zero, so every residual branch carries gradient.
    let mut tr = Trainer::new(tiny(3)).unwrap();
    tr.train_step().unwrap();
    let world = World::with_size(32);
    let batch = render_batch(&world, &Tokenizer::new(), &tr.cfg, 1).unwrap();
    let model = Clip::from_state_dict(&tr.state.state_dict()).unwrap();
    let img = model.encode_image(&batch.pixels).unwrap();
    let txt = model.encode_text(&batch.tokens).unwrap();
    let targets = soft_targets(&batch.captions).unwrap();
    let out = contrastive_loss(&img, &txt, &tr.state.params["logit_scale"], &targets).unwrap();
    let grads = out.loss.backward().unwrap();
    for (k, v) in &tr.state.params {
        // A key bias shifts every score of a query equally: softmax ignores it, its gradient is exactly 0.
        if k.ends_with("k_proj.bias") {
            continue;
        }
        let g = grads
            .get(v.as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {k}"));
        let n = g
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(n > 0.0 && n.is_finite(), "gradient of {k} is {n}");
    }
}

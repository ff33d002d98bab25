//! `clipneurons train`: contrastive training of the built-in CLIP on the synthetic world, with periodic atomic
//! checkpoints in `OUT.ckpt/` so an interrupted run loses at most a few minutes and resumes exactly.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clipneurons_train::checkpoint::checkpoint_file;
use clipneurons_train::{TrainConfig, Trainer};
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::TrainArgs;

/// `F.safetensors` → `F.safetensors.ckpt/`.
fn checkpoint_dir(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".ckpt");
    PathBuf::from(s)
}

/// Fail before hours of training rather than after: both the weights' folder and the checkpoint folder must be
/// writable.
fn check_writable(out: &Path, ckpt: &Path) -> Result<()> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        bail!(
            "cannot write {}: folder {} does not exist",
            out.display(),
            parent.display()
        );
    }
    if out.is_dir() {
        bail!(
            "--out {} is a folder; give a file name such as model.safetensors",
            out.display()
        );
    }
    std::fs::create_dir_all(ckpt)
        .with_context(|| format!("cannot create checkpoint folder {}", ckpt.display()))?;
    for dir in [&parent, &ckpt.to_path_buf()] {
        let probe = dir.join(".clipneurons-write-probe");
        std::fs::write(&probe, b"")
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        let _ = std::fs::remove_file(&probe);
    }
    Ok(())
}

fn fresh_config(a: &TrainArgs) -> TrainConfig {
    let mut cfg = TrainConfig::default();
    if let Some(v) = a.steps {
        cfg.steps = v;
    }
    if let Some(v) = a.batch {
        cfg.batch = v;
    }
    if let Some(v) = a.seed {
        cfg.seed = v;
    }
    if let Some(v) = a.size {
        cfg.model.image_size = v;
    }
    if let Some(v) = a.width {
        cfg.model.width = v;
    }
    if let Some(v) = a.lr {
        cfg.lr = v;
    }
    cfg.warmup_steps = a
        .warmup
        .unwrap_or_else(|| cfg.warmup_steps.min(cfg.steps / 10));
    cfg
}

/// On `--resume` the checkpoint's recipe rules; a flag that disagrees with it would silently change the run.
fn check_resume_flags(a: &TrainArgs, cfg: &TrainConfig) -> Result<()> {
    let mut clash = Vec::new();
    let mut check = |flag: &str, given: Option<String>, stored: String| {
        if let Some(g) = given {
            if g != stored {
                clash.push(format!("--{flag} {g} (the run uses {stored})"));
            }
        }
    };
    check(
        "steps",
        a.steps.map(|v| v.to_string()),
        cfg.steps.to_string(),
    );
    check(
        "batch",
        a.batch.map(|v| v.to_string()),
        cfg.batch.to_string(),
    );
    check("seed", a.seed.map(|v| v.to_string()), cfg.seed.to_string());
    check(
        "size",
        a.size.map(|v| v.to_string()),
        cfg.model.image_size.to_string(),
    );
    check(
        "width",
        a.width.map(|v| v.to_string()),
        cfg.model.width.to_string(),
    );
    check("lr", a.lr.map(|v| v.to_string()), cfg.lr.to_string());
    check(
        "warmup",
        a.warmup.map(|v| v.to_string()),
        cfg.warmup_steps.to_string(),
    );
    if !clash.is_empty() {
        bail!(
            "--resume continues the stored run; these flags contradict it: {}. Drop them, or start a new run with \
             another --out",
            clash.join(", ")
        );
    }
    Ok(())
}

#[derive(Default)]
struct Totals {
    n: u32,
    wait: Duration,
    render: Duration,
    forward: Duration,
    backward: Duration,
    optimizer: Duration,
}

pub fn run(a: TrainArgs) -> Result<()> {
    let ckpt = checkpoint_dir(&a.out);
    // Bad flags are reported before anything is created on disk.
    let fresh = fresh_config(&a);
    if !a.resume {
        fresh.validate()?;
    }
    check_writable(&a.out, &ckpt)?;
    let mut trainer = if a.resume {
        let t = Trainer::load_checkpoint(&ckpt).with_context(|| {
            format!(
                "cannot resume from {} (nothing was changed)",
                ckpt.display()
            )
        })?;
        check_resume_flags(&a, &t.cfg)?;
        eprintln!("resuming at step {} of {}", t.step, t.cfg.steps);
        t
    } else {
        if checkpoint_file(&ckpt).exists() {
            bail!(
                "{} already holds a checkpoint; pass --resume to continue it, or delete it to start over",
                ckpt.display()
            );
        }
        match &a.init {
            None => Trainer::new(fresh)?,
            Some(path) => {
                let ckpt = clipneurons_checkpoint::load(path)
                    .with_context(|| format!("cannot read --init weights {}", path.display()))?;
                let sha = clipneurons_checkpoint::file_sha256(path)?;
                let mut cfg = fresh;
                cfg.init_from = Some(format!("{} sha256:{sha}", path.display()));
                eprintln!("starting from the weights in {}", path.display());
                Trainer::warm_start(cfg, &ckpt.tensors)
                    .with_context(|| format!("cannot start from {}", path.display()))?
            }
        }
    };
    let cfg = trainer.cfg.clone();
    eprintln!(
        "training ModifiedResNet CLIP: layers {:?}, width {}, {} px, embed {}, text {}x{}, context {}; batch {}, \
         {} steps, lr {}, seed {}",
        cfg.model.layers,
        cfg.model.width,
        cfg.model.image_size,
        cfg.model.embed_dim,
        cfg.model.text_layers,
        cfg.model.text_width,
        cfg.model.context_length,
        cfg.batch,
        cfg.steps,
        cfg.lr,
        cfg.seed
    );
    let bar = if a.log_every.is_none() && std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(cfg.steps);
        pb.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
            )
            .expect("valid template"),
        );
        pb.set_position(trainer.step);
        Some(pb)
    } else {
        None
    };
    let log_every = a.log_every.unwrap_or(50);
    let every = Duration::from_secs_f64(a.checkpoint_minutes.max(0.0) * 60.0);
    let mut last_save = (trainer.step, Instant::now());
    let mut totals = Totals::default();
    let (mut loss_avg, mut acc_avg) = (None::<f32>, 0f32);
    while !trainer.done() && !a.export_only {
        let s = trainer.train_step()?;
        totals.n += 1;
        totals.wait += s.data_wait;
        totals.render += s.render;
        totals.forward += s.forward;
        totals.backward += s.backward;
        totals.optimizer += s.optimizer;
        // Smoothed for display: single-batch loss and accuracy are noisy.
        let (l, acc) = match loss_avg {
            None => (s.loss, s.accuracy),
            Some(l) => (0.95 * l + 0.05 * s.loss, 0.95 * acc_avg + 0.05 * s.accuracy),
        };
        loss_avg = Some(l);
        acc_avg = acc;
        let msg = format!(
            "loss {l:.3} acc {:.1}% T {:.1} lr {:.2e}",
            acc * 100.0,
            s.temperature_scale,
            s.lr
        );
        match &bar {
            Some(pb) => {
                pb.set_position(trainer.step);
                pb.set_message(msg);
            }
            None if log_every > 0 && trainer.step % log_every == 0 => {
                eprintln!("step {}/{}: {msg}", trainer.step, cfg.steps)
            }
            None => {}
        }
        if trainer.step - last_save.0 >= a.checkpoint_steps.max(1) || last_save.1.elapsed() >= every
        {
            trainer
                .save_checkpoint(&ckpt)
                .with_context(|| "cannot write the checkpoint")?;
            last_save = (trainer.step, Instant::now());
        }
    }
    if let Some(pb) = &bar {
        pb.finish();
    }
    if !a.export_only {
        trainer.save_checkpoint(&ckpt)?;
    }
    let dtype = if a.half {
        clipneurons_checkpoint::StoreDtype::F16
    } else {
        clipneurons_checkpoint::StoreDtype::F32
    };
    trainer.export(&a.out, dtype)?;
    if totals.n > 0 {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0 / totals.n as f64;
        eprintln!(
            "per step: {:.0} ms forward, {:.0} ms backward, {:.0} ms optimizer, {:.0} ms waiting for data \
             (rendering took {:.0} ms on the background thread)",
            ms(totals.forward),
            ms(totals.backward),
            ms(totals.optimizer),
            ms(totals.wait),
            ms(totals.render)
        );
    }
    let minutes = trainer.train_time.map_or("an unrecorded time".into(), |t| {
        format!("{:.1} minutes", t.as_secs_f64() / 60.0)
    });
    eprintln!(
        "wrote {} after {minutes} of training (checkpoint in {})",
        a.out.display(),
        ckpt.display()
    );
    Ok(())
}

//! `attack`, `stroop` and `probe train`: the typographic-attack experiments (crate `clipneurons-attack`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clipneurons_attack::classifier::{LinearProbe, ProbeOptions};
use clipneurons_attack::images::{normalise_label, ImageSet};
use clipneurons_attack::overlay::Protocol;
use clipneurons_attack::report::{attack_markdown, stroop_markdown};
use clipneurons_attack::run::{attack, search_words, AttackOptions, ClassifierSpec};
use clipneurons_attack::stroop::stroop;
use clipneurons_model::Clip;
use clipneurons_world::{Split, World};
use image::RgbImage;

use crate::args::{AttackArgs, LabelledImages, ModelArg, ProbeCommand};
use crate::commands::parse_labels;
use crate::io::load_model;

/// Make `dir` and check that it takes files, before any work is done that a failed write would lose.
pub fn writable_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create the output folder", dir.display()))?;
    let probe = dir.join(".clipneurons-write-test");
    std::fs::write(&probe, b"")
        .with_context(|| format!("{}: the output folder is not writable", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Check that `path` can be written (its folder exists and takes files) before the work that produces it.
pub fn writable_file(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        bail!(
            "{}: the folder {} does not exist",
            path.display(),
            dir.display()
        );
    }
    writable_dir(dir).with_context(|| format!("cannot write {}", path.display()))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    clipneurons_checkpoint::write_atomic(path, bytes)?;
    Ok(())
}

fn write_png(path: &Path, img: &RgbImage) -> Result<()> {
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Png)
        .with_context(|| format!("{}: cannot encode PNG", path.display()))?;
    write_file(path, buf.get_ref())
}

/// The images and labels of `input`: world photos (labels default to every concept name) or files (labels
/// required).
fn labelled(model: &Clip, input: &LabelledImages) -> Result<(ImageSet, Option<Vec<String>>)> {
    let size = model.image_size();
    let labels = input.labels.as_deref().map(parse_labels).transpose()?;
    let set = match &input.world {
        Some(split) => {
            let split: Split = split.parse().map_err(anyhow::Error::msg)?;
            if input.per_concept == 0 {
                bail!("--per-concept must be at least 1");
            }
            let set = ImageSet::world_objects(split, input.per_concept, size, input.seed);
            let labels = labels.unwrap_or_else(|| {
                World::new()
                    .concepts()
                    .iter()
                    .map(|c| c.name.clone())
                    .collect()
            });
            return Ok((set, Some(labels)));
        }
        None if input.images.is_empty() => bail!("give --images DIR... or --world SPLIT"),
        None => ImageSet::from_paths(&input.images, size)?,
    };
    for (path, why) in &set.skipped {
        eprintln!("skipped {path}: {why}");
    }
    if set.is_empty() {
        bail!(
            "none of the {} image files could be read (see the messages above)",
            set.skipped.len()
        );
    }
    Ok((set, labels))
}

fn slug(word: &str) -> String {
    let s: String = word
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.is_empty() {
        "word".into()
    } else {
        s
    }
}

pub fn run_attack(a: AttackArgs) -> Result<()> {
    let protocol: Protocol = a.protocol.parse().map_err(anyhow::Error::msg)?;
    if let Some(out) = &a.out {
        writable_dir(out)?;
    }
    let m = load_model(&a.model)?;
    let spec = match a.classifier.as_str() {
        "zero-shot" => ClassifierSpec::ZeroShot {
            template: a.template.clone(),
        },
        other => match other.strip_prefix("probe:") {
            Some(file) => {
                ClassifierSpec::Probe(LinearProbe::load(Path::new(file), m.config.embed_dim)?)
            }
            None => bail!("unknown --classifier '{other}' (use zero-shot or probe:FILE)"),
        },
    };
    if let ClassifierSpec::Probe(p) = &spec {
        // Checked before any image is read: a probe cannot report a class it was not trained on.
        if let Some(w) = a.text.iter().find(|w| {
            !p.labels
                .iter()
                .any(|l| normalise_label(l) == normalise_label(w))
        }) {
            bail!("the attack word '{w}' is not one of the probe's labels; a linear probe can only report its own classes (use the zero-shot classifier, or train the probe with this class)");
        }
    }
    let (set, labels) = labelled(&m, &a.input)?;
    let labels = match (&spec, labels) {
        // With a probe the classes are the probe's (a world run's default label list does not apply).
        (ClassifierSpec::Probe(p), _) if a.input.labels.is_none() => p.labels.clone(),
        (ClassifierSpec::Probe(p), Some(l)) => {
            if l.iter()
                .map(|x| normalise_label(x))
                .ne(p.labels.iter().map(|x| normalise_label(x)))
            {
                bail!("--labels differ from the probe's own labels; leave --labels out when using a probe");
            }
            l
        }
        (_, Some(l)) => l,
        (_, None) => bail!("give the class labels: --labels a,b,c or --labels FILE"),
    };
    for w in a
        .text
        .iter()
        .filter(|_| matches!(spec, ClassifierSpec::ZeroShot { .. }))
    {
        if !labels
            .iter()
            .any(|l| normalise_label(l) == normalise_label(w))
        {
            eprintln!("note: the attack word '{w}' is not one of the labels; it is added to the label set");
        }
    }
    if a.search {
        eprintln!(
            "trying each of {} labels as the attack text on {} images...",
            labels.len(),
            set.items.len()
        );
        let ranked = search_words(&m, &set, &labels, spec, protocol, a.batch)?;
        let top: Vec<_> = ranked.into_iter().take(a.top).collect();
        if a.json {
            let rows: Vec<_> = top
                .iter()
                .map(
                    |(w, s, c)| serde_json::json!({"word": w, "success_rate": s, "pixel_cover": c}),
                )
                .collect();
            println!("{}", serde_json::json!({ "search": rows }));
        } else {
            println!("| attack text | success | pixel cover |\n|---|---|---|");
            for (w, s, c) in &top {
                println!("| {w} | {:.1}% | {:.1}% |", 100.0 * s, 100.0 * c);
            }
        }
        if a.text.is_empty() {
            return Ok(());
        }
        bail!("--search ranks words by itself; run the chosen words again without --search");
    }
    let opts = AttackOptions {
        protocol,
        batch: a.batch,
        examples: a.examples,
        neuron_layer: Some(a.layer.clone().unwrap_or_else(|| m.neuron_layer())),
        top_neurons: a.neurons,
        vocab: Vec::new(),
    };
    let report = attack(&m, &set, &labels, spec, &a.text, &opts)?;
    let md = attack_markdown(&report);
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(out) = &a.out {
        write_file(&out.join("report.json"), json.as_bytes())?;
        write_file(&out.join("report.md"), md.as_bytes())?;
        for w in &report.words {
            let dir = out.join("examples").join(slug(&w.word));
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("{}: cannot create", dir.display()))?;
            for (i, e) in w.examples.iter().take(a.examples).enumerate() {
                write_png(&dir.join(format!("{i}-before.png")), &e.clean)?;
                write_png(&dir.join(format!("{i}-after.png")), &e.attacked)?;
            }
        }
        eprintln!("wrote {}", out.display());
    }
    if a.json {
        println!("{json}");
    } else {
        print!("{md}");
        if protocol == Protocol::Label {
            for w in &report.words {
                for e in w.examples.iter().take(a.examples) {
                    let fmt = |v: &[(String, f32)]| {
                        v.iter()
                            .map(|(l, p)| format!("{l} {:.1}%", 100.0 * p))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    println!(
                        "\n{} + \"{}\"\n  before: {}\n  after:  {}",
                        e.image,
                        w.word,
                        fmt(&e.before),
                        fmt(&e.after)
                    );
                }
            }
        }
    }
    Ok(())
}

pub fn run_stroop(
    model: ModelArg,
    template: String,
    out: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    if let Some(out) = &out {
        writable_dir(out)?;
    }
    let m = load_model(&model)?;
    let r = stroop(&m, &template)?;
    let md = stroop_markdown(&r);
    let js = serde_json::to_string_pretty(&r)?;
    if let Some(out) = &out {
        write_file(&out.join("stroop.json"), js.as_bytes())?;
        write_file(&out.join("stroop.md"), md.as_bytes())?;
        let side = m.image_size() as u32;
        let mut sheet = RgbImage::new(8 * side, 8 * side);
        for (i, img) in r.images.iter().enumerate() {
            image::imageops::replace(
                &mut sheet,
                img,
                ((i % 8) as u32 * side).into(),
                ((i / 8) as u32 * side).into(),
            );
        }
        write_png(&out.join("stimuli.png"), &sheet)?;
        eprintln!("wrote {}", out.display());
    }
    if json {
        println!("{js}");
    } else {
        print!("{md}");
    }
    Ok(())
}

pub fn run_probe(cmd: ProbeCommand) -> Result<()> {
    match cmd {
        ProbeCommand::Train {
            model,
            input,
            out,
            steps,
            batch,
        } => {
            let m = load_model(&model)?;
            let (set, labels) = labelled(&m, &input)?;
            // Classes: the given labels, or the folder names found.
            let labels = match labels {
                Some(l) if input.world.is_none() || input.labels.is_some() => l,
                _ => {
                    let mut l: Vec<String> =
                        set.items.iter().filter_map(|i| i.truth.clone()).collect();
                    l.sort();
                    l.dedup();
                    l
                }
            };
            let keys: Vec<String> = labels.iter().map(|l| normalise_label(l)).collect();
            let mut images = Vec::new();
            let mut targets = Vec::new();
            let mut unlabelled = 0;
            for item in &set.items {
                let t = item.truth.as_deref().map(normalise_label);
                match t.and_then(|t| keys.iter().position(|k| *k == t)) {
                    Some(k) => {
                        images.push(&item.rgb);
                        targets.push(k);
                    }
                    None => unlabelled += 1,
                }
            }
            if unlabelled > 0 {
                eprintln!("note: {unlabelled} images are in folders that name none of the labels; they are not used");
            }
            if images.is_empty() {
                bail!("no image is in a folder named after one of the labels (layout: DIR/<label>/image.jpg)");
            }
            let opts = ProbeOptions {
                steps,
                ..ProbeOptions::default()
            };
            let probe = LinearProbe::train(&m, &images, &targets, &labels, &opts, batch)?;
            probe.save(&out)?;
            println!(
                "wrote {}: {} classes, {} images, training accuracy {:.1}%",
                out.display(),
                labels.len(),
                images.len(),
                100.0 * probe.train_accuracy
            );
        }
    }
    Ok(())
}

//! The analyses end to end on the built-in model: `attack`, `probe train`, `stroop`, `words`, `profile`, `examples
//! --sheet`, `label` and `report`.

mod common;

use std::path::Path;

use common::{fails_with, ok, ok_json};

/// World photos written as `dir/<concept>/<i>.png`, plus one corrupt file.
fn image_folder(dir: &Path) {
    let world = clipneurons_world::World::new();
    for name in ["apple", "banana", "lemon"] {
        let c = world.concepts().iter().find(|c| c.name == name).unwrap();
        std::fs::create_dir_all(dir.join(name)).unwrap();
        for i in 0..3 {
            let s = world.sample_of(
                clipneurons_world::Split::Test,
                i,
                5,
                c.id,
                clipneurons_world::Facet::Photo,
            );
            s.image
                .save(dir.join(name).join(format!("{i}.png")))
                .unwrap();
        }
    }
    std::fs::write(dir.join("apple").join("broken.png"), b"not a png").unwrap();
}

#[test]
fn attack_on_the_world_writes_report_and_examples() {
    let out = tempfile::tempdir().unwrap();
    let o = ok(&[
        "attack",
        "--world",
        "test",
        "--per-concept",
        "1",
        "--text",
        "apple",
        "ipod",
        "--examples",
        "2",
        "--out",
        out.path().to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["protocol"], "grid8");
    assert_eq!(
        v["labels"].as_array().unwrap().len(),
        148,
        "147 concepts + 'ipod'"
    );
    let w = &v["words"][1];
    assert_eq!(w["word"], "ipod");
    assert_eq!(w["added_to_labels"], true);
    let cover = w["pixel_cover"].as_f64().unwrap();
    assert!(cover > 0.02 && cover < 0.25, "{cover}");
    assert_eq!(w["driven"].as_array().unwrap().len(), 5);
    assert!(v["baseline_accuracy"].as_f64().unwrap() > 0.8);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("'ipod' is not one of the labels"), "{err}");
    for f in [
        "report.json",
        "report.md",
        "examples/ipod/0-before.png",
        "examples/ipod/1-after.png",
    ] {
        assert!(out.path().join(f).is_file(), "{f}");
    }
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(md.contains("| ipod | ipod (added) |"), "{md}");
}

#[test]
fn attack_and_probe_on_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    image_folder(dir.path());
    let d = dir.path().to_str().unwrap();
    // Zero-shot, label protocol: the corrupt file is skipped and counted.
    let o = ok(&[
        "attack",
        "--images",
        d,
        "--labels",
        "apple,banana,lemon",
        "--text",
        "lemon",
        "--protocol",
        "label",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["images"], 9);
    assert_eq!(v["with_truth"], 9);
    assert_eq!(v["skipped"].as_array().unwrap().len(), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("broken.png"));
    // A probe trained on the folder's classes, then attacked.
    let probe = dir.path().join("probe.safetensors");
    let o = ok(&[
        "probe",
        "train",
        "--images",
        d,
        "--out",
        probe.to_str().unwrap(),
        "--steps",
        "100",
    ]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("3 classes, 9 images"));
    let spec = format!("probe:{}", probe.display());
    let v = ok_json(&[
        "attack",
        "--images",
        d,
        "--classifier",
        &spec,
        "--text",
        "banana",
        "--json",
    ]);
    assert_eq!(v["classifier"], "linear probe");
    assert_eq!(
        v["baseline_accuracy"], 1.0,
        "the probe fits its own 9 training images"
    );
    fails_with(
        &[
            "attack",
            "--images",
            d,
            "--classifier",
            &spec,
            "--text",
            "ipod",
        ],
        "not one of the probe's labels",
    );
}

#[test]
fn attack_bad_input() {
    let empty = tempfile::tempdir().unwrap();
    let e = empty.path().to_str().unwrap();
    fails_with(
        &["attack", "--images", e, "--labels", "a,b", "--text", "a"],
        "no images found",
    );
    fails_with(
        &["attack", "--world", "nowhere", "--text", "apple"],
        "unknown split",
    );
    fails_with(
        &[
            "attack",
            "--world",
            "test",
            "--text",
            "apple",
            "--protocol",
            "spray",
        ],
        "unknown protocol",
    );
    fails_with(
        &[
            "attack",
            "--world",
            "test",
            "--text",
            "apple",
            "--classifier",
            "svm",
        ],
        "unknown --classifier",
    );
    fails_with(
        &[
            "attack",
            "--world",
            "test",
            "--text",
            "apple",
            "--classifier",
            "probe:/no/such/file",
        ],
        "/no/such/file",
    );
    let file = empty.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    fails_with(
        &[
            "attack",
            "--world",
            "test",
            "--text",
            "apple",
            "--out",
            file.to_str().unwrap(),
        ],
        "cannot create the output folder",
    );
    fails_with(
        &["probe", "train", "--images", e, "--out", "p.safetensors"],
        "no images found",
    );
}

#[test]
fn stroop_reports_the_64_stimuli() {
    let out = tempfile::tempdir().unwrap();
    let v = ok_json(&[
        "stroop",
        "--template",
        "{}",
        "--json",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(v["cells"].as_array().unwrap().len(), 64);
    assert_eq!(v["incongruent"], 49);
    assert!(out.path().join("stimuli.png").is_file() && out.path().join("stroop.md").is_file());
    let o = ok(&["stroop"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("my favorite word, written in the color"));
}

#[test]
fn words_ranks_rendered_words() {
    let dir = tempfile::tempdir().unwrap();
    let vocab = dir.path().join("vocab.txt");
    std::fs::write(&vocab, "yellow\nbanana\nspider\nhappy\nnorth\n").unwrap();
    let v = vocab.to_str().unwrap();
    let j = ok_json(&[
        "words", "--neuron", "3", "--vocab", v, "--top", "3", "--json",
    ]);
    assert_eq!(j["words"].as_array().unwrap().len(), 3);
    assert_eq!(j["vocabulary"], 5);
    let out = dir.path().join("run");
    ok(&[
        "words",
        "--all",
        "--out",
        out.to_str().unwrap(),
        "--vocab",
        v,
        "--top",
        "2",
    ]);
    assert!(
        out.join("words.parquet").is_file() && out.join("word_responses.safetensors").is_file()
    );
    fails_with(
        &["words", "--neuron", "100000", "--vocab", v],
        "out of range",
    );
    fails_with(
        &["words", "--neuron", "1", "--vocab", "/no/vocab"],
        "cannot read the vocabulary",
    );
    fails_with(
        &[
            "words",
            "--neuron",
            "1",
            "--layer",
            "visual.nope",
            "--vocab",
            v,
        ],
        "visual.nope",
    );
}

#[test]
fn profile_from_sets_table_and_world() {
    let dir = tempfile::tempdir().unwrap();
    image_folder(dir.path());
    let d = dir.path();
    let apple = format!("apple={}", d.join("apple").display());
    let banana = format!("banana={}", d.join("banana").display());
    let svg = d.join("plot.svg");
    let v = ok_json(&[
        "profile",
        "--neuron",
        "5",
        "--sets",
        &apple,
        &banana,
        "--plot",
        svg.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v["sets"][0]["images"], 3, "the broken file is skipped");
    assert_eq!(v["skipped"].as_array().unwrap().len(), 1);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("</svg>"));
    let csv = d.join("t.csv");
    std::fs::write(
        &csv,
        "path,label\nlemon/0.png,lemon\nlemon/1.png,lemon\nbanana/0.png,banana\n",
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(
        &ok(&[
            "profile",
            "--neuron",
            "5",
            "--table",
            csv.to_str().unwrap(),
            "--json",
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(v["sets"].as_array().unwrap().len(), 2);
    // The same table as Parquet (string columns `path`, `label`).
    let pq = d.join("t.parquet");
    {
        use std::sync::Arc;
        let paths =
            arrow_array::StringArray::from(vec!["lemon/0.png", "lemon/1.png", "banana/0.png"]);
        let labels = arrow_array::StringArray::from(vec!["lemon", "lemon", "banana"]);
        let batch = arrow_array::RecordBatch::try_from_iter(vec![
            ("path", Arc::new(paths) as arrow_array::ArrayRef),
            ("label", Arc::new(labels) as arrow_array::ArrayRef),
        ])
        .unwrap();
        let file = std::fs::File::create(&pq).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
    let w: serde_json::Value = serde_json::from_slice(
        &ok(&[
            "profile",
            "--neuron",
            "5",
            "--table",
            pq.to_str().unwrap(),
            "--json",
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(
        w["sets"], v["sets"],
        "CSV and Parquet tables give the same profile"
    );
    let o = ok(&[
        "profile",
        "--neuron",
        "5",
        "--world",
        "yellow",
        "--per-set",
        "2",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("yellow word") && out.contains("other concepts"),
        "{out}"
    );
    fails_with(
        &["profile", "--neuron", "5", "--world", "unicorn"],
        "not a concept",
    );
    fails_with(
        &["profile", "--neuron", "99999", "--world", "yellow"],
        "out of range",
    );
    fails_with(
        &["profile", "--neuron", "5", "--sets", "nolabel"],
        "LABEL=PATH",
    );
    fails_with(&["profile", "--neuron", "5"], "at least one labelled set");
    fails_with(
        &[
            "profile",
            "--neuron",
            "5",
            "--world",
            "yellow",
            "--plot",
            "/no/dir/p.svg",
        ],
        "does not exist",
    );
    std::fs::write(&csv, "just-a-path\n").unwrap();
    fails_with(
        &["profile", "--neuron", "5", "--table", csv.to_str().unwrap()],
        "t.csv:1",
    );
}

#[test]
fn examples_contact_sheet_marks_the_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    ok(&[
        "mine",
        "--world",
        "test",
        "--n",
        "20",
        "--top-k",
        "4",
        "--out",
        run.to_str().unwrap(),
    ]);
    let sheet = dir.path().join("s.png");
    ok(&[
        "examples",
        run.to_str().unwrap(),
        "--neuron",
        "3",
        "--sheet",
        sheet.to_str().unwrap(),
    ]);
    let img = image::open(&sheet).unwrap().to_rgb8();
    // Four 96-pixel images in one row with 2-pixel gutters.
    assert_eq!((img.width(), img.height()), (4 * 98 + 2, 98 + 2));
    let red = img.pixels().filter(|p| p.0 == [230, 20, 20]).count();
    // One outlined 32x32 cell (the 3x3 grid of the last block) per image: 4 * (4 * 32 * 2 - 16) pixels.
    assert_eq!(red, 4 * (4 * 32 * 2 - 16), "one outlined cell per image");
    fails_with(
        &[
            "examples",
            run.to_str().unwrap(),
            "--neuron",
            "3",
            "--sheet",
            "/no/dir/s.png",
        ],
        "does not exist",
    );
}

#[test]
fn report_mines_labels_and_scores_against_the_world() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rep");
    let o = ok(&[
        "report",
        "--out",
        out.to_str().unwrap(),
        "--n",
        "600",
        "--rows",
        "5",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("| neuron | label |"), "{text}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("labels.json")).unwrap()).unwrap();
    assert_eq!(v["neurons"].as_array().unwrap().len(), 512);
    let g = &v["ground_truth"];
    // A random label would show up in 1/147 = 0.7% of a neuron's top images; the labels must do far better.
    let precision = g["mean_precision"].as_f64().unwrap();
    assert!(precision > 0.025, "label precision {precision}");
    assert!(g["concept_recall"].as_f64().unwrap() > 0.3, "{g}");
    // Running again reuses the complete run; `label` alone works on it with other settings.
    ok(&[
        "report",
        "--out",
        out.to_str().unwrap(),
        "--n",
        "600",
        "--rows",
        "1",
    ]);
    let concepts = dir.path().join("c.txt");
    std::fs::write(&concepts, "yellow\nbanana\nspider\n").unwrap();
    let v: serde_json::Value = serde_json::from_slice(
        &ok(&[
            "label",
            out.to_str().unwrap(),
            "--concepts",
            concepts.to_str().unwrap(),
            "--json",
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(v["concepts"], 3);
    std::fs::write(&concepts, "yellow\n").unwrap();
    fails_with(
        &[
            "label",
            out.to_str().unwrap(),
            "--concepts",
            concepts.to_str().unwrap(),
        ],
        "at least two concepts",
    );
    fails_with(&["label", dir.path().to_str().unwrap()], "is");
    let fixture = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/rn/model.safetensors");
    fails_with(
        &[
            "label",
            out.to_str().unwrap(),
            "--model",
            fixture.to_str().unwrap(),
        ],
        "give the same --model",
    );
}

/// A WebDataset shard of world photos as img2dataset writes it: `KEY.png`, `KEY.txt`, `KEY.json`.
fn shard(path: &Path, first: u64, n: u64) {
    let world = clipneurons_world::World::new();
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: String, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    for i in first..first + n {
        let s = world.sample(clipneurons_world::Split::Test, i, 0);
        let mut png = std::io::Cursor::new(Vec::new());
        s.image.write_to(&mut png, image::ImageFormat::Png).unwrap();
        add(format!("{i:05}.png"), png.get_ref());
        add(format!("{i:05}.txt"), s.caption.as_bytes());
        add(
            format!("{i:05}.json"),
            br#"{"caption": "ignored when a .txt exists", "width": 96}"#,
        );
    }
    add("99999.png".into(), b"not an image");
    b.finish().unwrap();
}

#[test]
fn mine_reads_webdataset_shards() {
    let dir = tempfile::tempdir().unwrap();
    let (a, bad) = (dir.path().join("a.tar"), dir.path().join("b.tar"));
    shard(&a, 0, 6);
    shard(&bad, 6, 6);
    // Cut the second shard in the middle of a member: it is indexed up to the damage.
    let bytes = std::fs::read(&bad).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 2 + 100]).unwrap();
    let run = dir.path().join("run");
    let pattern = dir.path().join("*.tar");
    ok(&[
        "mine",
        "--shards",
        pattern.to_str().unwrap(),
        "--top-k",
        "3",
        "--out",
        run.to_str().unwrap(),
    ]);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("state.json")).unwrap()).unwrap();
    let images = state["images"].as_array().unwrap();
    assert!(
        images.len() >= 6 + 2 && images.len() < 12,
        "{} images",
        images.len()
    );
    assert!(images[0]["source"]
        .as_str()
        .unwrap()
        .ends_with("a.tar:00000.png"));
    let world = clipneurons_world::World::new();
    assert_eq!(
        images[0]["caption"],
        world.sample(clipneurons_world::Split::Test, 0, 0).caption
    );
    let skipped: Vec<String> = state["manifest"]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap().to_string())
        .collect();
    assert!(
        skipped.iter().any(|s| s.ends_with("a.tar:99999.png")),
        "{skipped:?}"
    );
    assert!(
        skipped.iter().any(|s| s.ends_with("b.tar")),
        "the damaged shard is listed: {skipped:?}"
    );
    // The examples can be shown again from the shards.
    let sheet = dir.path().join("s.png");
    ok(&[
        "examples",
        run.to_str().unwrap(),
        "--neuron",
        "0",
        "--sheet",
        sheet.to_str().unwrap(),
    ]);
    assert!(sheet.is_file());
    fails_with(
        &[
            "mine",
            "--shards",
            "/no/such.tar",
            "--out",
            dir.path().join("r2").to_str().unwrap(),
        ],
        "cannot open the shard",
    );
}

#[test]
fn viz_writes_png_and_objective_trace() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v.png");
    let v = ok_json(&[
        "viz",
        "--neuron",
        "7",
        "--steps",
        "5",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v["objective_per_step"].as_array().unwrap().len(), 5);
    assert_eq!(image::open(&out).unwrap().width(), 96);
    assert!(dir.path().join("v.json").is_file());
    let clip = dir.path().join("c.png");
    ok(&[
        "viz",
        "--neuron",
        "7",
        "--steps",
        "2",
        "--recipe",
        "clip",
        "--batch",
        "2",
        "--out",
        clip.to_str().unwrap(),
    ]);
    assert_eq!(
        image::open(&clip).unwrap().width(),
        2 * 96,
        "the batch side by side"
    );
    // A direction from zero-shot search, diversity over a batch, a larger image than the model's input.
    let dirn = dir.path().join("d.png");
    let v = ok_json(&[
        "viz",
        "--neuron",
        "7",
        "--steps",
        "2",
        "--objective",
        "direction",
        "--text",
        "yellow",
        "--batch",
        "2",
        "--diversity",
        "100",
        "--size",
        "112",
        "--out",
        dirn.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v["objective"], "direction");
    assert_eq!(v["text"], "yellow");
    assert_eq!(image::open(&dirn).unwrap().width(), 2 * 112);
    let o = out.to_str().unwrap();
    fails_with(
        &[
            "viz",
            "--neuron",
            "1",
            "--objective",
            "direction",
            "--out",
            o,
        ],
        "needs --text",
    );
    fails_with(
        &["viz", "--neuron", "1", "--text", "yellow", "--out", o],
        "only used with --objective direction",
    );
    fails_with(&["viz", "--neuron", "100000", "--out", o], "out of range");
    fails_with(
        &["viz", "--neuron", "1", "--objective", "dream", "--out", o],
        "unknown --objective",
    );
    fails_with(
        &["viz", "--neuron", "1", "--layer", "visual.nope", "--out", o],
        "visual.nope",
    );
    fails_with(
        &["viz", "--neuron", "1", "--out", "/no/dir/v.png"],
        "does not exist",
    );
}

#[test]
fn textviz_reports_best_texts_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.json");
    let v = ok_json(&[
        "textviz",
        "--neuron",
        "222",
        "--steps",
        "3",
        "--restarts",
        "2",
        "--proposals",
        "8",
        "--top",
        "4",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    let best = v["best"].as_array().unwrap();
    assert_eq!(best.len(), 4);
    assert!(best[0]["objective"].as_f64().unwrap() >= best[3]["objective"].as_f64().unwrap());
    assert_eq!(v["trace"].as_array().unwrap().len(), 2);
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(saved["best"], v["best"]);
    fails_with(&["textviz", "--neuron", "100000"], "out of range");
    fails_with(
        &["textviz", "--neuron", "1", "--layer", "visual.layer1.0"],
        "zero-shot search ranks",
    );
    fails_with(
        &["textviz", "--neuron", "1", "--out", "/no/dir/t.json"],
        "does not exist",
    );
}

#[test]
fn facets_train_and_faceted_viz() {
    let dir = tempfile::tempdir().unwrap();
    let probes = dir.path().join("facets.safetensors");
    let v = ok_json(&[
        "facets",
        "train",
        "--world",
        "--n",
        "40",
        "--steps",
        "50",
        "--out",
        probes.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        v["fits"].as_array().unwrap().len(),
        4,
        "photo, drawing, icon, text on one layer"
    );
    let held = v["held_out_accuracy"]["text"].as_f64().unwrap();
    assert!(held > 0.75, "text facet held-out accuracy {held}");
    let out = dir.path().join("f.png");
    let v = ok_json(&[
        "viz",
        "--neuron",
        "158",
        "--steps",
        "2",
        "--batch",
        "2",
        "--facet",
        "drawing",
        "--facet-strength",
        "0..5",
        "--facet-probes",
        probes.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v["facet"], "drawing");
    // The article's diversity variant on the attribution g(x) ⊙ ∇f(g(x)).
    let v = ok_json(&[
        "viz",
        "--neuron",
        "158",
        "--steps",
        "2",
        "--batch",
        "2",
        "--attribution-diversity",
        "100",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v["attribution_diversity"], 100.0);
    // The shipped probes of the built-in model, without --facet-probes.
    ok(&[
        "viz",
        "--neuron",
        "158",
        "--steps",
        "1",
        "--facet",
        "text",
        "--out",
        out.to_str().unwrap(),
    ]);
    let o = out.to_str().unwrap();
    fails_with(
        &["viz", "--neuron", "1", "--facet", "sculpture", "--out", o],
        "no probe for facet 'sculpture'",
    );
    fails_with(
        &[
            "viz",
            "--neuron",
            "1",
            "--facet",
            "text",
            "--facet-strength",
            "x..2",
            "--out",
            o,
        ],
        "not a number",
    );
    fails_with(
        &[
            "viz",
            "--neuron",
            "1",
            "--facet",
            "text",
            "--facet-probes",
            "/no/such.safetensors",
            "--out",
            o,
        ],
        "cannot read",
    );
    fails_with(
        &[
            "facets",
            "train",
            "--world",
            "--layers",
            "visual.nope",
            "--out",
            probes.to_str().unwrap(),
        ],
        "visual.nope",
    );
}

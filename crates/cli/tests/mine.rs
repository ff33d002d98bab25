//! `clipneurons mine / merge / examples` end to end on the built-in model: tables readable as Parquet, corrupt
//! files skipped and listed, a killed run resumed to the same result, and merged runs equal to one run.

use std::path::{Path, PathBuf};
mod common;

use common::{ok, run};

fn state(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("state.json")).unwrap()).unwrap()
}

fn parquet_rows(path: &Path) -> i64 {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let r = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    r.metadata().file_metadata().num_rows()
}

/// Writes world test images as PNGs into `dir` (named so that they sort in index order).
fn world_pngs(dir: &Path, n: &str, seed: &str) {
    ok(&[
        "world",
        "sample",
        "--split",
        "test",
        "--n",
        n,
        "--seed",
        seed,
        "--out",
        dir.to_str().unwrap(),
    ]);
}

#[test]
fn mine_world_split_writes_tables_and_examples() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = out.to_str().unwrap();
    ok(&[
        "mine", "--world", "test", "--n", "150", "--batch", "32", "--top-k", "5", "--out", o,
    ]);
    let s = state(&out);
    let m = &s["manifest"];
    assert_eq!(m["complete"], true);
    assert_eq!(m["images"], 150);
    assert_eq!(m["key"]["layer"], "visual.layer4.0.add");
    let channels = m["key"]["channels"].as_i64().unwrap();
    assert_eq!(parquet_rows(&out.join("neurons.parquet")), channels);
    assert_eq!(
        parquet_rows(&out.join("examples.parquet")),
        channels * 5 * 2
    );
    assert_eq!(parquet_rows(&out.join("images.parquet")), 150);
    // Top examples are sorted and carry the world's ground truth.
    let e = ok(&["examples", o, "--neuron", "3", "--json"]);
    let e: serde_json::Value = serde_json::from_slice(&e.stdout).unwrap();
    let ex = e["examples"].as_array().unwrap();
    assert_eq!(ex.len(), 5);
    let v: Vec<f64> = ex.iter().map(|r| r["value"].as_f64().unwrap()).collect();
    assert!(v.windows(2).all(|w| w[0] >= w[1]), "{v:?}");
    assert!(ex[0]["concept"].is_string() && ex[0]["y"].is_u64());
    // A second run into the same folder is refused, as is an unknown neuron.
    let again = run(&["mine", "--world", "test", "--n", "150", "--out", o]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));
    let bad = run(&["examples", o, "--neuron", "100000"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("does not exist"));
}

#[test]
fn corrupt_files_are_skipped_and_merge_equals_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("imgs/a"), tmp.path().join("imgs/b"));
    world_pngs(&a, "40", "1");
    world_pngs(&b, "30", "2");
    // `world sample` indexes its images as JSON lines and as Parquet.
    assert_eq!(parquet_rows(&a.join("captions.parquet")), 40);
    let lines = std::fs::read_to_string(a.join("captions.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 40);
    std::fs::write(a.join("broken.png"), b"not a png").unwrap();
    std::fs::write(b.join("notes.txt"), b"ignored: not an image name").unwrap();
    let d = |n: &str| -> PathBuf { tmp.path().join(n) };
    let s = |p: &Path| p.to_str().unwrap().to_string();
    ok(&[
        "mine",
        "--images",
        &s(&a),
        "--top-k",
        "4",
        "--batch",
        "16",
        "--out",
        &s(&d("ra")),
    ]);
    ok(&[
        "mine",
        "--images",
        &s(&b),
        "--top-k",
        "4",
        "--batch",
        "16",
        "--out",
        &s(&d("rb")),
    ]);
    ok(&[
        "mine",
        "--images",
        &s(&tmp.path().join("imgs")),
        "--top-k",
        "4",
        "--batch",
        "16",
        "--out",
        &s(&d("all")),
    ]);
    ok(&[
        "merge",
        &s(&d("ra")),
        &s(&d("rb")),
        "--out",
        &s(&d("merged")),
    ]);
    let all = state(&d("all"));
    let merged = state(&d("merged"));
    assert_eq!(all["manifest"]["images"], 70);
    let skipped = all["manifest"]["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0]["source"]
        .as_str()
        .unwrap()
        .ends_with("broken.png"));
    assert_eq!(all["images"], merged["images"]);
    // Counts, histograms and top/bottom lists are identical; f64 sums agree to rounding.
    let (ca, cm) = (
        all["stats"]["channels"].as_array().unwrap(),
        merged["stats"]["channels"].as_array().unwrap(),
    );
    assert_eq!(ca.len(), cm.len());
    for (x, y) in ca.iter().zip(cm) {
        for k in ["count", "hist", "top", "bottom"] {
            assert_eq!(x[k], y[k], "{k}");
        }
        let (p, q) = (
            x["sum_max"].as_f64().unwrap(),
            y["sum_max"].as_f64().unwrap(),
        );
        assert!((p - q).abs() <= 1e-9 * (1.0 + p.abs()), "{p} vs {q}");
    }
}

#[test]
fn killed_run_resumes_to_the_same_result() {
    let tmp = tempfile::tempdir().unwrap();
    let full = tmp.path().join("full");
    let cut = tmp.path().join("cut");
    let args = |out: &Path| -> Vec<String> {
        [
            "mine",
            "--world",
            "test",
            "--n",
            "600",
            "--batch",
            "32",
            "--top-k",
            "3",
            "--checkpoint-minutes",
            "0",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([out.to_str().unwrap().to_string()])
        .collect()
    };
    let a = args(&full);
    ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    // Start the same run and kill -9 it once it has saved some progress.
    let b = args(&cut);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_clipneurons"))
        .args(&b)
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    loop {
        let consumed = std::fs::read(cut.join("manifest.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|m| m["consumed"].as_u64())
            .unwrap_or(0);
        if consumed > 0 || t0.elapsed().as_secs() > 120 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = state(&cut);
    let mut r: Vec<&str> = b.iter().map(String::as_str).collect();
    r.push("--resume");
    if partial["manifest"]["complete"] != true {
        ok(&r);
    }
    let (x, y) = (state(&full), state(&cut));
    assert_eq!(x["images"], y["images"]);
    for k in ["count", "hist", "top", "bottom"] {
        for (p, q) in x["stats"]["channels"]
            .as_array()
            .unwrap()
            .iter()
            .zip(y["stats"]["channels"].as_array().unwrap())
        {
            assert_eq!(p[k], q[k], "{k}");
        }
    }
    // Resuming a finished run with other flags is refused.
    let mut other = r.clone();
    other[4] = "400";
    assert!(!run(&other).status.success());
}

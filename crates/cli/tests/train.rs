//! `clipneurons train` end to end on a very small model: it writes loadable weights, resumes, and refuses bad
//! input with one clear line.

mod common;

use common::run;

fn fails_with(args: &[&str], needle: &str) {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected `{needle}` in: {err}"
    );
    assert!(!err.contains("internal error"), "{args:?} panicked: {err}");
}

#[test]
fn train_writes_a_loadable_model_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.safetensors");
    let out_s = out.to_str().unwrap();
    let small = [
        "--batch",
        "4",
        "--size",
        "32",
        "--width",
        "4",
        "--log-every",
        "1",
    ];
    let args = |steps: &str, extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = ["train", "--out", out_s, "--steps", steps]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(small.iter().chain(extra).map(|s| s.to_string()));
        v
    };
    let a = args("2", &[]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = run(&a);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&["info", "--model", out_s, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // A second fresh run must not overwrite the checkpoint.
    fails_with(&a, "--resume");
    // Resuming a finished run with the same flags is fine (nothing left to do); contradicting flags are not.
    let mut r = a.clone();
    r.push("--resume");
    let o = run(&r);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c = ["train", "--out", out_s, "--resume", "--batch", "8"];
    fails_with(&c, "--batch 8");

    // Export-only rewrites the weights from the checkpoint, here in f16, with the run in the metadata.
    let ckpt = dir.path().join("m.safetensors.ckpt/checkpoint.safetensors");
    let before = std::fs::read(&ckpt).unwrap();
    let o = run(&[
        "train",
        "--out",
        out_s,
        "--resume",
        "--export-only",
        "--half",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(&ckpt).unwrap(),
        before,
        "export-only must not touch the checkpoint"
    );
    let o = run(&["info", "--model", out_s, "--json"]);
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(info["metadata"]["steps"], "2");
    assert!(info["metadata"]["train_minutes"].is_string(), "{info}");
    let recipe: serde_json::Value =
        serde_json::from_str(info["metadata"]["recipe"].as_str().unwrap()).unwrap();
    assert_eq!(recipe["batch"], 4);
    fails_with(&["train", "--out", out_s, "--export-only"], "--resume");

    // A corrupt checkpoint is reported, and left alone.
    let ck = dir.path().join("m.safetensors.ckpt/checkpoint.safetensors");
    std::fs::write(&ck, b"garbage").unwrap();
    fails_with(&["train", "--out", out_s, "--resume"], "corrupt");
    assert_eq!(std::fs::read(&ck).unwrap(), b"garbage");
}

#[test]
fn train_rejects_bad_flags_and_unwritable_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.safetensors");
    let out_s = out.to_str().unwrap();
    fails_with(&["train", "--out", out_s, "--size", "50"], "multiple of 32");
    fails_with(&["train", "--out", out_s, "--batch", "1"], "batch");
    fails_with(&["train", "--out", out_s, "--width", "3"], "width");
    fails_with(
        &["train", "--out", "/nonexistent-dir/m.safetensors"],
        "does not exist",
    );
    fails_with(
        &["train", "--out", dir.path().to_str().unwrap()],
        "is a folder",
    );
    fails_with(&["train", "--out", out_s, "--resume"], "cannot resume");
}

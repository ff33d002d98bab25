//! Every format of the fixture micro models loads to the same keys and bitwise-identical values
//! as open_clip's safetensors file, plus synthetic archives for layouts the fixtures lack.

mod common;

use candle_core::{DType, Tensor};
use clipneurons_checkpoint::{detect_format, load, Checkpoint, CheckpointFormat};
use common::*;

fn values(t: &Tensor) -> Vec<u32> {
    t.flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|x| x.to_bits())
        .collect()
}

fn assert_same(reference: &Checkpoint, other: &Checkpoint) {
    let ka: Vec<&String> = reference.tensors.keys().collect();
    let kb: Vec<&String> = other.tensors.keys().collect();
    assert_eq!(ka, kb, "key sets differ for {}", other.path.display());
    for (k, a) in &reference.tensors {
        let b = &other.tensors[k];
        assert_eq!(b.dtype(), DType::F32, "{k}");
        assert!(b.device().is_cpu(), "{k}");
        assert_eq!(a.dims(), b.dims(), "{k} in {}", other.path.display());
        assert!(
            values(a) == values(b),
            "{k} differs in {}",
            other.path.display()
        );
    }
}

fn check_model(model: &str, files: &[(&str, CheckpointFormat)]) {
    let reference = load(&fixture(&format!("{model}/openclip.safetensors"))).unwrap();
    assert_eq!(reference.format, CheckpointFormat::OpenClipSafetensors);
    assert_eq!(reference.tensors["logit_scale"].dims(), &[] as &[usize]);
    assert!(reference.warnings.is_empty(), "{:?}", reference.warnings);
    for (file, format) in files {
        let path = fixture(&format!("{model}/{file}"));
        assert_eq!(detect_format(&path).unwrap(), *format, "{file}");
        let ck = load(&path).unwrap();
        assert_eq!(ck.format, *format, "{file}");
        assert!(ck.warnings.is_empty(), "{file}: {:?}", ck.warnings);
        assert_same(&reference, &ck);
    }
}

#[test]
fn micro_rn_all_formats_identical() {
    check_model(
        "micro_rn",
        &[
            ("state_dict.pt", CheckpointFormat::TorchStateDict),
            ("openai_jit.pt", CheckpointFormat::OpenAiTorchScript),
        ],
    );
}

#[test]
fn micro_vit_all_formats_identical() {
    check_model(
        "micro_vit",
        &[
            ("state_dict.pt", CheckpointFormat::TorchStateDict),
            ("openai_jit.pt", CheckpointFormat::OpenAiTorchScript),
            ("hf/model.safetensors", CheckpointFormat::HfTransformers),
        ],
    );
}

#[test]
fn jit_archive_reports_fp16_weights_and_ignored_extras() {
    for model in ["micro_rn", "micro_vit"] {
        let ck = load(&fixture(&format!("{model}/openai_jit.pt"))).unwrap();
        assert_eq!(ck.source_dtypes["visual.conv1.weight"], "f16", "{model}");
        assert_eq!(ck.source_dtypes["logit_scale"], "f32", "{model}");
        assert_eq!(ck.source_dtypes.len(), ck.tensors.len());
        for extra in ["input_resolution", "context_length", "vocab_size"] {
            assert!(
                ck.ignored.iter().any(|k| k == extra),
                "{model}: {extra} not in {:?}",
                ck.ignored
            );
        }
        assert!(!ck.tensors.contains_key("input_resolution"));
    }
    let rn = load(&fixture("micro_rn/openai_jit.pt")).unwrap();
    assert_eq!(rn.source_dtypes["visual.bn1.weight"], "f32");
    assert_eq!(rn.source_dtypes["visual.layer1.0.conv1.weight"], "f16");
    assert!(rn
        .ignored
        .iter()
        .any(|k| k == "visual.bn1.num_batches_tracked"));
    assert!(!rn.is_vit());
    let vit = load(&fixture("micro_vit/openai_jit.pt")).unwrap();
    assert_eq!(vit.source_dtypes["visual.ln_pre.weight"], "f32");
    assert_eq!(
        vit.source_dtypes["visual.transformer.resblocks.0.attn.in_proj_weight"],
        "f16"
    );
    assert!(vit.is_vit());
}

#[test]
fn hf_position_ids_are_ignored() {
    let ck = load(&fixture("micro_vit/hf/model.safetensors")).unwrap();
    assert!(
        ck.ignored.iter().any(|k| k.ends_with("position_ids")),
        "{:?}",
        ck.ignored
    );
    assert!(ck
        .tensors
        .contains_key("visual.transformer.resblocks.0.attn.in_proj_weight"));
}

#[test]
fn detection_uses_content_not_extension() {
    let dir = tempfile::tempdir().unwrap();
    let st = copy_prefix(
        &fixture("micro_vit/openclip.safetensors"),
        dir.path(),
        "weights.pt",
        None,
    );
    assert_eq!(
        detect_format(&st).unwrap(),
        CheckpointFormat::OpenClipSafetensors
    );
    let jit = copy_prefix(
        &fixture("micro_vit/openai_jit.pt"),
        dir.path(),
        "weights.safetensors",
        None,
    );
    assert_eq!(
        load(&jit).unwrap().format,
        CheckpointFormat::OpenAiTorchScript
    );
}

#[test]
fn save_roundtrip_is_atomic_and_lossless() {
    let dir = tempfile::tempdir().unwrap();
    let jit = load(&fixture("micro_rn/openai_jit.pt")).unwrap();
    let out = dir.path().join("converted.safetensors");
    clipneurons_checkpoint::save_open_clip_safetensors(&jit.tensors, &out).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["converted.safetensors"],
        "temporary file left behind"
    );
    let back = load(&out).unwrap();
    assert_eq!(back.format, CheckpointFormat::OpenClipSafetensors);
    assert_same(&jit, &back);
}

#[test]
fn f16_export_keeps_metadata_and_values_to_half_precision() {
    let dir = tempfile::tempdir().unwrap();
    let jit = load(&fixture("micro_rn/openai_jit.pt")).unwrap();
    let out = dir.path().join("half.safetensors");
    let meta = std::collections::BTreeMap::from([("name".to_string(), "test-model".to_string())]);
    clipneurons_checkpoint::save_safetensors_with(
        &jit.tensors,
        &out,
        clipneurons_checkpoint::StoreDtype::F16,
        &meta,
    )
    .unwrap();
    let back = load(&out).unwrap();
    assert_eq!(
        back.metadata.get("name").map(String::as_str),
        Some("test-model")
    );
    assert!(
        back.source_dtypes.values().all(|d| d == "f16"),
        "{:?}",
        back.source_dtypes
    );
    assert_eq!(back.tensors.len(), jit.tensors.len());
    for (k, t) in &jit.tensors {
        let a: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = back.tensors[k].flatten_all().unwrap().to_vec1().unwrap();
        for (x, y) in a.iter().zip(&b) {
            // f16 keeps 11 significant bits: relative error ≤ 2^-11 for normal numbers.
            assert!((x - y).abs() <= 4.9e-4 * x.abs() + 6e-8, "{k}: {x} vs {y}");
        }
    }
    // The same bytes compiled into a program load identically.
    let bytes: &'static [u8] = Box::leak(std::fs::read(&out).unwrap().into_boxed_slice());
    let st = clipneurons_checkpoint::load_static_safetensors(bytes, std::path::Path::new("<mem>"))
        .unwrap();
    assert_eq!(st.metadata, back.metadata);
    assert_same(&back, &st);
}

#[test]
fn sha256_of_known_content() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("abc");
    std::fs::write(&p, b"abc").unwrap();
    assert_eq!(
        clipneurons_checkpoint::file_sha256(&p).unwrap(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

/// A hand-built TorchScript-like archive: nested modules, an fp16 storage shared by two tensors
/// at different offsets, a transposed (non-contiguous) view, non-tensor attributes and an
/// unknown reducer that must be skipped with a warning.
#[test]
fn synthetic_torchscript_archive() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pickle::new();
    p.begin_module("Top");
    p.str("training").op(0x89);
    p.str("logit_scale")
        .tensor("FloatStorage", "1", 1, 0, &[1], &[1]);
    p.str("visual");
    p.begin_module("Visual");
    p.str("proj")
        .tensor("HalfStorage", "0", 10, 4, &[2, 3], &[1, 2]);
    p.str("conv1");
    p.begin_module("Conv");
    p.str("weight")
        .tensor("HalfStorage", "0", 10, 0, &[4], &[1]);
    p.str("bias").op(b'N');
    p.end_module();
    p.str("sizes")
        .global("torch.jit._pickle", "build_intlist")
        .ints(&[1, 2])
        .op(0x85)
        .op(b'R');
    p.str("attn_mask")
        .tensor("FloatStorage", "1", 1, 0, &[], &[]);
    p.end_module();
    p.end_module();
    let pkl = p.stop();
    let half: Vec<f32> = (0..10).map(|i| i as f32 * 0.5).collect();
    let path = dir.path().join("synthetic.pt");
    write_zip(
        &path,
        &[
            ("model/data.pkl", &pkl),
            ("model/code/__torch__/test.py", b"# code"),
            ("model/constants.pkl", &Pickle::new().op(b')').stop()),
            ("model/data/0", &f16_bytes(&half)),
            ("model/data/1", &f32_bytes(&[4.6])),
            ("model/version", b"4\n"),
        ],
    );
    let ck = load(&path).unwrap();
    assert_eq!(ck.format, CheckpointFormat::OpenAiTorchScript);
    let keys: Vec<&str> = ck.tensors.keys().map(String::as_str).collect();
    assert_eq!(keys, ["logit_scale", "visual.conv1.weight", "visual.proj"]);
    // Storage [2.0 .. 4.5] from offset 4 viewed as a [2,3] matrix with stride (1,2).
    assert_eq!(
        ck.tensors["visual.proj"].to_vec2::<f32>().unwrap(),
        vec![vec![2.0, 3.0, 4.0], vec![2.5, 3.5, 4.5]]
    );
    assert_eq!(
        ck.tensors["visual.conv1.weight"].to_vec1::<f32>().unwrap(),
        vec![0.0, 0.5, 1.0, 1.5]
    );
    // logit_scale stored as [1] comes out 0-d.
    assert_eq!(ck.tensors["logit_scale"].to_scalar::<f32>().unwrap(), 4.6);
    assert_eq!(ck.ignored, ["visual.attn_mask"]);
    assert_eq!(ck.source_dtypes["visual.proj"], "f16");
    assert_eq!(ck.warnings.len(), 1, "{:?}", ck.warnings);
    assert!(ck.warnings[0].contains("visual.sizes") && ck.warnings[0].contains("build_intlist"));
}

/// A training checkpoint (`{"epoch", "state_dict": {"module.…"}, "optimizer"}`) yields only the
/// weights, without the DDP prefix.
#[test]
fn synthetic_training_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pickle::new();
    p.op(b'}').mark();
    p.str("epoch").int(3);
    p.str("state_dict").op(b'}').mark();
    p.str("module.visual.proj")
        .tensor("FloatStorage", "0", 2, 0, &[2], &[1]);
    p.str("module.logit_scale")
        .tensor("FloatStorage", "0", 2, 1, &[], &[]);
    p.op(b'u');
    p.str("optimizer").op(b'}').mark();
    p.str("exp_avg")
        .tensor("FloatStorage", "0", 2, 0, &[2], &[1]);
    p.op(b'u');
    p.op(b'u');
    let pkl = p.stop();
    let path = dir.path().join("epoch_3.pt");
    write_zip(
        &path,
        &[
            ("archive/data.pkl", &pkl),
            ("archive/data/0", &f32_bytes(&[1.0, 2.0])),
        ],
    );
    let ck = load(&path).unwrap();
    assert_eq!(ck.format, CheckpointFormat::TorchStateDict);
    let keys: Vec<&str> = ck.tensors.keys().map(String::as_str).collect();
    assert_eq!(keys, ["logit_scale", "visual.proj"]);
    assert_eq!(ck.tensors["logit_scale"].to_scalar::<f32>().unwrap(), 2.0);
}

/// Safetensors with a `state_dict.` prefix and fp16/bf16 data.
#[test]
fn prefixed_half_precision_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let vals = [1.5f32, -2.25, 3.0];
    let f16: Vec<u8> = f16_bytes(&vals);
    let bf16: Vec<u8> = vals
        .iter()
        .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
        .collect();
    let views = [
        (
            "state_dict.visual.proj",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F16, vec![3], &f16).unwrap(),
        ),
        (
            "state_dict.text_projection",
            safetensors::tensor::TensorView::new(safetensors::Dtype::BF16, vec![1, 3], &bf16)
                .unwrap(),
        ),
    ];
    safetensors::serialize_to_file(views, None, &path).unwrap();
    let ck = load(&path).unwrap();
    assert_eq!(ck.tensors["visual.proj"].to_vec1::<f32>().unwrap(), vals);
    assert_eq!(
        ck.tensors["text_projection"].to_vec2::<f32>().unwrap(),
        vec![vals.to_vec()]
    );
    assert_eq!(ck.source_dtypes["visual.proj"], "f16");
    assert_eq!(ck.source_dtypes["text_projection"], "bf16");
}

//! Test helpers: a minimal protocol-2 pickle writer and a stored-zip writer, to build PyTorch
//! archives byte by byte (well-formed or deliberately broken) without Python.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/formats")
}

/// Path to a fixture; panics with a pointer to the generator if it is missing.
pub fn fixture(rel: &str) -> PathBuf {
    let p = fixtures().join(rel);
    assert!(
        p.exists(),
        "missing fixture {} — generate it with reference/make_fixtures.py (see fixtures/README.md)",
        p.display()
    );
    p
}

/// Writes pickle opcodes (protocol 2, the one torch.save and torch.jit.save use).
#[derive(Default)]
pub struct Pickle(pub Vec<u8>);

impl Pickle {
    pub fn new() -> Self {
        Self(vec![0x80, 2])
    }
    pub fn op(&mut self, b: u8) -> &mut Self {
        self.0.push(b);
        self
    }
    pub fn global(&mut self, module: &str, name: &str) -> &mut Self {
        self.0.push(b'c');
        self.0
            .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
        self
    }
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.0.push(b'X');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    pub fn int(&mut self, v: i32) -> &mut Self {
        self.0.push(b'J');
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn mark(&mut self) -> &mut Self {
        self.op(b'(')
    }
    pub fn tuple(&mut self) -> &mut Self {
        self.op(b't')
    }
    pub fn ints(&mut self, v: &[usize]) -> &mut Self {
        self.mark();
        for &x in v {
            self.int(x as i32);
        }
        self.tuple()
    }
    /// `_rebuild_tensor_v2(("storage", torch.<storage>, key, "cpu", numel), offset, size, stride, False, OrderedDict())`
    pub fn tensor(
        &mut self,
        storage: &str,
        key: &str,
        numel: usize,
        offset: usize,
        shape: &[usize],
        stride: &[usize],
    ) -> &mut Self {
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.mark();
        self.mark()
            .str("storage")
            .global("torch", storage)
            .str(key)
            .str("cpu")
            .int(numel as i32)
            .tuple()
            .op(b'Q');
        self.int(offset as i32).ints(shape).ints(stride).op(0x89);
        self.global("collections", "OrderedDict").op(b')').op(b'R');
        self.tuple().op(b'R')
    }
    /// Starts a TorchScript-style module object: `NEWOBJ(cls, ())`, `{` — close with `end_module`.
    pub fn begin_module(&mut self, class: &str) -> &mut Self {
        self.global("__torch__.test", class)
            .op(b')')
            .op(0x81)
            .op(b'}')
            .mark()
    }
    pub fn end_module(&mut self) -> &mut Self {
        self.op(b'u').op(b'b')
    }
    pub fn stop(&mut self) -> Vec<u8> {
        self.0.push(b'.');
        self.0.clone()
    }
}

pub fn f16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
        .collect()
}

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes an uncompressed zip with the given entries, like PyTorch's writer.
pub fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let file = std::fs::File::create(path).unwrap();
    let mut z = zip::ZipWriter::new(file);
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        z.start_file(*name, opts).unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
}

/// Copies `src` to `dir/name` keeping only the first `len` bytes (or all if `None`).
pub fn copy_prefix(src: &Path, dir: &Path, name: &str, len: Option<usize>) -> PathBuf {
    let mut bytes = std::fs::read(src).unwrap();
    if let Some(len) = len {
        bytes.truncate(len);
    }
    let dst = dir.join(name);
    std::fs::write(&dst, bytes).unwrap();
    dst
}

/// Asserts the house rule for messages: one line, mentions the file.
pub fn assert_one_line(err: &clipneurons_checkpoint::CheckpointError, path: &Path) -> String {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "multi-line message: {msg}");
    assert!(
        msg.contains(&path.display().to_string()),
        "message does not name the file: {msg}"
    );
    msg
}

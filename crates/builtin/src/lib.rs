//! The built-in model: a small ModifiedResNet CLIP that `clipneurons train` trained on the synthetic world
//! (`clipneurons-world`), stored in f16 in open_clip's key layout and compiled into the program, so every command
//! works with no download and no `--model`. How it was made is in the file's own metadata (`clipneurons info`)
//! and in `docs/BENCHMARKS.md`; `weights/README.md` gives the command that reproduces it.

use std::path::Path;

use clipneurons_checkpoint::{Checkpoint, CheckpointError};

/// What `--model` shows when none is given, in messages and manifests.
pub const LABEL: &str = "<built-in>";

static WEIGHTS: &[u8] = include_bytes!("../weights/builtin.safetensors");

static FACET_PROBES: &[u8] = include_bytes!("../weights/facets.safetensors");

/// The facet probes (photo, drawing, icon, text) trained for the built-in model on its world
/// (`clipneurons facets train --world`), for `viz --facet`.
pub fn facet_probes() -> &'static [u8] {
    FACET_PROBES
}

/// The built-in model as a checkpoint (f32 tensors, open_clip keys).
pub fn checkpoint() -> Result<Checkpoint, CheckpointError> {
    clipneurons_checkpoint::load_static_safetensors(WEIGHTS, Path::new(LABEL))
}

/// The weights file's bytes, e.g. to hash them into a run manifest.
pub fn bytes() -> &'static [u8] {
    WEIGHTS
}

/// SHA-256 of the weights file (lowercase hex), the same digest `sha256sum` gives for it.
pub fn sha256() -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(WEIGHTS)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#!/usr/bin/env bash
# Times PyTorch/open_clip, ONNX Runtime and our model code side by side and prints a Markdown table.
#   bash bench/run.sh              # full run (~10 min on 2 cores)
#   bash bench/run.sh --quick      # smoke run
#   bash bench/run.sh --only RN50  # one model (repeatable; also ViT-B-32, RN50x4, tokenizer)
# The table goes to stdout, progress to stderr; weights, inputs and raw JSON results are cached in bench/.cache/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash reference/setup.sh >&2
cargo build --release -p clipneurons-bench >&2
bin="${CARGO_TARGET_DIR:-$root/target}/release/clipneurons-bench"
exec reference/.venv/bin/python bench/compare.py --bin "$bin" "$@"

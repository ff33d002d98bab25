#!/usr/bin/env bash
# Feature-visualisation step: ours and PyTorch side by side, Markdown table on stdout (~3 min; the first run also
# makes RN50x4's random weights in bench/.cache/).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash reference/setup.sh >&2
cargo build --release -p clipneurons >&2
exe="${CARGO_TARGET_DIR:-$root/target}/release/clipneurons"
exec reference/.venv/bin/python bench/viz_step.py "$exe"

#!/usr/bin/env bash
# Training step of the built-in model: ours and PyTorch side by side, Markdown table on stdout (~2 min).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash reference/setup.sh >&2
cargo build --release -p clipneurons-train --example profile_towers >&2
exe="${CARGO_TARGET_DIR:-$root/target}/release/examples/profile_towers"
exec reference/.venv/bin/python bench/train_step.py "$exe"

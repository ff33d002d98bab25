#!/usr/bin/env bash
# Mining throughput against the model's forward-only throughput at the same batch size, on the built-in model:
#   bash bench/mine_throughput.sh [N_IMAGES] [BATCH]
# 1. writes N test images of the built-in world as PNG files (world sample),
# 2. times `clipneurons mine --images DIR` (decoding and preprocessing on a background thread, statistics, tables),
# 3. times the image tower alone on pre-made pixels of the same batch size (clipneurons-bench --work image),
# and prints both rates and their ratio (issue #5 asks for at least 0.9).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
n="${1:-2000}"
batch="${2:-64}"
cargo build --release -p clipneurons -p clipneurons-bench >&2
bin="${CARGO_TARGET_DIR:-$root/target}/release"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$bin/clipneurons" world sample --split test --n "$n" --out "$tmp/images" >&2
mine_line="$("$bin/clipneurons" mine --images "$tmp/images" --batch "$batch" --out "$tmp/run" 2>&1 | tail -1)"
echo "$mine_line" >&2
mine_rate="$(echo "$mine_line" | sed -n 's/.*(\([0-9.]*\) images\/s).*/\1/p')"
fwd_json="$("$bin/clipneurons-bench" --model crates/builtin/weights/builtin.safetensors --work image \
    --batch "$batch" --warmup 2 --iters 10 --json)"
fwd_rate="$(echo "$fwd_json" | sed -n 's/.*"items_per_s":\([0-9.e+-]*\).*/\1/p')"
echo "| images | batch | mine (images/s, PNG decode included) | forward only (images/s, best of 10) | ratio |"
echo "|---|---|---|---|---|"
awk -v n="$n" -v b="$batch" -v m="$mine_rate" -v f="$fwd_rate" \
    'BEGIN { printf "| %d | %d | %.1f | %.1f | %.2f |\n", n, b, m, f, m / f }'

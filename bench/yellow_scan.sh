#!/usr/bin/env bash
# Issue #5's "yellow" criterion over every neuron, not only the search's: mine 4,000 world test images (top 32 per
# neuron), then count, per neuron, its top images that are pictures (photo, drawing, icon) of yellow, banana or lemon
# and those that are those words written (the word facet). Prints the neurons with the most of both.
# Usage: bash bench/yellow_scan.sh [--model M]   (needs python3, standard library only; about 20 s on 2 cores after the build)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cargo build --release -p clipneurons --manifest-path "$root/Cargo.toml" >&2
B="${CARGO_TARGET_DIR:-$root/target}/release/clipneurons"
run="$(mktemp -d)"
trap 'rm -rf "$run"' EXIT
"$B" mine "$@" --world test --n 4000 --top-k 32 --out "$run/mine" >&2
for n in $(seq 0 $(("$(python3 -c "import json; print(json.load(open('$run/mine/manifest.json'))['key']['channels'])")" - 1))); do
    "$B" examples "$run/mine" --neuron "$n" --json > "$run/$n.json"
done
python3 - "$run" <<'PY'
import json, os, sys
run = sys.argv[1]
concepts = {'yellow', 'banana', 'lemon'}
rows = []
for f in os.listdir(run):
    if not f.endswith('.json'):
        continue
    ex = json.load(open(os.path.join(run, f)))['examples']
    pics = sum(1 for e in ex if e['concept'] in concepts and e['facet'] in ('photo', 'drawing', 'icon'))
    words = sum(1 for e in ex if e['concept'] in concepts and e['facet'] == 'word')
    rows.append((min(pics, words), pics + words, int(f[:-5]), pics, words))
rows.sort(reverse=True)
both = [r for r in rows if r[3] >= 3 and r[4] >= 3]
print('neurons with >= 3 pictures and >= 3 written words of yellow/banana/lemon among their top 32: %d' % len(both))
print('neuron  pictures  words')
for _, _, n, p, w in rows[:8]:
    print('%6d  %8d  %5d' % (n, p, w))
PY

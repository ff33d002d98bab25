#!/usr/bin/env bash
# Re-measures every figure of the README and docs/BENCHMARKS.md that depends on the built-in model's weights (run it
# after replacing crates/builtin/weights/builtin.safetensors and retraining facets.safetensors). Writes JSON, text
# and PNGs into OUT (default: builtin-figures/) and prints a summary; ~7.5 minutes on 2 cores after the build.
# Needs python3 (standard library only) to read the JSON.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mkdir -p "${1:-builtin-figures}" && cd "${1:-builtin-figures}" && pwd)"
cargo build --release -p clipneurons --manifest-path "$root/Cargo.toml" >&2
B="${CARGO_TARGET_DIR:-$root/target}/release/clipneurons"
cd "$out"
$B info > info.txt
$B world eval --out eval.json > eval.txt 2>&1
$B report --out report > report.txt 2>&1
$B words --all --out report > words-all.txt 2>&1
# Typographic attacks: every concept name as a paper label, then the best five and the best three object words.
$B attack --world test --per-concept 2 --protocol label --search --top 147 --json > attack-search.json 2>/dev/null
$B attack --world test --per-concept 2 --protocol grid8 --search --top 5 --json > grid8-search.json 2>/dev/null
$B probe train --world train --per-concept 8 --out probe.safetensors > probe.txt 2>&1
python3 - <<'PY'
import json, struct
with open('probe.safetensors', 'rb') as f:
    n = struct.unpack('<Q', f.read(8))[0]
    objects = json.loads(json.loads(f.read(n))['__metadata__']['labels'])
rows = json.load(open('attack-search.json'))['search']
open('names.txt', 'w').write('\n'.join(r['word'] for r in rows) + '\n')
open('objects.txt', 'w').write('\n'.join(objects) + '\n')
top = [r['word'] for r in rows[:5]]
obj = [r['word'] for r in rows if r['word'] in objects][:3]
open('attack-words.txt', 'w').write('\n'.join(top + [w for w in obj if w not in top]) + '\n')
open('attack-object-words.txt', 'w').write('\n'.join(obj) + '\n')
PY
mapfile -t W < attack-words.txt
mapfile -t O < attack-object-words.txt
$B attack --world test --per-concept 2 --protocol label --text "${W[@]}" --out attack-label --json > attack-label.json 2>/dev/null
$B attack --world test --per-concept 2 --protocol label --labels @objects.txt --text "${O[@]}" --json > attack-label-objects.json 2>/dev/null
$B attack --world test --per-concept 2 --protocol label --labels @objects.txt --classifier probe:probe.safetensors --text "${O[@]}" --json > attack-label-probe.json 2>/dev/null
$B attack --world test --per-concept 2 --protocol grid8 --text "${W[@]}" --json > attack-grid8.json 2>/dev/null
$B stroop --template '{}' --json > stroop-bare.json 2>/dev/null
$B stroop --template 'the word {}' --json > stroop-the-word.json 2>/dev/null
$B stroop --json > stroop-article.json 2>/dev/null
# Search, facet profile, rendered words and text feature visualisation of each search's first neuron.
for c in yellow webstrider happy surprised north; do
    $B search "$c" --top 5 --json > "search-$c.json" 2>/dev/null
    n=$(python3 -c "import json; print(json.load(open('search-$c.json'))['results'][0]['top'][0]['neuron'])")
    $B profile --neuron "$n" --world "$c" --json > "profile-$c.json" 2>/dev/null
    $B words --neuron "$n" --top 8 --json > "words-$c.json" 2>/dev/null
    $B textviz --neuron "$n" --json > "textviz-$c.json" 2>/dev/null
    $B viz --objective direction --text "$c" --neuron 0 --steps 128 --out "viz-direction-$c.png" --json > /dev/null 2>&1
    $B viz --neuron "$n" --objective neuron --steps 256 --out "viz-neuron-$c.png" --json > /dev/null 2>&1
done
for c in red orange green blue purple pink; do
    $B viz --objective direction --text "$c" --neuron 0 --steps 128 --out "viz-direction-$c.png" --json > /dev/null 2>&1
done
# The report's highest-scoring neuron whose label is among its top images in >= 3 facets, plain and faceted (the
# README's faceted picture and crates/viz/tests/facets.rs's neuron).
first=$(python3 -c "import json; print(max((n for n in json.load(open('report/labels.json'))['neurons'] if len(n['facets']) >= 3), key=lambda n: n['score'])['neuron'])")
$B viz --neuron "$first" --steps 96 --seed 3 --out "facet-$first-plain.png" --json > /dev/null 2>&1
for f in photo drawing icon text; do
    $B viz --neuron "$first" --steps 96 --seed 3 --facet "$f" --facet-strength 5 --out "facet-$first-$f.png" --json > /dev/null 2>&1
done
echo "== zero-shot names of the visualisations (bare prompt)"
$B classify --image viz-*.png --labels @names.txt --template '{}'
echo "== summary"
python3 - <<'PY'
import json
e = json.load(open('eval.json'))
print('names %.1f%% (top-5 %.1f%%), held-out font: names %.1f%%, all words %.1f%%, held-out drawing %.1f%%, attack %.1f%%, multimodal %d / %d / %d'
      % (100 * e['word_name']['top1'], 100 * e['word_name_top5']['top1'], 100 * e['held_out_font_name']['top1'], 100 * e['held_out_font']['top1'],
         100 * e['held_out_drawing']['top1'], 100 * e['attack']['word_win_rate'], e['multimodality']['multimodal'],
         e['multimodality_standardised']['multimodal'], e['multimodality']['with_some_multimodal_neuron']))
for w in json.load(open('attack-label.json'))['words']:
    print('attack label %-12s success %.1f%% changed away %.1f%%' % (w['word'], 100 * w['success_rate'], 100 * w['changed_away_rate']))
for c in ['yellow', 'webstrider', 'happy', 'surprised', 'north']:
    p = json.load(open('profile-%s.json' % c))
    print('search %-10s' % c, ' '.join('%s %.2f' % (s['label'], s['mean']) for s in p['sets']))
PY

#!/usr/bin/env bash
# Creates reference/.venv (idempotent) and installs the pinned reference-script dependencies.
#   bash reference/setup.sh && reference/.venv/bin/python reference/make_fixtures.py
# Set WITH_TRANSFORMERS=1 to also install HF transformers (only used to cross-check the HF-layout fixture).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q -r "$here/requirements.txt"
if [ "${WITH_TRANSFORMERS:-0}" = "1" ]; then
    "$venv/bin/python" -m pip install -q -r "$here/requirements-verify.txt"
fi
"$venv/bin/python" -c "import torch, open_clip; print('reference venv ready: torch', torch.__version__, 'open_clip', open_clip.__version__)"

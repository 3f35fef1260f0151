#!/usr/bin/env bash
# Build the toolkit's virtual environment at tools/venv (the ESPnet convention) and install
# aac editable into it, plus the offline metric assets.
# Usage: tools/setup_venv.sh [--python python3]
# Reads tools/requirements.txt; writes tools/venv/ and the marker tools/venv.done.
set -euo pipefail
cd "$(dirname "$0")/.."
python=python3
while [ $# -gt 0 ]; do
    case "$1" in
        --python) python=$2; shift 2 ;;
        -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
        *) echo "setup_venv.sh: unknown option $1" >&2; exit 1 ;;
    esac
done
log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (setup_venv.sh) $*"; }

if [ -f tools/venv.done ] && [ tools/venv.done -nt tools/requirements.txt ] && [ tools/venv.done -nt setup.py ]; then
    log "tools/venv is up to date"; exit 0
fi
[ -x tools/venv/bin/python ] || { log "creating tools/venv with $(${python} --version)"; "${python}" -m venv tools/venv; }
log "installing pinned requirements (torch is large: the first install takes a few minutes)"
tools/venv/bin/pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
tools/venv/bin/pip install --quiet -r tools/requirements.txt 2>&1 | grep -v '^WARNING: Location' || true
tools/venv/bin/pip install --quiet --no-deps -e . 2>&1 | grep -v '^WARNING: Location' || true
tools/venv/bin/python -c "import aac, torch, torchaudio, transformers, h5py, kaldiio, sentencepiece, soundfile" \
    || { log "ERROR: the environment does not import; see the pip output above"; exit 1; }
if [ -x tools/install_metric_assets.sh ]; then
    tools/install_metric_assets.sh || log "WARNING: metric assets incomplete; scoring reports what is missing"
fi
date > tools/venv.done
log "done: $(tools/venv/bin/python -c 'import torch; print("torch", torch.__version__)')"

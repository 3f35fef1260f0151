#!/usr/bin/env bash
# Build the toolkit's virtual environment at tools/venv (the ESPnet convention) and install
# aac editable into it, plus the offline metric assets.
# Usage: tools/setup_venv.sh [--python python3] [--latest]
#   default   tools/venv from tools/requirements.txt (the pinned stack: transformers 4.57, numpy 1.26)
#   --latest  tools/venv-latest from tools/requirements-latest.txt (the newest stack aac is
#             tested on: transformers 5, numpy 2); the metric assets are shared with tools/venv
# Both also install tools/requirements-nodeps.txt with --no-deps (aac-metrics without msclap).
# Writes the venv and its marker tools/venv.done (tools/venv-latest.done).
set -euo pipefail
cd "$(dirname "$0")/.."
python=python3
venv=tools/venv
requirements=tools/requirements.txt
while [ $# -gt 0 ]; do
    case "$1" in
        --python) python=$2; shift 2 ;;
        --latest) venv=tools/venv-latest; requirements=tools/requirements-latest.txt; shift ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "setup_venv.sh: unknown option $1" >&2; exit 1 ;;
    esac
done
log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (setup_venv.sh) $*"; }
# pip's exit status is kept (pipefail); only its noise about absent local indexes is dropped.
pip_install() {
    if ! "${venv}/bin/pip" install --quiet "$@" 2>&1 | { grep -v '^WARNING: Location' || true; }; then
        log "ERROR: pip install $* failed in ${venv}; see the pip output above"; exit 1
    fi
}

marker=${venv}.done
up_to_date=true
for input in "${requirements}" tools/requirements-nodeps.txt setup.py; do
    [ -f "${marker}" ] && [ "${marker}" -nt "${input}" ] || up_to_date=false
done
if ${up_to_date}; then
    log "${venv} is up to date"; exit 0
fi
[ -x "${venv}/bin/python" ] || { log "creating ${venv} with $(${python} --version)"; "${python}" -m venv "${venv}"; }
log "installing ${requirements} (torch is large: the first install takes a few minutes)"
pip_install --upgrade pip
pip_install -r "${requirements}"
pip_install --no-deps -r tools/requirements-nodeps.txt
pip_install --no-deps -e .
"${venv}/bin/python" -c "import aac, torch, torchaudio, transformers, h5py, kaldiio, sentencepiece, soundfile
from aac.metrics.scoring import import_aac_metrics
import_aac_metrics()" || { log "ERROR: ${venv} does not import; see the pip output above"; exit 1; }
if [ "${venv}" = tools/venv ] && [ -x tools/install_metric_assets.sh ]; then
    tools/install_metric_assets.sh || log "WARNING: metric assets incomplete; scoring reports what is missing"
fi
date > "${marker}"
log "done: $("${venv}/bin/python" -c 'import numpy, torch, transformers as t; print("torch", torch.__version__, "transformers", t.__version__, "numpy", numpy.__version__)')"

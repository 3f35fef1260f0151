#!/usr/bin/env bash
# Install caption-metric assets (PTB tokenizer, METEOR, SPICE, FENSE) into the aac-metrics cache.
# Usage: tools/install_metric_assets.sh [--cache-dir DIR] [--offline] [--spice-corenlp-dir DIR] [--fense-dir DIR]
# Works offline from the pycocoevalcap wheel on PyPI; see `aac-install-metric-assets --help`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${here}/venv/bin/python"
[ -x "${python}" ] || python="python3"
exec "${python}" -m aac.bin.install_metric_assets "$@"

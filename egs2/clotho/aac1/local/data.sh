#!/usr/bin/env bash
# Stage 1 for Clotho v2.1 + AudioCaps v1: corpus folders -> Kaldi-style data dirs.
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (data.sh:${BASH_LINENO[0]}) $*"; }

help_message=$(cat << 'USAGE'
Usage: local/data.sh [--download true|false] [--datadir data] [--corpora "clotho audiocaps"]
  Run from egs2/clotho/aac1. Corpus roots come from db.sh (CLOTHO=, AUDIOCAPS=), each
  overridable by an environment variable of the same name; they contain CLOTHO_v2.1/ and
  AUDIOCAPS/ as aac-datasets lays them out.
  Writes <datadir>/clotho_{development,validation,evaluation}/ and
  <datadir>/audiocaps_{train,val,test}/ (wav.scp, utt2dur, text, text_spk1..5).
  --download true   fetch missing splits first (Clotho: Zenodo + MD5; AudioCaps: aac-datasets)
USAGE
)

download=false
datadir=data
corpora="clotho audiocaps"

. utils/parse_options.sh
if [ $# -ne 0 ]; then
    echo "${help_message}" >&2
    exit 1
fi

# path.sh activates the venv; tests run without it, with the venv already on PATH.
# shellcheck disable=SC1091
if [ -f path.sh ]; then . ./path.sh; fi
# shellcheck disable=SC1091
. ./db.sh

opts=()
[ "${download}" = true ] && opts+=(--download)

for corpus in ${corpora}; do
    case "${corpus}" in
        clotho) root=${CLOTHO} ;;
        audiocaps) root=${AUDIOCAPS} ;;
        *) log "ERROR: unknown corpus '${corpus}' (clotho or audiocaps)"; exit 1 ;;
    esac
    [ "${download}" = true ] && mkdir -p "${root}"
    log "${corpus}: ${root} -> ${datadir}/${corpus}_*"
    aac-prep-data --corpus "${corpus}" --root "${root}" --output-dir "${datadir}" "${opts[@]}"
done
log "done: $(cd "${datadir}" && echo */)"

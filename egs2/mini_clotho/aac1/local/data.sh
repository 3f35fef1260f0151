#!/usr/bin/env bash
# Stage 1 for the mini corpus: generate it (once) and prepare it like the real corpora.
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (data.sh:${BASH_LINENO[0]}) $*"; }

help_message=$(cat << 'USAGE'
Usage: local/data.sh [--download true|false] [--datadir data] [--seed 0] [--num_clips "SET=N ..." or SET=N,SET=N]
  Run from egs2/mini_clotho/aac1. Generates the synthetic corpus into $CLOTHO (and into
  $AUDIOCAPS when that differs; both from db.sh, overridable by environment variables),
  skipped when a complete one with the same options is there, then writes
  <datadir>/clotho_{development,validation,evaluation}/ and <datadir>/audiocaps_{train,val,test}/.
  --download is accepted for interface compatibility and ignored: nothing is downloaded.
USAGE
)

# shellcheck disable=SC2034  # --download is accepted (parse_options.sh) and ignored
download=false
datadir=data
seed=0
num_clips=""

. utils/parse_options.sh
if [ $# -ne 0 ]; then
    echo "${help_message}" >&2
    exit 1
fi

# shellcheck disable=SC1091
if [ -f path.sh ]; then . ./path.sh; fi
# shellcheck disable=SC1091
. ./db.sh

gen_opts=(--seed "${seed}")
# shellcheck disable=SC2206
[ -n "${num_clips}" ] && gen_opts+=(--num-clips ${num_clips//,/ })  # "SET=N,SET=N" or "SET=N SET=N"

if [ "${AUDIOCAPS}" = "${CLOTHO}" ]; then
    log "generating the mini corpus (Clotho + AudioCaps layouts) in ${CLOTHO}"
    aac-make-mini-corpus --output-dir "${CLOTHO}" "${gen_opts[@]}"
else
    log "generating the mini corpus: Clotho layout in ${CLOTHO}, AudioCaps layout in ${AUDIOCAPS}"
    aac-make-mini-corpus --output-dir "${CLOTHO}" --corpora clotho "${gen_opts[@]}"
    aac-make-mini-corpus --output-dir "${AUDIOCAPS}" --corpora audiocaps "${gen_opts[@]}"
fi

log "clotho: ${CLOTHO} -> ${datadir}/clotho_*"
aac-prep-data --corpus clotho --root "${CLOTHO}" --output-dir "${datadir}"
log "audiocaps: ${AUDIOCAPS} -> ${datadir}/audiocaps_*"
aac-prep-data --corpus audiocaps --root "${AUDIOCAPS}" --output-dir "${datadir}"
log "done: $(cd "${datadir}" && echo */)"

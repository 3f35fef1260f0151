#!/usr/bin/env bash
# Stage 1 for AudioSet MLAC: tagging data dirs from the official CSVs and the local audio.
# Usage: local/data.sh   (run from egs2/audioset/mlac1; AUDIOSET from db.sh)
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (data.sh:${BASH_LINENO[0]}) $*"; }
# shellcheck disable=SC1091
. ./db.sh
for split in balanced_train eval; do
    log "${AUDIOSET}/${split}_segments.csv + ${AUDIOSET}/audio/${split} -> data/audioset_${split}"
    aac-prep-tagging --segments "${AUDIOSET}/${split}_segments.csv" \
        --class-labels "${AUDIOSET}/class_labels_indices.csv" \
        --audio-dir "${AUDIOSET}/audio/${split}" --output-dir "data/audioset_${split}"
done

#!/usr/bin/env bash
# Stage 1 for mini MLAC: the captioning recipe's data prep (generates the mini corpus), then
# tagging dirs from the AudioSet-layout label CSVs it writes beside the AudioCaps layout.
# Usage: local/data.sh [options of ../aac1/local/data.sh]   (run from egs2/mini_clotho/mlac1)
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (data.sh:${BASH_LINENO[0]}) $*"; }

../aac1/local/data.sh "$@"
# shellcheck disable=SC1091
. ./db.sh
labels=${AUDIOCAPS}/AUDIOCAPS/audioset
for split in train val test; do
    log "tagging dir: ${labels}/${split}_segments.csv + data/audiocaps_${split} -> data/audiocaps_${split}_tags"
    aac-prep-tagging --segments "${labels}/${split}_segments.csv" \
        --class-labels "${labels}/class_labels_indices.csv" \
        --data-dir "data/audiocaps_${split}" --output-dir "data/audiocaps_${split}_tags"
done

#!/usr/bin/env bash
# Multi-label tagging pre-training of cnn_small on the generated mini corpus (no downloads):
# the event labels of its AudioCaps-layout clips, written in the AudioSet CSV layout.
# Usage: ./run.sh [--stage N] [--stop_stage M] [atcl.sh options]
set -euo pipefail

./atcl.sh --task mlac \
    --train_set audiocaps_train_tags --valid_set audiocaps_val_tags \
    --test_sets "audiocaps_test_tags" \
    --pretrain_config conf/mlac.yaml \
    "$@"

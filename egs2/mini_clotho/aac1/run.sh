#!/usr/bin/env bash
# The whole recipe on a generated mini corpus: no downloads, about 10 minutes on 2 CPU cores.
# Usage: ./run.sh [--paper_row NAME | --system NAME] [--stage N] [--stop_stage M] [aac.sh options]
#   --paper_row NAME  a stand-in for one paper row (conf/paper/NAME.yaml: random-init or
#                     log-mel encoders, labelled as such); local/paper.sh runs them all.
#   --system dcase2023  the DCASE 2023 system's levers at toy sizes, offline
#                     (conf/system/dcase2023.yaml; log-mel stand-in for BEATs)
set -euo pipefail

# shellcheck disable=SC1091
. ./path.sh
# aac-paper-row expands --paper_row NAME (or --system NAME) into its options; without, ARGS unchanged.
recipe_args=$(aac-paper-row --conf-dir conf/paper --as-options -- "$@")
eval "set -- ${recipe_args}"

./aac.sh \
    --pretrain_set audiocaps_train --pretrain_valid_set audiocaps_val \
    --train_set clotho_development --valid_set clotho_validation \
    --test_sets "clotho_evaluation" \
    --encoder logmel \
    --token_vocab_size 150 \
    --pretrain_config conf/pretrain.yaml --finetune_config conf/finetune.yaml \
    --beam 4 --nj 2 --decode_nj 2 \
    --scenario_suite conf/scenarios/mini.yaml \
    "$@"

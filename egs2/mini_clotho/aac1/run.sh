#!/usr/bin/env bash
# The whole recipe on a generated mini corpus: no downloads, about 10 minutes on 2 CPU cores.
# Usage: ./run.sh [--stage N] [--stop_stage M] [aac.sh options]
set -euo pipefail

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

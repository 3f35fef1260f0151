#!/usr/bin/env bash
# Audio-text contrastive pre-training of cnn_small on the generated mini corpus (no downloads).
# Usage: ./run.sh [--stage N] [--stop_stage M] [atcl.sh options]
# Then caption with the result (from egs2/mini_clotho/aac1):
#   ./run.sh --encoder cnn_small --encoder_checkpoint ../atcl1/exp/atcl_atcl/encoder_atcl.pt --tag cnn_small_atcl
set -euo pipefail

./atcl.sh --task atcl \
    --train_set clotho_development --valid_set clotho_validation \
    --test_sets "clotho_evaluation" \
    --pretrain_config conf/atcl.yaml \
    "$@"

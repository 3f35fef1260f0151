#!/usr/bin/env bash
# Clotho v2.1 captioning with AudioCaps pre-training (Wu et al., 2023).
# Usage: ./run.sh [--paper_row pann_mlac|pann_mlac_atcl|beats_malm|beats_malm_mlac]
#                 [--stage N] [--stop_stage M] [--downsample 1|2|4|8] [--ngpu N] [aac.sh options]
#   --paper_row NAME  encoder, official checkpoint and tag of one row of the paper's Table 1
#                     (conf/paper/NAME.yaml; default: pann_mlac = pann_cnn14_16k with
#                     Cnn14_16k_mAP=0.438.pth). Its checkpoint is fetched into downloads/encoders/
#                     (stage 0) unless --encoder_checkpoint PATH is given.
#   --system dcase2023  the DCASE 2023 system's combination instead of a paper row
#                     (conf/system/dcase2023.yaml; needs a mix-up caption list you bring:
#                     docs/training_levers.md)
#   Both tables of the paper in one command: local/paper.sh (same options).
# Example, BEATs fine-tuned on AS2M, 4x downsampling, on one GPU:
#   ./run.sh --paper_row beats_malm_mlac --downsample 4 --ngpu 1 --extract_device cuda --decode_device cuda
set -euo pipefail

# shellcheck disable=SC1091
. ./path.sh
# aac-paper-row expands --paper_row NAME (or --system NAME) into its aac.sh options (before the user's own).
recipe_args=$(aac-paper-row --conf-dir conf/paper --default-row pann_mlac --as-options -- "$@")
eval "set -- ${recipe_args}"

./aac.sh \
    --pretrain_set audiocaps_train --pretrain_valid_set audiocaps_val \
    --train_set clotho_development --valid_set clotho_validation \
    --test_sets "clotho_evaluation" \
    --token_vocab_size 5000 \
    --pretrain_config conf/pretrain.yaml --finetune_config conf/finetune.yaml \
    --beam 4 --nj 8 --decode_nj 4 \
    "$@"

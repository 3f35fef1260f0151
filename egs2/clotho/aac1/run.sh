#!/usr/bin/env bash
# Clotho v2.1 captioning with AudioCaps pre-training (Wu et al., 2023).
# Usage: ./run.sh [--stage N] [--stop_stage M] [--encoder pann_cnn14|dcase23_cnn14|beats]
#                 [--encoder_checkpoint PATH] [--downsample 1|2|4|8] [--ngpu N] [aac.sh options]
# Example, BEATs fine-tuned on AS2M, 4x downsampling, on one GPU:
#   ./run.sh --encoder beats --encoder_checkpoint BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt1.pt \
#            --downsample 4 --ngpu 1 --extract_device cuda --decode_device cuda
set -euo pipefail

./aac.sh \
    --pretrain_set audiocaps_train --pretrain_valid_set audiocaps_val \
    --train_set clotho_development --valid_set clotho_validation \
    --test_sets "clotho_evaluation" \
    --encoder pann_cnn14 --encoder_checkpoint "${PANN_CKPT:-Cnn14_mAP=0.431.pth}" \
    --token_vocab_size 5000 \
    --pretrain_config conf/pretrain.yaml --finetune_config conf/finetune.yaml \
    --beam 4 --nj 8 --decode_nj 4 \
    "$@"

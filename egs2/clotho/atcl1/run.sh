#!/usr/bin/env bash
# Audio-text contrastive pre-training (ATCL) on Clotho v2.1, as the DCASE 2023 baseline's
# audio_encoder.pth: PANN Cnn14 (AudioSet weights) against frozen all-MiniLM-L6-v2 caption
# embeddings, InfoNCE at several temperatures, the best by validation t2a mAP@10 kept.
# Usage: ./run.sh [--stage N] [--stop_stage M] [--ngpu N] [atcl.sh options]
# Data prep is the captioning recipe's (local -> ../aac1/local, db.sh -> ../aac1/db.sh).
# Then caption with it (from egs2/clotho/aac1):
#   ./run.sh --encoder pann_cnn14 --encoder_checkpoint ../atcl1/exp/atcl_atcl/encoder_atcl.pt --tag pann_atcl
set -euo pipefail

./atcl.sh --task atcl \
    --train_set clotho_development --valid_set clotho_validation \
    --test_sets "clotho_evaluation" \
    --pretrain_config conf/atcl.yaml \
    --pretrain_args "--encoder-checkpoint ${PANN_CKPT:-Cnn14_mAP=0.431.pth}" \
    "$@"

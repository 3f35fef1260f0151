#!/usr/bin/env bash
# The paper driver end to end on a small generated corpus, in a few minutes on 2 CPU cores.
# Usage: local/paper.sh [--stage N] [--stop_stage M] [aac.sh options]
# Rows are stand-ins (conf/paper/*.yaml say for what): log-mel features, and the DCASE 2023
# Cnn14 with random weights; figures are NOT comparable with the paper's. To stay short: a
# small corpus, no AudioCaps pre-training, tiny fine-tuning (conf/paper_finetune.yaml), the
# Table 2 sweep at downsample 1 and 4, CIDEr-D and SPIDEr-FL only (SPIDEr-FL shows n/a
# without its offline assets). Results in exp/paper/RESULTS.md.
set -euo pipefail
exec "$(dirname "$(readlink -f "$0")")/../../../TEMPLATE/aac1/paper.sh" \
    --local_data_opts "--num_clips clotho_development=40,clotho_validation=8,clotho_evaluation=16,audiocaps_train=4,audiocaps_val=2,audiocaps_test=2" \
    --skip_pretrain true --finetune_config conf/paper_finetune.yaml \
    --token_vocab_size 100 --nj 2 --decode_nj 1 --decode_from_audio true \
    --score_metrics "cider_d spider_fl" \
    "$@"

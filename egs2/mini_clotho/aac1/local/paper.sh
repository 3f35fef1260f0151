#!/usr/bin/env bash
# The paper driver end to end on a small generated corpus, in a few minutes on 2 CPU cores.
# Usage: local/paper.sh [--stage N] [--stop_stage M] [aac.sh options]
# Rows are stand-ins (conf/paper/*.yaml say for what): log-mel features, and the DCASE 2023
# Cnn14 with random weights; figures are NOT comparable with the paper's. To stay short: a
# small corpus, no AudioCaps pre-training, tiny fine-tuning (conf/paper_finetune.yaml), the
# Table 2 sweep run at downsample 1 and 4 (2 and 8 show the paper's figures only). Every
# metric of the paper's tables is asked for; SPICE, SPIDEr and SPIDEr-FL show n/a with the
# reason where their offline assets are missing. Results in exp/paper/RESULTS.md.
set -euo pipefail
exec "$(dirname "$(readlink -f "$0")")/../../../TEMPLATE/aac1/paper.sh" \
    --local_data_opts "--num_clips clotho_development=40,clotho_validation=8,clotho_evaluation=16,audiocaps_train=4,audiocaps_val=2,audiocaps_test=2" \
    --skip_pretrain true --finetune_config conf/paper_finetune.yaml \
    --token_vocab_size 100 --nj 2 --decode_nj 1 --decode_from_audio true \
    --score_metrics "bleu_4 rouge_l meteor cider_d spice spider spider_fl" \
    "$@"

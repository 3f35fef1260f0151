#!/usr/bin/env bash
# Multi-label audio classification (MLAC) pre-training on AudioSet: 527 classes, balanced
# sampling, BCE, mixup; judged by tagging mAP on the evaluation segments.
# Usage: ./run.sh [--stage N] [--stop_stage M] [--ngpu N] [atcl.sh options]
# AUDIOSET (db.sh) holds balanced_train_segments.csv, eval_segments.csv,
# class_labels_indices.csv and audio/{balanced_train,eval}/ (files <YTID>_<start>.* or Y<YTID>*.*).
# AudioSet has no validation split: the evaluation segments select the epoch and are reported.
set -euo pipefail

./atcl.sh --task mlac \
    --train_set audioset_balanced_train --valid_set audioset_eval \
    --test_sets "audioset_eval" \
    --pretrain_config conf/mlac.yaml \
    "$@"

#!/usr/bin/env bash
# The paper's Table 1 (four encoders) and Table 2 (BEATs MALM+MLAC at downsample 1, 2, 4, 8;
# PANN MLAC+ATCL at 1) on Clotho, in one command; results in exp/paper/RESULTS.md.
# Usage: local/paper.sh [--stage N] [--stop_stage M] [run.sh options, e.g. --ngpu 1 --extract_device cuda --decode_device cuda]
# Decoding runs from audio, so that the RTF of Table 2 counts the encoder as the paper's does.
set -euo pipefail
exec "$(dirname "$(readlink -f "$0")")/../../../TEMPLATE/aac1/paper.sh" --decode_from_audio true "$@"

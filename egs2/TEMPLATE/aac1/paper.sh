#!/usr/bin/env bash
# Reproduce the paper's Table 1 and Table 2 in one command (Wu et al., 2023).
# Usage: local/paper.sh [--stage N] [--stop_stage M] [run.sh / aac.sh options]   (from egs2/<corpus>/aac1)
#   Runs `./run.sh OPTIONS --paper_row ROW --downsample K` for each experiment that
#   `aac-paper-row --conf-dir conf/paper --plan` lists (the Table 1 rows, then the Table 2
#   points not run yet), every option passed on to every sub-run, cmd_backend included;
#   then writes exp/paper/RESULTS.md (aac-paper-results): both tables in the paper's row
#   order, ours beside the published figures. Work is shared, never redone: data (stage 1)
#   and tokenizer (stage 2) once; features (stage 3) once per row in dump/<row>/, which the
#   downsampling sweep reuses (the stride is applied at training time); a stage finished
#   before is skipped. PAPER_SET (default clotho_evaluation) is the set of the tables.
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (paper.sh) $*"; }
if [ ! -x ./run.sh ] || [ ! -d conf/paper ]; then
    echo "paper.sh: run from a recipe directory with run.sh and conf/paper/ (e.g. egs2/clotho/aac1)" >&2
    exit 1
fi
# shellcheck disable=SC1091
. ./path.sh

experiments=$(aac-paper-row --conf-dir conf/paper --plan)
log "experiments (row:downsample): ${experiments}"
for experiment in ${experiments}; do
    row=${experiment%:*}; downsample=${experiment#*:}
    log "${row} at downsample ${downsample}: ./run.sh $* --paper_row ${row} --downsample ${downsample}"
    # Scenario tests (stage 8) are not part of the paper's tables: off unless asked for.
    ./run.sh --scenario_suite "" "$@" --paper_row "${row}" --downsample "${downsample}"
done

log "tables: exp/finetune_<row>_ds<k>/decode_*/${PAPER_SET:-clotho_evaluation}/ -> exp/paper/RESULTS.md"
aac-paper-results --conf-dir conf/paper --exp-root exp --set "${PAPER_SET:-clotho_evaluation}" \
    --output exp/paper/RESULTS.md

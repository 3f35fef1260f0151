#!/usr/bin/env bash
# Generic encoder pre-training recipe (ATCL or MLAC): every corpus's run.sh calls this.
#
# Usage: ./atcl.sh --task atcl|mlac [--stage N] [--stop_stage M] [--force true] [options]   (run from egs2/<corpus>/<task>1)
#   1 data prep       local/data.sh                               -> data/<set>/{wav.scp,text*|labels}
#   2 pre-training    data/<train_set> + data/<valid_set> + config -> exp/<task>_<tag>/ (one run per tau of the grid)
#   3 export          exp/<task>_<tag>/ (selected run)             -> exp/<task>_<tag>/encoder_<task>.pt
#   4 evaluation      exported model + data/<test sets>            -> exp/<task>_<tag>/eval/<set>/scores.json, RESULTS.md
# A stage whose outputs are complete (a .done marker) is skipped on rerun unless --force true.
# The exported encoder captions with: egs2/<corpus>/aac1/run.sh --encoder NAME --encoder_checkpoint FILE --tag T
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (atcl.sh:${BASH_LINENO[0]}) $*"; }
die() { log "ERROR: $*"; exit 1; }

# General
task=atcl; stage=1; stop_stage=100; force=false
ngpu=0; nproc=1; num_nodes=1
datadir=data; dumpdir=dump; expdir=exp
# Data
train_set=clotho_development; valid_set=clotho_validation; test_sets="clotho_evaluation"
local_data_opts=""
# Pre-training
pretrain_config=conf/atcl.yaml; tag=""; pretrain_args=""; text_encoder=""
# Evaluation
eval_device=cpu

help_message=$(sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//')
. utils/parse_options.sh
[ $# -eq 0 ] || die "unexpected arguments: $*"
# shellcheck source=../aac1/path.sh
. ./path.sh
# shellcheck source=../aac1/cmd.sh
. ./cmd.sh

case "${task}" in atcl|mlac) ;; *) die "--task must be atcl or mlac (got ${task})";; esac
[ -n "${tag}" ] || tag=$(basename "${pretrain_config}" .yaml)
exp=${expdir}/${task}_${tag}
text_cache=${dumpdir}/text_emb/$( [ -n "${text_encoder}" ] && basename "${text_encoder}" || echo all-MiniLM-L6-v2 ).pt
text_opts=(); [ -z "${text_encoder}" ] || text_opts=(--text-encoder "${text_encoder}")

run_stage() { [ "$1" -ge "${stage}" ] && [ "$1" -le "${stop_stage}" ]; }
is_done() {
    if [ "${force}" = true ]; then rm -f "$1"; return 1; fi
    [ -f "$1" ]
}
mark_done() { mkdir -p "$(dirname "$1")"; date > "$1"; }

if run_stage 1; then
    log "Stage 1: data prep -> ${datadir}/"
    if is_done "${datadir}/.done_${task}"; then log "Stage 1: done before, skipped (--force true to redo)"
    else
        # shellcheck disable=SC2086
        local/data.sh ${local_data_opts}
        mark_done "${datadir}/.done_${task}"
    fi
fi

if run_stage 2; then
    log "Stage 2: ${task} pre-training: ${datadir}/${train_set} + ${datadir}/${valid_set} -> ${exp}/ (log: ${exp}/logs/train.log)"
    if is_done "${exp}/.done"; then log "Stage 2: done before, skipped"
    else
        if [ "${force}" = true ] && [ -d "${exp}" ]; then
            old=${exp}.old-$(date '+%Y%m%d-%H%M%S'); mv "${exp}" "${old}"
            log "Stage 2: --force: moved the previous run to ${old}"
        fi
        mkdir -p "${exp}/logs"
        node_opts=(); [ "${num_nodes}" -le 1 ] || node_opts=(-N "${num_nodes}")
        # shellcheck disable=SC2086
        ${cuda_cmd} --gpu "${ngpu}" "${node_opts[@]}" "${exp}/logs/train.log" \
            aac-pretrain-encoder --task "${task}" --config "${pretrain_config}" \
                --train-data "${datadir}/${train_set}" --valid-data "${datadir}/${valid_set}" \
                --output-dir "${exp}" --text-cache "${text_cache}" "${text_opts[@]}" \
                --ngpu "${ngpu}" --nproc "${nproc}" --num-nodes "${num_nodes}" ${pretrain_args}
        mark_done "${exp}/.done"
    fi
fi

if run_stage 3; then
    log "Stage 3: export: ${exp}/ -> ${exp}/encoder_${task}.pt"
    if is_done "${exp}/.done_export"; then log "Stage 3: done before, skipped"
    else
        aac-export-encoder "${exp}" "${exp}/encoder_${task}.pt"
        mark_done "${exp}/.done_export"
    fi
fi

if run_stage 4; then
    for dset in ${test_sets}; do
        log "Stage 4: evaluation (${task}): ${exp}/ + ${datadir}/${dset} -> ${exp}/eval/${dset}/scores.json"
        if [ "${task}" = atcl ]; then
            aac-eval-retrieval "${exp}" --data-dir "${datadir}/${dset}" --text-cache "${text_cache}" \
                --device "${eval_device}"
        else
            aac-eval-tagging "${exp}" --data-dir "${datadir}/${dset}" --device "${eval_device}"
        fi
    done
    log "Stage 4: results table: ${exp}/RESULTS.md"
    cat "${exp}/RESULTS.md"
fi
log "Successfully finished stages ${stage}-${stop_stage}."

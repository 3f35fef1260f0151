#!/usr/bin/env bash
# Generic audio-captioning recipe: every corpus's run.sh calls this with its own options.
#
# Usage: ./aac.sh [--stage N] [--stop_stage M] [--force true] [options]   (run from egs2/<corpus>/aac1)
#   1 data prep        local/data.sh                          -> data/<set>/{wav.scp,utt2dur,text,text_spk1..5}
#   2 tokenizer        data/<train sets>/text                 -> exp/tokenizer/tokenizer.model
#   3 feature caching  data/<set>/wav.scp                     -> dump/feats/<encoder>/<set>/feats.h5
#   4 pre-training     dump + data of the pre-training sets   -> exp/pretrain_<tag>/
#   5 fine-tuning      exp/pretrain_<tag>/best.pt + Clotho    -> exp/finetune_<tag>/
#   6 decoding         exp/finetune_<tag>/ + test sets        -> exp/finetune_<tag>/decode_<dtag>/<set>/text
#   7 scoring          decoded text + references              -> .../scores.json, exp/finetune_<tag>/RESULTS.md
# A stage whose outputs are complete (a .done marker) is skipped on rerun unless --force true.
# This script only routes: each stage is one `aac-<verb>` entry point of the aac package.
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (aac.sh:${BASH_LINENO[0]}) $*"; }
die() { log "ERROR: $*"; exit 1; }

# General
stage=1; stop_stage=100; force=false; skip_stages=""
nj=4; decode_nj=2; ngpu=0; num_nodes=1; nproc=1
datadir=data; dumpdir=dump; expdir=exp
# Data
pretrain_set=audiocaps_train; pretrain_valid_set=audiocaps_val
train_set=clotho_development; valid_set=clotho_validation; test_sets="clotho_evaluation"
local_data_opts=""
# Tokenizer
token_vocab_size=5000; token_model_type=unigram
# Features
encoder=pann_cnn14; encoder_checkpoint=""; encoder_random_init=false; feats_dtype=float32
extract_batch_size=8; extract_device=cpu
# Training
pretrain_config=conf/pretrain.yaml; finetune_config=conf/finetune.yaml
skip_pretrain=false; downsample=1; tag=""; train_args=""
# Decoding and scoring
beam=4; decode_batch_size=32; decode_from_audio=false; decode_device=cpu; decode_args=""
score_metrics=""

help_message=$(sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//')
. utils/parse_options.sh
[ $# -eq 0 ] || die "unexpected arguments: $*"
. ./path.sh
. ./cmd.sh

case "${downsample}" in 1|2|4|8) ;; *) die "--downsample must be 1, 2, 4 or 8 (got ${downsample})";; esac
feats_tag=${encoder}
[ "${encoder_random_init}" = true ] && feats_tag=${encoder}_random
[ -n "${tag}" ] || tag=${feats_tag}_ds${downsample}
tokenizer_dir=${expdir}/tokenizer
pretrain_dir=${expdir}/pretrain_${tag}
finetune_dir=${expdir}/finetune_${tag}
decode_tag=decode_beam${beam}
feats_of() { echo "${dumpdir}/feats/${feats_tag}/$1/feats.h5"; }

# run_stage N: true when N is within [stage, stop_stage] and not skipped.
run_stage() {
    [ "$1" -ge "${stage}" ] && [ "$1" -le "${stop_stage}" ] || return 1
    case " ${skip_stages} " in *" $1 "*) return 1;; esac
}
# is_done MARKER: skip finished work unless --force; --force removes the marker.
is_done() {
    if [ "${force}" = true ]; then rm -f "$1"; return 1; fi
    [ -f "$1" ]
}
mark_done() { mkdir -p "$(dirname "$1")"; date > "$1"; }

encoder_opts=(--encoder "${encoder}")
[ -n "${encoder_checkpoint}" ] && encoder_opts+=(--encoder-checkpoint "${encoder_checkpoint}")
[ "${encoder_random_init}" = true ] && encoder_opts+=(--random-init)

if run_stage 1; then
    log "Stage 1: data prep: CLOTHO=${CLOTHO:-} AUDIOCAPS=${AUDIOCAPS:-} -> ${datadir}/"
    if is_done "${datadir}/.done"; then log "Stage 1: done before, skipped (--force true to redo)"
    else
        # shellcheck disable=SC2086
        local/data.sh ${local_data_opts}
        mark_done "${datadir}/.done"
    fi
fi

token_texts=("${datadir}/${train_set}/text")
[ "${skip_pretrain}" = true ] || token_texts+=("${datadir}/${pretrain_set}/text")
if run_stage 2; then
    log "Stage 2: tokenizer: ${token_texts[*]} -> ${tokenizer_dir}/tokenizer.model"
    if is_done "${tokenizer_dir}/.done"; then log "Stage 2: done before, skipped"
    else
        text_opts=(); for t in "${token_texts[@]}"; do text_opts+=(--text "$t"); done
        aac-train-tokenizer "${text_opts[@]}" --output-dir "${tokenizer_dir}" \
            --vocab-size "${token_vocab_size}" --model-type "${token_model_type}"
        mark_done "${tokenizer_dir}/.done"
    fi
fi

feat_sets="${train_set} ${valid_set} ${test_sets}"
[ "${skip_pretrain}" = true ] || feat_sets="${pretrain_set} ${pretrain_valid_set} ${feat_sets}"
if run_stage 3; then
    for dset in ${feat_sets}; do
        out=$(feats_of "${dset}"); odir=$(dirname "${out}")
        log "Stage 3: feature caching (${feats_tag}, nj=${nj}): ${datadir}/${dset}/wav.scp -> ${out}"
        if is_done "${odir}/.done"; then log "Stage 3: ${dset} done before, skipped"; continue; fi
        mkdir -p "${odir}/split${nj}" "${odir}/log"
        parts=$(utils/split_scp --nj "${nj}" "${datadir}/${dset}/wav.scp" "${odir}/split${nj}/wav.JOB.scp")
        ${train_cmd} JOB=1:"${parts}" "${odir}/log/extract.JOB.log" \
            aac-extract-feats "${encoder_opts[@]}" --data-dir "${datadir}/${dset}" \
                --wav-scp "${odir}/split${nj}/wav.JOB.scp" --output "${odir}/feats.JOB.h5" \
                --batch-size "${extract_batch_size}" --device "${extract_device}" --storage-dtype "${feats_dtype}"
        part_files=(); for j in $(seq 1 "${parts}"); do part_files+=("${odir}/feats.${j}.h5"); done
        aac-merge-feats --output "${out}" "${part_files[@]}"
        rm -f "${part_files[@]}" "${part_files[@]/%/.lock}"
        mark_done "${odir}/.done"
    done
fi

# follow_log LOG COMMAND...: run COMMAND (a job backend writing LOG); on a terminal, show
# LOG while it grows, so training's progress bar is visible whatever the backend.
follow_log() {
    local logfile=$1; shift
    if [ ! -t 1 ]; then "$@"; return; fi
    "$@" & local pid=$! rc=0
    tail -n +1 -F --pid="${pid}" "${logfile}" 2> /dev/null &
    wait "${pid}" || rc=$?
    wait
    return "${rc}"
}

# train_stage N WHAT CONFIG TRAIN VALID OUTDIR [extra args...]
train_stage() {
    local n=$1 what=$2 config=$3 tset=$4 vset=$5 odir=$6; shift 6
    log "Stage ${n}: ${what}: ${datadir}/${tset} + $(feats_of "${tset}") -> ${odir}/ (log: ${odir}/logs/train.log)"
    if is_done "${odir}/.done"; then log "Stage ${n}: done before, skipped"; return 0; fi
    if [ "${force}" = true ] && [ -d "${odir}" ]; then
        # Redo from scratch, but never destroy an experiment: keep it beside the new one.
        local old; old=${odir}.old-$(date '+%Y%m%d-%H%M%S')
        mv "${odir}" "${old}"; log "Stage ${n}: --force: moved the previous run to ${old}"
    fi
    mkdir -p "${odir}/logs"
    # Multi-node DDP: the job asks the scheduler for the nodes; aac-train starts one
    # process group per node through srun inside that allocation.
    local node_opts=(); [ "${num_nodes}" -le 1 ] || node_opts=(-N "${num_nodes}")
    # shellcheck disable=SC2086
    follow_log "${odir}/logs/train.log" \
        ${cuda_cmd} --gpu "${ngpu}" "${node_opts[@]}" "${odir}/logs/train.log" \
        aac-train --config "${config}" \
            --train-data "${datadir}/${tset}" --train-feats "$(feats_of "${tset}")" \
            --valid-data "${datadir}/${vset}" --valid-feats "$(feats_of "${vset}")" \
            --tokenizer "${tokenizer_dir}/tokenizer.model" --output-dir "${odir}" \
            --ngpu "${ngpu}" --nproc "${nproc}" --num-nodes "${num_nodes}" \
            --override "downsample=${downsample}" "$@" ${train_args}
    mark_done "${odir}/.done"
}

if run_stage 4 && [ "${skip_pretrain}" != true ]; then
    train_stage 4 "AudioCaps pre-training" "${pretrain_config}" \
        "${pretrain_set}" "${pretrain_valid_set}" "${pretrain_dir}"
fi

if run_stage 5; then
    init_opts=()
    [ "${skip_pretrain}" = true ] || init_opts=(--init-from "${pretrain_dir}")
    train_stage 5 "Clotho fine-tuning" "${finetune_config}" \
        "${train_set}" "${valid_set}" "${finetune_dir}" "${init_opts[@]}"
fi

if run_stage 6; then
    for dset in ${test_sets}; do
        odir=${finetune_dir}/${decode_tag}/${dset}
        log "Stage 6: decoding (beam ${beam}, nj=${decode_nj}): ${finetune_dir} + ${datadir}/${dset} -> ${odir}/text"
        if is_done "${odir}/.done"; then log "Stage 6: ${dset} done before, skipped"; continue; fi
        mkdir -p "${odir}/split${decode_nj}" "${odir}/log"
        parts=$(utils/split_scp --nj "${decode_nj}" "${datadir}/${dset}/utt2dur" "${odir}/split${decode_nj}/keys.JOB")
        if [ "${decode_from_audio}" = true ]; then src_opts=(--from-audio); else src_opts=(--feats "$(feats_of "${dset}")"); fi
        # shellcheck disable=SC2086
        ${decode_cmd} JOB=1:"${parts}" "${odir}/log/decode.JOB.log" \
            aac-decode --exp-dir "${finetune_dir}" --data-dir "${datadir}/${dset}" "${src_opts[@]}" \
                --keys "${odir}/split${decode_nj}/keys.JOB" --output-dir "${odir}/split${decode_nj}/JOB" \
                --beam "${beam}" --batch-size "${decode_batch_size}" --device "${decode_device}" ${decode_args}
        part_dirs=(); for j in $(seq 1 "${parts}"); do part_dirs+=("${odir}/split${decode_nj}/${j}"); done
        aac-merge-decodes --output-dir "${odir}" "${part_dirs[@]}"
        mark_done "${odir}/.done"
    done
fi

if run_stage 7; then
    for dset in ${test_sets}; do
        odir=${finetune_dir}/${decode_tag}/${dset}
        log "Stage 7: scoring: ${odir}/text + ${datadir}/${dset}/text_spk1..5 -> ${odir}/scores.json"
        metric_opts=(); [ -z "${score_metrics}" ] || metric_opts=(--metrics ${score_metrics})
        aac-score --hyp "${odir}/text" --ref-dir "${datadir}/${dset}" --output-dir "${odir}" \
            --constant-baseline "${datadir}/${train_set}/text" "${metric_opts[@]}"
    done
    log "Stage 7: results table: ${finetune_dir} -> ${finetune_dir}/RESULTS.md"
    aac-results "${finetune_dir}" > "${finetune_dir}/RESULTS.md.tmp"
    mv "${finetune_dir}/RESULTS.md.tmp" "${finetune_dir}/RESULTS.md"
    cat "${finetune_dir}/RESULTS.md"
fi
log "Successfully finished stages ${stage}-${stop_stage}."

#!/usr/bin/env bash
# Generic audio-captioning recipe: every corpus's run.sh calls this with its own options.
#
# Usage: ./aac.sh [--stage N] [--stop_stage M] [--force true] [options]   (run from egs2/<corpus>/aac1)
#   0 encoder weights  aac-download-encoder (when --encoder_checkpoint is not given) -> downloads/encoders/
#   1 data prep        local/data.sh                          -> data/<set>/{wav.scp,utt2dur,text,text_spk1..5}
#   2 tokenizer        data/<train sets>/text                 -> exp/tokenizer/tokenizer.model
#   3 feature caching  data/<set>/wav.scp                     -> dump/feats/<encoder>_<hash8>/<set>/feats.h5
#   4 pre-training     dump + data of the pre-training sets   -> exp/pretrain_<tag>/
#   5 fine-tuning      exp/pretrain_<tag>/best.pt + Clotho    -> exp/finetune_<tag>/
#   6 decoding         exp/finetune_<tag>/ + test sets        -> exp/finetune_<tag>/decode_<dtag>/<set>/text
#   7 scoring          decoded text + references              -> .../scores.json, exp/finetune_<tag>/RESULTS.md
#   8 scenario tests   exp/finetune_<tag>/ + --scenario_suite    -> exp/finetune_<tag>/scenarios/<suite>/summary.md
# A finished stage leaves a .done marker recording its inputs (files by SHA-256, options;
# aac-provenance). A rerun skips it while those are unchanged (unless --force true) and
# runs it again, saying why, when one changed (another best.pt, other data or options).
# The feature cache directory <encoder>_<hash8> hashes what changes the features (encoder,
# checkpoint SHA-256, random init, storage dtype, extraction stride, chunking, encoder conf).
# This script only routes: each stage is one `aac-<verb>` entry point of the aac package.
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (aac.sh:${BASH_LINENO[0]}) $*"; }
die() { log "ERROR: $*"; exit 1; }

# >>> options: one `name=default  # meaning` per line; --help is generated from this block
# General
stage=1                              # first stage to run (0-8; 0 also runs when weights are missing)
stop_stage=100                       # last stage to run
skip_stages=""                       # stages to skip, e.g. "4 6"
force=false                          # redo finished stages (an old experiment dir is moved aside)
nj=4                                 # parallel feature-extraction jobs per set
decode_nj=2                          # parallel decoding jobs per set
ngpu=0                               # GPUs per training node (>1: DDP)
num_nodes=1                          # training nodes (>1 needs the slurm backend: sbatch -N)
nproc=1                              # CPU training processes (gloo DDP) when ngpu=0
datadir=data                         # data directories data/<set>/
dumpdir=dump                         # feature caches dump/feats/<encoder>_<hash8>/<set>/feats.h5
expdir=exp                           # experiments exp/<name>/
# Data
pretrain_set=audiocaps_train         # pre-training set (stage 4)
pretrain_valid_set=audiocaps_val     # validation set of pre-training
train_set=clotho_development         # fine-tuning set (stage 5)
valid_set=clotho_validation          # validation set of fine-tuning
test_sets="clotho_evaluation"        # sets decoded and scored (stages 6-7)
local_data_opts=""                   # options passed to local/data.sh
# Tokenizer
token_vocab_size=5000                # SentencePiece vocabulary size
token_model_type=unigram             # SentencePiece model: unigram or bpe
# Features
encoder=pann_cnn14                   # audio encoder (aac.encoders.ENCODERS)
encoder_checkpoint=""                # encoder weights file (default: fetched by stage 0)
encoder_download=""                  # official checkpoint name for stage 0 (aac-download-encoder --list)
encoder_dir=downloads/encoders       # where stage 0 puts official encoder weights
encoder_random_init=false            # random encoder weights (ablations and speed tests only)
feats_dtype=float32                  # feature cache storage dtype: float32 or float16
extract_batch_size=8                 # clips per encoder batch in stage 3
extract_device=cpu                   # device of stage 3: cpu, cuda or cuda:N
# Training
pretrain_config=conf/pretrain.yaml   # training YAML of stage 4
finetune_config=conf/finetune.yaml   # training YAML of stage 5
skip_pretrain=false                  # fine-tune from scratch, without stage 4
downsample=1                         # frame stride before cross-attention (paper Table 2): 1, 2, 4 or 8 (the only source: aac-train --downsample)
tag=""                               # experiment name suffix (default: <encoder>_ds<downsample>)
train_args=""                        # extra aac-train options (e.g. "--override optim.lr=1e-4")
# Decoding and scoring
beam=4                               # beam width (1 = greedy)
decode_batch_size=32                 # clips per decoding batch
decode_from_audio=false              # decode from audio through the encoder, not the cache
decode_device=cpu                    # device of stage 6: cpu, cuda or cuda:N
decode_checkpoint=best               # model checkpoint decoded: best, last, epochN or a path
rtf_clips=20                         # clips timed for the paper RTF (audio in, one at a time, serially after decoding; 0 skips)
decode_args=""                       # extra aac-decode options
decode_config=""                     # decode YAML of stages 6 and 8: candidate captions re-ranked (aac-decode --decode-config); empty: the paper's beam search
score_metrics=""                     # metrics to compute (default: all aac-score knows)
# Scenario tests (stage 8)
scenario_suite=""                    # scenario suite YAML (conf/scenarios/*.yaml); empty skips stage 8
scenario_args=""                     # extra aac-scenarios options
# <<< options

# options_help: the block above as "--name  meaning (default: value)" lines.
options_help() {
    local line name rest value
    sed -n '/^# >>> options/,/^# <<< options/p' "$0" | while IFS= read -r line; do
        case "${line}" in
            "# >>>"*|"# <<<"*) ;;
            "#"*) printf '%s:\n' "${line#\# }" ;;
            *) name=${line%%=*}; rest=${line#*=}; value=${rest%%#*}
               value=${value%"${value##*[! ]}"}  # without trailing blanks
               printf '  --%-20s %s (default: %s)\n' "${name}" "${rest#*# }" "${value}" ;;
        esac
    done
}
help_message="$(sed -n '2,/^# This script only routes/p' "$0" | sed 's/^# \{0,1\}//')
Options (--name value or --name=value; also --config FILE of name=value lines):
$(options_help)"
. utils/parse_options.sh
[ $# -eq 0 ] || die "unexpected arguments: $*"
. ./path.sh
. ./cmd.sh

case "${downsample}" in 1|2|4|8) ;; *) die "--downsample must be 1, 2, 4 or 8 (got ${downsample})";; esac
encoder_tag=${encoder}
[ "${encoder_random_init}" = true ] && encoder_tag=${encoder}_random
[ -n "${tag}" ] || tag=${encoder_tag}_ds${downsample}
tokenizer_dir=${expdir}/tokenizer
pretrain_dir=${expdir}/pretrain_${tag}
finetune_dir=${expdir}/finetune_${tag}
decode_tag=decode_beam${beam}_$(basename "${decode_checkpoint}" .pt)_ds${downsample}
rerank_opts=()
if [ -n "${decode_config}" ]; then
    [ -f "${decode_config}" ] || die "--decode_config ${decode_config}: no such file"
    decode_tag=${decode_tag}_$(basename "${decode_config}" .yaml)
    rerank_opts=(--decode-config "${decode_config}")
fi
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
# mark_done MARKER [RECORD]: the stage finished; RECORD (aac-provenance record) names its inputs.
mark_done() { mkdir -p "$(dirname "$1")"; printf '%s\n' "${2:-$(date)}" > "$1.tmp"; mv "$1.tmp" "$1"; }
# stage_done N MARKER INPUTS...: true when MARKER records these inputs (aac-provenance check
# INPUTS); a stage whose inputs changed is run again, and the log says what changed.
stage_done() {
    local n=$1 marker=$2 why rc=0; shift 2
    if [ "${force}" = true ]; then rm -f "${marker}"; return 1; fi
    [ -f "${marker}" ] || return 1
    why=$(aac-provenance check "${marker}" "$@") || rc=$?
    [ "${rc}" -eq 0 ] && return 0
    [ "${rc}" -eq 1 ] || die "Stage ${n}: cannot check ${marker} (see above)"
    log "Stage ${n}: ${why}; running it again"
    return 1
}

# ---- Stage 0: official encoder weights -----------------------------------------------------
# With --encoder_download NAME (an `aac-download-encoder --list` name) and no
# --encoder_checkpoint, the checkpoint is ${encoder_dir}/<official file>. Stage 0 fetches it
# (resumable, hash-checked) when asked (--stage 0: also re-verifies a present file), or when
# stage 3 (or stage 6 from audio) is to run and the file is not there; otherwise it is skipped.
if [ -n "${encoder_download}" ] && [ -z "${encoder_checkpoint}" ]; then
    encoder_checkpoint=$(aac-download-encoder "${encoder_download}" --dir "${encoder_dir}" --print-path)
    if run_stage 0 || { [ ! -f "${encoder_checkpoint}" ] \
            && { run_stage 3 || { run_stage 6 && [ "${decode_from_audio}" = true ]; }; }; }; then
        log "Stage 0: encoder weights: ${encoder_download} -> ${encoder_checkpoint}"
        aac-download-encoder "${encoder_download}" --dir "${encoder_dir}" > /dev/null
    fi
fi
# ---------------------------------------------------------------------------------------------

encoder_opts=(--encoder "${encoder}")
[ -n "${encoder_checkpoint}" ] && encoder_opts+=(--encoder-checkpoint "${encoder_checkpoint}")
[ "${encoder_random_init}" = true ] && encoder_opts+=(--random-init)
# Everything aac-extract-feats is told that changes the features names their cache.
feats_opts=("${encoder_opts[@]}" --storage-dtype "${feats_dtype}")
feats_tag=""
if run_stage 3 || run_stage 4 || run_stage 5 || run_stage 6; then
    feats_tag=$(aac-provenance feats-tag "${feats_opts[@]}") || die "cannot name the feature cache (see above; --stage 0 fetches official weights)"
fi

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
    inputs=(--option "vocab_size=${token_vocab_size}" --option "model_type=${token_model_type}")
    for t in "${token_texts[@]}"; do inputs+=(--file "$t"); done
    if stage_done 2 "${tokenizer_dir}/.done" "${inputs[@]}"; then log "Stage 2: done before, skipped"
    else
        record=$(aac-provenance record "${inputs[@]}")
        text_opts=(); for t in "${token_texts[@]}"; do text_opts+=(--text "$t"); done
        aac-train-tokenizer "${text_opts[@]}" --output-dir "${tokenizer_dir}" \
            --vocab-size "${token_vocab_size}" --model-type "${token_model_type}"
        mark_done "${tokenizer_dir}/.done" "${record}"
    fi
fi

feat_sets="${train_set} ${valid_set} ${test_sets}"
[ "${skip_pretrain}" = true ] || feat_sets="${pretrain_set} ${pretrain_valid_set} ${feat_sets}"
if run_stage 3; then
    for dset in ${feat_sets}; do
        out=$(feats_of "${dset}"); odir=$(dirname "${out}")
        log "Stage 3: feature caching (${feats_tag}, nj=${nj}): ${datadir}/${dset}/wav.scp -> ${out}"
        inputs=(--option "feats_tag=${feats_tag}" --file "${datadir}/${dset}/wav.scp")
        if stage_done 3 "${odir}/.done" "${inputs[@]}"; then
            # the cache itself must say it holds what this run asks for
            if why=$(aac-provenance check-feats "${out}" "${feats_opts[@]}"); then
                log "Stage 3: ${dset} done before, skipped"; continue
            fi
            log "Stage 3: ${why}; extracting ${dset} again"
        fi
        record=$(aac-provenance record "${inputs[@]}")
        mkdir -p "${odir}/split${nj}" "${odir}/log"
        parts=$(utils/split_scp --nj "${nj}" "${datadir}/${dset}/wav.scp" "${odir}/split${nj}/wav.JOB.scp")
        ${train_cmd} JOB=1:"${parts}" "${odir}/log/extract.JOB.log" \
            aac-extract-feats "${encoder_opts[@]}" --data-dir "${datadir}/${dset}" \
                --wav-scp "${odir}/split${nj}/wav.JOB.scp" --output "${odir}/feats.JOB.h5" \
                --batch-size "${extract_batch_size}" --device "${extract_device}" --storage-dtype "${feats_dtype}"
        part_files=(); for j in $(seq 1 "${parts}"); do part_files+=("${odir}/feats.${j}.h5"); done
        aac-merge-feats --output "${out}" "${part_files[@]}"
        rm -f "${part_files[@]}" "${part_files[@]/%/.lock}"
        mark_done "${odir}/.done" "${record}"
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

# train_stage N WHAT CONFIG TRAIN VALID OUTDIR INIT_DIR (empty: from scratch)
train_stage() {
    local n=$1 what=$2 config=$3 tset=$4 vset=$5 odir=$6 init=$7 inputs record init_opts=()
    log "Stage ${n}: ${what}: ${datadir}/${tset} + $(feats_of "${tset}") -> ${odir}/ (log: ${odir}/logs/train.log)"
    inputs=(--file "${config}" --data "${datadir}/${tset}" --data "${datadir}/${vset}"
        --file "$(dirname "$(feats_of "${tset}")")/.done" --file "$(dirname "$(feats_of "${vset}")")/.done"
        --file "${tokenizer_dir}/tokenizer.model" --option "downsample=${downsample}"
        --option "train_args=${train_args}")
    if [ -n "${init}" ]; then inputs+=(--checkpoint "${init}" best); init_opts=(--init-from "${init}"); fi
    if stage_done "${n}" "${odir}/.done" "${inputs[@]}"; then log "Stage ${n}: done before, skipped"; return 0; fi
    record=$(aac-provenance record "${inputs[@]}")
    if [ "${force}" = true ] && [ -d "${odir}" ]; then
        # Redo from scratch, but never destroy an experiment: keep it beside the new one.
        local old; old=${odir}.old-$(date '+%Y%m%d-%H%M%S')
        mv "${odir}" "${old}"; log "Stage ${n}: --force: moved the previous run to ${old}"
    fi
    mkdir -p "${odir}/logs"
    # Multi-node DDP: the job asks the scheduler for the nodes; aac-train starts one
    # process group per node through srun inside that allocation. Only sbatch reads -N as
    # a node count (qsub reads it as the job name; run.pl and ssh.pl ignore it), so the
    # node option goes to slurm.pl alone; elsewhere the run must sit inside an allocation.
    local node_opts=()
    if [ "${num_nodes}" -gt 1 ]; then
        case "${cuda_cmd}" in
            *slurm.pl*) node_opts=(-N "${num_nodes}") ;;
            *) log "Stage ${n}: --num_nodes ${num_nodes}: ${cuda_cmd%% *} has no node count;" \
                   "aac-train will start the nodes through srun (run inside a Slurm allocation)" ;;
        esac
    fi
    # shellcheck disable=SC2086
    follow_log "${odir}/logs/train.log" \
        ${cuda_cmd} --gpu "${ngpu}" "${node_opts[@]}" "${odir}/logs/train.log" \
        aac-train --config "${config}" \
            --train-data "${datadir}/${tset}" --train-feats "$(feats_of "${tset}")" \
            --valid-data "${datadir}/${vset}" --valid-feats "$(feats_of "${vset}")" \
            --tokenizer "${tokenizer_dir}/tokenizer.model" --output-dir "${odir}" \
            --ngpu "${ngpu}" --nproc "${nproc}" --num-nodes "${num_nodes}" \
            --downsample "${downsample}" "${init_opts[@]}" ${train_args}
    mark_done "${odir}/.done" "${record}"
}

if run_stage 4 && [ "${skip_pretrain}" != true ]; then
    train_stage 4 "AudioCaps pre-training" "${pretrain_config}" \
        "${pretrain_set}" "${pretrain_valid_set}" "${pretrain_dir}" ""
fi

if run_stage 5; then
    init_dir=""
    [ "${skip_pretrain}" = true ] || init_dir=${pretrain_dir}
    train_stage 5 "Clotho fine-tuning" "${finetune_config}" \
        "${train_set}" "${valid_set}" "${finetune_dir}" "${init_dir}"
fi

if run_stage 6; then
    for dset in ${test_sets}; do
        odir=${finetune_dir}/${decode_tag}/${dset}
        log "Stage 6: decoding (beam ${beam}, ${decode_checkpoint}, nj=${decode_nj}; then the paper RTF on ${rtf_clips} clips): ${finetune_dir} + ${datadir}/${dset} -> ${odir}/{text,rtf.json}"
        inputs=(--checkpoint "${finetune_dir}" "${decode_checkpoint}" --file "${finetune_dir}/config.yaml"
            --file "${finetune_dir}/tokenizer.model" --data "${datadir}/${dset}"
            --option "beam=${beam}" --option "batch_size=${decode_batch_size}"
            --option "from_audio=${decode_from_audio}" --option "rtf_clips=${rtf_clips}"
            --option "decode_args=${decode_args}")
        [ -z "${decode_config}" ] || inputs+=(--file "${decode_config}")
        [ "${decode_from_audio}" = true ] || inputs+=(--file "$(dirname "$(feats_of "${dset}")")/.done")
        if stage_done 6 "${odir}/.done" "${inputs[@]}"; then log "Stage 6: ${dset} done before, skipped"; continue; fi
        record=$(aac-provenance record "${inputs[@]}")
        mkdir -p "${odir}/split${decode_nj}" "${odir}/log"
        parts=$(utils/split_scp --nj "${decode_nj}" "${datadir}/${dset}/utt2dur" "${odir}/split${decode_nj}/keys.JOB")
        if [ "${decode_from_audio}" = true ]; then src_opts=(--from-audio); else src_opts=(--feats "$(feats_of "${dset}")"); fi
        # shellcheck disable=SC2086
        ${decode_cmd} JOB=1:"${parts}" "${odir}/log/decode.JOB.log" \
            aac-decode --exp-dir "${finetune_dir}" --data-dir "${datadir}/${dset}" "${src_opts[@]}" \
                --keys "${odir}/split${decode_nj}/keys.JOB" --output-dir "${odir}/split${decode_nj}/JOB" \
                --beam "${beam}" --batch-size "${decode_batch_size}" --device "${decode_device}" \
                --checkpoint "${decode_checkpoint}" --rtf-clips 0 "${rerank_opts[@]}" ${decode_args}
        part_dirs=(); for j in $(seq 1 "${parts}"); do part_dirs+=("${odir}/split${decode_nj}/${j}"); done
        aac-merge-decodes --output-dir "${odir}" "${part_dirs[@]}"
        # The paper RTF: one serial job after the parts, so no decode part shares the cores.
        if [ "${rtf_clips}" != 0 ]; then
            log "Stage 6: paper RTF, serial (${rtf_clips} clips, audio in, one at a time, beam 4): ${datadir}/${dset}/wav.scp -> ${odir}/rtf.json (log: ${odir}/log/paper_rtf.log)"
            # shellcheck disable=SC2086
            ${decode_cmd} "${odir}/log/paper_rtf.log" \
                aac-decode --paper-rtf-only --exp-dir "${finetune_dir}" --data-dir "${datadir}/${dset}" \
                    --output-dir "${odir}" --device "${decode_device}" \
                    --checkpoint "${decode_checkpoint}" --rtf-clips "${rtf_clips}" ${decode_args}
        fi
        mark_done "${odir}/.done" "${record}"
    done
fi

if run_stage 7; then
    for dset in ${test_sets}; do
        odir=${finetune_dir}/${decode_tag}/${dset}
        log "Stage 7: scoring: ${odir}/text + ${datadir}/${dset}/text_spk1..5 -> ${odir}/scores.json"
        # the decoding's own marker is an input: a redone stage 6 is scored again
        inputs=(--file "${odir}/text" --file "${odir}/.done" --data "${datadir}/${dset}"
            --file "${datadir}/${train_set}/text" --option "metrics=${score_metrics}")
        if stage_done 7 "${odir}/.score.done" "${inputs[@]}"; then
            log "Stage 7: ${dset} done before, skipped"; continue
        fi
        record=$(aac-provenance record "${inputs[@]}")
        metric_opts=(); [ -z "${score_metrics}" ] || read -r -a metric_opts <<< "--metrics ${score_metrics}"
        aac-score --hyp "${odir}/text" --ref-dir "${datadir}/${dset}" --output-dir "${odir}" \
            --constant-baseline "${datadir}/${train_set}/text" "${metric_opts[@]}"
        mark_done "${odir}/.score.done" "${record}"
    done
    log "Stage 7: results table: ${finetune_dir} -> ${finetune_dir}/RESULTS.md"
    aac-results "${finetune_dir}" > "${finetune_dir}/RESULTS.md.tmp"
    mv "${finetune_dir}/RESULTS.md.tmp" "${finetune_dir}/RESULTS.md"
    cat "${finetune_dir}/RESULTS.md"
fi

# Stage 8: scenario tests (aac-scenarios): live captioning of critical events, pass/fail
if run_stage 8; then
    if [ -z "${scenario_suite}" ]; then
        log "Stage 8: scenario tests: no --scenario_suite given, skipped"
    else
        odir=${finetune_dir}/scenarios/$(basename "${scenario_suite}" .yaml)
        [ -z "${decode_config}" ] || odir=${odir}_$(basename "${decode_config}" .yaml)
        log "Stage 8: scenario tests: ${finetune_dir} + ${scenario_suite} -> ${odir}/summary.md"
        enc_opts=(); [ -z "${encoder_checkpoint}" ] || enc_opts=(--encoder-checkpoint "${encoder_checkpoint}")
        inputs=(--checkpoint "${finetune_dir}" best --file "${finetune_dir}/config.yaml"
            --file "${scenario_suite}" --option "beam=${beam}" --option "scenario_args=${scenario_args}")
        [ -z "${encoder_checkpoint}" ] || inputs+=(--file "${encoder_checkpoint}")
        [ -z "${decode_config}" ] || inputs+=(--file "${decode_config}")
        if stage_done 8 "${odir}/.done" "${inputs[@]}"; then log "Stage 8: done before, skipped"
        else
            record=$(aac-provenance record "${inputs[@]}")
            # shellcheck disable=SC2086
            aac-scenarios "${finetune_dir}" --suite "${scenario_suite}" --output-dir "${odir}" \
                --device "${decode_device}" --beam "${beam}" "${enc_opts[@]}" "${rerank_opts[@]}" ${scenario_args}
            cat "${odir}/summary.md"
            mark_done "${odir}/.done" "${record}"
        fi
    fi
fi
log "Successfully finished stages ${stage}-${stop_stage}."

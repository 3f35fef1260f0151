#!/usr/bin/env bash
# GPU check on a machine that reaches no package index: wheels go there beside this script.
# Usage:
#   tools/gpu_check.sh --prepare                  # here (PyPI reachable): wheels -> tools/gpu_wheels/
#   tools/gpu_check.sh [--json gpu_report.json] [--time-limit 420] [gpu_check.py options]
#                                                 # there: offline install, then the check
#   tools/gpu_check.sh --install-only             # there: the offline install alone
#   tools/gpu_check.sh --device cpu --json r.json # the CPU fallback (tiny sizes), anywhere
# Paths are relative to the tree's root (the script runs there).
#
# --prepare downloads the pinned wheels of what the GPU machines lack (soundfile with its
# bundled libsndfile, cffi, pycparser, kaldiio; pytest and its dependencies for the cuda
# tests) for CPython 3.11-3.14 on x86_64 and aarch64 manylinux. They are git-ignored: copy
# the tree with tools/gpu_wheels/ to the GPU machine. There, a shipped package that does not
# import is installed from the wheels alone (`pip install --no-index --no-deps --target`,
# or by unpacking the wheel where pip is missing) into tools/gpu_wheels/site-<python>,
# which goes on PYTHONPATH with the tree itself (aac runs from the tree, uninstalled;
# `pip install --no-deps --no-build-isolation -e .` would do as well where setuptools is).
# aac-metrics is never needed: the check imports nothing from aac.metrics.
# The check (benchmarks/gpu_check.py) runs under `timeout`, --time-limit seconds (default
# 420: the whole script stays under 8 minutes); its JSON report is rewritten after every
# section, so a run stopped at the limit keeps what it measured. Its log goes beside the
# report (<report>.log). Exit status: the check's (124 at the time limit).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (gpu_check.sh) $*" >&2; }

WHEELS=tools/gpu_wheels
# distribution==version:module it provides; versions as tools/requirements.txt installs.
SHIPPED=(soundfile==0.14.0:soundfile cffi==2.1.1:_cffi_backend pycparser==3.12:pycparser
         kaldiio==2.18.1:kaldiio pytest==9.2.0:pytest iniconfig==2.3.1:iniconfig
         pluggy==1.7.0:pluggy pygments==2.21.0:pygments packaging==26.4:packaging)
# What the GPU machines carry and no wheel here replaces (torch and its CUDA build above all).
REQUIRED=(torch torchaudio transformers numpy h5py sentencepiece yaml tqdm safetensors)

pick_python() {
    if [ -n "${PYTHON:-}" ]; then echo "${PYTHON}"; return; fi
    for py in python3 python; do
        if command -v "${py}" >/dev/null && "${py}" -c 'import torch' 2>/dev/null; then
            echo "${py}"; return
        fi
    done
    echo python3
}

prepare() {
    local pip=(tools/venv/bin/python -m pip download --no-deps --only-binary=:all: -d "${WHEELS}")
    local dists=() entry ver arch
    for entry in "${SHIPPED[@]}"; do dists+=("${entry%%:*}"); done
    mkdir -p "${WHEELS}"
    for arch in x86_64 aarch64; do
        for ver in 3.11 3.12 3.13 3.14; do
            log "wheels for CPython ${ver} on ${arch}"
            "${pip[@]}" --implementation cp --python-version "${ver}" \
                --platform "manylinux2014_${arch}" --platform "manylinux_2_17_${arch}" \
                --platform "manylinux_2_28_${arch}" "${dists[@]}" >/dev/null
        done
    done
    log "$(find "${WHEELS}" -maxdepth 1 -name '*.whl' | wc -l) wheels in ${WHEELS}/"
}

# The wheel of `dist` that this python can import, for unpacking without pip.
wheel_for() {
    local py=$1 dist=$2 tag whl
    tag=$("${py}" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
    for whl in "${WHEELS}/${dist}"-*"-${tag}-${tag}-"*"$(uname -m)"*.whl \
               "${WHEELS}/${dist}"-*-py3-none-any.whl "${WHEELS}/${dist}"-*-py2.py3-none-any.whl \
               "${WHEELS}/${dist}"-*-py2.py3-none-*"$(uname -m)"*.whl; do
        if [ -f "${whl}" ]; then echo "${whl}"; return; fi
    done
    return 1
}

install_missing() {
    local py=$1 site=$2 missing=() entry dist whl
    for entry in "${SHIPPED[@]}"; do
        PYTHONPATH="${site}${PYTHONPATH:+:${PYTHONPATH}}" "${py}" -c "import ${entry##*:}" 2>/dev/null || missing+=("${entry%%:*}")
    done
    if [ "${#missing[@]}" -eq 0 ]; then log "nothing to install"; return; fi
    [ -d "${WHEELS}" ] || { log "ERROR: missing ${missing[*]} and no ${WHEELS}/ (run --prepare where PyPI is reachable)"; exit 1; }
    log "installing from ${WHEELS}/ into ${site}: ${missing[*]}"
    if "${py}" -m pip install -q --no-index --no-deps --find-links "${WHEELS}" \
            --target "${site}" "${missing[@]}"; then
        return
    fi
    log "pip could not install them; unpacking the wheels instead"
    for dist in "${missing[@]}"; do
        whl=$(wheel_for "${py}" "${dist%%==*}") || { log "ERROR: no wheel of ${dist} for ${py}"; exit 1; }
        "${py}" -m zipfile -e "${whl}" "${site}"
    done
}

check_required() {
    local py=$1 missing=() mod
    for mod in "${REQUIRED[@]}" "${SHIPPED[@]##*:}"; do
        "${py}" -c "import ${mod}" 2>/dev/null || missing+=("${mod}")
    done
    if [ "${#missing[@]}" -ne 0 ]; then log "ERROR: ${py} cannot import: ${missing[*]}"; exit 1; fi
}

main() {
    local json=gpu_report.json limit=420 install_only=false args=() py site rc=0
    while [ $# -gt 0 ]; do
        case $1 in
            --prepare) prepare; return ;;
            --install-only) install_only=true; shift ;;
            --json) json=$2; shift 2 ;;
            --time-limit) limit=$2; shift 2 ;;
            *) args+=("$1"); shift ;;
        esac
    done
    py=$(pick_python)
    site="${WHEELS}/site-$("${py}" -c 'import sys; print("py%d%d" % sys.version_info[:2])')"
    install_missing "${py}" "${site}"
    export PYTHONPATH="${PWD}/${site}:${PWD}${PYTHONPATH:+:${PYTHONPATH}}"
    if "${install_only}"; then return; fi
    check_required "${py}"
    mkdir -p "$(dirname "${json}")"
    log "benchmarks/gpu_check.py ${args[*]} -> ${json} (limit ${limit} s; log ${json%.json}.log)"
    timeout --kill-after=20 "${limit}" "${py}" benchmarks/gpu_check.py --json "${json}" "${args[@]}" \
        2>&1 | tee "${json%.json}.log" || rc=${PIPESTATUS[0]}
    log "exit status ${rc}; report ${json}"
    return "${rc}"
}

main "$@"

#!/usr/bin/env bash
# Run the test suite in tools/venv (or --venv DIR), starting the local Slurm the cluster tests use.
# Usage: tools/run_tests.sh [--venv tools/venv-latest] [pytest args...] [tests/FILE ...]
# Without a tests/ path among the arguments the whole of tests/ runs.
# With CI=true a Slurm that cannot start is an error; elsewhere its tests are skipped.
# A selection that collects no tests (pytest's exit status 5) is an error, never a pass.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (run_tests.sh) $*"; }
venv=tools/venv
if [ "${1:-}" = --venv ]; then
    venv=$2; shift 2
fi
[ -x "${venv}/bin/python" ] || { log "ERROR: no ${venv}; build it with tools/setup_venv.sh"; exit 1; }

if [ -x utils/slurm_localhost.sh ]; then
    if utils/slurm_localhost.sh start; then
        log "local Slurm is up: $(sinfo --version 2>/dev/null || echo '?')"
    elif [ "${CI:-false}" = true ]; then
        log "ERROR: could not start the local Slurm that the cluster tests need"; exit 1
    else
        log "WARNING: no local Slurm (needs root and apt); the Slurm tests will be skipped"
    fi
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
log "$("${venv}/bin/python" -c 'import numpy, torch, transformers as t; print("torch", torch.__version__, "transformers", t.__version__, "numpy", numpy.__version__)')"
where=(tests)
for arg in "$@"; do
    case "${arg}" in tests/*) where=() ;; esac
done
rc=0
"${venv}/bin/python" -m pytest -ra "$@" "${where[@]}" || rc=$?
[ "${rc}" -ne 5 ] || log "ERROR: pytest $* collected no tests"
exit "${rc}"

#!/usr/bin/env bash
# Run the test suite in tools/venv, starting the local Slurm the cluster tests use.
# Usage: tools/run_tests.sh [pytest args...]
# With CI=true a Slurm that cannot start is an error; elsewhere its tests are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (run_tests.sh) $*"; }

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
exec tools/venv/bin/python -m pytest -ra "$@" tests

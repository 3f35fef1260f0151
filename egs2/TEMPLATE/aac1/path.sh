# Sourced by every recipe: activates the toolkit's virtual environment (tools/venv).
MAIN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
if [ -f "${MAIN_ROOT}/tools/venv/bin/activate" ]; then
    # shellcheck disable=SC1091
    . "${MAIN_ROOT}/tools/venv/bin/activate"
elif ! command -v aac-train > /dev/null; then
    echo "path.sh: ${MAIN_ROOT}/tools/venv is missing: run 'make setup' in ${MAIN_ROOT}" >&2
    return 1
fi
export LC_ALL=C.UTF-8 PYTHONIOENCODING=UTF-8
# One BLAS thread per job unless the user says otherwise: parallel jobs share the cores.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

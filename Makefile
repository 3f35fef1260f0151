# aac: the two commands of the README, and a few helpers.
#   make mini   set up tools/venv and run the whole recipe on the generated mini corpus
#   make test   set up tools/venv and run the test suite (what .ci/run calls)
#   make test-isa  the numerics tests again on AVX2 kernels only (.ci/run calls it after make test)
#   make test-latest  set up tools/venv-latest (the newest tested stack) and run the fast suite
#                     in it (.ci/run calls it after make test)
SHELL := /bin/bash
.PHONY: setup setup-latest mini test test-fast test-isa test-latest lint clean-mini

# setup_venv.sh is idempotent: it returns at once when tools/venv is up to date.
setup:
	bash tools/setup_venv.sh

setup-latest:
	bash tools/setup_venv.sh --latest

mini: setup
	cd egs2/mini_clotho/aac1 && ./run.sh

# Shell scripts that users run or source: the recipe routers, job helpers, setup and CI.
SHELL_SCRIPTS = $(shell ls egs2/TEMPLATE/*/*.sh egs2/*/*/run.sh egs2/*/*/db.sh egs2/*/*/local/*.sh \
                    utils/*.sh tools/*.sh .ci/run 2>/dev/null)

lint: setup
	tools/venv/bin/ruff check aac tests benchmarks setup.py
	tools/venv/bin/ruff format --check aac tests benchmarks setup.py
	tools/venv/bin/shellcheck -x $(SHELL_SCRIPTS)

test: setup lint
	bash tools/run_tests.sh

test-fast: setup
	bash tools/run_tests.sh -m "not slow"

# The tests whose figures depend on CPU kernels, rerun with torch, oneDNN and MKL held to their
# AVX2 code paths: an AVX-512 or AMX machine never takes those paths otherwise, so a bit-exact
# comparison or an ISA-only op (oneDNN's bf16 weight packing) would first fail on a user's CPU.
ISA_TESTS = tests/test_chunking.py tests/test_encoders_pann.py tests/test_encoders_beats.py \
            tests/test_encoders_beats_reference.py tests/test_encoders_dcase23.py \
            tests/test_captioner.py tests/test_prepack.py tests/test_model_beam_search.py \
            tests/test_captioning.py tests/test_frames.py tests/test_extract_feats.py
test-isa: setup
	ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
	    bash tools/run_tests.sh $(ISA_TESTS)

test-latest: setup-latest
	bash tools/run_tests.sh --venv tools/venv-latest -m "not slow"

clean-mini:
	rm -rf egs2/mini_clotho/aac1/{data,dump,exp,downloads}

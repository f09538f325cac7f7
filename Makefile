# Two commands do all the set-up on a fresh machine (see README.md):
#   make report   run the notebooks top to bottom, refresh assets/, build the site
#   make test     unit tests + strict nbval over every notebook
# Both create and reuse .venv, install the pinned requirements and the package, and fetch the data.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
PY := $(BIN)/python
export PATH := $(BIN):$(PATH)

NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# Notebooks that also run on MNIST for the report (papermill, `-p dataset mnist`), into build/.
MNIST_NOTEBOOKS := $(NOTEBOOKS)

# One numeric environment for the reference runs (make report) and the nbval check (make test),
# so that both print the same floats on any x86-64 CPU with AVX2 (MKL_CBWR=AVX2: reproducible
# MKL code path at full speed; COMPATIBLE would halve the speed of every matrix product).
export OMP_NUM_THREADS := 2
export MKL_NUM_THREADS := 2
export MKL_CBWR := AVX2
export ATEN_CPU_CAPABILITY := avx2
export ONEDNN_MAX_CPU_ISA := AVX2
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1

NBCONVERT := jupyter nbconvert --to notebook --execute --inplace \
	--ExecutePreprocessor.record_timing=False --ExecutePreprocessor.timeout=1800
PYTEST_NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: help setup data test unit nbval report notebooks notebooks-mnist docs serve browser bench-speed bench-quality clean

help:
	@echo "make report   run every notebook top to bottom, refresh assets/ (and build the site)"
	@echo "make test     unit tests + strict nbval over every notebook"
	@echo "make bench-speed (about 2 min) | bench-quality (about 25 min): the benchmarks, on an idle machine"
	@echo "make docs     build the report site into site/ (make serve: on http://127.0.0.1:8000)"
	@echo "make setup | data | unit | nbval | notebooks | browser | clean"

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

setup: $(VENV)/.installed

# Fashion-MNIST is required: a local copy, the mirror(s), the Debian package, a download, or as a
# last resort (root on Debian/Ubuntu) installing dataset-fashion-mnist. MNIST is optional.
data: setup
	$(PY) -m vaelab data fetch --dataset fashion-mnist --allow-apt
	@$(PY) -m vaelab data fetch --dataset mnist \
	  || echo "note: no MNIST copy; MNIST tests are skipped and the MNIST notebooks are not run"

test: data docs browser
	$(PY) -m pytest tests notebooks $(PYTEST_NBVAL)

unit: data
	$(PY) -m pytest tests

nbval: data
	$(PY) -m pytest notebooks $(PYTEST_NBVAL)

notebooks: data
	@for nb in $(NOTEBOOKS); do echo "== $$nb"; $(NBCONVERT) $$nb || exit 1; done

notebooks-mnist: data
	@if $(PY) -m vaelab data verify --dataset mnist > /dev/null 2>&1; then \
	  mkdir -p build/notebooks; \
	  for nb in $(MNIST_NOTEBOOKS); do \
	    echo "== $$nb on MNIST"; \
	    papermill --log-level WARNING $$nb build/notebooks/$$(basename $$nb .ipynb)-mnist.ipynb -p dataset mnist || exit 1; \
	  done; \
	else echo "note: no MNIST copy; MNIST notebooks skipped"; fi

report: notebooks notebooks-mnist
	$(MAKE) --no-print-directory docs

# The report site: MathJax from npm (pinned in package.json and package-lock.json), figures and
# tables from assets/ (docs/hooks.py), a strict build into site/.
export NO_MKDOCS_2_WARNING := 1
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

docs: setup node_modules/.installed
	$(BIN)/mkdocs build --strict --quiet
	@echo "site/ built: make serve to look at it"

serve: docs
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

# Headless Chromium for the browser test (Debian's package; installed when root and missing).
browser:
	@command -v chromium > /dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
	    echo "installing Debian's chromium for the browser test (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null; \
	  else echo "note: no chromium; the browser test will be skipped (apt-get install chromium)"; fi; }

# The benchmarks run in the notebooks' numeric environment above: they time what the course runs.
# Letting ATen use AVX-512 made our loop slower here, not faster: its log-sigmoid (inside
# BCE-with-logits) took 483 us per 128x784 batch against 143 us with the AVX2 kernels.
bench-speed: data
	$(PY) benchmarks/train_speed.py

bench-quality: data
	$(PY) benchmarks/quality.py

clean:
	rm -rf build site .pytest_cache
